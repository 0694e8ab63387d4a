/*
 * yamlnode.c - libyaml document helpers for the configuration loaders: every node keeps its
 * mark, so checks made after parsing still point at file:line:col (STYLE.md). Leaves the
 * meaning of keys to the loaders (catalog.c, config.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "yamlnode.h"

yaml_node_t *
yfile_load(struct yfile *f, const char *path, const char *text, struct diag *d)
{
    yaml_parser_t parser;
    FILE *fp = NULL;
    yaml_node_t *root = NULL;

    memset(f, 0, sizeof(*f));
    f->name = path;
    f->d = d;
    if (!yaml_parser_initialize(&parser)) {
        diag_error(d, (struct otsync_mark){path, 0, 0}, "out of memory");
        return NULL;
    }
    if (text) {
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    } else {
        if (!(fp = fopen(path, "rb"))) {
            diag_error(d, (struct otsync_mark){path, 0, 0}, "cannot open: %s", strerror(errno));
            yaml_parser_delete(&parser);
            return NULL;
        }
        yaml_parser_set_input_file(&parser, fp);
    }
    if (!yaml_parser_load(&parser, &f->doc)) {
        struct otsync_mark m = {path, (unsigned)parser.problem_mark.line + 1,
                                (unsigned)parser.problem_mark.column + 1};
        diag_error(d, m, "YAML syntax: %s%s%s", parser.problem ? parser.problem : "error",
                   parser.context ? " " : "", parser.context ? parser.context : "");
    } else {
        f->loaded = true;
        root = yaml_document_get_root_node(&f->doc);
    }
    yaml_parser_delete(&parser);
    if (fp)
        fclose(fp);
    return root;
}

void
yfile_fini(struct yfile *f)
{
    if (f->loaded)
        yaml_document_delete(&f->doc);
    f->loaded = false;
}

yaml_node_t *
ynode(struct yfile *f, int index)
{
    return yaml_document_get_node(&f->doc, index);
}

struct otsync_mark
ymark(const struct yfile *f, const yaml_node_t *n)
{
    struct otsync_mark m = {f->name, (unsigned)n->start_mark.line + 1,
                            (unsigned)n->start_mark.column + 1};
    return m;
}

struct otsync_mark
ymark_at(const struct yfile *f, const yaml_node_t *n, size_t offset)
{
    struct otsync_mark m = ymark(f, n);

    if (n->type == YAML_SCALAR_NODE && (n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE
                                        || n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE))
        m.col++;
    m.col += (unsigned)offset;
    return m;
}

bool
yplain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

const char *
yscalar(struct yfile *f, const yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        diag_error(f->d, ymark(f, n), "%s: expected a string, got a %s", what,
                   n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

int
yget_bool(struct yfile *f, const yaml_node_t *n, const char *what, bool *ret)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off", NULL};
    const char *s = yscalar(f, n, what);
    int i;

    if (!s)
        return -1;
    for (i = 0; yes[i]; i++)
        if (strcmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
    for (i = 0; no[i]; i++)
        if (strcmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    diag_error(f->d, ymark(f, n), "%s: expected true or false, got '%s'", what, s);
    return -1;
}

static int
parse_long(const char *s, long *ret, char **ret_end)
{
    errno = 0;
    *ret = strtol(s, ret_end, 10);
    return (errno || *ret_end == s) ? -1 : 0;
}

int
yget_int(struct yfile *f, const yaml_node_t *n, const char *what, long lo, long hi, long *ret)
{
    const char *s = yscalar(f, n, what);
    char *end;
    long v;

    if (!s)
        return -1;
    if (parse_long(s, &v, &end) < 0 || *end) {
        diag_error(f->d, ymark(f, n), "%s: expected an integer, got '%s'", what, s);
        return -1;
    }
    if (v < lo || v > hi) {
        diag_error(f->d, ymark(f, n), "%s: %ld out of range %ld-%ld", what, v, lo, hi);
        return -1;
    }
    *ret = v;
    return 0;
}

int
yget_duration(struct yfile *f, const yaml_node_t *n, const char *what, long lo, long hi,
              long *ret)
{
    const char *s = yscalar(f, n, what);
    char *end;
    long v, mult = 1;

    if (!s)
        return -1;
    if (parse_long(s, &v, &end) < 0 || v < 0) {
        diag_error(f->d, ymark(f, n), "%s: expected a duration such as 90s, 2m or 1h, got '%s'",
                   what, s);
        return -1;
    }
    if (*end == 's')
        end++;
    else if (*end == 'm' && end[1] == '\0')
        mult = 60, end++;
    else if (*end == 'h')
        mult = 3600, end++;
    else if (*end == 'd')
        mult = 86400, end++;
    if (*end || v > LONG_MAX / mult) {
        diag_error(f->d, ymark(f, n), "%s: expected a duration such as 90s, 2m or 1h, got '%s'",
                   what, s);
        return -1;
    }
    v *= mult;
    if (v < lo || v > hi) {
        diag_error(f->d, ymark(f, n), "%s: %ld s out of range %ld-%ld s", what, v, lo, hi);
        return -1;
    }
    *ret = v;
    return 0;
}

int
yget_hhmm(struct yfile *f, const yaml_node_t *n, const char *what, int *ret)
{
    const char *s = yscalar(f, n, what);
    int h, m, len = 0;

    if (!s)
        return -1;
    /* a plain 5:30 in YAML 1.1 may be read as sexagesimal by other tools; we take the text */
    if (sscanf(s, "%2d:%2d%n", &h, &m, &len) != 2 || s[len] || h < 0 || h > 23 || m < 0
        || m > 59) {
        diag_error(f->d, ymark(f, n), "%s: expected a time of day HH:MM, got '%s'", what, s);
        return -1;
    }
    *ret = h * 60 + m;
    return 0;
}

