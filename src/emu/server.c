/*
 * server.c - the HTTP side of otsync-emu on libmicrohttpd: collecting a request, the fault
 * rules, the admin calls every port answers under /_emu/, and sending the answer.
 *
 * A request is collected whole (body included) before anything looks at it; then, under the
 * lock, the service names its operation, the faults get their say, and the service answers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>
#include "otsync/crc64.h"
#include "otsync/log.h"
#include "otsync/sign.h"
#include "emu.h"

/* What the core keeps per request between libmicrohttpd's calls. */
struct pending {
    unsigned char *body;
    size_t len, cap;
    bool too_large;
};

void
emu_resp_header(struct emu_resp *r, const char *name, const char *fmt, ...)
{
    char *value, *line;
    va_list ap;
    int n;

    if (r->header_count >= EMU_MAX_HEADERS)
        return;
    va_start(ap, fmt);
    n = vasprintf(&value, fmt, ap);     /* no cap: x-oss-err carries whole documents */
    va_end(ap);
    if (n < 0)
        return;
    if (asprintf(&line, "%s: %s", name, value) >= 0)
        r->headers[r->header_count++] = line;
    free(value);
}

void
emu_resp_take(struct emu_resp *r, unsigned status, void *body, size_t len)
{
    free(r->body);
    r->status = status;
    r->body = body;
    r->body_len = body ? len : 0;
}

void
emu_resp_text(struct emu_resp *r, unsigned status, const char *content_type, const char *text)
{
    size_t n = strlen(text);
    char *copy = malloc(n + 1);

    if (copy)
        memcpy(copy, text, n + 1);
    if (content_type)
        emu_resp_header(r, "Content-Type", "%s", content_type);
    emu_resp_take(r, copy ? status : 500, copy, copy ? n : 0);
}

void
emu_resp_json(struct emu_resp *r, unsigned status, json_t *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;

    json_decref(json);
    emu_resp_header(r, "Content-Type", "application/json");
    emu_resp_take(r, text ? status : 500, text, text ? strlen(text) : 0);
}

const char *
emu_req_header(const struct emu_req *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->header_count; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const struct emu_kv *
emu_req_arg(const struct emu_req *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->arg_count; i++)
        if (strcmp(req->args[i].name, name) == 0)
            return &req->args[i];
    return NULL;
}

double
emu_random(struct emu *emu)
{
    /* xorshift64*: reproducible with --seed, good enough to pick a share of requests */
    emu->rng ^= emu->rng >> 12;
    emu->rng ^= emu->rng << 25;
    emu->rng ^= emu->rng >> 27;
    return (double)((emu->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

const char *
emu_http_date(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

int
emu_save_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096], tmp[4200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (!(f = fopen(tmp, "w"))) {
        log_error("%s: %s", tmp, strerror(errno));
        return -1;
    }
    if (fwrite(data, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        log_error("%s: %s", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        return -1;
    }
    fclose(f);
    if (rename(tmp, path) < 0) {
        log_error("%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void *
emu_load_file(const char *dir, const char *name, size_t *ret_len)
{
    char path[4096];
    unsigned char *buf = NULL;
    struct stat st;
    int fd;

    *ret_len = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno != ENOENT)
            log_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1))) {
        if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
            log_error("%s: short read", path);
            free(buf);
            buf = NULL;
        } else {
            buf[st.st_size] = '\0';
            *ret_len = (size_t)st.st_size;
        }
    }
    close(fd);
    return buf;
}

/* --- faults --- */

static const char *const kind_names[] = {"error", "stall", "reset", "partial"};

static json_t *
fault_json(const struct emu_fault *f)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:f, s:I}", "service", f->service, "op", f->op,
                          "kind", kind_names[f->kind], "remaining", (json_int_t)f->remaining,
                          "share", f->share, "hits", (json_int_t)f->hits);

    if (o && f->kind == EMU_FAULT_ERROR) {
        json_object_set_new(o, "status", json_integer(f->status));
        json_object_set_new(o, "code", json_string(f->code));
    }
    if (o && f->kind == EMU_FAULT_STALL)
        json_object_set_new(o, "stall_ms", json_integer(f->stall_ms));
    return o;
}

