/*
 * vars.h - the vendor's scheduling parameters: system variables, time expressions and
 * custom params, rendered for one instance.
 *
 * Owns: the expression grammar and rendering. Leaves to others: where expressions come
 * from (catalog) and when rendering happens (sched renders once, at instance creation).
 *
 * Grammar, inside any string:
 *   ${bdp.system.bizdate}, $bizdate      day before the scheduled date, yyyymmdd
 *   ${bdp.system.cyctime}, $cyctime      scheduled time, yyyymmddhh24miss
 *   $[FMT], $[FMT±N]                     scheduled time ± N days, formatted
 *   $[FMT±N/24], $[FMT±N/24/60]          ± N hours, ± N minutes
 *   $[add_months(FMT,±N)]                scheduled time ± N calendar months
 *   ${FMT}, ${FMT±N}                     bizdate ± N days, formatted
 *   ${name}                              a custom param (name: [A-Za-z_][A-Za-z0-9_.]*)
 * FMT is made of the tokens yyyy yy mm dd hh24 mi ss and literal separators (any character
 * that is neither a letter nor a digit, and 'T'). A '$' not followed by '{', '[' or one of
 * the two short names above is literal text.
 *
 * Times are civil times in the process's timezone (TZ): the daemon sets TZ once at start.
 * Day and month offsets move the calendar (keeping the wall-clock time); hour and minute
 * offsets move the absolute instant.
 */
#ifndef OTSYNC_VARS_H
#define OTSYNC_VARS_H

#include <stddef.h>
#include <time.h>
#include "otsync/err.h"

/* Where in the input string an error is, and what it is. */
struct vars_error {
    size_t offset;      /* byte offset into the string given (0-based) */
    char msg[256];      /* e.g. "unknown token 'hh' in '$[yyyymmddhh-5/24/60]'" */
};

/* The values an instance renders with. names/values are borrowed. */
struct vars_ctx {
    time_t cyctime;                 /* the instance's scheduled time */
    const char *const *names;       /* custom params, already rendered */
    const char *const *values;
    size_t count;
};

/*
 * Checks the syntax of every reference in s and that every ${name} is either a system
 * variable, a time format, or one of known[0..known_count). Returns 0, or -OTSYNC_ECONFIG
 * with *ret_err filled for the first problem. ret_err may be NULL.
 */
int vars_check(const char *s, const char *const *known, size_t known_count,
               struct vars_error *ret_err) OTSYNC_WUR;

/*
 * Renders s for ctx. Returns 0 and a new string in *ret_out (free() it), or -OTSYNC_ECONFIG
 * (-OTSYNC_ENOMEM when out of memory) with *ret_err filled (ret_err may be NULL).
 */
int vars_render(const char *s, const struct vars_ctx *ctx, char **ret_out,
                struct vars_error *ret_err) OTSYNC_WUR;

/* Formats t as yyyymmddhh24miss in local time into buf (at least 15 bytes). Returns buf. */
char *vars_format_cyctime(time_t t, char buf[static 15]);

/*
 * Parses a 14-digit yyyymmddhh24miss local time (also accepts yyyy-mm-ddThh:mm:ss and
 * "yyyy-mm-dd hh:mm:ss", and yyyymmddhhmm / yyyymmdd with the rest zero). Returns 0 and the
 * instant, or -OTSYNC_EINVAL for malformed or non-existent (DST gap) times.
 */
int vars_parse_time(const char *s, time_t *ret_t) OTSYNC_WUR;

#endif
