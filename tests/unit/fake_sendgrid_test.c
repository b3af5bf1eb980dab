/* The SendGrid stand-in (tests/fakes/sendgrid.c) against what the
 * notification daemon will rely on: a v3 Mail Send accepted with 202 and an
 * X-Message-Id, the Bearer key check, SendGrid's errors array naming the bad
 * field, the 30 MB limit, forced statuses such as 429 and the failure
 * modes. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_launch.h"
#include "bp.h"
#include "http.h"

#define KEY "SG.fake-key"

static pid_t fake_pid;
static char fake_base[64];

static void setup(void)
{
    cr_assert_eq(bpt_fake_start("sendgrid", NULL, &fake_pid, fake_base, sizeof fake_base), 0,
                 "fake-sendgrid did not start (see stderr)");
}

static void teardown(void)
{
    if (fake_pid > 0)
        cr_expect_eq(bpt_fake_stop(fake_pid), 0, "fake-sendgrid did not stop cleanly");
}

TestSuite(fake_sendgrid, .init = setup, .fini = teardown, .timeout = 60);

typedef struct {
    long status;
    json_t *json;        /* NULL when the body is not JSON */
    size_t len;          /* body bytes */
    char message_id[64]; /* X-Message-Id, "" when none */
    char remaining[16];  /* X-RateLimit-Remaining, "" when none */
} answer;

/* POSTs body to /v3/mail/send with "Bearer key" (no header when key is
 * NULL). The caller decrefs a->json. */
static void mail_send(const char *body, size_t len, const char *key, answer *a)
{
    char auth[128], url[128];
    const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
    if (key != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        headers[1] = auth;
    }
    static const char *const keep[] = {"X-Message-Id", "X-RateLimit-Remaining", NULL};
    snprintf(url, sizeof url, "%s/v3/mail/send", fake_base);
    bp_http_request req = {.method = "POST",
                           .url = url,
                           .headers = headers,
                           .body = body,
                           .body_len = len,
                           .timeout_ms = 30000,
                           .max_response_bytes = 1 << 20,
                           .keep_headers = keep};
    bp_http_response resp;
    cr_assert_eq(bp_http_do(&req, &resp), 0, "the fake did not answer");
    a->status = resp.status;
    a->len = resp.len;
    json_error_t err;
    a->json = json_loadb(resp.body, resp.len, 0, &err);
    const char *id = bp_http_header_get(&resp, "X-Message-Id");
    const char *rem = bp_http_header_get(&resp, "X-RateLimit-Remaining");
    snprintf(a->message_id, sizeof a->message_id, "%s", id != NULL ? id : "");
    snprintf(a->remaining, sizeof a->remaining, "%s", rem != NULL ? rem : "");
    bp_http_response_free(&resp);
}

static long send_json(const char *body, const char *key, answer *a)
{
    mail_send(body, strlen(body), key, a);
    return a->status;
}

static long control(const char *method, const char *path, json_t **out)
{
    long status = bpt_fake_call(fake_base, method, path, NULL, NULL, out);
    cr_assert_neq(status, -1, "the fake did not answer %s", path);
    return status;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    cr_assert_not_null(s, "no string %s", key);
    return s;
}

/* A good request: UTF-8 subject, text and HTML parts. */
#define GOOD                                                                                       \
    "{\"personalizations\":[{\"to\":[{\"email\":\"cliente@example.com\",\"name\":\"Ana\"}]}],"     \
    "\"from\":{\"email\":\"turnos@barberpro.example\",\"name\":\"BarberPro\"},"                    \
    "\"subject\":\"Turno confirmado: viernes 4 de diciembre, 15:30\","                             \
    "\"content\":[{\"type\":\"text/plain\",\"value\":\"Hola Ana, te esperamos. Se\\u00f1a: $ "     \
    "15.000,00\"},{\"type\":\"text/html\",\"value\":\"<p>Hola Ana</p>\"}]}"

