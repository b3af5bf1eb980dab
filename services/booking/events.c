/* Events the booking daemon consumes (bp.events.Event through Deliver):
 * payment.approved confirms a booking held for its deposit,
 * payment.refunded records the refund, and user.erasure_requested
 * anonymises an account's data (privacy.c). Each runs inside the inbox
 * transaction of bp_inbox_deliver, so a redelivered event changes nothing.
 *
 * A payment that arrives after its hold lapsed (the booking is expired) is
 * still honoured when it can be: the booking is confirmed if its chair is
 * free and its start has not passed, and the exclusion constraint decides
 * whether it is free. Otherwise, and for a booking cancelled before its
 * payment arrived, the booking ends cancelled by the system with
 * refund_due = true, and booking.cancelled tells the payment daemon to
 * refund and the notification daemon to tell the client why. */
#include <string.h>

#include "bookings.h"
#include "cache.h"
#include "inbox.h"
#include "log.h"
#include "outbox.h"
#include "privacy.h"

#define UPDATE_JOINS                                                                               \
    " FROM booking.shops sh, booking.services s, booking.providers p"                              \
    " WHERE b.id = $1 AND sh.id = b.shop_id AND s.id = b.service_id AND p.id = b.provider_id"

static const char SQL_LOCK[] =
    "SELECT " BOOKING_ROW_COLUMNS " FROM booking.bookings b" BOOKING_ROW_JOINS
    " WHERE b.id = $1 FOR UPDATE OF b";

static const char SQL_CONFIRM[] =
    "UPDATE booking.bookings b SET status = 'confirmed', hold_expires_at = NULL,"
    " paid_at = now(), payment_id = $2, updated_at = now()" UPDATE_JOINS
    " RETURNING " BOOKING_ROW_COLUMNS;

static const char SQL_REFUND_DUE[] =
    "UPDATE booking.bookings b SET status = 'cancelled',"
    " cancelled_by = coalesce(b.cancelled_by, 'system'),"
    " cancel_reason = coalesce(b.cancel_reason, $3),"
    " cancelled_at = coalesce(b.cancelled_at, now()), refund_due = true,"
    " paid_at = now(), payment_id = $2, updated_at = now()" UPDATE_JOINS
    " RETURNING " BOOKING_ROW_COLUMNS;

/* Only the refund of the payment the booking counts as its own: a second
 * payment refunded as a duplicate leaves the booking paid. */
static const char SQL_REFUNDED[] =
    "UPDATE booking.bookings SET refund_due = false, refunded_at = now(),"
    " refunded_cents = $2::int8, updated_at = now()"
    " WHERE id = $1 AND payment_id IS NOT DISTINCT FROM $3";

/* Caches a committed event changed: dropped by the Deliver handler once
 * bp_inbox_deliver has committed (a drop before the commit could be undone
 * by a fill that read the old state). The entries live in the call's
 * arena; the list is emptied at the start of every Deliver. */
typedef struct {
    booking_cache_kind kind;
    char id[37];
} cache_drop;

static _Thread_local struct {
    cache_drop *items;
    size_t n, cap;
} drops;

int booking_event_drop_later(bp_call *call, booking_cache_kind kind, const char *id)
{
    for (size_t i = 0; i < drops.n; i++)
        if (drops.items[i].kind == kind && strcmp(drops.items[i].id, id) == 0)
            return 0;
    if (drops.n == drops.cap) {
        size_t cap = drops.cap == 0 ? 8 : drops.cap * 2;
        cache_drop *grown = bp_arena_alloc(bp_call_arena(call), sizeof *grown * cap);
        if (grown == NULL)
            return BP_ENOMEM;
        if (drops.n > 0)
            memcpy(grown, drops.items, sizeof *grown * drops.n);
        drops.items = grown;
        drops.cap = cap;
    }
    drops.items[drops.n].kind = kind;
    snprintf(drops.items[drops.n].id, sizeof drops.items[drops.n].id, "%s", id);
    drops.n++;
    return 0;
}

static const Bp__Events__PaymentEvent *payment_of(bp_call *call, const Bp__Events__Event *ev)
{
    const Bp__Events__PaymentEvent *p = (const Bp__Events__PaymentEvent *)bp_inbox_payload(
        call, ev, &bp__events__payment_event__descriptor);
    if (p != NULL && p->booking_id != NULL && bp_uuid_valid(p->booking_id))
        return p;
    /* Never applicable, however often it comes: acknowledge it. */
    bp_log(BP_LOG_WARN, bp_call_request_id(call), "event %s (%s): no usable booking id", ev->id,
           ev->topic);
    return NULL;
}

/* Runs an UPDATE ... RETURNING BOOKING_ROW_COLUMNS and emits topic about the
 * new row. *taken is set (and the statement's effect undone through the
 * savepoint the caller made) on an exclusion violation. */
