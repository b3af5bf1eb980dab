/* The payment daemon's pure parts and its MercadoPago client: the status
 * rules (state.c), the webhook signature check (webhook.c), reading and
 * writing the API's JSON, and the client against fake-mercadopago, started
 * by the tests that need it: idempotent preferences, payments, search,
 * refunds, and the failures that must count and never leak the token. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/payment/mp.h"
#include "../../services/payment/state.h"
#include "../../services/payment/signature.h"
#include "bp.h"
#include "fake_launch.h"
#include "hmac.h"
#include "metrics.h"

/* ---- status rules ------------------------------------------------------ */

Test(payment_state, ranks_order_mercadopago_and_our_statuses)
{
    cr_assert_eq(payment_mp_rank("pending"), 0);
    cr_assert_eq(payment_mp_rank("in_process"), 0);
    cr_assert_lt(payment_mp_rank("rejected"), payment_mp_rank("approved"));
    cr_assert_lt(payment_mp_rank("approved"), payment_mp_rank("refunded"));
    cr_assert_eq(payment_mp_rank("nonsense"), -1);
    cr_assert_eq(payment_mp_rank(NULL), -1);
    cr_assert_lt(payment_rank("pending"), payment_rank("rejected"));
    cr_assert_lt(payment_rank("rejected"), payment_rank("approved"));
    cr_assert_lt(payment_rank("partially_refunded"), payment_rank("refunded"));
}

Test(payment_state, only_forward_moves)
{
    cr_assert(payment_moves("pending", 0, "approved", 0));
    cr_assert_not(payment_moves("approved", 0, "pending", 0), "a late pending changes nothing");
    cr_assert_not(payment_moves("approved", 0, "rejected", 0));
    cr_assert(payment_moves("rejected", 0, "approved", 0), "another card on the same checkout");
    cr_assert(payment_moves("cancelled", 0, "approved", 0), "paid after it expired here");
    cr_assert_not(payment_moves("approved", 0, "approved", 0), "the same news twice");
    cr_assert(payment_moves("partially_refunded", 100, "partially_refunded", 300));
    cr_assert_not(payment_moves("partially_refunded", 300, "partially_refunded", 100));
    cr_assert_not(payment_moves("refunded", 1000, "approved", 0));
    cr_assert_not(payment_moves("pending", 0, "bogus", 0));
    cr_assert(payment_attempt_moves(0, 0, 2, 0));
    cr_assert_not(payment_attempt_moves(2, 0, 0, 0));
    cr_assert(payment_attempt_moves(2, 0, 2, 500));
}

Test(payment_state, derive_prefers_money_received_then_pending_then_refusal)
{
    int64_t refunded;
    int chosen;
    payment_attempt none[1] = {{"pending", 0}};
    cr_assert_null(payment_derive(none, 0, 1000, &refunded, &chosen));
    cr_assert_eq(chosen, -1);

    payment_attempt a[] = {{"rejected", 0}, {"approved", 0}};
    cr_assert_str_eq(payment_derive(a, 2, 1000, &refunded, &chosen), "approved");
    cr_assert_eq(chosen, 1);

    payment_attempt b[] = {{"rejected", 0}, {"in_process", 0}};
    cr_assert_str_eq(payment_derive(b, 2, 1000, &refunded, &chosen), "pending");

    payment_attempt c[] = {{"rejected", 0}, {"cancelled", 0}};
    cr_assert_str_eq(payment_derive(c, 2, 1000, &refunded, &chosen), "cancelled");

    payment_attempt d[] = {{"approved", 400}};
    cr_assert_str_eq(payment_derive(d, 1, 1000, &refunded, &chosen), "partially_refunded");
    cr_assert_eq(refunded, 400);

    payment_attempt e[] = {{"approved", 1000}};
    cr_assert_str_eq(payment_derive(e, 1, 1000, &refunded, &chosen), "refunded");
    cr_assert_eq(refunded, 1000);

    payment_attempt f[] = {{"charged_back", 0}};
    cr_assert_str_eq(payment_derive(f, 1, 1000, &refunded, &chosen), "charged_back");
}

Test(payment_state, topics_of_the_statuses_others_consume)
{
    cr_assert_str_eq(payment_topic("approved"), "payment.approved");
    cr_assert_str_eq(payment_topic("rejected"), "payment.rejected");
    cr_assert_str_eq(payment_topic("partially_refunded"), "payment.refunded");
    cr_assert_str_eq(payment_topic("refunded"), "payment.refunded");
    cr_assert_null(payment_topic("pending"));
    cr_assert_null(payment_topic("cancelled"));
}

