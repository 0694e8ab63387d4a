/*
 * odpssign.c - MaxCompute request signatures (odpssign.h; doc section 2). Builds the canonical
 * string; HMAC, SHA-256 and base64 come from sign.h. The wire encoding of URLs is the caller's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "otsync/odpssign.h"
#include "otsync/sign.h"

#define XODPS "x-odps-"
#define XODPS_LEN 7
#define V4_SCOPE "odps/aliyun_v4_request"
/* 20-byte HMAC-SHA1 in base64 */
#define SIG_B64_LEN 28

/* One header line or query parameter, sorted by name with the input order breaking ties. */
struct entry {
    char *name;                 /* lower-cased copy for header lines; borrowed for params */
    const char *value;          /* NULL for a bare parameter */
    size_t idx;
};

static int
entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);   /* unsigned bytes: the doc's byte order */

    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static const char *
header_get(const struct odpssign_req *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->header_count; i++)
        if (req->headers[i].name && !strcasecmp(req->headers[i].name, name))
            return req->headers[i].value ? req->headers[i].value : "";
    return "";
}

static size_t
str_len(const char *s)
{
    return s ? strlen(s) : 0;
}

static char *
append(char *p, const char *s)
{
    size_t n = str_len(s);

    memcpy(p, s, n);
    return p + n;
}

int
odpssign_string_to_sign(const struct odpssign_req *req, unsigned flags, char **ret_str,
                        struct otsync_err *err)
{
    const char *md5, *type, *date;
    struct entry *lines = NULL, *params = NULL;
    size_t nlines = 0, i, j, size;
    char *out = NULL, *p;
    int rc;

    if (!req->method || !req->path)
        return otsync_err_set(err, OTSYNC_EINVAL, "request without %s",
                              req->method ? "path" : "method");
    md5 = header_get(req, "Content-MD5");
    type = header_get(req, "Content-Type");
    date = header_get(req, "Date");
    size = strlen(req->method) + strlen(md5) + strlen(type) + strlen(date) + 4
           + strlen(req->path) + 2;
    lines = calloc(req->header_count + req->param_count + 1, sizeof(*lines));
    params = calloc(req->param_count + 1, sizeof(*params));
    if (!lines || !params) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "string to sign");
        goto fail;
    }
    for (i = 0; i < req->header_count; i++) {
        if (!req->headers[i].name || strncasecmp(req->headers[i].name, XODPS, XODPS_LEN))
            continue;
        lines[nlines].name = strdup(req->headers[i].name);
        lines[nlines].value = req->headers[i].value ? req->headers[i].value : "";
        lines[nlines].idx = nlines;
        if (!lines[nlines++].name) {
            rc = otsync_err_set(err, OTSYNC_ENOMEM, "string to sign");
            goto fail;
        }
    }
    for (i = 0; i < req->param_count; i++) {
        if (!req->params[i].name) {
            rc = otsync_err_set(err, OTSYNC_EINVAL, "query parameter %zu has no name", i + 1);
            goto fail;
        }
        params[i].name = (char *)(uintptr_t)req->params[i].name;
        params[i].value = req->params[i].value;
        params[i].idx = i;
        size += strlen(params[i].name) + str_len(params[i].value) + 2;
        /* Java and PyODPS also sign x-odps-* parameters as header lines; Go does not (doc 11) */
        if ((flags & ODPSSIGN_NO_QUERY_HEADERS) || strncmp(req->params[i].name, XODPS, XODPS_LEN))
            continue;
        lines[nlines].name = strdup(req->params[i].name);
        lines[nlines].value = req->params[i].value ? req->params[i].value : "";
        lines[nlines].idx = nlines;
        if (!lines[nlines++].name) {
            rc = otsync_err_set(err, OTSYNC_ENOMEM, "string to sign");
            goto fail;
        }
    }
    for (i = 0; i < nlines; i++) {
        for (j = 0; lines[i].name[j]; j++)
            if (lines[i].name[j] >= 'A' && lines[i].name[j] <= 'Z')
                lines[i].name[j] = (char)(lines[i].name[j] - 'A' + 'a');
        size += j + strlen(lines[i].value) + 2;
    }
    qsort(lines, nlines, sizeof(*lines), entry_cmp);
    qsort(params, req->param_count, sizeof(*params), entry_cmp);
    if (!(out = malloc(size))) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "string to sign of %zu bytes", size);
        goto fail;
    }
    p = append(out, req->method);
    *p++ = '\n';
    p = append(p, md5);
    *p++ = '\n';
    p = append(p, type);
    *p++ = '\n';
    p = append(p, date);
    *p++ = '\n';
    for (i = 0; i < nlines; i++) {
        p = append(p, lines[i].name);
        *p++ = ':';
        p = append(p, lines[i].value);
        *p++ = '\n';
    }
    p = append(p, req->path);
    for (i = 0; i < req->param_count; i++) {
        *p++ = i ? '&' : '?';
        p = append(p, params[i].name);
        if (params[i].value && *params[i].value) {
            *p++ = '=';
            p = append(p, params[i].value);
        }
    }
    *p = '\0';
    *ret_str = out;
    out = NULL;
    rc = 0;
