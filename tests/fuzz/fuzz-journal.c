/*
 * fuzz-journal.c - libFuzzer target: journal_scan on arbitrary segment bytes, as the last
 * segment (torn tails allowed) and as an older one, with and without salvage. Every record
 * that comes out is replayed into a state, as otsyncd's start-up does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/journal.h"
#include "otsync/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otsync_err err;
    size_t good;
    int mode;

    for (mode = 0; mode < 4; mode++) {
        struct state *st = state_new();
        struct hinst *const *all;
        if (!st)
            return 0;
        if (journal_scan(data, size, "fuzz", mode & 1, mode & 2, mode == 3 ? STATE_SKIP : NULL,
                         state_apply, NULL, st, &good,
                         &err) == 0 && good > size)
            abort();    /* the good prefix can never pass the end */
        (void)state_list(st, &all);
        state_free(st);
    }
    return 0;
}
