/* "Bookings" and availability of API.md over HTTP against the real suite:
 * the default week's slots, booking with and without a deposit, a hold that
 * lapses, every refusal, who may see and change a booking, cancel,
 * reschedule, complete and no-show, the no-show deposit rule, and the
 * payment.approved event delivered straight to the daemon's Deliver.
 * Dates are computed from today in Buenos Aires (-03:00, no DST), so the
 * tests pass whatever day they run. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bp.h"
#include "harness.h"

#define BA_OFFSET_S (-3 * 3600)
#define CORTE_PRICE BPT_CORTE_PRICE
#define COLOR_PRICE BPT_COLOR_PRICE

/* ---- the harness's fixtures, asserted ------------------------------------------- */

/* One shop with two services and a linked provider, fresh for each test. */
static void shop_setup(bpt_shop *f)
{
    cr_assert_eq(bpt_shop_new(f), 0, "could not set up a shop (see stderr)");
}

static long workday(int min_ahead, int n)
{
    long d = bpt_workday(min_ahead, n);
    cr_assert(d >= 0, "no working day within the horizon (see stderr)");
    return d;
}

static int is_holiday(long day)
{
    int h = bpt_is_holiday(day);
    cr_assert(h >= 0, "GET /api/holidays failed (see stderr)");
    return h;
}

/* Whether the availability of day lists a slot starting at hhmm. */
static int offers(const bpt_shop *f, const char *service_id, long day, const char *hhmm)
{
    int o = bpt_offers(f, service_id, day, hhmm);
    cr_assert(o >= 0, "availability failed (see stderr)");
    return o;
}

static char *booking_field(const char *token, const char *id, const char *field)
{
    char *v = bpt_booking_field(token, id, field);
    cr_assert_not_null(v, "GET booking %s failed (see stderr)", id);
    return v;
}

/* Delivers payment.approved for booking_id straight to the daemon's Deliver
 * with event_id, as the payment daemon's relay would. Returns the status. */
static int deliver_payment(const char *event_id, const char *booking_id, int64_t amount)
{
    int status = 0;
    int rv = bpt_deliver_payment("payment.approved", event_id, booking_id, amount, -1, &status);
    cr_assert_eq(rv, 0, "Deliver call failed: %d", rv);
    return status;
}

/* ---- calls ------------------------------------------------------------------------ */

