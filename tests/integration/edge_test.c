/* The gateway's edge against the real suite: rate limits per class (hit,
 * headers, reset, shared by two gateway instances, per user and per
 * address), the trusted-proxy rule for X-Forwarded-For, failing open when
 * Redis is gone, CORS with several origins, and the access log. Each test
 * starts gateways of its own (bpt_gateway_spawn) with small limits, and
 * speaks for made-up clients through X-Forwarded-For from a trusted
 * 127.0.0.1, so that no other test's traffic shares a bucket. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "harness.h"

/* Small limits: api 5 per 3 s, auth 3 per 15 min, booking 2 per hour. */
static const char *const limited_env[] = {"RATE_LIMIT_ENABLED=1",      "RATE_LIMIT_MAX_REQUESTS=5",
                                          "RATE_LIMIT_WINDOW_MS=3000", "RATE_LIMIT_AUTH_MAX=3",
                                          "RATE_LIMIT_BOOKING_MAX=2",  "RATE_LIMIT_PAYMENTS_MAX=2",
                                          "TRUSTED_PROXIES=127.0.0.1", NULL};

typedef struct {
    pid_t pid;
    char url[64];
} gateway;

static void gateway_start(gateway *g, const char *label, const char *const *env)
{
    g->pid = bpt_gateway_spawn(label, env, g->url, sizeof g->url);
    cr_assert(g->pid > 0, "gateway %s did not start", label);
}

static void gateway_stop(gateway *g)
{
    cr_expect_eq(bpt_gateway_stop(g->pid), 0, "gateway did not stop on SIGTERM");
}

/* A client address of the documentation ranges no other run uses. */
static void fresh_client(char *xff_line, size_t len, char *addr, size_t addr_len)
{
    static unsigned n;
    unsigned r = (unsigned)rand() ^ (unsigned)getpid();
    snprintf(addr, addr_len, "198.51.%u.%u", (r + n) % 250 + 1, (r >> 8) % 250 + 1);
    n += 7;
    snprintf(xff_line, len, "X-Forwarded-For: %s", addr);
}

static bpt_response *get_as(const gateway *g, const char *path, const char *xff, const char *token)
{
    char auth[2200];
    const char *headers[3] = {xff, NULL, NULL};
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers[xff != NULL ? 1 : 0] = auth;
    }
    bpt_response *r = bpt_http_at(g->url, "GET", path, headers, NULL, 0);
    cr_assert_not_null(r, "no answer to GET %s", path);
    return r;
}

static long header_long(const bpt_response *r, const char *name)
{
    const char *v = bpt_header(r, name);
    cr_assert_not_null(v, "no %s header (status %ld)", name, r->status);
    return strtol(v, NULL, 10);
}

static bpt_response *login_as(const gateway *g, const char *xff, const char *email)
{
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"Equivocada-123\"}", email);
    const char *headers[] = {xff, "Content-Type: application/json", NULL};
    bpt_response *r = bpt_http_at(g->url, "POST", "/api/auth/login", headers, body, strlen(body));
    cr_assert_not_null(r);
    return r;
}

