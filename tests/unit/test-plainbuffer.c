/*
 * test-plainbuffer.c - the PlainBuffer codec and tablestore.proto against the golden vectors in
 * tests/vectors/tablestore (copied from shared/protocols/vectors/tablestore; made by the JS,
 * Python and Java SDKs): CRC-8, every row encoded byte for byte and decoded back, the JS
 * padding tolerated, the protobuf request and response bodies decoded field by field and
 * packed again to the same bytes; then broken and hostile input, refused with its offset.
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
#include "otsync/plainbuffer.h"
#include "tablestore.pb-c.h"

/* ---- vector plumbing ---- */

static json_t *
load(const char *name)
{
    const char *top = getenv("top_srcdir");
    char path[1024];
    json_error_t je;
    json_t *root;

    snprintf(path, sizeof(path), "%s/tests/vectors/tablestore/%s", top ? top : ".", name);
    root = json_load_file(path, 0, &je);
    if (!root)
        fail_msg("%s:%d: %s", path, je.line, je.text);
    return root;
}

/* Allocations of one test, freed together by arena_free. */
static void *arena[512];
static size_t arena_n;

static void *
keep(void *p)
{
    assert_non_null(p);
    assert_true(arena_n < sizeof(arena) / sizeof(arena[0]));
    arena[arena_n++] = p;
    return p;
}

static void
arena_free(void)
{
    while (arena_n)
        free(arena[--arena_n]);
}

static unsigned char *
unhex(const char *hex, size_t *ret_len)
{
    size_t n = strlen(hex), i;
    unsigned char *out;
    unsigned v;

    assert_int_equal(n % 2, 0);
    out = keep(malloc(n / 2 + 1));
    for (i = 0; i < n / 2; i++) {
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    *ret_len = n / 2;
    return out;
}

static const char *
str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    if (!s)
        fail_msg("vector field '%s' missing", key);
    return s;
}

/* Hex of a byte range, for messages that print both values. */
static const char *
tohex(const unsigned char *p, size_t n)
{
    char *s = keep(malloc(2 * n + 1));
    size_t i;

    for (i = 0; i < n; i++)
        sprintf(s + 2 * i, "%02x", p[i]);
    s[2 * n] = '\0';
    return s;
}

static void
assert_bytes(const unsigned char *got, size_t got_len, const char *want_hex)
{
    if (strcmp(tohex(got, got_len), want_hex))
        fail_msg("bytes differ\n got  %s\n want %s", tohex(got, got_len), want_hex);
}

