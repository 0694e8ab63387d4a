/*
 * test-throttle.c - the engine's arithmetic, on a fake clock: the token bucket behind
 * setting.speed.mbps / .record, the errorLimit rule (record wins over percentage, a share
 * judged only when it means something), and the dirty file's lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "dirty.h"
#include "throttle.h"

#define SEC 1000000000ull
#define MIB (1024ull * 1024ull)

/* Sends `count` batches of `bytes` as fast as the bucket allows; returns the fake time taken. */
static uint64_t
drain(struct throttle *t, uint64_t now, int count, uint64_t bytes, uint64_t records)
{
    uint64_t start = now, wait;
    int i;

    for (i = 0; i < count; i++) {
        while ((wait = throttle_wait_ns(t, now)) > 0)
            now += wait;
        throttle_take(t, now, bytes, records);
    }
    return now - start;
}

static void
test_bytes_rate_is_exact(void **state)
{
    struct throttle t;
    uint64_t took;

    (void)state;
    throttle_init(&t, 1.0 * MIB, 0, 0);
    assert_true(throttle_active(&t));
    assert_int_equal(throttle_wait_ns(&t, 0), 0);   /* the first batch goes at once */
    /* 20 batches of 512 KiB at 1 MiB/s: the 19 after the first wait 0.5 s each */
    took = drain(&t, 0, 20, 512 * 1024, 1000);
    assert_true(took >= 19 * SEC / 2 && took <= 19 * SEC / 2 + 20);
}

static void
test_big_batch_leaves_a_debt(void **state)
{
    struct throttle t;

    (void)state;
    throttle_init(&t, 1.0 * MIB, 0, 0);
    throttle_take(&t, 0, 4 * MIB, 1);
    /* a 4 MiB batch under 1 MiB/s: the next one waits 4 s, however it is asked */
    assert_int_equal(throttle_wait_ns(&t, 0), 4 * SEC);
    assert_int_equal(throttle_wait_ns(&t, 1 * SEC), 3 * SEC);
    assert_int_equal(throttle_wait_ns(&t, 4 * SEC), 0);
}

static void
test_burst_is_one_second(void **state)
{
    struct throttle t;

    (void)state;
    throttle_init(&t, 1.0 * MIB, 0, 0);
    /* idle for a minute: only one second of allowance builds up */
    throttle_take(&t, 60 * SEC, 3 * MIB, 1);
    assert_int_equal(throttle_wait_ns(&t, 60 * SEC), 2 * SEC);
}

static void
test_records_rate(void **state)
{
    struct throttle t;
    uint64_t took;

    (void)state;
    throttle_init(&t, 0, 1000, 0);
    /* 10 batches of 500 records at 1000 records/s; bytes are not limited */
    took = drain(&t, 0, 10, 100 * MIB, 500);
    assert_true(took >= 9 * SEC / 2 && took <= 9 * SEC / 2 + 10);
}

static void
test_both_limits_the_slower_wins(void **state)
{
    struct throttle t;

    (void)state;
    throttle_init(&t, 1.0 * MIB, 100, 0);
    throttle_take(&t, 0, MIB / 2, 1000);    /* 0.5 s of bytes, 10 s of records */
    assert_int_equal(throttle_wait_ns(&t, 0), 10 * SEC);
}

static void
test_no_limit(void **state)
{
    struct throttle t;

    (void)state;
    throttle_init(&t, 0, 0, 0);
    assert_false(throttle_active(&t));
    throttle_take(&t, 0, 100 * MIB, 1000000);
    assert_int_equal(throttle_wait_ns(&t, 0), 0);
}

static void
test_error_limit_record(void **state)
{
    struct error_limit l = {.record = 2, .percentage = -1};
    struct otsync_err err;

    (void)state;
    assert_int_equal(error_limit_check(&l, 10, 2, false, &err), 0);
    assert_true(error_limit_check(&l, 10, 3, false, &err) < 0);
    assert_non_null(strstr(err.msg, "3 dirty records, more than setting.errorLimit.record "
                                    "allows (2)"));
    /* the default, record 0: the first dirty record fails the job */
    l.record = 0;
    assert_true(error_limit_check(&l, 1000, 1, false, &err) < 0);
}

static void
test_error_limit_percentage(void **state)
{
    struct error_limit l = {.record = -1, .percentage = 0.1};
    struct otsync_err err;

    (void)state;
    /* one bad record among the first two is 50 %, but the share is not judged yet */
    assert_int_equal(error_limit_check(&l, 2, 1, false, &err), 0);
    assert_int_equal(error_limit_check(&l, 100, 10, true, &err), 0);
    assert_true(error_limit_check(&l, 100, 11, true, &err) < 0);
    assert_non_null(strstr(err.msg, "11 dirty of 100 records read, more than "
                                    "setting.errorLimit.percentage allows (0.1)"));
}

