/* The notification daemon's rows (issue 5, first part): every message is a
 * row from the event that asks for it, and reminders are rows `scheduled`
 * at their due time from the moment a booking is confirmed, moved by a
 * reschedule and cancelled by a cancellation; GET /api/notifications lists
 * the caller's. (What the sender does with them: notification_send_test.c.) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 10000

TestSuite(notification_flow, .timeout = 90);

/* Whether a row's status s answers a wait for status: "queued" stands for
 * any status a queued message may have moved on to since (the sender runs
 * alongside). */
static bool status_matches(const char *s, const char *status)
{
    if (strcmp(status, "queued") != 0)
        return strcmp(s, status) == 0;
    return strcmp(s, "queued") == 0 || strcmp(s, "sending") == 0 || strcmp(s, "sent") == 0 ||
           strcmp(s, "delivered") == 0 || strcmp(s, "read") == 0;
}

/* The first item of token's notifications (about booking_id, when not
 * NULL) with template and status, or NULL; the caller decrefs. */
static json_t *find(const char *token, const char *booking_id, const char *template,
                    const char *status)
{
    char path[160];
    if (booking_id != NULL)
        snprintf(path, sizeof path, "/api/notifications?booking_id=%s", booking_id);
    else
        snprintf(path, sizeof path, "/api/notifications");
    bpt_response *r = bpt_http_json("GET", path, token, NULL);
    cr_assert(r != NULL && r->status == 200, "GET %s: %ld %s", path, r ? r->status : 0L,
              r ? r->body : "");
    json_t *items = bpt_json_at(r->json, "items"), *found = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *t = json_string_value(json_object_get(it, "template"));
        const char *s = json_string_value(json_object_get(it, "status"));
        if (t != NULL && s != NULL && strcmp(t, template) == 0 && status_matches(s, status)) {
            found = json_incref(it);
            break;
        }
    }
    bpt_response_free(r);
    return found;
}

/* Polls find until it answers; fails the test after WAIT_MS. */
static json_t *wait_for(const char *token, const char *booking_id, const char *template,
                        const char *status)
{
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        json_t *n = find(token, booking_id, template, status);
        if (n != NULL)
            return n;
        bpt_sleep_ms(50);
    }
    cr_assert_fail("no %s notification %s for booking %s", status, template,
                   booking_id != NULL ? booking_id : "(any)");
    return NULL;
}

/* due_at of n as Unix seconds. */
static long long due_s(const json_t *n)
{
    const char *due = json_string_value(json_object_get(n, "due_at"));
    cr_assert_not_null(due);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "date -d '%s' +%%s", due);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    long long s = 0;
    cr_assert_eq(fscanf(p, "%lld", &s), 1);
    pclose(p);
    return s;
}

static long long start_s(const char *rfc3339)
{
    json_t *n = json_pack("{s:s}", "due_at", rfc3339);
    long long s = due_s(n);
    json_decref(n);
    return s;
}

