/*
 * odps.h - private to src/emu: the state otsync-emu's MaxCompute keeps and the calls its three
 * files share. odps.c owns the state, signatures, the service API, admin calls and --data;
 * odps-tunnel.c the tunnel's upload sessions; odps-sql.c the SQL instances and their parser.
 * Everything here runs under emu->lock (emu.h), so nothing locks on its own.
 *
 * The SQL understood is only the DDL a writer sends (maxcompute-tunnel.md 4.3 and 8.3): ALTER
 * TABLE ... ADD [IF NOT EXISTS] PARTITION, ALTER TABLE ... DROP [IF EXISTS] PARTITION, TRUNCATE
 * TABLE [PARTITION], and SET statements, which are skipped.
 */
#ifndef OTSYNC_EMU_ODPS_H
#define OTSYNC_EMU_ODPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "otsync/tunnel.h"
#include "emu.h"

#define ODPS_NAME_MAX 128       /* project, table and column names */
#define ODPS_VALUE_MAX 256      /* one partition value */
#define ODPS_LEVELS_MAX 6       /* partition levels MaxCompute allows */
#define ODPS_SPECS_MAX 16       /* partitions one statement may name */
#define ODPS_SPEC_MAX 1024      /* a canonical partition spec */
#define ODPS_MAX_FIELD_SIZE 8388608     /* the session's MaxFieldSize, doc 5.2 */
#define ODPS_OWNER "ALIYUN$otsync-emu"

struct odps_column {
    char *name;
    char *type;                 /* lower case, as the schema JSON spells it */
};

/* A verified record stream, inflated. */
struct odps_block {
    unsigned char *data;
    size_t len;
    uint64_t count;
};

struct odps_part {
    char *spec;                 /* "pt=1,hm=0005" in table order; "" for an unpartitioned table */
    time_t created, modified;
    struct odps_block *blocks;  /* committed, in commit order */
    size_t block_count;
};

struct odps_table {
    char *project, *name;
    char id[33];                /* a new table under an old name has a new id */
    time_t created, modified;
    struct odps_column *cols, *pcols;
    size_t col_count, pcol_count;
    struct tunnel_column *tcols;
    struct tunnel_schema schema;
    struct odps_part *parts;    /* sorted by spec; an unpartitioned table has exactly one */
    size_t part_count;
};

struct odps_project {
    char *name;
    time_t created;
};

struct odps_upload_block {
    unsigned id;
    time_t created;
    struct odps_block b;        /* data NULL once committed or expired: the count stays */
};

struct odps_session {
    char id[40];
    char *project, *table, *spec;
    char table_id[33];
    bool overwrite;
    time_t created;
    const char *status;         /* "normal", "closed" or "expired" */
    struct odps_upload_block *blocks;   /* sorted by id */
    size_t block_count;
};

struct odps_instance {
    char id[40];
    char *project, *task, *result;
    time_t start, end;
    bool ok;
};

/* The one state both endpoints serve. */
struct odps {
    struct emu *emu;
    struct emu_service *api, *tunnel;
    struct odps_project *projects;
    size_t project_count;
    struct odps_table **tables;
    size_t table_count;
    struct odps_session **sessions;
    size_t session_count;
    struct odps_instance *instances;    /* oldest first */
    size_t instance_count;
    uint64_t seq;               /* for ids */
    char request_id[48];
};

/* An error answer being built: the service's code, HTTP status and message. */
struct odps_fail {
    unsigned status;
    const char *code;
    char msg[1024];
};

/* What a request's path names (odps_route_of). */
enum odps_route {
    ODPS_ROUTE_NONE,
    ODPS_ROUTE_PROJECT,
    ODPS_ROUTE_TABLE,
    ODPS_ROUTE_TUNNEL,
    ODPS_ROUTE_INSTANCES,
    ODPS_ROUTE_INSTANCE,
};

struct odps_target {
    enum odps_route route;
    char project[ODPS_NAME_MAX];
    char table[ODPS_NAME_MAX];
    char instance[ODPS_NAME_MAX];
};

/* --- odps.c: helpers (stop the emulator when memory runs out: see odps_xrealloc) --- */

