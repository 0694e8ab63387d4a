/*
 * test-tunnel.c - the tunnel record stream against the SDK-made vectors in
 * tests/vectors/maxcompute (copies of shared/protocols/vectors/maxcompute): exact block bytes
 * and record boundaries, values decoded back, the Java cross-check, the PUT body of the upload
 * transcript, CRC-32C feeds, deflate both ways; and hostile blocks (bad CRC, wrong count,
 * truncation at every length, huge lengths, every single-bit flip) fail with an offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "otsync/crc.h"
#include "otsync/tunnel.h"

#define MAXCOLS 16

static json_t *
load(const char *name)
{
    const char *top = getenv("top_srcdir");
    char path[1024];
    json_error_t jerr;
    json_t *j;

    snprintf(path, sizeof(path), "%s/tests/vectors/maxcompute/%s", top ? top : ".", name);
    j = json_load_file(path, 0, &jerr);
    if (!j)
        print_error("%s:%d: %s\n", path, jerr.line, jerr.text);
    assert_non_null(j);
    return j;
}

/* Hex to bytes; returns new memory (free it). */
static unsigned char *
unhex(const char *hex, size_t *ret_len)
{
    size_t n = strlen(hex) / 2, i;
    unsigned char *out = malloc(n + 1);
    unsigned v;

    assert_non_null(out);
    for (i = 0; i < n; i++) {
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    *ret_len = n;
    return out;
}

static char *
tohex(const unsigned char *p, size_t len)
{
    char *out = malloc(2 * len + 1);
    size_t i;

    assert_non_null(out);
    for (i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * len] = '\0';
    return out;
}

struct fixture {
    struct tunnel_column cols[MAXCOLS];
    char names[MAXCOLS][64];    /* copies: the JSON may go first */
    struct tunnel_schema schema;
    unsigned char *bytes[64];   /* bytes_hex values, freed at the end */
    size_t nbytes;
};

static void
schema_from_json(struct fixture *f, json_t *columns)
{
    struct otsync_err err;
    size_t i;
    json_t *c;

    memset(f, 0, sizeof(*f));
    assert_true(json_array_size(columns) <= MAXCOLS);
    json_array_foreach(columns, i, c) {
        snprintf(f->names[i], sizeof(f->names[i]), "%s",
                 json_string_value(json_object_get(c, "name")));
        f->cols[i].name = f->names[i];
        assert_int_equal(tunnel_type_parse(json_string_value(json_object_get(c, "type")),
                                           &f->cols[i].type, &err), 0);
    }
    f->schema.columns = f->cols;
    f->schema.count = json_array_size(columns);
}

static void
fixture_free(struct fixture *f)
{
    size_t i;

    for (i = 0; i < f->nbytes; i++)
        free(f->bytes[i]);
}

/* A vector's JSON record as tunnel values, by the column's kind. */
static void
values_from_json(struct fixture *f, json_t *rec, struct tunnel_value *v)
{
    json_t *x, *o;
    size_t i;

    memset(v, 0, MAXCOLS * sizeof(*v));
    json_array_foreach(rec, i, x) {
        if (json_is_null(x))
            continue;
        v[i].kind = tunnel_type_kind(f->cols[i].type);
        switch (v[i].kind) {
        case TUNNEL_VAL_INT:
            if ((o = json_object_get(x, "epoch_millis")) || (o = json_object_get(x, "epoch_days")))
                x = o;
            assert_true(json_is_integer(x));
            v[i].u.i = json_integer_value(x);
            break;
        case TUNNEL_VAL_DOUBLE:
            v[i].u.d = json_number_value(x);
            break;
        case TUNNEL_VAL_FLOAT:
            v[i].u.f = (float)json_number_value(x);
            break;
        case TUNNEL_VAL_BOOL:
            v[i].u.b = json_is_true(x);
            break;
        case TUNNEL_VAL_BYTES:
            if ((o = json_object_get(x, "bytes_hex"))) {
                assert_true(f->nbytes < 64);
                f->bytes[f->nbytes] = unhex(json_string_value(o), &v[i].u.s.len);
                v[i].u.s.ptr = (const char *)f->bytes[f->nbytes++];
                break;
            }
            if ((o = json_object_get(x, "decimal")))
                x = o;
            v[i].u.s.ptr = json_string_value(x);
            v[i].u.s.len = json_string_length(x);
            break;
        default:
            fail_msg("column %zu: no vector value kind %d", i, (int)v[i].kind);
        }
    }
}

static void
assert_value_equal(const struct tunnel_value *want, const struct tunnel_value *got, size_t col)
{
    if (want->kind != got->kind)
        fail_msg("column %zu: kind %d, want %d", col, (int)got->kind, (int)want->kind);
    switch (want->kind) {
    case TUNNEL_VAL_NULL:
        break;
    case TUNNEL_VAL_INT:
        assert_int_equal(got->u.i, want->u.i);
        break;
    case TUNNEL_VAL_DOUBLE:
        assert_true(memcmp(&got->u.d, &want->u.d, sizeof(double)) == 0);
        break;
    case TUNNEL_VAL_FLOAT:
        assert_true(memcmp(&got->u.f, &want->u.f, sizeof(float)) == 0);
        break;
    case TUNNEL_VAL_BOOL:
        assert_int_equal(got->u.b, want->u.b);
        break;
    case TUNNEL_VAL_BYTES:
        assert_int_equal(got->u.s.len, want->u.s.len);
        assert_memory_equal(got->u.s.ptr, want->u.s.ptr, want->u.s.len);
        break;
    case TUNNEL_VAL_TIME:
        assert_int_equal(got->u.t.sec, want->u.t.sec);
        assert_int_equal(got->u.t.nanos, want->u.t.nanos);
        break;
    }
}

/*
 * Encodes a block vector's records, checks the bytes and each record's byte range, then
 * decodes the expected bytes and checks every value. Returns the expected bytes (free them).
 */
static unsigned char *
check_block_vector(json_t *vec, struct fixture *f, size_t *ret_len)
{
    json_t *expected = json_object_get(vec, "expected"), *rec, *ranges, *range;
    struct tunnel_value want[MAXCOLS], got[MAXCOLS];
    struct tunnel_writer w;
    struct tunnel_reader r;
    struct otsync_err err;
    const unsigned char *data;
    unsigned char *block;
    size_t len, block_len, i, col;
    char *hex;
    int rc;

    schema_from_json(f, json_object_get(json_object_get(vec, "schema"), "columns"));
    block = unhex(json_string_value(json_object_get(expected, "block_hex")), &block_len);
    assert_int_equal(block_len, json_integer_value(json_object_get(expected, "block_length")));
    ranges = json_object_get(expected, "record_byte_ranges");

    assert_int_equal(tunnel_writer_init(&w, &f->schema, 0, &err), 0);
    json_array_foreach(json_object_get(vec, "records"), i, rec) {
        values_from_json(f, rec, want);
        if ((rc = tunnel_writer_append(&w, want, f->schema.count, &err)) != 0)
            fail_msg("record %zu: %d %s", i, rc, err.msg);
        range = json_array_get(ranges, i);
        tunnel_writer_data(&w, &len);
        assert_int_equal(len, json_integer_value(json_array_get(range, 1)));
    }
    assert_int_equal(tunnel_writer_finish(&w, &err), 0);
    data = tunnel_writer_data(&w, &len);
    hex = tohex(data, len);
    assert_string_equal(hex, json_string_value(json_object_get(expected, "block_hex")));
    free(hex);
    assert_int_equal(tunnel_writer_count(&w), json_array_size(json_object_get(vec, "records")));
    tunnel_writer_fini(&w);

    assert_int_equal(tunnel_reader_init(&r, &f->schema, block, block_len, &err), 0);
    json_array_foreach(json_object_get(vec, "records"), i, rec) {
        if ((rc = tunnel_reader_next(&r, got, &err)) != 1)
            fail_msg("record %zu: %d %s", i, rc, err.msg);
        values_from_json(f, rec, want);
        for (col = 0; col < f->schema.count; col++)
            assert_value_equal(&want[col], &got[col], col);
    }
    if ((rc = tunnel_reader_next(&r, got, &err)) != 0)
        fail_msg("trailer: %d %s", rc, err.msg);
    assert_int_equal(tunnel_reader_next(&r, got, &err), 0);
    *ret_len = block_len;
    return block;
}

static void
test_block_basic(void **state)
{
    json_t *vec = load("block_basic_3rows.json");
    struct fixture f;
    unsigned char *block;
    size_t len;

    (void)state;
    block = check_block_vector(vec, &f, &len);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(json_object_get(vec,
                     "expected"), "trailer_byte_range"), 0)), 86);
    free(block);
    fixture_free(&f);
    json_decref(vec);
}

