/* "Shops, services, providers" of API.md over HTTP, against the real
 * gateway, auth and booking daemons, PostgreSQL and Redis: shops and their
 * pages, services and their price lists (history, raises, dated prices,
 * caches that never hide a change), providers linked to accounts, weekly
 * schedules and time off and who may change them, holidays, open days and
 * the exchange rate; and the 400s, 403s and 404s of bad input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char password[] = "Navaja-Fade-7281!";

/* ---- helpers ------------------------------------------------------------------ */

static void assert_error(const bpt_response *r, long status, const char *code, const char *field)
{
    cr_assert_not_null(r, "no answer");
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    const char *got = bpt_error_code(r);
    cr_assert(got != NULL && strcmp(got, code) == 0, "expected code %s, got %s: %s", code,
              got ? got : "(none)", r->body);
    if (field != NULL) {
        const char *f = bpt_error_field(r);
        cr_assert(f != NULL && strcmp(f, field) == 0, "expected field %s, got %s: %s", field,
                  f ? f : "(none)", r->body);
    }
    const char *msg = bpt_json_str(r->json, "error.message");
    cr_assert(msg != NULL && *msg != '\0', "error without a message: %s", r->body);
    cr_assert_not_null(bpt_json_str(r->json, "error.request_id"), "no request_id: %s", r->body);
}

static void expect_status(const bpt_response *r, long status)
{
    cr_assert_not_null(r, "no answer");
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
}

/* Registers a fresh account of role (client or owner); fills u with its id
 * and token. */
static void sign_up(const char *role, bpt_user *u)
{
    memset(u, 0, sizeof *u);
    bpt_unique_email(u->email, sizeof u->email);
    snprintf(u->password, sizeof u->password, "%s", password);
    snprintf(u->name, sizeof u->name, "Dueño de Prueba");
    bpt_response *r = bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:s, s:b}",
                                    "email", u->email, "password", u->password, "name", u->name,
                                    "role", role, "accept_terms", 1);
    expect_status(r, 201);
    snprintf(u->id, sizeof u->id, "%s", bpt_json_str(r->json, "user.id"));
    snprintf(u->token, sizeof u->token, "%s", bpt_json_str(r->json, "token"));
    bpt_response_free(r);
}

static void admin_login(bpt_user *u)
{
    cr_assert_eq(bpt_admin_login(u), 0, "admin login failed (see stderr)");
}

/* Creates a shop of owner in city; writes its id. */
static void new_shop(const bpt_user *owner, const char *city, char id[64])
{
    bpt_response *r =
        bpt_http_pack("POST", "/api/shops", owner->token, "{s:s, s:s, s:s}", "name",
                      "Barbería La Esquina", "address", "Av. Corrientes 1234", "city", city);
    expect_status(r, 201);
    snprintf(id, 64, "%s", bpt_json_str(r->json, "shop.id"));
    bpt_response_free(r);
}

/* Creates a service; writes its id. */
static void new_service(const bpt_user *owner, const char *shop, const char *name, long long price,
                        int deposit, char id[64])
{
    char path[128];
    snprintf(path, sizeof path, "/api/shops/%s/services", shop);
    bpt_response *r = bpt_http_pack("POST", path, owner->token, "{s:s, s:i, s:I, s:i, s:i}", "name",
                                    name, "duration_minutes", 30, "price_cents", (json_int_t)price,
                                    "buffer_minutes", 5, "deposit_percent", deposit);
    expect_status(r, 201);
    snprintf(id, 64, "%s", bpt_json_str(r->json, "service.id"));
    bpt_response_free(r);
}

/* A city no other test or run uses, so that lists are exactly ours. */
static void unique_city(char *out, size_t len)
{
    char email[128];
    bpt_unique_email(email, sizeof email);
    char *at = strchr(email, '@');
    if (at != NULL)
        *at = '\0';
    snprintf(out, len, "Ciudad %s", email);
}

/* Today's date in Buenos Aires (a fixed -03:00), plus days. */
static void ba_date(int plus_days, char out[11])
{
    time_t t = time(NULL) - 3 * 3600 + (time_t)plus_days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* The item of a list (json array) whose "id" is id, or NULL. */
static json_t *find_item(const json_t *items, const char *id)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *got = bpt_json_str(it, "id");
        if (got != NULL && strcmp(got, id) == 0)
            return it;
    }
    return NULL;
}

static json_int_t int_at(const json_t *root, const char *path)
{
    json_t *v = bpt_json_at(root, path);
    cr_assert(json_is_integer(v), "%s is not an integer", path);
    return json_integer_value(v);
}

/* ---- shops ---------------------------------------------------------------------- */

