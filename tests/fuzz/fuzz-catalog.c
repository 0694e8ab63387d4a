/*
 * fuzz-catalog.c - libFuzzer target: the catalogue loader on arbitrary YAML, as an operator's
 * typo reaches it: every mistake must become a diagnostic, never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct catalog *cat = NULL;
    struct diag d;
    char *text = malloc(size + 1);

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    diag_init(&d);
    if (catalog_load_string(text, "fuzz.yaml", "/nonexistent", &d, &cat) == 0)
        catalog_unref(cat);
    diag_fini(&d);
    free(text);
    return 0;
}
