/*
 * ossformat.c - object names, record text and its parser, and dates for the oss plugins: see
 * ossformat.h. Pure functions over memory; no I/O, no global state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "otsync/sign.h"
#include "ossformat.h"

/* ---- buffers ---- */

int
ossbuf_add(struct ossbuf *b, const void *s, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *np;

        while (cap < b->len + len + 1)
            cap *= 2;
        if (!(np = realloc(b->p, cap)))
            return -OTSYNC_ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int
ossbuf_reserve(struct ossbuf *b, size_t cap)
{
    char *np;

    if (cap + 1 <= b->cap)
        return 0;
    if (!(np = realloc(b->p, cap + 1)))
        return -OTSYNC_ENOMEM;
    b->p = np;
    b->cap = cap + 1;
    return 0;
}

void
ossbuf_fini(struct ossbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- names ---- */

void
ossname_suffix(const char *suffix, char *ret_buf, size_t len)
{
    snprintf(ret_buf, len, "%s%s", suffix[0] && suffix[0] != '.' ? "." : "", suffix);
}

static const char *
name_sep(const char *object)
{
    size_t n = strlen(object);

    return n == 0 || object[n - 1] == '/' ? "" : ".";
}

int
ossname_make(const char *object, uint64_t number, const char *suffix, char *ret_key, size_t len)
{
    int k = snprintf(ret_key, len, "%s%spart-%05" PRIu64 "%s", object, name_sep(object), number,
                     suffix);

    if (number == 0 || k < 0 || (size_t)k >= len) {
        if (len)
            ret_key[0] = '\0';
        return -OTSYNC_EINVAL;
    }
    return 0;
}

bool
ossname_parse(const char *object, const char *suffix, const char *key, uint64_t *ret_number)
{
    const char *sep = name_sep(object), *p, *d;
    size_t on = strlen(object), sn = strlen(sep), xn = strlen(suffix), digits;
    uint64_t n = 0;

    if (strncmp(key, object, on) != 0 || strncmp(key + on, sep, sn) != 0
        || strncmp(key + on + sn, "part-", 5) != 0)
        return false;
    d = p = key + on + sn + 5;
    while (*p >= '0' && *p <= '9')
        p++;
    digits = (size_t)(p - d);
    /* exactly what ossname_make writes: 5 digits, or more without a leading zero */
    if (digits < 5 || digits > 19 || (digits > 5 && d[0] == '0') || strcmp(p, suffix) != 0
        || strlen(p) != xn)
        return false;
    for (; d < p; d++)
        n = n * 10 + (uint64_t)(*d - '0');
    if (n == 0)
        return false;
    *ret_number = n;
    return true;
}

/* ---- dates ---- */

static const struct {
    const char *tok;
    int width;
} date_toks[] = {
    {"yyyy", 4}, {"MM", 2}, {"dd", 2}, {"HH", 2}, {"mm", 2}, {"ss", 2}, {"SSS", 3},
};
#define N_TOKS (sizeof(date_toks) / sizeof(date_toks[0]))

static bool
is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The token at p, or -1. */
static int
date_tok(const char *p)
{
    size_t i;

    for (i = 0; i < N_TOKS; i++)
        if (strncmp(p, date_toks[i].tok, strlen(date_toks[i].tok)) == 0)
            return (int)i;
    return -1;
}

int
ossdate_check(const char *fmt, char *msg, size_t msg_len)
{
    const char *p = fmt;
    int t;

    while (*p) {
        if (!is_letter(*p)) {
            p++;
            continue;
        }
        if ((t = date_tok(p)) < 0) {
            snprintf(msg, msg_len, "unsupported pattern letters at '%s' in \"%s\" (supported: "
                     "yyyy MM dd HH mm ss SSS)", p, fmt);
            return -1;
        }
        p += strlen(date_toks[t].tok);
    }
    return 0;
}

int
ossdate_format(int64_t ms, const char *fmt, char *buf, size_t len)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int millis = (int)(ms - (int64_t)t * 1000);
    const char *p = fmt;
    size_t n = 0;
    struct tm tm;
    int v[N_TOKS], k, i;

    if (!localtime_r(&t, &tm))
        return -1;
    v[0] = tm.tm_year + 1900;
    v[1] = tm.tm_mon + 1;
    v[2] = tm.tm_mday;
    v[3] = tm.tm_hour;
    v[4] = tm.tm_min;
    v[5] = tm.tm_sec;
    v[6] = millis;
    while (*p) {
        if (is_letter(*p) && (i = date_tok(p)) >= 0) {
            k = snprintf(buf + n, len - n, "%0*d", date_toks[i].width, v[i]);
            p += strlen(date_toks[i].tok);
        } else {
            k = snprintf(buf + n, len - n, "%c", *p++);
        }
        if (k < 0 || (size_t)k >= len - n)
            return -1;
        n += (size_t)k;
    }
    return (int)n;
}

int
ossdate_parse(const char *s, size_t len, const char *fmt, int64_t *ret_ms)
{
    int f[N_TOKS] = {1970, 1, 1, 0, 0, 0, 0};
    const char *p = fmt, *e = s + len;
    struct tm tm;
    time_t t;
    int i, k, n;

    while (*p) {
        if (is_letter(*p) && (i = date_tok(p)) >= 0) {
            for (n = 0, k = 0; k < date_toks[i].width; k++, s++) {
                if (s >= e || *s < '0' || *s > '9')
                    return -1;
                n = n * 10 + (*s - '0');
            }
            f[i] = n;
            p += strlen(date_toks[i].tok);
        } else if (s >= e || *s++ != *p++) {
            return -1;
        }
    }
    if (s != e)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    tm.tm_isdst = -1;
    t = mktime(&tm);
    /* mktime moves 2018-02-30 into March: a changed field means there is no such date */
    if (t == (time_t)-1 || tm.tm_year != f[0] - 1900 || tm.tm_mon != f[1] - 1
        || tm.tm_mday != f[2] || tm.tm_min != f[4] || tm.tm_sec != f[5])
        return -1;
    *ret_ms = (int64_t)t * 1000 + f[6];
    return 0;
}

/* ---- writing ---- */

static bool
needs_quotes(const struct ossfmt_out *o, const char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    const unsigned char d = (unsigned char)o->delim[0];
    const unsigned char l = o->line[0] ? (unsigned char)o->line[0] : (unsigned char)'\n';
    const unsigned char *u = (const unsigned char *)s;
    uint64_t w, x, hit = 0;
    size_t i;

    if (len == 0 || s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t')
        return true;
    if (strlen(o->null_format) == len && memcmp(o->null_format, s, len) == 0)
        return true;
    /* every byte of every value passes here, and a value that needs quotes is rare: eight
     * bytes at a time, each compared with the five that matter at once (a word has a byte b
     * when (w ^ b..b) has a zero byte, which (x - 0x01..) & ~x & 0x80.. tells) */
    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, u + i, 8);
        x = w ^ (ones * '"');
        hit |= (x - ones) & ~x;
        x = w ^ (ones * '\r');
        hit |= (x - ones) & ~x;
        x = w ^ (ones * '\n');
        hit |= (x - ones) & ~x;
        x = w ^ (ones * d);
        hit |= (x - ones) & ~x;
        x = w ^ (ones * l);
        hit |= (x - ones) & ~x;
    }
    if (hit & highs)
        return true;
    for (; i < len; i++)
        if (u[i] == '"' || u[i] == '\r' || u[i] == '\n' || u[i] == d || u[i] == l)
            return true;
    return false;
}