static void
test_block_empty(void **state)
{
    json_t *vec = load("block_empty.json");
    struct fixture f;
    unsigned char *block;
    uint64_t count = 99;
    struct otsync_err err;
    size_t len;

    (void)state;
    block = check_block_vector(vec, &f, &len);
    assert_int_equal(len, 10);
    assert_int_equal(tunnel_decode(&f.schema, block, len, NULL, NULL, &count, &err), 0);
    assert_int_equal(count, 0);
    free(block);
    fixture_free(&f);
    json_decref(vec);
}

static void
test_block_extended(void **state)
{
    json_t *vec = load("block_extended_types.json");
    struct fixture f;
    unsigned char *block;
    size_t len;

    (void)state;
    block = check_block_vector(vec, &f, &len);
    assert_int_equal(f.cols[4].type, TUNNEL_TYPE_DECIMAL);
    assert_int_equal(f.cols[6].type, TUNNEL_TYPE_VARCHAR);
    assert_int_equal(f.cols[7].type, TUNNEL_TYPE_CHAR);
    free(block);
    fixture_free(&f);
    json_decref(vec);
}

/* The SDK Checksum helper's feeds: little-endian ints, 1-byte bools, raw bytes (doc 6.5). */
static void
test_checksum_vectors(void **state)
{
    json_t *vec = load("checksum_vectors.json"), *c;
    unsigned char b[8];
    double d = 1.5;
    uint64_t bits;
    size_t i, k;
    uint32_t crc;
    const char *call;

    (void)state;
    json_array_foreach(json_object_get(vec, "cases"), i, c) {
        call = json_string_value(json_object_get(c, "call"));
        if (!strcmp(call, "update_int(1)")) {
            memcpy(b, "\1\0\0\0", 4);
            crc = crc32c(0, b, 4);
        } else if (!strcmp(call, "update_long(1)")) {
            memcpy(b, "\1\0\0\0\0\0\0\0", 8);
            crc = crc32c(0, b, 8);
        } else if (!strcmp(call, "update_double(1.5)")) {
            memcpy(&bits, &d, 8);
            for (k = 0; k < 8; k++)
                b[k] = (unsigned char)(bits >> (8 * k));
            crc = crc32c(0, b, 8);
        } else if (!strcmp(call, "update_bool(True)")) {
            crc = crc32c(0, "\1", 1);
        } else if (!strcmp(call, "update(b'hello')")) {
            crc = crc32c(0, "hello", 5);
        } else if (!strcmp(call, "update(b'123456789')")) {
            crc = crc32c(0, "123456789", 9);
        } else {
            fail_msg("unknown checksum case %s", call);
        }
        assert_int_equal(crc, json_integer_value(json_object_get(c, "crc32c")));
    }
    json_decref(vec);
}

