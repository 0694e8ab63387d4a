/*
 * emu-odps-client.c - a small MaxCompute client for tests/integration/test-emu-odps.sh: signs
 * requests (odpssign), encodes blocks (tunnel) and talks to otsync-emu's service API and tunnel
 * with libcurl, one command per run. It is the emulator's counterpart, not a writer: no
 * retries, no block cutting policy, rows made up from their number.
 *
 * Row k of a table gets, per column type: integers k (tinyint k % 100), double k + 0.5, float
 * k + 0.25, boolean k even, text "row-k", decimal "k.50", binary the bytes "b-k", datetime
 * 1704067200000 + 1000 k, date 19723 + k; other types null, and the double column is null when
 * k % 7 == 6. `expect` prints what the emulator's dump should then show.
 *
 * Exit status: 0 done, 1 the service refused (the answer is printed: "HTTP <status>" and the
 * body), 2 usage or local errors.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include "otsync/odpssign.h"
#include "otsync/sign.h"
#include "otsync/tunnel.h"

#define MAX_COLS 64
#define MAX_PARAMS 16

struct opts {
    const char *api, *tunnel, *id, *secret, *sts, *project, *table, *partition, *upload;
    long rows, start, blocks, block_id, date_offset;
    bool deflate, corrupt, no_commit, fail_block, create_partition, overwrite;
};

struct buf {
    char *data;
    size_t len;
};

struct reply {
    long status;
    struct buf body;
    char location[1024];
};

struct upload_body {
    const unsigned char *data;
    size_t len, off;
};

static struct opts o = {
    .id = "otsync-emu-id", .secret = "otsync-emu-secret", .rows = 0, .blocks = 1,
    .block_id = 0,
};

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("emu-odps-client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    char *nd = realloc(b->data, b->len + size * n + 1);

    if (!nd)
        return 0;
    memcpy(nd + b->len, p, size * n);
    b->data = nd;
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
    struct reply *r = arg;
    size_t len = size * n;

    if (len > 9 && strncasecmp(p, "Location:", 9) == 0) {
        snprintf(r->location, sizeof(r->location), "%.*s", (int)(len - 9), p + 9);
        r->location[strcspn(r->location, "\r\n")] = '\0';
        memmove(r->location, r->location + strspn(r->location, " "),
                strlen(r->location + strspn(r->location, " ")) + 1);
    }
    return len;
}

static size_t
on_read(char *p, size_t size, size_t n, void *arg)
{
    struct upload_body *u = arg;
    size_t k = size * n;

    /* small pieces: the emulator must put a chunked body back together */
    if (k > 4096)
        k = 4096;
    if (k > u->len - u->off)
        k = u->len - u->off;
    memcpy(p, u->data + u->off, k);
    u->off += k;
    return k;
}

/*
 * One request to base (an endpoint URL, its path prefix such as /api not part of the signed
 * path) + path with the query params; signed unless sign is false. Returns the reply.
 */
