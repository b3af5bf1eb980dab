/* The notification daemon's sender against the stand-ins of WhatsApp,
 * Twilio and SendGrid: a confirmation goes on WhatsApp as a template in
 * es_AR (the Argentine mobile's 9 removed); WhatsApp refusing the number
 * falls back to SMS; a rate limit or a 500 is tried again on WhatsApp; a
 * withdrawn WhatsApp consent goes by SMS; no phone goes by email. The
 * stand-ins' state is global, so each test sets the mode it needs and
 * leaves "ok" behind (test.sh runs one test at a time). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 10000

static void wa_ok(void)
{
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/mode?mode=ok"));
}

TestSuite(notification_send, .init = wa_ok, .fini = wa_ok, .timeout = 90);

/* A shop, and its client with the phone given (NULL: none). */
static void setup(bpt_shop *f, const char *phone)
{
    cr_assert_eq(bpt_shop_new(f), 0);
    if (phone != NULL) {
        bpt_response *r =
            bpt_http_pack("PATCH", "/api/users/me", f->client.token, "{s:s}", "phone", phone);
        cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
        bpt_response_free(r);
    }
}

static void book(const bpt_shop *f, char id[64])
{
    char at[32];
    long day = bpt_workday(3, 0);
    cr_assert(day >= 0);
    bpt_ba_at(day, "15:00", at);
    bpt_response *r = bpt_book(f->client.token, f, f->corte_id, at);
    cr_assert(r != NULL && r->status == 201, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    snprintf(id, 64, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
}

/* Waits until the client's booking_confirmed of booking is sent; returns
 * its row (the caller decrefs). */
static json_t *wait_sent(const bpt_shop *f, const char *booking)
{
    char path[160];
    snprintf(path, sizeof path, "/api/notifications?booking_id=%s", booking);
    json_t *last = NULL;
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        bpt_response *r = bpt_http_json("GET", path, f->client.token, NULL);
        cr_assert(r != NULL && r->status == 200);
        size_t i;
        json_t *it;
        json_array_foreach(bpt_json_at(r->json, "items"), i, it)
        {
            if (strcmp(json_string_value(json_object_get(it, "template")), "booking_confirmed") !=
                0)
                continue;
            json_decref(last);
            last = json_incref(it);
        }
        bpt_response_free(r);
        const char *st = last != NULL ? json_string_value(json_object_get(last, "status")) : NULL;
        if (st != NULL && strcmp(st, "sent") == 0)
            return last;
        bpt_sleep_ms(50);
    }
    char *dump = last != NULL ? json_dumps(last, 0) : NULL;
    cr_assert_fail("the confirmation was never sent: %s", dump != NULL ? dump : "(no row)");
    return NULL;
}

/* The stand-in's messages whose field equals value. */
static int count_where(const char *url_var, const char *list, const char *field, const char *value)
{
    json_t *doc = bpt_fake_json(url_var, "GET", "/_fake/%s", list);
    cr_assert_not_null(doc);
    json_t *items = json_is_array(doc) ? doc : json_object_get(doc, list);
    int n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *v = json_string_value(json_object_get(it, field));
        n += v != NULL && strcmp(v, value) == 0;
    }
    json_decref(doc);
    return n;
}

Test(notification_send, a_confirmation_goes_on_whatsapp)
{
    bpt_shop f;
    setup(&f, "+5491155550101");
    char booking[64];
    book(&f, booking);
    json_t *n = wait_sent(&f, booking);
    cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "whatsapp");
    json_decref(n);
    /* Sent as a template to the number without the mobile's 9. */
    json_t *last = bpt_fake_json("WHATSAPP_API_URL", "GET", "/_fake/last");
    cr_assert_not_null(last);
    char *dump = json_dumps(last, 0);
    cr_expect(strstr(dump, "541155550101") != NULL, "to without the 9: %s", dump);
    cr_expect(strstr(dump, "es_AR") != NULL, "%s", dump);
    free(dump);
    json_decref(last);
}

Test(notification_send, an_undeliverable_number_falls_back_to_sms)
{
    bpt_shop f;
    setup(&f, "+5491155550202");
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/mode?code=131026"));
    char booking[64];
    book(&f, booking);
    json_t *n = wait_sent(&f, booking);
    cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "sms");
    json_decref(n);
    cr_expect_geq(count_where("TWILIO_API_URL", "messages", "to", "+5491155550202"), 1);
}