/* Encodes the basic vector's records into a fresh block (new memory, free it). */
static unsigned char *
encode_basic(struct fixture *f, size_t *ret_len)
{
    json_t *vec = load("block_basic_3rows.json"), *rec;
    struct tunnel_value v[MAXCOLS];
    struct tunnel_writer w;
    struct otsync_err err;
    const unsigned char *data;
    unsigned char *out;
    size_t i;

    schema_from_json(f, json_object_get(json_object_get(vec, "schema"), "columns"));
    assert_int_equal(tunnel_writer_init(&w, &f->schema, 0, &err), 0);
    json_array_foreach(json_object_get(vec, "records"), i, rec) {
        values_from_json(f, rec, v);
        assert_int_equal(tunnel_writer_append(&w, v, f->schema.count, &err), 0);
    }
    assert_int_equal(tunnel_writer_finish(&w, &err), 0);
    data = tunnel_writer_data(&w, ret_len);
    out = malloc(*ret_len);
    assert_non_null(out);
    memcpy(out, data, *ret_len);
    tunnel_writer_fini(&w);
    json_decref(vec);
    return out;
}

/* The Java SDK (0.52.3 and DataX's 0.38.4) wrote the same bytes; so must we. */
static void
test_java_crosscheck(void **state)
{
    json_t *vec = load("java_sdk_crosscheck.json"), *res, *lists[2];
    json_t *ext = load("block_extended_types.json"), *empty = load("block_empty.json");
    struct fixture f;
    unsigned char *ours, *inflated;
    size_t len, ilen, i, l, seen = 0;
    struct otsync_err err;
    const char *name, *hex;
    char *ourhex;

    (void)state;
    ours = encode_basic(&f, &len);
    ourhex = tohex(ours, len);
    lists[0] = json_object_get(vec, "results");
    lists[1] = json_object_get(json_object_get(vec, "older_sdk_as_bundled_by_datax"), "results");
    for (l = 0; l < 2; l++) {
        json_array_foreach(lists[l], i, res) {
            if (strcmp(json_string_value(json_object_get(res, "kind")), "block") != 0)
                continue;
            name = json_string_value(json_object_get(res, "name"));
            hex = json_string_value(json_object_get(res, "hex"));
            seen++;
            if (!strcmp(name, "basic_stream_writer") || !strcmp(name, "basic_record_pack")) {
                assert_string_equal(ourhex, hex);
            } else if (!strcmp(name, "extended_stream_writer")) {
                assert_string_equal(hex, json_string_value(json_object_get(json_object_get(ext,
                                    "expected"), "block_hex")));
            } else if (!strcmp(name, "empty_stream_writer")) {
                assert_string_equal(hex, json_string_value(json_object_get(json_object_get(
                                    empty, "expected"), "block_hex")));
            } else if (!strcmp(name, "basic_deflate_default_option")) {
                unsigned char *z = unhex(hex, &ilen);

                assert_int_equal(tunnel_inflate(z, ilen, 0, &inflated, &ilen, &err), 0);
                assert_int_equal(ilen, len);
                assert_memory_equal(inflated, ours, len);
                free(inflated);
                free(z);
            } else {
                fail_msg("unknown java block %s", name);
            }
        }
    }
    assert_int_equal(seen, 8);
    free(ourhex);
    free(ours);
    fixture_free(&f);
    json_decref(vec);
    json_decref(ext);
    json_decref(empty);
}

