/*
 * osswriter.c - the oss writer: records as csv or text objects in an OSS bucket, named by the
 * deterministic scheme of ossformat.h so that a rerun writes the same names.
 *
 * Owns: writeMode (applied once, before the first byte is written: truncate deletes the
 * objects of the scheme under `object`, append numbers new objects after the highest existing
 * one, nonConflict fails if any exists), turning records into bytes (format, encoding through
 * iconv, gzip through zlib), and uploading them so that each object appears complete or not at
 * all. Leaves to others: OSS itself (ossclient.h), the connection (ossconn.h), record text
 * (ossformat.h), the queue (the engine).
 *
 * Each channel writes its own objects: channel c (0-based) of n names its k-th object (k from
 * 0) with part number base + c + 1 + k * n, where base is 0, or for append the highest number
 * already there. Bytes collect in the channel's buffer; once it holds blockSizeInMB they go up
 * as a part of a multipart upload (initiated then), and an object closes when maxFileSize MB
 * of text went into it, or at finish. An object that never filled a block goes up with one
 * PutObject; a multipart upload is completed only after every part succeeded (CRC-64 of every
 * part and of the whole checked), and aborted on any failure, also when the job fails
 * elsewhere (close). A batch is acknowledged once its text is in the buffer or uploaded: the
 * export is durable when finish() reports success.
 */
#include <errno.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <zlib.h>
#include "otsync/crc64.h"
#include "otsync/log.h"
#include "ossconn.h"
#include "ossformat.h"

#define MIB (1024u * 1024u)
#define MAX_PARTS 10000
#define LIST_PAGE 1000

enum write_mode { MODE_TRUNCATE, MODE_APPEND, MODE_NONCONFLICT };
enum prep_state { PREP_NONE, PREP_RUNNING, PREP_DONE, PREP_FAILED };

struct oss_writer_conf {
    struct ossconn_conf conn;
    const char *object;
    const char *write_mode;
    const char *file_format;
    const char *field_delimiter;
    const char *line_delimiter;
    const char *null_format;
    const char *date_format;
    const char *encoding;
    const json_t *header;
    const char *suffix;
    int64_t max_file_size;
    int64_t block_size;
    const char *compress;
};

static const struct otsync_option oss_writer_options[] = {
    OSSCONN_OPTIONS(struct oss_writer_conf),
    {"object", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, object), NULL,
     "the prefix of the objects written, usually with a date variable; objects are named "
     "<object>.part-NNNNN<suffix> (<object>part-NNNNN<suffix> when it ends in /)"},
    {"writeMode", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, write_mode), NULL,
     "truncate (delete this export's objects under object first), append (number new objects "
     "after them) or nonConflict (fail, writing nothing, if any exists)"},
    {"fileFormat", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, file_format), "text",
     "csv (RFC 4180 quoting) or text (no quoting at all)"},
    {"fieldDelimiter", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, field_delimiter), ",",
     "between the columns; one character for csv"},
    {"lineDelimiter", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, line_delimiter), "\n",
     "after every record"},
    {"nullFormat", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, null_format), "\\N",
     "written for a null; in csv a string equal to it is quoted, so it reads back as a string"},
    {"dateFormat", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, date_format),
     "yyyy-MM-dd HH:mm:ss", "date columns in these letters: yyyy MM dd HH mm ss SSS, local time"},
    {"encoding", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, encoding), "UTF-8",
     "the character set of the objects (any iconv knows, such as GBK)"},
    {"header", OTSYNC_OPT_ARRAY, offsetof(struct oss_writer_conf, header), "[]",
     "strings written as the first record of every object"},
    {"suffix", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, suffix), "",
     "ends every object name; a '.' is put in front when it lacks one"},
    {"maxFileSize", OTSYNC_OPT_INT, offsetof(struct oss_writer_conf, max_file_size), "100000",
     "MB of text per object, after which the next object begins"},
    {"blockSizeInMB", OTSYNC_OPT_INT, offsetof(struct oss_writer_conf, block_size), "10",
     "MB per part of a multipart upload (1 to 1024)"},
    {"compress", OTSYNC_OPT_STRING, offsetof(struct oss_writer_conf, compress), "",
     "gzip: each object is one gzip stream (name it with suffix, e.g. .csv.gz); empty: none"},
    {NULL, 0, 0, NULL, NULL},
};

