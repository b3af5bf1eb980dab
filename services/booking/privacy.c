/* What the booking daemon does for an account under Ley 25.326: ExportUser
 * gives auth everything booking holds about the caller, and the
 * user.erasure_requested event anonymises it. Bookings stay (accounting
 * needs them) without their client; provider profiles stay (other clients'
 * bookings point to them) without the person; shops stay (business records)
 * without a phone that may be the owner's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bookings.h"
#include "inbox.h"
#include "log.h"

/* What one export may hold. The reply travels in one bus message of at
 * most BP_RPC_MAX_MSG (4 MiB): a booking with 1000 characters of notes
 * packs to about 1.6 KB, so 2000 of them stay under 3.5 MB. An account
 * beyond a cap (or a reply beyond the message) is refused whole rather
 * than exported in part. */
#define EXPORT_MAX_BOOKINGS 2000
#define EXPORT_MAX_TIME_OFF 2000
#define EXPORT_MAX_PROFILES 200 /* shops, and provider profiles */
#define EXPORT_MAX_PACKED   (BP_RPC_MAX_MSG - 64u * 1024u)

/* The fixed texts an erasure leaves in place of the person. */
#define ERASED_PROVIDER_NAME "Profesional dado de baja"
#define ERASURE_REASON       "Cuenta eliminada a pedido del titular"

static int fail_too_large(bp_call *call)
{
    bp_log(BP_LOG_ERROR, bp_call_request_id(call),
           "ExportUser: the account holds more than one export carries");
    return bp_call_fail(call, 500, "export_too_large", NULL,
                        "Los datos de la cuenta superan lo que se puede exportar de una vez.");
}

BOOKING_HANDLER(export_user)
{
    (void)req;
    Bp__Booking__UserData *out = (Bp__Booking__UserData *)resp;
    const char *me = bp_call_user_id(call);
    if (!bp_uuid_valid(me))
        return bp_call_fail(call, 401, "unauthorized", NULL, "Tenés que iniciar sesión.");
    int rv =
        booking_bookings_of_client(call, me, EXPORT_MAX_BOOKINGS, &out->bookings, &out->n_bookings);
    if (rv == 0)
        rv = booking_providers_of_user(call, me, EXPORT_MAX_PROFILES, &out->providers,
                                       &out->n_providers);
    if (rv == 0)
        rv = booking_shops_of_owner(call, me, EXPORT_MAX_PROFILES, &out->shops, &out->n_shops);
    if (rv == 0)
        rv = booking_time_off_of_user(call, me, EXPORT_MAX_TIME_OFF, &out->time_off,
                                      &out->n_time_off);
    if (rv == 0 && protobuf_c_message_get_packed_size(&out->base) > EXPORT_MAX_PACKED)
        rv = BP_ETOOBIG;
    if (rv == BP_ETOOBIG)
        return fail_too_large(call);
    return rv == 0 ? 0 : bp_call_fail_internal(call, rv);
}

/* ---- erasure ------------------------------------------------------------------- */

/* The account's bookings that still hold a chair ahead: cancelled. */
static const char SQL_OPEN_AHEAD[] =
    "SELECT " BOOKING_ROW_COLUMNS " FROM booking.bookings b" BOOKING_ROW_JOINS
    " WHERE b.client_id = $1 AND b.status IN ('pending_payment', 'confirmed')"
    " AND b.starts_at > now() ORDER BY b.starts_at, b.id FOR UPDATE OF b";

/* The events already delivered about the account's bookings, or about any
 * booking of its provider profiles, carry its id, its cancel reasons and
 * its name as a provider: retention would delete them within a week, the
 * erasure does now. Pending rows stay: their consumers still need them
 * (they erase on their own from the same request). */
static const char SQL_DELIVERED_EVENTS[] =
    "DELETE FROM booking.outbox o WHERE o.delivered_at IS NOT NULL AND o.key IN"
    " (SELECT b.id::text FROM booking.bookings b WHERE b.client_id = $1"
    "  OR b.provider_id IN (SELECT p.id FROM booking.providers p WHERE p.user_id = $1))";

/* Notes and the reasons a person wrote go; the daemon's own fixed reasons
 * (cancelled_by system) stay, they say why the chair was freed. */
static const char SQL_BOOKINGS[] =
    "UPDATE booking.bookings SET client_id = NULL, notes = NULL, idempotency_key = NULL,"
    " cancel_reason = CASE WHEN cancelled_by = 'system' THEN cancel_reason END,"
    " updated_at = now() WHERE client_id = $1";

/* Before the profiles lose their user_id, which finds them. created_by
 * names who entered a time off, a price or a holiday: the link goes. */
