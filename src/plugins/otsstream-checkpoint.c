/*
 * otsstream-checkpoint.c - the `otsstream` reader's checkpoints in the status table: see
 * otsstream.h. Owns the table's layout, its creation, the rerun's cleanup, loading the
 * previous window's positions and committing this window's. Leaves the reading of shards
 * and the meaning of positions to otsstreamreader.c.
 *
 * Layout: the key is (stream_id STRING, window_end INTEGER ms, shard_id STRING), so the rows
 * of one window's end sit together and a GetRange over (stream, t, *) finds the set a window
 * starting at t resumes from, from any host. A shard's row holds `state` ("new", "at" or
 * "done"), `iterator` and `skip` for "at", and the data table's name and the count of records
 * read, for people looking at the table. The row whose shard_id is "#window" is written last
 * and marks the set complete; it also holds the window's start. Rows are written without a
 * condition, so a rerun that got as far as the commit simply writes the same set again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "otsync/log.h"
#include "tablestore.pb-c.h"
#include "otsstream.h"

#define COL_STREAM "stream_id"
#define COL_END "window_end"
#define COL_SHARD "shard_id"
#define MARKER "#window"        /* '#' is in no shard id the service makes */
#define STATUS_TTL_S (7 * 86400)    /* the stream keeps a day: older checkpoints are useless */
#define SCAN_LIMIT 1000

struct op {
    struct otss_reader *o;
    otss_done_cb done;
    void *arg;
    const bool *canceled;
    int64_t window_end;             /* the set being scanned */
    unsigned char *next;            /* the scan's next start key; NULL: from the set's start */
    size_t next_len;
    void (*row)(struct op *op, const struct pb_row *row);   /* each row of a scan */
    void (*scanned)(struct op *op);                          /* the scan is over */
    char **keys;                    /* shard ids to delete */
    size_t key_count;
    bool have_marker;
    /* a delete or a commit, a row at a time: step sends row `at` (delete: keys[at]; commit:
     * shards[at], shard_count being the marker), or finishes the op after the last */
    void (*step)(struct op *op);
    size_t at;
    struct otsync_err err;
};

void
otss_pos_clear(struct otss_pos *p)
{
    free(p->iterator);
    memset(p, 0, sizeof(*p));
}

int
otss_pos_copy(struct otss_pos *dst, const struct otss_pos *src, struct otsync_err *err)
{
    otss_pos_clear(dst);
    dst->kind = src->kind;
    dst->skip = src->skip;
    if (src->iterator && !(dst->iterator = strdup(src->iterator)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    return 0;
}

const char *
otss_time_text(int64_t ms, char buf[static 64])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    if (ms < 0 || !localtime_r(&s, &tm))
        snprintf(buf, 64, "%" PRId64, ms);
    else
        snprintf(buf, 64, "%04d-%02d-%02d %02d:%02d:%02d.%03d (%" PRId64 ")", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000), ms);
    return buf;
}

static void
op_free(struct op *op)
{
    size_t i;

    for (i = 0; i < op->key_count; i++)
        free(op->keys[i]);
    free(op->keys);
    free(op->next);
    free(op);
}

static void
op_finish(struct op *op, int rc, const struct otsync_err *err)
{
    op->done(op->arg, rc, rc < 0 ? err : NULL);
    op_free(op);
}

/*
 * A row of a delete or a commit is done: on to the next. One at a time, because the order is
 * what keeps a set cut short from looking complete (the marker goes first, or last).
 */
static void
on_step(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
        const struct otsync_err *err)
{
    struct op *op = arg;

    (void)body;
    (void)len;
    (void)e;
    if (rc < 0) {
        op_finish(op, rc, err);
        return;
    }
    op->at++;
    op->step(op);
}

/* --- cells and keys --- */

static void
cell_string(struct pb_cell *c, const char *name, const char *v)
{
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->name_len = strlen(name);
    c->has_value = true;
    c->value.type = PB_STRING;
    c->value.u.bytes.ptr = (const unsigned char *)v;
    c->value.u.bytes.len = (uint32_t)strlen(v);
}

static void
cell_int(struct pb_cell *c, const char *name, int64_t v)
{
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->name_len = strlen(name);
    c->has_value = true;
    c->value.type = PB_INTEGER;
    c->value.u.i = v;
}

static void
cell_pad(struct pb_cell *c, const char *name, enum pb_type pad)
{
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->name_len = strlen(name);
    c->has_value = true;
    c->value.type = pad;
}

