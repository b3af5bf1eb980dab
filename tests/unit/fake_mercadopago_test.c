/* The MercadoPago stand-in (tests/fakes/mercadopago.c) against what the
 * payment daemon will rely on: preferences and their idempotency, the
 * Bearer check, a buyer's payment announced by a correctly signed webhook
 * (checked here with OpenSSL, independently of the fake's code), reading
 * and searching payments, full and partial refunds, webhook retries and the
 * 500 mode. Starts the built binary, like booking_rates_test.c. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_launch.h"
#include "fake_receiver.h"
#include "bp.h"
#include "http.h"

#define TOKEN  "TEST-fake-access-token"
#define SECRET "fake-webhook-secret"

static pid_t fake_pid;
static char fake_base[64];

/* ---- the fake ---------------------------------------------------------- */

static void start_fake(void)
{
    /* Short retry delays keep the retry test fast. */
    static const char *const args[] = {"--retry-delays-ms", "50,50", NULL};
    cr_assert_eq(bpt_fake_start("mercadopago", args, &fake_pid, fake_base, sizeof fake_base), 0,
                 "fake-mercadopago did not start (see stderr)");
}

/* Sends a request to the fake; returns the status and, when out is not
 * NULL, the parsed body (caller decrefs). token/key NULL leave the header
 * out. */
static long call(const char *method, const char *path, const char *token, const char *key,
                 const char *body, json_t **out)
{
    char auth[128], idem[128];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t h = 0;
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers[h++] = auth;
    }
    if (key != NULL) {
        snprintf(idem, sizeof idem, "X-Idempotency-Key: %s", key);
        headers[h++] = idem;
    }
    long status = bpt_fake_call(fake_base, method, path, body, headers, out);
    cr_assert_neq(status, -1, "the fake did not answer %s %s", method, path);
    if (out != NULL)
        cr_assert_not_null(*out, "%s %s: not JSON", method, path);
    return status;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    cr_assert_not_null(s, "no string %s", key);
    return s;
}

/* ---- the webhook receiver --------------------------------------------- */

static fake_receiver *receiver;

/* Waits up to 5 s for the n-th webhook. */
static void wait_webhooks(int n)
{
    cr_assert(fake_receiver_wait(receiver, n, 5000), "webhook %d never came", n);
}

static void setup(void)
{
    receiver = fake_receiver_start();
    cr_assert_not_null(receiver);
    start_fake();
}

static void teardown(void)
{
    if (fake_pid > 0)
        cr_expect_eq(bpt_fake_stop(fake_pid), 0, "fake-mercadopago did not stop cleanly");
    fake_receiver_stop(receiver);
}

TestSuite(fake_mercadopago, .init = setup, .fini = teardown, .timeout = 30);

/* Creates a preference of amount pesos for external_reference ext; returns
 * its id (static buffer). */
static const char *create_pref(const char *key, const char *ext, const char *amount)
{
    static char id[128];
    char body[1024];
    snprintf(body, sizeof body,
             "{\"items\":[{\"title\":\"Corte y barba\",\"quantity\":1,\"unit_price\":%s,"
             "\"currency_id\":\"ARS\"}],\"external_reference\":\"%s\","
             "\"payer\":{\"email\":\"cliente@example.com\"},"
             "\"back_urls\":{\"success\":\"http://localhost/ok\"},"
             "\"notification_url\":\"http://127.0.0.1:%u/api/webhooks/mercadopago\","
             "\"expires\":true,\"expiration_date_to\":\"2030-01-01T10:00:00.000-03:00\"}",
             amount, ext, fake_receiver_port(receiver));
    json_t *p;
    cr_assert_eq(call("POST", "/checkout/preferences", TOKEN, key, body, &p), 201);
    snprintf(id, sizeof id, "%s", str(p, "id"));
    cr_assert(strstr(str(p, "init_point"), id) != NULL);
    cr_assert(strstr(str(p, "sandbox_init_point"), id) != NULL);
    cr_assert_str_eq(str(p, "external_reference"), ext);
    json_decref(p);
    return id;
}

