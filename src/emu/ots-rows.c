/*
 * ots-rows.c - the emulated Table Store's row operations: GetRow, PutRow, UpdateRow,
 * DeleteRow, BatchGetRow, BatchWriteRow, GetRange and ComputeSplitPointsBySize, with
 * row-existence and column conditions, filters, versions, time ranges and the paging caps of
 * tablestore.md 2.5 and 4.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ots.h"

#define MAX_RANGE_ROWS 5000
#define MAX_RANGE_BYTES (4u * 1024u * 1024u)
#define MAX_BATCH_WRITE 200
#define MAX_BATCH_GET 100
#define MAX_COLUMNS_WRITTEN 1024
#define MAX_FILTER_DEPTH 16
#define STRING_KEY_MAX 1024

/* Why one row failed, for batches (per row) and single-row calls (the whole answer). */
struct row_err {
    unsigned status;
    char code[64];
    char msg[256];
};

/* What each row of a batch answer needs beside its result: one allocation per batch. */
struct row_side {
    Otsync__Ots__Error err;
    Otsync__Ots__ConsumedCapacity cc;
    Otsync__Ots__CapacityUnit cu;
    struct row_err rerr;
};

static int row_fail(struct row_err *e, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
row_fail(struct row_err *e, unsigned status, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (e->status)
        return -1;
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static void
err_to_ctx(struct ots_ctx *c, const struct row_err *e)
{
    ots_fail(c, e->status, e->code, "%s", e->msg);
}

static Otsync__Ots__Error *
err_to_pb(const struct row_err *e, Otsync__Ots__Error *out)
{
    otsync__ots__error__init(out);
    out->code = (char *)e->code;
    out->message = (char *)e->msg;
    return out;
}

/* --- keys --- */

/* Points key at the key cells of a decoded row (no copy), checking them against t's schema.
 * inf: INF_MIN/INF_MAX allowed (range bounds); autoinc: the placeholder allowed (writes). */
static int
key_of(const struct ots_table *t, const struct pb_row *r, bool inf, bool autoinc,
       struct ots_val *key, struct row_err *e)
{
    unsigned i;

    if (r->pk_count != t->pk_count)
        return row_fail(e, 400, "OTSInvalidPK", "Validate PK size fail. Input: %zu, Meta: %u.",
                        r->pk_count, t->pk_count);
    for (i = 0; i < t->pk_count; i++) {
        const struct pb_cell *cell = &r->pk[i];
        enum pb_type want = t->pk_types[i] == 1 ? PB_INTEGER
                            : t->pk_types[i] == 2 ? PB_STRING : PB_BINARY;

        if (cell->name_len != strlen(t->pk_names[i])
            || memcmp(cell->name, t->pk_names[i], cell->name_len) != 0)
            return row_fail(e, 400, "OTSInvalidPK", "Validate PK name fail. Input: %.*s, "
                            "Meta: %s.", (int)cell->name_len, cell->name, t->pk_names[i]);
        if (!cell->has_value)
            return row_fail(e, 400, "OTSInvalidPK", "primary key %s has no value",
                            t->pk_names[i]);
        if (cell->value.type == PB_INF_MIN || cell->value.type == PB_INF_MAX) {
            if (!inf)
                return row_fail(e, 400, "OTSParameterInvalid", "INF_MIN/INF_MAX is only "
                                "allowed in range bounds");
        } else if (cell->value.type == PB_AUTO_INCREMENT) {
            if (!autoinc || !t->pk_auto[i])
                return row_fail(e, 400, "OTSParameterInvalid", "primary key %s is not an "
                                "auto-increment column", t->pk_names[i]);
        } else if (cell->value.type != want) {
            return row_fail(e, 400, "OTSInvalidPK", "Validate PK type fail. Input: %s, "
                            "Meta: %s.", cell->value.type == PB_INTEGER ? "INTEGER"
                            : cell->value.type == PB_STRING ? "STRING" : "other",
                            want == PB_INTEGER ? "INTEGER" : want == PB_STRING ? "STRING"
                                                                               : "BINARY");
        } else if ((want == PB_STRING || want == PB_BINARY)
                   && cell->value.u.bytes.len > STRING_KEY_MAX) {
            return row_fail(e, 400, "OTSParameterInvalid", "The length of primary key %s is "
                            "larger than %d", t->pk_names[i], STRING_KEY_MAX);
        }
        memset(&key[i], 0, sizeof(key[i]));
        key[i].type = cell->value.type;
        if (want == PB_INTEGER || cell->value.type != want)
            key[i].u.i = cell->value.u.i;
        else {
            key[i].u.s.p = (unsigned char *)cell->value.u.bytes.ptr;
            key[i].u.s.len = cell->value.u.bytes.len;
        }
    }
    return 0;
}

/* Decodes a single-row PlainBuffer field. */
static int
decode_one(const ProtobufCBinaryData *d, struct pb_rows *rows, struct row_err *e)
{
    struct otsync_err err;

    if (plainbuffer_decode_row(d->data, d->len, rows, &err) < 0)
        return row_fail(e, 400, "OTSParameterInvalid", "%s", err.msg);
    if (rows->count != 1) {
        plainbuffer_rows_fini(rows);
        return row_fail(e, 400, "OTSParameterInvalid", "expected one row");
    }
    return 0;
}

/* --- reading rows into PlainBuffer --- */

struct read_opts {
    char **columns;
    size_t column_count;
    int32_t max_versions;       /* 0: not given */
    bool has_range;
    int64_t start, end;         /* [start, end) ms */
    const ProtobufCBinaryData *filter;
};

static bool
wanted(const struct read_opts *o, const struct ots_col *col)
{
    size_t i;

    if (!o->column_count)
        return true;
    for (i = 0; i < o->column_count; i++)
        if (strlen(o->columns[i]) == col->name_len
            && memcmp(o->columns[i], col->name, col->name_len) == 0)
            return true;
    return false;
}

/* The cells of a row being built for an answer: grown in one array. */
struct cellbuf {
    struct pb_cell *cells;
    size_t count, cap;
    struct pb_row *rows;
    size_t *first;              /* index of each row's first cell */
    size_t row_count, row_cap;
};

static struct pb_cell *
cell_add(struct cellbuf *cb)
{
    struct pb_cell *n;

    if (cb->count == cb->cap) {
        if (!(n = realloc(cb->cells, (cb->cap ? cb->cap * 2 : 64) * sizeof(*n))))
            return NULL;
        cb->cells = n;
        cb->cap = cb->cap ? cb->cap * 2 : 64;
    }
    memset(&cb->cells[cb->count], 0, sizeof(*cb->cells));
    return &cb->cells[cb->count++];
}

static void
cellbuf_fini(struct cellbuf *cb)
{
    free(cb->cells);
    free(cb->rows);
    free(cb->first);
    memset(cb, 0, sizeof(*cb));
}

/*
 * Adds row (its key, then the cells o selects: newest first, each with value and
 * timestamp) to cb. Returns 1 when added, 0 when nothing of it is selected (columns_to_get
 * names none of its columns), -1 out of memory. *ret_bytes grows by what was added.
 */
static int
row_add(struct cellbuf *cb, const struct ots_table *t, const struct ots_row *row,
        const struct read_opts *o, size_t *ret_bytes)
{
    size_t start = cb->count, attrs = 0, bytes = 0, n;
    struct pb_cell *cell;
    struct pb_row *nr;
    size_t *nf;
    uint32_t i, k, kept;

    for (i = 0; i < row->pk_count; i++) {
        if (!(cell = cell_add(cb)))
            return -1;
        cell->name = t->pk_names[i];
        cell->name_len = strlen(t->pk_names[i]);
        cell->has_value = true;
        ots_val_to_pb(&row->pk[i], &cell->value);
        bytes += cell->name_len + ots_val_size(&row->pk[i]);
    }
    for (i = 0; i < row->col_count; i++) {
        const struct ots_col *col = &row->cols[i];

        if (!wanted(o, col))
            continue;
        for (k = 0, kept = 0; k < col->count; k++) {
            const struct ots_ver *v = &col->vers[k];

            if (o->has_range && (v->ts < o->start || v->ts >= o->end))
                continue;
            if (o->max_versions > 0 && kept >= (uint32_t)o->max_versions)
                break;
            if (!(cell = cell_add(cb)))
                return -1;
            cell->name = col->name;
            cell->name_len = col->name_len;
            cell->has_value = true;
            ots_val_to_pb(&v->v, &cell->value);
            cell->has_ts = true;
            cell->ts = v->ts;
            bytes += col->name_len + ots_val_size(&v->v);
            kept++;
            attrs++;
        }
    }
    if (o->column_count && !attrs) {
        cb->count = start;
        return 0;
    }
    if (cb->row_count == cb->row_cap) {
        n = cb->row_cap ? cb->row_cap * 2 : 16;
        if (!(nr = realloc(cb->rows, n * sizeof(*nr))))
            return -1;
        cb->rows = nr;
        if (!(nf = realloc(cb->first, n * sizeof(*nf))))
            return -1;
        cb->first = nf;
        cb->row_cap = n;
    }
    memset(&cb->rows[cb->row_count], 0, sizeof(*cb->rows));
    cb->rows[cb->row_count].pk_count = row->pk_count;
    cb->rows[cb->row_count].attr_count = attrs;
    cb->first[cb->row_count] = start;
    cb->row_count++;
    *ret_bytes += bytes;
    return 1;
}

/* Encodes rows (one header for all) into *ret (new); a failure leaves *ret as it was. */
static int
encode_rows(const struct pb_row *rows, size_t count, ProtobufCBinaryData *ret)
{
    struct pb_buf b;

    plainbuffer_buf_init(&b, 0);
    if (plainbuffer_encode_rows(&b, rows, count, NULL) < 0) {
        plainbuffer_buf_fini(&b);
        return -1;
    }
    ret->data = b.data;
    ret->len = b.len;
    return 0;
}

/* Encodes the rows of cb into *ret (new). */
static int
cellbuf_encode(struct cellbuf *cb, ProtobufCBinaryData *ret)
{
    size_t i;

    for (i = 0; i < cb->row_count; i++) {
        /* pointers are set only now: the cell array may have moved while it grew */
        cb->rows[i].pk = &cb->cells[cb->first[i]];
        cb->rows[i].attrs = &cb->cells[cb->first[i] + cb->rows[i].pk_count];
    }
    ret->data = NULL;
    ret->len = 0;
    if (!cb->row_count)
        return 0;
    return encode_rows(cb->rows, cb->row_count, ret);
}

/* A key-only row (split points, next_start_primary_key, RT_PK) into *ret (new). */
static int
encode_key(const struct ots_table *t, const struct ots_val *key, ProtobufCBinaryData *ret)
{
    struct pb_cell cells[OTS_MAX_PK];
    struct pb_row row;
    unsigned i;

    memset(cells, 0, sizeof(cells));
    memset(&row, 0, sizeof(row));
    for (i = 0; i < t->pk_count; i++) {
        cells[i].name = t->pk_names[i];
        cells[i].name_len = strlen(t->pk_names[i]);
        cells[i].has_value = true;
        ots_val_to_pb(&key[i], &cells[i].value);
    }
    row.pk = cells;
    row.pk_count = t->pk_count;
    return encode_rows(&row, 1, ret);
}

/* --- filters and conditions --- */

static int
compare_pb(const struct ots_val *a, const struct pb_value *b, bool *ret_comparable)
{
    struct ots_val bv;

    memset(&bv, 0, sizeof(bv));
    bv.type = b->type;
    if (b->type == PB_STRING || b->type == PB_BINARY) {
        bv.u.s.p = (unsigned char *)b->u.bytes.ptr;
        bv.u.s.len = b->u.bytes.len;
    } else if (b->type == PB_DOUBLE) {
        bv.u.d = b->u.d;
    } else if (b->type == PB_BOOLEAN) {
        bv.u.b = b->u.b;
    } else {
        bv.u.i = b->u.i;
    }
    *ret_comparable = a->type == b->type;
    return ots_val_cmp(a, &bv);
}

static bool
compare_ok(int comparator, int c)
{
    switch (comparator) {
    case OTSYNC__OTS__COMPARATOR_TYPE__CT_EQUAL: return c == 0;
    case OTSYNC__OTS__COMPARATOR_TYPE__CT_NOT_EQUAL: return c != 0;
    case OTSYNC__OTS__COMPARATOR_TYPE__CT_GREATER_THAN: return c > 0;
    case OTSYNC__OTS__COMPARATOR_TYPE__CT_GREATER_EQUAL: return c >= 0;
    case OTSYNC__OTS__COMPARATOR_TYPE__CT_LESS_THAN: return c < 0;
    case OTSYNC__OTS__COMPARATOR_TYPE__CT_LESS_EQUAL: return c <= 0;
    default: return false;
    }
}

/* Evaluates a serialized Filter on row (NULL: the row does not exist). 1 pass, 0 fail, -1
 * malformed (with why in e). */
static int
filter_eval(const uint8_t *buf, size_t len, const struct ots_row *row, int depth,
            struct row_err *e)
{
    Otsync__Ots__Filter *f;
    int rc = 1;

    if (depth > MAX_FILTER_DEPTH)
        return row_fail(e, 400, "OTSParameterInvalid", "filters nest too deep");
    if (!(f = otsync__ots__filter__unpack(NULL, len, buf)))
        return row_fail(e, 400, "OTSParameterInvalid", "the filter does not decode");
    if (f->type == OTSYNC__OTS__FILTER_TYPE__FT_SINGLE_COLUMN_VALUE) {
        Otsync__Ots__SingleColumnValueFilter *s =
            otsync__ots__single_column_value_filter__unpack(NULL, f->filter.len, f->filter.data);
        struct pb_value want;
        struct otsync_err err;
        const struct ots_col *col;
        bool comparable;
        uint32_t k;

        if (!s || plainbuffer_decode_value(s->column_value.data, s->column_value.len, &want,
                                           &err) < 0) {
            rc = row_fail(e, 400, "OTSParameterInvalid", "a column condition does not decode");
        } else {
            col = row ? ots_row_col(row, s->column_name, strlen(s->column_name)) : NULL;
            if (s->comparator == OTSYNC__OTS__COMPARATOR_TYPE__CT_EXIST)
                rc = col != NULL;
            else if (s->comparator == OTSYNC__OTS__COMPARATOR_TYPE__CT_NOT_EXIST)
                rc = col == NULL;
            else if (!col)
                rc = !s->filter_if_missing;
            else {
                rc = 0;
                for (k = 0; k < col->count && (k == 0 || !s->latest_version_only); k++) {
                    int cmp = compare_pb(&col->vers[k].v, &want, &comparable);

                    if (comparable ? compare_ok(s->comparator, cmp)
                                   : s->comparator == OTSYNC__OTS__COMPARATOR_TYPE__CT_NOT_EQUAL) {
                        rc = 1;
                        break;
                    }
                }
            }
        }
        if (s)
            otsync__ots__single_column_value_filter__free_unpacked(s, NULL);
    } else if (f->type == OTSYNC__OTS__FILTER_TYPE__FT_COMPOSITE_COLUMN_VALUE) {
        Otsync__Ots__CompositeColumnValueFilter *cf =
            otsync__ots__composite_column_value_filter__unpack(NULL, f->filter.len,
                                                                f->filter.data);
        size_t i;
        int sub;

        if (!cf || !cf->n_sub_filters) {
            rc = row_fail(e, 400, "OTSParameterInvalid", "a composite filter needs filters");
        } else if (cf->combinator == OTSYNC__OTS__LOGICAL_OPERATOR__LO_NOT) {
            sub = cf->n_sub_filters == 1 ? 0 : -1;
            if (sub < 0)
                rc = row_fail(e, 400, "OTSParameterInvalid", "NOT takes one filter");
            else {
                Otsync__Ots__Filter *sf = cf->sub_filters[0];
                size_t n = protobuf_c_message_get_packed_size(&sf->base);
                uint8_t *tmp = malloc(n ? n : 1);

                sub = tmp ? (protobuf_c_message_pack(&sf->base, tmp),
                             filter_eval(tmp, n, row, depth + 1, e)) : -1;
                free(tmp);
                rc = sub < 0 ? -1 : !sub;
            }
        } else {
            bool and = cf->combinator == OTSYNC__OTS__LOGICAL_OPERATOR__LO_AND;

            rc = and ? 1 : 0;
            for (i = 0; i < cf->n_sub_filters; i++) {
                Otsync__Ots__Filter *sf = cf->sub_filters[i];
                size_t n = protobuf_c_message_get_packed_size(&sf->base);
                uint8_t *tmp = malloc(n ? n : 1);

                sub = tmp ? (protobuf_c_message_pack(&sf->base, tmp),
                             filter_eval(tmp, n, row, depth + 1, e)) : -1;
                free(tmp);
                if (sub < 0) {
                    rc = -1;
                    break;
                }
                if (and && !sub)
                    rc = 0;
                if (!and && sub)
                    rc = 1;
            }
        }
        if (cf)
            otsync__ots__composite_column_value_filter__free_unpacked(cf, NULL);
    }
    /* FT_COLUMN_PAGINATION limits columns, never rows: every row passes */
    otsync__ots__filter__free_unpacked(f, NULL);
    return rc;
}

/* Row existence and column condition against the existing row (NULL: none). */
static int
check_condition(const Otsync__Ots__Condition *cond, const struct ots_row *row,
                struct row_err *e)
{
    int rc;

    if (!cond)
        return row_fail(e, 400, "OTSParameterInvalid", "condition is required");
    if (cond->row_existence == OTSYNC__OTS__ROW_EXISTENCE_EXPECTATION__EXPECT_EXIST && !row)
        return row_fail(e, 403, "OTSConditionCheckFail", "Condition check failed.");
    if (cond->row_existence == OTSYNC__OTS__ROW_EXISTENCE_EXPECTATION__EXPECT_NOT_EXIST && row)
        return row_fail(e, 403, "OTSConditionCheckFail", "Condition check failed.");
    if (cond->has_column_condition && cond->column_condition.len) {
        rc = filter_eval(cond->column_condition.data, cond->column_condition.len, row, 0, e);
        if (rc < 0)
            return -1;
        if (!rc)
            return row_fail(e, 403, "OTSConditionCheckFail", "Condition check failed.");
    }
    return 0;
}

/* --- writes --- */

/* The values of a new row's key: copied, with an auto-increment placeholder filled in. */
static int
key_copy(struct ots_table *t, const struct ots_val *key, struct ots_row *row)
{
    struct pb_value pv;
    unsigned i;

    row->pk_count = t->pk_count;
    for (i = 0; i < t->pk_count; i++) {
        if (key[i].type == PB_AUTO_INCREMENT) {
            row->pk[i].type = PB_INTEGER;
            row->pk[i].u.i = ++t->auto_inc;
            continue;
        }
        ots_val_to_pb(&key[i], &pv);
        if (ots_val_from_pb(&row->pk[i], &pv) < 0)
            return -1;
    }
    return 0;
}

static void
change_key(struct ots_table *t, const struct ots_row *row, struct pb_cell *cells)
{
    unsigned i;

    for (i = 0; i < t->pk_count; i++) {
        memset(&cells[i], 0, sizeof(cells[i]));
        cells[i].name = t->pk_names[i];
        cells[i].name_len = strlen(t->pk_names[i]);
        cells[i].has_value = true;
        ots_val_to_pb(&row->pk[i], &cells[i].value);
    }
}

/*
 * One write: type 1 put, 2 update, 3 delete, of the decoded rowbuf under cond. Fills
 * *ret_row (RT_PK: the key written; else left empty). *ret_bytes: the data written.
 */
static int
write_row(struct ots_ctx *c, struct ots_table *t, int type, const ProtobufCBinaryData *rowbuf,
          const Otsync__Ots__Condition *cond, const Otsync__Ots__ReturnContent *rc_want,
          ProtobufCBinaryData *ret_row, size_t *ret_bytes, struct row_err *e)
{
    struct ots_val key[OTS_MAX_PK];
    struct pb_cell change_cells[OTS_MAX_PK + MAX_COLUMNS_WRITTEN];
    struct pb_rows rows;
    struct pb_row change;
    struct ots_row *row, *fresh = NULL;
    struct ots_pos pos;
    bool has_auto = false;
    size_t i, n_change = 0;
    int rc = -1;

    ret_row->data = NULL;
    ret_row->len = 0;
    *ret_bytes = 0;
    memset(&rows, 0, sizeof(rows));
    if (decode_one(rowbuf, &rows, e) < 0)
        return -1;
    if (key_of(t, &rows.rows[0], false, type == 1, key, e) < 0)
        goto out;
    for (i = 0; i < t->pk_count; i++)
        has_auto |= key[i].type == PB_AUTO_INCREMENT;
    if (rows.rows[0].attr_count > MAX_COLUMNS_WRITTEN) {
        row_fail(e, 400, "OTSOutOfColumnCountLimit", "The number of columns exceeds %d",
                 MAX_COLUMNS_WRITTEN);
        goto out;
    }
    if (type == 3 && !rows.rows[0].deleted && rows.rows[0].attr_count) {
        row_fail(e, 400, "OTSParameterInvalid", "a delete row carries only its key");
        goto out;
    }
    row = has_auto ? NULL : ots_index_find(&t->index, key, t->pk_count, &pos);
    if (check_condition(cond, row, e) < 0)
        goto out;
    /* every cell is checked before any is applied: a refused update changes nothing */
    for (i = 0; i < rows.rows[0].attr_count; i++) {
        const struct pb_cell *cell = &rows.rows[0].attrs[i];
        const struct ots_col *col;

        if (cell->op == PB_OP_DELETE_ALL || cell->op == PB_OP_DELETE_ONE) {
            if (type == 1) {
                row_fail(e, 400, "OTSParameterInvalid", "a put row cannot delete columns");
                goto out;
            }
            continue;
        }
        if (!cell->has_value) {
            row_fail(e, 400, "OTSParameterInvalid", "column %.*s has no value",
                     (int)cell->name_len, cell->name);
            goto out;
        }
        if (cell->op == PB_OP_INCREMENT
            && (cell->value.type != PB_INTEGER
                || ((col = row ? ots_row_col(row, cell->name, cell->name_len) : NULL)
                    && col->vers[0].v.type != PB_INTEGER))) {
            row_fail(e, 400, "OTSParameterInvalid", "increment of %.*s needs integers",
                     (int)cell->name_len, cell->name);
            goto out;
        }
    }
    if (type == 3) {
        if (row) {
            *ret_bytes = row->size;
            ots_row_free(ots_index_remove(&t->index, &pos));
        }
        memset(&change, 0, sizeof(change));
        change.pk = rows.rows[0].pk;
        change.pk_count = rows.rows[0].pk_count;
        change.deleted = true;
        ots_stream_append(t, OTSYNC__OTS__ACTION_TYPE__DELETE_ROW, &change, c->now_ms * 1000);
        rc = 0;
        goto out;
    }
    if (!row || type == 1) {
        /* a put replaces the whole row; an update of a missing row creates it */
        if (!(fresh = calloc(1, sizeof(*fresh))) || key_copy(t, key, fresh) < 0) {
            ots_row_free(fresh);
            row_fail(e, 500, "OTSInternalServerError", "out of memory");
            goto out;
        }
    }
    {
        struct ots_row *target = fresh ? fresh : row;

        if (!fresh)
            t->index.bytes -= row->size;
        change_key(t, target, change_cells);
        n_change = t->pk_count;
        for (i = 0; i < rows.rows[0].attr_count; i++) {
            const struct pb_cell *cell = &rows.rows[0].attrs[i];
            struct pb_cell *out = &change_cells[n_change++];
            int64_t ts = cell->has_ts ? cell->ts : c->now_ms;
            struct ots_val v;

            *out = *cell;
            if (cell->op == PB_OP_DELETE_ALL) {
                ots_row_delete_col(target, cell->name, cell->name_len);
                out->has_ts = false;
                continue;
            }
            if (cell->op == PB_OP_DELETE_ONE) {
                ots_row_delete_version(target, cell->name, cell->name_len, cell->ts);
                continue;
            }
            if (cell->op == PB_OP_INCREMENT) {
                struct ots_col *col = ots_row_col(target, cell->name, cell->name_len);

                v.type = PB_INTEGER;
                v.u.i = cell->value.u.i + (col ? col->vers[0].v.u.i : 0);
                ts = c->now_ms;
                /* the stream shows the value the increment produced */
                out->op = PB_OP_PUT;
                ots_val_to_pb(&v, &out->value);
            } else if (ots_val_from_pb(&v, &cell->value) < 0) {
                row_fail(e, 500, "OTSInternalServerError", "out of memory");
                break;
            }
            out->has_ts = true;
            out->ts = ts;
            if (ots_row_put_cell(target, cell->name, cell->name_len, ts, &v,
                                 t->max_versions) < 0) {
                ots_val_free(&v);
                row_fail(e, 500, "OTSInternalServerError", "out of memory");
                break;
            }
        }
        ots_row_resize(target);
        if (!fresh)
            t->index.bytes += row->size;
        if (e->status) {
            /* only memory runs out here, after the checks above */
            ots_row_free(fresh);
            goto out;
        }
        if (fresh) {
            if (row) {
                ots_row_free(ots_index_remove(&t->index, &pos));
            }
            ots_index_find(&t->index, fresh->pk, t->pk_count, &pos);
            if (ots_index_insert(&t->index, &pos, fresh) < 0) {
                ots_row_free(fresh);
                row_fail(e, 500, "OTSInternalServerError", "out of memory");
                goto out;
            }
        }
        *ret_bytes = target->size;
        memset(&change, 0, sizeof(change));
        change.pk = change_cells;
        change.pk_count = t->pk_count;
        change.attrs = change_cells + t->pk_count;
        change.attr_count = n_change - t->pk_count;
        ots_stream_append(t, type == 1 ? OTSYNC__OTS__ACTION_TYPE__PUT_ROW
                                       : OTSYNC__OTS__ACTION_TYPE__UPDATE_ROW,
                          &change, c->now_ms * 1000);
        if (rc_want && rc_want->has_return_type
            && rc_want->return_type == OTSYNC__OTS__RETURN_TYPE__RT_PK
            && encode_key(t, target->pk, ret_row) < 0) {
            row_fail(e, 500, "OTSInternalServerError", "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    plainbuffer_rows_fini(&rows);
    return rc;
}

static Otsync__Ots__ConsumedCapacity *
consumed(Otsync__Ots__ConsumedCapacity *cc, Otsync__Ots__CapacityUnit *cu, size_t rd, size_t wr)
{
    ots_consumed(cc, cu, rd, wr);
    return cc;
}

static void
single_write(struct ots_ctx *c, int type, const char *table, const ProtobufCBinaryData *rowbuf,
             const Otsync__Ots__Condition *cond, const Otsync__Ots__ReturnContent *rc_want)
{
    Otsync__Ots__PutRowResponse resp = OTSYNC__OTS__PUT_ROW_RESPONSE__INIT;
    Otsync__Ots__ConsumedCapacity cc;
    Otsync__Ots__CapacityUnit cu;
    struct ots_table *t = ots_table_get(c, table);
    struct row_err e = {0};
    ProtobufCBinaryData row;
    size_t bytes;

    if (!t)
        return;
    if (write_row(c, t, type, rowbuf, cond, rc_want, &row, &bytes, &e) < 0) {
        err_to_ctx(c, &e);
        return;
    }
    /* PutRow, UpdateRow and DeleteRow answers share their layout: consumed, then row */
    resp.consumed = consumed(&cc, &cu, 0, bytes);
    if (row.len) {
        resp.has_row = true;
        resp.row = row;
    }
    ots_reply(c, &resp.base);
    free(row.data);
}

void
ots_op_put_row(struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__PutRowRequest *r = otsync__ots__put_row_request__unpack(NULL, len, body);

    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the PutRowRequest does not decode");
        return;
    }
    single_write(c, 1, r->table_name, &r->row, r->condition, r->return_content);
    otsync__ots__put_row_request__free_unpacked(r, NULL);
}

void
ots_op_update_row(struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__UpdateRowRequest *r = otsync__ots__update_row_request__unpack(NULL, len, body);

    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the UpdateRowRequest does not decode");
        return;
    }
    single_write(c, 2, r->table_name, &r->row_change, r->condition, r->return_content);
    otsync__ots__update_row_request__free_unpacked(r, NULL);
}

void
ots_op_delete_row(struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__DeleteRowRequest *r = otsync__ots__delete_row_request__unpack(NULL, len, body);

    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the DeleteRowRequest does not decode");
        return;
    }
    single_write(c, 3, r->table_name, &r->primary_key, r->condition, r->return_content);
    otsync__ots__delete_row_request__free_unpacked(r, NULL);
}

void
ots_op_batch_write_row(struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__BatchWriteRowRequest *r =
        otsync__ots__batch_write_row_request__unpack(NULL, len, body);
    Otsync__Ots__BatchWriteRowResponse resp = OTSYNC__OTS__BATCH_WRITE_ROW_RESPONSE__INIT;
    Otsync__Ots__TableInBatchWriteRowResponse *tables = NULL, **tptr = NULL;
    Otsync__Ots__RowInBatchWriteRowResponse *rows = NULL, **rptr = NULL;
    struct row_side *side = NULL;
    size_t i, k, total = 0, at = 0, bytes;

    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the BatchWriteRowRequest does not decode");
        return;
    }
    for (i = 0; i < r->n_tables; i++)
        total += r->tables[i]->n_rows;
    if (total > MAX_BATCH_WRITE || total == 0) {
        ots_fail(c, 400, "OTSParameterInvalid", "Rows count exceeds the upper limit: %d",
                 MAX_BATCH_WRITE);
        goto out;
    }
    for (i = 0; i < r->n_tables; i++)
        if (!ots_table_get(c, r->tables[i]->table_name))
            goto out;
    tables = calloc(r->n_tables, sizeof(*tables));
    tptr = calloc(r->n_tables, sizeof(*tptr));
    rows = calloc(total, sizeof(*rows));
    rptr = calloc(total, sizeof(*rptr));
    side = calloc(total, sizeof(*side));
    if (!tables || !tptr || !rows || !rptr || !side) {
        ots_fail(c, 500, "OTSInternalServerError", "out of memory");
        goto out;
    }
    for (i = 0; i < r->n_tables; i++) {
        Otsync__Ots__TableInBatchWriteRowRequest *tr = r->tables[i];
        struct ots_table *t = ots_table_find(c->inst, tr->table_name);

        otsync__ots__table_in_batch_write_row_response__init(&tables[i]);
        tables[i].table_name = tr->table_name;
        tables[i].rows = &rptr[at];
        tables[i].n_rows = tr->n_rows;
        tptr[i] = &tables[i];
        for (k = 0; k < tr->n_rows; k++, at++) {
            Otsync__Ots__RowInBatchWriteRowRequest *rr = tr->rows[k];
            ProtobufCBinaryData ret = {0, NULL};

            otsync__ots__row_in_batch_write_row_response__init(&rows[at]);
            rptr[at] = &rows[at];
            if (c->partial && at % 2 == 1) {
                /* an injected partial failure: every other row is refused, retryably */
                row_fail(&side[at].rerr, 503, "OTSServerBusy", "Server is busy.");
            } else if (write_row(c, t, (int)rr->type, &rr->row_change, rr->condition,
                                 rr->return_content, &ret, &bytes, &side[at].rerr) == 0) {
                rows[at].is_ok = true;
                rows[at].consumed = consumed(&side[at].cc, &side[at].cu, 0, bytes);
                if (ret.len) {
                    rows[at].has_row = true;
                    rows[at].row = ret;
                }
                continue;
            }
            rows[at].is_ok = false;
            rows[at].error = err_to_pb(&side[at].rerr, &side[at].err);
        }
    }
    resp.tables = tptr;
    resp.n_tables = r->n_tables;
    ots_reply(c, &resp.base);
out:
    for (i = 0; rows && i < total; i++)
        free(rows[i].row.data);
    free(tables);
    free(tptr);
    free(rows);
    free(rptr);
    free(side);
    otsync__ots__batch_write_row_request__free_unpacked(r, NULL);
}

/* --- reads --- */

static int
read_opts_of(struct read_opts *o, char **cols, size_t n, const Otsync__Ots__TimeRange *tr,
             bool has_mv, int32_t mv, bool has_filter, const ProtobufCBinaryData *filter,
             struct row_err *e)
{
    memset(o, 0, sizeof(*o));
    o->columns = cols;
    o->column_count = n;
    if (n > 128)
        return row_fail(e, 400, "OTSParameterInvalid", "columns_to_get: at most 128 names");
    if (!tr && !has_mv)
        return row_fail(e, 400, "OTSParameterInvalid", "give max_versions or time_range");
    if (has_mv) {
        if (mv <= 0)
            return row_fail(e, 400, "OTSParameterInvalid", "max_versions must be positive");
        o->max_versions = mv;
    }
    if (tr) {
        o->has_range = true;
        if (tr->has_specific_time) {
            o->start = tr->specific_time;
            o->end = tr->specific_time + 1;
        } else {
            o->start = tr->has_start_time ? tr->start_time : 0;
            o->end = tr->has_end_time ? tr->end_time : INT64_MAX;
            if (o->start >= o->end)
                return row_fail(e, 400, "OTSParameterInvalid", "time_range: start must be "
                                "before end");
        }
    }
    o->filter = has_filter && filter->len ? filter : NULL;
    return 0;
}

/* Reads one key into cb (GetRow, BatchGetRow). */
static int
read_one(struct ots_table *t, const ProtobufCBinaryData *keybuf, const struct read_opts *o,
         struct cellbuf *cb, size_t *ret_bytes, struct row_err *e)
{
    struct ots_val key[OTS_MAX_PK];
    struct pb_rows rows;
    struct ots_row *row;
    struct ots_pos pos;
    int rc = -1, pass = 1;

    memset(&rows, 0, sizeof(rows));
    if (decode_one(keybuf, &rows, e) < 0)
        return -1;
    if (key_of(t, &rows.rows[0], false, false, key, e) < 0)
        goto out;
    row = ots_index_find(&t->index, key, t->pk_count, &pos);
    if (row && o->filter && (pass = filter_eval(o->filter->data, o->filter->len, row, 0, e)) < 0)
        goto out;
    if (row && pass && row_add(cb, t, row, o, ret_bytes) < 0) {
        row_fail(e, 500, "OTSInternalServerError", "out of memory");
        goto out;
    }
    rc = 0;
out:
    plainbuffer_rows_fini(&rows);
    return rc;
}

void
ots_op_get_row(struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__GetRowRequest *r = otsync__ots__get_row_request__unpack(NULL, len, body);
    Otsync__Ots__GetRowResponse resp = OTSYNC__OTS__GET_ROW_RESPONSE__INIT;
    Otsync__Ots__ConsumedCapacity cc;
    Otsync__Ots__CapacityUnit cu;
    struct cellbuf cb = {0};
    struct row_err e = {0};
    struct read_opts o;
    struct ots_table *t;
    size_t bytes = 0;

    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the GetRowRequest does not decode");
        return;
    }
    if (!(t = ots_table_get(c, r->table_name)))
        goto out;
    if (read_opts_of(&o, r->columns_to_get, r->n_columns_to_get, r->time_range,
                     r->has_max_versions, r->max_versions, r->has_filter, &r->filter, &e) < 0
        || read_one(t, &r->primary_key, &o, &cb, &bytes, &e) < 0
        || cellbuf_encode(&cb, &resp.row) < 0) {
        if (!e.status)
            row_fail(&e, 500, "OTSInternalServerError", "out of memory");
        err_to_ctx(c, &e);
        goto out;
    }
    resp.consumed = consumed(&cc, &cu, bytes, 0);
    ots_reply(c, &resp.base);
    free(resp.row.data);
out:
    cellbuf_fini(&cb);
    otsync__ots__get_row_request__free_unpacked(r, NULL);
}