struct wpart {
    uint32_t number;
    char *etag;
};

struct oss_writer;

struct wchan {
    struct oss_writer *w;
    unsigned index;
    /* the object being written */
    bool has_obj;
    bool closing_obj;           /* its last bytes are going up */
    uint64_t number;
    char key[2048];
    char *upload_id;
    struct wpart *parts;
    size_t part_count, part_cap;
    uint64_t crc;               /* CRC-64 of what went up of it */
    uint64_t size;              /* bytes that went up of it */
    uint64_t raw;               /* bytes of text that went into it */
    z_stream z;
    bool z_open;
    iconv_t cd;
    struct ossbuf buf;          /* bytes of the object not uploaded yet */
    struct ossbuf text, conv;   /* scratch: one record, and it in the target encoding */
    uint64_t begun;             /* objects this channel completed */
    /* the call being served */
    struct otsync_batch *batch;
    size_t next_rec, dirty;
    otsync_write_done_cb done;
    void *arg;
    bool finishing;
    bool busy;                  /* a request of this channel is out */
    int rc;
    struct otsync_err err;
};

struct oss_writer {
    struct otsync_writer *ow;
    struct ossconn *conn;
    const char *object;
    char suffix[256];
    struct ossfmt_out out;
    const char **header;
    size_t header_count;
    enum write_mode mode;
    bool gzip;
    const char *encoding;       /* NULL: UTF-8, no conversion */
    uint64_t max_bytes, block_bytes;
    /* writeMode, once */
    enum prep_state prep;
    int prep_rc;
    struct otsync_err prep_err;
    uint64_t base;
    size_t found;               /* objects of the scheme found */
    char first_found[2048];
    char *token;
    char **del;
    size_t del_count, del_cap, del_done;
    struct wchan *ch;
    unsigned ch_count;
    uv_idle_t kick;             /* runs pump() on the next loop turn, never inside our callers */
    bool canceled;
    bool any_object;
    otsync_write_done_cb fin_done;
    void *fin_arg;
    unsigned fin_left;
    int fin_rc;
    struct otsync_err fin_err;
    int closing_left;           /* close: what is still to end before the state is freed */
};

static void pump(struct wchan *ch);
static void on_kick(uv_idle_t *h);

static void
kick(struct oss_writer *w)
{
    uv_idle_start(&w->kick, on_kick);
}

/* ---- small parts ---- */

static void
obj_reset(struct wchan *ch)
{
    size_t i;

    for (i = 0; i < ch->part_count; i++)
        free(ch->parts[i].etag);
    ch->part_count = 0;
    free(ch->upload_id);
    ch->upload_id = NULL;
    ch->has_obj = ch->closing_obj = false;
    ch->buf.len = 0;
    ch->crc = ch->size = ch->raw = 0;
}

static int
chan_fail(struct wchan *ch, int rc, const struct otsync_err *err)
{
    if (ch->rc == 0) {
        ch->rc = rc < 0 ? rc : -OTSYNC_EPROTO;
        ch->err = *err;
    }
    return ch->rc;
}

/* Text (UTF-8) into the object: converted, compressed, appended to the buffer. */
static int
add_text(struct wchan *ch, const char *s, size_t len, struct otsync_err *err)
{
    struct oss_writer *w = ch->w;
    char out[65536];
    int zrc;

    if (w->encoding) {
        char *in = (char *)s, *o;
        size_t il = len, ol;

        ch->conv.len = 0;
        while (il > 0) {
            o = out;
            ol = sizeof(out);
            if (iconv(ch->cd, &in, &il, &o, &ol) == (size_t)-1 && errno != E2BIG)
                return otsync_err_set(err, OTSYNC_EINVAL, "cannot be written in %s",
                                      w->encoding);
            if (ossbuf_add(&ch->conv, out, (size_t)(o - out)) < 0)
                return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        }
        s = ch->conv.p;
        len = ch->conv.len;
    }
    ch->raw += len;
    if (!w->gzip)
        return ossbuf_add(&ch->buf, s, len) < 0
               ? otsync_err_set(err, OTSYNC_ENOMEM, "out of memory") : 0;
    ch->z.next_in = (unsigned char *)s;
    ch->z.avail_in = (uInt)len;
    do {
        ch->z.next_out = (unsigned char *)out;
        ch->z.avail_out = sizeof(out);
        if ((zrc = deflate(&ch->z, Z_NO_FLUSH)) == Z_STREAM_ERROR)
            return otsync_err_set(err, OTSYNC_EPROTO, "gzip failed");
        if (ossbuf_add(&ch->buf, out, sizeof(out) - ch->z.avail_out) < 0)
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    } while (ch->z.avail_out == 0);
    return 0;
}

