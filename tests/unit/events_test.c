/* Events end to end against the real PostgreSQL: the outbox inside a
 * transaction, the relay delivering over the bus to consumers that are up,
 * down or failing, the inbox applying each event once, and exclusive jobs
 * across two runners. Each test (its own process) migrates a schema of its
 * own from the booking migrations and listens on bus URLs of its own. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bp.h"
#include "common.pb-c.h"
#include "config.h"
#include "db.h"
#include "eventtest.pb-c.h"
#include "events.pb-c.h"
#include "inbox.h"
#include "jobs.h"
#include "metrics.h"
#include "outbox.h"
#include "rpc.h"

extern const bp_migration booking_migrations[];
extern const size_t booking_migrations_count;

/* Who hears what. evtest applies through its inbox; evlate starts late;
 * evfail answers 500 to everything. test.nobody has no subscriber. */
static const bp_subscription subs[] = {
    {"booking.confirmed", "evtest"}, {"booking.confirmed", "evlate"},
    {"booking.cancelled", "evtest"}, {"test.unknown", "evtest"},
    {"test.rejected", "evfail"},
};

static char schema[64];
static bp_db *db;
static bp_server *srv_test, *srv_late, *srv_fail;
static bp_relay *relays[2];

/* ---- helpers ---------------------------------------------------------- */

static const char *need(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v != NULL && *v != '\0', "%s must point at the test harness's server", name);
    return v;
}

/* Runs sql after replacing each "S." with the test schema; returns the
 * result, which must have succeeded. */
