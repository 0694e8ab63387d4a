/*
 * probe.c - otsync-run --test-datasource: one cheap authenticated call per datasource type,
 * then one plain line saying what happened.
 *
 * The calls: Table Store ListTable (needs the instance and a valid key), OSS ListObjects with
 * max-keys=1 on the bucket (needs the bucket and a key allowed to list it), MaxCompute GET of
 * the project. Each is signed as the service requires and judged by the answer: no answer is
 * a DNS, connection or TLS failure (libcurl says which); 401/403 is the key; 404 or the
 * service's "does not exist" code is the instance, bucket or project.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <uv.h>
#include "otsync/log.h"
#include "otsync/net.h"
#include "otsync/odpssign.h"
#include "otsync/osssign.h"
#include "otsync/ossxml.h"
#include "otsync/otssign.h"
#include "otsync/sign.h"
#include "tablestore.pb-c.h"
#include "probe.h"

#define MAX_HEADERS 12

struct probe {
    const struct datasource *ds;
    char lines[MAX_HEADERS][1200];  /* "Name: value" */
    const char *hdrs[MAX_HEADERS + 1];
    size_t count;
    char url[2048];
    const char *method;
    int exit_code;
    char verdict[1500];
};

static void
add_header(struct probe *p, const char *name, const char *value)
{
    snprintf(p->lines[p->count], sizeof(p->lines[0]), "%s: %s", name, value);
    p->hdrs[p->count] = p->lines[p->count];
    p->hdrs[++p->count] = NULL;
}

/* The endpoint without a trailing slash, and whether it names a host that is an IP address
 * (then OSS is addressed path-style: the bucket cannot be a subdomain of an address). */
static void
split_endpoint(const char *endpoint, char *ret_base, size_t len, char *ret_host, size_t hlen)
{
    const char *h = strstr(endpoint, "://");
    size_t n;

    snprintf(ret_base, len, "%s", endpoint);
    n = strlen(ret_base);
    while (n && ret_base[n - 1] == '/')
        ret_base[--n] = '\0';
    h = h ? h + 3 : endpoint;
    snprintf(ret_host, hlen, "%.*s", (int)strcspn(h, "/:"), h);
}

static bool
is_address(const char *host)
{
    return strcmp(host, "localhost") == 0 || strspn(host, "0123456789.") == strlen(host);
}

