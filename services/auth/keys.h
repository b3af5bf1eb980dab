/* Every Redis key the auth daemon uses, in one place. All live under the
 * daemon's prefix; no other service reads or writes them. Each name below
 * is followed by an id (a UUID) to make the key. */
#ifndef AUTH_KEYS_H
#define AUTH_KEYS_H

#define AUTH_KV_PREFIX "barberpro:auth:"

/* barberpro:auth:session:<session id> -> "<user id> <role>". Expires after
 * AUTH_SESSION_IDLE_S without use; each verified request renews it; logout
 * deletes it. */
#define AUTH_KEY_SESSION AUTH_KV_PREFIX "session:"

/* barberpro:auth:user-sessions:<user id> -> set of that user's session ids,
 * so that a password or role change (or an erasure) can end them all. Its
 * members may outlive their sessions; they are only ever deleted. */
#define AUTH_KEY_USER_SESSIONS AUTH_KV_PREFIX "user-sessions:"

/* barberpro:auth:profile:<user id> -> the packed bp.auth.User the Me call
 * answers with (profiles.c). A cache: dropped on every profile, email or
 * role change and on erasure; expires after AUTH_PROFILE_TTL_S. */
#define AUTH_KEY_PROFILE AUTH_KV_PREFIX "profile:"

/* Longest key: the prefix, a name and a UUID. */
#define AUTH_KEY_SIZE 96

#endif