Test(shops, owner_creates_with_the_default_zone, .timeout = 60)
{
    bpt_user owner, client;
    sign_up("owner", &owner);
    sign_up("client", &client);

    bpt_response *r = bpt_http_pack("POST", "/api/shops", owner.token, "{s:s, s:s, s:s, s:s}",
                                    "name", "  Barbería Norte ", "address", "Cabildo 2000", "city",
                                    "Buenos Aires", "phone", "+54 9 11 2345-6789");
    expect_status(r, 201);
    cr_expect_str_eq(bpt_json_str(r->json, "shop.name"), "Barbería Norte");
    cr_expect_str_eq(bpt_json_str(r->json, "shop.timezone"), "America/Argentina/Buenos_Aires");
    cr_expect_str_eq(bpt_json_str(r->json, "shop.owner_id"), owner.id);
    cr_expect_str_eq(bpt_json_str(r->json, "shop.phone"), "+5491123456789");
    cr_expect_eq(int_at(r->json, "shop.slot_step_minutes"), 15);
    cr_expect_eq(int_at(r->json, "shop.cancellation_hours"), 24);
    const char *created = bpt_json_str(r->json, "shop.created_at");
    cr_expect(created != NULL && strstr(created, "-03:00") != NULL, "created_at %s",
              created ? created : "(none)");
    bpt_response_free(r);

    r = bpt_http_pack("POST", "/api/shops", owner.token, "{s:s, s:s, s:s, s:s}", "name", "NY Cuts",
                      "address", "5th Ave", "city", "New York", "timezone", "America/New_York");
    expect_status(r, 201);
    cr_expect_str_eq(bpt_json_str(r->json, "shop.timezone"), "America/New_York");
    bpt_response_free(r);

    r = bpt_http_pack("POST", "/api/shops", owner.token, "{s:s, s:s, s:s, s:s}", "name", "X",
                      "address", "Y", "city", "Z", "timezone", "Mars/Olympus_Mons");
    assert_error(r, 400, "invalid_request", "timezone");
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/shops", owner.token, "{s:s, s:s, s:s, s:s}", "name", "X",
                      "address", "Y", "city", "Z", "timezone", "../../etc/passwd");
    assert_error(r, 400, "invalid_request", "timezone");
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/shops", owner.token, "{s:s, s:s}", "address", "Y", "city", "Z");
    assert_error(r, 400, "invalid_request", "name");
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/shops", owner.token, "{s:s, s:s, s:s, s:i}", "name", "X",
                      "address", "Y", "city", "Z", "slot_step_minutes", 7);
    assert_error(r, 400, "invalid_request", "slot_step_minutes");
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/shops", owner.token, "{s:s, s:s, s:s, s:s}", "name", "X",
                      "address", "Y", "city", "Z", "phone", "llamame");
    assert_error(r, 400, "invalid_request", "phone");
    bpt_response_free(r);

    r = bpt_http_pack("POST", "/api/shops", client.token, "{s:s, s:s, s:s}", "name", "X", "address",
                      "Y", "city", "Z");
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/shops", NULL, "{s:s, s:s, s:s}", "name", "X", "address", "Y",
                      "city", "Z");
    assert_error(r, 401, "unauthorized", NULL);
    bpt_response_free(r);
}

Test(shops, get_update_and_bad_ids, .timeout = 60)
{
    bpt_user owner, other;
    char shop[64], path[128];
    sign_up("owner", &owner);
    sign_up("owner", &other);
    new_shop(&owner, "Rosario", shop);

    snprintf(path, sizeof path, "/api/shops/%s", shop);
    bpt_response *r = bpt_http_json("GET", path, NULL, NULL);
    expect_status(r, 200);
    cr_expect_str_eq(bpt_json_str(r->json, "shop.city"), "Rosario");
    bpt_response_free(r);

    r = bpt_http_json("GET", "/api/shops/not-a-uuid", NULL, NULL);
    assert_error(r, 400, "invalid_request", "shop_id");
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/shops/00000000-0000-4000-8000-000000000000", NULL, NULL);
    assert_error(r, 404, "not_found", NULL);
    bpt_response_free(r);

    r = bpt_http_pack("PATCH", path, owner.token, "{s:s, s:i}", "name", "La Esquina de Rosario",
                      "slot_step_minutes", 30);
    expect_status(r, 200);
    cr_expect_str_eq(bpt_json_str(r->json, "shop.name"), "La Esquina de Rosario");
    cr_expect_eq(int_at(r->json, "shop.slot_step_minutes"), 30);
    cr_expect_str_eq(bpt_json_str(r->json, "shop.address"), "Av. Corrientes 1234");
    bpt_response_free(r);

    r = bpt_http_pack("PATCH", path, other.token, "{s:s}", "name", "Mía");
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", path, owner.token, "{s:s}", "timezone", "Nowhere/Land");
    assert_error(r, 400, "invalid_request", "timezone");
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", path, owner.token, "{s:i}", "cancellation_hours", 721);
    assert_error(r, 400, "invalid_request", "cancellation_hours");
    bpt_response_free(r);
}

