/*
 * dirty.c - the dirty-record file and the error limit: see dirty.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "otsync/log.h"
#include "otsync/sign.h"
#include "dirty.h"

int
dirty_file_init(struct dirty_file *f, const char *path, struct otsync_err *err)
{
    const char *env, *tmp;
    char buf[4096];

    memset(f, 0, sizeof(*f));
    f->fd = -1;
    if (!path && (env = getenv("OTSYNC_DIRTY_FILE")) && *env)
        path = env;
    if (!path) {
        tmp = getenv("TMPDIR");
        snprintf(buf, sizeof(buf), "%s/otsync-run.%ld.dirty.jsonl", tmp && *tmp ? tmp : "/tmp",
                 (long)getpid());
        path = buf;
    }
    if (!(f->path = strdup(path)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    if ((env = getenv("OTSYNC_INSTANCE")) && *env)
        f->instance = env;
    if ((env = getenv("OTSYNC_ATTEMPT")))
        f->attempt = atol(env);
    return 0;
}

void
dirty_file_fini(struct dirty_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    free(f->path);
    f->path = NULL;
}

/* A value as JSON: numbers and bools as themselves, binary as base64, a date as its text. */
static json_t *
value_json(const struct otsync_value *v)
{
    char buf[OTSYNC_VALUE_TEXT_MAX];
    const char *text;
    size_t len;
    json_t *o;

    switch (v->type) {
    case OTSYNC_TYPE_NULL:
        return json_null();
    case OTSYNC_TYPE_INT:
        return json_integer(v->u.i);
    case OTSYNC_TYPE_DOUBLE:
        return json_real(v->u.d);
    case OTSYNC_TYPE_BOOL:
        return json_boolean(v->u.b);
    case OTSYNC_TYPE_STRING:
        /* not every string a reader meets is UTF-8; jansson refuses those, so fall back */
        if ((o = json_stringn(v->u.bytes.ptr, v->u.bytes.len)))
            return o;
        /* fall through */
    case OTSYNC_TYPE_BINARY: {
        json_t *bin = json_object();
        char *b64 = malloc(4 * ((v->u.bytes.len + 2) / 3) + 1);

        if (!bin || !b64) {
            json_decref(bin);
            free(b64);
            return NULL;
        }
        sign_base64(v->u.bytes.ptr, v->u.bytes.len, b64);
        json_object_set_new(bin, "base64", json_string(b64));
        free(b64);
        return bin;
    }
    case OTSYNC_TYPE_DATE:
        text = otsync_value_text(v, buf, &len);
        return json_stringn(text, len);
    }
    return json_null();
}

int
dirty_file_add(struct dirty_file *f, const char *side, const char *plugin,
               const struct otsync_record *rec, const char *reason, struct otsync_err *err)
{
    json_t *o, *cols;
    struct timeval tv;
    struct tm tm;
    char ts[64], *line;
    size_t i, len;
    ssize_t n;
    int rc = 0;

    if (f->failed)
        return -OTSYNC_ESYS;
    if (f->fd < 0) {
        f->fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (f->fd < 0) {
            f->failed = true;
            rc = otsync_err_errno(err, errno, "dirty records: %s: open", f->path);
            log_error("%s; dirty records are counted but not kept", err ? err->msg : f->path);
            return rc;
        }
        log_warn("dirty records are written to %s", f->path);
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000) % 1000);
    o = json_object();
    cols = json_array();
    if (!o || !cols) {
        json_decref(o);
        json_decref(cols);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    json_object_set_new(o, "time", json_string(ts));
    if (f->instance)
        json_object_set_new(o, "instance", json_string(f->instance));
    if (f->attempt > 0)
        json_object_set_new(o, "attempt", json_integer(f->attempt));
    json_object_set_new(o, "side", json_string(side));
    json_object_set_new(o, "plugin", json_string(plugin));
    /* a reason may quote a value that is not UTF-8: keep the line even then */
    if (json_object_set_new(o, "reason", json_string(reason)) < 0)
        json_object_set_new(o, "reason", json_string("(reason not valid UTF-8)"));
    for (i = 0; rec && i < rec->count; i++)
        json_array_append_new(cols, value_json(&rec->cols[i]));
    json_object_set_new(o, "record", cols);
    line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!line)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    len = strlen(line);
    line[len++] = '\n';     /* json_dumps leaves room: the NUL becomes the newline */
    n = write(f->fd, line, len);
    free(line);
    if (n != (ssize_t)len) {
        f->failed = true;
        rc = otsync_err_errno(err, n < 0 ? errno : ENOSPC, "dirty records: %s: write", f->path);
        log_error("%s; dirty records are counted but not kept from here on",
                  err ? err->msg : f->path);
        return rc;
    }
    f->count++;
    return 0;
}

int
error_limit_check(const struct error_limit *l, uint64_t read, uint64_t dirty, bool final,
                  struct otsync_err *err)
{
    if (l->record >= 0) {
        if (dirty > (uint64_t)l->record)
            return otsync_err_set(err, OTSYNC_EINVAL, "%" PRIu64 " dirty records, more than "
                                  "setting.errorLimit.record allows (%" PRId64 ")", dirty,
                                  l->record);
        return 0;
    }
    if (l->percentage >= 0 && final && read > 0
        && (double)dirty / (double)read > l->percentage)
        return otsync_err_set(err, OTSYNC_EINVAL, "%" PRIu64 " dirty of %" PRIu64 " records "
                              "read, more than setting.errorLimit.percentage allows (%g)", dirty,
                              read, l->percentage);
    return 0;
}
