/* Unit tests for raw HTTP routes (webhooks): the HttpRequest a daemon
 * receives holds what the sender sent (query names such as "data.id",
 * repeats, lower-case header names, the body's exact bytes), and an
 * HttpReply becomes the answer's bytes and content type. */
#include <criterion/criterion.h>

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "common.pb-c.h"
#include "http.h"
#include "../../gateway/gw_raw.h"
#include "../../gateway/gw_respond.h"
#include "../../gateway/gw_routes.h"
#include "../../gateway/gw_url.h"

static Bp__Common__HttpRequest *pack_and_unpack(const gw_raw_request *in)
{
    uint8_t *packed = NULL;
    size_t len = 0;
    cr_assert_eq(gw_raw_request_pack(in, &packed, &len), 0);
    Bp__Common__HttpRequest *got = bp__common__http_request__unpack(NULL, len, packed);
    free(packed);
    cr_assert_not_null(got, "the packed HttpRequest does not decode");
    return got;
}

static void expect_fields(Bp__Common__HttpField **got, size_t n_got, const char *const want[][2],
                          size_t n_want, const char *what)
{
    cr_assert_eq(n_got, n_want, "%s: %zu fields, want %zu", what, n_got, n_want);
    for (size_t i = 0; i < n_want; i++) {
        cr_expect_str_eq(got[i]->name, want[i][0], "%s %zu", what, i);
        cr_expect_str_eq(got[i]->value, want[i][1], "%s %zu (%s)", what, i, want[i][0]);
    }
}

Test(gateway_raw, the_request_as_it_came)
{
    /* A MercadoPago notification, signed over data.id and x-request-id. */
    static const char target[] =
        "/hooks/mercado%2Dpago/payment?data.id=123456&type=payment&tag=a&tag=b&q=caf%C3%A9+x&flag";
    static const char body[] = "{\"action\":\"payment.updated\",\"data\":{\"id\":\"123456\"},"
                               "\"note\":\"\xc3\xa9\xff\x01\t\\u0000\"}\r\n  ";
    static const gw_route table[] = {
        {"POST", "/hooks/{provider}/{event}", "payment", "Hook", GW_AUTH_PUBLIC, GW_RATE_NONE,
         NULL},
    };
    static const gw_raw_header headers[] = {
        {"Host", "api.barberpro.com.ar"},
        {"Content-Type", "application/json"},
        {"X-Signature",
         "ts=1742505638683,v1=ced36ab6d33566bb1e16c125819b8d840d6b8ef136b0b9127c76064466f5229b"},
        {"X-Request-ID", "bb56a2f1-6aae-46ac-982e-9dcd3581d08e"},
        {"x-dup", "one"},
        {"X-DUP", "two"},
        {"Weird_Name-9", "  spaced value  "},
    };
    static gw_match m;

    const char *q = strchr(target, '?');
    size_t path_len = (size_t)(q - target);
    cr_assert_eq(gw_route_match_in(table, 1, "POST", target, path_len, &m), GW_MATCH_OK);
    gw_query *query = NULL;
    cr_assert_eq(gw_query_parse(q + 1, strlen(q + 1), &query), 0);

    gw_raw_request in = {
        .method = "POST",
        .path = target,
        .path_len = path_len,
        .query = query,
        .headers = headers,
        .n_headers = BP_COUNTOF(headers),
        .params = m.params,
        .n_params = m.n_params,
        .body = (const uint8_t *)body,
        .body_len = sizeof body - 1,
    };
    Bp__Common__HttpRequest *got = pack_and_unpack(&in);

    cr_expect_str_eq(got->method, "POST");
    cr_expect_str_eq(got->path, "/hooks/mercado%2Dpago/payment", "raw, escapes intact");

    static const char *const want_query[][2] = {
        {"data.id", "123456"}, {"type", "payment"}, {"tag", "a"},
        {"tag", "b"},          {"q", "café x"},     {"flag", ""},
    };
    expect_fields(got->query, got->n_query, want_query, BP_COUNTOF(want_query), "query");

    static const char *const want_headers[][2] = {
        {"host", "api.barberpro.com.ar"},
        {"content-type", "application/json"},
        {"x-signature",
         "ts=1742505638683,v1=ced36ab6d33566bb1e16c125819b8d840d6b8ef136b0b9127c76064466f5229b"},
        {"x-request-id", "bb56a2f1-6aae-46ac-982e-9dcd3581d08e"},
        {"x-dup", "one"},
        {"x-dup", "two"},
        {"weird_name-9", "  spaced value  "},
    };
    expect_fields(got->headers, got->n_headers, want_headers, BP_COUNTOF(want_headers), "headers");

    static const char *const want_params[][2] = {{"provider", "mercado-pago"},
                                                 {"event", "payment"}};
    expect_fields(got->params, got->n_params, want_params, BP_COUNTOF(want_params), "params");

    cr_assert(got->has_body);
    cr_assert_eq(got->body.len, sizeof body - 1);
    cr_expect(memcmp(got->body.data, body, sizeof body - 1) == 0, "body bytes changed");

    bp__common__http_request__free_unpacked(got, NULL);
    free(query);
}