void *odps_xrealloc(void *p, size_t n);
char *odps_xstrdup(const char *s);
/* Fills f and returns -1, for `return odps_fail(...)`. */
int odps_fail(struct odps_fail *f, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* RFC 1123 date of t into buf; returns buf. */
const char *odps_date(time_t t, char *buf, size_t len);
/* A new id: "yyyymmddHHMMSS" of now and hex (requests, uploads, instances). */
void odps_new_id(struct odps *o, char *buf, size_t len);
void odps_xml_escape(FILE *f, const char *s);
void odps_xml_cdata(FILE *f, const char *s);
/* Closes the open_memstream f and makes its text (*buf, *len) the body. */
void odps_resp_stream(struct emu_resp *resp, unsigned status, const char *type, FILE *f,
                      char **buf, size_t *len);
bool odps_arg_true(const struct emu_req *req, const char *name);
/* A query argument's value, "" for a bare flag, NULL when absent. */
const char *odps_arg(const struct emu_req *req, const char *name);

/* --- odps.c: the state --- */

struct odps_project *odps_project_find(struct odps *o, const char *name);
/* The table (names match case-insensitively) and its index; NULL when there is none. */
struct odps_table *odps_table_find(struct odps *o, const char *project, const char *name,
                                   size_t *ret_index);
struct odps_part *odps_part_find(struct odps_table *t, const char *spec);
struct odps_part *odps_part_add(struct odps_table *t, const char *spec, time_t created);
void odps_part_drop(struct odps_table *t, struct odps_part *p);
/* Frees a partition's committed data; the partition stays. */
void odps_part_clear(struct odps_part *p);
/* Appends a committed block; takes b's data. */
void odps_part_append(struct odps_part *p, struct odps_block *b);
/* The canonical spec "k=v,k2=v2" (table order) from keys and values in any order, each level
 * once; or from a spec parameter's text ("pt=1,hm=0005", '/' too). 0, or -1 with f filled. */
int odps_spec_canon(const struct odps_table *t, char keys[][ODPS_NAME_MAX],
                    char values[][ODPS_VALUE_MAX], size_t count, char *out, size_t len,
                    struct odps_fail *f);
int odps_spec_parse(const struct odps_table *t, const char *text, char *out, size_t len,
                    struct odps_fail *f);

/* --- odps.c: requests --- */

/* The signature, Date and STS token of a request whose path relative to its endpoint is rel.
 * 0, or -1 with f filled (401 Unauthorized). */
int odps_verify(struct odps *o, const struct emu_req *req, const char *rel, struct odps_fail *f);
/* What a path relative to the endpoint names, into t. */
enum odps_route odps_route_of(const char *rel, struct odps_target *t);

/* --- odps-tunnel.c: the tunnel endpoint (struct emu_service callbacks) --- */

void odps_tunnel_op(void *state, struct emu_req *req);
void odps_tunnel_handle(void *state, struct emu_req *req, struct emu_resp *resp);
void odps_tunnel_error(void *state, struct emu_req *req, struct emu_resp *resp, unsigned status,
                       const char *code, const char *message);
/* Expires the open session id, or every open one when id is NULL (the admin call). */
void odps_sessions_expire(struct odps *o, const char *id);
void odps_sessions_free(struct odps *o);

/* --- odps-sql.c: SQL instances --- */

/* POST /projects/<p>/instances: runs the SQL task at once. 0, or -1 with f filled. */
int odps_instance_create(struct odps *o, const char *project, const struct emu_req *req,
                         struct emu_resp *resp, struct odps_fail *f);
/* GET /projects/<p>/instances/<id>[?taskstatus | ?result]. 0, or -1 with f filled. */
int odps_instance_get(struct odps *o, const struct odps_target *tg, const struct emu_req *req,
                      struct emu_resp *resp, struct odps_fail *f);
void odps_instances_free(struct odps *o);

enum odps_sql_kind {
    ODPS_SQL_SET,
    ODPS_SQL_ADD_PARTITION,
    ODPS_SQL_DROP_PARTITION,
    ODPS_SQL_TRUNCATE,
};

/* One PARTITION (k='v', ...) clause as written: keys not yet matched to the table. */
struct odps_sql_spec {
    char keys[ODPS_LEVELS_MAX][ODPS_NAME_MAX];
    char values[ODPS_LEVELS_MAX][ODPS_VALUE_MAX];
    size_t count;
};

struct odps_sql_stmt {
    enum odps_sql_kind kind;
    char project[ODPS_NAME_MAX];    /* "" when the table name is unqualified */
    char table[ODPS_NAME_MAX];
    bool if_clause;                 /* IF NOT EXISTS (add) or IF EXISTS (drop) */
    struct odps_sql_spec specs[ODPS_SPECS_MAX];
    size_t spec_count;
};

/*
 * Parses a script of ';'-separated statements, keywords in any case. Returns the number of
 * statements (at least 0) with a new array in *ret_stmts (free() it), or -1 with why in
 * ret_why (why_len bytes) for anything else, including statements it does not emulate.
 */
long odps_sql_parse(const char *sql, struct odps_sql_stmt **ret_stmts, char *ret_why,
                    size_t why_len);

#endif
