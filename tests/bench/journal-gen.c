/*
 * journal-gen.c - for tests/bench/journal: writes a journal as otsyncd would after running
 * TASKS tasks of PER_TASK five-minute instances each from 2018-10-16 00:00 (Asia/Shanghai is
 * the caller's TZ): per instance created, running, pid, one log line, stats, success.
 *   journal-gen write DIR TASKS PER_TASK     prints the number of records written
 *   journal-gen replay DIR                   prints records, instances and the replay time
 *   journal-gen verify DIR                   replays as otsyncd does and the plain way (every
 *                                            record parsed, one thread): exits 1 unless the
 *                                            two states are the same
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>
#include "otsync/journal.h"
#include "otsync/state.h"
#include "otsync/vars.h"

static void
put(struct journal *j, json_t *rec, unsigned long *n)
{
    struct otsync_err err;

    if (!rec || journal_append(j, rec, false, &err) < 0) {
        fprintf(stderr, "journal-gen: %s\n", rec ? err.msg : "out of memory");
        exit(1);
    }
    json_decref(rec);
    (*n)++;
}

static int
gen(const char *dir, long tasks, long per_task)
{
    struct journal_opts o = {0};
    struct journal *j;
    struct otsync_err err;
    unsigned long n = 0;
    time_t t0;
    long i, k;

    if (vars_parse_time("20181016000000", &t0) < 0 || journal_open(dir, &o, NULL, &j, &err) < 0) {
        fprintf(stderr, "journal-gen: %s\n", err.msg);
        return 1;
    }
    for (k = 0; k < per_task; k++) {
        time_t cyc = t0 + k * 300;
        char ts[15], prev[15];
        vars_format_cyctime(cyc, ts);
        vars_format_cyctime(cyc - 600, prev);
        for (i = 1; i <= tasks; i++) {
            char id[64], task[32];
            snprintf(task, sizeof(task), "t%ld", i);
            snprintf(id, sizeof(id), "%s@%s", task, ts);
            /* as persist.c writes them: task, cycle and "waiting" are the id's and the
             * defaults, an attempt, base or reason the instance has is left out */
            put(j, json_pack("{s:s, s:s, s:I, s:I, s:{s:s, s:s}}", "t", "created", "id", id,
                             "ct", (json_int_t)cyc, "at", (json_int_t)cyc - 2, "params",
                             "startTime", prev, "endTime", ts),
                &n);
            put(j, json_pack("{s:s, s:s, s:s, s:I, s:i}", "t", "state", "id", id, "state",
                             "running", "at", (json_int_t)cyc, "attempt", 1), &n);
            put(j, json_pack("{s:s, s:s, s:i}", "t", "pid", "id", id, "pid", 10000 + (int)i), &n);
            put(j, json_pack("{s:s, s:s, s:s}", "t", "log", "id", id, "line",
                             "2018-10-16T00:00:00.538 otsync-run info: job finished: 1 records "
                             "read, 1 written, 0 dirty, 0.0 MB in 0.0 s (1000 rows/s, 0.00 MB/s)"),
                &n);
            put(j, json_pack("{s:s, s:s, s:{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f}}", "t",
                             "stats", "id", id, "stats", "status", "success", "exit_code", 0,
                             "records_read", 1, "records_written", 1, "records_dirty", 0, "bytes",
                             1, "elapsed_ms", 0, "rows_per_s", 1000, "mb_per_s", 0.0), &n);
            put(j, json_pack("{s:s, s:s, s:s, s:I}", "t", "state", "id", id, "state", "success",
                             "at", (json_int_t)cyc + 1), &n);
        }
        if (journal_flush(j, &err) < 0) {
            fprintf(stderr, "journal-gen: %s\n", err.msg);
            return 1;
        }
    }
    journal_close(j);
    printf("%lu\n", n);
    return 0;
}

static int
replay(const char *dir)
{
    struct journal_opts o = {.read_only = true, STATE_JOURNAL_OPTS};
    struct journal *j;
    struct otsync_err err;
    struct state *st = state_new();
    struct hinst *const *all;
    uint64_t t0 = uv_hrtime();
    size_t n;

    o.arg = st;
    if (!st || journal_open(dir, &o, state_apply, &j, &err) < 0) {
        fprintf(stderr, "journal-gen: %s\n", st ? err.msg : "out of memory");
        return 1;
    }
    n = state_list(st, &all);
    printf("%llu records, %zu instances, %.0f ms\n", (unsigned long long)state_records(st), n,
           (double)(uv_hrtime() - t0) / 1e6);
    journal_close(j);
    state_free(st);
    return 0;
}

/* A replay into a new state; plain: every record parsed by jansson on this thread. */
static struct state *
load(const char *dir, bool plain)
{
    struct journal_opts o = {.read_only = true, STATE_JOURNAL_OPTS};
    struct journal *j;
    struct otsync_err err;
    struct state *st = state_new();

    if (plain) {
        o.prepare = NULL;
        o.apply = NULL;
        o.release = NULL;
    }
    o.arg = st;
    if (!st || journal_open(dir, &o, state_apply, &j, &err) < 0) {
        fprintf(stderr, "journal-gen: %s\n", st ? err.msg : "out of memory");
        exit(1);
    }
    journal_close(j);
    return st;
}

/* The whole of an instance as text: its documented JSON with stats, and what that leaves out. */
static char *
inst_text(const struct hinst *h)
{
    json_t *o = state_inst_json(h, true);
    char *s;

    json_object_set_new(o, "_pid", json_integer(h->pid));
    json_object_set_new(o, "_base", json_integer(h->rerun_base));
    json_object_set_new(o, "_next_try_at", json_integer(h->next_try_at));
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int
verify(const char *dir)
{
    struct state *fast = load(dir, false), *plain = load(dir, true);
    struct hinst *const *a, *const *b;
    size_t n = state_list(fast, &a), i, bad = 0;

    if (n != state_list(plain, &b) || state_records(fast) != state_records(plain)
        || state_last_at(fast) != state_last_at(plain)) {
        fprintf(stderr, "journal-gen: %zu instances, %zu plain\n", n, state_list(plain, &b));
        return 1;
    }
    for (i = 0; i < n; i++) {
        char *x = inst_text(a[i]), *y = inst_text(b[i]);
        if (!x || !y || strcmp(x, y) != 0) {
            if (bad++ < 3)
                fprintf(stderr, "journal-gen: differs:\n  %s\n  %s (plain)\n", x, y);
        }
        free(x);
        free(y);
    }
    state_free(fast);
    state_free(plain);
    if (bad)
        return 1;
    printf("%zu instances, the same as a plain replay's\n", n);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "write") == 0)
        return gen(argv[2], atol(argv[3]), atol(argv[4]));
    if (argc == 3 && strcmp(argv[1], "replay") == 0)
        return replay(argv[2]);
    if (argc == 3 && strcmp(argv[1], "verify") == 0)
        return verify(argv[2]);
    fprintf(stderr, "usage: journal-gen write DIR TASKS PER_TASK | journal-gen replay DIR | "
                    "journal-gen verify DIR\n");
    return 2;
}
