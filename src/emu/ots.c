/*
 * ots.c - the emulated Table Store (tablestore.md): POST /<Operation> with a protobuf body,
 * the request checks of section 1 (headers, body MD5, signature, instance), signed answers,
 * the table and stream operations, the admin calls and --data persistence. Row operations are
 * in ots-rows.c, rows in ots-store.c, streams in ots-stream.c.
 *
 * Instances: an instance exists once an admin call (POST /_emu/ots/instances?name=I) or a
 * CreateTable made it; any other call naming an unknown instance gets 403 OTSAuthFailed, as
 * the service answers for a missing instance.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include "otsync/log.h"
#include "otsync/otssign.h"
#include "otsync/sign.h"
#include "emu.h"
#include "ots.h"

#define MAX_TABLES 64
#define MAX_SKEW_S (15 * 60)
#define DEFAULT_RECORD_LIMIT 100
#define MAX_RECORD_LIMIT 1000

struct ots {
    struct emu *emu;
    struct ots_instance **instances;
    size_t count;
    uint64_t request_seq;
};

/* --- small helpers shared with ots-rows.c --- */

int
ots_fail(struct ots_ctx *c, unsigned status, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (c->status)
        return -1;
    c->status = status;
    snprintf(c->code, sizeof(c->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return -1;
}

void
ots_reply(struct ots_ctx *c, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);

    free(c->body);
    if (!(c->body = malloc(n ? n : 1))) {
        ots_fail(c, 500, "OTSInternalServerError", "out of memory");
        return;
    }
    c->len = protobuf_c_message_pack(msg, c->body);
}

struct ots_table *
ots_table_find(struct ots_instance *inst, const char *name)
{
    size_t i;

    for (i = 0; inst && name && i < inst->count; i++)
        if (strcmp(inst->tables[i]->name, name) == 0)
            return inst->tables[i];
    return NULL;
}

struct ots_table *
ots_table_get(struct ots_ctx *c, const char *name)
{
    struct ots_table *t = ots_table_find(c->inst, name);

    if (!t)
        ots_fail(c, 404, "OTSObjectNotExist", "Requested table does not exist.");
    return t;
}

void
ots_consumed(Otsync__Ots__ConsumedCapacity *cc, Otsync__Ots__CapacityUnit *cu,
             size_t read_bytes, size_t write_bytes)
{
    otsync__ots__consumed_capacity__init(cc);
    otsync__ots__capacity_unit__init(cu);
    /* one capacity unit per 4 KB started, at least one for a read or write that happened */
    cu->has_read = cu->has_write = true;
    cu->read = read_bytes ? (int32_t)((read_bytes + 4095) / 4096) : 1;
    cu->write = write_bytes ? (int32_t)((write_bytes + 4095) / 4096) : 0;
    cc->capacity_unit = cu;
}

/* The emulator's time (--clock may run it simulated): cells and stream records carry it. */
static int64_t
now_us(const struct ots *o)
{
    return (int64_t)(dclock_now(&o->emu->clock) * 1e6);
}

/* --- instances and tables --- */

static struct ots_instance *
instance_find(struct ots *o, const char *name)
{
    size_t i;

    for (i = 0; name && i < o->count; i++)
        if (strcmp(o->instances[i]->name, name) == 0)
            return o->instances[i];
    return NULL;
}

static struct ots_instance *
instance_add(struct ots *o, const char *name)
{
    struct ots_instance *inst = instance_find(o, name), **n;

    if (inst)
        return inst;
    if (!(n = realloc(o->instances, (o->count + 1) * sizeof(*n))))
        return NULL;
    o->instances = n;
    if (!(inst = calloc(1, sizeof(*inst))) || !(inst->name = strdup(name))) {
        free(inst);
        return NULL;
    }
    o->instances[o->count++] = inst;
    return inst;
}

static void
table_free(struct ots_table *t)
{
    size_t i;

    if (!t)
        return;
    ots_index_free(&t->index);
    ots_stream_free(t);
    for (i = 0; i < t->pk_count; i++)
        free(t->pk_names[i]);
    for (i = 0; i < t->defined_count; i++)
        free(t->defined_names[i]);
    free(t->defined_names);
    free(t->defined_types);
    free(t->name);
    free(t);
}

static bool
valid_name(const char *s)
{
    size_t i, n = s ? strlen(s) : 0;

    if (n < 1 || n > 255 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')
                              || s[0] == '_'))
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static void
op_create_table(struct ots *o, struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__CreateTableRequest *r = otsync__ots__create_table_request__unpack(NULL, len,
                                                                                   body);
    Otsync__Ots__CreateTableResponse resp = OTSYNC__OTS__CREATE_TABLE_RESPONSE__INIT;
    Otsync__Ots__TableMeta *m;
    struct ots_table *t = NULL, **nt;
    size_t i;

    (void)o;
    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the CreateTableRequest does not decode");
        return;
    }
    m = r->table_meta;
    if (!valid_name(m->table_name)) {
        ots_fail(c, 400, "OTSParameterInvalid", "Invalid table name: '%s'.", m->table_name);
        goto out;
    }
    if (m->n_primary_key < 1 || m->n_primary_key > OTS_MAX_PK) {
        ots_fail(c, 400, "OTSParameterInvalid", "The number of primary key columns must be in "
                 "range: [1, %d].", OTS_MAX_PK);
        goto out;
    }
    if (ots_table_find(c->inst, m->table_name)) {
        ots_fail(c, 409, "OTSObjectAlreadyExist", "Requested table already exists.");
        goto out;
    }
    if (c->inst->count >= MAX_TABLES) {
        ots_fail(c, 403, "OTSQuotaExhausted", "Number of tables exceeded the quota.");
        goto out;
    }
    if (!(t = calloc(1, sizeof(*t))) || !(t->name = strdup(m->table_name)))
        goto nomem;
    for (i = 0; i < m->n_primary_key; i++) {
        Otsync__Ots__PrimaryKeySchema *pk = m->primary_key[i];

        if (!valid_name(pk->name)) {
            ots_fail(c, 400, "OTSParameterInvalid", "Invalid column name: '%s'.", pk->name);
            goto out;
        }
        if (pk->has_option && (pk->type != OTSYNC__OTS__PRIMARY_KEY_TYPE__INTEGER || i == 0)) {
            ots_fail(c, 400, "OTSParameterInvalid", "AUTO_INCREMENT is only for an INTEGER "
                     "primary key column other than the first");
            goto out;
        }
        if (!(t->pk_names[i] = strdup(pk->name)))
            goto nomem;
        t->pk_types[i] = pk->type;
        t->pk_auto[i] = pk->has_option;
        t->pk_count++;
    }
    if (m->n_defined_column) {
        t->defined_names = calloc(m->n_defined_column, sizeof(*t->defined_names));
        t->defined_types = calloc(m->n_defined_column, sizeof(*t->defined_types));
        if (!t->defined_names || !t->defined_types)
            goto nomem;
        for (i = 0; i < m->n_defined_column; i++) {
            if (!(t->defined_names[i] = strdup(m->defined_column[i]->name)))
                goto nomem;
            t->defined_types[i] = m->defined_column[i]->type;
            t->defined_count++;
        }
    }
    t->max_versions = 1;
    t->ttl_s = -1;
    t->deviation_s = 86400;
    if (r->table_options) {
        if (r->table_options->has_max_versions)
            t->max_versions = r->table_options->max_versions;
        if (r->table_options->has_time_to_live)
            t->ttl_s = r->table_options->time_to_live;
        if (r->table_options->has_deviation_cell_version_in_sec)
            t->deviation_s = r->table_options->deviation_cell_version_in_sec;
    }
    if (t->max_versions < 1) {
        ots_fail(c, 400, "OTSParameterInvalid", "max_versions must be positive");
        goto out;
    }
    t->created_us = c->now_ms * 1000;
    if (r->stream_spec && r->stream_spec->enable_stream
        && ots_stream_enable(t, true, r->stream_spec->has_expiration_time
                                      ? r->stream_spec->expiration_time : 24, c->now_ms * 1000) < 0)
        goto nomem;
    if (!(nt = realloc(c->inst->tables, (c->inst->count + 1) * sizeof(*nt))))
        goto nomem;
    c->inst->tables = nt;
    c->inst->tables[c->inst->count++] = t;
    t = NULL;
    ots_reply(c, &resp.base);
    goto out;
nomem:
    ots_fail(c, 500, "OTSInternalServerError", "out of memory");
out:
    table_free(t);
    otsync__ots__create_table_request__free_unpacked(r, NULL);
}

