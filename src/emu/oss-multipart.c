/*
 * oss-multipart.c - otsync-emu's OSS objects written over several requests: appends (oss.md
 * 5.2) and multipart uploads (5.9-5.13: initiate, upload a part, complete, abort, list parts).
 *
 * Owns: append positions and CRC chaining, the part store of each upload (also its --data
 * form) and the checks made at Complete.
 * Leaves to oss.c: routing, signatures, the object store and error documents. Runs under
 * emu->lock like every handler.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "otsync/crc64.h"
#include "otsync/ossxml.h"
#include "otsync/sign.h"
#include "oss.h"

/* --- the upload store --- */

struct upload *
oss_upload_find(struct oss *oss, const char *id, struct upload ***ret_link)
{
    struct upload **link;

    for (link = &oss->uploads; *link; link = &(*link)->next)
        if (strcmp((*link)->id, id) == 0) {
            if (ret_link)
                *ret_link = link;
            return *link;
        }
    return NULL;
}

void
oss_upload_free(struct upload *u)
{
    size_t i;

    if (!u)
        return;
    for (i = 0; i < u->count; i++)
        free(u->parts[i].data);
    free(u->parts);
    free(u->bucket);
    free(u->key);
    free(u->content_type);
    json_decref(u->meta);
    free(u);
}

/* --- the operations --- */

/* The upload named by ?uploadId, if it belongs to this bucket and key; else NoSuchUpload. */
static struct upload *
find_upload(struct ctx *c, struct upload ***ret_link)
{
    const char *id = oss_query(c->req, "uploadId");
    struct upload *u = id ? oss_upload_find(c->oss, id, ret_link) : NULL;

    if (!u || strcmp(u->bucket, c->bucket->name) != 0 || strcmp(u->key, c->route.key) != 0) {
        oss_no_such_upload(c);
        return NULL;
    }
    return u;
}

