/*
 * ossreader.c - the oss reader: csv or text objects of an OSS bucket as records.
 *
 * Owns: which objects to read (`object`: keys, or patterns with * and ? that are matched,
 * as fnmatch(3) does without FNM_PATHNAME, against a listing of the text before the first
 * wildcard), reading each in 1 MiB ranged GETs (a transfer that breaks goes on from the byte
 * it reached: ossclient_get), decoding (gzip, then the encoding through iconv, then the csv or
 * text parser of ossformat.h) and the columns (an index into the fields with a type, or a
 * constant). Leaves to others: OSS (ossclient.h), the connection (ossconn.h), the queue.
 *
 * split() works out the list of objects (listing the bucket for the patterns, in order, each
 * key once) and makes one slice per object; slice i reads object i whole. open() does no I/O.
 */
#include <errno.h>
#include <fnmatch.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <zlib.h>
#include "otsync/log.h"
#include "otsync/sign.h"
#include "ossconn.h"
#include "ossformat.h"

#define CHUNK (1024u * 1024u)       /* bytes per GET */
#define BATCH_RECORDS 1024
#define BATCH_BYTES (1024u * 1024u)
#define DEFAULT_DATE_FORMAT "yyyy-MM-dd HH:mm:ss"

struct oss_reader_conf {
    struct ossconn_conf conn;
    const json_t *object;
    const json_t *column;
    const char *field_delimiter;
    const char *file_format;
    const char *compress;
    const char *encoding;
    const char *null_format;
    bool skip_header;
    bool success_on_no_object;
};

static const struct otsync_option oss_reader_options[] = {
    OSSCONN_OPTIONS(struct oss_reader_conf),
    {"object", OTSYNC_OPT_ARRAY, offsetof(struct oss_reader_conf, object), NULL,
     "the objects: keys, or patterns where * is any text (also /) and ? one character"},
    {"column", OTSYNC_OPT_ARRAY, offsetof(struct oss_reader_conf, column), "[\"*\"]",
     "[\"*\"] (every field as a string), or {index, type[, format]} and {value, type}: type "
     "string, long, double, boolean, date (format in yyyy MM dd HH mm ss SSS) or bytes (base64)"},
    {"fieldDelimiter", OTSYNC_OPT_STRING, offsetof(struct oss_reader_conf, field_delimiter), ",",
     "between the fields; one character for csv"},
    {"fileFormat", OTSYNC_OPT_STRING, offsetof(struct oss_reader_conf, file_format), "csv",
     "csv (RFC 4180 quotes) or text (lines split at every delimiter, no quotes)"},
    {"compress", OTSYNC_OPT_STRING, offsetof(struct oss_reader_conf, compress), "",
     "gzip, or empty for none"},
    {"encoding", OTSYNC_OPT_STRING, offsetof(struct oss_reader_conf, encoding), "UTF-8",
     "the objects' character set (any iconv knows, such as GBK)"},
    {"nullFormat", OTSYNC_OPT_STRING, offsetof(struct oss_reader_conf, null_format), "\\N",
     "an unquoted field equal to this is a null"},
    {"skipHeader", OTSYNC_OPT_BOOL, offsetof(struct oss_reader_conf, skip_header), "false",
     "drop the first record of every object"},
    {"successOnNoObject", OTSYNC_OPT_BOOL,
     offsetof(struct oss_reader_conf, success_on_no_object), "false",
     "a key that does not exist, or a pattern matching nothing, is not an error"},
    {NULL, 0, 0, NULL, NULL},
};

enum col_kind { COL_STRING, COL_LONG, COL_DOUBLE, COL_BOOL, COL_DATE, COL_BYTES };

static const struct {
    const char *name;
    enum col_kind kind;
} col_types[] = {
    {"string", COL_STRING}, {"long", COL_LONG}, {"double", COL_DOUBLE}, {"boolean", COL_BOOL},
    {"bool", COL_BOOL}, {"date", COL_DATE}, {"bytes", COL_BYTES},
};

