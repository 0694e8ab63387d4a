/*
 * stream.c - the stream reader and writer: DataX's debugging pair, plus otsync's failure
 * switches for testing the scheduler's reruns.
 *
 * Owns: streamreader (a fixed record of typed columns, sliceRecordCount times per slice, one
 * slice per channel as DataX does) and streamwriter (records as delimited lines on stdout).
 * Leaves to others: the queue and its backpressure (the engine), parameter types (job.c,
 * from the option tables below).
 *
 * The writer prints with stdio on the process's stdout and so may block on a full pipe; that
 * is acceptable for a debugging writer whose reader is the daemon or a terminal, and it keeps
 * the printed lines and the summary line that follows them in one ordered stream.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <uv.h>
#include "../run/plugin.h"

#define BATCH_RECORDS 1024          /* records per batch at most ... */
#define BATCH_BYTES (1024 * 1024)   /* ... and about this many bytes */
#define DEFAULT_DATE_FORMAT "yyyy-MM-dd HH:mm:ss"

/* ---------------------------------------------------------------- reader */

struct stream_reader_conf {
    const json_t *column;
    int64_t slice_record_count;
    bool fail;
    int64_t fail_on_attempts;
    const char *fail_if_exists;
    int64_t delay_ms;
};

static const struct otsync_option stream_reader_options[] = {
    {"column", OTSYNC_OPT_ARRAY, offsetof(struct stream_reader_conf, column), NULL,
     "the columns of every record: {type, value} with type string, long, double, bool, date "
     "(value \"yyyy-MM-dd HH:mm:ss\", or as dateFormat says) or bytes; a null value is null"},
    {"sliceRecordCount", OTSYNC_OPT_INT, offsetof(struct stream_reader_conf, slice_record_count),
     "1", "records per slice; there is one slice per channel"},
    {"fail", OTSYNC_OPT_BOOL, offsetof(struct stream_reader_conf, fail), "false",
     "otsync: fail the job after producing the records"},
    {"failOnAttempts", OTSYNC_OPT_INT, offsetof(struct stream_reader_conf, fail_on_attempts), "0",
     "otsync: fail while the attempt number (OTSYNC_ATTEMPT, 1 when unset) is at most this"},
    {"failIfExists", OTSYNC_OPT_STRING, offsetof(struct stream_reader_conf, fail_if_exists), "",
     "otsync: fail while this file exists"},
    {"delayMs", OTSYNC_OPT_INT, offsetof(struct stream_reader_conf, delay_ms), "0",
     "otsync: wait this many milliseconds before each slice ends"},
    {NULL, 0, 0, NULL, NULL},
};

struct stream_column {
    struct otsync_value v;      /* strings point into the job or into owned */
    char *owned;                /* text this column made itself (a number given to "string") */
};

struct stream_reader {
    struct stream_column *cols;
    size_t col_count;
    size_t batch_records;       /* records per batch, from the size of one record */
    int64_t slice_records;
    bool fail;
    int64_t fail_on_attempts;
    int64_t attempt;            /* OTSYNC_ATTEMPT */
    const char *fail_if_exists; /* NULL when not asked */
    uint64_t delay_ms;
};

/* One running slice: its own handles, so slices of several channels run side by side. */
struct stream_task {
    struct stream_reader *s;    /* alive until the engine closes the reader, after every end() */
    uv_idle_t produce;          /* one batch per loop turn while running and not paused */
    uv_timer_t delay;
    int handles;                /* handles still to close once the slice ended */
    bool paused, canceled;
    int64_t left;
    otsync_read_emit_cb emit;
    otsync_read_end_cb end;
    void *arg;
};

static int
parse_digits(const char **s, int width, int *ret)
{
    int i, n = 0;

    for (i = 0; i < width; i++) {
        if ((*s)[i] < '0' || (*s)[i] > '9')
            return -1;
        n = n * 10 + ((*s)[i] - '0');
    }
    *s += width;
    *ret = n;
    return 0;
}

/*
 * Parses value by a Java-style pattern (DataX's dateFormat) of yyyy MM dd HH mm ss SSS and
 * literal non-letters, as local time. Returns 0 with milliseconds since the epoch, or with
 * why in msg -1 (the value does not fit the pattern) or -2 (the pattern itself is wrong).
 */
