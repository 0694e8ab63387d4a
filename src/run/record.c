/*
 * record.c - batches of typed records with one arena per batch, and the text form of values.
 *
 * Owns: batch memory (records, values, copied strings) and value formatting. Leaves to
 * others: what the values mean (plugins) and when batches move (the engine).
 *
 * Each batch allocates from a chain of chunks freed in one go with the batch, so a million
 * small strings cost a few mallocs, not a million (STYLE.md: one pool per run, freed at once).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "record.h"

#define CHUNK_MIN (16 * 1024)

struct batch_chunk {
    struct batch_chunk *next;
    size_t used, cap;
    alignas(max_align_t) char data[];
};

struct otsync_batch *
otsync_batch_new(size_t record_hint)
{
    struct otsync_batch *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->cap = record_hint ? record_hint : 16;
    if (!(b->recs = calloc(b->cap, sizeof(*b->recs)))) {
        free(b);
        return NULL;
    }
    return b;
}

void
otsync_batch_free(struct otsync_batch *b)
{
    struct batch_chunk *c, *next;

    if (!b)
        return;
    for (c = b->arena; c; c = next) {
        next = c->next;
        free(c);
    }
    free(b->recs);
    free(b);
}

/* Returns len bytes aligned for any type from b's arena, or NULL. */
static void *
arena_alloc(struct otsync_batch *b, size_t len)
{
    const size_t align = alignof(max_align_t);
    struct batch_chunk *c = b->arena;
    size_t at, cap;

    if (c) {
        at = (c->used + align - 1) & ~(align - 1);
        if (at <= c->cap && len <= c->cap - at) {
            c->used = at + len;
            return c->data + at;
        }
    }
    /* a value larger than a chunk gets a chunk of its own */
    cap = len > CHUNK_MIN ? len : CHUNK_MIN;
    if (cap > SIZE_MAX - sizeof(*c))
        return NULL;
    if (!(c = malloc(sizeof(*c) + cap)))
        return NULL;
    c->cap = cap;
    c->used = len;
    c->next = b->arena;
    b->arena = c;
    return c->data;
}

int
otsync_batch_add(struct otsync_batch *b, size_t col_count, struct otsync_record **ret_rec,
                 struct otsync_err *err)
{
    struct otsync_record *nv, *r;
    struct otsync_value *cols = NULL;

    if (b->count == b->cap) {
        size_t cap = b->cap * 2;
        if (cap < b->cap || cap > SIZE_MAX / sizeof(*nv)
            || !(nv = realloc(b->recs, cap * sizeof(*nv))))
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory adding a record");
        b->recs = nv;
        b->cap = cap;
    }
    if (col_count) {
        if (col_count > SIZE_MAX / sizeof(*cols)
            || !(cols = arena_alloc(b, col_count * sizeof(*cols))))
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory adding a record");
        memset(cols, 0, col_count * sizeof(*cols));     /* all OTSYNC_TYPE_NULL */
    }
    r = &b->recs[b->count++];
    r->cols = cols;
    r->count = col_count;
    r->op = OTSYNC_OP_NONE;
    *ret_rec = r;
    return 0;
}