/* The block PyODPS PUT in the upload flow, decoded with the schema the session returned. */
static void
test_upload_transcript_body(void **state)
{
    json_t *vec = load("upload_flow_transcript.json"), *req, *session = NULL, *cols;
    struct tunnel_column tcols[MAXCOLS];
    struct tunnel_schema schema = { tcols, 0, 0 };
    struct fixture f;
    unsigned char *ours, *body;
    size_t len, blen, i, k, puts = 0;
    struct otsync_err err;
    uint64_t count;
    json_error_t jerr;
    json_t *c;

    (void)state;
    ours = encode_basic(&f, &len);
    json_array_foreach(json_object_get(vec, "requests"), i, req) {
        const char *method = json_string_value(json_object_get(req, "method"));
        const char *q = json_string_value(json_object_get(req, "query"));

        if (!strcmp(method, "POST") && strstr(q, "uploads=")) {
            session = json_loads(json_string_value(json_object_get(json_object_get(req,
                                 "stand_in_response"), "body")), 0, &jerr);
            assert_non_null(session);
        }
        if (strcmp(method, "PUT") != 0)
            continue;
        puts++;
        assert_non_null(session);
        cols = json_object_get(json_object_get(session, "Schema"), "columns");
        assert_true(json_array_size(cols) <= MAXCOLS);
        json_array_foreach(cols, k, c) {
            tcols[k].name = json_string_value(json_object_get(c, "name"));
            assert_int_equal(tunnel_type_parse(json_string_value(json_object_get(c, "type")),
                                               &tcols[k].type, &err), 0);
        }
        schema.count = json_array_size(cols);
        schema.max_field_len = (size_t)json_integer_value(json_object_get(session,
                                                                          "MaxFieldSize"));
        body = unhex(json_string_value(json_object_get(req, "body_hex")), &blen);
        assert_int_equal(blen, json_integer_value(json_object_get(req, "body_len")));
        assert_int_equal(blen, len);
        assert_memory_equal(body, ours, len);
        assert_int_equal(tunnel_decode(&schema, body, blen, NULL, NULL, &count, &err), 0);
        assert_int_equal(count, 3);
        free(body);
    }
    assert_int_equal(puts, 1);
    json_decref(session);
    free(ours);
    fixture_free(&f);
    json_decref(vec);
}

