/*
 * ossconn.h - the connection both oss plugins open: a named datasource (datasource.h) or the
 * DataX parameters given inline, an HTTP client (net.h) and an OSS client (ossclient.h) on the
 * job's loop, and their orderly end. Private to src/plugins.
 */
#ifndef OTSYNC_OSSCONN_H
#define OTSYNC_OSSCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "otsync/err.h"
#include "otsync/net.h"
#include "otsync/ossclient.h"
#include "../run/plugin.h"

/* The connection parameters, at member `conn` of a plugin's conf struct. */
struct ossconn_conf {
    const char *datasource;
    const char *endpoint;
    const char *access_id;
    const char *access_key;
    const char *security_token;
    const char *bucket;
    int64_t signature_version;
    const char *region;
};

/* The option table entries of struct ossconn_conf `conn` inside conf struct type T. */
#define OSSCONN_OPTIONS(T)                                                                    \
    {"datasource", OTSYNC_OPT_STRING, offsetof(T, conn.datasource), "",                       \
     "a named OSS connection of the datasources file; else the four below are required"},     \
    {"endpoint", OTSYNC_OPT_STRING, offsetof(T, conn.endpoint), "",                           \
     "the region endpoint, e.g. http://oss-cn-hangzhou.aliyuncs.com, never with the bucket"}, \
    {"accessId", OTSYNC_OPT_STRING, offsetof(T, conn.access_id), "", "the access key id"},    \
    {"accessKey", OTSYNC_OPT_STRING, offsetof(T, conn.access_key), "",                        \
     "the access key secret"},                                                                \
    {"securityToken", OTSYNC_OPT_STRING, offsetof(T, conn.security_token), "",                \
     "an STS token, when the keys are temporary"},                                            \
    {"bucket", OTSYNC_OPT_STRING, offsetof(T, conn.bucket), "",                               \
     "the bucket (with datasource: overrides the datasource's)"},                             \
    {"signatureVersion", OTSYNC_OPT_INT, offsetof(T, conn.signature_version), "1",            \
     "OSS signature version, 1 or 4"},                                                        \
    {"region", OTSYNC_OPT_STRING, offsetof(T, conn.region), "",                               \
     "signature V4: the region id (default: from an oss-<region> endpoint)"}

struct ossconn {
    struct net *net;
    struct ossclient *client;
    const char *bucket;         /* borrowed from the job or the datasources */
    uv_timer_t reaper;          /* its close callback says gone() on a later loop turn */
    void (*gone)(void *arg);
    void *gone_arg;
};

/*
 * Builds the connection on loop from conf (path names the parameter object in messages);
 * no I/O. 0 with *ret_c (new), or -OTSYNC_ECONFIG / -OTSYNC_ENOMEM with err.
 */
int ossconn_open(uv_loop_t *loop, const struct datasources *set, const struct ossconn_conf *conf,
                 const char *path, struct ossconn **ret_c, struct otsync_err *err) OTSYNC_WUR;

/* Drops the client's calls, closes the HTTP client, and from a later loop turn, once all of it
 * is freed, calls gone(arg) (may be NULL) and frees c. */
void ossconn_close(struct ossconn *c, void (*gone)(void *arg), void *arg);

#endif