/* Books and expects 201; copies the booking id. */
static void book_ok(const char *token, const bpt_shop *f, const char *service_id,
                    const char *starts_at, char id[64], const char *want_status)
{
    bpt_response *r = bpt_book(token, f, service_id, starts_at);
    cr_assert(r != NULL && r->status == 201, "booking %s: %ld %s", starts_at, r ? r->status : 0,
              r ? r->body : "");
    const char *st = bpt_json_str(r->json, "booking.status");
    cr_assert(st != NULL && strcmp(st, want_status) == 0, "status %s, expected %s: %s", st,
              want_status, r->body);
    snprintf(id, 64, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
}

static void expect_error(bpt_response *r, long status, const char *code, const char *field)
{
    cr_assert_not_null(r, "no answer");
    cr_expect_eq(r->status, status, "expected %ld %s, got %ld: %s", status, code, r->status,
                 r->body);
    const char *got = bpt_error_code(r);
    cr_expect(got != NULL && strcmp(got, code) == 0, "expected code %s: %s", code, r->body);
    if (field != NULL) {
        const char *fl = bpt_error_field(r);
        cr_expect(fl != NULL && strcmp(fl, field) == 0, "expected field %s: %s", field, r->body);
    }
    const char *msg = bpt_json_str(r->json, "error.message");
    cr_expect(msg != NULL && *msg != '\0', "no message: %s", r->body);
    bpt_response_free(r);
}

/* Moves a booking days into the past in the database: the API never books
 * the past, but completion and no-shows need one. */
static void shift_into_past(const char *id, int days)
{
    const char *url = getenv("DATABASE_URL");
    cr_assert_not_null(url, "DATABASE_URL is not set");
    PGconn *c = PQconnectdb(url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    char n[16];
    snprintf(n, sizeof n, "%d", days);
    const char *params[] = {id, n};
    PGresult *r = PQexecParams(
        c,
        "UPDATE booking.bookings SET starts_at = starts_at - make_interval(days => $2::int),"
        " ends_at = ends_at - make_interval(days => $2::int),"
        " blocked = tstzrange(lower(blocked) - make_interval(days => $2::int),"
        " upper(blocked) - make_interval(days => $2::int), '[)') WHERE id = $1",
        2, NULL, params, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    cr_assert_str_eq(PQcmdTuples(r), "1");
    PQclear(r);
    PQfinish(c);
}

/* ---- availability ------------------------------------------------------------------ */

Test(booking_flow, availability_shows_the_default_week)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 0);
    bpt_response *r = bpt_availability(&f, f.corte_id, day, 1);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "timezone"), "America/Argentina/Buenos_Aires");
    json_t *slots = json_object_get(r->json, "slots");
    /* 09:00 to 17:15 every 15 minutes: 30 minutes plus 10 of buffer must
     * end by 18:00. */
    cr_expect_eq(json_array_size(slots), 34, "%zu slots: %s", json_array_size(slots), r->body);
    char first[32], last[32], first_end[32];
    bpt_ba_at(day, "09:00", first);
    bpt_ba_at(day, "09:30", first_end);
    bpt_ba_at(day, "17:15", last);
    cr_expect_str_eq(bpt_json_str(json_array_get(slots, 0), "starts_at"), first);
    cr_expect_str_eq(bpt_json_str(json_array_get(slots, 0), "ends_at"), first_end);
    cr_expect_str_eq(bpt_json_str(json_array_get(slots, json_array_size(slots) - 1), "starts_at"),
                     last);
    bpt_response_free(r);

    /* A week from that day: five working days of 34 slots and a Saturday of
     * 09:00 to 12:15 (14), unless a holiday closes one of them. */
    r = bpt_availability(&f, f.corte_id, day, 7);
    cr_assert(r != NULL && r->status == 200);
    size_t n = json_array_size(json_object_get(r->json, "slots"));
    cr_expect(n > 0 && n <= 5 * 34 + 14, "%zu slots in a week", n);
    bpt_response_free(r);

    /* Sunday: closed. */
    long sunday = day + (7 - bpt_iso_weekday(day));
    r = bpt_availability(&f, f.corte_id, sunday, 1);
    cr_assert(r != NULL && r->status == 200);
    cr_expect_eq(json_array_size(json_object_get(r->json, "slots")), 0, "%s", r->body);
    bpt_response_free(r);
}

Test(booking_flow, availability_refuses_bad_input)
{
    bpt_shop f;
    shop_setup(&f);
    char path[256], d[11];
    long day = workday(2, 0);
    bpt_day_date(day, d);
    snprintf(path, sizeof path, "/api/providers/nope/availability?service_id=%s&date=%s",
             f.corte_id, d);
    expect_error(bpt_http("GET", path, NULL, NULL, 0), 400, "invalid_request", "provider_id");
    snprintf(path, sizeof path, "/api/providers/%s/availability?service_id=x&date=%s",
             f.provider_id, d);
    expect_error(bpt_http("GET", path, NULL, NULL, 0), 400, "invalid_request", "service_id");
    snprintf(path, sizeof path, "/api/providers/%s/availability?service_id=%s&date=2026-02-30",
             f.provider_id, f.corte_id);
    expect_error(bpt_http("GET", path, NULL, NULL, 0), 400, "invalid_request", "date");
    expect_error(bpt_availability(&f, f.corte_id, bpt_ba_today() - 1, 1), 400, "invalid_request",
                 "date");
    expect_error(bpt_availability(&f, f.corte_id, bpt_ba_today() + 90, 1), 400, "invalid_request",
                 "date");
    expect_error(bpt_availability(&f, f.corte_id, day, 0), 400, "invalid_request", "days");
    expect_error(bpt_availability(&f, f.corte_id, day, 61), 400, "invalid_request", "days");
    /* Well-formed but unknown. */
    expect_error(bpt_availability(&f, f.owner.id, day, 1), 404, "not_found", NULL);
}

