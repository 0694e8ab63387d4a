/*
 * test-odpsclient.c - the MaxCompute client against canned answers from a libmicrohttpd server
 * on 127.0.0.1 (an ephemeral port, stopped by the test), for what otsync-emu does not produce
 * on demand: a schema wrapped in CDATA, partition listings over several pages, a commit whose
 * answer is lost although the service committed, a session holding other blocks than the
 * client uploaded, a failed SQL task's result; and partition specs as jobs write them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <uv.h>
#include "otsync/net.h"
#include "otsync/odpsclient.h"

static struct MHD_Daemon *server;
static int port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int commit_posts, status_gets;
static const char *session_blocks = "[{\"BlockID\":0},{\"BlockID\":1}]";

struct args {
    char keys[512];
};

static enum MHD_Result
on_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct args *a = cls;
    size_t n = strlen(a->keys);

    (void)kind;
    (void)value;
    snprintf(a->keys + n, sizeof(a->keys) - n, "%s,", key);
    return MHD_YES;
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned code, const char *text, const char *location)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                                             MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (location)
        MHD_add_response_header(r, "Location", location);
    ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    struct args a = {""};
    const char *marker;
    char body[1024];

    (void)cls;
    (void)version;
    (void)upload;
    if (*ctx == NULL) {
        *ctx = c;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, &a);
    marker = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "marker");
    if (strcmp(url, "/api/projects/p/tables/t") == 0 && strstr(a.keys, "partitions,")) {
        if (!marker)
            return answer(c, 200, "<?xml version=\"1.0\"?><Partitions><Marker>p2</Marker>"
                          "<Partition><Column Name=\"pt\" Value=\"1\"/><Column Name=\"hm\" "
                          "Value=\"a&amp;b\"/></Partition></Partitions>", NULL);
        return answer(c, 200, "<Partitions><Partition><Column Name=\"pt\" Value=\"2\"/>"
                      "<Column Name=\"hm\" Value=\"0005\"/></Partition><Marker/></Partitions>",
                      NULL);
    }
    if (strcmp(url, "/api/projects/p/tables/t") == 0)
        return answer(c, 200, "<Table><Name>t</Name><Schema format=\"Json\"><![CDATA[{\"columns\":"
                      "[{\"name\":\"id\",\"type\":\"BIGINT\"},{\"name\":\"tags\",\"type\":"
                      "\"array<string>\"},{\"name\":\"d\",\"type\":\"decimal(10,2)\"}],"
                      "\"partitionKeys\":[{\"name\":\"pt\",\"type\":\"string\"},{\"name\":"
                      "\"hm\",\"type\":\"string\"}]}]]></Schema></Table>", NULL);
    if (strcmp(url, "/api/projects/p/tables/nosuch") == 0)
        return answer(c, 404, "<Error><Code>NoSuchObject</Code><Message><![CDATA[ODPS-0130131:"
                      "Table not found]]></Message></Error>", NULL);
    if (strcmp(url, "/api/projects/p/tunnel") == 0)
        return answer(c, 200, "dt.example.com:8080\n", NULL);
    if (strcmp(url, "/api/projects/p/instances") == 0 && strcmp(method, "POST") == 0) {
        snprintf(body, sizeof(body), "http://127.0.0.1:%d/api/projects/p/instances/i1", port);
        return answer(c, 201, "", body);
    }
    if (strcmp(url, "/api/projects/p/instances/i1") == 0) {
        if (strstr(a.keys, "result,"))
            return answer(c, 200, "<Instance><Tasks><Task Type=\"SQL\"><Name>x</Name><Result "
                          "Format=\"text\"><![CDATA[ODPS-0130071: semantic error]]></Result>"
                          "</Task></Tasks></Instance>", NULL);
        if (strstr(a.keys, "taskstatus,"))
            return answer(c, 200, "<Instance><Status>Terminated</Status><Tasks><Task Type=\"SQL\">"
                          "<Name>x</Name><Status>Failed</Status></Task></Tasks></Instance>", NULL);
        return answer(c, 200, "<Instance><Status>Terminated</Status></Instance>", NULL);
    }
    if (strcmp(url, "/t/projects/p/tables/t") == 0 && strcmp(method, "POST") == 0
        && strstr(a.keys, "uploads,"))
        return answer(c, 201, "{\"UploadID\":\"u1\",\"Status\":\"normal\",\"MaxFieldSize\":8,"
                      "\"Schema\":{\"columns\":[{\"name\":\"id\",\"type\":\"bigint\"},{\"name\":"
                      "\"tags\",\"type\":\"array<string>\"}],\"partitionKeys\":[]}}", NULL);
    if (strcmp(url, "/t/projects/p/tables/t") == 0 && strcmp(method, "GET") == 0) {
        pthread_mutex_lock(&mu);
        status_gets++;
        snprintf(body, sizeof(body), "{\"UploadID\":\"u1\",\"Status\":\"%s\","
                 "\"UploadedBlockList\":%s}", commit_posts ? "closed" : "normal", session_blocks);
        pthread_mutex_unlock(&mu);
        return answer(c, 200, body, NULL);
    }
    if (strcmp(url, "/t/projects/p/tables/t") == 0 && strcmp(method, "POST") == 0) {
        /* the service committed, but the answer is lost */
        pthread_mutex_lock(&mu);
        commit_posts++;
        pthread_mutex_unlock(&mu);
        return answer(c, 500, "{\"Code\":\"InternalServerError\",\"Message\":\"lost\"}", NULL);
    }
    return answer(c, 404, "{\"Code\":\"NoSuchObject\"}", NULL);
}