/* Packs msg again and compares with the bytes it came from: field numbers, types, order. */
#define ASSERT_REPACK(prefix, msg, want_hex)                                                       \
    do {                                                                                           \
        size_t n_ = prefix##__get_packed_size(msg);                                                \
        unsigned char *out_ = keep(malloc(n_ + 1));                                                \
        assert_int_equal(prefix##__pack(msg, out_), n_);                                           \
        assert_bytes(out_, n_, want_hex);                                                          \
    } while (0)

static void
value_from_json(json_t *j, struct pb_value *v)
{
    const char *type = str(j, "type");
    json_t *val = json_object_get(j, "value");
    size_t n;

    memset(v, 0, sizeof(*v));
    if (!strcmp(type, "STRING")) {
        v->type = PB_STRING;
        v->u.bytes.ptr = (const unsigned char *)json_string_value(val);
        v->u.bytes.len = (uint32_t)json_string_length(val);
    } else if (!strcmp(type, "INTEGER")) {
        v->type = PB_INTEGER;
        v->u.i = strtoll(json_string_value(val), NULL, 10);
    } else if (!strcmp(type, "DOUBLE")) {
        v->type = PB_DOUBLE;
        v->u.d = json_number_value(val);
    } else if (!strcmp(type, "BOOLEAN")) {
        v->type = PB_BOOLEAN;
        v->u.b = json_is_true(val);
    } else if (!strcmp(type, "BINARY")) {
        v->type = PB_BINARY;
        v->u.bytes.ptr = unhex(str(j, "hex"), &n);
        v->u.bytes.len = (uint32_t)n;
    } else if (!strcmp(type, "INF_MIN")) {
        v->type = PB_INF_MIN;
    } else if (!strcmp(type, "INF_MAX")) {
        v->type = PB_INF_MAX;
    } else if (!strcmp(type, "AUTO_INCREMENT")) {
        v->type = PB_AUTO_INCREMENT;
    } else {
        fail_msg("unknown vector type %s", type);
    }
}

/*
 * Cells of a vector list: {name, value?, timestamp? (number, decimal string or null),
 * op? (PUT, DELETE, DELETE_ALL, INCREMENT), cell_type? (DELETE_ONE_VERSION, DELETE_ALL_VERSION)}.
 */
static struct pb_cell *
cells_from_json(json_t *arr, size_t *ret_count)
{
    struct pb_cell *cells;
    json_t *j, *ts, *value;
    const char *op;
    size_t i;

    *ret_count = json_array_size(arr);
    cells = keep(calloc(*ret_count + 1, sizeof(*cells)));
    json_array_foreach(arr, i, j) {
        struct pb_cell *c = &cells[i];

        c->name = str(j, "name");
        c->name_len = strlen(c->name);
        if ((value = json_object_get(j, "value"))) {
            c->has_value = true;
            value_from_json(value, &c->value);
        }
        ts = json_object_get(j, "timestamp");
        if (json_is_integer(ts) || json_is_string(ts)) {
            c->has_ts = true;
            c->ts = json_is_integer(ts) ? json_integer_value(ts)
                                        : strtoll(json_string_value(ts), NULL, 10);
        }
        op = json_string_value(json_object_get(j, "op"));
        if (!op)
            op = json_string_value(json_object_get(j, "cell_type"));
        if (!op || !strcmp(op, "PUT"))
            c->op = PB_OP_PUT;
        else if (!strcmp(op, "DELETE") || !strcmp(op, "DELETE_ONE_VERSION"))
            c->op = PB_OP_DELETE_ONE;
        else if (!strcmp(op, "DELETE_ALL") || !strcmp(op, "DELETE_ALL_VERSION"))
            c->op = PB_OP_DELETE_ALL;
        else if (!strcmp(op, "INCREMENT"))
            c->op = PB_OP_INCREMENT;
        else
            fail_msg("unknown op %s", op);
    }
    return cells;
}

/* A row of a vector: primary_key plus attributes, updates or cells. */
static void
row_from_json(json_t *j, struct pb_row *row)
{
    json_t *attrs = json_object_get(j, "attributes");

    memset(row, 0, sizeof(*row));
    if (!attrs)
        attrs = json_object_get(j, "updates");
    if (!attrs)
        attrs = json_object_get(j, "cells");
    row->pk = cells_from_json(json_object_get(j, "primary_key"), &row->pk_count);
    if (attrs)
        row->attrs = cells_from_json(attrs, &row->attr_count);
    row->deleted = json_is_true(json_object_get(j, "delete_marker"));
}

static void
assert_value(const struct pb_value *got, const struct pb_value *want)
{
    assert_int_equal(got->type, want->type);
    switch (want->type) {
    case PB_INTEGER:
        assert_int_equal(got->u.i, want->u.i);
        break;
    case PB_DOUBLE:
        assert_true(got->u.d == want->u.d);
        break;
    case PB_BOOLEAN:
        assert_int_equal(got->u.b, want->u.b);
        break;
    case PB_STRING:
    case PB_BINARY:
        assert_int_equal(got->u.bytes.len, want->u.bytes.len);
        assert_memory_equal(got->u.bytes.ptr, want->u.bytes.ptr, want->u.bytes.len);
        break;
    default:
        break;
    }
}

static void
assert_cells(const struct pb_cell *got, size_t got_n, const struct pb_cell *want, size_t want_n)
{
    size_t i;

    assert_int_equal(got_n, want_n);
    for (i = 0; i < want_n; i++) {
        assert_int_equal(got[i].name_len, want[i].name_len);
        assert_memory_equal(got[i].name, want[i].name, want[i].name_len);
        assert_int_equal(got[i].has_value, want[i].has_value);
        if (want[i].has_value)
            assert_value(&got[i].value, &want[i].value);
        assert_int_equal(got[i].has_ts, want[i].has_ts);
        if (want[i].has_ts)
            assert_int_equal(got[i].ts, want[i].ts);
        assert_int_equal(got[i].op, want[i].op);
    }
}

static void
assert_row(const struct pb_row *got, const struct pb_row *want)
{
    assert_cells(got->pk, got->pk_count, want->pk, want->pk_count);
    assert_cells(got->attrs, got->attr_count, want->attrs, want->attr_count);
    assert_int_equal(got->deleted, want->deleted);
    assert_int_equal(got->has_seq, want->has_seq);
    if (want->has_seq) {
        assert_int_equal(got->seq.epoch, want->seq.epoch);
        assert_int_equal(got->seq.ts_us, want->seq.ts_us);
        assert_int_equal(got->seq.row_index, want->seq.row_index);
    }
}

/* Encodes want, compares with hex; decodes hex (and the padded form) and compares with want. */
static void
check_row(const struct pb_row *want, const char *hex, const char *padded_hex)
{
    struct otsync_err err = {0};
    struct pb_rows rows;
    struct pb_buf b;
    const unsigned char *bytes;
    size_t len;

    plainbuffer_buf_init(&b, 0);
    if (plainbuffer_encode_rows(&b, want, 1, &err) < 0)
        fail_msg("encode: %s", err.msg);
    assert_bytes(b.data, b.len, hex);
    assert_int_equal(plainbuffer_row_checksum(want), b.data[b.len - 1]);
    plainbuffer_buf_fini(&b);

    bytes = unhex(hex, &len);
    if (plainbuffer_decode_row(bytes, len, &rows, &err) < 0)
        fail_msg("decode %s: %s", hex, err.msg);
    assert_int_equal(rows.count, 1);
    assert_row(&rows.rows[0], want);
    plainbuffer_rows_fini(&rows);
    if (padded_hex) {
        bytes = unhex(padded_hex, &len);
        if (plainbuffer_decode_row(bytes, len, &rows, &err) < 0)
            fail_msg("decode padded %s: %s", padded_hex, err.msg);
        assert_int_equal(rows.count, 1);
        assert_row(&rows.rows[0], want);
        plainbuffer_rows_fini(&rows);
        if (plainbuffer_decode_rows(bytes, len, &rows, &err) < 0)
            fail_msg("decode padded block %s: %s", padded_hex, err.msg);
        assert_int_equal(rows.count, 1);
        plainbuffer_rows_fini(&rows);
    }
}

/* Decodes a single-row field into rows and compares it with a vector row description. */
static void
check_decoded(const unsigned char *bytes, size_t len, json_t *want_json, bool deleted)
{
    struct otsync_err err = {0};
    struct pb_rows rows;
    struct pb_row want;

    row_from_json(want_json, &want);
    want.deleted = deleted;
    if (plainbuffer_decode_row(bytes, len, &rows, &err) < 0)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(rows.count, 1);
    assert_row(&rows.rows[0], &want);
    plainbuffer_rows_fini(&rows);
}

/* ---- the vectors ---- */

static void
test_crc8(void **state)
{
    json_t *root = load("crc8.json"), *exp = json_object_get(root, "expected"), *j;
    const unsigned char *in;
    unsigned char b;
    size_t i, len;

    (void)state;
    assert_int_equal(json_array_size(json_object_get(exp, "table")), 256);
    json_array_foreach(json_object_get(exp, "table"), i, j) {
        b = (unsigned char)i;
        assert_int_equal(plainbuffer_crc8(0, &b, 1), json_integer_value(j));
    }
    json_array_foreach(json_object_get(exp, "checks"), i, j) {
        if (json_object_get(j, "input_ascii")) {
            in = (const unsigned char *)str(j, "input_ascii");
            len = strlen((const char *)in);
        } else {
            in = unhex(str(j, "input_hex"), &len);
        }
        assert_int_equal(plainbuffer_crc8((uint8_t)json_integer_value(json_object_get(j, "init")),
                                          in, len),
                         json_integer_value(json_object_get(j, "crc8")));
    }
    /* the worked example of section 3.6 */
    assert_int_equal(plainbuffer_crc8(0, "id", 2), 0x73);
    json_decref(root);
    arena_free();
}

static void
test_rows(void **state)
{
    static const char *const files[] = {
        "plainbuffer_put_minimal.json", "plainbuffer_put_single_pk.json",
        "plainbuffer_put_auto_increment.json", "plainbuffer_update_row.json",
        "plainbuffer_delete_row.json",
    };
    struct pb_row want;
    size_t i, len;
    json_t *root, *exp;
    const unsigned char *bytes;

    (void)state;
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        root = load(files[i]);
        exp = json_object_get(root, "expected");
        row_from_json(json_object_get(root, "input"), &want);
        want.deleted = strstr(files[i], "delete_row") != NULL;
        check_row(&want, str(exp, "hex"), str(exp, "sdk_buffer_hex"));
        assert_int_equal(strlen(str(exp, "hex")) / 2,
                         json_integer_value(json_object_get(exp, "length")));
        if (json_object_get(exp, "sdk_decoded")) {
            bytes = unhex(str(exp, "hex"), &len);
            check_decoded(bytes, len, json_object_get(exp, "sdk_decoded"), want.deleted);
        }
        json_decref(root);
        arena_free();
    }
}

