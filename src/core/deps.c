/*
 * deps.c - the matching rules between the instances of dependent tasks, the catalogue's
 * dependency checks (cycles, dependencies that can never be satisfied) and the graph views.
 *
 * Owns: pure functions of cycles, times and a loaded catalogue. Leaves to others: blocking
 * and releasing instances (sched.c), parsing and resolving names (catalog.c), the socket
 * (ctl.c). The rules are listed in deps.h and otsync.yaml(5).
 *
 * The satisfiability checks sample schedules from a fixed date rather than reason about them
 * in closed form: cron, week and month cycles make a closed form long, and 2,000 sampled
 * times cover a minute cycle's day, an hour cycle's months and a day cycle's year.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/deps.h"

enum rule { RULE_SAME, RULE_NEAREST, RULE_DAY, RULE_WINDOW };

#define SAMPLE_MAX 2000
#define SAMPLE_DAYS 400

/* Coarseness of a cycle type; cron has none (-1). */
static int
rank(enum cycle_kind k)
{
    switch (k) {
    case CYCLE_MINUTE: return 0;
    case CYCLE_HOUR: return 1;
    case CYCLE_DAY: return 2;
    case CYCLE_WEEK: return 3;
    case CYCLE_MONTH: return 4;
    default: return -1;
    }
}

static enum rule
rule_of(const struct cycle *child, const struct cycle *parent)
{
    int cr = rank(child->kind), pr = rank(parent->kind);

    if (child->kind == parent->kind)
        return RULE_SAME;
    if (cr < 0 || pr < 0 || cr < pr)
        return RULE_NEAREST;
    if (child->kind == CYCLE_HOUR)
        return RULE_WINDOW;     /* the parent is a minute cycle */
    if (parent->kind <= CYCLE_DAY)
        return RULE_DAY;
    return RULE_NEAREST;        /* a month child of a week parent */
}

const char *
deps_rule_name(const struct cycle *child, const struct cycle *parent)
{
    static const char *const names[] = {"same time", "nearest at or before", "that day",
                                        "the child's interval"};

    return names[rule_of(child, parent)];
}

/* [midnight, next midnight - 1] of t's local day. */
static void
day_of(time_t t, struct deps_span *sp)
{
    struct tm tm;

    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    sp->from = mktime(&tm);
    tm.tm_mday++;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    sp->to = mktime(&tm) - 1;
}

static void
nearest(const struct cycle *parent, time_t t, struct deps_span *sp)
{
    time_t p = cycle_prev(parent, t);

    sp->from = p == (time_t)-1 ? 1 : p;
    sp->to = p == (time_t)-1 ? 0 : p;
}

void
deps_span(const struct cycle *child, const struct cycle *parent, time_t t,
          struct deps_span *ret_span)
{
    switch (rule_of(child, parent)) {
    case RULE_SAME:
        ret_span->from = ret_span->to = t;
        break;
    case RULE_NEAREST:
        nearest(parent, t, ret_span);
        break;
    case RULE_DAY:
        day_of(t, ret_span);
        break;
    case RULE_WINDOW:
        ret_span->from = t - (time_t)child->interval * 3600 + 1;
        ret_span->to = t;
        break;
    }
}

void
deps_previous_span(const struct cycle *self, const struct cycle *other, time_t t,
                   struct deps_span *ret_span)
{
    time_t prev = cycle_prev(self, t - 1), c;

    ret_span->from = prev == (time_t)-1 ? t - 86400 : prev;
    ret_span->to = t - 1;
    c = cycle_next(other, ret_span->from - 1);
    if (c == (time_t)-1 || c > ret_span->to)
        nearest(other, t - 1, ret_span);    /* none in our previous cycle: its newest before */
}

time_t
deps_span_next(const struct catalog_task *other, const struct deps_span *sp, time_t after)
{
    time_t c;

    if (after < sp->from - 1)
        after = sp->from - 1;
    c = catalog_next_time(other, after);
    return c != (time_t)-1 && c <= sp->to ? c : (time_t)-1;
}

/* ---- load-time checks ---- */

