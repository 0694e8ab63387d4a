/*
 * test-sched.c - the scheduler's state machine stepped on a fake clock: cycles, rendered
 * params, retries, self-dependency, catch-up, max_running, pause, catalogue swaps. Nothing
 * sleeps: every call is handed its `now`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "otsync/sched.h"
#include "otsync/vars.h"

#define MAX_STARTS 20000

struct rec {
    int starts;
    char *started[MAX_STARTS];          /* ids, in start order */
    time_t started_at[MAX_STARTS];
    struct sched_instance *running[MAX_STARTS];
    int nrunning;
    int created;
    bool fail_start;
};

static struct rec R;
static struct sched *S;

static int
on_start(void *arg, struct sched_instance *inst, struct otsync_err *err)
{
    (void)arg;
    if (R.fail_start)
        return otsync_err_set(err, OTSYNC_ESYS, "spawn failed on purpose");
    if (R.starts < MAX_STARTS) {
        R.started[R.starts] = strdup(inst->id);
        R.started_at[R.starts] = inst->started_at;
        R.starts++;
    }
    R.running[R.nrunning++] = inst;
    return 0;
}

static void
on_changed(void *arg, const struct sched_instance *inst, enum sched_event ev)
{
    (void)arg;
    (void)inst;
    if (ev == SCHED_EV_CREATED)
        R.created++;
}

static time_t
T(const char *s)
{
    time_t t;

    assert_int_equal(vars_parse_time(s, &t), 0);
    return t;
}

static struct catalog *
cat_from(const char *yaml)
{
    struct diag d;
    struct catalog *cat = NULL;

    diag_init(&d);
    if (catalog_load_string(yaml, "test.yaml", "/tmp", &d, &cat) < 0) {
        diag_print(&d, stderr);
        fail_msg("catalogue did not load");
    }
    diag_fini(&d);
    return cat;
}

static void
setup_sched(const char *yaml, int max_running, time_t now)
{
    struct sched_hooks h = {on_start, on_changed, NULL, NULL};
    struct catalog *cat = cat_from(yaml);

    memset(&R, 0, sizeof(R));
    S = sched_new(max_running, &h);
    sched_set_catalog(S, cat, now);
    catalog_unref(cat);     /* the scheduler keeps its own reference */
}

static void
teardown_sched(void)
{
    int i;

    sched_free(S);
    for (i = 0; i < R.starts; i++)
        free(R.started[i]);
}

/* Finishes the running instance with this id. */
static time_t
finish(const char *id, enum sched_outcome out, time_t now)
{
    int i;

    for (i = 0; i < R.nrunning; i++)
        if (strcmp(R.running[i]->id, id) == 0) {
            struct sched_instance *inst = R.running[i];
            R.running[i] = R.running[--R.nrunning];
            return sched_finished(S, inst, out, out == SCHED_OK ? NULL : "boom", now);
        }
    fail_msg("%s is not running", id);
    return 0;
}

/* Runs the clock from `from` to `to` in steps of a second, finishing every start at once. */
static void
run_clock(time_t from, time_t to, enum sched_outcome out)
{
    time_t now;

    for (now = from; now <= to; now++) {
        sched_step(S, now);
        while (R.nrunning)
            finish(R.running[0]->id, out, now);
    }
}

static const char *window_yaml =
    "tasks:\n"
    "  - name: w\n"
    "    schedule: {cycle: minute, start: '00:00', end: '23:59', interval: 5}\n"
    "    params:\n"
    "      startTime: $[yyyymmddhh24miss-10/24/60]\n"
    "      endTime: $[yyyymmddhh24miss-5/24/60]\n"
    "    job: {type: job, x: '${startTime}-${endTime}'}\n";

