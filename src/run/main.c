/*
 * main.c - otsync-run: runs one DataX/DataWorks job to completion, by hand or as otsyncd's
 * child, and ends with one JSON summary line on stdout.
 *
 * Owns: options and variables given on the command line, the engine (a reader's batches
 * through one bounded queue into a writer, slices run one after another), the errorLimit and
 * mbps checks, statistics, the summary line and the exit status (0 success, 1 the job failed,
 * 2 the job is misconfigured). Leaves to others: the job's forms and checks (job.c), batches
 * (record.c), plugins (src/plugins/ through registry.c), rendering (core vars).
 *
 * The engine runs several channels' slices one after another on the one loop; running them
 * side by side is for the full engine, which keeps this queue and its backpressure per channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <uv.h>
#include "otsync/build.h"
#include "otsync/diag.h"
#include "otsync/err.h"
#include "otsync/log.h"
#include "otsync/vars.h"
#include "job.h"
#include "plugin.h"
#include "record.h"


#define EXIT_JOB_OK 0
#define EXIT_JOB_FAILED 1
#define EXIT_JOB_CONFIG 2

#define QUEUE_BATCHES 8         /* the reader pauses when this many batches wait ... */
#define RESUME_BATCHES 4        /* ... and resumes when fewer than this many do */
#define MIB (1024.0 * 1024.0)

struct options {
    const char *job;            /* path, or "-" for stdin */
    const char **names;         /* -p NAME=VALUE, split; values are rendered in place */
    char **values;
    size_t count;
    const char *cyctime;        /* --cyctime as given */
    bool render;                /* -p or --cyctime given: render the job's strings */
};

struct engine {
    uv_loop_t *loop;
    const struct job_plan *plan;
    struct otsync_reader reader;
    struct otsync_writer writer;
    uv_timer_t throttle;        /* mbps: holds the next write back until it is due */
    unsigned slices, next_slice;
    bool reading;               /* a slice is running: its end() is still to come */
    bool paused;
    bool finishing, finished;   /* the writer's finish() is running / has succeeded */
    bool stopped;
    struct otsync_batch *head, *tail;   /* the queue */
    size_t queued;
    struct otsync_batch *writing;       /* in the writer, until its done() */
    uint64_t start_ns;
    uint64_t records_read, records_written, records_dirty, bytes_read, bytes_sent;
    int rc;                     /* the first failure, 0 while none */
    struct otsync_err err;
};

static void step(struct engine *e);

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: otsync-run [options] [JOB.json|-]\n"
            "Runs one DataX/DataWorks job (read from JOB.json, or standard input) and prints a\n"
            "JSON summary as the last line of standard output.\n"
            "\n"
            "  -p, --param NAME=VALUE    a custom parameter for ${NAME} (repeatable)\n"
            "  -c, --cyctime TIME        the scheduled time, yyyymmddhh24miss (default: now)\n"
            "  -h, --help                this help\n"
            "  -V, --version             the version\n"
            "\n"
            "With -p or --cyctime the job's strings are rendered with the scheduler's variables\n"
            "(${bdp.system.bizdate}, $[yyyymmddhh24miss-5/24/60], ${NAME}...); without them the\n"
            "job is used as it is.\n"
            "Exit status: 0 success, 1 the job failed, 2 bad configuration.\n");
}

/* Prints the summary line, last on stdout, and returns the exit code. */
static int
summary(int exit_code, const struct engine *e, uint64_t start_ns, const char *error)
{
    uint64_t elapsed_ms = (uv_hrtime() - start_ns) / 1000000;
    json_t *o = json_object();
    char *line = NULL;

    if (o) {
        json_object_set_new(o, "status", json_string(exit_code == EXIT_JOB_OK ? "success"
                                                                              : "failed"));
        json_object_set_new(o, "exit_code", json_integer(exit_code));
        json_object_set_new(o, "records_read", json_integer(e ? (json_int_t)e->records_read : 0));
        json_object_set_new(o, "records_written",
                            json_integer(e ? (json_int_t)e->records_written : 0));
        json_object_set_new(o, "records_dirty",
                            json_integer(e ? (json_int_t)e->records_dirty : 0));
        json_object_set_new(o, "bytes", json_integer(e ? (json_int_t)e->bytes_read : 0));
        json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)elapsed_ms));
        if (exit_code != EXIT_JOB_OK)
            json_object_set_new(o, "error", json_string(error && *error ? error : "unknown error"));
        line = json_dumps(o, JSON_COMPACT);
        json_decref(o);
    }
    if (line)
        printf("%s\n", line);
    else    /* out of memory: still one line the daemon can read */
        printf("{\"status\":\"failed\",\"exit_code\":%d,\"error\":\"out of memory\"}\n", exit_code);
    free(line);
    fflush(stdout);
    return exit_code;
}

