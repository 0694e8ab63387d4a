/*
 * catalog.c - the task catalogue: tasks.d/NAME.yaml files into an immutable, refcounted struct
 * catalog, every mistake reported as file:line:col in one pass.
 *
 * Owns: the catalogue's keys and their checks (schedule, params, job placeholders, duplicate
 * names, the task names dependencies give), job files, the glob. Leaves to others: what a
 * cycle means (cycle.c), the expression grammar (vars.c), YAML mechanics (yamlnode.c), the
 * daemon config (config.c), the dependency graph's checks (deps.c, run once every file is
 * read, since an upstream task may be defined in a later file).
 *
 * Each task is checked key by key in file order, and a mistake never stops the load: the
 * next key, task and file are still checked, so one run shows every error. A task whose
 * name is valid joins the catalogue even with errors, so later duplicates are still found;
 * the catalogue itself is dropped when any error was reported.
 */
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/strhash.h"
#include "otsync/catalog.h"
#include "otsync/deps.h"
#include "otsync/vars.h"
#include "yamlnode.h"

/* Task names become directory names under state_dir/logs and parts of instance ids. */
#define TASK_NAME_MAX 200

static const char *const top_keys[] = {"tasks", NULL};
static const char *const task_keys[] = {"name", "schedule", "depends_on", "self_dependency",
                                        "downstream_dependency", "previous_cycle_of", "retries",
                                        "retry_interval", "catchup", "paused", "params", "job",
                                        NULL};
static const char *const schedule_keys[] = {"cycle", "cron", "start", "end", "interval", "days",
                                            "valid_from", "valid_until", NULL};

struct loader {
    struct catalog *cat;
    struct diag *d;
    size_t errors_before;
    bool incomplete;        /* a task lacks a part without an error in d (out of memory) */
    size_t tasks_cap;
    size_t *names;          /* task index + 1 by name hash (open addressing): the duplicate
                             * check stays linear for catalogues of 10,000 tasks */
    size_t names_size;
};

/* The index of the task called `name` so far, or (size_t)-1. */
static size_t
names_find(const struct loader *L, const char *name)
{
    size_t i;

    if (!L->names_size)
        return (size_t)-1;
    for (i = otsync_strhash(name) & (L->names_size - 1); L->names[i];
         i = (i + 1) & (L->names_size - 1))
        if (strcmp(L->cat->tasks[L->names[i] - 1].name, name) == 0)
            return L->names[i] - 1;
    return (size_t)-1;
}

/* Indexes the last task added; on out of memory the index is only slower, never wrong. */
static void
names_add(struct loader *L)
{
    size_t i, n = L->cat->task_count;

    if (n * 2 > L->names_size) {
        size_t size = L->names_size ? L->names_size * 2 : 256, k;
        size_t *nn = calloc(size, sizeof(*nn));
        if (!nn)
            return;
        free(L->names);
        L->names = nn;
        L->names_size = size;
        for (k = 0; k + 1 < n; k++) {
            i = otsync_strhash(L->cat->tasks[k].name) & (size - 1);
            while (nn[i])
                i = (i + 1) & (size - 1);
            nn[i] = k + 1;
        }
    }
    for (i = otsync_strhash(L->cat->tasks[n - 1].name) & (L->names_size - 1); L->names[i];
         i = (i + 1) & (L->names_size - 1))
        ;
    L->names[i] = n;
}

/* "task 'x': KEY", the prefix of a message about one key's value; returns buf. */
static const char *
key_of(char *buf, size_t size, const char *who, const char *key)
{
    snprintf(buf, size, "%s: %s", who, key);
    return buf;
}

/* Returns new: the first dir_len bytes of dir, "/", rel; just rel when it is absolute. */
static char *
path_join(const char *dir, size_t dir_len, const char *rel)
{
    size_t n = dir_len + strlen(rel) + 2;
    char *out;

    if (rel[0] == '/' || dir_len == 0)
        return strdup(rel);
    if ((out = malloc(n)))
        snprintf(out, n, "%.*s%s%s", (int)dir_len, dir, dir[dir_len - 1] == '/' ? "" : "/", rel);
    return out;
}

/* Takes name (may be NULL); returns it, now owned by the catalogue, or NULL. */
static char *
add_file(struct catalog *cat, char *name)
{
    char **nv;

    if (!name)
        return NULL;
    if (!(nv = realloc(cat->files, (cat->file_count + 1) * sizeof(*nv)))) {
        free(name);
        return NULL;
    }
    cat->files = nv;
    return nv[cat->file_count++] = name;
}

static bool
name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'
           || (!first && ((c >= '0' && c <= '9') || c == '.'));
}

/* A custom param name: [A-Za-z_][A-Za-z0-9_.]* (what ${name} in vars.c can reach). */
static bool
param_name_ok(const char *s)
{
    if (!name_char(*s, true))
        return false;
    while (*++s)
        if (!name_char(*s, false))
            return false;
    return true;
}

