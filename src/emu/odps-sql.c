/*
 * odps-sql.c - the SQL instances of otsync-emu's MaxCompute (maxcompute-tunnel.md 4.3): the few
 * statements it runs (odps.h), parsed by a tokenizer and a recursive-descent parser, applied to
 * the tables at submission, and the instance's status, task status and result as the clients
 * poll them. An instance is Terminated as soon as it exists.
 *
 * Anything else is refused with a reason, which becomes the failed task's result: a writer
 * that sends other SQL should learn it here rather than against the real service.
 *
 * Owns: instances. Leaves to others: tables and partitions (odps.c). Runs under emu->lock.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "otsync/log.h"
#include "odps.h"

#define INSTANCES_KEPT 1024                 /* older instances are forgotten */

enum tok_kind { TOK_END, TOK_WORD, TOK_STRING, TOK_PUNCT };

struct lexer {
    const char *p;
    enum tok_kind kind;
    char text[ODPS_VALUE_MAX];
    char *why;
    size_t why_len;
    bool failed;
};

static void
fail(struct lexer *lx, const char *fmt, ...)
{
    va_list ap;

    if (lx->failed)
        return;
    lx->failed = true;
    va_start(ap, fmt);
    vsnprintf(lx->why, lx->why_len, fmt, ap);
    va_end(ap);
}

static bool
word_char(char c)
{
    /* '.' joins project.table; '-' and ':' let unquoted partition values such as dates through */
    return isalnum((unsigned char)c) || c == '_' || c == '$' || c == '.' || c == '-' || c == ':';
}

/* Moves to the next token; on a lexical error sets failed and returns TOK_END. */
static void
next(struct lexer *lx)
{
    size_t n = 0;
    char quote;

    lx->text[0] = '\0';
    for (;;) {
        while (isspace((unsigned char)*lx->p))
            lx->p++;
        if (lx->p[0] == '-' && lx->p[1] == '-') {   /* comment to the end of the line */
            while (*lx->p && *lx->p != '\n')
                lx->p++;
            continue;
        }
        break;
    }
    if (lx->failed || !*lx->p) {
        lx->kind = TOK_END;
        return;
    }
    if (*lx->p == '\'' || *lx->p == '"' || *lx->p == '`') {
        quote = *lx->p++;
        while (*lx->p && *lx->p != quote) {
            if (*lx->p == '\\' && lx->p[1] && quote != '`')
                lx->p++;
            if (n + 1 >= sizeof(lx->text)) {
                fail(lx, "a quoted token longer than %zu bytes", sizeof(lx->text) - 1);
                lx->kind = TOK_END;
                return;
            }
            lx->text[n++] = *lx->p++;
        }
        if (*lx->p != quote) {
            fail(lx, "unterminated quote %c", quote);
            lx->kind = TOK_END;
            return;
        }
        lx->p++;
        lx->text[n] = '\0';
        /* a back-quoted name is a word that may hold any character */
        lx->kind = quote == '`' ? TOK_WORD : TOK_STRING;
        return;
    }
    if (word_char(*lx->p)) {
        while (word_char(*lx->p)) {
            if (n + 1 >= sizeof(lx->text)) {
                fail(lx, "a word longer than %zu bytes", sizeof(lx->text) - 1);
                lx->kind = TOK_END;
                return;
            }
            lx->text[n++] = *lx->p++;
        }
        lx->text[n] = '\0';
        lx->kind = TOK_WORD;
        return;
    }
    lx->text[0] = *lx->p++;
    lx->text[1] = '\0';
    lx->kind = TOK_PUNCT;
}

static bool
is_kw(const struct lexer *lx, const char *kw)
{
    return lx->kind == TOK_WORD && strcasecmp(lx->text, kw) == 0;
}

static bool
is_punct(const struct lexer *lx, char c)
{
    return lx->kind == TOK_PUNCT && lx->text[0] == c;
}

/* Consumes keyword kw or fails naming what was found instead. */
static bool
expect_kw(struct lexer *lx, const char *kw)
{
    if (!is_kw(lx, kw)) {
        fail(lx, "expected %s, found '%s'", kw, lx->kind == TOK_END ? "end" : lx->text);
        return false;
    }
    next(lx);
    return true;
}

static bool
expect_punct(struct lexer *lx, char c)
{
    if (!is_punct(lx, c)) {
        fail(lx, "expected '%c', found '%s'", c, lx->kind == TOK_END ? "end" : lx->text);
        return false;
    }
    next(lx);
    return true;
}

