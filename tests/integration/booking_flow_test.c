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
#include "events.pb-c.h"
#include "harness.h"
#include "rpc.pb-c.h"

#define BA_OFFSET_S (-3 * 3600)
#define CORTE_PRICE 1500000 /* $ 15.000,00 */
#define COLOR_PRICE 4000000 /* $ 40.000,00 */

/* One shop with two services and a linked provider, fresh for each test. */
typedef struct {
    bpt_user owner, barber, client;
    char shop_id[64], corte_id[64], color_id[64], provider_id[64];
} shop_fixture;

/* ---- dates ------------------------------------------------------------------------ */

static long today_ba(void)
{
    return (long)((time(NULL) + BA_OFFSET_S) / 86400);
}

static int iso_weekday(long day)
{
    return (int)((day + 3) % 7) + 1;
}

static void date_of(long day, char out[11])
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static int year_of(long day)
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm.tm_year + 1900;
}

/* "YYYY-MM-DDTHH:MM:00-03:00" of a local day and time. */
static void at(long day, const char *hhmm, char out[32])
{
    char d[11];
    date_of(day, d);
    snprintf(out, 32, "%sT%s:00-03:00", d, hhmm);
}

/* Whether day is in GET /api/holidays of its year. */
static int is_holiday(long day)
{
    char path[64], d[11];
    date_of(day, d);
    snprintf(path, sizeof path, "/api/holidays?year=%d", year_of(day));
    bpt_response *r = bpt_http("GET", path, NULL, NULL, 0);
    cr_assert(r != NULL && r->status == 200, "GET %s failed", path);
    json_t *items = json_object_get(r->json, "items");
    int found = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *hd = bpt_json_str(json_array_get(items, i), "date");
        if (hd != NULL && strcmp(hd, d) == 0)
            found = 1;
    }
    bpt_response_free(r);
    return found;
}

/* The n-th Monday-to-Friday working day from min_ahead days on that is no
 * holiday (n = 0: the first). */
static long workday(int min_ahead, int n)
{
    for (long d = today_ba() + min_ahead; d < today_ba() + 58; d++) {
        if (iso_weekday(d) <= 5 && !is_holiday(d) && n-- == 0)
            return d;
    }
    cr_assert_fail("no working day within the horizon");
    return 0;
}

/* ---- setup ---------------------------------------------------------------------- */

static void register_as(bpt_user *u, const char *role, const char *name)
{
    memset(u, 0, sizeof *u);
    bpt_unique_email(u->email, sizeof u->email);
    snprintf(u->password, sizeof u->password, "Navaja-Fade-7281!");
    snprintf(u->name, sizeof u->name, "%s", name);
    bpt_response *r = bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:s, s:b}",
                                    "email", u->email, "password", u->password, "name", name,
                                    "role", role, "accept_terms", 1);
    cr_assert(r != NULL && r->status == 201, "register %s: %ld %s", role, r ? r->status : 0,
              r ? r->body : "");
    snprintf(u->id, sizeof u->id, "%s", bpt_json_str(r->json, "user.id"));
    snprintf(u->token, sizeof u->token, "%s", bpt_json_str(r->json, "token"));
    bpt_response_free(r);
}

static void created_id(bpt_response *r, const char *path, char out[64])
{
    cr_assert(r != NULL && r->status == 201, "expected 201 creating %s, got %ld: %s", path,
              r ? r->status : 0, r ? r->body : "");
    const char *id = bpt_json_str(r->json, path);
    cr_assert_not_null(id, "no %s in %s", path, r->body);
    snprintf(out, 64, "%s", id);
    bpt_response_free(r);
}

