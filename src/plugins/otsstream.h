/*
 * otsstream.h - what the `otsstream` reader's two files share: the reader's state, the shards
 * of the window with where each starts and ends, and the status table's calls
 * (otsstream-checkpoint.c). Private to src/plugins.
 *
 * Positions: a shard is read from a position and leaves one for the next window. A position
 * is an iterator plus a count of records to pass over from it (the iterator of the page that
 * held the first record at or after the window's end, and how many records of that page came
 * before it), so the next window starts exactly at that record.
 */
#ifndef OTSYNC_PLUGINS_OTSSTREAM_H
#define OTSYNC_PLUGINS_OTSSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../run/plugin.h"
#include "ots-common.h"

enum otss_pos_kind {
    OTSS_POS_NEW,       /* from the shard's oldest record (the shard was not read before) */
    OTSS_POS_AT,        /* from iterator, passing over skip records */
    OTSS_POS_DONE,      /* the shard is closed and was read to its end */
    OTSS_POS_SEEK,      /* rescan: from the first record at or after the window's start */
};

struct otss_pos {
    enum otss_pos_kind kind;
    char *iterator;     /* OTSS_POS_AT: owned */
    int64_t skip;
};

struct otss_shard {
    char *id;
    char *parent;           /* NULL: none */
    char *sibling;          /* the second parent of a merge; NULL: none */
    int parent_ix;          /* index in shards of the parents, -1 when not listed */
    int sibling_ix;
    struct otss_pos from;   /* where this window starts reading */
    struct otss_pos to;     /* where the next window starts; set when finished */
    bool finished;          /* its slice ended with rc 0 */
    uint64_t records;       /* stream records read in this window */
};

struct otss_reader {
    struct otsync_reader *r;
    struct otsp_conn conn;          /* the data table's */
    char *status_table;
    int64_t start_ms, end_ms;       /* the window [start, end) */
    int64_t lag_s;
    bool single;                    /* single_version_and_update_only */
    bool seq_info;
    bool allow_rescan;
    bool rescan;                    /* no checkpoint at start: every shard seeks to start */
    char **cols;                    /* single_version: the columns to give */
    size_t col_count;
    bool cols_name_key;             /* cols name a key column: they are the whole record */
    char *stream_id;
    int32_t retention_h;
    struct otss_shard *shards;      /* in slice order: every parent before its children */
    size_t shard_count;
    /* split() in progress */
    otsync_split_cb split_done;
    void *split_arg;
};

/* Releases what a position owns and makes it OTSS_POS_NEW. */
void otss_pos_clear(struct otss_pos *p);
/* Copies src into dst (cleared first). 0 or -OTSYNC_ENOMEM. */
int otss_pos_copy(struct otss_pos *dst, const struct otss_pos *src, struct otsync_err *err);

/* "2018-10-16 00:05:00.000 (1539619500000)": ms in local time, for messages. */
const char *otss_time_text(int64_t ms, char buf[static 64]);

typedef void (*otss_done_cb)(void *arg, int rc, const struct otsync_err *err);

/*
 * Before any shard is read (split): makes sure the status table exists with our key (creating
 * it when missing), deletes the checkpoints this window wrote before (a rerun), and loads the
 * previous window's into each listed shard's `from`. A shard the previous window did not list
 * starts at OTSS_POS_NEW. Without a complete checkpoint set at start: with allowRescan every
 * shard gets OTSS_POS_SEEK and o->rescan is set; otherwise done gets -OTSYNC_EINVAL naming the
 * gap. done is called once, later, from the loop; returns 0 or a negative code with err (done
 * is then not called).
 */
int otss_status_prepare(struct otss_reader *o, otss_done_cb done, void *arg,
                        struct otsync_err *err);

/*
 * After every shard finished: writes each shard's `to` under the window's end, then the row
 * that marks the set complete, last, so a set cut short by a crash is never taken for one.
 * *canceled is looked at between rows (the job may be ending). done as above.
 */
int otss_status_commit(struct otss_reader *o, const bool *canceled, otss_done_cb done,
                       void *arg, struct otsync_err *err);

#endif
