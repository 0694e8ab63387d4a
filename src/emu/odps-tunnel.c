/*
 * odps-tunnel.c - otsync-emu's MaxCompute tunnel endpoint: upload sessions (create, reload,
 * block PUT, commit; maxcompute-tunnel.md section 5) with the checks of 6.10 on every block and
 * the tunnel's JSON errors (7.1, 7.2).
 *
 * A session keeps its blocks by id, the last successful PUT of an id replacing the one before;
 * only the commit hands them to the partition, all of them in id order, so nothing of a failed
 * or abandoned session is ever visible. Sessions are memory only and expire after 24 hours.
 *
 * Owns: sessions. Leaves to others: tables and partitions (odps.c), record streams (tunnel.c),
 * HTTP and faults (server.c). Runs under emu->lock.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "otsync/err.h"
#include "otsync/log.h"
#include "otsync/tunnel.h"
#include "odps.h"

#define SESSION_LIFETIME_S (24 * 3600)      /* doc 5.6 */
#define BLOCK_ID_LIMIT 20000u               /* ids 0 .. 19999, doc 5.4 */

static const char *
tunnel_op_name(const struct emu_req *req, struct odps_target *t)
{
    bool upload = emu_req_arg(req, "uploadid") != NULL;

    if (odps_route_of(req->path, t) != ODPS_ROUTE_TABLE)
        return "Unknown";
    if (strcmp(req->method, "POST") == 0)
        return upload ? "CommitUpload" : emu_req_arg(req, "uploads") ? "CreateUploadSession"
               : "Unknown";
    if (strcmp(req->method, "PUT") == 0)
        return upload ? "UploadBlock" : "Unknown";
    if (strcmp(req->method, "GET") == 0)
        return upload ? "GetUploadSession" : "Unknown";
    return "Unknown";
}

void
odps_tunnel_op(void *state, struct emu_req *req)
{
    struct odps_target t;

    (void)state;
    snprintf(req->op, sizeof(req->op), "%s", tunnel_op_name(req, &t));
}

void
odps_tunnel_error(void *state, struct emu_req *req, struct emu_resp *resp, unsigned status,
                  const char *code, const char *message)
{
    struct odps *o = state;

    (void)req;
    odps_new_id(o, o->request_id, sizeof(o->request_id));
    emu_resp_header(resp, "x-odps-request-id", "%s", o->request_id);
    emu_resp_json(resp, status, json_pack("{s:s, s:s, s:s}", "Code", code, "Message", message,
                                          "RequestId", o->request_id));
}

static struct odps_session *
session_find(struct odps *o, const char *id)
{
    size_t i;

    for (i = 0; i < o->session_count; i++)
        if (strcmp(o->sessions[i]->id, id) == 0)
            return o->sessions[i];
    return NULL;
}

static void
session_drop_data(struct odps_session *s)
{
    size_t i;

    for (i = 0; i < s->block_count; i++) {
        free(s->blocks[i].b.data);
        s->blocks[i].b.data = NULL;
    }
}

static void
session_expire(struct odps_session *s)
{
    s->status = "expired";
    session_drop_data(s);
}

static void
session_free(struct odps_session *s)
{
    session_drop_data(s);
    free(s->blocks);
    free(s->project);
    free(s->table);
    free(s->spec);
    free(s);
}

/*
 * Forgets what the 24-hour expiry made useless: an expired session's blocks at once (an
 * abandoned session would otherwise hold them for the emulator's life), the session itself a
 * day later; until then a late request still hears StatusConflict rather than NoSuchUpload.
 */
static void
sessions_sweep(struct odps *o)
{
    time_t now = time(NULL);
    size_t i, kept = 0;

    for (i = 0; i < o->session_count; i++) {
        if (strcmp(o->sessions[i]->status, "normal") == 0
            && now - o->sessions[i]->created >= SESSION_LIFETIME_S)
            session_expire(o->sessions[i]);
        if (now - o->sessions[i]->created >= 2 * SESSION_LIFETIME_S)
            session_free(o->sessions[i]);
        else
            o->sessions[kept++] = o->sessions[i];
    }
    o->session_count = kept;
}

static json_t *
session_columns_json(const struct odps_column *cols, size_t n, bool ids)
{
    json_t *arr = json_array();
    char id[24];
    size_t i;

    for (i = 0; i < n; i++) {
        id[0] = '\0';
        if (ids)
            snprintf(id, sizeof(id), "%zu", i + 1);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "column_id", id,
                                             "comment", "", "default_value", "", "name",
                                             cols[i].name, "nullable", 1, "type",
                                             cols[i].type));
    }
    return arr;
}

