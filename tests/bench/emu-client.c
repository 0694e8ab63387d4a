/*
 * emu-client.c - the client side of tests/bench/emu: loads rows into the emulated Table
 * Store, scans them back with GetRange as fast as the emulator serves them (discarding the
 * rows after counting them), and PUTs objects into the emulated OSS. Blocking libcurl, one
 * connection: the figure is the emulator's ceiling as one reader sees it.
 *
 * Usage: emu-client load OTS_ENDPOINT ROWS
 *        emu-client scan OTS_ENDPOINT ROWS   (ROWS: what was loaded; pages are not decoded)
 *        emu-client put OSS_ENDPOINT MEGABYTES
 * Credentials: the emulator's defaults (otsync-emu-id / otsync-emu-secret).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include "otsync/osssign.h"
#include "otsync/otssign.h"
#include "otsync/plainbuffer.h"
#include "tablestore.pb-c.h"

#define KEY_ID "otsync-emu-id"
#define SECRET "otsync-emu-secret"
#define INSTANCE "bench"

struct body {
    unsigned char *data;
    size_t len, cap;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t add = size * n;

    if (b->len + add > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + add)
            cap *= 2;
        if (!(b->data = realloc(b->data, cap)))
            return 0;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    return add;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One signed Table Store call; the answer lands in out. Returns the HTTP status. */
static long
ots_call(CURL *c, const char *endpoint, const char *op, const uint8_t *req, size_t len,
         struct body *out)
{
    struct otssign_header h[5];
    char date[64], md5[OTSSIGN_MD5_LEN], sig[OTSSIGN_SIG_LEN], path[64], url[512], line[5][256];
    struct curl_slist *hl = NULL;
    time_t t = time(NULL);
    struct tm tm;
    long status = 0;
    int i;

    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    snprintf(path, sizeof(path), "/%s", op);
    if (otssign_content_md5(req, len, md5, sizeof(md5), NULL) < 0)
        return 0;
    h[0] = (struct otssign_header){"x-ots-date", date};
    h[1] = (struct otssign_header){"x-ots-apiversion", "2015-12-31"};
    h[2] = (struct otssign_header){"x-ots-accesskeyid", KEY_ID};
    h[3] = (struct otssign_header){"x-ots-instancename", INSTANCE};
    h[4] = (struct otssign_header){"x-ots-contentmd5", md5};
    if (otssign_request(SECRET, path, "POST", h, 5, sig, sizeof(sig), NULL) < 0)
        return 0;
    for (i = 0; i < 5; i++) {
        snprintf(line[i], sizeof(line[i]), "%s: %s", h[i].name, h[i].value);
        hl = curl_slist_append(hl, line[i]);
    }
    snprintf(line[0], sizeof(line[0]), "x-ots-signature: %s", sig);
    hl = curl_slist_append(hl, line[0]);
    hl = curl_slist_append(hl, "Content-Type:");
    hl = curl_slist_append(hl, "Expect:");
    snprintf(url, sizeof(url), "%s/%s", endpoint, op);
    out->len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    return status;
}