static json_t *
scalar_to_json(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    char *end;

    if (!yplain(n))
        return json_string(s);
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    if (!strcmp(s, "null") || !strcmp(s, "~") || !*s)
        return json_null();
    if (*s) {
        long long v;
        double d;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (!*end && !errno)
            return json_integer(v);
        d = strtod(s, &end);
        if (!*end && (s[0] == '-' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
            return json_real(d);
    }
    return json_string(s);
}

json_t *
yto_json(struct yfile *f, const yaml_node_t *n)
{
    json_t *out = NULL;

    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar_to_json(n);
    case YAML_SEQUENCE_NODE: {
        yaml_node_item_t *it;
        if (!(out = json_array()))
            return NULL;
        for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            json_t *v = yto_json(f, ynode(f, *it));
            if (!v || json_array_append_new(out, v) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    case YAML_MAPPING_NODE: {
        yaml_node_pair_t *p;
        if (!(out = json_object()))
            return NULL;
        for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = ynode(f, p->key);
            json_t *v;
            if (k->type != YAML_SCALAR_NODE) {
                diag_error(f->d, ymark(f, k), "a mapping key must be a string");
                json_decref(out);
                return NULL;
            }
            if (!(v = yto_json(f, ynode(f, p->value)))
                || json_object_set_new(out, (const char *)k->data.scalar.value, v) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    default:
        return json_null();
    }
}

void
ycheck_keys(struct yfile *f, const yaml_node_t *n, const char *who, const char *const *known)
{
    yaml_node_pair_t *p, *q;
    char list[512];
    size_t len = 0;
    int i;

    for (i = 0; known[i] && len < sizeof(list) - 1; i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "",
                                known[i]);
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode(f, p->key);
        const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        bool ok = false;

        for (i = 0; known[i]; i++)
            if (strcmp(key, known[i]) == 0)
                ok = true;
        if (!ok)
            diag_error(f->d, ymark(f, k), "%s: unknown key '%s' (known: %s)", who, key, list);
        for (q = n->data.mapping.pairs.start; ok && q < p; q++) {
            yaml_node_t *k2 = ynode(f, q->key);
            if (k2->type == YAML_SCALAR_NODE && strcmp((const char *)k2->data.scalar.value, key) == 0) {
                diag_error(f->d, ymark(f, k), "%s: key '%s' given twice", who, key);
                break;
            }
        }
    }
}

yaml_node_t *
yget(struct yfile *f, const yaml_node_t *n, const char *key)
{
    yaml_node_pair_t *p;

    if (n->type != YAML_MAPPING_NODE)
        return NULL;
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode(f, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return ynode(f, p->value);
    }
    return NULL;
}