static void
test_pk3_range(void **state)
{
    static const char *const keys[] = {"start", "end", "concrete"};
    json_t *root = load("plainbuffer_pk3_range.json"), *exp = json_object_get(root, "expected");
    json_t *in = json_object_get(root, "input"), *one;
    const unsigned char *bytes;
    struct pb_row want;
    size_t i, len;

    (void)state;
    for (i = 0; i < 3; i++) {
        one = json_pack("{sO}", "primary_key", json_object_get(in, keys[i]));
        row_from_json(one, &want);
        check_row(&want, str(json_object_get(exp, keys[i]), "hex"),
                  str(json_object_get(exp, keys[i]), "sdk_buffer_hex"));
        json_decref(one);
    }
    bytes = unhex(str(json_object_get(exp, "concrete"), "hex"), &len);
    check_decoded(bytes, len, json_object_get(exp, "concrete_sdk_decoded"), false);
    json_decref(root);
    arena_free();
}

static void
test_filter_values(void **state)
{
    json_t *root = load("plainbuffer_filter_values.json"), *j;
    json_t *hex = json_object_get(json_object_get(root, "expected"), "hex");
    struct otsync_err err = {0};
    struct pb_value want, got;
    const unsigned char *bytes;
    struct pb_buf b;
    size_t i, len;

    (void)state;
    assert_int_equal(json_array_size(hex), 5);
    json_array_foreach(json_object_get(json_object_get(root, "input"), "values"), i, j) {
        value_from_json(j, &want);
        plainbuffer_buf_init(&b, 0);
        assert_int_equal(plainbuffer_encode_value(&b, &want, &err), 0);
        assert_bytes(b.data, b.len, json_string_value(json_array_get(hex, i)));
        plainbuffer_buf_fini(&b);
        bytes = unhex(json_string_value(json_array_get(hex, i)), &len);
        if (plainbuffer_decode_value(bytes, len, &got, &err) < 0)
            fail_msg("decode value %zu: %s", i, err.msg);
        assert_value(&got, &want);
        /* a bare variant has no padding to forgive */
        assert_int_equal(plainbuffer_decode_value(bytes, len - 1, &got, &err), -OTSYNC_EPROTO);
    }
    json_decref(root);
    arena_free();
}

static void
test_stream_records(void **state)
{
    json_t *root = load("stream_records_java_sdk.json"), *rec, *in, *exp, *seq, *j;
    struct pb_row want;
    size_t i, k;

    (void)state;
    assert_int_equal(json_array_size(json_object_get(root, "records")), 3);
    json_array_foreach(json_object_get(root, "records"), i, rec) {
        in = json_object_get(rec, "input");
        exp = json_object_get(rec, "expected");
        row_from_json(in, &want);
        seq = json_object_get(in, "sequence_info");
        want.has_seq = true;
        want.seq.epoch = (uint32_t)json_integer_value(json_object_get(seq, "epoch"));
        want.seq.ts_us = json_integer_value(json_object_get(seq, "timestamp"));
        want.seq.row_index = (uint32_t)json_integer_value(json_object_get(seq, "row_index"));
        check_row(&want, str(exp, "hex"), NULL);
        json_array_foreach(json_object_get(exp, "cell_checksums"), k, j) {
            const struct pb_cell *c = k < want.pk_count ? &want.pk[k]
                                                         : &want.attrs[k - want.pk_count];
            assert_int_equal(plainbuffer_cell_checksum(c), json_integer_value(j));
        }
        assert_int_equal(plainbuffer_row_checksum(&want),
                         json_integer_value(json_object_get(exp, "row_checksum")));
        /* DELETE_ROW records carry the marker, the others do not */
        assert_int_equal(want.deleted, !strcmp(str(rec, "action_type"), "DELETE_ROW"));
        assert_int_equal(json_array_size(json_object_get(exp, "sdk_columns")), want.attr_count);
    }
    json_decref(root);
    arena_free();
}

static void
test_getrange_response(void **state)
{
    json_t *root = load("response_getrange_and_error.json");
    json_t *in = json_object_get(json_object_get(root, "input"), "getrange");
    json_t *exp = json_object_get(root, "expected"), *j, *one;
    struct otsync_err err = {0};
    struct pb_row want[2], next;
    struct pb_rows rows;
    const unsigned char *bytes, *block, *key;
    size_t len, block_len, key_len, i;
    Otsync__Ots__GetRangeResponse *resp;
    Otsync__Ots__Error *e;
    struct pb_buf b;

    (void)state;
    json_array_foreach(json_object_get(in, "rows"), i, j)
        row_from_json(j, &want[i]);
    block = unhex(str(exp, "getrange_rows_block_hex"), &block_len);
    assert_int_equal(plainbuffer_decode_rows(block, block_len, &rows, &err), 0);
    assert_int_equal(rows.count, 2);
    assert_row(&rows.rows[0], &want[0]);
    assert_row(&rows.rows[1], &want[1]);
    plainbuffer_rows_fini(&rows);
    /* two rows are not one: a single-row field refuses the block at the second row */
    assert_int_equal(plainbuffer_decode_row(block, block_len, &rows, &err), -OTSYNC_EPROTO);
    assert_non_null(strstr(err.msg, "offset 61:"));
    assert_null(rows.rows);
    /* the emulator's side: header once, then both rows */
    plainbuffer_buf_init(&b, 0);
    assert_int_equal(plainbuffer_encode_rows(&b, want, 2, &err), 0);
    assert_bytes(b.data, b.len, str(exp, "getrange_rows_block_hex"));
    plainbuffer_buf_fini(&b);
    one = json_pack("{sO}", "primary_key", json_object_get(in, "next_start_primary_key"));
    row_from_json(one, &next);
    check_row(&next, str(exp, "getrange_next_start_primary_key_hex"), NULL);
    json_decref(one);
    /* the SDK's own reading of the block, row by row; the first row alone is a single field */
    assert_int_equal(plainbuffer_decode_rows(block, block_len, &rows, &err), 0);
    json_array_foreach(json_object_get(json_object_get(exp, "sdk_decoded"), "rows"), i, j) {
        row_from_json(j, &want[i]);
        assert_row(&rows.rows[i], &want[i]);
    }
    plainbuffer_rows_fini(&rows);
    check_decoded(block, 61, json_array_get(json_object_get(json_object_get(exp, "sdk_decoded"),
                                                            "rows"), 0), false);

    bytes = unhex(str(exp, "getrange_body_hex"), &len);
    resp = otsync__ots__get_range_response__unpack(NULL, len, bytes);
    assert_non_null(resp);
    assert_int_equal(resp->consumed->capacity_unit->read, 1);
    assert_int_equal(resp->consumed->capacity_unit->has_write, 1);
    assert_int_equal(resp->consumed->capacity_unit->write, 0);
    assert_bytes(resp->rows.data, resp->rows.len, str(exp, "getrange_rows_block_hex"));
    assert_true(resp->has_next_start_primary_key);
    key = resp->next_start_primary_key.data;
    key_len = resp->next_start_primary_key.len;
    assert_bytes(key, key_len, str(exp, "getrange_next_start_primary_key_hex"));
    assert_false(resp->has_data_block_type);
    ASSERT_REPACK(otsync__ots__get_range_response, resp, str(exp, "getrange_body_hex"));
    otsync__ots__get_range_response__free_unpacked(resp, NULL);

    bytes = unhex(str(exp, "error_body_hex"), &len);
    e = otsync__ots__error__unpack(NULL, len, bytes);
    assert_non_null(e);
    assert_string_equal(e->code, "OTSObjectNotExist");
    assert_string_equal(e->message, "Requested table does not exist.");
    ASSERT_REPACK(otsync__ots__error, e, str(exp, "error_body_hex"));
    otsync__ots__error__free_unpacked(e, NULL);
    json_decref(root);
    arena_free();
}

