/*
 * ctlproto.h - the ctl socket's requests: one JSON object per line, {"cmd": NAME, ARGS...};
 * each reply is one JSON object per line, {"ok": true, ...} or {"ok": false, "error": TEXT} —
 * except a successful "instances", which is two lines: {"ok": true, "count": N, "bytes": B},
 * then the JSON array of the N instances, B bytes with its newline (so a client can pass a day
 * of them on without parsing them, or even looking at them).
 * The daemon checks every request here before acting on it (and so does the fuzz target).
 * Commands and their arguments are listed in otsyncctl(1).
 */
#ifndef OTSYNC_CTLPROTO_H
#define OTSYNC_CTLPROTO_H

#include <stddef.h>
#include <jansson.h>
#include "otsync/err.h"

#define CTL_REQUEST_MAX (64 * 1024)     /* a longer line is refused, not buffered */

/*
 * Parses and checks one request line (without its newline): a JSON object whose "cmd" is a
 * known command and whose other members are exactly that command's arguments, of the right
 * types and forms (ids TASK@yyyymmddhh24miss, dates YYYY-MM-DD, times as vars_parse_time
 * reads them, states by name). Returns 0 and *ret_req (new), or -OTSYNC_EINVAL with err
 * saying what is wrong.
 */
int ctl_request_parse(const char *buf, size_t len, json_t **ret_req,
                      struct otsync_err *err) OTSYNC_WUR;

/* True for the commands that only read (they also work from the journal files). */
int ctl_command_read_only(const char *cmd);

#endif
