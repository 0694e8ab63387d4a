/*
 * test-odpssign.c - MaxCompute signatures against the SDK-made vectors in
 * tests/vectors/maxcompute: every case of signature_vectors.json (V2, V4, STS), the Java SDK's
 * results for the same inputs, and every request of the PyODPS upload and SQL-task transcripts
 * (string to sign from the SDK's log, Authorization as sent); the emulator's verification,
 * including the Go variant and tampering; query parsing and the Date header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "otsync/odpssign.h"
#include "otsync/sign.h"

#define MAXHDR 16

static json_t *
load(const char *name)
{
    const char *top = getenv("top_srcdir");
    char path[1024];
    json_error_t jerr;
    json_t *j;

    snprintf(path, sizeof(path), "%s/tests/vectors/maxcompute/%s", top ? top : ".", name);
    j = json_load_file(path, 0, &jerr);
    if (!j)
        print_error("%s:%d: %s\n", path, jerr.line, jerr.text);
    assert_non_null(j);
    return j;
}

static const char *
secret_of(void *arg, const char *key_id)
{
    (void)arg;
    return strcmp(key_id, "test-access-id") == 0 ? "test-secret-key" : NULL;
}

/* A request as the emulator sees it: method, path under the endpoint, raw query, headers. */
struct built {
    struct odpssign_req req;
    struct odpssign_header headers[MAXHDR];
    struct odpssign_param *params;
    char path[512];
};

static void
build(struct built *b, const char *method, const char *endpoint_path, const char *path_as_sent,
      const char *query)
{
    struct otsync_err err;
    size_t n = strlen(endpoint_path);

    memset(b, 0, sizeof(*b));
    /* the endpoint's own path ("/api") is not signed (doc 2.2) */
    assert_true(strncmp(path_as_sent, endpoint_path, n) == 0);
    assert_true(odpssign_unescape(path_as_sent + n, strlen(path_as_sent + n), false, b->path)
                >= 0);
    b->req.method = method;
    b->req.path = b->path;
    assert_int_equal(odpssign_query_parse(query, &b->params, &b->req.param_count, &err), 0);
    b->req.params = b->params;
    b->req.headers = b->headers;
}

static void
add_header(struct built *b, const char *name, const char *value)
{
    assert_true(b->req.header_count < MAXHDR);
    b->headers[b->req.header_count].name = name;
    b->headers[b->req.header_count++].value = value;
}

/* The path part of an endpoint URL: "http://h/api" -> "/api", "http://h" -> "". */
static const char *
endpoint_path(const char *url)
{
    const char *p = strstr(url, "://");
    const char *slash;

    assert_non_null(p);
    slash = strchr(p + 3, '/');
    return slash ? slash : "";
}

static void
check_sign(const struct odpssign_req *req, const char *region, const char *want_sts,
           const char *want_auth, const char *name)
{
    struct otsync_err err;
    char auth[256], *sts;

    assert_int_equal(odpssign_string_to_sign(req, 0, &sts, &err), 0);
    if (strcmp(sts, want_sts) != 0)
        fail_msg("%s: string to sign\n  got  '%s'\n  want '%s'", name, sts, want_sts);
    free(sts);
    if (region)
        assert_int_equal(odpssign_v4(req, "test-access-id", "test-secret-key", region,
                                     "20240101", auth, sizeof(auth), &err), 0);
    else
        assert_int_equal(odpssign_v2(req, "test-access-id", "test-secret-key", auth,
                                     sizeof(auth), &err), 0);
    if (strcmp(auth, want_auth) != 0)
        fail_msg("%s: authorization '%s', want '%s'", name, auth, want_auth);
    if (odpssign_verify(req, want_auth, secret_of, NULL, &err) != 0)
        fail_msg("%s: verify: %s", name, err.msg);
}

/* Builds a signature_vectors.json case as the emulator would see it. */
static void
build_case(struct built *b, json_t *in)
{
    const char *name, *ep = json_string_value(json_object_get(in, "endpoint"));
    json_t *v;

    build(b, json_string_value(json_object_get(in, "method")), endpoint_path(ep),
          json_string_value(json_object_get(in, "path_as_sent")),
          json_string_value(json_object_get(in, "query_string_as_sent")));
    json_object_foreach(json_object_get(in, "headers"), name, v)
        add_header(b, name, json_string_value(v));
}

