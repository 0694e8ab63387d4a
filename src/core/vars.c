/*
 * vars.c - the vendor's scheduling parameters: finding references in a string, checking them,
 * and rendering them for one instance's scheduled time (grammar in vars.h).
 *
 * Owns: the reference syntax, time arithmetic on the scheduled time, and the error text for
 * a bad reference. Leaves to others: where strings come from (catalog, job templates), when
 * rendering happens (sched), and the timezone, which the daemon sets once through TZ; this
 * file never calls tzset or touches the environment.
 *
 * check and render share one parser, so a string that passes vars_check cannot fail in
 * vars_render except for a ${name} the instance does not define. Substituted custom values
 * are inserted as they are, never rendered again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "otsync/vars.h"

/* Largest |N| in an offset: about 2,700 years in days, so struct tm arithmetic never overflows. */
#define OFFSET_MAX 999999L
/* A reference longer than this is cut, with "...", when quoted in a message. */
#define QUOTE_MAX 80

enum ref_kind {
    REF_BIZDATE,    /* $bizdate */
    REF_CYCTIME,    /* $cyctime */
    REF_BRACE,      /* ${...}: a custom param, a system name or a bizdate format */
    REF_BRACKET,    /* $[...]: a time expression on the scheduled time */
};

/* One reference in the input: s[start] is its '$', s[end] the first byte after it. */
struct ref {
    enum ref_kind kind;
    size_t start, end;
    const char *body;       /* between the braces or brackets */
    size_t body_len;
};

enum unit { UNIT_DAY, UNIT_HOUR, UNIT_MINUTE, UNIT_MONTH };

/* A parsed time expression: FMT, and a signed offset n in unit (n == 0: none). */
struct texpr {
    const char *fmt;
    size_t fmt_len;
    long n;
    enum unit unit;
};

/* The output string, grown by doubling; oom sticks once an allocation failed. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static const char sys_bizdate[] = "bdp.system.bizdate";
static const char sys_cyctime[] = "bdp.system.cyctime";

static bool
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A letter that may start a token; 'T' is a literal, for ISO 8601's "yyyy-mm-ddThh24:mi:ss". */
static bool
is_fmt_letter(char c)
{
    return is_alpha(c) && c != 'T';
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_name_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_';
}

/* The whole text is a custom param's name: [A-Za-z_][A-Za-z0-9_.]*. */
static bool
is_name(const char *p, size_t len)
{
    size_t i;

    if (len == 0 || !(is_alpha(p[0]) || p[0] == '_'))
        return false;
    for (i = 1; i < len; i++)
        if (!is_name_char(p[i]) && p[i] != '.')
            return false;
    return true;
}

static bool
span_eq(const char *p, size_t len, const char *z)
{
    return strncmp(p, z, len) == 0 && z[len] == '\0';
}

/* Fills e (may be NULL) with off and the message; returns -OTSYNC_ECONFIG. */
static int OTSYNC_PRINTF(3, 4)
set_err(struct vars_error *e, size_t off, const char *fmt, ...)
{
    va_list ap;

    if (e) {
        e->offset = off;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return -OTSYNC_ECONFIG;
}

/*
 * The messages quote text with "%.*s%s": quote_len() gives the precision and quote_tail() the
 * "..." that marks a cut, so a long reference cannot push the rest of the message out.
 */
static int
quote_len(size_t len)
{
    return len > QUOTE_MAX ? QUOTE_MAX - 3 : (int)len;
}

static const char *
quote_tail(size_t len)
{
    return len > QUOTE_MAX ? "..." : "";
}

#define QUOTE(p, len) quote_len(len), (p), quote_tail(len)
#define REF_QUOTE(s, r) QUOTE((s) + (r)->start, (r)->end - (r)->start)

/*
 * Looks at the '$' at s[pos]. Returns 1 and *r for a reference, 0 when the '$' is literal
 * text, or -OTSYNC_ECONFIG for an unterminated or empty one.
 */
static int
find_ref(const char *s, size_t pos, struct ref *r, struct vars_error *e)
{
    const char *p = s + pos + 1, *close;
    size_t rest;

    r->start = pos;
    if (*p == '{' || *p == '[') {
        close = strchr(p + 1, *p == '{' ? '}' : ']');
        if (!close) {
            rest = strlen(s + pos);
            return set_err(e, pos, "unterminated '$%c' in '%.*s%s'", *p, QUOTE(s + pos, rest));
        }
        r->kind = *p == '{' ? REF_BRACE : REF_BRACKET;
        r->body = p + 1;
        r->body_len = (size_t)(close - r->body);
        r->end = (size_t)(close - s) + 1;
        if (r->body_len == 0)
            return set_err(e, pos, "empty %s in '$%c%c'", *p == '{' ? "name" : "expression",
                           *p, *close);
        return 1;
    }
    /* the short forms only when the word ends there: "$bizdates" is literal text */
    if (strncmp(p, "bizdate", 7) == 0 && !is_name_char(p[7])) {
        r->kind = REF_BIZDATE;
        r->end = pos + 8;
        return 1;
    }
    if (strncmp(p, "cyctime", 7) == 0 && !is_name_char(p[7])) {
        r->kind = REF_CYCTIME;
        r->end = pos + 8;
        return 1;
    }
    return 0;
}

/* The FMT tokens, longest first where one is a prefix of another. */
static const char *const tokens[] = { "yyyy", "yy", "mm", "dd", "hh24", "mi", "ss" };

/* Index of the token that starts at p (within len bytes), or -1. */
static int
token_at(const char *p, size_t len)
{
    size_t i, n;

    for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        n = strlen(tokens[i]);
        if (n <= len && memcmp(p, tokens[i], n) == 0)
            return (int)i;
    }
    return -1;
}

