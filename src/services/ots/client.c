/*
 * client.c - the Table Store client: see otsclient.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "otsync/otsclient.h"
#include "otsync/otssign.h"
#include "tablestore.pb-c.h"

#define MAX_HEADERS 8
#define MAX_RESPONSE_HEADERS 32

struct ots_client {
    struct net *net;
    char *endpoint, *instance, *key_id, *secret, *sts_token;
    long attempt_timeout_ms, deadline_ms;
    int max_attempts;
};

struct call {
    struct ots_client *c;
    char op[64];
    bool idempotent;
    ots_done_cb done;
    void *arg;
    uint8_t *body;
    char lines[MAX_HEADERS][512];
    const char *hdrs[MAX_HEADERS + 1];
};

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void
ots_client_free(struct ots_client *c)
{
    if (!c)
        return;
    free(c->endpoint);
    free(c->instance);
    free(c->key_id);
    if (c->secret) {
        explicit_bzero(c->secret, strlen(c->secret));
        free(c->secret);
    }
    free(c->sts_token);
    free(c);
}

int
ots_client_new(struct net *net, const struct ots_client_conf *conf,
               struct ots_client **ret_client, struct otsync_err *err)
{
    struct ots_client *c = calloc(1, sizeof(*c));
    size_t n;

    if (!c)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    c->net = net;
    c->endpoint = dup_or_null(conf->endpoint);
    c->instance = dup_or_null(conf->instance);
    c->key_id = dup_or_null(conf->key_id);
    c->secret = dup_or_null(conf->secret);
    c->sts_token = dup_or_null(conf->sts_token);
    if (!c->endpoint || !c->instance || !c->key_id || !c->secret
        || (conf->sts_token && !c->sts_token)) {
        ots_client_free(c);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    n = strlen(c->endpoint);
    while (n && c->endpoint[n - 1] == '/')
        c->endpoint[--n] = '\0';
    c->attempt_timeout_ms = conf->attempt_timeout_ms;
    c->deadline_ms = conf->deadline_ms;
    c->max_attempts = conf->max_attempts ? conf->max_attempts : 10;
    *ret_client = c;
    return 0;
}

bool
ots_code_retryable(const char *code, const char *message)
{
    static const char *const always[] = {
        "OTSServerBusy", "OTSPartitionUnavailable", "OTSRowOperationConflict",
        "OTSNotEnoughCapacityUnit", "OTSTableNotReady", "OTSStorageServerBusy",
        "OTSOperationThrottled", NULL,
    };
    size_t i;

    for (i = 0; code && always[i]; i++)
        if (strcmp(code, always[i]) == 0)
            return true;
    return code && strcmp(code, "OTSQuotaExhausted") == 0 && message
           && strstr(message, "Too frequent table operations");
}

static bool
retry_if_idempotent(const char *code)
{
    return !strcmp(code, "OTSTimeout") || !strcmp(code, "OTSInternalServerError")
           || !strcmp(code, "OTSServerUnavailable");
}

/* The service's Error from a non-2xx body, when it is one. */
static void
decode_error(const struct net_response *r, struct ots_error *e)
{
    Otsync__Ots__Error *pe;

    memset(e, 0, sizeof(*e));
    e->status = r->status;
    if (!r->body_len)
        return;
    if ((pe = otsync__ots__error__unpack(NULL, r->body_len, (const uint8_t *)r->body))) {
        snprintf(e->code, sizeof(e->code), "%s", pe->code ? pe->code : "");
        snprintf(e->message, sizeof(e->message), "%s", pe->message ? pe->message : "");
        otsync__ots__error__free_unpacked(pe, NULL);
    }
}

static enum net_verdict
classify(void *arg, const struct net_response *r)
{
    struct call *k = arg;
    struct ots_error e;

    if (r->status >= 200 && r->status < 300)
        return NET_OK;
    decode_error(r, &e);
    if (e.code[0] && ots_code_retryable(e.code, e.message))
        return NET_RETRY;
    if (k->idempotent && ((e.code[0] && retry_if_idempotent(e.code)) || r->status >= 500))
        return NET_RETRY;
    return NET_FAIL;
}

