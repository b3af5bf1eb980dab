/* Refunds. A refund is a row before MercadoPago is asked (its id is the
 * X-Idempotency-Key, so asking twice refunds once); the owner's request
 * asks at once, a cancelled booking's refund is asked by the refunds job,
 * and one that failed is asked again with backoff until MercadoPago
 * answers, or refuses for good (status failed, with its reason). A manual
 * payment's refund is done when recorded: the shop hands the money back. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jobs.h"
#include "log.h"
#include "mp.h"
#include "outbox.h"
#include "payment.h"
#include "state.h"

static const char SQL_QUEUE[] =
    "INSERT INTO payment.refunds (id, payment_id, amount_cents, reason, requested_by,"
    " request_key, status, done_at)"
    " VALUES ($1, $2, $3::int8, $4, $5, $6, $7, CASE WHEN $7 = 'done' THEN now() END)"
    " ON CONFLICT (payment_id, request_key) WHERE request_key IS NOT NULL DO NOTHING"
    " RETURNING id";

static const char SQL_BY_REQUEST_KEY[] =
    "SELECT id FROM payment.refunds WHERE payment_id = $1 AND request_key = $2";

/* Refunds asked for and not failed, beyond what the payment has refunded. */
static const char SQL_IN_FLIGHT[] = "SELECT coalesce(sum(amount_cents), 0) FROM payment.refunds"
                                    " WHERE payment_id = $1 AND status = 'pending'";

static int64_t scalar(bp_db *db, const char *sql, int n, const char *const *params, int *rv)
{
    PGresult *res = bp_db_query(db, sql, n, params);
    int64_t v = 0;
    if (bp_db_ok(res, NULL) && PQntuples(res) == 1)
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        *rv = BP_EIO;
    PQclear(res);
    return v;
}

int payment_refund_queue(bp_db *db, const payment_row *p, int64_t amount_cents, const char *reason,
                         const char *requested_by, const char *key, char id_out[37],
                         payment_change *change)
{
    bool manual = strcmp(p->provider, "manual") == 0;
    char cents[24];
    bp_uuid(id_out);
    snprintf(cents, sizeof cents, "%" PRId64, amount_cents);
    const char *params[] = {
        id_out, p->id, cents, reason, requested_by, key, manual ? "done" : "pending"};
    PGresult *res = bp_db_query(db, SQL_QUEUE, 7, params);
    int rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    bool created = rv == 0 && PQntuples(res) == 1;
    PQclear(res);
    if (rv != 0)
        return rv;
    if (!created) {
        /* The same request again: its refund, nothing new. */
        const char *k[] = {p->id, key};
        res = bp_db_query(db, SQL_BY_REQUEST_KEY, 2, k);
        if (bp_db_ok(res, NULL) && PQntuples(res) == 1)
            snprintf(id_out, 37, "%s", PQgetvalue(res, 0, 0));
        else
            rv = BP_EIO;
        PQclear(res);
        return rv;
    }
    if (!manual) {
        change->refund_queued = true;
        return 0;
    }
    int64_t refunded = p->refunded_cents + amount_cents;
    return payment_set_status(db, p,
                              refunded >= p->amount_cents ? "refunded" : "partially_refunded",
                              refunded, NULL, NULL, 0, change);
}

/* ---- asking MercadoPago ------------------------------------------------------ */

/* Takes the pending refund for one try: a lease long enough for the call. */
static const char SQL_CLAIM[] =
    "UPDATE payment.refunds r SET locked_until = now() + $2::int8 * interval '1 millisecond',"
    " attempts = r.attempts + 1"
    " FROM payment.payments p WHERE r.id = $1 AND r.status = 'pending'"
    " AND (r.locked_until IS NULL OR r.locked_until < now()) AND p.id = r.payment_id"
    " RETURNING r.amount_cents, coalesce(p.mp_payment_id, 0), p.amount_cents, r.attempts,"
    " p.id";

static const char SQL_DONE[] =
    "UPDATE payment.refunds SET status = 'done', mp_refund_id = nullif($2::int8, 0),"
    " done_at = now(), locked_until = NULL, last_error = NULL WHERE id = $1";

static const char SQL_FAILED[] =
    "UPDATE payment.refunds SET status = 'failed', last_error = $2, locked_until = NULL"
    " WHERE id = $1";

static const char SQL_RETRY[] =
    "UPDATE payment.refunds SET next_attempt_at = now() + $2::int8 * interval '1 millisecond',"
    " last_error = $3, locked_until = NULL WHERE id = $1";

/* MercadoPago's own payment now holds the refund: its attempt says so at
 * once. The refunds done so far are its refunded amount (never less than
 * it said: a webhook about this very refund may have come first). */
static const char SQL_ATTEMPT_REFUNDED[] =
    "UPDATE payment.attempts a"
    " SET refunded_cents = greatest(a.refunded_cents, least(a.amount_cents, r.total)),"
    " status = CASE WHEN a.rank < 3 AND r.total >= a.amount_cents THEN 'refunded' ELSE a.status "
    "END,"
    " rank = CASE WHEN a.rank < 3 AND r.total >= a.amount_cents THEN 3 ELSE a.rank END,"
    " updated_at = now()"
    " FROM (SELECT coalesce(sum(amount_cents), 0) AS total FROM payment.refunds"
    "       WHERE payment_id = $2 AND status = 'done') r"
    " WHERE a.mp_payment_id = $1::int8";