static int
build_ots(struct probe *p, struct otsync_err *err)
{
    const struct datasource *ds = p->ds;
    struct otssign_header h[6];
    char date[64], md5[OTSSIGN_MD5_LEN], sig[OTSSIGN_SIG_LEN], base[1024], host[256];
    struct timespec ts;
    struct tm tm;
    size_t n = 0;
    int rc;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(date, sizeof(date), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts.tv_nsec / 1000000));
    if ((rc = otssign_content_md5("", 0, md5, sizeof(md5), err)) < 0)
        return rc;
    h[n++] = (struct otssign_header){"x-ots-date", date};
    h[n++] = (struct otssign_header){"x-ots-apiversion", "2015-12-31"};
    h[n++] = (struct otssign_header){"x-ots-accesskeyid", ds->access_key_id};
    h[n++] = (struct otssign_header){"x-ots-instancename", ds->instance};
    h[n++] = (struct otssign_header){"x-ots-contentmd5", md5};
    if (ds->security_token)
        h[n++] = (struct otssign_header){"x-ots-ststoken", ds->security_token};
    if ((rc = otssign_request(ds->access_key_secret, "/ListTable", "POST", h, n, sig,
                              sizeof(sig), err)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        add_header(p, h[i].name, h[i].value);
    add_header(p, "x-ots-signature", sig);
    split_endpoint(ds->endpoint, base, sizeof(base), host, sizeof(host));
    snprintf(p->url, sizeof(p->url), "%s/ListTable", base);
    p->method = "POST";
    return 0;
}

static int
build_oss(struct probe *p, struct otsync_err *err)
{
    const struct datasource *ds = p->ds;
    struct osssign_param q[2] = {{"max-keys", "1"}}, h[3];
    struct osssign_req req;
    char date[OSSSIGN_HTTP_DATE_SIZE], auth[1024], base[1024], host[256];
    const char *scheme_end;
    size_t n = 0;
    int rc;

    if (osssign_http_date(time(NULL), date) < 0)
        return otsync_err_set(err, OTSYNC_EINVAL, "cannot format the date");
    h[n++] = (struct osssign_param){"Date", date};
    if (ds->security_token)
        h[n++] = (struct osssign_param){"x-oss-security-token", ds->security_token};
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.bucket = ds->bucket;
    req.query = q;
    req.query_count = 1;
    req.headers = h;
    req.header_count = n;
    if ((rc = osssign_v1(&req, ds->access_key_id, ds->access_key_secret, auth, sizeof(auth),
                         err)) < 0)
        return rc;
    add_header(p, "Date", date);
    if (ds->security_token)
        add_header(p, "x-oss-security-token", ds->security_token);
    add_header(p, "Authorization", auth);
    split_endpoint(ds->endpoint, base, sizeof(base), host, sizeof(host));
    if (is_address(host)) {
        snprintf(p->url, sizeof(p->url), "%s/%s/?max-keys=1", base, ds->bucket);
    } else {
        scheme_end = strstr(base, "://");
        snprintf(p->url, sizeof(p->url), "%.*s%s.%s/?max-keys=1",
                 scheme_end ? (int)(scheme_end - base + 3) : 0, base, ds->bucket,
                 scheme_end ? scheme_end + 3 : base);
    }
    p->method = "GET";
    return 0;
}

static int
build_odps(struct probe *p, struct otsync_err *err)
{
    const struct datasource *ds = p->ds;
    struct odpssign_header h[2];
    struct odpssign_req req;
    char date[64], auth[1024], path[600], base[1024], host[256];
    size_t n = 0;
    int rc;

    if ((rc = odpssign_date(time(NULL), date, sizeof(date), err)) < 0)
        return rc;
    h[n++] = (struct odpssign_header){"Date", date};
    snprintf(path, sizeof(path), "/projects/%s", ds->project);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = path;
    req.headers = h;
    req.header_count = n;
    if ((rc = odpssign_v2(&req, ds->access_key_id, ds->access_key_secret, auth, sizeof(auth),
                          err)) < 0)
        return rc;
    add_header(p, "Date", date);
    add_header(p, "Authorization", auth);
    if (ds->security_token)
        add_header(p, ODPSSIGN_STS_HEADER, ds->security_token);
    split_endpoint(ds->endpoint, base, sizeof(base), host, sizeof(host));
    snprintf(p->url, sizeof(p->url), "%s%s", base, path);
    p->method = "GET";
    return 0;
}

/* The service's error code and message from an error body, as far as it can be read. */
static void
error_of(const struct probe *p, const struct net_response *r, char *code, size_t clen,
         char *msg, size_t mlen)
{
    code[0] = msg[0] = '\0';
    if (!r->body_len)
        return;
    if (p->ds->type == DATASOURCE_OTS) {
        Otsync__Ots__Error *e = otsync__ots__error__unpack(NULL, r->body_len,
                                                           (const uint8_t *)r->body);
        if (e) {
            snprintf(code, clen, "%s", e->code ? e->code : "");
            snprintf(msg, mlen, "%s", e->message ? e->message : "");
            otsync__ots__error__free_unpacked(e, NULL);
        }
    } else if (r->body[0] == '<') {
        struct ossxml_doc *doc = NULL;
        struct ossxml_error e;

        if (ossxml_parse(r->body, r->body_len, &doc, NULL) == 0
            && ossxml_get_error(doc, &e, NULL) == 0) {
            snprintf(code, clen, "%s", e.code ? e.code : "");
            snprintf(msg, mlen, "%s", e.message ? e.message : "");
        }
        ossxml_free(doc);
    } else {
        /* MaxCompute answers JSON or XML; quote the start of the body */
        snprintf(msg, mlen, "%.200s", r->body);
    }
}

static const char *
what_of(enum datasource_type t)
{
    return t == DATASOURCE_OTS ? "instance" : t == DATASOURCE_OSS ? "bucket" : "project";
}

static const char *
name_of(const struct datasource *ds)
{
    return ds->type == DATASOURCE_OTS ? ds->instance
           : ds->type == DATASOURCE_OSS ? ds->bucket : ds->project;
}

static enum net_verdict
classify(void *arg, const struct net_response *r)
{
    (void)arg;
    if (r->status >= 200 && r->status < 300)
        return NET_OK;
    return r->status >= 500 ? NET_RETRY : NET_FAIL;
}

static void
on_done(void *arg, const struct net_response *r, enum net_verdict v, const struct otsync_err *err)
{
    struct probe *p = arg;
    const struct datasource *ds = p->ds;
    char code[128], msg[512];
    int cc = r->curl_code;

    if (v == NET_OK) {
        snprintf(p->verdict, sizeof(p->verdict), "ok: %s (%s) answers at %s; %s %s is there "
                 "and the key is accepted", ds->name, datasource_type_name(ds->type),
                 ds->endpoint, what_of(ds->type), name_of(ds));
        p->exit_code = 0;
        return;
    }
    p->exit_code = 1;
    if (r->status == 0) {
        const char *why = cc == CURLE_COULDNT_RESOLVE_HOST ? "the host name does not resolve (DNS)"
                          : cc == CURLE_COULDNT_RESOLVE_PROXY ? "the proxy name does not resolve"
                          : cc == CURLE_COULDNT_CONNECT ? "nothing accepts connections there"
                          : cc == CURLE_OPERATION_TIMEDOUT ? "no answer in time"
                          : cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE
                            || cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CERTPROBLEM
                          ? "TLS failed (certificate or handshake)"
                          : "the connection failed";
        snprintf(p->verdict, sizeof(p->verdict), "failed: %s: %s: %s (%s)", ds->name,
                 ds->endpoint, why, err && err->msg[0] ? err->msg : curl_easy_strerror(cc));
        return;
    }
    error_of(p, r, code, sizeof(code), msg, sizeof(msg));
    if (r->status == 401 || r->status == 403)
        snprintf(p->verdict, sizeof(p->verdict), "failed: %s: authentication refused (HTTP %ld "
                 "%s%s%s): check access_key_id and the secret%s", ds->name, r->status, code,
                 msg[0] ? ": " : "", msg,
                 ds->type == DATASOURCE_OTS ? ", and that the instance exists" : "");
    else if (r->status == 404 || strstr(code, "NoSuch") || strstr(code, "NotExist"))
        snprintf(p->verdict, sizeof(p->verdict), "failed: %s: %s %s does not exist (HTTP %ld "
                 "%s%s%s)", ds->name, what_of(ds->type), name_of(ds), r->status, code,
                 msg[0] ? ": " : "", msg);
    else
        snprintf(p->verdict, sizeof(p->verdict), "failed: %s: HTTP %ld %s%s%s", ds->name,
                 r->status, code, msg[0] ? ": " : "", msg);
}

int
probe_datasource(const struct datasources *set, const char *name)
{
    const struct datasource *ds = datasources_find(set, name);
    struct probe *p;
    struct net *net = NULL;
    struct net_opts no = {.connect_timeout_ms = 5000};
    struct net_request req;
    struct otsync_err err;
    uv_loop_t loop;
    int rc, code;

    if (!ds) {
        printf("failed: no datasource named %s in %s\n", name,
               set ? set->path : "(no datasources file: give -d FILE)");
        return 2;
    }
    if (!(p = calloc(1, sizeof(*p)))) {
        printf("failed: out of memory\n");
        return 1;
    }
    p->ds = ds;
    p->exit_code = 1;
    otsync_err_clear(&err);
    rc = ds->type == DATASOURCE_OTS ? build_ots(p, &err)
         : ds->type == DATASOURCE_OSS ? build_oss(p, &err) : build_odps(p, &err);
    if (rc < 0) {
        printf("failed: %s: %s\n", name, err.msg);
        free(p);
        return 1;
    }
    uv_loop_init(&loop);
    if ((rc = net_new(&loop, &no, &net, &err)) == 0) {
        memset(&req, 0, sizeof(req));
        req.method = p->method;
        req.url = p->url;
        req.headers = p->hdrs;
        req.attempt_timeout_ms = 10000;
        req.deadline_ms = 20000;
        req.max_attempts = 2;
        req.classify = classify;
        req.done = on_done;
        req.arg = p;
        if ((rc = net_request(net, &req, &err)) == 0)
            uv_run(&loop, UV_RUN_DEFAULT);
        net_close(net);
        uv_run(&loop, UV_RUN_DEFAULT);
        net_free(net);
    }
    uv_loop_close(&loop);
    if (rc < 0)
        snprintf(p->verdict, sizeof(p->verdict), "failed: %s: %s", name, err.msg);
    printf("%s\n", p->verdict);
    code = p->exit_code;
    free(p);
    return code;
}