/*
 * Checks FMT; r is the reference it came from, for the message. An unknown token is named
 * as the letters that do not form one, up to where a real token starts ('hh' in "hhmiss"),
 * or a whole run of one letter when a token is followed by its own letter ('yyyyy').
 */
static int
check_fmt(const char *s, const struct ref *r, const char *fmt, size_t len,
          struct vars_error *e)
{
    size_t i = 0, j, n;
    int t, count = 0;

    while (i < len) {
        if (is_fmt_letter(fmt[i])) {
            t = token_at(fmt + i, len - i);
            if (t >= 0) {
                n = strlen(tokens[t]);
                if (tokens[t][0] == tokens[t][n - 1] && i + n < len && fmt[i + n] == fmt[i]) {
                    for (j = i + n; j < len && fmt[j] == fmt[i]; j++)
                        ;
                    return set_err(e, r->start, "unknown token '%.*s%s' in '%.*s%s'",
                                   QUOTE(fmt + i, j - i), REF_QUOTE(s, r));
                }
                i += n;
                count++;
                continue;
            }
            for (j = i + 1; j < len && is_fmt_letter(fmt[j]) && token_at(fmt + j, len - j) < 0;
                 j++)
                ;
            return set_err(e, r->start, "unknown token '%.*s%s' in '%.*s%s'",
                           QUOTE(fmt + i, j - i), REF_QUOTE(s, r));
        }
        if (is_digit(fmt[i])) {
            /* digits are neither tokens nor separators: "yyyymmdd01" means nothing sure */
            for (j = i + 1; j < len && is_digit(fmt[j]); j++)
                ;
            return set_err(e, r->start, "unexpected number '%.*s%s' in '%.*s%s'",
                           QUOTE(fmt + i, j - i), REF_QUOTE(s, r));
        }
        i++;
    }
    if (count == 0)
        return set_err(e, r->start, "no time token (yyyy yy mm dd hh24 mi ss) in '%.*s%s'",
                       REF_QUOTE(s, r));
    return 0;
}

/* Reads 1..6 digits at p[*i..len) into *ret_n. */
static bool
read_count(const char *p, size_t len, size_t *i, long *ret_n)
{
    size_t start = *i;
    long n = 0;

    while (*i < len && is_digit(p[*i])) {
        if (*i - start >= 6)
            return false;
        n = n * 10 + (p[*i] - '0');
        (*i)++;
    }
    *ret_n = n;
    return *i > start;
}

/*
 * Splits body into FMT and the offset at its end: [+-]N, [+-]N/24 or [+-]N/24/60. The last
 * sign followed by a digit starts the offset ("yyyy-mm-dd" has none, "yyyy-mm-dd-1" has -1);
 * what follows it must then be one of those three forms exactly.
 */
static int
split_offset(const char *s, const struct ref *r, const char *body, size_t len,
             struct texpr *x, struct vars_error *e)
{
    size_t i, sign = len;
    long n;