/* ---- booking ------------------------------------------------------------------------- */

Test(booking_flow, no_deposit_booking_is_confirmed_and_leaves_the_list)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 0);
    /* Fill the cache first: the booking must drop it. */
    cr_assert(offers(&f, f.corte_id, day, "10:00"));

    char start[32];
    bpt_ba_at(day, "10:00", start);
    bpt_response *r = bpt_book(f.client.token, &f, f.corte_id, start);
    cr_assert(r != NULL && r->status == 201, "%ld %s", r ? r->status : 0, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "confirmed");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), start);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.client_id"), f.client.id);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.shop_id"), f.shop_id);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.currency"), "ARS");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.price_display"), "$ 15.000,00");
    cr_expect_eq(json_integer_value(bpt_json_at(r->json, "booking.price_cents")), CORTE_PRICE);
    cr_expect_eq(json_integer_value(bpt_json_at(r->json, "booking.deposit_cents")), 0);
    cr_expect_null(bpt_json_str(r->json, "booking.hold_expires_at"));
    char end[32];
    bpt_ba_at(day, "10:30", end);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.ends_at"), end);
    bpt_response_free(r);

    /* The slot and every start whose service or buffer would touch it. */
    const char *gone[] = {"09:30", "09:45", "10:00", "10:15", "10:30"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        cr_expect(!offers(&f, f.corte_id, day, gone[i]), "%s still offered", gone[i]);
    cr_expect(offers(&f, f.corte_id, day, "09:15"), "09:15 must stay (ends at 09:55)");
    cr_expect(offers(&f, f.corte_id, day, "10:45"), "10:45 must stay (after the buffer)");

    /* The same slot again: taken, whoever asks. */
    bpt_user other;
    cr_assert_eq(bpt_user_new(&other), 0);
    expect_error(bpt_book(other.token, &f, f.corte_id, start), 409, "slot_taken", NULL);
    bpt_ba_at(day, "10:15", start);
    expect_error(bpt_book(other.token, &f, f.corte_id, start), 409, "slot_taken", NULL);
}

Test(booking_flow, an_idempotency_key_makes_a_retry_return_the_same_booking)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 1);
    char start[32], other_start[32], key[96];
    bpt_ba_at(day, "11:00", start);
    bpt_ba_at(day, "12:00", other_start);
    snprintf(key, sizeof key, "retry-%s", f.client.id);

    bpt_response *first = bpt_book_keyed(f.client.token, &f, f.corte_id, start, key);
    cr_assert(first != NULL && first->status == 201, "%ld %s", first ? first->status : 0,
              first ? first->body : "");
    const char *id = bpt_json_str(first->json, "booking.id");
    cr_assert_not_null(id);

    /* The answer was lost: the same request again is the same booking,
     * not a slot taken by the client's own booking. */
    bpt_response *again = bpt_book_keyed(f.client.token, &f, f.corte_id, start, key);
    cr_assert(again != NULL && again->status == 201, "%ld %s", again ? again->status : 0,
              again ? again->body : "");
    cr_expect_str_eq(bpt_json_str(again->json, "booking.id"), id);
    cr_expect_str_eq(bpt_json_str(again->json, "booking.starts_at"), start);
    bpt_response_free(again);

    /* The key names that request: another start with it is a conflict, and
     * nothing is booked. */
    expect_error(bpt_book_keyed(f.client.token, &f, f.corte_id, other_start, key), 409,
                 "idempotency_conflict", "Idempotency-Key");
    cr_expect(offers(&f, f.corte_id, day, "12:00"), "12:00 was booked by a conflicting key");

    /* Keys are the client's own: another client's same key books anew (the
     * slot is taken, so it says so). Without a key the slot is taken too. */
    bpt_user other;
    cr_assert_eq(bpt_user_new(&other), 0);
    expect_error(bpt_book_keyed(other.token, &f, f.corte_id, start, key), 409, "slot_taken", NULL);
    expect_error(bpt_book(f.client.token, &f, f.corte_id, start), 409, "slot_taken", NULL);

    const char *params[] = {id};
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM booking.bookings WHERE client_id ="
                             " (SELECT client_id FROM booking.bookings WHERE id = $1::uuid)",
                             1, params),
                 1);
    bpt_response_free(first);
}

