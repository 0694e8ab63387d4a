/*
 * test-job.c - from job JSON to a checked plan: the three job forms give the same plan;
 * numbers as strings; every error names its JSON path; a secret of the wrong type is never
 * quoted; the errorLimit and speed settings as the engine reads them.
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
#include "job.h"

#define READER_PARAMS "{\"column\": [{\"type\": \"string\", \"value\": \"a\"}, " \
                      "{\"type\": \"long\", \"value\": \"7\"}], \"sliceRecordCount\": \"3\"}"
#define WRITER_PARAMS "{\"print\": false, \"fieldDelimiter\": \",\"}"

static const char v1_job[] =
    "{\"type\": \"job\", \"version\": \"1.0\", \"configuration\": {"
    "\"setting\": {\"speed\": {\"concurrent\": \"2\", \"mbps\": \"5\"},"
    "              \"errorLimit\": {\"record\": \"3\"}},"
    "\"reader\": {\"plugin\": \"stream\", \"parameter\": " READER_PARAMS "},"
    "\"writer\": {\"plugin\": \"stream\", \"parameter\": " WRITER_PARAMS "}}}";

static const char v2_job[] =
    "{\"type\": \"job\", \"version\": \"2.0\", \"steps\": ["
    "{\"stepType\": \"stream\", \"category\": \"reader\", \"name\": \"Reader\","
    " \"parameter\": " READER_PARAMS "},"
    "{\"stepType\": \"stream\", \"category\": \"writer\", \"name\": \"Writer\","
    " \"parameter\": " WRITER_PARAMS "}],"
    "\"setting\": {\"speed\": {\"concurrent\": 2, \"mbps\": 5}, \"errorLimit\": {\"record\": 3}},"
    "\"order\": {\"hops\": [{\"from\": \"Reader\", \"to\": \"Writer\"}]}}";

static const char datax_job[] =
    "{\"job\": {\"setting\": {\"speed\": {\"channel\": 2, \"byte\": 5242880},"
    "                        \"errorLimit\": {\"record\": 3}},"
    "\"content\": [{\"reader\": {\"name\": \"streamreader\", \"parameter\": " READER_PARAMS "},"
    "              \"writer\": {\"name\": \"streamwriter\", \"parameter\": " WRITER_PARAMS "}}]}}";

/* Plans text; returns 0 or the error code, with the first error in err. */
static int
plan_text(const char *text, struct job_plan *plan, struct otsync_err *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    struct diag d;
    int rc;

    if (!root)
        fail_msg("test job does not parse: %s (line %d col %d)", jerr.text, jerr.line,
                 jerr.column);
    diag_init(&d);
    otsync_err_clear(err);
    rc = job_plan_init(plan, root, "test.json", &d, err);
    diag_fini(&d);
    return rc;
}

/* Every option of both sides has the same value in a and b. */
static void
assert_same_side(const struct otsync_option *opts, const void *a, const void *b)
{
    const struct otsync_option *o;

    for (o = opts; o->key; o++) {
        const char *pa = (const char *)a + o->offset, *pb = (const char *)b + o->offset;

        switch (o->type) {
        case OTSYNC_OPT_BOOL:
            assert_int_equal(*(const bool *)pa, *(const bool *)pb);
            break;
        case OTSYNC_OPT_INT:
            assert_int_equal(*(const int64_t *)pa, *(const int64_t *)pb);
            break;
        case OTSYNC_OPT_DOUBLE:
            assert_true(*(const double *)pa == *(const double *)pb);
            break;
        case OTSYNC_OPT_STRING:
            assert_string_equal(*(const char *const *)pa, *(const char *const *)pb);
            break;
        case OTSYNC_OPT_ARRAY:
        case OTSYNC_OPT_OBJECT:
            assert_true(json_equal(*(json_t *const *)pa, *(json_t *const *)pb));
            break;
        }
    }
}

