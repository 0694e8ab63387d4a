/*
 * job.c - loads a job and checks all of it before anything runs.
 *
 * Owns: the three job forms, the generic check of parameters against a plugin's option table
 * (types, unknown keys, required keys, defaults), the settings (errorLimit, speed), and the
 * rendering of time variables into string values. Leaves to others: the meaning of each
 * parameter and the items of list parameters (the plugin's open()), running (main.c).
 *
 * Every error is collected, each naming its JSON path, so one run shows them all
 * (STYLE.md, "Configuration"). jansson keeps no positions for values, so only malformed JSON
 * gets a line:col; a JSON path is as exact for the rest.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "otsync/redact.h"
#include "job.h"

#define MAX_CHANNELS 1000   /* each channel will hold buffers and connections of its own */
#define SHOW_MAX 60         /* a value quoted in a message is cut after this many bytes */

/* The JSON path of the value being checked, grown and cut back as the walk goes. */
struct pathbuf {
    char *s;
    size_t len, cap;
    bool nomem;
};

struct checker {
    struct diag *d;
    struct otsync_err *err;
    const char *source;
    struct pathbuf path;
    unsigned errors;
};

static void
path_append(struct pathbuf *p, const char *s, size_t n)
{
    char *ns;
    size_t cap;

    if (p->len + n + 1 > p->cap) {
        cap = p->cap ? p->cap : 128;
        while (cap < p->len + n + 1)
            cap *= 2;
        if (!(ns = realloc(p->s, cap))) {
            p->nomem = true;
            return;
        }
        p->s = ns;
        p->cap = cap;
    }
    memcpy(p->s + p->len, s, n);
    p->len += n;
    p->s[p->len] = '\0';
}

/* Appends ".key" (or "key" at the top); returns the length to cut back to. */
static size_t
path_key(struct pathbuf *p, const char *key)
{
    size_t old = p->len;

    if (p->len)
        path_append(p, ".", 1);
    path_append(p, key, strlen(key));
    return old;
}

static size_t
path_index(struct pathbuf *p, size_t i)
{
    size_t old = p->len;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "[%zu]", i);

    path_append(p, buf, (size_t)n);
    return old;
}

static void
path_pop(struct pathbuf *p, size_t old)
{
    if (old <= p->len && p->s) {
        p->len = old;
        p->s[old] = '\0';
    }
}

static const char *
path_str(const struct pathbuf *p)
{
    return p->len ? p->s : "";
}

/* Records an error at the current path: in d for the log, and the first one in err. */
static void OTSYNC_PRINTF(2, 3)
bad(struct checker *c, const char *fmt, ...)
{
    struct otsync_mark m = {c->source, 0, 0};
    char msg[OTSYNC_ERR_MSG_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->path.len)
        diag_error(c->d, m, "%s: %s", path_str(&c->path), msg);
    else
        diag_error(c->d, m, "%s", msg);
    if (c->errors++ == 0) {
        if (c->path.len)
            otsync_err_set(c->err, OTSYNC_ECONFIG, "%s: %s", path_str(&c->path), msg);
        else
            otsync_err_set(c->err, OTSYNC_ECONFIG, "%s", msg);
    }
}

/* A value as the job wrote it, cut to SHOW_MAX bytes, for "got ..." in messages. */
static const char *
show(const json_t *v, char buf[static SHOW_MAX + 4])
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    size_t n;

    if (!s)
        return "a value";
    n = strlen(s);
    if (n > SHOW_MAX) {
        memcpy(buf, s, SHOW_MAX);
        memcpy(buf + SHOW_MAX, "...", 4);
    } else {
        memcpy(buf, s, n + 1);
    }
    free(s);
    return buf;
}

int
job_load(const char *path, const char *source, json_t **ret_root, struct diag *d,
         struct otsync_err *err)
{
    struct otsync_mark m = {source, 0, 0};
    bool from_stdin = !path || strcmp(path, "-") == 0;
    json_error_t jerr;
    struct stat st;
    json_t *root;
    FILE *f;