static struct reply
request(const char *method, const char *base, const char *path,
        const struct odpssign_param *params, size_t count, const char *ctype,
        const unsigned char *body, size_t len, bool sign, bool tunnel)
{
    struct odpssign_header hdrs[8];
    struct odpssign_req sr;
    struct curl_slist *list = NULL;
    struct upload_body up = {body, len, 0};
    struct reply r;
    struct otsync_err err;
    struct buf url = {NULL, 0};
    char date[ODPSSIGN_DATE_LEN], auth[512], line[1024];
    size_t h = 0, i;
    CURL *c = curl_easy_init();
    char *esc;
    CURLcode rc;

    memset(&r, 0, sizeof(r));
    if (!c)
        die("curl_easy_init failed");
    on_body((char *)base, 1, strlen(base), &url);
    on_body((char *)path, 1, strlen(path), &url);
    for (i = 0; i < count; i++) {
        on_body(i ? "&" : "?", 1, 1, &url);
        esc = curl_easy_escape(c, params[i].name, 0);
        on_body(esc, 1, strlen(esc), &url);
        curl_free(esc);
        if (params[i].value) {
            on_body("=", 1, 1, &url);
            esc = curl_easy_escape(c, params[i].value, 0);
            on_body(esc, 1, strlen(esc), &url);
            curl_free(esc);
        }
    }
    if (odpssign_date(time(NULL) + o.date_offset, date, sizeof(date), &err) < 0)
        die("%s", err.msg);
    hdrs[h++] = (struct odpssign_header){"Date", date};
    hdrs[h++] = (struct odpssign_header){"x-odps-user-agent", "emu-odps-client"};
    if (ctype)
        hdrs[h++] = (struct odpssign_header){"Content-Type", ctype};
    if (tunnel)
        hdrs[h++] = (struct odpssign_header){"x-odps-tunnel-version", "6"};
    for (i = 0; i < h; i++) {
        snprintf(line, sizeof(line), "%s: %s", hdrs[i].name, hdrs[i].value);
        list = curl_slist_append(list, line);
    }
    if (sign) {
        sr = (struct odpssign_req){method, path, params, count, hdrs, h};
        if (odpssign_v2(&sr, o.id, o.secret, auth, sizeof(auth), &err) < 0)
            die("%s", err.msg);
        snprintf(line, sizeof(line), "Authorization: %s", auth);
        list = curl_slist_append(list, line);
        if (o.sts) {
            snprintf(line, sizeof(line), "%s: %s", ODPSSIGN_STS_HEADER, o.sts);
            list = curl_slist_append(list, line);
        }
    }
    if (!ctype)     /* curl would add a form Content-Type to a POST, which is signed */
        list = curl_slist_append(list, "Content-Type:");
    if (tunnel && o.deflate && strcmp(method, "PUT") == 0)
        list = curl_slist_append(list, "Content-Encoding: deflate");
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (strcmp(method, "PUT") == 0) {
        /* no size given: curl sends the body chunked, as the SDKs do (doc 5.4) */
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if ((rc = curl_easy_perform(c)) != CURLE_OK)
        die("%s %s: %s", method, url.data, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (!r.body.data)
        on_body("", 1, 0, &r.body);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    free(url.data);
    return r;
}

/* Prints a refused request's answer and exits 1; returns when the status is 2xx. */
static void
need_2xx(struct reply *r)
{
    if (r->status >= 200 && r->status < 300)
        return;
    printf("HTTP %ld\n%s\n", r->status, r->body.data);
    exit(1);
}

static void
need(const char *what, const char *value)
{
    if (!value)
        die("%s is required", what);
}

static char *
table_path(void)
{
    static char path[1024];

    need("--project", o.project);
    need("--table", o.table);
    snprintf(path, sizeof(path), "/projects/%s/tables/%s", o.project, o.table);
    return path;
}

/* --- rows --- */

struct schema {
    struct tunnel_column cols[MAX_COLS];
    char names[MAX_COLS][128];
    struct tunnel_schema ts;
};

static void
schema_read(const json_t *columns, struct schema *s)
{
    struct otsync_err err;
    const json_t *c;
    size_t i;

    memset(s, 0, sizeof(*s));
    json_array_foreach(columns, i, c) {
        if (i == MAX_COLS)
            die("more than %d columns", MAX_COLS);
        snprintf(s->names[i], sizeof(s->names[i]), "%s",
                 json_string_value(json_object_get(c, "name")));
        s->cols[i].name = s->names[i];
        if (tunnel_type_parse(json_string_value(json_object_get(c, "type")), &s->cols[i].type,
                              &err) < 0)
            die("column %s: %s", s->names[i], err.msg);
    }
    s->ts = (struct tunnel_schema){s->cols, json_array_size(columns), 0};
}

/* Row k's values (see the file comment); text goes into texts, one slot per column. */
static void
row_make(const struct schema *s, long k, struct tunnel_value *v, char (*texts)[64])
{
    size_t i;
    bool double_seen = false;

    for (i = 0; i < s->ts.count; i++) {
        memset(&v[i], 0, sizeof(v[i]));
        switch (s->cols[i].type) {
        case TUNNEL_TYPE_BIGINT:
        case TUNNEL_TYPE_INT:
        case TUNNEL_TYPE_SMALLINT:
            v[i] = (struct tunnel_value){.kind = TUNNEL_VAL_INT, .u.i = k};
            break;
        case TUNNEL_TYPE_TINYINT:
            v[i] = (struct tunnel_value){.kind = TUNNEL_VAL_INT, .u.i = k % 100};
            break;
        case TUNNEL_TYPE_DOUBLE:
            if (!double_seen && k % 7 != 6)
                v[i] = (struct tunnel_value){.kind = TUNNEL_VAL_DOUBLE, .u.d = (double)k + 0.5};
            double_seen = true;
            break;
        case TUNNEL_TYPE_FLOAT:
            v[i] = (struct tunnel_value){.kind = TUNNEL_VAL_FLOAT, .u.f = (float)k + 0.25f};
            break;
        case TUNNEL_TYPE_BOOLEAN:
            v[i] = (struct tunnel_value){.kind = TUNNEL_VAL_BOOL, .u.b = k % 2 == 0};
            break;
        case TUNNEL_TYPE_STRING:
        case TUNNEL_TYPE_VARCHAR:
        case TUNNEL_TYPE_CHAR:
        case TUNNEL_TYPE_JSON:
        case TUNNEL_TYPE_DECIMAL:
        case TUNNEL_TYPE_BINARY:
            snprintf(texts[i], 64, s->cols[i].type == TUNNEL_TYPE_DECIMAL ? "%ld.50"
                     : s->cols[i].type == TUNNEL_TYPE_BINARY ? "b-%ld" : "row-%ld", k);
            v[i].kind = TUNNEL_VAL_BYTES;
            v[i].u.s.ptr = texts[i];
            v[i].u.s.len = strlen(texts[i]);
            break;
        case TUNNEL_TYPE_DATETIME:
            v[i] = (struct tunnel_value){.kind = TUNNEL_VAL_INT, .u.i = 1704067200000 + 1000 * k};
            break;
        case TUNNEL_TYPE_DATE:
            v[i] = (struct tunnel_value){.kind = TUNNEL_VAL_INT, .u.i = 19723 + k};
            break;
        default:
            break;
        }
    }
}

/* One block of rows [start, start + count), finished; returns new bytes (free them). */
static unsigned char *
block_make(const struct schema *s, long start, long count, size_t *ret_len)
{
    struct tunnel_value v[MAX_COLS];
    char texts[MAX_COLS][64];
    struct tunnel_writer w;
    struct otsync_err err;
    const unsigned char *data;
    unsigned char *out;
    long k;

    if (tunnel_writer_init(&w, &s->ts, 0, &err) < 0)
        die("%s", err.msg);
    for (k = start; k < start + count; k++) {
        row_make(s, k, v, texts);
        if (tunnel_writer_append(&w, v, s->ts.count, &err) < 0)
            die("row %ld: %s", k, err.msg);
    }
    if (tunnel_writer_finish(&w, &err) < 0)
        die("%s", err.msg);
    data = tunnel_writer_data(&w, ret_len);
    out = malloc(*ret_len + 1);
    if (!out)
        die("out of memory");
    memcpy(out, data, *ret_len);
    tunnel_writer_fini(&w);
    return out;
}

/* Flips the case of the first "row-" text: the structure stays valid, the CRC does not. */
static void
corrupt(unsigned char *data, size_t len)
{
    size_t i;

    for (i = 0; i + 4 <= len; i++)
        if (memcmp(data + i, "row-", 4) == 0) {
            data[i] ^= 0x20;
            return;
        }
    die("--corrupt: the block has no text to flip");
}

/* --- commands --- */

static size_t
tunnel_params(struct odpssign_param *p, const char *extra, const char *extra_value)
{
    size_t n = 0;

    p[n++] = (struct odpssign_param){"curr_project", o.project};
    if (o.partition)
        p[n++] = (struct odpssign_param){"partition", o.partition};
    if (extra)
        p[n++] = (struct odpssign_param){extra, extra_value};
    return n;
}

static json_t *
session_create(void)
{
    struct odpssign_param p[MAX_PARAMS];
    size_t n = tunnel_params(p, "uploads", NULL);
    struct reply r;
    json_t *j;

    need("--tunnel", o.tunnel);
    if (o.create_partition)
        p[n++] = (struct odpssign_param){"create_partition", "true"};
    if (o.overwrite)
        p[n++] = (struct odpssign_param){"overwrite", "true"};
    r = request("POST", o.tunnel, table_path(), p, n, NULL, NULL, 0, true, true);
    need_2xx(&r);
    j = json_loads(r.body.data, 0, NULL);
    if (!json_string_value(json_object_get(j, "UploadID")))
        die("session JSON without UploadID: %s", r.body.data);
    free(r.body.data);
    return j;
}

static json_t *
session_get(const char *id)
{
    struct odpssign_param p[MAX_PARAMS];
    size_t n = tunnel_params(p, "uploadid", id);
    struct reply r;
    json_t *j;

    r = request("GET", o.tunnel, table_path(), p, n, NULL, NULL, 0, true, true);
    need_2xx(&r);
    if (!(j = json_loads(r.body.data, 0, NULL)))
        die("session reload: not JSON: %s", r.body.data);
    free(r.body.data);
    return j;
}

static void
block_put(const char *id, const struct schema *s, long block_id, long start, long count,
          bool bad)
{
    struct odpssign_param p[MAX_PARAMS];
    size_t n = tunnel_params(p, "uploadid", id), len, zlen;
    unsigned char *data = block_make(s, start, count, &len), *z;
    struct otsync_err err;
    struct reply r;
    char bid[24];

    snprintf(bid, sizeof(bid), "%ld", block_id);
    p[n++] = (struct odpssign_param){"blockid", bid};
    if (bad)
        corrupt(data, len);
    if (o.deflate) {
        if (tunnel_deflate(data, len, 1, &z, &zlen, &err) < 0)
            die("%s", err.msg);
        free(data);
        data = z;
        len = zlen;
    }
    r = request("PUT", o.tunnel, table_path(), p, n, "application/octet-stream", data, len, true,
                true);
    free(data);
    need_2xx(&r);
    free(r.body.data);
}

static void
commit(const char *id)
{
    struct odpssign_param p[MAX_PARAMS];
    size_t n = tunnel_params(p, "uploadid", id);
    struct reply r;
    json_t *j;

    r = request("POST", o.tunnel, table_path(), p, n, NULL, NULL, 0, true, true);
    need_2xx(&r);
    j = json_loads(r.body.data, 0, NULL);
    printf("%s\n", json_string_value(json_object_get(j, "Status")) ?: "?");
    json_decref(j);
    free(r.body.data);
}

/* create, PUT the rows in --blocks blocks, check the block list, commit (doc 10). */
static void
cmd_upload(void)
{
    json_t *sess = session_create(), *again;
    const char *id = json_string_value(json_object_get(sess, "UploadID"));
    struct schema s;
    long b, per, done = 0;

    schema_read(json_object_get(json_object_get(sess, "Schema"), "columns"), &s);
    printf("%s\n", id);
    per = o.blocks > 0 ? (o.rows + o.blocks - 1) / o.blocks : o.rows;
    for (b = 0; b < o.blocks; b++) {
        long count = o.rows - done < per ? o.rows - done : per;

        block_put(id, &s, b, o.start + done, count, o.fail_block && b == o.blocks - 1);
        done += count;
    }
    if (!o.no_commit) {
        again = session_get(id);
        if ((long)json_array_size(json_object_get(again, "UploadedBlockList")) != o.blocks)
            die("the session holds %zu blocks, not %ld",
                json_array_size(json_object_get(again, "UploadedBlockList")), o.blocks);
        json_decref(again);
        commit(id);
    }
    json_decref(sess);
}

static void
cmd_put(void)
{
    json_t *sess;
    struct schema s;

    need("--upload", o.upload);
    sess = session_get(o.upload);
    schema_read(json_object_get(json_object_get(sess, "Schema"), "columns"), &s);
    block_put(o.upload, &s, o.block_id, o.start, o.rows, o.corrupt);
    json_decref(sess);
}

/* The schema JSON out of GET table's <Schema> element. */
static json_t *
table_schema(bool print)
{
    struct odpssign_param p[1] = {{"curr_project", o.project}};
    struct reply r;
    char *s, *e, *w, *q;
    json_t *j;

    need("--api", o.api);
    r = request("GET", o.api, table_path(), p, 1, NULL, NULL, 0, true, false);
    need_2xx(&r);
    if (print)
        printf("%s", r.body.data);
    if (!(s = strstr(r.body.data, "<Schema")) || !(s = strchr(s, '>'))
        || !(e = strstr(++s, "</Schema>")))
        die("no <Schema> in the table XML");
    *e = '\0';
    for (q = w = s; *q; q++) {
        if (strncmp(q, "&amp;", 5) == 0 || strncmp(q, "&lt;", 4) == 0
            || strncmp(q, "&gt;", 4) == 0) {
            *w++ = q[1] == 'a' ? '&' : q[1] == 'l' ? '<' : '>';
            q += q[1] == 'a' ? 4 : 3;
        } else {
            *w++ = *q;
        }
    }
    *w = '\0';
    if (!(j = json_loads(s, 0, NULL)))
        die("the schema is not JSON: %s", s);
    free(r.body.data);
    return j;
}

/* The rows the dump should show after rows [start, start + rows) were committed. */
static void
cmd_expect(void)
{
    json_t *schema = table_schema(false), *rows = json_array(), *row;
    struct tunnel_value v[MAX_COLS];
    char texts[MAX_COLS][64], b64[128], *out;
    struct schema s;
    size_t i;
    long k;

    schema_read(json_object_get(schema, "columns"), &s);
    for (k = o.start; k < o.start + o.rows; k++) {
        row_make(&s, k, v, texts);
        row = json_array();
        for (i = 0; i < s.ts.count; i++) {
            switch (v[i].kind) {
            case TUNNEL_VAL_INT: json_array_append_new(row, json_integer(v[i].u.i)); break;
            case TUNNEL_VAL_DOUBLE: json_array_append_new(row, json_real(v[i].u.d)); break;
            case TUNNEL_VAL_FLOAT: json_array_append_new(row, json_real(v[i].u.f)); break;
            case TUNNEL_VAL_BOOL: json_array_append_new(row, json_boolean(v[i].u.b)); break;
            case TUNNEL_VAL_BYTES:
                if (s.cols[i].type == TUNNEL_TYPE_BINARY) {
                    sign_base64(v[i].u.s.ptr, v[i].u.s.len, b64);
                    json_array_append_new(row, json_string(b64));
                } else {
                    json_array_append_new(row, json_stringn(v[i].u.s.ptr, v[i].u.s.len));
                }
                break;
            default: json_array_append_new(row, json_null()); break;
            }
        }
        json_array_append_new(rows, row);
    }
    rows = json_pack("{s:o}", "rows", rows);
    out = json_dumps(rows, JSON_COMPACT);
    printf("%s\n", out);
    free(out);
    json_decref(rows);
    json_decref(schema);
}

/* Submit, poll, read the task status, and the result when it failed (doc 4.3). */
static void
cmd_sql(const char *sql)
{
    struct odpssign_param p[2] = {{"curr_project", o.project}, {NULL, NULL}};
    char path[1024], body[8192], *id;
    struct reply r;
    int polls;

    need("--api", o.api);
    need("--project", o.project);
    snprintf(body, sizeof(body), "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Instance><Job>"
             "<Priority>9</Priority><Tasks><SQL><Name>emu_odps_client_task</Name><Config>"
             "<Property><Name>settings</Name><Value>{\"odps.sql.type.system.odps2\": \"true\"}"
             "</Value></Property></Config><Query><![CDATA[%s]]></Query></SQL></Tasks><DAG>"
             "<RunMode>Sequence</RunMode></DAG></Job></Instance>\n", sql);
    snprintf(path, sizeof(path), "/projects/%s/instances", o.project);
    r = request("POST", o.api, path, p, 1, "application/xml", (unsigned char *)body,
                strlen(body), true, false);
    need_2xx(&r);
    if (r.status != 201 || !(id = strrchr(r.location, '/')))
        die("instance created with %ld and no Location", r.status);
    snprintf(path, sizeof(path), "/projects/%s/instances/%s", o.project, id + 1);
    free(r.body.data);
    for (polls = 0; polls < 100; polls++) {
        r = request("GET", o.api, path, p, 1, NULL, NULL, 0, true, false);
        need_2xx(&r);
        if (strstr(r.body.data, "<Status>Terminated</Status>"))
            break;
        free(r.body.data);
        usleep(100000);
    }
    free(r.body.data);
    p[1] = (struct odpssign_param){"taskstatus", NULL};
    r = request("GET", o.api, path, p, 2, NULL, NULL, 0, true, false);
    need_2xx(&r);
    if (strstr(r.body.data, "<Status>Success</Status>")) {
        printf("Success\n");
        free(r.body.data);
        return;
    }
    free(r.body.data);
    p[1] = (struct odpssign_param){"result", NULL};
    r = request("GET", o.api, path, p, 2, NULL, NULL, 0, true, false);
    need_2xx(&r);
    printf("Failed: %s\n", r.body.data);
    exit(1);
}

static void
cmd_partitions(void)
{
    struct odpssign_param p[3] = {{"curr_project", o.project}, {"partitions", NULL},
                                  {"expectmarker", "true"}};
    struct reply r;
    char *s;

    need("--api", o.api);
    r = request("GET", o.api, table_path(), p, 3, NULL, NULL, 0, true, false);
    need_2xx(&r);
    /* one line per partition: the Column values joined as k=v,k=v */
    for (s = r.body.data; (s = strstr(s, "<Partition>")); ) {
        char *end = strstr(s, "</Partition>"), *c = s;
        bool first = true;

        while ((c = strstr(c, "<Column Name=\"")) && c < end) {
            char name[128], value[256];

            if (sscanf(c, "<Column Name=\"%127[^\"]\" Value=\"%255[^\"]\"", name, value) == 2)
                printf("%s%s=%s", first ? "" : ",", name, value);
            first = false;
            c++;
        }
        printf("\n");
        s = end;
    }
    free(r.body.data);
}

/* An unsigned admin call on the service API's port: /_emu/odps/<path>, or <path> itself when
 * it starts with '/' (/_emu/faults). */
static void
cmd_admin(const char *method, const char *path, const char *body)
{
    char base[1024], *api_at;
    struct reply r;

    need("--api", o.api);
    snprintf(base, sizeof(base), "%s", o.api);
    if ((api_at = strstr(base, "/api")) && !api_at[4])
        *api_at = '\0';
    if (path[0] != '/')
        snprintf(base + strlen(base), sizeof(base) - strlen(base), "/_emu/odps/");
    r = request(method, base, path, NULL, 0, body ? "application/json" : NULL,
                (const unsigned char *)body, body ? strlen(body) : 0, false, false);
    printf("%s\n", r.body.data);
    if (r.status < 200 || r.status >= 300) {
        printf("HTTP %ld\n", r.status);
        exit(1);
    }
    free(r.body.data);
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: emu-odps-client [options] COMMAND [ARG...]\n"
            "  schema | partitions | tunnel-endpoint | sql STATEMENT | create | status\n"
            "  put | commit | upload | expect | admin METHOD PATH [BODY]\n"
            "options: --api URL --tunnel URL --id ID --secret S --sts-token T --project P\n"
            "  --table T --partition SPEC --upload ID --rows N --start K --blocks B\n"
            "  --block-id N --deflate --corrupt --no-commit --fail-block --create-partition\n"
            "  --overwrite --date-offset SECONDS\n");
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"api", required_argument, NULL, 'a'}, {"tunnel", required_argument, NULL, 'T'},
        {"id", required_argument, NULL, 'i'}, {"secret", required_argument, NULL, 's'},
        {"sts-token", required_argument, NULL, 'S'}, {"project", required_argument, NULL, 'p'},
        {"table", required_argument, NULL, 't'}, {"partition", required_argument, NULL, 'P'},
        {"upload", required_argument, NULL, 'u'}, {"rows", required_argument, NULL, 'r'},
        {"start", required_argument, NULL, 'k'}, {"blocks", required_argument, NULL, 'b'},
        {"block-id", required_argument, NULL, 'B'}, {"deflate", no_argument, NULL, 'z'},
        {"corrupt", no_argument, NULL, 'c'}, {"no-commit", no_argument, NULL, 'n'},
        {"fail-block", no_argument, NULL, 'f'}, {"create-partition", no_argument, NULL, 'C'},
        {"overwrite", no_argument, NULL, 'O'}, {"date-offset", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *cmd;
    struct odpssign_param p[MAX_PARAMS];
    struct reply r;
    json_t *j;
    char *text;
    int c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': o.api = optarg; break;
        case 'T': o.tunnel = optarg; break;
        case 'i': o.id = optarg; break;
        case 's': o.secret = optarg; break;
        case 'S': o.sts = optarg; break;
        case 'p': o.project = optarg; break;
        case 't': o.table = optarg; break;
        case 'P': o.partition = optarg; break;
        case 'u': o.upload = optarg; break;
        case 'r': o.rows = strtol(optarg, NULL, 10); break;
        case 'k': o.start = strtol(optarg, NULL, 10); break;
        case 'b': o.blocks = strtol(optarg, NULL, 10); break;
        case 'B': o.block_id = strtol(optarg, NULL, 10); break;
        case 'z': o.deflate = true; break;
        case 'c': o.corrupt = true; break;
        case 'n': o.no_commit = true; break;
        case 'f': o.fail_block = true; break;
        case 'C': o.create_partition = true; break;
        case 'O': o.overwrite = true; break;
        case 'd': o.date_offset = strtol(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    cmd = argv[optind++];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(cmd, "schema") == 0) {
        json_decref(table_schema(true));
    } else if (strcmp(cmd, "partitions") == 0) {
        cmd_partitions();
    } else if (strcmp(cmd, "tunnel-endpoint") == 0) {
        char path[512];

        need("--api", o.api);
        need("--project", o.project);
        snprintf(path, sizeof(path), "/projects/%s/tunnel", o.project);
        p[0] = (struct odpssign_param){"service", NULL};
        p[1] = (struct odpssign_param){"curr_project", o.project};
        r = request("GET", o.api, path, p, 2, NULL, NULL, 0, true, false);
        need_2xx(&r);
        printf("%s\n", r.body.data);
        free(r.body.data);
    } else if (strcmp(cmd, "sql") == 0 && optind < argc) {
        cmd_sql(argv[optind]);
    } else if (strcmp(cmd, "create") == 0) {
        j = session_create();
        printf("%s\n", json_string_value(json_object_get(j, "UploadID")));
        json_decref(j);
    } else if (strcmp(cmd, "status") == 0) {
        need("--upload", o.upload);
        j = session_get(o.upload);
        text = json_dumps(j, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
        json_decref(j);
    } else if (strcmp(cmd, "put") == 0) {
        cmd_put();
    } else if (strcmp(cmd, "commit") == 0) {
        need("--upload", o.upload);
        commit(o.upload);
    } else if (strcmp(cmd, "upload") == 0) {
        cmd_upload();
    } else if (strcmp(cmd, "expect") == 0) {
        cmd_expect();
    } else if (strcmp(cmd, "admin") == 0 && optind + 1 < argc) {
        cmd_admin(argv[optind], argv[optind + 1], optind + 2 < argc ? argv[optind + 2] : NULL);
    } else {
        usage(stderr);
        return 2;
    }
    curl_global_cleanup();
    return 0;
}