static void
check_key_field(const ProtobufCBinaryData *field, json_t *cells, bool padded)
{
    struct pb_row want;
    json_t *one = json_pack("{sO}", "primary_key", cells);

    row_from_json(one, &want);
    check_decoded(field->data, field->len, one, false);
    if (!padded) {
        struct pb_buf b;
        struct otsync_err err = {0};

        plainbuffer_buf_init(&b, 0);
        assert_int_equal(plainbuffer_encode_rows(&b, &want, 1, &err), 0);
        assert_int_equal(b.len, field->len);
        assert_memory_equal(b.data, field->data, b.len);
        plainbuffer_buf_fini(&b);
    }
    json_decref(one);
}

static void
test_protobuf_getrange(void **state)
{
    static const char *const bodies[] = {"body_hex", "body_hex_without_js_padding"};
    json_t *root = load("protobuf_getrange_request.json"), *in = json_object_get(root, "input");
    json_t *exp = json_object_get(root, "expected");
    Otsync__Ots__GetRangeRequest *req;
    const unsigned char *bytes;
    size_t len, i;

    (void)state;
    for (i = 0; i < 2; i++) {
        bytes = unhex(str(exp, bodies[i]), &len);
        req = otsync__ots__get_range_request__unpack(NULL, len, bytes);
        assert_non_null(req);
        assert_string_equal(req->table_name, str(in, "table_name"));
        assert_int_equal(req->direction, OTSYNC__OTS__DIRECTION__FORWARD);
        assert_int_equal(req->n_columns_to_get, 2);
        assert_string_equal(req->columns_to_get[0], "str");
        assert_string_equal(req->columns_to_get[1], "int");
        assert_true(req->has_max_versions);
        assert_int_equal(req->max_versions, 1);
        assert_true(req->has_limit);
        assert_int_equal(req->limit, 100);
        assert_null(req->time_range);
        assert_false(req->has_filter);
        assert_false(req->has_cache_blocks);
        assert_true(req->cache_blocks);                 /* the proto default */
        check_key_field(&req->inclusive_start_primary_key,
                        json_object_get(in, "inclusive_start_primary_key"), i == 0);
        check_key_field(&req->exclusive_end_primary_key,
                        json_object_get(in, "exclusive_end_primary_key"), i == 0);
        ASSERT_REPACK(otsync__ots__get_range_request, req, str(exp, bodies[i]));
        otsync__ots__get_range_request__free_unpacked(req, NULL);
    }
    json_decref(root);
    arena_free();
}

static void
check_single_filter(const unsigned char *bytes, size_t len, Otsync__Ots__ComparatorType cmp,
                    const char *column, json_t *value, bool filter_if_missing)
{
    Otsync__Ots__Filter *f = otsync__ots__filter__unpack(NULL, len, bytes);
    Otsync__Ots__SingleColumnValueFilter *s;
    struct otsync_err err = {0};
    struct pb_value want, got;

    assert_non_null(f);
    assert_int_equal(f->type, OTSYNC__OTS__FILTER_TYPE__FT_SINGLE_COLUMN_VALUE);
    s = otsync__ots__single_column_value_filter__unpack(NULL, f->filter.len, f->filter.data);
    assert_non_null(s);
    assert_int_equal(s->comparator, cmp);
    assert_string_equal(s->column_name, column);
    value_from_json(value, &want);
    assert_int_equal(plainbuffer_decode_value(s->column_value.data, s->column_value.len, &got,
                                              &err), 0);
    assert_value(&got, &want);
    assert_int_equal(s->filter_if_missing, filter_if_missing);
    assert_true(s->latest_version_only);
    assert_null(s->value_trans_rule);
    otsync__ots__single_column_value_filter__free_unpacked(s, NULL);
    otsync__ots__filter__free_unpacked(f, NULL);
}

static void
test_protobuf_getrange_backward_filter(void **state)
{
    static const char *const bodies[] = {"body_hex", "body_hex_without_js_padding"};
    json_t *root = load("protobuf_getrange_backward_filter_request.json");
    json_t *in = json_object_get(root, "input"), *exp = json_object_get(root, "expected");
    json_t *filter = json_object_get(in, "filter");
    Otsync__Ots__GetRangeRequest *req;
    const unsigned char *bytes;
    size_t len, i;

    (void)state;
    for (i = 0; i < 2; i++) {
        bytes = unhex(str(exp, bodies[i]), &len);
        req = otsync__ots__get_range_request__unpack(NULL, len, bytes);
        assert_non_null(req);
        assert_string_equal(req->table_name, "sample_table");
        assert_int_equal(req->direction, OTSYNC__OTS__DIRECTION__BACKWARD);
        assert_int_equal(req->n_columns_to_get, 0);
        assert_non_null(req->time_range);
        assert_true(req->time_range->has_start_time);
        assert_int_equal(req->time_range->start_time, 1700000000000LL);
        assert_true(req->time_range->has_end_time);
        assert_int_equal(req->time_range->end_time, 1700000100000LL);
        assert_false(req->time_range->has_specific_time);
        assert_int_equal(req->max_versions, 3);
        assert_int_equal(req->limit, 10);
        check_key_field(&req->inclusive_start_primary_key,
                        json_object_get(in, "inclusive_start_primary_key"), i == 0);
        check_key_field(&req->exclusive_end_primary_key,
                        json_object_get(in, "exclusive_end_primary_key"), i == 0);
        assert_true(req->has_filter);
        assert_bytes(req->filter.data, req->filter.len, str(exp, "filter_field_hex"));
        /* "pass if missing" is the negation of filter_if_missing */
        check_single_filter(req->filter.data, req->filter.len,
                            OTSYNC__OTS__COMPARATOR_TYPE__CT_GREATER_EQUAL, "int",
                            json_object_get(filter, "value"),
                            !json_is_true(json_object_get(filter, "pass_if_missing")));
        ASSERT_REPACK(otsync__ots__get_range_request, req, str(exp, bodies[i]));
        otsync__ots__get_range_request__free_unpacked(req, NULL);
    }
    json_decref(root);
    arena_free();
}

