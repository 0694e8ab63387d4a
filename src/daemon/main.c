/*
 * main.c - otsyncd: options, configuration, the loop, signals and the glue between the
 * scheduler (src/core/sched.c) and the runner (runner.c).
 *
 * Owns: process lifecycle (check mode, daemonizing, shutdown with a grace period, SIGHUP
 * reload of the catalogue) and the log lines that tell an operator what each instance did.
 * Leaves to others: when instances exist and run (sched), how a child is run (runner).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "otsync/build.h"
#include "otsync/catalog.h"
#include "otsync/diag.h"
#include "otsync/journal.h"
#include "otsync/state.h"
#include "otsync/datasource.h"
#include "otsync/log.h"
#include "otsync/redact.h"
#include "otsync/sched.h"
#include "otsync/vars.h"
#include "daemon.h"


time_t
now_s(const struct daemon *d)
{
    return (time_t)floor(dclock_now(&d->clock));
}

/* " [clock 2018-10-16T00:05:00]" on a simulated clock, so logs read in simulated time. `at`
 * is the time the scheduler acted on (0: now); stamping with it rather than a fresh reading
 * keeps "failed at T, retry at T+interval" consistent even when a second ticks over between
 * the decision and the log line. */
const char *
clock_note(const struct daemon *d, time_t at, char buf[static 48])
{
    char t[32];

    buf[0] = '\0';
    if (!d->clock.simulated)
        return buf;
    snprintf(buf, 48, " [clock %s]",
             dclock_format(at ? (double)at : dclock_now(&d->clock), t));
    return buf;
}

static void on_timer(uv_timer_t *t);

void
daemon_rearm(struct daemon *d, time_t next)
{
    if (d->stopping || next == (time_t)-1) {
        uv_timer_stop(&d->timer);
        return;
    }
    uv_timer_start(&d->timer, on_timer, dclock_delay_ms(&d->clock, next), 0);
}

static void
on_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;

    time_t next = sched_step(d->sched, now_s(d));
    char note[48];

    if (d->due_n) {
        /* one line per batch: its worst lateness bounds every instance of it */
        log_info("%zu instance%s due at %s runnable %.1f ms after their time%s", d->due_n,
                 d->due_n == 1 ? "" : "s", d->due_at, d->due_late_max, clock_note(d, 0, note));
        d->due_n = 0;
        d->due_late_max = 0;
    }
    daemon_rearm(d, next);
}

static int
hook_start(void *arg, struct sched_instance *inst, struct otsync_err *err)
{
    struct daemon *d = arg;

    return runner_start(d->runner, inst, err);
}

