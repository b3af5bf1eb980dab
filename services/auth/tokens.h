/* Access tokens: JWT signed with HMAC-SHA256 (libjwt). A token names the
 * user (sub), the session (sid) and the role, with iat and exp in Unix
 * seconds. The session it names must also be alive in Redis (sessions.h). */
#ifndef AUTH_TOKENS_H
#define AUTH_TOKENS_H

#include <stddef.h>
#include <stdint.h>

/* Longest token accepted for verification, in bytes. */
#define AUTH_TOKEN_MAX 2048

typedef struct {
    char sub[37];  /* user id (UUID) */
    char sid[37];  /* session id (UUID) */
    char role[16]; /* client, owner, provider or admin */
    int64_t iat;   /* issued at, Unix seconds */
    int64_t exp;   /* expires at, Unix seconds */
} auth_claims;

/* Signs claims with HS256 and key. On 0, *out is the compact token, which
 * the caller frees with free(). Returns BP_EINVAL for bad claims or an
 * empty key, BP_ENOMEM otherwise. */
int auth_token_sign(const unsigned char *key, size_t keylen, const auth_claims *claims, char **out);

/* Checks token against key at time now_s: it must be HS256 (alg none and
 * every other algorithm are refused), correctly signed, unexpired, and carry
 * well-formed sub, sid, role, iat and exp. Returns 0 with *out filled, or
 * BP_EINVAL. Nothing is kept. */
int auth_token_verify(const unsigned char *key, size_t keylen, const char *token, int64_t now_s,
                      auth_claims *out);

#endif
