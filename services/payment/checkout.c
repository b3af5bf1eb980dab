/* Checkout (a MercadoPago Checkout Pro preference for a booking's deposit
 * or price), and reading payments.
 *
 * A checkout is a payment row first, then a preference: the row exists
 * before MercadoPago is asked, and the preference is asked with the row's
 * id as X-Idempotency-Key, so a retry (the client's same Idempotency-Key,
 * or another checkout of the same booking while its payment is open) finds
 * the row and never makes a second preference. When MercadoPago does not
 * answer, the row stays without a preference and the answer is 503; the
 * retry asks again. */
#include <stdio.h>
#include <string.h>

#include "auth.pb-c.h"
#include "log.h"
#include "mp.h"
#include "payment.h"

static const char SQL_BY_KEY[] = PAYMENT_SQL_BY_KEY;

static const char SQL_OPEN[] = "SELECT " PAYMENT_COLUMNS " FROM payment.payments p"
                               " WHERE p.booking_id = $1 AND p.status = 'pending'";

static const char SQL_PAID[] = "SELECT 1 FROM payment.payments WHERE booking_id = $1"
                               " AND status IN ('approved', 'partially_refunded') LIMIT 1";

/* Conflicts with either unique index (the key, the one open payment) insert
 * nothing; the caller then reads the row that won. */
static const char SQL_INSERT[] =
    "INSERT INTO payment.payments AS p (id, booking_id, client_id, shop_id, provider, method,"
    " amount_cents, currency, description, expires_at, created_by, idempotency_key,"
    " next_check_at)"
    " VALUES ($1, $2, $3, $4, 'mercadopago', 'mercadopago', $5::int8, $6, $7,"
    " to_timestamp($8::int8 / 1000.0), $9, $10, now() + $11::int8 * interval '1 millisecond')"
    " ON CONFLICT DO NOTHING RETURNING " PAYMENT_COLUMNS;

static const char SQL_PREFERENCE[] =
    "UPDATE payment.payments p SET preference_id = $2, checkout_url = $3, updated_at = now()"
    " WHERE p.id = $1 AND p.preference_id IS NULL RETURNING " PAYMENT_COLUMNS;

/* Runs a query whose rows are PAYMENT_COLUMNS; NULL (after answering) on a
 * database error. */
static PGresult *rows(bp_call *call, const char *sql, int n, const char *const *params)
{
    PGresult *res = bp_db_query(bp_call_worker(call)->db, sql, n, params);
    if (bp_db_ok(res, bp_call_request_id(call)))
        return res;
    PQclear(res);
    bp_call_fail_internal(call, BP_EIO);
    return NULL;
}

/* The payer's email and name from auth, when it answers within a second;
 * a checkout goes on without them. Strings in the call's arena. */
static void payer_of(bp_call *call, const char **email, const char **name)
{
    *email = *name = NULL;
    Bp__Auth__FindUserRequest in = BP__AUTH__FIND_USER_REQUEST__INIT;
    in.user_id = (char *)bp_call_user_id(call);
    bp_rpc_args args = {
        .method = "FindUser", .request_id = bp_call_request_id(call), .timeout_ms = 1000};
    ProtobufCMessage *got = NULL;
    int status = 0;
    if (bp_client_call_msg(payment_config.auth, &args, (const ProtobufCMessage *)&in,
                           &bp__auth__found_user__descriptor, &got, &status, NULL, 0) != 0 ||
        got == NULL) {
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "checkout: payer unknown (auth: %d)", status);
        return;
    }
    const Bp__Auth__FoundUser *u = (const Bp__Auth__FoundUser *)got;
    if (u->email != NULL && *u->email != '\0')
        *email = bp_call_strdup(call, u->email);
    if (u->name != NULL && *u->name != '\0')
        *name = bp_call_strdup(call, u->name);
    protobuf_c_message_free_unpacked(got, NULL);
}

/* Gives p a preference when it has none, then answers 201 {payment}. */
static int answer_with_preference(bp_call *call, Bp__Payment__PaymentReply *out,
                                  const payment_row *p)
{
    if (*p->preference_id != '\0' || strcmp(p->status, "pending") != 0) {
        bp_call_set_status(call, 201);
        return payment_answer(call, out, p);
    }
    mp_checkout in = {
        .payment_id = p->id,
        .booking_id = p->booking_id,
        .title = *p->description != '\0' ? p->description : "Turno en BarberPro",
        .amount_cents = p->amount_cents,
        .currency = p->currency,
        .expires_ms = p->expires_ms,
    };
    payer_of(call, &in.payer_email, &in.payer_name);
    char pref_id[128], init_point[512];
    payment_ctx mp = payment_ctx_for(call);
    int rv = mp_create_preference(&mp, bp_call_request_id(call), &in, pref_id, init_point);
    if (rv == BP_ENOMEM)
        return bp_call_fail_internal(call, rv);
    if (rv != 0)
        return payment_fail_mercadopago(call);
    const char *params[] = {p->id, pref_id, init_point};
    PGresult *res = rows(call, SQL_PREFERENCE, 3, params);
    if (res == NULL)
        return BP_EREPLIED;
    if (PQntuples(res) != 1) {
        /* A concurrent retry stored the same preference (same key) first. */
        PQclear(res);
        int err;
        res = payment_select(bp_call_worker(call)->db, p->id, false, &err);
        if (res == NULL)
            return bp_call_fail_internal(call, err);
    }
    payment_row now;
    payment_row_read(res, 0, &now);
    bp_call_set_status(call, 201);
    rv = payment_answer(call, out, &now);
    PQclear(res);
    return rv;
}

