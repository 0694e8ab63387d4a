/*
 * tmpdir.h - a scratch directory for each test of a cmocka group: `dir`, made under $TMPDIR
 * (or /tmp) by tmpdir_setup and removed with everything in it by tmpdir_teardown. Include
 * after cmocka.h; the test file owns nothing else of it.
 */
#ifndef OTSYNC_TEST_TMPDIR_H
#define OTSYNC_TEST_TMPDIR_H

static char dir[256];

static int
tmpdir_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/otsync-test.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int
tmpdir_teardown(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* A test of the group run in its own scratch directory. */
#define TMPDIR_TEST(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

#endif
