/*
 * backfill.c - backfills that take a task's descendants along (otsyncctl backfill
 * --downstream) or run a limited number of dates at once (--parallel N).
 *
 * Owns: the plan (which instances, grouped by the local date of the root instance they hang
 * from) and the pace (a date's instances are made once fewer than N earlier dates are still
 * unfinished). Leaves to others: the order inside a date, which the dependencies give
 * (sched.c), and the instances themselves (sched_backfill makes them, the journal keeps
 * them). A plan lives in memory only: after a restart the dates not yet made are not made.
 */
#include <stdlib.h>
#include <string.h>
#include "otsync/deps.h"
#include "otsync/log.h"
#include "otsync/state.h"
#include "otsync/vars.h"
#include "daemon.h"

struct bf_item {
    char *task;
    time_t cyctime;
};

struct bf_date {
    struct bf_item *v;
    size_t n, cap;
    bool started;
};

struct backfill {
    struct backfill *next;
    char *task;
    struct bf_date *dates;
    size_t date_count, next_date;
    int parallel;
};

static int
item_add(struct bf_date *dt, const char *task, time_t cyctime)
{
    if (dt->n == dt->cap) {
        size_t cap = dt->cap ? dt->cap * 2 : 64;
        struct bf_item *nv = realloc(dt->v, cap * sizeof(*nv));
        if (!nv)
            return -OTSYNC_ENOMEM;
        dt->v = nv;
        dt->cap = cap;
    }
    if (!(dt->v[dt->n].task = strdup(task)))
        return -OTSYNC_ENOMEM;
    dt->v[dt->n++].cyctime = cyctime;
    return 0;
}

static void
job_free(struct backfill *b)
{
    size_t i, k;

    if (!b)
        return;
    for (i = 0; i < b->date_count; i++) {
        for (k = 0; k < b->dates[i].n; k++)
            free(b->dates[i].v[k].task);
        free(b->dates[i].v);
    }
    free(b->dates);
    free(b->task);
    free(b);
}

/* What deps_dependents finds, collected for one date (each instance once per plan). */
struct collect {
    struct daemon *d;
    struct bf_date *dt;
    json_t *seen;       /* id -> true */
    int rc;
};

static void
on_dependent(void *arg, size_t task, time_t cyctime)
{
    struct collect *c = arg;
    const char *name = c->d->cat->tasks[task].name;
    char id[300], ts[15];

    snprintf(id, sizeof(id), "%s@%s", name, vars_format_cyctime(cyctime, ts));
    if (c->rc < 0 || json_object_get(c->seen, id))
        return;
    json_object_set_new(c->seen, id, json_true());
    c->rc = item_add(c->dt, name, cyctime);
}

/* Makes a date's instances, root first and then in the order found (upstream before
 * downstream). One the scheduler already holds is left as it is; one later than its task's
 * live schedule is left to that schedule. */
static size_t
date_start(struct daemon *d, struct backfill *b, struct bf_date *dt)
{
    struct otsync_err err;
    size_t i, made = 0, n;

    dt->started = true;
    d->in_backfill = true;
    for (i = 0; i < dt->n; i++) {
        if (sched_backfill(d->sched, dt->v[i].task, dt->v[i].cyctime, dt->v[i].cyctime,
                           now_s(d), &n, &err) == 0)
            made += n;
        else if (i == 0)
            log_warn("backfill %s: %s", b->task, err.msg);
    }
    d->in_backfill = false;
    return made;
}

/* A started date is done when each of its instances that exists has finished; a failed one
 * keeps it open (its dependents wait for a rerun), and so the dates after it wait too. */
static bool
date_done(struct daemon *d, const struct bf_date *dt)
{
    char id[300], ts[15];
    size_t i;

    for (i = 0; i < dt->n; i++) {
        const struct hinst *h;
        snprintf(id, sizeof(id), "%s@%s", dt->v[i].task,
                 vars_format_cyctime(dt->v[i].cyctime, ts));
        if ((h = state_get(d->state, id)) && h->state != SCHED_SUCCESS
            && h->state != SCHED_SKIPPED)
            return false;
    }
    return true;
}

/* Starts dates while fewer than `parallel` started ones are unfinished. Returns how many
 * instances it made; frees the plan (and unlinks it) when every date has started. */
