/*
 * ots-store.c - the emulated Table Store's rows: values, versions, and the ordered index of a
 * table (see ots.h).
 *
 * The index is a list of chunks of up to OTS_CHUNK rows, each chunk sorted and the chunks in
 * order: finding a key is two binary searches, inserting moves at most one chunk's pointers,
 * and a full chunk splits in two. Good for the millions of rows a benchmark loads, in any
 * order, without a tree's code.
 */
#include <stdlib.h>
#include <string.h>
#include "ots.h"

int
ots_val_cmp(const struct ots_val *a, const struct ots_val *b)
{
    size_t n;
    int c;

    if (a->type == PB_INF_MIN || b->type == PB_INF_MAX)
        return a->type == b->type ? 0 : -1;
    if (a->type == PB_INF_MAX || b->type == PB_INF_MIN)
        return 1;
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;   /* a schema keeps one type per column */
    switch (a->type) {
    case PB_INTEGER:
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    case PB_STRING:
    case PB_BINARY:
        n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
        if ((c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0) != 0)
            return c < 0 ? -1 : 1;
        return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
    case PB_DOUBLE:
        return a->u.d < b->u.d ? -1 : a->u.d > b->u.d;
    case PB_BOOLEAN:
        return (int)a->u.b - (int)b->u.b;
    default:
        return 0;
    }
}

int
ots_key_cmp(const struct ots_val *a, const struct ots_val *b, unsigned count)
{
    unsigned i;
    int c;

    for (i = 0; i < count; i++)
        if ((c = ots_val_cmp(&a[i], &b[i])) != 0)
            return c;
    return 0;
}

void
ots_val_free(struct ots_val *v)
{
    if (v->type == PB_STRING || v->type == PB_BINARY)
        free(v->u.s.p);
    v->type = PB_INTEGER;
    v->u.i = 0;
}

int
ots_val_from_pb(struct ots_val *v, const struct pb_value *p)
{
    v->type = p->type;
    switch (p->type) {
    case PB_STRING:
    case PB_BINARY:
        v->u.s.len = p->u.bytes.len;
        if (!(v->u.s.p = malloc(p->u.bytes.len + 1)))
            return -1;
        if (p->u.bytes.len)
            memcpy(v->u.s.p, p->u.bytes.ptr, p->u.bytes.len);
        v->u.s.p[p->u.bytes.len] = '\0';
        return 0;
    case PB_DOUBLE:
        v->u.d = p->u.d;
        return 0;
    case PB_BOOLEAN:
        v->u.b = p->u.b;
        return 0;
    default:
        v->u.i = p->u.i;
        return 0;
    }
}

void
ots_val_to_pb(const struct ots_val *v, struct pb_value *p)
{
    memset(p, 0, sizeof(*p));
    p->type = v->type;
    switch (v->type) {
    case PB_STRING:
    case PB_BINARY:
        p->u.bytes.ptr = v->u.s.p;
        p->u.bytes.len = v->u.s.len;
        break;
    case PB_DOUBLE:
        p->u.d = v->u.d;
        break;
    case PB_BOOLEAN:
        p->u.b = v->u.b;
        break;
    default:
        p->u.i = v->u.i;
        break;
    }
}

size_t
ots_val_size(const struct ots_val *v)
{
    switch (v->type) {
    case PB_STRING:
    case PB_BINARY:
        return v->u.s.len;
    case PB_BOOLEAN:
        return 1;
    default:
        return 8;
    }
}

void
ots_row_free(struct ots_row *row)
{
    uint32_t i, k;

    if (!row)
        return;
    for (i = 0; i < row->pk_count; i++)
        ots_val_free(&row->pk[i]);
    for (i = 0; i < row->col_count; i++) {
        for (k = 0; k < row->cols[i].count; k++)
            ots_val_free(&row->cols[i].vers[k].v);
        free(row->cols[i].vers);
        free(row->cols[i].name);
    }
    free(row->cols);
    free(row);
}

static int
name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;

    return c ? c : alen < blen ? -1 : alen > blen;
}

