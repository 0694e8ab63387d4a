/*
 * cycle.c - when a task fires: the cron grammar, the checks of a plain cycle, and the search
 * for the next or previous scheduled instant in the process's timezone.
 *
 * Owns: the wall-clock minutes a cycle names, how each becomes an instant, and the error
 * text for a bad schedule. Leaves to others: reading schedules from YAML (catalog), acting
 * on the times (sched), and the timezone itself, which the daemon sets once through TZ; this
 * file never calls tzset or touches the environment.
 *
 * A cycle names wall-clock slots: (local date, minute of day). Walking the calendar is plain
 * integer arithmetic on day numbers; only a slot that may be the answer goes through mktime.
 * A slot's instant is its earliest occurrence: none when the wall time falls into a skipped
 * hour, the first when the hour repeats. The schedule is therefore one fixed set of instants
 * and cycle_next / cycle_prev are its successor and predecessor, which keeps the two
 * consistent and never yields a repeated wall time twice. Where the wall clock jumps, a
 * bisection on localtime_r finds the jump so that a skipped or repeated hour costs a few
 * dozen localtime_r calls rather than one mktime per minute.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "otsync/cycle.h"

/* How far cycle_next and cycle_prev look: five years and a day, in days. */
#define HORIZON_DAYS (5L * 366 + 1)
/*
 * Unusable slots (skipped, or already past in a repeated hour) one search may meet. Each
 * normally costs one bisection to the other side of the jump; only a zone that defeats the
 * bisection falls back to a minute at a time.
 */
#define MAX_JUMPS 64
/* A token longer than this is cut, with "...", when quoted in a message. */
#define QUOTE_MAX 32

#define MIN_PER_DAY 1440
/* Bits of cron_min and cron_hour that name a minute or an hour (a hand-made cycle may set more). */
#define MINUTE_BITS ((1ULL << 60) - 1)
#define HOUR_BITS ((1U << 24) - 1)

/* A local calendar date and its day number (days since 1970-01-01, proleptic Gregorian). */
struct date {
    int y, m, d;
    long dn;
};

/* A wall-clock minute: a date and a minute of the day, 0..1439. */
struct slot {
    struct date date;
    int min;
};

/* ---------------------------------------------------------------------------------------
 * Calendar arithmetic
 */

