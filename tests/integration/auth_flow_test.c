/* "Auth and users" of API.md over HTTP, against the real gateway, auth
 * daemon, PostgreSQL and Redis: registration and its refusals, login,
 * me, profile and consents, logout, every kind of bad token, and what the
 * gateway promises on every response (error shape, request ids, security
 * headers, CORS, body limits). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static const char strong_password[] = "Navaja-Fade-7281!";

/* ---- checks shared by the tests ---------------------------------------------- */

static int is_uuid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* RFC 3339 with an offset: 2026-12-04T15:30:00[.fff](Z|-03:00). */
static int is_rfc3339(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19)
        return 0;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z')
        return p[1] == '\0';
    return (*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
           isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
           isdigit((unsigned char)p[5]) && p[6] == '\0';
}

static void assert_security_headers(const bpt_response *r)
{
    const char *nosniff = bpt_header(r, "X-Content-Type-Options");
    const char *frame = bpt_header(r, "X-Frame-Options");
    cr_assert(nosniff != NULL && strcasecmp(nosniff, "nosniff") == 0,
              "X-Content-Type-Options: nosniff missing on a %ld answer", r->status);
    cr_assert(frame != NULL && strcasecmp(frame, "DENY") == 0,
              "X-Frame-Options: DENY missing on a %ld answer", r->status);
    cr_assert_not_null(bpt_header(r, "Strict-Transport-Security"),
                       "Strict-Transport-Security missing on a %ld answer", r->status);
    const char *rid = bpt_header(r, "X-Request-Id");
    cr_assert(rid != NULL && *rid != '\0', "X-Request-Id missing on a %ld answer", r->status);
}

/* An error answer exactly as API.md: status, fixed code, optional field, a
 * message and the request id, with the headers every response carries. */
static void assert_error(const bpt_response *r, long status, const char *code, const char *field)
{
    cr_assert_not_null(r, "no answer");
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    cr_assert_not_null(r->json, "error body is not JSON: %s", r->body);
    const char *got = bpt_error_code(r);
    cr_assert(got != NULL && strcmp(got, code) == 0, "expected code %s, got %s", code,
              got ? got : "(none)");
    if (field != NULL) {
        const char *f = bpt_error_field(r);
        cr_assert(f != NULL && strcmp(f, field) == 0, "expected field %s, got %s: %s", field,
                  f ? f : "(none)", r->body);
    }
    const char *msg = bpt_json_str(r->json, "error.message");
    cr_assert(msg != NULL && *msg != '\0', "error without message: %s", r->body);
    const char *rid = bpt_json_str(r->json, "error.request_id");
    cr_assert(rid != NULL && *rid != '\0', "error without request_id: %s", r->body);
    const char *hdr = bpt_header(r, "X-Request-Id");
    cr_assert(hdr != NULL && strcmp(hdr, rid) == 0,
              "error.request_id %s differs from X-Request-Id %s", rid, hdr ? hdr : "(none)");
    assert_security_headers(r);
}

static void assert_user(const json_t *user, const char *email)
{
    cr_assert(json_is_object(user), "no user object");
    cr_assert(is_uuid(bpt_json_str(user, "id")), "user.id is not a UUID");
    const char *got = bpt_json_str(user, "email");
    cr_assert(got != NULL && strcmp(got, email) == 0, "user.email %s, expected %s",
              got ? got : "(none)", email);
    cr_assert_not_null(bpt_json_str(user, "name"), "user.name missing");
    cr_assert_not_null(json_object_get(user, "phone"), "user.phone missing");
    cr_assert_not_null(bpt_json_str(user, "role"), "user.role missing");
    cr_assert_not_null(bpt_json_str(user, "locale"), "user.locale missing");
    cr_assert(is_rfc3339(bpt_json_str(user, "created_at")),
              "user.created_at is not RFC 3339 with offset: %s",
              bpt_json_str(user, "created_at") ? bpt_json_str(user, "created_at") : "(none)");
}

