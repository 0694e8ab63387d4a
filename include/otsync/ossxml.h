/*
 * ossxml.h - the XML bodies of OSS (oss.md sections 5 and 7), read and written without an XML
 * library: a strict, bounded parser into a small tree, typed views of the documents a writer,
 * a reader and the emulator exchange, and writers producing the same documents.
 *
 * Owns: XML syntax (the five predefined entities, character references, CDATA, comments, the
 * prolog; no DTD) and the OSS document shapes, including encoding-type=url keys.
 * Leaves to others: HTTP, signatures (osssign.h), what an error code means.
 *
 * Reading: ossxml_parse builds a doc; the ossxml_get_* views fill a struct whose strings and
 * arrays live in that doc and die with ossxml_free. Text is UTF-8 and NUL-terminated; a NUL can
 * never appear in it. Elements are matched by local name, so a namespace prefix or xmlns
 * attribute does not matter. Malformed input fails with -OTSYNC_EPROTO and a message naming the
 * byte offset; a well-formed document lacking what a view needs fails with -OTSYNC_EPROTO too.
 *
 * Writing: each ossxml_write_* returns a new NUL-terminated document (free() it), starting with
 * the <?xml?> prolog, text escaped; with encoding_type "url" the keys and prefixes are
 * percent-encoded as OSS does. Text that XML cannot carry (invalid UTF-8, control characters)
 * fails with -OTSYNC_EINVAL unless it is url-encoded.
 */
#ifndef OTSYNC_OSSXML_H
#define OTSYNC_OSSXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "otsync/err.h"

#define OSSXML_MAX_INPUT (16u << 20)    /* bytes of a document */
#define OSSXML_MAX_NODES 200000         /* elements in a document */
#define OSSXML_MAX_DEPTH 32             /* nested elements */
#define OSSXML_MAX_NAME 256             /* bytes of an element or attribute name (ASCII) */
#define OSSXML_MAX_ATTR_VALUE 1024      /* bytes of one attribute value */
#define OSSXML_MAX_ATTRS 16             /* attributes on one element */

struct ossxml_doc;

struct ossxml_node {
    const char *name;                   /* local name, any "prefix:" dropped */
    const char *text;                   /* the element's own character data, decoded; "" if none */
    size_t text_len;
    const struct ossxml_node *child;    /* first child element, or NULL */
    const struct ossxml_node *next;     /* next sibling element, or NULL */
};

/* Parses len bytes of buf (borrowed, need not be NUL-terminated). *ret_doc is new. 0 or neg. */
int ossxml_parse(const char *buf, size_t len, struct ossxml_doc **ret_doc,
                 struct otsync_err *err) OTSYNC_WUR;
void ossxml_free(struct ossxml_doc *doc);

/* Tree walking; everything returned is borrowed from the doc. NULL when there is none. */
const struct ossxml_node *ossxml_root(const struct ossxml_doc *doc);
const struct ossxml_node *ossxml_child(const struct ossxml_node *n, const char *name);
const struct ossxml_node *ossxml_next(const struct ossxml_node *n);     /* same-named sibling */
const char *ossxml_child_text(const struct ossxml_node *n, const char *name);

struct ossxml_field {
    const char *name;
    const char *value;
};

/* <Error>. Reading requires Code; the other three are NULL when absent. */
struct ossxml_error {
    const char *code;
    const char *message;
    const char *request_id;
    const char *host_id;
    const struct ossxml_field *extra;   /* every other child in order: EC, StringToSign... */
    size_t extra_count;
};

/* One entry of Contents in a listing. */
struct ossxml_object {
    const char *key;
    uint64_t size;
    const char *etag;                   /* as sent, quotes included */
    const char *last_modified;          /* "2025-01-02T03:04:05.000Z" as sent */
    const char *type;                   /* Normal, Appendable, Multipart; NULL if absent */
    const char *storage_class;          /* NULL if absent */
    const char *owner_id;               /* Owner/ID; NULL without Owner (then none written) */
    const char *owner_name;             /* Owner/DisplayName */
};

/* <ListBucketResult>, V1 (GetBucket) or V2 (list-type=2). Absent strings are NULL. */
struct ossxml_list {
    bool v2;                            /* reading: KeyCount or a V2-only element was seen */
    const char *name;
    const char *prefix;                 /* (url) */
    const char *delimiter;              /* (url) */
    const char *encoding_type;          /* "url": the strings marked (url) travel encoded */
    const char *marker;                 /* V1 (url) */
    const char *next_marker;            /* V1 (url), when truncated */
    const char *start_after;            /* V2 (url) */
    const char *continuation_token;     /* V2 */
    const char *next_continuation_token;/* V2, when truncated */
    uint64_t max_keys;
    uint64_t key_count;                 /* V2; written as object_count + prefix_count */
    bool is_truncated;
    const struct ossxml_object *objects;    /* keys (url) */
    size_t object_count;
    const char *const *prefixes;        /* CommonPrefixes/Prefix (url) */
    size_t prefix_count;
};

