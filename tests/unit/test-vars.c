/*
 * test-vars.c - unit tests of the scheduling parameters (src/core/vars.c): the guide's worked
 * example, every form of the grammar, every malformed form with its message and offset,
 * DST in Europe/Berlin, time parsing, and the cost of one expression.
 *
 * Leaves to others: where the strings come from (test-catalog) and when they are rendered
 * (test-sched). Each test sets TZ itself; the epoch numbers were computed with date(1).
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
#include "otsync/vars.h"

#define SHANGHAI_20181016_000500 ((time_t)1539619500)
#define SHANGHAI_20180331_080000 ((time_t)1522454400)
#define SHANGHAI_20200331_080000 ((time_t)1585612800)
#define SHANGHAI_20180101_000000 ((time_t)1514736000)
#define BERLIN_20181028_020500_CEST ((time_t)1540685100)
#define BERLIN_20181028_020500_CET ((time_t)1540688700)
#define BERLIN_20180325_120000 ((time_t)1521972000)
#define BERLIN_20180326_023000 ((time_t)1522024200)
#define BERLIN_20180325_015500 ((time_t)1521939300)

static void
set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

/* Renders s at t with the given custom params and checks the result. */
static void
expect_params(time_t t, const char *const *names, const char *const *values, size_t count,
              const char *s, const char *want)
{
    struct vars_ctx ctx = { .cyctime = t, .names = names, .values = values, .count = count };
    struct vars_error e = { 0 };
    char *out = NULL;
    int rc;

    rc = vars_render(s, &ctx, &out, &e);
    if (rc != 0)
        print_error("render '%s' failed: %s (offset %zu)\n", s, e.msg, e.offset);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
    free(out);
}

static void
expect(time_t t, const char *s, const char *want)
{
    expect_params(t, NULL, NULL, 0, s, want);
}

/* Both vars_check (no known names) and vars_render reject s with this offset and message. */
static void
expect_error(const char *s, size_t offset, const char *msg)
{
    struct vars_ctx ctx = { .cyctime = SHANGHAI_20181016_000500 };
    struct vars_error e;
    char *out = NULL;

    memset(&e, 0, sizeof(e));
    assert_int_equal(vars_check(s, NULL, 0, &e), -OTSYNC_ECONFIG);
    assert_string_equal(e.msg, msg);
    assert_int_equal(e.offset, offset);

    memset(&e, 0, sizeof(e));
    assert_int_equal(vars_render(s, &ctx, &out, &e), -OTSYNC_ECONFIG);
    assert_null(out);
    assert_string_equal(e.msg, msg);
    assert_int_equal(e.offset, offset);
    /* a NULL error record is allowed */
    assert_int_equal(vars_check(s, NULL, 0, NULL), -OTSYNC_ECONFIG);
}

/* PRODUCT.md "Scheduling": the instance of 2018-10-16 00:05:00 in the guide's timezone. */
static void
test_worked_example(void **state)
{
    const time_t t = SHANGHAI_20181016_000500;

    set_tz("Asia/Shanghai");
    expect(t, "${bdp.system.bizdate}", "20181015");
    expect(t, "$bizdate", "20181015");
    expect(t, "${bdp.system.cyctime}", "20181016000500");
    expect(t, "$cyctime", "20181016000500");
    expect(t, "$[yyyymmddhh24miss-10/24/60]", "20181015235500");
    expect(t, "$[yyyymmddhh24miss-5/24/60]", "20181016000000");
    expect(t, "$[yyyymmdd-1]", "20181015");
    expect(t, "$[yyyymmdd]", "20181016");
    expect(t, "$[yyyymmddhh24miss]", "20181016000500");
}

