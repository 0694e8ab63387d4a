/*
 * datasource.c - loading the datasources file: see datasource.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "otsync/datasource.h"
#include "yamlnode.h"

#define SECRET_MAX 4096

static const char *const top_keys[] = {"datasources", NULL};
static const char *const entry_keys[] = {"type", "endpoint", "instance", "bucket", "project",
                                         "tunnel_endpoint", "access_key_id",
                                         "access_key_secret", "access_key_secret_file",
                                         "security_token", NULL};

const char *
datasource_type_name(enum datasource_type t)
{
    switch (t) {
    case DATASOURCE_OTS:
        return "ots";
    case DATASOURCE_OSS:
        return "oss";
    case DATASOURCE_ODPS:
        return "odps";
    }
    return "?";
}

static void
wipe(char *s)
{
    if (s) {
        /* a freed secret must not linger in the heap for a core dump to show */
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void
entry_fini(struct datasource *ds)
{
    free(ds->name);
    free(ds->endpoint);
    free(ds->instance);
    free(ds->bucket);
    free(ds->project);
    free(ds->tunnel_endpoint);
    free(ds->access_key_id);
    wipe(ds->access_key_secret);
    wipe(ds->security_token);
}

void
datasources_free(struct datasources *set)
{
    size_t i;

    if (!set)
        return;
    for (i = 0; i < set->count; i++)
        entry_fini(&set->items[i]);
    free(set->items);
    free(set->path);
    free(set);
}

const struct datasource *
datasources_find(const struct datasources *set, const char *name)
{
    size_t i;

    for (i = 0; set && name && i < set->count; i++)
        if (strcmp(set->items[i].name, name) == 0)
            return &set->items[i];
    return NULL;
}

/* A string value into *ret (new); an error when it is not a non-empty string. */
static int
take_string(struct yfile *f, yaml_node_t *v, const char *who, const char *key, char **ret)
{
    char what[300];
    const char *s;

    snprintf(what, sizeof(what), "%s.%s", who, key);
    if (!(s = yscalar(f, v, what)))
        return -1;
    if (!*s) {
        diag_error(f->d, ymark(f, v), "%s: must not be empty", what);
        return -1;
    }
    if (!(*ret = strdup(s)))
        return ynomem(f, v);
    return 0;
}

/* An http:// or https:// URL, as every service's endpoint must be. */
static void
check_url(struct yfile *f, yaml_node_t *v, const char *who, const char *key, const char *url)
{
    if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        diag_error(f->d, ymark(f, v), "%s.%s: expected an http:// or https:// URL, got \"%s\"",
                   who, key, url);
}

/*
 * Reads a secret file: refused when group or others may read or write it (ssh's rule for
 * keys), or when it is empty; the secret is its first line.
 */
