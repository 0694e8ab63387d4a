/*
 * sched.h - the cycle scheduler: which instances exist, when each may run, retries,
 * self-dependency, catch-up and the max_running bound.
 *
 * Owns: instance creation and the instance state machine. It is pure logic: every call takes
 * `now` from the caller, so tests step a fake clock and the daemon feeds it a real or
 * simulated one. Leaves to others: spawning children (hooks->start), persistence
 * (hooks->changed is where the journal slots in), timers (the caller re-arms a timer for the
 * time sched_step returns).
 *
 * Rules (../shared/PRODUCT.md, "Scheduling"):
 * - an instance is TASK@yyyymmddhh24miss, its scheduled time in local time (TZ);
 * - params are rendered once, when an instance is created; retries reuse them;
 * - a task new to the scheduler (or resumed) starts from the first cycle after `now`;
 * - cycles missed (sched_step called late, or a restored position in the past) are all
 *   created in order when the task's catchup is on; with catchup off only the newest missed
 *   cycle is created;
 * - self-dependency: an instance starts only once the task's previous instance is success
 *   (or skipped); while that one is failed/killed the instance waits, blocked by it;
 * - dependencies (depends_on, previous_cycle_of, downstream_dependency; deps.h has the
 *   matching rules): an instance starts only once every upstream instance it matches is
 *   success or skipped; it waits blocked by the first one that is not. An upstream cycle
 *   that was never made (before the upstream task was added or resumed, skipped by catchup:
 *   off, outside its validity dates, or a task no longer in the catalogue) holds nothing back;
 *   one the upstream schedule has yet to reach is waited for;
 * - no instance is made outside the task's schedule.valid_from / valid_until;
 * - a failed attempt goes to retry_wait for retry_interval_s, up to `retries` reruns; a
 *   final failure (bad job configuration) is not retried;
 * - at most max_running instances run at once; ready instances start in scheduled-time
 *   order (then task name);
 * - instances of a paused task are created as skipped.
 */
#ifndef OTSYNC_SCHED_H
#define OTSYNC_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "otsync/catalog.h"
#include "otsync/err.h"

enum sched_state {
    SCHED_WAITING,      /* see .wait for what it waits for */
    SCHED_RUNNING,
    SCHED_RETRY_WAIT,   /* a failed attempt; the next one at .next_try_at */
    SCHED_SUCCESS,
    SCHED_FAILED,       /* failed for good */
    SCHED_KILLED,
    SCHED_SKIPPED,      /* its task was paused when it was created */
};

enum sched_wait {
    SCHED_WAIT_NONE,
    SCHED_WAIT_PREVIOUS,    /* self-dependency: .blocked_by names the previous instance */
    SCHED_WAIT_SLOT,        /* max_running reached */
    SCHED_WAIT_TIME,        /* created ahead of its scheduled time (sched_set_lead) */
    SCHED_WAIT_UPSTREAM,    /* dependencies: .blocked_by names the first upstream instance
                             * not yet success (maybe not yet made) */
};

enum sched_outcome {
    SCHED_OK,
    SCHED_FAIL,         /* retried per the task's policy */
    SCHED_FAIL_FINAL,   /* not retried (bad job configuration: otsync-run exit 2) */
    SCHED_KILL,         /* an operator killed it; not retried */
};

enum sched_event {
    SCHED_EV_CREATED,
    SCHED_EV_STATE,     /* state, wait or blocked_by changed */
    SCHED_EV_FREED,     /* about to be freed; do not keep the pointer */
    SCHED_EV_DUE,       /* created ahead (sched_set_lead), its time has come: runnable now */
};

