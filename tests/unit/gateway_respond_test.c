/* Unit tests for the gateway's answers: the error body of API.md, the
 * headers every response carries (request id, security, CORS), which
 * client request ids and bearer tokens are accepted, and CORS_ORIGIN. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "../../gateway/gw_proxy.h"
#include "../../gateway/gw_respond.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    cr_assert_not_null(j, "not JSON: %s (%s)", text, jerr.text);
    return j;
}

Test(gateway_respond, error_body_shape)
{
    char *text = gw_error_body("slot_taken", "Ese horario ya está reservado.", "req-1", NULL);
    cr_assert_not_null(text);
    json_t *doc = parse(text);
    cr_expect_eq(json_object_size(doc), 1, "only \"error\" at the top: %s", text);
    json_t *err = json_object_get(doc, "error");
    cr_assert(json_is_object(err));
    cr_expect_eq(json_object_size(err), 3, "code, message, request_id and no field: %s", text);
    cr_expect_str_eq(json_string_value(json_object_get(err, "code")), "slot_taken");
    cr_expect_str_eq(json_string_value(json_object_get(err, "message")),
                     "Ese horario ya está reservado.");
    cr_expect_str_eq(json_string_value(json_object_get(err, "request_id")), "req-1");
    cr_expect_null(json_object_get(err, "field"));
    json_decref(doc);
    free(text);

    text = gw_error_body("invalid_request", "El email no es válido.", "r", "user.email");
    doc = parse(text);
    err = json_object_get(doc, "error");
    cr_expect_str_eq(json_string_value(json_object_get(err, "field")), "user.email");
    json_decref(doc);
    free(text);

    /* An empty field is left out, as is NULL. */
    text = gw_error_body("not_found", "No está.", "r", "");
    doc = parse(text);
    cr_expect_null(json_object_get(json_object_get(doc, "error"), "field"));
    json_decref(doc);
    free(text);

    /* Quotes and control characters in a message stay valid JSON. */
    text = gw_error_body("x", "dijo \"hola\"\n\tchau \\", "r", NULL);
    doc = parse(text);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(doc, "error"), "message")),
                     "dijo \"hola\"\n\tchau \\");
    json_decref(doc);
    free(text);
}

Test(gateway_respond, codes_and_spanish_messages_by_status)
{
    static const struct {
        int status;
        const char *code;
    } want[] = {
        {400, "invalid_request"},
        {401, "unauthorized"},
        {403, "forbidden"},
        {404, "not_found"},
        {405, "method_not_allowed"},
        {413, "payload_too_large"},
        {415, "unsupported_media_type"},
        {429, "rate_limited"},
        {502, "bad_gateway"},
        {503, "unavailable"},
        {504, "timeout"},
        {418, "invalid_request"}, /* another client error */
        {599, "internal"},        /* another server error */
    };
    for (size_t i = 0; i < BP_COUNTOF(want); i++) {
        cr_expect_str_eq(gw_error_code(want[i].status), want[i].code, "status %d", want[i].status);
        const char *m = gw_error_message(want[i].status);
        cr_expect(m != NULL && strlen(m) > 10, "status %d has a message", want[i].status);
    }
    cr_expect(strstr(gw_error_message(401), "Necesitás") != NULL, "voseo, es-AR");
    cr_expect(strstr(gw_error_message(413), "1 MiB") != NULL);
}

Test(gateway_respond, request_id_acceptance)
{
    char longest[GW_REQUEST_ID_MAX + 2];
    memset(longest, 'a', GW_REQUEST_ID_MAX);
    longest[GW_REQUEST_ID_MAX] = '\0';

    cr_expect(gw_request_id_valid("abc"));
    cr_expect(gw_request_id_valid("6679b20f-8849-4a75-ba7e-7c2e492ee35c"));
    cr_expect(gw_request_id_valid("web_app.42-A"));
    cr_expect(gw_request_id_valid(longest));
    longest[GW_REQUEST_ID_MAX] = 'a';
    longest[GW_REQUEST_ID_MAX + 1] = '\0';
    cr_expect(!gw_request_id_valid(longest), "129 characters");

    static const char *const bad[] = {
        "", "a b", "a/b", "a,b", "a\"b", "ñandú", "x\r\nSet-Cookie: y", "<script>", "a:b",
    };
    for (size_t i = 0; i < BP_COUNTOF(bad); i++)
        cr_expect(!gw_request_id_valid(bad[i]), "accepted \"%s\"", bad[i]);
    cr_expect(!gw_request_id_valid(NULL));
}

