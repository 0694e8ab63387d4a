/*
 * tunnel.h - the MaxCompute tunnel record stream: the body of one block PUT
 * (shared/protocols/maxcompute-tunnel.md, section 6). An encoder for the odps writer, a
 * checking decoder for the emulator, and the optional deflate (zlib stream) wrapping.
 *
 * A block is a flat run of protobuf fields, not a message: each record is its non-null
 * columns as fields 1..ncols (field = column position + 1, ascending), then END_RECORD and
 * the record's CRC-32C; the stream ends with META_COUNT (records, zigzag) and META_CHECKSUM
 * (CRC-32C over the record CRCs). Nulls are absent. Complex types (array, map, struct) are not
 * supported; the OTS channels never write them.
 *
 * Owns: encoding and checking bytes. Leaves to others: sessions, HTTP, block cutting policy
 * (the writer watches tunnel_writer_data's length), mapping source values to column types.
 * Nothing here blocks or touches the loop; every call is safe from any callback.
 */
#ifndef OTSYNC_TUNNEL_H
#define OTSYNC_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "otsync/err.h"

/* Field numbers of the stream's markers (doc 6.11). */
#define TUNNEL_FIELD_END_RECORD 33553408u
#define TUNNEL_FIELD_META_COUNT 33554430u
#define TUNNEL_FIELD_META_CHECKSUM 33554431u

/* More columns than a table can have; keeps field numbers clear of the markers. */
#define TUNNEL_COLUMNS_MAX 65536u
/* Default cap of one encoded block: DataX's largest blockSizeInMB. */
#define TUNNEL_BLOCK_MAX_DEFAULT ((size_t)512 << 20)

enum tunnel_type {
    TUNNEL_TYPE_BIGINT,
    TUNNEL_TYPE_INT,
    TUNNEL_TYPE_SMALLINT,
    TUNNEL_TYPE_TINYINT,
    TUNNEL_TYPE_DOUBLE,
    TUNNEL_TYPE_FLOAT,
    TUNNEL_TYPE_BOOLEAN,
    TUNNEL_TYPE_STRING,
    TUNNEL_TYPE_VARCHAR,
    TUNNEL_TYPE_CHAR,
    TUNNEL_TYPE_BINARY,
    TUNNEL_TYPE_JSON,
    TUNNEL_TYPE_DECIMAL,
    TUNNEL_TYPE_DATETIME,           /* epoch milliseconds, UTC */
    TUNNEL_TYPE_DATE,               /* days since 1970-01-01 */
    TUNNEL_TYPE_INTERVAL_YEAR_MONTH,    /* total months */
    TUNNEL_TYPE_TIMESTAMP,
    TUNNEL_TYPE_TIMESTAMP_NTZ,
    TUNNEL_TYPE_INTERVAL_DAY_TIME,
    TUNNEL_TYPE_COUNT_
};

/* What a value holds; the zero value is null, so a zeroed array is an all-null record. */
enum tunnel_kind {
    TUNNEL_VAL_NULL = 0,
    TUNNEL_VAL_INT,         /* u.i: BIGINT, INT, SMALLINT, TINYINT, DATETIME, DATE, INTERVAL_YM */
    TUNNEL_VAL_DOUBLE,      /* u.d: DOUBLE */
    TUNNEL_VAL_FLOAT,       /* u.f: FLOAT */
    TUNNEL_VAL_BOOL,        /* u.b: BOOLEAN */
    TUNNEL_VAL_BYTES,       /* u.s: STRING, VARCHAR, CHAR, BINARY, JSON, DECIMAL (as text) */
    TUNNEL_VAL_TIME,        /* u.t: TIMESTAMP, TIMESTAMP_NTZ, INTERVAL_DAY_TIME */
};

/*
 * One column value. Bytes are borrowed: the encoder copies them into the block; the decoder
 * points them into the input buffer (not NUL-terminated), so decoded values live only as long
 * as that buffer. DECIMAL is its text: the encoder wants plain notation ("-12.30"), the
 * decoder also accepts the exponent form PyODPS may send ("1E+2").
 */
struct tunnel_value {
    enum tunnel_kind kind;
    union {
        int64_t i;
        double d;
        float f;
        bool b;
        struct {
            const char *ptr;
            size_t len;
        } s;
        struct {
            int64_t sec;
            int32_t nanos;
        } t;
    } u;
};

struct tunnel_column {
    const char *name;           /* for error messages only; may be NULL */
    enum tunnel_type type;
};

/* The session's Schema.columns in order (partition columns are never written). Borrowed by
 * writers and readers, which it must outlive. */
struct tunnel_schema {
    const struct tunnel_column *columns;
    size_t count;
    size_t max_field_len;       /* the session's MaxFieldSize for STRING/BINARY; 0 = no limit */
};

/*
 * Parses a schema type name as the session JSON spells it, case-insensitively, with or without
 * parameters ("bigint", "decimal(10,2)", "varchar(10)"). Parameters are checked for shape but
 * not kept. 0, or -OTSYNC_EINVAL for unknown and unsupported (array, map, struct) types.
 */
