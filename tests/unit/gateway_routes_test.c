/* Unit tests for the gateway's routing: the route table itself, path
 * matching (params, 404 vs 405, trailing slashes, percent-decoding, long
 * paths) and query strings, as a client of the HTTP API would notice them. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "../../gateway/gw_routes.h"
#include "../../gateway/gw_services.h"
#include "../../gateway/gw_url.h"

/* A table with {param} rows, in the shape later issues will add. */
static const gw_route shops[] = {
    {"GET", "/api/shops", "booking", "ListShops", GW_AUTH_PUBLIC, GW_RATE_API, NULL},
    {"POST", "/api/shops", "booking", "CreateShop", GW_AUTH_USER, GW_RATE_API, NULL},
    {"GET", "/api/shops/nearby", "booking", "Nearby", GW_AUTH_PUBLIC, GW_RATE_API, NULL},
    {"GET", "/api/shops/{shop_id}", "booking", "GetShop", GW_AUTH_PUBLIC, GW_RATE_API, NULL},
    {"GET", "/api/shops/{shop_id}/services", "booking", "ListServices", GW_AUTH_PUBLIC, GW_RATE_API,
     NULL},
    {"POST", "/api/shops/{shop_id}/services", "booking", "AddService", GW_AUTH_USER, GW_RATE_API,
     NULL},
    {"DELETE", "/api/shops/{shop_id}/services/{service_id}", "booking", "RemoveService",
     GW_AUTH_USER, GW_RATE_BOOKING, NULL},
};

typedef struct {
    const char *method, *path;
    gw_match_result want;
    const char *pattern;      /* GW_MATCH_OK */
    const char *params[2][2]; /* name, decoded value */
    const char *allow;        /* GW_MATCH_METHOD */
} match_case;

static const match_case cases[] = {
    {"GET", "/api/shops", GW_MATCH_OK, "/api/shops", {{0}}, NULL},
    {"POST", "/api/shops", GW_MATCH_OK, "/api/shops", {{0}}, NULL},
    {"GET", "/api/shops/", GW_MATCH_OK, "/api/shops", {{0}}, NULL},
    {"GET", "/api/shops//", GW_MATCH_NOT_FOUND, NULL, {{0}}, NULL},
    {"GET", "//api/shops", GW_MATCH_NOT_FOUND, NULL, {{0}}, NULL},
    {"GET", "/api//shops", GW_MATCH_NOT_FOUND, NULL, {{0}}, NULL},
    {"GET", "/", GW_MATCH_NOT_FOUND, NULL, {{0}}, NULL},
    {"GET", "", GW_MATCH_NOT_FOUND, NULL, {{0}}, NULL},
    {"GET", "*", GW_MATCH_NOT_FOUND, NULL, {{0}}, NULL},
    {"GET", "http://example.com/api/shops", GW_MATCH_NOT_FOUND, NULL, {{0}}, NULL},
    {"GET", "/api/shop", GW_MATCH_NOT_FOUND, NULL, {{0}}, NULL},
    {"GET", "/API/shops", GW_MATCH_NOT_FOUND, NULL, {{0}}, NULL},
    /* A literal row before a {param} row wins. */
    {"GET", "/api/shops/nearby", GW_MATCH_OK, "/api/shops/nearby", {{0}}, NULL},
    {"GET",
     "/api/shops/abc-123",
     GW_MATCH_OK,
     "/api/shops/{shop_id}",
     {{"shop_id", "abc-123"}},
     NULL},
    {"GET",
     "/api/shops/abc-123/",
     GW_MATCH_OK,
     "/api/shops/{shop_id}",
     {{"shop_id", "abc-123"}},
     NULL},
    {"GET",
     "/api/shops/7/services",
     GW_MATCH_OK,
     "/api/shops/{shop_id}/services",
     {{"shop_id", "7"}},
     NULL},
    {"DELETE",
     "/api/shops/7/services/9",
     GW_MATCH_OK,
     "/api/shops/{shop_id}/services/{service_id}",
     {{"shop_id", "7"}, {"service_id", "9"}},
     NULL},
    /* Percent-decoding happens per segment, after splitting. */
    {"GET", "/api/shops/a%2Fb", GW_MATCH_OK, "/api/shops/{shop_id}", {{"shop_id", "a/b"}}, NULL},
    {"GET",
     "/api/shops/caf%C3%A9",
     GW_MATCH_OK,
     "/api/shops/{shop_id}",
     {{"shop_id", "café"}},
     NULL},
    {"GET",
     "/api/shops/a+b%20c",
     GW_MATCH_OK,
     "/api/shops/{shop_id}",
     {{"shop_id", "a+b c"}},
     NULL},
    {"GET", "/api/%73hops", GW_MATCH_OK, "/api/shops", {{0}}, NULL},
    {"GET", "/api/shops/%zz", GW_MATCH_BAD_PATH, NULL, {{0}}, NULL},
    {"GET", "/api/shops/ab%2", GW_MATCH_BAD_PATH, NULL, {{0}}, NULL},
    {"GET", "/api/shops/a%00b", GW_MATCH_BAD_PATH, NULL, {{0}}, NULL},
    {"GET", "/api/shops/%C3%28", GW_MATCH_BAD_PATH, NULL, {{0}}, NULL},
    {"GET", "/api/shops/%ED%A0%80", GW_MATCH_BAD_PATH, NULL, {{0}}, NULL},
    {"GET", "/api/shops/%C0%AF", GW_MATCH_BAD_PATH, NULL, {{0}}, NULL},
    /* 405 names the methods of the path. */
    {"PUT", "/api/shops", GW_MATCH_METHOD, NULL, {{0}}, "GET, POST, OPTIONS"},
    {"DELETE", "/api/shops/7/services", GW_MATCH_METHOD, NULL, {{0}}, "GET, POST, OPTIONS"},
    {"GET", "/api/shops/7/services/9", GW_MATCH_METHOD, NULL, {{0}}, "DELETE, OPTIONS"},
    {"get", "/api/shops", GW_MATCH_METHOD, NULL, {{0}}, "GET, POST, OPTIONS"},
    {"POST", "/api/shops/nearby", GW_MATCH_METHOD, NULL, {{0}}, "GET, OPTIONS"},
};

