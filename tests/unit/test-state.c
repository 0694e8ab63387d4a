/*
 * test-state.c - what a replay makes of instance records. otsyncd writes a record with only
 * what it changes (task and cycle from the id, "waiting" by default, no attempt, base or
 * reason the instance already has); a journal with every member spelled out, as earlier
 * versions wrote it, must come back as the same instances, by the plain replay (each record
 * parsed whole on one thread) and by otsyncd's (instance records prepared on a second
 * thread, a created record's params kept as written).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "tmpdir.h"
#include "otsync/crc.h"
#include "otsync/journal.h"
#include "otsync/state.h"

/* Writes the records, each text as it is (spaces, escapes and repeated keys too), framed as
 * otsyncd frames them (journal.h), as the one segment of dir/sub. */
static void
write_journal(const char *sub, const char *const *recs, size_t n)
{
    char path[512];
    FILE *f;
    size_t i;

    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/%s/0000000000000001.jnl", dir, sub);
    assert_non_null(f = fopen(path, "wb"));
    assert_int_equal(fwrite(JOURNAL_MAGIC, 1, JOURNAL_MAGIC_LEN, f), JOURNAL_MAGIC_LEN);
    for (i = 0; i < n; i++) {
        uint32_t len = (uint32_t)strlen(recs[i]), c;
        unsigned char h[8];
        int b;
        for (b = 0; b < 4; b++)
            h[b] = (unsigned char)(len >> (8 * b));
        c = crc32c(crc32c(0, h, 4), recs[i], len);
        for (b = 0; b < 4; b++)
            h[4 + b] = (unsigned char)(c >> (8 * b));
        assert_int_equal(fwrite(h, 1, 8, f), 8);
        assert_int_equal(fwrite(recs[i], 1, len, f), len);
    }
    assert_int_equal(fclose(f), 0);
}

/* The state a replay of dir/sub makes; fast: as otsyncd replays (on two threads). */
static struct state *
replay(const char *sub, bool fast)
{
    struct journal_opts o = {.read_only = true};
    struct state *st = state_new();
    struct journal *j;
    struct otsync_err err;
    char path[512];

    if (fast) {
        struct journal_opts f = {.read_only = true, STATE_JOURNAL_OPTS, .parallel_min = 1};
        o = f;
    }
    assert_non_null(st);
    o.arg = st;
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    if (journal_open(path, &o, state_apply, &j, &err) < 0)
        fail_msg("replay of %s: %s", sub, err.msg);
    journal_close(j);
    return st;
}

/* The JSON text of every instance of st, one per line. */
static char *
dump(struct state *st)
{
    struct hinst *const *all;
    size_t n = state_list(st, &all), i, len = 0;
    char *out = calloc(1, 1);

    assert_non_null(out);
    for (i = 0; i < n; i++) {
        json_t *o = state_inst_json(all[i], true);
        char *t;
        assert_non_null(o);
        json_object_set_new(o, "pid", json_integer(all[i]->pid));
        json_object_set_new(o, "base", json_integer(all[i]->rerun_base));
        json_object_set_new(o, "retry_at", json_integer(all[i]->next_try_at));
        t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        assert_non_null(t);
        out = realloc(out, len + strlen(t) + 2);
        assert_non_null(out);
        memcpy(out + len, t, strlen(t));
        len += strlen(t);
        out[len++] = '\n';
        out[len] = '\0';
        free(t);
    }
    return out;
}

/* One history, each record twice: as otsyncd writes it now, then as earlier versions did. A
 * task name with an "@" in it, a retry with its reason cleared by the success, a rerun (base),
 * a paused task's skipped instance, a backfill, a created record whose id is not task@cyc. */
static const char *const short_recs[] = {
    "{\"t\":\"created\",\"id\":\"a@b@20181016000000\",\"ct\":1539619200,\"at\":1539619198,"
    "\"params\":{\"startTime\":\"20181015235000\",\"endTime\":\"20181016000000\"}}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"running\",\"at\":1539619200,"
    "\"attempt\":1}",
    "{\"t\":\"pid\",\"id\":\"a@b@20181016000000\",\"pid\":4242}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"retry_wait\",\"at\":1539619201,"
    "\"retry_at\":1539619260,\"reason\":\"exit 1\"}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"running\",\"at\":1539619260,"
    "\"attempt\":2}",
    "{\"t\":\"stats\",\"id\":\"a@b@20181016000000\",\"stats\":{\"status\":\"success\"}}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"success\",\"at\":1539619301,"
    "\"reason\":null}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"waiting\",\"at\":1539619400,"
    "\"base\":2,\"reason\":\"rerun by uid 0\"}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"running\",\"at\":1539619401,"
    "\"attempt\":3,\"base\":2}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"failed\",\"at\":1539619402,"
    "\"reason\":\"exit 2\"}",
    "{\"t\":\"created\",\"id\":\"p@20181016000500\",\"ct\":1539619500,\"at\":1539619498,"
    "\"state\":\"skipped\",\"reason\":\"task paused\",\"params\":{}}",
    "{\"t\":\"created\",\"id\":\"bf@20181016000500\",\"ct\":1539619500,\"at\":1539619600,"
    "\"backfill\":true,\"params\":{\"x\" : \"\\u0041\\/\"}}",
    "{\"t\":\"created\",\"id\":\"odd\",\"ct\":1539619500,\"at\":1539619498,\"task\":\"t3\","
    "\"cyc\":\"20181016000500\",\"params\":{\"y\":\"1\"}}",
};

