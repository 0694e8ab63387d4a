/*
 * yamlnode.c - libyaml document helpers for the configuration loaders: every node keeps its
 * mark, so checks made after parsing still point at file:line:col (STYLE.md), and every
 * failed conversion says which key and what was expected. Leaves the meaning of keys to the
 * loaders (catalog.c, config.c).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "yamlnode.h"

/* Reads a regular file whole; returns new (NUL-terminated) or NULL after an error in d. */
static char *
read_file(const char *path, size_t *ret_len, struct diag *d)
{
    struct otsync_mark m = {path, 0, 0};
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    FILE *fp;

    if (!(fp = fopen(path, "rb"))) {
        diag_error(d, m, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_error(d, m, "not a regular file");
        goto fail;
    }
    do {
        if (len + 1 >= cap) {
            char *nb;
            cap = cap ? cap * 2 : 8192;
            if (!(nb = realloc(buf, cap))) {
                diag_error(d, m, "out of memory");
                goto fail;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len - 1, fp);
        len += n;
    } while (n > 0);
    if (ferror(fp)) {
        diag_error(d, m, "cannot read: %s", strerror(errno));
        goto fail;
    }
    fclose(fp);
    buf[len] = '\0';
    *ret_len = len;
    return buf;
fail:
    free(buf);
    fclose(fp);
    return NULL;
}

/* 1-based line:col of byte `offset` of text (columns in characters, as libyaml counts). */
static struct otsync_mark
mark_of_offset(const char *name, const char *text, size_t len, size_t offset)
{
    struct otsync_mark m = {name, 1, 1};
    size_t i;

    for (i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            m.line++;
            m.col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            m.col++;
        }
    }
    return m;
}

static void
syntax_error(struct yfile *f, const yaml_parser_t *p, const char *text, size_t len)
{
    struct otsync_mark m = {f->name, (unsigned)(p->problem_mark.line + f->line_base) + 1,
                            (unsigned)p->problem_mark.column + 1};
    const char *problem = p->problem ? p->problem : "error";

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        ynomem(f, NULL);
        break;
    case YAML_READER_ERROR:
        /* the reader knows only a byte offset (invalid UTF-8, a control character) */
        diag_error(f->d, mark_of_offset(f->name, text, len, p->problem_offset), "YAML: %s",
                   problem);
        break;
    default:
        if (p->context)
            diag_error(f->d, m, "YAML syntax: %s %s", problem, p->context);
        else
            diag_error(f->d, m, "YAML syntax: %s", problem);
    }
}

yaml_node_t *
yfile_load(struct yfile *f, const char *path, const char *text, struct diag *d)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    char *buf = NULL;
    size_t len;

    memset(f, 0, sizeof(*f));
    f->name = path;
    f->d = d;
    if (text) {
        len = strlen(text);
    } else {
        if (!(buf = read_file(path, &len, d)))
            return NULL;
        text = buf;
    }
    if (!yaml_parser_initialize(&parser)) {
        ynomem(f, NULL);
        free(buf);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &f->doc)) {
        syntax_error(f, &parser, text, len);
    } else {
        f->loaded = true;
        /* yaml_parser_load would silently leave a second document unread: say so */
        if (!yaml_parser_load(&parser, &extra)) {
            syntax_error(f, &parser, text, len);
        } else {
            yaml_node_t *root = yaml_document_get_root_node(&extra);
            if (root)
                diag_error(d, ymark(f, root), "a second YAML document; a file holds one");
            yaml_document_delete(&extra);
        }
    }
    yaml_parser_delete(&parser);
    free(buf);
    return f->loaded ? yaml_document_get_root_node(&f->doc) : NULL;
}

char *
yread_file(const char *path, size_t *ret_len, struct diag *d)
{
    return read_file(path, ret_len, d);
}

/* Where one item of the list lies in the text. */
struct span {
    size_t start, end;      /* byte offsets */
    size_t line, column;    /* of start, 0-based */
};

