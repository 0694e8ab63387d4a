/*
 * engine.h - runs a checked job plan: the reader's slices on `channels` channels at once, each
 * a bounded queue of record batches into the writer, under one job-wide throttle, counting and
 * keeping dirty records against setting.errorLimit.
 *
 * Owns: the channels and their backpressure (a channel holding QUEUE_BATCHES batches pauses
 * its slice until the writer drained it below RESUME_BATCHES, so memory stays bounded by
 * channels x QUEUE_BATCHES batches whatever the row count), the throttle, statistics, the
 * progress line every 10 s, and the outcome. Leaves to others: the plan (job.c), plugins,
 * the summary line and the exit status (main.c). Private to src/run.
 */
#ifndef OTSYNC_ENGINE_H
#define OTSYNC_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "otsync/err.h"
#include "dirty.h"
#include "job.h"
#include "plugin.h"
#include "throttle.h"

/* A channel pauses its slice at QUEUE batches and resumes it below RESUME. One batch waiting
 * while one is written keeps both sides busy: deeper queues bought no speed in an export to
 * OSS (the writer's 10 MB block is what absorbs a slow upload) and cost a MB per batch and
 * channel, which the 64 MB budget of a 4-channel export could not spare. */
#define ENGINE_QUEUE_BATCHES 1
#define ENGINE_RESUME_BATCHES 1
#define ENGINE_PROGRESS_MS 10000

struct engine_channel;

struct engine_stats {
    uint64_t records_read, records_written, records_dirty;
    uint64_t bytes_read;
    uint64_t elapsed_ns;
};

struct engine {
    uv_loop_t *loop;
    const struct job_plan *plan;
    struct otsync_reader reader;
    struct otsync_writer writer;
    struct engine_channel *ch;
    unsigned slices, next_slice;
    bool opened;                /* both plugins opened: close them at the end */
    bool finishing, finished;   /* the writer's finish() is running / has succeeded */
    bool stopped;
    struct throttle throttle;
    uv_timer_t throttle_timer;  /* holds writes back until the throttle lets them go */
    uv_timer_t progress;
    uint64_t start_ns;
    struct engine_stats stats;
    struct error_limit limit;
    struct dirty_file *dirty;   /* borrowed */
    int rc;                     /* the first failure, 0 while none */
    struct otsync_err err;
};

/*
 * Opens both plugins and runs the job on loop until it ended; dirty records go to dirty,
 * clock and datasources (may be NULL) are handed to the plugins. Returns 0, or the first failure's
 * negative code with e->err saying why (-OTSYNC_ECONFIG: a plugin refused its configuration
 * before anything ran). The loop has no handle of ours left when this returns.
 */
int engine_run(struct engine *e, const struct job_plan *plan, uv_loop_t *loop,
               const struct dclock *clock, const struct datasources *datasources,
               struct dirty_file *dirty);

#endif