static void
test_protobuf_batchwriterow(void **state)
{
    static const char *const bodies[] = {"body_hex", "body_hex_without_js_padding"};
    static const Otsync__Ots__OperationType types[] = {
        OTSYNC__OTS__OPERATION_TYPE__PUT, OTSYNC__OTS__OPERATION_TYPE__UPDATE,
        OTSYNC__OTS__OPERATION_TYPE__DELETE,
    };
    json_t *root = load("protobuf_batchwriterow_request.json");
    json_t *exp = json_object_get(root, "expected"), *tables, *rows, *row, *cond;
    Otsync__Ots__BatchWriteRowRequest *req;
    Otsync__Ots__RowInBatchWriteRowRequest *r;
    const unsigned char *bytes;
    struct pb_row want;
    size_t len, i, t, k;

    (void)state;
    tables = json_object_get(json_object_get(root, "input"), "tables");
    for (i = 0; i < 2; i++) {
        bytes = unhex(str(exp, bodies[i]), &len);
        req = otsync__ots__batch_write_row_request__unpack(NULL, len, bytes);
        assert_non_null(req);
        assert_int_equal(req->n_tables, json_array_size(tables));
        assert_null(req->transaction_id);
        assert_false(req->has_is_atomic);
        for (t = 0; t < req->n_tables; t++) {
            rows = json_object_get(json_array_get(tables, t), "rows");
            assert_string_equal(req->tables[t]->table_name,
                                str(json_array_get(tables, t), "table_name"));
            assert_int_equal(req->tables[t]->n_rows, json_array_size(rows));
            for (k = 0; k < req->tables[t]->n_rows; k++) {
                const char *type, *exist;

                r = req->tables[t]->rows[k];
                row = json_array_get(rows, k);
                type = str(row, "type");
                exist = str(row, "row_existence");
                assert_int_equal(r->type, types[!strcmp(type, "PUT") ? 0
                                                : !strcmp(type, "UPDATE") ? 1 : 2]);
                assert_int_equal(r->condition->row_existence,
                                 !strcmp(exist, "IGNORE") ? 0
                                 : !strcmp(exist, "EXPECT_EXIST") ? 1 : 2);
                assert_bytes(r->row_change.data, r->row_change.len,
                             json_string_value(json_array_get(json_array_get(
                                 json_object_get(exp, "row_change_hex"), t), k)));
                row_from_json(row, &want);
                want.deleted = !strcmp(type, "DELETE");
                check_row(&want, json_string_value(json_array_get(json_array_get(
                              json_object_get(exp, "row_change_hex"), t), k)), NULL);
                if (json_object_get(row, "return_type")) {
                    assert_non_null(r->return_content);
                    assert_int_equal(r->return_content->return_type,
                                     OTSYNC__OTS__RETURN_TYPE__RT_PK);
                } else {
                    assert_null(r->return_content);
                }
                cond = json_object_get(row, "column_condition");
                assert_int_equal(r->condition->has_column_condition, cond != NULL);
                if (cond) {
                    assert_bytes(r->condition->column_condition.data,
                                 r->condition->column_condition.len,
                                 json_string_value(json_array_get(json_array_get(
                                     json_object_get(exp, "column_condition_hex"), t), k)));
                    check_single_filter(r->condition->column_condition.data,
                                        r->condition->column_condition.len,
                                        OTSYNC__OTS__COMPARATOR_TYPE__CT_EQUAL,
                                        str(cond, "column"), json_object_get(cond, "value"),
                                        !json_is_true(json_object_get(cond, "pass_if_missing")));
                }
            }
        }
        ASSERT_REPACK(otsync__ots__batch_write_row_request, req, str(exp, bodies[i]));
        otsync__ots__batch_write_row_request__free_unpacked(req, NULL);
    }
    json_decref(root);
    arena_free();
}

static void
test_protobuf_putrow_exchange(void **state)
{
    json_t *root = load("http_exchange_putrow.json"), *req_json, *row;
    json_t *exp = json_object_get(root, "expected");
    static const char *const tables[] = {"sample_table", "missing_table"};
    Otsync__Ots__PutRowRequest *req;
    const unsigned char *bytes;
    size_t len, i;

    (void)state;
    row = json_pack("{s[{ss s{ssss}}] s[{ss s{ssss}}]}", "primary_key", "name", "pk", "value",
                    "type", "STRING", "value", "user_0001", "attributes", "name", "str", "value",
                    "type", "STRING", "value", "hello");
    json_array_foreach(json_object_get(exp, "requests_as_received"), i, req_json) {
        bytes = unhex(str(req_json, "body_hex"), &len);
        req = otsync__ots__put_row_request__unpack(NULL, len, bytes);
        assert_non_null(req);
        assert_string_equal(req->table_name, tables[i]);
        assert_non_null(req->condition);
        assert_int_equal(req->condition->row_existence,
                         OTSYNC__OTS__ROW_EXISTENCE_EXPECTATION__IGNORE);
        assert_null(req->return_content);
        check_decoded(req->row.data, req->row.len, row, false);
        ASSERT_REPACK(otsync__ots__put_row_request, req, str(req_json, "body_hex"));
        otsync__ots__put_row_request__free_unpacked(req, NULL);
    }
    json_decref(row);
    json_decref(root);
    arena_free();
}

