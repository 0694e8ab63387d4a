/*
 * plugin.h - the reader/writer plugin ABI of otsync-run and the table that names plugins.
 *
 * Owns: the ops tables a plugin exports, the option table that describes its parameters,
 * the callbacks between a plugin and the engine, and the registry's lookup (registry.c).
 * Leaves to others: parsing and checking parameters against the option table (job.c), the
 * queue and its backpressure (the engine, main.c), the plugins themselves (src/plugins/).
 *
 * Life of a job: the job's parameters are checked against the option table and stored in a
 * conf struct (conf_size bytes) BEFORE anything runs; then open() builds the plugin's state
 * from that conf without I/O, so a configuration error (-OTSYNC_ECONFIG) also surfaces before
 * any data moves; then the engine asks the reader to split, runs its slices, and the writer
 * consumes the batches; finish() makes the output durable; close() releases everything.
 *
 * Rules both sides keep (ARCHITECTURE.md, "Plugin interface"):
 * - Everything runs on the one libuv loop; no call blocks on the network.
 * - A plugin never calls emit, end or done from inside the engine's call that caused it
 *   (start, resume, write, finish); it calls them from a later loop callback. So the engine
 *   needs no re-entrancy guards.
 * - end() and done() fire exactly once per start()/write()/finish() that returned 0, also
 *   after cancel().
 * - Slices run side by side: the engine keeps up to `channels` slices started at once, each
 *   with its own task handle, and one write in flight per channel. A plugin keeps per-slice
 *   and per-channel state apart; everything still happens on the one loop thread.
 */
#ifndef OTSYNC_PLUGIN_H
#define OTSYNC_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "otsync/err.h"
#include "record.h"

#define OTSYNC_PLUGIN_ABI 2

/*
 * Parameter types, and the C type stored at the option's offset in the conf struct:
 * BOOL      bool          true/false, or the strings "true"/"false"
 * INT       int64_t       a JSON integer, or a string of one ("1")
 * DOUBLE    double        a JSON number, or a string of one ("0.5")
 * STRING    const char *  a JSON string; borrowed from the job, alive until the run ends
 * ARRAY     const json_t *   a JSON array, borrowed likewise; the plugin checks its items
 * OBJECT    const json_t *   a JSON object, borrowed likewise; the plugin checks its keys
 */
enum otsync_opt_type {
    OTSYNC_OPT_BOOL,
    OTSYNC_OPT_INT,
    OTSYNC_OPT_DOUBLE,
    OTSYNC_OPT_STRING,
    OTSYNC_OPT_ARRAY,
    OTSYNC_OPT_OBJECT,
};

struct otsync_option {
    const char *key;            /* the parameter's name in the job JSON */
    enum otsync_opt_type type;
    size_t offset;              /* where the value goes in the conf struct */
    const char *def;            /* default: the string itself for STRING, JSON text for the
                                 * rest ("1", "true", "[]"); NULL: the parameter is required */
    const char *doc;            /* one line for the man page */
};

/*
 * A record the plugin could not read or write: the engine writes it with reason to the job's
 * dirty file and counts it against setting.errorLimit. rec and reason are borrowed for the
 * call. A reader's dirty record is counted as read and dirty; a writer reports the count of
 * its batch's dirty records in done() as well, after calling this once for each.
 */
typedef void (*otsync_dirty_cb)(void *arg, const struct otsync_record *rec, const char *reason);

/* The named connections of the datasources file (datasource.h), for plugins that need one. */
struct datasources;

struct dclock;

struct otsync_reader {
    const struct otsync_reader_ops *ops;
    uv_loop_t *loop;            /* borrowed */
    const struct dclock *clock; /* "now" (clock.h): otsyncd's simulated time when it runs
                                 * one, else the system's; plugins ask it, never time() */
    const char *path;           /* JSON path of the parameter object, for messages */
    unsigned channels;          /* setting.speed.concurrent */
    const struct datasources *datasources;  /* borrowed; NULL when no file was given */
    otsync_dirty_cb dirty;
    void *dirty_arg;
    void *data;                 /* the plugin's state, set by open */
};

struct otsync_writer {
    const struct otsync_writer_ops *ops;
    uv_loop_t *loop;
    const struct dclock *clock;
    const char *path;
    unsigned channels;          /* writes may be in flight on channels 0 .. channels-1 */
    const struct datasources *datasources;
    otsync_dirty_cb dirty;
    void *dirty_arg;
    void *data;
};

