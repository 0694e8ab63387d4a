/*
 * odps.c - otsync-emu's MaxCompute: the state both endpoints share (projects, tables,
 * partitions, committed data), signature checks, the service API under /api (projects, table
 * schemas, partition listings, tunnel discovery; SQL instances are odps-sql.c's), the admin
 * calls and --data, as shared/protocols/maxcompute-tunnel.md sections 1-7 describe them.
 *
 * Tables hold their committed data as the verified record streams the blocks arrived in
 * (inflated): exact, compact, and decoded again only for a dump. Only a commit moves blocks
 * into a table (odps-tunnel.c), so a failed or abandoned upload leaves nothing behind. Sessions
 * and instances live in memory only (a restart is like the 24-hour expiry); projects, tables,
 * partitions and committed data are saved as odps.json.
 *
 * Owns: the state and its lifetime, answers and error bodies of the service API. Leaves to
 * others: HTTP, locking and faults (server.c), the tunnel (odps-tunnel.c), SQL (odps-sql.c),
 * record streams (tunnel.c), signing (odpssign.c). Runs under emu->lock, as every service does.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "otsync/err.h"
#include "otsync/log.h"
#include "otsync/odpssign.h"
#include "otsync/sign.h"
#include "otsync/tunnel.h"
#include "odps.h"

#define DATE_SKEW_MAX_S (15 * 60)           /* doc 2.1 */
#define PARTITIONS_PAGE 1000                /* default MaxItems of a partition listing */
#define SAVE_FILE "odps.json"
#define SAVE_FORMAT "otsync-emu odps 1"

/* --- small helpers --- */

/*
 * An emulator serving tests gains nothing from limping on without memory; stopping loudly
 * beats a half-applied change to the state.
 */
void *
odps_xrealloc(void *p, size_t n)
{
    if (!(p = realloc(p, n ? n : 1))) {
        log_error("odps: out of memory");
        abort();
    }
    return p;
}

char *
odps_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(odps_xrealloc(NULL, n), s, n);
}

int
odps_fail(struct odps_fail *f, unsigned status, const char *code, const char *fmt, ...)
{
    va_list ap;

    f->status = status;
    f->code = code;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
    va_end(ap);
    return -1;
}

const char *
odps_date(time_t t, char *buf, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

/* RFC 1123 date to epoch seconds; -1 when it is not one. Not strptime: that follows the
 * locale, and the names here are always English. */
static time_t
parse_date(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4];
    const char *hit;
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (!s || sscanf(s, "%*3s, %d %3s %d %d:%d:%d GMT", &tm.tm_mday, mon, &tm.tm_year,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    if (strlen(mon) != 3 || !(hit = strstr(months, mon)) || (hit - months) % 3)
        return -1;
    tm.tm_mon = (int)((hit - months) / 3);
    tm.tm_year -= 1900;
    return timegm(&tm);
}

/* "yyyymmddHHMMSS" of now, then hex: request, upload and instance ids. */
void
odps_new_id(struct odps *o, char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    o->seq++;
    snprintf(buf, len, "%04d%02d%02d%02d%02d%02d%08x%08" PRIx64, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)getpid(), o->seq);
}

/* Element text, or with attr set an attribute value; the schema JSON keeps its quotes. */
static void
xml_put(FILE *f, const char *s, bool attr)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs(attr ? "&quot;" : "\"", f); break;
        default: fputc(*s, f);
        }
    }
}

void
odps_xml_escape(FILE *f, const char *s)
{
    xml_put(f, s, false);
}

/* A CDATA section; "]]>" inside is split across two sections, the only way to carry it. */
void
odps_xml_cdata(FILE *f, const char *s)
{
    const char *end;

    fputs("<![CDATA[", f);
    while ((end = strstr(s, "]]>"))) {
        fprintf(f, "%.*s]]]]><![CDATA[>", (int)(end - s), s);
        s = end + 3;
    }
    fprintf(f, "%s]]>", s);
}

/* Hands a memstream's text to resp as the body; buf and len are the stream's, valid only once
 * it is closed. */
void
odps_resp_stream(struct emu_resp *resp, unsigned status, const char *type, FILE *f, char **buf,
                 size_t *len)
{
    fclose(f);
    emu_resp_header(resp, "Content-Type", "%s", type);
    emu_resp_take(resp, status, *buf, *len);
}

bool
odps_arg_true(const struct emu_req *req, const char *name)
{
    const struct emu_kv *kv = emu_req_arg(req, name);

    return kv && kv->value && strcasecmp(kv->value, "true") == 0;
}

const char *
odps_arg(const struct emu_req *req, const char *name)
{
    const struct emu_kv *kv = emu_req_arg(req, name);

    return kv ? (kv->value ? kv->value : "") : NULL;
}

/* --- projects, tables, partitions --- */

struct odps_project *
odps_project_find(struct odps *o, const char *name)
{
    size_t i;

    for (i = 0; i < o->project_count; i++)
        if (strcasecmp(o->projects[i].name, name) == 0)
            return &o->projects[i];
    return NULL;
}

static struct odps_project *
project_add(struct odps *o, const char *name, time_t created)
{
    struct odps_project *p;

    if ((p = odps_project_find(o, name)))
        return p;
    o->projects = odps_xrealloc(o->projects, (o->project_count + 1) * sizeof(*o->projects));
    p = &o->projects[o->project_count++];
    p->name = odps_xstrdup(name);
    p->created = created;
    return p;
}

struct odps_table *
odps_table_find(struct odps *o, const char *project, const char *name, size_t *ret_index)
{
    size_t i;

    for (i = 0; i < o->table_count; i++)
        if (strcasecmp(o->tables[i]->project, project) == 0
            && strcasecmp(o->tables[i]->name, name) == 0) {
            if (ret_index)
                *ret_index = i;
            return o->tables[i];
        }
    return NULL;
}

void
odps_part_clear(struct odps_part *p)
{
    size_t i;

    for (i = 0; i < p->block_count; i++)
        free(p->blocks[i].data);
    free(p->blocks);
    p->blocks = NULL;
    p->block_count = 0;
    p->modified = time(NULL);
}

