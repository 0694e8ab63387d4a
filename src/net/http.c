/*
 * http.c - libcurl's multi interface on the libuv loop (STYLE.md, "Loop, HTTP"): one uv_poll
 * per socket curl announces, stopped and closed in CURL_POLL_REMOVE; curl's timer becomes a
 * uv_timer (-1 stops it, 0 becomes 1 ms); curl_multi_info_read is drained after every
 * action; a poll error becomes CURL_CSELECT_ERR; CURLMOPT_MAX_TOTAL_CONNECTIONS is always
 * set. Retries wait on their own uv_timer, so a backoff never blocks the loop.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "otsync/net.h"

struct net {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct xfer *xfers;         /* every request not done */
    size_t pending;
    long connect_timeout_ms;
    char *ca_path;
    bool closing;
    int open_handles;           /* uv handles not closed yet (the timer, polls) */
    bool free_when_closed;      /* net_release: free once the last handle closed */
};

struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct net *n;
};

#define RESERVE_MAX (16u << 20)    /* the largest Content-Length taken up front */

struct buf {
    char *p;
    size_t len, cap;
};

struct xfer {
    struct net *n;
    struct net_request req;     /* strings below are our copies */
    char *method, *url, *body;
    const void *borrowed_body;  /* the caller's, when it lends it (body_borrowed) */
    struct curl_slist *headers;
    CURL *easy;
    uv_timer_t wait;            /* backoff before the next attempt */
    bool wait_open;
    struct buf resp, resp_headers;
    int attempts;
    uint64_t deadline;          /* uv_now() value */
    bool unlinked;              /* off the list: done() is running or has run */
    struct xfer *prev, *next;
};

static void check_done(struct net *n);

static void
on_wait_closed(uv_handle_t *h)
{
    free(h->data);
}

/* ---- buffers ---- */

static bool
buf_add(struct buf *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *np;
        while (cap < b->len + len + 1)
            cap *= 2;
        if (!(np = realloc(b->p, cap)))
            return false;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
    return true;
}

/* Room for want more bytes at once (see on_header). */
static void
buf_reserve(struct buf *b, size_t want)
{
    char *np;

    if (b->len + want + 1 <= b->cap || !(np = realloc(b->p, b->len + want + 1)))
        return;     /* no room now: buf_add still grows it as the bytes come */
    b->p = np;
    b->cap = b->len + want + 1;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;

    return buf_add(&x->resp, data, size * nmemb) ? size * nmemb : 0;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;

    /* a new status line starts a new block (redirects are off, but 100-continue is not) */
    if (size * nmemb >= 5 && strncmp(data, "HTTP/", 5) == 0)
        x->resp_headers.len = 0;
    /* a page of GetRange is most of a MB: growing the body by doubling copied it twice over.
     * Trusted only up to RESERVE_MAX (a hostile length costs nothing), never for HEAD. */
    if (size * nmemb > 15 && strncasecmp(data, "Content-Length:", 15) == 0
        && strcmp(x->method, "HEAD") != 0) {
        char num[32];
        size_t k = size * nmemb - 15 < sizeof(num) - 1 ? size * nmemb - 15 : sizeof(num) - 1;
        unsigned long long n;

        memcpy(num, data + 15, k);      /* the line is not NUL-terminated */
        num[k] = '\0';
        n = strtoull(num, NULL, 10);
        if (n > 0 && n <= RESERVE_MAX)
            buf_reserve(&x->resp, (size_t)n);
    }
    return buf_add(&x->resp_headers, data, size * nmemb) ? size * nmemb : 0;
}

/* ---- the loop side ---- */

static void
release_if_done(struct net *n)
{
    if (n->free_when_closed && n->open_handles == 0) {
        free(n->ca_path);
        free(n);
    }
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct net *n = h->data;

    n->open_handles--;
    release_if_done(n);
}

static void
on_sock_closed(uv_handle_t *h)
{
    struct sock *s = (struct sock *)h;
    struct net *n = s->n;

    free(s);
    n->open_handles--;
    release_if_done(n);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
    struct sock *s = (struct sock *)p;
    struct net *n = s->n;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(n->multi, s->fd, flags, &running);
    check_done(n);
}

