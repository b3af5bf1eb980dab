/* The Twilio stand-in (tests/fakes/twilio.c) against what the notification
 * daemon will rely on: a message created with basic auth, Twilio's error
 * codes for bad input and refused calls, the failure modes, and the status
 * callbacks signed with X-Twilio-Signature (checked here with OpenSSL,
 * independently of the fake's code), retried and forged. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_launch.h"
#include "fake_receiver.h"
#include "bp.h"
#include "http.h"

#define SID   "ACfake00000000000000000000000000000"
#define TOKEN "fake-twilio-token"
#define FROM  "%2B15005550006"
#define TO    "%2B5491155550000"

static pid_t fake_pid;
static char fake_base[64];

/* ---- calling the fake -------------------------------------------------- */

/* POSTs a form (or GETs when form is NULL) to path with basic auth user:pass
 * (none when user is NULL); returns the status and, when out is not NULL,
 * the parsed body (NULL when not JSON; caller decrefs). */
static long api(const char *path, const char *form, const char *user, const char *pass,
                json_t **out)
{
    char auth[320], url[512];
    const char *headers[3] = {"Content-Type: application/x-www-form-urlencoded", NULL, NULL};
    if (user != NULL) {
        char cred[160];
        unsigned char b64[256];
        int n = snprintf(cred, sizeof cred, "%s:%s", user, pass);
        EVP_EncodeBlock(b64, (const unsigned char *)cred, n);
        snprintf(auth, sizeof auth, "Authorization: Basic %s", (const char *)b64);
        headers[1] = auth;
    }
    snprintf(url, sizeof url, "%s%s", fake_base, path);
    bp_http_request req = {.method = form != NULL ? "POST" : "GET",
                           .url = url,
                           .headers = headers,
                           .body = form,
                           .body_len = form != NULL ? strlen(form) : 0,
                           .timeout_ms = 10000,
                           .max_response_bytes = 1 << 20};
    bp_http_response resp;
    cr_assert_eq(bp_http_do(&req, &resp), 0, "the fake did not answer %s", path);
    long status = resp.status;
    if (out != NULL) {
        json_error_t err;
        *out = json_loadb(resp.body, resp.len, 0, &err);
    }
    bp_http_response_free(&resp);
    return status;
}

static long send_sms(const char *form, json_t **out)
{
    return api("/2010-04-01/Accounts/" SID "/Messages.json", form, SID, TOKEN, out);
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

/* ---- the status-callback receiver -------------------------------------- */

static fake_receiver *receiver;

/* Waits up to 5 s for the n-th callback. */
static void wait_callbacks(int n)
{
    cr_assert(fake_receiver_wait(receiver, n, 5000), "callback %d never came", n);
}

/* ---- the receiver's side of X-Twilio-Signature --------------------------- */

typedef struct {
    char name[64], value[256];
} pair;

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c - 'a' + 10;
}

static void decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        if (s[i] == '+')
            out[o++] = ' ';
        else if (s[i] == '%' && i + 2 < n) {
            out[o++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
            i += 2;
        } else
            out[o++] = s[i];
    }
    out[o] = '\0';
}

static size_t parse_form(const char *body, pair *ps, size_t max)
{
    size_t n = 0;
    while (*body != '\0' && n < max) {
        size_t len = strcspn(body, "&");
        const char *eq = memchr(body, '=', len);
        cr_assert_not_null(eq);
        decode(body, (size_t)(eq - body), ps[n].name, sizeof ps[n].name);
        decode(eq + 1, len - (size_t)(eq - body) - 1, ps[n].value, sizeof ps[n].value);
        n++;
        body += len + (body[len] == '&');
    }
    return n;
}

static const char *get(const pair *ps, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ps[i].name, name) == 0)
            return ps[i].value;
    return NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const pair *)a)->name, ((const pair *)b)->name);
}

/* What Twilio's documentation says a receiver computes: the full URL, then
 * each POST parameter sorted by name, name and value with no separators,
 * HMAC-SHA1 keyed with the auth token, base64. */
