/*
 * ossxml.c - a strict XML reader and writer for OSS bodies, and the typed views over them.
 *
 * The reader is iterative with an explicit stack of at most OSSXML_MAX_DEPTH frames, checks
 * every byte (UTF-8, XML characters, entities) and every bound before using it, and allocates
 * the tree from one arena per document, freed in one go. Everything it refuses (DTDs, names
 * outside ASCII, unknown entities) is something OSS never sends. The writer builds documents in
 * a growable buffer with the same character rules, so what it writes the reader reads back.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/ossxml.h"

#define ARENA_BLOCK (64u << 10)
#define PROLOG "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
/* The writer's ceiling: a listing of 1000 keys of 1023 bytes, all escaped, stays far below. */
#define WRITE_MAX (64u << 20)

struct block {
    struct block *next;
    size_t used, cap;
    max_align_t data[];
};

struct ossxml_doc {
    struct block *blocks;
    const struct ossxml_node *root;
};

/* Character data collected for one open element. */
struct tbuf {
    char *p;
    size_t len, cap;
};

struct frame {
    struct ossxml_node *node;
    struct ossxml_node *last;   /* last child, so children stay in document order */
    const char *qname;          /* the start tag's name in the input, for the end tag */
    size_t qlen;
    struct tbuf text;
};

struct parser {
    const unsigned char *s;
    size_t len, pos;
    struct ossxml_doc *doc;
    struct frame st[OSSXML_MAX_DEPTH];
    int depth;
    size_t nodes;
    struct otsync_err *err;
};

static void *
arena_alloc(struct ossxml_doc *d, size_t n)
{
    struct block *b = d->blocks;
    size_t cap;
    void *p;

    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!b || b->cap - b->used < n) {
        cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        if (!(b = malloc(sizeof(*b) + cap)))
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b;
    }
    p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static char *
