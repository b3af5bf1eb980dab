/* The auth daemon's business figures (GET /api/business-metrics), read from
 * its schema at each scrape: registrations ever made and the live accounts
 * by role. Accounts are never deleted (an erasure empties the row and keeps
 * it), so the count of rows only grows. */
#include <stdlib.h>

#include "auth.h"
#include "bp.h"
#include "db.h"
#include "prom.h"

/* Every role the table's CHECK allows, each reported even at 0; a role
 * added later shows up too (the FULL JOIN). An index-only scan of
 * users_role_idx (migrations/auth/0002). */
static const char SQL_BY_ROLE[] =
    "select role, coalesce(c.live, 0), coalesce(c.every, 0)"
    " from (values ('client'), ('owner'), ('provider'), ('admin')) as k (role)"
    " full join (select role, count(*) filter (where erased_at is null) as live,"
    "  count(*) as every from auth.users group by role) as c using (role) order by role";

static const char SQL_ERASURES[] =
    "select count(*), count(*) filter (where deadline < now()) from auth.data_requests"
    " where status <> 'done' and kind = 'erasure'";

int auth_business_metrics(bp_call *call, bp_strbuf *out)
{
    PGresult *res =
        bp_db_select(bp_call_worker(call)->db, SQL_BY_ROLE, 0, NULL, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    static const char *const role[] = {"role", NULL};
    bp_prom_rows(out, "barberpro_business_users", "gauge", "Accounts not erased, by current role.",
                 res, role, 1);
    int64_t every = 0;
    for (int i = 0; i < PQntuples(res); i++)
        every += strtoll(PQgetvalue(res, i, 2), NULL, 10);
    bp_prom_single(out, "barberpro_business_registrations_total", "counter",
                   "Accounts ever created (sign-ups, invited barbers and operators), erased "
                   "ones included.",
                   every);
    PQclear(res);

    /* Erasures still running, and those past the law's deadline (an
     * alert): from the partial index data_requests_open_idx. */
    res = bp_db_select(bp_call_worker(call)->db, SQL_ERASURES, 0, NULL, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    static const bp_prom_column cols[] = {
        {"barberpro_business_erasures_open", "gauge",
         "Erasure requests (Ley 25.326) not yet completed by every service."},
        {"barberpro_business_erasures_overdue", "gauge",
         "Erasure requests past their deadline of 5 business days."},
    };
    bp_prom_columns(out, res, cols, BP_COUNTOF(cols));
    PQclear(res);
    return 0;
}