static void
test_hour_of_windows(void **state)
{
    time_t t0 = T("20181016000000");
    struct sched_instance *inst;
    time_t next;
    int i;

    setup_sched(window_yaml, 4, t0);
    next = sched_step(S, t0);
    assert_int_equal(next, T("20181016000500"));    /* a new task starts at the next cycle */
    run_clock(t0, t0 + 3600, SCHED_OK);
    assert_int_equal(R.starts, 12);
    for (i = 0; i < 12; i++) {
        char want[32], ts[15];
        snprintf(want, sizeof(want), "w@%s", vars_format_cyctime(t0 + 300 * (i + 1), ts));
        assert_string_equal(R.started[i], want);
        assert_int_equal(R.started_at[i], t0 + 300 * (i + 1));
    }
    /* the newest instance is kept, with params rendered at creation */
    inst = sched_find(S, "w@20181016010000");
    assert_non_null(inst);
    assert_int_equal(inst->state, SCHED_SUCCESS);
    assert_int_equal(inst->param_count, 2);
    assert_string_equal(inst->param_names[0], "startTime");
    assert_string_equal(inst->param_values[0], "20181016005000");
    assert_string_equal(inst->param_values[1], "20181016005500");
    teardown_sched();
}

static void
test_first_window_values(void **state)
{
    time_t t0 = T("20181016000000");
    struct sched_instance *inst;

    setup_sched(window_yaml, 4, t0);
    sched_step(S, T("20181016000500"));
    inst = sched_find(S, "w@20181016000500");
    assert_non_null(inst);
    assert_string_equal(inst->param_values[0], "20181015235500");
    assert_string_equal(inst->param_values[1], "20181016000000");
    assert_int_equal(inst->state, SCHED_RUNNING);
    assert_int_equal(inst->attempts, 1);
    finish("w@20181016000500", SCHED_OK, T("20181016000501"));
    teardown_sched();
}

static const char *flaky_yaml =
    "tasks:\n"
    "  - name: f\n"
    "    schedule: {cycle: day, start: '00:10'}\n"
    "    retries: 3\n"
    "    retry_interval: 2m\n"
    "    job: {type: job}\n";

static void
test_retries_then_success(void **state)
{
    time_t t0 = T("20181016000000"), t = T("20181016001000");
    struct sched_instance *inst;

    setup_sched(flaky_yaml, 4, t0);
    assert_int_equal(sched_step(S, t0), t);
    sched_step(S, t);
    assert_int_equal(R.starts, 1);
    assert_int_equal(finish("f@20181016001000", SCHED_FAIL, t + 5), t + 125);
    inst = sched_find(S, "f@20181016001000");
    assert_int_equal(inst->state, SCHED_RETRY_WAIT);
    assert_int_equal(inst->next_try_at, t + 125);
    sched_step(S, t + 124);
    assert_int_equal(R.starts, 1);      /* not a second early */
    sched_step(S, t + 125);
    assert_int_equal(R.starts, 2);
    finish("f@20181016001000", SCHED_FAIL, t + 130);
    sched_step(S, t + 250);
    assert_int_equal(R.starts, 3);
    finish("f@20181016001000", SCHED_OK, t + 251);
    assert_int_equal(inst->state, SCHED_SUCCESS);
    assert_int_equal(inst->attempts, 3);
    assert_int_equal(R.started_at[0], t);
    assert_int_equal(R.started_at[1], t + 125);
    assert_int_equal(R.started_at[2], t + 250);
    teardown_sched();
}

static void
test_retries_exhausted_and_final(void **state)
{
    time_t t = T("20181016001000");
    struct sched_instance *inst;
    int i;

    setup_sched(flaky_yaml, 4, T("20181016000000"));
    sched_step(S, t);
    for (i = 0; i < 4; i++) {
        finish("f@20181016001000", SCHED_FAIL, t);
        t += 120;
        sched_step(S, t);
    }
    inst = sched_find(S, "f@20181016001000");
    assert_int_equal(inst->state, SCHED_FAILED);
    assert_int_equal(inst->attempts, 4);    /* the first attempt and 3 reruns */
    assert_int_equal(R.starts, 4);
    assert_string_equal(inst->reason, "boom");
    teardown_sched();

    /* a bad job configuration is not retried */
    setup_sched(flaky_yaml, 4, T("20181016000000"));
    t = T("20181016001000");
    sched_step(S, t);
    finish("f@20181016001000", SCHED_FAIL_FINAL, t);
    sched_step(S, t + 3600);
    inst = sched_find(S, "f@20181016001000");
    assert_int_equal(inst->state, SCHED_FAILED);
    assert_int_equal(R.starts, 1);
    teardown_sched();
}