static void
table_free(struct odps_table *t)
{
    size_t i;

    if (!t)
        return;
    for (i = 0; i < t->part_count; i++) {
        odps_part_clear(&t->parts[i]);
        free(t->parts[i].spec);
    }
    for (i = 0; i < t->col_count; i++) {
        free(t->cols[i].name);
        free(t->cols[i].type);
    }
    for (i = 0; i < t->pcol_count; i++) {
        free(t->pcols[i].name);
        free(t->pcols[i].type);
    }
    free(t->parts);
    free(t->cols);
    free(t->pcols);
    free(t->tcols);
    free(t->project);
    free(t->name);
    free(t);
}

struct odps_part *
odps_part_find(struct odps_table *t, const char *spec)
{
    size_t i;

    for (i = 0; i < t->part_count; i++)
        if (strcmp(t->parts[i].spec, spec) == 0)
            return &t->parts[i];
    return NULL;
}

struct odps_part *
odps_part_add(struct odps_table *t, const char *spec, time_t created)
{
    size_t i;

    for (i = 0; i < t->part_count && strcmp(t->parts[i].spec, spec) < 0; i++)
        ;
    t->parts = odps_xrealloc(t->parts, (t->part_count + 1) * sizeof(*t->parts));
    memmove(&t->parts[i + 1], &t->parts[i], (t->part_count - i) * sizeof(*t->parts));
    t->part_count++;
    memset(&t->parts[i], 0, sizeof(t->parts[i]));
    t->parts[i].spec = odps_xstrdup(spec);
    t->parts[i].created = t->parts[i].modified = created;
    t->modified = time(NULL);
    return &t->parts[i];
}

void
odps_part_drop(struct odps_table *t, struct odps_part *p)
{
    size_t i = (size_t)(p - t->parts);

    odps_part_clear(p);
    free(p->spec);
    memmove(&t->parts[i], &t->parts[i + 1], (t->part_count - i - 1) * sizeof(*t->parts));
    t->part_count--;
    t->modified = time(NULL);
}

void
odps_part_append(struct odps_part *p, struct odps_block *b)
{
    p->blocks = odps_xrealloc(p->blocks, (p->block_count + 1) * sizeof(*p->blocks));
    p->blocks[p->block_count++] = *b;
    p->modified = time(NULL);
}

/*
 * The canonical spec "k=v,k2=v2" in table order from keys and values in any order (keys match
 * case-insensitively); every level once, nothing else. 0, or -1 with f filled.
 */
int
odps_spec_canon(const struct odps_table *t, char keys[][ODPS_NAME_MAX],
                char values[][ODPS_VALUE_MAX], size_t count, char *out, size_t len,
                struct odps_fail *f)
{
    size_t i, j, n = 0;
    const char *v;

    if (count != t->pcol_count)
        return odps_fail(f, 400, "InvalidPartitionSpec", "The specified partitionspec is not "
                         "valid: %zu of %zu partition levels given", count, t->pcol_count);
    out[0] = '\0';
    for (i = 0; i < t->pcol_count; i++) {
        for (v = NULL, j = 0; j < count; j++)
            if (strcasecmp(keys[j], t->pcols[i].name) == 0) {
                if (v)
                    return odps_fail(f, 400, "InvalidPartitionSpec", "The specified partitionspec "
                                     "is not valid: '%s' given twice", keys[j]);
                v = values[j];
            }
        if (!v)
            return odps_fail(f, 400, "InvalidPartitionSpec", "The specified partitionspec is not "
                             "valid: no value for partition column '%s'", t->pcols[i].name);
        if (!*v || strpbrk(v, ",=/'\"\\"))
            return odps_fail(f, 400, "InvalidPartitionSpec", "The specified partitionspec is not "
                             "valid: bad value '%s' for '%s'", v, t->pcols[i].name);
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s=%s", i ? "," : "",
                              t->pcols[i].name, v);
    }
    if (n >= len)
        return odps_fail(f, 400, "InvalidPartitionSpec", "The specified partitionspec is too long");
    return 0;
}

static void
trim_into(char *out, size_t len, const char *s, size_t n)
{
    size_t k = 0;

    /* the SDKs strip quotes and spaces; so does the emulator */
    for (; n && (isspace((unsigned char)*s) || *s == '\'' || *s == '"'); s++, n--)
        ;
    for (; n && (isspace((unsigned char)s[n - 1]) || s[n - 1] == '\'' || s[n - 1] == '"'); n--)
        ;
    for (; n && k + 1 < len; s++, n--)
        out[k++] = *s;
    out[k] = '\0';
}

/* A spec as the tunnel's partition parameter carries it ("pt=1,hm=0005", '/' too). */
int
odps_spec_parse(const struct odps_table *t, const char *text, char *out, size_t len,
                struct odps_fail *f)
{
    char keys[ODPS_LEVELS_MAX][ODPS_NAME_MAX], values[ODPS_LEVELS_MAX][ODPS_VALUE_MAX];
    const char *p = text, *end, *eq;
    size_t count = 0;

    while (*p) {
        end = p + strcspn(p, ",/");
        eq = memchr(p, '=', (size_t)(end - p));
        if (!eq || count == ODPS_LEVELS_MAX)
            return odps_fail(f, 400, "InvalidPartitionSpec", "The specified partitionspec is not "
                             "valid: '%s'", text);
        trim_into(keys[count], ODPS_NAME_MAX, p, (size_t)(eq - p));
        trim_into(values[count], ODPS_VALUE_MAX, eq + 1, (size_t)(end - eq - 1));
        count++;
        p = *end ? end + 1 : end;
    }
    return odps_spec_canon(t, keys, values, count, out, len, f);
}

/* --- column lists (admin and the saved state) --- */

