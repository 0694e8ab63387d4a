/*
 * test-record.c - typed values and batches: arena copies outlive the caller's buffers, the
 * byte accounting the throttle relies on, and the text form writers print.
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
#include "record.h"

static void
test_strings_are_copied(void **state)
{
    struct otsync_batch *b = otsync_batch_new(4);
    struct otsync_record *r;
    char src[16];
    char buf[OTSYNC_VALUE_TEXT_MAX];
    const char *t;
    size_t len;

    assert_non_null(b);
    assert_int_equal(otsync_batch_add(b, 2, &r, NULL), 0);
    strcpy(src, "hello");
    assert_int_equal(otsync_value_set_string(b, &r->cols[0], src, 5, NULL), 0);
    memset(src, 'x', sizeof(src));  /* the reader reuses its buffer */
    t = otsync_value_text(&r->cols[0], buf, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(t, "hello", 5);
    assert_int_equal(r->cols[1].type, OTSYNC_TYPE_NULL);
    t = otsync_value_text(&r->cols[1], buf, &len);
    assert_string_equal(t, "null");
    otsync_batch_free(b);
}

static void
test_bytes_accounting(void **state)
{
    struct otsync_batch *b = otsync_batch_new(1);
    struct otsync_record *r;

    assert_int_equal(otsync_batch_add(b, 5, &r, NULL), 0);
    assert_int_equal(otsync_value_set_string(b, &r->cols[0], "abcd", 4, NULL), 0);
    otsync_value_set_int(b, &r->cols[1], -42);
    otsync_value_set_double(b, &r->cols[2], 0.5);
    otsync_value_set_bool(b, &r->cols[3], true);
    assert_int_equal(otsync_value_set_binary(b, &r->cols[4], "\0\1\2", 3, NULL), 0);
    assert_int_equal(b->bytes, 4 + 8 + 8 + 1 + 3);
    assert_int_equal(b->count, 1);
    otsync_batch_free(b);
}

static void
test_many_records_keep_their_values(void **state)
{
    struct otsync_batch *b = otsync_batch_new(2);   /* grows well past the hint */
    struct otsync_record *r;
    char text[32], buf[OTSYNC_VALUE_TEXT_MAX];
    const char *t;
    size_t i, len;

    for (i = 0; i < 5000; i++) {
        assert_int_equal(otsync_batch_add(b, 2, &r, NULL), 0);
        snprintf(text, sizeof(text), "row-%zu", i);
        assert_int_equal(otsync_value_set_string(b, &r->cols[0], text, strlen(text), NULL), 0);
        otsync_value_set_int(b, &r->cols[1], (int64_t)i * 3);
    }
    assert_int_equal(b->count, 5000);
    for (i = 0; i < 5000; i += 997) {
        snprintf(text, sizeof(text), "row-%zu", i);
        t = otsync_value_text(&b->recs[i].cols[0], buf, &len);
        assert_int_equal(len, strlen(text));
        assert_memory_equal(t, text, len);
        assert_int_equal(b->recs[i].cols[1].u.i, (int64_t)i * 3);
    }
    otsync_batch_free(b);
}

static void
test_text_forms(void **state)
{
    struct otsync_batch *b = otsync_batch_new(1);
    struct otsync_record *r;
    char buf[OTSYNC_VALUE_TEXT_MAX];
    size_t len;

    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    assert_int_equal(otsync_batch_add(b, 5, &r, NULL), 0);
    otsync_value_set_int(b, &r->cols[0], INT64_MIN);
    otsync_value_set_double(b, &r->cols[1], 0.1);
    otsync_value_set_bool(b, &r->cols[2], false);
    otsync_value_set_date(b, &r->cols[3], 1539619500000LL);    /* 2018-10-16 00:05:00 +08 */
    otsync_value_set_double(b, &r->cols[4], 1e300);
    assert_string_equal(otsync_value_text(&r->cols[0], buf, &len), "-9223372036854775808");
    assert_string_equal(otsync_value_text(&r->cols[1], buf, &len), "0.1");
    assert_string_equal(otsync_value_text(&r->cols[2], buf, &len), "false");
    assert_string_equal(otsync_value_text(&r->cols[3], buf, &len), "2018-10-16 00:05:00");
    assert_true(strtod(otsync_value_text(&r->cols[4], buf, &len), NULL) == 1e300);
    otsync_batch_free(b);
}

