/* Payment rows: reading them, moving their status (forward only, state.h)
 * and announcing each move through the outbox in the same transaction. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.pb-c.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "mp.h"
#include "outbox.h"
#include "payment.h"
#include "state.h"

static int64_t int_at(const PGresult *res, int i, int col)
{
    return strtoll(PQgetvalue(res, i, col), NULL, 10);
}

void payment_row_read(const PGresult *res, int i, payment_row *p)
{
    p->id = PQgetvalue(res, i, 0);
    p->booking_id = PQgetvalue(res, i, 1);
    p->client_id = PQgetvalue(res, i, 2);
    p->provider = PQgetvalue(res, i, 3);
    p->method = PQgetvalue(res, i, 4);
    p->status = PQgetvalue(res, i, 5);
    p->status_detail = PQgetvalue(res, i, 6);
    p->amount_cents = int_at(res, i, 7);
    p->refunded_cents = int_at(res, i, 8);
    p->currency = PQgetvalue(res, i, 9);
    p->checkout_url = PQgetvalue(res, i, 10);
    p->preference_id = PQgetvalue(res, i, 11);
    p->expires_ms = int_at(res, i, 12);
    p->created_ms = int_at(res, i, 13);
    p->approved_ms = int_at(res, i, 14);
    p->mp_payment_id = int_at(res, i, 15);
    p->created_by = PQgetvalue(res, i, 16);
    p->shop_id = PQgetvalue(res, i, 17);
    p->description = PQgetvalue(res, i, 18);
}

PGresult *payment_select(bp_db *db, const char *id, bool lock, int *rv)
{
    const char *params[] = {id};
    PGresult *res = lock
                        ? bp_db_exec_prepared(db, PAYMENT_STMT_SELECT_LOCKED,
                                              "SELECT " PAYMENT_COLUMNS
                                              " FROM payment.payments p WHERE p.id = $1 FOR UPDATE",
                                              1, params)
                        : bp_db_exec_prepared(db, PAYMENT_STMT_SELECT,
                                              "SELECT " PAYMENT_COLUMNS
                                              " FROM payment.payments p WHERE p.id = $1",
                                              1, params);
    if (!bp_db_ok(res, NULL)) {
        PQclear(res);
        *rv = BP_EIO;
        return NULL;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        *rv = BP_ENOTFOUND;
        return NULL;
    }
    *rv = 0;
    return res;
}

void payment_count(const payment_change *c)
{
    if (!c->changed)
        return;
    char provider[40], status[48], labels[128];
    bp_metrics_escape(c->provider, provider, sizeof provider);
    bp_metrics_escape(c->status, status, sizeof status);
    snprintf(labels, sizeof labels, "provider=\"%s\",status=\"%s\"", provider, status);
    bp_counter_add(bp_metrics_counter("payments_total",
                                      "Payments that reached a status, by provider and status",
                                      labels),
                   1);
}

int64_t payment_backoff_ms(int attempts)
{
    return bp_backoff_ms(payment_config.backoff_ms, payment_config.backoff_max_ms, attempts - 1);
}

static const char SQL_SET_STATUS[] =
    "UPDATE payment.payments SET status = $2, refunded_cents = $3::int8,"
    " method = coalesce($4, method), status_detail = coalesce($5, status_detail),"
    " mp_payment_id = coalesce($6::int8, mp_payment_id),"
    " approved_at = CASE WHEN $2 IN ('approved', 'partially_refunded', 'refunded')"
    "   THEN coalesce(approved_at, now()) ELSE approved_at END,"
    " refunded_at = CASE WHEN $3::int8 > refunded_cents THEN now() ELSE refunded_at END,"
    " next_check_at = CASE WHEN $2 = 'pending' THEN next_check_at END,"
    " updated_at = now() WHERE id = $1";

int payment_set_status(bp_db *db, const payment_row *p, const char *status, int64_t refunded_cents,
                       const char *method, const char *status_detail, int64_t mp_payment_id,
                       payment_change *change)
{
    char refunded[24], mp_id[24];
    snprintf(refunded, sizeof refunded, "%" PRId64, refunded_cents);
    snprintf(mp_id, sizeof mp_id, "%" PRId64, mp_payment_id);
    const char *params[] = {p->id,
                            status,
                            refunded,
                            method != NULL && *method != '\0' ? method : NULL,
                            status_detail != NULL && *status_detail != '\0' ? status_detail : NULL,
                            mp_payment_id > 0 ? mp_id : NULL};
    PGresult *res = bp_db_query(db, SQL_SET_STATUS, 6, params);
    int rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    PQclear(res);
    if (rv != 0)
        return rv;

    change->changed = true;
    snprintf(change->provider, sizeof change->provider, "%s", p->provider);
    snprintf(change->status, sizeof change->status, "%s", status);
    const char *topic = payment_topic(status);
    if (topic == NULL)
        return 0;
    Bp__Events__PaymentEvent ev = BP__EVENTS__PAYMENT_EVENT__INIT;
    ev.payment_id = (char *)p->id;
    ev.booking_id = (char *)p->booking_id;
    ev.status = (char *)status;
    ev.has_amount_cents = ev.has_refunded_cents = true;
    ev.amount_cents = p->amount_cents;
    ev.refunded_cents = refunded_cents;
    ev.currency = (char *)p->currency;
    ev.method = (char *)(method != NULL && *method != '\0' ? method : p->method);
    /* Keyed by booking: its consumers see one booking's payments in order. */
    return bp_outbox_put(db, topic, p->booking_id, (const ProtobufCMessage *)&ev, NULL);
}