static void
op_list_table(struct ots *o, struct ots_ctx *c)
{
    Otsync__Ots__ListTableResponse resp = OTSYNC__OTS__LIST_TABLE_RESPONSE__INIT;
    char **names = calloc(c->inst->count + 1, sizeof(*names));
    size_t i;

    (void)o;
    if (!names) {
        ots_fail(c, 500, "OTSInternalServerError", "out of memory");
        return;
    }
    for (i = 0; i < c->inst->count; i++)
        names[i] = c->inst->tables[i]->name;
    resp.table_names = names;
    resp.n_table_names = c->inst->count;
    ots_reply(c, &resp.base);
    free(names);
}

static void
op_delete_table(struct ots *o, struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__DeleteTableRequest *r = otsync__ots__delete_table_request__unpack(NULL, len,
                                                                                   body);
    Otsync__Ots__DeleteTableResponse resp = OTSYNC__OTS__DELETE_TABLE_RESPONSE__INIT;
    size_t i;

    (void)o;
    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the DeleteTableRequest does not decode");
        return;
    }
    for (i = 0; i < c->inst->count; i++)
        if (strcmp(c->inst->tables[i]->name, r->table_name) == 0)
            break;
    if (i == c->inst->count) {
        ots_fail(c, 404, "OTSObjectNotExist", "Requested table does not exist.");
    } else {
        table_free(c->inst->tables[i]);
        memmove(&c->inst->tables[i], &c->inst->tables[i + 1],
                (c->inst->count - i - 1) * sizeof(*c->inst->tables));
        c->inst->count--;
        ots_reply(c, &resp.base);
    }
    otsync__ots__delete_table_request__free_unpacked(r, NULL);
}

/* The table's options, throughput and stream as the describe and update answers give them. */
struct table_desc {
    Otsync__Ots__TableOptions opts;
    Otsync__Ots__CapacityUnit cu;
    Otsync__Ots__ReservedThroughputDetails rtd;
    Otsync__Ots__StreamDetails sd;
};

static void
table_desc(const struct ots_table *t, struct table_desc *d)
{
    otsync__ots__table_options__init(&d->opts);
    d->opts.has_time_to_live = d->opts.has_max_versions = true;
    d->opts.time_to_live = t->ttl_s;
    d->opts.max_versions = t->max_versions;
    d->opts.has_deviation_cell_version_in_sec = true;
    d->opts.deviation_cell_version_in_sec = t->deviation_s;
    otsync__ots__capacity_unit__init(&d->cu);
    d->cu.has_read = d->cu.has_write = true;
    otsync__ots__reserved_throughput_details__init(&d->rtd);
    d->rtd.capacity_unit = &d->cu;
    d->rtd.last_increase_time = t->created_us / 1000000;
    otsync__ots__stream_details__init(&d->sd);
    d->sd.enable_stream = t->stream;
    if (t->stream) {
        d->sd.stream_id = (char *)t->stream_id;
        d->sd.has_expiration_time = d->sd.has_last_enable_time = true;
        d->sd.expiration_time = t->stream_hours;
        d->sd.last_enable_time = t->stream_last_enable;
    }
}

static void
op_describe_table(struct ots *o, struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__DescribeTableRequest *r = otsync__ots__describe_table_request__unpack(NULL, len,
                                                                                       body);
    Otsync__Ots__DescribeTableResponse resp = OTSYNC__OTS__DESCRIBE_TABLE_RESPONSE__INIT;
    Otsync__Ots__TableMeta meta = OTSYNC__OTS__TABLE_META__INIT;
    Otsync__Ots__PrimaryKeySchema pks[OTS_MAX_PK], *pkp[OTS_MAX_PK];
    Otsync__Ots__DefinedColumnSchema *dcs = NULL, **dcp = NULL;
    struct table_desc d;
    struct ots_table *t;
    size_t i;

    (void)o;
    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the DescribeTableRequest does not decode");
        return;
    }
    if (!(t = ots_table_get(c, r->table_name)))
        goto out;
    meta.table_name = t->name;
    for (i = 0; i < t->pk_count; i++) {
        otsync__ots__primary_key_schema__init(&pks[i]);
        pks[i].name = t->pk_names[i];
        pks[i].type = (Otsync__Ots__PrimaryKeyType)t->pk_types[i];
        if (t->pk_auto[i]) {
            pks[i].has_option = true;
            pks[i].option = OTSYNC__OTS__PRIMARY_KEY_OPTION__AUTO_INCREMENT;
        }
        pkp[i] = &pks[i];
    }
    meta.primary_key = pkp;
    meta.n_primary_key = t->pk_count;
    if (t->defined_count) {
        dcs = calloc(t->defined_count, sizeof(*dcs));
        dcp = calloc(t->defined_count, sizeof(*dcp));
        if (!dcs || !dcp) {
            ots_fail(c, 500, "OTSInternalServerError", "out of memory");
            goto out;
        }
        for (i = 0; i < t->defined_count; i++) {
            otsync__ots__defined_column_schema__init(&dcs[i]);
            dcs[i].name = t->defined_names[i];
            dcs[i].type = (Otsync__Ots__DefinedColumnType)t->defined_types[i];
            dcp[i] = &dcs[i];
        }
        meta.defined_column = dcp;
        meta.n_defined_column = t->defined_count;
    }
    table_desc(t, &d);
    resp.table_meta = &meta;
    resp.reserved_throughput_details = &d.rtd;
    resp.table_options = &d.opts;
    resp.table_status = OTSYNC__OTS__TABLE_STATUS__ACTIVE;    /* JS and GO need it */
    resp.stream_details = &d.sd;
    resp.has_creation_time = true;
    resp.creation_time = t->created_us / 1000000;
    ots_reply(c, &resp.base);
