/*
 * ctl.c - otsyncd's control socket: a Unix stream socket (mode 0660), newline-delimited JSON
 * requests (checked by ctl_request_parse) and one JSON reply line per request. Every action
 * that changes something is journalled with the peer's uid from SO_PEERCRED.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "otsync/ctlproto.h"
#include "otsync/deps.h"
#include "otsync/journal.h"
#include "otsync/log.h"
#include "otsync/redact.h"
#include "otsync/state.h"
#include "otsync/vars.h"
#include "daemon.h"

struct ctl {
    struct daemon *d;
    uv_pipe_t server;
    char *path;
    struct conn *conns;
};

struct conn {
    struct ctl *ctl;
    uv_pipe_t pipe;
    char *buf;
    size_t len;
    int uid;
    bool closing;
    struct conn *next;
};

struct wreq {
    uv_write_t req;
    char *text;
};

static void
on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct conn **pp;

    for (pp = &c->ctl->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    free(c->buf);
    free(c);
}

static void
conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void
on_written(uv_write_t *w, int status)
{
    struct wreq *r = (struct wreq *)w;

    (void)status;
    free(r->text);
    free(r);
}

/* Sends reply (taken) as one line. */
static void
reply(struct conn *c, json_t *rep)
{
    struct wreq *r;
    char *text;
    size_t n;
    uv_buf_t b;

    if (!rep)
        rep = json_pack("{s:b, s:s}", "ok", 0, "error", "out of memory");
    text = json_dumps(rep, JSON_COMPACT);
    json_decref(rep);
    if (!text || c->closing || !(r = calloc(1, sizeof(*r)))) {
        free(text);
        return;
    }
    n = strlen(text);
    r->text = realloc(text, n + 2);
    if (!r->text) {
        free(text);
        free(r);
        return;
    }
    r->text[n] = '\n';
    r->text[n + 1] = '\0';
    b = uv_buf_init(r->text, (unsigned)(n + 1));
    if (uv_write(&r->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0) {
        free(r->text);
        free(r);
        conn_close(c);
    }
}

/* Sends text (taken) as it is; it ends with its newline. */
static void
reply_raw(struct conn *c, char *text, size_t len)
{
    struct wreq *r;
    uv_buf_t b;

    if (!text || c->closing || !(r = calloc(1, sizeof(*r)))) {
        free(text);
        return;
    }
    r->text = text;
    b = uv_buf_init(text, (unsigned)len);
    if (uv_write(&r->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0) {
        free(text);
        free(r);
        conn_close(c);
    }
}

static json_t *
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *
fail(const char *fmt, ...)
{
    char text[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return json_pack("{s:b, s:s}", "ok", 0, "error", text);
}

static json_t *
ok(void)
{
    return json_pack("{s:b}", "ok", 1);
}

/* Journals an operator's action (what, who, on what, and whether it applied). */
static void
op_record(struct daemon *d, struct conn *c, const json_t *req, const json_t *rep)
{
    json_t *rec = json_deep_copy(req);

    if (!rec)
        return;
    json_object_set_new(rec, "what", json_incref(json_object_get(req, "cmd")));
    json_object_del(rec, "cmd");
    json_object_set_new(rec, "t", json_string("op"));
    json_object_set_new(rec, "uid", json_integer(c->uid));
    json_object_set(rec, "ok", json_object_get(rep, "ok"));
    if (json_object_get(rep, "error"))
        json_object_set(rec, "error", json_object_get(rep, "error"));
    persist_event(d, rec, true);
}

struct up_ctx {
    json_t *arr;
    const char *best;       /* --tree: the parent so far */
    time_t best_at;
    bool best_cross;
    const json_t *present;  /* --tree: id -> index of the listed instances */
    char buf[300];
};

static void
on_upstream(void *arg, const char *task, time_t cyctime, int state, bool done, bool cross)
{
    struct up_ctx *u = arg;
    char id[300], ts[15];
    const char *st = state >= 0 ? sched_state_name((enum sched_state)state)
                     : state == SCHED_UP_NOT_YET ? "not made yet" : "never made";

    snprintf(id, sizeof(id), "%s@%s", task, vars_format_cyctime(cyctime, ts));
    if (u->arr) {
        json_array_append_new(u->arr, json_pack("{s:s, s:s, s:b, s:b}", "id", id, "state", st,
                                                "done", done, "previous_cycle", cross));
        return;
    }
    /* the tree hangs an instance under its latest upstream instance listed (same-cycle ones
     * first): the one that let it start */
    if (!json_object_get(u->present, id))
        return;
    if (!u->best || (u->best_cross && !cross)
        || (u->best_cross == cross && cyctime >= u->best_at)) {
        snprintf(u->buf, sizeof(u->buf), "%s", id);
        u->best = u->buf;
        u->best_at = cyctime;
        u->best_cross = cross;
    }
}

/* Visits h's upstream instances: by its own definition while the scheduler holds it, else
 * by the current catalogue's. False when it has no dependencies. */
static bool
each_upstream(struct daemon *d, const struct hinst *h, struct up_ctx *u)
{
    const struct sched_instance *live = sched_find(d->sched, h->id);
    const struct catalog_task *def = live ? live->def : catalog_find(d->cat, h->task);
    const struct catalog *cat = live ? live->cat : d->cat;

    if (!def || (!def->depends_count && !def->previous_count
                 && !(def->downstream_dependency && def->downstream_count)))
        return false;
    sched_upstream_each(d->sched, def, cat, h->cyctime, on_upstream, u);
    return true;
}

static json_t *
inst_json(struct daemon *d, const struct hinst *h, bool full)
{
    json_t *o = state_inst_json(h, full);
    const struct sched_instance *live = sched_find(d->sched, h->id);

    if (!o)
        return NULL;
    if (live && live->state == SCHED_WAITING) {
        const char *w = live->wait == SCHED_WAIT_NONE ? "run slot" : sched_wait_name(live->wait);
        json_object_set_new(o, "waiting_for", json_string(w));
        if (live->blocked_by)
            json_object_set_new(o, "blocked_by", json_string(live->blocked_by));
    }
    if (full) {
        char path[4200], ts[15];
        struct up_ctx u = {.arr = json_array()};
        if (u.arr && each_upstream(d, h, &u))
            json_object_set_new(o, "upstream", u.arr);
        else
            json_decref(u.arr);
        snprintf(path, sizeof(path), "%s/logs/%s/%s.log", d->conf.state_dir, h->task,
                 vars_format_cyctime(h->cyctime, ts));
        json_object_set_new(o, "log", json_string(path));
    }
    return o;
}

static json_t *
do_status(struct daemon *d)
{
    struct hinst *const *all;
    size_t n = state_list(d->state, &all), i;
    json_t *counts = json_object(), *paused = json_array(), *v;
    const char *task;
    json_t *rep;

    for (i = 0; i < n; i++) {
        const char *s = sched_state_name(all[i]->state);
        json_object_set_new(counts, s, json_integer(json_integer_value(json_object_get(counts, s))
                                                    + 1));
    }
    json_object_foreach((json_t *)state_paused_tasks(d->state), task, v)
        json_array_append_new(paused, json_string(task));
    for (i = 0; i < d->cat->task_count; i++)
        if (d->cat->tasks[i].paused)
            json_array_append_new(paused, json_string(d->cat->tasks[i].name));
    rep = json_pack("{s:b, s:s, s:i, s:I, s:I, s:s, s:I, s:i, s:i, s:b, s:o, s:o}", "ok", 1,
                    "version", OTSYNC_VERSION, "pid", (int)getpid(), "started_at",
                    (json_int_t)d->started_at, "now", (json_int_t)now_s(d), "clock",
                    d->clock.simulated ? "simulated" : "real", "tasks",
                    (json_int_t)d->cat->task_count, "running", runner_running(d->runner),
                    "max_running", d->conf.max_running, "stopping", d->stopping, "instances",
                    counts, "paused", paused);
    if (!rep)
        return NULL;
    json_object_set_new(rep, "journal",
                        json_pack("{s:I, s:I, s:I}", "segments",
                                  (json_int_t)journal_segments(d->journal), "bytes",
                                  (json_int_t)journal_size(d->journal), "records",
                                  (json_int_t)state_records(d->state)));
    json_object_set(rep, "reload", state_last_reload(d->state)
                                       ? (json_t *)state_last_reload(d->state) : json_null());
    return rep;
}

static const char *
cycle_name(enum cycle_kind k)
{
    static const char *const names[] = {"minute", "hour", "day", "week", "month", "cron"};

    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static json_t *
do_tasks(struct daemon *d)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; i < d->cat->task_count; i++) {
        const struct catalog_task *t = &d->cat->tasks[i];
        json_t *deps = json_array();
        size_t k;
        for (k = 0; k < t->depends_count; k++)
            json_array_append_new(deps, json_string(t->depends_on[k].task));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:i, s:i, s:b, s:b, s:s, s:o}",
                                             "name", t->name, "cycle",
                                             cycle_name(t->cycle.kind), "self_dependency",
                                             t->self_dependency, "retries", t->retries,
                                             "retry_interval", t->retry_interval_s, "catchup",
                                             t->catchup, "paused",
                                             t->paused || sched_task_paused(d->sched, t->name),
                                             "file", t->mark.file ? t->mark.file : "",
                                             "depends_on", deps));
    }
    return json_pack("{s:b, s:o}", "ok", 1, "tasks", arr);
}

