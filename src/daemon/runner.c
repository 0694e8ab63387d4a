/*
 * runner.c - one otsync-run child per running attempt (ARCHITECTURE.md: a job that crashes,
 * leaks or hangs cannot take the scheduler down; killing an instance is kill(2)).
 *
 * Owns: rendering an instance's job, spawning the child with the job on stdin, turning its
 * stderr (and every stdout line but the last) into the instance's log, and deciding the
 * outcome from the exit status and the final JSON stats line, which must agree. Leaves to
 * others: what happens next (sched), where state is kept (the daemon's hooks).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "otsync/log.h"
#include "otsync/vars.h"
#include "daemon.h"

#define LINE_MAX_LEN (64 * 1024)    /* a longer log line is cut, not buffered without end */

struct runner {
    uv_loop_t *loop;
    char *path;
    char *log_dir;
    char *datasources;          /* the daemon's datasources file, for OTSYNC_DATASOURCES */
    const struct dclock *clock; /* borrowed; NULL: the system's */
    struct runner_hooks hooks;
    int running;
    struct child *children;     /* spawned */
    struct child *pending;      /* prepared, waiting for runner_spawn_pending */
    uv_signal_t sigchld;        /* reaps children: we spawn them ourselves, see runner_start */
    bool sigchld_on;
};

struct linebuf {
    char *buf;
    size_t len;
    bool cut;       /* dropping the rest of an over-long line */
};

struct child {
    struct runner *r;
    struct sched_instance *inst;
    pid_t pid;
    uv_pipe_t in, out, err;
    uv_write_t wreq;
    char *job;                  /* rendered job text, alive until the write completes */
    struct linebuf outl, errl;
    char *last_stdout;          /* the last complete stdout line: the stats */
    int log_fd;
    int64_t exit_status;
    int term_signal;
    int events;                 /* exit, stdout EOF, stderr EOF still to come */
    int closes;                 /* handle closes still to come (in, out, err) */
    bool exited;
    bool killed;                /* by an operator: the outcome is SCHED_KILL */
    struct child *next;
};

static void on_sigchld(uv_signal_t *h, int sig);

#define OWNER_ENV "OTSYNC_OWNER="

/* Whether /proc/pid's environment holds `want` ("OTSYNC_OWNER=..."). */
static bool
owned_by(const char *pid, const char *want)
{
    char path[64], buf[65536];
    size_t len = strlen(want), off;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%s/environ", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    for (off = 0; off < (size_t)n; off += strlen(buf + off) + 1)
        if (strncmp(buf + off, want, len) == 0 && buf[off + len] == '\0')
            return true;
    return false;
}

size_t
runner_kill_leftovers(const char *log_dir)
{
    char want[4200];
    struct dirent *e;
    size_t found = 0, left;
    pid_t self = getpid();
    DIR *dir;
    int i;

    /*
     * A daemon killed with SIGKILL takes its children down (PR_SET_PDEATHSIG), but they die a
     * moment later, and an instance restored as interrupted must not start again while its
     * old attempt is still about. Children carry OTSYNC_OWNER=<our log dir>: kill what is
     * left of ours and wait (at most 5 s) until it is gone.
     */
    snprintf(want, sizeof(want), "%s%s", OWNER_ENV, log_dir);
    for (i = 0; i < 100; i++) {
        left = 0;
        if (!(dir = opendir("/proc")))
            return found;
        while ((e = readdir(dir))) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9' || atol(e->d_name) == self)
                continue;
            if (owned_by(e->d_name, want)) {
                kill((pid_t)atol(e->d_name), SIGKILL);
                left++;
            }
        }
        closedir(dir);
        if (i == 0)
            found = left;
        if (!left)
            return found;
        usleep(50000);
    }
    log_warn("children of the previous daemon are still alive after 5 s");
    return found;
}

struct runner *
runner_new(uv_loop_t *loop, const char *path, const char *log_dir, const char *datasources,
           const struct runner_hooks *hooks)
{
    struct runner *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->loop = loop;
    r->path = strdup(path);
    r->log_dir = strdup(log_dir);
    r->datasources = strdup(datasources ? datasources : "");
    r->hooks = *hooks;
    if (!r->path || !r->log_dir || !r->datasources) {
        runner_free(r);
        return NULL;
    }
    if (uv_signal_init(loop, &r->sigchld) == 0) {
        r->sigchld.data = r;
        r->sigchld_on = true;
    }
    return r;
}