static void
hook_changed(void *arg, const struct sched_instance *inst, enum sched_event ev)
{
    struct daemon *d = arg;
    char note[48], when[32], params[1024];
    size_t i, n = 0;

    persist_changed(d, inst, ev);
    /* DUE comes ten thousand at a time at a minute boundary: it logs nothing, so it skips
     * the cost of formatting the clock */
    if (ev == SCHED_EV_DUE) {
        double late_ms = (dclock_now(&d->clock) - (double)inst->cyctime) / d->clock.speed * 1000.0;
        if (late_ms > d->due_late_max || d->due_n == 0)
            d->due_late_max = late_ms;
        if (d->due_n++ == 0)
            dclock_format((double)inst->cyctime, d->due_at);
        return;
    }
    clock_note(d, ev != SCHED_EV_STATE ? 0
                  : inst->state == SCHED_RUNNING ? inst->started_at
                  : inst->state == SCHED_RETRY_WAIT || inst->state == SCHED_SUCCESS
                        || inst->state == SCHED_FAILED ? inst->ended_at : 0, note);
    switch (ev) {
    case SCHED_EV_CREATED: {
        double late_ms = (dclock_now(&d->clock) - (double)inst->cyctime) / d->clock.speed * 1000.0;
        params[0] = '\0';
        for (i = 0; i < inst->param_count && n < sizeof(params) - 1; i++)
            n += (size_t)snprintf(params + n, sizeof(params) - n, "%s%s=%s", i ? ", " : "; ",
                                  inst->param_names[i],
                                  redact_name(inst->param_names[i]) ? REDACTED
                                                                    : inst->param_values[i]);
        if (n >= sizeof(params))
            n = sizeof(params) - 1;
        log_info("instance %s: created %.1f ms %s its scheduled time%s%s%s", inst->id,
                 fabs(late_ms), late_ms < 0 ? "before" : "after", inst->state == SCHED_SKIPPED ? " as skipped (task paused)" : "",
                 params, note);
        if (inst->wait == SCHED_WAIT_PREVIOUS)
            log_info("instance %s: waiting for the previous cycle %s to succeed%s", inst->id,
                     inst->blocked_by ? inst->blocked_by : "?", note);
        else if (inst->wait == SCHED_WAIT_UPSTREAM)
            log_info("instance %s: waiting for upstream %s to succeed%s", inst->id,
                     inst->blocked_by ? inst->blocked_by : "?", note);
        else if (inst->state == SCHED_FAILED)
            log_error("instance %s: failed: %s%s", inst->id,
                      inst->reason ? inst->reason : "unknown reason", note);
        break;
    }
    case SCHED_EV_STATE:
        if (d->backfills && inst->state != SCHED_RUNNING && inst->state != SCHED_WAITING)
            d->backfill_due = true;     /* looked at in on_prepare: no calls into sched here */
        switch (inst->state) {
        case SCHED_RUNNING:
            log_info("instance %s: attempt %d started%s", inst->id, inst->attempts, note);
            break;
        case SCHED_RETRY_WAIT:
            dclock_format((double)inst->next_try_at, when);
            log_warn("instance %s: attempt %d failed: %s; retry %d/%d at %s%s", inst->id,
                     inst->attempts, inst->reason ? inst->reason : "unknown reason",
                     inst->attempts, inst->def->retries, when, note);
            break;
        case SCHED_SUCCESS:
            log_info("instance %s: success after %d attempt%s%s", inst->id, inst->attempts,
                     inst->attempts == 1 ? "" : "s", note);
            break;
        case SCHED_FAILED:
            log_error("instance %s: failed for good after %d attempt%s: %s%s", inst->id,
                      inst->attempts, inst->attempts == 1 ? "" : "s",
                      inst->reason ? inst->reason : "unknown reason", note);
            break;
        case SCHED_KILLED:
            log_warn("instance %s: killed%s", inst->id, note);
            break;
        case SCHED_WAITING:
            if (inst->wait == SCHED_WAIT_PREVIOUS)
                log_info("instance %s: waiting for the previous cycle %s to succeed%s", inst->id,
                         inst->blocked_by ? inst->blocked_by : "?", note);
            else if (inst->wait == SCHED_WAIT_SLOT)
                log_debug("instance %s: waiting for a run slot (max_running %d)%s", inst->id,
                          d->conf.max_running, note);
            else if (inst->wait == SCHED_WAIT_UPSTREAM)
                /* a daily instance after a five-minute task says this 288 times a day */
                log_debug("instance %s: waiting for upstream %s to succeed%s", inst->id,
                          inst->blocked_by ? inst->blocked_by : "?", note);
            break;
        case SCHED_SKIPPED:
            log_info("instance %s: skipped%s", inst->id, note);
            break;
        }
        break;
    case SCHED_EV_DUE:      /* handled above */
    case SCHED_EV_FREED:
        break;
    }
}

/* The journal's state of an instance the scheduler freed: what its dependents go by. */
static int
hook_lookup(void *arg, const char *id)
{
    struct daemon *d = arg;
    const struct hinst *h = state_get(d->state, id);

    return h ? (int)h->state : -1;
}

