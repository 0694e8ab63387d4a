/*
 * tunnel.c - the MaxCompute tunnel record stream codec (format in tunnel.h, doc section 6).
 *
 * The protobuf primitives (tags, varints, zigzag, fixed32/64) are hand-encoded here rather
 * than taken from protobuf-c: there is no .proto for the stream, the stream is not a message,
 * and these five primitives are shorter than the glue a library would need. CRC-32C comes from
 * crc.h, deflate from zlib. Sessions, HTTP and block cutting belong to the odps writer.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include "otsync/crc.h"
#include "otsync/tunnel.h"

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5 };

/* tag (5) + count (10) + tag (5) + checksum (5): kept free so finish cannot hit the cap */
#define TRAILER_MAX 25
#define VARINT_MAX 10

/* reader states; a failed reader keeps its negative code in state instead */
enum { RD_RECORDS, RD_DONE };

static const struct {
    const char *name;
    enum tunnel_kind kind;
    int wire;
} types[TUNNEL_TYPE_COUNT_] = {
    [TUNNEL_TYPE_BIGINT] = { "bigint", TUNNEL_VAL_INT, WT_VARINT },
    [TUNNEL_TYPE_INT] = { "int", TUNNEL_VAL_INT, WT_VARINT },
    [TUNNEL_TYPE_SMALLINT] = { "smallint", TUNNEL_VAL_INT, WT_VARINT },
    [TUNNEL_TYPE_TINYINT] = { "tinyint", TUNNEL_VAL_INT, WT_VARINT },
    [TUNNEL_TYPE_DOUBLE] = { "double", TUNNEL_VAL_DOUBLE, WT_FIXED64 },
    [TUNNEL_TYPE_FLOAT] = { "float", TUNNEL_VAL_FLOAT, WT_FIXED32 },
    [TUNNEL_TYPE_BOOLEAN] = { "boolean", TUNNEL_VAL_BOOL, WT_VARINT },
    [TUNNEL_TYPE_STRING] = { "string", TUNNEL_VAL_BYTES, WT_LEN },
    [TUNNEL_TYPE_VARCHAR] = { "varchar", TUNNEL_VAL_BYTES, WT_LEN },
    [TUNNEL_TYPE_CHAR] = { "char", TUNNEL_VAL_BYTES, WT_LEN },
    [TUNNEL_TYPE_BINARY] = { "binary", TUNNEL_VAL_BYTES, WT_LEN },
    [TUNNEL_TYPE_JSON] = { "json", TUNNEL_VAL_BYTES, WT_LEN },
    [TUNNEL_TYPE_DECIMAL] = { "decimal", TUNNEL_VAL_BYTES, WT_LEN },
    [TUNNEL_TYPE_DATETIME] = { "datetime", TUNNEL_VAL_INT, WT_VARINT },
    [TUNNEL_TYPE_DATE] = { "date", TUNNEL_VAL_INT, WT_VARINT },
    [TUNNEL_TYPE_INTERVAL_YEAR_MONTH] = { "interval_year_month", TUNNEL_VAL_INT, WT_VARINT },
    [TUNNEL_TYPE_TIMESTAMP] = { "timestamp", TUNNEL_VAL_TIME, WT_LEN },
    [TUNNEL_TYPE_TIMESTAMP_NTZ] = { "timestamp_ntz", TUNNEL_VAL_TIME, WT_LEN },
    [TUNNEL_TYPE_INTERVAL_DAY_TIME] = { "interval_day_time", TUNNEL_VAL_TIME, WT_LEN },
};

static const char *const kind_names[] = {
    "null", "integer", "double", "float", "boolean", "bytes", "time",
};

const char *
tunnel_type_name(enum tunnel_type type)
{
    return (unsigned)type < TUNNEL_TYPE_COUNT_ ? types[type].name : "?";
}

enum tunnel_kind
tunnel_type_kind(enum tunnel_type type)
{
    return (unsigned)type < TUNNEL_TYPE_COUNT_ ? types[type].kind : TUNNEL_VAL_NULL;
}

static const char *
kind_name(enum tunnel_kind kind)
{
    return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : "?";
}

/* "(digits)" or "(digits,digits)" and nothing after it */
static bool
type_params_ok(const char *p, int want)
{
    int got = 0;

    if (*p++ != '(')
        return false;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
        while (*p == ' ')
            p++;
        got++;
        if (*p == ')')
            break;
        if (*p++ != ',' || got == want)
            return false;
    }
    return p[1] == '\0' && (got == want || want == 2);
}

