/*
 * clock.c - "now", real or simulated: see clock.h. The scheduler only ever sees whole
 * seconds from here; the emulator stamps cells and stream records with it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "otsync/vars.h"
#include <uv.h>
#include "otsync/clock.h"

void
dclock_real(struct dclock *c)
{
    memset(c, 0, sizeof(*c));
    c->speed = 1.0;
}

int
dclock_parse(const char *spec, struct dclock *ret_clock, struct otsync_err *err)
{
    char start[64];
    const char *comma = strchr(spec, ',');
    size_t len = comma ? (size_t)(comma - spec) : strlen(spec);
    time_t t;
    double speed = 1.0;

    if (len == 0 || len >= sizeof(start))
        return otsync_err_set(err, OTSYNC_EINVAL, "--clock '%s': expected START[,xSPEED]", spec);
    memcpy(start, spec, len);
    start[len] = '\0';
    if (vars_parse_time(start, &t) < 0)
        return otsync_err_set(err, OTSYNC_EINVAL,
                              "--clock '%s': bad start time (expected e.g. 2018-10-16T00:00:00)",
                              spec);
    if (comma) {
        const char *s = comma + 1;
        char *end;
        if (*s == 'x' || *s == 'X')
            s++;
        speed = strtod(s, &end);
        if (end == s || *end != '\0' || !(speed > 0) || speed > 1e6)
            return otsync_err_set(err, OTSYNC_EINVAL,
                                  "--clock '%s': speed must be a number in (0, 1000000]", spec);
    }
    ret_clock->simulated = true;
    ret_clock->speed = speed;
    ret_clock->sim_start = (double)t;
    ret_clock->real_start_ns = uv_hrtime();
    return 0;
}

double
dclock_now(const struct dclock *c)
{
    struct timeval tv;

    if (c->simulated)
        return c->sim_start + (double)(uv_hrtime() - c->real_start_ns) / 1e9 * c->speed;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

uint64_t
dclock_delay_ms(const struct dclock *c, time_t at)
{
    double d = ((double)at - dclock_now(c)) / c->speed * 1000.0;

    /* a timer that fires a hair early would see the previous second: round up */
    if (d < 1.0)
        return 1;
    if (d > 86400000.0)
        return 86400000;
    return (uint64_t)ceil(d);
}

char *
dclock_format(double t, char buf[static 32])
{
    time_t s = (time_t)floor(t);
    struct tm tm;

    localtime_r(&s, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    return buf;
}
