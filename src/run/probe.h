/*
 * probe.h - otsync-run --test-datasource: one cheap authenticated call to a datasource, and a
 * plain answer saying what failed (DNS, connection, TLS, authentication, a missing instance,
 * bucket or project). Private to src/run.
 */
#ifndef OTSYNC_PROBE_H
#define OTSYNC_PROBE_H

#include "otsync/datasource.h"

/*
 * Checks the datasource `name` of set (NULL: no file was given). Prints one line on stdout
 * ("ok: ..." or "failed: ...") and returns the exit status: 0 reachable and authenticated,
 * 1 the call failed, 2 no such datasource.
 */
int probe_datasource(const struct datasources *set, const char *name);

#endif
