/*
 * daemon.h - otsyncd's private pieces: the clock (real or simulated) and the runner that
 * spawns one otsync-run child per running attempt. Private to src/daemon.
 */
#ifndef OTSYNC_DAEMON_H
#define OTSYNC_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>
#include <jansson.h>
#include "otsync/build.h"
#include "otsync/catalog.h"
#include "otsync/clock.h"
#include "otsync/err.h"
#include "otsync/sched.h"

struct runner;
struct ctl;
struct journal;
struct state;
struct hinst;
struct backfill;

/* A libuv alloc callback: malloc of the suggested size (0 bytes when out of memory). */
void daemon_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

#define KILL_AFTER_TERM_MS 5000     /* after the grace period: SIGTERM, then SIGKILL */

/* Instances are made this many (scheduler) seconds before their time and wait for it, so
 * the thousands that fire at one minute boundary are queued when it comes (otsyncd(8)). */
#define CREATE_AHEAD_S 2

struct daemon {
    uv_loop_t *loop;
    struct daemon_config conf;
    struct dclock clock;
    struct sched *sched;
    struct runner *runner;
    struct catalog *cat;
    uv_timer_t timer;           /* the scheduler's next due time */
    uv_timer_t grace;           /* shutdown: grace period, then kill */
    uv_prepare_t flush;         /* the journal, then spawns, then log lines: once per turn */
    uv_timer_t compact;         /* hourly: compaction when due */
    uv_timer_t watchdog;        /* WATCHDOG=1 at half of WatchdogSec */
    uv_signal_t sighup, sigterm, sigint;
    bool stopping;
    int kill_stage;
    struct journal *journal;
    struct state *state;
    struct ctl *ctl;
    time_t started_at;
    time_t last_alive;          /* before this start: the journal's latest time, 0 if none */
    time_t compacted_at;
    bool journal_broken;        /* a flush failed: nothing is spawned until one succeeds */
    bool in_backfill;           /* CREATED events now are a backfill's */
    struct backfill *backfills; /* backfills taking dates in turn (backfill.c) */
    bool backfill_due;          /* an instance finished: see whether a date's chain is done */
    size_t due_n;               /* instances made runnable at their time in this step */
    double due_late_max;        /* ms */
    char due_at[32];
};

time_t now_s(const struct daemon *d);
/* " [clock 2018-10-16T00:05:00]" on a simulated clock, else ""; at = 0: now. Returns buf. */
const char *clock_note(const struct daemon *d, time_t at, char buf[static 48]);
void daemon_rearm(struct daemon *d, time_t next);
/* SIGHUP's work; fills *ret_errors (new array of messages) when it fails. Returns 0 or < 0. */
int daemon_reload(struct daemon *d, json_t **ret_errors);


/* persist.c: sched and runner events to journal records; restart restore; compaction */
void persist_changed(struct daemon *d, const struct sched_instance *inst, enum sched_event ev);
void persist_spawned(struct daemon *d, const struct sched_instance *inst, int pid);
void persist_stats(struct daemon *d, const struct sched_instance *inst, const char *stats);
void persist_log(struct daemon *d, const struct sched_instance *inst, const char *line,
                 size_t len);
/* A record of the daemon's own (start, stop, reload, op): takes rec. */
void persist_event(struct daemon *d, json_t *rec, bool durable);
/* After the replay and sched_set_catalog: positions, pauses, unfinished instances (running
 * ones as interrupted). */
int persist_restore(struct daemon *d, struct otsync_err *err) OTSYNC_WUR;
/* Hands the scheduler an instance it no longer holds, as h tells it, in `state`, with
 * `base` attempts that do not count against retries. NULL with err when it cannot. */
struct sched_instance *persist_adopt(struct daemon *d, const struct hinst *h,
                                     enum sched_state state, int base, time_t now,
                                     struct otsync_err *err);
/* The loop turn's end: flush the journal, then spawn what waited for it. */
void persist_flush(struct daemon *d);
int persist_compact(struct daemon *d, struct otsync_err *err) OTSYNC_WUR;

