/* Accounts over the bus: register, login, logout, me and profile changes.
 * Register and Login hash with bcrypt and run on the slow lane; the others
 * are cheap and run on the fast one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "input.h"
#include "auth.pb-c.h"
#include "bp.h"
#include "log.h"
#include "metrics.h"
#include "passwords.h"
#include "profiles.h"
#include "reply.h"
#include "sessions.h"
#include "store.h"
#include "tokens.h"
#include "validate.h"

static const char MSG_INVALID_CREDENTIALS[] = "Email o contraseña incorrectos.";

static void count_login(const char *result)
{
    char labels[64];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    bp_counter_add(
        bp_metrics_counter("barberpro_auth_logins_total", "Login attempts, by result", labels), 1);
}

static void count_registration(const char *role)
{
    char labels[64];
    snprintf(labels, sizeof labels, "role=\"%s\"", role);
    bp_counter_add(bp_metrics_counter("barberpro_registrations_total",
                                      "Accounts created by registration, by role", labels),
                   1);
}

/* Writes an audit entry outside any transaction; a failure is logged, not
 * answered, because the action itself already happened. */
static void audit(bp_call *call, const char *actor, const char *subject, const char *action,
                  json_t *details)
{
    auth_origin o = auth_origin_of(call);
    if (auth_store_audit(bp_call_worker(call)->db, actor, subject, action, &o, details) != 0)
        bp_log(BP_LOG_ERROR, o.request_id, "audit entry %s not written", action);
    json_decref(details);
}

