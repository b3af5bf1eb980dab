/* Who may do what: an owner manages their own shop, a provider's linked
 * account its own schedule and bookings, an admin everything. */
#include <string.h>

#include "booking.h"

bool booking_is_admin(bp_call *call)
{
    return strcmp(bp_call_role(call), "admin") == 0;
}

int booking_require_shop_owner(bp_call *call, const char *shop_id)
{
    if (!bp_call_check_uuid(call, "shop_id", shop_id))
        return BP_EREPLIED;
    const char *params[] = {shop_id};
    PGresult *res = bp_db_query(bp_call_worker(call)->db,
                                "SELECT owner_id FROM booking.shops WHERE id = $1", 1, params);
    int rv;
    if (!bp_db_ok(res, bp_call_request_id(call)))
        rv = bp_call_fail_internal(call, BP_EIO);
    else if (PQntuples(res) == 0)
        rv = bp_call_fail_not_found(call, "El local");
    else if (booking_is_admin(call) || strcmp(PQgetvalue(res, 0, 0), bp_call_user_id(call)) == 0)
        rv = 0;
    else
        rv = bp_call_fail_forbidden(call);
    PQclear(res);
    return rv;
}

int booking_require_provider_manager(bp_call *call, const char *provider_id, char *shop_id_out)
{
    if (!bp_call_check_uuid(call, "provider_id", provider_id))
        return BP_EREPLIED;
    const char *params[] = {provider_id};
    PGresult *res = bp_db_query(bp_call_worker(call)->db,
                                "SELECT p.shop_id, s.owner_id, coalesce(p.user_id::text, '') "
                                "FROM booking.providers p JOIN booking.shops s ON s.id = p.shop_id "
                                "WHERE p.id = $1",
                                1, params);
    int rv;
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        rv = bp_call_fail_internal(call, BP_EIO);
    } else if (PQntuples(res) == 0) {
        rv = bp_call_fail_not_found(call, "El profesional");
    } else {
        const char *me = bp_call_user_id(call);
        bool allowed = booking_is_admin(call) || strcmp(PQgetvalue(res, 0, 1), me) == 0 ||
                       (*me != '\0' && strcmp(PQgetvalue(res, 0, 2), me) == 0);
        rv = allowed ? 0 : bp_call_fail_forbidden(call);
        if (rv == 0 && shop_id_out != NULL)
            memcpy(shop_id_out, PQgetvalue(res, 0, 0), 37);
    }
    PQclear(res);
    return rv;
}
