/*
 * test-catalog.c - the catalogue and daemon config loaders (catalog.c, config.c, yamlnode.c):
 * every key and its default, inline and file jobs, and every mistake reported with its exact
 * file:line:col in one pass. Files live in a mkdtemp directory removed at the end.
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
#include "otsync/log.h"

static char dir[] = "/tmp/otsync-catalog-XXXXXX";

static void
write_file(const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* d's entries, one per line, with the temp dir replaced by "D" so expectations read plainly. */
static char *
messages(const struct diag *d)
{
    size_t i, n = 1, dl = strlen(dir);
    char *out, *o;
    const char *s;

    for (i = 0; i < d->count; i++)
        n += strlen(d->v[i].text) + 1;
    assert_non_null(out = calloc(1, n));
    for (i = 0, o = out; i < d->count; i++) {
        for (s = d->v[i].text; *s;) {
            if (strncmp(s, dir, dl) == 0) {
                *o++ = 'D';
                s += dl;
            } else {
                *o++ = *s++;
            }
        }
        *o++ = '\n';
    }
    return out;
}

/* Loads text as D/c.yaml; returns the messages (caller frees). */
static char *
load(const char *text, struct catalog **ret_cat, int *ret_rc)
{
    struct diag d;
    char *out;

    diag_init(&d);
    *ret_rc = catalog_load_string(text, "c.yaml", dir, &d, ret_cat);
    out = messages(&d);
    diag_fini(&d);
    return out;
}

/* Loads a catalogue that must be clean; fails the test with its messages otherwise. */
static struct catalog *
load_ok(const char *text)
{
    struct catalog *cat = NULL;
    int rc;
    char *msgs = load(text, &cat, &rc);

    assert_string_equal(msgs, "");
    assert_int_equal(rc, 0);
    assert_non_null(cat);
    free(msgs);
    return cat;
}

/* Loads a catalogue that must fail with exactly `want` (D = the temp dir). */
static void
load_fails(const char *text, const char *want)
{
    struct catalog *cat = NULL;
    int rc;
    char *msgs = load(text, &cat, &rc);

    assert_string_equal(msgs, want);
    assert_int_equal(rc, -OTSYNC_ECONFIG);
    assert_null(cat);
    free(msgs);
}

static void
assert_json_equal(const json_t *got, const char *want_text)
{
    json_error_t je;
    json_t *want = json_loads(want_text, 0, &je);
    char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);

    assert_non_null(want);
    assert_string_equal(g, w);
    assert_true(json_equal(got, want));
    free(g);
    free(w);
    json_decref(want);
}

static void
test_every_key(void **state)
{
    const struct catalog_task *t;
    struct catalog *cat = load_ok(
        "tasks:\n"
        "  - name: gps_to_oss\n"
        "    schedule:\n"
        "      cycle: minute\n"
        "      start: \"00:30\"\n"
        "      end: \"22:00\"\n"
        "      interval: 5\n"
        "    self_dependency: true\n"
        "    retries: 5\n"
        "    retry_interval: 90s\n"
        "    catchup: false\n"
        "    paused: true\n"
        "    params:\n"
        "      startTime: $[yyyymmddhh24miss-10/24/60]\n"
        "      endTime: '$[yyyymmddhh24miss-5/24/60]'\n"
        "    job: {window: '${startTime}..${endTime}'}\n");

    assert_int_equal(cat->refs, 1);
    assert_int_equal(cat->task_count, 1);
    assert_int_equal(cat->file_count, 1);
    t = catalog_find(cat, "gps_to_oss");
    assert_ptr_equal(t, &cat->tasks[0]);
    assert_string_equal(t->name, "gps_to_oss");
    assert_int_equal(t->mark.line, 2);
    assert_int_equal(t->mark.col, 5);
    assert_int_equal(t->cycle.kind, CYCLE_MINUTE);
    assert_int_equal(t->cycle.start_min, 30);
    assert_int_equal(t->cycle.end_min, 22 * 60);
    assert_int_equal(t->cycle.interval, 5);
    assert_true(t->self_dependency);
    assert_int_equal(t->retries, 5);
    assert_int_equal(t->retry_interval_s, 90);
    assert_false(t->catchup);           /* given, so not the self_dependency default */
    assert_true(t->paused);
    assert_int_equal(t->param_count, 2);
    assert_string_equal(t->params[0].name, "startTime");
    assert_string_equal(t->params[0].expr, "$[yyyymmddhh24miss-10/24/60]");
    assert_int_equal(t->params[0].mark.line, 14);
    assert_int_equal(t->params[0].mark.col, 18);
    assert_string_equal(t->params[1].name, "endTime");
    assert_string_equal(t->params[1].expr, "$[yyyymmddhh24miss-5/24/60]");
    assert_int_equal(t->params[1].mark.line, 15);
    assert_json_equal(t->job, "{\"window\": \"${startTime}..${endTime}\"}");
    assert_non_null(strstr(t->job_source, "/c.yaml"));
    assert_null(catalog_find(cat, "nope"));
    assert_ptr_equal(catalog_ref(cat), cat);
    assert_int_equal(cat->refs, 2);
    catalog_unref(cat);
    catalog_unref(cat);
    catalog_unref(NULL);
}