/*
 * POST /_emu/faults {"service", "op", "kind": error|stall|reset|partial, "count" | "share",
 * "status", "code", "message", "stall_ms"}. Returns NULL or why the rule is refused.
 */
static const char *
fault_add(struct emu *emu, const json_t *j)
{
    struct emu_fault f, *nf;
    const char *s;
    json_t *v;
    size_t i;

    memset(&f, 0, sizeof(f));
    if (!json_is_object(j))
        return "expected a JSON object";
    if ((s = json_string_value(json_object_get(j, "service"))))
        snprintf(f.service, sizeof(f.service), "%s", s);
    if ((s = json_string_value(json_object_get(j, "op"))))
        snprintf(f.op, sizeof(f.op), "%s", s);
    s = json_string_value(json_object_get(j, "kind"));
    for (i = 0; s && i < 4 && strcmp(s, kind_names[i]) != 0; i++)
        ;
    if (!s || i == 4)
        return "kind: expected error, stall, reset or partial";
    f.kind = (enum emu_fault_kind)i;
    f.remaining = -1;
    if ((v = json_object_get(j, "count"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return "count: expected a positive integer";
        f.remaining = (long)json_integer_value(v);
    } else if ((v = json_object_get(j, "share"))) {
        if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 1)
            return "share: expected a number in (0, 1]";
        f.share = json_number_value(v);
    } else {
        return "give count (the next N requests) or share (a fraction of them)";
    }
    f.status = 503;
    if ((v = json_object_get(j, "status"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 400 || json_integer_value(v) > 599)
            return "status: expected an HTTP error status";
        f.status = (unsigned)json_integer_value(v);
    }
    if ((s = json_string_value(json_object_get(j, "code"))))
        snprintf(f.code, sizeof(f.code), "%s", s);
    if ((s = json_string_value(json_object_get(j, "message"))))
        snprintf(f.message, sizeof(f.message), "%s", s);
    else
        snprintf(f.message, sizeof(f.message), "injected by otsync-emu");
    if (f.kind == EMU_FAULT_STALL) {
        v = json_object_get(j, "stall_ms");
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 600000)
            return "stall_ms: expected milliseconds, 1 to 600000";
        f.stall_ms = (unsigned)json_integer_value(v);
    }
    if (!(nf = realloc(emu->faults, (emu->fault_count + 1) * sizeof(*nf))))
        return "out of memory";
    emu->faults = nf;
    emu->faults[emu->fault_count++] = f;
    return NULL;
}

/* The first rule that takes this request, counted; NULL when none does. */
static struct emu_fault *
fault_match(struct emu *emu, const char *service, const char *op)
{
    struct emu_fault *f;
    size_t i;

    for (i = 0; i < emu->fault_count; i++) {
        f = &emu->faults[i];
        if ((f->service[0] && strcmp(f->service, service) != 0)
            || (f->op[0] && strcmp(f->op, op) != 0))
            continue;
        if (f->remaining == 0)
            continue;
        if (f->remaining < 0 && emu_random(emu) >= f->share)
            continue;
        if (f->remaining > 0)
            f->remaining--;
        f->hits++;
        return f;
    }
    return NULL;
}

/* --- admin --- */

static void
save_all(struct emu *emu, struct emu_resp *resp)
{
    size_t i;
    int rc = 0;

    if (!emu->data_dir) {
        emu_resp_text(resp, 409, "text/plain", "no --data directory: state is in memory only\n");
        return;
    }
    for (i = 0; i < emu->service_count; i++)
        if (emu->services[i]->save && emu->services[i]->save(emu->services[i]->state,
                                                             emu->data_dir) < 0)
            rc = -1;
    emu_resp_text(resp, rc < 0 ? 500 : 200, "text/plain", rc < 0 ? "save failed\n" : "saved\n");
}

static void
admin(struct emu *emu, struct emu_req *req, struct emu_resp *resp)
{
    const char *what = req->path + strlen("/_emu/");
    json_error_t jerr;
    const char *why;
    json_t *j, *list;
    size_t i, n;

    if (strcmp(what, "faults") == 0) {
        if (strcmp(req->method, "DELETE") == 0) {
            free(emu->faults);
            emu->faults = NULL;
            emu->fault_count = 0;
            emu_resp_text(resp, 200, "text/plain", "cleared\n");
        } else if (strcmp(req->method, "POST") == 0) {
            j = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
            why = j ? fault_add(emu, j) : jerr.text;
            json_decref(j);
            if (why)
                emu_resp_json(resp, 400, json_pack("{s:s}", "error", why));
            else
                emu_resp_json(resp, 200, fault_json(&emu->faults[emu->fault_count - 1]));
        } else {
            list = json_array();
            for (i = 0; i < emu->fault_count; i++)
                json_array_append_new(list, fault_json(&emu->faults[i]));
            emu_resp_json(resp, 200, list);
        }
        return;
    }
    if (strcmp(what, "save") == 0) {
        save_all(emu, resp);
        return;
    }
    if (strcmp(what, "stats") == 0) {
        emu_resp_json(resp, 200, json_pack("{s:I}", "requests", (json_int_t)emu->requests));
        return;
    }
    for (i = 0; i < emu->service_count; i++) {
        n = strlen(emu->services[i]->name);
        if (strncmp(what, emu->services[i]->name, n) == 0 && what[n] == '/'
            && emu->services[i]->admin) {
            emu->services[i]->admin(emu->services[i]->state, req, what + n + 1, resp);
            return;
        }
    }
    emu_resp_text(resp, 404, "text/plain", "no such admin call\n");
}

/* --- libmicrohttpd --- */

static enum MHD_Result
collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct emu_req *req = cls;

    if (kind == MHD_HEADER_KIND && req->header_count < EMU_MAX_HEADERS)
        req->headers[req->header_count++] = (struct emu_kv){key, value};
    else if (kind == MHD_GET_ARGUMENT_KIND && req->arg_count < EMU_MAX_HEADERS)
        req->args[req->arg_count++] = (struct emu_kv){key, value};
    return MHD_YES;
}