static void
test_deflate(void **state)
{
    json_t *vec = load("block_basic_3rows.json");
    struct fixture f;
    unsigned char *raw, *z, *back, *vz;
    size_t len, zlen, blen, vzlen;
    struct otsync_err err;

    (void)state;
    raw = encode_basic(&f, &len);
    vz = unhex(json_string_value(json_object_get(json_object_get(vec, "deflate_variant"),
                                                 "block_hex")), &vzlen);
    /* the vector's zlib stream inflates to the raw block */
    assert_int_equal(tunnel_inflate(vz, vzlen, 0, &back, &blen, &err), 0);
    assert_int_equal(blen, len);
    assert_memory_equal(back, raw, len);
    free(back);
    /* ours is a zlib stream at level 1 and comes back whole */
    assert_int_equal(tunnel_deflate(raw, len, 1, &z, &zlen, &err), 0);
    assert_true(zlen > 2 && z[0] == 0x78 && z[1] == 0x01);
    assert_int_equal(tunnel_inflate(z, zlen, 0, &back, &blen, &err), 0);
    assert_int_equal(blen, len);
    assert_memory_equal(back, raw, len);
    free(back);
    /* not the contract (zlib builds may differ), but Debian 12's zlib matches the SDKs */
    if (zlen != vzlen || memcmp(z, vz, zlen) != 0)
        print_message("note: deflate bytes differ from the vector's (zlib build)\n");

    /* hostile streams: truncated, garbage, trailing bytes, over the cap */
    assert_int_equal(tunnel_inflate(z, zlen - 1, 0, &back, &blen, &err), -OTSYNC_EPROTO);
    assert_int_equal(tunnel_inflate(raw, len, 0, &back, &blen, &err), -OTSYNC_EPROTO);
    assert_non_null(strstr(err.msg, "offset"));
    free(z);
    z = malloc(vzlen + 1);
    assert_non_null(z);
    memcpy(z, vz, vzlen);
    z[vzlen] = 0;
    assert_int_equal(tunnel_inflate(z, vzlen + 1, 0, &back, &blen, &err), -OTSYNC_EPROTO);
    assert_non_null(strstr(err.msg, "after the stream"));
    assert_int_equal(tunnel_inflate(vz, vzlen, 99, &back, &blen, &err), -OTSYNC_EPROTO);
    assert_int_equal(tunnel_inflate(vz, vzlen, 100, &back, &blen, &err), 0);
    free(back);
    assert_int_equal(tunnel_inflate(vz, 0, 0, &back, &blen, &err), -OTSYNC_EPROTO);
    free(z);

    /* a bomb: 64 MiB of zeros squeezes to ~64 KiB and must stop at the cap */
    {
        size_t big = 64u << 20;
        unsigned char *zeros = calloc(1, big);

        assert_non_null(zeros);
        assert_int_equal(tunnel_deflate(zeros, big, 9, &z, &zlen, &err), 0);
        free(zeros);
        assert_int_equal(tunnel_inflate(z, zlen, 1u << 20, &back, &blen, &err), -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "inflates past"));
        free(z);
    }
    free(vz);
    free(raw);
    fixture_free(&f);
    json_decref(vec);
}

static int
decode_rc(const struct tunnel_schema *s, const unsigned char *p, size_t len,
          struct otsync_err *err)
{
    uint64_t count;

    otsync_err_clear(err);
    return tunnel_decode(s, p, len, NULL, NULL, &count, err);
}

static void
test_malformed(void **state)
{
    struct fixture f;
    unsigned char *raw, *bad;
    size_t len, i, bit, accepted = 0;
    struct otsync_err err;
    int rc;

    (void)state;
    raw = encode_basic(&f, &len);
    bad = malloc(len + 32);
    assert_non_null(bad);
    assert_int_equal(decode_rc(&f.schema, raw, len, &err), 0);

    /* bad record CRC: record 0's CRC varint starts at 31 (after 80 C0 FF 7F at 27) */
    memcpy(bad, raw, len);
    bad[31] ^= 0x01;
    assert_int_equal(decode_rc(&f.schema, bad, len, &err), -OTSYNC_ECORRUPT);
    assert_non_null(strstr(err.msg, "offset 31"));

    /* wrong count: META_COUNT's zigzag 3 (06) at 90 becomes 2 (04) */
    memcpy(bad, raw, len);
    assert_int_equal(bad[90], 0x06);
    bad[90] = 0x04;
    assert_int_equal(decode_rc(&f.schema, bad, len, &err), -OTSYNC_ECORRUPT);
    assert_non_null(strstr(err.msg, "offset 86"));
    assert_non_null(strstr(err.msg, "counts 2"));

    /* wrong stream checksum */
    memcpy(bad, raw, len);
    bad[95] ^= 0x02;
    assert_int_equal(decode_rc(&f.schema, bad, len, &err), -OTSYNC_ECORRUPT);
    assert_non_null(strstr(err.msg, "stream checksum"));

    /* truncation at every length, and trailing bytes */
    for (i = 0; i < len; i++) {
        rc = decode_rc(&f.schema, raw, i, &err);
        if (rc >= 0)
            fail_msg("prefix of %zu bytes accepted", i);
        assert_non_null(strstr(err.msg, "offset"));
    }
    memcpy(bad, raw, len);
    bad[len] = 0;
    assert_int_equal(decode_rc(&f.schema, bad, len + 1, &err), -OTSYNC_EPROTO);
    assert_non_null(strstr(err.msg, "offset 100"));

    /* huge string length: f4 tag then a 10-byte varint near 2^64 */
    {
        static const unsigned char huge[] = { 0x22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                              0xff, 0xff, 0x01, 'x' };
        static const unsigned char overlong[] = { 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                                  0x80, 0x80, 0x80, 0x80, 0x01 };
        static const unsigned char len5[] = { 0x22, 0x05, 'a', 'b' };

        assert_int_equal(decode_rc(&f.schema, huge, sizeof(huge), &err), -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "offset 1"));
        assert_int_equal(decode_rc(&f.schema, overlong, sizeof(overlong), &err),
                         -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "overlong"));
        assert_int_equal(decode_rc(&f.schema, len5, sizeof(len5), &err), -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "length 5 but 2 bytes left"));
    }

    /* structure: unknown field, wrong wire type, repeated field, trailer mid-record */
    {
        static const unsigned char unknown[] = { 0x30, 0x02 };  /* field 6 of 5 */
        static const unsigned char wire[] = { 0x09, 0x02 };     /* f1 as fixed64 */
        static const unsigned char repeat[] = { 0x08, 0x02, 0x08, 0x02 };
        static const unsigned char midrec[] = { 0x08, 0x02, 0xf0, 0xff, 0xff, 0x7f, 0x00 };
        static const unsigned char boolean[] = { 0x18, 0x02 };
        static const unsigned char field0[] = { 0x00, 0x00 };
        static const unsigned char download[] = { 0x80, 0xf0, 0xff, 0x7f, 0x00 };

        assert_int_equal(decode_rc(&f.schema, unknown, 2, &err), -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "unknown field 6"));
        assert_int_equal(decode_rc(&f.schema, wire, 2, &err), -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "wire type 1"));
        assert_int_equal(decode_rc(&f.schema, repeat, 4, &err), -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "offset 2"));
        assert_int_equal(decode_rc(&f.schema, midrec, 7, &err), -OTSYNC_EPROTO);
        assert_int_equal(decode_rc(&f.schema, boolean, 2, &err), -OTSYNC_EPROTO);
        assert_int_equal(decode_rc(&f.schema, field0, 2, &err), -OTSYNC_EPROTO);
        assert_int_equal(decode_rc(&f.schema, download, 5, &err), -OTSYNC_EPROTO);
        assert_int_equal(decode_rc(&f.schema, NULL, 0, &err), -OTSYNC_EPROTO);
    }

    /* every single-bit flip is caught: CRCs cover the values, structure the rest */
    for (i = 0; i < len; i++) {
        for (bit = 0; bit < 8; bit++) {
            memcpy(bad, raw, len);
            bad[i] ^= (unsigned char)(1u << bit);
            if (decode_rc(&f.schema, bad, len, &err) >= 0) {
                print_message("flip of byte %zu bit %zu accepted\n", i, bit);
                accepted++;
            }
        }
    }
    assert_int_equal(accepted, 0);

    /* a reader that failed keeps failing */
    {
        struct tunnel_value v[MAXCOLS];
        struct tunnel_reader r;

        assert_int_equal(tunnel_reader_init(&r, &f.schema, raw, 20, &err), 0);
        assert_int_equal(tunnel_reader_next(&r, v, &err), -OTSYNC_EPROTO);
        assert_int_equal(tunnel_reader_next(&r, v, &err), -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "after an error"));
    }
    free(bad);
    free(raw);
    fixture_free(&f);
}

