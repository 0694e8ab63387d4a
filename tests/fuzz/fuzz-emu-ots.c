/*
 * fuzz-emu-ots.c - libFuzzer target: the emulated Table Store's request decoding (protobuf,
 * PlainBuffer rows, filters, iterators) on arbitrary bodies. The first byte picks the
 * operation; the body is signed correctly so it gets past authentication to the decoders.
 * One emulator state lives across runs, with a table (stream on) that requests may fill.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "otsync/otssign.h"
#include "emu.h"
#include "tablestore.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = {
    "CreateTable", "ListTable", "DeleteTable", "DescribeTable", "UpdateTable", "GetRow",
    "PutRow", "UpdateRow", "DeleteRow", "BatchGetRow", "BatchWriteRow", "GetRange",
    "ComputeSplitPointsBySize", "ListStream", "DescribeStream", "GetShardIterator",
    "GetStreamRecord",
};

static struct emu emu;
static struct emu_service *svc;

static void
request(const char *op, const uint8_t *body, size_t len)
{
    struct emu_req req;
    struct emu_resp resp;
    struct otssign_header h[6];
    char path[64], date[64], md5[OTSSIGN_MD5_LEN], sig[OTSSIGN_SIG_LEN];
    time_t now = time(NULL);
    struct tm tm;
    size_t i;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    snprintf(path, sizeof(path), "/%s", op);
    if (otssign_content_md5(body, len, md5, sizeof(md5), NULL) < 0)
        abort();
    h[0] = (struct otssign_header){"x-ots-date", date};
    h[1] = (struct otssign_header){"x-ots-apiversion", "2015-12-31"};
    h[2] = (struct otssign_header){"x-ots-accesskeyid", "id"};
    h[3] = (struct otssign_header){"x-ots-instancename", "fuzz"};
    h[4] = (struct otssign_header){"x-ots-contentmd5", md5};
    if (otssign_request("secret", path, "POST", h, 5, sig, sizeof(sig), NULL) < 0)
        abort();
    h[5] = (struct otssign_header){"x-ots-signature", sig};
    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.emu = &emu;
    req.method = "POST";
    req.path = path;
    for (i = 0; i < 6; i++)
        req.headers[req.header_count++] = (struct emu_kv){h[i].name, h[i].value};
    req.body = (unsigned char *)body;
    req.body_len = len;
    svc->op(svc->state, &req);
    svc->handle(svc->state, &req, &resp);
    for (i = 0; i < resp.header_count; i++)
        free(resp.headers[i]);
    free(resp.body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!svc) {
        /* CreateTable "t" (key INTEGER k, STRING s), stream on, so runs reach rows and
         * streams */
        Otsync__Ots__CreateTableRequest ct = OTSYNC__OTS__CREATE_TABLE_REQUEST__INIT;
        Otsync__Ots__TableMeta meta = OTSYNC__OTS__TABLE_META__INIT;
        Otsync__Ots__PrimaryKeySchema k = OTSYNC__OTS__PRIMARY_KEY_SCHEMA__INIT;
        Otsync__Ots__PrimaryKeySchema s2 = OTSYNC__OTS__PRIMARY_KEY_SCHEMA__INIT;
        Otsync__Ots__PrimaryKeySchema *pks[2] = {&k, &s2};
        Otsync__Ots__ReservedThroughput rt = OTSYNC__OTS__RESERVED_THROUGHPUT__INIT;
        Otsync__Ots__CapacityUnit cu = OTSYNC__OTS__CAPACITY_UNIT__INIT;
        Otsync__Ots__StreamSpecification ss = OTSYNC__OTS__STREAM_SPECIFICATION__INIT;
        uint8_t buf[256];
        size_t n;

        k.name = "k";
        k.type = OTSYNC__OTS__PRIMARY_KEY_TYPE__INTEGER;
        s2.name = "s";
        s2.type = OTSYNC__OTS__PRIMARY_KEY_TYPE__STRING;
        meta.table_name = "t";
        meta.primary_key = pks;
        meta.n_primary_key = 2;
        rt.capacity_unit = &cu;
        ss.enable_stream = 1;
        ct.table_meta = &meta;
        ct.reserved_throughput = &rt;
        ct.stream_spec = &ss;
        n = otsync__ots__create_table_request__pack(&ct, buf);
        emu.key_id = "id";
        emu.key_secret = "secret";
        emu.rng = 1;
        svc = emu_ots_new(&emu);
        request("CreateTable", buf, n);
    }
    if (size < 1)
        return 0;
    request(ops[data[0] % (sizeof(ops) / sizeof(ops[0]))], data + 1, size - 1);
    return 0;
}