out:
    free(dcs);
    free(dcp);
    otsync__ots__describe_table_request__free_unpacked(r, NULL);
}

static void
op_update_table(struct ots *o, struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__UpdateTableRequest *r = otsync__ots__update_table_request__unpack(NULL, len,
                                                                                   body);
    Otsync__Ots__UpdateTableResponse resp = OTSYNC__OTS__UPDATE_TABLE_RESPONSE__INIT;
    struct table_desc d;
    struct ots_table *t;

    (void)o;
    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the UpdateTableRequest does not decode");
        return;
    }
    if (!(t = ots_table_get(c, r->table_name)))
        goto out;
    if (r->table_options) {
        if (r->table_options->has_max_versions) {
            if (r->table_options->max_versions < 1) {
                ots_fail(c, 400, "OTSParameterInvalid", "max_versions must be positive");
                goto out;
            }
            t->max_versions = r->table_options->max_versions;
        }
        if (r->table_options->has_time_to_live)
            t->ttl_s = r->table_options->time_to_live;
    }
    if (r->stream_spec
        && ots_stream_enable(t, r->stream_spec->enable_stream,
                             r->stream_spec->has_expiration_time
                             ? r->stream_spec->expiration_time : 24, c->now_ms * 1000) < 0) {
        ots_fail(c, 500, "OTSInternalServerError", "out of memory");
        goto out;
    }
    table_desc(t, &d);
    resp.reserved_throughput_details = &d.rtd;
    resp.table_options = &d.opts;
    resp.stream_details = &d.sd;
    ots_reply(c, &resp.base);
out:
    otsync__ots__update_table_request__free_unpacked(r, NULL);
}

/* --- streams --- */

static struct ots_table *
stream_table(struct ots_ctx *c, const char *stream_id)
{
    size_t i;

    for (i = 0; stream_id && i < c->inst->count; i++)
        if (c->inst->tables[i]->stream && strcmp(c->inst->tables[i]->stream_id, stream_id) == 0)
            return c->inst->tables[i];
    ots_fail(c, 404, "OTSObjectNotExist", "Requested stream data does not exist.");
    return NULL;
}

static void
op_list_stream(struct ots *o, struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__ListStreamRequest *r = otsync__ots__list_stream_request__unpack(NULL, len, body);
    Otsync__Ots__ListStreamResponse resp = OTSYNC__OTS__LIST_STREAM_RESPONSE__INIT;
    Otsync__Ots__Stream *s = calloc(c->inst->count + 1, sizeof(*s));
    Otsync__Ots__Stream **sp = calloc(c->inst->count + 1, sizeof(*sp));
    size_t i, n = 0;

    (void)o;
    if (!r || !s || !sp) {
        ots_fail(c, r ? 500 : 400, r ? "OTSInternalServerError" : "OTSParameterInvalid",
                 r ? "out of memory" : "the ListStreamRequest does not decode");
        goto out;
    }
    if (r->table_name && !ots_table_get(c, r->table_name))
        goto out;
    for (i = 0; i < c->inst->count; i++) {
        struct ots_table *t = c->inst->tables[i];

        if (!t->stream || (r->table_name && strcmp(r->table_name, t->name) != 0))
            continue;
        otsync__ots__stream__init(&s[n]);
        s[n].stream_id = t->stream_id;
        s[n].table_name = t->name;
        s[n].creation_time = t->stream_created_us;
        sp[n] = &s[n];
        n++;
    }
    resp.streams = sp;
    resp.n_streams = n;
    ots_reply(c, &resp.base);
out:
    free(s);
    free(sp);
    if (r)
        otsync__ots__list_stream_request__free_unpacked(r, NULL);
}

static void
op_describe_stream(struct ots *o, struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__DescribeStreamRequest *r = otsync__ots__describe_stream_request__unpack(NULL,
                                                                                        len, body);
    Otsync__Ots__DescribeStreamResponse resp = OTSYNC__OTS__DESCRIBE_STREAM_RESPONSE__INIT;
    Otsync__Ots__StreamShard *sh = NULL, **shp = NULL;
    struct ots_table *t;
    size_t i, start = 0, n = 0, limit;

    (void)o;
    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the DescribeStreamRequest does not decode");
        return;
    }
    if (!(t = stream_table(c, r->stream_id)))
        goto out;
    ots_stream_trim(t, c->now_ms * 1000, 0);
    if (r->inclusive_start_shard_id) {
        for (start = 0; start < t->shard_count; start++)
            if (strcmp(t->shards[start].id, r->inclusive_start_shard_id) == 0)
                break;
        if (start == t->shard_count) {
            ots_fail(c, 400, "OTSParameterInvalid", "no shard %s", r->inclusive_start_shard_id);
            goto out;
        }
    }
    limit = r->has_shard_limit && r->shard_limit > 0 ? (size_t)r->shard_limit : t->shard_count;
    sh = calloc(t->shard_count + 1, sizeof(*sh));
    shp = calloc(t->shard_count + 1, sizeof(*shp));
    if (!sh || !shp) {
        ots_fail(c, 500, "OTSInternalServerError", "out of memory");
        goto out;
    }
    for (i = start; i < t->shard_count && n < limit; i++, n++) {
        otsync__ots__stream_shard__init(&sh[n]);
        sh[n].shard_id = t->shards[i].id;
        if (t->shards[i].parent[0])
            sh[n].parent_id = t->shards[i].parent;
        if (t->shards[i].parent_sibling[0])
            sh[n].parent_sibling_id = t->shards[i].parent_sibling;
        shp[n] = &sh[n];
    }
    resp.stream_id = t->stream_id;
    resp.expiration_time = t->stream_hours;
    resp.table_name = t->name;
    resp.creation_time = t->stream_created_us;
    resp.stream_status = OTSYNC__OTS__STREAM_STATUS__STREAM_ACTIVE;
    resp.shards = shp;
    resp.n_shards = n;
    if (i < t->shard_count)
        resp.next_shard_id = t->shards[i].id;
    ots_reply(c, &resp.base);
