/*
 * redact.c - secret names and their redaction: see redact.h.
 */
#include <stddef.h>
#include <string.h>
#include "otsync/redact.h"

bool
redact_name(const char *name)
{
    static const char *const words[] = {"secret", "password", "passwd", "token", "accesskey",
                                        "access_key", "credential", NULL};
    size_t i;

    for (i = 0; name && words[i]; i++)
        if (strcasestr(name, words[i]))
            return true;
    return false;
}

void
redact_json(json_t *v)
{
    const char *k;
    json_t *e;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, k, e) {
            if (json_is_string(e) && redact_name(k))
                json_object_set_new(v, k, json_string(REDACTED));
            else
                redact_json(e);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
            redact_json(e);
    }
}