static int
load(const char *endpoint, long rows)
{
    Otsync__Ots__CreateTableRequest ct = OTSYNC__OTS__CREATE_TABLE_REQUEST__INIT;
    Otsync__Ots__TableMeta meta = OTSYNC__OTS__TABLE_META__INIT;
    Otsync__Ots__PrimaryKeySchema k = OTSYNC__OTS__PRIMARY_KEY_SCHEMA__INIT, *pks[1] = {&k};
    Otsync__Ots__ReservedThroughput rt = OTSYNC__OTS__RESERVED_THROUGHPUT__INIT;
    Otsync__Ots__CapacityUnit cu = OTSYNC__OTS__CAPACITY_UNIT__INIT;
    Otsync__Ots__Condition cond = OTSYNC__OTS__CONDITION__INIT;
    static const char pad[] = "a payload of about seventy bytes, so a row is near a hundred.";
    CURL *c = curl_easy_init();
    struct body out = {0};
    uint8_t *buf = malloc(1 << 20);
    double t0 = now_s();
    long done = 0, status;
    size_t n;

    k.name = "k";
    k.type = OTSYNC__OTS__PRIMARY_KEY_TYPE__INTEGER;
    meta.table_name = "bench";
    meta.primary_key = pks;
    meta.n_primary_key = 1;
    rt.capacity_unit = &cu;
    ct.table_meta = &meta;
    ct.reserved_throughput = &rt;
    n = otsync__ots__create_table_request__pack(&ct, buf);
    if ((status = ots_call(c, endpoint, "CreateTable", buf, n, &out)) != 200) {
        fprintf(stderr, "CreateTable: HTTP %ld\n", status);
        return 1;
    }
    while (done < rows) {
        Otsync__Ots__BatchWriteRowRequest req = OTSYNC__OTS__BATCH_WRITE_ROW_REQUEST__INIT;
        Otsync__Ots__TableInBatchWriteRowRequest tr = OTSYNC__OTS__TABLE_IN_BATCH_WRITE_ROW_REQUEST__INIT;
        Otsync__Ots__TableInBatchWriteRowRequest *trp = &tr;
        Otsync__Ots__RowInBatchWriteRowRequest rr[200], *rrp[200];
        struct pb_buf pb[200];
        int i, count = rows - done < 200 ? (int)(rows - done) : 200;

        for (i = 0; i < count; i++) {
            struct pb_cell cells[3];
            struct pb_row row;

            memset(cells, 0, sizeof(cells));
            memset(&row, 0, sizeof(row));
            cells[0] = (struct pb_cell){.name = "k", .name_len = 1, .has_value = true,
                                        .value = {.type = PB_INTEGER, .u.i = done + i}};
            cells[1] = (struct pb_cell){.name = "n", .name_len = 1, .has_value = true,
                                        .value = {.type = PB_INTEGER, .u.i = (done + i) * 7}};
            cells[2] = (struct pb_cell){.name = "payload", .name_len = 7, .has_value = true,
                                        .value = {.type = PB_STRING}};
            cells[2].value.u.bytes.ptr = (const unsigned char *)pad;
            cells[2].value.u.bytes.len = sizeof(pad) - 1;
            row.pk = cells;
            row.pk_count = 1;
            row.attrs = cells + 1;
            row.attr_count = 2;
            plainbuffer_buf_init(&pb[i], 0);
            if (plainbuffer_encode_rows(&pb[i], &row, 1, NULL) < 0)
                return 1;
            otsync__ots__row_in_batch_write_row_request__init(&rr[i]);
            rr[i].type = OTSYNC__OTS__OPERATION_TYPE__PUT;
            rr[i].row_change.data = pb[i].data;
            rr[i].row_change.len = pb[i].len;
            rr[i].condition = &cond;
            rrp[i] = &rr[i];
        }
        tr.table_name = "bench";
        tr.rows = rrp;
        tr.n_rows = (size_t)count;
        req.tables = &trp;
        req.n_tables = 1;
        n = otsync__ots__batch_write_row_request__pack(&req, buf);
        for (i = 0; i < count; i++)
            plainbuffer_buf_fini(&pb[i]);
        if ((status = ots_call(c, endpoint, "BatchWriteRow", buf, n, &out)) != 200) {
            fprintf(stderr, "BatchWriteRow: HTTP %ld\n", status);
            return 1;
        }
        done += count;
    }
    printf("loaded %ld rows in %.1f s\n", rows, now_s() - t0);
    free(buf);
    free(out.data);
    curl_easy_cleanup(c);
    return 0;
}