out:
    free(sh);
    free(shp);
    otsync__ots__describe_stream_request__free_unpacked(r, NULL);
}

/* Iterators are "<stream id>|<shard id>|<record index>": opaque to clients, plain to us. */
static int
parse_iterator(struct ots_ctx *c, const char *it, struct ots_table **ret_t,
               struct ots_shard **ret_s, size_t *ret_index)
{
    char stream[128], shard[64];
    unsigned long long idx;
    int n = 0;

    if (!it || sscanf(it, "%127[^|]|%63[^|]|%llu%n", stream, shard, &idx, &n) != 3
        || it[n] != '\0')
        return ots_fail(c, 400, "OTSParameterInvalid", "Invalid shard iterator.");
    if (!(*ret_t = stream_table(c, stream)))
        return -1;
    if (!(*ret_s = ots_stream_shard(*ret_t, shard)))
        return ots_fail(c, 400, "OTSParameterInvalid", "Invalid shard iterator.");
    *ret_index = (size_t)idx;
    return 0;
}

static void
op_get_shard_iterator(struct ots *o, struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__GetShardIteratorRequest *r =
        otsync__ots__get_shard_iterator_request__unpack(NULL, len, body);
    Otsync__Ots__GetShardIteratorResponse resp = OTSYNC__OTS__GET_SHARD_ITERATOR_RESPONSE__INIT;
    struct ots_table *t;
    struct ots_shard *s;
    char it[256];
    size_t i;

    (void)o;
    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the GetShardIteratorRequest does not decode");
        return;
    }
    if (!(t = stream_table(c, r->stream_id)))
        goto out;
    ots_stream_trim(t, c->now_ms * 1000, 0);
    if (!(s = ots_stream_shard(t, r->shard_id))) {
        ots_fail(c, 404, "OTSObjectNotExist", "Requested stream data does not exist.");
        goto out;
    }
    i = s->trimmed;
    if (r->has_timestamp)
        while (i < s->count && s->recs[i].ts_us < r->timestamp)
            i++;
    snprintf(it, sizeof(it), "%s|%s|%zu", t->stream_id, s->id, i);
    resp.shard_iterator = it;
    ots_reply(c, &resp.base);
out:
    otsync__ots__get_shard_iterator_request__free_unpacked(r, NULL);
}