fail:
    for (i = 0; lines && i < nlines; i++)
        free(lines[i].name);
    free(lines);
    free(params);
    free(out);
    return rc;
}

/* base64(HMAC-SHA1(key, string to sign)) into sig (SIG_B64_LEN + 1 bytes). */
static int
sign_string(const struct odpssign_req *req, unsigned flags, const void *key, size_t key_len,
            char sig[SIG_B64_LEN + 1], char **ret_sts, struct otsync_err *err)
{
    unsigned char mac[SIGN_SHA1_LEN];
    char *sts;
    int rc;

    if ((rc = odpssign_string_to_sign(req, flags, &sts, err)) < 0)
        return rc;
    if (sign_hmac_sha1(key, key_len, sts, strlen(sts), mac) < 0) {
        free(sts);
        return otsync_err_set(err, OTSYNC_EINVAL, "hmac-sha1 failed");
    }
    sign_base64(mac, sizeof(mac), sig);
    if (ret_sts)
        *ret_sts = sts;
    else
        free(sts);
    return 0;
}

int
odpssign_v2(const struct odpssign_req *req, const char *key_id, const char *secret,
            char *ret_auth, size_t len, struct otsync_err *err)
{
    char sig[SIG_B64_LEN + 1];
    int rc, n;

    if ((rc = sign_string(req, 0, secret, strlen(secret), sig, NULL, err)) < 0)
        return rc;
    n = snprintf(ret_auth, len, "ODPS %s:%s", key_id, sig);
    if (n < 0 || (size_t)n >= len)
        return otsync_err_set(err, OTSYNC_EINVAL, "authorization needs %d bytes, %zu given",
                              n + 1, len);
    return 0;
}

/* The V4 signing key: an HMAC-SHA256 chain over date, region and the fixed scope (doc 2.4). */
static int
v4_key(const char *secret, const char *region, const char *yyyymmdd,
       unsigned char key[SIGN_SHA256_LEN])
{
    unsigned char k[SIGN_SHA256_LEN];
    size_t n = strlen(secret);
    char *seed;
    int rc;

    if (!(seed = malloc(n + 10)))
        return -1;
    memcpy(seed, "aliyun_v4", 9);
    memcpy(seed + 9, secret, n + 1);
    rc = sign_hmac_sha256(seed, n + 9, yyyymmdd, strlen(yyyymmdd), k);
    if (rc == 0)
        rc = sign_hmac_sha256(k, sizeof(k), region, strlen(region), key);
    if (rc == 0)
        rc = sign_hmac_sha256(key, SIGN_SHA256_LEN, "odps", 4, k);
    if (rc == 0)
        rc = sign_hmac_sha256(k, sizeof(k), "aliyun_v4_request", 17, key);
    explicit_bzero(seed, n + 9);
    explicit_bzero(k, sizeof(k));
    free(seed);
    return rc;
}