static int
put_field(const struct ossfmt_out *o, const char *s, size_t len, struct ossbuf *b)
{
    const char *q;
    int rc;

    if (!o->csv || !needs_quotes(o, s, len))
        return ossbuf_add(b, s, len);
    if ((rc = ossbuf_add(b, "\"", 1)) < 0)
        return rc;
    while ((q = memchr(s, '"', len))) {
        if ((rc = ossbuf_add(b, s, (size_t)(q - s) + 1)) < 0 || (rc = ossbuf_add(b, "\"", 1)) < 0)
            return rc;
        len -= (size_t)(q - s) + 1;
        s = q + 1;
    }
    if ((rc = ossbuf_add(b, s, len)) < 0)
        return rc;
    return ossbuf_add(b, "\"", 1);
}

static int
put_value(const struct ossfmt_out *o, const struct otsync_value *v, struct ossbuf *b)
{
    char buf[OTSYNC_VALUE_TEXT_MAX], dbuf[256], *b64;
    const char *t;
    size_t n;
    int rc, k;

    switch (v->type) {
    case OTSYNC_TYPE_NULL:
        return ossbuf_add(b, o->null_format, strlen(o->null_format));
    case OTSYNC_TYPE_BINARY:
        if (!(b64 = malloc(4 * ((v->u.bytes.len + 2) / 3) + 1)))
            return -OTSYNC_ENOMEM;
        n = sign_base64(v->u.bytes.ptr, v->u.bytes.len, b64);
        rc = put_field(o, b64, n, b);
        free(b64);
        return rc;
    case OTSYNC_TYPE_DATE:
        if ((k = ossdate_format(v->u.date_ms, o->date_format, dbuf, sizeof(dbuf))) >= 0)
            return put_field(o, dbuf, (size_t)k, b);
        break;
    default:
        break;
    }
    t = otsync_value_text(v, buf, &n);
    return put_field(o, t, n, b);
}