static void expected_signature(const char *url, pair *ps, size_t n, char out[64])
{
    char data[8192];
    size_t len = (size_t)snprintf(data, sizeof data, "%s", url);
    qsort(ps, n, sizeof *ps, by_name);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(data + len, sizeof data - len, "%s%s", ps[i].name, ps[i].value);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha1(), TOKEN, (int)strlen(TOKEN), (const unsigned char *)data, len, mac, &mac_len);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
}

/* ---- suite --------------------------------------------------------------- */

static void setup(void)
{
    receiver = fake_receiver_start();
    cr_assert_not_null(receiver);
    static const char *const args[] = {"--retry-delays-ms", "50,50", "--callback-delay-ms", "50",
                                       NULL};
    cr_assert_eq(bpt_fake_start("twilio", args, &fake_pid, fake_base, sizeof fake_base), 0,
                 "fake-twilio did not start (see stderr)");
}

static void teardown(void)
{
    if (fake_pid > 0)
        cr_expect_eq(bpt_fake_stop(fake_pid), 0, "fake-twilio did not stop cleanly");
    fake_receiver_stop(receiver);
}

TestSuite(fake_twilio, .init = setup, .fini = teardown, .timeout = 30);

Test(fake_twilio, message_is_created_with_basic_auth)
{
    json_t *m;
    cr_assert_eq(send_sms("To=" TO "&From=" FROM "&Body=Turno+confirmado%3A+viernes+15%3A30", &m),
                 201);
    const char *sid = str(m, "sid");
    cr_assert_eq(strlen(sid), 34);
    cr_assert_eq(strncmp(sid, "SM", 2), 0);
    cr_assert_eq(strspn(sid + 2, "0123456789abcdef"), 32, "sid %s", sid);
    cr_assert_str_eq(str(m, "status"), "queued");
    cr_assert_str_eq(str(m, "to"), "+5491155550000");
    cr_assert_str_eq(str(m, "from"), "+15005550006");
    cr_assert_str_eq(str(m, "body"), "Turno confirmado: viernes 15:30");
    cr_assert_str_eq(str(m, "num_segments"), "1");
    cr_assert_str_eq(str(m, "account_sid"), SID);
    cr_assert_str_eq(str(m, "direction"), "outbound-api");
    cr_assert_str_eq(str(m, "api_version"), "2010-04-01");
    /* RFC 2822 in GMT: "Tue, 27 Nov 2018 16:14:39 +0000". */
    char wd[4], mon[4];
    int day, year, h, mi, s;
    cr_assert_eq(sscanf(str(m, "date_created"), "%3s, %d %3s %d %d:%d:%d +0000", wd, &day, mon,
                        &year, &h, &mi, &s),
                 7, "date_created %s", str(m, "date_created"));
    char uri[128];
    snprintf(uri, sizeof uri, "/2010-04-01/Accounts/%s/Messages/%s.json", SID, sid);
    cr_assert_str_eq(str(m, "uri"), uri);

    json_t *f;
    cr_assert_eq(api(uri, NULL, SID, TOKEN, &f), 200, "the message can be fetched");
    cr_assert_str_eq(str(f, "sid"), sid);
    json_decref(f);
    json_decref(m);

    json_t *last;
    cr_assert_eq(control("GET", "/_fake/last", &last), 200);
    cr_assert_eq(json_integer_value(json_object_get(last, "count")), 1);
    json_t *l = json_object_get(last, "last");
    cr_assert_str_eq(str(l, "To"), "+5491155550000");
    cr_assert_str_eq(str(l, "From"), "+15005550006");
    cr_assert_str_eq(str(l, "Body"), "Turno confirmado: viernes 15:30");
    cr_assert(json_is_true(json_object_get(l, "authorization")));
    char *dump = json_dumps(last, 0);
    cr_assert(strstr(dump, TOKEN) == NULL, "the token is never kept");
    free(dump);
    json_decref(last);

    json_t *list, *req;
    cr_assert_eq(control("GET", "/_fake/messages", &list), 200);
    cr_assert_eq(json_array_size(json_object_get(list, "messages")), 1);
    json_decref(list);
    cr_assert_eq(control("GET", "/_fake/requests", &req), 200);
    cr_assert_eq(json_integer_value(json_object_get(req, "requests")), 2);
    json_decref(req);
}

