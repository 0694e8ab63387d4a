/*
 * catalog.c - the task catalogue: tasks.d/NAME.yaml files into an immutable, refcounted struct
 * catalog, every mistake reported as file:line:col in one pass.
 *
 * Owns: the catalogue's keys and their checks (schedule, params, job placeholders, duplicate
 * names). Leaves to others: what a cycle means (cycle.c), the expression grammar (vars.c),
 * YAML mechanics (yamlnode.c), the daemon config (config.c).
 */
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/catalog.h"
#include "otsync/vars.h"
#include "yamlnode.h"

static const char *const task_keys[] = {"name", "schedule", "self_dependency", "retries",
                                        "retry_interval", "catchup", "paused", "params", "job",
                                        NULL};
static const char *const schedule_keys[] = {"cycle", "start", "end", "interval", "days",
                                            "cron", NULL};

/* "task 'x': key", for messages about one key's value; w is the caller's buffer */
#define W(key) (snprintf(w, sizeof(w), "%s: %s", who, (key)), w)

struct loader {
    struct catalog *cat;
    struct diag *d;
    size_t errors_before;
};

static char *
add_file(struct catalog *cat, const char *name)
{
    char **nv = realloc(cat->files, (cat->file_count + 1) * sizeof(*nv));

    if (!nv)
        return NULL;
    cat->files = nv;
    if (!(nv[cat->file_count] = strdup(name)))
        return NULL;
    return nv[cat->file_count++];
}

static bool
valid_name(const char *s, bool task)
{
    const char *p;

    if (!*s)
        return false;
    if (!task && !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (p = s; *p; p++) {
        bool ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
                  || *p == '_' || *p == '.' || (task && *p == '-');
        if (!ok)
            return false;
    }
    return true;
}

static void
parse_days(struct yfile *f, yaml_node_t *n, struct cycle *c, const char *who)
{
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    yaml_node_item_t *it;

    if (n->type != YAML_SEQUENCE_NODE) {
        diag_error(f->d, ymark(f, n), "%s: schedule.days: expected a list", who);
        return;
    }
    for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = ynode(f, *it);
        const char *s = yscalar(f, e, "schedule.days");
        char *end;
        long v;
        int i;

        if (!s)
            continue;
        if (c->kind == CYCLE_WEEK) {
            for (i = 0; i < 7; i++)
                if (strncasecmp(s, names[i], 3) == 0 && (s[3] == '\0' || strlen(s) > 3))
                    break;
            if (i < 7 && strlen(s) == 3) {
                c->dow_mask |= (uint8_t)(1u << i);
                continue;
            }
            v = strtol(s, &end, 10);
            if (*s && !*end && v >= 0 && v <= 7) {
                c->dow_mask |= (uint8_t)(1u << (v == 7 ? 0 : v));
                continue;
            }
            diag_error(f->d, ymark(f, e), "%s: schedule.days: '%s' is not a weekday "
                       "(sun..sat or 0-7)", who, s);
        } else {
            if (strcmp(s, "last") == 0) {
                c->dom_mask |= 1u;
                continue;
            }
            v = strtol(s, &end, 10);
            if (*s && !*end && v >= 1 && v <= 31) {
                c->dom_mask |= 1u << v;
                continue;
            }
            diag_error(f->d, ymark(f, e), "%s: schedule.days: '%s' is not a day of the month "
                       "(1-31 or last)", who, s);
        }
    }
}

