/* The Payment message of a row, and the answers every handler shares. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"
#include "payment.h"

static const char SQL_REFUNDS[] =
    "SELECT id, amount_cents, status, coalesce(reason, ''),"
    " (extract(epoch FROM created_at) * 1000)::int8,"
    " coalesce((extract(epoch FROM done_at) * 1000)::int8, 0),"
    " CASE WHEN status = 'failed' THEN last_error END"
    " FROM payment.refunds WHERE payment_id = $1 ORDER BY created_at, id LIMIT 100";

static int add_refunds(bp_call *call, bp_db *db, Bp__Payment__Payment *m, const char *id)
{
    const char *params[] = {id};
    PGresult *res = bp_db_exec_prepared(db, PAYMENT_STMT_REFUNDS, SQL_REFUNDS, 1, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return BP_EIO;
    }
    int n = PQntuples(res), rv = 0;
    m->refunds = n > 0 ? bp_arena_alloc(bp_call_arena(call), sizeof *m->refunds * (size_t)n) : NULL;
    for (int i = 0; i < n && rv == 0; i++) {
        Bp__Payment__Refund *r =
            (Bp__Payment__Refund *)bp_call_message(call, &bp__payment__refund__descriptor);
        if (m->refunds == NULL || r == NULL) {
            rv = BP_ENOMEM;
            break;
        }
        r->id = bp_call_strdup(call, PQgetvalue(res, i, 0));
        r->has_amount_cents = true;
        r->amount_cents = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        r->status = bp_call_strdup(call, PQgetvalue(res, i, 2));
        r->reason = *PQgetvalue(res, i, 3) ? bp_call_strdup(call, PQgetvalue(res, i, 3)) : NULL;
        r->created_at =
            bp_call_time(call, strtoll(PQgetvalue(res, i, 4), NULL, 10), payment_config.timezone);
        r->done_at =
            bp_call_time(call, strtoll(PQgetvalue(res, i, 5), NULL, 10), payment_config.timezone);
        r->last_error = PQgetisnull(res, i, 6) ? NULL : bp_call_strdup(call, PQgetvalue(res, i, 6));
        m->refunds[m->n_refunds++] = r;
    }
    PQclear(res);
    return rv;
}

Bp__Payment__Payment *payment_reply(bp_call *call, bp_db *db, const payment_row *p)
{
    Bp__Payment__Payment *m =
        (Bp__Payment__Payment *)bp_call_message(call, &bp__payment__payment__descriptor);
    if (m == NULL)
        return NULL;
    char display[64];
    m->id = bp_call_strdup(call, p->id);
    m->booking_id = bp_call_strdup(call, p->booking_id);
    m->client_id = *p->client_id ? bp_call_strdup(call, p->client_id) : NULL;
    m->status = bp_call_strdup(call, p->status);
    m->has_amount_cents = m->has_refunded_cents = true;
    m->amount_cents = p->amount_cents;
    m->refunded_cents = p->refunded_cents;
    m->currency = bp_call_strdup(call, p->currency);
    if (bp_money_format(p->amount_cents, p->currency, display, sizeof display) == 0)
        m->amount_display = bp_call_strdup(call, display);
    m->checkout_url = *p->checkout_url ? bp_call_strdup(call, p->checkout_url) : NULL;
    m->provider = bp_call_strdup(call, p->provider);
    m->method = bp_call_strdup(call, p->method);
    m->status_detail = *p->status_detail ? bp_call_strdup(call, p->status_detail) : NULL;
    m->expires_at = bp_call_time(call, p->expires_ms, payment_config.timezone);
    m->created_at = bp_call_time(call, p->created_ms, payment_config.timezone);
    m->approved_at = bp_call_time(call, p->approved_ms, payment_config.timezone);
    if (p->mp_payment_id > 0)
        m->mercadopago_payment_id = bp_call_printf(call, "%" PRId64, p->mp_payment_id);
    if (m->id == NULL || m->status == NULL || add_refunds(call, db, m, p->id) != 0)
        return NULL;
    return m;
}

int payment_replies(bp_call *call, bp_db *db, const PGresult *res, int n,
                    Bp__Payment__Payment ***items, size_t *n_items)
{
    *n_items = 0;
    *items = n > 0 ? bp_arena_alloc(bp_call_arena(call), sizeof **items * (size_t)n) : NULL;
    if (n > 0 && *items == NULL)
        return BP_ENOMEM;
    for (int i = 0; i < n; i++) {
        payment_row p;
        payment_row_read(res, i, &p);
        Bp__Payment__Payment *m = payment_reply(call, db, &p);
        if (m == NULL)
            return BP_EIO;
        (*items)[(*n_items)++] = m;
    }
    return 0;
}

int payment_answer(bp_call *call, Bp__Payment__PaymentReply *out, const payment_row *p)
{
    out->payment = payment_reply(call, bp_call_worker(call)->db, p);
    return out->payment != NULL ? 0 : bp_call_fail_internal(call, BP_EIO);
}

int payment_fail_mercadopago(bp_call *call)
{
    return bp_call_fail(call, 503, "unavailable", NULL,
                        "MercadoPago no responde en este momento; probá de nuevo en unos minutos.");
}

const char *payment_idempotency_key(bp_call *call)
{
    const char *k = bp_call_idempotency_key(call);
    return *k != '\0' ? k : NULL;
}
