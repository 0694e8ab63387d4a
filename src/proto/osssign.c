/*
 * osssign.c - OSS signature V1 and V4 from a struct osssign_req (oss.md sections 2 and 3).
 *
 * Strings are assembled in a private growable buffer and copied out at the end, so callers get
 * a plain fixed buffer and the builders need no length bookkeeping. The HMACs, digests and
 * base64 come from sign.h; nothing here touches the network or the clock.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/osssign.h"
#include "otsync/sign.h"

#define V4_ALGO "OSS4-HMAC-SHA256"
#define V4_TERM "aliyun_v4_request"
/* A string to sign beyond this is a hostile request, not a real one. */
#define SB_MAX (1u << 20)

/* Sorted, so osssign_is_subresource can bsearch it. The set of oss.md 2.4 and
 * vectors/oss/tools/verify_vectors.py, continuation-token included as three SDKs sign it. */
static const char *const subresources[] = {
    "acl", "append", "asyncFetch", "bucketInfo", "callback", "callback-var", "cname", "comp",
    "continuation-token", "cors", "delete", "encryption", "endTime", "img", "inventory",
    "inventoryId", "lifecycle", "live", "location", "logging", "objectMeta", "partNumber",
    "policy", "position", "qos", "qosInfo", "referer", "replication", "replicationLocation",
    "replicationProgress", "requestPayment", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "response-content-language",
    "response-content-type", "response-expires", "restore", "security-token", "sequential",
    "startTime", "stat", "status", "style", "styleName", "symlink", "tagging", "uploadId",
    "uploads", "versionId", "versioning", "versions", "vod", "website", "worm", "wormExtend",
    "wormId", "x-oss-process", "x-oss-request-payer", "x-oss-traffic-limit",
};

static const char wday_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;        /* out of memory or over SB_MAX; later appends do nothing */
};

/* A header or parameter with the name it is sorted by. */
struct entry {
    const char *value;
    char *sortname;     /* owned: lower-cased header name or encoded parameter name */
    char *sortvalue;    /* owned, V4 query only: the encoded value */
    size_t idx;         /* original position, so equal names keep their order */
};

/* ASCII only: the C library's versions follow the locale, and a signature must not. */
static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
        || c == '_' || c == '.' || c == '~';
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Case-insensitive ASCII comparison of the first n bytes (or up to a NUL); 0 when equal. */
static int
casecmp_n(const char *a, const char *b, size_t n)
{
    for (; n; a++, b++, n--) {
        if (lower(*a) != lower(*b))
            return (unsigned char)lower(*a) - (unsigned char)lower(*b);
        if (!*a)
            break;
    }
    return 0;
}

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
    size_t cap;
    char *p;

    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        if (b->len + n + 1 > SB_MAX) {
            b->failed = true;
            return;
        }
        cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(p = realloc(b->p, cap))) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Appends s without the blanks around it: the SDKs trim header values before signing. */
static void
sb_trimmed(struct sbuf *b, const char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    sb_add(b, s, n);
}

static void
sb_encoded(struct sbuf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char c;
    char esc[3];

    for (; *s; s++) {
        c = (unsigned char)*s;
        if (unreserved(c) || (keep_slash && c == '/')) {
            sb_add(b, s, 1);
        } else {
            esc[0] = '%';
            esc[1] = hex[c >> 4];
            esc[2] = hex[c & 15];
            sb_add(b, esc, 3);
        }
    }
}

static int
oom(struct otsync_err *err)
{
    return otsync_err_set(err, OTSYNC_ENOMEM, "oss signature: out of memory");
}

static int
sb_check(struct sbuf *b, struct otsync_err *err)
{
    if (!b->failed)
        return 0;
    return otsync_err_set(err, OTSYNC_ENOMEM, "oss signature: string to sign over %u bytes or "
                          "out of memory", SB_MAX);
}

/* Hands the built string to the caller's buffer and frees it. */
static int
sb_out(struct sbuf *b, char *ret, size_t len, const char *what, struct otsync_err *err)
{
    int rc;

    if (len)
        ret[0] = '\0';
    if ((rc = sb_check(b, err)) < 0)
        goto out;
    if (b->len >= len) {
        rc = otsync_err_set(err, OTSYNC_EINVAL, "oss signature: %s needs %zu bytes, buffer has %zu",
                            what, b->len + 1, len);
        goto out;
    }
    memcpy(ret, b->p ? b->p : "", b->len + 1);
    rc = 0;
out:
    free(b->p);
    return rc;
}

