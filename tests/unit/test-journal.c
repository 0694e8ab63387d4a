/*
 * test-journal.c - the journal's framing and recovery: records come back in order across
 * reopen and rotation; a torn tail is cut with its offset named; corruption in the middle
 * stops the open unless salvaging; compaction keeps only the snapshot; CRC-32C's check value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "otsync/crc.h"
#include "otsync/journal.h"

struct seen {
    int n;
    int values[4096];
    char warn[8][1100];
    int warns;
};

static int
on_rec(void *arg, json_t *rec, const char *seg, uint64_t off)
{
    struct seen *s = arg;

    (void)seg;
    (void)off;
    if (s->n < 4096)
        s->values[s->n] = (int)json_integer_value(json_object_get(rec, "n"));
    s->n++;
    return 0;
}

static void
on_warn(void *arg, const char *text)
{
    struct seen *s = arg;

    if (s->warns < 8)
        snprintf(s->warn[s->warns], sizeof(s->warn[0]), "%s", text);
    s->warns++;
}

static char dir[256];

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/otsync-jtest.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int
teardown(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct journal *
open_j(struct seen *s, bool salvage, size_t segmax, int expect_rc)
{
    struct journal_opts o = {.salvage = salvage, .segment_max = segmax, .warn = on_warn, .arg = s};
    struct journal *j = NULL;
    struct otsync_err err = {0};
    int rc;

    memset(s, 0, sizeof(*s));
    rc = journal_open(dir, &o, on_rec, &j, &err);
    if (rc != expect_rc)
        fail_msg("journal_open: %d (%s), expected %d", rc, err.msg, expect_rc);
    if (rc < 0)
        snprintf(s->warn[7], sizeof(s->warn[7]), "%s", err.msg);
    return j;
}

static void
append_n(struct journal *j, int from, int to)
{
    struct otsync_err err;
    int i;

    for (i = from; i < to; i++) {
        json_t *r = json_pack("{s:s, s:i, s:s}", "t", "test", "n", i, "pad", "0123456789");
        assert_int_equal(journal_append(j, r, i % 2 == 0, &err), 0);
        json_decref(r);
    }
    assert_int_equal(journal_flush(j, &err), 0);
}

/* The path of the only (or last) segment. */
static void
last_segment(char *path, size_t size)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);

    assert_true(n > 2);
    snprintf(path, size, "%s/%s", dir, list[n - 1]->d_name);
    while (n--)
        free(list[n]);
    free(list);
}

static off_t
file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void
test_crc32c_check_value(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
    /* in pieces, across the 8-byte stride */
    assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
    assert_int_equal(crc32c(0, "", 0), 0);
}

static void
test_append_and_replay(void **state)
{
    struct seen s;
    struct journal *j;
    int i;

    (void)state;
    j = open_j(&s, false, 0, 0);
    assert_int_equal(s.n, 0);
    append_n(j, 0, 100);
    journal_close(j);
    j = open_j(&s, false, 0, 0);
    assert_int_equal(s.n, 100);
    for (i = 0; i < 100; i++)
        assert_int_equal(s.values[i], i);
    assert_int_equal(s.warns, 0);
    append_n(j, 100, 110);
    journal_close(j);
    j = open_j(&s, false, 0, 0);
    assert_int_equal(s.n, 110);
    assert_int_equal(s.values[109], 109);
    journal_close(j);
}

static void
test_torn_tail_is_cut(void **state)
{
    struct seen s;
    struct journal *j;
    char path[512];
    off_t size;

    (void)state;
    j = open_j(&s, false, 0, 0);
    append_n(j, 0, 10);
    journal_close(j);
    last_segment(path, sizeof(path));
    size = file_size(path);
    /* a crash in the middle of the last record's write */
    assert_int_equal(truncate(path, size - 5), 0);
    j = open_j(&s, false, 0, 0);
    assert_int_equal(s.n, 9);
    assert_int_equal(s.warns, 1);
    assert_non_null(strstr(s.warn[0], "torn record at offset"));
    append_n(j, 100, 101);
    journal_close(j);
    j = open_j(&s, false, 0, 0);
    assert_int_equal(s.n, 10);
    assert_int_equal(s.values[9], 100);
    assert_int_equal(s.warns, 0);
    journal_close(j);
}

