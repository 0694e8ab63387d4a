/*
 * fuzz-ctl.c - libFuzzer target: ctl_request_parse on arbitrary request lines, which anyone
 * in the socket's group can send.
 */
#include <stdint.h>
#include <stdlib.h>
#include "otsync/ctlproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otsync_err err;
    json_t *req = NULL;

    if (ctl_request_parse((const char *)data, size, &req, &err) == 0 && !json_is_object(req))
        abort();
    json_decref(req);
    return 0;
}