struct rcol {
    int64_t index;              /* -1: a constant */
    enum col_kind kind;
    const char *format;         /* date; NULL: the default forms */
    const char *value;          /* the constant's text, borrowed from the job */
};

struct oss_reader {
    struct otsync_reader *or;
    struct ossconn *conn;
    const char **patterns;
    size_t pattern_count;
    struct rcol *cols;
    size_t col_count;           /* 0: every field as a string */
    bool csv, gzip, skip_header, success_on_no_object;
    const char *delim, *null_format;
    const char *encoding;       /* NULL: UTF-8 */
    /* the objects, one slice each */
    size_t list_pattern;        /* the pattern being listed */
    char *token;
    char **keys;
    size_t key_count, key_cap;
    uv_timer_t split_timer;     /* split's answer goes out on a later turn */
    otsync_split_cb split_done;
    void *split_arg;
    int split_rc;
    struct otsync_err split_err;
    int closing_left;
};

struct rtask {
    struct oss_reader *r;
    otsync_read_emit_cb emit;
    otsync_read_end_cb end;
    void *arg;
    uv_timer_t kick;            /* pump() on a later turn, never inside the engine's call */
    bool paused, canceled, busy, ended;
    const char *key;            /* the object being read, NULL between objects */
    bool sized;
    uint64_t size, pos;
    z_stream z;
    bool z_open, z_ended;
    iconv_t cd;
    struct ossbuf pend;         /* bytes iconv has not taken yet (a split character) */
    struct ossfmt_parser parser;
    bool header_seen;
    struct otsync_batch *batch;
    int rc;
    struct otsync_err err;
};

static void task_pump(struct rtask *t);
static void on_kick(uv_timer_t *h);

