/* ManualPayment: money the shop took outside MercadoPago (cash, a bank
 * transfer, a card over the phone), recorded by the booking's provider, the
 * shop's owner or an admin; the fallback when MercadoPago is down. It is
 * approved when recorded and announced like any approval, so a booking
 * waiting for its deposit is confirmed. A client cannot record one. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "outbox.h"
#include "payment.h"

/* What a booking can bear: its price, less what its payments kept. */
static const char SQL_KEPT[] =
    "SELECT coalesce(sum(amount_cents - refunded_cents), 0) FROM payment.payments"
    " WHERE booking_id = $1 AND status IN ('approved', 'partially_refunded')";

static const char SQL_BY_KEY[] = PAYMENT_SQL_BY_KEY;

static const char SQL_INSERT[] =
    "INSERT INTO payment.payments AS p (id, booking_id, client_id, shop_id, provider, method, "
    "status,"
    " amount_cents, currency, description, note, created_by, idempotency_key, approved_at)"
    " VALUES ($1, $2, $3, $4, 'manual', $5, 'approved', $6::int8, 'ARS', $7, $8, $9, $10, now())"
    " ON CONFLICT DO NOTHING RETURNING " PAYMENT_COLUMNS;

static const char *const METHODS[] = {"cash", "transfer", "phone"};

#define MAX_AMOUNT_CENTS 1000000000000LL /* ten thousand million pesos */

static int check_input(bp_call *call, const Bp__Payment__ManualPaymentRequest *in)
{
    if (!bp_call_check_uuid(call, "booking_id", in->booking_id))
        return BP_EREPLIED;
    if (!in->has_amount_cents || in->amount_cents <= 0 || in->amount_cents > MAX_AMOUNT_CENTS)
        return bp_call_fail_invalid(call, "amount_cents",
                                    "amount_cents tiene que ser un entero positivo de centavos.");
    if (in->currency != NULL && strcmp(in->currency, "ARS") != 0)
        return bp_call_fail_invalid(call, "currency", "Solo se registran pagos en pesos (ARS).");
    if (in->note != NULL && strlen(in->note) > 500)
        return bp_call_fail_invalid(call, "note", "La nota puede tener hasta 500 caracteres.");
    for (size_t i = 0; in->method != NULL && i < BP_COUNTOF(METHODS); i++)
        if (strcmp(in->method, METHODS[i]) == 0)
            return 0;
    return bp_call_fail_invalid(call, "method",
                                "method tiene que ser \"cash\", \"transfer\" o \"phone\".");
}