/* Deterministic pseudo-random garbage never crashes the decoder (a smoke fuzz). */
static void
test_garbage(void **state)
{
    struct fixture f;
    unsigned char *raw, buf[256];
    uint32_t x = 2463534242u;
    size_t len, n, i, round;
    struct otsync_err err;

    (void)state;
    raw = encode_basic(&f, &len);
    for (round = 0; round < 20000; round++) {
        n = round % sizeof(buf);
        for (i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = (unsigned char)x;
        }
        /* half the rounds splice garbage into a good block */
        if (round & 1 && n > 0) {
            memcpy(buf, raw, len < n ? len : n);
            buf[x % n] = (unsigned char)(x >> 8);
        }
        (void)decode_rc(&f.schema, buf, n, &err);
    }
    free(raw);
    fixture_free(&f);
}

static void
test_encoder_errors(void **state)
{
    struct tunnel_column cols[] = {
        { "t", TUNNEL_TYPE_TINYINT }, { "b", TUNNEL_TYPE_BIGINT }, { "d", TUNNEL_TYPE_DECIMAL },
        { "s", TUNNEL_TYPE_STRING },
    };
    struct tunnel_schema s = { cols, 4, 8 };
    struct tunnel_value v[5];
    struct tunnel_writer w;
    struct otsync_err err;
    size_t len, before;
    enum tunnel_type t;

    (void)state;
    memset(v, 0, sizeof(v));
    assert_int_equal(tunnel_writer_init(&w, &s, 0, &err), 0);
    assert_int_equal(tunnel_writer_append(&w, v, 5, &err), -OTSYNC_EINVAL);
    v[0].kind = TUNNEL_VAL_INT;
    v[0].u.i = 1;
    assert_int_equal(tunnel_writer_append(&w, v, 4, &err), 0);
    tunnel_writer_data(&w, &before);
    /* each failure leaves the block as it was */
    v[0].u.i = 128;
    assert_int_equal(tunnel_writer_append(&w, v, 4, &err), -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "out of range for tinyint"));
    v[0].u.i = -128;
    v[1].kind = TUNNEL_VAL_INT;
    v[1].u.i = INT64_MIN;
    assert_int_equal(tunnel_writer_append(&w, v, 4, &err), -OTSYNC_EINVAL);
    v[1].u.i = INT64_MIN + 1;
    v[2].kind = TUNNEL_VAL_BYTES;
    v[2].u.s.ptr = "1E+2";
    v[2].u.s.len = 4;
    assert_int_equal(tunnel_writer_append(&w, v, 4, &err), -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "plain decimal"));
    v[2].u.s.ptr = "-0.5";
    v[3].kind = TUNNEL_VAL_DOUBLE;
    assert_int_equal(tunnel_writer_append(&w, v, 4, &err), -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "given a double"));
    v[3].kind = TUNNEL_VAL_BYTES;
    v[3].u.s.ptr = "123456789";
    v[3].u.s.len = 9;
    assert_int_equal(tunnel_writer_append(&w, v, 4, &err), -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "more than the session's 8"));
    tunnel_writer_data(&w, &len);
    assert_int_equal(len, before);
    assert_int_equal(tunnel_writer_count(&w), 1);
    v[3].u.s.len = 8;
    assert_int_equal(tunnel_writer_append(&w, v, 4, &err), 0);
    assert_int_equal(tunnel_writer_finish(&w, &err), 0);
    assert_int_equal(tunnel_writer_append(&w, v, 4, &err), -OTSYNC_EINVAL);
    assert_int_equal(tunnel_writer_finish(&w, &err), -OTSYNC_EINVAL);
    {
        const unsigned char *p = tunnel_writer_data(&w, &len);
        uint64_t count;

        assert_int_equal(tunnel_decode(&s, p, len, NULL, NULL, &count, &err), 0);
        assert_int_equal(count, 2);
    }
    /* reset starts a new block in the same memory */
    tunnel_writer_reset(&w);
    assert_int_equal(tunnel_writer_finish(&w, &err), 0);
    {
        const unsigned char *p = tunnel_writer_data(&w, &len);

        assert_int_equal(len, 10);
        assert_memory_equal(p, "\xf0\xff\xff\x7f\x00\xf8\xff\xff\x7f\x00", 10);
    }
    tunnel_writer_fini(&w);

    /* the cap: a full block refuses the record whole, and the trailer still fits */
    assert_int_equal(tunnel_writer_init(&w, &s, 64, &err), 0);
    memset(v, 0, sizeof(v));
    v[1].kind = TUNNEL_VAL_INT;
    v[1].u.i = 7;
    while (tunnel_writer_append(&w, v, 2, &err) == 0)
        ;
    assert_non_null(strstr(err.msg, "cap of 64"));
    assert_int_equal(tunnel_writer_finish(&w, &err), 0);
    tunnel_writer_data(&w, &len);
    assert_true(len <= 64);
    {
        uint64_t count;
        const unsigned char *p = tunnel_writer_data(&w, &len);

        assert_int_equal(tunnel_decode(&s, p, len, NULL, NULL, &count, &err), 0);
        assert_int_equal(count, tunnel_writer_count(&w));
    }
    tunnel_writer_fini(&w);

    /* type names */
    assert_int_equal(tunnel_type_parse("BIGINT", &t, &err), 0);
    assert_int_equal(t, TUNNEL_TYPE_BIGINT);
    assert_int_equal(tunnel_type_parse("decimal(38, 18)", &t, &err), 0);
    assert_int_equal(t, TUNNEL_TYPE_DECIMAL);
    assert_int_equal(tunnel_type_parse("timestamp_ntz", &t, &err), 0);
    assert_int_equal(t, TUNNEL_TYPE_TIMESTAMP_NTZ);
    assert_int_equal(tunnel_type_parse("interval_day_time", &t, &err), 0);
    assert_int_equal(t, TUNNEL_TYPE_INTERVAL_DAY_TIME);
    assert_int_equal(tunnel_type_parse("array<bigint>", &t, &err), -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "not supported"));
    assert_int_equal(tunnel_type_parse("varchar(1,2)", &t, &err), -OTSYNC_EINVAL);
    assert_int_equal(tunnel_type_parse("integer", &t, &err), -OTSYNC_EINVAL);
    assert_int_equal(tunnel_type_parse("decimal(10,2)x", &t, &err), -OTSYNC_EINVAL);
    assert_string_equal(tunnel_type_name(TUNNEL_TYPE_INTERVAL_YEAR_MONTH), "interval_year_month");
}

