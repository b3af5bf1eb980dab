/* "Payments" of API.md over HTTP against the real suite, with MercadoPago
 * played by tests/fakes/mercadopago.c: the checkout and its preference,
 * idempotency, who may pay, approval and rejection through signed webhooks,
 * replays, forged and missing signatures, notifications out of order, a lost
 * webhook made up for by the reconciliation, refunds (by hand and when a
 * paid booking is cancelled), payments recorded by hand, and the metrics.
 * MercadoPago's side is driven through the stand-in's /_fake/ endpoints.
 * scripts/test.sh runs these tests one at a time (--jobs=1), so a test may
 * read the stand-in's counters across two of its own calls. Each test makes
 * its own shop, users and bookings; waits poll with a bound, never sleep. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "harness.h"
#include "hmac.h"

#define WAIT_MS 10000                 /* a webhook, its processing and the booking's event */
#define HOLD_S  90                    /* longer than any test; then the payment lapses */
#define DEPOSIT (BPT_COLOR_PRICE / 5) /* $ 8.000,00 */
#define URL_LEN 512

/* Each test starts and ends with MercadoPago answering. */
static void mp_ok(void)
{
    bpt_mp_mode("ok");
}

TestSuite(payment_flow, .init = mp_ok, .fini = mp_ok);

/* ---- fixtures, asserted ------------------------------------------------------------ */

static void shop_setup(bpt_shop *f)
{
    cr_assert_eq(bpt_shop_new(f), 0, "could not set up a shop (see stderr)");
}

static long workday(void)
{
    long d = bpt_workday(2, 0);
    cr_assert(d >= 0, "no working day within the horizon (see stderr)");
    return d;
}

/* A Color booking of f's client at hhmm, pending payment, held HOLD_S. */
static void deposit_booking(const bpt_shop *f, const char *hhmm, char id[64])
{
    cr_assert_eq(bpt_book_deposit(f, workday(), hhmm, HOLD_S, id), 0,
                 "could not book Color at %s (see stderr)", hhmm);
}

/* A checkout of booking_id by f's client with a fresh key: payment pending. */
static void checkout(const bpt_shop *f, const char *booking_id, char pay_id[64], char url[URL_LEN])
{
    cr_assert_eq(bpt_checkout_open(f->client.token, booking_id, pay_id, url, URL_LEN), 0,
                 "checkout failed (see stderr)");
}

/* The buyer pays url with status (through a webhook unless notify is 0). */
static int64_t pay(const char *url, const char *status, int notify)
{
    int64_t mp_id = bpt_mp_pay(url, status, notify);
    cr_assert(mp_id > 0, "POST /_fake/pay failed (see stderr)");
    return mp_id;
}

static void wait_payment(const char *token, const char *id, const char *status)
{
    cr_assert_eq(bpt_wait_payment_status(token, id, status, WAIT_MS), 0,
                 "payment %s never became %s (see stderr)", id, status);
}

static void wait_booking(const char *token, const char *id, const char *status)
{
    cr_assert_eq(bpt_wait_booking_status(token, id, status, WAIT_MS), 0,
                 "booking %s never became %s (see stderr)", id, status);
}

/* A Color booking paid through MercadoPago and confirmed: the ids of the
 * booking, of our payment and of MercadoPago's. */
typedef struct {
    char booking[64], payment[64], url[URL_LEN];
    int64_t mp_id;
} paid_booking;

static void paid_setup(const bpt_shop *f, const char *hhmm, paid_booking *p)
{
    deposit_booking(f, hhmm, p->booking);
    checkout(f, p->booking, p->payment, p->url);
    p->mp_id = pay(p->url, "approved", 1);
    wait_payment(f->client.token, p->payment, "approved");
    wait_booking(f->client.token, p->booking, "confirmed");
}

/* GET /api/payments/{id} as token, expected 200; the caller frees it. */
static bpt_response *payment_ok(const char *token, const char *id)
{
    bpt_response *r = bpt_payment_get(token, id);
    cr_assert(r != NULL && r->status == 200, "GET payment %s: %ld %s", id, r ? r->status : 0L,
              r ? r->body : "");
    return r;
}

static json_int_t payment_int(const bpt_response *r, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "payment.%s", field);
    json_t *v = bpt_json_at(r->json, path);
    cr_assert(json_is_integer(v), "payment.%s is not an integer: %s", field, r->body);
    return json_integer_value(v);
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

/* How many times the daemon has read a payment from MercadoPago. */
static long payment_reads(void)
{
    long n = bpt_mp_last("payment", NULL);
    cr_assert(n >= 0, "GET /_fake/last failed (see stderr)");
    return n;
}

/* Waits (bounded) until the daemon has read payments from MercadoPago at
 * least n more times than before: the notifications were processed, not
 * only acknowledged. Reconciliation reads by search, so only webhooks count.
 * A daemon that skips a replay without reading is fine too: this only
 * bounds how long the test waits before it looks. */
