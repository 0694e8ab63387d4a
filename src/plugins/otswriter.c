/*
 * otswriter.c - the `ots` writer: records into a Table Store table with BatchWriteRow.
 *
 * Owns: the writer's parameters (DataX's otswriter: primaryKey, column, writeMode PutRow or
 * UpdateRow, defaultTimestampInMillisecond), cutting a batch of records into requests of at
 * most batchWriteCount rows and 4 MB, several of them in flight, and what to do with each
 * row's result: a row refused with a retryable code is sent again (with a growing wait), any
 * other refusal makes it a dirty record naming the code and the primary key. Leaves to
 * others: the connection and values (ots-common.c), the client, the engine's errorLimit.
 *
 * The table's key (names, which column is auto-increment) comes from DescribeTable before the
 * first write, so a job's primaryKey is checked against the table before any row is sent.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <uv.h>
#include "otsync/log.h"
#include "tablestore.pb-c.h"
#include "../run/plugin.h"
#include "ots-common.h"

#define MAX_BATCH_ROWS 200
#define MAX_REQUEST_BYTES (4u * 1024u * 1024u)
#define MAX_IN_FLIGHT 4             /* BatchWriteRow requests per channel at once */
#define MAX_COLUMNS 1024
#define ROW_RETRIES 10

struct writer_conf {
    struct otsp_conn_conf conn;
    const char *table;
    const json_t *primary_key;
    const json_t *column;
    const char *write_mode;
    int64_t default_ts;
    int64_t default_ts_misspelt;
    int64_t batch_write_count;
};

static const struct otsync_option writer_options[] = {
    OTSP_CONN_OPTIONS(struct writer_conf),
    {"table", OTSYNC_OPT_STRING, offsetof(struct writer_conf, table), NULL, "the table to write"},
    {"primaryKey", OTSYNC_OPT_ARRAY, offsetof(struct writer_conf, primary_key), NULL,
     "the key columns, in the table's order, taken from the first values of each record: "
     "{\"name\": N, \"type\": STRING|INT|BINARY} (an auto-increment column is left out)"},
    {"column", OTSYNC_OPT_ARRAY, offsetof(struct writer_conf, column), NULL,
     "the attribute columns, from the values after the key: {\"name\": N, \"type\": "
     "STRING|INT|DOUBLE|BOOL|BINARY}"},
    {"writeMode", OTSYNC_OPT_STRING, offsetof(struct writer_conf, write_mode), "PutRow",
     "PutRow replaces each row; UpdateRow changes the listed columns, a null deleting one"},
    {"defaultTimestampInMillisecond", OTSYNC_OPT_INT, offsetof(struct writer_conf, default_ts),
     "-1", "the version of every cell written; -1: the service's time (or the record's own)"},
    {"defaultTimestampInMillionSecond", OTSYNC_OPT_INT,
     offsetof(struct writer_conf, default_ts_misspelt), "-1",
     "the vendor's misspelt name of defaultTimestampInMillisecond, accepted with a warning"},
    {"batchWriteCount", OTSYNC_OPT_INT, offsetof(struct writer_conf, batch_write_count), "100",
     "rows per BatchWriteRow, 1 to 200"},
    {NULL, 0, 0, NULL, NULL},
};

struct wcol {
    char *name;
    enum pb_type type;
};

struct ots_writer {
    struct otsync_writer *w;
    struct otsp_conn conn;
    struct wcol *pk, *cols;
    size_t pk_count, col_count;
    bool update;
    int64_t default_ts;
    size_t batch_rows;
    bool described;
    /* table order: for each table key column, the index in pk[] or -1 (auto-increment) */
    int key_map[OTSP_MAX_PK];
    struct wop *ops;            /* writes and finish in progress */
};

/* One row of a write: where it is in the batch, its encoded change, its attempts. */
struct wrow {
    size_t index;               /* in the batch */
    unsigned char *change;
    size_t len;
    int attempts;
    bool done;
};

/* One write(): a batch cut into requests; done() when every row is written or dirty. */
struct wop {
    struct ots_writer *o;
    struct otsync_batch *b;
    otsync_write_done_cb done;
    void *arg;
    struct wrow *rows;
    size_t row_count, next;     /* rows to send from next on (a retry re-queues rows) */
    size_t *queue;              /* indexes of rows to send, in order */
    size_t queue_len, queue_head;
    int in_flight;
    size_t dirty;
    uv_timer_t timer;           /* the wait before rows are sent again; describe's deferral */
    int rc;
    struct otsync_err err;
    bool canceled, ended, waiting_schema;
    struct wop *next_op;
};

