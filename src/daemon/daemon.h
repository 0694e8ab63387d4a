/*
 * daemon.h - otsyncd's private pieces: the clock (real or simulated) and the runner that
 * spawns one otsync-run child per running attempt. Private to src/daemon.
 */
#ifndef OTSYNC_DAEMON_H
#define OTSYNC_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>
#include "otsync/err.h"
#include "otsync/sched.h"

/*
 * The daemon's clock. Real by default; `--clock START[,xSPEED]` makes it start at START and
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

struct runner;

/* What the runner reports when a child's attempt is over. */
typedef void (*runner_done_cb)(void *arg, struct sched_instance *inst, enum sched_outcome outcome,
                               const char *reason);

/* Returns a new runner spawning `path` (borrowed string is copied). log_dir receives one
 * log file per instance. */
struct runner *runner_new(uv_loop_t *loop, const char *path, const char *log_dir,
                          runner_done_cb done, void *arg);
void runner_free(struct runner *r);    /* after the loop closed its handles; NULL does nothing */

/* Spawns an attempt of inst: renders its job and feeds it on the child's stdin. Sets
 * inst->data. Returns 0 or a negative code with err filled. */
int runner_start(struct runner *r, struct sched_instance *inst, struct otsync_err *err) OTSYNC_WUR;

/* Sends sig to every running child. Returns how many were signalled. */
int runner_signal_all(struct runner *r, int sig);
int runner_running(const struct runner *r);

/* Renders inst's job template with its rendered params: returns new JSON text or NULL with err. */
char *runner_render_job(const struct sched_instance *inst, struct otsync_err *err);

/* systemd notify protocol (notify.c); each does nothing without NOTIFY_SOCKET. Return 0 or
 * -errno. */
int notify_send(const char *msg);
int notify_reloading(void);     /* RELOADING=1 with MONOTONIC_USEC */
/* WatchdogSec as microseconds when the watchdog applies to this process, else 0. */
uint64_t notify_watchdog_usec(void);

#endif
