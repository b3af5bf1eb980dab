/* Unit tests for services/auth/tokens.c: a token signed here verifies, and
 * every forgery a client could try (alg none, another algorithm, a changed
 * claim, an old token, another key) is refused. */
#include <criterion/criterion.h>

#include <jwt.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/auth/tokens.h"
#include "bp.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test-key";
#define KEYLEN (sizeof KEY - 1)
static const int64_t NOW = 1796400000; /* December 2026 */

static auth_claims claims(int64_t iat, int64_t exp)
{
    auth_claims c = {.iat = iat, .exp = exp};
    memcpy(c.sub, "0d0e0000-0000-4000-8000-000000000004", 37);
    memcpy(c.sid, "6f1c2a8e-3b7d-4c1e-9a55-0f2b8c7d9e10", 37);
    memcpy(c.role, "client", 7);
    return c;
}

static char *sign(const unsigned char *key, size_t keylen, const auth_claims *c)
{
    char *token = NULL;
    cr_assert_eq(auth_token_sign(key, keylen, c, &token), 0);
    cr_assert_not_null(token);
    return token;
}

/* A token made with libjwt directly, for forgeries tokens.c never makes. */
static char *forge(jwt_alg_t alg, const unsigned char *key, size_t keylen, const auth_claims *c)
{
    jwt_t *jwt;
    cr_assert_eq(jwt_new(&jwt), 0);
    jwt_add_grant(jwt, "sub", c->sub);
    jwt_add_grant(jwt, "sid", c->sid);
    jwt_add_grant(jwt, "role", c->role);
    jwt_add_grant_int(jwt, "iat", (long)c->iat);
    jwt_add_grant_int(jwt, "exp", (long)c->exp);
    cr_assert_eq(jwt_set_alg(jwt, alg, key, (int)keylen), 0);
    char *token = jwt_encode_str(jwt);
    jwt_free(jwt);
    cr_assert_not_null(token);
    return token;
}

static int verify(const char *token, int64_t now, auth_claims *out)
{
    return auth_token_verify(KEY, KEYLEN, token, now, out);
}

Test(auth_tokens, round_trip_keeps_every_claim)
{
    auth_claims in = claims(NOW, NOW + 3600), out;
    char *token = sign(KEY, KEYLEN, &in);

    cr_expect_eq(strncmp(token, "eyJ", 3), 0, "a compact JWS: %s", token);
    cr_expect_eq(verify(token, NOW + 10, &out), 0);
    cr_expect_str_eq(out.sub, in.sub);
    cr_expect_str_eq(out.sid, in.sid);
    cr_expect_str_eq(out.role, in.role);
    cr_expect_eq(out.iat, in.iat);
    cr_expect_eq(out.exp, in.exp);
    free(token);
}

Test(auth_tokens, alg_none_is_refused)
{
    auth_claims in = claims(NOW, NOW + 3600), out;
    char *token = forge(JWT_ALG_NONE, NULL, 0, &in);

    cr_expect_eq(verify(token, NOW, &out), BP_EINVAL, "accepted %s", token);
    cr_expect_str_empty(out.sub);
    free(token);
}