static void
test_defaults(void **state)
{
    const struct catalog_task *t;
    struct catalog *cat = load_ok("tasks:\n"
                                  "  - name: hourly\n"
                                  "    schedule: {cycle: hour}\n"
                                  "    job: {x: 1}\n"
                                  "  - name: chained\n"
                                  "    schedule: {cycle: day, start: '02:15'}\n"
                                  "    self_dependency: yes\n"
                                  "    job: {x: 1}\n");

    t = catalog_find(cat, "hourly");
    assert_int_equal(t->cycle.kind, CYCLE_HOUR);
    assert_int_equal(t->cycle.start_min, 0);
    assert_int_equal(t->cycle.end_min, 23 * 60 + 59);
    assert_int_equal(t->cycle.interval, 1);
    assert_false(t->self_dependency);
    assert_int_equal(t->retries, 3);
    assert_int_equal(t->retry_interval_s, 120);
    assert_false(t->catchup);
    assert_false(t->paused);
    assert_int_equal(t->param_count, 0);
    t = catalog_find(cat, "chained");
    assert_int_equal(t->cycle.kind, CYCLE_DAY);
    assert_int_equal(t->cycle.start_min, 2 * 60 + 15);
    assert_true(t->self_dependency);
    assert_true(t->catchup);            /* defaults to self_dependency */
    catalog_unref(cat);
}

static void
test_schedules(void **state)
{
    const struct catalog_task *t;
    struct catalog *cat = load_ok("tasks:\n"
                                  "  - name: nightly\n"
                                  "    schedule: {cron: '30 2 * * mon-fri'}\n"
                                  "    job: {x: 1}\n"
                                  "  - name: weekly\n"
                                  "    schedule: {cycle: week, start: '06:00', days: [Mon, 3, 7]}\n"
                                  "    job: {x: 1}\n"
                                  "  - name: monthly\n"
                                  "    schedule: {cycle: month, days: [1, 15, last]}\n"
                                  "    retry_interval: 1h\n"
                                  "    job: {x: 1}\n");

    t = catalog_find(cat, "nightly");
    assert_int_equal(t->cycle.kind, CYCLE_CRON);
    assert_int_equal(t->cycle.cron_min, 1ull << 30);
    assert_int_equal(t->cycle.cron_hour, 1u << 2);
    assert_int_equal(t->cycle.cron_dow, 0x3e);
    t = catalog_find(cat, "weekly");
    assert_int_equal(t->cycle.kind, CYCLE_WEEK);
    assert_int_equal(t->cycle.dow_mask, (1 << 0) | (1 << 1) | (1 << 3));
    assert_int_equal(t->cycle.start_min, 360);
    t = catalog_find(cat, "monthly");
    assert_int_equal(t->cycle.kind, CYCLE_MONTH);
    assert_int_equal(t->cycle.dom_mask, (1u << 0) | (1u << 1) | (1u << 15));
    assert_int_equal(t->retry_interval_s, 3600);
    catalog_unref(cat);
}

static void
test_inline_job_json(void **state)
{
    struct catalog *cat = load_ok(
        "tasks:\n"
        "  - name: t\n"
        "    schedule: {cycle: day}\n"
        "    params: {day: '$[yyyymmdd]'}\n"
        "    job:\n"
        "      type: job\n"
        "      version: \"1.0\"\n"
        "      count: 3\n"
        "      negative: -12\n"
        "      ratio: 0.25\n"
        "      big: 1e3\n"
        "      quoted_number: '42'\n"
        "      yes_is_text: yes\n"
        "      on: true\n"
        "      off: False\n"
        "      none: null\n"
        "      tilde: ~\n"
        "      empty:\n"
        "      quoted_null: 'null'\n"
        "      zip: 01234\n"
        "      version_like: 1.2.3\n"
        "      configuration:\n"
        "        reader:\n"
        "          plugin: stream\n"
        "          parameter:\n"
        "            column: [{type: string, value: '${day}'}, {type: long, value: 7}]\n"
        "            path: |\n"
        "              /data/${day}\n");

    assert_json_equal(cat->tasks[0].job,
                      "{\"type\": \"job\", \"version\": \"1.0\", \"count\": 3, \"negative\": -12,"
                      " \"ratio\": 0.25, \"big\": 1000.0, \"quoted_number\": \"42\","
                      " \"yes_is_text\": \"yes\", \"on\": true, \"off\": false, \"none\": null,"
                      " \"tilde\": null, \"empty\": null, \"quoted_null\": \"null\", \"zip\": 1234,"
                      " \"version_like\": \"1.2.3\","
                      " \"configuration\": {\"reader\": {\"plugin\": \"stream\", \"parameter\":"
                      " {\"column\": [{\"type\": \"string\", \"value\": \"${day}\"},"
                      " {\"type\": \"long\", \"value\": 7}], \"path\": \"/data/${day}\\n\"}}}}");
    catalog_unref(cat);
}