    f = from_stdin ? stdin : fopen(path, "r");
    if (!f) {
        otsync_err_errno(err, errno, "%s: cannot open the job", source);
        diag_error(d, m, "cannot open the job: %s", strerror(errno));
        return -OTSYNC_ECONFIG;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        diag_error(d, m, "is a directory, not a job file");
        otsync_err_set(err, OTSYNC_ECONFIG, "%s: is a directory, not a job file", source);
        if (!from_stdin)
            fclose(f);
        return -OTSYNC_ECONFIG;
    }
    /* duplicate keys are refused: DataX would silently keep the last one */
    root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    if (!from_stdin)
        fclose(f);
    if (!root) {
        m.line = jerr.line > 0 ? (unsigned)jerr.line : 0;
        m.col = jerr.column > 0 ? (unsigned)jerr.column : 0;
        diag_error(d, m, "malformed JSON: %s", jerr.text);
        if (m.col)
            otsync_err_set(err, OTSYNC_ECONFIG, "%s:%u:%u: malformed JSON: %s", source, m.line,
                           m.col, jerr.text);
        else
            otsync_err_set(err, OTSYNC_ECONFIG, "%s:%u: malformed JSON: %s", source, m.line,
                           jerr.text);
        return -OTSYNC_ECONFIG;
    }
    if (!json_is_object(root)) {
        char buf[SHOW_MAX + 4];
        diag_error(d, m, "a job is a JSON object, got %s", show(root, buf));
        otsync_err_set(err, OTSYNC_ECONFIG, "%s: a job is a JSON object, got %s", source,
                       show(root, buf));
        json_decref(root);
        return -OTSYNC_ECONFIG;
    }
    *ret_root = root;
    return 0;
}

static void
render(struct checker *c, json_t *v, const struct vars_ctx *ctx)
{
    struct vars_error verr;
    const char *key;
    json_t *item;
    size_t i, old;
    char *out;

    if (json_is_string(v)) {
        if (vars_render(json_string_value(v), ctx, &out, &verr) < 0) {
            bad(c, "%s", verr.msg);
            return;
        }
        if (json_string_set(v, out) < 0)
            bad(c, "rendered value is not valid UTF-8");
        free(out);
    } else if (json_is_object(v)) {
        json_object_foreach(v, key, item) {
            old = path_key(&c->path, key);
            render(c, item, ctx);
            path_pop(&c->path, old);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            old = path_index(&c->path, i);
            render(c, item, ctx);
            path_pop(&c->path, old);
        }
    }
}

int
job_render(json_t *root, const struct vars_ctx *ctx, const char *source, struct diag *d,
           struct otsync_err *err)
{
    struct checker c = {.d = d, .err = err, .source = source};

    render(&c, root, ctx);
    free(c.path.s);
    if (c.path.nomem)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory rendering the job");
    return c.errors ? -OTSYNC_ECONFIG : 0;
}

/* --- parameters against an option table --- */

static const char *
expected(enum otsync_opt_type t)
{
    switch (t) {
    case OTSYNC_OPT_BOOL: return "a boolean";
    case OTSYNC_OPT_INT: return "an integer";
    case OTSYNC_OPT_DOUBLE: return "a number";
    case OTSYNC_OPT_STRING: return "a string";
    case OTSYNC_OPT_ARRAY: return "an array";
    case OTSYNC_OPT_OBJECT: return "an object";
    }
    return "a value";
}

