/*
 * crc64.h - CRC-64 as OSS computes it for x-oss-hash-crc64ecma: the catalogue's CRC-64/XZ
 * (reflected polynomial 0xc96c5795d7870f42, init and xorout all ones), not CRC-64/ECMA-182
 * despite the header's name. The decimal wire form is the caller's business.
 */
#ifndef OTSYNC_CRC64_H
#define OTSYNC_CRC64_H

#include <stddef.h>
#include <stdint.h>

/*
 * Continues a CRC over len bytes: start with crc = 0 and feed the previous finished value to go
 * on, so crc64ecma(crc64ecma(0, a, na), b, nb) is the CRC of a followed by b.
 * crc64ecma(0, "123456789", 9) == 0x995dc9bbdf1939fa; the empty input gives 0.
 * Thread-safe; the tables are built once on first use.
 */
uint64_t crc64ecma(uint64_t crc, const void *buf, size_t len);

/*
 * The CRC of A followed by B from crc1 = CRC(A), crc2 = CRC(B) and len2 = length of B, without
 * the data: how a multipart writer predicts the object's CRC from its parts' CRCs.
 * O(log len2); no tables.
 */
uint64_t crc64ecma_combine(uint64_t crc1, uint64_t crc2, uint64_t len2);

#endif
