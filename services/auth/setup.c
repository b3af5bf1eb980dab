/* Start-up of the auth daemon: its secrets and costs from the environment,
 * checked before the first call is served, and the operator's admin
 * account. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "accounts.h"
#include "auth.h"
#include "bp.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "passwords.h"

/* The shortest JWT_SECRET production accepts, in characters. */
#define SECRET_MIN 32

/* Pieces of the placeholders that example .env files ship with. */
static const char *const PLACEHOLDERS[] = {"changeme",       "change-me", "change_me",
                                           "change-in-prod", "example",   "your-secret",
                                           "your_secret"};

static bool secret_is_placeholder(const char *s)
{
    bool seen[256] = {false};
    size_t distinct = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (!seen[*p]) {
            seen[*p] = true;
            distinct++;
        }
    }
    if (distinct < 8)
        return true;
    for (size_t i = 0; i < BP_COUNTOF(PLACEHOLDERS); i++) {
        if (strcasestr(s, PLACEHOLDERS[i]) != NULL)
            return true;
    }
    return false;
}

static void load_secret(auth_ctx *ctx)
{
    const char *s = bp_config_str("JWT_SECRET", NULL);
    size_t n = s != NULL ? strlen(s) : 0;
    bool production = bp_config_is_production();

    if (n > sizeof ctx->secret)
        bp_config_fail("JWT_SECRET", "is longer than 512 bytes");
    if (production && n == 0)
        bp_config_fail("JWT_SECRET", "is required in production (at least 32 random characters, "
                                     "e.g. from `openssl rand -base64 48`)");
    if (production && n < SECRET_MIN)
        bp_config_fail("JWT_SECRET", "is too short for production: it needs at least 32 "
                                     "characters (e.g. from `openssl rand -base64 48`)");
    if (production && secret_is_placeholder(s))
        bp_config_fail("JWT_SECRET", "looks like a placeholder, not a random secret");

    if (n == 0) {
        /* Outside production a missing secret is made up, so that a local
         * run needs no setup; tokens then die with the process. */
        ctx->secret_len = 48;
        size_t got = 0;
        while (got < ctx->secret_len) {
            ssize_t r = getrandom(ctx->secret + got, ctx->secret_len - got, 0);
            if (r <= 0)
                bp_config_fail("JWT_SECRET", "is not set and no random secret can be made");
            got += (size_t)r;
        }
        bp_log_warn("JWT_SECRET is not set: using a random secret; tokens will not survive a "
                    "restart nor work across instances");
        return;
    }
    if (n < SECRET_MIN)
        bp_log_warn("JWT_SECRET is shorter than 32 characters; production refuses it");
    memcpy(ctx->secret, s, n);
    ctx->secret_len = n;
}

/* Creates or updates the admin named by BARBERPRO_ADMIN_EMAIL. */
static int ensure_admin(bp_db *db)
{
    const char *email = bp_config_str("BARBERPRO_ADMIN_EMAIL", NULL);
    const char *password = bp_config_str("BARBERPRO_ADMIN_PASSWORD", NULL);
    if (email == NULL && password == NULL)
        return 0;
    if (email == NULL || password == NULL) {
        bp_log_warn("BARBERPRO_ADMIN_EMAIL and BARBERPRO_ADMIN_PASSWORD go together; "
                    "no admin account was made");
        return 0;
    }

    bp_kv *kv = NULL;
    const char *redis = bp_config_str("REDIS_URL", NULL);
    if (redis != NULL && bp_kv_open(redis, &kv) != 0) {
        bp_log_warn("Redis is not reachable: a changed admin password leaves old sessions open");
        kv = NULL;
    }
    auth_account a = {
        .email = email,
        .name = "Administrador",
        .keep_name = true,
        .role = "admin",
        .password = password,
        .via = "env",
    };
    auth_account_result result;
    char id[37];
    const char *field, *why;
    int rv = auth_account_ensure(db, kv, &a, &result, id, &field, &why);
    bp_kv_close(kv);
    if (rv == BP_EINVAL) {
        char msg[256];
        snprintf(msg, sizeof msg, "is not acceptable: %s", why);
        bp_config_fail(field != NULL && strcmp(field, "email") == 0 ? "BARBERPRO_ADMIN_EMAIL"
                                                                    : "BARBERPRO_ADMIN_PASSWORD",
                       msg);
    }
    if (rv != 0) {
        bp_log_error("the admin account could not be made: %s", bp_strerror(rv));
        return rv;
    }
    bp_log_info("admin account %s %s", id,
                result == AUTH_ACCOUNT_CREATED   ? "created"
                : result == AUTH_ACCOUNT_UPDATED ? "updated"
                                                 : "unchanged");
    return 0;
}

#define TERMS_VERSION_DEFAULT "2026-01"

const char *auth_terms_version(void)
{
    return bp_config_str("TERMS_VERSION", TERMS_VERSION_DEFAULT);
}

/* A version is printable ASCII without spaces, so that it reads the same in
 * every log and export. */
static void check_terms_version(void)
{
    const char *v = auth_terms_version();
    size_t n = strlen(v);
    if (n == 0 || n > AUTH_TERMS_VERSION_MAX)
        bp_config_fail("TERMS_VERSION", "must be 1 to 64 characters");
    for (size_t i = 0; i < n; i++)
        if (v[i] <= ' ' || v[i] > '~')
            bp_config_fail("TERMS_VERSION", "must be printable ASCII without spaces");
}

void auth_teardown(auth_ctx *ctx)
{
    bp_client_close(ctx->booking);
    bp_client_close(ctx->payment);
    bp_client_close(ctx->notification);
    ctx->booking = ctx->payment = ctx->notification = NULL;
}

int auth_setup(auth_ctx *ctx, bp_db *db)
{
    load_secret(ctx);
    ctx->token_ttl_s = AUTH_TOKEN_TTL_S;
    check_terms_version();
    int rv = bp_client_dial("booking", &ctx->booking);
    if (rv == 0)
        rv = bp_client_dial("payment", &ctx->payment);
    if (rv == 0)
        rv = bp_client_dial("notification", &ctx->notification);
    if (rv != 0)
        return rv;

    long cost = bp_config_int("BCRYPT_SALT_ROUNDS", AUTH_BCRYPT_COST_DEFAULT, AUTH_BCRYPT_COST_MIN,
                              AUTH_BCRYPT_COST_MAX);
    if (bp_config_is_production() && cost < 10)
        bp_log_warn("BCRYPT_SALT_ROUNDS=%ld is weak for production; 12 is the default", cost);
    if (auth_passwords_init((int)cost) != 0) {
        bp_log_error("bcrypt is not available from libxcrypt");
        return BP_EIO;
    }
    return ensure_admin(db);
}