static void
test_file_job(void **state)
{
    struct catalog *cat;
    char want[512];

    write_file("job.json", "{\"type\": \"job\", \"configuration\": {\"reader\": {\"parameter\":"
                           " {\"begin\": \"${startTime}\", \"n\": 5}}}}");
    cat = load_ok("tasks:\n"
                  "  - name: one\n"
                  "    schedule: {cycle: day}\n"
                  "    params: {startTime: '$[yyyymmdd]'}\n"
                  "    job: job.json\n");
    assert_json_equal(cat->tasks[0].job, "{\"type\": \"job\", \"configuration\": {\"reader\":"
                                         " {\"parameter\": {\"begin\": \"${startTime}\","
                                         " \"n\": 5}}}}");
    snprintf(want, sizeof(want), "%s/job.json", dir);
    assert_string_equal(cat->tasks[0].job_source, want);
    assert_int_equal(cat->file_count, 2);
    assert_string_equal(cat->files[1], want);
    catalog_unref(cat);
}

static void
test_three_mistakes(void **state)
{
    /* an unknown key, a bad time token, a placeholder no param defines: three errors */
    load_fails("tasks:\n"
               "  - name: gps_to_oss\n"
               "    schedule: {cycle: minute, interval: 5}\n"
               "    retires: 3\n"
               "    job: {type: job}\n"
               "  - name: second\n"
               "    schedule: {cycle: minute, interval: 5}\n"
               "    params:\n"
               "      endTime: $[yyyymmddhh-5/24/60]\n"
               "    job:\n"
               "      type: job\n"
               "      reader: {column: [{type: string, value: \"${startTime}\"}]}\n",
               "D/c.yaml:4:5: error: task 'gps_to_oss': unknown key 'retires' (known: name, "
               "schedule, depends_on, self_dependency, downstream_dependency, previous_cycle_of, "
               "retries, retry_interval, catchup, paused, params, job)\n"
               "D/c.yaml:9:16: error: task 'second': param 'endTime': unknown token 'hh' in "
               "'$[yyyymmddhh-5/24/60]'\n"
               "D/c.yaml:12:48: error: task 'second': job.reader.column[0].value: undefined "
               "parameter 'startTime'\n");
}

static void
test_unknown_key(void **state)
{
    load_fails("tasks:\n"
               "  - name: gps_to_oss\n"
               "    shedule: {cycle: day}\n"
               "    job: {x: 1}\n",
               "D/c.yaml:3:5: error: task 'gps_to_oss': unknown key 'shedule' (known: name, "
               "schedule, depends_on, self_dependency, downstream_dependency, previous_cycle_of, "
               "retries, retry_interval, catchup, paused, params, job)\n"
               "D/c.yaml:2:5: error: task 'gps_to_oss': missing 'schedule'\n");
    load_fails("tasks:\n"
               "  - name: a\n"
               "    schedule: {cycle: hour, intervall: 2}\n"
               "    job: {x: 1}\n"
               "tasks_extra: 1\n",
               "D/c.yaml:3:29: error: task 'a': schedule: unknown key 'intervall' (known: cycle,"
               " cron, start, end, interval, days, valid_from, valid_until)\n"
               "D/c.yaml:5:1: error: catalogue: unknown key 'tasks_extra' (known: tasks)\n");
}

static void
test_types_and_values(void **state)
{
    load_fails("tasks:\n"
               "  - name: a\n"
               "    schedule: {cycle: hour, interval: 25, end: '24:00'}\n"
               "    retries: many\n"
               "    self_dependency: maybe\n"
               "    retry_interval: 5 minutes\n"
               "    paused: [true]\n"
               "    catchup: true\n"
               "    catchup: false\n"
               "    params: {1st: '$[yyyymmdd]', ok: {x: 1}}\n"
               "    job: [1, 2]\n"
               "  - name: b c\n"
               "    schedule: {cycle: fortnight}\n"
               "    job: {x: 1}\n"
               "  - just a string\n"
               "  - schedule: {cycle: week, days: [someday, 8]}\n"
               "    retries: 101\n"
               "    job: {}\n",
               "D/c.yaml:3:48: error: task 'a': schedule.end: expected a time of day HH:MM "
               "(00:00-23:59), got '24:00'\n"
               "D/c.yaml:3:39: error: task 'a': schedule.interval: 25 is out of range 1-24\n"
               "D/c.yaml:4:14: error: task 'a': retries: expected an integer, got 'many'\n"
               "D/c.yaml:5:22: error: task 'a': self_dependency: expected true or false, got "
               "'maybe'\n"
               "D/c.yaml:6:21: error: task 'a': retry_interval: expected a duration such as 90s,"
               " 2m or 1h, got '5 minutes'\n"
               "D/c.yaml:7:13: error: task 'a': paused: expected true or false, got a list\n"
               "D/c.yaml:9:5: error: task 'a': key 'catchup' given twice\n"
               "D/c.yaml:10:14: error: task 'a': param name '1st' must match "
               "[A-Za-z_][A-Za-z0-9_.]*\n"
               "D/c.yaml:10:38: error: task 'a': param 'ok': expected a string, got a mapping\n"
               "D/c.yaml:11:10: error: task 'a': job: expected a job file name or an inline "
               "mapping, got a list\n"
               "D/c.yaml:12:11: error: task 'b c': a task name is 1-200 of A-Z a-z 0-9 _ . - "
               "(and not . or ..)\n"
               "D/c.yaml:13:23: error: task 'b c': schedule.cycle: 'fortnight' is not one of "
               "minute, hour, day, week, month\n"
               "D/c.yaml:15:5: error: task: expected a mapping of name, schedule, job, ..., got "
               "a string\n"
               "D/c.yaml:16:5: error: task: missing 'name'\n"
               "D/c.yaml:16:36: error: task: schedule.days: 'someday' is not a day of the week "
               "(sun..sat or 0-7)\n"
               "D/c.yaml:16:45: error: task: schedule.days: '8' is not a day of the week "
               "(sun..sat or 0-7)\n"
               "D/c.yaml:17:14: error: task: retries: 101 is out of range 0-100\n");
}