static void
parse_schedule(struct yfile *f, yaml_node_t *n, struct catalog_task *t, const char *who)
{
    static const char *const kinds[] = {"minute", "hour", "day", "week", "month", NULL};
    struct cycle *c = &t->cycle;
    struct cycle_error ce;
    yaml_node_t *v;
    size_t before = f->d->errors;
    long l;
    int i;

    char w[400];

    if (n->type != YAML_MAPPING_NODE) {
        diag_error(f->d, ymark(f, n), "%s: schedule: expected a mapping", who);
        return;
    }
    ycheck_keys(f, n, who, schedule_keys);
    memset(c, 0, sizeof(*c));
    c->end_min = 1439;
    c->interval = 1;
    if ((v = yget(f, n, "cron"))) {
        const char *s = yscalar(f, v, W("schedule.cron"));
        if (yget(f, n, "cycle"))
            diag_error(f->d, ymark(f, v), "%s: schedule: give either cron or cycle, not both",
                       who);
        if (s && cycle_parse_cron(s, c, &ce) < 0)
            diag_error(f->d, ymark_at(f, v, ce.offset), "%s: schedule.cron: %s", who, ce.msg);
        return;
    }
    if (!(v = yget(f, n, "cycle"))) {
        diag_error(f->d, ymark(f, n), "%s: schedule: missing 'cycle' (or 'cron')", who);
        return;
    }
    {
        const char *s = yscalar(f, v, W("schedule.cycle"));
        if (!s)
            return;
        for (i = 0; kinds[i] && strcmp(kinds[i], s); i++)
            ;
        if (!kinds[i]) {
            diag_error(f->d, ymark(f, v), "%s: schedule.cycle: '%s' is not one of minute, hour, "
                       "day, week, month", who, s);
            return;
        }
        c->kind = (enum cycle_kind)i;
    }
    if ((v = yget(f, n, "start")))
        yget_hhmm(f, v, W("schedule.start"), &c->start_min);
    if ((v = yget(f, n, "end"))) {
        if (c->kind != CYCLE_MINUTE && c->kind != CYCLE_HOUR)
            diag_error(f->d, ymark(f, v), "%s: schedule.end applies to minute and hour cycles",
                       who);
        else
            yget_hhmm(f, v, W("schedule.end"), &c->end_min);
    }
    if ((v = yget(f, n, "interval"))) {
        if (c->kind != CYCLE_MINUTE && c->kind != CYCLE_HOUR)
            diag_error(f->d, ymark(f, v),
                       "%s: schedule.interval applies to minute and hour cycles", who);
        else if (yget_int(f, v, W("schedule.interval"), 1,
                          c->kind == CYCLE_MINUTE ? 1440 : 24, &l) == 0)
            c->interval = (int)l;
    } else if (c->kind == CYCLE_MINUTE) {
        diag_error(f->d, ymark(f, n), "%s: schedule: a minute cycle needs an interval", who);
    }
    if ((v = yget(f, n, "days"))) {
        if (c->kind != CYCLE_WEEK && c->kind != CYCLE_MONTH)
            diag_error(f->d, ymark(f, v), "%s: schedule.days applies to week and month cycles",
                       who);
        else
            parse_days(f, v, c, who);
    }
    if (f->d->errors == before && cycle_validate(c, &ce) < 0)
        diag_error(f->d, ymark(f, n), "%s: schedule: %s", who, ce.msg);
}

static void
parse_params(struct yfile *f, yaml_node_t *n, struct catalog_task *t, const char *who)
{
    yaml_node_pair_t *p;
    size_t count;

    if (n->type != YAML_MAPPING_NODE) {
        diag_error(f->d, ymark(f, n), "%s: params: expected a mapping of name: expression", who);
        return;
    }
    count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (!count || !(t->params = calloc(count, sizeof(*t->params))))
        return;
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode(f, p->key), *v = ynode(f, p->value);
        const char *name = yscalar(f, k, "params"), *expr;
        struct vars_error ve;
        size_t i;

        if (!name)
            continue;
        if (!valid_name(name, false)) {
            diag_error(f->d, ymark(f, k), "%s: param name '%s' must match [A-Za-z_][A-Za-z0-9_.]*",
                       who, name);
            continue;
        }
        for (i = 0; i < t->param_count; i++)
            if (strcmp(t->params[i].name, name) == 0)
                diag_error(f->d, ymark(f, k), "%s: param '%s' given twice", who, name);
        if (!(expr = yscalar(f, v, "param value")))
            continue;
        /* params may use the system variables and time expressions, not each other */
        if (vars_check(expr, NULL, 0, &ve) < 0) {
            diag_error(f->d, ymark_at(f, v, ve.offset), "%s: param '%s': %s", who, name, ve.msg);
            continue;
        }
        t->params[t->param_count].name = strdup(name);
        t->params[t->param_count].expr = strdup(expr);
        t->params[t->param_count].mark = ymark(f, v);
        t->param_count++;
    }
}

/* Checks every string of a job file's JSON; errors point at the catalogue's `job:` value. */
static void
check_json_strings(struct yfile *f, yaml_node_t *at, const json_t *j, const char *path,
                   const char *const *known, size_t known_count, const char *who,
                   const char *jobfile)
{
    char sub[512];
    struct vars_error ve;

    if (json_is_string(j)) {
        if (vars_check(json_string_value(j), known, known_count, &ve) < 0)
            diag_error(f->d, ymark(f, at), "%s: %s: job JSON path %s: %s", who, jobfile, path,
                       ve.msg);
    } else if (json_is_object(j)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)j, k, e) {
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
            check_json_strings(f, at, e, sub, known, known_count, who, jobfile);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *e;
        json_array_foreach((json_t *)j, i, e) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            check_json_strings(f, at, e, sub, known, known_count, who, jobfile);
        }
    }
}