static void let_webhooks_settle(long before, long n)
{
    double deadline = bpt_now_ms() + 5000;
    while (payment_reads() < before + n && bpt_now_ms() < deadline)
        bpt_sleep_ms(100);
    bpt_sleep_ms(300); /* the last read's transaction */
}

/* The refund endpoint. amount < 0: no amount_cents (the rest). */
static bpt_response *refund(const char *token, const char *payment_id, json_int_t amount)
{
    char path[160];
    snprintf(path, sizeof path, "/api/payments/%s/refund", payment_id);
    json_t *body = amount >= 0 ? json_pack("{s:I, s:s}", "amount_cents", amount, "reason",
                                           "Se canceló el turno")
                               : json_object();
    bpt_response *r = bpt_http_json("POST", path, token, body);
    json_decref(body);
    return r;
}

/* ---- checkout ---------------------------------------------------------------------- */

Test(payment_flow, checkout_creates_a_mercadopago_preference)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], key[37];
    deposit_booking(&f, "10:00", booking);
    bp_uuid(key);

    bpt_response *r = bpt_checkout(f.client.token, booking, key);
    cr_assert(r != NULL && r->status == 201, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    const char *id = bpt_json_str(r->json, "payment.id");
    const char *url = bpt_json_str(r->json, "payment.checkout_url");
    cr_assert(id != NULL && *id != '\0', "no payment.id: %s", r->body);
    cr_assert_not_null(url, "no payment.checkout_url: %s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.booking_id"), booking);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "pending");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.currency"), "ARS");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.provider"), "mercadopago");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.client_id"), f.client.id);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.amount_display"), "$ 8.000,00");
    cr_expect_eq(payment_int(r, "amount_cents"), DEPOSIT);
    cr_expect_eq(payment_int(r, "refunded_cents"), 0);
    cr_expect_not_null(bpt_json_str(r->json, "payment.created_at"), "%s", r->body);

    /* The checkout lapses with the booking's hold. */
    char *hold = bpt_booking_field(f.client.token, booking, "hold_expires_at");
    cr_assert_not_null(hold);
    int64_t hold_ms = 0, expires_ms = 0;
    const char *expires = bpt_json_str(r->json, "payment.expires_at");
    cr_expect(expires != NULL && bp_time_parse(expires, &expires_ms) == 0 &&
                  bp_time_parse(hold, &hold_ms) == 0 && llabs(expires_ms - hold_ms) < 1000,
              "expires_at %s, the hold ends at %s", expires ? expires : "(none)", hold);
    free(hold);

    /* Sent with our payment id as MercadoPago's idempotency key (read before
     * the GET below, which the stand-in counts under the same endpoint). */
    json_t *last = NULL;
    cr_assert(bpt_mp_last("preferences", &last) > 0);
    cr_expect_str_eq(bpt_json_str(last, "idempotency_key"), id);
    cr_expect(json_is_true(json_object_get(last, "authorization")), "no access token sent");
    json_decref(last);

    /* checkout_url is the init_point of a preference MercadoPago holds. */
    char pref[128], path[256];
    cr_assert_eq(bpt_mp_pref_id(url, pref, sizeof pref), 0, "checkout_url %s", url);
    snprintf(path, sizeof path, "/checkout/preferences/%s", pref);
    bpt_response *p = bpt_mp_http("GET", path);
    cr_assert(p != NULL && p->status == 200, "the stand-in has no preference %s: %s", pref,
              p ? p->body : "");
    cr_expect_str_eq(bpt_json_str(p->json, "init_point"), url);
    cr_expect_str_eq(bpt_json_str(p->json, "external_reference"), id);
    json_t *item = json_array_get(json_object_get(p->json, "items"), 0);
    cr_expect_eq(json_integer_value(json_object_get(item, "quantity")), 1, "%s", p->body);
    cr_expect(json_number_value(json_object_get(item, "unit_price")) == DEPOSIT / 100.0,
              "unit_price must be the deposit in pesos: %s", p->body);
    cr_expect_str_eq(bpt_json_str(item, "currency_id"), "ARS");
    const char *title = bpt_json_str(item, "title");
    cr_expect(title != NULL && strstr(title, "Color") != NULL, "title %s", title ? title : "");
    char notify_url[256];
    snprintf(notify_url, sizeof notify_url, "%s/api/webhooks/mercadopago", bpt_base_url());
    cr_expect_str_eq(bpt_json_str(p->json, "notification_url"), notify_url);
    cr_expect_str_eq(bpt_json_str(p->json, "metadata.booking_id"), booking);
    bpt_response_free(p);
    bpt_response_free(r);
}

