/*
 * datasource.h - the datasources file: named connections to Table Store, OSS and MaxCompute
 * that jobs refer to by name instead of repeating endpoints and keys.
 *
 * Owns: loading and checking the file (every mistake as file:line:col), reading secrets from
 * their own files with ssh's rule (a secret file that group or others may read is refused),
 * and lookup by name. Leaves to others: using a connection (the services and plugins), the
 * cheap authenticated check behind --test-datasource (src/run).
 *
 *     datasources:
 *       ots_source:
 *         type: ots
 *         endpoint: https://myinst.cn-hangzhou.ots.aliyuncs.com
 *         instance: myinst
 *         access_key_id: LTAI...
 *         access_key_secret_file: /etc/otsync/secrets/ots_source
 *
 * Secrets stay in memory only: nothing here logs, prints or journals one. An access key secret
 * given inline is refused when the datasources file is readable by others.
 */
#ifndef OTSYNC_DATASOURCE_H
#define OTSYNC_DATASOURCE_H

#include <stddef.h>
#include "otsync/diag.h"
#include "otsync/err.h"

enum datasource_type {
    DATASOURCE_OTS,
    DATASOURCE_OSS,
    DATASOURCE_ODPS,
};

struct datasource {
    char *name;
    enum datasource_type type;
    char *endpoint;             /* ots, oss: the service URL; odps: the service API URL */
    char *instance;             /* ots: the instance name */
    char *bucket;               /* oss */
    char *project;              /* odps */
    char *tunnel_endpoint;      /* odps; NULL: discovered from the service */
    char *access_key_id;
    char *access_key_secret;    /* never printed; read from access_key_secret_file if given */
    char *security_token;       /* STS; NULL when the keys are permanent */
    struct otsync_mark mark;    /* where the entry starts (its file name is `path`) */
};

struct datasources {
    char *path;
    struct datasource *items;
    size_t count;
};

/*
 * Loads path into a new set. Every error goes to d with its mark; returns 0, or
 * -OTSYNC_ECONFIG (errors in d), -OTSYNC_ENOENT (the file does not exist: nothing in d), or
 * -OTSYNC_ENOMEM.
 */
int datasources_load(const char *path, struct datasources **ret_set, struct diag *d) OTSYNC_WUR;
void datasources_free(struct datasources *set);

/* Borrows; the datasource of that name, or NULL. set may be NULL. */
const struct datasource *datasources_find(const struct datasources *set, const char *name);

/* "ots", "oss", "odps". */
const char *datasource_type_name(enum datasource_type t);

#endif