struct sched_instance {
    char *id;                       /* "TASK@yyyymmddhh24miss" */
    char *task;                     /* task name */
    time_t cyctime;                 /* scheduled time */
    const struct catalog_task *def; /* the definition it was created under */
    struct catalog *cat;            /* reference that keeps def alive */
    enum sched_state state;
    enum sched_wait wait;
    char *blocked_by;               /* id of the instance it waits for, or NULL */
    int attempts;                   /* attempts started so far */
    time_t created_at;              /* `now` when created */
    time_t next_try_at;             /* RETRY_WAIT: when the next attempt may start */
    time_t started_at, ended_at;    /* of the latest attempt; 0 = not yet */
    char **param_names;             /* rendered custom params, def->params order */
    char **param_values;
    size_t param_count;
    char *reason;                   /* why the last attempt failed, or NULL */
    void *data;                     /* the caller's, e.g. the running child */
    /* private to sched.c */
    struct sched_task *owner;
    struct sched_instance *prev_of_task, *next_of_task;
    struct sched_instance *q_prev, *q_next;     /* the retry list */
    size_t q_idx;                               /* place in the ready heap */
    int where;                                  /* ready heap, retry list or neither */
    int rerun_base;                             /* attempts before the latest rerun */
    struct sched_task *dep_task;                /* WAIT_UPSTREAM: the task blocking it, */
    time_t dep_time;                            /* at this cycle, */
    size_t dep_idx;                             /* and its place in that task's waiters */
};

struct sched_hooks {
    /*
     * Starts an attempt of inst (spawns the child). Return 0 when started: the scheduler then
     * marks it running. A negative return counts as a failed attempt, with err's message as
     * reason. Called from inside sched_step/sched_finished; must not call back into sched.
     */
    int (*start)(void *arg, struct sched_instance *inst, struct otsync_err *err);
    /* Called after each event. Must not call back into sched. May be NULL. */
    void (*changed)(void *arg, const struct sched_instance *inst, enum sched_event ev);
    void *arg;
    /*
     * The state (a sched_state) of the instance `id` that the scheduler does not hold (freed,
     * or from before a restart), for dependency checks; -1 when unknown. Without it (NULL) an
     * instance the scheduler freed counts as never made. Must not call back into sched.
     */
    int (*lookup)(void *arg, const char *id);
};

struct sched;
struct sched_task;

/* Returns a new scheduler, or NULL when out of memory. hooks is copied. */
struct sched *sched_new(int max_running, const struct sched_hooks *hooks);

/* Frees the scheduler and every instance (SCHED_EV_FREED is not sent). NULL does nothing. */
void sched_free(struct sched *s);

/*
 * Installs cat (takes a reference; drops the one on the previous catalogue). Tasks new to
 * the scheduler, and tasks whose paused flag went from true to false, start from the first
 * cycle after now. Known tasks keep their position even when their schedule changed (the next
 * cycle is computed from the last one created). Removed tasks create no more instances; their
 * instances keep their definitions and run to the end.
 */
void sched_set_catalog(struct sched *s, struct catalog *cat, time_t now);

/*
 * Tells the scheduler the last cycle already created for `task` (from a journal replay).
 * Call after sched_set_catalog and before the first sched_step. Returns -OTSYNC_ENOENT for
 * an unknown task.
 */
int sched_restore_position(struct sched *s, const char *task, time_t last_cyctime);

/*
 * Advances to now: creates every due instance, moves retry_wait instances whose time has
 * come, starts ready instances up to max_running. Returns the next time at which something
 * is due (a cycle or a retry), or (time_t)-1 when nothing is.
 */
time_t sched_step(struct sched *s, time_t now);

/*
 * Creates instances up to `seconds` before their scheduled time (default 0). They wait for
 * their time (SCHED_WAIT_TIME) and become runnable at it, so a minute boundary at which
 * thousands of tasks fire finds their instances already made and queued, instead of making
 * them one by one while the first ones' time has passed. Like the vendor's scheduler, which
 * creates a day's instances ahead; a lead of seconds keeps memory bounded.
 */
void sched_set_lead(struct sched *s, time_t seconds);

/*
 * Reports the end of inst's running attempt. Decides its next state, then starts what became
 * ready (a freed slot, a released successor). Returns the next due time like sched_step.
 */
time_t sched_finished(struct sched *s, struct sched_instance *inst, enum sched_outcome outcome,
                      const char *reason, time_t now);

/*
 * What sched_adopt takes (all borrowed): an instance from a journal replay, or one the
 * scheduler has freed and an operator reruns. state is WAITING, RETRY_WAIT (with
 * next_try_at) or a final state; params are kept as rendered.
 */
struct sched_adopt {
    const char *task;
    time_t cyctime;
    enum sched_state state;
    int attempts;
    int rerun_base;         /* attempts that do not count against retries */
    time_t next_try_at;
    const char *reason;
    size_t param_count;
    const char *const *names;
    const char *const *values;
    time_t created_at, started_at, ended_at;
};

