/*
 * otsyncctl - shows and steers otsyncd's instances over its control socket (ctlproto.h).
 * When the daemon is down, the read-only commands (status, instances, show, log) read the
 * journal files of its state directory instead, without changing them.
 *
 * Exit status: 0 done; 1 the daemon (or the journal) said no; 2 usage; 3 no daemon to ask.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "otsync/build.h"
#include "otsync/catalog.h"
#include "otsync/ctlproto.h"
#include "otsync/deps.h"
#include "otsync/diag.h"
#include "otsync/journal.h"
#include "otsync/state.h"
#include "otsync/vars.h"


#define EXIT_NO 1
#define EXIT_USAGE 2
#define EXIT_DOWN 3
#define REPLY_TIMEOUT_MS 30000

struct opts {
    const char *socket;
    const char *config;
    bool json;
    bool follow;
    char *state_dir;        /* from the config, for reading the journal */
    char *datasources;      /* from the config, for test-datasource */
    char *runner;
    char *catalogue;        /* from the config, for graph when the daemon is down */
    json_t *req;            /* the request (borrowed) */
    char *sock_from_conf;
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: otsyncctl [-s SOCKET] [-c CONFIG] [--json] COMMAND [ARGS]\n"
            "commands:\n"
            "  status                         the daemon, its journal, the last reload\n"
            "  tasks                          the catalogue's tasks\n"
            "  instances [--task T] [--date YYYY-MM-DD [--tree]] [--state S]\n"
            "  show ID                        one instance (ID is TASK@yyyymmddhh24miss) and the\n"
            "                                 upstream instances it waits for\n"
            "  log ID [-f]                    its log; -f follows it until it ends\n"
            "  rerun ID [--downstream]        --downstream: and every instance depending on it\n"
            "  kill ID | set-success ID\n"
            "  pause TASK | resume TASK\n"
            "  backfill TASK --from TIME --to TIME [--downstream] [--parallel N]\n"
            "  render TASK --at TIME          the job JSON that instance runs (secrets redacted)\n"
            "  graph [TASK]                   the dependency graph in Graphviz dot\n"
            "  reload                         reload the catalogue (like SIGHUP)\n"
            "  test-datasource NAME           one authenticated call to that datasource\n"
            "options:\n"
            "  -s, --socket PATH   the daemon's socket (default: from the config, else\n"
            "                      /run/otsync/otsyncd.sock)\n"
            "  -c, --config FILE   otsyncd's config (default %s/otsyncd.yaml), for the\n"
            "                      socket and the state directory\n"
            "      --json          print the reply as JSON for scripts\n"
            "  -h, --help | -V, --version\n",
            OTSYNC_SYSCONFDIR);
}

static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("otsyncctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(otsyncctl --help lists the commands)\n", stderr);
    return EXIT_USAGE;
}

/* ---- talking to the daemon ---- */

