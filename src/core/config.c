/*
 * config.c - the daemon's own configuration (otsyncd.yaml): paths, timezone, limits, log
 * level, with every mistake reported as file:line:col in one pass.
 *
 * Owns: the keys, their defaults and checks, and making relative paths absolute against the
 * config file's directory, so the daemon never depends on its working directory. Leaves to
 * others: the catalogue the `catalogue` glob names (catalog.c), acting on the values (the
 * daemon: TZ, the state directory, the runner).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "otsync/build.h"
#include "otsync/catalog.h"
#include "otsync/log.h"
#include "yamlnode.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"

static const char *const config_keys[] = {"state_dir", "socket", "catalogue", "datasources",
                                          "timezone", "max_running", "runner", "log_level",
                                          "shutdown_grace", "retention_days", "history_memory", NULL};

/* Returns new: dir/p, or p when it is absolute. */
static char *
absolute(const char *dir, const char *p)
{
    size_t n;
    char *out;

    if (p[0] == '/')
        return strdup(p);
    n = strlen(dir) + strlen(p) + 2;
    if ((out = malloc(n)))
        snprintf(out, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", p);
    return out;
}

/* Returns new: path made absolute against the working directory, without leading "./". */
static char *
absolute_config_path(const char *path)
{
    char *cwd, *out;

    if (path[0] == '/')
        return strdup(path);
    while (path[0] == '.' && path[1] == '/')
        for (path += 2; *path == '/'; path++)
            ;
    if (!(cwd = getcwd(NULL, 0)))
        return NULL;
    out = absolute(cwd, path);
    free(cwd);
    return out;
}

/* A path value: non-empty; made absolute against dir into *ret (replacing the default). */
static void
set_path(struct yfile *f, yaml_node_t *v, const char *key, const char *dir, char **ret)
{
    const char *s = yscalar(f, v, key);
    char *p;

    if (!s)
        return;
    if (!*s) {
        diag_error(f->d, ymark(f, v), "%s: must not be empty", key);
        return;
    }
    if (!(p = absolute(dir, s))) {
        ynomem(f, v);
        return;
    }
    free(*ret);
    *ret = p;
}

/* An IANA zone name that names a file under ZONEINFO_DIR, as the C library will read it. */
static void
set_timezone(struct yfile *f, yaml_node_t *v, char **ret)
{
    const char *s = yscalar(f, v, "timezone");
    struct stat st;
    char *path;
    size_t n;
    bool ok;

    if (!s)
        return;
    n = strlen(ZONEINFO_DIR) + strlen(s) + 2;
    if (!(path = malloc(n))) {
        ynomem(f, v);
        return;
    }
    snprintf(path, n, "%s/%s", ZONEINFO_DIR, s);
    /* a name, not a path: nothing that climbs out of the zoneinfo directory */
    ok = *s && s[0] != '/' && !strstr(s, "..") && stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    if (!ok) {
        diag_error(f->d, ymark(f, v), "timezone: unknown zone '%s' (an IANA name such as "
                   "Asia/Shanghai, a file under %s)", s, ZONEINFO_DIR);
        return;
    }
    free(*ret);
    if (!(*ret = strdup(s)))
        ynomem(f, v);
}

static void
set_log_level(struct yfile *f, yaml_node_t *v, int *ret)
{
    const char *s = yscalar(f, v, "log_level");
    int level;

    if (!s)
        return;
    if ((level = log_level_parse(s)) < 0)
        diag_error(f->d, ymark(f, v), "log_level: '%s' is not one of error, warning, notice, "
                   "info, debug", s);
    else
        *ret = level;
}

static void
parse_root(struct yfile *f, yaml_node_t *root, const char *dir, struct daemon_config *c)
{
    yaml_node_pair_t *p;
    long l;

    if (root->type != YAML_MAPPING_NODE) {
        diag_error(f->d, ymark(f, root), "otsyncd: expected a mapping of settings, got %s",
                   ykind(root));
        return;
    }
    for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const char *key = ykey(ynode(f, p->key));
        yaml_node_t *v = ynode(f, p->value);

        if (!ycheck_key(f, root, p, "otsyncd", config_keys))
            continue;
        if (strcmp(key, "state_dir") == 0)
            set_path(f, v, key, dir, &c->state_dir);
        else if (strcmp(key, "socket") == 0)
            set_path(f, v, key, dir, &c->socket);
        else if (strcmp(key, "catalogue") == 0)
            set_path(f, v, key, dir, &c->catalogue);
        else if (strcmp(key, "datasources") == 0)
            set_path(f, v, key, dir, &c->datasources);
        else if (strcmp(key, "runner") == 0)
            set_path(f, v, key, dir, &c->runner);
        else if (strcmp(key, "timezone") == 0)
            set_timezone(f, v, &c->timezone);
        else if (strcmp(key, "max_running") == 0 && yget_int(f, v, key, 1, 10000, &l) == 0)
            c->max_running = (int)l;
        else if (strcmp(key, "log_level") == 0)
            set_log_level(f, v, &c->log_level);
        else if (strcmp(key, "shutdown_grace") == 0
                 && yget_duration(f, v, key, 0, 86400, &l) == 0)
            c->shutdown_grace_s = (int)l;
        else if (strcmp(key, "retention_days") == 0 && yget_int(f, v, key, 1, 36500, &l) == 0)
            c->retention_days = (int)l;
        else if (strcmp(key, "history_memory") == 0
                 && yget_int(f, v, key, 10, 100000000, &l) == 0)
            c->history_memory = (size_t)l;
    }
}

