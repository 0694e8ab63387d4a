/*
 * journal.c - segment files of length- and CRC-framed JSON records (format in journal.h).
 *
 * Writes are queued in one buffer and leave in one write(2) per flush, which the daemon calls
 * once per loop turn: every state change of a turn shares one fdatasync, and nothing acts on a
 * transition before its flush returned (the daemon defers spawns until then).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "otsync/crc.h"
#include "otsync/journal.h"

#define SEGMENT_MAX_DEFAULT (64u << 20)
#define HDR 8

struct journal {
    char *dir;
    int dir_fd;
    int fd;                     /* the active (last) segment, O_APPEND */
    uint64_t seq;               /* of the active segment */
    uint64_t active_size;
    uint64_t older_size;        /* bytes in the other segments */
    size_t segments;
    size_t segment_max;
    bool read_only;
    unsigned char *buf;         /* queued records */
    size_t len, cap;
    bool durable;               /* a queued record asks for fdatasync */
};

static void
put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The length of a well-framed record at p (header + payload), or 0 when there is none. */
static size_t
frame_at(const unsigned char *p, size_t avail)
{
    uint32_t len, crc;

    if (avail < HDR)
        return 0;
    len = get_le32(p);
    if (len < 2 || len > JOURNAL_RECORD_MAX || len > avail - HDR)
        return 0;
    /* every payload is a JSON object: a cheap test before the checksum, which keeps the
     * search for the next good record after a corrupt one from going quadratic */
    if (p[HDR] != '{' || p[HDR + len - 1] != '}')
        return 0;
    crc = crc32c(crc32c(0, p, 4), p + HDR, len);
    return crc == get_le32(p + 4) ? HDR + len : 0;
}

/* The offset of the next well-framed record after `from`, or len when there is none. */
static size_t
next_frame(const unsigned char *buf, size_t len, size_t from)
{
    size_t off;

    for (off = from; off + HDR < len; off++)
        if (buf[off + HDR] == '{' && frame_at(buf + off, len - off))
            return off;
    return len;
}