Test(shops, public_list_by_city_in_pages, .timeout = 60)
{
    bpt_user owner;
    char city[160], lower[160], ids[3][64], path[512];
    sign_up("owner", &owner);
    unique_city(city, sizeof city);
    for (int i = 0; i < 3; i++)
        new_shop(&owner, city, ids[i]);
    /* A case-insensitive prefix: "ciudad%20bpt-..." without the last two
     * characters ("Ciudad " is 7 bytes; the space goes encoded). */
    const char *rest = city + 7;
    size_t n = strlen(rest) - 2;
    memcpy(lower, "ciudad%20", 9);
    for (size_t i = 0; i < n && 9 + i + 1 < sizeof lower; i++)
        lower[9 + i] = rest[i];
    lower[9 + n] = '\0';

    snprintf(path, sizeof path, "/api/shops?city=%s&limit=2", lower);
    bpt_response *r = bpt_http_json("GET", path, NULL, NULL);
    expect_status(r, 200);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 2, "page 1: %s", r->body);
    cr_expect_str_eq(bpt_json_str(json_array_get(items, 0), "id"), ids[0]);
    cr_expect_str_eq(bpt_json_str(json_array_get(items, 1), "id"), ids[1]);
    const char *cursor = bpt_json_str(r->json, "next_cursor");
    cr_assert_not_null(cursor, "no next_cursor: %s", r->body);
    snprintf(path, sizeof path, "/api/shops?city=%s&limit=2&cursor=%s", lower, cursor);
    bpt_response_free(r);

    r = bpt_http_json("GET", path, NULL, NULL);
    expect_status(r, 200);
    items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 1, "page 2: %s", r->body);
    cr_expect_str_eq(bpt_json_str(json_array_get(items, 0), "id"), ids[2]);
    cr_expect(json_is_null(json_object_get(r->json, "next_cursor")), "last page has a cursor");
    bpt_response_free(r);

    r = bpt_http_json("GET", "/api/shops?limit=0", NULL, NULL);
    assert_error(r, 400, "invalid_request", "limit");
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/shops?limit=101", NULL, NULL);
    assert_error(r, 400, "invalid_request", "limit");
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/shops?cursor=garbage", NULL, NULL);
    assert_error(r, 400, "invalid_request", "cursor");
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/shops", NULL, NULL);
    expect_status(r, 200);
    cr_expect(json_array_size(json_object_get(r->json, "items")) >= 1);
    bpt_response_free(r);
}

/* ---- services and prices -------------------------------------------------------- */

Test(services, create_validates_and_shows_money, .timeout = 60)
{
    bpt_user owner, other;
    char shop[64], path[128];
    sign_up("owner", &owner);
    sign_up("owner", &other);
    new_shop(&owner, "Córdoba", shop);
    snprintf(path, sizeof path, "/api/shops/%s/services", shop);

    bpt_response *r = bpt_http_pack("POST", path, owner.token, "{s:s, s:i, s:I, s:i}", "name",
                                    "Corte clásico", "duration_minutes", 30, "price_cents",
                                    (json_int_t)1500000, "deposit_percent", 20);
    expect_status(r, 201);
    cr_expect_eq(int_at(r->json, "service.price_cents"), 1500000);
    cr_expect_str_eq(bpt_json_str(r->json, "service.price_display"), "$ 15.000,00");
    cr_expect_eq(int_at(r->json, "service.deposit_cents"), 300000);
    cr_expect_str_eq(bpt_json_str(r->json, "service.deposit_display"), "$ 3.000,00");
    cr_expect_str_eq(bpt_json_str(r->json, "service.currency"), "ARS");
    cr_expect_eq(int_at(r->json, "service.buffer_minutes"), 0);
    cr_expect(json_is_true(bpt_json_at(r->json, "service.active")));
    bpt_response_free(r);

    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:i, s:I}", "name", "Gratis negativo",
                      "duration_minutes", 30, "price_cents", (json_int_t)-1);
    assert_error(r, 400, "invalid_request", "price_cents");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:i, s:I}", "name", "Nada",
                      "duration_minutes", 0, "price_cents", (json_int_t)1000);
    assert_error(r, 400, "invalid_request", "duration_minutes");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:i, s:I}", "name", "Eterno",
                      "duration_minutes", -30, "price_cents", (json_int_t)1000);
    assert_error(r, 400, "invalid_request", "duration_minutes");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:i, s:I, s:i}", "name", "Seña rara",
                      "duration_minutes", 30, "price_cents", (json_int_t)1000, "deposit_percent",
                      101);
    assert_error(r, 400, "invalid_request", "deposit_percent");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:i, s:I}", "duration_minutes", 30,
                      "price_cents", (json_int_t)1000);
    assert_error(r, 400, "invalid_request", "name");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, other.token, "{s:s, s:i, s:I}", "name", "Ajeno",
                      "duration_minutes", 30, "price_cents", (json_int_t)1000);
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);

    r = bpt_http_json("GET", "/api/shops/00000000-0000-4000-8000-000000000000/services", NULL,
                      NULL);
    assert_error(r, 404, "not_found", NULL);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/shops/123/services", NULL, NULL);
    assert_error(r, 400, "invalid_request", "shop_id");
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", "/api/services/nope", owner.token, "{s:s}", "name", "x");
    assert_error(r, 400, "invalid_request", "service_id");
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", "/api/services/00000000-0000-4000-8000-000000000000", owner.token,
                      "{s:s}", "name", "x");
    assert_error(r, 404, "not_found", NULL);
    bpt_response_free(r);
}

