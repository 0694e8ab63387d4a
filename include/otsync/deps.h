/*
 * deps.h - dependencies between tasks: which upstream instances an instance waits for (the
 * vendor's matching rules), the catalogue's load-time checks of the dependency graph, and the
 * views of it (downstream instances, Graphviz dot).
 *
 * Owns: the rules, as pure functions of cycles and times. Leaves to others: blocking and
 * releasing instances (sched.c, which calls these), parsing depends_on (catalog.c).
 *
 * Matching (otsync.yaml(5), "DEPENDENCIES"): a child instance at time t waits for every
 * scheduled time of the parent in a span [from, to]:
 * - same cycle type: the parent's instance at t itself;
 * - a child of a coarser parent (minute child of an hour/day/week/month parent, hour child of
 *   a day/week/month parent, day child of a week/month parent, week child of a month parent),
 *   and any pair with a cron schedule: the parent's nearest instance at or before t;
 * - a day, week or month child of a minute, hour or day parent: all the parent's instances of
 *   t's calendar day;
 * - an hour child of a minute parent: the parent's instances in (t - interval hours, t].
 * The vendor names the first three; the fourth is ours (the issue is silent): an hourly job
 * after a five-minute extraction takes the extractions of its hour.
 *
 * Cross-cycle (previous_cycle_of, downstream_dependency): an instance at t of task T waits for
 * the other task's instances in T's previous cycle [t', t) (t' is T's previous scheduled time),
 * or when it has none there, for its newest instance before t.
 */
#ifndef OTSYNC_DEPS_H
#define OTSYNC_DEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "otsync/catalog.h"
#include "otsync/cycle.h"
#include "otsync/diag.h"

/* Every scheduled time of the other task in [from, to]; from > to is the empty span. */
struct deps_span {
    time_t from, to;
};

/* The span of parent times a child instance at t waits for (the rules above). */
void deps_span(const struct cycle *child, const struct cycle *parent, time_t t,
               struct deps_span *ret_span);

/* The span of the other task's times an instance of `self` at t waits for across cycles. */
void deps_previous_span(const struct cycle *self, const struct cycle *other, time_t t,
                        struct deps_span *ret_span);

/* The first time of other in sp strictly after `after` (pass sp->from - 1 to start), within
 * other's validity dates, or (time_t)-1 when there is no more. */
time_t deps_span_next(const struct catalog_task *other, const struct deps_span *sp,
                      time_t after);

/*
 * The load-time checks of a catalogue whose names are resolved (catalog.c does that): every
 * dependency cycle, named with every task on it; and, when `full` (the schedules loaded
 * cleanly), dependencies that can never be satisfied: a same-cycle-type parent without an
 * instance at some of the child's times, and a cross-cycle wait on an instance that itself
 * waits for a later instance of the waiting task. Errors go to d at the mark of the
 * depends_on / previous_cycle_of entry (or downstream_dependency key) concerned.
 */
void deps_check(const struct catalog *cat, struct diag *d, bool full);

/*
 * Calls fn for each instance of a first-level downstream task of cat->tasks[task] whose
 * matching span holds that task's instance at cyctime: the instances that depend on it
 * directly, task by task (downstream order), each task's in time order. Whether they exist
 * is the caller's business.
 */
void deps_dependents(const struct catalog *cat, size_t task, time_t cyctime,
                     void (*fn)(void *arg, size_t task, time_t cyctime), void *arg);

/*
 * The tasks reachable from cat->tasks[task] through depends_on, downstream (or upstream when
 * `up`), task itself first, in dependency order (every task after its upstream tasks when
 * downstream). *ret_v is new (free it); returns the count, 0 when out of memory.
 */
size_t deps_closure(const struct catalog *cat, size_t task, bool up, size_t **ret_v);

/*
 * The dependency graph in Graphviz dot: every task (or, when task is not NULL, the tasks
 * connected to it), depends_on edges from upstream to downstream labelled with the rule,
 * cross-cycle edges dashed. Returns new text, or NULL when out of memory or task is unknown.
 */
char *deps_dot(const struct catalog *cat, const char *task);

/* The rule's name for an edge, e.g. "same time", "nearest at or before", "that day". */
const char *deps_rule_name(const struct cycle *child, const struct cycle *parent);

#endif