Test(notification_send, a_rate_limit_and_a_500_are_tried_again)
{
    bpt_shop f;
    setup(&f, "+5491155550303");
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/mode?code=130429&count=1"));
    char booking[64];
    book(&f, booking);
    json_t *n = wait_sent(&f, booking);
    cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "whatsapp");
    cr_expect_geq(json_integer_value(json_object_get(n, "attempts")), 2, "tried again");
    json_decref(n);

    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/mode?mode=error&count=1"));
    bpt_shop g;
    setup(&g, "+5491155550304");
    book(&g, booking);
    n = wait_sent(&g, booking);
    cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "whatsapp");
    json_decref(n);
}

Test(notification_send, a_withdrawn_whatsapp_consent_goes_by_sms_and_no_phone_by_email)
{
    bpt_shop f;
    setup(&f, "+5491155550404");
    bpt_response *r =
        bpt_http_pack("PUT", "/api/users/me/consents", f.client.token, "{s:b}", "whatsapp", 0);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    bpt_response_free(r);
    char booking[64];
    book(&f, booking);
    json_t *n = wait_sent(&f, booking);
    cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "sms");
    json_decref(n);

    bpt_shop g;
    setup(&g, NULL);
    book(&g, booking);
    n = wait_sent(&g, booking);
    cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "email");
    json_decref(n);
}

/* The id WhatsApp gave the last message to to (digits). */
static void wamid_to(const char *to, char *out, size_t len)
{
    json_t *doc = bpt_fake_json("WHATSAPP_API_URL", "GET", "/_fake/messages");
    cr_assert_not_null(doc);
    out[0] = '\0';
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(doc, "messages"), i, it)
    {
        const char *t = json_string_value(json_object_get(it, "to"));
        if (t != NULL && strcmp(t, to) == 0)
            snprintf(out, len, "%s", json_string_value(json_object_get(it, "id")));
    }
    json_decref(doc);
    cr_assert_neq(out[0], '\0', "WhatsApp got no message to %s", to);
}

/* The client's confirmation of booking when it has status, else NULL. */
static json_t *find_status(const bpt_shop *f, const char *booking, const char *status)
{
    char path[160];
    snprintf(path, sizeof path, "/api/notifications?booking_id=%s", booking);
    bpt_response *r = bpt_http_json("GET", path, f->client.token, NULL);
    if (r == NULL || r->status != 200) { /* a daemon restarting: ask again */
        bpt_response_free(r);
        return NULL;
    }
    size_t i;
    json_t *it, *found = NULL;
    json_array_foreach(bpt_json_at(r->json, "items"), i, it)
    {
        if (found == NULL &&
            strcmp(json_string_value(json_object_get(it, "template")), "booking_confirmed") == 0 &&
            strcmp(json_string_value(json_object_get(it, "status")), status) == 0)
            found = json_incref(it);
    }
    bpt_response_free(r);
    return found;
}

/* Waits until the client's confirmation of booking has status. */
static json_t *wait_status(const bpt_shop *f, const char *booking, const char *status)
{
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        json_t *found = find_status(f, booking, status);
        if (found != NULL)
            return found;
        bpt_sleep_ms(50);
    }
    cr_assert_fail("the confirmation never became %s", status);
    return NULL;
}

Test(notification_send, delivery_statuses_apply_forward_and_a_failure_falls_back)
{
    /* Meta's signed statuses (sent, then delivered) reach the gateway. */
    bpt_shop f;
    setup(&f, "+5491155550505");
    char booking[64];
    book(&f, booking);
    json_t *n = wait_status(&f, booking, "delivered");
    cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "whatsapp");
    cr_expect_not_null(json_string_value(json_object_get(n, "delivered_at")));
    json_decref(n);
    /* A late "sent" changes nothing. */
    char wamid[128];
    wamid_to("541155550505", wamid, sizeof wamid);
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/status?message_id=%s&status=sent",
                              wamid));
    bpt_sleep_ms(300);
    json_decref(wait_status(&f, booking, "delivered"));

    /* Without automatic statuses, a failed one sends it again by SMS. */
    char hook[256];
    snprintf(hook, sizeof hook, "%s/api/webhooks/whatsapp", bpt_base_url());
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/webhook?url=%s&auto=none", hook));
    bpt_shop g;
    setup(&g, "+5491155550606");
    book(&g, booking);
    json_decref(wait_sent(&g, booking));
    wamid_to("541155550606", wamid, sizeof wamid);
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST",
                              "/_fake/status?message_id=%s&status=failed&code=131026", wamid));
    n = wait_status(&g, booking, "delivered"); /* by SMS, which Twilio reports delivered */
    cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "sms");
    json_decref(n);
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST",
                              "/_fake/webhook?url=%s&auto=sent,delivered", hook));
}