static const char *const long_recs[] = {
    "{\"t\":\"created\",\"id\":\"a@b@20181016000000\",\"task\":\"a@b\",\"cyc\":\"20181016000000\","
    "\"ct\":1539619200,\"at\":1539619198,\"state\":\"waiting\","
    "\"params\":{\"startTime\":\"20181015235000\",\"endTime\":\"20181016000000\"}}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"running\",\"attempt\":1,"
    "\"base\":0,\"at\":1539619200}",
    "{\"t\":\"pid\",\"id\":\"a@b@20181016000000\",\"pid\":4242}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"retry_wait\",\"attempt\":1,"
    "\"base\":0,\"at\":1539619201,\"retry_at\":1539619260,\"reason\":\"exit 1\"}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"running\",\"attempt\":2,"
    "\"base\":0,\"at\":1539619260}",
    "{\"t\":\"stats\",\"id\":\"a@b@20181016000000\",\"stats\":{\"status\":\"success\"}}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"success\",\"attempt\":2,"
    "\"base\":0,\"at\":1539619301,\"reason\":null}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"waiting\",\"attempt\":2,"
    "\"base\":2,\"at\":1539619400,\"reason\":\"rerun by uid 0\"}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"running\",\"attempt\":3,"
    "\"base\":2,\"at\":1539619401}",
    "{\"t\":\"state\",\"id\":\"a@b@20181016000000\",\"state\":\"failed\",\"attempt\":3,"
    "\"base\":2,\"at\":1539619402,\"reason\":\"exit 2\"}",
    "{\"t\":\"created\",\"id\":\"p@20181016000500\",\"task\":\"p\",\"cyc\":\"20181016000500\","
    "\"ct\":1539619500,\"at\":1539619498,\"state\":\"skipped\",\"params\":{},"
    "\"reason\":\"task paused\"}",
    "{\"t\":\"created\",\"id\":\"bf@20181016000500\",\"task\":\"bf\",\"cyc\":\"20181016000500\","
    "\"ct\":1539619500,\"at\":1539619600,\"state\":\"waiting\",\"params\":{\"x\":\"A/\"},"
    "\"backfill\":true}",
    "{\"t\":\"created\",\"id\":\"odd\",\"task\":\"t3\",\"cyc\":\"20181016000500\","
    "\"ct\":1539619500,\"at\":1539619498,\"state\":\"waiting\",\"params\":{\"y\":\"1\"}}",
};

static void
test_short_records_replay_as_long_ones(void **state)
{
    struct state *st[4];
    char *text[4];
    struct hinst *h;
    int k;

    (void)state;
    write_journal("short", short_recs, sizeof(short_recs) / sizeof(short_recs[0]));
    write_journal("long", long_recs, sizeof(long_recs) / sizeof(long_recs[0]));
    for (k = 0; k < 4; k++) {
        st[k] = replay(k < 2 ? "short" : "long", k % 2);
        text[k] = dump(st[k]);
    }
    for (k = 1; k < 4; k++)
        assert_string_equal(text[k], text[0]);
    /* and what they agree on is the history */
    h = state_get(st[1], "a@b@20181016000000");
    assert_non_null(h);
    assert_string_equal(h->task, "a@b");
    assert_int_equal(h->cyctime, 1539619200);
    assert_int_equal(h->state, SCHED_FAILED);
    assert_int_equal(h->attempts, 3);
    assert_int_equal(h->rerun_base, 2);
    assert_int_equal(h->pid, 0);
    assert_string_equal(h->reason, "exit 2");
    assert_int_equal(h->next_try_at, 1539619260);
    assert_string_equal(h->params, "{\"startTime\":\"20181015235000\",\"endTime\":\"20181016000000\"}");
    h = state_get(st[1], "p@20181016000500");
    assert_non_null(h);
    assert_int_equal(h->state, SCHED_SKIPPED);
    assert_string_equal(h->reason, "task paused");
    assert_null(h->params);
    h = state_get(st[1], "bf@20181016000500");
    assert_non_null(h);
    assert_string_equal(h->task, "bf");
    assert_int_equal(h->state, SCHED_WAITING);
    assert_true(h->backfill);
    assert_non_null(strstr(text[0], "\"params\":{\"x\":\"A/\"}"));
    h = state_get(st[1], "odd");
    assert_non_null(h);
    assert_string_equal(h->task, "t3");
    assert_int_equal(h->cyctime, 1539619500);
    for (k = 0; k < 4; k++) {
        free(text[k]);
        state_free(st[k]);
    }
}