void
runner_set_clock(struct runner *r, const struct dclock *clock)
{
    r->clock = clock;
}

void
runner_free(struct runner *r)
{
    if (!r)
        return;
    free(r->path);
    free(r->log_dir);
    free(r->datasources);
    /* the SIGCHLD handle was closed with every other handle when the loop shut down */
    free(r);
}

int
runner_running(const struct runner *r)
{
    return r->running;
}

int
runner_signal_all(struct runner *r, int sig)
{
    struct child *c;
    int n = 0;

    for (c = r->children; c; c = c->next)
        if (!c->exited && kill(c->pid, sig) == 0)
            n++;
    return n;
}

/* Renders every string of the job template, recursively, in place on a deep copy. */
static int
render_json(json_t *v, const struct vars_ctx *ctx, const char *path, struct otsync_err *err)
{
    char sub[512];

    if (json_is_string(v)) {
        char *out = NULL;
        struct vars_error ve;
        if (vars_render(json_string_value(v), ctx, &out, &ve) < 0)
            return otsync_err_set(err, OTSYNC_ECONFIG, "job %s: %s", path, ve.msg);
        json_string_set(v, out);
        free(out);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            if (render_json(e, ctx, sub, err) < 0)
                return -OTSYNC_ECONFIG;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (render_json(e, ctx, sub, err) < 0)
                return -OTSYNC_ECONFIG;
        }
    }
    return 0;
}