/* --- the engine --- */

static void
fail(struct engine *e, int rc, const struct otsync_err *err)
{
    if (e->rc < 0)
        return;     /* the first failure is the one to report; cancels follow from it */
    e->rc = rc < 0 ? rc : -OTSYNC_EINVAL;
    if (err && err->msg[0])
        memcpy(&e->err, err, sizeof(e->err));
    else
        otsync_err_set(&e->err, -e->rc, "%s", otsync_strerror(e->rc));
    if (e->reading)
        e->reader.ops->cancel(&e->reader);
    if (e->writing || e->finishing)
        e->writer.ops->cancel(&e->writer);
}

static void
queue_free(struct engine *e)
{
    struct otsync_batch *b, *next;

    for (b = e->head; b; b = next) {
        next = b->next;
        otsync_batch_free(b);
    }
    e->head = e->tail = NULL;
    e->queued = 0;
}

static void
stop(struct engine *e)
{
    if (e->stopped)
        return;
    e->stopped = true;
    queue_free(e);
    e->reader.ops->close(&e->reader);
    e->writer.ops->close(&e->writer);
    uv_close((uv_handle_t *)&e->throttle, NULL);
}

static void
on_emit(void *arg, struct otsync_batch *b)
{
    struct engine *e = arg;

    e->records_read += b->count;
    e->bytes_read += b->bytes;
    if (e->rc < 0) {
        otsync_batch_free(b);   /* the job has failed: nothing more reaches the writer */
        return;
    }
    b->next = NULL;
    if (e->tail)
        e->tail->next = b;
    else
        e->head = b;
    e->tail = b;
    if (++e->queued >= QUEUE_BATCHES && !e->paused) {
        e->paused = true;
        e->reader.ops->pause(&e->reader);
    }
    step(e);
}

static void
on_slice_end(void *arg, int rc, const struct otsync_err *err)
{
    struct engine *e = arg;

    e->reading = false;
    if (rc < 0)
        fail(e, rc, err);
    else
        log_debug("slice %u of %u read", e->next_slice, e->slices);
    step(e);
}

/* setting.errorLimit: fills err when the dirty records are more than the job allows. */
static int
check_error_limit(const struct engine *e, struct otsync_err *err)
{
    const struct job_plan *p = e->plan;

    if (p->error_record >= 0 && e->records_dirty > (uint64_t)p->error_record)
        return otsync_err_set(err, OTSYNC_EINVAL, "%" PRIu64 " dirty records, more than "
                              "setting.errorLimit.record allows (%" PRId64 ")", e->records_dirty,
                              p->error_record);
    if (p->error_percentage >= 0 && e->records_read
        && (double)e->records_dirty / (double)e->records_read > p->error_percentage)
        return otsync_err_set(err, OTSYNC_EINVAL, "%" PRIu64 " dirty of %" PRIu64 " records read, "
                              "more than setting.errorLimit.percentage allows (%g)",
                              e->records_dirty, e->records_read, p->error_percentage);
    return 0;
}

static void
on_written(void *arg, int rc, size_t dirty_count, const struct otsync_err *err)
{
    struct engine *e = arg;
    struct otsync_batch *b = e->writing;
    struct otsync_err lerr;

    e->writing = NULL;
    if (dirty_count > b->count)
        dirty_count = b->count;
    if (rc == 0) {
        e->records_written += b->count - dirty_count;
        e->records_dirty += dirty_count;
    }
    otsync_batch_free(b);
    otsync_err_clear(&lerr);
    if (rc < 0)
        fail(e, rc, err);
    else if (check_error_limit(e, &lerr) < 0)
        fail(e, -lerr.code, &lerr);
    if (e->paused && e->queued < RESUME_BATCHES && e->rc == 0) {
        e->paused = false;
        e->reader.ops->resume(&e->reader);
    }
    step(e);
}

