/* The OpenAPI document the gateway serves matches its route table: every
 * route is described and every described operation is routed. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "../../gateway/gw_openapi.h"
#include "../../gateway/gw_routes.h"

static json_t *load(void)
{
    json_error_t err;
    json_t *doc = json_loads(gw_openapi_json, 0, &err);
    cr_assert_not_null(doc, "the embedded document is not JSON: %s", err.text);
    return doc;
}

static void lower(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

Test(gateway_openapi, is_openapi_3_1)
{
    json_t *doc = load();
    cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_decref(doc);
}

Test(gateway_openapi, every_route_is_described)
{
    json_t *doc = load();
    json_t *paths = json_object_get(doc, "paths");
    size_t n;
    const gw_route *routes = gw_routes(&n);
    for (size_t i = 0; i < n; i++) {
        char method[16];
        lower(routes[i].method, method, sizeof method);
        json_t *item = json_object_get(paths, routes[i].pattern);
        cr_assert_not_null(item, "%s is not in gateway/openapi.yaml", routes[i].pattern);
        cr_assert_not_null(json_object_get(item, method), "%s %s is not in gateway/openapi.yaml",
                           routes[i].method, routes[i].pattern);
    }
    json_decref(doc);
}

Test(gateway_openapi, every_described_operation_is_routed)
{
    static const char *const verbs[] = {"get", "post", "put", "patch", "delete"};
    json_t *doc = load();
    json_t *paths = json_object_get(doc, "paths");
    size_t n;
    const gw_route *routes = gw_routes(&n);
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item)
    {
        for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++) {
            if (json_object_get(item, verbs[v]) == NULL)
                continue;
            bool routed = false;
            for (size_t i = 0; i < n && !routed; i++) {
                char method[16];
                lower(routes[i].method, method, sizeof method);
                routed = strcmp(routes[i].pattern, path) == 0 && strcmp(method, verbs[v]) == 0;
            }
            cr_assert(routed, "%s %s is described but has no route", verbs[v], path);
        }
    }
    json_decref(doc);
}

Test(gateway_openapi, rate_limit_classes_match_the_table)
{
    json_t *doc = load();
    json_t *paths = json_object_get(doc, "paths");
    size_t n;
    const gw_route *routes = gw_routes(&n);
    for (size_t i = 0; i < n; i++) {
        char method[16];
        lower(routes[i].method, method, sizeof method);
        json_t *op = json_object_get(json_object_get(paths, routes[i].pattern), method);
        cr_assert_not_null(op, "%s %s is not described", routes[i].method, routes[i].pattern);
        const char *rate = json_string_value(json_object_get(op, "x-barberpro-rate-limit"));
        const char *want = gw_rate_name(routes[i].rate);
        cr_expect(rate != NULL && strcmp(rate, want) == 0,
                  "%s %s: x-barberpro-rate-limit is %s, the table says %s", routes[i].method,
                  routes[i].pattern, rate != NULL ? rate : "(missing)", want);
        json_t *limited = json_object_get(json_object_get(op, "responses"), "429");
        if (routes[i].rate != GW_RATE_NONE)
            cr_expect_not_null(limited, "%s %s is rate-limited but documents no 429",
                               routes[i].method, routes[i].pattern);
        else
            cr_expect_null(limited, "%s %s is never rate-limited but documents a 429",
                           routes[i].method, routes[i].pattern);
    }
    json_decref(doc);
}