    x->fmt = body;
    x->fmt_len = len;
    x->n = 0;
    x->unit = UNIT_DAY;
    for (i = len; i > 0; i--)
        if (body[i - 1] == '+' || body[i - 1] == '-') {
            sign = i - 1;
            break;
        }
    if (sign == len || sign + 1 >= len || !is_digit(body[sign + 1]))
        return 0;
    i = sign + 1;
    if (!read_count(body, len, &i, &n))
        goto bad;
    if (i < len) {
        if (len - i >= 3 && memcmp(body + i, "/24", 3) == 0) {
            i += 3;
            x->unit = UNIT_HOUR;
        }
        if (x->unit == UNIT_HOUR && len - i >= 3 && memcmp(body + i, "/60", 3) == 0) {
            i += 3;
            x->unit = UNIT_MINUTE;
        }
        if (i != len)
            goto bad;
    }
    x->fmt_len = sign;
    x->n = body[sign] == '-' ? -n : n;
    return 0;
bad:
    return set_err(e, r->start,
                   "bad offset '%.*s%s' in '%.*s%s' (expected N, N/24 or N/24/60 days)",
                   QUOTE(body + sign, len - sign), REF_QUOTE(s, r));
}

/* Parses the body of $[...] into *x, checking everything but nothing about the instance. */
static int
parse_bracket(const char *s, const struct ref *r, struct texpr *x, struct vars_error *e)
{
    static const char am[] = "add_months(";
    const size_t am_len = sizeof(am) - 1;
    const char *b = r->body, *comma = NULL, *p, *end;
    size_t len = r->body_len, i;
    long n;
    int rc;

    if (len < am_len || memcmp(b, am, am_len) != 0) {
        if ((rc = split_offset(s, r, b, len, x, e)) < 0)
            return rc;
        return check_fmt(s, r, x->fmt, x->fmt_len, e);
    }
    for (i = am_len; i < len; i++)
        if (b[i] == ',')
            comma = b + i;
    if (b[len - 1] != ')' || !comma)
        goto bad;
    /* N: optional spaces, an optional sign, 1..6 digits, optional spaces */
    end = b + len - 1;
    for (p = comma + 1; p < end && *p == ' '; p++)
        ;
    i = (size_t)(p - b) + (p < end && (*p == '+' || *p == '-'));
    if (!read_count(b, len - 1, &i, &n))
        goto bad;
    for (; i < len - 1 && b[i] == ' '; i++)
        ;
    if (i != len - 1)
        goto bad;
    x->fmt = b + am_len;
    x->fmt_len = (size_t)(comma - x->fmt);
    x->n = *p == '-' ? -n : n;
    x->unit = UNIT_MONTH;
    return check_fmt(s, r, x->fmt, x->fmt_len, e);
bad:
    return set_err(e, r->start, "bad add_months in '%.*s%s' (expected add_months(FMT,N))",
                   REF_QUOTE(s, r));
}

/* Parses the body of ${...} as a bizdate format with a day offset. */
static int
parse_brace_time(const char *s, const struct ref *r, struct texpr *x, struct vars_error *e)
{
    int rc;

    if ((rc = split_offset(s, r, r->body, r->body_len, x, e)) < 0)
        return rc;
    if (x->unit != UNIT_DAY)
        return set_err(e, r->start,
                       "bad offset '%.*s%s' in '%.*s%s': ${...} moves whole days, "
                       "use $[...] for hours and minutes",
                       QUOTE(x->fmt + x->fmt_len, r->body_len - x->fmt_len), REF_QUOTE(s, r));
    return check_fmt(s, r, x->fmt, x->fmt_len, e);
}

/* REF_BIZDATE, REF_CYCTIME for a system name inside ${...}, else -1. */
static int
system_name(const char *p, size_t len)
{
    if (span_eq(p, len, sys_bizdate) || span_eq(p, len, "bizdate"))
        return REF_BIZDATE;
    if (span_eq(p, len, sys_cyctime) || span_eq(p, len, "cyctime"))
        return REF_CYCTIME;
    return -1;
}

/*
 * The ${...} that is neither a custom param nor a system name: a time format, or else an
 * error. A body shaped like a name was meant as one ("undefined parameter"); anything else
 * was meant as a format and gets the format's own error.
 */