static bool
name_ok(const char *s)
{
    size_t n = strlen(s);

    if (!n || n >= ODPS_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* Reads [{"name","type"}] into *ret; 0, or -1 with why. */
static int
columns_read(const json_t *arr, bool partition, struct odps_column **ret, size_t *ret_count,
             char *why, size_t len)
{
    struct odps_column *cols;
    enum tunnel_type type;
    struct otsync_err err;
    const char *name, *ty;
    size_t i, n = json_array_size(arr);
    char *lower;

    *ret = NULL;
    *ret_count = 0;
    if (arr && !json_is_array(arr)) {
        snprintf(why, len, "%scolumns: expected an array", partition ? "partition_" : "");
        return -1;
    }
    cols = odps_xrealloc(NULL, (n ? n : 1) * sizeof(*cols));
    for (i = 0; i < n; i++) {
        name = json_string_value(json_object_get(json_array_get(arr, i), "name"));
        ty = json_string_value(json_object_get(json_array_get(arr, i), "type"));
        if (!name || !ty || !name_ok(name)) {
            snprintf(why, len, "%scolumns[%zu]: expected {\"name\": identifier, \"type\"}",
                     partition ? "partition_" : "", i);
            goto fail;
        }
        if (tunnel_type_parse(ty, &type, &err) < 0) {
            snprintf(why, len, "column '%s': %.300s", name, err.msg);
            goto fail;
        }
        cols[i].name = odps_xstrdup(name);
        cols[i].type = lower = odps_xstrdup(ty);
        for (; *lower; lower++)
            *lower = (char)tolower((unsigned char)*lower);
        *ret_count = i + 1;
    }
    *ret = cols;
    return 0;
fail:
    while (i--) {
        free(cols[i].name);
        free(cols[i].type);
    }
    free(cols);
    *ret_count = 0;
    return -1;
}

/* A new table in o (and its project); NULL with why when the definition is bad. */
static struct odps_table *
table_create(struct odps *o, const char *project, const char *name, const json_t *cols,
             const json_t *pcols, time_t created, char *why, size_t len)
{
    struct odps_table *t = odps_xrealloc(NULL, sizeof(*t));
    struct otsync_err err;
    size_t i, j;

    memset(t, 0, sizeof(*t));
    if (!name_ok(project) || !name_ok(name)) {
        snprintf(why, len, "project and table must be identifiers of 1 to %d characters",
                 ODPS_NAME_MAX - 1);
        goto fail;
    }
    if (odps_table_find(o, project, name, NULL)) {
        snprintf(why, len, "table %s.%s exists", project, name);
        goto fail;
    }
    t->project = odps_xstrdup(project);
    t->name = odps_xstrdup(name);
    if (columns_read(cols, false, &t->cols, &t->col_count, why, len) < 0
        || columns_read(pcols, true, &t->pcols, &t->pcol_count, why, len) < 0)
        goto fail;
    if (!t->col_count || t->pcol_count > ODPS_LEVELS_MAX) {
        snprintf(why, len, "a table needs 1 or more columns and at most %d partition columns",
                 ODPS_LEVELS_MAX);
        goto fail;
    }
    for (i = 0; i < t->col_count + t->pcol_count; i++)
        for (j = 0; j < i; j++) {
            const char *a = i < t->col_count ? t->cols[i].name : t->pcols[i - t->col_count].name;
            const char *b = j < t->col_count ? t->cols[j].name : t->pcols[j - t->col_count].name;

            if (strcasecmp(a, b) == 0) {
                snprintf(why, len, "column '%s' appears twice", a);
                goto fail;
            }
        }
    t->tcols = odps_xrealloc(NULL, t->col_count * sizeof(*t->tcols));
    for (i = 0; i < t->col_count; i++) {
        t->tcols[i].name = t->cols[i].name;
        if (tunnel_type_parse(t->cols[i].type, &t->tcols[i].type, &err) < 0)
            abort();    /* columns_read has parsed it already */
    }
    t->schema = (struct tunnel_schema){t->tcols, t->col_count, ODPS_MAX_FIELD_SIZE};
    t->created = t->modified = created;
    o->seq++;
    snprintf(t->id, sizeof(t->id), "%016llx%016llx", (unsigned long long)created,
             (unsigned long long)(o->seq * 0x9e3779b97f4a7c15ull));
    if (!t->pcol_count)
        odps_part_add(t, "", created);
    project_add(o, project, created);
    o->tables = odps_xrealloc(o->tables, (o->table_count + 1) * sizeof(*o->tables));
    o->tables[o->table_count++] = t;
    return t;
fail:
    table_free(t);
    return NULL;
}

/* --- signatures --- */

static const char *
secret_of(void *arg, const char *key_id)
{
    const struct emu *emu = arg;

    return strcmp(key_id, emu->key_id) == 0 ? emu->key_secret : NULL;
}

/* The request's signature (doc 2), its Date's freshness and the STS token when one is set. */
int
odps_verify(struct odps *o, const struct emu_req *req, const char *rel, struct odps_fail *f)
{
    struct odpssign_param params[EMU_MAX_HEADERS];
    struct odpssign_header headers[EMU_MAX_HEADERS];
    const char *auth = emu_req_header(req, "Authorization");
    const char *token = emu_req_header(req, ODPSSIGN_STS_HEADER);
    struct odpssign_req sr;
    struct otsync_err err;
    time_t when;
    size_t i;

    if (!auth)
        return odps_fail(f, 401, "Unauthorized", "The request authorization header is invalid or "
                         "missing");
    when = parse_date(emu_req_header(req, "Date"));
    if (when < 0)
        return odps_fail(f, 401, "Unauthorized", "The request has no RFC 1123 Date header");
    if (llabs((long long)(when - time(NULL))) > DATE_SKEW_MAX_S)
        return odps_fail(f, 401, "Unauthorized", "RequestTimeTooSkewed: the Date header is more "
                         "than %d minutes from the server's clock", DATE_SKEW_MAX_S / 60);
    for (i = 0; i < req->arg_count; i++)
        params[i] = (struct odpssign_param){req->args[i].name, req->args[i].value};
    for (i = 0; i < req->header_count; i++)
        headers[i] = (struct odpssign_header){req->headers[i].name, req->headers[i].value};
    sr = (struct odpssign_req){req->method, *rel ? rel : "/", params, req->arg_count, headers,
                               req->header_count};
    otsync_err_clear(&err);
    if (odpssign_verify(&sr, auth, secret_of, o->emu, &err) < 0) {
        log_info("odps: %s %s refused: %s", req->method, req->path, err.msg);
        return odps_fail(f, 401, "Unauthorized", "The request authorization header is invalid or "
                         "missing: %s", err.msg);
    }
    if (o->emu->sts_token && (!token || strcmp(token, o->emu->sts_token) != 0))
        return odps_fail(f, 401, "Unauthorized", "The STS token (%s header) is %s",
                         ODPSSIGN_STS_HEADER, token ? "not valid" : "missing");
    return 0;
}

/* --- routes and operation names --- */

/* The path relative to the endpoint: the service API lives under /api (doc 1.1). */
static const char *
rel_path(const char *path, bool tunnel)
{
    if (tunnel)
        return path;
    if (strncmp(path, "/api", 4) == 0 && (path[4] == '/' || !path[4]))
        return path + 4;
    return NULL;
}

enum odps_route
odps_route_of(const char *rel, struct odps_target *t)
{
    char segs[6][ODPS_NAME_MAX];
    size_t n = 0, k;
    const char *p = rel;

    memset(t, 0, sizeof(*t));
    while (p && *p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        k = strcspn(p, "/");
        if (n == 6 || k >= ODPS_NAME_MAX)
            return ODPS_ROUTE_NONE;
        snprintf(segs[n++], ODPS_NAME_MAX, "%.*s", (int)k, p);
        p += k;
    }
    if (n < 2 || strcmp(segs[0], "projects") != 0)
        return ODPS_ROUTE_NONE;
    snprintf(t->project, sizeof(t->project), "%s", segs[1]);
    /* the 3-level model's /schemas/<s>/ changes nothing here: one schema per project */
    if (n == 6 && strcmp(segs[2], "schemas") == 0 && strcmp(segs[4], "tables") == 0) {
        snprintf(t->table, sizeof(t->table), "%s", segs[5]);
        return t->route = ODPS_ROUTE_TABLE;
    }
    if (n == 2)
        return t->route = ODPS_ROUTE_PROJECT;
    if (n == 3 && strcmp(segs[2], "tunnel") == 0)
        return t->route = ODPS_ROUTE_TUNNEL;
    if (n == 3 && strcmp(segs[2], "instances") == 0)
        return t->route = ODPS_ROUTE_INSTANCES;
    if (n == 4 && strcmp(segs[2], "instances") == 0) {
        snprintf(t->instance, sizeof(t->instance), "%s", segs[3]);
        return t->route = ODPS_ROUTE_INSTANCE;
    }
    if (n == 4 && strcmp(segs[2], "tables") == 0) {
        snprintf(t->table, sizeof(t->table), "%s", segs[3]);
        return t->route = ODPS_ROUTE_TABLE;
    }
    return ODPS_ROUTE_NONE;
}

static const char *
api_op_name(const struct emu_req *req, struct odps_target *t)
{
    const char *rel = rel_path(req->path, false);
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

    switch (rel ? odps_route_of(rel, t) : ODPS_ROUTE_NONE) {
    case ODPS_ROUTE_PROJECT:
        return get ? "GetProject" : "Unknown";
    case ODPS_ROUTE_TUNNEL:
        return get ? "GetTunnelEndpoint" : "Unknown";
    case ODPS_ROUTE_TABLE:
        return !get ? "Unknown" : emu_req_arg(req, "partitions") ? "ListPartitions" : "GetTable";
    case ODPS_ROUTE_INSTANCES:
        return strcmp(req->method, "POST") == 0 ? "SqlTask" : "Unknown";
    case ODPS_ROUTE_INSTANCE:
        return get ? "GetInstance" : "Unknown";
    default:
        return "Unknown";
    }
}


static void
api_op(void *state, struct emu_req *req)
{
    struct odps_target t;

    (void)state;
    snprintf(req->op, sizeof(req->op), "%s", api_op_name(req, &t));
}


/* --- error answers (doc 7.1) --- */

static void
api_error(void *state, struct emu_req *req, struct emu_resp *resp, unsigned status,
          const char *code, const char *message)
{
    struct odps *o = state;
    size_t len;
    char *buf;
    FILE *f = open_memstream(&buf, &len);

    (void)req;
    if (!f)
        abort();
    odps_new_id(o, o->request_id, sizeof(o->request_id));
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>", f);
    odps_xml_escape(f, code);
    fputs("</Code><Message>", f);
    odps_xml_cdata(f, message);
    fprintf(f, "</Message><RequestId>%s</RequestId><HostId>otsync-emu</HostId></Error>\n",
            o->request_id);
    emu_resp_header(resp, "x-odps-request-id", "%s", o->request_id);
    odps_resp_stream(resp, status, "application/xml", f, &buf, &len);
}


/* --- the service API --- */

static json_t *
schema_columns_json(const struct odps_column *cols, size_t n)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:b, s:n, s:b}", "name",
                                             cols[i].name, "type", cols[i].type, "comment", "",
                                             "label", "", "isNullable", 1, "defaultValue",
                                             "hasGenerateExpression", 0));
    return arr;
}