/* A task name: [A-Za-z0-9_.-]+, not "." or "..", at most TASK_NAME_MAX bytes. */
static bool
task_name_ok(const char *s)
{
    size_t n = strlen(s);
    const char *p;

    if (n == 0 || n > TASK_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (p = s; *p; p++)
        if (!name_char(*p, false) && *p != '-')
            return false;
    return true;
}

/* ---- schedule ---- */

static void
parse_days(struct yfile *f, yaml_node_t *n, struct cycle *c, const char *who)
{
    static const char *const dows[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    yaml_node_item_t *it;
    char what[400];

    key_of(what, sizeof(what), who, "schedule.days");
    if (n->type != YAML_SEQUENCE_NODE) {
        diag_error(f->d, ymark(f, n), "%s: expected a list, got %s", what, ykind(n));
        return;
    }
    for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = ynode(f, *it);
        const char *s = yscalar(f, e, what);
        char *end;
        long v;
        int i;

        if (!s)
            continue;
        errno = 0;
        v = (*s >= '0' && *s <= '9') ? strtol(s, &end, 10) : -1;
        if (v >= 0 && (*end || errno))
            v = -1;
        if (c->kind == CYCLE_WEEK) {
            for (i = 0; i < 7 && strcasecmp(s, dows[i]) != 0; i++)
                ;
            if (i < 7)
                c->dow_mask |= (uint8_t)(1u << i);
            else if (v >= 0 && v <= 7)
                c->dow_mask |= (uint8_t)(1u << (v % 7));     /* 0 and 7 are both Sunday */
            else
                diag_error(f->d, ymark(f, e), "%s: '%s' is not a day of the week (sun..sat or "
                           "0-7)", what, s);
        } else {
            if (strcmp(s, "last") == 0)
                c->dom_mask |= 1u;
            else if (v >= 1 && v <= 31)
                c->dom_mask |= 1u << v;
            else
                diag_error(f->d, ymark(f, e), "%s: '%s' is not a day of the month (1-31 or "
                           "last)", what, s);
        }
    }
}

static void
parse_cron(struct yfile *f, yaml_node_t *n, yaml_node_t *cron, struct cycle *c, const char *who)
{
    static const char *const cycle_only[] = {"cycle", "start", "end", "interval", "days", NULL};
    struct cycle_error ce;
    char what[400];
    const char *s;
    int i;

    for (i = 0; cycle_only[i]; i++) {
        yaml_node_t *k = yget_key(f, n, cycle_only[i]);
        if (k)
            diag_error(f->d, ymark(f, k), "%s: schedule.%s: not used with cron (give either "
                       "cron or cycle)", who, cycle_only[i]);
    }
    if (!(s = yscalar(f, cron, key_of(what, sizeof(what), who, "schedule.cron"))))
        return;
    if (cycle_parse_cron(s, c, &ce) < 0)
        diag_error(f->d, ymark_at(f, cron, ce.offset), "%s: %s", what, ce.msg);
}

/* "YYYY-MM-DD" -> that local date's midnight (days_after later); -1 after an error. */
static time_t
get_date(struct yfile *f, yaml_node_t *n, const char *what, int days_after)
{
    const char *s = yscalar(f, n, what);
    struct tm tm;
    int y, m, dd, used = 0;
    time_t t;

    if (!s)
        return -1;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &dd, &used) != 3 || used != 10
        || s[4] != '-' || s[7] != '-') {
        diag_error(f->d, ymark(f, n), "%s: '%s' is not a date (YYYY-MM-DD)", what, s);
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = dd;
    tm.tm_isdst = -1;
    t = mktime(&tm);
    /* mktime normalises 2018-02-30 to March; a date that moved was no date */
    if (t == (time_t)-1 || tm.tm_year != y - 1900 || tm.tm_mon != m - 1 || tm.tm_mday != dd) {
        diag_error(f->d, ymark(f, n), "%s: '%s' is not a date (YYYY-MM-DD)", what, s);
        return -1;
    }
    if (days_after) {
        tm.tm_mday += days_after;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    return t;
}

/* schedule.valid_from / valid_until: whole local dates, both inclusive. */
static void
parse_validity(struct yfile *f, yaml_node_t *n, struct catalog_task *t, const char *who)
{
    yaml_node_t *from = yget(f, n, "valid_from"), *until = yget(f, n, "valid_until");
    char what[400];
    time_t v;

    if (from && (v = get_date(f, from, key_of(what, sizeof(what), who, "schedule.valid_from"),
                              0)) != (time_t)-1)
        t->valid_from = v;
    if (until && (v = get_date(f, until, key_of(what, sizeof(what), who,
                                                "schedule.valid_until"), 1)) != (time_t)-1)
        t->valid_until = v;
    if (t->valid_from && t->valid_until && t->valid_until <= t->valid_from)
        diag_error(f->d, ymark(f, until), "%s: schedule.valid_until: before valid_from: no "
                   "instance would ever be made", who);
}

static void
parse_schedule(struct yfile *f, yaml_node_t *n, struct catalog_task *t, const char *who)
{
    static const char *const kinds[] = {"minute", "hour", "day", "week", "month", NULL};
    struct cycle *c = &t->cycle;
    struct cycle_error ce;
    yaml_node_t *v, *cyc;
    size_t before = f->d->errors;
    char what[400];
    const char *s;
    bool short_cycle;
    long l;
    int i;

    if (n->type != YAML_MAPPING_NODE) {
        diag_error(f->d, ymark(f, n), "%s: schedule: expected a mapping with cycle or cron, "
                   "got %s", who, ykind(n));
        return;
    }
    ycheck_keys(f, n, key_of(what, sizeof(what), who, "schedule"), schedule_keys);
    memset(c, 0, sizeof(*c));
    c->end_min = 23 * 60 + 59;
    c->interval = 1;
    parse_validity(f, n, t, who);
    if ((v = yget(f, n, "cron"))) {
        parse_cron(f, n, v, c, who);
        return;
    }
    if (!(cyc = yget(f, n, "cycle"))) {
        diag_error(f->d, ymark(f, n), "%s: schedule: missing 'cycle' (or 'cron')", who);
        return;
    }
    if (!(s = yscalar(f, cyc, key_of(what, sizeof(what), who, "schedule.cycle"))))
        return;
    for (i = 0; kinds[i] && strcmp(kinds[i], s) != 0; i++)
        ;
    if (!kinds[i]) {
        diag_error(f->d, ymark(f, cyc), "%s: '%s' is not one of minute, hour, day, week, month",
                   what, s);
        return;
    }
    c->kind = (enum cycle_kind)i;
    short_cycle = c->kind == CYCLE_MINUTE || c->kind == CYCLE_HOUR;
    if ((v = yget(f, n, "start")))
        yget_hhmm(f, v, key_of(what, sizeof(what), who, "schedule.start"), &c->start_min);
    if ((v = yget(f, n, "end"))) {
        if (!short_cycle)
            diag_error(f->d, ymark(f, yget_key(f, n, "end")), "%s: schedule.end: only minute "
                       "and hour cycles have an end", who);
        else
            yget_hhmm(f, v, key_of(what, sizeof(what), who, "schedule.end"), &c->end_min);
    }
    if ((v = yget(f, n, "interval"))) {
        if (!short_cycle)
            diag_error(f->d, ymark(f, yget_key(f, n, "interval")), "%s: schedule.interval: "
                       "only minute and hour cycles have an interval", who);
        else if (yget_int(f, v, key_of(what, sizeof(what), who, "schedule.interval"), 1,
                          c->kind == CYCLE_MINUTE ? 1440 : 24, &l) == 0)
            c->interval = (int)l;
    } else if (c->kind == CYCLE_MINUTE) {
        diag_error(f->d, ymark(f, n), "%s: schedule: a minute cycle needs an interval", who);
    }
    if ((v = yget(f, n, "days"))) {
        if (c->kind != CYCLE_WEEK && c->kind != CYCLE_MONTH)
            diag_error(f->d, ymark(f, yget_key(f, n, "days")), "%s: schedule.days: only week "
                       "and month cycles have days", who);
        else
            parse_days(f, v, c, who);
    } else if (c->kind == CYCLE_WEEK || c->kind == CYCLE_MONTH) {
        diag_error(f->d, ymark(f, n), "%s: schedule: a %s cycle needs days", who, kinds[i]);
    }
    /* the remaining checks (start after end, an empty day list) belong to cycle.c */
    if (f->d->errors == before && cycle_validate(c, &ce) < 0)
        diag_error(f->d, ymark(f, n), "%s: schedule: %s", who, ce.msg);
}

/* ---- params ---- */

static void
parse_params(struct loader *L, struct yfile *f, yaml_node_t *n, struct catalog_task *t,
             const char *who)
{
    yaml_node_pair_t *p;
    size_t count, i;

    if (n->type != YAML_MAPPING_NODE) {
        diag_error(f->d, ymark(f, n), "%s: params: expected a mapping of name: expression, "
                   "got %s", who, ykind(n));
        return;
    }
    count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (count && !(t->params = calloc(count, sizeof(*t->params)))) {
        ynomem(f, n);
        return;
    }
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode(f, p->key), *v = ynode(f, p->value);
        struct catalog_param *cp = &t->params[t->param_count];
        struct vars_error ve;
        const char *name, *expr;
        char what[400];

        if (!(name = yscalar(f, k, key_of(what, sizeof(what), who, "params"))))
            continue;
        if (!param_name_ok(name)) {
            diag_error(f->d, ymark(f, k), "%s: param name '%s' must match "
                       "[A-Za-z_][A-Za-z0-9_.]*", who, name);
            continue;
        }
        for (i = 0; i < t->param_count && strcmp(t->params[i].name, name) != 0; i++)
            ;
        if (i < t->param_count) {
            diag_error(f->d, ymark(f, k), "%s: param '%s' given twice", who, name);
            continue;
        }
        snprintf(what, sizeof(what), "%s: param '%s'", who, name);
        if (!(expr = yscalar(f, v, what)))
            continue;
        /* params may use the system variables and time expressions, not each other */
        if (vars_check(expr, NULL, 0, &ve) < 0)
            diag_error(f->d, ymark_at(f, v, ve.offset), "%s: %s", what, ve.msg);
        /* kept even when wrong, so the job's ${name} does not add a second error */
        cp->name = strdup(name);
        cp->expr = strdup(expr);
        cp->mark = ymark(f, v);
        t->param_count++;
        if (!cp->name || !cp->expr) {
            ynomem(f, v);
            L->incomplete = true;
        }
    }
}