static void
test_time_formats(void **state)
{
    const time_t t = SHANGHAI_20181016_000500;

    set_tz("Asia/Shanghai");
    expect(t, "$[hh24mi-5/24/60]", "0000");
    expect(t, "$[hh24mi+55/24/60]", "0100");
    expect(t, "$[yyyymmddhh24-1/24]", "2018101523");
    expect(t, "$[yyyymmddhh24+25/24]", "2018101701");
    expect(t, "$[yyyy-mm-dd]", "2018-10-16");
    expect(t, "$[yyyy-mm-dd-1]", "2018-10-15");
    expect(t, "$[yyyy-mm-dd+16]", "2018-11-01");
    expect(t, "$[yyyy-mm-dd-]", "2018-10-16-");
    expect(t, "$[yy/mm/dd hh24:mi:ss]", "18/10/16 00:05:00");
    expect(t, "$[yyyy-mm-ddThh24:mi:ss]", "2018-10-16T00:05:00");
    expect(t, "$[yyyymmdd-365]", "20171016");
    expect(t, "$[yyyymmdd-01]", "20181015");
    expect(SHANGHAI_20180101_000000, "$[yyyymmdd-1]", "20171231");
    expect(SHANGHAI_20180101_000000, "$[yyyymmddhh24miss-1/24/60]", "20171231235900");
    /* ${FMT}: bizdate at 00:00:00, moved by whole days */
    expect(t, "${yyyymmdd}", "20181015");
    expect(t, "${yyyy-mm-dd-1}", "2018-10-14");
    expect(t, "${yyyymmdd+1}", "20181016");
    expect(t, "${yyyymmddhh24miss}", "20181015000000");
    expect(SHANGHAI_20180101_000000, "${yyyymmdd}", "20171231");
    expect(SHANGHAI_20180101_000000, "$bizdate", "20171231");
}

static void
test_add_months(void **state)
{
    set_tz("Asia/Shanghai");
    expect(SHANGHAI_20180331_080000, "$[add_months(yyyymmdd,-1)]", "20180228");
    expect(SHANGHAI_20200331_080000, "$[add_months(yyyymmdd,-1)]", "20200229");
    expect(SHANGHAI_20180331_080000, "$[add_months(yyyymmdd,1)]", "20180430");
    expect(SHANGHAI_20180331_080000, "$[add_months(yyyymmdd,+2)]", "20180531");
    expect(SHANGHAI_20180331_080000, "$[add_months(yyyy-mm-dd hh24:mi, -13)]",
           "2017-02-28 08:00");
    expect(SHANGHAI_20180331_080000, "$[add_months(yyyymm,-3)]", "201712");
    expect(SHANGHAI_20180331_080000, "$[add_months(yyyymm,12)]", "201903");
    expect(SHANGHAI_20180331_080000, "$[add_months(yyyymmdd,0)]", "20180331");
}

static void
test_system_names(void **state)
{
    const time_t t = SHANGHAI_20181016_000500;

    set_tz("Asia/Shanghai");
    expect(t, "${bizdate}/${cyctime}", "20181015/20181016000500");
    expect(t, "pt=$bizdate,ts=$cyctime.", "pt=20181015,ts=20181016000500.");
    /* the short forms only when the word ends there */
    expect(t, "$bizdates $cyctime_x $bizdate1", "$bizdates $cyctime_x $bizdate1");
    expect(t, "$bizdate-$cyctime", "20181015-20181016000500");
}

static void
test_custom_params(void **state)
{
    static const char *const names[] = { "startTime", "endTime", "bdp.x", "yyyymmdd" };
    static const char *const values[] = { "20181015235500", "20181016000000", "dot",
                                          "overridden" };
    const time_t t = SHANGHAI_20181016_000500;

    set_tz("Asia/Shanghai");
    expect_params(t, names, values, 4,
                  "{\"startTimeString\": \"${startTime}\", \"endTimeString\": \"${endTime}\", "
                  "\"pt\": \"${bdp.system.bizdate}\", \"x\": \"${bdp.x}\"}",
                  "{\"startTimeString\": \"20181015235500\", \"endTimeString\": "
                  "\"20181016000000\", \"pt\": \"20181015\", \"x\": \"dot\"}");
    /* a custom param comes before a time format of the same name */
    expect_params(t, names, values, 4, "${yyyymmdd}", "overridden");
    /* values are inserted as they are, not rendered again */
    {
        static const char *const n2[] = { "v" };
        static const char *const v2[] = { "$[yyyy] ${v}" };
        expect_params(t, n2, v2, 1, "<${v}>", "<$[yyyy] ${v}>");
    }
}