char *
runner_render_job(const struct sched_instance *inst, struct otsync_err *err)
{
    struct vars_ctx ctx = {
        .cyctime = inst->cyctime,
        .names = (const char *const *)inst->param_names,
        .values = (const char *const *)inst->param_values,
        .count = inst->param_count,
    };
    json_t *job;
    char *text;

    if (!(job = json_deep_copy(inst->def->job))) {
        otsync_err_set(err, OTSYNC_ENOMEM, "out of memory copying the job");
        return NULL;
    }
    if (render_json(job, &ctx, "job", err) < 0) {
        json_decref(job);
        return NULL;
    }
    text = json_dumps(job, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(job);
    if (!text)
        otsync_err_set(err, OTSYNC_ENOMEM, "out of memory rendering the job");
    return text;
}

static void
log_line(struct child *c, const char *prefix, const char *line, size_t len)
{
    char head[64];
    struct iovec iov[3];
    ssize_t n;

    /* the journal hears the child's own lines; our markers and the stats have records */
    if (c->r->hooks.log && strcmp(prefix, "stats: ") != 0 && strncmp(line, "--- ", 4) != 0) {
        if (prefix[0]) {
            char buf[LINE_MAX_LEN + 16];
            size_t pl = strlen(prefix), take = len < LINE_MAX_LEN ? len : LINE_MAX_LEN;
            memcpy(buf, prefix, pl);
            memcpy(buf + pl, line, take);
            c->r->hooks.log(c->r->hooks.arg, c->inst, buf, pl + take);
        } else {
            c->r->hooks.log(c->r->hooks.arg, c->inst, line, len);
        }
    }
    if (c->log_fd < 0)
        return;
    snprintf(head, sizeof(head), "%s", prefix);
    iov[0].iov_base = head;
    iov[0].iov_len = strlen(head);
    iov[1].iov_base = (void *)line;
    iov[1].iov_len = len;
    iov[2].iov_base = "\n";
    iov[2].iov_len = 1;
    /* one writev per line keeps lines whole if an operator tails the file */
    n = writev(c->log_fd, iov, 3);
    (void)n;
}

static void child_maybe_done(struct child *c);

static void
on_close(uv_handle_t *h)
{
    struct child *c = h->data;

    c->closes--;
    child_maybe_done(c);
}

void
daemon_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

/* Splits data into lines; full lines go to fn. */
static void
feed_lines(struct child *c, struct linebuf *lb, const char *data, size_t len, bool is_stdout)
{
    size_t i, start = 0;

    for (i = 0; i <= len; i++) {
        bool eol = i < len && data[i] == '\n';
        bool end = i == len;
        size_t chunk = i - start;

        if (!eol && !end)
            continue;
        if (!lb->cut) {
            size_t take = chunk;
            if (lb->len + take > LINE_MAX_LEN) {
                take = LINE_MAX_LEN - lb->len;
                lb->cut = true;
            }
            if (take) {
                char *nb = realloc(lb->buf, lb->len + take + 1);
                if (nb) {
                    lb->buf = nb;
                    memcpy(lb->buf + lb->len, data + start, take);
                    lb->len += take;
                    lb->buf[lb->len] = '\0';
                }
            }
        }
        if (eol) {
            const char *line = lb->buf ? lb->buf : "";
            if (is_stdout) {
                /* the previous candidate was not the last line after all: it is log */
                if (c->last_stdout) {
                    log_line(c, "stdout: ", c->last_stdout, strlen(c->last_stdout));
                    free(c->last_stdout);
                }
                c->last_stdout = strdup(line);
            } else {
                log_line(c, "", line, lb->len);
            }
            lb->len = 0;
            lb->cut = false;
            if (lb->buf)
                lb->buf[0] = '\0';
        }
        start = i + 1;
    }
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct child *c = s->data;
    bool is_stdout = s == (uv_stream_t *)&c->out;
    struct linebuf *lb = is_stdout ? &c->outl : &c->errl;

    if (nread > 0)
        feed_lines(c, lb, buf->base, (size_t)nread, is_stdout);
    free(buf->base);
    if (nread < 0) {
        /* EOF or error: a last line without newline still counts */
        if (lb->len > 0)
            feed_lines(c, lb, "\n", 1, is_stdout);
        uv_read_stop(s);
        c->events--;
        child_maybe_done(c);
    }
}

/* SIGCHLD: signals coalesce, so every child is asked. A child's pid stays ours until this
 * waitpid reaps it, which is why kill(c->pid) elsewhere cannot hit a stranger. */
static void
on_sigchld(uv_signal_t *h, int sig)
{
    struct runner *r = h->data;
    struct child *c, *next;
    int st;

    (void)sig;
    for (c = r->children; c; c = next) {
        next = c->next;     /* child_maybe_done may unlink c */
        if (c->exited || waitpid(c->pid, &st, WNOHANG) != c->pid)
            continue;
        c->exited = true;
        c->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
        c->term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        c->events--;
        child_maybe_done(c);
    }
}

static void
on_written(uv_write_t *w, int status)
{
    struct child *c = w->data;

    /* a child that exits without reading its job makes this fail (EPIPE); its exit decides */
    free(c->job);
    c->job = NULL;
    uv_close((uv_handle_t *)&c->in, on_close);
}

/* Decides the outcome: exit status and stats line must agree. */
static enum sched_outcome
judge(struct child *c, char *reason, size_t reason_len)
{
    json_t *stats = NULL;
    const char *status = NULL, *error = NULL;
    enum sched_outcome out;

    if (c->last_stdout)
        stats = json_loads(c->last_stdout, 0, NULL);
    if (stats && json_is_object(stats)) {
        status = json_string_value(json_object_get(stats, "status"));
        error = json_string_value(json_object_get(stats, "error"));
    }
    if (c->killed) {
        snprintf(reason, reason_len, "killed by an operator");
        out = SCHED_KILL;
    } else if (c->term_signal) {
        snprintf(reason, reason_len, "otsync-run killed by signal %d", c->term_signal);
        out = SCHED_FAIL;
    } else if (c->exit_status == 0) {
        if (status && strcmp(status, "success") == 0) {
            reason[0] = '\0';
            out = SCHED_OK;
        } else {
            snprintf(reason, reason_len, "otsync-run exited 0 but its last stdout line is %s",
                     status ? "not a success summary" : "not a JSON summary");
            out = SCHED_FAIL;
        }
    } else {
        if (status && strcmp(status, "success") == 0)
            snprintf(reason, reason_len, "otsync-run exited %d but its summary says success",
                     (int)c->exit_status);
        else if (error)
            snprintf(reason, reason_len, "%s", error);
        else
            snprintf(reason, reason_len, "otsync-run exited %d", (int)c->exit_status);
        out = c->exit_status == 2 ? SCHED_FAIL_FINAL : SCHED_FAIL;
    }
    json_decref(stats);
    return out;
}

static void
child_maybe_done(struct child *c)
{
    struct runner *r = c->r;
    struct child **pp;
    char reason[1024];
    enum sched_outcome outcome;

    if (c->events == 0) {
        /* exit seen and both pipes drained: the stats line is complete; close the rest */
        c->events = -1;
        uv_close((uv_handle_t *)&c->out, on_close);
        uv_close((uv_handle_t *)&c->err, on_close);
        return;
    }
    if (c->closes > 0 || c->events > 0)
        return;
    outcome = judge(c, reason, sizeof(reason));
    if (c->log_fd >= 0) {
        char tail[1200];
        snprintf(tail, sizeof(tail), "--- attempt %d: %s%s%s", c->inst->attempts,
                 outcome == SCHED_OK ? "success" : "failed", reason[0] ? ": " : "", reason);
        log_line(c, "", tail, strlen(tail));
        if (c->last_stdout)
            log_line(c, "stats: ", c->last_stdout, strlen(c->last_stdout));
        close(c->log_fd);
    }
    for (pp = &r->children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    r->running--;
    c->inst->data = NULL;
    r->hooks.done(r->hooks.arg, c->inst, outcome, reason[0] ? reason : NULL, c->last_stdout);
    free(c->outl.buf);
    free(c->errl.buf);
    free(c->last_stdout);
    free(c);
}

static int
open_log(struct runner *r, const struct sched_instance *inst, struct otsync_err *err)
{
    char dir[4096], path[4200], ts[15];
    int fd;

    snprintf(dir, sizeof(dir), "%s/%s", r->log_dir, inst->task);
    if (mkdir(dir, 0750) < 0 && errno != EEXIST)
        return otsync_err_errno(err, errno, "%s: mkdir", dir);
    snprintf(path, sizeof(path), "%s/%s.log", dir, vars_format_cyctime(inst->cyctime, ts));
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return otsync_err_errno(err, errno, "%s: open", path);
    return fd;
}

/*
 * Spawns the runner with posix_spawn, not uv_spawn: libuv 1.44 forks, and forking a daemon
 * that holds a catalogue of 10,000 tasks copies its page tables for every child — at one
 * child per task per minute that was most of the daemon's CPU and delayed the timers.
 * glibc's posix_spawn uses a vfork-style clone whose cost does not grow with our size, and
 * reports an exec failure (a missing runner) as its return value.
 */
static int
spawn_runner(struct runner *r, char **env, int fds[3], pid_t *pid, struct otsync_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dflt;
    int p_in[2] = {-1, -1}, p_out[2] = {-1, -1}, p_err[2] = {-1, -1};
    char *args[3];
    int rc;

    if (pipe2(p_in, O_CLOEXEC) < 0 || pipe2(p_out, O_CLOEXEC) < 0 || pipe2(p_err, O_CLOEXEC) < 0) {
        rc = otsync_err_errno(err, errno, "spawn %s: pipe", r->path);
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    /* dup2 onto 0/1/2 clears close-on-exec there; the pipes' own fds are never 0-2 because
     * the daemon keeps its standard streams open (on /dev/null when detached) */
    posix_spawn_file_actions_adddup2(&fa, p_in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, p_out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p_err[1], 2);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigfillset(&dflt);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dflt);
    /* its own process group: a Ctrl-C meant for a foreground daemon must not reach the
     * children directly, or the shutdown grace period would mean nothing */
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
                                      | POSIX_SPAWN_SETPGROUP);
    args[0] = r->path;
    args[1] = "-";
    args[2] = NULL;
    rc = posix_spawn(pid, r->path, &fa, &at, args, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        rc = otsync_err_set(err, OTSYNC_ESYS, "spawn %s: %s", r->path, strerror(rc));
        goto out;
    }
    fds[0] = p_in[1];
    fds[1] = p_out[0];
    fds[2] = p_err[0];
    p_in[1] = p_out[0] = p_err[0] = -1;
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (p_in[i] >= 0)
            close(p_in[i]);
        if (p_out[i] >= 0)
            close(p_out[i]);
        if (p_err[i] >= 0)
            close(p_err[i]);
    }
    return rc;
}