static void
on_child_done(void *arg, struct sched_instance *inst, enum sched_outcome outcome,
              const char *reason, const char *stats)
{
    struct daemon *d = arg;
    time_t next;

    persist_stats(d, inst, stats);
    if (d->stopping && outcome != SCHED_OK) {
        /* we stopped it: not the job's failure. The next start runs it again. */
        char why[160];
        snprintf(why, sizeof(why), "interrupted: otsyncd stopped during attempt %d",
                 inst->attempts);
        persist_event(d, json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "t", "state", "id",
                                   inst->id, "state", "waiting", "attempt", inst->attempts,
                                   "base", inst->rerun_base + 1, "reason", why), true);
        log_warn("instance %s: %s", inst->id, why);
        next = (time_t)-1;
    } else {
        next = sched_finished(d->sched, inst, outcome, reason, now_s(d));
    }
    if (d->stopping) {
        if (runner_running(d->runner) == 0) {
            log_notice("all children ended; exiting");
            uv_stop(d->loop);
        }
        return;
    }
    daemon_rearm(d, next);
}

int
daemon_reload(struct daemon *d, json_t **ret_errors)
{
    struct diag dg;
    struct catalog *cat = NULL;
    json_t *errors = json_array();
    size_t i;
    int rc = 0;

    diag_init(&dg);
    notify_reloading();
    log_notice("reloading the catalogue %s", d->conf.catalogue);
    if (catalog_load(d->conf.catalogue, NULL, &dg, &cat) < 0) {
        for (i = 0; i < dg.count; i++) {
            log_error("%s", dg.v[i].text);
            json_array_append_new(errors, json_string(dg.v[i].text));
        }
        log_error("reload failed: %zu error%s; keeping the current catalogue", dg.errors,
                  dg.errors == 1 ? "" : "s");
        persist_event(d, json_pack("{s:s, s:b, s:O}", "t", "reload", "ok", 0, "errors",
                                   errors), true);
        rc = -OTSYNC_ECONFIG;
    } else {
        for (i = 0; i < dg.count; i++)
            log_warn("%s", dg.v[i].text);
        /* instances already made keep the definition they were made under */
        sched_set_catalog(d->sched, cat, now_s(d));
        catalog_unref(d->cat);
        d->cat = cat;
        log_notice("catalogue reloaded: %zu task%s", cat->task_count,
                   cat->task_count == 1 ? "" : "s");
        persist_event(d, json_pack("{s:s, s:b, s:I}", "t", "reload", "ok", 1, "tasks",
                                   (json_int_t)cat->task_count), true);
        daemon_rearm(d, sched_step(d->sched, now_s(d)));
    }
    diag_fini(&dg);
    /* the YAML documents were freed in pieces; give their pages back to the system */
    malloc_trim(0);
    notify_send("READY=1");
    if (ret_errors)
        *ret_errors = errors;
    else
        json_decref(errors);
    return rc;
}

static void
on_grace(uv_timer_t *t)
{
    struct daemon *d = t->data;

    if (d->kill_stage == 0) {
        log_warn("shutdown grace period over; sending SIGTERM to %d running instance%s",
                 runner_running(d->runner), runner_running(d->runner) == 1 ? "" : "s");
        runner_signal_all(d->runner, SIGTERM);
        d->kill_stage = 1;
        uv_timer_start(&d->grace, on_grace, KILL_AFTER_TERM_MS, 0);
    } else {
        log_warn("sending SIGKILL to %d instance%s still running", runner_running(d->runner),
                 runner_running(d->runner) == 1 ? "" : "s");
        runner_signal_all(d->runner, SIGKILL);
    }
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;

    if (signum == SIGHUP) {
        if (!d->stopping && daemon_reload(d, NULL) < 0) {
            /* logged, journalled, shown by otsyncctl status */
        }
        return;
    }
    if (d->stopping) {
        log_notice("second stop signal: stopping children now");
        runner_signal_all(d->runner, SIGTERM);
        return;
    }
    d->stopping = true;
    notify_send("STOPPING=1");
    uv_timer_stop(&d->timer);
    /* nothing new starts: a zero bound keeps queued instances queued */
    sched_set_max_running(d->sched, 0);
    if (runner_running(d->runner) == 0) {
        log_notice("%s: exiting", strsignal(signum));
        uv_stop(d->loop);
        return;
    }
    log_notice("%s: starting nothing new; waiting up to %d s for %d running instance%s",
               strsignal(signum), d->conf.shutdown_grace_s, runner_running(d->runner),
               runner_running(d->runner) == 1 ? "" : "s");
    uv_timer_start(&d->grace, on_grace, (uint64_t)d->conf.shutdown_grace_s * 1000, 0);
}

