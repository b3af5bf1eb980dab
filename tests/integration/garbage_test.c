/* Nothing a client sends crashes a daemon: a fixed-seed stream of malformed
 * and random requests (methods, paths, headers, bodies) gets an answer every
 * time, every error answer is the JSON error body of API.md, and the suite
 * is healthy afterwards. (A sanitizer report in any daemon's log fails the
 * whole run in scripts/test.sh.) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ROUNDS           3000
#define BP_TEST_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A small deterministic generator, so that a failure can be replayed. */
static unsigned long long rng_state = 0x2545F4914F6CDD1DULL;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (unsigned)((rng_state * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "FOO"};

static const char *const paths[] = {
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/logout",
    "/api/auth/me",
    "/api/users/me",
    "/api/users/me/consents",
    "/api/health",
    "/api/nope",
    "/api/auth/me/",
    "//api//auth//me",
    "/api/%ff%00%2e%2e/x",
    "/api/auth/me?a=1&a=2&b=%zz",
    "/api/users/me?name=%00",
    /* the booking daemon: ids that do not exist or are not ids, bad dates */
    "/api/shops",
    "/api/shops?city=%00&limit=-1&cursor=zz",
    "/api/shops/00000000-0000-4000-8000-000000000000",
    "/api/shops/not-a-uuid/services",
    "/api/shops/00000000-0000-4000-8000-000000000000/providers",
    "/api/shops/00000000-0000-4000-8000-000000000000/open-days/2026-13-45",
    "/api/shops/00000000-0000-4000-8000-000000000000/prices/raise",
    "/api/services/zz/prices",
    "/api/services/00000000-0000-4000-8000-000000000000",
    "/api/providers/00000000-0000-4000-8000-000000000000/availability"
    "?service_id=abc&date=2026-02-30&days=-5",
    "/api/providers/00000000-0000-4000-8000-000000000000/availability"
    "?service_id=00000000-0000-4000-8000-000000000000&date=2026-12-01&days=99999",
    "/api/providers/x/schedule",
    "/api/providers/00000000-0000-4000-8000-000000000000/time-off",
    "/api/providers/00000000-0000-4000-8000-000000000000/time-off/zz",
    "/api/holidays?year=99999",
    "/api/holidays?year=abc",
    "/api/exchange-rate",
    "/api/bookings",
    "/api/bookings?role=owner&from=ayer&to=2026-01-01T00:00:00Z&limit=-1&cursor=%00",
    "/api/bookings/00000000-0000-4000-8000-000000000000/cancel",
    "/api/bookings/nope/reschedule",
    "/api/bookings/00000000-0000-4000-8000-000000000000/no-show",
    /* the payment daemon, and MercadoPago's webhook without a signature */
    "/api/payments/checkout",
    "/api/payments/manual",
    "/api/payments?booking_id=zz",
    "/api/payments/00000000-0000-4000-8000-000000000000",
    "/api/payments/not-a-uuid/refund",
    "/api/payments/00000000-0000-4000-8000-000000000000/refund",
    "/api/webhooks/mercadopago?data.id=123&type=payment",
    "/api/webhooks/mercadopago?data.id=%00&type=x&id=1&topic=merchant_order",
};

static const char *const content_types[] = {"Content-Type: application/json",
                                            "Content-Type: application/json; charset=utf-8",
                                            "Content-Type: text/plain", "Content-Type: "};

static const char *const bodies[] = {
    "{}",
    "{",
    "[]",
    "null",
    "\"texto\"",
    "{\"email\": 5, \"password\": [1,2]}",
    "{\"email\": \"a@b.co\", \"password\": \"Turno2026seguro\", \"name\": \"N\", "
    "\"accept_terms\": \"yes\"}",
    "{\"email\": \"\\u0000@x.com\", \"password\": \"\\ud800\"}",
    "{\"name\": 1e400, \"phone\": -0, \"locale\": {\"a\": {\"b\": {}}}}",
    "{\"marketing\": 1, \"whatsapp\": null, \"zz\": [[[[[[[[[[[]]]]]]]]]]]}",
    "{\"role\": \"admin\", \"email\": \"root@x.com\", \"password\": \"Adm1nistrador!\", "
    "\"name\": \"x\", \"accept_terms\": true}",
    "\xff\xfe\xfd garbage \x01\x02",
    "{\"name\": \"\", \"address\": 5, \"city\": null, \"timezone\": \"../../etc/passwd\", "
    "\"slot_step_minutes\": -15}",
    "{\"name\": \"Corte\", \"duration_minutes\": -30, \"price_cents\": -1, "
    "\"deposit_percent\": 250, \"buffer_minutes\": 1e9}",
    "{\"weekly\": [{\"weekday\": 9, \"start\": \"25:00\", \"end\": \"09:00\"}, "
    "{\"weekday\": 1, \"start\": \"aa\", \"end\": \"\"}]}",
    "{\"starts_at\": \"2026-12-04T10:00:00\", \"ends_at\": \"ayer\", \"reason\": \"x\"}",
    "{\"provider_id\": \"' OR 1=1 --\", \"service_id\": \"00000000-0000-4000-8000-000000000000\", "
    "\"starts_at\": \"9999-12-31T23:59:59+14:00\"}",
    "{\"percent\": 1e308, \"effective_from\": \"2026-02-29\"}",
    "{\"service_ids\": [\"a\", \"b\", 5, null, {}], \"email\": \"x@\"}",
    "{\"starts_at\": \"-0001-01-01T00:00:00Z\", \"date\": \"0000-00-00\", \"year\": 1e20}",
    "{\"booking_id\": \"00000000-0000-4000-8000-000000000000\", \"amount_cents\": -5, "
    "\"method\": \"bitcoin\", \"currency\": \"USD\", \"full\": \"yes\"}",
    "{\"action\": \"payment.updated\", \"data\": {\"id\": [1]}, \"type\": \"payment\"}",
};

/* Headers of the payment routes and the webhook, good and bad. */
static const char *const extras[] = {
    "Idempotency-Key: 0a8d2c1e-garbage", "Idempotency-Key: ",      "x-signature: ts=1,v1=00",
    "x-signature: v1=,ts=,,,=",          "x-request-id: \x01\x02", NULL,
};

/* Builds one request body: a fixed one, deep nesting, or a long string. */
static char *make_body(size_t *len)
{
    unsigned kind = rnd(10);
    char *b;
    if (kind < 7) {
        b = strdup(bodies[rnd(BP_TEST_COUNT(bodies))]);
    } else if (kind < 9) {
        size_t depth = 1 + rnd(3000);
        b = malloc(depth * 2 + 1);
        memset(b, '[', depth);
        memset(b + depth, ']', depth);
        b[depth * 2] = '\0';
    } else {
        size_t n = 1 + rnd(200000);
        b = malloc(n + 64);
        int head = snprintf(b, 64, "{\"email\": \"a@b.co\", \"password\": \"");
        memset(b + head, 'x', n);
        snprintf(b + head + n, 64 - (size_t)head, "\"}");
    }
    *len = strlen(b);
    return b;
}

Test(garbage, every_request_gets_a_clean_answer, .timeout = 240)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    char auth_good[2100], auth_bad[2100];
    snprintf(auth_good, sizeof auth_good, "Authorization: Bearer %s", u.token);
    snprintf(auth_bad, sizeof auth_bad, "Authorization: Bearer %.*sAAA", (int)strlen(u.token) - 3,
             u.token);
    const char *const auths[] = {
        auth_good, auth_bad, "Authorization: Basic Zm9vOmJhcg==", "Authorization: Bearer", NULL};

    for (int i = 0; i < ROUNDS; i++) {
        const char *method = methods[rnd(BP_TEST_COUNT(methods))];
        const char *path = paths[rnd(BP_TEST_COUNT(paths))];
        const char *headers[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
        size_t nh = 0;
        headers[nh++] = content_types[rnd(BP_TEST_COUNT(content_types))];
        const char *auth = auths[rnd(BP_TEST_COUNT(auths))];
        if (auth != NULL)
            headers[nh++] = auth;
        const char *extra = extras[rnd(BP_TEST_COUNT(extras))];
        if (extra != NULL)
            headers[nh++] = extra;
        size_t len = 0;
        char *body = rnd(5) == 0 ? NULL : make_body(&len);

        bpt_response *r = bpt_http(method, path, headers, body, len);
        cr_assert(r != NULL && r->status != 0, "round %d: no answer to %s %s", i, method, path);
        cr_assert_lt(r->status, 500, "round %d: %s %s answered %ld: %s", i, method, path, r->status,
                     r->body);
        if (r->status >= 400 && strcmp(method, "FOO") != 0) {
            cr_assert_not_null(bpt_error_code(r), "round %d: %s %s %ld without the error body: %s",
                               i, method, path, r->status, r->body);
            cr_assert_not_null(bpt_header(r, "X-Request-Id"));
        }
        bpt_response_free(r);
        free(body);
    }
    cr_assert_eq(bpt_wait_healthy(5000), 0, "the suite is not healthy after the garbage");
    /* (The stream may have logged u out; a new account must work.) */
    bpt_user after;
    cr_assert_eq(bpt_user_new(&after), 0, "cannot sign up after the garbage");
    bpt_response *r = bpt_http_json("GET", "/api/auth/me", after.token, NULL);
    long status = r->status;
    bpt_response_free(r);
    cr_assert_eq(status, 200, "a fresh token does not work after the garbage");
}
