/*
 * odpsclient.h - an asynchronous MaxCompute (ODPS) client over net: the service API calls a
 * writer needs (table schema, partition listing, SQL tasks for partition DDL, tunnel endpoint
 * discovery) and tunnel upload sessions (create, upload a block, status, commit), as
 * shared/protocols/maxcompute-tunnel.md describes them.
 *
 * Owns: URLs and query encoding, signing (odpssign, V2, with the STS header when a token is
 * set), the curr_project parameter, the tunnel version header, reading the service's XML and
 * the tunnel's JSON, error codes and messages, and the retry policy of doc 7.3: connection
 * errors, timeouts, 5xx, 429 and the tunnel's "come back later" 409s are retried, through net,
 * with the same request - so a block PUT that failed is sent again under the same block id;
 * 4xx name and signature errors are not. A commit is never blindly repeated: after a failed
 * commit the session is reloaded, and "closed" counts as committed.
 * Leaves to others: the record stream (tunnel.h), what to upload and when (the odps writer),
 * the loop and connections (net.h).
 *
 * Every operation takes a callback that fires exactly once, later, from the loop; or, when the
 * owner calls net_close() on the net this client uses, from inside that call with
 * -OTSYNC_ECANCELED. Starting an operation fails (negative return, err filled, callback never
 * called) only when it cannot be started at all. Callbacks may start further operations. The
 * client holds no uv handle of its own: it is freed with odpsclient_free() once no operation
 * is pending.
 */
#ifndef OTSYNC_ODPSCLIENT_H
#define OTSYNC_ODPSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "otsync/err.h"
#include "otsync/net.h"
#include "otsync/tunnel.h"

/* The highest block id plus one (doc 5.4). */
#define ODPSCLIENT_BLOCK_IDS 20000u

struct odpsclient;
struct odpsclient_upload;

struct odpsclient_conf {
    const char *endpoint;           /* the service API, "https://service.<region>.../api" */
    const char *tunnel_endpoint;    /* NULL or "": odpsclient_tunnel_resolve() finds it */
    const char *project;            /* also sent as curr_project on every request */
    const char *access_key_id;
    const char *access_key_secret;
    const char *security_token;     /* NULL: permanent keys */
    int max_attempts;               /* per request, retries included; 0 = 5 */
    long backoff_base_ms;           /* 0 = 500 */
};

/* A column of a table; type is valid only when supported is true (array, map, struct and
 * anything unknown are not). */
struct odpsclient_column {
    char *name;
    char *type_text;                /* as the service spells it, "decimal(10,2)" */
    enum tunnel_type type;
    bool supported;
};

struct odpsclient_table {
    char *name;
    struct odpsclient_column *columns;      /* data columns, in table order */
    size_t column_count;
    struct odpsclient_column *partition_keys;   /* partition columns, in level order */
    size_t partition_key_count;
};

/*
 * Returns 0 and a new client in *ret_c (conf's strings are copied; net is borrowed and must
 * outlive it), or -OTSYNC_ECONFIG for a missing endpoint, project or key, -OTSYNC_ENOMEM.
 */
int odpsclient_new(struct net *net, const struct odpsclient_conf *conf, struct odpsclient **ret_c,
                   struct otsync_err *err) OTSYNC_WUR;

/* Frees the client; operations must be over (their callbacks fired). Cleanses the secret.
 * NULL does nothing. */
void odpsclient_free(struct odpsclient *c);

/* The tunnel endpoint in use (borrowed), or NULL before it is known. */
const char *odpsclient_tunnel(const struct odpsclient *c);

typedef void (*odpsclient_done_cb)(void *arg, int rc, const struct otsync_err *err);

/* GET <service>/projects/<p>/tunnel?service (doc 1.2): for a client whose conf gave no tunnel
 * endpoint; -OTSYNC_EEXIST when odpsclient_tunnel() already names one. */
int odpsclient_tunnel_resolve(struct odpsclient *c, odpsclient_done_cb cb, void *arg,
                              struct otsync_err *err) OTSYNC_WUR;

/* The table's schema (doc 4.1). cb takes t on success (odpsclient_table_free it); t is NULL on
 * failure, -OTSYNC_ENOENT when the table does not exist. */
typedef void (*odpsclient_table_cb)(void *arg, int rc, struct odpsclient_table *t,
                                    const struct otsync_err *err);
int odpsclient_table_get(struct odpsclient *c, const char *table, odpsclient_table_cb cb,
                         void *arg, struct otsync_err *err) OTSYNC_WUR;
void odpsclient_table_free(struct odpsclient_table *t);

