/*
 * diag.c - collects configuration errors and warnings with their file:line:col, so loaders
 * can report every problem in one pass and the program prints one verdict.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/diag.h"

void
diag_init(struct diag *d)
{
    memset(d, 0, sizeof(*d));
}

void
diag_fini(struct diag *d)
{
    size_t i;

    for (i = 0; i < d->count; i++)
        free(d->v[i].text);
    for (i = 0; i < d->file_count; i++)
        free(d->files[i]);
    free(d->v);
    free(d->files);
    memset(d, 0, sizeof(*d));
}

static void
note_file(struct diag *d, const char *file)
{
    size_t i;
    char **nv;

    if (!file)
        return;
    for (i = 0; i < d->file_count; i++)
        if (strcmp(d->files[i], file) == 0)
            return;
    if (d->file_count == d->file_cap) {
        size_t cap = d->file_cap ? d->file_cap * 2 : 4;
        if (!(nv = realloc(d->files, cap * sizeof(*nv))))
            return;
        d->files = nv;
        d->file_cap = cap;
    }
    if ((d->files[d->file_count] = strdup(file)))
        d->file_count++;
}

static void
add(struct diag *d, enum diag_level level, struct otsync_mark m, const char *fmt, va_list ap)
{
    char where[600] = "", msg[2048];
    struct diag_entry *nv;
    char *text;
    size_t len;

    if (m.file && m.line && m.col)
        snprintf(where, sizeof(where), "%s:%u:%u: ", m.file, m.line, m.col);
    else if (m.file && m.line)
        snprintf(where, sizeof(where), "%s:%u: ", m.file, m.line);
    else if (m.file)
        snprintf(where, sizeof(where), "%s: ", m.file);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    len = strlen(where) + strlen(msg) + 16;
    if (!(text = malloc(len)))
        return;
    snprintf(text, len, "%s%s: %s", where, level == DIAG_ERROR ? "error" : "warning", msg);
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        if (!(nv = realloc(d->v, cap * sizeof(*nv)))) {
            free(text);
            return;
        }
        d->v = nv;
        d->cap = cap;
    }
    d->v[d->count].level = level;
    d->v[d->count].text = text;
    d->count++;
    if (level == DIAG_ERROR) {
        d->errors++;
        note_file(d, m.file);
    } else {
        d->warnings++;
    }
}

void
diag_error(struct diag *d, struct otsync_mark m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    add(d, DIAG_ERROR, m, fmt, ap);
    va_end(ap);
}

void
diag_warning(struct diag *d, struct otsync_mark m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    add(d, DIAG_WARNING, m, fmt, ap);
    va_end(ap);
}

void
diag_print(const struct diag *d, FILE *out)
{
    size_t i;

    for (i = 0; i < d->count; i++)
        fprintf(out, "%s\n", d->v[i].text);
}

void
diag_verdict(const struct diag *d, FILE *out, const char *prog, const char *what)
{
    size_t files = d->file_count ? d->file_count : 1;

    if (d->errors == 0)
        return;
    fprintf(out, "%s: %zu error%s in %zu file%s; %s not loaded\n", prog, d->errors,
            d->errors == 1 ? "" : "s", files, files == 1 ? "" : "s", what);
}
