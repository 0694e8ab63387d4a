/*
 * client.c - the OSS client of ossclient.h: one struct oreq per call, signed and sent through
 * net.h, its answer judged here.
 *
 * net.h retries every call but GetObject on its own (transport errors, 408, 429, 5xx, which is
 * oss.md 7.3's policy). A GET runs one attempt at a time instead, so that the bytes of a
 * transfer that broke are kept when the headers prove they are the range asked for (206 and a
 * Content-Range starting at the byte wanted), and the next attempt asks for the rest only.
 * Each attempt of a GET is signed anew; net's own retries resend the same signed headers, which
 * stay valid because a call's deadline is far inside the 15 minutes of allowed skew.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "otsync/crc64.h"
#include "otsync/ossclient.h"
#include "otsync/osssign.h"
#include "otsync/ossxml.h"
#include "otsync/sign.h"

#define MAX_QUERY 6
#define MAX_HEADERS 10
#define URL_MAX 4096
#define AUTH_MAX 1024

enum op {
    OP_PUT, OP_APPEND, OP_HEAD, OP_GET, OP_LIST, OP_DELETE, OP_DELETE_MANY, OP_INITIATE,
    OP_PART, OP_COMPLETE, OP_ABORT,
};

static const char *const op_names[] = {
    "PutObject", "AppendObject", "HeadObject", "GetObject", "ListObjectsV2", "DeleteObject",
    "DeleteMultipleObjects", "InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
    "AbortMultipartUpload",
};

struct ossclient {
    uv_loop_t *loop;
    struct net *net;
    char *scheme;               /* "http" or "https" */
    char *host;                 /* host[:port] of the endpoint */
    bool path_style;
    char *bucket, *key_id, *secret, *token, *region;
    int version;
    long attempt_ms, deadline_ms;
    int max_attempts;
    struct oreq *reqs;          /* every call not ended */
    size_t pending;             /* calls not ended, plus holds taken while ending some */
    int closing_timers;         /* GET timers whose close callback is still to come */
    bool closing;
};

struct oreq {
    struct ossclient *c;
    enum op op;
    const char *method;
    char *key;                  /* NULL at bucket level */
    struct osssign_param query[MAX_QUERY];
    size_t query_count;
    char *qvals[MAX_QUERY];     /* owned query values */
    struct osssign_param extra[4];  /* x-oss-* headers of the call (values static or owned) */
    size_t extra_count;
    unsigned char *body;        /* owned (XML bodies) */
    const void *lent;           /* the caller's data (put, append, part): borrowed until cb */
    size_t body_len;
    bool check_crc;
    uint64_t want_crc;          /* the CRC the answer must report */
    uint64_t position;          /* append */
    uint64_t first, last, next; /* get: the range, and the next byte wanted */
    char *got;                  /* get: bytes received so far */
    size_t got_len, got_cap;
    uint64_t total;             /* get: the object's length from Content-Range */
    int attempts;               /* get: attempts made */
    uint64_t deadline;          /* get: uv_now() value */
    uv_timer_t timer;           /* get: the wait before the next attempt */
    bool timer_open;
    bool busy;                  /* net, a settling HEAD or a cb holds it; else a GET timer */
    struct oreq *parent;        /* a settling HEAD: the call it settles */
    ossclient_cb cb;
    void *arg;
    struct oreq *prev, *next_req;
};

/* ---- small helpers ---- */

static char *
dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void
cleanse_free(char *s)
{
    if (s) {
        volatile char *p = s;
        while (*p)
            *p++ = '\0';
        free(s);
    }
}

static bool
is_ip_or_local(const char *host)
{
    const char *p;
    size_t n = strcspn(host, ":");

    if (host[0] == '[' || (n == 9 && strncasecmp(host, "localhost", 9) == 0))
        return true;
    for (p = host; p < host + n; p++)
        if (!(*p == '.' || (*p >= '0' && *p <= '9')))
            return false;
    return n > 0;
}

/*
 * The value of the response header name in block (the raw header block), copied to buf.
 * False when absent.
 */
static bool
header_get(const char *block, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    const char *p = block, *v, *e;

    while ((p = strchr(p, '\n'))) {
        p++;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            v = p + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            e = v + strcspn(v, "\r\n");
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if ((size_t)(e - v) >= len)
                return false;
            memcpy(buf, v, (size_t)(e - v));
            buf[e - v] = '\0';
            return true;
        }
    }
    return false;
}

/* The status of the header block's status line, 0 when there is none. */
static long
header_status(const char *block)
{
    const char *sp;

    if (strncmp(block, "HTTP/", 5) != 0 || !(sp = strchr(block, ' ')))
        return 0;
    return strtol(sp + 1, NULL, 10);
}

static bool
parse_u64(const char *s, uint64_t *ret)
{
    char *end;

    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    *ret = strtoull(s, &end, 10);
    return !errno && (*end == '\0' || *end == '-' || *end == '/');
}

/* "bytes a-b/total" */
static bool
parse_content_range(const char *s, uint64_t *ret_a, uint64_t *ret_b, uint64_t *ret_total)
{
    const char *p;

    if (strncasecmp(s, "bytes ", 6) != 0)
        return false;
    s += 6;
    if (!parse_u64(s, ret_a) || !(p = strchr(s, '-')) || !parse_u64(p + 1, ret_b)
        || !(p = strchr(p, '/')))
        return false;
    if (p[1] == '*')
        *ret_total = 0;
    else if (!parse_u64(p + 1, ret_total))
        return false;
    return *ret_b >= *ret_a;
}