/* A session answer: 2xx with {user, token, expires_at}. */
static void assert_session(const bpt_response *r, long status, const char *email)
{
    cr_assert_not_null(r, "no answer");
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    assert_user(json_object_get(r->json, "user"), email);
    const char *token = bpt_json_str(r->json, "token");
    cr_assert(token != NULL && strlen(token) > 20, "no token");
    cr_assert(is_rfc3339(bpt_json_str(r->json, "expires_at")), "expires_at is not RFC 3339");
    assert_security_headers(r);
}

static bpt_response *register_user(const char *email, const char *password, const char *phone)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:b}", "email", email, "password", password, "name",
                             "Martina Gómez", "accept_terms", 1);
    if (phone != NULL)
        json_object_set_new(body, "phone", json_string(phone));
    bpt_response *r = bpt_http_json("POST", "/api/auth/register", NULL, body);
    json_decref(body);
    return r;
}

static bpt_response *get_me(const char *token)
{
    return bpt_http_json("GET", "/api/auth/me", token, NULL);
}

/* ---- registration ------------------------------------------------------------- */

Test(register, returns_user_token_and_expiry, .timeout = 30)
{
    char email[128];
    bpt_unique_email(email, sizeof email);
    bpt_response *r = register_user(email, strong_password, "11 2345-6789");
    assert_session(r, 201, email);
    cr_assert_str_eq(bpt_json_str(r->json, "user.role"), "client");
    cr_assert_str_eq(bpt_json_str(r->json, "user.phone"), "+5491123456789");
    cr_assert_str_eq(bpt_json_str(r->json, "user.name"), "Martina Gómez");
    cr_assert_null(json_object_get(json_object_get(r->json, "user"), "password"),
                   "the answer carries a password field");
    cr_assert_null(strstr(r->body, strong_password), "the answer echoes the password");

    /* The token works at once. */
    bpt_response *me = get_me(bpt_json_str(r->json, "token"));
    cr_assert_eq(me->status, 200, "me with the register token: %ld %s", me->status, me->body);
    bpt_response_free(me);
    bpt_response_free(r);
}

Test(register, trims_and_lowercases_the_email, .timeout = 30)
{
    char email[128], messy[160];
    bpt_unique_email(email, sizeof email);
    snprintf(messy, sizeof messy, "  %s  ", email);
    for (char *p = messy; *p != '\0'; p++)
        if (p[0] == 'b' || p[0] == 'e')
            *p = (char)toupper((unsigned char)*p);
    bpt_response *r = register_user(messy, strong_password, NULL);
    assert_session(r, 201, email);
    bpt_response_free(r);
}

Test(register, normalises_argentine_phones, .timeout = 60)
{
    static const struct {
        const char *input;
        const char *e164;
    } cases[] = {
        {"11 2345-6789", "+5491123456789"},
        {"+54 9 11 2345-6789", "+5491123456789"},
        {"011 15 2345-6789", "+5491123456789"},
        {"+5491123456789", "+5491123456789"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char email[128];
        bpt_unique_email(email, sizeof email);
        bpt_response *r = register_user(email, strong_password, cases[i].input);
        cr_assert_eq(r->status, 201, "phone %s: %ld %s", cases[i].input, r->status, r->body);
        const char *phone = bpt_json_str(r->json, "user.phone");
        cr_assert(phone != NULL && strcmp(phone, cases[i].e164) == 0, "phone %s became %s",
                  cases[i].input, phone ? phone : "(none)");
        bpt_response_free(r);
    }
}

Test(register, refuses_a_taken_email_in_any_case_or_spacing, .timeout = 30)
{
    char email[128], variant[160];
    bpt_unique_email(email, sizeof email);
    bpt_response *r = register_user(email, strong_password, NULL);
    cr_assert_eq(r->status, 201, "%ld %s", r->status, r->body);
    bpt_response_free(r);

    snprintf(variant, sizeof variant, " %s\t", email);
    variant[1] = (char)toupper((unsigned char)variant[1]);
    variant[2] = (char)toupper((unsigned char)variant[2]);
    r = register_user(variant, strong_password, NULL);
    assert_error(r, 409, "email_taken", NULL);
    bpt_response_free(r);
}

Test(register, refuses_weak_passwords, .timeout = 30)
{
    static const char *const weak[] = {"", "abc", "password", "12345678"};
    for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++) {
        char email[128];
        bpt_unique_email(email, sizeof email);
        bpt_response *r = register_user(email, weak[i], NULL);
        cr_assert_eq(r->status, 400, "password \"%s\" was accepted (%ld)", weak[i], r->status);
        assert_error(r, 400, "invalid_request", "password");
        bpt_response_free(r);
    }
}

