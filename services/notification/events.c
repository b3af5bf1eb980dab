/* Events the notification daemon consumes, each applied once inside the
 * inbox transaction of bp_inbox_deliver. They become rows of
 * notification.notifications (unique per event, recipient and template, so
 * even a replayed event asks for each message once):
 *   booking confirmed (booking.confirmed, or booking.created already
 *     confirmed): booking_confirmed to the client, shop_new_booking to the
 *     owner and the provider, and the client's reminders 24 h and 2 h before
 *     (rows `scheduled` at their due time; templates.c decides the time);
 *   booking.rescheduled: booking_rescheduled, and the reminders move;
 *   booking.cancelled: booking_cancelled to the client, and to the shop when
 *     the shop had been told of it and did not cancel it itself; the
 *     reminders are cancelled;
 *   booking.expired: booking_expired to the client;
 *   booking.completed, booking.no_show: the reminders left are cancelled;
 *   payment.approved, payment.refunded: payment_received, refund_issued;
 *   user.erasure_requested: privacy.c erases what the rows hold of the user.
 * notification.bookings keeps what the booking events said of each booking
 * (its client, its shop's people, the names and time), because a payment
 * event names only the booking. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "events.pb-c.h"
#include "inbox.h"
#include "log.h"
#include "notification.h"
#include "privacy.h"
#include "templates.h"

/* ---- rows ---------------------------------------------------------------------------- */

static const char SQL_QUEUE[] =
    "INSERT INTO notification.notifications (id, user_id, audience, template, booking_id,"
    " event_id, vars, status, due_at, next_attempt_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, to_timestamp($9::int8),"
    " to_timestamp($9::int8))"
    " ON CONFLICT (event_id, user_id, template) DO NOTHING";

static const char SQL_CANCEL_REMINDERS[] =
    "UPDATE notification.notifications SET status = 'cancelled', updated_at = now()"
    " WHERE booking_id = $1 AND status = 'scheduled'";

/* The booking as the events told it, and before that the status it had
 * (two statements: a CTE reading the row the same statement upserts would
 * run after the upsert and see nothing). */
static const char SQL_PREVIOUS[] =
    "SELECT status FROM notification.bookings WHERE booking_id = $1 FOR UPDATE";

static const char SQL_REMEMBER[] =
    "INSERT INTO notification.bookings AS b (booking_id, client_id, owner_id, provider_user_id,"
    " status, starts_at, vars)"
    " VALUES ($1, $2, $3, $4, $5, to_timestamp($6::int8), $7::jsonb)"
    " ON CONFLICT (booking_id) DO UPDATE SET client_id = EXCLUDED.client_id,"
    " owner_id = EXCLUDED.owner_id, provider_user_id = EXCLUDED.provider_user_id,"
    " status = EXCLUDED.status, starts_at = EXCLUDED.starts_at, vars = EXCLUDED.vars,"
    " updated_at = now()";

static const char SQL_RECALL[] =
    "SELECT coalesce(client_id::text, ''), vars::text FROM notification.bookings"
    " WHERE booking_id = $1";

/* What one event is about, decoded once. */
typedef struct {
    bp_call *call;
    bp_db *db;
    const Bp__Events__Event *ev;
    const char *booking_id;
    int64_t starts_s; /* 0 when not known */
    const char *timezone;
    char *vars; /* the template variables as JSON text (malloc) */
} about;

static int exec(const about *a, const char *sql, int n, const char *const *params)
{
    PGresult *res = bp_db_query(a->db, sql, n, params);
    int rv = bp_db_ok(res, bp_call_request_id(a->call)) ? 0 : BP_EIO;
    PQclear(res);
    return rv;
}

/* Asks for template to user_id: queued now, or scheduled at due_s. */
static int queue(const about *a, const char *user_id, const char *audience, const char *template,
                 const char *status, int64_t due_s)
{
    if (user_id == NULL || *user_id == '\0')
        return 0;
    char id[37], due[24];
    bp_uuid(id);
    snprintf(due, sizeof due, "%lld", (long long)(due_s > 0 ? due_s : bp_now_ms() / 1000));
    const char *params[] = {id,        user_id, audience, template, a->booking_id,
                            a->ev->id, a->vars, status,   due};
    return exec(a, SQL_QUEUE, 9, params);
}

/* The shop's people (the owner, the provider's account), each once. */
static int queue_shop(const about *a, const Bp__Events__BookingEvent *b, const char *template)
{
    int rv = queue(a, b->owner_id, "shop", template, "queued", 0);
    if (rv == 0 && b->provider_user_id != NULL &&
        (b->owner_id == NULL || strcmp(b->provider_user_id, b->owner_id) != 0))
        rv = queue(a, b->provider_user_id, "shop", template, "queued", 0);
    return rv;
}

