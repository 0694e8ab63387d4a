/*
 * fuzz-tunnel.c - libFuzzer target: a MaxCompute tunnel block as the emulator receives it.
 * The first byte picks the schema (one column of each type, or all of them) and whether the
 * block is deflated; the rest is the body: inflated (capped) when so, then decoded and
 * checked record by record.
 */
#include <stdint.h>
#include <stdlib.h>
#include "otsync/tunnel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tunnel_column cols[TUNNEL_TYPE_COUNT_];
    struct tunnel_schema schema;
    unsigned char *plain = NULL;
    size_t plain_len, i;
    unsigned pick;
    uint64_t count;

    if (size < 1)
        return 0;
    for (i = 0; i < TUNNEL_TYPE_COUNT_; i++) {
        cols[i].name = "c";
        cols[i].type = (enum tunnel_type)i;
    }
    pick = data[0] & 0x3f;
    schema.max_field_len = 8u << 20;
    if (pick < TUNNEL_TYPE_COUNT_) {
        schema.columns = &cols[pick];
        schema.count = 1;
    } else {
        schema.columns = cols;
        schema.count = TUNNEL_TYPE_COUNT_;
    }
    data++;
    size--;
    if (data[-1] & 0x80) {
        if (tunnel_inflate(data, size, 1u << 20, &plain, &plain_len, NULL) != 0)
            return 0;
        (void)tunnel_decode(&schema, plain, plain_len, NULL, NULL, &count, NULL);
        free(plain);
        return 0;
    }
    (void)tunnel_decode(&schema, data, size, NULL, NULL, &count, NULL);
    return 0;
}