static void shop_setup(shop_fixture *f)
{
    memset(f, 0, sizeof *f);
    register_as(&f->owner, "owner", "Dueña de Prueba");
    register_as(&f->barber, "client", "Barbero de Prueba");
    cr_assert_eq(bpt_user_new(&f->client), 0);

    created_id(bpt_http_pack("POST", "/api/shops", f->owner.token, "{s:s, s:s, s:s}", "name",
                             "Barbería El Filo", "address", "Av. Corrientes 1234", "city",
                             "Buenos Aires"),
               "shop.id", f->shop_id);
    char path[128];
    snprintf(path, sizeof path, "/api/shops/%s/services", f->shop_id);
    created_id(bpt_http_pack("POST", path, f->owner.token, "{s:s, s:i, s:I, s:i, s:i}", "name",
                             "Corte", "duration_minutes", 30, "price_cents",
                             (json_int_t)CORTE_PRICE, "buffer_minutes", 10, "deposit_percent", 0),
               "service.id", f->corte_id);
    created_id(bpt_http_pack("POST", path, f->owner.token, "{s:s, s:i, s:I, s:i, s:i}", "name",
                             "Color", "duration_minutes", 60, "price_cents",
                             (json_int_t)COLOR_PRICE, "buffer_minutes", 0, "deposit_percent", 20),
               "service.id", f->color_id);
    snprintf(path, sizeof path, "/api/shops/%s/providers", f->shop_id);
    bpt_response *r =
        bpt_http_pack("POST", path, f->owner.token, "{s:s, s:s, s:[s, s]}", "name", "Tano", "email",
                      f->barber.email, "service_ids", f->corte_id, f->color_id);
    cr_assert(r != NULL && r->status == 201, "create provider: %ld %s", r ? r->status : 0,
              r ? r->body : "");
    const char *linked = bpt_json_str(r->json, "provider.user_id");
    cr_assert(linked != NULL && strcmp(linked, f->barber.id) == 0,
              "the provider is not linked to the barber's account: %s", r->body);
    created_id(r, "provider.id", f->provider_id);
}

/* ---- calls ------------------------------------------------------------------------ */

static bpt_response *book(const char *token, const shop_fixture *f, const char *service_id,
                          const char *starts_at)
{
    return bpt_http_pack("POST", "/api/bookings", token, "{s:s, s:s, s:s}", "provider_id",
                         f->provider_id, "service_id", service_id, "starts_at", starts_at);
}