static int cancel_reminders(const about *a)
{
    const char *params[] = {a->booking_id};
    return exec(a, SQL_CANCEL_REMINDERS, 1, params);
}

static int schedule_reminders(const about *a, const char *client_id)
{
    static const struct {
        const char *template;
        int hours;
    } REMINDERS[] = {{"reminder_24h", 24}, {"reminder_2h", 2}};
    int rv = 0;
    for (size_t i = 0; i < BP_COUNTOF(REMINDERS) && rv == 0; i++) {
        int64_t due;
        int r = notification_reminder_due(a->starts_s, a->timezone, REMINDERS[i].hours,
                                          bp_now_ms() / 1000, &due);
        if (r == 0)
            rv = queue(a, client_id, "client", REMINDERS[i].template, "scheduled", due);
        else if (r != BP_ENOTFOUND) /* too late to remind: none */
            rv = r;
    }
    return rv;
}

/* ---- booking events ------------------------------------------------------------------- */

static int64_t seconds_of(const char *rfc3339)
{
    int64_t ms;
    return rfc3339 != NULL && bp_time_parse(rfc3339, &ms) == 0 ? ms / 1000 : 0;
}

/* Decodes a booking event and remembers the booking; *previous gets the
 * status the booking had before ("" when first heard of). Returns 0 with
 * *b set (NULL: nothing usable, acknowledged), or BP_E*. */
static int booking_about(bp_call *call, bp_db *db, const Bp__Events__Event *ev, about *a,
                         const Bp__Events__BookingEvent **b, char previous[24])
{
    previous[0] = '\0';
    *b = (const Bp__Events__BookingEvent *)bp_inbox_payload(call, ev,
                                                            &bp__events__booking_event__descriptor);
    const Bp__Events__BookingEvent *m = *b;
    if (m == NULL || m->booking_id == NULL || !bp_uuid_valid(m->booking_id) ||
        seconds_of(m->starts_at) == 0 || m->timezone == NULL) {
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "event %s (%s): not a usable booking", ev->id,
               ev->topic);
        *b = NULL;
        return 0;
    }
    *a = (about){.call = call,
                 .db = db,
                 .ev = ev,
                 .booking_id = m->booking_id,
                 .starts_s = seconds_of(m->starts_at),
                 .timezone = m->timezone};
    json_t *vars = json_pack("{s:s?,s:s?,s:s?,s:s,s:I,s:I,s:s?,s:s?}", "shop", m->shop_name,
                             "service", m->service_name, "provider", m->provider_name, "timezone",
                             m->timezone, "starts_s", (json_int_t)a->starts_s, "previous_starts_s",
                             (json_int_t)seconds_of(m->previous_starts_at), "reason", m->reason,
                             "client_id", m->client_id);
    a->vars = vars != NULL ? json_dumps(vars, JSON_COMPACT) : NULL;
    json_decref(vars);
    if (a->vars == NULL)
        return BP_ENOMEM;
    char starts[24];
    snprintf(starts, sizeof starts, "%lld", (long long)a->starts_s);
    const char *id[] = {m->booking_id};
    PGresult *res = bp_db_query(db, SQL_PREVIOUS, 1, id);
    int rv = bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
    if (rv == 0 && PQntuples(res) == 1)
        snprintf(previous, 24, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    const char *params[] = {m->booking_id,
                            m->client_id,
                            m->owner_id,
                            m->provider_user_id,
                            m->status != NULL ? m->status : "",
                            starts,
                            a->vars};
    return rv == 0 ? exec(a, SQL_REMEMBER, 7, params) : rv;
}

static int confirmed(const about *a, const Bp__Events__BookingEvent *b)
{
    int rv = queue(a, b->client_id, "client", "booking_confirmed", "queued", 0);
    if (rv == 0)
        rv = queue_shop(a, b, "shop_new_booking");
    if (rv == 0)
        rv = schedule_reminders(a, b->client_id);
    return rv;
}

typedef int (*booking_fn)(const about *a, const Bp__Events__BookingEvent *b, const char *previous);

static int on_created(const about *a, const Bp__Events__BookingEvent *b, const char *previous)
{
    (void)previous;
    /* A booking without deposit is confirmed at once; one waiting for its
     * deposit is announced when it is paid (booking.confirmed). */
    return b->status != NULL && strcmp(b->status, "confirmed") == 0 ? confirmed(a, b) : 0;
}

static int on_confirmed(const about *a, const Bp__Events__BookingEvent *b, const char *previous)
{
    (void)previous;
    return confirmed(a, b);
}

static int on_rescheduled(const about *a, const Bp__Events__BookingEvent *b, const char *previous)
{
    (void)previous;
    int rv = queue(a, b->client_id, "client", "booking_rescheduled", "queued", 0);
    if (rv == 0)
        rv = cancel_reminders(a);
    if (rv == 0 && b->status != NULL && strcmp(b->status, "confirmed") == 0)
        rv = schedule_reminders(a, b->client_id);
    return rv;
}