/*
 * A row of the status table into b: the key (stream, window_end or pad, shard or pad), then
 * attrs; deleted adds the delete-row marker.
 */
static int
encode_status_row(const struct otss_reader *o, const int64_t *window_end, const char *shard,
                  enum pb_type pad, const struct pb_cell *attrs, size_t attr_count, bool deleted,
                  struct pb_buf *b, struct otsync_err *err)
{
    struct pb_cell pk[3];
    struct pb_row row;

    memset(&row, 0, sizeof(row));
    cell_string(&pk[0], COL_STREAM, o->stream_id);
    if (window_end)
        cell_int(&pk[1], COL_END, *window_end);
    else
        cell_pad(&pk[1], COL_END, pad);
    if (shard)
        cell_string(&pk[2], COL_SHARD, shard);
    else
        cell_pad(&pk[2], COL_SHARD, pad);
    row.pk = pk;
    row.pk_count = 3;
    row.attrs = attrs;
    row.attr_count = attr_count;
    row.deleted = deleted;
    plainbuffer_buf_init(b, 0);
    return plainbuffer_encode_rows(b, &row, 1, err);
}

static const struct pb_cell *
attr(const struct pb_row *row, const char *name)
{
    size_t i, n = strlen(name);

    for (i = 0; i < row->attr_count; i++)
        if (row->attrs[i].name_len == n && !memcmp(row->attrs[i].name, name, n)
            && row->attrs[i].has_value)
            return &row->attrs[i];
    return NULL;
}

static bool
string_is(const struct pb_value *v, const char *s)
{
    return v->type == PB_STRING && v->u.bytes.len == strlen(s)
           && !memcmp(v->u.bytes.ptr, s, v->u.bytes.len);
}

/* --- scanning one window end's set --- */

static void scan_page(struct op *op);

static void
on_scan_page(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
             const struct otsync_err *err)
{
    struct op *op = arg;
    Otsync__Ots__GetRangeResponse *r;
    struct pb_rows rows;
    size_t i;

    (void)e;
    if (rc < 0) {
        op_finish(op, rc, err);
        return;
    }
    memset(&rows, 0, sizeof(rows));
    if (!(r = otsync__ots__get_range_response__unpack(NULL, len, body))) {
        rc = otsync_err_set(&op->err, OTSYNC_EPROTO, "Table Store GetRange %s: an answer that "
                            "does not decode", op->o->status_table);
        op_finish(op, rc, &op->err);
        return;
    }
    if ((rc = plainbuffer_decode_rows(r->rows.data, r->rows.len, &rows, &op->err)) < 0) {
        otsync__ots__get_range_response__free_unpacked(r, NULL);
        op_finish(op, rc, &op->err);
        return;
    }
    for (i = 0; i < rows.count; i++)
        op->row(op, &rows.rows[i]);
    plainbuffer_rows_fini(&rows);
    free(op->next);
    op->next = NULL;
    if (r->has_next_start_primary_key && r->next_start_primary_key.len) {
        if (!(op->next = malloc(r->next_start_primary_key.len))) {
            otsync__ots__get_range_response__free_unpacked(r, NULL);
            rc = otsync_err_set(&op->err, OTSYNC_ENOMEM, "out of memory");
            op_finish(op, rc, &op->err);
            return;
        }
        memcpy(op->next, r->next_start_primary_key.data, r->next_start_primary_key.len);
        op->next_len = r->next_start_primary_key.len;
    }
    otsync__ots__get_range_response__free_unpacked(r, NULL);
    if (op->err.code) {
        op_finish(op, -op->err.code, &op->err);     /* a row callback ran out of memory */
        return;
    }
    if (op->next)
        scan_page(op);
    else
        op->scanned(op);
}