int
ossfmt_record(const struct ossfmt_out *o, const struct otsync_record *rec, struct ossbuf *b)
{
    size_t i;
    int rc;

    for (i = 0; i < rec->count; i++)
        if ((i && (rc = ossbuf_add(b, o->delim, strlen(o->delim))) < 0)
            || (rc = put_value(o, &rec->cols[i], b)) < 0)
            return rc;
    return ossbuf_add(b, o->line, strlen(o->line));
}

int
ossfmt_strings(const struct ossfmt_out *o, const char *const *s, size_t count, struct ossbuf *b)
{
    size_t i;
    int rc;

    for (i = 0; i < count; i++)
        if ((i && (rc = ossbuf_add(b, o->delim, strlen(o->delim))) < 0)
            || (rc = put_field(o, s[i], strlen(s[i]), b)) < 0)
            return rc;
    return ossbuf_add(b, o->line, strlen(o->line));
}

/* ---- parsing ---- */

enum { P_START, P_UNQUOTED, P_QUOTED, P_QUOTE_SEEN };

int
ossfmt_parser_init(struct ossfmt_parser *p, bool csv, const char *delim)
{
    memset(p, 0, sizeof(*p));
    p->csv = csv;
    p->line = 1;
    if (!*delim || !(p->delim = strdup(delim)))
        return -OTSYNC_EINVAL;
    p->delim_len = strlen(delim);
    return 0;
}

void
ossfmt_parser_fini(struct ossfmt_parser *p)
{
    ossbuf_fini(&p->text);
    free(p->fields);
    free(p->delim);
    memset(p, 0, sizeof(*p));
}

/* Ends the current field at text's end (minus cut bytes). */
static int
end_field(struct ossfmt_parser *p, size_t start, size_t cut)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct ossfmt_field *nf = realloc(p->fields, cap * sizeof(*nf));

        if (!nf)
            return -OTSYNC_ENOMEM;
        p->fields = nf;
        p->cap = cap;
    }
    p->fields[p->count++] = (struct ossfmt_field){(const char *)(uintptr_t)start,
                                                  p->text.len - cut - start, p->quoted};
    p->quoted = false;
    p->state = P_START;
    return 0;
}