Test(payment_flow, checkout_is_idempotent)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], other[64], key[37];
    deposit_booking(&f, "10:00", booking);
    deposit_booking(&f, "14:00", other);
    bp_uuid(key);

    bpt_response *first = bpt_checkout(f.client.token, booking, key);
    cr_assert(first != NULL && first->status == 201, "%ld %s", first ? first->status : 0L,
              first ? first->body : "");
    const char *id = bpt_json_str(first->json, "payment.id");
    const char *url = bpt_json_str(first->json, "payment.checkout_url");
    cr_assert(id != NULL && url != NULL, "%s", first->body);
    long prefs = bpt_mp_last("preferences", NULL);
    cr_assert(prefs > 0, "the stand-in saw no preference");

    /* The same key again: the same payment, and no second preference. */
    bpt_response *again = bpt_checkout(f.client.token, booking, key);
    cr_assert(again != NULL && again->status == 201, "%ld %s", again ? again->status : 0L,
              again ? again->body : "");
    cr_expect_str_eq(bpt_json_str(again->json, "payment.id"), id);
    cr_expect_str_eq(bpt_json_str(again->json, "payment.checkout_url"), url);
    cr_expect_eq(bpt_mp_last("preferences", NULL), prefs,
                 "a repeated Idempotency-Key called MercadoPago again");
    bpt_response_free(again);

    /* Another key while that payment is open: still the same payment. */
    char key2[37];
    bp_uuid(key2);
    again = bpt_checkout(f.client.token, booking, key2);
    cr_assert(again != NULL && again->status == 201, "%ld %s", again ? again->status : 0L,
              again ? again->body : "");
    cr_expect_str_eq(bpt_json_str(again->json, "payment.id"), id, "a second open payment");
    bpt_response_free(again);

    /* The key of that booking for another booking is a conflict. */
    expect_error(bpt_checkout(f.client.token, other, key), 409, "idempotency_conflict", NULL);
    /* No key at all. */
    expect_error(bpt_checkout(f.client.token, booking, NULL), 400, "invalid_request",
                 "Idempotency-Key");
    bpt_response_free(first);
}

