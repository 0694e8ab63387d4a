/*
 * main.c - otsync-run: runs one DataX/DataWorks job to completion, by hand or as otsyncd's
 * child, and ends with one JSON summary line on stdout.
 *
 * Owns: options and variables given on the command line, the datasources file, the summary
 * line and the exit status (0 success, 1 the job failed, 2 the job is misconfigured). Leaves
 * to others: the job's forms and checks (job.c), running it (engine.c), dirty records
 * (dirty.c), plugins (src/plugins/ through registry.c), rendering (core vars).
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
#include "otsync/clock.h"
#include "otsync/diag.h"
#include "otsync/err.h"
#include "otsync/log.h"
#include "otsync/vars.h"
#include "otsync/datasource.h"
#include "dirty.h"
#include "engine.h"
#include "job.h"
#include "plugin.h"
#include "probe.h"
#include "record.h"

#define EXIT_JOB_OK 0
#define EXIT_JOB_FAILED 1
#define EXIT_JOB_CONFIG 2

struct options {
    const char *job;            /* path, or "-" for stdin */
    const char **names;         /* -p NAME=VALUE, split; values are rendered in place */
    char **values;
    size_t count;
    const char *cyctime;        /* --cyctime as given */
    bool render;                /* -p or --cyctime given: render the job's strings */
    const char *dirty_file;     /* --dirty-file */
    const char *datasources;    /* --datasources, else $OTSYNC_DATASOURCES */
    const char *test_datasource;    /* --test-datasource NAME */
};

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
            "  -d, --datasources FILE    the named connections jobs refer to\n"
            "      --dirty-file FILE     where dirty records go (JSON lines)\n"
            "      --test-datasource NAME  one authenticated call to that datasource; no job\n"
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
summary(int exit_code, const struct engine_stats *st, const struct dirty_file *dirty,
        uint64_t start_ns, const char *error)
{
    static const struct engine_stats none;
    uint64_t elapsed_ns = uv_hrtime() - start_ns;
    double secs = (double)elapsed_ns / 1e9;
    json_t *o = json_object();
    char *line = NULL;

    if (!st)
        st = &none;
    if (secs < 0.001)
        secs = 0.001;
    if (o) {
        json_object_set_new(o, "status", json_string(exit_code == EXIT_JOB_OK ? "success"
                                                                              : "failed"));
        json_object_set_new(o, "exit_code", json_integer(exit_code));
        json_object_set_new(o, "records_read", json_integer((json_int_t)st->records_read));
        json_object_set_new(o, "records_written", json_integer((json_int_t)st->records_written));
        json_object_set_new(o, "records_dirty", json_integer((json_int_t)st->records_dirty));
        json_object_set_new(o, "bytes", json_integer((json_int_t)st->bytes_read));
        json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)(elapsed_ns / 1000000)));
        /* rounded so a script reads figures, not binary fractions */
        json_object_set_new(o, "rows_per_s",
                            json_integer((json_int_t)((double)st->records_read / secs + 0.5)));
        json_object_set_new(o, "mb_per_s", json_real(
            (double)(int64_t)((double)st->bytes_read / (1024.0 * 1024.0) / secs * 100 + 0.5)
            / 100));
        if (dirty && dirty->count)
            json_object_set_new(o, "dirty_file", json_string(dirty->path));
        if (exit_code != EXIT_JOB_OK)
            json_object_set_new(o, "error", json_string(error && *error ? error : "unknown error"));
        line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
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

