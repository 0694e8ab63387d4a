/*
 * otsreader.c - the `ots` reader: a Table Store table, or a range of it, as records.
 *
 * Owns: the reader's parameters (DataX's otsreader: table, column, range.begin/end/split,
 * mode normal or multiVersion), cutting the range into slices (range.split, else the
 * service's ComputeSplitPointsBySize, which cuts by data size and so keeps hot key ranges
 * from making one slow slice), and reading each slice page by page with GetRange. Leaves to
 * others: the connection, values and the slice task's life (ots-common.c), the client
 * (services/ots), the queue.
 *
 * A slice asks for its next page only after the engine took the previous one and is not
 * paused, so a slow writer holds at most one page per channel here. A page that fails after
 * the client's retries fails the job; a retried request starts again at the first key not
 * yet emitted, so nothing is read twice.
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

struct reader_conf {
    struct otsp_conn_conf conn;
    const char *table;
    const json_t *column;
    const json_t *range;
    const char *mode;
    const json_t *time_range;
    int64_t max_version;
    double split_size_mb;
};

static const struct otsync_option reader_options[] = {
    OTSP_CONN_OPTIONS(struct reader_conf),
    {"table", OTSYNC_OPT_STRING, offsetof(struct reader_conf, table), NULL, "the table to read"},
    {"column", OTSYNC_OPT_ARRAY, offsetof(struct reader_conf, column), NULL,
     "the columns of each record: {\"name\": N} (a key or attribute column; missing is null), "
     "or a constant {\"type\": STRING|INT|DOUBLE|BOOL|BINARY, \"value\": V}"},
    {"range", OTSYNC_OPT_OBJECT, offsetof(struct reader_conf, range), "{}",
     "begin, end (lists of {type: INF_MIN|INF_MAX|STRING|INT|BINARY, value}, one per key "
     "column, missing ones INF_MIN/INF_MAX) and split (values of the first key column)"},
    {"mode", OTSYNC_OPT_STRING, offsetof(struct reader_conf, mode), "normal",
     "normal: one record per row, latest versions; multiVersion: one record per cell version "
     "(key columns, column name, timestamp, value)"},
    {"timeRange", OTSYNC_OPT_OBJECT, offsetof(struct reader_conf, time_range), "{}",
     "multiVersion: {begin, end} in ms, [begin, end)"},
    {"maxVersion", OTSYNC_OPT_INT, offsetof(struct reader_conf, max_version), "2147483647",
     "multiVersion: versions per column at most"},
    {"splitSizeInMB", OTSYNC_OPT_DOUBLE, offsetof(struct reader_conf, split_size_mb), "100",
     "otsync: without range.split, the data size of a slice, from 0.001 (1 KB)"},
    {NULL, 0, 0, NULL, NULL},
};

struct rcol {
    char *name;             /* NULL: a constant */
    int pk_index;           /* >= 0: a key column; set once the schema is known */
    struct pb_value constant;
    unsigned char *owned;
};

struct slice {
    unsigned char *begin, *end;     /* encoded key-only rows */
    size_t begin_len, end_len;
};

struct ots_reader {
    struct otsync_reader *r;
    struct otsp_conn conn;
    struct rcol *cols;
    size_t col_count;
    bool multi;
    int64_t tr_begin, tr_end;
    int32_t max_version;
    int64_t split_size_kb;
    /* the range, as typed values of the key columns (padded once the schema is known) */
    struct pb_value begin[OTSP_MAX_PK], end[OTSP_MAX_PK];
    unsigned begin_count, end_count;
    unsigned char *bound_owned[2 * OTSP_MAX_PK];
    struct pb_value *splits;        /* range.split: values of the first key column */
    unsigned char **split_owned;
    size_t split_count;
    struct slice *slices;
    size_t slice_count;
    /* split() in progress */
    unsigned advice;
    otsync_split_cb split_done;
    void *split_arg;
};

