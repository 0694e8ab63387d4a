/*
 * test-osssign.c - OSS signatures against every vector in tests/vectors/oss/signature (made by
 * running ali-oss; see that folder's README): V1 and V4 strings exact, Authorization exact, the
 * emulator's check on the captured wire requests, and one changed byte of secret or request
 * failing. Then key encoding, dates and the parser's corner cases.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "otsync/osssign.h"

#define MAXP 32
#define BIG 8192

static const char secret_ok[] = "ExampleSecretKey0000/+abcdefghijklmno";
static const char secret_bad[] = "ExampleSecretKey0000/+abcdefghijklmnp";

/* A request built from JSON; strings borrow the JSON or sit in own[]. */
struct jreq {
    struct osssign_req req;
    struct osssign_param query[MAXP], headers[MAXP];
    char *own[2 * MAXP + 2];
    size_t nown;
};

static char *
keep(struct jreq *r, char *s)
{
    assert_non_null(s);
    assert_true(r->nown < sizeof(r->own) / sizeof(r->own[0]));
    r->own[r->nown++] = s;
    return s;
}

static void
jreq_free(struct jreq *r)
{
    while (r->nown)
        free(r->own[--r->nown]);
}

static const char *
jstr(json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));

    if (!s)
        fail_msg("vector lacks string '%s'", name);
    return s;
}

static size_t
params_of(json_t *obj, struct osssign_param *out)
{
    const char *name;
    json_t *v;
    size_t n = 0;

    json_object_foreach(obj, name, v) {
        assert_true(n < MAXP);
        out[n].name = name;
        out[n++].value = json_is_null(v) ? NULL : json_string_value(v);
    }
    return n;
}

/* From "inputs": what a client signer is given. */
static void
req_from_inputs(json_t *in, struct jreq *r)
{
    memset(r, 0, sizeof(*r));
    r->req.method = jstr(in, "method");
    r->req.bucket = jstr(in, "bucket");
    r->req.key = jstr(in, "object");
    r->req.query = r->query;
    r->req.query_count = params_of(json_object_get(in, "query"), r->query);
    r->req.headers = r->headers;
    r->req.header_count = params_of(json_object_get(in, "headers"), r->headers);
}

static char *
decode_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    assert_non_null(d);
    assert_int_equal(osssign_uri_decode(s, n, true, d, n + 1), 0);
    return d;
}

/* From "http_request": what the emulator sees, bucket from the Host header as oss.md 1.3 says. */
static void
req_from_wire(json_t *http, struct jreq *r)
{
    const char *path = jstr(http, "path"), *qs = jstr(http, "query_string"), *host, *p, *amp, *eq;
    json_t *hdrs = json_object_get(http, "headers");
    size_t n;

    memset(r, 0, sizeof(*r));
    r->req.method = jstr(http, "method");
    r->req.headers = r->headers;
    r->req.header_count = params_of(hdrs, r->headers);
    host = jstr(hdrs, "host");
    r->req.bucket = keep(r, strndup(host, strcspn(host, ".")));
    assert_true(path[0] == '/');
    r->req.key = keep(r, decode_dup(path + 1, strlen(path + 1)));
    r->req.query = r->query;
    for (p = qs; *p; p = *amp ? amp + 1 : amp) {
        amp = p + strcspn(p, "&");
        eq = memchr(p, '=', (size_t)(amp - p));
        n = r->req.query_count++;
        assert_true(n < MAXP);
        r->query[n].name = keep(r, decode_dup(p, (size_t)((eq ? eq : amp) - p)));
        r->query[n].value = eq ? keep(r, decode_dup(eq + 1, (size_t)(amp - eq - 1))) : NULL;
    }
}