/* Index of the part numbered n, or where it would go; *ret_found says which. */
static size_t
part_pos(const struct upload *u, unsigned n, bool *ret_found)
{
    size_t lo = 0, hi = u->count, mid;

    *ret_found = false;
    while (lo < hi) {
        mid = (lo + hi) / 2;
        if (u->parts[mid].number == n) {
            *ret_found = true;
            return mid;
        }
        if (u->parts[mid].number < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void
oss_initiate(struct ctx *c)
{
    const char *enc = oss_query(c->req, "encoding-type");
    struct ossxml_initiate res;
    struct otsync_err err;
    struct upload *u;
    char *xml;
    size_t len;

    if (!oss_valid_key(c->route.key)) {
        oss_error(c, 400, "InvalidObjectName", "The specified object is not valid.");
        return;
    }
    if (oss_is_true(emu_req_header(c->req, "x-oss-forbid-overwrite"))
        && oss_object_find(c->bucket, c->route.key)) {
        oss_error(c, 409, "FileAlreadyExists", "The object you specified already exists and "
                  "can not be overwritten.");
        return;
    }
    if (!(u = calloc(1, sizeof(*u)))) {
        oss_error(c, 500, "InternalError", "out of memory");
        return;
    }
    c->oss->seq++;
    snprintf(u->id, sizeof(u->id), "%08X%08X%016" PRIX64, (unsigned)time(NULL),
             (unsigned)getpid(), c->oss->seq);
    u->bucket = strdup(c->bucket->name);
    u->key = strdup(c->route.key);
    u->content_type = strdup(emu_req_header(c->req, "Content-Type")
                             ? emu_req_header(c->req, "Content-Type")
                             : "application/octet-stream");
    u->meta = oss_collect_meta(c->req);
    u->initiated = time(NULL);
    /* the header is honoured at Complete too: the key may appear while parts go up */
    u->forbid_overwrite = oss_is_true(emu_req_header(c->req, "x-oss-forbid-overwrite"));
    if (!u->bucket || !u->key || !u->content_type || !u->meta) {
        oss_upload_free(u);
        oss_error(c, 500, "InternalError", "out of memory");
        return;
    }
    u->next = c->oss->uploads;
    c->oss->uploads = u;
    res = (struct ossxml_initiate){.bucket = u->bucket, .key = u->key, .upload_id = u->id,
                                   .encoding_type = enc && *enc ? enc : NULL};
    if (ossxml_write_initiate(&res, &xml, &len, &err) < 0)
        oss_error(c, 500, "InternalError", err.msg);
    else
        oss_respond_xml(c, 200, xml, len);
}

void
oss_upload_part(struct ctx *c)
{
    const char *ns = oss_query(c->req, "partNumber");
    unsigned char md5[SIGN_MD5_LEN];
    struct part *p, *np;
    struct upload *u;
    unsigned long n;
    size_t i;
    bool found;
    char *end;

    n = strtoul(ns, &end, 10);
    if (!*ns || *end || *ns < '0' || *ns > '9' || n < 1 || n > OSS_MAX_PARTS) {
        struct ossxml_field f[2] = {{"ArgumentName", "partNumber"}, {"ArgumentValue", ns}};

        oss_error_with(c, 400, "InvalidArgument", "Part number must be an integer between 1 "
                       "and 10000, inclusive.", f, 2);
        return;
    }
    if (!(u = find_upload(c, NULL)) || oss_check_md5(c, c->req->body, c->req->body_len, md5) < 0)
                                                     return;
    i = part_pos(u, (unsigned)n, &found);
    if (!found && u->count == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 16;

        if (!(np = realloc(u->parts, cap * sizeof(*np)))) {
            oss_error(c, 500, "InternalError", "out of memory");
            return;
        }
        u->parts = np;
        u->cap = cap;
    }
    if (found) {
        free(u->parts[i].data);     /* the same number again replaces the part */
    } else {
        memmove(u->parts + i + 1, u->parts + i, (u->count - i) * sizeof(*u->parts));
        u->count++;
    }
    p = &u->parts[i];
    memset(p, 0, sizeof(*p));
    p->number = (unsigned)n;
    if (!(p->data = emu_req_take_body(c->req))) {
        memmove(u->parts + i, u->parts + i + 1, (u->count - i - 1) * sizeof(*u->parts));
        u->count--;
        oss_error(c, 500, "InternalError", "out of memory");
        return;
    }
    p->len = c->req->body_len;
    memcpy(p->md5, md5, sizeof(md5));
    oss_md5_etag(md5, "", p->etag, sizeof(p->etag));
    p->crc64 = c->req->has_crc64 ? c->req->body_crc64 : crc64ecma(0, p->data, p->len);
    p->mtime = time(NULL);
    oss_header(c->resp, "ETag", p->etag);
    emu_resp_header(c->resp, "x-oss-hash-crc64ecma", "%" PRIu64, p->crc64);
    emu_resp_take(c->resp, 200, NULL, 0);
}

/* Checks the parts Complete names (oss.md 5.11); fills picked or answers the error. */
static int
check_parts(struct ctx *c, struct upload *u, const struct ossxml_part *given, size_t count,
            struct part **picked)
{
    struct ossxml_field f[2];
    char num[16];
    size_t i, at;
    bool found;

    for (i = 1; i < count; i++)
        if (given[i].part_number <= given[i - 1].part_number) {
            oss_error(c, 400, "InvalidPartOrder", "The list of parts was not in ascending order. "
                      "Parts must be ordered by part number.");
            return -1;
        }
    for (i = 0; i < count; i++) {
        at = part_pos(u, given[i].part_number, &found);
        snprintf(num, sizeof(num), "%" PRIu32, given[i].part_number);
        if (!found || !given[i].etag || !oss_same_etag(given[i].etag, u->parts[at].etag)) {
            f[0] = (struct ossxml_field){"PartNumber", num};
            f[1] = (struct ossxml_field){"ETag", given[i].etag ? given[i].etag : ""};
            oss_error_with(c, 400, "InvalidPart", "One or more of the specified parts could "
                           "not be found or the specified entity tag might not have matched "
                           "the part's entity tag.", f, 2);
            return -1;
        }
        picked[i] = &u->parts[at];
        if (i + 1 < count && picked[i]->len < OSS_MIN_PART) {
            f[0] = (struct ossxml_field){"PartNumber", num};
            oss_error_with(c, 400, "EntityTooSmall", "Your proposed upload is smaller than the "
                           "minimum allowed size.", f, 1);
            return -1;
        }
    }
    return 0;
}

void
oss_complete(struct ctx *c)
{
    const char *all = emu_req_header(c->req, "x-oss-complete-all");
    const char *enc = oss_query(c->req, "encoding-type"), *host;
    struct ossxml_complete_result res;
    struct ossxml_doc *doc = NULL;
    struct ossxml_complete given = {0};
    struct ossxml_part *every = NULL;
    struct part **picked = NULL;
    struct upload *u, **link;
    struct object *o = NULL, *stored;
    struct otsync_err err;
    unsigned char *md5s = NULL, md5[SIGN_MD5_LEN];
    char suffix[16], *location = NULL, *xml;
    size_t i, total = 0, len;
    uint64_t crc = 0;

    if (!(u = find_upload(c, &link)))
        return;
    if (all && strcasecmp(all, "yes") == 0) {
        /* x-oss-complete-all: every uploaded part, no body */
        if (u->count && !(every = calloc(u->count, sizeof(*every))))
            goto oom;
        for (i = 0; i < u->count; i++)
            every[i] = (struct ossxml_part){.part_number = u->parts[i].number,
                                            .etag = u->parts[i].etag};
        given.parts = every;
        given.part_count = u->count;
    } else if (ossxml_parse((const char *)c->req->body, c->req->body_len, &doc, &err) < 0
               || ossxml_get_complete(doc, &given, &err) < 0) {
        oss_error(c, 400, "MalformedXML", "The XML you provided was not well-formed or did not "
                  "validate against our published schema.");
        goto out;
    }
    if (given.part_count && !(picked = calloc(given.part_count, sizeof(*picked))))
        goto oom;
    if (check_parts(c, u, given.parts, given.part_count, picked) < 0)
        goto out;
    if ((u->forbid_overwrite || oss_is_true(emu_req_header(c->req, "x-oss-forbid-overwrite")))
        && oss_object_find(c->bucket, u->key)) {
        oss_error(c, 409, "FileAlreadyExists", "The object you specified already exists and "
                  "can not be overwritten.");
        goto out;
    }
    for (i = 0; i < given.part_count; i++)
        total += picked[i]->len;
    /* zero parts make an empty object: DataX completes so when it has nothing to write */
    if (!(o = oss_object_new(u->key, u->content_type, json_incref(u->meta)))
        || !(o->data = malloc(total ? total : 1))
        || !(md5s = malloc(given.part_count * SIGN_MD5_LEN + 1)))
        goto oom;
    for (i = 0; i < given.part_count; i++) {
        memcpy(o->data + o->len, picked[i]->data, picked[i]->len);
        o->len += picked[i]->len;
        crc = crc64ecma_combine(crc, picked[i]->crc64, picked[i]->len);
        memcpy(md5s + i * SIGN_MD5_LEN, picked[i]->md5, SIGN_MD5_LEN);
    }
    o->cap = o->len;
    o->crc64 = crc;
    o->type = OBJ_MULTIPART;
    /* the S3 form: MD5 of the parts' MD5s, then "-<count>"; OSS calls it opaque */
    sign_md5(md5s, given.part_count * SIGN_MD5_LEN, md5);
    snprintf(suffix, sizeof(suffix), "-%zu", given.part_count);
    oss_md5_etag(md5, suffix, o->etag, sizeof(o->etag));
    host = emu_req_header(c->req, "Host");
    if (asprintf(&location, "http://%s/%s", host ? host : "127.0.0.1", u->key) < 0) {
        location = NULL;
        goto oom;
    }
    /* the store takes o whatever happens, and the upload is over either way */
    stored = o;
    o = NULL;
    *link = u->next;
    oss_upload_free(u);
    if (oss_object_store(c->bucket, stored) < 0)
        goto oom;
    res = (struct ossxml_complete_result){.location = location, .bucket = c->bucket->name,
                                          .key = stored->key, .etag = stored->etag,
                                          .encoding_type = enc && *enc ? enc : NULL};
    if (ossxml_write_complete_result(&res, &xml, &len, &err) < 0) {
        oss_error(c, 500, "InternalError", err.msg);
        goto out;
    }
    oss_header(c->resp, "ETag", stored->etag);
    emu_resp_header(c->resp, "x-oss-hash-crc64ecma", "%" PRIu64, stored->crc64);
    oss_respond_xml(c, 200, xml, len);
    goto out;
oom:
    oss_error(c, 500, "InternalError", "out of memory");
out:
    oss_object_free(o);
    ossxml_free(doc);
    free(every);
    free(picked);
    free(md5s);
    free(location);
}

void
oss_abort(struct ctx *c)
{
    struct upload *u, **link;

    if (!(u = find_upload(c, &link)))
        return;
    *link = u->next;
    oss_upload_free(u);
    emu_resp_take(c->resp, 204, NULL, 0);
}

void
oss_list_parts(struct ctx *c)
{
    const char *enc = oss_query(c->req, "encoding-type"), *ms = oss_query(c->req,
                                                                          "part-number-marker");
    struct ossxml_list_parts res = {0};
    struct ossxml_part *parts = NULL;
    struct otsync_err err;
    char (*times)[32] = NULL, *xml;
    unsigned long max, marker = 0;
    struct upload *u;
    size_t i, n = 0, len;

    if (!(u = find_upload(c, NULL)) || oss_parse_max(c, "max-parts", 1000, true, &max) < 0)
                                                     return;
    if (ms && *ms)
        marker = strtoul(ms, NULL, 10);
    if (!(parts = calloc(max + 1, sizeof(*parts))) || !(times = calloc(max + 1, sizeof(*times)))) {
        oss_error(c, 500, "InternalError", "out of memory");
        goto out;
    }
    for (i = 0; i < u->count; i++) {
        if (u->parts[i].number <= marker)
            continue;
        if (n == max) {
            res.is_truncated = true;
            break;
        }
        oss_iso_time(u->parts[i].mtime, times[n]);
        parts[n] = (struct ossxml_part){
            .part_number = u->parts[i].number, .etag = u->parts[i].etag,
            .last_modified = times[n], .size = u->parts[i].len, .crc64 = u->parts[i].crc64,
            .has_crc64 = true,
        };
        n++;
    }
    res.bucket = c->bucket->name;
    res.key = u->key;
    res.upload_id = u->id;
    res.encoding_type = enc && *enc ? enc : NULL;
    res.part_number_marker = (uint32_t)marker;
    res.next_part_number_marker = n ? parts[n - 1].part_number : 0;
    res.max_parts = (uint32_t)max;
    res.parts = parts;
    res.part_count = n;
    if (ossxml_write_list_parts(&res, &xml, &len, &err) < 0)
        oss_error(c, 500, "InternalError", err.msg);
    else
        oss_respond_xml(c, 200, xml, len);
out:
    free(parts);
    free(times);
}

void
oss_append(struct ctx *c)
{
    const struct emu_req *req = c->req;
    const char *pos_s = oss_query(req, "position");
    unsigned char md5[SIGN_MD5_LEN], *nd;
    unsigned long long pos;
    struct object *o;
    size_t cur;
    char *end;

    if (!oss_valid_key(c->route.key)) {
        oss_error(c, 400, "InvalidObjectName", "The specified object is not valid.");
        return;
    }
    if (!pos_s || !*pos_s) {
        oss_error(c, 400, "MissingArgument", "Missing argument position.");
        return;
    }
    pos = strtoull(pos_s, &end, 10);
    if (*end || *pos_s < '0' || *pos_s > '9') {
        oss_error(c, 400, "InvalidArgument", "Argument position is not a valid number.");
        return;
    }
    o = oss_object_find(c->bucket, c->route.key);
    if (o && o->type != OBJ_APPENDABLE) {
        oss_error(c, 409, "ObjectNotAppendable", "The object is not appendable");
        return;
    }
    cur = o ? o->len : 0;
    if (pos != cur) {
        /* the real length rides along, so a client can tell whether a retry already landed */
        emu_resp_header(c->resp, "x-oss-next-append-position", "%zu", cur);
        if (o)
            emu_resp_header(c->resp, "x-oss-hash-crc64ecma", "%" PRIu64, o->crc64);
        oss_error(c, 409, "PositionNotEqualToLength", "Position is not equal to file length");
        return;
    }
    if (oss_check_md5(c, req->body, req->body_len, md5) < 0)
                      return;
    if (!o) {
        if (!(o = oss_object_new(c->route.key, emu_req_header(req, "Content-Type"),
                             oss_collect_meta(req))) || oss_object_store(c->bucket, o) < 0) {
            oss_error(c, 500, "InternalError", "out of memory");
            return;
        }
        o->type = OBJ_APPENDABLE;
    }
    if (o->len + req->body_len > o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 65536;

        while (cap < o->len + req->body_len)
            cap *= 2;
        if (!(nd = realloc(o->data, cap))) {
            oss_error(c, 500, "InternalError", "out of memory");
            return;
        }
        o->data = nd;
        o->cap = cap;
    }
    if (req->body_len)
        memcpy(o->data + o->len, req->body, req->body_len);
    o->crc64 = req->has_crc64 ? crc64ecma_combine(o->crc64, req->body_crc64, req->body_len)
                              : crc64ecma(o->crc64, req->body, req->body_len);
    o->len += req->body_len;
    o->mtime = time(NULL);
    /* OSS calls an appendable object's ETag opaque; the CRC and length change with each append
     * where an MD5 would cost a pass over the whole object */
    snprintf(o->etag, sizeof(o->etag), "\"%016" PRIX64 "%016zX\"", o->crc64, o->len);
    emu_resp_header(c->resp, "x-oss-next-append-position", "%zu", o->len);
    emu_resp_header(c->resp, "x-oss-hash-crc64ecma", "%" PRIu64, o->crc64);
    oss_header(c->resp, "ETag", o->etag);
    emu_resp_take(c->resp, 200, NULL, 0);
}

/* --- persistence (oss_save and oss_load in oss.c call these) --- */

json_t *
oss_upload_save(const struct upload *u, const char *dir, unsigned long *n)
{
    json_t *j, *parts = json_array(), *pj;
    char crc[24];
    size_t i;

    j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:O, s:b, s:o}", "id", u->id, "bucket", u->bucket,
                  "key", u->key, "initiated", (json_int_t)u->initiated, "content_type",
                  u->content_type, "meta", u->meta, "forbid_overwrite", u->forbid_overwrite,
                  "parts", parts);
    for (i = 0; j && i < u->count; i++) {
        snprintf(crc, sizeof(crc), "%" PRIu64, u->parts[i].crc64);
        pj = json_pack("{s:I, s:I, s:s, s:I}", "number", (json_int_t)u->parts[i].number,
                       "size", (json_int_t)u->parts[i].len, "crc64", crc,
                       "mtime", (json_int_t)u->parts[i].mtime);
        if (!pj || oss_save_blob(dir, n, u->parts[i].data, u->parts[i].len, pj) < 0) {
            json_decref(pj);
            json_decref(j);
            return NULL;
        }
        json_array_append_new(parts, pj);
    }
    return j;
}

int
oss_upload_load(struct oss *oss, const char *dir, const json_t *j)
{
    const json_t *pj;
    struct upload *u = calloc(1, sizeof(*u));
    struct part *p;
    size_t i, n;

    if (!u)
        return -1;
    snprintf(u->id, sizeof(u->id), "%s", json_string_value(json_object_get(j, "id")) ?: "");
    u->bucket = strdup(json_string_value(json_object_get(j, "bucket")) ?: "");
    u->key = strdup(json_string_value(json_object_get(j, "key")) ?: "");
    u->content_type = strdup(json_string_value(json_object_get(j, "content_type")) ?: "");
    u->meta = json_deep_copy(json_object_get(j, "meta"));
    u->initiated = (time_t)json_integer_value(json_object_get(j, "initiated"));
    u->forbid_overwrite = json_is_true(json_object_get(j, "forbid_overwrite"));
    n = json_array_size(json_object_get(j, "parts"));
    if (!u->bucket || !u->key || !u->content_type || !u->meta || !u->id[0]
        || (n && !(u->parts = calloc(n, sizeof(*u->parts)))))
        goto fail;
    u->cap = n;
    json_array_foreach(json_object_get(j, "parts"), i, pj) {
        p = &u->parts[u->count];
        p->number = (unsigned)json_integer_value(json_object_get(pj, "number"));
        p->mtime = (time_t)json_integer_value(json_object_get(pj, "mtime"));
        if (!(p->data = oss_load_blob(dir, pj, &p->len, &p->crc64)))
            goto fail;
        u->count++;
        sign_md5(p->data, p->len, p->md5);
        oss_md5_etag(p->md5, "", p->etag, sizeof(p->etag));
    }
    u->next = oss->uploads;
    oss->uploads = u;
    return 0;
fail:
    oss_upload_free(u);
    return -1;
}