static void
test_start_failure_counts_as_attempt(void **state)
{
    time_t t = T("20181016001000");
    struct sched_instance *inst;

    setup_sched(flaky_yaml, 4, T("20181016000000"));
    R.fail_start = true;
    sched_step(S, t);
    inst = sched_find(S, "f@20181016001000");
    assert_int_equal(inst->state, SCHED_RETRY_WAIT);
    assert_string_equal(inst->reason, "spawn failed on purpose");
    assert_int_equal(sched_running_count(S), 0);
    R.fail_start = false;
    sched_step(S, t + 120);
    assert_int_equal(inst->state, SCHED_RUNNING);
    assert_int_equal(inst->attempts, 2);
    finish("f@20181016001000", SCHED_OK, t + 121);
    teardown_sched();
}

static const char *chain_yaml =
    "tasks:\n"
    "  - name: c\n"
    "    schedule: {cycle: minute, interval: 5}\n"
    "    self_dependency: true\n"
    "    retries: 0\n"
    "    job: {type: job}\n"
    "  - name: free\n"
    "    schedule: {cycle: minute, interval: 5}\n"
    "    retries: 0\n"
    "    job: {type: job}\n";

static void
test_self_dependency_blocks(void **state)
{
    time_t t0 = T("20181016000000"), now;
    struct sched_instance *c3, *c2;
    int i, c_starts = 0, free_starts = 0;

    setup_sched(chain_yaml, 10, t0);
    sched_step(S, t0 + 300);
    finish("c@20181016000500", SCHED_OK, t0 + 301);
    finish("free@20181016000500", SCHED_OK, t0 + 301);
    sched_step(S, t0 + 600);
    finish("c@20181016001000", SCHED_FAIL, t0 + 601);      /* failed for good: retries 0 */
    finish("free@20181016001000", SCHED_FAIL, t0 + 601);
    for (now = t0 + 900; now <= t0 + 3600; now += 300) {
        sched_step(S, now);
        while (R.nrunning)
            finish(R.running[0]->id, SCHED_OK, now);
    }
    for (i = 0; i < R.starts; i++) {
        if (strncmp(R.started[i], "c@", 2) == 0)
            c_starts++;
        else
            free_starts++;
    }
    assert_int_equal(c_starts, 2);      /* 00:05 and the failed 00:10; nothing after */
    assert_int_equal(free_starts, 12);  /* no self-dependency: every cycle ran */
    c2 = sched_find(S, "c@20181016001000");
    c3 = sched_find(S, "c@20181016001500");
    assert_non_null(c2);
    assert_non_null(c3);
    assert_int_equal(c2->state, SCHED_FAILED);
    assert_int_equal(c3->state, SCHED_WAITING);
    assert_int_equal(c3->wait, SCHED_WAIT_PREVIOUS);
    assert_string_equal(c3->blocked_by, "c@20181016001000");
    assert_string_equal(sched_wait_name(c3->wait), "previous cycle");
    teardown_sched();
}

/* With a lead, instances exist before their time, wait for it, and start at it, in order;
 * a successor released early by its predecessor's success still waits for its own time. */