static int
setup(void **state)
{
    const union MHD_DaemonInfo *info;

    (void)state;
    server = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                              0, NULL, NULL, on_request, NULL,
                              MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    if (!server)
        return -1;
    info = MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT);
    port = info->port;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(server);
    return 0;
}

/* One client on its own loop and net; run() drives the loop until the callbacks are done. */
struct fixture {
    uv_loop_t loop;
    struct net *net;
    struct odpsclient *c;
    int rc, calls;
    struct otsync_err err;
    struct odpsclient_table *table;
    struct odpsclient_upload *upload;
    char specs[512];
};

static void
fixture_init(struct fixture *f, const char *tunnel)
{
    char api[128], tun[128];
    struct odpsclient_conf cc = {.project = "p", .access_key_id = "id",
                                 .access_key_secret = "secret", .max_attempts = 2,
                                 .backoff_base_ms = 1};
    struct otsync_err err;

    memset(f, 0, sizeof(*f));
    snprintf(api, sizeof(api), "http://127.0.0.1:%d/api/", port);
    snprintf(tun, sizeof(tun), "http://127.0.0.1:%d/t", port);
    cc.endpoint = api;
    cc.tunnel_endpoint = tunnel ? tun : NULL;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(net_new(&f->loop, NULL, &f->net, &err), 0);
    assert_int_equal(odpsclient_new(f->net, &cc, &f->c, &err), 0);
}