Test(register, refuses_bad_emails, .timeout = 30)
{
    static const char *const bad[] = {
        "", "no-at-sign", "a@", "@example.com", "a b@example.com", "a@@example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bpt_response *r = register_user(bad[i], strong_password, NULL);
        cr_assert_eq(r->status, 400, "email \"%s\": %ld %s", bad[i], r->status, r->body);
        assert_error(r, 400, "invalid_request", "email");
        bpt_response_free(r);
    }
}

Test(register, refuses_bad_phones, .timeout = 30)
{
    static const char *const bad[] = {"123", "hola", "11 2345", "+54 9 11 2345-6789-1234-5678"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char email[128];
        bpt_unique_email(email, sizeof email);
        bpt_response *r = register_user(email, strong_password, bad[i]);
        cr_assert_eq(r->status, 400, "phone \"%s\": %ld %s", bad[i], r->status, r->body);
        assert_error(r, 400, "invalid_request", "phone");
        bpt_response_free(r);
    }
}

Test(register, requires_accepted_terms, .timeout = 30)
{
    char email[128];
    bpt_unique_email(email, sizeof email);
    bpt_response *r = bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s}", "email",
                                    email, "password", strong_password, "name", "Sin Términos");
    assert_error(r, 400, "invalid_request", "accept_terms");
    bpt_response_free(r);

    r = bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:b}", "email", email,
                      "password", strong_password, "name", "Sin Términos", "accept_terms", 0);
    assert_error(r, 400, "invalid_request", "accept_terms");
    bpt_response_free(r);
}

Test(register, allows_owner_but_never_admin, .timeout = 30)
{
    char email[128];
    bpt_unique_email(email, sizeof email);
    bpt_response *r = bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:s, s:b}",
                                    "email", email, "password", strong_password, "name", "Dueña",
                                    "role", "owner", "accept_terms", 1);
    assert_session(r, 201, email);
    cr_assert_str_eq(bpt_json_str(r->json, "user.role"), "owner");
    bpt_response_free(r);

    bpt_unique_email(email, sizeof email);
    r = bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:s, s:b}", "email",
                      email, "password", strong_password, "name", "Intrusa", "role", "admin",
                      "accept_terms", 1);
    cr_assert(r->status == 400 || r->status == 403, "registering as admin answered %ld: %s",
              r->status, r->body);
    bpt_response_free(r);
}

/* ---- login ---------------------------------------------------------------------- */

Test(login, succeeds_with_any_email_case, .timeout = 30)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    char shouted[160];
    snprintf(shouted, sizeof shouted, " %s ", u.email);
    for (char *p = shouted; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    bpt_response *r = bpt_http_pack("POST", "/api/auth/login", NULL, "{s:s, s:s}", "email", shouted,
                                    "password", u.password);
    assert_session(r, 200, u.email);
    bpt_response_free(r);
}

