/* Ley 25.326 in the payment daemon: a client's export (ExportUser), the
 * erasure of a user's personal data (user.erasure_requested), and the audit
 * records of reads and changes of another person's payments.
 *
 * Erasure keeps every payment: they are accounting and tax records, so
 * amounts, statuses, ids and dates stay. What ties a payment to a person
 * goes: the client's id, the creator's id and Idempotency-Key, the shop's
 * note, the description and the checkout link (whose preference at
 * MercadoPago carries the payer's email and name), the refunds' reasons and
 * MercadoPago's refusal texts, and delivered outbox rows that name the
 * user. MercadoPago's payer data (email, name, identification) is never
 * stored here: mp.c reads only ids, amounts, statuses and the method. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.pb-c.h"
#include "inbox.h"
#include "log.h"
#include "payment.h"
#include "privacy.h"

/* Payments in one export: a client paying every week for 19 years. The
 * reply stays far below BP_RPC_MAX_MSG (a payment is about 500 bytes). */
#define EXPORT_MAX 1000

static const char SQL_EXPORT[] =
    "SELECT " PAYMENT_COLUMNS " FROM payment.payments p"
    " WHERE p.client_id = $1 ORDER BY p.created_at, p.id LIMIT $2::int";

PAYMENT_HANDLER(export_user)
{
    (void)req;
    Bp__Payment__UserData *out = (Bp__Payment__UserData *)resp;
    bp_db *db = bp_call_worker(call)->db;
    const char *me = bp_call_user_id(call);
    if (!bp_uuid_valid(me))
        return bp_call_fail_invalid(call, "user_id", "El usuario de la llamada no es un id.");
    char limit[16];
    snprintf(limit, sizeof limit, "%d", EXPORT_MAX + 1); /* one more: was it cut? */
    const char *params[] = {me, limit};
    PGresult *res = bp_db_select(db, SQL_EXPORT, 2, params, bp_call_request_id(call));
    if (res == NULL)
        return bp_call_fail_internal(call, BP_EIO);
    int n = PQntuples(res);
    if (n > EXPORT_MAX) {
        bp_log(BP_LOG_WARN, bp_call_request_id(call),
               "export of user %s: more than %d payments, only the oldest %d exported", me,
               EXPORT_MAX, EXPORT_MAX);
        n = EXPORT_MAX;
    }
    int rv = payment_replies(call, db, res, n, &out->payments, &out->n_payments);
    PQclear(res);
    return rv != 0 ? bp_call_fail_internal(call, rv) : 0;
}

/* ---- erasure ------------------------------------------------------------------ */

/* Before the payments lose their client: the refunds of that client's
 * payments lose their reasons (free text by the shop or the system) and
 * MercadoPago's refusal texts. */
static const char SQL_ERASE_REFUNDS[] =
    "UPDATE payment.refunds r SET reason = NULL,"
    " last_error = CASE WHEN r.last_error IS NOT NULL"
    "   THEN 'Detalle borrado a pedido del titular (Ley 25.326).' END"
    " FROM payment.payments p WHERE r.payment_id = p.id AND p.client_id = $1::uuid";

/* The client's payments: what is left names no one. */
static const char SQL_ERASE_PAYMENTS[] =
    "UPDATE payment.payments SET client_id = NULL, note = NULL, checkout_url = NULL,"
    " description = CASE WHEN provider = 'manual' THEN 'Pago en el local'"
    "   ELSE 'Turno en BarberPro' END,"
    " created_by = CASE WHEN created_by = $1::uuid THEN NULL ELSE created_by END,"
    " idempotency_key = CASE WHEN created_by = $1::uuid THEN NULL ELSE idempotency_key END,"
    " updated_at = now() WHERE client_id = $1::uuid";

/* Payments the user recorded for others (a provider's or owner's manual
 * payments) and refunds they asked for: only their id goes. */
static const char SQL_ERASE_CREATOR[] =
    "UPDATE payment.payments SET created_by = NULL, idempotency_key = NULL, updated_at = now()"
    " WHERE created_by = $1::uuid";

static const char SQL_ERASE_REQUESTER[] =
    "UPDATE payment.refunds SET requested_by = NULL, request_key = NULL"
    " WHERE requested_by = $1::uuid";

/* Delivered events that name the user (audit records of their accesses)
 * would otherwise stay up to the relay's 7 days. Pending ones still go to
 * their consumer: auth keeps the audit log, under its own retention. */
static const char SQL_ERASE_DELIVERED[] =
    "DELETE FROM payment.outbox WHERE delivered_at IS NOT NULL"
    " AND position(convert_to($1, 'UTF8') IN payload) > 0";

int payment_erase_user(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    const char *rid = bp_call_request_id(call);
    const Bp__Events__UserEvent *u = (const Bp__Events__UserEvent *)bp_inbox_payload(
        call, ev, &bp__events__user_event__descriptor);
    if (u == NULL)
        return 0;
    if (u->user_id == NULL || !bp_uuid_valid(u->user_id)) {
        bp_log(BP_LOG_WARN, rid, "event %s (%s): no usable user id", ev->id, ev->topic);
        return 0;
    }
    static const char *const steps[] = {SQL_ERASE_REFUNDS, SQL_ERASE_PAYMENTS, SQL_ERASE_CREATOR,
                                        SQL_ERASE_REQUESTER, SQL_ERASE_DELIVERED};
    const char *params[] = {u->user_id};
    long changed = 0;
    for (size_t i = 0; i < BP_COUNTOF(steps); i++) {
        PGresult *res = bp_db_query(db, steps[i], 1, params);
        bool ok = bp_db_ok(res, rid);
        if (ok)
            changed += strtol(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        if (!ok)
            return BP_EIO;
    }
    bp_log(BP_LOG_INFO, rid, "erasure request %s: user %s erased from payments (%ld rows)",
           u->request_id != NULL ? u->request_id : "(none)", u->user_id, changed);
    return 0;
}

/* ---- audit ------------------------------------------------------------------- */

int payment_audit(bp_call *call, bp_db *db, const payment_row *p, const char *action,
                  const char *refund_id)
{
    const char *subjects[] = {p->client_id};
    json_t *details = json_pack("{s:s}", "payment_id", p->id);
    if (details == NULL)
        return BP_ENOMEM;
    if (refund_id != NULL && *refund_id != '\0')
        json_object_set_new(details, "refund_id", json_string(refund_id));
    int rv = bp_audit_access(call, db, subjects, 1, action, details);
    json_decref(details);
    return rv;
}

int payment_audit_list(bp_call *call, bp_db *db, const PGresult *res, const char *booking_id)
{
    int n = PQntuples(res);
    if (n == 0)
        return 0;
    const char **subjects = bp_arena_alloc(bp_call_arena(call), sizeof *subjects * (size_t)n);
    json_t *details = json_pack("{s:s,s:[]}", "booking_id", booking_id, "payment_ids");
    if (subjects == NULL || details == NULL) {
        json_decref(details);
        return BP_ENOMEM;
    }
    json_t *ids = json_object_get(details, "payment_ids");
    for (int i = 0; i < n; i++) {
        payment_row p;
        payment_row_read(res, i, &p);
        subjects[i] = p.client_id;
        json_array_append_new(ids, json_string(p.id));
    }
    int rv = bp_audit_access(call, db, subjects, (size_t)n, "payments_list", details);
    json_decref(details);
    return rv;
}