Test(gateway_raw, a_request_with_nothing_but_a_path)
{
    gw_raw_request in = {.method = "GET", .path = "/api/webhooks/whatsapp?x", .path_len = 22};
    Bp__Common__HttpRequest *got = pack_and_unpack(&in);
    cr_expect_str_eq(got->method, "GET");
    cr_expect_str_eq(got->path, "/api/webhooks/whatsapp");
    cr_expect_eq(got->n_query, 0);
    cr_expect_eq(got->n_headers, 0);
    cr_expect_eq(got->n_params, 0);
    cr_expect(!got->has_body, "no body: none sent");
    bp__common__http_request__free_unpacked(got, NULL);
}

Test(gateway_raw, a_request_over_the_bus_limit_is_refused)
{
    uint8_t *body = calloc(1, GW_RAW_MAX_PACKED);
    cr_assert_not_null(body);
    memset(body, 'x', GW_RAW_MAX_PACKED);
    gw_raw_request in = {
        .method = "POST", .path = "/x", .path_len = 2, .body = body, .body_len = GW_RAW_MAX_PACKED};
    uint8_t *packed = NULL;
    size_t len = 0;
    cr_expect_eq(gw_raw_request_pack(&in, &packed, &len), BP_ETOOBIG);
    cr_expect_null(packed);

    /* The gateway's own body limit is far below it. */
    in.body_len = GW_MAX_BODY;
    cr_expect_eq(gw_raw_request_pack(&in, &packed, &len), 0);
    cr_expect_gt(len, GW_MAX_BODY);
    free(packed);
    free(body);
}

/* ---- headers as libmicrohttpd holds them ------------------------------- */

/* Answers every request with its packed HttpRequest (headers only). */
static enum MHD_Result echo_packed(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *data,
                                   size_t *data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)data;
    if (*con_cls == NULL) {
        *con_cls = c; /* first call: headers only */
        return MHD_YES;
    }
    if (*data_size > 0) {
        *data_size = 0;
        return MHD_YES;
    }
    gw_raw_header headers[GW_MAX_HEADERS];
    size_t n = 0;
    uint8_t *packed = NULL;
    size_t len = 0;
    unsigned status = 200;
    if (gw_raw_headers(c, headers, BP_COUNTOF(headers), &n) != 0)
        status = 431;
    gw_raw_request in = {
        .method = method, .path = url, .path_len = strlen(url), .headers = headers, .n_headers = n};
    if (status == 200 && gw_raw_request_pack(&in, &packed, &len) != 0)
        status = 500;
    /* A small max must be refused, not overrun. */
    gw_raw_header two[2];
    if (status == 200 && n > 2 && gw_raw_headers(c, two, 2, &n) != BP_ETOOBIG)
        status = 500;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, packed != NULL ? (void *)packed : (void *)"",
        packed != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rv = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rv;
}