static int
parse_date(const char *value, const char *fmt, int64_t *ret_ms, char *msg, size_t msg_len)
{
    static const struct { const char *tok; int width; } toks[] = {
        {"yyyy", 4}, {"MM", 2}, {"dd", 2}, {"HH", 2}, {"mm", 2}, {"ss", 2}, {"SSS", 3},
    };
    int f[7] = {1970, 1, 1, 0, 0, 0, 0};
    const char *s = value, *p = fmt;
    struct tm tm;
    time_t t;
    size_t i;

    while (*p) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            for (i = 0; i < 7 && strncmp(p, toks[i].tok, strlen(toks[i].tok)) != 0; i++)
                ;
            if (i == 7) {
                snprintf(msg, msg_len, "unsupported pattern letters at '%s' in dateFormat \"%s\" "
                         "(supported: yyyy MM dd HH mm ss SSS)", p, fmt);
                return -2;
            }
            if (parse_digits(&s, toks[i].width, &f[i]) < 0) {
                snprintf(msg, msg_len, "\"%s\" does not match dateFormat \"%s\"", value, fmt);
                return -1;
            }
            p += strlen(toks[i].tok);
        } else if (*s++ != *p++) {
            snprintf(msg, msg_len, "\"%s\" does not match dateFormat \"%s\"", value, fmt);
            return -1;
        }
    }
    if (*s) {
        snprintf(msg, msg_len, "\"%s\" does not match dateFormat \"%s\"", value, fmt);
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    tm.tm_isdst = -1;
    t = mktime(&tm);
    /* mktime normalises 2018-02-30 into March: a changed field means no such date */
    if (t == (time_t)-1 || tm.tm_year != f[0] - 1900 || tm.tm_mon != f[1] - 1
        || tm.tm_mday != f[2] || tm.tm_min != f[4] || tm.tm_sec != f[5]) {
        snprintf(msg, msg_len, "\"%s\" is not a valid date", value);
        return -1;
    }
    *ret_ms = (int64_t)t * 1000 + f[6];
    return 0;
}

static const struct {
    const char *name;           /* DataX's column type */
    enum otsync_type type;
} column_types[] = {
    {"string", OTSYNC_TYPE_STRING}, {"long", OTSYNC_TYPE_INT}, {"double", OTSYNC_TYPE_DOUBLE},
    {"bool", OTSYNC_TYPE_BOOL}, {"date", OTSYNC_TYPE_DATE}, {"bytes", OTSYNC_TYPE_BINARY},
};

#define COLUMN_TYPES "string, long, double, bool, date, bytes"

/* A whole-string integer or number, as DataX accepts them in a column's value. */
static bool
text_int(const char *s, int64_t *ret)
{
    char *end;

    if (!s || !((*s >= '0' && *s <= '9') || *s == '-' || *s == '+'))
        return false;
    errno = 0;
    *ret = strtoll(s, &end, 10);
    return !errno && !*end && end != s;
}

static bool
text_double(const char *s, double *ret)
{
    char *end;

    if (!s || !*s || *s == ' ' || *s == '\t')
        return false;
    errno = 0;
    *ret = strtod(s, &end);
    return !errno && !*end;
}

/*
 * Fills col from {type, value, dateFormat}. On error returns -1 with msg saying what and
 * *ret_key naming the key at fault (NULL: the item itself).
 */