static int exec(bp_db *db, const char *rid, const char *sql, int n, const char *const *params)
{
    PGresult *res = bp_db_query(db, sql, n, params);
    int rv = bp_db_ok(res, rid) ? 0 : BP_EIO;
    PQclear(res);
    return rv;
}

/* Records a refund MercadoPago made, and what it does to the payment. */
static int record_done(bp_db *db, const char *rid, const char *refund_id, const char *payment_id,
                       int64_t mp_payment_id, int64_t mp_refund_id)
{
    char mp_id[24], refund[24];
    snprintf(mp_id, sizeof mp_id, "%" PRId64, mp_payment_id);
    snprintf(refund, sizeof refund, "%" PRId64, mp_refund_id);
    payment_change change = {0};
    int rv = bp_db_begin(db);
    if (rv != 0)
        return rv;
    PGresult *res = payment_select(db, payment_id, true, &rv);
    if (res != NULL) {
        payment_row p;
        payment_row_read(res, 0, &p);
        const char *done[] = {refund_id, refund};
        const char *attempt[] = {mp_id, payment_id};
        rv = exec(db, rid, SQL_DONE, 2, done);
        if (rv == 0)
            rv = exec(db, rid, SQL_ATTEMPT_REFUNDED, 2, attempt);
        if (rv == 0)
            rv = payment_rederive(db, rid, &p, &change);
        PQclear(res);
    }
    return payment_end(db, rv, &change);
}

int payment_refund_send(const payment_ctx *ctx, bp_db *db, const char *rid, const char *refund_id)
{
    char lease[24];
    snprintf(lease, sizeof lease, "%d", 2 * ctx->timeout_ms + 30000);
    const char *claim[] = {refund_id, lease};
    PGresult *res = bp_db_select(db, SQL_CLAIM, 2, claim, rid);
    if (res == NULL)
        return BP_EIO;
    if (PQntuples(res) != 1) {
        PQclear(res); /* done, failed, or in another worker's hands */
        return BP_EUNAVAIL;
    }
    int64_t amount = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    int64_t mp_payment_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    int64_t total = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    int attempts = (int)strtol(PQgetvalue(res, 0, 3), NULL, 10);
    char payment_id[37];
    snprintf(payment_id, sizeof payment_id, "%s", PQgetvalue(res, 0, 4));
    PQclear(res);

    char why[256] = "";
    int64_t mp_refund_id = 0;
    int rv = BP_EINVAL;
    if (mp_payment_id <= 0)
        snprintf(why, sizeof why, "MercadoPago no informó el pago que hay que devolver");
    else
        rv = mp_refund(ctx, rid, mp_payment_id, refund_id, amount == total ? 0 : amount,
                       &mp_refund_id, why, sizeof why);
    if (rv == 0) {
        bp_log(BP_LOG_INFO, rid, "refund %s of payment %s done by MercadoPago", refund_id,
               payment_id);
        return record_done(db, rid, refund_id, payment_id, mp_payment_id, mp_refund_id);
    }
    if (rv == BP_EINVAL) {
        bp_log(BP_LOG_ERROR, rid, "refund %s of payment %s refused: %s", refund_id, payment_id,
               why);
        const char *failed[] = {refund_id, why};
        return exec(db, rid, SQL_FAILED, 2, failed) == 0 ? BP_EINVAL : BP_EIO;
    }
    char delay[24];
    snprintf(delay, sizeof delay, "%" PRId64, payment_backoff_ms(attempts));
    const char *retry[] = {refund_id, delay, bp_strerror(rv)};
    return exec(db, rid, SQL_RETRY, 3, retry) == 0 ? BP_EUNAVAIL : BP_EIO;
}

int payment_process_refunds(bp_db *db, bp_kv *kv)
{
    (void)kv;
    PGresult *res = bp_db_select(db,
                                 "SELECT id FROM payment.refunds WHERE status = 'pending'"
                                 " AND next_attempt_at <= now()"
                                 " AND (locked_until IS NULL OR locked_until < now())"
                                 " ORDER BY next_attempt_at LIMIT 20",
                                 0, NULL, NULL);
    if (res == NULL)
        return BP_EIO;
    /* Stops at the first refund MercadoPago does not answer: the rest wait
     * for the next round rather than a timeout each. */
    int rv = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        int r = payment_refund_send(&payment_config, db, NULL, PQgetvalue(res, i, 0));
        if (r == BP_EIO)
            rv = r;
        if (r == BP_EIO || r == BP_EUNAVAIL)
            break;
    }
    PQclear(res);
    return rv;
}

/* ---- the owner's or an admin's refund --------------------------------------- */

static const char *const REFUNDABLE[] = {"approved", "partially_refunded"};