/* ---- dependencies ---- */

/* depends_on / previous_cycle_of: a list of task names (one name alone is a list of one). The
 * names are resolved after every file is read, since an upstream task may come later. */
static void
parse_dep_list(struct loader *L, struct yfile *f, yaml_node_t *n, const char *who,
               const char *key, struct catalog_dep **ret_v, size_t *ret_count)
{
    yaml_node_item_t *start, *top, single;
    char what[400];
    size_t i;

    key_of(what, sizeof(what), who, key);
    if (n->type == YAML_SCALAR_NODE) {
        single = (yaml_node_item_t)(n - f->doc.nodes.start + 1);
        start = &single;
        top = start + 1;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        start = n->data.sequence.items.start;
        top = n->data.sequence.items.top;
    } else {
        diag_error(f->d, ymark(f, n), "%s: expected a list of task names, got %s", what,
                   ykind(n));
        return;
    }
    if (top > start && !(*ret_v = calloc((size_t)(top - start), sizeof(**ret_v)))) {
        ynomem(f, n);
        L->incomplete = true;
        return;
    }
    for (; start < top; start++) {
        yaml_node_t *e = ynode(f, *start);
        const char *name = yscalar(f, e, what);

        if (!name)
            continue;
        if (!task_name_ok(name)) {
            diag_error(f->d, ymark(f, e), "%s: '%s' is not a task name", what, name);
            continue;
        }
        for (i = 0; i < *ret_count && strcmp((*ret_v)[i].task, name) != 0; i++)
            ;
        if (i < *ret_count) {
            diag_error(f->d, ymark(f, e), "%s: '%s' named twice", what, name);
            continue;
        }
        if (!((*ret_v)[*ret_count].task = strdup(name))) {
            ynomem(f, e);
            L->incomplete = true;
            continue;
        }
        (*ret_v)[(*ret_count)++].mark = ymark(f, e);
    }
}