/* An existing payment found for the request: answered when it is for the
 * same booking. */
static int answer_existing(bp_call *call, Bp__Payment__PaymentReply *out, PGresult *res,
                           const char *booking_id)
{
    payment_row p;
    payment_row_read(res, 0, &p);
    int rv = strcmp(p.booking_id, booking_id) != 0
                 ? bp_call_fail(call, 409, "idempotency_conflict", "Idempotency-Key",
                                "Esa Idempotency-Key ya se usó para otro turno.")
                 : answer_with_preference(call, out, &p);
    PQclear(res);
    return rv;
}

/* Whether the booking can be paid now, and how much; answers when not. */
static int payable(bp_call *call, const Bp__Booking__Booking *b, bool full, int64_t *amount,
                   int64_t *expires_ms)
{
    bool pending = b->status != NULL && strcmp(b->status, "pending_payment") == 0;
    bool confirmed = b->status != NULL && strcmp(b->status, "confirmed") == 0;
    if (!full && b->deposit_cents <= 0 && (pending || confirmed))
        return bp_call_fail(call, 409, "nothing_to_pay", NULL,
                            "Este turno no requiere seña: ya está confirmado.");
    const char *until = pending ? b->hold_expires_at : b->starts_at;
    if (!(pending || (confirmed && full)) || until == NULL ||
        bp_time_parse(until, expires_ms) != 0 || *expires_ms <= bp_now_ms())
        return bp_call_fail(call, 409, "not_payable", NULL,
                            "Este turno no se puede pagar: no está esperando un pago.");
    if (b->currency == NULL || strcmp(b->currency, "ARS") != 0)
        return bp_call_fail(call, 422, "unsupported_currency", NULL,
                            "Solo se cobran pagos en pesos (ARS).");
    *amount = full ? b->price_cents : b->deposit_cents;
    if (*amount <= 0)
        return bp_call_fail(call, 409, "nothing_to_pay", NULL, "Este turno no requiere un pago.");
    return 0;
}

PAYMENT_HANDLER(checkout)
{
    const Bp__Payment__CheckoutRequest *in = (const Bp__Payment__CheckoutRequest *)req;
    Bp__Payment__PaymentReply *out = (Bp__Payment__PaymentReply *)resp;
    const char *key = payment_idempotency_key(call);
    const char *me = bp_call_user_id(call);
    if (key == NULL)
        return bp_call_fail_invalid(call, "Idempotency-Key",
                                    "Falta el encabezado Idempotency-Key: con él, reintentar el "
                                    "pago nunca cobra dos veces.");
    if (!bp_call_check_uuid(call, "booking_id", in->booking_id))
        return BP_EREPLIED;

    const char *by_key[] = {me, key};
    PGresult *res = rows(call, SQL_BY_KEY, 2, by_key);
    if (res == NULL)
        return BP_EREPLIED;
    if (PQntuples(res) == 1)
        return answer_existing(call, out, res, in->booking_id);
    PQclear(res);

    Bp__Booking__PaymentContextReply *ctx;
    if (payment_booking_context(call, in->booking_id, "El turno", &ctx) != 0)
        return BP_EREPLIED;
    const Bp__Booking__Booking *b = ctx->booking;
    int64_t amount = 0, expires_ms = 0;
    int rv = strcmp(ctx->actor, "client") != 0 ? bp_call_fail_forbidden(call)
                                               : payable(call, b, in->full, &amount, &expires_ms);
    if (rv != 0)
        goto out;

    const char *booking[] = {in->booking_id};
    if ((res = rows(call, SQL_PAID, 1, booking)) == NULL) {
        rv = BP_EREPLIED;
        goto out;
    }
    bool paid = PQntuples(res) > 0;
    PQclear(res);
    if (paid) {
        rv = bp_call_fail(call, 409, "already_paid", NULL, "Este turno ya está pagado.");
        goto out;
    }

    char id[37], cents[24], until[24], interval[16];
    bp_uuid(id);
    snprintf(cents, sizeof cents, "%lld", (long long)amount);
    snprintf(until, sizeof until, "%lld", (long long)expires_ms);
    snprintf(interval, sizeof interval, "%d", payment_config.reconcile_interval_ms);
    char *title = bp_call_printf(call, "%s: %s en %s", in->full ? "Turno" : "Seña",
                                 b->service_name != NULL ? b->service_name : "servicio",
                                 b->shop_name != NULL ? b->shop_name : "BarberPro");
    const char *ins[] = {id,    in->booking_id, b->client_id, b->shop_id, cents,   b->currency,
                         title, until,          me,           key,        interval};
    if ((res = rows(call, SQL_INSERT, 11, ins)) == NULL) {
        rv = BP_EREPLIED;
        goto out;
    }
    if (PQntuples(res) == 0) {
        /* Another request won: the same key, or this booking's open payment. */
        PQclear(res);
        if ((res = rows(call, SQL_BY_KEY, 2, by_key)) != NULL && PQntuples(res) == 0) {
            PQclear(res);
            res = rows(call, SQL_OPEN, 1, booking);
        }
        if (res == NULL) {
            rv = BP_EREPLIED;
        } else if (PQntuples(res) == 0) {
            PQclear(res);
            rv = bp_call_fail(call, 409, "conflict", NULL,
                              "El pago cambió mientras lo creábamos; probá de nuevo.");
        } else {
            rv = answer_existing(call, out, res, in->booking_id);
        }
        goto out;
    }
    payment_row p;
    payment_row_read(res, 0, &p);
    rv = answer_with_preference(call, out, &p);
    PQclear(res);
out:
    bp__booking__payment_context_reply__free_unpacked(ctx, NULL);
    return rv;
}