static void
writer_free(struct ots_writer *o)
{
    size_t i;

    for (i = 0; i < o->pk_count; i++)
        free(o->pk[i].name);
    for (i = 0; i < o->col_count; i++)
        free(o->cols[i].name);
    free(o->pk);
    free(o->cols);
    free(o);
}

static int
parse_cols(const json_t *list, const char *path, bool key, struct wcol **ret, size_t *ret_count,
           struct otsync_err *err)
{
    const json_t *item;
    struct wcol *cols;
    const char *name, *type;
    size_t i;

    if (!json_array_size(list) && key)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: give the key columns", path);
    if (json_array_size(list) > (key ? OTSP_MAX_PK : MAX_COLUMNS))
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: at most %d columns", path,
                              key ? OTSP_MAX_PK : MAX_COLUMNS);
    if (!(cols = calloc(json_array_size(list) + 1, sizeof(*cols))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    *ret = cols;
    json_array_foreach(list, i, item) {
        name = json_is_string(item) ? json_string_value(item)
               : json_string_value(json_object_get(item, "name"));
        type = json_string_value(json_object_get(item, "type"));
        *ret_count = i + 1;
        if (!name || !*name)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s[%zu].name: required", path, i);
        if (!(cols[i].name = strdup(name)))
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        if (!type)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s[%zu].type: required (STRING, INT, "
                                  "BINARY%s)", path, i, key ? "" : ", DOUBLE, BOOL");
        if (!strcasecmp(type, "STRING"))
            cols[i].type = PB_STRING;
        else if (!strcasecmp(type, "INT") || !strcasecmp(type, "INTEGER"))
            cols[i].type = PB_INTEGER;
        else if (!strcasecmp(type, "BINARY"))
            cols[i].type = PB_BINARY;
        else if (!key && !strcasecmp(type, "DOUBLE"))
            cols[i].type = PB_DOUBLE;
        else if (!key && (!strcasecmp(type, "BOOL") || !strcasecmp(type, "BOOLEAN")))
            cols[i].type = PB_BOOLEAN;
        else
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s[%zu].type: expected STRING, INT, "
                                  "BINARY%s, got \"%s\"", path, i, key ? "" : ", DOUBLE, BOOL",
                                  type);
    }
    return 0;
}

static int
ots_writer_open(struct otsync_writer *w, const void *conf_arg, struct otsync_err *err)
{
    const struct writer_conf *conf = conf_arg;
    struct ots_writer *o;
    char path[512];
    int rc;

    if (!(o = calloc(1, sizeof(*o))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    o->w = w;
    snprintf(path, sizeof(path), "%s.primaryKey", w->path);
    if ((rc = parse_cols(conf->primary_key, path, true, &o->pk, &o->pk_count, err)) < 0)
        goto fail;
    snprintf(path, sizeof(path), "%s.column", w->path);
    if ((rc = parse_cols(conf->column, path, false, &o->cols, &o->col_count, err)) < 0)
        goto fail;
    if (!strcasecmp(conf->write_mode, "UpdateRow"))
        o->update = true;
    else if (strcasecmp(conf->write_mode, "PutRow") != 0) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.writeMode: expected PutRow or UpdateRow, "
                            "got \"%s\"", w->path, conf->write_mode);
        goto fail;
    }
    o->default_ts = conf->default_ts;
    if (conf->default_ts_misspelt >= 0) {
        log_warn("%s.defaultTimestampInMillionSecond: read as defaultTimestampInMillisecond "
                 "(the vendor's misspelling)", w->path);
        if (o->default_ts < 0)
            o->default_ts = conf->default_ts_misspelt;
    }
    if (conf->batch_write_count < 1 || conf->batch_write_count > MAX_BATCH_ROWS) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.batchWriteCount: must be 1 to %d, got %lld",
                            w->path, MAX_BATCH_ROWS, (long long)conf->batch_write_count);
        goto fail;
    }
    o->batch_rows = (size_t)conf->batch_write_count;
    if ((rc = otsp_open(&o->conn, w->loop, w->datasources, w->path, &conf->conn, conf->table,
                        w->channels, err)) < 0)
        goto fail;
    w->data = o;
    return 0;