/* Every partition of a table as "k=v,k2=v2" in level order, all pages (doc 4.2). specs are
 * borrowed for the call. */
typedef void (*odpsclient_partitions_cb)(void *arg, int rc, char *const *specs, size_t count,
                                         const struct otsync_err *err);
int odpsclient_partitions_list(struct odpsclient *c, const char *table,
                               odpsclient_partitions_cb cb, void *arg,
                               struct otsync_err *err) OTSYNC_WUR;

/*
 * Runs one SQL statement as an SQL task (doc 4.3): submit, wait for Terminated, read the task
 * status and, when it did not succeed, its result, which becomes err's message (rc
 * -OTSYNC_EPROTO).
 */
int odpsclient_sql_run(struct odpsclient *c, const char *sql, odpsclient_done_cb cb, void *arg,
                       struct otsync_err *err) OTSYNC_WUR;

/* ALTER TABLE <table> ADD IF NOT EXISTS PARTITION (k='v',...) for a canonical spec; values
 * holding quotes, backslashes or "]]>" are refused (-OTSYNC_EINVAL) before anything is sent. */
int odpsclient_partition_add(struct odpsclient *c, const char *table, const char *spec,
                             odpsclient_done_cb cb, void *arg, struct otsync_err *err) OTSYNC_WUR;

/*
 * Partition specs as a job writes them (doc 8.1): trims, removes spaces around '=', ',' and
 * '/', turns '/' into ',', deletes quotes, then puts the levels in keys' order (the table's
 * partition keys, matched case-insensitively, spelled as the table spells them). Every level
 * once, no empty value. Returns 0 with "k=v,k2=v2" in ret_spec (len bytes), or -OTSYNC_EINVAL
 * with err saying what is wrong. Pure; safe anywhere.
 */
int odpsclient_spec_canon(const char *text, const struct odpsclient_column *keys, size_t count,
                          char *ret_spec, size_t len, struct otsync_err *err) OTSYNC_WUR;

/*
 * Creates an upload session (doc 5.1) for a table, or one partition of it (spec canonical,
 * NULL for an unpartitioned table). overwrite: the commit replaces the partition's (or
 * table's) rows instead of adding to them (doc 4.4). cb takes u on success
 * (odpsclient_upload_free it once nothing of it is pending).
 */
typedef void (*odpsclient_upload_cb)(void *arg, int rc, struct odpsclient_upload *u,
                                     const struct otsync_err *err);
int odpsclient_upload_create(struct odpsclient *c, const char *table, const char *spec,
                             bool overwrite, odpsclient_upload_cb cb, void *arg,
                             struct otsync_err *err) OTSYNC_WUR;

/* The session's id and its Schema.columns (borrowed, alive as long as u), which give the
 * record stream's field numbers; MaxFieldSize is in schema->max_field_len. */
const char *odpsclient_upload_id(const struct odpsclient_upload *u);
const struct tunnel_schema *odpsclient_upload_schema(const struct odpsclient_upload *u);

/*
 * PUTs one finished record stream as block block_id (doc 5.4); data is copied before this
 * returns. deflate: sent as Content-Encoding: deflate (a zlib stream, doc 6.8). Retried under
 * the same id as the file comment says.
 */
int odpsclient_upload_block(struct odpsclient_upload *u, unsigned block_id, const void *data,
                            size_t len, bool deflate, odpsclient_done_cb cb, void *arg,
                            struct otsync_err *err) OTSYNC_WUR;

/* The session as the tunnel sees it (doc 5.3): its status ("normal", "closed"...) and the
 * block ids it holds, ascending; both borrowed for the call. */
typedef void (*odpsclient_status_cb)(void *arg, int rc, const char *status,
                                     const unsigned *block_ids, size_t count,
                                     const struct otsync_err *err);
int odpsclient_upload_status(struct odpsclient_upload *u, odpsclient_status_cb cb, void *arg,
                             struct otsync_err *err) OTSYNC_WUR;

/*
 * Commits (doc 5.5): reloads the session and refuses (-OTSYNC_EPROTO) unless it holds exactly
 * block_ids (any order; borrowed until the call returns), then POSTs the commit. A commit
 * whose answer was lost or refused as a conflict is judged by reloading the session: closed is
 * success, normal is tried again.
 */
int odpsclient_upload_commit(struct odpsclient_upload *u, const unsigned *block_ids,
                             size_t count, odpsclient_done_cb cb, void *arg,
                             struct otsync_err *err) OTSYNC_WUR;

/* Frees a session handle (the server's session is untouched: uncommitted, it expires). NULL
 * does nothing. */
void odpsclient_upload_free(struct odpsclient_upload *u);

#endif