static PGresult *q(const char *sql, int n, const char *const *params)
{
    char buf[1024];
    size_t o = 0;
    for (const char *s = sql; *s != '\0' && o + 80 < sizeof buf; s++) {
        if (s[0] == 'S' && s[1] == '.' && (s == sql || s[-1] == ' ' || s[-1] == '(')) {
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s.", schema);
            s++;
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = '\0';
    PGresult *r = bp_db_query(db, buf, n, params);
    cr_assert(bp_db_ok(r, NULL), "%s", buf);
    return r;
}

static long count(const char *sql)
{
    PGresult *r = q(sql, 0, NULL);
    long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* Polls until count(sql) reaches want or timeout_ms passes; returns the
 * last count. */
static long wait_count(const char *sql, long want, int timeout_ms)
{
    int64_t end = bp_mono_ms() + timeout_ms;
    long v;
    while ((v = count(sql)) < want && bp_mono_ms() < end)
        usleep(20 * 1000);
    return v;
}

/* Points var (<SERVICE>_RPC_URL) of a test consumer at a socket of this
 * process. */
static void set_url(const char *var, const char *service)
{
    const char *tmp = getenv("BP_TEST_TMP");
    char url[256];
    snprintf(url, sizeof url, "ipc://%s/ev-%d-%s.ipc", tmp != NULL && *tmp ? tmp : "/tmp",
             (int)getpid(), service);
    setenv(var, url, 1);
}

static void start_server(const bp_service *def, bp_server **out)
{
    char url[256];
    bp_config_rpc_url(def->name, url, sizeof url);
    cr_assert_eq(bp_server_start(def, url, out), 0);
}

/* Puts one booking event in its own transaction. */
static void put_booking(const char *topic, const char *key, int64_t value, char id[37])
{
    Bp__Events__BookingEvent b = BP__EVENTS__BOOKING_EVENT__INIT;
    b.booking_id = (char *)key;
    b.has_price_cents = 1;
    b.price_cents = value;
    b.currency = "ARS";
    cr_assert_eq(bp_db_begin(db), 0);
    cr_assert_eq(bp_outbox_put(db, topic, key, &b.base, id), 0);
    cr_assert_eq(bp_db_commit(db), 0);
    bp_relay_kick();
}

/* ---- the consumers ---------------------------------------------------- */

static atomic_int raw_deliveries; /* Deliver calls evtest answered */

/* booking.confirmed: records the booking in the test table. */
static int apply_booking(bp_call *call, bp_db *cdb, const Bp__Events__Event *ev)
{
    Bp__Events__BookingEvent *b = bp__events__booking_event__unpack(
        NULL, ev->has_payload ? ev->payload.len : 0, ev->payload.data);
    if (b == NULL)
        return 0; /* never applicable: acknowledged */
    char value[24], attempt[12], sql[256];
    snprintf(value, sizeof value, "%lld", (long long)b->price_cents);
    snprintf(attempt, sizeof attempt, "%d", ev->attempt);
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.applied (event_id, topic, key, value, attempt, producer)"
             " VALUES ($1, $2, $3, $4, $5, $6)",
             schema);
    const char *p[] = {ev->id, ev->topic, ev->key, value, attempt, ev->producer};
    PGresult *r = bp_db_query(cdb, sql, 6, p);
    int rv = bp_db_ok(r, NULL) ? 0 : BP_EIO;
    PQclear(r);
    bp__events__booking_event__free_unpacked(b, NULL);
    return rv;
}

/* booking.cancelled: writes, then fails on the first attempt, so the write
 * must be rolled back and the event retried. */
static int apply_cancel_flaky(bp_call *call, bp_db *cdb, const Bp__Events__Event *ev)
{
    int rv = apply_booking(call, cdb, ev);
    if (rv == 0 && ev->attempt == 1)
        return BP_EIO;
    return rv;
}

static const bp_event_handler event_handlers[] = {
    {"booking.confirmed", apply_booking},
    {"booking.cancelled", apply_cancel_flaky},
};

static int deliver_test(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    atomic_fetch_add(&raw_deliveries, 1);
    return bp_inbox_deliver(call, req, resp, event_handlers, BP_COUNTOF(event_handlers));
}

/* evlate keeps the distinct ids it was given. */
static pthread_mutex_t late_lock = PTHREAD_MUTEX_INITIALIZER;
static char late_ids[64][37];
static int n_late;

static int deliver_late(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    const Bp__Events__Event *ev = (const Bp__Events__Event *)req;
    pthread_mutex_lock(&late_lock);
    bool seen = false;
    for (int i = 0; i < n_late; i++)
        seen = seen || strcmp(late_ids[i], ev->id) == 0;
    if (!seen && n_late < 64)
        snprintf(late_ids[n_late++], sizeof late_ids[0], "%s", ev->id);
    pthread_mutex_unlock(&late_lock);
    return 0;
}

static int late_count(void)
{
    pthread_mutex_lock(&late_lock);
    int n = n_late;
    pthread_mutex_unlock(&late_lock);
    return n;
}

/* evfail notes when each attempt came and which attempt the relay said. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t fail_at[64];
static int fail_attempt[64];
static int n_fail;

static int deliver_fail(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    const Bp__Events__Event *ev = (const Bp__Events__Event *)req;
    pthread_mutex_lock(&fail_lock);
    if (n_fail < 64) {
        fail_at[n_fail] = bp_mono_ms();
        fail_attempt[n_fail++] = ev->attempt;
    }
    pthread_mutex_unlock(&fail_lock);
    return bp_call_fail(call, 500, "internal", NULL, "Falla de prueba");
}

static const bp_handler test_handlers[] = {{"Deliver", deliver_test, 0}};
static const bp_handler late_handlers[] = {{"Deliver", deliver_late, 0}};
static const bp_handler fail_handlers[] = {{"Deliver", deliver_fail, 0}};

static const bp_service evtest = {
    .name = "evtest",
    .descriptor = &bp__eventtest__consumer__descriptor,
    .handlers = test_handlers,
    .n_handlers = 1,
    .workers = 4,
    .use_db = true,
};
static const bp_service evlate = {
    .name = "evlate",
    .descriptor = &bp__eventtest__consumer__descriptor,
    .handlers = late_handlers,
    .n_handlers = 1,
    .workers = 2,
};
static const bp_service evfail = {
    .name = "evfail",
    .descriptor = &bp__eventtest__consumer__descriptor,
    .handlers = fail_handlers,
    .n_handlers = 1,
    .workers = 2,
};

/* ---- suite ------------------------------------------------------------ */

static void setup(void)
{
    setenv("DATABASE_URL", need("BP_TEST_DATABASE_URL"), 1);
    /* Backoff in tens of milliseconds instead of seconds. */
    setenv("BP_RELAY_BACKOFF_MS", "100", 1);
    setenv("BP_RELAY_BACKOFF_MAX_MS", "2000", 1);
    set_url("EVTEST_RPC_URL", "evtest");
    set_url("EVLATE_RPC_URL", "evlate");
    set_url("EVFAIL_RPC_URL", "evfail");
    snprintf(schema, sizeof schema, "ev_test_%d", (int)getpid());
    cr_assert_eq(bp_db_open(need("DATABASE_URL"), &db), 0);
    /* Tests run in parallel processes, and two CREATE EXTENSION IF NOT
     * EXISTS of a fresh database race each other: one schema at a time. */
    PQclear(bp_db_query(db, "SELECT pg_advisory_lock(hashtext('events_test.setup'))", 0, NULL));
    int rv = bp_db_migrate(db, schema, booking_migrations, booking_migrations_count);
    PQclear(bp_db_query(db, "SELECT pg_advisory_unlock(hashtext('events_test.setup'))", 0, NULL));
    cr_assert_eq(rv, 0);
    PQclear(q("CREATE TABLE S.applied (seq bigserial PRIMARY KEY, event_id uuid NOT NULL,"
              " topic text, key text, value bigint, attempt int, producer text)",
              0, NULL));
    cr_assert_eq(bp_outbox_init(schema, subs, BP_COUNTOF(subs)), 0);
    cr_assert_eq(bp_inbox_init(schema), 0);
}

static void teardown(void)
{
    for (size_t i = 0; i < BP_COUNTOF(relays); i++)
        bp_relay_stop(relays[i]);
    bp_server_stop(srv_test);
    bp_server_stop(srv_late);
    bp_server_stop(srv_fail);
    if (db != NULL) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
        PQclear(bp_db_query(db, sql, 0, NULL));
        bp_db_close(db);
    }
}

TestSuite(events, .init = setup, .fini = teardown, .timeout = 30);

/* ---- outbox ----------------------------------------------------------- */

Test(events, put_is_part_of_the_callers_transaction)
{
    char id[37];
    put_booking("booking.confirmed", "b-1", 100, id); /* committed: 2 consumers */
    cr_assert_eq(count("SELECT count(*) FROM S.outbox"), 2);

    Bp__Events__BookingEvent b = BP__EVENTS__BOOKING_EVENT__INIT;
    cr_assert_eq(bp_db_begin(db), 0);
    cr_assert_eq(bp_outbox_put(db, "booking.confirmed", "b-2", &b.base, id), 0);
    cr_assert_eq(bp_db_rollback(db), 0);
    cr_assert_eq(count("SELECT count(*) FROM S.outbox"), 2, "a rolled-back put left rows");

    /* Outside a transaction, refused: the event could outlive its change. */
    cr_assert_eq(bp_outbox_put(db, "booking.confirmed", "b-3", &b.base, id), BP_EINVAL);

    /* Nobody subscribes: nothing recorded, not an error. */
    cr_assert_eq(bp_db_begin(db), 0);
    cr_assert_eq(bp_outbox_put(db, "test.nobody", NULL, NULL, id), 0);
    /* Over the size limit. */
    static char big[BP_OUTBOX_MAX_PAYLOAD + 10];
    memset(big, 'x', sizeof big - 1);
    b.reason = big;
    cr_assert_eq(bp_outbox_put(db, "booking.confirmed", "b-4", &b.base, id), BP_ETOOBIG);
    cr_assert_eq(bp_db_commit(db), 0);
    cr_assert_eq(count("SELECT count(*) FROM S.outbox"), 2);
    cr_assert_eq(count("SELECT count(DISTINCT event_id) FROM S.outbox"), 1);
}

/* ---- relay and inbox -------------------------------------------------- */

Test(events, committed_event_is_delivered_and_applied)
{
    start_server(&evtest, &srv_test);
    cr_assert_eq(bp_relay_start(subs, BP_COUNTOF(subs), "booking", &relays[0]), 0);
    usleep(300 * 1000); /* the relay's client connects */

    char id[37];
    int64_t t0 = bp_mono_ms();
    put_booking("booking.confirmed", "5e0d0000-0000-4000-8000-0000000000aa", 1500000, id);
    cr_assert_eq(wait_count("SELECT count(*) FROM S.applied", 1, 3000), 1);
    int64_t latency = bp_mono_ms() - t0;
    cr_log_info("commit to applied: %lld ms", (long long)latency);
    cr_assert_lt(latency, 1000, "a kicked relay should not wait for its poll");

    const char *p[] = {id};
    PGresult *r =
        q("SELECT event_id, topic, key, value, attempt, producer FROM S.applied", 0, NULL);
    cr_assert_str_eq(PQgetvalue(r, 0, 0), id);
    cr_assert_str_eq(PQgetvalue(r, 0, 1), "booking.confirmed");
    cr_assert_str_eq(PQgetvalue(r, 0, 2), "5e0d0000-0000-4000-8000-0000000000aa");
    cr_assert_str_eq(PQgetvalue(r, 0, 3), "1500000");
    cr_assert_str_eq(PQgetvalue(r, 0, 4), "1");
    cr_assert_str_eq(PQgetvalue(r, 0, 5), "booking");
    PQclear(r);
    cr_assert_eq(wait_count("SELECT count(*) FROM S.outbox WHERE consumer = 'evtest'"
                            " AND delivered_at IS NOT NULL AND attempts = 1",
                            1, 2000),
                 1);
    r = q("SELECT count(*) FROM S.inbox WHERE event_id = $1", 1, p);
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "1");
    PQclear(r);

    char *text = bp_metrics_render(NULL);
    cr_assert_not_null(strstr(text, "barberpro_events_delivered_total{consumer=\"evtest\"} 1"),
                       "%s", text);
    free(text);

    int64_t s0 = bp_mono_ms();
    bp_relay_stop(relays[0]);
    relays[0] = NULL;
    cr_assert_lt(bp_mono_ms() - s0, 1000, "the relay must stop promptly");
}

