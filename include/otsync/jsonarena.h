/*
 * jsonarena.h - jansson's memory for short-lived parses from a per-thread bump arena.
 *
 * A journal replay parses ~700,000 small records and frees each tree right after reading its
 * members: jansson makes about a dozen malloc/free pairs per record, and glibc's malloc and
 * free were a sixth of the replay's time. Between jsonarena_on() and jsonarena_off() a
 * thread's jansson allocations are carved from its own arena; freeing one is then nothing,
 * and jsonarena_reset() makes the whole space free again at once.
 *
 * Rules, which the caller keeps (nothing checks them):
 * - a tree parsed under the arena never leaves the thread and is dead (json_decref'd, no
 *   pointer into it kept) before that thread calls jsonarena_reset();
 * - anything meant to outlive the reset (json_dumps' text) is made after jsonarena_off().
 * Every other use of jansson, on any thread, gets malloc and free as before: the hooks
 * (installed once by jsonarena_install, before the first jsonarena_on) tell arena blocks from
 * heap blocks by address.
 */
#ifndef OTSYNC_JSONARENA_H
#define OTSYNC_JSONARENA_H

#include <stdbool.h>

/* Installs the allocation hooks in jansson (idempotent; call while no other thread uses
 * jansson, e.g. before starting the threads that will parse). */
void jsonarena_install(void);

/* From here on, this thread's jansson allocations come from its arena (made on first use;
 * when full, or if it cannot be made, from malloc). */
void jsonarena_on(void);

/* Back to malloc for new allocations; arena blocks can still be freed (a no-op). Returns
 * true when every allocation since jsonarena_on came from the arena: a tree made meanwhile
 * then needs no json_decref, jsonarena_reset takes all of it back (its walk was a twentieth
 * of a replay). */
bool jsonarena_off(void);

/* Every block this thread took from its arena is dead: reuse the space. */
void jsonarena_reset(void);

#endif
