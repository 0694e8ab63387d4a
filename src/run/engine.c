/*
 * engine.c - reader -> channels -> writer on the one loop: see engine.h.
 *
 * Every callback ends in step(), which looks at the whole job and starts what may start: a
 * write per channel whose queue has a batch (when the throttle lets it go), a slice per
 * channel that has none, the writer's finish once every slice and batch is done, and the
 * stop once the job ended. Plugins never call back from inside our calls (plugin.h), so step()
 * never runs inside itself.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/log.h"
#include "engine.h"

#define MIB (1024.0 * 1024.0)

struct engine_channel {
    struct engine *e;
    unsigned index;
    void *task;                 /* the running slice's handle; NULL when none runs */
    unsigned slice;
    bool paused;
    struct otsync_batch *head, *tail;   /* the queue */
    size_t queued;
    struct otsync_batch *writing;       /* in the writer, until its done() */
};

static void step(struct engine *e);

static unsigned
channel_count(const struct engine *e)
{
    return e->plan->channels ? e->plan->channels : 1;
}

static void
queue_free(struct engine_channel *c)
{
    struct otsync_batch *b, *next;

    for (b = c->head; b; b = next) {
        next = b->next;
        otsync_batch_free(b);
    }
    c->head = c->tail = NULL;
    c->queued = 0;
}

static void
fail(struct engine *e, int rc, const struct otsync_err *err)
{
    unsigned i;

    if (e->rc < 0)
        return;     /* the first failure is the one to report; cancels follow from it */
    e->rc = rc < 0 ? rc : -OTSYNC_EINVAL;
    if (err && err->msg[0])
        e->err = *err;
    else
        otsync_err_set(&e->err, -e->rc, "%s", otsync_strerror(e->rc));
    for (i = 0; i < channel_count(e); i++) {
        queue_free(&e->ch[i]);  /* nothing more reaches the writer: give the memory back */
        if (e->ch[i].task)
            e->reader.ops->cancel(&e->reader, e->ch[i].task);
    }
    for (i = 0; i < channel_count(e); i++)
        if (e->ch[i].writing) {
            e->writer.ops->cancel(&e->writer);
            return;
        }
    if (e->finishing)
        e->writer.ops->cancel(&e->writer);
}

static void
stop(struct engine *e)
{
    unsigned i;

    if (e->stopped)
        return;
    e->stopped = true;
    for (i = 0; i < channel_count(e); i++)
        queue_free(&e->ch[i]);
    if (e->opened) {
        e->reader.ops->close(&e->reader);
        e->writer.ops->close(&e->writer);
    }
    uv_close((uv_handle_t *)&e->throttle_timer, NULL);
    uv_close((uv_handle_t *)&e->progress, NULL);
}

static void
on_emit(void *arg, struct otsync_batch *b)
{
    struct engine_channel *c = arg;
    struct engine *e = c->e;

    e->stats.records_read += b->count;
    e->stats.bytes_read += b->bytes;
    if (e->rc < 0) {
        otsync_batch_free(b);   /* the job has failed: nothing more reaches the writer */
        return;
    }
    b->next = NULL;
    if (c->tail)
        c->tail->next = b;
    else
        c->head = b;
    c->tail = b;
    if (++c->queued >= ENGINE_QUEUE_BATCHES && !c->paused && c->task) {
        c->paused = true;
        e->reader.ops->pause(&e->reader, c->task);
    }
    step(e);
}

static void
on_slice_end(void *arg, int rc, const struct otsync_err *err)
{
    struct engine_channel *c = arg;
    struct engine *e = c->e;

    c->task = NULL;
    c->paused = false;
    if (rc < 0)
        fail(e, rc, err);
    else
        log_debug("channel %u: slice %u of %u read", c->index, c->slice + 1, e->slices);
    step(e);
}

static void
on_dirty(void *arg, const struct otsync_record *rec, const char *reason, bool reader)
{
    struct engine *e = arg;

    if (reader) {
        e->stats.records_read++;
        e->stats.records_dirty++;
    }
    (void)dirty_file_add(e->dirty, reader ? "reader" : "writer",
                         reader ? e->reader.ops->name : e->writer.ops->name, rec, reason, NULL);
}

static void
on_reader_dirty(void *arg, const struct otsync_record *rec, const char *reason)
{
    struct engine *e = arg;
    struct otsync_err err;

    on_dirty(arg, rec, reason, true);
    otsync_err_clear(&err);
    if (error_limit_check(&e->limit, e->stats.records_read, e->stats.records_dirty, false,
                          &err) < 0)
        fail(e, -err.code, &err);
    /* the reader goes on until the cancel reaches it; step() runs on its next callback */
}

static void
on_writer_dirty(void *arg, const struct otsync_record *rec, const char *reason)
{
    on_dirty(arg, rec, reason, false);
}

