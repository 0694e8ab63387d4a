/*
 * oss.h - what oss.c (routing, signatures, objects, listings, admin, persistence) and
 * oss-multipart.c (appends and multipart uploads) share: the store's types, the request context
 * and the helpers both use. Private to src/emu; everything runs under emu->lock.
 */
#ifndef OTSYNC_EMU_OSS_H
#define OTSYNC_EMU_OSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include "otsync/osssign.h"
#include "otsync/ossxml.h"
#include "otsync/sign.h"
#include "emu.h"

#define OSS_SKEW_S (15 * 60)            /* oss.md 1.7 */
#define OSS_MIN_PART (100u * 1024u)     /* every part but the last, oss.md 5.10 */
#define OSS_MAX_PARTS 10000u
#define OSS_MAX_KEYS 1000u
#define OSS_MAX_KEY_LEN 1023u
#define OSS_STS_MAX 65536u              /* room for a string to sign */
/* Listings need an Owner (ali-oss reads Owner.ID unchecked); the emulator has one user. */
#define OSS_OWNER_ID "1000000000000000"

enum obj_type { OBJ_NORMAL, OBJ_APPENDABLE, OBJ_MULTIPART };

struct object {
    char *key;
    unsigned char *data;
    size_t len, cap;
    enum obj_type type;
    char etag[48];              /* quoted, as sent */
    uint64_t crc64;
    time_t mtime;
    char *content_type;
    json_t *meta;               /* header name -> value: x-oss-meta-* and the kept standard ones */
};

struct bucket {
    char *name;
    time_t created;
    struct object **objs;       /* sorted by key, byte-wise, as listings return them */
    size_t count, cap;
};

struct part {
    unsigned number;
    unsigned char *data;
    size_t len;
    unsigned char md5[SIGN_MD5_LEN];
    char etag[40];
    uint64_t crc64;
    time_t mtime;
};

struct upload {
    char id[33];
    char *bucket, *key;
    time_t initiated;
    char *content_type;
    json_t *meta;
    bool forbid_overwrite;
    struct part *parts;         /* sorted by number */
    size_t count, cap;
    struct upload *next;
};

struct oss {
    struct emu *emu;
    struct bucket **buckets;
    size_t bucket_count;
    struct upload *uploads;
    json_t *cnames;             /* host (no port) -> bucket, bound through the admin API */
    uint64_t seq;               /* request and upload ids */
};

enum auth_result {
    AUTH_OK, AUTH_ANONYMOUS, AUTH_MALFORMED, AUTH_BAD_KEY_ID, AUTH_NO_DATE, AUTH_SKEWED,
    AUTH_EXPIRED, AUTH_BAD_TOKEN, AUTH_MISMATCH,
};

/* Where a request points and whether its signature holds (resolve). */
struct route {
    char bucket[256];           /* "" at service level */
    const char *key;            /* into req->path; "" at bucket level */
    enum auth_result auth;
    struct osssign_auth parsed;
    char *sts;                  /* AUTH_MISMATCH: the string to sign we expected (malloc) */
    time_t req_time;
};

/* One request being answered. */
struct ctx {
    struct oss *oss;
    struct emu_req *req;
    struct emu_resp *resp;
    struct route route;
    struct bucket *bucket;
    char request_id[32];
    bool head;
};

/* Answers: a header whose value may be long (owned copy), and the OSS error document (for HEAD
 * base64 in x-oss-err, no body), with extra elements (borrowed) after HostId. */
void oss_header(struct emu_resp *r, const char *name, const char *value);
void oss_error(struct ctx *c, unsigned status, const char *code, const char *message);
void oss_error_with(struct ctx *c, unsigned status, const char *code, const char *message,
                    const struct ossxml_field *extra, size_t extra_count);
void oss_no_such_upload(struct ctx *c);
/* Takes xml (malloc) as an application/xml body. */
void oss_respond_xml(struct ctx *c, unsigned status, char *xml, size_t len);

/* A query argument's value, "" when given without one, NULL when absent. */
const char *oss_query(const struct emu_req *req, const char *name);
bool oss_is_true(const char *s);
bool oss_valid_key(const char *key);
void oss_iso_time(time_t t, char buf[32]);
/* "\"<upper-case hex><suffix>\"" into ret. */
void oss_md5_etag(const unsigned char md5[SIGN_MD5_LEN], const char *suffix, char *ret,
                  size_t len);
bool oss_same_etag(const char *a, const char *b);
/* The body's MD5 into md5; -1 when Content-MD5 disagrees (InvalidDigest answered). */
int oss_check_md5(struct ctx *c, const void *body, size_t len, unsigned char md5[SIGN_MD5_LEN]);
/* A request argument bounded by def (its default); -1 when invalid (InvalidArgument answered). */
int oss_parse_max(struct ctx *c, const char *name, unsigned long def, bool zero_ok,
                  unsigned long *ret);
/* x-oss-meta-* and the kept standard headers of the request; returns new. */
json_t *oss_collect_meta(const struct emu_req *req);

/* The store. oss_object_new takes meta (NULL: none); oss_object_store takes o, even on failure,
 * and replaces an object of the same key. */
struct object *oss_object_new(const char *key, const char *content_type, json_t *meta);
struct object *oss_object_find(const struct bucket *b, const char *key);
int oss_object_store(struct bucket *b, struct object *o);
void oss_object_free(struct object *o);
/* *ret_link (may be NULL) gets the pointer to unlink it with. */
struct upload *oss_upload_find(struct oss *oss, const char *id, struct upload ***ret_link);
void oss_upload_free(struct upload *u);

/* --data: a blob saved as the file j's "file" names (d<n>, n counting up), and read back checked
 * against j's "size" and "crc64". oss_load_blob returns new, NULL on error (logged). */
int oss_save_blob(const char *dir, unsigned long *n, const void *data, size_t len, json_t *j);
unsigned char *oss_load_blob(const char *dir, const json_t *j, size_t *ret_len,
                             uint64_t *ret_crc);
/* An upload as index JSON (returns new, NULL on error) and back (0 or -1), parts as blobs. */
json_t *oss_upload_save(const struct upload *u, const char *dir, unsigned long *n);
int oss_upload_load(struct oss *oss, const char *dir, const json_t *j);

/* oss-multipart.c: the operations, bucket (c->bucket) known to exist. */
void oss_append(struct ctx *c);
void oss_initiate(struct ctx *c);
void oss_upload_part(struct ctx *c);
void oss_complete(struct ctx *c);
void oss_abort(struct ctx *c);
void oss_list_parts(struct ctx *c);

#endif