static int
parse_column(const json_t *item, struct stream_column *col, const char **ret_key, char *msg,
             size_t msg_len)
{
    const json_t *type, *value, *jfmt;
    const char *ts, *vs, *key, *fmt;
    enum otsync_type t = OTSYNC_TYPE_NULL;
    char *dump;
    size_t i;
    json_t *v;
    int rc;

    *ret_key = NULL;
    if (!json_is_object(item)) {
        snprintf(msg, msg_len, "expected an object {\"type\": ..., \"value\": ...}");
        return -1;
    }
    json_object_foreach((json_t *)item, key, v) {
        if (strcmp(key, "type") && strcmp(key, "value") && strcmp(key, "dateFormat")) {
            *ret_key = key;
            snprintf(msg, msg_len, "unknown key (known: type, value, dateFormat)");
            return -1;
        }
    }
    type = json_object_get(item, "type");
    value = json_object_get(item, "value");
    jfmt = json_object_get(item, "dateFormat");
    *ret_key = "type";
    if (!(ts = json_string_value(type))) {
        snprintf(msg, msg_len, "%s (types: " COLUMN_TYPES ")",
                 type ? "expected a string" : "required key missing");
        return -1;
    }
    for (i = 0; i < sizeof(column_types) / sizeof(column_types[0]); i++)
        if (strcasecmp(ts, column_types[i].name) == 0)
            t = column_types[i].type;
    if (t == OTSYNC_TYPE_NULL) {
        snprintf(msg, msg_len, "unknown type '%s' (types: " COLUMN_TYPES ")", ts);
        return -1;
    }
    *ret_key = "dateFormat";
    if (jfmt && (t != OTSYNC_TYPE_DATE || !json_is_string(jfmt))) {
        snprintf(msg, msg_len, "%s", json_is_string(jfmt) ? "only a date column has a dateFormat"
                                                          : "expected a string");
        return -1;
    }
    *ret_key = "value";
    if (!value) {
        snprintf(msg, msg_len, "required key missing (null gives a null column)");
        return -1;
    }
    col->v.type = OTSYNC_TYPE_NULL;
    if (json_is_null(value))
        return 0;
    vs = json_string_value(value);
    switch (t) {
    case OTSYNC_TYPE_STRING:
    case OTSYNC_TYPE_BINARY:
        if (!vs && (t == OTSYNC_TYPE_BINARY || json_is_object(value) || json_is_array(value))) {
            snprintf(msg, msg_len, "expected a string for a %s column", ts);
            return -1;
        }
        if (!vs) {
            /* DataX takes any scalar as the string of its JSON text */
            if (!(dump = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT))) {
                snprintf(msg, msg_len, "out of memory");
                return -1;
            }
            col->owned = dump;
            vs = dump;
        }
        col->v.u.bytes.ptr = vs;
        col->v.u.bytes.len = strlen(vs);
        break;
    case OTSYNC_TYPE_INT:
        if (json_is_integer(value))
            col->v.u.i = json_integer_value(value);
        else if (!text_int(vs, &col->v.u.i)) {
            snprintf(msg, msg_len, "expected an integer for a long column");
            return -1;
        }
        break;
    case OTSYNC_TYPE_DOUBLE:
        if (json_is_number(value))
            col->v.u.d = json_number_value(value);
        else if (!text_double(vs, &col->v.u.d)) {
            snprintf(msg, msg_len, "expected a number for a double column");
            return -1;
        }
        break;
    case OTSYNC_TYPE_BOOL:
        if (json_is_boolean(value))
            col->v.u.b = json_is_true(value);
        else if (vs && (strcasecmp(vs, "true") == 0 || strcasecmp(vs, "false") == 0))
            col->v.u.b = strcasecmp(vs, "true") == 0;
        else {
            snprintf(msg, msg_len, "expected true or false for a bool column");
            return -1;
        }
        break;
    case OTSYNC_TYPE_DATE:
        fmt = jfmt ? json_string_value(jfmt) : DEFAULT_DATE_FORMAT;
        if (!vs) {
            snprintf(msg, msg_len, "expected a string in dateFormat \"%s\"", fmt);
            return -1;
        }
        if ((rc = parse_date(vs, fmt, &col->v.u.date_ms, msg, msg_len)) < 0) {
            if (rc == -2)
                *ret_key = "dateFormat";
            return -1;
        }
        break;
    case OTSYNC_TYPE_NULL:
        break;
    }
    col->v.type = t;
    return 0;
}

static void
reader_free(struct stream_reader *s)
{
    size_t i;

    for (i = 0; i < s->col_count; i++)
        free(s->cols[i].owned);
    free(s->cols);
    free(s);
}

static void on_produce(uv_idle_t *h);
static void on_delay(uv_timer_t *t);

