/*
 * test-cycle.c - unit tests of schedules (src/core/cycle.c): the guide's 5-minute cycle, each
 * cycle kind, cron expressions and their error messages, next/prev consistency, both DST
 * transitions in Europe/Berlin (plus midnight transitions in America/Sao_Paulo and the day
 * Samoa skipped), a brute-force oracle over those days, and the cost of cycle_next.
 *
 * Leaves to others: reading schedules from YAML (test-catalog) and acting on the times
 * (test-sched). Each test sets TZ itself; the epoch numbers were computed with date(1).
 * Results are checked as local wall times with their zone abbreviation, which shows DST.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "otsync/cycle.h"

#define SHANGHAI_20181016_000000 ((time_t)1539619200)
#define SHANGHAI_20181017_000000 ((time_t)1539705600)
#define BERLIN_20180324_023000 ((time_t)1521855000)
#define BERLIN_20180325_000000 ((time_t)1521932400)
#define BERLIN_20180325_015500 ((time_t)1521939300)
#define BERLIN_20180326_000000 ((time_t)1522015200)
#define BERLIN_20181028_000000 ((time_t)1540677600)
#define BERLIN_20181028_025500_CEST ((time_t)1540688100)
#define BERLIN_20181028_021000_CET ((time_t)1540689000)
#define BERLIN_20181028_023000_CET ((time_t)1540690200)
#define BERLIN_20181028_030000_CET ((time_t)1540692000)
#define BERLIN_20181029_000000 ((time_t)1540767600)
#define SAOPAULO_20181103_000000 ((time_t)1541214000)
#define SAOPAULO_20190216_000000 ((time_t)1550282400)
#define SAOPAULO_20190216_233000_M3 ((time_t)1550370600)
#define APIA_20111228_120000 ((time_t)1325109600)

static void
set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

/* t as "yyyy-mm-dd hh:mm ZONE" in local time; four buffers so one check can show several. */
static const char *
wall(time_t t)
{
    static char buf[4][64];
    static int i;
    struct tm tm;
    char *b = buf[i++ % 4];

    if (t == (time_t)-1)
        return "never";
    if (!localtime_r(&t, &tm) || strftime(b, 64, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
        return "?";
    /* seconds are always :00 for a scheduled time; keep them out of the expectations */
    if (tm.tm_sec == 0)
        memmove(b + 16, b + 19, strlen(b + 19) + 1);
    return b;
}

static struct cycle
minute_cycle(int start, int end, int interval)
{
    struct cycle c = { .kind = CYCLE_MINUTE, .start_min = start, .end_min = end,
                       .interval = interval };

    assert_int_equal(cycle_validate(&c, NULL), 0);
    return c;
}

static struct cycle
cron(const char *expr)
{
    struct cycle c;
    struct cycle_error e = { 0 };
    int rc;

    memset(&c, 0xa5, sizeof(c));
    rc = cycle_parse_cron(expr, &c, &e);
    if (rc != 0)
        print_error("cron '%s' rejected: %s (offset %zu)\n", expr, e.msg, e.offset);
    assert_int_equal(rc, 0);
    assert_int_equal(c.kind, CYCLE_CRON);
    assert_int_equal(cycle_validate(&c, NULL), 0);
    return c;
}

/* Checks the instants strictly after `from`, one cycle_next at a time, against want[]. */
static void
expect_seq(const struct cycle *c, time_t from, const char *const *want, size_t count)
{
    time_t t = from;
    size_t i;

    for (i = 0; i < count; i++) {
        time_t n = cycle_next(c, t);

        assert_string_equal(wall(n), want[i]);
        assert_true(n > t);
        /* the instant is its own previous one, and nothing lies between t and it */
        assert_int_equal(cycle_prev(c, n), n);
        assert_int_equal(cycle_prev(c, n - 1), i == 0 ? cycle_prev(c, t) : t);
        t = n;
    }
}

#define SEQ(c, from, ...)                                                                \
    do {                                                                                 \
        static const char *const want_[] = { __VA_ARGS__ };                              \
        expect_seq(c, from, want_, sizeof(want_) / sizeof(want_[0]));                    \
    } while (0)

/* Instants in [day_start, day_end), walked with cycle_next. */
static size_t
count_day(const struct cycle *c, time_t day_start, time_t day_end)
{
    size_t count = 0;
    time_t t;

    for (t = cycle_next(c, day_start - 1); t != (time_t)-1 && t < day_end; t = cycle_next(c, t))
        count++;
    return count;
}

/* PRODUCT.md "Scheduling": start 00:00, every 5 minutes, end 23:59: 288 a day. */
static void
test_minute_guide(void **state)
{
    struct cycle c = minute_cycle(0, 23 * 60 + 59, 5);
    time_t t, prev_t = 0;
    size_t count = 0;

    set_tz("Asia/Shanghai");
    for (t = cycle_next(&c, SHANGHAI_20181016_000000 - 1); t < SHANGHAI_20181017_000000;
         t = cycle_next(&c, t)) {
        if (count == 0)
            assert_string_equal(wall(t), "2018-10-16 00:00 CST");
        else
            assert_int_equal(t - prev_t, 300);
        prev_t = t;
        count++;
    }
    assert_int_equal(count, 288);
    assert_string_equal(wall(prev_t), "2018-10-16 23:55 CST");
    assert_string_equal(wall(t), "2018-10-17 00:00 CST");
    /* strictly after; prev is at or before */
    assert_string_equal(wall(cycle_next(&c, SHANGHAI_20181016_000000)), "2018-10-16 00:05 CST");
    assert_string_equal(wall(cycle_next(&c, SHANGHAI_20181016_000000 + 150)),
                        "2018-10-16 00:05 CST");
    assert_string_equal(wall(cycle_prev(&c, SHANGHAI_20181016_000000)), "2018-10-16 00:00 CST");
    assert_string_equal(wall(cycle_prev(&c, SHANGHAI_20181016_000000 + 299)),
                        "2018-10-16 00:00 CST");
    assert_string_equal(wall(cycle_prev(&c, SHANGHAI_20181016_000000 - 1)),
                        "2018-10-15 23:55 CST");
}

static void
test_minute_window(void **state)
{
    struct cycle c = minute_cycle(8 * 60, 18 * 60, 30);
    struct cycle odd = minute_cycle(8 * 60, 18 * 60 + 10, 25);
    struct cycle daily = minute_cycle(6 * 60 + 15, 23 * 60 + 59, 1440);
    struct cycle every = minute_cycle(0, 23 * 60 + 59, 1);
    const time_t day = SHANGHAI_20181016_000000;

    set_tz("Asia/Shanghai");
    assert_int_equal(count_day(&c, day, day + 86400), 21);
    SEQ(&c, day, "2018-10-16 08:00 CST", "2018-10-16 08:30 CST", "2018-10-16 09:00 CST");
    SEQ(&c, day + 17 * 3600 + 59 * 60, "2018-10-16 18:00 CST", "2018-10-17 08:00 CST",
        "2018-10-17 08:30 CST");
    assert_string_equal(wall(cycle_prev(&c, day + 7 * 3600)), "2018-10-15 18:00 CST");
    assert_string_equal(wall(cycle_prev(&c, day + 12 * 3600 + 45 * 60)),
                        "2018-10-16 12:30 CST");
    /* 25 does not divide the window: the last slot is 18:00, not 18:10 */
    assert_int_equal(count_day(&odd, day, day + 86400), 25);
    assert_string_equal(wall(cycle_prev(&odd, day + 86399)), "2018-10-16 18:00 CST");
    SEQ(&odd, day + 17 * 3600 + 40 * 60, "2018-10-16 18:00 CST", "2018-10-17 08:00 CST");
    /* an interval of a whole day fires once, at start */
    SEQ(&daily, day, "2018-10-16 06:15 CST", "2018-10-17 06:15 CST");
    assert_int_equal(count_day(&every, day, day + 86400), 1440);
}

static void
test_hour(void **state)
{
    struct cycle c = { .kind = CYCLE_HOUR, .start_min = 30, .end_min = 23 * 60 + 59,
                       .interval = 3 };
    struct cycle w = { .kind = CYCLE_HOUR, .start_min = 8 * 60 + 15, .end_min = 10 * 60,
                       .interval = 1 };
    const time_t day = SHANGHAI_20181016_000000;

    set_tz("Asia/Shanghai");
    assert_int_equal(cycle_validate(&c, NULL), 0);
    assert_int_equal(count_day(&c, day, day + 86400), 8);
    SEQ(&c, day + 20 * 3600, "2018-10-16 21:30 CST", "2018-10-17 00:30 CST",
        "2018-10-17 03:30 CST");
    assert_string_equal(wall(cycle_prev(&c, day + 3 * 3600 + 29 * 60)), "2018-10-16 00:30 CST");
    SEQ(&w, day, "2018-10-16 08:15 CST", "2018-10-16 09:15 CST", "2018-10-17 08:15 CST");
}

static void
test_day(void **state)
{
    struct cycle c = { .kind = CYCLE_DAY, .start_min = 6 * 60 + 45, .end_min = 0 };
    const time_t day = SHANGHAI_20181016_000000;

    set_tz("Asia/Shanghai");
    /* end and interval do not concern a day cycle */
    assert_int_equal(cycle_validate(&c, NULL), 0);
    SEQ(&c, day, "2018-10-16 06:45 CST", "2018-10-17 06:45 CST", "2018-10-18 06:45 CST");
    SEQ(&c, day + 6 * 3600 + 45 * 60, "2018-10-17 06:45 CST");
    assert_string_equal(wall(cycle_prev(&c, day + 6 * 3600)), "2018-10-15 06:45 CST");
}

static void
test_week(void **state)
{
    /* Monday, Wednesday, Friday at 09:00; 2018-10-16 is a Tuesday */
    struct cycle c = { .kind = CYCLE_WEEK, .start_min = 9 * 60,
                       .dow_mask = 1 << 1 | 1 << 3 | 1 << 5 };
    struct cycle sun = { .kind = CYCLE_WEEK, .start_min = 0, .dow_mask = 1 };
    const time_t day = SHANGHAI_20181016_000000;

    set_tz("Asia/Shanghai");
    assert_int_equal(cycle_validate(&c, NULL), 0);
    SEQ(&c, day, "2018-10-17 09:00 CST", "2018-10-19 09:00 CST", "2018-10-22 09:00 CST",
        "2018-10-24 09:00 CST");
    assert_string_equal(wall(cycle_prev(&c, day)), "2018-10-15 09:00 CST");
    SEQ(&sun, day, "2018-10-21 00:00 CST", "2018-10-28 00:00 CST");
}

static void
test_month(void **state)
{
    /* the 1st, the 15th and the last day, at 00:00 */
    struct cycle c = { .kind = CYCLE_MONTH, .dom_mask = 1u | 1u << 1 | 1u << 15 };
    struct cycle d31 = { .kind = CYCLE_MONTH, .start_min = 12 * 60, .dom_mask = 1u << 31 };
    struct cycle d30 = { .kind = CYCLE_MONTH, .start_min = 12 * 60, .dom_mask = 1u << 30 };

    set_tz("Asia/Shanghai");
    assert_int_equal(cycle_validate(&c, NULL), 0);
    /* 2020 is a leap year, 2019 is not; 2020-01-31 00:00 CST = 1580400000 */
    SEQ(&c, (time_t)1580400000, "2020-02-01 00:00 CST", "2020-02-15 00:00 CST",
        "2020-02-29 00:00 CST", "2020-03-01 00:00 CST", "2020-03-15 00:00 CST",
        "2020-03-31 00:00 CST", "2020-04-01 00:00 CST", "2020-04-15 00:00 CST",
        "2020-04-30 00:00 CST");
    /* 2019-02-10 00:00 CST = 1549728000 */
    SEQ(&c, (time_t)1549728000, "2019-02-15 00:00 CST", "2019-02-28 00:00 CST",
        "2019-03-01 00:00 CST");
    /* a day 31 or 30 fires only in months that have it (the "last" bit covers month ends) */
    SEQ(&d31, (time_t)1549728000, "2019-03-31 12:00 CST", "2019-05-31 12:00 CST",
        "2019-07-31 12:00 CST", "2019-08-31 12:00 CST", "2019-10-31 12:00 CST");
    SEQ(&d30, (time_t)1549728000, "2019-03-30 12:00 CST", "2019-04-30 12:00 CST");
    assert_string_equal(wall(cycle_prev(&d30, (time_t)1549728000)), "2019-01-30 12:00 CST");
}

static void
test_cron(void **state)
{
    struct cycle c;
    const time_t day = SHANGHAI_20181016_000000;

    set_tz("Asia/Shanghai");
    c = cron("*/15 9-17 * * 1-5");
    SEQ(&c, day + 8 * 3600 + 59 * 60, "2018-10-16 09:00 CST", "2018-10-16 09:15 CST");
    SEQ(&c, day + 17 * 3600 + 45 * 60, "2018-10-17 09:00 CST");
    /* Friday 17:45 -> Monday 09:00 */
    SEQ(&c, day + 3 * 86400 + 17 * 3600 + 44 * 60, "2018-10-19 17:45 CST",
        "2018-10-22 09:00 CST");
    assert_int_equal(count_day(&c, day, day + 7 * 86400), 4 * 9 * 5);
    assert_string_equal(wall(cycle_prev(&c, day + 5 * 86400 + 12 * 3600)),
                        "2018-10-19 17:45 CST");

    c = cron("0 0 1,15 * *");
    SEQ(&c, day, "2018-11-01 00:00 CST", "2018-11-15 00:00 CST", "2018-12-01 00:00 CST");

    /* dom and dow both restricted: either matches (13th or Friday); 2018-07-01 = 1530374400 */
    c = cron("0 12 13 * fri");
    SEQ(&c, (time_t)1530374400, "2018-07-06 12:00 CST", "2018-07-13 12:00 CST",
        "2018-07-20 12:00 CST", "2018-07-27 12:00 CST", "2018-08-03 12:00 CST",
        "2018-08-10 12:00 CST", "2018-08-13 12:00 CST", "2018-08-17 12:00 CST");
    /* a field starting with '*' counts as unrestricted, so both must match (Vixie cron) */
    c = cron("0 12 */2 * fri");
    SEQ(&c, (time_t)1530374400, "2018-07-13 12:00 CST", "2018-07-27 12:00 CST",
        "2018-08-03 12:00 CST", "2018-08-17 12:00 CST", "2018-08-31 12:00 CST");

    /* names, any case; 7 is Sunday */
    c = cron("30 6 * jan,JUL Mon-wed");
    SEQ(&c, (time_t)1530374400, "2018-07-02 06:30 CST", "2018-07-03 06:30 CST",
        "2018-07-04 06:30 CST", "2018-07-09 06:30 CST");
    SEQ(&c, (time_t)1530374400 + 31 * 86400, "2019-01-01 06:30 CST");
    c = cron("0 0 * * 7");
    assert_int_equal(c.cron_dow, 1);
    SEQ(&c, day, "2018-10-21 00:00 CST");
    c = cron("0 0 * * 5-7");
    assert_int_equal(c.cron_dow, 1 | 1 << 5 | 1 << 6);

    /* steps on ranges and on a single start */
    c = cron("0-30/10 * * * *");
    assert_true(c.cron_min == (1ULL | 1ULL << 10 | 1ULL << 20 | 1ULL << 30));
    c = cron("5/20 * * * *");
    assert_true(c.cron_min == (1ULL << 5 | 1ULL << 25 | 1ULL << 45));
    c = cron("  1,2 \t 3   * * *  ");
    assert_true(c.cron_min == (1ULL << 1 | 1ULL << 2));
    assert_int_equal(c.cron_hour, 1 << 3);

    /* macros */
    c = cron("@daily");
    SEQ(&c, day, "2018-10-17 00:00 CST", "2018-10-18 00:00 CST");
    c = cron("@midnight");
    SEQ(&c, day, "2018-10-17 00:00 CST");
    c = cron("@hourly");
    SEQ(&c, day, "2018-10-16 01:00 CST", "2018-10-16 02:00 CST");
    c = cron(" @Weekly ");
    SEQ(&c, day, "2018-10-21 00:00 CST");
    c = cron("@monthly");
    SEQ(&c, day, "2018-11-01 00:00 CST");
    c = cron("@yearly");
    SEQ(&c, day, "2019-01-01 00:00 CST");
    c = cron("@annually");
    SEQ(&c, day, "2019-01-01 00:00 CST");

    /* 29 February: next leap year */
    c = cron("0 0 29 2 *");
    SEQ(&c, day, "2020-02-29 00:00 CST", "2024-02-29 00:00 CST");
}

static void
expect_cron_error(const char *expr, size_t offset, const char *msg)
{
    struct cycle c, before;
    struct cycle_error e;

    memset(&c, 0x5a, sizeof(c));
    before = c;
    memset(&e, 0, sizeof(e));
    assert_int_equal(cycle_parse_cron(expr, &c, &e), -OTSYNC_ECONFIG);
    assert_string_equal(e.msg, msg);
    assert_int_equal(e.offset, offset);
    /* *c is left alone on failure, and a NULL error record is allowed */
    assert_memory_equal(&c, &before, sizeof(c));
    assert_int_equal(cycle_parse_cron(expr, &c, NULL), -OTSYNC_ECONFIG);
}

static void
test_cron_errors(void **state)
{
    expect_cron_error("61 * * * *", 0, "minute 61 out of range 0-59");
    expect_cron_error("* * * *", 7, "expected 5 fields, got 4");
    expect_cron_error("0 0 * * * 2018", 10, "expected 5 fields, got 6");
    expect_cron_error("", 0, "empty cron expression");
    expect_cron_error("   ", 0, "empty cron expression");
    expect_cron_error(NULL, 0, "empty cron expression");
    expect_cron_error("*/0 * * * *", 2, "bad step '0' in the minute field (expected 1-60)");
    expect_cron_error("* */25 * * *", 4, "bad step '25' in the hour field (expected 1-24)");
    expect_cron_error("*/x * * * *", 2, "bad step 'x' in the minute field (expected 1-60)");
    expect_cron_error("1-5/ * * * *", 4, "bad step '' in the minute field (expected 1-60)");
    expect_cron_error("* 24 * * *", 2, "hour 24 out of range 0-23");
    expect_cron_error("* * 0 * *", 4, "day-of-month 0 out of range 1-31");
    expect_cron_error("* * 32 * *", 4, "day-of-month 32 out of range 1-31");
    expect_cron_error("* * * 13 *", 6, "month 13 out of range 1-12");
    expect_cron_error("* * * * 8", 8, "day-of-week 8 out of range 0-7");
    expect_cron_error("0 0 1 1-2,3-99 *", 12, "month 99 out of range 1-12");
    expect_cron_error("99999999999999999999 * * * *", 0,
                      "minute 99999999999999999999 out of range 0-59");
    expect_cron_error("* * * foo *", 6, "unknown month name 'foo' (expected jan..dec)");
    expect_cron_error("* * * * monday", 8, "unknown day-of-week name 'monday' (expected sun..sat)");
    expect_cron_error("x * * * *", 0, "minute 'x' is not a number");
    expect_cron_error("5-1 * * * *", 0, "backwards range 5-1 in the minute field");
    expect_cron_error("* * * * fri-mon", 8, "backwards range fri-mon in the day-of-week field");
    expect_cron_error("1,,2 * * * *", 2, "empty item in the minute field");
    expect_cron_error("1, * * * *", 2, "empty item in the minute field");
    expect_cron_error("1-* * * * *", 2, "bad minute value '*'");
    expect_cron_error("5# * * * *", 1, "unexpected '#' in the minute field");
    expect_cron_error("*5 * * * *", 1, "unexpected '5' in the minute field");
    expect_cron_error("@reboot", 0, "unknown macro '@reboot' (known: @hourly, @daily, @midnight, "
                      "@weekly, @monthly, @yearly, @annually)");
    expect_cron_error("  @daily 0", 9, "unexpected '0' after @daily");
}

/* Expressions that can never fire answer -1, and quickly. */
static void
test_never(void **state)
{
    const char *const never[] = { "0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 2 *" };
    struct timespec a, b;
    struct cycle c;
    double ms;
    size_t i;

    set_tz("Asia/Shanghai");
    for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        c = cron(never[i]);
        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(cycle_next(&c, SHANGHAI_20181016_000000), -1);
        assert_int_equal(cycle_prev(&c, SHANGHAI_20181016_000000), -1);
        clock_gettime(CLOCK_MONOTONIC, &b);
        ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        print_message("%-20s never fires: next+prev in %.3f ms\n", never[i], ms);
        assert_true(ms < 500.0);
    }
    /* an invalid cycle never fires either */
    {
        struct cycle bad = { .kind = CYCLE_MINUTE, .end_min = 1439, .interval = 0 };
        assert_int_equal(cycle_next(&bad, SHANGHAI_20181016_000000), -1);
        assert_int_equal(cycle_prev(&bad, SHANGHAI_20181016_000000), -1);
    }
}

/*
 * For many t across both Berlin DST days: prev(next(t)) == next(t), prev(t) <= t, and
 * nothing is scheduled in (prev(t), t], i.e. next(prev(t)) > t.
 */
static void
test_prev_consistency(void **state)
{
    struct cycle cycles[8];
    const time_t spans[2][2] = { { BERLIN_20180325_000000 - 3600, BERLIN_20180326_000000 + 3600 },
                                 { BERLIN_20181028_000000 - 3600, BERLIN_20181029_000000 + 3600 } };
    size_t i, k, checks = 0;
    time_t t, n, p;

    set_tz("Europe/Berlin");
    cycles[0] = minute_cycle(0, 1439, 5);
    cycles[1] = minute_cycle(0, 1439, 1);
    cycles[2] = minute_cycle(90, 200, 7);
    cycles[3] = (struct cycle){ .kind = CYCLE_HOUR, .start_min = 30, .end_min = 1439,
                                .interval = 1 };
    cycles[4] = (struct cycle){ .kind = CYCLE_DAY, .start_min = 150 };
    cycles[5] = cron("*/10 2 * * *");
    cycles[6] = cron("0 0 1,15 * 0");
    cycles[7] = (struct cycle){ .kind = CYCLE_MONTH, .start_min = 150, .dom_mask = 1 };
    for (i = 0; i < sizeof(cycles) / sizeof(cycles[0]); i++) {
        for (k = 0; k < 2; k++) {
            for (t = spans[k][0]; t < spans[k][1]; t += 7 * 60 + 13) {
                n = cycle_next(&cycles[i], t);
                p = cycle_prev(&cycles[i], t);
                assert_true(n > t);
                assert_int_equal(cycle_prev(&cycles[i], n), n);
                assert_true(p != (time_t)-1 && p <= t);
                assert_true(cycle_next(&cycles[i], p) > t);
                assert_int_equal(cycle_next(&cycles[i], p - 1), p);
                checks++;
            }
        }
    }
    print_message("%zu next/prev consistency checks\n", checks);
}

/* 2018-03-25 02:00 CET -> 03:00 CEST: the wall times 02:00..02:59 do not exist. */
static void
test_dst_spring(void **state)
{
    struct cycle c = minute_cycle(0, 1439, 5);
    struct cycle every = minute_cycle(0, 1439, 1);
    struct cycle daily = { .kind = CYCLE_DAY, .start_min = 2 * 60 + 30 };
    struct cycle hourly = { .kind = CYCLE_HOUR, .start_min = 0, .end_min = 1439, .interval = 1 };
    struct tm tm;
    time_t t;

    set_tz("Europe/Berlin");
    assert_int_equal(count_day(&c, BERLIN_20180325_000000, BERLIN_20180326_000000), 276);
    for (t = cycle_next(&c, BERLIN_20180325_000000 - 1); t < BERLIN_20180326_000000;
         t = cycle_next(&c, t)) {
        assert_non_null(localtime_r(&t, &tm));
        assert_int_not_equal(tm.tm_hour, 2);
    }
    SEQ(&c, BERLIN_20180325_015500 - 1, "2018-03-25 01:55 CET", "2018-03-25 03:00 CEST",
        "2018-03-25 03:05 CEST");
    assert_int_equal(cycle_next(&c, BERLIN_20180325_015500), BERLIN_20180325_015500 + 300);
    assert_string_equal(wall(cycle_prev(&c, BERLIN_20180325_015500 + 299)),
                        "2018-03-25 01:55 CET");
    assert_int_equal(count_day(&every, BERLIN_20180325_000000, BERLIN_20180326_000000), 1380);
    SEQ(&every, BERLIN_20180325_015500 + 3 * 60, "2018-03-25 01:59 CET", "2018-03-25 03:00 CEST");
    SEQ(&hourly, BERLIN_20180325_015500, "2018-03-25 03:00 CEST", "2018-03-25 04:00 CEST");
    /* a daily 02:30 does not fire on the day it does not exist */
    SEQ(&daily, BERLIN_20180324_023000 - 1, "2018-03-24 02:30 CET", "2018-03-26 02:30 CEST",
        "2018-03-27 02:30 CEST");
    assert_string_equal(wall(cycle_prev(&daily, BERLIN_20180326_000000)), "2018-03-24 02:30 CET");
    {
        struct cycle cr = cron("30 2 * * *");
        SEQ(&cr, BERLIN_20180324_023000, "2018-03-26 02:30 CEST");
        cr = cron("*/5 * * * *");
        assert_int_equal(count_day(&cr, BERLIN_20180325_000000, BERLIN_20180326_000000), 276);
    }
}

/* 2018-10-28 03:00 CEST -> 02:00 CET: the wall times 02:00..02:59 occur twice. */
static void
test_dst_autumn(void **state)
{
    struct cycle c = minute_cycle(0, 1439, 5);
    struct cycle daily = { .kind = CYCLE_DAY, .start_min = 2 * 60 + 30 };
    bool seen[288] = { false };
    size_t count = 0;
    struct tm tm;
    time_t t;
    int slot;

    set_tz("Europe/Berlin");
    for (t = cycle_next(&c, BERLIN_20181028_000000 - 1); t < BERLIN_20181029_000000;
         t = cycle_next(&c, t)) {
        assert_non_null(localtime_r(&t, &tm));
        assert_int_equal(tm.tm_min % 5, 0);
        slot = (tm.tm_hour * 60 + tm.tm_min) / 5;
        /* each wall time once, and the repeated ones at their first (DST) occurrence */
        assert_false(seen[slot]);
        seen[slot] = true;
        if (tm.tm_hour == 2)
            assert_int_equal(tm.tm_isdst, 1);
        count++;
    }
    assert_int_equal(count, 288);
    /* after the first 02:55 comes 03:00 CET, 1h05 later: the second pass fires nothing */
    SEQ(&c, BERLIN_20181028_025500_CEST - 1, "2018-10-28 02:55 CEST", "2018-10-28 03:00 CET",
        "2018-10-28 03:05 CET");
    assert_int_equal(cycle_next(&c, BERLIN_20181028_025500_CEST) - BERLIN_20181028_025500_CEST,
                     3900);
    /* asked from inside the second pass */
    assert_int_equal(cycle_next(&c, BERLIN_20181028_023000_CET), BERLIN_20181028_030000_CET);
    assert_int_equal(cycle_next(&c, BERLIN_20181028_021000_CET - 1), BERLIN_20181028_030000_CET);
    assert_string_equal(wall(cycle_prev(&c, BERLIN_20181028_021000_CET)), "2018-10-28 02:55 CEST");
    assert_string_equal(wall(cycle_prev(&c, BERLIN_20181028_030000_CET - 1)),
                        "2018-10-28 02:55 CEST");
    assert_string_equal(wall(cycle_prev(&c, BERLIN_20181028_030000_CET)), "2018-10-28 03:00 CET");
    assert_string_equal(wall(cycle_prev(&c, BERLIN_20181028_025500_CEST - 1)),
                        "2018-10-28 02:50 CEST");
    /* a daily 02:30 fires once that day, at its first occurrence */
    SEQ(&daily, BERLIN_20181028_000000, "2018-10-28 02:30 CEST", "2018-10-29 02:30 CET");
    assert_int_equal(count_day(&daily, BERLIN_20181028_000000, BERLIN_20181029_000000), 1);
    {
        struct cycle cr = cron("*/5 * * * *");
        assert_int_equal(count_day(&cr, BERLIN_20181028_000000, BERLIN_20181029_000000), 288);
        assert_int_equal(cycle_next(&cr, BERLIN_20181028_023000_CET), BERLIN_20181028_030000_CET);
    }
}

/* Transitions at midnight (Brazil, 2018-2019) and a skipped day (Samoa, 2011-12-30). */
static void
test_dst_midnight(void **state)
{
    struct cycle midnight = { .kind = CYCLE_DAY, .start_min = 0 };
    struct cycle late = minute_cycle(23 * 60, 1439, 30);
    struct cycle noon = { .kind = CYCLE_DAY, .start_min = 12 * 60 };
    time_t t;

    set_tz("America/Sao_Paulo");
    /* 2018-11-04 00:00 -> 01:00: no midnight that day */
    SEQ(&midnight, SAOPAULO_20181103_000000, "2018-11-05 00:00 -02");
    t = cycle_next(&midnight, SAOPAULO_20181103_000000);
    assert_string_equal(wall(cycle_prev(&midnight, t - 1)), "2018-11-03 00:00 -03");
    /* 2019-02-17 00:00 -> 2019-02-16 23:00: 23:00 and 23:30 once each, before the turn */
    SEQ(&late, SAOPAULO_20190216_000000, "2019-02-16 23:00 -02", "2019-02-16 23:30 -02",
        "2019-02-17 23:00 -03");
    assert_int_equal(cycle_next(&late, SAOPAULO_20190216_233000_M3),
                     cycle_next(&late, SAOPAULO_20190216_233000_M3 + 86400 - 3600));
    assert_string_equal(wall(cycle_prev(&late, SAOPAULO_20190216_233000_M3)),
                        "2019-02-16 23:30 -02");

    set_tz("Pacific/Apia");
    SEQ(&noon, APIA_20111228_120000, "2011-12-29 12:00 -10", "2011-12-31 12:00 +14");
    assert_string_equal(wall(cycle_prev(&noon, APIA_20111228_120000 + 2 * 86400 - 3600)),
                        "2011-12-29 12:00 -10");
}

/* Which wall times the cycles of test_dst_oracle name, written out independently. */
static bool
every7_from_1_30(const struct tm *tm)
{
    int m = tm->tm_hour * 60 + tm->tm_min;

    return m >= 90 && m <= 200 && (m - 90) % 7 == 0;
}

static bool
every1(const struct tm *tm)
{
    return true;
}

static bool
every5(const struct tm *tm)
{
    return tm->tm_min % 5 == 0;
}

static bool
at_2_and_23(const struct tm *tm)
{
    return (tm->tm_hour == 2 || tm->tm_hour == 23) && tm->tm_min % 10 == 0;
}

/*
 * A brute-force oracle: walking every minute from lo to hi, a wall time the cycle names is
 * scheduled the first time the clock shows it. cycle_next must yield exactly those instants.
 */
static void
expect_oracle(const struct cycle *c, bool (*names)(const struct tm *), time_t lo, time_t hi)
{
    static bool seen[3 * 1440];
    size_t expected = 0, got = 0;
    long base = -1, k;
    struct tm tm;
    time_t t, n = lo - 1;

    memset(seen, 0, sizeof(seen));
    for (t = lo; t < hi; t += 60) {
        assert_non_null(localtime_r(&t, &tm));
        k = tm.tm_yday * 1440L + tm.tm_hour * 60 + tm.tm_min;
        if (base < 0)
            base = k;
        assert_true(k - base >= 0 && k - base < 3 * 1440);
        if (seen[k - base])
            continue;
        seen[k - base] = true;
        if (!names(&tm))
            continue;
        expected++;
        n = cycle_next(c, n);
        assert_string_equal(wall(n), wall(t));
        got++;
    }
    assert_true(cycle_next(c, n) >= hi);
    assert_int_equal(got, expected);
}

static void
test_dst_oracle(void **state)
{
    struct cycle c7 = minute_cycle(90, 200, 7);
    struct cycle c1 = minute_cycle(0, 1439, 1);
    struct cycle c5 = minute_cycle(0, 1439, 5);
    struct cycle cr;

    set_tz("Europe/Berlin");
    cr = cron("*/10 2,23 * * *");
    expect_oracle(&c7, every7_from_1_30, BERLIN_20180325_000000, BERLIN_20180326_000000);
    expect_oracle(&c7, every7_from_1_30, BERLIN_20181028_000000, BERLIN_20181029_000000);
    expect_oracle(&c5, every5, BERLIN_20180325_000000, BERLIN_20180326_000000);
    expect_oracle(&c5, every5, BERLIN_20181028_000000, BERLIN_20181029_000000);
    expect_oracle(&cr, at_2_and_23, BERLIN_20180325_000000, BERLIN_20180326_000000);
    expect_oracle(&cr, at_2_and_23, BERLIN_20181028_000000, BERLIN_20181029_000000);
    set_tz("America/Sao_Paulo");
    expect_oracle(&c5, every5, SAOPAULO_20181103_000000, SAOPAULO_20181103_000000 + 2 * 86400);
    expect_oracle(&cr, at_2_and_23, SAOPAULO_20190216_000000, SAOPAULO_20190216_000000 + 2 * 86400);
    expect_oracle(&c1, every1, SAOPAULO_20190216_000000, SAOPAULO_20190216_000000 + 2 * 86400);
    set_tz("Europe/Berlin");
    expect_oracle(&c1, every1, BERLIN_20181028_000000, BERLIN_20181029_000000);
}

static void
expect_invalid(const struct cycle *c, const char *msg)
{
    struct cycle_error e;

    memset(&e, 0, sizeof(e));
    assert_int_equal(cycle_validate(c, &e), -OTSYNC_ECONFIG);
    assert_string_equal(e.msg, msg);
    assert_int_equal(cycle_validate(c, NULL), -OTSYNC_ECONFIG);
}

static void
test_validate(void **state)
{
    struct cycle ok = { .kind = CYCLE_MINUTE, .start_min = 0, .end_min = 1439, .interval = 1440 };
    struct cycle c;

    assert_int_equal(cycle_validate(&ok, NULL), 0);
    c = ok, c.start_min = 23 * 60, c.end_min = 60;
    expect_invalid(&c, "start 23:00 is after end 01:00");
    c = ok, c.start_min = -5;
    expect_invalid(&c, "start -5 minutes is out of range 00:00-23:59");
    c = ok, c.end_min = 1440;
    expect_invalid(&c, "end 1440 minutes is out of range 00:00-23:59");
    c = ok, c.interval = 0;
    expect_invalid(&c, "interval 0 is out of range 1-1440 minutes");
    c = ok, c.interval = 1441;
    expect_invalid(&c, "interval 1441 is out of range 1-1440 minutes");
    c = ok, c.kind = CYCLE_HOUR, c.interval = 25;
    expect_invalid(&c, "interval 25 is out of range 1-24 hours");
    c = ok, c.kind = CYCLE_HOUR, c.interval = 24;
    assert_int_equal(cycle_validate(&c, NULL), 0);
    c = (struct cycle){ .kind = CYCLE_WEEK, .start_min = 60 };
    expect_invalid(&c, "week cycle names no day of the week");
    c.dow_mask = 0x81;
    expect_invalid(&c, "week cycle: day-of-week bit 7 is not a day (0-6)");
    c = (struct cycle){ .kind = CYCLE_MONTH, .start_min = 60 };
    expect_invalid(&c, "month cycle names no day of the month");
    c = (struct cycle){ .kind = CYCLE_DAY, .start_min = 1440 };
    expect_invalid(&c, "start 1440 minutes is out of range 00:00-23:59");
    c = (struct cycle){ .kind = (enum cycle_kind)42 };
    expect_invalid(&c, "unknown cycle kind 42");
    c = (struct cycle){ .kind = CYCLE_CRON };
    expect_invalid(&c, "cron schedule has a field that names no time");
    expect_invalid(NULL, "no cycle");
}

/* The scheduler asks cycle_next for 10,000 minute-cycle tasks every minute. */
static void
test_speed(void **state)
{
    struct cycle cycles[3];
    const char *const names[3] = { "minute/1", "minute/5", "cron */5 9-17" };
    const int rounds = 10000;
    struct timespec a, b;
    double ms;
    time_t t;
    int i, k;

    set_tz("Europe/Berlin");
    cycles[0] = minute_cycle(0, 1439, 1);
    cycles[1] = minute_cycle(0, 1439, 5);
    cycles[2] = cron("*/5 9-17 * * *");
    for (i = 0; i < 3; i++) {
        /* the week of the autumn change, so some calls cross it */
        t = BERLIN_20181028_000000 - 86400;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (k = 0; k < rounds; k++) {
            time_t n = cycle_next(&cycles[i], t);
            assert_true(n > t);
            t = n;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        print_message("%-14s %d cycle_next calls in %.2f ms\n", names[i], rounds, ms);
        /* loose enough for sanitizer and valgrind builds; one scan of a day per call is not */
        assert_true(ms < 5000.0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minute_guide),
        cmocka_unit_test(test_minute_window),
        cmocka_unit_test(test_hour),
        cmocka_unit_test(test_day),
        cmocka_unit_test(test_week),
        cmocka_unit_test(test_month),
        cmocka_unit_test(test_cron),
        cmocka_unit_test(test_cron_errors),
        cmocka_unit_test(test_never),
        cmocka_unit_test(test_prev_consistency),
        cmocka_unit_test(test_dst_spring),
        cmocka_unit_test(test_dst_autumn),
        cmocka_unit_test(test_dst_midnight),
        cmocka_unit_test(test_dst_oracle),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_speed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
