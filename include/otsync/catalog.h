/*
 * catalog.h - the task catalogue (tasks.d/NAME.yaml) and the daemon config (otsyncd.yaml).
 *
 * Owns: loading YAML into immutable, refcounted structures, with every error reported as
 * file:line:col into a struct diag in one pass. Leaves to others: what a schedule means
 * (cycle), what an expression means (vars), running anything (sched, daemon).
 *
 * A catalogue is immutable once loaded and refcounted: each running instance holds a
 * reference, so a reload swaps it underneath and the old one is freed with its last user.
 */
#ifndef OTSYNC_CATALOG_H
#define OTSYNC_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "otsync/cycle.h"
#include "otsync/diag.h"
#include "otsync/err.h"

struct catalog_param {
    char *name;
    char *expr;                 /* unrendered, e.g. "$[yyyymmddhh24miss-10/24/60]" */
    struct otsync_mark mark;    /* of the value */
};

/* One name in depends_on or previous_cycle_of. */
struct catalog_dep {
    char *task;
    struct otsync_mark mark;    /* of the name */
    size_t idx;                 /* the task's index in catalog.tasks (resolved after loading) */
};

struct catalog_task {
    char *name;
    struct otsync_mark mark;    /* of the task's mapping */
    struct cycle cycle;
    time_t valid_from;          /* schedule.valid_from's local midnight; 0 = always */
    time_t valid_until;         /* the local midnight after schedule.valid_until (exclusive);
                                 * 0 = forever */
    bool self_dependency;       /* default false */
    struct catalog_dep *depends_on;     /* upstream tasks (deps.h has the matching rules) */
    size_t depends_count;
    struct catalog_dep *previous_of;    /* previous_cycle_of: previous cycle of these tasks */
    size_t previous_count;
    bool downstream_dependency; /* previous cycle of the first-level downstream tasks */
    struct otsync_mark downstream_mark;
    size_t *downstream;         /* indices of the tasks whose depends_on names this one */
    size_t downstream_count;
    int retries;                /* automatic reruns after a failed attempt; default 3 */
    int retry_interval_s;       /* default 120 */
    bool catchup;               /* default: self_dependency */
    bool paused;                /* default false */
    struct catalog_param *params;
    size_t param_count;
    json_t *job;                /* the job template (unrendered); owned */
    char *job_source;           /* file the job came from (the catalogue file when inline) */
};

struct catalog {
    int refs;
    struct catalog_task *tasks; /* in file order, files in sorted glob order */
    size_t task_count;
    char **files;               /* every file read; marks point into these */
    size_t file_count;
};

/*
 * Loads every file matching `pattern` (a glob; relative patterns are taken relative to
 * base_dir, which may be NULL for the current directory). All errors go to d. Returns 0 and
 * a new catalogue (refs = 1) when d gained no error; otherwise -OTSYNC_ECONFIG and no
 * catalogue. A pattern that matches no file is an error.
 */
int catalog_load(const char *pattern, const char *base_dir, struct diag *d,
                 struct catalog **ret_cat) OTSYNC_WUR;

/* Loads one catalogue from a string (tests, fuzzing); `name` is used in marks. */
int catalog_load_string(const char *text, const char *name, const char *base_dir,
                        struct diag *d, struct catalog **ret_cat) OTSYNC_WUR;

struct catalog *catalog_ref(struct catalog *cat);
void catalog_unref(struct catalog *cat);    /* NULL does nothing */

/* Borrows; NULL when absent. */
const struct catalog_task *catalog_find(const struct catalog *cat, const char *name);

/* The first scheduled time of t strictly after `after` within its validity dates (cycle_next
 * clipped to [valid_from, valid_until)), or (time_t)-1 when there is none. */
time_t catalog_next_time(const struct catalog_task *t, time_t after);

/* The daemon's own configuration (otsyncd.yaml). Paths are absolute after loading. */
struct daemon_config {
    char *path;             /* the file loaded */
    char *state_dir;        /* default /var/lib/otsync */
    char *socket;           /* default /run/otsync/otsyncd.sock */
    char *catalogue;        /* glob; default tasks.d/ *.yaml next to the config file */
    char *datasources;      /* default datasources.yaml next to the config file; may not exist */
    char *timezone;         /* IANA name; NULL = the system's */
    int max_running;        /* default 8 */
    char *runner;           /* default the otsync-run installed beside otsyncd */
    int log_level;          /* LOG_ERR..LOG_DEBUG from syslog.h; default LOG_INFO */
    int shutdown_grace_s;   /* default 60 */
    int retention_days;     /* finished instances are kept this long; default 30 */
    size_t history_memory;  /* finished instances kept in memory; older ones go to the
                             * archive (state_dir/history); default 20000 */
};

/* Loads the daemon config; errors go to d. Returns 0 or -OTSYNC_ECONFIG. */
int daemon_config_load(const char *path, struct diag *d, struct daemon_config *ret_conf) OTSYNC_WUR;
void daemon_config_fini(struct daemon_config *conf);

/* The otsync-run beside the running program (a build tree), else the installed one: what
 * `runner` means when the configuration leaves it out. Returns new, or NULL (out of memory). */
char *daemon_config_default_runner(void);

#endif