static void
test_schedule_mistakes(void **state)
{
    load_fails("tasks:\n"
               "  - name: a\n"
               "    schedule: {cron: '*/5 * * * *', cycle: day, start: '01:00'}\n"
               "    job: {x: 1}\n"
               "  - name: b\n"
               "    schedule: {cycle: minute, start: '10:00', end: '09:00', interval: 5}\n"
               "    job: {x: 1}\n"
               "  - name: c\n"
               "    schedule: {cycle: day, interval: 2, days: [1]}\n"
               "    job: {x: 1}\n"
               "  - name: d\n"
               "    schedule: {cycle: minute}\n"
               "    job: {x: 1}\n"
               "  - name: e\n"
               "    schedule: {cycle: month}\n"
               "    job: {x: 1}\n"
               "  - name: f\n"
               "    schedule: {start: '01:00'}\n"
               "    job: {x: 1}\n",
               "D/c.yaml:3:37: error: task 'a': schedule.cycle: not used with cron (give either "
               "cron or cycle)\n"
               "D/c.yaml:3:49: error: task 'a': schedule.start: not used with cron (give either "
               "cron or cycle)\n"
               "D/c.yaml:6:15: error: task 'b': schedule: start 10:00 is after end 09:00\n"
               "D/c.yaml:9:28: error: task 'c': schedule.interval: only minute and hour cycles "
               "have an interval\n"
               "D/c.yaml:9:41: error: task 'c': schedule.days: only week and month cycles have "
               "days\n"
               "D/c.yaml:12:15: error: task 'd': schedule: a minute cycle needs an interval\n"
               "D/c.yaml:15:15: error: task 'e': schedule: a month cycle needs days\n"
               "D/c.yaml:18:15: error: task 'f': schedule: missing 'cycle' (or 'cron')\n");
}

static void
test_bad_cron_column(void **state)
{
    /* the column of the bad field: the scalar's column, past its quote, plus the offset */
    load_fails("tasks:\n"
               "  - name: a\n"
               "    schedule: {cron: '0 25 * * *'}\n"
               "    job: {x: 1}\n"
               "  - name: b\n"
               "    schedule:\n"
               "      cron: 0 0 * * funday\n"
               "    job: {x: 1}\n",
               "D/c.yaml:3:25: error: task 'a': schedule.cron: hour 25 out of range 0-23\n"
               "D/c.yaml:7:21: error: task 'b': schedule.cron: unknown day-of-week name 'funday' "
               "(expected sun..sat)\n");
}

static void
test_undefined_placeholder(void **state)
{
    /* inline: at the scalar's own column plus the offset of the placeholder */
    load_fails("tasks:\n"
               "  - name: a\n"
               "    schedule: {cycle: day}\n"
               "    params: {startTime: '$[yyyymmdd]'}\n"
               "    job:\n"
               "      where: \"id > ${startTime} and id < ${endTime}\"\n"
               "      plain: ${startTime}/${nope}\n",
               "D/c.yaml:6:42: error: task 'a': job.where: undefined parameter 'endTime'\n"
               "D/c.yaml:7:27: error: task 'a': job.plain: undefined parameter 'nope'\n");

    /* a job file: its JSON path, at the catalogue's job: value */
    write_file("undef.json", "{\"configuration\": {\"reader\": {\"parameter\": {\"column\":"
                             " [{\"value\": \"${x}\"}]}}}}");
    load_fails("tasks:\n"
               "  - name: a\n"
               "    schedule: {cycle: day}\n"
               "    job: undef.json\n",
               "D/c.yaml:4:10: error: task 'a': D/undef.json: job JSON path "
               "configuration.reader.parameter.column[0].value: undefined parameter 'x'\n");
}

static void
test_param_expression_column(void **state)
{
    /* plain and quoted scalars; a param may not use another param */
    load_fails("tasks:\n"
               "  - name: a\n"
               "    schedule: {cycle: day}\n"
               "    params:\n"
               "      p1: $[yyyymmdd-1x]\n"
               "      p2: 'at $[yyyymmdd] $[hh]'\n"
               "      p3: ${p1}\n"
               "    job: {x: '${p1}${p2}${p3}'}\n",
               "D/c.yaml:5:11: error: task 'a': param 'p1': bad offset '-1x' in "
               "'$[yyyymmdd-1x]' (expected N, N/24 or N/24/60 days)\n"
               "D/c.yaml:6:27: error: task 'a': param 'p2': unknown token 'hh' in '$[hh]'\n"
               "D/c.yaml:7:11: error: task 'a': param 'p3': undefined parameter 'p1'\n");
}