Test(fake_twilio, api_needs_the_account_sid_and_auth_token)
{
    const char *form = "To=" TO "&From=" FROM "&Body=hola";
    const char *path = "/2010-04-01/Accounts/" SID "/Messages.json";
    json_t *e;
    cr_assert_eq(api(path, form, NULL, NULL, &e), 401);
    cr_assert_eq(json_integer_value(json_object_get(e, "code")), 20003);
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), 401);
    cr_assert_str_eq(str(e, "more_info"), "https://www.twilio.com/docs/errors/20003");
    json_decref(e);
    cr_assert_eq(api(path, form, SID, "wrong-token", NULL), 401);
    cr_assert_eq(api("/2010-04-01/Accounts/ACother/Messages.json", form, SID, TOKEN, &e), 404,
                 "another account's path");
    cr_assert_eq(json_integer_value(json_object_get(e, "code")), 20404);
    json_decref(e);
    json_t *list;
    cr_assert_eq(control("GET", "/_fake/messages", &list), 200);
    cr_assert_eq(json_array_size(json_object_get(list, "messages")), 0, "nothing was sent");
    json_decref(list);
}

Test(fake_twilio, bad_input_gets_twilio_error_codes)
{
    char long_body[1700 + 16] = "To=" TO "&From=" FROM "&Body=";
    size_t n = strlen(long_body);
    memset(long_body + n, 'a', 1601);
    long_body[n + 1601] = '\0';
    static const struct {
        const char *form;
        int code;
    } cases[] = {
        {"From=" FROM "&Body=hola", 21604},                        /* no To */
        {"To=" TO "&Body=hola", 21603},                            /* no From */
        {"To=" TO "&From=" FROM, 21602},                           /* no Body */
        {"To=1155550000&From=" FROM "&Body=hola", 21211},          /* not E.164 */
        {"To=" TO "&From=not%21valid&Body=hola", 21212},           /* bad From */
        {"To=" TO "&From=%2B15005550007&Body=hola", 21606},        /* magic: not owned */
        {"To=%2B15005550004&From=" FROM "&Body=hola", 21610},      /* magic: unsubscribed */
        {"To=" TO "&MessagingServiceSid=MGnope&Body=hola", 21701}, /* bad service */
        {"To=" TO "&From=" FROM "&Body=hola&StatusCallback=ftp%3A%2F%2Fx", 21609},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        json_t *e;
        cr_assert_eq(send_sms(cases[i].form, &e), 400, "%s", cases[i].form);
        cr_assert_eq(json_integer_value(json_object_get(e, "code")), cases[i].code, "%s",
                     cases[i].form);
        cr_assert_eq(json_integer_value(json_object_get(e, "status")), 400);
        cr_assert(json_is_string(json_object_get(e, "message")));
        json_decref(e);
    }
    json_t *e;
    cr_assert_eq(send_sms(long_body, &e), 400);
    cr_assert_eq(json_integer_value(json_object_get(e, "code")), 21617, "over 1600 characters");
    json_decref(e);
}