/* Connects; -1 with errno when nobody listens. */
static int
connect_socket(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        close(fd);
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The reply lines of one request, read as they come. */
struct reader {
    int fd;
    char *buf;
    size_t len, cap;
    size_t scanned;     /* bytes known to hold no newline: a 60 MB line is searched once */
    const char *why;
};

/* The next reply line (without its newline; valid until the next call), or NULL with why. */
static char *
read_line(struct reader *r, size_t *ret_len)
{
    for (;;) {
        struct pollfd p = {r->fd, POLLIN, 0};
        char *nl = r->len > r->scanned ? memchr(r->buf + r->scanned, '\n', r->len - r->scanned)
                                        : NULL;
        ssize_t n;
        if (nl) {
            *ret_len = (size_t)(nl - r->buf);
            *nl = '\0';
            r->scanned = 0;
            return r->buf;
        }
        r->scanned = r->len;
        if (poll(&p, 1, REPLY_TIMEOUT_MS) <= 0) {
            r->why = "no reply within 30 s";
            return NULL;
        }
        if (r->len + 262144 > r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 524288;
            char *nb = realloc(r->buf, cap);
            if (!nb) {
                r->why = "out of memory";
                return NULL;
            }
            r->buf = nb;
            r->cap = cap;
        }
        n = recv(r->fd, r->buf + r->len, r->cap - r->len - 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0) {
            r->why = n == 0 ? "the daemon closed the connection" : strerror(errno);
            return NULL;
        }
        r->len += (size_t)n;
    }
}

/* Drops the line read_line returned last. */
static void
next_line(struct reader *r, size_t line_len)
{
    memmove(r->buf, r->buf + line_len + 1, r->len - line_len - 1);
    r->len -= line_len + 1;
}

/* Sends req (borrowed). Returns 0, or -1 with r->why. */
static int
send_request(struct reader *r, const json_t *req)
{
    char *text = json_dumps(req, JSON_COMPACT);
    size_t n;

    r->why = "out of memory";
    if (!text)
        return -1;
    n = strlen(text);
    text[n] = '\n';     /* json_dumps left room for the NUL we overwrite */
    if (send(r->fd, text, n + 1, MSG_NOSIGNAL) != (ssize_t)(n + 1)) {
        free(text);
        r->why = strerror(errno);
        return -1;
    }
    free(text);
    return 0;
}

/* One request, one reply line, parsed: new reply or NULL with *why. */
static json_t *
ask(int fd, const json_t *req, const char **why)
{
    struct reader r = {.fd = fd};
    json_t *rep = NULL;
    char *line;
    size_t n;

    if (send_request(&r, req) == 0 && (line = read_line(&r, &n))) {
        if (!(rep = json_loadb(line, n, 0, NULL)))
            r.why = "the reply is not JSON";
    }
    *why = r.why;
    free(r.buf);
    return rep;
}

/* ---- reading the journal when the daemon is down ---- */

static void
on_warn(void *arg, const char *text)
{
    (void)arg;
    fprintf(stderr, "otsyncctl: %s\n", text);
}

static struct state *
offline_state(const struct opts *o)
{
    struct journal_opts jo = {.read_only = true, STATE_JOURNAL_OPTS, .warn = on_warn};
    struct journal *j = NULL;
    struct otsync_err err;
    struct state *st;
    char dir[4200];

    if (!o->state_dir) {
        fprintf(stderr, "otsyncctl: the daemon is not running and there is no config to find "
                        "its journal (give -c)\n");
        return NULL;
    }
    snprintf(dir, sizeof(dir), "%s/journal", o->state_dir);
    if (!(st = state_new()))
        return NULL;
    jo.arg = st;
    if (journal_open(dir, &jo, state_apply, &j, &err) < 0) {
        fprintf(stderr, "otsyncctl: %s\n", err.msg);
        state_free(st);
        return NULL;
    }
    journal_close(j);
    return st;
}

struct offline_arch {
    json_t *arr;
    const char *task, *state;
};

static int
offline_arch_add(void *arg, const char *line, size_t len, json_t *obj)
{
    struct offline_arch *ax = arg;
    const char *task = json_string_value(json_object_get(obj, "task"));
    const char *st = json_string_value(json_object_get(obj, "state"));

    (void)line;
    (void)len;
    if ((ax->task && (!task || strcmp(task, ax->task) != 0))
        || (ax->state && (!st || strcmp(st, ax->state) != 0)))
        return 0;
    json_array_append(ax->arr, obj);
    return 0;
}

static json_t *
offline_answer(const struct opts *o, const json_t *req)
{
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    struct state *st = offline_state(o);
    struct hinst *const *all;
    size_t n, i;
    json_t *rep = NULL;

    if (!st)
        return NULL;
    n = state_list(st, &all);
    if (strcmp(cmd, "status") == 0) {
        json_t *counts = json_object();
        for (i = 0; i < n; i++) {
            const char *s = sched_state_name(all[i]->state);
            json_object_set_new(counts, s,
                                json_integer(json_integer_value(json_object_get(counts, s)) + 1));
        }
        rep = json_pack("{s:b, s:b, s:o, s:I}", "ok", 1, "daemon_running", 0, "instances",
                        counts, "records", (json_int_t)state_records(st));
        if (state_last_reload(st))
            json_object_set(rep, "reload", (json_t *)state_last_reload(st));
    } else if (strcmp(cmd, "show") == 0) {
        const char *id = json_string_value(json_object_get(req, "id"));
        struct hinst *h = state_get(st, id);
        char adir[4200];
        json_t *arch;
        snprintf(adir, sizeof(adir), "%s/history", o->state_dir);
        if (!h && (arch = state_archive_find(adir, id))) {
            rep = json_pack("{s:b, s:o}", "ok", 1, "instance", arch);
        } else if (!h) {
            rep = json_pack("{s:b, s:s+}", "ok", 0, "error", "no instance ", id);
        } else {
            char path[4300], ts[15];
            json_t *inst = state_inst_json(h, true);
            snprintf(path, sizeof(path), "%s/logs/%s/%s.log", o->state_dir, h->task,
                     vars_format_cyctime(h->cyctime, ts));
            json_object_set_new(inst, "log", json_string(path));
            rep = json_pack("{s:b, s:o}", "ok", 1, "instance", inst);
        }
    } else if (strcmp(cmd, "instances") == 0) {
        const char *task = json_string_value(json_object_get(req, "task"));
        const char *date = json_string_value(json_object_get(req, "date"));
        const char *s = json_string_value(json_object_get(req, "state"));
        char day[9] = "";
        json_t *arr = json_array();
        if (date)
            snprintf(day, sizeof(day), "%.4s%.2s%.2s", date, date + 5, date + 8);
        for (i = 0; i < n; i++) {
            char ts[15];
            const struct hinst *h = all[i];
            if ((task && strcmp(task, h->task) != 0)
                || (s && strcmp(s, sched_state_name(h->state)) != 0)
                || (date && strncmp(vars_format_cyctime(h->cyctime, ts), day, 8) != 0))
                continue;
            json_array_append_new(arr, state_inst_json(h, false));
        }
        if (date) {
            struct offline_arch ax = {arr, task, s};
            char adir[4200];
            snprintf(adir, sizeof(adir), "%s/history", o->state_dir);
            if (state_archive_each(st, adir, day, offline_arch_add, &ax) < 0)
                fprintf(stderr, "otsyncctl: %s/%s.jsonl: %s\n", adir, day, strerror(errno));
        }
        rep = json_pack("{s:b, s:o}", "ok", 1, "instances", arr);
    } else {
        rep = json_pack("{s:b, s:s+}", "ok", 0, "error", cmd,
                        " needs the daemon, and it is not running");
    }
    state_free(st);
    return rep;
}

/* graph with the daemon down: from the catalogue files its config names. */
static json_t *
offline_graph(const struct opts *o, const json_t *req)
{
    const char *task = json_string_value(json_object_get(req, "task"));
    struct catalog *cat = NULL;
    struct diag d;
    json_t *rep;
    char *dot;

    if (!o->catalogue) {
        fprintf(stderr, "otsyncctl: the daemon is not running and there is no config to find "
                        "its catalogue (give -c)\n");
        return NULL;
    }
    diag_init(&d);
    if (catalog_load(o->catalogue, NULL, &d, &cat) < 0) {
        diag_print(&d, stderr);
        diag_fini(&d);
        return json_pack("{s:b, s:s}", "ok", 0, "error", "the catalogue has errors");
    }
    diag_fini(&d);
    if (task && !catalog_find(cat, task))
        rep = json_pack("{s:b, s:s+}", "ok", 0, "error", "no task ", task);
    else if ((dot = deps_dot(cat, task))) {
        rep = json_pack("{s:b, s:s}", "ok", 1, "dot", dot);
        free(dot);
    } else {
        rep = json_pack("{s:b, s:s}", "ok", 0, "error", "out of memory");
    }
    catalog_unref(cat);
    return rep;
}

/* ---- printing ---- */

static const char *
when(json_t *v, char buf[static 32])
{
    time_t t = (time_t)json_integer_value(v);
    struct tm tm;

    if (!v || !t)
        return "-";
    localtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static const char *
str(const json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : dflt;
}

static void
print_instances(json_t *arr)
{
    size_t i, w = 2;
    json_t *e;
    char b1[32], b2[32];

    json_array_foreach(arr, i, e) {
        size_t l = strlen(str(e, "id", ""));
        if (l > w)
            w = l;
    }
    printf("%-*s  %-10s  %8s  %-19s  %-19s  %s\n", (int)w, "ID", "STATE", "ATTEMPTS", "STARTED",
           "ENDED", "NOTE");
    json_array_foreach(arr, i, e) {
        const char *note = str(e, "reason", "");
        char wbuf[256];
        if (json_object_get(e, "waiting_for")) {
            snprintf(wbuf, sizeof(wbuf), "waiting for %s%s%s", str(e, "waiting_for", ""),
                     json_object_get(e, "blocked_by") ? " " : "", str(e, "blocked_by", ""));
            note = wbuf;
        }
        printf("%-*s  %-10s  %8d  %-19s  %-19s  %s\n", (int)w, str(e, "id", ""),
               str(e, "state", ""), (int)json_integer_value(json_object_get(e, "attempts")),
               when(json_object_get(e, "started_at"), b1), when(json_object_get(e, "ended_at"), b2),
               note);
    }
}

/* One row per instance, each under the upstream instance it hangs from ("parent"). */
static void
print_tree(json_t *arr)
{
    size_t n = json_array_size(arr), i, w = 2, top = 0;
    size_t *first = calloc(n + 1, sizeof(size_t)), *next = calloc(n + 1, sizeof(size_t));
    size_t *last = calloc(n + 1, sizeof(size_t)), *stack = calloc(n + 1, sizeof(size_t));
    size_t *depth = calloc(n + 1, sizeof(size_t));
    json_t *index = json_object(), *e;
    char b1[32], b2[32];

    if (!first || !next || !last || !stack || !depth || !index)
        goto out;
    /* children lists in listing order; slot n is the root of roots; 0 ends a list (+1) */
    json_array_foreach(arr, i, e)
        json_object_set_new(index, str(e, "id", ""), json_integer((json_int_t)i));
    json_array_foreach(arr, i, e) {
        json_t *p = json_object_get(index, str(e, "parent", ""));
        size_t up = p ? (size_t)json_integer_value(p) : n;
        if (up == i)
            up = n;
        if (last[up])
            next[last[up] - 1] = i + 1;
        else
            first[up] = i + 1;
        last[up] = i + 1;
    }
    /* depth first, iteratively; the widths need the depths first */
    for (int pass = 0; pass < 2; pass++) {
        top = 0;
        if (first[n])
            stack[top++] = first[n];
        if (pass == 1)
            printf("%-*s  %-10s  %8s  %-19s  %-19s  %s\n", (int)w, "ID", "STATE", "ATTEMPTS",
                   "STARTED", "ENDED", "NOTE");
        while (top) {
            size_t k = stack[--top] - 1, dp = depth[k];
            e = json_array_get(arr, k);
            if (next[k])
                stack[top++] = next[k];
            if (first[k]) {
                for (i = first[k]; i; i = next[i - 1])
                    depth[i - 1] = dp + 1;
                stack[top++] = first[k];
            }
            if (pass == 0) {
                if (2 * dp + strlen(str(e, "id", "")) > w)
                    w = 2 * dp + strlen(str(e, "id", ""));
                continue;
            }
            {
                const char *note = str(e, "reason", "");
                char wbuf[256], idbuf[512];
                if (json_object_get(e, "waiting_for")) {
                    snprintf(wbuf, sizeof(wbuf), "waiting for %s%s%s", str(e, "waiting_for", ""),
                             json_object_get(e, "blocked_by") ? " " : "",
                             str(e, "blocked_by", ""));
                    note = wbuf;
                }
                snprintf(idbuf, sizeof(idbuf), "%*s%s", (int)(2 * dp), "", str(e, "id", ""));
                printf("%-*s  %-10s  %8d  %-19s  %-19s  %s\n", (int)w, idbuf,
                       str(e, "state", ""), (int)json_integer_value(json_object_get(e, "attempts")),
                       when(json_object_get(e, "started_at"), b1),
                       when(json_object_get(e, "ended_at"), b2), note);
            }
        }
    }
out:
    free(first);
    free(next);
    free(last);
    free(stack);
    free(depth);
    json_decref(index);
}

static void
print_kv(const char *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
print_kv(const char *k, const char *fmt, ...)
{
    va_list ap;

    printf("%-12s ", k);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void
print_show(json_t *inst)
{
    char b[32];
    const char *k;
    json_t *v;

    print_kv("id", "%s", str(inst, "id", ""));
    print_kv("task", "%s", str(inst, "task", ""));
    print_kv("cyctime", "%s", str(inst, "cyctime", ""));
    if (json_object_get(inst, "waiting_for"))
        print_kv("state", "%s (waiting for %s%s%s)", str(inst, "state", ""),
                 str(inst, "waiting_for", ""), json_object_get(inst, "blocked_by") ? " " : "",
                 str(inst, "blocked_by", ""));
    else
        print_kv("state", "%s", str(inst, "state", ""));
    print_kv("attempts", "%d", (int)json_integer_value(json_object_get(inst, "attempts")));
    if (json_is_array(json_object_get(inst, "upstream"))) {
        size_t i, done = 0, n = json_array_size(json_object_get(inst, "upstream"));
        json_array_foreach(json_object_get(inst, "upstream"), i, v)
            done += json_is_true(json_object_get(v, "done"));
        print_kv("upstream", "%zu of %zu done", done, n);
        /* the ones still to come: what it waits for */
        json_array_foreach(json_object_get(inst, "upstream"), i, v)
            if (!json_is_true(json_object_get(v, "done")))
                print_kv("waits for", "%s (%s%s)", str(v, "id", ""), str(v, "state", ""),
                         json_is_true(json_object_get(v, "previous_cycle")) ? ", previous cycle"
                                                                            : "");
    }
    print_kv("created", "%s", when(json_object_get(inst, "created_at"), b));
    print_kv("started", "%s", when(json_object_get(inst, "started_at"), b));
    print_kv("ended", "%s", when(json_object_get(inst, "ended_at"), b));
    if (json_object_get(inst, "retry_at"))
        print_kv("retry at", "%s", when(json_object_get(inst, "retry_at"), b));
    if (json_object_get(inst, "reason"))
        print_kv("reason", "%s", str(inst, "reason", ""));
    json_object_foreach(json_object_get(inst, "params"), k, v)
        print_kv("param", "%s = %s", k, json_string_value(v) ? json_string_value(v) : "");
    if (json_object_get(inst, "stats")) {
        char *s = json_dumps(json_object_get(inst, "stats"), JSON_COMPACT);
        print_kv("stats", "%s", s ? s : "");
        free(s);
    }
    print_kv("log", "%s", str(inst, "log", ""));
}

static void
print_status(json_t *rep)
{
    char b[32];
    const char *k;
    json_t *v, *j = json_object_get(rep, "journal"), *r = json_object_get(rep, "reload");
    size_t i;

    if (json_object_get(rep, "daemon_running")) {
        print_kv("daemon", "not running (read from the journal files)");
    } else {
        print_kv("daemon", "otsyncd %s, pid %d, %s clock%s", str(rep, "version", ""),
                 (int)json_integer_value(json_object_get(rep, "pid")), str(rep, "clock", ""),
                 json_is_true(json_object_get(rep, "stopping")) ? ", stopping" : "");
        print_kv("started", "%s", when(json_object_get(rep, "started_at"), b));
        print_kv("now", "%s", when(json_object_get(rep, "now"), b));
        print_kv("tasks", "%d", (int)json_integer_value(json_object_get(rep, "tasks")));
        print_kv("running", "%d of max %d",
                 (int)json_integer_value(json_object_get(rep, "running")),
                 (int)json_integer_value(json_object_get(rep, "max_running")));
    }
    printf("%-12s", "instances");
    json_object_foreach(json_object_get(rep, "instances"), k, v)
        printf(" %s %d", k, (int)json_integer_value(v));
    putchar('\n');
    if (json_array_size(json_object_get(rep, "paused"))) {
        printf("%-12s", "paused");
        json_array_foreach(json_object_get(rep, "paused"), i, v)
            printf(" %s", json_string_value(v));
        putchar('\n');
    }
    if (j)
        print_kv("journal", "%d segment(s), %lld bytes, %lld records",
                 (int)json_integer_value(json_object_get(j, "segments")),
                 (long long)json_integer_value(json_object_get(j, "bytes")),
                 (long long)json_integer_value(json_object_get(j, "records")));
    if (json_is_object(r)) {
        bool good = json_is_true(json_object_get(r, "ok"));
        print_kv("last reload", "%s at %s", good ? "ok" : "FAILED (the previous catalogue stays)",
                 when(json_object_get(r, "at"), b));
        json_array_foreach(json_object_get(r, "errors"), i, v)
            printf("             %s\n", json_string_value(v));
    }
}

static void
print_tasks(json_t *arr)
{
    size_t i, w = 4;
    json_t *e;

    json_array_foreach(arr, i, e)
        if (strlen(str(e, "name", "")) > w)
            w = strlen(str(e, "name", ""));
    printf("%-*s  %-6s  %-8s  %7s  %-6s  %s\n", (int)w, "NAME", "CYCLE", "SELF-DEP", "RETRIES",
           "PAUSED", "DEPENDS ON");
    json_array_foreach(arr, i, e) {
        json_t *dep;
        size_t k;
        printf("%-*s  %-6s  %-8s  %7d  %-6s ", (int)w, str(e, "name", ""), str(e, "cycle", ""),
               json_is_true(json_object_get(e, "self_dependency")) ? "yes" : "no",
               (int)json_integer_value(json_object_get(e, "retries")),
               json_is_true(json_object_get(e, "paused")) ? "yes" : "no");
        json_array_foreach(json_object_get(e, "depends_on"), k, dep)
            printf("%s%s", k ? ", " : " ", json_string_value(dep));
        putchar('\n');
    }
}

static void
print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    if (s)
        puts(s);
    free(s);
}

/* ---- commands ---- */

/* Parses the subcommand's words into a request. Returns 0 or a usage exit status. */
static int
build_request(int argc, char **argv, struct opts *o, json_t **ret)
{
    const char *cmd = argv[0];
    json_t *req = json_pack("{s:s}", "cmd", strcmp(cmd, "log") == 0 ? "show" : cmd);
    int i, need = 0;

    *ret = NULL;
    if (!req)
        return EXIT_NO;
    if (!strcmp(cmd, "show") || !strcmp(cmd, "log") || !strcmp(cmd, "rerun")
        || !strcmp(cmd, "kill") || !strcmp(cmd, "set-success"))
        need = 1;
    else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "backfill")
             || !strcmp(cmd, "render"))
        need = 2;
    else if (!strcmp(cmd, "graph"))
        need = 3;   /* a task, or none */
    else if (strcmp(cmd, "status") && strcmp(cmd, "tasks") && strcmp(cmd, "instances")
             && strcmp(cmd, "reload")) {
        json_decref(req);
        return usage_error("unknown command '%s'", cmd);
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *key = NULL;
        if (!strcmp(cmd, "instances") && (!strcmp(a, "--task") || !strcmp(a, "--date")
                                          || !strcmp(a, "--state")))
            key = a + 2;
        else if (!strcmp(cmd, "backfill") && (!strcmp(a, "--from") || !strcmp(a, "--to")))
            key = a + 2;
        else if (!strcmp(cmd, "render") && !strcmp(a, "--at"))
            key = "at";
        else if ((!strcmp(cmd, "instances") && !strcmp(a, "--tree"))
                 || ((!strcmp(cmd, "rerun") || !strcmp(cmd, "backfill"))
                     && !strcmp(a, "--downstream"))) {
            if (json_object_get(req, a + 2)) {
                json_decref(req);
                return usage_error("%s: %s given twice", cmd, a);
            }
            json_object_set_new(req, a + 2, json_true());
            continue;
        } else if (!strcmp(cmd, "backfill") && !strcmp(a, "--parallel")) {
            char *end;
            long n = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (i + 1 >= argc || !argv[i + 1][0] || *end || n < 1 || n > 1000) {
                json_decref(req);
                return usage_error("backfill: --parallel needs a number from 1 to 1000");
            }
            json_object_set_new(req, "parallel", json_integer(n));
            i++;
            continue;
        }
        else if (!strcmp(cmd, "log") && (!strcmp(a, "-f") || !strcmp(a, "--follow"))) {
            o->follow = true;
            continue;
        } else if (a[0] == '-' && a[1]) {
            json_decref(req);
            return usage_error("%s: unknown option '%s'", cmd, a);
        } else if (need == 1 && !json_object_get(req, "id")) {
            json_object_set_new(req, "id", json_string(a));
            continue;
        } else if ((need == 2 || need == 3) && !json_object_get(req, "task")) {
            json_object_set_new(req, "task", json_string(a));
            continue;
        } else {
            json_decref(req);
            return usage_error("%s: unexpected argument '%s'", cmd, a);
        }
        if (i + 1 >= argc) {
            json_decref(req);
            return usage_error("%s: %s needs a value", cmd, a);
        }
        if (json_object_get(req, key)) {
            json_decref(req);
            return usage_error("%s: %s given twice", cmd, a);
        }
        json_object_set_new(req, key, json_string(argv[++i]));
    }
    if (need == 1 && !json_object_get(req, "id")) {
        json_decref(req);
        return usage_error("%s needs an instance id (TASK@yyyymmddhh24miss)", cmd);
    }
    if (need == 2 && !json_object_get(req, "task")) {
        json_decref(req);
        return usage_error("%s needs a task name", cmd);
    }
    if (!strcmp(cmd, "backfill")
        && (!json_object_get(req, "from") || !json_object_get(req, "to"))) {
        json_decref(req);
        return usage_error("backfill needs --from TIME and --to TIME");
    }
    if (o->follow && o->json) {
        json_decref(req);
        return usage_error("log: -f and --json do not go together");
    }
    if (!strcmp(cmd, "render") && !json_object_get(req, "at")) {
        json_decref(req);
        return usage_error("render needs --at TIME");
    }
    {
        /* the daemon checks again; checking here turns a typo into a usage error */
        char *text = json_dumps(req, JSON_COMPACT);
        struct otsync_err err;
        json_t *checked = NULL;
        int rc = text ? ctl_request_parse(text, strlen(text), &checked, &err) : -1;
        free(text);
        json_decref(checked);
        if (rc < 0) {
            json_decref(req);
            return usage_error("%s", err.msg);
        }
    }
    *ret = req;
    return 0;
}

static int
cat_file(const char *path, long *off)
{
    FILE *f = fopen(path, "r");
    char buf[65536];
    size_t n;

    if (!f)
        return -1;
    if (*off > 0)
        fseek(f, *off, SEEK_SET);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        fwrite(buf, 1, n, stdout);
        *off += (long)n;
    }
    fflush(stdout);
    fclose(f);
    return 0;
}