static int
api_get_table(struct odps *o, struct odps_table *t, struct emu_resp *resp)
{
    json_t *schema;
    uint64_t records = 0, bytes = 0;
    size_t i, j, len;
    char *buf, *json, d1[32], d2[32];
    FILE *f;

    (void)o;
    for (i = 0; i < t->part_count; i++)
        for (j = 0; j < t->parts[i].block_count; j++) {
            records += t->parts[i].blocks[j].count;
            bytes += t->parts[i].blocks[j].len;
        }
    schema = json_pack("{s:o, s:o, s:s, s:s, s:s, s:i, s:b, s:b, s:I, s:I, s:b, s:i, s:s, "
                       "s:I, s:I, s:I, s:I, s:s}",
                       "columns", schema_columns_json(t->cols, t->col_count),
                       "partitionKeys", schema_columns_json(t->pcols, t->pcol_count),
                       "tableName", t->name, "comment", "", "owner", ODPS_OWNER, "lifecycle", -1,
                       "isVirtualView", 0, "isExternal", 0, "size", (json_int_t)bytes,
                       "recordNum", (json_int_t)records, "shardExist", 0, "hubLifecycle", -1,
                       "tableLabel", "", "createTime", (json_int_t)t->created,
                       "lastModifiedTime", (json_int_t)t->modified,
                       "lastDDLTime", (json_int_t)t->modified,
                       "lastAccessTime", (json_int_t)t->modified,
                       "Reserved", "{\"Transactional\":\"false\"}");
    json = schema ? json_dumps(schema, JSON_COMPACT) : NULL;
    json_decref(schema);
    if (!json || !(f = open_memstream(&buf, &len)))
        abort();
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Table>\n  <Name>", f);
    odps_xml_escape(f, t->name);
    fprintf(f, "</Name>\n  <TableId>%s</TableId>\n  <Comment/>\n  <Owner>%s</Owner>\n"
            "  <Project>", t->id, ODPS_OWNER);
    odps_xml_escape(f, t->project);
    fprintf(f, "</Project>\n  <CreationTime>%s</CreationTime>\n"
            "  <LastModifiedTime>%s</LastModifiedTime>\n  <Type>MANAGED_TABLE</Type>\n"
            "  <Schema format=\"Json\">", odps_date(t->created, d1, sizeof(d1)),
            odps_date(t->modified, d2, sizeof(d2)));
    odps_xml_escape(f, json);
    fputs("</Schema>\n</Table>\n", f);
    free(json);
    odps_resp_stream(resp, 200, "application/xml", f, &buf, &len);
    return 0;
}