static void
test_yaml_syntax_error(void **state)
{
    load_fails("tasks:\n  - name: a\n    job: [1, 2\n",
               "D/c.yaml:4:1: error: YAML syntax: did not find expected ',' or ']' while "
               "parsing a flow sequence\n");
    load_fails("tasks:\n  - name: a\n  name: b\n",
               "D/c.yaml:3:3: error: YAML syntax: did not find expected '-' indicator while "
               "parsing a block collection\n");
    load_fails("tasks: []\n---\ntasks: []\n",
               "D/c.yaml:3:1: error: a second YAML document; a file holds one\n");
    load_fails("tasks:\n  - name: caf\xc3\n",
               "D/c.yaml:2:15: error: YAML: invalid trailing UTF-8 octet\n");
}

static void
test_aliases_bounded(void **state)
{
    /* a recursive alias must be an error, not a stack overflow */
    load_fails("tasks:\n"
               "  - name: a\n"
               "    schedule: {cycle: day}\n"
               "    job: &x {k: [*x]}\n",
               "D/c.yaml:4:17: error: task 'a': job: nested more than 64 levels deep (a "
               "recursive alias?)\n");
    /* plain aliases are fine */
    {
        struct catalog *cat = load_ok("tasks:\n"
                                      "  - name: a\n"
                                      "    schedule: &s {cycle: day}\n"
                                      "    job: {a: &v [1, 2], b: *v}\n"
                                      "  - name: b\n"
                                      "    schedule: *s\n"
                                      "    job: {x: 1}\n");
        assert_json_equal(cat->tasks[0].job, "{\"a\": [1, 2], \"b\": [1, 2]}");
        assert_int_equal(cat->tasks[1].cycle.kind, CYCLE_DAY);
        catalog_unref(cat);
    }
}

static void
test_files_and_glob(void **state)
{
    struct catalog *cat = NULL;
    struct diag d;
    char *msgs, want[1024];
    int rc;

    write_file("g1.yaml", "tasks:\n  - name: one\n    schedule: {cycle: day}\n"
                          "    job: {x: 1}\n");
    write_file("g2.yaml", "# every task commented out\ntasks:\n");
    write_file("g3.yaml", "tasks:\n  - name: two\n    schedule: {cycle: day}\n"
                          "    job: {x: 2}\n");
    diag_init(&d);
    rc = catalog_load("g*.yaml", dir, &d, &cat);
    assert_int_equal(rc, 0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(cat->task_count, 2);
    assert_string_equal(cat->tasks[0].name, "one");
    assert_string_equal(cat->tasks[1].name, "two");
    assert_int_equal(cat->file_count, 3);
    snprintf(want, sizeof(want), "%s/g3.yaml", dir);
    assert_string_equal(cat->files[2], want);
    assert_ptr_equal(cat->tasks[1].mark.file, cat->files[2]);
    catalog_unref(cat);
    diag_fini(&d);

    /* the same name in two files; a job file with a JSON error at its own line:col */
    write_file("h1.yaml", "tasks:\n  - name: one\n    schedule: {cycle: day}\n"
                          "    job: {x: 1}\n");
    write_file("h2.yaml", "tasks:\n  - name: x\n    schedule: {cycle: day}\n"
                          "    job: bad.json\n"
                          "  - name: one\n    schedule: {cycle: day}\n"
                          "    job: missing.json\n");
    write_file("bad.json", "{\"type\": \"job\",\n  \"v\": }");
    diag_init(&d);
    cat = (struct catalog *)&d;     /* must come back NULL */
    rc = catalog_load("h*.yaml", dir, &d, &cat);
    assert_int_equal(rc, -OTSYNC_ECONFIG);
    assert_null(cat);
    msgs = messages(&d);
    assert_string_equal(msgs,
                        "D/bad.json:2:8: error: task 'x': job JSON: unexpected token near '}'\n"
                        "D/h2.yaml:5:11: error: task 'one': name already used at D/h1.yaml:2:5\n"
                        "D/h2.yaml:7:10: error: task 'one': job: unable to open D/missing.json: "
                        "No such file or directory\n");
    free(msgs);
    diag_fini(&d);

    diag_init(&d);
    rc = catalog_load("nothing-*.yaml", dir, &d, &cat);
    assert_int_equal(rc, -OTSYNC_ECONFIG);
    msgs = messages(&d);
    assert_string_equal(msgs, "error: catalogue 'D/nothing-*.yaml' matches no file\n");
    free(msgs);
    diag_fini(&d);
}

static void
test_empty_files(void **state)
{
    struct catalog *cat;
    struct diag d;
    char *msgs;

    diag_init(&d);
    assert_int_equal(catalog_load_string("# nothing yet\n", "c.yaml", dir, &d, &cat), 0);
    assert_int_equal(cat->task_count, 0);
    msgs = messages(&d);
    assert_string_equal(msgs, "D/c.yaml: warning: empty catalogue file\n");
    free(msgs);
    catalog_unref(cat);
    diag_fini(&d);
    load_fails("- name: a\n",
               "D/c.yaml:1:1: error: catalogue: expected a mapping with a 'tasks' list, got a "
               "list\n");
}

/* ---- daemon config ---- */

static int
config(const char *file, const char *text, struct daemon_config *c, char **ret_msgs)
{
    struct diag d;
    char path[256];
    int rc;

    write_file(file, text);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    diag_init(&d);
    rc = daemon_config_load(path, &d, c);
    *ret_msgs = messages(&d);
    diag_fini(&d);
    return rc;
}

static void
test_config_defaults(void **state)
{
    struct daemon_config c;
    char *msgs, want[256];

    assert_int_equal(config("empty.yaml", "", &c, &msgs), 0);
    assert_string_equal(msgs, "");
    snprintf(want, sizeof(want), "%s/empty.yaml", dir);
    assert_string_equal(c.path, want);
    assert_string_equal(c.state_dir, "/var/lib/otsync");
    assert_string_equal(c.socket, "/run/otsync/otsyncd.sock");
    snprintf(want, sizeof(want), "%s/tasks.d/*.yaml", dir);
    assert_string_equal(c.catalogue, want);
    snprintf(want, sizeof(want), "%s/datasources.yaml", dir);
    assert_string_equal(c.datasources, want);
    assert_null(c.timezone);
    assert_null(c.runner);
    assert_int_equal(c.max_running, 8);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.shutdown_grace_s, 60);
    daemon_config_fini(&c);
    free(msgs);
}