static bool
is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int y, int m)
{
    static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* Leap years in 1..y-1 (y >= 1). */
static long
leaps_before(long y)
{
    y--;
    return y / 4 - y / 100 + y / 400;
}

static long
days_from_civil(int y, int m, int d)
{
    static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
    long days;

    days = 365L * (y - 1970) + leaps_before(y) - leaps_before(1970);
    days += before[m - 1] + (m > 2 && is_leap(y)) + d - 1;
    return days;
}

static void
date_set(struct date *dt, int y, int m, int d)
{
    dt->y = y;
    dt->m = m;
    dt->d = d;
    dt->dn = days_from_civil(y, m, d);
}

static void
date_step(struct date *dt, int dir)
{
    if (dir > 0) {
        if (dt->d < month_days(dt->y, dt->m))
            dt->d++;
        else if (dt->m < 12)
            dt->m++, dt->d = 1;
        else
            dt->y++, dt->m = 1, dt->d = 1;
    } else {
        if (dt->d > 1)
            dt->d--;
        else if (dt->m > 1)
            dt->m--, dt->d = month_days(dt->y, dt->m);
        else
            dt->y--, dt->m = 12, dt->d = 31;
    }
    dt->dn += dir;
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int
weekday(const struct date *dt)
{
    long w = (dt->dn + 4) % 7;

    return (int)(w < 0 ? w + 7 : w);
}

/* Seconds of wall-clock time since 1970-01-01 00:00 local, for ordering wall times. */
static long long
slot_key(const struct slot *s)
{
    return (long long)s->date.dn * 86400 + s->min * 60;
}

static void
slot_step(struct slot *s, int dir)
{
    s->min += dir;
    if (s->min >= MIN_PER_DAY) {
        s->min = 0;
        date_step(&s->date, 1);
    } else if (s->min < 0) {
        s->min = MIN_PER_DAY - 1;
        date_step(&s->date, -1);
    }
}

/* The local minute containing t, and the seconds past it. Years before 1 are refused. */
static bool
slot_of(time_t t, struct slot *ret_s, int *ret_sec)
{
    struct tm tm;

    if (!localtime_r(&t, &tm) || tm.tm_year < 1 - 1900 || tm.tm_year > 9999 - 1900)
        return false;
    date_set(&ret_s->date, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    ret_s->min = tm.tm_hour * 60 + tm.tm_min;
    /* a leap second reads as :60; it still belongs to its minute */
    *ret_sec = tm.tm_sec;
    return true;
}

static bool
wall_of(time_t t, long long *ret_key)
{
    struct slot s;
    int sec;

    if (!slot_of(t, &s, &sec))
        return false;
    *ret_key = slot_key(&s) + sec;
    return true;
}

/*
 * The earliest instant whose local time is exactly the slot, trying both DST flags and
 * keeping only round trips (mktime moves a time in a gap rather than refusing it). Returns
 * false when the wall time does not exist. guess, when not NULL, gets mktime's two raw
 * answers, which straddle a gap and bracket the search for its end.
 */
/*
 * The UTC offset last seen where no clock change was near. glibc's mktime costs tens of
 * microseconds in zones whose rules come from the TZ footer (Asia/Shanghai: it reparses the
 * rule on each of its many localtime calls), which made 10,000 tasks take seconds per minute.
 * Guessing the instant from this offset and checking it with three localtime_r calls is
 * exact whenever no clock change lies within three hours, and the slow path below handles
 * every other case (and refreshes the offset).
 */
static long cached_gmtoff;
static bool cached_valid;

static bool
resolve_fast(const struct slot *s, time_t *ret_t)
{
    struct tm tm;
    time_t t;

    if (!cached_valid)
        return false;
    t = (time_t)s->date.dn * 86400 + (time_t)s->min * 60 - cached_gmtoff;
    if (!localtime_r(&t, &tm) || tm.tm_gmtoff != cached_gmtoff || tm.tm_sec != 0
        || tm.tm_hour * 60 + tm.tm_min != s->min || tm.tm_mday != s->date.d
        || tm.tm_mon != s->date.m - 1 || tm.tm_year != s->date.y - 1900)
        return false;
    /* no offset change nearby: the wall time exists exactly once */
    t -= 3 * 3600;
    if (!localtime_r(&t, &tm) || tm.tm_gmtoff != cached_gmtoff)
        return false;
    t += 6 * 3600;
    if (!localtime_r(&t, &tm) || tm.tm_gmtoff != cached_gmtoff)
        return false;
    *ret_t = t - 3 * 3600;
    return true;
}

static bool
resolve(const struct slot *s, time_t *ret_t, time_t guess[2])
{
    bool found = false;
    int isdst;

    if (resolve_fast(s, ret_t))
        return true;

    for (isdst = 1; isdst >= 0; isdst--) {
        struct tm tm = { 0 }, back;
        time_t t;

        tm.tm_year = s->date.y - 1900;
        tm.tm_mon = s->date.m - 1;
        tm.tm_mday = s->date.d;
        tm.tm_hour = s->min / 60;
        tm.tm_min = s->min % 60;
        tm.tm_isdst = isdst;
        t = mktime(&tm);
        if (guess)
            guess[isdst] = t;
        if (!localtime_r(&t, &back))
            continue;
        if (back.tm_year != s->date.y - 1900 || back.tm_mon != s->date.m - 1
            || back.tm_mday != s->date.d || back.tm_hour * 60 + back.tm_min != s->min
            || back.tm_sec != 0)
            continue;
        if (!found || t < *ret_t)
            *ret_t = t;
        found = true;
        cached_gmtoff = back.tm_gmtoff;
        cached_valid = true;
    }
    return found;
}

/*
 * The smallest t in (lo, hi] whose wall time is above key (above) or at most key (!above),
 * given that this holds at hi, not at lo, and flips once in between.
 */
static bool
bisect(time_t lo, time_t hi, long long key, bool above, time_t *ret_t)
{
    long long w;

    while (hi - lo > 1) {
        time_t mid = lo + (hi - lo) / 2;

        if (!wall_of(mid, &w))
            return false;
        if ((w > key) == above)
            hi = mid;
        else
            lo = mid;
    }
    *ret_t = hi;
    return true;
}

/* The first instant whose wall time lies beyond a slot that does not exist. */
static bool
gap_end(const struct slot *s, const time_t guess[2], time_t *ret_t)
{
    long long key = slot_key(s), w;
    time_t lo, hi;
    int i;

    /* mktime gives up (-1) on a flag the zone never used nearby, as Samoa's skipped day */
    if (guess[0] == (time_t)-1 && guess[1] == (time_t)-1)
        return false;
    if (guess[0] == (time_t)-1 || guess[1] == (time_t)-1)
        lo = hi = guess[0] == (time_t)-1 ? guess[1] : guess[0];
    else if (guess[0] < guess[1])
        lo = guess[0], hi = guess[1];
    else
        lo = guess[1], hi = guess[0];
    for (i = 0; i < 4 && wall_of(lo, &w) && w > key; i++)
        lo -= 86400;
    if (!wall_of(lo, &w) || w > key)
        return false;
    for (i = 0; i < 4 && wall_of(hi, &w) && w <= key; i++)
        hi += 86400;
    if (!wall_of(hi, &w) || w <= key)
        return false;
    return bisect(lo, hi, key, true, ret_t);
}

/* ---------------------------------------------------------------------------------------
 * Which slots a cycle names
 */

static bool
day_matches(const struct cycle *c, const struct date *dt)
{
    bool dom, dow;

    switch (c->kind) {
    case CYCLE_WEEK:
        return c->dow_mask >> weekday(dt) & 1;
    case CYCLE_MONTH:
        return (c->dom_mask >> dt->d & 1)
               || ((c->dom_mask & 1) && dt->d == month_days(dt->y, dt->m));
    case CYCLE_CRON:
        if (!(c->cron_mon >> dt->m & 1))
            return false;
        dom = c->cron_dom >> dt->d & 1;
        dow = c->cron_dow >> weekday(dt) & 1;
        /* cron's rule: with both fields restricted, either one is enough */
        return c->cron_dom_star || c->cron_dow_star ? dom && dow : dom || dow;
    default:
        return true;
    }
}

/* Lowest set bit of mask at or above `from` (0..63), or -1. */
static int
bit_at_or_above(uint64_t mask, int from)
{
    mask &= ~0ULL << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

/* Highest set bit of mask at or below `to` (0..63), or -1. */
static int
bit_at_or_below(uint64_t mask, int to)
{
    if (to < 63)
        mask &= (2ULL << to) - 1;
    return mask ? 63 - __builtin_clzll(mask) : -1;
}

static int
step_min(const struct cycle *c)
{
    return c->kind == CYCLE_HOUR ? c->interval * 60 : c->interval;
}

/* The first minute of a matching day at or after `from`, or -1. */
static int
first_in_day(const struct cycle *c, int from)
{
    int h, m, step, k;

    switch (c->kind) {
    case CYCLE_MINUTE:
    case CYCLE_HOUR:
        if (from <= c->start_min)
            return c->start_min;
        step = step_min(c);
        k = (from - c->start_min + step - 1) / step;
        m = c->start_min + k * step;
        return m <= c->end_min ? m : -1;
    case CYCLE_CRON:
        for (h = bit_at_or_above(c->cron_hour & HOUR_BITS, from / 60); h >= 0;
             h = h < 23 ? bit_at_or_above(c->cron_hour & HOUR_BITS, h + 1) : -1) {
            m = bit_at_or_above(c->cron_min, h == from / 60 ? from % 60 : 0);
            if (m >= 0 && m < 60)
                return h * 60 + m;
        }
        return -1;
    default:
        return from <= c->start_min ? c->start_min : -1;
    }
}

/* The last minute of a matching day at or before `to`, or -1. */
static int
last_in_day(const struct cycle *c, int to)
{
    int h, m, end, step;

    switch (c->kind) {
    case CYCLE_MINUTE:
    case CYCLE_HOUR:
        if (to < c->start_min)
            return -1;
        end = to < c->end_min ? to : c->end_min;
        step = step_min(c);
        return c->start_min + (end - c->start_min) / step * step;
    case CYCLE_CRON:
        for (h = bit_at_or_below(c->cron_hour & HOUR_BITS, to / 60); h >= 0;
             h = h > 0 ? bit_at_or_below(c->cron_hour & HOUR_BITS, h - 1) : -1) {
            m = bit_at_or_below(c->cron_min, h == to / 60 ? to % 60 : 59);
            if (m >= 0)
                return h * 60 + m;
        }
        return -1;
    default:
        return to >= c->start_min ? c->start_min : -1;
    }
}

/* Moves *s to the first slot of c at or after it, up to day number `limit`. */
static bool
find_forward(const struct cycle *c, struct slot *s, long limit)
{
    struct date dt = s->date;
    int from = s->min, m;

    while (dt.dn <= limit) {
        if (c->kind == CYCLE_CRON && !(c->cron_mon >> dt.m & 1)) {
            /* a month cron never names: go to its successor's first day at once */
            if (dt.m == 12)
                date_set(&dt, dt.y + 1, 1, 1);
            else
                date_set(&dt, dt.y, dt.m + 1, 1);
            from = 0;
            continue;
        }
        if (day_matches(c, &dt) && (m = first_in_day(c, from)) >= 0) {
            s->date = dt;
            s->min = m;
            return true;
        }
        date_step(&dt, 1);
        from = 0;
    }
    return false;
}

/* Moves *s to the last slot of c at or before it, down to day number `limit`. */
static bool
find_backward(const struct cycle *c, struct slot *s, long limit)
{
    struct date dt = s->date;
    int to = s->min, m;

    while (dt.dn >= limit) {
        if (c->kind == CYCLE_CRON && !(c->cron_mon >> dt.m & 1)) {
            if (dt.m == 1)
                date_set(&dt, dt.y - 1, 12, 31);
            else
                date_set(&dt, dt.y, dt.m - 1, month_days(dt.y, dt.m - 1));
            to = MIN_PER_DAY - 1;
            continue;
        }
        if (day_matches(c, &dt) && (m = last_in_day(c, to)) >= 0) {
            s->date = dt;
            s->min = m;
            return true;
        }
        date_step(&dt, -1);
        to = MIN_PER_DAY - 1;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------
 * next / prev
 */

time_t
cycle_next(const struct cycle *c, time_t after)
{
    struct slot cur, s;
    long long key;
    time_t r, x, guess[2];
    long limit;
    int sec, i;

    if (cycle_validate(c, NULL) < 0 || !slot_of(after, &cur, &sec))
        return (time_t)-1;
    limit = cur.date.dn + HORIZON_DAYS;
    /* after's own minute began at or before after, even in a repeated hour */
    slot_step(&cur, 1);
    for (i = 0; i < MAX_JUMPS; i++) {
        if (!find_forward(c, &cur, limit))
            return (time_t)-1;
        s = cur;
        if (resolve(&cur, &r, guess)) {
            if (r > after)
                return r;
            /*
             * The slot's first occurrence is behind us: after lies in the second pass of a
             * repeated hour, whose wall times all fired in the first. Go on from the wall
             * time the clock showed just before it turned back.
             */
            if (wall_of(after, &key) && bisect(r, after, key, false, &x)
                && slot_of(x - 1, &s, &sec))
                slot_step(&s, 1);
        } else if (gap_end(&cur, guess, &x) && slot_of(x, &s, &sec)) {
            /* skipped hour: go on from the first whole minute after the jump */
            if (sec > 0)
                slot_step(&s, 1);
        }
        /* should the zone defeat the bisection, step a minute: slower, still right */
        if (slot_key(&s) <= slot_key(&cur)) {
            s = cur;
            slot_step(&s, 1);
        }
        cur = s;
    }
    return (time_t)-1;
}

time_t
cycle_prev(const struct cycle *c, time_t at)
{
    struct slot cur, s;
    long long key;
    time_t r, x, guess[2];
    long limit;
    int sec, i;

    if (cycle_validate(c, NULL) < 0 || !slot_of(at, &cur, &sec))
        return (time_t)-1;
    limit = cur.date.dn - HORIZON_DAYS;
    /*
     * In the second pass of a repeated hour every wall time up to the end of that hour has
     * already had its (first, scheduled) occurrence, so start from that end: the wall time
     * the clock showed just before it turned back.
     */
    if (resolve(&cur, &r, NULL) && r < at - sec && wall_of(at, &key)
        && bisect(r + sec + 1, at, key, false, &x) && slot_of(x - 1, &s, &sec)
        && slot_key(&s) > slot_key(&cur))
        cur = s;
    for (i = 0; i < MAX_JUMPS; i++) {
        if (!find_backward(c, &cur, limit))
            return (time_t)-1;
        s = cur;
        if (resolve(&cur, &r, guess)) {
            if (r <= at)
                return r;
        } else if (gap_end(&cur, guess, &x)) {
            /* skipped hour: go on from the last minute before the jump (left alone on failure) */
            slot_of(x - 1, &s, &sec);
        }
        /* otherwise, or should the zone defeat the bisection, step a minute back */
        if (slot_key(&s) >= slot_key(&cur)) {
            s = cur;
            slot_step(&s, -1);
        }
        cur = s;
    }
    return (time_t)-1;
}

/* ---------------------------------------------------------------------------------------
 * Errors and checks
 */

static int OTSYNC_PRINTF(3, 4)
set_err(struct cycle_error *e, size_t off, const char *fmt, ...)
{
    va_list ap;

    if (e) {
        e->offset = off;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return -OTSYNC_ECONFIG;
}

/* "HH:MM" for a minute of the day, or "N minutes" when out of range. */
static const char *
hhmm(int min, char buf[static 32])
{
    if (min >= 0 && min < MIN_PER_DAY)
        snprintf(buf, 32, "%02d:%02d", min / 60, min % 60);
    else
        snprintf(buf, 32, "%d minutes", min);
    return buf;
}

int
cycle_validate(const struct cycle *c, struct cycle_error *ret_err)
{
    char a[32], b[32];

    if (!c)
        return set_err(ret_err, 0, "no cycle");
    switch (c->kind) {
    case CYCLE_CRON:
        /* only hand-made values can fail: cycle_parse_cron never fills an empty field */
        if (!(c->cron_min & MINUTE_BITS) || !(c->cron_hour & HOUR_BITS)
            || !(c->cron_dom & 0xfffffffeU) || !(c->cron_mon & 0x1ffe) || !(c->cron_dow & 0x7f))
            return set_err(ret_err, 0, "cron schedule has a field that names no time");
        return 0;
    case CYCLE_MINUTE:
    case CYCLE_HOUR:
    case CYCLE_DAY:
    case CYCLE_WEEK:
    case CYCLE_MONTH:
        break;
    default:
        return set_err(ret_err, 0, "unknown cycle kind %d", (int)c->kind);
    }
    if (c->start_min < 0 || c->start_min >= MIN_PER_DAY)
        return set_err(ret_err, 0, "start %s is out of range 00:00-23:59",
                       hhmm(c->start_min, a));
    switch (c->kind) {
    case CYCLE_MINUTE:
    case CYCLE_HOUR:
        if (c->end_min < 0 || c->end_min >= MIN_PER_DAY)
            return set_err(ret_err, 0, "end %s is out of range 00:00-23:59", hhmm(c->end_min, a));
        if (c->start_min > c->end_min)
            return set_err(ret_err, 0, "start %s is after end %s", hhmm(c->start_min, a),
                           hhmm(c->end_min, b));
        if (c->kind == CYCLE_MINUTE && (c->interval < 1 || c->interval > MIN_PER_DAY))
            return set_err(ret_err, 0, "interval %d is out of range 1-1440 minutes",
                           c->interval);
        if (c->kind == CYCLE_HOUR && (c->interval < 1 || c->interval > 24))
            return set_err(ret_err, 0, "interval %d is out of range 1-24 hours", c->interval);
        return 0;
    case CYCLE_WEEK:
        if (!(c->dow_mask & 0x7f))
            return set_err(ret_err, 0, "week cycle names no day of the week");
        if (c->dow_mask & 0x80)
            return set_err(ret_err, 0, "week cycle: day-of-week bit 7 is not a day (0-6)");
        return 0;
    case CYCLE_MONTH:
        if (!c->dom_mask)
            return set_err(ret_err, 0, "month cycle names no day of the month");
        return 0;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------------------------------
 * Cron expressions
 */

struct field {
    const char *name;
    int lo, hi;                 /* accepted numbers */
    const char *const *names;   /* three-letter names for lo.., or NULL */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
                                           "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const struct field fields[5] = {
    { "minute", 0, 59, NULL },
    { "hour", 0, 23, NULL },
    { "day-of-month", 1, 31, NULL },
    { "month", 1, 12, month_names },
    { "day-of-week", 0, 7, dow_names },     /* 7 is Sunday again */
};

static const struct {
    const char *name;
    const char *expr;
} macros[] = {
    { "@hourly", "0 * * * *" },
    { "@daily", "0 0 * * *" },
    { "@midnight", "0 0 * * *" },
    { "@weekly", "0 0 * * 0" },
    { "@monthly", "0 0 1 * *" },
    { "@yearly", "0 0 1 1 *" },
    { "@annually", "0 0 1 1 *" },
};

static bool
is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

static bool
is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool
is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static char
lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Bytes of a token of len bytes to quote, and the tail ("..." when cut). */
static int
quote_len(size_t len)
{
    return (int)(len > QUOTE_MAX ? QUOTE_MAX : len);
}

static const char *
quote_tail(size_t len)
{
    return len > QUOTE_MAX ? "..." : "";
}

/* The end of the token that starts at p: up to the next ',', '-', '/' or the field's end. */
static size_t
token_end(const char *s, size_t p, size_t end)
{
    while (p < end && s[p] != ',' && s[p] != '-' && s[p] != '/')
        p++;
    return p;
}

/* A number or name at s[*p], in f's range; 7 in the day-of-week field stays 7. */
static int
parse_value(const char *s, size_t *p, size_t end, const struct field *f, int *ret_v,
            struct cycle_error *e)
{
    size_t start = *p, i, len;
    long v = 0;
    int k;

    if (*p < end && is_digit(s[*p])) {
        while (*p < end && is_digit(s[*p])) {
            if (v < 100000)
                v = v * 10 + (s[*p] - '0');
            (*p)++;
        }
        if (v < f->lo || v > f->hi) {
            len = *p - start;
            return set_err(e, start, "%s %.*s%s out of range %d-%d", f->name, quote_len(len),
                           s + start, quote_tail(len), f->lo, f->hi);
        }
        *ret_v = (int)v;
        return 0;
    }
    if (*p < end && is_alpha(s[*p])) {
        while (*p < end && is_alpha(s[*p]))
            (*p)++;
        len = *p - start;
        if (!f->names)
            return set_err(e, start, "%s '%.*s%s' is not a number", f->name, quote_len(len),
                           s + start, quote_tail(len));
        for (k = 0; len == 3 && f->names[k]; k++) {
            for (i = 0; i < 3 && lower(s[start + i]) == f->names[k][i]; i++)
                ;
            if (i == 3) {
                *ret_v = f->lo + k;
                return 0;
            }
        }
        return set_err(e, start, "unknown %s name '%.*s%s' (expected %s..%s)", f->name,
                       quote_len(len), s + start, quote_tail(len), f->names[0],
                       f == &fields[3] ? "dec" : "sat");
    }
    len = token_end(s, *p, end) - *p;
    if (len == 0)
        return set_err(e, start, "missing %s value", f->name);
    return set_err(e, start, "bad %s value '%.*s%s'", f->name, quote_len(len), s + start,
                   quote_tail(len));
}

/*
 * One field, s[start..end), into a bit mask. *ret_star is set when the field begins with '*',
 * a stepped '*' included: as in Vixie cron and cronie, such a day field does not count as
 * restricted, so a day-of-month of every second day with "fri" needs both at once.
 */
static int
parse_field(const char *s, size_t start, size_t end, const struct field *f, uint64_t *ret_bits,
            bool *ret_star, struct cycle_error *e)
{
    uint64_t bits = 0;
    size_t p = start, q, len;
    int lo, hi, step, v, rc;
    long n;

    *ret_star = s[start] == '*';
    for (;;) {
        size_t item = p;

        step = 1;
        if (p < end && s[p] == '*') {
            lo = f->lo;
            hi = f->hi;
            p++;
        } else {
            if ((rc = parse_value(s, &p, end, f, &lo, e)) < 0)
                return rc;
            hi = lo;
            if (p < end && s[p] == '-') {
                p++;
                if ((rc = parse_value(s, &p, end, f, &hi, e)) < 0)
                    return rc;
                if (hi < lo)
                    return set_err(e, item, "backwards range %.*s in the %s field",
                                   quote_len(p - item), s + item, f->name);
            } else if (p < end && s[p] == '/') {
                /* "5/15": from 5 to the end of the field, as cronie reads it */
                hi = f->hi;
            }
        }
        if (p < end && s[p] == '/') {
            p++;
            q = token_end(s, p, end);
            len = q - p;
            for (n = 0; p < q && is_digit(s[p]) && n < 100000; p++)
                n = n * 10 + (s[p] - '0');
            if (len == 0 || p != q || n < 1 || n > f->hi - f->lo + 1)
                return set_err(e, q - len, "bad step '%.*s%s' in the %s field (expected 1-%d)",
                               quote_len(len), s + q - len, quote_tail(len), f->name,
                               f->hi - f->lo + 1);
            step = (int)n;
        }
        for (v = lo; v <= hi; v += step)
            bits |= 1ULL << (f == &fields[4] && v == 7 ? 0 : v);
        if (p == end)
            break;
        if (s[p] != ',') {
            len = token_end(s, p + 1, end) - p;
            return set_err(e, p, "unexpected '%.*s%s' in the %s field", quote_len(len), s + p,
                           quote_tail(len), f->name);
        }
        p++;
        if (p == end || s[p] == ',')
            return set_err(e, p, "empty item in the %s field", f->name);
    }
    *ret_bits = bits;
    return 0;
}

/* Parses the five fields of expr into *c; offsets count from expr's first byte. */
static int
parse_fields(const char *expr, struct cycle *c, struct cycle_error *e)
{
    size_t start[6], end[6], p = 0, count = 0;
    uint64_t bits[5];
    bool star[5];
    int i, rc;

    for (;;) {
        while (is_space(expr[p]))
            p++;
        if (!expr[p])
            break;
        if (count < 6)
            start[count] = p;
        while (expr[p] && !is_space(expr[p]))
            p++;
        if (count < 6)
            end[count] = p;
        count++;
    }
    if (count == 0)
        return set_err(e, 0, "empty cron expression");
    /* point at the sixth field, or just past the last one given */
    if (count != 5)
        return set_err(e, count > 5 ? start[5] : end[count - 1], "expected 5 fields, got %zu",
                       count);
    for (i = 0; i < 5; i++)
        if ((rc = parse_field(expr, start[i], end[i], &fields[i], &bits[i], &star[i], e)) < 0)
            return rc;
    memset(c, 0, sizeof(*c));
    c->kind = CYCLE_CRON;
    c->end_min = MIN_PER_DAY - 1;
    c->interval = 1;
    c->cron_min = bits[0];
    c->cron_hour = (uint32_t)bits[1];
    c->cron_dom = (uint32_t)bits[2];
    c->cron_mon = (uint16_t)bits[3];
    c->cron_dow = (uint8_t)bits[4];
    c->cron_dom_star = star[2];
    c->cron_dow_star = star[4];
    return 0;
}

int
cycle_parse_cron(const char *expr, struct cycle *c, struct cycle_error *ret_err)
{
    struct cycle tmp;
    size_t p = 0, n, i, k;
    int rc;

    if (!expr)
        return set_err(ret_err, 0, "empty cron expression");
    while (is_space(expr[p]))
        p++;
    if (expr[p] == '@') {
        for (n = 0; expr[p + n] && !is_space(expr[p + n]); n++)
            ;
        for (k = p + n; is_space(expr[k]); k++)
            ;
        for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
            if (strlen(macros[i].name) != n || strncasecmp(expr + p, macros[i].name, n) != 0)
                continue;
            if (expr[k])
                return set_err(ret_err, k, "unexpected '%.*s%s' after %s",
                               quote_len(strlen(expr + k)), expr + k,
                               quote_tail(strlen(expr + k)), macros[i].name);
            rc = parse_fields(macros[i].expr, &tmp, ret_err);
            if (rc == 0)
                *c = tmp;
            return rc;
        }
        return set_err(ret_err, p, "unknown macro '%.*s%s' (known: @hourly, @daily, @midnight, "
                       "@weekly, @monthly, @yearly, @annually)", quote_len(n), expr + p,
                       quote_tail(n));
    }
    if ((rc = parse_fields(expr, &tmp, ret_err)) < 0)
        return rc;
    *c = tmp;
    return 0;
}
