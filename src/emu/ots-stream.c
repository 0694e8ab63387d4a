/*
 * ots-stream.c - the emulated Table Store's change streams: shards over hash ranges of the
 * partition key, records as the service encodes them, retention, and splitting and merging
 * shards on demand (the admin calls), so readers meet the shard DAG of the real service.
 *
 * A record is encoded once, when the change is made, with its sequence extension (epoch,
 * timestamp in µs, row index); GetStreamRecord only copies bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/plainbuffer.h"
#include "ots.h"

/* FNV-1a of the partition key's value bytes: which shard a row's changes go to. */
static uint32_t
key_hash(const struct pb_cell *pk)
{
    uint32_t h = 2166136261u;
    const unsigned char *p;
    unsigned char num[8];
    size_t n, i;

    if (pk->value.type == PB_STRING || pk->value.type == PB_BINARY) {
        p = pk->value.u.bytes.ptr;
        n = pk->value.u.bytes.len;
    } else {
        for (i = 0; i < 8; i++)
            num[i] = (unsigned char)((uint64_t)pk->value.u.i >> (8 * i));
        p = num;
        n = 8;
    }
    for (i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static struct ots_shard *
add_shard(struct ots_table *t, uint32_t lo, uint32_t hi, const char *parent,
          const char *sibling)
{
    struct ots_shard *ns = realloc(t->shards, (t->shard_count + 1) * sizeof(*ns)), *s;

    if (!ns)
        return NULL;
    t->shards = ns;
    s = &t->shards[t->shard_count++];
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "shard-%04zu", t->shard_count);
    snprintf(s->parent, sizeof(s->parent), "%s", parent ? parent : "");
    snprintf(s->parent_sibling, sizeof(s->parent_sibling), "%s", sibling ? sibling : "");
    s->lo = lo;
    s->hi = hi;
    return s;
}

void
ots_stream_free(struct ots_table *t)
{
    size_t i, k;

    for (i = 0; i < t->shard_count; i++) {
        for (k = 0; k < t->shards[i].count; k++)
            free(t->shards[i].recs[k].record);
        free(t->shards[i].recs);
    }
    free(t->shards);
    t->shards = NULL;
    t->shard_count = 0;
}

int
ots_stream_enable(struct ots_table *t, bool on, int32_t hours, int64_t now_us)
{
    if (!on) {
        t->stream = false;
        ots_stream_free(t);
        t->stream_id[0] = '\0';
        return 0;
    }
    if (t->stream) {
        if (hours > 0)
            t->stream_hours = hours;
        return 0;
    }
    t->stream = true;
    t->stream_hours = hours > 0 ? hours : 24;
    t->stream_created_us = now_us;
    t->stream_last_enable = now_us;
    snprintf(t->stream_id, sizeof(t->stream_id), "%s_%lld", t->name, (long long)now_us);
    t->seq_epoch++;
    return add_shard(t, 0, UINT32_MAX, NULL, NULL) ? 0 : -1;
}

struct ots_shard *
ots_stream_shard(struct ots_table *t, const char *id)
{
    size_t i;

    for (i = 0; i < t->shard_count; i++)
        if (strcmp(t->shards[i].id, id) == 0)
            return &t->shards[i];
    return NULL;
}

int
ots_stream_append(struct ots_table *t, int action, const struct pb_row *change, int64_t now_us)
{
    struct ots_shard *s = NULL;
    struct ots_stream_rec *nr;
    struct pb_row row = *change;
    struct pb_buf buf;
    uint32_t h;
    size_t i;

    if (!t->stream)
        return 0;
    h = change->pk_count ? key_hash(&change->pk[0]) : 0;
    for (i = 0; i < t->shard_count; i++)
        if (!t->shards[i].closed && h >= t->shards[i].lo && h <= t->shards[i].hi) {
            s = &t->shards[i];
            break;
        }
    if (!s)
        return -1;
    /* records of one shard carry strictly increasing timestamps, as readers expect */
    if (now_us <= t->last_ts_us)
        now_us = t->last_ts_us + 1;
    t->last_ts_us = now_us;
    row.has_seq = true;
    row.seq.epoch = t->seq_epoch;
    row.seq.ts_us = now_us;
    row.seq.row_index = t->seq_row_index++;
    plainbuffer_buf_init(&buf, 0);
    if (plainbuffer_encode_rows(&buf, &row, 1, NULL) < 0) {
        plainbuffer_buf_fini(&buf);
        return -1;
    }
    if (s->count == s->cap) {
        if (!(nr = realloc(s->recs, (s->cap ? s->cap * 2 : 64) * sizeof(*nr)))) {
            plainbuffer_buf_fini(&buf);
            return -1;
        }
        s->recs = nr;
        s->cap = s->cap ? s->cap * 2 : 64;
    }
    s->recs[s->count].action = action;
    s->recs[s->count].ts_us = now_us;
    s->recs[s->count].record = buf.data;   /* taken: buf is not finalised */
    s->recs[s->count].len = buf.len;
    s->count++;
    return 0;
}

void
ots_stream_trim(struct ots_table *t, int64_t now_us, int64_t before_us)
{
    int64_t cut = now_us - (int64_t)t->stream_hours * 3600 * 1000000;
    struct ots_shard *s;
    size_t i;

    if (before_us > cut)
        cut = before_us;
    for (i = 0; i < t->shard_count; i++) {
        s = &t->shards[i];
        while (s->trimmed < s->count && s->recs[s->trimmed].ts_us < cut) {
            free(s->recs[s->trimmed].record);
            s->recs[s->trimmed].record = NULL;
            s->trimmed++;
        }
    }
}

int
ots_stream_split(struct ots_table *t, const char *shard_id, char *msg, size_t len)
{
    struct ots_shard *s = ots_stream_shard(t, shard_id);
    uint32_t lo, hi, mid;
    char id[40];

    if (!s || s->closed) {
        snprintf(msg, len, "no open shard %s", shard_id);
        return -1;
    }
    if (s->lo == s->hi) {
        snprintf(msg, len, "shard %s is too small to split", shard_id);
        return -1;
    }
    lo = s->lo;
    hi = s->hi;
    mid = lo + (hi - lo) / 2;
    s->closed = true;
    snprintf(id, sizeof(id), "%s", s->id);  /* add_shard may move the array */
    if (!add_shard(t, lo, mid, id, NULL) || !add_shard(t, mid + 1, hi, id, NULL)) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    return 0;
}

int
ots_stream_merge(struct ots_table *t, const char *a, const char *b, char *msg, size_t len)
{
    struct ots_shard *sa = ots_stream_shard(t, a), *sb = ots_stream_shard(t, b);
    uint32_t lo, hi;
    char ida[40], idb[40];

    if (!sa || !sb || sa->closed || sb->closed || sa == sb) {
        snprintf(msg, len, "merge needs two different open shards");
        return -1;
    }
    if (sa->hi + 1 != sb->lo && sb->hi + 1 != sa->lo) {
        snprintf(msg, len, "shards %s and %s are not adjacent", a, b);
        return -1;
    }
    lo = sa->lo < sb->lo ? sa->lo : sb->lo;
    hi = sa->hi > sb->hi ? sa->hi : sb->hi;
    sa->closed = sb->closed = true;
    snprintf(ida, sizeof(ida), "%s", sa->id);
    snprintf(idb, sizeof(idb), "%s", sb->id);
    if (!add_shard(t, lo, hi, ida, idb)) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    return 0;
}
