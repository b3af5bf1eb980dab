/* The WhatsApp Cloud API stand-in (tests/fakes/whatsapp.c) against what the
 * notification daemon will rely on: a template message accepted with a
 * wamid, the Bearer token and the phone number id checked, malformed bodies
 * refused with Meta's code 100, Meta's error codes for the next N messages,
 * status webhooks (sent, delivered, read, failed) whose X-Hub-Signature-256
 * is checked here with OpenSSL over the exact raw body, statuses on demand,
 * retries, and reset. Starts the built binary, like booking_rates_test.c. */
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

#define TOKEN    "fake-whatsapp-token"
#define SECRET   "fake-whatsapp-app-secret"
#define PHONE_ID "123456789012345"
#define TO       "5491123456789"

static pid_t fake_pid;
static char fake_base[64];

/* ---- the webhook receiver --------------------------------------------- */

static fake_receiver *receiver;

/* Waits up to 5 s until n webhooks came. */
static void wait_webhooks(int n)
{
    cr_assert(fake_receiver_wait(receiver, n, 5000), "webhook %d never came", n);
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The i-th webhook that came: checks its signature over the raw body with
 * OpenSSL, then returns the parsed body (caller decrefs). */
static json_t *signed_webhook(int i)
{
    fake_received w;
    cr_assert(fake_receiver_get(receiver, i, &w), "no webhook %d", i);
    const char *signature = fake_received_header(&w, "X-Hub-Signature-256");
    const char *content_type = fake_received_header(&w, "Content-Type");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)w.body, w.len, mac,
         &len);
    char want[80] = "sha256=";
    for (unsigned k = 0; k < len; k++)
        snprintf(want + 7 + 2 * k, 3, "%02x", mac[k]);
    cr_assert_str_eq(signature, want, "X-Hub-Signature-256 of %s", w.body);
    cr_assert(strncmp(content_type, "application/json", 16) == 0, "%s", content_type);
    json_error_t err;
    json_t *o = json_loadb(w.body, w.len, 0, &err);
    cr_assert_not_null(o, "webhook body is not JSON: %s", w.body);
    fake_received_free(&w);
    return o;
}

/* The one status of a webhook body: entry[0].changes[0].value.statuses[0],
 * after checking the envelope Meta wraps it in. Borrowed from o. */
static json_t *the_status(json_t *o)
{
    cr_assert_str_eq(json_string_value(json_object_get(o, "object")), "whatsapp_business_account");
    json_t *entry = json_array_get(json_object_get(o, "entry"), 0);
    cr_assert(json_is_string(json_object_get(entry, "id")));
    json_t *change = json_array_get(json_object_get(entry, "changes"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(change, "field")), "messages");
    json_t *value = json_object_get(change, "value");
    cr_assert_str_eq(json_string_value(json_object_get(value, "messaging_product")), "whatsapp");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(value, "metadata"), "phone_number_id")),
        PHONE_ID);
    json_t *statuses = json_object_get(value, "statuses");
    cr_assert_eq(json_array_size(statuses), 1);
    return json_array_get(statuses, 0);
}

/* ---- the fake ---------------------------------------------------------- */

static void setup(void)
{
    receiver = fake_receiver_start();
    cr_assert_not_null(receiver);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/webhooks/whatsapp",
             fake_receiver_port(receiver));
    /* Short retry delays keep the retry test fast. */
    const char *const args[] = {"--webhook-url", url, "--retry-delays-ms", "50,50", NULL};
    cr_assert_eq(bpt_fake_start("whatsapp", args, &fake_pid, fake_base, sizeof fake_base), 0,
                 "fake-whatsapp did not start (see stderr)");
}

static void teardown(void)
{
    if (fake_pid > 0)
        cr_expect_eq(bpt_fake_stop(fake_pid), 0, "fake-whatsapp did not stop cleanly");
    fake_receiver_stop(receiver);
}

TestSuite(fake_whatsapp, .init = setup, .fini = teardown, .timeout = 30);