static void check_case(const match_case *c)
{
    static gw_match m;
    gw_match_result got =
        gw_route_match_in(shops, BP_COUNTOF(shops), c->method, c->path, strlen(c->path), &m);
    cr_assert_eq(got, c->want, "%s %s: result %d, want %d", c->method, c->path, got, c->want);
    if (c->want == GW_MATCH_OK) {
        cr_assert_str_eq(m.route->pattern, c->pattern, "%s %s", c->method, c->path);
        cr_assert_str_eq(shops[m.index].pattern, c->pattern);
        cr_expect_str_eq(m.allow, "", "%s %s: no Allow outside a 405", c->method, c->path);
        size_t want_params = 0;
        while (want_params < 2 && c->params[want_params][0] != NULL)
            want_params++;
        cr_assert_eq(m.n_params, want_params, "%s: %zu params", c->path, m.n_params);
        for (size_t i = 0; i < want_params; i++) {
            cr_expect_str_eq(m.params[i].name, c->params[i][0]);
            cr_expect_str_eq(m.params[i].value, c->params[i][1], "%s", c->path);
        }
    }
    if (c->want == GW_MATCH_METHOD)
        cr_expect_str_eq(m.allow, c->allow, "%s %s", c->method, c->path);
}

Test(gateway_routes, table_driven_matching)
{
    for (size_t i = 0; i < BP_COUNTOF(cases); i++)
        check_case(&cases[i]);
}

Test(gateway_routes, overly_long_paths)
{
    static gw_match m;
    static char path[GW_MAX_TARGET + 2];

    /* One segment of exactly the limit: routed (404), one byte more: 414. */
    path[0] = '/';
    memset(path + 1, 'a', GW_MAX_TARGET - 1);
    path[GW_MAX_TARGET] = '\0';
    cr_expect_eq(gw_route_match("GET", path, strlen(path), &m), GW_MATCH_NOT_FOUND);
    path[GW_MAX_TARGET] = 'a';
    path[GW_MAX_TARGET + 1] = '\0';
    cr_expect_eq(gw_route_match("GET", path, strlen(path), &m), GW_MATCH_TOO_LONG);

    /* More segments than any pattern may have: 404, not an overflow. */
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(path + n, sizeof path - n, "/api");
    cr_expect_eq(gw_route_match("GET", path, n, &m), GW_MATCH_NOT_FOUND);

    /* A long parameter is delivered whole. */
    static const gw_route one[] = {
        {"GET", "/x/{id}", "booking", "Get", GW_AUTH_PUBLIC, GW_RATE_API, NULL}};
    memcpy(path, "/x/", 3);
    memset(path + 3, 'b', GW_MAX_TARGET - 3);
    path[GW_MAX_TARGET] = '\0';
    cr_assert_eq(gw_route_match_in(one, 1, "GET", path, GW_MAX_TARGET, &m), GW_MATCH_OK);
    cr_expect_eq(strlen(m.params[0].value), GW_MAX_TARGET - 3);
}