/* Ends the gzip stream of the object into the buffer. */
static int
gzip_end(struct wchan *ch, struct otsync_err *err)
{
    char out[65536];
    int zrc;

    ch->z.next_in = NULL;
    ch->z.avail_in = 0;
    do {
        ch->z.next_out = (unsigned char *)out;
        ch->z.avail_out = sizeof(out);
        zrc = deflate(&ch->z, Z_FINISH);
        if (zrc == Z_STREAM_ERROR)
            return otsync_err_set(err, OTSYNC_EPROTO, "gzip failed");
        if (ossbuf_add(&ch->buf, out, sizeof(out) - ch->z.avail_out) < 0)
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    } while (zrc != Z_STREAM_END);
    return 0;
}

static int
begin_object(struct wchan *ch, struct otsync_err *err)
{
    struct oss_writer *w = ch->w;

    obj_reset(ch);
    /* a block's room at once (and a little for the record that crosses the line; a longer
     * one grows it): doubling up to it copied each block twice over */
    if (ossbuf_reserve(&ch->buf, w->block_bytes + 4096) < 0)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    ch->number = w->base + ch->index + 1 + ch->begun * w->ch_count;
    if (ossname_make(w->object, ch->number, w->suffix, ch->key, sizeof(ch->key)) < 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "writer oss: object name too long");
    if (w->gzip) {
        if (ch->z_open)
            deflateReset(&ch->z);
        else if (deflateInit2(&ch->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                              Z_DEFAULT_STRATEGY) != Z_OK)
            return otsync_err_set(err, OTSYNC_ENOMEM, "writer oss: gzip could not start");
        ch->z_open = true;
    }
    if (w->encoding)
        iconv(ch->cd, NULL, NULL, NULL, NULL);  /* a new object starts a new text (BOM...) */
    ch->has_obj = true;
    w->any_object = true;
    if (w->header_count) {
        ch->text.len = 0;
        if (ossfmt_strings(&w->out, w->header, w->header_count, &ch->text) < 0)
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        if (add_text(ch, ch->text.p, ch->text.len, err) < 0)
            return otsync_err_prefix(err, "writer oss: header");
    }
    return 0;
}

/* One record into the object; a record that cannot be written is dirty. */
static int
add_record(struct wchan *ch, const struct otsync_record *rec, struct otsync_err *err)
{
    struct oss_writer *w = ch->w;
    char why[OTSYNC_ERR_MSG_LEN + 64];
    int rc;

    ch->text.len = 0;
    if (ossfmt_record(&w->out, rec, &ch->text) < 0)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    if ((rc = add_text(ch, ch->text.p, ch->text.len, err)) == -OTSYNC_EINVAL) {
        snprintf(why, sizeof(why), "writer oss: the record %s", err->msg);
        w->ow->dirty(w->ow->dirty_arg, rec, why);
        ch->dirty++;
        otsync_err_clear(err);
        return 0;
    }
    return rc;
}

/* The channel's call is over: its done() fires (we are in a loop callback). */
static void
chan_complete(struct wchan *ch)
{
    struct oss_writer *w = ch->w;
    otsync_write_done_cb done;
    struct otsync_err err = ch->err;
    int rc = ch->rc;
    void *arg;

    ch->rc = 0;
    otsync_err_clear(&ch->err);
    if (ch->batch) {
        done = ch->done;
        arg = ch->arg;
        ch->batch = NULL;
        done(arg, rc, rc < 0 ? 0 : ch->dirty, rc < 0 ? &err : NULL);
        return;
    }
    ch->finishing = false;
    if (rc < 0 && w->fin_rc == 0) {
        w->fin_rc = rc;
        w->fin_err = err;
    }
    if (--w->fin_left == 0) {
        done = w->fin_done;
        w->fin_done = NULL;
        done(w->fin_arg, w->fin_rc, 0, w->fin_rc < 0 ? &w->fin_err : NULL);
    }
}

/* ---- requests ---- */