struct task {
    struct otsp_task core;          /* first (ots-common.h); its timer ends the task later */
    struct ots_reader *o;
    unsigned slice;
    unsigned char *next;            /* the next page's inclusive start key */
    size_t next_len;
    int rc;                         /* what the timer ends the task with */
    struct otsync_err err;
};

static void
reader_free(struct ots_reader *o)
{
    size_t i;

    for (i = 0; i < o->col_count; i++) {
        free(o->cols[i].name);
        free(o->cols[i].owned);
    }
    free(o->cols);
    for (i = 0; i < 2 * OTSP_MAX_PK; i++)
        free(o->bound_owned[i]);
    for (i = 0; i < o->split_count; i++)
        free(o->split_owned[i]);
    free(o->splits);
    free(o->split_owned);
    for (i = 0; i < o->slice_count; i++) {
        free(o->slices[i].begin);
        free(o->slices[i].end);
    }
    free(o->slices);
    free(o);
}

static int
parse_bounds(struct ots_reader *o, const json_t *list, const char *path, bool begin,
             struct otsync_err *err)
{
    char p[512];
    size_t i;
    int rc;

    if (!list)
        return 0;
    if (!json_is_array(list) || json_array_size(list) > OTSP_MAX_PK)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: expected a list of at most %d bounds",
                              path, OTSP_MAX_PK);
    for (i = 0; i < json_array_size(list); i++) {
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        rc = otsp_json_value(json_array_get(list, i), p, true,
                             begin ? &o->begin[i] : &o->end[i],
                             &o->bound_owned[(begin ? 0 : OTSP_MAX_PK) + i], err);
        if (rc < 0)
            return rc;
    }
    if (begin)
        o->begin_count = (unsigned)json_array_size(list);
    else
        o->end_count = (unsigned)json_array_size(list);
    return 0;
}

static int
ots_reader_open(struct otsync_reader *r, const void *conf_arg, struct otsync_err *err)
{
    const struct reader_conf *conf = conf_arg;
    struct ots_reader *o;
    const json_t *item, *splits;
    char p[512];
    size_t i;
    int rc;

    if (!(o = calloc(1, sizeof(*o))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    o->r = r;
    if (!strcasecmp(conf->mode, "multiVersion"))
        o->multi = true;
    else if (strcasecmp(conf->mode, "normal") != 0) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.mode: expected normal or multiVersion, got "
                            "\"%s\"", r->path, conf->mode);
        goto fail;
    }
    if (!json_array_size(conf->column)) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.column: give at least one column", r->path);
        goto fail;
    }
    if (!(o->cols = calloc(json_array_size(conf->column), sizeof(*o->cols)))) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    json_array_foreach(conf->column, i, item) {
        struct rcol *c = &o->cols[i];
        const char *name = json_is_string(item) ? json_string_value(item)
                           : json_string_value(json_object_get(item, "name"));

        o->col_count = i + 1;
        c->pk_index = -1;
        snprintf(p, sizeof(p), "%s.column[%zu]", r->path, i);
        if (name) {
            if (!*name || !(c->name = strdup(name))) {
                rc = otsync_err_set(err, *name ? OTSYNC_ENOMEM : OTSYNC_ECONFIG, "%s.name: %s",
                                    p, *name ? "out of memory" : "must not be empty");
                goto fail;
            }
        } else if (o->multi) {
            rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s: multiVersion reads named columns "
                                "only", p);
            goto fail;
        } else if ((rc = otsp_json_value(item, p, false, &c->constant, &c->owned, err)) < 0) {
            goto fail;
        }
    }
    if ((rc = parse_bounds(o, json_object_get(conf->range, "begin"), "range.begin", true, err)) < 0
        || (rc = parse_bounds(o, json_object_get(conf->range, "end"), "range.end", false,
                              err)) < 0)
        goto fail;
    if ((splits = json_object_get(conf->range, "split"))) {
        size_t n = json_array_size(splits);

        if (!json_is_array(splits)) {
            rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.range.split: expected a list", r->path);
            goto fail;
        }
        o->splits = calloc(n + 1, sizeof(*o->splits));
        o->split_owned = calloc(n + 1, sizeof(*o->split_owned));
        if (!o->splits || !o->split_owned) {
            rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
            goto fail;
        }
        for (i = 0; i < n; i++) {
            snprintf(p, sizeof(p), "%s.range.split[%zu]", r->path, i);
            o->split_count = i + 1;
            if ((rc = otsp_json_value(json_array_get(splits, i), p, false, &o->splits[i],
                                      &o->split_owned[i], err)) < 0)
                goto fail;
        }
    }
    if (o->multi) {
        o->tr_begin = json_integer_value(json_object_get(conf->time_range, "begin"));
        o->tr_end = json_object_get(conf->time_range, "end")
                    ? json_integer_value(json_object_get(conf->time_range, "end")) : INT64_MAX;
        if (o->tr_begin < 0 || o->tr_end <= o->tr_begin) {
            rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.timeRange: begin must be before end",
                                r->path);
            goto fail;
        }
    }
    if (conf->max_version < 1 || conf->max_version > INT32_MAX) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.maxVersion: must be positive", r->path);
        goto fail;
    }
    o->max_version = (int32_t)conf->max_version;
    if (!(conf->split_size_mb >= 0.001 && conf->split_size_mb <= 1e6)) {
        rc = otsync_err_set(err, OTSYNC_ECONFIG, "%s.splitSizeInMB: must be 0.001 to 1000000, "
                            "got %g", r->path, conf->split_size_mb);
        goto fail;
    }
    o->split_size_kb = (int64_t)(conf->split_size_mb * 1024 + 0.5);
    if ((rc = otsp_open(&o->conn, r->loop, r->datasources, r->path, &conf->conn, conf->table,
                        r->channels, err)) < 0)
        goto fail;
    r->data = o;
    return 0;
