/* GET /api/business-metrics as Prometheus scrapes it: each figure moves by
 * what a shop does (accounts, bookings made and by status, a deposit paid,
 * working and booked time with a week, a holiday calendar and time off, the
 * messages sent), the text passes `promtool check metrics`, and a daemon
 * that does not answer is left out rather than failing the scrape.
 *
 * The figures are counted over the whole suite, so each test compares the
 * text before and after its own actions. It first waits until the figures
 * stand still (what earlier tests left, a hold that lapses, a message being
 * retried), and then only its own actions move them. scripts/test.sh runs
 * one test at a time (--jobs=1); one test stops a daemon. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "harness.h"

#define WAIT_MS 20000 /* a webhook, its events, the messages sent */
#define HOLD_S  300   /* the deposit's hold: longer than this test */
#define DEPOSIT (BPT_COLOR_PRICE / 5)
#define DAY_S   (9 * 3600) /* the test's week: every day 09:00-18:00 */
#define URL_LEN 512
#define P       "barberpro_business_"

/* ---- scraping ------------------------------------------------------------------ */

/* The body of GET /api/business-metrics (the caller frees it); asserts a
 * 200 in the Prometheus text format. */
static char *scrape(void)
{
    bpt_response *r = bpt_http("GET", "/api/business-metrics", NULL, NULL, 0);
    cr_assert_not_null(r, "no answer from /api/business-metrics");
    cr_assert_eq(r->status, 200, "/api/business-metrics answered %ld: %s", r->status, r->body);
    const char *type = bpt_header(r, "Content-Type");
    cr_assert(type != NULL && strncmp(type, "text/plain; version=0.0.4", 25) == 0,
              "Content-Type %s", type ? type : "(none)");
    char *text = strdup(r->body);
    bpt_response_free(r);
    cr_assert_not_null(text);
    return text;
}

/* The sample of name with up to two labels ("k=\"v\"", NULL), or -1. */
static double value(const char *text, const char *name, const char *l1, const char *l2)
{
    const char *labels[] = {l1, l2, NULL};
    return bpt_metric_sum(text, name, labels);
}

/* Waits until two scrapes STILL_MS apart are the same text and returns the
 * later one (the caller frees it); after WAIT_MS, returns the last one. */
#define STILL_MS 5000
static char *scrape_still(void)
{
    char *before = scrape();
    for (double t0 = bpt_now_ms(); bpt_now_ms() - t0 < WAIT_MS;) {
        bpt_sleep_ms(STILL_MS);
        char *now = scrape();
        bool same = strcmp(now, before) == 0;
        free(before);
        before = now;
        if (same)
            break;
    }
    return before;
}

/* Seconds since local midnight in Buenos Aires (fixed -03:00). */
static long ba_second_of_day(void)
{
    return (long)(((time(NULL) - 3 * 3600) % 86400 + 86400) % 86400);
}

/* A test comparing figures of "today" must not straddle midnight: waits
 * for it when it is less than two minutes away. */
static void keep_clear_of_midnight(void)
{
    long left = 86400 - ba_second_of_day();
    if (left < 120)
        sleep((unsigned)left + 2);
}

/* ---- the database, as the oracle of the asynchronous figures ---------------------- */

static const char *const channels[] = {"whatsapp", "sms", "email", "none"};
static const char *const notif_statuses[] = {"scheduled", "queued", "sending", "sent",
                                             "delivered", "read",   "failed",  "cancelled"};
#define N_NOTIF (BP_COUNTOF(channels) * BP_COUNTOF(notif_statuses))

/* Messages by channel and status, from the metric and from the table,
 * read one right after the other. */
typedef struct {
    double metric[N_NOTIF];
    long table[N_NOTIF];
} notif_counts;

static bool notif_read(notif_counts *c)
{
    char *text = scrape();
    bool same = true;
    for (size_t i = 0; i < N_NOTIF; i++) {
        const char *ch = channels[i / BP_COUNTOF(notif_statuses)];
        const char *st = notif_statuses[i % BP_COUNTOF(notif_statuses)];
        char l1[64], l2[64];
        snprintf(l1, sizeof l1, "channel=\"%s\"", ch);
        snprintf(l2, sizeof l2, "status=\"%s\"", st);
        c->metric[i] = value(text, P "notifications", l1, l2);
        const char *params[] = {ch, st};
        c->table[i] = bpt_db_long("SELECT count(*) FROM notification.notifications"
                                  " WHERE coalesce(channel, 'none') = $1 AND status = $2",
                                  2, params);
        same = same && c->table[i] >= 0 && c->metric[i] == (double)c->table[i];
    }
    free(text);
    return same;
}