/* Resolves every depends_on and previous_cycle_of name, an unknown one being an error at its
 * mark, and lists each task's first-level downstream tasks. Needs the name index. */
static void
resolve_deps(struct loader *L)
{
    struct catalog *cat = L->cat;
    size_t i, k, *count;

    if (!(count = calloc(cat->task_count + 1, sizeof(*count)))) {
        L->incomplete = true;
        return;
    }
    for (i = 0; i < cat->task_count; i++) {
        struct catalog_task *t = &cat->tasks[i];
        for (k = 0; k < t->depends_count + t->previous_count; k++) {
            bool up = k < t->depends_count;
            struct catalog_dep *dep = up ? &t->depends_on[k]
                                         : &t->previous_of[k - t->depends_count];
            dep->idx = names_find(L, dep->task);
            if (dep->idx == (size_t)-1) {
                diag_error(L->d, dep->mark, "task '%s': %s: no task '%s' in the catalogue",
                           t->name, up ? "depends_on" : "previous_cycle_of", dep->task);
            } else if (up && dep->idx == i) {
                diag_error(L->d, dep->mark, "task '%s': depends_on: a task cannot depend on "
                           "itself (self_dependency waits for its previous cycle)", t->name);
                dep->idx = (size_t)-1;
            } else if (up) {
                count[dep->idx]++;
            }
        }
    }
    for (i = 0; i < cat->task_count; i++)
        if (count[i] && !(cat->tasks[i].downstream = calloc(count[i], sizeof(size_t))))
            L->incomplete = true;
    for (i = 0; i < cat->task_count && !L->incomplete; i++)
        for (k = 0; k < cat->tasks[i].depends_count; k++) {
            size_t u = cat->tasks[i].depends_on[k].idx;
            if (u != (size_t)-1)
                cat->tasks[u].downstream[cat->tasks[u].downstream_count++] = i;
        }
    free(count);
}