static void
on_written(void *arg, int rc, size_t dirty_count, const struct otsync_err *err)
{
    struct engine_channel *c = arg;
    struct engine *e = c->e;
    struct otsync_batch *b = c->writing;
    struct otsync_err lerr;

    c->writing = NULL;
    if (dirty_count > b->count)
        dirty_count = b->count;
    if (rc == 0) {
        e->stats.records_written += b->count - dirty_count;
        e->stats.records_dirty += dirty_count;
    }
    otsync_batch_free(b);
    otsync_err_clear(&lerr);
    if (rc < 0)
        fail(e, rc, err);
    else if (error_limit_check(&e->limit, e->stats.records_read, e->stats.records_dirty, false,
                               &lerr) < 0)
        fail(e, -lerr.code, &lerr);
    if (c->paused && c->task && c->queued < ENGINE_RESUME_BATCHES && e->rc == 0) {
        c->paused = false;
        e->reader.ops->resume(&e->reader, c->task);
    }
    step(e);
}

static void
on_finished(void *arg, int rc, size_t dirty_count, const struct otsync_err *err)
{
    struct engine *e = arg;

    e->finishing = false;
    if (rc < 0)
        fail(e, rc, err);
    else
        e->finished = true;
    step(e);
}

static void
on_throttle(uv_timer_t *t)
{
    step(t->data);
}

static void
log_progress(const struct engine *e, const char *what)
{
    double secs = (double)(uv_hrtime() - e->start_ns) / 1e9;

    if (secs < 0.001)
        secs = 0.001;
    log_info("%s: %" PRIu64 " records read, %" PRIu64 " written, %" PRIu64 " dirty, %.1f MB "
             "in %.1f s (%.0f rows/s, %.2f MB/s)", what, e->stats.records_read,
             e->stats.records_written, e->stats.records_dirty, (double)e->stats.bytes_read / MIB,
             secs, (double)e->stats.records_read / secs,
             (double)e->stats.bytes_read / MIB / secs);
}

static void
on_progress(uv_timer_t *t)
{
    struct engine *e = t->data;
    struct otsync_err err;

    log_progress(e, "progress");
    otsync_err_clear(&err);
    /* DataX judges the percentage at its reports too: by now the share means something */
    if (error_limit_check(&e->limit, e->stats.records_read, e->stats.records_dirty, true,
                          &err) < 0) {
        fail(e, -err.code, &err);
        step(e);
    }
}

/* Hands the channel's next batch to the writer. Returns false when the throttle said wait. */
static bool
write_next(struct engine *e, struct engine_channel *c)
{
    struct otsync_batch *b = c->head;
    struct otsync_err err;
    uint64_t now, wait_ns;
    int rc;

    if (throttle_active(&e->throttle)) {
        now = uv_hrtime();
        if ((wait_ns = throttle_wait_ns(&e->throttle, now)) > 0) {
            if (!uv_is_active((uv_handle_t *)&e->throttle_timer))
                uv_timer_start(&e->throttle_timer, on_throttle, (wait_ns + 999999) / 1000000, 0);
            return false;
        }
        throttle_take(&e->throttle, now, b->bytes, b->count);
    }
    if (!(c->head = b->next))
        c->tail = NULL;
    c->queued--;
    c->writing = b;
    otsync_err_clear(&err);
    if ((rc = e->writer.ops->write(&e->writer, c->index, b, on_written, c, &err)) < 0) {
        c->writing = NULL;
        otsync_batch_free(b);
        fail(e, rc, &err);
    }
    if (c->paused && c->task && c->queued < ENGINE_RESUME_BATCHES && e->rc == 0) {
        c->paused = false;
        e->reader.ops->resume(&e->reader, c->task);
    }
    return true;
}

static void
start_slice(struct engine *e, struct engine_channel *c)
{
    struct otsync_err err;
    void *task = NULL;
    int rc;

    otsync_err_clear(&err);
    c->slice = e->next_slice++;
    rc = e->reader.ops->start(&e->reader, c->slice, on_emit, on_slice_end, c, &task, &err);
    if (rc < 0) {
        fail(e, rc, &err);
        return;
    }
    c->task = task;
    c->paused = false;
}

/* Whether anything of the job is still in a plugin's hands. */
static bool
busy(const struct engine *e)
{
    unsigned i;

    if (e->finishing)
        return true;
    for (i = 0; i < channel_count(e); i++)
        if (e->ch[i].task || e->ch[i].writing)
            return true;
    return false;
}