Test(booking_flow, deposit_booking_is_held_then_expires)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32], id[64];
    bpt_ba_at(day, "11:00", start);
    bpt_response *r = bpt_book(f.client.token, &f, f.color_id, start);
    cr_assert(r != NULL && r->status == 201, "%ld %s", r ? r->status : 0, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "pending_payment");
    cr_expect_eq(json_integer_value(bpt_json_at(r->json, "booking.deposit_cents")),
                 COLOR_PRICE / 5);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.deposit_display"), "$ 8.000,00");
    cr_expect_not_null(bpt_json_str(r->json, "booking.hold_expires_at"), "%s", r->body);
    snprintf(id, sizeof id, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
    cr_expect(!offers(&f, f.color_id, day, "11:00"), "a held slot is not free");

    /* BOOKING_HOLD_SECONDS=4 and the job runs every 500 ms. */
    char *status = NULL;
    double deadline = bpt_now_ms() + 15000;
    do {
        free(status);
        bpt_sleep_ms(250);
        status = booking_field(f.client.token, id, "status");
    } while (strcmp(status, "expired") != 0 && bpt_now_ms() < deadline);
    cr_expect_str_eq(status, "expired");
    free(status);
    cr_expect(offers(&f, f.color_id, day, "11:00"), "the lapsed hold must free the slot");

    /* A payment that arrives late still confirms while the chair is free. */
    char event_id[37];
    bp_uuid(event_id);
    cr_expect_eq(deliver_payment(event_id, id, COLOR_PRICE / 5), 200);
    status = booking_field(f.client.token, id, "status");
    cr_expect_str_eq(status, "confirmed");
    free(status);
    cr_expect(!offers(&f, f.color_id, day, "11:00"), "a late confirmation takes the slot again");
}

Test(booking_flow, refusals_name_the_rule)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32];
    const char *tok = f.client.token;

    bpt_ba_at(bpt_ba_today() - 1, "10:00", start);
    expect_error(bpt_book(tok, &f, f.corte_id, start), 422, "in_the_past", "starts_at");

    /* 30 minutes from now, on a quarter hour: inside the 60-minute notice. */
    time_t soon = time(NULL) + 30 * 60;
    soon -= soon % 900;
    if (soon <= time(NULL))
        soon += 900;
    struct tm tm;
    time_t local = soon + BA_OFFSET_S;
    gmtime_r(&local, &tm);
    strftime(start, sizeof start, "%Y-%m-%dT%H:%M:00-03:00", &tm);
    expect_error(bpt_book(tok, &f, f.corte_id, start), 422, "too_soon", "starts_at");

    long sunday = day + (7 - bpt_iso_weekday(day));
    bpt_ba_at(sunday, "10:00", start);
    expect_error(bpt_book(tok, &f, f.corte_id, start), 422, "outside_hours", "starts_at");
    bpt_ba_at(day, "20:00", start);
    expect_error(bpt_book(tok, &f, f.corte_id, start), 422, "outside_hours", "starts_at");
    bpt_ba_at(day, "10:07", start);
    expect_error(bpt_book(tok, &f, f.corte_id, start), 422, "outside_hours", "starts_at");
    bpt_ba_at(day, "17:30", start); /* 30 + 10 of buffer overruns 18:00 */
    expect_error(bpt_book(tok, &f, f.corte_id, start), 422, "outside_hours", "starts_at");
    bpt_ba_at(bpt_ba_today() + 70, "10:00", start);
    expect_error(bpt_book(tok, &f, f.corte_id, start), 422, "too_far", "starts_at");

    /* The next holiday within the horizon, whatever weekday it falls on. */
    long holiday = 0;
    for (long d = bpt_ba_today() + 2; d < bpt_ba_today() + 58 && holiday == 0; d++)
        if (is_holiday(d))
            holiday = d;
    if (holiday != 0) {
        bpt_ba_at(holiday, "10:00", start);
        expect_error(bpt_book(tok, &f, f.corte_id, start), 422, "holiday", "starts_at");
    } else {
        cr_log_info("no holiday within the next 58 days: holiday refusal not exercised");
    }

    /* Malformed input is a 400 naming the field. */
    expect_error(bpt_book(tok, &f, f.corte_id, "mañana a las 10"), 400, "invalid_request",
                 "starts_at");
    expect_error(bpt_book(tok, &f, f.corte_id, "2030-01-07T10:00:00"), 400, "invalid_request",
                 "starts_at");
    bpt_ba_at(day, "10:00", start);
    expect_error(bpt_book(tok, &f, "no-es-un-id", start), 400, "invalid_request", "service_id");
    bpt_response *r = bpt_http_pack("POST", "/api/bookings", tok, "{s:s, s:s, s:s}", "provider_id",
                                    "123", "service_id", f.corte_id, "starts_at", start);
    expect_error(r, 400, "invalid_request", "provider_id");
    /* A well-formed id that is no service of the shop. */
    expect_error(bpt_book(tok, &f, f.provider_id, start), 404, "not_found", NULL);
    /* Unsigned: 401. */
    r = bpt_http_pack("POST", "/api/bookings", NULL, "{s:s, s:s, s:s}", "provider_id",
                      f.provider_id, "service_id", f.corte_id, "starts_at", start);
    expect_error(r, 401, "unauthorized", NULL);
}