static void
test_three_forms_same_plan(void **state)
{
    struct job_plan p[3];
    struct otsync_err err;
    const char *jobs[3] = {v1_job, v2_job, datax_job};
    int i;

    (void)state;
    for (i = 0; i < 3; i++) {
        if (plan_text(jobs[i], &p[i], &err) != 0)
            fail_msg("form %d: %s", i, err.msg);
    }
    assert_string_equal(p[0].form, "DataWorks v1");
    assert_string_equal(p[1].form, "DataWorks v2");
    assert_string_equal(p[2].form, "DataX");
    for (i = 1; i < 3; i++) {
        assert_ptr_equal(p[i].reader_ops, p[0].reader_ops);
        assert_ptr_equal(p[i].writer_ops, p[0].writer_ops);
        assert_int_equal(p[i].channels, 2);
        assert_true(p[i].mbps == 5.0);
        assert_int_equal(p[i].error_record, 3);
        assert_true(p[i].error_percentage < 0);
        assert_same_side(p[0].reader_ops->options, p[0].reader.conf, p[i].reader.conf);
        assert_same_side(p[0].writer_ops->options, p[0].writer.conf, p[i].writer.conf);
    }
    assert_ptr_equal(p[0].reader_ops, &otsync_reader_stream);
    assert_string_equal(p[0].reader.path, "configuration.reader.parameter");
    assert_string_equal(p[1].reader.path, "steps[0].parameter");
    assert_string_equal(p[2].reader.path, "job.content[0].reader.parameter");
    for (i = 0; i < 3; i++)
        job_plan_fini(&p[i]);
}

