/*
 * err.c - filling struct otsync_err and naming codes. Leaves logging to the caller.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "otsync/err.h"

void
otsync_err_clear(struct otsync_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

int
otsync_err_set(struct otsync_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -code;
}

int
otsync_err_errno(struct otsync_err *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (err) {
        err->code = OTSYNC_ESYS;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        n = strlen(err->msg);
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
    }
    return -OTSYNC_ESYS;
}

int
otsync_err_prefix(struct otsync_err *err, const char *fmt, ...)
{
    char prefix[OTSYNC_ERR_MSG_LEN], old[OTSYNC_ERR_MSG_LEN], both[2 * OTSYNC_ERR_MSG_LEN + 4];
    va_list ap;

    if (!err)
        return -OTSYNC_EINVAL;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(both, sizeof(both), "%s: %s", prefix, old);
    /* a long message is cut at the buffer's end rather than dropped */
    memcpy(err->msg, both, sizeof(err->msg) - 1);
    err->msg[sizeof(err->msg) - 1] = '\0';
    return -err->code;
}

const char *
otsync_strerror(int code)
{
    static const char *const names[OTSYNC_E_MAX] = {
        [OTSYNC_OK] = "success",
        [OTSYNC_ESYS] = "system error",
        [OTSYNC_ENOMEM] = "out of memory",
        [OTSYNC_EINVAL] = "invalid argument",
        [OTSYNC_ECONFIG] = "configuration error",
        [OTSYNC_ERETRY] = "transient failure",
        [OTSYNC_ENOENT] = "not found",
        [OTSYNC_EEXIST] = "already exists",
        [OTSYNC_EPROTO] = "protocol error",
        [OTSYNC_EAUTH] = "authentication failed",
        [OTSYNC_ECANCELED] = "canceled",
        [OTSYNC_ECORRUPT] = "corrupt data",
    };

    if (code < 0)
        code = -code;
    if (code >= OTSYNC_E_MAX)
        return "unknown error";
    return names[code];
}