/* ---- who sees what ------------------------------------------------------------------- */

Test(booking_flow, only_the_parties_see_a_booking)
{
    bpt_shop f;
    shop_setup(&f);
    char start[32], id[64];
    bpt_ba_at(workday(2, 0), "12:00", start);
    book_ok(f.client.token, &f, f.corte_id, start, id, "confirmed");

    bpt_response *r = bpt_booking_get(f.client.token, id);
    cr_expect_eq(r->status, 200, "%s", r->body);
    bpt_response_free(r);
    r = bpt_booking_get(f.barber.token, id);
    cr_expect_eq(r->status, 200, "provider: %s", r->body);
    bpt_response_free(r);
    r = bpt_booking_get(f.owner.token, id);
    cr_expect_eq(r->status, 200, "owner: %s", r->body);
    bpt_response_free(r);

    bpt_user stranger;
    cr_assert_eq(bpt_user_new(&stranger), 0);
    expect_error(bpt_booking_get(stranger.token, id), 404, "not_found", NULL);
    expect_error(bpt_booking_get(stranger.token, "00000000-0000-4000-8000-000000000000"), 404,
                 "not_found", NULL);
    expect_error(bpt_booking_get(stranger.token, "nope"), 400, "invalid_request", "booking_id");

    /* Lists: the client's own, the provider's, the owner's. */
    r = bpt_http_json("GET", "/api/bookings", f.client.token, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/bookings", stranger.token, NULL);
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 0, "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/bookings?role=provider", f.barber.token, NULL);
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/bookings?role=owner&status=confirmed", f.owner.token, NULL);
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body);
    bpt_response_free(r);
    expect_error(bpt_http_json("GET", "/api/bookings?role=jefe", f.owner.token, NULL), 400,
                 "invalid_request", "role");
    expect_error(bpt_http_json("GET", "/api/bookings?from=ayer", f.owner.token, NULL), 400,
                 "invalid_request", "from");
}

