/*
 * test-ossformat.c - the oss plugins' shared text: the object naming scheme (made and parsed
 * back, siblings refused), csv quoting per RFC 4180 and its parser (quotes, separators and
 * line ends inside values, input cut anywhere), text mode, and dates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../src/plugins/ossformat.h"

static void
test_names(void **state)
{
    char key[256], sfx[16];
    uint64_t n = 0;

    (void)state;
    ossname_suffix("csv", sfx, sizeof(sfx));
    assert_string_equal(sfx, ".csv");
    ossname_suffix(".csv.gz", sfx, sizeof(sfx));
    assert_string_equal(sfx, ".csv.gz");
    assert_int_equal(ossname_make("abc", 1, ".csv", key, sizeof(key)), 0);
    assert_string_equal(key, "abc.part-00001.csv");
    assert_int_equal(ossname_make("dir/", 123456, "", key, sizeof(key)), 0);
    assert_string_equal(key, "dir/part-123456");
    assert_int_equal(ossname_make("abc", 0, "", key, sizeof(key)), -OTSYNC_EINVAL);
    assert_true(ossname_parse("abc", ".csv", "abc.part-00007.csv", &n));
    assert_int_equal(n, 7);
    assert_true(ossname_parse("dir/", "", "dir/part-123456", &n));
    assert_int_equal(n, 123456);
    /* what merely shares the prefix is not of the scheme */
    assert_false(ossname_parse("abc", ".csv", "abc123", &n));
    assert_false(ossname_parse("abc", ".csv", "abc123.part-00001.csv", &n));
    assert_false(ossname_parse("abc", ".csv", "abc.part-00001.csv.bak", &n));
    assert_false(ossname_parse("abc", ".csv", "abc.part-0001.csv", &n));
    assert_false(ossname_parse("abc", ".csv", "abc.part-000001.csv", &n));
    assert_false(ossname_parse("abc", ".csv", "abc.part-00000.csv", &n));
    assert_false(ossname_parse("abc", ".csv", "abc.part-00001.txt", &n));
    assert_false(ossname_parse("abc", "", "abc.part-00001.csv", &n));
}

static void
test_names_roundtrip(void **state)
{
    static const uint64_t nums[] = {1, 9, 99999, 100000, 4294967296ull};
    char key[256];
    uint64_t n;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        assert_int_equal(ossname_make("x/y", nums[i], ".txt", key, sizeof(key)), 0);
        assert_true(ossname_parse("x/y", ".txt", key, &n));
        assert_int_equal(n, nums[i]);
    }
}

static const struct ossfmt_out csv_out = {true, ",", "\n", "\\N", "yyyy-MM-dd HH:mm:ss"};

static char *
format(const struct ossfmt_out *o, const char *const *s, size_t n)
{
    struct ossbuf b = {0};

    assert_int_equal(ossfmt_strings(o, s, n, &b), 0);
    return b.p;
}

static void
test_csv_quoting(void **state)
{
    static const char *const in[] = {"plain", "a,b", "say \"hi\"", "two\nlines", "", " pad",
                                     "\\N", "cr\r"};
    const struct ossfmt_out text = {false, "||", "\n", "\\N", "yyyy"};
    char *s;

    (void)state;
    s = format(&csv_out, in, 8);
    assert_string_equal(s, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"\",\" pad\",\"\\N\","
                           "\"cr\r\"\n");
    free(s);
    s = format(&text, in, 3);
    assert_string_equal(s, "plain||a,b||say \"hi\"\n");
    free(s);
}

/* Each byte that needs quotes, at every place of values 1 to 40 long (the check reads eight
 * bytes at a time, then the rest one by one), with a ';' delimiter and a "\r\n" line end;
 * and bytes next to them (a, '!', '#', 0x80, 0xff) that do not. */
static void
test_csv_quoting_every_place(void **state)
{
    const struct ossfmt_out semi = {true, ";", "\r\n", "\\N", "yyyy"};
    static const char special[] = {'"', '\r', '\n', ';'};
    static const char harmless[] = {'!', '#', ',', (char)0x80, (char)0xff};
    char v[48], *s;
    const char *in[1] = {v};
    size_t len, at, k;

    (void)state;
    for (len = 1; len <= 40; len++) {
        for (at = 0; at < len; at++) {
            for (k = 0; k < sizeof(special) + sizeof(harmless); k++) {
                bool quote = k < sizeof(special);

                memset(v, 'a', len);
                v[len] = '\0';
                v[at] = quote ? special[k] : harmless[k - sizeof(special)];
                s = format(&semi, in, 1);
                assert_int_equal(s[0] == '"', quote);
                free(s);
            }
        }
    }
}

struct got {
    char rows[16][8][32];
    int quoted[16][8];
    size_t counts[16];
    size_t n;
};

