/* FindUser: the account behind an email, for other daemons on the bus (the
 * booking daemon links a provider to it). Internal only: no gateway route
 * reaches it, so it answers no more than an id and a role. */
#include "auth.h"
#include "input.h"
#include "auth.pb-c.h"
#include "bp.h"
#include "reply.h"
#include "store.h"
#include "validate.h"

int auth_handle_find_user(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Bp__Auth__FindUserRequest *req = (const Bp__Auth__FindUserRequest *)reqm;
    Bp__Auth__FoundUser *resp = (Bp__Auth__FoundUser *)respm;
    char email[BP_EMAIL_SIZE];
    const char *why;
    auth_user u;

    if (bp_email_normalize(req->email, email, sizeof email, &why) != 0)
        return auth_fail_invalid(call, "email", why);
    int rv = auth_store_user_by_email(bp_call_worker(call)->db, email, &u);
    if (rv == BP_ENOTFOUND)
        return bp_call_fail(call, 404, "not_found", NULL, "No hay ninguna cuenta con ese email.");
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    resp->user_id = bp_call_strdup(call, u.id);
    resp->role = bp_call_strdup(call, u.role);
    if (resp->user_id == NULL || resp->role == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    return 0;
}