/* Required fields are enforced: a PutRowRequest without its condition does not decode. */
static void
test_protobuf_required(void **state)
{
    static const unsigned char no_condition[] = {0x0a, 0x01, 't', 0x12, 0x00};
    static const unsigned char with_condition[] = {0x0a, 0x01, 't', 0x12, 0x00, 0x1a, 0x02,
                                                   0x08, 0x00};
    Otsync__Ots__PutRowRequest *req;

    (void)state;
    assert_null(otsync__ots__put_row_request__unpack(NULL, sizeof(no_condition), no_condition));
    req = otsync__ots__put_row_request__unpack(NULL, sizeof(with_condition), with_condition);
    assert_non_null(req);
    assert_int_equal(req->row.len, 0);
    otsync__ots__put_row_request__free_unpacked(req, NULL);
}

/* ---- broken and hostile input ---- */

static const char minimal_hex[] =
    "7500000001030402000000696405090000000001000000000000000a0a02030401000000630509000000000100"
    "0000000000000ace09bc";

/* Decodes hex as a single-row field and expects code with "offset <off>:" in the message. */
static void
expect_refusal(const char *hex, int code, size_t off, const char *words)
{
    struct otsync_err err = {0};
    struct pb_rows rows;
    const unsigned char *bytes;
    char want[64];
    size_t len;

    bytes = unhex(hex, &len);
    assert_int_equal(plainbuffer_decode_row(bytes, len, &rows, &err), -code);
    assert_int_equal(err.code, code);
    snprintf(want, sizeof(want), "offset %zu:", off);
    if (!strstr(err.msg, want) || !strstr(err.msg, words))
        fail_msg("message '%s' lacks '%s' or '%s'", err.msg, want, words);
    assert_null(rows.rows);
    assert_int_equal(rows.count, 0);
}

/* minimal_hex with the byte at off replaced. */
static const char *
patched(size_t off, const char *byte_hex)
{
    char *s = keep(strdup(minimal_hex));

    memcpy(s + 2 * off, byte_hex, 2);
    return s;
}

static void
test_refusals(void **state)
{
    struct otsync_err err = {0};
    struct pb_rows rows;
    const unsigned char *bytes;
    size_t len, cut;
    char hex[512];

    (void)state;
    /* checksums: a cell's (offset 28) and the row's (offset 54), and a changed value byte */
    expect_refusal(patched(28, "0b"), OTSYNC_ECORRUPT, 28, "cell checksum 0x0b, computed 0x0a");
    expect_refusal(patched(54, "bd"), OTSYNC_ECORRUPT, 54, "row checksum 0xbd, computed 0xbc");
    expect_refusal(patched(19, "02"), OTSYNC_ECORRUPT, 28, "cell checksum");
    expect_refusal(patched(18, "02"), OTSYNC_EPROTO, 13, "BOOLEAN value takes 2 bytes");
    /* every truncation is refused at or before the cut, never read past */
    bytes = unhex(minimal_hex, &len);
    for (cut = 1; cut < len; cut++) {
        unsigned char *copy = malloc(cut);

        memcpy(copy, bytes, cut);
        assert_true(plainbuffer_decode_row(copy, cut, &rows, &err) < 0);
        assert_non_null(strstr(err.msg, "offset "));
        free(copy);
    }
    /* trailing zeros are padding; anything else after the row is not */
    snprintf(hex, sizeof(hex), "%s000000", minimal_hex);
    assert_int_equal(plainbuffer_decode_row(unhex(hex, &len), len, &rows, &err), 0);
    assert_int_equal(rows.count, 1);
    plainbuffer_rows_fini(&rows);
    snprintf(hex, sizeof(hex), "%s000001", minimal_hex);
    expect_refusal(hex, OTSYNC_EPROTO, 57, "byte 0x01 after the row");
    /* the multi-row reader stops at padding too, but takes no zero byte as a row start */
    assert_int_equal(plainbuffer_decode_rows(unhex(hex, &len), len, &rows, &err), -OTSYNC_EPROTO);
    assert_non_null(strstr(err.msg, "offset 55: tag 0x00 where a row"));
    /* empty field: no row; header alone: a single-row field lacks its row, a block is empty */
    assert_int_equal(plainbuffer_decode_row("", 0, &rows, &err), 0);
    assert_int_equal(rows.count, 0);
    expect_refusal("75000000", OTSYNC_EPROTO, 4, "no row after the header");
    assert_int_equal(plainbuffer_decode_rows("\x75\0\0\0", 4, &rows, &err), 0);
    assert_int_equal(rows.count, 0);
    expect_refusal(patched(0, "76"), OTSYNC_EPROTO, 0, "header 76 00 00 00");
    expect_refusal("7500", OTSYNC_EPROTO, 0, "header needs 4 bytes, 2 left");
    /* lengths that point past the end */
    expect_refusal(
        "75000000010304ffffffff6964", OTSYNC_EPROTO, 11, "cell name needs 4294967295 bytes");
    expect_refusal(
        "7500000001030402000000696405ffffff7f00", OTSYNC_EPROTO, 18, "cell value needs");
    /* values whose inner shape disagrees with their length */
    expect_refusal("750000000103040200000069640506000000030500000061", OTSYNC_EPROTO, 19,
                   "STRING length 5 disagrees with the 1 bytes");
    expect_refusal("7500000001030402000000696405080000000001000000000000", OTSYNC_EPROTO, 13,
                   "INTEGER value takes 9 bytes, length says 8");
    expect_refusal("75000000010304020000006964050100000006", OTSYNC_EPROTO, 18,
                   "unknown value type 0x06");
    expect_refusal("7500000002030401000000630502000000020209", OTSYNC_EPROTO, 18,
                   "BOOLEAN byte 0x02 is neither 0 nor 1");
    expect_refusal("750000000103040200000069640501000000ff", OTSYNC_EPROTO, 18,
                   "unknown value type 0xff");
    expect_refusal("750000000103040200000069640500000000", OTSYNC_EPROTO, 13,
                   "value of length 0 has no type byte");
    /* tags out of place, unknown operation types */
    expect_refusal("7500000001030402000000696409", OTSYNC_EPROTO, 13,
                   "tag 0x09 where a cell checksum (0x0a) belongs");
    expect_refusal("750000000103050200000069640a00", OTSYNC_EPROTO, 6,
                   "tag 0x05 where a cell name (0x04) belongs");
    expect_refusal("75000000020304010000006306020a00", OTSYNC_EPROTO, 13,
                   "unknown cell operation type 0x02");
    expect_refusal("7500000003", OTSYNC_EPROTO, 4, "tag 0x03 where a row (0x01 or 0x02)");
    /* rows must end with their checksum */
    expect_refusal("750000000108", OTSYNC_EPROTO, 6, "row ends before its checksum");
    arena_free();
}