/* Whether the booking takes this payment; answers when not. */
static int acceptable(bp_call *call, const Bp__Booking__PaymentContextReply *ctx, int64_t amount)
{
    const char *actor = ctx->actor, *status = ctx->booking->status;
    if (strcmp(actor, "provider") != 0 && strcmp(actor, "owner") != 0 &&
        strcmp(actor, "admin") != 0)
        return bp_call_fail_forbidden(call);
    if (status == NULL || (strcmp(status, "pending_payment") != 0 &&
                           strcmp(status, "confirmed") != 0 && strcmp(status, "completed") != 0))
        return bp_call_fail(call, 409, "not_payable", NULL,
                            "Este turno no admite pagos: está cancelado, vencido o ausente.");
    const char *params[] = {ctx->booking->id};
    PGresult *res = bp_db_query(bp_call_worker(call)->db, SQL_KEPT, 1, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    long long kept = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (amount > ctx->booking->price_cents - kept)
        return bp_call_fail(call, 422, "invalid_amount", "amount_cents",
                            "El monto supera lo que falta pagar del turno.");
    return 0;
}

/* Answers 201 with the row of res (one row), then frees res. A payment
 * this request did not record (a retry's) is a read of the client's
 * payment when audit_read. */
static int answer_row(bp_call *call, Bp__Payment__PaymentReply *out, PGresult *res,
                      const char *booking_id, bool audit_read)
{
    payment_row p;
    payment_row_read(res, 0, &p);
    int rv;
    if (strcmp(p.booking_id, booking_id) != 0) {
        rv = bp_call_fail(call, 409, "idempotency_conflict", "Idempotency-Key",
                          "Esa Idempotency-Key ya se usó para otro turno.");
    } else if (audit_read && (rv = payment_audit(call, bp_call_worker(call)->db, &p, "payment_read",
                                                 NULL)) != 0) {
        rv = bp_call_fail_internal(call, rv);
    } else {
        bp_call_set_status(call, 201);
        rv = payment_answer(call, out, &p);
    }
    PQclear(res);
    return rv;
}

PAYMENT_HANDLER(manual_payment)
{
    const Bp__Payment__ManualPaymentRequest *in = (const Bp__Payment__ManualPaymentRequest *)req;
    Bp__Payment__PaymentReply *out = (Bp__Payment__PaymentReply *)resp;
    bp_db *db = bp_call_worker(call)->db;
    const char *me = bp_call_user_id(call), *key = payment_idempotency_key(call);
    if (check_input(call, in) != 0)
        return BP_EREPLIED;
    const char *by_key[] = {me, key};
    if (key != NULL) {
        PGresult *res = bp_db_query(db, SQL_BY_KEY, 2, by_key);
        if (!bp_db_ok(res, bp_call_request_id(call))) {
            PQclear(res);
            return bp_call_fail_internal(call, BP_EIO);
        }
        if (PQntuples(res) == 1)
            return answer_row(call, out, res, in->booking_id, true);
        PQclear(res);
    }

    Bp__Booking__PaymentContextReply *ctx;
    if (payment_booking_context(call, in->booking_id, "El turno", &ctx) != 0)
        return BP_EREPLIED;
    const Bp__Booking__Booking *b = ctx->booking;
    int rv = acceptable(call, ctx, in->amount_cents);
    if (rv != 0)
        goto out;

    char id[37], cents[24];
    bp_uuid(id);
    snprintf(cents, sizeof cents, "%lld", (long long)in->amount_cents);
    char *title = bp_call_printf(call, "Pago en el local: %s en %s",
                                 b->service_name != NULL ? b->service_name : "servicio",
                                 b->shop_name != NULL ? b->shop_name : "BarberPro");
    const char *ins[] = {id,    in->booking_id, b->client_id, b->shop_id, in->method,
                         cents, title,          in->note,     me,         key};
    payment_change change = {0};
    if ((rv = bp_db_begin(db)) != 0) {
        rv = bp_call_fail_internal(call, rv);
        goto out;
    }
    PGresult *res = bp_db_query(db, SQL_INSERT, 10, ins);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        rv = BP_EIO;
    } else if (PQntuples(res) == 1) {
        payment_row p;
        payment_row_read(res, 0, &p);
        /* Announces the approval (the row is inserted approved), and tells
         * the audit log that the shop recorded it on the client's booking. */
        rv = payment_set_status(db, &p, "approved", 0, NULL, NULL, 0, &change);
        if (rv == 0)
            rv = payment_audit(call, db, &p, "payment_changed", NULL);
    }
    if ((rv = payment_end(db, rv, &change)) != 0) {
        PQclear(res);
        rv = bp_call_fail_internal(call, rv);
        goto out;
    }
    bool raced = PQntuples(res) == 0;
    if (raced) {
        /* The same key won a race with this request. */
        PQclear(res);
        res = bp_db_query(db, SQL_BY_KEY, 2, by_key);
        if (!bp_db_ok(res, bp_call_request_id(call)) || PQntuples(res) != 1) {
            PQclear(res);
            rv = bp_call_fail_internal(call, BP_EIO);
            goto out;
        }
    }
    bp_log(BP_LOG_INFO, bp_call_request_id(call), "manual payment %s recorded for booking %s", id,
           in->booking_id);
    rv = answer_row(call, out, res, in->booking_id, raced);
out:
    bp__booking__payment_context_reply__free_unpacked(ctx, NULL);
    return rv;
}
