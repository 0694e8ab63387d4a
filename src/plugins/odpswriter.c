/*
 * odpswriter.c - the odps writer: records into a MaxCompute table, or one partition of it,
 * through one tunnel upload session that only its commit makes visible.
 *
 * Owns: the writer's parameters (DataX's odpswriter names), the column mapping and the value
 * conversions (with a dirty reason for every record it cannot write), cutting blocks, the
 * preparation before the first block (schema, partition, tunnel endpoint, session) and the
 * commit in finish(), and the warning about a day partition truncated by a task that runs
 * more often than daily. Leaves to others: the MaxCompute protocol and its retries
 * (odpsclient.h), record stream bytes (tunnel.h), HTTP (net.h), the queue (the engine).
 *
 * One session for the job, whatever the channels: each channel encodes its own block and
 * uploads it under the next free block id while it encodes the next one, so every channel has
 * at most one block in flight and one being filled. finish() uploads the last blocks and
 * commits them all at once; a run that fails or is cancelled never commits, and the session
 * it leaves expires on the server, so nothing of it is ever visible.
 *
 * truncate is the session's overwrite flag (doc 4.4): the commit replaces exactly the target
 * partition's rows (or the table's, without partitions) with this run's, in one step, so a
 * rerun leaves one copy and a failed run leaves the old rows, where DataX's drop-and-re-add
 * (doc 8.3) leaves an empty partition behind a failure.
 *
 * Every done() fires from the idle handle, never from inside write() or finish() (plugin.h).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>
#include <uv.h>
#include "otsync/datasource.h"
#include "otsync/log.h"
#include "otsync/net.h"
#include "otsync/odpsclient.h"
#include "otsync/tunnel.h"
#include "../run/plugin.h"

#define MIB ((size_t)1 << 20)
#define SPEC_MAX 1024
#define WHY_MAX (OTSYNC_CONVERT_WHY_MAX + 160)

struct odps_conf {
    const char *datasource;
    const char *odps_server;
    const char *tunnel_server;
    const char *access_id;
    const char *access_key;
    const char *security_token;
    const char *project;
    const char *table;
    const char *partition;
    const json_t *column;
    bool truncate;
    int64_t block_size_mb;
    bool empty_as_null;
    int64_t max_retry_time;
    bool is_compress;
};

static const struct otsync_option odps_options[] = {
    {"datasource", OTSYNC_OPT_STRING, offsetof(struct odps_conf, datasource), "",
     "a MaxCompute datasource (type odps) of the datasources file; the keys below override it"},
    {"odpsServer", OTSYNC_OPT_STRING, offsetof(struct odps_conf, odps_server), "",
     "the service endpoint, e.g. http://service.cn-hangzhou.maxcompute.aliyun.com/api"},
    {"tunnelServer", OTSYNC_OPT_STRING, offsetof(struct odps_conf, tunnel_server), "",
     "the tunnel endpoint; asked from the service when empty"},
    {"accessId", OTSYNC_OPT_STRING, offsetof(struct odps_conf, access_id), "",
     "the access key id"},
    {"accessKey", OTSYNC_OPT_STRING, offsetof(struct odps_conf, access_key), "",
     "the access key secret"},
    {"securityToken", OTSYNC_OPT_STRING, offsetof(struct odps_conf, security_token), "",
     "an STS token, for temporary keys"},
    {"project", OTSYNC_OPT_STRING, offsetof(struct odps_conf, project), "",
     "the MaxCompute project"},
    {"table", OTSYNC_OPT_STRING, offsetof(struct odps_conf, table), NULL,
     "the table; it must exist"},
    {"partition", OTSYNC_OPT_STRING, offsetof(struct odps_conf, partition), "",
     "the partition, every level (pt=20240101,hm=0005); created when missing; empty for a "
     "table without partitions"},
    {"column", OTSYNC_OPT_ARRAY, offsetof(struct odps_conf, column), NULL,
     "the table's columns that receive the reader's columns, in order; [\"*\"] for all"},
    {"truncate", OTSYNC_OPT_BOOL, offsetof(struct odps_conf, truncate), NULL,
     "replace the partition's (or table's) rows with this run's at commit"},
    {"blockSizeInMB", OTSYNC_OPT_INT, offsetof(struct odps_conf, block_size_mb), "64",
     "the size at which a block is cut and uploaded, 1 to 512"},
    {"emptyAsNull", OTSYNC_OPT_BOOL, offsetof(struct odps_conf, empty_as_null), "false",
     "write empty strings as null"},
    {"maxRetryTime", OTSYNC_OPT_INT, offsetof(struct odps_conf, max_retry_time), "10",
     "attempts of each request, 1 to 10"},
    {"isCompress", OTSYNC_OPT_BOOL, offsetof(struct odps_conf, is_compress), "false",
     "send blocks deflated (DataX reads this and ignores it)"},
    {NULL, 0, 0, NULL, NULL},
};

enum prep_state { PREP_NONE, PREP_RUNNING, PREP_DONE, PREP_FAILED };

/* A write or finish whose done() is to fire on the next idle turn. */
struct pending {
    otsync_write_done_cb done;  /* NULL: free */
    void *arg;
    int rc;
    size_t dirty_count;
    struct otsync_err err;
};

struct odpsw;

struct chan {
    struct odpsw *o;
    unsigned index;
    struct tunnel_writer tw;
    bool tw_ready;
    struct tunnel_value *vals;  /* one record's values, in session column order */
    char **texts;               /* per mapped column: decimal text made here */
    struct otsync_batch *batch; /* the write in progress; NULL when none */
    size_t next;                /* its next record */
    size_t dirty;
    otsync_write_done_cb done;
    void *arg;
    bool cut;                   /* the block is full: upload it before the next record */
    bool inflight;              /* a block of this channel is being uploaded */
    int failed;                 /* a block upload failed: every later call reports it */
    struct otsync_err fail_err;
};