static void
on_watchdog(uv_timer_t *t)
{
    notify_send("WATCHDOG=1");
}

static void
on_prepare(uv_prepare_t *h)
{
    struct daemon *d = h->data;

    if (d->backfill_due) {
        d->backfill_due = false;
        backfill_progress(d);
    }
    persist_flush(d);
    log_flush();
}

/* Every minute: compaction once a day, or sooner when the journal grew past 256 MiB or
 * memory holds a quarter more instances than history_memory. */
static void
on_compact(uv_timer_t *t)
{
    struct daemon *d = t->data;
    struct otsync_err err;

    if (now_s(d) - d->compacted_at < 86400 && journal_size(d->journal) < (256u << 20)
        && state_count(d->state) <= d->conf.history_memory + d->conf.history_memory / 4)
        return;
    if (persist_compact(d, &err) < 0)
        log_error("journal compaction: %s", err.msg);
}

static void
on_journal_warn(void *arg, const char *text)
{
    (void)arg;
    log_warn("%s", text);
}

static void
hook_spawned(void *arg, struct sched_instance *inst, int pid)
{
    persist_spawned(arg, inst, pid);
}

static void
hook_log(void *arg, const struct sched_instance *inst, const char *line, size_t len)
{
    persist_log(arg, inst, line, len);
}

static void
close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int
mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    char *p;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -1;
    for (p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: otsyncd [-c FILE] [-t] [--foreground] [--clock START[,xSPEED]] [--salvage]\n"
            "  -c, --config FILE   daemon configuration (default %s/otsyncd.yaml)\n"
            "  -t, --test          check the configuration and catalogue, print every error,\n"
            "                      exit 0 when clean, 1 on errors\n"
            "  -f, --foreground    stay in the foreground, log to stderr\n"
            "      --clock SPEC    simulated clock for tests and demos, e.g.\n"
            "                      2018-10-16T00:00:00,x120 (120 times real speed)\n"
            "      --salvage       start even when the journal is corrupt in the middle,\n"
            "                      skipping the bad records (each skip is logged)\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n",
            OTSYNC_SYSCONFDIR);
}