/* The session JSON of doc 5.2. */
static json_t *
session_json(const struct odps_session *s, const struct odps_table *t)
{
    json_t *blocks = json_array();
    char d[32];
    size_t i;

    for (i = 0; i < s->block_count; i++)
        json_array_append_new(blocks, json_pack("{s:I, s:I, s:s, s:s, s:I, s:i}", "BlockID",
                                                (json_int_t)s->blocks[i].id, "CreateTime",
                                                (json_int_t)s->blocks[i].created, "Date",
                                                odps_date(s->blocks[i].created, d, sizeof(d)),
                                                "FileName", "", "RecordCount",
                                                (json_int_t)s->blocks[i].b.count, "Version", 0));
    return json_pack("{s:s, s:b, s:i, s:s, s:{s:b, s:o, s:o}, s:s, s:s, s:o}",
                     "Initiated", odps_date(s->created, d, sizeof(d)),
                     "IsOverwrite", s->overwrite, "MaxFieldSize", ODPS_MAX_FIELD_SIZE,
                     "Owner", ODPS_OWNER,
                     "Schema", "IsVirtualView", 0,
                     "columns", session_columns_json(t->cols, t->col_count, true),
                     "partitionKeys", session_columns_json(t->pcols, t->pcol_count, false),
                     "Status", s->status, "UploadID", s->id, "UploadedBlockList", blocks);
}

/* The table, and for a partitioned one the canonical spec of the request's partition. */
static struct odps_table *
tunnel_table(struct odps *o, const struct odps_target *tg, const struct emu_req *req, char *spec,
             size_t len, struct odps_fail *f)
{
    const char *given = odps_arg(req, "partition");
    struct odps_table *t;

    spec[0] = '\0';
    if (!odps_project_find(o, tg->project)) {
        odps_fail(f, 404, "NoSuchProject", "The specified project name does not exist: '%s'",
                  tg->project);
        return NULL;
    }
    if (!(t = odps_table_find(o, tg->project, tg->table, NULL))) {
        odps_fail(f, 404, "NoSuchTable", "The specified table name does not exist: '%s.%s'",
                  tg->project, tg->table);
        return NULL;
    }
    if (t->pcol_count && (!given || !*given)) {
        odps_fail(f, 400, "MissingPartitionSpec", "You need to specify a partitionspec along with "
                  "the specified table %s.%s", t->project, t->name);
        return NULL;
    }
    if (!t->pcol_count && given && *given) {
        odps_fail(f, 400, "InvalidPartitionSpec", "The specified partitionspec is not valid: table "
                  "%s.%s is not partitioned", t->project, t->name);
        return NULL;
    }
    if (t->pcol_count && odps_spec_parse(t, given, spec, len, f) < 0)
        return NULL;
    return t;
}

/* POST ?uploads (doc 5.1) */
static int
tunnel_create(struct odps *o, const struct odps_target *tg, const struct emu_req *req,
              struct emu_resp *resp, struct odps_fail *f)
{
    struct odps_session *s;
    struct odps_table *t;
    char spec[ODPS_SPEC_MAX];

    sessions_sweep(o);
    if (!(t = tunnel_table(o, tg, req, spec, sizeof(spec), f)))
        return -1;
    if (!odps_part_find(t, spec)) {
        if (!odps_arg_true(req, "create_partition"))
            return odps_fail(f, 404, "NoSuchPartition", "The specified partition does not exist: "
                             "%s", spec);
        odps_part_add(t, spec, time(NULL));
    }
    s = odps_xrealloc(NULL, sizeof(*s));
    memset(s, 0, sizeof(*s));
    odps_new_id(o, s->id, sizeof(s->id));
    s->project = odps_xstrdup(t->project);
    s->table = odps_xstrdup(t->name);
    s->spec = odps_xstrdup(spec);
    memcpy(s->table_id, t->id, sizeof(s->table_id));
    s->overwrite = odps_arg_true(req, "overwrite");
    s->created = time(NULL);
    s->status = "normal";
    o->sessions = odps_xrealloc(o->sessions, (o->session_count + 1) * sizeof(*o->sessions));
    o->sessions[o->session_count++] = s;
    emu_resp_json(resp, 201, session_json(s, t));
    return 0;
}

