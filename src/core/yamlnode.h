/*
 * yamlnode.h - small helpers on libyaml's document API for the loaders in src/core (catalog.c,
 * config.c): loading a file with its syntax errors as file:line:col, marks as 1-based
 * file:line:col, scalar conversions that fail with a message naming the key, and YAML to JSON
 * for inline jobs. Leaves the meaning of every key to the loaders. Private to src/core.
 *
 * Every helper that can fail adds its own error to the file's struct diag, so a loader only
 * decides what to do next (usually: go on with the next key).
 */
#ifndef OTSYNC_YAMLNODE_H
#define OTSYNC_YAMLNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>
#include <jansson.h>
#include "otsync/diag.h"

/* Limits for yto_json: a recursive alias or an alias bomb is an error, not a crash. */
#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 100000

/* One loaded file: the document, its name (borrowed; must outlive every mark), diagnostics. */
struct yfile {
    yaml_document_t doc;
    bool loaded;            /* doc holds a document (maybe an empty one) */
    const char *name;
    struct diag *d;
    size_t line_base;       /* lines before the text that was parsed (yfile_each_item) */
};

/*
 * Loads the file `path` (or, when text is not NULL, that text under the name path) into f.
 * A syntax error, a file that cannot be read and a second document go to d with their mark.
 * Returns the root node, or NULL when the file is empty (f->loaded is true) or broken
 * (f->loaded is false). Call yfile_fini in either case.
 */
yaml_node_t *yfile_load(struct yfile *f, const char *path, const char *text, struct diag *d);
void yfile_fini(struct yfile *f);

/*
 * Loads the items of the sequence under the root mapping's only key `key` one at a time,
 * each as its own small document whose marks still name the file's lines and columns, and
 * calls fn with it. A catalogue of 10,000 tasks then never holds the document of all of them
 * (libyaml's nodes cost ~100 times the text). Returns 1 when done that way; 0 when the file
 * must be loaded whole with yfile_load — anchors or aliases (which may reach across items), any
 * other layout, or a syntax error, all of which yfile_load and the loader report; -1 when out
 * of memory. text is the file's contents.
 */
int yfile_each_item(const char *path, const char *text, size_t len, const char *key,
                    struct diag *d, void (*fn)(void *arg, struct yfile *f, yaml_node_t *item),
                    void *arg);

/* Reads a whole file: returns new text and its length, or NULL after adding an error. */
char *yread_file(const char *path, size_t *ret_len, struct diag *d);

/* Borrows; the node with that index in f's document. */
yaml_node_t *ynode(struct yfile *f, int index);

/* n's start as a 1-based mark (libyaml counts from 0). */
struct otsync_mark ymark(const struct yfile *f, const yaml_node_t *n);

/*
 * The mark of byte `offset` of scalar n's value: the column moves past an opening quote and
 * by the characters before offset. Where the source text is not the value verbatim (escapes,
 * block and multi-line scalars) the scalar's own mark is returned.
 */
struct otsync_mark ymark_at(const struct yfile *f, const yaml_node_t *n, size_t offset);

/* The scalar's text (borrowed), or NULL after an error "WHAT: expected a string, got a list". */
const char *yscalar(struct yfile *f, const yaml_node_t *n, const char *what);

/* Conversions: 0 and the value, or -1 after adding an error naming `what` at n's mark. */
int yget_bool(struct yfile *f, const yaml_node_t *n, const char *what, bool *ret);
int yget_int(struct yfile *f, const yaml_node_t *n, const char *what, long lo, long hi,
             long *ret);
/* A duration in seconds: a whole number of seconds, or a number with s, m, h or d ("2m"). */
int yget_duration(struct yfile *f, const yaml_node_t *n, const char *what, long lo, long hi,
                  long *ret);
/* "HH:MM" (00:00-23:59) -> minutes after midnight. */
int yget_hhmm(struct yfile *f, const yaml_node_t *n, const char *what, int *ret);

/*
 * YAML to JSON (returns new): plain scalars that read as integers or decimal numbers become
 * numbers; true/false booleans; null, ~ and empty plain scalars null; quoted scalars and
 * everything else strings. Non-scalar or repeated keys, nesting past YAML_MAX_DEPTH and more
 * than YAML_MAX_NODES values are errors named `what`; returns NULL after adding one.
 */
json_t *yto_json(struct yfile *f, const yaml_node_t *n, const char *what);

/*
 * Checks pair p of mapping n: adds "WHO: unknown key 'k' (known: a, b, ...)", "WHO: key 'k'
 * given twice" or "WHO: a key must be a string, not a list" and returns false; returns true
 * when the key is known and this is its first occurrence.
 */
bool ycheck_key(struct yfile *f, const yaml_node_t *n, const yaml_node_pair_t *p,
                const char *who, const char *const *known);
/* ycheck_key on every pair of mapping n. */
void ycheck_keys(struct yfile *f, const yaml_node_t *n, const char *who,
                 const char *const *known);

/* A key's text when k is a scalar, else "". */
const char *ykey(const yaml_node_t *k);

/* Borrows; the value of the first `key` in mapping n, or NULL (also when n is no mapping). */
yaml_node_t *yget(struct yfile *f, const yaml_node_t *n, const char *key);
/* Borrows; that key's own node (for "this key does not belong here" errors), or NULL. */
yaml_node_t *yget_key(struct yfile *f, const yaml_node_t *n, const char *key);

/* A kind of node for messages: "a mapping", "a list", "a string". */
const char *ykind(const yaml_node_t *n);

/* Adds "out of memory" at n's mark (the file's when n is NULL); returns -1. */
int ynomem(struct yfile *f, const yaml_node_t *n);

#endif