arena_strndup(struct ossxml_doc *d, const char *s, size_t n)
{
    char *p = arena_alloc(d, n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void
ossxml_free(struct ossxml_doc *doc)
{
    struct block *b, *next;

    if (!doc)
        return;
    for (b = doc->blocks; b; b = next) {
        next = b->next;
        free(b);
    }
    free(doc);
}

static int
perr(struct parser *p, size_t off, const char *fmt, ...) OTSYNC_PRINTF(3, 4);

static int
perr(struct parser *p, size_t off, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return otsync_err_set(p->err, OTSYNC_EPROTO, "xml: byte %zu: %s", off, msg);
}

static int
nomem(struct otsync_err *err)
{
    return otsync_err_set(err, OTSYNC_ENOMEM, "xml: out of memory");
}

static int
tbuf_add(struct tbuf *t, const void *s, size_t n)
{
    size_t cap;
    char *np;

    if (t->len + n + 1 > t->cap) {
        cap = t->cap ? t->cap : 64;
        while (cap < t->len + n + 1)
            cap *= 2;
        if (!(np = realloc(t->p, cap)))
            return -1;
        t->p = np;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

/*
 * One UTF-8 sequence at s (n bytes available): its length, or 0 when malformed (truncated,
 * overlong, a surrogate, beyond U+10FFFF). The code point goes to *ret_cp.
 */
static size_t
utf8_next(const unsigned char *s, size_t n, uint32_t *ret_cp)
{
    uint32_t cp;
    size_t len, i;

    if (s[0] < 0x80) {
        *ret_cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *ret_cp = cp;
    return len;
}

/* XML 1.0's Char production. */
static bool
xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff)
           || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

static size_t
utf8_put(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | c >> 12);
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | c >> 18);
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

static bool
at(struct parser *p, const char *lit)
{
    size_t n = strlen(lit);

    return p->len - p->pos >= n && memcmp(p->s + p->pos, lit, n) == 0;
}

static bool
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
skip_space(struct parser *p)
{
    while (p->pos < p->len && is_space(p->s[p->pos]))
        p->pos++;
}

static bool
name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':';
}

static bool
name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* An ASCII name at pos: its start and length. */
static int
parse_name(struct parser *p, const char **ret_name, size_t *ret_len)
{
    size_t start = p->pos;

    if (p->pos >= p->len)
        return perr(p, p->pos, "unexpected end of input, expected a name");
    if (!name_start(p->s[p->pos]))
        return perr(p, p->pos, "expected a name, found byte 0x%02x", p->s[p->pos]);
    while (p->pos < p->len && name_char(p->s[p->pos])) {
        if (p->pos - start >= OSSXML_MAX_NAME)
            return perr(p, start, "name longer than %d bytes", OSSXML_MAX_NAME);
        p->pos++;
    }
    *ret_name = (const char *)p->s + start;
    *ret_len = p->pos - start;
    return 0;
}

/* An entity or character reference at pos ('&'), decoded into out (may be NULL). */
static int
parse_ref(struct parser *p, struct tbuf *out)
{
    static const struct { const char *name; char c; } named[] = {
        {"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''},
    };
    size_t start = p->pos, end, i, n;
    uint32_t c = 0;
    char enc[4];

    for (end = start + 1; end < p->len && end - start <= 12 && p->s[end] != ';'; end++)
        ;
    if (end >= p->len || p->s[end] != ';')
        return perr(p, start, "'&' not followed by a reference ending in ';'");
    if (p->s[start + 1] == '#') {
        bool hex = end > start + 2 && p->s[start + 2] == 'x';
        size_t digits = start + 2 + hex;

        if (digits == end)
            return perr(p, start, "empty character reference");
        for (i = digits; i < end; i++) {
            unsigned char d = p->s[i];
            uint32_t v;

            if (d >= '0' && d <= '9')
                v = d - '0';
            else if (hex && d >= 'a' && d <= 'f')
                v = d - 'a' + 10;
            else if (hex && d >= 'A' && d <= 'F')
                v = d - 'A' + 10;
            else
                return perr(p, start, "bad digit in character reference");
            c = c * (hex ? 16 : 10) + v;
            if (c > 0x10ffff)
                return perr(p, start, "character reference beyond U+10FFFF");
        }
        if (!xml_char(c))
            return perr(p, start, "character reference to U+%04X, not an XML character",
                        (unsigned)c);
        n = utf8_put(c, enc);
        if (out && tbuf_add(out, enc, n) < 0)
            return nomem(p->err);
        p->pos = end + 1;
        return 0;
    }
    for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        n = strlen(named[i].name);
        if (end - start - 1 == n && memcmp(p->s + start + 1, named[i].name, n) == 0) {
            if (out && tbuf_add(out, &named[i].c, 1) < 0)
                return nomem(p->err);
            p->pos = end + 1;
            return 0;
        }
    }
    return perr(p, start, "unknown entity '%.*s'", (int)(end - start + 1),
                (const char *)p->s + start);
}

/*
 * Character data at pos up to the next '<' (or the quote ending an attribute value, when quote
 * is set), decoded into out (may be NULL). Line ends become '\n' as XML requires.
 */
static int
parse_chars(struct parser *p, unsigned char quote, struct tbuf *out)
{
    size_t run = p->pos, n;
    uint32_t c;
    int rc;

    while (p->pos < p->len) {
        unsigned char b = p->s[p->pos];

        if (b == '<' || (quote && b == quote))
            break;
        if (b == '&' || b == '\r') {
            if (out && tbuf_add(out, p->s + run, p->pos - run) < 0)
                return nomem(p->err);
            if (b == '&') {
                if ((rc = parse_ref(p, out)) < 0)
                    return rc;
            } else {
                p->pos++;
                if (p->pos < p->len && p->s[p->pos] == '\n')
                    p->pos++;
                if (out && tbuf_add(out, "\n", 1) < 0)
                    return nomem(p->err);
            }
            run = p->pos;
            continue;
        }
        if (!(n = utf8_next(p->s + p->pos, p->len - p->pos, &c)))
            return perr(p, p->pos, "invalid UTF-8");
        if (!xml_char(c))
            return perr(p, p->pos, "U+%04X is not an XML character", (unsigned)c);
        p->pos += n;
    }
    if (out && tbuf_add(out, p->s + run, p->pos - run) < 0)
        return nomem(p->err);
    return 0;
}

/* Skips "<!--...-->" or "<?...?>" at pos; what is inside is not looked at beyond UTF-8. */
static int
skip_until(struct parser *p, size_t open_len, const char *close)
{
    size_t start = p->pos, n = strlen(close);

    for (p->pos += open_len; p->pos + n <= p->len; p->pos++)
        if (memcmp(p->s + p->pos, close, n) == 0) {
            p->pos += n;
            return 0;
        }
    p->pos = p->len;
    return perr(p, start, "unterminated %s", n == 3 ? "comment" : "processing instruction");
}

/* Comments, processing instructions and blanks, outside or between elements. */
static int
skip_misc(struct parser *p, bool *ret_more)
{
    int rc;

    for (;;) {
        skip_space(p);
        if (at(p, "<!--"))
            rc = skip_until(p, 4, "-->");
        else if (at(p, "<?"))
            rc = skip_until(p, 2, "?>");
        else
            break;
        if (rc < 0)
            return rc;
    }
    *ret_more = p->pos < p->len;
    return 0;
}

static int
close_text(struct parser *p, struct frame *f)
{
    char *t;

    if (!f->text.len) {
        f->node->text = "";
        f->node->text_len = 0;
    } else {
        if (!(t = arena_strndup(p->doc, f->text.p, f->text.len)))
            return nomem(p->err);
        f->node->text = t;
        f->node->text_len = f->text.len;
    }
    free(f->text.p);
    memset(&f->text, 0, sizeof(f->text));
    return 0;
}

/* A start tag at pos ('<'): makes the node and pushes a frame unless it is empty ("/>"). */
static int
open_tag(struct parser *p)
{
    const char *qname, *aname, *attrs[OSSXML_MAX_ATTRS], *colon;
    size_t start = p->pos, qlen, alen, alens[OSSXML_MAX_ATTRS], nattrs = 0, i, vstart;
    struct ossxml_node *node;
    struct frame *parent, *f;
    unsigned char quote;
    int rc;

    p->pos++;
    if ((rc = parse_name(p, &qname, &qlen)) < 0)
        return rc;
    colon = memchr(qname, ':', qlen);
    if (colon && (colon == qname || colon == qname + qlen - 1
                  || memchr(colon + 1, ':', (size_t)(qname + qlen - colon - 1))))
        return perr(p, start + 1, "malformed qualified name '%.*s'", (int)qlen, qname);
    for (;;) {
        size_t before = p->pos;

        skip_space(p);
        if (p->pos >= p->len)
            return perr(p, p->pos, "unexpected end of input in <%.*s>", (int)qlen, qname);
        if (p->s[p->pos] == '>' || at(p, "/>"))
            break;
        if (before == p->pos)
            return perr(p, p->pos, "expected whitespace, '>' or '/>' in <%.*s>", (int)qlen,
                        qname);
        if ((rc = parse_name(p, &aname, &alen)) < 0)
            return rc;
        for (i = 0; i < nattrs; i++)
            if (alens[i] == alen && memcmp(attrs[i], aname, alen) == 0)
                return perr(p, p->pos - alen, "attribute '%.*s' repeated", (int)alen, aname);
        if (nattrs == OSSXML_MAX_ATTRS)
            return perr(p, p->pos - alen, "more than %d attributes", OSSXML_MAX_ATTRS);
        attrs[nattrs] = aname;
        alens[nattrs++] = alen;
        skip_space(p);
        if (p->pos >= p->len || p->s[p->pos] != '=')
            return perr(p, p->pos, "expected '=' after attribute '%.*s'", (int)alen, aname);
        p->pos++;
        skip_space(p);
        if (p->pos >= p->len || (p->s[p->pos] != '"' && p->s[p->pos] != '\''))
            return perr(p, p->pos, "expected a quoted attribute value");
        quote = p->s[p->pos++];
        vstart = p->pos;
        /* values are checked, then dropped: no OSS document needs one */
        if ((rc = parse_chars(p, quote, NULL)) < 0)
            return rc;
        if (p->pos >= p->len || p->s[p->pos] != quote)
            return perr(p, p->pos, p->pos >= p->len ? "unterminated attribute value"
                                                    : "'<' in attribute value");
        if (p->pos - vstart > OSSXML_MAX_ATTR_VALUE)
            return perr(p, vstart, "attribute value longer than %d bytes",
                        OSSXML_MAX_ATTR_VALUE);
        p->pos++;
    }

    if (++p->nodes > OSSXML_MAX_NODES)
        return perr(p, start, "more than %d elements", OSSXML_MAX_NODES);
    if (!(node = arena_alloc(p->doc, sizeof(*node))))
        return nomem(p->err);
    memset(node, 0, sizeof(*node));
    colon = memchr(qname, ':', qlen);
    node->name = colon ? arena_strndup(p->doc, colon + 1, (size_t)(qname + qlen - colon - 1))
                       : arena_strndup(p->doc, qname, qlen);
    if (!node->name)
        return nomem(p->err);
    node->text = "";
    if (p->depth == 0) {
        p->doc->root = node;
    } else {
        parent = &p->st[p->depth - 1];
        if (parent->last)
            parent->last->next = node;
        else
            parent->node->child = node;
        parent->last = node;
    }
    if (at(p, "/>")) {
        p->pos += 2;
        return 0;
    }
    p->pos++;
    if (p->depth == OSSXML_MAX_DEPTH)
        return perr(p, start, "elements nested deeper than %d", OSSXML_MAX_DEPTH);
    f = &p->st[p->depth++];
    memset(f, 0, sizeof(*f));
    f->node = node;
    f->qname = qname;
    f->qlen = qlen;
    return 0;
}

static int
close_tag(struct parser *p)
{
    struct frame *f = &p->st[p->depth - 1];
    size_t start = p->pos, len;
    const char *name;
    int rc;

    p->pos += 2;
    if ((rc = parse_name(p, &name, &len)) < 0)
        return rc;
    if (len != f->qlen || memcmp(name, f->qname, len) != 0)
        return perr(p, start, "</%.*s> does not close <%.*s>", (int)len, name, (int)f->qlen,
                    f->qname);
    skip_space(p);
    if (p->pos >= p->len || p->s[p->pos] != '>')
        return perr(p, p->pos, "expected '>' to end </%.*s>", (int)len, name);
    p->pos++;
    if ((rc = close_text(p, f)) < 0)
        return rc;
    p->depth--;
    return 0;
}

static int
parse_content(struct parser *p)
{
    struct frame *f;
    size_t start, end;
    int rc;

    while (p->depth > 0) {
        f = &p->st[p->depth - 1];
        if (p->pos >= p->len)
            return perr(p, p->pos, "unexpected end of input inside <%.*s>", (int)f->qlen,
                        f->qname);
        if (p->s[p->pos] != '<') {
            rc = parse_chars(p, 0, &f->text);
        } else if (at(p, "</")) {
            rc = close_tag(p);
        } else if (at(p, "<!--")) {
            rc = skip_until(p, 4, "-->");
        } else if (at(p, "<![CDATA[")) {
            start = p->pos;
            p->pos += 9;
            for (end = p->pos; end + 3 <= p->len && memcmp(p->s + end, "]]>", 3) != 0; end++)
                ;
            if (end + 3 > p->len)
                return perr(p, start, "unterminated CDATA section");
            /* checked like text, but '&' and '<' are literal here */
            for (; p->pos < end; ) {
                uint32_t c;
                size_t n = utf8_next(p->s + p->pos, end - p->pos, &c);

                if (!n)
                    return perr(p, p->pos, "invalid UTF-8");
                if (!xml_char(c))
                    return perr(p, p->pos, "U+%04X is not an XML character", (unsigned)c);
                if (c == '\r') {
                    if (tbuf_add(&f->text, "\n", 1) < 0)
                        return nomem(p->err);
                    if (p->pos + 1 < end && p->s[p->pos + 1] == '\n')
                        p->pos++;
                } else if (tbuf_add(&f->text, p->s + p->pos, n) < 0) {
                    return nomem(p->err);
                }
                p->pos += n;
            }
            p->pos = end + 3;
            rc = 0;
        } else if (at(p, "<?")) {
            rc = skip_until(p, 2, "?>");
        } else if (at(p, "<!")) {
            rc = perr(p, p->pos, "markup declarations are not accepted");
        } else {
            rc = open_tag(p);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int
ossxml_parse(const char *buf, size_t len, struct ossxml_doc **ret_doc, struct otsync_err *err)
{
    struct parser p;
    bool more;
    int rc, i;

    *ret_doc = NULL;
    memset(&p, 0, sizeof(p));
    p.s = (const unsigned char *)buf;
    p.len = len;
    p.err = err;
    if (len > OSSXML_MAX_INPUT)
        return otsync_err_set(err, OTSYNC_EPROTO, "xml: document of %zu bytes, over %u", len,
                              OSSXML_MAX_INPUT);
    if (!(p.doc = calloc(1, sizeof(*p.doc))))
        return nomem(err);
    if (at(&p, "\xef\xbb\xbf"))
        p.pos = 3;
    if ((rc = skip_misc(&p, &more)) < 0)
        goto fail;
    if (!more) {
        rc = perr(&p, p.pos, "no root element");
        goto fail;
    }
    if (at(&p, "<!")) {
        rc = perr(&p, p.pos, "document type declarations are not accepted");
        goto fail;
    }
    if (p.s[p.pos] != '<') {
        rc = perr(&p, p.pos, "text before the root element");
        goto fail;
    }
    if ((rc = open_tag(&p)) < 0 || (rc = parse_content(&p)) < 0)
        goto fail;
    if ((rc = skip_misc(&p, &more)) < 0)
        goto fail;
    if (more) {
        rc = perr(&p, p.pos, "content after the root element");
        goto fail;
    }
    *ret_doc = p.doc;
    return 0;
fail:
    for (i = 0; i < p.depth; i++)
        free(p.st[i].text.p);
    ossxml_free(p.doc);
    return rc;
}

const struct ossxml_node *
ossxml_root(const struct ossxml_doc *doc)
{
    return doc ? doc->root : NULL;
}

const struct ossxml_node *
ossxml_child(const struct ossxml_node *n, const char *name)
{
    const struct ossxml_node *c;

    for (c = n ? n->child : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const struct ossxml_node *
ossxml_next(const struct ossxml_node *n)
{
    const struct ossxml_node *c;

    for (c = n ? n->next : NULL; c; c = c->next)
        if (strcmp(c->name, n->name) == 0)
            return c;
    return NULL;
}

const char *
ossxml_child_text(const struct ossxml_node *n, const char *name)
{
    const struct ossxml_node *c = ossxml_child(n, name);

    return c ? c->text : NULL;
}

/* ---- typed views ---- */

static int
need_root(struct ossxml_doc *doc, const char *name, const struct ossxml_node **ret_root,
          struct otsync_err *err)
{
    const struct ossxml_node *root = ossxml_root(doc);

    if (!root || strcmp(root->name, name) != 0)
        return otsync_err_set(err, OTSYNC_EPROTO, "xml: expected <%s>, found <%s>", name,
                              root ? root->name : "");
    *ret_root = root;
    return 0;
}

static int
need_text(const struct ossxml_node *n, const char *name, const char **ret,
          struct otsync_err *err)
{
    if (!(*ret = ossxml_child_text(n, name)))
        return otsync_err_set(err, OTSYNC_EPROTO, "xml: <%s> lacks <%s>", n->name, name);
    return 0;
}

/* A decimal number in child name: required or left untouched when absent. */
static int
get_u64(const struct ossxml_node *n, const char *name, bool required, uint64_t max,
        uint64_t *ret, struct otsync_err *err)
{
    const char *s = ossxml_child_text(n, name), *q;
    uint64_t v = 0;

    if (!s) {
        if (required)
            return otsync_err_set(err, OTSYNC_EPROTO, "xml: <%s> lacks <%s>", n->name, name);
        return 0;
    }
    for (q = s; *q; q++) {
        if (*q < '0' || *q > '9' || v > (max - (uint64_t)(*q - '0')) / 10)
            goto bad;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    if (q == s)
        goto bad;
    *ret = v;
    return 0;
bad:
    return otsync_err_set(err, OTSYNC_EPROTO, "xml: <%s> in <%s> is not a number up to %llu: "
                          "'%.40s'", name, n->name, (unsigned long long)max, s);
}

static int
get_u32(const struct ossxml_node *n, const char *name, bool required, uint32_t *ret,
        struct otsync_err *err)
{
    uint64_t v = *ret;
    int rc;

    if ((rc = get_u64(n, name, required, UINT32_MAX, &v, err)) < 0)
        return rc;
    *ret = (uint32_t)v;
    return 0;
}

static int
get_bool(const struct ossxml_node *n, const char *name, bool required, bool *ret,
         struct otsync_err *err)
{
    const char *s = ossxml_child_text(n, name);

    if (!s) {
        if (required)
            return otsync_err_set(err, OTSYNC_EPROTO, "xml: <%s> lacks <%s>", n->name, name);
        return 0;
    }
    if (strcmp(s, "true") == 0)
        *ret = true;
    else if (strcmp(s, "false") == 0)
        *ret = false;
    else
        return otsync_err_set(err, OTSYNC_EPROTO, "xml: <%s> in <%s> is not true or false: "
                              "'%.40s'", name, n->name, s);
    return 0;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * *s percent-decoded into the doc when url is set; '+' is a space as in a query string (the
 * Go and Java SDKs decode so; OSS writes '+' itself as %2B). NULL stays NULL.
 */
static int
url_decode(struct ossxml_doc *doc, bool url, const char **s, struct otsync_err *err)
{
    const char *in = *s;
    size_t n = 0, i;
    char *out;
    int hi, lo;

    if (!url || !in)
        return 0;
    if (!(out = arena_alloc(doc, strlen(in) + 1)))
        return nomem(err);
    for (i = 0; in[i]; i++) {
        if (in[i] == '%') {
            if ((hi = hexval(in[i + 1])) < 0 || (lo = hexval(in[i + 2])) < 0 || (hi | lo) == 0)
                return otsync_err_set(err, OTSYNC_EPROTO, "xml: bad url encoding in '%.60s'",
                                      in);
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = in[i] == '+' ? ' ' : in[i];
        }
    }
    out[n] = '\0';
    *s = out;
    return 0;
}

static bool
is_url(const char *encoding_type)
{
    return encoding_type && strcmp(encoding_type, "url") == 0;
}

static size_t
count_children(const struct ossxml_node *n, const char *name)
{
    const struct ossxml_node *c;
    size_t count = 0;

    for (c = ossxml_child(n, name); c; c = ossxml_next(c))
        count++;
    return count;
}

/* An array of count elements of size in the doc; never NULL on success, even for 0. */
static void *
doc_array(struct ossxml_doc *doc, size_t count, size_t size)
{
    void *a = arena_alloc(doc, count ? count * size : 1);

    if (a)
        memset(a, 0, count ? count * size : 1);
    return a;
}

int
ossxml_get_error(struct ossxml_doc *doc, struct ossxml_error *ret_e, struct otsync_err *err)
{
    static const char *const named[] = {"Code", "Message", "RequestId", "HostId"};
    const struct ossxml_node *root = NULL, *c;
    struct ossxml_field *extra;
    size_t count = 0, i;
    int rc;

    memset(ret_e, 0, sizeof(*ret_e));
    if ((rc = need_root(doc, "Error", &root, err)) < 0
        || (rc = need_text(root, "Code", &ret_e->code, err)) < 0)
        return rc;
    ret_e->message = ossxml_child_text(root, "Message");
    ret_e->request_id = ossxml_child_text(root, "RequestId");
    ret_e->host_id = ossxml_child_text(root, "HostId");
    for (c = root->child; c; c = c->next)
        count++;
    if (!(extra = doc_array(doc, count, sizeof(*extra))))
        return nomem(err);
    count = 0;
    for (c = root->child; c; c = c->next) {
        for (i = 0; i < 4 && strcmp(c->name, named[i]) != 0; i++)
            ;
        if (i < 4)
            continue;
        extra[count].name = c->name;
        extra[count++].value = c->text;
    }
    ret_e->extra = extra;
    ret_e->extra_count = count;
    return 0;
}

const char *
ossxml_error_field(const struct ossxml_error *e, const char *name)
{
    size_t i;

    for (i = 0; i < e->extra_count; i++)
        if (strcmp(e->extra[i].name, name) == 0)
            return e->extra[i].value;
    return NULL;
}

int
ossxml_get_list(struct ossxml_doc *doc, struct ossxml_list *ret_l, struct otsync_err *err)
{
    static const char *const v2_only[] = {"KeyCount", "ContinuationToken",
                                          "NextContinuationToken", "StartAfter"};
    const struct ossxml_node *root = NULL, *c, *owner;
    struct ossxml_object *objs;
    const char **prefixes;
    struct ossxml_list l;
    size_t i;
    bool url;
    int rc;

    memset(ret_l, 0, sizeof(*ret_l));
    memset(&l, 0, sizeof(l));
    if ((rc = need_root(doc, "ListBucketResult", &root, err)) < 0)
        return rc;
    for (i = 0; i < 4; i++)
        l.v2 |= ossxml_child(root, v2_only[i]) != NULL;
    l.name = ossxml_child_text(root, "Name");
    l.prefix = ossxml_child_text(root, "Prefix");
    l.delimiter = ossxml_child_text(root, "Delimiter");
    l.encoding_type = ossxml_child_text(root, "EncodingType");
    l.marker = ossxml_child_text(root, "Marker");
    l.next_marker = ossxml_child_text(root, "NextMarker");
    l.start_after = ossxml_child_text(root, "StartAfter");
    l.continuation_token = ossxml_child_text(root, "ContinuationToken");
    l.next_continuation_token = ossxml_child_text(root, "NextContinuationToken");
    url = is_url(l.encoding_type);
    if ((rc = get_u64(root, "MaxKeys", false, UINT64_MAX, &l.max_keys, err)) < 0
        || (rc = get_u64(root, "KeyCount", false, UINT64_MAX, &l.key_count, err)) < 0
        || (rc = get_bool(root, "IsTruncated", true, &l.is_truncated, err)) < 0
        || (rc = url_decode(doc, url, &l.prefix, err)) < 0
        || (rc = url_decode(doc, url, &l.delimiter, err)) < 0
        || (rc = url_decode(doc, url, &l.marker, err)) < 0
        || (rc = url_decode(doc, url, &l.next_marker, err)) < 0
        || (rc = url_decode(doc, url, &l.start_after, err)) < 0)
        return rc;

    l.object_count = count_children(root, "Contents");
    if (!(objs = doc_array(doc, l.object_count, sizeof(*objs))))
        return nomem(err);
    for (c = ossxml_child(root, "Contents"), i = 0; c; c = ossxml_next(c), i++) {
        if ((rc = need_text(c, "Key", &objs[i].key, err)) < 0
            || (rc = url_decode(doc, url, &objs[i].key, err)) < 0
            || (rc = get_u64(c, "Size", true, UINT64_MAX, &objs[i].size, err)) < 0)
            return rc;
        objs[i].etag = ossxml_child_text(c, "ETag");
        objs[i].last_modified = ossxml_child_text(c, "LastModified");
        objs[i].type = ossxml_child_text(c, "Type");
        objs[i].storage_class = ossxml_child_text(c, "StorageClass");
        if ((owner = ossxml_child(c, "Owner"))) {
            objs[i].owner_id = ossxml_child_text(owner, "ID");
            objs[i].owner_name = ossxml_child_text(owner, "DisplayName");
        }
    }
    l.objects = objs;

    l.prefix_count = count_children(root, "CommonPrefixes");
    if (!(prefixes = doc_array(doc, l.prefix_count, sizeof(*prefixes))))
        return nomem(err);
    for (c = ossxml_child(root, "CommonPrefixes"), i = 0; c; c = ossxml_next(c), i++)
        if ((rc = need_text(c, "Prefix", &prefixes[i], err)) < 0
            || (rc = url_decode(doc, url, &prefixes[i], err)) < 0)
            return rc;
    l.prefixes = prefixes;
    *ret_l = l;
    return 0;
}

int
ossxml_get_initiate(struct ossxml_doc *doc, struct ossxml_initiate *ret_i,
                    struct otsync_err *err)
{
    const struct ossxml_node *root = NULL;
    struct ossxml_initiate r;
    int rc;

    memset(ret_i, 0, sizeof(*ret_i));
    if ((rc = need_root(doc, "InitiateMultipartUploadResult", &root, err)) < 0
        || (rc = need_text(root, "UploadId", &r.upload_id, err)) < 0)
        return rc;
    if (!*r.upload_id)
        return otsync_err_set(err, OTSYNC_EPROTO, "xml: empty <UploadId>");
    r.bucket = ossxml_child_text(root, "Bucket");
    r.key = ossxml_child_text(root, "Key");
    r.encoding_type = ossxml_child_text(root, "EncodingType");
    if ((rc = url_decode(doc, is_url(r.encoding_type), &r.key, err)) < 0)
        return rc;
    *ret_i = r;
    return 0;
}

/* Parts of a Complete body or a ListParts result; full adds the ListParts fields. */
static int
get_parts(struct ossxml_doc *doc, const struct ossxml_node *root, bool full,
          const struct ossxml_part **ret_parts, size_t *ret_count, struct otsync_err *err)
{
    const struct ossxml_node *c;
    struct ossxml_part *parts;
    size_t count = count_children(root, "Part"), i;
    int rc;

    if (!(parts = doc_array(doc, count, sizeof(*parts))))
        return nomem(err);
    for (c = ossxml_child(root, "Part"), i = 0; c; c = ossxml_next(c), i++) {
        if ((rc = get_u32(c, "PartNumber", true, &parts[i].part_number, err)) < 0
            || (rc = need_text(c, "ETag", &parts[i].etag, err)) < 0)
            return rc;
        if (parts[i].part_number < 1 || parts[i].part_number > 10000)
            return otsync_err_set(err, OTSYNC_EPROTO, "xml: part number %u outside 1..10000",
                                  (unsigned)parts[i].part_number);
        if (!full)
            continue;
        parts[i].last_modified = ossxml_child_text(c, "LastModified");
        parts[i].has_crc64 = ossxml_child(c, "HashCrc64ecma") != NULL;
        if ((rc = get_u64(c, "Size", true, UINT64_MAX, &parts[i].size, err)) < 0
            || (rc = get_u64(c, "HashCrc64ecma", false, UINT64_MAX, &parts[i].crc64, err)) < 0)
            return rc;
    }
    *ret_parts = parts;
    *ret_count = count;
    return 0;
}

int
ossxml_get_complete(struct ossxml_doc *doc, struct ossxml_complete *ret_c, struct otsync_err *err)
{
    const struct ossxml_node *root = NULL;
    int rc;

    memset(ret_c, 0, sizeof(*ret_c));
    if ((rc = need_root(doc, "CompleteMultipartUpload", &root, err)) < 0)
        return rc;
    return get_parts(doc, root, false, &ret_c->parts, &ret_c->part_count, err);
}

int
ossxml_get_complete_result(struct ossxml_doc *doc, struct ossxml_complete_result *ret_r,
                           struct otsync_err *err)
{
    const struct ossxml_node *root = NULL;
    struct ossxml_complete_result r;
    int rc;

    memset(ret_r, 0, sizeof(*ret_r));
    if ((rc = need_root(doc, "CompleteMultipartUploadResult", &root, err)) < 0)
        return rc;
    r.location = ossxml_child_text(root, "Location");
    r.bucket = ossxml_child_text(root, "Bucket");
    r.key = ossxml_child_text(root, "Key");
    r.etag = ossxml_child_text(root, "ETag");
    r.encoding_type = ossxml_child_text(root, "EncodingType");
    if ((rc = url_decode(doc, is_url(r.encoding_type), &r.key, err)) < 0)
        return rc;
    *ret_r = r;
    return 0;
}

int
ossxml_get_delete(struct ossxml_doc *doc, struct ossxml_delete *ret_d, struct otsync_err *err)
{
    const struct ossxml_node *root = NULL, *c;
    const char **keys;
    size_t i;
    int rc;

    memset(ret_d, 0, sizeof(*ret_d));
    if ((rc = need_root(doc, "Delete", &root, err)) < 0
        || (rc = get_bool(root, "Quiet", false, &ret_d->quiet, err)) < 0)
        return rc;
    ret_d->key_count = count_children(root, "Object");
    if (!(keys = doc_array(doc, ret_d->key_count, sizeof(*keys))))
        return nomem(err);
    for (c = ossxml_child(root, "Object"), i = 0; c; c = ossxml_next(c), i++)
        if ((rc = need_text(c, "Key", &keys[i], err)) < 0)
            return rc;
    ret_d->keys = keys;
    return 0;
}

int
ossxml_get_delete_result(struct ossxml_doc *doc, struct ossxml_delete_result *ret_r,
                         struct otsync_err *err)
{
    const struct ossxml_node *root = NULL, *c;
    const char **keys;
    size_t i;
    int rc;

    memset(ret_r, 0, sizeof(*ret_r));
    if ((rc = need_root(doc, "DeleteResult", &root, err)) < 0)
        return rc;
    ret_r->encoding_type = ossxml_child_text(root, "EncodingType");
    ret_r->deleted_count = count_children(root, "Deleted");
    if (!(keys = doc_array(doc, ret_r->deleted_count, sizeof(*keys))))
        return nomem(err);
    for (c = ossxml_child(root, "Deleted"), i = 0; c; c = ossxml_next(c), i++)
        if ((rc = need_text(c, "Key", &keys[i], err)) < 0
            || (rc = url_decode(doc, is_url(ret_r->encoding_type), &keys[i], err)) < 0)
            return rc;
    ret_r->deleted = keys;
    return 0;
}

int
ossxml_get_list_parts(struct ossxml_doc *doc, struct ossxml_list_parts *ret_p,
                      struct otsync_err *err)
{
    const struct ossxml_node *root = NULL;
    struct ossxml_list_parts r;
    int rc;

    memset(ret_p, 0, sizeof(*ret_p));
    memset(&r, 0, sizeof(r));
    if ((rc = need_root(doc, "ListPartsResult", &root, err)) < 0)
        return rc;
    r.bucket = ossxml_child_text(root, "Bucket");
    r.key = ossxml_child_text(root, "Key");
    r.upload_id = ossxml_child_text(root, "UploadId");
    r.encoding_type = ossxml_child_text(root, "EncodingType");
    if ((rc = url_decode(doc, is_url(r.encoding_type), &r.key, err)) < 0
        || (rc = get_u32(root, "PartNumberMarker", false, &r.part_number_marker, err)) < 0
        || (rc = get_u32(root, "NextPartNumberMarker", false, &r.next_part_number_marker,
                         err)) < 0
        || (rc = get_u32(root, "MaxParts", false, &r.max_parts, err)) < 0
        || (rc = get_bool(root, "IsTruncated", true, &r.is_truncated, err)) < 0
        || (rc = get_parts(doc, root, true, &r.parts, &r.part_count, err)) < 0)
        return rc;
    *ret_p = r;
    return 0;
}

/* ---- writers ---- */

struct wbuf {
    char *p;
    size_t len, cap;
    int rc;             /* the first failure; later writes do nothing */
    struct otsync_err *err;
};

static void
w_raw(struct wbuf *w, const char *s, size_t n)
{
    size_t cap;
    char *np;

    if (w->rc)
        return;
    if (w->len + n + 1 > w->cap) {
        if (w->len + n + 1 > WRITE_MAX) {
            w->rc = otsync_err_set(w->err, OTSYNC_EINVAL, "xml: document over %u bytes",
                                   WRITE_MAX);
            return;
        }
        cap = w->cap ? w->cap : 1024;
        while (cap < w->len + n + 1)
            cap *= 2;
        if (!(np = realloc(w->p, cap))) {
            w->rc = nomem(w->err);
            return;
        }
        w->p = np;
        w->cap = cap;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void
w_str(struct wbuf *w, const char *s)
{
    w_raw(w, s, strlen(s));
}

/*
 * s escaped as element text; quotes stay, as they may in text, so a Complete body with quoted
 * ETags reads as the SDKs send it. Refuses what the reader would refuse.
 */
static void
w_text(struct wbuf *w, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n, run = 0, len = strlen(s);
    const char *esc;
    uint32_t c;

    while (i < len && !w->rc) {
        switch (u[i]) {
        case '&': esc = "&amp;"; break;
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '\r': esc = "&#13;"; break;    /* a raw CR would come back as LF */
        default: esc = NULL;
        }
        if (esc) {
            w_raw(w, s + run, i - run);
            w_str(w, esc);
            run = ++i;
            continue;
        }
        if (!(n = utf8_next(u + i, len - i, &c)) || !xml_char(c)) {
            w->rc = otsync_err_set(w->err, OTSYNC_EINVAL, "xml: '%.60s' has a byte XML cannot "
                                   "carry at %zu; use encoding-type url", s, i);
            return;
        }
        i += n;
    }
    w_raw(w, s + run, i - run);
}

/* s percent-encoded as OSS does for encoding-type=url: RFC 3986 unreserved and '/' stay. */
static void
w_urlenc(struct wbuf *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char c;
    char esc[3];

    for (; *s; s++) {
        c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            w_raw(w, s, 1);
        } else {
            esc[0] = '%';
            esc[1] = hex[c >> 4];
            esc[2] = hex[c & 15];
            w_raw(w, esc, 3);
        }
    }
}

/* <name>text</name>; nothing when s is NULL unless always, then an empty element. */
static void
w_elem(struct wbuf *w, const char *name, const char *s, bool always, bool url)
{
    if (!s && !always)
        return;
    w_str(w, "<");
    w_str(w, name);
    w_str(w, ">");
    if (s && url)
        w_urlenc(w, s);
    else if (s)
        w_text(w, s);
    w_str(w, "</");
    w_str(w, name);
    w_str(w, ">");
}

static void
w_u64(struct wbuf *w, const char *name, uint64_t v)
{
    char num[24];

    snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    w_elem(w, name, num, true, false);
}

static void
w_bool(struct wbuf *w, const char *name, bool v)
{
    w_elem(w, name, v ? "true" : "false", true, false);
}

static void
w_begin(struct wbuf *w, struct otsync_err *err, const char *root)
{
    memset(w, 0, sizeof(*w));
    w->err = err;
    w_str(w, PROLOG "<");
    w_str(w, root);
    w_str(w, ">");
}

static int
w_end(struct wbuf *w, const char *root, char **ret_xml, size_t *ret_len)
{
    w_str(w, "</");
    w_str(w, root);
    w_str(w, ">");
    *ret_xml = NULL;
    *ret_len = 0;
    if (w->rc) {
        free(w->p);
        return w->rc;
    }
    *ret_xml = w->p;
    *ret_len = w->len;
    return 0;
}

static bool
valid_name(const char *s)
{
    if (!name_start((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!name_char((unsigned char)*s))
            return false;
    return true;
}

int
ossxml_write_error(const struct ossxml_error *e, char **ret_xml, size_t *ret_len,
                   struct otsync_err *err)
{
    struct wbuf w;
    size_t i;

    w_begin(&w, err, "Error");
    w_elem(&w, "Code", e->code ? e->code : "", true, false);
    w_elem(&w, "Message", e->message ? e->message : "", true, false);
    w_elem(&w, "RequestId", e->request_id ? e->request_id : "", true, false);
    w_elem(&w, "HostId", e->host_id ? e->host_id : "", true, false);
    for (i = 0; i < e->extra_count; i++) {
        if (!valid_name(e->extra[i].name)) {
            if (!w.rc)
                w.rc = otsync_err_set(err, OTSYNC_EINVAL, "xml: bad element name '%.60s'",
                                      e->extra[i].name);
            break;
        }
        w_elem(&w, e->extra[i].name, e->extra[i].value ? e->extra[i].value : "", true, false);
    }
    return w_end(&w, "Error", ret_xml, ret_len);
}

int
ossxml_write_list(const struct ossxml_list *l, char **ret_xml, size_t *ret_len,
                  struct otsync_err *err)
{
    bool url = is_url(l->encoding_type);
    const struct ossxml_object *o;
    struct wbuf w;
    size_t i;

    w_begin(&w, err, "ListBucketResult");
    w_elem(&w, "Name", l->name ? l->name : "", true, false);
    w_elem(&w, "Prefix", l->prefix ? l->prefix : "", true, url);
    if (!l->v2)
        w_elem(&w, "Marker", l->marker ? l->marker : "", true, url);
    w_u64(&w, "MaxKeys", l->max_keys);
    w_elem(&w, "Delimiter", l->delimiter ? l->delimiter : "", true, url);
    if (l->v2) {
        w_elem(&w, "StartAfter", l->start_after, false, url);
        w_elem(&w, "ContinuationToken", l->continuation_token, false, false);
    }
    w_elem(&w, "EncodingType", l->encoding_type, false, false);
    w_bool(&w, "IsTruncated", l->is_truncated);
    if (l->v2) {
        w_elem(&w, "NextContinuationToken", l->next_continuation_token, false, false);
        w_u64(&w, "KeyCount", l->object_count + l->prefix_count);
    } else {
        w_elem(&w, "NextMarker", l->next_marker, false, url);
    }
    for (i = 0; i < l->object_count; i++) {
        o = &l->objects[i];
        w_str(&w, "<Contents>");
        w_elem(&w, "Key", o->key ? o->key : "", true, url);
        w_elem(&w, "LastModified", o->last_modified, false, false);
        w_elem(&w, "ETag", o->etag, false, false);
        w_elem(&w, "Type", o->type, false, false);
        w_u64(&w, "Size", o->size);
        w_elem(&w, "StorageClass", o->storage_class, false, false);
        if (o->owner_id) {
            w_str(&w, "<Owner>");
            w_elem(&w, "ID", o->owner_id, true, false);
            w_elem(&w, "DisplayName", o->owner_name ? o->owner_name : o->owner_id, true, false);
            w_str(&w, "</Owner>");
        }
        w_str(&w, "</Contents>");
    }
    for (i = 0; i < l->prefix_count; i++) {
        w_str(&w, "<CommonPrefixes>");
        w_elem(&w, "Prefix", l->prefixes[i] ? l->prefixes[i] : "", true, url);
        w_str(&w, "</CommonPrefixes>");
    }
    return w_end(&w, "ListBucketResult", ret_xml, ret_len);
}

int
ossxml_write_initiate(const struct ossxml_initiate *i, char **ret_xml, size_t *ret_len,
                      struct otsync_err *err)
{
    bool url = is_url(i->encoding_type);
    struct wbuf w;

    w_begin(&w, err, "InitiateMultipartUploadResult");
    w_elem(&w, "Bucket", i->bucket ? i->bucket : "", true, false);
    w_elem(&w, "Key", i->key ? i->key : "", true, url);
    w_elem(&w, "UploadId", i->upload_id ? i->upload_id : "", true, false);
    w_elem(&w, "EncodingType", i->encoding_type, false, false);
    return w_end(&w, "InitiateMultipartUploadResult", ret_xml, ret_len);
}

int
ossxml_write_complete(const struct ossxml_complete *c, char **ret_xml, size_t *ret_len,
                      struct otsync_err *err)
{
    struct wbuf w;
    size_t i;

    /* one element a line, the layout ali-oss sends */
    w_begin(&w, err, "CompleteMultipartUpload");
    for (i = 0; i < c->part_count; i++) {
        w_str(&w, "\n<Part>\n");
        w_u64(&w, "PartNumber", c->parts[i].part_number);
        w_str(&w, "\n");
        w_elem(&w, "ETag", c->parts[i].etag ? c->parts[i].etag : "", true, false);
        w_str(&w, "\n</Part>");
    }
    w_str(&w, "\n");
    return w_end(&w, "CompleteMultipartUpload", ret_xml, ret_len);
}

int
ossxml_write_complete_result(const struct ossxml_complete_result *r, char **ret_xml,
                             size_t *ret_len, struct otsync_err *err)
{
    bool url = is_url(r->encoding_type);
    struct wbuf w;

    w_begin(&w, err, "CompleteMultipartUploadResult");
    w_elem(&w, "EncodingType", r->encoding_type, false, false);
    w_elem(&w, "Location", r->location ? r->location : "", true, false);
    w_elem(&w, "Bucket", r->bucket ? r->bucket : "", true, false);
    w_elem(&w, "Key", r->key ? r->key : "", true, url);
    w_elem(&w, "ETag", r->etag ? r->etag : "", true, false);
    return w_end(&w, "CompleteMultipartUploadResult", ret_xml, ret_len);
}

int
ossxml_write_delete(const struct ossxml_delete *d, char **ret_xml, size_t *ret_len,
                    struct otsync_err *err)
{
    struct wbuf w;
    size_t i;

    w_begin(&w, err, "Delete");
    w_bool(&w, "Quiet", d->quiet);
    for (i = 0; i < d->key_count; i++) {
        w_str(&w, "<Object>");
        w_elem(&w, "Key", d->keys[i] ? d->keys[i] : "", true, false);
        w_str(&w, "</Object>");
    }
    return w_end(&w, "Delete", ret_xml, ret_len);
}

int
ossxml_write_delete_result(const struct ossxml_delete_result *r, char **ret_xml,
                           size_t *ret_len, struct otsync_err *err)
{
    bool url = is_url(r->encoding_type);
    struct wbuf w;
    size_t i;

    w_begin(&w, err, "DeleteResult");
    w_elem(&w, "EncodingType", r->encoding_type, false, false);
    for (i = 0; i < r->deleted_count; i++) {
        w_str(&w, "<Deleted>");
        w_elem(&w, "Key", r->deleted[i] ? r->deleted[i] : "", true, url);
        w_str(&w, "</Deleted>");
    }
    return w_end(&w, "DeleteResult", ret_xml, ret_len);
}

int
ossxml_write_list_parts(const struct ossxml_list_parts *p, char **ret_xml, size_t *ret_len,
                        struct otsync_err *err)
{
    bool url = is_url(p->encoding_type);
    const struct ossxml_part *pt;
    struct wbuf w;
    size_t i;

    w_begin(&w, err, "ListPartsResult");
    w_elem(&w, "Bucket", p->bucket ? p->bucket : "", true, false);
    w_elem(&w, "EncodingType", p->encoding_type, false, false);
    w_elem(&w, "Key", p->key ? p->key : "", true, url);
    w_elem(&w, "UploadId", p->upload_id ? p->upload_id : "", true, false);
    w_u64(&w, "PartNumberMarker", p->part_number_marker);
    w_u64(&w, "NextPartNumberMarker", p->next_part_number_marker);
    w_u64(&w, "MaxParts", p->max_parts);
    w_bool(&w, "IsTruncated", p->is_truncated);
    for (i = 0; i < p->part_count; i++) {
        pt = &p->parts[i];
        w_str(&w, "<Part>");
        w_u64(&w, "PartNumber", pt->part_number);
        w_elem(&w, "LastModified", pt->last_modified, false, false);
        w_elem(&w, "ETag", pt->etag ? pt->etag : "", true, false);
        if (pt->has_crc64)
            w_u64(&w, "HashCrc64ecma", pt->crc64);
        w_u64(&w, "Size", pt->size);
        w_str(&w, "</Part>");
    }
    return w_end(&w, "ListPartsResult", ret_xml, ret_len);
}
