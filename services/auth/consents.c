/* Consents (terms, marketing, WhatsApp) as a history: every change the user
 * sends is a new row with where it came from; the current state is the
 * latest row of each kind. Nothing is ever overwritten. */
#include "auth.h"
#include "auth.pb-c.h"
#include "bp.h"
#include "reply.h"
#include "store.h"

int auth_handle_put_consents(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Bp__Auth__ConsentsRequest *req = (const Bp__Auth__ConsentsRequest *)reqm;
    Bp__Auth__ConsentsReply *resp = (Bp__Auth__ConsentsReply *)respm;
    bp_db *db = bp_call_worker(call)->db;
    const char *user_id = bp_call_user_id(call);
    auth_origin origin = auth_origin_of(call);
    auth_consents now;
    int rv = 0;

    if (req->has_accept_terms && !req->accept_terms)
        return bp_call_fail(call, 422, "terms_required", "accept_terms",
                            "Para seguir usando BarberPro tenés que aceptar los términos; si "
                            "no querés, podés eliminar tu cuenta.");
    bool terms = req->has_accept_terms && req->accept_terms;
    if (req->has_marketing || req->has_whatsapp || terms) {
        json_t *details = json_object();
        if (terms)
            json_object_set_new(details, "terms_version", json_string(auth_terms_version()));
        if (req->has_marketing)
            json_object_set_new(details, "marketing", json_boolean(req->marketing));
        if (req->has_whatsapp)
            json_object_set_new(details, "whatsapp", json_boolean(req->whatsapp));

        rv = bp_db_begin(db) == 0 ? 0 : BP_EIO;
        if (rv == 0 && req->has_marketing)
            rv = auth_store_consent_add(db, user_id, "marketing", req->marketing, NULL, &origin);
        if (rv == 0 && req->has_whatsapp)
            rv = auth_store_consent_add(db, user_id, "whatsapp", req->whatsapp, NULL, &origin);
        if (rv == 0 && terms)
            rv = auth_store_consent_add(db, user_id, "terms", true, auth_terms_version(), &origin);
        rv = auth_store_audit_commit(db, rv, user_id, user_id, "consent_change", &origin, details);
        if (rv != 0)
            return bp_call_fail_internal(call, rv);
    }

    rv = auth_store_consents_get(db, user_id, &now);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    resp->consents = auth_reply_consents(call, &now);
    if (resp->consents == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    return 0;
}