static void
test_copy_and_names(void **state)
{
    struct otsync_batch *a = otsync_batch_new(1), *b = otsync_batch_new(1);
    struct otsync_record *ra, *rb;
    char buf[OTSYNC_VALUE_TEXT_MAX];
    size_t len;

    assert_int_equal(otsync_batch_add(a, 1, &ra, NULL), 0);
    assert_int_equal(otsync_value_set_string(a, &ra->cols[0], "tmpl", 4, NULL), 0);
    assert_int_equal(otsync_batch_add(b, 1, &rb, NULL), 0);
    assert_int_equal(otsync_value_copy(b, &rb->cols[0], &ra->cols[0], NULL), 0);
    otsync_batch_free(a);   /* the copy must not point into a's arena */
    assert_memory_equal(otsync_value_text(&rb->cols[0], buf, &len), "tmpl", 4);
    otsync_batch_free(b);
    otsync_batch_free(NULL);
    assert_string_equal(otsync_type_name(OTSYNC_TYPE_BINARY), "binary");
    assert_string_equal(otsync_type_name(OTSYNC_TYPE_DATE), "date");
}

/* One value of a fresh batch set by fill; converted to `to`; returns rc, why in *why. */
static int
convert(struct otsync_batch *b, struct otsync_value **ret_v, enum otsync_type to,
        char why[OTSYNC_CONVERT_WHY_MAX])
{
    return otsync_value_convert(b, *ret_v, to, why);
}

static struct otsync_value *
str_value(struct otsync_batch *b, const char *s)
{
    struct otsync_record *r;

    assert_int_equal(otsync_batch_add(b, 1, &r, NULL), 0);
    assert_int_equal(otsync_value_set_string(b, &r->cols[0], s, strlen(s), NULL), 0);
    return &r->cols[0];
}

