/*
 * throttle.h - the job-wide token bucket behind setting.speed.mbps and setting.speed.record.
 *
 * Owns: the arithmetic only. The caller passes the time (uv_hrtime() in the engine, a fake
 * clock in the unit test) and holds batches back while throttle_wait_ns() says so. Private to
 * src/run.
 *
 * Batches are taken whole and may drive the balance below zero (a 4 MiB batch under 1 MiB/s
 * leaves a debt of 3 s); the next batch waits until the debt is paid. So the long-run rate is
 * exact whatever the batch size, and the bucket never splits a batch. Unused allowance builds
 * up for at most one second, the burst a paused job may spend at once.
 */
#ifndef OTSYNC_THROTTLE_H
#define OTSYNC_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

struct throttle {
    double bytes_per_s;     /* 0: bytes are not limited */
    double records_per_s;   /* 0: records are not limited */
    double bytes, records;  /* the balances; negative is debt */
    uint64_t last_ns;       /* when the balances were last brought up to date */
};

/* Starts with empty balances at now_ns. */
void throttle_init(struct throttle *t, double bytes_per_s, double records_per_s,
                   uint64_t now_ns);

/* Whether any limit is set. */
bool throttle_active(const struct throttle *t);

/* Nanoseconds from now_ns until a batch may go; 0 when it may go now. */
uint64_t throttle_wait_ns(struct throttle *t, uint64_t now_ns);

/* Accounts a batch that goes now. */
void throttle_take(struct throttle *t, uint64_t now_ns, uint64_t bytes, uint64_t records);

#endif