static void
expect_error(const char *text, const char *needle)
{
    struct job_plan p;
    struct otsync_err err;

    assert_int_equal(plan_text(text, &p, &err), -OTSYNC_ECONFIG);
    if (!strstr(err.msg, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, err.msg);
}

static void
test_errors_name_the_path(void **state)
{
    (void)state;
    expect_error("{\"type\": \"job\", \"version\": \"1.0\", \"configuration\": {"
                 "\"reader\": {\"plugin\": \"stream\", \"parameter\": {\"column\": "
                 "[{\"type\": \"string\", \"value\": \"a\"}], \"sliceRecordCount\": true}},"
                 "\"writer\": {\"plugin\": \"stream\", \"parameter\": {}}}}",
                 "configuration.reader.parameter.sliceRecordCount: expected an integer");
    expect_error("{\"type\": \"job\", \"version\": \"2.0\", \"steps\": ["
                 "{\"stepType\": \"stream\", \"category\": \"reader\", \"name\": \"R\","
                 " \"parameter\": {\"column\": [], \"bogus\": 1}},"
                 "{\"stepType\": \"stream\", \"category\": \"writer\", \"name\": \"W\","
                 " \"parameter\": {}}], \"order\": {\"hops\": [{\"from\": \"R\", \"to\": \"W\"}]}}",
                 "steps[0].parameter.bogus: unknown parameter");
    expect_error("{\"job\": {\"content\": [{\"reader\": {\"name\": \"streamreader\", "
                 "\"parameter\": {\"column\": []}}, \"writer\": {\"name\": \"streamwriter\", "
                 "\"parameter\": {\"print\": \"maybe\"}}}]}}",
                 "job.content[0].writer.parameter.print: expected");
    expect_error("{\"type\": \"job\", \"version\": \"1.0\", \"configuration\": {"
                 "\"setting\": {\"speed\": {\"concurrent\": \"many\"}},"
                 "\"reader\": {\"plugin\": \"stream\", \"parameter\": {\"column\": []}},"
                 "\"writer\": {\"plugin\": \"stream\", \"parameter\": {}}}}",
                 "configuration.setting.speed.concurrent: expected an integer");
    expect_error("{\"type\": \"job\", \"version\": \"1.0\", \"configuration\": {"
                 "\"setting\": {\"errorLimit\": {\"percentage\": 2}},"
                 "\"reader\": {\"plugin\": \"stream\", \"parameter\": {\"column\": []}},"
                 "\"writer\": {\"plugin\": \"stream\", \"parameter\": {}}}}",
                 "configuration.setting.errorLimit.percentage: must be a fraction");
}

static void
test_secret_never_quoted(void **state)
{
    struct job_plan p;
    struct otsync_err err;

    (void)state;
    /* a secret-named unknown key is named, its value never shown */
    assert_int_equal(plan_text("{\"type\": \"job\", \"version\": \"1.0\", \"configuration\": {"
                               "\"reader\": {\"plugin\": \"stream\", \"parameter\": "
                               "{\"column\": [], \"accessKey\": \"hunter2-SECRET\"}},"
                               "\"writer\": {\"plugin\": \"stream\", \"parameter\": {}}}}",
                               &p, &err), -OTSYNC_ECONFIG);
    assert_non_null(strstr(err.msg, "accessKey"));
    assert_null(strstr(err.msg, "hunter2"));
    /* the ots reader's accessKey given as a number: the wrong type is said, the value not */
    assert_int_equal(plan_text("{\"type\": \"job\", \"version\": \"1.0\", \"configuration\": {"
                               "\"reader\": {\"plugin\": \"ots\", \"parameter\": "
                               "{\"table\": \"t\", \"column\": [{\"name\": \"a\"}], "
                               "\"accessKey\": 987654321}},"
                               "\"writer\": {\"plugin\": \"stream\", \"parameter\": {}}}}",
                               &p, &err), -OTSYNC_ECONFIG);
    assert_non_null(strstr(err.msg, "configuration.reader.parameter.accessKey: expected a "
                                    "string, got <redacted>"));
    assert_null(strstr(err.msg, "987654321"));
}

static void
test_error_limit_forms(void **state)
{
    struct job_plan p;
    struct otsync_err err;
    static const char fmt[] =
        "{\"type\": \"job\", \"version\": \"1.0\", \"configuration\": {"
        "\"setting\": {\"errorLimit\": %s},"
        "\"reader\": {\"plugin\": \"stream\", \"parameter\": {\"column\": "
        "[{\"type\": \"long\", \"value\": 1}]}},"
        "\"writer\": {\"plugin\": \"stream\", \"parameter\": {}}}}";
    char text[1024];

    (void)state;
    snprintf(text, sizeof(text), fmt, "{}");
    assert_int_equal(plan_text(text, &p, &err), 0);
    assert_int_equal(p.error_record, 0);        /* DataX's default: no dirty record at all */
    assert_true(p.error_percentage < 0);
    job_plan_fini(&p);
    snprintf(text, sizeof(text), fmt, "{\"percentage\": 0.02}");
    assert_int_equal(plan_text(text, &p, &err), 0);
    assert_true(p.error_record < 0);
    assert_true(p.error_percentage == 0.02);
    job_plan_fini(&p);
    snprintf(text, sizeof(text), fmt, "{\"record\": 10, \"percentage\": 0.02}");
    assert_int_equal(plan_text(text, &p, &err), 0);
    assert_int_equal(p.error_record, 10);       /* record wins */
    assert_true(p.error_percentage < 0);
    job_plan_fini(&p);
}

static void
test_speed_forms(void **state)
{
    struct job_plan p;
    struct otsync_err err;

    (void)state;
    assert_int_equal(plan_text("{\"job\": {\"setting\": {\"speed\": {\"record\": \"5000\"}},"
                               "\"content\": [{\"reader\": {\"name\": \"streamreader\", "
                               "\"parameter\": {\"column\": [{\"type\": \"long\", \"value\": 1}]}},"
                               "\"writer\": {\"name\": \"streamwriter\", \"parameter\": {}}}]}}",
                               &p, &err), 0);
    assert_true(p.records_per_s == 5000);
    assert_true(p.mbps == 0);
    assert_int_equal(p.channels, 1);
    job_plan_fini(&p);
    expect_error("{\"type\": \"job\", \"version\": \"1.0\", \"configuration\": {"
                 "\"setting\": {\"speed\": {\"mbps\": 1, \"byte\": 100}},"
                 "\"reader\": {\"plugin\": \"stream\", \"parameter\": {\"column\": []}},"
                 "\"writer\": {\"plugin\": \"stream\", \"parameter\": {}}}}",
                 "configuration.setting.speed.byte: mbps and byte both limit");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_forms_same_plan),
        cmocka_unit_test(test_errors_name_the_path),
        cmocka_unit_test(test_secret_never_quoted),
        cmocka_unit_test(test_error_limit_forms),
        cmocka_unit_test(test_speed_forms),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