static int
exit_code_of(int rc)
{
    return rc == -OTSYNC_ECONFIG ? EXIT_JOB_CONFIG : EXIT_JOB_FAILED;
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
        {"datasources", required_argument, NULL, 'd'},
        {"dirty-file", required_argument, NULL, 'D'},
        {"test-datasource", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;

    while ((c = getopt_long(argc, argv, "p:c:d:hV", longopts, NULL)) != -1) {
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
        case 'd':
            o->datasources = optarg;
            break;
        case 'D':
            o->dirty_file = optarg;
            break;
        case 'T':
            o->test_datasource = optarg;
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
    if (o->test_datasource && argc - optind > 0)
        return otsync_err_set(err, OTSYNC_EINVAL, "--test-datasource runs no job; got %s",
                              argv[optind]);
    o->job = optind < argc ? argv[optind] : "-";
    return 0;
}

/*
 * otsyncd tells a run its task's cycle in OTSYNC_CYCLE ("minute/5", "day"...), for the writers
 * that warn about a partition coarser than the cycle (odps). By hand there is no task: a -p
 * value with minute arithmetic ($[...-5/24/60]) or a minute of the day (hh24mi) is the window
 * of a minute cycle, as the channel 1 jobs of the user guide give it.
 */
static void
guess_cycle(const struct options *o)
{
    size_t i;

    if (getenv("OTSYNC_CYCLE"))
        return;
    for (i = 0; i < o->count; i++)
        if (strstr(o->values[i], "/24/60") || strstr(o->values[i], "hh24mi")) {
            log_debug("-p %s looks like a minute window: taking OTSYNC_CYCLE=minute",
                      o->names[i]);
            setenv("OTSYNC_CYCLE", "minute", 0);
            return;
        }
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
    guess_cycle(o);
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

/*
 * Loads --datasources (or $OTSYNC_DATASOURCES, which otsyncd sets from its configuration).
 * A file named on the command line must exist; the daemon's may be absent. Errors go to d.
 */
static int
load_datasources(const struct options *o, struct datasources **ret_set, struct diag *d,
                 struct otsync_err *err)
{
    const char *path = o->datasources;
    bool given = path != NULL;
    int rc;

    *ret_set = NULL;
    if (!path && !(path = getenv("OTSYNC_DATASOURCES")))
        return 0;
    if (!*path)
        return 0;
    rc = datasources_load(path, ret_set, d);
    if (rc == -OTSYNC_ENOENT && !given)
        return 0;
    if (rc == -OTSYNC_ENOENT)
        return otsync_err_set(err, OTSYNC_ECONFIG, "--datasources %s: no such file", path);
    if (rc == -OTSYNC_ENOMEM)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    if (rc < 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: the datasources file has errors", path);
    return 0;
}

/*
 * "now": otsyncd on a simulated clock hands its children the simulated time at their start
 * (OTSYNC_NOW, epoch seconds) and its speed (OTSYNC_CLOCK_SPEED), so a child's checks of
 * windows against now (the otsstream reader's lag) agree with the schedule.
 */
static int
clock_from_env(struct dclock *c)
{
    const char *now = getenv("OTSYNC_NOW"), *speed = getenv("OTSYNC_CLOCK_SPEED");
    char *end;

    dclock_real(c);
    if (!now || !*now)
        return 0;
    c->simulated = true;
    c->sim_start = strtod(now, &end);
    if (*end || !(c->sim_start > 0))
        return -1;
    c->speed = speed && *speed ? strtod(speed, &end) : 1.0;
    if ((speed && *speed && *end) || !(c->speed > 0))
        return -1;
    c->real_start_ns = uv_hrtime();
    return 0;
}

/* Prints the diagnostics of a bad configuration (or err when there are none). */
static void
report_config(struct diag *d, const struct otsync_err *err)
{
    if (d->count) {
        diag_print(d, stderr);
        diag_verdict(d, stderr, "otsync-run", "job");
    } else {
        log_error("%s", err->msg);
    }
}

int
main(int argc, char **argv)
{
    uint64_t start_ns = uv_hrtime();
    struct datasources *ds = NULL;
    struct dirty_file dirty;
    struct dclock clock;
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
    if (clock_from_env(&clock) < 0)
        return summary(EXIT_JOB_CONFIG, NULL, NULL, start_ns, "OTSYNC_NOW/OTSYNC_CLOCK_SPEED: "
                       "expected numbers");
    memset(&opt, 0, sizeof(opt));
    otsync_err_clear(&err);
    diag_init(&d);
    if ((rc = parse_args(argc, argv, &opt, &err)) != 0) {
        options_fini(&opt);
        if (rc > 0)
            return EXIT_JOB_OK;
        log_error("%s", err.msg);
        return summary(rc == -OTSYNC_ENOMEM ? EXIT_JOB_FAILED : EXIT_JOB_CONFIG, NULL, NULL,
                       start_ns, err.msg);
    }
    if ((rc = load_datasources(&opt, &ds, &d, &err)) < 0) {
        options_fini(&opt);
        report_config(&d, &err);
        diag_fini(&d);
        return summary(exit_code_of(rc), NULL, NULL, start_ns, err.msg);
    }
    if (opt.test_datasource) {
        code = probe_datasource(ds, opt.test_datasource);
        options_fini(&opt);
        datasources_free(ds);
        diag_fini(&d);
        return code;
    }
    source = strcmp(opt.job, "-") == 0 ? "<stdin>" : opt.job;
    rc = job_load(opt.job, source, &root, &d, &err);
    if (rc == 0 && opt.render && (rc = render_job(&opt, root, source, &d, &err)) < 0)
        json_decref(root);
    if (rc == 0 && (rc = job_plan_init(&plan, root, source, &d, &err)) == 0
        && (rc = dirty_file_init(&dirty, opt.dirty_file, &err)) < 0)
        job_plan_fini(&plan);
    options_fini(&opt);
    if (rc < 0) {
        report_config(&d, &err);
        diag_fini(&d);
        datasources_free(ds);
        return summary(exit_code_of(rc), NULL, NULL, start_ns, err.msg);
    }

    if (uv_loop_init(&loop) != 0) {
        job_plan_fini(&plan);
        dirty_file_fini(&dirty);
        datasources_free(ds);
        diag_fini(&d);
        log_error("cannot start the event loop");
        return summary(EXIT_JOB_FAILED, NULL, NULL, start_ns, "cannot start the event loop");
    }
    rc = engine_run(&e, &plan, &loop, &clock, ds, &dirty);
    code = rc == 0 ? EXIT_JOB_OK : exit_code_of(rc);
    if (rc == -OTSYNC_ECONFIG && !e.opened) {
        /* a plugin's open() found what the option table cannot express: same form as above */
        struct otsync_mark m = {source, 0, 0};
        diag_error(&d, m, "%s", e.err.msg);
        report_config(&d, &e.err);
    } else if (rc < 0 && !e.opened) {
        log_error("%s", e.err.msg);     /* open failed: engine_run logged nothing */
    }
    diag_fini(&d);
    if (uv_loop_close(&loop) != 0)
        log_error("the event loop still had handles at exit");
    job_plan_fini(&plan);
    datasources_free(ds);
    code = summary(code, &e.stats, &dirty, start_ns, e.err.msg);
    dirty_file_fini(&dirty);
    return code;
}