/* Books and expects 201; copies the booking id. */
static void book_ok(const char *token, const shop_fixture *f, const char *service_id,
                    const char *starts_at, char id[64], const char *want_status)
{
    bpt_response *r = book(token, f, service_id, starts_at);
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

static bpt_response *availability(const shop_fixture *f, const char *service_id, long day, int days)
{
    char path[256], d[11];
    date_of(day, d);
    snprintf(path, sizeof path, "/api/providers/%s/availability?service_id=%s&date=%s&days=%d",
             f->provider_id, service_id, d, days);
    return bpt_http("GET", path, NULL, NULL, 0);
}

/* Whether the availability of day lists a slot starting at hhmm. */
static int offers(const shop_fixture *f, const char *service_id, long day, const char *hhmm)
{
    bpt_response *r = availability(f, service_id, day, 1);
    cr_assert(r != NULL && r->status == 200, "availability: %ld %s", r ? r->status : 0,
              r ? r->body : "");
    char want[32];
    at(day, hhmm, want);
    json_t *slots = json_object_get(r->json, "slots");
    int found = 0;
    for (size_t i = 0; i < json_array_size(slots); i++) {
        const char *s = bpt_json_str(json_array_get(slots, i), "starts_at");
        if (s != NULL && strcmp(s, want) == 0)
            found = 1;
    }
    bpt_response_free(r);
    return found;
}

static bpt_response *get_booking(const char *token, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/bookings/%s", id);
    return bpt_http_json("GET", path, token, NULL);
}

static char *booking_field(const char *token, const char *id, const char *field)
{
    bpt_response *r = get_booking(token, id);
    cr_assert(r != NULL && r->status == 200, "GET booking: %ld %s", r ? r->status : 0,
              r ? r->body : "");
    char path[64];
    snprintf(path, sizeof path, "booking.%s", field);
    const char *v = bpt_json_str(r->json, path);
    char *out = strdup(v != NULL ? v : "");
    bpt_response_free(r);
    return out;
}

static bpt_response *act(const char *token, const char *id, const char *what, const json_t *body)
{
    char path[160];
    snprintf(path, sizeof path, "/api/bookings/%s/%s", id, what);
    return bpt_http_json("POST", path, token, body);
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

/* Delivers payment.approved for booking_id straight to the daemon's Deliver
 * with event_id, as the payment daemon's relay would. Returns the status. */
static int deliver_payment(const char *event_id, const char *booking_id, int64_t amount)
{
    Bp__Events__PaymentEvent pay = BP__EVENTS__PAYMENT_EVENT__INIT;
    pay.payment_id = "mp-123456789";
    pay.booking_id = (char *)booking_id;
    pay.status = "approved";
    pay.has_amount_cents = 1;
    pay.amount_cents = amount;
    pay.currency = "ARS";
    uint8_t payload[512];
    size_t plen = bp__events__payment_event__pack(&pay, payload);

    Bp__Events__Event ev = BP__EVENTS__EVENT__INIT;
    ev.id = (char *)event_id;
    ev.topic = "payment.approved";
    ev.producer = "payment";
    ev.occurred_at = "2026-01-01T00:00:00Z";
    ev.key = (char *)booking_id;
    ev.has_payload = 1;
    ev.payload.data = payload;
    ev.payload.len = plen;
    ev.has_attempt = 1;
    ev.attempt = 1;
    uint8_t body[1024];
    size_t blen = bp__events__event__pack(&ev, body);
    Bp__Rpc__Reply *reply = NULL;
    int rv = bpt_rpc_call("booking", "Deliver", body, blen, 5000, &reply);
    cr_assert_eq(rv, 0, "Deliver call failed: %d", rv);
    int status = (int)reply->status;
    bp__rpc__reply__free_unpacked(reply, NULL);
    return status;
}

/* ---- availability ------------------------------------------------------------------ */

Test(booking_flow, availability_shows_the_default_week)
{
    shop_fixture f;
    shop_setup(&f);
    long day = workday(2, 0);
    bpt_response *r = availability(&f, f.corte_id, day, 1);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "timezone"), "America/Argentina/Buenos_Aires");
    json_t *slots = json_object_get(r->json, "slots");
    /* 09:00 to 17:15 every 15 minutes: 30 minutes plus 10 of buffer must
     * end by 18:00. */
    cr_expect_eq(json_array_size(slots), 34, "%zu slots: %s", json_array_size(slots), r->body);
    char first[32], last[32], first_end[32];
    at(day, "09:00", first);
    at(day, "09:30", first_end);
    at(day, "17:15", last);
    cr_expect_str_eq(bpt_json_str(json_array_get(slots, 0), "starts_at"), first);
    cr_expect_str_eq(bpt_json_str(json_array_get(slots, 0), "ends_at"), first_end);
    cr_expect_str_eq(bpt_json_str(json_array_get(slots, json_array_size(slots) - 1), "starts_at"),
                     last);
    bpt_response_free(r);

    /* A week from that day: five working days of 34 slots and a Saturday of
     * 09:00 to 12:15 (14), unless a holiday closes one of them. */
    r = availability(&f, f.corte_id, day, 7);
    cr_assert(r != NULL && r->status == 200);
    size_t n = json_array_size(json_object_get(r->json, "slots"));
    cr_expect(n > 0 && n <= 5 * 34 + 14, "%zu slots in a week", n);
    bpt_response_free(r);

    /* Sunday: closed. */
    long sunday = day + (7 - iso_weekday(day));
    r = availability(&f, f.corte_id, sunday, 1);
    cr_assert(r != NULL && r->status == 200);
    cr_expect_eq(json_array_size(json_object_get(r->json, "slots")), 0, "%s", r->body);
    bpt_response_free(r);
}