static void
test_lead_creates_ahead(void **state)
{
    time_t t0 = T("20181016000000"), next;
    struct sched_instance *c1, *f1;

    (void)state;
    setup_sched(chain_yaml, 10, t0);
    sched_set_lead(S, 5);
    next = sched_step(S, t0);
    assert_int_equal(next, t0 + 295);           /* woken the lead before the first cycle */
    next = sched_step(S, t0 + 295);
    assert_int_equal(R.created, 2);
    assert_int_equal(R.starts, 0);
    c1 = sched_find(S, "c@20181016000500");
    f1 = sched_find(S, "free@20181016000500");
    assert_non_null(c1);
    assert_int_equal(c1->state, SCHED_WAITING);
    assert_int_equal(c1->wait, SCHED_WAIT_TIME);
    assert_string_equal(sched_wait_name(f1->wait), "its time");
    assert_int_equal(next, t0 + 300);           /* their time */
    sched_step(S, t0 + 299);
    assert_int_equal(R.starts, 0);
    sched_step(S, t0 + 300);
    assert_int_equal(R.starts, 2);
    assert_string_equal(R.started[0], "c@20181016000500");
    assert_string_equal(R.started[1], "free@20181016000500");
    assert_int_equal(R.started_at[0], t0 + 300);
    /* c@00:10 is created ahead while c@00:05 still runs: blocked by it, then released at
     * 00:09:57 by its success — early, so it waits for its time */
    sched_step(S, t0 + 595);
    assert_int_equal(sched_find(S, "c@20181016001000")->wait, SCHED_WAIT_PREVIOUS);
    finish("c@20181016000500", SCHED_OK, t0 + 597);
    assert_int_equal(sched_find(S, "c@20181016001000")->wait, SCHED_WAIT_TIME);
    assert_int_equal(R.starts, 2);
    sched_step(S, t0 + 600);
    assert_int_equal(R.starts, 4);
    assert_string_equal(R.started[2], "c@20181016001000");
    assert_string_equal(R.started[3], "free@20181016001000");
    teardown_sched();
}

/* Operator actions: rerun with fresh retries, kill of a waiting instance, set-success that
 * releases the blocked successor, pause/resume, backfill in order without moving the live
 * schedule, and adoption of an instance from the journal. */
static void
test_operator_actions(void **state)
{
    time_t t0 = T("20181016000000");
    struct sched_instance *c2, *c3;
    struct otsync_err err;
    size_t n;
    int i;

    (void)state;
    setup_sched(chain_yaml, 10, t0);
    sched_step(S, t0 + 300);
    finish("c@20181016000500", SCHED_OK, t0 + 301);
    finish("free@20181016000500", SCHED_OK, t0 + 301);
    sched_step(S, t0 + 600);
    finish("c@20181016001000", SCHED_FAIL, t0 + 601);     /* failed for good */
    finish("free@20181016001000", SCHED_OK, t0 + 601);
    sched_step(S, t0 + 900);
    finish("free@20181016001500", SCHED_OK, t0 + 901);
    c2 = sched_find(S, "c@20181016001000");
    c3 = sched_find(S, "c@20181016001500");
    assert_int_equal(c3->wait, SCHED_WAIT_PREVIOUS);
    /* rerun of a running or waiting instance is refused with a reason */
    assert_int_equal(sched_rerun(S, c3, t0 + 902, &err), -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "not finished"));
    /* rerun the failed one: it runs again (attempt 2), its retries afresh */
    assert_int_equal(sched_rerun(S, c2, t0 + 910, &err), 0);
    assert_int_equal(c2->state, SCHED_RUNNING);
    assert_int_equal(c2->attempts, 2);
    finish("c@20181016001000", SCHED_OK, t0 + 911);
    /* its success released 00:15 */
    assert_int_equal(c3->state, SCHED_RUNNING);
    finish("c@20181016001500", SCHED_FAIL, t0 + 912);
    sched_step(S, t0 + 1200);
    finish("free@20181016002000", SCHED_OK, t0 + 1201);
    /* set-success on the failed 00:15 releases 00:20 */
    assert_int_equal(sched_find(S, "c@20181016002000")->wait, SCHED_WAIT_PREVIOUS);
    assert_int_equal(sched_set_success(S, sched_find(S, "c@20181016001500"), t0 + 1202, &err), 0);
    assert_int_equal(sched_find(S, "c@20181016002000")->state, SCHED_RUNNING);
    assert_int_equal(sched_set_success(S, sched_find(S, "c@20181016002000"), t0 + 1203, &err),
                     -OTSYNC_EINVAL);
    finish("c@20181016002000", SCHED_OK, t0 + 1204);
    /* pause: the next cycles are skipped; resume: from the next cycle after now */
    assert_int_equal(sched_pause(S, "free", true, t0 + 1205, &err), 0);
    assert_true(sched_task_paused(S, "free"));
    assert_int_equal(sched_pause(S, "nope", true, t0, &err), -OTSYNC_ENOENT);
    sched_step(S, t0 + 1500);
    assert_int_equal(sched_find(S, "free@20181016002500")->state, SCHED_SKIPPED);
    finish("c@20181016002500", SCHED_OK, t0 + 1501);
    assert_int_equal(sched_pause(S, "free", false, t0 + 1620, &err), 0);
    sched_step(S, t0 + 1800);
    assert_int_equal(sched_find(S, "free@20181016003000")->state, SCHED_RUNNING);
    finish("free@20181016003000", SCHED_OK, t0 + 1801);
    finish("c@20181016003000", SCHED_OK, t0 + 1801);
    /* backfill 00:00-00:20 of c: reaped cycles come back, in order, one at a time */
    assert_int_equal(sched_backfill(S, "c", t0 + 3600, t0 + 7200, t0 + 1802, &n, &err),
                     -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "must not be later"));
    i = R.starts;
    assert_int_equal(sched_backfill(S, "c", t0, t0 + 1200, t0 + 1802, &n, &err), 0);
    assert_int_equal(n, 5);     /* 00:00-00:20: the scheduler freed them all */
    assert_string_equal(R.started[i], "c@20181016000000");
    while (R.nrunning) {
        for (int k = 0; k < R.nrunning; k++)
            assert_int_equal(strncmp(R.running[k]->id, "c@", 2), 0);
        assert_int_equal(R.nrunning, 1);    /* self-dependent: one after another */
        finish(R.running[0]->id, SCHED_OK, t0 + 1803);
    }
    for (int k = i + 1; k < R.starts; k++)
        assert_true(strcmp(R.started[k - 1], R.started[k]) < 0);
    /* the live schedule did not move: 00:35 comes next */
    sched_step(S, t0 + 2100);
    assert_non_null(sched_find(S, "c@20181016003500"));
    teardown_sched();
}

