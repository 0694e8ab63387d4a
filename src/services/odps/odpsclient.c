/*
 * odpsclient.c - the MaxCompute client of odpsclient.h: one `struct call` per operation, which
 * sends its requests through net one after another and reads the answers.
 *
 * Owns: URLs, signatures, the answers' XML and JSON, error messages, the retry policy (doc
 * 7.3, see the header). Leaves to others: HTTP and its retries (net), block bytes (tunnel),
 * deciding what to upload (the writer).
 *
 * The service's XML is read by looking for the few elements the protocol names rather than by
 * a general parser: the answers are small, machine-made and flat where we read them, and the
 * one nested document (the table schema) is JSON inside an element.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>
#include "otsync/odpsclient.h"
#include "otsync/odpssign.h"

#define TUNNEL_VERSION "6"
#define URL_MAX 4096
#define HEADERS_MAX 8
#define PARAMS_MAX 8
#define SPEC_MAX 1024
#define COMMIT_TRIES 3              /* POSTs of one commit, each judged by a reload */

struct odpsclient {
    struct net *net;
    char *endpoint;             /* the service API, no trailing '/' */
    char *tunnel;               /* NULL until known */
    char *project;
    char *key_id, *secret, *token;
    int max_attempts;
    long backoff_base_ms;
};

struct odpsclient_upload {
    struct odpsclient *c;
    char *table, *spec, *id;
    struct tunnel_schema schema;
    struct tunnel_column *cols;
};

/* How one request is retried. */
struct policy {
    int max_attempts;
    long attempt_timeout_ms, deadline_ms, backoff_base_ms, backoff_max_ms;
    bool poll;                  /* an SQL instance: "not Terminated yet" is retried too */
};

struct call;
typedef void (*call_step)(struct call *k, const struct net_response *r, enum net_verdict v,
                          const struct otsync_err *nerr);

struct call {
    struct odpsclient *c;
    call_step step;             /* reads the answer of the request in flight */
    char what[160];             /* "GET table t", for messages */
    bool poll;
    void *arg;
    odpsclient_done_cb done;
    odpsclient_table_cb table_cb;
    odpsclient_partitions_cb parts_cb;
    odpsclient_upload_cb upload_cb;
    odpsclient_status_cb status_cb;
    char *table, *spec;
    struct odpsclient_upload *u;
    char instance[512];         /* the SQL instance's path */
    char **specs;               /* partitions so far */
    size_t spec_count;
    char marker[64];
    unsigned *ids;              /* commit: the caller's block ids */
    size_t id_count;
    int commit_posts;
};

/* ---------------------------------------------------------------- small helpers */

static void
cleanse(char *s)
{
    volatile char *p = s;

    while (p && *p)
        *p++ = '\0';
}

/* Percent-encodes s into b (unreserved characters kept, doc 1.4); false when it overflows. */
static bool
url_escape(char *b, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char ch;

    for (; *s; s++) {
        ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            if (*pos + 1 >= cap)
                return false;
            b[(*pos)++] = (char)ch;
        } else {
            if (*pos + 3 >= cap)
                return false;
            b[(*pos)++] = '%';
            b[(*pos)++] = hex[ch >> 4];
            b[(*pos)++] = hex[ch & 15];
        }
    }
    b[*pos] = '\0';
    return true;
}

static bool
url_add(char *b, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);

    if (*pos + n >= cap)
        return false;
    memcpy(b + *pos, s, n + 1);
    *pos += n;
    return true;
}

