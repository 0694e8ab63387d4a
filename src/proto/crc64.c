/*
 * crc64.c - CRC-64/XZ ("crc64ecma" in OSS headers) and its combination.
 *
 * Update is table-driven, slicing by 8 bytes as src/core/crc.c does for CRC-32C, because a
 * writer checksums every byte it uploads. Combine works in GF(2)[x] modulo the polynomial: with
 * init equal to xorout, CRC(A||B) = CRC(A) * x^(8 * len(B)) + CRC(B), so it needs one
 * multiplication by a power of x, found by repeated squaring.
 */
#include <pthread.h>
#include <string.h>
#include "otsync/crc64.h"

#define POLY 0xc96c5795d7870f42ull
/* In the reflected form the coefficient of x^0 is the top bit and that of x^63 the bottom one. */
#define X0 (1ull << 63)

static uint64_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void
table_init(void)
{
    uint64_t c;
    int n, k;

    for (n = 0; n < 256; n++) {
        c = (uint64_t)n;
        for (k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[0][n] = c;
    }
    for (n = 0; n < 256; n++)
        for (k = 1; k < 8; k++)
            table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xff];
}

uint64_t
crc64ecma(uint64_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t c = ~crc, w;

    pthread_once(&table_once, table_init);
    while (len && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
        len--;
    }
    while (len >= 8) {
        memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        c ^= w;
        c = table[7][c & 0xff] ^ table[6][(c >> 8) & 0xff] ^ table[5][(c >> 16) & 0xff]
            ^ table[4][(c >> 24) & 0xff] ^ table[3][(c >> 32) & 0xff]
            ^ table[2][(c >> 40) & 0xff] ^ table[1][(c >> 48) & 0xff] ^ table[0][c >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
    return ~c;
}

/* a * b modulo the polynomial, both in the reflected form. */
static uint64_t
mulmod(uint64_t a, uint64_t b)
{
    uint64_t m = X0, prod = 0;

    while (a) {
        if (a & m) {
            prod ^= b;
            a ^= m;
        }
        m >>= 1;
        /* b *= x: in the reflected form a right shift, reduced when x^64 falls out */
        b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
    }
    return prod;
}

uint64_t
crc64ecma_combine(uint64_t crc1, uint64_t crc2, uint64_t len2)
{
    uint64_t power = X0 >> 8;   /* x^8: one byte's worth of shifting */
    uint64_t shift = X0;        /* x^0, grows to x^(8 * len2) */

    for (; len2; len2 >>= 1) {
        if (len2 & 1)
            shift = mulmod(power, shift);
        power = mulmod(power, power);
    }
    return mulmod(shift, crc1) ^ crc2;
}