/* ---- job ---- */

/* A JSON path for messages, e.g. "configuration.reader.parameter.column[0].value". */
struct jpath {
    char buf[1024];
    size_t len;
};

/* Appends to p (truncating quietly at its size); returns the length to go back to. */
static size_t OTSYNC_PRINTF(2, 3)
jpath_push(struct jpath *p, const char *fmt, ...)
{
    size_t old = p->len;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(p->buf + p->len, sizeof(p->buf) - p->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        p->len = p->len + (size_t)n < sizeof(p->buf) ? p->len + (size_t)n : sizeof(p->buf) - 1;
    return old;
}

static void
jpath_pop(struct jpath *p, size_t len)
{
    p->len = len;
    p->buf[len] = '\0';
}

struct job_check {
    struct yfile *f;
    const char *who;
    const char *const *known;   /* the task's param names */
    size_t known_count;
    yaml_node_t *at;            /* file jobs: the catalogue's `job:` value */
    const char *job_file;       /* file jobs: the resolved path */
    struct jpath path;
};

/* Every string value of a job file; errors point at the catalogue's `job:` value. */
static void
check_json(struct job_check *jc, const json_t *j)
{
    struct vars_error ve;
    const char *k;
    size_t i, old;
    json_t *e;

    switch (json_typeof(j)) {
    case JSON_STRING:
        if (vars_check(json_string_value(j), jc->known, jc->known_count, &ve) < 0)
            diag_error(jc->f->d, ymark(jc->f, jc->at), "%s: %s: job JSON path %s: %s", jc->who,
                       jc->job_file, jc->path.len ? jc->path.buf : "(top)", ve.msg);
        break;
    case JSON_OBJECT:
        json_object_foreach((json_t *)j, k, e) {
            old = jpath_push(&jc->path, "%s%s", jc->path.len ? "." : "", k);
            check_json(jc, e);
            jpath_pop(&jc->path, old);
        }
        break;
    case JSON_ARRAY:
        json_array_foreach(j, i, e) {
            old = jpath_push(&jc->path, "[%zu]", i);
            check_json(jc, e);
            jpath_pop(&jc->path, old);
        }
        break;
    default:
        break;
    }
}

/*
 * Every scalar value of an inline job, where it stands: errors carry the scalar's own
 * line:col plus the offset. Runs after yto_json succeeded, so the depth is bounded.
 */
static void
check_yaml(struct job_check *jc, yaml_node_t *n)
{
    struct yfile *f = jc->f;
    struct vars_error ve;
    size_t old, i = 0;

    if (n->type == YAML_SCALAR_NODE) {
        if (vars_check((const char *)n->data.scalar.value, jc->known, jc->known_count, &ve) < 0)
            diag_error(f->d, ymark_at(f, n, ve.offset), "%s: %s: %s", jc->who, jc->path.buf,
                       ve.msg);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it;
        for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
            old = jpath_push(&jc->path, "[%zu]", i);
            check_yaml(jc, ynode(f, *it));
            jpath_pop(&jc->path, old);
        }
    } else if (n->type == YAML_MAPPING_NODE) {
        yaml_node_pair_t *p;
        for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            old = jpath_push(&jc->path, ".%s", ykey(ynode(f, p->key)));
            check_yaml(jc, ynode(f, p->value));
            jpath_pop(&jc->path, old);
        }
    }
}

static void
load_job_file(struct loader *L, struct job_check *jc, yaml_node_t *n, struct catalog_task *t)
{
    struct yfile *f = jc->f;
    const char *rel = (const char *)n->data.scalar.value, *slash = strrchr(f->name, '/');
    size_t dir_len = slash ? (size_t)(slash - f->name) + (slash == f->name) : 0;
    json_error_t je;
    char *path;

    /* relative to the catalogue file's directory, whatever the daemon's working directory */
    path = add_file(L->cat, path_join(f->name, dir_len, rel));
    if (!path) {
        ynomem(f, n);
        L->incomplete = true;
        return;
    }
    if (!(t->job = json_load_file(path, JSON_REJECT_DUPLICATES, &je))) {
        if (je.line > 0)
            diag_error(f->d, (struct otsync_mark){path, (unsigned)je.line,
                                                  (unsigned)(je.column > 0 ? je.column : 1)},
                       "%s: job JSON: %s", jc->who, je.text);
        else
            diag_error(f->d, ymark(f, n), "%s: job: %s", jc->who, je.text);
        return;
    }
    if (!json_is_object(t->job)) {
        diag_error(f->d, (struct otsync_mark){path, 1, 1}, "%s: job JSON: expected an object",
                   jc->who);
        return;
    }
    if (!(t->job_source = strdup(path))) {
        ynomem(f, n);
        L->incomplete = true;
        return;
    }
    jc->at = n;
    jc->job_file = path;
    check_json(jc, t->job);
}