Test(gateway_raw, every_header_but_credentials_lower_cased_in_order)
{
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                            echo_packed, NULL, MHD_OPTION_END);
    cr_assert_not_null(d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    cr_assert_not_null(info);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/webhooks/whatsapp", (unsigned)info->port);

    static const char *const sent[] = {
        "X-Hub-Signature-256: sha256=0f3a",
        "Content-Type: application/json",
        "X-Dup: one",
        "Authorization: Bearer not-for-the-daemon",
        "Cookie: session=secret",
        "x-dup: two",
        NULL,
    };
    bp_http_request req = {.method = "POST",
                           .url = url,
                           .headers = sent,
                           .body = "{}",
                           .body_len = 2,
                           .timeout_ms = 5000,
                           .max_response_bytes = 64 * 1024};
    bp_http_response resp;
    memset(&resp, 0, sizeof resp);
    cr_assert_eq(bp_http_do(&req, &resp), 0);
    cr_assert_eq(resp.status, 200, "status %ld", resp.status);
    Bp__Common__HttpRequest *got =
        bp__common__http_request__unpack(NULL, resp.len, (const uint8_t *)resp.body);
    cr_assert_not_null(got);
    cr_expect_str_eq(got->method, "POST");
    cr_expect_str_eq(got->path, "/api/webhooks/whatsapp");

    /* libcurl adds Host and Content-Length (and maybe Accept); ours keep
     * their order, and every name is lower case. */
    const char *sig = NULL, *dup[2] = {NULL, NULL}, *host = NULL;
    size_t n_dup = 0;
    for (size_t i = 0; i < got->n_headers; i++) {
        const char *name = got->headers[i]->name;
        for (const char *c = name; *c != '\0'; c++)
            cr_expect(!(*c >= 'A' && *c <= 'Z'), "header name \"%s\" not lower case", name);
        if (strcmp(name, "x-hub-signature-256") == 0)
            sig = got->headers[i]->value;
        if (strcmp(name, "host") == 0)
            host = got->headers[i]->value;
        cr_expect(strcmp(name, "authorization") != 0 && strcmp(name, "cookie") != 0,
                  "credentials stay in the gateway");
        if (strcmp(name, "x-dup") == 0 && n_dup < 2)
            dup[n_dup++] = got->headers[i]->value;
    }
    cr_expect_str_eq(sig != NULL ? sig : "(none)", "sha256=0f3a");
    cr_expect_not_null(host);
    cr_assert_eq(n_dup, 2, "both X-Dup lines");
    cr_expect_str_eq(dup[0], "one");
    cr_expect_str_eq(dup[1], "two");

    bp__common__http_request__free_unpacked(got, NULL);
    bp_http_response_free(&resp);
    MHD_stop_daemon(d);
}

/* ---- replies ------------------------------------------------------------ */

static uint8_t *pack_reply(const char *content_type, const char *body, size_t body_len, size_t *len)
{
    Bp__Common__HttpReply r = BP__COMMON__HTTP_REPLY__INIT;
    r.content_type = (char *)content_type;
    if (body != NULL) {
        r.has_body = true;
        r.body.data = (uint8_t *)body;
        r.body.len = body_len;
    }
    *len = bp__common__http_reply__get_packed_size(&r);
    uint8_t *out = malloc(*len > 0 ? *len : 1);
    cr_assert_not_null(out);
    bp__common__http_reply__pack(&r, out);
    return out;
}