/* [from, to) of a local date YYYY-MM-DD. */
static int
day_range(const char *date, time_t *from, time_t *to)
{
    char buf[16];
    struct tm tm;

    snprintf(buf, sizeof(buf), "%.4s%.2s%.2s", date, date + 5, date + 8);
    if (vars_parse_time(buf, from) < 0)
        return -1;
    localtime_r(from, &tm);
    tm.tm_mday++;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    *to = mktime(&tm);
    return 0;
}

/* The instances of a reply, kept alive until libuv has written them. */
struct pinned {
    uv_write_t req;
    struct inst_text **v;
    size_t n, cap;
};

static bool
pin(struct pinned *p, struct inst_text *t)
{
    if (!t)
        return false;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        struct inst_text **nv = realloc(p->v, cap * sizeof(*nv));
        if (!nv) {
            inst_text_unref(t);
            return false;
        }
        p->v = nv;
        p->cap = cap;
    }
    p->v[p->n++] = t;
    return true;
}

static void
pinned_free(struct pinned *p)
{
    size_t i;

    for (i = 0; i < p->n; i++)
        inst_text_unref(p->v[i]);
    free(p->v);
    free(p);
}

static void
on_pinned_written(uv_write_t *w, int status)
{
    (void)status;
    pinned_free((struct pinned *)w);
}

