/*
 * test-crc64.c - CRC-64/XZ against tests/vectors/oss/crc64ecma.json (made with the OSS C SDK and
 * cross-checked with oss2 and the Java SDK): whole input, halves, continuation and combine.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "otsync/crc64.h"

static json_t *
load_vectors(void)
{
    const char *top = getenv("top_srcdir");
    char path[4096];
    json_error_t je;
    json_t *root;

    snprintf(path, sizeof(path), "%s/tests/vectors/oss/crc64ecma.json", top ? top : ".");
    root = json_load_file(path, 0, &je);
    if (!root)
        fail_msg("%s:%d: %s", path, je.line, je.text);
    return root;
}

static uint64_t
dec(json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    char *end;
    uint64_t v;

    if (!s)
        fail_msg("vector lacks '%s'", name);
    v = strtoull(s, &end, 10);
    assert_true(*s && !*end);
    return v;
}

/* The input a vector names: hex when given, else one of the two generated patterns. */
static unsigned char *
vector_input(json_t *v, size_t len)
{
    const char *name = json_string_value(json_object_get(v, "name"));
    const char *hex = json_string_value(json_object_get(v, "input_hex"));
    unsigned char *buf = malloc(len ? len : 1);
    size_t i;

    assert_non_null(buf);
    if (hex) {
        assert_int_equal(strlen(hex), 2 * len);
        for (i = 0; i < len; i++) {
            unsigned x;
            assert_int_equal(sscanf(hex + 2 * i, "%2x", &x), 1);
            buf[i] = (unsigned char)x;
        }
    } else if (strcmp(name, "zeros-1MiB") == 0) {
        memset(buf, 0, len);
    } else if (strcmp(name, "pattern-100KiB") == 0) {
        for (i = 0; i < len; i++)
            buf[i] = (unsigned char)((7 * i + 3) % 256);
    } else {
        fail_msg("vector '%s' has no input this test knows how to make", name);
    }
    return buf;
}

static void
test_vectors(void **state)
{
    json_t *root = load_vectors(), *v;
    size_t i, n = 0;

    (void)state;
    json_array_foreach(json_object_get(root, "vectors"), i, v) {
        json_t *split = json_object_get(v, "split");
        size_t len = (size_t)json_integer_value(json_object_get(v, "length"));
        size_t len1 = (size_t)json_integer_value(json_object_get(split, "first_len"));
        size_t len2 = (size_t)json_integer_value(json_object_get(split, "second_len"));
        unsigned char *buf = vector_input(v, len);
        uint64_t want = dec(v, "crc64ecma"), c1, c2;

        print_message("vector %s (%zu bytes)\n", json_string_value(json_object_get(v, "name")),
                      len);
        assert_int_equal(len1 + len2, len);
        assert_int_equal(crc64ecma(0, buf, len), want);
        c1 = crc64ecma(0, buf, len1);
        c2 = crc64ecma(0, buf + len1, len2);
        assert_int_equal(c1, dec(split, "crc_first"));
        assert_int_equal(c2, dec(split, "crc_second"));
        assert_int_equal(crc64ecma_combine(c1, c2, len2),
                         dec(split, "combine(crc_first, crc_second, second_len)"));
        assert_int_equal(crc64ecma_combine(c1, c2, len2), want);
        assert_int_equal(crc64ecma(c1, buf + len1, len2), want);
        free(buf);
        n++;
    }
    assert_true(n >= 9);
    json_decref(root);
}

static void
test_check_value(void **state)
{
    (void)state;
    assert_int_equal(crc64ecma(0, "123456789", 9), 0x995dc9bbdf1939faull);
    assert_int_equal(crc64ecma(0, "", 0), 0);
    assert_int_equal(crc64ecma(12345, "", 0), 12345);
    assert_int_equal(crc64ecma_combine(0x995dc9bbdf1939faull, 0, 0), 0x995dc9bbdf1939faull);
}

/* Every alignment and every split point of an odd-sized buffer, byte-wise versus sliced. */
static void
test_splits(void **state)
{
    unsigned char buf[77 + 8];
    uint64_t whole, slow, c1, c2;
    size_t off, cut, i;

    (void)state;
    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    for (off = 0; off < 8; off++) {
        whole = crc64ecma(0, buf + off, 77);
        slow = 0;
        for (i = 0; i < 77; i++)
            slow = crc64ecma(slow, buf + off + i, 1);
        assert_int_equal(whole, slow);
        for (cut = 0; cut <= 77; cut++) {
            c1 = crc64ecma(0, buf + off, cut);
            c2 = crc64ecma(0, buf + off + cut, 77 - cut);
            assert_int_equal(crc64ecma_combine(c1, c2, 77 - cut), whole);
            assert_int_equal(crc64ecma(c1, buf + off + cut, 77 - cut), whole);
        }
    }
}

/* The definition, a bit at a time: the oracle for the table and the carry-less fold. */
static uint64_t
crc_bitwise(uint64_t crc, const unsigned char *p, size_t len)
{
    uint64_t c = ~crc;
    int k;

    while (len--) {
        c ^= *p++;
        for (k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xc96c5795d7870f42ull : c >> 1;
    }
    return ~c;
}

/* Lengths 0-700 at every alignment from several starting values: the table below 64 bytes,
 * the 16-byte fold (where the CPU has it) with a table tail above. */
static void
test_every_length(void **state)
{
    static unsigned char buf[700 + 16];
    static const uint64_t starts[] = {0, 1, 0x995dc9bbdf1939faull, ~0ull};
    size_t len, off, i;

    (void)state;
    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 197 + (i >> 3) * 31 + 5);
    for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        for (off = 0; off < 16; off++)
            for (len = 0; len <= 700; len += off % 2 ? 1 : 7)
                assert_int_equal(crc64ecma(starts[i], buf + off, len),
                                 crc_bitwise(starts[i], buf + off, len));
}

/* Parts of 100 KiB combined one by one, as a multipart writer does, then huge lengths. */
static void
test_combine_parts(void **state)
{
    size_t part = 100 * 1024, count = 5, i;
    unsigned char *buf = malloc(part * count);
    uint64_t acc = 0, c1 = 0x0123456789abcdefull, c2 = 0xfedcba9876543210ull, c3 = 42;
    uint64_t n2 = (uint64_t)5 << 40, n3 = ((uint64_t)1 << 33) + 3;

    (void)state;
    assert_non_null(buf);
    for (i = 0; i < part * count; i++)
        buf[i] = (unsigned char)(i ^ (i >> 9));
    for (i = 0; i < count; i++)
        acc = crc64ecma_combine(acc, crc64ecma(0, buf + i * part, part), part);
    assert_int_equal(acc, crc64ecma(0, buf, part * count));
    free(buf);
    /* lengths far beyond memory: combining is associative, (A||B)||C == A||(B||C) */
    assert_int_equal(crc64ecma_combine(crc64ecma_combine(c1, c2, n2), c3, n3),
                     crc64ecma_combine(c1, crc64ecma_combine(c2, c3, n3), n2 + n3));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_every_length),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_splits),
        cmocka_unit_test(test_combine_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
