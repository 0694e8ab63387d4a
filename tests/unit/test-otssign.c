/*
 * test-otssign.c - Table Store signatures against the golden vectors in tests/vectors/tablestore
 * (copied from shared/protocols/vectors/tablestore): every recorded request's string to sign,
 * x-ots-signature and x-ots-contentmd5 (JS SDK), the requests as a loopback server received
 * them, and the response authorization (Python SDK); then what a check must refuse.
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
#include "otsync/otssign.h"

#define SECRET "testAccessKeySecret"
#define KEY_ID "testAccessKeyId"

static json_t *
load(const char *name)
{
    const char *top = getenv("top_srcdir");
    char path[1024];
    json_error_t je;
    json_t *root;

    snprintf(path, sizeof(path), "%s/tests/vectors/tablestore/%s", top ? top : ".", name);
    root = json_load_file(path, 0, &je);
    if (!root)
        fail_msg("%s:%d: %s", path, je.line, je.text);
    return root;
}

static const char *
str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    if (!s)
        fail_msg("vector field '%s' missing", key);
    return s;
}

static unsigned char *
unhex(const char *hex, size_t *ret_len)
{
    size_t n = strlen(hex), i;
    unsigned char *out = malloc(n / 2 + 1);
    unsigned v;

    assert_non_null(out);
    for (i = 0; i < n / 2; i++) {
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    *ret_len = n / 2;
    return out;
}

/* The headers of a JSON object, all of them, as the emulator would pass what it received. */
static size_t
headers_from_object(json_t *obj, struct otssign_header *h, size_t max)
{
    const char *name;
    json_t *value;
    size_t n = 0;

    json_object_foreach(obj, name, value) {
        assert_true(n < max);
        h[n].name = name;
        h[n].value = json_string_value(value);
        n++;
    }
    return n;
}

static const char *
header_get(const struct otssign_header *h, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!strcmp(h[i].name, name))
            return h[i].value;
    fail_msg("header %s missing", name);
    return NULL;
}

/*
 * One recorded request: its string to sign, its signature (computed from the headers without
 * x-ots-signature, then checked with it), its body MD5; then a changed header fails the check.
 */
static void
check_request(const char *secret, const char *path, const struct otssign_header *h, size_t n,
              const char *want_string, const char *body_hex)
{
    struct otssign_header changed[16];
    struct otsync_err err = {0};
    char sig[OTSSIGN_SIG_LEN], md5[OTSSIGN_MD5_LEN], *s;
    unsigned char *body;
    size_t len, i;

    if (want_string) {
        assert_int_equal(otssign_request_string(path, "POST", h, n, &s, &err), 0);
        assert_string_equal(s, want_string);
        free(s);
    }
    assert_int_equal(otssign_request(secret, path, "POST", h, n, sig, sizeof(sig), &err), 0);
    assert_int_equal(strlen(sig), 28);
    assert_string_equal(sig, header_get(h, n, "x-ots-signature"));
    assert_int_equal(otssign_request_check(secret, path, "POST", h, n, &err), 0);

    body = unhex(body_hex, &len);
    assert_int_equal(otssign_content_md5(body, len, md5, sizeof(md5), &err), 0);
    assert_string_equal(md5, header_get(h, n, "x-ots-contentmd5"));
    free(body);

    /* the emulator's refusals: another date, another operation, another secret */
    assert_true(n <= 16);
    memcpy(changed, h, n * sizeof(*h));
    for (i = 0; i < n; i++)
        if (!strcmp(changed[i].name, "x-ots-date"))
            changed[i].value = "2024-01-02T03:04:06.678Z";
    assert_int_equal(otssign_request_check(secret, path, "POST", changed, n, &err),
                     -OTSYNC_EAUTH);
    assert_int_equal(err.code, OTSYNC_EAUTH);
    assert_non_null(strstr(err.msg, "signature mismatch"));
    assert_int_equal(otssign_request_check(secret, "/DeleteTable", "POST", h, n, &err),
                     -OTSYNC_EAUTH);
    assert_int_equal(otssign_request_check("wrongSecret", path, "POST", h, n, &err),
                     -OTSYNC_EAUTH);
}