/* Binary search for name: the index of the column, or -(insertion point) - 1. */
static long
col_find(const struct ots_row *row, const char *name, size_t len)
{
    long lo = 0, hi = (long)row->col_count - 1, mid;
    int c;

    while (lo <= hi) {
        mid = (lo + hi) / 2;
        c = name_cmp(row->cols[mid].name, row->cols[mid].name_len, name, len);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

struct ots_col *
ots_row_col(const struct ots_row *row, const char *name, size_t len)
{
    long i = col_find(row, name, len);

    return i >= 0 ? &row->cols[i] : NULL;
}

void
ots_row_resize(struct ots_row *row)
{
    size_t size = 0;
    uint32_t i, k;

    for (i = 0; i < row->pk_count; i++)
        size += ots_val_size(&row->pk[i]);
    for (i = 0; i < row->col_count; i++)
        for (k = 0; k < row->cols[i].count; k++)
            size += row->cols[i].name_len + ots_val_size(&row->cols[i].vers[k].v);
    row->size = size;
}

int
ots_row_put_cell(struct ots_row *row, const char *name, size_t len, int64_t ts,
                 struct ots_val *v, int32_t max_versions)
{
    struct ots_col *col, *nc;
    struct ots_ver *nv;
    long i = col_find(row, name, len);
    uint32_t k, at;

    if (i < 0) {
        i = -i - 1;
        if (!(nc = realloc(row->cols, (row->col_count + 1) * sizeof(*nc))))
            return -1;
        row->cols = nc;
        memmove(&row->cols[i + 1], &row->cols[i], (row->col_count - (size_t)i) * sizeof(*nc));
        row->col_count++;
        col = &row->cols[i];
        memset(col, 0, sizeof(*col));
        if (!(col->name = malloc(len + 1))) {
            memmove(&row->cols[i], &row->cols[i + 1],
                    (--row->col_count - (size_t)i) * sizeof(*nc));
            return -1;
        }
        memcpy(col->name, name, len);
        col->name[len] = '\0';
        col->name_len = (uint32_t)len;
    }
    col = &row->cols[i];
    for (k = 0; k < col->count; k++)
        if (col->vers[k].ts == ts) {
            ots_val_free(&col->vers[k].v);
            col->vers[k].v = *v;
            return 0;
        }
    if (!(nv = realloc(col->vers, (col->count + 1) * sizeof(*nv))))
        return -1;
    col->vers = nv;
    for (at = 0; at < col->count && col->vers[at].ts > ts; at++)
        ;
    memmove(&col->vers[at + 1], &col->vers[at], (col->count - at) * sizeof(*nv));
    col->vers[at].ts = ts;
    col->vers[at].v = *v;
    col->count++;
    /* the oldest versions beyond the table's max_versions are gone, as in the service */
    while (max_versions > 0 && col->count > (uint32_t)max_versions)
        ots_val_free(&col->vers[--col->count].v);
    return 0;
}

void
ots_row_delete_col(struct ots_row *row, const char *name, size_t len)
{
    long i = col_find(row, name, len);
    uint32_t k;

    if (i < 0)
        return;
    for (k = 0; k < row->cols[i].count; k++)
        ots_val_free(&row->cols[i].vers[k].v);
    free(row->cols[i].vers);
    free(row->cols[i].name);
    memmove(&row->cols[i], &row->cols[i + 1], (row->col_count - (size_t)i - 1) * sizeof(*row->cols));
    row->col_count--;
}

void
ots_row_delete_version(struct ots_row *row, const char *name, size_t len, int64_t ts)
{
    struct ots_col *col = ots_row_col(row, name, len);
    uint32_t k;

    if (!col)
        return;
    for (k = 0; k < col->count; k++)
        if (col->vers[k].ts == ts) {
            ots_val_free(&col->vers[k].v);
            memmove(&col->vers[k], &col->vers[k + 1], (col->count - k - 1) * sizeof(*col->vers));
            col->count--;
            break;
        }
    if (col->count == 0)
        ots_row_delete_col(row, name, len);
}

/* --- the index --- */

static int
row_key_cmp(const struct ots_row *row, const struct ots_val *key, unsigned count)
{
    return ots_key_cmp(row->pk, key, count);
}

/* The first chunk whose last row is >= key; ix->count when none. */
static size_t
chunk_for(const struct ots_index *ix, const struct ots_val *key, unsigned count)
{
    size_t lo = 0, hi = ix->count, mid;
    const struct ots_chunk *c;

    while (lo < hi) {
        mid = (lo + hi) / 2;
        c = ix->chunks[mid];
        if (row_key_cmp(c->rows[c->count - 1], key, count) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* In chunk c: the first row >= key. */
static unsigned
row_for(const struct ots_chunk *c, const struct ots_val *key, unsigned count)
{
    unsigned lo = 0, hi = c->count, mid;

    while (lo < hi) {
        mid = (lo + hi) / 2;
        if (row_key_cmp(c->rows[mid], key, count) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct ots_row *
ots_index_find(struct ots_index *ix, const struct ots_val *key, unsigned count,
               struct ots_pos *ret_pos)
{
    struct ots_chunk *c;

    ret_pos->c = chunk_for(ix, key, count);
    ret_pos->r = 0;
    if (ret_pos->c == ix->count) {
        /* after every row: the end of the last chunk */
        if (ix->count) {
            ret_pos->c = ix->count - 1;
            ret_pos->r = ix->chunks[ix->count - 1]->count;
        }
        return NULL;
    }
    c = ix->chunks[ret_pos->c];
    ret_pos->r = row_for(c, key, count);
    if (ret_pos->r < c->count && row_key_cmp(c->rows[ret_pos->r], key, count) == 0)
        return c->rows[ret_pos->r];
    return NULL;
}

bool
ots_index_seek(struct ots_index *ix, const struct ots_val *key, unsigned count, bool forward,
               struct ots_pos *ret_pos)
{
    struct ots_pos p;
    struct ots_row *hit = ots_index_find(ix, key, count, &p);

    if (forward) {
        if (ix->count && p.r == ix->chunks[p.c]->count) {
            p.c++;
            p.r = 0;
        }
        *ret_pos = p;
        return p.c < ix->count;
    }
    /* backward: the last row <= key */
    if (hit) {
        *ret_pos = p;
        return true;
    }
    *ret_pos = p;
    if (!ix->count) {
        ret_pos->c = 0;
        return false;
    }
    if (!ots_index_prev(ix, ret_pos)) {
        ret_pos->c = ix->count;
        return false;
    }
    return true;
}

struct ots_row *
ots_index_at(struct ots_index *ix, const struct ots_pos *pos)
{
    if (pos->c >= ix->count || pos->r >= ix->chunks[pos->c]->count)
        return NULL;
    return ix->chunks[pos->c]->rows[pos->r];
}

bool
ots_index_next(struct ots_index *ix, struct ots_pos *pos)
{
    if (pos->c >= ix->count)
        return false;
    if (++pos->r < ix->chunks[pos->c]->count)
        return true;
    pos->c++;
    pos->r = 0;
    return pos->c < ix->count;
}

bool
ots_index_prev(struct ots_index *ix, struct ots_pos *pos)
{
    if (pos->c >= ix->count)
        return false;
    if (pos->r > 0) {
        pos->r--;
        return true;
    }
    while (pos->c > 0) {
        pos->c--;
        if (ix->chunks[pos->c]->count) {
            pos->r = ix->chunks[pos->c]->count - 1;
            return true;
        }
    }
    pos->c = ix->count;
    return false;
}

int
ots_index_insert(struct ots_index *ix, const struct ots_pos *pos, struct ots_row *row)
{
    struct ots_chunk *c, *nc, **nchunks;
    size_t ci = pos->c;
    unsigned r = pos->r, half;

    if (!ix->count) {
        if (!(c = calloc(1, sizeof(*c))))
            return -1;
        if (!(ix->chunks = malloc(16 * sizeof(*ix->chunks)))) {
            free(c);
            return -1;
        }
        ix->cap = 16;
        ix->chunks[0] = c;
        ix->count = 1;
        ci = 0;
        r = 0;
    }
    c = ix->chunks[ci];
    if (c->count == OTS_CHUNK) {
        /* split the full chunk; rows appended in key order fill chunks completely */
        if (ix->count == ix->cap) {
            if (!(nchunks = realloc(ix->chunks, ix->cap * 2 * sizeof(*nchunks))))
                return -1;
            ix->chunks = nchunks;
            ix->cap *= 2;
        }
        if (!(nc = calloc(1, sizeof(*nc))))
            return -1;
        half = r == OTS_CHUNK ? OTS_CHUNK : OTS_CHUNK / 2;
        nc->count = OTS_CHUNK - half;
        memcpy(nc->rows, &c->rows[half], nc->count * sizeof(*c->rows));
        c->count = half;
        memmove(&ix->chunks[ci + 2], &ix->chunks[ci + 1], (ix->count - ci - 1) * sizeof(*nchunks));
        ix->chunks[ci + 1] = nc;
        ix->count++;
        if (r >= half) {
            ci++;
            r -= half;
            c = nc;
        }
    }
    memmove(&c->rows[r + 1], &c->rows[r], (c->count - r) * sizeof(*c->rows));
    c->rows[r] = row;
    c->count++;
    ix->rows++;
    ix->bytes += row->size;
    return 0;
}

struct ots_row *
ots_index_remove(struct ots_index *ix, const struct ots_pos *pos)
{
    struct ots_chunk *c = ix->chunks[pos->c];
    struct ots_row *row = c->rows[pos->r];

    memmove(&c->rows[pos->r], &c->rows[pos->r + 1], (c->count - pos->r - 1) * sizeof(*c->rows));
    c->count--;
    ix->rows--;
    ix->bytes -= row->size;
    if (c->count == 0) {
        free(c);
        memmove(&ix->chunks[pos->c], &ix->chunks[pos->c + 1],
                (ix->count - pos->c - 1) * sizeof(*ix->chunks));
        ix->count--;
    }
    return row;
}

void
ots_index_free(struct ots_index *ix)
{
    size_t i;
    unsigned r;

    for (i = 0; i < ix->count; i++) {
        for (r = 0; r < ix->chunks[i]->count; r++)
            ots_row_free(ix->chunks[i]->rows[r]);
        free(ix->chunks[i]);
    }
    free(ix->chunks);
    memset(ix, 0, sizeof(*ix));
}
