/*
 * ossconn.c - the oss plugins' connection: see ossconn.h.
 */
#include <stdlib.h>
#include <string.h>
#include "otsync/datasource.h"
#include "ossconn.h"

static void
noop_gone(void *arg)
{
    (void)arg;
}

void ossconn_close(struct ossconn *c, void (*gone)(void *arg), void *arg);

int
ossconn_open(uv_loop_t *loop, const struct datasources *set, const struct ossconn_conf *conf,
             const char *path, struct ossconn **ret_c, struct otsync_err *err)
{
    struct ossclient_conf oc;
    const struct datasource *ds = NULL;
    struct ossclient *probe = NULL;
    struct ossconn *c;
    int rc;

    *ret_c = NULL;
    memset(&oc, 0, sizeof(oc));
    if (conf->datasource[0]) {
        if (!(ds = datasources_find(set, conf->datasource)))
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.datasource: no datasource named '%s'"
                                  " in %s", path, conf->datasource,
                                  set ? set->path : "(no datasources file: give -d FILE)");
        if (ds->type != DATASOURCE_OSS)
            return otsync_err_set(err, OTSYNC_ECONFIG, "%s.datasource: '%s' is of type %s, not"
                                  " oss", path, conf->datasource, datasource_type_name(ds->type));
        oc.endpoint = ds->endpoint;
        oc.bucket = ds->bucket;
        oc.access_key_id = ds->access_key_id;
        oc.access_key_secret = ds->access_key_secret;
        oc.security_token = ds->security_token;
    } else {
        static const char *const names[] = {"endpoint", "accessId", "accessKey", "bucket"};
        const char *vals[] = {conf->endpoint, conf->access_id, conf->access_key, conf->bucket};
        size_t i;

        for (i = 0; i < 4; i++)
            if (!vals[i][0])
                return otsync_err_set(err, OTSYNC_ECONFIG, "%s.%s: required without a "
                                      "datasource", path, names[i]);
        oc.endpoint = conf->endpoint;
        oc.access_key_id = conf->access_id;
        oc.access_key_secret = conf->access_key;
        oc.security_token = conf->security_token;
    }
    if (conf->bucket[0])
        oc.bucket = conf->bucket;
    if (conf->security_token[0])
        oc.security_token = conf->security_token;
    if (conf->signature_version != 1 && conf->signature_version != 4)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s.signatureVersion: expected 1 or 4, got %d",
                              path, (int)conf->signature_version);
    oc.sign_version = (int)conf->signature_version;
    oc.region = conf->region[0] ? conf->region : NULL;
    /* the settings are checked before the HTTP client exists: its handles could not be
     * closed before open() returns, and a failed open leaves nothing behind */
    if ((rc = ossclient_new(loop, NULL, &oc, &probe, err)) < 0)
        return otsync_err_prefix(err, "%s", path);
    ossclient_free(probe);
    if (!(c = calloc(1, sizeof(*c))))
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    c->bucket = oc.bucket;
    if ((rc = net_new(loop, NULL, &c->net, err)) < 0) {
        free(c);
        return rc;
    }
    uv_timer_init(loop, &c->reaper);
    c->reaper.data = c;
    if ((rc = ossclient_new(loop, c->net, &oc, &c->client, err)) < 0) {
        /* out of memory only: the loop still frees the net, after this run */
        ossconn_close(c, noop_gone, NULL);
        return rc;
    }
    *ret_c = c;
    return 0;
}

static void
on_reaper_closed(uv_handle_t *h)
{
    struct ossconn *c = h->data;

    if (c->gone)
        c->gone(c->gone_arg);
    free(c);
}

void
ossconn_close(struct ossconn *c, void (*gone)(void *arg), void *arg)
{
    c->gone = gone;
    c->gone_arg = arg;
    ossclient_free(c->client);
    c->client = NULL;
    /* cancels what is left (the client dropped it), and frees itself once its handles closed */
    net_release(c->net);
    c->net = NULL;
    uv_close((uv_handle_t *)&c->reaper, on_reaper_closed);
}