static bool
final_state(const char *s)
{
    return !strcmp(s, "success") || !strcmp(s, "failed") || !strcmp(s, "killed")
           || !strcmp(s, "skipped");
}

static int
do_log(struct opts *o, json_t *req, json_t *rep, const char *sock)
{
    json_t *inst = json_object_get(rep, "instance");
    const char *path = str(inst, "log", NULL);
    long off = 0;

    if (!path) {
        json_decref(rep);
        return EXIT_NO;
    }
    if (o->json) {
        /* the lines as a JSON array, for scripts */
        FILE *f = fopen(path, "r");
        json_t *lines = json_array(), *out;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (f && (n = getline(&line, &cap, f)) >= 0) {
            if (n > 0 && line[n - 1] == '\n')
                line[--n] = '\0';
            json_array_append_new(lines, json_stringn(line, (size_t)n));
        }
        free(line);
        if (f)
            fclose(f);
        out = json_pack("{s:s, s:s, s:s, s:o}", "id", str(inst, "id", ""), "state",
                        str(inst, "state", ""), "log", path, "lines", lines);
        print_json(out);
        json_decref(out);
        json_decref(rep);
        return 0;
    }
    if (cat_file(path, &off) < 0 && final_state(str(inst, "state", ""))) {
        fprintf(stderr, "otsyncctl: %s: %s\n", path, strerror(errno));
        json_decref(rep);
        return EXIT_NO;
    }
    while (o->follow && !final_state(str(inst, "state", ""))) {
        const char *why;
        int fd;
        json_t *next;
        usleep(500000);
        cat_file(path, &off);
        if ((fd = connect_socket(sock)) < 0)
            break;      /* the daemon went away: nothing more will be written */
        next = ask(fd, req, &why);
        close(fd);
        if (!next || !json_is_true(json_object_get(next, "ok"))) {
            json_decref(next);
            break;
        }
        json_decref(rep);
        rep = next;
        inst = json_object_get(rep, "instance");
    }
    if (o->follow)
        cat_file(path, &off);
    json_decref(rep);
    return 0;
}

