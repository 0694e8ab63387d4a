/*
 * plainbuffer.c - PlainBuffer rows to and from bytes (tablestore.md section 3).
 *
 * The encoder checks every row, sizes the whole output, reserves it once and then writes
 * without further checks, so a refused row leaves the buffer as it was. The decoder trusts no
 * length: each read is checked against the bytes left before it happens, and every refusal
 * names the offset of the fault. What rows mean for a table is the caller's business.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/plainbuffer.h"

#define HEADER 0x75u
#define HEADER_LEN 4

enum {
    TAG_ROW_PK = 0x01,
    TAG_ROW_DATA = 0x02,
    TAG_CELL = 0x03,
    TAG_CELL_NAME = 0x04,
    TAG_CELL_VALUE = 0x05,
    TAG_CELL_TYPE = 0x06,
    TAG_CELL_TS = 0x07,
    TAG_DELETE_ROW = 0x08,
    TAG_ROW_CHECKSUM = 0x09,
    TAG_CELL_CHECKSUM = 0x0a,
    TAG_EXTENSION = 0x0b,
    TAG_SEQ_INFO = 0x0c,
    TAG_SEQ_EPOCH = 0x0d,
    TAG_SEQ_TS = 0x0e,
    TAG_SEQ_ROW_INDEX = 0x0f,
};

/* SEQ_INFO's three items: 0d + u32, 0e + i64, 0f + u32 */
#define SEQ_INFO_LEN 19u
/* the extension as written: 0c + u32 + the items */
#define EXTENSION_LEN (1u + 4u + SEQ_INFO_LEN)

/* CRC-8, polynomial 0x07, MSB first: table[i] is i run through the eight shift steps */
static const uint8_t crc8_table[256] = {
    0x00, 0x07, 0x0e, 0x09, 0x1c, 0x1b, 0x12, 0x15, 0x38, 0x3f, 0x36, 0x31,
    0x24, 0x23, 0x2a, 0x2d, 0x70, 0x77, 0x7e, 0x79, 0x6c, 0x6b, 0x62, 0x65,
    0x48, 0x4f, 0x46, 0x41, 0x54, 0x53, 0x5a, 0x5d, 0xe0, 0xe7, 0xee, 0xe9,
    0xfc, 0xfb, 0xf2, 0xf5, 0xd8, 0xdf, 0xd6, 0xd1, 0xc4, 0xc3, 0xca, 0xcd,
    0x90, 0x97, 0x9e, 0x99, 0x8c, 0x8b, 0x82, 0x85, 0xa8, 0xaf, 0xa6, 0xa1,
    0xb4, 0xb3, 0xba, 0xbd, 0xc7, 0xc0, 0xc9, 0xce, 0xdb, 0xdc, 0xd5, 0xd2,
    0xff, 0xf8, 0xf1, 0xf6, 0xe3, 0xe4, 0xed, 0xea, 0xb7, 0xb0, 0xb9, 0xbe,
    0xab, 0xac, 0xa5, 0xa2, 0x8f, 0x88, 0x81, 0x86, 0x93, 0x94, 0x9d, 0x9a,
    0x27, 0x20, 0x29, 0x2e, 0x3b, 0x3c, 0x35, 0x32, 0x1f, 0x18, 0x11, 0x16,
    0x03, 0x04, 0x0d, 0x0a, 0x57, 0x50, 0x59, 0x5e, 0x4b, 0x4c, 0x45, 0x42,
    0x6f, 0x68, 0x61, 0x66, 0x73, 0x74, 0x7d, 0x7a, 0x89, 0x8e, 0x87, 0x80,
    0x95, 0x92, 0x9b, 0x9c, 0xb1, 0xb6, 0xbf, 0xb8, 0xad, 0xaa, 0xa3, 0xa4,
    0xf9, 0xfe, 0xf7, 0xf0, 0xe5, 0xe2, 0xeb, 0xec, 0xc1, 0xc6, 0xcf, 0xc8,
    0xdd, 0xda, 0xd3, 0xd4, 0x69, 0x6e, 0x67, 0x60, 0x75, 0x72, 0x7b, 0x7c,
    0x51, 0x56, 0x5f, 0x58, 0x4d, 0x4a, 0x43, 0x44, 0x19, 0x1e, 0x17, 0x10,
    0x05, 0x02, 0x0b, 0x0c, 0x21, 0x26, 0x2f, 0x28, 0x3d, 0x3a, 0x33, 0x34,
    0x4e, 0x49, 0x40, 0x47, 0x52, 0x55, 0x5c, 0x5b, 0x76, 0x71, 0x78, 0x7f,
    0x6a, 0x6d, 0x64, 0x63, 0x3e, 0x39, 0x30, 0x37, 0x22, 0x25, 0x2c, 0x2b,
    0x06, 0x01, 0x08, 0x0f, 0x1a, 0x1d, 0x14, 0x13, 0xae, 0xa9, 0xa0, 0xa7,
    0xb2, 0xb5, 0xbc, 0xbb, 0x96, 0x91, 0x98, 0x9f, 0x8a, 0x8d, 0x84, 0x83,
    0xde, 0xd9, 0xd0, 0xd7, 0xc2, 0xc5, 0xcc, 0xcb, 0xe6, 0xe1, 0xe8, 0xef,
    0xfa, 0xfd, 0xf4, 0xf3,
};