static void
parse_job(struct loader *L, struct yfile *f, yaml_node_t *n, struct catalog_task *t,
          const char *who)
{
    struct job_check jc = {.f = f, .who = who, .known_count = t->param_count};
    const char **known = NULL;
    char what[400];
    size_t i;

    if (t->param_count && !(known = malloc(t->param_count * sizeof(*known)))) {
        ynomem(f, n);
        L->incomplete = true;
        return;
    }
    for (i = 0; i < t->param_count; i++)
        known[i] = t->params[i].name;
    jc.known = known;
    if (n->type == YAML_MAPPING_NODE) {
        if ((t->job = yto_json(f, n, key_of(what, sizeof(what), who, "job")))) {
            jpath_push(&jc.path, "job");
            check_yaml(&jc, n);
            if (!(t->job_source = strdup(f->name))) {
                ynomem(f, n);
                L->incomplete = true;
            }
        }
    } else if (n->type == YAML_SCALAR_NODE && n->data.scalar.length > 0) {
        load_job_file(L, &jc, n, t);
    } else {
        diag_error(f->d, ymark(f, n), "%s: job: expected a job file name or an inline mapping, "
                   "got %s", who, n->type == YAML_SCALAR_NODE ? "nothing" : ykind(n));
    }
    free(known);
}

/* ---- tasks ---- */

static void
task_fini(struct catalog_task *t)
{
    size_t i;

    for (i = 0; i < t->param_count; i++) {
        free(t->params[i].name);
        free(t->params[i].expr);
    }
    free(t->params);
    for (i = 0; i < t->depends_count; i++)
        free(t->depends_on[i].task);
    free(t->depends_on);
    for (i = 0; i < t->previous_count; i++)
        free(t->previous_of[i].task);
    free(t->previous_of);
    free(t->downstream);
    json_decref(t->job);
    free(t->job_source);
    free(t->name);
}

/* Reads `name` into t->name and who; reports a bad name and a duplicate. */
static void
parse_name(struct loader *L, struct yfile *f, yaml_node_t *n, struct catalog_task *t, char *who,
           size_t who_size)
{
    struct catalog *cat = L->cat;
    const char *s = yscalar(f, n, "task: name");
    size_t i;

    if (!s)
        return;
    snprintf(who, who_size, "task '%s'", s);
    if (!task_name_ok(s)) {
        diag_error(f->d, ymark(f, n), "%s: a task name is 1-%d of A-Z a-z 0-9 _ . - (and not . "
                   "or ..)", who, TASK_NAME_MAX);
        return;
    }
    if ((i = names_find(L, s)) != (size_t)-1) {
        diag_error(f->d, ymark(f, n), "%s: name already used at %s:%u:%u", who,
                   cat->tasks[i].mark.file, cat->tasks[i].mark.line, cat->tasks[i].mark.col);
        return;
    }
    if (!(t->name = strdup(s))) {
        ynomem(f, n);
        L->incomplete = true;
    }
}