/* A rerun of an instance the scheduler had freed is created again under its id: waiting once
 * more, though its record no longer says so. */
static void
test_created_again_is_waiting(void **state)
{
    static const char *const recs[] = {
        "{\"t\":\"created\",\"id\":\"t@20181016000000\",\"ct\":1539619200,\"at\":1539619198,"
        "\"params\":{}}",
        "{\"t\":\"state\",\"id\":\"t@20181016000000\",\"state\":\"running\",\"at\":1539619200,"
        "\"attempt\":1}",
        "{\"t\":\"state\",\"id\":\"t@20181016000000\",\"state\":\"success\",\"at\":1539619201}",
        "{\"t\":\"created\",\"id\":\"t@20181016000000\",\"ct\":1539619200,\"at\":1539700000,"
        "\"params\":{\"k\":\"v\"}}",
    };
    int k;

    (void)state;
    write_journal("again", recs, sizeof(recs) / sizeof(recs[0]));
    for (k = 0; k < 2; k++) {
        struct state *st = replay("again", k);
        struct hinst *h = state_get(st, "t@20181016000000");
        assert_non_null(h);
        assert_int_equal(h->state, SCHED_WAITING);
        assert_int_equal(h->attempts, 1);
        assert_int_equal(h->created_at, 1539700000);
        assert_string_equal(h->params, "{\"k\":\"v\"}");
        state_free(st);
    }
}

/* A created record whose params cannot be told from its text for sure (another member after
 * them, an object before them, a key twice) still replays as the plain parse does. */
static void
test_params_every_layout(void **state)
{
    static const char *const recs[] = {
        "{\"t\":\"created\",\"id\":\"a@20181016000000\",\"ct\":1539619200,\"at\":1,"
        "\"params\":{\"k\":\"1\"},\"reason\":\"r\"}",
        "{\"t\":\"created\",\"id\":\"b@20181016000000\",\"ct\":1539619200,\"at\":1,"
        "\"x\":{\"a\":\"0\",\"params\":{\"no\":\"1\"}},\"params\":{\"k\":\"2\"}}",
        "{\"t\":\"created\",\"id\":\"c@20181016000000\",\"ct\":1539619200,\"at\":1,"
        "\"params\":{\"k\":\"3\"},\"params\":{\"k\":\"4\"}}",
        "{\"t\":\"created\",\"id\":\"d@20181016000000\",\"ct\":1539619200,\"at\":1,"
        "\"params\":{\"params\":\"5\",\"z\":\"6\"}}",
        "{\"t\":\"created\",\"id\":\"e@20181016000000\",\"ct\":1539619200,\"at\":1,"
        "\"params\":{\"k\":\"7\"}   }",
    };
    static const char *const want[] = {
        "{\"k\":\"1\"}", "{\"k\":\"2\"}", "{\"k\":\"4\"}", "{\"params\":\"5\",\"z\":\"6\"}",
        "{\"k\":\"7\"}",
    };
    char *text[2];
    int k, i;

    (void)state;
    write_journal("layouts", recs, sizeof(recs) / sizeof(recs[0]));
    for (k = 0; k < 2; k++) {
        struct state *st = replay("layouts", k);
        for (i = 0; i < 5; i++) {
            char id[32];
            struct hinst *h;
            json_t *p;
            char *t;
            snprintf(id, sizeof(id), "%c@20181016000000", 'a' + i);
            assert_non_null(h = state_get(st, id));
            p = state_params(h);
            t = json_dumps(p, JSON_COMPACT);
            assert_string_equal(t, want[i]);
            free(t);
            json_decref(p);
        }
        text[k] = dump(st);
        state_free(st);
    }
    assert_string_equal(text[1], text[0]);
    free(text[0]);
    free(text[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        TMPDIR_TEST(test_short_records_replay_as_long_ones),
        TMPDIR_TEST(test_created_again_is_waiting),
        TMPDIR_TEST(test_params_every_layout),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
