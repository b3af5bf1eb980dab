/* The profile cache: packed bp.auth.User messages under
 * barberpro:auth:profile:<user id>. */
#include "profiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "keys.h"
#include "log.h"

static void profile_key(const char *id, char key[AUTH_KEY_SIZE])
{
    snprintf(key, AUTH_KEY_SIZE, "%s%s", AUTH_KEY_PROFILE, id);
}

Bp__Auth__User *auth_profile_cached(bp_call *call, const char *id)
{
    char key[AUTH_KEY_SIZE];
    profile_key(id, key);
    const char *argv[] = {"GET", key};
    redisReply *r = bp_kv_command(bp_call_worker(call)->kv, 2, argv, NULL);
    Bp__Auth__User *u = NULL;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        ProtobufCAllocator alloc;
        bp_arena_allocator(bp_call_arena(call), &alloc);
        u = bp__auth__user__unpack(&alloc, r->len, (const uint8_t *)r->str);
        /* An entry for someone else would be a bug; never serve it. */
        if (u != NULL && (u->id == NULL || strcmp(u->id, id) != 0))
            u = NULL;
    }
    freeReplyObject(r);
    return u;
}

void auth_profile_store(bp_kv *kv, const Bp__Auth__User *u)
{
    char key[AUTH_KEY_SIZE], ttl[16];
    uint8_t buf[1024];
    size_t n = bp__auth__user__get_packed_size(u);
    if (u->id == NULL || n > sizeof buf)
        return;
    bp__auth__user__pack(u, buf);
    profile_key(u->id, key);
    snprintf(ttl, sizeof ttl, "%d", AUTH_PROFILE_TTL_S);
    const char *argv[] = {"SET", key, (const char *)buf, "EX", ttl};
    const size_t lens[] = {3, strlen(key), n, 2, strlen(ttl)};
    redisReply *r = bp_kv_command(kv, 5, argv, lens);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        bp_log_warn("cannot cache a profile in Redis");
    freeReplyObject(r);
}

int auth_profile_drop(bp_kv *kv, const char *id)
{
    char key[AUTH_KEY_SIZE];
    profile_key(id, key);
    int rv = bp_kv_del(kv, key);
    return rv == BP_ENOTFOUND ? 0 : rv;
}
