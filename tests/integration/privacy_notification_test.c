/* The notification daemon under Ley 25.326 (issue 7): ExportUser gives the
 * caller's messages with their texts and nothing of anyone else's;
 * user.erasure_requested removes what the rows hold of the person (texts,
 * variables, errors), cancels what was still to be sent, strips the shop's
 * messages about them, and a second delivery changes nothing; afterwards no
 * text column of the schema holds the person's name, email or phone; the
 * retention job removes texts older than 90 days and keeps young and
 * pending ones; a withdrawn WhatsApp consent goes by SMS, then email. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.pb-c.h"
#include "events.pb-c.h"
#include "harness.h"
#include "notification.pb-c.h"

#define WAIT_MS 15000

TestSuite(privacy_notification, .timeout = 120);

/* ---- helpers ---------------------------------------------------------------------------- */

/* n random lower-case letters (a surname no other test uses). */
static void random_letters(char *out, size_t n)
{
    static unsigned seed;
    if (seed == 0)
        seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    for (size_t i = 0; i < n; i++)
        out[i] = (char)('a' + rand_r(&seed) % 26);
    out[n] = '\0';
}

/* A client with a name, an email and a phone found nowhere else. */
typedef struct {
    bpt_user u;
    char surname[16];
    char phone[24];    /* E.164 */
    char wa_phone[24]; /* what WhatsApp is sent: no '+', no mobile 9 */
} person;