Test(payment_flow, checkout_refusals_name_the_rule)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], key[37];
    deposit_booking(&f, "10:00", booking);

    /* Not visible to a stranger; visible but not theirs to pay for the shop. */
    bpt_user stranger;
    cr_assert_eq(bpt_user_new(&stranger), 0);
    bp_uuid(key);
    expect_error(bpt_checkout(stranger.token, booking, key), 404, "not_found", NULL);
    bp_uuid(key);
    expect_error(bpt_checkout(f.owner.token, booking, key), 403, "forbidden", NULL);
    bp_uuid(key);
    expect_error(bpt_checkout(f.barber.token, booking, key), 403, "forbidden", NULL);
    bp_uuid(key);
    expect_error(bpt_checkout(NULL, booking, key), 401, "unauthorized", NULL);

    /* A booking without a deposit has nothing to pay. */
    char start[32];
    bpt_ba_at(workday(), "12:00", start);
    bpt_response *r = bpt_book(f.client.token, &f, f.corte_id, start);
    cr_assert(r != NULL && r->status == 201, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    char corte[64];
    snprintf(corte, sizeof corte, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
    bp_uuid(key);
    expect_error(bpt_checkout(f.client.token, corte, key), 409, "nothing_to_pay", NULL);

    /* A cancelled booking is not payable. */
    r = bpt_booking_act(f.client.token, booking, "cancel", NULL);
    cr_assert(r != NULL && r->status == 200, "cancel: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
    bp_uuid(key);
    expect_error(bpt_checkout(f.client.token, booking, key), 409, "not_payable", NULL);

    /* Nor is one whose hold lapsed (BOOKING_HOLD_SECONDS is 4 in the suite). */
    char lapsed[64];
    cr_assert_eq(bpt_book_deposit(&f, workday(), "15:00", 1, lapsed), 0);
    wait_booking(f.client.token, lapsed, "expired");
    bp_uuid(key);
    expect_error(bpt_checkout(f.client.token, lapsed, key), 409, "not_payable", NULL);
}

/* ---- MercadoPago's answer ---------------------------------------------------------- */

Test(payment_flow, approval_confirms_the_booking)
{
    bpt_shop f;
    shop_setup(&f);
    paid_booking p;
    paid_setup(&f, "10:00", &p);

    bpt_response *r = payment_ok(f.client.token, p.payment);
    char mp_id[32];
    snprintf(mp_id, sizeof mp_id, "%lld", (long long)p.mp_id);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.mercadopago_payment_id"), mp_id);
    cr_expect_not_null(bpt_json_str(r->json, "payment.approved_at"), "%s", r->body);
    cr_expect_eq(payment_int(r, "amount_cents"), DEPOSIT);
    bpt_response_free(r);
    cr_expect_eq(bpt_payment_events("payment.approved", p.booking), 1);

    /* Who sees it: the client, the provider, the owner; nobody else. */
    bpt_response_free(payment_ok(f.barber.token, p.payment));
    bpt_response_free(payment_ok(f.owner.token, p.payment));
    bpt_user stranger;
    cr_assert_eq(bpt_user_new(&stranger), 0);
    expect_error(bpt_payment_get(stranger.token, p.payment), 404, "not_found", NULL);
    expect_error(bpt_payment_get(f.client.token, "no-es-un-id"), 400, "invalid_request",
                 "payment_id");
    char path[160];
    snprintf(path, sizeof path, "/api/payments?booking_id=%s", p.booking);
    r = bpt_http_json("GET", path, f.client.token, NULL);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    json_t *items = json_object_get(r->json, "items");
    cr_expect_eq(json_array_size(items), 1, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(json_array_get(items, 0), "id"), p.payment);
    bpt_response_free(r);
    r = bpt_http_json("GET", path, stranger.token, NULL);
    cr_expect(r != NULL &&
                  (r->status == 404 ||
                   (r->status == 200 && json_array_size(json_object_get(r->json, "items")) == 0)),
              "a stranger lists a booking's payments: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);

    /* Paid: no second checkout. */
    char key[37];
    bp_uuid(key);
    r = bpt_checkout(f.client.token, p.booking, key);
    const char *code = bpt_error_code(r);
    cr_expect(r != NULL && r->status == 409 && code != NULL &&
                  (strcmp(code, "already_paid") == 0 || strcmp(code, "not_payable") == 0),
              "checkout of a paid booking: %ld %s", r ? r->status : 0L, r ? r->body : "");
    bpt_response_free(r);
}

Test(payment_flow, rejection_leaves_the_booking_pending)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], id[64], url[URL_LEN];
    deposit_booking(&f, "10:00", booking);
    checkout(&f, booking, id, url);
    pay(url, "rejected", 1);
    wait_payment(f.client.token, id, "rejected");

    bpt_response *r = payment_ok(f.client.token, id);
    const char *detail = bpt_json_str(r->json, "payment.status_detail");
    cr_expect(detail != NULL && *detail != '\0', "no status_detail: %s", r->body);
    bpt_response_free(r);
    char *status = bpt_booking_field(f.client.token, booking, "status");
    cr_assert_not_null(status);
    cr_expect_str_eq(status, "pending_payment");
    free(status);
    cr_expect_eq(bpt_payment_events("payment.approved", booking), 0);

    /* The client may try again. */
    char again[64], url2[URL_LEN];
    checkout(&f, booking, again, url2);
}

Test(payment_flow, replayed_notifications_change_state_once)
{
    bpt_shop f;
    shop_setup(&f);
    paid_booking p;
    paid_setup(&f, "10:00", &p);
    /* The payment.created that approved it, answered 200. */
    cr_assert_eq(bpt_mp_wait_deliveries(p.mp_id, "ok", 200, 1, WAIT_MS), 0);

    long reads = payment_reads();
    for (int i = 0; i < 10; i++) {
        json_t *o = bpt_mp_post("/_fake/notify?payment_id=%lld", (long long)p.mp_id);
        cr_assert_not_null(o, "POST /_fake/notify failed (see stderr)");
        json_decref(o);
    }
    cr_assert_eq(bpt_mp_wait_deliveries(p.mp_id, "ok", 200, 11, WAIT_MS), 0,
                 "every replay must be acknowledged with 200");
    let_webhooks_settle(reads, 10);

    bpt_response *r = payment_ok(f.client.token, p.payment);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "approved");
    bpt_response_free(r);
    cr_expect_eq(bpt_payment_events("payment.approved", p.booking), 1,
                 "payment.approved must be emitted once");
    cr_expect_eq(bpt_booking_events("booking.confirmed", p.booking), 1,
                 "the booking must be confirmed once");
    char *status = bpt_booking_field(f.client.token, p.booking, "status");
    cr_assert_not_null(status);
    cr_expect_str_eq(status, "confirmed");
    free(status);
}

/* A signed notification as MercadoPago sends it, straight to the gateway;
 * secret NULL: a forged x-signature. */
static bpt_response *post_webhook_of(int64_t mp_id, const char *secret, const char *type)
{
    char request_id[37], ts[24], manifest[160], v1[65], id[32];
    bp_uuid(request_id);
    snprintf(ts, sizeof ts, "%lld", (long long)bp_now_ms());
    snprintf(id, sizeof id, "%lld", (long long)mp_id);
    snprintf(manifest, sizeof manifest, "id:%s;request-id:%s;ts:%s;", id, request_id, ts);
    if (secret != NULL)
        bp_hmac_sha256_hex(secret, strlen(secret), manifest, strlen(manifest), v1);
    else
        snprintf(v1, sizeof v1, "%064d", 0);
    char h_rid[64], h_sig[160], path[160], body[320];
    snprintf(h_rid, sizeof h_rid, "x-request-id: %s", request_id);
    snprintf(h_sig, sizeof h_sig, "x-signature: ts=%s,v1=%s", ts, v1);
    snprintf(path, sizeof path, "/api/webhooks/mercadopago?data.id=%s&type=%s", id, type);
    snprintf(body, sizeof body,
             "{\"action\":\"payment.updated\",\"api_version\":\"v1\",\"data\":{\"id\":\"%s\"},"
             "\"date_created\":\"2026-02-17T10:00:00.000-03:00\",\"id\":123456,"
             "\"live_mode\":false,\"type\":\"payment\",\"user_id\":1234567890}",
             id);
    const char *headers[] = {"Content-Type: application/json", h_rid, h_sig, NULL};
    return bpt_http("POST", path, headers, body, strlen(body));
}