struct odpsw {
    struct otsync_writer *w;
    const char *path;
    char *table;
    char *partition;            /* as given; NULL for none */
    char spec[SPEC_MAX];        /* canonical, once the table is read */
    const json_t *column;
    bool truncate, empty_as_null, deflate;
    size_t block_bytes;
    struct net *net;
    struct odpsclient *client;
    struct odpsclient_table *tab;
    struct odpsclient_upload *upload;
    const struct tunnel_schema *schema;
    size_t *map;                /* configured column i -> session column */
    size_t map_count;
    enum prep_state prep;
    struct otsync_err prep_err;
    struct chan *ch;
    unsigned nch;
    unsigned next_block;
    unsigned *blocks;           /* ids uploaded */
    size_t block_count;
    uint64_t records;           /* in blocks uploaded */
    bool finishing, committing;
    otsync_write_done_cb finish_done;
    void *finish_arg;
    struct pending *slots;      /* one per channel, then finish's */
    uv_idle_t idle;
    bool cancel_pending, canceled, closing;
    bool short_warned;
};

static void chan_run(struct chan *ch);
static void release(struct odpsw *o);
static void on_closed(uv_handle_t *h);
static void finish_step(struct odpsw *o);
static void on_idle(uv_idle_t *h);

/* ---------------------------------------------------------------- done() on the loop */

static void
later(struct odpsw *o, unsigned slot, otsync_write_done_cb done, void *arg, int rc,
      size_t dirty, const struct otsync_err *err)
{
    struct pending *p = &o->slots[slot];

    p->done = done;
    p->arg = arg;
    p->rc = rc;
    p->dirty_count = dirty;
    if (rc < 0 && err)
        p->err = *err;
    else if (rc < 0)
        otsync_err_set(&p->err, -rc, "writer odps: %s", otsync_strerror(rc));
    else
        otsync_err_clear(&p->err);
    uv_idle_start(&o->idle, on_idle);
}

static void
chan_complete(struct chan *ch, int rc, const struct otsync_err *err)
{
    struct odpsw *o = ch->o;
    size_t dirty = ch->dirty;

    ch->batch = NULL;
    ch->dirty = 0;
    later(o, ch->index, ch->done, ch->arg, rc, dirty, err);
}

static void
finish_complete(struct odpsw *o, int rc, const struct otsync_err *err)
{
    o->finishing = false;
    later(o, o->nch, o->finish_done, o->finish_arg, rc, 0, err);
}

static void
do_cancel(struct odpsw *o)
{
    struct otsync_err err;
    unsigned i;

    o->cancel_pending = false;
    o->canceled = true;
    /* every request of the client ends here, its callback hearing -OTSYNC_ECANCELED */
    net_close(o->net);
    otsync_err_set(&err, OTSYNC_ECANCELED, "writer odps: canceled");
    for (i = 0; i < o->nch; i++)
        if (o->ch[i].batch && !o->ch[i].inflight)
            chan_complete(&o->ch[i], -OTSYNC_ECANCELED, &err);
    if (o->finishing && !o->committing)
        finish_complete(o, -OTSYNC_ECANCELED, &err);
}

static void
on_idle(uv_idle_t *h)
{
    struct odpsw *o = h->data;
    struct pending p;
    unsigned i;

    if (o->closing)
        return;     /* close() owns the handle now */
    if (o->cancel_pending)
        do_cancel(o);
    uv_idle_stop(&o->idle);
    for (i = 0; i <= o->nch; i++) {
        if (!o->slots[i].done)
            continue;
        p = o->slots[i];
        o->slots[i].done = NULL;    /* free before the call: done() may write again */
        p.done(p.arg, p.rc, p.dirty_count, p.rc < 0 ? &p.err : NULL);
    }
}

/* ---------------------------------------------------------------- preparation */

static void prep_fail(struct odpsw *o, int rc, const struct otsync_err *err);

/* The session is open: map the configured columns onto its schema, start the encoders. */
static int
prep_columns(struct odpsw *o, struct otsync_err *err)
{
    const struct tunnel_schema *s = o->schema;
    const struct odpsclient_table *t = o->tab;
    const char *name;
    size_t i, j, k, n;
    bool star;
    int rc;

    n = json_array_size(o->column);
    star = n == 1 && strcmp(json_string_value(json_array_get(o->column, 0)), "*") == 0;
    if (star)
        n = t->column_count;
    if (n == 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column: table %s has no data columns",
                              o->path, o->table);
    if (!(o->map = calloc(n, sizeof(*o->map))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    o->map_count = n;
    for (i = 0; i < n; i++) {
        name = star ? t->columns[i].name : json_string_value(json_array_get(o->column, i));
        for (j = 0; j < t->column_count && strcasecmp(name, t->columns[j].name) != 0; j++)
            ;
        if (j == t->column_count) {
            for (k = 0; k < t->partition_key_count
                 && strcasecmp(name, t->partition_keys[k].name) != 0; k++)
                ;
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu]: '%s' is %s of table %s",
                                  o->path, i, name, k < t->partition_key_count
                                  ? "a partition column, written through partition, not a "
                                    "data column" : "not a column", o->table);
        }
        if (!t->columns[j].supported || t->columns[j].type == TUNNEL_TYPE_INTERVAL_DAY_TIME
            || t->columns[j].type == TUNNEL_TYPE_INTERVAL_YEAR_MONTH)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu]: column '%s' is of type "
                                  "%s, which the odps writer cannot write", o->path, i, name,
                                  t->columns[j].type_text);
        /* field numbers come from the session's schema, which lists the same columns */
        for (k = 0; k < s->count && strcasecmp(s->columns[k].name, t->columns[j].name) != 0; k++)
            ;
        if (k == s->count)
            return otsync_err_set(err, OTSYNC_EPROTO, "writer odps: the upload session of %s "
                                  "has no column '%s'", o->table, t->columns[j].name);
        o->map[i] = k;
    }
    for (i = 0; i < o->nch; i++) {
        if (!(o->ch[i].vals = calloc(s->count ? s->count : 1, sizeof(*o->ch[i].vals)))
            || !(o->ch[i].texts = calloc(n, sizeof(*o->ch[i].texts))))
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        /* the cap leaves room for one record past the cut point */
        if ((rc = tunnel_writer_init(&o->ch[i].tw, s, o->block_bytes + TUNNEL_BLOCK_MAX_DEFAULT / 2,
                                     err)) < 0)
            return rc;
        o->ch[i].tw_ready = true;
    }
    return 0;
}