static void book_corte(const bpt_shop *f, long day, const char *hhmm, char id[64], char at[32])
{
    bpt_ba_at(day, hhmm, at);
    bpt_response *r = bpt_book(f->client.token, f, f->corte_id, at);
    cr_assert(r != NULL && r->status == 201, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    cr_assert_str_eq(bpt_json_str(r->json, "booking.status"), "confirmed");
    snprintf(id, 64, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
}

Test(notification_flow, a_confirmed_booking_queues_its_messages_and_schedules_reminders)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    long day = bpt_workday(3, 0);
    cr_assert(day >= 0);
    char booking[64], at[32];
    book_corte(&f, day, "15:00", booking, at);

    json_decref(wait_for(f.client.token, booking, "booking_confirmed", "queued"));
    json_t *r24 = wait_for(f.client.token, booking, "reminder_24h", "scheduled");
    json_t *r2 = wait_for(f.client.token, booking, "reminder_2h", "scheduled");
    long long starts = start_s(at);
    cr_expect_eq(due_s(r24), starts - 24 * 3600, "the 24 h reminder's due time");
    cr_expect_eq(due_s(r2), starts - 2 * 3600, "the 2 h reminder's due time");
    cr_expect(json_is_null(json_object_get(r2, "channel")), "no channel tried yet");
    json_decref(r24);
    json_decref(r2);

    /* The shop's side: the owner and the barber hear of it; the client's
     * list holds only the client's. */
    json_decref(wait_for(f.owner.token, booking, "shop_new_booking", "queued"));
    json_decref(wait_for(f.barber.token, booking, "shop_new_booking", "queued"));
    json_t *none = find(f.client.token, booking, "shop_new_booking", "queued");
    cr_expect_null(none, "a shop message in the client's list");
    json_decref(none);
}

Test(notification_flow, rescheduling_moves_the_reminders_and_cancelling_removes_them)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    long day = bpt_workday(3, 0);
    cr_assert(day >= 0);
    char booking[64], at[32];
    book_corte(&f, day, "15:00", booking, at);
    json_decref(wait_for(f.client.token, booking, "reminder_2h", "scheduled"));

    char later[32];
    bpt_ba_at(day, "16:30", later);
    json_t *body = json_pack("{s:s}", "starts_at", later);
    bpt_response *r = bpt_booking_act(f.client.token, booking, "reschedule", body);
    json_decref(body);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    bpt_response_free(r);

    json_decref(wait_for(f.client.token, booking, "booking_rescheduled", "queued"));
    json_decref(wait_for(f.client.token, booking, "reminder_2h", "cancelled"));
    json_t *moved = wait_for(f.client.token, booking, "reminder_2h", "scheduled");
    cr_expect_eq(due_s(moved), start_s(later) - 2 * 3600, "the reminder follows the new time");
    json_decref(moved);

    body = json_pack("{s:s}", "reason", "Me surgió un viaje");
    r = bpt_booking_act(f.client.token, booking, "cancel", body);
    json_decref(body);
    cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
    bpt_response_free(r);
    json_decref(wait_for(f.client.token, booking, "booking_cancelled", "queued"));
    json_decref(wait_for(f.owner.token, booking, "shop_booking_cancelled", "queued"));
    /* No reminder is left scheduled. */
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        json_t *left = find(f.client.token, booking, "reminder_2h", "scheduled");
        json_t *left24 = find(f.client.token, booking, "reminder_24h", "scheduled");
        bool none = left == NULL && left24 == NULL;
        json_decref(left);
        json_decref(left24);
        if (none)
            return;
        bpt_sleep_ms(50);
    }
    cr_assert_fail("a reminder is still scheduled after the cancellation");
}

Test(notification_flow, a_deposit_booking_is_announced_once_paid)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    long day = bpt_workday(3, 0);
    cr_assert(day >= 0);
    char booking[64], pay_id[64], url[512];
    cr_assert_eq(bpt_book_deposit(&f, day, "11:00", 90, booking), 0);
    cr_assert_eq(bpt_checkout_open(f.client.token, booking, pay_id, url, sizeof url), 0);
    /* Not confirmed yet: nothing for the shop, no reminder. */
    json_t *early = find(f.owner.token, booking, "shop_new_booking", "queued");
    cr_expect_null(early);
    json_decref(early);

    cr_assert(bpt_mp_pay(url, "approved", 1) > 0);
    json_decref(wait_for(f.client.token, booking, "payment_received", "queued"));
    json_decref(wait_for(f.client.token, booking, "booking_confirmed", "queued"));
    json_decref(wait_for(f.client.token, booking, "reminder_24h", "scheduled"));
    json_decref(wait_for(f.owner.token, booking, "shop_new_booking", "queued"));
}

Test(notification_flow, the_list_pages_and_refuses_bad_input)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0);
    long day = bpt_workday(3, 0);
    cr_assert(day >= 0);
    char booking[64], at[32];
    book_corte(&f, day, "15:00", booking, at);
    json_decref(wait_for(f.client.token, booking, "reminder_2h", "scheduled"));

    /* Three rows (confirmation, two reminders), one per page. */
    char path[256] = "/api/notifications?limit=1";
    int seen = 0;
    for (int page = 0; page < 10; page++) {
        bpt_response *r = bpt_http_json("GET", path, f.client.token, NULL);
        cr_assert(r != NULL && r->status == 200, "%ld %s", r ? r->status : 0L, r ? r->body : "");
        seen += (int)json_array_size(bpt_json_at(r->json, "items"));
        const char *next = bpt_json_str(r->json, "next_cursor");
        if (next == NULL) {
            bpt_response_free(r);
            break;
        }
        snprintf(path, sizeof path, "/api/notifications?limit=1&cursor=%s", next);
        bpt_response_free(r);
    }
    cr_expect_eq(seen, 3, "confirmation and two reminders, each on one page");

    bpt_response *r = bpt_http_json("GET", "/api/notifications?cursor=zz", f.client.token, NULL);
    cr_expect(bpt_error_is(r, 400, "invalid_request"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/notifications?limit=0", f.client.token, NULL);
    cr_expect(bpt_error_is(r, 400, "invalid_request"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
    r = bpt_http_json("GET", "/api/notifications", NULL, NULL);
    cr_expect(bpt_error_is(r, 401, "unauthorized"), "%ld %s", r->status, r->body);
    bpt_response_free(r);
}