Test(services, cached_list_shows_changes_at_once, .timeout = 60)
{
    bpt_user owner;
    char shop[64], svc[64], gone[64], list[128], one[128];
    sign_up("owner", &owner);
    new_shop(&owner, "Mendoza", shop);
    new_service(&owner, shop, "Corte", 1500000, 0, svc);
    new_service(&owner, shop, "Barba", 800000, 0, gone);
    snprintf(list, sizeof list, "/api/shops/%s/services", shop);

    /* twice: the second answer comes from the cache */
    for (int i = 0; i < 2; i++) {
        bpt_response *r = bpt_http_json("GET", list, NULL, NULL);
        expect_status(r, 200);
        json_t *items = json_object_get(r->json, "items");
        cr_assert_eq(json_array_size(items), 2, "%s", r->body);
        cr_expect_eq(int_at(find_item(items, svc), "price_cents"), 1500000);
        bpt_response_free(r);
    }

    snprintf(one, sizeof one, "/api/services/%s", svc);
    bpt_response *r =
        bpt_http_pack("PATCH", one, owner.token, "{s:I}", "price_cents", (json_int_t)1800000);
    expect_status(r, 200);
    cr_expect_str_eq(bpt_json_str(r->json, "service.price_display"), "$ 18.000,00");
    bpt_response_free(r);
    snprintf(one, sizeof one, "/api/services/%s", gone);
    r = bpt_http_pack("PATCH", one, owner.token, "{s:b}", "active", 0);
    expect_status(r, 200);
    cr_expect(json_is_false(bpt_json_at(r->json, "service.active")));
    bpt_response_free(r);

    r = bpt_http_json("GET", list, NULL, NULL);
    expect_status(r, 200);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 1, "the inactive one is still listed: %s", r->body);
    cr_expect_eq(int_at(find_item(items, svc), "price_cents"), 1800000, "stale cache: %s", r->body);
    bpt_response_free(r);
}

Test(prices, history_raise_and_dated_prices, .timeout = 60)
{
    bpt_user owner, other;
    char shop[64], svc[64], cheap[64], path[160], today[11], later[11], yesterday[11];
    sign_up("owner", &owner);
    sign_up("owner", &other);
    new_shop(&owner, "La Plata", shop);
    new_service(&owner, shop, "Corte clásico", 1500000, 20, svc);
    new_service(&owner, shop, "Lavado", 333, 0, cheap);
    ba_date(0, today);
    ba_date(30, later);
    ba_date(-1, yesterday);

    snprintf(path, sizeof path, "/api/shops/%s/prices/raise", shop);
    bpt_response *r = bpt_http_pack("POST", path, owner.token, "{s:f}", "percent", 10.0);
    expect_status(r, 200);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 2, "%s", r->body);
    json_t *it = find_item(items, svc);
    cr_expect_eq(int_at(it, "price_cents"), 1650000);
    cr_expect_str_eq(bpt_json_str(it, "price_display"), "$ 16.500,00");
    cr_expect_eq(int_at(it, "deposit_cents"), 330000);
    /* 333 * 1.1 = 366.3: rounded to whole centavos */
    cr_expect_eq(int_at(find_item(items, cheap), "price_cents"), 366);
    bpt_response_free(r);

    r = bpt_http_pack("POST", path, owner.token, "{s:f}", "percent", 12.345);
    assert_error(r, 400, "invalid_request", "percent");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:f}", "percent", -95.0);
    assert_error(r, 400, "invalid_request", "percent");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{}");
    assert_error(r, 400, "invalid_request", "percent");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:f, s:s}", "percent", 5.0, "effective_from",
                      yesterday);
    assert_error(r, 400, "invalid_request", "effective_from");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, other.token, "{s:f}", "percent", 10.0);
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);

    /* A price dated a month ahead leaves today's alone. */
    snprintf(path, sizeof path, "/api/services/%s", svc);
    r = bpt_http_pack("PATCH", path, owner.token, "{s:I, s:s}", "price_cents", (json_int_t)2000000,
                      "effective_from", later);
    expect_status(r, 200);
    cr_expect_eq(int_at(r->json, "service.price_cents"), 1650000, "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", path, owner.token, "{s:s}", "effective_from", later);
    assert_error(r, 400, "invalid_request", "effective_from");
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", path, owner.token, "{s:I, s:s}", "price_cents", (json_int_t)1,
                      "effective_from", "2026-02-30");
    assert_error(r, 400, "invalid_request", "effective_from");
    bpt_response_free(r);

    snprintf(path, sizeof path, "/api/shops/%s/services", shop);
    r = bpt_http_json("GET", path, NULL, NULL);
    expect_status(r, 200);
    cr_expect_eq(int_at(find_item(json_object_get(r->json, "items"), svc), "price_cents"), 1650000);
    bpt_response_free(r);

    /* The history, newest first: the dated price, then today's. */
    snprintf(path, sizeof path, "/api/services/%s/prices", svc);
    r = bpt_http_json("GET", path, NULL, NULL);
    expect_status(r, 200);
    items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 2, "%s", r->body);
    cr_expect_str_eq(bpt_json_str(json_array_get(items, 0), "effective_from"), later);
    cr_expect_eq(int_at(json_array_get(items, 0), "price_cents"), 2000000);
    cr_expect_str_eq(bpt_json_str(json_array_get(items, 0), "price_display"), "$ 20.000,00");
    cr_expect_str_eq(bpt_json_str(json_array_get(items, 1), "effective_from"), today);
    cr_expect_eq(int_at(json_array_get(items, 1), "price_cents"), 1650000);
    cr_expect_str_eq(bpt_json_str(r->json, "service_id"), svc);
    bpt_response_free(r);

    r = bpt_http_json("GET", "/api/services/00000000-0000-4000-8000-000000000000/prices", NULL,
                      NULL);
    assert_error(r, 404, "not_found", NULL);
    bpt_response_free(r);
}

