/*
 * osssign.h - OSS request signatures, V1 (`OSS id:sig`, HMAC-SHA1) and V4 (OSS4-HMAC-SHA256),
 * built from one description of the request so the client signs and the emulator verifies
 * with the same code (oss.md sections 2 and 3). Also the wire encoding of keys and the two
 * date forms the signatures need.
 *
 * Owns: strings-to-sign, canonical requests, Authorization values and their parsing.
 * Leaves to others: the HMACs and base64 (sign.h), sending, clocks and skew checks.
 * No global state; every call is reentrant. Strings go to caller buffers: a call whose result
 * does not fit fails with -OTSYNC_EINVAL and leaves the buffer holding an empty string.
 */
#ifndef OTSYNC_OSSSIGN_H
#define OTSYNC_OSSSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "otsync/err.h"

/* One query parameter or header. For a query parameter, NULL or "" is "no value" (`?uploads`). */
struct osssign_param {
    const char *name;
    const char *value;
};

/* A request as it goes on the wire, minus the body. Everything is borrowed. */
struct osssign_req {
    const char *method;                     /* "PUT", exactly as sent */
    const char *bucket;                     /* NULL or "" for service-level requests */
    const char *key;                        /* raw UTF-8, NOT encoded; NULL or "" at bucket level */
    const struct osssign_param *query;      /* every URL parameter, decoded; V1 picks its own */
    size_t query_count;
    const struct osssign_param *headers;    /* as sent, names in any case */
    size_t header_count;
    const char *expires;                    /* presigned V1 URLs only: the Expires value, which
                                             * takes the date line; NULL otherwise */
};

/* Parameters of a V4 signature besides the request. Borrowed. */
struct osssign_v4 {
    const char *region;         /* "cn-hangzhou": the endpoint without "oss-" */
    const char *product;        /* NULL means "oss" */
    const char *additional;     /* extra signed header names, ';'-separated, any case, each of
                                 * which must be in the request; NULL or "" for none */
};

/* An Authorization value taken apart by osssign_parse_auth. */
struct osssign_auth {
    int version;                /* 1 or 4 */
    char key_id[128];
    char signature[128];        /* base64 (V1) or lower-case hex (V4) as received */
    char date[9];               /* V4: the credential's yyyymmdd */
    char region[64];            /* V4 */
    char product[32];           /* V4 */
    char additional[512];       /* V4: AdditionalHeaders as received, "" when absent */
};

/* Buffer sizes: the RFC 1123 date with its NUL, the ISO 8601 basic date, a V1 signature. */
#define OSSSIGN_HTTP_DATE_SIZE 30
#define OSSSIGN_ISO_DATE_SIZE 17
#define OSSSIGN_V1_SIG_SIZE 29

/* True if name is a query parameter V1 signs (a "sub-resource", oss.md 2.4). */
bool osssign_is_subresource(const char *name);

/*
 * V1 pieces. The date line is x-oss-date when sent, else Date, else empty (or req->expires).
 * osssign_v1_resource gives the CanonicalizedResource alone, e.g. "/b/k?partNumber=1&uploadId=x".
 * osssign_v1_signature writes the base64 HMAC-SHA1 alone (presigned URLs), and osssign_v1 the
 * whole header value "OSS <key_id>:<signature>". 0 or negative.
 */
int osssign_v1_resource(const struct osssign_req *req, char *ret_res, size_t len,
                        struct otsync_err *err) OTSYNC_WUR;
int osssign_v1_string_to_sign(const struct osssign_req *req, char *ret_sts, size_t len,
                              struct otsync_err *err) OTSYNC_WUR;
int osssign_v1_signature(const struct osssign_req *req, const char *secret,
                         char ret_sig[OSSSIGN_V1_SIG_SIZE], struct otsync_err *err) OTSYNC_WUR;
int osssign_v1(const struct osssign_req *req, const char *key_id, const char *secret,
               char *ret_auth, size_t len, struct otsync_err *err) OTSYNC_WUR;

/*
 * V4 pieces. The request must carry x-oss-date (yyyymmddTHHMMSSZ), which also dates the scope,
 * and x-oss-content-sha256, whose value ends the canonical request. osssign_v4 writes
 * "OSS4-HMAC-SHA256 Credential=<id>/<scope>[,AdditionalHeaders=<names>],Signature=<hex>".
 * 0 or negative.
 */
int osssign_v4_canonical_request(const struct osssign_req *req, const struct osssign_v4 *v4,
                                 char *ret_creq, size_t len, struct otsync_err *err) OTSYNC_WUR;
int osssign_v4_string_to_sign(const struct osssign_req *req, const struct osssign_v4 *v4,
                              char *ret_sts, size_t len, struct otsync_err *err) OTSYNC_WUR;
int osssign_v4(const struct osssign_req *req, const struct osssign_v4 *v4, const char *key_id,
               const char *secret, char *ret_auth, size_t len, struct otsync_err *err) OTSYNC_WUR;

/*
 * Takes an Authorization value apart: "OSS id:sig", or "OSS4-HMAC-SHA256 " with Credential,
 * AdditionalHeaders and Signature in any order, split on commas with spaces allowed (oss2 writes
 * ", "). -OTSYNC_EAUTH for anything else.
 */
int osssign_parse_auth(const char *value, struct osssign_auth *ret_auth,
                       struct otsync_err *err) OTSYNC_WUR;

/*
 * The emulator's check: signs req with secret the way auth says it was signed (its version, and
 * for V4 its region, product and additional headers) and compares in constant time. 0 on a
 * match, -OTSYNC_EAUTH on a mismatch, another negative code when req cannot be signed at all.
 * ret_sts (may be NULL) receives the string to sign whenever it could be built, for the
 * StringToSign element of a SignatureDoesNotMatch body.
 */
int osssign_check(const struct osssign_req *req, const struct osssign_auth *auth,
                  const char *secret, char *ret_sts, size_t len, struct otsync_err *err) OTSYNC_WUR;

/*
 * Percent-encoding (oss.md 1.6): RFC 3986 unreserved bytes stay, '/' stays if keep_slash, every
 * other byte becomes %XX in upper-case hex, so ' ' is %20 and '+' is %2B. osssign_encode_key is
 * the path form of a key (keep_slash). osssign_uri_decode undoes any escaping, %2F included,
 * and '+' as a space only if plus_space; it refuses bad escapes and %00. 0 or -OTSYNC_EINVAL.
 */
int osssign_uri_encode(const char *s, size_t slen, bool keep_slash, char *ret_buf,
                       size_t len) OTSYNC_WUR;
int osssign_encode_key(const char *key, char *ret_buf, size_t len) OTSYNC_WUR;
int osssign_uri_decode(const char *s, size_t slen, bool plus_space, char *ret_buf,
                       size_t len) OTSYNC_WUR;

/*
 * Dates: "Thu, 02 Jan 2025 03:04:05 GMT" (Date and V1 x-oss-date) and "20250102T030405Z" (V4
 * x-oss-date), English names whatever the locale. osssign_parse_date reads either form into
 * Unix seconds. 0 or -OTSYNC_EINVAL.
 */
int osssign_http_date(time_t t, char ret_date[OSSSIGN_HTTP_DATE_SIZE]) OTSYNC_WUR;
int osssign_iso_date(time_t t, char ret_date[OSSSIGN_ISO_DATE_SIZE]) OTSYNC_WUR;
int osssign_parse_date(const char *s, time_t *ret_t) OTSYNC_WUR;

#endif