static int
collect(void *arg, uint64_t index, const struct tunnel_value *values, size_t count)
{
    struct tunnel_value *out = arg;

    if (index == 1)
        memcpy(out, values, count * sizeof(*values));
    return 0;
}

static int
stop(void *arg, uint64_t index, const struct tunnel_value *values, size_t count)
{
    (void)arg;
    (void)values;
    (void)count;
    return index == 0 ? -OTSYNC_ECANCELED : 0;
}

/* Types without vectors: the layout and CRC feed of doc 6.3 by hand, then a round trip. */
static void
test_unvectored_types(void **state)
{
    struct tunnel_column cols[] = {
        { "ts", TUNNEL_TYPE_TIMESTAMP }, { "iym", TUNNEL_TYPE_INTERVAL_YEAR_MONTH },
        { "j", TUNNEL_TYPE_JSON }, { "ntz", TUNNEL_TYPE_TIMESTAMP_NTZ },
        { "dec", TUNNEL_TYPE_DECIMAL },
    };
    struct tunnel_schema s = { cols, 5, 0 };
    struct tunnel_value v[5], got[5];
    struct tunnel_writer w;
    struct otsync_err err;
    const unsigned char *p;
    unsigned char feed[8];
    uint32_t crc, written = 0;
    size_t len, i;

    (void)state;
    memset(v, 0, sizeof(v));
    v[0].kind = TUNNEL_VAL_TIME;
    v[0].u.t.sec = -1;
    v[0].u.t.nanos = 5;
    assert_int_equal(tunnel_writer_init(&w, &s, 0, &err), 0);
    assert_int_equal(tunnel_writer_append(&w, v, 1, &err), 0);
    p = tunnel_writer_data(&w, &len);
    /* f1 wire type 2, zigzag(-1) = 1, zigzag32(5) = 10, no length prefix; then END_RECORD */
    assert_memory_equal(p, "\x0a\x01\x0a\x80\xc0\xff\x7f", 7);
    /* its CRC: field 1 as int32 LE, seconds as int64 LE, nanos as int32 LE */
    crc = crc32c(0, "\1\0\0\0", 4);
    memset(feed, 0xff, 8);
    crc = crc32c(crc, feed, 8);
    crc = crc32c(crc, "\5\0\0\0", 4);
    for (i = 7; i < len; i++)
        written |= (uint32_t)(p[i] & 0x7f) << (7 * (i - 7));
    assert_int_equal(written, crc);

    v[1].kind = TUNNEL_VAL_INT;
    v[1].u.i = -13;
    v[2].kind = TUNNEL_VAL_BYTES;
    v[2].u.s.ptr = "{\"a\":1}";
    v[2].u.s.len = 7;
    v[3].kind = TUNNEL_VAL_TIME;
    v[3].u.t.sec = 1704067200;
    v[3].u.t.nanos = INT32_MIN;
    v[4].kind = TUNNEL_VAL_BYTES;
    v[4].u.s.ptr = "0.0000001";
    v[4].u.s.len = 9;
    assert_int_equal(tunnel_writer_append(&w, v, 5, &err), 0);
    assert_int_equal(tunnel_writer_finish(&w, &err), 0);
    p = tunnel_writer_data(&w, &len);
    memset(got, 0xa5, sizeof(got));
    assert_int_equal(tunnel_decode(&s, p, len, collect, got, NULL, &err), 0);
    for (i = 0; i < 5; i++)
        assert_value_equal(&v[i], &got[i], i);
    assert_int_equal(tunnel_decode(&s, p, len, stop, NULL, NULL, &err), -OTSYNC_ECANCELED);
    tunnel_writer_fini(&w);

    /* the emulator takes PyODPS's exponent decimals that our encoder refuses */
    {
        static const unsigned char blk[] = { 0x2a, 0x04, '1', 'E', '+', '2' };
        static const unsigned char junk[] = { 0x2a, 0x02, '1', 'x' };
        struct tunnel_reader r;

        assert_int_equal(tunnel_reader_init(&r, &s, blk, sizeof(blk), &err), 0);
        /* the value parses, then the stream ends without its end marker */
        assert_int_equal(tunnel_reader_next(&r, got, &err), -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "offset 6"));
        assert_int_equal(tunnel_reader_init(&r, &s, junk, sizeof(junk), &err), 0);
        assert_int_equal(tunnel_reader_next(&r, got, &err), -OTSYNC_EPROTO);
        assert_non_null(strstr(err.msg, "not a decimal"));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_basic),
        cmocka_unit_test(test_block_empty),
        cmocka_unit_test(test_block_extended),
        cmocka_unit_test(test_checksum_vectors),
        cmocka_unit_test(test_java_crosscheck),
        cmocka_unit_test(test_upload_transcript_body),
        cmocka_unit_test(test_deflate),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_encoder_errors),
        cmocka_unit_test(test_unvectored_types),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