/*
 * Slicing-by-8: slice[k][x] is the CRC of byte x followed by k zero bytes, so eight input
 * bytes fold in with eight lookups that do not wait on each other. Serving a GetRange page
 * checksums every value it returns; this keeps that from being the emulator's bottleneck.
 */
static uint8_t crc8_slice[8][256];
static pthread_once_t crc8_once = PTHREAD_ONCE_INIT;

static void
crc8_slices_init(void)
{
    unsigned k, x;

    for (x = 0; x < 256; x++) {
        crc8_slice[0][x] = crc8_table[x];
        for (k = 1; k < 8; k++)
            crc8_slice[k][x] = crc8_table[crc8_slice[k - 1][x]];
    }
}

uint8_t
plainbuffer_crc8(uint8_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    if (len >= 16) {
        pthread_once(&crc8_once, crc8_slices_init);
        while (len >= 8) {
            crc = crc8_slice[7][crc ^ p[0]] ^ crc8_slice[6][p[1]] ^ crc8_slice[5][p[2]]
                  ^ crc8_slice[4][p[3]] ^ crc8_slice[3][p[4]] ^ crc8_slice[2][p[5]]
                  ^ crc8_slice[1][p[6]] ^ crc8_slice[0][p[7]];
            p += 8;
            len -= 8;
        }
    }
    while (len--)
        crc = crc8_table[crc ^ *p++];
    return crc;
}

static void
le32(unsigned char *out, uint32_t v)
{
    out[0] = (unsigned char)v;
    out[1] = (unsigned char)(v >> 8);
    out[2] = (unsigned char)(v >> 16);
    out[3] = (unsigned char)(v >> 24);
}

static void
le64(unsigned char *out, uint64_t v)
{
    le32(out, (uint32_t)v);
    le32(out + 4, (uint32_t)(v >> 32));
}

static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t
double_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static bool
key_type(enum pb_type t)
{
    return t == PB_INTEGER || t == PB_STRING || t == PB_BINARY || t == PB_INF_MIN
           || t == PB_INF_MAX || t == PB_AUTO_INCREMENT;
}

static bool
attr_type(enum pb_type t)
{
    return t == PB_INTEGER || t == PB_DOUBLE || t == PB_BOOLEAN || t == PB_STRING
           || t == PB_BINARY;
}

static const char *
type_name(enum pb_type t)
{
    switch (t) {
    case PB_INTEGER: return "INTEGER";
    case PB_DOUBLE: return "DOUBLE";
    case PB_BOOLEAN: return "BOOLEAN";
    case PB_STRING: return "STRING";
    case PB_BINARY: return "BINARY";
    case PB_INF_MIN: return "INF_MIN";
    case PB_INF_MAX: return "INF_MAX";
    case PB_AUTO_INCREMENT: return "AUTO_INCREMENT";
    }
    return "unknown";
}

/*
 * What is wrong with a cell for its place (section 3.7), or NULL. Writing is stricter than
 * reading: JS and PY put a timestamp on increment cells and the service takes them, but the
 * document says to keep it off; a timestamp on delete-all is meaningless, so only tolerated.
 */
static const char *
cell_fault(const struct pb_cell *c, bool key, bool writing)
{
    if (c->name_len == 0)
        return "empty column name";
    if (c->has_ts && c->ts < 0)
        return "negative timestamp";
    if (key) {
        if (!c->has_value)
            return "key cell without a value";
        if (!key_type(c->value.type))
            return "value type not allowed in a key";
        if (c->op != PB_OP_PUT)
            return "key cell with an operation type";
        if (c->has_ts)
            return "key cell with a timestamp";
        return NULL;
    }
    switch (c->op) {
    case PB_OP_PUT:
        if (!c->has_value)
            return "attribute cell without a value or an operation type";
        if (!attr_type(c->value.type))
            return "value type not allowed in an attribute";
        return NULL;
    case PB_OP_INCREMENT:
        if (!c->has_value || c->value.type != PB_INTEGER)
            return "increment cell without an INTEGER value";
        if (writing && c->has_ts)
            return "increment cell with a timestamp";
        return NULL;
    case PB_OP_DELETE_ONE:
        if (c->has_value)
            return "delete-one-version cell with a value";
        if (!c->has_ts)
            return "delete-one-version cell without a timestamp";
        return NULL;
    case PB_OP_DELETE_ALL:
        if (c->has_value)
            return "delete-all-versions cell with a value";
        if (writing && c->has_ts)
            return "delete-all-versions cell with a timestamp";
        return NULL;
    }
    return "unknown operation type";
}

