/*
 * sched.c - the cycle scheduler: instance creation, the instance state machine, retries,
 * self-dependency, catch-up and the max_running bound.
 *
 * Owns: which instances exist and when each may run. Pure logic: every entry point takes
 * `now` from the caller (a fake clock in tests, the daemon's real or simulated one). Leaves
 * to others: spawning (hooks->start), persistence (hooks->changed), timers (the caller arms
 * one for the time sched_step returns).
 *
 * Data structures, chosen so 10,000 tasks on one-minute cycles stay cheap:
 * - tasks by name in an open-addressing hash (catalogue swaps match tasks by name);
 * - a min-heap of tasks by next due time, so a step touches only due tasks;
 * - the ready queue, a binary heap of waiting instances by (scheduled time, task name): 10,000
 *   instances of one minute go in at O(log n) each (a sorted list made that quadratic); an
 *   instance blocked by its previous cycle is kept out of it and attached to that previous
 *   instance, which releases it when it succeeds, so starting never rescans blocked chains;
 * - an instance blocked by an upstream task (dependencies) is likewise kept out of the queue,
 *   in that task's list of waiters, and looked at again only when that task has news: an
 *   instance of it succeeded or was skipped, or its schedule moved past a cycle;
 * - a list of instances in retry_wait.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/deps.h"
#include "otsync/strhash.h"
#include "otsync/sched.h"
#include "otsync/vars.h"

enum { IN_NONE, IN_QUEUE, IN_RETRY, IN_DEPS };

struct sched_task {
    char *name;
    const struct catalog_task *def;     /* from the scheduler's current catalogue */
    time_t position;                    /* the last scheduled time created (or the start) */
    time_t due;                         /* the next scheduled time, or -1 */
    size_t heap_idx;                    /* SIZE_MAX when not in the heap */
    bool removed;                       /* not in the current catalogue */
    bool op_paused;                     /* paused by an operator (sched_pause) */
    struct sched_instance *first, *last;
    size_t order;                       /* when first seen, for sched_foreach */
    struct sched_instance **waiters;    /* instances blocked by one of this task's cycles */
    size_t waiter_count, waiter_cap;
};

struct sched {
    int max_running;
    int running;
    struct sched_hooks hooks;
    struct catalog *cat;
    struct sched_task **tasks;          /* in the order first seen */
    size_t task_count, task_cap;
    struct sched_task **hash;           /* open addressing, power-of-two size */
    size_t hash_size;
    struct sched_task **heap;
    size_t heap_len;
    struct sched_instance **ready;      /* the ready queue: a heap by queue_before */
    size_t ready_len, ready_cap;
    size_t unmarked;                    /* queued instances whose wait is NONE */
    time_t lead;                        /* see sched_set_lead */
    time_t now;                         /* of the latest step or finish */
    time_t early_min;                   /* earliest queued WAIT_TIME instance; 0 = none */
    struct sched_instance *r_head;      /* retry_wait list, unordered */
};

/* ---- tasks by name ---- */

static struct sched_task *
task_find(const struct sched *s, const char *name)
{
    size_t i;

    if (!s->hash_size)
        return NULL;
    for (i = otsync_strhash(name) & (s->hash_size - 1); s->hash[i]; i = (i + 1) & (s->hash_size - 1))
        if (strcmp(s->hash[i]->name, name) == 0)
            return s->hash[i];
    return NULL;
}

static int
hash_grow(struct sched *s)
{
    size_t size = s->hash_size ? s->hash_size * 2 : 64, i, j;
    struct sched_task **h = calloc(size, sizeof(*h));

    if (!h)
        return -OTSYNC_ENOMEM;
    for (i = 0; i < s->task_count; i++) {
        for (j = otsync_strhash(s->tasks[i]->name) & (size - 1); h[j]; j = (j + 1) & (size - 1))
            ;
        h[j] = s->tasks[i];
    }
    free(s->hash);
    s->hash = h;
    s->hash_size = size;
    return 0;
}