static int
daemonize(const char *log_path)
{
    pid_t pid = fork();
    int fd;

    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
        dup2(fd, 0);
        close(fd);
    }
    if ((fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0)
        return -1;
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
        {"foreground", no_argument, NULL, 'f'},   {"clock", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {"salvage", no_argument, NULL, 'S'},      {NULL, 0, NULL, 0},
    };
    const char *config = OTSYNC_SYSCONFDIR "/otsyncd.yaml", *clock_spec = NULL;
    bool check = false, foreground = false, salvage = false;
    struct daemon d;
    struct diag dg;
    struct otsync_err err;
    struct sched_hooks hooks;
    char log_dir[PATH_MAX + 8];
    int opt, rc;

    memset(&d, 0, sizeof(d));
    log_init("otsyncd");
    while ((opt = getopt_long(argc, argv, "c:tfhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 't': check = true; break;
        case 'f': foreground = true; break;
        case 'C': clock_spec = optarg; break;
        case 'S': salvage = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("otsyncd %s\n", OTSYNC_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "otsyncd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    diag_init(&dg);
    rc = daemon_config_load(config, &dg, &d.conf);
    if (rc == 0) {
        if (d.conf.timezone) {
            setenv("TZ", d.conf.timezone, 1);
        }
        tzset();
        rc = catalog_load(d.conf.catalogue, NULL, &dg, &d.cat);
    }
    if (rc == 0) {
        /* children read the datasources file afresh; checking it here catches a typo at
         * start-up and at -t instead of at the first instance's run */
        struct datasources *ds = NULL;
        int drc = datasources_load(d.conf.datasources, &ds, &dg);

        datasources_free(ds);
        if (drc < 0 && drc != -OTSYNC_ENOENT) {
            catalog_unref(d.cat);
            d.cat = NULL;
            rc = drc;
        }
    }
    diag_print(&dg, stderr);
    malloc_trim(0);     /* as after a reload */
    if (rc < 0) {
        diag_verdict(&dg, stderr, "otsyncd", "configuration");
        diag_fini(&dg);
        daemon_config_fini(&d.conf);
        return 1;
    }
    if (check) {
        printf("otsyncd: configuration OK: %zu task%s in %zu file%s\n", d.cat->task_count,
               d.cat->task_count == 1 ? "" : "s", d.cat->file_count,
               d.cat->file_count == 1 ? "" : "s");
        diag_fini(&dg);
        catalog_unref(d.cat);
        daemon_config_fini(&d.conf);
        return 0;
    }
    diag_fini(&dg);
    otsync_log_level = d.conf.log_level;

    dclock_real(&d.clock);
    if (clock_spec && dclock_parse(clock_spec, &d.clock, &err) < 0) {
        fprintf(stderr, "otsyncd: %s\n", err.msg);
        rc = 2;
        goto early_exit;
    }
    snprintf(log_dir, sizeof(log_dir), "%s/logs", d.conf.state_dir);
    if (mkdir_p(d.conf.state_dir, 0750) < 0 || mkdir_p(log_dir, 0750) < 0) {
        fprintf(stderr, "otsyncd: %s: cannot create the state directory: %s\n", log_dir,
                strerror(errno));
        rc = 1;
        goto early_exit;
    }
    if (!foreground) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof(path), "%s/otsyncd.log", d.conf.state_dir);
        if (daemonize(path) < 0) {
            fprintf(stderr, "otsyncd: cannot daemonize: %s\n", strerror(errno));
            return 1;
        }
        log_init("otsyncd");
    }
    if (!d.conf.runner)
        d.conf.runner = daemon_config_default_runner();
    /* a child that dies with our pipe open must not kill us with SIGPIPE */
    signal(SIGPIPE, SIG_IGN);

    d.loop = uv_default_loop();
    {
        struct runner_hooks rh = {on_child_done, hook_spawned, hook_log, &d};
        d.runner = runner_new(d.loop, d.conf.runner, log_dir, d.conf.datasources, &rh);
        if (d.runner)
            runner_set_clock(d.runner, &d.clock);
    }
    hooks.start = hook_start;
    hooks.changed = hook_changed;
    hooks.arg = &d;
    hooks.lookup = hook_lookup;
    d.sched = sched_new(d.conf.max_running, &hooks);
    if (!d.runner || !d.sched) {
        fprintf(stderr, "otsyncd: out of memory\n");
        return 1;
    }
    sched_set_lead(d.sched, CREATE_AHEAD_S);
    uv_timer_init(d.loop, &d.timer);
    uv_timer_init(d.loop, &d.grace);
    d.timer.data = d.grace.data = &d;
    uv_prepare_init(d.loop, &d.flush);
    d.flush.data = &d;
    uv_prepare_start(&d.flush, on_prepare);
    uv_unref((uv_handle_t *)&d.flush);
    log_set_buffered(1);
    uv_signal_init(d.loop, &d.sighup);
    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    d.sighup.data = d.sigterm.data = d.sigint.data = &d;
    uv_signal_start(&d.sighup, on_signal, SIGHUP);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);

    {
        char note[48], jdir[PATH_MAX + 16];
        struct journal_opts jo = {.salvage = salvage, STATE_JOURNAL_OPTS,
                                 .warn = on_journal_warn, .arg = &d};
        uint64_t t0 = uv_hrtime();
        snprintf(jdir, sizeof(jdir), "%s/journal", d.conf.state_dir);
        if (!(d.state = state_new())) {
            log_error("out of memory");
            return 1;
        }
        jo.arg = d.state;
        if (journal_open(jdir, &jo, state_apply, &d.journal, &err) < 0) {
            log_error("%s", err.msg);
            log_flush();
            return 1;
        }
        log_notice("journal %s replayed: %" PRIu64 " records in %.0f ms", jdir,
                   state_records(d.state), (double)(uv_hrtime() - t0) / 1e6);
        d.started_at = now_s(&d);
        d.compacted_at = d.started_at;
        d.last_alive = state_last_at(d.state);     /* before this start's own records */
        log_notice("otsyncd %s started: %zu task%s, max_running %d, runner %s, state %s%s",
                   OTSYNC_VERSION, d.cat->task_count, d.cat->task_count == 1 ? "" : "s",
                   d.conf.max_running, d.conf.runner, d.conf.state_dir, clock_note(&d, 0, note));
        persist_event(&d, json_pack("{s:s, s:i, s:s, s:I, s:I}", "t", "start", "pid",
                                    (int)getpid(), "version", OTSYNC_VERSION, "tasks",
                                    (json_int_t)d.cat->task_count, "at",
                                    (json_int_t)d.started_at), true);
    }
    if (ctl_start(&d, &err) < 0) {
        log_error("%s", err.msg);
        log_flush();
        return 1;
    }
    sched_set_catalog(d.sched, d.cat, now_s(&d));
    {
        size_t left = runner_kill_leftovers(log_dir);

        if (left)
            log_warn("%zu child%s of the previous daemon were still running: killed before "
                     "anything runs again", left, left == 1 ? "" : "ren");
    }
    if (persist_restore(&d, &err) < 0) {
        log_error("%s", err.msg);
        log_flush();
        return 1;
    }
    if ((journal_segments(d.journal) > 1 || state_count(d.state) > d.conf.history_memory)
        && persist_compact(&d, &err) < 0)
        log_error("journal compaction: %s", err.msg);
    uv_timer_init(d.loop, &d.compact);
    d.compact.data = &d;
    uv_timer_start(&d.compact, on_compact, 60 * 1000, 60 * 1000);
    uv_unref((uv_handle_t *)&d.compact);
    daemon_rearm(&d, sched_step(d.sched, now_s(&d)));
    {
        uint64_t wd = notify_watchdog_usec();
        uv_timer_init(d.loop, &d.watchdog);
        if (wd) {
            uv_timer_start(&d.watchdog, on_watchdog, wd / 2000, wd / 2000);
            uv_unref((uv_handle_t *)&d.watchdog);
        }
    }
    notify_send("READY=1");
    uv_run(d.loop, UV_RUN_DEFAULT);

    /* shutdown: close every handle, let their callbacks run, then the loop must be empty */
    persist_event(&d, json_pack("{s:s}", "t", "stop"), true);
    persist_flush(&d);
    ctl_stop(&d);
    uv_walk(d.loop, close_walk, NULL);
    uv_run(d.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(d.loop);
    if (rc != 0)
        log_warn("loop did not close cleanly: %s", uv_strerror(rc));
    backfill_free_all(&d);
    sched_free(d.sched);
    catalog_unref(d.cat);
    runner_free(d.runner);
    journal_close(d.journal);
    state_free(d.state);
    ctl_free(&d);
    daemon_config_fini(&d.conf);
    log_notice("stopped");
    log_flush();
    return 0;
early_exit:
    catalog_unref(d.cat);
    daemon_config_fini(&d.conf);
    return rc;
}