Test(booking_flow, list_pages_with_a_cursor)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 1);
    const char *times[] = {"09:00", "10:00", "11:00", "12:00", "13:00"};
    char start[32], id[64];
    for (size_t i = 0; i < 5; i++) {
        bpt_ba_at(day, times[i], start);
        book_ok(f.client.token, &f, f.corte_id, start, id, "confirmed");
    }
    char path[256] = "/api/bookings?limit=2";
    size_t seen = 0;
    for (int page = 0; page < 5; page++) {
        bpt_response *r = bpt_http_json("GET", path, f.client.token, NULL);
        cr_assert_eq(r->status, 200, "%s", r->body);
        seen += json_array_size(json_object_get(r->json, "items"));
        const char *next = bpt_json_str(r->json, "next_cursor");
        if (next == NULL) {
            bpt_response_free(r);
            break;
        }
        snprintf(path, sizeof path, "/api/bookings?limit=2&cursor=%s", next);
        bpt_response_free(r);
    }
    cr_expect_eq(seen, 5);
}

/* ---- changes ------------------------------------------------------------------------- */

Test(booking_flow, client_cancels_with_a_reason)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32], id[64];
    bpt_ba_at(day, "14:00", start);
    book_ok(f.client.token, &f, f.corte_id, start, id, "confirmed");

    bpt_user stranger;
    cr_assert_eq(bpt_user_new(&stranger), 0);
    json_t *body = json_pack("{s:s}", "reason", "Me surgió un viaje");
    expect_error(bpt_booking_act(stranger.token, id, "cancel", body), 404, "not_found", NULL);

    bpt_response *r = bpt_booking_act(f.client.token, id, "cancel", body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "cancelled");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancelled_by"), "client");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancel_reason"), "Me surgió un viaje");
    cr_expect_not_null(bpt_json_str(r->json, "booking.cancelled_at"));
    cr_expect(json_is_false(bpt_json_at(r->json, "booking.refund_due")), "%s", r->body);
    bpt_response_free(r);
    cr_expect(offers(&f, f.corte_id, day, "14:00"), "a cancelled booking frees its slot");

    expect_error(bpt_booking_act(f.client.token, id, "cancel", body), 409, "invalid_state", NULL);
    json_decref(body);
}

Test(booking_flow, reschedule_is_all_or_nothing)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 0);
    bpt_user other;
    cr_assert_eq(bpt_user_new(&other), 0);
    char a_start[32], b_start[32], a_id[64], b_id[64], to[32];
    bpt_ba_at(day, "10:00", a_start);
    bpt_ba_at(day, "11:00", b_start);
    book_ok(f.client.token, &f, f.corte_id, a_start, a_id, "confirmed");
    book_ok(other.token, &f, f.corte_id, b_start, b_id, "confirmed");

    const char *taken[] = {"11:00", "10:30", "11:15"};
    for (size_t i = 0; i < 3; i++) {
        bpt_ba_at(day, taken[i], to);
        json_t *body = json_pack("{s:s}", "starts_at", to);
        expect_error(bpt_booking_act(f.client.token, a_id, "reschedule", body), 409, "slot_taken",
                     NULL);
        json_decref(body);
        char *now = booking_field(f.client.token, a_id, "starts_at");
        cr_expect_str_eq(now, a_start, "a refused reschedule changed the booking");
        free(now);
    }
    bpt_ba_at(day, "10:07", to);
    json_t *body = json_pack("{s:s}", "starts_at", to);
    expect_error(bpt_booking_act(f.client.token, a_id, "reschedule", body), 422, "outside_hours",
                 "starts_at");
    json_decref(body);

    /* Overlapping its own old time is fine: the row moves as a whole. */
    bpt_ba_at(day, "10:15", to);
    body = json_pack("{s:s}", "starts_at", to);
    bpt_response *r = bpt_booking_act(f.client.token, a_id, "reschedule", body);
    json_decref(body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), to);
    bpt_response_free(r);

    bpt_ba_at(day, "15:00", to);
    body = json_pack("{s:s}", "starts_at", to);
    r = bpt_booking_act(f.barber.token, a_id, "reschedule", body);
    json_decref(body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), to);
    bpt_response_free(r);
    cr_expect(offers(&f, f.corte_id, day, "10:00"), "the old slot is free again");
    cr_expect(!offers(&f, f.corte_id, day, "15:00"), "the new slot is taken");
}