/* ---- providers, schedules, time off --------------------------------------------- */

static bpt_response *put_week(const char *provider, const char *token, json_t *weekly)
{
    char path[128];
    snprintf(path, sizeof path, "/api/providers/%s/schedule", provider);
    json_t *body = json_pack("{s:o}", "weekly", weekly);
    bpt_response *r = bpt_http_json("PUT", path, token, body);
    json_decref(body);
    return r;
}

Test(providers, linked_account_manages_its_own_schedule, .timeout = 90)
{
    bpt_user owner, other, barber, stranger;
    char shop[64], other_shop[64], svc[64], foreign[64], path[160], provider[64], upper[128];
    sign_up("owner", &owner);
    sign_up("owner", &other);
    cr_assert_eq(bpt_user_new(&barber), 0);
    cr_assert_eq(bpt_user_new(&stranger), 0);
    new_shop(&owner, "Mar del Plata", shop);
    new_shop(&other, "Mar del Plata", other_shop);
    new_service(&owner, shop, "Corte", 1500000, 0, svc);
    new_service(&other, other_shop, "Corte ajeno", 1500000, 0, foreign);
    snprintf(path, sizeof path, "/api/shops/%s/providers", shop);

    /* The email in another case still finds the account. */
    size_t i = 0;
    for (; barber.email[i] != '\0' && i + 1 < sizeof upper; i++)
        upper[i] =
            (char)(barber.email[i] >= 'a' && barber.email[i] <= 'z' ? barber.email[i] - 'a' + 'A'
                                                                    : barber.email[i]);
    upper[i] = '\0';
    bpt_response *r = bpt_http_pack("POST", path, owner.token, "{s:s, s:s, s:[s]}", "name",
                                    "Martín Gómez", "email", upper, "service_ids", svc);
    expect_status(r, 201);
    snprintf(provider, sizeof provider, "%s", bpt_json_str(r->json, "provider.id"));
    cr_expect_str_eq(bpt_json_str(r->json, "provider.user_id"), barber.id, "not linked: %s",
                     r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "provider.email"), barber.email);
    cr_expect_eq(json_array_size(bpt_json_at(r->json, "provider.service_ids")), 1);
    bpt_response_free(r);

    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:s, s:[]}", "name", "Sin cuenta", "email",
                      "nadie-registrado@example.com", "service_ids");
    expect_status(r, 201);
    cr_expect(json_is_null(bpt_json_at(r->json, "provider.user_id")), "linked to nobody: %s",
              r->body);
    bpt_response_free(r);

    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:[s]}", "name", "Ajeno", "service_ids",
                      foreign);
    assert_error(r, 400, "invalid_request", "service_ids");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:[s]}", "name", "Roto", "service_ids",
                      "not-a-uuid");
    assert_error(r, 400, "invalid_request", "service_ids");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:s}", "name", "Mal mail", "email",
                      "no-es-un-email");
    assert_error(r, 400, "invalid_request", "email");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:s}", "name", "Dos veces", "email",
                      barber.email);
    assert_error(r, 409, "provider_exists", "email");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, other.token, "{s:s}", "name", "Intruso");
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);

    /* Public reads, without a token: no email or phone. */
    r = bpt_http_json("GET", path, NULL, NULL);
    expect_status(r, 200);
    json_t *mine = find_item(json_object_get(r->json, "items"), provider);
    cr_assert_not_null(mine, "%s", r->body);
    cr_expect(json_is_null(json_object_get(mine, "email")));
    bpt_response_free(r);
    char filtered[256];
    snprintf(filtered, sizeof filtered, "%s?service_id=%s", path, svc);
    r = bpt_http_json("GET", filtered, NULL, NULL);
    expect_status(r, 200);
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body);
    bpt_response_free(r);
    snprintf(filtered, sizeof filtered, "%s?service_id=zzz", path);
    r = bpt_http_json("GET", filtered, NULL, NULL);
    assert_error(r, 400, "invalid_request", "service_id");
    bpt_response_free(r);

    char one[128];
    snprintf(one, sizeof one, "/api/providers/%s", provider);
    r = bpt_http_json("GET", one, NULL, NULL);
    expect_status(r, 200);
    cr_expect_str_eq(bpt_json_str(r->json, "provider.name"), "Martín Gómez");
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/providers/xyz", NULL, NULL);
    assert_error(r, 400, "invalid_request", "provider_id");
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/providers/00000000-0000-4000-8000-000000000000", NULL, NULL);
    assert_error(r, 404, "not_found", NULL);
    bpt_response_free(r);

    /* The default week. */
    snprintf(one, sizeof one, "/api/providers/%s/schedule", provider);
    r = bpt_http_json("GET", one, NULL, NULL);
    expect_status(r, 200);
    json_t *weekly = bpt_json_at(r->json, "schedule.weekly");
    cr_assert_eq(json_array_size(weekly), 6, "%s", r->body);
    cr_expect_eq(int_at(json_array_get(weekly, 0), "weekday"), 1);
    cr_expect_str_eq(bpt_json_str(json_array_get(weekly, 0), "start"), "09:00");
    cr_expect_str_eq(bpt_json_str(json_array_get(weekly, 0), "end"), "18:00");
    cr_expect_eq(int_at(json_array_get(weekly, 5), "weekday"), 6);
    cr_expect_str_eq(bpt_json_str(json_array_get(weekly, 5), "end"), "13:00");
    cr_expect_str_eq(bpt_json_str(r->json, "schedule.timezone"), "America/Argentina/Buenos_Aires");
    bpt_response_free(r);

    /* The barber's own account changes it; a stranger and another owner
     * may not. */
    r = put_week(provider, barber.token,
                 json_pack("[{s:i, s:s, s:s}, {s:i, s:s, s:s}]", "weekday", 2, "start", "10:00",
                           "end", "13:00", "weekday", 2, "start", "14:00", "end", "20:00"));
    expect_status(r, 200);
    cr_expect_eq(json_array_size(bpt_json_at(r->json, "schedule.weekly")), 2, "%s", r->body);
    bpt_response_free(r);
    r = put_week(provider, stranger.token,
                 json_pack("[{s:i, s:s, s:s}]", "weekday", 1, "start", "09:00", "end", "10:00"));
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);
    r = put_week(provider, other.token,
                 json_pack("[{s:i, s:s, s:s}]", "weekday", 1, "start", "09:00", "end", "10:00"));
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);
    r = put_week(provider, owner.token,
                 json_pack("[{s:i, s:s, s:s}, {s:i, s:s, s:s}]", "weekday", 3, "start", "09:00",
                           "end", "13:00", "weekday", 3, "start", "12:00", "end", "18:00"));
    assert_error(r, 400, "invalid_request", "weekly.1.start");
    bpt_response_free(r);
    r = put_week(provider, owner.token,
                 json_pack("[{s:i, s:s, s:s}]", "weekday", 9, "start", "09:00", "end", "13:00"));
    assert_error(r, 400, "invalid_request", "weekly.0.weekday");
    bpt_response_free(r);
    r = put_week(provider, owner.token,
                 json_pack("[{s:i, s:s, s:s}]", "weekday", 1, "start", "18:00", "end", "09:00"));
    assert_error(r, 400, "invalid_request", "weekly.0.end");
    bpt_response_free(r);

    /* The public read shows the change at once (the cache was dropped). */
    r = bpt_http_json("GET", one, NULL, NULL);
    expect_status(r, 200);
    weekly = bpt_json_at(r->json, "schedule.weekly");
    cr_assert_eq(json_array_size(weekly), 2, "stale schedule: %s", r->body);
    cr_expect_str_eq(bpt_json_str(json_array_get(weekly, 1), "start"), "14:00");
    bpt_response_free(r);

    /* An empty week: no bookings at all. */
    r = put_week(provider, owner.token, json_array());
    expect_status(r, 200);
    cr_expect_eq(json_array_size(bpt_json_at(r->json, "schedule.weekly")), 0);
    bpt_response_free(r);

    /* The owner deactivates the barber: gone from the public list. */
    snprintf(one, sizeof one, "/api/providers/%s", provider);
    r = bpt_http_pack("PATCH", one, owner.token, "{s:b, s:s}", "active", 0, "phone",
                      "+54 9 11 5555-1234");
    expect_status(r, 200);
    cr_expect_str_eq(bpt_json_str(r->json, "provider.phone"), "+5491155551234");
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", one, other.token, "{s:s}", "name", "Robado");
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);
    r = bpt_http_json("GET", path, NULL, NULL);
    expect_status(r, 200);
    cr_expect_null(find_item(json_object_get(r->json, "items"), provider), "still listed: %s",
                   r->body);
    bpt_response_free(r);
}

