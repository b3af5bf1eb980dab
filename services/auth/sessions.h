/* Sessions in Redis: a token is accepted only while its session lives, so
 * that logout (or a password change) ends it at once. */
#ifndef AUTH_SESSIONS_H
#define AUTH_SESSIONS_H

#include <stddef.h>

#include "kv.h"

/* A session ends after this long without a verified request. */
#define AUTH_SESSION_IDLE_S (24 * 3600)

/* Records session sid of user_id with role, alive for AUTH_SESSION_IDLE_S,
 * and adds it to the user's set (kept max_life_s, the token lifetime).
 * Returns 0 or BP_EIO. */
int auth_session_open(bp_kv *kv, const char *sid, const char *user_id, const char *role,
                      int max_life_s);

/* Looks session sid up and renews its idle expiry in the same round trip.
 * On 0 writes its user id into user_id (37 bytes) and role into role
 * (role_len bytes). Returns BP_ENOTFOUND for an ended or unknown session,
 * BP_EIO when Redis cannot answer. */
int auth_session_touch(bp_kv *kv, const char *sid, char user_id[37], char *role, size_t role_len);

/* Ends session sid of user_id (user_id may be NULL). Returns 0 or BP_EIO;
 * ending a session that does not exist is not an error. */
int auth_session_close(bp_kv *kv, const char *sid, const char *user_id);

/* Ends every session of user_id. Returns 0 or BP_EIO. */
int auth_sessions_close_user(bp_kv *kv, const char *user_id);

#endif
