/* The USD:ARS rate (rates.c) against the real PostgreSQL and Redis of the
 * test harness and the fake-dolarapi binary, started by each test: a fresh
 * fetch, cache hits, a lost Redis, a dead, hanging or lying source, and
 * concurrent misses that fetch once. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../services/booking/rates.h"
#include "bp.h"
#include "fake_launch.h"
#include "db.h"
#include "http.h"
#include "kv.h"
#include "metrics.h"

extern const bp_migration booking_migrations[];
extern const size_t booking_migrations_count;

#define KEY      "barberpro:booking:rate:USD:ARS"
#define LOCK_KEY KEY ":lock"

static pid_t fake_pid;
static char fake_base[64];
static bp_db *db;
static bp_kv *kv;

static const char *need(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v != NULL && *v != '\0', "%s must point at the test harness's server", name);
    return v;
}

static void start_fake(void)
{
    cr_assert_eq(bpt_fake_start("dolarapi", NULL, &fake_pid, fake_base, sizeof fake_base), 0,
                 "fake-dolarapi did not start (see stderr)");
    char url[128];
    snprintf(url, sizeof url, "%s/v1/dolares/oficial", fake_base);
    setenv("EXCHANGE_RATE_URL", url, 1);
}

/* POSTs a control request; returns the HTTP status. */
static long fake_control(const char *path_and_query)
{
    long status = bpt_fake_call(fake_base, "POST", path_and_query, NULL, NULL, NULL);
    cr_assert_neq(status, -1, "the fake did not answer %s", path_and_query);
    return status;
}

static long fake_requests(void)
{
    json_t *doc;
    cr_assert_eq(bpt_fake_call(fake_base, "GET", "/_fake/requests", NULL, NULL, &doc), 200);
    long n = (long)json_integer_value(json_object_get(doc, "requests"));
    json_decref(doc);
    return n;
}

static void forget_everything(void)
{
    const char *del[] = {"DEL", KEY, LOCK_KEY};
    freeReplyObject(bp_kv_command(kv, 3, del, NULL));
    PGresult *r =
        bp_db_query(db, "DELETE FROM booking.exchange_rates WHERE pair = 'USD:ARS'", 0, NULL);
    cr_assert(bp_db_ok(r, NULL));
    PQclear(r);
}

static void setup(void)
{
    cr_assert_eq(bp_db_open(need("BP_TEST_DATABASE_URL"), &db), 0);
    cr_assert_eq(bp_db_migrate(db, "booking", booking_migrations, booking_migrations_count), 0);
    cr_assert_eq(bp_kv_open(need("BP_TEST_REDIS_URL"), &kv), 0);
    forget_everything();
    start_fake();
}

static void teardown(void)
{
    if (fake_pid > 0)
        cr_expect_eq(bpt_fake_stop(fake_pid), 0, "fake-dolarapi did not stop cleanly");
    bp_kv_close(kv);
    bp_db_close(db);
}

TestSuite(rates, .init = setup, .fini = teardown, .timeout = 60);

static void drop_cache(void)
{
    const char *del[] = {"DEL", KEY};
    freeReplyObject(bp_kv_command(kv, 2, del, NULL));
}

/* Makes the last known rate look two hours old, as after a long outage. */
static void age_last_known(void)
{
    PGresult *r = bp_db_query(db,
                              "UPDATE booking.exchange_rates SET fetched_at = now() - "
                              "interval '2 hours' WHERE pair = 'USD:ARS'",
                              0, NULL);
    cr_assert(bp_db_ok(r, NULL));
    PQclear(r);
}