static bool
has_wildcard(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* ---- records ---- */

static void
task_fail(struct rtask *t, int rc, const struct otsync_err *err)
{
    if (t->rc == 0) {
        t->rc = rc < 0 ? rc : -OTSYNC_EPROTO;
        t->err = *err;
    }
}

static void
emit_batch(struct rtask *t)
{
    struct otsync_batch *b = t->batch;

    t->batch = NULL;
    if (b && b->count)
        t->emit(t->arg, b);
    else
        otsync_batch_free(b);
}

/* A record that cannot be read: its fields as strings go to the dirty file with why. */
static void
report_dirty(struct rtask *t, const struct ossfmt_field *f, size_t count, const char *why)
{
    struct otsync_batch *b = otsync_batch_new(1);
    struct otsync_record *rec;
    struct otsync_err err;
    char reason[512];
    size_t i;

    snprintf(reason, sizeof(reason), "reader oss: '%s' line %" PRIu64 ": %s", t->key,
             t->parser.line, why);
    if (b && otsync_batch_add(b, count, &rec, &err) == 0) {
        for (i = 0; i < count; i++)
            if (otsync_value_set_string(b, &rec->cols[i], f[i].p, f[i].len, &err) < 0)
                break;
        t->r->or->dirty(t->r->or->dirty_arg, rec, reason);
    }
    otsync_batch_free(b);
}

/* One column's value from text s (NULL: null). Returns 0, or -1 with why. */
static int
set_col(struct otsync_batch *b, struct otsync_value *v, const struct rcol *c, const char *s,
        size_t len, char *why, size_t why_len)
{
    static const enum otsync_type to[] = {OTSYNC_TYPE_STRING, OTSYNC_TYPE_INT,
                                          OTSYNC_TYPE_DOUBLE, OTSYNC_TYPE_BOOL, OTSYNC_TYPE_DATE};
    char cwhy[OTSYNC_CONVERT_WHY_MAX];
    struct otsync_err err;
    unsigned char *bin;
    int64_t ms;
    long n;

    if (!s)
        return 0;
    if (c->kind == COL_BYTES) {
        if (!(bin = malloc(len / 4 * 3 + 3)))
            return snprintf(why, why_len, "out of memory"), -1;
        n = sign_unbase64(s, len, bin);
        if (n < 0 || otsync_value_set_binary(b, v, bin, (size_t)n, &err) < 0) {
            free(bin);
            snprintf(why, why_len, "a bytes column is not base64: \"%.40s\"", s);
            return -1;
        }
        free(bin);
        return 0;
    }
    if (c->kind == COL_DATE && c->format) {
        if (ossdate_parse(s, len, c->format, &ms) < 0) {
            snprintf(why, why_len, "\"%.*s\" does not match the date format \"%s\"",
                     (int)(len > 40 ? 40 : len), s, c->format);
            return -1;
        }
        otsync_value_set_date(b, v, ms);
        return 0;
    }
    if (otsync_value_set_string(b, v, s, len, &err) < 0)
        return snprintf(why, why_len, "out of memory"), -1;
    if (c->kind != COL_STRING && otsync_value_convert(b, v, to[c->kind], cwhy) < 0) {
        snprintf(why, why_len, "%s", cwhy);
        return -1;
    }
    return 0;
}

static bool
is_null(const struct oss_reader *r, const struct ossfmt_field *f)
{
    return !f->quoted && strlen(r->null_format) == f->len
           && memcmp(r->null_format, f->p, f->len) == 0;
}

static int
on_record(void *arg, const struct ossfmt_field *f, size_t count)
{
    struct rtask *t = arg;
    struct oss_reader *r = t->r;
    struct otsync_record *rec;
    struct otsync_err err;
    char why[256];
    size_t i, n = r->col_count ? r->col_count : count;
    const struct rcol all = {0, COL_STRING, NULL, NULL};

    if (r->skip_header && !t->header_seen) {
        t->header_seen = true;
        return 0;
    }
    if (!t->batch && !(t->batch = otsync_batch_new(BATCH_RECORDS)))
        goto nomem;
    if (otsync_batch_add(t->batch, n, &rec, &err) < 0)
        goto nomem;
    for (i = 0; i < n; i++) {
        const struct rcol *c = r->col_count ? &r->cols[i] : &all;
        const char *s;
        size_t len;

        if (r->col_count && c->index < 0) {
            s = c->value;
            len = s ? strlen(s) : 0;
        } else {
            size_t idx = r->col_count ? (size_t)c->index : i;
            if (idx >= count) {
                snprintf(why, sizeof(why), "column %zu wants field %zu, the record has %zu", i,
                         idx, count);
                goto dirty;
            }
            s = is_null(r, &f[idx]) ? NULL : f[idx].p;
            len = f[idx].len;
        }
        if (set_col(t->batch, &rec->cols[i], c, s, len, why, sizeof(why)) < 0)
            goto dirty;
    }
    if (t->batch->count >= BATCH_RECORDS || t->batch->bytes >= BATCH_BYTES)
        emit_batch(t);
    return 0;
dirty:
    /* the half-built record leaves the batch; its bytes stay in the arena, unseen */
    t->batch->count--;
    report_dirty(t, f, count, why);
    return 0;
nomem:
    task_fail(t, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"), &err));
    return -OTSYNC_ENOMEM;
}

/* ---- decoding: gzip, then the encoding, then the parser ---- */

static int
parse(struct rtask *t, const char *data, size_t len, bool eof)
{
    struct otsync_err err;
    int rc;

    otsync_err_clear(&err);
    rc = ossfmt_parse(&t->parser, data, len, eof, on_record, t, &err);
    if (rc < 0 && err.code) {
        otsync_err_prefix(&err, "reader oss: '%s'", t->key);
        task_fail(t, rc, &err);
    }
    return rc < 0 ? rc : 0;
}

static int
decode_text(struct rtask *t, const char *data, size_t len, bool eof)
{
    struct oss_reader *r = t->r;
    struct otsync_err err;
    char out[65536], *in, *o;
    size_t il, ol;

    if (!r->encoding)
        return parse(t, data, len, eof);
    if (ossbuf_add(&t->pend, data, len) < 0)
        goto nomem;
    in = t->pend.p;
    il = t->pend.len;
    while (il > 0) {
        size_t done;
        int e;

        o = out;
        ol = sizeof(out);
        done = iconv(t->cd, &in, &il, &o, &ol);
        e = errno;
        if (o > out && parse(t, out, (size_t)(o - out), false) < 0)
            return -1;
        if (done != (size_t)-1 || e == E2BIG)
            continue;
        if (e == EINVAL && !eof)
            break;      /* a character split across reads: its rest comes next */
        task_fail(t, -OTSYNC_EPROTO, (otsync_err_set(&err, OTSYNC_EPROTO, "reader oss: '%s': "
                  "not valid %s text near byte %" PRIu64, t->key, r->encoding, t->pos), &err));
        return -OTSYNC_EPROTO;
    }
    memmove(t->pend.p, in, il);
    t->pend.len = il;
    return eof ? parse(t, "", 0, true) : 0;
nomem:
    task_fail(t, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"), &err));
    return -OTSYNC_ENOMEM;
}

static int
decode(struct rtask *t, const char *data, size_t len, bool eof)
{
    struct otsync_err err;
    char out[65536];
    int zrc;

    if (!t->r->gzip)
        return decode_text(t, data, len, eof);
    t->z.next_in = (unsigned char *)data;
    t->z.avail_in = (uInt)len;
    while (t->z.avail_in > 0) {
        if (t->z_ended) {
            inflateReset(&t->z);    /* concatenated gzip members read as one stream */
            t->z_ended = false;
        }
        t->z.next_out = (unsigned char *)out;
        t->z.avail_out = sizeof(out);
        zrc = inflate(&t->z, Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
            task_fail(t, -OTSYNC_EPROTO, (otsync_err_set(&err, OTSYNC_EPROTO, "reader oss: '%s':"
                      " not gzip, or damaged: %s", t->key, t->z.msg ? t->z.msg : "inflate"),
                                          &err));
            return -OTSYNC_EPROTO;
        }
        if (zrc == Z_STREAM_END)
            t->z_ended = true;
        if (decode_text(t, out, sizeof(out) - t->z.avail_out, false) < 0)
            return -1;
        if (zrc == Z_BUF_ERROR && t->z.avail_out != 0)
            break;
    }
    if (eof && !t->z_ended && t->size) {
        task_fail(t, -OTSYNC_EPROTO, (otsync_err_set(&err, OTSYNC_EPROTO, "reader oss: '%s': "
                                                     "the gzip stream is cut short", t->key),
                                      &err));
        return -OTSYNC_EPROTO;
    }
    return eof ? decode_text(t, "", 0, true) : 0;
}

/* ---- the work list ---- */

static int
add_key(struct oss_reader *r, const char *key)
{
    char **nk;
    size_t i;

    for (i = 0; i < r->key_count; i++)
        if (strcmp(r->keys[i], key) == 0)
            return 0;   /* named twice, read once */
    if (r->key_count == r->key_cap) {
        if (!(nk = realloc(r->keys, (r->key_cap ? r->key_cap * 2 : 16) * sizeof(*nk))))
            return -OTSYNC_ENOMEM;
        r->keys = nk;
        r->key_cap = r->key_cap ? r->key_cap * 2 : 16;
    }
    if (!(r->keys[r->key_count] = strdup(key)))
        return -OTSYNC_ENOMEM;
    r->key_count++;
    return 0;
}

static void list_next(struct oss_reader *r);

static void
on_split_timer(uv_timer_t *h)
{
    struct oss_reader *r = h->data;
    otsync_split_cb done = r->split_done;

    r->split_done = NULL;
    done(r->split_arg, r->split_rc, r->split_rc < 0 ? 0 : (unsigned)r->key_count,
         r->split_rc < 0 ? &r->split_err : NULL);
}

/* The list is complete (or failed): split answers on the next turn, never inside split(). */
static void
list_end(struct oss_reader *r, int rc, const struct otsync_err *err)
{
    r->split_rc = rc < 0 ? rc : 0;
    if (rc < 0)
        r->split_err = *err;
    else
        log_info("reader oss: %zu object%s to read", r->key_count, r->key_count == 1 ? "" : "s");
    uv_timer_start(&r->split_timer, on_split_timer, 0, 0);
}

static void
on_list_page(void *arg, const struct ossclient_result *res)
{
    struct oss_reader *r = arg;
    const char *pat = r->patterns[r->list_pattern];
    struct otsync_err err;
    size_t i;

    otsync_err_clear(&err);
    if (res->rc < 0) {
        err = *res->err;
        otsync_err_prefix(&err, "reader oss: listing for '%s'", pat);
        list_end(r, res->rc, &err);
        return;
    }
    for (i = 0; i < res->list->object_count; i++)
        if (fnmatch(pat, res->list->objects[i].key, 0) == 0
            && add_key(r, res->list->objects[i].key) < 0) {
            list_end(r, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"),
                                         &err));
            return;
        }
    free(r->token);
    r->token = NULL;
    if (res->list->is_truncated && res->list->next_continuation_token
        && !(r->token = strdup(res->list->next_continuation_token))) {
        list_end(r, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"), &err));
        return;
    }
    if (!r->token)
        r->list_pattern++;
    list_next(r);
}

/* Lists for the next pattern that needs it; plain keys go on the list as they are. */
static void
list_next(struct oss_reader *r)
{
    struct otsync_err err;
    char prefix[1024];
    const char *pat;
    size_t n;

    otsync_err_clear(&err);
    while (r->list_pattern < r->pattern_count) {
        pat = r->patterns[r->list_pattern];
        if (has_wildcard(pat)) {
            n = strcspn(pat, "*?[");
            snprintf(prefix, sizeof(prefix), "%.*s", (int)n, pat);
            if (ossclient_list(r->conn->client, prefix, r->token, 1000, on_list_page, r,
                               &err) < 0)
                list_end(r, -err.code, &err);
            return;
        }
        if (add_key(r, pat) < 0) {
            list_end(r, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"),
                                         &err));
            return;
        }
        r->list_pattern++;
    }
    if (r->key_count > UINT32_MAX) {
        otsync_err_set(&err, OTSYNC_EINVAL, "reader oss: %zu objects are too many for one job",
                       r->key_count);
        list_end(r, -OTSYNC_EINVAL, &err);
        return;
    }
    if (r->key_count == 0 && !r->success_on_no_object) {
        otsync_err_set(&err, OTSYNC_ENOENT, "reader oss: no object matches %s%s in bucket '%s'"
                       " (successOnNoObject: true makes this a success)", r->patterns[0],
                       r->pattern_count > 1 ? " or the other patterns" : "", r->conn->bucket);
        list_end(r, -OTSYNC_ENOENT, &err);
        return;
    }
    list_end(r, 0, NULL);
}

/* ---- a slice ---- */

static void
on_kick(uv_timer_t *h)
{
    task_pump(h->data);
}

static void
on_task_closed(uv_handle_t *h)
{
    struct rtask *t = h->data;

    free(t);
}

static void
object_reset(struct rtask *t)
{
    t->key = NULL;
    t->sized = false;
    t->size = t->pos = 0;
    t->header_seen = false;
    t->pend.len = 0;
    if (t->z_open)
        inflateReset(&t->z);
    t->z_ended = false;
    if (t->r->encoding)
        iconv(t->cd, NULL, NULL, NULL, NULL);
    ossfmt_parser_fini(&t->parser);
}

static void
task_end(struct rtask *t)
{
    struct oss_reader *r = t->r;
    struct otsync_err err = t->err;
    int rc = t->rc;

    t->ended = true;
    if (rc == 0)
        emit_batch(t);
    otsync_batch_free(t->batch);
    t->batch = NULL;
    object_reset(t);
    if (t->z_open)
        inflateEnd(&t->z);
    if (r->encoding && t->cd != (iconv_t)-1)
        iconv_close(t->cd);
    ossbuf_fini(&t->pend);
    uv_close((uv_handle_t *)&t->kick, on_task_closed);
    t->end(t->arg, rc, rc < 0 ? &err : NULL);
}

static void
on_head(void *arg, const struct ossclient_result *res)
{
    struct rtask *t = arg;

    t->busy = false;
    if (res->rc == -OTSYNC_ENOENT && t->r->success_on_no_object) {
        log_warn("reader oss: object '%s' does not exist; skipped (successOnNoObject)", t->key);
        t->sized = true;    /* as an empty object */
    } else if (res->rc < 0) {
        task_fail(t, res->rc, res->err);
    } else {
        t->size = res->size;
        t->sized = true;
        log_info("reader oss: reading '%s' (%" PRIu64 " bytes)", t->key, t->size);
    }
    task_pump(t);
}

static void
on_get(void *arg, const struct ossclient_result *res)
{
    struct rtask *t = arg;

    t->busy = false;
    if (res->rc < 0) {
        task_fail(t, res->rc, res->err);
    } else if (!t->canceled) {
        t->pos += res->len;
        if (res->size && res->size != t->size) {
            struct otsync_err err;
            task_fail(t, -OTSYNC_EPROTO, (otsync_err_set(&err, OTSYNC_EPROTO, "reader oss: '%s'"
                      " changed while being read (%" PRIu64 " bytes, then %" PRIu64 ")", t->key,
                      t->size, res->size), &err));
        } else {
            (void)decode(t, res->data, res->len, false);
        }
    }
    task_pump(t);
}

static void
task_pump(struct rtask *t)
{
    struct oss_reader *r = t->r;
    struct otsync_err err;
    uint64_t last;

    otsync_err_clear(&err);
    while (!t->busy && !t->ended) {
        if (t->canceled && t->rc == 0)
            task_fail(t, -OTSYNC_ECANCELED, (otsync_err_set(&err, OTSYNC_ECANCELED, "reader oss:"
                                                            " canceled"), &err));
        if (t->rc < 0) {
            task_end(t);
            return;
        }
        if (t->paused)
            return;
        if (!t->sized) {
            if (ossfmt_parser_init(&t->parser, r->csv, r->delim) < 0) {
                task_fail(t, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of "
                                                             "memory"), &err));
                continue;
            }
            if (ossclient_head(r->conn->client, t->key, on_head, t, &err) < 0) {
                task_fail(t, -err.code, &err);
                continue;
            }
            t->busy = true;
            return;
        }
        if (t->pos < t->size) {
            last = t->pos + CHUNK - 1 < t->size - 1 ? t->pos + CHUNK - 1 : t->size - 1;
            if (ossclient_get(r->conn->client, t->key, t->pos, last, on_get, t, &err) < 0) {
                task_fail(t, -err.code, &err);
                continue;
            }
            t->busy = true;
            return;
        }
        /* the whole object is in: what the decoders hold back ends it, and the slice */
        if (decode(t, "", 0, true) == 0) {
            task_end(t);
            return;
        }
    }
}