/* Queues the refund of in for the locked payment p; answers on refusal. */
static int queue_checked(bp_call *call, const Bp__Payment__RefundRequest *in, const payment_row *p,
                         char refund_id[37], payment_change *change)
{
    bp_db *db = bp_call_worker(call)->db;
    const char *key = payment_idempotency_key(call);
    if (key != NULL) {
        const char *k[] = {p->id, key};
        PGresult *res = bp_db_query(db, SQL_BY_REQUEST_KEY, 2, k);
        bool again = bp_db_ok(res, NULL) && PQntuples(res) == 1;
        PQclear(res);
        if (again)
            return 0; /* answered with the payment as it is now */
    }
    bool refundable = false;
    for (size_t i = 0; i < BP_COUNTOF(REFUNDABLE); i++)
        refundable |= strcmp(p->status, REFUNDABLE[i]) == 0;
    if (!refundable)
        return bp_call_fail(call, 409, "not_refundable", NULL,
                            "Solo se devuelve un pago aprobado; este está \"%s\".", p->status);
    int rv = 0;
    const char *params[] = {p->id};
    int64_t left = p->amount_cents - p->refunded_cents - scalar(db, SQL_IN_FLIGHT, 1, params, &rv);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    if (left <= 0)
        return bp_call_fail(call, 409, "not_refundable", NULL,
                            "Este pago ya se devolvió entero (o su devolución está en curso).");
    int64_t amount = in->has_amount_cents ? in->amount_cents : left;
    if (amount > left)
        return bp_call_fail(call, 422, "invalid_amount", "amount_cents",
                            "El monto supera lo que queda por devolver de este pago.");
    rv = payment_refund_queue(db, p, amount, in->reason, bp_call_user_id(call), key, refund_id,
                              change);
    return rv != 0 ? bp_call_fail_internal(call, rv) : 0;
}

PAYMENT_HANDLER(refund)
{
    const Bp__Payment__RefundRequest *in = (const Bp__Payment__RefundRequest *)req;
    Bp__Payment__PaymentReply *out = (Bp__Payment__PaymentReply *)resp;
    bp_db *db = bp_call_worker(call)->db;
    const char *rid = bp_call_request_id(call);
    if (!bp_call_check_uuid(call, "payment_id", in->payment_id))
        return BP_EREPLIED;
    if (in->has_amount_cents && in->amount_cents <= 0)
        return bp_call_fail_invalid(call, "amount_cents",
                                    "amount_cents tiene que ser un entero positivo de centavos.");
    if (in->reason != NULL && strlen(in->reason) > 500)
        return bp_call_fail_invalid(call, "reason", "El motivo puede tener hasta 500 caracteres.");

    /* Who may: the shop's owner or an admin, as the booking daemon says. */
    int rv;
    PGresult *res = payment_select(db, in->payment_id, false, &rv);
    if (res == NULL)
        return rv == BP_ENOTFOUND ? bp_call_fail_not_found(call, "El pago")
                                  : bp_call_fail_internal(call, rv);
    Bp__Booking__PaymentContextReply *ctx;
    rv = payment_booking_context(call, PQgetvalue(res, 0, 1), "El pago", &ctx);
    PQclear(res);
    if (rv != 0)
        return BP_EREPLIED;
    bool allowed = strcmp(ctx->actor, "owner") == 0 || strcmp(ctx->actor, "admin") == 0;
    bp__booking__payment_context_reply__free_unpacked(ctx, NULL);
    if (!allowed)
        return bp_call_fail_forbidden(call);

    char refund_id[37] = "";
    payment_change change = {0};
    if ((rv = bp_db_begin(db)) != 0)
        return bp_call_fail_internal(call, rv);
    res = payment_select(db, in->payment_id, true, &rv);
    if (res != NULL) {
        payment_row p;
        payment_row_read(res, 0, &p);
        rv = queue_checked(call, in, &p, refund_id, &change);
        /* The shop acted on the client's payment: audited with the change. */
        if (rv == 0 && (rv = payment_audit(call, db, &p,
                                           *refund_id != '\0' ? "payment_changed" : "payment_read",
                                           refund_id)) != 0)
            rv = bp_call_fail_internal(call, rv);
        PQclear(res);
    } else {
        rv = bp_call_fail_internal(call, rv);
    }
    if (rv != 0) {
        bp_db_rollback(db);
        return rv;
    }
    /* Asked here and now, not by the job; when MercadoPago does not answer,
     * the job asks again later and the answer shows the refund pending. */
    bool send = change.refund_queued;
    change.refund_queued = false;
    if ((rv = payment_end(db, 0, &change)) != 0)
        return bp_call_fail_internal(call, rv);
    payment_ctx mp = payment_ctx_for(call);
    if (send && payment_refund_send(&mp, db, rid, refund_id) == BP_EUNAVAIL)
        bp_log(BP_LOG_WARN, rid, "refund %s stays queued", refund_id);
    res = payment_select(db, in->payment_id, false, &rv);
    if (res == NULL)
        return bp_call_fail_internal(call, rv);
    payment_row p;
    payment_row_read(res, 0, &p);
    rv = payment_answer(call, out, &p);
    PQclear(res);
    return rv;
}