static struct sched_task *
task_add(struct sched *s, const char *name)
{
    struct sched_task *t;
    size_t j;

    if ((s->task_count + 1) * 2 > s->hash_size && hash_grow(s) < 0)
        return NULL;
    if (s->task_count == s->task_cap) {
        size_t cap = s->task_cap ? s->task_cap * 2 : 64;
        struct sched_task **nt = realloc(s->tasks, cap * sizeof(*nt));
        struct sched_task **nh = realloc(s->heap, cap * sizeof(*nh));
        if (nt)
            s->tasks = nt;
        if (nh)
            s->heap = nh;
        if (!nt || !nh)
            return NULL;
        s->task_cap = cap;
    }
    if (!(t = calloc(1, sizeof(*t))) || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->heap_idx = SIZE_MAX;
    t->due = (time_t)-1;
    t->order = s->task_count;
    s->tasks[s->task_count++] = t;
    for (j = otsync_strhash(name) & (s->hash_size - 1); s->hash[j]; j = (j + 1) & (s->hash_size - 1))
        ;
    s->hash[j] = t;
    return t;
}

/* ---- the heap of due times ---- */

static void
heap_swap(struct sched *s, size_t a, size_t b)
{
    struct sched_task *t = s->heap[a];

    s->heap[a] = s->heap[b];
    s->heap[b] = t;
    s->heap[a]->heap_idx = a;
    s->heap[b]->heap_idx = b;
}

static void
heap_up(struct sched *s, size_t i)
{
    while (i > 0 && s->heap[(i - 1) / 2]->due > s->heap[i]->due) {
        heap_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void
heap_down(struct sched *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->heap_len && s->heap[l]->due < s->heap[m]->due)
            m = l;
        if (r < s->heap_len && s->heap[r]->due < s->heap[m]->due)
            m = r;
        if (m == i)
            return;
        heap_swap(s, i, m);
        i = m;
    }
}

static void
heap_remove(struct sched *s, struct sched_task *t)
{
    size_t i = t->heap_idx;

    if (i == SIZE_MAX)
        return;
    t->heap_idx = SIZE_MAX;
    s->heap_len--;
    if (i == s->heap_len)
        return;
    s->heap[i] = s->heap[s->heap_len];
    s->heap[i]->heap_idx = i;
    heap_up(s, i);
    heap_down(s, s->heap[i]->heap_idx);
}

/* Recomputes t's due time from its position and (re)places it in the heap. */
static void
task_reschedule(struct sched *s, struct sched_task *t)
{
    heap_remove(s, t);
    t->due = t->removed ? (time_t)-1 : catalog_next_time(t->def, t->position);
    if (t->due == (time_t)-1)
        return;
    t->heap_idx = s->heap_len;
    s->heap[s->heap_len++] = t;
    heap_up(s, t->heap_idx);
}

/* ---- events and lists ---- */

static void
emit(struct sched *s, const struct sched_instance *inst, enum sched_event ev)
{
    if (s->hooks.changed)
        s->hooks.changed(s->hooks.arg, inst, ev);
}

static bool
queue_before(const struct sched_instance *a, const struct sched_instance *b)
{
    if (a->cyctime != b->cyctime)
        return a->cyctime < b->cyctime;
    return strcmp(a->task, b->task) < 0;
}

static void
ready_swap(struct sched *s, size_t a, size_t b)
{
    struct sched_instance *t = s->ready[a];

    s->ready[a] = s->ready[b];
    s->ready[b] = t;
    s->ready[a]->q_idx = a;
    s->ready[b]->q_idx = b;
}

static void
ready_up(struct sched *s, size_t i)
{
    while (i > 0 && queue_before(s->ready[i], s->ready[(i - 1) / 2])) {
        ready_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void
ready_down(struct sched *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->ready_len && queue_before(s->ready[l], s->ready[m]))
            m = l;
        if (r < s->ready_len && queue_before(s->ready[r], s->ready[m]))
            m = r;
        if (m == i)
            return;
        ready_swap(s, i, m);
        i = m;
    }
}

static void
queue_insert(struct sched *s, struct sched_instance *inst)
{
    if (s->ready_len == s->ready_cap) {
        size_t cap = s->ready_cap ? s->ready_cap * 2 : 256;
        struct sched_instance **nr = realloc(s->ready, cap * sizeof(*nr));
        if (!nr)
            abort();    /* out of memory with an instance in hand: nowhere to keep it */
        s->ready = nr;
        s->ready_cap = cap;
    }
    inst->q_idx = s->ready_len;
    s->ready[s->ready_len++] = inst;
    ready_up(s, inst->q_idx);
    inst->where = IN_QUEUE;
    if (inst->wait == SCHED_WAIT_NONE)
        s->unmarked++;
    else if (inst->wait == SCHED_WAIT_TIME && (!s->early_min || inst->cyctime < s->early_min))
        s->early_min = inst->cyctime;
}

static void
list_unlink(struct sched *s, struct sched_instance *inst)
{
    if (inst->where == IN_QUEUE) {
        size_t i = inst->q_idx;
        s->ready_len--;
        if (i != s->ready_len) {
            s->ready[i] = s->ready[s->ready_len];
            s->ready[i]->q_idx = i;
            ready_up(s, i);
            ready_down(s, s->ready[i]->q_idx);
        }
        if (inst->wait == SCHED_WAIT_NONE)
            s->unmarked--;
    } else if (inst->where == IN_RETRY) {
        if (inst->q_prev)
            inst->q_prev->q_next = inst->q_next;
        else
            s->r_head = inst->q_next;
        if (inst->q_next)
            inst->q_next->q_prev = inst->q_prev;
    } else if (inst->where == IN_DEPS) {
        struct sched_task *u = inst->dep_task;
        size_t i = inst->dep_idx;
        if (i != --u->waiter_count) {
            u->waiters[i] = u->waiters[u->waiter_count];
            u->waiters[i]->dep_idx = i;
        }
        inst->dep_task = NULL;
    }
    inst->q_prev = inst->q_next = NULL;
    inst->where = IN_NONE;
}

static void
retry_insert(struct sched *s, struct sched_instance *inst)
{
    inst->q_prev = NULL;
    inst->q_next = s->r_head;
    if (s->r_head)
        s->r_head->q_prev = inst;
    s->r_head = inst;
    inst->where = IN_RETRY;
}

/* Makes a waiting instance ready: into the queue, no longer blocked. */
static void
make_ready(struct sched *s, struct sched_instance *inst)
{
    bool changed = inst->state != SCHED_WAITING || inst->wait != SCHED_WAIT_NONE
                   || inst->blocked_by;

    inst->state = SCHED_WAITING;
    /* a successor released ahead of its own time waits for it */
    inst->wait = inst->cyctime > s->now ? SCHED_WAIT_TIME : SCHED_WAIT_NONE;
    free(inst->blocked_by);
    inst->blocked_by = NULL;
    queue_insert(s, inst);
    if (changed)
        emit(s, inst, SCHED_EV_STATE);
}

static bool
is_final(enum sched_state st)
{
    return st == SCHED_SUCCESS || st == SCHED_FAILED || st == SCHED_KILLED
           || st == SCHED_SKIPPED;
}

static void
instance_free(struct sched_instance *inst)
{
    size_t i;

    for (i = 0; i < inst->param_count; i++) {
        free(inst->param_names[i]);
        free(inst->param_values[i]);
    }
    free(inst->param_names);
    free(inst->param_values);
    free(inst->id);
    free(inst->task);
    free(inst->blocked_by);
    free(inst->reason);
    catalog_unref(inst->cat);
    free(inst);
}

/* Whether an instance of another task waits for t's cycle `at`. */
static bool
has_waiter_at(const struct sched_task *t, time_t at)
{
    size_t i;

    for (i = 0; i < t->waiter_count; i++)
        if (t->waiters[i]->dep_time == at)
            return true;
    return false;
}

/*
 * Frees a task's oldest instances once nothing needs them: final, not the newest (the next
 * cycle checks that one), and not blocking a successor or a downstream instance. Stops at the
 * first one still needed, so a task's list stays in order.
 */
static void
reap(struct sched *s, struct sched_task *t)
{
    struct sched_instance *inst;

    while ((inst = t->first) && inst != t->last && is_final(inst->state)) {
        struct sched_instance *next = inst->next_of_task;
        if (next->state == SCHED_WAITING && next->wait == SCHED_WAIT_PREVIOUS)
            return;
        if (t->waiter_count && has_waiter_at(t, inst->cyctime))
            return;
        emit(s, inst, SCHED_EV_FREED);
        t->first = next;
        next->prev_of_task = NULL;
        instance_free(inst);
    }
}

static void place_waiting(struct sched *s, struct sched_instance *inst, time_t now);

/* Places a waiting instance again after what blocked it changed; an event only when its wait
 * did change (an instance of a daily task waiting through 288 five-minute ones is quiet). */
static void
replace(struct sched *s, struct sched_instance *inst)
{
    enum sched_wait old_wait = inst->wait;
    char *old = inst->blocked_by;
    bool changed;

    inst->blocked_by = NULL;
    inst->wait = SCHED_WAIT_NONE;
    place_waiting(s, inst, s->now);
    changed = inst->wait != old_wait || !old != !inst->blocked_by
              || (old && strcmp(old, inst->blocked_by) != 0);
    free(old);
    if (changed)
        emit(s, inst, SCHED_EV_STATE);
}

/* An instance reached success or skipped: its successor, if it waited for it, goes on (to
 * its own upstream checks). */
static void
release_successor(struct sched *s, struct sched_instance *inst)
{
    struct sched_instance *next = inst->next_of_task;

    if (next && next->state == SCHED_WAITING && next->wait == SCHED_WAIT_PREVIOUS)
        replace(s, next);
}

static void wake_waiters(struct sched *s, struct sched_task *u);
static void set_state(struct sched *s, struct sched_instance *inst, enum sched_state st);

/* A failed attempt: retry after the interval while reruns are left. */
static void
attempt_failed(struct sched *s, struct sched_instance *inst, enum sched_outcome outcome,
               const char *reason, time_t now)
{
    free(inst->reason);
    inst->reason = reason ? strdup(reason) : NULL;
    inst->ended_at = now;
    if (outcome == SCHED_KILL) {
        set_state(s, inst, SCHED_KILLED);
    } else if (outcome == SCHED_FAIL && inst->attempts - inst->rerun_base <= inst->def->retries) {
        inst->next_try_at = now + inst->def->retry_interval_s;
        inst->state = SCHED_RETRY_WAIT;
        inst->wait = SCHED_WAIT_NONE;
        retry_insert(s, inst);
        emit(s, inst, SCHED_EV_STATE);
    } else {
        set_state(s, inst, SCHED_FAILED);
    }
}

static void
set_state(struct sched *s, struct sched_instance *inst, enum sched_state st)
{
    inst->state = st;
    inst->wait = SCHED_WAIT_NONE;
    emit(s, inst, SCHED_EV_STATE);
    if (st == SCHED_SUCCESS || st == SCHED_SKIPPED) {
        release_successor(s, inst);
        wake_waiters(s, inst->owner);
    }
}

/* Starts queued instances in order while slots are free; marks the rest as waiting for one. */
static void
start_ready(struct sched *s, time_t now)
{
    struct sched_instance *inst;
    struct otsync_err err;
    size_t i;

    /* the queue is ordered by scheduled time: once its head is early, everything is */
    while (s->running < s->max_running && s->ready_len && s->ready[0]->cyctime <= now) {
        inst = s->ready[0];
        list_unlink(s, inst);
        otsync_err_clear(&err);
        inst->attempts++;
        inst->started_at = now;
        if (s->hooks.start(s->hooks.arg, inst, &err) < 0) {
            attempt_failed(s, inst, SCHED_FAIL, err.msg[0] ? err.msg : "could not start", now);
            reap(s, inst->owner);
            continue;
        }
        s->running++;
        inst->state = SCHED_RUNNING;
        inst->wait = SCHED_WAIT_NONE;
        emit(s, inst, SCHED_EV_STATE);
    }
    if (s->unmarked == 0)
        return;
    for (i = 0; i < s->ready_len && s->unmarked; i++) {
        inst = s->ready[i];
        if (inst->wait != SCHED_WAIT_NONE)
            continue;
        inst->wait = SCHED_WAIT_SLOT;
        s->unmarked--;
        emit(s, inst, SCHED_EV_STATE);
    }
}

static char *
xstrdup_id(const char *task, time_t cyctime)
{
    char ts[15];
    size_t n = strlen(task) + 1 + 14 + 1;
    char *id = malloc(n);

    if (id)
        snprintf(id, n, "%s@%s", task, vars_format_cyctime(cyctime, ts));
    return id;
}

/* A new instance of t at cyctime (state WAITING, in no list). Params are copied from
 * names/values when given (an adopted instance keeps what it was rendered with), else
 * rendered now; a param that fails to render leaves its message in *ret_fail. */
static struct sched_instance *
instance_new(struct sched *s, struct sched_task *t, time_t cyctime, time_t now, size_t count,
             const char *const *names, const char *const *values, char **ret_fail)
{
    const struct catalog_task *def = t->def;
    struct sched_instance *inst = calloc(1, sizeof(*inst));
    struct vars_ctx ctx;
    struct vars_error ve;
    size_t i, n = names ? count : def->param_count;

    *ret_fail = NULL;
    if (!inst)
        return NULL;
    inst->id = xstrdup_id(t->name, cyctime);
    inst->task = strdup(t->name);
    inst->cyctime = cyctime;
    inst->def = def;
    inst->cat = catalog_ref(s->cat);
    inst->owner = t;
    inst->created_at = now;
    inst->state = SCHED_WAITING;
    if (n) {
        inst->param_names = calloc(n, sizeof(char *));
        inst->param_values = calloc(n, sizeof(char *));
    }
    if (!inst->id || !inst->task || (n && (!inst->param_names || !inst->param_values))) {
        instance_free(inst);
        return NULL;
    }
    /* rendered once, here; retries reuse these values */
    ctx.cyctime = cyctime;
    ctx.names = (const char *const *)inst->param_names;
    ctx.values = (const char *const *)inst->param_values;
    for (i = 0; i < n; i++) {
        ctx.count = i;
        if (names) {
            inst->param_names[i] = strdup(names[i]);
            inst->param_values[i] = strdup(values[i] ? values[i] : "");
        } else {
            inst->param_names[i] = strdup(def->params[i].name);
            if (vars_render(def->params[i].expr, &ctx, &inst->param_values[i], &ve) < 0) {
                inst->param_values[i] = strdup("");
                if (!*ret_fail) {
                    size_t len = strlen(ve.msg) + strlen(def->params[i].name) + 32;
                    if ((*ret_fail = malloc(len)))
                        snprintf(*ret_fail, len, "param '%s': %s", def->params[i].name, ve.msg);
                }
            }
        }
        inst->param_count = i + 1;
    }
    return inst;
}

/* Links inst into its task's list in scheduled-time order (usually at the end). */
static void
link_sorted(struct sched_task *t, struct sched_instance *inst)
{
    struct sched_instance *after = t->last;

    while (after && after->cyctime > inst->cyctime)
        after = after->prev_of_task;
    inst->prev_of_task = after;
    inst->next_of_task = after ? after->next_of_task : t->first;
    if (inst->next_of_task)
        inst->next_of_task->prev_of_task = inst;
    else
        t->last = inst;
    if (after)
        after->next_of_task = inst;
    else
        t->first = inst;
}

static bool
task_paused(const struct sched_task *t)
{
    return t->def->paused || t->op_paused;
}

/* ---- dependencies ---- */

static struct sched_instance *
held_at(const struct sched_task *t, time_t at)
{
    struct sched_instance *inst;

    for (inst = t->last; inst && inst->cyctime >= at; inst = inst->prev_of_task)
        if (inst->cyctime == at)
            return inst;
    return NULL;
}

/* The state of u's cycle `at`: held, known to the caller (hooks.lookup), or SCHED_UP_*. */
static int
upstream_state(struct sched *s, struct sched_task *u, time_t at)
{
    struct sched_instance *inst;
    char *id;
    int st;

    if (u->removed || !u->def)
        return SCHED_UP_NEVER;
    if ((inst = held_at(u, at)))
        return inst->state;
    if (s->hooks.lookup && (id = xstrdup_id(u->name, at))) {
        st = s->hooks.lookup(s->hooks.arg, id);
        free(id);
        if (st >= 0)
            return st;
    }
    /* the schedule makes every cycle from its due time on, and none before it any more */
    return u->due != (time_t)-1 && at >= u->due ? SCHED_UP_NOT_YET : SCHED_UP_NEVER;
}

static bool
upstream_done(int st)
{
    return st == SCHED_SUCCESS || st == SCHED_SKIPPED || st == SCHED_UP_NEVER;
}

/* fn for each_upstream; returns false to stop. */
typedef bool (*upstream_cb)(void *arg, struct sched_task *u, time_t at, int state, bool cross);

/* Visits every upstream cycle of def's instance at t (made under cat) in checking order. */
static void
each_upstream(struct sched *s, const struct catalog_task *def, const struct catalog *cat,
              time_t t, upstream_cb fn, void *arg)
{
    size_t dc = def->depends_count, pc = def->previous_count, k;
    size_t total = dc + pc + (def->downstream_dependency ? def->downstream_count : 0);

    for (k = 0; k < total; k++) {
        const char *name = k < dc ? def->depends_on[k].task
                           : k < dc + pc ? def->previous_of[k - dc].task
                                         : cat->tasks[def->downstream[k - dc - pc]].name;
        struct sched_task *u = task_find(s, name);
        struct deps_span sp;
        time_t c;

        if (!u || u->removed || !u->def)
            continue;   /* gone from the catalogue: nothing more will come of it */
        if (k < dc)
            deps_span(&def->cycle, &u->def->cycle, t, &sp);
        else
            deps_previous_span(&def->cycle, &u->def->cycle, t, &sp);
        for (c = deps_span_next(u->def, &sp, sp.from - 1); c != (time_t)-1;
             c = deps_span_next(u->def, &sp, c))
            if (!fn(arg, u, c, upstream_state(s, u, c), k >= dc))
                return;
    }
}

struct blocker {
    struct sched_task *u;
    time_t at;
};

static bool
on_blocker(void *arg, struct sched_task *u, time_t at, int state, bool cross)
{
    struct blocker *b = arg;

    (void)cross;
    if (upstream_done(state))
        return true;
    b->u = u;
    b->at = at;
    return false;
}

/* Blocks a waiting instance (in no list) by u's cycle `at`. */
static void
waiter_add(struct sched *s, struct sched_instance *inst, struct sched_task *u, time_t at)
{
    (void)s;
    if (u->waiter_count == u->waiter_cap) {
        size_t cap = u->waiter_cap ? u->waiter_cap * 2 : 16;
        struct sched_instance **nv = realloc(u->waiters, cap * sizeof(*nv));
        if (!nv)
            abort();    /* out of memory with an instance in hand: nowhere to keep it */
        u->waiters = nv;
        u->waiter_cap = cap;
    }
    inst->dep_task = u;
    inst->dep_time = at;
    inst->dep_idx = u->waiter_count;
    u->waiters[u->waiter_count++] = inst;
    inst->where = IN_DEPS;
    inst->wait = SCHED_WAIT_UPSTREAM;
    free(inst->blocked_by);
    inst->blocked_by = xstrdup_id(u->name, at);
}

/* Looks again at the instances blocked by one of u's cycles that no longer holds them back
 * (it succeeded, was skipped, or the schedule went past it without making it). */
static void
wake_waiters(struct sched *s, struct sched_task *u)
{
    struct sched_instance **v;
    size_t i, n = 0;

    if (!u->waiter_count)
        return;
    if (!(v = malloc(u->waiter_count * sizeof(*v))))
        return;     /* they stay blocked until u's next news */
    for (i = 0; i < u->waiter_count; i++)
        if (upstream_done(upstream_state(s, u, u->waiters[i]->dep_time)))
            v[n++] = u->waiters[i];
    for (i = 0; i < n; i++) {
        list_unlink(s, v[i]);
        replace(s, v[i]);
    }
    free(v);
}

/* A waiting instance: blocked by its previous cycle (self-dependency), or queued. */
static void
place_waiting(struct sched *s, struct sched_instance *inst, time_t now)
{
    struct sched_instance *prev = inst->prev_of_task;

    if (inst->def->self_dependency && prev && prev->state != SCHED_SUCCESS
        && prev->state != SCHED_SKIPPED) {
        inst->wait = SCHED_WAIT_PREVIOUS;
        free(inst->blocked_by);
        inst->blocked_by = strdup(prev->id);
        return;
    }
    if (inst->def->depends_count || inst->def->previous_count
        || (inst->def->downstream_dependency && inst->def->downstream_count)) {
        struct blocker b = {NULL, 0};
        each_upstream(s, inst->def, inst->cat, inst->cyctime, on_blocker, &b);
        if (b.u) {
            waiter_add(s, inst, b.u, b.at);
            return;
        }
    }
    if (inst->cyctime > now)
        inst->wait = SCHED_WAIT_TIME;
    else if (s->running >= s->max_running)
        inst->wait = SCHED_WAIT_SLOT;
    else
        inst->wait = SCHED_WAIT_NONE;
    queue_insert(s, inst);
}

/* Creates the instance of t at cyctime, renders its params, queues or blocks it. */
static void
create(struct sched *s, struct sched_task *t, time_t cyctime, time_t now)
{
    char *fail = NULL;
    struct sched_instance *inst = instance_new(s, t, cyctime, now, 0, NULL, NULL, &fail);

    if (!inst) {
        free(fail);
        return;
    }
    link_sorted(t, inst);
    if (task_paused(t)) {
        inst->state = SCHED_SKIPPED;
        emit(s, inst, SCHED_EV_CREATED);
        release_successor(s, inst);
        wake_waiters(s, t);
    } else if (fail) {
        inst->state = SCHED_FAILED;
        inst->reason = fail;
        fail = NULL;
        emit(s, inst, SCHED_EV_CREATED);
    } else {
        place_waiting(s, inst, now);
        emit(s, inst, SCHED_EV_CREATED);
    }
    free(fail);
    reap(s, t);
}

static time_t
next_due(const struct sched *s)
{
    time_t next = s->heap_len ? s->heap[0]->due - s->lead : (time_t)-1;
    const struct sched_instance *inst;

    if (s->early_min && (next == (time_t)-1 || s->early_min < next))
        next = s->early_min;
    for (inst = s->r_head; inst; inst = inst->q_next)
        if (next == (time_t)-1 || inst->next_try_at < next)
            next = inst->next_try_at;
    return next;
}

/* Instances created ahead whose time has come: runnable now. One pass over the queue, made
 * only when the earliest of them is due, so at most once per distinct scheduled time. */
static void
release_due(struct sched *s, time_t now)
{
    time_t min = 0;
    size_t i;

    for (i = 0; i < s->ready_len; i++) {
        struct sched_instance *inst = s->ready[i];
        if (inst->wait != SCHED_WAIT_TIME)
            continue;
        if (inst->cyctime > now) {
            if (!min || inst->cyctime < min)
                min = inst->cyctime;
            continue;
        }
        inst->wait = SCHED_WAIT_NONE;
        s->unmarked++;
        emit(s, inst, SCHED_EV_DUE);
    }
    s->early_min = min;
}

/* ---- public ---- */

struct sched *
sched_new(int max_running, const struct sched_hooks *hooks)
{
    struct sched *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->max_running = max_running;
    s->hooks = *hooks;
    return s;
}

void
sched_free(struct sched *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->task_count; i++) {
        struct sched_task *t = s->tasks[i];
        struct sched_instance *inst = t->first, *next;
        for (; inst; inst = next) {
            next = inst->next_of_task;
            instance_free(inst);
        }
        free(t->name);
        free(t->waiters);
        free(t);
    }
    free(s->tasks);
    free(s->hash);
    free(s->heap);
    free(s->ready);
    catalog_unref(s->cat);
    free(s);
}