/* A call as token that must answer 200 (a profile or consent change). */
static void must_ok(const char *method, const char *path, const char *token, const char *field,
                    json_t *value)
{
    json_t *body = json_object();
    json_object_set_new(body, field, value);
    bpt_response *r = bpt_http_json(method, path, token, body);
    json_decref(body);
    cr_assert(r != NULL && r->status == 200, "%s %s: %ld %s", method, path, r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
}

static void set_phone(const char *token, const char *phone)
{
    must_ok("PATCH", "/api/users/me", token, "phone", json_string(phone));
}

static void withdraw_whatsapp(const char *token)
{
    must_ok("PUT", "/api/users/me/consents", token, "whatsapp", json_false());
}

static void person_new(person *p)
{
    random_letters(p->surname, 10);
    p->surname[0] = (char)(p->surname[0] - 'a' + 'A');
    char name[64];
    snprintf(name, sizeof name, "Ximena %s", p->surname);
    cr_assert_eq(bpt_user_register(&p->u, "client", name), 0);
    unsigned subscriber = bpt_unique_subscriber();
    snprintf(p->phone, sizeof p->phone, "+54911%08u", subscriber);
    snprintf(p->wa_phone, sizeof p->wa_phone, "5411%08u", subscriber);
    set_phone(p->u.token, p->phone);
}

static void book(const bpt_shop *f, const char *token, const char *hhmm, char id[64])
{
    long day = bpt_workday(3, 0);
    cr_assert(day >= 0);
    char at[32];
    bpt_ba_at(day, hhmm, at);
    bpt_response *r = bpt_book(token, f, f->corte_id, at);
    cr_assert(r != NULL && r->status == 201, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    snprintf(id, 64, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
}

/* Polls sql (a count, n params) until it is want; fails after WAIT_MS. */
static void wait_count(const char *what, const char *sql, int n, const char *const *params,
                       long want)
{
    long got = -1;
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        got = bpt_db_long(sql, n, params);
        if (got == want)
            return;
        bpt_sleep_ms(100);
    }
    cr_assert_fail("%s: %ld, not %ld", what, got, want);
}

static void uuid_new(char out[37])
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    cr_assert_not_null(f);
    cr_assert_eq(fread(b, 1, sizeof b, f), sizeof b);
    fclose(f);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* Delivers user.erasure_requested for user_id as auth's relay would, with
 * event id event_id; returns the reply's status. */
static int deliver_erasure(const char *user_id, const char *event_id)
{
    Bp__Events__UserEvent u = BP__EVENTS__USER_EVENT__INIT;
    char request[37];
    uuid_new(request);
    u.user_id = (char *)user_id;
    u.request_id = request;
    uint8_t payload[256];
    cr_assert_leq(bp__events__user_event__get_packed_size(&u), sizeof payload);
    Bp__Events__Event ev = BP__EVENTS__EVENT__INIT;
    ev.id = (char *)event_id;
    ev.topic = "user.erasure_requested";
    ev.producer = "auth";
    ev.key = (char *)user_id;
    ev.has_payload = 1;
    ev.payload.len = bp__events__user_event__pack(&u, payload);
    ev.payload.data = payload;
    ev.has_attempt = 1;
    ev.attempt = 1;
    uint8_t body[512];
    cr_assert_leq(bp__events__event__get_packed_size(&ev), sizeof body);
    size_t len = bp__events__event__pack(&ev, body);
    Bp__Rpc__Reply *reply = NULL;
    cr_assert_eq(bpt_rpc_call("notification", "Deliver", body, len, 5000, &reply), 0);
    int status = reply->status;
    bp__rpc__reply__free_unpacked(reply, NULL);
    return status;
}

/* ExportUser as user_id; the caller frees with
 * bp__notification__user_data__free_unpacked. */
static Bp__Notification__UserData *export_of(const char *user_id)
{
    Bp__Rpc__Reply *reply = NULL;
    cr_assert_eq(
        bpt_rpc_call_as("notification", "ExportUser", user_id, "client", NULL, 0, 5000, &reply), 0);
    cr_assert_eq(reply->status, 200, "ExportUser answered %d", reply->status);
    Bp__Notification__UserData *d =
        bp__notification__user_data__unpack(NULL, reply->body.len, reply->body.data);
    bp__rpc__reply__free_unpacked(reply, NULL);
    cr_assert_not_null(d);
    return d;
}

/* How many text, varchar and jsonb columns of the notification schema hold
 * needle in at least one row. */
static long columns_holding(const char *needle)
{
    const char *params[] = {needle};
    return bpt_db_long(
        "SELECT count(*) FROM information_schema.columns c"
        " WHERE c.table_schema = 'notification'"
        " AND c.data_type IN ('text', 'character varying', 'character', 'jsonb', 'json')"
        " AND (xpath('/row/n/text()', query_to_xml(format("
        "   'SELECT count(*) AS n FROM %I.%I WHERE strpos(%I::text, %L) > 0',"
        "   c.table_schema, c.table_name, c.column_name, $1::text), false, true, '')))[1]"
        "   ::text::int > 0",
        1, params);
}

/* A fingerprint of every row about the person or their bookings. */
static long fingerprint(const char *user_id, const char *a, const char *b)
{
    const char *params[] = {user_id, a, b};
    long n = bpt_db_long(
        "SELECT ('x' || substr(md5(coalesce(string_agg(concat_ws('|', id, status, body, vars,"
        " last_error, provider_message_id, updated_at), ',' ORDER BY id), '')), 1, 15))"
        "::bit(60)::int8 FROM notification.notifications"
        " WHERE user_id = $1::uuid OR booking_id IN ($2::uuid, $3::uuid)",
        3, params);
    long m = bpt_db_long(
        "SELECT ('x' || substr(md5(coalesce(string_agg(concat_ws('|', booking_id, client_id,"
        " owner_id, provider_user_id, vars, updated_at), ',' ORDER BY booking_id), '')), 1, 15))"
        "::bit(60)::int8 FROM notification.bookings WHERE booking_id IN ($2::uuid, $3::uuid)"
        " OR client_id = $1::uuid",
        3, params);
    cr_assert(n >= 0 && m >= 0);
    return n ^ m;
}

/* ---- export ------------------------------------------------------------------------------- */

Test(privacy_notification, export_lists_the_callers_messages_with_their_texts_and_no_one_elses)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    person p;
    person_new(&p);
    char booking[64];
    book(&f, p.u.token, "15:00", booking);
    const char *params[] = {p.u.id, f.owner.id};
    /* The confirmation sent (its text kept), and the owner's message too. */
    wait_count("the client's confirmation sent",
               "SELECT count(*) FROM notification.notifications WHERE user_id = $1"
               " AND template = 'booking_confirmed' AND body IS NOT NULL",
               1, params, 1);
    wait_count("the owner's message sent",
               "SELECT count(*) FROM notification.notifications WHERE user_id = $1"
               " AND body IS NOT NULL",
               1, params + 1, 1);

    Bp__Notification__UserData *d = export_of(p.u.id);
    long mine = bpt_db_long("SELECT count(*) FROM notification.notifications WHERE user_id = $1", 1,
                            params);
    cr_expect_eq((long)d->n_notifications, mine, "every message of the caller");
    cr_expect_geq(d->n_notifications, 3, "a confirmation and two reminders");
    bool confirmation = false;
    for (size_t i = 0; i < d->n_notifications; i++) {
        const Bp__Notification__Notification *n = d->notifications[i];
        const char *id[] = {n->id, p.u.id};
        cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.notifications"
                                 " WHERE id = $1 AND user_id = $2",
                                 2, id),
                     1, "message %s is the caller's", n->id);
        cr_expect(strncmp(n->template_, "shop_", 5) != 0, "a shop message: %s", n->template_);
        if (i > 0)
            cr_expect(strcmp(d->notifications[i - 1]->created_at, n->created_at) >= 0,
                      "newest first");
        if (strcmp(n->template_, "booking_confirmed") == 0) {
            confirmation = true;
            cr_expect_not_null(n->body);
            cr_expect(n->body != NULL && strstr(n->body, p.surname) != NULL, "the text as sent: %s",
                      n->body ? n->body : "(none)");
        }
        if (strcmp(n->status, "scheduled") == 0)
            cr_expect_null(n->body, "a reminder not sent has no text");
    }
    cr_expect(confirmation, "the confirmation is exported");
    bp__notification__user_data__free_unpacked(d, NULL);

    /* The owner's export holds the shop's message, not the client's. */
    d = export_of(f.owner.id);
    for (size_t i = 0; i < d->n_notifications; i++)
        cr_expect(strncmp(d->notifications[i]->template_, "shop_", 5) == 0, "%s",
                  d->notifications[i]->template_);
    cr_expect_geq(d->n_notifications, 1);
    bp__notification__user_data__free_unpacked(d, NULL);

    /* No principal, no answer. */
    Bp__Rpc__Reply *reply = NULL;
    cr_assert_eq(bpt_rpc_call("notification", "ExportUser", NULL, 0, 5000, &reply), 0);
    cr_expect_eq(reply->status, 401);
    bp__rpc__reply__free_unpacked(reply, NULL);
}