static void
on_finished(void *arg, int rc, size_t dirty_count, const struct otsync_err *err)
{
    struct engine *e = arg;

    e->finishing = false;
    if (rc < 0)
        fail(e, rc, err);
    else
        e->finished = true;
    step(e);
}

static void
on_throttle(uv_timer_t *t)
{
    step(t->data);
}

/* mbps: milliseconds until the bytes already sent are within the rate; 0 when due now. */
static uint64_t
throttle_wait_ms(const struct engine *e)
{
    double due_ms, elapsed_ms;

    if (e->plan->mbps <= 0)
        return 0;
    due_ms = (double)e->bytes_sent / (e->plan->mbps * MIB) * 1000.0;
    elapsed_ms = (double)(uv_hrtime() - e->start_ns) / 1e6;
    /* rounded up, so the timer never fires just before the bytes are due */
    return due_ms > elapsed_ms ? (uint64_t)(due_ms - elapsed_ms) + 1 : 0;
}

/*
 * Moves the job on by one decision. Called after every event; each branch either waits for
 * a callback that calls step() again or ends the job.
 */
static void
step(struct engine *e)
{
    struct otsync_batch *b;
    struct otsync_err err;
    uint64_t wait_ms;
    int rc;

    if (e->stopped || e->writing || e->finishing || uv_is_active((uv_handle_t *)&e->throttle))
        return;
    if (e->rc < 0) {
        if (!e->reading)
            stop(e);
        return;
    }
    otsync_err_clear(&err);
    if (e->head) {
        if ((wait_ms = throttle_wait_ms(e)) > 0) {
            uv_timer_start(&e->throttle, on_throttle, wait_ms, 0);
            return;
        }
        b = e->head;
        if (!(e->head = b->next))
            e->tail = NULL;
        e->queued--;
        e->writing = b;
        e->bytes_sent += b->bytes;
        if ((rc = e->writer.ops->write(&e->writer, b, on_written, e, &err)) < 0) {
            e->writing = NULL;
            otsync_batch_free(b);
            fail(e, rc, &err);
            step(e);
        }
        return;
    }
    if (e->reading)
        return;
    if (e->next_slice < e->slices) {
        rc = e->reader.ops->start(&e->reader, e->next_slice, on_emit, on_slice_end, e, &err);
        e->next_slice++;
        if (rc < 0) {
            fail(e, rc, &err);
            step(e);
            return;
        }
        e->reading = true;
        if (e->paused) {
            e->paused = false;
            e->reader.ops->resume(&e->reader);
        }
        return;
    }
    if (!e->finished) {
        if ((rc = e->writer.ops->finish(&e->writer, on_finished, e, &err)) < 0) {
            fail(e, rc, &err);
            step(e);
            return;
        }
        e->finishing = true;
        return;
    }
    stop(e);
}

static int
exit_code_of(int rc)
{
    return rc == -OTSYNC_ECONFIG ? EXIT_JOB_CONFIG : EXIT_JOB_FAILED;
}

