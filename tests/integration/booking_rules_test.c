/* The booking rules booking_flow_test.c leaves out, over HTTP against the
 * real suite: the cancellation policy and who gets the deposit back,
 * payment.refunded and its redelivery, a payment that arrives after its hold
 * lapsed (chair free or taken meanwhile), schedules and time off that change
 * availability and bookings at once, who may reschedule, and the lists by
 * role. Payment events go straight to the booking daemon's Deliver, as the
 * payment daemon's relay would send them. Dates are computed from today in
 * Buenos Aires, on working days that are no holiday, so the tests pass
 * whatever day they run. scripts/test.sh runs the suite with
 * BOOKING_HOLD_SECONDS=4 and BOOKING_EXPIRE_INTERVAL_MS=500. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "events.pb-c.h"
#include "harness.h"

#define DEPOSIT (BPT_COLOR_PRICE / 5) /* Color asks 20 % */

/* An error answer of status and code, freed here. */
#define EXPECT_REFUSED(call, st, code)                                                             \
    do {                                                                                           \
        bpt_response *refused_ = (call);                                                           \
        cr_expect(bpt_error_is(refused_, (st), (code)), "expected %d %s, got %ld: %s", (st),       \
                  (code), refused_ != NULL ? refused_->status : 0L,                                \
                  refused_ != NULL ? refused_->body : "(no answer)");                              \
        bpt_response_free(refused_);                                                               \
    } while (0)

/* ---- fixtures ---------------------------------------------------------------------- */

static void new_shop(bpt_shop *f)
{
    cr_assert_eq(bpt_shop_new(f), 0, "could not set up a shop (see stderr)");
}

/* A working day at least two days ahead that is no holiday. */
static long a_workday(void)
{
    long d = bpt_workday(2, 0);
    cr_assert(d >= 0, "no working day within the horizon (see stderr)");
    return d;
}

static void new_client(bpt_user *u)
{
    cr_assert_eq(bpt_user_new(u), 0, "could not register a client (see stderr)");
}

/* Books service at day hhmm as token; expects 201 with want_status and
 * copies the id. */
