/* The booking daemon's Redis caches of packed protobuf messages (keys.h):
 * read-through with hit/miss metrics, and drops that no fill racing with
 * them can undo. */
#ifndef BOOKING_CACHE_H
#define BOOKING_CACHE_H

#include <protobuf-c/protobuf-c.h>

#include "db.h"
#include "kv.h"
#include "rpc.h"

typedef enum {
    BOOKING_CACHE_SERVICES,  /* id: shop id */
    BOOKING_CACHE_PROVIDERS, /* id: shop id */
    BOOKING_CACHE_SCHEDULE,  /* id: provider id */
    BOOKING_CACHE_AVAIL,     /* id: provider id */
} booking_cache_kind;

/* A lookup in progress: what booking_cache_get saw, for booking_cache_put. */
typedef struct {
    booking_cache_kind kind;
    char id[37];
    char field[96];
    char generation[24]; /* the drop counter when the lookup ran ("" none) */
} booking_cache_entry;

/* Looks up field of kind's hash for id. On a hit returns the message,
 * unpacked in the call's arena (never freed by the caller); on a miss (or
 * when Redis is down) returns NULL and fills e for a later
 * booking_cache_put. Counts hits and misses. */
ProtobufCMessage *booking_cache_get(bp_call *call, booking_cache_kind kind, const char *id,
                                    const char *field, const ProtobufCMessageDescriptor *d,
                                    booking_cache_entry *e);

/* Stores msg for the entry of a miss, unless a drop happened since the
 * lookup. Failures are logged, never answered: a cache is optional. */
void booking_cache_put(bp_call *call, const booking_cache_entry *e, const ProtobufCMessage *msg);

/* Drops every variant of kind for id (after the change committed). Returns
 * 0 or BP_EIO (logged). */
int booking_cache_drop(bp_kv *kv, booking_cache_kind kind, const char *id);

/* Drops the availability of every provider of shop_id (a change of the
 * shop's zone, slot step, services or open days), or of every provider
 * when shop_id is NULL (a new holiday). Returns 0 or BP_EIO. */
int booking_cache_drop_shop(bp_db *db, bp_kv *kv, const char *shop_id);

#endif
