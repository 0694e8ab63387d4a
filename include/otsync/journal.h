/*
 * journal.h - otsyncd's only state: append-only segment files in one directory, each record
 * a JSON object framed by its length and a CRC-32C (ARCHITECTURE.md, "State").
 *
 * A segment is NNNNNNNNNNNNNNNN.jnl (16 hex digits, in order), starting with the 8-byte magic
 * "OTSJNL1\n"; a record is a little-endian u32 payload length, a little-endian u32 CRC-32C of
 * those 4 length bytes followed by the payload, and the payload (compact JSON, one object).
 * Records are never rewritten: compaction writes a new segment that starts with a snapshot
 * and then removes the older segments.
 *
 * Opening replays every segment in order. A bad record with no good record after it in the
 * last segment is a torn tail (a crash mid-write): it is cut off, with a warning naming the
 * segment and offset. A bad record followed by good ones, or in an older segment, is
 * corruption: opening fails naming it, unless `salvage` is set, which skips the bad bytes
 * (each skip is a warning).
 */
#ifndef OTSYNC_JOURNAL_H
#define OTSYNC_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "otsync/err.h"

#define JOURNAL_MAGIC "OTSJNL1\n"
#define JOURNAL_MAGIC_LEN 8
#define JOURNAL_RECORD_MAX (16u << 20)  /* a longer length field is corruption */

struct journal;

/* One replayed record (borrowed, valid during the call). Return 0, or a negative code to
 * stop the replay; journal_open then fails with that code. */
typedef int (*journal_record_cb)(void *arg, json_t *rec, const char *segment, uint64_t offset);

/* A warning while opening (a cut tail, a salvaged range); text borrowed. */
typedef void (*journal_warn_cb)(void *arg, const char *text);

struct journal_opts {
    bool salvage;           /* skip corruption in the middle instead of failing */
    bool read_only;         /* replay only: nothing is cut, created or appended (otsyncctl) */
    size_t segment_max;     /* start a new segment past this size; 0 = 64 MiB */
    const char *skip_prefix;    /* records whose payload starts so are checked, not parsed
                                 * (the daemon skips log lines: ~1/6 of a replay's parsing) */
    journal_warn_cb warn;   /* may be NULL */
    void *arg;              /* for both callbacks */
};

/*
 * Opens (creating `dir` when missing, unless read_only) and replays the journal: cb sees
 * every good record in order. Returns 0 and *ret_j, or a negative code with err filled.
 */
int journal_open(const char *dir, const struct journal_opts *o, journal_record_cb cb,
                 struct journal **ret_j, struct otsync_err *err) OTSYNC_WUR;

/* Replays from one buffer holding a whole segment (the fuzz target's entry): cb as above;
 * *ret_good is the end of the last good record. Never writes. */
int journal_scan(const unsigned char *buf, size_t len, const char *name, bool last, bool salvage,
                 const char *skip_prefix, journal_record_cb cb, journal_warn_cb warn, void *arg,
                 size_t *ret_good, struct otsync_err *err) OTSYNC_WUR;

/*
 * Queues one record (borrowed; serialised now). `durable`: journal_flush must fdatasync
 * before it returns, because the caller is about to act on this record.
 */
int journal_append(struct journal *j, const json_t *rec, bool durable,
                   struct otsync_err *err) OTSYNC_WUR;

/* True when records are queued. */
bool journal_pending(const struct journal *j);

/* Writes the queued records, one write per call, then fdatasync when any was durable. */
int journal_flush(struct journal *j, struct otsync_err *err) OTSYNC_WUR;

/*
 * Compaction: flushes, starts a new segment, calls fn to append a snapshot of everything
 * still needed (with journal_append), flushes it durably, then removes every older segment.
 */
typedef int (*journal_snapshot_cb)(void *arg, struct journal *j);
int journal_compact(struct journal *j, journal_snapshot_cb fn, void *arg,
                    struct otsync_err *err) OTSYNC_WUR;

/* Bytes in all segments, and the number of segments (for status). */
uint64_t journal_size(const struct journal *j);
size_t journal_segments(const struct journal *j);

/* Flushes what is queued (errors ignored: the caller already stopped) and frees. NULL: no-op. */
void journal_close(struct journal *j);

#endif