Test(gateway_respond, bearer_tokens)
{
    cr_expect_str_eq(gw_bearer_token("Bearer abc.def-ghi_jkl"), "abc.def-ghi_jkl");
    cr_expect_str_eq(gw_bearer_token("bearer abc"), "abc");
    cr_expect_str_eq(gw_bearer_token("BEARER  a+b/c="), "a+b/c=");
    cr_expect_null(gw_bearer_token("Basic dXNlcjpwYXNz"));
    cr_expect_null(gw_bearer_token("Bearer"));
    cr_expect_null(gw_bearer_token("Bearer "));
    cr_expect_null(gw_bearer_token("Bearerabc"));
    cr_expect_null(gw_bearer_token("Bearer abc def"));
    cr_expect_null(gw_bearer_token("Bearer abc\""));
    cr_expect_null(gw_bearer_token(NULL));

    char *huge = malloc(7 + 4097 + 1);
    memcpy(huge, "Bearer ", 7);
    memset(huge + 7, 'a', 4097);
    huge[7 + 4097] = '\0';
    cr_expect_null(gw_bearer_token(huge), "longer than 4096");
    huge[7 + 4096] = '\0';
    cr_expect_not_null(gw_bearer_token(huge));
    free(huge);
}

Test(gateway_respond, cors_origin_list)
{
    cr_assert_eq(gw_cors_configure(" http://localhost:5173 , https://app.barberpro.com.ar/,"), 0);
    cr_expect(gw_cors_allowed("http://localhost:5173"));
    cr_expect(gw_cors_allowed("https://app.barberpro.com.ar"));
    cr_expect(!gw_cors_allowed("https://app.barberpro.com.ar/"));
    cr_expect(!gw_cors_allowed("https://evil.example"));
    cr_expect(!gw_cors_allowed("http://localhost:5173.evil.example"));
    cr_expect(!gw_cors_allowed("null"));
    cr_expect(!gw_cors_allowed(NULL));

    cr_expect_eq(gw_cors_configure(""), 0);
    cr_expect(!gw_cors_allowed("http://localhost:5173"));

    static const char *const bad[] = {"*",           "localhost:5173", "https://a.com/path",
                                      "ftp://a.com", "https://",       "https://a b.com"};
    for (size_t i = 0; i < BP_COUNTOF(bad); i++)
        cr_expect_eq(gw_cors_configure(bad[i]), BP_EINVAL, "accepted \"%s\"", bad[i]);
}

static const char *header(struct MHD_Response *r, const char *name)
{
    return MHD_get_response_header(r, name);
}

Test(gateway_respond, every_response_carries_the_common_headers)
{
    cr_assert_eq(gw_cors_configure("https://app.barberpro.com.ar"), 0);
    gw_resp_meta meta = {.request_id = "req-42", .origin = "https://evil.example"};
    char *body = strdup("{}");
    struct MHD_Response *r = gw_response_new(body, 2, GW_JSON, &meta);
    cr_assert_not_null(r);
    cr_expect_str_eq(header(r, "X-Request-Id"), "req-42");
    cr_expect_str_eq(header(r, "X-Content-Type-Options"), "nosniff");
    cr_expect_str_eq(header(r, "X-Frame-Options"), "DENY");
    cr_expect_str_eq(header(r, "Strict-Transport-Security"), "max-age=31536000; includeSubDomains");
    cr_expect_str_eq(header(r, "Content-Type"), "application/json; charset=utf-8");
    cr_expect_str_eq(header(r, "Vary"), "Origin");
    cr_expect_null(header(r, "Access-Control-Allow-Origin"), "origin not allowed");
    cr_expect_null(header(r, "Allow"));
    cr_expect_null(header(r, "Connection"));
    MHD_destroy_response(r);

    /* No body: no Content-Type, the rest the same. */
    meta.origin = NULL;
    meta.close = true;
    r = gw_response_new(NULL, 0, NULL, &meta);
    cr_assert_not_null(r);
    cr_expect_null(header(r, "Content-Type"));
    cr_expect_str_eq(header(r, "X-Request-Id"), "req-42");
    cr_expect_str_eq(header(r, "Connection"), "close");
    MHD_destroy_response(r);
}