struct arch_ctx {
    struct pinned *p;
    const char *task;
    int want;
    bool good;
};

/* One archived instance of the day, if it passes the filters. */
static int
arch_add(void *arg, const char *line, size_t n, json_t *obj)
{
    struct arch_ctx *ax = arg;
    const char *task = json_string_value(json_object_get(obj, "task"));
    const char *st = json_string_value(json_object_get(obj, "state"));

    if ((ax->task && (!task || strcmp(task, ax->task) != 0))
        || (ax->want >= 0 && (!st || sched_state_parse(st) != ax->want)))
        return 0;
    if (!pin(ax->p, inst_text_new(line, n))) {
        ax->good = false;
        return -OTSYNC_ENOMEM;
    }
    return 0;
}

/*
 * instances --tree: the day's instances the daemon holds in memory, each with "parent", the
 * listed upstream instance it hangs under (none for a root). Built whole, unlike the plain
 * listing: the tree is for reading, a day of one chain rather than of 10,000 tasks. Sends the
 * two-line reply itself and returns NULL, or returns a failure.
 */
static json_t *
instances_tree(struct daemon *d, struct conn *c, const json_t *req, time_t from, time_t to)
{
    const char *task = json_string_value(json_object_get(req, "task"));
    const char *st = json_string_value(json_object_get(req, "state"));
    int want = st ? sched_state_parse(st) : -1;
    struct hinst *const *all;
    size_t n = state_list(d->state, &all), i, count;
    json_t *arr = json_array(), *present = json_object(), *e;

    if (!json_object_get(req, "date")) {
        json_decref(arr);
        json_decref(present);
        return fail("instances: --tree needs --date");
    }
    for (i = 0; i < n && arr && present; i++) {
        struct hinst *h = all[i];
        if (h->cyctime < from || h->cyctime >= to || (task && strcmp(task, h->task) != 0)
            || (want >= 0 && (int)h->state != want))
            continue;
        json_t *o = inst_json(d, h, false);
        if (!o || json_array_append_new(arr, o) < 0)
            break;
        json_object_set_new(present, h->id, json_integer((json_int_t)json_array_size(arr) - 1));
    }
    if (!arr || !present) {
        json_decref(arr);
        json_decref(present);
        return fail("out of memory");
    }
    json_array_foreach(arr, i, e) {
        struct up_ctx u = {.present = present};
        struct hinst *h = state_get(d->state, json_string_value(json_object_get(e, "id")));
        if (h && each_upstream(d, h, &u) && u.best)
            json_object_set_new(e, "parent", json_string(u.best));
    }
    json_decref(present);
    count = json_array_size(arr);
    reply(c, json_pack("{s:b, s:I}", "ok", 1, "count", (json_int_t)count));
    reply(c, arr);
    return NULL;
}

/*
 * Sends the two-line reply of ctlproto.h itself and returns NULL, or returns a failure to
 * send instead. The array goes out as the instances' cached texts themselves (one writev per
 * 1024 pieces), never copied into one buffer: a day of 288,000 instances is 66 MB of JSON. A
 * day that is over goes out as the one text the state keeps of it (state_range_text): a
 * piece per instance cost more than the copy into the socket (refcounts, iovecs, page faults
 * of the arrays).
 */