void
sched_set_catalog(struct sched *s, struct catalog *cat, time_t now)
{
    struct catalog *old = s->cat;
    size_t i;

    if (now > s->now)
        s->now = now;
    s->cat = catalog_ref(cat);
    for (i = 0; i < s->task_count; i++)
        s->tasks[i]->removed = true;
    for (i = 0; i < cat->task_count; i++) {
        const struct catalog_task *def = &cat->tasks[i];
        struct sched_task *t = task_find(s, def->name);
        if (!t) {
            if (!(t = task_add(s, def->name)))
                continue;
            t->position = now;      /* a new task starts from the next cycle */
        } else if (t->def && t->def->paused && !def->paused) {
            t->position = now;      /* so does a resumed one */
        }
        t->def = def;
        t->removed = false;
    }
    for (i = 0; i < s->task_count; i++)
        task_reschedule(s, s->tasks[i]);
    /* an upstream task that left, or whose schedule moved, may hold nothing back any more */
    for (i = 0; i < s->task_count; i++)
        wake_waiters(s, s->tasks[i]);
    catalog_unref(old);
}

int
sched_restore_position(struct sched *s, const char *task, time_t last_cyctime)
{
    struct sched_task *t = task_find(s, task);

    if (!t || t->removed)
        return -OTSYNC_ENOENT;
    t->position = last_cyctime;
    task_reschedule(s, t);
    return 0;
}