Test(notification_send, forged_statuses_are_refused_and_the_subscription_check_answers)
{
    const char *body = "{\"object\":\"whatsapp_business_account\",\"entry\":[]}";
    const char *forged[] = {"Content-Type: application/json",
                            "X-Hub-Signature-256: sha256=0000000000000000000000000000000000000000"
                            "000000000000000000000000",
                            NULL};
    bpt_response *r = bpt_http("POST", "/api/webhooks/whatsapp", forged, body, strlen(body));
    cr_expect(bpt_error_is(r, 401, "unauthorized"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
    const char *unsigned_[] = {"Content-Type: application/json", NULL};
    r = bpt_http("POST", "/api/webhooks/whatsapp", unsigned_, body, strlen(body));
    cr_expect(bpt_error_is(r, 401, "unauthorized"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded",
                          "X-Twilio-Signature: AAAAAAAAAAAAAAAAAAAAAAAAAAA=", NULL};
    const char *tw = "MessageSid=SM00000000000000000000000000000000&MessageStatus=delivered";
    r = bpt_http("POST", "/api/webhooks/twilio", form, tw, strlen(tw));
    cr_expect(bpt_error_is(r, 401, "unauthorized"), "%ld %s", r->status, r->body);
    bpt_response_free(r);

    r = bpt_http("GET",
                 "/api/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=fake-verify-token"
                 "&hub.challenge=1158201444",
                 NULL, NULL, 0);
    cr_expect_eq(r->status, 200, "%ld %s", r->status, r->body);
    cr_expect_str_eq(r->body, "1158201444");
    bpt_response_free(r);
    r = bpt_http("GET",
                 "/api/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=otro&hub.challenge=1",
                 NULL, NULL, 0);
    cr_expect(bpt_error_is(r, 403, "forbidden"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
}

Test(notification_send, a_failed_sms_goes_by_email)
{
    bpt_shop f;
    setup(&f, "+5491155550707");
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/mode?code=131026&count=1"));
    json_decref(bpt_fake_json("TWILIO_API_URL", "POST", "/_fake/mode?code=21614&count=1"));
    char booking[64];
    book(&f, booking);
    json_t *n = wait_sent(&f, booking);
    cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "email");
    json_decref(n);
}

/* Killed while WhatsApp holds the call: the row stays `sending`, and once
 * its lease ends the restarted daemon sends it. */
Test(notification_send, a_daemon_killed_mid_send_sends_after_its_lease, .timeout = 120)
{
    bpt_shop f;
    setup(&f, "+5491155550808");
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/mode?mode=hang&count=1"));
    char booking[64];
    book(&f, booking);
    json_decref(wait_status(&f, booking, "sending"));
    cr_assert_eq(bpt_daemon_kill("notification"), 0);
    cr_assert_eq(bpt_daemon_restart("notification", 10000), 0);
    for (int waited = 0; waited < 30000; waited += 100) {
        json_t *n = find_status(&f, booking, "sent");
        if (n == NULL)
            n = find_status(&f, booking, "delivered");
        if (n != NULL) {
            cr_expect_str_eq(json_string_value(json_object_get(n, "channel")), "whatsapp");
            json_decref(n);
            return;
        }
        bpt_sleep_ms(100);
    }
    cr_assert_fail("the message was never sent after the restart");
}

/* A reminder whose time came is sent like any message. */
Test(notification_send, a_due_reminder_is_sent)
{
    bpt_shop f;
    setup(&f, "+5491155550909");
    char booking[64];
    book(&f, booking);
    json_decref(wait_status(&f, booking, "delivered"));
    const char *params[] = {booking};
    cr_assert_eq(bpt_db_long("WITH r AS (UPDATE notification.notifications SET due_at = now(),"
                             " next_attempt_at = now() WHERE booking_id = $1"
                             " AND template = 'reminder_2h' AND status = 'scheduled' RETURNING 1)"
                             " SELECT count(*) FROM r",
                             1, params),
                 1);
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        if (bpt_db_long("SELECT count(*) FROM notification.notifications WHERE booking_id = $1"
                        " AND template = 'reminder_2h' AND status IN ('sent', 'delivered')",
                        1, params) == 1) {
            json_t *last = bpt_fake_json("WHATSAPP_API_URL", "GET", "/_fake/last");
            char *dump = json_dumps(last, 0);
            cr_expect(strstr(dump, "recordatorio_turno_2h") != NULL, "%s", dump);
            free(dump);
            json_decref(last);
            return;
        }
        bpt_sleep_ms(50);
    }
    cr_assert_fail("the due reminder was never sent");
}