fail:
    reader_free(o);
    return rc;
}

/* --- split --- */

/* Encodes a key-only row of the key columns with vals (count of them, the rest pad). */
static int
encode_key(const struct otsp_schema *s, const struct pb_value *vals, unsigned count,
           enum pb_type pad, unsigned char **ret, size_t *ret_len)
{
    struct pb_cell cells[OTSP_MAX_PK];
    struct pb_row row;
    struct pb_buf b;
    unsigned i;

    memset(cells, 0, sizeof(cells));
    memset(&row, 0, sizeof(row));
    for (i = 0; i < s->count; i++) {
        cells[i].name = s->names[i];
        cells[i].name_len = strlen(s->names[i]);
        cells[i].has_value = true;
        if (i < count)
            cells[i].value = vals[i];
        else
            cells[i].value.type = pad;
    }
    row.pk = cells;
    row.pk_count = s->count;
    plainbuffer_buf_init(&b, 0);
    if (plainbuffer_encode_rows(&b, &row, 1, NULL) < 0) {
        plainbuffer_buf_fini(&b);
        return -1;
    }
    *ret = b.data;
    *ret_len = b.len;
    return 0;
}

/* Slice i covers [points[i-1], points[i]) inside [begin, end). */
static int
add_slice(struct ots_reader *o, const struct pb_value *first_begin, const struct pb_value *first_end)
{
    const struct otsp_schema *s = &o->conn.schema;
    struct pb_value b[OTSP_MAX_PK], e[OTSP_MAX_PK];
    struct slice *ns, *sl;
    unsigned bc = o->begin_count, ec = o->end_count;

    if (!(ns = realloc(o->slices, (o->slice_count + 1) * sizeof(*ns))))
        return -1;
    o->slices = ns;
    sl = &o->slices[o->slice_count];
    memset(sl, 0, sizeof(*sl));
    memcpy(b, o->begin, sizeof(b));
    memcpy(e, o->end, sizeof(e));
    if (first_begin) {
        b[0] = *first_begin;
        bc = 1;
    }
    if (first_end) {
        e[0] = *first_end;
        ec = 1;
    }
    /* missing trailing key columns: from the lowest key at the start, up to the lowest key of
     * the next slice at a split point (so no row falls between two slices) */
    if (encode_key(s, b, bc, PB_INF_MIN, &sl->begin, &sl->begin_len) < 0
        || encode_key(s, e, ec, first_end ? PB_INF_MIN : PB_INF_MAX, &sl->end, &sl->end_len) < 0)
        return -1;
    o->slice_count++;
    return 0;
}

