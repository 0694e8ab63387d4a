/*
 * test-ossclient.c - what the OSS client decides before any request: path style on an IP or
 * localhost endpoint and virtual-hosted style otherwise (oss.md 1.2-1.5), key and query
 * encoding in the URL, and the endpoint mistakes it refuses with a clear message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "otsync/ossclient.h"
#include "otsync/osssign.h"

static struct ossclient *
client(const char *endpoint, int version, struct otsync_err *err)
{
    struct ossclient_conf c = {.endpoint = endpoint, .bucket = "exports",
                               .access_key_id = "id", .access_key_secret = "secret",
                               .sign_version = version};
    struct ossclient *oc = NULL;

    otsync_err_clear(err);
    if (ossclient_new(NULL, NULL, &c, &oc, err) < 0)
        return NULL;
    return oc;
}

static void
test_addressing(void **state)
{
    static const struct osssign_param q[] = {{"partNumber", "1"}, {"uploadId", "a b+c"},
                                             {"uploads", NULL}};
    struct otsync_err err;
    struct ossclient *c;
    char url[512];

    (void)state;
    c = client("http://127.0.0.1:9000", 1, &err);
    assert_non_null(c);
    assert_true(ossclient_path_style(c));
    assert_int_equal(ossclient_url(c, "dir/数据 file+1.txt", q, 3, url, sizeof(url)), 0);
    assert_string_equal(url, "http://127.0.0.1:9000/exports/dir/%E6%95%B0%E6%8D%AE%20file%2B1.txt"
                             "?partNumber=1&uploadId=a%20b%2Bc&uploads");
    assert_int_equal(ossclient_url(c, NULL, NULL, 0, url, sizeof(url)), 0);
    assert_string_equal(url, "http://127.0.0.1:9000/exports/");
    assert_int_equal(ossclient_url(c, "k", NULL, 0, url, 10), -OTSYNC_EINVAL);
    ossclient_free(c);

    c = client("localhost:8080/", 1, &err);
    assert_non_null(c);
    assert_true(ossclient_path_style(c));
    assert_int_equal(ossclient_url(c, "k", NULL, 0, url, sizeof(url)), 0);
    assert_string_equal(url, "https://localhost:8080/exports/k");
    ossclient_free(c);

    c = client("http://oss-cn-hangzhou.aliyuncs.com", 4, &err);
    assert_non_null(c);
    assert_false(ossclient_path_style(c));
    assert_int_equal(ossclient_url(c, "a/b", NULL, 0, url, sizeof(url)), 0);
    assert_string_equal(url, "http://exports.oss-cn-hangzhou.aliyuncs.com/a/b");
    ossclient_free(c);
}

static void
test_refused(void **state)
{
    struct otsync_err err;

    (void)state;
    assert_null(client("http://exports.oss-cn-hangzhou.aliyuncs.com", 1, &err));
    assert_int_equal(err.code, OTSYNC_ECONFIG);
    assert_non_null(strstr(err.msg, "contains the bucket"));
    assert_null(client("http://oss-cn-hangzhou.aliyuncs.com/some/path", 1, &err));
    assert_non_null(strstr(err.msg, "no path"));
    assert_null(client("ftp://host", 1, &err));
    assert_non_null(strstr(err.msg, "only http:// and https://"));
    assert_null(client("http://127.0.0.1:9000", 4, &err));
    assert_non_null(strstr(err.msg, "needs a region"));
    assert_null(client("http://127.0.0.1:9000", 2, &err));
    assert_non_null(strstr(err.msg, "expected 1 or 4"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addressing),
        cmocka_unit_test(test_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