Test(booking_flow, availability_refuses_bad_input)
{
    shop_fixture f;
    shop_setup(&f);
    char path[256], d[11];
    long day = workday(2, 0);
    date_of(day, d);
    snprintf(path, sizeof path, "/api/providers/nope/availability?service_id=%s&date=%s",
             f.corte_id, d);
    expect_error(bpt_http("GET", path, NULL, NULL, 0), 400, "invalid_request", "provider_id");
    snprintf(path, sizeof path, "/api/providers/%s/availability?service_id=x&date=%s",
             f.provider_id, d);
    expect_error(bpt_http("GET", path, NULL, NULL, 0), 400, "invalid_request", "service_id");
    snprintf(path, sizeof path, "/api/providers/%s/availability?service_id=%s&date=2026-02-30",
             f.provider_id, f.corte_id);
    expect_error(bpt_http("GET", path, NULL, NULL, 0), 400, "invalid_request", "date");
    expect_error(availability(&f, f.corte_id, today_ba() - 1, 1), 400, "invalid_request", "date");
    expect_error(availability(&f, f.corte_id, today_ba() + 90, 1), 400, "invalid_request", "date");
    expect_error(availability(&f, f.corte_id, day, 0), 400, "invalid_request", "days");
    expect_error(availability(&f, f.corte_id, day, 61), 400, "invalid_request", "days");
    /* Well-formed but unknown. */
    expect_error(availability(&f, f.owner.id, day, 1), 404, "not_found", NULL);
}

/* ---- booking ------------------------------------------------------------------------- */

Test(booking_flow, no_deposit_booking_is_confirmed_and_leaves_the_list)
{
    shop_fixture f;
    shop_setup(&f);
    long day = workday(2, 0);
    /* Fill the cache first: the booking must drop it. */
    cr_assert(offers(&f, f.corte_id, day, "10:00"));

    char start[32];
    at(day, "10:00", start);
    bpt_response *r = book(f.client.token, &f, f.corte_id, start);
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
    at(day, "10:30", end);
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
    expect_error(book(other.token, &f, f.corte_id, start), 409, "slot_taken", NULL);
    at(day, "10:15", start);
    expect_error(book(other.token, &f, f.corte_id, start), 409, "slot_taken", NULL);
}

Test(booking_flow, deposit_booking_is_held_then_expires)
{
    shop_fixture f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32], id[64];
    at(day, "11:00", start);
    bpt_response *r = book(f.client.token, &f, f.color_id, start);
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
    shop_fixture f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32];
    const char *tok = f.client.token;

    at(today_ba() - 1, "10:00", start);
    expect_error(book(tok, &f, f.corte_id, start), 422, "in_the_past", "starts_at");

    /* 30 minutes from now, on a quarter hour: inside the 60-minute notice. */
    time_t soon = time(NULL) + 30 * 60;
    soon -= soon % 900;
    if (soon <= time(NULL))
        soon += 900;
    struct tm tm;
    time_t local = soon + BA_OFFSET_S;
    gmtime_r(&local, &tm);
    strftime(start, sizeof start, "%Y-%m-%dT%H:%M:00-03:00", &tm);
    expect_error(book(tok, &f, f.corte_id, start), 422, "too_soon", "starts_at");

    long sunday = day + (7 - iso_weekday(day));
    at(sunday, "10:00", start);
    expect_error(book(tok, &f, f.corte_id, start), 422, "outside_hours", "starts_at");
    at(day, "20:00", start);
    expect_error(book(tok, &f, f.corte_id, start), 422, "outside_hours", "starts_at");
    at(day, "10:07", start);
    expect_error(book(tok, &f, f.corte_id, start), 422, "outside_hours", "starts_at");
    at(day, "17:30", start); /* 30 + 10 of buffer overruns 18:00 */
    expect_error(book(tok, &f, f.corte_id, start), 422, "outside_hours", "starts_at");
    at(today_ba() + 70, "10:00", start);
    expect_error(book(tok, &f, f.corte_id, start), 422, "too_far", "starts_at");

    /* The next holiday within the horizon, whatever weekday it falls on. */
    long holiday = 0;
    for (long d = today_ba() + 2; d < today_ba() + 58 && holiday == 0; d++)
        if (is_holiday(d))
            holiday = d;
    if (holiday != 0) {
        at(holiday, "10:00", start);
        expect_error(book(tok, &f, f.corte_id, start), 422, "holiday", "starts_at");
    } else {
        cr_log_info("no holiday within the next 58 days: holiday refusal not exercised");
    }

    /* Malformed input is a 400 naming the field. */
    expect_error(book(tok, &f, f.corte_id, "mañana a las 10"), 400, "invalid_request", "starts_at");
    expect_error(book(tok, &f, f.corte_id, "2030-01-07T10:00:00"), 400, "invalid_request",
                 "starts_at");
    at(day, "10:00", start);
    expect_error(book(tok, &f, "no-es-un-id", start), 400, "invalid_request", "service_id");
    bpt_response *r = bpt_http_pack("POST", "/api/bookings", tok, "{s:s, s:s, s:s}", "provider_id",
                                    "123", "service_id", f.corte_id, "starts_at", start);
    expect_error(r, 400, "invalid_request", "provider_id");
    /* A well-formed id that is no service of the shop. */
    expect_error(book(tok, &f, f.provider_id, start), 404, "not_found", NULL);
    /* Unsigned: 401. */
    r = bpt_http_pack("POST", "/api/bookings", NULL, "{s:s, s:s, s:s}", "provider_id",
                      f.provider_id, "service_id", f.corte_id, "starts_at", start);
    expect_error(r, 401, "unauthorized", NULL);
}

