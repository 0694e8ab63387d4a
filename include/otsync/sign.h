/*
 * sign.h - the digests and encodings every cloud service's signature is made of, on OpenSSL:
 * HMAC-SHA1 (Table Store, OSS V1, MaxCompute), HMAC-SHA256 (OSS V4), MD5 (Content-MD5) and
 * base64. The services build their strings-to-sign; this only computes.
 */
#ifndef OTSYNC_SIGN_H
#define OTSYNC_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SIGN_SHA1_LEN 20
#define SIGN_SHA256_LEN 32
#define SIGN_MD5_LEN 16

/* HMAC of msg under key into out (SIGN_SHA1_LEN / SIGN_SHA256_LEN bytes). 0 or -1. */
int sign_hmac_sha1(const void *key, size_t key_len, const void *msg, size_t len,
                   unsigned char out[SIGN_SHA1_LEN]);
int sign_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                     unsigned char out[SIGN_SHA256_LEN]);
/* SHA-256 and MD5 digests. 0 or -1. */
int sign_sha256(const void *msg, size_t len, unsigned char out[SIGN_SHA256_LEN]);
int sign_md5(const void *msg, size_t len, unsigned char out[SIGN_MD5_LEN]);

/* Base64 of len bytes into out, NUL-terminated; out holds 4 * ((len + 2) / 3) + 1 bytes.
 * Returns the length written. */
size_t sign_base64(const void *in, size_t len, char *out);

/* Decodes base64 (padding required, no whitespace) into out (at least 3 * (len / 4) bytes).
 * Returns the decoded length, or -1 for malformed input. */
long sign_unbase64(const char *in, size_t len, unsigned char *out);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). Returns out. */
char *sign_hex(const unsigned char *in, size_t len, char *out);

#endif
