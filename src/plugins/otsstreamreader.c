/*
 * otsstreamreader.c - the `otsstream` reader: the changes a Table Store table's stream
 * recorded in one time window [start, end), as a change log or as one record per written row.
 *
 * Owns: the reader's parameters (DataX's otsstreamreader: dataTable, statusTable, the window
 * in its three forms, mode, column, isExportSequenceInfo, maxRetries, and otsync's guards),
 * the shards of the stream as slices, reading each shard page by page with GetStreamRecord,
 * and the records made of stream rows. Leaves to others: the status table and its rows
 * (otsstream-checkpoint.c), the connection, values and the slice task's life (ots-common.c),
 * the client (services/ots), the queue.
 *
 * A record belongs to the window when its sequence timestamp (µs, divided by 1000) lies in
 * [start, end). Each shard is read from where the previous window left it (its checkpoint)
 * up to its first record at or after end, which is where the next window starts: adjacent
 * windows neither lose nor repeat a record. A shard is read only once its parents were read
 * to their end (tablestore.md 2.7): their records all come before its own.
 *
 * Slices: one per shard, ordered so that every shard comes after its parents, then one last
 * slice that commits the checkpoints once every shard slice finished. The engine starts slices
 * in index order (engine.c, step), so when a slice starts, the slices it waits for have all
 * been started before it and wait only for slices before them in turn: no cycle of waits can
 * form, whatever the number of channels. A waiting slice polls on a timer and holds its
 * channel meanwhile; with one channel nothing ever waits.
 *
 * Channels: with one channel the shards are read one after another in slice order, so a
 * window's output is the same, byte for byte, each time it is read; with more, the records of
 * different shards may interleave differently (each shard's stay in order).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>
#include <uv.h>
#include "otsync/clock.h"
#include "otsync/log.h"
#include "tablestore.pb-c.h"
#include "otsstream.h"

#define PAGE_RECORDS 1000       /* the most GetStreamRecord gives at once */
#define WAIT_POLL_MS 10         /* a child shard's look at its parents */
#define ABSENT (-1)             /* a *Millis parameter not given */

struct stream_conf {
    struct otsp_conn_conf conn;
    const char *data_table;
    const char *status_table;
    int64_t start_millis, end_millis;
    const char *start_string, *end_string;
    const char *date;
    const char *mode;
    const json_t *column;
    bool seq_info;
    int64_t max_retries;
    int64_t end_lag_s;
    bool allow_rescan;
};

static const struct otsync_option stream_options[] = {
    OTSP_CONN_OPTIONS(struct stream_conf),
    {"dataTable", OTSYNC_OPT_STRING, offsetof(struct stream_conf, data_table), NULL,
     "the table whose stream is read"},
    {"statusTable", OTSYNC_OPT_STRING, offsetof(struct stream_conf, status_table),
     "TableStoreStreamReaderStatusTable",
     "where checkpoints are kept, keyed by (stream_id, window_end, shard_id); created when "
     "missing"},
    {"startTimestampMillis", OTSYNC_OPT_INT, offsetof(struct stream_conf, start_millis), "-1",
     "the window's start, ms since the epoch (a 14-digit yyyymmddhh24miss is read as the time "
     "it spells)"},
    {"endTimestampMillis", OTSYNC_OPT_INT, offsetof(struct stream_conf, end_millis), "-1",
     "the window's end, exclusive, likewise"},
    {"startTimeString", OTSYNC_OPT_STRING, offsetof(struct stream_conf, start_string), "",
     "the window's start as yyyymmddhh24miss in local time (TZ)"},
    {"endTimeString", OTSYNC_OPT_STRING, offsetof(struct stream_conf, end_string), "",
     "the window's end, exclusive, likewise"},
    {"date", OTSYNC_OPT_STRING, offsetof(struct stream_conf, date), "",
     "yyyymmdd: the window is that whole day in local time"},
    {"mode", OTSYNC_OPT_STRING, offsetof(struct stream_conf, mode), "",
     "single_version_and_update_only: a record per put or update (the key, then column; "
     "column alone when it names a key column); "
     "otherwise a record per cell change: key, column name, version, value, op type "
     "(U, DO, DA, DR)"},
    {"column", OTSYNC_OPT_ARRAY, offsetof(struct stream_conf, column), "[]",
     "single_version_and_update_only: the columns to give (names, or {\"name\": N})"},
    {"isExportSequenceInfo", OTSYNC_OPT_BOOL, offsetof(struct stream_conf, seq_info), "false",
     "change log: a last column epoch:timestamp:row_index, zero-padded so it sorts in stream "
     "order"},
    {"maxRetries", OTSYNC_OPT_INT, offsetof(struct stream_conf, max_retries), "30",
     "attempts per request (the larger of this and maxRetryTime counts)"},
    {"endLagSeconds", OTSYNC_OPT_INT, offsetof(struct stream_conf, end_lag_s), "300",
     "otsync: the window's end must lie this long before now, so the stream has settled; "
     "0 turns the guard off"},
    {"allowRescan", OTSYNC_OPT_BOOL, offsetof(struct stream_conf, allow_rescan), "false",
     "otsync: without the previous window's checkpoint, read each shard from the window's "
     "start time instead of failing (the first window of a chain needs it)"},
    {NULL, 0, 0, NULL, NULL},
};