/* ---- erasure ------------------------------------------------------------------------------ */

Test(privacy_notification, erasure_removes_the_person_from_every_row_once)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    person p;
    person_new(&p);
    char kept[64], cancelled[64];
    book(&f, p.u.token, "15:00", kept);
    book(&f, p.u.token, "16:30", cancelled);
    char reason[64];
    snprintf(reason, sizeof reason, "Viaje con la familia %s", p.surname);
    json_t *body = json_pack("{s:s}", "reason", reason);
    bpt_response *r = bpt_booking_act(p.u.token, cancelled, "cancel", body);
    json_decref(body);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    bpt_response_free(r);

    const char *params[] = {p.u.id, kept, cancelled};
    /* Everything settles: the shop heard of both bookings and the cancel. */
    wait_count("the shop's messages sent",
               "SELECT count(*) FROM notification.notifications WHERE booking_id IN ($2, $3)"
               " AND user_id <> $1 AND template = 'shop_booking_cancelled' AND body IS NOT NULL",
               3, params, 2);
    wait_count("nothing left to send",
               "SELECT count(*) FROM notification.notifications WHERE booking_id IN ($1, $2)"
               " AND status IN ('queued', 'sending')",
               2, params + 1, 0);
    cr_assert_eq(bpt_db_long("SELECT count(*) FROM notification.notifications WHERE user_id = $1"
                             " AND booking_id = $2 AND status = 'scheduled'",
                             2, params),
                 2, "the kept booking's two reminders");
    /* A provider's reply that quoted the number, and a message a sender
     * holds right now. */
    cr_assert_eq(
        bpt_db_long("WITH u AS (UPDATE notification.notifications SET last_error ="
                    " 'Twilio 400 (code 21211): The ''To'' number ' || $3 || ' is not valid'"
                    " WHERE user_id = $1 AND booking_id = $2"
                    " AND template = 'booking_cancelled' RETURNING 1)"
                    " SELECT count(*) FROM u",
                    3, (const char *const[]){p.u.id, cancelled, p.phone}),
        1);
    char held[37];
    uuid_new(held);
    cr_assert_eq(bpt_db_long("WITH i AS (INSERT INTO notification.notifications (id, user_id,"
                             " audience, template, booking_id, vars, status, locked_until)"
                             " VALUES ($1, $2::uuid, 'client', 'booking_confirmed', $3,"
                             " jsonb_build_object('client_id', $2::uuid::text), 'sending',"
                             " now() + interval '1 hour') RETURNING 1) SELECT count(*) FROM i",
                             3, (const char *const[]){held, p.u.id, kept}),
                 1);
    cr_assert_gt(columns_holding(p.surname), 0, "the name is there before");
    cr_assert_gt(columns_holding(p.phone), 0, "the phone is there before");

    char event[37];
    uuid_new(event);
    cr_assert_eq(deliver_erasure(p.u.id, event), 200);

    cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.notifications WHERE user_id = $1"
                             " AND (body IS NOT NULL OR vars <> '{}' OR last_error IS NOT NULL"
                             " OR provider_message_id IS NOT NULL)",
                             1, params),
                 0, "no text, variables, error or provider id of the person's messages");
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.notifications WHERE user_id = $1"
                             " AND status IN ('scheduled', 'queued', 'sending')",
                             1, params),
                 0, "nothing left to send to the person");
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.notifications WHERE user_id = $1"
                             " AND booking_id = $2 AND template LIKE 'reminder_%'"
                             " AND status = 'cancelled'",
                             2, params),
                 2, "the reminders are cancelled, their rows kept");
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.notifications WHERE id = $1"
                             " AND status = 'cancelled'",
                             1, (const char *const[]){held}),
                 1, "the message in a sender's hands is cancelled");
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.notifications"
                             " WHERE booking_id IN ($2, $3) AND user_id <> $1"
                             " AND (body IS NOT NULL OR vars ? 'client_id' OR vars ? 'reason')",
                             3, params),
                 0, "the shop's messages about the person are stripped");
    cr_expect_geq(bpt_db_long("SELECT count(*) FROM notification.notifications"
                              " WHERE booking_id IN ($2, $3) AND user_id <> $1::uuid"
                              " AND vars ? 'shop'",
                              3, params),
                  3, "and keep what the shop's own record needs");
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.bookings WHERE client_id = $1"
                             " OR vars ? 'client_id' AND booking_id IN ($2, $3)",
                             3, params),
                 0, "the bookings forget their client");
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.bookings"
                             " WHERE booking_id IN ($1, $2)",
                             2, params + 1),
                 2, "the bookings stay");
    const char *needles[] = {p.surname, p.u.email, p.phone, p.wa_phone, p.phone + 1};
    for (size_t i = 0; i < sizeof needles / sizeof *needles; i++)
        cr_expect_eq(columns_holding(needles[i]), 0, "a column still holds %s", needles[i]);

    /* Again, under the same id and under another: nothing changes. */
    long before = fingerprint(p.u.id, kept, cancelled);
    cr_assert_eq(deliver_erasure(p.u.id, event), 200);
    char again[37];
    uuid_new(again);
    cr_assert_eq(deliver_erasure(p.u.id, again), 200);
    cr_expect_eq(fingerprint(p.u.id, kept, cancelled), before, "a second erasure changed rows");

    /* Someone the daemon never heard of: acknowledged. */
    char nobody[37], ev2[37];
    uuid_new(nobody);
    uuid_new(ev2);
    cr_expect_eq(deliver_erasure(nobody, ev2), 200);
}