Test(auth_tokens, alg_none_header_on_a_signed_token_is_refused)
{
    /* A real token whose header was swapped for {"alg":"none"}. */
    auth_claims in = claims(NOW, NOW + 3600), out;
    char *token = sign(KEY, KEYLEN, &in);
    const char *payload = strchr(token, '.');
    char forged[AUTH_TOKEN_MAX];
    /* base64url of {"alg":"none","typ":"JWT"} */
    snprintf(forged, sizeof forged, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0%s", payload);
    cr_expect_eq(verify(forged, NOW, &out), BP_EINVAL);
    /* ... and without the signature. */
    char *last = strrchr(forged, '.');
    last[1] = '\0';
    cr_expect_eq(verify(forged, NOW, &out), BP_EINVAL);
    free(token);
}

Test(auth_tokens, other_algorithms_with_the_same_key_are_refused)
{
    auth_claims in = claims(NOW, NOW + 3600), out;
    jwt_alg_t algs[] = {JWT_ALG_HS384, JWT_ALG_HS512};
    for (size_t i = 0; i < BP_COUNTOF(algs); i++) {
        char *token = forge(algs[i], KEY, KEYLEN, &in);
        cr_expect_eq(verify(token, NOW, &out), BP_EINVAL, "%s accepted", jwt_alg_str(algs[i]));
        free(token);
    }
    /* The same claims with HS256 through libjwt are fine: the refusal above
     * is the algorithm's. */
    char *token = forge(JWT_ALG_HS256, KEY, KEYLEN, &in);
    cr_expect_eq(verify(token, NOW, &out), 0);
    free(token);
}

Test(auth_tokens, tampered_tokens_are_refused)
{
    auth_claims in = claims(NOW, NOW + 3600), out;
    auth_claims admin = in;
    memcpy(admin.role, "admin", 6);
    char *token = sign(KEY, KEYLEN, &in);
    char *other =
        forge(JWT_ALG_HS256, (const unsigned char *)"attacker-key-attacker-key-000000", 32, &admin);
    size_t n = strlen(token);
    char copy[AUTH_TOKEN_MAX];

    /* A changed character of the signature. */
    memcpy(copy, token, n + 1);
    copy[n - 2] = copy[n - 2] == 'A' ? 'B' : 'A';
    cr_expect_eq(verify(copy, NOW, &out), BP_EINVAL);

    /* The payload of another token (role admin) under our signature. */
    const char *p1 = strchr(token, '.'), *s1 = strrchr(token, '.');
    const char *p2 = strchr(other, '.'), *s2 = strrchr(other, '.');
    snprintf(copy, sizeof copy, "%.*s%.*s%s", (int)(p1 - token), token, (int)(s2 - p2), p2, s1);
    cr_expect_eq(verify(copy, NOW, &out), BP_EINVAL);

    /* No signature, a truncated token, garbage. */
    snprintf(copy, sizeof copy, "%.*s.", (int)(s1 - token), token);
    cr_expect_eq(verify(copy, NOW, &out), BP_EINVAL);
    snprintf(copy, sizeof copy, "%.*s", (int)(n / 2), token);
    cr_expect_eq(verify(copy, NOW, &out), BP_EINVAL);
    cr_expect_eq(verify("not.a.token", NOW, &out), BP_EINVAL);
    cr_expect_eq(verify("", NOW, &out), BP_EINVAL);
    cr_expect_eq(verify(NULL, NOW, &out), BP_EINVAL);
    free(token);
    free(other);
}

Test(auth_tokens, expired_tokens_are_refused)
{
    auth_claims in = claims(NOW - 7200, NOW - 3600), out;
    char *token = sign(KEY, KEYLEN, &in);
    cr_expect_eq(verify(token, NOW, &out), BP_EINVAL);
    /* Valid until the second before exp. */
    cr_expect_eq(verify(token, NOW - 3601, &out), 0);
    cr_expect_eq(verify(token, NOW - 3600, &out), BP_EINVAL);
    free(token);
}

Test(auth_tokens, tokens_from_the_future_are_refused)
{
    auth_claims in = claims(NOW + 3600, NOW + 7200), out;
    char *token = sign(KEY, KEYLEN, &in);
    cr_expect_eq(verify(token, NOW, &out), BP_EINVAL);
    free(token);
}

Test(auth_tokens, wrong_secret_is_refused)
{
    static const unsigned char other[] = "another-secret-of-at-least-32-chars!";
    auth_claims in = claims(NOW, NOW + 3600), out;
    char *token = sign(other, sizeof other - 1, &in);
    cr_expect_eq(verify(token, NOW, &out), BP_EINVAL);
    /* A key that is a prefix of the right one is wrong too. */
    cr_expect_eq(auth_token_verify(KEY, KEYLEN - 1, token, NOW, &out), BP_EINVAL);
    free(token);
}

Test(auth_tokens, malformed_claims_are_refused)
{
    auth_claims in = claims(NOW, NOW + 3600), out;
    char *token;

    /* A sub that is not a UUID. */
    auth_claims bad = in;
    memcpy(bad.sub, "not-a-uuid", 11);
    token = forge(JWT_ALG_HS256, KEY, KEYLEN, &bad);
    cr_expect_eq(verify(token, NOW, &out), BP_EINVAL);
    free(token);

    /* A role that does not exist. */
    bad = in;
    memcpy(bad.role, "root", 5);
    token = forge(JWT_ALG_HS256, KEY, KEYLEN, &bad);
    cr_expect_eq(verify(token, NOW, &out), BP_EINVAL);
    free(token);

    /* No exp at all. */
    jwt_t *jwt;
    cr_assert_eq(jwt_new(&jwt), 0);
    jwt_add_grant(jwt, "sub", in.sub);
    jwt_add_grant(jwt, "sid", in.sid);
    jwt_add_grant(jwt, "role", in.role);
    jwt_add_grant_int(jwt, "iat", (long)NOW);
    jwt_set_alg(jwt, JWT_ALG_HS256, KEY, (int)KEYLEN);
    token = jwt_encode_str(jwt);
    jwt_free(jwt);
    cr_expect_eq(verify(token, NOW, &out), BP_EINVAL);
    free(token);

    /* Signing refuses claims it would not accept back. */
    cr_expect_eq(auth_token_sign(KEY, KEYLEN, &bad, &token), BP_EINVAL);
    cr_expect_null(token);
    bad = claims(NOW, NOW);
    cr_expect_eq(auth_token_sign(KEY, KEYLEN, &bad, &token), BP_EINVAL);
    cr_expect_eq(auth_token_sign(KEY, 0, &in, &token), BP_EINVAL);
}

Test(auth_tokens, oversized_tokens_are_refused_before_decoding)
{
    auth_claims out;
    char *big = malloc(AUTH_TOKEN_MAX + 2);
    cr_assert_not_null(big);
    memset(big, 'a', AUTH_TOKEN_MAX + 1);
    big[AUTH_TOKEN_MAX + 1] = '\0';
    cr_expect_eq(verify(big, NOW, &out), BP_EINVAL);
    free(big);
}