/* The reset fault: a few bytes of the answer, then the connection is closed. */
static ssize_t
reset_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    if (pos == 0 && max >= 16) {
        memcpy(buf, "<partial answer ", 16);
        return 16;
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result
send_resp(struct MHD_Connection *c, struct emu_resp *r)
{
    struct MHD_Response *mr;
    enum MHD_Result ret;
    char *colon;
    size_t i;

    mr = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!mr)
        return MHD_NO;
    r->body = NULL;
    for (i = 0; i < r->header_count; i++) {
        if ((colon = strchr(r->headers[i], ':'))) {
            *colon = '\0';
            MHD_add_response_header(mr, r->headers[i], colon + 2);
        }
        free(r->headers[i]);
    }
    r->header_count = 0;
    ret = MHD_queue_response(c, r->status ? r->status : 500, mr);
    MHD_destroy_response(mr);
    return ret;
}

unsigned char *
emu_req_take_body(struct emu_req *req)
{
    unsigned char *b;

    if (!req->body_slot || !*req->body_slot) {
        /* a request made up by a test or fuzzer: a copy */
        if ((b = malloc(req->body_len + 1)) && req->body_len)
            memcpy(b, req->body, req->body_len);
        return b;
    }
    b = *req->body_slot;
    *req->body_slot = NULL;
    return b;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_size, void **ctx)
{
    struct emu_service *svc = cls;
    struct emu *emu = NULL;
    struct pending *p = *ctx;
    struct emu_fault *f, fault;
    struct emu_resp resp;
    struct emu_req req;
    unsigned stall = 0;
    enum MHD_Result ret;

    (void)version;
    if (!p) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;

        if (!(p = calloc(1, sizeof(*p))))
            return MHD_NO;
        *ctx = p;
        /* the whole body's room at once: growing it by doubling copied a 10 MB part twice */
        if (want > 0 && want <= EMU_MAX_BODY && (p->body = malloc((size_t)want + 1)))
            p->cap = (size_t)want;
        return MHD_YES;
    }
    if (*upload_size) {
        if (p->too_large || p->len + *upload_size > EMU_MAX_BODY) {
            p->too_large = true;
        } else {
            if (p->len + *upload_size > p->cap) {
                size_t cap = p->cap ? p->cap : 65536;
                unsigned char *nb;

                while (cap < p->len + *upload_size)
                    cap *= 2;
                if (!(nb = realloc(p->body, cap + 1)))
                    return MHD_NO;
                p->body = nb;
                p->cap = cap;
            }
            memcpy(p->body + p->len, upload_data, *upload_size);
            p->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }

    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.method = method;
    req.path = url;
    req.body = p->body;
    req.body_len = p->len;
    req.body_slot = &p->body;
    if (p->body)
        p->body[p->len] = '\0';     /* room was kept: text bodies may be read as strings */
    /* pure functions of the body: taken here, outside the lock (see emu.h) */
    sign_md5(p->body ? (const void *)p->body : "", p->len, req.body_md5);
    req.has_md5 = true;
    if (p->len && strcmp(svc->name, "oss") == 0) {
        req.body_crc64 = crc64ecma(0, p->body, p->len);
        req.has_crc64 = true;
    }
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &req);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect, &req);
    if (p->too_large) {
        emu_resp_text(&resp, 413, "text/plain", "request body too large for otsync-emu\n");
        return send_resp(c, &resp);
    }
    emu = svc->emu;
    req.emu = emu;
    pthread_mutex_lock(&emu->lock);
    emu->requests++;
    if (strncmp(url, "/_emu/", 6) == 0) {
        admin(emu, &req, &resp);
        pthread_mutex_unlock(&emu->lock);
        return send_resp(c, &resp);
    }
    svc->op(svc->state, &req);
    f = fault_match(emu, svc->name, req.op);
    if (f)
        fault = *f;
    pthread_mutex_unlock(&emu->lock);
    if (f && fault.kind == EMU_FAULT_RESET && strcmp(method, "HEAD") == 0) {
        /* an answer to HEAD has no body to break off: the connection just closes */
        log_info("fault: reset %s %s", svc->name, req.op);
        return MHD_NO;
    }
    if (f && fault.kind == EMU_FAULT_RESET) {
        struct MHD_Response *mr = MHD_create_response_from_callback(1024, 64, reset_reader,
                                                                    NULL, NULL);
        log_info("fault: reset %s %s", svc->name, req.op);
        ret = MHD_queue_response(c, 200, mr);
        MHD_destroy_response(mr);
        return ret;
    }
    if (f && fault.kind == EMU_FAULT_STALL)
        stall = fault.stall_ms;
    if (stall) {
        log_info("fault: stall %s %s for %u ms", svc->name, req.op, stall);
        usleep(stall * 1000u);
    }
    pthread_mutex_lock(&emu->lock);
    if (f && fault.kind == EMU_FAULT_ERROR) {
        log_info("fault: %s %s -> %u %s", svc->name, req.op, fault.status, fault.code);
        svc->error(svc->state, &req, &resp, fault.status, fault.code, fault.message);
    } else {
        req.partial = f && fault.kind == EMU_FAULT_PARTIAL;
        svc->handle(svc->state, &req, &resp);
    }
    pthread_mutex_unlock(&emu->lock);
    return send_resp(c, &resp);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **ctx,
             enum MHD_RequestTerminationCode code)
{
    struct pending *p = *ctx;

    (void)cls;
    (void)c;
    (void)code;
    if (p) {
        free(p->body);
        free(p);
    }
    *ctx = NULL;
}

int
emu_service_start(struct emu_service *svc, const struct sockaddr_in *addr)
{
    const union MHD_DaemonInfo *info;

    svc->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                                | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, svc,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                MHD_OPTION_END);
    if (!svc->mhd)
        return -1;
    info = MHD_get_daemon_info(svc->mhd, MHD_DAEMON_INFO_BIND_PORT);
    svc->port = info ? info->port : 0;
    return 0;
}

void
emu_service_stop(struct emu_service *svc)
{
    if (svc->mhd)
        MHD_stop_daemon(svc->mhd);
    svc->mhd = NULL;
}

void
emu_service_free(struct emu_service *svc)
{
    if (!svc)
        return;
    if (svc->destroy)
        svc->destroy(svc->state);
    free(svc);
}
