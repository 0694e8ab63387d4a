/*
 * config.c - the daemon's own configuration (otsyncd.yaml): paths, timezone, limits. Every
 * mistake is reported with file:line:col; relative paths are made absolute against the
 * config file's directory so the daemon never depends on its working directory.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "otsync/catalog.h"
#include "otsync/log.h"
#include "yamlnode.h"

static const char *const config_keys[] = {"state_dir", "socket", "catalogue", "datasources",
                                          "timezone", "max_running", "runner", "log_level",
                                          "shutdown_grace", NULL};

/* dir + "/" + p unless p is absolute; returns new. */
static char *
absolute(const char *dir, const char *p)
{
    size_t n;
    char *out;

    if (p[0] == '/')
        return strdup(p);
    n = strlen(dir) + strlen(p) + 2;
    if ((out = malloc(n)))
        snprintf(out, n, "%s/%s", dir, p);
    return out;
}

static void
set_path(struct yfile *f, yaml_node_t *root, const char *key, const char *dir, char **ret)
{
    yaml_node_t *v = yget(f, root, key);
    const char *s;

    if (!v)
        return;
    if (!(s = yscalar(f, v, key)))
        return;
    if (!*s) {
        diag_error(f->d, ymark(f, v), "%s: must not be empty", key);
        return;
    }
    free(*ret);
    *ret = absolute(dir, s);
}

int
daemon_config_load(const char *path, struct diag *d, struct daemon_config *ret_conf)
{
    struct daemon_config c;
    char dirbuf[PATH_MAX], cwd[PATH_MAX], abs_path[PATH_MAX];
    const char *dir;
    struct yfile f;
    yaml_node_t *root, *v;
    size_t before = d->errors;
    bool loaded;
    long l;

    memset(&c, 0, sizeof(c));
    if ((path[0] != '/' && getcwd(cwd, sizeof(cwd))
         ? snprintf(abs_path, sizeof(abs_path), "%s/%s", cwd, path)
         : snprintf(abs_path, sizeof(abs_path), "%s", path)) >= (int)sizeof(abs_path)) {
        diag_error(d, (struct otsync_mark){path, 0, 0}, "path too long");
        return -OTSYNC_ECONFIG;
    }
    snprintf(dirbuf, sizeof(dirbuf), "%s", abs_path);
    dir = dirname(dirbuf);
    c.path = strdup(abs_path);
    c.state_dir = strdup("/var/lib/otsync");
    c.socket = strdup("/run/otsync/otsyncd.sock");
    c.catalogue = absolute(dir, "tasks.d/*.yaml");
    c.datasources = absolute(dir, "datasources.yaml");
    c.max_running = 8;
    c.log_level = LOG_INFO;
    c.shutdown_grace_s = 60;

    root = yfile_load(&f, c.path, NULL, d);
    if (root && root->type != YAML_MAPPING_NODE) {
        diag_error(d, ymark(&f, root), "the daemon configuration must be a mapping");
    } else if (root) {
        ycheck_keys(&f, root, "otsyncd", config_keys);
        set_path(&f, root, "state_dir", dir, &c.state_dir);
        set_path(&f, root, "socket", dir, &c.socket);
        set_path(&f, root, "catalogue", dir, &c.catalogue);
        set_path(&f, root, "datasources", dir, &c.datasources);
        set_path(&f, root, "runner", dir, &c.runner);
        if ((v = yget(&f, root, "timezone"))) {
            const char *s = yscalar(&f, v, "timezone");
            char zone[PATH_MAX];
            struct stat st;
            snprintf(zone, sizeof(zone), "/usr/share/zoneinfo/%s", s ? s : "");
            if (s && (!*s || strstr(s, "..") || s[0] == '/' || stat(zone, &st) < 0
                      || !S_ISREG(st.st_mode)))
                diag_error(d, ymark(&f, v), "timezone: unknown zone '%s' (an IANA name such as "
                           "Asia/Shanghai)", s);
            else if (s)
                c.timezone = strdup(s);
        }
        if ((v = yget(&f, root, "max_running"))
            && yget_int(&f, v, "max_running", 1, 10000, &l) == 0)
            c.max_running = (int)l;
        if ((v = yget(&f, root, "shutdown_grace"))
            && yget_duration(&f, v, "shutdown_grace", 0, 86400, &l) == 0)
            c.shutdown_grace_s = (int)l;
        if ((v = yget(&f, root, "log_level"))) {
            const char *s = yscalar(&f, v, "log_level");
            int lvl = s ? log_level_parse(s) : -1;
            if (s && lvl < 0)
                diag_error(d, ymark(&f, v), "log_level: '%s' is not one of error, warning, "
                           "notice, info, debug", s);
            else if (s)
                c.log_level = lvl;
        }
    }
    loaded = f.loaded;
    yfile_fini(&f);
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