static void
fixture_fini(struct fixture *f)
{
    odpsclient_upload_free(f->upload);
    odpsclient_table_free(f->table);
    odpsclient_free(f->c);
    net_close(f->net);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    net_free(f->net);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void
on_done(void *arg, int rc, const struct otsync_err *err)
{
    struct fixture *f = arg;

    f->calls++;
    f->rc = rc;
    if (err)
        f->err = *err;
}

static void
on_table(void *arg, int rc, struct odpsclient_table *t, const struct otsync_err *err)
{
    struct fixture *f = arg;

    on_done(arg, rc, err);
    f->table = t;
}

static void
on_parts(void *arg, int rc, char *const *specs, size_t count, const struct otsync_err *err)
{
    struct fixture *f = arg;
    size_t i;

    on_done(arg, rc, err);
    for (i = 0; i < count; i++)
        snprintf(f->specs + strlen(f->specs), sizeof(f->specs) - strlen(f->specs), "%s;",
                 specs[i]);
}

static void
on_upload(void *arg, int rc, struct odpsclient_upload *u, const struct otsync_err *err)
{
    struct fixture *f = arg;

    on_done(arg, rc, err);
    f->upload = u;
}

static void
test_table_cdata_and_types(void **state)
{
    struct fixture f;
    struct otsync_err err;

    (void)state;
    fixture_init(&f, NULL);
    assert_int_equal(odpsclient_table_get(f.c, "t", on_table, &f, &err), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.rc, 0);
    assert_non_null(f.table);
    assert_int_equal(f.table->column_count, 3);
    assert_string_equal(f.table->columns[0].name, "id");
    assert_true(f.table->columns[0].supported);
    assert_int_equal(f.table->columns[0].type, TUNNEL_TYPE_BIGINT);
    assert_false(f.table->columns[1].supported);
    assert_int_equal(f.table->columns[2].type, TUNNEL_TYPE_DECIMAL);
    assert_int_equal(f.table->partition_key_count, 2);
    assert_string_equal(f.table->partition_keys[1].name, "hm");
    fixture_fini(&f);
}

static void
test_table_missing(void **state)
{
    struct fixture f;
    struct otsync_err err;

    (void)state;
    fixture_init(&f, NULL);
    assert_int_equal(odpsclient_table_get(f.c, "nosuch", on_table, &f, &err), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.rc, -OTSYNC_ENOENT);
    assert_null(f.table);
    assert_non_null(strstr(f.err.msg, "HTTP 404 NoSuchObject: ODPS-0130131:Table not found"));
    fixture_fini(&f);
}

static void
test_partitions_paged(void **state)
{
    struct fixture f;
    struct otsync_err err;

    (void)state;
    fixture_init(&f, NULL);
    assert_int_equal(odpsclient_partitions_list(f.c, "t", on_parts, &f, &err), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.rc, 0);
    assert_string_equal(f.specs, "pt=1,hm=a&b;pt=2,hm=0005;");
    fixture_fini(&f);
}

static void
test_tunnel_discovered(void **state)
{
    struct fixture f;
    struct otsync_err err;

    (void)state;
    fixture_init(&f, NULL);
    assert_null(odpsclient_tunnel(f.c));
    assert_int_equal(odpsclient_tunnel_resolve(f.c, on_done, &f, &err), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.rc, 0);
    /* the service endpoint's scheme in front of host:port */
    assert_string_equal(odpsclient_tunnel(f.c), "http://dt.example.com:8080");
    assert_int_equal(odpsclient_tunnel_resolve(f.c, on_done, &f, &err), -OTSYNC_EEXIST);
    fixture_fini(&f);
}

static void
test_sql_failure_result(void **state)
{
    struct fixture f;
    struct otsync_err err;

    (void)state;
    fixture_init(&f, NULL);
    assert_int_equal(odpsclient_partition_add(f.c, "t", "pt=1,hm=0005", on_done, &f, &err), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.rc, -OTSYNC_EPROTO);
    assert_non_null(strstr(f.err.msg,
                           "alter table t add IF NOT EXISTS partition(pt='1',hm='0005');"));
    assert_non_null(strstr(f.err.msg, "the task failed: ODPS-0130071: semantic error"));
    assert_int_equal(odpsclient_partition_add(f.c, "t", "pt=it's", on_done, &f, &err),
                     -OTSYNC_EINVAL);
    fixture_fini(&f);
}

static void
test_commit_answer_lost(void **state)
{
    static const unsigned ids[] = {1, 0};
    struct fixture f;
    struct otsync_err err;

    (void)state;
    fixture_init(&f, "tunnel");
    assert_int_equal(odpsclient_upload_create(f.c, "t", NULL, false, on_upload, &f, &err), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.rc, 0);
    assert_non_null(f.upload);
    assert_string_equal(odpsclient_upload_id(f.upload), "u1");
    assert_int_equal(odpsclient_upload_schema(f.upload)->count, 2);
    assert_int_equal(odpsclient_upload_schema(f.upload)->max_field_len, 8);
    /* a session holding other blocks than ours is never committed */
    f.calls = 0;
    assert_int_equal(odpsclient_upload_commit(f.upload, ids, 1, on_done, &f, &err), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.rc, -OTSYNC_EPROTO);
    assert_non_null(strstr(f.err.msg, "holds 2 blocks, 1 were uploaded"));
    assert_int_equal(commit_posts, 0);
    /* the POST answers 500 after committing: the reload says closed, which is success, and the
     * commit is not posted twice */
    f.calls = 0;
    assert_int_equal(odpsclient_upload_commit(f.upload, ids, 2, on_done, &f, &err), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.rc, 0);
    assert_int_equal(commit_posts, 1);
    fixture_fini(&f);
}

static void
test_spec_canon(void **state)
{
    struct odpsclient_column keys[2] = {{.name = "pt"}, {.name = "hm"}};
    struct otsync_err err;
    char spec[64];

    (void)state;
    assert_int_equal(odpsclient_spec_canon(" pt = '20240101' / HM=0005 ", keys, 2, spec,
                                           sizeof(spec), &err), 0);
    assert_string_equal(spec, "pt=20240101,hm=0005");
    assert_int_equal(odpsclient_spec_canon("hm=0005,pt=1", keys, 2, spec, sizeof(spec), &err),
                     0);
    assert_string_equal(spec, "pt=1,hm=0005");
    assert_int_equal(odpsclient_spec_canon("pt=1", keys, 2, spec, sizeof(spec), &err),
                     -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "(missing 'hm')"));
    assert_int_equal(odpsclient_spec_canon("pt=1,hm=2,x=3", keys, 2, spec, sizeof(spec), &err),
                     -OTSYNC_EINVAL);
    assert_int_equal(odpsclient_spec_canon("pt=1,pt=2", keys, 2, spec, sizeof(spec), &err),
                     -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "given twice"));
    assert_int_equal(odpsclient_spec_canon("pt=,hm=1", keys, 2, spec, sizeof(spec), &err),
                     -OTSYNC_EINVAL);
    assert_int_equal(odpsclient_spec_canon("pt=1,hm=0005", keys, 2, spec, 8, &err),
                     -OTSYNC_EINVAL);
    assert_int_equal(odpsclient_spec_canon("", keys, 0, spec, sizeof(spec), &err), 0);
    assert_string_equal(spec, "");
}

static void
test_new_checks(void **state)
{
    struct odpsclient_conf cc = {.endpoint = "ftp://x/api", .project = "p",
                                 .access_key_id = "id", .access_key_secret = "s"};
    struct odpsclient *c = NULL;
    struct otsync_err err;

    (void)state;
    assert_int_equal(odpsclient_new(NULL, &cc, &c, &err), -OTSYNC_ECONFIG);
    cc.endpoint = "http://x/api";
    cc.project = "";
    assert_int_equal(odpsclient_new(NULL, &cc, &c, &err), -OTSYNC_ECONFIG);
    cc.project = "p";
    cc.access_key_secret = NULL;
    assert_int_equal(odpsclient_new(NULL, &cc, &c, &err), -OTSYNC_ECONFIG);
    assert_null(c);
    odpsclient_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_canon),
        cmocka_unit_test(test_new_checks),
        cmocka_unit_test(test_table_cdata_and_types),
        cmocka_unit_test(test_table_missing),
        cmocka_unit_test(test_partitions_paged),
        cmocka_unit_test(test_tunnel_discovered),
        cmocka_unit_test(test_sql_failure_result),
        cmocka_unit_test(test_commit_answer_lost),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