static json_t *
do_instances(struct daemon *d, struct conn *c, const json_t *req)
{
    static char open_b[] = "[", comma[] = ",", close_b[] = "]\n";
    const char *task = json_string_value(json_object_get(req, "task"));
    const char *date = json_string_value(json_object_get(req, "date"));
    const char *st = json_string_value(json_object_get(req, "state"));
    int want = st ? sched_state_parse(st) : -1;
    time_t from = 0, to = 0;
    struct hinst *const *all;
    size_t n = state_list(d->state, &all), i, lo = 0, k = 0, count, range_n = 0, bytes = 0;
    struct inst_text *range = NULL;
    struct pinned *p;
    uv_buf_t *bufs;
    char head[96];
    bool good = true;

    if (date && day_range(date, &from, &to) < 0)
        return fail("instances: bad date '%s'", date);
    if (json_is_true(json_object_get(req, "tree")))
        return instances_tree(d, c, req, from, to);
    if (!(p = calloc(1, sizeof(*p))))
        return fail("out of memory");
    /* a whole day that is over: the state keeps its texts as one piece */
    if (date && !task && want < 0 && (range = state_range_text(d->state, from, to, &range_n))) {
        inst_text_ref(range);
        good = pin(p, range);
        n = 0;
    }
    if (date && n)
        lo = state_first_at(d->state, from);    /* sorted: the day's first instance */
    for (i = lo; i < n && good; i++) {
        struct hinst *h = all[i];
        struct inst_text *t;
        if (date && h->cyctime >= to)
            break;
        if ((task && strcmp(task, h->task) != 0) || (want >= 0 && (int)h->state != want))
            continue;
        if (h->state == SCHED_WAITING || h->state == SCHED_RETRY_WAIT) {
            /* live detail (what it waits for) is not cached */
            json_t *o = inst_json(d, h, false);
            char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
            json_decref(o);
            good = text && pin(p, inst_text_new(text, strlen(text)));
            free(text);
        } else if ((t = state_inst_text(h))) {
            inst_text_ref(t);
            good = pin(p, t);
        } else {
            good = false;
        }
    }
    if (good && date) {
        /* older instances of the day may have moved to the archive */
        struct arch_ctx ax = {p, task, want, true};
        char dir[4200], day[9];
        snprintf(dir, sizeof(dir), "%s/history", d->conf.state_dir);
        snprintf(day, sizeof(day), "%.4s%.2s%.2s", date, date + 5, date + 8);
        good = state_archive_each(d->state, dir, day, arch_add, &ax) >= 0 && ax.good;
    }
    if (!good || !(bufs = malloc((2 * p->n + 2) * sizeof(*bufs)))) {
        pinned_free(p);
        return fail("out of memory");
    }
    bufs[k++] = uv_buf_init(open_b, 1);
    for (i = 0; i < p->n; i++) {
        if (i)
            bufs[k++] = uv_buf_init(comma, 1);
        bufs[k++] = uv_buf_init((char *)p->v[i]->text, (unsigned)p->v[i]->len);
    }
    bufs[k++] = uv_buf_init(close_b, 2);
    for (i = 0; i < k; i++)
        bytes += bufs[i].len;
    /* the range, if any, is the first piece and holds range_n instances */
    count = range ? p->n - 1 + range_n : p->n;
    /* "bytes": the array line's length, so that a client can pass it on without looking */
    snprintf(head, sizeof(head), "{\"ok\":true,\"count\":%zu,\"bytes\":%zu}\n", count,
             bytes);
    reply_raw(c, strdup(head), strlen(head));
    /* libuv copies the array of pieces; the pieces stay pinned until written */
    if (c->closing || uv_write(&p->req, (uv_stream_t *)&c->pipe, bufs, (unsigned)k,
                               on_pinned_written) < 0) {
        pinned_free(p);
        conn_close(c);
    }
    free(bufs);
    return NULL;
}

static json_t *
do_show(struct daemon *d, const char *id)
{
    struct hinst *h = state_get(d->state, id);
    char dir[4200];
    json_t *o;

    if (h)
        return json_pack("{s:b, s:o}", "ok", 1, "instance", inst_json(d, h, true));
    snprintf(dir, sizeof(dir), "%s/history", d->conf.state_dir);
    if (!(o = state_archive_find(dir, id)))
        return fail("no instance %s", id);
    {
        const char *at = strrchr(id, '@');
        char path[4300];
        snprintf(path, sizeof(path), "%s/logs/%.*s/%s.log", d->conf.state_dir,
                 (int)(at - id), id, at + 1);
        json_object_set_new(o, "log", json_string(path));
        json_object_set_new(o, "archived", json_true());
    }
    return json_pack("{s:b, s:o}", "ok", 1, "instance", o);
}