static size_t
job_advance(struct daemon *d, struct backfill *b)
{
    size_t i, open = 0, made = 0;

    for (i = 0; i < b->next_date; i++)
        if (!date_done(d, &b->dates[i]))
            open++;
    while (b->next_date < b->date_count && open < (size_t)b->parallel) {
        made += date_start(d, b, &b->dates[b->next_date++]);
        open++;
    }
    return made;
}

static void
job_unlink(struct daemon *d, struct backfill *b)
{
    struct backfill **pp;

    for (pp = &d->backfills; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            break;
        }
}

int
backfill_start(struct daemon *d, const char *task, time_t from, time_t to, bool downstream,
               int parallel, size_t *ret_dates, size_t *ret_planned, size_t *ret_created,
               struct otsync_err *err)
{
    const struct catalog_task *def = catalog_find(d->cat, task);
    struct collect c = {d, NULL, json_object(), 0};
    struct backfill *b = calloc(1, sizeof(*b));
    size_t planned = 0, i, k;
    char last_day[9] = "", ts[15];
    time_t t;
    int rc = 0;

    *ret_dates = *ret_planned = *ret_created = 0;
    if (!def) {
        rc = otsync_err_set(err, OTSYNC_ENOENT, "no task '%s' in the catalogue", task);
        goto fail;
    }
    if (!b || !c.seen || !(b->task = strdup(task))) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    if (to < from) {
        rc = otsync_err_set(err, OTSYNC_EINVAL, "backfill: --to is before --from");
        goto fail;
    }
    if (to > sched_task_position(d->sched, task)) {
        /* later cycles belong to the live schedule, which will make them itself */
        rc = otsync_err_set(err, OTSYNC_EINVAL, "backfill: '%s' has scheduled cycles up to "
                            "%s; --to must not be later", task,
                            vars_format_cyctime(sched_task_position(d->sched, task), ts));
        goto fail;
    }
    b->parallel = parallel;
    for (t = catalog_next_time(def, from - 1); t != (time_t)-1 && t <= to;
         t = catalog_next_time(def, t)) {
        vars_format_cyctime(t, ts);
        if (strncmp(ts, last_day, 8) != 0) {
            struct bf_date *nd = realloc(b->dates, (b->date_count + 1) * sizeof(*nd));
            if (!nd) {
                rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
                goto fail;
            }
            b->dates = nd;
            memset(&b->dates[b->date_count++], 0, sizeof(*nd));
            memcpy(last_day, ts, 8);
        }
        c.dt = &b->dates[b->date_count - 1];
        on_dependent(&c, (size_t)(def - d->cat->tasks), t);
    }
    /* the descendants, breadth first: each item's dependents join its date's list after it */
    for (i = 0; downstream && i < b->date_count && c.rc == 0; i++) {
        c.dt = &b->dates[i];
        for (k = 0; k < c.dt->n && c.rc == 0; k++) {
            const struct catalog_task *u = catalog_find(d->cat, c.dt->v[k].task);
            if (u)
                deps_dependents(d->cat, (size_t)(u - d->cat->tasks), c.dt->v[k].cyctime,
                                on_dependent, &c);
        }
    }
    if (c.rc < 0) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < b->date_count; i++)
        planned += b->dates[i].n;
    if (planned > 100000) {
        rc = otsync_err_set(err, OTSYNC_EINVAL, "backfill: more than 100000 instances in the "
                            "plan; split the range");
        goto fail;
    }
    json_decref(c.seen);
    *ret_dates = b->date_count;
    *ret_planned = planned;
    b->next = d->backfills;
    d->backfills = b;
    *ret_created = job_advance(d, b);
    if (b->next_date == b->date_count) {
        job_unlink(d, b);
        job_free(b);
    }
    return 0;
fail:
    json_decref(c.seen);
    job_free(b);
    return rc;
}

void
backfill_progress(struct daemon *d)
{
    struct backfill *b, *next;
    size_t made = 0;

    for (b = d->backfills; b; b = next) {
        next = b->next;
        made += job_advance(d, b);
        if (b->next_date == b->date_count) {
            log_info("backfill %s: its last date is under way", b->task);
            job_unlink(d, b);
            job_free(b);
        }
    }
    if (made)
        daemon_rearm(d, sched_step(d->sched, now_s(d)));
}

void
backfill_free_all(struct daemon *d)
{
    struct backfill *b, *next;

    for (b = d->backfills; b; b = next) {
        next = b->next;
        job_free(b);
    }
    d->backfills = NULL;
}