fail:
    writer_free(o);
    return rc;
}

/* --- one write --- */

static void pump(struct wop *op);

static void
on_op_closed(uv_handle_t *h)
{
    struct wop *op = h->data;
    size_t i;

    for (i = 0; i < op->row_count; i++)
        free(op->rows[i].change);
    free(op->rows);
    free(op->queue);
    free(op);
}

static void
op_end(struct wop *op)
{
    struct ots_writer *o = op->o;
    struct wop **pp;

    if (op->ended)
        return;
    op->ended = true;
    for (pp = &o->ops; *pp; pp = &(*pp)->next_op)
        if (*pp == op) {
            *pp = op->next_op;
            break;
        }
    uv_timer_stop(&op->timer);
    uv_close((uv_handle_t *)&op->timer, on_op_closed);
    op->done(op->arg, op->rc, op->rc < 0 ? 0 : op->dirty, op->rc < 0 ? &op->err : NULL);
}

static void
op_fail(struct wop *op, int rc, const struct otsync_err *err)
{
    if (op->rc == 0) {
        op->rc = rc;
        if (err)
            op->err = *err;
        else
            otsync_err_set(&op->err, -rc, "%s", otsync_strerror(rc));
    }
}

/* The primary key of record i for a dirty reason: "[1, \"a\"]". */
static void
key_text(const struct ots_writer *o, const struct otsync_record *rec, char *out, size_t len)
{
    char buf[OTSYNC_VALUE_TEXT_MAX];
    const char *t;
    size_t i, n = 0, l;

    n += (size_t)snprintf(out + n, len - n, "[");
    for (i = 0; i < o->pk_count && i < rec->count && n < len; i++) {
        t = otsync_value_text(&rec->cols[i], buf, &l);
        n += (size_t)snprintf(out + n, len - n, "%s%.*s", i ? ", " : "", (int)(l > 64 ? 64 : l),
                              t);
    }
    if (n < len)
        snprintf(out + n, len - n, "]");
}

static void
row_dirty(struct wop *op, size_t r, const char *why)
{
    struct ots_writer *o = op->o;
    const struct otsync_record *rec = &op->b->recs[op->rows[r].index];
    char reason[700], key[300];

    key_text(o, rec, key, sizeof(key));
    snprintf(reason, sizeof(reason), "%s (primary key %s)", why, key);
    o->w->dirty(o->w->dirty_arg, rec, reason);
    op->rows[r].done = true;
    op->dirty++;
}

/* Encodes record i of the batch as a row change; 0, or -1 with why (a dirty reason). */
static int
encode_row(struct ots_writer *o, struct otsync_batch *b, struct otsync_record *rec,
           struct wrow *out, char why[static OTSYNC_CONVERT_WHY_MAX])
{
    struct pb_cell cells[OTSP_MAX_PK + MAX_COLUMNS];
    struct pb_row row;
    struct pb_buf buf;
    char cwhy[OTSYNC_CONVERT_WHY_MAX];
    size_t i, n = 0, attrs = 0;
    unsigned k;

    if (rec->count < o->pk_count + o->col_count) {
        snprintf(why, OTSYNC_CONVERT_WHY_MAX, "the record has %zu values; primaryKey and column "
                 "need %zu", rec->count, o->pk_count + o->col_count);
        return -1;
    }
    memset(&row, 0, sizeof(row));
    for (k = 0; k < o->conn.schema.count; k++) {
        struct pb_cell *c = &cells[n++];
        int m = o->key_map[k];

        memset(c, 0, sizeof(*c));
        c->name = o->conn.schema.names[k];
        c->name_len = strlen(c->name);
        c->has_value = true;
        if (m < 0) {
            c->value.type = PB_AUTO_INCREMENT;
            continue;
        }
        if (otsp_value_from_record(b, &rec->cols[m], o->pk[m].type, &c->value, cwhy) < 0) {
            snprintf(why, OTSYNC_CONVERT_WHY_MAX, "primary key %.30s: %.100s", o->pk[m].name, cwhy);
            return -1;
        }
    }
    for (i = 0; i < o->col_count; i++) {
        struct otsync_value *v = &rec->cols[o->pk_count + i];
        struct pb_cell *c = &cells[n];

        memset(c, 0, sizeof(*c));
        c->name = o->cols[i].name;
        c->name_len = strlen(c->name);
        if (v->type == OTSYNC_TYPE_NULL) {
            if (o->update) {
                c->op = PB_OP_DELETE_ALL;   /* UpdateRow: a null deletes the column */
                n++;
                attrs++;
            }
            continue;   /* PutRow: the column is simply absent */
        }
        if (otsp_value_from_record(b, v, o->cols[i].type, &c->value, cwhy) < 0) {
            snprintf(why, OTSYNC_CONVERT_WHY_MAX, "column %.30s: %.100s", o->cols[i].name, cwhy);
            return -1;
        }
        c->has_value = true;
        if (o->default_ts >= 0 || v->has_ts) {
            c->has_ts = true;
            c->ts = o->default_ts >= 0 ? o->default_ts : v->ts;
        }
        n++;
        attrs++;
    }
    row.pk = cells;
    row.pk_count = o->conn.schema.count;
    row.attrs = cells + row.pk_count;
    row.attr_count = attrs;
    plainbuffer_buf_init(&buf, MAX_REQUEST_BYTES);
    if (plainbuffer_encode_rows(&buf, &row, 1, NULL) < 0) {
        plainbuffer_buf_fini(&buf);
        snprintf(why, OTSYNC_CONVERT_WHY_MAX, "the row is larger than 4 MB");
        return -1;
    }
    out->change = buf.data;
    out->len = buf.len;
    return 0;
}