static void
op_get_stream_record(struct ots *o, struct ots_ctx *c, const uint8_t *body, size_t len)
{
    Otsync__Ots__GetStreamRecordRequest *r =
        otsync__ots__get_stream_record_request__unpack(NULL, len, body);
    Otsync__Ots__GetStreamRecordResponse resp = OTSYNC__OTS__GET_STREAM_RECORD_RESPONSE__INIT;
    Otsync__Ots__GetStreamRecordResponse__StreamRecord *recs = NULL, **rp = NULL;
    Otsync__Ots__ConsumedCapacity cc;
    Otsync__Ots__CapacityUnit cu;
    struct ots_table *t = NULL;
    struct ots_shard *s = NULL;
    size_t idx, n, i, limit, bytes = 0;
    char next[256];

    (void)o;
    if (!r) {
        ots_fail(c, 400, "OTSParameterInvalid", "the GetStreamRecordRequest does not decode");
        return;
    }
    if (parse_iterator(c, r->shard_iterator, &t, &s, &idx) < 0)
        goto out;
    ots_stream_trim(t, c->now_ms * 1000, 0);
    if (idx < s->trimmed) {
        ots_fail(c, 400, "OTSTrimmedDataAccess", "Requested stream data is already trimmed or "
                 "does not exist.");
        goto out;
    }
    if (idx > s->count) {
        ots_fail(c, 400, "OTSParameterInvalid", "Invalid shard iterator.");
        goto out;
    }
    limit = r->has_limit && r->limit > 0 ? (size_t)r->limit : DEFAULT_RECORD_LIMIT;
    if (limit > MAX_RECORD_LIMIT)
        limit = MAX_RECORD_LIMIT;
    n = s->count - idx < limit ? s->count - idx : limit;
    recs = calloc(n + 1, sizeof(*recs));
    rp = calloc(n + 1, sizeof(*rp));
    if (!recs || !rp) {
        ots_fail(c, 500, "OTSInternalServerError", "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        otsync__ots__get_stream_record_response__stream_record__init(&recs[i]);
        recs[i].action_type = (Otsync__Ots__ActionType)s->recs[idx + i].action;
        recs[i].record.data = s->recs[idx + i].record;
        recs[i].record.len = s->recs[idx + i].len;
        bytes += s->recs[idx + i].len;
        rp[i] = &recs[i];
    }
    resp.stream_records = rp;
    resp.n_stream_records = n;
    /* a closed shard read to its end has no next iterator: that is how readers see its end */
    if (!(s->closed && idx + n == s->count)) {
        snprintf(next, sizeof(next), "%s|%s|%zu", t->stream_id, s->id, idx + n);
        resp.next_shard_iterator = next;
    }
    ots_consumed(&cc, &cu, bytes, 0);
    resp.consumed = &cc;
    ots_reply(c, &resp.base);
out:
    free(recs);
    free(rp);
    otsync__ots__get_stream_record_request__free_unpacked(r, NULL);
}

/* --- the wire --- */

static const char *
op_of_path(const char *path)
{
    return path[0] == '/' && path[1] && !strchr(path + 1, '/') ? path + 1 : "";
}

static void
ots_op(void *state, struct emu_req *req)
{
    (void)state;
    snprintf(req->op, sizeof(req->op), "%s", op_of_path(req->path));
}

/* Parses x-ots-date: YYYY-MM-DDTHH:MM:SS, optionally '.' and 1-9 digits, then Z. */
static int
parse_ots_date(const char *s, time_t *ret)
{
    struct tm tm;
    const char *p;

    memset(&tm, 0, sizeof(tm));
    if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
        return -1;
    if (*p == '.') {
        p++;
        if (strspn(p, "0123456789") < 1 || strspn(p, "0123456789") > 9)
            return -1;
        p += strspn(p, "0123456789");
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    *ret = timegm(&tm);
    return 0;
}

static const char *const required_headers[] = {
    "x-ots-date", "x-ots-apiversion", "x-ots-accesskeyid", "x-ots-instancename",
    "x-ots-contentmd5", "x-ots-signature", NULL,
};

/* The checks of tablestore.md 1.2-1.3 and 5.1; fills c's error and returns -1 on a refusal. */
static int
authenticate(struct ots *o, struct emu_req *req, struct ots_ctx *c)
{
    struct otssign_header hdrs[EMU_MAX_HEADERS];
    struct otsync_err err;
    char md5[OTSSIGN_MD5_LEN];
    const char *v, *token;
    time_t t;
    size_t i;

    for (i = 0; required_headers[i]; i++)
        if (!emu_req_header(req, required_headers[i]))
            return ots_fail(c, 400, "OTSParameterInvalid", "Missing header: '%s'.",
                            required_headers[i]);
    if (req->has_md5)
        sign_base64(req->body_md5, sizeof(req->body_md5), md5);
    else if (otssign_content_md5(req->body, req->body_len, md5, sizeof(md5), NULL) < 0)
        md5[0] = '\0';
    if (strcmp(md5, emu_req_header(req, "x-ots-contentmd5")) != 0)
        return ots_fail(c, 403, "OTSAuthFailed", "Mismatch between MD5 value of request body and "
                        "x-ots-contentmd5 in header.");
    v = emu_req_header(req, "x-ots-date");
    if (parse_ots_date(v, &t) < 0)
        return ots_fail(c, 400, "OTSParameterInvalid", "Invalid date format: %s.", v);
    if (t < time(NULL) - MAX_SKEW_S || t > time(NULL) + MAX_SKEW_S)
        return ots_fail(c, 403, "OTSAuthFailed", "Mismatch between system time and x-ots-date: "
                        "%s.", v);
    if (strcmp(emu_req_header(req, "x-ots-accesskeyid"), o->emu->key_id) != 0)
        return ots_fail(c, 403, "OTSAuthFailed", "The AccessKeyID is disabled or does not "
                        "exist.");
    token = emu_req_header(req, "x-ots-ststoken");
    if (o->emu->sts_token && (!token || strcmp(token, o->emu->sts_token) != 0))
        return ots_fail(c, 403, "OTSAuthFailed", "The security token is invalid or expired.");
    for (i = 0; i < req->header_count; i++) {
        hdrs[i].name = req->headers[i].name;
        hdrs[i].value = req->headers[i].value;
    }
    if (otssign_request_check(o->emu->key_secret, req->path, "POST", hdrs, req->header_count,
                              &err) < 0)
        return ots_fail(c, 403, "OTSAuthFailed", "Signature mismatch.");
    return 0;
}

/* Status, the five headers of 1.4 (signed), and the body. */
static void
answer(struct ots *o, struct emu_req *req, struct ots_ctx *c, struct emu_resp *resp)
{
    Otsync__Ots__Error e = OTSYNC__OTS__ERROR__INIT;
    struct otssign_header h[4];
    char reqid[64], date[64], md5[OTSSIGN_MD5_LEN], auth[256];
    struct timeval tv;
    struct tm tm;

    if (c->status) {
        free(c->body);
        e.code = c->code;
        e.message = c->msg;
        c->len = otsync__ots__error__get_packed_size(&e);
        if (!(c->body = malloc(c->len ? c->len : 1))) {
            c->len = 0;
        } else {
            otsync__ots__error__pack(&e, c->body);
        }
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(date, sizeof(date), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
    snprintf(reqid, sizeof(reqid), "0005%08llx-emu-%012llx", (long long)tv.tv_sec,
             (unsigned long long)++o->request_seq);
    if (otssign_content_md5(c->body, c->len, md5, sizeof(md5), NULL) < 0)
        md5[0] = '\0';
    h[0] = (struct otssign_header){"x-ots-requestid", reqid};
    h[1] = (struct otssign_header){"x-ots-date", date};
    h[2] = (struct otssign_header){"x-ots-contentmd5", md5};
    h[3] = (struct otssign_header){"x-ots-contenttype", "protocol buffer"};
    for (size_t i = 0; i < 4; i++)
        emu_resp_header(resp, h[i].name, "%s", h[i].value);
    if (otssign_response_authorization(o->emu->key_id, o->emu->key_secret, req->path, h, 4, auth,
                                       sizeof(auth), NULL) == 0)
        emu_resp_header(resp, "authorization", "%s", auth);
    emu_resp_take(resp, c->status ? c->status : 200, c->body, c->len);
    c->body = NULL;
}

static void
ots_handle(void *state, struct emu_req *req, struct emu_resp *resp)
{
    struct ots *o = state;
    struct ots_ctx c;
    const char *op = req->op;
    const char *iname;

    memset(&c, 0, sizeof(c));
    c.now_ms = now_us(o) / 1000;
    c.partial = req->partial;
    if (strcmp(req->method, "POST") != 0) {
        ots_fail(&c, 405, "OTSMethodNotAllowed", "Only POST method is supported.");
        goto out;
    }
    if (authenticate(o, req, &c) < 0)
        goto out;
    iname = emu_req_header(req, "x-ots-instancename");
    c.inst = instance_find(o, iname);
    if (!c.inst && strcmp(op, "CreateTable") == 0 && !(c.inst = instance_add(o, iname))) {
        ots_fail(&c, 500, "OTSInternalServerError", "out of memory");
        goto out;
    }
    if (!c.inst) {
        ots_fail(&c, 403, "OTSAuthFailed", "The instance '%s' does not exist.", iname);
        goto out;
    }
    if (!strcmp(op, "CreateTable"))
        op_create_table(o, &c, req->body, req->body_len);
    else if (!strcmp(op, "ListTable"))
        op_list_table(o, &c);
    else if (!strcmp(op, "DeleteTable"))
        op_delete_table(o, &c, req->body, req->body_len);
    else if (!strcmp(op, "DescribeTable"))
        op_describe_table(o, &c, req->body, req->body_len);
    else if (!strcmp(op, "UpdateTable"))
        op_update_table(o, &c, req->body, req->body_len);
    else if (!strcmp(op, "GetRow"))
        ots_op_get_row(&c, req->body, req->body_len);
    else if (!strcmp(op, "PutRow"))
        ots_op_put_row(&c, req->body, req->body_len);
    else if (!strcmp(op, "UpdateRow"))
        ots_op_update_row(&c, req->body, req->body_len);
    else if (!strcmp(op, "DeleteRow"))
        ots_op_delete_row(&c, req->body, req->body_len);
    else if (!strcmp(op, "BatchGetRow"))
        ots_op_batch_get_row(&c, req->body, req->body_len);
    else if (!strcmp(op, "BatchWriteRow"))
        ots_op_batch_write_row(&c, req->body, req->body_len);
    else if (!strcmp(op, "GetRange"))
        ots_op_get_range(&c, req->body, req->body_len);
    else if (!strcmp(op, "ComputeSplitPointsBySize"))
        ots_op_split_points(&c, req->body, req->body_len);
    else if (!strcmp(op, "ListStream"))
        op_list_stream(o, &c, req->body, req->body_len);
    else if (!strcmp(op, "DescribeStream"))
        op_describe_stream(o, &c, req->body, req->body_len);
    else if (!strcmp(op, "GetShardIterator"))
        op_get_shard_iterator(o, &c, req->body, req->body_len);
    else if (!strcmp(op, "GetStreamRecord"))
        op_get_stream_record(o, &c, req->body, req->body_len);
    else
        ots_fail(&c, 400, "OTSParameterInvalid", "Unsupported operation: '%s'.", op);
out:
    answer(o, req, &c, resp);
}

static void
ots_error(void *state, struct emu_req *req, struct emu_resp *resp, unsigned status,
          const char *code, const char *message)
{
    struct ots_ctx c;

    memset(&c, 0, sizeof(c));
    ots_fail(&c, status, code[0] ? code : status >= 500 ? "OTSServerBusy" : "OTSParameterInvalid",
             "%s", message);
    answer(state, req, &c, resp);
}

/* --- values as JSON (admin dumps and --data) --- */

static json_t *
val_json(const struct ots_val *v)
{
    char *b64;
    json_t *o;

    switch (v->type) {
    case PB_INTEGER:
        return json_pack("{s:I}", "i", (json_int_t)v->u.i);
    case PB_DOUBLE:
        return json_pack("{s:f}", "d", v->u.d);
    case PB_BOOLEAN:
        return json_pack("{s:b}", "b", v->u.b);
    case PB_STRING:
    case PB_BINARY:
        /* base64 keeps any bytes, UTF-8 or not, exactly */
        if (!(b64 = malloc(4 * ((v->u.s.len + 2) / 3) + 1)))
            return NULL;
        sign_base64(v->u.s.p, v->u.s.len, b64);
        o = json_pack("{s:s}", v->type == PB_STRING ? "s" : "x", b64);
        free(b64);
        return o;
    default:
        return json_null();
    }
}

static int
val_of_json(const json_t *j, struct ots_val *v)
{
    const char *s;
    long n;

    memset(v, 0, sizeof(*v));
    if (json_object_get(j, "i")) {
        v->type = PB_INTEGER;
        v->u.i = json_integer_value(json_object_get(j, "i"));
    } else if (json_object_get(j, "d")) {
        v->type = PB_DOUBLE;
        v->u.d = json_number_value(json_object_get(j, "d"));
    } else if (json_object_get(j, "b")) {
        v->type = PB_BOOLEAN;
        v->u.b = json_is_true(json_object_get(j, "b"));
    } else if ((s = json_string_value(json_object_get(j, "s")))
               || (s = json_string_value(json_object_get(j, "x")))) {
        v->type = json_object_get(j, "s") ? PB_STRING : PB_BINARY;
        if (!(v->u.s.p = malloc(strlen(s) / 4 * 3 + 4)))
            return -1;
        if ((n = sign_unbase64(s, strlen(s), v->u.s.p)) < 0) {
            free(v->u.s.p);
            v->u.s.p = NULL;
            return -1;
        }
        v->u.s.len = (uint32_t)n;
        v->u.s.p[n] = '\0';
    } else {
        return -1;
    }
    return 0;
}

/* A row for dumps: {"pk": [...], "cols": {"name": [[ts, value], ...]}} with plain values. */
static json_t *
plain_json(const struct ots_val *v)
{
    switch (v->type) {
    case PB_INTEGER:
        return json_integer(v->u.i);
    case PB_DOUBLE:
        return json_real(v->u.d);
    case PB_BOOLEAN:
        return json_boolean(v->u.b);
    case PB_STRING: {
        json_t *s = json_stringn((const char *)v->u.s.p, v->u.s.len);
        return s ? s : val_json(v);
    }
    default:
        return val_json(v);
    }
}

static json_t *
row_json(const struct ots_row *row, bool plain)
{
    json_t *o = json_object(), *pk = json_array(), *cols = json_object(), *vers;
    uint32_t i, k;

    for (i = 0; i < row->pk_count; i++)
        json_array_append_new(pk, plain ? plain_json(&row->pk[i]) : val_json(&row->pk[i]));
    for (i = 0; i < row->col_count; i++) {
        vers = json_array();
        for (k = 0; k < row->cols[i].count; k++)
            json_array_append_new(vers, json_pack("[I,o]", (json_int_t)row->cols[i].vers[k].ts,
                                                  plain ? plain_json(&row->cols[i].vers[k].v)
                                                        : val_json(&row->cols[i].vers[k].v)));
        json_object_set_new(cols, row->cols[i].name, vers);
    }
    json_object_set_new(o, "pk", pk);
    json_object_set_new(o, "cols", cols);
    return o;
}

/* --- admin --- */

static struct ots_table *
admin_table(struct ots *o, struct emu_req *req, struct emu_resp *resp)
{
    const struct emu_kv *i = emu_req_arg(req, "instance"), *t = emu_req_arg(req, "table");
    struct ots_instance *inst = instance_find(o, i && i->value ? i->value : "");
    struct ots_table *tab = inst ? ots_table_find(inst, t && t->value ? t->value : "") : NULL;

    if (!tab)
        emu_resp_text(resp, 404, "text/plain", "no such instance or table\n");
    return tab;
}

static void
ots_admin(void *state, struct emu_req *req, const char *what, struct emu_resp *resp)
{
    struct ots *o = state;
    const struct emu_kv *a;
    struct ots_table *t;
    char msg[256];

    if (!strcmp(what, "instances") && !strcmp(req->method, "POST")) {
        a = emu_req_arg(req, "name");
        if (!a || !a->value || !*a->value)
            emu_resp_text(resp, 400, "text/plain", "name=INSTANCE is needed\n");
        else if (!instance_add(o, a->value))
            emu_resp_text(resp, 500, "text/plain", "out of memory\n");
        else
            emu_resp_text(resp, 200, "text/plain", "created\n");
        return;
    }
    if (!strcmp(what, "rows") && (t = admin_table(o, req, resp))) {
        json_t *rows = json_array();
        struct ots_pos pos = {0, 0};
        bool more = t->index.count > 0;

        while (more) {
            json_array_append_new(rows, row_json(ots_index_at(&t->index, &pos), true));
            more = ots_index_next(&t->index, &pos);
        }
        emu_resp_json(resp, 200, json_pack("{s:I,s:o}", "count", (json_int_t)t->index.rows,
                                           "rows", rows));
        return;
    }
    if (!strcmp(what, "shards") && (t = admin_table(o, req, resp))) {
        json_t *list = json_array();
        size_t i;

        for (i = 0; i < t->shard_count; i++)
            json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:b,s:I,s:I}", "id",
                                                  t->shards[i].id, "parent", t->shards[i].parent,
                                                  "parent_sibling", t->shards[i].parent_sibling,
                                                  "closed", t->shards[i].closed, "records",
                                                  (json_int_t)t->shards[i].count, "trimmed",
                                                  (json_int_t)t->shards[i].trimmed));
        emu_resp_json(resp, 200, json_pack("{s:o}", "shards", list));
        return;
    }
    if (!strcmp(what, "split-shard") && (t = admin_table(o, req, resp))) {
        a = emu_req_arg(req, "shard");
        if (ots_stream_split(t, a && a->value ? a->value : "", msg, sizeof(msg)) < 0)
            emu_resp_text(resp, 400, "text/plain", msg);
        else
            emu_resp_text(resp, 200, "text/plain", "split\n");
        return;
    }
    if (!strcmp(what, "merge-shards") && (t = admin_table(o, req, resp))) {
        const struct emu_kv *b = emu_req_arg(req, "b");

        a = emu_req_arg(req, "a");
        if (ots_stream_merge(t, a && a->value ? a->value : "", b && b->value ? b->value : "",
                             msg, sizeof(msg)) < 0)
            emu_resp_text(resp, 400, "text/plain", msg);
        else
            emu_resp_text(resp, 200, "text/plain", "merged\n");
        return;
    }
    if (!strcmp(what, "trim") && (t = admin_table(o, req, resp))) {
        a = emu_req_arg(req, "before_us");
        ots_stream_trim(t, now_us(o), a && a->value ? strtoll(a->value, NULL, 10) : now_us(o));
        emu_resp_text(resp, 200, "text/plain", "trimmed\n");
        return;
    }
    if (resp->status == 0)
        emu_resp_text(resp, 404, "text/plain", "no such admin call\n");
}

/* --- --data --- */

static json_t *
table_json(const struct ots_table *t)
{
    json_t *o = json_object(), *pk = json_array(), *def = json_array(), *rows = json_array();
    struct ots_pos pos = {0, 0};
    bool more = t->index.count > 0;
    size_t i, k;

    for (i = 0; i < t->pk_count; i++)
        json_array_append_new(pk, json_pack("{s:s,s:i,s:b}", "name", t->pk_names[i], "type",
                                            t->pk_types[i], "auto", t->pk_auto[i]));
    for (i = 0; i < t->defined_count; i++)
        json_array_append_new(def, json_pack("{s:s,s:i}", "name", t->defined_names[i], "type",
                                             t->defined_types[i]));
    while (more) {
        json_array_append_new(rows, row_json(ots_index_at((struct ots_index *)&t->index, &pos),
                                             false));
        more = ots_index_next((struct ots_index *)&t->index, &pos);
    }
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "pk", pk);
    json_object_set_new(o, "defined", def);
    json_object_set_new(o, "max_versions", json_integer(t->max_versions));
    json_object_set_new(o, "ttl", json_integer(t->ttl_s));
    json_object_set_new(o, "deviation", json_integer(t->deviation_s));
    json_object_set_new(o, "auto_inc", json_integer(t->auto_inc));
    json_object_set_new(o, "created_us", json_integer(t->created_us));
    json_object_set_new(o, "rows", rows);
    if (t->stream) {
        json_t *shards = json_array();

        for (i = 0; i < t->shard_count; i++) {
            const struct ots_shard *s = &t->shards[i];
            json_t *recs = json_array();

            for (k = s->trimmed; k < s->count; k++) {
                char *b64 = malloc(4 * ((s->recs[k].len + 2) / 3) + 1);

                if (!b64)
                    continue;
                sign_base64(s->recs[k].record, s->recs[k].len, b64);
                json_array_append_new(recs, json_pack("[i,I,s]", s->recs[k].action,
                                                      (json_int_t)s->recs[k].ts_us, b64));
                free(b64);
            }
            json_array_append_new(shards, json_pack(
                "{s:s,s:s,s:s,s:I,s:I,s:b,s:I,s:o}", "id", s->id, "parent", s->parent,
                "sibling", s->parent_sibling, "lo", (json_int_t)s->lo, "hi", (json_int_t)s->hi,
                "closed", s->closed, "trimmed", (json_int_t)s->trimmed, "records", recs));
        }
        json_object_set_new(o, "stream", json_pack(
            "{s:s,s:i,s:I,s:I,s:i,s:i,s:I,s:o}", "id", t->stream_id, "hours", t->stream_hours,
            "created_us", (json_int_t)t->stream_created_us, "enabled_us",
            (json_int_t)t->stream_last_enable, "epoch", (int)t->seq_epoch, "row_index",
            (int)t->seq_row_index, "last_ts_us", (json_int_t)t->last_ts_us, "shards", shards));
    }
    return o;
}

