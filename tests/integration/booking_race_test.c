/* Two clients can never get the same chair at the same time, whatever the
 * load: 100+ concurrent POST /api/bookings from as many client accounts
 * for one slot and for overlapping slots of one provider, and concurrent
 * reschedules into one slot. Exactly one wins each group; every other
 * answer is 409 slot_taken; nothing is a 5xx; the database agrees. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define BA_OFFSET_S (-3 * 3600)
#define CLIENTS     120

typedef struct {
    bpt_user owner;
    char shop_id[64], service_id[64], provider_id[64];
} race_shop;

static bpt_user clients[CLIENTS];
static int clients_ready;

/* ---- setup ------------------------------------------------------------------------- */

static long today_ba(void)
{
    return (long)((time(NULL) + BA_OFFSET_S) / 86400);
}

static void at(long day, const char *hhmm, char out[32])
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    char d[11];
    strftime(d, sizeof d, "%Y-%m-%d", &tm);
    snprintf(out, 32, "%sT%s:00-03:00", d, hhmm);
}

/* A Monday-to-Friday day at least min_ahead days away that is no holiday. */
static long workday(int min_ahead)
{
    for (long d = today_ba() + min_ahead; d < today_ba() + 58; d++) {
        if ((d + 3) % 7 + 1 > 5)
            continue;
        char path[64], want[32];
        at(d, "00:00", want);
        want[10] = '\0';
        time_t t = (time_t)d * 86400;
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(path, sizeof path, "/api/holidays?year=%d", tm.tm_year + 1900);
        bpt_response *r = bpt_http("GET", path, NULL, NULL, 0);
        cr_assert(r != NULL && r->status == 200);
        int holiday = strstr(r->body, want) != NULL;
        bpt_response_free(r);
        if (!holiday)
            return d;
    }
    cr_assert_fail("no working day within the horizon");
    return 0;
}

static void make_clients(void)
{
    if (clients_ready)
        return;
    for (int i = 0; i < CLIENTS; i++)
        cr_assert_eq(bpt_user_new(&clients[i]), 0, "client %d", i);
    clients_ready = 1;
}

static void created_id(bpt_response *r, const char *path, char out[64])
{
    cr_assert(r != NULL && r->status == 201, "creating %s: %ld %s", path, r ? r->status : 0,
              r ? r->body : "");
    snprintf(out, 64, "%s", bpt_json_str(r->json, path));
    bpt_response_free(r);
}

static void shop_setup(race_shop *s)
{
    memset(s, 0, sizeof *s);
    bpt_unique_email(s->owner.email, sizeof s->owner.email);
    bpt_response *r = bpt_http_pack("POST", "/api/auth/register", NULL, "{s:s, s:s, s:s, s:s, s:b}",
                                    "email", s->owner.email, "password", "Navaja-Fade-7281!",
                                    "name", "Dueño", "role", "owner", "accept_terms", 1);
    cr_assert(r != NULL && r->status == 201, "%s", r ? r->body : "");
    snprintf(s->owner.token, sizeof s->owner.token, "%s", bpt_json_str(r->json, "token"));
    bpt_response_free(r);
    created_id(bpt_http_pack("POST", "/api/shops", s->owner.token, "{s:s, s:s, s:s}", "name",
                             "Barbería La Carrera", "address", "Florida 100", "city",
                             "Buenos Aires"),
               "shop.id", s->shop_id);
    char path[128];
    snprintf(path, sizeof path, "/api/shops/%s/services", s->shop_id);
    created_id(bpt_http_pack("POST", path, s->owner.token, "{s:s, s:i, s:i, s:i}", "name", "Corte",
                             "duration_minutes", 30, "price_cents", 1500000, "buffer_minutes", 10),
               "service.id", s->service_id);
    snprintf(path, sizeof path, "/api/shops/%s/providers", s->shop_id);
    created_id(bpt_http_pack("POST", path, s->owner.token, "{s:s, s:[s]}", "name", "Rulo",
                             "service_ids", s->service_id),
               "provider.id", s->provider_id);
}

/* ---- the race ---------------------------------------------------------------------- */

typedef struct {
    pthread_barrier_t *go;
    const race_shop *shop;
    const bpt_user *client;
    char starts_at[32];
    const char *booking_id; /* set: reschedule this booking instead of booking */
    long status;
    char code[32];
    char id[64];
} attempt;

static void *run_attempt(void *arg)
{
    attempt *a = arg;
    pthread_barrier_wait(a->go);
    bpt_response *r;
    if (a->booking_id != NULL) {
        char path[160];
        snprintf(path, sizeof path, "/api/bookings/%s/reschedule", a->booking_id);
        r = bpt_http_pack("POST", path, a->client->token, "{s:s}", "starts_at", a->starts_at);
    } else {
        r = bpt_http_pack("POST", "/api/bookings", a->client->token, "{s:s, s:s, s:s}",
                          "provider_id", a->shop->provider_id, "service_id", a->shop->service_id,
                          "starts_at", a->starts_at);
    }
    a->status = r != NULL ? r->status : 0;
    if (r != NULL && bpt_error_code(r) != NULL)
        snprintf(a->code, sizeof a->code, "%s", bpt_error_code(r));
    if (r != NULL && bpt_json_str(r->json, "booking.id") != NULL)
        snprintf(a->id, sizeof a->id, "%s", bpt_json_str(r->json, "booking.id"));
    bpt_response_free(r);
    return NULL;
}

