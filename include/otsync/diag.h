/*
 * diag.h - configuration diagnostics: every error with file:line:col, then one verdict.
 *
 * Owns: a growable list of messages. Loaders (catalog, daemon config) keep going after an
 * error and add each one here; the program prints them all at the end (STYLE.md,
 * "Configuration"). Lines and columns are 1-based.
 */
#ifndef OTSYNC_DIAG_H
#define OTSYNC_DIAG_H

#include <stdio.h>
#include "otsync/err.h"

enum diag_level { DIAG_ERROR, DIAG_WARNING };

/* A place in a source file; file is borrowed (owned by the loader's file list). */
struct otsync_mark {
    const char *file;
    unsigned line;  /* 1-based; 0 = unknown */
    unsigned col;   /* 1-based; 0 = unknown */
};

struct diag_entry {
    enum diag_level level;
    char *text;     /* "file:line:col: error: message" */
};

struct diag {
    struct diag_entry *v;
    size_t count, cap;
    size_t errors, warnings;
    char **files;   /* distinct files that had an error, for the verdict line */
    size_t file_count, file_cap;
};

void diag_init(struct diag *d);
void diag_fini(struct diag *d);

/* Adds "FILE:LINE:COL: error: MSG" (parts of the mark that are unknown are left out). */
void diag_error(struct diag *d, struct otsync_mark m, const char *fmt, ...) OTSYNC_PRINTF(3, 4);
void diag_warning(struct diag *d, struct otsync_mark m, const char *fmt, ...) OTSYNC_PRINTF(3, 4);

/* Prints every entry, one per line, in the order added. */
void diag_print(const struct diag *d, FILE *out);

/* Prints "PROG: N errors in M files; WHAT not loaded" when there were errors. */
void diag_verdict(const struct diag *d, FILE *out, const char *prog, const char *what);

#endif