/* ---- who sees what ------------------------------------------------------------------- */

Test(booking_flow, only_the_parties_see_a_booking)
{
    shop_fixture f;
    shop_setup(&f);
    char start[32], id[64];
    at(workday(2, 0), "12:00", start);
    book_ok(f.client.token, &f, f.corte_id, start, id, "confirmed");

    bpt_response *r = get_booking(f.client.token, id);
    cr_expect_eq(r->status, 200, "%s", r->body);
    bpt_response_free(r);
    r = get_booking(f.barber.token, id);
    cr_expect_eq(r->status, 200, "provider: %s", r->body);
    bpt_response_free(r);
    r = get_booking(f.owner.token, id);
    cr_expect_eq(r->status, 200, "owner: %s", r->body);
    bpt_response_free(r);

    bpt_user stranger;
    cr_assert_eq(bpt_user_new(&stranger), 0);
    expect_error(get_booking(stranger.token, id), 404, "not_found", NULL);
    expect_error(get_booking(stranger.token, "00000000-0000-4000-8000-000000000000"), 404,
                 "not_found", NULL);
    expect_error(get_booking(stranger.token, "nope"), 400, "invalid_request", "booking_id");

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
    shop_fixture f;
    shop_setup(&f);
    long day = workday(2, 1);
    const char *times[] = {"09:00", "10:00", "11:00", "12:00", "13:00"};
    char start[32], id[64];
    for (size_t i = 0; i < 5; i++) {
        at(day, times[i], start);
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
    shop_fixture f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32], id[64];
    at(day, "14:00", start);
    book_ok(f.client.token, &f, f.corte_id, start, id, "confirmed");

    bpt_user stranger;
    cr_assert_eq(bpt_user_new(&stranger), 0);
    json_t *body = json_pack("{s:s}", "reason", "Me surgió un viaje");
    expect_error(act(stranger.token, id, "cancel", body), 404, "not_found", NULL);

    bpt_response *r = act(f.client.token, id, "cancel", body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "cancelled");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancelled_by"), "client");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.cancel_reason"), "Me surgió un viaje");
    cr_expect_not_null(bpt_json_str(r->json, "booking.cancelled_at"));
    cr_expect(json_is_false(bpt_json_at(r->json, "booking.refund_due")), "%s", r->body);
    bpt_response_free(r);
    cr_expect(offers(&f, f.corte_id, day, "14:00"), "a cancelled booking frees its slot");

    expect_error(act(f.client.token, id, "cancel", body), 409, "invalid_state", NULL);
    json_decref(body);
}