int
tunnel_type_parse(const char *text, enum tunnel_type *ret_type, struct otsync_err *err)
{
    size_t n, i;

    for (i = 0; i < TUNNEL_TYPE_COUNT_; i++) {
        n = strlen(types[i].name);
        if (strncasecmp(text, types[i].name, n) != 0)
            continue;
        if (text[n] == '\0')
            break;
        /* decimal takes (p) or (p,s); varchar and char (n) */
        if (text[n] == '(' && (i == TUNNEL_TYPE_DECIMAL || i == TUNNEL_TYPE_VARCHAR
                               || i == TUNNEL_TYPE_CHAR)
            && type_params_ok(text + n, i == TUNNEL_TYPE_DECIMAL ? 2 : 1))
            break;
    }
    if (i == TUNNEL_TYPE_COUNT_) {
        if (!strncasecmp(text, "array", 5) || !strncasecmp(text, "map", 3)
            || !strncasecmp(text, "struct", 6))
            return otsync_err_set(err, OTSYNC_EINVAL, "column type '%s' is not supported", text);
        return otsync_err_set(err, OTSYNC_EINVAL, "unknown column type '%s'", text);
    }
    *ret_type = (enum tunnel_type)i;
    return 0;
}

static const char *
col_name(const struct tunnel_schema *s, size_t i)
{
    return s->columns[i].name ? s->columns[i].name : "?";
}