/* The x-ots-* headers of the answer, for its signature; values point into block. */
static size_t
answer_headers(char *block, struct otssign_header *out, size_t max, const char **ret_auth)
{
    char *line, *save = NULL, *colon, *v, *end;
    size_t n = 0;

    *ret_auth = NULL;
    for (line = strtok_r(block, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        if (!(colon = strchr(line, ':')))
            continue;
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
            ;
        *end = '\0';
        if (strcasecmp(line, "authorization") == 0)
            *ret_auth = v;
        else if (strncasecmp(line, "x-ots-", 6) == 0 && n < max)
            out[n++] = (struct otssign_header){line, v};
    }
    return n;
}

/*
 * A 2xx answer must be the service's: its body MD5 and signature as tablestore.md 1.4 says.
 * A front-end proxy or a broken middlebox answers without them.
 */
static int
check_answer(struct call *k, const struct net_response *r, struct otsync_err *err)
{
    struct otssign_header h[MAX_RESPONSE_HEADERS];
    char md5[OTSSIGN_MD5_LEN], path[80], *block;
    const char *auth, *sent_md5 = NULL;
    size_t n, i;
    int rc = 0;

    if (!(block = strdup(r->headers ? r->headers : "")))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    n = answer_headers(block, h, MAX_RESPONSE_HEADERS, &auth);
    for (i = 0; i < n; i++)
        if (strcasecmp(h[i].name, "x-ots-contentmd5") == 0)
            sent_md5 = h[i].value;
    snprintf(path, sizeof(path), "/%s", k->op);
    if (!sent_md5) {
        rc = otsync_err_set(err, OTSYNC_EPROTO, "Table Store %s: the answer has no "
                            "x-ots-contentmd5: not the service's", k->op);
    } else if (otssign_content_md5(r->body, r->body_len, md5, sizeof(md5), err) < 0
               || strcmp(md5, sent_md5) != 0) {
        rc = otsync_err_set(err, OTSYNC_EPROTO, "Table Store %s: the answer's body does not "
                            "match its x-ots-contentmd5", k->op);
    } else if (!auth || otssign_response_check(NULL, k->c->secret, path, h, n, auth, NULL) < 0) {
        rc = otsync_err_set(err, OTSYNC_EAUTH, "Table Store %s: the answer's signature does not "
                            "match (a proxy, or the wrong secret)", k->op);
    }
    free(block);
    return rc;
}

static void
on_done(void *arg, const struct net_response *r, enum net_verdict v,
        const struct otsync_err *nerr)
{
    struct call *k = arg;
    struct otsync_err err;
    struct ots_error e;
    int rc;

    otsync_err_clear(&err);
    memset(&e, 0, sizeof(e));
    e.status = r->status;
    if (v == NET_OK) {
        if ((rc = check_answer(k, r, &err)) == 0) {
            k->done(k->arg, 0, (const uint8_t *)r->body, r->body_len, NULL, NULL);
            goto out;
        }
    } else if (r->status == 0) {
        rc = otsync_err_set(&err, nerr && nerr->code == OTSYNC_ECANCELED ? OTSYNC_ECANCELED
                            : OTSYNC_ERETRY, "Table Store %s at %s: %s", k->op, k->c->endpoint,
                            nerr ? nerr->msg : "no answer");
    } else {
        decode_error(r, &e);
        if (!e.code[0])
            rc = otsync_err_set(&err, OTSYNC_EPROTO, "Table Store %s: HTTP %ld without the "
                                "service's error body", k->op, r->status);
        else {
            int code = !strcmp(e.code, "OTSAuthFailed") ? OTSYNC_EAUTH
                       : !strcmp(e.code, "OTSObjectNotExist") ? OTSYNC_ENOENT
                       : classify(k, r) == NET_RETRY ? OTSYNC_ERETRY : OTSYNC_EINVAL;

            rc = otsync_err_set(&err, code, "Table Store %s: %s: %s%s", k->op, e.code,
                                e.message, code == OTSYNC_ERETRY ? " (gave up retrying)" : "");
        }
    }
    k->done(k->arg, rc, NULL, 0, &e, &err);
out:
    free(k->body);
    free(k);
}

int
ots_call(struct ots_client *c, const char *op, const ProtobufCMessage *req, bool idempotent,
         ots_done_cb done, void *arg, struct otsync_err *err)
{
    struct otssign_header h[6];
    struct net_request nr;
    char date[64], md5[OTSSIGN_MD5_LEN], sig[OTSSIGN_SIG_LEN], path[80], url[2048];
    struct timespec ts;
    struct call *k;
    struct tm tm;
    size_t len, i, n = 0;
    int rc;

    if (!(k = calloc(1, sizeof(*k))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    len = protobuf_c_message_get_packed_size(req);
    if (!(k->body = malloc(len ? len : 1))) {
        free(k);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    protobuf_c_message_pack(req, k->body);
    k->c = c;
    snprintf(k->op, sizeof(k->op), "%s", op);
    k->idempotent = idempotent;
    k->done = done;
    k->arg = arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(date, sizeof(date), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts.tv_nsec / 1000000));
    snprintf(path, sizeof(path), "/%s", op);
    if ((rc = otssign_content_md5(k->body, len, md5, sizeof(md5), err)) < 0)
        goto fail;
    h[n++] = (struct otssign_header){"x-ots-date", date};
    h[n++] = (struct otssign_header){"x-ots-apiversion", "2015-12-31"};
    h[n++] = (struct otssign_header){"x-ots-accesskeyid", c->key_id};
    h[n++] = (struct otssign_header){"x-ots-instancename", c->instance};
    h[n++] = (struct otssign_header){"x-ots-contentmd5", md5};
    if (c->sts_token)
        h[n++] = (struct otssign_header){"x-ots-ststoken", c->sts_token};
    if ((rc = otssign_request(c->secret, path, "POST", h, n, sig, sizeof(sig), err)) < 0)
        goto fail;
    for (i = 0; i < n; i++) {
        snprintf(k->lines[i], sizeof(k->lines[i]), "%s: %s", h[i].name, h[i].value);
        k->hdrs[i] = k->lines[i];
    }
    snprintf(k->lines[n], sizeof(k->lines[n]), "x-ots-signature: %s", sig);
    k->hdrs[n] = k->lines[n];
    k->hdrs[n + 1] = NULL;
    snprintf(url, sizeof(url), "%s/%s", c->endpoint, op);
    memset(&nr, 0, sizeof(nr));
    nr.method = "POST";
    nr.url = url;
    nr.headers = k->hdrs;
    nr.body = k->body;
    nr.body_len = len;
    nr.body_borrowed = true;    /* k, and so its body, lives until on_done */
    nr.attempt_timeout_ms = c->attempt_timeout_ms;
    nr.deadline_ms = c->deadline_ms;
    nr.max_attempts = c->max_attempts;
    nr.classify = classify;
    nr.done = on_done;
    nr.arg = k;
    if ((rc = net_request(c->net, &nr, err)) < 0)
        goto fail;
    return 0;
fail:
    free(k->body);
    free(k);
    return rc;
}
