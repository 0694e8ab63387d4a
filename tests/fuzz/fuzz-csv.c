/*
 * fuzz-csv.c - libFuzzer target: the oss reader's csv and text parser on arbitrary objects,
 * fed in two pieces (split where the first byte says) as a download arrives.
 */
#include <stdint.h>
#include <stdlib.h>
#include "ossformat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_record(void *arg, const struct ossfmt_field *f, size_t count)
{
    (void)arg;
    (void)f;
    (void)count;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ossfmt_parser p;
    size_t cut;

    if (size < 1)
        return 0;
    cut = size > 1 ? data[0] % size : 0;
    if (ossfmt_parser_init(&p, (data[0] & 0x80) == 0, (data[0] & 0x40) ? "\t" : ",") != 0)
        return 0;
    data++;
    size--;
    if (cut > size)
        cut = size;
    if (ossfmt_parse(&p, (const char *)data, cut, false, on_record, NULL, NULL) == 0)
        (void)ossfmt_parse(&p, (const char *)data + cut, size - cut, true, on_record, NULL, NULL);
    ossfmt_parser_fini(&p);
    return 0;
}
