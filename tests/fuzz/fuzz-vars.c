/*
 * fuzz-vars.c - libFuzzer target: the time-expression renderer (${...}, $[...]) on arbitrary
 * strings, checked and rendered for a fixed instance time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "otsync/vars.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"startTime", "endTime"};
    static const char *const values[] = {"20181015235500", "20181016000000"};
    struct vars_ctx ctx = {.cyctime = 1539619500, .names = names, .values = values, .count = 2};
    char *text = malloc(size + 1), *out = NULL;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    (void)vars_check(text, names, 2, NULL);
    if (vars_render(text, &ctx, &out, NULL) == 0)
        free(out);
    free(text);
    return 0;
}