/* A test-side writer without the encoder's checks, for bytes the encoder would refuse. */
static size_t
raw_cell(unsigned char *p, const struct pb_cell *c)
{
    size_t n = 0;
    uint64_t u;
    int i;

    p[n++] = 0x03;
    p[n++] = 0x04;
    p[n++] = (unsigned char)c->name_len, p[n++] = 0, p[n++] = 0, p[n++] = 0;
    memcpy(p + n, c->name, c->name_len);
    n += c->name_len;
    if (c->has_value) {
        /* only the fixed-size and marker types are used here */
        size_t vlen = c->value.type <= PB_DOUBLE ? 9 : c->value.type == PB_BOOLEAN ? 2 : 1;

        p[n++] = 0x05;
        p[n++] = (unsigned char)vlen, p[n++] = 0, p[n++] = 0, p[n++] = 0;
        p[n++] = (unsigned char)c->value.type;
        if (c->value.type == PB_DOUBLE)
            memcpy(&u, &c->value.u.d, 8);
        else
            u = c->value.type == PB_BOOLEAN ? c->value.u.b : (uint64_t)c->value.u.i;
        for (i = 0; i < (int)vlen - 1; i++)
            p[n++] = (unsigned char)(u >> (8 * i));
    }
    if (c->op != PB_OP_PUT) {
        p[n++] = 0x06;
        p[n++] = (unsigned char)c->op;
    }
    if (c->has_ts) {
        p[n++] = 0x07;
        u = (uint64_t)c->ts;
        for (i = 0; i < 8; i++)
            p[n++] = (unsigned char)(u >> (8 * i));
    }
    p[n++] = 0x0a;
    p[n++] = plainbuffer_cell_checksum(c);
    return n;
}

/* Cells that are well-formed bytes but wrong for their place, with valid checksums. */
static void
test_refusals_semantic(void **state)
{
    static const struct {
        struct pb_cell cell;
        bool key;
        const char *words;
    } cases[] = {
        {{.name = "k", .name_len = 1, .has_value = true, .value = {.type = PB_DOUBLE}}, true,
         "value type not allowed in a key"},
        {{.name = "k", .name_len = 1, .has_value = true, .value = {.type = PB_INTEGER},
          .has_ts = true, .ts = 5}, true, "key cell with a timestamp"},
        {{.name = "k", .name_len = 1, .has_value = true, .value = {.type = PB_INTEGER},
          .op = PB_OP_INCREMENT}, true, "key cell with an operation type"},
        {{.name = "k", .name_len = 1}, true, "key cell without a value"},
        {{.name = "a", .name_len = 1, .has_value = true, .value = {.type = PB_INF_MIN}}, false,
         "value type not allowed in an attribute"},
        {{.name = "a", .name_len = 1}, false, "without a value or an operation type"},
        {{.name = "a", .name_len = 1, .has_value = true, .value = {.type = PB_INTEGER},
          .has_ts = true, .ts = -1}, false, "negative timestamp"},
        {{.name = "a", .name_len = 1, .op = PB_OP_DELETE_ONE}, false,
         "delete-one-version cell without a timestamp"},
        {{.name = "a", .name_len = 1, .has_value = true, .value = {.type = PB_INTEGER},
          .has_ts = true, .ts = 1, .op = PB_OP_DELETE_ONE}, false,
         "delete-one-version cell with a value"},
        {{.name = "a", .name_len = 1, .has_value = true, .value = {.type = PB_INTEGER},
          .op = PB_OP_DELETE_ALL}, false, "delete-all-versions cell with a value"},
        {{.name = "a", .name_len = 1, .has_value = true, .value = {.type = PB_DOUBLE},
          .op = PB_OP_INCREMENT}, false, "increment cell without an INTEGER value"},
        {{.name = "", .name_len = 0, .has_value = true, .value = {.type = PB_INTEGER}}, false,
         "empty column name"},
    };
    struct pb_cell ok_key = {.name = "k", .name_len = 1, .has_value = true,
                             .value = {.type = PB_INTEGER}};
    struct otsync_err err = {0};
    struct pb_rows rows;
    struct pb_buf b;
    struct pb_row row;
    unsigned char p[128];
    size_t i, n, at;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* the encoder refuses the row and leaves the buffer as it was */
        memset(&row, 0, sizeof(row));
        row.pk = cases[i].key ? &cases[i].cell : &ok_key;
        row.pk_count = 1;
        row.attrs = cases[i].key ? NULL : &cases[i].cell;
        row.attr_count = cases[i].key ? 0 : 1;
        plainbuffer_buf_init(&b, 0);
        assert_int_equal(plainbuffer_encode_rows(&b, &row, 1, &err), -OTSYNC_EINVAL);
        if (!strstr(err.msg, cases[i].words))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].words);
        assert_int_equal(b.len, 0);
        plainbuffer_buf_fini(&b);
        /* the same row as bytes with right checksums: refused at the cell, for that reason */
        n = 0;
        p[n++] = 0x75, p[n++] = 0, p[n++] = 0, p[n++] = 0;
        p[n++] = 0x01;
        at = n;
        n += raw_cell(p + n, row.pk);
        if (!cases[i].key) {
            p[n++] = 0x02;
            at = n;
            n += raw_cell(p + n, row.attrs);
        }
        p[n++] = 0x09;
        p[n++] = plainbuffer_row_checksum(&row);
        assert_true(plainbuffer_decode_row(p, n, &rows, &err) < 0);
        assert_int_equal(err.code, OTSYNC_EPROTO);
        if (!strstr(err.msg, cases[i].words))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].words);
        snprintf((char *)p, sizeof(p), "offset %zu:", at);
        if (!strstr(err.msg, (char *)p))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, (char *)p);
    }
    /* what reading tolerates and writing does not: a timestamp on increment and delete-all */
    {
        struct pb_cell inc = {.name = "a", .name_len = 1, .has_value = true,
                              .value = {.type = PB_INTEGER, .u.i = 1}, .has_ts = true, .ts = 7,
                              .op = PB_OP_INCREMENT};
        memset(&row, 0, sizeof(row));
        row.pk = &ok_key;
        row.pk_count = 1;
        row.attrs = &inc;
        row.attr_count = 1;
        plainbuffer_buf_init(&b, 0);
        assert_int_equal(plainbuffer_encode_rows(&b, &row, 1, &err), -OTSYNC_EINVAL);
        assert_non_null(strstr(err.msg, "increment cell with a timestamp"));
        plainbuffer_buf_fini(&b);
        n = 0;
        p[n++] = 0x75, p[n++] = 0, p[n++] = 0, p[n++] = 0, p[n++] = 0x01;
        n += raw_cell(p + n, &ok_key);
        p[n++] = 0x02;
        n += raw_cell(p + n, &inc);
        p[n++] = 0x09;
        p[n++] = plainbuffer_row_checksum(&row);
        if (plainbuffer_decode_row(p, n, &rows, &err) < 0)
            fail_msg("%s", err.msg);
        assert_true(rows.rows[0].attrs[0].has_ts);
        assert_int_equal(rows.rows[0].attrs[0].op, PB_OP_INCREMENT);
        plainbuffer_rows_fini(&rows);
    }
}