static void
split_finish(struct ots_reader *o, int rc, const struct otsync_err *err)
{
    o->split_done(o->split_arg, rc, rc < 0 ? 0 : (unsigned)o->slice_count, err);
}

static int
slices_from_points(struct ots_reader *o, const struct pb_value *points, size_t n)
{
    size_t i;

    for (i = 0; i <= n; i++)
        if (add_slice(o, i ? &points[i - 1] : NULL, i < n ? &points[i] : NULL) < 0)
            return -1;
    return 0;
}

static void
on_split_points(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
                const struct otsync_err *err)
{
    struct ots_reader *o = arg;
    Otsync__Ots__ComputeSplitPointsBySizeResponse *r;
    struct pb_rows *rows = NULL;
    struct pb_value *points = NULL;
    struct otsync_err lerr;
    size_t i, n = 0;

    (void)e;
    otsync_err_clear(&lerr);
    if (rc < 0) {
        split_finish(o, rc, err);
        return;
    }
    if (!(r = otsync__ots__compute_split_points_by_size_response__unpack(NULL, len, body))) {
        rc = otsync_err_set(&lerr, OTSYNC_EPROTO, "Table Store ComputeSplitPointsBySize: an "
                            "answer that does not decode");
        split_finish(o, rc, &lerr);
        return;
    }
    rows = calloc(r->n_split_points + 1, sizeof(*rows));
    points = calloc(r->n_split_points + 1, sizeof(*points));
    if (!rows || !points) {
        rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < r->n_split_points; i++) {
        if ((rc = plainbuffer_decode_row(r->split_points[i].data, r->split_points[i].len,
                                         &rows[i], &lerr)) < 0)
            goto out;
        if (rows[i].count != 1 || rows[i].rows[0].pk_count < 1)
            continue;
        /* slices are cut on the first key column only, as range.split gives them */
        if (n && rows[i].rows[0].pk[0].value.type == points[n - 1].type
            && rows[i].rows[0].pk[0].value.type == PB_INTEGER
            && rows[i].rows[0].pk[0].value.u.i == points[n - 1].u.i)
            continue;
        points[n++] = rows[i].rows[0].pk[0].value;
    }
    rc = slices_from_points(o, points, n) < 0
         ? otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory") : 0;
    if (rc == 0)
        log_info("%s: %zu slice%s from the table's split points", o->r->path, o->slice_count,
                 o->slice_count == 1 ? "" : "s");
out:
    split_finish(o, rc, rc < 0 ? &lerr : NULL);
    for (i = 0; rows && i < r->n_split_points; i++)
        plainbuffer_rows_fini(&rows[i]);
    free(rows);
    free(points);
    otsync__ots__compute_split_points_by_size_response__free_unpacked(r, NULL);
}

