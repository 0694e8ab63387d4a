/*
 * ossclient.h - an asynchronous OSS client over net.h: the object calls a writer and a reader
 * need (oss.md sections 5 and 10), signed (V1 by default, V4 on request), addressed path-style
 * on an IP or localhost endpoint and virtual-hosted otherwise (oss.md 1.2-1.5).
 *
 * Owns: URLs, signing each attempt's headers, the retry policy of oss.md 7.3 (connection
 * errors, timeouts, 408, 429 and 5xx; nothing else), CRC-64 checks of what was uploaded,
 * resuming a ranged GET from the byte it reached, and turning error XML (or x-oss-err on a
 * HEAD) into one clear message. Leaves to others: the HTTP machinery (net.h), the signature
 * algebra (osssign.h), the XML documents (ossxml.h), what to upload (the plugins).
 *
 * Every call starts a request and returns 0, or fails at once (nothing started, cb never
 * called). cb is called exactly once, later, from the loop, never from inside the call that
 * started it. Whatever the result points to is borrowed for the duration of cb only.
 * Error codes in results: -OTSYNC_ERETRY (gave up on a transient failure, or a CRC mismatch),
 * -OTSYNC_EAUTH (403), -OTSYNC_ENOENT (404), -OTSYNC_EEXIST (409 FileAlreadyExists),
 * -OTSYNC_ECANCELED (the client was closed), -OTSYNC_EPROTO (any other refusal).
 */
#ifndef OTSYNC_OSSCLIENT_H
#define OTSYNC_OSSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "otsync/err.h"
#include "otsync/net.h"
#include "otsync/ossxml.h"

struct ossclient;

/* Everything is copied by ossclient_new; the secret is cleansed when the client is freed. */
struct ossclient_conf {
    const char *endpoint;           /* "http://127.0.0.1:9000", "oss-cn-hangzhou.aliyuncs.com"
                                     * (https:// is assumed); never with the bucket in it */
    const char *bucket;
    const char *access_key_id;
    const char *access_key_secret;
    const char *security_token;     /* STS; NULL or "" when the keys are permanent */
    int sign_version;               /* 1 (also 0) or 4 */
    const char *region;             /* V4: NULL takes it from an oss-<region> endpoint */
    long attempt_timeout_ms;        /* 0 = 60000 */
    long deadline_ms;               /* one call with all its retries; 0 = 300000 */
    int max_attempts;               /* 0 = 6 */
};

struct ossclient_result {
    int rc;                         /* 0 or a negative OTSYNC_E* */
    const struct otsync_err *err;   /* NULL when rc is 0 */
    long status;                    /* HTTP status of the last answer, 0 when none came */
    const char *code;               /* the error's Code, NULL when none */
    const char *request_id;         /* x-oss-request-id, NULL when none */
    bool has_crc64;
    uint64_t crc64;                 /* x-oss-hash-crc64ecma: part, appended-to or whole object */
    const char *etag;               /* quotes included; NULL when none */
    const char *upload_id;          /* initiate */
    uint64_t size;                  /* head: the object's length; get: the object's total */
    uint64_t next_position;         /* append: x-oss-next-append-position */
    const char *object_type;        /* head: Normal, Appendable, Multipart */
    const char *data;               /* get: the bytes of the range */
    size_t len;
    const struct ossxml_list *list; /* list */
};

typedef void (*ossclient_cb)(void *arg, const struct ossclient_result *r);

/* A part of a multipart upload, as CompleteMultipartUpload needs it. */
struct ossclient_part {
    uint32_t number;
    const char *etag;               /* borrowed */
};

/*
 * Checks and copies conf; no I/O. loop and net are borrowed and must outlive the client.
 * Returns 0 with *ret_c (new), or -OTSYNC_ECONFIG (a bad endpoint, a bucket inside the
 * endpoint, no region for V4...) or -OTSYNC_ENOMEM, with err.
 */
int ossclient_new(uv_loop_t *loop, struct net *net, const struct ossclient_conf *conf,
                  struct ossclient **ret_c, struct otsync_err *err) OTSYNC_WUR;
/*
 * Calls still running are dropped: their cb is never called. The client goes once the last of
 * them has ended, which net_close() makes happen at once; the caller then runs the loop so the
 * client's timers close. NULL does nothing. Allowed from a cb of this client.
 */