static bpt_response *post_webhook(int64_t mp_id, const char *secret)
{
    return post_webhook_of(mp_id, secret, "payment");
}

Test(payment_flow, bad_signatures_change_nothing)
{
    bpt_shop f;
    shop_setup(&f);
    paid_booking p;
    paid_setup(&f, "10:00", &p);

    /* MercadoPago's truth changes without a word; then only forged or
     * unsigned notifications say so. */
    json_t *o = bpt_mp_post("/_fake/status?payment_id=%lld&status=charged_back&notify=0",
                            (long long)p.mp_id);
    cr_assert_not_null(o);
    json_decref(o);
    const char *kinds[] = {"bad", "missing"};
    for (size_t i = 0; i < 2; i++) {
        o = bpt_mp_post("/_fake/notify?payment_id=%lld&signature=%s", (long long)p.mp_id, kinds[i]);
        cr_assert_not_null(o);
        json_decref(o);
    }
    /* Each is refused, and retried by the stand-in (200, 500 and 1000 ms):
     * four attempts, all 401. */
    for (size_t i = 0; i < 2; i++) {
        cr_expect_eq(bpt_mp_wait_deliveries(p.mp_id, kinds[i], 401, 4, WAIT_MS), 0,
                     "signature %s: not refused with 401 four times", kinds[i]);
        cr_expect_eq(bpt_mp_deliveries(p.mp_id, kinds[i], 0),
                     bpt_mp_deliveries(p.mp_id, kinds[i], 401),
                     "signature %s: an attempt was not answered 401", kinds[i]);
    }
    /* A forged x-signature straight to the gateway: 401 in the API's shape. */
    bpt_response *r = post_webhook(p.mp_id, NULL);
    cr_expect(bpt_error_is(r, 401, "unauthorized"), "forged signature: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
    r = post_webhook(p.mp_id, "not-the-webhook-secret");
    cr_expect(bpt_error_is(r, 401, "unauthorized"), "wrong secret: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);

    r = payment_ok(f.client.token, p.payment);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "approved",
                     "an unsigned notification changed the payment");
    bpt_response_free(r);
    char *status = bpt_booking_field(f.client.token, p.booking, "status");
    cr_assert_not_null(status);
    cr_expect_str_eq(status, "confirmed");
    free(status);

    /* The same notification properly signed is heard: the check above was
     * not vacuous. */
    r = post_webhook(p.mp_id, "fake-webhook-secret");
    cr_expect(r != NULL && r->status == 200, "signed notification: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    cr_expect_str_eq(r != NULL ? bpt_json_str(r->json, "status") : NULL, "received");
    bpt_response_free(r);
    cr_expect_eq(bpt_wait_payment_status(f.client.token, p.payment, "charged_back", WAIT_MS), 0,
                 "a signed notification of a charge-back was not applied (see stderr)");
}

Test(payment_flow, late_notifications_never_go_back)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], id[64], url[URL_LEN];
    deposit_booking(&f, "10:00", booking);
    checkout(&f, booking, id, url);

    /* The buyer starts paying: pending at MercadoPago, and heard. */
    long reads = payment_reads();
    int64_t mp_id = pay(url, "pending", 1);
    cr_assert_eq(bpt_mp_wait_deliveries(mp_id, "ok", 200, 1, WAIT_MS), 0);
    let_webhooks_settle(reads, 1);
    bpt_response *r = payment_ok(f.client.token, id);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "pending");
    bpt_response_free(r);

    /* A notification held up 2.5 s, overtaken by the approval's. */
    json_t *o = bpt_mp_post("/_fake/notify?payment_id=%lld&action=payment.created&delay_ms=2500",
                            (long long)mp_id);
    cr_assert_not_null(o);
    json_decref(o);
    o = bpt_mp_post("/_fake/status?payment_id=%lld&status=approved", (long long)mp_id);
    cr_assert_not_null(o);
    json_decref(o);
    wait_payment(f.client.token, id, "approved");
    wait_booking(f.client.token, booking, "confirmed");
    reads = payment_reads();
    cr_assert_eq(bpt_mp_wait_deliveries(mp_id, "ok", 200, 3, WAIT_MS), 0,
                 "the late notification never arrived");
    let_webhooks_settle(reads, 1);
    r = payment_ok(f.client.token, id);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "approved");
    bpt_response_free(r);

    /* MercadoPago itself saying "pending" after "approved" (a stale read)
     * changes nothing either: payments only move forward. */
    reads = payment_reads();
    o = bpt_mp_post("/_fake/status?payment_id=%lld&status=pending", (long long)mp_id);
    cr_assert_not_null(o);
    json_decref(o);
    cr_assert_eq(bpt_mp_wait_deliveries(mp_id, "ok", 200, 4, WAIT_MS), 0);
    let_webhooks_settle(reads, 1);
    r = payment_ok(f.client.token, id);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "approved",
                     "a late pending took an approved payment back");
    bpt_response_free(r);
    char *status = bpt_booking_field(f.client.token, booking, "status");
    cr_assert_not_null(status);
    cr_expect_str_eq(status, "confirmed");
    free(status);
    cr_expect_eq(bpt_payment_events("payment.approved", booking), 1);
}