/* GET ?partitions[&partition=<parent spec>][&marker=<n>][&maxitems=<n>] (doc 4.2) */
static int
api_list_partitions(struct odps_table *t, const struct emu_req *req, struct emu_resp *resp,
                    struct odps_fail *fl)
{
    const char *parent = odps_arg(req, "partition"), *v;
    char prefix[ODPS_SPEC_MAX] = "";
    unsigned long start = 0, max = PARTITIONS_PAGE, shown = 0;
    const char *s, *end;
    size_t i, len, n;
    char *buf;
    FILE *f;

    if ((v = odps_arg(req, "marker")) && *v)
        start = strtoul(v, NULL, 10);
    if ((v = odps_arg(req, "maxitems")) && *v)
        max = strtoul(v, NULL, 10);
    if (!max)
        max = PARTITIONS_PAGE;
    /* an unpartitioned table lists as empty: its one internal partition has no spec */
    if (parent && *parent) {
        /* a parent spec names the leading levels; compare it as the canonical text's prefix */
        for (i = 0, n = 0, s = parent; *s; s = *end ? end + 1 : end, i++) {
            char kv[ODPS_NAME_MAX + ODPS_VALUE_MAX + 2], key[ODPS_NAME_MAX];
            char val[ODPS_VALUE_MAX];
            const char *eq;

            end = s + strcspn(s, ",/");
            snprintf(kv, sizeof(kv), "%.*s", (int)(end - s), s);
            if (i >= t->pcol_count || !(eq = strchr(kv, '=')))
                return odps_fail(fl, 400, "InvalidPartitionSpec", "The specified partitionspec is "
                                 "not valid: '%s'", parent);
            trim_into(key, sizeof(key), kv, (size_t)(eq - kv));
            trim_into(val, sizeof(val), eq + 1, strlen(eq + 1));
            if (strcasecmp(key, t->pcols[i].name) != 0)
                return odps_fail(fl, 400, "InvalidPartitionSpec", "The specified partitionspec is "
                                 "not valid: '%s' is not level %zu", key, i + 1);
            n += (size_t)snprintf(prefix + n, n < sizeof(prefix) ? sizeof(prefix) - n : 0,
                                  "%s%s=%s", i ? "," : "", t->pcols[i].name, val);
            if (n >= sizeof(prefix))
                return odps_fail(fl, 400, "InvalidPartitionSpec", "partition spec too long");
        }
    }
    if (!(f = open_memstream(&buf, &len)))
        abort();
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Partitions>\n", f);
    n = strlen(prefix);
    for (i = start; i < t->part_count && shown <= max; i++) {
        const struct odps_part *p = &t->parts[i];
        const char *q;

        if (!t->pcol_count
            || (n && (strncmp(p->spec, prefix, n) != 0 || (p->spec[n] && p->spec[n] != ','))))
            continue;
        if (shown == max) {
            fprintf(f, "  <Marker>%zu</Marker>\n", i);
            break;
        }
        shown++;
        fputs("  <Partition>\n", f);
        for (q = p->spec; *q; q = *q ? q + 1 : q) {
            size_t k = strcspn(q, "="), m;
            char name[ODPS_NAME_MAX], value[ODPS_VALUE_MAX];

            m = strcspn(q + k + 1, ",");
            snprintf(name, sizeof(name), "%.*s", (int)k, q);
            snprintf(value, sizeof(value), "%.*s", (int)m, q + k + 1);
            fputs("    <Column Name=\"", f);
            xml_put(f, name, true);
            fputs("\" Value=\"", f);
            xml_put(f, value, true);
            fputs("\"/>\n", f);
            q += k + 1 + m;
        }
        fprintf(f, "    <CreationTime>%lld</CreationTime>\n"
                "    <LastDDLTime>%lld</LastDDLTime>\n"
                "    <LastModifiedTime>%lld</LastModifiedTime>\n  </Partition>\n",
                (long long)p->created, (long long)p->created, (long long)p->modified);
    }
    if (i >= t->part_count || shown < max)
        fputs("  <Marker/>\n", f);
    fprintf(f, "  <MaxItems>%lu</MaxItems>\n</Partitions>\n", max);
    odps_resp_stream(resp, 200, "application/xml", f, &buf, &len);
    return 0;
}