int
daemon_config_load(const char *path, struct diag *d, struct daemon_config *ret_conf)
{
    struct daemon_config c;
    size_t before = d->errors;
    yaml_node_t *root;
    struct yfile f;
    char *dir, *slash;
    bool loaded;

    memset(&c, 0, sizeof(c));
    if (!(c.path = absolute_config_path(path))) {
        diag_error(d, (struct otsync_mark){path, 0, 0}, "cannot make the path absolute: %s",
                   strerror(errno));
        return -OTSYNC_ECONFIG;
    }
    if (!(dir = strdup(c.path))) {
        daemon_config_fini(&c);
        return -OTSYNC_ENOMEM;
    }
    slash = strrchr(dir, '/');
    slash[slash == dir] = '\0';     /* keep "/" for a file in the root directory */
    c.state_dir = strdup("/var/lib/otsync");
    c.socket = strdup("/run/otsync/otsyncd.sock");
    c.catalogue = absolute(dir, "tasks.d/*.yaml");
    c.datasources = absolute(dir, "datasources.yaml");
    c.max_running = 8;
    c.log_level = LOG_INFO;
    c.shutdown_grace_s = 60;
    c.retention_days = 30;
    c.history_memory = 20000;
    if (!c.state_dir || !c.socket || !c.catalogue || !c.datasources) {
        diag_error(d, (struct otsync_mark){c.path, 0, 0}, "out of memory");
        free(dir);
        daemon_config_fini(&c);
        return -OTSYNC_ENOMEM;
    }

    /* an empty file is a valid configuration: every default */
    if ((root = yfile_load(&f, c.path, NULL, d)))
        parse_root(&f, root, dir, &c);
    loaded = f.loaded;
    yfile_fini(&f);
    free(dir);
    if (d->errors > before || !loaded) {
        daemon_config_fini(&c);
        return -OTSYNC_ECONFIG;
    }
    *ret_conf = c;
    return 0;
}

void
daemon_config_fini(struct daemon_config *conf)
{
    free(conf->path);
    free(conf->state_dir);
    free(conf->socket);
    free(conf->catalogue);
    free(conf->datasources);
    free(conf->timezone);
    free(conf->runner);
    memset(conf, 0, sizeof(*conf));
}

char *
daemon_config_default_runner(void)
{
    char self[4096], path[4096 + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (n > 0) {
        self[n] = '\0';
        if ((slash = strrchr(self, '/'))) {
            *slash = '\0';
            snprintf(path, sizeof(path), "%s/otsync-run", self);
            if (access(path, X_OK) == 0)
                return strdup(path);
        }
    }
    return strdup(OTSYNC_LIBEXECDIR "/otsync-run");
}
