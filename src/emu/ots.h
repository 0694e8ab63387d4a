/*
 * ots.h - the emulated Table Store's data: tables, rows kept in key order with every cell's
 * versions, and the change streams. Shared by ots.c (the wire: auth, protobuf, operations),
 * ots-store.c (rows and versions) and ots-stream.c (streams and shards). Private to src/emu.
 *
 * Everything runs under the emulator's one lock (emu.h); nothing here locks.
 */
#ifndef OTSYNC_EMU_OTS_H
#define OTSYNC_EMU_OTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "otsync/plainbuffer.h"

#define OTS_MAX_PK 4
#define OTS_CHUNK 256           /* rows per chunk of a table's ordered index */

/* A stored value: a PlainBuffer variant whose bytes the store owns. */
struct ots_val {
    enum pb_type type;
    union {
        int64_t i;
        double d;
        bool b;
        struct {
            unsigned char *p;
            uint32_t len;
        } s;
    } u;
};

struct ots_ver {
    int64_t ts;                 /* ms */
    struct ots_val v;
};

struct ots_col {
    char *name;
    uint32_t name_len;
    struct ots_ver *vers;       /* newest first */
    uint32_t count;
};

struct ots_row {
    struct ots_val pk[OTS_MAX_PK];
    unsigned pk_count;
    struct ots_col *cols;       /* sorted by name */
    uint32_t col_count;
    size_t size;                /* bytes of names and values, for the 4 MB page cap and splits */
};

/* A table's rows in key order: a list of chunks of at most OTS_CHUNK rows each. */
struct ots_chunk {
    struct ots_row *rows[OTS_CHUNK];
    unsigned count;
};

struct ots_index {
    struct ots_chunk **chunks;
    size_t count, cap;
    size_t rows;
    uint64_t bytes;
};

/* A position in an index: chunk, then row. */
struct ots_pos {
    size_t c;
    unsigned r;
};

struct ots_stream_rec {
    int action;                 /* ActionType: 1 put, 2 update, 3 delete */
    int64_t ts_us;
    unsigned char *record;      /* the encoded PlainBuffer row with its sequence extension */
    size_t len;
};

struct ots_shard {
    char id[40];
    char parent[40], parent_sibling[40];    /* "" when none */
    uint32_t lo, hi;            /* the hash range of partition keys it takes, [lo, hi] */
    bool closed;
    struct ots_stream_rec *recs;
    size_t count, cap;
    size_t trimmed;             /* records before this index were dropped by retention */
};

struct ots_table {
    char *name;
    char *pk_names[OTS_MAX_PK];
    int pk_types[OTS_MAX_PK];   /* PrimaryKeyType: 1 INTEGER, 2 STRING, 3 BINARY */
    bool pk_auto[OTS_MAX_PK];
    unsigned pk_count;
    char **defined_names;
    int *defined_types;
    size_t defined_count;
    int32_t max_versions;
    int32_t ttl_s;
    int64_t deviation_s;
    int64_t auto_inc;           /* the last value given out */
    int64_t created_us;
    struct ots_index index;
    /* stream */
    bool stream;
    char stream_id[64];
    int32_t stream_hours;
    int64_t stream_created_us;
    int64_t stream_last_enable;
    struct ots_shard *shards;
    size_t shard_count;
    uint32_t seq_epoch;
    uint32_t seq_row_index;
    int64_t last_ts_us;
};

/* --- ots-store.c --- */

/* Orders two key values of one column: INF_MIN < every value < INF_MAX; ints by value,
 * strings and binaries bytewise, a shorter prefix first. */
int ots_val_cmp(const struct ots_val *a, const struct ots_val *b);
int ots_key_cmp(const struct ots_val *a, const struct ots_val *b, unsigned count);
void ots_val_free(struct ots_val *v);
/* Copies a decoded value (pointing into a request) into v. 0 or -1 (out of memory). */
int ots_val_from_pb(struct ots_val *v, const struct pb_value *p);
/* Points p at v (for encoding). */
void ots_val_to_pb(const struct ots_val *v, struct pb_value *p);
size_t ots_val_size(const struct ots_val *v);

void ots_row_free(struct ots_row *row);
/* The column of that name, or NULL. */
struct ots_col *ots_row_col(const struct ots_row *row, const char *name, size_t len);
/* Adds version (ts, v) to column name (created when new), replacing one of the same ts, and
 * keeps at most max_versions versions. Takes v. 0 or -1. */
int ots_row_put_cell(struct ots_row *row, const char *name, size_t len, int64_t ts,
                     struct ots_val *v, int32_t max_versions);