/* ---- checksums ---- */

/* Bytes of a variant after its type byte, up to the STRING/BINARY data: the payload head. */
static size_t
variant_head(const struct pb_value *v, unsigned char out[9])
{
    out[0] = (unsigned char)v->type;
    switch (v->type) {
    case PB_INTEGER:
        le64(out + 1, (uint64_t)v->u.i);
        return 9;
    case PB_DOUBLE:
        le64(out + 1, double_bits(v->u.d));
        return 9;
    case PB_BOOLEAN:
        out[1] = v->u.b ? 1 : 0;
        return 2;
    case PB_STRING:
    case PB_BINARY:
        le32(out + 1, v->u.bytes.len);
        return 5;
    case PB_INF_MIN:
    case PB_INF_MAX:
    case PB_AUTO_INCREMENT:
        break;
    }
    return 1;
}

static bool
has_data(const struct pb_value *v)
{
    return v->type == PB_STRING || v->type == PB_BINARY;
}

uint8_t
plainbuffer_cell_checksum(const struct pb_cell *cell)
{
    unsigned char head[9], ts[8], op;
    uint8_t crc;

    crc = plainbuffer_crc8(0, cell->name, cell->name_len);
    if (cell->has_value) {
        crc = plainbuffer_crc8(crc, head, variant_head(&cell->value, head));
        if (has_data(&cell->value))
            crc = plainbuffer_crc8(crc, cell->value.u.bytes.ptr, cell->value.u.bytes.len);
    }
    /* the timestamp before the type byte, the reverse of their order on the wire */
    if (cell->has_ts) {
        le64(ts, (uint64_t)cell->ts);
        crc = plainbuffer_crc8(crc, ts, sizeof(ts));
    }
    if (cell->op != PB_OP_PUT) {
        op = (unsigned char)cell->op;
        crc = plainbuffer_crc8(crc, &op, 1);
    }
    return crc;
}

uint8_t
plainbuffer_row_checksum(const struct pb_row *row)
{
    unsigned char c;
    uint8_t crc = 0;
    size_t i;

    for (i = 0; i < row->pk_count; i++) {
        c = plainbuffer_cell_checksum(&row->pk[i]);
        crc = plainbuffer_crc8(crc, &c, 1);
    }
    for (i = 0; i < row->attr_count; i++) {
        c = plainbuffer_cell_checksum(&row->attrs[i]);
        crc = plainbuffer_crc8(crc, &c, 1);
    }
    c = row->deleted ? 1 : 0;
    return plainbuffer_crc8(crc, &c, 1);
}

/* ---- encoder ---- */

void
plainbuffer_buf_init(struct pb_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max ? max : SIZE_MAX;
}

void
plainbuffer_buf_fini(struct pb_buf *b)
{
    free(b->data);
    plainbuffer_buf_init(b, b->max);
}