/* Checks the scalars of an inline job where they stand, so errors carry their own column. */
static void
check_yaml_strings(struct yfile *f, yaml_node_t *n, const char *const *known, size_t count,
                   const char *who)
{
    struct vars_error ve;

    if (n->type == YAML_SCALAR_NODE) {
        if (vars_check((const char *)n->data.scalar.value, known, count, &ve) < 0)
            diag_error(f->d, ymark_at(f, n, ve.offset), "%s: job: %s", who, ve.msg);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it;
        for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            check_yaml_strings(f, ynode(f, *it), known, count, who);
    } else if (n->type == YAML_MAPPING_NODE) {
        yaml_node_pair_t *p;
        for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
            check_yaml_strings(f, ynode(f, p->value), known, count, who);
    }
}

static void
parse_job(struct loader *L, struct yfile *f, yaml_node_t *n, struct catalog_task *t,
          const char *who)
{
    const char *known[256];
    size_t i, count = t->param_count < 256 ? t->param_count : 256;

    for (i = 0; i < count; i++)
        known[i] = t->params[i].name;
    if (n->type == YAML_MAPPING_NODE) {
        check_yaml_strings(f, n, known, count, who);
        t->job = yto_json(f, n);
        t->job_source = strdup(f->name);
        return;
    }
    if (n->type == YAML_SCALAR_NODE) {
        const char *rel = (const char *)n->data.scalar.value;
        char path[PATH_MAX], dir[PATH_MAX];
        json_error_t je;
        char *name;

        snprintf(dir, sizeof(dir), "%s", f->name);
        if (rel[0] == '/')
            snprintf(path, sizeof(path), "%s", rel);
        else
            snprintf(path, sizeof(path), "%s/%s", dirname(dir), rel);
        if (!(name = add_file(L->cat, path)))
            return;
        t->job = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!t->job) {
            if (je.line > 0)
                diag_error(f->d, (struct otsync_mark){name, (unsigned)je.line,
                                                      (unsigned)(je.column > 0 ? je.column : 1)},
                           "%s: job JSON: %s", who, je.text);
            else
                diag_error(f->d, ymark(f, n), "%s: job file %s: %s", who, path, je.text);
            return;
        }
        if (!json_is_object(t->job))
            diag_error(f->d, (struct otsync_mark){name, 1, 1}, "%s: job JSON: expected an object",
                       who);
        t->job_source = strdup(name);
        check_json_strings(f, n, t->job, "", known, count, who, path);
        return;
    }
    diag_error(f->d, ymark(f, n), "%s: job: expected a file name or an inline mapping", who);
}

static void
task_fini(struct catalog_task *t)
{
    size_t i;

    for (i = 0; i < t->param_count; i++) {
        free(t->params[i].name);
        free(t->params[i].expr);
    }
    free(t->params);
    json_decref(t->job);
    free(t->job_source);
    free(t->name);
}

static void
parse_task(struct loader *L, struct yfile *f, yaml_node_t *n)
{
    struct catalog *cat = L->cat;
    struct catalog_task t, *nt;
    char who[300], w[400];
    yaml_node_t *v;
    long l;
    bool catchup_set = false;
    size_t i;

    memset(&t, 0, sizeof(t));
    t.retries = 3;
    t.retry_interval_s = 120;
    t.mark = ymark(f, n);
    if (n->type != YAML_MAPPING_NODE) {
        diag_error(f->d, ymark(f, n), "a task must be a mapping");
        return;
    }
    snprintf(who, sizeof(who), "task");
    if ((v = yget(f, n, "name"))) {
        const char *s = yscalar(f, v, "name");
        if (s && !valid_name(s, true))
            diag_error(f->d, ymark(f, v), "task name '%s' must match [A-Za-z0-9_.-]+", s);
        else if (s)
            t.name = strdup(s);
        if (s)
            snprintf(who, sizeof(who), "task '%s'", s);
    } else {
        diag_error(f->d, ymark(f, n), "task: missing 'name'");
    }
    ycheck_keys(f, n, who, task_keys);
    if (t.name)
        for (i = 0; i < cat->task_count; i++)
            if (strcmp(cat->tasks[i].name, t.name) == 0)
                diag_error(f->d, ymark(f, yget(f, n, "name")),
                           "%s: name already used at %s:%u:%u", who, cat->tasks[i].mark.file,
                           cat->tasks[i].mark.line, cat->tasks[i].mark.col);
    if ((v = yget(f, n, "schedule")))
        parse_schedule(f, v, &t, who);
    else
        diag_error(f->d, ymark(f, n), "%s: missing 'schedule'", who);
    if ((v = yget(f, n, "self_dependency")))
        yget_bool(f, v, W("self_dependency"), &t.self_dependency);
    if ((v = yget(f, n, "retries")) && yget_int(f, v, W("retries"), 0, 100, &l) == 0)
        t.retries = (int)l;
    if ((v = yget(f, n, "retry_interval"))
        && yget_duration(f, v, W("retry_interval"), 0, 7 * 86400, &l) == 0)
        t.retry_interval_s = (int)l;
    if ((v = yget(f, n, "catchup")) && yget_bool(f, v, W("catchup"), &t.catchup) == 0)
        catchup_set = true;
    if (!catchup_set)
        t.catchup = t.self_dependency;
    if ((v = yget(f, n, "paused")))
        yget_bool(f, v, W("paused"), &t.paused);
    if ((v = yget(f, n, "params")))
        parse_params(f, v, &t, who);
    if ((v = yget(f, n, "job")))
        parse_job(L, f, v, &t, who);
    else
        diag_error(f->d, ymark(f, n), "%s: missing 'job'", who);
    if (!t.name || !(nt = realloc(cat->tasks, (cat->task_count + 1) * sizeof(*nt)))) {
        task_fini(&t);
        return;
    }
    cat->tasks = nt;
    cat->tasks[cat->task_count++] = t;
}

