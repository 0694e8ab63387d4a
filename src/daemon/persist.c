/*
 * persist.c - what the daemon writes to its journal and what it makes of it after a restart.
 *
 * Durability: a record that something is about to act on (an attempt starting, an outcome
 * that releases a successor, an operator's action) is appended durable; the journal groups
 * all of a loop turn's records into one write and one fdatasync (persist_flush, from the
 * loop's prepare phase), and only then are the turn's children spawned. Log lines and stats
 * ride along without forcing a sync.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "otsync/journal.h"
#include "otsync/log.h"
#include "otsync/redact.h"
#include "otsync/state.h"
#include "otsync/vars.h"
#include "daemon.h"

static void
record(struct daemon *d, json_t *rec, bool durable)
{
    struct otsync_err err;

    if (!rec)
        return;
    if (state_record(d->state, d->journal, rec, durable, &err) < 0)
        log_error("journal: %s", err.msg);
}

void
persist_event(struct daemon *d, json_t *rec, bool durable)
{
    if (rec && !json_object_get(rec, "at"))
        json_object_set_new(rec, "at", json_integer(now_s(d)));
    record(d, rec, durable);
}

static json_t *
params_json(const struct sched_instance *inst)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; o && i < inst->param_count; i++)
        json_object_set_new(o, inst->param_names[i],
                            json_string(redact_name(inst->param_names[i]) ? REDACTED
                                                                          : inst->param_values[i]));
    return o;
}

void
persist_changed(struct daemon *d, const struct sched_instance *inst, enum sched_event ev)
{
    struct hinst *h;
    char ts[15];
    json_t *rec;
    bool durable = true;
    time_t at;

    if (ev == SCHED_EV_CREATED) {
        char id[256];
        /* only what the id and the defaults do not say (state.c, "Records"); params last,
         * where a replay takes them as written */
        rec = json_pack("{s:s, s:s, s:I, s:I}", "t", "created", "id", inst->id, "ct",
                        (json_int_t)inst->cyctime, "at", (json_int_t)inst->created_at);
        vars_format_cyctime(inst->cyctime, ts);
        snprintf(id, sizeof(id), "%s@%s", inst->task, ts);
        if (rec && strcmp(id, inst->id) != 0) {
            json_object_set_new(rec, "task", json_string(inst->task));
            json_object_set_new(rec, "cyc", json_string(ts));
        }
        if (rec && inst->state != SCHED_WAITING)
            json_object_set_new(rec, "state", json_string(sched_state_name(inst->state)));
        if (rec && inst->reason)
            json_object_set_new(rec, "reason", json_string(inst->reason));
        if (rec && d->in_backfill)
            json_object_set_new(rec, "backfill", json_true());
        if (rec)
            json_object_set_new(rec, "params", params_json(inst));
        /* a lost creation is made again, identically, after a restart */
        record(d, rec, false);
        return;
    }
    if (ev != SCHED_EV_STATE)
        return;
    h = state_get(d->state, inst->id);
    switch (inst->state) {
    case SCHED_WAITING:
        /* waiting for a slot, its time or its previous cycle is live detail, not history */
        if (h && h->state == SCHED_WAITING)
            return;
        durable = false;
        at = now_s(d);
        break;
    case SCHED_RUNNING:
        at = inst->started_at;
        break;
    default:
        at = inst->ended_at ? inst->ended_at : now_s(d);
        break;
    }
    rec = json_pack("{s:s, s:s, s:s, s:I}", "t", "state", "id", inst->id, "state",
                    sched_state_name(inst->state), "at", (json_int_t)at);
    if (!rec)
        return;
    /* what the journal's instance (h: what a replay makes of the records so far) already
     * has is left out: a replay's work is the bytes it parses */
    if (!h || h->attempts != inst->attempts)
        json_object_set_new(rec, "attempt", json_integer(inst->attempts));
    if (!h || h->rerun_base != inst->rerun_base)
        json_object_set_new(rec, "base", json_integer(inst->rerun_base));
    if (inst->state == SCHED_RETRY_WAIT)
        json_object_set_new(rec, "retry_at", json_integer(inst->next_try_at));
    if (inst->state != SCHED_RUNNING
        && (!h || !h->reason != !inst->reason
            || (h->reason && strcmp(h->reason, inst->reason) != 0)))
        json_object_set_new(rec, "reason", inst->reason ? json_string(inst->reason)
                                                        : json_null());
    record(d, rec, durable);
}

