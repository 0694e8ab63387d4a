/*
 * fuzz-journal.c - libFuzzer target: journal_scan on arbitrary segment bytes, as the last
 * segment (torn tails allowed) and as an older one, with and without salvage. Every record
 * that comes out is replayed into a state, as otsyncd's start-up does; with otsyncd's options
 * (log lines skipped, instance records prepared on a second thread) the scan must end as the
 * plain one, every record parsed whole on one thread, does: the same verdict, good prefix and
 * state. Mutations seldom keep a CRC right, so the input is also taken as lines, each framed
 * as a record with its CRC: that reaches the record parsers with anything.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* memmem */
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/crc.h"
#include "otsync/journal.h"
#include "otsync/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same parameters: a replay keeps a created record's params as written (spaces and
 * escapes as they were), the plain one as jansson dumps them; what is shown is their parse. */
static int
same_params(const char *x, const char *y)
{
    json_t *a, *b;
    int same;

    if (!x || !y)
        return !x == !y;
    if (strcmp(x, y) == 0)
        return 1;
    a = json_loads(x, 0, NULL);
    b = json_loads(y, 0, NULL);
    same = a && b && json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return same;
}

/* Every instance of a, field by field, is b's. */
static int
same_state(struct state *a, struct state *b)
{
    struct hinst *const *x, *const *y;
    size_t n = state_list(a, &x), i;

    if (n != state_list(b, &y) || state_records(a) != state_records(b)
        || state_last_at(a) != state_last_at(b))
        return 0;
    for (i = 0; i < n; i++) {
        const struct hinst *g = x[i], *h = y[i];
        if (strcmp(g->id, h->id) || strcmp(g->task, h->task) || g->cyctime != h->cyctime
            || g->state != h->state || g->attempts != h->attempts
            || g->rerun_base != h->rerun_base || g->pid != h->pid
            || g->created_at != h->created_at || g->started_at != h->started_at
            || g->ended_at != h->ended_at || g->next_try_at != h->next_try_at
            || g->backfill != h->backfill || !g->reason != !h->reason
            || (g->reason && strcmp(g->reason, h->reason)) || !same_params(g->params, h->params)
            || !g->stats != !h->stats
            || (g->stats && strcmp(g->stats, h->stats)))
            return 0;
    }
    return 1;
}

static int scan_all(const uint8_t *data, size_t size);

/* The input's lines (those that start with "{" and end with "}", as a record must), each
 * framed as a record: a segment whose frames are all good; stats: with the stats records
 * otsyncd writes or without them (a segment the plain scan must agree on to the byte). */
static void
scan_lines(const uint8_t *data, size_t size, bool stats)
{
    unsigned char *seg = malloc(JOURNAL_MAGIC_LEN + size + 8 * (size / 2 + 1)), *q;
    const uint8_t *p = data, *end = data + size, *nl;

    if (!seg)
        return;
    memcpy(seg, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN);
    q = seg + JOURNAL_MAGIC_LEN;
    for (; p < end; p = nl + 1) {
        size_t n;
        uint32_t c;
        if (!(nl = memchr(p, '\n', (size_t)(end - p))))
            nl = end;
        n = (size_t)(nl - p);
        if (n < 2 || p[0] != '{' || p[n - 1] != '}'
            || (!stats && memmem(p, n, STATE_STATS_HEAD, strlen(STATE_STATS_HEAD))))
            continue;
        q[0] = (unsigned char)n;
        q[1] = (unsigned char)(n >> 8);
        q[2] = (unsigned char)(n >> 16);
        q[3] = (unsigned char)(n >> 24);
        memcpy(q + 8, p, n);
        c = crc32c(crc32c(0, q, 4), q + 8, n);
        q[4] = (unsigned char)c;
        q[5] = (unsigned char)(c >> 8);
        q[6] = (unsigned char)(c >> 16);
        q[7] = (unsigned char)(c >> 24);
        q += 8 + n;
    }
    (void)scan_all(seg, (size_t)(q - seg));
    free(seg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= JOURNAL_MAGIC_LEN && memcmp(data, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) == 0)
        return scan_all(data, size);
    scan_lines(data, size, true);
    scan_lines(data, size, false);
    return 0;
}

static int
scan_all(const uint8_t *data, size_t size)
{
    struct otsync_err err;
    size_t good;
    int mode;

    for (mode = 0; mode < 8; mode++) {
        struct journal_opts o = {.salvage = mode & 2, .parallel_min = SIZE_MAX};
        struct state *st = state_new();
        struct hinst *const *all;
        int rc;
        if (!st)
            return 0;
        if (mode & 4) {
            /* two threads however short the input, in two of the four modes (a thread per
             * scan is most of a run's time) */
            struct journal_opts fast = {.salvage = mode & 2, STATE_JOURNAL_OPTS,
                                        .parallel_min = mode == 5 || mode == 6 ? 1 : SIZE_MAX};
            o = fast;
        }
        o.arg = st;
        rc = journal_scan(data, size, "fuzz", mode & 1, &o, state_apply, &good, &err);
        if (rc == 0 && good > size)
            abort();    /* the good prefix can never pass the end */
        if (mode & 4) {
            /* on one thread: the same verdict, good prefix and state; and so for the plain
             * scan, every record parsed whole, but where a stats record's summary is kept
             * unparsed (by design: only a record no otsyncd writes can tell) */
            int k;
            for (k = 0; k < 2; k++) {
                struct state *st1 = state_new();
                size_t good1 = 0;
                int rc1;
                if (!st1)
                    break;
                o.arg = st1;
                if (k == 0) {
                    o.parallel_min = SIZE_MAX;
                } else {
                    if (memmem(data, size, STATE_STATS_HEAD, strlen(STATE_STATS_HEAD))) {
                        state_free(st1);
                        break;
                    }
                    o.prepare = NULL;
                    o.apply = NULL;
                    o.release = NULL;
                }
                rc1 = journal_scan(data, size, "fuzz", mode & 1, &o, state_apply, &good1, &err);
                if (rc1 != rc || good1 != good || !same_state(st, st1))
                    abort();
                state_free(st1);
            }
        }
        (void)state_list(st, &all);
        state_free(st);
    }
    return 0;
}