/* [project.]table; a three-part name's middle (the schema) is not kept. */
static bool
table_name(struct lexer *lx, struct odps_sql_stmt *st)
{
    const char *first, *last;

    if (lx->kind != TOK_WORD) {
        fail(lx, "expected a table name, found '%s'", lx->kind == TOK_END ? "end" : lx->text);
        return false;
    }
    if (strlen(lx->text) >= ODPS_NAME_MAX) {
        fail(lx, "a table name longer than %d bytes", ODPS_NAME_MAX - 1);
        return false;
    }
    first = strchr(lx->text, '.');
    last = strrchr(lx->text, '.');
    if (first) {
        snprintf(st->project, sizeof(st->project), "%.*s", (int)(first - lx->text), lx->text);
        snprintf(st->table, sizeof(st->table), "%s", last + 1);
    } else {
        snprintf(st->table, sizeof(st->table), "%.*s", ODPS_NAME_MAX - 1, lx->text);
    }
    if (!st->table[0] || (first && !st->project[0])) {
        fail(lx, "bad table name '%s'", lx->text);
        return false;
    }
    next(lx);
    return true;
}

/* PARTITION (k = 'v' [, k = 'v' ...]) */
static bool
partition_spec(struct lexer *lx, struct odps_sql_stmt *st)
{
    struct odps_sql_spec *sp;

    if (st->spec_count >= ODPS_SPECS_MAX) {
        fail(lx, "more than %d partitions in one statement", ODPS_SPECS_MAX);
        return false;
    }
    sp = &st->specs[st->spec_count++];
    if (!expect_kw(lx, "partition") || !expect_punct(lx, '('))
        return false;
    for (;;) {
        if (sp->count >= ODPS_LEVELS_MAX) {
            fail(lx, "more than %d partition levels", ODPS_LEVELS_MAX);
            return false;
        }
        if (lx->kind != TOK_WORD || strlen(lx->text) >= ODPS_NAME_MAX) {
            fail(lx, "expected a partition column, found '%s'",
                 lx->kind == TOK_END ? "end" : lx->text);
            return false;
        }
        snprintf(sp->keys[sp->count], ODPS_NAME_MAX, "%.*s", ODPS_NAME_MAX - 1, lx->text);
        next(lx);
        if (!expect_punct(lx, '='))
            return false;
        if (lx->kind != TOK_WORD && lx->kind != TOK_STRING) {
            fail(lx, "expected a partition value, found '%s'",
                 lx->kind == TOK_END ? "end" : lx->text);
            return false;
        }
        snprintf(sp->values[sp->count++], ODPS_VALUE_MAX, "%s", lx->text);
        next(lx);
        if (is_punct(lx, ')'))
            break;
        if (!expect_punct(lx, ','))
            return false;
    }
    next(lx);
    return true;
}

static void
statement(struct lexer *lx, struct odps_sql_stmt *st)
{
    if (is_kw(lx, "set")) {
        st->kind = ODPS_SQL_SET;
        while (lx->kind != TOK_END && !is_punct(lx, ';'))
            next(lx);
        return;
    }
    if (is_kw(lx, "truncate")) {
        st->kind = ODPS_SQL_TRUNCATE;
        next(lx);
        if (!expect_kw(lx, "table") || !table_name(lx, st))
            return;
        if (!is_kw(lx, "partition"))
            return;
        while (partition_spec(lx, st) && is_punct(lx, ','))
            next(lx);
        return;
    }
    if (!is_kw(lx, "alter")) {
        fail(lx, "otsync-emu runs only ALTER TABLE ... ADD/DROP PARTITION, TRUNCATE TABLE and "
             "SET; found '%s'", lx->text);
        return;
    }
    next(lx);
    if (!expect_kw(lx, "table") || !table_name(lx, st))
        return;
    if (is_kw(lx, "add")) {
        st->kind = ODPS_SQL_ADD_PARTITION;
        next(lx);
        if (is_kw(lx, "if")) {
            next(lx);
            if (!expect_kw(lx, "not") || !expect_kw(lx, "exists"))
                return;
            st->if_clause = true;
        }
        /* several partitions follow one another without commas */
        while (partition_spec(lx, st) && is_kw(lx, "partition"))
            ;
        return;
    }
    if (is_kw(lx, "drop")) {
        st->kind = ODPS_SQL_DROP_PARTITION;
        next(lx);
        if (is_kw(lx, "if")) {
            next(lx);
            if (!expect_kw(lx, "exists"))
                return;
            st->if_clause = true;
        }
        while (partition_spec(lx, st) && is_punct(lx, ','))
            next(lx);
        return;
    }
    fail(lx, "otsync-emu runs only ALTER TABLE ... ADD PARTITION or DROP PARTITION; found '%s'",
         lx->text);
}