void ossclient_free(struct ossclient *c);
/* Calls not finished yet. */
size_t ossclient_pending(const struct ossclient *c);

/*
 * The URL of key (NULL or "" for the bucket itself) with the query appended (names and values
 * percent-encoded; a NULL or "" value gives the bare name). 0, or -OTSYNC_EINVAL when len is
 * too small.
 */
struct osssign_param;
int ossclient_url(const struct ossclient *c, const char *key, const struct osssign_param *query,
                  size_t query_count, char *ret_url, size_t len) OTSYNC_WUR;
/* True when the client addresses its bucket path-style (an IP or localhost endpoint). */
bool ossclient_path_style(const struct ossclient *c);

/* PutObject: data is borrowed until cb has been called (put, append and part never copy their
 * data: it is several MB). forbid_overwrite sends x-oss-forbid-overwrite: true. The CRC the
 * server reports is checked against data's. */
int ossclient_put(struct ossclient *c, const char *key, const void *data, size_t len,
                  bool forbid_overwrite, ossclient_cb cb, void *arg, struct otsync_err *err)
    OTSYNC_WUR;
/* AppendObject at position; prev_crc is the object's CRC before (0 at position 0), checked
 * against the chained CRC. A retried append answered PositionNotEqualToLength is settled by a
 * HEAD (oss.md 5.2). */
int ossclient_append(struct ossclient *c, const char *key, uint64_t position, uint64_t prev_crc,
                     const void *data, size_t len, ossclient_cb cb, void *arg,
                     struct otsync_err *err) OTSYNC_WUR;
int ossclient_head(struct ossclient *c, const char *key, ossclient_cb cb, void *arg,
                   struct otsync_err *err) OTSYNC_WUR;
/*
 * GetObject of bytes first..last (inclusive; last UINT64_MAX: to the end) with standard range
 * behaviour, so a range past the end is an error (416), never the whole object again. A
 * transfer that breaks is continued from the byte it reached. r->data holds the range.
 */
int ossclient_get(struct ossclient *c, const char *key, uint64_t first, uint64_t last,
                  ossclient_cb cb, void *arg, struct otsync_err *err) OTSYNC_WUR;
/* ListObjectsV2: one page of up to max_keys (0 = 1000) keys under prefix, after token (NULL or
 * "" for the first page). r->list is the page; its next_continuation_token the next. */
int ossclient_list(struct ossclient *c, const char *prefix, const char *token, unsigned max_keys,
                   ossclient_cb cb, void *arg, struct otsync_err *err) OTSYNC_WUR;
int ossclient_delete(struct ossclient *c, const char *key, ossclient_cb cb, void *arg,
                     struct otsync_err *err) OTSYNC_WUR;
/* DeleteMultipleObjects, quiet, 1 to 1000 keys (copied). */
int ossclient_delete_many(struct ossclient *c, const char *const *keys, size_t count,
                          ossclient_cb cb, void *arg, struct otsync_err *err) OTSYNC_WUR;
/* Multipart: initiate (r->upload_id), upload a part (r->etag, its CRC checked; data borrowed
 * until cb), complete with
 * the parts in ascending order (whole_crc: the CRC of the object the parts make, checked when
 * has_crc), abort. */
int ossclient_mpu_initiate(struct ossclient *c, const char *key, bool forbid_overwrite,
                           ossclient_cb cb, void *arg, struct otsync_err *err) OTSYNC_WUR;
int ossclient_mpu_part(struct ossclient *c, const char *key, const char *upload_id,
                       uint32_t number, const void *data, size_t len, ossclient_cb cb, void *arg,
                       struct otsync_err *err) OTSYNC_WUR;
int ossclient_mpu_complete(struct ossclient *c, const char *key, const char *upload_id,
                           const struct ossclient_part *parts, size_t count, bool has_crc,
                           uint64_t whole_crc, ossclient_cb cb, void *arg,
                           struct otsync_err *err) OTSYNC_WUR;
int ossclient_mpu_abort(struct ossclient *c, const char *key, const char *upload_id,
                        ossclient_cb cb, void *arg, struct otsync_err *err) OTSYNC_WUR;

#endif