static int
oss_reader_start(struct otsync_reader *or, unsigned slice, otsync_read_emit_cb emit,
                 otsync_read_end_cb end, void *arg, void **ret_task, struct otsync_err *err)
{
    struct oss_reader *r = or->data;
    struct rtask *t;

    if (slice >= r->key_count)
        return otsync_err_set(err, OTSYNC_EINVAL, "reader oss: no slice %u", slice);
    if (!(t = calloc(1, sizeof(*t))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "reader oss: out of memory");
    t->r = r;
    t->emit = emit;
    t->end = end;
    t->arg = arg;
    t->cd = (iconv_t)-1;
    if (r->gzip) {
        if (inflateInit2(&t->z, 15 + 32) != Z_OK) {
            free(t);
            return otsync_err_set(err, OTSYNC_ENOMEM, "reader oss: gzip could not start");
        }
        t->z_open = true;
    }
    if (r->encoding && (t->cd = iconv_open("UTF-8", r->encoding)) == (iconv_t)-1) {
        if (t->z_open)
            inflateEnd(&t->z);
        free(t);
        return otsync_err_set(err, OTSYNC_ESYS, "reader oss: iconv_open failed");
    }
    t->key = r->keys[slice];
    uv_timer_init(or->loop, &t->kick);
    t->kick.data = t;
    uv_timer_start(&t->kick, on_kick, 0, 0);
    *ret_task = t;
    return 0;
}

static void
oss_reader_pause(struct otsync_reader *or, void *task)
{
    struct rtask *t = task;

    (void)or;
    t->paused = true;
}

static void
oss_reader_resume(struct otsync_reader *or, void *task)
{
    struct rtask *t = task;

    (void)or;
    t->paused = false;
    if (!t->ended)
        uv_timer_start(&t->kick, on_kick, 0, 0);
}

static void
oss_reader_cancel(struct otsync_reader *or, void *task)
{
    struct rtask *t = task;

    (void)or;
    t->canceled = true;
    if (!t->ended)
        uv_timer_start(&t->kick, on_kick, 0, 0);
}

static int
oss_reader_split(struct otsync_reader *or, unsigned advice, otsync_split_cb done, void *arg,
                 struct otsync_err *err)
{
    struct oss_reader *r = or->data;

    (void)advice;   /* one slice per object, whatever the channels */
    if (r->split_done || r->list_pattern)
        return otsync_err_set(err, OTSYNC_EINVAL, "reader oss: split twice");
    r->split_done = done;
    r->split_arg = arg;
    list_next(r);
    return 0;
}

static void
reader_free(struct oss_reader *r)
{
    size_t i;

    for (i = 0; i < r->key_count; i++)
        free(r->keys[i]);
    free(r->keys);
    free(r->token);
    free(r->patterns);
    free(r->cols);
    free(r);
}

static void
on_part_gone(void *arg)
{
    struct oss_reader *r = arg;

    if (--r->closing_left == 0)
        reader_free(r);
}

static void
on_split_timer_closed(uv_handle_t *h)
{
    on_part_gone(h->data);
}

static void
oss_reader_close(struct otsync_reader *or)
{
    struct oss_reader *r = or->data;

    if (!r)
        return;
    or->data = NULL;
    r->closing_left = 2;
    uv_close((uv_handle_t *)&r->split_timer, on_split_timer_closed);
    ossconn_close(r->conn, on_part_gone, r);
}

static int
parse_columns(struct otsync_reader *or, struct oss_reader *r, const json_t *cols,
              struct otsync_err *err)
{
    const json_t *item, *jt, *ji, *jv, *jf;
    const char *key, *ts;
    char msg[256];
    size_t i, k;
    json_t *v;

    if (json_array_size(cols) == 1 && json_is_string(json_array_get(cols, 0))
        && strcmp(json_string_value(json_array_get(cols, 0)), "*") == 0)
        return 0;
    if (json_array_size(cols) == 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column: give [\"*\"] or at least one "
                              "column", or->path);
    if (!(r->cols = calloc(json_array_size(cols), sizeof(*r->cols))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    r->col_count = json_array_size(cols);
    for (i = 0; i < r->col_count; i++) {
        struct rcol *c = &r->cols[i];
        item = json_array_get(cols, i);
        if (!json_is_object(item))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu]: expected {\"index\": n, "
                                  "\"type\": t} or {\"value\": v, \"type\": t}", or->path, i);
        json_object_foreach((json_t *)item, key, v) {
            if (strcmp(key, "index") && strcmp(key, "type") && strcmp(key, "value")
                && strcmp(key, "format"))
                return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu].%s: unknown key "
                                      "(known: index, type, value, format)", or->path, i, key);
        }
        jt = json_object_get(item, "type");
        ji = json_object_get(item, "index");
        jv = json_object_get(item, "value");
        jf = json_object_get(item, "format");
        ts = jt ? json_string_value(jt) : "string";
        for (k = 0; ts && k < sizeof(col_types) / sizeof(col_types[0]); k++)
            if (strcasecmp(ts, col_types[k].name) == 0)
                break;
        if (!ts || k == sizeof(col_types) / sizeof(col_types[0]))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu].type: expected string, "
                                  "long, double, boolean, date or bytes", or->path, i);
        c->kind = col_types[k].kind;
        if ((ji != NULL) == (jv != NULL))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu]: give exactly one of "
                                  "index and value", or->path, i);
        if (ji && (!json_is_integer(ji) || json_integer_value(ji) < 0))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu].index: expected an "
                                  "integer from 0", or->path, i);
        if (jv && !json_is_string(jv) && !json_is_null(jv))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu].value: expected a "
                                  "string (or null)", or->path, i);
        c->index = ji ? json_integer_value(ji) : -1;
        c->value = jv ? json_string_value(jv) : NULL;
        if (jf) {
            if (c->kind != COL_DATE || !json_is_string(jf))
                return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu].format: only a date "
                                      "column has one, a string", or->path, i);
            c->format = json_string_value(jf);
            if (ossdate_check(c->format, msg, sizeof(msg)) < 0)
                return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu].format: %s",
                                      or->path, i, msg);
        }
    }
    return 0;
}

