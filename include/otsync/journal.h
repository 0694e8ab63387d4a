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

/* What a journal_prepare_cb returns for a record it leaves to the record callback. */
#define JOURNAL_PARSE 1

/*
 * A faster replay (journal_opts): `prepare` turns one record's payload (borrowed, not
 * NUL-terminated; it stays in place until the record is applied or released, so prep may
 * point into it) into the caller's own form in `prep` (prep_size bytes), on either of two
 * threads and in no particular order, so it may look at nothing the callbacks build. Returns
 * 0, JOURNAL_PARSE to leave the record to the record callback (parsed as usual), or a
 * negative code when the payload is not one JSON object: the record is bad then, exactly as
 * when a parse fails. `apply` then takes each prepared record, in order, on the thread that
 * opened the journal, instead of the record callback; it owns prep's contents from then on,
 * even when it fails (0, or a negative code that stops the replay). `release` frees a
 * prepared record that will never be applied (the replay stopped first).
 */
typedef int (*journal_prepare_cb)(void *prep, const char *payload, size_t len);
typedef int (*journal_apply_cb)(void *arg, void *prep, const char *segment, uint64_t offset);
typedef void (*journal_release_cb)(void *prep);

struct journal_opts {
    bool salvage;           /* skip corruption in the middle instead of failing */
    bool read_only;         /* replay only: nothing is cut, created or appended (otsyncctl) */
    size_t segment_max;     /* start a new segment past this size; 0 = 64 MiB */
    const char *skip_prefix;    /* records whose payload starts so are checked, not parsed
                                 * (the daemon skips log lines: ~1/6 of a replay's parsing) */
    journal_prepare_cb prepare;     /* all three or none (see above) */
    journal_apply_cb apply;
    journal_release_cb release;
    size_t prep_size;
    size_t parallel_min;    /* with prepare: a segment this long or longer is prepared on a
                             * second thread too, when there are two CPUs; 0 = 1 MiB,
                             * SIZE_MAX = never */
    journal_warn_cb warn;   /* may be NULL */
    void *arg;              /* for all the callbacks */
};

/*
 * Opens (creating `dir` when missing, unless read_only) and replays the journal: cb sees
 * every good record in order. Returns 0 and *ret_j, or a negative code with err filled.
 */
int journal_open(const char *dir, const struct journal_opts *o, journal_record_cb cb,
                 struct journal **ret_j, struct otsync_err *err) OTSYNC_WUR;

/* Replays from one buffer holding a whole segment (the fuzz target's entry): cb and o as
 * above (o->read_only and o->segment_max do not matter); *ret_good is the end of the last
 * good record. Never writes. Only o->prepare runs on another thread. */
int journal_scan(const unsigned char *buf, size_t len, const char *name, bool last,
                 const struct journal_opts *o, journal_record_cb cb, size_t *ret_good,
                 struct otsync_err *err) OTSYNC_WUR;

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
