/* The payment daemon while MercadoPago fails: answers 500 (mode error), a
 * page that is not its API (garbage) or nothing at all (hang, cut by
 * MERCADOPAGO_TIMEOUT_MS, 1500 in the suite). A checkout is refused with 503
 * and the same Idempotency-Key succeeds once MercadoPago is back; a webhook
 * is acknowledged at once and its payment read later, from the durable
 * queue; a refund waits as "pending" and is finished later. The stand-in's
 * mode is global: scripts/test.sh runs these tests one at a time
 * (--jobs=1), and every test leaves MercadoPago answering. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "harness.h"

#define WAIT_MS 15000 /* retries back off up to PAYMENT_RETRY_BACKOFF_MAX_MS (2 s) */
#define HOLD_S  90
#define DEPOSIT (BPT_COLOR_PRICE / 5)
#define URL_LEN 512

static void mp_ok(void)
{
    bpt_mp_mode("ok");
}

TestSuite(payment_faults, .init = mp_ok, .fini = mp_ok);

static void shop_setup(bpt_shop *f)
{
    cr_assert_eq(bpt_shop_new(f), 0, "could not set up a shop (see stderr)");
}

static void deposit_booking(const bpt_shop *f, const char *hhmm, char id[64])
{
    long day = bpt_workday(2, 0);
    cr_assert(day >= 0, "no working day within the horizon (see stderr)");
    cr_assert_eq(bpt_book_deposit(f, day, hhmm, HOLD_S, id), 0,
                 "could not book Color at %s (see stderr)", hhmm);
}

static void set_mode(const char *mode)
{
    cr_assert_eq(bpt_mp_mode(mode), 0, "POST /_fake/mode?mode=%s failed (see stderr)", mode);
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

/* The status of payment id as token sees it, malloc'd. */
static char *payment_status(const char *token, const char *id)
{
    bpt_response *r = bpt_payment_get(token, id);
    cr_assert(r != NULL && r->status == 200, "GET payment %s: %ld %s", id, r ? r->status : 0L,
              r ? r->body : "");
    const char *st = bpt_json_str(r->json, "payment.status");
    char *out = strdup(st != NULL ? st : "");
    bpt_response_free(r);
    return out;
}

/* A checkout while MercadoPago misbehaves in mode is a 503, and the same key
 * is a 201 once it is back. */
static void checkout_survives(const char *mode)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], key[37];
    deposit_booking(&f, "10:00", booking);
    bp_uuid(key);

    set_mode(mode);
    bpt_response *r = bpt_checkout(f.client.token, booking, key);
    cr_assert_not_null(r, "no answer");
    cr_expect(bpt_error_is(r, 503, "unavailable"),
              "checkout with MercadoPago in mode %s: %ld %s (a 504 is the gateway giving up: "
              "the daemon waited for MercadoPago beyond the call's deadline)",
              mode, r->status, r->body);
    bpt_response_free(r);
    set_mode("ok");

    r = bpt_checkout(f.client.token, booking, key);
    cr_assert(r != NULL && r->status == 201, "the same key once MercadoPago is back: %ld %s",
              r ? r->status : 0L, r ? r->body : "");
    const char *id = bpt_json_str(r->json, "payment.id");
    const char *url = bpt_json_str(r->json, "payment.checkout_url");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "pending");
    cr_assert(id != NULL && url != NULL, "%s", r->body);
    char pref[128];
    cr_expect_eq(bpt_mp_pref_id(url, pref, sizeof pref), 0, "checkout_url %s", url);

    /* And it can be paid. */
    char pay_id[64];
    snprintf(pay_id, sizeof pay_id, "%s", id);
    cr_assert(bpt_mp_pay(url, "approved", 1) > 0, "POST /_fake/pay failed (see stderr)");
    bpt_response_free(r);
    wait_payment(f.client.token, pay_id, "approved");
    wait_booking(f.client.token, booking, "confirmed");
}

Test(payment_faults, checkout_while_mercadopago_errs)
{
    checkout_survives("error");
}

Test(payment_faults, checkout_while_mercadopago_answers_garbage)
{
    checkout_survives("garbage");
}

Test(payment_faults, checkout_while_mercadopago_hangs)
{
    checkout_survives("hang");
}

/* A webhook that arrives while MercadoPago misbehaves in mode is
 * acknowledged with 200; the payment is read, and approved, once it is
 * back. */
static void webhook_survives(const char *mode)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], id[64], url[URL_LEN];
    deposit_booking(&f, "10:00", booking);
    cr_assert_eq(bpt_checkout_open(f.client.token, booking, id, url, URL_LEN), 0,
                 "checkout failed (see stderr)");

    set_mode(mode);
    int64_t mp_id = bpt_mp_pay(url, "approved", 1);
    cr_assert(mp_id > 0, "POST /_fake/pay failed (see stderr)");
    cr_expect_eq(bpt_mp_wait_deliveries(mp_id, "ok", 200, 1, WAIT_MS), 0,
                 "the webhook was not acknowledged while MercadoPago is in mode %s", mode);
    char *st = payment_status(f.client.token, id);
    cr_expect_str_eq(st, "pending", "approved without MercadoPago's word");
    free(st);
    set_mode("ok");

    wait_payment(f.client.token, id, "approved");
    wait_booking(f.client.token, booking, "confirmed");
    cr_expect_eq(bpt_payment_events("payment.approved", booking), 1);
}

Test(payment_faults, webhook_while_mercadopago_errs)
{
    webhook_survives("error");
}

Test(payment_faults, webhook_while_mercadopago_hangs)
{
    webhook_survives("hang");
}

Test(payment_faults, refund_while_mercadopago_errs_is_finished_later)
{
    bpt_shop f;
    shop_setup(&f);
    char booking[64], id[64], url[URL_LEN];
    deposit_booking(&f, "10:00", booking);
    cr_assert_eq(bpt_checkout_open(f.client.token, booking, id, url, URL_LEN), 0,
                 "checkout failed (see stderr)");
    cr_assert(bpt_mp_pay(url, "approved", 1) > 0, "POST /_fake/pay failed (see stderr)");
    wait_payment(f.client.token, id, "approved");

    set_mode("error");
    char path[160];
    snprintf(path, sizeof path, "/api/payments/%s/refund", id);
    bpt_response *r = bpt_http_json("POST", path, f.owner.token, NULL);
    cr_assert(r != NULL && r->status == 200, "refund with MercadoPago failing: %ld %s",
              r ? r->status : 0L, r ? r->body : "");
    cr_expect_str_eq(bpt_json_str(r->json, "payment.status"), "approved",
                     "the status changes only once MercadoPago refunded");
    json_t *refunds = bpt_json_at(r->json, "payment.refunds");
    cr_expect_eq(json_array_size(refunds), 1, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(json_array_get(refunds, 0), "status"), "pending");
    bpt_response_free(r);
    set_mode("ok");

    wait_payment(f.client.token, id, "refunded");
    r = bpt_payment_get(f.client.token, id);
    cr_assert(r != NULL && r->status == 200);
    refunds = bpt_json_at(r->json, "payment.refunds");
    cr_expect_eq(json_array_size(refunds), 1, "one refund, not two: %s", r->body);
    cr_expect_str_eq(bpt_json_str(json_array_get(refunds, 0), "status"), "done");
    cr_expect_eq(json_integer_value(bpt_json_at(r->json, "payment.refunded_cents")), DEPOSIT);
    bpt_response_free(r);
}
