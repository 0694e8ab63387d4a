/*
 * dirty.h - dirty records: the per-instance file they are kept in, and setting.errorLimit.
 *
 * Owns: the dirty file (JSON lines, one per record: when, which side and plugin, why, and the
 * record's values), opened on the first dirty record so a clean run leaves no file; and the
 * error-limit rule. Leaves to others: deciding what is dirty (the plugins), counting (the
 * engine). Private to src/run.
 *
 * The file is appended to (O_APPEND, mode 0600): attempts of one instance share it, each line
 * naming its attempt. A record's values are data, never credentials; the file holds nothing
 * of the job's parameters.
 */
#ifndef OTSYNC_DIRTY_H
#define OTSYNC_DIRTY_H

#include <stdbool.h>
#include <stdint.h>
#include "otsync/err.h"
#include "record.h"

struct dirty_file {
    char *path;             /* where the records go */
    int fd;                 /* -1 until the first record */
    const char *instance;   /* OTSYNC_INSTANCE, or NULL by hand */
    long attempt;           /* OTSYNC_ATTEMPT, or 0 */
    uint64_t count;         /* records written to the file by this run */
    bool failed;            /* the file could not be written: said once, not again */
};

/*
 * Picks the path: `path` when given (--dirty-file), else $OTSYNC_DIRTY_FILE (otsyncd sets it
 * next to the instance's log), else $TMPDIR (or /tmp)/otsync-run.PID.dirty.jsonl. Opens
 * nothing. Returns 0 or -OTSYNC_ENOMEM.
 */
int dirty_file_init(struct dirty_file *f, const char *path, struct otsync_err *err) OTSYNC_WUR;
void dirty_file_fini(struct dirty_file *f);

/*
 * Appends one record with its reason; side is "reader" or "writer", plugin its name. The first
 * call creates the file and logs its path. Returns 0, or a negative code when the file cannot
 * be written (logged once; the record still counts as dirty).
 */
int dirty_file_add(struct dirty_file *f, const char *side, const char *plugin,
                   const struct otsync_record *rec, const char *reason, struct otsync_err *err);

/* setting.errorLimit as job.c read it: record < 0 and percentage < 0 mean "not given". */
struct error_limit {
    int64_t record;
    double percentage;
};

/*
 * Whether `dirty` of `read` records break the limit; fills err saying which. The record limit
 * wins when both are given, as in DataX. A percentage is a share of everything read, so it is
 * judged only when `final` (the job read everything) or at a progress report — never on the
 * first few records, where one bad record is 100 %.
 */
int error_limit_check(const struct error_limit *l, uint64_t read, uint64_t dirty, bool final,
                      struct otsync_err *err);

#endif