static void booked(const bpt_shop *f, const char *token, const char *service_id, long day,
                   const char *hhmm, const char *want_status, char id[64])
{
    char start[32];
    bpt_ba_at(day, hhmm, start);
    bpt_response *r = bpt_book(token, f, service_id, start);
    cr_assert(r != NULL && r->status == 201, "booking %s: %ld %s", start, r ? r->status : 0L,
              r ? r->body : "");
    cr_assert_str_eq(bpt_json_str(r->json, "booking.status"), want_status, "%s", r->body);
    snprintf(id, 64, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
}

/* Delivers topic about booking_id under event_id; expects the daemon to
 * acknowledge it (200). */
static void deliver(const char *topic, const char *event_id, const char *booking_id,
                    int64_t refunded)
{
    int status = 0;
    int rv = bpt_deliver_payment(topic, event_id, booking_id, DEPOSIT, refunded, &status);
    cr_assert_eq(rv, 0, "Deliver %s failed: %d", topic, rv);
    cr_expect_eq(status, 200, "Deliver %s answered %d", topic, status);
}

/* A Color booking of the shop's client at day hhmm, its deposit paid by a
 * payment.approved: confirmed. */
static void paid_booking(const bpt_shop *f, long day, const char *hhmm, char id[64])
{
    booked(f, f->client.token, f->color_id, day, hhmm, "pending_payment", id);
    char event_id[37];
    bp_uuid(event_id);
    deliver("payment.approved", event_id, id, -1);
    char *status = bpt_booking_field(f->client.token, id, "status");
    cr_assert(status != NULL && strcmp(status, "confirmed") == 0, "paid booking is %s",
              status ? status : "(unreadable)");
    free(status);
}

/* POST /api/bookings/{id}/cancel as token, with reason (may be NULL). */
static bpt_response *cancel(const char *token, const char *id, const char *reason)
{
    json_t *body = reason != NULL ? json_pack("{s:s}", "reason", reason) : NULL;
    bpt_response *r = bpt_booking_act(token, id, "cancel", body);
    json_decref(body);
    return r;
}

static bpt_response *reschedule(const char *token, const char *id, long day, const char *hhmm)
{
    char start[32];
    bpt_ba_at(day, hhmm, start);
    json_t *body = json_pack("{s:s}", "starts_at", start);
    bpt_response *r = bpt_booking_act(token, id, "reschedule", body);
    json_decref(body);
    return r;
}

/* Expects r to be 200 with a cancelled booking, cancelled_by by and
 * refund_due refund; frees r. */
static void expect_cancelled(bpt_response *r, const char *by, int refund)
{
    cr_assert(r != NULL && r->status == 200, "cancel: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "cancelled", "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancelled_by"), by, "%s", r->body);
    json_t *due = bpt_json_at(r->json, "booking.refund_due");
    cr_expect(refund ? json_is_true(due) : json_is_false(due), "refund_due should be %s: %s",
              refund ? "true" : "false", r->body);
    bpt_response_free(r);
}

/* The booking as token sees it; asserts 200. The caller frees. */
static bpt_response *fetch(const char *token, const char *id)
{
    bpt_response *r = bpt_booking_get(token, id);
    cr_assert(r != NULL && r->status == 200, "GET booking: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    return r;
}

/* Polls the booking until its status is want (at most timeout_ms); returns
 * whether it got there. */
static int reaches(const char *token, const char *id, const char *want, int timeout_ms)
{
    double deadline = bpt_now_ms() + timeout_ms;
    for (;;) {
        char *status = bpt_booking_field(token, id, "status");
        int ok = status != NULL && strcmp(status, want) == 0;
        free(status);
        if (ok || bpt_now_ms() > deadline)
            return ok;
        bpt_sleep_ms(250);
    }
}

/* The starts of the availability as "HH:MM HH:MM ..." (local times, every
 * one on day or the days after it). */
static void starts_of(const bpt_shop *f, const char *service_id, long day, int days, char *out,
                      size_t len)
{
    bpt_response *r = bpt_availability(f, service_id, day, days);
    cr_assert(r != NULL && r->status == 200, "availability: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    json_t *slots = json_object_get(r->json, "slots");
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(slots) && at < len; i++) {
        const char *s = bpt_json_str(json_array_get(slots, i), "starts_at");
        cr_assert(s != NULL && strlen(s) == 25, "slot %zu: %s", i, r->body);
        /* "YYYY-MM-DDTHH:MM:00-03:00": the date must be day's. */
        char want_date[11];
        bpt_day_date(day, want_date);
        cr_expect(days > 1 || strncmp(s, want_date, 10) == 0, "slot on another day: %s", s);
        int n = snprintf(out + at, len - at, "%s%.5s", at > 0 ? " " : "", s + 11);
        at += n > 0 ? (size_t)n : 0;
    }
    bpt_response_free(r);
}

/* Whether the list GET path answers as token holds booking id; asserts 200. */
static int lists(const char *token, const char *path, const char *id, size_t *n_items)
{
    bpt_response *r = bpt_http_json("GET", path, token, NULL);
    cr_assert(r != NULL && r->status == 200, "GET %s: %ld %s", path, r ? r->status : 0L,
              r ? r->body : "");
    json_t *items = json_object_get(r->json, "items");
    int found = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *got = bpt_json_str(json_array_get(items, i), "id");
        if (got != NULL && strcmp(got, id) == 0)
            found = 1;
    }
    if (n_items != NULL)
        *n_items = json_array_size(items);
    bpt_response_free(r);
    return found;
}

/* A connection to the suite's database (DATABASE_URL), for what the API
 * does not show; the caller PQfinish'es it. */
static PGconn *suite_db(void)
{
    const char *url = getenv("DATABASE_URL");
    cr_assert_not_null(url, "DATABASE_URL is not set");
    PGconn *c = PQconnectdb(url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

/* refunded_at (text, "" when NULL) and refunded_cents of a booking, read
 * from the database: the API does not show them. */
static void refund_record(const char *id, char at[64], long long *cents)
{
    PGconn *c = suite_db();
    const char *params[] = {id};
    PGresult *r = PQexecParams(c,
                               "SELECT coalesce(refunded_at::text, ''),"
                               " coalesce(refunded_cents, -1) FROM booking.bookings WHERE id = $1",
                               1, NULL, params, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    cr_assert_eq(PQntuples(r), 1);
    snprintf(at, 64, "%s", PQgetvalue(r, 0, 0));
    *cents = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    PQfinish(c);
}

/* ---- cancellation policy ----------------------------------------------------------- */

Test(booking_rules, client_cancels_before_the_window_and_gets_the_deposit_back)
{
    bpt_shop f;
    new_shop(&f);
    long day = a_workday(); /* at least 34 h ahead: outside the default 24 h */
    char id[64];
    paid_booking(&f, day, "10:00", id);

    expect_cancelled(cancel(f.client.token, id, "Me voy de viaje"), "client", 1);
    bpt_response *r = fetch(f.owner.token, id);
    cr_expect(json_is_true(bpt_json_at(r->json, "booking.refund_due")), "owner sees: %s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancel_reason"), "Me voy de viaje");
    bpt_response_free(r);

    /* Cancelling again, by anyone, is refused and changes nothing. */
    EXPECT_REFUSED(cancel(f.client.token, id, NULL), 409, "invalid_state");
    EXPECT_REFUSED(cancel(f.owner.token, id, "Cerramos"), 409, "invalid_state");
    r = fetch(f.client.token, id);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancelled_by"), "client", "%s", r->body);
    cr_expect(json_is_true(bpt_json_at(r->json, "booking.refund_due")), "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancel_reason"), "Me voy de viaje");
    bpt_response_free(r);

    /* A deposit never paid is nothing to refund. */
    booked(&f, f.client.token, f.color_id, day, "14:00", "pending_payment", id);
    expect_cancelled(cancel(f.client.token, id, NULL), "client", 0);
}

Test(booking_rules, inside_the_window_only_the_shop_side_refunds)
{
    bpt_shop f;
    new_shop(&f);
    char path[128];
    snprintf(path, sizeof path, "/api/shops/%s", f.shop_id);
    /* 30 days: a booking a few days ahead is inside the window. */
    bpt_response *r =
        bpt_http_pack("PATCH", path, f.owner.token, "{s:i}", "cancellation_hours", 720);
    cr_assert(r != NULL && r->status == 200, "PATCH shop: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    cr_expect_eq(json_integer_value(bpt_json_at(r->json, "shop.cancellation_hours")), 720, "%s",
                 r->body);
    bpt_response_free(r);

    long day = a_workday();
    char by_client[64], by_owner[64], by_provider[64];
    paid_booking(&f, day, "09:00", by_client);
    paid_booking(&f, day, "11:00", by_owner);
    paid_booking(&f, day, "14:00", by_provider);

    expect_cancelled(cancel(f.client.token, by_client, "No llego"), "client", 0);
    expect_cancelled(cancel(f.owner.token, by_owner, "Corte de luz"), "owner", 1);
    expect_cancelled(cancel(f.barber.token, by_provider, "Estoy enfermo"), "provider", 1);
    EXPECT_REFUSED(cancel(f.owner.token, by_client, NULL), 409, "invalid_state");
    r = fetch(f.client.token, by_client);
    cr_expect(json_is_false(bpt_json_at(r->json, "booking.refund_due")),
              "a refused second cancel changed the refund: %s", r->body);
    bpt_response_free(r);
}

/* ---- payment events ----------------------------------------------------------------- */

Test(booking_rules, payment_refunded_clears_refund_due_once)
{
    bpt_shop f;
    new_shop(&f);
    char id[64];
    paid_booking(&f, a_workday(), "10:00", id);
    expect_cancelled(cancel(f.owner.token, id, "Cerramos por duelo"), "owner", 1);

    char event_id[37], first_at[64], again_at[64];
    long long cents = 0;
    bp_uuid(event_id);
    deliver("payment.refunded", event_id, id, DEPOSIT);
    bpt_response *r = fetch(f.client.token, id);
    cr_expect(json_is_false(bpt_json_at(r->json, "booking.refund_due")), "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "cancelled");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancelled_by"), "owner");
    bpt_response_free(r);
    refund_record(id, first_at, &cents);
    cr_expect_neq(first_at[0], '\0', "refunded_at not recorded");
    cr_expect_eq(cents, DEPOSIT);

    /* The relay delivers at least once: the same event again is a no-op. */
    bpt_sleep_ms(20); /* a re-applied update would stamp a later refunded_at */
    deliver("payment.refunded", event_id, id, DEPOSIT);
    refund_record(id, again_at, &cents);
    cr_expect_str_eq(again_at, first_at, "the redelivered refund was applied again");
    cr_expect_eq(cents, DEPOSIT);
    r = fetch(f.client.token, id);
    cr_expect(json_is_false(bpt_json_at(r->json, "booking.refund_due")), "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "cancelled");
    bpt_response_free(r);
}

Test(booking_rules, late_payment_confirms_a_free_chair_and_refunds_a_taken_one, .timeout = 40)
{
    bpt_shop f;
    new_shop(&f);
    long day = a_workday();
    char free_id[64], taken_id[64], other_id[64];
    booked(&f, f.client.token, f.color_id, day, "10:00", "pending_payment", free_id);
    booked(&f, f.client.token, f.color_id, day, "14:00", "pending_payment", taken_id);

    /* BOOKING_HOLD_SECONDS=4, the expiry job every 500 ms. */
    cr_assert(reaches(f.client.token, free_id, "expired", 15000), "the 10:00 hold never lapsed");
    cr_assert(reaches(f.client.token, taken_id, "expired", 5000), "the 14:00 hold never lapsed");

    /* Another client takes the 14:00 chair meanwhile. */
    bpt_user other;
    new_client(&other);
    booked(&f, other.token, f.corte_id, day, "14:00", "confirmed", other_id);

    char event_id[37];
    bp_uuid(event_id);
    deliver("payment.approved", event_id, free_id, -1);
    bpt_response *r = fetch(f.client.token, free_id);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "confirmed", "%s", r->body);
    cr_expect_null(bpt_json_str(r->json, "booking.hold_expires_at"), "%s", r->body);
    cr_expect(json_is_false(bpt_json_at(r->json, "booking.refund_due")), "%s", r->body);
    bpt_response_free(r);
    cr_expect_eq(bpt_offers(&f, f.color_id, day, "10:00"), 0, "the confirmed chair is offered");

    bp_uuid(event_id);
    deliver("payment.approved", event_id, taken_id, -1);
    r = fetch(f.client.token, taken_id);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "cancelled", "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancelled_by"), "system", "%s", r->body);
    cr_expect(json_is_true(bpt_json_at(r->json, "booking.refund_due")), "%s", r->body);
    const char *why = bpt_json_str(r->json, "booking.cancel_reason");
    cr_expect(why != NULL && *why != '\0', "no reason given: %s", r->body);
    bpt_response_free(r);

    /* The chair stays with whoever took it. */
    r = fetch(other.token, other_id);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "confirmed", "%s", r->body);
    bpt_response_free(r);
}

