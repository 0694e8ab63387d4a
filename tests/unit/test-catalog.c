/*
 * test-catalog.c - the catalogue and daemon config loaders: defaults, inline and file jobs,
 * and every mistake reported with its file:line:col in one pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "otsync/catalog.h"

static char dir[] = "/tmp/otsync-catalog-XXXXXX";

static void
write_file(const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
}

/* Loads text; returns the diag's entries joined by newlines (caller frees). */
static char *
load(const char *text, struct catalog **ret_cat, int *ret_rc)
{
    struct diag d;
    char *out;
    size_t i, n = 1;

    diag_init(&d);
    *ret_rc = catalog_load_string(text, "c.yaml", dir, &d, ret_cat);
    for (i = 0; i < d.count; i++)
        n += strlen(d.v[i].text) + 1;
    out = calloc(1, n);
    for (i = 0; i < d.count; i++) {
        strcat(out, d.v[i].text);
        strcat(out, "\n");
    }
    diag_fini(&d);
    return out;
}

static void
test_full_task(void **state)
{
    struct catalog *cat = NULL;
    const struct catalog_task *t;
    int rc;
    char *msgs = load("tasks:\n"
                      "  - name: gps_to_oss\n"
                      "    schedule: {cycle: minute, start: '00:00', end: '23:59', interval: 5}\n"
                      "    self_dependency: true\n"
                      "    retries: 5\n"
                      "    retry_interval: 90s\n"
                      "    paused: false\n"
                      "    params:\n"
                      "      startTime: $[yyyymmddhh24miss-10/24/60]\n"
                      "      endTime: $[yyyymmddhh24miss-5/24/60]\n"
                      "    job:\n"
                      "      type: job\n"
                      "      version: \"1.0\"\n"
                      "      n: 3\n"
                      "      on: true\n"
                      "      none: null\n"
                      "      window: '${startTime}..${endTime}'\n",
                      &cat, &rc);

    assert_string_equal(msgs, "");
    assert_int_equal(rc, 0);
    assert_int_equal(cat->task_count, 1);
    t = catalog_find(cat, "gps_to_oss");
    assert_non_null(t);
    assert_int_equal(t->cycle.kind, CYCLE_MINUTE);
    assert_int_equal(t->cycle.interval, 5);
    assert_int_equal(t->cycle.end_min, 1439);
    assert_true(t->self_dependency);
    assert_true(t->catchup);            /* defaults to self_dependency */
    assert_int_equal(t->retries, 5);
    assert_int_equal(t->retry_interval_s, 90);
    assert_int_equal(t->param_count, 2);
    assert_string_equal(t->params[1].name, "endTime");
    assert_string_equal(t->params[1].expr, "$[yyyymmddhh24miss-5/24/60]");
    assert_int_equal(t->params[1].mark.line, 10);
    assert_string_equal(json_string_value(json_object_get(t->job, "version")), "1.0");
    assert_int_equal(json_integer_value(json_object_get(t->job, "n")), 3);
    assert_true(json_is_true(json_object_get(t->job, "on")));
    assert_true(json_is_null(json_object_get(t->job, "none")));
    assert_null(catalog_find(cat, "nope"));
    free(msgs);
    catalog_unref(cat);
}

static void
test_defaults_and_cron(void **state)
{
    struct catalog *cat = NULL;
    const struct catalog_task *t;
    int rc;
    char *msgs = load("tasks:\n"
                      "  - name: nightly\n"
                      "    schedule: {cron: '30 2 * * mon-fri'}\n"
                      "    job: {x: 1}\n"
                      "  - name: weekly\n"
                      "    schedule: {cycle: week, start: '06:00', days: [mon, 3, fri]}\n"
                      "    job: {x: 1}\n",
                      &cat, &rc);

    assert_string_equal(msgs, "");
    t = catalog_find(cat, "nightly");
    assert_int_equal(t->cycle.kind, CYCLE_CRON);
    assert_int_equal(t->retries, 3);
    assert_int_equal(t->retry_interval_s, 120);
    assert_false(t->self_dependency);
    assert_false(t->catchup);
    t = catalog_find(cat, "weekly");
    assert_int_equal(t->cycle.dow_mask, (1 << 1) | (1 << 3) | (1 << 5));
    assert_int_equal(t->cycle.start_min, 360);
    free(msgs);
    catalog_unref(cat);
}

static void
test_three_mistakes_in_one_pass(void **state)
{
    struct catalog *cat = NULL;
    int rc;
    char want[1024];
    char *msgs = load("tasks:\n"
                      "  - name: a\n"
                      "    shedule: {cycle: minute, interval: 5}\n"
                      "    job: {x: 1}\n"
                      "  - name: b\n"
                      "    schedule: {cron: '61 * * * *'}\n"
                      "    job: {x: '${nope}'}\n",
                      &cat, &rc);

    assert_int_equal(rc, -OTSYNC_ECONFIG);
    assert_null(cat);
    snprintf(want, sizeof(want),
             "%s/c.yaml:3:5: error: task 'a': unknown key 'shedule' (known: name, schedule, "
             "self_dependency, retries, retry_interval, catchup, paused, params, job)\n"
             "%s/c.yaml:2:5: error: task 'a': missing 'schedule'\n"
             "%s/c.yaml:6:23: error: task 'b': schedule.cron: minute 61 out of range 0-59\n"
             "%s/c.yaml:7:15: error: task 'b': job: undefined parameter 'nope'\n",
             dir, dir, dir, dir);
    assert_string_equal(msgs, want);
    free(msgs);
}