static void
test_config_relative_paths(void **state)
{
    struct daemon_config c;
    char *msgs, want[256], cwd[256];

    assert_int_equal(config("good.yaml", "state_dir: state\n"
                                         "socket: /tmp/x.sock\n"
                                         "catalogue: ../elsewhere/*.yaml\n"
                                         "datasources: conf/ds.yaml\n"
                                         "runner: bin/otsync-run\n"
                                         "timezone: Asia/Shanghai\n"
                                         "max_running: 3\n"
                                         "shutdown_grace: 2m\n"
                                         "log_level: debug\n",
                            &c, &msgs), 0);
    assert_string_equal(msgs, "");
    snprintf(want, sizeof(want), "%s/state", dir);
    assert_string_equal(c.state_dir, want);
    assert_string_equal(c.socket, "/tmp/x.sock");
    snprintf(want, sizeof(want), "%s/../elsewhere/*.yaml", dir);
    assert_string_equal(c.catalogue, want);
    snprintf(want, sizeof(want), "%s/conf/ds.yaml", dir);
    assert_string_equal(c.datasources, want);
    snprintf(want, sizeof(want), "%s/bin/otsync-run", dir);
    assert_string_equal(c.runner, want);
    assert_string_equal(c.timezone, "Asia/Shanghai");
    assert_int_equal(c.max_running, 3);
    assert_int_equal(c.shutdown_grace_s, 120);
    assert_int_equal(c.log_level, LOG_DEBUG);
    daemon_config_fini(&c);
    free(msgs);

    /* a relative config path: against the working directory, then its own directory */
    {
        struct diag d;
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(dir), 0);
        diag_init(&d);
        assert_int_equal(daemon_config_load("./good.yaml", &d, &c), 0);
        assert_int_equal(chdir(cwd), 0);
        snprintf(want, sizeof(want), "%s/good.yaml", dir);
        assert_string_equal(c.path, want);
        snprintf(want, sizeof(want), "%s/state", dir);
        assert_string_equal(c.state_dir, want);
        daemon_config_fini(&c);
        diag_fini(&d);
    }
}

static void
test_config_mistakes(void **state)
{
    struct daemon_config c;
    char *msgs;

    assert_int_equal(config("bad.yaml", "timezone: Mars/Olympus\n"
                                        "max_runing: 3\n"
                                        "max_running: 0\n"
                                        "log_level: loud\n"
                                        "state_dir: ''\n"
                                        "socket: [a]\n"
                                        "shutdown_grace: -1s\n",
                            &c, &msgs), -OTSYNC_ECONFIG);
    assert_string_equal(msgs,
                        "D/bad.yaml:1:11: error: timezone: unknown zone 'Mars/Olympus' (an IANA "
                        "name such as Asia/Shanghai, a file under /usr/share/zoneinfo)\n"
                        "D/bad.yaml:2:1: error: otsyncd: unknown key 'max_runing' (known: "
                        "state_dir, socket, catalogue, datasources, timezone, max_running, "
                        "runner, log_level, shutdown_grace, retention_days, history_memory)\n"
                        "D/bad.yaml:3:14: error: max_running: 0 is out of range 1-10000\n"
                        "D/bad.yaml:4:12: error: log_level: 'loud' is not one of error, warning, "
                        "notice, info, debug\n"
                        "D/bad.yaml:5:12: error: state_dir: must not be empty\n"
                        "D/bad.yaml:6:9: error: socket: expected a string, got a list\n"
                        "D/bad.yaml:7:17: error: shutdown_grace: expected a duration such as "
                        "90s, 2m or 1h, got '-1s'\n");
    free(msgs);

    /* zone names that are not files under zoneinfo: a directory, a path out of it */
    assert_int_equal(config("tz.yaml", "timezone: Asia\n", &c, &msgs), -OTSYNC_ECONFIG);
    assert_non_null(strstr(msgs, "tz.yaml:1:11: error: timezone: unknown zone 'Asia' "));
    free(msgs);
    assert_int_equal(config("tz.yaml", "timezone: ../zoneinfo/UTC\n", &c, &msgs),
                     -OTSYNC_ECONFIG);
    assert_non_null(strstr(msgs, "unknown zone '../zoneinfo/UTC'"));
    free(msgs);

    assert_int_equal(config("list.yaml", "- state_dir\n", &c, &msgs), -OTSYNC_ECONFIG);
    assert_string_equal(msgs, "D/list.yaml:1:1: error: otsyncd: expected a mapping of "
                              "settings, got a list\n");
    free(msgs);
    assert_int_equal(config("syntax.yaml", "state_dir: [\n", &c, &msgs), -OTSYNC_ECONFIG);
    assert_non_null(strstr(msgs, "D/syntax.yaml:2:1: error: YAML syntax: "));
    free(msgs);
    {
        struct diag d;
        diag_init(&d);
        assert_int_equal(daemon_config_load("/nonexistent/otsyncd.yaml", &d, &c),
                         -OTSYNC_ECONFIG);
        assert_string_equal(d.v[0].text, "/nonexistent/otsyncd.yaml: error: cannot open: No "
                                         "such file or directory");
        diag_fini(&d);
    }
}