/* Runs n attempts at once; returns how many won (2xx). */
static int race(attempt *a, int n)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        a[i].go = &go;
        cr_assert_eq(pthread_create(&t[i], NULL, run_attempt, &a[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    free(t);
    int won = 0;
    for (int i = 0; i < n; i++) {
        cr_expect(a[i].status < 500 && a[i].status != 0, "attempt %d answered %ld %s", i,
                  a[i].status, a[i].code);
        if (a[i].status == 200 || a[i].status == 201) {
            won++;
        } else {
            cr_expect_eq(a[i].status, 409, "attempt %d: %ld %s", i, a[i].status, a[i].code);
            cr_expect_str_eq(a[i].code, "slot_taken", "attempt %d", i);
        }
    }
    return won;
}

/* Active bookings of the provider overlapping [from, to), per the database. */
static int active_overlapping(const char *provider_id, const char *from, const char *to)
{
    PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    const char *params[] = {provider_id, from, to};
    PGresult *r = PQexecParams(c,
                               "SELECT count(*) FROM booking.bookings WHERE provider_id = $1"
                               " AND status IN ('pending_payment', 'confirmed')"
                               " AND blocked && tstzrange($2::timestamptz, $3::timestamptz)",
                               3, NULL, params, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    int n = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return n;
}

Test(booking_race, same_slot_one_winner, .timeout = 120)
{
    make_clients();
    race_shop s;
    shop_setup(&s);
    long day = workday(2);
    static attempt a[CLIENTS];
    memset(a, 0, sizeof a);
    for (int i = 0; i < CLIENTS; i++) {
        a[i].shop = &s;
        a[i].client = &clients[i];
        at(day, "10:00", a[i].starts_at);
    }
    cr_expect_eq(race(a, CLIENTS), 1, "exactly one booking must win the same slot");
    char from[32], to[32];
    at(day, "00:00", from);
    at(day, "23:59", to);
    cr_expect_eq(active_overlapping(s.provider_id, from, to), 1);
}

Test(booking_race, overlapping_slots_one_winner, .timeout = 120)
{
    make_clients();
    race_shop s;
    shop_setup(&s);
    long day = workday(3);
    /* 30 minutes plus 10 of buffer: every pair of these overlaps. */
    const char *starts[] = {"10:00", "10:15", "10:30"};
    static attempt a[CLIENTS];
    memset(a, 0, sizeof a);
    for (int i = 0; i < CLIENTS; i++) {
        a[i].shop = &s;
        a[i].client = &clients[i];
        at(day, starts[i % 3], a[i].starts_at);
    }
    cr_expect_eq(race(a, CLIENTS), 1, "exactly one of the overlapping slots may be booked");
    char from[32], to[32];
    at(day, "09:00", from);
    at(day, "12:00", to);
    cr_expect_eq(active_overlapping(s.provider_id, from, to), 1);
}

Test(booking_race, concurrent_reschedules_into_one_slot, .timeout = 120)
{
    make_clients();
    race_shop s;
    shop_setup(&s);
    long day = workday(4);
    /* Ten bookings, 45 minutes apart (09:00 to 15:45), all asking for the
     * free 17:00 at once. */
    enum { N = 10 };
    static attempt a[N];
    memset(a, 0, sizeof a);
    char ids[N][64], starts[N][32];
    for (int i = 0; i < N; i++) {
        char hhmm[16];
        int m = 9 * 60 + 45 * i;
        snprintf(hhmm, sizeof hhmm, "%02d:%02d", m / 60, m % 60);
        at(day, hhmm, starts[i]);
        bpt_response *r = bpt_http_pack("POST", "/api/bookings", clients[i].token,
                                        "{s:s, s:s, s:s}", "provider_id", s.provider_id,
                                        "service_id", s.service_id, "starts_at", starts[i]);
        cr_assert(r != NULL && r->status == 201, "%s: %s", starts[i], r ? r->body : "");
        snprintf(ids[i], sizeof ids[i], "%s", bpt_json_str(r->json, "booking.id"));
        bpt_response_free(r);
        a[i].shop = &s;
        a[i].client = &clients[i];
        a[i].booking_id = ids[i];
        at(day, "17:00", a[i].starts_at);
    }
    cr_expect_eq(race(a, N), 1, "exactly one reschedule may take the slot");
    char from[32], to[32];
    at(day, "16:30", from);
    at(day, "18:00", to);
    cr_expect_eq(active_overlapping(s.provider_id, from, to), 1);
    /* The losers did not move. */
    for (int i = 0; i < N; i++) {
        if (a[i].status == 200)
            continue;
        char path[128];
        snprintf(path, sizeof path, "/api/bookings/%s", ids[i]);
        bpt_response *r = bpt_http_json("GET", path, clients[i].token, NULL);
        cr_expect_str_eq(bpt_json_str(r->json, "booking.starts_at"), starts[i]);
        bpt_response_free(r);
    }
}