/* backfill.c: backfills with --downstream or --parallel, a date's chain at a time */
/*
 * Plans the instances of task in [from, to] and, with downstream, every instance of its
 * descendants that depends on them; groups them by the root instance's local date; creates
 * the first `parallel` dates' instances now and each further date's when an earlier date's
 * instances are all final. *ret_dates and *ret_planned tell the plan, *ret_created what was
 * made now. Returns 0 or a negative code with err.
 */
int backfill_start(struct daemon *d, const char *task, time_t from, time_t to, bool downstream,
                   int parallel, size_t *ret_dates, size_t *ret_planned, size_t *ret_created,
                   struct otsync_err *err) OTSYNC_WUR;
/* From the loop's prepare phase after an instance finished: starts the dates now due. */
void backfill_progress(struct daemon *d);
void backfill_free_all(struct daemon *d);

/* ctl.c: the Unix socket server */
int ctl_start(struct daemon *d, struct otsync_err *err) OTSYNC_WUR;
void ctl_stop(struct daemon *d);       /* closes the socket and its connections */
void ctl_free(struct daemon *d);       /* after the loop closed them */


/* What the runner tells its owner. done: the attempt is over (stats: the child's last
 * stdout line, or NULL). spawned: the child runs with this pid. log: one line of its output
 * (stderr, or stdout prefixed "stdout: "). */
struct runner_hooks {
    void (*done)(void *arg, struct sched_instance *inst, enum sched_outcome outcome,
                 const char *reason, const char *stats);
    void (*spawned)(void *arg, struct sched_instance *inst, int pid);
    void (*log)(void *arg, const struct sched_instance *inst, const char *line, size_t len);
    void *arg;
};

/* Returns a new runner spawning `path` (borrowed string is copied). log_dir receives one
 * log file per instance, and its dirty-record file beside it; datasources (may be NULL) is
 * handed to every child as OTSYNC_DATASOURCES. hooks is copied. */
struct runner *runner_new(uv_loop_t *loop, const char *path, const char *log_dir,
                          const char *datasources, const struct runner_hooks *hooks);
void runner_free(struct runner *r);    /* after the loop closed its handles; NULL does nothing */

/* Children see the daemon's clock: when it is simulated, OTSYNC_NOW (its reading at their
 * start) and OTSYNC_CLOCK_SPEED, so their own checks of now agree with the schedule. */
void runner_set_clock(struct runner *r, const struct dclock *clock);

/*
 * Kills what is left of the children of an earlier daemon of this state directory (they
 * carry OTSYNC_OWNER=<log_dir>) and waits up to 5 s until they are gone, so an instance
 * restored as interrupted never runs beside its old attempt. Returns how many were found.
 */
size_t runner_kill_leftovers(const char *log_dir);

/*
 * Prepares an attempt of inst (renders its job, opens its log) and queues it; the child is
 * spawned by the next runner_spawn_pending, which the daemon calls only after the journal
 * made the "running" transition durable. Sets inst->data. Returns 0 or a negative code.
 */
int runner_start(struct runner *r, struct sched_instance *inst, struct otsync_err *err) OTSYNC_WUR;

/* Spawns every queued attempt; one that cannot be spawned is reported through done as a
 * failed attempt. Returns how many were queued. */
size_t runner_spawn_pending(struct runner *r);
bool runner_has_pending(const struct runner *r);

/* An operator's kill: SIGTERM to inst's child (its exit is reported as SCHED_KILL); a queued
 * attempt is dropped and reported at once. Returns 0, or -OTSYNC_ENOENT if it has no child. */
int runner_kill(struct runner *r, struct sched_instance *inst);

/* Sends sig to every running child. Returns how many were signalled. */
int runner_signal_all(struct runner *r, int sig);
int runner_running(const struct runner *r);

/* Renders inst's job template with its rendered params: returns new JSON text or NULL with err. */
char *runner_render_job(const struct sched_instance *inst, struct otsync_err *err);

/* systemd notify protocol (notify.c); each does nothing without NOTIFY_SOCKET. Return 0 or
 * -errno. */
int notify_send(const char *msg);
int notify_reloading(void);     /* RELOADING=1 with MONOTONIC_USEC */
/* WatchdogSec as microseconds when the watchdog applies to this process, else 0. */
uint64_t notify_watchdog_usec(void);

#endif