static void
test_duplicates_and_types(void **state)
{
    struct catalog *cat = NULL;
    int rc;
    char *msgs = load("tasks:\n"
                      "  - name: a\n"
                      "    schedule: {cycle: hour, interval: 25}\n"
                      "    retries: many\n"
                      "    self_dependency: maybe\n"
                      "    job: {x: 1}\n"
                      "  - name: a\n"
                      "    schedule: {cycle: fortnight}\n"
                      "    job: {x: 1}\n",
                      &cat, &rc);

    assert_int_equal(rc, -OTSYNC_ECONFIG);
    assert_non_null(strstr(msgs, "c.yaml:3:39: error: task 'a': schedule.interval: 25 out of "
                                 "range 1-24"));
    assert_non_null(strstr(msgs, "c.yaml:4:14: error: task 'a': retries: expected an integer, got 'many'"));
    assert_non_null(strstr(msgs, "c.yaml:5:22: error: task 'a': self_dependency: expected true or false"));
    assert_non_null(strstr(msgs, "c.yaml:7:11: error: task 'a': name already used at "));
    assert_non_null(strstr(msgs, "'fortnight' is not one of minute, hour, day, week, month"));
    free(msgs);
}

static void
test_yaml_syntax_error(void **state)
{
    struct catalog *cat = NULL;
    int rc;
    char *msgs = load("tasks:\n  - name: a\n    job: [1, 2\n", &cat, &rc);

    assert_int_equal(rc, -OTSYNC_ECONFIG);
    assert_non_null(strstr(msgs, "c.yaml:4:1: error: YAML syntax: "));
    free(msgs);
}

static void
test_job_files_and_glob(void **state)
{
    struct diag d;
    struct catalog *cat = NULL;
    char pattern[256];
    int rc;

    write_file("job.json", "{\"type\": \"job\", \"v\": \"${startTime}\"}");
    write_file("bad.json", "{\"type\": \"job\",\n  \"v\": }");
    write_file("a.yaml", "tasks:\n  - name: one\n    schedule: {cycle: day}\n"
                         "    params: {startTime: '$[yyyymmdd]'}\n    job: job.json\n");
    write_file("b.yaml", "tasks:\n  - name: one\n    schedule: {cycle: day}\n"
                         "    job: bad.json\n");
    diag_init(&d);
    snprintf(pattern, sizeof(pattern), "%s/a.yaml", dir);
    rc = catalog_load(pattern, NULL, &d, &cat);
    assert_int_equal(rc, 0);
    assert_string_equal(json_string_value(json_object_get(cat->tasks[0].job, "v")),
                        "${startTime}");
    catalog_unref(cat);
    cat = NULL;
    diag_fini(&d);

    /* both files: the JSON error at its own line:col, the duplicate name across files */
    diag_init(&d);
    rc = catalog_load("*.yaml", dir, &d, &cat);
    assert_int_equal(rc, -OTSYNC_ECONFIG);
    assert_int_equal(d.errors, 2);
    assert_non_null(strstr(d.v[0].text, "name already used at "));
    assert_non_null(strstr(d.v[1].text, "/bad.json:2:8: error: task 'one': job JSON: "));
    diag_fini(&d);

    diag_init(&d);
    rc = catalog_load("nothing-*.yaml", dir, &d, &cat);
    assert_int_equal(rc, -OTSYNC_ECONFIG);
    assert_non_null(strstr(d.v[0].text, "matches no file"));
    diag_fini(&d);
}

static void
test_daemon_config(void **state)
{
    struct daemon_config c;
    struct diag d;
    char path[256], want[256];

    write_file("empty.yaml", "");
    snprintf(path, sizeof(path), "%s/empty.yaml", dir);
    diag_init(&d);
    assert_int_equal(daemon_config_load(path, &d, &c), 0);
    assert_string_equal(c.state_dir, "/var/lib/otsync");
    snprintf(want, sizeof(want), "%s/tasks.d/*.yaml", dir);
    assert_string_equal(c.catalogue, want);
    assert_int_equal(c.max_running, 8);
    assert_int_equal(c.shutdown_grace_s, 60);
    assert_null(c.timezone);
    daemon_config_fini(&c);
    diag_fini(&d);

    write_file("good.yaml", "state_dir: state\ntimezone: Asia/Shanghai\nmax_running: 3\n"
                            "shutdown_grace: 2m\nlog_level: debug\n");
    snprintf(path, sizeof(path), "%s/good.yaml", dir);
    diag_init(&d);
    assert_int_equal(daemon_config_load(path, &d, &c), 0);
    snprintf(want, sizeof(want), "%s/state", dir);
    assert_string_equal(c.state_dir, want);
    assert_string_equal(c.timezone, "Asia/Shanghai");
    assert_int_equal(c.max_running, 3);
    assert_int_equal(c.shutdown_grace_s, 120);
    daemon_config_fini(&c);
    diag_fini(&d);

    write_file("bad.yaml", "timezone: Mars/Olympus\nmax_runing: 3\n");
    snprintf(path, sizeof(path), "%s/bad.yaml", dir);
    diag_init(&d);
    assert_int_equal(daemon_config_load(path, &d, &c), -OTSYNC_ECONFIG);
    assert_int_equal(d.errors, 2);
    assert_non_null(strstr(d.v[0].text, "bad.yaml:2:1: error: otsyncd: unknown key 'max_runing'"));
    assert_non_null(strstr(d.v[1].text, "bad.yaml:1:11: error: timezone: unknown zone"));
    diag_fini(&d);
}

static int
setup(void **state)
{
    return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_task),
        cmocka_unit_test(test_defaults_and_cron),
        cmocka_unit_test(test_three_mistakes_in_one_pass),
        cmocka_unit_test(test_duplicates_and_types),
        cmocka_unit_test(test_yaml_syntax_error),
        cmocka_unit_test(test_job_files_and_glob),
        cmocka_unit_test(test_daemon_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