static int
api_route(struct odps *o, struct emu_req *req, struct emu_resp *resp, struct odps_fail *f)
{
    struct odps_target tg;
    struct odps_table *t;
    struct odps_project *p;
    const char *op = api_op_name(req, &tg), *host;
    char d[32], *buf;
    size_t len, hl;
    FILE *fs;

    if (strcmp(op, "Unknown") == 0)
        return odps_fail(f, tg.route == ODPS_ROUTE_NONE ? 404 : 405,
                         tg.route == ODPS_ROUTE_NONE ? "NoSuchObject" : "MethodNotAllowed",
                         "otsync-emu does not emulate %s %s", req->method, req->path);
    if (!(p = odps_project_find(o, tg.project)))
        return odps_fail(f, 404, "NoSuchObject", "ODPS-0420111: Project not found - '%s'",
                         tg.project);
    if (strcmp(op, "GetProject") == 0) {
        if (!(fs = open_memstream(&buf, &len)))
            abort();
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Project><Name>", fs);
        odps_xml_escape(fs, p->name);
        fprintf(fs, "</Name><Type>managed</Type><Comment/><State>AVAILABLE</State>"
                "<Owner>%s</Owner><CreationTime>%s</CreationTime></Project>\n", ODPS_OWNER,
                odps_date(p->created, d, sizeof(d)));
        odps_resp_stream(resp, 200, "application/xml", fs, &buf, &len);
        return 0;
    }
    if (strcmp(op, "GetTunnelEndpoint") == 0) {
        /* host:port, no scheme (doc 1.2): the host the client reached us by, the tunnel's port */
        host = emu_req_header(req, "Host");
        hl = host ? strcspn(host, ":") : 0;
        if (host && host[0] == '[')
            hl = strcspn(host, "]") + 1;
        if (asprintf(&buf, "%.*s:%u", (int)(hl ? hl : 9), hl ? host : "127.0.0.1",
                     o->tunnel->port) < 0)
            abort();
        emu_resp_header(resp, "Content-Type", "text/plain");
        emu_resp_take(resp, 200, buf, strlen(buf));
        return 0;
    }
    if (strcmp(op, "SqlTask") == 0)
        return odps_instance_create(o, p->name, req, resp, f);
    if (strcmp(op, "GetInstance") == 0)
        return odps_instance_get(o, &tg, req, resp, f);
    if (!(t = odps_table_find(o, tg.project, tg.table, NULL)))
        return odps_fail(f, 404, "NoSuchObject", "ODPS-0130131:Table not found - '%s.%s'",
                         tg.project, tg.table);
    if (strcmp(op, "ListPartitions") == 0)
        return api_list_partitions(t, req, resp, f);
    return api_get_table(o, t, resp);
}

static void
api_handle(void *state, struct emu_req *req, struct emu_resp *resp)
{
    struct odps *o = state;
    const char *rel = rel_path(req->path, false);
    struct odps_fail f;

    if (rel && odps_verify(o, req, rel, &f) == 0 && api_route(o, req, resp, &f) == 0) {
        odps_new_id(o, o->request_id, sizeof(o->request_id));
        emu_resp_header(resp, "x-odps-request-id", "%s", o->request_id);
        return;
    }
    if (!rel)
        odps_fail(&f, 404, "NoSuchObject", "the service API lives under /api");
    api_error(o, req, resp, f.status, f.code, f.msg);
}

/* --- admin: /_emu/odps/... and /_emu/tunnel/... --- */

static json_t *
real_json(double d)
{
    /* JSON has no NaN or infinities; tests compare these as strings */
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

static json_t *
base64_json(const char *p, size_t n)
{
    char *b = odps_xrealloc(NULL, 4 * ((n + 2) / 3) + 1);
    json_t *j;

    sign_base64(p, n, b);
    j = json_string(b);
    free(b);
    return j;
}

static json_t *
value_json(enum tunnel_type type, const struct tunnel_value *v)
{
    json_t *j;

    switch (v->kind) {
    case TUNNEL_VAL_INT:
        return json_integer(v->u.i);
    case TUNNEL_VAL_DOUBLE:
        return real_json(v->u.d);
    case TUNNEL_VAL_FLOAT:
        return real_json(v->u.f);
    case TUNNEL_VAL_BOOL:
        return json_boolean(v->u.b);
    case TUNNEL_VAL_TIME:
        return json_pack("{s:I, s:i}", "seconds", (json_int_t)v->u.t.sec, "nanos", v->u.t.nanos);
    case TUNNEL_VAL_BYTES:
        if (type == TUNNEL_TYPE_BINARY)
            return base64_json(v->u.s.ptr, v->u.s.len);
        if ((j = json_stringn(v->u.s.ptr, v->u.s.len)))
            return j;
        /* text that is not UTF-8 cannot be a JSON string: say so and keep the bytes */
        return json_pack("{s:o}", "base64", base64_json(v->u.s.ptr, v->u.s.len));
    default:
        return json_null();
    }
}

struct dump {
    const struct odps_table *t;
    const struct odps_part *p;  /* its values follow each row when dumping every partition */
    json_t *rows;
};

static int
dump_record(void *arg, uint64_t index, const struct tunnel_value *values, size_t count)
{
    struct dump *d = arg;
    json_t *row = json_array();
    const char *q;
    size_t i, k;

    (void)index;
    for (i = 0; i < count; i++)
        json_array_append_new(row, value_json(d->t->tcols[i].type, &values[i]));
    for (q = d->p ? d->p->spec : ""; *q; q += *q ? 1 : 0) {
        q += strcspn(q, "=") + 1;
        k = strcspn(q, ",");
        json_array_append_new(row, json_stringn(q, k));
        q += k;
    }
    json_array_append_new(d->rows, row);
    return 0;
}

static int
dump_part(struct dump *d, const struct odps_part *p, bool with_spec)
{
    struct otsync_err err;
    size_t i;

    d->p = with_spec ? p : NULL;
    for (i = 0; i < p->block_count; i++)
        if (tunnel_decode(&d->t->schema, p->blocks[i].data, p->blocks[i].len, dump_record, d,
                          NULL, &err) < 0) {
            log_error("odps: stored block of %s.%s no longer decodes: %s", d->t->project,
                      d->t->name, err.msg);
            return -1;
        }
    return 0;
}

/* The table that an admin call's project= and table= name; NULL with the answer given. */
static struct odps_table *
admin_table(struct odps *o, const struct emu_req *req, struct emu_resp *resp, size_t *ret_i)
{
    const char *project = odps_arg(req, "project"), *table = odps_arg(req, "table");
    struct odps_table *t;

    if (!project || !table) {
        emu_resp_json(resp, 400, json_pack("{s:s}", "error", "give project= and table="));
        return NULL;
    }
    if (!(t = odps_table_find(o, project, table, ret_i)))
        emu_resp_json(resp, 404, json_pack("{s:s}", "error", "no such table"));
    return t;
}

/* The partition= of an admin call, canonical; false with the answer given. */
static bool
admin_spec(const struct odps_table *t, const struct emu_req *req, struct emu_resp *resp,
           bool required, char *spec, size_t len)
{
    const char *given = odps_arg(req, "partition");
    struct odps_fail f;

    spec[0] = '\0';
    if ((!given || !*given) && (!required || !t->pcol_count))
        return true;
    if (!t->pcol_count) {
        emu_resp_json(resp, 400, json_pack("{s:s}", "error", "the table is not partitioned"));
        return false;
    }
    if (!given || odps_spec_parse(t, given, spec, len, &f) < 0) {
        emu_resp_json(resp, 400, json_pack("{s:s}", "error", given ? f.msg : "give partition="));
        return false;
    }
    return true;
}

static void
admin_create_table(struct odps *o, const struct emu_req *req, struct emu_resp *resp)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
    const char *project = json_string_value(json_object_get(j, "project"));
    const char *table = json_string_value(json_object_get(j, "table"));
    struct odps_table *t;
    char why[512];

    if (!j || !project || !table) {
        emu_resp_json(resp, 400, json_pack("{s:s}", "error", j ? "give project and table"
                                           : jerr.text));
        json_decref(j);
        return;
    }
    t = table_create(o, project, table, json_object_get(j, "columns"),
                     json_object_get(j, "partition_columns"), time(NULL), why, sizeof(why));
    json_decref(j);
    if (!t) {
        emu_resp_json(resp, strstr(why, "exists") ? 409 : 400,
                      json_pack("{s:s}", "error", why));
        return;
    }
    emu_resp_json(resp, 201, json_pack("{s:s, s:s, s:s}", "project", t->project, "table",
                                       t->name, "table_id", t->id));
}