time_t
sched_step(struct sched *s, time_t now)
{
    struct sched_instance *inst, *next;

    if (now > s->now)
        s->now = now;
    while (s->heap_len && s->heap[0]->due <= now + s->lead) {
        struct sched_task *t = s->heap[0];
        time_t c = t->due;
        if (!t->def->catchup && c <= now) {
            /* only the newest missed cycle runs; look back only when more than one is due */
            time_t after = catalog_next_time(t->def, c);
            if (after != (time_t)-1 && after <= now) {
                time_t newest = cycle_prev(&t->def->cycle, now);
                if (newest != (time_t)-1 && newest > c
                    && (!t->def->valid_until || newest < t->def->valid_until))
                    c = newest;
            }
            create(s, t, c, now);
            t->position = c;
        } else if (!t->def->catchup) {
            create(s, t, c, now);   /* ahead of time, by the lead */
            t->position = c;
        } else {
            while (c != (time_t)-1 && c <= now + s->lead) {
                create(s, t, c, now);
                t->position = c;
                c = catalog_next_time(t->def, c);
            }
        }
        task_reschedule(s, t);
        wake_waiters(s, t);     /* cycles skipped by catchup: off are never made */
    }
    if (s->early_min && s->early_min <= now)
        release_due(s, now);
    for (inst = s->r_head; inst; inst = next) {
        next = inst->q_next;
        if (inst->next_try_at <= now) {
            list_unlink(s, inst);
            make_ready(s, inst);
        }
    }
    start_ready(s, now);
    return next_due(s);
}

