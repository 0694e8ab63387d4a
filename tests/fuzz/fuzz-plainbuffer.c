/*
 * fuzz-plainbuffer.c - libFuzzer target: the PlainBuffer decoder on arbitrary bytes, as every
 * Table Store answer (and the emulator's every request) hands it: rows, one row, a bare
 * value; what decodes is encoded again and must decode to the same count.
 */
#include <stdint.h>
#include <stdlib.h>
#include "otsync/plainbuffer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pb_rows rows, again;
    struct pb_value v;
    struct pb_buf b;

    if (plainbuffer_decode_rows(data, size, &rows, NULL) == 0) {
        plainbuffer_buf_init(&b, 1u << 24);
        if (rows.count && plainbuffer_encode_rows(&b, rows.rows, rows.count, NULL) == 0) {
            if (plainbuffer_decode_rows(b.data, b.len, &again, NULL) != 0
                || again.count != rows.count)
                abort();
            plainbuffer_rows_fini(&again);
        }
        plainbuffer_buf_fini(&b);
        plainbuffer_rows_fini(&rows);
    }
    if (plainbuffer_decode_row(data, size, &rows, NULL) == 0)
        plainbuffer_rows_fini(&rows);
    (void)plainbuffer_decode_value(data, size, &v, NULL);
    return 0;
}
