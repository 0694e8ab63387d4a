/*
 * oss.c - otsync-emu's OSS: buckets, objects (normal, appendable, multipart) and the
 * signatures guarding them, as oss.md describes the service; state in memory, saved under
 * --data as oss/index.json plus one file per object or part.
 *
 * Owns: routing (virtual-hosted, path style, CNAME), authentication (V1 header, V4 header,
 * presigned V1, STS token, clock skew), the operations listed in op_names, the error answers,
 * the admin calls under /_emu/oss/ and persistence.
 * Leaves to others: objects written over several requests, multipart uploads and appends
 * (oss-multipart.c); HTTP, locking and faults (server.c); signing and its canonical strings
 * (osssign.c), XML (ossxml.c), CRC-64 and digests (crc64.c, sign.c).
 *
 * Every handler runs under emu->lock, so nothing here locks. Object bytes live in one buffer
 * per object; appends grow it geometrically, so a stream of appends or a large PUT costs a
 * linear number of copies.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "otsync/crc64.h"
#include "otsync/log.h"
#include "otsync/osssign.h"
#include "otsync/ossxml.h"
#include "otsync/sign.h"
#include "emu.h"
#include "oss.h"

static const char *const type_names[] = {"Normal", "Appendable", "Multipart"};

enum op {
    OP_UNKNOWN, OP_PUT_BUCKET, OP_DELETE_BUCKET, OP_LIST_OBJECTS,
    OP_LIST_OBJECTS_V2, OP_DELETE_MULTIPLE, OP_PUT_OBJECT, OP_GET_OBJECT, OP_HEAD_OBJECT,
    OP_DELETE_OBJECT, OP_APPEND_OBJECT, OP_INITIATE, OP_UPLOAD_PART, OP_COMPLETE, OP_ABORT,
    OP_LIST_PARTS,
};
static const char *const op_names[] = {
    "Unsupported", "PutBucket", "DeleteBucket", "ListObjects", "ListObjectsV2",
    "DeleteMultipleObjects", "PutObject", "GetObject", "HeadObject", "DeleteObject",
    "AppendObject", "InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
    "AbortMultipartUpload", "ListParts",
};

/* --- small helpers --- */

void
oss_header(struct emu_resp *r, const char *name, const char *value)
{
    char *line;

    /* not emu_resp_header: its 1 KB value buffer would cut an x-oss-err or a long meta value */
    if (r->header_count < EMU_MAX_HEADERS && asprintf(&line, "%s: %s", name, value) >= 0)
        r->headers[r->header_count++] = line;
}

const char *
oss_query(const struct emu_req *req, const char *name)
{
    const struct emu_kv *kv = emu_req_arg(req, name);

    if (!kv)
        return NULL;
    return kv->value ? kv->value : "";
}

bool
oss_is_true(const char *s)
{
    return s && strcasecmp(s, "true") == 0;
}

void
oss_iso_time(time_t t, char buf[32])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

static void
http_time(time_t t, char buf[OSSSIGN_HTTP_DATE_SIZE])
{
    if (osssign_http_date(t, buf) < 0)
        buf[0] = '\0';
}

void
oss_md5_etag(const unsigned char md5[SIGN_MD5_LEN], const char *suffix, char *ret, size_t len)
{
    char hex[2 * SIGN_MD5_LEN + 1];
    size_t i;

    sign_hex(md5, SIGN_MD5_LEN, hex);
    for (i = 0; hex[i]; i++)
        if (hex[i] >= 'a' && hex[i] <= 'f')
            hex[i] = (char)(hex[i] - 'a' + 'A');
    snprintf(ret, len, "\"%s%s\"", hex, suffix);
}

/* ETags compare without their quotes and case: clients echo them in either form. */
bool
oss_same_etag(const char *a, const char *b)
{
    size_t la, lb;

    if (*a == '"')
        a++;
    if (*b == '"')
        b++;
    la = strcspn(a, "\"");
    lb = strcspn(b, "\"");
    return la == lb && strncasecmp(a, b, la) == 0;
}