static bool
write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Waits for the socket to be readable; false with r->why. */
static bool
wait_readable(struct reader *r)
{
    struct pollfd p = {r->fd, POLLIN, 0};

    if (poll(&p, 1, REPLY_TIMEOUT_MS) <= 0) {
        r->why = "no reply within 30 s";
        return false;
    }
    return true;
}

/*
 * Passes the next `left` bytes of the reply to stdout: what was read already, then from the
 * socket through a pipe with splice(2), so that the bytes (a day of instances is tens of MB)
 * never enter this process; where stdout takes no splice (a terminal), by recv and write.
 * Returns 0, or -1 with r->why.
 */
static int
pass_on(struct reader *r, size_t left)
{
    size_t n = r->len < left ? r->len : left;
    int p[2] = {-1, -1}, rc = -1;
    bool spliced;

    r->why = "output error";
    if (fflush(stdout) != 0 || !write_all(STDOUT_FILENO, r->buf, n))
        return -1;
    left -= n;
    r->len = 0;
    spliced = pipe2(p, O_CLOEXEC) == 0;
    if (spliced)
        (void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);  /* fewer, larger moves; a hint */
    while (left > 0) {
        ssize_t in, out;
        if (!wait_readable(r))
            goto out;
        if (spliced) {
            in = splice(r->fd, NULL, p[1], NULL, left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (in < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (in < 0 && errno == EINVAL) {
                spliced = false;
                continue;
            }
            if (in <= 0) {
                r->why = in == 0 ? "the daemon closed the connection" : strerror(errno);
                goto out;
            }
            left -= (size_t)in;
            while (in > 0 && spliced) {
                out = splice(p[0], NULL, STDOUT_FILENO, NULL, (size_t)in, SPLICE_F_MOVE);
                if (out < 0 && errno == EINTR)
                    continue;
                if (out < 0 && errno == EINVAL)
                    spliced = false;    /* stdout takes none: what is in the pipe, by hand */
                else if (out <= 0)
                    goto out;
                else
                    in -= out;
            }
            while (in > 0) {
                char buf[65536];
                out = read(p[0], buf, (size_t)in < sizeof(buf) ? (size_t)in : sizeof(buf));
                if (out <= 0 || !write_all(STDOUT_FILENO, buf, (size_t)out))
                    goto out;
                in -= out;
            }
            continue;
        }
        in = recv(r->fd, r->buf, r->cap - 1 < left ? r->cap - 1 : left, MSG_DONTWAIT);
        if (in < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (in <= 0) {
            r->why = in == 0 ? "the daemon closed the connection" : strerror(errno);
            goto out;
        }
        if (!write_all(STDOUT_FILENO, r->buf, (size_t)in))
            goto out;
        left -= (size_t)in;
    }
    rc = 0;
out:
    if (p[0] >= 0) {
        close(p[0]);
        close(p[1]);
    }
    return rc;
}

/* instances from the daemon: a header line, then the array, which --json passes on as it is. */
static int
instances_live(int fd, struct opts *o)
{
    struct reader r = {.fd = fd};
    json_t *head = NULL, *arr;
    char *line;
    size_t n;
    int rc = EXIT_DOWN;
    json_t *req = o->req;

    if (send_request(&r, req) < 0 || !(line = read_line(&r, &n))
        || !(head = json_loadb(line, n, 0, NULL))) {
        fprintf(stderr, "otsyncctl: %s\n", r.why ? r.why : "the reply is not JSON");
        goto out;
    }
    next_line(&r, n);
    if (!json_is_true(json_object_get(head, "ok"))) {
        fprintf(stderr, "otsyncctl: %s\n", str(head, "error", "refused"));
        if (o->json)
            print_json(head);
        rc = EXIT_NO;
        goto out;
    }
    if (o->json && json_is_integer(json_object_get(head, "bytes"))
        && json_integer_value(json_object_get(head, "bytes")) > 0) {
        if (pass_on(&r, (size_t)json_integer_value(json_object_get(head, "bytes"))) < 0) {
            fprintf(stderr, "otsyncctl: %s\n", r.why);
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (o->json) {
        /* a daemon that does not say how long the array is: it goes to stdout as it arrives
         * until its newline, never whole in memory */
        bool end = false;
        while (!end) {
            struct pollfd p = {r.fd, POLLIN, 0};
            ssize_t got;
            if (r.len) {
                end = r.buf[r.len - 1] == '\n';
                if (fwrite(r.buf, 1, r.len, stdout) != r.len)
                    break;
                r.len = 0;
                continue;
            }
            if (poll(&p, 1, REPLY_TIMEOUT_MS) <= 0) {
                r.why = "no reply within 30 s";
                break;
            }
            got = recv(r.fd, r.buf, r.cap - 1, 0);
            if (got <= 0) {
                r.why = got == 0 ? "the daemon closed the connection" : strerror(errno);
                break;
            }
            r.len = (size_t)got;
        }
        if (!end) {
            fprintf(stderr, "otsyncctl: %s\n", r.why ? r.why : "output error");
            goto out;
        }
        rc = fflush(stdout) == 0 ? 0 : EXIT_NO;
        goto out;
    }
    if (!(line = read_line(&r, &n))) {
        fprintf(stderr, "otsyncctl: %s\n", r.why);
        goto out;
    }
    if (!(arr = json_loadb(line, n, 0, NULL))) {
        fprintf(stderr, "otsyncctl: the reply is not JSON\n");
        goto out;
    }
    if (json_is_true(json_object_get(req, "tree")))
        print_tree(arr);
    else
        print_instances(arr);
    json_decref(arr);
    rc = 0;
out:
    json_decref(head);
    free(r.buf);
    return rc;
}

static void
load_config(struct opts *o)
{
    struct daemon_config conf;
    struct diag d;
    const char *path = o->config ? o->config : OTSYNC_SYSCONFDIR "/otsyncd.yaml";

    if (!o->config && access(path, R_OK) != 0)
        return;
    diag_init(&d);
    if (daemon_config_load(path, &d, &conf) == 0) {
        o->state_dir = strdup(conf.state_dir);
        o->sock_from_conf = strdup(conf.socket);
        o->datasources = strdup(conf.datasources);
        o->runner = conf.runner ? strdup(conf.runner) : NULL;
        o->catalogue = strdup(conf.catalogue);
        /* times are shown as the daemon sees them */
        if (conf.timezone)
            setenv("TZ", conf.timezone, 1);
        tzset();
        daemon_config_fini(&conf);
    } else if (o->config) {
        diag_print(&d, stderr);
    }
    diag_fini(&d);
}

/*
 * test-datasource NAME: otsync-run --test-datasource with the daemon's datasources file, run
 * here as the operator (the daemon is not involved, so this works while it is down too).
 */
static int
test_datasource(struct opts *o, int argc, char **argv)
{
    char *runner;

    if (argc != 2 || argv[1][0] == '-')
        return usage_error("test-datasource NAME: name one datasource");
    load_config(o);
    if (!o->datasources) {
        fprintf(stderr, "otsyncctl: test-datasource needs otsyncd's config for the datasources "
                "file: give -c FILE\n");
        return EXIT_USAGE;
    }
    runner = o->runner ? o->runner : daemon_config_default_runner();
    if (!runner) {
        fprintf(stderr, "otsyncctl: out of memory\n");
        return EXIT_NO;
    }
    fflush(stdout);
    execl(runner, "otsync-run", "-d", o->datasources, "--test-datasource", argv[1], (char *)NULL);
    fprintf(stderr, "otsyncctl: %s: %s\n", runner, strerror(errno));
    return EXIT_NO;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    struct opts o;
    const char *sock, *why = "";
    json_t *req = NULL, *rep = NULL;
    int opt, rc, fd;

    memset(&o, 0, sizeof(o));
    /* options stop at the command: its own options are parsed by build_request */
    while ((opt = getopt_long(argc, argv, "+s:c:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': o.socket = optarg; break;
        case 'c': o.config = optarg; break;
        case 'j': o.json = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("otsyncctl %s\n", OTSYNC_VERSION); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return usage_error("a command is needed");
    /* --json may also come after the command */
    for (int i = optind; i < argc; i++)
        if (!strcmp(argv[i], "--json")) {
            o.json = true;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i - 1) * sizeof(*argv));
            argc--;
            i--;
        }
    if (!strcmp(argv[optind], "test-datasource"))
        return test_datasource(&o, argc - optind, argv + optind);
    if ((rc = build_request(argc - optind, argv + optind, &o, &req)) != 0)
        return rc;
    o.req = req;
    load_config(&o);
    sock = o.socket ? o.socket : o.sock_from_conf ? o.sock_from_conf : "/run/otsync/otsyncd.sock";
    fd = connect_socket(sock);
    if (fd >= 0 && !strcmp(argv[optind], "instances")) {
        rc = instances_live(fd, &o);
        close(fd);
        goto out;
    }
    if (fd >= 0) {
        rep = ask(fd, req, &why);
        close(fd);
        if (!rep) {
            fprintf(stderr, "otsyncctl: %s: %s\n", sock, why);
            rc = EXIT_DOWN;
            goto out;
        }
    } else if (!strcmp(argv[optind], "graph")) {
        if (!(rep = offline_graph(&o, req))) {
            rc = EXIT_DOWN;
            goto out;
        }
    } else if (ctl_command_read_only(json_string_value(json_object_get(req, "cmd")))
               && strcmp(json_string_value(json_object_get(req, "cmd")), "render") != 0
               && strcmp(json_string_value(json_object_get(req, "cmd")), "tasks") != 0) {
        if (!(rep = offline_answer(&o, req))) {
            rc = EXIT_DOWN;
            goto out;
        }
    } else {
        fprintf(stderr, "otsyncctl: cannot reach otsyncd at %s: %s\n", sock, strerror(errno));
        rc = EXIT_DOWN;
        goto out;
    }
    if (!json_is_true(json_object_get(rep, "ok"))) {
        size_t i;
        json_t *e;
        fprintf(stderr, "otsyncctl: %s\n", str(rep, "error", "refused"));
        json_array_foreach(json_object_get(rep, "errors"), i, e)
            fprintf(stderr, "  %s\n", json_string_value(e));
        if (o.json)
            print_json(rep);
        rc = EXIT_NO;
        goto out;
    }
    if (!strcmp(argv[optind], "log")) {
        rc = do_log(&o, req, rep, sock);
        rep = NULL;     /* do_log took it */
        goto out;
    }
    {
        const char *cmd = argv[optind];
        if (!strcmp(cmd, "instances") && o.json) {
            /* one line, as the daemon sends it */
            char *s = json_dumps(json_object_get(rep, "instances"), JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
        } else if (!strcmp(cmd, "instances"))
            print_instances(json_object_get(rep, "instances"));
        else if (!strcmp(cmd, "show"))
            o.json ? print_json(json_object_get(rep, "instance"))
                   : print_show(json_object_get(rep, "instance"));
        else if (!strcmp(cmd, "tasks"))
            o.json ? print_json(json_object_get(rep, "tasks"))
                   : print_tasks(json_object_get(rep, "tasks"));
        else if (!strcmp(cmd, "status"))
            o.json ? print_json(rep) : print_status(rep);
        else if (!strcmp(cmd, "render"))
            print_json(json_object_get(rep, "job"));
        else if (!strcmp(cmd, "graph") && !o.json)
            fputs(str(rep, "dot", ""), stdout);
        else if (o.json)
            print_json(rep);
        else if (!strcmp(cmd, "backfill") && json_object_get(rep, "dates"))
            printf("%lld instance(s) created, %lld planned over %lld date(s)\n",
                   (long long)json_integer_value(json_object_get(rep, "created")),
                   (long long)json_integer_value(json_object_get(rep, "planned")),
                   (long long)json_integer_value(json_object_get(rep, "dates")));
        else if (!strcmp(cmd, "backfill"))
            printf("%lld instance(s) created\n",
                   (long long)json_integer_value(json_object_get(rep, "created")));
        else if (!strcmp(cmd, "rerun") && json_array_size(json_object_get(rep, "rerun")) > 1) {
            size_t i;
            json_t *e;
            json_array_foreach(json_object_get(rep, "rerun"), i, e)
                printf("rerun %s\n", json_string_value(e));
            json_array_foreach(json_object_get(rep, "skipped"), i, e)
                printf("left %s: %s\n", str(e, "id", ""), str(e, "why", ""));
        }
        else if (!strcmp(cmd, "reload"))
            printf("catalogue reloaded: %lld task(s)\n",
                   (long long)json_integer_value(json_object_get(rep, "tasks")));
        else
            printf("ok\n");
    }
    rc = 0;
out:
    json_decref(req);
    json_decref(rep);
    free(o.state_dir);
    free(o.sock_from_conf);
    free(o.datasources);
    free(o.runner);
    free(o.catalogue);
    return rc;
}
