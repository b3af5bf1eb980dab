/* The USD:ARS exchange rate (the official dollar's selling rate from
 * dolarapi.com, EXCHANGE_RATE_URL): cached in Redis for an hour, the last
 * known value kept in PostgreSQL, served stale when the source fails. */
#ifndef BOOKING_RATES_H
#define BOOKING_RATES_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "kv.h"

#define BOOKING_RATE_PAIR "USD:ARS"

/* What booking_rate_get answers. The rate stays a double: it is shown, never
 * used to compute money (prices are ARS centavos). */
typedef struct {
    double rate;                  /* pesos per dollar: the source's "venta" */
    int64_t fetched_at_ms;        /* when it was fetched from the source */
    int64_t source_updated_at_ms; /* the source's fechaActualizacion; 0 unknown */
    int64_t age_s;                /* seconds since fetched_at */
    bool stale;                   /* the source failed; this is the last known rate */
    char source[48];              /* where the number comes from, "dolarapi:oficial" */
    char served_from[12];         /* "cache", "source" or "database": for logs and tests */
} booking_rate;

/* Fills out with the current rate. Flow: the Redis cache (1 h); else the
 * last known rate in PostgreSQL when it is under an hour old; else one fetch
 * of EXCHANGE_RATE_URL (3 s, 64 KiB), which only the holder of a short Redis
 * lock makes, so that concurrent misses fetch once. A good answer is stored
 * in Redis and PostgreSQL. When the source fails, or another caller is
 * fetching, the last known rate is served with stale true and its age, and a
 * failure is remembered in Redis for 60 s so that a dead source is not
 * hammered. kv may be NULL (Redis down): PostgreSQL alone then. Returns 0,
 * or BP_EUNAVAIL when no rate is known at all and none could be fetched (the
 * handler answers 503). Nothing is allocated for the caller. */
int booking_rate_get(bp_db *db, bp_kv *kv, booking_rate *out);

#endif