/* ---- webhook signatures ------------------------------------------------ */

#define SECRET "fake-webhook-secret"

static void sign(const char *manifest, const char *ts, char *out, size_t len)
{
    char v1[65];
    bp_hmac_sha256_hex(SECRET, strlen(SECRET), manifest, strlen(manifest), v1);
    snprintf(out, len, "ts=%s,v1=%s", ts, v1);
}

Test(payment_webhook, a_signature_over_the_documented_manifest_is_accepted)
{
    char sig[200];
    sign("id:123456;request-id:abc-1;ts:1704908010000;", "1704908010000", sig, sizeof sig);
    cr_assert(payment_webhook_signed(SECRET, sig, "123456", "abc-1"));
    /* The id is lowercased before signing: an alphanumeric id in capitals. */
    sign("id:abc9;request-id:r;ts:1;", "1", sig, sizeof sig);
    cr_assert(payment_webhook_signed(SECRET, sig, "ABC9", "r"));
    /* Spaces after the comma, as some senders write it. */
    char spaced[220];
    sign("id:7;request-id:r;ts:9;", "9", sig, sizeof sig);
    snprintf(spaced, sizeof spaced, "ts=9, %s", strchr(sig, ',') + 1);
    cr_assert(payment_webhook_signed(SECRET, spaced, "7", "r"));
}

Test(payment_webhook, absent_parts_are_left_out_of_the_manifest)
{
    char sig[200];
    sign("request-id:r;ts:5;", "5", sig, sizeof sig);
    cr_assert(payment_webhook_signed(SECRET, sig, NULL, "r"));
    sign("id:77;ts:5;", "5", sig, sizeof sig);
    cr_assert(payment_webhook_signed(SECRET, sig, "77", NULL));
    cr_assert(payment_webhook_signed(SECRET, sig, "77", ""));
}

Test(payment_webhook, anything_else_is_refused)
{
    char sig[200];
    sign("id:123;request-id:r;ts:5;", "5", sig, sizeof sig);
    cr_assert_not(payment_webhook_signed(SECRET, sig, "124", "r"), "another payment id");
    cr_assert_not(payment_webhook_signed(SECRET, sig, "123", "s"), "another request id");
    cr_assert_not(payment_webhook_signed("other-secret", sig, "123", "r"), "another key");
    cr_assert_not(payment_webhook_signed(NULL, sig, "123", "r"), "no secret configured");
    cr_assert_not(payment_webhook_signed(SECRET, NULL, "123", "r"), "no header");
    cr_assert_not(payment_webhook_signed(SECRET, "", "123", "r"));
    cr_assert_not(payment_webhook_signed(SECRET, "v1=abc", "123", "r"), "no ts");
    cr_assert_not(payment_webhook_signed(SECRET, "ts=5", "123", "r"), "no v1");
    char other_ts[200];
    snprintf(other_ts, sizeof other_ts, "ts=6,%s", strchr(sig, ',') + 1);
    cr_assert_not(payment_webhook_signed(SECRET, other_ts, "123", "r"), "another ts");
    char truncated[200];
    snprintf(truncated, sizeof truncated, "%.*s", (int)strlen(sig) - 1, sig);
    cr_assert_not(payment_webhook_signed(SECRET, truncated, "123", "r"));
}

/* ---- the API's JSON -------------------------------------------------------- */

Test(payment_mp, a_payment_object_is_read_in_centavos)
{
    json_error_t err;
    json_t *j = json_loads("{\"id\":1234567890,\"status\":\"approved\",\"status_detail\":"
                           "\"accredited\",\"external_reference\":\"ref\",\"payment_method_id\":"
                           "\"visa\",\"currency_id\":\"ARS\",\"transaction_amount\":12.3,"
                           "\"transaction_amount_refunded\":0.1,\"date_approved\":"
                           "\"2026-11-27T10:00:00.000-03:00\"}",
                           0, &err);
    mp_payment p;
    cr_assert_eq(mp_payment_parse(j, &p), 0);
    cr_assert_eq(p.id, 1234567890);
    cr_assert_eq(p.amount_cents, 1230, "12.3 pesos is 1230 centavos, not 1229");
    cr_assert_eq(p.refunded_cents, 10);
    cr_assert_str_eq(p.method, "visa");
    cr_assert_eq(p.approved_ms, 1795784400000LL);
    json_decref(j);

    j = json_loads("{\"id\":1,\"status\":\"pending\",\"transaction_amount\":15000}", 0, &err);
    cr_assert_eq(mp_payment_parse(j, &p), 0);
    cr_assert_eq(p.amount_cents, 1500000);
    cr_assert_eq(p.approved_ms, 0);
    json_decref(j);

    const char *bad[] = {"{\"status\":\"approved\",\"transaction_amount\":1}",
                         "{\"id\":1,\"transaction_amount\":1}",
                         "{\"id\":1,\"status\":\"approved\"}",
                         "{\"id\":1,\"status\":\"approved\",\"transaction_amount\":\"1\"}", "[]"};
    for (size_t i = 0; i < BP_COUNTOF(bad); i++) {
        j = json_loads(bad[i], 0, &err);
        cr_assert_eq(mp_payment_parse(j, &p), BP_EPROTO, "%s", bad[i]);
        json_decref(j);
    }
}

