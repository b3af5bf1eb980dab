/* Who is calling: a bearer token is accepted when its HS256 signature,
 * algorithm and expiry check out AND its session is still alive in Redis
 * (which renews the session's idle expiry). Both the server's token hook
 * and the Authenticate call, which the gateway uses for other services'
 * routes, come through here. */
#include <string.h>

#include "auth.h"
#include "auth.pb-c.h"
#include "bp.h"
#include "reply.h"
#include "sessions.h"
#include "tokens.h"

static const char MSG_UNAUTHORIZED[] = "Tu sesión no es válida o venció; iniciá sesión de nuevo.";

/* Methods that need a session: for every other one a bad token is ignored
 * and the call goes on anonymous, so that a stale token left in a client
 * does not block signing in again. */
static const char *const SESSION_METHODS[] = {"Me", "Logout", "UpdateMe", "PutConsents"};

static bool needs_session(const char *method)
{
    for (size_t i = 0; i < BP_COUNTOF(SESSION_METHODS); i++) {
        if (method != NULL && strcmp(method, SESSION_METHODS[i]) == 0)
            return true;
    }
    return false;
}

/* Returns 0 with *c filled (the role as the session holds it), BP_EINVAL
 * for a token or session that is not valid, BP_EIO when Redis is down. */
static int verify(bp_call *call, const char *token, auth_claims *c)
{
    const auth_ctx *ctx = auth_ctx_of(call);
    bp_kv *kv = bp_call_worker(call)->kv;
    char user_id[37], role[sizeof c->role];

    if (auth_token_verify(ctx->secret, ctx->secret_len, token, bp_now_ms() / 1000, c) != 0)
        return BP_EINVAL;
    int rv = auth_session_touch(kv, c->sid, user_id, role, sizeof role);
    if (rv == BP_ENOTFOUND)
        return BP_EINVAL;
    if (rv != 0)
        return BP_EIO;
    if (strcmp(user_id, c->sub) != 0)
        return BP_EINVAL;
    memcpy(c->role, role, sizeof role);
    return 0;
}

int auth_authenticate(bp_call *call, const char *token)
{
    auth_claims c;
    int rv = verify(call, token, &c);
    if (rv == 0) {
        bp_call_set_principal(call, c.sub, c.role, c.sid);
        return 0;
    }
    if (!needs_session(bp_call_method(call)))
        return 0;
    if (rv == BP_EIO)
        return bp_call_fail_internal(call, rv);
    return bp_call_fail(call, 401, "unauthorized", NULL, "%s", MSG_UNAUTHORIZED);
}

int auth_handle_authenticate(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Bp__Auth__AuthenticateRequest *req = (const Bp__Auth__AuthenticateRequest *)reqm;
    Bp__Auth__AuthenticateReply *resp = (Bp__Auth__AuthenticateReply *)respm;
    const char *token =
        req->token != NULL && req->token[0] != '\0' ? req->token : bp_call_token(call);
    auth_claims c;

    if (token[0] == '\0')
        return bp_call_fail(call, 401, "unauthorized", NULL, "Tenés que iniciar sesión.");
    int rv = verify(call, token, &c);
    if (rv == BP_EIO)
        return bp_call_fail_internal(call, rv);
    if (rv != 0)
        return bp_call_fail(call, 401, "unauthorized", NULL, "%s", MSG_UNAUTHORIZED);
    resp->user_id = bp_call_strdup(call, c.sub);
    resp->role = bp_call_strdup(call, c.role);
    resp->session_id = bp_call_strdup(call, c.sid);
    if (resp->user_id == NULL || resp->role == NULL || resp->session_id == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    return 0;
}