void
persist_spawned(struct daemon *d, const struct sched_instance *inst, int pid)
{
    record(d, json_pack("{s:s, s:s, s:i}", "t", "pid", "id", inst->id, "pid", pid), false);
}

void
persist_stats(struct daemon *d, const struct sched_instance *inst, const char *stats)
{
    json_t *v = stats ? json_loads(stats, 0, NULL) : NULL;

    if (!v || !json_is_object(v)) {
        json_decref(v);
        return;
    }
    record(d, json_pack("{s:s, s:s, s:o}", "t", "stats", "id", inst->id, "stats", v), false);
}

void
persist_log(struct daemon *d, const struct sched_instance *inst, const char *line, size_t len)
{
    record(d, json_pack("{s:s, s:s, s:s%}", "t", "log", "id", inst->id, "line", line, len),
           false);
}

void
persist_flush(struct daemon *d)
{
    struct otsync_err err;

    for (int round = 0; round < 16; round++) {
        if (journal_pending(d->journal)) {
            if (journal_flush(d->journal, &err) < 0) {
                /* nothing acts on an unrecorded transition: spawns wait for a good flush */
                if (!d->journal_broken)
                    log_error("journal: %s; no attempt starts until it can be written", err.msg);
                d->journal_broken = true;
                return;
            }
            if (d->journal_broken)
                log_notice("journal: writable again");
            d->journal_broken = false;
        }
        /* spawning can fail at once, which records an outcome: flush that too */
        if (!runner_has_pending(d->runner) || d->journal_broken)
            return;
        runner_spawn_pending(d->runner);
    }
}

/* ---- restart ---- */

static bool
is_final(enum sched_state s)
{
    return s == SCHED_SUCCESS || s == SCHED_FAILED || s == SCHED_KILLED || s == SCHED_SKIPPED;
}

struct sched_instance *
persist_adopt(struct daemon *d, const struct hinst *h, enum sched_state state, int base,
              time_t now, struct otsync_err *err)
{
    struct sched_instance *inst;
    struct sched_adopt a;
    const char **names = NULL, **values = NULL;
    const char *k;
    json_t *v, *params = state_params(h);
    size_t n = json_object_size(params), i = 0;

    if (n && (!(names = calloc(n, sizeof(*names))) || !(values = calloc(n, sizeof(*values))))) {
        free(names);
        json_decref(params);
        otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        return NULL;
    }
    if (n)
        json_object_foreach(params, k, v) {
            names[i] = k;
            values[i] = json_string_value(v) ? json_string_value(v) : "";
            i++;
        }
    memset(&a, 0, sizeof(a));
    a.task = h->task;
    a.cyctime = h->cyctime;
    a.state = state;
    a.attempts = h->attempts;
    a.rerun_base = base;
    a.next_try_at = h->next_try_at;
    a.reason = h->reason;
    a.param_count = n;
    a.names = names;
    a.values = values;
    a.created_at = h->created_at;
    a.started_at = h->started_at;
    a.ended_at = h->ended_at;
    inst = sched_adopt(d->sched, &a, now, err);
    free(names);
    free(values);
    json_decref(params);
    return inst;
}

/* At restart: an instance of a task that left the catalogue stays in the journal only. */
static void
adopt(struct daemon *d, const struct hinst *h, enum sched_state state, int base, time_t now)
{
    struct otsync_err err;

    if (!persist_adopt(d, h, state, base, now, &err) && err.code != OTSYNC_ENOENT)
        log_warn("restore %s: %s", h->id, err.msg);
}