void
ots_op_batch_get_row(struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__BatchGetRowRequest *r = otsync__ots__batch_get_row_request__unpack(NULL, len,
                                                                                    body);
    Otsync__Ots__BatchGetRowResponse resp = OTSYNC__OTS__BATCH_GET_ROW_RESPONSE__INIT;
    Otsync__Ots__TableInBatchGetRowResponse *tables = NULL, **tptr = NULL;
    Otsync__Ots__RowInBatchGetRowResponse *rows = NULL, **rptr = NULL;
    struct row_side *side = NULL;
    size_t i, k, total = 0, at = 0;

    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the BatchGetRowRequest does not decode");
        return;
    }
    for (i = 0; i < r->n_tables; i++)
        total += r->tables[i]->n_primary_key;
    if (total > MAX_BATCH_GET || total == 0) {
        ots_fail(c, 400, "OTSParameterInvalid", "Rows count exceeds the upper limit: %d",
                 MAX_BATCH_GET);
        goto out;
    }
    for (i = 0; i < r->n_tables; i++)
        if (!ots_table_get(c, r->tables[i]->table_name))
            goto out;
    tables = calloc(r->n_tables, sizeof(*tables));
    tptr = calloc(r->n_tables, sizeof(*tptr));
    rows = calloc(total, sizeof(*rows));
    rptr = calloc(total, sizeof(*rptr));
    side = calloc(total, sizeof(*side));
    if (!tables || !tptr || !rows || !rptr || !side) {
        ots_fail(c, 500, "OTSInternalServerError", "out of memory");
        goto out;
    }
    for (i = 0; i < r->n_tables; i++) {
        Otsync__Ots__TableInBatchGetRowRequest *tr = r->tables[i];
        struct ots_table *t = ots_table_find(c->inst, tr->table_name);
        struct read_opts o;
        struct row_err oe = {0};
        bool opts_ok = read_opts_of(&o, tr->columns_to_get, tr->n_columns_to_get,
                                    tr->time_range, tr->has_max_versions, tr->max_versions,
                                    tr->has_filter, &tr->filter, &oe) == 0;

        otsync__ots__table_in_batch_get_row_response__init(&tables[i]);
        tables[i].table_name = tr->table_name;
        tables[i].rows = &rptr[at];
        tables[i].n_rows = tr->n_primary_key;
        tptr[i] = &tables[i];
        for (k = 0; k < tr->n_primary_key; k++, at++) {
            struct cellbuf cb = {0};
            size_t bytes = 0;

            otsync__ots__row_in_batch_get_row_response__init(&rows[at]);
            rptr[at] = &rows[at];
            if (!opts_ok)
                side[at].rerr = oe;
            else if (read_one(t, &tr->primary_key[k], &o, &cb, &bytes, &side[at].rerr) == 0
                     && cellbuf_encode(&cb, &rows[at].row) == 0) {
                rows[at].is_ok = true;
                rows[at].has_row = true;
                rows[at].consumed = consumed(&side[at].cc, &side[at].cu, bytes, 0);
                cellbuf_fini(&cb);
                continue;
            }
            cellbuf_fini(&cb);
            if (!side[at].rerr.status)
                row_fail(&side[at].rerr, 500, "OTSInternalServerError", "out of memory");
            rows[at].is_ok = false;
            rows[at].error = err_to_pb(&side[at].rerr, &side[at].err);
        }
    }
    resp.tables = tptr;
    resp.n_tables = r->n_tables;
    ots_reply(c, &resp.base);