static int64_t pay(const char *pref, const char *status, bool notify)
{
    char path[256];
    snprintf(path, sizeof path, "/_fake/pay?preference_id=%s&status=%s%s", pref, status,
             notify ? "" : "&notify=0");
    json_t *r;
    cr_assert_eq(call("POST", path, NULL, NULL, NULL, &r), 200);
    int64_t id = json_integer_value(json_object_get(r, "payment_id"));
    json_decref(r);
    cr_assert_gt(id, 0);
    return id;
}

Test(fake_mercadopago, preference_is_created_once_per_idempotency_key)
{
    char first[128];
    snprintf(first, sizeof first, "%s", create_pref("key-1", "pay-1", "15000.5"));
    const char *again = create_pref("key-1", "pay-1", "15000.5");
    cr_assert_str_eq(again, first, "the same X-Idempotency-Key returns the same preference");
    cr_assert_str_neq(create_pref("key-2", "pay-1", "15000.5"), first);

    json_t *last;
    cr_assert_eq(call("GET", "/_fake/last?endpoint=preferences", NULL, NULL, NULL, &last), 200);
    cr_assert_eq(json_integer_value(json_object_get(last, "count")), 3);
    json_t *l = json_object_get(last, "last");
    cr_assert_str_eq(str(l, "idempotency_key"), "key-2");
    json_t *item = json_array_get(json_object_get(json_object_get(l, "json"), "items"), 0);
    cr_assert_float_eq(json_number_value(json_object_get(item, "unit_price")), 15000.5, 1e-9);
    json_decref(last);
}

Test(fake_mercadopago, api_needs_the_bearer_token)
{
    json_t *e;
    cr_assert_eq(call("POST", "/checkout/preferences", NULL, "k", "{}", &e), 401);
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), 401);
    cr_assert(json_is_string(json_object_get(e, "message")));
    cr_assert(json_is_array(json_object_get(e, "cause")));
    json_decref(e);
    cr_assert_eq(call("GET", "/v1/payments/1", "TEST-wrong", NULL, NULL, NULL), 401);
}

Test(fake_mercadopago, payment_is_announced_by_a_signed_webhook_and_can_be_read)
{
    const char *pref = create_pref("k", "booking-42", "12000");
    int64_t id = pay(pref, "approved", true);
    wait_webhooks(1);

    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    fake_received w;
    cr_assert(fake_receiver_get(receiver, 0, &w));
    const char *sig = fake_received_header(&w, "x-signature");
    const char *rid = fake_received_header(&w, "x-request-id");
    cr_assert_str_eq(fake_received_query(&w, "data.id"), ids);
    cr_assert_str_eq(fake_received_query(&w, "type"), "payment");
    cr_assert(bp_uuid_valid(rid), "x-request-id %s", rid);
    /* x-signature: ts=<ms>,v1=<hex HMAC-SHA256 of the manifest>. */
    char ts[32] = "", v1[80] = "";
    cr_assert_eq(sscanf(sig, "ts=%31[0-9],v1=%79[0-9a-f]", ts, v1), 2, "%s", sig);
    char manifest[256];
    snprintf(manifest, sizeof manifest, "id:%s;request-id:%s;ts:%s;", ids, rid, ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)manifest,
         strlen(manifest), mac, &len);
    char hex[65];
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    cr_assert_str_eq(v1, hex, "signature over %s", manifest);
    cr_assert_lt(llabs(strtoll(ts, NULL, 10) - bp_now_ms()), 10000, "ts is in milliseconds");
    json_error_t err;
    json_t *n = json_loads(w.body, 0, &err);
    fake_received_free(&w);
    cr_assert_not_null(n);
    cr_assert_str_eq(str(n, "action"), "payment.created");
    cr_assert_str_eq(str(n, "type"), "payment");
    cr_assert_str_eq(str(n, "api_version"), "v1");
    cr_assert_str_eq(str(json_object_get(n, "data"), "id"), ids);
    cr_assert(json_is_false(json_object_get(n, "live_mode")));
    json_decref(n);

    char path[128];
    snprintf(path, sizeof path, "/v1/payments/%s", ids);
    json_t *p;
    cr_assert_eq(call("GET", path, TOKEN, NULL, NULL, &p), 200);
    cr_assert_eq(json_integer_value(json_object_get(p, "id")), id);
    cr_assert_str_eq(str(p, "status"), "approved");
    cr_assert_str_eq(str(p, "status_detail"), "accredited");
    cr_assert_str_eq(str(p, "external_reference"), "booking-42");
    cr_assert_str_eq(str(p, "currency_id"), "ARS");
    cr_assert_float_eq(json_number_value(json_object_get(p, "transaction_amount")), 12000, 1e-9);
    cr_assert(json_is_string(json_object_get(p, "date_approved")));
    json_decref(p);
    cr_assert_eq(call("GET", "/v1/payments/999", TOKEN, NULL, NULL, NULL), 404);

    json_t *s;
    cr_assert_eq(
        call("GET", "/v1/payments/search?external_reference=booking-42", TOKEN, NULL, NULL, &s),
        200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(s, "paging"), "total")), 1);
    json_t *r0 = json_array_get(json_object_get(s, "results"), 0);
    cr_assert_eq(json_integer_value(json_object_get(r0, "id")), id);
    json_decref(s);
    cr_assert_eq(call("GET", "/v1/payments/search?external_reference=nope", TOKEN, NULL, NULL, &s),
                 200);
    cr_assert_eq(json_array_size(json_object_get(s, "results")), 0);
    json_decref(s);
}

