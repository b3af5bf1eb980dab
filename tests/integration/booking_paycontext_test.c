/* The internal calls the payment daemon makes over the bus, against the real
 * suite: booking.PaymentContext (the booking as GetBooking answers it, with
 * the caller's relation to it) and auth.FindUser by id or by email (the
 * payer's email and name). Neither has a gateway route, so the tests send
 * the envelope themselves, with the principal the gateway would have set
 * after checking a token. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.pb-c.h"
#include "booking.pb-c.h"
#include "bp.h"
#include "harness.h"

#define DEPOSIT (BPT_COLOR_PRICE / 5) /* Color asks 20 % */

/* Largest request body these tests send. */
#define BODY_MAX 1024

/* ---- the bus ------------------------------------------------------------------------ */

/* Calls service's method with in, as user_id of role (user_id NULL: no
 * principal, an anonymous call). Returns the reply, which the caller frees
 * with bp__rpc__reply__free_unpacked; fails the test when none came. */
static Bp__Rpc__Reply *call_as(const char *service, const char *method, const char *user_id,
                               const char *role, const ProtobufCMessage *in)
{
    uint8_t body[BODY_MAX];
    size_t body_len = protobuf_c_message_get_packed_size(in);
    cr_assert_leq(body_len, sizeof body);
    protobuf_c_message_pack(in, body);

    int timeout_ms = bpt_rpc_timeout_ms();
    Bp__Rpc__Principal who = BP__RPC__PRINCIPAL__INIT;
    who.user_id = (char *)user_id;
    who.role = (char *)role;
    Bp__Rpc__Request req = BP__RPC__REQUEST__INIT;
    req.method = (char *)method;
    req.request_id = "bpt-paycontext";
    req.has_deadline_ms = 1;
    req.deadline_ms = bp_now_ms() + timeout_ms;
    req.principal = user_id != NULL ? &who : NULL;
    req.has_body = 1;
    req.body.data = body;
    req.body.len = body_len;

    uint8_t msg[BODY_MAX + 512];
    size_t len = bp__rpc__request__get_packed_size(&req);
    cr_assert_leq(len, sizeof msg);
    bp__rpc__request__pack(&req, msg);
    void *raw = NULL;
    size_t raw_len = 0;
    int rv = bpt_rpc_raw(service, msg, len, timeout_ms, &raw, &raw_len);
    cr_assert_eq(rv, 0, "%s.%s: no reply (%d)", service, method, rv);
    Bp__Rpc__Reply *reply = bp__rpc__reply__unpack(NULL, raw_len, raw);
    free(raw);
    cr_assert_not_null(reply, "%s.%s: the reply is not a Reply", service, method);
    return reply;
}

/* Expects reply to be an error of status, code and (when not NULL) field,
 * with a message; frees it. */
static void expect_error(Bp__Rpc__Reply *reply, int status, const char *code, const char *field)
{
    const Bp__Rpc__Error *e = reply->error;
    cr_expect_eq(reply->status, status, "status %d, expected %d (%s)", reply->status, status,
                 e != NULL && e->code != NULL ? e->code : "no error");
    cr_expect(e != NULL && e->code != NULL && strcmp(e->code, code) == 0, "code %s, expected %s",
              e != NULL && e->code != NULL ? e->code : "(none)", code);
    cr_expect(e != NULL && e->message != NULL && *e->message != '\0', "an error without message");
    if (field != NULL)
        cr_expect(e != NULL && e->field != NULL && strcmp(e->field, field) == 0,
                  "field %s, expected %s", e != NULL && e->field != NULL ? e->field : "(none)",
                  field);
    bp__rpc__reply__free_unpacked(reply, NULL);
}

/* ---- booking.PaymentContext --------------------------------------------------------- */

/* Calls method (GetBooking or PaymentContext) about booking_id as user_id
 * of role. */
static Bp__Rpc__Reply *ask_booking(const char *method, const char *booking_id, const char *user_id,
                                   const char *role)
{
    Bp__Booking__BookingRequest in = BP__BOOKING__BOOKING_REQUEST__INIT;
    in.booking_id = (char *)booking_id;
    return call_as("booking", method, user_id, role, &in.base);
}