/* An archived instance back in the state (journalled), for an action on it; NULL if none. */
static struct hinst *
unarchive(struct daemon *d, const char *id)
{
    char dir[4200];
    time_t ct;
    json_t *o;

    snprintf(dir, sizeof(dir), "%s/history", d->conf.state_dir);
    if (!(o = state_archive_find(dir, id)))
        return NULL;
    if (vars_parse_time(json_string_value(json_object_get(o, "cyctime")), &ct) < 0) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "t", json_string("inst"));
    json_object_set_new(o, "cyc", json_incref(json_object_get(o, "cyctime")));
    json_object_set_new(o, "ct", json_integer(ct));
    json_object_set_new(o, "attempt", json_incref(json_object_get(o, "attempts")));
    persist_event(d, o, true);
    return state_get(d->state, id);
}

/* The instance an action names: held by the scheduler (*ret_inst), known to the state, or
 * brought back from the archive. */
static struct hinst *
find_any(struct daemon *d, const char *id, struct sched_instance **ret_inst)
{
    struct hinst *h = state_get(d->state, id);

    *ret_inst = sched_find(d->sched, id);
    if (!*ret_inst && !h)
        h = unarchive(d, id);
    return h;
}

static bool
is_final(enum sched_state st)
{
    return st == SCHED_SUCCESS || st == SCHED_FAILED || st == SCHED_KILLED
           || st == SCHED_SKIPPED;
}

/* Reruns one finished instance, held by the scheduler or not. Returns 0 or < 0 with err. */
static int
rerun_one(struct daemon *d, const char *id, struct otsync_err *err)
{
    struct sched_instance *inst;
    struct hinst *h = find_any(d, id, &inst);

    if (inst)
        return sched_rerun(d->sched, inst, now_s(d), err);
    if (!h)
        return otsync_err_set(err, OTSYNC_ENOENT, "no instance %s", id);
    /* freed by the scheduler: take it back, with the values it was rendered with */
    if (!is_final(h->state))
        return otsync_err_set(err, OTSYNC_EINVAL, "%s is %s, not finished: nothing to rerun",
                              id, sched_state_name(h->state));
    if (!persist_adopt(d, h, SCHED_WAITING, h->attempts, now_s(d), err))
        return -(err->code ? err->code : OTSYNC_EINVAL);
    persist_event(d, json_pack("{s:s, s:s, s:s, s:i, s:i}", "t", "state", "id", id, "state",
                               "waiting", "attempt", h->attempts, "base", h->attempts),
                  true);
    return 0;
}

struct down_item {
    size_t task, rank;
    time_t cyctime;
};

struct down_walk {
    struct daemon *d;
    struct down_item *v;
    size_t n, cap;
    json_t *seen;
};

/* A dependent of an instance in the walk: joins it when it exists and is new to it. */
static void
on_down(void *arg, size_t task, time_t cyctime)
{
    struct down_walk *w = arg;
    char id[300], ts[15];

    snprintf(id, sizeof(id), "%s@%s", w->d->cat->tasks[task].name,
             vars_format_cyctime(cyctime, ts));
    if (json_object_get(w->seen, id)
        || (!sched_find(w->d->sched, id) && !state_get(w->d->state, id)))
        return;
    json_object_set_new(w->seen, id, json_true());
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct down_item *nv = realloc(w->v, cap * sizeof(*nv));
        if (!nv)
            return;
        w->v = nv;
        w->cap = cap;
    }
    w->v[w->n].task = task;
    w->v[w->n++].cyctime = cyctime;
}

static int
down_cmp(const void *a, const void *b)
{
    const struct down_item *x = a, *y = b;

    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->cyctime < y->cyctime ? -1 : x->cyctime > y->cyctime;
}

/*
 * rerun --downstream: every existing instance that depends on the rerun one, directly or
 * not, is rerun too, task by task in dependency order. Each then waits for its upstream
 * instances again, so the chain runs in order. One not finished (waiting, running) is left
 * as it is: it has yet to run anyway.
 */
static void
rerun_downstream(struct daemon *d, const char *id, json_t *rerun, json_t *skipped)
{
    struct down_walk w = {.d = d, .seen = json_object()};
    const char *at = strrchr(id, '@');
    const struct catalog_task *root;
    struct otsync_err err;
    size_t i, *order = NULL, count;
    char task[256], ts[15], sid[300];
    time_t ct;

    snprintf(task, sizeof(task), "%.*s", (int)(at - id), id);
    if (!w.seen || !(root = catalog_find(d->cat, task)) || vars_parse_time(at + 1, &ct) < 0) {
        json_decref(w.seen);
        return;
    }
    deps_dependents(d->cat, (size_t)(root - d->cat->tasks), ct, on_down, &w);
    for (i = 0; i < w.n; i++)
        deps_dependents(d->cat, w.v[i].task, w.v[i].cyctime, on_down, &w);
    count = deps_closure(d->cat, (size_t)(root - d->cat->tasks), false, &order);
    for (i = 0; i < w.n; i++) {
        size_t k;
        for (k = 0; k < count && order[k] != w.v[i].task; k++)
            ;
        w.v[i].rank = k;
    }
    free(order);
    qsort(w.v, w.n, sizeof(*w.v), down_cmp);
    for (i = 0; i < w.n; i++) {
        snprintf(sid, sizeof(sid), "%s@%s", d->cat->tasks[w.v[i].task].name,
                 vars_format_cyctime(w.v[i].cyctime, ts));
        if (rerun_one(d, sid, &err) == 0)
            json_array_append_new(rerun, json_string(sid));
        else
            json_array_append_new(skipped, json_pack("{s:s, s:s}", "id", sid, "why", err.msg));
    }
    free(w.v);
    json_decref(w.seen);
}

