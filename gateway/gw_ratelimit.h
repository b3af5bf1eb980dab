/* Rate limits per class (API.md "Conventions"), shared by every gateway
 * instance through Redis (the gateway's keys, barberpro:gw:rl:*). The
 * algorithm is GCRA, run as one Lua script so that reading and updating a
 * bucket is atomic, with Redis's own clock so that instances agree: a
 * class allows `max` requests per `window`, a burst of all of them at once,
 * then one every window/max.
 *
 * When Redis cannot be reached, requests go through: the outage is logged
 * once, counted in barberpro_ratelimit_fail_open_total{class}, and Redis is
 * not asked again for a second, so an outage costs a request at most one
 * short timeout. The checks go to Redis pipelined from one thread of the
 * limiter's own, and each verdict comes back to a continuation: no caller
 * waits (gw_ratelimit_check_async). */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "gw_routes.h"

/* Redis commands of the limiter give up after this long. */
#define GW_RATE_REDIS_TIMEOUT_MS 100
/* After a failure, Redis is left alone this long (requests pass). */
#define GW_RATE_PAUSE_MS 1000

typedef struct {
    long max; /* requests per window */
    int64_t window_ms;
} gw_rate_rule;

/* The outcome of one check, for the RateLimit-* headers and 429. */
typedef struct {
    bool checked; /* the limiter decided (false: class none, off, or Redis down) */
    bool allowed;
    long limit;
    long remaining;
    long reset_s;       /* until the whole quota is back */
    long retry_after_s; /* when refused: until one request is allowed */
} gw_rate_result;

/* Reads RATE_LIMIT_ENABLED, RATE_LIMIT_WINDOW_MS, RATE_LIMIT_MAX_REQUESTS,
 * RATE_LIMIT_AUTH_MAX, RATE_LIMIT_BOOKING_MAX, RATE_LIMIT_PAYMENTS_MAX and
 * REDIS_URL (required while the limiter is on); a bad value exits 2 naming
 * the variable. No connection is made yet. */
void gw_ratelimit_configure(void);

/* Starts the limiter's thread (when the limiter is on). Returns 0 or
 * BP_EIO. Until it runs, every check is let through. */
int gw_ratelimit_start(void);

/* Stops the thread after the checks in flight are answered (at stop, once
 * no request can ask any more). */
void gw_ratelimit_close(void);

/* True when requests of class c are limited (the limiter is on and c is not
 * GW_RATE_NONE). */
bool gw_ratelimit_applies(gw_rate_class c);

/* The rule of class c (max 0 for GW_RATE_NONE). */
gw_rate_rule gw_ratelimit_rule(gw_rate_class c);

/* What runs with a verdict: on the limiter's thread, or on the caller's
 * when no Redis round trip was needed. r lives only during the call. */
typedef void (*gw_rate_done)(void *arg, const gw_rate_result *r);

/* Counts one request of class c against the bucket of subject ("ip:<addr>"
 * or "user:<id>") and calls done(arg, verdict) once: at once when the class
 * is not limited or Redis is paused, otherwise from the limiter's thread
 * within about GW_RATE_REDIS_TIMEOUT_MS. Callable from any thread; never
 * blocks. Without a verdict (Redis unreachable), r->checked is false and
 * r->allowed true. */
void gw_ratelimit_check_async(gw_rate_class c, const char *subject, gw_rate_done done, void *arg);

/* As gw_ratelimit_check_async, waiting for the verdict (tests, tools). */
void gw_ratelimit_check(gw_rate_class c, const char *subject, gw_rate_result *out);

/* Turns the script's answer into out (exposed for tests): whether the
 * request was allowed, and how far the bucket's theoretical arrival time
 * is ahead of now, in ms, after it (allowed) or as it stays (refused). */
void gw_ratelimit_result(const gw_rate_rule *rule, bool allowed, double ahead_ms,
                         gw_rate_result *out);

#endif