Test(ratelimit, api_limit_is_hit_with_headers_and_resets, .timeout = 60)
{
    gateway g;
    gateway_start(&g, "gateway-limits", limited_env);
    char xff[96], addr[48];
    fresh_client(xff, sizeof xff, addr, sizeof addr);

    for (long i = 0; i < 5; i++) {
        bpt_response *r = get_as(&g, "/api/shops", xff, NULL);
        cr_assert_eq(r->status, 200, "request %ld answered %ld: %s", i + 1, r->status, r->body);
        cr_assert_eq(header_long(r, "RateLimit-Limit"), 5);
        cr_assert_eq(header_long(r, "RateLimit-Remaining"), 4 - i, "remaining after %ld", i + 1);
        long reset = header_long(r, "RateLimit-Reset");
        cr_assert(reset >= 1 && reset <= 3, "RateLimit-Reset %ld for a 3 s window", reset);
        cr_assert_null(bpt_header(r, "Retry-After"));
        bpt_response_free(r);
    }
    bpt_response *r = get_as(&g, "/api/shops", xff, NULL);
    cr_assert(bpt_error_is(r, 429, "rate_limited"), "the 6th answered %ld: %s", r->status, r->body);
    cr_assert_eq(header_long(r, "RateLimit-Remaining"), 0);
    long retry = header_long(r, "Retry-After");
    cr_assert_eq(retry, 1, "Retry-After %ld: one request comes back within 0.6 s", retry);
    bpt_response_free(r);

    /* Operations endpoints are never limited. */
    r = get_as(&g, "/api/health", xff, NULL);
    cr_assert_null(bpt_header(r, "RateLimit-Limit"), "health carries rate-limit headers");
    bpt_response_free(r);

    bpt_sleep_ms((int)retry * 1000 + 100);
    r = get_as(&g, "/api/shops", xff, NULL);
    cr_assert_eq(r->status, 200, "after Retry-After: %ld", r->status);
    bpt_response_free(r);
    gateway_stop(&g);
}

Test(ratelimit, two_gateways_share_the_limit, .timeout = 60)
{
    gateway a, b;
    gateway_start(&a, "gateway-limits-a", limited_env);
    gateway_start(&b, "gateway-limits-b", limited_env);
    char xff[96], addr[48];
    fresh_client(xff, sizeof xff, addr, sizeof addr);
    for (int i = 0; i < 5; i++) {
        bpt_response *r = get_as(i % 2 ? &b : &a, "/api/shops", xff, NULL);
        cr_assert_eq(r->status, 200, "request %d: %ld", i + 1, r->status);
        bpt_response_free(r);
    }
    bpt_response *ra = get_as(&a, "/api/shops", xff, NULL);
    bpt_response *rb = get_as(&b, "/api/shops", xff, NULL);
    cr_assert(bpt_error_is(ra, 429, "rate_limited") && bpt_error_is(rb, 429, "rate_limited"),
              "after 5 spread over both: %ld and %ld", ra->status, rb->status);
    bpt_response_free(ra);
    bpt_response_free(rb);
    gateway_stop(&a);
    gateway_stop(&b);
}

Test(ratelimit, auth_class_counts_logins_by_address, .timeout = 60)
{
    gateway g;
    gateway_start(&g, "gateway-limits-auth", limited_env);
    char xff[96], addr[48], email[128];
    fresh_client(xff, sizeof xff, addr, sizeof addr);
    bpt_unique_email(email, sizeof email);
    for (int i = 0; i < 3; i++) {
        bpt_response *r = login_as(&g, xff, email);
        cr_assert_eq(r->status, 401, "login %d: %ld %s", i + 1, r->status, r->body);
        cr_assert_eq(header_long(r, "RateLimit-Limit"), 3);
        long reset = header_long(r, "RateLimit-Reset");
        cr_assert(reset > 60 && reset <= 15 * 60, "auth window reset %ld s", reset);
        bpt_response_free(r);
    }
    bpt_response *r = login_as(&g, xff, email);
    cr_assert(bpt_error_is(r, 429, "rate_limited"), "4th login: %ld %s", r->status, r->body);
    long retry = header_long(r, "Retry-After");
    cr_assert(retry > 200 && retry <= 300, "Retry-After %ld: one login per 5 min", retry);
    bpt_response_free(r);

    /* Another class is another bucket: the address may still read. */
    r = get_as(&g, "/api/shops", xff, NULL);
    cr_assert_eq(r->status, 200);
    bpt_response_free(r);
    gateway_stop(&g);
}

