/*
 * test-deps.c - dependencies between tasks (deps.c, and sched.c blocking on them), stepped on
 * a fake clock: the matching rules for every pair of cycle types, a failed upstream instance
 * blocking its dependents until it is rerun, a paused upstream counting as done, the
 * cross-cycle options, validity dates, and the downstream instances a rerun reaches.
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
#include "otsync/deps.h"
#include "otsync/sched.h"
#include "otsync/vars.h"

#define MAX_IDS 20000

/* What the hooks saw: starts in order, and every instance's latest state (hooks.lookup
 * answers from it, as the daemon's journal state does). */
struct rec {
    int starts;
    char *started[MAX_IDS];
    time_t started_at[MAX_IDS];
    struct sched_instance *running[MAX_IDS];
    int nrunning;
    char *ids[MAX_IDS];
    int states[MAX_IDS];
    int nids;
    const char *fail_id;        /* this instance's attempts fail */
};

static struct rec R;
static struct sched *S;

static int
find_id(const char *id)
{
    int i;

    for (i = R.nids - 1; i >= 0; i--)
        if (strcmp(R.ids[i], id) == 0)
            return i;
    return -1;
}

static int
on_start(void *arg, struct sched_instance *inst, struct otsync_err *err)
{
    (void)arg;
    (void)err;
    if (R.starts < MAX_IDS) {
        R.started[R.starts] = strdup(inst->id);
        R.started_at[R.starts++] = inst->started_at;
    }
    R.running[R.nrunning++] = inst;
    return 0;
}

static void
on_changed(void *arg, const struct sched_instance *inst, enum sched_event ev)
{
    int i;

    (void)arg;
    if (ev != SCHED_EV_CREATED && ev != SCHED_EV_STATE)
        return;
    if ((i = find_id(inst->id)) < 0) {
        assert_true(R.nids < MAX_IDS);
        i = R.nids++;
        R.ids[i] = strdup(inst->id);
    }
    R.states[i] = (int)inst->state;
}