/* Whole-string integer: "12", "-3"; no spaces, no fraction, in range. */
static bool
parse_int(const char *s, int64_t *ret)
{
    char *end;
    long long n;

    if (!((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9')))
        return false;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *ret = n;
    return true;
}

static bool
parse_double(const char *s, double *ret)
{
    char *end;
    double d;

    if (!*s || *s == ' ' || *s == '\t' || *s == '\n')
        return false;
    errno = 0;
    d = strtod(s, &end);
    if (errno || *end || !isfinite(d))
        return false;
    *ret = d;
    return true;
}

/* Stores v at field as type t; false when v is not of that type (numbers may be strings). */
static bool
convert(json_t *v, enum otsync_opt_type t, void *field)
{
    const char *s = json_string_value(v);

    switch (t) {
    case OTSYNC_OPT_BOOL:
        if (json_is_boolean(v))
            *(bool *)field = json_is_true(v);
        else if (s && (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0))
            *(bool *)field = strcasecmp(s, "true") == 0;
        else
            return false;
        return true;
    case OTSYNC_OPT_INT:
        if (json_is_integer(v))
            *(int64_t *)field = json_integer_value(v);
        else
            return s && parse_int(s, (int64_t *)field);
        return true;
    case OTSYNC_OPT_DOUBLE:
        if (json_is_number(v))
            *(double *)field = json_number_value(v);
        else
            return s && parse_double(s, (double *)field);
        return true;
    case OTSYNC_OPT_STRING:
        if (!s)
            return false;
        *(const char **)field = s;
        return true;
    case OTSYNC_OPT_ARRAY:
    case OTSYNC_OPT_OBJECT:
        if (t == OTSYNC_OPT_ARRAY ? !json_is_array(v) : !json_is_object(v))
            return false;
        *(const json_t **)field = v;
        return true;
    }
    return false;
}

static void
list_keys(const struct otsync_option *opts, char *buf, size_t len)
{
    size_t n = 0;
    int k;

    buf[0] = '\0';
    for (; opts->key; opts++) {
        k = snprintf(buf + n, len - n, "%s%s", n ? ", " : "", opts->key);
        if (k < 0 || (size_t)k >= len - n)
            return;
        n += (size_t)k;
    }
}

/*
 * Checks obj (NULL: absent, same as {}) against opts and fills conf. ARRAY and OBJECT defaults
 * are parsed into defaults, which keeps them alive for the confs that point to them.
 */
static void
check_options(struct checker *c, json_t *obj, const struct otsync_option *opts, void *conf,
              json_t *defaults, const char *what)
{
    const struct otsync_option *o;
    char buf[SHOW_MAX + 4], known[512];
    const char *key;
    json_t *v, *dv;
    size_t old;

    if (obj && !json_is_object(obj)) {
        bad(c, "expected an object, got %s", show(obj, buf));
        return;
    }
    if (obj) {
        json_object_foreach(obj, key, v) {
            for (o = opts; o->key && strcmp(o->key, key) != 0; o++)
                ;
            if (o->key)
                continue;
            list_keys(opts, known, sizeof(known));
            old = path_key(&c->path, key);
            bad(c, "unknown %s (known: %s)", what, known);
            path_pop(&c->path, old);
        }
    }
    for (o = opts; o->key; o++) {
        void *field = (char *)conf + o->offset;

        old = path_key(&c->path, o->key);
        v = obj ? json_object_get(obj, o->key) : NULL;
        if (v) {
            /* a secret given as the wrong type is still a secret: never quoted */
            if (!convert(v, o->type, field))
                bad(c, "expected %s, got %s", expected(o->type),
                    redact_name(o->key) ? REDACTED : show(v, buf));
        } else if (!o->def) {
            bad(c, "required %s missing", what);
        } else if (o->type == OTSYNC_OPT_STRING) {
            *(const char **)field = o->def;
        } else {
            /* the table's own default: a mistake here is the plugin's, named as such */
            dv = json_loads(o->def, JSON_DECODE_ANY, NULL);
            if (!dv || !convert(dv, o->type, field))
                bad(c, "the plugin's default '%s' is not %s", o->def, expected(o->type));
            /* kept for the conf's lifetime: ARRAY and OBJECT fields point into it */
            if (dv && json_array_append_new(defaults, dv) < 0)
                c->path.nomem = true;
        }
        path_pop(&c->path, old);
    }
}

/* --- the shape of the job --- */

/* Unknown keys of an object whose keys are fixed ("configuration", a step...). */
static void
check_keys(struct checker *c, json_t *obj, const char *const *known)
{
    char list[256];
    const char *key;
    size_t i, n, old;
    json_t *v;
    int k;

    json_object_foreach(obj, key, v) {
        for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
            ;
        if (known[i])
            continue;
        list[0] = '\0';
        for (i = 0, n = 0; known[i]; i++) {
            k = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", known[i]);
            if (k < 0 || (size_t)k >= sizeof(list) - n)
                break;
            n += (size_t)k;
        }
        old = path_key(&c->path, key);
        bad(c, "unknown key (known: %s)", list);
        path_pop(&c->path, old);
    }
}

/* obj[key] if it is of the wanted type; NULL (and an error if required or mistyped) if not. */
static json_t *
member(struct checker *c, json_t *obj, const char *key, json_type type, bool required)
{
    json_t *v = json_object_get(obj, key);
    char buf[SHOW_MAX + 4];
    size_t old;

    if (v && json_typeof(v) == type)
        return v;
    old = path_key(&c->path, key);
    if (v)
        bad(c, "expected %s, got %s",
            type == JSON_OBJECT ? "an object" : type == JSON_ARRAY ? "an array" : "a string",
            show(v, buf));
    else if (required)
        bad(c, "required key missing");
    path_pop(&c->path, old);
    return NULL;
}

struct speed_conf {
    int64_t concurrent, channel;
    double mbps;
    bool throttle;
    int64_t record, byte;
};

static const struct otsync_option speed_options[] = {
    {"concurrent", OTSYNC_OPT_INT, offsetof(struct speed_conf, concurrent), "0",
     "parallel channels (DataWorks)"},
    {"channel", OTSYNC_OPT_INT, offsetof(struct speed_conf, channel), "0",
     "parallel channels (DataX)"},
    {"mbps", OTSYNC_OPT_DOUBLE, offsetof(struct speed_conf, mbps), "0",
     "byte-rate limit of the job in MiB/s; 0: none"},
    {"throttle", OTSYNC_OPT_BOOL, offsetof(struct speed_conf, throttle), "true",
     "false: mbps is not applied (DataWorks)"},
    {"record", OTSYNC_OPT_INT, offsetof(struct speed_conf, record), "0",
     "record-rate limit of the job in records/s; 0: none (DataX)"},
    {"byte", OTSYNC_OPT_INT, offsetof(struct speed_conf, byte), "0",
     "byte-rate limit in bytes/s, DataX's form of mbps; 0: none"},
    {NULL, 0, 0, NULL, NULL},
};

struct error_limit_conf {
    int64_t record;
    double percentage;
};

static const struct otsync_option error_limit_options[] = {
    {"record", OTSYNC_OPT_INT, offsetof(struct error_limit_conf, record), "0",
     "the job fails once more dirty records than this were met"},
    {"percentage", OTSYNC_OPT_DOUBLE, offsetof(struct error_limit_conf, percentage), "-1",
     "the job fails once dirty records exceed this fraction (0..1) of records read"},
    {NULL, 0, 0, NULL, NULL},
};

/* obj[key] is there and of type t (its type errors are reported elsewhere). */
static bool
given(json_t *obj, const char *key, enum otsync_opt_type t)
{
    json_t *v = json_object_get(obj, key);
    union { int64_t i; double d; bool b; const void *p; } scratch;

    return v && convert(v, t, &scratch);
}

/* A range error on setting.<group>.<key>: the current path is the setting's. */
static void OTSYNC_PRINTF(4, 5)
bad_at(struct checker *c, const char *group, const char *key, const char *fmt, ...)
{
    char msg[OTSYNC_ERR_MSG_LEN];
    size_t old = path_key(&c->path, group);
    va_list ap;

    path_key(&c->path, key);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bad(c, "%s", msg);
    path_pop(&c->path, old);
}

/* setting: {errorLimit: {record, percentage}, speed: {concurrent|channel, mbps, throttle}}. */
static void
check_setting(struct checker *c, struct job_plan *p, json_t *setting)
{
    static const char *const keys[] = {"errorLimit", "speed", NULL};
    struct speed_conf sp;
    struct error_limit_conf el;
    json_t *speed = NULL, *limit = NULL;
    size_t old, o2;

    memset(&sp, 0, sizeof(sp));
    memset(&el, 0, sizeof(el));
    old = path_key(&c->path, "setting");
    if (setting) {
        check_keys(c, setting, keys);
        limit = member(c, setting, "errorLimit", JSON_OBJECT, false);
        speed = member(c, setting, "speed", JSON_OBJECT, false);
    }
    o2 = path_key(&c->path, "errorLimit");
    check_options(c, limit, error_limit_options, &el, p->defaults, "key");
    path_pop(&c->path, o2);
    if (given(limit, "record", OTSYNC_OPT_INT) && el.record < 0)
        bad_at(c, "errorLimit", "record", "must be 0 or more, got %" PRId64, el.record);
    if (given(limit, "percentage", OTSYNC_OPT_DOUBLE)
        && !(el.percentage >= 0 && el.percentage <= 1))
        bad_at(c, "errorLimit", "percentage", "must be a fraction between 0 and 1, got %g",
               el.percentage);

    o2 = path_key(&c->path, "speed");
    check_options(c, speed, speed_options, &sp, p->defaults, "key");
    if (sp.concurrent >= 1 && sp.channel >= 1 && sp.concurrent != sp.channel)
        bad(c, "concurrent (%" PRId64 ") and channel (%" PRId64 ") disagree; give one",
            sp.concurrent, sp.channel);
    path_pop(&c->path, o2);
    if (given(speed, "concurrent", OTSYNC_OPT_INT)
        && (sp.concurrent < 1 || sp.concurrent > MAX_CHANNELS))
        bad_at(c, "speed", "concurrent", "must be between 1 and %d, got %" PRId64, MAX_CHANNELS,
               sp.concurrent);
    if (given(speed, "channel", OTSYNC_OPT_INT) && (sp.channel < 1 || sp.channel > MAX_CHANNELS))
        bad_at(c, "speed", "channel", "must be between 1 and %d, got %" PRId64, MAX_CHANNELS,
               sp.channel);
    if (sp.mbps < 0)
        bad_at(c, "speed", "mbps", "must be 0 (no limit) or more, got %g", sp.mbps);
    if (sp.record < 0)
        bad_at(c, "speed", "record", "must be 0 (no limit) or more, got %" PRId64, sp.record);
    if (sp.byte < 0)
        bad_at(c, "speed", "byte", "must be 0 (no limit) or more, got %" PRId64, sp.byte);
    if (sp.mbps > 0 && sp.byte > 0)
        bad_at(c, "speed", "byte", "mbps and byte both limit the byte rate; give one");
    path_pop(&c->path, old);

    p->channels = 1;
    if (sp.concurrent >= 1 && sp.concurrent <= MAX_CHANNELS)
        p->channels = (unsigned)sp.concurrent;
    else if (sp.channel >= 1 && sp.channel <= MAX_CHANNELS)
        p->channels = (unsigned)sp.channel;
    p->mbps = !sp.throttle ? 0 : sp.mbps > 0 ? sp.mbps
            : sp.byte > 0 ? (double)sp.byte / (1024.0 * 1024.0) : 0;
    p->records_per_s = sp.throttle && sp.record > 0 ? (double)sp.record : 0;
    /* the record limit (default 0) gives way when only a percentage is given; when both are
     * given the record limit wins, as in DataX */
    p->error_record = json_object_get(limit, "record") || !json_object_get(limit, "percentage")
                      ? el.record : -1;
    p->error_percentage = json_object_get(limit, "percentage") && p->error_record < 0
                          ? el.percentage : -1;
}

/*
 * One side of the job: finds the plugin named at obj[name_key], checks obj["parameter"]
 * against its options. The current path is the side's object.
 */
static void
check_side(struct checker *c, struct job_plan *p, bool reader, json_t *obj, const char *name_key)
{
    struct job_side *s = reader ? &p->reader : &p->writer;
    const struct otsync_option *opts;
    struct otsync_err perr;
    json_t *name;
    size_t conf_size, old;
    unsigned abi;
    int rc;

    if (!(name = member(c, obj, name_key, JSON_STRING, true)))
        return;
    s->plugin = json_string_value(name);
    otsync_err_clear(&perr);
    if (reader)
        rc = registry_find_reader(s->plugin, &p->reader_ops, &perr);
    else
        rc = registry_find_writer(s->plugin, &p->writer_ops, &perr);
    old = path_key(&c->path, name_key);
    if (rc < 0) {
        bad(c, "%s", perr.msg);
        path_pop(&c->path, old);
        return;
    }
    abi = reader ? p->reader_ops->abi : p->writer_ops->abi;
    if (abi != OTSYNC_PLUGIN_ABI) {
        bad(c, "plugin '%s' was built for plugin ABI %u, this program has %u", s->plugin, abi,
            OTSYNC_PLUGIN_ABI);
        path_pop(&c->path, old);
        return;
    }
    path_pop(&c->path, old);
    conf_size = reader ? p->reader_ops->conf_size : p->writer_ops->conf_size;
    opts = reader ? p->reader_ops->options : p->writer_ops->options;
    if (!(s->conf = calloc(1, conf_size ? conf_size : 1))) {
        c->path.nomem = true;
        return;
    }
    old = path_key(&c->path, "parameter");
    if (!(s->path = strdup(path_str(&c->path))))
        c->path.nomem = true;
    check_options(c, json_object_get(obj, "parameter"), opts, s->conf, p->defaults, "parameter");
    path_pop(&c->path, old);
}

static void
check_type_version(struct checker *c, json_t *root, bool v2_only)
{
    json_t *type = member(c, root, "type", JSON_STRING, true);
    json_t *version = member(c, root, "version", JSON_STRING, true);
    const char *vs = version ? json_string_value(version) : NULL;
    size_t old;

    if (type && strcmp(json_string_value(type), "job") != 0) {
        old = path_key(&c->path, "type");
        bad(c, "expected \"job\", got \"%s\"", json_string_value(type));
        path_pop(&c->path, old);
    }
    if (vs && (v2_only ? strcmp(vs, "2.0") != 0
                       : strcmp(vs, "1.0") != 0 && strcmp(vs, "2.0") != 0)) {
        old = path_key(&c->path, "version");
        bad(c, "expected %s, got \"%s\"", v2_only ? "\"2.0\" for a job with steps"
                                                  : "\"1.0\" or \"2.0\"", vs);
        path_pop(&c->path, old);
    }
}

/* DataWorks script mode v1: configuration: {setting, reader: {plugin, parameter}, writer}. */
static void
form_v1(struct checker *c, struct job_plan *p, json_t *root)
{
    static const char *const top[] = {"type", "version", "configuration", NULL};
    static const char *const conf_keys[] = {"setting", "reader", "writer", NULL};
    static const char *const side_keys[] = {"plugin", "parameter", NULL};
    json_t *conf, *side;
    size_t old;

    p->form = "DataWorks v1";
    check_keys(c, root, top);
    check_type_version(c, root, false);
    if (!(conf = member(c, root, "configuration", JSON_OBJECT, true)))
        return;
    old = path_key(&c->path, "configuration");
    check_keys(c, conf, conf_keys);
    if ((side = member(c, conf, "reader", JSON_OBJECT, true))) {
        size_t o2 = path_key(&c->path, "reader");
        check_keys(c, side, side_keys);
        check_side(c, p, true, side, "plugin");
        path_pop(&c->path, o2);
    }
    if ((side = member(c, conf, "writer", JSON_OBJECT, true))) {
        size_t o2 = path_key(&c->path, "writer");
        check_keys(c, side, side_keys);
        check_side(c, p, false, side, "plugin");
        path_pop(&c->path, o2);
    }
    check_setting(c, p, member(c, conf, "setting", JSON_OBJECT, false));
    path_pop(&c->path, old);
}

/* order.hops, when given, must be the one hop from the reader step to the writer step. */
static void
check_order(struct checker *c, json_t *order, const char *from, const char *to)
{
    static const char *const order_keys[] = {"hops", NULL};
    json_t *hops, *hop;
    const char *f, *t;
    size_t old = path_key(&c->path, "order");

    check_keys(c, order, order_keys);
    if ((hops = member(c, order, "hops", JSON_ARRAY, true))) {
        path_key(&c->path, "hops");
        hop = json_array_size(hops) == 1 ? json_array_get(hops, 0) : NULL;
        f = json_string_value(json_object_get(hop, "from"));
        t = json_string_value(json_object_get(hop, "to"));
        if (!from || !to)
            bad(c, "the reader and writer steps need a \"name\" for the hops to refer to");
        else if (!f || !t || strcmp(f, from) != 0 || strcmp(t, to) != 0)
            bad(c, "expected one hop {\"from\": \"%s\", \"to\": \"%s\"}", from, to);
    }
    path_pop(&c->path, old);
}

/* The steps of a v2 job: one reader, one writer, joined by order.hops when given. */
static void
check_steps(struct checker *c, struct job_plan *p, json_t *root, json_t *steps)
{
    static const char *const step_keys[] = {"stepType", "parameter", "name", "category", NULL};
    json_t *step, *cat, *order, *rstep = NULL, *wstep = NULL;
    size_t i, readers = 0, writers = 0, ri = 0, wi = 0, old, o2;
    const char *cs;
    char buf[SHOW_MAX + 4];

    old = path_key(&c->path, "steps");
    json_array_foreach(steps, i, step) {
        o2 = path_index(&c->path, i);
        if (!json_is_object(step)) {
            bad(c, "expected an object, got %s", show(step, buf));
        } else {
            check_keys(c, step, step_keys);
            member(c, step, "name", JSON_STRING, false);
            if ((cat = member(c, step, "category", JSON_STRING, true))) {
                cs = json_string_value(cat);
                if (strcmp(cs, "reader") == 0) {
                    readers++;
                    rstep = step;
                    ri = i;
                } else if (strcmp(cs, "writer") == 0) {
                    writers++;
                    wstep = step;
                    wi = i;
                } else {
                    path_key(&c->path, "category");
                    bad(c, "expected \"reader\" or \"writer\", got \"%s\"", cs);
                }
            }
        }
        path_pop(&c->path, o2);
    }
    if (readers != 1 || writers != 1) {
        bad(c, "expected one reader step and one writer step, got %zu reader%s and %zu writer%s",
            readers, readers == 1 ? "" : "s", writers, writers == 1 ? "" : "s");
        path_pop(&c->path, old);
        return;
    }
    o2 = path_index(&c->path, ri);
    check_side(c, p, true, rstep, "stepType");
    path_pop(&c->path, o2);
    path_index(&c->path, wi);
    check_side(c, p, false, wstep, "stepType");
    path_pop(&c->path, old);
    if ((order = member(c, root, "order", JSON_OBJECT, false)))
        check_order(c, order, json_string_value(json_object_get(rstep, "name")),
                    json_string_value(json_object_get(wstep, "name")));
}

/* DataWorks script mode v2: steps: [{stepType, parameter, name, category}], order, setting. */
static void
form_v2(struct checker *c, struct job_plan *p, json_t *root)
{
    static const char *const top[] = {"type", "version", "steps", "order", "setting", NULL};
    json_t *steps;

    p->form = "DataWorks v2";
    check_keys(c, root, top);
    check_type_version(c, root, true);
    if ((steps = member(c, root, "steps", JSON_ARRAY, true)))
        check_steps(c, p, root, steps);
    check_setting(c, p, member(c, root, "setting", JSON_OBJECT, false));
}

/* job.content: exactly one {reader: {name, parameter}, writer: {name, parameter}}. */
static void
check_content(struct checker *c, struct job_plan *p, json_t *content)
{
    static const char *const pair_keys[] = {"reader", "writer", NULL};
    static const char *const side_keys[] = {"name", "parameter", NULL};
    json_t *pair, *side;
    char buf[SHOW_MAX + 4];
    size_t old, o2;

    old = c->path.len;
    path_key(&c->path, "content");
    if (json_array_size(content) != 1) {
        bad(c, "expected one reader/writer pair, got %zu", json_array_size(content));
        path_pop(&c->path, old);
        return;
    }
    path_index(&c->path, 0);
    pair = json_array_get(content, 0);
    if (!json_is_object(pair)) {
        bad(c, "expected an object, got %s", show(pair, buf));
        path_pop(&c->path, old);
        return;
    }
    check_keys(c, pair, pair_keys);
    if ((side = member(c, pair, "reader", JSON_OBJECT, true))) {
        o2 = path_key(&c->path, "reader");
        check_keys(c, side, side_keys);
        check_side(c, p, true, side, "name");
        path_pop(&c->path, o2);
    }
    if ((side = member(c, pair, "writer", JSON_OBJECT, true))) {
        o2 = path_key(&c->path, "writer");
        check_keys(c, side, side_keys);
        check_side(c, p, false, side, "name");
        path_pop(&c->path, o2);
    }
    path_pop(&c->path, old);
}

/* DataX: {job: {setting, content: [{reader: {name, parameter}, writer: {name, parameter}}]}}. */
static void
form_datax(struct checker *c, struct job_plan *p, json_t *root)
{
    static const char *const top[] = {"job", NULL};
    static const char *const job_keys[] = {"setting", "content", NULL};
    json_t *job, *content;
    size_t old;

    p->form = "DataX";
    check_keys(c, root, top);
    if (!(job = member(c, root, "job", JSON_OBJECT, true)))
        return;
    old = path_key(&c->path, "job");
    check_keys(c, job, job_keys);
    if ((content = member(c, job, "content", JSON_ARRAY, true)))
        check_content(c, p, content);
    check_setting(c, p, member(c, job, "setting", JSON_OBJECT, false));
    path_pop(&c->path, old);
}

int
job_plan_init(struct job_plan *plan, json_t *root, const char *source, struct diag *d,
              struct otsync_err *err)
{
    struct checker c = {.d = d, .err = err, .source = source};

    memset(plan, 0, sizeof(*plan));
    plan->root = root;
    if (!(plan->defaults = json_array())) {
        job_plan_fini(plan);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory loading the job");
    }
    if (json_object_get(root, "job"))
        form_datax(&c, plan, root);
    else if (json_object_get(root, "steps"))
        form_v2(&c, plan, root);
    else if (json_object_get(root, "configuration") || json_object_get(root, "type"))
        form_v1(&c, plan, root);
    else
        bad(&c, "not a job: expected \"type\": \"job\" with \"configuration\" or \"steps\" "
            "(DataWorks), or \"job\" (DataX)");
    if (!c.errors && (!plan->reader_ops || !plan->writer_ops))
        bad(&c, "the job has no reader or no writer");
    free(c.path.s);
    if (c.path.nomem) {
        job_plan_fini(plan);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory loading the job");
    }
    if (c.errors) {
        job_plan_fini(plan);
        return -OTSYNC_ECONFIG;
    }
    return 0;
}

void
job_plan_fini(struct job_plan *plan)
{
    free(plan->reader.path);
    free(plan->reader.conf);
    free(plan->writer.path);
    free(plan->writer.conf);
    json_decref(plan->defaults);
    json_decref(plan->root);
    memset(plan, 0, sizeof(*plan));
}