static long long key_ttl(void)
{
    const char *ttl[] = {"TTL", KEY};
    redisReply *r = bp_kv_command(kv, 2, ttl, NULL);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

Test(rates, fresh_fetch_is_stored_and_then_served_from_the_cache)
{
    cr_assert_eq(fake_control("/_fake/rate?venta=1455.5&compra=1405.25"), 200);
    booking_rate r;
    cr_assert_eq(booking_rate_get(db, kv, &r), 0);
    cr_assert_float_eq(r.rate, 1455.5, 1e-9);
    cr_assert_not(r.stale);
    cr_assert_str_eq(r.served_from, "source");
    cr_assert_str_eq(r.source, "dolarapi:oficial");
    cr_assert_lt(llabs(r.fetched_at_ms - bp_now_ms()), 5000);
    cr_assert_lt(llabs(r.source_updated_at_ms - bp_now_ms()), 5000, "fechaActualizacion read");
    cr_assert_eq(r.age_s, 0);
    cr_assert_eq(fake_requests(), 1);
    cr_assert_gt(key_ttl(), 3500, "cached for an hour");

    PGresult *res = bp_db_query(
        db, "SELECT rate::text, source_updated_at IS NOT NULL FROM booking.exchange_rates", 0,
        NULL);
    cr_assert(bp_db_ok(res, NULL));
    cr_assert_eq(PQntuples(res), 1);
    cr_assert_str_eq(PQgetvalue(res, 0, 0), "1455.5");
    cr_assert_str_eq(PQgetvalue(res, 0, 1), "t");
    PQclear(res);

    for (int i = 0; i < 3; i++) {
        booking_rate again;
        cr_assert_eq(booking_rate_get(db, kv, &again), 0);
        cr_assert_str_eq(again.served_from, "cache");
        cr_assert_float_eq(again.rate, 1455.5, 1e-9);
        cr_assert_not(again.stale);
    }
    cr_assert_eq(fake_requests(), 1, "cache hits do not reach the source");

    char *text = bp_metrics_render(NULL);
    cr_assert_not_null(strstr(text, "barberpro_booking_rate_fetches_total{result=\"ok\"} 1"), "%s",
                       text);
    cr_assert_not_null(
        strstr(text, "barberpro_booking_cache_lookups_total{cache=\"rate\",result=\"hit\"} 3"),
        "%s", text);
    cr_assert_not_null(
        strstr(text, "barberpro_booking_cache_lookups_total{cache=\"rate\",result=\"miss\"} 1"));
    free(text);
}

Test(rates, a_lost_redis_is_refilled_from_postgres_without_a_fetch)
{
    booking_rate r;
    cr_assert_eq(booking_rate_get(db, kv, &r), 0);
    drop_cache();
    cr_assert_eq(booking_rate_get(db, kv, &r), 0);
    cr_assert_str_eq(r.served_from, "database");
    cr_assert_not(r.stale);
    cr_assert_float_eq(r.rate, 1455.0, 1e-9);
    cr_assert_eq(fake_requests(), 1);
    cr_assert_gt(key_ttl(), 3500, "the cache gets the rest of the hour back");
    cr_assert_eq(booking_rate_get(db, kv, &r), 0);
    cr_assert_str_eq(r.served_from, "cache");
}

Test(rates, without_redis_postgres_alone_serves)
{
    booking_rate r;
    cr_assert_eq(booking_rate_get(db, NULL, &r), 0);
    cr_assert_str_eq(r.served_from, "source");
    cr_assert_eq(booking_rate_get(db, NULL, &r), 0);
    cr_assert_str_eq(r.served_from, "database");
    cr_assert_eq(fake_requests(), 1);
}

Test(rates, a_dead_source_gives_the_last_known_rate_marked_stale)
{
    booking_rate r;
    cr_assert_eq(fake_control("/_fake/rate?venta=1390"), 200);
    cr_assert_eq(booking_rate_get(db, kv, &r), 0);
    drop_cache();
    age_last_known();
    cr_assert_eq(fake_control("/_fake/mode?mode=error"), 200);

    cr_assert_eq(booking_rate_get(db, kv, &r), 0);
    cr_assert(r.stale);
    cr_assert_float_eq(r.rate, 1390.0, 1e-9);
    cr_assert_geq(r.age_s, 7200);
    cr_assert_lt(r.age_s, 7300);
    cr_assert_eq(fake_requests(), 2);

    /* The failure is remembered for a minute: the dead source is not asked
     * again by every request. */
    cr_assert_leq(key_ttl(), 60);
    for (int i = 0; i < 3; i++) {
        booking_rate again;
        cr_assert_eq(booking_rate_get(db, kv, &again), 0);
        cr_assert(again.stale);
        cr_assert_str_eq(again.served_from, "cache");
        cr_assert_geq(again.age_s, 7200);
    }
    cr_assert_eq(fake_requests(), 2);

    /* Back to life: the next miss fetches again. */
    drop_cache();
    cr_assert_eq(fake_control("/_fake/mode?mode=ok"), 200);
    cr_assert_eq(booking_rate_get(db, kv, &r), 0);
    cr_assert_not(r.stale);
    cr_assert_str_eq(r.served_from, "source");
}

Test(rates, garbage_or_impossible_answers_are_failures)
{
    const char *modes[] = {"garbage", "invalid"};
    for (size_t i = 0; i < BP_COUNTOF(modes); i++) {
        forget_everything();
        cr_assert_eq(fake_control("/_fake/mode?mode=ok"), 200);
        booking_rate r;
        cr_assert_eq(booking_rate_get(db, kv, &r), 0);
        drop_cache();
        age_last_known();
        char control[64];
        snprintf(control, sizeof control, "/_fake/mode?mode=%s", modes[i]);
        cr_assert_eq(fake_control(control), 200);
        cr_assert_eq(booking_rate_get(db, kv, &r), 0, "%s", modes[i]);
        cr_assert(r.stale, "%s", modes[i]);
        cr_assert_float_eq(r.rate, 1455.0, 1e-9, "%s", modes[i]);
    }
}

Test(rates, a_hanging_source_is_given_up_after_the_timeout)
{
    booking_rate r;
    cr_assert_eq(booking_rate_get(db, kv, &r), 0);
    drop_cache();
    age_last_known();
    cr_assert_eq(fake_control("/_fake/mode?mode=hang"), 200);
    int64_t t0 = bp_mono_ms();
    cr_assert_eq(booking_rate_get(db, kv, &r), 0);
    int64_t took = bp_mono_ms() - t0;
    cr_assert(r.stale);
    cr_assert_lt(took, 4500, "took %lld ms", (long long)took);
    cr_assert_geq(took, 2500, "took %lld ms", (long long)took);
}

Test(rates, nothing_known_and_no_source_is_unavailable)
{
    booking_rate r;
    cr_assert_eq(fake_control("/_fake/mode?mode=error"), 200);
    cr_assert_eq(booking_rate_get(db, kv, &r), BP_EUNAVAIL);
    cr_assert_eq(fake_control("/_fake/mode?mode=garbage"), 200);
    cr_assert_eq(booking_rate_get(db, kv, &r), BP_EUNAVAIL);
    char *text = bp_metrics_render(NULL);
    cr_assert_not_null(strstr(text, "barberpro_booking_rate_fetches_total{result=\"failed\"} 2"),
                       "%s", text);
    free(text);
    /* Nothing listening at all. */
    setenv("EXCHANGE_RATE_URL", "http://127.0.0.1:1/v1/dolares/oficial", 1);
    cr_assert_eq(booking_rate_get(db, kv, &r), BP_EUNAVAIL);
}

typedef struct {
    booking_rate rate;
    int rv;
} worker_result;

static void *worker(void *arg)
{
    worker_result *w = arg;
    bp_db *mydb;
    bp_kv *mykv;
    w->rv = -100;
    if (bp_db_open(getenv("BP_TEST_DATABASE_URL"), &mydb) != 0)
        return NULL;
    if (bp_kv_open(getenv("BP_TEST_REDIS_URL"), &mykv) != 0) {
        bp_db_close(mydb);
        return NULL;
    }
    w->rv = booking_rate_get(mydb, mykv, &w->rate);
    bp_kv_close(mykv);
    bp_db_close(mydb);
    return NULL;
}

Test(rates, concurrent_misses_fetch_once)
{
    cr_assert_eq(fake_control("/_fake/rate?venta=1500"), 200);
    cr_assert_eq(fake_control("/_fake/mode?mode=ok&delay_ms=600"), 200);
    pthread_t t[6];
    worker_result w[6];
    for (size_t i = 0; i < BP_COUNTOF(t); i++)
        cr_assert_eq(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    for (size_t i = 0; i < BP_COUNTOF(t); i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < BP_COUNTOF(t); i++) {
        cr_assert_eq(w[i].rv, 0, "caller %zu", i);
        cr_assert_float_eq(w[i].rate.rate, 1500.0, 1e-9);
    }
    cr_assert_eq(fake_requests(), 1, "concurrent misses fetched more than once");
}

/* The tests share one Redis key and one row: they run one at a time. */
int main(int argc, char *argv[])
{
    struct criterion_test_set *tests = criterion_initialize();
    criterion_options.jobs = 1;
    int result = 0;
    if (criterion_handle_args(argc, argv, true))
        result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    return result;
}