int
runner_start(struct runner *r, struct sched_instance *inst, struct otsync_err *err)
{
    struct child *c;
    int rc;

    if (r->sigchld_on && !uv_is_active((uv_handle_t *)&r->sigchld)
        && (rc = uv_signal_start(&r->sigchld, on_sigchld, SIGCHLD)) < 0)
        return otsync_err_set(err, OTSYNC_ESYS, "SIGCHLD handler: %s", uv_strerror(rc));
    if (!(c = calloc(1, sizeof(*c))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    c->r = r;
    c->inst = inst;
    c->log_fd = -1;
    if (!(c->job = runner_render_job(inst, err))) {
        free(c);
        return -OTSYNC_ECONFIG;
    }
    if ((rc = open_log(r, inst, err)) < 0) {
        free(c->job);
        free(c);
        return rc;
    }
    c->log_fd = rc;
    c->next = r->pending;
    r->pending = c;
    r->running++;
    inst->data = c;
    return 0;
}

bool
runner_has_pending(const struct runner *r)
{
    return r->pending != NULL;
}

/* A queued attempt that will not run: its log says why, done hears it. */
static void
drop_pending(struct runner *r, struct child *c, enum sched_outcome outcome, const char *reason)
{
    char tail[1200];

    snprintf(tail, sizeof(tail), "--- attempt %d: %s: %s", c->inst->attempts,
             outcome == SCHED_KILL ? "killed" : "failed", reason);
    log_line(c, "", tail, strlen(tail));
    close(c->log_fd);
    free(c->job);
    r->running--;
    c->inst->data = NULL;
    r->hooks.done(r->hooks.arg, c->inst, outcome, reason, NULL);
    free(c);
}

/* "OTSYNC_CYCLE=minute/5", "...=hour/1", "...=day", "week", "month" or "cron". */
static void
cycle_env(const struct cycle *c, char *buf, size_t len)
{
    static const char *const kinds[] = {"minute", "hour", "day", "week", "month", "cron"};
    const char *kind = (unsigned)c->kind < sizeof(kinds) / sizeof(kinds[0]) ? kinds[c->kind]
                                                                            : "cron";

    if (c->kind == CYCLE_MINUTE || c->kind == CYCLE_HOUR)
        snprintf(buf, len, "OTSYNC_CYCLE=%s/%d", kind, c->interval);
    else
        snprintf(buf, len, "OTSYNC_CYCLE=%s", kind);
}

/* Spawns one prepared attempt. */
static int
spawn_one(struct runner *r, struct child *c, struct otsync_err *err)
{
    struct sched_instance *inst = c->inst;
    char ts[15], env_inst[512], env_attempt[64], env_cyc[64], env_parent[64];
    char env_dirty[4400], env_ds[4200], env_cycle[64], env_owner[4200];
    char env_now[64] = "", env_speed[64] = "";
    char **env;
    extern char **environ;
    size_t n_env = 0, i, k;
    uv_buf_t wb;
    int fds[3] = {-1, -1, -1}, rc;

    /* the child learns which attempt it is; the stream reader's failOnAttempts uses it */
    snprintf(env_inst, sizeof(env_inst), "OTSYNC_INSTANCE=%s", inst->id);
    /* sched counts the attempt before it asks us to start it */
    snprintf(env_attempt, sizeof(env_attempt), "OTSYNC_ATTEMPT=%d", inst->attempts);
    snprintf(env_cyc, sizeof(env_cyc), "OTSYNC_CYCTIME=%s", vars_format_cyctime(inst->cyctime, ts));
    /* the task's cycle, for writers that warn about a partition coarser than it (odps) */
    cycle_env(&inst->def->cycle, env_cycle, sizeof(env_cycle));
    /* which daemon's child this is: a restarted daemon finds leftovers by it */
    snprintf(env_owner, sizeof(env_owner), "%s%s", OWNER_ENV, r->log_dir);
    /* otsync-run dies with us (PR_SET_PDEATHSIG) and checks it was not orphaned already */
    snprintf(env_parent, sizeof(env_parent), "OTSYNC_PARENT_PID=%d", (int)getpid());
    /* the job's connections, and its dirty records next to its log */
    snprintf(env_ds, sizeof(env_ds), "OTSYNC_DATASOURCES=%s", r->datasources);
    snprintf(env_dirty, sizeof(env_dirty), "OTSYNC_DIRTY_FILE=%s/%s/%s.dirty.jsonl", r->log_dir,
             inst->task, vars_format_cyctime(inst->cyctime, ts));
    while (environ[n_env])
        n_env++;
    if (r->clock && r->clock->simulated) {
        snprintf(env_now, sizeof(env_now), "OTSYNC_NOW=%.3f", dclock_now(r->clock));
        snprintf(env_speed, sizeof(env_speed), "OTSYNC_CLOCK_SPEED=%g", r->clock->speed);
    }
    if (!(env = calloc(n_env + 11, sizeof(*env))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    for (i = 0, k = 0; i < n_env; i++)
        if (strncmp(environ[i], "OTSYNC_", 7) != 0)
            env[k++] = environ[i];
    env[k++] = env_inst;
    env[k++] = env_attempt;
    env[k++] = env_cyc;
    env[k++] = env_parent;
    env[k++] = env_ds;
    env[k++] = env_dirty;
    env[k++] = env_cycle;
    env[k++] = env_owner;
    if (env_now[0]) {
        env[k++] = env_now;
        env[k++] = env_speed;
    }
    env[k] = NULL;
    rc = spawn_runner(r, env, fds, &c->pid, err);
    free(env);
    if (rc < 0)
        return rc;
    uv_pipe_init(r->loop, &c->in, 0);
    uv_pipe_init(r->loop, &c->out, 0);
    uv_pipe_init(r->loop, &c->err, 0);
    c->in.data = c->out.data = c->err.data = c;
    /* uv_pipe_open makes the fds non-blocking; it fails only on a bad fd */
    (void)uv_pipe_open(&c->in, fds[0]);
    (void)uv_pipe_open(&c->out, fds[1]);
    (void)uv_pipe_open(&c->err, fds[2]);
    {
        char head[256];
        snprintf(head, sizeof(head), "--- attempt %d started, pid %d", inst->attempts,
                 (int)c->pid);
        log_line(c, "", head, strlen(head));
    }
    c->events = 3;
    c->closes = 3;
    uv_read_start((uv_stream_t *)&c->out, daemon_on_alloc, on_read);
    uv_read_start((uv_stream_t *)&c->err, daemon_on_alloc, on_read);
    wb = uv_buf_init(c->job, (unsigned)strlen(c->job));
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->in, &wb, 1, on_written) < 0) {
        free(c->job);
        c->job = NULL;
        uv_close((uv_handle_t *)&c->in, on_close);
    }
    c->next = r->children;
    r->children = c;
    if (r->hooks.spawned)
        r->hooks.spawned(r->hooks.arg, inst, (int)c->pid);
    return 0;
}

size_t
runner_spawn_pending(struct runner *r)
{
    struct child *c, *list = NULL, *next;
    struct otsync_err err;
    size_t n = 0;

    /* oldest first: the queue was built by pushing */
    while ((c = r->pending)) {
        r->pending = c->next;
        c->next = list;
        list = c;
    }
    for (c = list; c; c = next) {
        next = c->next;
        otsync_err_clear(&err);
        if (spawn_one(r, c, &err) < 0)
            drop_pending(r, c, SCHED_FAIL, err.msg);
        n++;
    }
    return n;
}

int
runner_kill(struct runner *r, struct sched_instance *inst)
{
    struct child *c, **pp;

    for (pp = &r->pending; (c = *pp); pp = &c->next)
        if (c->inst == inst) {
            *pp = c->next;
            drop_pending(r, c, SCHED_KILL, "killed by an operator before it started");
            return 0;
        }
    for (c = r->children; c; c = c->next)
        if (c->inst == inst && !c->exited) {
            c->killed = true;
            kill(c->pid, SIGTERM);
            return 0;
        }
    return -OTSYNC_ENOENT;
}