/* Opens both plugins and runs the job on loop; returns the exit code and logs the outcome. */
static int
engine_run(struct engine *e, const struct job_plan *plan, uv_loop_t *loop)
{
    double secs;
    int rc, code;

    e->loop = loop;
    e->plan = plan;
    e->reader.ops = plan->reader_ops;
    e->reader.loop = loop;
    e->reader.path = plan->reader.path;
    e->writer.ops = plan->writer_ops;
    e->writer.loop = loop;
    e->writer.path = plan->writer.path;
    otsync_err_clear(&e->err);
    if ((rc = e->reader.ops->open(&e->reader, plan->reader.conf, &e->err)) < 0)
        return exit_code_of(rc);
    if ((rc = e->writer.ops->open(&e->writer, plan->writer.conf, &e->err)) < 0) {
        e->reader.ops->close(&e->reader);
        uv_run(loop, UV_RUN_DEFAULT);
        return exit_code_of(rc);
    }
    uv_timer_init(loop, &e->throttle);
    e->throttle.data = e;
    e->start_ns = uv_hrtime();
    if ((rc = e->reader.ops->split(&e->reader, plan->channels, &e->slices, &e->err)) < 0) {
        stop(e);
        uv_run(loop, UV_RUN_DEFAULT);
        return exit_code_of(rc);
    }
    log_info("job started: reader %s, writer %s, %u channel%s", e->reader.ops->name,
             e->writer.ops->name, plan->channels, plan->channels == 1 ? "" : "s");
    log_debug("job form %s; %u slice%s, read one after another", plan->form, e->slices,
              e->slices == 1 ? "" : "s");
    step(e);
    uv_run(loop, UV_RUN_DEFAULT);

    secs = (double)(uv_hrtime() - e->start_ns) / 1e9;
    code = e->rc < 0 ? exit_code_of(e->rc) : EXIT_JOB_OK;
    if (code == EXIT_JOB_OK)
        log_info("job finished: %" PRIu64 " records read, %" PRIu64 " written, %" PRIu64
                 " dirty, %" PRIu64 " bytes in %.2f s (%.0f rows/s)", e->records_read,
                 e->records_written, e->records_dirty, e->bytes_read, secs,
                 (double)e->records_written / (secs > 0.001 ? secs : 0.001));
    else
        log_error("job failed: %s; %" PRIu64 " records read, %" PRIu64 " written, %" PRIu64
                  " dirty in %.2f s", e->err.msg, e->records_read, e->records_written,
                  e->records_dirty, secs);
    return code;
}

/* --- options and variables --- */

static void
options_fini(struct options *o)
{
    size_t i;

    for (i = 0; i < o->count; i++)
        free(o->values[i]);
    free(o->names);
    free(o->values);
}