struct req_ctx {
    struct wop *op;
    size_t *rows;               /* row indexes in this request, in order */
    size_t count;
};

static void
on_timer(uv_timer_t *t)
{
    pump(t->data);
}

static void
on_written(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
           const struct otsync_err *err)
{
    struct req_ctx *rq = arg;
    struct wop *op = rq->op;
    Otsync__Ots__BatchWriteRowResponse *r = NULL;
    struct otsync_err lerr;
    bool retry_later = false;
    size_t i;

    (void)e;
    op->in_flight--;
    otsync_err_clear(&lerr);
    if (rc < 0) {
        op_fail(op, rc, err);
    } else if (!(r = otsync__ots__batch_write_row_response__unpack(NULL, len, body))
               || r->n_tables != 1 || r->tables[0]->n_rows != rq->count) {
        otsync_err_set(&lerr, OTSYNC_EPROTO, "Table Store BatchWriteRow %s: an answer that "
                       "does not match the request", op->o->conn.table);
        op_fail(op, -OTSYNC_EPROTO, &lerr);
    } else {
        for (i = 0; i < rq->count; i++) {
            Otsync__Ots__RowInBatchWriteRowResponse *row = r->tables[0]->rows[i];
            size_t ri = rq->rows[i];
            const char *code = row->error && row->error->code ? row->error->code : "";
            const char *msg = row->error && row->error->message ? row->error->message : "";
            char why[400];

            if (row->is_ok) {
                op->rows[ri].done = true;
                continue;
            }
            if (ots_code_retryable(code, msg) && op->rows[ri].attempts < ROW_RETRIES) {
                op->queue[op->queue_len++] = ri;    /* sent again after a wait */
                retry_later = true;
                continue;
            }
            snprintf(why, sizeof(why), "%s: %s%s", code[0] ? code : "refused", msg,
                     op->rows[ri].attempts >= ROW_RETRIES ? " (after retries)" : "");
            row_dirty(op, ri, why);
        }
    }
    if (r)
        otsync__ots__batch_write_row_response__free_unpacked(r, NULL);
    free(rq->rows);
    free(rq);
    if (retry_later && op->rc == 0 && !op->canceled) {
        /* rows the service was too busy for: wait, longer each time, then send them again */
        int a = op->rows[op->queue[op->queue_len - 1]].attempts;
        uint64_t wait_ms = 20u << (a < 8 ? a : 8);

        if (!uv_is_active((uv_handle_t *)&op->timer))
            uv_timer_start(&op->timer, on_timer, wait_ms, 0);
        if (op->in_flight == 0)
            return;
    }
    pump(op);
}