Test(fake_twilio, segments_follow_the_encoding)
{
    static const struct {
        const char *body;
        const char *segments;
    } cases[] = {
        {"Hola", "1"},
        /* ñ and ¿ are in the GSM-7 alphabet; í is not, so UCS-2. */
        {"%C2%BFMa%C3%B1ana%3F", "1"},
        {"Peluquer%C3%ADa", "1"},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        char form[256];
        snprintf(form, sizeof form, "To=%s&From=%s&Body=%s", TO, FROM, cases[i].body);
        json_t *m;
        cr_assert_eq(send_sms(form, &m), 201);
        cr_assert_str_eq(str(m, "num_segments"), cases[i].segments, "%s", cases[i].body);
        json_decref(m);
    }
    /* 161 GSM-7 characters take two segments; 71 UCS-2 characters too. */
    char form[1024] = "To=" TO "&From=" FROM "&Body=";
    size_t n = strlen(form);
    memset(form + n, 'x', 161);
    form[n + 161] = '\0';
    json_t *m;
    cr_assert_eq(send_sms(form, &m), 201);
    cr_assert_str_eq(str(m, "num_segments"), "2");
    json_decref(m);
    form[n] = '\0';
    for (int i = 0; i < 71; i++)
        strncat(form, "%C3%AD", sizeof form - strlen(form) - 1);
    cr_assert_eq(send_sms(form, &m), 201);
    cr_assert_str_eq(str(m, "num_segments"), "2");
    json_decref(m);
}

Test(fake_twilio, refused_calls_and_failure_modes)
{
    const char *form = "To=" TO "&From=" FROM "&Body=hola";
    json_t *e;
    cr_assert_eq(control("POST", "/_fake/mode?code=20429&count=2", NULL), 200);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(send_sms(form, &e), 429);
        cr_assert_eq(json_integer_value(json_object_get(e, "code")), 20429);
        json_decref(e);
    }
    cr_assert_eq(send_sms(form, NULL), 201, "only count calls are refused");

    cr_assert_eq(control("POST", "/_fake/mode?mode=error", NULL), 200);
    cr_assert_eq(send_sms(form, &e), 500);
    cr_assert_eq(json_integer_value(json_object_get(e, "code")), 20500);
    json_decref(e);

    cr_assert_eq(control("POST", "/_fake/mode?mode=garbage", NULL), 200);
    cr_assert_eq(send_sms(form, &e), 200);
    cr_assert_null(e, "garbage is not JSON");

    cr_assert_eq(control("POST", "/_fake/mode?mode=hang", NULL), 200);
    char url[256];
    snprintf(url, sizeof url, "%s/2010-04-01/Accounts/" SID "/Messages.json", fake_base);
    bp_http_request req = {.method = "POST",
                           .url = url,
                           .body = form,
                           .body_len = strlen(form),
                           .timeout_ms = 300,
                           .max_response_bytes = 4096};
    bp_http_response resp;
    cr_assert_eq(bp_http_do(&req, &resp), BP_ETIMEDOUT, "hang answers nothing");

    cr_assert_eq(control("POST", "/_fake/reset", NULL), 200);
    cr_assert_eq(send_sms(form, NULL), 201);
    cr_assert_eq(control("POST", "/_fake/mode?mode=sideways", NULL), 400);
}

/* Sends a message with a StatusCallback to the receiver; returns its sid
 * (static buffer) and the callback URL in url. */
static const char *send_with_callback(char *url, size_t len)
{
    static char sid[40];
    snprintf(url, len, "http://127.0.0.1:%u/api/webhooks/twilio?n=1", fake_receiver_port(receiver));
    char form[512], enc[256];
    size_t o = 0;
    for (const char *p = url; *p != '\0' && o + 4 < sizeof enc; p++) {
        if (*p == ':' || *p == '/' || *p == '?' || *p == '=')
            o += (size_t)snprintf(enc + o, sizeof enc - o, "%%%02X", (unsigned char)*p);
        else
            enc[o++] = *p;
    }
    enc[o] = '\0';
    snprintf(form, sizeof form, "To=%s&From=%s&Body=Recordatorio&StatusCallback=%s", TO, FROM, enc);
    json_t *m;
    cr_assert_eq(send_sms(form, &m), 201);
    snprintf(sid, sizeof sid, "%s", str(m, "sid"));
    json_decref(m);
    return sid;
}

/* Checks callback i: signed for url, about sid, with status (and error
 * code when not NULL). */