Test(gateway_raw, replies_become_bytes_and_a_content_type)
{
    static char long_type[GW_RAW_CONTENT_TYPE_MAX + 2];
    memset(long_type, 'a', sizeof long_type - 1);
    long_type[GW_RAW_CONTENT_TYPE_MAX + 1] = '\0';
    static char longest_type[GW_RAW_CONTENT_TYPE_MAX + 1];
    memset(longest_type, 'b', sizeof longest_type - 1);
    longest_type[GW_RAW_CONTENT_TYPE_MAX] = '\0';

    static const struct {
        const char *content_type; /* NULL: unset */
        const char *body;         /* NULL: unset */
        size_t body_len;
        int want_rv;
        const char *want_type;
    } cases[] = {
        {NULL, "{\"status\":\"received\"}", 21, 0, GW_JSON},
        {"", "{}", 2, 0, GW_JSON},
        {"text/plain; charset=utf-8", "1158201444", 10, 0, "text/plain; charset=utf-8"},
        {"application/octet-stream", "a\0b\xff", 4, 0, "application/octet-stream"},
        {"text/plain", NULL, 0, 0, "text/plain"},
        {NULL, NULL, 0, 0, GW_JSON},
        {longest_type, "x", 1, 0, longest_type},
        /* A content type that would smuggle a header, or is too long. */
        {"text/plain\r\nSet-Cookie: a=b", "x", 1, BP_EPROTO, NULL},
        {"text/plain\n", "x", 1, BP_EPROTO, NULL},
        {"text/pl\xc3\xa1in", "x", 1, BP_EPROTO, NULL},
        {long_type, "x", 1, BP_EPROTO, NULL},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        size_t len;
        uint8_t *packed = pack_reply(cases[i].content_type, cases[i].body, cases[i].body_len, &len);
        gw_raw_answer a;
        int rv = gw_raw_reply_decode(packed, len, &a);
        free(packed);
        cr_expect_eq(rv, cases[i].want_rv, "case %zu: %d", i, rv);
        if (rv != 0)
            continue;
        cr_expect_str_eq(a.content_type, cases[i].want_type, "case %zu", i);
        cr_expect_eq(a.body_len, cases[i].body_len, "case %zu", i);
        if (cases[i].body_len > 0)
            cr_expect(memcmp(a.body, cases[i].body, cases[i].body_len) == 0, "case %zu", i);
        else
            cr_expect_null(a.body, "case %zu", i);
        free(a.body);
    }
}

Test(gateway_raw, an_undecodable_reply_is_refused)
{
    gw_raw_answer a;
    /* Field 1 claims 255 bytes that are not there. */
    static const uint8_t truncated[] = {0x0a, 0xff, 't', 'e'};
    cr_expect_eq(gw_raw_reply_decode(truncated, sizeof truncated, &a), BP_EPROTO);
    cr_expect_null(a.body);
    cr_expect_eq(gw_raw_reply_decode(NULL, 0, &a), 0, "an empty reply is valid");
    cr_expect_str_eq(a.content_type, GW_JSON);
    cr_expect_eq(a.body_len, 0);
}

Test(gateway_raw, the_descriptors_decide)
{
    size_t n;
    const gw_route *r = gw_routes(&n);
    static gw_match m;

    cr_assert_eq(gw_routes_init(), 0);
    cr_assert_eq(gw_route_match("POST", "/api/webhooks/mercadopago", 25, &m), GW_MATCH_OK);
    cr_expect(gw_raw_input(gw_route_rpc(m.index)));
    cr_expect(gw_raw_output(gw_route_rpc(m.index)));
    cr_expect_eq(m.route->auth, GW_AUTH_PUBLIC);
    cr_expect_eq(m.route->rate, GW_RATE_NONE);

    cr_assert_eq(gw_route_match("POST", "/api/payments/checkout", 22, &m), GW_MATCH_OK);
    cr_expect(!gw_raw_input(gw_route_rpc(m.index)));
    cr_expect(!gw_raw_output(gw_route_rpc(m.index)));

    /* The gateway's own rows have no RPC. */
    for (size_t i = 0; i < n; i++)
        if (r[i].service == NULL)
            cr_expect(!gw_raw_input(gw_route_rpc(i)) && !gw_raw_output(gw_route_rpc(i)));
}