static int
set_bytes(struct otsync_batch *b, struct otsync_value *v, enum otsync_type t, const void *p,
          size_t len, struct otsync_err *err)
{
    char *copy;

    if (len == SIZE_MAX || !(copy = arena_alloc(b, len + 1)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory copying a %zu-byte value", len);
    if (len)
        memcpy(copy, p, len);
    copy[len] = '\0';
    v->type = t;
    v->u.bytes.ptr = copy;
    v->u.bytes.len = len;
    b->bytes += len;
    return 0;
}

int
otsync_value_set_string(struct otsync_batch *b, struct otsync_value *v, const char *s, size_t len,
                        struct otsync_err *err)
{
    return set_bytes(b, v, OTSYNC_TYPE_STRING, s, len, err);
}

int
otsync_value_set_binary(struct otsync_batch *b, struct otsync_value *v, const void *p, size_t len,
                        struct otsync_err *err)
{
    return set_bytes(b, v, OTSYNC_TYPE_BINARY, p, len, err);
}

void
otsync_value_set_int(struct otsync_batch *b, struct otsync_value *v, int64_t i)
{
    v->type = OTSYNC_TYPE_INT;
    v->u.i = i;
    b->bytes += otsync_value_size(v);
}

void
otsync_value_set_double(struct otsync_batch *b, struct otsync_value *v, double d)
{
    v->type = OTSYNC_TYPE_DOUBLE;
    v->u.d = d;
    b->bytes += otsync_value_size(v);
}

void
otsync_value_set_bool(struct otsync_batch *b, struct otsync_value *v, bool on)
{
    v->type = OTSYNC_TYPE_BOOL;
    v->u.b = on;
    b->bytes += otsync_value_size(v);
}

void
otsync_value_set_date(struct otsync_batch *b, struct otsync_value *v, int64_t ms)
{
    v->type = OTSYNC_TYPE_DATE;
    v->u.date_ms = ms;
    b->bytes += otsync_value_size(v);
}

int
otsync_value_copy(struct otsync_batch *b, struct otsync_value *v, const struct otsync_value *src,
                  struct otsync_err *err)
{
    int rc;

    if (src->type == OTSYNC_TYPE_STRING || src->type == OTSYNC_TYPE_BINARY) {
        rc = set_bytes(b, v, src->type, src->u.bytes.ptr, src->u.bytes.len, err);
        v->has_ts = src->has_ts;
        v->ts = src->ts;
        return rc;
    }
    *v = *src;
    b->bytes += otsync_value_size(v);
    return 0;
}

size_t
otsync_value_size(const struct otsync_value *v)
{
    switch (v->type) {
    case OTSYNC_TYPE_STRING:
    case OTSYNC_TYPE_BINARY:
        return v->u.bytes.len;
    case OTSYNC_TYPE_INT:
    case OTSYNC_TYPE_DOUBLE:
    case OTSYNC_TYPE_DATE:
        return 8;
    case OTSYNC_TYPE_BOOL:
        return 1;
    case OTSYNC_TYPE_NULL:
        break;
    }
    return 0;
}

/* An int64 in decimal: snprintf's format parsing was a tenth of an export's CPU. */
static size_t
format_int(int64_t v, char *buf)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(buf, p, n);
    buf[n] = '\0';
    return n;
}

/* The shortest %g precision that reads back as the same double (at most 17 digits). */
static size_t
format_double(double d, char *buf, size_t len)
{
    int prec, n = 0;

    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return n < 0 ? 0 : (size_t)n;
}

static size_t
format_date(int64_t ms, char *buf, size_t len)
{
    /* floor division, so dates before 1970 land on the right second */
    int64_t s = ms / 1000 - (ms % 1000 < 0 ? 1 : 0);
    time_t t = (time_t)s;
    struct tm tm;

    if (!localtime_r(&t, &tm))
        return (size_t)snprintf(buf, len, "%" PRId64, ms);
    return strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

const char *
otsync_value_text(const struct otsync_value *v, char buf[static OTSYNC_VALUE_TEXT_MAX],
                  size_t *ret_len)
{
    switch (v->type) {
    case OTSYNC_TYPE_STRING:
    case OTSYNC_TYPE_BINARY:
        *ret_len = v->u.bytes.len;
        return v->u.bytes.ptr;
    case OTSYNC_TYPE_INT:
        *ret_len = format_int(v->u.i, buf);
        return buf;
    case OTSYNC_TYPE_DOUBLE:
        *ret_len = format_double(v->u.d, buf, OTSYNC_VALUE_TEXT_MAX);
        return buf;
    case OTSYNC_TYPE_BOOL:
        *ret_len = v->u.b ? 4 : 5;
        return v->u.b ? "true" : "false";
    case OTSYNC_TYPE_DATE:
        *ret_len = format_date(v->u.date_ms, buf, OTSYNC_VALUE_TEXT_MAX);
        return buf;
    case OTSYNC_TYPE_NULL:
        break;
    }
    *ret_len = 4;
    return "null";
}

const char *
otsync_type_name(enum otsync_type t)
{
    switch (t) {
    case OTSYNC_TYPE_STRING: return "string";
    case OTSYNC_TYPE_INT: return "int";
    case OTSYNC_TYPE_DOUBLE: return "double";
    case OTSYNC_TYPE_BOOL: return "bool";
    case OTSYNC_TYPE_BINARY: return "binary";
    case OTSYNC_TYPE_DATE: return "date";
    case OTSYNC_TYPE_NULL: break;
    }
    return "null";
}

/* --- conversions --- */

/* The value quoted for a reason: at most 40 bytes, then "...". */
static void
quote(const struct otsync_value *v, char *out, size_t len)
{
    char buf[OTSYNC_VALUE_TEXT_MAX];
    const char *t;
    size_t n;

    if (v->type == OTSYNC_TYPE_BINARY) {
        snprintf(out, len, "%zu bytes", v->u.bytes.len);
        return;
    }
    t = otsync_value_text(v, buf, &n);
    if (v->type == OTSYNC_TYPE_STRING)
        snprintf(out, len, "\"%.*s%s\"", (int)(n > 40 ? 40 : n), t, n > 40 ? "..." : "");
    else
        snprintf(out, len, "%.*s", (int)n, t);
}

static int OTSYNC_PRINTF(3, 4)
refuse(const struct otsync_value *v, char *why, const char *fmt, ...)
{
    char q[64], rest[96];
    va_list ap;

    quote(v, q, sizeof(q));
    va_start(ap, fmt);
    vsnprintf(rest, sizeof(rest), fmt, ap);
    va_end(ap);
    snprintf(why, OTSYNC_CONVERT_WHY_MAX, "%s %s", q, rest);
    return -OTSYNC_EINVAL;
}

/* The text of a string value, NUL-terminated (the arena keeps a NUL after every string). */
static bool
all_read(const char *s, const char *end)
{
    return end != s && *end == '\0';
}

static bool
valid_utf8(const unsigned char *p, size_t len)
{
    size_t i = 0, n, k;
    unsigned c;

    while (i < len) {
        c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3;
        else
            return false;
        if (len - i <= n)
            return false;
        for (k = 1; k <= n; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
        i += n + 1;
    }
    return true;
}

/* "yyyy-MM-dd HH:mm:ss[.SSS]" or "yyyy-MM-dd" in local time. */
static int
parse_local_date(const char *s, int64_t *ret_ms)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, se = 0, ms = 0, n = 0;
    time_t t;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    s += n;
    if (*s) {
        if (sscanf(s, " %2d:%2d:%2d%n", &h, &mi, &se, &n) != 3 || n != 9)
            return -1;
        s += n;
        if (*s == '.') {
            if (sscanf(s, ".%3d%n", &ms, &n) != 1 || n != 4)
                return -1;
            s += n;
        }
        if (*s)
            return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    tm.tm_isdst = -1;
    if ((t = mktime(&tm)) == (time_t)-1 || tm.tm_mday != d)
        return -1;
    *ret_ms = (int64_t)t * 1000 + ms;
    return 0;
}

static int
from_string(struct otsync_value *v, enum otsync_type to, char *why)
{
    const char *s = v->u.bytes.ptr;
    char *end;
    long long i;
    double d;
    int64_t ms;

    switch (to) {
    case OTSYNC_TYPE_INT:
        errno = 0;
        i = strtoll(s, &end, 10);
        if (!all_read(s, end) || strlen(s) != v->u.bytes.len)
            return refuse(v, why, "is not an integer");
        if (errno == ERANGE)
            return refuse(v, why, "is out of the int64 range");
        v->u.i = i;
        break;
    case OTSYNC_TYPE_DOUBLE:
        d = strtod(s, &end);
        if (!all_read(s, end) || strlen(s) != v->u.bytes.len)
            return refuse(v, why, "is not a number");
        v->u.d = d;
        break;
    case OTSYNC_TYPE_BOOL:
        if (strcasecmp(s, "true") == 0)
            v->u.b = true;
        else if (strcasecmp(s, "false") == 0)
            v->u.b = false;
        else
            return refuse(v, why, "is not true or false");
        break;
    case OTSYNC_TYPE_DATE:
        if (parse_local_date(s, &ms) < 0)
            return refuse(v, why, "is not a date (yyyy-MM-dd HH:mm:ss)");
        v->u.date_ms = ms;
        break;
    case OTSYNC_TYPE_BINARY:
        break;          /* the same bytes */
    default:
        break;
    }
    v->type = to;
    return 0;
}

int
otsync_value_convert(struct otsync_batch *b, struct otsync_value *v, enum otsync_type to,
                     char why[static OTSYNC_CONVERT_WHY_MAX])
{
    char buf[OTSYNC_VALUE_TEXT_MAX];
    const char *text;
    size_t len, before = otsync_value_size(v);
    bool ts = v->has_ts;
    int64_t stamp = v->ts;
    int rc = 0;

    why[0] = '\0';
    if (v->type == to || v->type == OTSYNC_TYPE_NULL || to == OTSYNC_TYPE_NULL)
        return 0;
    if (to == OTSYNC_TYPE_STRING) {
        if (v->type == OTSYNC_TYPE_BINARY) {
            if (!valid_utf8((const unsigned char *)v->u.bytes.ptr, v->u.bytes.len))
                return refuse(v, why, "are not UTF-8 text");
            v->type = OTSYNC_TYPE_STRING;
            return 0;
        }
        text = otsync_value_text(v, buf, &len);
        /* the setter counts the new size; take the old one out first */
        b->bytes -= before;
        rc = otsync_value_set_string(b, v, text, len, NULL);
        v->has_ts = ts;
        v->ts = stamp;
        return rc;
    }
    switch (v->type) {
    case OTSYNC_TYPE_STRING:
        rc = from_string(v, to, why);
        break;
    case OTSYNC_TYPE_INT:
        if (to == OTSYNC_TYPE_DOUBLE)
            v->u.d = (double)v->u.i;
        else if (to == OTSYNC_TYPE_DATE)
            v->u.date_ms = v->u.i;
        else if (to == OTSYNC_TYPE_BOOL && (v->u.i == 0 || v->u.i == 1))
            v->u.b = v->u.i == 1;
        else
            return refuse(v, why, "cannot become %s", otsync_type_name(to));
        v->type = to;
        break;
    case OTSYNC_TYPE_DOUBLE:
        if (to == OTSYNC_TYPE_INT || to == OTSYNC_TYPE_DATE) {
            if (v->u.d != v->u.d || v->u.d < -9223372036854775808.0
                || v->u.d >= 9223372036854775808.0)
                return refuse(v, why, "is out of the int64 range");
            if ((double)(int64_t)v->u.d != v->u.d)
                return refuse(v, why, "is not an integer");
            v->u.i = (int64_t)v->u.d;
        } else {
            return refuse(v, why, "cannot become %s", otsync_type_name(to));
        }
        v->type = to;
        break;
    case OTSYNC_TYPE_BOOL:
        if (to == OTSYNC_TYPE_INT)
            v->u.i = v->u.b ? 1 : 0;
        else if (to == OTSYNC_TYPE_DOUBLE)
            v->u.d = v->u.b ? 1.0 : 0.0;
        else
            return refuse(v, why, "cannot become %s", otsync_type_name(to));
        v->type = to;
        break;
    case OTSYNC_TYPE_DATE:
        if (to == OTSYNC_TYPE_INT)
            v->u.i = v->u.date_ms;
        else if (to == OTSYNC_TYPE_DOUBLE)
            v->u.d = (double)v->u.date_ms;
        else
            return refuse(v, why, "(a date) cannot become %s", otsync_type_name(to));
        v->type = to;
        break;
    case OTSYNC_TYPE_BINARY:
        return refuse(v, why, "cannot become %s", otsync_type_name(to));
    case OTSYNC_TYPE_NULL:
        break;
    }
    if (rc == 0)
        b->bytes += otsync_value_size(v) - before;
    return rc;
}