Test(ratelimit, signed_in_users_have_their_own_buckets, .timeout = 60)
{
    gateway g;
    gateway_start(&g, "gateway-limits-users", limited_env);
    bpt_user u1, u2;
    cr_assert_eq(bpt_user_new(&u1), 0);
    cr_assert_eq(bpt_user_new(&u2), 0);
    char xff[96], addr[48];
    fresh_client(xff, sizeof xff, addr, sizeof addr);

    /* auth's own route and another service's: one bucket per user. */
    for (int i = 0; i < 5; i++) {
        bpt_response *r = get_as(&g, i % 2 ? "/api/auth/me" : "/api/bookings", xff, u1.token);
        cr_assert_eq(r->status, 200, "user 1 request %d: %ld %s", i + 1, r->status, r->body);
        cr_assert_eq(header_long(r, "RateLimit-Remaining"), 4 - i);
        bpt_response_free(r);
    }
    bpt_response *r = get_as(&g, "/api/auth/me", xff, u1.token);
    cr_assert(bpt_error_is(r, 429, "rate_limited"), "user 1, 6th: %ld", r->status);
    bpt_response_free(r);

    /* Same address, another user, and the address alone: untouched. */
    r = get_as(&g, "/api/auth/me", xff, u2.token);
    cr_assert_eq(r->status, 200, "user 2 behind the same address: %ld", r->status);
    cr_assert_eq(header_long(r, "RateLimit-Remaining"), 4);
    bpt_response_free(r);
    r = get_as(&g, "/api/shops", xff, NULL);
    cr_assert_eq(r->status, 200, "anonymous from the same address: %ld", r->status);
    cr_assert_eq(header_long(r, "RateLimit-Remaining"), 4);
    bpt_response_free(r);

    /* A token that fails still counts against the address. */
    for (int i = 0; i < 4; i++) {
        bpt_response *bad = get_as(&g, "/api/bookings", xff, "not.a.token");
        cr_assert_eq(bad->status, 401, "bad token %d: %ld", i + 1, bad->status);
        bpt_response_free(bad);
    }
    r = get_as(&g, "/api/bookings", xff, "not.a.token");
    cr_assert(bpt_error_is(r, 429, "rate_limited"), "6th from the address: %ld", r->status);
    bpt_response_free(r);
    gateway_stop(&g);
}