/* Sends ev to evtest's Deliver directly; returns the status. */
static int call_deliver(bp_client *cli, const Bp__Events__Event *ev)
{
    uint8_t buf[512];
    size_t n = bp__events__event__pack(ev, buf);
    bp_rpc_args args = {.method = "Deliver", .body = buf, .body_len = n, .timeout_ms = 3000};
    Bp__Rpc__Reply *reply = NULL;
    int rv = bp_client_call(cli, &args, &reply);
    if (rv != 0)
        return rv;
    int status = reply->status;
    bp_rpc_reply_free(reply);
    return status;
}

typedef struct {
    bp_client *cli;
    const Bp__Events__Event *ev;
    int status;
} deliver_arg;

static void *deliver_thread(void *arg)
{
    deliver_arg *a = arg;
    a->status = call_deliver(a->cli, a->ev);
    return NULL;
}

Test(events, the_same_event_twice_is_applied_once)
{
    start_server(&evtest, &srv_test);
    char url[256];
    bp_config_rpc_url("evtest", url, sizeof url);
    bp_client *cli;
    cr_assert_eq(bp_client_open("evtest", url, &cli), 0);
    for (int i = 0; i < 200 && !bp_client_connected(cli); i++)
        usleep(10000);

    Bp__Events__BookingEvent b = BP__EVENTS__BOOKING_EVENT__INIT;
    b.has_price_cents = 1;
    b.price_cents = 700;
    uint8_t payload[64];
    char id[37];
    bp_uuid(id);
    Bp__Events__Event ev = BP__EVENTS__EVENT__INIT;
    ev.id = id;
    ev.topic = "booking.confirmed";
    ev.producer = "booking";
    ev.key = "k";
    ev.has_payload = 1;
    ev.payload.data = payload;
    ev.payload.len = bp__events__booking_event__pack(&b, payload);
    ev.has_attempt = 1;
    ev.attempt = 1;
    cr_assert_eq(call_deliver(cli, &ev), 200);
    cr_assert_eq(call_deliver(cli, &ev), 200, "a duplicate is acknowledged");
    cr_assert_eq(count("SELECT count(*) FROM S.applied"), 1);

    /* Four at once of a new id: one applies, the others wait for it and
     * find it done. */
    char id2[37];
    bp_uuid(id2);
    ev.id = id2;
    pthread_t t[4];
    deliver_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (deliver_arg){.cli = cli, .ev = &ev};
        pthread_create(&t[i], NULL, deliver_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(args[i].status, 200);
    }
    cr_assert_eq(count("SELECT count(*) FROM S.applied"), 2);
    cr_assert_eq(count("SELECT count(*) FROM S.inbox"), 2);

    /* Not an event: refused, so the producer keeps it. */
    ev.id = "not-a-uuid";
    cr_assert_eq(call_deliver(cli, &ev), 400);
    bp_client_close(cli);
}