time_t
sched_finished(struct sched *s, struct sched_instance *inst, enum sched_outcome outcome,
               const char *reason, time_t now)
{
    if (now > s->now)
        s->now = now;
    if (inst->state != SCHED_RUNNING)
        return next_due(s);
    s->running--;
    inst->ended_at = now;
    if (outcome == SCHED_OK) {
        free(inst->reason);
        inst->reason = NULL;
        set_state(s, inst, SCHED_SUCCESS);
    } else {
        attempt_failed(s, inst, outcome, reason, now);
    }
    reap(s, inst->owner);
    start_ready(s, now);
    return next_due(s);
}

struct sched_instance *
sched_adopt(struct sched *s, const struct sched_adopt *a, time_t now, struct otsync_err *err)
{
    struct sched_task *t = task_find(s, a->task);
    struct sched_instance *inst;
    char *fail = NULL, ts[15];
    char id[256];

    if (!t || !t->def) {
        otsync_err_set(err, OTSYNC_ENOENT, "no task '%s' in the catalogue", a->task);
        return NULL;
    }
    snprintf(id, sizeof(id), "%s@%s", a->task, vars_format_cyctime(a->cyctime, ts));
    if (sched_find(s, id)) {
        otsync_err_set(err, OTSYNC_EEXIST, "%s is already held", id);
        return NULL;
    }
    static const char *const none[1] = {NULL};

    /* names != NULL means "keep these values": with no params, an empty list */
    inst = instance_new(s, t, a->cyctime, a->created_at ? a->created_at : now, a->param_count,
                        a->param_count ? a->names : none, a->param_count ? a->values : none,
                        &fail);
    free(fail);
    if (!inst) {
        otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        return NULL;
    }
    inst->attempts = a->attempts;
    inst->rerun_base = a->rerun_base;
    inst->started_at = a->started_at;
    inst->ended_at = a->ended_at;
    inst->reason = a->reason ? strdup(a->reason) : NULL;
    link_sorted(t, inst);
    switch (a->state) {
    case SCHED_RETRY_WAIT:
        inst->state = SCHED_RETRY_WAIT;
        inst->next_try_at = a->next_try_at;
        retry_insert(s, inst);
        break;
    case SCHED_WAITING:
    case SCHED_RUNNING:     /* the caller should have decided; run it again */
        inst->state = SCHED_WAITING;
        place_waiting(s, inst, now);
        break;
    default:
        inst->state = a->state;
        break;
    }
    return inst;
}