Test(login, wrong_password_and_unknown_email_look_the_same, .timeout = 30)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    bpt_response *wrong = bpt_http_pack("POST", "/api/auth/login", NULL, "{s:s, s:s}", "email",
                                        u.email, "password", "Otra-Clave-9911!");
    assert_error(wrong, 401, "invalid_credentials", NULL);

    char nobody[128];
    bpt_unique_email(nobody, sizeof nobody);
    bpt_response *unknown = bpt_http_pack("POST", "/api/auth/login", NULL, "{s:s, s:s}", "email",
                                          nobody, "password", u.password);
    assert_error(unknown, 401, "invalid_credentials", NULL);
    cr_assert_str_eq(bpt_json_str(wrong->json, "error.message"),
                     bpt_json_str(unknown->json, "error.message"),
                     "the two refusals have different messages");
    bpt_response_free(wrong);
    bpt_response_free(unknown);
}

/* ---- me, profile, consents ------------------------------------------------------- */

Test(me, returns_the_user, .timeout = 30)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    bpt_response *r = get_me(u.token);
    cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
    assert_user(json_object_get(r->json, "user"), u.email);
    cr_assert_str_eq(bpt_json_str(r->json, "user.id"), u.id);
    cr_assert_str_eq(bpt_json_str(r->json, "user.name"), u.name);
    cr_assert_str_eq(bpt_json_str(r->json, "user.role"), "client");
    assert_security_headers(r);
    bpt_response_free(r);
}

Test(me, is_refused_without_a_token, .timeout = 30)
{
    bpt_response *r = get_me(NULL);
    assert_error(r, 401, "unauthorized", NULL);
    bpt_response_free(r);
}

Test(users, patch_me_updates_the_profile, .timeout = 30)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    /* A first Me fills the profile cache; the change must still show. */
    bpt_response *r = get_me(u.token);
    cr_assert_eq(r->status, 200);
    bpt_response_free(r);
    r = bpt_http_pack("PATCH", "/api/users/me", u.token, "{s:s, s:s, s:s}", "name",
                      "Lionel Cabello", "phone", "+54 9 11 4444-5555", "locale", "es-AR");
    cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
    cr_assert_str_eq(bpt_json_str(r->json, "user.name"), "Lionel Cabello");
    cr_assert_str_eq(bpt_json_str(r->json, "user.phone"), "+5491144445555");
    cr_assert_str_eq(bpt_json_str(r->json, "user.locale"), "es-AR");
    bpt_response_free(r);

    r = get_me(u.token);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(bpt_json_str(r->json, "user.name"), "Lionel Cabello");
    cr_assert_str_eq(bpt_json_str(r->json, "user.phone"), "+5491144445555");
    cr_assert_str_eq(bpt_json_str(r->json, "user.email"), u.email, "PATCH changed the email");
    bpt_response_free(r);

    /* Only what was sent changes. */
    r = bpt_http_pack("PATCH", "/api/users/me", u.token, "{s:s}", "name", "Leo Cabello");
    cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
    cr_assert_str_eq(bpt_json_str(r->json, "user.phone"), "+5491144445555");
    bpt_response_free(r);

    r = bpt_http_pack("PATCH", "/api/users/me", u.token, "{s:s}", "phone", "hola");
    assert_error(r, 400, "invalid_request", "phone");
    bpt_response_free(r);

    r = bpt_http_pack("PATCH", "/api/users/me", NULL, "{s:s}", "name", "Nadie");
    assert_error(r, 401, "unauthorized", NULL);
    bpt_response_free(r);
}