static void
test_dependencies(void **state)
{
    struct catalog *cat = load_ok("tasks:\n"
                                  "  - name: daily\n"
                                  "    schedule: {cycle: day}\n"
                                  "    depends_on: hourly\n"
                                  "    downstream_dependency: true\n"
                                  "    job: {x: 1}\n"
                                  "  - name: hourly\n"
                                  "    schedule: {cycle: hour, valid_from: 2018-10-16, "
                                  "valid_until: '2018-10-31'}\n"
                                  "    depends_on: [extract]\n"
                                  "    previous_cycle_of: [extract, report]\n"
                                  "    job: {x: 1}\n"
                                  "  - name: extract\n"
                                  "    schedule: {cycle: minute, interval: 5}\n"
                                  "    job: {x: 1}\n"
                                  "  - name: report\n"
                                  "    schedule: {cycle: day}\n"
                                  "    depends_on: [daily]\n"
                                  "    job: {x: 1}\n");
    const struct catalog_task *d = &cat->tasks[0], *h = &cat->tasks[1], *x = &cat->tasks[2];
    struct tm tm;

    assert_int_equal(d->depends_count, 1);
    assert_string_equal(d->depends_on[0].task, "hourly");
    assert_int_equal(d->depends_on[0].idx, 1);
    assert_int_equal(d->depends_on[0].mark.line, 4);
    assert_int_equal(d->depends_on[0].mark.col, 17);
    assert_true(d->downstream_dependency);
    assert_int_equal(d->downstream_count, 1);       /* report */
    assert_int_equal(d->downstream[0], 3);
    assert_int_equal(h->previous_count, 2);
    assert_int_equal(h->previous_of[1].idx, 3);
    assert_int_equal(h->downstream_count, 1);
    assert_int_equal(h->downstream[0], 0);
    assert_int_equal(x->downstream_count, 1);
    assert_int_equal(x->valid_from, 0);
    assert_int_equal(x->valid_until, 0);
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = 118;
    tm.tm_mon = 9;
    tm.tm_mday = 16;
    tm.tm_isdst = -1;
    assert_int_equal(h->valid_from, mktime(&tm));
    tm.tm_mday = 32;    /* the midnight after the 31st */
    tm.tm_isdst = -1;
    assert_int_equal(h->valid_until, mktime(&tm));
    /* the first hour of validity, none after it */
    assert_int_equal(catalog_next_time(h, 0), h->valid_from);
    assert_int_equal(catalog_next_time(h, h->valid_until - 1), (time_t)-1);
    catalog_unref(cat);
}

static void
test_dependency_mistakes(void **state)
{
    load_fails("tasks:\n"
               "  - name: a\n"
               "    schedule: {cycle: day, valid_from: 2018-02-30, valid_until: 18-10-01}\n"
               "    depends_on: [b, a, b, {x: 1}]\n"
               "    previous_cycle_of: nosuch\n"
               "    downstream_dependency: yes please\n"
               "    job: {x: 1}\n"
               "  - name: b\n"
               "    schedule: {cycle: day, valid_from: 2018-10-02, valid_until: 2018-10-01}\n"
               "    depends_on: {a: 1}\n"
               "    job: {x: 1}\n",
               "D/c.yaml:3:40: error: task 'a': schedule.valid_from: '2018-02-30' is not a date "
               "(YYYY-MM-DD)\n"
               "D/c.yaml:3:65: error: task 'a': schedule.valid_until: '18-10-01' is not a date "
               "(YYYY-MM-DD)\n"
               "D/c.yaml:4:24: error: task 'a': depends_on: 'b' named twice\n"
               "D/c.yaml:4:27: error: task 'a': depends_on: expected a string, got a mapping\n"
               "D/c.yaml:6:28: error: task 'a': downstream_dependency: expected true or false, "
               "got 'yes please'\n"
               "D/c.yaml:9:65: error: task 'b': schedule.valid_until: before valid_from: no "
               "instance would ever be made\n"
               "D/c.yaml:10:17: error: task 'b': depends_on: expected a list of task names, got "
               "a mapping\n"
               "D/c.yaml:4:21: error: task 'a': depends_on: a task cannot depend on itself "
               "(self_dependency waits for its previous cycle)\n"
               "D/c.yaml:5:24: error: task 'a': previous_cycle_of: no task 'nosuch' in the "
               "catalogue\n");
}