static void
prep_done(struct odpsw *o)
{
    unsigned i;

    o->prep = PREP_DONE;
    for (i = 0; i < o->nch; i++)
        if (o->ch[i].batch)
            chan_run(&o->ch[i]);
    if (o->finishing)
        finish_step(o);
}

static void
on_upload(void *arg, int rc, struct odpsclient_upload *u, const struct otsync_err *err)
{
    struct odpsw *o = arg;
    struct otsync_err lerr;

    if (rc < 0) {
        prep_fail(o, rc, err);
        return;
    }
    o->upload = u;
    o->schema = odpsclient_upload_schema(u);
    otsync_err_clear(&lerr);
    if ((rc = prep_columns(o, &lerr)) < 0) {
        prep_fail(o, rc, &lerr);
        return;
    }
    log_info("writer odps: upload session %s open for %s%s%s%s", odpsclient_upload_id(u),
             o->table, o->spec[0] ? " partition " : "", o->spec,
             o->truncate ? "; its commit replaces the rows there (truncate)" : "");
    prep_done(o);
}

static void
prep_session(struct odpsw *o)
{
    struct otsync_err err;
    int rc;

    otsync_err_clear(&err);
    if ((rc = odpsclient_upload_create(o->client, o->table, o->spec[0] ? o->spec : NULL,
                                       o->truncate, on_upload, o, &err)) < 0)
        prep_fail(o, rc, &err);
}

static void
on_partition_added(void *arg, int rc, const struct otsync_err *err)
{
    struct odpsw *o = arg;

    if (rc < 0) {
        prep_fail(o, rc, err);
        return;
    }
    log_info("writer odps: partition %s of %s created", o->spec, o->table);
    prep_session(o);
}

static void
on_partitions(void *arg, int rc, char *const *specs, size_t count, const struct otsync_err *err)
{
    struct odpsw *o = arg;
    struct otsync_err lerr;
    size_t i;

    if (rc < 0) {
        prep_fail(o, rc, err);
        return;
    }
    for (i = 0; i < count; i++)
        if (strcasecmp(specs[i], o->spec) == 0) {
            prep_session(o);
            return;
        }
    otsync_err_clear(&lerr);
    if ((rc = odpsclient_partition_add(o->client, o->table, o->spec, on_partition_added, o,
                                       &lerr)) < 0)
        prep_fail(o, rc, &lerr);
}

static void
prep_partition(struct odpsw *o)
{
    struct otsync_err err;
    int rc;

    if (!o->spec[0]) {
        prep_session(o);
        return;
    }
    otsync_err_clear(&err);
    if ((rc = odpsclient_partitions_list(o->client, o->table, on_partitions, o, &err)) < 0)
        prep_fail(o, rc, &err);
}

static void
on_tunnel(void *arg, int rc, const struct otsync_err *err)
{
    struct odpsw *o = arg;

    if (rc < 0) {
        prep_fail(o, rc, err);
        return;
    }
    log_info("writer odps: tunnel endpoint %s", odpsclient_tunnel(o->client));
    prep_partition(o);
}

static void
on_table(void *arg, int rc, struct odpsclient_table *t, const struct otsync_err *err)
{
    struct odpsw *o = arg;
    struct otsync_err lerr;

    otsync_err_clear(&lerr);
    if (rc == -OTSYNC_ENOENT) {
        otsync_err_set(&lerr, OTSYNC_ECONFIG, "%s.table: %s (the table must exist)", o->path,
                       err->msg);
        prep_fail(o, -OTSYNC_ECONFIG, &lerr);
        return;
    }
    if (rc < 0) {
        prep_fail(o, rc, err);
        return;
    }
    o->tab = t;
    if (t->partition_key_count && !o->partition) {
        otsync_err_set(&lerr, OTSYNC_ECONFIG, "%s.partition: table %s is partitioned (by %s%s): "
                       "give every level, e.g. %s=...", o->path, o->table,
                       t->partition_keys[0].name, t->partition_key_count > 1 ? ", ..." : "",
                       t->partition_keys[0].name);
        prep_fail(o, -OTSYNC_ECONFIG, &lerr);
        return;
    }
    if (!t->partition_key_count && o->partition) {
        otsync_err_set(&lerr, OTSYNC_ECONFIG, "%s.partition: table %s has no partitions; leave "
                       "partition out", o->path, o->table);
        prep_fail(o, -OTSYNC_ECONFIG, &lerr);
        return;
    }
    if (o->partition && odpsclient_spec_canon(o->partition, t->partition_keys,
                                              t->partition_key_count, o->spec, sizeof(o->spec),
                                              &lerr) < 0) {
        otsync_err_prefix(&lerr, "%s.partition", o->path);
        lerr.code = OTSYNC_ECONFIG;
        prep_fail(o, -OTSYNC_ECONFIG, &lerr);
        return;
    }
    if (odpsclient_tunnel(o->client)) {
        prep_partition(o);
        return;
    }
    if ((rc = odpsclient_tunnel_resolve(o->client, on_tunnel, o, &lerr)) < 0)
        prep_fail(o, rc, &lerr);
}