static char *
read_secret(struct yfile *f, yaml_node_t *v, const char *who, const char *path)
{
    char buf[SECRET_MAX + 1], *nl, *out;
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP)
        fd = open(path, O_RDONLY | O_CLOEXEC);  /* a symlink is fine; its target is checked */
    if (fd < 0) {
        diag_error(f->d, ymark(f, v), "%s.access_key_secret_file: %s: %s", who, path,
                   strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_error(f->d, ymark(f, v), "%s.access_key_secret_file: %s: not a regular file", who,
                   path);
        close(fd);
        return NULL;
    }
    if (st.st_mode & 077) {
        diag_error(f->d, ymark(f, v), "%s.access_key_secret_file: %s: permissions %04o are too "
                   "open: group and others must have no access (chmod 600 %s)", who, path,
                   (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return NULL;
    }
    n = read(fd, buf, SECRET_MAX + 1);
    close(fd);
    if (n < 0 || n > SECRET_MAX) {
        diag_error(f->d, ymark(f, v), "%s.access_key_secret_file: %s: %s", who, path,
                   n < 0 ? strerror(errno) : "longer than any access key secret");
        explicit_bzero(buf, sizeof(buf));
        return NULL;
    }
    buf[n] = '\0';
    if ((nl = strpbrk(buf, "\r\n")))
        *nl = '\0';
    if (!buf[0]) {
        diag_error(f->d, ymark(f, v), "%s.access_key_secret_file: %s: empty", who, path);
        return NULL;
    }
    out = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    if (!out)
        ynomem(f, v);
    return out;
}

/* The required and the forbidden keys of each type. */
static void
check_entry(struct yfile *f, yaml_node_t *n, const char *who, struct datasource *ds)
{
    struct otsync_mark m = ymark(f, n);
    const char *need = NULL;

    if (!ds->endpoint)
        diag_error(f->d, m, "%s: endpoint is missing", who);
    if (!ds->access_key_id)
        diag_error(f->d, m, "%s: access_key_id is missing", who);
    if (!ds->access_key_secret && !yget(f, n, "access_key_secret_file"))
        diag_error(f->d, m, "%s: give access_key_secret_file (or access_key_secret)", who);
    switch (ds->type) {
    case DATASOURCE_OTS:
        if (!ds->instance)
            need = "instance";
        break;
    case DATASOURCE_OSS:
        if (!ds->bucket)
            need = "bucket";
        break;
    case DATASOURCE_ODPS:
        if (!ds->project)
            need = "project";
        break;
    }
    if (need)
        diag_error(f->d, m, "%s: a datasource of type %s needs %s", who,
                   datasource_type_name(ds->type), need);
#define ONLY(field, key, t) \
    if (ds->field && ds->type != (t)) \
        diag_error(f->d, ymark(f, yget(f, n, key)), "%s.%s: only for type %s", who, key, \
                   datasource_type_name(t))
    ONLY(instance, "instance", DATASOURCE_OTS);
    ONLY(bucket, "bucket", DATASOURCE_OSS);
    ONLY(project, "project", DATASOURCE_ODPS);
    ONLY(tunnel_endpoint, "tunnel_endpoint", DATASOURCE_ODPS);
#undef ONLY
}

static void
parse_entry(struct yfile *f, const char *name, yaml_node_t *n, bool world_readable,
            struct datasource *ds)
{
    char who[300];
    yaml_node_pair_t *p;
    bool typed = false;

    snprintf(who, sizeof(who), "datasource %s", name);
    ds->mark = ymark(f, n);
    if (n->type != YAML_MAPPING_NODE) {
        diag_error(f->d, ymark(f, n), "%s: expected a mapping of settings, got %s", who,
                   ykind(n));
        return;
    }
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = ykey(ynode(f, p->key));
        yaml_node_t *v = ynode(f, p->value);
        char *s = NULL;

        if (!ycheck_key(f, n, p, who, entry_keys))
            continue;
        if (strcmp(key, "type") == 0) {
            if (take_string(f, v, who, key, &s) < 0)
                continue;
            if (strcmp(s, "ots") == 0 || strcmp(s, "tablestore") == 0)
                ds->type = DATASOURCE_OTS;
            else if (strcmp(s, "oss") == 0)
                ds->type = DATASOURCE_OSS;
            else if (strcmp(s, "odps") == 0 || strcmp(s, "maxcompute") == 0)
                ds->type = DATASOURCE_ODPS;
            else
                diag_error(f->d, ymark(f, v), "%s.type: expected ots, oss or odps, got \"%s\"",
                           who, s);
            typed = strcmp(s, "ots") == 0 || strcmp(s, "tablestore") == 0
                    || strcmp(s, "oss") == 0 || strcmp(s, "odps") == 0
                    || strcmp(s, "maxcompute") == 0;
            free(s);
        } else if (strcmp(key, "endpoint") == 0) {
            if (take_string(f, v, who, key, &ds->endpoint) == 0)
                check_url(f, v, who, key, ds->endpoint);
        } else if (strcmp(key, "tunnel_endpoint") == 0) {
            if (take_string(f, v, who, key, &ds->tunnel_endpoint) == 0)
                check_url(f, v, who, key, ds->tunnel_endpoint);
        } else if (strcmp(key, "instance") == 0) {
            take_string(f, v, who, key, &ds->instance);
        } else if (strcmp(key, "bucket") == 0) {
            take_string(f, v, who, key, &ds->bucket);
        } else if (strcmp(key, "project") == 0) {
            take_string(f, v, who, key, &ds->project);
        } else if (strcmp(key, "access_key_id") == 0) {
            take_string(f, v, who, key, &ds->access_key_id);
        } else if (strcmp(key, "security_token") == 0) {
            take_string(f, v, who, key, &ds->security_token);
        } else if (strcmp(key, "access_key_secret") == 0) {
            if (world_readable) {
                diag_error(f->d, ymark(f, v), "%s.access_key_secret: %s is readable by others; "
                           "keep the secret in access_key_secret_file (mode 600), or chmod "
                           "o-r the file", who, f->name);
                continue;
            }
            if (yget(f, n, "access_key_secret_file")) {
                diag_error(f->d, ymark(f, v), "%s: give access_key_secret or "
                           "access_key_secret_file, not both", who);
                continue;
            }
            if (take_string(f, v, who, key, &s) == 0)
                ds->access_key_secret = s;
        } else if (strcmp(key, "access_key_secret_file") == 0) {
            if (take_string(f, v, who, key, &s) == 0) {
                ds->access_key_secret = read_secret(f, v, who, s);
                free(s);
            }
        }
    }
    if (!typed) {
        if (!yget(f, n, "type"))
            diag_error(f->d, ymark(f, n), "%s: type is missing (ots, oss or odps)", who);
        return;
    }
    check_entry(f, n, who, ds);
}

int
datasources_load(const char *path, struct datasources **ret_set, struct diag *d)
{
    struct datasources *set;
    size_t before = d->errors;
    yaml_node_t *root, *list;
    yaml_node_pair_t *p;
    struct stat st;
    struct yfile f;
    bool world_readable;
    int rc = 0;

    if (stat(path, &st) < 0 && errno == ENOENT)
        return -OTSYNC_ENOENT;
    world_readable = (st.st_mode & S_IROTH) != 0;
    if (!(set = calloc(1, sizeof(*set))) || !(set->path = strdup(path))) {
        free(set);
        return -OTSYNC_ENOMEM;
    }
    root = yfile_load(&f, path, NULL, d);
    if (!root) {
        if (f.loaded)
            goto done;  /* an empty file: no datasources */
        rc = -OTSYNC_ECONFIG;
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        diag_error(d, ymark(&f, root), "datasources: expected a mapping with the key "
                   "'datasources', got %s", ykind(root));
        goto done;
    }
    ycheck_keys(&f, root, "datasources file", top_keys);
    if (!(list = yget(&f, root, "datasources")))
        goto done;
    if (list->type != YAML_MAPPING_NODE) {
        if (!(list->type == YAML_SCALAR_NODE && !list->data.scalar.length))
            diag_error(d, ymark(&f, list), "datasources: expected a mapping of names to "
                       "connections, got %s", ykind(list));
        goto done;
    }
    set->items = calloc((size_t)(list->data.mapping.pairs.top - list->data.mapping.pairs.start),
                        sizeof(*set->items));
    if (!set->items && list->data.mapping.pairs.top != list->data.mapping.pairs.start) {
        rc = -OTSYNC_ENOMEM;
        goto done;
    }
    for (p = list->data.mapping.pairs.start; p < list->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode(&f, p->key);
        const char *name = ykey(k);
        struct datasource *ds = &set->items[set->count];

        if (!*name) {
            diag_error(d, ymark(&f, k), "datasources: a name must be a non-empty string");
            continue;
        }
        if (datasources_find(set, name)) {
            diag_error(d, ymark(&f, k), "datasources: %s is given twice", name);
            continue;
        }
        if (!(ds->name = strdup(name))) {
            rc = -OTSYNC_ENOMEM;
            goto done;
        }
        set->count++;
        parse_entry(&f, name, ynode(&f, p->value), world_readable, ds);
        ds->mark.file = set->path;
    }
done:
    yfile_fini(&f);
    if (rc == 0 && d->errors > before)
        rc = -OTSYNC_ECONFIG;
    if (rc < 0) {
        datasources_free(set);
        return rc;
    }
    *ret_set = set;
    return 0;
}