static void
test_signature_vectors(void **state)
{
    json_t *vec = load("signature_vectors.json"), *c, *in, *exp, *extra, *v;
    struct otsync_err err;
    struct built b;
    const char *name, *hname;
    char auth[256];
    size_t i, n = 0;

    (void)state;
    json_array_foreach(json_object_get(vec, "cases"), i, c) {
        name = json_string_value(json_object_get(c, "name"));
        in = json_object_get(c, "inputs");
        exp = json_object_get(c, "expected");
        build_case(&b, in);
        check_sign(&b.req, json_string_value(json_object_get(in, "region_name_for_v4")),
                   json_string_value(json_object_get(exp, "string_to_sign")),
                   json_string_value(json_object_get(exp, "authorization")), name);
        /* STS: the token header the client adds after signing changes nothing */
        extra = json_object_get(exp, "extra_headers_added_by_signer");
        json_object_foreach(extra, hname, v) {
            assert_string_equal(hname, ODPSSIGN_STS_HEADER);
            assert_string_equal(json_string_value(v), "test-sts-token");
            add_header(&b, hname, json_string_value(v));
            assert_int_equal(odpssign_v2(&b.req, "test-access-id", "test-secret-key", auth,
                                         sizeof(auth), &err), 0);
            assert_string_equal(auth, json_string_value(json_object_get(exp, "authorization")));
        }
        /* tampering with a signed header breaks the signature */
        assert_true(b.req.header_count > 0);
        b.headers[0].value = "Tue, 02 Jan 2024 00:00:00 GMT";
        assert_string_equal(b.headers[0].name, "Date");
        assert_int_equal(odpssign_verify(&b.req, json_string_value(json_object_get(exp,
                         "authorization")), secret_of, NULL, &err), -OTSYNC_EAUTH);
        assert_non_null(strstr(err.msg, "does not match"));
        free(b.params);
        n++;
    }
    assert_int_equal(n, 8);
    json_decref(vec);
}

/* The Java SDK signed the same inputs; its strings and Authorization values must match ours. */
static void
test_java_crosscheck(void **state)
{
    json_t *java = load("java_sdk_crosscheck.json"), *vec = load("signature_vectors.json");
    json_t *res, *c, *in = NULL;
    struct built b;
    size_t i, k, n = 0;
    const char *name;

    (void)state;
    json_array_foreach(json_object_get(java, "results"), i, res) {
        if (strcmp(json_string_value(json_object_get(res, "kind")), "sign") != 0)
            continue;
        name = json_string_value(json_object_get(res, "name"));
        in = NULL;
        json_array_foreach(json_object_get(vec, "cases"), k, c)
            if (!strcmp(json_string_value(json_object_get(c, "name")), name))
                in = json_object_get(c, "inputs");
        assert_non_null(in);
        build_case(&b, in);
        if (json_is_string(json_object_get(res, "sts_header")))
            add_header(&b, ODPSSIGN_STS_HEADER,
                       json_string_value(json_object_get(res, "sts_header")));
        check_sign(&b.req, NULL, json_string_value(json_object_get(res, "string_to_sign")),
                   json_string_value(json_object_get(res, "authorization")), name);
        free(b.params);
        n++;
    }
    assert_int_equal(n, 7);
    json_decref(java);
    json_decref(vec);
}

/* Every request PyODPS made: service requests under "/api", tunnel requests at the root. */
static void
check_transcript(const char *file, size_t want)
{
    json_t *vec = load(file), *req, *h;
    const char *auth, *path;
    struct built b;
    size_t i, k, n = 0;

    json_array_foreach(json_object_get(vec, "requests"), i, req) {
        path = json_string_value(json_object_get(req, "path"));
        build(&b, json_string_value(json_object_get(req, "method")),
              strncmp(path, "/api/", 5) == 0 ? "/api" : "", path,
              json_string_value(json_object_get(req, "query")));
        auth = NULL;
        json_array_foreach(json_object_get(req, "headers"), k, h) {
            if (!strcmp(json_string_value(json_array_get(h, 0)), "Authorization"))
                auth = json_string_value(json_array_get(h, 1));
            else
                add_header(&b, json_string_value(json_array_get(h, 0)),
                           json_string_value(json_array_get(h, 1)));
        }
        assert_non_null(auth);
        check_sign(&b.req, NULL,
                   json_string_value(json_object_get(req, "string_to_sign_from_sdk_log")), auth,
                   json_string_value(json_object_get(req, "raw_target")));
        free(b.params);
        n++;
    }
    assert_int_equal(n, want);
    json_decref(vec);
}