static void
on_obj_written(struct wchan *ch)
{
    if (ch->upload_id)
        log_info("writer oss: wrote '%s' (%" PRIu64 " bytes in %zu part%s)", ch->key, ch->size,
                 ch->part_count, ch->part_count == 1 ? "" : "s");
    else
        log_info("writer oss: wrote '%s' (%" PRIu64 " bytes)", ch->key, ch->size);
    obj_reset(ch);
    ch->begun++;
}

static bool
answer_ok(struct wchan *ch, const struct ossclient_result *r)
{
    ch->busy = false;
    if (r->rc == 0 && !ch->w->canceled)
        return true;
    if (r->rc < 0)
        chan_fail(ch, r->rc, r->err);
    return false;
}

static void
on_put(void *arg, const struct ossclient_result *r)
{
    struct wchan *ch = arg;

    if (answer_ok(ch, r)) {
        ch->size = ch->buf.len;
        on_obj_written(ch);
    }
    pump(ch);
}

static void
on_initiated(void *arg, const struct ossclient_result *r)
{
    struct wchan *ch = arg;
    struct otsync_err err;

    /* kept even when canceled meanwhile: then pump() aborts it */
    if (r->rc == 0 && !(ch->upload_id = strdup(r->upload_id)))
        chan_fail(ch, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"),
                                       &err));
    (void)answer_ok(ch, r);
    pump(ch);
}

static void
on_part(void *arg, const struct ossclient_result *r)
{
    struct wchan *ch = arg;
    struct otsync_err err;
    struct wpart *np;
    uint64_t crc;

    if (answer_ok(ch, r)) {
        if (!r->etag) {
            chan_fail(ch, -OTSYNC_EPROTO, (otsync_err_set(&err, OTSYNC_EPROTO, "writer oss: "
                      "UploadPart '%s': the answer has no ETag", ch->key), &err));
        } else if (ch->part_count == ch->part_cap
                   && !(np = realloc(ch->parts, (ch->part_cap ? ch->part_cap * 2 : 16)
                                     * sizeof(*np)))) {
            chan_fail(ch, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"),
                                           &err));
        } else {
            if (ch->part_count == ch->part_cap) {
                ch->parts = np;
                ch->part_cap = ch->part_cap ? ch->part_cap * 2 : 16;
            }
            ch->parts[ch->part_count].number = (uint32_t)ch->part_count + 1;
            if (!(ch->parts[ch->part_count].etag = strdup(r->etag))) {
                chan_fail(ch, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of "
                                                              "memory"), &err));
            } else {
                ch->part_count++;
                crc = crc64ecma(0, ch->buf.p, ch->buf.len);
                ch->crc = crc64ecma_combine(ch->crc, crc, ch->buf.len);
                ch->size += ch->buf.len;
                ch->buf.len = 0;
            }
        }
    }
    pump(ch);
}

static void
on_completed(void *arg, const struct ossclient_result *r)
{
    struct wchan *ch = arg;

    if (answer_ok(ch, r))
        on_obj_written(ch);
    pump(ch);
}

static void
on_aborted(void *arg, const struct ossclient_result *r)
{
    struct wchan *ch = arg;

    ch->busy = false;
    if (r->rc < 0)
        log_warn("writer oss: aborting the upload of '%s' failed: %s; the bucket's lifecycle "
                 "rules must clean it up", ch->key, r->err->msg);
    else
        log_info("writer oss: aborted the upload of '%s': nothing of it was kept", ch->key);
    obj_reset(ch);
    pump(ch);
}

/* Starts the request the channel's object needs next: initiate, a part, complete or put. */
static void
send_next(struct wchan *ch, bool last)
{
    struct oss_writer *w = ch->w;
    struct ossclient *c = w->conn->client;
    struct ossclient_part *p;
    struct otsync_err err;
    size_t i;
    int rc;

    otsync_err_clear(&err);
    if (last && !ch->upload_id) {
        rc = ossclient_put(c, ch->key, ch->buf.p, ch->buf.len, false, on_put, ch, &err);
    } else if (!ch->upload_id) {
        rc = ossclient_mpu_initiate(c, ch->key, false, on_initiated, ch, &err);
    } else if (ch->buf.len || ch->part_count == 0) {
        rc = ossclient_mpu_part(c, ch->key, ch->upload_id, (uint32_t)ch->part_count + 1,
                                ch->buf.p ? ch->buf.p : "", ch->buf.len, on_part, ch, &err);
    } else {
        if (!(p = calloc(ch->part_count, sizeof(*p)))) {
            chan_fail(ch, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"),
                                           &err));
            kick(w);
            return;
        }
        for (i = 0; i < ch->part_count; i++)
            p[i] = (struct ossclient_part){ch->parts[i].number, ch->parts[i].etag};
        rc = ossclient_mpu_complete(c, ch->key, ch->upload_id, p, ch->part_count, true, ch->crc,
                                    on_completed, ch, &err);
        free(p);
    }
    if (rc < 0) {
        chan_fail(ch, rc, &err);
        kick(w);
        return;
    }
    ch->busy = true;
}