Test(users, put_consents_records_them, .timeout = 30)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    bpt_response *r = bpt_http_pack("PUT", "/api/users/me/consents", u.token, "{s:b, s:b}",
                                    "marketing", 1, "whatsapp", 0);
    cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
    cr_assert(json_is_true(bpt_json_at(r->json, "consents.marketing")), "%s", r->body);
    cr_assert(json_is_false(bpt_json_at(r->json, "consents.whatsapp")), "%s", r->body);
    bpt_response_free(r);

    r = bpt_http_pack("PUT", "/api/users/me/consents", u.token, "{s:b}", "whatsapp", 1);
    cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
    cr_assert(json_is_true(bpt_json_at(r->json, "consents.whatsapp")), "%s", r->body);
    cr_assert(json_is_true(bpt_json_at(r->json, "consents.marketing")),
              "an unsent consent changed: %s", r->body);
    bpt_response_free(r);

    r = bpt_http_pack("PUT", "/api/users/me/consents", NULL, "{s:b}", "whatsapp", 1);
    assert_error(r, 401, "unauthorized", NULL);
    bpt_response_free(r);
}

/* ---- logout ------------------------------------------------------------------------ */

Test(logout, ends_that_session_at_once, .timeout = 30)
{
    char email[128];
    bpt_unique_email(email, sizeof email);
    bpt_response *reg = register_user(email, strong_password, NULL);
    cr_assert_eq(reg->status, 201, "%ld %s", reg->status, reg->body);
    bpt_response *login = bpt_http_pack("POST", "/api/auth/login", NULL, "{s:s, s:s}", "email",
                                        email, "password", strong_password);
    cr_assert_eq(login->status, 200, "%ld %s", login->status, login->body);
    const char *token = bpt_json_str(login->json, "token");

    bpt_response *r = bpt_http_json("POST", "/api/auth/logout", token, NULL);
    cr_assert_eq(r->status, 204, "%ld %s", r->status, r->body);
    cr_assert_eq(r->body_len, 0, "204 with a body: %s", r->body);
    assert_security_headers(r);
    bpt_response_free(r);

    r = get_me(token);
    assert_error(r, 401, "unauthorized", NULL);
    bpt_response_free(r);

    r = bpt_http_json("POST", "/api/auth/logout", token, NULL);
    assert_error(r, 401, "unauthorized", NULL);
    bpt_response_free(r);

    /* The other session of the same user lives on. */
    r = get_me(bpt_json_str(reg->json, "token"));
    cr_assert_eq(r->status, 200, "logout ended another session: %ld %s", r->status, r->body);
    bpt_response_free(r);
    bpt_response_free(login);
    bpt_response_free(reg);
}

/* ---- bad tokens ------------------------------------------------------------------------ */

static char *b64url_encode(const unsigned char *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    cr_assert_not_null(out);
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p != '\0'; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* Decodes base64url (n chars of in) into a NUL-terminated malloc'd string. */
static char *b64url_decode(const char *in, size_t n)
{
    size_t padded = (n + 3) / 4 * 4;
    char *buf = calloc(1, padded + 1);
    unsigned char *out = calloc(1, padded + 1);
    cr_assert(buf != NULL && out != NULL);
    for (size_t i = 0; i < padded; i++)
        buf[i] = i < n ? (in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i]) : '=';
    int len = EVP_DecodeBlock(out, (unsigned char *)buf, (int)padded);
    cr_assert(len >= 0, "token part is not base64url");
    len -= (int)(padded - n); /* EVP_DecodeBlock counts padding as bytes */
    out[len] = '\0';
    free(buf);
    return (char *)out;
}

static char *sign_hs256(const char *header_b64, const char *payload_b64, const char *secret)
{
    char *signing_input = NULL;
    cr_assert(asprintf(&signing_input, "%s.%s", header_b64, payload_b64) > 0);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)signing_input,
         strlen(signing_input), mac, &mac_len);
    char *sig = b64url_encode(mac, mac_len);
    char *token = NULL;
    cr_assert(asprintf(&token, "%s.%s", signing_input, sig) > 0);
    free(sig);
    free(signing_input);
    return token;
}