/* ---- schedules and time off --------------------------------------------------------- */

Test(booking_rules, schedule_and_time_off_change_availability_and_bookings_at_once)
{
    bpt_shop f;
    new_shop(&f);
    long day = a_workday();
    char got[2048], start[32], path[256];

    /* Fill the caches with the default week first. */
    cr_assert_eq(bpt_offers(&f, f.corte_id, day, "09:00"), 1, "default 09:00 not offered");
    snprintf(path, sizeof path, "/api/providers/%s/schedule", f.provider_id);
    bpt_response *r = bpt_http_json("GET", path, NULL, NULL);
    cr_assert(r != NULL && r->status == 200, "GET schedule: %ld", r ? r->status : 0L);
    bpt_response_free(r);

    /* The barber's own account narrows the week to 10:00-12:00 of one day.
     * Corte needs 30 + 10 minutes: starts 10:00 to 11:15. */
    r = bpt_http_pack("PUT", path, f.barber.token, "{s:[{s:i, s:s, s:s}]}", "weekly", "weekday",
                      bpt_iso_weekday(day), "start", "10:00", "end", "12:00");
    cr_assert(r != NULL && r->status == 200, "PUT schedule: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
    r = bpt_http_json("GET", path, NULL, NULL);
    cr_assert(r != NULL && r->status == 200);
    cr_expect_eq(json_array_size(bpt_json_at(r->json, "schedule.weekly")), 1, "stale schedule: %s",
                 r->body);
    bpt_response_free(r);

    const char *all = "10:00 10:15 10:30 10:45 11:00 11:15";
    starts_of(&f, f.corte_id, day, 1, got, sizeof got);
    cr_expect_str_eq(got, all, "the day after the new schedule");
    starts_of(&f, f.corte_id, day, 7, got, sizeof got);
    cr_expect_str_eq(got, all, "a week with one working day");
    bpt_ba_at(day, "09:00", start);
    EXPECT_REFUSED(bpt_book(f.client.token, &f, f.corte_id, start), 422, "outside_hours");

    /* Time off 11:00-11:30 (by the owner) takes every start whose service
     * or buffer would touch it. */
    char from[32], to[32], off_id[64];
    bpt_ba_at(day, "11:00", from);
    bpt_ba_at(day, "11:30", to);
    snprintf(path, sizeof path, "/api/providers/%s/time-off", f.provider_id);
    r = bpt_http_pack("POST", path, f.owner.token, "{s:s, s:s, s:s}", "starts_at", from, "ends_at",
                      to, "reason", "Turno médico");
    cr_assert(r != NULL && r->status == 201, "time off: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    snprintf(off_id, sizeof off_id, "%s", bpt_json_str(r->json, "time_off.id"));
    bpt_response_free(r);

    starts_of(&f, f.corte_id, day, 1, got, sizeof got);
    cr_expect_str_eq(got, "10:00 10:15", "time off must show at once");
    /* bookings.c answers a start inside time off as 409 slot_taken. */
    const char *blocked[] = {"10:30", "11:00", "11:15"};
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
        bpt_ba_at(day, blocked[i], start);
        EXPECT_REFUSED(bpt_book(f.client.token, &f, f.corte_id, start), 409, "slot_taken");
    }

    snprintf(path, sizeof path, "/api/providers/%s/time-off/%s", f.provider_id, off_id);
    r = bpt_http_json("DELETE", path, f.owner.token, NULL);
    cr_assert(r != NULL && r->status == 204, "delete time off: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
    starts_of(&f, f.corte_id, day, 1, got, sizeof got);
    cr_expect_str_eq(got, all, "deleted time off must free its slots at once");

    /* And a booking there now goes through, and takes what it touches. */
    char id[64];
    booked(&f, f.client.token, f.corte_id, day, "10:45", "confirmed", id);
    starts_of(&f, f.corte_id, day, 1, got, sizeof got);
    cr_expect_str_eq(got, "10:00", "after booking 10:45");
}

/* ---- reschedule ------------------------------------------------------------------------ */

Test(booking_rules, reschedule_is_for_the_parties_and_open_bookings)
{
    bpt_shop f;
    new_shop(&f);
    long day = a_workday();
    char id[64], want[32];
    booked(&f, f.client.token, f.corte_id, day, "10:00", "confirmed", id);

    bpt_response *r = reschedule(f.owner.token, id, day, "11:00");
    cr_assert(r != NULL && r->status == 200, "owner: %ld %s", r ? r->status : 0L, r ? r->body : "");
    bpt_ba_at(day, "11:00", want);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), want);
    bpt_response_free(r);

    r = reschedule(f.barber.token, id, day, "12:00");
    cr_assert(r != NULL && r->status == 200, "provider: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_ba_at(day, "12:00", want);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), want);
    bpt_response_free(r);

    bpt_user stranger;
    new_client(&stranger);
    EXPECT_REFUSED(reschedule(stranger.token, id, day, "13:00"), 404, "not_found");
    bpt_user other_owner;
    cr_assert_eq(bpt_user_register(&other_owner, "owner", "Otro Dueño"), 0);
    EXPECT_REFUSED(reschedule(other_owner.token, id, day, "13:00"), 404, "not_found");
    r = fetch(f.client.token, id);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), want,
                     "a refused reschedule moved the booking");
    bpt_response_free(r);

    expect_cancelled(cancel(f.client.token, id, NULL), "client", 0);
    EXPECT_REFUSED(reschedule(f.client.token, id, day, "15:00"), 409, "invalid_state");
    EXPECT_REFUSED(reschedule(f.owner.token, id, day, "15:00"), 409, "invalid_state");
    r = fetch(f.client.token, id);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), want);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "cancelled");
    bpt_response_free(r);
    cr_expect_eq(bpt_offers(&f, f.corte_id, day, "15:00"), 1, "15:00 must stay free");
}

