/*
 * otssign.c - the strings Table Store signs, built from whatever headers the caller holds, and
 * the signatures over them. The digests are sign.h's; this only decides what goes in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "otsync/otssign.h"
#include "otsync/sign.h"

#define PREFIX "x-ots-"
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define SIG_HEADER "x-ots-signature"

struct canon {
    char *name;                 /* lower-cased copy */
    const char *value;          /* trimmed: value_len bytes */
    size_t value_len;
};

static int
canon_cmp(const void *a, const void *b)
{
    return strcmp(((const struct canon *)a)->name, ((const struct canon *)b)->name);
}

static int
signed_header(const struct otssign_header *h)
{
    return strncasecmp(h->name, PREFIX, PREFIX_LEN) == 0 && strcasecmp(h->name, SIG_HEADER);
}

static void
canon_free(struct canon *c, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(c[i].name);
    free(c);
}

/*
 * Builds head + "name:value\n"... + tail. The two layouts differ only in where the path goes:
 * before the headers for requests, after them for responses.
 */
static int
build(const char *head, const struct otssign_header *hdrs, size_t count, const char *tail,
      char **ret_str, struct otsync_err *err)
{
    struct canon *c = NULL;
    size_t n = 0, i, j, len, total;
    const char *v;
    char *s = NULL, *p;
    int rc;

    *ret_str = NULL;
    if (count && !hdrs)
        return otsync_err_set(err, OTSYNC_EINVAL, "otssign: headers missing");
    if (count && !(c = calloc(count, sizeof(*c))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "otssign: out of memory");
    total = strlen(head) + strlen(tail) + 1;
    for (i = 0; i < count; i++) {
        if (!hdrs[i].name || !hdrs[i].value) {
            rc = otsync_err_set(err, OTSYNC_EINVAL, "otssign: header %zu has no name or value",
                                i);
            goto fail;
        }
        if (!signed_header(&hdrs[i]))
            continue;
        if (!(c[n].name = strdup(hdrs[i].name))) {
            rc = otsync_err_set(err, OTSYNC_ENOMEM, "otssign: out of memory");
            goto fail;
        }
        for (p = c[n].name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        /* GO, JAVA and PY sign trimmed values; JS does not, and nobody sends such values */
        v = hdrs[i].value;
        len = strlen(v);
        while (len && (*v == ' ' || *v == '\t')) {
            v++;
            len--;
        }
        while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
            len--;
        c[n].value = v;
        c[n].value_len = len;
        total += strlen(c[n].name) + 1 + len + 1;
        n++;
    }
    if (n)
        qsort(c, n, sizeof(*c), canon_cmp);
    for (j = 1; j < n; j++)
        if (strcmp(c[j - 1].name, c[j].name) == 0) {
            rc = otsync_err_set(err, OTSYNC_EINVAL, "otssign: header '%s' given twice",
                                c[j].name);
            goto fail;
        }
    if (!(s = malloc(total))) {
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "otssign: out of memory");
        goto fail;
    }
    p = s;
    p += sprintf(p, "%s", head);
    for (j = 0; j < n; j++)
        p += sprintf(p, "%s:%.*s\n", c[j].name, (int)c[j].value_len, c[j].value);
    strcpy(p, tail);
    canon_free(c, count);
    *ret_str = s;
    return 0;
fail:
    /* calloc'ed: the entries past the last copied name are NULL */
    canon_free(c, count);
    return rc;
}

int
otssign_request_string(const char *path, const char *method,
                       const struct otssign_header *hdrs, size_t count, char **ret_str,
                       struct otsync_err *err)
{
    char *head;
    size_t len;
    int rc;

    *ret_str = NULL;
    if (!path || !method)
        return otsync_err_set(err, OTSYNC_EINVAL, "otssign: path or method missing");
    len = strlen(path) + strlen(method) + 4;
    if (!(head = malloc(len)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "otssign: out of memory");
    /* the empty third line is the canonical query string, which is always empty */
    snprintf(head, len, "%s\n%s\n\n", path, method);
    rc = build(head, hdrs, count, "", ret_str, err);
    free(head);
    return rc;
}

int
otssign_response_string(const char *path, const struct otssign_header *hdrs, size_t count,
                        char **ret_str, struct otsync_err *err)
{
    *ret_str = NULL;
    if (!path)
        return otsync_err_set(err, OTSYNC_EINVAL, "otssign: path missing");
    return build("", hdrs, count, path, ret_str, err);
}

static int
hmac_b64(const char *secret, const char *str, char *ret_sig, size_t sig_len,
         struct otsync_err *err)
{
    unsigned char mac[SIGN_SHA1_LEN];

    if (!secret)
        return otsync_err_set(err, OTSYNC_EINVAL, "otssign: secret missing");
    if (sig_len < OTSSIGN_SIG_LEN)
        return otsync_err_set(err, OTSYNC_EINVAL, "otssign: signature buffer of %zu bytes, "
                              "need %d", sig_len, OTSSIGN_SIG_LEN);
    if (sign_hmac_sha1(secret, strlen(secret), str, strlen(str), mac) < 0)
        return otsync_err_set(err, OTSYNC_ESYS, "otssign: HMAC-SHA1 failed");
    sign_base64(mac, sizeof(mac), ret_sig);
    return 0;
}

int
otssign_content_md5(const void *body, size_t len, char *ret_md5, size_t md5_len,
                    struct otsync_err *err)
{
    unsigned char md5[SIGN_MD5_LEN];

    if (md5_len < OTSSIGN_MD5_LEN)
        return otsync_err_set(err, OTSYNC_EINVAL, "otssign: MD5 buffer of %zu bytes, need %d",
                              md5_len, OTSSIGN_MD5_LEN);
    if (sign_md5(len ? body : "", len, md5) < 0)
        return otsync_err_set(err, OTSYNC_ESYS, "otssign: MD5 failed");
    sign_base64(md5, sizeof(md5), ret_md5);
    return 0;
}

int
otssign_request(const char *secret, const char *path, const char *method,
                const struct otssign_header *hdrs, size_t count, char *ret_sig, size_t sig_len,
                struct otsync_err *err)
{
    char *str;
    int rc;

    if ((rc = otssign_request_string(path, method, hdrs, count, &str, err)) < 0)
        return rc;
    rc = hmac_b64(secret, str, ret_sig, sig_len, err);
    free(str);
    return rc;
}

int
otssign_response(const char *secret, const char *path, const struct otssign_header *hdrs,
                 size_t count, char *ret_sig, size_t sig_len, struct otsync_err *err)
{
    char *str;
    int rc;

    if ((rc = otssign_response_string(path, hdrs, count, &str, err)) < 0)
        return rc;
    rc = hmac_b64(secret, str, ret_sig, sig_len, err);
    free(str);
    return rc;
}

/* Compares without an early exit, so an emulator's answer time says nothing of the prefix. */
static int
same(const char *a, size_t a_len, const char *b, size_t b_len)
{
    unsigned char d = 0;
    size_t i;

    if (a_len != b_len)
        return 0;
    for (i = 0; i < a_len; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int
otssign_request_check(const char *secret, const char *path, const char *method,
                      const struct otssign_header *hdrs, size_t count, struct otsync_err *err)
{
    char sig[OTSSIGN_SIG_LEN];
    const char *got = NULL;
    size_t i;
    int rc;

    for (i = 0; i < count && hdrs; i++)
        if (hdrs[i].name && strcasecmp(hdrs[i].name, SIG_HEADER) == 0) {
            if (got)
                return otsync_err_set(err, OTSYNC_EINVAL, "otssign: header '%s' given twice",
                                      SIG_HEADER);
            got = hdrs[i].value;
        }
    if (!got)
        return otsync_err_set(err, OTSYNC_EINVAL, "otssign: missing header %s", SIG_HEADER);
    if ((rc = otssign_request(secret, path, method, hdrs, count, sig, sizeof(sig), err)) < 0)
        return rc;
    if (!same(got, strlen(got), sig, strlen(sig)))
        return otsync_err_set(err, OTSYNC_EAUTH, "otssign: %s: signature mismatch", path);
    return 0;
}

int
otssign_response_authorization(const char *access_key_id, const char *secret,
                               const char *path, const struct otssign_header *hdrs,
                               size_t count, char *ret_auth, size_t auth_len,
                               struct otsync_err *err)
{
    char sig[OTSSIGN_SIG_LEN];
    int rc, n;

    if (!access_key_id)
        return otsync_err_set(err, OTSYNC_EINVAL, "otssign: access key id missing");
    if ((rc = otssign_response(secret, path, hdrs, count, sig, sizeof(sig), err)) < 0)
        return rc;
    n = snprintf(ret_auth, auth_len, "OTS %s:%s", access_key_id, sig);
    if (n < 0 || (size_t)n >= auth_len)
        return otsync_err_set(err, OTSYNC_EINVAL, "otssign: authorization buffer of %zu bytes "
                              "is too small", auth_len);
    return 0;
}

int
otssign_response_check(const char *access_key_id, const char *secret, const char *path,
                       const struct otssign_header *hdrs, size_t count,
                       const char *authorization, struct otsync_err *err)
{
    char sig[OTSSIGN_SIG_LEN];
    const char *got, *colon;
    size_t id_len;
    int rc;

    if (!authorization || strncmp(authorization, "OTS ", 4)
        || !(colon = strrchr(authorization + 4, ':')))
        return otsync_err_set(err, OTSYNC_EAUTH, "otssign: %s: authorization '%s' is not "
                              "'OTS <id>:<signature>'", path ? path : "?",
                              authorization ? authorization : "(none)");
    got = colon + 1;
    id_len = (size_t)(colon - (authorization + 4));
    if (access_key_id && !same(authorization + 4, id_len, access_key_id, strlen(access_key_id)))
        return otsync_err_set(err, OTSYNC_EAUTH, "otssign: %s: response signed for access key "
                              "'%.*s', not '%s'", path ? path : "?", (int)id_len,
                              authorization + 4, access_key_id);
    if ((rc = otssign_response(secret, path, hdrs, count, sig, sizeof(sig), err)) < 0) {
        /* headers the signature cannot be computed over come from the peer: not authentic */
        if (rc != -OTSYNC_EINVAL)
            return rc;
        if (err)
            err->code = OTSYNC_EAUTH;
        return -OTSYNC_EAUTH;
    }
    if (!same(got, strlen(got), sig, strlen(sig)))
        return otsync_err_set(err, OTSYNC_EAUTH, "otssign: %s: response signature mismatch",
                              path ? path : "?");
    return 0;
}
