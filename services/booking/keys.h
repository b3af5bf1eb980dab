/* Every Redis key the booking daemon uses, in one place. All live under the
 * daemon's prefix; no other service reads or writes them. Redis only holds
 * caches here: PostgreSQL is the truth, and every write that changes what a
 * cache holds drops it (cache.c). */
#ifndef BOOKING_KEYS_H
#define BOOKING_KEYS_H

#define BOOKING_KV_PREFIX "barberpro:booking:"

/* Each cache is a hash per owner id (a shop or a provider), one field per
 * variant, next to a generation counter "<name>-gen:<id>" that a drop
 * increments so that a fill computed before the drop is never stored:
 *   services:<shop id>       field "all:<quarter hour>"       1 h
 *   providers:<shop id>      field "all" or a service id      30 min
 *   schedule:<provider id>   field "weekly"                   15 min
 *   avail:<provider id>      field "<service id>:<date>:<days>" 15 min
 * The lifetimes are the seed document's. */
#define BOOKING_CACHE_SERVICES_TTL_S  3600
#define BOOKING_CACHE_PROVIDERS_TTL_S 1800
#define BOOKING_CACHE_SCHEDULE_TTL_S  900
#define BOOKING_CACHE_AVAIL_TTL_S     900

/* barberpro:booking:rate:USD:ARS -> the last rate fetched (rates.c), 1 h;
 * ...:lock -> the token of the one caller fetching it now (a few seconds). */
#define BOOKING_KEY_RATE      BOOKING_KV_PREFIX "rate:USD:ARS"
#define BOOKING_KEY_RATE_LOCK BOOKING_KEY_RATE ":lock"

/* Longest key: the prefix, a name, "-gen" and a UUID. */
#define BOOKING_KEY_SIZE 112

#endif