Test(privacy_notification, a_message_to_an_account_that_is_gone_fails_once_and_keeps_nothing)
{
    /* A recipient auth does not know (404 not_found from FindUser), as
     * after an erasure whose event has not arrived yet. */
    char id[37], user[37];
    uuid_new(id);
    uuid_new(user);
    const char *params[] = {id, user};
    cr_assert_eq(bpt_db_long("WITH i AS (INSERT INTO notification.notifications (id, user_id,"
                             " audience, template, vars, status)"
                             " VALUES ($1, $2::uuid, 'client', 'booking_confirmed',"
                             " jsonb_build_object('client_id', $2::uuid::text, 'shop', 'Barbería'),"
                             " 'queued') RETURNING 1) SELECT count(*) FROM i",
                             2, params),
                 1);
    wait_count("failed, with nothing of it kept",
               "SELECT count(*) FROM notification.notifications WHERE id = $1 AND user_id = $2"
               " AND status = 'failed' AND vars = '{}' AND body IS NULL",
               2, params, 1);
    bpt_sleep_ms(1500);
    cr_expect_eq(
        bpt_db_long("SELECT attempts FROM notification.notifications WHERE id = $1", 1, params), 1,
        "tried once, not again");
}

/* ---- retention ---------------------------------------------------------------------------- */