Test(payment_flow, a_lost_webhook_is_found_by_reconciliation)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], id[64], url[URL_LEN];
    deposit_booking(&f, "10:00", booking);
    checkout(&f, booking, id, url);
    int64_t mp_id = pay(url, "approved", 0);
    /* PAYMENT_RECONCILE_INTERVAL_MS is 500 in the suite. */
    wait_payment(f.client.token, id, "approved");
    wait_booking(f.client.token, booking, "confirmed");
    cr_expect_eq(bpt_mp_deliveries(mp_id, NULL, 0), 0, "the stand-in sent a webhook after all");
    bpt_response *r = payment_ok(f.client.token, id);
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)mp_id);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.mercadopago_payment_id"), want);
    bpt_response_free(r);
}

/* ---- refunds ------------------------------------------------------------------------ */

Test(payment_flow, owner_refunds_in_parts)
{
    bpt_shop f;
    shop_setup(&f);
    paid_booking p;
    paid_setup(&f, "10:00", &p);

    expect_error(refund(f.barber.token, p.payment, 100000), 403, "forbidden", NULL);
    expect_error(refund(f.client.token, p.payment, 100000), 403, "forbidden", NULL);
    bpt_user stranger;
    cr_assert_eq(bpt_user_new(&stranger), 0);
    expect_error(refund(stranger.token, p.payment, 100000), 404, "not_found", NULL);
    expect_error(refund(f.owner.token, p.payment, 0), 400, "invalid_request", "amount_cents");
    expect_error(refund(f.owner.token, p.payment, DEPOSIT + 1), 422, "invalid_amount", NULL);

    /* $ 3.000,00 of $ 8.000,00. */
    long reads = payment_reads();
    bpt_response *r = refund(f.owner.token, p.payment, 300000);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "partially_refunded");
    cr_expect_eq(payment_int(r, "refunded_cents"), 300000);
    json_t *refunds = bpt_json_at(r->json, "payment.refunds");
    cr_assert_eq(json_array_size(refunds), 1, "%s", r->body);
    json_t *first = json_array_get(refunds, 0);
    cr_expect_eq(json_integer_value(json_object_get(first, "amount_cents")), 300000);
    cr_expect_str_eq(bpt_json_str(first, "status"), "done");
    char refund_id[64];
    snprintf(refund_id, sizeof refund_id, "%s",
             bpt_json_str(first, "id") ? bpt_json_str(first, "id") : "");
    bpt_response_free(r);

    /* MercadoPago was asked for 3000 pesos with our refund id as the key. */
    json_t *last = NULL;
    cr_assert(bpt_mp_last("refunds", &last) > 0, "MercadoPago was not asked for a refund");
    const char *key = bpt_json_str(last, "idempotency_key");
    cr_expect(key != NULL && *key != '\0', "no X-Idempotency-Key on the refund");
    cr_expect_str_eq(key, refund_id);
    cr_expect(json_number_value(bpt_json_at(last, "json.amount")) == 3000.0,
              "a partial refund sends its amount in pesos");
    json_decref(last);

    /* MercadoPago's payment.updated about it keeps the payment partial. */
    let_webhooks_settle(reads, 1);
    r = payment_ok(f.owner.token, p.payment);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "partially_refunded");
    cr_expect_eq(payment_int(r, "refunded_cents"), 300000);
    bpt_response_free(r);

    /* More than the $ 5.000,00 left; then the rest. */
    expect_error(refund(f.owner.token, p.payment, 500001), 422, "invalid_amount", NULL);
    r = refund(f.owner.token, p.payment, -1);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "refunded");
    cr_expect_eq(payment_int(r, "refunded_cents"), DEPOSIT);
    cr_expect_eq(json_array_size(bpt_json_at(r->json, "payment.refunds")), 2, "%s", r->body);
    bpt_response_free(r);
    expect_error(refund(f.owner.token, p.payment, -1), 409, "not_refundable", NULL);

    /* MercadoPago agrees. */
    char path[64];
    snprintf(path, sizeof path, "/v1/payments/%lld", (long long)p.mp_id);
    r = bpt_mp_http("GET", path);
    cr_assert(r != NULL && r->status == 200);
    cr_expect_str_eq(bpt_json_str(r->json, "status"), "refunded");
    bpt_response_free(r);
}

Test(payment_flow, a_pending_payment_is_not_refundable)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], id[64], url[URL_LEN];
    deposit_booking(&f, "10:00", booking);
    checkout(&f, booking, id, url);
    expect_error(refund(f.owner.token, id, -1), 409, "not_refundable", NULL);
    expect_error(refund(f.owner.token, id, 100000), 409, "not_refundable", NULL);
}

