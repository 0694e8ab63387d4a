/*
 * log.c - process log lines on stderr. Under systemd (JOURNAL_STREAM set) each line gets a
 * "<N>" priority prefix that journald understands and no timestamp (journald adds one);
 * elsewhere a local ISO-8601 timestamp with milliseconds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include "otsync/log.h"

int otsync_log_level = LOG_INFO;
static const char *log_prog = "otsync";
static int log_systemd;
static int log_buffered;

void
log_set_buffered(int on)
{
    static char buf[1 << 16];

    log_buffered = on;
    setvbuf(stderr, on ? buf : NULL, on ? _IOFBF : _IONBF, on ? sizeof(buf) : 0);
}

void
log_flush(void)
{
    fflush(stderr);
}

void
log_init(const char *prog)
{
    log_prog = prog;
    log_systemd = getenv("JOURNAL_STREAM") != NULL;
}

int
log_level_parse(const char *s)
{
    static const struct { const char *name; int level; } names[] = {
        {"error", LOG_ERR}, {"warning", LOG_WARNING}, {"warn", LOG_WARNING},
        {"notice", LOG_NOTICE}, {"info", LOG_INFO}, {"debug", LOG_DEBUG},
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].level;
    return -1;
}

void
log_write(int level, const char *fmt, ...)
{
    static const char *const tags[] = {"emerg", "alert", "crit", "error", "warning",
                                       "notice", "info", "debug"};
    char line[8192];
    size_t n = 0;
    va_list ap;

    if (level < 0 || level > LOG_DEBUG)
        level = LOG_ERR;
    if (log_systemd) {
        n = (size_t)snprintf(line, sizeof(line), "<%d>", level);
    } else {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ld %s %s: ",
                              (long)(tv.tv_usec / 1000), log_prog, tags[level]);
    }
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    /* whole lines only, so lines from several processes on one stderr do not interleave */
    n = strlen(line);
    if (n < sizeof(line) - 1) {
        line[n++] = '\n';
    } else {
        line[sizeof(line) - 2] = '\n';
        n = sizeof(line) - 1;
    }
    fwrite(line, 1, n, stderr);
    if (!log_buffered || level <= LOG_ERR)
        fflush(stderr);
}