/* A request to the fake; token NULL leaves Authorization out. Returns the
 * status; *out (when out is not NULL) the parsed body, caller decrefs. */
static long call(const char *method, const char *path, const char *token, const char *body,
                 json_t **out)
{
    char auth[128];
    const char *headers[2] = {NULL, NULL};
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers[0] = auth;
    }
    long status = bpt_fake_call(fake_base, method, path, body, headers, out);
    cr_assert_neq(status, -1, "the fake did not answer %s %s", method, path);
    if (out != NULL)
        cr_assert_not_null(*out, "%s %s: not JSON", method, path);
    return status;
}

static long control(const char *path)
{
    return call("POST", path, NULL, NULL, NULL);
}

/* Meta's error object: checks its shape and returns error.code. */
static long error_code(json_t *o)
{
    json_t *e = json_object_get(o, "error");
    cr_assert(json_is_object(e), "no error object");
    cr_assert(json_is_string(json_object_get(e, "message")));
    cr_assert(json_string_length(json_object_get(e, "message")) > 0);
    cr_assert(json_is_string(json_object_get(e, "type")));
    cr_assert(json_is_string(json_object_get(e, "fbtrace_id")));
    cr_assert(json_is_integer(json_object_get(e, "code")));
    return (long)json_integer_value(json_object_get(e, "code"));
}

#define TEMPLATE_BODY                                                                              \
    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\",\"to\":\"" TO "\","     \
    "\"type\":\"template\",\"template\":{\"name\":\"reserva_confirmada\","                         \
    "\"language\":{\"code\":\"es_AR\"},\"components\":[{\"type\":\"body\",\"parameters\":["        \
    "{\"type\":\"text\",\"text\":\"Juan\"},"                                                       \
    "{\"type\":\"text\",\"text\":\"viernes 4 de diciembre, 15:30\"}]}]}}"

#define MESSAGES_PATH "/v19.0/" PHONE_ID "/messages"

/* Sends TEMPLATE_BODY; returns the wamid (static buffer). */
static const char *send_template(void)
{
    static char id[128];
    json_t *r;
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, &r), 200);
    snprintf(id, sizeof id, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(r, "messages"), 0), "id")));
    json_decref(r);
    return id;
}

/* Appends s to out, percent-encoding what a query value must not hold. */
static void query_escape(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s != '\0' && o + 4 < len; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            strchr("-_.~", *s) != NULL)
            out[o++] = *s;
        else
            o += (size_t)snprintf(out + o, len - o, "%%%02X", (unsigned char)*s);
    }
    out[o] = '\0';
}