/* The notification daemon's own metrics text (malloc'd). */
static char *metrics_text(void)
{
    Bp__Rpc__Reply *reply = NULL;
    cr_assert_eq(bpt_rpc_call("notification", "Metrics", NULL, 0, 5000, &reply), 0);
    cr_assert_eq(reply->status, 200);
    Bp__Common__MetricsReply *m =
        bp__common__metrics_reply__unpack(NULL, reply->body.len, reply->body.data);
    bp__rpc__reply__free_unpacked(reply, NULL);
    cr_assert(m != NULL && m->text != NULL);
    char *text = strdup(m->text);
    bp__common__metrics_reply__free_unpacked(m, NULL);
    return text;
}

/* Inserts a message to user of status, its text body, created days ago
 * (due in a week when scheduled, so that no sender takes it). */
static void insert_aged(const char *id, const char *user, const char *status, int days)
{
    char d[12];
    snprintf(d, sizeof d, "%d", days);
    const char *params[] = {id, user, status, d};
    cr_assert_eq(bpt_db_long("WITH i AS (INSERT INTO notification.notifications (id, user_id,"
                             " audience, template, vars, status, body, last_error, created_at,"
                             " due_at, next_attempt_at)"
                             " VALUES ($1, $2, 'client', 'booking_confirmed',"
                             " '{\"shop\": \"Barbería\"}', $3, 'Hola Ximena: texto',"
                             " 'WhatsApp 400', now() - $4::int * interval '1 day',"
                             " now() + interval '7 days', now() + interval '7 days')"
                             " RETURNING 1) SELECT count(*) FROM i",
                             4, params),
                 1);
}

Test(privacy_notification, retention_removes_old_texts_and_keeps_young_and_pending_ones)
{
    char user[37], old_sent[37], old_failed[37], old_scheduled[37], young[37];
    uuid_new(user);
    uuid_new(old_sent);
    uuid_new(old_failed);
    uuid_new(old_scheduled);
    uuid_new(young);
    insert_aged(old_sent, user, "delivered", 91);
    insert_aged(old_failed, user, "failed", 120);
    insert_aged(old_scheduled, user, "scheduled", 100);
    insert_aged(young, user, "sent", 89);

    /* A round soon: the suite's interval when it is short, else the daemon
     * restarted with a short one (a job's first round comes within its
     * interval). */
    const char *set = getenv("NOTIFICATION_RETENTION_INTERVAL_MS");
    if (set == NULL || strtol(set, NULL, 10) > 2000) {
        setenv("NOTIFICATION_RETENTION_INTERVAL_MS", "500", 1);
        pid_t pid = bpt_daemon_pid("notification");
        cr_assert_gt(pid, 0);
        cr_assert_eq(bpt_daemon_signal("notification", SIGTERM), 0);
        for (int waited = 0; bpt_pid_alive(pid) && waited < 15000; waited += 50)
            bpt_sleep_ms(50);
        cr_assert(!bpt_pid_alive(pid), "the notification daemon did not stop");
        cr_assert_eq(bpt_daemon_restart("notification", 15000), 0);
    }

    const char *ids[] = {old_sent, old_failed};
    wait_count("the old texts removed",
               "SELECT count(*) FROM notification.notifications WHERE id IN ($1, $2)"
               " AND body IS NULL AND vars = '{}' AND last_error IS NULL",
               2, ids, 2);
    const char *kept[] = {old_scheduled, young};
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.notifications WHERE id IN ($1, $2)"
                             " AND body IS NOT NULL AND vars <> '{}' AND last_error IS NOT NULL",
                             2, kept),
                 2, "a young message and a pending one keep theirs");
    const char *all[] = {user};
    cr_expect_eq(bpt_db_long("SELECT count(*) FROM notification.notifications WHERE user_id = $1"
                             " AND template = 'booking_confirmed' AND created_at IS NOT NULL",
                             1, all),
                 4, "the rows themselves stay");

    char *text = metrics_text();
    const char *labels[] = {"what=\"notification_bodies\"", NULL};
    cr_expect_geq(bpt_metric_sum(text, "barberpro_retention_removed_total", labels), 2.0, "%s",
                  text);
    cr_expect_gt(bpt_metric_sum(text, "barberpro_retention_last_run_timestamp_seconds", labels),
                 0.0);
    free(text);
}