static void
test_literal_dollar(void **state)
{
    const time_t t = SHANGHAI_20181016_000500;

    set_tz("Asia/Shanghai");
    expect(t, "price $5", "price $5");
    expect(t, "$", "$");
    expect(t, "a$$b$", "a$$b$");
    expect(t, "$$[yyyy]", "$2018");
    expect(t, "$ {x} $(y) $x", "$ {x} $(y) $x");
    expect(t, "", "");
    expect(t, "no references at all", "no references at all");
    expect(t, "caf\xc3\xa9 $[yyyy\xc3\xa9mm]", "caf\xc3\xa9 2018\xc3\xa9" "10");
    assert_int_equal(vars_check("price $5 $ $$", NULL, 0, NULL), 0);
}

static void
test_errors(void **state)
{
    set_tz("Asia/Shanghai");
    expect_error("$[yyyymmddhh-5/24/60]", 0,
                 "unknown token 'hh' in '$[yyyymmddhh-5/24/60]'");
    expect_error("x $[yyyymmddhhmiss]", 2, "unknown token 'hh' in '$[yyyymmddhhmiss]'");
    expect_error("$[YYYYMMDD]", 0, "unknown token 'YYYYMMDD' in '$[YYYYMMDD]'");
    expect_error("$[HH24]", 0, "unknown token 'HH' in '$[HH24]'");
    expect_error("$[yyyyymmdd]", 0, "unknown token 'yyyyy' in '$[yyyyymmdd]'");
    expect_error("$[yyy]", 0, "unknown token 'yyy' in '$[yyy]'");
    expect_error("$[yyyymmdd1]", 0, "unexpected number '1' in '$[yyyymmdd1]'");
    expect_error("$[yyyymmdd - 1]", 0, "unexpected number '1' in '$[yyyymmdd - 1]'");
    expect_error("$[-1]", 0, "no time token (yyyy yy mm dd hh24 mi ss) in '$[-1]'");
    expect_error("$[--]", 0, "no time token (yyyy yy mm dd hh24 mi ss) in '$[--]'");
    expect_error("$[yyyymmdd-1/25]", 0,
                 "bad offset '-1/25' in '$[yyyymmdd-1/25]' (expected N, N/24 or N/24/60 days)");
    expect_error("$[yyyymmdd-1/24/30]", 0,
                 "bad offset '-1/24/30' in '$[yyyymmdd-1/24/30]' "
                 "(expected N, N/24 or N/24/60 days)");
    expect_error("$[yyyymmdd-1x]", 0,
                 "bad offset '-1x' in '$[yyyymmdd-1x]' (expected N, N/24 or N/24/60 days)");
    expect_error("$[yyyymmdd-1234567]", 0,
                 "bad offset '-1234567' in '$[yyyymmdd-1234567]' "
                 "(expected N, N/24 or N/24/60 days)");
    expect_error("ab $[yyyymmdd", 3, "unterminated '$[' in '$[yyyymmdd'");
    expect_error("${startTime", 0, "unterminated '${' in '${startTime'");
    expect_error("${}", 0, "empty name in '${}'");
    expect_error("$[]", 0, "empty expression in '$[]'");
    expect_error("a ${startTime}", 2, "undefined parameter 'startTime'");
    expect_error("${hh}", 0, "undefined parameter 'hh'");
    expect_error("${yyyymmddhh-1}", 0, "unknown token 'hh' in '${yyyymmddhh-1}'");
    expect_error("${yyyymmdd-1/24}", 0,
                 "bad offset '-1/24' in '${yyyymmdd-1/24}': ${...} moves whole days, "
                 "use $[...] for hours and minutes");
    expect_error("$[add_months(yyyymmdd)]", 0,
                 "bad add_months in '$[add_months(yyyymmdd)]' (expected add_months(FMT,N))");
    expect_error("$[add_months(yyyymmdd,-1]", 0,
                 "bad add_months in '$[add_months(yyyymmdd,-1]' (expected add_months(FMT,N))");
    expect_error("$[add_months(yyyymmdd,x)]", 0,
                 "bad add_months in '$[add_months(yyyymmdd,x)]' (expected add_months(FMT,N))");
    expect_error("$[add_months(yyyymmdd,)]", 0,
                 "bad add_months in '$[add_months(yyyymmdd,)]' (expected add_months(FMT,N))");
    expect_error("$[add_months(hh,1)]", 0, "unknown token 'hh' in '$[add_months(hh,1)]'");
    /* the first error wins, after earlier references that were fine */
    expect_error("$[yyyy] $bizdate $[mm] $[dd-x] ${}", 23,
                 "unknown token 'x' in '$[dd-x]'");
    /* a long reference is cut in the message, and so is a long offset */
    expect_error("$[yyyymmdd-1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaaaaaaaa]", 0,
                 "bad offset '-1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaaa...' in '$[yyyymmdd-1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaaaaaaaaaa...' (expected N, N/24 or N/24/60 days)");
}