Test(fake_whatsapp, template_message_is_accepted_with_a_wamid)
{
    json_t *r;
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, &r), 200);
    cr_assert_str_eq(json_string_value(json_object_get(r, "messaging_product")), "whatsapp");
    json_t *contact = json_array_get(json_object_get(r, "contacts"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(contact, "input")), TO);
    cr_assert_str_eq(json_string_value(json_object_get(contact, "wa_id")), TO);
    json_t *msg = json_array_get(json_object_get(r, "messages"), 0);
    const char *id = json_string_value(json_object_get(msg, "id"));
    cr_assert(id != NULL && strncmp(id, "wamid.", 6) == 0, "id %s", id);
    cr_assert_str_eq(json_string_value(json_object_get(msg, "message_status")), "accepted");
    char first[128];
    snprintf(first, sizeof first, "%s", id);
    json_decref(r);

    /* The version is optional in the path, and every message has its own id. */
    cr_assert_eq(call("POST", "/" PHONE_ID "/messages", TOKEN, TEMPLATE_BODY, &r), 200);
    const char *second =
        json_string_value(json_object_get(json_array_get(json_object_get(r, "messages"), 0), "id"));
    cr_assert_str_neq(second, first);
    json_decref(r);

    /* A text message gets no message_status. */
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN,
                      "{\"messaging_product\":\"whatsapp\",\"to\":\"+54 9 11 2345-6789\","
                      "\"type\":\"text\",\"text\":{\"body\":\"Hola\"}}",
                      &r),
                 200);
    msg = json_array_get(json_object_get(r, "messages"), 0);
    cr_assert_null(json_object_get(msg, "message_status"));
    contact = json_array_get(json_object_get(r, "contacts"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(contact, "input")), "+54 9 11 2345-6789");
    cr_assert_str_eq(json_string_value(json_object_get(contact, "wa_id")), TO);
    json_decref(r);

    /* What the client sent, never the token. */
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, NULL), 200);
    json_t *last;
    cr_assert_eq(call("GET", "/_fake/last", NULL, NULL, &last), 200);
    cr_assert_eq(json_integer_value(json_object_get(last, "count")), 4);
    json_t *l = json_object_get(last, "last");
    cr_assert_str_eq(json_string_value(json_object_get(l, "to")), TO);
    cr_assert_str_eq(json_string_value(json_object_get(l, "template")), "reserva_confirmada");
    cr_assert_str_eq(json_string_value(json_object_get(l, "language")), "es_AR");
    cr_assert_str_eq(json_string_value(json_object_get(l, "version")), "v19.0");
    json_t *params = json_object_get(l, "parameters");
    cr_assert_eq(json_array_size(params), 2);
    cr_assert_str_eq(json_string_value(json_array_get(params, 1)), "viernes 4 de diciembre, 15:30");
    cr_assert(json_is_true(json_object_get(l, "authorization")));
    char *dump = json_dumps(last, 0);
    cr_assert(strstr(dump, TOKEN) == NULL, "the token leaked into /_fake/last");
    free(dump);
    json_decref(last);

    json_t *all;
    cr_assert_eq(call("GET", "/_fake/messages", NULL, NULL, &all), 200);
    cr_assert_eq(json_array_size(json_object_get(all, "messages")), 4);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(all, "messages"), 0), "id")),
                     first);
    json_decref(all);
}

Test(fake_whatsapp, missing_or_wrong_token_is_401_code_190)
{
    const char *tokens[] = {NULL, "not-the-token"};
    for (size_t i = 0; i < 2; i++) {
        json_t *e;
        cr_assert_eq(call("POST", MESSAGES_PATH, tokens[i], TEMPLATE_BODY, &e), 401);
        cr_assert_eq(error_code(e), 190);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "error"), "type")),
                         "OAuthException");
        json_decref(e);
    }
    json_t *m;
    cr_assert_eq(call("GET", "/_fake/messages", NULL, NULL, &m), 200);
    cr_assert_eq(json_array_size(json_object_get(m, "messages")), 0, "nothing was accepted");
    json_decref(m);
}

Test(fake_whatsapp, another_phone_number_id_is_400_code_100)
{
    json_t *e;
    cr_assert_eq(call("POST", "/v19.0/999999999999999/messages", TOKEN, TEMPLATE_BODY, &e), 400);
    cr_assert_eq(error_code(e), 100);
    json_decref(e);
}