/*
 * The session a request names, checked against its path and partition; with its table (still
 * the one the session began on) and partition when for_write is set.
 */
static struct odps_session *
tunnel_session(struct odps *o, const struct odps_target *tg, const struct emu_req *req,
               bool for_write, struct odps_table **ret_t, struct odps_fail *f)
{
    const char *id = odps_arg(req, "uploadid");
    struct odps_session *s;
    char spec[ODPS_SPEC_MAX];

    if (!(*ret_t = tunnel_table(o, tg, req, spec, sizeof(spec), f)))
        return NULL;
    if (!id || !(s = session_find(o, id)) || strcasecmp(s->project, tg->project) != 0
        || strcasecmp(s->table, tg->table) != 0) {
        odps_fail(f, 404, "NoSuchUpload", "The specified upload id does not exist: '%s'",
                  id ? id : "");
        return NULL;
    }
    if (strcmp(s->spec, spec) != 0) {
        odps_fail(f, 400, "InvalidPartitionSpec", "The specified partitionspec is not valid: the "
                  "session is for '%s', not '%s'", s->spec, spec);
        return NULL;
    }
    if (strcmp(s->status, "normal") == 0 && time(NULL) - s->created >= SESSION_LIFETIME_S)
        session_expire(s);
    if (strcmp(s->table_id, (*ret_t)->id) != 0) {
        odps_fail(f, 409, "TableModified", "The table %s.%s was modified during the session",
                  s->project, s->table);
        return NULL;
    }
    if (!for_write)
        return s;
    if (strcmp(s->status, "expired") == 0) {
        odps_fail(f, 409, "StatusConflict", "The upload session is expired");
        return NULL;
    }
    if (strcmp(s->status, "normal") != 0) {
        odps_fail(f, 409, "StatusConflict", "The upload session is already %s", s->status);
        return NULL;
    }
    if (!odps_part_find(*ret_t, s->spec)) {
        odps_fail(f, 404, "NoSuchPartition", "The specified partition does not exist: %s",
                  s->spec);
        return NULL;
    }
    return s;
}

/* PUT ?uploadid&blockid (doc 5.4, 6.10) */
static int
tunnel_put(struct odps *o, const struct odps_target *tg, const struct emu_req *req,
           struct emu_resp *resp, struct odps_fail *f)
{
    const char *enc = emu_req_header(req, "Content-Encoding"), *bid = odps_arg(req, "blockid");
    struct odps_upload_block *ub;
    struct odps_session *s;
    struct odps_table *t;
    struct otsync_err err;
    struct timespec t0, t1;
    unsigned char *data;
    unsigned long id;
    uint64_t count;
    size_t len, i;
    char *end;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!(s = tunnel_session(o, tg, req, true, &t, f)))
        return -1;
    if (!bid || !isdigit((unsigned char)*bid) || (id = strtoul(bid, &end, 10)) >= BLOCK_ID_LIMIT
        || *end)
        return odps_fail(f, 400, "InvalidBlockID", "The specified block id is not valid: '%s' "
                         "(0 to %u)", bid ? bid : "", BLOCK_ID_LIMIT - 1);
    otsync_err_clear(&err);
    if (enc && strcasecmp(enc, "deflate") == 0) {
        if (tunnel_inflate(req->body, req->body_len, 0, &data, &len, &err) < 0)
            return odps_fail(f, 400, "MalformedDataStream", "deflate: %s", err.msg);
    } else if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        return odps_fail(f, 400, "MalformedDataStream", "otsync-emu takes raw and deflate blocks, "
                         "not Content-Encoding '%s'", enc);
    } else {
        len = req->body_len;
        data = memcpy(odps_xrealloc(NULL, len), req->body ? req->body : (unsigned char *)"", len);
    }
    if ((rc = tunnel_decode(&t->schema, data, len, NULL, NULL, &count, &err)) < 0) {
        free(data);
        if (rc == -OTSYNC_ECORRUPT)
            return odps_fail(f, 400, "CorruptedDataStream", "block %lu: %s", id, err.msg);
        if (rc == -OTSYNC_ENOMEM)
            return odps_fail(f, 500, "InternalServerError", "block %lu: %s", id, err.msg);
        return odps_fail(f, 400, "MalformedDataStream", "block %lu: %s", id, err.msg);
    }
    /* the last successful PUT of an id wins (doc 5.4) */
    for (i = 0; i < s->block_count && s->blocks[i].id < id; i++)
        ;
    if (i == s->block_count || s->blocks[i].id != id) {
        s->blocks = odps_xrealloc(s->blocks, (s->block_count + 1) * sizeof(*s->blocks));
        memmove(&s->blocks[i + 1], &s->blocks[i], (s->block_count - i) * sizeof(*s->blocks));
        s->block_count++;
        s->blocks[i].b.data = NULL;
    }
    ub = &s->blocks[i];
    free(ub->b.data);
    *ub = (struct odps_upload_block){(unsigned)id, time(NULL), {data, len, count}};
    clock_gettime(CLOCK_MONOTONIC, &t1);
    emu_resp_header(resp, "odps-tunnel-metrics", "{\"PanguIOCost\":0,\"ServerIOCost\":0,"
                    "\"ServerTotalCost\":%lld}", (long long)((t1.tv_sec - t0.tv_sec) * 1000
                                                             + (t1.tv_nsec - t0.tv_nsec)
                                                             / 1000000));
    emu_resp_take(resp, 200, NULL, 0);
    return 0;
}

