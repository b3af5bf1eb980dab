/* Events the payment daemon consumes (bp.events.Event through Deliver),
 * each applied once inside the inbox transaction of bp_inbox_deliver:
 *   booking.cancelled with refund_due: the booking's MercadoPago payments
 *     are refunded (what is left of each), through the refunds queue; a
 *     manual payment is the shop's to hand back, and is only logged.
 *   booking.cancelled, booking.expired: a pending payment of the booking is
 *     looked up at once (reconcile.c), and cancelled once its checkout has
 *     expired with nothing paid.
 *   user.erasure_requested: the user's personal data leaves the payments
 *     (privacy.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inbox.h"
#include "jobs.h"
#include "log.h"
#include "payment.h"
#include "privacy.h"

static const char SQL_LOOK_NOW[] =
    "UPDATE payment.payments SET next_check_at = now()"
    " WHERE booking_id = $1 AND status = 'pending' AND provider = 'mercadopago'";

static const char SQL_PAID[] =
    "SELECT " PAYMENT_COLUMNS ", p.amount_cents - p.refunded_cents -"
    " (SELECT coalesce(sum(r.amount_cents), 0) FROM payment.refunds r"
    "  WHERE r.payment_id = p.id AND r.status = 'pending')"
    " FROM payment.payments p WHERE p.booking_id = $1"
    " AND p.status IN ('approved', 'partially_refunded') ORDER BY p.created_at FOR UPDATE";

/* Set by a handler whose refunds the job should ask for once committed. */
static _Thread_local bool refunds_queued;

static const Bp__Events__BookingEvent *booking_of(bp_call *call, const Bp__Events__Event *ev)
{
    const Bp__Events__BookingEvent *b = (const Bp__Events__BookingEvent *)bp_inbox_payload(
        call, ev, &bp__events__booking_event__descriptor);
    if (b != NULL && b->booking_id != NULL && bp_uuid_valid(b->booking_id))
        return b;
    bp_log(BP_LOG_WARN, bp_call_request_id(call), "event %s (%s): no usable booking id", ev->id,
           ev->topic);
    return NULL;
}

static int look_now(bp_call *call, bp_db *db, const char *booking_id)
{
    const char *params[] = {booking_id};
    PGresult *res = bp_db_query(db, SQL_LOOK_NOW, 1, params);
    int rv = bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
    PQclear(res);
    return rv;
}

static int refund_all(bp_call *call, bp_db *db, const Bp__Events__BookingEvent *b)
{
    const char *params[] = {b->booking_id};
    PGresult *res = bp_db_select(db, SQL_PAID, 1, params, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    int rv = 0;
    for (int i = 0; i < PQntuples(res) && rv == 0; i++) {
        payment_row p;
        payment_row_read(res, i, &p);
        int64_t left = strtoll(PQgetvalue(res, i, PQnfields(res) - 1), NULL, 10);
        if (left <= 0)
            continue;
        if (strcmp(p.provider, "manual") == 0) {
            bp_log(BP_LOG_INFO, bp_call_request_id(call),
                   "booking %s cancelled: manual payment %s (%" PRId64
                   " cents) is the shop's to hand back",
                   b->booking_id, p.id, left);
            continue;
        }
        char refund_id[37];
        payment_change change = {0};
        rv = payment_refund_queue(db, &p, left, "Devolución por cancelación del turno.", NULL, NULL,
                                  refund_id, &change);
        refunds_queued |= change.refund_queued;
    }
    PQclear(res);
    return rv;
}

static int on_cancelled(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    const Bp__Events__BookingEvent *b = booking_of(call, ev);
    if (b == NULL)
        return 0;
    int rv = look_now(call, db, b->booking_id);
    if (rv == 0 && b->refund_due)
        rv = refund_all(call, db, b);
    return rv;
}

static int on_expired(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    const Bp__Events__BookingEvent *b = booking_of(call, ev);
    return b == NULL ? 0 : look_now(call, db, b->booking_id);
}

static const bp_event_handler handlers[] = {
    {"booking.cancelled", on_cancelled},
    {"booking.expired", on_expired},
    {BP_ERASURE_TOPIC, payment_erase_user},
};

PAYMENT_HANDLER(deliver)
{
    refunds_queued = false;
    int rv = bp_inbox_deliver(call, req, resp, handlers, BP_COUNTOF(handlers));
    if (rv == 0 && refunds_queued)
        bp_jobs_kick(PAYMENT_JOB_REFUNDS);
    return rv;
}