static int update_emit(bp_db *db, const char *sql, int n, const char *const *params,
                       const char *topic, bool *taken)
{
    PGresult *res = bp_db_query(db, sql, n, params);
    int rv = 0;
    if (taken != NULL && bp_db_sqlstate(res, "23P01")) {
        *taken = true;
        PQclear(res);
        return 0;
    }
    if (!bp_db_ok(res, NULL) || PQntuples(res) != 1) {
        rv = BP_EIO;
    } else {
        booking_row b;
        booking_row_read(res, 0, 0, &b);
        rv = booking_emit(db, topic, &b, NULL);
    }
    PQclear(res);
    return rv;
}

static int simple(bp_db *db, const char *sql)
{
    PGresult *r = bp_db_query(db, sql, 0, NULL);
    int rv = bp_db_ok(r, NULL) ? 0 : BP_EIO;
    PQclear(r);
    return rv;
}

static int on_payment_approved(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    const Bp__Events__PaymentEvent *pay = payment_of(call, ev);
    if (pay == NULL)
        return 0;
    const char *payment_id = pay->payment_id != NULL && *pay->payment_id ? pay->payment_id : NULL;
    const char *lock[] = {pay->booking_id};
    PGresult *res = bp_db_select(db, SQL_LOCK, 1, lock, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    if (PQntuples(res) != 1) {
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "payment for unknown booking %s",
               pay->booking_id);
        PQclear(res);
        return 0;
    }
    booking_row b;
    booking_row_read(res, 0, 0, &b);
    char status[16], provider[37];
    snprintf(status, sizeof status, "%s", b.status);
    snprintf(provider, sizeof provider, "%s", b.provider_id);
    bool started = b.starts_ms <= bp_now_ms();
    PQclear(res);

    const char *confirm[] = {pay->booking_id, payment_id};
    if (strcmp(status, "pending_payment") == 0)
        return update_emit(db, SQL_CONFIRM, 2, confirm, "booking.confirmed", NULL);
    if (strcmp(status, "expired") == 0 && !started) {
        /* The chair may have gone to someone else meanwhile: try, and let
         * the constraint say no without aborting the inbox transaction. */
        bool taken = false;
        int rv = booking_lock_provider(db, provider);
        if (rv == 0)
            rv = simple(db, "SAVEPOINT late_payment");
        if (rv == 0)
            rv = update_emit(db, SQL_CONFIRM, 2, confirm, "booking.confirmed", &taken);
        if (rv != 0)
            return rv;
        if (!taken) {
            rv = booking_event_drop_later(call, BOOKING_CACHE_AVAIL, provider);
            return rv != 0 ? rv : simple(db, "RELEASE SAVEPOINT late_payment");
        }
        if ((rv = simple(db, "ROLLBACK TO SAVEPOINT late_payment")) != 0)
            return rv;
    }
    if (strcmp(status, "expired") == 0 || strcmp(status, "cancelled") == 0) {
        const char *refund[] = {pay->booking_id, payment_id,
                                strcmp(status, "expired") == 0
                                    ? "El pago llegó después de vencida la reserva y el "
                                      "horario ya no está disponible."
                                    : "El pago llegó después de cancelado el turno."};
        return update_emit(db, SQL_REFUND_DUE, 3, refund, "booking.cancelled", NULL);
    }
    /* confirmed, completed, no_show: this payment is already accounted for. */
    return 0;
}

static int on_payment_refunded(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    const Bp__Events__PaymentEvent *pay = payment_of(call, ev);
    if (pay == NULL)
        return 0;
    char cents[24];
    snprintf(cents, sizeof cents, "%lld",
             (long long)(pay->has_refunded_cents ? pay->refunded_cents : pay->amount_cents));
    const char *params[] = {pay->booking_id, cents,
                            pay->payment_id != NULL && *pay->payment_id ? pay->payment_id : NULL};
    PGresult *res = bp_db_query(db, SQL_REFUNDED, 3, params);
    int rv = bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
    PQclear(res);
    return rv;
}

static const bp_event_handler handlers[] = {
    {"payment.approved", on_payment_approved},
    {"payment.refunded", on_payment_refunded},
    {BP_ERASURE_TOPIC, booking_erase_user},
};

BOOKING_HANDLER(deliver)
{
    drops.items = NULL;
    drops.n = drops.cap = 0;
    int rv = bp_inbox_deliver(call, req, resp, handlers, BP_COUNTOF(handlers));
    for (size_t i = 0; rv == 0 && i < drops.n; i++)
        booking_cache_drop(bp_call_worker(call)->kv, drops.items[i].kind, drops.items[i].id);
    drops.items = NULL; /* the arena goes with the call */
    drops.n = drops.cap = 0;
    if (rv == 0)
        bp_relay_kick();
    return rv;
}