static void assert_token_refused(const char *what, const char *authorization)
{
    const char *headers[] = {authorization, NULL};
    bpt_response *r = bpt_http("GET", "/api/auth/me", authorization ? headers : NULL, NULL, 0);
    cr_assert_not_null(r);
    cr_assert_eq(r->status, 401, "%s: expected 401, got %ld %s", what, r->status, r->body);
    assert_error(r, 401, "unauthorized", NULL);
    bpt_response_free(r);
}

Test(tokens, bad_tokens_are_refused, .timeout = 60)
{
    bpt_user u;
    cr_assert_eq(bpt_user_new(&u), 0);
    char *dot1 = strchr(u.token, '.');
    char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    cr_assert(dot1 != NULL && dot2 != NULL, "the token is not a JWT: %s", u.token);
    char *header_b64 = strndup(u.token, (size_t)(dot1 - u.token));
    char *payload_b64 = strndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    char *payload = b64url_decode(payload_b64, strlen(payload_b64));
    char *header = b64url_decode(header_b64, strlen(header_b64));
    cr_assert_not_null(strstr(header, "HS256"), "the token is not HS256: %s", header);
    char line[4096];

    assert_token_refused("garbage", "Authorization: Bearer garbage");
    assert_token_refused("empty bearer", "Authorization: Bearer ");
    snprintf(line, sizeof line, "Authorization: Basic %s", u.token);
    assert_token_refused("wrong scheme", line);

    /* A changed signature character (a middle one: the last carries
     * padding bits a lenient decoder ignores). */
    char *tampered = strdup(u.token);
    char *c = tampered + (dot2 - u.token) + 10;
    *c = *c == 'A' ? 'B' : 'A';
    snprintf(line, sizeof line, "Authorization: Bearer %s", tampered);
    assert_token_refused("tampered signature", line);
    free(tampered);

    /* A changed payload under the old signature. */
    json_t *claims = json_loads(payload, 0, NULL);
    cr_assert_not_null(claims, "payload is not JSON: %s", payload);
    json_object_set_new(claims, "role", json_string("admin"));
    char *forged_json = json_dumps(claims, JSON_COMPACT);
    char *forged_b64 = b64url_encode((unsigned char *)forged_json, strlen(forged_json));
    snprintf(line, sizeof line, "Authorization: Bearer %s.%s.%s", header_b64, forged_b64, dot2 + 1);
    assert_token_refused("tampered payload", line);

    /* alg: none, with and without the old signature. */
    static const char none_header[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    char *none_b64 = b64url_encode((const unsigned char *)none_header, strlen(none_header));
    snprintf(line, sizeof line, "Authorization: Bearer %s.%s.", none_b64, payload_b64);
    assert_token_refused("alg none", line);
    snprintf(line, sizeof line, "Authorization: Bearer %s.%s.%s", none_b64, payload_b64, dot2 + 1);
    assert_token_refused("alg none with signature", line);

    /* Signed with another secret. */
    char *other = sign_hs256(header_b64, payload_b64, "another-secret-that-is-long-enough-000");
    snprintf(line, sizeof line, "Authorization: Bearer %s", other);
    assert_token_refused("other secret", line);

    /* Expired, correctly signed with the suite's secret: only exp says no. */
    const char *secret = getenv("JWT_SECRET");
    cr_assert_not_null(secret, "JWT_SECRET is not in the test environment");
    json_t *old = json_loads(payload, 0, NULL);
    cr_assert_not_null(json_object_get(old, "exp"), "the token has no exp claim: %s", payload);
    json_int_t now = (json_int_t)time(NULL);
    json_object_set_new(old, "exp", json_integer(now - 60));
    if (json_object_get(old, "iat") != NULL)
        json_object_set_new(old, "iat", json_integer(now - 7200));
    if (json_object_get(old, "nbf") != NULL)
        json_object_set_new(old, "nbf", json_integer(now - 7200));
    char *old_json = json_dumps(old, JSON_COMPACT);
    char *old_b64 = b64url_encode((unsigned char *)old_json, strlen(old_json));
    char *expired = sign_hs256(header_b64, old_b64, secret);
    snprintf(line, sizeof line, "Authorization: Bearer %s", expired);
    assert_token_refused("expired", line);

    /* The genuine token still works: the refusals above did not end it. */
    bpt_response *r = get_me(u.token);
    cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
    bpt_response_free(r);

    free(expired);
    free(old_b64);
    free(old_json);
    json_decref(old);
    free(other);
    free(none_b64);
    free(forged_b64);
    free(forged_json);
    json_decref(claims);
    free(header);
    free(payload);
    free(payload_b64);
    free(header_b64);
}

/* ---- what the gateway promises on every request ----------------------------------------- */

Test(gateway, malformed_json_is_400, .timeout = 30)
{
    static const char body[] = "{\"email\": \"a@example.com\", ";
    const char *headers[] = {"Content-Type: application/json", NULL};
    bpt_response *r = bpt_http("POST", "/api/auth/login", headers, body, sizeof body - 1);
    assert_error(r, 400, "invalid_request", NULL);
    bpt_response_free(r);
}

Test(gateway, wrong_content_type_is_415, .timeout = 30)
{
    static const char body[] = "email=a@example.com&password=x";
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    bpt_response *r = bpt_http("POST", "/api/auth/login", headers, body, sizeof body - 1);
    assert_error(r, 415, "unsupported_media_type", NULL);
    bpt_response_free(r);

    const char *text[] = {"Content-Type: text/plain", NULL};
    r = bpt_http("POST", "/api/auth/register", text, "{}", 2);
    assert_error(r, 415, "unsupported_media_type", NULL);
    bpt_response_free(r);
}

Test(gateway, body_over_one_mib_is_413, .timeout = 60)
{
    size_t len = 1024 * 1024 + 1;
    char *body = malloc(len);
    cr_assert_not_null(body);
    /* Valid JSON, so that only the size is wrong. */
    static const char head[] = "{\"email\":\"a@example.com\",\"password\":\"";
    memcpy(body, head, sizeof head - 1);
    memset(body + sizeof head - 1, 'x', len - (sizeof head - 1) - 2);
    memcpy(body + len - 2, "\"}", 2);
    const char *headers[] = {"Content-Type: application/json", NULL};
    bpt_response *r = bpt_http("POST", "/api/auth/login", headers, body, len);
    cr_assert_not_null(r, "no answer to a 1 MiB + 1 body");
    assert_error(r, 413, "payload_too_large", NULL);
    bpt_response_free(r);
    free(body);

    /* The gateway serves on. */
    r = bpt_http("GET", "/api/health", NULL, NULL, 0);
    cr_assert_eq(r->status, 200);
    bpt_response_free(r);
}

Test(gateway, unknown_route_is_404, .timeout = 30)
{
    bpt_response *r = bpt_http("GET", "/api/no-such-thing", NULL, NULL, 0);
    assert_error(r, 404, "not_found", NULL);
    bpt_response_free(r);
    r = bpt_http("GET", "/api/auth/me/../../../etc/passwd", NULL, NULL, 0);
    cr_assert(r->status == 404 || r->status == 400 || r->status == 401, "%ld", r->status);
    assert_security_headers(r);
    bpt_response_free(r);
}

Test(gateway, request_id_is_echoed_or_generated, .timeout = 30)
{
    const char *headers[] = {"X-Request-Id: bpt-echo-4b1d2c", NULL};
    bpt_response *r = bpt_http("GET", "/api/health", headers, NULL, 0);
    cr_assert_str_eq(bpt_header(r, "X-Request-Id"), "bpt-echo-4b1d2c");
    bpt_response_free(r);

    r = bpt_http("GET", "/api/no-such-thing", headers, NULL, 0);
    cr_assert_str_eq(bpt_header(r, "X-Request-Id"), "bpt-echo-4b1d2c");
    cr_assert_str_eq(bpt_json_str(r->json, "error.request_id"), "bpt-echo-4b1d2c");
    bpt_response_free(r);

    bpt_response *a = bpt_http("GET", "/api/health", NULL, NULL, 0);
    bpt_response *b = bpt_http("GET", "/api/health", NULL, NULL, 0);
    const char *ida = bpt_header(a, "X-Request-Id"), *idb = bpt_header(b, "X-Request-Id");
    cr_assert(ida != NULL && strlen(ida) >= 8, "no generated request id");
    cr_assert(idb != NULL && strcmp(ida, idb) != 0, "two requests got the same id %s", ida);
    bpt_response_free(a);
    bpt_response_free(b);
}

Test(gateway, security_headers_on_every_response, .timeout = 30)
{
    static const struct {
        const char *method, *path, *body;
    } cases[] = {
        {"GET", "/api/health", NULL},
        {"GET", "/api/no-such-thing", NULL},
        {"GET", "/api/auth/me", NULL},
        {"POST", "/api/auth/login", "{\"email\":\"x@example.com\",\"password\":\"nope-nope-1\"}"},
        {"POST", "/api/auth/login", "{broken"},
    };
    const char *headers[] = {"Content-Type: application/json", NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bpt_response *r = bpt_http(cases[i].method, cases[i].path, headers, cases[i].body,
                                   cases[i].body ? strlen(cases[i].body) : 0);
        cr_assert_not_null(r);
        assert_security_headers(r);
        bpt_response_free(r);
    }
}

Test(gateway, cors_only_for_allowed_origins, .timeout = 30)
{
    const char *origin = getenv("BP_TEST_CORS_ORIGIN");
    cr_assert_not_null(origin, "BP_TEST_CORS_ORIGIN is not set");
    char origin_line[256];
    snprintf(origin_line, sizeof origin_line, "Origin: %s", origin);

    const char *preflight[] = {origin_line, "Access-Control-Request-Method: POST",
                               "Access-Control-Request-Headers: content-type, authorization", NULL};
    bpt_response *r = bpt_http("OPTIONS", "/api/auth/login", preflight, NULL, 0);
    cr_assert(r->status == 204 || r->status == 200, "preflight answered %ld", r->status);
    const char *allow = bpt_header(r, "Access-Control-Allow-Origin");
    cr_assert(allow != NULL && strcmp(allow, origin) == 0, "Access-Control-Allow-Origin: %s",
              allow ? allow : "(none)");
    const char *methods = bpt_header(r, "Access-Control-Allow-Methods");
    cr_assert(methods != NULL && strstr(methods, "POST") != NULL,
              "Access-Control-Allow-Methods: %s", methods ? methods : "(none)");
    const char *allow_headers = bpt_header(r, "Access-Control-Allow-Headers");
    cr_assert(allow_headers != NULL && strcasestr(allow_headers, "authorization") != NULL,
              "Access-Control-Allow-Headers: %s", allow_headers ? allow_headers : "(none)");
    assert_security_headers(r);
    bpt_response_free(r);

    const char *simple[] = {origin_line, NULL};
    r = bpt_http("GET", "/api/health", simple, NULL, 0);
    allow = bpt_header(r, "Access-Control-Allow-Origin");
    cr_assert(allow != NULL && strcmp(allow, origin) == 0, "no CORS header on a simple GET");
    bpt_response_free(r);

    const char *evil[] = {"Origin: https://evil.example", "Access-Control-Request-Method: POST",
                          NULL};
    r = bpt_http("OPTIONS", "/api/auth/login", evil, NULL, 0);
    cr_assert_null(bpt_header(r, "Access-Control-Allow-Origin"), "a foreign origin was allowed: %s",
                   bpt_header(r, "Access-Control-Allow-Origin"));
    assert_security_headers(r);
    bpt_response_free(r);
}