Test(booking_flow, reschedule_is_all_or_nothing)
{
    shop_fixture f;
    shop_setup(&f);
    long day = workday(2, 0);
    bpt_user other;
    cr_assert_eq(bpt_user_new(&other), 0);
    char a_start[32], b_start[32], a_id[64], b_id[64], to[32];
    at(day, "10:00", a_start);
    at(day, "11:00", b_start);
    book_ok(f.client.token, &f, f.corte_id, a_start, a_id, "confirmed");
    book_ok(other.token, &f, f.corte_id, b_start, b_id, "confirmed");

    const char *taken[] = {"11:00", "10:30", "11:15"};
    for (size_t i = 0; i < 3; i++) {
        at(day, taken[i], to);
        json_t *body = json_pack("{s:s}", "starts_at", to);
        expect_error(act(f.client.token, a_id, "reschedule", body), 409, "slot_taken", NULL);
        json_decref(body);
        char *now = booking_field(f.client.token, a_id, "starts_at");
        cr_expect_str_eq(now, a_start, "a refused reschedule changed the booking");
        free(now);
    }
    at(day, "10:07", to);
    json_t *body = json_pack("{s:s}", "starts_at", to);
    expect_error(act(f.client.token, a_id, "reschedule", body), 422, "outside_hours", "starts_at");
    json_decref(body);

    /* Overlapping its own old time is fine: the row moves as a whole. */
    at(day, "10:15", to);
    body = json_pack("{s:s}", "starts_at", to);
    bpt_response *r = act(f.client.token, a_id, "reschedule", body);
    json_decref(body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), to);
    bpt_response_free(r);

    at(day, "15:00", to);
    body = json_pack("{s:s}", "starts_at", to);
    r = act(f.barber.token, a_id, "reschedule", body);
    json_decref(body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), to);
    bpt_response_free(r);
    cr_expect(offers(&f, f.corte_id, day, "10:00"), "the old slot is free again");
    cr_expect(!offers(&f, f.corte_id, day, "15:00"), "the new slot is taken");
}

Test(booking_flow, complete_and_no_show_are_the_shops_word)
{
    shop_fixture f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32], a_id[64], b_id[64];
    at(day, "09:00", start);
    book_ok(f.client.token, &f, f.corte_id, start, a_id, "confirmed");
    at(day, "10:00", start);
    book_ok(f.client.token, &f, f.corte_id, start, b_id, "confirmed");

    expect_error(act(f.barber.token, a_id, "complete", NULL), 422, "too_soon", NULL);
    shift_into_past(a_id, 10);
    shift_into_past(b_id, 10);

    expect_error(act(f.client.token, a_id, "complete", NULL), 403, "forbidden", NULL);
    expect_error(act(f.client.token, b_id, "no-show", NULL), 403, "forbidden", NULL);
    bpt_response *r = act(f.barber.token, a_id, "complete", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "completed");
    bpt_response_free(r);
    r = act(f.owner.token, b_id, "no-show", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "no_show");
    bpt_response_free(r);
    expect_error(act(f.barber.token, a_id, "complete", NULL), 409, "invalid_state", NULL);
    expect_error(act(f.barber.token, b_id, "complete", NULL), 409, "invalid_state", NULL);
}

Test(booking_flow, two_no_shows_demand_a_deposit)
{
    shop_fixture f;
    shop_setup(&f);
    long day = workday(2, 0);
    char start[32], id[64];
    const char *times[] = {"09:00", "10:00"};
    for (int i = 0; i < 2; i++) {
        at(day, times[i], start);
        book_ok(f.client.token, &f, f.corte_id, start, id, "confirmed");
        shift_into_past(id, 20);
        bpt_response *r = act(f.barber.token, id, "no-show", NULL);
        cr_assert_eq(r->status, 200, "%s", r->body);
        bpt_response_free(r);
    }
    /* The shop's default no-show deposit is 50 %. */
    at(day, "12:00", start);
    bpt_response *r = book(f.client.token, &f, f.corte_id, start);
    cr_assert(r != NULL && r->status == 201, "%s", r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "booking.status"), "pending_payment");
    cr_expect_eq(json_integer_value(bpt_json_at(r->json, "booking.deposit_cents")), CORTE_PRICE / 2,
                 "%s", r->body);
    bpt_response_free(r);

    /* Another client of the same shop books the same service without one. */
    bpt_user other;
    cr_assert_eq(bpt_user_new(&other), 0);
    at(day, "14:00", start);
    book_ok(other.token, &f, f.corte_id, start, id, "confirmed");
}

Test(booking_flow, payment_approved_confirms_once)
{
    shop_fixture f;
    shop_setup(&f);
    char start[32], id[64];
    at(workday(2, 0), "16:00", start);
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
    bpt_response *r = act(f.owner.token, id, "cancel", NULL);
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