static void
check_v1(json_t *vec)
{
    json_t *in = json_object_get(vec, "inputs"), *exp = json_object_get(vec, "expected");
    json_t *http = json_object_get(vec, "http_request");
    const char *want_auth = jstr(exp, "authorization");
    char buf[BIG], sig[OSSSIGN_V1_SIG_SIZE];
    struct osssign_auth auth;
    struct otsync_err err;
    struct jreq r;

    req_from_inputs(in, &r);
    assert_int_equal(osssign_v1_resource(&r.req, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, jstr(exp, "canonicalized_resource"));
    assert_int_equal(osssign_v1_string_to_sign(&r.req, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, jstr(exp, "string_to_sign"));
    assert_int_equal(osssign_v1(&r.req, jstr(in, "access_key_id"), jstr(in, "access_key_secret"),
                                buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, want_auth);
    assert_int_equal(osssign_v1_signature(&r.req, secret_ok, sig, &err), 0);
    assert_string_equal(sig, strchr(want_auth, ':') + 1);

    assert_int_equal(osssign_parse_auth(want_auth, &auth, &err), 0);
    assert_int_equal(auth.version, 1);
    assert_string_equal(auth.key_id, "LTAIExampleKeyID0000");
    assert_int_equal(osssign_check(&r.req, &auth, secret_ok, buf, sizeof(buf), &err), 0);
    /* the mismatch: one byte of secret, and the body still gets the string to sign */
    assert_int_equal(osssign_check(&r.req, &auth, secret_bad, buf, sizeof(buf), &err),
                     -OTSYNC_EAUTH);
    assert_string_equal(buf, jstr(exp, "string_to_sign"));
    jreq_free(&r);

    if (!http)
        return;
    /* the emulator's view: every header as sent, path and query decoded from the wire */
    req_from_wire(http, &r);
    assert_int_equal(osssign_parse_auth(jstr(json_object_get(http, "headers"), "authorization"),
                                        &auth, &err), 0);
    assert_int_equal(osssign_check(&r.req, &auth, secret_ok, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, jstr(exp, "string_to_sign"));
    assert_int_equal(osssign_check(&r.req, &auth, secret_bad, NULL, 0, &err), -OTSYNC_EAUTH);
    jreq_free(&r);
}

static void
check_v4(json_t *vec)
{
    json_t *in = json_object_get(vec, "inputs"), *exp = json_object_get(vec, "expected"), *h;
    char buf[BIG], add[256] = "";
    struct osssign_v4 v4 = {0};
    struct osssign_auth auth;
    struct otsync_err err;
    struct jreq r;
    size_t i;

    req_from_inputs(in, &r);
    json_array_foreach(json_object_get(in, "additional_headers"), i, h) {
        if (i)
            strcat(add, ";");
        strcat(add, json_string_value(h));
    }
    v4.region = jstr(in, "region");
    v4.product = jstr(in, "product");
    v4.additional = add;
    assert_int_equal(osssign_v4_canonical_request(&r.req, &v4, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, jstr(exp, "canonical_request"));
    assert_int_equal(osssign_v4_string_to_sign(&r.req, &v4, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, jstr(exp, "string_to_sign"));
    assert_int_equal(osssign_v4(&r.req, &v4, jstr(in, "access_key_id"),
                                jstr(in, "access_key_secret"), buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, jstr(exp, "authorization"));

    assert_int_equal(osssign_parse_auth(buf, &auth, &err), 0);
    assert_int_equal(auth.version, 4);
    assert_string_equal(auth.signature, jstr(exp, "signature"));
    assert_string_equal(auth.region, "cn-hangzhou");
    assert_string_equal(auth.date, "20250102");
    assert_int_equal(osssign_check(&r.req, &auth, secret_ok, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, jstr(exp, "string_to_sign"));
    assert_int_equal(osssign_check(&r.req, &auth, secret_bad, NULL, 0, &err), -OTSYNC_EAUTH);
    jreq_free(&r);
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_vectors(void **state)
{
    const char *top = getenv("top_srcdir");
    char dir[4096], path[4400], *names[64];
    size_t count = 0, nv1 = 0, nv4 = 0, i;
    struct dirent *de;
    json_error_t je;
    json_t *vec;
    DIR *d;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/tests/vectors/oss/signature", top ? top : ".");
    d = opendir(dir);
    if (!d)
        fail_msg("%s: cannot open", dir);
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".json") && count < 64)
            names[count++] = strdup(de->d_name);
    closedir(d);
    qsort(names, count, sizeof(names[0]), cmp_names);
    for (i = 0; i < count; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (!(vec = json_load_file(path, 0, &je)))
            fail_msg("%s:%d: %s", path, je.line, je.text);
        print_message("vector %s\n", names[i]);
        if (strncmp(names[i], "v4-", 3) == 0) {
            check_v4(vec);
            nv4++;
        } else {
            check_v1(vec);
            nv1++;
        }
        json_decref(vec);
        free(names[i]);
    }
    print_message("%zu v1 and %zu v4 vectors\n", nv1, nv4);
    assert_int_equal(nv1, 25);
    assert_int_equal(nv4, 4);
}

/* The base request of the hand-made cases: direct-put-object with an STS token. */
static const struct osssign_param put_headers[] = {
    {"Content-MD5", "8PGMLGauHdUSvc1DZvdtow=="},
    {"Content-Type", "text/plain"},
    {"Date", "Thu, 02 Jan 2025 03:04:05 GMT"},
    {"x-oss-security-token", "CAIS+ExampleSecurityToken/0123456789=="},
};

static void
test_sts_token_and_tamper(void **state)
{
    struct osssign_param hdrs[4];
    struct osssign_req req = {
        .method = "PUT", .bucket = "examplebucket", .key = "exampledir/example.txt",
        .headers = hdrs, .header_count = 4,
    };
    struct osssign_auth auth;
    struct otsync_err err;
    char auth_value[128], buf[1024];

    (void)state;
    memcpy(hdrs, put_headers, sizeof(hdrs));
    assert_int_equal(osssign_v1_string_to_sign(&req, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "PUT\n8PGMLGauHdUSvc1DZvdtow==\ntext/plain\n"
                        "Thu, 02 Jan 2025 03:04:05 GMT\n"
                        "x-oss-security-token:CAIS+ExampleSecurityToken/0123456789==\n"
                        "/examplebucket/exampledir/example.txt");
    assert_int_equal(osssign_v1(&req, "LTAIExampleKeyID0000", secret_ok, auth_value,
                                sizeof(auth_value), &err), 0);
    assert_int_equal(osssign_parse_auth(auth_value, &auth, &err), 0);
    assert_int_equal(osssign_check(&req, &auth, secret_ok, NULL, 0, &err), 0);
    /* a proxy that swaps the token, changes the type or drops the date breaks the signature */
    hdrs[3].value = "CAIS+ExampleSecurityToken/0123456788==";
    assert_int_equal(osssign_check(&req, &auth, secret_ok, NULL, 0, &err), -OTSYNC_EAUTH);
    assert_string_equal(err.msg, "oss signature: signature does not match");
    hdrs[3].value = put_headers[3].value;
    hdrs[1].value = "text/csv";
    assert_int_equal(osssign_check(&req, &auth, secret_ok, NULL, 0, &err), -OTSYNC_EAUTH);
    hdrs[1].value = put_headers[1].value;
    req.key = "exampledir/example.txT";
    assert_int_equal(osssign_check(&req, &auth, secret_ok, NULL, 0, &err), -OTSYNC_EAUTH);
    req.key = "exampledir/example.txt";
    assert_int_equal(osssign_check(&req, &auth, secret_ok, NULL, 0, &err), 0);
    /* a truncated signature is a mismatch, not a prefix match */
    auth.signature[5] = '\0';
    assert_int_equal(osssign_check(&req, &auth, secret_ok, NULL, 0, &err), -OTSYNC_EAUTH);
}

static void
test_subresources(void **state)
{
    /* every URL parameter given; V1 keeps the sub-resources, sorted, bare when valueless */
    static const struct osssign_param q[] = {
        {"uploadId", "U"}, {"max-keys", "10"}, {"prefix", "a/"}, {"partNumber", "3"},
        {"uploads", ""}, {"delete", NULL}, {"response-content-type", "text/csv"},
        {"continuation-token", "t/+="}, {"encoding-type", "url"}, {"acl", NULL},
    };
    struct osssign_req req = {.method = "GET", .bucket = "b", .query = q, .query_count = 10};
    struct otsync_err err;
    char buf[512];

    (void)state;
    assert_true(osssign_is_subresource("continuation-token"));
    assert_true(osssign_is_subresource("x-oss-process"));
    assert_true(osssign_is_subresource("acl"));
    assert_true(osssign_is_subresource("wormId"));
    assert_false(osssign_is_subresource("prefix"));
    assert_false(osssign_is_subresource("max-keys"));
    assert_false(osssign_is_subresource("UploadId"));
    assert_false(osssign_is_subresource(""));
    assert_int_equal(osssign_v1_resource(&req, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/b/?acl&continuation-token=t/+=&delete&partNumber=3"
                        "&response-content-type=text/csv&uploadId=U&uploads");
    req.bucket = NULL;
    req.query_count = 0;
    assert_int_equal(osssign_v1_resource(&req, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/");
    /* the date line: x-oss-date wins over Date; Expires wins for presigned URLs */
    {
        const struct osssign_param h[] = {{"Date", "D1"}, {"X-Oss-Date", "D2"}};
        struct osssign_req r2 = {.method = "GET", .bucket = "b", .key = "k", .headers = h,
                                 .header_count = 2};
        assert_int_equal(osssign_v1_string_to_sign(&r2, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "GET\n\n\nD2\nx-oss-date:D2\n/b/k");
        r2.header_count = 1;
        r2.expires = "1735790645";
        assert_int_equal(osssign_v1_string_to_sign(&r2, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "GET\n\n\n1735790645\n/b/k");
    }
}

static void
test_header_canon(void **state)
{
    /* upper case after the 7th character (the C SDK bug), untrimmed values, duplicates kept */
    static const struct osssign_param h[] = {
        {"X-OSS-Meta-Zeta", "  last\t"}, {"x-oss-meta-alpha", "first"}, {"Range", "bytes=0-1"},
        {"x-oss-meta-dup", "2"}, {"x-oss-meta-dup", "1"}, {"Date", "D"},
    };
    struct osssign_req req = {.method = "GET", .bucket = "b", .key = "k", .headers = h,
                              .header_count = 6};
    struct otsync_err err;
    char buf[512];

    (void)state;
    assert_int_equal(osssign_v1_string_to_sign(&req, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "GET\n\n\nD\nx-oss-meta-alpha:first\nx-oss-meta-dup:2\n"
                        "x-oss-meta-dup:1\nx-oss-meta-zeta:last\n/b/k");
    /* too small a buffer is an error and leaves an empty string */
    assert_int_equal(osssign_v1_string_to_sign(&req, buf, 20, &err), -OTSYNC_EINVAL);
    assert_string_equal(buf, "");
    assert_int_equal(osssign_v1(&req, "id", "s", buf, 10, &err), -OTSYNC_EINVAL);
}

static void
test_v4_errors_and_layouts(void **state)
{
    struct osssign_param h[] = {
        {"x-oss-date", "20250102T030405Z"}, {"x-oss-content-sha256", "UNSIGNED-PAYLOAD"},
        {"Range", "bytes=0-99"},
    };
    struct osssign_req req = {
        .method = "GET", .bucket = "examplebucket", .key = "dir/数据 file+1.txt",
        .headers = h, .header_count = 3,
    };
    struct osssign_v4 v4 = {.region = "cn-hangzhou", .additional = "Range; host;RANGE"};
    struct osssign_auth auth;
    struct otsync_err err;
    char buf[1024], oss2[1024];

    (void)state;
    /* a named additional header must be in the request */
    assert_int_equal(osssign_v4(&req, &v4, "id", secret_ok, buf, sizeof(buf), &err),
                     -OTSYNC_EINVAL);
    v4.additional = "Range;RANGE;x-oss-date;Content-Type";
    assert_int_equal(osssign_v4(&req, &v4, "LTAIExampleKeyID0000", secret_ok, buf, sizeof(buf),
                                &err), 0);
    assert_string_equal(buf, "OSS4-HMAC-SHA256 Credential=LTAIExampleKeyID0000/20250102/"
                        "cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=range,Signature="
                        "1305d64e042433de00618799f20343001bcee9b81b5d6ef245a70a094bd7f3b9");
    /* oss2's layout: ", " separators, AdditionalHeaders last */
    snprintf(oss2, sizeof(oss2), "OSS4-HMAC-SHA256 Credential=LTAIExampleKeyID0000/20250102/"
             "cn-hangzhou/oss/aliyun_v4_request, Signature=%s, AdditionalHeaders=range",
             strstr(buf, "Signature=") + 10);
    assert_int_equal(osssign_parse_auth(oss2, &auth, &err), 0);
    assert_string_equal(auth.additional, "range");
    assert_int_equal(osssign_check(&req, &auth, secret_ok, NULL, 0, &err), 0);
    /* another day in the credential than in x-oss-date */
    memcpy(auth.date, "20250103", 8);
    assert_int_equal(osssign_check(&req, &auth, secret_ok, NULL, 0, &err), -OTSYNC_EAUTH);
    /* no x-oss-date, a V1-style x-oss-date, no content hash */
    h[0].value = "Thu, 02 Jan 2025 03:04:05 GMT";
    assert_int_equal(osssign_v4(&req, &v4, "id", secret_ok, buf, sizeof(buf), &err),
                     -OTSYNC_EINVAL);
    h[0].value = "20250102T030405Z";
    req.header_count = 1;
    v4.additional = NULL;
    assert_int_equal(osssign_v4_string_to_sign(&req, &v4, buf, sizeof(buf), &err),
                     -OTSYNC_EINVAL);
    req.header_count = 2;
    v4.region = NULL;
    assert_int_equal(osssign_v4_string_to_sign(&req, &v4, buf, sizeof(buf), &err),
                     -OTSYNC_EINVAL);
}

static void
test_parse_auth_bad(void **state)
{
    static const char *const bad[] = {
        NULL, "", "OSS", "OSS ", "OSS id", "OSS :sig", "OSS id:", "oss id:sig", "AWS id:sig",
        "OSS4-HMAC-SHA256 ", "OSS4-HMAC-SHA256 Signature=ab",
        "OSS4-HMAC-SHA256 Credential=id/20250102/r/oss/aliyun_v4_request",
        "OSS4-HMAC-SHA256 Credential=id/20250102/r/oss/aliyun_v4_request,Signature=",
        "OSS4-HMAC-SHA256 Credential=id/2025010/r/oss/aliyun_v4_request,Signature=ab",
        "OSS4-HMAC-SHA256 Credential=id/20250102/r/oss/other,Signature=ab",
        "OSS4-HMAC-SHA256 Credential=id/20250102/r/oss/aliyun_v4_request/x,Signature=ab",
        "OSS4-HMAC-SHA256 Credential=id/20250102//oss/aliyun_v4_request,Signature=ab",
        "OSS4-HMAC-SHA256 Credential=id/20250102/r/oss/aliyun_v4_request,Signature=ab,Foo=1",
        "OSS4-HMAC-SHA256 Credential=id/20250102/r/oss/aliyun_v4_request,Signature=a,Signature=b",
        "OSS4-HMAC-SHA256 Credential=id/20250102/r/oss/aliyun_v4_request,Signature",
    };
    struct osssign_auth auth;
    struct otsync_err err;
    char huge[600];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("bad authorization '%s'\n", bad[i] ? bad[i] : "(null)");
        assert_int_equal(osssign_parse_auth(bad[i], &auth, &err), -OTSYNC_EAUTH);
    }
    memset(huge, 'a', sizeof(huge) - 1);
    memcpy(huge, "OSS x:", 6);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(osssign_parse_auth(huge, &auth, &err), -OTSYNC_EAUTH);
    assert_int_equal(osssign_parse_auth("OSS4-HMAC-SHA256 Credential=id/20250102/r/p/"
                                        "aliyun_v4_request,Signature=ab", &auth, &err), 0);
    assert_string_equal(auth.product, "p");
    assert_string_equal(auth.additional, "");
}

static void
test_key_encoding(void **state)
{
    char buf[256];

    (void)state;
    assert_int_equal(osssign_encode_key("dir/数据 file+1.txt", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "dir/%E6%95%B0%E6%8D%AE%20file%2B1.txt");
    assert_int_equal(osssign_uri_encode("a/b c~_.-!*'()", 14, false, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "a%2Fb%20c~_.-%21%2A%27%28%29");
    assert_int_equal(osssign_encode_key("abc", buf, 3), -OTSYNC_EINVAL);
    assert_int_equal(osssign_encode_key("abc", buf, 4), 0);
    assert_int_equal(osssign_uri_encode("a\0b", 3, true, buf, sizeof(buf)), -OTSYNC_EINVAL);

    assert_int_equal(osssign_uri_decode("dir%2Fx%20y+z%2b", 16, false, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "dir/x y+z+");
    assert_int_equal(osssign_uri_decode("a+b", 3, true, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "a b");
    assert_int_equal(osssign_uri_decode("%E6%95%B0", 9, false, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "数");
    assert_int_equal(osssign_uri_decode("%", 1, false, buf, sizeof(buf)), -OTSYNC_EINVAL);
    assert_int_equal(osssign_uri_decode("ab%4", 4, false, buf, sizeof(buf)), -OTSYNC_EINVAL);
    assert_int_equal(osssign_uri_decode("%4g", 3, false, buf, sizeof(buf)), -OTSYNC_EINVAL);
    assert_int_equal(osssign_uri_decode("a%00b", 5, false, buf, sizeof(buf)), -OTSYNC_EINVAL);
    assert_int_equal(osssign_uri_decode("abcd", 4, false, buf, 4), -OTSYNC_EINVAL);
    assert_int_equal(osssign_uri_decode("abcd", 4, false, buf, 5), 0);
    assert_int_equal(osssign_uri_decode("", 0, false, buf, 1), 0);
    assert_string_equal(buf, "");
}

static void
test_dates(void **state)
{
    static const char *const bad[] = {
        "", "Thu, 02 Jan 2025 03:04:05 UTC", "Thu, 02 Foo 2025 03:04:05 GMT",
        "Xyz, 02 Jan 2025 03:04:05 GMT", "Thu, 31 Feb 2025 03:04:05 GMT",
        "Thu, 02 Jan 2025 24:04:05 GMT", "Thu, 2 Jan 2025 03:04:05 GMT",
        "Thu, 02 Jan 2025 03:04:05 GMT ", "20250102T030405", "20250102 030405Z",
        "20251302T030405Z", "2025-01-02T03:04:05Z", "Thu, 0x Jan 2025 03:04:05 GMT",
    };
    char http[OSSSIGN_HTTP_DATE_SIZE], iso[OSSSIGN_ISO_DATE_SIZE];
    time_t t = 0;
    size_t i;

    (void)state;
    assert_int_equal(osssign_http_date(1735787045, http), 0);
    assert_string_equal(http, "Thu, 02 Jan 2025 03:04:05 GMT");
    assert_int_equal(osssign_iso_date(1735787045, iso), 0);
    assert_string_equal(iso, "20250102T030405Z");
    assert_int_equal(osssign_http_date(0, http), 0);
    assert_string_equal(http, "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_int_equal(osssign_parse_date("Thu, 02 Jan 2025 03:04:05 GMT", &t), 0);
    assert_int_equal(t, 1735787045);
    t = 0;
    assert_int_equal(osssign_parse_date("20250102T030405Z", &t), 0);
    assert_int_equal(t, 1735787045);
    assert_int_equal(osssign_parse_date("Sun, 29 Feb 2032 23:59:59 GMT", &t), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("bad date '%s'\n", bad[i]);
        assert_int_equal(osssign_parse_date(bad[i], &t), -OTSYNC_EINVAL);
    }
    assert_int_equal(osssign_parse_date(NULL, &t), -OTSYNC_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_sts_token_and_tamper),
        cmocka_unit_test(test_subresources),
        cmocka_unit_test(test_header_canon),
        cmocka_unit_test(test_v4_errors_and_layouts),
        cmocka_unit_test(test_parse_auth_bad),
        cmocka_unit_test(test_key_encoding),
        cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