static void
step(struct engine *e)
{
    struct engine_channel *c;
    struct otsync_err err;
    bool idle = true;
    unsigned i;
    int rc;

    if (e->stopped)
        return;
    for (i = 0; e->rc == 0 && i < channel_count(e); i++) {
        c = &e->ch[i];
        if (!c->writing && c->head && !write_next(e, c))
            break;  /* the throttle holds every channel alike */
    }
    for (i = 0; e->rc == 0 && i < channel_count(e); i++) {
        c = &e->ch[i];
        if (!c->task && c->queued < ENGINE_QUEUE_BATCHES && e->next_slice < e->slices)
            start_slice(e, c);
    }
    if (e->rc < 0) {
        if (!busy(e))
            stop(e);
        return;
    }
    for (i = 0; i < channel_count(e); i++)
        if (e->ch[i].task || e->ch[i].writing || e->ch[i].head)
            idle = false;
    if (!idle || e->next_slice < e->slices || e->finishing)
        return;
    if (e->finished) {
        stop(e);
        return;
    }
    otsync_err_clear(&err);
    if (error_limit_check(&e->limit, e->stats.records_read, e->stats.records_dirty, true,
                          &err) < 0) {
        fail(e, -err.code, &err);
        stop(e);
        return;
    }
    if ((rc = e->writer.ops->finish(&e->writer, on_finished, e, &err)) < 0) {
        fail(e, rc, &err);
        stop(e);
        return;
    }
    e->finishing = true;
}

/* The reader knows its slices: the job starts. */
static void
on_split(void *arg, int rc, unsigned count, const struct otsync_err *err)
{
    struct engine *e = arg;

    if (rc < 0) {
        fail(e, rc, err);       /* engine_run logs it when the loop is done */
        stop(e);
        return;
    }
    e->slices = count;
    log_info("job started: reader %s, writer %s, %u channel%s, %u slice%s", e->reader.ops->name,
             e->writer.ops->name, channel_count(e), channel_count(e) == 1 ? "" : "s", e->slices,
             e->slices == 1 ? "" : "s");
    log_debug("job form %s", e->plan->form);
    uv_timer_start(&e->progress, on_progress, ENGINE_PROGRESS_MS, ENGINE_PROGRESS_MS);
    step(e);
}

int
engine_run(struct engine *e, const struct job_plan *plan, uv_loop_t *loop,
           const struct dclock *clock, const struct datasources *datasources,
           struct dirty_file *dirty)
{
    unsigned i, n = plan->channels ? plan->channels : 1;
    int rc;

    memset(e, 0, sizeof(*e));
    e->loop = loop;
    e->plan = plan;
    e->dirty = dirty;
    e->limit.record = plan->error_record;
    e->limit.percentage = plan->error_percentage;
    otsync_err_clear(&e->err);
    if (!(e->ch = calloc(n, sizeof(*e->ch)))) {
        e->rc = otsync_err_set(&e->err, OTSYNC_ENOMEM, "out of memory");
        return e->rc;
    }
    for (i = 0; i < n; i++) {
        e->ch[i].e = e;
        e->ch[i].index = i;
    }
    e->reader = (struct otsync_reader){
        .ops = plan->reader_ops, .loop = loop, .clock = clock, .path = plan->reader.path,
        .channels = n,
        .datasources = datasources, .dirty = on_reader_dirty, .dirty_arg = e,
    };
    e->writer = (struct otsync_writer){
        .ops = plan->writer_ops, .loop = loop, .clock = clock, .path = plan->writer.path,
        .channels = n,
        .datasources = datasources, .dirty = on_writer_dirty, .dirty_arg = e,
    };
    e->start_ns = uv_hrtime();
    if ((rc = e->reader.ops->open(&e->reader, plan->reader.conf, &e->err)) < 0)
        goto out;
    if ((rc = e->writer.ops->open(&e->writer, plan->writer.conf, &e->err)) < 0) {
        e->reader.ops->close(&e->reader);
        uv_run(loop, UV_RUN_DEFAULT);
        goto out;
    }
    e->opened = true;
    uv_timer_init(loop, &e->throttle_timer);
    uv_timer_init(loop, &e->progress);
    e->throttle_timer.data = e->progress.data = e;
    throttle_init(&e->throttle, plan->mbps * MIB, plan->records_per_s, uv_hrtime());
    if ((rc = e->reader.ops->split(&e->reader, n, on_split, e, &e->err)) < 0) {
        e->rc = rc;
        log_error("job failed: %s", e->err.msg);
        stop(e);
        uv_run(loop, UV_RUN_DEFAULT);
        goto out;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    rc = e->rc;
    if (rc == 0)
        log_progress(e, "job finished");
    else
        log_error("job failed: %s; %" PRIu64 " records read, %" PRIu64 " written, %" PRIu64
                  " dirty", e->err.msg, e->stats.records_read, e->stats.records_written,
                  e->stats.records_dirty);
out:
    e->stats.elapsed_ns = uv_hrtime() - e->start_ns;
    e->rc = rc;
    free(e->ch);
    e->ch = NULL;
    return rc;
}
