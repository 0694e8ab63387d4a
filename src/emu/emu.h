/*
 * emu.h - otsync-emu's inside: the HTTP plumbing every emulated service shares, the fault
 * rules, and the face each service (ots.c, oss.c, odps.c) shows the core. Private to src/emu.
 *
 * Threads: libmicrohttpd runs a thread per connection, and the core holds one lock (emu->lock)
 * around every handler, so a service's state needs no locking of its own and requests are
 * applied one at a time, in an order — as a single-node store would. Only a fault's stall
 * sleeps outside the lock, and the digests of a request's body (MD5, CRC-64) are taken before
 * it: they depend on the body alone, and taking them under the lock kept a GetRange waiting
 * behind every multi-MB upload.
 */
#ifndef OTSYNC_EMU_H
#define OTSYNC_EMU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <jansson.h>
#include "otsync/clock.h"

#define EMU_MAX_BODY (256u * 1024u * 1024u)    /* larger requests get 413 */
#define EMU_MAX_HEADERS 64

struct emu;

struct emu_kv {
    const char *name;       /* borrowed from libmicrohttpd, alive for the request */
    const char *value;      /* NULL for a query argument without '=' */
};

struct emu_req {
    struct emu *emu;
    const char *method;
    const char *path;       /* the path, percent-decoded by libmicrohttpd */
    struct emu_kv headers[EMU_MAX_HEADERS];
    size_t header_count;
    struct emu_kv args[EMU_MAX_HEADERS];    /* the query, decoded, in the order sent */
    size_t arg_count;
    unsigned char *body;
    size_t body_len;
    unsigned char body_md5[16];     /* MD5 of the body, taken outside the lock */
    uint64_t body_crc64;            /* CRC-64/ECMA of the body (the oss service's requests) */
    bool has_md5, has_crc64;        /* whether they were taken (not in a made-up request) */
    unsigned char **body_slot;      /* where the body is owned: see emu_req_take_body */
    bool partial;           /* a fault asks for a partial failure (BatchWriteRow) */
    char op[64];            /* the operation, as the service named it */
};

struct emu_resp {
    unsigned status;
    char *headers[EMU_MAX_HEADERS]; /* "Name: value", owned */
    size_t header_count;
    unsigned char *body;    /* owned (malloc) */
    size_t body_len;
};

/* A fault rule: which requests, how many or what share, and what happens instead. */
enum emu_fault_kind {
    EMU_FAULT_ERROR,        /* the service's error `code` with HTTP `status` */
    EMU_FAULT_STALL,        /* wait stall_ms, then answer normally */
    EMU_FAULT_RESET,        /* send part of the answer, then close the connection */
    EMU_FAULT_PARTIAL,      /* the handler fails part of a batch (BatchWriteRow) */
};

struct emu_fault {
    char service[8];        /* "ots", "oss", "odps", "tunnel", or "" for any */
    char op[64];            /* an operation name, or "" for any */
    enum emu_fault_kind kind;
    long remaining;         /* requests still to fail; -1: no count, share decides */
    double share;           /* 0..1 of matching requests, when remaining is -1 */
    unsigned status;
    char code[64];
    char message[128];
    unsigned stall_ms;
    uint64_t hits;
};

struct emu_service {
    const char *name;       /* "ots", "oss", "odps", "tunnel" */
    struct emu *emu;
    void *state;
    /* Names the request's operation into req->op (for faults and logs). */
    void (*op)(void *state, struct emu_req *req);
    /* Answers req into resp; called with the lock held. */
    void (*handle)(void *state, struct emu_req *req, struct emu_resp *resp);
    /* The service's own error answer, for faults. */
    void (*error)(void *state, struct emu_req *req, struct emu_resp *resp, unsigned status,
                  const char *code, const char *message);
    /* /_emu/<name>/...: admin calls (no signature). NULL: none. */
    void (*admin)(void *state, struct emu_req *req, const char *what, struct emu_resp *resp);
    /* --data: write / read the service's state under dir. 0 or -1 with a message logged. */
    int (*save)(void *state, const char *dir);
    int (*load)(void *state, const char *dir);
    /* Frees state (NULL when another service owns it). */
    void (*destroy)(void *state);
    struct MHD_Daemon *mhd;
    unsigned port;
};

struct emu {
    pthread_mutex_t lock;
    const char *key_id, *key_secret, *sts_token;   /* the one credential pair accepted */
    const char *data_dir;                           /* NULL: memory only */
    struct emu_service *services[4];
    size_t service_count;
    struct emu_fault *faults;
    size_t fault_count;
    uint64_t rng;           /* for fault shares: xorshift, seeded by --seed */
    struct dclock clock;    /* --clock: the time cells and stream records are stamped with */
    uint64_t requests;
};

/* Starts serving svc on addr (port 0: any free one, then in svc->port). 0 or -1. */
int emu_service_start(struct emu_service *svc, const struct sockaddr_in *addr);
void emu_service_stop(struct emu_service *svc);

/* Response helpers. */
void emu_resp_header(struct emu_resp *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes body (malloc'ed) as the response body. */
void emu_resp_take(struct emu_resp *r, unsigned status, void *body, size_t len);
/* Copies text as the body. */
void emu_resp_text(struct emu_resp *r, unsigned status, const char *content_type,
                   const char *text);
/* Dumps json (taken) as the body. */
void emu_resp_json(struct emu_resp *r, unsigned status, json_t *json);

/* Request helpers: a header by name (any case) or a query argument; NULL when absent. */
const char *emu_req_header(const struct emu_req *req, const char *name);
/* The body for keeps (free() it), sparing a copy of a multi-MB upload; req->body stays readable
 * until the handler returns. Never NULL: an empty body gives a 1-byte buffer. */
unsigned char *emu_req_take_body(struct emu_req *req);
const struct emu_kv *emu_req_arg(const struct emu_req *req, const char *name);

/* A random number in [0, 1) from the emulator's generator (under the lock). */
double emu_random(struct emu *emu);

/* RFC 1123 date of now ("Sun, 06 Nov 1994 08:49:37 GMT") into buf (at least 30 bytes). */
const char *emu_http_date(char *buf, size_t len);

/* The services (ots.c, oss.c, odps.c). */
struct emu_service *emu_ots_new(struct emu *emu);
struct emu_service *emu_oss_new(struct emu *emu);
/* MaxCompute is two endpoints over one state: the service API and the tunnel. */
int emu_odps_new(struct emu *emu, struct emu_service **ret_api, struct emu_service **ret_tunnel);
void emu_service_free(struct emu_service *s);

/* Writes text atomically (temp file + rename) into dir/name. 0 or -1 (logged). */
int emu_save_file(const char *dir, const char *name, const void *data, size_t len);
/* Reads dir/name whole; NULL when it does not exist (ret_len 0) or on error (logged). */
void *emu_load_file(const char *dir, const char *name, size_t *ret_len);

#endif