static const char SQL_ATTEMPT[] =
    "INSERT INTO payment.attempts (mp_payment_id, payment_id, status, status_detail, rank, method,"
    " amount_cents, refunded_cents, currency, mismatch, approved_at)"
    " VALUES ($1::int8, $2, $3, $4, $5::int, $6, $7::int8, $8::int8, $9, $10,"
    " CASE WHEN $11::int8 > 0 THEN to_timestamp($11::int8 / 1000.0) END)"
    " ON CONFLICT (mp_payment_id) DO UPDATE SET status = EXCLUDED.status,"
    " status_detail = EXCLUDED.status_detail, rank = EXCLUDED.rank, method = EXCLUDED.method,"
    " refunded_cents = EXCLUDED.refunded_cents,"
    " approved_at = coalesce(attempts.approved_at, EXCLUDED.approved_at), updated_at = now()"
    " WHERE attempts.payment_id = EXCLUDED.payment_id AND (EXCLUDED.rank > attempts.rank"
    " OR (EXCLUDED.rank = attempts.rank AND EXCLUDED.refunded_cents > attempts.refunded_cents))";

static const char SQL_ATTEMPTS[] =
    "SELECT status, refunded_cents, coalesce(method, ''), coalesce(status_detail, ''),"
    " mp_payment_id FROM payment.attempts WHERE payment_id = $1 AND mismatch IS NULL"
    " ORDER BY first_seen_at, mp_payment_id LIMIT 32";

/* Another payment of the booking already brought its money in: this one is
 * paid twice, and goes back to the buyer. */
static const char SQL_PAID_BEFORE[] =
    "SELECT 1 FROM payment.payments WHERE booking_id = $1 AND id <> $2"
    " AND status IN ('approved', 'partially_refunded') LIMIT 1";

static int record_attempt(bp_db *db, const char *rid, const payment_row *p, const mp_payment *mp,
                          int rank)
{
    const char *mismatch = NULL;
    if (strcmp(mp->currency, p->currency) != 0)
        mismatch = "currency";
    else if (mp->amount_cents != p->amount_cents)
        mismatch = "amount";
    if (mismatch != NULL)
        bp_log(BP_LOG_ERROR, rid,
               "MercadoPago payment %" PRId64 " for payment %s: %s differs (%" PRId64
               " %s, expected %" PRId64 " %s); it does not count",
               mp->id, p->id, mismatch, mp->amount_cents, mp->currency, p->amount_cents,
               p->currency);
    char id[24], rk[12], amount[24], refunded[24], approved[24];
    snprintf(id, sizeof id, "%" PRId64, mp->id);
    snprintf(rk, sizeof rk, "%d", rank);
    snprintf(amount, sizeof amount, "%" PRId64, mp->amount_cents);
    snprintf(refunded, sizeof refunded, "%" PRId64, mp->refunded_cents);
    snprintf(approved, sizeof approved, "%" PRId64, mp->approved_ms);
    const char *params[] = {id,     p->id,    mp->status,   mp->status_detail, rk,      mp->method,
                            amount, refunded, mp->currency, mismatch,          approved};
    PGresult *res = bp_db_query(db, SQL_ATTEMPT, 11, params);
    int rv = bp_db_ok(res, rid) ? 0 : BP_EIO;
    PQclear(res);
    return rv;
}