/* ---- the client ---- */

static void client_destroy(struct ossclient *c);

int
ossclient_new(uv_loop_t *loop, struct net *net, const struct ossclient_conf *conf,
              struct ossclient **ret_c, struct otsync_err *err)
{
    struct ossclient *c;
    const char *ep = conf->endpoint ? conf->endpoint : "", *scheme = "https", *h;
    char region[128];
    size_t n;

    *ret_c = NULL;
    if (strncasecmp(ep, "http://", 7) == 0) {
        scheme = "http";
        ep += 7;
    } else if (strncasecmp(ep, "https://", 8) == 0) {
        ep += 8;
    } else if (strstr(ep, "://")) {
        return otsync_err_set(err, OTSYNC_ECONFIG, "endpoint '%s': only http:// and https://",
                              conf->endpoint);
    }
    n = strcspn(ep, "/");
    if (n == 0 || ep[n + strspn(ep + n, "/")] != '\0' || strpbrk(ep, " \t"))
        return otsync_err_set(err, OTSYNC_ECONFIG, "endpoint '%s': expected a host (and port) "
                              "with no path, such as http://oss-cn-hangzhou.aliyuncs.com",
                              conf->endpoint ? conf->endpoint : "");
    if (!conf->bucket || !*conf->bucket)
        return otsync_err_set(err, OTSYNC_ECONFIG, "no bucket given");
    if (strncasecmp(ep, conf->bucket, strlen(conf->bucket)) == 0
        && ep[strlen(conf->bucket)] == '.')
        return otsync_err_set(err, OTSYNC_ECONFIG, "endpoint '%s' contains the bucket: give the "
                              "region endpoint (such as oss-cn-hangzhou.aliyuncs.com) and the "
                              "bucket '%s' apart", conf->endpoint, conf->bucket);
    if (!conf->access_key_id || !*conf->access_key_id || !conf->access_key_secret
        || !*conf->access_key_secret)
        return otsync_err_set(err, OTSYNC_ECONFIG, "no access key id or secret given");
    if (conf->sign_version != 0 && conf->sign_version != 1 && conf->sign_version != 4)
        return otsync_err_set(err, OTSYNC_ECONFIG, "signature version %d: expected 1 or 4",
                              conf->sign_version);
    region[0] = '\0';
    if (conf->region && *conf->region) {
        snprintf(region, sizeof(region), "%s", conf->region);
    } else if (conf->sign_version == 4) {
        /* oss-cn-hangzhou[-internal].aliyuncs.com gives cn-hangzhou (oss.md 1.1) */
        h = ep;
        n = strcspn(h, ".:/");
        if (n > 4 && strncmp(h, "oss-", 4) == 0 && n - 4 < sizeof(region)) {
            memcpy(region, h + 4, n - 4);
            region[n - 4] = '\0';
            if (n > 13 && strcmp(region + strlen(region) - 9, "-internal") == 0)
                region[strlen(region) - 9] = '\0';
        }
        if (!region[0])
            return otsync_err_set(err, OTSYNC_ECONFIG, "signature V4 needs a region: the "
                                  "endpoint '%s' does not name one (oss-<region>...)",
                                  conf->endpoint);
    }
    if (!(c = calloc(1, sizeof(*c))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    c->loop = loop;
    c->net = net;
    c->scheme = strdup(scheme);
    c->host = strndup(ep, strcspn(ep, "/"));
    c->path_style = c->host && is_ip_or_local(c->host);
    c->bucket = strdup(conf->bucket);
    c->key_id = strdup(conf->access_key_id);
    c->secret = strdup(conf->access_key_secret);
    c->token = dup_or_null(conf->security_token);
    c->region = strdup(region);
    c->version = conf->sign_version == 4 ? 4 : 1;
    c->attempt_ms = conf->attempt_timeout_ms > 0 ? conf->attempt_timeout_ms : 60000;
    c->deadline_ms = conf->deadline_ms > 0 ? conf->deadline_ms : 300000;
    c->max_attempts = conf->max_attempts > 0 ? conf->max_attempts : 6;
    if (!c->scheme || !c->host || !c->bucket || !c->key_id || !c->secret || !c->region
        || (conf->security_token && *conf->security_token && !c->token)) {
        client_destroy(c);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    *ret_c = c;
    return 0;
}

static void
client_destroy(struct ossclient *c)
{
    free(c->scheme);
    free(c->host);
    free(c->bucket);
    free(c->key_id);
    cleanse_free(c->secret);
    cleanse_free(c->token);
    free(c->region);
    free(c);
}

static void
oreq_destroy(struct oreq *q)
{
    size_t i;

    for (i = 0; i < q->query_count; i++)
        free(q->qvals[i]);
    free(q->key);
    free(q->body);
    free(q->got);
    free(q);
}

static void
maybe_destroy(struct ossclient *c)
{
    if (c->closing && c->pending == 0 && c->closing_timers == 0)
        client_destroy(c);
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct oreq *q = h->data;
    struct ossclient *c = q->c;

    oreq_destroy(q);
    c->closing_timers--;
    maybe_destroy(c);
}

/* The call is over: unlink it, and free it (after its timer closes, when it has one). */
static void
oreq_end(struct oreq *q)
{
    struct ossclient *c = q->c;

    if (q->prev)
        q->prev->next_req = q->next_req;
    else
        c->reqs = q->next_req;
    if (q->next_req)
        q->next_req->prev = q->prev;
    c->pending--;
    if (q->timer_open) {
        c->closing_timers++;
        uv_close((uv_handle_t *)&q->timer, on_timer_closed);
        return;
    }
    oreq_destroy(q);
    maybe_destroy(c);
}

void
ossclient_free(struct ossclient *c)
{
    struct oreq *q, *next;

    if (!c || c->closing)
        return;
    c->closing = true;
    c->pending++;       /* a hold, so that c outlives the loop below */
    /* a GET waiting on its timer is in no one's hands but ours: it ends now */
    for (q = c->reqs; q; q = next) {
        next = q->next_req;
        if (!q->busy)
            oreq_end(q);
    }
    c->pending--;
    maybe_destroy(c);
}

size_t
ossclient_pending(const struct ossclient *c)
{
    return c ? c->pending : 0;
}

bool
ossclient_path_style(const struct ossclient *c)
{
    return c->path_style;
}

int
ossclient_url(const struct ossclient *c, const char *key, const struct osssign_param *query,
              size_t query_count, char *ret_url, size_t len)
{
    char enc[URL_MAX];
    size_t n;
    int k;
    size_t i;

    if (c->path_style)
        k = snprintf(ret_url, len, "%s://%s/%s/", c->scheme, c->host, c->bucket);
    else
        k = snprintf(ret_url, len, "%s://%s.%s/", c->scheme, c->bucket, c->host);
    if (k < 0 || (size_t)k >= len)
        goto small;
    n = (size_t)k;
    if (key && *key) {
        if (osssign_encode_key(key, enc, sizeof(enc)) < 0 || n + strlen(enc) >= len)
            goto small;
        memcpy(ret_url + n, enc, strlen(enc) + 1);
        n += strlen(enc);
    }
    for (i = 0; i < query_count; i++) {
        if (n + 2 >= len)
            goto small;
        ret_url[n++] = i ? '&' : '?';
        if (osssign_uri_encode(query[i].name, strlen(query[i].name), false, ret_url + n,
                               len - n) < 0)
            goto small;
        n += strlen(ret_url + n);
        if (query[i].value && *query[i].value) {
            if (n + 2 >= len)
                goto small;
            ret_url[n++] = '=';
            if (osssign_uri_encode(query[i].value, strlen(query[i].value), false, ret_url + n,
                                   len - n) < 0)
                goto small;
            n += strlen(ret_url + n);
        }
    }
    ret_url[n] = '\0';
    return 0;
small:
    if (len)
        ret_url[0] = '\0';
    return -OTSYNC_EINVAL;
}

/* ---- errors ---- */

static const struct {
    const char *code;
    const char *hint;
} hints[] = {
    {"SignatureDoesNotMatch", "the signature was refused: check accessId and accessKey"},
    {"InvalidAccessKeyId", "the access key id is unknown: check accessId"},
    {"AccessDenied", "the key may not do this, or the bucket is in another region"},
    {"RequestTimeTooSkewed", "this machine's clock is more than 15 minutes off the server's"},
    {"NoSuchBucket", "the bucket does not exist"},
    {"NoSuchKey", "the object does not exist"},
    {"NoSuchUpload", "the multipart upload does not exist (completed or aborted)"},
    {"FileAlreadyExists", "the object exists and overwriting was refused"},
    {"InvalidRange", "the range lies outside the object"},
    {"InvalidDigest", "the body did not arrive intact (Content-MD5 differs)"},
    {"EntityTooSmall", "a part other than the last is under 100 KB"},
    {"InvalidObjectName", "the object name is not valid"},
};

/*
 * Fills err for a refused call from the error XML of the body, or of x-oss-err on a HEAD;
 * ret_code gets the Code. Returns the negative code that goes with the status.
 */
static int
answer_error(struct oreq *q, const struct net_response *r, char *ret_code, size_t clen,
             struct otsync_err *err)
{
    struct ossxml_doc *doc = NULL;
    struct ossxml_error e;
    char hdr[4096], rid[128], what[1200];
    unsigned char *xml = NULL;
    const char *body = r->body, *hint = NULL;
    size_t body_len = r->body_len, i;
    long dlen;
    int code;

    ret_code[0] = '\0';
    memset(&e, 0, sizeof(e));
    if (!header_get(r->headers, "x-oss-request-id", rid, sizeof(rid)))
        rid[0] = '\0';
    if (body_len == 0 && header_get(r->headers, "x-oss-err", hdr, sizeof(hdr))
        && (xml = malloc(strlen(hdr) + 4))
        && (dlen = sign_unbase64(hdr, strlen(hdr), xml)) > 0) {
        body = (const char *)xml;
        body_len = (size_t)dlen;
    }
    if (body_len && ossxml_parse(body, body_len, &doc, NULL) == 0
        && ossxml_get_error(doc, &e, NULL) == 0 && e.code)
        snprintf(ret_code, clen, "%s", e.code);
    for (i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
        if (strcmp(ret_code, hints[i].code) == 0)
            hint = hints[i].hint;
    if (q->key)
        snprintf(what, sizeof(what), "%s '%s/%s'", op_names[q->op], q->c->bucket, q->key);
    else
        snprintf(what, sizeof(what), "%s on bucket '%s'", op_names[q->op], q->c->bucket);
    code = r->status == 403 || r->status == 401 ? OTSYNC_EAUTH
           : r->status == 404 ? OTSYNC_ENOENT
           : strcmp(ret_code, "FileAlreadyExists") == 0 ? OTSYNC_EEXIST
           : r->status == 408 || r->status == 429 || r->status >= 500 ? OTSYNC_ERETRY
           : OTSYNC_EPROTO;
    otsync_err_set(err, code, "oss: %s: HTTP %ld%s%s%s%s%s%s%s%s%s", what, r->status,
                   ret_code[0] ? " " : "", ret_code, e.message ? ": " : "",
                   e.message ? e.message : "", hint ? "; " : "", hint ? hint : "",
                   rid[0] ? " (request id " : "", rid, rid[0] ? ")" : "");
    ossxml_free(doc);
    free(xml);
    return -code;
}

/* ---- sending ---- */

static void on_net_done(void *arg, const struct net_response *r, enum net_verdict v,
                        const struct otsync_err *nerr);

static int
send_attempt(struct oreq *q, struct otsync_err *err)
{
    struct ossclient *c = q->c;
    struct osssign_param hp[MAX_HEADERS];
    struct osssign_req sr;
    struct osssign_v4 v4 = {c->region, NULL, NULL};
    struct net_request nr;
    char url[URL_MAX], auth[AUTH_MAX], date[OSSSIGN_HTTP_DATE_SIZE], md5b64[32], range[80];
    char lines[MAX_HEADERS][URL_MAX / 2];
    const char *hl[MAX_HEADERS + 1];
    unsigned char md5[SIGN_MD5_LEN];
    size_t nh = 0, i;
    int rc;

    if (c->version == 4) {
        if (osssign_iso_date(time(NULL), date) < 0)
            return otsync_err_set(err, OTSYNC_ESYS, "oss: cannot format the date");
        hp[nh++] = (struct osssign_param){"x-oss-date", date};
        hp[nh++] = (struct osssign_param){"x-oss-content-sha256", "UNSIGNED-PAYLOAD"};
    } else {
        if (osssign_http_date(time(NULL), date) < 0)
            return otsync_err_set(err, OTSYNC_ESYS, "oss: cannot format the date");
        hp[nh++] = (struct osssign_param){"Date", date};
    }
    if (q->body_len) {
        if (sign_md5(q->body ? (const void *)q->body : q->lent, q->body_len, md5) < 0)
            return otsync_err_set(err, OTSYNC_ESYS, "oss: MD5 failed");
        sign_base64(md5, sizeof(md5), md5b64);
        hp[nh++] = (struct osssign_param){"Content-MD5", md5b64};
    }
    if (c->token)
        hp[nh++] = (struct osssign_param){"x-oss-security-token", c->token};
    for (i = 0; i < q->extra_count; i++)
        hp[nh++] = q->extra[i];
    if (q->op == OP_GET) {
        if (q->last == UINT64_MAX)
            snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", q->next);
        else
            snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, q->next, q->last);
        hp[nh++] = (struct osssign_param){"Range", range};
        hp[nh++] = (struct osssign_param){"x-oss-range-behavior", "standard"};
    }
    memset(&sr, 0, sizeof(sr));
    sr.method = q->method;
    sr.bucket = c->bucket;
    sr.key = q->key;
    sr.query = q->query;
    sr.query_count = q->query_count;
    sr.headers = hp;
    sr.header_count = nh;
    rc = c->version == 4 ? osssign_v4(&sr, &v4, c->key_id, c->secret, auth, sizeof(auth), err)
                         : osssign_v1(&sr, c->key_id, c->secret, auth, sizeof(auth), err);
    if (rc < 0)
        return otsync_err_prefix(err, "oss: signing %s", op_names[q->op]);
    if (ossclient_url(c, q->key, q->query, q->query_count, url, sizeof(url)) < 0)
        return otsync_err_set(err, OTSYNC_EINVAL, "oss: the URL of '%s' is too long",
                              q->key ? q->key : "");
    for (i = 0; i < nh; i++) {
        if (snprintf(lines[i], sizeof(lines[i]), "%s: %s", hp[i].name, hp[i].value)
            >= (int)sizeof(lines[i]))
            return otsync_err_set(err, OTSYNC_EINVAL, "oss: header %s is too long", hp[i].name);
        hl[i] = lines[i];
    }
    if (snprintf(lines[nh], sizeof(lines[nh]), "Authorization: %s", auth)
        >= (int)sizeof(lines[nh]))
        return otsync_err_set(err, OTSYNC_EINVAL, "oss: the Authorization header is too long");
    hl[nh] = lines[nh];
    hl[nh + 1] = NULL;
    memset(&nr, 0, sizeof(nr));
    nr.method = q->method;
    nr.url = url;
    nr.headers = hl;
    nr.body = q->body ? (const void *)q->body : q->lent;
    nr.body_len = q->body_len;
    nr.body_borrowed = true;    /* q, and so its body, lives until the request's done() */
    nr.attempt_timeout_ms = c->attempt_ms;
    if (q->op == OP_GET) {
        uint64_t now = uv_now(c->loop);
        long left = q->deadline > now ? (long)(q->deadline - now) : 1;
        nr.max_attempts = 1;
        nr.deadline_ms = left < c->attempt_ms ? left : c->attempt_ms;
    } else {
        nr.max_attempts = c->max_attempts;
        nr.deadline_ms = c->deadline_ms;
    }
    nr.backoff_base_ms = 200;
    nr.backoff_max_ms = 20000;
    nr.done = on_net_done;
    nr.arg = q;
    if ((rc = net_request(c->net, &nr, err)) < 0)
        return rc;
    q->busy = true;
    return 0;
}

static struct oreq *
oreq_new(struct ossclient *c, enum op op, const char *method, const char *key, ossclient_cb cb,
         void *arg, struct otsync_err *err)
{
    struct oreq *q;

    if (c->closing) {
        otsync_err_set(err, OTSYNC_ECANCELED, "oss: the client is closing");
        return NULL;
    }
    if (!(q = calloc(1, sizeof(*q))) || (key && *key && !(q->key = strdup(key)))) {
        free(q);
        otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
        return NULL;
    }
    q->c = c;
    q->op = op;
    q->method = method;
    q->cb = cb;
    q->arg = arg;
    return q;
}

/* Adds a query parameter; value NULL for a bare one. False: out of memory. */
static bool
add_query(struct oreq *q, const char *name, const char *value)
{
    char *v = NULL;

    if (value && !(v = strdup(value)))
        return false;
    q->qvals[q->query_count] = v;
    q->query[q->query_count++] = (struct osssign_param){name, v};
    return true;
}

/* The caller's bytes, lent until its callback: a part of several MB is never copied here. */
static bool
set_body(struct oreq *q, const void *data, size_t len)
{
    q->lent = len ? data : NULL;
    q->body_len = len;
    return true;
}

/* Links q in and sends it; on failure q is freed and nothing will call back. */
static int
oreq_start(struct oreq *q, bool ok, struct otsync_err *err)
{
    struct ossclient *c = q->c;
    int rc;

    if (!ok) {
        oreq_destroy(q);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    if ((rc = send_attempt(q, err)) < 0) {
        oreq_destroy(q);
        return rc;
    }
    q->next_req = c->reqs;
    if (c->reqs)
        c->reqs->prev = q;
    c->reqs = q;
    c->pending++;
    return 0;
}

/* ---- answers ---- */

static void
deliver(struct oreq *q, struct ossclient_result *res)
{
    q->cb(q->arg, res);
    oreq_end(q);
}

static void on_append_settled(void *arg, const struct ossclient_result *r);
static void on_complete_settled(void *arg, const struct ossclient_result *r);
static void on_get_wait(uv_timer_t *t);

/*
 * A retried call that may have landed on an earlier attempt asks HEAD how things stand;
 * q stays alive until the HEAD answers. Returns false when the HEAD could not even start.
 */
static bool
settle_by_head(struct oreq *q, ossclient_cb cb)
{
    struct otsync_err err;
    struct oreq *h;

    otsync_err_clear(&err);
    if (!(h = oreq_new(q->c, OP_HEAD, "HEAD", q->key, cb, q, &err)))
        return false;
    h->parent = q;
    return oreq_start(h, true, &err) == 0;
}

/* The GET's next attempt after a backoff, if attempts and the deadline allow. */
static bool
get_again(struct oreq *q)
{
    struct ossclient *c = q->c;
    uint64_t bound = 200ull << (q->attempts > 10 ? 10 : q->attempts > 0 ? q->attempts - 1 : 0);
    uint64_t wait;

    if (bound > 20000)
        bound = 20000;
    wait = (uint64_t)random() % (bound + 1);
    if (q->attempts >= c->max_attempts || uv_now(c->loop) + wait >= q->deadline || c->closing)
        return false;
    if (!q->timer_open) {
        uv_timer_init(c->loop, &q->timer);
        q->timer.data = q;
        q->timer_open = true;
    }
    uv_timer_start(&q->timer, on_get_wait, wait ? wait : 1, 0);
    q->busy = false;
    return true;
}

/* Keeps what a GET brought; a first and last byte are those the answer claims to carry. */
static bool
get_keep(struct oreq *q, const char *data, size_t len)
{
    if (q->got_len + len + 1 > q->got_cap) {
        size_t cap = q->got_cap ? q->got_cap : 65536;
        char *p;
        while (cap < q->got_len + len + 1)
            cap *= 2;
        if (!(p = realloc(q->got, cap)))
            return false;
        q->got = p;
        q->got_cap = cap;
    }
    memcpy(q->got + q->got_len, data, len);
    q->got_len += len;
    q->got[q->got_len] = '\0';
    q->next += len;
    return true;
}

/*
 * The bytes of an answer are ours when it is a 206 whose Content-Range starts at the byte
 * wanted: then len of them (at most the range's) are kept. Returns how many bytes the range
 * holds (0 when the answer is not usable).
 */
static uint64_t
get_usable(struct oreq *q, const char *headers, long status, uint64_t *ret_end)
{
    char cr[128];
    uint64_t a, b, total;

    if (status != 206 || !header_get(headers, "Content-Range", cr, sizeof(cr))
        || !parse_content_range(cr, &a, &b, &total) || a != q->next)
        return 0;
    if (total)
        q->total = total;
    *ret_end = b;
    return b - a + 1;
}

static void
get_done(struct oreq *q, const struct net_response *r, enum net_verdict v,
         const struct otsync_err *nerr)
{
    struct ossclient_result res;
    struct otsync_err err;
    char code[128];
    uint64_t span, end = 0;
    size_t take;
    long status = r->status ? r->status : header_status(r->headers);
    bool retry;

    memset(&res, 0, sizeof(res));
    otsync_err_clear(&err);
    q->attempts++;
    span = get_usable(q, r->headers, status, &end);
    if (span) {
        take = r->body_len < span ? r->body_len : (size_t)span;
        if (!get_keep(q, r->body, take)) {
            res.rc = otsync_err_set(&err, OTSYNC_ENOMEM, "out of memory");
            goto out;
        }
        /* all of it, or all the object holds from there: the server clips a range at the end */
        if (v == NET_OK && take == span && (end == q->last || (q->total && q->next >= q->total)))
            goto out;
        /* the transfer broke: the next attempt goes on from q->next; progress renews the
         * attempts, the deadline still bounds them */
        if (take)
            q->attempts = 0;
        if (get_again(q))
            return;
        res.rc = otsync_err_set(&err, OTSYNC_ERETRY, "oss: GetObject '%s': gave up after %d "
                                "attempts at byte %" PRIu64 "%s%s", q->key, q->attempts,
                                q->next, nerr ? ": " : "", nerr ? nerr->msg : "");
        goto out;
    }
    if (v == NET_OK) {
        res.rc = otsync_err_set(&err, OTSYNC_EPROTO, "oss: GetObject '%s': expected 206 with "
                                "bytes from %" PRIu64 ", got HTTP %ld", q->key, q->next, status);
        goto out;
    }
    retry = r->status == 0 ? nerr && nerr->code == OTSYNC_ERETRY
            : r->status == 408 || r->status == 429 || r->status >= 500;
    if (retry && get_again(q))
        return;
    if (r->status) {
        res.rc = answer_error(q, r, code, sizeof(code), &err);
        res.code = code[0] ? code : NULL;
    } else {
        err = *nerr;
        res.rc = -(nerr->code ? nerr->code : OTSYNC_ERETRY);
        otsync_err_prefix(&err, "oss: GetObject '%s' (%d attempts)", q->key, q->attempts);
    }
out:
    res.status = status;
    res.err = res.rc < 0 ? &err : NULL;
    res.data = q->got ? q->got : "";
    res.len = q->got_len;
    res.size = q->total;
    deliver(q, &res);
}

static void
on_get_wait(uv_timer_t *t)
{
    struct oreq *q = t->data;
    struct ossclient_result res;
    struct otsync_err err;

    otsync_err_clear(&err);
    q->busy = true;
    if (send_attempt(q, &err) == 0)
        return;
    memset(&res, 0, sizeof(res));
    res.rc = -err.code;
    res.err = &err;
    deliver(q, &res);
}

static void
on_net_done(void *arg, const struct net_response *r, enum net_verdict v,
            const struct otsync_err *nerr)
{
    struct oreq *q = arg;
    struct ossclient *c = q->c;
    struct ossclient_result res;
    struct ossxml_doc *doc = NULL;
    struct ossxml_initiate ini;
    struct ossxml_list list;
    struct ossxml_complete_result cres;
    struct otsync_err err;
    char rid[128], crc[32], etag[256], pos[32], len[32], type[32], code[128];

    if (c->closing) {
        if (q->parent)
            oreq_end(q->parent);
        oreq_end(q);
        return;
    }
    if (q->op == OP_GET) {
        get_done(q, r, v, nerr);
        return;
    }
    memset(&res, 0, sizeof(res));
    otsync_err_clear(&err);
    res.status = r->status;
    if (header_get(r->headers, "x-oss-request-id", rid, sizeof(rid)))
        res.request_id = rid;
    if (header_get(r->headers, "x-oss-hash-crc64ecma", crc, sizeof(crc))
        && parse_u64(crc, &res.crc64))
        res.has_crc64 = true;
    if (header_get(r->headers, "ETag", etag, sizeof(etag)))
        res.etag = etag;
    if (header_get(r->headers, "x-oss-next-append-position", pos, sizeof(pos)))
        (void)parse_u64(pos, &res.next_position);
    if (header_get(r->headers, "x-oss-object-type", type, sizeof(type)))
        res.object_type = type;
    if (q->op == OP_HEAD && header_get(r->headers, "Content-Length", len, sizeof(len)))
        (void)parse_u64(len, &res.size);
    if (v != NET_OK) {
        if (r->status == 0) {
            err = *nerr;
            res.rc = -(nerr->code ? nerr->code : OTSYNC_ERETRY);
            otsync_err_prefix(&err, "oss: %s '%s'", op_names[q->op], q->key ? q->key : c->bucket);
            goto out;
        }
        res.rc = answer_error(q, r, code, sizeof(code), &err);
        res.code = code[0] ? code : NULL;
        /* an earlier attempt may have done the work before its answer was lost */
        if (r->attempts > 1 && ((q->op == OP_APPEND && strcmp(code, "PositionNotEqualToLength")
                                 == 0) || (q->op == OP_COMPLETE && strcmp(code, "NoSuchUpload")
                                           == 0))
            && settle_by_head(q, q->op == OP_APPEND ? on_append_settled : on_complete_settled))
            return;
        goto out;
    }
    switch (q->op) {
    case OP_LIST:
        if ((res.rc = ossxml_parse(r->body, r->body_len, &doc, &err)) == 0
            && (res.rc = ossxml_get_list(doc, &list, &err)) == 0)
            res.list = &list;
        break;
    case OP_INITIATE:
        if ((res.rc = ossxml_parse(r->body, r->body_len, &doc, &err)) == 0
            && (res.rc = ossxml_get_initiate(doc, &ini, &err)) == 0)
            res.upload_id = ini.upload_id;
        break;
    case OP_COMPLETE:
        if ((res.rc = ossxml_parse(r->body, r->body_len, &doc, &err)) == 0
            && (res.rc = ossxml_get_complete_result(doc, &cres, &err)) == 0 && cres.etag)
            res.etag = cres.etag;
        break;
    default:
        break;
    }
    if (res.rc < 0) {
        otsync_err_prefix(&err, "oss: %s: the answer cannot be read", op_names[q->op]);
        goto out;
    }
    if (q->check_crc && res.has_crc64 && res.crc64 != q->want_crc)
        res.rc = otsync_err_set(&err, OTSYNC_ERETRY, "oss: %s '%s': the server's CRC-64 %"
                                PRIu64 " differs from ours %" PRIu64 "; the data was damaged "
                                "on the way", op_names[q->op], q->key, res.crc64, q->want_crc);
out:
    res.err = res.rc < 0 ? &err : NULL;
    deliver(q, &res);
    ossxml_free(doc);
}

/* A retried append met PositionNotEqualToLength: it landed if the object now ends where the
 * append would have ended it. */
static void
on_append_settled(void *arg, const struct ossclient_result *h)
{
    struct oreq *q = arg;
    struct ossclient_result res;
    struct otsync_err err;

    memset(&res, 0, sizeof(res));
    otsync_err_clear(&err);
    res.status = h->status;
    if (h->rc == 0 && h->size == q->position + q->body_len
        && (!h->has_crc64 || h->crc64 == q->want_crc)) {
        res.next_position = h->size;
        res.has_crc64 = h->has_crc64;
        res.crc64 = h->crc64;
    } else {
        res.rc = otsync_err_set(&err, OTSYNC_EPROTO, "oss: AppendObject '%s' at %" PRIu64
                                ": the object is %" PRIu64 " bytes long, not what this append "
                                "makes it", q->key, q->position, h->size);
        res.err = &err;
    }
    if (!q->c->closing)
        q->cb(q->arg, &res);
    oreq_end(q);
}

/* A retried Complete met NoSuchUpload: it completed if the object is there with our CRC. */
static void
on_complete_settled(void *arg, const struct ossclient_result *h)
{
    struct oreq *q = arg;
    struct ossclient_result res;
    struct otsync_err err;

    memset(&res, 0, sizeof(res));
    otsync_err_clear(&err);
    if (h->rc == 0 && (!q->check_crc || (h->has_crc64 && h->crc64 == q->want_crc))) {
        res.etag = h->etag;
        res.has_crc64 = h->has_crc64;
        res.crc64 = h->crc64;
    } else {
        res.rc = otsync_err_set(&err, OTSYNC_EPROTO, "oss: CompleteMultipartUpload '%s': the "
                                "upload is gone and the object is not what it would have made",
                                q->key);
        res.err = &err;
    }
    if (!q->c->closing)
        q->cb(q->arg, &res);
    oreq_end(q);
}

/* ---- the calls ---- */

int
ossclient_put(struct ossclient *c, const char *key, const void *data, size_t len,
              bool forbid_overwrite, ossclient_cb cb, void *arg, struct otsync_err *err)
{
    struct oreq *q = oreq_new(c, OP_PUT, "PUT", key, cb, arg, err);

    if (!q)
        return -err->code;
    if (forbid_overwrite)
        q->extra[q->extra_count++] = (struct osssign_param){"x-oss-forbid-overwrite", "true"};
    q->check_crc = true;
    q->want_crc = crc64ecma(0, data, len);
    return oreq_start(q, set_body(q, data, len), err);
}

int
ossclient_append(struct ossclient *c, const char *key, uint64_t position, uint64_t prev_crc,
                 const void *data, size_t len, ossclient_cb cb, void *arg,
                 struct otsync_err *err)
{
    struct oreq *q = oreq_new(c, OP_APPEND, "POST", key, cb, arg, err);
    char p[32];

    if (!q)
        return -err->code;
    snprintf(p, sizeof(p), "%" PRIu64, position);
    q->position = position;
    q->check_crc = true;
    q->want_crc = crc64ecma(prev_crc, data, len);
    return oreq_start(q, add_query(q, "append", NULL) && add_query(q, "position", p)
                      && set_body(q, data, len), err);
}

int
ossclient_head(struct ossclient *c, const char *key, ossclient_cb cb, void *arg,
               struct otsync_err *err)
{
    struct oreq *q = oreq_new(c, OP_HEAD, "HEAD", key, cb, arg, err);

    if (!q)
        return -err->code;
    return oreq_start(q, true, err);
}

int
ossclient_get(struct ossclient *c, const char *key, uint64_t first, uint64_t last,
              ossclient_cb cb, void *arg, struct otsync_err *err)
{
    struct oreq *q;

    if (last < first)
        return otsync_err_set(err, OTSYNC_EINVAL, "oss: GetObject '%s': empty range", key);
    if (!(q = oreq_new(c, OP_GET, "GET", key, cb, arg, err)))
        return -err->code;
    q->first = q->next = first;
    q->last = last;
    q->deadline = uv_now(c->loop) + (uint64_t)c->deadline_ms;
    return oreq_start(q, true, err);
}

int
ossclient_list(struct ossclient *c, const char *prefix, const char *token, unsigned max_keys,
               ossclient_cb cb, void *arg, struct otsync_err *err)
{
    struct oreq *q = oreq_new(c, OP_LIST, "GET", NULL, cb, arg, err);
    char mk[16];
    bool ok;

    if (!q)
        return -err->code;
    snprintf(mk, sizeof(mk), "%u", max_keys ? max_keys : 1000);
    ok = add_query(q, "list-type", "2") && add_query(q, "max-keys", mk)
         && (!prefix || !*prefix || add_query(q, "prefix", prefix))
         && (!token || !*token || add_query(q, "continuation-token", token));
    return oreq_start(q, ok, err);
}

int
ossclient_delete(struct ossclient *c, const char *key, ossclient_cb cb, void *arg,
                 struct otsync_err *err)
{
    struct oreq *q = oreq_new(c, OP_DELETE, "DELETE", key, cb, arg, err);

    if (!q)
        return -err->code;
    return oreq_start(q, true, err);
}

int
ossclient_delete_many(struct ossclient *c, const char *const *keys, size_t count,
                      ossclient_cb cb, void *arg, struct otsync_err *err)
{
    struct ossxml_delete d = {true, keys, count};
    struct oreq *q;
    char *xml = NULL;
    size_t xml_len = 0;
    int rc;

    if (count == 0 || count > 1000)
        return otsync_err_set(err, OTSYNC_EINVAL, "oss: DeleteMultipleObjects takes 1 to 1000 "
                              "keys, not %zu", count);
    if ((rc = ossxml_write_delete(&d, &xml, &xml_len, err)) < 0)
        return rc;
    if (!(q = oreq_new(c, OP_DELETE_MANY, "POST", NULL, cb, arg, err))) {
        free(xml);
        return -err->code;
    }
    q->body = (unsigned char *)xml;
    q->body_len = xml_len;
    return oreq_start(q, add_query(q, "delete", NULL), err);
}

int
ossclient_mpu_initiate(struct ossclient *c, const char *key, bool forbid_overwrite,
                       ossclient_cb cb, void *arg, struct otsync_err *err)
{
    struct oreq *q = oreq_new(c, OP_INITIATE, "POST", key, cb, arg, err);

    if (!q)
        return -err->code;
    if (forbid_overwrite)
        q->extra[q->extra_count++] = (struct osssign_param){"x-oss-forbid-overwrite", "true"};
    return oreq_start(q, add_query(q, "uploads", NULL), err);
}

int
ossclient_mpu_part(struct ossclient *c, const char *key, const char *upload_id, uint32_t number,
                   const void *data, size_t len, ossclient_cb cb, void *arg,
                   struct otsync_err *err)
{
    struct oreq *q;
    char n[16];

    if (number < 1 || number > 10000)
        return otsync_err_set(err, OTSYNC_EINVAL, "oss: part number %" PRIu32 " is not in 1 "
                              "to 10000", number);
    if (!(q = oreq_new(c, OP_PART, "PUT", key, cb, arg, err)))
        return -err->code;
    snprintf(n, sizeof(n), "%" PRIu32, number);
    q->check_crc = true;
    q->want_crc = crc64ecma(0, data, len);
    return oreq_start(q, add_query(q, "partNumber", n) && add_query(q, "uploadId", upload_id)
                      && set_body(q, data, len), err);
}

int
ossclient_mpu_complete(struct ossclient *c, const char *key, const char *upload_id,
                       const struct ossclient_part *parts, size_t count, bool has_crc,
                       uint64_t whole_crc, ossclient_cb cb, void *arg, struct otsync_err *err)
{
    struct ossxml_part *xp;
    struct ossxml_complete cx;
    struct oreq *q;
    char *xml = NULL;
    size_t xml_len = 0, i;
    int rc;

    if (!(xp = calloc(count ? count : 1, sizeof(*xp))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    for (i = 0; i < count; i++) {
        xp[i].part_number = parts[i].number;
        xp[i].etag = parts[i].etag;
    }
    cx.parts = xp;
    cx.part_count = count;
    rc = ossxml_write_complete(&cx, &xml, &xml_len, err);
    free(xp);
    if (rc < 0)
        return rc;
    if (!(q = oreq_new(c, OP_COMPLETE, "POST", key, cb, arg, err))) {
        free(xml);
        return -err->code;
    }
    q->body = (unsigned char *)xml;
    q->body_len = xml_len;
    q->check_crc = has_crc;
    q->want_crc = whole_crc;
    return oreq_start(q, add_query(q, "uploadId", upload_id), err);
}

int
ossclient_mpu_abort(struct ossclient *c, const char *key, const char *upload_id,
                    ossclient_cb cb, void *arg, struct otsync_err *err)
{
    struct oreq *q = oreq_new(c, OP_ABORT, "DELETE", key, cb, arg, err);

    if (!q)
        return -err->code;
    return oreq_start(q, add_query(q, "uploadId", upload_id), err);
}