static void
test_upload_transcript(void **state)
{
    (void)state;
    check_transcript("upload_flow_transcript.json", 7);
}

static void
test_sql_transcript(void **state)
{
    (void)state;
    check_transcript("sql_task_transcript.json", 4);
}

/* Go leaves x-odps-* query parameters out of the header lines; the emulator takes both. */
static void
test_go_variant(void **state)
{
    json_t *vec = load("signature_vectors.json"), *c, *in = NULL;
    unsigned char mac[SIGN_SHA1_LEN];
    char *sts, b64[32], auth[128];
    struct otsync_err err;
    struct built b;
    size_t i;

    (void)state;
    json_array_foreach(json_object_get(vec, "cases"), i, c)
        if (!strcmp(json_string_value(json_object_get(c, "name")), "v2_md5_and_xodps_query"))
            in = json_object_get(c, "inputs");
    assert_non_null(in);
    build_case(&b, in);
    assert_int_equal(odpssign_string_to_sign(&b.req, ODPSSIGN_NO_QUERY_HEADERS, &sts, &err), 0);
    assert_string_equal(sts, "POST\nXrY7u+Ae7tCTyyK7j1rNww==\napplication/xml\n"
                        "Mon, 01 Jan 2024 00:00:00 GMT\nx-odps-user-agent:vector-generator/1.0\n"
                        "x-odps-zeta:z\n/projects/test_proj/instances?curr_project=test_proj&"
                        "x-odps-foo=bar");
    assert_int_equal(sign_hmac_sha1("test-secret-key", 15, sts, strlen(sts), mac), 0);
    sign_base64(mac, sizeof(mac), b64);
    snprintf(auth, sizeof(auth), "ODPS test-access-id:%s", b64);
    assert_int_equal(odpssign_verify(&b.req, auth, secret_of, NULL, &err), 0);
    free(sts);
    free(b.params);
    json_decref(vec);
}

static void
test_verify_rejects(void **state)
{
    static const struct odpssign_header h[] = { { "Date", "Mon, 01 Jan 2024 00:00:00 GMT" } };
    struct odpssign_req req = { "GET", "/projects/p", NULL, 0, h, 1 };
    struct otsync_err err;
    char auth[128], small[20];

    (void)state;
    assert_int_equal(odpssign_v2(&req, "test-access-id", "test-secret-key", auth, sizeof(auth),
                                 &err), 0);
    assert_int_equal(odpssign_verify(&req, auth, secret_of, NULL, &err), 0);
    assert_int_equal(odpssign_verify(&req, "Basic abc", secret_of, NULL, &err), -OTSYNC_EAUTH);
    assert_int_equal(odpssign_verify(&req, "ODPS test-access-id", secret_of, NULL, &err),
                     -OTSYNC_EAUTH);
    assert_int_equal(odpssign_verify(&req, "ODPS test-access-id:short", secret_of, NULL, &err),
                     -OTSYNC_EAUTH);
    assert_int_equal(odpssign_verify(&req, "ODPS :ieKZCUtXgQfOv/y+vRo86JFGHb0=", secret_of, NULL,
                                     &err), -OTSYNC_EAUTH);
    assert_int_equal(odpssign_verify(&req, "ODPS who:ieKZCUtXgQfOv/y+vRo86JFGHb0=", secret_of,
                                     NULL, &err), -OTSYNC_EAUTH);
    assert_non_null(strstr(err.msg, "unknown access key id 'who'"));
    assert_int_equal(odpssign_verify(&req, "ODPS test-access-id/20240101/r/odps/x:"
                                     "ieKZCUtXgQfOv/y+vRo86JFGHb0=", secret_of, NULL, &err),
                     -OTSYNC_EAUTH);
    assert_int_equal(odpssign_verify(&req, "ODPS test-access-id/20240101/r/odps/"
                                     "aliyun_v4_request/x:ieKZCUtXgQfOv/y+vRo86JFGHb0=",
                                     secret_of, NULL, &err), -OTSYNC_EAUTH);
    /* another path, same signature */
    req.path = "/projects/q";
    assert_int_equal(odpssign_verify(&req, auth, secret_of, NULL, &err), -OTSYNC_EAUTH);
    assert_non_null(strstr(err.msg, "\\n/projects/q'"));
    /* too small a buffer */
    assert_int_equal(odpssign_v2(&req, "test-access-id", "test-secret-key", small,
                                 sizeof(small), &err), -OTSYNC_EINVAL);
    req.method = NULL;
    assert_int_equal(odpssign_v2(&req, "id", "s", auth, sizeof(auth), &err), -OTSYNC_EINVAL);
}