static void
test_adopt_from_journal(void **state)
{
    time_t t0 = T("20181016000000");
    const char *names[] = {"startTime"}, *values[] = {"20181015235500"};
    struct sched_adopt a = {.task = "c", .cyctime = t0 + 300, .state = SCHED_SUCCESS,
                            .attempts = 1};
    struct otsync_err err;

    (void)state;
    setup_sched(chain_yaml, 10, t0 + 700);
    assert_non_null(sched_adopt(S, &a, t0 + 700, &err));
    a.cyctime = t0 + 600;
    a.state = SCHED_RETRY_WAIT;
    a.next_try_at = t0 + 720;
    a.param_count = 1;
    a.names = names;
    a.values = values;
    assert_non_null(sched_adopt(S, &a, t0 + 700, &err));
    assert_null(sched_adopt(S, &a, t0 + 700, &err));
    assert_non_null(strstr(err.msg, "already held"));
    a.task = "gone";
    assert_null(sched_adopt(S, &a, t0 + 700, &err));
    assert_int_equal(sched_restore_position(S, "c", t0 + 600), 0);
    assert_int_equal(sched_restore_position(S, "free", t0 + 600), 0);
    sched_step(S, t0 + 710);
    assert_int_equal(R.starts, 0);
    sched_step(S, t0 + 720);
    assert_int_equal(R.starts, 1);
    assert_string_equal(R.started[0], "c@20181016001000");
    assert_string_equal(R.running[0]->param_values[0], "20181015235500");
    assert_int_equal(R.running[0]->attempts, 2);
    teardown_sched();
}

