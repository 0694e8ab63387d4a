/*
 * otssign.h - Table Store's request and response signatures (tablestore.md 1.3, 1.4) and the
 * x-ots-contentmd5 value, for the client that signs and the emulator that recomputes.
 *
 * Owns: the strings to sign (which headers, in what form and order). Leaves to others: the
 * HMAC-SHA1, MD5 and base64 themselves (sign.h) and sending or reading the headers (net).
 * Headers are passed as the caller has them, any case and order, others than x-ots-* included:
 * only x-ots-* ones other than x-ots-signature are signed, names lower-cased, values trimmed
 * of surrounding spaces and tabs. Two x-ots-* headers of one name are refused (EINVAL): the
 * SDKs sign maps, so there is no telling which one they meant.
 *
 * Nothing here keeps state or allocates beyond the call; all of it may run in a callback.
 */
#ifndef OTSYNC_OTSSIGN_H
#define OTSYNC_OTSSIGN_H

#include <stddef.h>
#include "otsync/err.h"

/* Room for a signature: 28 base64 characters of an HMAC-SHA1, and the NUL. */
#define OTSSIGN_SIG_LEN 29
/* Room for x-ots-contentmd5: 24 base64 characters of an MD5, and the NUL. */
#define OTSSIGN_MD5_LEN 25

struct otssign_header {
    const char *name;
    const char *value;
};

/* Base64 MD5 of the exact body bytes into ret_md5 (md5_len >= OTSSIGN_MD5_LEN). 0 or negative. */
int otssign_content_md5(const void *body, size_t len, char *ret_md5, size_t md5_len,
                        struct otsync_err *err) OTSYNC_WUR;

/*
 * The request string to sign: path ("/PutRow") "\n" method "\n" "\n" then "name:value\n" per
 * signed header, sorted by name. *ret_str is new (free()). 0, -OTSYNC_EINVAL or -OTSYNC_ENOMEM.
 */
int otssign_request_string(const char *path, const char *method,
                           const struct otssign_header *hdrs, size_t count, char **ret_str,
                           struct otsync_err *err) OTSYNC_WUR;

/*
 * x-ots-signature for a request: base64 HMAC-SHA1 of the string above under the AccessKey
 * secret (borrowed; the secret of the STS credentials when using them), into ret_sig
 * (sig_len >= OTSSIGN_SIG_LEN). 0 or negative.
 */
int otssign_request(const char *secret, const char *path, const char *method,
                    const struct otssign_header *hdrs, size_t count, char *ret_sig,
                    size_t sig_len, struct otsync_err *err) OTSYNC_WUR;

/*
 * The emulator's check: recomputes the signature over the received headers and compares it
 * with their x-ots-signature. 0; -OTSYNC_EINVAL when x-ots-signature is missing (the service
 * answers 400 "Missing header"); -OTSYNC_EAUTH when it differs (403 "Signature mismatch.").
 */
int otssign_request_check(const char *secret, const char *path, const char *method,
                          const struct otssign_header *hdrs, size_t count,
                          struct otsync_err *err) OTSYNC_WUR;

/*
 * The response string to sign: "name:value\n" per signed header, sorted, then the path with no
 * newline after it. *ret_str is new (free()). 0, -OTSYNC_EINVAL or -OTSYNC_ENOMEM.
 */
int otssign_response_string(const char *path, const struct otssign_header *hdrs, size_t count,
                            char **ret_str, struct otsync_err *err) OTSYNC_WUR;

/* The response signature alone, into ret_sig (sig_len >= OTSSIGN_SIG_LEN). 0 or negative. */
int otssign_response(const char *secret, const char *path, const struct otssign_header *hdrs,
                     size_t count, char *ret_sig, size_t sig_len,
                     struct otsync_err *err) OTSYNC_WUR;

/* The emulator's `authorization` value, "OTS <access_key_id>:<signature>", into ret_auth. */
int otssign_response_authorization(const char *access_key_id, const char *secret,
                                   const char *path, const struct otssign_header *hdrs,
                                   size_t count, char *ret_auth, size_t auth_len,
                                   struct otsync_err *err) OTSYNC_WUR;

/*
 * The client's check of a response's `authorization` value against its headers. With
 * access_key_id NULL only the ":<signature>" tail is compared (as JAVA does), else the whole
 * value (as PY does). 0 or -OTSYNC_EAUTH (also for a missing or malformed value).
 */
int otssign_response_check(const char *access_key_id, const char *secret, const char *path,
                           const struct otssign_header *hdrs, size_t count,
                           const char *authorization, struct otsync_err *err) OTSYNC_WUR;

#endif