/* PaymentContext of booking_id as user_id of role, expected to answer 200;
 * the caller frees it with bp__booking__payment_context_reply__free_unpacked. */
static Bp__Booking__PaymentContextReply *context_of(const char *booking_id, const char *user_id,
                                                    const char *role)
{
    Bp__Rpc__Reply *reply = ask_booking("PaymentContext", booking_id, user_id, role);
    cr_assert_eq(reply->status, 200, "PaymentContext as %s: %d %s", role, reply->status,
                 reply->error != NULL && reply->error->code != NULL ? reply->error->code : "");
    Bp__Booking__PaymentContextReply *ctx =
        bp__booking__payment_context_reply__unpack(NULL, reply->body.len, reply->body.data);
    bp__rpc__reply__free_unpacked(reply, NULL);
    cr_assert_not_null(ctx, "the PaymentContext body does not decode");
    cr_assert_not_null(ctx->booking, "PaymentContext without a booking");
    return ctx;
}

/* The actor PaymentContext names for user_id of role. */
static void expect_actor(const char *booking_id, const char *user_id, const char *role,
                         const char *want)
{
    Bp__Booking__PaymentContextReply *ctx = context_of(booking_id, user_id, role);
    cr_expect_str_eq(ctx->booking->id, booking_id);
    cr_expect(ctx->actor != NULL && strcmp(ctx->actor, want) == 0, "actor %s, expected %s",
              ctx->actor != NULL ? ctx->actor : "(none)", want);
    bp__booking__payment_context_reply__free_unpacked(ctx, NULL);
}

/* The Booking of a 200 answer to GetBooking or PaymentContext (field 1 of
 * both), packed into out (cap bytes); returns its length. */
static size_t packed_booking(Bp__Rpc__Reply *reply, bool context, uint8_t *out, size_t cap)
{
    cr_assert_eq(reply->status, 200, "status %d", reply->status);
    const ProtobufCMessageDescriptor *d = context ? &bp__booking__payment_context_reply__descriptor
                                                  : &bp__booking__booking_reply__descriptor;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, reply->body.len, reply->body.data);
    cr_assert_not_null(m);
    const Bp__Booking__Booking *b = context ? ((Bp__Booking__PaymentContextReply *)m)->booking
                                            : ((Bp__Booking__BookingReply *)m)->booking;
    cr_assert_not_null(b);
    size_t len = bp__booking__booking__get_packed_size(b);
    cr_assert_leq(len, cap);
    bp__booking__booking__pack(b, out);
    protobuf_c_message_free_unpacked(m, NULL);
    bp__rpc__reply__free_unpacked(reply, NULL);
    return len;
}

static void new_shop(bpt_shop *f)
{
    cr_assert_eq(bpt_shop_new(f), 0, "could not set up a shop (see stderr)");
}

/* Books service_id at day 10:00 as f's client; expects 201 and copies the
 * id. */
