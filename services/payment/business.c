/* The payment daemon's business figures (GET /api/business-metrics), read
 * from its schema at each scrape: the payments by status, how many and for
 * how much. */
#include <stdlib.h>

#include "payment.h"
#include "prom.h"

/* Every status the table's CHECK allows, each reported even at 0; a status
 * added later shows up too (the FULL JOIN). An index-only scan of
 * payments_status_idx (migrations/payment/0002). */
static const char SQL_BY_STATUS[] =
    "SELECT status, coalesce(c.n, 0), coalesce(c.cents, 0)"
    " FROM (VALUES ('pending'), ('approved'), ('rejected'), ('cancelled'), ('refunded'),"
    " ('partially_refunded'), ('charged_back')) AS k (status)"
    " FULL JOIN (SELECT status, count(*) AS n, sum(amount_cents) AS cents"
    "  FROM payment.payments GROUP BY status) AS c USING (status) ORDER BY status";

int payment_business_metrics(bp_call *call, bp_strbuf *out)
{
    PGresult *res =
        bp_db_select(bp_call_worker(call)->db, SQL_BY_STATUS, 0, NULL, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    static const char *const status[] = {"status", NULL};
    bp_prom_rows(out, "barberpro_business_payments", "gauge",
                 "Payments (MercadoPago checkouts and manual records) by current status.", res,
                 status, 1);
    bp_prom_rows(out, "barberpro_business_payments_amount_ars_cents", "gauge",
                 "Amount of the payments in ARS centavos by current status: what each one asked "
                 "for, refunds not subtracted.",
                 res, status, 2);
    PQclear(res);
    return 0;
}