/* ---- writeMode, before anything is written ---- */

static void prep_list(struct oss_writer *w);

static void
prep_end(struct oss_writer *w, int rc, const struct otsync_err *err)
{
    unsigned i;

    w->prep = rc < 0 ? PREP_FAILED : PREP_DONE;
    if (rc < 0) {
        w->prep_rc = rc;
        w->prep_err = *err;
    }
    for (i = 0; i < w->ch_count; i++)
        pump(&w->ch[i]);
}

static void
on_deleted(void *arg, const struct ossclient_result *r)
{
    struct oss_writer *w = arg;
    struct otsync_err err;
    size_t n;

    if (r->rc < 0) {
        err = *r->err;
        otsync_err_prefix(&err, "writer oss: writeMode truncate");
        prep_end(w, r->rc, &err);
        return;
    }
    w->del_done += w->del_count - w->del_done > 1000 ? 1000 : w->del_count - w->del_done;
    if (w->del_done == w->del_count) {
        log_info("writer oss: writeMode truncate: deleted %zu object%s of this export under '%s'",
                 w->del_count, w->del_count == 1 ? "" : "s", w->object);
        prep_end(w, 0, NULL);
        return;
    }
    n = w->del_count - w->del_done > 1000 ? 1000 : w->del_count - w->del_done;
    otsync_err_clear(&err);
    if (ossclient_delete_many(w->conn->client, (const char *const *)w->del + w->del_done, n,
                              on_deleted, w, &err) < 0)
        prep_end(w, -err.code, &err);
}