static int
parse_brace_fallback(const char *s, const struct ref *r, struct texpr *x, struct vars_error *e)
{
    struct vars_error fmt_err;
    int rc;

    if ((rc = parse_brace_time(s, r, x, &fmt_err)) == 0)
        return 0;
    if (is_name(r->body, r->body_len))
        return set_err(e, r->start, "undefined parameter '%.*s%s'",
                       QUOTE(r->body, r->body_len));
    if (e)
        *e = fmt_err;
    return rc;
}

int
vars_check(const char *s, const char *const *known, size_t known_count,
           struct vars_error *ret_err)
{
    struct ref r;
    struct texpr x;
    size_t pos = 0, i;
    const char *d;
    int rc;

    while ((d = strchr(s + pos, '$'))) {
        pos = (size_t)(d - s);
        if ((rc = find_ref(s, pos, &r, ret_err)) < 0)
            return rc;
        if (rc == 0) {
            pos++;
            continue;
        }
        pos = r.end;
        if (r.kind == REF_BRACKET) {
            if ((rc = parse_bracket(s, &r, &x, ret_err)) < 0)
                return rc;
        } else if (r.kind == REF_BRACE) {
            for (i = 0; i < known_count; i++)
                if (span_eq(r.body, r.body_len, known[i]))
                    break;
            if (i < known_count || system_name(r.body, r.body_len) >= 0)
                continue;
            if ((rc = parse_brace_fallback(s, &r, &x, ret_err)) < 0)
                return rc;
        }
    }
    return 0;
}