Test(time_off, create_list_delete, .timeout = 60)
{
    bpt_user owner, stranger;
    char shop[64], path[160], provider[64], item[64];
    sign_up("owner", &owner);
    cr_assert_eq(bpt_user_new(&stranger), 0);
    new_shop(&owner, "Salta", shop);
    snprintf(path, sizeof path, "/api/shops/%s/providers", shop);
    bpt_response *r = bpt_http_pack("POST", path, owner.token, "{s:s}", "name", "Lucas");
    expect_status(r, 201);
    snprintf(provider, sizeof provider, "%s", bpt_json_str(r->json, "provider.id"));
    bpt_response_free(r);

    snprintf(path, sizeof path, "/api/providers/%s/time-off", provider);
    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:s, s:s}", "starts_at",
                      "2099-07-01T09:00:00-03:00", "ends_at", "2099-07-15T18:00:00-03:00", "reason",
                      "Vacaciones de invierno");
    expect_status(r, 201);
    snprintf(item, sizeof item, "%s", bpt_json_str(r->json, "time_off.id"));
    cr_expect_str_eq(bpt_json_str(r->json, "time_off.starts_at"), "2099-07-01T09:00:00-03:00");
    cr_expect_str_eq(bpt_json_str(r->json, "time_off.reason"), "Vacaciones de invierno");
    bpt_response_free(r);

    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:s}", "starts_at",
                      "2099-07-15T18:00:00-03:00", "ends_at", "2099-07-01T09:00:00-03:00");
    assert_error(r, 400, "invalid_request", "ends_at");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:s}", "starts_at", "2099-07-01T09:00:00",
                      "ends_at", "2099-07-15T18:00:00-03:00");
    assert_error(r, 400, "invalid_request", "starts_at");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, owner.token, "{s:s, s:s}", "starts_at", "2099-01-01T00:00:00Z",
                      "ends_at", "2100-06-01T00:00:00Z");
    assert_error(r, 400, "invalid_request", "ends_at");
    bpt_response_free(r);
    r = bpt_http_pack("POST", path, stranger.token, "{s:s, s:s}", "starts_at",
                      "2099-07-01T09:00:00-03:00", "ends_at", "2099-07-02T09:00:00-03:00");
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);

    char list[256];
    snprintf(list, sizeof list, "%s?from=2099-06-01T00:00:00-03:00&to=2099-08-01T00:00:00-03:00",
             path);
    r = bpt_http_json("GET", list, owner.token, NULL);
    expect_status(r, 200);
    cr_expect_not_null(find_item(json_object_get(r->json, "items"), item), "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", path, stranger.token, NULL);
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);

    char del[256];
    snprintf(del, sizeof del, "%s/%s", path, item);
    r = bpt_http_json("DELETE", del, owner.token, NULL);
    expect_status(r, 204);
    bpt_response_free(r);
    r = bpt_http_json("DELETE", del, owner.token, NULL);
    assert_error(r, 404, "not_found", NULL);
    bpt_response_free(r);
    snprintf(del, sizeof del, "%s/not-an-id", path);
    r = bpt_http_json("DELETE", del, owner.token, NULL);
    assert_error(r, 400, "invalid_request", "time_off_id");
    bpt_response_free(r);
}