Test(gateway_routes, the_table_resolves_against_the_protos)
{
    size_t n;
    const gw_route *r = gw_routes(&n);

    cr_assert_eq(gw_routes_init(), 0, "a row names an unknown service or RPC (see the log)");
    for (size_t i = 0; i < n; i++) {
        cr_expect(gw_route_pattern_valid(r[i].pattern), "%s", r[i].pattern);
        if (r[i].service != NULL) {
            const ProtobufCMethodDescriptor *md = gw_route_rpc(i);
            cr_assert_not_null(md, "%s %s", r[i].method, r[i].pattern);
            cr_expect_str_eq(md->name, r[i].rpc);
            cr_expect_not_null(gw_service_find(r[i].service));
        } else {
            cr_expect_not_null(r[i].op, "%s %s has neither a service nor a handler", r[i].method,
                               r[i].pattern);
        }
        /* No two rows share method and pattern. */
        for (size_t j = 0; j < i; j++)
            cr_expect(strcmp(r[i].method, r[j].method) != 0 ||
                          strcmp(r[i].pattern, r[j].pattern) != 0,
                      "duplicate row %s %s", r[i].method, r[i].pattern);
    }
}

Test(gateway_routes, the_endpoints_of_api_md)
{
    static const struct {
        const char *method, *path, *service, *rpc;
        gw_auth auth;
        gw_rate_class rate;
    } want[] = {
        {"POST", "/api/auth/register", "auth", "SignUp", GW_AUTH_PUBLIC, GW_RATE_AUTH},
        {"POST", "/api/auth/login", "auth", "Login", GW_AUTH_PUBLIC, GW_RATE_AUTH},
        {"POST", "/api/auth/logout", "auth", "Logout", GW_AUTH_USER, GW_RATE_API},
        {"GET", "/api/auth/me", "auth", "Me", GW_AUTH_USER, GW_RATE_API},
        {"PATCH", "/api/users/me", "auth", "UpdateMe", GW_AUTH_USER, GW_RATE_API},
        {"PUT", "/api/users/me/consents", "auth", "PutConsents", GW_AUTH_USER, GW_RATE_API},
        {"DELETE", "/api/users/me", "auth", "EraseMe", GW_AUTH_USER, GW_RATE_API},
        {"GET", "/api/users/me/export", "auth", "ExportMe", GW_AUTH_USER, GW_RATE_API},
        {"GET", "/api/admin/audit", "auth", "ListAudit", GW_AUTH_USER, GW_RATE_API},
        {"GET", "/api/admin/data-requests/7", "auth", "GetDataRequest", GW_AUTH_USER, GW_RATE_API},
        {"POST", "/api/admin/backups", "backup", "StartBackup", GW_AUTH_USER, GW_RATE_API},
        {"GET", "/api/admin/backups", "backup", "ListBackups", GW_AUTH_USER, GW_RATE_API},
        {"POST", "/api/payments/checkout", "payment", "Checkout", GW_AUTH_USER, GW_RATE_PAYMENTS},
        {"POST", "/api/payments/manual", "payment", "ManualPayment", GW_AUTH_USER,
         GW_RATE_PAYMENTS},
        {"GET", "/api/payments", "payment", "ListPayments", GW_AUTH_USER, GW_RATE_API},
        {"GET", "/api/payments/7", "payment", "GetPayment", GW_AUTH_USER, GW_RATE_API},
        {"POST", "/api/payments/7/refund", "payment", "Refund", GW_AUTH_USER, GW_RATE_PAYMENTS},
        {"POST", "/api/webhooks/mercadopago", "payment", "MercadoPagoWebhook", GW_AUTH_PUBLIC,
         GW_RATE_NONE},
        {"GET", "/api/health", NULL, NULL, GW_AUTH_PUBLIC, GW_RATE_NONE},
        {"GET", "/api/metrics", NULL, NULL, GW_AUTH_PUBLIC, GW_RATE_NONE},
    };
    static gw_match m;

    for (size_t i = 0; i < BP_COUNTOF(want); i++) {
        gw_match_result got =
            gw_route_match(want[i].method, want[i].path, strlen(want[i].path), &m);
        cr_assert_eq(got, GW_MATCH_OK, "%s %s", want[i].method, want[i].path);
        if (want[i].service != NULL) {
            cr_expect_str_eq(m.route->service, want[i].service);
            cr_expect_str_eq(m.route->rpc, want[i].rpc);
        } else {
            cr_expect_null(m.route->service);
        }
        cr_expect_eq(m.route->auth, want[i].auth, "%s", want[i].path);
        cr_expect_eq(m.route->rate, want[i].rate, "%s", want[i].path);
    }
    cr_expect_eq(gw_route_match("GET", "/api/users/me", 13, &m), GW_MATCH_METHOD);
    cr_expect_str_eq(m.allow, "PATCH, DELETE, OPTIONS");
    cr_expect_eq(gw_route_match("GET", "/api/auth/logout", 16, &m), GW_MATCH_METHOD);
    cr_expect_str_eq(m.allow, "POST, OPTIONS");
    cr_expect_eq(gw_route_match("GET", "/api/auth/me/", 13, &m), GW_MATCH_OK);
    cr_expect_eq(gw_route_match("GET", "/api/nothing", 12, &m), GW_MATCH_NOT_FOUND);
    /* The literal payment rows win over {payment_id}. */
    cr_expect_eq(gw_route_match("POST", "/api/payments/manual", 20, &m), GW_MATCH_OK);
    cr_expect_str_eq(m.route->rpc, "ManualPayment");
    cr_expect_eq(m.n_params, 0);
    cr_expect_eq(gw_route_match("GET", "/api/webhooks/mercadopago", 25, &m), GW_MATCH_METHOD);
    cr_expect_str_eq(m.allow, "POST, OPTIONS");
}