static size_t
field_start(const struct ossfmt_parser *p)
{
    const struct ossfmt_field *f = p->count ? &p->fields[p->count - 1] : NULL;

    return f ? (size_t)(uintptr_t)f->p + f->len : 0;
}

static int
end_record(struct ossfmt_parser *p, ossfmt_record_cb cb, void *arg)
{
    size_t start = field_start(p), i;
    int rc;

    /* a CR before the LF belongs to the line end, not to an unquoted field */
    if (p->state != P_QUOTE_SEEN && p->text.len > start && p->text.p[p->text.len - 1] == '\r')
        p->text.len--;
    if ((rc = end_field(p, start, 0)) < 0)
        return rc;
    rc = 0;
    if (!(p->count == 1 && p->fields[0].len == 0 && !p->fields[0].quoted)) {
        /* empty fields of an empty line leave text.p NULL: no arithmetic on NULL */
        for (i = 0; i < p->count; i++)
            p->fields[i].p = p->text.p ? p->text.p + (uintptr_t)p->fields[i].p : "";
        rc = cb(arg, p->fields, p->count);
    }
    p->count = 0;
    p->text.len = 0;
    p->line++;
    return rc;
}

int
ossfmt_parse(struct ossfmt_parser *p, const char *data, size_t len, bool eof,
             ossfmt_record_cb cb, void *arg, struct otsync_err *err)
{
    size_t i, start;
    char ch;
    int rc;

    for (i = 0; i < len; i++) {
        ch = data[i];
        if (p->text.len >= OSSFMT_MAX_RECORD)
            return otsync_err_set(err, OTSYNC_EPROTO, "line %" PRIu64 ": a record longer than "
                                  "%u bytes (an unclosed quote?)", p->line, OSSFMT_MAX_RECORD);
        if (p->csv && p->state == P_START && ch == '"') {
            p->state = P_QUOTED;
            p->quoted = true;
            continue;
        }
        if (p->state == P_QUOTED) {
            if (ch == '"')
                p->state = P_QUOTE_SEEN;
            else if (ossbuf_add(&p->text, &ch, 1) < 0)
                return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
            if (ch == '\n')
                p->line++;
            continue;
        }
        if (p->state == P_QUOTE_SEEN) {
            if (ch == '"') {
                p->state = P_QUOTED;    /* a doubled quote */
                if (ossbuf_add(&p->text, &ch, 1) < 0)
                    return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
                continue;
            }
            if (ch == '\r')
                continue;               /* CRLF after a closing quote */
            if (ch != '\n' && ch != p->delim[0])
                p->state = P_UNQUOTED;  /* text after a closing quote: kept, leniently */
        }
        if (ch == '\n') {
            if ((rc = end_record(p, cb, arg)) != 0)
                return rc < 0 && rc == -OTSYNC_ENOMEM
                       ? otsync_err_set(err, OTSYNC_ENOMEM, "out of memory") : rc;
            continue;
        }
        if (ossbuf_add(&p->text, &ch, 1) < 0)
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        if (p->state == P_START)
            p->state = P_UNQUOTED;
        start = field_start(p);
        if (p->text.len - start >= p->delim_len
            && (p->state == P_UNQUOTED || p->state == P_QUOTE_SEEN)
            && memcmp(p->text.p + p->text.len - p->delim_len, p->delim, p->delim_len) == 0) {
            if (end_field(p, start, p->delim_len) < 0)
                return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
            p->text.len -= p->delim_len;
        }
    }
    if (!eof)
        return 0;
    if (p->state == P_QUOTED)
        return otsync_err_set(err, OTSYNC_EPROTO, "line %" PRIu64 ": a quote opened and never "
                              "closed", p->line);
    if (p->count || p->text.len || p->quoted || p->state == P_QUOTE_SEEN)
        if ((rc = end_record(p, cb, arg)) != 0)
            return rc;
    return 0;
}