static int
add_param(struct options *o, char *arg, struct otsync_err *err)
{
    char *eq = strchr(arg, '=');
    const char **nn;
    char **nv;
    size_t i;

    if (!eq || eq == arg)
        return otsync_err_set(err, OTSYNC_EINVAL, "-p %s: expected NAME=VALUE", arg);
    *eq = '\0';
    for (i = 0; arg[i]; i++)
        if (!((arg[i] >= 'A' && arg[i] <= 'Z') || (arg[i] >= 'a' && arg[i] <= 'z') || arg[i] == '_'
              || (i > 0 && ((arg[i] >= '0' && arg[i] <= '9') || arg[i] == '.'))))
            return otsync_err_set(err, OTSYNC_EINVAL, "-p %s: a name is letters, digits, '_' and "
                                  "'.', not starting with a digit or '.'", arg);
    for (i = 0; i < o->count; i++)
        if (strcmp(o->names[i], arg) == 0)
            return otsync_err_set(err, OTSYNC_EINVAL, "-p %s: given twice", arg);
    if (!(nn = realloc(o->names, (o->count + 1) * sizeof(*nn))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    o->names = nn;
    if (!(nv = realloc(o->values, (o->count + 1) * sizeof(*nv))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    o->values = nv;
    if (!(o->values[o->count] = strdup(eq + 1)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    o->names[o->count++] = arg;
    return 0;
}

/* Returns 1 when --help or --version was answered, 0 to run, negative on a usage error. */
static int
parse_args(int argc, char **argv, struct options *o, struct otsync_err *err)
{
    static const struct option longopts[] = {
        {"param", required_argument, NULL, 'p'},
        {"cyctime", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;

    while ((c = getopt_long(argc, argv, "p:c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if ((rc = add_param(o, optarg, err)) < 0)
                return rc;
            o->render = true;
            break;
        case 'c':
            o->cyctime = optarg;
            o->render = true;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("otsync-run %s\n", OTSYNC_VERSION);
            return 1;
        default:
            return otsync_err_set(err, OTSYNC_EINVAL, "bad usage; see otsync-run --help");
        }
    }
    if (argc - optind > 1)
        return otsync_err_set(err, OTSYNC_EINVAL, "one job at a time; got %d arguments",
                              argc - optind);
    o->job = optind < argc ? argv[optind] : "-";
    return 0;
}

/*
 * Renders the -p values (they may hold time expressions, as a task's params do) and then
 * every string of root with them. Errors go to err or d.
 */
static int
render_job(struct options *o, json_t *root, const char *source, struct diag *d,
           struct otsync_err *err)
{
    struct vars_ctx ctx = {.cyctime = time(NULL)};
    struct vars_error verr;
    char *out;
    size_t i;

    if (o->cyctime && vars_parse_time(o->cyctime, &ctx.cyctime) < 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "--cyctime %s: expected yyyymmddhh24miss",
                              o->cyctime);
    for (i = 0; i < o->count; i++) {
        if (vars_render(o->values[i], &ctx, &out, &verr) < 0)
            return otsync_err_set(err, OTSYNC_ECONFIG, "-p %s: %s", o->names[i], verr.msg);
        free(o->values[i]);
        o->values[i] = out;
    }
    ctx.names = o->names;
    ctx.values = (const char *const *)o->values;
    ctx.count = o->count;
    return job_render(root, &ctx, source, d, err);
}

int
main(int argc, char **argv)
{
    uint64_t start_ns = uv_hrtime();
    struct options opt;
    struct otsync_err err;
    struct job_plan plan;
    struct engine e;
    struct diag d;
    uv_loop_t loop;
    json_t *root = NULL;
    const char *source;
    int rc, code, fd;

    /* run by otsyncd: die with it, so a restarted daemon that runs this instance again never
     * finds this attempt still at work (and give up at once if it is already gone) */
    if (getenv("OTSYNC_PARENT_PID")) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != (pid_t)atol(getenv("OTSYNC_PARENT_PID")))
            return EXIT_JOB_FAILED;
    }
    /* a closed stdout must be an error the writer reports, not a silent death */
    signal(SIGPIPE, SIG_IGN);
    /* libuv must not get fds 0-2 for its own descriptors when the caller closed them */
    for (fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd)
            return EXIT_JOB_FAILED;
    log_init("otsync-run");
    memset(&opt, 0, sizeof(opt));
    otsync_err_clear(&err);
    diag_init(&d);
    if ((rc = parse_args(argc, argv, &opt, &err)) != 0) {
        options_fini(&opt);
        if (rc > 0)
            return EXIT_JOB_OK;
        log_error("%s", err.msg);
        return summary(rc == -OTSYNC_ENOMEM ? EXIT_JOB_FAILED : EXIT_JOB_CONFIG, NULL, start_ns,
                       err.msg);
    }
    source = strcmp(opt.job, "-") == 0 ? "<stdin>" : opt.job;
    rc = job_load(opt.job, source, &root, &d, &err);
    if (rc == 0 && opt.render && (rc = render_job(&opt, root, source, &d, &err)) < 0)
        json_decref(root);
    if (rc == 0)
        rc = job_plan_init(&plan, root, source, &d, &err);
    options_fini(&opt);
    if (rc < 0) {
        if (d.count) {
            diag_print(&d, stderr);
            diag_verdict(&d, stderr, "otsync-run", "job");
        } else {
            log_error("%s", err.msg);
        }
        diag_fini(&d);
        return summary(exit_code_of(rc), NULL, start_ns, err.msg);
    }

    memset(&e, 0, sizeof(e));
    if (uv_loop_init(&loop) != 0) {
        job_plan_fini(&plan);
        diag_fini(&d);
        log_error("cannot start the event loop");
        return summary(EXIT_JOB_FAILED, NULL, start_ns, "cannot start the event loop");
    }
    code = engine_run(&e, &plan, &loop);
    if (code == EXIT_JOB_CONFIG && e.rc == 0) {
        /* a plugin's open() found what the option table cannot express: same form as above */
        struct otsync_mark m = {source, 0, 0};
        diag_error(&d, m, "%s", e.err.msg);
        diag_print(&d, stderr);
        diag_verdict(&d, stderr, "otsync-run", "job");
    } else if (code != EXIT_JOB_OK && e.rc == 0) {
        log_error("%s", e.err.msg);     /* open or split failed: engine_run logged nothing */
    }
    diag_fini(&d);
    if (uv_loop_close(&loop) != 0)
        log_error("the event loop still had handles at exit");
    job_plan_fini(&plan);
    return summary(code, &e, start_ns, e.err.msg);
}