/* Bodies the Cloud API refuses with code 100, each with what is wrong. */
static const struct {
    const char *why;
    const char *body;
} malformed[] = {
    {"not JSON", "{\"messaging_product\":"},
    {"not an object", "[1,2]"},
    {"no messaging_product", "{\"to\":\"" TO "\",\"type\":\"text\",\"text\":{\"body\":\"x\"}}"},
    {"another product", "{\"messaging_product\":\"sms\",\"to\":\"" TO
                        "\",\"type\":\"text\",\"text\":{\"body\":\"x\"}}"},
    {"no to", "{\"messaging_product\":\"whatsapp\",\"type\":\"text\",\"text\":{\"body\":\"x\"}}"},
    {"to not a phone number", "{\"messaging_product\":\"whatsapp\",\"to\":\"juan\",\"type\":"
                              "\"text\",\"text\":{\"body\":\"x\"}}"},
    {"unknown type",
     "{\"messaging_product\":\"whatsapp\",\"to\":\"" TO "\",\"type\":\"fax\",\"text\":{}}"},
    {"text without body",
     "{\"messaging_product\":\"whatsapp\",\"to\":\"" TO "\",\"type\":\"text\",\"text\":{}}"},
    {"template without name",
     "{\"messaging_product\":\"whatsapp\",\"to\":\"" TO "\",\"type\":\"template\","
     "\"template\":{\"language\":{\"code\":\"es_AR\"}}}"},
    {"template without language",
     "{\"messaging_product\":\"whatsapp\",\"to\":\"" TO "\",\"type\":\"template\","
     "\"template\":{\"name\":\"reserva_confirmada\"}}"},
    {"text parameter without text",
     "{\"messaging_product\":\"whatsapp\",\"to\":\"" TO "\",\"type\":\"template\","
     "\"template\":{\"name\":\"reserva_confirmada\",\"language\":{\"code\":\"es_AR\"},"
     "\"components\":[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\"}]}]}}"},
    {"empty text parameter",
     "{\"messaging_product\":\"whatsapp\",\"to\":\"" TO "\",\"type\":\"template\","
     "\"template\":{\"name\":\"reserva_confirmada\",\"language\":{\"code\":\"es_AR\"},"
     "\"components\":[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\",\"text\":\"\"}]}]}}"},
    {"unknown component",
     "{\"messaging_product\":\"whatsapp\",\"to\":\"" TO "\",\"type\":\"template\","
     "\"template\":{\"name\":\"reserva_confirmada\",\"language\":{\"code\":\"es_AR\"},"
     "\"components\":[{\"type\":\"trailer\"}]}}"},
};

Test(fake_whatsapp, malformed_bodies_are_400_code_100)
{
    for (size_t i = 0; i < BP_COUNTOF(malformed); i++) {
        json_t *e;
        cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, malformed[i].body, &e), 400, "%s",
                     malformed[i].why);
        cr_assert_eq(error_code(e), 100, "%s", malformed[i].why);
        const char *msg =
            json_string_value(json_object_get(json_object_get(e, "error"), "message"));
        cr_assert(strncmp(msg, "(#100) ", 7) == 0 && strlen(msg) > 12, "%s: %s", malformed[i].why,
                  msg);
        json_decref(e);
    }
    /* A text of more than 4096 characters. */
    static char big[8192];
    int n = snprintf(big, sizeof big,
                     "{\"messaging_product\":\"whatsapp\",\"to\":\"" TO "\",\"type\":\"text\","
                     "\"text\":{\"body\":\"");
    memset(big + n, 'a', 4097);
    snprintf(big + n + 4097, sizeof big - (size_t)n - 4097, "\"}}");
    json_t *e;
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, big, &e), 400);
    cr_assert_eq(error_code(e), 100);
    json_decref(e);

    json_t *r;
    cr_assert_eq(call("GET", "/_fake/requests", NULL, NULL, &r), 200);
    cr_assert_eq(json_integer_value(json_object_get(r, "requests")),
                 (json_int_t)BP_COUNTOF(malformed) + 1);
    json_decref(r);
}

/* Meta's codes and the HTTP status each comes with. */
static const struct {
    int code;
    long http;
} coded[] = {
    {131026, 400}, /* undeliverable: fall back */
    {131047, 400}, /* re-engagement: fall back */
    {131056, 429}, /* pair rate limit: retry */
    {130429, 429}, /* throughput: retry */
    {131000, 500}, /* something went wrong: retry */
    {133004, 503}, /* server temporarily unavailable: retry */
    {190, 401},    /* expired token: stop and alert */
};

