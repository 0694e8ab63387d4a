/*
 * odpssign.h - MaxCompute (ODPS) request signing, service API and tunnel alike
 * (shared/protocols/maxcompute-tunnel.md, sections 2 and 3): the V2 string to sign, the
 * "ODPS <id>:<base64 HMAC-SHA1>" Authorization value, the V4 key variant, and the emulator's
 * side (parse a raw query, recompute, compare).
 *
 * STS (2.3): sign with the temporary id and secret exactly as here, then send the token in a
 * header named ODPSSIGN_STS_HEADER; it is not signed, so adding it to a request's header list
 * before or after signing changes nothing.
 *
 * Owns: strings to sign and signatures. Leaves to others: building URLs, percent-encoding what
 * goes on the wire, sending, and the Date header's freshness (odpssign_date formats one).
 * Pure computation: every call is safe from any callback.
 */
#ifndef OTSYNC_ODPSSIGN_H
#define OTSYNC_ODPSSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "otsync/err.h"

#define ODPSSIGN_STS_HEADER "authorization-sts-token"
/* "Mon, 01 Jan 2024 00:00:00 GMT" and its NUL */
#define ODPSSIGN_DATE_LEN 30
/* Room for a V2 Authorization value: "ODPS " id ":" 28 base64 characters, NUL. */
#define ODPSSIGN_V2_LEN(key_id_len) ((key_id_len) + 35)

/* Flag for odpssign_string_to_sign: the Go SDK's variant, which leaves x-odps-* query
 * parameters out of the header lines (they stay in the resource). */
#define ODPSSIGN_NO_QUERY_HEADERS 1u

/* One query parameter, decoded. value NULL is a bare flag ("?uploads"); NULL and "" sign the
 * same way, as the name alone. */
struct odpssign_param {
    const char *name;
    const char *value;
};

/* One request header as sent; names are matched case-insensitively. */
struct odpssign_header {
    const char *name;
    const char *value;
};

/* Everything of a request that is signed (all borrowed). */
struct odpssign_req {
    const char *method;                 /* upper case, as sent */
    const char *path;                   /* percent-decoded and relative to the endpoint: "/api"
                                         * of a service endpoint removed */
    const struct odpssign_param *params;
    size_t param_count;
    const struct odpssign_header *headers;
    size_t header_count;
};

/*
 * The V2 string to sign (doc 2.2): method, Content-MD5, Content-Type, Date (the first header of
 * each name; empty when absent), the x-odps-* headers and x-odps-* query parameters as
 * lower-cased "name:value" lines sorted by name, then the path and the parameters sorted by
 * name. flags: 0 or ODPSSIGN_NO_QUERY_HEADERS. Returns 0 and a new string in *ret_str (free()
 * it), or -OTSYNC_EINVAL / -OTSYNC_ENOMEM.
 */
int odpssign_string_to_sign(const struct odpssign_req *req, unsigned flags, char **ret_str,
                            struct otsync_err *err) OTSYNC_WUR;

/*
 * The V2 Authorization value "ODPS <key_id>:<signature>" into ret_auth (len bytes, at least
 * ODPSSIGN_V2_LEN(strlen(key_id))). 0, or -OTSYNC_EINVAL when it does not fit.
 */
int odpssign_v2(const struct odpssign_req *req, const char *key_id, const char *secret,
                char *ret_auth, size_t len, struct otsync_err *err) OTSYNC_WUR;

/*
 * The V4 variant (doc 2.4): same string, key derived from the secret, the UTC date yyyymmdd
 * and the region; "ODPS <key_id>/<yyyymmdd>/<region>/odps/aliyun_v4_request:<signature>".
 */
int odpssign_v4(const struct odpssign_req *req, const char *key_id, const char *secret,
                const char *region, const char *yyyymmdd, char *ret_auth, size_t len,
                struct otsync_err *err) OTSYNC_WUR;

/* The secret of key_id (borrowed), or NULL when the id is unknown. */
typedef const char *(*odpssign_secret_cb)(void *arg, const char *key_id);

/*
 * Emulator side: checks an Authorization header value against req by recomputing it, V2 or
 * V4, with and without x-odps-* query parameters among the header lines. 0 when it matches;
 * -OTSYNC_EAUTH (message names the key id and the string to sign) when it is malformed, the
 * key id unknown or the signature wrong.
 */
int odpssign_verify(const struct odpssign_req *req, const char *authorization,
                    odpssign_secret_cb secret, void *arg, struct otsync_err *err) OTSYNC_WUR;

/*
 * Splits a raw query string (after '?', not including it) at '&' and '=', percent-decoding
 * names and values with '+' as a space, as form-encoded queries are. "flag" gives a NULL value,
 * "flag=" an empty one; empty pieces ("a&&b") are skipped. Returns 0 with *ret_params (new, one
 * allocation holding the strings too: free() it) and *ret_count, or -OTSYNC_EINVAL for an
 * encoded NUL (%00), -OTSYNC_ENOMEM.
 */
int odpssign_query_parse(const char *query, struct odpssign_param **ret_params,
                         size_t *ret_count, struct otsync_err *err) OTSYNC_WUR;

/*
 * Percent-decodes len bytes of in into ret_out (room for len + 1 bytes; NUL-terminated); '+'
 * becomes a space when form is true (queries) and stays otherwise (paths). A '%' not followed
 * by two hex digits is kept as is. Returns the decoded length, or -1 for an encoded NUL.
 */
long odpssign_unescape(const char *in, size_t len, bool form, char *ret_out);

/* The Date header for t: RFC 1123 in GMT with English names, whatever the locale. ret_buf
 * holds len bytes, at least ODPSSIGN_DATE_LEN. 0 or -OTSYNC_EINVAL. */
int odpssign_date(time_t t, char *ret_buf, size_t len, struct otsync_err *err) OTSYNC_WUR;

#endif
