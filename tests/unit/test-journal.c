/*
 * test-journal.c - the journal's framing and recovery: records come back in order across
 * reopen and rotation; a torn tail is cut with its offset named; corruption in the middle
 * stops the open unless salvaging; compaction keeps only the snapshot; CRC-32C's check value,
 * by the instruction and by tables. A scan on two threads ends exactly as one on one thread:
 * the same records in the same order, the same warnings, errors and good prefix.
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
#include "tmpdir.h"
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
    assert_int_equal(crc32c_portable(0, "123456789", 9), 0xe3069283u);
}

/* The fast path against the tables, at every alignment and length up to 64 bytes. */
static void
test_crc32c_paths_agree(void **state)
{
    unsigned char buf[80];
    size_t a, n;

    (void)state;
    for (a = 0; a < sizeof(buf); a++)
        buf[a] = (unsigned char)(a * 37 + 11);
    for (a = 0; a < 8; a++)
        for (n = 0; n <= 64; n++)
            if (crc32c(7, buf + a, n) != crc32c_portable(7, buf + a, n))
                fail_msg("crc32c at +%zu, %zu bytes: %08x, tables %08x", a, n,
                         crc32c(7, buf + a, n), crc32c_portable(7, buf + a, n));
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

/* What a scan did, to compare a threaded scan with a plain one. */
struct trace {
    int n, raw, stop_at;
    int values[8192];
    uint64_t offs[8192];
    char warn[4][1100];
    int warns;
};

static int
trace_rec(void *arg, json_t *rec, const char *seg, uint64_t off)
{
    struct trace *t = arg;

    (void)seg;
    if (t->n < 8192) {
        t->values[t->n] = (int)json_integer_value(json_object_get(rec, "n"));
        t->offs[t->n] = off;
    }
    if (++t->n == t->stop_at)
        return -OTSYNC_EINVAL;
    return 0;
}

/* A prepared record: its parse (made on either thread), or none. */
struct prep {
    json_t *rec;
};

static int
trace_prepare(void *prep, const char *payload, size_t len)
{
    struct prep *p = prep;

    /* "raw" records alone, and of those every other one left to the record callback */
    if (len < 11 || memcmp(payload, "{\"t\":\"raw\"", 10) != 0 || payload[len - 2] % 2)
        return JOURNAL_PARSE;
    p->rec = json_loadb(payload, len, 0, NULL);
    if (!json_is_object(p->rec)) {
        json_decref(p->rec);
        return -OTSYNC_ECORRUPT;
    }
    return 0;
}

static int
trace_apply(void *arg, void *prep, const char *seg, uint64_t off)
{
    struct prep *p = prep;
    struct trace *t = arg;
    int rc;

    t->raw++;
    rc = trace_rec(arg, p->rec, seg, off);
    json_decref(p->rec);
    return rc;
}

static void
trace_release(void *prep)
{
    json_decref(((struct prep *)prep)->rec);
}

static void
trace_warn(void *arg, const char *text)
{
    struct trace *t = arg;

    if (t->warns < 4)
        snprintf(t->warn[t->warns], sizeof(t->warn[0]), "%s", text);
    t->warns++;
}

/* Scans buf on one thread and on two; both must tell the same story. Returns what the
 * scan returned, and the number of warnings in *ret_warns. */
static int
scan_both(const unsigned char *buf, size_t len, bool last, bool salvage, int stop_at,
          int *ret_warns)
{
    static struct trace t[2];
    struct otsync_err err[2];
    size_t good[2];
    int rc[2], k, i;

    for (k = 0; k < 2; k++) {
        struct journal_opts o = {.salvage = salvage, .skip_prefix = "{\"t\":\"skip\"",
                                 .prepare = trace_prepare, .apply = trace_apply,
                                 .release = trace_release, .prep_size = sizeof(struct prep),
                                 .parallel_min = 1, .warn = trace_warn, .arg = &t[k]};
        if (!k) {
            /* the plain scan: every record parsed whole, on this thread */
            o.prepare = NULL;
            o.apply = NULL;
            o.release = NULL;
        }
        memset(&t[k], 0, sizeof(t[k]));
        memset(&err[k], 0, sizeof(err[k]));
        t[k].stop_at = stop_at;
        rc[k] = journal_scan(buf, len, "seg", last, &o, trace_rec, &good[k], &err[k]);
    }
    assert_int_equal(rc[1], rc[0]);
    assert_string_equal(err[1].msg, err[0].msg);
    assert_int_equal(good[1], good[0]);
    assert_int_equal(t[1].n, t[0].n);
    assert_int_equal(t[1].warns, t[0].warns);
    for (i = 0; i < t[0].n && i < 8192; i++) {
        assert_int_equal(t[1].values[i], t[0].values[i]);
        assert_int_equal(t[1].offs[i], t[0].offs[i]);
    }
    for (i = 0; i < t[0].warns && i < 4; i++)
        assert_string_equal(t[1].warn[i], t[0].warn[i]);
    *ret_warns = t[0].warns;
    assert_true(t[1].raw > 0 || t[1].n == 0);     /* the prepared path was taken */
    return rc[0];
}

static unsigned char *
read_file(const char *path, size_t *ret_len)
{
    unsigned char *buf;
    FILE *f = fopen(path, "rb");
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *ret_len = (size_t)n;
    return buf;
}

static void
test_threaded_scan_matches(void **state)
{
    struct seen s;
    struct journal *j;
    struct otsync_err err;
    unsigned char *buf;
    char path[512];
    size_t len, off, k;
    int i, w;

    (void)state;
    j = open_j(&s, false, 0, 0);
    /* several windows' worth, with records skipped, raw and not objects' kin */
    for (i = 0; i < 7000; i++) {
        const char *t = i % 5 == 1 ? "skip" : i % 5 == 2 ? "raw" : "test";
        json_t *r = json_pack("{s:s, s:i, s:s}", "t", t, "n", i, "pad", "0123456789");
        assert_int_equal(journal_append(j, r, false, &err), 0);
        json_decref(r);
    }
    assert_int_equal(journal_flush(j, &err), 0);
    journal_close(j);
    last_segment(path, sizeof(path));
    buf = read_file(path, &len);
    assert_int_equal(scan_both(buf, len, true, false, 0, &w), 0);
    assert_int_equal(w, 0);
    assert_int_equal(scan_both(buf, len, false, false, 0, &w), 0);
    assert_int_equal(scan_both(buf, len, true, false, 4500, &w), -OTSYNC_EINVAL);
    /* a torn tail */
    assert_int_equal(scan_both(buf, len - 5, true, false, 0, &w), 0);
    assert_int_equal(w, 1);
    assert_int_equal(scan_both(buf, len - 5, false, false, 0, &w), -OTSYNC_ECORRUPT);
    assert_int_equal(scan_both(buf, len - 5, false, true, 0, &w), 0);
    assert_int_equal(w, 1);
    /* corruption in the middle of several windows: a flipped payload byte, then a record
     * whose payload is well framed but no JSON object (a bad CRC is the same bad frame) */
    for (k = 0, off = JOURNAL_MAGIC_LEN; k < 3100; k++)
        off += 8 + (buf[off] | buf[off + 1] << 8);
    buf[off + 12] ^= 0x20;
    for (k = 0; k < 2502; k++)      /* a "raw" one: prepared, then found bad */
        off += 8 + (buf[off] | buf[off + 1] << 8);
    {
        uint32_t n = buf[off] | buf[off + 1] << 8, c;
        assert_memory_equal(buf + off + 8, "{\"t\":\"raw\",", 11);
        memset(buf + off + 19, ' ', n - 12);
        buf[off + 19] = '1';                /* "{"t":"raw",1   }": not JSON */
        c = crc32c(crc32c(0, buf + off, 4), buf + off + 8, n);
        buf[off + 4] = (unsigned char)c;
        buf[off + 5] = (unsigned char)(c >> 8);
        buf[off + 6] = (unsigned char)(c >> 16);
        buf[off + 7] = (unsigned char)(c >> 24);
    }
    assert_int_equal(scan_both(buf, len, true, false, 0, &w), -OTSYNC_ECORRUPT);
    assert_int_equal(scan_both(buf, len, true, true, 0, &w), 0);
    assert_int_equal(w, 2);
    assert_int_equal(scan_both(buf, len, false, true, 0, &w), 0);
    assert_int_equal(scan_both(buf, len - 5, true, true, 0, &w), 0);
    assert_int_equal(w, 3);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_value),
        cmocka_unit_test(test_crc32c_paths_agree),
        TMPDIR_TEST(test_append_and_replay),
        TMPDIR_TEST(test_torn_tail_is_cut),
        TMPDIR_TEST(test_garbage_tail_is_cut),
        TMPDIR_TEST(test_middle_corruption_stops_unless_salvage),
        TMPDIR_TEST(test_rotation_and_compaction),
        TMPDIR_TEST(test_compaction_keeps_only_the_snapshot),
        TMPDIR_TEST(test_read_only_cuts_nothing),
        TMPDIR_TEST(test_threaded_scan_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