Test(fake_mercadopago, webhook_is_retried_until_acknowledged)
{
    fake_receiver_refuse(receiver, 500, 2);
    pay(create_pref("k", "booking-7", "500"), "rejected", true);
    wait_webhooks(3); /* two refusals, then the 2xx */
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    cr_assert_eq(fake_receiver_count(receiver), 3, "no send after the acknowledgement");
}

Test(fake_mercadopago, refunds_partial_then_full)
{
    int64_t id = pay(create_pref("k", "booking-9", "10000"), "approved", false);
    char path[128];
    snprintf(path, sizeof path, "/v1/payments/%lld/refunds", (long long)id);
    json_t *r1, *r1b, *p;
    cr_assert_eq(call("POST", path, TOKEN, "refund-1", "{\"amount\":2500.5}", &r1), 201);
    cr_assert_float_eq(json_number_value(json_object_get(r1, "amount")), 2500.5, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(r1, "payment_id")), id);
    cr_assert_eq(call("POST", path, TOKEN, "refund-1", "{\"amount\":2500.5}", &r1b), 201);
    cr_assert_eq(json_integer_value(json_object_get(r1b, "id")),
                 json_integer_value(json_object_get(r1, "id")), "idempotent refund");
    json_decref(r1);
    json_decref(r1b);

    char get[128];
    snprintf(get, sizeof get, "/v1/payments/%lld", (long long)id);
    cr_assert_eq(call("GET", get, TOKEN, NULL, NULL, &p), 200);
    cr_assert_str_eq(str(p, "status"), "approved");
    cr_assert_float_eq(json_number_value(json_object_get(p, "transaction_amount_refunded")), 2500.5,
                       1e-9);
    json_decref(p);

    cr_assert_eq(call("POST", path, TOKEN, "refund-2", "{\"amount\":99999}", NULL), 400);
    cr_assert_eq(call("POST", path, TOKEN, "refund-3", NULL, NULL), 201, "the rest");
    cr_assert_eq(call("GET", get, TOKEN, NULL, NULL, &p), 200);
    cr_assert_str_eq(str(p, "status"), "refunded");
    cr_assert_eq(json_array_size(json_object_get(p, "refunds")), 2);
    json_decref(p);
    cr_assert_eq(call("POST", path, TOKEN, "refund-4", NULL, NULL), 400, "nothing left");

    json_t *last;
    cr_assert_eq(call("GET", "/_fake/last?endpoint=refunds", NULL, NULL, NULL, &last), 200);
    cr_assert_str_eq(str(json_object_get(last, "last"), "idempotency_key"), "refund-4");
    json_decref(last);
}

Test(fake_mercadopago, error_mode_answers_500)
{
    cr_assert_eq(call("POST", "/_fake/mode?mode=error", NULL, NULL, NULL, NULL), 200);
    json_t *e;
    cr_assert_eq(call("GET", "/v1/payments/search?external_reference=x", TOKEN, NULL, NULL, &e),
                 500);
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), 500);
    json_decref(e);
    cr_assert_eq(call("POST", "/_fake/reset", NULL, NULL, NULL, NULL), 200);
    cr_assert_eq(call("GET", "/v1/payments/search", TOKEN, NULL, NULL, NULL), 200);
}