/* Decodes the five XML entities and numeric ones below 128 in place; unwraps CDATA. */
static void
xml_unescape(char *s)
{
    char *r = s, *w = s, *end;
    size_t n;
    long v;

    if (strncmp(r, "<![CDATA[", 9) == 0 && (end = strstr(r + 9, "]]>"))) {
        n = (size_t)(end - r - 9);
        memmove(s, r + 9, n);
        s[n] = '\0';
        return;
    }
    while (*r) {
        if (*r != '&') {
            *w++ = *r++;
            continue;
        }
        if (strncmp(r, "&amp;", 5) == 0) {
            *w++ = '&';
            r += 5;
        } else if (strncmp(r, "&lt;", 4) == 0) {
            *w++ = '<';
            r += 4;
        } else if (strncmp(r, "&gt;", 4) == 0) {
            *w++ = '>';
            r += 4;
        } else if (strncmp(r, "&quot;", 6) == 0) {
            *w++ = '"';
            r += 6;
        } else if (strncmp(r, "&apos;", 6) == 0) {
            *w++ = '\'';
            r += 6;
        } else if (r[1] == '#' && (v = strtol(r + 2 + (r[2] == 'x'), &end, r[2] == 'x' ? 16 : 10))
                   > 0 && v < 128 && *end == ';') {
            *w++ = (char)v;
            r = end + 1;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/*
 * The text of the first element named tag at or after from (before limit, when given), entities
 * decoded: new memory, or NULL when absent. "<tag/>" gives "".
 */
static char *
xml_text(const char *from, const char *limit, const char *tag)
{
    size_t tl = strlen(tag);
    const char *p = from, *start, *end;
    char close[64], *out;

    if (tl + 4 > sizeof(close))
        return NULL;
    snprintf(close, sizeof(close), "</%s>", tag);
    for (; (p = strchr(p, '<')); p++) {
        if (limit && p >= limit)
            return NULL;
        if (strncmp(p + 1, tag, tl) != 0 || !strchr(" >/", p[1 + tl]))
            continue;
        if (!(start = strchr(p, '>')))
            return NULL;
        if (start[-1] == '/')
            return strdup("");
        start++;
        if (!(end = strstr(start, close)) || (limit && end > limit))
            return NULL;
        if (!(out = strndup(start, (size_t)(end - start))))
            return NULL;
        xml_unescape(out);
        return out;
    }
    return NULL;
}

/* An attribute's value inside one tag (from points at its '<'): new memory or NULL. */
static char *
xml_attr(const char *from, const char *name)
{
    const char *end = strchr(from, '>'), *p = from, *q;
    size_t nl = strlen(name);
    char *out;

    while (end && (p = strstr(p, name)) && p < end) {
        if (isspace((unsigned char)p[-1]) && p[nl] == '=' && (p[nl + 1] == '"' || p[nl + 1] == '\'')
            && (q = strchr(p + nl + 2, p[nl + 1])) && q < end) {
            if (!(out = strndup(p + nl + 2, (size_t)(q - p - nl - 2))))
                return NULL;
            xml_unescape(out);
            return out;
        }
        p += nl;
    }
    return NULL;
}

/* The service's Code and Message from an error answer: tunnel JSON or service XML (doc 7.1). */
static void
error_fields(const struct net_response *r, char *code, size_t code_len, char *msg, size_t msg_len)
{
    json_t *j = NULL;
    char *c = NULL, *m = NULL;

    code[0] = msg[0] = '\0';
    if (r->body_len && r->body[strspn(r->body, " \t\r\n")] == '{'
        && (j = json_loadb(r->body, r->body_len, 0, NULL))) {
        snprintf(code, code_len, "%s", json_string_value(json_object_get(j, "Code")) ?: "");
        snprintf(msg, msg_len, "%s", json_string_value(json_object_get(j, "Message")) ?: "");
        json_decref(j);
        return;
    }
    if ((c = xml_text(r->body, NULL, "Code")))
        snprintf(code, code_len, "%s", c);
    if ((m = xml_text(r->body, NULL, "Message")))
        snprintf(msg, msg_len, "%s", m);
    else if (r->body_len)
        snprintf(msg, msg_len, "%.200s", r->body);
    free(c);
    free(m);
}

/*
 * The call's error from a failed answer, in err; returns its negative code. 401/403 are
 * -OTSYNC_EAUTH, 404 -OTSYNC_ENOENT, other refusals -OTSYNC_EPROTO; retries that ran out keep
 * net's -OTSYNC_ERETRY, as does a transport error.
 */
static int
call_error(const struct call *k, const struct net_response *r, const struct otsync_err *nerr,
           struct otsync_err *err)
{
    char code[128], msg[600], tries[48] = "";
    int rc = nerr && nerr->code ? nerr->code : OTSYNC_EPROTO;

    if (!r || r->status == 0)
        return otsync_err_set(err, rc, "%s: %s", k->what, nerr && nerr->msg[0] ? nerr->msg
                              : otsync_strerror(rc));
    error_fields(r, code, sizeof(code), msg, sizeof(msg));
    if (r->status == 401 || r->status == 403)
        rc = OTSYNC_EAUTH;
    else if (r->status == 404)
        rc = OTSYNC_ENOENT;
    if (r->attempts > 1)
        snprintf(tries, sizeof(tries), " (after %d attempts)", r->attempts);
    return otsync_err_set(err, rc, "%s: HTTP %ld%s%s%s%s%s", k->what, r->status, code[0] ? " " : "",
                          code, msg[0] ? ": " : "", msg, tries);
}

/* ---------------------------------------------------------------- sending */

static enum net_verdict
classify(void *arg, const struct net_response *r)
{
    struct call *k = arg;
    char code[128], msg[8];

    if (r->status >= 200 && r->status < 300) {
        /* an SQL instance still running: ask again after net's backoff */
        if (k->poll && !strstr(r->body, "<Status>Terminated</Status>"))
            return NET_RETRY;
        return NET_OK;
    }
    if (r->status == 408 || r->status == 429 || r->status >= 500)
        return NET_RETRY;
    if (r->status == 409) {
        /* the tunnel's "replication in progress, retry later" (doc 7.2) */
        error_fields(r, code, sizeof(code), msg, sizeof(msg));
        if (strcmp(code, "DataVersionConflict") == 0 || strcmp(code, "DataUnderReplication") == 0)
            return NET_RETRY;
    }
    return NET_FAIL;
}

static void
on_net_done(void *arg, const struct net_response *r, enum net_verdict v,
            const struct otsync_err *err)
{
    struct call *k = arg;

    k->step(k, r, v, err);
}

static const struct policy POLICY_API = {0, 30000, 300000, 0, 10000, false};
/* the Date signed once must stay within the service's 15 minutes of skew */
static const struct policy POLICY_POLL = {300, 30000, 600000, 200, 3000, true};
static const struct policy POLICY_ONCE = {1, 60000, 60000, 0, 0, false};
/* a 512 MiB block at a slow 2 MB/s takes minutes; the Date signed stays within the service's
 * 15 minutes of skew because all attempts share one deadline */
static const struct policy POLICY_BLOCK = {0, 600000, 840000, 0, 32000, false};

/*
 * Sends one signed request for k; its answer goes to step. path is relative to the endpoint
 * and not escaped; params exclude curr_project, which every request gets (doc 1.4).
 */
static int
send_req(struct call *k, call_step step, const char *method, bool tunnel, const char *path,
         const struct odpssign_param *params, size_t count, const char *ctype,
         const char *encoding, const void *body, size_t len, const struct policy *pol,
         struct otsync_err *err)
{
    struct odpsclient *c = k->c;
    struct odpssign_param p[PARAMS_MAX + 1];
    struct odpssign_header h[HEADERS_MAX];
    struct odpssign_req sr;
    struct net_request req;
    const char *base = tunnel ? c->tunnel : c->endpoint;
    const char *lines[HEADERS_MAX + 4];
    char url[URL_MAX], date[ODPSSIGN_DATE_LEN], auth[512];
    char hl[HEADERS_MAX + 2][600], sts[4200];
    size_t i, pos = 0, nh = 0, nl = 0;
    const char *seg;
    int rc;

    if (!base)
        return otsync_err_set(err, OTSYNC_EINVAL, "%s: the tunnel endpoint is not known yet",
                              k->what);
    if (count > PARAMS_MAX)
        return otsync_err_set(err, OTSYNC_EINVAL, "%s: too many parameters", k->what);
    p[0] = (struct odpssign_param){"curr_project", c->project};
    if (count)
        memcpy(p + 1, params, count * sizeof(*p));
    count++;
    /* the path's segments are escaped, its slashes kept */
    if (!url_add(url, sizeof(url), &pos, base))
        goto too_long;
    for (seg = path; *seg; ) {
        size_t n = strcspn(seg + 1, "/") + 1;
        char piece[SPEC_MAX];

        if (n >= sizeof(piece))
            goto too_long;
        memcpy(piece, seg + 1, n - 1);
        piece[n - 1] = '\0';
        if (!url_add(url, sizeof(url), &pos, "/") || !url_escape(url, sizeof(url), &pos, piece))
            goto too_long;
        seg += n;
    }
    for (i = 0; i < count; i++) {
        if (!url_add(url, sizeof(url), &pos, i ? "&" : "?")
            || !url_escape(url, sizeof(url), &pos, p[i].name)
            || (p[i].value && (!url_add(url, sizeof(url), &pos, "=")
                               || !url_escape(url, sizeof(url), &pos, p[i].value))))
            goto too_long;
    }
    if ((rc = odpssign_date(time(NULL), date, sizeof(date), err)) < 0)
        return rc;
    h[nh++] = (struct odpssign_header){"Date", date};
    if (ctype)
        h[nh++] = (struct odpssign_header){"Content-Type", ctype};
    if (tunnel)
        h[nh++] = (struct odpssign_header){"x-odps-tunnel-version", TUNNEL_VERSION};
    if (encoding)
        h[nh++] = (struct odpssign_header){"Content-Encoding", encoding};
    sr = (struct odpssign_req){method, path, p, count, h, nh};
    if ((rc = odpssign_v2(&sr, c->key_id, c->secret, auth, sizeof(auth), err)) < 0)
        return otsync_err_prefix(err, "%s", k->what);
    for (i = 0; i < nh; i++) {
        snprintf(hl[nl], sizeof(hl[nl]), "%s: %s", h[i].name, h[i].value);
        lines[nl] = hl[nl];
        nl++;
    }
    snprintf(hl[nl], sizeof(hl[nl]), "Authorization: %s", auth);
    lines[nl] = hl[nl];
    nl++;
    if (c->token) {
        if (snprintf(sts, sizeof(sts), "%s: %s", ODPSSIGN_STS_HEADER, c->token)
            >= (int)sizeof(sts))
            return otsync_err_set(err, OTSYNC_ECONFIG, "the STS token is too long");
        lines[nl++] = sts;
    }
    lines[nl] = NULL;
    k->step = step;
    k->poll = pol->poll;
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = lines;
    req.body = body;
    req.body_len = len;
    req.attempt_timeout_ms = pol->attempt_timeout_ms;
    req.deadline_ms = pol->deadline_ms;
    req.max_attempts = pol->max_attempts ? pol->max_attempts : c->max_attempts;
    req.backoff_base_ms = pol->backoff_base_ms ? pol->backoff_base_ms : c->backoff_base_ms;
    req.backoff_max_ms = pol->backoff_max_ms;
    req.classify = classify;
    req.done = on_net_done;
    req.arg = k;
    rc = net_request(c->net, &req, err);
    memset(auth, 0, sizeof(auth));
    return rc;
too_long:
    return otsync_err_set(err, OTSYNC_EINVAL, "%s: the URL is longer than %d bytes", k->what,
                          URL_MAX);
}

static struct call *
call_new(struct odpsclient *c, void *arg, const char *fmt, ...)
{
    struct call *k = calloc(1, sizeof(*k));
    va_list ap;

    if (!k)
        return NULL;
    k->c = c;
    k->arg = arg;
    va_start(ap, fmt);
    vsnprintf(k->what, sizeof(k->what), fmt, ap);
    va_end(ap);
    return k;
}

static void
call_free(struct call *k)
{
    size_t i;

    if (!k)
        return;
    for (i = 0; i < k->spec_count; i++)
        free(k->specs[i]);
    free(k->specs);
    free(k->ids);
    free(k->table);
    free(k->spec);
    free(k);
}

static void
table_path(char *buf, size_t len, const struct odpsclient *c, const char *table)
{
    snprintf(buf, len, "/projects/%s/tables/%s", c->project, table);
}

/* ---------------------------------------------------------------- the client */

int
odpsclient_new(struct net *net, const struct odpsclient_conf *conf, struct odpsclient **ret_c,
               struct otsync_err *err)
{
    struct odpsclient *c;
    size_t n;

    if (!conf->endpoint || !*conf->endpoint)
        return otsync_err_set(err, OTSYNC_ECONFIG, "no MaxCompute endpoint");
    if (strncmp(conf->endpoint, "http://", 7) != 0 && strncmp(conf->endpoint, "https://", 8) != 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "endpoint '%s': expected http:// or https://",
                              conf->endpoint);
    if (conf->tunnel_endpoint && *conf->tunnel_endpoint
        && strncmp(conf->tunnel_endpoint, "http://", 7) != 0
        && strncmp(conf->tunnel_endpoint, "https://", 8) != 0)
        return otsync_err_set(err, OTSYNC_ECONFIG, "tunnel endpoint '%s': expected http:// or "
                              "https://", conf->tunnel_endpoint);
    if (!conf->project || !*conf->project)
        return otsync_err_set(err, OTSYNC_ECONFIG, "no MaxCompute project");
    if (!conf->access_key_id || !*conf->access_key_id || !conf->access_key_secret
        || !*conf->access_key_secret)
        return otsync_err_set(err, OTSYNC_ECONFIG, "no access key id and secret");
    if (!(c = calloc(1, sizeof(*c))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    c->net = net;
    c->endpoint = strdup(conf->endpoint);
    c->tunnel = conf->tunnel_endpoint && *conf->tunnel_endpoint ? strdup(conf->tunnel_endpoint)
                                                                : NULL;
    c->project = strdup(conf->project);
    c->key_id = strdup(conf->access_key_id);
    c->secret = strdup(conf->access_key_secret);
    c->token = conf->security_token && *conf->security_token ? strdup(conf->security_token) : NULL;
    c->max_attempts = conf->max_attempts > 0 ? conf->max_attempts : 5;
    c->backoff_base_ms = conf->backoff_base_ms > 0 ? conf->backoff_base_ms : 500;
    if (!c->endpoint || !c->project || !c->key_id || !c->secret
        || (conf->tunnel_endpoint && *conf->tunnel_endpoint && !c->tunnel)
        || (conf->security_token && *conf->security_token && !c->token)) {
        odpsclient_free(c);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    /* paths are appended to the endpoints: no trailing slash to double */
    while ((n = strlen(c->endpoint)) > 8 && c->endpoint[n - 1] == '/')
        c->endpoint[n - 1] = '\0';
    while (c->tunnel && (n = strlen(c->tunnel)) > 8 && c->tunnel[n - 1] == '/')
        c->tunnel[n - 1] = '\0';
    *ret_c = c;
    return 0;
}

void
odpsclient_free(struct odpsclient *c)
{
    if (!c)
        return;
    cleanse(c->secret);
    cleanse(c->token);
    free(c->endpoint);
    free(c->tunnel);
    free(c->project);
    free(c->key_id);
    free(c->secret);
    free(c->token);
    free(c);
}

const char *
odpsclient_tunnel(const struct odpsclient *c)
{
    return c->tunnel;
}

/* ---------------------------------------------------------------- tunnel endpoint */

static void
tunnel_answer(struct call *k, const struct net_response *r, enum net_verdict v,
              const struct otsync_err *nerr)
{
    struct odpsclient *c = k->c;
    struct otsync_err err;
    const char *scheme_end = strstr(c->endpoint, "://");
    size_t n;
    int rc = 0;

    otsync_err_clear(&err);
    if (v != NET_OK) {
        rc = call_error(k, r, nerr, &err);
    } else {
        n = r->body_len;
        while (n && isspace((unsigned char)r->body[n - 1]))
            n--;
        /* plain host[:port], with the service endpoint's scheme in front (doc 1.2) */
        if (!n || memchr(r->body, '/', n) || memchr(r->body, ' ', n)) {
            rc = otsync_err_set(&err, OTSYNC_EPROTO, "%s: expected host[:port], got '%.*s'",
                                k->what, (int)(n > 100 ? 100 : n), r->body);
        } else {
            free(c->tunnel);
            if (asprintf(&c->tunnel, "%.*s%.*s", (int)(scheme_end - c->endpoint + 3),
                         c->endpoint, (int)n, r->body) < 0) {
                c->tunnel = NULL;
                rc = otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory");
            }
        }
    }
    k->done(k->arg, rc, rc < 0 ? &err : NULL);
    call_free(k);
}

int
odpsclient_tunnel_resolve(struct odpsclient *c, odpsclient_done_cb cb, void *arg,
                          struct otsync_err *err)
{
    struct odpssign_param p[1] = {{"service", NULL}};
    struct call *k;
    char path[600];
    int rc;

    if (c->tunnel)
        return otsync_err_set(err, OTSYNC_EEXIST, "the tunnel endpoint is known: %s", c->tunnel);
    if (!(k = call_new(c, arg, "GET tunnel endpoint of project %s", c->project)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    k->done = cb;
    snprintf(path, sizeof(path), "/projects/%s/tunnel", c->project);
    if ((rc = send_req(k, tunnel_answer, "GET", false, path, p, 1, NULL, NULL, NULL, 0,
                       &POLICY_API, err)) < 0)
        call_free(k);
    return rc;
}

/* ---------------------------------------------------------------- tables */

static void
columns_free(struct odpsclient_column *cols, size_t n)
{
    size_t i;

    for (i = 0; cols && i < n; i++) {
        free(cols[i].name);
        free(cols[i].type_text);
    }
    free(cols);
}

void
odpsclient_table_free(struct odpsclient_table *t)
{
    if (!t)
        return;
    free(t->name);
    columns_free(t->columns, t->column_count);
    columns_free(t->partition_keys, t->partition_key_count);
    free(t);
}

/* [{name, type}...] into new columns; -1 when malformed or out of memory. */
static int
columns_read(const json_t *arr, struct odpsclient_column **ret, size_t *ret_count)
{
    struct odpsclient_column *cols;
    struct otsync_err err;
    const json_t *c;
    const char *name, *type;
    size_t i, n = json_array_size(arr);

    *ret = NULL;
    *ret_count = 0;
    if (arr && !json_is_array(arr))
        return -1;
    if (!n)
        return 0;
    if (!(cols = calloc(n, sizeof(*cols))))
        return -1;
    json_array_foreach(arr, i, c) {
        name = json_string_value(json_object_get(c, "name"));
        type = json_string_value(json_object_get(c, "type"));
        if (!name || !type || !(cols[i].name = strdup(name))
            || !(cols[i].type_text = strdup(type))) {
            columns_free(cols, n);
            return -1;
        }
        cols[i].supported = tunnel_type_parse(type, &cols[i].type, &err) == 0;
    }
    *ret = cols;
    *ret_count = n;
    return 0;
}

static void
table_answer(struct call *k, const struct net_response *r, enum net_verdict v,
             const struct otsync_err *nerr)
{
    struct odpsclient_table *t = NULL;
    struct otsync_err err;
    char *schema = NULL;
    json_t *j = NULL;
    int rc = 0;

    otsync_err_clear(&err);
    if (v != NET_OK) {
        rc = call_error(k, r, nerr, &err);
        goto out;
    }
    if (!(schema = xml_text(r->body, NULL, "Schema")) || !(j = json_loads(schema, 0, NULL))) {
        rc = otsync_err_set(&err, OTSYNC_EPROTO, "%s: no JSON <Schema> in the answer", k->what);
        goto out;
    }
    if (!(t = calloc(1, sizeof(*t))) || !(t->name = strdup(k->table))) {
        rc = otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory");
        goto out;
    }
    if (columns_read(json_object_get(j, "columns"), &t->columns, &t->column_count) < 0
        || columns_read(json_object_get(j, "partitionKeys"), &t->partition_keys,
                        &t->partition_key_count) < 0)
        rc = otsync_err_set(&err, OTSYNC_EPROTO, "%s: malformed columns in the schema", k->what);
out:
    json_decref(j);
    free(schema);
    if (rc < 0) {
        odpsclient_table_free(t);
        t = NULL;
    }
    k->table_cb(k->arg, rc, t, rc < 0 ? &err : NULL);
    call_free(k);
}

int
odpsclient_table_get(struct odpsclient *c, const char *table, odpsclient_table_cb cb, void *arg,
                     struct otsync_err *err)
{
    struct call *k;
    char path[600];
    int rc;

    if (!(k = call_new(c, arg, "GET table %s.%s", c->project, table))
        || !(k->table = strdup(table))) {
        call_free(k);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    k->table_cb = cb;
    table_path(path, sizeof(path), c, table);
    if ((rc = send_req(k, table_answer, "GET", false, path, NULL, 0, NULL, NULL, NULL, 0,
                       &POLICY_API, err)) < 0)
        call_free(k);
    return rc;
}

/* ---------------------------------------------------------------- partitions */

static int parts_send(struct call *k, struct otsync_err *err);

/* Adds each <Partition>'s columns as "k=v,..." to k->specs; -1 when out of memory. */
static int
parts_read(struct call *k, const char *body)
{
    const char *p = body, *end, *col;
    char spec[SPEC_MAX], *name, *value, **ns;
    size_t n;

    while ((p = strstr(p, "<Partition>"))) {
        if (!(end = strstr(p, "</Partition>")))
            break;
        spec[0] = '\0';
        n = 0;
        for (col = p; (col = strstr(col, "<Column ")) && col < end; col++) {
            name = xml_attr(col, "Name");
            value = xml_attr(col, "Value");
            if (name && value)
                n += (size_t)snprintf(spec + n, n < sizeof(spec) ? sizeof(spec) - n : 0, "%s%s=%s",
                                      n ? "," : "", name, value);
            free(name);
            free(value);
        }
        p = end;
        if (n >= sizeof(spec) || !n)
            continue;
        if (!(ns = realloc(k->specs, (k->spec_count + 1) * sizeof(*ns))))
            return -1;
        k->specs = ns;
        if (!(k->specs[k->spec_count] = strdup(spec)))
            return -1;
        k->spec_count++;
    }
    return 0;
}

static void
parts_answer(struct call *k, const struct net_response *r, enum net_verdict v,
             const struct otsync_err *nerr)
{
    struct otsync_err err;
    char *marker = NULL;
    int rc = 0;

    otsync_err_clear(&err);
    if (v != NET_OK) {
        rc = call_error(k, r, nerr, &err);
    } else if (parts_read(k, r->body) < 0) {
        rc = otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory");
    } else if ((marker = xml_text(r->body, NULL, "Marker")) && *marker) {
        /* the next page (doc 4.2): an empty marker ends the listing */
        if (strlen(marker) >= sizeof(k->marker) || strcmp(marker, k->marker) == 0)
            rc = otsync_err_set(&err, OTSYNC_EPROTO, "%s: bad page marker '%.64s'", k->what,
                                marker);
        else {
            snprintf(k->marker, sizeof(k->marker), "%s", marker);
            free(marker);
            if ((rc = parts_send(k, &err)) == 0)
                return;
            marker = NULL;
        }
    }
    free(marker);
    k->parts_cb(k->arg, rc, rc < 0 ? NULL : k->specs, rc < 0 ? 0 : k->spec_count,
                rc < 0 ? &err : NULL);
    call_free(k);
}

static int
parts_send(struct call *k, struct otsync_err *err)
{
    struct odpssign_param p[3] = {{"partitions", NULL}, {"expectmarker", "true"},
                                  {"marker", k->marker}};
    char path[600];

    table_path(path, sizeof(path), k->c, k->table);
    return send_req(k, parts_answer, "GET", false, path, p, k->marker[0] ? 3 : 2, NULL, NULL,
                    NULL, 0, &POLICY_API, err);
}

int
odpsclient_partitions_list(struct odpsclient *c, const char *table, odpsclient_partitions_cb cb,
                           void *arg, struct otsync_err *err)
{
    struct call *k;
    int rc;

    if (!(k = call_new(c, arg, "GET partitions of %s.%s", c->project, table))
        || !(k->table = strdup(table))) {
        call_free(k);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    k->parts_cb = cb;
    if ((rc = parts_send(k, err)) < 0)
        call_free(k);
    return rc;
}

int
odpsclient_spec_canon(const char *text, const struct odpsclient_column *keys, size_t count,
                      char *ret_spec, size_t len, struct otsync_err *err)
{
    char norm[SPEC_MAX], *levels[64], *vals[64], *save = NULL, *tok;
    size_t i, j, n = 0, pos = 0, lv = 0;
    const char *s;
    bool used[64] = {false};

    if (!text)
        text = "";
    /* doc 8.1: quotes go, '/' is ',', spaces around the separators go */
    for (s = text; *s && n + 1 < sizeof(norm); s++) {
        if (*s == '\'' || *s == '"')
            continue;
        norm[n++] = *s == '/' ? ',' : *s;
    }
    if (*s)
        return otsync_err_set(err, OTSYNC_EINVAL, "partition '%.60s...' is too long", text);
    norm[n] = '\0';
    for (tok = strtok_r(norm, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq, *k, *v, *e;

        while (isspace((unsigned char)*tok))
            tok++;
        if (!*tok)
            continue;
        if (lv == 64 || !(eq = strchr(tok, '=')))
            return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s': expected key=value, "
                                  "got '%s'", text, tok);
        *eq = '\0';
        k = tok;
        v = eq + 1;
        for (e = eq; e > k && isspace((unsigned char)e[-1]); e--)
            e[-1] = '\0';
        while (isspace((unsigned char)*v))
            v++;
        for (e = v + strlen(v); e > v && isspace((unsigned char)e[-1]); e--)
            e[-1] = '\0';
        if (!*k || !*v)
            return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s': '%s' has %s", text,
                                  *k ? k : v, *k ? "no value" : "no key");
        if (strpbrk(v, "=\\`") || strstr(v, "]]>"))
            return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s': bad value '%s'", text, v);
        levels[lv] = k;
        vals[lv++] = v;
    }
    if (count > 64)
        return otsync_err_set(err, OTSYNC_EINVAL, "a table of %zu partition levels", count);
    for (i = 0; i < lv; i++) {
        for (j = 0; j < count && strcasecmp(levels[i], keys[j].name) != 0; j++)
            ;
        if (j == count)
            return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s': '%s' is not a partition "
                                  "column of the table (%zu level%s)", text, levels[i], count,
                                  count == 1 ? "" : "s");
        if (used[j])
            return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s': '%s' given twice", text,
                                  levels[i]);
        used[j] = true;
    }
    if (lv != count) {
        for (j = 0; j < count && used[j]; j++)
            ;
        return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s' names %zu of the table's %zu "
                              "levels; give every level down to the last (missing '%s')", text,
                              lv, count, j < count ? keys[j].name : "?");
    }
    ret_spec[0] = '\0';
    for (j = 0; j < count; j++) {
        for (i = 0; strcasecmp(levels[i], keys[j].name) != 0; i++)
            ;
        pos += (size_t)snprintf(ret_spec + pos, pos < len ? len - pos : 0, "%s%s=%s",
                                j ? "," : "", keys[j].name, vals[i]);
    }
    if (pos >= len)
        return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s' is too long", text);
    return 0;
}

/* ---------------------------------------------------------------- SQL tasks */

static void sql_end(struct call *k, int rc, const struct otsync_err *err);

static void
sql_result(struct call *k, const struct net_response *r, enum net_verdict v,
           const struct otsync_err *nerr)
{
    struct otsync_err err;
    char *text;

    otsync_err_clear(&err);
    if (v != NET_OK) {
        call_error(k, r, nerr, &err);
        otsync_err_set(&err, OTSYNC_EPROTO, "%s: the task failed, and its result could not be "
                       "read: %s", k->what, err.msg);
    } else {
        text = xml_text(r->body, NULL, "Result");
        otsync_err_set(&err, OTSYNC_EPROTO, "%s: the task failed: %s", k->what,
                       text && *text ? text : "(no result given)");
        free(text);
    }
    sql_end(k, -OTSYNC_EPROTO, &err);
}

static void
sql_status(struct call *k, const struct net_response *r, enum net_verdict v,
           const struct otsync_err *nerr)
{
    struct odpssign_param p[1] = {{"result", NULL}};
    struct otsync_err err;
    const char *task;
    char *status = NULL;
    int rc;

    otsync_err_clear(&err);
    if (v != NET_OK) {
        rc = call_error(k, r, nerr, &err);
        sql_end(k, rc, &err);
        return;
    }
    if ((task = strstr(r->body, "<Task")))
        status = xml_text(task, NULL, "Status");
    if (status && strcasecmp(status, "Success") == 0) {
        free(status);
        sql_end(k, 0, NULL);
        return;
    }
    free(status);
    if ((rc = send_req(k, sql_result, "GET", false, k->instance, p, 1, NULL, NULL, NULL, 0,
                       &POLICY_API, &err)) < 0)
        sql_end(k, rc, &err);
}

static void
sql_polled(struct call *k, const struct net_response *r, enum net_verdict v,
           const struct otsync_err *nerr)
{
    struct odpssign_param p[1] = {{"taskstatus", NULL}};
    struct otsync_err err;
    int rc;

    otsync_err_clear(&err);
    if (v != NET_OK) {
        rc = call_error(k, r, nerr, &err);
        if (r && r->status >= 200 && r->status < 300)
            rc = otsync_err_set(&err, OTSYNC_ERETRY, "%s: the instance did not terminate in "
                                "time", k->what);
        sql_end(k, rc, &err);
        return;
    }
    if ((rc = send_req(k, sql_status, "GET", false, k->instance, p, 1, NULL, NULL, NULL, 0,
                       &POLICY_API, &err)) < 0)
        sql_end(k, rc, &err);
}

static void
sql_created(struct call *k, const struct net_response *r, enum net_verdict v,
            const struct otsync_err *nerr)
{
    struct otsync_err err;
    const char *h, *end = NULL, *id;
    char loc[512];
    size_t n;
    int rc;

    otsync_err_clear(&err);
    if (v != NET_OK) {
        rc = call_error(k, r, nerr, &err);
        sql_end(k, rc, &err);
        return;
    }
    /* the instance is the last segment of Location (doc 4.3) */
    for (h = r->headers; h && *h; h = end + (*end != '\0')) {
        end = h + strcspn(h, "\n");
        if (strncasecmp(h, "Location:", 9) == 0)
            break;
    }
    if (!h || !*h) {
        rc = otsync_err_set(&err, OTSYNC_EPROTO, "%s: HTTP %ld without Location", k->what,
                            r->status);
        sql_end(k, rc, &err);
        return;
    }
    n = (size_t)(end - h - 9);
    snprintf(loc, sizeof(loc), "%.*s", (int)(n < sizeof(loc) ? n : sizeof(loc) - 1), h + 9);
    loc[strcspn(loc, "\r\n?")] = '\0';
    while (strlen(loc) && loc[strlen(loc) - 1] == ' ')
        loc[strlen(loc) - 1] = '\0';
    if (!(id = strrchr(loc, '/')) || !id[1] || strspn(id + 1, "abcdefghijklmnopqrstuvwxyz"
                                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
                                               != strlen(id + 1)) {
        rc = otsync_err_set(&err, OTSYNC_EPROTO, "%s: bad Location '%s'", k->what, loc);
        sql_end(k, rc, &err);
        return;
    }
    if (snprintf(k->instance, sizeof(k->instance), "/projects/%s/instances/%.200s", k->c->project,
                 id + 1) >= (int)sizeof(k->instance)) {
        rc = otsync_err_set(&err, OTSYNC_EPROTO, "%s: Location too long", k->what);
        sql_end(k, rc, &err);
        return;
    }
    if ((rc = send_req(k, sql_polled, "GET", false, k->instance, NULL, 0, NULL, NULL, NULL, 0,
                       &POLICY_POLL, &err)) < 0)
        sql_end(k, rc, &err);
}

static void
sql_end(struct call *k, int rc, const struct otsync_err *err)
{
    k->done(k->arg, rc, rc < 0 ? err : NULL);
    call_free(k);
}

int
odpsclient_sql_run(struct odpsclient *c, const char *sql, odpsclient_done_cb cb, void *arg,
                   struct otsync_err *err)
{
    struct call *k;
    char path[600], task[64], *body = NULL;
    int rc;

    if (strstr(sql, "]]>"))
        return otsync_err_set(err, OTSYNC_EINVAL, "SQL holding ']]>' cannot be sent in CDATA");
    if (!(k = call_new(c, arg, "SQL '%.100s'", sql)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    k->done = cb;
    snprintf(task, sizeof(task), "otsync_odpswriter_%08lx%04x", (unsigned long)time(NULL),
             (unsigned)(random() & 0xffff));
    /* the hint DataX gives its partition DDL; the task name is unique as the service wants */
    if (asprintf(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Instance><Job>"
                 "<Priority>9</Priority><Tasks><SQL><Name>%s</Name><Config><Property>"
                 "<Name>settings</Name><Value>{\"odps.sql.type.system.odps2\":\"true\"}</Value>"
                 "</Property></Config><Query><![CDATA[%s]]></Query></SQL></Tasks><DAG>"
                 "<RunMode>Sequence</RunMode></DAG></Job></Instance>\n", task, sql) < 0) {
        call_free(k);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    snprintf(path, sizeof(path), "/projects/%s/instances", c->project);
    rc = send_req(k, sql_created, "POST", false, path, NULL, 0, "application/xml", NULL, body,
                  strlen(body), &POLICY_API, err);
    free(body);
    if (rc < 0)
        call_free(k);
    return rc;
}

int
odpsclient_partition_add(struct odpsclient *c, const char *table, const char *spec,
                         odpsclient_done_cb cb, void *arg, struct otsync_err *err)
{
    char sql[SPEC_MAX * 2 + 256];
    const char *s = spec;
    size_t n;

    n = (size_t)snprintf(sql, sizeof(sql), "alter table %s add IF NOT EXISTS partition(", table);
    /* k=v,k2=v2 becomes k='v',k2='v2' (doc 8.1) */
    while (*s && n + 8 < sizeof(sql)) {
        size_t kl = strcspn(s, "="), vl;

        if (!s[kl])
            return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s': expected key=value", spec);
        vl = strcspn(s + kl + 1, ",");
        if (memchr(s + kl + 1, '\'', vl) || memchr(s + kl + 1, '\\', vl))
            return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s': quotes and backslashes "
                                  "cannot be in a value", spec);
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%.*s='%.*s'", s == spec ? "" : ",",
                              (int)kl, s, (int)vl, s + kl + 1);
        s += kl + 1 + vl;
        if (*s == ',')
            s++;
    }
    if (*s || n + 3 >= sizeof(sql))
        return otsync_err_set(err, OTSYNC_EINVAL, "partition '%s' is too long", spec);
    snprintf(sql + n, sizeof(sql) - n, ");");
    return odpsclient_sql_run(c, sql, cb, arg, err);
}

/* ---------------------------------------------------------------- upload sessions */

void
odpsclient_upload_free(struct odpsclient_upload *u)
{
    size_t i;

    if (!u)
        return;
    for (i = 0; u->cols && i < u->schema.count; i++)
        free((char *)u->cols[i].name);
    free(u->cols);
    free(u->table);
    free(u->spec);
    free(u->id);
    free(u);
}

const char *
odpsclient_upload_id(const struct odpsclient_upload *u)
{
    return u->id;
}

const struct tunnel_schema *
odpsclient_upload_schema(const struct odpsclient_upload *u)
{
    return &u->schema;
}

/* The session JSON's Schema.columns into u (doc 5.2); 0 or negative with err. */
static int
session_schema(struct odpsclient_upload *u, const json_t *j, const char *what,
               struct otsync_err *err)
{
    const json_t *cols = json_object_get(json_object_get(j, "Schema"), "columns"), *c;
    json_int_t max = json_integer_value(json_object_get(j, "MaxFieldSize"));
    const char *name, *type;
    size_t i, n = json_array_size(cols);

    if (!json_is_array(cols))
        return otsync_err_set(err, OTSYNC_EPROTO, "%s: no Schema.columns in the session", what);
    if (n && !(u->cols = calloc(n, sizeof(*u->cols))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    u->schema.columns = u->cols;
    json_array_foreach(cols, i, c) {
        name = json_string_value(json_object_get(c, "name"));
        type = json_string_value(json_object_get(c, "type"));
        if (!name || !type)
            return otsync_err_set(err, OTSYNC_EPROTO, "%s: a session column without name or "
                                  "type", what);
        if (!(u->cols[i].name = strdup(name)))
            return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        u->schema.count = i + 1;
        /* a type we cannot write still takes its field number; it holds STRING here so the
         * encoder accepts the schema, and the writer never maps it (odpsclient_table says
         * which columns are supported), so it is always null */
        if (tunnel_type_parse(type, &u->cols[i].type, err) < 0)
            u->cols[i].type = TUNNEL_TYPE_STRING;
    }
    otsync_err_clear(err);
    u->schema.max_field_len = max > 0 ? (size_t)max : 0;
    return 0;
}

static void
create_answer(struct call *k, const struct net_response *r, enum net_verdict v,
              const struct otsync_err *nerr)
{
    struct odpsclient_upload *u = k->u;
    struct otsync_err err;
    const char *id;
    json_t *j = NULL;
    int rc = 0;

    otsync_err_clear(&err);
    if (v != NET_OK) {
        rc = call_error(k, r, nerr, &err);
        goto out;
    }
    if (!(j = json_loadb(r->body, r->body_len, 0, NULL))
        || !(id = json_string_value(json_object_get(j, "UploadID"))) || !*id) {
        rc = otsync_err_set(&err, OTSYNC_EPROTO, "%s: no UploadID in the answer", k->what);
        goto out;
    }
    if (!(u->id = strdup(id))) {
        rc = otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory");
        goto out;
    }
    rc = session_schema(u, j, k->what, &err);
out:
    json_decref(j);
    if (rc < 0) {
        odpsclient_upload_free(u);
        u = NULL;
    }
    k->u = NULL;
    k->upload_cb(k->arg, rc, u, rc < 0 ? &err : NULL);
    call_free(k);
}

/* Query parameters of a session request: partition first when there is one. */
static size_t
session_params(const struct odpsclient_upload *u, struct odpssign_param *p)
{
    size_t n = 0;

    if (u->spec)
        p[n++] = (struct odpssign_param){"partition", u->spec};
    if (u->id)
        p[n++] = (struct odpssign_param){"uploadid", u->id};
    return n;
}

int
odpsclient_upload_create(struct odpsclient *c, const char *table, const char *spec,
                         bool overwrite, odpsclient_upload_cb cb, void *arg,
                         struct otsync_err *err)
{
    struct odpssign_param p[PARAMS_MAX];
    struct odpsclient_upload *u;
    struct call *k;
    char path[600];
    size_t n;
    int rc;

    if (!(u = calloc(1, sizeof(*u))) || !(u->table = strdup(table))
        || (spec && *spec && !(u->spec = strdup(spec)))) {
        odpsclient_upload_free(u);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    u->c = c;
    if (!(k = call_new(c, arg, "POST upload session for %s.%s%s%s", c->project,
                       table, u->spec ? " partition " : "", u->spec ? u->spec : ""))) {
        odpsclient_upload_free(u);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    k->u = u;
    k->upload_cb = cb;
    n = session_params(u, p);
    p[n++] = (struct odpssign_param){"uploads", NULL};
    if (overwrite)
        p[n++] = (struct odpssign_param){"overwrite", "true"};
    table_path(path, sizeof(path), c, table);
    if ((rc = send_req(k, create_answer, "POST", true, path, p, n, NULL, NULL, NULL, 0,
                       &POLICY_API, err)) < 0) {
        odpsclient_upload_free(u);
        call_free(k);
    }
    return rc;
}

static void
block_answer(struct call *k, const struct net_response *r, enum net_verdict v,
             const struct otsync_err *nerr)
{
    struct otsync_err err;
    int rc = 0;

    otsync_err_clear(&err);
    if (v != NET_OK)
        rc = call_error(k, r, nerr, &err);
    k->done(k->arg, rc, rc < 0 ? &err : NULL);
    call_free(k);
}

int
odpsclient_upload_block(struct odpsclient_upload *u, unsigned block_id, const void *data,
                        size_t len, bool deflate, odpsclient_done_cb cb, void *arg,
                        struct otsync_err *err)
{
    struct odpssign_param p[PARAMS_MAX];
    unsigned char *z = NULL;
    struct call *k;
    char path[600], bid[16];
    size_t n, zlen = 0;
    int rc;

    if (block_id >= ODPSCLIENT_BLOCK_IDS)
        return otsync_err_set(err, OTSYNC_EINVAL, "block id %u: the tunnel takes 0 to %u", block_id,
                              ODPSCLIENT_BLOCK_IDS - 1);
    if (deflate && (rc = tunnel_deflate(data, len, 1, &z, &zlen, err)) < 0)
        return rc;
    if (!(k = call_new(u->c, arg, "PUT block %u of upload %s", block_id, u->id))) {
        free(z);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    k->done = cb;
    snprintf(bid, sizeof(bid), "%u", block_id);
    n = session_params(u, p);
    p[n++] = (struct odpssign_param){"blockid", bid};
    table_path(path, sizeof(path), u->c, u->table);
    /* net keeps its own copy and sends that same body, id and signature on every attempt */
    rc = send_req(k, block_answer, "PUT", true, path, p, n, "application/octet-stream",
                  deflate ? "deflate" : NULL, deflate ? (const void *)z : data,
                  deflate ? zlen : len, &POLICY_BLOCK, err);
    free(z);
    if (rc < 0)
        call_free(k);
    return rc;
}

static int
cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

    return x < y ? -1 : x > y;
}

/* The session's Status and sorted block ids from its JSON; 0 or negative with err. */
static int
session_blocks(const struct net_response *r, const char *what, char *status, size_t status_len,
               unsigned **ret_ids, size_t *ret_count, struct otsync_err *err)
{
    const json_t *list, *b;
    json_t *j;
    unsigned *ids = NULL;
    size_t i, n;

    *ret_ids = NULL;
    *ret_count = 0;
    if (!(j = json_loadb(r->body, r->body_len, 0, NULL)))
        return otsync_err_set(err, OTSYNC_EPROTO, "%s: the session is not JSON", what);
    snprintf(status, status_len, "%s", json_string_value(json_object_get(j, "Status")) ?: "");
    for (i = 0; status[i]; i++)
        status[i] = (char)tolower((unsigned char)status[i]);
    list = json_object_get(j, "UploadedBlockList");
    n = json_array_size(list);
    if (n && !(ids = calloc(n, sizeof(*ids)))) {
        json_decref(j);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    json_array_foreach(list, i, b)
        ids[i] = (unsigned)json_integer_value(json_object_get(b, "BlockID"));
    json_decref(j);
    if (n)
        qsort(ids, n, sizeof(*ids), cmp_unsigned);
    *ret_ids = ids;
    *ret_count = n;
    return 0;
}

static void
status_answer(struct call *k, const struct net_response *r, enum net_verdict v,
              const struct otsync_err *nerr)
{
    struct otsync_err err;
    unsigned *ids = NULL;
    char status[32] = "";
    size_t n = 0;
    int rc;

    otsync_err_clear(&err);
    if (v != NET_OK)
        rc = call_error(k, r, nerr, &err);
    else
        rc = session_blocks(r, k->what, status, sizeof(status), &ids, &n, &err);
    k->status_cb(k->arg, rc, status, ids, n, rc < 0 ? &err : NULL);
    free(ids);
    call_free(k);
}

static int
status_send(struct call *k, call_step step, struct otsync_err *err)
{
    struct odpssign_param p[PARAMS_MAX];
    char path[600];
    size_t n = session_params(k->u, p);

    table_path(path, sizeof(path), k->c, k->u->table);
    return send_req(k, step, "GET", true, path, p, n, NULL, NULL, NULL, 0, &POLICY_API, err);
}

int
odpsclient_upload_status(struct odpsclient_upload *u, odpsclient_status_cb cb, void *arg,
                         struct otsync_err *err)
{
    struct call *k;
    int rc;

    if (!(k = call_new(u->c, arg, "GET upload %s", u->id)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    k->u = u;
    k->status_cb = cb;
    if ((rc = status_send(k, status_answer, err)) < 0)
        call_free(k);
    return rc;
}

static void commit_checked(struct call *k, const struct net_response *r, enum net_verdict v,
                           const struct otsync_err *nerr);

static void
commit_end(struct call *k, int rc, const struct otsync_err *err)
{
    k->done(k->arg, rc, rc < 0 ? err : NULL);
    call_free(k);
}

/* After a commit POST that failed: the session's status decides (doc 5.5). */
static void
commit_judged(struct call *k, const struct net_response *r, enum net_verdict v,
              const struct otsync_err *nerr)
{
    struct otsync_err err;
    unsigned *ids = NULL;
    char status[32];
    size_t n;
    int rc;

    otsync_err_clear(&err);
    if (v != NET_OK) {
        rc = call_error(k, r, nerr, &err);
        otsync_err_prefix(&err, "commit of upload %s: the commit's outcome is unknown", k->u->id);
        commit_end(k, rc, &err);
        return;
    }
    if ((rc = session_blocks(r, k->what, status, sizeof(status), &ids, &n, &err)) < 0) {
        commit_end(k, rc, &err);
        return;
    }
    free(ids);
    if (strcmp(status, "closed") == 0) {
        commit_end(k, 0, NULL);
        return;
    }
    if (strcmp(status, "normal") == 0 && k->commit_posts < COMMIT_TRIES) {
        commit_checked(k, NULL, NET_OK, NULL);
        return;
    }
    rc = otsync_err_set(&err, OTSYNC_EPROTO, "commit of upload %s: the session is %s after "
                        "%d commit%s", k->u->id, status[0] ? status : "of no status",
                        k->commit_posts, k->commit_posts == 1 ? "" : "s");
    commit_end(k, rc, &err);
}

static void
commit_posted(struct call *k, const struct net_response *r, enum net_verdict v,
              const struct otsync_err *nerr)
{
    struct otsync_err err;
    char code[128], msg[8];
    int rc;

    otsync_err_clear(&err);
    if (v == NET_OK) {
        commit_end(k, 0, NULL);
        return;
    }
    if (r && r->status) {
        error_fields(r, code, sizeof(code), msg, sizeof(msg));
        /* a refusal that says nothing about an earlier commit is final */
        if (r->status < 500 && r->status != 408 && r->status != 429
            && strcmp(code, "StatusConflict") != 0) {
            rc = call_error(k, r, nerr, &err);
            commit_end(k, rc, &err);
            return;
        }
    }
    snprintf(k->what, sizeof(k->what), "GET upload %s after a failed commit", k->u->id);
    if ((rc = status_send(k, commit_judged, &err)) < 0)
        commit_end(k, rc, &err);
}

/* The block list checked (or a retry decided): POST the commit. */
static void
commit_checked(struct call *k, const struct net_response *r, enum net_verdict v,
               const struct otsync_err *nerr)
{
    struct odpssign_param p[PARAMS_MAX];
    struct otsync_err err;
    unsigned *ids = NULL;
    char status[32], path[600];
    size_t n, i;
    int rc;

    otsync_err_clear(&err);
    if (r) {
        if (v != NET_OK) {
            rc = call_error(k, r, nerr, &err);
            commit_end(k, rc, &err);
            return;
        }
        if ((rc = session_blocks(r, k->what, status, sizeof(status), &ids, &n, &err)) < 0) {
            commit_end(k, rc, &err);
            return;
        }
        /* the server commits all it holds: it must hold exactly ours (doc 5.5) */
        for (i = 0; i < n && n == k->id_count && ids[i] == k->ids[i]; i++)
            ;
        free(ids);
        if (i != n || n != k->id_count) {
            rc = otsync_err_set(&err, OTSYNC_EPROTO, "commit of upload %s: the session holds "
                                "%zu blocks, %zu were uploaded; not committing", k->u->id, n,
                                k->id_count);
            commit_end(k, rc, &err);
            return;
        }
        if (strcmp(status, "normal") != 0) {
            rc = otsync_err_set(&err, OTSYNC_EPROTO, "commit of upload %s: the session is %s",
                                k->u->id, status);
            commit_end(k, rc, &err);
            return;
        }
    }
    k->commit_posts++;
    snprintf(k->what, sizeof(k->what), "POST commit of upload %s", k->u->id);
    n = session_params(k->u, p);
    table_path(path, sizeof(path), k->c, k->u->table);
    if ((rc = send_req(k, commit_posted, "POST", true, path, p, n, NULL, NULL, NULL, 0,
                       &POLICY_ONCE, &err)) < 0)
        commit_end(k, rc, &err);
}

int
odpsclient_upload_commit(struct odpsclient_upload *u, const unsigned *block_ids, size_t count,
                         odpsclient_done_cb cb, void *arg, struct otsync_err *err)
{
    struct call *k;
    int rc;

    if (!(k = call_new(u->c, arg, "GET upload %s before commit", u->id))
        || (count && !(k->ids = malloc(count * sizeof(*k->ids))))) {
        call_free(k);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    if (count) {
        memcpy(k->ids, block_ids, count * sizeof(*k->ids));
        qsort(k->ids, count, sizeof(*k->ids), cmp_unsigned);
    }
    k->id_count = count;
    k->u = u;
    k->done = cb;
    if ((rc = status_send(k, commit_checked, err)) < 0)
        call_free(k);
    return rc;
}