Test(fake_sendgrid, mail_is_accepted_with_a_message_id)
{
    answer a;
    cr_assert_eq(send_json(GOOD, KEY, &a), 202);
    cr_assert_eq(a.len, 0, "202 has an empty body");
    cr_assert_eq(strlen(a.message_id), 22, "X-Message-Id %s", a.message_id);

    json_t *last;
    cr_assert_eq(control("GET", "/_fake/last", &last), 200);
    cr_assert_eq(json_integer_value(json_object_get(last, "count")), 1);
    json_t *l = json_object_get(last, "last");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(l, "to"), 0)),
                     "cliente@example.com");
    cr_assert_str_eq(str(l, "from"), "turnos@barberpro.example");
    cr_assert_str_eq(str(l, "subject"), "Turno confirmado: viernes 4 de diciembre, 15:30");
    cr_assert_str_eq(str(l, "text"), "Hola Ana, te esperamos. Se\xc3\xb1"
                                     "a: $ 15.000,00");
    cr_assert(json_is_true(json_object_get(l, "html")));
    cr_assert(json_is_true(json_object_get(l, "authorization")));
    char *dump = json_dumps(last, 0);
    cr_assert(strstr(dump, KEY) == NULL, "the key is never kept");
    free(dump);
    json_decref(last);

    json_t *list;
    cr_assert_eq(control("GET", "/_fake/messages", &list), 200);
    json_t *m = json_array_get(json_object_get(list, "messages"), 0);
    cr_assert_str_eq(str(m, "message_id"), a.message_id);
    json_decref(list);
}

Test(fake_sendgrid, api_needs_the_bearer_key)
{
    answer a;
    cr_assert_eq(send_json(GOOD, NULL, &a), 401);
    json_t *e = json_array_get(json_object_get(a.json, "errors"), 0);
    cr_assert(json_is_string(json_object_get(e, "message")));
    cr_assert(json_is_null(json_object_get(e, "field")));
    cr_assert(json_is_null(json_object_get(e, "help")));
    json_decref(a.json);
    cr_assert_eq(send_json(GOOD, "SG.wrong", &a), 401);
    e = json_array_get(json_object_get(a.json, "errors"), 0);
    cr_assert_str_eq(str(e, "message"),
                     "The provided authorization grant is invalid, expired, or revoked");
    json_decref(a.json);
    json_t *list;
    cr_assert_eq(control("GET", "/_fake/messages", &list), 200);
    cr_assert_eq(json_array_size(json_object_get(list, "messages")), 0);
    json_decref(list);
}

#define TO_OK   "\"personalizations\":[{\"to\":[{\"email\":\"a@example.com\"}]}]"
#define FROM_OK "\"from\":{\"email\":\"f@example.com\"}"
#define TEXT_OK "\"content\":[{\"type\":\"text/plain\",\"value\":\"hola\"}]"

Test(fake_sendgrid, bad_input_names_the_field)
{
    static const struct {
        const char *body;
        const char *field; /* NULL: the error has no field */
    } cases[] = {
        {"not json", NULL},
        {"{" FROM_OK ",\"subject\":\"s\"," TEXT_OK "}", "personalizations"},
        {"{\"personalizations\":[{}]," FROM_OK ",\"subject\":\"s\"," TEXT_OK "}",
         "personalizations.0.to"},
        {"{\"personalizations\":[{\"to\":[{\"email\":\"a@example.com\"},{\"email\":\"nope\"}]}]"
         "," FROM_OK ",\"subject\":\"s\"," TEXT_OK "}",
         "personalizations.0.to.1.email"},
        {"{" TO_OK ",\"subject\":\"s\"," TEXT_OK "}", "from"},
        {"{" TO_OK ",\"from\":{\"email\":\"x\"},\"subject\":\"s\"," TEXT_OK "}", "from.email"},
        {"{" TO_OK "," FROM_OK "," TEXT_OK "}", "subject"},
        {"{" TO_OK "," FROM_OK ",\"subject\":\"s\"}", "content"},
        {"{" TO_OK "," FROM_OK ",\"subject\":\"s\",\"content\":[{\"type\":\"text/plain\","
         "\"value\":\"\"}]}",
         "content.0.value"},
        {"{" TO_OK "," FROM_OK ",\"subject\":\"s\",\"content\":[{\"type\":\"text/html\","
         "\"value\":\"<p>x</p>\"},{\"type\":\"text/plain\",\"value\":\"x\"}]}",
         "content.1.type"},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        answer a;
        cr_assert_eq(send_json(cases[i].body, KEY, &a), 400, "%s", cases[i].body);
        json_t *errors = json_object_get(a.json, "errors");
        cr_assert_eq(json_array_size(errors), 1, "%s", cases[i].body);
        json_t *e = json_array_get(errors, 0);
        cr_assert(json_is_string(json_object_get(e, "message")));
        if (cases[i].field == NULL)
            cr_assert(json_is_null(json_object_get(e, "field")));
        else
            cr_assert_str_eq(str(e, "field"), cases[i].field, "%s", cases[i].body);
        json_decref(a.json);
    }
    /* Every problem is listed, not only the first. */
    answer a;
    cr_assert_eq(send_json("{" TO_OK "," TEXT_OK "}", KEY, &a), 400);
    cr_assert_eq(json_array_size(json_object_get(a.json, "errors")), 2, "from and subject");
    json_decref(a.json);
    /* A template carries its own subject and content. */
    cr_assert_eq(send_json("{" TO_OK "," FROM_OK ",\"template_id\":\"d-123\"}", KEY, &a), 202);
    json_decref(a.json);
    /* Per-personalization subjects replace the top-level one. */
    cr_assert_eq(send_json("{\"personalizations\":[{\"to\":[{\"email\":\"a@example.com\"}],"
                           "\"subject\":\"s\"}]," FROM_OK "," TEXT_OK "}",
                           KEY, &a),
                 202);
    json_decref(a.json);
}