static void
test_signature_vectors(void **state)
{
    static const char *const files[] = {
        "signature_listtable.json", "signature_describetable_sts.json",
        "protobuf_getrange_request.json", "protobuf_getrange_backward_filter_request.json",
        "protobuf_batchwriterow_request.json",
    };
    struct otssign_header h[16];
    json_t *root, *exp, *in;
    const char *secret;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        root = load(files[i]);
        exp = json_object_get(root, "expected");
        in = json_object_get(root, "input");
        /* the README's fixed secret where a vector does not repeat it */
        secret = json_object_get(in, "access_key_secret") ? str(in, "access_key_secret")
                                                           : SECRET;
        assert_string_equal(str(exp, "method"), "POST");
        n = headers_from_object(json_object_get(exp, "headers"), h, 16);
        check_request(secret, str(exp, "path"), h, n, str(exp, "string_to_sign"),
                      str(exp, "body_hex"));
        json_decref(root);
    }
}

/* The requests exactly as a server received them: raw header pairs in wire order. */
static void
test_http_exchange(void **state)
{
    json_t *root = load("http_exchange_putrow.json"), *req, *raw;
    struct otssign_header h[16];
    size_t i, k, n;

    (void)state;
    json_array_foreach(json_object_get(json_object_get(root, "expected"), "requests_as_received"),
                       i, req) {
        raw = json_object_get(req, "raw_headers");
        n = json_array_size(raw) / 2;
        assert_true(n <= 16);
        for (k = 0; k < n; k++) {
            h[k].name = json_string_value(json_array_get(raw, 2 * k));
            h[k].value = json_string_value(json_array_get(raw, 2 * k + 1));
        }
        check_request(SECRET, str(req, "url"), h, n, NULL, str(req, "body_hex"));
    }
    json_decref(root);
}

static void
test_response_vector(void **state)
{
    json_t *root = load("signature_response.json");
    json_t *in = json_object_get(root, "input"), *exp = json_object_get(root, "expected");
    struct otssign_header h[8], changed[8];
    struct otsync_err err = {0};
    char sig[OTSSIGN_SIG_LEN], auth[128], md5[OTSSIGN_MD5_LEN], *s;
    const char *path = str(in, "action_path"), *want_auth = str(exp, "authorization_header");
    size_t n;

    (void)state;
    n = headers_from_object(json_object_get(in, "response_headers"), h, 8);
    assert_int_equal(otssign_response_string(path, h, n, &s, &err), 0);
    assert_string_equal(s, str(exp, "string_to_sign"));
    free(s);
    assert_int_equal(otssign_response(SECRET, path, h, n, sig, sizeof(sig), &err), 0);
    assert_string_equal(sig, str(exp, "signature"));
    assert_int_equal(otssign_response_authorization(KEY_ID, SECRET, path, h, n, auth,
                                                    sizeof(auth), &err), 0);
    assert_string_equal(auth, want_auth);
    assert_int_equal(otssign_content_md5("", 0, md5, sizeof(md5), &err), 0);
    assert_string_equal(md5, header_get(h, n, "x-ots-contentmd5"));

    /* the client's check, PY style (id and signature) and JAVA style (signature only) */
    assert_int_equal(otssign_response_check(KEY_ID, SECRET, path, h, n, want_auth, &err), 0);
    assert_int_equal(otssign_response_check(NULL, SECRET, path, h, n, want_auth, &err), 0);
    assert_int_equal(otssign_response_check(NULL, SECRET, path, h, n,
                                            "OTS someoneElse:TEM/X75SgGqZ/OEPYaRkMTRiJP4=", &err),
                     0);
    assert_int_equal(otssign_response_check(KEY_ID, SECRET, path, h, n,
                                            "OTS someoneElse:TEM/X75SgGqZ/OEPYaRkMTRiJP4=", &err),
                     -OTSYNC_EAUTH);
    assert_non_null(strstr(err.msg, "someoneElse"));
    assert_int_equal(otssign_response_check(KEY_ID, SECRET, "/GetRow", h, n, want_auth, &err),
                     -OTSYNC_EAUTH);
    /* one character short */
    assert_int_equal(otssign_response_check(KEY_ID, SECRET, path, h, n,
                                            "OTS " KEY_ID ":TEM/X75SgGqZ/OEPYaRkMTRiJP4", &err),
                     -OTSYNC_EAUTH);
    assert_int_equal(otssign_response_check(KEY_ID, SECRET, path, h, n, "TEM/X75SgGqZ", &err),
                     -OTSYNC_EAUTH);
    assert_non_null(strstr(err.msg, "is not 'OTS <id>:<signature>'"));
    assert_int_equal(otssign_response_check(KEY_ID, SECRET, path, h, n, NULL, &err),
                     -OTSYNC_EAUTH);
    memcpy(changed, h, n * sizeof(*h));
    changed[0].value = "AAAAAAAAAAAAAAAAAAAAAA==";
    assert_int_equal(otssign_response_check(KEY_ID, SECRET, path, changed, n, want_auth, &err),
                     -OTSYNC_EAUTH);
    assert_non_null(strstr(err.msg, "response signature mismatch"));
    /* a response with one x-ots header twice cannot be checked: not authentic either */
    changed[0] = h[0];
    changed[n] = h[0];
    assert_int_equal(otssign_response_check(KEY_ID, SECRET, path, changed, n + 1, want_auth,
                                            &err), -OTSYNC_EAUTH);
    json_decref(root);
}