int
persist_restore(struct daemon *d, struct otsync_err *err)
{
    struct hinst *const *all;
    size_t n = state_list(d->state, &all), i, interrupted = 0, restored = 0;
    json_t *newest = json_object(), *v;
    const char *task;
    time_t now = now_s(d);

    if (!newest)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    json_object_foreach((json_t *)state_paused_tasks(d->state), task, v)
        if (sched_pause(d->sched, task, true, now, NULL) == 0)
            log_info("task %s stays paused (by an operator)", task);
    /* sorted by scheduled time: the last of each task is its newest */
    for (i = 0; i < n; i++)
        json_object_set_new(newest, all[i]->task, json_integer((json_int_t)i));
    json_object_foreach(newest, task, v) {
        const struct hinst *h = all[json_integer_value(v)];
        (void)sched_restore_position(d->sched, task, h->cyctime);
    }
    /* a task with no instance yet: the previous daemon may have died between its first due
     * cycle and journaling it, so its cycles start from when that daemon was last seen, not
     * from now (a fresh journal knows no such time, and then they start from now) */
    for (i = 0; d->last_alive > 0 && i < d->cat->task_count; i++)
        if (!json_object_get(newest, d->cat->tasks[i].name))
            (void)sched_restore_position(d->sched, d->cat->tasks[i].name, d->last_alive);
    for (i = 0; i < n; i++) {
        const struct hinst *h = all[i];
        bool last = (size_t)json_integer_value(json_object_get(newest, h->task)) == i;
        if (h->state == SCHED_RUNNING) {
            char why[160];
            /* its child died with the old daemon (PR_SET_PDEATHSIG); the attempt was cut
             * short by us, not by the job, so it does not use up a retry */
            snprintf(why, sizeof(why), "interrupted: otsyncd stopped during attempt %d",
                     h->attempts);
            record(d, json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:s}", "t", "state", "id",
                                h->id, "state", "waiting", "attempt", h->attempts, "base",
                                h->rerun_base + 1, "at", (json_int_t)now, "reason", why),
                   true);
            log_warn("instance %s: %s; it runs again", h->id, why);
            interrupted++;
            adopt(d, h, SCHED_WAITING, h->rerun_base, now);
            restored++;
        } else if (!is_final(h->state) || last) {
            adopt(d, h, h->state, h->rerun_base, now);
            restored++;
        }
    }
    json_decref(newest);
    if (n)
        log_notice("journal: %zu instance%s known, %zu restored to the scheduler, %zu "
                   "interrupted", n, n == 1 ? "" : "s", restored, interrupted);
    return 0;
}

static int
snapshot(void *arg, struct journal *j)
{
    struct daemon *d = arg;
    struct otsync_err err;
    time_t keep_after = now_s(d) - (time_t)d->conf.retention_days * 86400;
    size_t dropped = 0;
    int rc = state_snapshot(d->state, j, keep_after, &dropped, &err);

    if (rc < 0)
        log_error("journal snapshot: %s", err.msg);
    else if (dropped)
        log_info("journal: %zu instance%s older than %d days compacted away", dropped,
                 dropped == 1 ? "" : "s", d->conf.retention_days);
    return rc;
}

int
persist_compact(struct daemon *d, struct otsync_err *err)
{
    char dir[4200], before[15];
    size_t moved = 0;
    int rc;

    snprintf(dir, sizeof(dir), "%s/history", d->conf.state_dir);
    /* the archive first: the journal may forget only what is safely elsewhere */
    if ((rc = state_archive(d->state, dir, d->conf.history_memory, &moved, err)) < 0)
        return rc;
    if (moved)
        log_info("journal: %zu finished instance%s moved to %s", moved, moved == 1 ? "" : "s",
                 dir);
    if ((rc = journal_compact(d->journal, snapshot, d, err)) < 0)
        return rc;
    vars_format_cyctime(now_s(d) - (time_t)d->conf.retention_days * 86400, before);
    state_archive_expire(dir, before);
    d->compacted_at = now_s(d);
    /* the instances and the snapshot's texts were freed in pieces: give the pages back */
    malloc_trim(0);
    return 0;
}