/* ---- lists by role ---------------------------------------------------------------------- */

Test(booking_rules, lists_by_role_show_the_booking_to_its_parties_only)
{
    bpt_shop f;
    new_shop(&f);
    long day = a_workday();
    char id[64];
    booked(&f, f.client.token, f.corte_id, day, "10:00", "confirmed", id);

    size_t n = 0;
    cr_expect(lists(f.client.token, "/api/bookings?role=client", id, &n), "client's own list");
    cr_expect(lists(f.barber.token, "/api/bookings?role=provider", id, &n), "the provider's list");
    cr_expect_eq(n, 1);
    cr_expect(lists(f.owner.token, "/api/bookings?role=owner", id, &n), "the owner's list");
    cr_expect_eq(n, 1);

    /* A window around the day and one after it. */
    char from[32], to[32], path[256];
    bpt_ba_at(day, "00:00", from);
    bpt_ba_at(day + 1, "00:00", to);
    snprintf(path, sizeof path, "/api/bookings?role=provider&from=%s&to=%s", from, to);
    cr_expect(lists(f.barber.token, path, id, NULL), "inside from/to");
    snprintf(path, sizeof path, "/api/bookings?role=owner&from=%s", to);
    cr_expect(!lists(f.owner.token, path, id, &n), "after from");
    cr_expect_eq(n, 0);

    /* Nobody else, whatever role they ask for. */
    bpt_user other;
    new_client(&other);
    cr_expect(!lists(other.token, "/api/bookings?role=client", id, &n), "another client");
    cr_expect_eq(n, 0);
    cr_expect(!lists(other.token, "/api/bookings?role=provider", id, &n), "a non-provider");
    cr_expect_eq(n, 0);
    cr_expect(!lists(other.token, "/api/bookings?role=owner", id, &n), "a non-owner");
    cr_expect_eq(n, 0);
    bpt_user other_owner;
    cr_assert_eq(bpt_user_register(&other_owner, "owner", "Otra Dueña"), 0);
    cr_expect(!lists(other_owner.token, "/api/bookings?role=owner", id, &n), "another owner");
    cr_expect_eq(n, 0);
    /* The shop side is not the client. */
    cr_expect(!lists(f.owner.token, "/api/bookings?role=client", id, NULL), "owner as client");
    cr_expect(!lists(f.barber.token, "/api/bookings?role=client", id, NULL), "barber as client");
}