/* Sends what may be sent; ends the op when everything is settled. */
static void
pump(struct wop *op)
{
    struct ots_writer *o = op->o;
    struct otsync_err err;
    int rc;

    if (op->ended)
        return;
    if (op->rc < 0 || op->canceled) {
        if (op->canceled && op->rc == 0) {
            otsync_err_set(&err, OTSYNC_ECANCELED, "ots writer: canceled");
            op_fail(op, -OTSYNC_ECANCELED, &err);
        }
        if (op->in_flight == 0)
            op_end(op);
        return;
    }
    while (op->queue_head < op->queue_len && op->in_flight < MAX_IN_FLIGHT
           && !uv_is_active((uv_handle_t *)&op->timer)) {
        Otsync__Ots__BatchWriteRowRequest req = OTSYNC__OTS__BATCH_WRITE_ROW_REQUEST__INIT;
        Otsync__Ots__TableInBatchWriteRowRequest tr =
            OTSYNC__OTS__TABLE_IN_BATCH_WRITE_ROW_REQUEST__INIT;
        Otsync__Ots__TableInBatchWriteRowRequest *trp = &tr;
        Otsync__Ots__RowInBatchWriteRowRequest rr[MAX_BATCH_ROWS], *rrp[MAX_BATCH_ROWS];
        Otsync__Ots__Condition cond = OTSYNC__OTS__CONDITION__INIT;
        struct req_ctx *rq = calloc(1, sizeof(*rq));
        size_t n = 0, bytes = 0;

        if (!rq || !(rq->rows = calloc(o->batch_rows, sizeof(*rq->rows)))) {
            free(rq);
            otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory");
            op_fail(op, -OTSYNC_ENOMEM, &err);
            break;
        }
        cond.row_existence = OTSYNC__OTS__ROW_EXISTENCE_EXPECTATION__IGNORE;
        while (op->queue_head < op->queue_len && n < o->batch_rows) {
            size_t ri = op->queue[op->queue_head];

            if (n && bytes + op->rows[ri].len > MAX_REQUEST_BYTES)
                break;
            otsync__ots__row_in_batch_write_row_request__init(&rr[n]);
            rr[n].type = o->update ? OTSYNC__OTS__OPERATION_TYPE__UPDATE
                                   : OTSYNC__OTS__OPERATION_TYPE__PUT;
            rr[n].row_change.data = op->rows[ri].change;
            rr[n].row_change.len = op->rows[ri].len;
            rr[n].condition = &cond;
            rrp[n] = &rr[n];
            op->rows[ri].attempts++;
            rq->rows[n++] = ri;
            bytes += op->rows[ri].len;
            op->queue_head++;
        }
        rq->op = op;
        rq->count = n;
        tr.table_name = o->conn.table;
        tr.rows = rrp;
        tr.n_rows = n;
        req.tables = &trp;
        req.n_tables = 1;
        otsync_err_clear(&err);
        /* a put or update of the same values is safe to send again: idempotent */
        if ((rc = ots_call(o->conn.client, "BatchWriteRow", &req.base, true, on_written, rq,
                           &err)) < 0) {
            free(rq->rows);
            free(rq);
            op_fail(op, rc, &err);
            break;
        }
        op->in_flight++;
    }
    /* the queue is compacted once drained, so retries can be appended again */
    if (op->queue_head == op->queue_len)
        op->queue_head = op->queue_len = 0;
    if (op->in_flight == 0 && op->queue_len == 0 && !uv_is_active((uv_handle_t *)&op->timer))
        op_end(op);
    else if (op->rc < 0 && op->in_flight == 0)
        op_end(op);
}

/* Encodes every record (dirty ones are reported now) and starts sending. */
static void
op_start(struct wop *op)
{
    struct ots_writer *o = op->o;
    char why[OTSYNC_CONVERT_WHY_MAX];
    size_t i;

    for (i = 0; i < op->b->count; i++) {
        struct wrow *row = &op->rows[op->row_count];

        row->index = i;
        op->row_count++;
        if (encode_row(o, op->b, &op->b->recs[i], row, why) < 0) {
            row_dirty(op, op->row_count - 1, why);
            continue;
        }
        op->queue[op->queue_len++] = op->row_count - 1;
    }
    pump(op);
}

static void
on_op_timer_start(uv_timer_t *t)
{
    struct wop *op = t->data;

    op_start(op);
}

/* The key of the table against primaryKey: names in order, an auto-increment column left
 * out of primaryKey. */