static void booked(const bpt_shop *f, const char *service_id, long day, char id[64])
{
    char start[32];
    bpt_ba_at(day, "10:00", start);
    bpt_response *r = bpt_book(f->client.token, f, service_id, start);
    cr_assert(r != NULL && r->status == 201, "booking %s: %ld %s", start, r ? r->status : 0L,
              r ? r->body : "");
    snprintf(id, 64, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
}

static long a_workday(void)
{
    long d = bpt_workday(2, 0);
    cr_assert(d >= 0, "no working day within the horizon (see stderr)");
    return d;
}

Test(payment_context, answers_a_pending_booking_with_what_checkout_needs, .timeout = 60)
{
    bpt_shop f;
    new_shop(&f);
    char id[64];
    booked(&f, f.color_id, a_workday(), id);

    /* Asked at once: the hold (BOOKING_HOLD_SECONDS=4 in the suite) is open. */
    Bp__Booking__PaymentContextReply *ctx = context_of(id, f.client.id, "client");
    const Bp__Booking__Booking *b = ctx->booking;
    cr_expect_str_eq(ctx->actor, "client");
    cr_expect_str_eq(b->id, id);
    cr_expect_str_eq(b->client_id, f.client.id);
    cr_expect_str_eq(b->shop_id, f.shop_id);
    cr_expect_str_eq(b->provider_id, f.provider_id);
    cr_expect_str_eq(b->service_id, f.color_id);
    cr_expect_str_eq(b->status, "pending_payment");
    cr_expect(b->has_price_cents && b->price_cents == BPT_COLOR_PRICE, "price %lld",
              (long long)b->price_cents);
    cr_expect(b->has_deposit_cents && b->deposit_cents == DEPOSIT, "deposit %lld",
              (long long)b->deposit_cents);
    cr_expect_str_eq(b->currency, "ARS");
    cr_expect_str_eq(b->deposit_display, "$ 8.000,00");
    cr_expect(b->hold_expires_at != NULL && *b->hold_expires_at != '\0', "no hold_expires_at");
    cr_expect_str_eq(b->timezone, "America/Argentina/Buenos_Aires");
    cr_expect_str_eq(b->service_name, "Color");
    cr_expect(b->shop_name != NULL && *b->shop_name != '\0', "no shop_name");
    cr_expect(b->provider_name != NULL && *b->provider_name != '\0', "no provider_name");
    bp__booking__payment_context_reply__free_unpacked(ctx, NULL);

    /* The very Booking GetBooking answers: compared byte for byte between
     * two GetBookings that agree (the expiry job may move it meanwhile). */
    bool compared = false;
    for (int attempt = 0; attempt < 5 && !compared; attempt++) {
        uint8_t before[4096], context[4096], after[4096];
        size_t n_before = packed_booking(ask_booking("GetBooking", id, f.client.id, "client"),
                                         false, before, sizeof before);
        size_t n_context = packed_booking(ask_booking("PaymentContext", id, f.client.id, "client"),
                                          true, context, sizeof context);
        size_t n_after = packed_booking(ask_booking("GetBooking", id, f.client.id, "client"), false,
                                        after, sizeof after);
        if (n_before != n_after || memcmp(before, after, n_before) != 0)
            continue;
        cr_expect(n_context == n_before && memcmp(context, before, n_before) == 0,
                  "PaymentContext's booking differs from GetBooking's");
        compared = true;
    }
    cr_expect(compared, "GetBooking never answered the same twice in a row");
}

Test(payment_context, names_the_callers_relation_and_hides_the_booking_from_strangers,
     .timeout = 60)
{
    bpt_shop f;
    new_shop(&f);
    char id[64];
    booked(&f, f.corte_id, a_workday(), id);
    bpt_user admin, stranger;
    cr_assert_eq(bpt_admin_login(&admin), 0, "admin login (see stderr)");
    cr_assert_eq(bpt_user_new(&stranger), 0, "could not register a client (see stderr)");

    expect_actor(id, f.client.id, "client", "client");
    expect_actor(id, f.barber.id, "client", "provider");
    expect_actor(id, f.owner.id, "owner", "owner");
    expect_actor(id, admin.id, "admin", "admin");

    /* Someone else's booking does not exist, as GetBooking says too. */
    expect_error(ask_booking("PaymentContext", id, stranger.id, "client"), 404, "not_found", NULL);
    expect_error(ask_booking("GetBooking", id, stranger.id, "client"), 404, "not_found", NULL);
    /* Being an owner is not enough: only this shop's owner. */
    bpt_shop other;
    new_shop(&other);
    expect_error(ask_booking("PaymentContext", id, other.owner.id, "owner"), 404, "not_found",
                 NULL);
}

Test(payment_context, refuses_malformed_unknown_and_anonymous_calls, .timeout = 60)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0, "could not register a client (see stderr)");
    expect_error(ask_booking("PaymentContext", "not-a-uuid", u.id, "client"), 400,
                 "invalid_request", "booking_id");
    expect_error(ask_booking("PaymentContext", NULL, u.id, "client"), 400, "invalid_request",
                 "booking_id");
    char unknown[37];
    bp_uuid(unknown);
    expect_error(ask_booking("PaymentContext", unknown, u.id, "client"), 404, "not_found", NULL);
    /* Even an admin: a booking that does not exist is not found. */
    expect_error(ask_booking("PaymentContext", unknown, u.id, "admin"), 404, "not_found", NULL);
    /* Internal, but never anonymous. */
    expect_error(ask_booking("PaymentContext", unknown, NULL, NULL), 401, "unauthorized", NULL);
}