static void
test_conversions(void **state)
{
    struct otsync_batch *b = otsync_batch_new(16);
    struct otsync_value *v;
    struct otsync_record *r;
    char why[OTSYNC_CONVERT_WHY_MAX], buf[OTSYNC_VALUE_TEXT_MAX];
    const char *t;
    size_t len;

    (void)state;
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    v = str_value(b, "-42");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_INT, why), 0);
    assert_int_equal(v->type, OTSYNC_TYPE_INT);
    assert_int_equal(v->u.i, -42);
    v = str_value(b, "2.5");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_DOUBLE, why), 0);
    assert_true(v->u.d == 2.5);
    v = str_value(b, "TRUE");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_BOOL, why), 0);
    assert_true(v->u.b);
    v = str_value(b, "2018-10-16 00:05:00");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_DATE, why), 0);
    assert_int_equal(v->u.date_ms, 1539619500000LL);    /* 2018-10-15T16:05:00Z */
    v = str_value(b, "2018-10-16");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_DATE, why), 0);
    assert_int_equal(v->u.date_ms, 1539619200000LL);

    /* refusals name the value and why */
    v = str_value(b, "12abc");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_INT, why), -OTSYNC_EINVAL);
    assert_string_equal(why, "\"12abc\" is not an integer");
    assert_int_equal(v->type, OTSYNC_TYPE_STRING);     /* unchanged */
    v = str_value(b, "99999999999999999999");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_INT, why), -OTSYNC_EINVAL);
    assert_string_equal(why, "\"99999999999999999999\" is out of the int64 range");
    v = str_value(b, "yes");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_BOOL, why), -OTSYNC_EINVAL);
    assert_string_equal(why, "\"yes\" is not true or false");
    v = str_value(b, "2018-02-30 00:00:00");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_DATE, why), -OTSYNC_EINVAL);
    v = str_value(b, "a very long text that is not a number at all, not even close to one");
    assert_int_equal(convert(b, &v, OTSYNC_TYPE_DOUBLE, why), -OTSYNC_EINVAL);
    assert_string_equal(why, "\"a very long text that is not a number at...\" is not a number");

    assert_int_equal(otsync_batch_add(b, 4, &r, NULL), 0);
    otsync_value_set_double(b, &r->cols[0], 3.5);
    assert_int_equal(convert(b, &(struct otsync_value *){&r->cols[0]}, OTSYNC_TYPE_INT, why),
                     -OTSYNC_EINVAL);
    assert_string_equal(why, "3.5 is not an integer");
    otsync_value_set_double(b, &r->cols[1], 4.0);
    assert_int_equal(convert(b, &(struct otsync_value *){&r->cols[1]}, OTSYNC_TYPE_INT, why), 0);
    assert_int_equal(r->cols[1].u.i, 4);
    otsync_value_set_int(b, &r->cols[2], 2);
    assert_int_equal(convert(b, &(struct otsync_value *){&r->cols[2]}, OTSYNC_TYPE_BOOL, why),
                     -OTSYNC_EINVAL);
    assert_string_equal(why, "2 cannot become bool");
    assert_int_equal(otsync_value_set_binary(b, &r->cols[3], "\xff\xfe", 2, NULL), 0);
    assert_int_equal(convert(b, &(struct otsync_value *){&r->cols[3]}, OTSYNC_TYPE_STRING, why),
                     -OTSYNC_EINVAL);
    assert_string_equal(why, "2 bytes are not UTF-8 text");

    /* anything becomes a string, keeping its timestamp; null stays null */
    assert_int_equal(otsync_batch_add(b, 2, &r, NULL), 0);
    otsync_value_set_int(b, &r->cols[0], 7);
    r->cols[0].has_ts = true;
    r->cols[0].ts = 1234;
    assert_int_equal(convert(b, &(struct otsync_value *){&r->cols[0]}, OTSYNC_TYPE_STRING, why), 0);
    t = otsync_value_text(&r->cols[0], buf, &len);
    assert_int_equal(r->cols[0].type, OTSYNC_TYPE_STRING);
    assert_memory_equal(t, "7", 1);
    assert_true(r->cols[0].has_ts && r->cols[0].ts == 1234);
    assert_int_equal(convert(b, &(struct otsync_value *){&r->cols[1]}, OTSYNC_TYPE_INT, why), 0);
    assert_int_equal(r->cols[1].type, OTSYNC_TYPE_NULL);
    otsync_batch_free(b);
}

static void
test_conversion_bytes_accounting(void **state)
{
    struct otsync_batch *b = otsync_batch_new(4);
    struct otsync_record *r;
    char why[OTSYNC_CONVERT_WHY_MAX];

    (void)state;
    assert_int_equal(otsync_batch_add(b, 1, &r, NULL), 0);
    assert_int_equal(otsync_value_set_string(b, &r->cols[0], "123456789012", 12, NULL), 0);
    assert_int_equal(b->bytes, 12);
    /* the throttle counts what the batch holds now: 8 bytes of int, not 12 of text */
    assert_int_equal(otsync_value_convert(b, &r->cols[0], OTSYNC_TYPE_INT, why), 0);
    assert_int_equal(b->bytes, 8);
    assert_int_equal(otsync_value_convert(b, &r->cols[0], OTSYNC_TYPE_STRING, why), 0);
    assert_int_equal(b->bytes, 12);
    otsync_batch_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_are_copied),
        cmocka_unit_test(test_bytes_accounting),
        cmocka_unit_test(test_many_records_keep_their_values),
        cmocka_unit_test(test_text_forms),
        cmocka_unit_test(test_copy_and_names),
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_conversion_bytes_accounting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