/* Every row of (stream, op->window_end, *), page by page, to op->row; then op->scanned. */
static void
scan_page(struct op *op)
{
    Otsync__Ots__GetRangeRequest req = OTSYNC__OTS__GET_RANGE_REQUEST__INIT;
    struct pb_buf start, end;
    int rc;

    memset(&start, 0, sizeof(start));
    if ((!op->next && (rc = encode_status_row(op->o, &op->window_end, NULL, PB_INF_MIN, NULL, 0,
                                              false, &start, &op->err)) < 0)
        || (rc = encode_status_row(op->o, &op->window_end, NULL, PB_INF_MAX, NULL, 0, false, &end,
                                   &op->err)) < 0) {
        plainbuffer_buf_fini(&start);
        op_finish(op, rc, &op->err);
        return;
    }
    req.table_name = op->o->status_table;
    req.direction = OTSYNC__OTS__DIRECTION__FORWARD;
    req.has_max_versions = 1;
    req.max_versions = 1;
    req.has_limit = 1;
    req.limit = SCAN_LIMIT;
    req.inclusive_start_primary_key.data = op->next ? op->next : start.data;
    req.inclusive_start_primary_key.len = op->next ? op->next_len : start.len;
    req.exclusive_end_primary_key.data = end.data;
    req.exclusive_end_primary_key.len = end.len;
    rc = ots_call(op->o->conn.client, "GetRange", &req.base, true, on_scan_page, op, &op->err);
    plainbuffer_buf_fini(&start);
    plainbuffer_buf_fini(&end);
    if (rc < 0)
        op_finish(op, rc, &op->err);
}

static void
scan_start(struct op *op, int64_t window_end, void (*row)(struct op *, const struct pb_row *),
           void (*scanned)(struct op *))
{
    free(op->next);
    op->next = NULL;
    op->window_end = window_end;
    op->row = row;
    op->scanned = scanned;
    scan_page(op);
}

/* --- prepare: the gap, when the previous window left nothing --- */

static void
on_gap(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
       const struct otsync_err *err)
{
    struct op *op = arg;
    struct otss_reader *o = op->o;
    Otsync__Ots__GetRangeResponse *r = NULL;
    struct pb_rows rows;
    char from[64], start[64], end[64];
    int64_t last = -1;

    (void)e;
    (void)err;
    memset(&rows, 0, sizeof(rows));
    /* the lookup only sharpens the message: when it fails the gap's start stays unknown */
    if (rc == 0 && (r = otsync__ots__get_range_response__unpack(NULL, len, body))
        && plainbuffer_decode_rows(r->rows.data, r->rows.len, &rows, NULL) == 0
        && rows.count && rows.rows[0].pk_count == 3 && rows.rows[0].pk[1].value.type == PB_INTEGER)
        last = rows.rows[0].pk[1].value.u.i;
    plainbuffer_rows_fini(&rows);
    if (r)
        otsync__ots__get_range_response__free_unpacked(r, NULL);
    otss_time_text(o->start_ms, start);
    otss_time_text(o->end_ms, end);
    if (last >= 0)
        rc = otsync_err_set(&op->err, OTSYNC_EINVAL, "%s: no checkpoint in %s for the window's "
                            "start: the changes of the gap [%s, %s) were never read; run the "
                            "windows of that gap first, or set allowRescan to read this window "
                            "[%s, %s) from its start", o->r->path, o->status_table,
                            otss_time_text(last, from), start, start, end);
    else
        rc = otsync_err_set(&op->err, OTSYNC_EINVAL, "%s: no checkpoint in %s for the window's "
                            "start %s, nor any earlier one: the gap before it was never read; "
                            "set allowRescan to read this window [%s, %s) from its start "
                            "(the first window of a stream needs it)", o->r->path,
                            o->status_table, start, start, end);
    op_finish(op, rc, &op->err);
}

static void
find_gap(struct op *op)
{
    Otsync__Ots__GetRangeRequest req = OTSYNC__OTS__GET_RANGE_REQUEST__INIT;
    struct pb_buf start, end;
    int rc;

    memset(&end, 0, sizeof(end));
    /* backwards from just before (stream, start): the first row is the latest earlier set */
    if ((rc = encode_status_row(op->o, &op->o->start_ms, NULL, PB_INF_MIN, NULL, 0, false,
                                &start, &op->err)) < 0
        || (rc = encode_status_row(op->o, NULL, NULL, PB_INF_MIN, NULL, 0, false, &end,
                                   &op->err)) < 0) {
        plainbuffer_buf_fini(&start);
        op_finish(op, rc, &op->err);
        return;
    }
    req.table_name = op->o->status_table;
    req.direction = OTSYNC__OTS__DIRECTION__BACKWARD;
    req.has_max_versions = 1;
    req.max_versions = 1;
    req.has_limit = 1;
    req.limit = 1;
    req.inclusive_start_primary_key.data = start.data;
    req.inclusive_start_primary_key.len = start.len;
    req.exclusive_end_primary_key.data = end.data;
    req.exclusive_end_primary_key.len = end.len;
    rc = ots_call(op->o->conn.client, "GetRange", &req.base, true, on_gap, op, &op->err);
    plainbuffer_buf_fini(&start);
    plainbuffer_buf_fini(&end);
    if (rc < 0)
        op_finish(op, rc, &op->err);
}