/* ---- auth.FindUser ------------------------------------------------------------------ */

static Bp__Rpc__Reply *find_user(const char *email, const char *user_id)
{
    Bp__Auth__FindUserRequest in = BP__AUTH__FIND_USER_REQUEST__INIT;
    in.email = (char *)email;
    in.user_id = (char *)user_id;
    return call_as("auth", "FindUser", NULL, NULL, &in.base);
}

/* Expects FindUser to answer u's four fields. */
static void expect_found(Bp__Rpc__Reply *reply, const bpt_user *u, const char *role,
                         const char *name)
{
    cr_assert_eq(reply->status, 200, "FindUser: %d %s", reply->status,
                 reply->error != NULL && reply->error->code != NULL ? reply->error->code : "");
    Bp__Auth__FoundUser *found =
        bp__auth__found_user__unpack(NULL, reply->body.len, reply->body.data);
    bp__rpc__reply__free_unpacked(reply, NULL);
    cr_assert_not_null(found, "the FoundUser body does not decode");
    cr_expect_str_eq(found->user_id, u->id);
    cr_expect_str_eq(found->role, role);
    cr_expect_str_eq(found->email, u->email);
    cr_expect_str_eq(found->name, name);
    bp__auth__found_user__free_unpacked(found, NULL);
}

Test(find_user, by_id_or_by_email_answers_id_role_email_and_name, .timeout = 30)
{
    bpt_user u;
    cr_assert_eq(bpt_user_register(&u, "owner", "Valentina Paz"), 0, "register (see stderr)");
    expect_found(find_user(NULL, u.id), &u, "owner", "Valentina Paz");
    expect_found(find_user(u.email, NULL), &u, "owner", "Valentina Paz");
    /* An empty field counts as absent. */
    expect_found(find_user("", u.id), &u, "owner", "Valentina Paz");
}

Test(find_user, refuses_both_or_neither_key_and_a_malformed_id, .timeout = 30)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0, "could not register a client (see stderr)");
    expect_error(find_user(u.email, u.id), 400, "invalid_request", "user_id");
    expect_error(find_user(NULL, NULL), 400, "invalid_request", "email");
    expect_error(find_user("", ""), 400, "invalid_request", "email");
    expect_error(find_user(NULL, "not-a-uuid"), 400, "invalid_request", "user_id");
    expect_error(find_user("not an email", NULL), 400, "invalid_request", "email");
}

Test(find_user, an_unknown_or_erased_account_is_not_found, .timeout = 30)
{
    char unknown[37];
    bp_uuid(unknown);
    expect_error(find_user(NULL, unknown), 404, "not_found", NULL);

    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0, "could not register a client (see stderr)");
    /* Erased as the data-subject erasure leaves a row: the id stays, the
     * personal data goes. */
    const char *url = getenv("DATABASE_URL");
    cr_assert_not_null(url, "DATABASE_URL is not set");
    PGconn *c = PQconnectdb(url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    const char *params[] = {u.id};
    PGresult *r = PQexecParams(c,
                               "UPDATE auth.users SET erased_at = now(), email = NULL,"
                               " name = NULL, phone = NULL, password_hash = NULL"
                               " WHERE id = $1::uuid",
                               1, NULL, params, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    cr_assert_str_eq(PQcmdTuples(r), "1");
    PQclear(r);
    PQfinish(c);
    expect_error(find_user(NULL, u.id), 404, "not_found", NULL);
    expect_error(find_user(u.email, NULL), 404, "not_found", NULL);
}
