/*
 * test-datasource.c - the datasources file: the three types, secrets from files under ssh's
 * rule, inline secrets refused in a world-readable file, and every mistake at file:line:col.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "otsync/datasource.h"

static char dir[] = "/tmp/test-datasource.XXXXXX";

static void
write_file(const char *name, const char *text, mode_t mode, char *ret_path)
{
    FILE *f;

    sprintf(ret_path, "%s/%s", dir, name);
    assert_non_null(f = fopen(ret_path, "w"));
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(ret_path, mode), 0);
}

/* Loads text (mode 0640) and returns the joined diagnostics, or "" with *ret_set. */
static const char *
load(const char *text, mode_t mode, struct datasources **ret_set)
{
    static char out[8192];
    char path[512];
    struct diag d;
    FILE *m;
    int rc;

    write_file("datasources.yaml", text, mode, path);
    diag_init(&d);
    *ret_set = NULL;
    rc = datasources_load(path, ret_set, &d);
    m = fmemopen(out, sizeof(out), "w");
    diag_print(&d, m);
    fclose(m);
    if (rc == 0)
        assert_int_equal(d.errors, 0);
    else
        assert_true(d.errors > 0);
    diag_fini(&d);
    return out;
}

static void
test_three_types(void **state)
{
    struct datasources *set;
    const struct datasource *ds;
    char secret[512], text[2048];
    const char *msg;

    (void)state;
    write_file("ots.secret", "s3cr3t-ots\n", 0600, secret);
    snprintf(text, sizeof(text),
             "datasources:\n"
             "  ots_src:\n"
             "    type: ots\n"
             "    endpoint: https://inst.cn-hangzhou.ots.aliyuncs.com\n"
             "    instance: inst\n"
             "    access_key_id: AKID1\n"
             "    access_key_secret_file: %s\n"
             "  exports:\n"
             "    type: oss\n"
             "    endpoint: http://oss-cn-hangzhou.aliyuncs.com\n"
             "    bucket: my-bucket\n"
             "    access_key_id: AKID2\n"
             "    access_key_secret: inline-secret\n"
             "    security_token: sts-token\n"
             "  mc:\n"
             "    type: odps\n"
             "    endpoint: http://service.cn-hangzhou.maxcompute.aliyun.com/api\n"
             "    tunnel_endpoint: http://dt.cn-hangzhou.maxcompute.aliyun.com\n"
             "    project: proj\n"
             "    access_key_id: AKID3\n"
             "    access_key_secret_file: %s\n", secret, secret);
    msg = load(text, 0640, &set);
    assert_string_equal(msg, "");
    assert_int_equal(set->count, 3);
    ds = datasources_find(set, "ots_src");
    assert_non_null(ds);
    assert_int_equal(ds->type, DATASOURCE_OTS);
    assert_string_equal(ds->instance, "inst");
    assert_string_equal(ds->access_key_secret, "s3cr3t-ots");   /* first line, no newline */
    assert_int_equal(ds->mark.line, 3);
    ds = datasources_find(set, "exports");
    assert_int_equal(ds->type, DATASOURCE_OSS);
    assert_string_equal(ds->bucket, "my-bucket");
    assert_string_equal(ds->access_key_secret, "inline-secret");
    assert_string_equal(ds->security_token, "sts-token");
    ds = datasources_find(set, "mc");
    assert_int_equal(ds->type, DATASOURCE_ODPS);
    assert_string_equal(ds->project, "proj");
    assert_string_equal(ds->tunnel_endpoint, "http://dt.cn-hangzhou.maxcompute.aliyun.com");
    assert_null(datasources_find(set, "nope"));
    datasources_free(set);
}

static void
test_loose_secret_file_refused(void **state)
{
    struct datasources *set;
    char secret[512], text[1024];
    const char *msg;

    (void)state;
    write_file("loose.secret", "s3cr3t\n", 0640, secret);
    snprintf(text, sizeof(text),
             "datasources:\n"
             "  a:\n"
             "    type: ots\n"
             "    endpoint: https://x\n"
             "    instance: i\n"
             "    access_key_id: AK\n"
             "    access_key_secret_file: %s\n", secret);
    msg = load(text, 0600, &set);
    assert_null(set);
    assert_non_null(strstr(msg, "datasources.yaml:7:29: error: datasource a."
                                "access_key_secret_file"));
    assert_non_null(strstr(msg, "permissions 0640 are too open"));
    assert_null(strstr(msg, "s3cr3t"));
}

static void
test_inline_secret_world_readable_refused(void **state)
{
    struct datasources *set;
    const char *msg;

    (void)state;
    msg = load("datasources:\n"
               "  a:\n"
               "    type: oss\n"
               "    endpoint: https://x\n"
               "    bucket: b\n"
               "    access_key_id: AK\n"
               "    access_key_secret: hunter2\n", 0644, &set);
    assert_null(set);
    assert_non_null(strstr(msg, ":7:24: error: datasource a.access_key_secret: "));
    assert_non_null(strstr(msg, "readable by others"));
    assert_null(strstr(msg, "hunter2"));
}

static void
test_mistakes_marked(void **state)
{
    struct datasources *set;
    const char *msg;

    (void)state;
    msg = load("datasources:\n"
               "  a:\n"
               "    type: s3\n"
               "  b:\n"
               "    type: ots\n"
               "    endpoint: ftp://x\n"
               "    instanse: i\n"
               "    access_key_id: AK\n"
               "    access_key_secret: k\n"
               "  c:\n"
               "    type: oss\n"
               "    endpoint: https://x\n"
               "    bucket: b\n"
               "    project: p\n"
               "    access_key_id: AK\n", 0600, &set);
    assert_null(set);
    assert_non_null(strstr(msg, ":3:11: error: datasource a.type: expected ots, oss or odps, "
                                "got \"s3\""));
    assert_non_null(strstr(msg, ":6:15: error: datasource b.endpoint: expected an http:// or "
                                "https:// URL"));
    assert_non_null(strstr(msg, ":7:5: error: datasource b: unknown key 'instanse'"));
    assert_non_null(strstr(msg, "datasource b: a datasource of type ots needs instance"));
    assert_non_null(strstr(msg, ":14:14: error: datasource c.project: only for type odps"));
    assert_non_null(strstr(msg, "datasource c: give access_key_secret_file"));
}

static void
test_missing_file(void **state)
{
    struct datasources *set = NULL;
    struct diag d;

    (void)state;
    diag_init(&d);
    assert_int_equal(datasources_load("/nonexistent/datasources.yaml", &set, &d),
                     -OTSYNC_ENOENT);
    assert_int_equal(d.count, 0);
    diag_fini(&d);
}

static int
setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
    char cmd[600];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_types),
        cmocka_unit_test(test_loose_secret_file_refused),
        cmocka_unit_test(test_inline_secret_world_readable_refused),
        cmocka_unit_test(test_mistakes_marked),
        cmocka_unit_test(test_missing_file),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
