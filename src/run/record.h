/*
 * record.h - typed records and the batches that carry them from a reader to a writer.
 *
 * Owns: the value types every plugin speaks (string, int64, double, bool, binary, null and
 * date as int64 milliseconds since the epoch), the batch with its own memory arena, and the
 * text form of a value. Leaves to others: how records are produced (readers), how they are
 * encoded at a destination (writers), and the queue between the two (the engine, main.c).
 *
 * A batch owns everything its records point to: strings and binaries are copied into the
 * batch's arena, so a reader may free its buffers once a setter returns, and a writer may
 * keep pointers into a batch until it acknowledges it. Private to src/run and src/plugins.
 */
#ifndef OTSYNC_RECORD_H
#define OTSYNC_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "otsync/err.h"

enum otsync_type {
    OTSYNC_TYPE_NULL = 0,   /* every value starts as null */
    OTSYNC_TYPE_STRING,     /* UTF-8 text, NUL-terminated in the arena; len excludes the NUL */
    OTSYNC_TYPE_INT,
    OTSYNC_TYPE_DOUBLE,
    OTSYNC_TYPE_BOOL,
    OTSYNC_TYPE_BINARY,     /* any bytes; a NUL follows them in the arena too */
    OTSYNC_TYPE_DATE,       /* milliseconds since 1970-01-01T00:00:00Z */
};

struct otsync_value {
    enum otsync_type type;
    bool has_ts;            /* the cell's own timestamp, where the source keeps one (Table
                             * Store); writers that can keep it do */
    int64_t ts;             /* milliseconds since the epoch */
    union {
        int64_t i;          /* INT */
        double d;           /* DOUBLE */
        bool b;             /* BOOL */
        int64_t date_ms;    /* DATE */
        struct {
            const char *ptr;
            size_t len;
        } bytes;            /* STRING, BINARY: points into the batch's arena */
    } u;
};

/* What a record is, where the source says (a change stream); a full read is all PUTs. */
enum otsync_op {
    OTSYNC_OP_NONE = 0,     /* the source does not say */
    OTSYNC_OP_PUT,          /* the row as it now is */
    OTSYNC_OP_UPDATE,       /* some of its columns changed */
    OTSYNC_OP_DELETE,       /* the row is gone */
};

struct otsync_record {
    struct otsync_value *cols;  /* in the batch's arena: stays put while the batch lives */
    size_t count;
    enum otsync_op op;
};

struct batch_chunk;

struct otsync_batch {
    struct otsync_record *recs;
    size_t count;               /* records in recs */
    size_t cap;
    size_t bytes;               /* sum of otsync_value_size() over every value set */
    struct batch_chunk *arena;  /* private to record.c */
    struct otsync_batch *next;  /* free for the queue that holds the batch */
};

/* Longest text otsync_value_text() writes into its buffer, NUL included. */
#define OTSYNC_VALUE_TEXT_MAX 64

/* Returns a new empty batch sized for about record_hint records, or NULL (out of memory). */
struct otsync_batch *otsync_batch_new(size_t record_hint);

/* Frees b and everything its records point to. NULL does nothing. */
void otsync_batch_free(struct otsync_batch *b);

/*
 * Appends a record of col_count null values. *ret_rec stays valid until the next
 * otsync_batch_add on b; its cols stay valid while b lives. Returns 0 or -OTSYNC_ENOMEM.
 */
int otsync_batch_add(struct otsync_batch *b, size_t col_count, struct otsync_record **ret_rec,
                     struct otsync_err *err) OTSYNC_WUR;

/*
 * Setters: v must be a value of a record of b, each set once (b->bytes counts every set).
 * The string and binary setters copy s into b's arena; they return 0 or -OTSYNC_ENOMEM.
 */
int otsync_value_set_string(struct otsync_batch *b, struct otsync_value *v, const char *s,
                            size_t len, struct otsync_err *err) OTSYNC_WUR;
int otsync_value_set_binary(struct otsync_batch *b, struct otsync_value *v, const void *p,
                            size_t len, struct otsync_err *err) OTSYNC_WUR;
void otsync_value_set_int(struct otsync_batch *b, struct otsync_value *v, int64_t i);
void otsync_value_set_double(struct otsync_batch *b, struct otsync_value *v, double d);
void otsync_value_set_bool(struct otsync_batch *b, struct otsync_value *v, bool on);
void otsync_value_set_date(struct otsync_batch *b, struct otsync_value *v, int64_t ms);

/*
 * Copies src (which may live anywhere, e.g. a reader's template) into v of batch b, with
 * its bytes. Returns 0 or -OTSYNC_ENOMEM.
 */
int otsync_value_copy(struct otsync_batch *b, struct otsync_value *v,
                      const struct otsync_value *src, struct otsync_err *err) OTSYNC_WUR;

/*
 * The size a value counts for in statistics and the byte-rate limit: the length of a string
 * or binary, 8 for numbers and dates, 1 for a bool, 0 for null.
 */
size_t otsync_value_size(const struct otsync_value *v);

/*
 * The value as text: a string or binary as its bytes; an int in decimal; a double in the
 * shortest form that reads back to the same double; "true"/"false"; a date as
 * "yyyy-MM-dd HH:mm:ss" in local time; null as "null". Returns a pointer either into the
 * value or into buf, and its length in *ret_len.
 */
const char *otsync_value_text(const struct otsync_value *v, char buf[static OTSYNC_VALUE_TEXT_MAX],
                              size_t *ret_len);

/* "string", "int", "double", "bool", "binary", "null", "date". */
const char *otsync_type_name(enum otsync_type t);

/* Longest reason otsync_value_convert writes, NUL included. */
#define OTSYNC_CONVERT_WHY_MAX 160

/*
 * Converts v (a value of batch b) to type `to` in place, keeping its timestamp: the
 * conversions DataX's columns allow. Null stays null. Strings become numbers, booleans
 * ("true"/"false", any case) and dates ("yyyy-MM-dd HH:mm:ss[.SSS]" or "yyyy-MM-dd", local
 * time) only when all of the text reads as one; doubles become ints only when integral and in
 * range; ints become bools only from 0 and 1; binaries become strings only when valid UTF-8;
 * anything becomes a string. Returns 0, -OTSYNC_EINVAL with why (a dirty record's reason,
 * quoting at most 40 bytes of the value) filled, or -OTSYNC_ENOMEM.
 */
int otsync_value_convert(struct otsync_batch *b, struct otsync_value *v, enum otsync_type to,
                         char why[static OTSYNC_CONVERT_WHY_MAX]);

#endif