/* ---- holidays, open days, exchange rate ----------------------------------------- */

Test(holidays, list_add_and_permissions, .timeout = 60)
{
    bpt_user admin, owner;
    admin_login(&admin);
    sign_up("owner", &owner);

    bpt_response *r = bpt_http_json("GET", "/api/holidays?year=2026", NULL, NULL);
    expect_status(r, 200);
    cr_expect_eq(int_at(r->json, "year"), 2026);
    json_t *items = json_object_get(r->json, "items");
    bool memoria = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (strcmp(bpt_json_str(it, "date"), "2026-03-24") == 0) {
            memoria = true;
            cr_expect_str_eq(bpt_json_str(it, "kind"), "inamovible");
        }
    }
    cr_expect(memoria, "2026-03-24 missing: %s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/holidays", NULL, NULL);
    expect_status(r, 200);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/holidays?year=1999", NULL, NULL);
    assert_error(r, 400, "invalid_request", "year");
    bpt_response_free(r);

    /* A day of 2099 that no other run of this suite has used. */
    char date[11];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t t = (time_t)4070908800 + (time_t)((ts.tv_nsec / 1000 + getpid()) % 300) * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);

    r = bpt_http_pack("POST", "/api/holidays", owner.token, "{s:s, s:s, s:s}", "date", date, "name",
                      "Feriado inventado", "kind", "puente");
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/holidays", admin.token, "{s:s, s:s, s:s}", "date", date, "name",
                      "Feriado", "kind", "feriadazo");
    assert_error(r, 400, "invalid_request", "kind");
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/holidays", admin.token, "{s:s, s:s, s:s}", "date", "2099-13-01",
                      "name", "Feriado", "kind", "puente");
    assert_error(r, 400, "invalid_request", "date");
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/holidays", admin.token, "{s:s, s:s, s:s, s:s}", "date", date,
                      "name", "Día no laborable con fines turísticos", "kind", "puente", "source",
                      "Decreto 1/2099");
    expect_status(r, 201);
    cr_expect_str_eq(bpt_json_str(r->json, "holiday.date"), date);
    cr_expect_str_eq(bpt_json_str(r->json, "holiday.source"), "Decreto 1/2099");
    bpt_response_free(r);
    r = bpt_http_pack("POST", "/api/holidays", admin.token, "{s:s, s:s, s:s}", "date", date, "name",
                      "Otra vez", "kind", "puente");
    assert_error(r, 409, "holiday_exists", "date");
    bpt_response_free(r);

    r = bpt_http_json("GET", "/api/holidays?year=2099", NULL, NULL);
    expect_status(r, 200);
    bool found = false;
    json_array_foreach(json_object_get(r->json, "items"), i, it)
    {
        if (strcmp(bpt_json_str(it, "date"), date) == 0)
            found = true;
    }
    cr_expect(found, "the new holiday is not listed: %s", r->body);
    bpt_response_free(r);
}