static void
test_query_parse(void **state)
{
    struct odpssign_param *p;
    struct otsync_err err;
    size_t n;
    char out[32];

    (void)state;
    assert_int_equal(odpssign_query_parse("service&curr_project=test_proj", &p, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(p[0].name, "service");
    assert_null(p[0].value);
    assert_string_equal(p[1].name, "curr_project");
    assert_string_equal(p[1].value, "test_proj");
    free(p);
    assert_int_equal(odpssign_query_parse("a=&&b+c=d%2Be+f&%zz=%4", &p, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(p[0].name, "a");
    assert_string_equal(p[0].value, "");
    assert_string_equal(p[1].name, "b c");
    assert_string_equal(p[1].value, "d+e f");
    assert_string_equal(p[2].name, "%zz");
    assert_string_equal(p[2].value, "%4");
    free(p);
    assert_int_equal(odpssign_query_parse("", &p, &n, &err), 0);
    assert_int_equal(n, 0);
    free(p);
    assert_int_equal(odpssign_query_parse("&&", &p, &n, &err), 0);
    assert_int_equal(n, 0);
    free(p);
    assert_int_equal(odpssign_query_parse("ok=1&x=%00", &p, &n, &err), -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "offset 5"));

    /* paths keep '+' */
    assert_int_equal(odpssign_unescape("/a+b%20c", 8, false, out), 6);
    assert_string_equal(out, "/a+b c");
    assert_int_equal(odpssign_unescape("%", 1, true, out), 1);
    assert_string_equal(out, "%");
}

/* A bare flag and an empty value sign alike; parameters sort by name in byte order. */
static void
test_canonical_resource(void **state)
{
    static const struct odpssign_param params[] = {
        { "uploads", NULL }, { "b", "" }, { "Z", "1" }, { "a", "x=y" },
    };
    static const struct odpssign_header h[] = {
        { "X-ODPS-B", "2" }, { "content-type", "t" }, { "x-odps-a", " sp " },
        { "CONTENT-MD5", "m" }, { "content-type", "second" }, { "User-Agent", "u" },
    };
    struct odpssign_req req = { "PUT", "/p", params, 4, h, 6 };
    struct otsync_err err;
    char *sts;

    (void)state;
    assert_int_equal(odpssign_string_to_sign(&req, 0, &sts, &err), 0);
    assert_string_equal(sts, "PUT\nm\nt\n\nx-odps-a: sp \nx-odps-b:2\n/p?Z=1&a=x=y&b&uploads");
    free(sts);
    req.param_count = 0;
    req.header_count = 0;
    assert_int_equal(odpssign_string_to_sign(&req, 0, &sts, &err), 0);
    assert_string_equal(sts, "PUT\n\n\n\n/p");
    free(sts);
}

static void
test_date(void **state)
{
    struct otsync_err err;
    char buf[ODPSSIGN_DATE_LEN];

    (void)state;
    assert_int_equal(odpssign_date(1704067200, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "Mon, 01 Jan 2024 00:00:00 GMT");
    assert_int_equal(odpssign_date(951782400 + 86399, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "Tue, 29 Feb 2000 23:59:59 GMT");
    assert_int_equal(odpssign_date(0, buf, 10, &err), -OTSYNC_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vectors),
        cmocka_unit_test(test_java_crosscheck),
        cmocka_unit_test(test_upload_transcript),
        cmocka_unit_test(test_sql_transcript),
        cmocka_unit_test(test_go_variant),
        cmocka_unit_test(test_verify_rejects),
        cmocka_unit_test(test_query_parse),
        cmocka_unit_test(test_canonical_resource),
        cmocka_unit_test(test_date),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