static int
buf_reserve(struct pb_buf *b, size_t n, struct otsync_err *err)
{
    unsigned char *p;
    size_t want;

    if (n > b->max - b->len)
        return otsync_err_set(err, OTSYNC_EINVAL, "plainbuffer: %zu more bytes would exceed the "
                              "buffer cap of %zu", n, b->max);
    if (b->len + n <= b->alloc)
        return 0;
    want = b->alloc ? b->alloc : 256;
    while (want < b->len + n)
        want = want > SIZE_MAX / 2 ? b->len + n : want * 2;
    if (want > b->max)
        want = b->max;
    if (!(p = realloc(b->data, want)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "plainbuffer: out of memory for %zu bytes",
                              want);
    b->data = p;
    b->alloc = want;
    return 0;
}

/* The writers below run after buf_reserve made room for the whole output. */
static void
put8(struct pb_buf *b, unsigned v)
{
    b->data[b->len++] = (unsigned char)v;
}

static void
put32(struct pb_buf *b, uint32_t v)
{
    le32(b->data + b->len, v);
    b->len += 4;
}

static void
put64(struct pb_buf *b, uint64_t v)
{
    le64(b->data + b->len, v);
    b->len += 8;
}

static void
put_bytes(struct pb_buf *b, const void *p, size_t n)
{
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* Checked add for sizes; sets *ok false on overflow. */
static size_t
add(size_t a, size_t n, bool *ok)
{
    if (n > SIZE_MAX - a) {
        *ok = false;
        return 0;
    }
    return a + n;
}

/* Length of a variant (type byte + payload), or 0 when it cannot be written. */
static size_t
value_len(const struct pb_value *v)
{
    unsigned char head[9];

    if (!key_type(v->type) && !attr_type(v->type))
        return 0;
    if (!has_data(v))
        return variant_head(v, head);
    /* the cell's outer u32 length covers type, inner length and data */
    if (v->u.bytes.len > UINT32_MAX - 5 || (v->u.bytes.len && !v->u.bytes.ptr))
        return 0;
    return 5 + (size_t)v->u.bytes.len;
}

static int
check_cell(const struct pb_cell *c, bool key, size_t row, size_t idx, size_t *size,
           struct otsync_err *err)
{
    const char *fault;
    size_t n = 0;
    bool ok = true;

    if (!(fault = cell_fault(c, key, true)) && (!c->name || c->name_len > UINT32_MAX))
        fault = "column name missing or too long";
    if (!fault && c->has_value && !(n = value_len(&c->value)))
        fault = "value cannot be encoded";
    if (fault)
        return otsync_err_set(err, OTSYNC_EINVAL, "plainbuffer: row %zu, %s cell %zu: %s", row,
                              key ? "key" : "attribute", idx, fault);
    /* CELL, CELL_NAME + u32 + name, [CELL_VALUE + u32 + variant], [type], [ts], checksum */
    *size = add(*size, 1 + 5 + 2, &ok);
    *size = add(*size, c->name_len, &ok);
    if (c->has_value)
        *size = add(*size, 5 + n, &ok);
    if (c->op != PB_OP_PUT)
        *size = add(*size, 2, &ok);
    if (c->has_ts)
        *size = add(*size, 9, &ok);
    if (!ok)
        return otsync_err_set(err, OTSYNC_EINVAL, "plainbuffer: row %zu is too large", row);
    return 0;
}

/* Writes the cell and returns its checksum, which the row's checksum folds in. */
static uint8_t
write_cell(struct pb_buf *b, const struct pb_cell *c)
{
    unsigned char head[9];
    uint8_t crc = plainbuffer_cell_checksum(c);
    size_t n;

    put8(b, TAG_CELL);
    put8(b, TAG_CELL_NAME);
    put32(b, (uint32_t)c->name_len);
    put_bytes(b, c->name, c->name_len);
    if (c->has_value) {
        n = variant_head(&c->value, head);
        put8(b, TAG_CELL_VALUE);
        put32(b, (uint32_t)(n + (has_data(&c->value) ? c->value.u.bytes.len : 0)));
        put_bytes(b, head, n);
        if (has_data(&c->value))
            put_bytes(b, c->value.u.bytes.ptr, c->value.u.bytes.len);
    }
    if (c->op != PB_OP_PUT) {
        put8(b, TAG_CELL_TYPE);
        put8(b, c->op);
    }
    if (c->has_ts) {
        put8(b, TAG_CELL_TS);
        put64(b, (uint64_t)c->ts);
    }
    put8(b, TAG_CELL_CHECKSUM);
    put8(b, crc);
    return crc;
}

static void
write_row(struct pb_buf *b, const struct pb_row *row)
{
    unsigned char c;
    uint8_t crc = 0;
    size_t i;

    /* the row checksum of section 3.5, from the cell checksums as they are written */
    put8(b, TAG_ROW_PK);
    for (i = 0; i < row->pk_count; i++) {
        c = write_cell(b, &row->pk[i]);
        crc = crc8_table[crc ^ c];
    }
    if (row->attr_count) {
        put8(b, TAG_ROW_DATA);
        for (i = 0; i < row->attr_count; i++) {
            c = write_cell(b, &row->attrs[i]);
            crc = crc8_table[crc ^ c];
        }
    }
    if (row->deleted)
        put8(b, TAG_DELETE_ROW);
    if (row->has_seq) {
        put8(b, TAG_EXTENSION);
        put32(b, EXTENSION_LEN);
        put8(b, TAG_SEQ_INFO);
        put32(b, SEQ_INFO_LEN);
        put8(b, TAG_SEQ_EPOCH);
        put32(b, row->seq.epoch);
        put8(b, TAG_SEQ_TS);
        put64(b, (uint64_t)row->seq.ts_us);
        put8(b, TAG_SEQ_ROW_INDEX);
        put32(b, row->seq.row_index);
    }
    put8(b, TAG_ROW_CHECKSUM);
    put8(b, crc8_table[crc ^ (row->deleted ? 1 : 0)]);
}

int
plainbuffer_encode_rows(struct pb_buf *b, const struct pb_row *rows, size_t count,
                        struct otsync_err *err)
{
    size_t size = HEADER_LEN, r, i;
    bool ok = true;
    int rc;

    if (count == 0)
        return 0;
    for (r = 0; r < count; r++) {
        const struct pb_row *row = &rows[r];

        if ((row->pk_count && !row->pk) || (row->attr_count && !row->attrs))
            return otsync_err_set(err, OTSYNC_EINVAL, "plainbuffer: row %zu: cells missing", r);
        /* ROW_PK, [ROW_DATA], [marker], [extension], ROW_CHECKSUM + crc: exactly, so the cap
         * refuses only what would not fit */
        size = add(size, 1 + (row->attr_count ? 1 : 0) + (row->deleted ? 1 : 0) + 2, &ok);
        if (row->has_seq)
            size = add(size, 5 + EXTENSION_LEN, &ok);
        for (i = 0; i < row->pk_count; i++)
            if ((rc = check_cell(&row->pk[i], true, r, i, &size, err)) < 0)
                return rc;
        for (i = 0; i < row->attr_count; i++)
            if ((rc = check_cell(&row->attrs[i], false, r, i, &size, err)) < 0)
                return rc;
    }
    if (!ok)
        return otsync_err_set(err, OTSYNC_EINVAL, "plainbuffer: rows too large");
    if ((rc = buf_reserve(b, size, err)) < 0)
        return rc;
    put32(b, HEADER);
    for (r = 0; r < count; r++)
        write_row(b, &rows[r]);
    return 0;
}

int
plainbuffer_encode_value(struct pb_buf *b, const struct pb_value *v, struct otsync_err *err)
{
    unsigned char head[9];
    size_t n, h;
    int rc;

    if (!(n = value_len(v)))
        return otsync_err_set(err, OTSYNC_EINVAL, "plainbuffer: %s value cannot be encoded",
                              type_name(v->type));
    if ((rc = buf_reserve(b, n, err)) < 0)
        return rc;
    h = variant_head(v, head);
    put_bytes(b, head, h);
    if (has_data(v))
        put_bytes(b, v->u.bytes.ptr, v->u.bytes.len);
    return 0;
}

/* ---- decoder ---- */

struct rd {
    const unsigned char *p;
    size_t len;
    size_t pos;
    struct otsync_err *err;
    /* cells of all rows, then the rows; row_first[i] indexes row i's first cell */
    struct pb_cell *cells;
    size_t ncells, cells_alloc;
    struct pb_row *rows;
    size_t *row_first;
    size_t nrows, rows_alloc;
};

static int OTSYNC_PRINTF(4, 5)
bad(struct rd *r, int code, size_t off, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return otsync_err_set(r->err, code, "plainbuffer: offset %zu: %s", off, msg);
}

/* Refuses unless n bytes are left at the current position; what names the item wanted. */
static int
need(struct rd *r, size_t n, const char *what)
{
    if (n > r->len - r->pos)
        return bad(r, OTSYNC_EPROTO, r->pos, "%s needs %zu bytes, %zu left", what, n,
                   r->len - r->pos);
    return 0;
}

/* The byte at the current position, or -1 at the end. */
static int
peek(const struct rd *r)
{
    return r->pos < r->len ? r->p[r->pos] : -1;
}

static bool
only_zeros(const struct rd *r)
{
    size_t i;

    for (i = r->pos; i < r->len; i++)
        if (r->p[i])
            return false;
    return true;
}

/* Room for one more cell; arrays double so a hostile row of many cells costs O(n). */
static int
grow_cells(struct rd *r)
{
    size_t want = r->cells_alloc ? r->cells_alloc * 2 : 16;
    struct pb_cell *p;

    if (r->ncells < r->cells_alloc)
        return 0;
    if (want > SIZE_MAX / sizeof(*p) || !(p = realloc(r->cells, want * sizeof(*p))))
        return otsync_err_set(r->err, OTSYNC_ENOMEM, "plainbuffer: out of memory at %zu cells",
                              r->ncells);
    r->cells = p;
    r->cells_alloc = want;
    return 0;
}

static int
grow_rows(struct rd *r)
{
    size_t want = r->rows_alloc ? r->rows_alloc * 2 : 4;
    struct pb_row *p;
    size_t *f;

    if (r->nrows < r->rows_alloc)
        return 0;
    if (want > SIZE_MAX / sizeof(*p))
        goto fail;
    if (!(p = realloc(r->rows, want * sizeof(*p))))
        goto fail;
    r->rows = p;
    if (!(f = realloc(r->row_first, want * sizeof(*f))))
        goto fail;
    r->row_first = f;
    r->rows_alloc = want;
    return 0;
fail:
    return otsync_err_set(r->err, OTSYNC_ENOMEM, "plainbuffer: out of memory at %zu rows",
                          r->nrows);
}

/*
 * Parses one variant filling [pos, end) exactly; off is where its length field (or, for a bare
 * variant, the variant itself) starts, for messages.
 */
static int
read_variant(struct rd *r, size_t end, size_t off, struct pb_value *v)
{
    size_t at = r->pos, n = end - r->pos;
    const unsigned char *q;
    uint64_t bits;
    uint32_t inner;

    if (n == 0)
        return bad(r, OTSYNC_EPROTO, off, "value of length 0 has no type byte");
    q = r->p + at;
    v->type = (enum pb_type)q[0];
    switch (q[0]) {
    case PB_INTEGER:
    case PB_DOUBLE:
        if (n != 9)
            return bad(r, OTSYNC_EPROTO, off, "%s value takes 9 bytes, length says %zu",
                       type_name(v->type), n);
        bits = get64(q + 1);
        if (q[0] == PB_INTEGER)
            v->u.i = (int64_t)bits;
        else
            memcpy(&v->u.d, &bits, sizeof(bits));
        break;
    case PB_BOOLEAN:
        if (n != 2)
            return bad(r, OTSYNC_EPROTO, off, "BOOLEAN value takes 2 bytes, length says %zu", n);
        if (q[1] > 1)
            return bad(r, OTSYNC_EPROTO, at + 1, "BOOLEAN byte 0x%02x is neither 0 nor 1", q[1]);
        v->u.b = q[1] == 1;
        break;
    case PB_STRING:
    case PB_BINARY:
        if (n < 5)
            return bad(r, OTSYNC_EPROTO, off, "%s value of %zu bytes has no room for its length",
                       type_name(v->type), n);
        inner = get32(q + 1);
        if (inner != n - 5)
            return bad(r, OTSYNC_EPROTO, at + 1, "%s length %u disagrees with the %zu bytes "
                       "the value holds", type_name(v->type), inner, n - 5);
        v->u.bytes.ptr = q + 5;
        v->u.bytes.len = inner;
        break;
    case PB_INF_MIN:
    case PB_INF_MAX:
    case PB_AUTO_INCREMENT:
        if (n != 1)
            return bad(r, OTSYNC_EPROTO, off, "%s value takes 1 byte, length says %zu",
                       type_name(v->type), n);
        break;
    default:
        return bad(r, OTSYNC_EPROTO, at, "unknown value type 0x%02x", q[0]);
    }
    r->pos = end;
    return 0;
}

static int
read_cell(struct rd *r, bool key, struct pb_cell *c, uint8_t *ret_crc)
{
    size_t at = r->pos, off, vstart = 0, vlen = 0, tsat = 0;
    const char *fault;
    uint32_t n;
    uint8_t crc;
    int rc;

    memset(c, 0, sizeof(*c));
    r->pos++;                                   /* CELL */
    if (peek(r) != TAG_CELL_NAME)
        return peek(r) < 0 ? bad(r, OTSYNC_EPROTO, r->pos, "cell ends before its name")
                           : bad(r, OTSYNC_EPROTO, r->pos, "tag 0x%02x where a cell name "
                                 "(0x04) belongs", peek(r));
    r->pos++;
    if ((rc = need(r, 4, "cell name length")) < 0)
        return rc;
    n = get32(r->p + r->pos);
    r->pos += 4;
    if ((rc = need(r, n, "cell name")) < 0)
        return rc;
    c->name = (const char *)r->p + r->pos;
    c->name_len = n;
    r->pos += n;
    if (peek(r) == TAG_CELL_VALUE) {
        off = r->pos++;
        if ((rc = need(r, 4, "cell value length")) < 0)
            return rc;
        n = get32(r->p + r->pos);
        r->pos += 4;
        if ((rc = need(r, n, "cell value")) < 0)
            return rc;
        vstart = r->pos;
        vlen = n;
        if ((rc = read_variant(r, r->pos + n, off, &c->value)) < 0)
            return rc;
        c->has_value = true;
    }
    if (peek(r) == TAG_CELL_TYPE) {
        r->pos++;
        if ((rc = need(r, 1, "cell operation type")) < 0)
            return rc;
        n = r->p[r->pos];
        if (n != PB_OP_DELETE_ALL && n != PB_OP_DELETE_ONE && n != PB_OP_INCREMENT)
            return bad(r, OTSYNC_EPROTO, r->pos, "unknown cell operation type 0x%02x", n);
        c->op = (enum pb_op)n;
        r->pos++;
    }
    if (peek(r) == TAG_CELL_TS) {
        r->pos++;
        if ((rc = need(r, 8, "cell timestamp")) < 0)
            return rc;
        tsat = r->pos;
        c->ts = (int64_t)get64(r->p + r->pos);
        c->has_ts = true;
        r->pos += 8;
    }
    if (peek(r) != TAG_CELL_CHECKSUM)
        return peek(r) < 0 ? bad(r, OTSYNC_EPROTO, r->pos, "cell ends before its checksum")
                           : bad(r, OTSYNC_EPROTO, r->pos, "tag 0x%02x where a cell checksum "
                                 "(0x0a) belongs", peek(r));
    r->pos++;
    if ((rc = need(r, 1, "cell checksum")) < 0)
        return rc;
    /* over the bytes as received, so what is checked is what was sent */
    crc = plainbuffer_crc8(0, c->name, c->name_len);
    crc = plainbuffer_crc8(crc, r->p + vstart, vlen);
    if (c->has_ts)
        crc = plainbuffer_crc8(crc, r->p + tsat, 8);
    if (c->op != PB_OP_PUT) {
        unsigned char op = (unsigned char)c->op;
        crc = plainbuffer_crc8(crc, &op, 1);
    }
    if (crc != r->p[r->pos])
        return bad(r, OTSYNC_ECORRUPT, r->pos, "cell checksum 0x%02x, computed 0x%02x",
                   r->p[r->pos], crc);
    r->pos++;
    if ((fault = cell_fault(c, key, false)))
        return bad(r, OTSYNC_EPROTO, at, "%s", fault);
    *ret_crc = crc;
    return 0;
}

/* Reads the cells after ROW_PK or ROW_DATA, folding their checksums into *crc. */
static int
read_cells(struct rd *r, bool key, size_t *ret_count, uint8_t *crc)
{
    uint8_t c = 0;
    int rc;

    while (peek(r) == TAG_CELL) {
        if ((rc = grow_cells(r)) < 0)
            return rc;
        if ((rc = read_cell(r, key, &r->cells[r->ncells], &c)) < 0)
            return rc;
        r->ncells++;
        (*ret_count)++;
        *crc = plainbuffer_crc8(*crc, &c, 1);
    }
    return 0;
}

static int
read_seq_info(struct rd *r, size_t end, struct pb_seq *seq)
{
    const unsigned char *q = r->p + r->pos;
    size_t at = r->pos;

    if (end - at != SEQ_INFO_LEN)
        return bad(r, OTSYNC_EPROTO, at, "sequence info of %zu bytes, expected %u", end - at,
                   SEQ_INFO_LEN);
    if (q[0] != TAG_SEQ_EPOCH)
        return bad(r, OTSYNC_EPROTO, at, "tag 0x%02x where the epoch (0x0d) belongs", q[0]);
    if (q[5] != TAG_SEQ_TS)
        return bad(r, OTSYNC_EPROTO, at + 5, "tag 0x%02x where the timestamp (0x0e) belongs",
                   q[5]);
    if (q[14] != TAG_SEQ_ROW_INDEX)
        return bad(r, OTSYNC_EPROTO, at + 14, "tag 0x%02x where the row index (0x0f) belongs",
                   q[14]);
    seq->epoch = get32(q + 1);
    seq->ts_us = (int64_t)get64(q + 6);
    seq->row_index = get32(q + 15);
    r->pos = end;
    return 0;
}

/* The extension: items of tag + u32 length; unknown ones are skipped, as JAVA does. */
static int
read_extension(struct rd *r, struct pb_row *row)
{
    size_t end, at, item_end;
    uint32_t n;
    int tag, rc;

    r->pos++;
    if ((rc = need(r, 4, "extension length")) < 0)
        return rc;
    n = get32(r->p + r->pos);
    r->pos += 4;
    if ((rc = need(r, n, "extension")) < 0)
        return rc;
    end = r->pos + n;
    while (r->pos < end) {
        at = r->pos;
        tag = r->p[r->pos++];
        if (end - r->pos < 4)
            return bad(r, OTSYNC_EPROTO, at, "extension item 0x%02x has no room for its length",
                       tag);
        n = get32(r->p + r->pos);
        r->pos += 4;
        if (n > end - r->pos)
            return bad(r, OTSYNC_EPROTO, at, "extension item 0x%02x of %u bytes runs past the "
                       "extension's end at offset %zu", tag, n, end);
        item_end = r->pos + n;
        if (tag != TAG_SEQ_INFO) {
            r->pos = item_end;
            continue;
        }
        if (row->has_seq)
            return bad(r, OTSYNC_EPROTO, at, "second sequence info in one row");
        if ((rc = read_seq_info(r, item_end, &row->seq)) < 0)
            return rc;
        row->has_seq = true;
    }
    return 0;
}

static int
read_row(struct rd *r)
{
    struct pb_row *row;
    unsigned char marker;
    uint8_t crc = 0;
    int rc;

    if ((rc = grow_rows(r)) < 0)
        return rc;
    row = &r->rows[r->nrows];
    memset(row, 0, sizeof(*row));
    r->row_first[r->nrows] = r->ncells;
    if (peek(r) == TAG_ROW_PK) {
        r->pos++;
        if ((rc = read_cells(r, true, &row->pk_count, &crc)) < 0)
            return rc;
    }
    if (peek(r) == TAG_ROW_DATA) {
        r->pos++;
        if ((rc = read_cells(r, false, &row->attr_count, &crc)) < 0)
            return rc;
    }
    if (peek(r) == TAG_DELETE_ROW) {
        r->pos++;
        row->deleted = true;
    }
    if (peek(r) == TAG_EXTENSION && (rc = read_extension(r, row)) < 0)
        return rc;
    if (peek(r) != TAG_ROW_CHECKSUM)
        return peek(r) < 0 ? bad(r, OTSYNC_EPROTO, r->pos, "row ends before its checksum")
                           : bad(r, OTSYNC_EPROTO, r->pos, "tag 0x%02x where the row checksum "
                                 "(0x09) belongs", peek(r));
    r->pos++;
    if ((rc = need(r, 1, "row checksum")) < 0)
        return rc;
    marker = row->deleted ? 1 : 0;
    crc = plainbuffer_crc8(crc, &marker, 1);
    if (crc != r->p[r->pos])
        return bad(r, OTSYNC_ECORRUPT, r->pos, "row checksum 0x%02x, computed 0x%02x",
                   r->p[r->pos], crc);
    r->pos++;
    r->nrows++;
    return 0;
}

static void
rd_free(struct rd *r)
{
    free(r->cells);
    free(r->rows);
    free(r->row_first);
}

static int
decode(const void *buf, size_t len, bool single, struct pb_rows *ret_rows,
       struct otsync_err *err)
{
    struct rd r = {.p = buf, .len = len, .err = err};
    size_t i;
    int rc;

    memset(ret_rows, 0, sizeof(*ret_rows));
    if (len == 0)
        return 0;
    if ((rc = need(&r, HEADER_LEN, "header")) < 0)
        return rc;
    if (get32(r.p) != HEADER)
        return bad(&r, OTSYNC_EPROTO, 0, "header %02x %02x %02x %02x, expected 75 00 00 00",
                   r.p[0], r.p[1], r.p[2], r.p[3]);
    r.pos = HEADER_LEN;
    /* the JS SDK pads with 0x00, and no row starts with 0x00, so zeros can only be padding */
    while (r.pos < r.len && !only_zeros(&r)) {
        if (single && r.nrows == 1) {
            while (!r.p[r.pos])
                r.pos++;
            rc = bad(&r, OTSYNC_EPROTO, r.pos, "byte 0x%02x after the row, where only 0x00 "
                     "padding may follow", r.p[r.pos]);
            goto fail;
        }
        if (peek(&r) != TAG_ROW_PK && peek(&r) != TAG_ROW_DATA) {
            rc = bad(&r, OTSYNC_EPROTO, r.pos, "tag 0x%02x where a row (0x01 or 0x02) should "
                     "start", r.p[r.pos]);
            goto fail;
        }
        if ((rc = read_row(&r)) < 0)
            goto fail;
    }
    if (single && r.nrows == 0) {
        rc = bad(&r, OTSYNC_EPROTO, HEADER_LEN, "no row after the header");
        goto fail;
    }
    /* rows without cells leave r.cells NULL: no pointer arithmetic on it then */
    for (i = 0; i < r.nrows && r.cells; i++) {
        r.rows[i].pk = r.cells + r.row_first[i];
        r.rows[i].attrs = r.cells + r.row_first[i] + r.rows[i].pk_count;
    }
    free(r.row_first);
    ret_rows->rows = r.rows;
    ret_rows->count = r.nrows;
    ret_rows->cells = r.cells;
    ret_rows->cell_count = r.ncells;
    return 0;
fail:
    rd_free(&r);
    return rc;
}

int
plainbuffer_decode_rows(const void *buf, size_t len, struct pb_rows *ret_rows,
                        struct otsync_err *err)
{
    return decode(buf, len, false, ret_rows, err);
}

int
plainbuffer_decode_row(const void *buf, size_t len, struct pb_rows *ret_rows,
                       struct otsync_err *err)
{
    return decode(buf, len, true, ret_rows, err);
}

void
plainbuffer_rows_fini(struct pb_rows *rows)
{
    free(rows->rows);
    free(rows->cells);
    memset(rows, 0, sizeof(*rows));
}

int
plainbuffer_decode_value(const void *buf, size_t len, struct pb_value *ret_v,
                         struct otsync_err *err)
{
    struct rd r = {.p = buf, .len = len, .err = err};

    return read_variant(&r, len, 0, ret_v);
}