static json_t *
do_rerun(struct daemon *d, const json_t *req)
{
    const char *id = json_string_value(json_object_get(req, "id"));
    json_t *rerun = json_array(), *skipped = json_array();
    struct otsync_err err;

    if (rerun_one(d, id, &err) < 0) {
        json_decref(rerun);
        json_decref(skipped);
        return fail("%s", err.msg);
    }
    json_array_append_new(rerun, json_string(id));
    if (json_is_true(json_object_get(req, "downstream")))
        rerun_downstream(d, id, rerun, skipped);
    daemon_rearm(d, sched_step(d->sched, now_s(d)));
    return json_pack("{s:b, s:o, s:o}", "ok", 1, "rerun", rerun, "skipped", skipped);
}

static json_t *
do_kill(struct daemon *d, const char *id)
{
    struct sched_instance *inst = sched_find(d->sched, id);
    struct otsync_err err;

    if (!inst)
        return fail(state_get(d->state, id) ? "%s is not running or waiting" : "no instance %s",
                    id);
    if (inst->state == SCHED_RUNNING) {
        if (runner_kill(d->runner, inst) < 0)
            return fail("%s: no child to kill", id);
        return ok();
    }
    if (sched_kill(d->sched, inst, now_s(d), &err) < 0)
        return fail("%s", err.msg);
    daemon_rearm(d, sched_step(d->sched, now_s(d)));
    return ok();
}

static json_t *
do_set_success(struct daemon *d, const char *id)
{
    struct sched_instance *inst;
    struct hinst *h = find_any(d, id, &inst);
    struct otsync_err err;

    if (inst) {
        if (sched_set_success(d->sched, inst, now_s(d), &err) < 0)
            return fail("%s", err.msg);
        daemon_rearm(d, sched_step(d->sched, now_s(d)));
        return ok();
    }
    if (!h)
        return fail("no instance %s", id);
    if (h->state == SCHED_SUCCESS)
        return fail("%s already succeeded", id);
    persist_event(d, json_pack("{s:s, s:s, s:s, s:i, s:s}", "t", "state", "id", id, "state",
                               "success", "attempt", h->attempts, "reason",
                               "set to success by an operator"), true);
    /* instances waiting for it learn only this way: the scheduler no longer holds it */
    sched_recheck(d->sched, h->task, now_s(d));
    daemon_rearm(d, sched_step(d->sched, now_s(d)));
    return ok();
}

static json_t *
do_pause(struct daemon *d, const char *task, bool paused)
{
    struct otsync_err err;

    if (sched_pause(d->sched, task, paused, now_s(d), &err) < 0)
        return fail("%s", err.msg);
    daemon_rearm(d, sched_step(d->sched, now_s(d)));
    return ok();
}

static json_t *
do_backfill(struct daemon *d, const json_t *req)
{
    const char *task = json_string_value(json_object_get(req, "task"));
    time_t from, to;
    struct otsync_err err;
    size_t n = 0;
    int rc;

    if (vars_parse_time(json_string_value(json_object_get(req, "from")), &from) < 0
        || vars_parse_time(json_string_value(json_object_get(req, "to")), &to) < 0)
        return fail("backfill: bad time");
    if (json_object_get(req, "downstream") || json_object_get(req, "parallel")) {
        json_t *par = json_object_get(req, "parallel");
        size_t dates, planned;
        if (backfill_start(d, task, from, to, json_is_true(json_object_get(req, "downstream")),
                           par ? (int)json_integer_value(par) : 1, &dates, &planned, &n,
                           &err) < 0)
            return fail("%s", err.msg);
        daemon_rearm(d, sched_step(d->sched, now_s(d)));
        return json_pack("{s:b, s:I, s:I, s:I}", "ok", 1, "created", (json_int_t)n, "planned",
                         (json_int_t)planned, "dates", (json_int_t)dates);
    }
    d->in_backfill = true;
    rc = sched_backfill(d->sched, task, from, to, now_s(d), &n, &err);
    d->in_backfill = false;
    if (rc < 0)
        return fail("%s", err.msg);
    daemon_rearm(d, sched_step(d->sched, now_s(d)));
    return json_pack("{s:b, s:I}", "ok", 1, "created", (json_int_t)n);
}