Test(fake_whatsapp, error_codes_apply_to_the_next_count_messages)
{
    for (size_t i = 0; i < BP_COUNTOF(coded); i++) {
        char path[96];
        snprintf(path, sizeof path, "/_fake/mode?code=%d&count=2", coded[i].code);
        cr_assert_eq(control(path), 200);
        for (int k = 0; k < 2; k++) {
            json_t *e;
            cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, &e), coded[i].http,
                         "code %d", coded[i].code);
            cr_assert_eq(error_code(e), coded[i].code);
            json_decref(e);
        }
        cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, NULL), 200,
                     "the third message after code=%d&count=2 goes through", coded[i].code);
    }

    /* The status can be chosen, for the 400 some clients see for 131056. */
    cr_assert_eq(control("/_fake/mode?mode=code&code=131056&status=400&count=1"), 200);
    json_t *e;
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, &e), 400);
    cr_assert_eq(error_code(e), 131056);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
                     "(#131056)") != NULL);
    json_decref(e);

    /* error is a 500 in Meta's shape; garbage a 200 that is not JSON. */
    cr_assert_eq(control("/_fake/mode?mode=error&count=1"), 200);
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, &e), 500);
    error_code(e);
    json_decref(e);
    cr_assert_eq(control("/_fake/mode?mode=garbage&count=1"), 200);
    cr_assert_eq(bpt_fake_call(fake_base, "POST", MESSAGES_PATH, TEMPLATE_BODY,
                               (const char *const[]){"Authorization: Bearer " TOKEN, NULL}, &e),
                 200);
    cr_assert_null(e, "garbage is not JSON");
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, NULL), 200);

    /* Without count the mode stays. */
    cr_assert_eq(control("/_fake/mode?code=131047"), 200);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, NULL), 400);
    cr_assert_eq(control("/_fake/mode?mode=ok"), 200);
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, NULL), 200);
    cr_assert_eq(control("/_fake/mode?mode=sideways"), 400);
}

Test(fake_whatsapp, accepted_message_gets_signed_sent_and_delivered_webhooks)
{
    const char *id = send_template();
    wait_webhooks(2);
    const char *want[] = {"sent", "delivered"};
    for (int i = 0; i < 2; i++) {
        json_t *o = signed_webhook(i);
        json_t *s = the_status(o);
        cr_assert_str_eq(json_string_value(json_object_get(s, "id")), id);
        cr_assert_str_eq(json_string_value(json_object_get(s, "status")), want[i]);
        cr_assert_str_eq(json_string_value(json_object_get(s, "recipient_id")), TO);
        const char *ts = json_string_value(json_object_get(s, "timestamp"));
        cr_assert_not_null(ts, "timestamp is a string");
        cr_assert_lt(llabs(strtoll(ts, NULL, 10) - bp_now_ms() / 1000), 60, "unix seconds");
        cr_assert(json_is_object(json_object_get(s, "pricing")));
        json_decref(o);
    }
    json_t *w;
    cr_assert_eq(call("GET", "/_fake/webhooks", NULL, NULL, &w), 200);
    json_t *d = json_object_get(w, "deliveries");
    cr_assert_eq(json_array_size(d), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 1), "outcome")),
                     "delivered");
    json_decref(w);
}

Test(fake_whatsapp, webhook_is_retried_until_a_200)
{
    fake_receiver_refuse(receiver, 500, 2);
    char url[128];
    snprintf(url, sizeof url, "/_fake/webhook?url=http://127.0.0.1:%u/hook&auto=read",
             fake_receiver_port(receiver));
    cr_assert_eq(control(url), 200);
    send_template();
    wait_webhooks(3);
    nap_ms(300);
    cr_assert_eq(fake_receiver_count(receiver), 3, "two refusals, then the 200, then nothing");
    json_t *o = signed_webhook(2);
    cr_assert_str_eq(json_string_value(json_object_get(the_status(o), "status")), "read");
    json_decref(o);
}