Test(open_days, owner_opens_a_holiday, .timeout = 60)
{
    bpt_user owner, other;
    char shop[64], path[160];
    sign_up("owner", &owner);
    sign_up("owner", &other);
    new_shop(&owner, "Tucumán", shop);

    snprintf(path, sizeof path, "/api/shops/%s/open-days/2026-03-24", shop);
    bpt_response *r = bpt_http_json("PUT", path, owner.token, NULL);
    expect_status(r, 200);
    cr_expect(json_is_true(json_object_get(r->json, "open")), "%s", r->body);
    cr_expect_str_eq(bpt_json_str(r->json, "date"), "2026-03-24");
    cr_expect_not_null(bpt_json_str(r->json, "holiday"), "no holiday name: %s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("DELETE", path, owner.token, NULL);
    expect_status(r, 200);
    cr_expect(json_is_false(json_object_get(r->json, "open")), "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_json("PUT", path, other.token, NULL);
    assert_error(r, 403, "forbidden", NULL);
    bpt_response_free(r);

    snprintf(path, sizeof path, "/api/shops/%s/open-days/2026-02-31", shop);
    r = bpt_http_json("PUT", path, owner.token, NULL);
    assert_error(r, 400, "invalid_request", "date");
    bpt_response_free(r);
    r = bpt_http_json("PUT", "/api/shops/00000000-0000-4000-8000-000000000000/open-days/2026-03-24",
                      owner.token, NULL);
    assert_error(r, 404, "not_found", NULL);
    bpt_response_free(r);
}

Test(exchange_rate, answers_the_rate, .timeout = 60)
{
    bpt_response *r = bpt_http_json("GET", "/api/exchange-rate", NULL, NULL);
    cr_assert_not_null(r);
    if (getenv("EXCHANGE_RATE_URL") == NULL && r->status == 503) {
        /* No source and never a rate: the one honest answer. */
        assert_error(r, 503, "unavailable", NULL);
        bpt_response_free(r);
        return;
    }
    expect_status(r, 200);
    cr_expect_str_eq(bpt_json_str(r->json, "pair"), "USD:ARS");
    json_t *rate = json_object_get(r->json, "rate");
    cr_expect(json_is_number(rate) && json_number_value(rate) > 0, "rate: %s", r->body);
    cr_expect_not_null(bpt_json_str(r->json, "fetched_at"));
    cr_expect(json_is_boolean(json_object_get(r->json, "stale")));
    cr_expect(json_is_integer(json_object_get(r->json, "age_seconds")));
    bpt_response_free(r);
}

Test(providers, patch_email_links_and_unlinks, .timeout = 60)
{
    bpt_user owner, barber;
    char shop[64], path[160], provider[64];
    sign_up("owner", &owner);
    cr_assert_eq(bpt_user_new(&barber), 0);
    new_shop(&owner, "Neuquén", shop);
    snprintf(path, sizeof path, "/api/shops/%s/providers", shop);
    bpt_response *r = bpt_http_pack("POST", path, owner.token, "{s:s}", "name", "Sofía");
    expect_status(r, 201);
    snprintf(provider, sizeof provider, "%s", bpt_json_str(r->json, "provider.id"));
    cr_expect(json_is_null(bpt_json_at(r->json, "provider.user_id")));
    bpt_response_free(r);

    snprintf(path, sizeof path, "/api/providers/%s", provider);
    r = bpt_http_pack("PATCH", path, owner.token, "{s:s}", "email", barber.email);
    expect_status(r, 200);
    cr_expect_str_eq(bpt_json_str(r->json, "provider.user_id"), barber.id, "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", path, owner.token, "{s:s}", "email", "");
    expect_status(r, 200);
    cr_expect(json_is_null(bpt_json_at(r->json, "provider.user_id")), "%s", r->body);
    cr_expect(json_is_null(bpt_json_at(r->json, "provider.email")), "%s", r->body);
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", path, owner.token, "{s:[s]}", "service_ids",
                      "00000000-0000-4000-8000-000000000000");
    assert_error(r, 400, "invalid_request", "service_ids");
    bpt_response_free(r);
}