Test(payment_flow, cancelling_a_paid_booking_refunds_it)
{
    bpt_shop f;
    shop_setup(&f);
    paid_booking p;
    paid_setup(&f, "10:00", &p); /* two working days ahead at least */

    bpt_response *r = bpt_booking_act(f.client.token, p.booking, "cancel", NULL);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    cr_expect(json_is_true(bpt_json_at(r->json, "booking.refund_due")),
              "cancelled more than 24 h ahead: a refund is due: %s", r->body);
    bpt_response_free(r);

    wait_payment(f.client.token, p.payment, "refunded");
    r = payment_ok(f.client.token, p.payment);
    cr_expect_eq(payment_int(r, "refunded_cents"), DEPOSIT);
    bpt_response_free(r);
    char path[64];
    snprintf(path, sizeof path, "/v1/payments/%lld", (long long)p.mp_id);
    r = bpt_mp_http("GET", path);
    cr_assert(r != NULL && r->status == 200);
    cr_expect_str_eq(bpt_json_str(r->json, "status"), "refunded",
                     "MercadoPago was not asked for the refund: %s", r->body);
    bpt_response_free(r);
}

/* ---- payments recorded by hand --------------------------------------------------------- */

static bpt_response *manual(const char *token, const char *booking, json_int_t amount,
                            const char *method, const char *currency)
{
    json_t *body = json_pack("{s:s, s:I, s:s}", "booking_id", booking, "amount_cents", amount,
                             "method", method);
    if (currency != NULL)
        json_object_set_new(body, "currency", json_string(currency));
    bpt_response *r = bpt_http_json("POST", "/api/payments/manual", token, body);
    json_decref(body);
    return r;
}

Test(payment_flow, the_shop_records_a_payment_by_hand)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], second[64];
    deposit_booking(&f, "10:00", booking);
    deposit_booking(&f, "14:00", second);

    expect_error(manual(f.client.token, booking, DEPOSIT, "cash", NULL), 403, "forbidden", NULL);
    expect_error(manual(f.owner.token, booking, 0, "cash", NULL), 400, "invalid_request",
                 "amount_cents");
    expect_error(manual(f.owner.token, booking, -5, "cash", NULL), 400, "invalid_request",
                 "amount_cents");
    expect_error(manual(f.owner.token, booking, DEPOSIT, "cash", "USD"), 400, "invalid_request",
                 "currency");
    expect_error(manual(f.owner.token, booking, DEPOSIT, "bitcoin", NULL), 400, "invalid_request",
                 "method");
    expect_error(manual(f.owner.token, booking, BPT_COLOR_PRICE + 1, "cash", NULL), 422,
                 "invalid_amount", NULL);

    bpt_response *r = manual(f.owner.token, booking, DEPOSIT, "cash", "ARS");
    cr_assert(r != NULL && r->status == 201, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "approved");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.provider"), "manual");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.method"), "cash");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.booking_id"), booking);
    cr_expect_eq(payment_int(r, "amount_cents"), DEPOSIT);
    char id[64];
    snprintf(id, sizeof id, "%s", bpt_json_str(r->json, "payment.id"));
    bpt_response_free(r);
    wait_booking(f.client.token, booking, "confirmed");
    bpt_response_free(payment_ok(f.client.token, id));

    /* The provider may too, by transfer. */
    r = manual(f.barber.token, second, BPT_COLOR_PRICE, "transfer", NULL);
    cr_assert(r != NULL && r->status == 201, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.method"), "transfer");
    bpt_response_free(r);
    wait_booking(f.client.token, second, "confirmed");

    /* Money given back by hand is recorded at once. */
    r = refund(f.owner.token, id, -1);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "refunded");
    cr_expect_eq(payment_int(r, "refunded_cents"), DEPOSIT);
    bpt_response_free(r);
}

/* ---- metrics -------------------------------------------------------------------------- */

Test(payment_flow, metrics_count_payments_and_failures)
{
    bpt_shop f;
    shop_setup(&f);
    paid_booking p;
    paid_setup(&f, "10:00", &p);

    /* One failed call to MercadoPago. */
    char booking[64], key[37];
    deposit_booking(&f, "14:00", booking);
    cr_assert_eq(bpt_mp_mode("error"), 0);
    bp_uuid(key);
    bpt_response *r = bpt_checkout(f.client.token, booking, key);
    cr_expect(r != NULL && r->status == 503, "checkout with MercadoPago failing: %ld %s",
              r ? r->status : 0L, r ? r->body : "");
    bpt_response_free(r);
    cr_assert_eq(bpt_mp_mode("ok"), 0);

    r = bpt_http("GET", "/api/metrics", NULL, NULL, 0);
    cr_assert(r != NULL && r->status == 200, "%ld", r ? r->status : 0L);
    const char *approved[] = {"service=\"payment\"", "provider=\"mercadopago\"",
                              "status=\"approved\"", NULL};
    cr_expect(bpt_metric_sum(r->body, "payments_total", approved) >= 1,
              "no payments_total{provider=\"mercadopago\",status=\"approved\"} sample");
    const char *failures[] = {"service=\"payment\"", "provider=\"mercadopago\"", NULL};
    cr_expect(bpt_metric_sum(r->body, "payment_failures_total", failures) >= 1,
              "no payment_failures_total{provider=\"mercadopago\"} sample");
    bpt_response_free(r);
}