int
sched_rerun(struct sched *s, struct sched_instance *inst, time_t now, struct otsync_err *err)
{
    if (!is_final(inst->state))
        return otsync_err_set(err, OTSYNC_EINVAL, "%s is %s, not finished: nothing to rerun",
                              inst->id, sched_state_name(inst->state));
    if (inst->owner->removed)
        return otsync_err_set(err, OTSYNC_EINVAL, "%s: its task is no longer in the catalogue",
                              inst->id);
    if (now > s->now)
        s->now = now;
    inst->rerun_base = inst->attempts;
    free(inst->reason);
    inst->reason = NULL;
    inst->state = SCHED_WAITING;
    inst->def = inst->owner->def;   /* a rerun runs under the current definition */
    if (inst->cat != s->cat) {
        catalog_unref(inst->cat);
        inst->cat = catalog_ref(s->cat);
    }
    place_waiting(s, inst, now);
    emit(s, inst, SCHED_EV_STATE);
    start_ready(s, now);
    return 0;
}

int
sched_kill(struct sched *s, struct sched_instance *inst, time_t now, struct otsync_err *err)
{
    if (inst->state != SCHED_WAITING && inst->state != SCHED_RETRY_WAIT)
        return otsync_err_set(err, OTSYNC_EINVAL, "%s is %s: only a waiting instance is "
                              "killed here", inst->id, sched_state_name(inst->state));
    list_unlink(s, inst);
    free(inst->blocked_by);
    inst->blocked_by = NULL;
    inst->ended_at = now;
    set_state(s, inst, SCHED_KILLED);
    reap(s, inst->owner);
    return 0;
}