static void check_callback(int i, const char *url, const char *sid, const char *status,
                           const char *error_code, bool signed_ok)
{
    pair ps[32];
    fake_received c;
    cr_assert(fake_receiver_get(receiver, i, &c), "no callback %d", i);
    const char *signature = fake_received_header(&c, "X-Twilio-Signature");
    size_t n = parse_form(c.body, ps, 32);
    cr_assert_str_eq(get(ps, n, "MessageSid"), sid);
    cr_assert_str_eq(get(ps, n, "SmsSid"), sid);
    cr_assert_str_eq(get(ps, n, "AccountSid"), SID);
    cr_assert_str_eq(get(ps, n, "MessageStatus"), status, "callback %d", i);
    cr_assert_str_eq(get(ps, n, "To"), "+5491155550000");
    cr_assert_str_eq(get(ps, n, "From"), "+15005550006");
    if (error_code != NULL)
        cr_assert_str_eq(get(ps, n, "ErrorCode"), error_code);
    else
        cr_assert_null(get(ps, n, "ErrorCode"));
    char want[64];
    expected_signature(url, ps, n, want);
    if (signed_ok)
        cr_assert_str_eq(signature, want, "X-Twilio-Signature of %s", c.body);
    else
        cr_assert_str_neq(signature, want, "a forged signature must not verify");
    fake_received_free(&c);
}

Test(fake_twilio, status_callbacks_are_signed_sent_then_delivered)
{
    char url[128];
    const char *sid = send_with_callback(url, sizeof url);
    wait_callbacks(2);
    check_callback(0, url, sid, "sent", NULL, true);
    check_callback(1, url, sid, "delivered", NULL, true);

    char path[160];
    snprintf(path, sizeof path, "/2010-04-01/Accounts/" SID "/Messages/%s.json", sid);
    json_t *m;
    cr_assert_eq(api(path, NULL, SID, TOKEN, &m), 200);
    cr_assert_str_eq(str(m, "status"), "delivered");
    json_decref(m);
}

Test(fake_twilio, failed_delivery_has_an_error_code_and_is_retried)
{
    fake_receiver_refuse(receiver, 500, 1);
    cr_assert_eq(control("POST", "/_fake/outcome?outcome=failed&error_code=30007", NULL), 200);
    char url[128];
    const char *sid = send_with_callback(url, sizeof url);
    wait_callbacks(2); /* a refusal, then the retry */
    check_callback(0, url, sid, "failed", "30007", true);
    check_callback(1, url, sid, "failed", "30007", true);

    json_t *w;
    cr_assert_eq(control("GET", "/_fake/webhooks", &w), 200);
    json_t *d = json_object_get(w, "deliveries");
    cr_assert_eq(json_array_size(d), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(d, 0), "http_status")), 500);
    cr_assert_str_eq(str(json_array_get(d, 1), "outcome"), "delivered");
    json_decref(w);
}

Test(fake_twilio, undelivered_and_forged_callbacks)
{
    cr_assert_eq(control("POST", "/_fake/outcome?outcome=undelivered", NULL), 200);
    char url[128];
    const char *sid = send_with_callback(url, sizeof url);
    wait_callbacks(2);
    check_callback(1, url, sid, "undelivered", "30003", true);

    char path[160];
    snprintf(path, sizeof path, "/_fake/callback?sid=%s&status=delivered&signature=bad", sid);
    cr_assert_eq(control("POST", path, NULL), 200);
    wait_callbacks(3);
    check_callback(2, url, sid, "delivered", NULL, false);
    snprintf(path, sizeof path, "/_fake/callback?sid=%s&status=read&signature=missing", sid);
    cr_assert_eq(control("POST", path, NULL), 200);
    wait_callbacks(4);
    fake_received c;
    cr_assert(fake_receiver_get(receiver, 3, &c));
    cr_assert_str_eq(fake_received_header(&c, "X-Twilio-Signature"), "", "no X-Twilio-Signature");
    fake_received_free(&c);
    cr_assert_eq(control("POST", "/_fake/callback?sid=SMnope&status=sent", NULL), 404);
}