struct task {
    /* first (ots-common.h); its timer starts the task, polls parents, resumes, cancels */
    struct otsp_task core;
    struct otss_reader *o;
    struct otss_shard *sh;          /* NULL: the commit slice */
    char *iter;                     /* the next page's iterator */
    char *token;                    /* a timestamp seek's continuation */
    int64_t skip;                   /* records to pass over from iter */
    bool reading;                   /* the next thing to do is asking for a page */
};

static void
shards_free(struct otss_reader *o)
{
    size_t i;

    for (i = 0; i < o->shard_count; i++) {
        free(o->shards[i].id);
        free(o->shards[i].parent);
        free(o->shards[i].sibling);
        otss_pos_clear(&o->shards[i].from);
        otss_pos_clear(&o->shards[i].to);
    }
    free(o->shards);
    o->shards = NULL;
    o->shard_count = 0;
}

static void
reader_free(struct otss_reader *o)
{
    size_t i;

    shards_free(o);
    for (i = 0; i < o->col_count; i++)
        free(o->cols[i]);
    free(o->cols);
    free(o->status_table);
    free(o->stream_id);
    free(o);
}

/* --- the window --- */

/* The job's "now": otsyncd's simulated time when it runs one, so the guards agree with it. */
static int64_t
now_ms(const struct otss_reader *o)
{
    struct timespec ts;

    if (o->r->clock)
        return (int64_t)(dclock_now(o->r->clock) * 1000);
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* yyyymmdd or yyyymmddhh24miss (by len) in local time, as ms; -1 when it is no such time. */
static int64_t
local_time_ms(const char *s, size_t len)
{
    int f[6] = {0, 1, 1, 0, 0, 0};
    static const int width[6] = {4, 2, 2, 2, 2, 2};
    struct tm tm;
    time_t t;
    size_t i, at = 0, k;

    if (strlen(s) != len || (len != 8 && len != 14))
        return -1;
    for (i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return -1;
    for (k = 0; at < len; k++) {
        f[k] = 0;
        for (i = 0; i < (size_t)width[k]; i++)
            f[k] = f[k] * 10 + (s[at++] - '0');
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    tm.tm_isdst = -1;
    if ((t = mktime(&tm)) == (time_t)-1)
        return -1;
    /* mktime normalises 20181332 into February: such a date is refused, not moved */
    if (tm.tm_year != f[0] - 1900 || tm.tm_mon != f[1] - 1 || tm.tm_mday != f[2]
        || f[3] > 23 || f[4] > 59 || f[5] > 59)
        return -1;
    return (int64_t)t * 1000;
}

/* A *Millis value: ms, or a 14-digit yyyymmddhh24miss (1e13 ms would be the year 2286). */
static int
millis_param(int64_t v, const char *path, const char *key, int64_t *ret_ms,
             struct otsync_err *err)
{
    char text[32];

    if (v >= 10000000000000LL && v <= 99999999999999LL) {
        snprintf(text, sizeof(text), "%" PRId64, v);
        if ((*ret_ms = local_time_ms(text, 14)) < 0)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.%s: %s is no yyyymmddhh24miss time",
                                  path, key, text);
        return 0;
    }
    if (v < 0 || v >= 10000000000000LL)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.%s: expected ms since the epoch or "
                              "yyyymmddhh24miss, got %" PRId64, path, key, v);
    *ret_ms = v;
    return 0;
}

static int
parse_window(struct otss_reader *o, const struct stream_conf *conf, const char *path,
             struct otsync_err *err)
{
    bool millis = conf->start_millis != ABSENT || conf->end_millis != ABSENT;
    bool strings = conf->start_string[0] || conf->end_string[0];
    bool date = conf->date[0];
    struct tm tm;
    time_t t;
    int rc;

    if (millis + strings + date != 1)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: give the window once: "
                              "startTimestampMillis and endTimestampMillis, or startTimeString "
                              "and endTimeString, or date", path);
    if (millis) {
        if (conf->start_millis == ABSENT || conf->end_millis == ABSENT)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.%s: required with %s", path,
                                  conf->start_millis == ABSENT ? "startTimestampMillis"
                                  : "endTimestampMillis",
                                  conf->start_millis == ABSENT ? "endTimestampMillis"
                                  : "startTimestampMillis");
        if ((rc = millis_param(conf->start_millis, path, "startTimestampMillis", &o->start_ms,
                               err)) < 0
            || (rc = millis_param(conf->end_millis, path, "endTimestampMillis", &o->end_ms,
                                  err)) < 0)
            return rc;
    } else if (strings) {
        if ((o->start_ms = local_time_ms(conf->start_string, 14)) < 0)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.startTimeString: expected "
                                  "yyyymmddhh24miss, got \"%s\"", path, conf->start_string);
        if ((o->end_ms = local_time_ms(conf->end_string, 14)) < 0)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.endTimeString: expected "
                                  "yyyymmddhh24miss, got \"%s\"", path, conf->end_string);
    } else {
        if ((o->start_ms = local_time_ms(conf->date, 8)) < 0)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.date: expected yyyymmdd, got \"%s\"",
                                  path, conf->date);
        /* the next midnight, not start + 24 h: a day with a DST change is 23 or 25 hours */
        t = (time_t)(o->start_ms / 1000);
        localtime_r(&t, &tm);
        tm.tm_mday++;
        tm.tm_isdst = -1;
        o->end_ms = (int64_t)mktime(&tm) * 1000;
    }
    if (o->end_ms <= o->start_ms)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: the window's end must come after its "
                              "start (%" PRId64 " ms, %" PRId64 " ms)", path, o->start_ms,
                              o->end_ms);
    return 0;
}