/* Names in any case, values with surrounding blanks, other headers: the same signature. */
static void
test_canonical_form(void **state)
{
    static const struct otssign_header plain[] = {
        {"x-ots-date", "2024-01-02T03:04:05.678Z"},
        {"x-ots-apiversion", "2015-12-31"},
        {"x-ots-accesskeyid", KEY_ID},
        {"x-ots-contentmd5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
        {"x-ots-instancename", "test-instance"},
    };
    static const struct otssign_header messy[] = {
        {"Host", "127.0.0.1"},
        {"X-OTS-InstanceName", "test-instance"},
        {"x-ots-contentmd5", " 1B2M2Y8AsgTpgAmY7PhCfg==\t"},
        {"Content-Length", "0"},
        {"X-Ots-Date", "2024-01-02T03:04:05.678Z  "},
        {"x-ots-AccessKeyId", KEY_ID},
        {"x-ots-apiversion", "2015-12-31"},
        {"X-OTS-SIGNATURE", "not signed, whatever it says"},
    };
    static const struct otssign_header twice[] = {
        {"x-ots-date", "2024-01-02T03:04:05.678Z"},
        {"X-OTS-DATE", "2024-01-02T03:04:05.678Z"},
    };
    struct otsync_err err = {0};
    char a[OTSSIGN_SIG_LEN], b[OTSSIGN_SIG_LEN], small[OTSSIGN_SIG_LEN - 1], *s;

    (void)state;
    assert_int_equal(otssign_request(SECRET, "/ListTable", "POST", plain, 5, a, sizeof(a), &err),
                     0);
    assert_string_equal(a, "6D3fEWQ1p17Jvsl9CQm1mWAEaPo=");
    assert_int_equal(otssign_request(SECRET, "/ListTable", "POST", messy, 8, b, sizeof(b), &err),
                     0);
    assert_string_equal(a, b);
    /* no x-ots headers at all: just the three lines */
    assert_int_equal(otssign_request_string("/ListTable", "POST", NULL, 0, &s, &err), 0);
    assert_string_equal(s, "/ListTable\nPOST\n\n");
    free(s);
    assert_int_equal(otssign_response_string("/ListTable", NULL, 0, &s, &err), 0);
    assert_string_equal(s, "/ListTable");
    free(s);

    assert_int_equal(otssign_request(SECRET, "/ListTable", "POST", twice, 2, a, sizeof(a), &err),
                     -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "'x-ots-date' given twice"));
    assert_int_equal(otssign_request(SECRET, "/ListTable", "POST", plain, 5, small,
                                     sizeof(small), &err), -OTSYNC_EINVAL);
    assert_int_equal(otssign_request(NULL, "/ListTable", "POST", plain, 5, a, sizeof(a), &err),
                     -OTSYNC_EINVAL);
    /* the emulator answers 400 for a missing signature, 403 for a wrong one */
    assert_int_equal(otssign_request_check(SECRET, "/ListTable", "POST", plain, 5, &err),
                     -OTSYNC_EINVAL);
    assert_non_null(strstr(err.msg, "missing header x-ots-signature"));
    assert_int_equal(otssign_request_check(SECRET, "/ListTable", "POST", messy, 8, &err),
                     -OTSYNC_EAUTH);
    assert_int_equal(otssign_content_md5("", 0, small, sizeof(small), &err), 0);
    assert_string_equal(small, "1B2M2Y8AsgTpgAmY7PhCfg==");
    assert_int_equal(otssign_content_md5("", 0, small, OTSSIGN_MD5_LEN - 1, &err),
                     -OTSYNC_EINVAL);
    assert_int_equal(otssign_response_authorization(KEY_ID, SECRET, "/ListTable", plain, 5, a,
                                                    sizeof(a), &err), -OTSYNC_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vectors),
        cmocka_unit_test(test_http_exchange),
        cmocka_unit_test(test_response_vector),
        cmocka_unit_test(test_canonical_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