static char *
lower_dup(const char *s)
{
    char *d = strdup(s), *p;

    if (d)
        for (p = d; *p; p++)
            *p = lower(*p);
    return d;
}

static char *
encode_dup(const char *s)
{
    struct sbuf b = {0};

    sb_encoded(&b, s ? s : "", false);
    sb_add(&b, "", 0);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int
cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->sortname, y->sortname);

    if (c)
        return c;
    if (x->sortvalue && y->sortvalue && (c = strcmp(x->sortvalue, y->sortvalue)))
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void
entries_free(struct entry *e, size_t count)
{
    size_t i;

    if (!e)
        return;
    for (i = 0; i < count; i++) {
        free(e[i].sortname);
        free(e[i].sortvalue);
    }
    free(e);
}

static bool
is_oss_header(const char *name)
{
    return casecmp_n(name, "x-oss-", 6) == 0;
}

/* First header of that name, case-insensitively, or NULL. */
static const char *
header_get(const struct osssign_req *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->header_count; i++)
        if (req->headers[i].name && casecmp_n(req->headers[i].name, name, SIZE_MAX) == 0)
            return req->headers[i].value ? req->headers[i].value : "";
    return NULL;
}

static bool
is_empty(const char *s)
{
    return !s || !*s;
}

bool
osssign_is_subresource(const char *name)
{
    size_t lo = 0, hi = sizeof(subresources) / sizeof(subresources[0]), mid;
    int c;

    while (lo < hi) {
        mid = (lo + hi) / 2;
        c = strcmp(name, subresources[mid]);
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

/* "/", "/bucket/" or "/bucket/key": the resource both versions start from. */
static void
sb_resource_path(struct sbuf *b, const struct osssign_req *req, bool encode)
{
    struct sbuf path = {0};

    sb_str(&path, "/");
    if (!is_empty(req->bucket)) {
        sb_str(&path, req->bucket);
        sb_str(&path, "/");
        if (!is_empty(req->key))
            sb_str(&path, req->key);
    }
    if (path.failed)
        b->failed = true;
    else if (encode)
        sb_encoded(b, path.p, true);
    else
        sb_str(b, path.p);
    free(path.p);
}

/*
 * How a version signs the query. V1 takes its sub-resources as sent, sorted by name alone, after
 * a '?' (oss.md 2.4); V4 takes every parameter percent-encoded, sorted by encoded name and then
 * encoded value (oss.md 3).
 */
struct query_rule {
    bool (*keep)(const char *name);     /* NULL: every parameter */
    bool encode;
    const char *lead;                   /* before the first parameter */
};

static const struct query_rule v1_query = {osssign_is_subresource, false, "?"};
static const struct query_rule v4_query = {NULL, true, ""};

/* The signed query into b: "name" or "name=value", joined by '&'. */
static int
sb_query(struct sbuf *b, const struct osssign_req *req, const struct query_rule *rule,
         struct otsync_err *err)
{
    struct entry *ents = NULL, *e;
    const char *v;
    size_t i, count = 0;
    int rc = 0;

    if (req->query_count && !(ents = calloc(req->query_count, sizeof(*ents))))
        return oom(err);
    for (i = 0; i < req->query_count; i++) {
        if (!req->query[i].name || (rule->keep && !rule->keep(req->query[i].name)))
            continue;
        e = &ents[count++];
        e->value = req->query[i].value;
        e->idx = i;
        /* V1 leaves sortvalue NULL: cmp_entry then keeps equal names in the order sent */
        if (rule->encode) {
            e->sortname = encode_dup(req->query[i].name);
            e->sortvalue = encode_dup(req->query[i].value);
        } else {
            e->sortname = strdup(req->query[i].name);
        }
        if (!e->sortname || (rule->encode && !e->sortvalue)) {
            rc = oom(err);
            goto out;
        }
    }
    if (count)
        qsort(ents, count, sizeof(*ents), cmp_entry);
    for (i = 0; i < count; i++) {
        sb_str(b, i ? "&" : rule->lead);
        sb_str(b, ents[i].sortname);
        v = rule->encode ? ents[i].sortvalue : ents[i].value;
        if (!is_empty(v)) {
            sb_str(b, "=");
            sb_str(b, v);
        }
    }
out:
    entries_free(ents, count);
    return rc;
}

/*
 * Both versions sign x-oss-*; V4 also Content-Type, Content-MD5 and its additional headers.
 * Matched on the name as sent, so only a header that is signed gets a lower-cased copy.
 */
static bool
header_signed(const char *name, bool v4, char **addnames, size_t addcount)
{
    size_t i;

    if (is_oss_header(name))
        return true;
    if (!v4)
        return false;
    if (casecmp_n(name, "content-type", SIZE_MAX) == 0
        || casecmp_n(name, "content-md5", SIZE_MAX) == 0)
        return true;
    for (i = 0; i < addcount; i++)
        if (casecmp_n(addnames[i], name, SIZE_MAX) == 0)
            return true;
    return false;
}

/* The signed headers into b, "name:value\n" each, names lower-cased and sorted. */
static int
sb_headers(struct sbuf *b, const struct osssign_req *req, bool v4, char **addnames,
           size_t addcount, struct otsync_err *err)
{
    struct entry *hdrs = NULL;
    const char *name;
    size_t i, count = 0;
    int rc = 0;

    if (req->header_count && !(hdrs = calloc(req->header_count, sizeof(*hdrs))))
        return oom(err);
    for (i = 0; i < req->header_count; i++) {
        if (!(name = req->headers[i].name) || !header_signed(name, v4, addnames, addcount))
            continue;
        hdrs[count].value = req->headers[i].value ? req->headers[i].value : "";
        hdrs[count].idx = i;
        if (!(hdrs[count++].sortname = lower_dup(name))) {
            rc = oom(err);
            goto out;
        }
    }
    /* Duplicates are signed one line each, as the SDKs do; the old doc's merging is not. */
    if (count)
        qsort(hdrs, count, sizeof(*hdrs), cmp_entry);
    for (i = 0; i < count; i++) {
        sb_str(b, hdrs[i].sortname);
        sb_str(b, ":");
        sb_trimmed(b, hdrs[i].value);
        sb_str(b, "\n");
    }
out:
    entries_free(hdrs, count);
    return rc;
}

static int
build_v1_resource(const struct osssign_req *req, struct sbuf *b, struct otsync_err *err)
{
    int rc;

    sb_resource_path(b, req, false);
    if ((rc = sb_query(b, req, &v1_query, err)) < 0)
        return rc;
    return sb_check(b, err);
}

static int
build_v1_sts(const struct osssign_req *req, struct sbuf *b, struct otsync_err *err)
{
    const char *v;
    int rc;

    if (is_empty(req->method))
        return otsync_err_set(err, OTSYNC_EINVAL, "oss signature: no method");
    sb_str(b, req->method);
    sb_str(b, "\n");
    sb_str(b, (v = header_get(req, "Content-MD5")) ? v : "");
    sb_str(b, "\n");
    sb_str(b, (v = header_get(req, "Content-Type")) ? v : "");
    sb_str(b, "\n");
    if (req->expires)
        v = req->expires;
    else if (!(v = header_get(req, "x-oss-date")))
        v = header_get(req, "Date");
    sb_str(b, v ? v : "");
    sb_str(b, "\n");
    if ((rc = sb_headers(b, req, false, NULL, 0, err)) < 0)
        return rc;
    return build_v1_resource(req, b, err);
}

static int
sign_v1_sts(const char *sts, size_t sts_len, const char *secret, char ret_sig[OSSSIGN_V1_SIG_SIZE],
            struct otsync_err *err)
{
    unsigned char mac[SIGN_SHA1_LEN];

    if (sign_hmac_sha1(secret, strlen(secret), sts, sts_len, mac) < 0)
        return otsync_err_set(err, OTSYNC_ESYS, "oss signature: hmac-sha1 failed");
    sign_base64(mac, sizeof(mac), ret_sig);
    return 0;
}

int
osssign_v1_signature(const struct osssign_req *req, const char *secret,
                     char ret_sig[OSSSIGN_V1_SIG_SIZE], struct otsync_err *err)
{
    struct sbuf b = {0};
    int rc;

    ret_sig[0] = '\0';
    if ((rc = build_v1_sts(req, &b, err)) >= 0)
        rc = sign_v1_sts(b.p, b.len, secret, ret_sig, err);
    free(b.p);
    return rc;
}

int
osssign_v1(const struct osssign_req *req, const char *key_id, const char *secret, char *ret_auth,
           size_t len, struct otsync_err *err)
{
    char sig[OSSSIGN_V1_SIG_SIZE];
    int rc, n;

    if (len)
        ret_auth[0] = '\0';
    if ((rc = osssign_v1_signature(req, secret, sig, err)) < 0)
        return rc;
    n = snprintf(ret_auth, len, "OSS %s:%s", key_id, sig);
    if (n < 0 || (size_t)n >= len) {
        if (len)
            ret_auth[0] = '\0';
        return otsync_err_set(err, OTSYNC_EINVAL, "oss signature: authorization needs %d bytes, "
                              "buffer has %zu", n + 1, len);
    }
    return 0;
}

/* "yyyymmddTHHMMSSZ" */
static bool
is_iso_date(const char *s)
{
    size_t i;

    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return false;
    for (i = 0; i < 15; i++)
        if (i != 8 && !is_digit(s[i]))
            return false;
    return true;
}

/*
 * The additional header names, lower-cased, sorted, without duplicates or the headers V4 signs
 * anyway, each checked to be in the request. ret_names is an array of strings in ret_buf.
 */
static int
additional_headers(const struct osssign_req *req, const char *additional, char **ret_buf,
                   char ***ret_names, size_t *ret_count, struct otsync_err *err)
{
    char *buf = NULL, **names = NULL, *tok, *save = NULL, *end;
    size_t count = 0, max = 1, i, j;
    const char *p;
    int rc;

    *ret_buf = NULL;
    *ret_names = NULL;
    *ret_count = 0;
    if (is_empty(additional))
        return 0;
    for (p = additional; *p; p++)
        max += *p == ';';
    if (!(buf = lower_dup(additional)) || !(names = calloc(max, sizeof(*names)))) {
        rc = oom(err);
        goto fail;
    }
    for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (!*tok || strcmp(tok, "content-type") == 0 || strcmp(tok, "content-md5") == 0
            || is_oss_header(tok))
            continue;
        if (!header_get(req, tok)) {
            rc = otsync_err_set(err, OTSYNC_EINVAL, "oss signature: additional header '%s' is "
                                "not in the request", tok);
            goto fail;
        }
        names[count++] = tok;
    }
    /* insertion sort with duplicates dropped: the list is a handful of names */
    for (i = 1; i < count; i++) {
        tok = names[i];
        for (j = i; j > 0 && strcmp(names[j - 1], tok) > 0; j--)
            names[j] = names[j - 1];
        names[j] = tok;
    }
    for (i = j = 0; i < count; i++)
        if (j == 0 || strcmp(names[j - 1], names[i]) != 0)
            names[j++] = names[i];
    *ret_buf = buf;
    *ret_names = names;
    *ret_count = j;
    return 0;
fail:
    free(buf);
    free(names);
    return rc;
}

/* The canonical request into b, and the additional names joined by ';' into ret_add. */
static int
build_v4_creq(const struct osssign_req *req, const struct osssign_v4 *v4, struct sbuf *b,
              struct sbuf *ret_add, struct otsync_err *err)
{
    char *addbuf = NULL, **addnames = NULL;
    const char *payload;
    size_t addcount = 0, i;
    int rc;

    if (is_empty(req->method))
        return otsync_err_set(err, OTSYNC_EINVAL, "oss signature: no method");
    if (!is_iso_date(header_get(req, "x-oss-date")))
        return otsync_err_set(err, OTSYNC_EINVAL, "oss signature: v4 needs x-oss-date as "
                              "yyyymmddTHHMMSSZ");
    if (!(payload = header_get(req, "x-oss-content-sha256")))
        return otsync_err_set(err, OTSYNC_EINVAL, "oss signature: v4 needs x-oss-content-sha256");
    if ((rc = additional_headers(req, v4->additional, &addbuf, &addnames, &addcount, err)) < 0)
        return rc;

    sb_str(b, req->method);
    sb_str(b, "\n");
    sb_resource_path(b, req, true);
    sb_str(b, "\n");
    if ((rc = sb_query(b, req, &v4_query, err)) < 0)
        goto out;
    sb_str(b, "\n");
    if ((rc = sb_headers(b, req, true, addnames, addcount, err)) < 0)
        goto out;
    sb_str(b, "\n");
    for (i = 0; i < addcount; i++) {
        if (i)
            sb_str(ret_add, ";");
        sb_str(ret_add, addnames[i]);
    }
    sb_add(ret_add, "", 0);
    if (ret_add->failed) {
        rc = oom(err);
        goto out;
    }
    sb_str(b, ret_add->p);
    sb_str(b, "\n");
    sb_str(b, payload);
    rc = sb_check(b, err);
out:
    free(addnames);
    free(addbuf);
    return rc;
}

static const char *
product_of(const struct osssign_v4 *v4)
{
    return is_empty(v4->product) ? "oss" : v4->product;
}

/* The string to sign into b; the additional names into ret_add. */
static int
build_v4_sts(const struct osssign_req *req, const struct osssign_v4 *v4, struct sbuf *b,
             struct sbuf *ret_add, struct otsync_err *err)
{
    unsigned char digest[SIGN_SHA256_LEN];
    char hex[2 * SIGN_SHA256_LEN + 1];
    struct sbuf creq = {0};
    const char *date = NULL;
    int rc;

    if (is_empty(v4->region))
        return otsync_err_set(err, OTSYNC_EINVAL, "oss signature: v4 needs a region");
    if ((rc = build_v4_creq(req, v4, &creq, ret_add, err)) < 0)
        goto out;
    if (sign_sha256(creq.p, creq.len, digest) < 0) {
        rc = otsync_err_set(err, OTSYNC_ESYS, "oss signature: sha-256 failed");
        goto out;
    }
    date = header_get(req, "x-oss-date");
    sb_str(b, V4_ALGO "\n");
    sb_str(b, date);
    sb_str(b, "\n");
    sb_add(b, date, 8);
    sb_str(b, "/");
    sb_str(b, v4->region);
    sb_str(b, "/");
    sb_str(b, product_of(v4));
    sb_str(b, "/" V4_TERM "\n");
    sb_str(b, sign_hex(digest, sizeof(digest), hex));
    rc = sb_check(b, err);
out:
    free(creq.p);
    return rc;
}

/* The intermediate strings, handed out so tests and tools can hold them against an SDK's. */
enum piece { PIECE_V1_RESOURCE, PIECE_V1_STS, PIECE_V4_CREQ, PIECE_V4_STS };

static int
piece_out(const struct osssign_req *req, const struct osssign_v4 *v4, enum piece what,
          char *ret, size_t len, struct otsync_err *err)
{
    static const char *const names[] = {
        [PIECE_V1_RESOURCE] = "canonicalized resource",
        [PIECE_V1_STS] = "string to sign",
        [PIECE_V4_CREQ] = "canonical request",
        [PIECE_V4_STS] = "string to sign",
    };
    struct sbuf b = {0}, add = {0};
    int rc;

    if (what == PIECE_V1_RESOURCE)
        rc = build_v1_resource(req, &b, err);
    else if (what == PIECE_V1_STS)
        rc = build_v1_sts(req, &b, err);
    else if (what == PIECE_V4_CREQ)
        rc = build_v4_creq(req, v4, &b, &add, err);
    else
        rc = build_v4_sts(req, v4, &b, &add, err);
    free(add.p);
    if (rc < 0) {
        free(b.p);
        if (len)
            ret[0] = '\0';
        return rc;
    }
    return sb_out(&b, ret, len, names[what], err);
}

int
osssign_v1_resource(const struct osssign_req *req, char *ret_res, size_t len,
                    struct otsync_err *err)
{
    return piece_out(req, NULL, PIECE_V1_RESOURCE, ret_res, len, err);
}

int
osssign_v1_string_to_sign(const struct osssign_req *req, char *ret_sts, size_t len,
                          struct otsync_err *err)
{
    return piece_out(req, NULL, PIECE_V1_STS, ret_sts, len, err);
}

int
osssign_v4_canonical_request(const struct osssign_req *req, const struct osssign_v4 *v4,
                             char *ret_creq, size_t len, struct otsync_err *err)
{
    return piece_out(req, v4, PIECE_V4_CREQ, ret_creq, len, err);
}

int
osssign_v4_string_to_sign(const struct osssign_req *req, const struct osssign_v4 *v4,
                          char *ret_sts, size_t len, struct otsync_err *err)
{
    return piece_out(req, v4, PIECE_V4_STS, ret_sts, len, err);
}

/* hex(HMAC-SHA256(signing key, sts)), the key chained from "aliyun_v4" + secret. */
static int
sign_v4_sts(const char *sts, size_t sts_len, const char *date8, const char *region,
            const char *product, const char *secret, char ret_hex[2 * SIGN_SHA256_LEN + 1],
            struct otsync_err *err)
{
    unsigned char k[SIGN_SHA256_LEN], k2[SIGN_SHA256_LEN];
    size_t slen = strlen(secret);
    char *key0;
    int rc = -1;

    if (!(key0 = malloc(slen + 10)))
        return oom(err);
    memcpy(key0, "aliyun_v4", 9);
    memcpy(key0 + 9, secret, slen + 1);
    /* never the same buffer as key and output: the chain alternates between k and k2 */
    if (sign_hmac_sha256(key0, slen + 9, date8, 8, k) == 0
        && sign_hmac_sha256(k, sizeof(k), region, strlen(region), k2) == 0
        && sign_hmac_sha256(k2, sizeof(k2), product, strlen(product), k) == 0
        && sign_hmac_sha256(k, sizeof(k), V4_TERM, strlen(V4_TERM), k2) == 0
        && sign_hmac_sha256(k2, sizeof(k2), sts, sts_len, k) == 0)
        rc = 0;
    explicit_bzero(key0, slen + 9);
    free(key0);
    explicit_bzero(k2, sizeof(k2));
    if (rc < 0) {
        explicit_bzero(k, sizeof(k));
        return otsync_err_set(err, OTSYNC_ESYS, "oss signature: hmac-sha256 failed");
    }
    sign_hex(k, sizeof(k), ret_hex);
    explicit_bzero(k, sizeof(k));
    return 0;
}

int
osssign_v4(const struct osssign_req *req, const struct osssign_v4 *v4, const char *key_id,
           const char *secret, char *ret_auth, size_t len, struct otsync_err *err)
{
    char sig[2 * SIGN_SHA256_LEN + 1];
    struct sbuf b = {0}, add = {0};
    const char *date = NULL;
    int rc, n;

    if (len)
        ret_auth[0] = '\0';
    if ((rc = build_v4_sts(req, v4, &b, &add, err)) < 0)
        goto out;
    date = header_get(req, "x-oss-date");
    if ((rc = sign_v4_sts(b.p, b.len, date, v4->region, product_of(v4), secret, sig, err)) < 0)
        goto out;
    n = snprintf(ret_auth, len, V4_ALGO " Credential=%s/%.8s/%s/%s/" V4_TERM "%s%s,Signature=%s",
                 key_id, date, v4->region, product_of(v4), *add.p ? ",AdditionalHeaders=" : "",
                 add.p, sig);
    if (n < 0 || (size_t)n >= len) {
        if (len)
            ret_auth[0] = '\0';
        rc = otsync_err_set(err, OTSYNC_EINVAL, "oss signature: authorization needs %d bytes, "
                            "buffer has %zu", n + 1, len);
    }
out:
    free(b.p);
    free(add.p);
    return rc;
}

/* Copies [s, s + n) into dst of size cap; false if it does not fit. */
static bool
copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

static int
parse_credential(const char *s, size_t n, struct osssign_auth *a)
{
    const char *part[5];
    size_t plen[5], k = 0;
    const char *p = s, *end = s + n, *slash;

    /* <id>/<yyyymmdd>/<region>/<product>/aliyun_v4_request; the id has no '/' */
    while (k < 5) {
        slash = memchr(p, '/', (size_t)(end - p));
        part[k] = p;
        plen[k] = (size_t)((slash ? slash : end) - p);
        k++;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (k != 5 || part[4] + plen[4] != end || plen[4] != strlen(V4_TERM)
        || memcmp(part[4], V4_TERM, plen[4]) != 0 || plen[1] != 8 || !plen[0] || !plen[2]
        || !plen[3])
        return -1;
    if (!copy_field(a->key_id, sizeof(a->key_id), part[0], plen[0])
        || !copy_field(a->date, sizeof(a->date), part[1], plen[1])
        || !copy_field(a->region, sizeof(a->region), part[2], plen[2])
        || !copy_field(a->product, sizeof(a->product), part[3], plen[3]))
        return -1;
    return 0;
}

int
osssign_parse_auth(const char *value, struct osssign_auth *ret_auth, struct otsync_err *err)
{
    struct osssign_auth a;
    const char *p, *colon, *item, *end, *eq;
    bool have_cred = false, have_sig = false, have_add = false;
    size_t n;

    memset(&a, 0, sizeof(a));
    memset(ret_auth, 0, sizeof(*ret_auth));
    if (!value)
        return otsync_err_set(err, OTSYNC_EAUTH, "authorization: missing");
    if (strncmp(value, "OSS ", 4) == 0) {
        p = value + 4;
        colon = strchr(p, ':');
        if (!colon || colon == p || !colon[1]
            || !copy_field(a.key_id, sizeof(a.key_id), p, (size_t)(colon - p))
            || !copy_field(a.signature, sizeof(a.signature), colon + 1, strlen(colon + 1)))
            return otsync_err_set(err, OTSYNC_EAUTH, "authorization: malformed 'OSS id:signature'");
        a.version = 1;
        *ret_auth = a;
        return 0;
    }
    if (strncmp(value, V4_ALGO " ", strlen(V4_ALGO) + 1) != 0)
        return otsync_err_set(err, OTSYNC_EAUTH, "authorization: unknown scheme");
    a.version = 4;
    for (p = value + strlen(V4_ALGO) + 1; *p; p = *end ? end + 1 : end) {
        while (*p == ' ')
            p++;
        item = p;
        end = strchr(item, ',');
        if (!end)
            end = item + strlen(item);
        n = (size_t)(end - item);
        while (n && item[n - 1] == ' ')
            n--;
        eq = memchr(item, '=', n);
        if (!eq)
            return otsync_err_set(err, OTSYNC_EAUTH, "authorization: v4 item without '='");
        if ((size_t)(eq - item) == 10 && memcmp(item, "Credential", 10) == 0 && !have_cred) {
            if (parse_credential(eq + 1, (size_t)(item + n - eq - 1), &a) < 0)
                return otsync_err_set(err, OTSYNC_EAUTH, "authorization: malformed credential");
            have_cred = true;
        } else if ((size_t)(eq - item) == 9 && memcmp(item, "Signature", 9) == 0 && !have_sig) {
            if (!copy_field(a.signature, sizeof(a.signature), eq + 1, (size_t)(item + n - eq - 1)))
                return otsync_err_set(err, OTSYNC_EAUTH, "authorization: signature too long");
            have_sig = true;
        } else if ((size_t)(eq - item) == 17 && memcmp(item, "AdditionalHeaders", 17) == 0
                   && !have_add) {
            if (!copy_field(a.additional, sizeof(a.additional), eq + 1,
                            (size_t)(item + n - eq - 1)))
                return otsync_err_set(err, OTSYNC_EAUTH, "authorization: additional headers "
                                      "too long");
            have_add = true;
        } else {
            return otsync_err_set(err, OTSYNC_EAUTH, "authorization: unknown or repeated v4 "
                                  "item '%.*s'", (int)(eq - item), item);
        }
    }
    if (!have_cred || !have_sig || !*a.signature)
        return otsync_err_set(err, OTSYNC_EAUTH, "authorization: v4 needs Credential and "
                              "Signature");
    *ret_auth = a;
    return 0;
}

/* Compares without an early exit, so response timing says nothing about the signature. */
static bool
same_string(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i;
    unsigned char d = la != lb;

    for (i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int
osssign_check(const struct osssign_req *req, const struct osssign_auth *auth, const char *secret,
              char *ret_sts, size_t len, struct otsync_err *err)
{
    char sig[2 * SIGN_SHA256_LEN + 1];
    struct sbuf b = {0}, add = {0};
    struct osssign_v4 v4;
    const char *date = NULL;
    int rc;

    if (ret_sts && len)
        ret_sts[0] = '\0';
    if (auth->version == 1) {
        if ((rc = build_v1_sts(req, &b, err)) < 0)
            goto out;
        if ((rc = sign_v1_sts(b.p, b.len, secret, sig, err)) < 0)
            goto out;
    } else if (auth->version == 4) {
        v4.region = auth->region;
        v4.product = auth->product;
        v4.additional = auth->additional;
        if ((rc = build_v4_sts(req, &v4, &b, &add, err)) < 0)
            goto out;
        date = header_get(req, "x-oss-date");
        if ((rc = sign_v4_sts(b.p, b.len, date, v4.region, product_of(&v4), secret, sig,
                              err)) < 0)
            goto out;
    } else {
        rc = otsync_err_set(err, OTSYNC_EINVAL, "oss signature: unknown version %d",
                            auth->version);
        goto out;
    }
    if (ret_sts) {
        rc = sb_out(&b, ret_sts, len, "string to sign", err);
        b.p = NULL;     /* sb_out freed it either way */
        if (rc < 0)
            goto out;
    }
    if (auth->version == 4 && strncmp(auth->date, date, 8) != 0)
        rc = otsync_err_set(err, OTSYNC_EAUTH, "oss signature: credential date %s is not the "
                            "x-oss-date day", auth->date);
    else if (!same_string(sig, auth->signature))
        rc = otsync_err_set(err, OTSYNC_EAUTH, "oss signature: signature does not match");
    else
        rc = 0;
out:
    free(b.p);
    free(add.p);
    return rc;
}

int
osssign_uri_encode(const char *s, size_t slen, bool keep_slash, char *ret_buf, size_t len)
{
    struct sbuf b = {0}, in = {0};

    sb_add(&in, s, slen);
    if (in.failed || memchr(s, '\0', slen)) {
        free(in.p);
        if (len)
            ret_buf[0] = '\0';
        return -OTSYNC_EINVAL;
    }
    sb_encoded(&b, in.p ? in.p : "", keep_slash);
    sb_add(&b, "", 0);
    free(in.p);
    return sb_out(&b, ret_buf, len, "encoded string", NULL);
}

int
osssign_encode_key(const char *key, char *ret_buf, size_t len)
{
    return osssign_uri_encode(key, strlen(key), true, ret_buf, len);
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
osssign_uri_decode(const char *s, size_t slen, bool plus_space, char *ret_buf, size_t len)
{
    size_t i, n = 0;
    int hi, lo;
    char c;

    for (i = 0; i < slen; i++) {
        c = s[i];
        if (c == '%') {
            if (slen - i < 3)
                goto bad;
            if ((hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0 || (hi | lo) == 0)
                goto bad;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == '\0') {
            goto bad;
        }
        if (n + 1 >= len)
            goto bad;
        ret_buf[n++] = c;
    }
    if (n >= len)
        goto bad;
    ret_buf[n] = '\0';
    return 0;
bad:
    if (len)
        ret_buf[0] = '\0';
    return -OTSYNC_EINVAL;
}

/* Writes v as exactly n decimal digits; returns the end. */
static char *
put_digits(char *p, int v, int n)
{
    int i;

    for (i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

int
osssign_http_date(time_t t, char ret_date[OSSSIGN_HTTP_DATE_SIZE])
{
    struct tm tm;
    char *p = ret_date;

    ret_date[0] = '\0';
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return -OTSYNC_EINVAL;
    memcpy(p, wday_names[tm.tm_wday], 3);
    memcpy(p + 3, ", ", 2);
    p = put_digits(p + 5, tm.tm_mday, 2);
    *p++ = ' ';
    memcpy(p, month_names[tm.tm_mon], 3);
    p[3] = ' ';
    p = put_digits(p + 4, tm.tm_year + 1900, 4);
    *p++ = ' ';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    memcpy(p, " GMT", 5);
    return 0;
}

int
osssign_iso_date(time_t t, char ret_date[OSSSIGN_ISO_DATE_SIZE])
{
    struct tm tm;
    char *p = ret_date;

    ret_date[0] = '\0';
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return -OTSYNC_EINVAL;
    p = put_digits(p, tm.tm_year + 1900, 4);
    p = put_digits(p, tm.tm_mon + 1, 2);
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    p = put_digits(p, tm.tm_min, 2);
    p = put_digits(p, tm.tm_sec, 2);
    memcpy(p, "Z", 2);
    return 0;
}

/* n decimal digits at s, or -1. */
static int
digits(const char *s, int n)
{
    int v = 0;

    while (n--) {
        if (!is_digit(*s))
            return -1;
        v = v * 10 + (*s++ - '0');
    }
    return v;
}

int
osssign_parse_date(const char *s, time_t *ret_t)
{
    struct tm tm, want, back;
    int mon = -1, i;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (is_iso_date(s)) {
        tm.tm_year = digits(s, 4) - 1900;
        mon = digits(s + 4, 2) - 1;
        tm.tm_mday = digits(s + 6, 2);
        tm.tm_hour = digits(s + 9, 2);
        tm.tm_min = digits(s + 11, 2);
        tm.tm_sec = digits(s + 13, 2);
    } else if (s && strlen(s) == 29 && s[3] == ',' && s[4] == ' ' && s[7] == ' ' && s[11] == ' '
               && s[16] == ' ' && s[19] == ':' && s[22] == ':' && strcmp(s + 25, " GMT") == 0) {
        /* "Thu, 02 Jan 2025 03:04:05 GMT"; the weekday is not checked against the date */
        for (i = 0; i < 7 && strncmp(s, wday_names[i], 3) != 0; i++)
            ;
        if (i == 7)
            return -OTSYNC_EINVAL;
        for (i = 0; i < 12; i++)
            if (strncmp(s + 8, month_names[i], 3) == 0)
                mon = i;
        tm.tm_mday = digits(s + 5, 2);
        tm.tm_year = digits(s + 12, 4) - 1900;
        tm.tm_hour = digits(s + 17, 2);
        tm.tm_min = digits(s + 20, 2);
        tm.tm_sec = digits(s + 23, 2);
        if (tm.tm_year < -1900 || tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0
            || tm.tm_mday < 0)
            return -OTSYNC_EINVAL;
    } else {
        return -OTSYNC_EINVAL;
    }
    if (mon < 0 || mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23
        || tm.tm_min > 59 || tm.tm_sec > 60)
        return -OTSYNC_EINVAL;
    tm.tm_mon = mon;
    want = tm;
    t = timegm(&tm);
    /* timegm normalises 31 Feb into March; a date that moves was not a date */
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != want.tm_mday
        || back.tm_mon != want.tm_mon || back.tm_year != want.tm_year)
        return -OTSYNC_EINVAL;
    *ret_t = t;
    return 0;
}