static json_t *
do_render(struct daemon *d, const json_t *req)
{
    const char *task = json_string_value(json_object_get(req, "task"));
    const struct catalog_task *def = catalog_find(d->cat, task);
    struct sched_instance tmp, *live;
    struct otsync_err err;
    char id[200], ts[15], *text;
    time_t at;
    size_t i;
    json_t *job, *rep;

    if (!def)
        return fail("no task '%s' in the catalogue", task);
    if (vars_parse_time(json_string_value(json_object_get(req, "at")), &at) < 0)
        return fail("render: bad time");
    snprintf(id, sizeof(id), "%s@%s", task, vars_format_cyctime(at, ts));
    live = sched_find(d->sched, id);
    memset(&tmp, 0, sizeof(tmp));
    if (!live) {
        /* rendered the way the scheduler renders a new instance of that time */
        struct vars_ctx ctx;
        struct vars_error ve;
        tmp.def = def;
        tmp.cyctime = at;
        tmp.id = id;
        tmp.param_names = calloc(def->param_count + 1, sizeof(char *));
        tmp.param_values = calloc(def->param_count + 1, sizeof(char *));
        if (!tmp.param_names || !tmp.param_values) {
            free(tmp.param_names);
            free(tmp.param_values);
            return fail("out of memory");
        }
        ctx.cyctime = at;
        ctx.names = (const char *const *)tmp.param_names;
        ctx.values = (const char *const *)tmp.param_values;
        for (i = 0; i < def->param_count; i++) {
            ctx.count = i;
            tmp.param_names[i] = (char *)def->params[i].name;
            if (vars_render(def->params[i].expr, &ctx, &tmp.param_values[i], &ve) < 0) {
                size_t k;
                for (k = 0; k < i; k++)
                    free(tmp.param_values[k]);
                free(tmp.param_names);
                free(tmp.param_values);
                return fail("param '%s': %s", def->params[i].name, ve.msg);
            }
            tmp.param_count = i + 1;
        }
        live = &tmp;
    }
    text = runner_render_job(live, &err);
    if (live == &tmp) {
        for (i = 0; i < tmp.param_count; i++)
            free(tmp.param_values[i]);
        free(tmp.param_names);
        free(tmp.param_values);
    }
    if (!text)
        return fail("%s", err.msg);
    job = json_loads(text, 0, NULL);
    free(text);
    if (!job)
        return fail("render: the job did not come back as JSON");
    redact_json(job);
    rep = json_pack("{s:b, s:s, s:o}", "ok", 1, "id", id, "job", job);
    return rep;
}

static json_t *
do_graph(struct daemon *d, const char *task)
{
    char *dot;
    json_t *rep;

    if (task && !catalog_find(d->cat, task))
        return fail("no task '%s' in the catalogue", task);
    if (!(dot = deps_dot(d->cat, task)))
        return fail("out of memory");
    rep = json_pack("{s:b, s:s}", "ok", 1, "dot", dot);
    free(dot);
    return rep;
}

static json_t *
do_reload(struct daemon *d)
{
    json_t *errors = NULL;
    int rc = daemon_reload(d, &errors);

    if (rc < 0)
        return json_pack("{s:b, s:s, s:o}", "ok", 0, "error", "the new catalogue has errors; "
                         "the current one stays", "errors", errors ? errors : json_array());
    json_decref(errors);
    return json_pack("{s:b, s:I}", "ok", 1, "tasks", (json_int_t)d->cat->task_count);
}