Test(fake_whatsapp, status_on_demand_failed_read_and_forged)
{
    cr_assert_eq(control("/_fake/webhook?url=&auto=none"), 200);
    char id[128], esc[256], path[512];
    snprintf(id, sizeof id, "%s", send_template());
    query_escape(id, esc, sizeof esc);
    snprintf(path, sizeof path, "/_fake/status?message_id=%s&status=read", esc);
    cr_assert_eq(control(path), 409, "no webhook url now");
    char url[128];
    snprintf(url, sizeof url, "/_fake/webhook?url=http://127.0.0.1:%u/hook",
             fake_receiver_port(receiver));
    cr_assert_eq(control(url), 200);
    cr_assert_eq(control("/_fake/status?message_id=wamid.nope&status=read"), 404);

    snprintf(path, sizeof path, "/_fake/status?message_id=%s&status=failed&code=131026", esc);
    cr_assert_eq(control(path), 200);
    wait_webhooks(1);
    json_t *o = signed_webhook(0);
    json_t *s = the_status(o);
    cr_assert_str_eq(json_string_value(json_object_get(s, "id")), id);
    cr_assert_str_eq(json_string_value(json_object_get(s, "status")), "failed");
    json_t *err = json_array_get(json_object_get(s, "errors"), 0);
    cr_assert_eq(json_integer_value(json_object_get(err, "code")), 131026);
    cr_assert(json_is_string(json_object_get(err, "title")));
    cr_assert(json_is_string(json_object_get(json_object_get(err, "error_data"), "details")));
    cr_assert_null(json_object_get(s, "pricing"));
    json_decref(o);

    snprintf(path, sizeof path, "/_fake/status?message_id=%s&status=read&signature=bad", esc);
    cr_assert_eq(control(path), 200);
    wait_webhooks(2);
    fake_received forged;
    cr_assert(fake_receiver_get(receiver, 1, &forged));
    const char *forged_sig = fake_received_header(&forged, "X-Hub-Signature-256");
    cr_assert(strncmp(forged_sig, "sha256=", 7) == 0 && strlen(forged_sig) == 71);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)forged.body, forged.len,
         mac, &len);
    char hex[65];
    for (unsigned k = 0; k < 32; k++)
        snprintf(hex + 2 * k, 3, "%02x", mac[k]);
    cr_assert_str_neq(forged_sig + 7, hex, "a forged signature does not verify");
    fake_received_free(&forged);

    snprintf(path, sizeof path, "/_fake/status?message_id=%s&status=read&signature=missing", esc);
    cr_assert_eq(control(path), 200);
    wait_webhooks(3);
    fake_received missing;
    cr_assert(fake_receiver_get(receiver, 2, &missing));
    cr_assert_str_eq(fake_received_header(&missing, "X-Hub-Signature-256"), "");
    fake_received_free(&missing);
}

Test(fake_whatsapp, reset_forgets_everything)
{
    cr_assert_eq(control("/_fake/mode?code=131000&count=5"), 200);
    cr_assert_eq(call("POST", MESSAGES_PATH, TOKEN, TEMPLATE_BODY, NULL), 500);
    cr_assert_eq(control("/_fake/mode?mode=ok"), 200);
    send_template();
    wait_webhooks(2);
    cr_assert_eq(control("/_fake/reset"), 200);

    json_t *r;
    cr_assert_eq(call("GET", "/_fake/requests", NULL, NULL, &r), 200);
    cr_assert_eq(json_integer_value(json_object_get(r, "requests")), 0);
    json_decref(r);
    cr_assert_eq(call("GET", "/_fake/messages", NULL, NULL, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r, "messages")), 0);
    json_decref(r);
    cr_assert_eq(call("GET", "/_fake/webhooks", NULL, NULL, &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r, "deliveries")), 0);
    cr_assert_eq(json_integer_value(json_object_get(r, "queued")), 0);
    json_decref(r);
    cr_assert_eq(call("GET", "/_fake/last", NULL, NULL, &r), 200);
    cr_assert_eq(json_integer_value(json_object_get(r, "count")), 0);
    cr_assert(json_is_null(json_object_get(r, "last")));
    json_decref(r);

    /* The mode is ok again and the start-up webhook URL still holds. */
    send_template();
    wait_webhooks(4);
}