/* A reader hands over one batch; the engine takes it. The reader may be paused meanwhile. */
typedef void (*otsync_read_emit_cb)(void *arg, struct otsync_batch *b);
/* The reader knows its slices: rc 0 with their count (0: nothing to read), else err filled. */
typedef void (*otsync_split_cb)(void *arg, int rc, unsigned count, const struct otsync_err *err);
/* A slice is over: rc 0 when all its records were emitted, else negative with err filled. */
typedef void (*otsync_read_end_cb)(void *arg, int rc, const struct otsync_err *err);
/*
 * A write or finish is over. rc 0: the batch is durable at the destination except for
 * dirty_count records it rejected (counted against setting.errorLimit); negative: failed,
 * err filled, -OTSYNC_ERETRY when worth another attempt.
 */
typedef void (*otsync_write_done_cb)(void *arg, int rc, size_t dirty_count,
                                     const struct otsync_err *err);

struct otsync_reader_ops {
    const char *name;                       /* canonical name, as registry.c maps it */
    unsigned abi;                           /* OTSYNC_PLUGIN_ABI */
    size_t conf_size;
    const struct otsync_option *options;    /* ends with a {NULL} entry */
    /* Builds r->data from conf (borrowed for the run); no I/O. On failure nothing is left
     * to close. */
    int  (*open)(struct otsync_reader *r, const void *conf, struct otsync_err *err);
    /*
     * Works out the slices to read, given the job's channel count as advice (>= 1), and
     * reports their count through done, later, from the loop: a reader may have to ask its
     * service (a table's split points, a bucket's listing). Returns 0, or a negative code
     * with err when it cannot start (done is then not called).
     */
    int  (*split)(struct otsync_reader *r, unsigned advice, otsync_split_cb done, void *arg,
                  struct otsync_err *err);
    /*
     * Starts slice (0 .. count-1): emit() per batch, then end() once. *ret_task names the
     * running slice for pause, resume and cancel; the plugin frees it after end().
     */
    int  (*start)(struct otsync_reader *r, unsigned slice, otsync_read_emit_cb emit,
                  otsync_read_end_cb end, void *arg, void **ret_task, struct otsync_err *err);
    /* Backpressure: stop asking for more; a batch already on its way may still be emitted. */
    void (*pause)(struct otsync_reader *r, void *task);
    void (*resume)(struct otsync_reader *r, void *task);
    /* That slice ends early; its end() still fires, once. */
    void (*cancel)(struct otsync_reader *r, void *task);
    /* Releases r->data; uv handles close on the loop, which must run again to free them. */
    void (*close)(struct otsync_reader *r);
};

struct otsync_writer_ops {
    const char *name;
    unsigned abi;
    size_t conf_size;
    const struct otsync_option *options;
    int  (*open)(struct otsync_writer *w, const void *conf, struct otsync_err *err);
    /*
     * Writes b (borrowed until done fires; the engine frees it after) for channel (0 ..
     * w->channels-1): one write at a time per channel, several channels at once.
     */
    int  (*write)(struct otsync_writer *w, unsigned channel, struct otsync_batch *b,
                  otsync_write_done_cb done, void *arg, struct otsync_err *err);
    /* Every batch was written: commit or flush so the output is complete; then done(). */
    int  (*finish)(struct otsync_writer *w, otsync_write_done_cb done, void *arg,
                   struct otsync_err *err);
    /* In-flight work (every channel's, and finish) ends; each done() still fires, once. */
    void (*cancel)(struct otsync_writer *w);
    void (*close)(struct otsync_writer *w);
};

/* The plugins built in (src/plugins/). */
extern const struct otsync_reader_ops otsync_reader_stream;
extern const struct otsync_writer_ops otsync_writer_stream;
extern const struct otsync_reader_ops otsync_reader_ots;
extern const struct otsync_reader_ops otsync_reader_otsstream;
extern const struct otsync_writer_ops otsync_writer_ots;
extern const struct otsync_writer_ops otsync_writer_odps;
extern const struct otsync_reader_ops otsync_reader_oss;
extern const struct otsync_writer_ops otsync_writer_oss;

/*
 * registry.c: finds a plugin by any of its names ("stream", "streamreader", "Stream"...).
 * Returns 0 with the ops, or -OTSYNC_ECONFIG with err saying whether the name is unknown or
 * names a plugin this build does not have.
 */
int registry_find_reader(const char *name, const struct otsync_reader_ops **ret_ops,
                         struct otsync_err *err) OTSYNC_WUR;
int registry_find_writer(const char *name, const struct otsync_writer_ops **ret_ops,
                         struct otsync_err *err) OTSYNC_WUR;

#endif