/* ---- consents ------------------------------------------------------------------------------ */

/* Books f's "Corte" as the client token, user_id, and waits until the
 * confirmation is sent by email. */
static void book_and_wait_email(const bpt_shop *f, const char *token, const char *user_id)
{
    char booking[64];
    book(f, token, "15:00", booking);
    const char *params[] = {user_id, booking};
    wait_count("the confirmation sent by email",
               "SELECT count(*) FROM notification.notifications WHERE user_id = $1"
               " AND booking_id = $2 AND template = 'booking_confirmed' AND status = 'sent'"
               " AND channel = 'email'",
               2, params, 1);
}

static void fake_mode(const char *url_var, const char *query)
{
    json_decref(bpt_fake_json(url_var, "POST", "/_fake/mode?%s", query));
}

Test(privacy_notification, a_withdrawn_whatsapp_consent_never_goes_by_whatsapp)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    person p;
    person_new(&p);
    withdraw_whatsapp(p.u.token);
    /* SMS refuses the number once: the message goes by email, not WhatsApp. */
    fake_mode("TWILIO_API_URL", "code=21614&count=1");
    book_and_wait_email(&f, p.u.token, p.u.id);
    fake_mode("TWILIO_API_URL", "mode=ok");
    json_t *doc = bpt_fake_json("WHATSAPP_API_URL", "GET", "/_fake/messages");
    cr_assert_not_null(doc);
    char *dump = json_dumps(doc, 0);
    cr_expect(strstr(dump, p.wa_phone) == NULL, "WhatsApp got a message to %s", p.wa_phone);
    free(dump);
    json_decref(doc);
}

/* Twilio's refusal names the number ("... is not a valid phone number:
 * +15005550001", its magic test number): the message goes by email, and
 * neither the row nor the daemon's log keeps the number. */
Test(privacy_notification, a_providers_reply_quoting_the_number_is_not_kept)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    static const char MAGIC[] = "+15005550001";
    set_phone(f.client.token, MAGIC);
    withdraw_whatsapp(f.client.token);
    book_and_wait_email(&f, f.client.token, f.client.id);
    cr_expect_eq(columns_holding(MAGIC + 1), 0, "a column holds the number");
    char path[512];
    snprintf(path, sizeof path, "%s/notification.log",
             getenv("BP_TEST_LOG_DIR") != NULL ? getenv("BP_TEST_LOG_DIR") : "/tmp");
    FILE *log = fopen(path, "r");
    cr_assert_not_null(log, "%s", path);
    char line[4096];
    bool refused = false, quoted = false;
    while (fgets(line, sizeof line, log) != NULL) {
        refused |= strstr(line, "21211") != NULL;
        quoted |= strstr(line, MAGIC + 1) != NULL;
    }
    fclose(log);
    cr_expect(refused, "Twilio's refusal is logged");
    cr_expect(!quoted, "the daemon's log quotes the number");
}