static void
prep_fail(struct odpsw *o, int rc, const struct otsync_err *err)
{
    unsigned i;

    o->prep = PREP_FAILED;
    if (err)
        o->prep_err = *err;
    else
        otsync_err_set(&o->prep_err, -rc, "writer odps: %s", otsync_strerror(rc));
    o->prep_err.code = -rc;
    for (i = 0; i < o->nch; i++)
        if (o->ch[i].batch)
            chan_complete(&o->ch[i], rc, &o->prep_err);
    if (o->finishing)
        finish_complete(o, rc, &o->prep_err);
}

/* Starts the preparation once, at the first write or finish. */
static void
prep_start(struct odpsw *o)
{
    struct otsync_err err;
    int rc;

    if (o->prep != PREP_NONE)
        return;
    o->prep = PREP_RUNNING;
    otsync_err_clear(&err);
    if ((rc = odpsclient_table_get(o->client, o->table, on_table, o, &err)) < 0)
        prep_fail(o, rc, &err);
}

/* ---------------------------------------------------------------- values */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/*
 * Decimal text in plain notation from a number written in any of the usual forms ("12",
 * "-1.50", "1e+20", "1.5E-3"): "12", "-1.50", "100000000000000000000", "0.0015". Returns the
 * new text (free it), or NULL when s is not a number (or is too long).
 */
static char *
decimal_plain(const char *s, size_t len)
{
    char digits[512], *out;
    size_t nd = 0, i = 0, j;
    long exp = 0, point = -1;
    bool neg = false, any = false;

    if (len && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i++;
    }
    for (; i < len; i++) {
        if (isdigit((unsigned char)s[i])) {
            if (nd + 1 >= sizeof(digits))
                return NULL;
            digits[nd++] = s[i];
            any = true;
        } else if (s[i] == '.' && point < 0) {
            point = (long)nd;
        } else {
            break;
        }
    }
    if (!any)
        return NULL;
    if (point < 0)
        point = (long)nd;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        char *end;
        char ebuf[16];

        if (len - i - 1 == 0 || len - i - 1 >= sizeof(ebuf))
            return NULL;
        memcpy(ebuf, s + i + 1, len - i - 1);
        ebuf[len - i - 1] = '\0';
        exp = strtol(ebuf, &end, 10);
        if (*end || exp > 300 || exp < -300)
            return NULL;
        i = len;
    }
    if (i != len)
        return NULL;
    point += exp;
    /* room for sign, leading zeros, point, trailing zeros */
    if (!(out = malloc(nd + 8 + (size_t)labs(point) + 2)))
        return NULL;
    j = 0;
    if (neg)
        out[j++] = '-';
    if (point <= 0) {
        out[j++] = '0';
        if (nd) {
            out[j++] = '.';
            for (long z = point; z < 0; z++)
                out[j++] = '0';
            memcpy(out + j, digits, nd);
            j += nd;
        }
    } else if ((size_t)point >= nd) {
        memcpy(out + j, digits, nd);
        j += nd;
        for (size_t z = nd; z < (size_t)point; z++)
            out[j++] = '0';
    } else {
        memcpy(out + j, digits, (size_t)point);
        j += (size_t)point;
        out[j++] = '.';
        memcpy(out + j, digits + point, nd - (size_t)point);
        j += nd - (size_t)point;
    }
    out[j] = '\0';
    /* "-0" and leading zeros of the integer part are the service's to normalise; keep as is */
    return out;
}

/*
 * One source value as column col of the session, into *tv. Returns 0, or -1 with why (the
 * dirty record's reason). text receives memory this made (decimal text) to free later.
 */
