/*
 * registry.c - the one table of plugins: every name a job may use for each, and which of them
 * this build has.
 *
 * Owns: name mapping both ways (DataWorks' "stream"/"ots"/"odps" step types and DataX's
 * "streamreader"/"otswriter" names reach the same plugin) and the errors for names that are
 * unknown, used in the wrong role, or known but not built. Leaves to others: the plugins.
 *
 * The channels of PRODUCT.md name plugins that later issues bring; they are listed here
 * already so that a job naming one gets an honest "not available in this build" rather
 * than "unknown plugin".
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "plugin.h"

struct plugin_entry {
    const char *name;                       /* canonical: DataWorks' stepType */
    const char *reader_name;                /* DataX's name of the reader; NULL: no reader */
    const char *writer_name;                /* DataX's name of the writer; NULL: no writer */
    const struct otsync_reader_ops *reader; /* NULL: not in this build */
    const struct otsync_writer_ops *writer;
};

static const struct plugin_entry plugins[] = {
    {"stream", "streamreader", "streamwriter", &otsync_reader_stream, &otsync_writer_stream},
    {"ots", "otsreader", "otswriter", &otsync_reader_ots, &otsync_writer_ots},
    {"otsstream", "otsstreamreader", NULL, &otsync_reader_otsstream, NULL},
    {"oss", "ossreader", "osswriter", &otsync_reader_oss, &otsync_writer_oss},
    {"odps", NULL, "odpswriter", NULL, &otsync_writer_odps},
};

#define N_PLUGINS (sizeof(plugins) / sizeof(plugins[0]))

static const struct plugin_entry *
find(const char *name, bool *ret_as_reader, bool *ret_as_writer)
{
    const struct plugin_entry *p;
    size_t i;

    for (i = 0; i < N_PLUGINS; i++) {
        p = &plugins[i];
        *ret_as_reader = p->reader_name && strcasecmp(name, p->reader_name) == 0;
        *ret_as_writer = p->writer_name && strcasecmp(name, p->writer_name) == 0;
        if (strcasecmp(name, p->name) == 0 || *ret_as_reader || *ret_as_writer)
            return p;
    }
    return NULL;
}

/* "stream, ots, otsstream, oss": the canonical names of one role, for error messages. */
static void
list_role(bool reader, char *buf, size_t len)
{
    size_t i, n = 0;
    int k;

    buf[0] = '\0';
    for (i = 0; i < N_PLUGINS; i++) {
        if (!(reader ? plugins[i].reader_name : plugins[i].writer_name))
            continue;
        k = snprintf(buf + n, len - n, "%s%s", n ? ", " : "", plugins[i].name);
        if (k < 0 || (size_t)k >= len - n)
            return;
        n += (size_t)k;
    }
}

static int
lookup(const char *name, bool reader, const void **ret_ops, struct otsync_err *err)
{
    const char *role = reader ? "reader" : "writer";
    bool as_reader, as_writer;
    const struct plugin_entry *p = find(name, &as_reader, &as_writer);
    char known[256];

    list_role(reader, known, sizeof(known));
    if (!p)
        return otsync_err_set(err, OTSYNC_ECONFIG, "unknown %s plugin '%s' (%ss: %s)", role, name,
                              role, known);
    if ((reader && as_writer) || (!reader && as_reader)
        || !(reader ? p->reader_name : p->writer_name))
        return otsync_err_set(err, OTSYNC_ECONFIG, "'%s' is not a %s plugin (%ss: %s)", name, role,
                              role, known);
    *ret_ops = reader ? (const void *)p->reader : (const void *)p->writer;
    if (!*ret_ops)
        return otsync_err_set(err, OTSYNC_ECONFIG, "%s plugin '%s' is not available in this build",
                              role, p->name);
    return 0;
}

int
registry_find_reader(const char *name, const struct otsync_reader_ops **ret_ops,
                     struct otsync_err *err)
{
    const void *ops = NULL;
    int rc;

    if ((rc = lookup(name, true, &ops, err)) < 0)
        return rc;
    *ret_ops = ops;
    return 0;
}

int
registry_find_writer(const char *name, const struct otsync_writer_ops **ret_ops,
                     struct otsync_err *err)
{
    const void *ops = NULL;
    int rc;

    if ((rc = lookup(name, false, &ops, err)) < 0)
        return rc;
    *ret_ops = ops;
    return 0;
}
