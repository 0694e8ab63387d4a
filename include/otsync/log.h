/*
 * log.h - the process log: stderr lines with a level.
 *
 * Owns: formatting and the level filter. Under systemd (JOURNAL_STREAM set) lines carry a
 * "<N>" priority prefix and no timestamp; otherwise an ISO-8601 local timestamp. The macros
 * check the level before evaluating their arguments.
 */
#ifndef OTSYNC_LOG_H
#define OTSYNC_LOG_H

#include <syslog.h>
#include "otsync/err.h"

extern int otsync_log_level;    /* LOG_ERR .. LOG_DEBUG; default LOG_INFO */

/* Sets the program name and decides the line format. */
void log_init(const char *prog);

/* Parses "error", "warning", "notice", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *s);

void log_write(int level, const char *fmt, ...) OTSYNC_PRINTF(2, 3);

/*
 * Buffered mode (the daemon): lines collect in memory and go out in one write at
 * log_flush(), which the daemon calls once per loop turn, so a burst of 10,000 instance lines
 * costs a few writes instead of 10,000. Errors are always written at once.
 */
void log_set_buffered(int on);
void log_flush(void);

#define LOG_AT(lvl, ...) do { if ((lvl) <= otsync_log_level) log_write((lvl), __VA_ARGS__); } while (0)
#define log_error(...) LOG_AT(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) LOG_AT(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

#endif
