/* JWT HS256 with libjwt 1.10. That version verifies the signature of what it
 * decodes but not the algorithm the token chose, nor its expiry: both are
 * checked here. */
#include "tokens.h"

#include <errno.h>
#include <jwt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "validate.h"

/* Tolerated clock difference between instances for iat, in seconds. */
#define CLOCK_SKEW_S 300

int auth_token_sign(const unsigned char *key, size_t keylen, const auth_claims *claims, char **out)
{
    jwt_t *jwt = NULL;
    int rv = BP_ENOMEM;

    *out = NULL;
    if (key == NULL || keylen == 0 || keylen > INT_MAX || !bp_uuid_valid(claims->sub) ||
        !bp_uuid_valid(claims->sid) || !auth_role_valid(claims->role) || claims->exp <= claims->iat)
        return BP_EINVAL;
    if (jwt_new(&jwt) != 0)
        return BP_ENOMEM;
    if (jwt_add_grant(jwt, "sub", claims->sub) != 0 ||
        jwt_add_grant(jwt, "sid", claims->sid) != 0 ||
        jwt_add_grant(jwt, "role", claims->role) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)claims->iat) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)claims->exp) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)keylen) != 0)
        goto out;
    *out = jwt_encode_str(jwt);
    if (*out != NULL)
        rv = 0;
out:
    jwt_free(jwt);
    return rv;
}

/* Copies the string claim name into out; false when missing, not a string
 * or too long. */
static bool copy_grant(jwt_t *jwt, const char *name, char *out, size_t len)
{
    const char *v = jwt_get_grant(jwt, name);
    if (v == NULL)
        return false;
    size_t n = strlen(v);
    if (n >= len)
        return false;
    memcpy(out, v, n + 1);
    return true;
}

static bool int_grant(jwt_t *jwt, const char *name, int64_t *out)
{
    errno = 0;
    long v = jwt_get_grant_int(jwt, name);
    if (errno != 0)
        return false;
    *out = v;
    return true;
}

int auth_token_verify(const unsigned char *key, size_t keylen, const char *token, int64_t now_s,
                      auth_claims *out)
{
    jwt_t *jwt = NULL;
    int rv = BP_EINVAL;

    memset(out, 0, sizeof *out);
    if (key == NULL || keylen == 0 || keylen > INT_MAX || token == NULL || token[0] == '\0' ||
        strnlen(token, AUTH_TOKEN_MAX + 1) > AUTH_TOKEN_MAX)
        return BP_EINVAL;
    if (jwt_decode(&jwt, token, key, (int)keylen) != 0 || jwt == NULL)
        return BP_EINVAL;
    /* Only the algorithm we sign with: not none, and not another HMAC the
     * same key would also satisfy. */
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        goto out;
    if (!copy_grant(jwt, "sub", out->sub, sizeof out->sub) ||
        !copy_grant(jwt, "sid", out->sid, sizeof out->sid) ||
        !copy_grant(jwt, "role", out->role, sizeof out->role) ||
        !int_grant(jwt, "iat", &out->iat) || !int_grant(jwt, "exp", &out->exp))
        goto out;
    if (!bp_uuid_valid(out->sub) || !bp_uuid_valid(out->sid) || !auth_role_valid(out->role))
        goto out;
    if (out->exp <= now_s || out->iat > now_s + CLOCK_SKEW_S || out->exp <= out->iat)
        goto out;
    rv = 0;
out:
    jwt_free(jwt);
    if (rv != 0)
        memset(out, 0, sizeof *out);
    return rv;
}