/* A Monday-to-Friday national holiday within the horizon; when the calendar
 * has none in the coming weeks, the admin decrees one (as a new decree
 * would arrive), so that the rule is exercised whatever day the test runs. */
static long a_weekday_holiday(void)
{
    long today = bpt_ba_today();
    for (long d = today + 2; d < today + 58; d++) {
        int h = bpt_is_holiday(d);
        cr_assert(h >= 0, "GET /api/holidays failed (see stderr)");
        if (h == 1 && bpt_iso_weekday(d) <= 5)
            return d;
    }
    long d = bpt_workday(40, 0);
    cr_assert(d >= 0, "no working day within the horizon");
    bpt_user admin;
    cr_assert_eq(bpt_admin_login(&admin), 0, "admin login failed (see stderr)");
    char date[11];
    bpt_day_date(d, date);
    bpt_response *r = bpt_http_pack("POST", "/api/holidays", admin.token, "{s:s, s:s, s:s}", "date",
                                    date, "name", "Feriado de prueba", "kind", "puente");
    cr_assert(r != NULL && (r->status == 201 || r->status == 409), "add holiday: %ld %s",
              r ? r->status : 0L, r ? r->body : "");
    bpt_response_free(r);
    return d;
}

/* The number of slots of the availability of day, or -1. */
static long slots_on(const bpt_shop *f, long day)
{
    bpt_response *r = bpt_availability(f, f->corte_id, day, 1);
    long n = -1;
    if (r != NULL && r->status == 200)
        n = (long)json_array_size(bpt_json_at(r->json, "slots"));
    bpt_response_free(r);
    return n;
}