static void
test_garbage_tail_is_cut(void **state)
{
    struct seen s;
    struct journal *j;
    char path[512];
    int fd;

    (void)state;
    j = open_j(&s, false, 0, 0);
    append_n(j, 0, 3);
    journal_close(j);
    last_segment(path, sizeof(path));
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\xff\xff\xff\x7f garbage", 12), 12);
    close(fd);
    j = open_j(&s, false, 0, 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.warns, 1);
    journal_close(j);
}

static void
test_middle_corruption_stops_unless_salvage(void **state)
{
    struct seen s;
    struct journal *j;
    char path[512];
    int fd;

    (void)state;
    j = open_j(&s, false, 0, 0);
    append_n(j, 0, 20);
    journal_close(j);
    last_segment(path, sizeof(path));
    /* flip one payload byte of the second record (magic 8 + first record) */
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    {
        unsigned char b[64];
        uint32_t len1;
        assert_int_equal(pread(fd, b, 4, 8), 4);
        len1 = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
        assert_int_equal(pread(fd, b, 1, 8 + 8 + len1 + 8 + 3), 1);
        b[0] ^= 0x20;
        assert_int_equal(pwrite(fd, b, 1, 8 + 8 + len1 + 8 + 3), 1);
    }
    close(fd);
    j = open_j(&s, false, 0, -OTSYNC_ECORRUPT);
    assert_null(j);
    assert_non_null(strstr(s.warn[7], "corrupt record at offset"));
    assert_non_null(strstr(s.warn[7], "--salvage"));
    j = open_j(&s, true, 0, 0);
    assert_int_equal(s.n, 19);
    assert_int_equal(s.values[0], 0);
    assert_int_equal(s.values[1], 2);
    assert_int_equal(s.warns, 1);
    assert_non_null(strstr(s.warn[0], "skipped"));
    journal_close(j);
}

static void
test_rotation_and_compaction(void **state)
{
    struct seen s;
    struct journal *j;
    int i;

    (void)state;
    j = open_j(&s, false, 1024, 0);
    for (i = 0; i < 50; i++)
        append_n(j, i * 10, i * 10 + 10);
    assert_true(journal_segments(j) > 5);
    journal_close(j);
    j = open_j(&s, false, 1024, 0);
    assert_int_equal(s.n, 500);
    for (i = 0; i < 500; i++)
        assert_int_equal(s.values[i], i);
    journal_close(j);
}

static int
snapshot_two(void *arg, struct journal *j)
{
    struct otsync_err err;
    json_t *r;
    int i;

    (void)arg;
    for (i = 0; i < 2; i++) {
        r = json_pack("{s:s, s:i}", "t", "snap", "n", 1000 + i);
        if (journal_append(j, r, false, &err) < 0) {
            json_decref(r);
            return -1;
        }
        json_decref(r);
    }
    return 0;
}

static void
test_compaction_keeps_only_the_snapshot(void **state)
{
    struct seen s;
    struct journal *j;
    struct otsync_err err;

    (void)state;
    j = open_j(&s, false, 1024, 0);
    append_n(j, 0, 200);
    assert_int_equal(journal_compact(j, snapshot_two, NULL, &err), 0);
    assert_int_equal(journal_segments(j), 1);
    append_n(j, 2000, 2001);
    journal_close(j);
    j = open_j(&s, false, 1024, 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.values[0], 1000);
    assert_int_equal(s.values[1], 1001);
    assert_int_equal(s.values[2], 2000);
    journal_close(j);
}

static void
test_read_only_cuts_nothing(void **state)
{
    struct seen s;
    struct journal *j;
    struct journal_opts o = {.read_only = true, .warn = on_warn, .arg = &s};
    struct otsync_err err;
    char path[512];
    off_t size;

    (void)state;
    j = open_j(&s, false, 0, 0);
    append_n(j, 0, 5);
    journal_close(j);
    last_segment(path, sizeof(path));
    size = file_size(path);
    assert_int_equal(truncate(path, size - 3), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(journal_open(dir, &o, on_rec, &j, &err), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(file_size(path), size - 3);
    {
        json_t *r = json_object();
        assert_true(journal_append(j, r, false, &err) < 0);
        json_decref(r);
    }
    journal_close(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_value),
        cmocka_unit_test_setup_teardown(test_append_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_tail_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_middle_corruption_stops_unless_salvage, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotation_and_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_keeps_only_the_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_cuts_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