Test(gateway_routes, bad_patterns_are_refused)
{
    static const char *const bad[] = {
        "",         "api",        "/",           "/api/",
        "/api//x",  "/api/{}",    "/api/{Shop}", "/api/x{id}",
        "/api/{id", "/api/{id}x", "/api/%20",    "/api/{a_name_that_is_far_too_long_for_it}",
    };
    for (size_t i = 0; i < BP_COUNTOF(bad); i++)
        cr_expect(!gw_route_pattern_valid(bad[i]), "accepted \"%s\"", bad[i]);
    cr_expect(gw_route_pattern_valid("/api/shops/{shop_id}/services/{service_id}"));
    cr_expect(gw_route_pattern_valid("/api/time-off"));
}

Test(gateway_routes, query_strings)
{
    static const char q[] = "city=Buenos+Aires&date=2026-12-04&&tag=caf%C3%A9&flag&empty=&a=b=c";
    gw_query *got = NULL;

    cr_assert_eq(gw_query_parse(q, strlen(q), &got), 0);
    cr_assert_eq(got->n, 6);
    static const char *const want[][2] = {{"city", "Buenos Aires"},
                                          {"date", "2026-12-04"},
                                          {"tag", "café"},
                                          {"flag", ""},
                                          {"empty", ""},
                                          {"a", "b=c"}};
    for (size_t i = 0; i < got->n; i++) {
        cr_expect_str_eq(got->params[i].name, want[i][0]);
        cr_expect_str_eq(got->params[i].value, want[i][1]);
    }
    free(got);

    cr_expect_eq(gw_query_parse("", 0, &got), 0);
    cr_expect_eq(got->n, 0);
    free(got);

    static const char *const bad[] = {"a=%zz", "a=%", "a%00=1", "x=%FF"};
    for (size_t i = 0; i < BP_COUNTOF(bad); i++)
        cr_expect_eq(gw_query_parse(bad[i], strlen(bad[i]), &got), BP_EINVAL, "%s", bad[i]);
}

Test(gateway_routes, too_many_query_parameters)
{
    char q[GW_MAX_QUERY_PARAMS * 8 + 16];
    size_t n = 0;
    gw_query *got = NULL;

    for (int i = 0; i < GW_MAX_QUERY_PARAMS; i++)
        n += (size_t)snprintf(q + n, sizeof q - n, "%sp%d=1", i ? "&" : "", i);
    cr_assert_eq(gw_query_parse(q, n, &got), 0);
    cr_expect_eq(got->n, GW_MAX_QUERY_PARAMS);
    free(got);
    n += (size_t)snprintf(q + n, sizeof q - n, "&one=more");
    cr_expect_eq(gw_query_parse(q, n, &got), BP_ETOOBIG);
}

Test(gateway_routes, utf8_validation)
{
    cr_expect(gw_utf8_valid("", 0));
    cr_expect(gw_utf8_valid("Peluquería Ñandú €", strlen("Peluquería Ñandú €")));
    cr_expect(gw_utf8_valid("\xF0\x9F\x92\x88", 4)); /* barber pole */
    cr_expect(!gw_utf8_valid("\xC3", 1));
    cr_expect(!gw_utf8_valid("\xC0\x80", 2));         /* overlong NUL */
    cr_expect(!gw_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    cr_expect(!gw_utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
    cr_expect(!gw_utf8_valid("\xFF", 1));
}