/* Polls until the metric agrees with the table on every pair (the sender
 * moves messages on between the two reads). */
static void notif_settled(notif_counts *c, const char *when)
{
    for (double t0 = bpt_now_ms(); !notif_read(c);) {
        if (bpt_now_ms() - t0 > WAIT_MS) {
            for (size_t i = 0; i < N_NOTIF; i++)
                if (c->metric[i] != (double)c->table[i])
                    fprintf(stderr, "%s: %s/%s metric %.0f, table %ld\n", when,
                            channels[i / BP_COUNTOF(notif_statuses)],
                            notif_statuses[i % BP_COUNTOF(notif_statuses)], c->metric[i],
                            c->table[i]);
            cr_assert_fail("%s: notifications by channel and status never matched the table", when);
        }
        bpt_sleep_ms(300);
    }
}

/* ---- the shop ------------------------------------------------------------------------- */

/* Every day 09:00-18:00, so that every date but a holiday is a working day. */
static void every_day_nine_to_six(const bpt_shop *f)
{
    char path[256];
    snprintf(path, sizeof path, "/api/providers/%s/schedule", f->provider_id);
    json_t *week = json_array();
    for (int wd = 1; wd <= 7; wd++)
        json_array_append_new(
            week, json_pack("{s:i, s:s, s:s}", "weekday", wd, "start", "09:00", "end", "18:00"));
    json_t *body = json_pack("{s:o}", "weekly", week);
    bpt_response *r = bpt_http_json("PUT", path, f->owner.token, body);
    json_decref(body);
    cr_assert(r != NULL && r->status == 200, "PUT schedule: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
}

static void book_corte(const bpt_shop *f, long day, const char *hhmm, char id[64])
{
    char start[32];
    bpt_ba_at(day, hhmm, start);
    bpt_response *r = bpt_book(f->client.token, f, f->corte_id, start);
    cr_assert(r != NULL && r->status == 201, "booking Corte at %s: %ld %s", start,
              r ? r->status : 0L, r ? r->body : "");
    cr_assert_str_eq(bpt_json_str(r->json, "booking.status"), "confirmed");
    snprintf(id, 64, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
}

/* ---- tests ------------------------------------------------------------------------------ */

TestSuite(business_metrics, .timeout = 300);

Test(business_metrics, figures_move_with_what_a_shop_does)
{
    keep_clear_of_midnight();
    long today = bpt_ba_today();
    /* The dates of the windows that are holidays: closed, no working time. */
    int open_days = 0, today_open = 0;
    for (long d = today; d < today + 7; d++) {
        int h = bpt_is_holiday(d);
        cr_assert(h >= 0, "GET /api/holidays failed (see stderr)");
        open_days += !h;
        if (d == today)
            today_open = !h;
    }
    long day = -1; /* the first working day after today, for the bookings */
    for (long d = today + 1; d < today + 7 && day < 0; d++)
        if (bpt_is_holiday(d) == 0)
            day = d;
    cr_assert(day > 0, "no working day in the next 6 days");

    char *before = scrape_still();
    notif_counts n0;
    notif_settled(&n0, "before");

    /* Three accounts (owner, barber, client), a shop and its barber. */
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0, "could not set up a shop (see stderr)");
    every_day_nine_to_six(&f);

    /* Corte at 10:00: confirmed at once, 30 min + 10 of buffer held. */
    char ids[3][64], pay_id[64], url[URL_LEN];
    book_corte(&f, day, "10:00", ids[0]);
    /* Color at 12:00 with its 20 % deposit, paid through MercadoPago. */
    cr_assert_eq(bpt_book_deposit(&f, day, "12:00", HOLD_S, ids[1]), 0, "Color (see stderr)");
    cr_assert_eq(bpt_checkout_open(f.client.token, ids[1], pay_id, url, URL_LEN), 0,
                 "checkout (see stderr)");
    cr_assert_gt(bpt_mp_pay(url, "approved", 1), 0, "paying the preference (see stderr)");
    cr_assert_eq(bpt_wait_payment_status(f.client.token, pay_id, "approved", WAIT_MS), 0);
    cr_assert_eq(bpt_wait_booking_status(f.client.token, ids[1], "confirmed", WAIT_MS), 0);
    /* Corte at 15:00, then cancelled: made, but it holds nothing. */
    book_corte(&f, day, "15:00", ids[2]);
    json_t *reason = json_pack("{s:s}", "reason", "Me surgió un viaje");
    bpt_response *r = bpt_booking_act(f.client.token, ids[2], "cancel", reason);
    json_decref(reason);
    cr_assert(r != NULL && r->status == 200, "cancel: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);
    /* An hour of time off, 16:00-17:00. */
    char from[32], to[32], path[256];
    bpt_ba_at(day, "16:00", from);
    bpt_ba_at(day, "17:00", to);
    snprintf(path, sizeof path, "/api/providers/%s/time-off", f.provider_id);
    r = bpt_http_pack("POST", path, f.owner.token, "{s:s, s:s}", "starts_at", from, "ends_at", to);
    cr_assert(r != NULL && r->status == 201, "time off: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);

    /* The messages of the three bookings go out; wait until the figures
     * and the table agree again. */
    notif_counts n1;
    notif_settled(&n1, "after");
    char *after = scrape();
    cr_assert_eq(bpt_ba_today(), today, "the day changed during the test");

#define DELTA(name, l1, l2) (value(after, P name, l1, l2) - value(before, P name, l1, l2))
    /* Accounts: the owner and two clients (the barber signed up as one). */
    cr_expect_eq(DELTA("registrations_total", NULL, NULL), 3, "registrations");
    cr_expect_eq(DELTA("users", "role=\"client\"", NULL), 2, "client accounts");
    cr_expect_eq(DELTA("users", "role=\"owner\"", NULL), 1, "owner accounts");
    cr_expect_eq(DELTA("users", "role=\"provider\"", NULL), 0, "provider accounts");
    cr_expect_eq(DELTA("users", "role=\"admin\"", NULL), 0, "admin accounts");

    /* Bookings: three made; two confirmed, one cancelled. */
    cr_expect_eq(DELTA("bookings_created_total", NULL, NULL), 3, "bookings made");
    cr_expect_eq(DELTA("bookings", "status=\"confirmed\"", NULL), 2, "confirmed");
    cr_expect_eq(DELTA("bookings", "status=\"cancelled\"", NULL), 1, "cancelled");
    static const char *const unmoved[] = {"pending_payment", "completed", "no_show", "expired"};
    for (size_t i = 0; i < BP_COUNTOF(unmoved); i++) {
        char l[64];
        snprintf(l, sizeof l, "status=\"%s\"", unmoved[i]);
        cr_expect_eq(DELTA("bookings", l, NULL), 0, "%s", unmoved[i]);
    }

    /* Payments: one approved deposit, nothing left pending. */
    cr_expect_eq(DELTA("payments", "status=\"approved\"", NULL), 1, "approved payments");
    cr_expect_eq(DELTA("payments", "status=\"pending\"", NULL), 0, "pending payments");
    cr_expect_eq(DELTA("payments_amount_ars_cents", "status=\"approved\"", NULL), DEPOSIT,
                 "approved amount");
    cr_expect_eq(DELTA("payments_amount_ars_cents", "status=\"pending\"", NULL), 0,
                 "pending amount");

    /* Utilisation: 9 h on each open day of the window, less the hour off;
     * booked: Corte's 40 minutes and Color's 60 (not the cancelled one). */
    cr_expect_eq(DELTA("provider_working_seconds", "window=\"today\"", NULL), today_open * DAY_S,
                 "working today");
    cr_expect_eq(DELTA("provider_working_seconds", "window=\"next_7_days\"", NULL),
                 open_days * DAY_S - 3600, "working in 7 days (%d open days)", open_days);
    cr_expect_eq(DELTA("provider_booked_seconds", "window=\"today\"", NULL), 0, "booked today");
    cr_expect_eq(DELTA("provider_booked_seconds", "window=\"next_7_days\"", NULL), 40 * 60 + 3600,
                 "booked in 7 days");
    static const char *const windows[] = {"window=\"today\"", "window=\"next_7_days\""};
    for (size_t w = 0; w < BP_COUNTOF(windows); w++) {
        double working = value(after, P "provider_working_seconds", windows[w], NULL);
        double booked = value(after, P "provider_booked_seconds", windows[w], NULL);
        double ratio = value(after, P "provider_utilisation_ratio", windows[w], NULL);
        cr_expect(working >= booked && booked >= 0, "%s: booked %.0f of %.0f", windows[w], booked,
                  working);
        if (working > 0)
            cr_expect_float_eq(ratio, booked / working, 1e-9, "%s ratio", windows[w]);
        else
            cr_expect(isnan(ratio), "%s: no working time, ratio %f", windows[w], ratio);
    }
#undef DELTA

    /* Messages: the metric agreed with the table before and after, and the
     * table gained this shop's messages (at least one per booking event). */
    double metric_gain = 0;
    long table_gain = 0;
    for (size_t i = 0; i < N_NOTIF; i++) {
        metric_gain += n1.metric[i] - n0.metric[i];
        table_gain += n1.table[i] - n0.table[i];
    }
    char list[256];
    snprintf(list, sizeof list, "{%s,%s,%s}", ids[0], ids[1], ids[2]);
    const char *params[] = {list};
    long mine = bpt_db_long("SELECT count(*) FROM notification.notifications"
                            " WHERE booking_id = ANY($1::uuid[])",
                            1, params);
    cr_expect_geq(mine, 3, "messages about the three bookings");
    cr_expect_eq(metric_gain, (double)table_gain, "messages gained");
    cr_expect_geq(table_gain, mine, "messages gained, this shop's included");

    free(before);
    free(after);
}

Test(business_metrics, every_family_passes_promtool_and_is_named_and_described)
{
    char *text = scrape();
    static const char *const families[] = {
        P "bookings_created_total",
        P "bookings",
        P "provider_working_seconds",
        P "provider_booked_seconds",
        P "provider_utilisation_ratio",
        P "payments",
        P "payments_amount_ars_cents",
        P "registrations_total",
        P "users",
        P "notifications",
        P "source_up",
        P "backup_last_success_timestamp_seconds",
        P "backup_failures_total",
    };
    for (size_t i = 0; i < BP_COUNTOF(families); i++) {
        char help[128], type[128];
        snprintf(help, sizeof help, "# HELP %s ", families[i]);
        snprintf(type, sizeof type, "# TYPE %s ", families[i]);
        cr_expect(strstr(text, help) != NULL, "no HELP for %s", families[i]);
        cr_expect(strstr(text, type) != NULL, "no TYPE for %s", families[i]);
    }
    /* Every line is of a barberpro_business_ family. */
    for (const char *line = text; *line != '\0';) {
        const char *name =
            strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0 ? line + 7 : line;
        cr_expect(strncmp(name, P, strlen(P)) == 0, "a line outside the prefix: %.80s", line);
        const char *nl = strchr(line, '\n');
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
    static const char *const daemons[] = {"auth", "booking", "payment", "notification", "backup"};
    for (size_t i = 0; i < BP_COUNTOF(daemons); i++) {
        char l[64];
        snprintf(l, sizeof l, "service=\"%s\"", daemons[i]);
        cr_expect_eq(value(text, P "source_up", l, NULL), 1, "%s did not answer", daemons[i]);
    }

    char out[16384];
    int st = bpt_promtool_check(text, out, sizeof out);
    cr_expect_eq(st, 0,
                 "promtool check metrics exited with %d (-2: not installed; "
                 "scripts/deps.sh installs the Debian package prometheus):\n%s\n---\n%s",
                 st, out, text);
    free(text);
}

Test(business_metrics, a_daemon_that_does_not_answer_is_left_out)
{
    cr_assert_eq(bpt_daemon_stop("payment"), 0, "could not stop the payment daemon");
    double t0 = bpt_now_ms();
    bpt_response *r = bpt_http("GET", "/api/business-metrics", NULL, NULL, 0);
    double took = bpt_now_ms() - t0;
    cr_assert_eq(bpt_daemon_cont("payment"), 0, "could not continue the payment daemon");
    cr_assert_not_null(r, "no answer from /api/business-metrics");
    cr_assert_eq(r->status, 200, "answered %ld: %s", r->status, r->body);
    cr_expect_lt(took, 4000, "the scrape waited %.0f ms", took);
    cr_expect_eq(value(r->body, P "source_up", "service=\"payment\"", NULL), 0);
    cr_expect_eq(value(r->body, P "source_up", "service=\"booking\"", NULL), 1);
    cr_expect_eq(value(r->body, P "payments", NULL, NULL), -1, "payments without their daemon");
    cr_expect_eq(strstr(r->body, "# HELP " P "payments "), NULL);
    cr_expect_geq(value(r->body, P "bookings_created_total", NULL, NULL), 0,
                  "the other daemons' figures are still there");
    bpt_response_free(r);

    /* Back: the payment figures return. */
    char *text = NULL;
    for (double t1 = bpt_now_ms(); bpt_now_ms() - t1 < WAIT_MS; bpt_sleep_ms(200)) {
        free(text);
        text = scrape();
        if (value(text, P "source_up", "service=\"payment\"", NULL) == 1)
            break;
    }
    cr_expect_eq(value(text, P "source_up", "service=\"payment\"", NULL), 1);
    cr_expect_geq(value(text, P "payments", "status=\"approved\"", NULL), 0);
    free(text);
}