static int
value_to(struct odpsw *o, struct otsync_batch *b, const struct otsync_value *src,
         const struct tunnel_column *col, struct tunnel_value *tv, char **text, char *why)
{
    struct otsync_value v = *src;
    char cwhy[OTSYNC_CONVERT_WHY_MAX], buf[OTSYNC_VALUE_TEXT_MAX];
    enum otsync_type want;
    const char *t;
    size_t len;
    int64_t lo = INT64_MIN + 1, hi = INT64_MAX, sec;
    struct tm tm;
    time_t tt;

    memset(tv, 0, sizeof(*tv));
    if (v.type == OTSYNC_TYPE_NULL)
        return 0;
    if (o->empty_as_null && (v.type == OTSYNC_TYPE_STRING || v.type == OTSYNC_TYPE_BINARY)
        && v.u.bytes.len == 0)
        return 0;
    switch (col->type) {
    case TUNNEL_TYPE_BIGINT: case TUNNEL_TYPE_INT: case TUNNEL_TYPE_SMALLINT:
    case TUNNEL_TYPE_TINYINT:
        want = OTSYNC_TYPE_INT;
        break;
    case TUNNEL_TYPE_DOUBLE: case TUNNEL_TYPE_FLOAT:
        want = OTSYNC_TYPE_DOUBLE;
        break;
    case TUNNEL_TYPE_BOOLEAN:
        want = OTSYNC_TYPE_BOOL;
        break;
    case TUNNEL_TYPE_DATETIME: case TUNNEL_TYPE_DATE: case TUNNEL_TYPE_TIMESTAMP:
    case TUNNEL_TYPE_TIMESTAMP_NTZ:
        want = OTSYNC_TYPE_DATE;
        break;
    case TUNNEL_TYPE_BINARY:
        want = v.type == OTSYNC_TYPE_BINARY ? OTSYNC_TYPE_BINARY : OTSYNC_TYPE_STRING;
        break;
    case TUNNEL_TYPE_DECIMAL:
        if (v.type == OTSYNC_TYPE_BOOL || v.type == OTSYNC_TYPE_DATE
            || v.type == OTSYNC_TYPE_BINARY) {
            snprintf(why, WHY_MAX, "column %s (decimal): a %s value cannot become a decimal",
                     col->name, otsync_type_name(v.type));
            return -1;
        }
        if (v.type == OTSYNC_TYPE_DOUBLE && !isfinite(v.u.d)) {
            snprintf(why, WHY_MAX, "column %s (decimal): %g is not a decimal", col->name, v.u.d);
            return -1;
        }
        /* a double as the shortest text that reads back the same, as DataX's
         * new BigDecimal(String.valueOf(d)) */
        t = otsync_value_text(&v, buf, &len);
        while (len && isspace((unsigned char)*t)) {
            t++;
            len--;
        }
        while (len && isspace((unsigned char)t[len - 1]))
            len--;
        if (!(*text = decimal_plain(t, len))) {
            snprintf(why, WHY_MAX, "column %s (decimal): \"%.40s\" is not a decimal number",
                     col->name, t);
            return -1;
        }
        tv->kind = TUNNEL_VAL_BYTES;
        tv->u.s.ptr = *text;
        tv->u.s.len = strlen(*text);
        return 0;
    default:
        want = OTSYNC_TYPE_STRING;
        break;
    }
    if (otsync_value_convert(b, &v, want, cwhy) < 0) {
        snprintf(why, WHY_MAX, "column %s (%s): %s", col->name, tunnel_type_name(col->type),
                 cwhy[0] ? cwhy : "out of memory");
        return -1;
    }
    switch (col->type) {
    case TUNNEL_TYPE_TINYINT:
        lo = INT8_MIN, hi = INT8_MAX;
        goto integer;
    case TUNNEL_TYPE_SMALLINT:
        lo = INT16_MIN, hi = INT16_MAX;
        goto integer;
    case TUNNEL_TYPE_INT:
        lo = INT32_MIN, hi = INT32_MAX;
        goto integer;
    case TUNNEL_TYPE_BIGINT:
    integer:
        if (v.u.i < lo || v.u.i > hi) {
            snprintf(why, WHY_MAX, "column %s (%s): %" PRId64 " is out of its range %" PRId64
                     " to %" PRId64, col->name, tunnel_type_name(col->type), v.u.i, lo, hi);
            return -1;
        }
        tv->kind = TUNNEL_VAL_INT;
        tv->u.i = v.u.i;
        return 0;
    case TUNNEL_TYPE_DOUBLE:
        tv->kind = TUNNEL_VAL_DOUBLE;
        tv->u.d = v.u.d;
        return 0;
    case TUNNEL_TYPE_FLOAT:
        if (isfinite(v.u.d) && fabs(v.u.d) > 3.4028234663852886e38) {
            snprintf(why, WHY_MAX, "column %s (float): %g is out of its range", col->name,
                     v.u.d);
            return -1;
        }
        tv->kind = TUNNEL_VAL_FLOAT;
        tv->u.f = (float)v.u.d;
        return 0;
    case TUNNEL_TYPE_BOOLEAN:
        tv->kind = TUNNEL_VAL_BOOL;
        tv->u.b = v.u.b;
        return 0;
    case TUNNEL_TYPE_DATETIME:
        tv->kind = TUNNEL_VAL_INT;
        tv->u.i = v.u.date_ms;
        return 0;
    case TUNNEL_TYPE_DATE:
        /* the calendar day of that instant here, as DataX's Date would give it */
        sec = floor_div(v.u.date_ms, 1000);
        tt = (time_t)sec;
        if (!localtime_r(&tt, &tm)) {
            snprintf(why, WHY_MAX, "column %s (date): %" PRId64 " ms is out of range", col->name,
                     v.u.date_ms);
            return -1;
        }
        tv->kind = TUNNEL_VAL_INT;
        tv->u.i = days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                  (unsigned)tm.tm_mday);
        return 0;
    case TUNNEL_TYPE_TIMESTAMP:
    case TUNNEL_TYPE_TIMESTAMP_NTZ:
        sec = floor_div(v.u.date_ms, 1000);
        tv->kind = TUNNEL_VAL_TIME;
        tv->u.t.sec = sec;
        tv->u.t.nanos = (int32_t)((v.u.date_ms - sec * 1000) * 1000000);
        return 0;
    default:
        break;
    }
    /* text and bytes */
    if (o->schema->max_field_len && v.u.bytes.len > o->schema->max_field_len) {
        snprintf(why, WHY_MAX, "column %s (%s): %zu bytes, more than the session's MaxFieldSize "
                 "of %zu", col->name, tunnel_type_name(col->type), v.u.bytes.len,
                 o->schema->max_field_len);
        return -1;
    }
    tv->kind = TUNNEL_VAL_BYTES;
    tv->u.s.ptr = v.u.bytes.ptr;
    tv->u.s.len = v.u.bytes.len;
    return 0;
}

/* ---------------------------------------------------------------- blocks */

static void
on_block(void *arg, int rc, const struct otsync_err *err)
{
    struct chan *ch = arg;
    struct odpsw *o = ch->o;

    ch->inflight = false;
    if (rc < 0 && !ch->failed) {
        ch->failed = rc;
        ch->fail_err = *err;
    }
    if (ch->batch) {
        if (ch->failed)
            chan_complete(ch, ch->failed, &ch->fail_err);
        else
            chan_run(ch);
    }
    if (o->finishing)
        finish_step(o);
}