static payment_ctx test_ctx(const char *api)
{
    payment_ctx c;
    memset(&c, 0, sizeof c);
    snprintf(c.api_url, sizeof c.api_url, "%s", api);
    c.access_token = "TEST-fake-access-token";
    snprintf(c.public_base_url, sizeof c.public_base_url, "https://barberpro.example");
    snprintf(c.timezone, sizeof c.timezone, "America/Argentina/Buenos_Aires");
    c.timeout_ms = 1000;
    return c;
}

static const mp_checkout CHECKOUT = {
    .payment_id = "5f0c8a3e-35c1-4bde-9f4e-0d8f3c1a2b44",
    .booking_id = "0e6a1b7c-1111-4222-8333-944455556666",
    .title = "Seña: Corte en Barbería Norte",
    .amount_cents = 123456,
    .currency = "ARS",
    .payer_email = "cliente@example.com",
    .expires_ms = 1796000000000LL,
};

Test(payment_mp, the_preference_names_everything_checkout_pro_needs)
{
    payment_ctx c = test_ctx("http://127.0.0.1:1");
    json_t *b = mp_preference_body(&c, &CHECKOUT);
    cr_assert_not_null(b);
    char *text = json_dumps(b, JSON_COMPACT | JSON_REAL_PRECISION(15));
    cr_assert(strstr(text, "\"unit_price\":1234.56") != NULL, "%s", text);
    cr_assert(strstr(text, "\"notification_url\":\"https://barberpro.example/api/webhooks/"
                           "mercadopago\"") != NULL,
              "%s", text);
    cr_assert(strstr(text, "\"external_reference\":\"5f0c8a3e-35c1-4bde-9f4e-0d8f3c1a2b44\"") !=
              NULL);
    cr_assert(strstr(text, "\"expiration_date_to\":\"2026-11-29T21:53:20.000-03:00\"") != NULL,
              "%s", text);
    cr_assert(strstr(text, ".000-03:00\"") != NULL, "%s", text);
    cr_assert(strstr(text, "\"payer\":{\"email\":\"cliente@example.com\"}") != NULL, "%s", text);
    cr_assert(strstr(text, "\"currency_id\":\"ARS\"") != NULL);
    cr_assert(strstr(text, "\"auto_return\":\"approved\"") != NULL);
    free(text);
    json_decref(b);
}

/* ---- the client against fake-mercadopago ------------------------------------- */

static pid_t fake_pid;
static char fake_base[64];

static void start_fake(void)
{
    static const char *const args[] = {"--retry-delays-ms", "", NULL};
    cr_assert_eq(bpt_fake_start("mercadopago", args, &fake_pid, fake_base, sizeof fake_base), 0);
}

static void stop_fake(void)
{
    if (fake_pid > 0)
        cr_expect_eq(bpt_fake_stop(fake_pid), 0);
}

static long control(const char *path, json_t **out)
{
    return bpt_fake_call(fake_base, "POST", path, NULL, NULL, out);
}

static uint64_t failures_now(void)
{
    char *text = bp_metrics_render(NULL);
    const char *line = strstr(text, "payment_failures_total{provider=\"mercadopago\"} ");
    uint64_t n = line != NULL ? strtoull(strchr(line, '}') + 2, NULL, 10) : 0;
    free(text);
    return n;
}

TestSuite(payment_client, .init = start_fake, .fini = stop_fake, .timeout = 30);

/* Creates a preference and has the buyer pay it with status; returns the
 * MercadoPago payment id. */
static int64_t paid(const payment_ctx *c, const char *status)
{
    char pref[128], url[512];
    cr_assert_eq(mp_create_preference(c, "t", &CHECKOUT, pref, url), 0);
    cr_assert(strstr(url, pref) != NULL);
    char path[256];
    snprintf(path, sizeof path, "/_fake/pay?preference_id=%s&status=%s&notify=0", pref, status);
    json_t *r;
    cr_assert_eq(control(path, &r), 200);
    int64_t id = json_integer_value(json_object_get(r, "payment_id"));
    json_decref(r);
    return id;
}