/* The payment of id as the caller may see it: NULL after answering 404
 * (unknown, or of a booking the caller may not see). */
static PGresult *visible(bp_call *call, const char *id, payment_row *p)
{
    if (!bp_call_check_uuid(call, "payment_id", id))
        return NULL;
    int rv;
    PGresult *res = payment_select(bp_call_worker(call)->db, id, false, &rv);
    if (res == NULL) {
        if (rv == BP_ENOTFOUND)
            bp_call_fail_not_found(call, "El pago");
        else
            bp_call_fail_internal(call, rv);
        return NULL;
    }
    payment_row_read(res, 0, p);
    /* The payer and an admin see it without asking; the shop's side is the
     * booking daemon's to say. */
    if (strcmp(p->client_id, bp_call_user_id(call)) == 0 ||
        strcmp(bp_call_role(call), "admin") == 0)
        return res;
    Bp__Booking__PaymentContextReply *ctx;
    if (payment_booking_context(call, p->booking_id, "El pago", &ctx) != 0) {
        PQclear(res);
        return NULL;
    }
    bp__booking__payment_context_reply__free_unpacked(ctx, NULL);
    return res;
}

PAYMENT_HANDLER(get_payment)
{
    const Bp__Payment__PaymentRequest *in = (const Bp__Payment__PaymentRequest *)req;
    payment_row p;
    PGresult *res = visible(call, in->payment_id, &p);
    if (res == NULL)
        return BP_EREPLIED;
    /* No answer without its audit record when it is someone else's. */
    int rv = payment_audit(call, bp_call_worker(call)->db, &p, "payment_read", NULL);
    rv = rv != 0 ? bp_call_fail_internal(call, rv)
                 : payment_answer(call, (Bp__Payment__PaymentReply *)resp, &p);
    PQclear(res);
    return rv;
}

PAYMENT_HANDLER(list_payments)
{
    const Bp__Payment__ListPaymentsRequest *in = (const Bp__Payment__ListPaymentsRequest *)req;
    Bp__Payment__PaymentList *out = (Bp__Payment__PaymentList *)resp;
    Bp__Booking__PaymentContextReply *ctx;
    if (payment_booking_context(call, in->booking_id, "El turno", &ctx) != 0)
        return BP_EREPLIED;
    bp__booking__payment_context_reply__free_unpacked(ctx, NULL);
    const char *params[] = {in->booking_id};
    PGresult *res = rows(call,
                         "SELECT " PAYMENT_COLUMNS " FROM payment.payments p"
                         " WHERE p.booking_id = $1 ORDER BY p.created_at, p.id LIMIT 100",
                         1, params);
    if (res == NULL)
        return BP_EREPLIED;
    /* No answer without its audit record when it shows someone else's. */
    bp_db *db = bp_call_worker(call)->db;
    int rv = payment_audit_list(call, db, res, in->booking_id);
    if (rv == 0)
        rv = payment_replies(call, db, res, PQntuples(res), &out->items, &out->n_items);
    PQclear(res);
    return rv != 0 ? bp_call_fail_internal(call, rv) : 0;
}
