/*
 * ots-common.c - connection, schema, values and the readers' slice task for the Table Store
 * plugins: see ots-common.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "otsync/sign.h"
#include "tablestore.pb-c.h"
#include "ots-common.h"

int
otsp_open(struct otsp_conn *c, uv_loop_t *loop, const struct datasources *set,
          const char *path, const struct otsp_conn_conf *conf, const char *table,
          unsigned channels, struct otsync_err *err)
{
    struct ots_client_conf cc;
    struct net_opts no;
    const struct datasource *ds = NULL;
    int rc;

    memset(c, 0, sizeof(*c));
    memset(&cc, 0, sizeof(cc));
    if (conf->datasource[0]) {
        if (!(ds = datasources_find(set, conf->datasource)))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.datasource: no datasource named %s%s%s",
                                  path, conf->datasource, set ? " in " : " (no datasources file: "
                                  "give otsync-run -d FILE)", set ? set->path : "");
        if (ds->type != DATASOURCE_OTS)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.datasource: %s is of type %s, not "
                                  "ots", path, ds->name, datasource_type_name(ds->type));
        cc.endpoint = ds->endpoint;
        cc.instance = ds->instance;
        cc.key_id = ds->access_key_id;
        cc.secret = ds->access_key_secret;
        cc.sts_token = ds->security_token;
    } else {
        static const char *const names[] = {"endpoint", "accessId", "accessKey", "instanceName"};
        const char *vals[] = {conf->endpoint, conf->access_id, conf->access_key,
                              conf->instance_name};
        size_t i;

        for (i = 0; i < 4; i++)
            if (!vals[i][0])
                return otsync_err_set(err, OTSYNC_ECONFIG, "%s.%s: required without a "
                                      "datasource", path, names[i]);
        if (strncmp(conf->endpoint, "http://", 7) != 0
            && strncmp(conf->endpoint, "https://", 8) != 0)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.endpoint: expected an http:// or "
                                  "https:// URL, got \"%s\"", path, conf->endpoint);
        cc.endpoint = conf->endpoint;
        cc.instance = conf->instance_name;
        cc.key_id = conf->access_id;
        cc.secret = conf->access_key;
        cc.sts_token = conf->security_token[0] ? conf->security_token : NULL;
    }
    if (conf->max_retry_time < 1 || conf->max_retry_time > 100)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.maxRetryTime: must be 1 to 100, got %lld",
                              path, (long long)conf->max_retry_time);
    if (!table[0])
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.table: must not be empty", path);
    cc.max_attempts = (int)conf->max_retry_time;
    cc.attempt_timeout_ms = 30000;
    cc.deadline_ms = 300000;
    memset(&no, 0, sizeof(no));
    /* a request per channel, and a few more for batches in flight */
    no.max_connections = (long)channels * 4 + 4;
    if (!(c->table = strdup(table)))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    if ((rc = net_new(loop, &no, &c->net, err)) < 0
        || (rc = ots_client_new(c->net, &cc, &c->client, err)) < 0) {
        otsp_close(c);
        return rc;
    }
    return 0;
}

void
otsp_close(struct otsp_conn *c)
{
    unsigned i;

    ots_client_free(c->client);
    c->client = NULL;
    /* its handles close on the loop, which the engine runs once more after close() */
    net_release(c->net);
    c->net = NULL;
    for (i = 0; i < c->schema.count; i++)
        free(c->schema.names[i]);
    c->schema.count = 0;
    free(c->table);
    c->table = NULL;
}

struct describe {
    struct otsp_conn *c;
    otsp_schema_cb done;
    void *arg;
};

static void
on_described(void *arg, int rc, const uint8_t *body, size_t len, const struct ots_error *e,
             const struct otsync_err *err)
{
    struct describe *d = arg;
    struct otsp_conn *c = d->c;
    Otsync__Ots__DescribeTableResponse *r;
    struct otsync_err lerr;
    size_t i;

    (void)e;
    otsync_err_clear(&lerr);
    if (rc < 0) {
        d->done(d->arg, rc, err);
        free(d);
        return;
    }
    r = otsync__ots__describe_table_response__unpack(NULL, len, body);
    if (!r || !r->table_meta || r->table_meta->n_primary_key < 1
        || r->table_meta->n_primary_key > OTSP_MAX_PK) {
        rc = otsync_err_set(&lerr, OTSYNC_EPROTO, "Table Store DescribeTable %s: an answer "
                            "that does not decode", c->table);
    } else {
        for (i = 0; i < r->table_meta->n_primary_key; i++) {
            c->schema.names[i] = strdup(r->table_meta->primary_key[i]->name);
            c->schema.types[i] = r->table_meta->primary_key[i]->type;
            c->schema.autoinc[i] = r->table_meta->primary_key[i]->has_option;
            if (!c->schema.names[i])
                rc = otsync_err_set(&lerr, OTSYNC_ENOMEM, "out of memory");
            c->schema.count++;
        }
    }
    if (r)
        otsync__ots__describe_table_response__free_unpacked(r, NULL);
    d->done(d->arg, rc, rc < 0 ? &lerr : NULL);
    free(d);
}