/* <InitiateMultipartUploadResult>. Reading requires UploadId. Key is (url). */
struct ossxml_initiate {
    const char *bucket;
    const char *key;
    const char *upload_id;
    const char *encoding_type;
};

/* A part in CompleteMultipartUpload (number and ETag only) or in ListPartsResult. */
struct ossxml_part {
    uint32_t part_number;               /* 1 to 10000 */
    const char *etag;
    const char *last_modified;          /* ListParts only */
    uint64_t size;                      /* ListParts only */
    uint64_t crc64;                     /* ListParts only: HashCrc64ecma */
    bool has_crc64;
};

/* <CompleteMultipartUpload>: the request body. Parts in the order given. */
struct ossxml_complete {
    const struct ossxml_part *parts;
    size_t part_count;
};

/* <CompleteMultipartUploadResult>. Key is (url). */
struct ossxml_complete_result {
    const char *location;
    const char *bucket;
    const char *key;
    const char *etag;
    const char *encoding_type;
};

/* <Delete>: the DeleteMultipleObjects request body. */
struct ossxml_delete {
    bool quiet;
    const char *const *keys;
    size_t key_count;
};

/* <DeleteResult>. Deleted keys are (url). */
struct ossxml_delete_result {
    const char *encoding_type;
    const char *const *deleted;
    size_t deleted_count;
};

/* <ListPartsResult>. Key is (url). */
struct ossxml_list_parts {
    const char *bucket;
    const char *key;
    const char *upload_id;
    const char *encoding_type;
    uint32_t part_number_marker;
    uint32_t next_part_number_marker;
    uint32_t max_parts;
    bool is_truncated;
    const struct ossxml_part *parts;
    size_t part_count;
};

/* Views of a parsed doc; each checks the root element's name. 0 or negative. */
int ossxml_get_error(struct ossxml_doc *doc, struct ossxml_error *ret_e,
                     struct otsync_err *err) OTSYNC_WUR;
int ossxml_get_list(struct ossxml_doc *doc, struct ossxml_list *ret_l,
                    struct otsync_err *err) OTSYNC_WUR;
int ossxml_get_initiate(struct ossxml_doc *doc, struct ossxml_initiate *ret_i,
                        struct otsync_err *err) OTSYNC_WUR;
int ossxml_get_complete(struct ossxml_doc *doc, struct ossxml_complete *ret_c,
                        struct otsync_err *err) OTSYNC_WUR;
int ossxml_get_complete_result(struct ossxml_doc *doc, struct ossxml_complete_result *ret_r,
                               struct otsync_err *err) OTSYNC_WUR;
int ossxml_get_delete(struct ossxml_doc *doc, struct ossxml_delete *ret_d,
                      struct otsync_err *err) OTSYNC_WUR;
int ossxml_get_delete_result(struct ossxml_doc *doc, struct ossxml_delete_result *ret_r,
                             struct otsync_err *err) OTSYNC_WUR;
int ossxml_get_list_parts(struct ossxml_doc *doc, struct ossxml_list_parts *ret_p,
                          struct otsync_err *err) OTSYNC_WUR;

/* The extra child of an error named name (EC, StringToSign, ServerTime...), or NULL. */
const char *ossxml_error_field(const struct ossxml_error *e, const char *name);

/* Writers: *ret_xml is new (free()), *ret_len its length. 0 or negative. */
int ossxml_write_error(const struct ossxml_error *e, char **ret_xml, size_t *ret_len,
                       struct otsync_err *err) OTSYNC_WUR;
int ossxml_write_list(const struct ossxml_list *l, char **ret_xml, size_t *ret_len,
                      struct otsync_err *err) OTSYNC_WUR;
int ossxml_write_initiate(const struct ossxml_initiate *i, char **ret_xml, size_t *ret_len,
                          struct otsync_err *err) OTSYNC_WUR;
int ossxml_write_complete(const struct ossxml_complete *c, char **ret_xml, size_t *ret_len,
                          struct otsync_err *err) OTSYNC_WUR;
int ossxml_write_complete_result(const struct ossxml_complete_result *r, char **ret_xml,
                                 size_t *ret_len, struct otsync_err *err) OTSYNC_WUR;
int ossxml_write_delete(const struct ossxml_delete *d, char **ret_xml, size_t *ret_len,
                        struct otsync_err *err) OTSYNC_WUR;
int ossxml_write_delete_result(const struct ossxml_delete_result *r, char **ret_xml,
                               size_t *ret_len, struct otsync_err *err) OTSYNC_WUR;
int ossxml_write_list_parts(const struct ossxml_list_parts *p, char **ret_xml, size_t *ret_len,
                            struct otsync_err *err) OTSYNC_WUR;

#endif
