/*
 * test-net.c - the HTTP core against a libmicrohttpd server on 127.0.0.1 (an ephemeral port,
 * stopped by the test) that misbehaves on demand: /ok, /status/N, /flaky/KEY/N (503 for the
 * first N calls of KEY), /reset (closes without an answer), /slow/MS (answers after MS ms),
 * /echo (the method, Content-Type and body it got). Checks the retries, the per-attempt
 * timeout, the overall deadline, and that 200 concurrent requests finish under a cap of 16
 * connections, which the server sees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <uv.h>
#include "otsync/net.h"

static struct MHD_Daemon *server;
static int port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int open_conns, max_conns, calls;
static char flaky_key[64];
static int flaky_seen;

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned code, const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                                             MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, code, r);

    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    char key[64];
    int n;

    (void)cls;
    (void)version;
    if (*ctx == NULL) {
        /* the first call only announces the request; the body comes in the next ones */
        *ctx = calloc(1, 4096);
        return MHD_YES;
    }
    if (*upload_size) {
        char *b = *ctx;
        size_t have = strlen(b);
        snprintf(b + have, 4096 - have, "%.*s", (int)*upload_size, upload);
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&mu);
    calls++;
    pthread_mutex_unlock(&mu);
    if (strcmp(url, "/ok") == 0)
        return answer(c, 200, "fine");
    if (sscanf(url, "/status/%d", &n) == 1)
        return answer(c, (unsigned)n, "status");
    if (sscanf(url, "/flaky/%63[^/]/%d", key, &n) == 2) {
        int seen;
        pthread_mutex_lock(&mu);
        if (strcmp(key, flaky_key) != 0) {
            snprintf(flaky_key, sizeof(flaky_key), "%s", key);
            flaky_seen = 0;
        }
        seen = ++flaky_seen;
        pthread_mutex_unlock(&mu);
        return seen <= n ? answer(c, 503, "busy") : answer(c, 200, "at last");
    }
    if (strcmp(url, "/reset") == 0)
        return MHD_NO;      /* the connection is closed without an answer */
    if (sscanf(url, "/slow/%d", &n) == 1) {
        usleep((useconds_t)n * 1000);
        return answer(c, 200, "slow");
    }
    if (strcmp(url, "/echo") == 0) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        char text[4400];
        snprintf(text, sizeof(text), "%s|%s|%s", method, ct ? ct : "-", (char *)*ctx);
        return answer(c, 200, text);
    }
    return answer(c, 404, "no");
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    free(*ctx);
    *ctx = NULL;
}

static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    pthread_mutex_lock(&mu);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        if (++open_conns > max_conns)
            max_conns = open_conns;
    } else {
        open_conns--;
    }
    pthread_mutex_unlock(&mu);
}

static int
start_server(void **state)
{
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);   /* 127.0.0.1, an ephemeral port */
    sa.sin_port = 0;
    server = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                              0, NULL, NULL, on_request, NULL,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!server)
        return -1;
    info = MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT);
    port = info->port;
    return 0;
}

static int
stop_server(void **state)
{
    (void)state;
    MHD_stop_daemon(server);
    return 0;
}

/* ---- the client side ---- */

struct result {
    int done;
    enum net_verdict v;
    long status;
    int attempts;
    int code;
    char body[4400];
    char err[1100];
    uint64_t ms;
};

static uint64_t t_start;

static void
on_done(void *arg, const struct net_response *r, enum net_verdict v, const struct otsync_err *err)
{
    struct result *res = arg;

    res->done++;
    res->v = v;
    res->status = r->status;
    res->attempts = r->attempts;
    res->code = r->curl_code;
    snprintf(res->body, sizeof(res->body), "%s", r->body);
    snprintf(res->err, sizeof(res->err), "%s", err ? err->msg : "");
    res->ms = (uv_hrtime() - t_start) / 1000000;
}

