/* Reconciliation: a webhook can be lost (our gateway down, a network cut,
 * MercadoPago giving up), so every pending MercadoPago payment is looked up
 * by its external_reference at least every PAYMENT_RECONCILE_INTERVAL_MS
 * until it settles. Once its checkout has expired (the booking's hold) and
 * a last look two intervals later finds nothing, it is cancelled here; a
 * payment MercadoPago still approves afterwards moves it on to approved
 * (state.h), and the booking daemon decides what a late payment gets. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mp.h"
#include "payment.h"

#define MAX_ATTEMPTS 16

static const char SQL_DUE[] = "SELECT id FROM payment.payments"
                              " WHERE status = 'pending' AND provider = 'mercadopago'"
                              " AND next_check_at <= now() ORDER BY next_check_at LIMIT 50";

/* The next look, or the end: cancelled when expired with nothing found. */
static const char SQL_NEXT[] =
    "UPDATE payment.payments SET"
    " status = CASE WHEN $3 AND expires_at + 2 * $2::int8 * interval '1 millisecond' < now()"
    "   THEN 'cancelled' ELSE status END,"
    " next_check_at = CASE WHEN $3 AND expires_at + 2 * $2::int8 * interval '1 millisecond' < now()"
    "   THEN NULL ELSE now() + $2::int8 * interval '1 millisecond' END,"
    " updated_at = now()"
    " WHERE id = $1 AND status = 'pending' RETURNING status";

static int look_up(bp_db *db, const char *id)
{
    mp_payment found[MAX_ATTEMPTS];
    size_t n = 0;
    int rv = mp_search_payments(&payment_config, NULL, id, found, MAX_ATTEMPTS, &n);
    for (size_t i = 0; rv == 0 && i < n; i++)
        rv = payment_apply_tx(db, NULL, &found[i]);
    if (rv == BP_EIO)
        return rv;
    /* Only a search that answered may end the payment. */
    char interval[24];
    snprintf(interval, sizeof interval, "%d", payment_config.reconcile_interval_ms);
    const char *params[] = {id, interval, rv == 0 ? "true" : "false"};
    PGresult *res = bp_db_query(db, SQL_NEXT, 3, params);
    int err = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    if (err == 0 && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "cancelled") == 0) {
        bp_log_info("payment %s expired unpaid: cancelled", id);
        payment_change c = {.changed = true, .provider = "mercadopago", .status = "cancelled"};
        payment_count(&c);
    }
    PQclear(res);
    return err != 0 ? err : rv == BP_EUNAVAIL ? rv : 0;
}

int payment_reconcile(bp_db *db, bp_kv *kv)
{
    (void)kv;
    PGresult *res = bp_db_select(db, SQL_DUE, 0, NULL, NULL);
    if (res == NULL)
        return BP_EIO;
    /* Once MercadoPago fails, the rest wait for the next round (one timeout
     * per round, not one per payment). */
    int rv = 0;
    for (int i = 0; i < PQntuples(res) && rv == 0; i++)
        rv = look_up(db, PQgetvalue(res, i, 0));
    PQclear(res);
    return rv == BP_EUNAVAIL ? 0 : rv;
}