/* Uploads the channel's block under the next id and starts an empty one. */
static int
block_upload(struct chan *ch, struct otsync_err *err)
{
    struct odpsw *o = ch->o;
    const unsigned char *data;
    unsigned *nb, id;
    uint64_t count = tunnel_writer_count(&ch->tw);
    size_t len;
    int rc;

    ch->cut = false;
    if (o->next_block >= ODPSCLIENT_BLOCK_IDS)
        return otsync_err_set(err, OTSYNC_EINVAL, "writer odps: more than %u blocks in one "
                              "session; raise blockSizeInMB", ODPSCLIENT_BLOCK_IDS);
    if (!(nb = realloc(o->blocks, (o->block_count + 1) * sizeof(*nb))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    o->blocks = nb;
    if ((rc = tunnel_writer_finish(&ch->tw, err)) < 0)
        return rc;
    data = tunnel_writer_data(&ch->tw, &len);
    id = o->next_block++;
    if ((rc = odpsclient_upload_block(o->upload, id, data, len, o->deflate, on_block, ch,
                                      err)) < 0)
        return rc;
    /* the id counts as uploaded only if its PUT succeeds; a failure fails the job anyway */
    o->blocks[o->block_count++] = id;
    o->records += count;
    log_debug("writer odps: channel %u: block %u, %" PRIu64 " records, %zu bytes", ch->index,
              id, count, len);
    ch->inflight = true;
    tunnel_writer_reset(&ch->tw);
    return 0;
}

/* Encodes the channel's batch from ch->next on, cutting blocks as they fill. */
static void
chan_run(struct chan *ch)
{
    struct odpsw *o = ch->o;
    struct otsync_batch *b = ch->batch;
    const struct otsync_record *rec;
    const struct tunnel_schema *s = o->schema;
    struct otsync_err err;
    char why[WHY_MAX];
    size_t i, len, count;
    int rc;

    otsync_err_clear(&err);
    while (ch->next < b->count) {
        if (ch->cut) {
            if (ch->inflight)
                return;     /* on_block() continues */
            if ((rc = block_upload(ch, &err)) < 0)
                goto fail;
            continue;
        }
        rec = &b->recs[ch->next];
        if (rec->count > o->map_count) {
            rc = otsync_err_set(&err, OTSYNC_ECONFIG, "%s.column: a record has %zu columns, the "
                                "writer lists %zu; list a target column for each", o->path,
                                rec->count, o->map_count);
            goto fail;
        }
        if (rec->count < o->map_count && !o->short_warned) {
            o->short_warned = true;
            log_warn("writer odps: a record has %zu columns, the writer lists %zu; the last "
                     "%zu are written as null", rec->count, o->map_count,
                     o->map_count - rec->count);
        }
        memset(ch->vals, 0, s->count * sizeof(*ch->vals));
        count = 0;
        why[0] = '\0';
        for (i = 0; i < rec->count; i++) {
            free(ch->texts[i]);
            ch->texts[i] = NULL;
            if (value_to(o, b, &rec->cols[i], &s->columns[o->map[i]], &ch->vals[o->map[i]],
                         &ch->texts[i], why) < 0)
                break;
            if (o->map[i] + 1 > count)
                count = o->map[i] + 1;
        }
        if (i == rec->count) {
            rc = tunnel_writer_append(&ch->tw, ch->vals, count, &err);
            if (rc == -OTSYNC_ENOMEM && tunnel_writer_count(&ch->tw) > 0) {
                ch->cut = true;     /* the block's cap: this record opens the next one */
                continue;
            }
            if (rc == -OTSYNC_EINVAL)
                snprintf(why, sizeof(why), "%.*s", (int)sizeof(why) - 1, err.msg);
            else if (rc < 0)
                goto fail;
        }
        if (why[0]) {
            o->w->dirty(o->w->dirty_arg, rec, why);
            ch->dirty++;
        }
        ch->next++;
        tunnel_writer_data(&ch->tw, &len);
        if (len >= o->block_bytes)
            ch->cut = true;
    }
    chan_complete(ch, 0, NULL);
    return;
fail:
    if (!ch->failed) {
        ch->failed = rc;
        ch->fail_err = err;
    }
    chan_complete(ch, rc, &err);
}

static int
odps_write(struct otsync_writer *w, unsigned channel, struct otsync_batch *b,
           otsync_write_done_cb done, void *arg, struct otsync_err *err)
{
    struct odpsw *o = w->data;
    struct chan *ch;

    if (channel >= o->nch)
        return otsync_err_set(err, OTSYNC_EINVAL, "writer odps: no channel %u", channel);
    ch = &o->ch[channel];
    if (ch->batch || o->slots[channel].done)
        return otsync_err_set(err, OTSYNC_EINVAL, "writer odps: channel %u is already writing",
                              channel);
    ch->batch = b;
    ch->next = 0;
    ch->dirty = 0;
    ch->done = done;
    ch->arg = arg;
    if (o->canceled) {
        chan_complete(ch, -OTSYNC_ECANCELED, NULL);
    } else if (ch->failed) {
        chan_complete(ch, ch->failed, &ch->fail_err);
    } else if (o->prep == PREP_FAILED) {
        chan_complete(ch, -o->prep_err.code, &o->prep_err);
    } else if (o->prep == PREP_DONE) {
        chan_run(ch);
    } else {
        prep_start(o);      /* chan_run follows from prep_done() */
    }
    return 0;
}

/* ---------------------------------------------------------------- finish */

static void
on_committed(void *arg, int rc, const struct otsync_err *err)
{
    struct odpsw *o = arg;

    o->committing = false;
    if (rc == 0)
        log_info("writer odps: committed upload %s: %zu block%s, %" PRIu64 " records into %s%s%s",
                 odpsclient_upload_id(o->upload), o->block_count, o->block_count == 1 ? "" : "s",
                 o->records, o->table, o->spec[0] ? " partition " : "", o->spec);
    finish_complete(o, rc, err);
}

/* Uploads what the channels still hold, then commits every block at once. */
static void
finish_step(struct odpsw *o)
{
    struct otsync_err err;
    bool waiting = false;
    unsigned i;
    int rc;

    if (!o->finishing || o->committing || o->prep != PREP_DONE)
        return;
    otsync_err_clear(&err);
    for (i = 0; i < o->nch; i++)
        if (o->ch[i].failed) {
            if (!o->ch[i].inflight)
                finish_complete(o, o->ch[i].failed, &o->ch[i].fail_err);
            return;
        }
    for (i = 0; i < o->nch; i++) {
        struct chan *ch = &o->ch[i];

        if (ch->inflight) {
            waiting = true;
            continue;
        }
        if (tunnel_writer_count(&ch->tw) > 0) {
            if ((rc = block_upload(ch, &err)) < 0) {
                finish_complete(o, rc, &err);
                return;
            }
            waiting = true;
        }
    }
    if (waiting)
        return;     /* on_block() comes back here */
    o->committing = true;
    if ((rc = odpsclient_upload_commit(o->upload, o->blocks, o->block_count, on_committed, o,
                                       &err)) < 0) {
        o->committing = false;
        finish_complete(o, rc, &err);
    }
}

static int
odps_finish(struct otsync_writer *w, otsync_write_done_cb done, void *arg, struct otsync_err *err)
{
    struct odpsw *o = w->data;
    struct otsync_err ferr;

    if (o->finishing || o->slots[o->nch].done)
        return otsync_err_set(err, OTSYNC_EINVAL, "writer odps: already finishing");
    o->finishing = true;
    o->finish_done = done;
    o->finish_arg = arg;
    if (o->canceled) {
        otsync_err_set(&ferr, OTSYNC_ECANCELED, "writer odps: canceled");
        finish_complete(o, -OTSYNC_ECANCELED, &ferr);
    } else if (o->prep == PREP_FAILED) {
        finish_complete(o, -o->prep_err.code, &o->prep_err);
    } else if (o->prep == PREP_DONE) {
        finish_step(o);
    } else {
        /* no record came: the table and partition are still checked, and an empty commit
         * still truncates */
        prep_start(o);
    }
    return 0;
}

/* ---------------------------------------------------------------- the cycle warning */

static bool
all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return n > 0;
}

/*
 * Whether a partition names a day and nothing finer: some level is a date (yyyymmdd or
 * yyyy-mm-dd) and none looks like a time of day (hh, hhmi, a time with ':' or a date with
 * hours). "pt=20240101" is; "pt=20240101,hm=0005" and "type=a" are not.
 */
static bool
partition_is_day(const char *spec)
{
    const char *p = spec, *v, *end;
    bool day = false;
    size_t n;

    while (*p) {
        end = p + strcspn(p, ",/");
        v = memchr(p, '=', (size_t)(end - p));
        v = v ? v + 1 : p;
        while (v < end && (isspace((unsigned char)*v) || *v == '\'' || *v == '"'))
            v++;
        n = (size_t)(end - v);
        while (n && (isspace((unsigned char)v[n - 1]) || v[n - 1] == '\'' || v[n - 1] == '"'))
            n--;
        if ((n == 8 && all_digits(v, 8) && (v[0] == '1' || v[0] == '2'))
            || (n == 10 && all_digits(v, 4) && v[4] == '-' && all_digits(v + 5, 2) && v[7] == '-'
                && all_digits(v + 8, 2)))
            day = true;
        else if ((all_digits(v, n) && (n == 2 || n == 4 || n >= 10)) || memchr(v, ':', n))
            return false;
        p = *end ? end + 1 : end;
    }
    return day;
}

/*
 * The channel-1 trap (PRODUCT.md): truncate with a day partition empties the whole day at
 * every run, so a task that runs every 5 minutes keeps only its last window. The task's cycle
 * comes from OTSYNC_CYCLE ("minute/5", "hour/1", "day", ...), which otsyncd sets and
 * otsync-run guesses from -p parameters with minute arithmetic when run by hand.
 */
static void
warn_day_truncate(const struct odpsw *o)
{
    const char *cycle = getenv("OTSYNC_CYCLE");

    if (!o->truncate || !o->partition || !cycle || !partition_is_day(o->partition))
        return;
    if (strncmp(cycle, "minute", 6) != 0 && strncmp(cycle, "hour", 4) != 0)
        return;
    log_warn("writer odps: truncate with partition '%s' empties that whole day at every run, "
             "and this task runs more often than daily (OTSYNC_CYCLE=%s): each run removes the "
             "day's earlier windows; give each window its own partition, e.g. "
             "\"pt=${bdp.system.bizdate},hm=$[hh24mi-5/24/60]\", or set truncate to false",
             o->partition, cycle);
}

/* ---------------------------------------------------------------- open and close */

static void
state_free(struct odpsw *o)
{
    unsigned i;
    size_t k;

    for (i = 0; o->ch && i < o->nch; i++) {
        if (o->ch[i].tw_ready)
            tunnel_writer_fini(&o->ch[i].tw);
        for (k = 0; o->ch[i].texts && k < o->map_count; k++)
            free(o->ch[i].texts[k]);
        free(o->ch[i].texts);
        free(o->ch[i].vals);
    }
    free(o->ch);
    free(o->slots);
    free(o->map);
    free(o->blocks);
    odpsclient_upload_free(o->upload);
    odpsclient_table_free(o->tab);
    odpsclient_free(o->client);
    free(o->table);
    free(o->partition);
    free(o);
}

/* Inline value if given, else the datasource's. */
static const char *
pick(const char *inline_value, const char *ds_value)
{
    return inline_value && *inline_value ? inline_value : ds_value;
}

static int
odps_open(struct otsync_writer *w, const void *conf_arg, struct otsync_err *err)
{
    const struct odps_conf *conf = conf_arg;
    const struct datasource *ds = NULL;
    struct odpsclient_conf cc;
    struct net_opts no = {.max_connections = 0};
    struct odpsw *o;
    const json_t *item;
    size_t i, j, n;
    int rc;

    if (conf->datasource[0]) {
        if (!w->datasources)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.datasource: '%s' needs a datasources "
                                  "file (-d FILE, or OTSYNC_DATASOURCES)", w->path,
                                  conf->datasource);
        if (!(ds = datasources_find(w->datasources, conf->datasource)))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.datasource: no datasource '%s' in %s",
                                  w->path, conf->datasource, w->datasources->path);
        if (ds->type != DATASOURCE_ODPS)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.datasource: '%s' is of type %s, not "
                                  "odps", w->path, conf->datasource,
                                  datasource_type_name(ds->type));
    }
    memset(&cc, 0, sizeof(cc));
    cc.endpoint = pick(conf->odps_server, ds ? ds->endpoint : NULL);
    cc.tunnel_endpoint = pick(conf->tunnel_server, ds ? ds->tunnel_endpoint : NULL);
    cc.project = pick(conf->project, ds ? ds->project : NULL);
    cc.access_key_id = pick(conf->access_id, ds ? ds->access_key_id : NULL);
    cc.access_key_secret = pick(conf->access_key, ds ? ds->access_key_secret : NULL);
    cc.security_token = pick(conf->security_token, ds ? ds->security_token : NULL);
    if (!cc.endpoint || !*cc.endpoint)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: give odpsServer, or a datasource",
                              w->path);
    if (!cc.project || !*cc.project)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: give project, or a datasource", w->path);
    if (!cc.access_key_id || !*cc.access_key_id || !cc.access_key_secret
        || !*cc.access_key_secret)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: give accessId and accessKey, or a "
                              "datasource", w->path);
    if (!conf->table[0])
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.table: must not be empty", w->path);
    if (conf->block_size_mb < 1 || conf->block_size_mb > 512)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.blockSizeInMB: 1 to 512, got %" PRId64,
                              w->path, conf->block_size_mb);
    if (conf->max_retry_time < 1 || conf->max_retry_time > 10)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.maxRetryTime: 1 to 10, got %" PRId64,
                              w->path, conf->max_retry_time);
    n = json_array_size(conf->column);
    if (n == 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column: list the target columns, or "
                              "[\"*\"] for all", w->path);
    for (i = 0; i < n; i++) {
        item = json_array_get(conf->column, i);
        if (!json_is_string(item) || !*json_string_value(item))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu]: expected a column name",
                                  w->path, i);
        if (strcmp(json_string_value(item), "*") == 0 && n > 1)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu]: \"*\" stands alone",
                                  w->path, i);
        for (j = 0; j < i; j++)
            if (strcasecmp(json_string_value(item),
                           json_string_value(json_array_get(conf->column, j))) == 0)
                return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu]: '%s' is listed "
                                      "twice", w->path, i, json_string_value(item));
    }
    if (!(o = calloc(1, sizeof(*o))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    o->w = w;
    o->path = w->path;
    o->column = conf->column;
    o->truncate = conf->truncate;
    o->empty_as_null = conf->empty_as_null;
    o->deflate = conf->is_compress;
    o->block_bytes = (size_t)conf->block_size_mb * MIB;
    o->nch = w->channels ? w->channels : 1;
    o->table = strdup(conf->table);
    o->partition = conf->partition[strspn(conf->partition, " ")] ? strdup(conf->partition) : NULL;
    o->ch = calloc(o->nch, sizeof(*o->ch));
    o->slots = calloc(o->nch + 1, sizeof(*o->slots));
    if (!o->table || (conf->partition[strspn(conf->partition, " ")] && !o->partition) || !o->ch
        || !o->slots) {
        state_free(o);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    for (i = 0; i < o->nch; i++) {
        o->ch[i].o = o;
        o->ch[i].index = (unsigned)i;
    }
    cc.max_attempts = (int)conf->max_retry_time;
    no.max_connections = (long)o->nch + 4;
    if ((rc = net_new(w->loop, &no, &o->net, err)) < 0) {
        state_free(o);
        return rc;
    }
    uv_idle_init(w->loop, &o->idle);
    o->idle.data = o;
    if ((rc = odpsclient_new(o->net, &cc, &o->client, err)) < 0) {
        otsync_err_prefix(err, "%s", w->path);
        /* the engine runs the loop after a failed open: the handles close there */
        release(o);
        return rc == -OTSYNC_ENOMEM ? rc : -OTSYNC_ECONFIG;
    }
    warn_day_truncate(o);
    w->data = o;
    return 0;
}

static void
odps_cancel(struct otsync_writer *w)
{
    struct odpsw *o = w->data;

    /* net_close() calls back at once: do it from the loop, not inside the engine's call */
    if (!o->canceled && !o->cancel_pending) {
        o->cancel_pending = true;
        uv_idle_start(&o->idle, on_idle);
    }
}

/* Ends everything on the loop: the net frees itself once its handles closed, the state goes
 * with the idle handle. Pending client callbacks fire now, into a state that still lives. */
static void
release(struct odpsw *o)
{
    o->closing = true;
    net_release(o->net);
    o->net = NULL;
    uv_idle_stop(&o->idle);
    uv_close((uv_handle_t *)&o->idle, on_closed);
}

static void
on_closed(uv_handle_t *h)
{
    struct odpsw *o = h->data;

    state_free(o);
}

static void
odps_close(struct otsync_writer *w)
{
    struct odpsw *o = w->data;

    if (!o)
        return;
    w->data = NULL;
    release(o);
}

const struct otsync_writer_ops otsync_writer_odps = {
    .name = "odps", .abi = OTSYNC_PLUGIN_ABI, .conf_size = sizeof(struct odps_conf),
    .options = odps_options,
    .open = odps_open, .write = odps_write, .finish = odps_finish,
    .cancel = odps_cancel, .close = odps_close,
};