static void
on_listed(void *arg, const struct ossclient_result *r)
{
    struct oss_writer *w = arg;
    const struct ossxml_list *l = r->list;
    struct otsync_err err;
    uint64_t n;
    size_t i;
    char **nd;

    otsync_err_clear(&err);
    if (r->rc < 0) {
        err = *r->err;
        otsync_err_prefix(&err, "writer oss: listing '%s' for writeMode", w->object);
        prep_end(w, r->rc, &err);
        return;
    }
    for (i = 0; i < l->object_count; i++) {
        if (!ossname_parse(w->object, w->suffix, l->objects[i].key, &n))
            continue;   /* shares the prefix, not the scheme: not ours to touch */
        if (w->found++ == 0)
            snprintf(w->first_found, sizeof(w->first_found), "%s", l->objects[i].key);
        if (n > w->base)
            w->base = n;
        if (w->mode != MODE_TRUNCATE)
            continue;
        if (w->del_count == w->del_cap) {
            if (!(nd = realloc(w->del, (w->del_cap ? w->del_cap * 2 : 64) * sizeof(*nd))))
                goto nomem;
            w->del = nd;
            w->del_cap = w->del_cap ? w->del_cap * 2 : 64;
        }
        if (!(w->del[w->del_count] = strdup(l->objects[i].key)))
            goto nomem;
        w->del_count++;
    }
    free(w->token);
    w->token = NULL;
    if (l->is_truncated && l->next_continuation_token) {
        if (!(w->token = strdup(l->next_continuation_token)))
            goto nomem;
        prep_list(w);
        return;
    }
    if (w->mode == MODE_NONCONFLICT && w->found) {
        otsync_err_set(&err, OTSYNC_EEXIST, "writer oss: writeMode nonConflict: %zu object%s of "
                       "this export already exist%s under '%s' (such as '%s'); nothing was "
                       "written", w->found, w->found == 1 ? "" : "s", w->found == 1 ? "s" : "",
                       w->object, w->first_found);
        prep_end(w, -OTSYNC_EEXIST, &err);
        return;
    }
    if (w->mode == MODE_APPEND) {
        log_info("writer oss: writeMode append: %zu object%s of this export under '%s'; new "
                 "ones are numbered from %" PRIu64, w->found, w->found == 1 ? "" : "s", w->object,
                 w->base + 1);
        prep_end(w, 0, NULL);
        return;
    }
    w->base = 0;
    if (w->mode == MODE_TRUNCATE && w->del_count) {
        if (ossclient_delete_many(w->conn->client, (const char *const *)w->del,
                                  w->del_count > 1000 ? 1000 : w->del_count, on_deleted, w,
                                  &err) < 0)
            prep_end(w, -err.code, &err);
        return;
    }
    prep_end(w, 0, NULL);
    return;
nomem:
    prep_end(w, -OTSYNC_ENOMEM, (otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"), &err));
}

static void
prep_list(struct oss_writer *w)
{
    struct otsync_err err;

    otsync_err_clear(&err);
    if (ossclient_list(w->conn->client, w->object, w->token, LIST_PAGE, on_listed, w, &err) < 0)
        prep_end(w, -err.code, &err);
}

/* ---- the channel's engine ---- */

static void
pump(struct wchan *ch)
{
    struct oss_writer *w = ch->w;
    struct otsync_err err;

    otsync_err_clear(&err);
    if (ch->busy || (!ch->batch && !ch->finishing))
        return;
    if (w->canceled && ch->rc == 0)
        chan_fail(ch, -OTSYNC_ECANCELED, (otsync_err_set(&err, OTSYNC_ECANCELED, "writer oss: "
                                                         "canceled"), &err));
    if (ch->rc == 0 && w->prep != PREP_DONE) {
        if (w->prep == PREP_NONE) {
            w->prep = PREP_RUNNING;
            prep_list(w);
            return;
        }
        if (w->prep == PREP_RUNNING)
            return;
        chan_fail(ch, w->prep_rc, &w->prep_err);
    }
    if (ch->rc < 0) {
        if (ch->upload_id) {
            if (ossclient_mpu_abort(w->conn->client, ch->key, ch->upload_id, on_aborted, ch,
                                    &err) == 0) {
                ch->busy = true;
                return;
            }
        }
        obj_reset(ch);
        chan_complete(ch);
        return;
    }
    if (ch->closing_obj) {
        send_next(ch, true);
        return;
    }
    if (ch->batch) {
        while (ch->next_rec < ch->batch->count) {
            if (ch->buf.len >= w->block_bytes) {
                send_next(ch, false);
                return;
            }
            if (ch->has_obj && (ch->raw >= w->max_bytes || ch->part_count >= MAX_PARTS - 1)) {
                ch->closing_obj = true;
                if (w->gzip && gzip_end(ch, &err) < 0)
                    break;
                send_next(ch, true);
                return;
            }
            if ((!ch->has_obj && begin_object(ch, &err) < 0)
                || add_record(ch, &ch->batch->recs[ch->next_rec], &err) < 0)
                break;
            ch->next_rec++;
        }
        if (err.code) {
            chan_fail(ch, -err.code, &err);
            pump(ch);
            return;
        }
        if (ch->buf.len >= w->block_bytes) {
            send_next(ch, false);
            return;
        }
        chan_complete(ch);
        return;
    }
    /* finishing: an export with no records still leaves one object, with the header */
    if (!ch->has_obj && ch->index == 0 && !w->any_object && begin_object(ch, &err) < 0) {
        chan_fail(ch, -err.code, &err);
        pump(ch);
        return;
    }
    if (ch->has_obj) {
        ch->closing_obj = true;
        if (w->gzip && gzip_end(ch, &err) < 0) {
            chan_fail(ch, -err.code, &err);
            pump(ch);
            return;
        }
        send_next(ch, true);
        return;
    }
    chan_complete(ch);
}

static void
on_kick(uv_idle_t *h)
{
    struct oss_writer *w = h->data;
    unsigned i;

    uv_idle_stop(&w->kick);
    for (i = 0; i < w->ch_count; i++)
        pump(&w->ch[i]);
}

/* ---- the ops ---- */

static void
writer_free(struct oss_writer *w)
{
    unsigned i;
    size_t k;

    for (i = 0; i < w->ch_count; i++) {
        struct wchan *ch = &w->ch[i];
        obj_reset(ch);
        free(ch->parts);
        ossbuf_fini(&ch->buf);
        ossbuf_fini(&ch->text);
        ossbuf_fini(&ch->conv);
        if (ch->z_open)
            deflateEnd(&ch->z);
        if (w->encoding && ch->cd != (iconv_t)-1)
            iconv_close(ch->cd);
    }
    for (k = 0; k < w->del_count; k++)
        free(w->del[k]);
    free(w->del);
    free(w->token);
    free(w->header);
    free(w->ch);
    free(w);
}

static int
oss_writer_open(struct otsync_writer *ow, const void *conf_arg, struct otsync_err *err)
{
    const struct oss_writer_conf *conf = conf_arg;
    struct oss_writer *w;
    char msg[256];
    unsigned i;
    size_t k;
    int rc;

    if (!conf->object[0])
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.object: give a prefix for the objects",
                              ow->path);
    if (!(w = calloc(1, sizeof(*w))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    w->ow = ow;
    w->object = conf->object;
    ossname_suffix(conf->suffix, w->suffix, sizeof(w->suffix));
    w->out.csv = strcasecmp(conf->file_format, "csv") == 0;
    w->out.delim = conf->field_delimiter;
    w->out.line = conf->line_delimiter;
    w->out.null_format = conf->null_format;
    w->out.date_format = conf->date_format;
    rc = -OTSYNC_ECONFIG;
    if (strcasecmp(conf->write_mode, "truncate") == 0)
        w->mode = MODE_TRUNCATE;
    else if (strcasecmp(conf->write_mode, "append") == 0)
        w->mode = MODE_APPEND;
    else if (strcasecmp(conf->write_mode, "nonConflict") == 0)
        w->mode = MODE_NONCONFLICT;
    else {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.writeMode: expected truncate, append or "
                       "nonConflict, got '%s'", ow->path, conf->write_mode);
        goto fail;
    }
    if (!w->out.csv && strcasecmp(conf->file_format, "text") != 0) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.fileFormat: expected csv or text, got '%s'",
                       ow->path, conf->file_format);
        goto fail;
    }
    if (!conf->field_delimiter[0] || (w->out.csv && strlen(conf->field_delimiter) != 1)
        || (w->out.csv && strchr("\"\r\n", conf->field_delimiter[0]))) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.fieldDelimiter: %s", ow->path,
                       w->out.csv ? "csv needs one character, not a quote or a line end"
                                  : "must not be empty");
        goto fail;
    }
    if (!conf->line_delimiter[0]) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.lineDelimiter: must not be empty", ow->path);
        goto fail;
    }
    if (ossdate_check(conf->date_format, msg, sizeof(msg)) < 0) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.dateFormat: %s", ow->path, msg);
        goto fail;
    }
    if (conf->compress[0] && strcasecmp(conf->compress, "gzip") != 0) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.compress: expected gzip or nothing, got '%s'",
                       ow->path, conf->compress);
        goto fail;
    }
    w->gzip = conf->compress[0] != '\0';
    if (conf->block_size < 1 || conf->block_size > 1024) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.blockSizeInMB: expected 1 to 1024, got %" PRId64,
                       ow->path, conf->block_size);
        goto fail;
    }
    if (conf->max_file_size < 1) {
        otsync_err_set(err, OTSYNC_ECONFIG, "%s.maxFileSize: expected 1 or more, got %" PRId64,
                       ow->path, conf->max_file_size);
        goto fail;
    }
    w->block_bytes = (uint64_t)conf->block_size * MIB;
    w->max_bytes = (uint64_t)conf->max_file_size * MIB;
    if (strcasecmp(conf->encoding, "UTF-8") != 0 && strcasecmp(conf->encoding, "UTF8") != 0)
        w->encoding = conf->encoding;
    w->header_count = json_array_size(conf->header);
    if (w->header_count && !(w->header = calloc(w->header_count, sizeof(*w->header)))) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    for (k = 0; k < w->header_count; k++)
        if (!(w->header[k] = json_string_value(json_array_get(conf->header, k)))) {
            otsync_err_set(err, OTSYNC_ECONFIG, "%s.header[%zu]: expected a string", ow->path, k);
            goto fail;
        }
    w->ch_count = ow->channels ? ow->channels : 1;
    if (!(w->ch = calloc(w->ch_count, sizeof(*w->ch)))) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < w->ch_count; i++) {
        w->ch[i].w = w;
        w->ch[i].index = i;
        w->ch[i].cd = (iconv_t)-1;
        if (w->encoding && (w->ch[i].cd = iconv_open(w->encoding, "UTF-8")) == (iconv_t)-1) {
            otsync_err_set(err, OTSYNC_ECONFIG, "%s.encoding: '%s' is not a character set "
                           "iconv knows", ow->path, w->encoding);
            goto fail;
        }
    }
    if ((rc = ossconn_open(ow->loop, ow->datasources, &conf->conn, ow->path, &w->conn, err)) < 0)
        goto fail;
    uv_idle_init(ow->loop, &w->kick);
    w->kick.data = w;
    ow->data = w;
    return 0;