Test(events, unknown_topic_is_acknowledged_without_effect)
{
    start_server(&evtest, &srv_test);
    cr_assert_eq(bp_relay_start(subs, BP_COUNTOF(subs), "booking", &relays[0]), 0);
    Bp__Events__UserEvent u = BP__EVENTS__USER_EVENT__INIT;
    u.user_id = "0d0e0000-0000-4000-8000-000000000009";
    cr_assert_eq(bp_db_begin(db), 0);
    char id[37];
    cr_assert_eq(bp_outbox_put(db, "test.unknown", NULL, &u.base, id), 0);
    cr_assert_eq(bp_db_commit(db), 0);
    bp_relay_kick();
    cr_assert_eq(
        wait_count("SELECT count(*) FROM S.outbox WHERE delivered_at IS NOT NULL", 1, 3000), 1);
    cr_assert_eq(count("SELECT count(*) FROM S.inbox"), 0);
    cr_assert_eq(count("SELECT count(*) FROM S.applied"), 0);
}

Test(events, a_consumer_that_is_down_gets_everything_when_it_starts)
{
    start_server(&evtest, &srv_test);
    cr_assert_eq(bp_relay_start(subs, BP_COUNTOF(subs), "booking", &relays[0]), 0);
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        char key[16], id[37];
        snprintf(key, sizeof key, "k%d", i % 4);
        put_booking("booking.confirmed", key, i, id);
    }
    /* evtest is not held up by evlate, which is down. */
    cr_assert_eq(wait_count("SELECT count(*) FROM S.applied", N, 5000), N);
    cr_assert_eq(count("SELECT count(*) FROM S.outbox WHERE consumer = 'evlate'"
                       " AND delivered_at IS NULL"),
                 N);
    cr_assert_eq(late_count(), 0);

    int64_t t0 = bp_mono_ms();
    start_server(&evlate, &srv_late);
    cr_assert_eq(wait_count("SELECT count(*) FROM S.outbox WHERE consumer = 'evlate'"
                            " AND delivered_at IS NOT NULL",
                            N, 5000),
                 N);
    cr_log_info("late consumer caught up in %lld ms", (long long)(bp_mono_ms() - t0));
    cr_assert_eq(late_count(), N);
}