Test(ratelimit, booking_writes_have_their_class, .timeout = 60)
{
    gateway g;
    gateway_start(&g, "gateway-limits-booking", limited_env);
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    char auth[2200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", u.token);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    /* Invalid bookings: the limit is counted before the booking daemon
     * judges the body. */
    for (int i = 0; i < 2; i++) {
        bpt_response *r = bpt_http_at(g.url, "POST", "/api/bookings", headers, "{}", 2);
        cr_assert_eq(r->status, 400, "booking %d: %ld %s", i + 1, r->status, r->body);
        cr_assert_eq(header_long(r, "RateLimit-Limit"), 2);
        bpt_response_free(r);
    }
    bpt_response *r = bpt_http_at(g.url, "POST", "/api/bookings", headers, "{}", 2);
    cr_assert(bpt_error_is(r, 429, "rate_limited"), "3rd booking: %ld", r->status);
    long retry = header_long(r, "Retry-After");
    cr_assert(retry > 1500 && retry <= 1800, "Retry-After %ld: one booking per 30 min", retry);
    bpt_response_free(r);
    /* Reading bookings is the api class: still allowed. */
    r = get_as(&g, "/api/bookings", NULL, u.token);
    cr_assert_eq(r->status, 200);
    bpt_response_free(r);
    gateway_stop(&g);
}

Test(proxies, forwarded_for_is_believed_only_from_trusted_proxies, .timeout = 60)
{
    /* 127.0.0.1 is trusted here: the rightmost untrusted entry is the
     * client, whatever the client wrote to its left. */
    gateway g;
    gateway_start(&g, "gateway-proxies", limited_env);
    char xff[96], addr[48], spoofed[160];
    fresh_client(xff, sizeof xff, addr, sizeof addr);
    for (int i = 0; i < 5; i++) {
        bpt_response *r = get_as(&g, "/api/shops", xff, NULL);
        bpt_response_free(r);
    }
    snprintf(spoofed, sizeof spoofed, "X-Forwarded-For: 203.0.113.77, %s, 127.0.0.1", addr);
    bpt_response *r = get_as(&g, "/api/shops", spoofed, NULL);
    cr_assert(bpt_error_is(r, 429, "rate_limited"),
              "an invented entry on the left escaped the limit: %ld", r->status);
    bpt_response_free(r);
    gateway_stop(&g);

    /* Nobody trusted: the header is ignored, every request is 127.0.0.1's. */
    const char *untrusting[] = {"RATE_LIMIT_MAX_REQUESTS=3", "RATE_LIMIT_WINDOW_MS=3000",
                                "TRUSTED_PROXIES=10.0.0.0/8", NULL};
    gateway_start(&g, "gateway-untrusting", untrusting);
    bpt_sleep_ms(3100); /* earlier tests may have used 127.0.0.1's bucket */
    long refused = 0;
    for (int i = 0; i < 4; i++) {
        char line[96], a[48];
        fresh_client(line, sizeof line, a, sizeof a);
        r = get_as(&g, "/api/shops", line, NULL);
        refused += r->status == 429;
        bpt_response_free(r);
    }
    cr_assert_eq(refused, 1, "four invented addresses from one peer: %ld refused of 4", refused);
    gateway_stop(&g);
}

Test(ratelimit, redis_down_lets_requests_through_and_says_so, .timeout = 60)
{
    const char *env[] = {"RATE_LIMIT_MAX_REQUESTS=2", "RATE_LIMIT_WINDOW_MS=60000",
                         "REDIS_URL=redis://127.0.0.1:1", NULL};
    gateway g;
    gateway_start(&g, "gateway-no-redis", env);
    for (int i = 0; i < 6; i++) {
        bpt_response *r = get_as(&g, "/api/shops", NULL, NULL);
        cr_assert_eq(r->status, 200, "request %d with Redis down: %ld", i + 1, r->status);
        cr_assert_null(bpt_header(r, "RateLimit-Limit"), "headers without a verdict");
        bpt_response_free(r);
        bpt_sleep_ms(300); /* past the 1 s pause at least once */
    }
    bpt_response *m = get_as(&g, "/api/metrics", NULL, NULL);
    const char *labels[] = {"service=\"gateway\"", "class=\"api\"", NULL};
    double open = bpt_metric_sum(m->body, "barberpro_ratelimit_fail_open_total", labels);
    cr_assert(open >= 6, "barberpro_ratelimit_fail_open_total{class=\"api\"} = %g", open);
    bpt_response_free(m);
    gateway_stop(&g);

    char path[512];
    snprintf(path, sizeof path, "%s/gateway-no-redis.log", getenv("BP_TEST_LOG_DIR"));
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no log at %s", path);
    char line[4096];
    int outages = 0;
    while (fgets(line, sizeof line, f) != NULL)
        outages += strstr(line, "rate limiter: Redis cannot be reached") != NULL;
    fclose(f);
    cr_assert_eq(outages, 1, "the outage was logged %d times", outages);
}

Test(ratelimit, switched_off_for_load_tests, .timeout = 60)
{
    const char *env[] = {"RATE_LIMIT_ENABLED=0", "RATE_LIMIT_MAX_REQUESTS=1", NULL};
    gateway g;
    gateway_start(&g, "gateway-unlimited", env);
    for (int i = 0; i < 4; i++) {
        bpt_response *r = get_as(&g, "/api/shops", NULL, NULL);
        cr_assert_eq(r->status, 200);
        cr_assert_null(bpt_header(r, "RateLimit-Limit"));
        bpt_response_free(r);
    }
    gateway_stop(&g);
}

Test(cors, several_origins_and_the_exposed_headers, .timeout = 60)
{
    const char *env[] = {
        "CORS_ORIGIN=https://app.barberpro.com.ar, https://admin.barberpro.com.ar/", NULL};
    gateway g;
    gateway_start(&g, "gateway-cors", env);
    const char *origins[] = {"https://app.barberpro.com.ar", "https://admin.barberpro.com.ar"};
    for (size_t i = 0; i < 2; i++) {
        char line[128];
        snprintf(line, sizeof line, "Origin: %s", origins[i]);
        const char *headers[] = {line, NULL};
        bpt_response *r = bpt_http_at(g.url, "GET", "/api/shops", headers, NULL, 0);
        const char *allow = bpt_header(r, "Access-Control-Allow-Origin");
        cr_assert(allow != NULL && strcmp(allow, origins[i]) == 0, "%s got %s", origins[i],
                  allow ? allow : "(none)");
        const char *expose = bpt_header(r, "Access-Control-Expose-Headers");
        cr_assert(expose != NULL && strstr(expose, "RateLimit-Remaining") != NULL &&
                      strstr(expose, "Retry-After") != NULL,
                  "exposed: %s", expose ? expose : "(none)");
        bpt_response_free(r);
    }
    const char *foreign[] = {"Origin: https://app.barberpro.com.ar.evil.example", NULL};
    bpt_response *r = bpt_http_at(g.url, "GET", "/api/shops", foreign, NULL, 0);
    cr_assert_null(bpt_header(r, "Access-Control-Allow-Origin"));
    cr_assert_null(bpt_header(r, "Access-Control-Expose-Headers"));
    bpt_response_free(r);
    gateway_stop(&g);
}

/* The JSON line of the access log for request id rid, or NULL. */
static json_t *access_line(const char *log, const char *rid)
{
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f, "no log at %s", log);
    char line[8192];
    json_t *found = NULL;
    while (found == NULL && fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, rid) == NULL || strstr(line, "\"msg\":\"http\"") == NULL)
            continue;
        json_error_t err;
        found = json_loads(line, 0, &err);
        cr_assert_not_null(found, "not JSON: %s (%s)", line, err.text);
    }
    fclose(f);
    return found;
}