int
otsp_describe(struct otsp_conn *c, otsp_schema_cb done, void *arg, struct otsync_err *err)
{
    Otsync__Ots__DescribeTableRequest req = OTSYNC__OTS__DESCRIBE_TABLE_REQUEST__INIT;
    struct describe *d = calloc(1, sizeof(*d));
    int rc;

    if (!d)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    d->c = c;
    d->done = done;
    d->arg = arg;
    req.table_name = c->table;
    if ((rc = ots_call(c->client, "DescribeTable", &req.base, true, on_described, d, err)) < 0)
        free(d);
    return rc;
}

int
otsp_value_to_record(struct otsync_batch *b, struct otsync_value *v, const struct pb_value *p,
                     struct otsync_err *err)
{
    switch (p->type) {
    case PB_INTEGER:
        otsync_value_set_int(b, v, p->u.i);
        return 0;
    case PB_DOUBLE:
        otsync_value_set_double(b, v, p->u.d);
        return 0;
    case PB_BOOLEAN:
        otsync_value_set_bool(b, v, p->u.b);
        return 0;
    case PB_STRING:
        return otsync_value_set_string(b, v, (const char *)p->u.bytes.ptr, p->u.bytes.len, err);
    case PB_BINARY:
        return otsync_value_set_binary(b, v, p->u.bytes.ptr, p->u.bytes.len, err);
    default:
        return 0;   /* INF_MIN/INF_MAX never come back in rows; null stays null */
    }
}

int
otsp_value_from_record(struct otsync_batch *b, struct otsync_value *v, enum pb_type want,
                       struct pb_value *ret_p, char why[static OTSYNC_CONVERT_WHY_MAX])
{
    enum otsync_type to;
    int rc;

    memset(ret_p, 0, sizeof(*ret_p));
    switch (want) {
    case PB_INTEGER: to = OTSYNC_TYPE_INT; break;
    case PB_DOUBLE: to = OTSYNC_TYPE_DOUBLE; break;
    case PB_BOOLEAN: to = OTSYNC_TYPE_BOOL; break;
    case PB_STRING: to = OTSYNC_TYPE_STRING; break;
    case PB_BINARY:
        /* a string's bytes are what a BINARY column stores; no conversion refuses them */
        to = v->type == OTSYNC_TYPE_STRING ? OTSYNC_TYPE_STRING : OTSYNC_TYPE_BINARY;
        break;
    default:
        snprintf(why, OTSYNC_CONVERT_WHY_MAX, "no such column type");
        return -OTSYNC_EINVAL;
    }
    if (v->type == OTSYNC_TYPE_NULL) {
        snprintf(why, OTSYNC_CONVERT_WHY_MAX, "null");
        return -OTSYNC_EINVAL;
    }
    if ((rc = otsync_value_convert(b, v, to, why)) < 0)
        return rc;
    ret_p->type = want;
    switch (v->type) {
    case OTSYNC_TYPE_INT: ret_p->u.i = v->u.i; break;
    case OTSYNC_TYPE_DATE: ret_p->u.i = v->u.date_ms; break;
    case OTSYNC_TYPE_DOUBLE: ret_p->u.d = v->u.d; break;
    case OTSYNC_TYPE_BOOL: ret_p->u.b = v->u.b; break;
    default:
        ret_p->u.bytes.ptr = (const unsigned char *)v->u.bytes.ptr;
        ret_p->u.bytes.len = (uint32_t)v->u.bytes.len;
        break;
    }
    return 0;
}