void ots_row_delete_col(struct ots_row *row, const char *name, size_t len);
void ots_row_delete_version(struct ots_row *row, const char *name, size_t len, int64_t ts);
void ots_row_resize(struct ots_row *row);

/* Finds key: returns the row, or NULL with *ret_pos where it would go. */
struct ots_row *ots_index_find(struct ots_index *ix, const struct ots_val *key, unsigned count,
                               struct ots_pos *ret_pos);
/* The first position whose key is >= key (forward), or the last whose key is <= key when
 * !forward; ret_pos->c == ix->count when there is none. */
bool ots_index_seek(struct ots_index *ix, const struct ots_val *key, unsigned count,
                    bool forward, struct ots_pos *ret_pos);
struct ots_row *ots_index_at(struct ots_index *ix, const struct ots_pos *pos);
/* Moves pos on; false at the end. */
bool ots_index_next(struct ots_index *ix, struct ots_pos *pos);
bool ots_index_prev(struct ots_index *ix, struct ots_pos *pos);
/* Inserts row at pos (from ots_index_find). 0 or -1. */
int ots_index_insert(struct ots_index *ix, const struct ots_pos *pos, struct ots_row *row);
/* Removes and returns the row at pos. */
struct ots_row *ots_index_remove(struct ots_index *ix, const struct ots_pos *pos);
void ots_index_free(struct ots_index *ix);

/* --- ots-stream.c --- */

/* Turns the table's stream on (new id, one shard) or off. */
int ots_stream_enable(struct ots_table *t, bool on, int32_t hours, int64_t now_us);
/* Appends the change (a row as written: key, cells, delete marker) to the shard of its key. */
int ots_stream_append(struct ots_table *t, int action, const struct pb_row *change,
                      int64_t now_us);
/* Drops records older than the retention (and, with before_us > 0, older than that). */
void ots_stream_trim(struct ots_table *t, int64_t now_us, int64_t before_us);
/* Splits an open shard in two children / merges two adjacent open shards into one. 0 or -1
 * with why in msg. */
int ots_stream_split(struct ots_table *t, const char *shard_id, char *msg, size_t len);
int ots_stream_merge(struct ots_table *t, const char *a, const char *b, char *msg, size_t len);
struct ots_shard *ots_stream_shard(struct ots_table *t, const char *id);
void ots_stream_free(struct ots_table *t);

#endif

/* --- ots.c / ots-rows.c: the operations --- */

#include <protobuf-c/protobuf-c.h>
#include "tablestore.pb-c.h"

struct ots_instance {
    char *name;
    struct ots_table **tables;
    size_t count;
};

/* One request being answered. */
struct ots_ctx {
    struct ots_instance *inst;
    int64_t now_ms;
    bool partial;               /* a fault asks BatchWriteRow to fail part of its rows */
    unsigned status;            /* 0 while no error */
    char code[64];
    char msg[512];
    uint8_t *body;              /* the packed response (owned) */
    size_t len;
};

/* Sets the error answer (the first one wins). Returns -1, for `return ots_fail(...)`. */
int ots_fail(struct ots_ctx *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Packs msg as the answer. */
void ots_reply(struct ots_ctx *c, const ProtobufCMessage *msg);
struct ots_table *ots_table_find(struct ots_instance *inst, const char *name);
/* The table named, or an OTSObjectNotExist answer and NULL. */
struct ots_table *ots_table_get(struct ots_ctx *c, const char *name);
/* A filled ConsumedCapacity for answers: read/write capacity units of `bytes`. */
void ots_consumed(Otsync__Ots__ConsumedCapacity *cc, Otsync__Ots__CapacityUnit *cu,
                  size_t read_bytes, size_t write_bytes);

/* ots-rows.c */
void ots_op_get_row(struct ots_ctx *c, const uint8_t *body, size_t len);
void ots_op_put_row(struct ots_ctx *c, const uint8_t *body, size_t len);
void ots_op_update_row(struct ots_ctx *c, const uint8_t *body, size_t len);
void ots_op_delete_row(struct ots_ctx *c, const uint8_t *body, size_t len);
void ots_op_batch_get_row(struct ots_ctx *c, const uint8_t *body, size_t len);
void ots_op_batch_write_row(struct ots_ctx *c, const uint8_t *body, size_t len);
void ots_op_get_range(struct ots_ctx *c, const uint8_t *body, size_t len);
void ots_op_split_points(struct ots_ctx *c, const uint8_t *body, size_t len);