static void
test_self_dependency_waits_for_running(void **state)
{
    time_t t0 = T("20181016000000");
    struct sched_instance *c2;

    setup_sched(chain_yaml, 10, t0);
    sched_step(S, t0 + 300);
    sched_step(S, t0 + 600);    /* c@0005 still running: c@0010 waits for it */
    c2 = sched_find(S, "c@20181016001000");
    assert_int_equal(c2->state, SCHED_WAITING);
    assert_int_equal(c2->wait, SCHED_WAIT_PREVIOUS);
    finish("c@20181016000500", SCHED_OK, t0 + 650);     /* released, and started at once */
    assert_int_equal(c2->state, SCHED_RUNNING);
    assert_null(c2->blocked_by);
    while (R.nrunning)
        finish(R.running[0]->id, SCHED_OK, t0 + 651);
    teardown_sched();
}

static void
test_catchup(void **state)
{
    time_t t0 = T("20181016000000");
    const char *on = "tasks:\n"
                     "  - name: k\n"
                     "    schedule: {cycle: minute, interval: 5}\n"
                     "    self_dependency: true\n"
                     "    job: {type: job}\n";
    const char *off = "tasks:\n"
                      "  - name: k\n"
                      "    schedule: {cycle: minute, interval: 5}\n"
                      "    job: {type: job}\n";
    int i;

    /* a restart at 01:00 that last created 00:00: every missed cycle, in order */
    setup_sched(on, 10, T("20181016010000"));
    assert_int_equal(sched_restore_position(S, "k", t0), 0);
    assert_int_equal(sched_restore_position(S, "nope", t0), -OTSYNC_ENOENT);
    sched_step(S, T("20181016010000"));
    assert_int_equal(R.created, 12);
    for (i = 0; i < 12; i++) {
        char want[32], ts[15];
        assert_int_equal(R.starts, i + 1);  /* self-dependent: one at a time, in order */
        snprintf(want, sizeof(want), "k@%s", vars_format_cyctime(t0 + 300 * (i + 1), ts));
        assert_string_equal(R.started[i], want);
        finish(want, SCHED_OK, T("20181016010000"));
    }
    teardown_sched();

    /* catchup off: only the newest missed cycle */
    setup_sched(off, 10, T("20181016010000"));
    assert_int_equal(sched_restore_position(S, "k", t0), 0);
    sched_step(S, T("20181016010000"));
    assert_int_equal(R.created, 1);
    assert_string_equal(R.started[0], "k@20181016010000");
    teardown_sched();

    /* a late wake-up (the clock jumped 17 minutes) behaves the same */
    setup_sched(off, 10, t0);
    sched_step(S, t0 + 17 * 60);
    assert_int_equal(R.created, 1);
    assert_string_equal(R.started[0], "k@20181016001500");
    teardown_sched();
    setup_sched(on, 10, t0);
    sched_step(S, t0 + 17 * 60);
    assert_int_equal(R.created, 3);
    teardown_sched();
}

static void
test_max_running(void **state)
{
    const char *yaml = "tasks:\n"
                       "  - {name: a, schedule: {cycle: minute, interval: 5}, job: {x: 1}}\n"
                       "  - {name: b, schedule: {cycle: minute, interval: 5}, job: {x: 1}}\n"
                       "  - {name: c, schedule: {cycle: minute, interval: 5}, job: {x: 1}}\n"
                       "  - {name: d, schedule: {cycle: minute, interval: 5}, job: {x: 1}}\n"
                       "  - {name: e, schedule: {cycle: minute, interval: 5}, job: {x: 1}}\n";
    time_t t = T("20181016000500");
    struct sched_instance *e;

    setup_sched(yaml, 2, T("20181016000000"));
    sched_step(S, t);
    assert_int_equal(R.starts, 2);
    assert_int_equal(sched_running_count(S), 2);
    assert_string_equal(R.started[0], "a@20181016000500");
    assert_string_equal(R.started[1], "b@20181016000500");
    e = sched_find(S, "e@20181016000500");
    assert_int_equal(e->state, SCHED_WAITING);
    assert_int_equal(e->wait, SCHED_WAIT_SLOT);
    finish("b@20181016000500", SCHED_OK, t + 1);
    assert_int_equal(R.starts, 3);
    assert_string_equal(R.started[2], "c@20181016000500");
    finish("a@20181016000500", SCHED_OK, t + 2);
    finish("c@20181016000500", SCHED_OK, t + 3);
    assert_string_equal(R.started[3], "d@20181016000500");
    assert_string_equal(R.started[4], "e@20181016000500");
    /* a zero bound (shutdown) starts nothing more */
    sched_set_max_running(S, 0);
    finish("d@20181016000500", SCHED_OK, t + 4);
    finish("e@20181016000500", SCHED_OK, t + 4);
    sched_step(S, t + 300);
    assert_int_equal(R.starts, 5);
    teardown_sched();
}

