/* FindUser: a live account by email or by id, for other daemons on the bus
 * (the booking daemon links a provider by email; the payment daemon names
 * the payer by id; the notification daemon finds where to write). Internal
 * only: no gateway route reaches it, so it may answer the contact details
 * (email, name, phone) and the consents that decide the channels. */
#include <stdbool.h>

#include "auth.h"
#include "input.h"
#include "auth.pb-c.h"
#include "bp.h"
#include "reply.h"
#include "store.h"
#include "validate.h"

static bool given(const char *s)
{
    return s != NULL && *s != '\0';
}

/* Looks up the one key req carries into *u. Returns 0, BP_ENOTFOUND,
 * BP_EIO, or BP_EREPLIED with the 400 already answered. */
static int lookup(bp_call *call, const Bp__Auth__FindUserRequest *req, auth_user *u)
{
    bp_db *db = bp_call_worker(call)->db;
    if (given(req->email) && given(req->user_id))
        return bp_call_fail(call, 400, "invalid_request", "user_id",
                            "Mandá email o user_id, no los dos.");
    if (given(req->user_id)) {
        if (!bp_uuid_valid(req->user_id))
            return bp_call_fail_invalid(call, "user_id", "El campo user_id no es un id válido.");
        return auth_store_user_by_id(db, req->user_id, u);
    }
    if (!given(req->email))
        return bp_call_fail(call, 400, "invalid_request", "email",
                            "Falta el campo email (o user_id).");
    char email[BP_EMAIL_SIZE];
    const char *why;
    if (bp_email_normalize(req->email, email, sizeof email, &why) != 0)
        return bp_call_fail_invalid(call, "email", why);
    return auth_store_user_by_email(db, email, u);
}

int auth_handle_find_user(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Bp__Auth__FindUserRequest *req = (const Bp__Auth__FindUserRequest *)reqm;
    Bp__Auth__FoundUser *resp = (Bp__Auth__FoundUser *)respm;
    auth_user u;

    int rv = lookup(call, req, &u);
    if (rv == BP_EREPLIED)
        return rv;
    /* Erased accounts are not live: the store does not find them. */
    if (rv == BP_ENOTFOUND)
        return bp_call_fail(call, 404, "not_found", NULL, "No hay ninguna cuenta así.");
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    auth_consents c;
    if ((rv = auth_store_consents_get(bp_call_worker(call)->db, u.id, &c)) != 0)
        return bp_call_fail_internal(call, rv);
    resp->user_id = bp_call_strdup(call, u.id);
    resp->role = bp_call_strdup(call, u.role);
    resp->email = bp_call_strdup(call, u.email);
    resp->name = bp_call_strdup(call, u.name);
    resp->phone = u.phone[0] != '\0' ? bp_call_strdup(call, u.phone) : NULL;
    resp->locale = bp_call_strdup(call, u.locale);
    resp->has_whatsapp_allowed = resp->has_marketing = true;
    resp->whatsapp_allowed = !c.whatsapp_withdrawn;
    resp->marketing = c.marketing;
    if (resp->user_id == NULL || resp->role == NULL || resp->email == NULL || resp->name == NULL ||
        resp->locale == NULL || (u.phone[0] != '\0' && resp->phone == NULL))
        return bp_call_fail_internal(call, BP_ENOMEM);
    return 0;
}