Test(accesslog, one_json_line_per_request_without_secrets, .timeout = 60)
{
    gateway g;
    gateway_start(&g, "gateway-access", limited_env);
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    char auth[2200], rid[64], xff[96], addr[48];
    fresh_client(xff, sizeof xff, addr, sizeof addr);
    snprintf(rid, sizeof rid, "access-log-%d-%d", (int)getpid(), rand());
    char rid_line[96];
    snprintf(rid_line, sizeof rid_line, "X-Request-Id: %s", rid);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", u.token);
    const char *headers[] = {auth, rid_line, xff, NULL};
    bpt_response *r = bpt_http_at(g.url, "GET", "/api/bookings?limit=5", headers, NULL, 0);
    cr_assert_eq(r->status, 200);
    bpt_response_free(r);
    gateway_stop(&g); /* every line is written */

    char log[512];
    snprintf(log, sizeof log, "%s/gateway-access.log", getenv("BP_TEST_LOG_DIR"));
    json_t *line = access_line(log, rid);
    cr_assert_not_null(line, "no access line for %s", rid);
    cr_assert_str_eq(bpt_json_str(line, "method"), "GET");
    cr_assert_str_eq(bpt_json_str(line, "route"), "/api/bookings");
    cr_assert_str_eq(bpt_json_str(line, "client_ip"), addr);
    cr_assert_str_eq(bpt_json_str(line, "user_id"), u.id);
    cr_assert_str_eq(bpt_json_str(line, "request_id"), rid);
    cr_assert_eq(json_integer_value(json_object_get(line, "status")), 200);
    cr_assert(json_is_number(json_object_get(line, "duration_ms")));
    cr_assert_not_null(bpt_json_str(line, "ts"));
    char *text = json_dumps(line, 0);
    cr_assert(strstr(text, u.token) == NULL, "the token is in the access log");
    free(text);
    json_decref(line);

    FILE *f = fopen(log, "r");
    char buf[8192];
    while (fgets(buf, sizeof buf, f) != NULL)
        cr_assert(strstr(buf, u.token) == NULL, "the token is in the log: %s", buf);
    fclose(f);
}
