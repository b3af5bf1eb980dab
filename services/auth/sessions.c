/* Sessions in Redis under the keys of keys.h. Redis holds nothing else of
 * ours: losing it signs everyone out and loses no data. */
#include "sessions.h"

#include <stdio.h>
#include <string.h>

#include "bp.h"
#include "keys.h"

/* Writes the key name + id into out (AUTH_KEY_SIZE bytes). */
static int key_of(char *out, const char *name, const char *id)
{
    if (id == NULL || !bp_uuid_valid(id))
        return BP_EINVAL;
    int n = snprintf(out, AUTH_KEY_SIZE, "%s%s", name, id);
    return n > 0 && n < AUTH_KEY_SIZE ? 0 : BP_EINVAL;
}

/* Runs a command whose reply only matters for being an error or not. */
static int run(bp_kv *kv, int argc, const char **argv)
{
    redisReply *r = bp_kv_command(kv, argc, argv, NULL);
    if (r == NULL)
        return BP_EIO;
    int rv = r->type == REDIS_REPLY_ERROR ? BP_EIO : 0;
    freeReplyObject(r);
    return rv;
}

int auth_session_open(bp_kv *kv, const char *sid, const char *user_id, const char *role,
                      int max_life_s)
{
    char key[AUTH_KEY_SIZE], set[AUTH_KEY_SIZE], value[64], ttl[16];

    if (key_of(key, AUTH_KEY_SESSION, sid) != 0 ||
        key_of(set, AUTH_KEY_USER_SESSIONS, user_id) != 0)
        return BP_EINVAL;
    int n = snprintf(value, sizeof value, "%s %s", user_id, role);
    if (n < 0 || (size_t)n >= sizeof value)
        return BP_EINVAL;
    snprintf(ttl, sizeof ttl, "%d", max_life_s);

    int rv = bp_kv_set_ex(kv, key, value, AUTH_SESSION_IDLE_S);
    if (rv != 0)
        return BP_EIO;
    const char *sadd[] = {"SADD", set, sid};
    const char *expire[] = {"EXPIRE", set, ttl};
    if (run(kv, 3, sadd) != 0 || run(kv, 3, expire) != 0)
        return BP_EIO;
    return 0;
}

int auth_session_touch(bp_kv *kv, const char *sid, char user_id[37], char *role, size_t role_len)
{
    char key[AUTH_KEY_SIZE], value[64];

    user_id[0] = '\0';
    if (role_len > 0)
        role[0] = '\0';
    if (key_of(key, AUTH_KEY_SESSION, sid) != 0)
        return BP_ENOTFOUND;
    int rv = bp_kv_get(kv, key, value, sizeof value, AUTH_SESSION_IDLE_S);
    if (rv == BP_ENOTFOUND || rv == BP_ETOOBIG)
        return BP_ENOTFOUND; /* gone, or not a value we wrote */
    if (rv != 0)
        return BP_EIO;

    const char *sp = strchr(value, ' ');
    if (sp == NULL || sp - value != 36 || strlen(sp + 1) >= role_len)
        return BP_ENOTFOUND; /* not a value we wrote */
    memcpy(user_id, value, 36);
    user_id[36] = '\0';
    memcpy(role, sp + 1, strlen(sp + 1) + 1);
    return 0;
}

int auth_session_close(bp_kv *kv, const char *sid, const char *user_id)
{
    char key[AUTH_KEY_SIZE], set[AUTH_KEY_SIZE];

    if (key_of(key, AUTH_KEY_SESSION, sid) != 0)
        return 0;
    int rv = bp_kv_del(kv, key);
    if (rv != 0 && rv != BP_ENOTFOUND)
        return BP_EIO;
    if (user_id != NULL && key_of(set, AUTH_KEY_USER_SESSIONS, user_id) == 0) {
        const char *srem[] = {"SREM", set, sid};
        (void)run(kv, 3, srem); /* a stale member is harmless */
    }
    return 0;
}

int auth_sessions_close_user(bp_kv *kv, const char *user_id)
{
    char set[AUTH_KEY_SIZE], key[AUTH_KEY_SIZE];
    int rv = 0;

    if (key_of(set, AUTH_KEY_USER_SESSIONS, user_id) != 0)
        return BP_EINVAL;
    const char *smembers[] = {"SMEMBERS", set};
    redisReply *r = bp_kv_command(kv, 2, smembers, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r != NULL)
            freeReplyObject(r);
        return BP_EIO;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *m = r->element[i];
        if (m->type != REDIS_REPLY_STRING || key_of(key, AUTH_KEY_SESSION, m->str) != 0)
            continue;
        int d = bp_kv_del(kv, key);
        if (d != 0 && d != BP_ENOTFOUND)
            rv = BP_EIO;
    }
    freeReplyObject(r);
    /* Keep the set when a deletion failed, so that a retry finds them. */
    if (rv == 0) {
        int d = bp_kv_del(kv, set);
        if (d != 0 && d != BP_ENOTFOUND)
            rv = BP_EIO;
    }
    return rv;
}