static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct net *n = userp;
    struct sock *s = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(n->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof(*s))))
            return -1;
        s->fd = fd;
        s->n = n;
        if (uv_poll_init_socket(n->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        n->open_handles++;
        curl_multi_assign(n->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void
on_curl_timer(uv_timer_t *t)
{
    struct net *n = t->data;
    int running;

    curl_multi_socket_action(n->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(n);
}

static int
on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    struct net *n = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&n->timer);
    else
        uv_timer_start(&n->timer, on_curl_timer, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- requests ---- */

/* Takes x off the list of pending requests (once). */
static void
xfer_unlink(struct xfer *x)
{
    struct net *n = x->n;

    if (x->unlinked)
        return;
    x->unlinked = true;
    if (x->prev)
        x->prev->next = x->next;
    else
        n->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    n->pending--;
}

static void
xfer_free(struct xfer *x)
{
    struct net *n = x->n;

    xfer_unlink(x);
    if (x->easy) {
        curl_multi_remove_handle(n->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    free(x->method);
    free(x->url);
    free(x->body);
    free(x->resp.p);
    free(x->resp_headers.p);
    if (x->wait_open) {
        /* the timer lives in x: x goes when libuv is done with it */
        x->wait.data = x;
        uv_close((uv_handle_t *)&x->wait, on_wait_closed);
        return;
    }
    free(x);
}

static void
finish(struct xfer *x, enum net_verdict v, struct otsync_err *err, long status, int code)
{
    struct net_response r = {status, x->resp.p ? x->resp.p : "", x->resp.len,
                             x->resp_headers.p ? x->resp_headers.p : "", code, x->attempts};

    /* off the list first: done() may close the whole net, which must not finish x again */
    xfer_unlink(x);
    x->req.done(x->req.arg, &r, v, err);
}

static int start_attempt(struct xfer *x, struct otsync_err *err);

static void
on_wait(uv_timer_t *t)
{
    struct xfer *x = t->data;
    struct otsync_err err;

    otsync_err_clear(&err);
    if (start_attempt(x, &err) < 0) {
        finish(x, NET_FAIL, &err, 0, 0);
        xfer_free(x);
    }
}

/* The wait before attempt x->attempts + 1: full jitter over an exponential bound. */
static uint64_t
backoff_ms(const struct xfer *x)
{
    uint64_t bound = (uint64_t)x->req.backoff_base_ms << (x->attempts > 20 ? 20 : x->attempts - 1);

    if (bound > (uint64_t)x->req.backoff_max_ms)
        bound = (uint64_t)x->req.backoff_max_ms;
    return bound ? (uint64_t)random() % (bound + 1) : 0;
}

static enum net_verdict
default_classify(const struct net_response *r)
{
    if (r->status >= 200 && r->status < 300)
        return NET_OK;
    if (r->status == 408 || r->status == 429 || r->status >= 500)
        return NET_RETRY;
    return NET_FAIL;
}

/* One attempt is over: judge it, then finish or wait and try again. */
static void
attempt_done(struct xfer *x, CURLcode code)
{
    struct net *n = x->n;
    struct otsync_err err;
    long status = 0;
    enum net_verdict v;
    uint64_t now = uv_now(n->loop), wait;

    otsync_err_clear(&err);
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(n->multi, x->easy);
    if (code != CURLE_OK) {
        v = NET_RETRY;
        otsync_err_set(&err, OTSYNC_ERETRY, "%s %s: %s", x->method, x->url,
                       curl_easy_strerror(code));
        status = 0;
    } else {
        struct net_response r = {status, x->resp.p ? x->resp.p : "", x->resp.len,
                                 x->resp_headers.p ? x->resp_headers.p : "", code, x->attempts};
        v = x->req.classify ? x->req.classify(x->req.arg, &r) : default_classify(&r);
        if (v != NET_OK)
            otsync_err_set(&err, v == NET_RETRY ? OTSYNC_ERETRY : OTSYNC_EPROTO,
                           "%s %s: HTTP %ld", x->method, x->url, status);
    }
    if (v == NET_RETRY) {
        wait = backoff_ms(x);
        if (x->attempts >= x->req.max_attempts || now + wait >= x->deadline || n->closing) {
            otsync_err_prefix(&err, "gave up after %d attempt%s", x->attempts,
                              x->attempts == 1 ? "" : "s");
            v = NET_FAIL;
        } else {
            /* a fresh body for the next answer */
            x->resp.len = 0;
            x->resp_headers.len = 0;
            if (!x->wait_open) {
                uv_timer_init(n->loop, &x->wait);
                x->wait.data = x;
                x->wait_open = true;
            }
            uv_timer_start(&x->wait, on_wait, wait ? wait : 1, 0);
            return;
        }
    }
    finish(x, v, v == NET_OK ? NULL : &err, status, code);
    xfer_free(x);
}

static void
check_done(struct net *n)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(n->multi, &left))) {
        struct xfer *x = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x)
            attempt_done(x, m->data.result);
    }
}

static int
start_attempt(struct xfer *x, struct otsync_err *err)
{
    struct net *n = x->n;
    uint64_t now = uv_now(n->loop);
    long left = x->deadline > now ? (long)(x->deadline - now) : 1;
    long t = x->req.attempt_timeout_ms < left ? x->req.attempt_timeout_ms : left;
    CURLMcode mc;

    x->attempts++;
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, t);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     n->connect_timeout_ms < t ? n->connect_timeout_ms : t);
    if ((mc = curl_multi_add_handle(n->multi, x->easy)) != CURLM_OK)
        return otsync_err_set(err, OTSYNC_ESYS, "%s %s: %s", x->method, x->url,
                              curl_multi_strerror(mc));
    return 0;
}