/*
 * Takes an instance the scheduler does not hold into its task's list, in scheduled-time
 * order, and queues, blocks or parks it by its state (no CREATED event: it was created
 * before). Returns it, or NULL with err: an unknown task (-OTSYNC_ENOENT), an id already held
 * (-OTSYNC_EEXIST), out of memory.
 */
struct sched_instance *sched_adopt(struct sched *s, const struct sched_adopt *a, time_t now,
                                   struct otsync_err *err);

/*
 * Operator actions, each returning 0 or a negative code with err saying why it does not
 * apply. rerun: a final instance waits to run again, with its task's retries afresh.
 * kill: a waiting or retry_wait instance becomes killed (a running one is killed through its
 * child, whose exit the caller reports as SCHED_KILL). set_success: any instance not running
 * becomes success and releases its successor.
 */
int sched_rerun(struct sched *s, struct sched_instance *inst, time_t now, struct otsync_err *err);
int sched_kill(struct sched *s, struct sched_instance *inst, time_t now, struct otsync_err *err);
int sched_set_success(struct sched *s, struct sched_instance *inst, time_t now,
                      struct otsync_err *err);

/*
 * Pauses or resumes a task at run time (beside the catalogue's `paused`): a paused task's new
 * instances are created skipped; a resumed one starts from the next cycle after now.
 */
int sched_pause(struct sched *s, const char *task, bool paused, time_t now,
                struct otsync_err *err);
bool sched_task_paused(struct sched *s, const char *task);

/*
 * Backfill: creates the instances of every cycle of task in [from, to] that the scheduler
 * does not hold, rendered for their own time, queued in scheduled-time order (a
 * self-dependent task runs them one after another). The live schedule does not move.
 * *ret_n: how many were created.
 */
int sched_backfill(struct sched *s, const char *task, time_t from, time_t to, time_t now,
                   size_t *ret_n, struct otsync_err *err);

/*
 * Tells the scheduler that an instance of `task` it does not hold changed state behind its
 * back (an operator set it to success in the journal): the instances waiting for that task
 * look again, and what became ready starts. Unknown tasks are ignored. Not from a hook.
 */
void sched_recheck(struct sched *s, const char *task, time_t now);

/* What sched_upstream_each reports besides a sched_state. */
enum {
    SCHED_UP_NOT_YET = -1,  /* not made yet: the upstream schedule will make it */
    SCHED_UP_NEVER = -2,    /* never made: holds nothing back */
};

/*
 * Calls fn for every upstream instance that an instance of def (made under cat) at cyctime
 * waits for, in the order they are checked: depends_on, then the cross-cycle ones (`cross`).
 * state is a sched_state or SCHED_UP_*. done says whether it holds nothing back. def and cat
 * are borrowed (an instance's own, or the current catalogue's for an instance the scheduler
 * no longer holds).
 */
void sched_upstream_each(struct sched *s, const struct catalog_task *def,
                         const struct catalog *cat, time_t cyctime,
                         void (*fn)(void *arg, const char *task, time_t cyctime, int state,
                                    bool done, bool cross),
                         void *arg);

/* The last cycle of task its live schedule has made (or the start), or (time_t)-1 for an
 * unknown task: a backfill's --to may not pass it. */
time_t sched_task_position(struct sched *s, const char *task);

/* Sets max_running (a reload); takes effect at the next step. */
void sched_set_max_running(struct sched *s, int max_running);

/* Borrows; NULL when the scheduler holds no such instance. */
struct sched_instance *sched_find(struct sched *s, const char *id);

/* Calls fn for every instance the scheduler holds: task by task in the order the tasks were
 * first seen, each task's instances in scheduled-time order. */
void sched_foreach(struct sched *s, void (*fn)(void *arg, const struct sched_instance *inst),
                   void *arg);

/* Count of instances in RUNNING state. */
int sched_running_count(const struct sched *s);

const char *sched_state_name(enum sched_state st);  /* "waiting", "running", ... */
const char *sched_wait_name(enum sched_wait w);     /* "", "previous cycle", "run slot", ... */
/* The state named like sched_state_name returns, or -1. */
int sched_state_parse(const char *name);

#endif