static void
test_error_limit_record_wins(void **state)
{
    /* both given (job.c then leaves percentage unset): 50 % dirty passes a record limit of 5 */
    struct error_limit l = {.record = 5, .percentage = -1};
    struct otsync_err err;

    (void)state;
    assert_int_equal(error_limit_check(&l, 10, 5, true, &err), 0);
    assert_true(error_limit_check(&l, 10, 6, true, &err) < 0);
}

static void
test_dirty_file_lines(void **state)
{
    char dir[] = "/tmp/test-dirty.XXXXXX", path[256], line[4096];
    struct otsync_batch *b;
    struct otsync_record *r;
    struct dirty_file f;
    struct stat st;
    json_error_t jerr;
    json_t *o;
    FILE *in;
    int n = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/inst.dirty.jsonl", dir);
    setenv("OTSYNC_INSTANCE", "t1.20261130120500", 1);
    setenv("OTSYNC_ATTEMPT", "2", 1);
    assert_int_equal(dirty_file_init(&f, path, NULL), 0);
    /* nothing dirty yet: no file */
    assert_int_equal(stat(path, &st), -1);

    b = otsync_batch_new(2);
    assert_int_equal(otsync_batch_add(b, 5, &r, NULL), 0);
    assert_int_equal(otsync_value_set_string(b, &r->cols[0], "pk-1", 4, NULL), 0);
    otsync_value_set_int(b, &r->cols[1], -42);
    otsync_value_set_double(b, &r->cols[2], 0.5);
    assert_int_equal(otsync_value_set_binary(b, &r->cols[3], "\x00\xff\x10", 3, NULL), 0);
    /* cols[4] stays null */
    assert_int_equal(dirty_file_add(&f, "writer", "ots", r, "OTSInvalidPK: bad key", NULL), 0);
    assert_int_equal(dirty_file_add(&f, "reader", "oss", r, "column 2: \"x\" is not a long",
                                    NULL), 0);
    assert_int_equal(f.count, 2);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    dirty_file_fini(&f);
    otsync_batch_free(b);

    assert_non_null(in = fopen(path, "r"));
    while (fgets(line, sizeof(line), in)) {
        assert_non_null(o = json_loads(line, 0, &jerr));
        assert_string_equal(json_string_value(json_object_get(o, "instance")),
                            "t1.20261130120500");
        assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 2);
        assert_non_null(json_string_value(json_object_get(o, "time")));
        if (n == 0) {
            json_t *rec = json_object_get(o, "record");
            assert_string_equal(json_string_value(json_object_get(o, "side")), "writer");
            assert_string_equal(json_string_value(json_object_get(o, "plugin")), "ots");
            assert_string_equal(json_string_value(json_object_get(o, "reason")),
                                "OTSInvalidPK: bad key");
            assert_int_equal(json_array_size(rec), 5);
            assert_string_equal(json_string_value(json_array_get(rec, 0)), "pk-1");
            assert_int_equal(json_integer_value(json_array_get(rec, 1)), -42);
            assert_true(json_real_value(json_array_get(rec, 2)) == 0.5);
            assert_string_equal(json_string_value(json_object_get(json_array_get(rec, 3),
                                                                  "base64")), "AP8Q");
            assert_true(json_is_null(json_array_get(rec, 4)));
        } else {
            assert_string_equal(json_string_value(json_object_get(o, "side")), "reader");
            assert_string_equal(json_string_value(json_object_get(o, "reason")),
                                "column 2: \"x\" is not a long");
        }
        json_decref(o);
        n++;
    }
    fclose(in);
    assert_int_equal(n, 2);
    unlink(path);
    rmdir(dir);
    unsetenv("OTSYNC_INSTANCE");
    unsetenv("OTSYNC_ATTEMPT");
}

static void
test_dirty_file_unwritable(void **state)
{
    struct otsync_batch *b = otsync_batch_new(1);
    struct otsync_record *r;
    struct dirty_file f;
    struct otsync_err err;

    (void)state;
    assert_int_equal(dirty_file_init(&f, "/nonexistent-dir/x.jsonl", NULL), 0);
    assert_int_equal(otsync_batch_add(b, 1, &r, NULL), 0);
    assert_true(dirty_file_add(&f, "writer", "ots", r, "why", &err) < 0);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.jsonl"));
    /* said once; later records are still refused without another open */
    assert_true(dirty_file_add(&f, "writer", "ots", r, "why", NULL) < 0);
    dirty_file_fini(&f);
    otsync_batch_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_rate_is_exact),
        cmocka_unit_test(test_big_batch_leaves_a_debt),
        cmocka_unit_test(test_burst_is_one_second),
        cmocka_unit_test(test_records_rate),
        cmocka_unit_test(test_both_limits_the_slower_wins),
        cmocka_unit_test(test_no_limit),
        cmocka_unit_test(test_error_limit_record),
        cmocka_unit_test(test_error_limit_percentage),
        cmocka_unit_test(test_error_limit_record_wins),
        cmocka_unit_test(test_dirty_file_lines),
        cmocka_unit_test(test_dirty_file_unwritable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