static void
test_dependency_cycle(void **state)
{
    /* three tasks in two files: every one is named, at the first one's depends_on entry */
    write_file("cyc1.yaml", "tasks:\n"
                            "  - name: load\n"
                            "    schedule: {cycle: day}\n"
                            "    depends_on: [extract]\n"
                            "    job: {x: 1}\n"
                            "  - name: extract\n"
                            "    schedule: {cycle: day}\n"
                            "    depends_on: [report]\n"
                            "    job: {x: 1}\n");
    write_file("cyc2.yaml", "tasks:\n"
                            "  - name: report\n"
                            "    schedule: {cycle: day}\n"
                            "    depends_on: [fine, load]\n"
                            "    job: {x: 1}\n"
                            "  - name: fine\n"
                            "    schedule: {cycle: day}\n"
                            "    job: {x: 1}\n"
                            "  - name: pair1\n"
                            "    schedule: {cycle: day}\n"
                            "    depends_on: [pair2]\n"
                            "    job: {x: 1}\n"
                            "  - name: pair2\n"
                            "    schedule: {cycle: day}\n"
                            "    depends_on: [pair1, pair3]\n"
                            "    job: {x: 1}\n"
                            "  - name: pair3\n"
                            "    schedule: {cycle: day}\n"
                            "    depends_on: [pair1]\n"
                            "    job: {x: 1}\n");
    {
        struct diag d;
        struct catalog *cat = NULL;
        char *msgs;

        diag_init(&d);
        assert_int_equal(catalog_load("cyc*.yaml", dir, &d, &cat), -OTSYNC_ECONFIG);
        msgs = messages(&d);
        assert_string_equal(msgs, "D/cyc1.yaml:4:18: error: task 'load': depends_on: a "
                            "dependency cycle load -> extract -> report -> load (each depends "
                            "on the next); none of these tasks could ever run\n"
                            "D/cyc2.yaml:11:18: error: task 'pair1': depends_on: a dependency "
                            "cycle pair1 -> pair2 -> pair1 (each depends on the next); also "
                            "caught in it: pair3; none of these tasks could ever run\n");
        free(msgs);
        diag_fini(&d);
    }
}

static void
test_unsatisfiable(void **state)
{
    load_fails("tasks:\n"
               "  - name: every2h\n"
               "    schedule: {cycle: hour, interval: 2}\n"
               "    job: {x: 1}\n"
               "  - name: hourly\n"
               "    schedule: {cycle: hour}\n"
               "    depends_on: [every2h]\n"
               "    downstream_dependency: true\n"
               "    job: {x: 1}\n"
               "  - name: at6\n"
               "    schedule: {cycle: day, start: '06:00'}\n"
               "    depends_on: [at5]\n"
               "    job: {x: 1}\n"
               "  - name: at5\n"
               "    schedule: {cycle: day, start: '05:00'}\n"
               "    job: {x: 1}\n"
               "  - name: nightly\n"
               "    schedule: {cycle: day}\n"
               "    depends_on: [hourly]\n"
               "    job: {x: 1}\n",
               "D/c.yaml:7:18: error: task 'hourly': depends_on 'every2h': same cycle type, so "
               "each instance waits for 'every2h' at its own time, and 'every2h' has no instance "
               "at e.g. 2020-01-01 01:00; this dependency can never be satisfied\n"
               "D/c.yaml:8:5: error: task 'hourly': downstream_dependency: its instance at "
               "2020-01-01 01:00 waits for nightly's at 2020-01-01 00:00, which depends on "
               "'hourly' up to 2020-01-01 23:59; this dependency can never be satisfied\n"
               "D/c.yaml:12:18: error: task 'at6': depends_on 'at5': same cycle type, so each "
               "instance waits for 'at5' at its own time, and 'at5' has no instance at e.g. "
               "2020-01-01 06:00; this dependency can never be satisfied\n");
    /* the same cycles the other way round are fine: every 2 h is also every hour */
    catalog_unref(load_ok("tasks:\n"
                          "  - name: hourly\n"
                          "    schedule: {cycle: hour}\n"
                          "    job: {x: 1}\n"
                          "  - name: every2h\n"
                          "    schedule: {cycle: hour, interval: 2}\n"
                          "    depends_on: [hourly]\n"
                          "    job: {x: 1}\n"));
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
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_inline_job_json),
        cmocka_unit_test(test_file_job),
        cmocka_unit_test(test_three_mistakes),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_types_and_values),
        cmocka_unit_test(test_schedule_mistakes),
        cmocka_unit_test(test_bad_cron_column),
        cmocka_unit_test(test_undefined_placeholder),
        cmocka_unit_test(test_param_expression_column),
        cmocka_unit_test(test_yaml_syntax_error),
        cmocka_unit_test(test_aliases_bounded),
        cmocka_unit_test(test_files_and_glob),
        cmocka_unit_test(test_empty_files),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_relative_paths),
        cmocka_unit_test(test_config_mistakes),
        cmocka_unit_test(test_dependencies),
        cmocka_unit_test(test_dependency_mistakes),
        cmocka_unit_test(test_dependency_cycle),
        cmocka_unit_test(test_unsatisfiable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