fail:
    writer_free(w);
    return rc;
}

static int
oss_writer_write(struct otsync_writer *ow, unsigned channel, struct otsync_batch *b,
                 otsync_write_done_cb done, void *arg, struct otsync_err *err)
{
    struct oss_writer *w = ow->data;
    struct wchan *ch;

    if (channel >= w->ch_count)
        return otsync_err_set(err, OTSYNC_EINVAL, "writer oss: no channel %u", channel);
    ch = &w->ch[channel];
    if (ch->batch || ch->finishing)
        return otsync_err_set(err, OTSYNC_EINVAL, "writer oss: channel %u is busy", channel);
    ch->batch = b;
    ch->next_rec = 0;
    ch->dirty = 0;
    ch->done = done;
    ch->arg = arg;
    kick(w);
    return 0;
}

static int
oss_writer_finish(struct otsync_writer *ow, otsync_write_done_cb done, void *arg,
                  struct otsync_err *err)
{
    struct oss_writer *w = ow->data;
    unsigned i;

    if (w->fin_done)
        return otsync_err_set(err, OTSYNC_EINVAL, "writer oss: already finishing");
    w->fin_done = done;
    w->fin_arg = arg;
    w->fin_left = w->ch_count;
    w->fin_rc = 0;
    for (i = 0; i < w->ch_count; i++)
        w->ch[i].finishing = true;
    kick(w);
    return 0;
}