out:
    for (i = 0; rows && i < total; i++)
        free(rows[i].row.data);
    free(tables);
    free(tptr);
    free(rows);
    free(rptr);
    free(side);
    otsync__ots__batch_get_row_request__free_unpacked(r, NULL);
}

void
ots_op_get_range(struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__GetRangeRequest *r = otsync__ots__get_range_request__unpack(NULL, len, body);
    Otsync__Ots__GetRangeResponse resp = OTSYNC__OTS__GET_RANGE_RESPONSE__INIT;
    Otsync__Ots__ConsumedCapacity cc;
    Otsync__Ots__CapacityUnit cu;
    struct ots_val start[OTS_MAX_PK], end[OTS_MAX_PK];
    struct pb_rows srows, erows;
    struct cellbuf cb = {0};
    struct row_err e = {0};
    struct read_opts o;
    struct ots_table *t;
    struct ots_pos pos;
    struct ots_row *row;
    size_t bytes = 0, limit;
    bool forward, more;
    int pass;

    memset(&srows, 0, sizeof(srows));
    memset(&erows, 0, sizeof(erows));
    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the GetRangeRequest does not decode");
        return;
    }
    if (!(t = ots_table_get(c, r->table_name)))
        goto out;
    forward = r->direction == OTSYNC__OTS__DIRECTION__FORWARD;
    limit = r->has_limit ? (r->limit > 0 ? (size_t)r->limit : 0) : MAX_RANGE_ROWS;
    if (r->has_limit && r->limit <= 0) {
        ots_fail(c, 400, "OTSParameterInvalid", "limit must be positive");
        goto out;
    }
    if (limit > MAX_RANGE_ROWS)
        limit = MAX_RANGE_ROWS;
    if (read_opts_of(&o, r->columns_to_get, r->n_columns_to_get, r->time_range,
                     r->has_max_versions, r->max_versions, r->has_filter, &r->filter, &e) < 0
        || decode_one(&r->inclusive_start_primary_key, &srows, &e) < 0
        || decode_one(&r->exclusive_end_primary_key, &erows, &e) < 0
        || key_of(t, &srows.rows[0], true, false, start, &e) < 0
        || key_of(t, &erows.rows[0], true, false, end, &e) < 0) {
        err_to_ctx(c, &e);
        goto out;
    }
    if (forward ? ots_key_cmp(start, end, t->pk_count) > 0
                : ots_key_cmp(start, end, t->pk_count) < 0) {
        ots_fail(c, 400, "OTSParameterInvalid", "Begin key must less than end key in FORWARD");
        goto out;
    }
    more = ots_index_seek(&t->index, start, t->pk_count, forward, &pos);
    while (more) {
        row = ots_index_at(&t->index, &pos);
        if (forward ? ots_key_cmp(row->pk, end, t->pk_count) >= 0
                    : ots_key_cmp(row->pk, end, t->pk_count) <= 0) {
            more = false;
            break;
        }
        if (cb.row_count >= limit || bytes >= MAX_RANGE_BYTES)
            break;      /* row is the first one not returned: the next page starts there */
        pass = o.filter ? filter_eval(o.filter->data, o.filter->len, row, 0, &e) : 1;
        if (pass < 0) {
            err_to_ctx(c, &e);
            goto out;
        }
        if (pass && row_add(&cb, t, row, &o, &bytes) < 0) {
            ots_fail(c, 500, "OTSInternalServerError", "out of memory");
            goto out;
        }
        more = forward ? ots_index_next(&t->index, &pos) : ots_index_prev(&t->index, &pos);
    }
    if (cellbuf_encode(&cb, &resp.rows) < 0
        || (more && encode_key(t, ots_index_at(&t->index, &pos)->pk,
                               &resp.next_start_primary_key) < 0)) {
        ots_fail(c, 500, "OTSInternalServerError", "out of memory");
        goto out;
    }
    resp.has_next_start_primary_key = more;
    resp.consumed = consumed(&cc, &cu, bytes, 0);
    ots_reply(c, &resp.base);
    free(resp.rows.data);
    free(resp.next_start_primary_key.data);