static int
ots_save(void *state, const char *dir)
{
    struct ots *o = state;
    json_t *root = json_object(), *insts = json_array();
    size_t i, k;
    char *text;
    int rc;

    for (i = 0; i < o->count; i++) {
        json_t *tables = json_array();

        for (k = 0; k < o->instances[i]->count; k++)
            json_array_append_new(tables, table_json(o->instances[i]->tables[k]));
        json_array_append_new(insts, json_pack("{s:s,s:o}", "name", o->instances[i]->name,
                                               "tables", tables));
    }
    json_object_set_new(root, "instances", insts);
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        return -1;
    rc = emu_save_file(dir, "ots.json", text, strlen(text));
    free(text);
    return rc;
}

static int
load_row(struct ots_table *t, const json_t *j)
{
    struct ots_row *row = calloc(1, sizeof(*row));
    const json_t *pk = json_object_get(j, "pk"), *vers, *ver;
    struct ots_val v;
    struct ots_pos pos;
    const char *name;
    size_t i, k;

    if (!row || json_array_size(pk) != t->pk_count)
        goto fail;
    for (i = 0; i < t->pk_count; i++) {
        if (val_of_json(json_array_get(pk, i), &row->pk[i]) < 0)
            goto fail;
        row->pk_count++;
    }
    json_object_foreach((json_t *)json_object_get(j, "cols"), name, vers) {
        json_array_foreach(vers, k, ver) {
            if (val_of_json(json_array_get(ver, 1), &v) < 0)
                goto fail;
            if (ots_row_put_cell(row, name, strlen(name),
                                 json_integer_value(json_array_get(ver, 0)), &v, 0) < 0) {
                ots_val_free(&v);
                goto fail;
            }
        }
    }
    ots_row_resize(row);
    if (ots_index_find(&t->index, row->pk, t->pk_count, &pos)
        || ots_index_insert(&t->index, &pos, row) < 0)
        goto fail;
    return 0;
fail:
    ots_row_free(row);
    return -1;
}