static const char *
fmt_time(time_t t, char buf[static 20])
{
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(buf, 20, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

/* The sampling's start: a fixed leap year's first day, local time. */
static time_t
sample_start(void)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = 2020 - 1900;
    tm.tm_mday = 1;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

/* A time of child's at which parent has no instance (same cycle type), or (time_t)-1. */
static time_t
same_time_missing(const struct cycle *child, const struct cycle *parent)
{
    time_t start = sample_start(), c = start - 1;
    int n;

    if (memcmp(child, parent, sizeof(*child)) == 0)
        return (time_t)-1;
    for (n = 0; n < SAMPLE_MAX; n++) {
        c = cycle_next(child, c);
        if (c == (time_t)-1 || c > start + (time_t)SAMPLE_DAYS * 86400)
            break;
        if (cycle_prev(parent, c) != c)
            return c;
    }
    return (time_t)-1;
}

/* One cycle through the strongly connected set `in` (a bitmap by task) from `first`: a
 * breadth-first search for the shortest way back. path gets the tasks after first, in order;
 * returns their count. */
static size_t
cycle_path(const struct catalog *cat, const bool *in, size_t first, size_t *path, size_t *prev)
{
    size_t *queue = path, head = 0, tail = 0, i, k, n = 0, at;
    bool found = false;

    for (i = 0; i < cat->task_count; i++)
        prev[i] = (size_t)-1;
    queue[tail++] = first;
    while (head < tail && !found) {
        size_t v = queue[head++];
        for (k = 0; k < cat->tasks[v].depends_count && !found; k++) {
            size_t u = cat->tasks[v].depends_on[k].idx;
            if (u == (size_t)-1 || !in[u] || prev[u] != (size_t)-1)
                continue;
            prev[u] = v;
            if (u == first)
                found = true;
            else
                queue[tail++] = u;
        }
    }
    /* walk back from first; the path is reversed into place */
    at = prev[first];
    while (at != first && at != (size_t)-1) {
        queue[n++] = at;
        at = prev[at];
    }
    for (i = 0; i < n / 2; i++) {
        size_t t = queue[i];
        queue[i] = queue[n - 1 - i];
        queue[n - 1 - i] = t;
    }
    return n;
}

/* Reports one strongly connected set of tasks (members, count): the cycle through its first
 * task, then any other task caught in it. */
static void
report_cycle(const struct catalog *cat, struct diag *d, const size_t *members, size_t count,
             bool *in, size_t *path, size_t *prev)
{
    size_t first = members[0], i, k, n, len = 0;
    char *text;
    const struct catalog_task *t;
    struct otsync_mark mark;

    for (i = 1; i < count; i++)
        if (members[i] < first)
            first = members[i];
    for (i = 0; i < count; i++)
        in[members[i]] = true;
    n = cycle_path(cat, in, first, path, prev);
    t = &cat->tasks[first];
    mark = t->mark;
    for (k = 0; n && k < t->depends_count; k++)
        if (t->depends_on[k].idx == path[0])
            mark = t->depends_on[k].mark;
    for (i = 0; i < count; i++)
        len += strlen(cat->tasks[members[i]].name) + 8;
    if ((text = calloc(1, 2 * len + 64))) {
        size_t o = (size_t)sprintf(text, "%s", t->name), extra;
        for (i = 0; i < n; i++)
            o += (size_t)sprintf(text + o, " -> %s", cat->tasks[path[i]].name);
        o += (size_t)sprintf(text + o, " -> %s", t->name);
        extra = ++o;    /* a second string after the first's NUL: the tasks off the path */
        text[extra] = '\0';
        for (i = 0, k = 0; i < count; i++) {
            size_t j;
            bool on_path = members[i] == first;
            for (j = 0; j < n && !on_path; j++)
                on_path = path[j] == members[i];
            if (!on_path)
                o += (size_t)sprintf(text + o, "%s%s", k++ ? ", " : "; also caught in it: ",
                                     cat->tasks[members[i]].name);
        }
        diag_error(d, mark, "task '%s': depends_on: a dependency cycle %s (each depends on "
                   "the next)%s; none of these tasks could ever run", t->name, text,
                   text + extra);
        free(text);
    }
    for (i = 0; i < count; i++)
        in[members[i]] = false;
}

/* Tarjan's strongly connected components without recursion (a chain of 10,000 tasks would
 * overflow the stack); frames are (task, next edge) pairs. */
static void
find_cycles(const struct catalog *cat, struct diag *d)
{
    size_t n = cat->task_count, i, fp, next = 1, sp = 0;
    size_t *index = calloc(n, sizeof(size_t)), *low = calloc(n, sizeof(size_t));
    size_t *stack = calloc(n, sizeof(size_t)), *fv = calloc(n, sizeof(size_t));
    size_t *fe = calloc(n, sizeof(size_t)), *path = calloc(n + 1, sizeof(size_t));
    size_t *prev = calloc(n, sizeof(size_t));
    bool *on = calloc(n, sizeof(bool)), *in = calloc(n, sizeof(bool));

    if (!index || !low || !stack || !fv || !fe || !path || !prev || !on || !in)
        goto out;
    for (i = 0; i < n; i++) {
        if (index[i])
            continue;
        fp = 0;
        fv[fp] = i;
        fe[fp++] = 0;
        index[i] = low[i] = next++;
        stack[sp++] = i;
        on[i] = true;
        while (fp) {
            size_t v = fv[fp - 1];
            const struct catalog_task *t = &cat->tasks[v];
            if (fe[fp - 1] < t->depends_count) {
                size_t u = t->depends_on[fe[fp - 1]++].idx;
                if (u == (size_t)-1)
                    continue;
                if (!index[u]) {
                    index[u] = low[u] = next++;
                    stack[sp++] = u;
                    on[u] = true;
                    fv[fp] = u;
                    fe[fp++] = 0;
                } else if (on[u] && index[u] < low[v]) {
                    low[v] = index[u];
                }
                continue;
            }
            fp--;
            if (fp && low[v] < low[fv[fp - 1]])
                low[fv[fp - 1]] = low[v];
            if (low[v] == index[v]) {
                size_t base = sp;
                do
                    on[stack[--base]] = false;
                while (stack[base] != v);
                if (sp - base > 1)
                    report_cycle(cat, d, stack + base, sp - base, in, path, prev);
                sp = base;
            }
        }
    }
out:
    free(index);
    free(low);
    free(stack);
    free(fv);
    free(fe);
    free(path);
    free(prev);
    free(on);
    free(in);
}

/* Whether x depends_on task directly. */
static bool
depends_directly(const struct catalog_task *x, size_t task)
{
    size_t k;

    for (k = 0; k < x->depends_count; k++)
        if (x->depends_on[k].idx == task)
            return true;
    return false;
}

/*
 * A cross-cycle wait of t (index ti) on x that deadlocks: t's instance at c waits for x's
 * newest instance of t's previous cycle, which (x depending on t) waits for t's instances up
 * to a time at or after c. Reports it at `mark`; returns whether it did.
 */
static bool
check_previous(const struct catalog *cat, struct diag *d, size_t ti, size_t xi,
               struct otsync_mark mark, const char *key)
{
    const struct catalog_task *t = &cat->tasks[ti], *x = &cat->tasks[xi];
    time_t start = sample_start(), c = start - 1;
    struct deps_span sp, up;
    char b1[20], b2[20], b3[20];
    int n;

    if (!depends_directly(x, ti))
        return false;
    for (n = 0; n < 50; n++) {
        time_t s;
        if ((c = cycle_next(&t->cycle, c)) == (time_t)-1)
            break;
        deps_previous_span(&t->cycle, &x->cycle, c, &sp);
        if (sp.from > sp.to || (s = cycle_prev(&x->cycle, sp.to)) == (time_t)-1 || s < sp.from)
            continue;
        deps_span(&x->cycle, &t->cycle, s, &up);
        if (up.from <= up.to && up.to >= c) {
            diag_error(d, mark, "task '%s': %s: its instance at %s waits for %s's at %s, which "
                       "depends on '%s' up to %s; this dependency can never be satisfied",
                       t->name, key, fmt_time(c, b1), x->name, fmt_time(s, b2), t->name,
                       fmt_time(up.to, b3));
            return true;
        }
    }
    return false;
}

void
deps_check(const struct catalog *cat, struct diag *d, bool full)
{
    size_t i, k;
    char b[20];

    find_cycles(cat, d);
    if (!full)
        return;
    for (i = 0; i < cat->task_count; i++) {
        const struct catalog_task *t = &cat->tasks[i];
        for (k = 0; k < t->depends_count; k++) {
            const struct catalog_task *u;
            time_t miss;
            if (t->depends_on[k].idx == (size_t)-1)
                continue;
            u = &cat->tasks[t->depends_on[k].idx];
            if (rule_of(&t->cycle, &u->cycle) != RULE_SAME)
                continue;
            if ((miss = same_time_missing(&t->cycle, &u->cycle)) != (time_t)-1)
                diag_error(d, t->depends_on[k].mark, "task '%s': depends_on '%s': same cycle "
                           "type, so each instance waits for '%s' at its own time, and '%s' "
                           "has no instance at e.g. %s; this dependency can never be "
                           "satisfied", t->name, u->name, u->name, u->name, fmt_time(miss, b));
        }
        for (k = 0; k < t->previous_count; k++)
            if (t->previous_of[k].idx != (size_t)-1)
                check_previous(cat, d, i, t->previous_of[k].idx, t->previous_of[k].mark,
                               "previous_cycle_of");
        for (k = 0; t->downstream_dependency && k < t->downstream_count; k++)
            if (check_previous(cat, d, i, t->downstream[k], t->downstream_mark,
                               "downstream_dependency"))
                break;
    }
}

/* ---- views ---- */

void
deps_dependents(const struct catalog *cat, size_t task, time_t cyctime,
                void (*fn)(void *arg, size_t task, time_t cyctime), void *arg)
{
    const struct catalog_task *u = &cat->tasks[task];
    size_t k;

    for (k = 0; k < u->downstream_count; k++) {
        const struct catalog_task *dt = &cat->tasks[u->downstream[k]];
        struct deps_span win, sp;
        time_t c, nu;
        int n = 0;

        /* the child times whose span may hold cyctime, by rule; each is then verified */
        switch (rule_of(&dt->cycle, &u->cycle)) {
        case RULE_SAME:
            win.from = win.to = cyctime;
            break;
        case RULE_NEAREST:
            nu = cycle_next(&u->cycle, cyctime);
            win.from = cyctime;
            win.to = nu == (time_t)-1 ? cyctime + (time_t)SAMPLE_DAYS * 86400 : nu - 1;
            break;
        case RULE_DAY:
            day_of(cyctime, &win);
            break;
        case RULE_WINDOW:
            win.from = cyctime;
            win.to = cyctime + (time_t)dt->cycle.interval * 3600 - 1;
            break;
        }
        for (c = deps_span_next(dt, &win, win.from - 1); c != (time_t)-1 && n < 100000;
             c = deps_span_next(dt, &win, c), n++) {
            deps_span(&dt->cycle, &u->cycle, c, &sp);
            if (sp.from <= cyctime && cyctime <= sp.to)
                fn(arg, u->downstream[k], c);
        }
    }
}

size_t
deps_closure(const struct catalog *cat, size_t task, bool up, size_t **ret_v)
{
    size_t n = cat->task_count, count = 0, head = 0, i, k, out = 0;
    size_t *v = calloc(n, sizeof(size_t)), *indeg = calloc(n, sizeof(size_t));
    size_t *order = calloc(n, sizeof(size_t));
    bool *in = calloc(n, sizeof(bool));

    *ret_v = NULL;
    if (!v || !indeg || !order || !in) {
        free(v);
        free(indeg);
        free(order);
        free(in);
        return 0;
    }
    v[count++] = task;
    in[task] = true;
    while (head < count) {
        const struct catalog_task *t = &cat->tasks[v[head++]];
        size_t m = up ? t->depends_count : t->downstream_count;
        for (k = 0; k < m; k++) {
            size_t w = up ? t->depends_on[k].idx : t->downstream[k];
            if (w != (size_t)-1 && !in[w]) {
                in[w] = true;
                v[count++] = w;
            }
        }
    }
    if (up) {
        free(indeg);
        free(order);
        free(in);
        *ret_v = v;
        return count;
    }
    /* Kahn's order within the set: every task after its upstream tasks in it */
    for (i = 0; i < count; i++)
        for (k = 0; k < cat->tasks[v[i]].depends_count; k++) {
            size_t w = cat->tasks[v[i]].depends_on[k].idx;
            if (w != (size_t)-1 && in[w])
                indeg[v[i]]++;
        }
    for (i = 0; i < count; i++)
        if (!indeg[v[i]])
            order[out++] = v[i];
    for (head = 0; head < out; head++) {
        const struct catalog_task *t = &cat->tasks[order[head]];
        for (k = 0; k < t->downstream_count; k++)
            if (in[t->downstream[k]] && --indeg[t->downstream[k]] == 0)
                order[out++] = t->downstream[k];
    }
    free(v);
    free(indeg);
    free(in);
    *ret_v = order;
    return out;
}

static void
cycle_label(const struct cycle *c, char *buf, size_t size)
{
    switch (c->kind) {
    case CYCLE_MINUTE:
        snprintf(buf, size, "every %d min %02d:%02d-%02d:%02d", c->interval, c->start_min / 60,
                 c->start_min % 60, c->end_min / 60, c->end_min % 60);
        break;
    case CYCLE_HOUR:
        snprintf(buf, size, "every %d h %02d:%02d-%02d:%02d", c->interval, c->start_min / 60,
                 c->start_min % 60, c->end_min / 60, c->end_min % 60);
        break;
    case CYCLE_DAY:
        snprintf(buf, size, "daily %02d:%02d", c->start_min / 60, c->start_min % 60);
        break;
    case CYCLE_WEEK:
        snprintf(buf, size, "weekly %02d:%02d", c->start_min / 60, c->start_min % 60);
        break;
    case CYCLE_MONTH:
        snprintf(buf, size, "monthly %02d:%02d", c->start_min / 60, c->start_min % 60);
        break;
    default:
        snprintf(buf, size, "cron");
        break;
    }
}

char *
deps_dot(const struct catalog *cat, const char *task)
{
    size_t n = cat->task_count, i, k, *v = NULL, cnt;
    bool *in = calloc(n + 1, sizeof(bool));
    char *text = NULL, label[64];
    size_t len = 0;
    FILE *f;

    if (!in)
        return NULL;
    if (task) {
        for (i = 0; i < n && strcmp(cat->tasks[i].name, task) != 0; i++)
            ;
        if (i == n) {
            free(in);
            return NULL;
        }
        for (int up = 0; up < 2; up++) {
            cnt = deps_closure(cat, i, up, &v);
            for (k = 0; k < cnt; k++)
                in[v[k]] = true;
            free(v);
        }
    } else {
        for (i = 0; i < n; i++)
            in[i] = true;
    }
    if (!(f = open_memstream(&text, &len))) {
        free(in);
        return NULL;
    }
    fprintf(f, "digraph otsync {\n    rankdir=LR;\n    node [shape=box];\n");
    for (i = 0; i < n; i++) {
        if (!in[i])
            continue;
        cycle_label(&cat->tasks[i].cycle, label, sizeof(label));
        fprintf(f, "    \"%s\" [label=\"%s\\n%s\"%s];\n", cat->tasks[i].name,
                cat->tasks[i].name, label, task && strcmp(task, cat->tasks[i].name) == 0
                                               ? ", style=bold" : "");
    }
    for (i = 0; i < n; i++) {
        const struct catalog_task *t = &cat->tasks[i];
        if (!in[i])
            continue;
        for (k = 0; k < t->depends_count; k++) {
            size_t u = t->depends_on[k].idx;
            if (u != (size_t)-1 && in[u])
                fprintf(f, "    \"%s\" -> \"%s\" [label=\"%s\"];\n", cat->tasks[u].name,
                        t->name, deps_rule_name(&t->cycle, &cat->tasks[u].cycle));
        }
        for (k = 0; k < t->previous_count; k++) {
            size_t x = t->previous_of[k].idx;
            if (x != (size_t)-1 && in[x])
                fprintf(f, "    \"%s\" -> \"%s\" [style=dashed, label=\"previous cycle\"];\n",
                        cat->tasks[x].name, t->name);
        }
        for (k = 0; t->downstream_dependency && k < t->downstream_count; k++)
            if (in[t->downstream[k]])
                fprintf(f, "    \"%s\" -> \"%s\" [style=dashed, label=\"previous cycle\"];\n",
                        cat->tasks[t->downstream[k]].name, t->name);
        if (t->self_dependency)
            fprintf(f, "    \"%s\" -> \"%s\" [style=dashed, label=\"previous cycle\"];\n",
                    t->name, t->name);
    }
    fprintf(f, "}\n");
    free(in);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