static int on_cancelled(const about *a, const Bp__Events__BookingEvent *b, const char *previous)
{
    int rv = cancel_reminders(a);
    if (rv == 0)
        rv = queue(a, b->client_id, "client", "booking_cancelled", "queued", 0);
    /* The shop hears of it when it had been told of the booking (it was
     * confirmed) and did not cancel it itself. */
    bool told = strcmp(previous, "confirmed") == 0;
    bool by_shop = b->cancelled_by != NULL && strcmp(b->cancelled_by, "shop") == 0;
    if (rv == 0 && told && !by_shop)
        rv = queue_shop(a, b, "shop_booking_cancelled");
    return rv;
}

static int on_expired(const about *a, const Bp__Events__BookingEvent *b, const char *previous)
{
    (void)previous;
    int rv = cancel_reminders(a);
    return rv == 0 ? queue(a, b->client_id, "client", "booking_expired", "queued", 0) : rv;
}

static int on_ended(const about *a, const Bp__Events__BookingEvent *b, const char *previous)
{
    (void)b;
    (void)previous;
    return cancel_reminders(a);
}

static int booking_event(bp_call *call, bp_db *db, const Bp__Events__Event *ev, booking_fn fn)
{
    about a = {0};
    const Bp__Events__BookingEvent *b;
    char previous[24];
    int rv = booking_about(call, db, ev, &a, &b, previous);
    if (rv == 0 && b != NULL)
        rv = fn(&a, b, previous);
    free(a.vars);
    return rv;
}

#define BOOKING_TOPIC(name)                                                                        \
    static int topic_##name(bp_call *call, bp_db *db, const Bp__Events__Event *ev)                 \
    {                                                                                              \
        return booking_event(call, db, ev, on_##name);                                             \
    }

BOOKING_TOPIC(created)
BOOKING_TOPIC(confirmed)
BOOKING_TOPIC(rescheduled)
BOOKING_TOPIC(cancelled)
BOOKING_TOPIC(expired)
BOOKING_TOPIC(ended)

/* ---- payment events -------------------------------------------------------------------- */

static int payment_event(bp_call *call, bp_db *db, const Bp__Events__Event *ev,
                         const char *template, bool refunded)
{
    const Bp__Events__PaymentEvent *p = (const Bp__Events__PaymentEvent *)bp_inbox_payload(
        call, ev, &bp__events__payment_event__descriptor);
    if (p == NULL || p->booking_id == NULL || !bp_uuid_valid(p->booking_id))
        return 0;
    const char *params[] = {p->booking_id};
    PGresult *res = bp_db_select(db, SQL_RECALL, 1, params, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    if (PQntuples(res) == 0) {
        /* Its booking's events come from another producer: wait for them
         * (the relay delivers this one again later). */
        PQclear(res);
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "event %s (%s): booking %s not heard of yet",
               ev->id, ev->topic, p->booking_id);
        return BP_ENOTFOUND;
    }
    json_error_t err;
    json_t *vars = json_loads(PQgetvalue(res, 0, 1), 0, &err);
    char client[37];
    snprintf(client, sizeof client, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (vars == NULL)
        return BP_EIO;
    json_object_set_new(
        vars, "amount_cents",
        json_integer(refunded && p->has_refunded_cents ? p->refunded_cents : p->amount_cents));
    json_object_set_new(vars, "currency", json_string(p->currency != NULL ? p->currency : "ARS"));
    about a = {.call = call, .db = db, .ev = ev, .booking_id = p->booking_id};
    a.vars = json_dumps(vars, JSON_COMPACT);
    json_decref(vars);
    int rv = a.vars != NULL ? queue(&a, client, "client", template, "queued", 0) : BP_ENOMEM;
    free(a.vars);
    return rv;
}

static int topic_paid(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    return payment_event(call, db, ev, "payment_received", false);
}

static int topic_refunded(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    return payment_event(call, db, ev, "refund_issued", true);
}

static const bp_event_handler handlers[] = {
    {"booking.created", topic_created},         {"booking.confirmed", topic_confirmed},
    {"booking.rescheduled", topic_rescheduled}, {"booking.cancelled", topic_cancelled},
    {"booking.expired", topic_expired},         {"booking.completed", topic_ended},
    {"booking.no_show", topic_ended},           {"payment.approved", topic_paid},
    {"payment.refunded", topic_refunded},       {BP_ERASURE_TOPIC, notification_erase_user},
};

NOTIFICATION_HANDLER(deliver)
{
    int rv = bp_inbox_deliver(call, req, resp, handlers, BP_COUNTOF(handlers));
    if (rv == 0)
        notification_senders_kick();
    return rv;
}