static void
oss_writer_cancel(struct otsync_writer *ow)
{
    struct oss_writer *w = ow->data;

    w->canceled = true;
    kick(w);
}

static void
on_part_gone(void *arg)
{
    struct oss_writer *w = arg;

    if (--w->closing_left == 0) {
        w->ow->data = NULL;
        writer_free(w);
    }
}

static void
on_kick_closed(uv_handle_t *h)
{
    on_part_gone(h->data);
}

static void
teardown(struct oss_writer *w)
{
    w->closing_left = 2;
    uv_close((uv_handle_t *)&w->kick, on_kick_closed);
    ossconn_close(w->conn, on_part_gone, w);
}

static void
on_close_aborted(void *arg, const struct ossclient_result *r)
{
    struct wchan *ch = arg;
    struct oss_writer *w = ch->w;
    unsigned i;

    on_aborted(arg, r);
    for (i = 0; i < w->ch_count; i++)
        if (w->ch[i].busy)
            return;
    teardown(w);
}

static void
oss_writer_close(struct otsync_writer *ow)
{
    struct oss_writer *w = ow->data;
    struct otsync_err err;
    bool waiting = false;
    unsigned i;

    if (!w)
        return;
    uv_idle_stop(&w->kick);
    /* an upload the job left open (it failed elsewhere) must not linger: abort it first */
    for (i = 0; i < w->ch_count; i++) {
        struct wchan *ch = &w->ch[i];
        ch->batch = NULL;
        ch->finishing = false;
        otsync_err_clear(&err);
        if (ch->upload_id && !ch->busy
            && ossclient_mpu_abort(w->conn->client, ch->key, ch->upload_id, on_close_aborted, ch,
                                   &err) == 0) {
            ch->busy = true;
            waiting = true;
        }
    }
    if (!waiting)
        teardown(w);
}

const struct otsync_writer_ops otsync_writer_oss = {
    .name = "oss", .abi = OTSYNC_PLUGIN_ABI, .conf_size = sizeof(struct oss_writer_conf),
    .options = oss_writer_options,
    .open = oss_writer_open, .write = oss_writer_write, .finish = oss_writer_finish,
    .cancel = oss_writer_cancel, .close = oss_writer_close,
};