static int
map_key(struct ots_writer *o, struct otsync_err *err)
{
    const struct otsp_schema *s = &o->conn.schema;
    size_t m = 0;
    unsigned k;

    for (k = 0; k < s->count; k++) {
        if (m < o->pk_count && !strcmp(o->pk[m].name, s->names[k])) {
            o->key_map[k] = (int)m++;
            continue;
        }
        if (s->autoinc[k]) {
            o->key_map[k] = -1;
            continue;
        }
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.primaryKey: the table %s's key column "
                              "%u is %s%s", o->w->path, o->conn.table, k + 1, s->names[k],
                              m < o->pk_count ? ", not the one listed here" : ", not listed");
    }
    if (m != o->pk_count)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.primaryKey: %s is not a key column of %s",
                              o->w->path, o->pk[m].name, o->conn.table);
    return 0;
}

static void
on_described(void *arg, int rc, const struct otsync_err *err)
{
    struct ots_writer *o = arg;
    struct otsync_err lerr;
    struct wop *op, *next;

    otsync_err_clear(&lerr);
    if (rc == 0 && (rc = map_key(o, &lerr)) < 0)
        err = &lerr;
    o->described = rc == 0;
    for (op = o->ops; op; op = next) {
        next = op->next_op;
        if (!op->waiting_schema)
            continue;
        op->waiting_schema = false;
        if (rc < 0) {
            op_fail(op, rc, err);
            op_end(op);
        } else {
            op_start(op);
        }
    }
}

static int
ots_writer_write(struct otsync_writer *w, unsigned channel, struct otsync_batch *b,
                 otsync_write_done_cb done, void *arg, struct otsync_err *err)
{
    struct ots_writer *o = w->data;
    struct wop *op;
    bool first = true;
    int rc;

    (void)channel;
    if (!(op = calloc(1, sizeof(*op))) || !(op->rows = calloc(b->count + 1, sizeof(*op->rows)))
        || !(op->queue = calloc(b->count + 1, sizeof(*op->queue)))) {
        if (op) {
            free(op->rows);
            free(op);
        }
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    op->o = o;
    op->b = b;
    op->done = done;
    op->arg = arg;
    uv_timer_init(w->loop, &op->timer);
    op->timer.data = op;
    for (struct wop *x = o->ops; x; x = x->next_op)
        first &= !x->waiting_schema;
    op->next_op = o->ops;
    o->ops = op;
    if (o->described) {
        /* never call back from inside write(): the first step runs on the loop */
        uv_timer_start(&op->timer, on_op_timer_start, 0, 0);
        return 0;
    }
    op->waiting_schema = true;
    if (first && (rc = otsp_describe(&o->conn, on_described, o, err)) < 0) {
        o->ops = op->next_op;
        uv_close((uv_handle_t *)&op->timer, on_op_closed);
        return rc;
    }
    return 0;
}

/* Every write was acknowledged as it finished: BatchWriteRow has nothing to commit. */
static void
on_finish_timer(uv_timer_t *t)
{
    struct wop *op = t->data;

    op_end(op);
}

static int
ots_writer_finish(struct otsync_writer *w, otsync_write_done_cb done, void *arg,
                  struct otsync_err *err)
{
    struct ots_writer *o = w->data;
    struct wop *op = calloc(1, sizeof(*op));

    if (!op)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    op->o = o;
    op->done = done;
    op->arg = arg;
    uv_timer_init(w->loop, &op->timer);
    op->timer.data = op;
    op->next_op = o->ops;
    o->ops = op;
    uv_timer_start(&op->timer, on_finish_timer, 0, 0);
    return 0;
}

static void
ots_writer_cancel(struct otsync_writer *w)
{
    struct ots_writer *o = w->data;
    struct wop *op, *next;

    for (op = o->ops; op; op = next) {
        next = op->next_op;
        op->canceled = true;
        if (op->waiting_schema || op->in_flight)
            continue;   /* the answer on its way ends it */
        /* not inside cancel(): a zero timer ends it on the loop */
        uv_timer_stop(&op->timer);
        uv_timer_start(&op->timer, on_timer, 0, 0);
    }
}

static void
ots_writer_close(struct otsync_writer *w)
{
    struct ots_writer *o = w->data;

    if (!o)
        return;
    otsp_close(&o->conn);
    writer_free(o);
    w->data = NULL;
}

const struct otsync_writer_ops otsync_writer_ots = {
    .name = "ots", .abi = OTSYNC_PLUGIN_ABI, .conf_size = sizeof(struct writer_conf),
    .options = writer_options,
    .open = ots_writer_open, .write = ots_writer_write, .finish = ots_writer_finish,
    .cancel = ots_writer_cancel, .close = ots_writer_close,
};