static void
load_file(struct loader *L, const char *path, const char *text)
{
    struct yfile f;
    yaml_node_t *root, *tasks;
    const char *name = add_file(L->cat, path);
    static const char *const top_keys[] = {"tasks", NULL};

    if (!name)
        return;
    root = yfile_load(&f, name, text, L->d);
    if (!root) {
        if (f.loaded)
            diag_warning(L->d, (struct otsync_mark){name, 0, 0}, "empty catalogue file");
        yfile_fini(&f);
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        diag_error(L->d, ymark(&f, root), "a catalogue file is a mapping with a 'tasks:' list");
    } else {
        ycheck_keys(&f, root, "catalogue", top_keys);
        tasks = yget(&f, root, "tasks");
        if (!tasks) {
            diag_error(L->d, ymark(&f, root), "catalogue: missing 'tasks:'");
        } else if (tasks->type == YAML_SCALAR_NODE && !*(const char *)tasks->data.scalar.value) {
            /* "tasks:" with nothing: an empty catalogue file is fine */
        } else if (tasks->type != YAML_SEQUENCE_NODE) {
            diag_error(L->d, ymark(&f, tasks), "tasks: expected a list of tasks");
        } else {
            yaml_node_item_t *it;
            for (it = tasks->data.sequence.items.start; it < tasks->data.sequence.items.top; it++)
                parse_task(L, &f, ynode(&f, *it));
        }
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
finish(struct loader *L, struct catalog **ret_cat)
{
    if (L->d->errors > L->errors_before) {
        catalog_free(L->cat);
        return -OTSYNC_ECONFIG;
    }
    *ret_cat = L->cat;
    return 0;
}

int
catalog_load(const char *pattern, const char *base_dir, struct diag *d, struct catalog **ret_cat)
{
    struct loader L = {.d = d, .errors_before = d->errors};
    char full[PATH_MAX];
    glob_t g;
    size_t i;
    int rc;

    if (!(L.cat = calloc(1, sizeof(*L.cat))))
        return -OTSYNC_ENOMEM;
    L.cat->refs = 1;
    if (pattern[0] != '/' && base_dir)
        snprintf(full, sizeof(full), "%s/%s", base_dir, pattern);
    else
        snprintf(full, sizeof(full), "%s", pattern);
    rc = glob(full, GLOB_ERR, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        diag_error(d, (struct otsync_mark){NULL, 0, 0}, "catalogue '%s' matches no file", full);
    } else if (rc != 0) {
        diag_error(d, (struct otsync_mark){NULL, 0, 0}, "catalogue '%s': cannot read", full);
    } else {
        for (i = 0; i < g.gl_pathc; i++)    /* glob sorts: files load in name order */
            load_file(&L, g.gl_pathv[i], NULL);
    }
    if (rc == 0 || rc == GLOB_NOMATCH)
        globfree(&g);
    return finish(&L, ret_cat);
}

int
catalog_load_string(const char *text, const char *name, const char *base_dir, struct diag *d,
                    struct catalog **ret_cat)
{
    struct loader L = {.d = d, .errors_before = d->errors};
    char path[PATH_MAX];

    if (!(L.cat = calloc(1, sizeof(*L.cat))))
        return -OTSYNC_ENOMEM;
    L.cat->refs = 1;
    /* the name is placed in base_dir so relative job files resolve from there */
    if (base_dir && name[0] != '/')
        snprintf(path, sizeof(path), "%s/%s", base_dir, name);
    else
        snprintf(path, sizeof(path), "%s", name);
    load_file(&L, path, text);
    return finish(&L, ret_cat);
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

const struct catalog_task *
catalog_find(const struct catalog *cat, const char *name)
{
    size_t i;

    for (i = 0; i < cat->task_count; i++)
        if (strcmp(cat->tasks[i].name, name) == 0)
            return &cat->tasks[i];
    return NULL;
}
