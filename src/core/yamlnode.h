/*
 * yamlnode.h - small helpers on libyaml's document API for the loaders in src/core: marks as
 * 1-based file:line:col, scalar conversions with clear failures, YAML to JSON. Private to
 * src/core.
 */
#ifndef OTSYNC_YAMLNODE_H
#define OTSYNC_YAMLNODE_H

#include <stdbool.h>
#include <yaml.h>
#include <jansson.h>
#include "otsync/diag.h"

/* One loaded file: the document, its name (borrowed, must outlive marks), diagnostics. */
struct yfile {
    yaml_document_t doc;
    bool loaded;
    const char *name;
    struct diag *d;
};

/*
 * Loads path (or, when text is not NULL, that text under the name path) into f. A syntax
 * error goes to d with its mark. Returns the root node, or NULL when the file is empty or
 * broken (f->loaded tells which: an empty file is loaded with no root).
 */
yaml_node_t *yfile_load(struct yfile *f, const char *path, const char *text, struct diag *d);
void yfile_fini(struct yfile *f);

yaml_node_t *ynode(struct yfile *f, int index);
struct otsync_mark ymark(const struct yfile *f, const yaml_node_t *n);
/* The mark of byte `offset` inside scalar n (one line; quotes counted). */
struct otsync_mark ymark_at(const struct yfile *f, const yaml_node_t *n, size_t offset);

/* The scalar's text, or NULL with an error "WHAT: expected a string" when n is not a scalar. */
const char *yscalar(struct yfile *f, const yaml_node_t *n, const char *what);
bool yplain(const yaml_node_t *n);  /* a plain (unquoted) scalar */

/* Conversions: 0 and the value, or -1 after adding an error naming `what` at n's mark. */
int yget_bool(struct yfile *f, const yaml_node_t *n, const char *what, bool *ret);
int yget_int(struct yfile *f, const yaml_node_t *n, const char *what, long lo, long hi,
             long *ret);
/* A duration: whole seconds, or a number with s, m, h or d ("90s", "2m"). */
int yget_duration(struct yfile *f, const yaml_node_t *n, const char *what, long lo, long hi,
                  long *ret);
/* "HH:MM" -> minutes after midnight. */
int yget_hhmm(struct yfile *f, const yaml_node_t *n, const char *what, int *ret);

/* YAML to JSON: plain scalars become numbers, booleans and null where they read as such. */
json_t *yto_json(struct yfile *f, const yaml_node_t *n);

/* Checks every key of mapping n against known (NULL-terminated); errors name `who`. */
void ycheck_keys(struct yfile *f, const yaml_node_t *n, const char *who,
                 const char *const *known);

/* The value of key in mapping n, or NULL. */
yaml_node_t *yget(struct yfile *f, const yaml_node_t *n, const char *key);

#endif