static int
oss_reader_open(struct otsync_reader *or, const void *conf_arg, struct otsync_err *err)
{
    const struct oss_reader_conf *conf = conf_arg;
    struct oss_reader *r;
    iconv_t cd;
    size_t i;
    int rc;

    if (!(r = calloc(1, sizeof(*r))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    r->or = or;
    r->pattern_count = json_array_size(conf->object);
    rc = -OTSYNC_ECONFIG;
    if (r->pattern_count == 0) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.object: give at least one key or pattern",
                       or->path);
        goto fail;
    }
    if (!(r->patterns = calloc(r->pattern_count, sizeof(*r->patterns)))) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < r->pattern_count; i++) {
        r->patterns[i] = json_string_value(json_array_get(conf->object, i));
        if (!r->patterns[i] || !r->patterns[i][0]) {
            otsync_err_set(err, OTSYNC_ECONFIG, "%s.object[%zu]: expected a key or pattern",
                           or->path, i);
            goto fail;
        }
    }
    if ((rc = parse_columns(or, r, conf->column, err)) < 0)
        goto fail;
    rc = -OTSYNC_ECONFIG;
    r->csv = strcasecmp(conf->file_format, "csv") == 0;
    if (!r->csv && strcasecmp(conf->file_format, "text") != 0) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.fileFormat: expected csv or text, got '%s'",
                       or->path, conf->file_format);
        goto fail;
    }
    if (!conf->field_delimiter[0] || (r->csv && strlen(conf->field_delimiter) != 1)) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.fieldDelimiter: %s", or->path,
                       r->csv ? "csv needs one character" : "must not be empty");
        goto fail;
    }
    if (conf->compress[0] && strcasecmp(conf->compress, "gzip") != 0) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.compress: expected gzip or nothing, got '%s'",
                       or->path, conf->compress);
        goto fail;
    }
    r->gzip = conf->compress[0] != '\0';
    if (strcasecmp(conf->encoding, "UTF-8") != 0 && strcasecmp(conf->encoding, "UTF8") != 0) {
        if ((cd = iconv_open("UTF-8", conf->encoding)) == (iconv_t)-1) {
            otsync_err_set(err, OTSYNC_ECONFIG, "%s.encoding: '%s' is not a character set "
                           "iconv knows", or->path, conf->encoding);
            goto fail;
        }
        iconv_close(cd);
        r->encoding = conf->encoding;
    }
    r->delim = conf->field_delimiter;
    r->null_format = conf->null_format;
    r->skip_header = conf->skip_header;
    r->success_on_no_object = conf->success_on_no_object;
    if ((rc = ossconn_open(or->loop, or->datasources, &conf->conn, or->path, &r->conn, err)) < 0)
        goto fail;
    uv_timer_init(or->loop, &r->split_timer);
    r->split_timer.data = r;
    or->data = r;
    return 0;
fail:
    reader_free(r);
    return rc;
}

const struct otsync_reader_ops otsync_reader_oss = {
    .name = "oss", .abi = OTSYNC_PLUGIN_ABI, .conf_size = sizeof(struct oss_reader_conf),
    .options = oss_reader_options,
    .open = oss_reader_open, .split = oss_reader_split, .start = oss_reader_start,
    .pause = oss_reader_pause, .resume = oss_reader_resume,
    .cancel = oss_reader_cancel, .close = oss_reader_close,
};