static void
test_check_known(void **state)
{
    static const char *const known[] = { "startTime", "endTime" };
    struct vars_error e = { 0 };

    assert_int_equal(vars_check("${startTime} ${endTime} ${bdp.system.bizdate} ${yyyymmdd-1} "
                                "$[yyyymmddhh24miss-10/24/60] $[add_months(yyyymm,-1)] "
                                "$bizdate $cyctime ${cyctime}", known, 2, &e), 0);
    assert_int_equal(vars_check("${startTime} ${other}", known, 2, &e), -OTSYNC_ECONFIG);
    assert_string_equal(e.msg, "undefined parameter 'other'");
    assert_int_equal(e.offset, 13);
    /* a known name must match exactly */
    assert_int_equal(vars_check("${startTim}", known, 2, &e), -OTSYNC_ECONFIG);
    assert_string_equal(e.msg, "undefined parameter 'startTim'");
}

/* Hours and minutes move the instant; days and months keep the wall-clock time. */
static void
test_dst_berlin(void **state)
{
    set_tz("Europe/Berlin");
    /* 2018-10-28 03:00 CEST -> 02:00 CET: 02:05 happens twice */
    expect(BERLIN_20181028_020500_CET, "$cyctime", "20181028020500");
    expect(BERLIN_20181028_020500_CET, "$[yyyymmddhh24miss-10/24/60]", "20181028025500");
    expect(BERLIN_20181028_020500_CET, "$[yyyymmddhh24miss-5/24/60]", "20181028020000");
    expect(BERLIN_20181028_020500_CEST, "$[yyyymmddhh24miss-10/24/60]", "20181028015500");
    expect(BERLIN_20181028_020500_CEST, "$[yyyymmddhh24miss+60/24/60]", "20181028020500");
    /* 2018-03-25 02:00 CET -> 03:00 CEST: that day has 23 hours */
    expect(BERLIN_20180325_120000, "$[yyyymmddhh24miss-1]", "20180324120000");
    expect(BERLIN_20180325_120000, "$[yyyymmddhh24miss-24/24]", "20180324110000");
    expect(BERLIN_20180325_120000, "$[add_months(yyyymmddhh24miss,-1)]", "20180225120000");
    expect(BERLIN_20180325_015500, "$[yyyymmddhh24miss+10/24/60]", "20180325030500");
    /* a day offset that lands in the gap: mktime moves the missing 02:30 to 03:30 */
    expect(BERLIN_20180326_023000, "$[yyyymmddhh24miss-1]", "20180325033000");
    expect(BERLIN_20180326_023000, "$bizdate ${yyyymmddhh24miss}", "20180325 20180325000000");
}

static void
test_format_cyctime(void **state)
{
    char buf[15];

    set_tz("Asia/Shanghai");
    assert_string_equal(vars_format_cyctime(SHANGHAI_20181016_000500, buf), "20181016000500");
    set_tz("Europe/Berlin");
    assert_string_equal(vars_format_cyctime(BERLIN_20181028_020500_CET, buf), "20181028020500");
    assert_string_equal(vars_format_cyctime(0, buf), "19700101010000");
}