/* --- prepare: loading the previous window's set --- */

static void
load_row(struct op *op, const struct pb_row *row)
{
    struct otss_reader *o = op->o;
    const struct pb_cell *state, *it, *skip;
    const struct pb_value *id;
    size_t i;

    if (row->pk_count != 3 || row->pk[2].value.type != PB_STRING)
        return;
    id = &row->pk[2].value;
    if (string_is(id, MARKER)) {
        op->have_marker = true;
        return;
    }
    for (i = 0; i < o->shard_count; i++)
        if (string_is(id, o->shards[i].id))
            break;
    if (i == o->shard_count)
        return;     /* a shard the service no longer lists: its records are gone */
    otss_pos_clear(&o->shards[i].from);
    if (!(state = attr(row, "state")) || string_is(&state->value, "new"))
        return;
    if (string_is(&state->value, "done")) {
        o->shards[i].from.kind = OTSS_POS_DONE;
        return;
    }
    it = attr(row, "iterator");
    skip = attr(row, "skip");
    if (!string_is(&state->value, "at") || !it || it->value.type != PB_STRING)
        return;
    o->shards[i].from.kind = OTSS_POS_AT;
    o->shards[i].from.skip = skip && skip->value.type == PB_INTEGER ? skip->value.u.i : 0;
    if (!(o->shards[i].from.iterator = strndup((const char *)it->value.u.bytes.ptr,
                                               it->value.u.bytes.len)))
        otsync_err_set(&op->err, OTSYNC_ENOMEM, "out of memory");
}

static void
loaded(struct op *op)
{
    struct otss_reader *o = op->o;
    char start[64];
    size_t i;

    if (op->have_marker) {
        log_info("%s: resuming from the checkpoints of %s", o->r->path,
                 otss_time_text(o->start_ms, start));
        op_finish(op, 0, NULL);
        return;
    }
    if (!o->allow_rescan) {
        find_gap(op);
        return;
    }
    /* positions of a set cut short mean nothing: every shard seeks to the window's start */
    for (i = 0; i < o->shard_count; i++) {
        otss_pos_clear(&o->shards[i].from);
        o->shards[i].from.kind = OTSS_POS_SEEK;
    }
    o->rescan = true;
    log_warn("%s: no checkpoint for %s; allowRescan: reading every shard from that time",
             o->r->path, otss_time_text(o->start_ms, start));
    op_finish(op, 0, NULL);
}

/* --- prepare: deleting this window's own set (a rerun) --- */

static void
delete_next(struct op *op)
{
    Otsync__Ots__DeleteRowRequest req = OTSYNC__OTS__DELETE_ROW_REQUEST__INIT;
    Otsync__Ots__Condition cond = OTSYNC__OTS__CONDITION__INIT;
    struct pb_buf key;
    int rc;

    if (op->at == op->key_count) {
        if (op->key_count)
            log_info("%s: deleted the %zu checkpoint row%s an earlier run of this window wrote",
                     op->o->r->path, op->key_count, op->key_count == 1 ? "" : "s");
        /* the marker went first, so a crash from here on leaves no set that looks complete */
        scan_start(op, op->o->start_ms, load_row, loaded);
        return;
    }
    if ((rc = encode_status_row(op->o, &op->o->end_ms, op->keys[op->at], PB_INF_MIN, NULL, 0,
                                true, &key, &op->err)) < 0) {
        op_finish(op, rc, &op->err);
        return;
    }
    cond.row_existence = OTSYNC__OTS__ROW_EXISTENCE_EXPECTATION__IGNORE;
    req.table_name = op->o->status_table;
    req.primary_key.data = key.data;
    req.primary_key.len = key.len;
    req.condition = &cond;
    rc = ots_call(op->o->conn.client, "DeleteRow", &req.base, true, on_step, op, &op->err);
    plainbuffer_buf_fini(&key);
    if (rc < 0)
        op_finish(op, rc, &op->err);
}