Test(holidays, close_the_shop_unless_the_owner_opens_the_day, .timeout = 60)
{
    bpt_shop f;
    new_shop(&f);
    long day = a_weekday_holiday();
    char date[11], start[32], path[160];
    bpt_day_date(day, date);
    bpt_ba_at(day, "10:00", start);

    cr_assert_eq(slots_on(&f, day), 0, "a holiday (%s) offers slots", date);
    bpt_response *r = bpt_book(f.client.token, &f, f.corte_id, start);
    cr_assert(r != NULL && r->status == 422, "booking on %s: %ld %s", date, r ? r->status : 0L,
              r ? r->body : "");
    cr_assert_str_eq(bpt_error_code(r), "holiday");
    bpt_response_free(r);

    /* The owner opens the shop that day: slots at once, and it books. */
    snprintf(path, sizeof path, "/api/shops/%s/open-days/%s", f.shop_id, date);
    r = bpt_http_json("PUT", path, f.owner.token, NULL);
    cr_assert(r != NULL && r->status == 200, "open day: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    cr_assert(json_is_true(bpt_json_at(r->json, "open")), "%s", r->body);
    bpt_response_free(r);
    cr_assert_gt(slots_on(&f, day), 0, "an opened holiday offers no slot");
    char id[64];
    booked(&f, f.client.token, f.corte_id, day, "10:00", "confirmed", id);

    /* A client cannot open a day; closing it again hides its slots. */
    r = bpt_http_json("PUT", path, f.client.token, NULL);
    cr_assert(r != NULL && r->status == 403, "client opens a day: %ld", r ? r->status : 0L);
    bpt_response_free(r);
    r = bpt_http_json("DELETE", path, f.owner.token, NULL);
    cr_assert(r != NULL && r->status == 200, "close day: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
    cr_assert_eq(slots_on(&f, day), 0, "a closed holiday still offers slots");
}

/* ---- events -------------------------------------------------------------------------- */

/* The events the outbox holds for booking id, in order, as "topic>consumer"
 * joined by spaces; every payload must decode as a BookingEvent about id
 * with status want_status for topic want_topic (checked for that topic). */
static void outbox_of(const char *id, const char *want_topic, const char *want_status, char *out,
                      size_t len)
{
    PGconn *c = suite_db();
    const char *params[] = {id};
    PGresult *r = PQexecParams(c,
                               "SELECT topic, consumer, payload FROM booking.outbox"
                               " WHERE key = $1 ORDER BY id, consumer",
                               1, NULL, params, NULL, NULL, 1);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++) {
        const char *topic = PQgetvalue(r, i, 0);
        used += (size_t)snprintf(out + used, len - used, "%s%s>%s", i ? " " : "", topic,
                                 PQgetvalue(r, i, 1));
        cr_assert_lt(used, len);
        Bp__Events__BookingEvent *ev = bp__events__booking_event__unpack(
            NULL, (size_t)PQgetlength(r, i, 2), (const uint8_t *)PQgetvalue(r, i, 2));
        cr_assert_not_null(ev, "the %s payload does not decode", topic);
        cr_expect_str_eq(ev->booking_id, id);
        if (strcmp(topic, want_topic) == 0)
            cr_expect_str_eq(ev->status, want_status, "%s", topic);
        bp__events__booking_event__free_unpacked(ev, NULL);
    }
    PQclear(r);
    PQfinish(c);
}

/* How many booking.created rows the outbox holds (tests run one at a time). */
static long created_events(void)
{
    PGconn *c = suite_db();
    PGresult *r = PQexec(c, "SELECT count(*) FROM booking.outbox WHERE topic = 'booking.created'");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return n;
}

Test(events, every_change_of_a_booking_is_in_the_outbox_for_its_consumers, .timeout = 60)
{
    bpt_shop f;
    new_shop(&f);
    long day = a_workday();
    char id[64], events[512];
    booked(&f, f.client.token, f.corte_id, day, "10:00", "confirmed", id);
    /* Written with the booking itself, in one statement. The payment
     * daemon asks PaymentContext at checkout instead of hearing of it. */
    outbox_of(id, "booking.created", "confirmed", events, sizeof events);
    cr_assert_str_eq(events, "booking.created>notification");

    char start[32];
    bpt_ba_at(day, "11:00", start);
    json_t *body = json_pack("{s:s}", "starts_at", start);
    bpt_response *r = bpt_booking_act(f.client.token, id, "reschedule", body);
    json_decref(body);
    cr_assert(r != NULL && r->status == 200, "reschedule: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
    expect_cancelled(cancel(f.client.token, id, "No llego"), "client", 0);
    outbox_of(id, "booking.cancelled", "cancelled", events, sizeof events);
    cr_assert_str_eq(events, "booking.created>notification "
                             "booking.rescheduled>notification "
                             "booking.cancelled>notification booking.cancelled>payment");

    /* A refused booking writes no event: the statement that would have
     * written it failed as a whole. */
    bpt_user other;
    new_client(&other);
    r = bpt_book(other.token, &f, f.corte_id, start);
    cr_assert(r != NULL && r->status == 201, "the freed slot: %ld", r ? r->status : 0L);
    bpt_response_free(r);
    long before = created_events();
    r = bpt_book(f.client.token, &f, f.corte_id, start);
    cr_assert(r != NULL && r->status == 409, "a taken slot: %ld", r ? r->status : 0L);
    bpt_response_free(r);
    cr_assert_eq(created_events(), before, "a refused booking left an event");
}