static void
parse_task(struct loader *L, struct yfile *f, yaml_node_t *n)
{
    struct catalog *cat = L->cat;
    struct catalog_task t, *nt;
    yaml_node_t *name = NULL, *job = NULL;
    bool has_schedule = false, catchup_set = false;
    char who[TASK_NAME_MAX + 64], what[400];
    yaml_node_pair_t *p;
    long l;

    memset(&t, 0, sizeof(t));
    t.retries = 3;
    t.retry_interval_s = 120;
    t.mark = ymark(f, n);
    snprintf(who, sizeof(who), "task");
    if (n->type != YAML_MAPPING_NODE) {
        diag_error(f->d, ymark(f, n), "task: expected a mapping of name, schedule, job, ..., "
                   "got %s", ykind(n));
        return;
    }
    /* the name first, so every message about this task can say which one it is */
    if ((name = yget(f, n, "name")))
        parse_name(L, f, name, &t, who, sizeof(who));
    else
        diag_error(f->d, ymark(f, n), "task: missing 'name'");
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = ykey(ynode(f, p->key));
        yaml_node_t *v = ynode(f, p->value);

        if (!ycheck_key(f, n, p, who, task_keys))
            continue;
        key_of(what, sizeof(what), who, key);
        if (strcmp(key, "schedule") == 0) {
            parse_schedule(f, v, &t, who);
            has_schedule = true;
        } else if (strcmp(key, "self_dependency") == 0) {
            yget_bool(f, v, what, &t.self_dependency);
        } else if (strcmp(key, "depends_on") == 0) {
            parse_dep_list(L, f, v, who, key, &t.depends_on, &t.depends_count);
        } else if (strcmp(key, "previous_cycle_of") == 0) {
            parse_dep_list(L, f, v, who, key, &t.previous_of, &t.previous_count);
        } else if (strcmp(key, "downstream_dependency") == 0) {
            yget_bool(f, v, what, &t.downstream_dependency);
            t.downstream_mark = ymark(f, ynode(f, p->key));
        } else if (strcmp(key, "retries") == 0) {
            if (yget_int(f, v, what, 0, 100, &l) == 0)
                t.retries = (int)l;
        } else if (strcmp(key, "retry_interval") == 0) {
            if (yget_duration(f, v, what, 0, 7 * 86400, &l) == 0)
                t.retry_interval_s = (int)l;
        } else if (strcmp(key, "catchup") == 0) {
            catchup_set = yget_bool(f, v, what, &t.catchup) == 0;
        } else if (strcmp(key, "paused") == 0) {
            yget_bool(f, v, what, &t.paused);
        } else if (strcmp(key, "params") == 0) {
            parse_params(L, f, v, &t, who);
        } else if (strcmp(key, "job") == 0) {
            job = v;    /* after the loop: its placeholders need every param */
        }
    }
    if (!has_schedule)
        diag_error(f->d, ymark(f, n), "%s: missing 'schedule'", who);
    if (!catchup_set)
        t.catchup = t.self_dependency;
    if (job)
        parse_job(L, f, job, &t, who);
    else
        diag_error(f->d, ymark(f, n), "%s: missing 'job'", who);
    if (!t.name)
        goto drop;
    if (cat->task_count == L->tasks_cap) {
        size_t cap = L->tasks_cap ? L->tasks_cap * 2 : 16;
        if (!(nt = realloc(cat->tasks, cap * sizeof(*nt)))) {
            ynomem(f, n);
            L->incomplete = true;
            goto drop;
        }
        cat->tasks = nt;
        L->tasks_cap = cap;
    }
    cat->tasks[cat->task_count++] = t;
    names_add(L);
    return;
drop:
    task_fini(&t);
}

/* ---- files ---- */

static void
parse_tasks(struct loader *L, struct yfile *f, yaml_node_t *tasks)
{
    yaml_node_item_t *it;

    if (tasks->type == YAML_SCALAR_NODE && tasks->data.scalar.length == 0
        && tasks->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        return;     /* "tasks:" and nothing after it: every task commented out */
    if (tasks->type != YAML_SEQUENCE_NODE) {
        diag_error(f->d, ymark(f, tasks), "catalogue: tasks: expected a list, got %s",
                   ykind(tasks));
        return;
    }
    for (it = tasks->data.sequence.items.start; it < tasks->data.sequence.items.top; it++)
        parse_task(L, f, ynode(f, *it));
}

static void
load_item(void *arg, struct yfile *f, yaml_node_t *item)
{
    parse_task(arg, f, item);
}

static void
load_file(struct loader *L, const char *path, const char *text)
{
    const char *name = add_file(L->cat, strdup(path));
    yaml_node_pair_t *p;
    yaml_node_t *root;
    struct yfile f;
    char *buf = NULL;
    size_t len;
    int rc;

    if (!name) {
        diag_error(L->d, (struct otsync_mark){path, 0, 0}, "out of memory");
        L->incomplete = true;
        return;
    }
    if (!text) {
        if (!(buf = yread_file(name, &len, L->d)))
            return;
        text = buf;
    } else {
        len = strlen(text);
    }
    /* the usual layout goes task by task; anything else is loaded whole, which also gives
     * the messages about what is unusual */
    rc = yfile_each_item(name, text, len, "tasks", L->d, load_item, L);
    if (rc != 0) {
        if (rc < 0) {
            diag_error(L->d, (struct otsync_mark){name, 0, 0}, "out of memory");
            L->incomplete = true;
        }
        free(buf);
        return;
    }
    root = yfile_load(&f, name, text, L->d);
    free(buf);
    if (!root) {
        if (f.loaded)
            diag_warning(L->d, (struct otsync_mark){name, 0, 0}, "empty catalogue file");
    } else if (root->type != YAML_MAPPING_NODE) {
        diag_error(L->d, ymark(&f, root), "catalogue: expected a mapping with a 'tasks' list, "
                   "got %s", ykind(root));
    } else {
        /* in file order, so the messages are too */
        for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++)
            if (ycheck_key(&f, root, p, "catalogue", top_keys))
                parse_tasks(L, &f, ynode(&f, p->value));
        if (!yget(&f, root, "tasks"))
            diag_error(L->d, ymark(&f, root), "catalogue: missing 'tasks'");
    }
    yfile_fini(&f);
}

