/*
 * ots-common.h - what the Table Store plugins (otsreader.c, otsstreamreader.c, otswriter.c)
 * share: the connection (a datasource or the job's inline endpoint and keys), the table's key
 * schema from DescribeTable, values between PlainBuffer and records, and the readers' slice
 * task with its one request at a time. Private to src/plugins.
 */
#ifndef OTSYNC_PLUGINS_OTS_COMMON_H
#define OTSYNC_PLUGINS_OTS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <uv.h>
#include "otsync/datasource.h"
#include "otsync/net.h"
#include "otsync/otsclient.h"
#include "otsync/plainbuffer.h"
#include "../run/plugin.h"
#include "../run/record.h"

#define OTSP_MAX_PK 4

/* The connection parameters, by their DataX names; each plugin's conf starts with this. */
struct otsp_conn_conf {
    const char *datasource;
    const char *endpoint;
    const char *access_id;
    const char *access_key;
    const char *instance_name;
    const char *security_token;
    int64_t max_retry_time;
};

/* The option-table entries of struct otsp_conn_conf, for a conf struct `type` holding it as
 * its member `conn`. */
#define OTSP_CONN_OPTIONS(type) \
    {"datasource", OTSYNC_OPT_STRING, offsetof(type, conn.datasource), "", \
     "a connection of the datasources file (type ots), instead of the four below"}, \
    {"endpoint", OTSYNC_OPT_STRING, offsetof(type, conn.endpoint), "", \
     "the instance's endpoint URL, e.g. https://myinst.cn-hangzhou.ots.aliyuncs.com"}, \
    {"accessId", OTSYNC_OPT_STRING, offsetof(type, conn.access_id), "", "the AccessKey id"}, \
    {"accessKey", OTSYNC_OPT_STRING, offsetof(type, conn.access_key), "", \
     "the AccessKey secret (prefer a datasource: its secret stays in a 0600 file)"}, \
    {"instanceName", OTSYNC_OPT_STRING, offsetof(type, conn.instance_name), "", \
     "the instance"}, \
    {"securityToken", OTSYNC_OPT_STRING, offsetof(type, conn.security_token), "", \
     "an STS token, with temporary keys"}, \
    {"maxRetryTime", OTSYNC_OPT_INT, offsetof(type, conn.max_retry_time), "10", \
     "attempts per request before the job fails"}

struct otsp_schema {
    char *names[OTSP_MAX_PK];
    int types[OTSP_MAX_PK];         /* PrimaryKeyType: 1 INTEGER, 2 STRING, 3 BINARY */
    bool autoinc[OTSP_MAX_PK];
    unsigned count;
};

struct otsp_conn {
    struct net *net;
    struct ots_client *client;
    char *table;
    struct otsp_schema schema;
};

/*
 * Checks the connection parameters (a datasource of type ots, or all of endpoint, accessId,
 * accessKey and instanceName) and builds net and the client; no request is sent. path names
 * the parameter object in messages. channels sizes the connection cap.
 */
int otsp_open(struct otsp_conn *c, uv_loop_t *loop, const struct datasources *set,
              const char *path, const struct otsp_conn_conf *conf, const char *table,
              unsigned channels, struct otsync_err *err);
/* Closes net (its handles close on the loop) and frees the rest. */
void otsp_close(struct otsp_conn *c);

typedef void (*otsp_schema_cb)(void *arg, int rc, const struct otsync_err *err);
/* DescribeTable into c->schema; done later. */
int otsp_describe(struct otsp_conn *c, otsp_schema_cb done, void *arg, struct otsync_err *err);

/* A PlainBuffer value as a record value of batch b. */
int otsp_value_to_record(struct otsync_batch *b, struct otsync_value *v, const struct pb_value *p,
                         struct otsync_err *err);
/*
 * A record value as a PlainBuffer value of pb_type `want` (converted as otsync_value_convert
 * allows; a BINARY wanted from a string takes its bytes). The result points into v or the
 * batch. Returns 0, or -OTSYNC_EINVAL with why filled (a dirty reason).
 */
int otsp_value_from_record(struct otsync_batch *b, struct otsync_value *v, enum pb_type want,
                           struct pb_value *ret_p, char why[static OTSYNC_CONVERT_WHY_MAX]);

/* A typed JSON bound or constant ({"type": "INT", "value": 5}) as a PlainBuffer value; an
 * INF_MIN/INF_MAX only when inf. Strings and binaries are copied into *ret_owned (free it).
 * -OTSYNC_ECONFIG with the message naming what at path. */
int otsp_json_value(const json_t *j, const char *path, bool inf, struct pb_value *ret_p,
                    unsigned char **ret_owned, struct otsync_err *err);

/*
 * A reader's slice, read one request at a time: the engine's callbacks, where the request
 * stands, and a timer for acting from the loop rather than inside a call of the engine's.
 * A reader's task struct begins with it, so the engine's task handle, the timer's data and
 * done's arg all point at both, and ending the task frees the reader's whole struct.
 */
struct otsp_task {
    const char *who;                /* "ots reader": the task's name in messages */
    bool in_flight, paused, canceled, finished;
    otsync_read_emit_cb emit;
    otsync_read_end_cb end;
    void *arg;
    /* frees what the reader's own part holds; runs before end(), which gets the same rc */
    void (*release)(struct otsp_task *t, int rc);
    uv_timer_t timer;               /* the reader picks its callback */
};

/* Sets up t, the start of a zeroed task that otsp_task_end frees, for start(). */
void otsp_task_init(struct otsp_task *t, uv_loop_t *loop, const char *who,
                    void (*release)(struct otsp_task *t, int rc), otsync_read_emit_cb emit,
                    otsync_read_end_cb end, void *arg);
/*
 * The slice is over (rc 0) or failed (err filled): release, end() once, and the task is freed
 * once its timer closed. Does nothing when the task already ended.
 */
void otsp_task_end(struct otsp_task *t, int rc, const struct otsync_err *err);
/* otsp_task_end with -OTSYNC_ECANCELED, "<who>: canceled". */
void otsp_task_end_canceled(struct otsp_task *t);
/*
 * Sends the task's request (a read, so the client may send it again) with t as done's arg;
 * in flight until done runs. Returns ots_call's result.
 */
int otsp_task_call(struct otsp_task *t, struct ots_client *c, const char *op,
                   const ProtobufCMessage *req, ots_done_cb done, struct otsync_err *err)
    OTSYNC_WUR;
/*
 * First thing in done: false when the answer ended the task (the request failed, or the task
 * was canceled meanwhile), true when it is the reader's to use.
 */
bool otsp_task_landed(struct otsp_task *t, int rc, const struct otsync_err *err);
/*
 * A page's records to the engine, which may pause or cancel the task inside; takes b (an
 * empty one, or NULL, is freed instead).
 */
void otsp_task_emit(struct otsp_task *t, struct otsync_batch *b);
/* Nothing in flight, not ended and nothing due on the timer: only the reader can move it. */
bool otsp_task_idle(const struct otsp_task *t);
/* The ops' pause, for a task that begins with struct otsp_task. */
void otsp_task_pause(struct otsync_reader *r, void *task);

#endif