Test(gateway_respond, cors_headers_for_allowed_origins_only)
{
    cr_assert_eq(gw_cors_configure("https://app.barberpro.com.ar"), 0);
    gw_resp_meta meta = {.request_id = "r", .origin = "https://app.barberpro.com.ar"};
    struct MHD_Response *r = gw_response_new(strdup("{}"), 2, GW_JSON, &meta);
    cr_expect_str_eq(header(r, "Access-Control-Allow-Origin"), "https://app.barberpro.com.ar");
    cr_expect_str_eq(header(r, "Access-Control-Expose-Headers"), GW_CORS_EXPOSE_HEADERS);
    cr_expect_null(header(r, "Access-Control-Allow-Methods"), "only on a preflight");
    MHD_destroy_response(r);

    /* Preflight of a known path: its methods. */
    meta.preflight = true;
    meta.allow = "POST, OPTIONS";
    r = gw_response_new(NULL, 0, NULL, &meta);
    cr_expect_str_eq(header(r, "Access-Control-Allow-Origin"), "https://app.barberpro.com.ar");
    cr_expect_str_eq(header(r, "Access-Control-Allow-Methods"), "POST, OPTIONS");
    cr_expect_str_eq(header(r, "Access-Control-Allow-Headers"),
                     "Authorization, Content-Type, Idempotency-Key, X-Request-Id");
    cr_expect_str_eq(header(r, "Access-Control-Max-Age"), "600");
    cr_expect_str_eq(header(r, "Allow"), "POST, OPTIONS");
    cr_expect_str_eq(header(r, "X-Frame-Options"), "DENY");
    MHD_destroy_response(r);

    /* Preflight from an origin not in the list: no CORS grant at all. */
    meta.origin = "https://evil.example";
    meta.allow = NULL;
    r = gw_response_new(NULL, 0, NULL, &meta);
    cr_expect_null(header(r, "Access-Control-Allow-Origin"));
    cr_expect_null(header(r, "Access-Control-Allow-Methods"));
    cr_expect_str_eq(header(r, "Allow"), GW_CORS_ALL_METHODS);
    MHD_destroy_response(r);

    /* A 405 carries Allow. */
    gw_resp_meta not_allowed = {.request_id = "r", .allow = "GET, OPTIONS"};
    r = gw_response_new(strdup("{}"), 2, GW_JSON, &not_allowed);
    cr_expect_str_eq(header(r, "Allow"), "GET, OPTIONS");
    MHD_destroy_response(r);
    gw_cors_configure("");
}

Test(gateway_respond, rate_limit_headers_and_retry_after)
{
    gw_rate_result allowed = {
        .checked = true, .allowed = true, .limit = 200, .remaining = 199, .reset_s = 5};
    gw_resp_meta meta = {.request_id = "r", .rate = &allowed};
    struct MHD_Response *r = gw_response_new(strdup("{}"), 2, GW_JSON, &meta);
    cr_expect_str_eq(header(r, "RateLimit-Limit"), "200");
    cr_expect_str_eq(header(r, "RateLimit-Remaining"), "199");
    cr_expect_str_eq(header(r, "RateLimit-Reset"), "5");
    cr_expect_null(header(r, "Retry-After"), "only on a refusal");
    MHD_destroy_response(r);

    gw_rate_result refused = {.checked = true,
                              .allowed = false,
                              .limit = 10,
                              .remaining = 0,
                              .reset_s = 900,
                              .retry_after_s = 90};
    meta.rate = &refused;
    r = gw_response_new(strdup("{}"), 2, GW_JSON, &meta);
    cr_expect_str_eq(header(r, "RateLimit-Remaining"), "0");
    cr_expect_str_eq(header(r, "Retry-After"), "90");
    MHD_destroy_response(r);

    gw_rate_result unchecked = {.checked = false, .allowed = true};
    meta.rate = &unchecked;
    r = gw_response_new(strdup("{}"), 2, GW_JSON, &meta);
    cr_expect_null(header(r, "RateLimit-Limit"), "no verdict, no headers");
    MHD_destroy_response(r);
}

Test(gateway_respond, an_op_may_replace_cache_control)
{
    gw_header extra[] = {{"Cache-Control", "public, max-age=604800, immutable"},
                         {"Content-Security-Policy", "default-src 'none'"}};
    gw_resp_meta meta = {.request_id = "r", .extra = extra, .n_extra = 2};
    struct MHD_Response *r = gw_response_new(strdup("x"), 1, "image/png", &meta);
    cr_expect_str_eq(header(r, "Cache-Control"), "public, max-age=604800, immutable");
    cr_expect_str_eq(header(r, "Content-Security-Policy"), "default-src 'none'");
    cr_expect_str_eq(header(r, "X-Content-Type-Options"), "nosniff");
    MHD_destroy_response(r);
}