static int
v4_sig(const struct odpssign_req *req, unsigned flags, const char *secret, const char *region,
       const char *yyyymmdd, char sig[SIG_B64_LEN + 1], char **ret_sts, struct otsync_err *err)
{
    unsigned char key[SIGN_SHA256_LEN];
    int rc;

    if (v4_key(secret, region, yyyymmdd, key) < 0)
        return otsync_err_set(err, OTSYNC_ENOMEM, "v4 signing key");
    rc = sign_string(req, flags, key, sizeof(key), sig, ret_sts, err);
    explicit_bzero(key, sizeof(key));
    return rc;
}

int
odpssign_v4(const struct odpssign_req *req, const char *key_id, const char *secret,
            const char *region, const char *yyyymmdd, char *ret_auth, size_t len,
            struct otsync_err *err)
{
    char sig[SIG_B64_LEN + 1];
    int rc, n;

    if ((rc = v4_sig(req, 0, secret, region, yyyymmdd, sig, NULL, err)) < 0)
        return rc;
    n = snprintf(ret_auth, len, "ODPS %s/%s/%s/" V4_SCOPE ":%s", key_id, yyyymmdd, region, sig);
    if (n < 0 || (size_t)n >= len)
        return otsync_err_set(err, OTSYNC_EINVAL, "authorization needs %d bytes, %zu given",
                              n + 1, len);
    return 0;
}

