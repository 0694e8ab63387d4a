/*
 * otsclient.h - an asynchronous Table Store client on net: one signed POST per operation,
 * the answer's MD5 and signature checked, the service's error decoded, and the retry policy
 * of tablestore.md 1.6.
 *
 * Owns: the request headers and signature, the checks of an answer, which errors are worth
 * another attempt. Leaves to others: the protobuf messages (tablestore.pb-c.h, built by the
 * caller), PlainBuffer rows (plainbuffer.h), what to do with the answer (the plugins).
 *
 * Retries: an operation is retried on the codes the service says are always retryable
 * (OTSServerBusy, OTSPartitionUnavailable, OTSRowOperationConflict, OTSNotEnoughCapacityUnit,
 * OTSTableNotReady, the DDL quota message) and, when the caller says it is idempotent, on
 * OTSTimeout, OTSInternalServerError, OTSServerUnavailable and any 5xx or broken connection.
 * Backoff and deadline are net's.
 */
#ifndef OTSYNC_OTSCLIENT_H
#define OTSYNC_OTSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "otsync/err.h"
#include "otsync/net.h"

struct ots_client;

struct ots_client_conf {
    const char *endpoint;       /* http(s)://host[:port], no trailing path */
    const char *instance;
    const char *key_id;
    const char *secret;         /* borrowed for the client's life; never logged */
    const char *sts_token;      /* NULL: permanent keys */
    long attempt_timeout_ms;    /* 0: net's default */
    long deadline_ms;           /* 0: net's default */
    int max_attempts;           /* 0: 10 */
};

/* What a failed call was told (or not told: status 0). */
struct ots_error {
    long status;                /* HTTP status; 0 when no answer came */
    char code[64];              /* the service's code, "" when none */
    char message[256];
};

/*
 * done: rc 0 with the answer's body (borrowed for the call), or a negative code with err
 * saying why and e (may be NULL) holding the service's code: -OTSYNC_ERETRY when attempts or
 * the deadline ran out on retryable failures, -OTSYNC_EAUTH for 403 OTSAuthFailed and answers
 * whose signature does not match, -OTSYNC_ENOENT for OTSObjectNotExist, -OTSYNC_EPROTO for an
 * answer that is not the service's, -OTSYNC_EINVAL for other refusals.
 */
typedef void (*ots_done_cb)(void *arg, int rc, const uint8_t *body, size_t len,
                            const struct ots_error *e, const struct otsync_err *err);

/* A client on net (borrowed; outlives the client). conf's strings are copied, except none. */
int ots_client_new(struct net *net, const struct ots_client_conf *conf,
                   struct ots_client **ret_client, struct otsync_err *err) OTSYNC_WUR;
void ots_client_free(struct ots_client *c);     /* after its calls are done; NULL is fine */

/*
 * Sends op ("GetRange") with req packed as the body. done is called once, later, from the
 * loop. Returns 0, or a negative code with err (nothing was sent, done will not be called).
 */
int ots_call(struct ots_client *c, const char *op, const ProtobufCMessage *req, bool idempotent,
             ots_done_cb done, void *arg, struct otsync_err *err) OTSYNC_WUR;

/* Whether a row-level error code of a batch answer is worth sending that row again. */
bool ots_code_retryable(const char *code, const char *message);

#endif