static int
schema_check(const struct tunnel_schema *s, struct otsync_err *err)
{
    size_t i;

    if (s->count > TUNNEL_COLUMNS_MAX)
        return otsync_err_set(err, OTSYNC_EINVAL, "schema has %zu columns, more than %u",
                              s->count, TUNNEL_COLUMNS_MAX);
    if (s->count && !s->columns)
        return otsync_err_set(err, OTSYNC_EINVAL, "schema has %zu columns but no array",
                              s->count);
    for (i = 0; i < s->count; i++)
        if ((unsigned)s->columns[i].type >= TUNNEL_TYPE_COUNT_)
            return otsync_err_set(err, OTSYNC_EINVAL, "column %zu '%s': bad type %d", i + 1,
                                  col_name(s, i), (int)s->columns[i].type);
    return 0;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void
put_le64(unsigned char *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get_le64(const unsigned char *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Shifts on the unsigned value: right-shifting a negative int64 is implementation-defined. */
static uint64_t
zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static int64_t
unzigzag64(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

static uint32_t
zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (v < 0 ? UINT32_MAX : 0);
}

static int32_t
unzigzag32(uint32_t u)
{
    uint32_t v = (u >> 1) ^ (0 - (u & 1));

    /* back to signed without relying on out-of-range conversion */
    return v <= INT32_MAX ? (int32_t)v : (int32_t)(v - INT32_MAX - 1) + INT32_MIN;
}

static size_t
varint_put(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static uint32_t
crc_le32(uint32_t crc, uint32_t v)
{
    unsigned char b[4];

    put_le32(b, v);
    return crc32c(crc, b, 4);
}

static uint32_t
crc_le64(uint32_t crc, uint64_t v)
{
    unsigned char b[8];

    put_le64(b, v);
    return crc32c(crc, b, 8);
}

/* ---- encoder ---------------------------------------------------------------------------- */

int
tunnel_writer_init(struct tunnel_writer *w, const struct tunnel_schema *schema, size_t max_len,
                   struct otsync_err *err)
{
    int rc;

    memset(w, 0, sizeof(*w));
    if ((rc = schema_check(schema, err)) < 0)
        return rc;
    w->schema = schema;
    w->max_len = max_len ? max_len : TUNNEL_BLOCK_MAX_DEFAULT;
    if (w->max_len < TRAILER_MAX)
        w->max_len = TRAILER_MAX;
    return 0;
}

/* Room for n more bytes; records must leave room for the trailer, the trailer itself not. */
static int
reserve(struct tunnel_writer *w, size_t n, bool trailer, struct otsync_err *err)
{
    size_t limit = w->max_len - (trailer ? 0 : TRAILER_MAX), cap;
    unsigned char *p;

    if (n > limit || w->len > limit - n)
        return otsync_err_set(err, OTSYNC_ENOMEM,
                              "record %" PRIu64 " would grow the block past its cap of %zu bytes",
                              w->count, w->max_len);
    if (w->len + n <= w->cap)
        return 0;
    cap = w->cap ? w->cap : (w->max_len < 4096 ? w->max_len : 4096);
    while (cap < w->len + n)
        cap = cap > w->max_len / 2 ? w->max_len : cap * 2;
    if (!(p = realloc(w->buf, cap)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "block buffer of %zu bytes", cap);
    w->buf = p;
    w->cap = cap;
    return 0;
}

static void
put_varint(struct tunnel_writer *w, uint64_t v)
{
    w->len += varint_put(w->buf + w->len, v);
}

static void
put_tag(struct tunnel_writer *w, uint32_t field, int wire)
{
    put_varint(w, (uint64_t)field << 3 | (unsigned)wire);
}

/* Plain notation only ("-12.30"): the doc wants what Java writes, not exponent forms. */
static bool
decimal_plain_ok(const char *p, size_t len)
{
    size_t i = 0, digits = 0;

    if (i < len && p[i] == '-')
        i++;
    while (i < len && isdigit((unsigned char)p[i]))
        i++, digits++;
    if (!digits)
        return false;
    if (i < len && p[i] == '.') {
        i++;
        digits = 0;
        while (i < len && isdigit((unsigned char)p[i]))
            i++, digits++;
        if (!digits)
            return false;
    }
    return i == len;
}

static bool
int_fits(enum tunnel_type type, int64_t v)
{
    switch (type) {
    case TUNNEL_TYPE_TINYINT:
        return v >= INT8_MIN && v <= INT8_MAX;
    case TUNNEL_TYPE_SMALLINT:
        return v >= INT16_MIN && v <= INT16_MAX;
    case TUNNEL_TYPE_INT:
        return v >= INT32_MIN && v <= INT32_MAX;
    default:
        return true;
    }
}

/* Field and value of one non-null column; returns its contribution to the record CRC. */
static int
encode_value(struct tunnel_writer *w, size_t col, const struct tunnel_value *v, uint32_t *crc,
             struct otsync_err *err)
{
    const struct tunnel_schema *s = w->schema;
    enum tunnel_type type = s->columns[col].type;
    uint32_t field = (uint32_t)col + 1;
    int rc;

    if (v->kind != types[type].kind)
        return otsync_err_set(err, OTSYNC_EINVAL,
                              "record %" PRIu64 ": column %" PRIu32 " '%s' (%s) given a %s value",
                              w->count, field, col_name(s, col), types[type].name,
                              kind_name(v->kind));
    /* tag + the largest fixed-size value (two varints of a TIME) */
    if ((rc = reserve(w, 5 + 2 * VARINT_MAX, false, err)) < 0)
        return rc;
    *crc = crc_le32(*crc, field);
    switch (v->kind) {
    case TUNNEL_VAL_INT:
        if (!int_fits(type, v->u.i) || (type == TUNNEL_TYPE_BIGINT && v->u.i == INT64_MIN))
            return otsync_err_set(err, OTSYNC_EINVAL,
                                  "record %" PRIu64 ": column %" PRIu32 " '%s': %" PRId64
                                  " is out of range for %s", w->count, field, col_name(s, col),
                                  v->u.i, types[type].name);
        put_tag(w, field, WT_VARINT);
        put_varint(w, zigzag64(v->u.i));
        *crc = crc_le64(*crc, (uint64_t)v->u.i);
        break;
    case TUNNEL_VAL_DOUBLE: {
        uint64_t bits;

        memcpy(&bits, &v->u.d, 8);
        put_tag(w, field, WT_FIXED64);
        put_le64(w->buf + w->len, bits);
        *crc = crc32c(*crc, w->buf + w->len, 8);
        w->len += 8;
        break;
    }
    case TUNNEL_VAL_FLOAT: {
        uint32_t bits;

        memcpy(&bits, &v->u.f, 4);
        put_tag(w, field, WT_FIXED32);
        put_le32(w->buf + w->len, bits);
        *crc = crc32c(*crc, w->buf + w->len, 4);
        w->len += 4;
        break;
    }
    case TUNNEL_VAL_BOOL: {
        unsigned char b = v->u.b ? 1 : 0;

        put_tag(w, field, WT_VARINT);
        w->buf[w->len++] = b;
        *crc = crc32c(*crc, &b, 1);
        break;
    }
    case TUNNEL_VAL_BYTES:
        if (!v->u.s.ptr && v->u.s.len)
            return otsync_err_set(err, OTSYNC_EINVAL,
                                  "record %" PRIu64 ": column %" PRIu32 " '%s': NULL bytes",
                                  w->count, field, col_name(s, col));
        if (type == TUNNEL_TYPE_DECIMAL && !decimal_plain_ok(v->u.s.ptr, v->u.s.len))
            return otsync_err_set(err, OTSYNC_EINVAL,
                                  "record %" PRIu64 ": column %" PRIu32 " '%s': '%.*s' is not a"
                                  " plain decimal", w->count, field, col_name(s, col),
                                  v->u.s.len > 64 ? 64 : (int)v->u.s.len, v->u.s.ptr);
        if (s->max_field_len && v->u.s.len > s->max_field_len && type != TUNNEL_TYPE_DECIMAL)
            return otsync_err_set(err, OTSYNC_EINVAL,
                                  "record %" PRIu64 ": column %" PRIu32 " '%s': %zu bytes, more"
                                  " than the session's %zu", w->count, field, col_name(s, col),
                                  v->u.s.len, s->max_field_len);
        put_tag(w, field, WT_LEN);
        put_varint(w, v->u.s.len);
        if ((rc = reserve(w, v->u.s.len, false, err)) < 0)
            return rc;
        if (v->u.s.len)
            memcpy(w->buf + w->len, v->u.s.ptr, v->u.s.len);
        *crc = crc32c(*crc, w->buf + w->len, v->u.s.len);
        w->len += v->u.s.len;
        break;
    case TUNNEL_VAL_TIME:
        /* wire type 2 but no length: two varints follow the tag (doc 6.3) */
        put_tag(w, field, WT_LEN);
        put_varint(w, zigzag64(v->u.t.sec));
        put_varint(w, zigzag32(v->u.t.nanos));
        *crc = crc_le64(*crc, (uint64_t)v->u.t.sec);
        *crc = crc_le32(*crc, (uint32_t)v->u.t.nanos);
        break;
    case TUNNEL_VAL_NULL:
        break;
    }
    return 0;
}

int
tunnel_writer_append(struct tunnel_writer *w, const struct tunnel_value *values, size_t count,
                     struct otsync_err *err)
{
    size_t start = w->len, i;
    uint32_t crc = 0;
    int rc;

    if (w->finished)
        return otsync_err_set(err, OTSYNC_EINVAL, "block already finished");
    if (count > w->schema->count)
        return otsync_err_set(err, OTSYNC_EINVAL,
                              "record %" PRIu64 " has %zu values but the table %zu columns",
                              w->count, count, w->schema->count);
    for (i = 0; i < count; i++)
        if (values[i].kind != TUNNEL_VAL_NULL && (rc = encode_value(w, i, &values[i], &crc,
                                                                    err)) < 0)
            goto fail;
    if ((rc = reserve(w, 4 + 5, false, err)) < 0)
        goto fail;
    put_tag(w, TUNNEL_FIELD_END_RECORD, WT_VARINT);
    put_varint(w, crc);
    w->crc = crc_le32(w->crc, crc);
    w->count++;
    return 0;
fail:
    w->len = start;
    return rc;
}

int
tunnel_writer_finish(struct tunnel_writer *w, struct otsync_err *err)
{
    int rc;

    if (w->finished)
        return otsync_err_set(err, OTSYNC_EINVAL, "block already finished");
    if ((rc = reserve(w, TRAILER_MAX, true, err)) < 0)
        return rc;
    put_tag(w, TUNNEL_FIELD_META_COUNT, WT_VARINT);
    put_varint(w, zigzag64((int64_t)w->count));
    put_tag(w, TUNNEL_FIELD_META_CHECKSUM, WT_VARINT);
    put_varint(w, w->crc);
    w->finished = true;
    return 0;
}

const unsigned char *
tunnel_writer_data(const struct tunnel_writer *w, size_t *ret_len)
{
    *ret_len = w->len;
    return w->buf;
}

uint64_t
tunnel_writer_count(const struct tunnel_writer *w)
{
    return w->count;
}

void
tunnel_writer_reset(struct tunnel_writer *w)
{
    w->len = 0;
    w->count = 0;
    w->crc = 0;
    w->finished = false;
}

void
tunnel_writer_fini(struct tunnel_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

/* ---- decoder ---------------------------------------------------------------------------- */

int
tunnel_reader_init(struct tunnel_reader *r, const struct tunnel_schema *schema, const void *buf,
                   size_t len, struct otsync_err *err)
{
    int rc;

    memset(r, 0, sizeof(*r));
    if ((rc = schema_check(schema, err)) < 0)
        return r->state = rc;
    if (!buf && len)
        return r->state = otsync_err_set(err, OTSYNC_EINVAL, "no buffer for %zu bytes", len);
    r->schema = schema;
    r->buf = buf;
    r->len = len;
    r->state = RD_RECORDS;
    return 0;
}

/* Every failure goes through here, so later calls repeat the code instead of reading on. */
static int
fail_at(struct tunnel_reader *r, size_t off, int code, const char *what, struct otsync_err *err)
{
    r->off = off;
    r->state = otsync_err_set(err, code, "record stream offset %zu: record %" PRIu64 ": %s",
                              off, r->count, what);
    return r->state;
}

/* A varint of at most 10 bytes whose value fits in `bits` bits. */
static int
get_varint(struct tunnel_reader *r, unsigned bits, const char *what, uint64_t *ret_v,
           struct otsync_err *err)
{
    size_t start = r->off, i;
    uint64_t v = 0;
    unsigned char b;
    char msg[128];

    for (i = 0; i < VARINT_MAX; i++) {
        if (r->off >= r->len) {
            snprintf(msg, sizeof(msg), "truncated in %s", what);
            return fail_at(r, start, OTSYNC_EPROTO, msg, err);
        }
        b = r->buf[r->off++];
        /* the 10th byte carries only bit 63 */
        if (i == 9 && b > 1)
            break;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (bits < 64 && v >> bits) {
                snprintf(msg, sizeof(msg), "%s 0x%" PRIx64 " does not fit %u bits", what, v,
                         bits);
                return fail_at(r, start, OTSYNC_EPROTO, msg, err);
            }
            *ret_v = v;
            return 0;
        }
    }
    snprintf(msg, sizeof(msg), "overlong varint in %s", what);
    return fail_at(r, start, OTSYNC_EPROTO, msg, err);
}

static bool
decimal_text_ok(const unsigned char *p, size_t len)
{
    size_t i = 0, digits = 0;

    if (i < len && (p[i] == '-' || p[i] == '+'))
        i++;
    while (i < len && isdigit(p[i]))
        i++, digits++;
    if (i < len && p[i] == '.') {
        i++;
        while (i < len && isdigit(p[i]))
            i++, digits++;
    }
    if (!digits)
        return false;
    /* PyODPS writes str(Decimal), which may use an exponent (doc 6.3) */
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < len && (p[i] == '-' || p[i] == '+'))
            i++;
        digits = 0;
        while (i < len && isdigit(p[i]))
            i++, digits++;
        if (!digits)
            return false;
    }
    return i == len;
}

static int
decode_value(struct tunnel_reader *r, size_t tag_off, size_t col, int wire,
             struct tunnel_value *v, uint32_t *crc, struct otsync_err *err)
{
    const struct tunnel_schema *s = r->schema;
    enum tunnel_type type = s->columns[col].type;
    size_t val_off = r->off;
    uint64_t u, len;
    char msg[256];
    int rc;

    if (wire != types[type].wire) {
        snprintf(msg, sizeof(msg), "column %zu '%s' (%s) has wire type %d, expected %d",
                 col + 1, col_name(s, col), types[type].name, wire, types[type].wire);
        return fail_at(r, tag_off, OTSYNC_EPROTO, msg, err);
    }
    *crc = crc_le32(*crc, (uint32_t)col + 1);
    v->kind = types[type].kind;
    switch (v->kind) {
    case TUNNEL_VAL_INT:
        if ((rc = get_varint(r, 64, "integer", &u, err)) < 0)
            return rc;
        v->u.i = unzigzag64(u);
        if (!int_fits(type, v->u.i)) {
            snprintf(msg, sizeof(msg), "column %zu '%s': %" PRId64 " is out of range for %s",
                     col + 1, col_name(s, col), v->u.i, types[type].name);
            return fail_at(r, val_off, OTSYNC_EPROTO, msg, err);
        }
        *crc = crc_le64(*crc, (uint64_t)v->u.i);
        break;
    case TUNNEL_VAL_DOUBLE: {
        uint64_t bits;

        if (r->len - r->off < 8)
            return fail_at(r, val_off, OTSYNC_EPROTO, "truncated in double", err);
        bits = get_le64(r->buf + r->off);
        memcpy(&v->u.d, &bits, 8);
        *crc = crc32c(*crc, r->buf + r->off, 8);
        r->off += 8;
        break;
    }
    case TUNNEL_VAL_FLOAT: {
        uint32_t bits;

        if (r->len - r->off < 4)
            return fail_at(r, val_off, OTSYNC_EPROTO, "truncated in float", err);
        bits = get_le32(r->buf + r->off);
        memcpy(&v->u.f, &bits, 4);
        *crc = crc32c(*crc, r->buf + r->off, 4);
        r->off += 4;
        break;
    }
    case TUNNEL_VAL_BOOL: {
        unsigned char b;

        if ((rc = get_varint(r, 64, "boolean", &u, err)) < 0)
            return rc;
        if (u > 1) {
            snprintf(msg, sizeof(msg), "column %zu '%s': boolean %" PRIu64, col + 1,
                     col_name(s, col), u);
            return fail_at(r, val_off, OTSYNC_EPROTO, msg, err);
        }
        v->u.b = u == 1;
        b = (unsigned char)u;
        *crc = crc32c(*crc, &b, 1);
        break;
    }
    case TUNNEL_VAL_BYTES:
        if ((rc = get_varint(r, 64, "length", &len, err)) < 0)
            return rc;
        if (len > r->len - r->off) {
            snprintf(msg, sizeof(msg), "column %zu '%s': length %" PRIu64 " but %zu bytes left",
                     col + 1, col_name(s, col), len, r->len - r->off);
            return fail_at(r, val_off, OTSYNC_EPROTO, msg, err);
        }
        if (s->max_field_len && len > s->max_field_len && type != TUNNEL_TYPE_DECIMAL) {
            snprintf(msg, sizeof(msg), "column %zu '%s': %" PRIu64 " bytes, more than %zu",
                     col + 1, col_name(s, col), len, s->max_field_len);
            return fail_at(r, val_off, OTSYNC_EPROTO, msg, err);
        }
        if (type == TUNNEL_TYPE_DECIMAL && !decimal_text_ok(r->buf + r->off, (size_t)len)) {
            snprintf(msg, sizeof(msg), "column %zu '%s': not a decimal", col + 1,
                     col_name(s, col));
            return fail_at(r, val_off, OTSYNC_EPROTO, msg, err);
        }
        v->u.s.ptr = (const char *)r->buf + r->off;
        v->u.s.len = (size_t)len;
        *crc = crc32c(*crc, r->buf + r->off, (size_t)len);
        r->off += (size_t)len;
        break;
    case TUNNEL_VAL_TIME:
        if ((rc = get_varint(r, 64, "seconds", &u, err)) < 0)
            return rc;
        v->u.t.sec = unzigzag64(u);
        if ((rc = get_varint(r, 32, "nanoseconds", &u, err)) < 0)
            return rc;
        v->u.t.nanos = unzigzag32((uint32_t)u);
        *crc = crc_le64(*crc, (uint64_t)v->u.t.sec);
        *crc = crc_le32(*crc, (uint32_t)v->u.t.nanos);
        break;
    case TUNNEL_VAL_NULL:
        break;
    }
    return 0;
}

/* META_COUNT has been read: its value, then META_CHECKSUM, then the end of the buffer. */
static int
read_trailer(struct tunnel_reader *r, size_t tag_off, struct otsync_err *err)
{
    uint64_t u, tag;
    char msg[128];
    int64_t n;
    size_t off;
    int rc;

    if ((rc = get_varint(r, 64, "record count", &u, err)) < 0)
        return rc;
    n = unzigzag64(u);
    if (n < 0 || (uint64_t)n != r->count) {
        snprintf(msg, sizeof(msg), "trailer counts %" PRId64 " records, the block holds %" PRIu64,
                 n, r->count);
        return fail_at(r, tag_off, OTSYNC_ECORRUPT, msg, err);
    }
    off = r->off;
    if ((rc = get_varint(r, 32, "tag", &tag, err)) < 0)
        return rc;
    if (tag != ((uint64_t)TUNNEL_FIELD_META_CHECKSUM << 3 | WT_VARINT))
        return fail_at(r, off, OTSYNC_EPROTO, "no stream checksum after the record count", err);
    off = r->off;
    if ((rc = get_varint(r, 32, "stream checksum", &u, err)) < 0)
        return rc;
    if (u != r->crc) {
        snprintf(msg, sizeof(msg), "stream checksum 0x%08" PRIx64 " but computed 0x%08" PRIx32,
                 u, r->crc);
        return fail_at(r, off, OTSYNC_ECORRUPT, msg, err);
    }
    if (r->off != r->len) {
        snprintf(msg, sizeof(msg), "%zu bytes after the trailer", r->len - r->off);
        return fail_at(r, r->off, OTSYNC_EPROTO, msg, err);
    }
    r->state = RD_DONE;
    return 0;
}

int
tunnel_reader_next(struct tunnel_reader *r, struct tunnel_value *ret_values,
                   struct otsync_err *err)
{
    const struct tunnel_schema *s = r->schema;
    size_t tag_off, last_field = 0;
    uint32_t crc = 0, field;
    uint64_t tag, u;
    char msg[128];
    int wire, rc;

    if (r->state == RD_DONE)
        return 0;
    if (r->state < 0)
        return otsync_err_set(err, -r->state, "record stream offset %zu: read after an error",
                              r->off);
    if (s->count)
        memset(ret_values, 0, s->count * sizeof(*ret_values));
    for (;;) {
        tag_off = r->off;
        if (r->off == r->len)
            return fail_at(r, tag_off, OTSYNC_EPROTO, last_field ? "truncated inside a record"
                           : "truncated: no trailer", err);
        if ((rc = get_varint(r, 32, "tag", &tag, err)) < 0)
            return rc;
        field = (uint32_t)(tag >> 3);
        wire = (int)(tag & 7);
        if (field == TUNNEL_FIELD_END_RECORD && wire == WT_VARINT) {
            size_t crc_off = r->off;

            if ((rc = get_varint(r, 32, "record checksum", &u, err)) < 0)
                return rc;
            if (u != crc) {
                snprintf(msg, sizeof(msg), "checksum 0x%08" PRIx64 " but computed 0x%08" PRIx32,
                         u, crc);
                return fail_at(r, crc_off, OTSYNC_ECORRUPT, msg, err);
            }
            r->crc = crc_le32(r->crc, crc);
            r->count++;
            return 1;
        }
        if (field == TUNNEL_FIELD_META_COUNT && wire == WT_VARINT) {
            if (last_field)
                return fail_at(r, tag_off, OTSYNC_EPROTO, "trailer inside a record", err);
            if ((rc = read_trailer(r, tag_off, err)) < 0)
                return rc;
            return 0;
        }
        if (field == 0 || field > s->count) {
            snprintf(msg, sizeof(msg), "unknown field %" PRIu32 " (wire type %d)", field, wire);
            return fail_at(r, tag_off, OTSYNC_EPROTO, msg, err);
        }
        /* the SDKs write columns in ascending order; a repeat would also break the CRC rule */
        if (field <= last_field) {
            snprintf(msg, sizeof(msg), "field %" PRIu32 " after field %zu", field, last_field);
            return fail_at(r, tag_off, OTSYNC_EPROTO, msg, err);
        }
        last_field = field;
        if ((rc = decode_value(r, tag_off, field - 1, wire, &ret_values[field - 1], &crc,
                               err)) < 0)
            return rc;
    }
}

int
tunnel_decode(const struct tunnel_schema *schema, const void *buf, size_t len,
              tunnel_record_cb cb, void *arg, uint64_t *ret_count, struct otsync_err *err)
{
    struct tunnel_reader r;
    struct tunnel_value *values;
    int rc;

    if ((rc = tunnel_reader_init(&r, schema, buf, len, err)) < 0)
        return rc;
    /* one spare slot: calloc(0) may return NULL */
    if (!(values = calloc(schema->count + 1, sizeof(*values))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "values of %zu columns", schema->count);
    while ((rc = tunnel_reader_next(&r, values, err)) > 0) {
        if (cb && (rc = cb(arg, r.count - 1, values, schema->count)) < 0)
            break;
    }
    if (rc == 0 && ret_count)
        *ret_count = r.count;
    free(values);
    return rc;
}

/* ---- Content-Encoding: deflate -------------------------------------------------------- */

int
tunnel_deflate(const void *in, size_t len, int level, unsigned char **ret_out, size_t *ret_len,
               struct otsync_err *err)
{
    uLongf out_len = compressBound((uLong)len);
    unsigned char *out;
    int zrc;

    if ((uLong)len != len)
        return otsync_err_set(err, OTSYNC_EINVAL, "%zu bytes are too many for zlib", len);
    if (!(out = malloc(out_len)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "deflate buffer of %lu bytes",
                              (unsigned long)out_len);
    /* compress2 writes the zlib (RFC 1950) wrapper the tunnel expects, 78 01 at level 1 */
    if ((zrc = compress2(out, &out_len, in, (uLong)len, level)) != Z_OK) {
        free(out);
        return otsync_err_set(err, zrc == Z_MEM_ERROR ? OTSYNC_ENOMEM : OTSYNC_EINVAL,
                              "deflate: zlib error %d", zrc);
    }
    *ret_out = out;
    *ret_len = out_len;
    return 0;
}

int
tunnel_inflate(const void *in, size_t len, size_t max_len, unsigned char **ret_out,
               size_t *ret_len, struct otsync_err *err)
{
    z_stream zs;
    unsigned char *out = NULL, *p;
    size_t cap = 0, have = 0, fed = 0, chunk;
    int zrc, rc;

    if (!max_len)
        max_len = TUNNEL_BLOCK_MAX_DEFAULT;
    if (max_len > SIZE_MAX / 2)
        max_len = SIZE_MAX / 2;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit(&zs) != Z_OK)
        return otsync_err_set(err, OTSYNC_ENOMEM, "inflate: init failed");
    zs.next_in = (Bytef *)(uintptr_t)in;
    do {
        if (have == cap) {
            if (cap == max_len + 1) {
                rc = otsync_err_set(err, OTSYNC_EPROTO, "deflate offset %zu: inflates past %zu"
                                    " bytes", fed - zs.avail_in, max_len);
                goto fail;
            }
            /* one byte past max_len so that hitting it exactly is not mistaken for more */
            cap = cap ? cap * 2 : (len < max_len / 4 ? len * 4 + 64 : max_len + 1);
            if (cap > max_len + 1)
                cap = max_len + 1;
            if (!(p = realloc(out, cap))) {
                rc = otsync_err_set(err, OTSYNC_ENOMEM, "inflate buffer of %zu bytes", cap);
                goto fail;
            }
            out = p;
        }
        if (zs.avail_in == 0 && fed < len) {
            chunk = len - fed > UINT_MAX ? UINT_MAX : len - fed;
            zs.avail_in = (uInt)chunk;
            fed += chunk;
        }
        chunk = cap - have > UINT_MAX ? UINT_MAX : cap - have;
        zs.next_out = out + have;
        zs.avail_out = (uInt)chunk;
        zrc = inflate(&zs, Z_NO_FLUSH);
        have += chunk - zs.avail_out;
        if (zrc == Z_BUF_ERROR && zs.avail_in == 0 && fed == len && zs.avail_out) {
            rc = otsync_err_set(err, OTSYNC_EPROTO, "deflate offset %zu: truncated", len);
            goto fail;
        }
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
            rc = otsync_err_set(err, zrc == Z_MEM_ERROR ? OTSYNC_ENOMEM : OTSYNC_EPROTO,
                                "deflate offset %zu: %s", fed - zs.avail_in,
                                zs.msg ? zs.msg : "bad data");
            goto fail;
        }
    } while (zrc != Z_STREAM_END);
    if (have > max_len) {
        rc = otsync_err_set(err, OTSYNC_EPROTO, "deflate offset %zu: inflates past %zu bytes",
                            fed - zs.avail_in, max_len);
        goto fail;
    }
    if (zs.avail_in || fed < len) {
        rc = otsync_err_set(err, OTSYNC_EPROTO, "deflate offset %zu: %zu bytes after the stream",
                            fed - zs.avail_in, len - (fed - zs.avail_in));
        goto fail;
    }
    inflateEnd(&zs);
    *ret_out = out;
    *ret_len = have;
    return 0;
fail:
    inflateEnd(&zs);
    free(out);
    return rc;
}