int
sched_set_success(struct sched *s, struct sched_instance *inst, time_t now,
                  struct otsync_err *err)
{
    if (inst->state == SCHED_RUNNING)
        return otsync_err_set(err, OTSYNC_EINVAL, "%s is running: kill it first", inst->id);
    if (inst->state == SCHED_SUCCESS)
        return otsync_err_set(err, OTSYNC_EINVAL, "%s already succeeded", inst->id);
    if (now > s->now)
        s->now = now;
    list_unlink(s, inst);
    free(inst->blocked_by);
    inst->blocked_by = NULL;
    free(inst->reason);
    inst->reason = strdup("set to success by an operator");
    inst->ended_at = now;
    set_state(s, inst, SCHED_SUCCESS);
    reap(s, inst->owner);
    start_ready(s, now);
    return 0;
}

int
sched_pause(struct sched *s, const char *task, bool paused, time_t now, struct otsync_err *err)
{
    struct sched_task *t = task_find(s, task);

    if (!t || t->removed)
        return otsync_err_set(err, OTSYNC_ENOENT, "no task '%s' in the catalogue", task);
    if (t->op_paused && !paused && !t->def->paused) {
        t->position = now > t->position ? now : t->position;   /* from the next cycle */
        task_reschedule(s, t);
        wake_waiters(s, t);     /* the cycles paused over are never made */
    }
    t->op_paused = paused;
    return 0;
}