/* Appends the span that starts at ev; false when out of memory. */
static bool
add_span(struct span **v, size_t *n, size_t *cap, const yaml_event_t *ev)
{
    struct span *nv;

    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        if (!(nv = realloc(*v, *cap * sizeof(**v))))
            return false;
        *v = nv;
    }
    (*v)[*n].start = ev->start_mark.index;
    (*v)[*n].end = ev->end_mark.index;     /* a container's end comes with its end event */
    (*v)[*n].line = ev->start_mark.line;
    (*v)[*n].column = ev->start_mark.column;
    (*n)++;
    return true;
}

/* Pass 1: the spans of the items, from events alone. 1 on the expected layout, 0 otherwise. */
static int
find_items(const char *text, size_t len, const char *key, struct span **ret, size_t *ret_n)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct span *v = NULL;
    size_t n = 0, cap = 0;
    int depth = 0, state = 0, result = 0;
    /* state: 0 before the root mapping, 1 at a root key, 2 at the value of `key`,
     * 3 inside the list, 4 after it (only the root's end may follow) */
    bool done = false;

    if (!yaml_parser_initialize(&parser))
        return -1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev))
            goto out;       /* a syntax error: yfile_load reports it */
        if ((ev.type == YAML_ALIAS_EVENT)
            || (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.anchor)
            || (ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor)
            || (ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor)) {
            yaml_event_delete(&ev);
            goto out;
        }
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (state != 5)
                goto fail;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            result = state == 5;
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (state == 0 && ev.type == YAML_MAPPING_START_EVENT) {
                state = 1;
            } else if (state == 2 && ev.type == YAML_SEQUENCE_START_EVENT) {
                state = 3;
            } else if (state == 3) {
                if (depth == 0)
                    goto item_start;
                depth++;
            } else {
                goto fail;
            }
            break;
        item_start:
            if (!add_span(&v, &n, &cap, &ev)) {
                yaml_event_delete(&ev);
                result = -1;
                goto out;
            }
            depth = 1;
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (state == 3 && depth > 0) {
                if (--depth == 0)
                    v[n - 1].end = ev.end_mark.index;
            } else if (state == 3 && ev.type == YAML_SEQUENCE_END_EVENT) {
                state = 4;
            } else if (state == 4 && ev.type == YAML_MAPPING_END_EVENT) {
                state = 5;
            } else {
                goto fail;
            }
            break;
        case YAML_SCALAR_EVENT:
            if (state == 1 && strcmp((const char *)ev.data.scalar.value, key) == 0) {
                state = 2;
            } else if (state == 3 && depth == 0) {
                /* a scalar item: its own document says what is wrong with it */
                if (!add_span(&v, &n, &cap, &ev)) {
                    yaml_event_delete(&ev);
                    result = -1;
                    goto out;
                }
            } else if (state != 3) {
                goto fail;      /* another root key, or `key` not a list */
            }
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        continue;
    fail:
        yaml_event_delete(&ev);
        goto out;
    }
out:
    yaml_parser_delete(&parser);
    if (result != 1) {
        free(v);
        return result;
    }
    *ret = v;
    *ret_n = n;
    return 1;
}

int
yfile_each_item(const char *path, const char *text, size_t len, const char *key,
                struct diag *d, void (*fn)(void *arg, struct yfile *f, yaml_node_t *item),
                void *arg)
{
    struct span *items = NULL;
    size_t n = 0, i, cap = 0;
    char *buf = NULL;
    int rc = find_items(text, len, key, &items, &n);

    if (rc != 1)
        return rc;
    for (i = 0; i < n; i++) {
        struct span *sp = &items[i];
        size_t need = sp->column + (sp->end - sp->start) + 2;
        yaml_parser_t parser;
        struct yfile f;
        yaml_node_t *root;
        if (need > cap) {
            char *nb = realloc(buf, need);
            if (!nb) {
                rc = -1;
                break;
            }
            buf = nb;
            cap = need;
        }
        /* the item at its own column, so the columns of every line stay the file's */
        memset(buf, ' ', sp->column);
        memcpy(buf + sp->column, text + sp->start, sp->end - sp->start);
        buf[need - 2] = '\n';
        buf[need - 1] = '\0';
        memset(&f, 0, sizeof(f));
        f.name = path;
        f.d = d;
        f.line_base = sp->line;
        if (!yaml_parser_initialize(&parser)) {
            rc = -1;
            break;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, need - 1);
        if (!yaml_parser_load(&parser, &f.doc)) {
            /* the whole file parsed, so its pieces do: should not happen; say where */
            syntax_error(&f, &parser, buf, need - 1);
        } else {
            f.loaded = true;
            if ((root = yaml_document_get_root_node(&f.doc)))
                fn(arg, &f, root);
        }
        yaml_parser_delete(&parser);
        yfile_fini(&f);
    }
    free(buf);
    free(items);
    return rc < 0 ? -1 : 1;
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
    struct otsync_mark m = {f->name, (unsigned)(n->start_mark.line + f->line_base) + 1,
                            (unsigned)n->start_mark.column + 1};
    return m;
}