static int
stream_open(struct otsync_reader *r, const void *conf_arg, struct otsync_err *err)
{
    const struct stream_conf *conf = conf_arg;
    struct otsp_conn_conf cc = conf->conn;
    struct otss_reader *o;
    const json_t *item;
    const char *name;
    size_t i;
    int rc;

    if (!(o = calloc(1, sizeof(*o))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    o->r = r;
    if (!conf->data_table[0] || !conf->status_table[0]) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.%s: must not be empty", r->path,
                            conf->data_table[0] ? "statusTable" : "dataTable");
        goto fail;
    }
    if (!strcmp(conf->data_table, conf->status_table)) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.statusTable: must not be the dataTable",
                            r->path);
        goto fail;
    }
    if ((rc = parse_window(o, conf, r->path, err)) < 0)
        goto fail;
    if (!strcasecmp(conf->mode, "single_version_and_update_only"))
        o->single = true;
    else if (conf->mode[0] && strcasecmp(conf->mode, "multi_version") != 0) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.mode: expected "
                            "single_version_and_update_only, or multi_version (the default "
                            "change log), got \"%s\"", r->path, conf->mode);
        goto fail;
    }
    if (o->single && !json_array_size(conf->column)) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.column: single_version_and_update_only "
                            "needs the columns to give", r->path);
        goto fail;
    }
    if (o->single && !(o->cols = calloc(json_array_size(conf->column), sizeof(*o->cols)))) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    /* the change log gives every column, so column is only read in the other mode */
    json_array_foreach(conf->column, i, item) {
        if (!o->single)
            break;
        name = json_is_string(item) ? json_string_value(item)
               : json_string_value(json_object_get(item, "name"));
        if (!name || !*name) {
            rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu]: expected a column name "
                                "or {\"name\": N}", r->path, i);
            goto fail;
        }
        if (!(o->cols[i] = strdup(name))) {
            rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
            goto fail;
        }
        o->col_count = i + 1;
    }
    if (conf->max_retries < 1 || conf->max_retries > 100) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.maxRetries: must be 1 to 100, got %" PRId64,
                            r->path, conf->max_retries);
        goto fail;
    }
    if (conf->end_lag_s < 0) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.endLagSeconds: must not be negative",
                            r->path);
        goto fail;
    }
    o->lag_s = conf->end_lag_s;
    o->seq_info = conf->seq_info;
    o->allow_rescan = conf->allow_rescan;
    if (!(o->status_table = strdup(conf->status_table))) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    if (cc.max_retry_time < conf->max_retries)
        cc.max_retry_time = conf->max_retries;
    if ((rc = otsp_open(&o->conn, r->loop, r->datasources, r->path, &cc, conf->data_table,
                        r->channels, err)) < 0)
        goto fail;
    r->data = o;
    return 0;
fail:
    reader_free(o);
    return rc;
}

/* --- split: the stream, its shards, the checkpoints --- */

static void
split_finish(struct otss_reader *o, int rc, const struct otsync_err *err)
{
    /* the shard slices, then the commit */
    o->split_done(o->split_arg, rc, rc < 0 ? 0 : (unsigned)o->shard_count + 1, err);
}

static int
shard_index(const struct otss_reader *o, const char *id)
{
    size_t i;

    for (i = 0; id && i < o->shard_count; i++)
        if (!strcmp(o->shards[i].id, id))
            return (int)i;
    return -1;
}

/*
 * Puts the shards in slice order: each after the parents that are listed (a parent the
 * service no longer lists was trimmed away and counts as read). Among the shards free to go,
 * the listing's order decides, so the order is the same on every run.
 */