static int
on_rec(void *arg, const struct ossfmt_field *f, size_t count)
{
    struct got *g = arg;
    size_t i;

    for (i = 0; i < count && i < 8; i++) {
        snprintf(g->rows[g->n][i], 32, "%.*s", (int)f[i].len, f[i].p);
        g->quoted[g->n][i] = f[i].quoted;
    }
    g->counts[g->n++] = count;
    return 0;
}

/* Parses text cut into pieces of step bytes. */
static void
parse_in_steps(bool csv, const char *delim, const char *text, size_t step, struct got *g)
{
    struct ossfmt_parser p;
    struct otsync_err err;
    size_t at, len = strlen(text), n;

    memset(g, 0, sizeof(*g));
    assert_int_equal(ossfmt_parser_init(&p, csv, delim), 0);
    for (at = 0; at < len; at += n) {
        n = len - at < step ? len - at : step;
        assert_int_equal(ossfmt_parse(&p, text + at, n, false, on_rec, g, &err), 0);
    }
    assert_int_equal(ossfmt_parse(&p, "", 0, true, on_rec, g, &err), 0);
    ossfmt_parser_fini(&p);
}

static void
test_csv_parse(void **state)
{
    const char *text = "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"\",\\N\r\n"
                       "\n"
                       "x,,\"\"\n"
                       "last,line";
    struct got g;
    size_t step;

    (void)state;
    for (step = 1; step <= strlen(text); step++) {
        parse_in_steps(true, ",", text, step, &g);
        assert_int_equal(g.n, 3);   /* the empty line is skipped */
        assert_int_equal(g.counts[0], 6);
        assert_string_equal(g.rows[0][1], "a,b");
        assert_string_equal(g.rows[0][2], "say \"hi\"");
        assert_string_equal(g.rows[0][3], "two\nlines");
        assert_string_equal(g.rows[0][4], "");
        assert_true(g.quoted[0][4]);
        assert_string_equal(g.rows[0][5], "\\N");     /* the CR of CRLF is not part of it */
        assert_false(g.quoted[0][5]);
        assert_int_equal(g.counts[1], 3);
        assert_false(g.quoted[1][1]);
        assert_true(g.quoted[1][2]);
        assert_int_equal(g.counts[2], 2);
        assert_string_equal(g.rows[2][1], "line");
    }
}

static void
test_text_parse(void **state)
{
    struct got g;
    size_t step;

    (void)state;
    for (step = 1; step < 8; step++) {
        parse_in_steps(false, "||", "a||\"b\"||c|d\r\ne||||\n", step, &g);
        assert_int_equal(g.n, 2);
        assert_int_equal(g.counts[0], 3);
        assert_string_equal(g.rows[0][1], "\"b\"");
        assert_string_equal(g.rows[0][2], "c|d");
        assert_int_equal(g.counts[1], 3);
        assert_string_equal(g.rows[1][2], "");
    }
}

static void
test_unclosed_quote(void **state)
{
    struct ossfmt_parser p;
    struct otsync_err err;
    struct got g;

    (void)state;
    memset(&g, 0, sizeof(g));
    assert_int_equal(ossfmt_parser_init(&p, true, ","), 0);
    assert_int_equal(ossfmt_parse(&p, "a,\"b\n", 5, true, on_rec, &g, &err), -OTSYNC_EPROTO);
    assert_non_null(strstr(err.msg, "never closed"));
    ossfmt_parser_fini(&p);
}

static void
test_dates(void **state)
{
    char buf[64], msg[256];
    int64_t ms = 0;

    (void)state;
    setenv("TZ", "Asia/Shanghai", 1);
    assert_int_equal(ossdate_parse("2018-10-15 08:05:01.250", 23, "yyyy-MM-dd HH:mm:ss.SSS", &ms),
                     0);
    assert_int_equal(ms, 1539561901250);
    assert_int_equal(ossdate_format(ms, "yyyyMMdd/HHmmss.SSS", buf, sizeof(buf)), 19);
    assert_string_equal(buf, "20181015/080501.250");
    assert_int_equal(ossdate_parse("2018-02-30", 10, "yyyy-MM-dd", &ms), -1);
    assert_int_equal(ossdate_parse("2018-10-15x", 11, "yyyy-MM-dd", &ms), -1);
    assert_int_equal(ossdate_check("yyyy-MM-dd hh", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "'hh'"));
    assert_int_equal(ossdate_check("yyyy/MM/dd HH:mm:ss.SSS", msg, sizeof(msg)), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_names_roundtrip),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_quoting_every_place),
        cmocka_unit_test(test_csv_parse),
        cmocka_unit_test(test_text_parse),
        cmocka_unit_test(test_unclosed_quote),
        cmocka_unit_test(test_dates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