static void
sb_reserve(struct sbuf *b, size_t more)
{
    size_t cap;
    char *np;

    if (b->oom || b->len + more < b->cap)
        return;
    cap = b->cap ? b->cap : 64;
    while (cap <= b->len + more)
        cap *= 2;
    if (!(np = realloc(b->p, cap))) {
        b->oom = true;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void
sb_add(struct sbuf *b, const char *p, size_t len)
{
    sb_reserve(b, len);
    if (b->oom)
        return;
    memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = '\0';
}

/* Appends v in decimal, zero-padded to width digits (more if v needs them). */
static void
sb_num(struct sbuf *b, long v, int width)
{
    char tmp[24];
    int n = 0;
    bool neg = v < 0;
    unsigned long u = neg ? 0UL - (unsigned long)v : (unsigned long)v;

    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n < width)
        tmp[sizeof(tmp) - 1 - n++] = '0';
    if (neg)
        tmp[sizeof(tmp) - 1 - n++] = '-';
    sb_add(b, tmp + sizeof(tmp) - n, (size_t)n);
}

/* Appends tm formatted by FMT (already checked by check_fmt). */
static void
sb_time(struct sbuf *b, const char *fmt, size_t len, const struct tm *tm)
{
    size_t i = 0, lit;
    int t;

    while (i < len) {
        if (!is_fmt_letter(fmt[i])) {
            for (lit = i + 1; lit < len && !is_fmt_letter(fmt[lit]); lit++)
                ;
            sb_add(b, fmt + i, lit - i);
            i = lit;
            continue;
        }
        t = token_at(fmt + i, len - i);
        switch (t) {
        case 0: sb_num(b, tm->tm_year + 1900L, 4); break;
        case 1: sb_num(b, (tm->tm_year + 1900L) % 100, 2); break;
        case 2: sb_num(b, tm->tm_mon + 1, 2); break;
        case 3: sb_num(b, tm->tm_mday, 2); break;
        case 4: sb_num(b, tm->tm_hour, 2); break;
        case 5: sb_num(b, tm->tm_min, 2); break;
        default: sb_num(b, tm->tm_sec, 2); break;
        }
        i += strlen(tokens[t]);
    }
}

static bool
is_leap(long year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
month_days(long year, int mon)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    return mon == 1 && is_leap(year) ? 29 : days[mon];
}

/*
 * The instance's values while one string renders: the scheduled time's local fields are
 * worked out once, on first use, since most strings hold several references to it.
 */
struct render {
    const struct vars_ctx *ctx;
    struct tm local;
    bool have_local;
};

static int
cyc_local(struct render *rd, const char *s, const struct ref *r, struct tm *ret_tm,
          struct vars_error *e)
{
    if (!rd->have_local) {
        if (!localtime_r(&rd->ctx->cyctime, &rd->local))
            return set_err(e, r->start, "scheduled time %lld out of range in '%.*s%s'",
                           (long long)rd->ctx->cyctime, REF_QUOTE(s, r));
        rd->have_local = true;
    }
    *ret_tm = rd->local;
    return 0;
}

/* Moves the civil date of *tm by days, in pure calendar terms (UTC has no DST gaps). */
static void
civil_add_days(struct tm *tm, long days)
{
    struct tm c = { 0 };
    time_t t;

    c.tm_year = tm->tm_year;
    c.tm_mon = tm->tm_mon;
    c.tm_mday = tm->tm_mday + (int)days;
    c.tm_hour = 12;
    t = timegm(&c);
    gmtime_r(&t, &c);
    tm->tm_year = c.tm_year;
    tm->tm_mon = c.tm_mon;
    tm->tm_mday = c.tm_mday;
}

/* Renders one $[...] expression into b. */
static int
eval_bracket(struct render *rd, const char *s, const struct ref *r, const struct texpr *x,
             struct sbuf *b, struct vars_error *e)
{
    struct tm tm;
    time_t t;
    long mon;
    int rc;

    if (x->n != 0 && (x->unit == UNIT_HOUR || x->unit == UNIT_MINUTE)) {
        /* hours and minutes move the instant: across a DST change the wall clock jumps */
        t = rd->ctx->cyctime + (time_t)x->n * (x->unit == UNIT_HOUR ? 3600 : 60);
        if (!localtime_r(&t, &tm))
            return set_err(e, r->start, "time out of range in '%.*s%s'", REF_QUOTE(s, r));
    } else {
        if ((rc = cyc_local(rd, s, r, &tm, e)) < 0)
            return rc;
        if (x->n != 0 || x->unit == UNIT_MONTH) {
            /* days and months move the calendar and keep the wall-clock time */
            if (x->unit == UNIT_MONTH) {
                mon = tm.tm_year * 12L + tm.tm_mon + x->n;
                tm.tm_year = (int)(mon >= 0 ? mon / 12 : -((-mon + 11) / 12));
                tm.tm_mon = (int)(mon - tm.tm_year * 12L);
                if (tm.tm_mday > month_days(tm.tm_year + 1900L, tm.tm_mon))
                    tm.tm_mday = month_days(tm.tm_year + 1900L, tm.tm_mon);
            } else {
                tm.tm_mday += (int)x->n;
            }
            tm.tm_isdst = -1;
            errno = 0;
            if (mktime(&tm) == (time_t)-1 && errno == EOVERFLOW)
                return set_err(e, r->start, "time out of range in '%.*s%s'", REF_QUOTE(s, r));
        }
    }
    sb_time(b, x->fmt, x->fmt_len, &tm);
    return 0;
}

/* Renders $bizdate, $cyctime or their ${bdp.system.*} forms into b. */
static int
eval_system(struct render *rd, const char *s, const struct ref *r, int which, struct sbuf *b,
            struct vars_error *e)
{
    struct tm tm;
    int rc;

    if ((rc = cyc_local(rd, s, r, &tm, e)) < 0)
        return rc;
    if (which == REF_BIZDATE) {
        civil_add_days(&tm, -1);
        sb_time(b, "yyyymmdd", 8, &tm);
    } else {
        sb_time(b, "yyyymmddhh24miss", 16, &tm);
    }
    return 0;
}

/* Renders a ${...}: custom param, system name, or bizdate ± N days at 00:00:00. */
static int
eval_brace(struct render *rd, const char *s, const struct ref *r, struct sbuf *b,
           struct vars_error *e)
{
    const struct vars_ctx *ctx = rd->ctx;
    struct texpr x;
    struct tm tm;
    size_t i;
    int rc, which;

    for (i = 0; i < ctx->count; i++)
        if (span_eq(r->body, r->body_len, ctx->names[i])) {
            sb_add(b, ctx->values[i], strlen(ctx->values[i]));
            return 0;
        }
    if ((which = system_name(r->body, r->body_len)) >= 0)
        return eval_system(rd, s, r, which, b, e);
    if ((rc = parse_brace_fallback(s, r, &x, e)) < 0)
        return rc;
    if ((rc = cyc_local(rd, s, r, &tm, e)) < 0)
        return rc;
    civil_add_days(&tm, x.n - 1);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    sb_time(b, x.fmt, x.fmt_len, &tm);
    return 0;
}

int
vars_render(const char *s, const struct vars_ctx *ctx, char **ret_out,
            struct vars_error *ret_err)
{
    struct render rd = { .ctx = ctx };
    struct sbuf b = { 0 };
    struct ref r;
    struct texpr x;
    size_t pos = 0;
    const char *d;
    int rc;

    sb_reserve(&b, strlen(s) + 32);
    while ((d = strchr(s + pos, '$'))) {
        size_t at = (size_t)(d - s);
        if ((rc = find_ref(s, at, &r, ret_err)) < 0)
            goto fail;
        if (rc == 0) {
            sb_add(&b, s + pos, at + 1 - pos);
            pos = at + 1;
            continue;
        }
        sb_add(&b, s + pos, at - pos);
        pos = r.end;
        switch (r.kind) {
        case REF_BRACKET:
            rc = parse_bracket(s, &r, &x, ret_err);
            if (rc == 0)
                rc = eval_bracket(&rd, s, &r, &x, &b, ret_err);
            break;
        case REF_BRACE:
            rc = eval_brace(&rd, s, &r, &b, ret_err);
            break;
        default:
            rc = eval_system(&rd, s, &r, r.kind, &b, ret_err);
            break;
        }
        if (rc < 0)
            goto fail;
    }
    sb_add(&b, s + pos, strlen(s + pos));
    if (b.oom) {
        rc = -OTSYNC_ENOMEM;
        if (ret_err)
            set_err(ret_err, 0, "out of memory rendering a %zu-byte string", strlen(s));
        goto fail;
    }
    *ret_out = b.p;
    return 0;
fail:
    free(b.p);
    return rc;
}

/* Writes the last n decimal digits of v (v >= 0) at p. */
static void
put_digits(char *p, long v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *
vars_format_cyctime(time_t t, char buf[static 15])
{
    struct tm tm;

    if (!localtime_r(&t, &tm) || tm.tm_year < -1900) {
        memcpy(buf, "00000000000000", 15);
        return buf;
    }
    put_digits(buf, tm.tm_year + 1900L, 4);
    put_digits(buf + 4, tm.tm_mon + 1, 2);
    put_digits(buf + 6, tm.tm_mday, 2);
    put_digits(buf + 8, tm.tm_hour, 2);
    put_digits(buf + 10, tm.tm_min, 2);
    put_digits(buf + 12, tm.tm_sec, 2);
    buf[14] = '\0';
    return buf;
}

/* Reads exactly n digits at p into *ret_v. */
static bool
digits(const char *p, int n, int *ret_v)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *ret_v = v;
    return true;
}

static bool
same_fields(const struct tm *a, const struct tm *b)
{
    return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday &&
           a->tm_hour == b->tm_hour && a->tm_min == b->tm_min && a->tm_sec == b->tm_sec;
}

int
vars_parse_time(const char *s, time_t *ret_t)
{
    struct tm want = { 0 }, tm, alt;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    size_t len = strlen(s);
    bool ok;
    time_t t, t2;

    if (len == 19)
        ok = digits(s, 4, &y) && s[4] == '-' && digits(s + 5, 2, &mo) && s[7] == '-' &&
             digits(s + 8, 2, &d) && (s[10] == 'T' || s[10] == ' ') && digits(s + 11, 2, &h) &&
             s[13] == ':' && digits(s + 14, 2, &mi) && s[16] == ':' && digits(s + 17, 2, &sec);
    else if (len == 14 || len == 12 || len == 8)
        ok = digits(s, 4, &y) && digits(s + 4, 2, &mo) && digits(s + 6, 2, &d) &&
             (len < 12 || (digits(s + 8, 2, &h) && digits(s + 10, 2, &mi))) &&
             (len < 14 || digits(s + 12, 2, &sec));
    else
        ok = false;
    if (!ok || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo - 1) || h > 23 || mi > 59 ||
        sec > 59)
        return -OTSYNC_EINVAL;
    want.tm_year = y - 1900;
    want.tm_mon = mo - 1;
    want.tm_mday = d;
    want.tm_hour = h;
    want.tm_min = mi;
    want.tm_sec = sec;
    tm = want;
    tm.tm_isdst = -1;
    t = mktime(&tm);
    /* mktime moves a wall time that falls in a DST gap; such a time does not exist */
    if (!same_fields(&tm, &want))
        return -OTSYNC_EINVAL;
    /* a wall time repeated when clocks go back means its first occurrence */
    if (tm.tm_isdst >= 0) {
        alt = want;
        alt.tm_isdst = !tm.tm_isdst;
        t2 = mktime(&alt);
        if (same_fields(&alt, &want) && t2 < t)
            t = t2;
    }
    *ret_t = t;
    return 0;
}