static int
order_shards(struct otss_reader *o, struct otsync_err *err)
{
    struct otss_shard *sorted;
    bool *placed;
    size_t n = o->shard_count, done = 0, i;
    int p, s;

    sorted = calloc(n ? n : 1, sizeof(*sorted));
    placed = calloc(n ? n : 1, sizeof(*placed));
    if (!sorted || !placed) {
        free(sorted);
        free(placed);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    while (done < n) {
        for (i = 0; i < n; i++) {
            if (placed[i])
                continue;
            p = shard_index(o, o->shards[i].parent);
            s = shard_index(o, o->shards[i].sibling);
            if ((p < 0 || placed[p]) && (s < 0 || placed[s]))
                break;
        }
        if (i == n) {
            free(sorted);
            free(placed);
            return otsync_err_set(err, OTSYNC_EPROTO, "Table Store DescribeStream: the shards' "
                                  "parents form a cycle");
        }
        placed[i] = true;
        sorted[done++] = o->shards[i];
    }
    free(o->shards);
    free(placed);
    o->shards = sorted;
    for (i = 0; i < n; i++) {
        o->shards[i].parent_ix = shard_index(o, o->shards[i].parent);
        o->shards[i].sibling_ix = shard_index(o, o->shards[i].sibling);
    }
    return 0;
}

static void
on_prepared(void *arg, int rc, const struct otsync_err *err)
{
    struct otss_reader *o = arg;
    char start[64], end[64];

    if (rc == 0)
        log_info("%s: stream %s of %s, %zu shard%s, window [%s, %s)", o->r->path, o->stream_id,
                 o->conn.table, o->shard_count, o->shard_count == 1 ? "" : "s",
                 otss_time_text(o->start_ms, start), otss_time_text(o->end_ms, end));
    split_finish(o, rc, err);
}

static void describe_stream(struct otss_reader *o, const char *from);

static void
on_stream_described(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
                    const struct otsync_err *err)
{
    struct otss_reader *o = arg;
    Otsync__Ots__DescribeStreamResponse *r;
    struct otss_shard *ns;
    struct otsync_err lerr;
    char start[64];
    char *next = NULL;
    size_t i;

    (void)e;
    otsync_err_clear(&lerr);
    if (rc < 0) {
        split_finish(o, rc, err);
        return;
    }
    if (!(r = otsync__ots__describe_stream_response__unpack(NULL, len, body))) {
        rc = otsync_err_set(&lerr, OTSYNC_EPROTO, "Table Store DescribeStream %s: an answer "
                            "that does not decode", o->stream_id);
        split_finish(o, rc, &lerr);
        return;
    }
    o->retention_h = r->expiration_time;
    if (!(ns = realloc(o->shards, (o->shard_count + r->n_shards + 1) * sizeof(*ns)))) {
        rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
        goto out;
    }
    o->shards = ns;
    for (i = 0; i < r->n_shards; i++) {
        struct otss_shard *sh = &o->shards[o->shard_count];

        memset(sh, 0, sizeof(*sh));
        o->shard_count++;
        sh->id = strdup(r->shards[i]->shard_id);
        sh->parent = r->shards[i]->parent_id && *r->shards[i]->parent_id
                     ? strdup(r->shards[i]->parent_id) : NULL;
        sh->sibling = r->shards[i]->parent_sibling_id && *r->shards[i]->parent_sibling_id
                      ? strdup(r->shards[i]->parent_sibling_id) : NULL;
        if (!sh->id || (r->shards[i]->parent_id && *r->shards[i]->parent_id && !sh->parent)
            || (r->shards[i]->parent_sibling_id && *r->shards[i]->parent_sibling_id
                && !sh->sibling)) {
            rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (r->next_shard_id && *r->next_shard_id && r->n_shards
        && !(next = strdup(r->next_shard_id))) {
        rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
        goto out;
    }
out:
    otsync__ots__describe_stream_response__free_unpacked(r, NULL);
    if (rc < 0) {
        split_finish(o, rc, &lerr);
        return;
    }
    if (next) {
        describe_stream(o, next);
        free(next);
        return;
    }
    /* the stream drops what is older than its retention: such a start has lost records */
    if (o->retention_h > 0 && o->start_ms < now_ms(o) - (int64_t)o->retention_h * 3600 * 1000) {
        rc = otsync_err_set(&lerr, OTSYNC_EINVAL, "%s: the window's start %s lies before what "
                            "the stream keeps (%d h)", o->r->path,
                            otss_time_text(o->start_ms, start), o->retention_h);
        split_finish(o, rc, &lerr);
        return;
    }
    if ((rc = order_shards(o, &lerr)) < 0
        || (rc = otss_status_prepare(o, on_prepared, o, &lerr)) < 0)
        split_finish(o, rc, &lerr);
}

static void
describe_stream(struct otss_reader *o, const char *from)
{
    Otsync__Ots__DescribeStreamRequest req = OTSYNC__OTS__DESCRIBE_STREAM_REQUEST__INIT;
    struct otsync_err err;
    int rc;

    otsync_err_clear(&err);
    req.stream_id = o->stream_id;
    req.inclusive_start_shard_id = (char *)from;
    if ((rc = ots_call(o->conn.client, "DescribeStream", &req.base, true, on_stream_described, o,
                       &err)) < 0)
        split_finish(o, rc, &err);
}

static void
on_streams(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
           const struct otsync_err *err)
{
    struct otss_reader *o = arg;
    Otsync__Ots__ListStreamResponse *r;
    const Otsync__Ots__Stream *best = NULL;
    struct otsync_err lerr;
    size_t i;

    (void)e;
    otsync_err_clear(&lerr);
    if (rc < 0) {
        split_finish(o, rc, err);
        return;
    }
    if (!(r = otsync__ots__list_stream_response__unpack(NULL, len, body))) {
        rc = otsync_err_set(&lerr, OTSYNC_EPROTO, "Table Store ListStream: an answer that does "
                            "not decode");
        split_finish(o, rc, &lerr);
        return;
    }
    /* a stream disabled and enabled again is a new stream: the newest is the live one */
    for (i = 0; i < r->n_streams; i++)
        if (!strcmp(r->streams[i]->table_name, o->conn.table)
            && (!best || r->streams[i]->creation_time > best->creation_time))
            best = r->streams[i];
    if (!best)
        rc = otsync_err_set(&lerr, OTSYNC_EINVAL, "%s.dataTable: the table %s has no stream; "
                            "enable it (UpdateTable stream_spec) before reading changes",
                            o->r->path, o->conn.table);
    else if (!(o->stream_id = strdup(best->stream_id)))
        rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
    otsync__ots__list_stream_response__free_unpacked(r, NULL);
    if (rc < 0)
        split_finish(o, rc, &lerr);
    else
        describe_stream(o, NULL);
}

static void
on_schema(void *arg, int rc, const struct otsync_err *err)
{
    struct otss_reader *o = arg;
    Otsync__Ots__ListStreamRequest req = OTSYNC__OTS__LIST_STREAM_REQUEST__INIT;
    struct otsync_err lerr;
    size_t c;
    unsigned p;

    otsync_err_clear(&lerr);
    if (rc < 0) {
        split_finish(o, rc, err);
        return;
    }
    for (c = 0; c < o->col_count; c++)
        for (p = 0; p < o->conn.schema.count; p++)
            if (!strcmp(o->cols[c], o->conn.schema.names[p]))
                o->cols_name_key = true;
    req.table_name = o->conn.table;
    if ((rc = ots_call(o->conn.client, "ListStream", &req.base, true, on_streams, o, &lerr)) < 0)
        split_finish(o, rc, &lerr);
}

static int
stream_split(struct otsync_reader *r, unsigned advice, otsync_split_cb done, void *arg,
             struct otsync_err *err)
{
    struct otss_reader *o = r->data;
    char end[64], now[64];
    int64_t t = now_ms(o);

    (void)advice;   /* the shards decide */
    if (o->end_ms > t - o->lag_s * 1000)
        return otsync_err_set(err, OTSYNC_ERETRY, "%s: the window's end %s is later than now "
                              "(%s) less endLagSeconds (%" PRId64 "): the stream has not settled "
                              "there yet; run the window later", r->path,
                              otss_time_text(o->end_ms, end), otss_time_text(t, now), o->lag_s);
    o->split_done = done;
    o->split_arg = arg;
    return otsp_describe(&o->conn, on_schema, o, err);
}

/* --- records --- */

static int
set_seq(struct otsync_batch *b, struct otsync_value *v, const struct pb_seq *seq,
        struct otsync_err *err)
{
    char text[64];
    int n;

    /* fixed widths: the text sorts as the stream's order does */
    n = snprintf(text, sizeof(text), "%010" PRIu32 ":%016" PRId64 ":%010" PRIu32, seq->epoch,
                 seq->ts_us, seq->row_index);
    return otsync_value_set_string(b, v, text, (size_t)n, err);
}

/* One change-log record: the key, then name, version, value, op [, seq]; cell NULL: DR. */
static int
add_change(struct otss_reader *o, struct otsync_batch *b, const struct pb_row *row,
           const struct pb_cell *cell, enum otsync_op op, const char *type,
           struct otsync_err *err)
{
    struct otsync_record *rec;
    size_t k = row->pk_count, i;
    int rc;

    if ((rc = otsync_batch_add(b, k + 4 + (o->seq_info ? 1 : 0), &rec, err)) < 0)
        return rc;
    rec->op = op;
    for (i = 0; i < k; i++)
        if ((rc = otsp_value_to_record(b, &rec->cols[i], &row->pk[i].value, err)) < 0)
            return rc;
    if (cell) {
        if ((rc = otsync_value_set_string(b, &rec->cols[k], cell->name, cell->name_len,
                                          err)) < 0)
            return rc;
        if (cell->has_ts)
            otsync_value_set_int(b, &rec->cols[k + 1], cell->ts);
        if (cell->op == PB_OP_PUT && cell->has_value) {
            if ((rc = otsp_value_to_record(b, &rec->cols[k + 2], &cell->value, err)) < 0)
                return rc;
            if (cell->has_ts) {
                rec->cols[k + 2].has_ts = true;
                rec->cols[k + 2].ts = cell->ts;
            }
        }
    }
    if ((rc = otsync_value_set_string(b, &rec->cols[k + 3], type, strlen(type), err)) < 0)
        return rc;
    if (o->seq_info && (rc = set_seq(b, &rec->cols[k + 4], &row->seq, err)) < 0)
        return rc;
    return 0;
}

/*
 * One put or update row as a record of the configured columns, each its latest put value:
 * after the key columns, or alone when they name a key column themselves (DataX's jobs list
 * the key there, and then say where it goes).
 */
static int
add_single(struct otss_reader *o, struct otsync_batch *b, const struct pb_row *row,
           enum otsync_op op, struct otsync_err *err)
{
    const struct otsp_schema *s = &o->conn.schema;
    const struct pb_cell *best;
    struct otsync_record *rec;
    size_t k = o->cols_name_key ? 0 : row->pk_count, i, c, n;
    unsigned p;
    int rc;

    if ((rc = otsync_batch_add(b, k + o->col_count, &rec, err)) < 0)
        return rc;
    rec->op = op;
    for (i = 0; i < k; i++)
        if ((rc = otsp_value_to_record(b, &rec->cols[i], &row->pk[i].value, err)) < 0)
            return rc;
    for (c = 0; c < o->col_count; c++) {
        struct otsync_value *v = &rec->cols[k + c];

        for (p = 0; p < s->count && p < row->pk_count; p++)
            if (!strcmp(s->names[p], o->cols[c]))
                break;
        if (p < s->count && p < row->pk_count) {
            if ((rc = otsp_value_to_record(b, v, &row->pk[p].value, err)) < 0)
                return rc;
            continue;
        }
        n = strlen(o->cols[c]);
        best = NULL;
        for (i = 0; i < row->attr_count; i++) {
            const struct pb_cell *a = &row->attrs[i];

            if (a->op != PB_OP_PUT || !a->has_value || a->name_len != n
                || memcmp(a->name, o->cols[c], n) != 0)
                continue;
            if (!best || (a->has_ts && (!best->has_ts || a->ts > best->ts)))
                best = a;
        }
        if (!best)
            continue;   /* not written, or deleted, by this change: null */
        if ((rc = otsp_value_to_record(b, v, &best->value, err)) < 0)
            return rc;
        if (best->has_ts) {
            v->has_ts = true;
            v->ts = best->ts;
        }
    }
    return 0;
}

static int
row_records(struct otss_reader *o, int action, const struct pb_row *row, struct otsync_batch *b,
            struct otsync_err *err)
{
    bool del = row->deleted || action == OTSYNC__OTS__ACTION_TYPE__DELETE_ROW;
    enum otsync_op op = action == OTSYNC__OTS__ACTION_TYPE__PUT_ROW ? OTSYNC_OP_PUT
                        : OTSYNC_OP_UPDATE;
    const struct pb_cell *c;
    size_t i;
    int rc;

    if (row->pk_count != o->conn.schema.count)
        return otsync_err_set(err, OTSYNC_EPROTO, "Table Store GetStreamRecord: a record of %s "
                              "with %zu key columns, not %u", o->conn.table, row->pk_count,
                              o->conn.schema.count);
    if (o->single)
        return del ? 0 : add_single(o, b, row, op, err);
    if (del)
        return add_change(o, b, row, NULL, OTSYNC_OP_DELETE, "DR", err);
    for (i = 0; i < row->attr_count; i++) {
        c = &row->attrs[i];
        if (c->op == PB_OP_DELETE_ONE)
            rc = add_change(o, b, row, c, OTSYNC_OP_UPDATE, "DO", err);
        else if (c->op == PB_OP_DELETE_ALL)
            rc = add_change(o, b, row, c, OTSYNC_OP_UPDATE, "DA", err);
        else
            rc = add_change(o, b, row, c, op, "U", err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* --- reading a shard --- */

static void request_page(struct task *t);
static void request_iterator(struct task *t);

/* A shard read to the window's end is what its children and the commit slice wait for. */
static void
task_release(struct otsp_task *core, int rc)
{
    struct task *t = (struct task *)core;

    if (rc == 0 && t->sh)
        t->sh->finished = true;
    free(t->iter);
    free(t->token);
    t->iter = t->token = NULL;
}

/* The shard's end position is known: the slice is done. */
static void
shard_reached(struct task *t, enum otss_pos_kind kind, const char *iter, int64_t skip)
{
    struct otsync_err err;

    otss_pos_clear(&t->sh->to);
    t->sh->to.kind = kind;
    t->sh->to.skip = skip;
    if (iter && !(t->sh->to.iterator = strdup(iter))) {
        otsp_task_end(&t->core, otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"), &err);
        return;
    }
    otsp_task_end(&t->core, 0, NULL);
}

static void
on_records(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
           const struct otsync_err *err)
{
    struct task *t = arg;
    struct otss_reader *o = t->o;
    Otsync__Ots__GetStreamRecordResponse *r = NULL;
    struct otsync_batch *b = NULL;
    struct otsync_err lerr;
    struct pb_rows rows;
    int64_t stop = -1, end_us = o->end_ms * 1000, start_us = o->start_ms * 1000;
    char *next = NULL;
    size_t i;

    otsync_err_clear(&lerr);
    memset(&rows, 0, sizeof(rows));
    if (rc < 0 && e && !strcmp(e->code, "OTSTrimmedDataAccess")) {
        rc = otsync_err_set(&lerr, OTSYNC_EINVAL, "%s: shard %s: the stream no longer holds the "
                            "records this window starts at (trimmed): its start lies before "
                            "what the stream keeps", o->r->path, t->sh->id);
        err = &lerr;
    }
    if (!otsp_task_landed(&t->core, rc, err))
        return;
    if (!(r = otsync__ots__get_stream_record_response__unpack(NULL, len, body))) {
        rc = otsync_err_set(&lerr, OTSYNC_EPROTO, "Table Store GetStreamRecord %s: an answer "
                            "that does not decode", t->sh->id);
        goto fail;
    }
    if (r->n_stream_records && !(b = otsync_batch_new(r->n_stream_records * 4))) {
        rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < r->n_stream_records; i++) {
        const Otsync__Ots__GetStreamRecordResponse__StreamRecord *sr = r->stream_records[i];

        if (t->skip > 0) {
            t->skip--;      /* before the checkpoint's record: the previous window gave it */
            continue;
        }
        if ((rc = plainbuffer_decode_row(sr->record.data, sr->record.len, &rows, &lerr)) < 0)
            goto fail;
        if (rows.count != 1 || !rows.rows[0].has_seq) {
            rc = otsync_err_set(&lerr, OTSYNC_EPROTO, "Table Store GetStreamRecord %s: a "
                                "record without its sequence", t->sh->id);
            goto fail;
        }
        if (rows.rows[0].seq.ts_us >= end_us) {
            stop = (int64_t)i;
            plainbuffer_rows_fini(&rows);
            break;
        }
        /* a rescan seeks to start; a record before it was the previous window's */
        if (!(o->rescan && rows.rows[0].seq.ts_us < start_us)) {
            t->sh->records++;
            if ((rc = row_records(o, sr->action_type, &rows.rows[0], b, &lerr)) < 0)
                goto fail;
        }
        plainbuffer_rows_fini(&rows);
    }
    if (r->next_shard_iterator && !(next = strdup(r->next_shard_iterator))) {
        rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    if (stop < 0 && r->n_stream_records && next) {
        free(t->iter);
        t->iter = next;     /* more to read */
        next = NULL;
    }
    otsp_task_emit(&t->core, b);  /* may pause or cancel us */
    if (t->core.canceled) {
        otsp_task_end_canceled(&t->core);
    } else if (stop >= 0) {
        /* the next window starts at this page's record `stop`: the same iterator, passing
         * over the records before it */
        shard_reached(t, OTSS_POS_AT, t->iter, stop);
    } else if (!r->next_shard_iterator) {
        shard_reached(t, OTSS_POS_DONE, NULL, 0);
    } else if (!r->n_stream_records) {
        /* caught up: whatever comes next is stamped later than end (split's guard) */
        shard_reached(t, OTSS_POS_AT, next, t->skip);
    } else if (!t->core.paused) {
        request_page(t);
    }
    free(next);
    otsync__ots__get_stream_record_response__free_unpacked(r, NULL);
    return;
fail:
    free(next);
    otsync_batch_free(b);
    plainbuffer_rows_fini(&rows);
    if (r)
        otsync__ots__get_stream_record_response__free_unpacked(r, NULL);
    otsp_task_end(&t->core, rc, &lerr);
}

static void
request_page(struct task *t)
{
    Otsync__Ots__GetStreamRecordRequest req = OTSYNC__OTS__GET_STREAM_RECORD_REQUEST__INIT;
    struct otsync_err err;
    int rc;

    otsync_err_clear(&err);
    t->reading = true;
    req.shard_iterator = t->iter;
    req.has_limit = 1;
    req.limit = PAGE_RECORDS;
    if ((rc = otsp_task_call(&t->core, t->o->conn.client, "GetStreamRecord", &req.base,
                             on_records, &err)) < 0)
        otsp_task_end(&t->core, rc, &err);
}

static void
on_iterator(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
            const struct otsync_err *err)
{
    struct task *t = arg;
    Otsync__Ots__GetShardIteratorResponse *r;
    struct otsync_err lerr;

    (void)e;
    otsync_err_clear(&lerr);
    if (!otsp_task_landed(&t->core, rc, err))
        return;
    if (!(r = otsync__ots__get_shard_iterator_response__unpack(NULL, len, body))) {
        rc = otsync_err_set(&lerr, OTSYNC_EPROTO, "Table Store GetShardIterator %s: an answer "
                            "that does not decode", t->sh->id);
        otsp_task_end(&t->core, rc, &lerr);
        return;
    }
    free(t->iter);
    free(t->token);
    t->iter = strdup(r->shard_iterator);
    /* a timestamp seek may come in steps: ask again with the token until none comes back */
    t->token = r->next_token && *r->next_token ? strdup(r->next_token) : NULL;
    rc = !t->iter || (r->next_token && *r->next_token && !t->token) ? -OTSYNC_ENOMEM : 0;
    otsync__ots__get_shard_iterator_response__free_unpacked(r, NULL);
    if (rc < 0) {
        otsp_task_end(&t->core, otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory"), &lerr);
        return;
    }
    if (t->token)
        request_iterator(t);
    else if (!t->core.paused)
        request_page(t);
    else
        t->reading = true;
}

static void
request_iterator(struct task *t)
{
    Otsync__Ots__GetShardIteratorRequest req = OTSYNC__OTS__GET_SHARD_ITERATOR_REQUEST__INIT;
    struct otsync_err err;
    int rc;

    otsync_err_clear(&err);
    req.stream_id = t->o->stream_id;
    req.shard_id = t->sh->id;
    if (t->sh->from.kind == OTSS_POS_SEEK) {
        req.has_timestamp = 1;
        req.timestamp = t->o->start_ms * 1000;
        req.token = t->token;
    }
    if ((rc = otsp_task_call(&t->core, t->o->conn.client, "GetShardIterator", &req.base,
                             on_iterator, &err)) < 0)
        otsp_task_end(&t->core, rc, &err);
}

/* A shard slice, from the loop: waits for its parents, then reads from its start position. */
static void
shard_begin(struct task *t)
{
    struct otss_reader *o = t->o;
    struct otss_shard *sh = t->sh;
    const int parents[2] = {sh->parent_ix, sh->sibling_ix};
    struct otsync_err err;
    struct otss_pos keep;
    int i;

    if (sh->from.kind == OTSS_POS_DONE) {
        shard_reached(t, OTSS_POS_DONE, NULL, 0);
        return;
    }
    for (i = 0; i < 2; i++)
        if (parents[i] >= 0 && !o->shards[parents[i]].finished)
            return;     /* on_timer looks again */
    for (i = 0; i < 2; i++)
        if (parents[i] >= 0 && o->shards[parents[i]].to.kind != OTSS_POS_DONE) {
            /* a parent still has records at or after end, and all of ours come later: this
             * window has nothing here; the next starts where this one would have */
            memset(&keep, 0, sizeof(keep));
            if (otss_pos_copy(&keep, &sh->from, &err) < 0) {
                otsp_task_end(&t->core, -OTSYNC_ENOMEM, &err);
                return;
            }
            if (keep.kind == OTSS_POS_SEEK)
                keep.kind = OTSS_POS_NEW;
            shard_reached(t, keep.kind, keep.iterator, keep.skip);
            otss_pos_clear(&keep);
            return;
        }
    if (sh->from.kind == OTSS_POS_AT) {
        if (!(t->iter = strdup(sh->from.iterator))) {
            otsp_task_end(&t->core, otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory"), &err);
            return;
        }
        t->skip = sh->from.skip;
        request_page(t);
        return;
    }
    request_iterator(t);
}

static void
on_committed(void *arg, int rc, const struct otsync_err *err)
{
    struct task *t = arg;
    struct otss_reader *o = t->o;
    char end[64];

    t->core.in_flight = false;
    if (rc == 0)
        log_info("%s: checkpoints of %zu shard%s stored for %s", o->r->path, o->shard_count,
                 o->shard_count == 1 ? "" : "s", otss_time_text(o->end_ms, end));
    otsp_task_end(&t->core, rc, err);
}

static void
on_timer(uv_timer_t *h)
{
    struct task *t = h->data;
    struct otsync_err err;
    size_t i;
    int rc;

    if (t->core.canceled) {
        otsp_task_end_canceled(&t->core);
        return;
    }
    if (t->sh) {
        if (t->reading) {
            if (!t->core.paused && !t->core.in_flight)
                request_page(t);
            return;
        }
        shard_begin(t);
        if (!t->core.finished && !t->core.in_flight && !t->reading)
            uv_timer_start(&t->core.timer, on_timer, WAIT_POLL_MS, 0);
        return;
    }
    for (i = 0; i < t->o->shard_count; i++)
        if (!t->o->shards[i].finished) {
            uv_timer_start(&t->core.timer, on_timer, WAIT_POLL_MS, 0);
            return;
        }
    otsync_err_clear(&err);
    t->core.in_flight = true;
    if ((rc = otss_status_commit(t->o, &t->core.canceled, on_committed, t, &err)) < 0) {
        t->core.in_flight = false;
        otsp_task_end(&t->core, rc, &err);
    }
}

static int
stream_start(struct otsync_reader *r, unsigned slice, otsync_read_emit_cb emit,
             otsync_read_end_cb end, void *arg, void **ret_task, struct otsync_err *err)
{
    struct otss_reader *o = r->data;
    struct task *t;

    if (slice > o->shard_count)
        return otsync_err_set(err, OTSYNC_EINVAL, "otsstream reader: no slice %u", slice);
    if (!(t = calloc(1, sizeof(*t))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    t->o = o;
    t->sh = slice < o->shard_count ? &o->shards[slice] : NULL;
    otsp_task_init(&t->core, r->loop, "otsstream reader", task_release, emit, end, arg);
    /* everything happens from the loop, never inside this call */
    uv_timer_start(&t->core.timer, on_timer, 0, 0);
    *ret_task = t;
    return 0;
}

static void
stream_resume(struct otsync_reader *r, void *task)
{
    struct task *t = task;

    (void)r;
    t->core.paused = false;
    if (t->reading && otsp_task_idle(&t->core))
        uv_timer_start(&t->core.timer, on_timer, 0, 0);
}

static void
stream_cancel(struct otsync_reader *r, void *task)
{
    struct task *t = task;

    (void)r;
    t->core.canceled = true;
    /* a request in flight ends the task when it lands; otherwise the timer does, at once */
    if (!t->core.in_flight && !t->core.finished)
        uv_timer_start(&t->core.timer, on_timer, 0, 0);
}

static void
stream_close(struct otsync_reader *r)
{
    struct otss_reader *o = r->data;

    if (!o)
        return;
    otsp_close(&o->conn);
    reader_free(o);
    r->data = NULL;
}

const struct otsync_reader_ops otsync_reader_otsstream = {
    .name = "otsstream", .abi = OTSYNC_PLUGIN_ABI, .conf_size = sizeof(struct stream_conf),
    .options = stream_options,
    .open = stream_open, .split = stream_split, .start = stream_start,
    .pause = otsp_task_pause, .resume = stream_resume, .cancel = stream_cancel,
    .close = stream_close,
};