static int
load_stream(struct ots_table *t, const json_t *s)
{
    const json_t *sh, *rec;
    size_t i, k;

    if (!s)
        return 0;
    t->stream = true;
    snprintf(t->stream_id, sizeof(t->stream_id), "%s",
             json_string_value(json_object_get(s, "id")) ?: "");
    t->stream_hours = (int32_t)json_integer_value(json_object_get(s, "hours"));
    t->stream_created_us = json_integer_value(json_object_get(s, "created_us"));
    t->stream_last_enable = json_integer_value(json_object_get(s, "enabled_us"));
    t->seq_epoch = (uint32_t)json_integer_value(json_object_get(s, "epoch"));
    t->seq_row_index = (uint32_t)json_integer_value(json_object_get(s, "row_index"));
    t->last_ts_us = json_integer_value(json_object_get(s, "last_ts_us"));
    json_array_foreach(json_object_get(s, "shards"), i, sh) {
        struct ots_shard *ns = realloc(t->shards, (t->shard_count + 1) * sizeof(*ns)), *x;
        const json_t *recs = json_object_get(sh, "records");

        if (!ns)
            return -1;
        t->shards = ns;
        x = &t->shards[t->shard_count++];
        memset(x, 0, sizeof(*x));
        snprintf(x->id, sizeof(x->id), "%s", json_string_value(json_object_get(sh, "id")) ?: "");
        snprintf(x->parent, sizeof(x->parent), "%s",
                 json_string_value(json_object_get(sh, "parent")) ?: "");
        snprintf(x->parent_sibling, sizeof(x->parent_sibling), "%s",
                 json_string_value(json_object_get(sh, "sibling")) ?: "");
        x->lo = (uint32_t)json_integer_value(json_object_get(sh, "lo"));
        x->hi = (uint32_t)json_integer_value(json_object_get(sh, "hi"));
        x->closed = json_is_true(json_object_get(sh, "closed"));
        /* the trimmed records are gone; their places stay, so saved iterators still mean the
         * same record */
        x->trimmed = (size_t)json_integer_value(json_object_get(sh, "trimmed"));
        x->cap = x->count = x->trimmed + json_array_size(recs);
        if (x->cap && !(x->recs = calloc(x->cap, sizeof(*x->recs))))
            return -1;
        json_array_foreach(recs, k, rec) {
            const char *b64 = json_string_value(json_array_get(rec, 2));
            struct ots_stream_rec *r = &x->recs[x->trimmed + k];
            long n;

            if (!b64 || !(r->record = malloc(strlen(b64) / 4 * 3 + 3)))
                return -1;
            if ((n = sign_unbase64(b64, strlen(b64), r->record)) < 0)
                return -1;
            r->len = (size_t)n;
            r->action = (int)json_integer_value(json_array_get(rec, 0));
            r->ts_us = json_integer_value(json_array_get(rec, 1));
        }
    }
    return 0;
}