static void
on_schema(void *arg, int rc, const struct otsync_err *err)
{
    struct ots_reader *o = arg;
    const struct otsp_schema *s = &o->conn.schema;
    Otsync__Ots__ComputeSplitPointsBySizeRequest req =
        OTSYNC__OTS__COMPUTE_SPLIT_POINTS_BY_SIZE_REQUEST__INIT;
    struct otsync_err lerr;
    size_t i;
    unsigned k;

    otsync_err_clear(&lerr);
    if (rc < 0) {
        split_finish(o, rc, err);
        return;
    }
    if (o->begin_count > s->count || o->end_count > s->count) {
        rc = otsync_err_set(&lerr, OTSYNC_ECONFIG, "%s.range: the table %s has %u key "
                            "column%s", o->r->path, o->conn.table, s->count,
                            s->count == 1 ? "" : "s");
        split_finish(o, rc, &lerr);
        return;
    }
    for (i = 0; i < o->col_count; i++)
        for (k = 0; o->cols[i].name && k < s->count; k++)
            if (!strcmp(o->cols[i].name, s->names[k]))
                o->cols[i].pk_index = (int)k;
    if (o->splits) {
        rc = slices_from_points(o, o->splits, o->split_count) < 0
             ? otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory") : 0;
        split_finish(o, rc, rc < 0 ? &lerr : NULL);
        return;
    }
    /* a range of the table: its own bounds make one slice; the whole table is cut by size */
    if (o->begin_count || o->end_count || o->r->channels < 2) {
        rc = add_slice(o, NULL, NULL) < 0 ? otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory")
                                          : 0;
        split_finish(o, rc, rc < 0 ? &lerr : NULL);
        return;
    }
    req.table_name = o->conn.table;
    req.split_size = o->split_size_kb;
    req.has_split_size_unit_in_byte = 1;
    req.split_size_unit_in_byte = 1024;
    if ((rc = ots_call(o->conn.client, "ComputeSplitPointsBySize", &req.base, true,
                       on_split_points, o, &lerr)) < 0)
        split_finish(o, rc, &lerr);
}

static int
ots_reader_split(struct otsync_reader *r, unsigned advice, otsync_split_cb done, void *arg,
                 struct otsync_err *err)
{
    struct ots_reader *o = r->data;

    o->advice = advice;
    o->split_done = done;
    o->split_arg = arg;
    return otsp_describe(&o->conn, on_schema, o, err);
}

/* --- reading a slice --- */

static void request_page(struct task *t);

static void
task_release(struct otsp_task *core, int rc)
{
    struct task *t = (struct task *)core;

    (void)rc;
    free(t->next);
    t->next = NULL;
}

static void
on_later(uv_timer_t *h)
{
    struct task *t = h->data;

    otsp_task_end(&t->core, t->rc, &t->err);
}

/* Ends the task on the loop's next turn (from inside a call of the engine's). */
static void
end_later(struct task *t, int rc, const struct otsync_err *err)
{
    t->rc = rc;
    if (err)
        t->err = *err;
    uv_timer_start(&t->core.timer, on_later, 0, 0);
}

static const struct pb_cell *
find_attr(const struct pb_row *row, const char *name, size_t *ret_first)
{
    size_t i, n = strlen(name);

    for (i = 0; i < row->attr_count; i++)
        if (row->attrs[i].name_len == n && !memcmp(row->attrs[i].name, name, n)) {
            if (ret_first)
                *ret_first = i;
            return &row->attrs[i];
        }
    return NULL;
}

/* One row as records into b: one (normal) or one per selected cell version (multiVersion). */
static int
row_records(struct ots_reader *o, const struct pb_row *row, struct otsync_batch *b,
            struct otsync_err *err)
{
    const struct otsp_schema *s = &o->conn.schema;
    struct otsync_record *rec;
    const struct pb_cell *cell;
    size_t i, k, first;
    unsigned kept;
    int rc;