static void
expect_time(const char *s, time_t want)
{
    time_t t = 0;
    int rc = vars_parse_time(s, &t);

    if (rc != 0)
        print_error("parse '%s' failed\n", s);
    assert_int_equal(rc, 0);
    assert_int_equal(t, want);
}

static void
expect_bad_time(const char *s)
{
    time_t t = 12345;

    if (vars_parse_time(s, &t) != -OTSYNC_EINVAL)
        print_error("parse '%s' unexpectedly gave %lld\n", s, (long long)t);
    assert_int_equal(vars_parse_time(s, &t), -OTSYNC_EINVAL);
    assert_int_equal(t, 12345);
}

static void
test_parse_time(void **state)
{
    set_tz("Asia/Shanghai");
    expect_time("20181016000500", SHANGHAI_20181016_000500);
    expect_time("2018-10-16T00:05:00", SHANGHAI_20181016_000500);
    expect_time("2018-10-16 00:05:00", SHANGHAI_20181016_000500);
    expect_time("201810160005", SHANGHAI_20181016_000500);
    expect_time("20180101", SHANGHAI_20180101_000000);
    expect_time("20200229", SHANGHAI_20200331_080000 - 31 * 86400 - 8 * 3600);
    expect_bad_time("20181332000000");
    expect_bad_time("20181301");
    expect_bad_time("20180229");
    expect_bad_time("20180431");
    expect_bad_time("20181000");
    expect_bad_time("20181016240000");
    expect_bad_time("20181016006000");
    expect_bad_time("20181016000060");
    expect_bad_time("2018101600050");
    expect_bad_time("2018-10-16X00:05:00");
    expect_bad_time("2018/10/16 00:05:00");
    expect_bad_time("2018-10-16T00:05");
    expect_bad_time("2018101a");
    expect_bad_time("+0181016");
    expect_bad_time("");
    expect_bad_time("201810160005001");
    set_tz("Europe/Berlin");
    /* the missing hour of 2018-03-25 */
    expect_bad_time("20180325023000");
    expect_bad_time("2018-03-25 02:00:00");
    expect_time("2018-03-25 03:00:00", BERLIN_20180325_015500 + 5 * 60);
    expect_time("20180325015500", BERLIN_20180325_015500);
    /* the repeated hour of 2018-10-28: its first occurrence */
    expect_time("20181028020500", BERLIN_20181028_020500_CEST);
    expect_time("20181028030500", BERLIN_20181028_020500_CET + 3600);
}

/* The scheduler renders thousands of strings a second: one expression must stay near 1 µs. */
static void
test_speed(void **state)
{
    static const char *const names[] = { "startTime", "endTime" };
    static const char *const values[] = { "20181015235500", "20181016000000" };
    struct vars_ctx ctx = { .cyctime = SHANGHAI_20181016_000500, .names = names,
                            .values = values, .count = 2 };
    const char *exprs[] = { "$[yyyymmddhh24miss-10/24/60]", "$[yyyymmdd-1]",
                            "${bdp.system.bizdate}", "${startTime}" };
    const int rounds = 20000;
    struct timespec a, b;
    double us;
    size_t i;
    int k;
    char *out;

    set_tz("Asia/Shanghai");
    for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (k = 0; k < rounds; k++) {
            assert_int_equal(vars_render(exprs[i], &ctx, &out, NULL), 0);
            free(out);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / rounds;
        print_message("%-30s %.3f us per render\n", exprs[i], us);
        /* loose enough for sanitizer and valgrind builds; a plain -O2 build is ~0.2 µs */
        assert_true(us < 200.0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_time_formats),
        cmocka_unit_test(test_add_months),
        cmocka_unit_test(test_system_names),
        cmocka_unit_test(test_custom_params),
        cmocka_unit_test(test_literal_dollar),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_check_known),
        cmocka_unit_test(test_dst_berlin),
        cmocka_unit_test(test_format_cyctime),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_speed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
