/*
 * err.h - error codes and the error record every fallible call fills.
 *
 * Owns: the OTSYNC_E* codes, struct otsync_err and its setters.
 * Convention (STYLE.md): 0 is success, a negative OTSYNC_E* is failure.
 * Whoever fills a struct otsync_err does not also log; the caller decides.
 */
#ifndef OTSYNC_ERR_H
#define OTSYNC_ERR_H

#include <stddef.h>

enum {
    OTSYNC_OK = 0,
    OTSYNC_ESYS,        /* a system call failed; the message carries strerror */
    OTSYNC_ENOMEM,
    OTSYNC_EINVAL,      /* bad argument or bad input */
    OTSYNC_ECONFIG,     /* configuration / catalogue / job error */
    OTSYNC_ERETRY,      /* transient: timeout, 429, 5xx; worth another try */
    OTSYNC_ENOENT,
    OTSYNC_EEXIST,
    OTSYNC_EPROTO,      /* a peer broke the protocol */
    OTSYNC_EAUTH,
    OTSYNC_ECANCELED,
    OTSYNC_ECORRUPT,    /* stored data failed its checksum */
    OTSYNC_E_MAX
};

#define OTSYNC_ERR_MSG_LEN 1024

struct otsync_err {
    int code;                       /* positive OTSYNC_E*, 0 when unset */
    char msg[OTSYNC_ERR_MSG_LEN];   /* lower-case, no final period */
};

#define OTSYNC_WUR __attribute__((warn_unused_result))
#define OTSYNC_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Clears err (may be NULL). */
void otsync_err_clear(struct otsync_err *err);

/* Fills err (may be NULL) and returns -code, so callers can `return otsync_err_set(...)`. */
int otsync_err_set(struct otsync_err *err, int code, const char *fmt, ...) OTSYNC_PRINTF(3, 4);

/* Like otsync_err_set with OTSYNC_ESYS; appends ": strerror(errnum)". Returns -OTSYNC_ESYS. */
int otsync_err_errno(struct otsync_err *err, int errnum, const char *fmt, ...) OTSYNC_PRINTF(3, 4);

/* Prefixes the message already in err with "prefix: "; keeps the code. Returns -code. */
int otsync_err_prefix(struct otsync_err *err, const char *fmt, ...) OTSYNC_PRINTF(2, 3);

/* Static name of a code; accepts either sign. */
const char *otsync_strerror(int code);

#endif
