/*
 * state.h - the instances the journal knows (every one within the retention), indexed by id.
 * otsyncd keeps it live; otsyncctl builds it by a read-only replay when the daemon is down.
 * Record types are listed in state.c.
 */
#ifndef OTSYNC_STATE_H
#define OTSYNC_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include "otsync/err.h"
#include "otsync/journal.h"
#include "otsync/sched.h"

/* One instance as the journal tells it. */
struct hinst {
    char *id;                   /* id and task: in the instance's own block */
    size_t hash;                /* otsync_strhash(id): the index's, kept to spare rehashing */
    char *task;
    time_t cyctime;
    enum sched_state state;
    int attempts;
    int rerun_base;             /* attempts that do not count against retries */
    int pid;                    /* of the running attempt, else 0 */
    time_t created_at, started_at, ended_at, next_try_at;
    char *reason;
    char *params;               /* rendered values, secrets redacted: a JSON object's text */
    char *stats;                /* the last attempt's summary as JSON text, or NULL */
    bool backfill;
    struct inst_text *json;     /* state_inst_text's cache; dropped at every change */
};

/* An instance's JSON text, refcounted so that a reply being written keeps it alive even when
 * the instance changes meanwhile. */
struct inst_text {
    int refs;
    size_t len;
    const char *text;           /* NUL-terminated when it is `own`; else a slice of `whole` */
    struct inst_text *whole;    /* the text this one is a slice of (holding a reference), or
                                 * NULL */
    char own[];
};

/* A new text (refs 1) holding a copy of s (s NULL: len bytes to fill in); NULL when out of
 * memory. */
struct inst_text *inst_text_new(const char *s, size_t len);
void inst_text_ref(struct inst_text *t);
void inst_text_unref(struct inst_text *t);      /* NULL does nothing */

struct state;

/* journal_opts.skip_prefix for a replay into a state: log lines change nothing in it. */
#define STATE_SKIP "{\"t\":\"log\""

struct state *state_new(void);          /* NULL when out of memory */
void state_free(struct state *st);      /* NULL does nothing */

/* A journal_record_cb: applies one record (arg is the state). */
int state_apply(void *arg, json_t *rec, const char *segment, uint64_t offset);

/*
 * journal_opts.prepare, .apply, .release and .prep_size for a replay into a state (arg): the
 * instance records otsyncd writes, parsed on the replay's second thread and applied as
 * state_apply would; any other record is left to state_apply.
 */
int state_prepare(void *prep, const char *payload, size_t len);
int state_apply_prep(void *arg, void *prep, const char *segment, uint64_t offset);
void state_release_prep(void *prep);
extern const size_t state_prep_size;

/* How a stats record otsyncd writes begins: its summary is kept as text, unparsed, until it is
 * shown (a record that is no JSON there is no error then: nothing ever parsed it). */
#define STATE_STATS_HEAD "{\"t\":\"stats\",\"id\":\""

/* The journal_opts of a replay into a state: log lines skipped, instance records prepared. */
#define STATE_JOURNAL_OPTS .skip_prefix = STATE_SKIP, .prepare = state_prepare, \
    .apply = state_apply_prep, .release = state_release_prep, .prep_size = state_prep_size

/* Appends rec to j (durable: see journal_append) and applies it. Takes rec. */
int state_record(struct state *st, struct journal *j, json_t *rec, bool durable,
                 struct otsync_err *err) OTSYNC_WUR;

struct hinst *state_get(struct state *st, const char *id);     /* borrows; NULL if unknown */

/* Every instance, by scheduled time then task (borrowed array, valid until the next change). */
size_t state_list(struct state *st, struct hinst *const **ret);

/* The index in state_list's order of the first instance scheduled at or after t (n: none). */
size_t state_first_at(struct state *st, time_t t);

bool state_paused(const struct state *st, const char *task);
const json_t *state_paused_tasks(const struct state *st);      /* task -> true */

/* The latest time any record knows of (0 for an empty journal): when a daemon was last seen
 * at work, so a restart can tell which cycles passed while none was. */
time_t state_last_at(const struct state *st);
const json_t *state_last_reload(const struct state *st);       /* NULL before any */
uint64_t state_records(const struct state *st);

/* h's params as a JSON object (returns new; an empty one when it has none). Kept as text,
 * because a day of 10,000 tasks' instances in jansson trees would not fit. */
json_t *state_params(const struct hinst *h);

/* The documented JSON of one instance (otsyncctl --json): returns new. */
json_t *state_inst_json(const struct hinst *h, bool with_stats);

/*
 * state_inst_json(h, false) as compact text (borrowed: take a reference to keep it past the
 * next change of h), cached: an instance that has finished never changes, so listing a day of
 * them again costs no JSON work. NULL when out of memory.
 */
struct inst_text *state_inst_text(struct hinst *h);

/*
 * The texts (state_inst_text) of the instances scheduled in [from, to), in state_list's order
 * and joined by commas, as one text: a day of them goes out in one piece rather than as
 * hundreds of thousands. *ret_count: how many. Kept until one of them changes, or one is added
 * or removed; meanwhile each instance's own text is a slice of it, so the range is not held
 * twice. NULL (nothing kept) when the range is empty, holds an instance that is not finished
 * (it would change soon), or when out of memory. Borrowed, like state_inst_text.
 */
struct inst_text *state_range_text(struct state *st, time_t from, time_t to,
                                   size_t *ret_count);

/*
 * Moves finished instances out of memory, oldest first, until at most `keep` finished ones
 * are left — but never the newest of a task, which the scheduler needs after a restart. Each
 * goes as one line of JSON (state_inst_json with stats) to DIR/YYYYMMDD.jsonl, its scheduled
 * date's file, made durable before it leaves memory. The caller compacts the journal next,
 * so that it forgets them too. *ret_n: how many moved.
 */
int state_archive(struct state *st, const char *dir, size_t keep, size_t *ret_n,
                  struct otsync_err *err) OTSYNC_WUR;

/* Removes the archive files of dates before `before` (yyyymmdd). */
void state_archive_expire(const char *dir, const char *before);

/*
 * Calls fn with each line of the archive of `date` (yyyymmdd) that is not an instance still
 * in st (a crash between archiving and compaction leaves both; memory wins). st may be NULL.
 * A missing file is no error. Returns 0, fn's negative return, or -OTSYNC_ESYS.
 */
int state_archive_each(struct state *st, const char *dir, const char *date,
                       int (*fn)(void *arg, const char *line, size_t len, json_t *obj),
                       void *arg) OTSYNC_WUR;

/* The archived instance `id` (returns new object), or NULL. */
json_t *state_archive_find(const char *dir, const char *id);

size_t state_count(const struct state *st);

/*
 * Compaction's snapshot: drops finished instances scheduled before keep_after, appends an
 * "inst" record for every other one, the operator pauses and the last reload.
 */
int state_snapshot(struct state *st, struct journal *j, time_t keep_after, size_t *ret_dropped,
                   struct otsync_err *err) OTSYNC_WUR;

#endif
