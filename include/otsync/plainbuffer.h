/*
 * plainbuffer.h - Table Store's PlainBuffer row codec (shared/protocols/tablestore.md section 3):
 * the rows inside the protobuf `bytes` fields marked PB, and the bare variants of filters and
 * partition bounds.
 *
 * Owns: the CRC-8, cell and row checksums, the encoder and the decoder. Leaves to others: the
 * protobuf around the rows (tablestore.proto) and what a row means for a table (key column
 * count, names, INF_MIN only in range bounds, size limits): callers check that against the
 * schema they hold.
 *
 * Decoding is zero-copy: names and STRING/BINARY values of a decoded row point into the input
 * buffer, which must outlive the rows. Nothing is NUL-terminated and STRING bytes are not
 * checked for UTF-8. Neither side keeps state between calls, so both are safe from callbacks.
 */
#ifndef OTSYNC_PLAINBUFFER_H
#define OTSYNC_PLAINBUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "otsync/err.h"

/* Variant type bytes (section 3.1). */
enum pb_type {
    PB_INTEGER = 0x00,
    PB_DOUBLE = 0x01,
    PB_BOOLEAN = 0x02,
    PB_STRING = 0x03,
    PB_BINARY = 0x07,
    PB_INF_MIN = 0x09,          /* key only, range bounds */
    PB_INF_MAX = 0x0a,          /* key only, range bounds */
    PB_AUTO_INCREMENT = 0x0b,   /* key only, placeholder in writes */
};

/* Cell operation codes (the CELL_TYPE byte); PB_OP_PUT is a cell without one. */
enum pb_op {
    PB_OP_PUT = 0x00,
    PB_OP_DELETE_ALL = 0x01,    /* no value, no timestamp */
    PB_OP_DELETE_ONE = 0x03,    /* timestamp, no value */
    PB_OP_INCREMENT = 0x04,     /* INTEGER value */
};

struct pb_value {
    enum pb_type type;
    union {
        int64_t i;                                  /* PB_INTEGER */
        double d;                                   /* PB_DOUBLE */
        bool b;                                     /* PB_BOOLEAN */
        struct {
            const unsigned char *ptr;
            uint32_t len;
        } bytes;                                    /* PB_STRING (UTF-8) and PB_BINARY */
    } u;
};

struct pb_cell {
    const char *name;           /* borrowed, name_len bytes, not NUL-terminated */
    size_t name_len;
    bool has_value;
    struct pb_value value;
    bool has_ts;
    int64_t ts;                 /* milliseconds since the epoch, never negative */
    enum pb_op op;
};

/* The sequence-info extension of a stream record row (section 3.8). */
struct pb_seq {
    uint32_t epoch;
    int64_t ts_us;              /* microseconds */
    uint32_t row_index;
};

struct pb_row {
    const struct pb_cell *pk;   /* key cells, in key order: a value, no op, no timestamp */
    size_t pk_count;
    const struct pb_cell *attrs;
    size_t attr_count;
    bool deleted;               /* DELETE_ROW_MARKER */
    bool has_seq;
    struct pb_seq seq;
};

/* Rows filled by the decoder; the cells live in one array the rows point into. */
struct pb_rows {
    struct pb_row *rows;
    size_t count;
    struct pb_cell *cells;
    size_t cell_count;
};

/* A growable output buffer with a cap, so a runaway row fails instead of eating memory. */
struct pb_buf {
    unsigned char *data;
    size_t len;
    size_t alloc;
    size_t max;
};

/* CRC-8/SMBUS (poly 0x07, init 0, unreflected, no final XOR), continued from crc. */
uint8_t plainbuffer_crc8(uint8_t crc, const void *buf, size_t len);

/* The one-byte checksums the encoder writes and the decoder verifies (sections 3.4, 3.5). */
uint8_t plainbuffer_cell_checksum(const struct pb_cell *cell);
uint8_t plainbuffer_row_checksum(const struct pb_row *row);

/* Empties b; max caps its length in bytes (0: SIZE_MAX). */
void plainbuffer_buf_init(struct pb_buf *b, size_t max);
/* Frees what b holds and empties it again. */
void plainbuffer_buf_fini(struct pb_buf *b);

/*
 * Appends the header and then each row: count 1 makes a single-row field (PutRow row,
 * GetRange key, stream record), count > 1 a GetRange rows block, count 0 appends nothing
 * (the empty block). Writes exactly the row bytes, never padding. Rows are checked against
 * section 3.7 first: key cells carry a key-type value only; attribute cells a value of
 * INTEGER/DOUBLE/BOOLEAN/STRING/BINARY, or the shape their op demands (delete-one: timestamp,
 * no value; delete-all: neither; increment: INTEGER, no timestamp). Borrows rows.
 * 0, -OTSYNC_EINVAL (a bad row, or the output would pass b's cap) or -OTSYNC_ENOMEM; on
 * failure b is unchanged.
 */
int plainbuffer_encode_rows(struct pb_buf *b, const struct pb_row *rows, size_t count,
                            struct otsync_err *err) OTSYNC_WUR;

/* Appends one bare variant (section 3.9: type byte + payload, no length, no checksum).
 * 0, -OTSYNC_EINVAL or -OTSYNC_ENOMEM. */
int plainbuffer_encode_value(struct pb_buf *b, const struct pb_value *v,
                             struct otsync_err *err) OTSYNC_WUR;

/*
 * Decodes a field of several rows: the header once, then rows until the end (GetRange rows).
 * An empty buffer, or a header alone, holds no rows. Trailing 0x00 bytes after
 * the last row are ignored (the JS SDK pads). Checksums are verified. On success fills
 * *ret_rows (free with plainbuffer_rows_fini; pointers go into buf, see above); on failure
 * *ret_rows is empty and err names the byte offset and the fault. 0, -OTSYNC_EPROTO (malformed),
 * -OTSYNC_ECORRUPT (checksum mismatch) or -OTSYNC_ENOMEM.
 */
int plainbuffer_decode_rows(const void *buf, size_t len, struct pb_rows *ret_rows,
                            struct otsync_err *err) OTSYNC_WUR;

/*
 * Same for a single-row field (keys, PutRow/UpdateRow/DeleteRow rows, stream records): an
 * empty buffer gives no row (GetRow of a missing row); otherwise exactly one row must follow
 * the header, then only 0x00 bytes.
 */
int plainbuffer_decode_row(const void *buf, size_t len, struct pb_rows *ret_rows,
                           struct otsync_err *err) OTSYNC_WUR;

/* Frees what the decoder allocated and empties rows; an emptied pb_rows is safe to pass. */
void plainbuffer_rows_fini(struct pb_rows *rows);

/*
 * Decodes one bare variant that must fill buf exactly (filter column_value, PartitionRange),
 * of any type in enum pb_type. STRING/BINARY point into buf. 0 or -OTSYNC_EPROTO.
 */
int plainbuffer_decode_value(const void *buf, size_t len, struct pb_value *ret_v,
                             struct otsync_err *err) OTSYNC_WUR;

#endif
