/* A Redis cache of users' public profiles, so that the hottest call (Me)
 * is answered without PostgreSQL. PostgreSQL stays the truth: every change
 * to a profile drops the cached copy, and a miss reads the database. */
#ifndef AUTH_PROFILES_H
#define AUTH_PROFILES_H

#include "auth.pb-c.h"
#include "kv.h"
#include "rpc.h"

/* How long a cached profile lives. It also bounds how long a Me that read
 * the database just before a concurrent change could keep serving the old
 * profile it cached. */
#define AUTH_PROFILE_TTL_S 300

/* Returns the cached profile of user id, decoded into the call's arena, or
 * NULL on a miss, an undecodable entry or a Redis failure (the caller then
 * reads PostgreSQL). */
Bp__Auth__User *auth_profile_cached(bp_call *call, const char *id);

/* Caches u (a reply user with id set). Failures are only logged: the cache
 * is an optimisation. */
void auth_profile_store(bp_kv *kv, const Bp__Auth__User *u);

/* Drops the cached profile of user id; call it after any committed change
 * of the profile. Returns 0 or BP_EIO. */
int auth_profile_drop(bp_kv *kv, const char *id);

#endif