static void
test_extension(void **state)
{
    /* the DELETE_ROW stream record with an unknown item (0x10, 2 bytes) added to its extension:
     * skipped, since the extension is outside the row checksum */
    static const char with_unknown[] =
        "7500000001030402000000706b050e0000000309000000757365725f303030310a51080b1f0000001002000"
        "000abcd0c130000000d010000000e55502118240a06000f02000000091e";
    struct otsync_err err = {0};
    struct pb_rows rows;
    const unsigned char *bytes;
    size_t len;

    (void)state;
    bytes = unhex(with_unknown, &len);
    if (plainbuffer_decode_row(bytes, len, &rows, &err) < 0)
        fail_msg("%s", err.msg);
    assert_true(rows.rows[0].has_seq);
    assert_true(rows.rows[0].deleted);
    assert_int_equal(rows.rows[0].seq.row_index, 2);
    assert_int_equal(rows.rows[0].seq.ts_us, 1700000000200789LL);
    plainbuffer_rows_fini(&rows);
    /* the extension's length points past the end; an item's past the extension; bad SEQ_INFO */
    expect_refusal("7500000001080b1800000000", OTSYNC_EPROTO, 11, "extension needs 24 bytes");
    expect_refusal("7500000001080b050000000cff00000000", OTSYNC_EPROTO, 11,
                   "extension item 0x0c of 255 bytes runs past");
    expect_refusal("7500000001080b090000000c04000000aabbccdd", OTSYNC_EPROTO, 16,
                   "sequence info of 4 bytes, expected 19");
    expect_refusal("7500000001080b180000000c130000000e010000000e55502118240a06000f0200000009"
                   "1e", OTSYNC_EPROTO, 16, "tag 0x0e where the epoch (0x0d) belongs");
    arena_free();
}

static void
test_encode_limits(void **state)
{
    struct pb_cell key = {.name = "id", .name_len = 2, .has_value = true,
                          .value = {.type = PB_INTEGER, .u.i = 1}};
    struct pb_row row = {.pk = &key, .pk_count = 1};
    struct otsync_err err = {0};
    struct pb_value v = {.type = (enum pb_type)0x06};
    struct pb_buf b;

    (void)state;
    /* header 4 + ROW_PK 1 + cell 24 + checksum 2 = 31 bytes: a 30-byte cap refuses it */
    plainbuffer_buf_init(&b, 30);
    assert_int_equal(plainbuffer_encode_rows(&b, &row, 1, &err), -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "cap of 30"));
    assert_int_equal(b.len, 0);
    plainbuffer_buf_fini(&b);
    plainbuffer_buf_init(&b, 31);
    assert_int_equal(plainbuffer_encode_rows(&b, &row, 1, &err), 0);
    assert_int_equal(b.len, 31);
    /* count 0 is the empty block: nothing at all */
    assert_int_equal(plainbuffer_encode_rows(&b, &row, 0, &err), 0);
    assert_int_equal(b.len, 31);
    plainbuffer_buf_fini(&b);
    plainbuffer_buf_init(&b, 0);
    assert_int_equal(plainbuffer_encode_value(&b, &v, &err), -OTSYNC_EINVAL);
    plainbuffer_buf_fini(&b);
}

/* Mutations of every vector row and random tails: refused or accepted, never read past. */
static void
test_fuzz(void **state)
{
    static const char *const seeds[] = {
        minimal_hex,
        "7500000001030402000000706b050e0000000309000000757365725f303030310a5102030403000000737472"
        "050800000003030000006e6577076468e5cf8b0100000a810304030000006f6c640603070068e5cf8b010000"
        "0a6f030404000000676f6e6506010a580b180000000c130000000d010000000e68c81f18240a06000f010000"
        "000999",
        "7500000001030402000000706b05060000000301000000610ad402030401000000760509000000000100000000"
        "000000070068e5cf8b0100000a20092a01030402000000706b05060000000301000000620add02030401000000"
        "7605060000000301000000780a8d09e1",
    };
    struct otsync_err err;
    struct pb_rows rows;
    struct pb_value v;
    const unsigned char *seed;
    unsigned char *buf;
    size_t len, i, n, k, accepted = 0;
    unsigned rnd = 12345;

    (void)state;
    for (i = 0; i < 60000; i++) {
        seed = unhex(seeds[i % 3], &len);
        n = len;
        buf = malloc(n);
        memcpy(buf, seed, n);
        for (k = 0; k < 1 + i % 4; k++) {
            rnd = rnd * 1103515245u + 12345u;
            buf[(rnd >> 8) % n] = (unsigned char)(rnd >> 20);
        }
        rnd = rnd * 1103515245u + 12345u;
        if (rnd & 0x100)
            n = (rnd >> 9) % len;           /* and cut, so a length may point past the end */
        if (plainbuffer_decode_rows(buf, n, &rows, &err) == 0) {
            accepted++;
            plainbuffer_rows_fini(&rows);
        } else {
            assert_non_null(strstr(err.msg, "offset "));
        }
        if (plainbuffer_decode_row(buf, n, &rows, &err) == 0)
            plainbuffer_rows_fini(&rows);
        if (plainbuffer_decode_value(buf + (n > 4 ? 4 : 0), n > 4 ? n - 4 : 0, &v, &err) < 0)
            assert_non_null(strstr(err.msg, "offset "));
        free(buf);
        arena_free();
    }
    /* mutations of unchecked bytes (extension contents, padding) still decode */
    assert_true(accepted > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc8),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_pk3_range),
        cmocka_unit_test(test_filter_values),
        cmocka_unit_test(test_stream_records),
        cmocka_unit_test(test_getrange_response),
        cmocka_unit_test(test_protobuf_getrange),
        cmocka_unit_test(test_protobuf_getrange_backward_filter),
        cmocka_unit_test(test_protobuf_batchwriterow),
        cmocka_unit_test(test_protobuf_putrow_exchange),
        cmocka_unit_test(test_protobuf_required),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_refusals_semantic),
        cmocka_unit_test(test_extension),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
