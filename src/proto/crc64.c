/*
 * crc64.c - CRC-64/XZ ("crc64ecma" in OSS headers) and its combination.
 *
 * Update is table-driven, slicing by 8 bytes as src/core/crc.c does for CRC-32C, because a
 * writer checksums every byte it uploads. Combine works in GF(2)[x] modulo the polynomial: with
 * init equal to xorout, CRC(A||B) = CRC(A) * x^(8 * len(B)) + CRC(B), so it needs one
 * multiplication by a power of x, found by repeated squaring.
 *
 * On x86-64 with PCLMULQDQ, long buffers are folded 16 bytes at a time with carry-less
 * multiplication instead (several times the table's speed: an export checksums every byte
 * twice, once here and once in the emulator). The fold keeps a 128-bit remainder A*x^64 + B
 * (A the earlier word); the next 16 bytes D1 D2 make it A*x^192 + B*x^128 + D1*x^64 + D2, and
 * x^192, x^128 are replaced by their remainders mod P, so each step is two multiplications of
 * 64-bit words. Words are bit-reflected (bit j is the coefficient of x^(63-j)), and a
 * carry-less product of two reflected words comes out one place short, hence the constants
 * x^191 and x^127. The last remainder goes through the table as 16 more bytes.
 */
#include <pthread.h>
#include <string.h>
#if defined(__x86_64__)
#include <wmmintrin.h>
#endif
#include "otsync/crc64.h"

#define POLY 0xc96c5795d7870f42ull
/* In the reflected form the coefficient of x^0 is the top bit and that of x^63 the bottom one. */
#define X0 (1ull << 63)

static uint64_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static uint64_t fold_a, fold_b;     /* x^191 and x^127 mod P, reflected */
static int use_clmul;

static uint64_t mulmod(uint64_t a, uint64_t b);

/* x^n mod P, reflected. */
static uint64_t
xpow(unsigned n)
{
    uint64_t power = X0 >> 1, r = X0;   /* x^1, x^0 */

    for (; n; n >>= 1) {
        if (n & 1)
            r = mulmod(r, power);
        power = mulmod(power, power);
    }
    return r;
}

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
    fold_a = xpow(191);
    fold_b = xpow(127);
#if defined(__x86_64__)
    use_clmul = __builtin_cpu_supports("pclmul");
#endif
}

/* The register c after the 8 bytes of w (little-endian), by the tables. */
static uint64_t
word(uint64_t c, uint64_t w)
{
    c ^= w;
    return table[7][c & 0xff] ^ table[6][(c >> 8) & 0xff] ^ table[5][(c >> 16) & 0xff]
           ^ table[4][(c >> 24) & 0xff] ^ table[3][(c >> 32) & 0xff]
           ^ table[2][(c >> 40) & 0xff] ^ table[1][(c >> 48) & 0xff] ^ table[0][c >> 56];
}

#if defined(__x86_64__)
/* The register c after the len bytes at p (len a multiple of 16, at least 32). */
__attribute__((target("pclmul")))
static uint64_t
fold(uint64_t c, const unsigned char *p, size_t len)
{
    const __m128i k = _mm_set_epi64x((long long)fold_b, (long long)fold_a);
    __m128i s = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi64_si128((long long)c));

    for (p += 16, len -= 16; len; p += 16, len -= 16)
        s = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(s, k, 0x00),
                                        _mm_clmulepi64_si128(s, k, 0x11)),
                          _mm_loadu_si128((const __m128i *)p));
    c = word(0, (uint64_t)_mm_cvtsi128_si64(s));
    return word(c, (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s)));
}
#endif

uint64_t
crc64ecma(uint64_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t c = ~crc, w;

    pthread_once(&table_once, table_init);
#if defined(__x86_64__)
    if (use_clmul && len >= 64) {
        c = fold(c, p, len & ~(size_t)15);
        p += len & ~(size_t)15;
        len &= 15;
    }
#endif
    while (len && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
        len--;
    }
    while (len >= 8) {
        memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        c = word(c, w);
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