Test(payment_client, preferences_are_idempotent_on_our_payment_id)
{
    payment_ctx c = test_ctx(fake_base);
    char a[128], b[128], url[512];
    cr_assert_eq(mp_create_preference(&c, "t", &CHECKOUT, a, url), 0);
    cr_assert_eq(mp_create_preference(&c, "t", &CHECKOUT, b, url), 0);
    cr_assert_str_eq(a, b, "the same X-Idempotency-Key returns the same preference");
    json_t *last;
    cr_assert_eq(
        bpt_fake_call(fake_base, "GET", "/_fake/last?endpoint=preferences", NULL, NULL, &last),
        200);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(last, "last"), "idempotency_key")),
        CHECKOUT.payment_id);
    json_decref(last);
}

Test(payment_client, payments_are_read_and_searched_by_reference)
{
    payment_ctx c = test_ctx(fake_base);
    int64_t id = paid(&c, "approved");
    mp_payment p;
    cr_assert_eq(mp_get_payment(&c, "t", id, &p), 0);
    cr_assert_str_eq(p.status, "approved");
    cr_assert_eq(p.amount_cents, 123456);
    cr_assert_str_eq(p.external_reference, CHECKOUT.payment_id);
    cr_assert_str_eq(p.currency, "ARS");

    mp_payment found[4];
    size_t n;
    cr_assert_eq(mp_search_payments(&c, "t", CHECKOUT.payment_id, found, 4, &n), 0);
    cr_assert_geq(n, 1);
    cr_assert_eq(found[n - 1].id, id);
    cr_assert_eq(mp_search_payments(&c, "t", "9b2d1b6a-0000-4000-8000-000000000000", found, 4, &n),
                 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(mp_get_payment(&c, "t", 999999999, &p), BP_ENOTFOUND);
}

Test(payment_client, refunds_partial_then_the_rest)
{
    payment_ctx c = test_ctx(fake_base);
    int64_t id = paid(&c, "approved");
    int64_t refund = 0;
    char why[128];
    cr_assert_eq(mp_refund(&c, "t", id, "refund-key-1", 23456, &refund, why, sizeof why), 0);
    cr_assert_gt(refund, 0);
    int64_t again = 0;
    cr_assert_eq(mp_refund(&c, "t", id, "refund-key-1", 23456, &again, why, sizeof why), 0);
    cr_assert_eq(again, refund, "the same key refunds once");
    mp_payment p;
    cr_assert_eq(mp_get_payment(&c, "t", id, &p), 0);
    cr_assert_eq(p.refunded_cents, 23456);
    cr_assert_eq(mp_refund(&c, "t", id, "refund-key-2", 0, &refund, why, sizeof why), 0);
    cr_assert_eq(mp_get_payment(&c, "t", id, &p), 0);
    cr_assert_str_eq(p.status, "refunded");
    cr_assert_eq(mp_refund(&c, "t", id, "refund-key-3", 100, &refund, why, sizeof why), BP_EINVAL,
                 "nothing is left");
    cr_assert_neq(why[0], '\0', "MercadoPago's reason is kept");
}

Test(payment_client, failures_are_retryable_and_counted)
{
    payment_ctx c = test_ctx(fake_base);
    mp_payment p;
    char pref[128], url[512];
    uint64_t before = failures_now();
    cr_assert_eq(control("/_fake/mode?mode=error", NULL), 200);
    cr_assert_eq(mp_get_payment(&c, "t", 1, &p), BP_EUNAVAIL);
    cr_assert_eq(control("/_fake/mode?mode=garbage", NULL), 200);
    cr_assert_eq(mp_create_preference(&c, "t", &CHECKOUT, pref, url), BP_EUNAVAIL);
    cr_assert_eq(control("/_fake/mode?mode=hang", NULL), 200);
    cr_assert_eq(mp_get_payment(&c, "t", 1, &p), BP_EUNAVAIL, "the timeout ends the wait");
    cr_assert_eq(control("/_fake/mode?mode=ok", NULL), 200);
    c.access_token = "TEST-wrong-token";
    cr_assert_eq(mp_get_payment(&c, "t", 1, &p), BP_EUNAVAIL, "a refused token is a failure");
    c.access_token = NULL;
    cr_assert_eq(mp_get_payment(&c, "t", 1, &p), BP_EUNAVAIL);
    cr_assert_eq(failures_now() - before, 5);
}
