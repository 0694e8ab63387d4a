/*
 * sign.c - thin wrappers on OpenSSL's HMAC, digests and base64, so each service names what it
 * computes instead of repeating EVP calls.
 */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "otsync/sign.h"

static int
hmac(const EVP_MD *md, const void *key, size_t key_len, const void *msg, size_t len,
     unsigned char *out, unsigned int want)
{
    unsigned int n = 0;

    if (!HMAC(md, key, (int)key_len, msg, len, out, &n) || n != want)
        return -1;
    return 0;
}

int
sign_hmac_sha1(const void *key, size_t key_len, const void *msg, size_t len,
               unsigned char out[SIGN_SHA1_LEN])
{
    return hmac(EVP_sha1(), key, key_len, msg, len, out, SIGN_SHA1_LEN);
}

int
sign_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                 unsigned char out[SIGN_SHA256_LEN])
{
    return hmac(EVP_sha256(), key, key_len, msg, len, out, SIGN_SHA256_LEN);
}

static int
digest(const EVP_MD *md, const void *msg, size_t len, unsigned char *out, unsigned int want)
{
    unsigned int n = 0;

    if (!EVP_Digest(msg, len, out, &n, md, NULL) || n != want)
        return -1;
    return 0;
}

int
sign_sha256(const void *msg, size_t len, unsigned char out[SIGN_SHA256_LEN])
{
    return digest(EVP_sha256(), msg, len, out, SIGN_SHA256_LEN);
}

int
sign_md5(const void *msg, size_t len, unsigned char out[SIGN_MD5_LEN])
{
    return digest(EVP_md5(), msg, len, out, SIGN_MD5_LEN);
}

size_t
sign_base64(const void *in, size_t len, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

long
sign_unbase64(const char *in, size_t len, unsigned char *out)
{
    int n;

    if (len % 4)
        return -1;
    if (len == 0)
        return 0;
    n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes: take them back off */
    if (in[len - 1] == '=')
        n--;
    if (in[len - 2] == '=')
        n--;
    return n;
}

char *
sign_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}