struct otsync_mark
ymark_at(const struct yfile *f, const yaml_node_t *n, size_t offset)
{
    struct otsync_mark m = ymark(f, n);
    const unsigned char *v;
    size_t i, chars = 0, before = 0, quotes;

    if (n->type != YAML_SCALAR_NODE || n->start_mark.line != n->end_mark.line)
        return m;
    switch (n->data.scalar.style) {
    case YAML_PLAIN_SCALAR_STYLE:
        quotes = 0;
        break;
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        quotes = 2;
        break;
    default:
        return m;
    }
    v = n->data.scalar.value;
    for (i = 0; i < n->data.scalar.length; i++) {
        if ((v[i] & 0xc0) != 0x80) {
            chars++;
            if (i < offset)
                before++;
        }
    }
    /* libyaml's marks count characters; equal spans mean the source is the value verbatim */
    if (n->end_mark.index - n->start_mark.index != chars + quotes)
        return m;
    m.col += (unsigned)(quotes / 2 + before);
    return m;
}

const char *
ykind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return "a string";
    default:
        return "nothing";
    }
}

/* n's text, or NULL after "WHAT: expected EXPECTED, got a list" */
static const char *
scalar_as(struct yfile *f, const yaml_node_t *n, const char *what, const char *expected)
{
    if (n->type != YAML_SCALAR_NODE) {
        diag_error(f->d, ymark(f, n), "%s: expected %s, got %s", what, expected, ykind(n));
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

const char *
yscalar(struct yfile *f, const yaml_node_t *n, const char *what)
{
    return scalar_as(f, n, what, "a string");
}

static bool
one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};
static const char *const null_words[] = {"null", "Null", "NULL", "~", "", NULL};

int
yget_bool(struct yfile *f, const yaml_node_t *n, const char *what, bool *ret)
{
    /* YAML 1.1 also reads yes/no/on/off as booleans; people write them, so accept them */
    static const char *const yes[] = {"yes", "Yes", "YES", "on", "On", "ON", NULL};
    static const char *const no[] = {"no", "No", "NO", "off", "Off", "OFF", NULL};
    const char *s = scalar_as(f, n, what, "true or false");

    if (!s)
        return -1;
    if (one_of(s, true_words) || one_of(s, yes)) {
        *ret = true;
        return 0;
    }
    if (one_of(s, false_words) || one_of(s, no)) {
        *ret = false;
        return 0;
    }
    diag_error(f->d, ymark(f, n), "%s: expected true or false, got '%s'", what, s);
    return -1;
}

/* An optional sign and decimal digits; 0 with the value and where it stopped, or -1. */
static int
parse_long(const char *s, long *ret, const char **ret_end)
{
    const char *p = s;
    char *end;

    if (*p == '-' || *p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    *ret = strtol(s, &end, 10);
    *ret_end = end;
    return errno ? -1 : 0;
}

int
yget_int(struct yfile *f, const yaml_node_t *n, const char *what, long lo, long hi, long *ret)
{
    const char *s = scalar_as(f, n, what, "an integer"), *end;
    long v;

    if (!s)
        return -1;
    if (parse_long(s, &v, &end) < 0 || *end) {
        diag_error(f->d, ymark(f, n), "%s: expected an integer, got '%s'", what, s);
        return -1;
    }
    if (v < lo || v > hi) {
        diag_error(f->d, ymark(f, n), "%s: %ld is out of range %ld-%ld", what, v, lo, hi);
        return -1;
    }
    *ret = v;
    return 0;
}

int
yget_duration(struct yfile *f, const yaml_node_t *n, const char *what, long lo, long hi,
              long *ret)
{
    const char *s = scalar_as(f, n, what, "a duration"), *end;
    long v, mult = 1;

    if (!s)
        return -1;
    if (parse_long(s, &v, &end) < 0 || v < 0)
        goto bad;
    switch (*end) {
    case '\0':
    case 's':
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 86400;
        break;
    default:
        goto bad;
    }
    if ((*end && end[1]) || v > LONG_MAX / mult)
        goto bad;
    v *= mult;
    if (v < lo || v > hi) {
        diag_error(f->d, ymark(f, n), "%s: %ld seconds is out of range %ld-%ld", what, v, lo,
                   hi);
        return -1;
    }
    *ret = v;
    return 0;
bad:
    diag_error(f->d, ymark(f, n), "%s: expected a duration such as 90s, 2m or 1h, got '%s'",
               what, s);
    return -1;
}

int
yget_hhmm(struct yfile *f, const yaml_node_t *n, const char *what, int *ret)
{
    const char *s = scalar_as(f, n, what, "a time of day HH:MM"), *p;
    int h = 0;

    if (!s)
        return -1;
    /* the text as written: a YAML 1.1 reader would turn a plain 5:30 into 330 */
    for (p = s; *p >= '0' && *p <= '9' && p - s < 2; p++)
        h = h * 10 + (*p - '0');
    if (p == s || p[0] != ':' || p[1] < '0' || p[1] > '5' || p[2] < '0' || p[2] > '9' || p[3]
        || h > 23) {
        diag_error(f->d, ymark(f, n), "%s: expected a time of day HH:MM (00:00-23:59), got '%s'",
                   what, s);
        return -1;
    }
    *ret = h * 60 + (p[1] - '0') * 10 + (p[2] - '0');
    return 0;
}

/* [+-]digits[.digits][(e|E)[+-]digits] with at least one digit; *ret_integer: no . or e */
static bool
is_decimal(const char *s, bool *ret_integer)
{
    bool digits = false, integer = true;

    if (*s == '-' || *s == '+')
        s++;
    for (; *s >= '0' && *s <= '9'; s++)
        digits = true;
    if (*s == '.') {
        integer = false;
        for (s++; *s >= '0' && *s <= '9'; s++)
            digits = true;
    }
    if (digits && (*s == 'e' || *s == 'E')) {
        integer = false;
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    *ret_integer = integer;
    return digits && !*s;
}

static json_t *
scalar_to_json(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    bool integer;

    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_string(s);
    if (one_of(s, true_words))
        return json_true();
    if (one_of(s, false_words))
        return json_false();
    if (one_of(s, null_words))
        return json_null();
    if (is_decimal(s, &integer)) {
        double v;
        if (integer) {
            long long i;
            errno = 0;
            i = strtoll(s, NULL, 10);
            if (!errno)
                return json_integer(i);
        }
        /* past the range of an integer: a number all the same, as a JSON parser reads it */
        v = strtod(s, NULL);
        if (isfinite(v))
            return json_real(v);
    }
    return json_string(s);
}

struct conv {
    struct yfile *f;
    const char *what;
    size_t nodes;
};

static json_t *
to_json(struct conv *c, const yaml_node_t *n, int depth)
{
    struct yfile *f = c->f;
    json_t *out, *v;

    if (depth > YAML_MAX_DEPTH) {
        diag_error(f->d, ymark(f, n), "%s: nested more than %d levels deep (a recursive alias?)",
                   c->what, YAML_MAX_DEPTH);
        return NULL;
    }
    if (++c->nodes > YAML_MAX_NODES) {
        diag_error(f->d, ymark(f, n), "%s: more than %d values (aliases expanding?)", c->what,
                   YAML_MAX_NODES);
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        if (!(out = scalar_to_json(n)))
            ynomem(f, n);
        return out;
    case YAML_SEQUENCE_NODE: {
        yaml_node_item_t *it;
        if (!(out = json_array())) {
            ynomem(f, n);
            return NULL;
        }
        for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            if (!(v = to_json(c, ynode(f, *it), depth + 1)))
                goto fail;
            if (json_array_append_new(out, v) < 0) {
                ynomem(f, n);
                goto fail;
            }
        }
        return out;
    }
    case YAML_MAPPING_NODE: {
        yaml_node_pair_t *p;
        if (!(out = json_object())) {
            ynomem(f, n);
            return NULL;
        }
        for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = ynode(f, p->key);
            if (k->type != YAML_SCALAR_NODE) {
                diag_error(f->d, ymark(f, k), "%s: a key must be a string, not %s", c->what,
                           ykind(k));
                goto fail;
            }
            if (json_object_get(out, ykey(k))) {
                diag_error(f->d, ymark(f, k), "%s: key '%s' given twice", c->what, ykey(k));
                goto fail;
            }
            if (!(v = to_json(c, ynode(f, p->value), depth + 1)))
                goto fail;
            if (json_object_set_new(out, ykey(k), v) < 0) {
                ynomem(f, k);
                goto fail;
            }
        }
        return out;
    }
    default:
        diag_error(f->d, ymark(f, n), "%s: empty node", c->what);
        return NULL;
    }
fail:
    json_decref(out);
    return NULL;
}

json_t *
yto_json(struct yfile *f, const yaml_node_t *n, const char *what)
{
    struct conv c = {f, what, 0};

    return to_json(&c, n, 0);
}

bool
ycheck_key(struct yfile *f, const yaml_node_t *n, const yaml_node_pair_t *p, const char *who,
           const char *const *known)
{
    const yaml_node_t *k = ynode(f, p->key);
    const yaml_node_pair_t *q;
    const char *key = ykey(k);
    char list[512];
    size_t len = 0;
    int i;

    if (k->type != YAML_SCALAR_NODE) {
        diag_error(f->d, ymark(f, k), "%s: a key must be a string, not %s", who, ykind(k));
        return false;
    }
    if (!one_of(key, known)) {
        list[0] = '\0';
        for (i = 0; known[i]; i++) {
            int w = snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", known[i]);
            if (w < 0 || (size_t)w >= sizeof(list) - len)
                break;
            len += (size_t)w;
        }
        diag_error(f->d, ymark(f, k), "%s: unknown key '%s' (known: %s)", who, key, list);
        return false;
    }
    for (q = n->data.mapping.pairs.start; q < p; q++) {
        if (strcmp(ykey(ynode(f, q->key)), key) == 0) {
            diag_error(f->d, ymark(f, k), "%s: key '%s' given twice", who, key);
            return false;
        }
    }
    return true;
}

void
ycheck_keys(struct yfile *f, const yaml_node_t *n, const char *who, const char *const *known)
{
    yaml_node_pair_t *p;

    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
        ycheck_key(f, n, p, who, known);
}

const char *
ykey(const yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
}

static const yaml_node_pair_t *
find_pair(struct yfile *f, const yaml_node_t *n, const char *key)
{
    const yaml_node_pair_t *p;

    if (n->type != YAML_MAPPING_NODE)
        return NULL;
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode(f, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(ykey(k), key) == 0)
            return p;
    }
    return NULL;
}

yaml_node_t *
yget(struct yfile *f, const yaml_node_t *n, const char *key)
{
    const yaml_node_pair_t *p = find_pair(f, n, key);

    return p ? ynode(f, p->value) : NULL;
}

yaml_node_t *
yget_key(struct yfile *f, const yaml_node_t *n, const char *key)
{
    const yaml_node_pair_t *p = find_pair(f, n, key);

    return p ? ynode(f, p->key) : NULL;
}

int
ynomem(struct yfile *f, const yaml_node_t *n)
{
    struct otsync_mark m = {f->name, 0, 0};

    diag_error(f->d, n ? ymark(f, n) : m, "out of memory");
    return -1;
}