static int
ots_load(void *state, const char *dir)
{
    struct ots *o = state;
    json_t *root, *inst, *tj, *col, *rj;
    json_error_t jerr;
    size_t len, i, k, n;
    char *text = emu_load_file(dir, "ots.json", &len);

    if (!text)
        return 0;       /* nothing saved yet */
    root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root) {
        log_error("%s/ots.json: %s (line %d)", dir, jerr.text, jerr.line);
        return -1;
    }
    json_array_foreach(json_object_get(root, "instances"), i, inst) {
        struct ots_instance *in = instance_add(o, json_string_value(json_object_get(inst,
                                                                                    "name")) ?: "");

        if (!in)
            goto fail;
        json_array_foreach(json_object_get(inst, "tables"), k, tj) {
            struct ots_table *t = calloc(1, sizeof(*t)), **nt;

            if (!t || !(t->name = strdup(json_string_value(json_object_get(tj, "name")) ?: "")))
                goto fail_table;
            json_array_foreach(json_object_get(tj, "pk"), n, col) {
                if (n >= OTS_MAX_PK)
                    goto fail_table;
                t->pk_names[n] = strdup(json_string_value(json_object_get(col, "name")) ?: "");
                t->pk_types[n] = (int)json_integer_value(json_object_get(col, "type"));
                t->pk_auto[n] = json_is_true(json_object_get(col, "auto"));
                t->pk_count++;
            }
            t->max_versions = (int32_t)json_integer_value(json_object_get(tj, "max_versions"));
            t->ttl_s = (int32_t)json_integer_value(json_object_get(tj, "ttl"));
            t->deviation_s = json_integer_value(json_object_get(tj, "deviation"));
            t->auto_inc = json_integer_value(json_object_get(tj, "auto_inc"));
            t->created_us = json_integer_value(json_object_get(tj, "created_us"));
            json_array_foreach(json_object_get(tj, "rows"), n, rj)
                if (load_row(t, rj) < 0)
                    goto fail_table;
            if (load_stream(t, json_object_get(tj, "stream")) < 0
                || !(nt = realloc(in->tables, (in->count + 1) * sizeof(*nt))))
                goto fail_table;
            in->tables = nt;
            in->tables[in->count++] = t;
            continue;
fail_table:
            log_error("%s/ots.json: table %zu of instance %s cannot be read", dir, k, in->name);
            table_free(t);
            goto fail;
        }
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    return -1;
}

static void
ots_destroy(void *state)
{
    struct ots *o = state;
    size_t i, k;

    for (i = 0; i < o->count; i++) {
        for (k = 0; k < o->instances[i]->count; k++)
            table_free(o->instances[i]->tables[k]);
        free(o->instances[i]->tables);
        free(o->instances[i]->name);
        free(o->instances[i]);
    }
    free(o->instances);
    free(o);
}

struct emu_service *
emu_ots_new(struct emu *emu)
{
    struct emu_service *svc = calloc(1, sizeof(*svc));
    struct ots *o = calloc(1, sizeof(*o));

    if (!svc || !o) {
        free(svc);
        free(o);
        return NULL;
    }
    o->emu = emu;
    svc->name = "ots";
    svc->emu = emu;
    svc->state = o;
    svc->op = ots_op;
    svc->handle = ots_handle;
    svc->error = ots_error;
    svc->admin = ots_admin;
    svc->save = ots_save;
    svc->load = ots_load;
    svc->destroy = ots_destroy;
    return svc;
}