int tunnel_type_parse(const char *text, enum tunnel_type *ret_type,
                      struct otsync_err *err) OTSYNC_WUR;

/* Static lower-case name of a type ("bigint"); "?" for a value out of range. */
const char *tunnel_type_name(enum tunnel_type type);

/* The value kind a column of this type takes. */
enum tunnel_kind tunnel_type_kind(enum tunnel_type type);

/*
 * Encoder: one block at a time in a growable buffer of the caller's struct (fields private).
 * Appending is all or nothing: a record that fails leaves the block as it was.
 */
struct tunnel_writer {
    const struct tunnel_schema *schema;
    unsigned char *buf;
    size_t len, cap, max_len;
    uint64_t count;
    uint32_t crc;               /* stream checksum so far */
    bool finished;
};

/* Checks the schema and starts an empty block; max_len caps the encoded block (0 = default). */
int tunnel_writer_init(struct tunnel_writer *w, const struct tunnel_schema *schema,
                       size_t max_len, struct otsync_err *err) OTSYNC_WUR;

/*
 * Encodes one record: values[i] is column i; count may be short of the schema (the tail is
 * null) but not longer. Each value's kind must be its column's kind or null. Integers must fit
 * the column (BIGINT excludes INT64_MIN, which Java SDKs refuse). Returns 0; -OTSYNC_EINVAL
 * for a bad value, -OTSYNC_ENOMEM when memory or the block's cap runs out (cut the block).
 */
int tunnel_writer_append(struct tunnel_writer *w, const struct tunnel_value *values,
                         size_t count, struct otsync_err *err) OTSYNC_WUR;

/* Appends the trailer; afterwards the block is complete and only reset or fini may follow. */
int tunnel_writer_finish(struct tunnel_writer *w, struct otsync_err *err) OTSYNC_WUR;

/* The encoded bytes so far (borrowed until the next writer call) and their length. */
const unsigned char *tunnel_writer_data(const struct tunnel_writer *w, size_t *ret_len);

/* Records appended to the current block. */
uint64_t tunnel_writer_count(const struct tunnel_writer *w);

/* Starts the next block, keeping the buffer's memory. */
void tunnel_writer_reset(struct tunnel_writer *w);

/* Frees the buffer. */
void tunnel_writer_fini(struct tunnel_writer *w);

/*
 * Decoder: walks one raw (inflated) block, checking every tag, wire type, field order, value,
 * length, record CRC, the count and the stream checksum, and that nothing follows the trailer.
 * Never reads outside [buf, buf + len). Errors name the byte offset; -OTSYNC_EPROTO means
 * malformed (the service's MalformedDataStream), -OTSYNC_ECORRUPT a checksum or count that
 * does not match (CorruptedDataStream).
 */
struct tunnel_reader {
    const struct tunnel_schema *schema;
    const unsigned char *buf;
    size_t len, off;
    uint64_t count;             /* records returned so far */
    uint32_t crc;
    int state;                  /* private; negative: the code it failed with */
};

/* Starts reading buf (borrowed; decoded bytes point into it). */
int tunnel_reader_init(struct tunnel_reader *r, const struct tunnel_schema *schema,
                       const void *buf, size_t len, struct otsync_err *err) OTSYNC_WUR;

/*
 * Decodes the next record into ret_values (schema->count entries; absent columns are null).
 * Returns 1 with a record, 0 once the trailer checked out (and at every later call), or a
 * negative code (and the same code at every later call).
 */
int tunnel_reader_next(struct tunnel_reader *r, struct tunnel_value *ret_values,
                       struct otsync_err *err) OTSYNC_WUR;

/* One decoded record (values borrowed for the call). A negative return stops the decoding. */
typedef int (*tunnel_record_cb)(void *arg, uint64_t index, const struct tunnel_value *values,
                                size_t count);

/* Checks a whole block, calling cb (may be NULL) per record; *ret_count (may be NULL) gets
 * the record count. 0 or a negative code: the reader's, ENOMEM, or cb's. */
int tunnel_decode(const struct tunnel_schema *schema, const void *buf, size_t len,
                  tunnel_record_cb cb, void *arg, uint64_t *ret_count,
                  struct otsync_err *err) OTSYNC_WUR;

/*
 * Content-Encoding: deflate, which is a zlib stream (RFC 1950), not raw deflate. Both return
 * new malloc'd bytes in *ret_out (free() them). level: 1 is what the SDKs send. tunnel_inflate
 * refuses output past max_len (0 = TUNNEL_BLOCK_MAX_DEFAULT), a truncated stream and bytes
 * after its end, naming the input offset (-OTSYNC_EPROTO).
 */
int tunnel_deflate(const void *in, size_t len, int level, unsigned char **ret_out,
                   size_t *ret_len, struct otsync_err *err) OTSYNC_WUR;
int tunnel_inflate(const void *in, size_t len, size_t max_len, unsigned char **ret_out,
                   size_t *ret_len, struct otsync_err *err) OTSYNC_WUR;

#endif
