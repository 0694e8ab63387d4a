/*
 * cycle.h - when a task fires: minute/hour/day/week/month cycles and cron expressions.
 *
 * Owns: the schedule description and the computation of scheduled times in the process's
 * timezone (TZ). Leaves to others: parsing YAML (catalog) and acting on times (sched).
 *
 * DST: a wall-clock time that does not exist (skipped hour) produces no instance; a wall-clock
 * time that exists twice (repeated hour) produces one instance, at its first occurrence.
 */
#ifndef OTSYNC_CYCLE_H
#define OTSYNC_CYCLE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "otsync/err.h"

enum cycle_kind {
    CYCLE_MINUTE,   /* every interval minutes from start to end (inclusive), each day */
    CYCLE_HOUR,     /* every interval hours from start to end (inclusive), each day */
    CYCLE_DAY,      /* once a day at start */
    CYCLE_WEEK,     /* at start on each weekday in dow_mask */
    CYCLE_MONTH,    /* at start on each day in dom_mask */
    CYCLE_CRON,     /* 5-field cron expression */
};

struct cycle {
    enum cycle_kind kind;
    int start_min;          /* minutes after local midnight, from start: HH:MM (default 0) */
    int end_min;            /* minutes after local midnight, from end: HH:MM (default 23:59) */
    int interval;           /* minutes (CYCLE_MINUTE) or hours (CYCLE_HOUR); >= 1 */
    uint8_t dow_mask;       /* CYCLE_WEEK: bit 0 = Sunday .. bit 6 = Saturday */
    uint32_t dom_mask;      /* CYCLE_MONTH: bit d = day d (1..31); bit 0 = last day of month */
    /* CYCLE_CRON */
    uint64_t cron_min;      /* bit m = minute m (0..59) */
    uint32_t cron_hour;     /* bit h (0..23) */
    uint32_t cron_dom;      /* bit d (1..31) */
    uint16_t cron_mon;      /* bit m (1..12) */
    uint8_t cron_dow;       /* bit d (0..6, Sunday = 0; 7 in input means Sunday) */
    bool cron_dom_star, cron_dow_star;  /* cron's rule: both restricted -> either matches */
};

/* Wrap a cycle_error like vars_error: offset into the cron string and a message. */
struct cycle_error {
    size_t offset;
    char msg[256];
};

/*
 * Parses a 5-field cron expression (minute hour day-of-month month day-of-week; lists,
 * ranges, steps, '*', month and weekday names) into *c (kind CYCLE_CRON).
 * Returns 0 or -OTSYNC_ECONFIG with *ret_err (may be NULL).
 */
int cycle_parse_cron(const char *expr, struct cycle *c, struct cycle_error *ret_err) OTSYNC_WUR;

/*
 * Checks the fields of a non-cron cycle (ranges, start <= end, interval >= 1, masks not
 * empty). Returns 0 or -OTSYNC_ECONFIG with a message in *ret_err (offset unused).
 */
int cycle_validate(const struct cycle *c, struct cycle_error *ret_err) OTSYNC_WUR;

/*
 * The first scheduled time strictly after `after`, or (time_t)-1 if none within about
 * five years (a cron expression such as "0 0 30 2 *" never fires).
 */
time_t cycle_next(const struct cycle *c, time_t after);

/* The last scheduled time at or before `at`, or (time_t)-1 if none within five years. */
time_t cycle_prev(const struct cycle *c, time_t at);

#endif