static void
odps_admin(void *state, struct emu_req *req, const char *what, struct emu_resp *resp)
{
    struct odps *o = state;
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    bool del = strcmp(req->method, "DELETE") == 0;
    const char *id;
    struct odps_table *t;
    struct odps_part *p;
    struct dump d;
    json_t *list;
    char spec[ODPS_SPEC_MAX];
    size_t i;

    if (post && strcmp(what, "tables") == 0) {
        admin_create_table(o, req, resp);
        return;
    }
    if (post && strcmp(what, "projects") == 0 && (id = odps_arg(req, "project"))
        && name_ok(id)) {
        project_add(o, id, time(NULL));
        emu_resp_json(resp, 201, json_pack("{s:s}", "project", id));
        return;
    }
    if (post && strcmp(what, "expire") == 0) {
        /* lets a test reach the 24-hour expiry (doc 5.6) without waiting for it */
        odps_sessions_expire(o, odps_arg(req, "uploadid"));
        emu_resp_json(resp, 200, json_object());
        return;
    }
    if (!(get && strcmp(what, "dump") == 0) && !(strcmp(what, "tables") == 0 && del)
        && !(strcmp(what, "partitions") == 0 && (get || post || del))) {
        emu_resp_json(resp, 404, json_pack("{s:s}", "error", "no such odps admin call"));
        return;
    }
    if (!(t = admin_table(o, req, resp, &i)))
        return;
    if (del && strcmp(what, "tables") == 0) {
        table_free(t);
        memmove(&o->tables[i], &o->tables[i + 1], (o->table_count - i - 1) * sizeof(t));
        o->table_count--;
        emu_resp_json(resp, 200, json_object());
        return;
    }
    if (!admin_spec(t, req, resp, !get, spec, sizeof(spec)))
        return;
    p = odps_part_find(t, spec);
    if (get && strcmp(what, "partitions") == 0) {
        list = json_array();
        for (i = 0; i < t->part_count && t->pcol_count; i++)
            json_array_append_new(list, json_string(t->parts[i].spec));
        emu_resp_json(resp, 200, json_pack("{s:o}", "partitions", list));
    } else if (post) {
        if (p) {
            emu_resp_json(resp, 409, json_pack("{s:s}", "error", "the partition exists"));
            return;
        }
        odps_part_add(t, spec, time(NULL));
        emu_resp_json(resp, 201, json_pack("{s:s}", "partition", spec));
    } else if (!p && (del || *spec)) {
        emu_resp_json(resp, 404, json_pack("{s:s}", "error", "no such partition"));
    } else if (del) {
        odps_part_drop(t, p);
        emu_resp_json(resp, 200, json_object());
    } else {
        /* dump: one partition's rows, or with no partition= every partition's, values added */
        d = (struct dump){t, NULL, json_array()};
        for (i = 0; i < t->part_count; i++)
            if ((p && &t->parts[i] == p) || !p)
                if (dump_part(&d, &t->parts[i], !p && t->pcol_count) < 0) {
                    json_decref(d.rows);
                    emu_resp_json(resp, 500, json_pack("{s:s}", "error", "stored data broken"));
                    return;
                }
        emu_resp_json(resp, 200, json_pack("{s:o}", "rows", d.rows));
    }
}

/* --- --data: odps.json --- */

static json_t *
columns_save(const struct odps_column *cols, size_t n)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "name", cols[i].name, "type",
                                             cols[i].type));
    return arr;
}

static int
odps_save(void *state, const char *dir)
{
    struct odps *o = state;
    json_t *root, *projects = json_array(), *tables = json_array(), *parts, *blocks;
    const struct odps_table *t;
    size_t i, j, k;
    char *text;
    int rc;

    for (i = 0; i < o->project_count; i++)
        json_array_append_new(projects, json_pack("{s:s, s:I}", "name", o->projects[i].name,
                                                  "created",
                                                  (json_int_t)o->projects[i].created));
    for (i = 0; i < o->table_count; i++) {
        t = o->tables[i];
        parts = json_array();
        for (j = 0; j < t->part_count; j++) {
            blocks = json_array();
            for (k = 0; k < t->parts[j].block_count; k++)
                json_array_append_new(blocks, base64_json((const char *)t->parts[j].blocks[k]
                                                          .data, t->parts[j].blocks[k].len));
            json_array_append_new(parts, json_pack("{s:s, s:I, s:I, s:o}", "spec",
                                                   t->parts[j].spec, "created",
                                                   (json_int_t)t->parts[j].created, "modified",
                                                   (json_int_t)t->parts[j].modified, "blocks",
                                                   blocks));
        }
        json_array_append_new(tables, json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o}",
                                                "project", t->project, "table", t->name,
                                                "created", (json_int_t)t->created,
                                                "modified", (json_int_t)t->modified,
                                                "columns", columns_save(t->cols, t->col_count),
                                                "partition_columns",
                                                columns_save(t->pcols, t->pcol_count),
                                                "partitions", parts));
    }
    /* blocks are the record streams as received, in base64: exact, and re-checked on load */
    root = json_pack("{s:s, s:o, s:o}", "format", SAVE_FORMAT, "projects", projects, "tables",
                     tables);
    text = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
    json_decref(root);
    if (!text) {
        log_error("odps: cannot build %s", SAVE_FILE);
        return -1;
    }
    rc = emu_save_file(dir, SAVE_FILE, text, strlen(text));
    free(text);
    return rc;
}