out:
    cellbuf_fini(&cb);
    plainbuffer_rows_fini(&srows);
    plainbuffer_rows_fini(&erows);
    otsync__ots__get_range_request__free_unpacked(r, NULL);
}

void
ots_op_split_points(struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__ComputeSplitPointsBySizeRequest *r =
        otsync__ots__compute_split_points_by_size_request__unpack(NULL, len, body);
    Otsync__Ots__ComputeSplitPointsBySizeResponse resp =
        OTSYNC__OTS__COMPUTE_SPLIT_POINTS_BY_SIZE_RESPONSE__INIT;
    Otsync__Ots__PrimaryKeySchema schema[OTS_MAX_PK], *sptr[OTS_MAX_PK];
    Otsync__Ots__ComputeSplitPointsBySizeResponse__SplitLocation loc, *lptr = &loc;
    Otsync__Ots__ConsumedCapacity cc;
    Otsync__Ots__CapacityUnit cu;
    ProtobufCBinaryData *points = NULL, *np;
    struct ots_table *t;
    struct ots_pos pos;
    struct ots_row *row;
    uint64_t unit, target, acc = 0;
    size_t n = 0, cap = 0, i, limit;
    bool more;

    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the ComputeSplitPointsBySizeRequest does not "
                 "decode");
        return;
    }
    if (!(t = ots_table_get(c, r->table_name)))
        goto out;
    unit = r->has_split_size_unit_in_byte && r->split_size_unit_in_byte > 0
           ? (uint64_t)r->split_size_unit_in_byte : 100ull * 1024 * 1024;
    if (r->split_size <= 0) {
        ots_fail(c, 400, "OTSParameterInvalid", "split_size must be positive");
        goto out;
    }
    target = (uint64_t)r->split_size * unit;
    limit = r->has_split_point_limit && r->split_point_limit > 0 ? (size_t)r->split_point_limit
                                                                  : 10000;
    /* cut by data size, as the service does: a hot range of big rows gets more splits */
    more = t->index.rows && ots_index_seek(&t->index, (struct ots_val[OTS_MAX_PK]){
        {.type = PB_INF_MIN}, {.type = PB_INF_MIN}, {.type = PB_INF_MIN},
        {.type = PB_INF_MIN}}, t->pk_count, true, &pos);
    while (more) {
        row = ots_index_at(&t->index, &pos);
        if (acc >= target && n < limit) {
            if (n == cap) {
                if (!(np = realloc(points, (cap ? cap * 2 : 16) * sizeof(*np))))
                    break;
                points = np;
                cap = cap ? cap * 2 : 16;
            }
            if (encode_key(t, row->pk, &points[n]) < 0)
                break;
            n++;
            acc = 0;
        }
        acc += row->size;
        more = ots_index_next(&t->index, &pos);
    }
    for (i = 0; i < t->pk_count; i++) {
        otsync__ots__primary_key_schema__init(&schema[i]);
        schema[i].name = t->pk_names[i];
        schema[i].type = (Otsync__Ots__PrimaryKeyType)t->pk_types[i];
        if (t->pk_auto[i]) {
            schema[i].has_option = true;
            schema[i].option = OTSYNC__OTS__PRIMARY_KEY_OPTION__AUTO_INCREMENT;
        }
        sptr[i] = &schema[i];
    }
    otsync__ots__compute_split_points_by_size_response__split_location__init(&loc);
    loc.location = "otsync-emu";
    loc.repeat = (int64_t)n + 1;
    resp.consumed = consumed(&cc, &cu, 0, 0);
    resp.schema = sptr;
    resp.n_schema = t->pk_count;
    resp.split_points = points;
    resp.n_split_points = n;
    resp.locations = &lptr;
    resp.n_locations = 1;
    ots_reply(c, &resp.base);
out:
    for (i = 0; i < n; i++)
        free(points[i].data);
    free(points);
    otsync__ots__compute_split_points_by_size_request__free_unpacked(r, NULL);
}