Test(events, a_failing_consumer_is_retried_with_backoff_and_never_marked)
{
    start_server(&evfail, &srv_fail);
    cr_assert_eq(bp_relay_start(subs, BP_COUNTOF(subs), "booking", &relays[0]), 0);
    usleep(300 * 1000);
    Bp__Events__PaymentEvent pay = BP__EVENTS__PAYMENT_EVENT__INIT;
    pay.status = "rejected";
    cr_assert_eq(bp_db_begin(db), 0);
    char id[37];
    cr_assert_eq(bp_outbox_put(db, "test.rejected", "p-1", &pay.base, id), 0);
    cr_assert_eq(bp_db_commit(db), 0);
    bp_relay_kick();
    /* Backoff 100, 200, 400, 800 ms (+-20 %): five attempts in ~1.5 s. */
    usleep(1900 * 1000);
    bp_relay_stop(relays[0]);
    relays[0] = NULL;

    pthread_mutex_lock(&fail_lock);
    int n = n_fail;
    pthread_mutex_unlock(&fail_lock);
    cr_log_info("%d attempts; gaps (ms):", n);
    cr_assert_geq(n, 4, "only %d attempts", n);
    cr_assert_leq(n, 7, "%d attempts: no backoff?", n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(fail_attempt[i], i + 1, "the Event carries its attempt number");
    for (int i = 1; i < n; i++)
        cr_log_info("  %lld", (long long)(fail_at[i] - fail_at[i - 1]));
    cr_assert_geq(fail_at[1] - fail_at[0], 70);
    for (int i = 2; i < n; i++)
        cr_assert_gt(fail_at[i] - fail_at[i - 1], fail_at[i - 1] - fail_at[i - 2],
                     "the delay grows");

    /* The next try waits at least the sum of the delays so far. */
    PGresult *r = q("SELECT attempts, delivered_at IS NULL, last_error,"
                    " next_attempt_at > created_at + interval '500 milliseconds' FROM S.outbox",
                    0, NULL);
    cr_assert_eq(strtol(PQgetvalue(r, 0, 0), NULL, 10), n);
    cr_assert_str_eq(PQgetvalue(r, 0, 1), "t");
    cr_assert_not_null(strstr(PQgetvalue(r, 0, 2), "500"), "%s", PQgetvalue(r, 0, 2));
    cr_assert_str_eq(PQgetvalue(r, 0, 3), "t");
    PQclear(r);
}

Test(events, a_handler_error_rolls_back_and_the_event_comes_again)
{
    start_server(&evtest, &srv_test);
    cr_assert_eq(bp_relay_start(subs, BP_COUNTOF(subs), "booking", &relays[0]), 0);
    char id[37];
    put_booking("booking.cancelled", "b-9", 42, id);
    cr_assert_eq(
        wait_count("SELECT count(*) FROM S.outbox WHERE delivered_at IS NOT NULL", 1, 3000), 1);
    /* The first attempt's write was rolled back with its inbox row. */
    cr_assert_eq(count("SELECT count(*) FROM S.applied"), 1);
    cr_assert_eq(count("SELECT attempt FROM S.applied"), 2);
    cr_assert_eq(count("SELECT attempts FROM S.outbox"), 2);
    cr_assert_eq(count("SELECT count(*) FROM S.inbox"), 1);
}

Test(events, two_relays_on_one_table_deliver_every_row_in_key_order)
{
    start_server(&evtest, &srv_test);
    cr_assert_eq(bp_relay_start(subs, BP_COUNTOF(subs), "booking", &relays[0]), 0);
    cr_assert_eq(bp_relay_start(subs, BP_COUNTOF(subs), "booking", &relays[1]), 0);
    enum { KEYS = 10, PER_KEY = 15, N = KEYS * PER_KEY };
    int64_t t0 = bp_mono_ms();
    for (int i = 0; i < N; i++) {
        char key[16], id[37];
        snprintf(key, sizeof key, "key-%d", i % KEYS);
        put_booking("booking.confirmed", key, i, id);
    }
    cr_assert_eq(wait_count("SELECT count(*) FROM S.outbox WHERE consumer = 'evtest'"
                            " AND delivered_at IS NOT NULL",
                            N, 10000),
                 N, "rows were lost");
    cr_log_info("%d events through two relays in %lld ms; %d deliveries (%d duplicates)", N,
                (long long)(bp_mono_ms() - t0), atomic_load(&raw_deliveries),
                atomic_load(&raw_deliveries) - N);
    cr_assert_eq(count("SELECT count(*) FROM S.applied"), N);
    cr_assert_eq(count("SELECT count(DISTINCT event_id) FROM S.applied"), N);
    cr_assert_geq(atomic_load(&raw_deliveries), N);
    /* Within a key, applied in the order put. */
    cr_assert_eq(count("SELECT count(*) FROM (SELECT value < lag(value) OVER"
                       " (PARTITION BY key ORDER BY seq) AS back FROM S.applied) x WHERE back"),
                 0, "a key's events were applied out of order");
}

Test(events, old_rows_are_pruned_and_pending_ones_kept)
{
    PQclear(q("INSERT INTO S.outbox (event_id, topic, consumer, payload, delivered_at) VALUES"
              " (gen_random_uuid(), 't', 'evtest', '', now() - interval '8 days'),"
              " (gen_random_uuid(), 't', 'evtest', '', now() - interval '6 days')",
              0, NULL));
    PQclear(q("INSERT INTO S.outbox (event_id, topic, consumer, payload, created_at) VALUES"
              " (gen_random_uuid(), 't', 'gone', '', now() - interval '30 days')",
              0, NULL));
    cr_assert_eq(bp_relay_start(subs, BP_COUNTOF(subs), "booking", &relays[0]), 0);
    int64_t end = bp_mono_ms() + 3000;
    while (count("SELECT count(*) FROM S.outbox") > 2 && bp_mono_ms() < end)
        usleep(20 * 1000);
    cr_assert_eq(count("SELECT count(*) FROM S.outbox WHERE delivered_at < now() - interval '7 "
                       "days'"),
                 0);
    cr_assert_eq(count("SELECT count(*) FROM S.outbox"), 2, "a recent or pending row went");

    PQclear(
        q("INSERT INTO S.inbox (event_id, topic, received_at) VALUES"
          " (gen_random_uuid(), 't', now() - interval '31 days'), (gen_random_uuid(), 't', now())",
          0, NULL));
    cr_assert_eq(bp_inbox_prune(db, NULL), 0);
    cr_assert_eq(count("SELECT count(*) FROM S.inbox"), 1);
}

/* ---- jobs ------------------------------------------------------------- */

static atomic_int excl_running, excl_runs, excl_overlap;
static atomic_int free_running, free_overlap;
static atomic_int failing_runs;

static int exclusive_job(bp_db *jdb, bp_kv *kv)
{
    if (atomic_fetch_add(&excl_running, 1) > 0)
        atomic_fetch_add(&excl_overlap, 1);
    atomic_fetch_add(&excl_runs, 1);
    usleep(80 * 1000);
    atomic_fetch_sub(&excl_running, 1);
    return 0;
}

static int free_job(bp_db *jdb, bp_kv *kv)
{
    if (atomic_fetch_add(&free_running, 1) > 0)
        atomic_fetch_add(&free_overlap, 1);
    usleep(80 * 1000);
    atomic_fetch_sub(&free_running, 1);
    return 0;
}

/* Fails, and leaves a broken transaction behind for the runner to clean. */
static int failing_job(bp_db *jdb, bp_kv *kv)
{
    atomic_fetch_add(&failing_runs, 1);
    PQclear(bp_db_query(jdb, "BEGIN", 0, NULL));
    PQclear(bp_db_query(jdb, "SELECT 1/0", 0, NULL));
    return BP_EIO;
}

static const bp_job exclusive_jobs[] = {{"sweep", 20, true, exclusive_job}};
static const bp_job free_jobs[] = {{"free", 20, false, free_job}};
static const bp_job failing_jobs[] = {{"failing", 50, true, failing_job}};

Test(events, an_exclusive_job_never_runs_twice_at_once)
{
    bp_jobs *a, *b, *c, *d, *f;
    cr_assert_eq(bp_jobs_start(exclusive_jobs, 1, schema, false, &a), 0);
    cr_assert_eq(bp_jobs_start(exclusive_jobs, 1, schema, false, &b), 0);
    cr_assert_eq(bp_jobs_start(free_jobs, 1, schema, false, &c), 0);
    cr_assert_eq(bp_jobs_start(free_jobs, 1, schema, false, &d), 0);
    cr_assert_eq(bp_jobs_start(failing_jobs, 1, schema, false, &f), 0);
    usleep(1200 * 1000);
    int64_t t0 = bp_mono_ms();
    bp_jobs_stop(a);
    bp_jobs_stop(b);
    bp_jobs_stop(c);
    bp_jobs_stop(d);
    bp_jobs_stop(f);
    cr_assert_lt(bp_mono_ms() - t0, 1000);
    cr_log_info("exclusive: %d runs, %d overlaps; free: %d overlaps; failing: %d runs",
                atomic_load(&excl_runs), atomic_load(&excl_overlap), atomic_load(&free_overlap),
                atomic_load(&failing_runs));
    cr_assert_geq(atomic_load(&excl_runs), 5);
    cr_assert_eq(atomic_load(&excl_overlap), 0, "an exclusive job ran twice at once");
    cr_assert_gt(atomic_load(&free_overlap), 0, "the control job never overlapped");
    cr_assert_geq(atomic_load(&failing_runs), 5, "a failing job must keep its schedule");

    char *text = bp_metrics_render(NULL);
    cr_assert_not_null(strstr(text, "barberpro_job_failures_total{job=\"failing\"}"), "%s", text);
    free(text);
}
