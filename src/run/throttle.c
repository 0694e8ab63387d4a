/*
 * throttle.c - a token bucket in debt form: see throttle.h.
 */
#include "throttle.h"

#define BURST_S 1.0

void
throttle_init(struct throttle *t, double bytes_per_s, double records_per_s, uint64_t now_ns)
{
    t->bytes_per_s = bytes_per_s > 0 ? bytes_per_s : 0;
    t->records_per_s = records_per_s > 0 ? records_per_s : 0;
    t->bytes = t->records = 0;
    t->last_ns = now_ns;
}

bool
throttle_active(const struct throttle *t)
{
    return t->bytes_per_s > 0 || t->records_per_s > 0;
}

static double
refill(double balance, double rate, double secs)
{
    balance += rate * secs;
    return balance > rate * BURST_S ? rate * BURST_S : balance;
}

static void
update(struct throttle *t, uint64_t now_ns)
{
    double secs;

    if (now_ns <= t->last_ns)
        return;     /* a clock that stood still (or a caller's older reading) adds nothing */
    secs = (double)(now_ns - t->last_ns) / 1e9;
    t->last_ns = now_ns;
    if (t->bytes_per_s > 0)
        t->bytes = refill(t->bytes, t->bytes_per_s, secs);
    if (t->records_per_s > 0)
        t->records = refill(t->records, t->records_per_s, secs);
}

/* The time a debt of -balance takes to pay at rate, rounded up to whole nanoseconds. */
static uint64_t
debt_ns(double balance, double rate)
{
    double ns;

    if (rate <= 0 || balance >= 0)
        return 0;
    ns = -balance / rate * 1e9;
    if (ns < 1.0)
        return 0;   /* rounding left of a debt just paid */
    return (uint64_t)ns + ((double)(uint64_t)ns < ns);
}

uint64_t
throttle_wait_ns(struct throttle *t, uint64_t now_ns)
{
    uint64_t a, b;

    update(t, now_ns);
    a = debt_ns(t->bytes, t->bytes_per_s);
    b = debt_ns(t->records, t->records_per_s);
    return a > b ? a : b;
}

void
throttle_take(struct throttle *t, uint64_t now_ns, uint64_t bytes, uint64_t records)
{
    update(t, now_ns);
    if (t->bytes_per_s > 0)
        t->bytes -= (double)bytes;
    if (t->records_per_s > 0)
        t->records -= (double)records;
}
