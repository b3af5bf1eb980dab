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
 * short timeout. */
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

/* Closes the Redis connections (at stop). */
void gw_ratelimit_close(void);

/* True when requests of class c are limited (the limiter is on and c is not
 * GW_RATE_NONE). */
bool gw_ratelimit_applies(gw_rate_class c);

/* The rule of class c (max 0 for GW_RATE_NONE). */
gw_rate_rule gw_ratelimit_rule(gw_rate_class c);

/* Counts one request of class c against the bucket of subject ("ip:<addr>"
 * or "user:<id>") and fills out. Blocks for one Redis round trip at most
 * GW_RATE_REDIS_TIMEOUT_MS long; callable from any thread. When the class
 * is not limited or Redis cannot be reached, out->checked is false and
 * out->allowed true. */
void gw_ratelimit_check(gw_rate_class c, const char *subject, gw_rate_result *out);

/* Turns the script's answer into out (exposed for tests): whether the
 * request was allowed, and how far the bucket's theoretical arrival time
 * is ahead of now, in ms, after it (allowed) or as it stays (refused). */
void gw_ratelimit_result(const gw_rate_rule *rule, bool allowed, double ahead_ms,
                         gw_rate_result *out);

#endif