static void
run(struct net_request *req, struct result *res, long max_conn, int count)
{
    uv_loop_t loop;
    struct net *n;
    struct otsync_err err;
    char url[128];
    int i;

    assert_int_equal(uv_loop_init(&loop), 0);
    struct net_opts o = {.max_connections = max_conn};
    assert_int_equal(net_new(&loop, &o, &n, &err), 0);
    if (strncmp(req->url, "http", 4) != 0) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, req->url);
        req->url = url;
    }
    req->done = on_done;
    t_start = uv_hrtime();
    for (i = 0; i < count; i++) {
        req->arg = &res[i];
        assert_int_equal(net_request(n, req, &err), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(net_pending(n), 0);
    net_close(n);
    uv_run(&loop, UV_RUN_DEFAULT);
    net_free(n);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_ok(void **state)
{
    struct net_request req = {.method = "GET", .url = "/ok"};
    struct result res = {0};

    (void)state;
    run(&req, &res, 0, 1);
    assert_int_equal(res.done, 1);
    assert_int_equal(res.v, NET_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "fine");
    assert_int_equal(res.attempts, 1);
}

static void
test_retries_then_success(void **state)
{
    struct net_request req = {.method = "GET", .url = "/flaky/a/2", .backoff_base_ms = 10};
    struct result res = {0};

    (void)state;
    run(&req, &res, 0, 1);
    assert_int_equal(res.v, NET_OK);
    assert_int_equal(res.attempts, 3);
    assert_string_equal(res.body, "at last");
}

static void
test_retries_exhausted(void **state)
{
    struct net_request req = {.method = "GET", .url = "/flaky/b/100", .max_attempts = 4,
                              .backoff_base_ms = 5};
    struct result res = {0};

    (void)state;
    run(&req, &res, 0, 1);
    assert_int_equal(res.v, NET_FAIL);
    assert_int_equal(res.attempts, 4);
    assert_int_equal(res.status, 503);
    assert_non_null(strstr(res.err, "gave up after 4 attempts"));
}

static void
test_not_retryable(void **state)
{
    struct net_request req = {.method = "GET", .url = "/status/403"};
    struct result res = {0};

    (void)state;
    run(&req, &res, 0, 1);
    assert_int_equal(res.v, NET_FAIL);
    assert_int_equal(res.attempts, 1);
    assert_int_equal(res.status, 403);
}

static void
test_reset_is_retried(void **state)
{
    struct net_request req = {.method = "GET", .url = "/reset", .max_attempts = 3,
                              .backoff_base_ms = 5};
    struct result res = {0};

    (void)state;
    run(&req, &res, 0, 1);
    assert_int_equal(res.v, NET_FAIL);
    assert_int_equal(res.attempts, 3);
    assert_int_equal(res.status, 0);
    assert_true(res.code != 0);
}

static void
test_attempt_timeout_and_deadline(void **state)
{
    struct net_request req = {.method = "GET", .url = "/slow/1500", .attempt_timeout_ms = 200,
                              .deadline_ms = 700, .max_attempts = 100, .backoff_base_ms = 10};
    struct result res = {0};

    (void)state;
    run(&req, &res, 0, 1);
    assert_int_equal(res.v, NET_FAIL);
    /* each attempt is cut at 200 ms; the deadline ends it all at about 700 ms */
    assert_true(res.attempts >= 2 && res.attempts <= 4);
    assert_true(res.ms >= 400 && res.ms < 1400);
    assert_non_null(strstr(res.err, "gave up"));
}

static void
test_body_and_no_unsigned_content_type(void **state)
{
    const char *const hdr[] = {"Content-Type: text/plain", NULL};
    struct net_request req = {.method = "PUT", .url = "/echo", .body = "payload", .body_len = 7};
    struct result res = {0};

    (void)state;
    run(&req, &res, 0, 1);
    assert_string_equal(res.body, "PUT|-|payload");
    req.url = "/echo";
    req.headers = hdr;
    memset(&res, 0, sizeof(res));
    run(&req, &res, 0, 1);
    assert_string_equal(res.body, "PUT|text/plain|payload");
}

static void
test_concurrency_cap(void **state)
{
    static struct result res[200];
    struct net_request req = {.method = "GET", .url = "/slow/20"};
    int i;

    (void)state;
    memset(res, 0, sizeof(res));
    /* the earlier tests' connections first finish closing on the server's side */
    for (i = 0; i < 200; i++) {
        int open;
        pthread_mutex_lock(&mu);
        open = open_conns;
        pthread_mutex_unlock(&mu);
        if (open == 0)
            break;
        usleep(10000);
    }
    pthread_mutex_lock(&mu);
    max_conns = open_conns;
    pthread_mutex_unlock(&mu);
    run(&req, res, 16, 200);
    for (i = 0; i < 200; i++) {
        assert_int_equal(res[i].done, 1);
        assert_int_equal(res[i].v, NET_OK);
    }
    print_message("200 requests, at most %d connections open at once\n", max_conns);
    assert_true(max_conns <= 16);
    assert_true(max_conns >= 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_retries_then_success),
        cmocka_unit_test(test_retries_exhausted),
        cmocka_unit_test(test_not_retryable),
        cmocka_unit_test(test_reset_is_retried),
        cmocka_unit_test(test_attempt_timeout_and_deadline),
        cmocka_unit_test(test_body_and_no_unsigned_content_type),
        cmocka_unit_test(test_concurrency_cap),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