int
net_request(struct net *n, const struct net_request *req, struct otsync_err *err)
{
    struct xfer *x;
    size_t i;
    int rc;

    if (n->closing)
        return otsync_err_set(err, OTSYNC_ECANCELED, "the HTTP client is closing");
    if (!(x = calloc(1, sizeof(*x))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    x->n = n;
    x->req = *req;
    if (!x->req.attempt_timeout_ms)
        x->req.attempt_timeout_ms = 30000;
    if (!x->req.deadline_ms)
        x->req.deadline_ms = 120000;
    if (!x->req.max_attempts)
        x->req.max_attempts = 5;
    if (!x->req.backoff_base_ms)
        x->req.backoff_base_ms = 100;
    if (!x->req.backoff_max_ms)
        x->req.backoff_max_ms = 10000;
    x->method = strdup(req->method ? req->method : "GET");
    x->url = strdup(req->url);
    if (req->body_len && req->body_borrowed)
        x->borrowed_body = req->body;
    else if (req->body_len && (x->body = malloc(req->body_len)))
        memcpy(x->body, req->body, req->body_len);
    x->easy = curl_easy_init();
    x->next = n->xfers;
    if (n->xfers)
        n->xfers->prev = x;
    n->xfers = x;
    n->pending++;
    if (!x->method || !x->url || !x->easy || (req->body_len && !x->body && !x->borrowed_body)) {
        xfer_free(x);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    for (i = 0; req->headers && req->headers[i]; i++) {
        struct curl_slist *l = curl_slist_append(x->headers, req->headers[i]);
        if (!l) {
            xfer_free(x);
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        }
        x->headers = l;
    }
    /* libcurl adds headers of its own to a body (Expect, and a Content-Type that nobody
     * signed): a signed request carries exactly the headers its service signed */
    {
        bool has_type = false;
        struct curl_slist *l;
        for (i = 0; req->headers && req->headers[i]; i++)
            if (strncasecmp(req->headers[i], "Content-Type:", 13) == 0)
                has_type = true;
        if (!(l = curl_slist_append(x->headers, "Expect:"))
            || (x->headers = l, !has_type && !(l = curl_slist_append(x->headers, "Content-Type:")))) {
            xfer_free(x);
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        }
        x->headers = l;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
    curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, x->method);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (n->ca_path)
        curl_easy_setopt(x->easy, CURLOPT_CAINFO, n->ca_path);
    if (strcmp(x->method, "HEAD") == 0)
        curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
    if (x->body || x->borrowed_body || strcmp(x->method, "PUT") == 0
        || strcmp(x->method, "POST") == 0) {
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body ? x->body
                         : x->borrowed_body ? x->borrowed_body : "");
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    x->deadline = uv_now(n->loop) + (uint64_t)x->req.deadline_ms;
    if ((rc = start_attempt(x, err)) < 0) {
        xfer_free(x);
        return rc;
    }
    return 0;
}

size_t
net_pending(const struct net *n)
{
    return n->pending;
}

int
net_new(uv_loop_t *loop, const struct net_opts *o, struct net **ret_net, struct otsync_err *err)
{
    static bool global_done;
    struct net *n;

    *ret_net = NULL;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return otsync_err_set(err, OTSYNC_ESYS, "libcurl could not start");
        global_done = true;
    }
    if (!(n = calloc(1, sizeof(*n))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    n->loop = loop;
    n->connect_timeout_ms = o && o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    if (o && o->ca_path && !(n->ca_path = strdup(o->ca_path))) {
        free(n);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    if (!(n->multi = curl_multi_init())) {
        free(n->ca_path);
        free(n);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    n->open_handles = 1;
    curl_multi_setopt(n->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(n->multi, CURLMOPT_SOCKETDATA, n);
    curl_multi_setopt(n->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(n->multi, CURLMOPT_TIMERDATA, n);
    curl_multi_setopt(n->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      o && o->max_connections ? o->max_connections : 16L);
    *ret_net = n;
    return 0;
}

void
net_close(struct net *n)
{
    struct otsync_err err;

    if (!n || n->closing)
        return;
    n->closing = true;
    while (n->xfers) {
        struct xfer *x = n->xfers;
        otsync_err_set(&err, OTSYNC_ECANCELED, "%s %s: canceled", x->method, x->url);
        finish(x, NET_FAIL, &err, 0, 0);
        xfer_free(x);
    }
    /* the pooled connections go now: their CURL_POLL_REMOVE closes their polls */
    curl_multi_cleanup(n->multi);
    n->multi = NULL;
    uv_timer_stop(&n->timer);
    uv_close((uv_handle_t *)&n->timer, on_timer_closed);
}

void
net_release(struct net *n)
{
    if (!n)
        return;
    net_close(n);
    n->free_when_closed = true;
    release_if_done(n);
}

void
net_free(struct net *n)
{
    if (!n)
        return;
    if (n->multi)
        curl_multi_cleanup(n->multi);
    free(n->ca_path);
    free(n);
}