bool
sched_task_paused(struct sched *s, const char *task)
{
    struct sched_task *t = task_find(s, task);

    return t && t->def && task_paused(t);
}

int
sched_backfill(struct sched *s, const char *task, time_t from, time_t to, time_t now,
               size_t *ret_n, struct otsync_err *err)
{
    struct sched_task *t = task_find(s, task);
    time_t c;
    size_t n = 0;

    *ret_n = 0;
    if (!t || t->removed)
        return otsync_err_set(err, OTSYNC_ENOENT, "no task '%s' in the catalogue", task);
    if (to < from)
        return otsync_err_set(err, OTSYNC_EINVAL, "backfill: --to is before --from");
    if (to > t->position) {
        char ts[15];
        /* later cycles belong to the live schedule, which will create them itself */
        return otsync_err_set(err, OTSYNC_EINVAL, "backfill: '%s' has scheduled cycles up to "
                              "%s; --to must not be later", task,
                              vars_format_cyctime(t->position, ts));
    }
    if (now > s->now)
        s->now = now;
    c = catalog_next_time(t->def, from - 1);
    for (; c != (time_t)-1 && c <= to; c = catalog_next_time(t->def, c)) {
        char id[256], ts[15], *fail = NULL;
        struct sched_instance *inst;
        snprintf(id, sizeof(id), "%s@%s", task, vars_format_cyctime(c, ts));
        if (sched_find(s, id))
            continue;
        if (n >= 100000)
            return otsync_err_set(err, OTSYNC_EINVAL, "backfill: more than 100000 cycles in "
                                  "the range; split it");
        if (!(inst = instance_new(s, t, c, now, 0, NULL, NULL, &fail))) {
            free(fail);
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        }
        link_sorted(t, inst);
        if (fail) {
            inst->state = SCHED_FAILED;
            inst->reason = fail;
        } else {
            place_waiting(s, inst, now);
        }
        emit(s, inst, SCHED_EV_CREATED);
        n++;
    }
    *ret_n = n;
    start_ready(s, now);
    return 0;
}

int
sched_state_parse(const char *name)
{
    int i;

    for (i = SCHED_WAITING; i <= SCHED_SKIPPED; i++)
        if (strcmp(sched_state_name((enum sched_state)i), name) == 0)
            return i;
    return -1;
}

void
sched_set_lead(struct sched *s, time_t seconds)
{
    s->lead = seconds > 0 ? seconds : 0;
}

time_t
sched_task_position(struct sched *s, const char *task)
{
    struct sched_task *t = task_find(s, task);

    return t && !t->removed ? t->position : (time_t)-1;
}

void
sched_recheck(struct sched *s, const char *task, time_t now)
{
    struct sched_task *t = task_find(s, task);

    if (now > s->now)
        s->now = now;
    if (t)
        wake_waiters(s, t);
    start_ready(s, now);
}

struct up_each {
    void (*fn)(void *arg, const char *task, time_t cyctime, int state, bool done, bool cross);
    void *arg;
};

static bool
on_up_each(void *arg, struct sched_task *u, time_t at, int state, bool cross)
{
    struct up_each *e = arg;

    e->fn(e->arg, u->name, at, state, upstream_done(state), cross);
    return true;
}

void
sched_upstream_each(struct sched *s, const struct catalog_task *def, const struct catalog *cat,
                    time_t cyctime,
                    void (*fn)(void *arg, const char *task, time_t cyctime, int state,
                               bool done, bool cross),
                    void *arg)
{
    struct up_each e = {fn, arg};

    each_upstream(s, def, cat, cyctime, on_up_each, &e);
}

void
sched_set_max_running(struct sched *s, int max_running)
{
    s->max_running = max_running;
}

struct sched_instance *
sched_find(struct sched *s, const char *id)
{
    const char *at = strrchr(id, '@');
    struct sched_instance *inst;
    struct sched_task *t;
    char name[512];

    if (!at || (size_t)(at - id) >= sizeof(name))
        return NULL;
    memcpy(name, id, (size_t)(at - id));
    name[at - id] = '\0';
    if (!(t = task_find(s, name)))
        return NULL;
    for (inst = t->last; inst; inst = inst->prev_of_task)
        if (strcmp(inst->id, id) == 0)
            return inst;
    return NULL;
}

void
sched_foreach(struct sched *s, void (*fn)(void *arg, const struct sched_instance *inst),
              void *arg)
{
    size_t i;
    struct sched_instance *inst;

    for (i = 0; i < s->task_count; i++)
        for (inst = s->tasks[i]->first; inst; inst = inst->next_of_task)
            fn(arg, inst);
}

int
sched_running_count(const struct sched *s)
{
    return s->running;
}

const char *
sched_state_name(enum sched_state st)
{
    static const char *const names[] = {"waiting", "running", "retry_wait", "success",
                                        "failed", "killed", "skipped"};

    return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

const char *
sched_wait_name(enum sched_wait w)
{
    static const char *const names[] = {"", "previous cycle", "run slot", "its time",
                                        "upstream"};

    return (unsigned)w < sizeof(names) / sizeof(names[0]) ? names[w] : "";
}
