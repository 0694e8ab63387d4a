/*
 * strhash.h - the string hash of the open-addressing tables in src/core (tasks by name in the
 * scheduler and the catalogue loader, instances by id in the state): FNV-1a, which is short,
 * has no seed to manage, and spreads task names that differ in one digit well enough.
 */
#ifndef OTSYNC_STRHASH_H
#define OTSYNC_STRHASH_H

#include <stddef.h>

static inline size_t
otsync_strhash(const char *s)
{
    size_t h = (size_t)1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * (size_t)1099511628211ULL;
    return h;
}

/* The same of the n bytes at s (none of them NUL). */
static inline size_t
otsync_strhash_n(const char *s, size_t n)
{
    size_t h = (size_t)1469598103934665603ULL;

    while (n--)
        h = (h ^ (unsigned char)*s++) * (size_t)1099511628211ULL;
    return h;
}

#endif