static void
own_row(struct op *op, const struct pb_row *row)
{
    char **nk, *id;

    if (row->pk_count != 3 || row->pk[2].value.type != PB_STRING)
        return;
    if (!(id = strndup((const char *)row->pk[2].value.u.bytes.ptr, row->pk[2].value.u.bytes.len))
        || !(nk = realloc(op->keys, (op->key_count + 1) * sizeof(*nk)))) {
        free(id);
        otsync_err_set(&op->err, OTSYNC_ENOMEM, "out of memory");
        return;
    }
    op->keys = nk;
    /* the marker first: without it the rest is an incomplete set, never taken for a good one */
    if (!strcmp(id, MARKER) && op->key_count) {
        memmove(op->keys + 1, op->keys, op->key_count * sizeof(*op->keys));
        op->keys[0] = id;
    } else {
        op->keys[op->key_count] = id;
    }
    op->key_count++;
}

static void
own_scanned(struct op *op)
{
    op->at = 0;
    op->step = delete_next;
    delete_next(op);
}

/* --- prepare: the table --- */

static void
on_created(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
           const struct otsync_err *err)
{
    struct op *op = arg;

    (void)body;
    (void)len;
    /* another job may have created it meanwhile */
    if (rc < 0 && !(e && !strcmp(e->code, "OTSObjectAlreadyExist"))) {
        op_finish(op, rc, err);
        return;
    }
    if (rc == 0)
        log_info("%s: created the status table %s", op->o->r->path, op->o->status_table);
    scan_start(op, op->o->end_ms, own_row, own_scanned);
}

static void
create_table(struct op *op)
{
    Otsync__Ots__CreateTableRequest req = OTSYNC__OTS__CREATE_TABLE_REQUEST__INIT;
    Otsync__Ots__TableMeta meta = OTSYNC__OTS__TABLE_META__INIT;
    Otsync__Ots__PrimaryKeySchema pk[3], *pkp[3];
    Otsync__Ots__ReservedThroughput rt = OTSYNC__OTS__RESERVED_THROUGHPUT__INIT;
    Otsync__Ots__CapacityUnit cu = OTSYNC__OTS__CAPACITY_UNIT__INIT;
    Otsync__Ots__TableOptions opts = OTSYNC__OTS__TABLE_OPTIONS__INIT;
    static const char *const names[3] = {COL_STREAM, COL_END, COL_SHARD};
    static const Otsync__Ots__PrimaryKeyType types[3] = {
        OTSYNC__OTS__PRIMARY_KEY_TYPE__STRING, OTSYNC__OTS__PRIMARY_KEY_TYPE__INTEGER,
        OTSYNC__OTS__PRIMARY_KEY_TYPE__STRING,
    };
    size_t i;
    int rc;

    for (i = 0; i < 3; i++) {
        otsync__ots__primary_key_schema__init(&pk[i]);
        pk[i].name = (char *)names[i];
        pk[i].type = types[i];
        pkp[i] = &pk[i];
    }
    meta.table_name = op->o->status_table;
    meta.primary_key = pkp;
    meta.n_primary_key = 3;
    cu.has_read = cu.has_write = 1;
    rt.capacity_unit = &cu;
    opts.has_time_to_live = 1;
    opts.time_to_live = STATUS_TTL_S;
    opts.has_max_versions = 1;
    opts.max_versions = 1;
    req.table_meta = &meta;
    req.reserved_throughput = &rt;
    req.table_options = &opts;
    if ((rc = ots_call(op->o->conn.client, "CreateTable", &req.base, false, on_created, op,
                       &op->err)) < 0)
        op_finish(op, rc, &op->err);
}

static void
on_status_described(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
                    const struct otsync_err *err)
{
    struct op *op = arg;
    struct otss_reader *o = op->o;
    Otsync__Ots__DescribeTableResponse *r;
    static const char *const names[3] = {COL_STREAM, COL_END, COL_SHARD};
    static const int types[3] = {2, 1, 2};
    bool ok;
    size_t i;

    (void)e;
    if (rc == -OTSYNC_ENOENT) {
        create_table(op);
        return;
    }
    if (rc < 0) {
        op_finish(op, rc, err);
        return;
    }
    if (!(r = otsync__ots__describe_table_response__unpack(NULL, len, body)) || !r->table_meta) {
        if (r)
            otsync__ots__describe_table_response__free_unpacked(r, NULL);
        rc = otsync_err_set(&op->err, OTSYNC_EPROTO, "Table Store DescribeTable %s: an answer "
                            "that does not decode", o->status_table);
        op_finish(op, rc, &op->err);
        return;
    }
    ok = r->table_meta->n_primary_key == 3;
    for (i = 0; ok && i < 3; i++)
        ok = !strcmp(r->table_meta->primary_key[i]->name, names[i])
             && (int)r->table_meta->primary_key[i]->type == types[i];
    otsync__ots__describe_table_response__free_unpacked(r, NULL);
    if (!ok) {
        rc = otsync_err_set(&op->err, OTSYNC_ECONFIG, "%s.statusTable: the table %s exists "
                            "without the key this reader keeps checkpoints under (%s STRING, %s "
                            "INTEGER, %s STRING); name another table", o->r->path,
                            o->status_table, COL_STREAM, COL_END, COL_SHARD);
        op_finish(op, rc, &op->err);
        return;
    }
    scan_start(op, o->end_ms, own_row, own_scanned);
}

