/*
 * crc.h - CRC-32C (Castagnoli), the checksum of journal records and of MaxCompute's tunnel
 * record stream. No Debian library we may use exports it (zlib's crc32 is the other
 * polynomial; OpenSSL has none), so it lives here: the SSE4.2 instruction where the CPU has
 * it, else table-driven.
 */
#ifndef OTSYNC_CRC_H
#define OTSYNC_CRC_H

#include <stddef.h>
#include <stdint.h>

/*
 * Continues a CRC-32C over len bytes: start with crc = 0, feed the previous result to go on.
 * crc32c(0, "123456789", 9) == 0xe3069283.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The same by tables only, whatever the CPU (for tests of the fast path against it). */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
