/* Redis caches of packed messages, one hash per shop or provider, guarded
 * by a generation counter so that a fill racing with a drop is discarded. */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"

/* Largest packed message kept in the cache; bigger answers are not cached. */
#define CACHE_MAX_VALUE (512u * 1024u)

/* The generation keys outlive any entry they guard. */
#define CACHE_GEN_TTL_S "86400"

typedef struct {
    const char *name;
    int ttl_s;
} cache_def;

static const cache_def defs[] = {
    [BOOKING_CACHE_SERVICES] = {"services", BOOKING_CACHE_SERVICES_TTL_S},
    [BOOKING_CACHE_PROVIDERS] = {"providers", BOOKING_CACHE_PROVIDERS_TTL_S},
    [BOOKING_CACHE_SCHEDULE] = {"schedule", BOOKING_CACHE_SCHEDULE_TTL_S},
    [BOOKING_CACHE_AVAIL] = {"avail", BOOKING_CACHE_AVAIL_TTL_S},
};

/* Stores the field only when the generation is still the one read before
 * the fill; the hash expires ttl after its first field (NX), so no entry is
 * older than its lifetime. */
static const char PUT_SCRIPT[] = "local g = redis.call('GET', KEYS[2]) or '' "
                                 "if g ~= ARGV[1] then return 0 end "
                                 "redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) "
                                 "redis.call('EXPIRE', KEYS[1], ARGV[4], 'NX') "
                                 "return 1";

/* A drop in one round trip (it runs after every booking). The generation
 * first: a fill that read the old one can no longer store, and one that
 * reads the new one read the committed change. */
static const char DROP_SCRIPT[] = "redis.call('INCR', KEYS[2]) "
                                  "redis.call('EXPIRE', KEYS[2], ARGV[1]) "
                                  "redis.call('DEL', KEYS[1]) "
                                  "return 1";

static void keys_of(booking_cache_kind kind, const char *id, char key[BOOKING_KEY_SIZE],
                    char gen[BOOKING_KEY_SIZE])
{
    snprintf(key, BOOKING_KEY_SIZE, "%s%s:%s", BOOKING_KV_PREFIX, defs[kind].name, id);
    snprintf(gen, BOOKING_KEY_SIZE, "%s%s-gen:%s", BOOKING_KV_PREFIX, defs[kind].name, id);
}

static void count(booking_cache_kind kind, const char *result)
{
    char labels[64];
    snprintf(labels, sizeof labels, "cache=\"%s\",result=\"%s\"", defs[kind].name, result);
    bp_counter_add(bp_metrics_counter("barberpro_booking_cache_lookups_total",
                                      "Cache lookups of the booking daemon, by cache and result",
                                      labels),
                   1);
}

ProtobufCMessage *booking_cache_get(bp_call *call, booking_cache_kind kind, const char *id,
                                    const char *field, const ProtobufCMessageDescriptor *d,
                                    booking_cache_entry *e)
{
    char key[BOOKING_KEY_SIZE], gen[BOOKING_KEY_SIZE];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->field, sizeof e->field, "%s", field);
    keys_of(kind, id, key, gen);

    /* A hit costs one round trip; a miss also reads the generation that a
     * later fill must still find. */
    bp_kv *kv = bp_call_worker(call)->kv;
    const char *hget[] = {"HGET", key, field};
    const char *get[] = {"GET", gen};
    redisReply *r = bp_kv_command(kv, 3, hget, NULL);
    ProtobufCMessage *msg = NULL;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        ProtobufCAllocator alloc;
        bp_arena_allocator(bp_call_arena(call), &alloc);
        msg = protobuf_c_message_unpack(d, &alloc, r->len, (const uint8_t *)r->str);
    }
    freeReplyObject(r);
    if (msg != NULL) {
        count(kind, "hit");
        return msg;
    }
    count(kind, "miss");
    r = bp_kv_command(kv, 2, get, NULL);
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        snprintf(e->generation, sizeof e->generation, "%.*s", (int)r->len, r->str);
    freeReplyObject(r);
    return NULL;
}

void booking_cache_put(bp_call *call, const booking_cache_entry *e, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > CACHE_MAX_VALUE)
        return;
    uint8_t *buf = bp_arena_alloc(bp_call_arena(call), n + 1);
    if (buf == NULL)
        return;
    protobuf_c_message_pack(msg, buf);

    char key[BOOKING_KEY_SIZE], gen[BOOKING_KEY_SIZE], ttl[16];
    keys_of(e->kind, e->id, key, gen);
    snprintf(ttl, sizeof ttl, "%d", defs[e->kind].ttl_s);
    const char *argv[] = {"EVAL",   PUT_SCRIPT,        "2", key, gen, e->generation,
                          e->field, (const char *)buf, ttl};
    size_t lens[BP_COUNTOF(argv)];
    for (size_t i = 0; i < BP_COUNTOF(argv); i++)
        lens[i] = i == 7 ? n : strlen(argv[i]);
    redisReply *r = bp_kv_command(bp_call_worker(call)->kv, (int)BP_COUNTOF(argv), argv, lens);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "cannot fill the %s cache: %s",
               defs[e->kind].name, r != NULL ? r->str : "Redis unreachable");
    freeReplyObject(r);
}

int booking_cache_drop(bp_kv *kv, booking_cache_kind kind, const char *id)
{
    char key[BOOKING_KEY_SIZE], gen[BOOKING_KEY_SIZE];
    keys_of(kind, id, key, gen);
    const char *argv[] = {"EVAL", DROP_SCRIPT, "2", key, gen, CACHE_GEN_TTL_S};
    redisReply *r = bp_kv_command(kv, (int)BP_COUNTOF(argv), argv, NULL);
    int rv = r == NULL || r->type == REDIS_REPLY_ERROR ? BP_EIO : 0;
    freeReplyObject(r);
    if (rv != 0)
        bp_log_warn("cannot drop the %s cache of %s", defs[kind].name, id);
    return rv;
}

int booking_cache_drop_shop(bp_db *db, bp_kv *kv, const char *shop_id)
{
    const char *params[] = {shop_id};
    PGresult *res =
        shop_id != NULL
            ? bp_db_query(db, "SELECT id FROM booking.providers WHERE shop_id = $1", 1, params)
            : bp_db_query(db, "SELECT id FROM booking.providers", 0, NULL);
    int rv = 0;
    if (!bp_db_ok(res, NULL)) {
        rv = BP_EIO;
    } else {
        for (int i = 0; i < PQntuples(res); i++)
            if (booking_cache_drop(kv, BOOKING_CACHE_AVAIL, PQgetvalue(res, i, 0)) != 0)
                rv = BP_EIO;
    }
    PQclear(res);
    return rv;
}