long
odps_sql_parse(const char *sql, struct odps_sql_stmt **ret_stmts, char *ret_why, size_t why_len)
{
    struct lexer lx = {.p = sql, .why = ret_why, .why_len = why_len};
    struct odps_sql_stmt *stmts = NULL, *ns;
    size_t count = 0;

    *ret_stmts = NULL;
    next(&lx);
    while (!lx.failed && lx.kind != TOK_END) {
        if (is_punct(&lx, ';')) {
            next(&lx);
            continue;
        }
        if (!(ns = realloc(stmts, (count + 1) * sizeof(*ns)))) {
            fail(&lx, "out of memory");
            break;
        }
        stmts = ns;
        memset(&stmts[count], 0, sizeof(stmts[count]));
        statement(&lx, &stmts[count++]);
        if (!lx.failed && lx.kind != TOK_END && !is_punct(&lx, ';'))
            fail(&lx, "unexpected '%s' after the statement", lx.text);
    }
    if (lx.failed) {
        free(stmts);
        return -1;
    }
    *ret_stmts = stmts;
    return (long)count;
}

/* --- instances --- */

/* The text of the first <tag>...</tag> in doc, CDATA unwrapped and entities decoded; new. */
static char *
xml_text(const char *doc, const char *tag)
{
    char open[64], close[64], *out, *w;
    const char *s, *e, *r;
    size_t n;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if (!doc || !(s = strstr(doc, open)) || !(e = strstr(s += strlen(open), close)))
        return NULL;
    n = (size_t)(e - s);
    while (n && isspace((unsigned char)*s))
        s++, n--;
    if (n >= 12 && strncmp(s, "<![CDATA[", 9) == 0 && (r = strstr(s, "]]>")) && r < s + n) {
        out = odps_xrealloc(NULL, (size_t)(r - s - 9) + 1);
        memcpy(out, s + 9, (size_t)(r - s - 9));
        out[r - s - 9] = '\0';
        return out;
    }
    out = w = odps_xrealloc(NULL, n + 1);
    for (r = s; r < s + n; r++) {
        static const char *const ents[][2] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"},
                                              {"&quot;", "\""}, {"&apos;", "'"}};
        size_t k;

        for (k = 0; k < 5; k++)
            if (strncmp(r, ents[k][0], strlen(ents[k][0])) == 0)
                break;
        if (k < 5) {
            *w++ = ents[k][1][0];
            r += strlen(ents[k][0]) - 1;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return out;
}

/* Applies the parsed statements in order, as the service would; NULL or the failure text. */
static const char *
sql_apply(struct odps *o, const char *project, const struct odps_sql_stmt *stmts, size_t count,
          char *why, size_t len)
{
    char spec[ODPS_SPEC_MAX];
    struct odps_table *t;
    struct odps_part *p;
    struct odps_fail f;
    size_t i, j;

    for (i = 0; i < count; i++) {
        const struct odps_sql_stmt *st = &stmts[i];
        const char *proj = st->project[0] ? st->project : project;

        if (st->kind == ODPS_SQL_SET)
            continue;
        if (!(t = odps_table_find(o, proj, st->table, NULL))) {
            snprintf(why, len, "ODPS-0130131:Table not found - '%s.%s'", proj, st->table);
            return why;
        }
        if (st->kind == ODPS_SQL_TRUNCATE && !st->spec_count) {
            if (t->pcol_count) {
                snprintf(why, len, "FAILED: table %s.%s is partitioned: truncate needs "
                         "PARTITION (...)", proj, st->table);
                return why;
            }
            odps_part_clear(&t->parts[0]);
            continue;
        }
        if (!t->pcol_count) {
            snprintf(why, len, "FAILED: table %s.%s is not partitioned", proj, st->table);
            return why;
        }
        for (j = 0; j < st->spec_count; j++) {
            const struct odps_sql_spec *sp = &st->specs[j];

            if (odps_spec_canon(t, (char (*)[ODPS_NAME_MAX])sp->keys,
                                (char (*)[ODPS_VALUE_MAX])sp->values, sp->count, spec, sizeof(spec),
                                &f) < 0) {
                snprintf(why, len, "FAILED: %.900s", f.msg);
                return why;
            }
            p = odps_part_find(t, spec);
            if (st->kind == ODPS_SQL_ADD_PARTITION && p && !st->if_clause) {
                snprintf(why, len, "FAILED: partition %.600s already exists in %s.%s", spec, proj,
                         st->table);
                return why;
            }
            if (st->kind != ODPS_SQL_ADD_PARTITION && !p && !st->if_clause) {
                snprintf(why, len, "FAILED: partition %.600s does not exist in %s.%s", spec, proj,
                         st->table);
                return why;
            }
            if (st->kind == ODPS_SQL_ADD_PARTITION && !p)
                odps_part_add(t, spec, time(NULL));
            else if (st->kind == ODPS_SQL_DROP_PARTITION && p)
                odps_part_drop(t, p);
            else if (st->kind == ODPS_SQL_TRUNCATE && p)
                odps_part_clear(p);
        }
    }
    return NULL;
}

/* POST /projects/<p>/instances with one SQL task (doc 4.3); the task runs at once. */
int
odps_instance_create(struct odps *o, const char *project, const struct emu_req *req,
                     struct emu_resp *resp, struct odps_fail *f)
{
    const char *body = req->body ? (const char *)req->body : "", *host, *sql_at;
    struct odps_instance *in;
    struct odps_sql_stmt *stmts = NULL;
    char why[1024], *query, *task;
    const char *failed;
    long count;

    if (!(sql_at = strstr(body, "<SQL>")) || !(query = xml_text(sql_at, "Query")))
        return odps_fail(f, 400, "InvalidArgument", "the instance has no SQL task with a Query "
                         "(otsync-emu runs SQL tasks only)");
    task = xml_text(sql_at, "Name");
    count = odps_sql_parse(query, &stmts, why, sizeof(why));
    failed = count < 0 ? why : sql_apply(o, project, stmts, (size_t)count, why, sizeof(why));
    free(stmts);
    log_info("odps: instance in %s: %s%s%s", project, query, failed ? ": " : "",
             failed ? failed : "");
    free(query);
    if (o->instance_count == INSTANCES_KEPT) {
        free(o->instances[0].project);
        free(o->instances[0].task);
        free(o->instances[0].result);
        memmove(&o->instances[0], &o->instances[1], --o->instance_count * sizeof(*in));
    }
    o->instances = odps_xrealloc(o->instances, (o->instance_count + 1) * sizeof(*in));
    in = &o->instances[o->instance_count++];
    odps_new_id(o, in->id, sizeof(in->id));
    in->project = odps_xstrdup(project);
    in->task = task ? task : odps_xstrdup("AnonymousSQLTask");
    in->result = odps_xstrdup(failed ? failed : "OK");
    in->ok = !failed;
    in->start = in->end = time(NULL);
    host = emu_req_header(req, "Host");
    emu_resp_header(resp, "Location", "http://%s/api/projects/%s/instances/%s",
                    host ? host : "127.0.0.1", project, in->id);
    emu_resp_take(resp, 201, NULL, 0);
    return 0;
}

/* GET /projects/<p>/instances/<id>[?taskstatus | ?result] (doc 4.3) */
int
odps_instance_get(struct odps *o, const struct odps_target *tg, const struct emu_req *req,
                  struct emu_resp *resp, struct odps_fail *fl)
{
    struct odps_instance *in = NULL;
    char d1[32], d2[32], *buf;
    size_t i, len;
    FILE *f;

    for (i = 0; i < o->instance_count; i++)
        if (strcmp(o->instances[i].id, tg->instance) == 0
            && strcasecmp(o->instances[i].project, tg->project) == 0)
            in = &o->instances[i];
    if (!in)
        return odps_fail(fl, 404, "NoSuchObject", "ODPS-0420111: Instance not found - '%s'",
                         tg->instance);
    odps_date(in->start, d1, sizeof(d1));
    odps_date(in->end, d2, sizeof(d2));
    emu_resp_header(resp, "x-odps-owner", "%s", ODPS_OWNER);
    emu_resp_header(resp, "x-odps-start-time", "%s", d1);
    emu_resp_header(resp, "x-odps-end-time", "%s", d2);
    if (!(f = open_memstream(&buf, &len)))
        abort();
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Instance>", f);
    if (emu_req_arg(req, "result")) {
        fputs("<Tasks><Task Type=\"SQL\"><Name>", f);
        odps_xml_escape(f, in->task);
        fputs("</Name><Result Format=\"text\">", f);
        odps_xml_cdata(f, in->result);
        fputs("</Result></Task></Tasks>", f);
    } else {
        fputs("<Status>Terminated</Status>", f);
        if (emu_req_arg(req, "taskstatus")) {
            fputs("<Tasks><Task Type=\"SQL\"><Name>", f);
            odps_xml_escape(f, in->task);
            fprintf(f, "</Name><StartTime>%s</StartTime><EndTime>%s</EndTime>"
                    "<Status>%s</Status></Task></Tasks>", d1, d2, in->ok ? "Success" : "Failed");
        }
    }
    fputs("</Instance>\n", f);
    odps_resp_stream(resp, 200, "application/xml", f, &buf, &len);
    return 0;
}

void
odps_instances_free(struct odps *o)
{
    size_t i;

    for (i = 0; i < o->instance_count; i++) {
        free(o->instances[i].project);
        free(o->instances[i].task);
        free(o->instances[i].result);
    }
    free(o->instances);
    o->instances = NULL;
    o->instance_count = 0;
}