int
otss_status_prepare(struct otss_reader *o, otss_done_cb done, void *arg, struct otsync_err *err)
{
    Otsync__Ots__DescribeTableRequest req = OTSYNC__OTS__DESCRIBE_TABLE_REQUEST__INIT;
    struct op *op = calloc(1, sizeof(*op));
    int rc;

    if (!op)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    op->o = o;
    op->done = done;
    op->arg = arg;
    req.table_name = o->status_table;
    if ((rc = ots_call(o->conn.client, "DescribeTable", &req.base, true, on_status_described, op,
                       err)) < 0)
        op_free(op);
    return rc;
}

/* --- commit --- */

static void
commit_next(struct op *op)
{
    Otsync__Ots__PutRowRequest req = OTSYNC__OTS__PUT_ROW_REQUEST__INIT;
    Otsync__Ots__Condition cond = OTSYNC__OTS__CONDITION__INIT;
    struct otss_reader *o = op->o;
    struct pb_cell attrs[5];
    struct pb_buf row;
    const char *shard;
    size_t n = 0;
    int rc;

    if (op->at > o->shard_count) {
        op_finish(op, 0, NULL);
        return;
    }
    if (*op->canceled) {
        rc = otsync_err_set(&op->err, OTSYNC_ECANCELED, "otsstream reader: canceled");
        op_finish(op, rc, &op->err);
        return;
    }
    cell_string(&attrs[n++], "table", o->conn.table);
    if (op->at < o->shard_count) {
        const struct otss_shard *sh = &o->shards[op->at];

        shard = sh->id;
        switch (sh->to.kind) {
        case OTSS_POS_AT:
            cell_string(&attrs[n++], "state", "at");
            cell_string(&attrs[n++], "iterator", sh->to.iterator);
            cell_int(&attrs[n++], "skip", sh->to.skip);
            break;
        case OTSS_POS_DONE:
            cell_string(&attrs[n++], "state", "done");
            break;
        default:
            cell_string(&attrs[n++], "state", "new");
            break;
        }
        cell_int(&attrs[n++], "records", (int64_t)sh->records);
    } else {
        shard = MARKER;
        cell_int(&attrs[n++], "window_start", o->start_ms);
        cell_int(&attrs[n++], "shards", (int64_t)o->shard_count);
    }
    if ((rc = encode_status_row(o, &o->end_ms, shard, PB_INF_MIN, attrs, n, false, &row,
                                &op->err)) < 0) {
        op_finish(op, rc, &op->err);
        return;
    }
    cond.row_existence = OTSYNC__OTS__ROW_EXISTENCE_EXPECTATION__IGNORE;
    req.table_name = o->status_table;
    req.row.data = row.data;
    req.row.len = row.len;
    req.condition = &cond;
    /* the same row again is harmless, so a retried put may be sent twice */
    rc = ots_call(o->conn.client, "PutRow", &req.base, true, on_step, op, &op->err);
    plainbuffer_buf_fini(&row);
    if (rc < 0)
        op_finish(op, rc, &op->err);
}

static void
on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void
on_commit_later(uv_timer_t *h)
{
    struct op *op = h->data;

    uv_close((uv_handle_t *)h, on_timer_closed);
    commit_next(op);
}

int
otss_status_commit(struct otss_reader *o, const bool *canceled, otss_done_cb done, void *arg,
                   struct otsync_err *err)
{
    struct op *op = calloc(1, sizeof(*op));
    uv_timer_t *t = calloc(1, sizeof(*t));

    if (!op || !t) {
        free(op);
        free(t);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    op->o = o;
    op->done = done;
    op->arg = arg;
    op->canceled = canceled;
    op->step = commit_next;
    /* the first put goes from the loop, so done never runs inside this call */
    uv_timer_init(o->r->loop, t);
    t->data = op;
    uv_timer_start(t, on_commit_later, 0, 0);
    return 0;
}