Test(fake_sendgrid, over_30_mb_is_refused)
{
    size_t n = 30u * 1024 * 1024 + 1;
    char *body = malloc(n + 1);
    cr_assert_not_null(body);
    memset(body, ' ', n);
    memcpy(body, GOOD, strlen(GOOD)); /* valid JSON, then blanks past the limit */
    body[n] = '\0';
    answer a;
    mail_send(body, n, KEY, &a);
    free(body);
    cr_assert_eq(a.status, 413);
    cr_assert(json_is_array(json_object_get(a.json, "errors")));
    json_decref(a.json);
}

Test(fake_sendgrid, forced_statuses_and_failure_modes)
{
    answer a;
    cr_assert_eq(control("POST", "/_fake/mode?status=429&count=2", NULL), 200);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(send_json(GOOD, KEY, &a), 429);
        cr_assert_str_eq(a.remaining, "0", "X-RateLimit-Remaining");
        cr_assert(json_is_array(json_object_get(a.json, "errors")));
        json_decref(a.json);
    }
    cr_assert_eq(send_json(GOOD, KEY, &a), 202, "only count sends are refused");

    cr_assert_eq(control("POST", "/_fake/mode?mode=error", NULL), 200);
    cr_assert_eq(send_json(GOOD, KEY, &a), 500);
    json_decref(a.json);
    cr_assert_eq(control("POST", "/_fake/mode?mode=garbage", NULL), 200);
    cr_assert_eq(send_json(GOOD, KEY, &a), 200);
    cr_assert_null(a.json, "garbage is not JSON");

    cr_assert_eq(control("POST", "/_fake/mode?mode=hang", NULL), 200);
    char url[128];
    snprintf(url, sizeof url, "%s/v3/mail/send", fake_base);
    bp_http_request req = {.method = "POST",
                           .url = url,
                           .body = GOOD,
                           .body_len = strlen(GOOD),
                           .timeout_ms = 300,
                           .max_response_bytes = 4096};
    bp_http_response resp;
    cr_assert_eq(bp_http_do(&req, &resp), BP_ETIMEDOUT, "hang answers nothing");

    json_t *r;
    cr_assert_eq(control("POST", "/_fake/reset", NULL), 200);
    cr_assert_eq(control("GET", "/_fake/requests", &r), 200);
    cr_assert_eq(json_integer_value(json_object_get(r, "requests")), 0);
    json_decref(r);
    cr_assert_eq(send_json(GOOD, KEY, &a), 202);
    cr_assert_eq(control("POST", "/_fake/mode?status=200", NULL), 400);
}

Test(fake_sendgrid, sandbox_mode_validates_without_sending)
{
    answer a;
    cr_assert_eq(send_json("{" TO_OK "," FROM_OK ",\"subject\":\"s\"," TEXT_OK
                           ",\"mail_settings\":{\"sandbox_mode\":{\"enable\":true}}}",
                           KEY, &a),
                 200);
    json_decref(a.json);
    json_t *list;
    cr_assert_eq(control("GET", "/_fake/messages", &list), 200);
    cr_assert_eq(json_array_size(json_object_get(list, "messages")), 0);
    json_decref(list);
}