int payment_rederive(bp_db *db, const char *rid, const payment_row *p, payment_change *change)
{
    const char *params[] = {p->id};
    PGresult *res = bp_db_select(db, SQL_ATTEMPTS, 1, params, rid);
    if (res == NULL)
        return BP_EIO;
    payment_attempt a[32];
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        a[i].status = PQgetvalue(res, i, 0);
        a[i].refunded_cents = int_at(res, i, 1);
    }
    int64_t refunded;
    int chosen;
    const char *next = payment_derive(a, n, p->amount_cents, &refunded, &chosen);
    int rv = 0;
    if (next != NULL && payment_moves(p->status, p->refunded_cents, next, refunded)) {
        bp_log(BP_LOG_INFO, rid, "payment %s: %s -> %s", p->id, p->status, next);
        rv = payment_set_status(db, p, next, refunded, PQgetvalue(res, chosen, 2),
                                PQgetvalue(res, chosen, 3), int_at(res, chosen, 4), change);
    }
    PQclear(res);
    if (rv != 0 || next == NULL || strcmp(next, "approved") != 0 || !change->changed)
        return rv;

    const char *dup[] = {p->booking_id, p->id};
    res = bp_db_query(db, SQL_PAID_BEFORE, 2, dup);
    if (!bp_db_ok(res, rid))
        rv = BP_EIO;
    else if (PQntuples(res) > 0) {
        bp_log(BP_LOG_WARN, rid, "payment %s: booking %s was already paid; refunding this one",
               p->id, p->booking_id);
        char refund_id[37];
        payment_row now = *p;
        now.status = "approved";
        rv = payment_refund_queue(db, &now, p->amount_cents,
                                  "Pago duplicado: el turno ya estaba pagado.", NULL, NULL,
                                  refund_id, change);
    }
    PQclear(res);
    return rv;
}

int payment_apply(bp_db *db, const char *rid, const mp_payment *mp, payment_change *change)
{
    if (!bp_uuid_valid(mp->external_reference)) {
        bp_log(BP_LOG_WARN, rid,
               "MercadoPago payment %" PRId64 " is not one of ours (reference %s)", mp->id,
               mp->external_reference);
        return 0;
    }
    int rank = payment_mp_rank(mp->status);
    if (rank < 0) {
        bp_log(BP_LOG_WARN, rid, "MercadoPago payment %" PRId64 ": unknown status %s", mp->id,
               mp->status);
        return 0;
    }
    int rv;
    PGresult *res = payment_select(db, mp->external_reference, true, &rv);
    if (rv == BP_ENOTFOUND) {
        bp_log(BP_LOG_WARN, rid, "MercadoPago payment %" PRId64 ": no payment %s here", mp->id,
               mp->external_reference);
        return 0;
    }
    if (rv != 0)
        return rv;
    payment_row p;
    payment_row_read(res, 0, &p);
    if (strcmp(p.provider, "mercadopago") != 0) {
        bp_log(BP_LOG_WARN, rid, "MercadoPago payment %" PRId64 " names manual payment %s", mp->id,
               p.id);
    } else if ((rv = record_attempt(db, rid, &p, mp, rank)) == 0) {
        rv = payment_rederive(db, rid, &p, change);
    }
    PQclear(res);
    return rv;
}

int payment_end(bp_db *db, int rv, const payment_change *change)
{
    if (rv == 0)
        rv = bp_db_commit(db);
    else
        bp_db_rollback(db);
    if (rv != 0)
        return rv;
    payment_count(change);
    bp_relay_kick();
    if (change->refund_queued)
        bp_jobs_kick(PAYMENT_JOB_REFUNDS);
    return 0;
}

int payment_apply_tx(bp_db *db, const char *rid, const mp_payment *mp)
{
    payment_change change = {0};
    int rv = bp_db_begin(db);
    if (rv == 0)
        rv = payment_apply(db, rid, mp, &change);
    return payment_end(db, rv, &change);
}