static bool
valid_bucket_name(const char *s)
{
    size_t i, n = strlen(s);

    if (n < 3 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

bool
oss_valid_key(const char *k)
{
    size_t n = strlen(k);

    return n >= 1 && n <= OSS_MAX_KEY_LEN && k[0] != '/' && k[0] != '\\';
}

/* --- the store --- */

void
oss_object_free(struct object *o)
{
    if (!o)
        return;
    free(o->key);
    free(o->data);
    free(o->content_type);
    json_decref(o->meta);
    free(o);
}

static void
bucket_free(struct bucket *b)
{
    size_t i;

    if (!b)
        return;
    for (i = 0; i < b->count; i++)
        oss_object_free(b->objs[i]);
    free(b->objs);
    free(b->name);
    free(b);
}

static struct bucket *
bucket_find(struct oss *oss, const char *name)
{
    size_t i;

    for (i = 0; i < oss->bucket_count; i++)
        if (strcmp(oss->buckets[i]->name, name) == 0)
            return oss->buckets[i];
    return NULL;
}

static struct bucket *
bucket_add(struct oss *oss, const char *name, time_t created)
{
    struct bucket *b, **nb;

    if (!(nb = realloc(oss->buckets, (oss->bucket_count + 1) * sizeof(*nb))))
        return NULL;
    oss->buckets = nb;
    if (!(b = calloc(1, sizeof(*b))) || !(b->name = strdup(name))) {
        free(b);
        return NULL;
    }
    b->created = created;
    oss->buckets[oss->bucket_count++] = b;
    return b;
}

/* Index of the first key >= key; *ret_found says whether it is key itself. */
static size_t
object_pos(const struct bucket *b, const char *key, bool *ret_found)
{
    size_t lo = 0, hi = b->count, mid;
    int c;

    *ret_found = false;
    while (lo < hi) {
        mid = (lo + hi) / 2;
        c = strcmp(b->objs[mid]->key, key);
        if (c == 0) {
            *ret_found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct object *
oss_object_find(const struct bucket *b, const char *key)
{
    bool found;
    size_t i = object_pos(b, key, &found);

    return found ? b->objs[i] : NULL;
}

/* Puts o in b, replacing (and freeing) any object of the same key. Takes o; 0 or -1. */
int
oss_object_store(struct bucket *b, struct object *o)
{
    struct object **no;
    bool found;
    size_t i = object_pos(b, o->key, &found);

    if (found) {
        oss_object_free(b->objs[i]);
        b->objs[i] = o;
        return 0;
    }
    if (b->count == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;

        if (!(no = realloc(b->objs, cap * sizeof(*no)))) {
            oss_object_free(o);
            return -1;
        }
        b->objs = no;
        b->cap = cap;
    }
    memmove(b->objs + i + 1, b->objs + i, (b->count - i) * sizeof(*b->objs));
    b->objs[i] = o;
    b->count++;
    return 0;
}

static void
object_remove(struct bucket *b, const char *key)
{
    bool found;
    size_t i = object_pos(b, key, &found);

    if (!found)
        return;
    oss_object_free(b->objs[i]);
    memmove(b->objs + i, b->objs + i + 1, (b->count - i - 1) * sizeof(*b->objs));
    b->count--;
}

struct object *
oss_object_new(const char *key, const char *content_type, json_t *meta)
{
    struct object *o = calloc(1, sizeof(*o));

    if (!o) {
        json_decref(meta);
        return NULL;
    }
    o->key = strdup(key);
    o->content_type = strdup(content_type ? content_type : "application/octet-stream");
    o->meta = meta ? meta : json_object();
    o->mtime = time(NULL);
    if (!o->key || !o->content_type || !o->meta) {
        oss_object_free(o);
        return NULL;
    }
    return o;
}

/* --- errors --- */

void
oss_error_with(struct ctx *c, unsigned status, const char *code, const char *message,
               const struct ossxml_field *extra, size_t extra_count)
{
    const char *host = emu_req_header(c->req, "Host");
    struct ossxml_error e = {
        .code = code, .message = message, .request_id = c->request_id,
        .host_id = host ? host : "otsync-emu", .extra = extra, .extra_count = extra_count,
    };
    struct otsync_err err;
    char *xml = NULL, *b64;
    size_t len = 0;

    if (ossxml_write_error(&e, &xml, &len, &err) < 0) {
        /* a message XML cannot carry (a key with control bytes): the code alone still helps */
        e.message = "";
        e.extra_count = 0;
        if (ossxml_write_error(&e, &xml, &len, &err) < 0)
            xml = NULL;
    }
    if (c->head) {
        /* HEAD has no body, so OSS puts the error document base64-encoded into x-oss-err */
        if (xml && (b64 = malloc(4 * ((len + 2) / 3) + 1))) {
            sign_base64(xml, len, b64);
            oss_header(c->resp, "x-oss-err", b64);
            free(b64);
        }
        free(xml);
        emu_resp_take(c->resp, status, NULL, 0);
        return;
    }
    emu_resp_header(c->resp, "Content-Type", "application/xml");
    emu_resp_take(c->resp, status, xml, xml ? len : 0);
}

void
oss_error(struct ctx *c, unsigned status, const char *code, const char *message)
{
    oss_error_with(c, status, code, message, NULL, 0);
}

/* The request-id and server headers every answer carries, error or not. */
static void
ctx_init(struct ctx *c, struct oss *oss, struct emu_req *req, struct emu_resp *resp)
{
    memset(c, 0, sizeof(*c));
    c->oss = oss;
    c->req = req;
    c->resp = resp;
    c->head = strcmp(req->method, "HEAD") == 0;
    oss->seq++;
    snprintf(c->request_id, sizeof(c->request_id), "%08X%016" PRIX64,
             (unsigned)time(NULL), oss->seq);
    oss_header(resp, "x-oss-request-id", c->request_id);
    oss_header(resp, "Server", "AliyunOSS");
}

/* --- routing and authentication --- */

/*
 * The three addressing styles (oss.md 1.2-1.4), tried in this order:
 *  1. a Host bound to a bucket through POST /_emu/oss/cnames (a CNAME): the path is the key;
 *  2. a Host that is a domain name ("b.oss-cn-hangzhou.aliyuncs.com", also what ali-oss sends
 *     to an IP endpoint): the first label is the bucket, the path the key (virtual-hosted);
 *  3. the first path segment is the bucket, the rest the key (path style);
 *  4. an unbound CNAME: each existing bucket in turn, the whole path being the key.
 * The signature always covers /<bucket>/<key>, so the first reading whose signature verifies
 * is the request's: that is how a Java SDK pointed at 127.0.0.1 (a CNAME to it, oss.md 1.3)
 * works with no configuration, and how an SLD path behind a virtual-hosted Host is told apart.
 * When no reading verifies, the first one names the bucket and is shown in the error.
 */
struct reading {
    char bucket[256];
    const char *key;
};

static size_t
readings(struct oss *oss, const struct emu_req *req, struct reading *out, size_t max)
{
    const char *host = emu_req_header(req, "Host"), *path = req->path, *bound, *slash;
    char name[256];
    struct in_addr a4;
    size_t n = 0, i, len;

    if (*path == '/')
        path++;
    name[0] = '\0';
    if (host && *host != '[') {
        len = strcspn(host, ":");
        if (len < sizeof(name)) {
            for (i = 0; i < len; i++)
                name[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
            name[len] = '\0';
        }
    }
    if (name[0] && (bound = json_string_value(json_object_get(oss->cnames, name)))) {
        snprintf(out[n].bucket, sizeof(out[n].bucket), "%s", bound);
        out[n++].key = path;
    }
    if (name[0] && strchr(name, '.') && inet_pton(AF_INET, name, &a4) != 1) {
        len = strcspn(name, ".");
        memcpy(out[n].bucket, name, len);
        out[n].bucket[len] = '\0';
        out[n++].key = path;
    }
    slash = strchr(path, '/');
    len = slash ? (size_t)(slash - path) : strlen(path);
    if (len < sizeof(out[n].bucket)) {
        memcpy(out[n].bucket, path, len);
        out[n].bucket[len] = '\0';
        out[n++].key = slash ? slash + 1 : "";
    }
    for (i = 0; i < oss->bucket_count && n < max; i++) {
        snprintf(out[n].bucket, sizeof(out[n].bucket), "%s", oss->buckets[i]->name);
        out[n++].key = path;
    }
    return n;
}

static void
sign_req(const struct emu_req *req, const struct reading *rd, struct osssign_param *hdrs,
         struct osssign_param *args, struct osssign_req *ret)
{
    size_t i;

    for (i = 0; i < req->header_count; i++)
        hdrs[i] = (struct osssign_param){req->headers[i].name, req->headers[i].value};
    for (i = 0; i < req->arg_count; i++)
        args[i] = (struct osssign_param){req->args[i].name, req->args[i].value};
    memset(ret, 0, sizeof(*ret));
    ret->method = req->method;
    ret->bucket = rd->bucket;
    ret->key = rd->bucket[0] ? rd->key : "";
    ret->headers = hdrs;
    ret->header_count = req->header_count;
    ret->query = args;
    ret->query_count = req->arg_count;
}

/* Fills r: which reading holds and whether the request may proceed (see enum auth_result). */
static void
resolve(struct oss *oss, const struct emu_req *req, struct route *r)
{
    struct osssign_param hdrs[EMU_MAX_HEADERS], args[EMU_MAX_HEADERS];
    struct reading *rd = NULL;
    struct osssign_req sreq;
    struct otsync_err err;
    const char *auth, *date, *token, *expires = NULL, *v;
    size_t n, i, max = 4 + oss->bucket_count;
    time_t now = time(NULL);
    int rc;

    memset(r, 0, sizeof(*r));
    r->key = "";
    if (!(rd = calloc(max, sizeof(*rd))))
        goto fail;
    n = readings(oss, req, rd, max);
    if (n > 0) {
        snprintf(r->bucket, sizeof(r->bucket), "%s", rd[0].bucket);
        r->key = rd[0].bucket[0] ? rd[0].key : "";
    }
    if ((auth = emu_req_header(req, "Authorization"))) {
        if (osssign_parse_auth(auth, &r->parsed, &err) < 0) {
            r->auth = AUTH_MALFORMED;
            goto out;
        }
        token = emu_req_header(req, "x-oss-security-token");
    } else if ((v = oss_query(req, "OSSAccessKeyId")) && (expires = oss_query(req, "Expires"))) {
        /* presigned V1 (oss.md 2.7): Expires takes the date line */
        r->parsed.version = 1;
        snprintf(r->parsed.key_id, sizeof(r->parsed.key_id), "%s", v);
        snprintf(r->parsed.signature, sizeof(r->parsed.signature), "%s",
                 (v = oss_query(req, "Signature")) ? v : "");
        token = oss_query(req, "security-token");
    } else {
        r->auth = AUTH_ANONYMOUS;
        goto out;
    }
    if (strcmp(r->parsed.key_id, oss->emu->key_id) != 0) {
        r->auth = AUTH_BAD_KEY_ID;
        goto out;
    }
    if (expires) {
        char *end;
        long long e = strtoll(expires, &end, 10);

        r->req_time = (time_t)e;
        if (*end || end == expires || (time_t)e < now) {
            r->auth = AUTH_EXPIRED;
            goto out;
        }
    } else {
        date = emu_req_header(req, "x-oss-date");
        if (!date && r->parsed.version == 1)
            date = emu_req_header(req, "Date");
        if (!date || osssign_parse_date(date, &r->req_time) < 0) {
            r->auth = AUTH_NO_DATE;
            goto out;
        }
        if (r->req_time > now + OSS_SKEW_S || r->req_time < now - OSS_SKEW_S) {
            r->auth = AUTH_SKEWED;
            goto out;
        }
    }
    if (oss->emu->sts_token && (!token || strcmp(token, oss->emu->sts_token) != 0)) {
        r->auth = AUTH_BAD_TOKEN;
        goto out;
    }
    r->auth = AUTH_MISMATCH;
    for (i = 0; i < n; i++) {
        sign_req(req, &rd[i], hdrs, args, &sreq);
        sreq.expires = expires;
        if (i == 0 && !(r->sts = malloc(OSS_STS_MAX)))
            goto fail;
        rc = osssign_check(&sreq, &r->parsed, oss->emu->key_secret, i == 0 ? r->sts : NULL,
                           OSS_STS_MAX, &err);
        if (rc == 0) {
            snprintf(r->bucket, sizeof(r->bucket), "%s", rd[i].bucket);
            r->key = rd[i].bucket[0] ? rd[i].key : "";
            r->auth = AUTH_OK;
            break;
        }
    }
out:
    free(rd);
    return;
fail:
    free(rd);
    r->auth = AUTH_MALFORMED;
}

/* Names the operation from the method and the sub-resources (oss.md section 5). */
static enum op
classify(const struct emu_req *req, const struct route *r)
{
    const char *m = req->method;
    bool has_key = r->key[0] != '\0';

    if (!r->bucket[0])
        return OP_UNKNOWN;      /* service level: ListBuckets is not emulated */
    if (!has_key) {
        if (strcmp(m, "PUT") == 0)
            return req->arg_count == 0 ? OP_PUT_BUCKET : OP_UNKNOWN;
        if (strcmp(m, "DELETE") == 0)
            return req->arg_count == 0 ? OP_DELETE_BUCKET : OP_UNKNOWN;
        if (strcmp(m, "POST") == 0)
            return oss_query(req, "delete") ? OP_DELETE_MULTIPLE : OP_UNKNOWN;
        if (strcmp(m, "GET") != 0 || oss_query(req, "uploads") || oss_query(req, "acl")
            || oss_query(req, "location") || oss_query(req, "bucketInfo") || oss_query(req, "stat"))
            return OP_UNKNOWN;
        return oss_query(req, "list-type") && strcmp(oss_query(req, "list-type"), "2") == 0
               ? OP_LIST_OBJECTS_V2 : OP_LIST_OBJECTS;
    }
    if (strcmp(m, "PUT") == 0) {
        if (oss_query(req, "partNumber") && oss_query(req, "uploadId"))
            return OP_UPLOAD_PART;
        if (emu_req_header(req, "x-oss-copy-source") || oss_query(req, "acl")
            || oss_query(req, "tagging") || oss_query(req, "symlink"))
            return OP_UNKNOWN;
        return OP_PUT_OBJECT;
    }
    if (strcmp(m, "GET") == 0) {
        if (oss_query(req, "uploadId"))
            return OP_LIST_PARTS;
        return oss_query(req, "acl") || oss_query(req, "tagging") || oss_query(req, "symlink")
               || oss_query(req, "x-oss-process") ? OP_UNKNOWN : OP_GET_OBJECT;
    }
    if (strcmp(m, "HEAD") == 0)
        return OP_HEAD_OBJECT;
    if (strcmp(m, "DELETE") == 0)
        return oss_query(req, "uploadId") ? OP_ABORT : OP_DELETE_OBJECT;
    if (strcmp(m, "POST") == 0) {
        if (oss_query(req, "append"))
            return OP_APPEND_OBJECT;
        if (oss_query(req, "uploads"))
            return OP_INITIATE;
        if (oss_query(req, "uploadId"))
            return OP_COMPLETE;
    }
    return OP_UNKNOWN;
}

static void
auth_error(struct ctx *c)
{
    struct route *r = &c->route;
    struct ossxml_field f[4];
    char now[32], then[32], *bytes;
    size_t i, n;

    oss_iso_time(time(NULL), now);
    oss_iso_time(r->req_time, then);
    switch (r->auth) {
    case AUTH_OK:
        break;
    case AUTH_ANONYMOUS:
        oss_error(c, 403, "AccessDenied", "You have no right to access this object because of "
                  "bucket acl.");
        break;
    case AUTH_MALFORMED:
        oss_error(c, 400, "InvalidArgument", "Authorization header is invalid.");
        break;
    case AUTH_BAD_KEY_ID:
        f[0] = (struct ossxml_field){"OSSAccessKeyId", r->parsed.key_id};
        oss_error_with(c, 403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not "
                       "exist in our records.", f, 1);
        break;
    case AUTH_NO_DATE:
        oss_error(c, 403, "AccessDenied", "OSS authentication requires a valid Date.");
        break;
    case AUTH_SKEWED:
        f[0] = (struct ossxml_field){"RequestTime", then};
        f[1] = (struct ossxml_field){"ServerTime", now};
        oss_error_with(c, 403, "RequestTimeTooSkewed", "The difference between the request "
                       "time and the current time is too large.", f, 2);
        break;
    case AUTH_EXPIRED:
        f[0] = (struct ossxml_field){"Expires", then};
        f[1] = (struct ossxml_field){"ServerTime", now};
        oss_error_with(c, 403, "AccessDenied", "Request has expired.", f, 2);
        break;
    case AUTH_BAD_TOKEN:
        oss_error(c, 403, "InvalidSecurityToken", "The security token you provided is invalid.");
        break;
    case AUTH_MISMATCH:
        /* StringToSignBytes is the string as space-separated hex, as OSS sends it */
        n = r->sts ? strlen(r->sts) : 0;
        if (!(bytes = malloc(3 * n + 1))) {
            oss_error(c, 500, "InternalError", "out of memory");
            break;
        }
        bytes[0] = '\0';
        for (i = 0; i < n; i++)
            snprintf(bytes + 3 * i, 4, i + 1 < n ? "%02X " : "%02X", (unsigned char)r->sts[i]);
        f[0] = (struct ossxml_field){"OSSAccessKeyId", r->parsed.key_id};
        f[1] = (struct ossxml_field){"SignatureProvided", r->parsed.signature};
        f[2] = (struct ossxml_field){"StringToSign", r->sts ? r->sts : ""};
        f[3] = (struct ossxml_field){"StringToSignBytes", bytes};
        oss_error_with(c, 403, "SignatureDoesNotMatch", "The request signature we calculated does "
                       "not match the signature you provided. Check your key and signing method.",
                       f, 4);
        free(bytes);
        break;
    }
}

static void
no_such_bucket(struct ctx *c)
{
    struct ossxml_field f = {"BucketName", c->route.bucket};

    oss_error_with(c, 404, "NoSuchBucket", "The specified bucket does not exist.", &f, 1);
}

static void
no_such_key(struct ctx *c)
{
    struct ossxml_field f = {"Key", c->route.key};

    oss_error_with(c, 404, "NoSuchKey", "The specified key does not exist.", &f, 1);
}

void
oss_no_such_upload(struct ctx *c)
{
    struct ossxml_field f = {"UploadId", oss_query(c->req, "uploadId")};

    oss_error_with(c, 404, "NoSuchUpload", "The specified upload does not exist. The upload ID "
                   "may be invalid, or the upload may have been aborted or completed.", &f, 1);
}

void
oss_respond_xml(struct ctx *c, unsigned status, char *xml, size_t len)
{
    emu_resp_header(c->resp, "Content-Type", "application/xml");
    emu_resp_take(c->resp, status, xml, len);
}

/* The body's MD5 into md5; a Content-MD5 that is malformed or differs answers InvalidDigest. */
int
oss_check_md5(struct ctx *c, const void *body, size_t len, unsigned char md5[SIGN_MD5_LEN])
{
    const char *given = emu_req_header(c->req, "Content-MD5");
    unsigned char raw[64];
    size_t glen;

    if (c->req->has_md5 && body == c->req->body && len == c->req->body_len)
        memcpy(md5, c->req->body_md5, SIGN_MD5_LEN);
    else
        sign_md5(body ? body : "", len, md5);
    if (!given)
        return 0;
    glen = strlen(given);
    if (glen > 4 * sizeof(raw) / 3 || sign_unbase64(given, glen, raw) != SIGN_MD5_LEN
        || memcmp(raw, md5, SIGN_MD5_LEN) != 0) {
        oss_error(c, 400, "InvalidDigest", "The Content-MD5 you specified is not valid.");
        return -1;
    }
    return 0;
}

/* Headers kept with an object besides x-oss-meta-* (oss.md 5.1), under these spellings. */
static const char *const kept_headers[] = {
    "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires",
};

json_t *
oss_collect_meta(const struct emu_req *req)
{
    json_t *m = json_object();
    char name[256];
    size_t i, j;

    for (i = 0; m && i < req->header_count; i++) {
        const struct emu_kv *h = &req->headers[i];

        if (strncasecmp(h->name, "x-oss-meta-", 11) == 0 && strlen(h->name) < sizeof(name)) {
            for (j = 0; h->name[j]; j++)
                name[j] = (char)(h->name[j] >= 'A' && h->name[j] <= 'Z' ? h->name[j] + 32
                                                                       : h->name[j]);
            name[j] = '\0';
            json_object_set_new(m, name, json_string(h->value ? h->value : ""));
            continue;
        }
        for (j = 0; j < sizeof(kept_headers) / sizeof(kept_headers[0]); j++)
            if (strcasecmp(h->name, kept_headers[j]) == 0)
                json_object_set_new(m, kept_headers[j], json_string(h->value ? h->value : ""));
    }
    return m;
}

/* Headers response-* sub-resources may set on a GET (oss.md 5.4). */
static const char *const overridable[] = {
    "Content-Type", "Content-Language", "Expires", "Cache-Control", "Content-Disposition",
    "Content-Encoding",
};

static void
object_headers(struct ctx *c, const struct object *o)
{
    char date[OSSSIGN_HTTP_DATE_SIZE], over[64];
    json_t *h = json_deep_copy(o->meta), *v;
    const char *name, *value;
    size_t i, k;

    json_object_set_new(h, "Content-Type", json_string(o->content_type));
    for (i = 0; i < sizeof(overridable) / sizeof(overridable[0]); i++) {
        snprintf(over, sizeof(over), "response-%s", overridable[i]);
        for (k = 0; over[k]; k++)
            over[k] = (char)(over[k] >= 'A' && over[k] <= 'Z' ? over[k] + 32 : over[k]);
        if ((value = oss_query(c->req, over)) && *value)
            json_object_set_new(h, overridable[i], json_string(value));
    }
    json_object_foreach(h, name, v)
        oss_header(c->resp, name, json_string_value(v));
    json_decref(h);
    oss_header(c->resp, "ETag", o->etag);
    http_time(o->mtime, date);
    oss_header(c->resp, "Last-Modified", date);
    oss_header(c->resp, "x-oss-object-type", type_names[o->type]);
    oss_header(c->resp, "x-oss-storage-class", "Standard");
    oss_header(c->resp, "Accept-Ranges", "bytes");
    emu_resp_header(c->resp, "x-oss-hash-crc64ecma", "%" PRIu64, o->crc64);
    if (o->type == OBJ_APPENDABLE)
        emu_resp_header(c->resp, "x-oss-next-append-position", "%zu", o->len);
}

static void
put_object(struct ctx *c)
{
    const struct emu_req *req = c->req;
    unsigned char md5[SIGN_MD5_LEN];
    char b64[32];
    struct object *o;

    if (!oss_valid_key(c->route.key)) {
        oss_error(c, 400, "InvalidObjectName", "The specified object is not valid.");
        return;
    }
    if (oss_check_md5(c, req->body, req->body_len, md5) < 0)
                      return;
    if (oss_is_true(emu_req_header(req, "x-oss-forbid-overwrite"))
        && oss_object_find(c->bucket, c->route.key)) {
        oss_error(c, 409, "FileAlreadyExists", "The object you specified already exists and can "
                  "not be overwritten.");
        return;
    }
    o = oss_object_new(c->route.key, emu_req_header(req, "Content-Type"), oss_collect_meta(req));
    if (!o || !(o->data = emu_req_take_body(c->req))) {
        oss_object_free(o);
        oss_error(c, 500, "InternalError", "out of memory");
        return;
    }
    o->len = o->cap = req->body_len;
    o->type = OBJ_NORMAL;
    o->crc64 = req->has_crc64 ? req->body_crc64 : crc64ecma(0, o->data, o->len);
    oss_md5_etag(md5, "", o->etag, sizeof(o->etag));
    oss_header(c->resp, "ETag", o->etag);
    emu_resp_header(c->resp, "x-oss-hash-crc64ecma", "%" PRIu64, o->crc64);
    sign_base64(md5, SIGN_MD5_LEN, b64);
    oss_header(c->resp, "Content-MD5", b64);
    if (oss_object_store(c->bucket, o) < 0) {
        oss_error(c, 500, "InternalError", "out of memory");
        return;
    }
    emu_resp_take(c->resp, 200, NULL, 0);
}

/*
 * Range (oss.md 5.4): one "bytes=a-b", "bytes=a-" or "bytes=-n". Returns 0 with the range,
 * 1 to serve the whole object with 200, 2 for 416. Malformed headers are ignored either way;
 * what is out of range is ignored by default and refused (or clipped) with "standard".
 */
static int
parse_range(const char *h, size_t size, bool standard, size_t *ret_first, size_t *ret_last)
{
    unsigned long long a = 0, b = 0;
    bool has_a, has_b;
    const char *p;
    char *end;

    if (strncasecmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 1;
    p = h + 6;
    has_a = *p >= '0' && *p <= '9';
    if (has_a) {
        a = strtoull(p, &end, 10);
        p = end;
    }
    if (*p++ != '-')
        return 1;
    has_b = *p >= '0' && *p <= '9';
    if (has_b) {
        b = strtoull(p, &end, 10);
        p = end;
    }
    if (*p || (!has_a && !has_b) || (has_a && has_b && a > b))
        return 1;
    if (!has_a) {                               /* the last b bytes */
        if (b == 0 || size == 0)
            return standard ? 2 : 1;
        if (b > size) {
            if (!standard)
                return 1;
            b = size;
        }
        *ret_first = size - (size_t)b;
        *ret_last = size - 1;
        return 0;
    }
    if (a >= size)
        return standard ? 2 : 1;
    if (!has_b || b >= size) {
        if (has_b && !standard)
            return 1;
        b = size - 1;
    }
    *ret_first = (size_t)a;
    *ret_last = (size_t)b;
    return 0;
}

/* If-Match and friends: 0 to go on, or the answer is made (304 or 412). */
static int
preconditions(struct ctx *c, const struct object *o)
{
    const char *h;
    time_t t;

    if ((h = emu_req_header(c->req, "If-Match")) && strcmp(h, "*") != 0
        && !oss_same_etag(h, o->etag))
        goto failed;
    if ((h = emu_req_header(c->req, "If-Unmodified-Since")) && osssign_parse_date(h, &t) == 0
        && o->mtime > t)
        goto failed;
    if ((h = emu_req_header(c->req, "If-None-Match")) && (strcmp(h, "*") == 0
                                                            || oss_same_etag(h, o->etag)))
        goto not_modified;
    if ((h = emu_req_header(c->req, "If-Modified-Since")) && osssign_parse_date(h, &t) == 0
        && o->mtime <= t)
        goto not_modified;
    return 0;
failed:
    oss_error(c, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did "
              "not hold.");
    return -1;
not_modified:
    oss_header(c->resp, "ETag", o->etag);
    emu_resp_take(c->resp, 304, NULL, 0);
    return -1;
}

static void
get_object(struct ctx *c)
{
    const char *range = emu_req_header(c->req, "Range"), *beh;
    struct object *o = oss_object_find(c->bucket, c->route.key);
    size_t first = 0, last = 0, n;
    unsigned char *body;
    bool standard;
    int rc = 1;

    if (!o) {
        no_such_key(c);
        return;
    }
    if (preconditions(c, o) < 0)
        return;
    beh = emu_req_header(c->req, "x-oss-range-behavior");
    standard = beh && strcasecmp(beh, "standard") == 0;
    if (range && !c->head)
        rc = parse_range(range, o->len, standard, &first, &last);
    if (rc == 2) {
        emu_resp_header(c->resp, "Content-Range", "bytes */%zu", o->len);
        oss_error(c, 416, "InvalidRange", "The requested range cannot be satisfied");
        return;
    }
    if (rc == 1) {
        first = 0;
        last = o->len ? o->len - 1 : 0;
    }
    n = o->len ? last - first + 1 : 0;
    object_headers(c, o);
    if (rc == 0)
        emu_resp_header(c->resp, "Content-Range", "bytes %zu-%zu/%zu", first, last, o->len);
    /*
     * libmicrohttpd derives Content-Length from the body, also for HEAD, whose body it never
     * sends: so HEAD gets a buffer of the right size that is never touched (nor filled).
     */
    if (!(body = malloc(n ? n : 1))) {
        oss_error(c, 500, "InternalError", "out of memory");
        return;
    }
    if (n && !c->head)
        memcpy(body, o->data + first, n);
    emu_resp_take(c->resp, rc == 0 ? 206 : 200, body, n);
}

static void
delete_object(struct ctx *c)
{
    /* 204 whether or not the key existed (oss.md 5.5) */
    object_remove(c->bucket, c->route.key);
    emu_resp_take(c->resp, 204, NULL, 0);
}

static void
delete_multiple(struct ctx *c)
{
    const char *enc = oss_query(c->req, "encoding-type");
    unsigned char md5[SIGN_MD5_LEN];
    struct ossxml_delete_result res = {0};
    struct ossxml_doc *doc = NULL;
    struct ossxml_delete d;
    struct otsync_err err;
    char *xml;
    size_t i, len;

    if (!emu_req_header(c->req, "Content-MD5")) {
        oss_error(c, 400, "MissingArgument", "Missing Content-MD5 header.");
        return;
    }
    if (oss_check_md5(c, c->req->body, c->req->body_len, md5) < 0)
                      return;
    if (ossxml_parse((const char *)c->req->body, c->req->body_len, &doc, &err) < 0
        || ossxml_get_delete(doc, &d, &err) < 0 || d.key_count > OSS_MAX_KEYS) {
        ossxml_free(doc);
        oss_error(c, 400, "MalformedXML", "The XML you provided was not well-formed or did not "
                  "validate against our published schema.");
        return;
    }
    for (i = 0; i < d.key_count; i++)
        object_remove(c->bucket, d.keys[i]);
    /* quiet mode lists failures only, and there are none: missing keys count as deleted */
    res.encoding_type = enc && *enc ? enc : NULL;
    res.deleted = d.keys;
    res.deleted_count = d.quiet ? 0 : d.key_count;
    if (ossxml_write_delete_result(&res, &xml, &len, &err) < 0)
        oss_error(c, 500, "InternalError", err.msg);
    else
        oss_respond_xml(c, 200, xml, len);
    ossxml_free(doc);
}

/* "max-keys" and "max-parts": default when absent, 400 outside 0..max (1..max if !zero_ok). */
int
oss_parse_max(struct ctx *c, const char *name, unsigned long def, bool zero_ok,
              unsigned long *ret)
{
    const char *s = oss_query(c->req, name);
    unsigned long v;
    char *end;

    *ret = def;
    if (!s)
        return 0;
    v = strtoul(s, &end, 10);
    if (!*s || *end || *s < '0' || *s > '9' || v > def || (!zero_ok && v == 0)) {
        struct ossxml_field f[2] = {{"ArgumentName", name}, {"ArgumentValue", s}};

        oss_error_with(c, 400, "InvalidArgument", "Argument is not valid.", f, 2);
        return -1;
    }
    *ret = v;
    return 0;
}

static void
list_objects(struct ctx *c, bool v2)
{
    const struct emu_req *req = c->req;
    const char *prefix = oss_query(req, "prefix"), *delim = oss_query(req, "delimiter");
    const char *after = "";
    const char *enc = oss_query(req, "encoding-type"), *token = NULL, *next = NULL, *last_cp = NULL;
    const char *key, *d;
    struct bucket *b = c->bucket;
    struct ossxml_list l = {0};
    struct ossxml_object *objs = NULL;
    struct otsync_err err;
    char (*times)[32] = NULL, **cps = NULL, *token_key = NULL, *next_token = NULL, *xml;
    size_t i, plen, dlen, count = 0, nobj = 0, ncp = 0, len;
    unsigned long max;
    bool found, owner;

    prefix = prefix ? prefix : "";
    delim = delim ? delim : "";
    plen = strlen(prefix);
    dlen = strlen(delim);
    if (oss_parse_max(c, "max-keys", OSS_MAX_KEYS, true, &max) < 0)
                      return;
    if (!oss_query(req, "max-keys"))
        max = 100;
    if (enc && *enc && strcmp(enc, "url") != 0) {
        struct ossxml_field f[2] = {{"ArgumentName", "encoding-type"}, {"ArgumentValue", enc}};

        oss_error_with(c, 400, "InvalidArgument", "Argument is not valid.", f, 2);
        return;
    }
    enc = enc && *enc ? enc : NULL;
    if (!v2) {
        after = oss_query(req, "marker") ? oss_query(req, "marker") : "";
    } else if ((token = oss_query(req, "continuation-token")) && *token) {
        /* the token is the base64 of the last key or prefix returned: opaque to clients */
        long n;

        if (!(token_key = malloc(strlen(token) + 4))
            || (n = sign_unbase64(token, strlen(token), (unsigned char *)token_key)) < 0) {
            struct ossxml_field f[2] = {{"ArgumentName", "continuation-token"},
                                        {"ArgumentValue", token}};

            free(token_key);
            oss_error_with(c, 400, "InvalidArgument", "Argument is not valid.", f, 2);
            return;
        }
        token_key[n] = '\0';
        after = token_key;
    } else {
        token = NULL;
        after = oss_query(req, "start-after") ? oss_query(req, "start-after") : "";
    }
    objs = calloc(max + 1, sizeof(*objs));
    times = calloc(max + 1, sizeof(*times));
    cps = calloc(max + 1, sizeof(*cps));
    if (!objs || !times || !cps) {
        oss_error(c, 500, "InternalError", "out of memory");
        goto out;
    }
    /* resuming after a common prefix skips everything under it */
    if (*after && dlen && strncmp(after, prefix, plen) == 0 && (d = strstr(after + plen, delim))
        && d[dlen] == '\0')
        last_cp = after;
    i = 0;
    if (*after || plen) {
        i = object_pos(b, strcmp(after, prefix) > 0 ? after : prefix, &found);
        if (found && strcmp(after, prefix) >= 0 && *after)
            i++;
    }
    for (; i < b->count; i++) {
        key = b->objs[i]->key;
        if (strncmp(key, prefix, plen) != 0)
            break;
        if (*after && strcmp(key, after) <= 0)
            continue;
        if (dlen && (d = strstr(key + plen, delim))) {
            len = (size_t)(d - key) + dlen;
            if (last_cp && strlen(last_cp) == len && strncmp(key, last_cp, len) == 0)
                continue;
            if (count == max) {
                l.is_truncated = true;
                break;
            }
            if (!(cps[ncp] = strndup(key, len))) {
                oss_error(c, 500, "InternalError", "out of memory");
                goto out;
            }
            last_cp = next = cps[ncp++];
        } else {
            if (count == max) {
                l.is_truncated = true;
                break;
            }
            oss_iso_time(b->objs[i]->mtime, times[nobj]);
            owner = !v2 || oss_is_true(oss_query(req, "fetch-owner"));
            objs[nobj] = (struct ossxml_object){
                .key = key, .size = b->objs[i]->len, .etag = b->objs[i]->etag,
                .last_modified = times[nobj], .type = type_names[b->objs[i]->type],
                .storage_class = "Standard", .owner_id = owner ? OSS_OWNER_ID : NULL,
                .owner_name = owner ? OSS_OWNER_ID : NULL,
            };
            nobj++;
            next = key;
        }
        count++;
    }
    if (l.is_truncated && !next)
        next = after;
    l.v2 = v2;
    l.name = b->name;
    l.prefix = prefix;
    l.delimiter = delim;
    l.encoding_type = enc;
    l.max_keys = max;
    l.objects = objs;
    l.object_count = nobj;
    l.prefixes = (const char *const *)cps;
    l.prefix_count = ncp;
    if (!v2) {
        l.marker = after;
        l.next_marker = l.is_truncated ? next : NULL;
    } else {
        l.start_after = oss_query(req, "start-after");
        l.continuation_token = token;
        if (l.is_truncated) {
            if (!(next_token = malloc(4 * ((strlen(next) + 2) / 3) + 1))) {
                oss_error(c, 500, "InternalError", "out of memory");
                goto out;
            }
            sign_base64(next, strlen(next), next_token);
            l.next_continuation_token = next_token;
        }
    }
    if (ossxml_write_list(&l, &xml, &len, &err) < 0)
        oss_error(c, 500, "InternalError", err.msg);
    else
        oss_respond_xml(c, 200, xml, len);
out:
    for (i = 0; cps && i < ncp; i++)
        free(cps[i]);
    free(cps);
    free(objs);
    free(times);
    free(token_key);
    free(next_token);
}

static void
put_bucket(struct ctx *c)
{
    if (!valid_bucket_name(c->route.bucket)) {
        oss_error(c, 400, "InvalidBucketName", "The specified bucket is not valid.");
        return;
    }
    if (c->bucket) {
        oss_error(c, 409, "BucketAlreadyExists", "The requested bucket name is not available.");
        return;
    }
    if (!bucket_add(c->oss, c->route.bucket, time(NULL))) {
        oss_error(c, 500, "InternalError", "out of memory");
        return;
    }
    emu_resp_header(c->resp, "Location", "/%s", c->route.bucket);
    emu_resp_take(c->resp, 200, NULL, 0);
}

static void
delete_bucket(struct ctx *c)
{
    struct oss *oss = c->oss;
    struct upload *u;
    size_t i;

    for (u = oss->uploads; u; u = u->next)
        if (strcmp(u->bucket, c->bucket->name) == 0)
            break;
    if (c->bucket->count || u) {
        oss_error(c, 409, "BucketNotEmpty", "The bucket you tried to delete is not empty.");
        return;
    }
    for (i = 0; i < oss->bucket_count && oss->buckets[i] != c->bucket; i++)
        ;
    bucket_free(c->bucket);
    memmove(oss->buckets + i, oss->buckets + i + 1,
            (oss->bucket_count - i - 1) * sizeof(*oss->buckets));
    oss->bucket_count--;
    c->bucket = NULL;
    emu_resp_take(c->resp, 204, NULL, 0);
}

/* --- the service face --- */

static void
oss_op(void *state, struct emu_req *req)
{
    struct route r;

    resolve(state, req, &r);
    snprintf(req->op, sizeof(req->op), "%s", op_names[classify(req, &r)]);
    free(r.sts);
}

static void
oss_handle(void *state, struct emu_req *req, struct emu_resp *resp)
{
    struct ctx c;
    enum op op;

    ctx_init(&c, state, req, resp);
    resolve(state, req, &c.route);
    if (c.route.auth != AUTH_OK) {
        auth_error(&c);
        goto out;
    }
    op = classify(req, &c.route);
    if (op == OP_UNKNOWN) {
        oss_error(&c, 501, "NotImplemented", "otsync-emu does not emulate this OSS operation.");
        goto out;
    }
    if (op != OP_PUT_BUCKET && !(c.bucket = bucket_find(state, c.route.bucket))) {
        no_such_bucket(&c);
        goto out;
    }
    if (op == OP_PUT_BUCKET)
        c.bucket = bucket_find(state, c.route.bucket);
    switch (op) {
    case OP_UNKNOWN:
        break;
    case OP_PUT_BUCKET:
        put_bucket(&c);
        break;
    case OP_DELETE_BUCKET:
        delete_bucket(&c);
        break;
    case OP_LIST_OBJECTS:
    case OP_LIST_OBJECTS_V2:
        list_objects(&c, op == OP_LIST_OBJECTS_V2);
        break;
    case OP_DELETE_MULTIPLE:
        delete_multiple(&c);
        break;
    case OP_PUT_OBJECT:
        put_object(&c);
        break;
    case OP_GET_OBJECT:
    case OP_HEAD_OBJECT:
        get_object(&c);
        break;
    case OP_DELETE_OBJECT:
        delete_object(&c);
        break;
    case OP_APPEND_OBJECT:
        oss_append(&c);
        break;
    case OP_INITIATE:
        oss_initiate(&c);
        break;
    case OP_UPLOAD_PART:
        oss_upload_part(&c);
        break;
    case OP_COMPLETE:
        oss_complete(&c);
        break;
    case OP_ABORT:
        oss_abort(&c);
        break;
    case OP_LIST_PARTS:
        oss_list_parts(&c);
        break;
    }
out:
    free(c.route.sts);
}

/* An injected fault in OSS's own words; HEAD gets it in x-oss-err like any HEAD error. */
static void
oss_fault(void *state, struct emu_req *req, struct emu_resp *resp, unsigned status,
          const char *code, const char *message)
{
    struct ctx c;

    ctx_init(&c, state, req, resp);
    if (!code || !*code)
        code = status == 503 ? "ServiceUnavailable" : status == 429 ? "TooManyRequests"
               : status >= 500 ? "InternalError" : "InvalidArgument";
    oss_error(&c, status, code, message ? message : "");
}

/* --- admin: /_emu/oss/... --- */

static json_t *
object_json(const struct object *o)
{
    char crc[24], when[32];

    /* the CRC as a decimal string, as on the wire: a JSON integer cannot hold 2^64 - 1 */
    snprintf(crc, sizeof(crc), "%" PRIu64, o->crc64);
    oss_iso_time(o->mtime, when);
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:O}", "key", o->key,
                     "size", (json_int_t)o->len, "crc64", crc, "type", type_names[o->type],
                     "etag", o->etag, "content_type", o->content_type, "last_modified", when,
                     "meta", o->meta);
}

/*
 * POST buckets?name=B        creates B (200, {"bucket", "created": false if it existed})
 * GET  buckets               [names]
 * GET  objects?bucket=B      every object of B: key, size, crc64 (decimal string), type, etag,
 *                            content_type, last_modified, meta
 * GET  object?bucket=B&key=K the bytes of K, with its Content-Type
 * POST cnames?host=H&bucket=B  binds the custom domain H (no port) to B; DELETE cnames?host=H
 * GET  cnames                {host: bucket}
 */
static void
oss_admin(void *state, struct emu_req *req, const char *what, struct emu_resp *resp)
{
    struct oss *oss = state;
    const char *name = oss_query(req, "name"), *bname = oss_query(req, "bucket");
    const char *key = oss_query(req, "key"), *host = oss_query(req, "host");
    bool post = strcmp(req->method, "POST") == 0, del = strcmp(req->method, "DELETE") == 0;
    struct bucket *b = bname ? bucket_find(oss, bname) : NULL;
    struct object *o;
    unsigned char *copy;
    json_t *list;
    size_t i;

    if (strcmp(what, "buckets") == 0 && post) {
        if (!name || !valid_bucket_name(name)) {
            emu_resp_json(resp, 400, json_pack("{s:s}", "error", "name: not a valid bucket "
                                               "name (3-63 of a-z, 0-9, '-')"));
        } else if (bucket_find(oss, name)) {
            emu_resp_json(resp, 200, json_pack("{s:s, s:b}", "bucket", name, "created", 0));
        } else if (!bucket_add(oss, name, time(NULL))) {
            emu_resp_json(resp, 500, json_pack("{s:s}", "error", "out of memory"));
        } else {
            emu_resp_json(resp, 200, json_pack("{s:s, s:b}", "bucket", name, "created", 1));
        }
    } else if (strcmp(what, "buckets") == 0) {
        list = json_array();
        for (i = 0; i < oss->bucket_count; i++)
            json_array_append_new(list, json_string(oss->buckets[i]->name));
        emu_resp_json(resp, 200, list);
    } else if ((strcmp(what, "objects") == 0 || strcmp(what, "object") == 0) && !b) {
        emu_resp_json(resp, 404, json_pack("{s:s}", "error", "no such bucket"));
    } else if (strcmp(what, "objects") == 0) {
        list = json_array();
        for (i = 0; i < b->count; i++)
            json_array_append_new(list, object_json(b->objs[i]));
        emu_resp_json(resp, 200, list);
    } else if (strcmp(what, "object") == 0) {
        if (!key || !(o = oss_object_find(b, key))) {
            emu_resp_json(resp, 404, json_pack("{s:s}", "error", "no such key"));
        } else if (!(copy = malloc(o->len ? o->len : 1))) {
            emu_resp_json(resp, 500, json_pack("{s:s}", "error", "out of memory"));
        } else {
            if (o->len)
                memcpy(copy, o->data, o->len);
            oss_header(resp, "Content-Type", o->content_type);
            emu_resp_take(resp, 200, copy, o->len);
        }
    } else if (strcmp(what, "cnames") == 0 && (post || del)) {
        if (!host || !*host || (post && (!bname || !*bname))) {
            emu_resp_json(resp, 400, json_pack("{s:s}", "error", post ? "give host and bucket"
                                                                      : "give host"));
            return;
        }
        if (post)
            json_object_set_new(oss->cnames, host, json_string(bname));
        else
            json_object_del(oss->cnames, host);
        emu_resp_json(resp, 200, json_incref(oss->cnames));
    } else if (strcmp(what, "cnames") == 0) {
        emu_resp_json(resp, 200, json_incref(oss->cnames));
    } else {
        emu_resp_json(resp, 404, json_pack("{s:s}", "error", "no such oss admin call; try "
                                           "buckets, objects, object or cnames"));
    }
}

/* --- persistence: <dir>/oss/index.json and one file d<N> per object or part --- */

/* Removes dir and the plain files in it (the layout has no subdirectories). */
static void
remove_flat(const char *dir)
{
    char path[4200];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (!d)
        return;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}

int
oss_save_blob(const char *dir, unsigned long *n, const void *data, size_t len, json_t *into)
{
    char name[32];

    snprintf(name, sizeof(name), "d%lu", (*n)++);
    json_object_set_new(into, "file", json_string(name));
    return emu_save_file(dir, name, data ? data : "", len);
}

static json_t *
save_object(const struct object *o, const char *dir, unsigned long *n)
{
    json_t *j = object_json(o);

    if (j)
        json_object_set_new(j, "mtime", json_integer((json_int_t)o->mtime));
    if (j && oss_save_blob(dir, n, o->data, o->len, j) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/*
 * Writes the whole state into oss.new, then swaps it for oss: a crash leaves either the old
 * directory or a complete new one (index.json is written last), which oss_load also accepts.
 */
static int
oss_save(void *state, const char *dir)
{
    struct oss *oss = state;
    char cur[4096], tmp[4100], old[4100], *text = NULL;
    json_t *index, *buckets, *uploads, *objs, *bj, *j;
    unsigned long n = 0;
    struct upload *u;
    size_t i, k;
    int rc = -1;

    snprintf(cur, sizeof(cur), "%s/oss", dir);
    snprintf(tmp, sizeof(tmp), "%s.new", cur);
    snprintf(old, sizeof(old), "%s.old", cur);
    remove_flat(tmp);
    if (mkdir(tmp, 0700) < 0) {
        log_error("%s: mkdir: %s", tmp, strerror(errno));
        return -1;
    }
    index = json_pack("{s:i, s:I, s:O, s:[], s:[]}", "version", 1, "seq", (json_int_t)oss->seq,
                      "cnames", oss->cnames, "buckets", "uploads");
    if (!index)
        goto out;
    buckets = json_object_get(index, "buckets");
    uploads = json_object_get(index, "uploads");
    for (i = 0; i < oss->bucket_count; i++) {
        bj = json_pack("{s:s, s:I, s:[]}", "name", oss->buckets[i]->name, "created",
                       (json_int_t)oss->buckets[i]->created, "objects");
        if (!bj || json_array_append_new(buckets, bj) < 0)
            goto out;
        objs = json_object_get(bj, "objects");
        for (k = 0; k < oss->buckets[i]->count; k++)
            if (!(j = save_object(oss->buckets[i]->objs[k], tmp, &n))
                || json_array_append_new(objs, j) < 0)
                goto out;
    }
    for (u = oss->uploads; u; u = u->next)
        if (!(j = oss_upload_save(u, tmp, &n)) || json_array_append_new(uploads, j) < 0)
            goto out;
    if (!(text = json_dumps(index, JSON_INDENT(1)))
        || emu_save_file(tmp, "index.json", text, strlen(text)) < 0)
        goto out;
    remove_flat(old);
    if ((rename(cur, old) < 0 && errno != ENOENT) || rename(tmp, cur) < 0) {
        log_error("%s: rename: %s", cur, strerror(errno));
        goto out;
    }
    remove_flat(old);
    rc = 0;
out:
    if (rc < 0)
        log_error("%s: the oss state was not saved", dir);
    free(text);
    json_decref(index);
    return rc;
}

/* Reads a blob named by j's "file", checking its size and CRC against j. NULL on error. */
unsigned char *
oss_load_blob(const char *dir, const json_t *j, size_t *ret_len, uint64_t *ret_crc)
{
    const char *file = json_string_value(json_object_get(j, "file"));
    const char *crc_s = json_string_value(json_object_get(j, "crc64"));
    json_int_t size = json_integer_value(json_object_get(j, "size"));
    unsigned char *data;
    size_t len;

    if (!file || !crc_s || !(data = emu_load_file(dir, file, &len)))
        return NULL;
    *ret_crc = strtoull(crc_s, NULL, 10);
    if ((json_int_t)len != size || crc64ecma(0, data, len) != *ret_crc) {
        log_error("%s/%s: size or CRC-64 differs from the index", dir, file);
        free(data);
        return NULL;
    }
    *ret_len = len;
    return data;
}

static int
load_object(struct bucket *b, const char *dir, const json_t *j)
{
    const char *key = json_string_value(json_object_get(j, "key"));
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *etag = json_string_value(json_object_get(j, "etag"));
    json_t *meta = json_object_get(j, "meta");
    struct object *o;

    if (!key || !type || !etag || !(o = oss_object_new(key, json_string_value(json_object_get(
                                          j, "content_type")), json_deep_copy(meta))))
        return -1;
    if (!(o->data = oss_load_blob(dir, j, &o->len, &o->crc64))) {
        oss_object_free(o);
        return -1;
    }
    o->cap = o->len;
    o->type = strcmp(type, "Appendable") == 0 ? OBJ_APPENDABLE
              : strcmp(type, "Multipart") == 0 ? OBJ_MULTIPART : OBJ_NORMAL;
    snprintf(o->etag, sizeof(o->etag), "%s", etag);
    o->mtime = (time_t)json_integer_value(json_object_get(j, "mtime"));
    return oss_object_store(b, o);
}

static int
oss_load(void *state, const char *dir)
{
    struct oss *oss = state;
    char path[4100];
    const json_t *bj, *oj;
    struct bucket *b;
    json_t *index = NULL;
    json_error_t jerr;
    char *text;
    size_t len, i, k;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/oss", dir);
    if (!(text = emu_load_file(path, "index.json", &len))) {
        snprintf(path, sizeof(path), "%s/oss.new", dir);     /* a save cut short by a crash */
        if (!(text = emu_load_file(path, "index.json", &len)))
            return 0;
    }
    if (!(index = json_loadb(text, len, 0, &jerr))) {
        log_error("%s/index.json:%d: %s", path, jerr.line, jerr.text);
        goto out;
    }
    oss->seq = (uint64_t)json_integer_value(json_object_get(index, "seq"));
    if (json_is_object(json_object_get(index, "cnames")))
        json_object_update(oss->cnames, json_object_get(index, "cnames"));
    json_array_foreach(json_object_get(index, "buckets"), i, bj) {
        const char *name = json_string_value(json_object_get(bj, "name"));

        if (!name || !(b = bucket_add(oss, name, (time_t)json_integer_value(
                           json_object_get(bj, "created")))))
            goto out;
        json_array_foreach(json_object_get(bj, "objects"), k, oj)
            if (load_object(b, path, oj) < 0)
                goto out;
    }
    json_array_foreach(json_object_get(index, "uploads"), i, bj)
        if (oss_upload_load(oss, path, bj) < 0)
            goto out;
    rc = 0;
out:
    if (rc < 0)
        log_error("%s: the saved oss state cannot be read", path);
    json_decref(index);
    free(text);
    return rc;
}

static void
oss_destroy(void *state)
{
    struct oss *oss = state;
    struct upload *u;
    size_t i;

    if (!oss)
        return;
    for (i = 0; i < oss->bucket_count; i++)
        bucket_free(oss->buckets[i]);
    free(oss->buckets);
    while ((u = oss->uploads)) {
        oss->uploads = u->next;
        oss_upload_free(u);
    }
    json_decref(oss->cnames);
    free(oss);
}

struct emu_service *
emu_oss_new(struct emu *emu)
{
    struct emu_service *svc = calloc(1, sizeof(*svc));
    struct oss *oss = calloc(1, sizeof(*oss));

    if (!svc || !oss || !(oss->cnames = json_object())) {
        free(svc);
        free(oss);
        return NULL;
    }
    oss->emu = emu;
    svc->name = "oss";
    svc->emu = emu;
    svc->state = oss;
    svc->op = oss_op;
    svc->handle = oss_handle;
    svc->error = oss_fault;
    svc->admin = oss_admin;
    svc->save = oss_save;
    svc->load = oss_load;
    svc->destroy = oss_destroy;
    return svc;
}
