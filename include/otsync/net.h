/*
 * net.h - every HTTP request otsync makes: one libcurl multi handle driven by the libuv loop,
 * with a per-attempt timeout, an overall deadline, retries with exponential backoff and full
 * jitter (the service decides what is retryable), connection reuse under a connection cap,
 * TLS verification on, proxies from the environment (libcurl's http_proxy, https_proxy,
 * no_proxy). Callbacks run on the loop; none blocks.
 */
#ifndef OTSYNC_NET_H
#define OTSYNC_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "otsync/err.h"

struct net;

struct net_opts {
    long max_connections;       /* CURLMOPT_MAX_TOTAL_CONNECTIONS; 0 = 16 */
    const char *ca_path;        /* a CA bundle file; NULL = the system's */
    long connect_timeout_ms;    /* 0 = 10000 */
};

/* One answer (borrowed by the callbacks; the body is NUL-terminated). */
struct net_response {
    long status;                /* HTTP status, 0 when none came */
    const char *body;
    size_t body_len;
    const char *headers;        /* the raw response header block of the last attempt */
    int curl_code;              /* CURLcode of the last attempt */
    int attempts;
};

enum net_verdict { NET_OK, NET_RETRY, NET_FAIL };

struct net_request {
    const char *method;         /* "GET", "PUT", ... */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated; copied */
    const void *body;           /* copied, unless body_borrowed */
    size_t body_len;
    bool body_borrowed;         /* the caller keeps body alive until done(): no copy (a
                                 * multi-MB upload part is then never copied twice) */
    long attempt_timeout_ms;    /* one attempt; 0 = 30000 */
    long deadline_ms;           /* all attempts and waits together; 0 = 120000 */
    int max_attempts;           /* 0 = 5 */
    long backoff_base_ms;       /* 0 = 100: attempt n waits random(0, base * 2^(n-1)) */
    long backoff_max_ms;        /* 0 = 10000 */
    /*
     * Judges an answer (status and body). NULL: 2xx OK; 408, 429 and 5xx RETRY; the rest
     * FAIL. Transport errors (no answer, reset, timeout) are always retried while the
     * attempts and the deadline allow.
     */
    enum net_verdict (*classify)(void *arg, const struct net_response *r);
    /* The end: verdict NET_OK or NET_FAIL, with why it failed (err filled) */
    void (*done)(void *arg, const struct net_response *r, enum net_verdict v,
                 const struct otsync_err *err);
    void *arg;
};

/* Returns 0 and *ret_net, or a negative code with err. */
int net_new(uv_loop_t *loop, const struct net_opts *o, struct net **ret_net,
            struct otsync_err *err) OTSYNC_WUR;

/* Starts a request; done is called exactly once, later, from the loop. */
int net_request(struct net *n, const struct net_request *req, struct otsync_err *err) OTSYNC_WUR;

/* Requests not done yet. */
size_t net_pending(const struct net *n);

/* Cancels what is pending (done hears -OTSYNC_ECANCELED), closes the handles; the caller
 * runs the loop until they are closed, then net_free. */
void net_close(struct net *n);
void net_free(struct net *n);     /* NULL does nothing */

/* net_close, then net frees itself once the loop closed its last handle: for owners that
 * are gone before the loop runs again (a plugin's close). NULL does nothing. */
void net_release(struct net *n);

#endif