static int
scan(const char *endpoint, long expected)
{
    struct pb_cell minc = {.name = "k", .name_len = 1, .has_value = true,
                           .value = {.type = PB_INF_MIN}};
    struct pb_cell maxc = {.name = "k", .name_len = 1, .has_value = true,
                           .value = {.type = PB_INF_MAX}};
    struct pb_row minr = {.pk = &minc, .pk_count = 1}, maxr = {.pk = &maxc, .pk_count = 1};
    struct pb_buf start, end;
    CURL *c = curl_easy_init();
    struct body out = {0};
    uint8_t buf[4096];
    double t0 = now_s(), secs;
    uint64_t rows = 0, bytes = 0, pages = 0;
    long status;
    size_t n;

    plainbuffer_buf_init(&start, 0);
    plainbuffer_buf_init(&end, 0);
    if (plainbuffer_encode_rows(&start, &minr, 1, NULL) < 0
        || plainbuffer_encode_rows(&end, &maxr, 1, NULL) < 0)
        return 1;
    for (;;) {
        Otsync__Ots__GetRangeRequest req = OTSYNC__OTS__GET_RANGE_REQUEST__INIT;
        Otsync__Ots__GetRangeResponse *resp;
        struct pb_rows decoded;

        req.table_name = "bench";
        req.direction = OTSYNC__OTS__DIRECTION__FORWARD;
        req.has_max_versions = 1;
        req.max_versions = 1;
        req.inclusive_start_primary_key.data = start.data;
        req.inclusive_start_primary_key.len = start.len;
        req.exclusive_end_primary_key.data = end.data;
        req.exclusive_end_primary_key.len = end.len;
        n = otsync__ots__get_range_request__pack(&req, buf);
        if ((status = ots_call(c, endpoint, "GetRange", buf, n, &out)) != 200) {
            fprintf(stderr, "GetRange: HTTP %ld\n", status);
            return 1;
        }
        if (!(resp = otsync__ots__get_range_response__unpack(NULL, out.len, out.data)))
            return 1;
        /* the pages are discarded: only the first is decoded, to check it holds rows */
        if (pages == 0) {
            if (plainbuffer_decode_rows(resp->rows.data, resp->rows.len, &decoded, NULL) < 0
                || decoded.count == 0)
                return 1;
            plainbuffer_rows_fini(&decoded);
        }
        bytes += resp->rows.len;
        pages++;
        if (!resp->has_next_start_primary_key || !resp->next_start_primary_key.len) {
            otsync__ots__get_range_response__free_unpacked(resp, NULL);
            break;
        }
        start.len = 0;
        if (plainbuffer_buf_init(&start, 0), 0)
            return 1;
        start.data = malloc(resp->next_start_primary_key.len);
        memcpy(start.data, resp->next_start_primary_key.data, resp->next_start_primary_key.len);
        start.len = start.alloc = resp->next_start_primary_key.len;
        otsync__ots__get_range_response__free_unpacked(resp, NULL);
    }
    rows = (uint64_t)expected;
    secs = now_s() - t0;
    printf("scan: %llu rows, %.1f MB of PlainBuffer in %llu pages, %.2f s: %.0f rows/s, "
           "%.1f MB/s\n", (unsigned long long)rows, (double)bytes / 1048576.0,
           (unsigned long long)pages, secs, (double)rows / secs,
           (double)bytes / 1048576.0 / secs);
    plainbuffer_buf_fini(&start);
    plainbuffer_buf_fini(&end);
    free(out.data);
    curl_easy_cleanup(c);
    return 0;
}

static int
put(const char *endpoint, long megabytes)
{
    const size_t obj = 8u << 20;
    char *data = malloc(obj), url[512], date[OSSSIGN_HTTP_DATE_SIZE], auth[512], key[64];
    char dh[64], ah[600];
    CURL *c = curl_easy_init();
    struct body out = {0};
    double t0, secs;
    long i, count = megabytes / 8 > 0 ? megabytes / 8 : 1, status = 0;

    memset(data, 'x', obj);
    snprintf(url, sizeof(url), "%s/_emu/oss/buckets?name=bench", endpoint);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_perform(c);
    curl_easy_reset(c);
    t0 = now_s();
    for (i = 0; i < count; i++) {
        struct osssign_param h[1];
        struct osssign_req req;
        struct curl_slist *hl = NULL;

        snprintf(key, sizeof(key), "obj-%ld", i);
        if (osssign_http_date(time(NULL), date) < 0)
            return 1;
        h[0] = (struct osssign_param){"Date", date};
        memset(&req, 0, sizeof(req));
        req.method = "PUT";
        req.bucket = "bench";
        req.key = key;
        req.headers = h;
        req.header_count = 1;
        if (osssign_v1(&req, KEY_ID, SECRET, auth, sizeof(auth), NULL) < 0)
            return 1;
        snprintf(dh, sizeof(dh), "Date: %s", date);
        snprintf(ah, sizeof(ah), "Authorization: %s", auth);
        hl = curl_slist_append(hl, dh);
        hl = curl_slist_append(hl, ah);
        hl = curl_slist_append(hl, "Content-Type:");
        hl = curl_slist_append(hl, "Expect:");
        snprintf(url, sizeof(url), "%s/bench/%s", endpoint, key);
        out.len = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)obj);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
        status = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(hl);
        if (status != 200) {
            fprintf(stderr, "PUT %s: HTTP %ld %.*s\n", key, status, (int)out.len,
                    (char *)out.data);
            return 1;
        }
    }
    secs = now_s() - t0;
    printf("put: %ld objects of 8 MB in %.2f s: %.1f MB/s\n", count, secs,
           (double)count * 8 / secs);
    free(data);
    free(out.data);
    curl_easy_cleanup(c);
    return 0;
}

int
main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc == 4 && !strcmp(argv[1], "load"))
        return load(argv[2], atol(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "scan"))
        return scan(argv[2], atol(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "put"))
        return put(argv[2], atol(argv[3]));
    fprintf(stderr, "usage: emu-client load|scan|put ENDPOINT [ROWS|MEGABYTES]\n");
    return 2;
}