static int
on_lookup(void *arg, const char *id)
{
    int i = find_id(id);

    (void)arg;
    return i < 0 ? -1 : R.states[i];
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
setup_sched(const char *yaml, time_t now)
{
    struct sched_hooks h = {on_start, on_changed, NULL, on_lookup};
    struct catalog *cat = cat_from(yaml);

    memset(&R, 0, sizeof(R));
    S = sched_new(100, &h);
    sched_set_catalog(S, cat, now);
    catalog_unref(cat);
}

static void
teardown_sched(void)
{
    int i;

    sched_free(S);
    for (i = 0; i < R.starts; i++)
        free(R.started[i]);
    for (i = 0; i < R.nids; i++)
        free(R.ids[i]);
}

/* Finishes every running instance at now: R.fail_id fails, the others succeed. */
static void
finish_all(time_t now)
{
    while (R.nrunning) {
        struct sched_instance *inst = R.running[--R.nrunning];
        bool fail = R.fail_id && strcmp(inst->id, R.fail_id) == 0;
        sched_finished(S, inst, fail ? SCHED_FAIL : SCHED_OK, fail ? "boom" : NULL, now);
    }
}

/* Steps the clock a minute at a time over [from, to], finishing every start at once. */
static void
run_clock(time_t from, time_t to)
{
    time_t now;

    for (now = from; now <= to; now += 60) {
        sched_step(S, now);
        finish_all(now);
    }
}

static int
start_index(const char *id)
{
    int i;

    for (i = 0; i < R.starts; i++)
        if (strcmp(R.started[i], id) == 0)
            return i;
    return -1;
}

/* ---- every pair of cycle types ---- */

static const char *const kinds[] = {"minute", "hour", "day", "week", "month", "cron"};
static const char *const schedules[] = {
    "{cycle: minute, interval: 30}",
    "{cycle: hour, interval: 1}",
    "{cycle: day, start: '06:00'}",
    "{cycle: week, days: [tue], start: '07:00'}",     /* 2018-10-16 is a Tuesday */
    "{cycle: month, days: [16], start: '08:00'}",
    "{cron: '0 */2 * * *'}",
};
/* the child instance looked at, by child kind */
static const char *const child_at[] = {"20181016093000", "20181016090000", "20181016060000",
                                       "20181016070000", "20181016080000", "20181016100000"};

struct expect {
    const char *first, *last;   /* the parent's first and last matched times */
    int count;
};

/* [child][parent] */
static const struct expect expected[6][6] = {
    /* minute child at 09:30: the same time, else the nearest parent at or before */
    {{"20181016093000", "20181016093000", 1}, {"20181016090000", "20181016090000", 1},
     {"20181016060000", "20181016060000", 1}, {"20181016070000", "20181016070000", 1},
     {"20181016080000", "20181016080000", 1}, {"20181016080000", "20181016080000", 1}},
    /* hour child at 09:00: a minute parent's (08:00, 09:00]; coarser parents the nearest */
    {{"20181016083000", "20181016090000", 2}, {"20181016090000", "20181016090000", 1},
     {"20181016060000", "20181016060000", 1}, {"20181016070000", "20181016070000", 1},
     {"20181016080000", "20181016080000", 1}, {"20181016080000", "20181016080000", 1}},
    /* day child at 06:00: all of a minute or hour parent's day; a week or month parent's
     * nearest (from before the scheduler started: never made, holds nothing back) */
    {{"20181016000000", "20181016233000", 48}, {"20181016000000", "20181016230000", 24},
     {"20181016060000", "20181016060000", 1}, {"20181009070000", "20181009070000", 1},
     {"20180916080000", "20180916080000", 1}, {"20181016060000", "20181016060000", 1}},
    /* week child at 07:00 on Tuesday: finer parents' day, a month parent's nearest */
    {{"20181016000000", "20181016233000", 48}, {"20181016000000", "20181016230000", 24},
     {"20181016060000", "20181016060000", 1}, {"20181016070000", "20181016070000", 1},
     {"20180916080000", "20180916080000", 1}, {"20181016060000", "20181016060000", 1}},
    /* month child at 08:00 on the 16th: finer parents' day, a week parent's nearest */
    {{"20181016000000", "20181016233000", 48}, {"20181016000000", "20181016230000", 24},
     {"20181016060000", "20181016060000", 1}, {"20181016070000", "20181016070000", 1},
     {"20181016080000", "20181016080000", 1}, {"20181016080000", "20181016080000", 1}},
    /* cron child at 10:00: the same time with cron, else the nearest at or before */
    {{"20181016100000", "20181016100000", 1}, {"20181016100000", "20181016100000", 1},
     {"20181016060000", "20181016060000", 1}, {"20181016070000", "20181016070000", 1},
     {"20181016080000", "20181016080000", 1}, {"20181016100000", "20181016100000", 1}},
};

struct seen {
    char first[15], last[15];
    int count;
    time_t newest_made;     /* of the matched instances the scheduler made */
};

static void
on_upstream(void *arg, const char *task, time_t cyctime, int state, bool done, bool cross)
{
    struct seen *sn = arg;
    char ts[15];

    (void)task;
    (void)done;
    assert_false(cross);
    vars_format_cyctime(cyctime, ts);
    if (!sn->count)
        memcpy(sn->first, ts, 15);
    memcpy(sn->last, ts, 15);
    sn->count++;
    if (state != SCHED_UP_NEVER && cyctime > sn->newest_made)
        sn->newest_made = cyctime;
}

static void
test_every_pair(void **state)
{
    int c, p;

    for (c = 0; c < 6; c++)
        for (p = 0; p < 6; p++) {
            char yaml[1024], id[64];
            const struct expect *e = &expected[c][p];
            struct catalog *cat;
            struct seen sn;
            time_t ct = T(child_at[c]), want;
            int ci, pi;

            snprintf(yaml, sizeof(yaml),
                     "tasks:\n"
                     "  - name: up\n"
                     "    schedule: %s\n"
                     "    job: {type: job}\n"
                     "  - name: down\n"
                     "    schedule: %s\n"
                     "    depends_on: [up]\n"
                     "    job: {type: job}\n", schedules[p], schedules[c]);
            print_message("child %s, parent %s\n", kinds[c], kinds[p]);
            setup_sched(yaml, T("20181015120000"));
            /* the rule, as sched_upstream_each names it */
            cat = cat_from(yaml);
            memset(&sn, 0, sizeof(sn));
            sched_upstream_each(S, &cat->tasks[1], cat, ct, on_upstream, &sn);
            assert_int_equal(sn.count, e->count);
            assert_string_equal(sn.first, e->first);
            assert_string_equal(sn.last, e->last);
            catalog_unref(cat);
            /* and on the clock: upstream instances succeed at their time; the child starts
             * at its own time or when the last upstream instance it names succeeded */
            run_clock(T("20181015120000"), T("20181017000000"));
            snprintf(id, sizeof(id), "down@%s", child_at[c]);
            assert_true((ci = start_index(id)) >= 0);
            want = sn.newest_made > ct ? sn.newest_made : ct;
            assert_int_equal(R.started_at[ci], want);
            if (sn.newest_made) {
                snprintf(id, sizeof(id), "up@%s", sn.last);
                assert_true((pi = start_index(id)) >= 0);
                assert_true(pi < ci);
            }
            teardown_sched();
        }
}

/* ---- blocking, rerun, pause ---- */

static const char *chain_yaml =
    "tasks:\n"
    "  - name: extract\n"
    "    schedule: {cycle: minute, interval: 5}\n"
    "    retries: 0\n"
    "    job: {type: job}\n"
    "  - name: hourly\n"
    "    schedule: {cycle: hour, interval: 1}\n"
    "    depends_on: [extract]\n"
    "    job: {type: job}\n"
    "  - name: daily\n"
    "    schedule: {cycle: day}\n"
    "    depends_on: hourly\n"
    "    job: {type: job}\n";

static void
test_failed_upstream_blocks_until_rerun(void **state)
{
    struct sched_instance *h, *x;
    struct otsync_err err;

    setup_sched(chain_yaml, T("20181016000000"));
    R.fail_id = "extract@20181016003000";
    run_clock(T("20181016000000"), T("20181016013000"));
    assert_int_equal(on_lookup(NULL, "extract@20181016003000"), SCHED_FAILED);
    /* 01:00 takes extract's (00:00, 01:00]: blocked by the failed 00:30 */
    h = sched_find(S, "hourly@20181016010000");
    assert_non_null(h);
    assert_int_equal(h->state, SCHED_WAITING);
    assert_int_equal(h->wait, SCHED_WAIT_UPSTREAM);
    assert_string_equal(h->blocked_by, "extract@20181016003000");
    assert_string_equal(sched_wait_name(h->wait), "upstream");
    assert_int_equal(start_index("hourly@20181016010000"), -1);
    /* the scheduler freed the failed instance before hourly's was made (the lookup hook still
     * knows it); a rerun takes it back, as otsyncd does with the journal's copy */
    if (!(x = sched_find(S, "extract@20181016003000"))) {
        struct sched_adopt a = {.task = "extract", .cyctime = T("20181016003000"),
                                .state = SCHED_FAILED, .attempts = 1};
        assert_non_null(x = sched_adopt(S, &a, T("20181016013000"), &err));
    }
    R.fail_id = NULL;
    assert_int_equal(sched_rerun(S, x, T("20181016013000"), &err), 0);
    finish_all(T("20181016013100"));
    /* x may be freed now: the hooks' record tells */
    assert_int_equal(on_lookup(NULL, "extract@20181016003000"), SCHED_SUCCESS);
    assert_true(start_index("hourly@20181016010000") > start_index("extract@20181016003000"));
    finish_all(T("20181016013100"));
    assert_int_equal(h->state, SCHED_SUCCESS);
    teardown_sched();
}

static void
test_chain_over_a_day(void **state)
{
    int i, hi;

    setup_sched(chain_yaml, T("20181015235900"));
    run_clock(T("20181015235900"), T("20181017000100"));
    /* daily@10-16 00:00 waits for all 24 hourly instances of 10-16, each for its hour's
     * twelve extractions */
    hi = start_index("hourly@20181016230000");
    assert_true(hi >= 0);
    assert_true(start_index("daily@20181016000000") > hi);
    assert_int_equal(R.started_at[start_index("daily@20181016000000")], T("20181016230000"));
    for (i = 1; i < 24; i++) {
        char id[64], ex[64];
        snprintf(id, sizeof(id), "hourly@20181016%02d0000", i);
        snprintf(ex, sizeof(ex), "extract@20181016%02d0000", i);
        assert_true(start_index(id) > start_index(ex));
        assert_int_equal(R.started_at[start_index(id)], T("20181016000000") + i * 3600);
    }
    teardown_sched();
}

static void
test_paused_upstream_counts_as_done(void **state)
{
    setup_sched("tasks:\n"
                "  - name: up\n"
                "    schedule: {cycle: hour, interval: 1}\n"
                "    paused: true\n"
                "    job: {type: job}\n"
                "  - name: down\n"
                "    schedule: {cycle: hour, interval: 1}\n"
                "    depends_on: [up]\n"
                "    job: {type: job}\n", T("20181016000000"));
    run_clock(T("20181016000000"), T("20181016030000"));
    assert_int_equal(start_index("up@20181016010000"), -1);
    assert_int_equal(R.started_at[start_index("down@20181016010000")], T("20181016010000"));
    assert_int_equal(R.started_at[start_index("down@20181016030000")], T("20181016030000"));
    teardown_sched();
}

/* ---- cross-cycle options ---- */

static void
test_downstream_dependency(void **state)
{
    struct sched_instance *t, *d;
    struct otsync_err err;

    /* load waits for yesterday's report, which reads what load wrote */
    setup_sched("tasks:\n"
                "  - name: load\n"
                "    schedule: {cycle: day}\n"
                "    downstream_dependency: true\n"
                "    job: {type: job}\n"
                "  - name: report\n"
                "    schedule: {cycle: day}\n"
                "    depends_on: [load]\n"
                "    retries: 0\n"
                "    job: {type: job}\n", T("20181015235900"));
    R.fail_id = "report@20181016000000";
    run_clock(T("20181015235900"), T("20181017000100"));
    t = sched_find(S, "load@20181017000000");
    assert_non_null(t);
    assert_int_equal(t->wait, SCHED_WAIT_UPSTREAM);
    assert_string_equal(t->blocked_by, "report@20181016000000");
    /* held while load waits for it, unless it was freed before load's instance was made:
     * then the operator's set-success goes to the journal and the scheduler is told */
    if ((d = sched_find(S, "report@20181016000000"))) {
        assert_int_equal(sched_set_success(S, d, T("20181017000200"), &err), 0);
    } else {
        R.states[find_id("report@20181016000000")] = SCHED_SUCCESS;
        sched_recheck(S, "report", T("20181017000200"));
    }
    assert_int_equal(t->state, SCHED_RUNNING);
    teardown_sched();
}

static void
test_previous_cycle_of(void **state)
{
    struct sched_instance *t;
    int i;

    setup_sched("tasks:\n"
                "  - name: hourly\n"
                "    schedule: {cycle: hour, interval: 1}\n"
                "    job: {type: job}\n"
                "  - name: nightly\n"
                "    schedule: {cycle: day}\n"
                "    previous_cycle_of: [hourly]\n"
                "    job: {type: job}\n", T("20181015235900"));
    R.fail_id = "hourly@20181016170000";
    run_clock(T("20181015235900"), T("20181017000100"));
    /* nightly@10-17 waits for hourly's instances of its previous cycle (all of 10-16):
     * 17:00 failed */
    t = sched_find(S, "nightly@20181017000000");
    assert_non_null(t);
    assert_int_equal(t->wait, SCHED_WAIT_UPSTREAM);
    assert_string_equal(t->blocked_by, "hourly@20181016170000");
    assert_true(start_index("nightly@20181016000000") >= 0);    /* none before it: free */
    for (i = 0; i < 24; i++) {
        /* same-cycle hourly instances do not wait for nightly */
        char id[64];
        snprintf(id, sizeof(id), "hourly@20181016%02d0000", i);
        assert_true(start_index(id) >= 0);
    }
    teardown_sched();
}

/* ---- validity dates ---- */

static void
test_validity_dates(void **state)
{
    setup_sched("tasks:\n"
                "  - name: v\n"
                "    schedule: {cycle: hour, interval: 6, valid_from: 2018-10-16, "
                "valid_until: 2018-10-16}\n"
                "    job: {type: job}\n", T("20181015000000"));
    run_clock(T("20181015000000"), T("20181018000000"));
    assert_int_equal(R.starts, 4);
    assert_string_equal(R.started[0], "v@20181016000000");
    assert_string_equal(R.started[3], "v@20181016180000");
    teardown_sched();
}

/* ---- downstream instances ---- */

struct dep_list {
    char ids[64][64];
    int n;
    const struct catalog *cat;
};

static void
on_dependent(void *arg, size_t task, time_t cyctime)
{
    struct dep_list *l = arg;
    char ts[15];

    assert_true(l->n < 64);
    snprintf(l->ids[l->n++], 64, "%s@%s", l->cat->tasks[task].name,
             vars_format_cyctime(cyctime, ts));
}

static void
test_dependents(void **state)
{
    struct catalog *cat = cat_from(chain_yaml);
    struct dep_list l = {.cat = cat};
    size_t *v, n;

    /* extract 00:35 feeds hourly 01:00, hourly 05:00 feeds daily of that day */
    deps_dependents(cat, 0, T("20181016003500"), on_dependent, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "hourly@20181016010000");
    l.n = 0;
    deps_dependents(cat, 1, T("20181016050000"), on_dependent, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "daily@20181016000000");
    l.n = 0;
    deps_dependents(cat, 2, T("20181016000000"), on_dependent, &l);
    assert_int_equal(l.n, 0);
    n = deps_closure(cat, 0, false, &v);
    assert_int_equal(n, 3);
    assert_int_equal(v[0], 0);
    assert_int_equal(v[1], 1);
    assert_int_equal(v[2], 2);
    free(v);
    catalog_unref(cat);
}

static void
test_dot(void **state)
{
    struct catalog *cat = cat_from(chain_yaml);
    char *dot = deps_dot(cat, "hourly");

    assert_non_null(dot);
    assert_non_null(strstr(dot, "digraph otsync {"));
    assert_non_null(strstr(dot, "\"extract\" -> \"hourly\" [label=\"the child's interval\"];"));
    assert_non_null(strstr(dot, "\"hourly\" -> \"daily\" [label=\"that day\"];"));
    free(dot);
    assert_null(deps_dot(cat, "nosuch"));
    catalog_unref(cat);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_failed_upstream_blocks_until_rerun),
        cmocka_unit_test(test_chain_over_a_day),
        cmocka_unit_test(test_paused_upstream_counts_as_done),
        cmocka_unit_test(test_downstream_dependency),
        cmocka_unit_test(test_previous_cycle_of),
        cmocka_unit_test(test_validity_dates),
        cmocka_unit_test(test_dependents),
        cmocka_unit_test(test_dot),
    };

    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