/* POST ?uploadid (doc 5.5): every block the session holds, in id order, becomes visible. */
static int
tunnel_commit(struct odps *o, const struct odps_target *tg, const struct emu_req *req,
              struct emu_resp *resp, struct odps_fail *f)
{
    struct odps_session *s;
    struct odps_table *t;
    struct odps_part *p;
    uint64_t rows = 0;
    size_t i;

    if (!(s = tunnel_session(o, tg, req, true, &t, f)))
        return -1;
    p = odps_part_find(t, s->spec);
    if (s->overwrite)
        odps_part_clear(p);
    for (i = 0; i < s->block_count; i++) {
        rows += s->blocks[i].b.count;
        if (s->blocks[i].b.count)
            odps_part_append(p, &s->blocks[i].b);
        else
            free(s->blocks[i].b.data);
        s->blocks[i].b.data = NULL;
    }
    p->modified = t->modified = time(NULL);
    s->status = "closed";
    log_info("odps: commit %s to %s.%s%s%s: %zu blocks, %" PRIu64 " records", s->id, t->project,
             t->name, *s->spec ? " " : "", s->spec, s->block_count, rows);
    emu_resp_json(resp, 200, session_json(s, t));
    return 0;
}

static int
tunnel_route(struct odps *o, struct emu_req *req, struct emu_resp *resp, struct odps_fail *f)
{
    struct odps_target tg;
    struct odps_session *s;
    struct odps_table *t;
    const char *op = tunnel_op_name(req, &tg);

    if (strcmp(op, "CreateUploadSession") == 0)
        return tunnel_create(o, &tg, req, resp, f);
    if (strcmp(op, "UploadBlock") == 0)
        return tunnel_put(o, &tg, req, resp, f);
    if (strcmp(op, "CommitUpload") == 0)
        return tunnel_commit(o, &tg, req, resp, f);
    if (strcmp(op, "GetUploadSession") == 0) {
        if (!(s = tunnel_session(o, &tg, req, false, &t, f)))
            return -1;
        emu_resp_json(resp, 200, session_json(s, t));
        return 0;
    }
    return odps_fail(f, 400, "InvalidArgument", "otsync-emu does not emulate %s %s (upload "
                     "sessions only)", req->method, req->path);
}

void
odps_tunnel_handle(void *state, struct emu_req *req, struct emu_resp *resp)
{
    struct odps *o = state;
    struct odps_fail f;

    if (odps_verify(o, req, req->path, &f) == 0 && tunnel_route(o, req, resp, &f) == 0) {
        odps_new_id(o, o->request_id, sizeof(o->request_id));
        emu_resp_header(resp, "x-odps-request-id", "%s", o->request_id);
        return;
    }
    odps_tunnel_error(o, req, resp, f.status, f.code, f.msg);
}

void
odps_sessions_expire(struct odps *o, const char *id)
{
    size_t i;

    for (i = 0; i < o->session_count; i++)
        if ((!id || strcmp(id, o->sessions[i]->id) == 0)
            && strcmp(o->sessions[i]->status, "normal") == 0)
            session_expire(o->sessions[i]);
}

void
odps_sessions_free(struct odps *o)
{
    size_t i;

    for (i = 0; i < o->session_count; i++)
        session_free(o->sessions[i]);
    free(o->sessions);
    o->sessions = NULL;
    o->session_count = 0;
}