static void
warnf(journal_warn_cb warn, void *arg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
warnf(journal_warn_cb warn, void *arg, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    if (!warn)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    warn(arg, text);
}

/*
 * The scan runs in windows of consecutive well-framed records: the main thread frames a
 * window (length, CRC, skipped or not), the records are prepared (journal_opts.prepare), then
 * the main thread applies them in order. With a second thread, that thread prepares the next
 * window while the main thread applies this one, and the main thread helps with whatever is
 * left: preparing (the JSON parse) is most of a replay. What crosses between the threads is
 * the caller's prepared form, not jansson's trees: handing those over made each thread work
 * on memory the other had just touched, and glibc's free of another thread's memory takes
 * that arena's lock (two threads were slower than one). Anything that is not a well-framed,
 * good record (corruption, a torn tail) ends a window and is judged by the main thread alone,
 * exactly as a one-threaded scan would.
 */
#define WINDOW 512                      /* records per window */
#define GROUP 16                        /* records a thread takes at a time */
#define PARALLEL_MIN_DEFAULT (1u << 20)

struct slot {
    size_t off;                 /* of the record's header */
    uint32_t n;                 /* header and payload */
    bool skip;                  /* o->skip_prefix */
    int prc;                    /* what prepare returned */
};

struct window {
    struct slot s[WINDOW];
    unsigned char *prep;        /* WINDOW times o->prep_size */
    size_t count;
    size_t claimed;             /* atomic: slots taken by a preparing thread */
    size_t prepared;            /* atomic: slots prepared */
};

struct scan {
    const unsigned char *buf;
    size_t len;
    const struct journal_opts *o;
    size_t skip_len;
    bool threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* work published, a window prepared, the thread out, quit */
    struct window *todo[2];     /* the windows the thread may take from, oldest first */
    struct window *busy;        /* the window the thread is working in (NULL: none) */
    bool quit;
    struct window w[2];
};

static json_t *
parse(const unsigned char *payload, size_t len)
{
    json_error_t je;
    json_t *rec = json_loadb((const char *)payload, len, 0, &je);

    if (rec && !json_is_object(rec)) {
        json_decref(rec);
        rec = NULL;
    }
    return rec;
}

static void *
prep_of(const struct scan *sc, struct window *w, size_t i)
{
    return w->prep + i * sc->o->prep_size;
}

/* Frames the well-framed records from `from` on into w, up to a full window. */
static void
frame_window(struct scan *sc, struct window *w, size_t from)
{
    size_t off = from, n;

    w->count = 0;
    while (w->count < WINDOW && off < sc->len && (n = frame_at(sc->buf + off, sc->len - off))) {
        struct slot *s = &w->s[w->count++];
        s->off = off;
        s->n = (uint32_t)n;
        s->skip = sc->skip_len && n - HDR > sc->skip_len
                  && memcmp(sc->buf + off + HDR, sc->o->skip_prefix, sc->skip_len) == 0;
        s->prc = JOURNAL_PARSE;
        off += n;
    }
    __atomic_store_n(&w->claimed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&w->prepared, 0, __ATOMIC_RELAXED);
}

/* Prepares groups of w's records until none is left to take (by either thread). */
static void
prepare_some(struct scan *sc, struct window *w)
{
    size_t i, end, done;

    while ((i = __atomic_fetch_add(&w->claimed, GROUP, __ATOMIC_RELAXED)) < w->count) {
        end = i + GROUP < w->count ? i + GROUP : w->count;
        for (done = end - i; i < end; i++)
            if (!w->s[i].skip && sc->o->prepare)
                w->s[i].prc = sc->o->prepare(prep_of(sc, w, i),
                                             (const char *)sc->buf + w->s[i].off + HDR,
                                             w->s[i].n - HDR);
        if (__atomic_add_fetch(&w->prepared, done, __ATOMIC_RELEASE) == w->count
            && sc->threaded) {
            pthread_mutex_lock(&sc->mu);
            pthread_cond_broadcast(&sc->cv);
            pthread_mutex_unlock(&sc->mu);
        }
    }
}

static void *
prepare_thread(void *arg)
{
    struct scan *sc = arg;
    struct window *w;

    pthread_mutex_lock(&sc->mu);
    while (!sc->quit) {
        w = sc->todo[0];
        if (w && __atomic_load_n(&w->claimed, __ATOMIC_RELAXED) >= w->count)
            w = sc->todo[1];
        if (!w || __atomic_load_n(&w->claimed, __ATOMIC_RELAXED) >= w->count) {
            pthread_cond_wait(&sc->cv, &sc->mu);
            continue;
        }
        sc->busy = w;
        pthread_mutex_unlock(&sc->mu);
        prepare_some(sc, w);
        pthread_mutex_lock(&sc->mu);
        sc->busy = NULL;
        pthread_cond_broadcast(&sc->cv);
    }
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

/* Frames w from `from` on and offers it to the other thread (after any window offered
 * before), once that thread is out of it (it may still be leaving it after its last group);
 * it cannot take w while w is framed. */
static void
start_window(struct scan *sc, struct window *w, size_t from)
{
    if (!sc->threaded) {
        frame_window(sc, w, from);
        return;
    }
    pthread_mutex_lock(&sc->mu);
    if (sc->todo[0] == w) {
        sc->todo[0] = sc->todo[1];
        sc->todo[1] = NULL;
    } else if (sc->todo[1] == w) {
        sc->todo[1] = NULL;
    }
    while (sc->busy == w)
        pthread_cond_wait(&sc->cv, &sc->mu);
    pthread_mutex_unlock(&sc->mu);
    frame_window(sc, w, from);
    pthread_mutex_lock(&sc->mu);
    sc->todo[sc->todo[0] ? 1 : 0] = w;
    pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
}

/* Returns when every record of w is prepared, helping with those left. */
static void
finish_window(struct scan *sc, struct window *w)
{
    prepare_some(sc, w);
    if (!sc->threaded)
        return;
    pthread_mutex_lock(&sc->mu);
    while (__atomic_load_n(&w->prepared, __ATOMIC_ACQUIRE) < w->count)
        pthread_cond_wait(&sc->cv, &sc->mu);
    pthread_mutex_unlock(&sc->mu);
}

/* Frees what was prepared in w from slot `from` on and will not be applied. */
static void
drop_window(struct scan *sc, struct window *w, size_t from)
{
    for (; from < w->count; from++)
        if (!w->s[from].skip && w->s[from].prc == 0 && sc->o->release)
            sc->o->release(prep_of(sc, w, from));
}

static void
scan_free(struct scan *sc)
{
    if (sc->threaded) {
        pthread_mutex_lock(&sc->mu);
        sc->quit = true;
        pthread_cond_broadcast(&sc->cv);
        pthread_mutex_unlock(&sc->mu);
        pthread_join(sc->thread, NULL);
        pthread_cond_destroy(&sc->cv);
        pthread_mutex_destroy(&sc->mu);
    }
    free(sc->w[0].prep);
    free(sc->w[1].prep);
    free(sc);
}

/*
 * A record at *off is not a good one. Returns 1 with *off at the next good record (salvage),
 * 0 when the scan stops here without error (a torn tail), or a negative code.
 */
static int
bad_record(const struct scan *sc, const char *name, bool last, size_t *off,
           struct otsync_err *err)
{
    size_t next = next_frame(sc->buf, sc->len, *off + 1);
    const struct journal_opts *o = sc->o;

    if (next == sc->len && last) {
        /* nothing good follows: a write the crash cut short */
        warnf(o->warn, o->arg, "journal %s: torn record at offset %zu: the last %zu bytes "
              "are cut off", name, *off, sc->len - *off);
        return 0;
    }
    if (!o->salvage)
        return otsync_err_set(err, OTSYNC_ECORRUPT,
                              "journal %s: corrupt record at offset %zu with good records "
                              "after it; start with --salvage to skip the bad bytes",
                              name, *off);
    warnf(o->warn, o->arg, "journal %s: skipped %zu corrupt bytes at offset %zu (salvage)",
          name, next - *off, *off);
    *off = next;
    return 1;
}

static struct scan *
scan_new(const unsigned char *buf, size_t len, const struct journal_opts *o)
{
    size_t min = o->parallel_min ? o->parallel_min : PARALLEL_MIN_DEFAULT;
    struct scan *sc = calloc(1, sizeof(*sc));

    if (!sc)
        return NULL;
    sc->buf = buf;
    sc->len = len;
    sc->o = o;
    sc->skip_len = o->skip_prefix ? strlen(o->skip_prefix) : 0;
    if (o->prepare && (!(sc->w[0].prep = malloc(WINDOW * o->prep_size))
                       || !(sc->w[1].prep = malloc(WINDOW * o->prep_size)))) {
        scan_free(sc);
        return NULL;
    }
    if (o->prepare && len >= min && sysconf(_SC_NPROCESSORS_ONLN) > 1) {
        /* jansson seeds its hash function on first use; not from two threads at once */
        json_object_seed(0);
        pthread_mutex_init(&sc->mu, NULL);
        pthread_cond_init(&sc->cv, NULL);
        sc->threaded = pthread_create(&sc->thread, NULL, prepare_thread, sc) == 0;
        if (!sc->threaded) {
            /* one thread it is: the same result, later */
            pthread_cond_destroy(&sc->cv);
            pthread_mutex_destroy(&sc->mu);
        }
    }
    return sc;
}

/* The record of slot s, as jansson parses it, to cb. 1: it is not a JSON object. */
static int
apply_parsed(const struct scan *sc, journal_record_cb cb, const char *name, const struct slot *s)
{
    json_t *rec = parse(sc->buf + s->off + HDR, s->n - HDR);
    int rc;

    if (!rec)
        return 1;
    rc = cb ? cb(sc->o->arg, rec, name, s->off) : 0;
    json_decref(rec);
    return rc;
}

int
journal_scan(const unsigned char *buf, size_t len, const char *name, bool last,
             const struct journal_opts *o, journal_record_cb cb, size_t *ret_good,
             struct otsync_err *err)
{
    struct scan *sc;
    struct window *cur, *nxt, *t;
    size_t off = JOURNAL_MAGIC_LEN, i;
    bool have_cur = false, have_nxt = false;
    int rc = 0;

    *ret_good = 0;
    if (len < JOURNAL_MAGIC_LEN || memcmp(buf, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != 0) {
        if (last && len < JOURNAL_MAGIC_LEN
            && memcmp(buf, JOURNAL_MAGIC, len) == 0)
            return 0;   /* a segment whose creation was cut short: empty */
        if (!o->salvage)
            return otsync_err_set(err, OTSYNC_ECORRUPT,
                                  "journal %s: not a journal segment (bad magic); start with "
                                  "--salvage to skip it", name);
        warnf(o->warn, o->arg, "journal %s: bad magic: segment skipped (salvage)", name);
        return 0;
    }
    *ret_good = off;
    if (!(sc = scan_new(buf, len, o)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    cur = &sc->w[0];
    nxt = &sc->w[1];
    while (off < len) {
        bool bad;
        if (!have_cur)
            start_window(sc, cur, off);
        /* the next window is offered before this one is done, so that the other thread goes
         * on to it from its last group here, while this one is finished and applied (waiting
         * to be handed it cost that thread a tenth of a replay) */
        if (!have_nxt && sc->threaded && cur->count == WINDOW) {
            start_window(sc, nxt, cur->s[WINDOW - 1].off + cur->s[WINDOW - 1].n);
            have_nxt = true;
        }
        finish_window(sc, cur);
        for (i = 0; i < cur->count; i++) {
            struct slot *s = &cur->s[i];
            if (s->skip)
                rc = 0;
            else if (s->prc == 0)
                rc = o->apply(o->arg, prep_of(sc, cur, i), name, off);
            else if (s->prc == JOURNAL_PARSE)
                rc = apply_parsed(sc, cb, name, s);
            else
                rc = 1;     /* the preparer found no JSON object there */
            if (rc != 0)
                break;
            off += s->n;
            *ret_good = off;
        }
        bad = rc > 0;
        /* apply took what it was given, even when it failed */
        drop_window(sc, cur, i + (rc < 0 && !cur->s[i].skip && cur->s[i].prc == 0));
        if (i == WINDOW) {
            t = cur;
            cur = nxt;
            nxt = t;
            have_cur = have_nxt;
            have_nxt = false;
            continue;
        }
        /* the window ended early: the segment's end, a record the callback refused, a bad
         * frame or a payload that is not a JSON object */
        if (have_nxt) {
            finish_window(sc, nxt);
            drop_window(sc, nxt, 0);
        }
        have_cur = have_nxt = false;
        if (rc < 0 || (!bad && off >= len))
            break;
        if ((rc = bad_record(sc, name, last, &off, err)) <= 0)
            break;
        rc = 0;
        *ret_good = off;
    }
    scan_free(sc);
    return rc;
}

static int
seg_filter(const struct dirent *e)
{
    size_t n = strlen(e->d_name);

    return n == 20 && strcmp(e->d_name + 16, ".jnl") == 0
           && strspn(e->d_name, "0123456789abcdef") == 16;
}

static int
create_segment(struct journal *j, uint64_t seq, struct otsync_err *err)
{
    char name[32];
    int fd;

    snprintf(name, sizeof(name), "%016" PRIx64 ".jnl", seq);
    fd = openat(j->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return otsync_err_errno(err, errno, "journal %s/%s: create", j->dir, name);
    if (write(fd, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != JOURNAL_MAGIC_LEN || fdatasync(fd) < 0
        || fsync(j->dir_fd) < 0) {
        int e = errno;
        close(fd);
        return otsync_err_errno(err, e, "journal %s/%s: write", j->dir, name);
    }
    if (j->fd >= 0) {
        close(j->fd);
        j->older_size += j->active_size;
    }
    j->fd = fd;
    j->seq = seq;
    j->active_size = JOURNAL_MAGIC_LEN;
    j->segments++;
    return 0;
}

/* Replays one segment file; cuts a torn tail of the last one. */
static int
replay_file(struct journal *j, const char *name, bool last, const struct journal_opts *o,
            journal_record_cb cb, struct otsync_err *err)
{
    char path[4096];
    struct stat st;
    unsigned char *map = NULL;
    size_t good = 0;
    int fd, rc;

    snprintf(path, sizeof(path), "%s/%s", j->dir, name);
    fd = openat(j->dir_fd, name, (j->read_only || !last ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return otsync_err_errno(err, errno, "journal %s: open", path);
    if (fstat(fd, &st) < 0) {
        rc = otsync_err_errno(err, errno, "journal %s: stat", path);
        goto fail;
    }
    if (st.st_size > 0) {
        /* populated at once: faulting it in page by page costs more than reading it */
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (map == MAP_FAILED) {
            map = NULL;
            rc = otsync_err_errno(err, errno, "journal %s: mmap", path);
            goto fail;
        }
        madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    }
    rc = journal_scan(map ? map : (const unsigned char *)"", (size_t)st.st_size, path, last, o,
                      cb, &good, err);
    if (map)
        munmap(map, (size_t)st.st_size);
    if (rc < 0)
        goto fail;
    if (last && !j->read_only) {
        if ((off_t)good < st.st_size) {
            if (good < JOURNAL_MAGIC_LEN) {
                /* nothing usable (a cut creation): start the segment again */
                if (ftruncate(fd, 0) < 0 || pwrite(fd, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN, 0)
                                                != JOURNAL_MAGIC_LEN) {
                    rc = otsync_err_errno(err, errno, "journal %s: rewrite magic", path);
                    goto fail;
                }
                good = JOURNAL_MAGIC_LEN;
            } else if (ftruncate(fd, (off_t)good) < 0) {
                rc = otsync_err_errno(err, errno, "journal %s: cut the torn tail", path);
                goto fail;
            }
            if (fdatasync(fd) < 0) {
                rc = otsync_err_errno(err, errno, "journal %s: fdatasync", path);
                goto fail;
            }
        }
        close(fd);
        fd = openat(j->dir_fd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0)
            return otsync_err_errno(err, errno, "journal %s: open for append", path);
        j->fd = fd;
        j->active_size = good;
        return 0;
    }
    j->older_size += (uint64_t)st.st_size;
    close(fd);
    return 0;
fail:
    close(fd);
    return rc;
}

int
journal_open(const char *dir, const struct journal_opts *o, journal_record_cb cb,
             struct journal **ret_j, struct otsync_err *err)
{
    struct journal *j;
    struct dirent **list = NULL;
    int n = 0, i, rc;

    *ret_j = NULL;
    if (!(j = calloc(1, sizeof(*j))) || !(j->dir = strdup(dir))) {
        free(j);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    j->fd = -1;
    j->dir_fd = -1;
    j->read_only = o->read_only;
    j->segment_max = o->segment_max ? o->segment_max : SEGMENT_MAX_DEFAULT;
    if (!o->read_only && mkdir(dir, 0750) < 0 && errno != EEXIST) {
        rc = otsync_err_errno(err, errno, "journal %s: mkdir", dir);
        goto fail;
    }
    j->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dir_fd < 0) {
        rc = otsync_err_errno(err, errno, "journal %s: open", dir);
        goto fail;
    }
    n = scandir(dir, &list, seg_filter, alphasort);
    if (n < 0) {
        rc = otsync_err_errno(err, errno, "journal %s: list", dir);
        n = 0;
        goto fail;
    }
    for (i = 0; i < n; i++) {
        if ((rc = replay_file(j, list[i]->d_name, i == n - 1, o, cb, err)) < 0)
            goto fail;
        j->segments++;
        j->seq = strtoull(list[i]->d_name, NULL, 16);
    }
    if (!o->read_only && j->fd < 0 && (rc = create_segment(j, j->seq + 1, err)) < 0)
        goto fail;
    for (i = 0; i < n; i++)
        free(list[i]);
    free(list);
    *ret_j = j;
    return 0;
fail:
    for (i = 0; i < n; i++)
        free(list[i]);
    free(list);
    journal_close(j);
    return rc;
}

int
journal_append(struct journal *j, const json_t *rec, bool durable, struct otsync_err *err)
{
    size_t need, plen;

    if (j->read_only)
        return otsync_err_set(err, OTSYNC_EINVAL, "journal opened read-only");
    plen = json_dumpb(rec, NULL, 0, JSON_COMPACT);
    if (plen == 0 || plen > JOURNAL_RECORD_MAX)
        return otsync_err_set(err, OTSYNC_EINVAL, "journal record of %zu bytes", plen);
    need = j->len + HDR + plen;
    if (need > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        unsigned char *nb;
        while (cap < need)
            cap *= 2;
        if (!(nb = realloc(j->buf, cap)))
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        j->buf = nb;
        j->cap = cap;
    }
    json_dumpb(rec, (char *)j->buf + j->len + HDR, plen, JSON_COMPACT);
    put_le32(j->buf + j->len, (uint32_t)plen);
    put_le32(j->buf + j->len + 4,
             crc32c(crc32c(0, j->buf + j->len, 4), j->buf + j->len + HDR, plen));
    j->len = need;
    j->durable |= durable;
    return 0;
}

bool
journal_pending(const struct journal *j)
{
    return j && j->len > 0;
}

int
journal_flush(struct journal *j, struct otsync_err *err)
{
    size_t off = 0;

    if (!j || j->read_only || j->len == 0)
        return 0;
    while (off < j->len) {
        ssize_t w = write(j->fd, j->buf + off, j->len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            /* keep what did not leave: the next flush retries it */
            memmove(j->buf, j->buf + off, j->len - off);
            j->len -= off;
            j->active_size += off;
            return otsync_err_errno(err, errno, "journal %s: write", j->dir);
        }
        off += (size_t)w;
    }
    j->active_size += j->len;
    j->len = 0;
    if (j->durable) {
        if (fdatasync(j->fd) < 0)
            return otsync_err_errno(err, errno, "journal %s: fdatasync", j->dir);
        j->durable = false;
    }
    if (j->active_size >= j->segment_max)
        return create_segment(j, j->seq + 1, err);
    return 0;
}

int
journal_compact(struct journal *j, journal_snapshot_cb fn, void *arg, struct otsync_err *err)
{
    uint64_t keep;
    struct dirent **list = NULL;
    int n, i, rc;

    if ((rc = journal_flush(j, err)) < 0)
        return rc;
    if ((rc = create_segment(j, j->seq + 1, err)) < 0)
        return rc;
    keep = j->seq;
    if ((rc = fn(arg, j)) < 0)
        return otsync_err_set(err, -rc, "journal compaction: the snapshot failed");
    j->durable = true;
    if ((rc = journal_flush(j, err)) < 0)
        return rc;
    /* the snapshot is durable: the older segments say nothing it does not */
    n = scandir(j->dir, &list, seg_filter, alphasort);
    for (i = 0; i < n; i++) {
        if (strtoull(list[i]->d_name, NULL, 16) < keep) {
            struct stat st;
            if (fstatat(j->dir_fd, list[i]->d_name, &st, 0) == 0
                && unlinkat(j->dir_fd, list[i]->d_name, 0) == 0) {
                j->older_size -= j->older_size >= (uint64_t)st.st_size ? (uint64_t)st.st_size
                                                                        : j->older_size;
                j->segments--;
            }
        }
        free(list[i]);
    }
    free(list);
    fsync(j->dir_fd);
    return 0;
}

uint64_t
journal_size(const struct journal *j)
{
    return j->older_size + j->active_size + j->len;
}

size_t
journal_segments(const struct journal *j)
{
    return j->segments;
}

void
journal_close(struct journal *j)
{
    if (!j)
        return;
    if (journal_flush(j, NULL) < 0) {
        /* closing anyway: the caller has stopped and was told by earlier flushes */
    }
    if (j->fd >= 0)
        close(j->fd);
    if (j->dir_fd >= 0)
        close(j->dir_fd);
    free(j->buf);
    free(j->dir);
    free(j);
}