static void
test_pause_and_swap(void **state)
{
    const char *paused = "tasks:\n"
                         "  - {name: p, paused: true, schedule: {cycle: minute, interval: 5},"
                         " job: {x: 1}}\n"
                         "  - {name: gone, schedule: {cycle: minute, interval: 5}, job: {x: 1}}\n";
    const char *resumed = "tasks:\n"
                          "  - {name: p, schedule: {cycle: minute, interval: 5}, job: {x: 2}}\n";
    time_t t0 = T("20181016000000");
    struct sched_instance *inst, *kept;
    struct catalog *cat;

    setup_sched(paused, 10, t0);
    sched_step(S, t0 + 300);
    inst = sched_find(S, "p@20181016000500");
    assert_int_equal(inst->state, SCHED_SKIPPED);
    kept = sched_find(S, "gone@20181016000500");
    assert_int_equal(kept->state, SCHED_RUNNING);
    /* resume and drop `gone` at 00:07: p starts from the next cycle, 00:10 */
    cat = cat_from(resumed);
    sched_set_catalog(S, cat, t0 + 420);
    catalog_unref(cat);
    assert_int_equal(sched_step(S, t0 + 420), t0 + 600);
    sched_step(S, t0 + 600);
    assert_non_null(sched_find(S, "p@20181016001000"));
    assert_null(sched_find(S, "gone@20181016001000"));
    /* the running instance of the removed task keeps its definition (ASan checks) */
    assert_int_equal(json_integer_value(json_object_get(kept->def->job, "x")), 1);
    assert_string_equal(kept->def->name, "gone");
    finish("gone@20181016000500", SCHED_OK, t0 + 601);
    finish("p@20181016001000", SCHED_OK, t0 + 601);
    teardown_sched();
}

static void
test_ten_thousand_tasks(void **state)
{
    size_t cap = 10000 * 96 + 64, n = 0;
    char *yaml = malloc(cap);
    time_t t0 = T("20181016000000");
    struct timespec a, b;
    int i;

    n += (size_t)snprintf(yaml + n, cap - n, "tasks:\n");
    for (i = 0; i < 10000; i++)
        n += (size_t)snprintf(yaml + n, cap - n,
                              "  - {name: t%d, schedule: {cycle: minute, interval: 1},"
                              " job: {x: 1}}\n", i);
    setup_sched(yaml, 10000, t0);
    free(yaml);
    clock_gettime(CLOCK_MONOTONIC, &a);
    sched_step(S, t0 + 60);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(R.created, 10000);
    assert_int_equal(R.starts, 10000);
    print_message("10,000 instances created and started in %.2f ms\n",
                  (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
    R.nrunning = 0;     /* sched_free frees them */
    teardown_sched();
}

static int
set_tz(void **state)
{
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hour_of_windows),
        cmocka_unit_test(test_first_window_values),
        cmocka_unit_test(test_retries_then_success),
        cmocka_unit_test(test_retries_exhausted_and_final),
        cmocka_unit_test(test_start_failure_counts_as_attempt),
        cmocka_unit_test(test_self_dependency_blocks),
        cmocka_unit_test(test_self_dependency_waits_for_running),
        cmocka_unit_test(test_lead_creates_ahead),
        cmocka_unit_test(test_operator_actions),
        cmocka_unit_test(test_adopt_from_journal),
        cmocka_unit_test(test_catchup),
        cmocka_unit_test(test_max_running),
        cmocka_unit_test(test_pause_and_swap),
        cmocka_unit_test(test_ten_thousand_tasks),
    };
    return cmocka_run_group_tests(tests, set_tz, NULL);
}
