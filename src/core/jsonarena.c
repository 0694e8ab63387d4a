/*
 * jsonarena.c - a per-thread bump arena behind jansson's allocation hooks (see jsonarena.h).
 *
 * The free hook must recognise arena blocks without a header (blocks malloc'd before the hooks
 * were installed reach it too), so each thread's arena is one contiguous buffer and a block is
 * the arena's when its address lies inside this thread's buffer. A block from another
 * thread's arena is never freed here: the rules in jsonarena.h keep trees on their thread.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include "otsync/jsonarena.h"

/* Room for a record of a few KB many times over; a bigger tree spills to malloc. */
#define ARENA_SIZE (256u << 10)
#define ALIGN 16u

struct arena {
    unsigned char *base;
    size_t used;
    bool on;
    bool spilled;               /* an allocation went to malloc while on */
};

static __thread struct arena arena;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static pthread_key_t arena_key;

static void *
arena_malloc(size_t n)
{
    struct arena *a = &arena;
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);

    if (a->on && a->base && need >= n && ARENA_SIZE - a->used >= need) {
        void *p = a->base + a->used;
        a->used += need;
        return p;
    }
    if (a->on)
        a->spilled = true;
    return malloc(n);
}

static void
arena_free(void *p)
{
    const struct arena *a = &arena;

    if (a->base && (uintptr_t)p >= (uintptr_t)a->base
        && (uintptr_t)p < (uintptr_t)a->base + ARENA_SIZE)
        return;     /* the arena's: its space comes back at jsonarena_reset */
    free(p);
}

/* A thread's buffer goes when the thread does (the replay's preparing thread). */
static void
arena_thread_exit(void *base)
{
    free(base);
}

static void
install(void)
{
    pthread_key_create(&arena_key, arena_thread_exit);
    json_set_alloc_funcs(arena_malloc, arena_free);
}

void
jsonarena_install(void)
{
    pthread_once(&install_once, install);
}

void
jsonarena_on(void)
{
    struct arena *a = &arena;

    jsonarena_install();
    if (!a->base && (a->base = malloc(ARENA_SIZE)))
        pthread_setspecific(arena_key, a->base);
    a->on = true;
    a->spilled = false;
}

bool
jsonarena_off(void)
{
    arena.on = false;
    return !arena.spilled;
}

void
jsonarena_reset(void)
{
    arena.used = 0;
}
