/*
 * ossformat.h - what the oss writer and reader share, private to src/plugins: the names the
 * writer gives its objects, the text of a record (csv per RFC 4180, or plain text), the parser
 * that reads it back, and dates in DataX's pattern letters.
 *
 * Owns: bytes and text only. Leaves to others: OSS (ossclient.h), encodings and compression
 * (the plugins, with iconv and zlib), records and batches (record.h).
 *
 * Object names (the writer's scheme, documented in otsync-run(1)):
 *
 *     <object><sep>part-<number><suffix>
 *
 * where sep is "" when object is empty or ends in '/', else "."; number is decimal, zero-padded
 * to 5 digits, with no other leading zeros; suffix is as configured, with a '.' put in front
 * when it lacks one. So object "exports/20181015/t1" with suffix "csv" gives
 * "exports/20181015/t1.part-00001.csv", ".part-00002.csv"...; "abc" never names "abc123".
 */
#ifndef OTSYNC_OSSFORMAT_H
#define OTSYNC_OSSFORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "otsync/err.h"
#include "../run/record.h"

/* A growable byte buffer; a NUL always follows the bytes. */
struct ossbuf {
    char *p;
    size_t len, cap;
};

/* Room for at least cap bytes (and the NUL) without moving again. 0 or -OTSYNC_ENOMEM. */
int ossbuf_reserve(struct ossbuf *b, size_t cap) OTSYNC_WUR;

/* Appends; 0 or -OTSYNC_ENOMEM. */
int ossbuf_add(struct ossbuf *b, const void *s, size_t len) OTSYNC_WUR;
void ossbuf_fini(struct ossbuf *b);

/* The suffix as the scheme uses it: "" stays "", "csv" becomes ".csv". Into buf (len). */
void ossname_suffix(const char *suffix, char *ret_buf, size_t len);
/* The key of part number (>= 1) under object with a normalised suffix. 0 or -OTSYNC_EINVAL
 * (does not fit). */
int ossname_make(const char *object, uint64_t number, const char *suffix, char *ret_key,
                 size_t len) OTSYNC_WUR;
/* True when key is a name of the scheme for object and suffix (normalised), with its number. */
bool ossname_parse(const char *object, const char *suffix, const char *key,
                   uint64_t *ret_number);

/*
 * Dates in DataX's (Java's) pattern letters: yyyy MM dd HH mm ss SSS, everything else not a
 * letter literal; local time. ossdate_check returns 0 or -1 with why in msg.
 */
int ossdate_check(const char *fmt, char *msg, size_t msg_len);
/* Formats ms into buf; returns the length, or -1 when it does not fit. */
int ossdate_format(int64_t ms, const char *fmt, char *buf, size_t len);
/* Parses exactly s[0..len) by fmt; 0 with *ret_ms, or -1 (no match, or no such date). */
int ossdate_parse(const char *s, size_t len, const char *fmt, int64_t *ret_ms);

/* How the writer turns a record into text. Strings are borrowed. */
struct ossfmt_out {
    bool csv;                   /* RFC 4180 quoting; false: text, no quoting at all */
    const char *delim;          /* csv: one byte */
    const char *line;           /* the record separator */
    const char *null_format;    /* written, unquoted, for a null */
    const char *date_format;
};

/*
 * Appends rec as one line of text in UTF-8 (binary as base64, dates by date_format, doubles
 * in their shortest exact form). In csv a value is quoted when it holds the delimiter, a
 * quote, CR or LF or the first byte of the line separator, is empty, equals null_format, or
 * begins or ends with a space or tab; a quote inside is doubled. 0 or -OTSYNC_ENOMEM.
 */
int ossfmt_record(const struct ossfmt_out *o, const struct otsync_record *rec, struct ossbuf *b)
    OTSYNC_WUR;
/* The same for a header: each string as a string value. */
int ossfmt_strings(const struct ossfmt_out *o, const char *const *s, size_t count,
                   struct ossbuf *b) OTSYNC_WUR;

/* One field of a parsed record: bytes at p, and whether it was quoted (so never a null). */
struct ossfmt_field {
    const char *p;
    size_t len;
    bool quoted;
};

/* A record is complete: fields are borrowed for the call. Non-zero stops the parse. */
typedef int (*ossfmt_record_cb)(void *arg, const struct ossfmt_field *f, size_t count);

/*
 * The reader's push parser: feed it text in any pieces, then once with eof. csv: RFC 4180
 * (quoted fields with doubled quotes, separators and line ends inside quotes, CRLF or LF);
 * text: lines split at LF (a CR before it dropped), fields at every delimiter, no quoting.
 * Empty lines are skipped. A record over OSSFMT_MAX_RECORD bytes is an error.
 */
#define OSSFMT_MAX_RECORD (64u << 20)

struct ossfmt_parser {
    bool csv;
    char *delim;                /* owned copy */
    size_t delim_len;
    int state;
    struct ossbuf text;         /* the current record's field bytes */
    struct ossfmt_field *fields;    /* p is an offset into text until the record ends */
    size_t count, cap;
    bool quoted;                /* the current field */
    uint64_t line;              /* 1-based line of the record being read, for messages */
};

int ossfmt_parser_init(struct ossfmt_parser *p, bool csv, const char *delim) OTSYNC_WUR;
void ossfmt_parser_fini(struct ossfmt_parser *p);
/* Returns 0, the callback's non-zero value, or -OTSYNC_EPROTO (with err) on bad input. */
int ossfmt_parse(struct ossfmt_parser *p, const char *data, size_t len, bool eof,
                 ossfmt_record_cb cb, void *arg, struct otsync_err *err) OTSYNC_WUR;

#endif
