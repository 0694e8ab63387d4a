/*
 * clock.h - "now" for the daemon and the emulator: the system clock, or a simulated one that
 * starts at a given local time and runs faster than real time (tests and demos), so a day of
 * 5-minute instances and the data they read can pass in minutes. Both programs take the same
 * `--clock START[,xSPEED]`, so started together they agree on the time.
 */
#ifndef OTSYNC_CLOCK_H
#define OTSYNC_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "otsync/err.h"

/*
 * A clock. Real by default; `--clock START[,xSPEED]` makes it start at START and
 * run SPEED times faster than real time (tests and demos). Timers are armed in real
 * milliseconds computed from the simulated distance.
 */
struct dclock {
    bool simulated;
    double speed;           /* simulated seconds per real second */
    double sim_start;       /* simulated epoch seconds at real_start_ns */
    uint64_t real_start_ns; /* uv_hrtime() when the clock started */
};

/* Parses "2018-10-16T00:00:00[,x120]" (local time). Returns 0 or -OTSYNC_EINVAL with err. */
int dclock_parse(const char *spec, struct dclock *ret_clock, struct otsync_err *err) OTSYNC_WUR;
void dclock_real(struct dclock *c);
double dclock_now(const struct dclock *c);      /* epoch seconds, fractional */
/* Real milliseconds until the clock reads `at` (at least 1, at most ~1 day). */
uint64_t dclock_delay_ms(const struct dclock *c, time_t at);

/* Formats the clock reading as yyyy-mm-ddThh:mm:ss into buf. */
char *dclock_format(double t, char buf[static 32]);

#endif