Test(booking_flow, complete_and_no_show_are_the_shops_word)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32], a_id[64], b_id[64];
    bpt_ba_at(day, "09:00", start);
    book_ok(f.client.token, &f, f.corte_id, start, a_id, "confirmed");
    bpt_ba_at(day, "10:00", start);
    book_ok(f.client.token, &f, f.corte_id, start, b_id, "confirmed");

    expect_error(bpt_booking_act(f.barber.token, a_id, "complete", NULL), 422, "too_soon", NULL);
    shift_into_past(a_id, 10);
    shift_into_past(b_id, 10);

    expect_error(bpt_booking_act(f.client.token, a_id, "complete", NULL), 403, "forbidden", NULL);
    expect_error(bpt_booking_act(f.client.token, b_id, "no-show", NULL), 403, "forbidden", NULL);
    bpt_response *r = bpt_booking_act(f.barber.token, a_id, "complete", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "completed");
    bpt_response_free(r);
    r = bpt_booking_act(f.owner.token, b_id, "no-show", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "no_show");
    bpt_response_free(r);
    expect_error(bpt_booking_act(f.barber.token, a_id, "complete", NULL), 409, "invalid_state",
                 NULL);
    expect_error(bpt_booking_act(f.barber.token, b_id, "complete", NULL), 409, "invalid_state",
                 NULL);
}

Test(booking_flow, two_no_shows_demand_a_deposit)
{
    bpt_shop f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32], id[64];
    const char *times[] = {"09:00", "10:00"};
    for (int i = 0; i < 2; i++) {
        bpt_ba_at(day, times[i], start);
        book_ok(f.client.token, &f, f.corte_id, start, id, "confirmed");
        shift_into_past(id, 20);
        bpt_response *r = bpt_booking_act(f.barber.token, id, "no-show", NULL);
        cr_assert_eq(r->status, 200, "%s", r->body);
        bpt_response_free(r);
    }
    /* The shop's default no-show deposit is 50 %. */
    bpt_ba_at(day, "12:00", start);
    bpt_response *r = bpt_book(f.client.token, &f, f.corte_id, start);
    cr_assert(r != NULL && r->status == 201, "%s", r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "pending_payment");
    cr_expect_eq(json_integer_value(bpt_json_at(r->json, "booking.deposit_cents")), CORTE_PRICE / 2,
                 "%s", r->body);
    bpt_response_free(r);

    /* Another client of the same shop books the same service without one. */
    bpt_user other;
    cr_assert_eq(bpt_user_new(&other), 0);
    bpt_ba_at(day, "14:00", start);
    book_ok(other.token, &f, f.corte_id, start, id, "confirmed");
}

Test(booking_flow, payment_approved_confirms_once)
{
    bpt_shop f;
    shop_setup(&f);
    char start[32], id[64];
    bpt_ba_at(workday(2, 0), "16:00", start);
    book_ok(f.client.token, &f, f.color_id, start, id, "pending_payment");

    char event_id[37];
    bp_uuid(event_id);
    cr_expect_eq(deliver_payment(event_id, id, COLOR_PRICE / 5), 200);
    char *status = booking_field(f.client.token, id, "status");
    cr_expect_str_eq(status, "confirmed");
    free(status);
    char *hold = booking_field(f.client.token, id, "hold_expires_at");
    cr_expect_str_eq(hold, "", "a confirmed booking has no hold");
    free(hold);

    /* The same event again, and the booking cancelled meanwhile: the inbox
     * must not apply it twice (no refund flag appears). */
    bpt_response *r = bpt_booking_act(f.owner.token, id, "cancel", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_true(bpt_json_at(r->json, "booking.refund_due")),
              "the shop cancelled a paid booking: %s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancelled_by"), "owner");
    bpt_response_free(r);
    cr_expect_eq(deliver_payment(event_id, id, COLOR_PRICE / 5), 200);
    status = booking_field(f.client.token, id, "status");
    cr_expect_str_eq(status, "cancelled");
    free(status);
    char *by = booking_field(f.client.token, id, "cancelled_by");
    cr_expect_str_eq(by, "owner", "a redelivered event changed the booking");
    free(by);
}