static const char SQL_TIME_OFF[] =
    "UPDATE booking.time_off t SET"
    " reason = CASE WHEN p.user_id = $1 THEN NULL ELSE t.reason END,"
    " created_by = CASE WHEN t.created_by = $1 THEN NULL ELSE t.created_by END"
    " FROM booking.providers p WHERE p.id = t.provider_id"
    " AND ((p.user_id = $1 AND t.reason IS NOT NULL) OR t.created_by = $1)";

static const char SQL_PRICES[] =
    "UPDATE booking.service_prices SET created_by = NULL WHERE created_by = $1";

static const char SQL_HOLIDAYS[] =
    "UPDATE booking.holidays SET created_by = NULL WHERE created_by = $1";

static const char SQL_PROVIDERS[] =
    "UPDATE booking.providers SET name = $2, email = NULL, phone = NULL, user_id = NULL,"
    " active = false WHERE user_id = $1 RETURNING id::text, shop_id::text";

static const char SQL_SHOPS[] = "UPDATE booking.shops SET phone = NULL, updated_at = now()"
                                " WHERE owner_id = $1 AND phone IS NOT NULL";

/* Cancels the account's open bookings ahead, as the system, through the
 * one cancellation path (booking.cancelled goes out, with refund_due as
 * for any cancellation by the shop side). Counts them into *n. */
static int cancel_ahead(bp_call *call, bp_db *db, const char *user_id, int *n)
{
    const char *params[] = {user_id};
    PGresult *res = bp_db_select(db, SQL_OPEN_AHEAD, 1, params, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    int rv = 0;
    *n = PQntuples(res);
    for (int i = 0; rv == 0 && i < *n; i++) {
        booking_row b;
        PGresult *cancelled;
        booking_row_read(res, i, 0, &b);
        rv = booking_cancel_locked(db, &b, BOOKING_ACTOR_SYSTEM, ERASURE_REASON, &cancelled);
        PQclear(cancelled);
        if (rv == 0)
            rv = booking_event_drop_later(call, BOOKING_CACHE_AVAIL, b.provider_id);
    }
    PQclear(res);
    return rv;
}

/* Runs one statement of the erasure; *n (may be NULL) gets its row count. */
static int run(bp_call *call, bp_db *db, const char *sql, int nparams, const char *const *params,
               int *n)
{
    PGresult *res = bp_db_select(db, sql, nparams, params, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    if (n != NULL)
        *n = (int)strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

/* Anonymises the provider profiles of the account, and drops the caches
 * that show them (their shop's provider list, their week and slots). */
static int erase_profiles(bp_call *call, bp_db *db, const char *user_id, int *n)
{
    const char *params[] = {user_id, ERASED_PROVIDER_NAME};
    PGresult *res = bp_db_select(db, SQL_PROVIDERS, 2, params, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    int rv = 0;
    *n = PQntuples(res);
    for (int i = 0; rv == 0 && i < *n; i++) {
        const char *provider = PQgetvalue(res, i, 0);
        rv = booking_event_drop_later(call, BOOKING_CACHE_PROVIDERS, PQgetvalue(res, i, 1));
        if (rv == 0)
            rv = booking_event_drop_later(call, BOOKING_CACHE_SCHEDULE, provider);
        if (rv == 0)
            rv = booking_event_drop_later(call, BOOKING_CACHE_AVAIL, provider);
    }
    PQclear(res);
    return rv;
}

int booking_erase_user(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    const Bp__Events__UserEvent *u = (const Bp__Events__UserEvent *)bp_inbox_payload(
        call, ev, &bp__events__user_event__descriptor);
    if (u == NULL || u->user_id == NULL || !bp_uuid_valid(u->user_id)) {
        /* Never applicable, however often it comes: acknowledge it. */
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "event %s (%s): no usable user id", ev->id,
               ev->topic);
        return 0;
    }
    const char *params[] = {u->user_id};
    int cancelled = 0, bookings = 0, profiles = 0, shops = 0;
    int rv = cancel_ahead(call, db, u->user_id, &cancelled);
    if (rv == 0)
        rv = run(call, db, SQL_DELIVERED_EVENTS, 1, params, NULL);
    if (rv == 0)
        rv = run(call, db, SQL_BOOKINGS, 1, params, &bookings);
    if (rv == 0)
        rv = run(call, db, SQL_TIME_OFF, 1, params, NULL);
    if (rv == 0)
        rv = run(call, db, SQL_PRICES, 1, params, NULL);
    if (rv == 0)
        rv = run(call, db, SQL_HOLIDAYS, 1, params, NULL);
    if (rv == 0)
        rv = erase_profiles(call, db, u->user_id, &profiles);
    if (rv == 0)
        rv = run(call, db, SQL_SHOPS, 1, params, &shops);
    if (rv == 0)
        bp_log(BP_LOG_INFO, bp_call_request_id(call),
               "erasure (request %s): %d bookings cancelled, %d anonymised, %d provider "
               "profiles, %d shop phones",
               u->request_id != NULL ? u->request_id : "?", cancelled, bookings, profiles, shops);
    return rv;
}