int
otsp_json_value(const json_t *j, const char *path, bool inf, struct pb_value *ret_p,
                unsigned char **ret_owned, struct otsync_err *err)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    const json_t *v = json_object_get(j, "value");
    const char *s;
    char *end;
    long n;

    *ret_owned = NULL;
    memset(ret_p, 0, sizeof(*ret_p));
    if (!json_is_object(j) || !type)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s: expected {\"type\": ..., \"value\": ...}",
                              path);
    if (!strcasecmp(type, "INF_MIN") || !strcasecmp(type, "INF_MAX")) {
        if (!inf)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.type: %s only bounds a range", path,
                                  type);
        ret_p->type = !strcasecmp(type, "INF_MIN") ? PB_INF_MIN : PB_INF_MAX;
        return 0;
    }
    if (!strcasecmp(type, "INT") || !strcasecmp(type, "INTEGER")) {
        ret_p->type = PB_INTEGER;
        if (json_is_integer(v))
            ret_p->u.i = json_integer_value(v);
        else if ((s = json_string_value(v)) && *s && (ret_p->u.i = strtoll(s, &end, 10), !*end))
            ;
        else
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.value: expected an integer", path);
        return 0;
    }
    if (!strcasecmp(type, "STRING") || !strcasecmp(type, "BINARY")) {
        if (!(s = json_string_value(v)))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.value: expected a string", path);
        if (!strcasecmp(type, "STRING")) {
            ret_p->type = PB_STRING;
            if (!(*ret_owned = (unsigned char *)strdup(s)))
                return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
            ret_p->u.bytes.len = (uint32_t)strlen(s);
        } else {
            /* DataX gives BINARY bounds and constants in base64 */
            ret_p->type = PB_BINARY;
            if (!(*ret_owned = malloc(strlen(s) / 4 * 3 + 3)))
                return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
            if ((n = sign_unbase64(s, strlen(s), *ret_owned)) < 0) {
                free(*ret_owned);
                *ret_owned = NULL;
                return otsync_err_set(err, OTSYNC_ECONFIG, "%s.value: expected base64", path);
            }
            ret_p->u.bytes.len = (uint32_t)n;
        }
        ret_p->u.bytes.ptr = *ret_owned;
        return 0;
    }
    if (!strcasecmp(type, "DOUBLE") && json_is_number(v)) {
        ret_p->type = PB_DOUBLE;
        ret_p->u.d = json_number_value(v);
        return 0;
    }
    if (!strcasecmp(type, "BOOL") || !strcasecmp(type, "BOOLEAN")) {
        ret_p->type = PB_BOOLEAN;
        ret_p->u.b = json_is_true(v) || ((s = json_string_value(v)) && !strcasecmp(s, "true"));
        return 0;
    }
    return otsync_err_set(err, OTSYNC_ECONFIG, "%s.type: expected INF_MIN, INF_MAX, STRING, "
                          "INT, BINARY, DOUBLE or BOOL, got \"%s\"", path, type);
}

/* --- a reader's slice --- */

static void
on_task_closed(uv_handle_t *h)
{
    free(h->data);
}

void
otsp_task_init(struct otsp_task *t, uv_loop_t *loop, const char *who,
               void (*release)(struct otsp_task *t, int rc), otsync_read_emit_cb emit,
               otsync_read_end_cb end, void *arg)
{
    t->who = who;
    t->release = release;
    t->emit = emit;
    t->end = end;
    t->arg = arg;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
}

void
otsp_task_end(struct otsp_task *t, int rc, const struct otsync_err *err)
{
    if (t->finished)
        return;
    t->finished = true;
    t->release(t, rc);
    uv_close((uv_handle_t *)&t->timer, on_task_closed);
    t->end(t->arg, rc, rc < 0 ? err : NULL);
}

void
otsp_task_end_canceled(struct otsp_task *t)
{
    struct otsync_err err;

    otsync_err_set(&err, OTSYNC_ECANCELED, "%s: canceled", t->who);
    otsp_task_end(t, -OTSYNC_ECANCELED, &err);
}

int
otsp_task_call(struct otsp_task *t, struct ots_client *c, const char *op,
               const ProtobufCMessage *req, ots_done_cb done, struct otsync_err *err)
{
    int rc;

    t->in_flight = true;
    if ((rc = ots_call(c, op, req, true, done, t, err)) < 0)
        t->in_flight = false;
    return rc;
}

bool
otsp_task_landed(struct otsp_task *t, int rc, const struct otsync_err *err)
{
    t->in_flight = false;
    if (rc < 0) {
        otsp_task_end(t, rc, err);
        return false;
    }
    if (t->canceled) {
        otsp_task_end_canceled(t);
        return false;
    }
    return true;
}

void
otsp_task_emit(struct otsp_task *t, struct otsync_batch *b)
{
    if (b && b->count)
        t->emit(t->arg, b);
    else
        otsync_batch_free(b);
}

bool
otsp_task_idle(const struct otsp_task *t)
{
    return !t->in_flight && !t->finished && !uv_is_active((const uv_handle_t *)&t->timer);
}

void
otsp_task_pause(struct otsync_reader *r, void *task)
{
    (void)r;
    ((struct otsp_task *)task)->paused = true;
}