/* Compares in time independent of where the strings differ, so timing does not leak a prefix. */
static bool
sig_equal(const char *a, const char *b, size_t len)
{
    unsigned char d = 0;
    size_t i;

    for (i = 0; i < len; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static bool
has_xodps_param(const struct odpssign_req *req)
{
    size_t i;

    for (i = 0; i < req->param_count; i++)
        if (req->params[i].name && !strncmp(req->params[i].name, XODPS, XODPS_LEN))
            return true;
    return false;
}

/* The mismatch message shows our string to sign, newlines as "\n", for the client to compare. */
static int
mismatch(const char *key_id, const char *sts, struct otsync_err *err)
{
    char shown[OTSYNC_ERR_MSG_LEN / 2];
    size_t i, o = 0;

    for (i = 0; sts[i] && o + 3 < sizeof(shown); i++) {
        if (sts[i] == '\n') {
            shown[o++] = '\\';
            shown[o++] = 'n';
        } else {
            shown[o++] = sts[i];
        }
    }
    shown[o] = '\0';
    return otsync_err_set(err, OTSYNC_EAUTH, "signature of key '%s' does not match; string to "
                          "sign: '%s'", key_id, shown);
}

int
odpssign_verify(const struct odpssign_req *req, const char *authorization,
                odpssign_secret_cb secret_cb, void *arg, struct otsync_err *err)
{
    char cred[512], sig[SIG_B64_LEN + 1], *sts = NULL, *parts[5], *save, *tok;
    const char *colon, *secret;
    size_t cred_len, n = 0;
    unsigned flags[2] = { 0, ODPSSIGN_NO_QUERY_HEADERS };
    int i, rc, tries;

    if (strncmp(authorization, "ODPS ", 5) != 0)
        return otsync_err_set(err, OTSYNC_EAUTH, "authorization is not 'ODPS <id>:<signature>'");
    authorization += 5;
    /* base64 has no ':', so the last one separates; V4 ids carry '/' but no ':' either */
    if (!(colon = strrchr(authorization, ':')) || strlen(colon + 1) != SIG_B64_LEN)
        return otsync_err_set(err, OTSYNC_EAUTH, "authorization has no 28-character signature");
    cred_len = (size_t)(colon - authorization);
    if (cred_len == 0 || cred_len >= sizeof(cred))
        return otsync_err_set(err, OTSYNC_EAUTH, "authorization key id of %zu bytes", cred_len);
    memcpy(cred, authorization, cred_len);
    cred[cred_len] = '\0';
    if (strchr(cred, '/')) {
        for (tok = strtok_r(cred, "/", &save); tok && n < 5; tok = strtok_r(NULL, "/", &save))
            parts[n++] = tok;
        if (n != 5 || tok || strcmp(parts[3], "odps") || strcmp(parts[4], "aliyun_v4_request"))
            return otsync_err_set(err, OTSYNC_EAUTH, "authorization credential is not "
                                  "<id>/<yyyymmdd>/<region>/" V4_SCOPE);
    } else {
        parts[0] = cred;
    }
    if (!(secret = secret_cb(arg, parts[0])))
        return otsync_err_set(err, OTSYNC_EAUTH, "unknown access key id '%s'", parts[0]);
    tries = has_xodps_param(req) ? 2 : 1;
    for (i = 0; i < tries; i++) {
        free(sts);
        sts = NULL;
        rc = n == 5 ? v4_sig(req, flags[i], secret, parts[2], parts[1], sig, &sts, err)
             : sign_string(req, flags[i], secret, strlen(secret), sig, &sts, err);
        if (rc < 0)
            return rc;
        if (sig_equal(sig, colon + 1, SIG_B64_LEN)) {
            free(sts);
            return 0;
        }
    }
    /* report the Java/PyODPS form, which is what our own clients send */
    free(sts);
    rc = n == 5 ? v4_sig(req, 0, secret, parts[2], parts[1], sig, &sts, err)
         : sign_string(req, 0, secret, strlen(secret), sig, &sts, err);
    if (rc < 0)
        return rc;
    rc = mismatch(parts[0], sts, err);
    free(sts);
    return rc;
}

static int
hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long
odpssign_unescape(const char *in, size_t len, bool form, char *ret_out)
{
    size_t i, o = 0;
    int hi, lo;

    for (i = 0; i < len; i++) {
        if (in[i] == '%' && i + 2 < len
            && (hi = hex_val(in[i + 1])) >= 0 && (lo = hex_val(in[i + 2])) >= 0) {
            if (hi == 0 && lo == 0)
                return -1;
            ret_out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (in[i] == '+' && form) {
            ret_out[o++] = ' ';
        } else {
            ret_out[o++] = in[i];
        }
    }
    ret_out[o] = '\0';
    return (long)o;
}

int
odpssign_query_parse(const char *query, struct odpssign_param **ret_params, size_t *ret_count,
                     struct otsync_err *err)
{
    size_t qlen = strlen(query), pieces = 1, n = 0, i;
    const char *p = query, *end, *eq;
    struct odpssign_param *params;
    char *store;
    long len;

    for (i = 0; i < qlen; i++)
        pieces += query[i] == '&';
    /* one block: the array, then every decoded string (never longer than its encoding) */
    if (!(params = malloc(pieces * sizeof(*params) + qlen + 2 * pieces)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "query of %zu bytes", qlen);
    store = (char *)(params + pieces);
    while (*p) {
        end = strchr(p, '&');
        if (!end)
            end = p + strlen(p);
        if (end == p) {
            p++;
            continue;
        }
        eq = memchr(p, '=', (size_t)(end - p));
        params[n].name = store;
        if ((len = odpssign_unescape(p, (size_t)((eq ? eq : end) - p), true, store)) < 0)
            goto bad;
        store += len + 1;
        params[n].value = NULL;
        if (eq) {
            params[n].value = store;
            if ((len = odpssign_unescape(eq + 1, (size_t)(end - eq - 1), true, store)) < 0)
                goto bad;
            store += len + 1;
        }
        n++;
        p = *end ? end + 1 : end;
    }
    *ret_params = params;
    *ret_count = n;
    return 0;
bad:
    free(params);
    return otsync_err_set(err, OTSYNC_EINVAL, "query offset %zu: encoded NUL",
                          (size_t)(p - query));
}

int
odpssign_date(time_t t, char *ret_buf, size_t len, struct otsync_err *err)
{
    static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                        "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    int n;

    /* by hand, not strftime: %a and %b follow the locale and the service wants English */
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return otsync_err_set(err, OTSYNC_EINVAL, "time %lld has no 4-digit year",
                              (long long)t);
    n = snprintf(ret_buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
    if (n < 0 || (size_t)n >= len)
        return otsync_err_set(err, OTSYNC_EINVAL, "date needs %d bytes, %zu given", n + 1, len);
    return 0;
}