    if (!o->multi) {
        if ((rc = otsync_batch_add(b, o->col_count, &rec, err)) < 0)
            return rc;
        rec->op = OTSYNC_OP_PUT;
        for (i = 0; i < o->col_count; i++) {
            struct rcol *c = &o->cols[i];

            if (!c->name)
                rc = otsp_value_to_record(b, &rec->cols[i], &c->constant, err);
            else if (c->pk_index >= 0 && (size_t)c->pk_index < row->pk_count)
                rc = otsp_value_to_record(b, &rec->cols[i], &row->pk[c->pk_index].value, err);
            else if ((cell = find_attr(row, c->name, NULL))) {
                /* versions come newest first: the first cell is the latest */
                if ((rc = otsp_value_to_record(b, &rec->cols[i], &cell->value, err)) == 0
                    && cell->has_ts) {
                    rec->cols[i].has_ts = true;
                    rec->cols[i].ts = cell->ts;
                }
            }
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    for (i = 0; i < o->col_count; i++) {
        if (o->cols[i].pk_index >= 0 || !find_attr(row, o->cols[i].name, &first))
            continue;
        for (k = first, kept = 0; k < row->attr_count && kept < (unsigned)o->max_version; k++) {
            cell = &row->attrs[k];
            if (cell->name_len != strlen(o->cols[i].name)
                || memcmp(cell->name, o->cols[i].name, cell->name_len) != 0)
                break;
            kept++;
            if ((rc = otsync_batch_add(b, s->count + 3, &rec, err)) < 0)
                return rc;
            rec->op = OTSYNC_OP_PUT;
            for (unsigned p = 0; p < s->count && p < row->pk_count; p++)
                if ((rc = otsp_value_to_record(b, &rec->cols[p], &row->pk[p].value, err)) < 0)
                    return rc;
            if ((rc = otsync_value_set_string(b, &rec->cols[s->count], o->cols[i].name,
                                              strlen(o->cols[i].name), err)) < 0)
                return rc;
            otsync_value_set_int(b, &rec->cols[s->count + 1], cell->ts);
            if ((rc = otsp_value_to_record(b, &rec->cols[s->count + 2], &cell->value, err)) < 0)
                return rc;
        }
    }
    return 0;
}

static void
on_page(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
        const struct otsync_err *err)
{
    struct task *t = arg;
    struct ots_reader *o = t->o;
    Otsync__Ots__GetRangeResponse *r = NULL;
    struct otsync_batch *b = NULL;
    struct pb_rows rows;
    struct otsync_err lerr;
    size_t i;

    (void)e;
    memset(&rows, 0, sizeof(rows));
    otsync_err_clear(&lerr);
    if (!otsp_task_landed(&t->core, rc, err))
        return;
    if (!(r = otsync__ots__get_range_response__unpack(NULL, len, body))) {
        rc = otsync_err_set(&lerr, OTSYNC_EPROTO, "Table Store GetRange %s: an answer that "
                            "does not decode", o->conn.table);
        goto fail;
    }
    if ((rc = plainbuffer_decode_rows(r->rows.data, r->rows.len, &rows, &lerr)) < 0)
        goto fail;
    free(t->next);
    t->next = NULL;
    if (r->has_next_start_primary_key && r->next_start_primary_key.len) {
        if (!(t->next = malloc(r->next_start_primary_key.len))) {
            rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(t->next, r->next_start_primary_key.data, r->next_start_primary_key.len);
        t->next_len = r->next_start_primary_key.len;
    }
    if (rows.count) {
        if (!(b = otsync_batch_new(o->multi ? rows.count * 2 : rows.count))) {
            rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
            goto fail;
        }
        for (i = 0; i < rows.count; i++)
            if ((rc = row_records(o, &rows.rows[i], b, &lerr)) < 0)
                goto fail;
    }
    plainbuffer_rows_fini(&rows);
    otsync__ots__get_range_response__free_unpacked(r, NULL);
    r = NULL;
    otsp_task_emit(&t->core, b);  /* may pause or cancel us */
    if (t->core.canceled) {
        otsp_task_end_canceled(&t->core);
    } else if (!t->next) {
        otsp_task_end(&t->core, 0, NULL);
    } else if (!t->core.paused && !t->core.in_flight) {
        /* not in flight already: a writer that drained the queue inside emit resumed us,
         * and the resume asked for this page itself */
        request_page(t);
    }
    return;
fail:
    otsync_batch_free(b);
    plainbuffer_rows_fini(&rows);
    if (r)
        otsync__ots__get_range_response__free_unpacked(r, NULL);
    otsp_task_end(&t->core, rc, &lerr);
}

static void
request_page(struct task *t)
{
    struct ots_reader *o = t->o;
    struct slice *sl = &o->slices[t->slice];
    Otsync__Ots__GetRangeRequest req = OTSYNC__OTS__GET_RANGE_REQUEST__INIT;
    Otsync__Ots__TimeRange tr = OTSYNC__OTS__TIME_RANGE__INIT;
    struct otsync_err err;
    int rc;

    req.table_name = o->conn.table;
    req.direction = OTSYNC__OTS__DIRECTION__FORWARD;
    req.inclusive_start_primary_key.data = t->next;
    req.inclusive_start_primary_key.len = t->next_len;
    req.exclusive_end_primary_key.data = sl->end;
    req.exclusive_end_primary_key.len = sl->end_len;
    if (o->multi) {
        tr.has_start_time = tr.has_end_time = 1;
        tr.start_time = o->tr_begin;
        tr.end_time = o->tr_end;
        req.time_range = &tr;
        req.has_max_versions = 1;
        req.max_versions = o->max_version;
    } else {
        req.has_max_versions = 1;
        req.max_versions = 1;
    }
    otsync_err_clear(&err);
    if ((rc = otsp_task_call(&t->core, o->conn.client, "GetRange", &req.base, on_page, &err)) < 0)
        end_later(t, rc, &err);
}

static int
ots_reader_start(struct otsync_reader *r, unsigned slice, otsync_read_emit_cb emit,
                 otsync_read_end_cb end, void *arg, void **ret_task, struct otsync_err *err)
{
    struct ots_reader *o = r->data;
    struct task *t;

    if (slice >= o->slice_count)
        return otsync_err_set(err, OTSYNC_EINVAL, "ots reader: no slice %u", slice);
    if (!(t = calloc(1, sizeof(*t))) || !(t->next = malloc(o->slices[slice].begin_len))) {
        free(t);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    memcpy(t->next, o->slices[slice].begin, o->slices[slice].begin_len);
    t->next_len = o->slices[slice].begin_len;
    t->o = o;
    t->slice = slice;
    otsp_task_init(&t->core, r->loop, "ots reader", task_release, emit, end, arg);
    request_page(t);
    *ret_task = t;
    return 0;
}

static void
ots_reader_resume(struct otsync_reader *r, void *task)
{
    struct task *t = task;

    (void)r;
    t->core.paused = false;
    if (t->next && otsp_task_idle(&t->core))
        request_page(t);
}

static void
ots_reader_cancel(struct otsync_reader *r, void *task)
{
    struct task *t = task;
    struct otsync_err err;

    (void)r;
    t->core.canceled = true;
    /* a page in flight ends the task when it lands; otherwise end it from the loop */
    if (otsp_task_idle(&t->core)) {
        otsync_err_set(&err, OTSYNC_ECANCELED, "ots reader: canceled");
        end_later(t, -OTSYNC_ECANCELED, &err);
    }
}

static void
ots_reader_close(struct otsync_reader *r)
{
    struct ots_reader *o = r->data;

    if (!o)
        return;
    otsp_close(&o->conn);
    reader_free(o);
    r->data = NULL;
}

const struct otsync_reader_ops otsync_reader_ots = {
    .name = "ots", .abi = OTSYNC_PLUGIN_ABI, .conf_size = sizeof(struct reader_conf),
    .options = reader_options,
    .open = ots_reader_open, .split = ots_reader_split, .start = ots_reader_start,
    .pause = otsp_task_pause, .resume = ots_reader_resume, .cancel = ots_reader_cancel,
    .close = ots_reader_close,
};