/* Paid twice (the first checkout was rejected, the client checked out again,
 * then paid both: Checkout Pro lets a rejected buyer retry on the same
 * preference): the booking keeps one payment and the other goes back, by
 * itself, through MercadoPago. */
Test(payment_flow, a_booking_paid_twice_refunds_the_second_payment)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], first[64], url1[URL_LEN], second[64], url2[URL_LEN];
    deposit_booking(&f, "10:00", booking);
    checkout(&f, booking, first, url1);
    pay(url1, "rejected", 1);
    wait_payment(f.client.token, first, "rejected");
    checkout(&f, booking, second, url2);
    cr_assert_str_neq(first, second, "a rejected payment is not the open one");

    pay(url2, "approved", 1);
    wait_payment(f.client.token, second, "approved");
    wait_booking(f.client.token, booking, "confirmed");
    pay(url1, "approved", 1); /* the retry on the first preference */
    wait_payment(f.client.token, first, "refunded");

    bpt_response *r = payment_ok(f.owner.token, first);
    json_t *refunds = bpt_json_at(r->json, "payment.refunds");
    cr_assert_eq(json_array_size(refunds), 1, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(refunds, 0), "amount_cents")),
                 DEPOSIT);
    cr_expect_str_eq(bpt_json_str(json_array_get(refunds, 0), "status"), "done");
    bpt_response_free(r);
    r = payment_ok(f.owner.token, second);
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "approved", "%s", r->body);
    bpt_response_free(r);
    char *status = bpt_booking_field(f.client.token, booking, "status");
    cr_assert_not_null(status);
    cr_expect_str_eq(status, "confirmed", "the refund of the duplicate keeps the booking");
    free(status);
    /* ... paid: once the booking daemon has the refund's event, it records
     * no refund of its own payment. */
    const char *params[] = {booking};
    long delivered = 0;
    for (int waited = 0; waited < WAIT_MS && delivered < 1; waited += 50) {
        delivered = bpt_db_long("SELECT count(*) FROM payment.outbox WHERE key = $1"
                                " AND topic = 'payment.refunded' AND consumer = 'booking'"
                                " AND delivered_at IS NOT NULL",
                                1, params);
        if (delivered < 1)
            bpt_sleep_ms(50);
    }
    cr_assert_eq(delivered, 1, "the booking daemon never got payment.refunded");
    cr_expect_eq(
        bpt_db_long("SELECT count(*) FROM booking.bookings WHERE id = $1"
                    " AND refunded_at IS NULL AND payment_id = (SELECT id::text"
                    " FROM payment.payments WHERE status = 'approved' AND booking_id = $1)",
                    1, params),
        1, "the booking's own payment is the approved one, unrefunded");
}

/* A hold that ends unpaid: the checkout's payment is cancelled once the
 * reconciliation finds nothing after its expiry; MercadoPago approving it
 * afterwards (a ticket paid at the last minute) still counts, and the
 * booking daemon gives the late payment the chair when it is still free. */
Test(payment_flow, an_unpaid_checkout_lapses_and_a_late_payment_still_counts)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], id[64], url[URL_LEN];
    cr_assert_eq(bpt_book_deposit(&f, workday(), "10:00", 3, booking), 0);
    checkout(&f, booking, id, url);
    wait_booking(f.client.token, booking, "expired");
    wait_payment(f.client.token, id, "cancelled");

    pay(url, "approved", 1);
    wait_payment(f.client.token, id, "approved");
    wait_booking(f.client.token, booking, "confirmed");
}

/* A signed notification of another kind is acknowledged and ignored; one
 * for a payment MercadoPago does not know is acknowledged too (its lookup
 * fails, is retried, then given up), and nothing breaks. */
Test(payment_flow, notifications_that_are_not_ours_are_acknowledged)
{
    bpt_response *r = post_webhook_of(987654321, "fake-webhook-secret", "merchant_order");
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "status"), "ignored");
    bpt_response_free(r);
    for (int i = 0; i < 3; i++) {
        r = post_webhook(987654321, "fake-webhook-secret");
        cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
        cr_expect_str_eq(bpt_json_str(r->json, "status"), "received");
        bpt_response_free(r);
    }
    const char *params[] = {"987654321"};
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM payment.notifications WHERE mp_payment_id ="
                             " $1::int8",
                             1, params),
                 1, "one row however often it is notified");
    cr_assert_eq(bpt_wait_healthy(5000), 0);
}