/* One saved table with its partitions and blocks; -1 (logged) when anything does not fit. */
static int
load_table(struct odps *o, const json_t *jt)
{
    const char *spec, *b64;
    struct odps_table *t;
    struct odps_part *p;
    struct odps_block b;
    struct otsync_err err;
    struct odps_fail f;
    json_t *jp, *jb;
    size_t i, j;
    char why[512], canon[ODPS_SPEC_MAX];
    long n;

    t = table_create(o, json_string_value(json_object_get(jt, "project")) ?: "",
                     json_string_value(json_object_get(jt, "table")) ?: "",
                     json_object_get(jt, "columns"), json_object_get(jt, "partition_columns"),
                     (time_t)json_integer_value(json_object_get(jt, "created")), why,
                     sizeof(why));
    if (!t) {
        log_error("odps: %s: a saved table: %s", SAVE_FILE, why);
        return -1;
    }
    t->modified = (time_t)json_integer_value(json_object_get(jt, "modified"));
    json_array_foreach(json_object_get(jt, "partitions"), i, jp) {
        if (!(spec = json_string_value(json_object_get(jp, "spec")))
            || (!*spec != !t->pcol_count)) {
            log_error("odps: %s: %s.%s: a partition without a fitting spec", SAVE_FILE,
                      t->project, t->name);
            return -1;
        }
        if (t->pcol_count && odps_spec_parse(t, spec, canon, sizeof(canon), &f) < 0) {
            log_error("odps: %s: %s.%s: partition '%s': %s", SAVE_FILE, t->project, t->name,
                      spec, f.msg);
            return -1;
        }
        spec = t->pcol_count ? canon : "";
        if (!(p = odps_part_find(t, spec)))
            p = odps_part_add(t, spec, (time_t)json_integer_value(json_object_get(jp, "created")));
        json_array_foreach(json_object_get(jp, "blocks"), j, jb) {
            b64 = json_string_value(jb) ?: "";
            b.data = odps_xrealloc(NULL, 3 * (strlen(b64) / 4) + 1);
            if ((n = sign_unbase64(b64, strlen(b64), b.data)) < 0
                || tunnel_decode(&t->schema, b.data, (size_t)n, NULL, NULL, &b.count,
                                 &err) < 0) {
                log_error("odps: %s: %s.%s %s: block %zu is damaged", SAVE_FILE, t->project,
                          t->name, spec, j);
                free(b.data);
                return -1;
            }
            b.len = (size_t)n;
            odps_part_append(p, &b);
        }
        p->modified = (time_t)json_integer_value(json_object_get(jp, "modified"));
    }
    return 0;
}

static int
odps_load(void *state, const char *dir)
{
    struct odps *o = state;
    json_error_t jerr;
    json_t *root, *v;
    size_t len, i;
    char *text = emu_load_file(dir, SAVE_FILE, &len);
    int rc = 0;

    if (!text)
        return 0;   /* nothing saved yet; a read error was logged and fails below */
    root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root || !json_is_string(json_object_get(root, "format"))
        || strcmp(json_string_value(json_object_get(root, "format")), SAVE_FORMAT) != 0) {
        log_error("odps: %s/%s: %s", dir, SAVE_FILE, root ? "not " SAVE_FORMAT : jerr.text);
        json_decref(root);
        return -1;
    }
    json_array_foreach(json_object_get(root, "projects"), i, v)
        if (json_string_value(json_object_get(v, "name")))
            project_add(o, json_string_value(json_object_get(v, "name")),
                        (time_t)json_integer_value(json_object_get(v, "created")));
    json_array_foreach(json_object_get(root, "tables"), i, v)
        if ((rc = load_table(o, v)) < 0)
            break;
    json_decref(root);
    return rc;
}

/* --- life --- */

static void
odps_destroy(void *state)
{
    struct odps *o = state;
    size_t i;

    if (!o)
        return;
    for (i = 0; i < o->table_count; i++)
        table_free(o->tables[i]);
    for (i = 0; i < o->project_count; i++)
        free(o->projects[i].name);
    odps_sessions_free(o);
    odps_instances_free(o);
    free(o->tables);
    free(o->projects);
    free(o);
}

int
emu_odps_new(struct emu *emu, struct emu_service **ret_api, struct emu_service **ret_tunnel)
{
    struct odps *o = calloc(1, sizeof(*o));
    struct emu_service *api = calloc(1, sizeof(*api)), *tun = calloc(1, sizeof(*tun));

    *ret_api = *ret_tunnel = NULL;
    if (!o || !api || !tun) {
        free(o);
        free(api);
        free(tun);
        return -1;
    }
    o->emu = emu;
    o->api = api;
    o->tunnel = tun;
    *api = (struct emu_service){.name = "odps", .emu = emu, .state = o, .op = api_op,
                                .handle = api_handle, .error = api_error, .admin = odps_admin,
                                .save = odps_save, .load = odps_load, .destroy = odps_destroy};
    /* the tunnel shares the state and saves nothing of its own: sessions are memory only */
    *tun = (struct emu_service){.name = "tunnel", .emu = emu, .state = o, .op = odps_tunnel_op,
                                .handle = odps_tunnel_handle, .error = odps_tunnel_error,
                                .admin = odps_admin};
    *ret_api = api;
    *ret_tunnel = tun;
    return 0;
}