/* Opens a session for u and fills the {user, token, expires_at} reply. */
static int issue_session(bp_call *call, const auth_user *u, Bp__Auth__SessionReply *resp)
{
    const auth_ctx *ctx = auth_ctx_of(call);
    auth_claims c = {0};
    char *token = NULL;

    bp_uuid(c.sid);
    memcpy(c.sub, u->id, sizeof c.sub);
    snprintf(c.role, sizeof c.role, "%s", u->role);
    c.iat = bp_now_ms() / 1000;
    c.exp = c.iat + ctx->token_ttl_s;

    int rv = auth_session_open(bp_call_worker(call)->kv, c.sid, u->id, u->role, ctx->token_ttl_s);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    rv = auth_token_sign(ctx->secret, ctx->secret_len, &c, &token);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    resp->token = bp_call_strdup(call, token);
    explicit_bzero(token, strlen(token));
    free(token);
    resp->expires_at = auth_reply_time(call, c.exp * 1000);
    resp->user = auth_reply_user(call, u);
    if (resp->token == NULL || resp->expires_at == NULL || resp->user == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    return 0;
}

int auth_handle_sign_up(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Bp__Auth__RegisterRequest *req = (const Bp__Auth__RegisterRequest *)reqm;
    Bp__Auth__SessionReply *resp = (Bp__Auth__SessionReply *)respm;
    bp_db *db = bp_call_worker(call)->db;
    auth_origin origin = auth_origin_of(call);
    auth_user u = {0}, existing;
    const char *why;
    int rv;

    if (bp_email_normalize(req->email, u.email, sizeof u.email, &why) != 0)
        return bp_call_fail_invalid(call, "email", why);
    if (auth_password_policy(req->password, u.email, &why) != 0)
        return bp_call_fail_invalid(call, "password", why);
    if (auth_name_normalize(req->name, u.name, sizeof u.name, &why) != 0)
        return bp_call_fail_invalid(call, "name", why);
    if (req->phone != NULL && req->phone[0] != '\0' &&
        bp_phone_normalize(req->phone, u.phone, sizeof u.phone, &why) != 0)
        return bp_call_fail_invalid(call, "phone", why);
    const char *role = req->role != NULL && req->role[0] != '\0' ? req->role : "client";
    if (!auth_role_self_service(role))
        return bp_call_fail_invalid(call, "role", "El rol debe ser client u owner.");
    if (!req->has_accept_terms || !req->accept_terms)
        return bp_call_fail_invalid(call, "accept_terms",
                                    "Tenés que aceptar los términos y condiciones.");
    snprintf(u.role, sizeof u.role, "%s", role);
    bool marketing = req->has_marketing_opt_in && req->marketing_opt_in;

    /* A cheap look first spares a bcrypt hash for a taken email; the unique
     * index below is what actually decides. */
    rv = auth_store_user_by_email(db, u.email, &existing);
    if (rv == 0)
        goto taken;
    if (rv != BP_ENOTFOUND)
        return bp_call_fail_internal(call, rv);

    rv = auth_password_hash(req->password, u.password_hash, sizeof u.password_hash);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    bp_uuid(u.id);

    if (bp_db_begin(db) != 0)
        return bp_call_fail_internal(call, BP_EIO);
    rv = auth_store_user_insert(db, &u, &u);
    if (rv == 0)
        rv = auth_store_consent_add(db, u.id, "terms", true, auth_terms_version(), &origin);
    if (rv == 0)
        rv = auth_store_consent_add(db, u.id, "marketing", marketing, NULL, &origin);
    if (rv == 0) {
        json_t *details = json_pack("{s:s, s:b}", "role", u.role, "marketing_opt_in", marketing);
        rv = auth_store_audit(db, u.id, u.id, "register", &origin, details);
        json_decref(details);
    }
    if (rv == 0)
        rv = bp_db_commit(db) == 0 ? 0 : BP_EIO;
    if (rv != 0) {
        bp_db_rollback(db);
        if (rv == BP_ECONFLICT)
            goto taken;
        return bp_call_fail_internal(call, rv);
    }

    count_registration(u.role);
    bp_log(BP_LOG_INFO, origin.request_id, "account %s registered as %s", u.id, u.role);
    rv = issue_session(call, &u, resp);
    if (rv != 0)
        return rv;
    bp_call_set_status(call, 201);
    return 0;

taken:
    return bp_call_fail(call, 409, "email_taken", "email", "Ya existe una cuenta con ese email.");
}

int auth_handle_login(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Bp__Auth__LoginRequest *req = (const Bp__Auth__LoginRequest *)reqm;
    Bp__Auth__SessionReply *resp = (Bp__Auth__SessionReply *)respm;
    bp_db *db = bp_call_worker(call)->db;
    char email[BP_EMAIL_SIZE];
    auth_user u;
    const char *why;
    bool found = false;

    if (req->email == NULL || req->email[0] == '\0')
        return bp_call_fail_invalid(call, "email", "Ingresá tu email.");
    if (req->password == NULL || req->password[0] == '\0')
        return bp_call_fail_invalid(call, "password", "Ingresá tu contraseña.");

    /* A malformed email is simply an account that does not exist: the
     * answer and its time are those of a wrong password. */
    if (bp_email_normalize(req->email, email, sizeof email, &why) == 0) {
        int rv = auth_store_user_by_email(db, email, &u);
        if (rv != 0 && rv != BP_ENOTFOUND)
            return bp_call_fail_internal(call, rv);
        found = rv == 0;
    }
    /* No stored password is longer than the policy allows, and bcrypt would
     * ignore what lies past 72 bytes: such a password never matches. */
    bool fits = strlen(req->password) <= AUTH_PASSWORD_MAX;
    bool ok = found ? auth_password_verify(req->password, u.password_hash)
                    : auth_password_burn(req->password);
    if (!ok || !fits) {
        count_login("invalid");
        audit(call, NULL, found ? u.id : NULL, "login_failed",
              json_pack("{s:s}", "reason", found ? "wrong_password" : "unknown_email"));
        return bp_call_fail(call, 401, "invalid_credentials", NULL, "%s", MSG_INVALID_CREDENTIALS);
    }

    /* BCRYPT_SALT_ROUNDS changed since this hash was made: store a new one
     * now that the password is at hand. */
    if (auth_password_needs_rehash(u.password_hash)) {
        char hash[AUTH_HASH_SIZE];
        if (auth_password_hash(req->password, hash, sizeof hash) != 0 ||
            auth_store_user_set_password(db, u.id, hash) != 0)
            bp_log(BP_LOG_WARN, bp_call_request_id(call), "rehash of %s failed", u.id);
    }

    int rv = issue_session(call, &u, resp);
    if (rv != 0)
        return rv;
    count_login("ok");
    audit(call, u.id, u.id, "login", NULL);
    return 0;
}

int auth_handle_logout(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    (void)reqm;
    (void)respm;
    const char *user_id = bp_call_user_id(call);
    const char *session_id = bp_call_session_id(call);
    /* A principal without a session (set by a caller, not from a token) has
     * nothing to end; answering 204 would pretend the token is dead. */
    if (!bp_uuid_valid(session_id))
        return bp_call_fail(call, 401, "unauthorized", NULL,
                            "Tu sesión no es válida o venció; iniciá sesión de nuevo.");
    int rv = auth_session_close(bp_call_worker(call)->kv, session_id, user_id);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    audit(call, user_id, user_id, "logout", NULL);
    bp_call_set_status(call, 204);
    return 0;
}

/* Loads the caller's account; a principal whose account is gone (erased)
 * is no longer signed in. */
static int load_caller(bp_call *call, auth_user *u)
{
    int rv = auth_store_user_by_id(bp_call_worker(call)->db, bp_call_user_id(call), u);
    if (rv == BP_ENOTFOUND)
        return bp_call_fail(call, 401, "unauthorized", NULL,
                            "Tu cuenta ya no existe; iniciá sesión de nuevo.");
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    return 0;
}

int auth_handle_me(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    (void)reqm;
    Bp__Auth__UserReply *resp = (Bp__Auth__UserReply *)respm;
    auth_user u;

    /* The hottest call: answered from the profile cache when it can be. */
    resp->user = auth_profile_cached(call, bp_call_user_id(call));
    if (resp->user != NULL)
        return 0;
    int rv = load_caller(call, &u);
    if (rv != 0)
        return rv;
    resp->user = auth_reply_user(call, &u);
    if (resp->user == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    auth_profile_store(bp_call_worker(call)->kv, resp->user);
    return 0;
}

int auth_handle_update_me(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Bp__Auth__UpdateMeRequest *req = (const Bp__Auth__UpdateMeRequest *)reqm;
    Bp__Auth__UserReply *resp = (Bp__Auth__UserReply *)respm;
    bp_db *db = bp_call_worker(call)->db;
    const char *user_id = bp_call_user_id(call);
    auth_origin origin = auth_origin_of(call);
    char name[AUTH_NAME_SIZE], phone[BP_PHONE_SIZE];
    const char *new_name = NULL, *new_phone = NULL, *new_locale = NULL, *why;
    auth_user u;
    int rv;

    if (req->name != NULL) {
        if (auth_name_normalize(req->name, name, sizeof name, &why) != 0)
            return bp_call_fail_invalid(call, "name", why);
        new_name = name;
    }
    if (req->phone != NULL) {
        /* An empty phone removes it. */
        if (req->phone[0] == '\0')
            phone[0] = '\0';
        else if (bp_phone_normalize(req->phone, phone, sizeof phone, &why) != 0)
            return bp_call_fail_invalid(call, "phone", why);
        new_phone = phone;
    }
    if (req->locale != NULL) {
        if (!auth_locale_valid(req->locale))
            return bp_call_fail_invalid(call, "locale", "El idioma debe ser es-AR, en-US o pt-BR.");
        new_locale = req->locale;
    }
    if (new_name == NULL && new_phone == NULL && new_locale == NULL)
        return auth_handle_me(call, reqm, respm);

    json_t *fields = json_array();
    if (new_name != NULL)
        json_array_append_new(fields, json_string("name"));
    if (new_phone != NULL)
        json_array_append_new(fields, json_string("phone"));
    if (new_locale != NULL)
        json_array_append_new(fields, json_string("locale"));
    json_t *details = json_pack("{s:o}", "fields", fields);

    if (bp_db_begin(db) != 0) {
        json_decref(details);
        return bp_call_fail_internal(call, BP_EIO);
    }
    rv = auth_store_user_update_profile(db, user_id, new_name, new_phone, new_locale, &u);
    if (rv == 0)
        rv = auth_store_audit(db, user_id, user_id, "profile_change", &origin, details);
    if (rv == 0)
        rv = bp_db_commit(db) == 0 ? 0 : BP_EIO;
    json_decref(details);
    if (rv != 0) {
        bp_db_rollback(db);
        if (rv == BP_ENOTFOUND)
            return bp_call_fail(call, 401, "unauthorized", NULL,
                                "Tu cuenta ya no existe; iniciá sesión de nuevo.");
        return bp_call_fail_internal(call, rv);
    }
    resp->user = auth_reply_user(call, &u);
    if (resp->user == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    /* Write through, so the next Me shows the change at once. */
    auth_profile_store(bp_call_worker(call)->kv, resp->user);
    return 0;
}
