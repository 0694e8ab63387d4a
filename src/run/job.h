/*
 * job.h - from job JSON to a checked plan: which plugins, with which parameters and settings.
 *
 * Owns: reading the job (file or stdin), the three job forms (DataWorks script mode v1 and
 * v2, DataX's native form), rendering time variables into every string value, and checking
 * every parameter against its plugin's option table before anything runs. Leaves to others:
 * running the plan (main.c), the plugins' own checks of list items (their open()).
 *
 * Errors name the JSON path of what is wrong ("configuration.reader.parameter.column[2].type:
 * ..."); malformed JSON gives the source's line:col. Private to src/run.
 */
#ifndef OTSYNC_JOB_H
#define OTSYNC_JOB_H

#include <stdint.h>
#include <jansson.h>
#include "otsync/diag.h"
#include "otsync/err.h"
#include "otsync/vars.h"
#include "plugin.h"

struct job_side {
    const char *plugin;     /* the name the job gives (borrowed from the job) */
    char *path;             /* JSON path of its parameter object, e.g. "steps[0].parameter" */
    void *conf;             /* the ops' conf struct, filled from the option table */
};

struct job_plan {
    json_t *root;           /* the job; confs borrow strings and arrays from it */
    json_t *defaults;       /* parsed ARRAY/OBJECT defaults the confs point to */
    const char *form;       /* "DataWorks v1", "DataWorks v2" or "DataX", for the log */
    const struct otsync_reader_ops *reader_ops;
    const struct otsync_writer_ops *writer_ops;
    struct job_side reader, writer;
    unsigned channels;      /* setting.speed.concurrent (or .channel); default 1 */
    double mbps;            /* setting.speed.mbps (or .byte) in MiB/s; 0: no limit (or
                             * throttle false) */
    double records_per_s;   /* setting.speed.record; 0: no limit */
    int64_t error_record;   /* setting.errorLimit.record; default 0; < 0: not checked (only
                             * a percentage was given) */
    double error_percentage;    /* setting.errorLimit.percentage (0..1); < 0: not set, or
                                 * the record limit was given too (it wins) */
};

/*
 * Reads and parses the job at path ("-" or NULL: stdin). source names it in messages. Returns
 * 0 and the document in *ret_root (json_decref it), or -OTSYNC_ECONFIG with err filled and
 * the error added to d (line:col for malformed JSON).
 */
int job_load(const char *path, const char *source, json_t **ret_root, struct diag *d,
             struct otsync_err *err) OTSYNC_WUR;

/*
 * Renders every string value of root in place with ctx (object keys are left alone). Returns
 * 0, or -OTSYNC_ECONFIG with each error (naming its JSON path) in d and the first in err.
 */
int job_render(json_t *root, const struct vars_ctx *ctx, const char *source, struct diag *d,
               struct otsync_err *err) OTSYNC_WUR;

/*
 * Builds plan from root, which it takes (also on failure). Every error goes to d (marked with
 * source) and the first one also to err. Returns 0 or -OTSYNC_ECONFIG (or -OTSYNC_ENOMEM).
 * On failure plan is left empty and needs no job_plan_fini.
 */
int job_plan_init(struct job_plan *plan, json_t *root, const char *source, struct diag *d,
                  struct otsync_err *err) OTSYNC_WUR;

void job_plan_fini(struct job_plan *plan);

#endif