static void
handle(struct conn *c, const char *line, size_t len)
{
    struct daemon *d = c->ctl->d;
    struct otsync_err err;
    json_t *req, *rep;
    const char *cmd, *id, *task;

    if (ctl_request_parse(line, len, &req, &err) < 0) {
        reply(c, fail("%s", err.msg));
        return;
    }
    cmd = json_string_value(json_object_get(req, "cmd"));
    id = json_string_value(json_object_get(req, "id"));
    task = json_string_value(json_object_get(req, "task"));
    if (d->stopping && !ctl_command_read_only(cmd))
        rep = fail("otsyncd is stopping");
    else if (strcmp(cmd, "status") == 0)
        rep = do_status(d);
    else if (strcmp(cmd, "tasks") == 0)
        rep = do_tasks(d);
    else if (strcmp(cmd, "instances") == 0) {
        if (!(rep = do_instances(d, c, req))) {
            json_decref(req);
            return;     /* sent */
        }
    }
    else if (strcmp(cmd, "show") == 0)
        rep = do_show(d, id);
    else if (strcmp(cmd, "rerun") == 0)
        rep = do_rerun(d, req);
    else if (strcmp(cmd, "kill") == 0)
        rep = do_kill(d, id);
    else if (strcmp(cmd, "set-success") == 0)
        rep = do_set_success(d, id);
    else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0)
        rep = do_pause(d, task, strcmp(cmd, "pause") == 0);
    else if (strcmp(cmd, "backfill") == 0)
        rep = do_backfill(d, req);
    else if (strcmp(cmd, "render") == 0)
        rep = do_render(d, req);
    else if (strcmp(cmd, "graph") == 0)
        rep = do_graph(d, task);
    else
        rep = do_reload(d);
    if (rep && !ctl_command_read_only(cmd) && strcmp(cmd, "reload") != 0)
        op_record(d, c, req, rep);
    if (rep && json_is_true(json_object_get(rep, "ok")) && !ctl_command_read_only(cmd))
        log_notice("ctl: %s%s%s by uid %d", cmd, id || task ? " " : "", id ? id : task ? task : "",
                   c->uid);
    json_decref(req);
    reply(c, rep);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    size_t start = 0, i;

    if (nread < 0) {
        free(buf->base);
        conn_close(c);
        return;
    }
    if (c->len + (size_t)nread > CTL_REQUEST_MAX + 1) {
        free(buf->base);
        reply(c, fail("request longer than %d bytes", CTL_REQUEST_MAX));
        conn_close(c);
        return;
    }
    {
        char *nb = realloc(c->buf, c->len + (size_t)nread + 1);
        if (!nb) {
            free(buf->base);
            conn_close(c);
            return;
        }
        c->buf = nb;
        memcpy(c->buf + c->len, buf->base, (size_t)nread);
        c->len += (size_t)nread;
    }
    free(buf->base);
    for (i = 0; i < c->len && !c->closing; i++) {
        if (c->buf[i] != '\n')
            continue;
        if (i > start)
            handle(c, c->buf + start, i - start);
        start = i + 1;
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct ctl *ctl = server->data;
    struct conn *c;
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    uv_os_fd_t fd;

    if (status < 0 || !(c = calloc(1, sizeof(*c))))
        return;
    c->ctl = ctl;
    c->uid = -1;
    uv_pipe_init(server->loop, &c->pipe, 0);
    c->pipe.data = c;
    c->next = ctl->conns;
    ctl->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        conn_close(c);
        return;
    }
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0) {
        /* a day of instances is tens of MB: fewer, larger writes */
        int sndbuf = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
            c->uid = (int)cred.uid;
    }
    uv_read_start((uv_stream_t *)&c->pipe, daemon_on_alloc, on_read);
}

/* True when something answers on path: another otsyncd owns it. */
static bool
socket_alive(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool alive;

    if (fd < 0)
        return false;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return alive;
}

int
ctl_start(struct daemon *d, struct otsync_err *err)
{
    struct ctl *ctl;
    const char *path = d->conf.socket;
    char dir[4096], *slash;
    int rc;

    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return otsync_err_set(err, OTSYNC_ECONFIG, "socket path '%s' is too long", path);
    if (socket_alive(path))
        return otsync_err_set(err, OTSYNC_EEXIST, "%s: another otsyncd is listening there",
                              path);
    snprintf(dir, sizeof(dir), "%s", path);
    if ((slash = strrchr(dir, '/')) && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
            return otsync_err_errno(err, errno, "%s: mkdir", dir);
    }
    unlink(path);       /* a stale socket of a daemon that died */
    if (!(ctl = calloc(1, sizeof(*ctl))) || !(ctl->path = strdup(path))) {
        free(ctl);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    ctl->d = d;
    uv_pipe_init(d->loop, &ctl->server, 0);
    ctl->server.data = ctl;
    if ((rc = uv_pipe_bind(&ctl->server, path)) < 0
        || (rc = uv_listen((uv_stream_t *)&ctl->server, 64, on_connection)) < 0) {
        uv_close((uv_handle_t *)&ctl->server, NULL);
        d->ctl = ctl;       /* freed by ctl_stop after the loop closed the handle */
        return otsync_err_set(err, OTSYNC_ESYS, "%s: %s", path, uv_strerror(rc));
    }
    chmod(path, 0660);
    d->ctl = ctl;
    return 0;
}

void
ctl_stop(struct daemon *d)
{
    struct ctl *ctl = d->ctl;
    struct conn *c;

    if (!ctl)
        return;
    for (c = ctl->conns; c; c = c->next)
        conn_close(c);
    if (!uv_is_closing((uv_handle_t *)&ctl->server))
        uv_close((uv_handle_t *)&ctl->server, NULL);
    unlink(ctl->path);
}

void
ctl_free(struct daemon *d)
{
    if (!d->ctl)
        return;
    free(d->ctl->path);
    free(d->ctl);
    d->ctl = NULL;
}