static int
stream_reader_open(struct otsync_reader *r, const void *conf_arg, struct otsync_err *err)
{
    const struct stream_reader_conf *conf = conf_arg;
    struct stream_reader *s;
    const char *key, *env;
    const json_t *item;
    char msg[512];
    size_t i, rec_bytes = sizeof(struct otsync_record);
    int64_t attempt = 1;

    if (conf->slice_record_count < 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.sliceRecordCount: must be 0 or more, "
                              "got %" PRId64, r->path, conf->slice_record_count);
    if (conf->fail_on_attempts < 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.failOnAttempts: must be 0 or more, "
                              "got %" PRId64, r->path, conf->fail_on_attempts);
    if (conf->delay_ms < 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.delayMs: must be 0 or more, got %" PRId64,
                              r->path, conf->delay_ms);
    if (json_array_size(conf->column) == 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.column: give at least one column",
                              r->path);
    /* the daemon numbers attempts from 1; by hand there is no variable and this is the first */
    if (conf->fail_on_attempts > 0 && (env = getenv("OTSYNC_ATTEMPT"))) {
        char *end;
        errno = 0;
        attempt = strtoll(env, &end, 10);
        if (errno || !*env || *end || attempt < 1)
            return otsync_err_set(err, OTSYNC_ECONFIG, "OTSYNC_ATTEMPT: expected a positive "
                                  "integer, got \"%s\"", env);
    }
    if (!(s = calloc(1, sizeof(*s))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    if (!(s->cols = calloc(json_array_size(conf->column), sizeof(*s->cols)))) {
        free(s);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    for (i = 0; i < json_array_size(conf->column); i++) {
        s->col_count = i + 1;
        item = json_array_get(conf->column, i);
        if (parse_column(item, &s->cols[i], &key, msg, sizeof(msg)) < 0) {
            otsync_err_set(err, OTSYNC_ECONFIG, "%s.column[%zu]%s%s: %s", r->path, i,
                           key ? "." : "", key ? key : "", msg);
            reader_free(s);
            return -OTSYNC_ECONFIG;
        }
        rec_bytes += otsync_value_size(&s->cols[i].v) + sizeof(struct otsync_value);
    }
    s->batch_records = BATCH_BYTES / rec_bytes;
    if (s->batch_records > BATCH_RECORDS)
        s->batch_records = BATCH_RECORDS;
    if (s->batch_records == 0)
        s->batch_records = 1;
    s->slice_records = conf->slice_record_count;
    s->fail = conf->fail;
    s->fail_on_attempts = conf->fail_on_attempts;
    s->attempt = attempt;
    s->fail_if_exists = conf->fail_if_exists[0] ? conf->fail_if_exists : NULL;
    s->delay_ms = (uint64_t)conf->delay_ms;
    r->data = s;
    return 0;
}

/* A split answer on its way to the loop's next turn: the ABI never calls back inline. */
struct split_later {
    uv_timer_t timer;
    otsync_split_cb done;
    void *arg;
    unsigned count;
};

static void
on_split_closed(uv_handle_t *h)
{
    free(h->data);
}

static void
on_split_later(uv_timer_t *t)
{
    struct split_later *l = t->data;

    l->done(l->arg, 0, l->count, NULL);
    uv_close((uv_handle_t *)&l->timer, on_split_closed);
}

static int
stream_reader_split(struct otsync_reader *r, unsigned advice, otsync_split_cb done, void *arg,
                    struct otsync_err *err)
{
    struct split_later *l = calloc(1, sizeof(*l));

    if (!l)
        return otsync_err_set(err, OTSYNC_ENOMEM, "stream reader: out of memory");
    /* DataX's streamreader: every channel reads the whole sliceRecordCount */
    l->done = done;
    l->arg = arg;
    l->count = advice;
    uv_timer_init(r->loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_split_later, 0, 0);
    return 0;
}

static int
stream_reader_start(struct otsync_reader *r, unsigned slice, otsync_read_emit_cb emit,
                    otsync_read_end_cb end, void *arg, void **ret_task, struct otsync_err *err)
{
    struct stream_task *t;

    if (!(t = calloc(1, sizeof(*t))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "stream reader: out of memory");
    t->s = r->data;
    t->left = t->s->slice_records;
    t->emit = emit;
    t->end = end;
    t->arg = arg;
    uv_idle_init(r->loop, &t->produce);
    uv_timer_init(r->loop, &t->delay);
    t->produce.data = t->delay.data = t;
    t->handles = 2;
    uv_idle_start(&t->produce, on_produce);
    *ret_task = t;
    return 0;
}

static void
on_task_closed(uv_handle_t *h)
{
    struct stream_task *t = h->data;

    if (--t->handles == 0)
        free(t);
}

/* The slice is over: the failure switches apply now, after its records were produced. */
static void
slice_end(struct stream_task *t)
{
    struct stream_reader *s = t->s;
    struct otsync_err err;
    int rc = 0;

    otsync_err_clear(&err);
    uv_idle_stop(&t->produce);
    if (t->canceled)
        rc = otsync_err_set(&err, OTSYNC_ECANCELED, "stream reader: canceled");
    else if (s->fail)
        rc = otsync_err_set(&err, OTSYNC_ERETRY, "stream reader: failing after %" PRId64
                            " records, as the job asks (fail: true)", s->slice_records);
    else if (s->attempt <= s->fail_on_attempts)
        rc = otsync_err_set(&err, OTSYNC_ERETRY, "stream reader: failing attempt %" PRId64
                            ", as the job asks (failOnAttempts: %" PRId64 ")", s->attempt,
                            s->fail_on_attempts);
    else if (s->fail_if_exists && access(s->fail_if_exists, F_OK) == 0)
        rc = otsync_err_set(&err, OTSYNC_ERETRY, "stream reader: failing because '%s' exists, "
                            "as the job asks (failIfExists)", s->fail_if_exists);
    /* the task is the engine's no more after end(): close it first, end() may close s */
    uv_close((uv_handle_t *)&t->produce, on_task_closed);
    uv_close((uv_handle_t *)&t->delay, on_task_closed);
    t->end(t->arg, rc, rc < 0 ? &err : NULL);
}

static void
on_delay(uv_timer_t *h)
{
    slice_end(h->data);
}

static void
on_produce(uv_idle_t *h)
{
    struct stream_task *t = h->data;
    struct stream_reader *s = t->s;
    struct otsync_batch *b;
    struct otsync_record *rec;
    struct otsync_err err;
    size_t n, i, k;

    if (t->canceled || t->left == 0) {
        uv_idle_stop(&t->produce);
        if (!t->canceled && s->delay_ms)
            uv_timer_start(&t->delay, on_delay, s->delay_ms, 0);
        else
            slice_end(t);
        return;
    }
    n = t->left < (int64_t)s->batch_records ? (size_t)t->left : s->batch_records;
    otsync_err_clear(&err);
    if (!(b = otsync_batch_new(n))) {
        otsync_err_set(&err, OTSYNC_ENOMEM, "stream reader: out of memory");
        goto fail;
    }
    for (i = 0; i < n; i++) {
        if (otsync_batch_add(b, s->col_count, &rec, &err) < 0)
            goto fail;
        for (k = 0; k < s->col_count; k++)
            if (otsync_value_copy(b, &rec->cols[k], &s->cols[k].v, &err) < 0)
                goto fail;
    }
    t->left -= (int64_t)n;
    t->emit(t->arg, b);     /* may pause us; the idle handle is then stopped */
    return;
fail:
    otsync_batch_free(b);
    uv_idle_stop(&t->produce);
    uv_close((uv_handle_t *)&t->produce, on_task_closed);
    uv_close((uv_handle_t *)&t->delay, on_task_closed);
    t->end(t->arg, -err.code, &err);
}

static void
stream_reader_pause(struct otsync_reader *r, void *task)
{
    struct stream_task *t = task;

    t->paused = true;
    if (!t->canceled)
        uv_idle_stop(&t->produce);
}

static void
stream_reader_resume(struct otsync_reader *r, void *task)
{
    struct stream_task *t = task;

    t->paused = false;
    if (!uv_is_active((uv_handle_t *)&t->delay))
        uv_idle_start(&t->produce, on_produce);
}

static void
stream_reader_cancel(struct otsync_reader *r, void *task)
{
    struct stream_task *t = task;

    t->canceled = true;
    /* end() must come from the loop, not from inside this call */
    uv_timer_stop(&t->delay);
    uv_idle_start(&t->produce, on_produce);
}

static void
stream_reader_close(struct otsync_reader *r)
{
    /* every task closed its own handles when it ended; nothing here is on the loop */
    if (r->data)
        reader_free(r->data);
    r->data = NULL;
}

const struct otsync_reader_ops otsync_reader_stream = {
    .name = "stream", .abi = OTSYNC_PLUGIN_ABI, .conf_size = sizeof(struct stream_reader_conf),
    .options = stream_reader_options,
    .open = stream_reader_open, .split = stream_reader_split, .start = stream_reader_start,
    .pause = stream_reader_pause, .resume = stream_reader_resume,
    .cancel = stream_reader_cancel, .close = stream_reader_close,
};

/* ---------------------------------------------------------------- writer */

struct stream_writer_conf {
    bool print;
    const char *field_delimiter;
    const char *encoding;
    int64_t dirty_every;
};

static const struct otsync_option stream_writer_options[] = {
    {"print", OTSYNC_OPT_BOOL, offsetof(struct stream_writer_conf, print), "true",
     "print each record as a line on standard output; false: count them only"},
    {"fieldDelimiter", OTSYNC_OPT_STRING, offsetof(struct stream_writer_conf, field_delimiter),
     "\t", "what separates the columns of a printed record"},
    {"encoding", OTSYNC_OPT_STRING, offsetof(struct stream_writer_conf, encoding), "UTF-8",
     "the output's encoding; only UTF-8"},
    {"dirtyEvery", OTSYNC_OPT_INT, offsetof(struct stream_writer_conf, dirty_every), "0",
     "otsync: reject every Nth record as dirty (to test errorLimit and the dirty file)"},
    {NULL, 0, 0, NULL, NULL},
};

/* A write or finish whose done() is still to fire. */
struct stream_pending {
    otsync_write_done_cb done;  /* NULL: the slot is free */
    void *arg;
    int rc;
    size_t dirty_count;
    struct otsync_err err;
};

struct stream_writer {
    bool print;
    const char *delim;          /* borrowed from the job, alive for the run */
    size_t delim_len;
    uv_idle_t idle;             /* fires the pending dones on the next loop turn */
    struct stream_pending *slots;   /* one per channel, then one for finish */
    unsigned slot_count;
    uint64_t dirty_every;
    uint64_t seen;              /* records written so far, for dirtyEvery */
};

static int
stream_writer_open(struct otsync_writer *w, const void *conf_arg, struct otsync_err *err)
{
    const struct stream_writer_conf *conf = conf_arg;
    struct stream_writer *s;

    if (strcasecmp(conf->encoding, "UTF-8") != 0 && strcasecmp(conf->encoding, "UTF8") != 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.encoding: only UTF-8 is supported, "
                              "got \"%s\"", w->path, conf->encoding);
    if (!(s = calloc(1, sizeof(*s))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    s->slot_count = (w->channels ? w->channels : 1) + 1;
    if (!(s->slots = calloc(s->slot_count, sizeof(*s->slots)))) {
        free(s);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    if (conf->dirty_every < 0) {
        free(s->slots);
        free(s);
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.dirtyEvery: must be 0 or more, got %"
                              PRId64, w->path, conf->dirty_every);
    }
    s->dirty_every = (uint64_t)conf->dirty_every;
    s->print = conf->print;
    s->delim = conf->field_delimiter;
    s->delim_len = strlen(s->delim);
    uv_idle_init(w->loop, &s->idle);
    s->idle.data = w;
    w->data = s;
    return 0;
}

static void
on_done_turn(uv_idle_t *h)
{
    struct otsync_writer *w = h->data;
    struct stream_writer *s = w->data;
    struct stream_pending p;
    unsigned i;

    uv_idle_stop(&s->idle);
    for (i = 0; i < s->slot_count; i++) {
        if (!s->slots[i].done)
            continue;
        p = s->slots[i];
        s->slots[i].done = NULL;    /* free before the call: done() may write again */
        p.done(p.arg, p.rc, p.dirty_count, p.rc < 0 ? &p.err : NULL);
    }
}

/* done() fires on the next loop turn, never from inside write() or finish(). */
static int
later(struct stream_writer *s, unsigned slot, int rc, const struct otsync_err *rerr,
      size_t dirty_count, otsync_write_done_cb done, void *arg, struct otsync_err *err)
{
    struct stream_pending *p;

    if (slot >= s->slot_count)
        return otsync_err_set(err, OTSYNC_EINVAL, "stream writer: no channel %u", slot);
    p = &s->slots[slot];
    if (p->done)
        return otsync_err_set(err, OTSYNC_EINVAL, "stream writer: channel %u is already "
                              "writing", slot);
    p->done = done;
    p->arg = arg;
    p->rc = rc;
    p->dirty_count = dirty_count;
    if (rerr)
        p->err = *rerr;
    else
        otsync_err_clear(&p->err);
    uv_idle_start(&s->idle, on_done_turn);
    return 0;
}

static int
stream_writer_write(struct otsync_writer *w, unsigned channel, struct otsync_batch *b,
                    otsync_write_done_cb done, void *arg, struct otsync_err *err)
{
    struct stream_writer *s = w->data;
    char buf[OTSYNC_VALUE_TEXT_MAX];
    char why[128];
    struct otsync_err werr;
    const char *text;
    size_t i, k, len, dirty = 0;
    int rc;

    if (channel + 1 >= s->slot_count)
        return otsync_err_set(err, OTSYNC_EINVAL, "stream writer: no channel %u", channel);
    for (i = 0; i < b->count; i++) {
        if (s->dirty_every && ++s->seen % s->dirty_every == 0) {
            snprintf(why, sizeof(why), "stream writer: record %" PRIu64 " rejected, as the job "
                     "asks (dirtyEvery: %" PRIu64 ")", s->seen, s->dirty_every);
            w->dirty(w->dirty_arg, &b->recs[i], why);
            dirty++;
            continue;
        }
        if (!s->print)
            continue;
        for (k = 0; k < b->recs[i].count; k++) {
            text = otsync_value_text(&b->recs[i].cols[k], buf, &len);
            if ((k && fwrite(s->delim, 1, s->delim_len, stdout) != s->delim_len)
                || fwrite(text, 1, len, stdout) != len)
                goto fail;
        }
        if (putchar('\n') == EOF)
            goto fail;
    }
    return later(s, channel, 0, NULL, dirty, done, arg, err);
fail:
    rc = otsync_err_errno(&werr, errno, "stream writer: writing to standard output");
    return later(s, channel, rc, &werr, 0, done, arg, err);
}

static int
stream_writer_finish(struct otsync_writer *w, otsync_write_done_cb done, void *arg,
                     struct otsync_err *err)
{
    struct stream_writer *s = w->data;
    struct otsync_err ferr;
    int rc = 0;

    otsync_err_clear(&ferr);
    if (fflush(stdout) != 0)
        rc = otsync_err_errno(&ferr, errno, "stream writer: writing to standard output");
    return later(s, s->slot_count - 1, rc, rc < 0 ? &ferr : NULL, 0, done, arg, err);
}

static void
stream_writer_cancel(struct otsync_writer *w)
{
    /* write() did its work before returning; the pending dones are all there is, and fire */
}

static void
on_writer_closed(uv_handle_t *h)
{
    struct otsync_writer *w = h->data;
    struct stream_writer *s = w->data;

    free(s->slots);
    free(s);
    w->data = NULL;
}

static void
stream_writer_close(struct otsync_writer *w)
{
    struct stream_writer *s = w->data;

    if (s)
        uv_close((uv_handle_t *)&s->idle, on_writer_closed);
}

const struct otsync_writer_ops otsync_writer_stream = {
    .name = "stream", .abi = OTSYNC_PLUGIN_ABI, .conf_size = sizeof(struct stream_writer_conf),
    .options = stream_writer_options,
    .open = stream_writer_open, .write = stream_writer_write, .finish = stream_writer_finish,
    .cancel = stream_writer_cancel, .close = stream_writer_close,
};