static void
catalog_free(struct catalog *cat)
{
    size_t i;

    for (i = 0; i < cat->task_count; i++)
        task_fini(&cat->tasks[i]);
    for (i = 0; i < cat->file_count; i++)
        free(cat->files[i]);
    free(cat->tasks);
    free(cat->files);
    free(cat);
}

static int
loader_init(struct loader *L, struct diag *d)
{
    memset(L, 0, sizeof(*L));
    L->d = d;
    L->errors_before = d->errors;
    if (!(L->cat = calloc(1, sizeof(*L->cat)))) {
        diag_error(d, (struct otsync_mark){NULL, 0, 0}, "out of memory");
        return -OTSYNC_ENOMEM;
    }
    L->cat->refs = 1;
    return 0;
}

static int
loader_finish(struct loader *L, struct catalog **ret_cat)
{
    size_t before;

    *ret_cat = NULL;
    resolve_deps(L);
    free(L->names);
    L->names = NULL;
    /* a schedule with errors would make the satisfiability checks speak nonsense */
    before = L->d->errors;
    if (!L->incomplete)
        deps_check(L->cat, L->d, before == L->errors_before);
    if (L->d->errors > L->errors_before || L->incomplete) {
        catalog_free(L->cat);
        return -OTSYNC_ECONFIG;
    }
    *ret_cat = L->cat;
    return 0;
}

/* glob(3) calls this for a directory it cannot read; the first such error is reported. */
static int glob_errno;
static char glob_errpath[512];

static int
on_glob_error(const char *path, int err)
{
    if (err == ENOENT || err == ENOTDIR)
        return 0;       /* a missing directory is just no match */
    if (!glob_errno) {
        glob_errno = err;
        snprintf(glob_errpath, sizeof(glob_errpath), "%s", path);
    }
    return 0;
}

int
catalog_load(const char *pattern, const char *base_dir, struct diag *d, struct catalog **ret_cat)
{
    struct otsync_mark none = {NULL, 0, 0};
    struct loader L;
    char *full;
    glob_t g;
    size_t i;
    int rc;

    *ret_cat = NULL;
    if ((rc = loader_init(&L, d)) < 0)
        return rc;
    if (!(full = path_join(base_dir ? base_dir : "", base_dir ? strlen(base_dir) : 0, pattern))) {
        catalog_free(L.cat);
        diag_error(d, none, "out of memory");
        return -OTSYNC_ENOMEM;
    }
    glob_errno = 0;
    rc = glob(full, 0, on_glob_error, &g);      /* sorted: files load in name order */
    if (glob_errno)
        diag_error(d, none, "catalogue '%s': cannot read %s: %s", full, glob_errpath,
                   strerror(glob_errno));
    else if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0))
        diag_error(d, none, "catalogue '%s' matches no file", full);
    else if (rc != 0)
        diag_error(d, none, "catalogue '%s': %s", full,
                   rc == GLOB_NOSPACE ? "out of memory" : "cannot read a directory");
    for (i = 0; rc == 0 && i < g.gl_pathc; i++)
        load_file(&L, g.gl_pathv[i], NULL);
    globfree(&g);
    free(full);
    return loader_finish(&L, ret_cat);
}

int
catalog_load_string(const char *text, const char *name, const char *base_dir, struct diag *d,
                    struct catalog **ret_cat)
{
    struct loader L;
    char *path;
    int rc;

    *ret_cat = NULL;
    if ((rc = loader_init(&L, d)) < 0)
        return rc;
    /* the name is placed in base_dir so relative job files resolve from there */
    if (!(path = path_join(base_dir ? base_dir : "", base_dir ? strlen(base_dir) : 0, name))) {
        catalog_free(L.cat);
        diag_error(d, (struct otsync_mark){name, 0, 0}, "out of memory");
        return -OTSYNC_ENOMEM;
    }
    load_file(&L, path, text);
    free(path);
    return loader_finish(&L, ret_cat);
}

struct catalog *
catalog_ref(struct catalog *cat)
{
    if (cat)
        cat->refs++;
    return cat;
}

void
catalog_unref(struct catalog *cat)
{
    if (cat && --cat->refs == 0)
        catalog_free(cat);
}

time_t
catalog_next_time(const struct catalog_task *t, time_t after)
{
    time_t c;

    if (t->valid_from && after < t->valid_from - 1)
        after = t->valid_from - 1;
    c = cycle_next(&t->cycle, after);
    if (c != (time_t)-1 && t->valid_until && c >= t->valid_until)
        return (time_t)-1;
    return c;
}

const struct catalog_task *
catalog_find(const struct catalog *cat, const char *name)
{
    size_t i;

    for (i = 0; i < cat->task_count; i++)
        if (strcmp(cat->tasks[i].name, name) == 0)
            return &cat->tasks[i];
    return NULL;
}
