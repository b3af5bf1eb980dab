/* The transactional outbox and its relay: rows written in the producer's
 * transaction, claimed with SKIP LOCKED and a lease, delivered over the bus
 * with retries and backoff until acknowledged. See outbox.h for the rules. */
#include "outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "config.h"
#include "events.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"
#include "strbuf.h"

#define MAX_SUBSCRIPTIONS    256
#define MAX_NAME             32  /* schema, consumer and producer names */
#define MAX_TOPIC            100 /* bytes */
#define MAX_KEY              200 /* bytes */
#define MAX_ERROR            300 /* bytes of last_error */
#define BATCH_SIZE           100
#define POLL_MS              250   /* idle poll when nobody kicks */
#define DB_DOWN_WAIT_MS      1000  /* between attempts while PostgreSQL is away */
#define LEASE_MS             60000 /* plus two delivery timeouts: a claimed row returns after */
#define GAUGE_EVERY_MS       2000
#define SILENCE_WARN_MS      10000 /* a consumer never reached by then is logged */
#define RETENTION_EVERY_MS   3600000
#define RETENTION_BATCH      5000
#define RETENTION_MAX_ROUNDS 20

/* What bp_outbox_init recorded; read-only once threads run. */
static struct {
    char schema[MAX_NAME + 1];
    const bp_subscription *subs;
    size_t n_subs;
} outbox;

/* Kicks reach every relay of the process through one generation counter:
 * a relay notes it before it claims and sleeps only while it is unchanged,
 * so a kick that arrives during a claim is never lost. */
static pthread_mutex_t kick_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t kick_cond;
static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t kick_gen;

static void kick_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&kick_cond, &attr);
    pthread_condattr_destroy(&attr);
}

void bp_relay_kick(void)
{
    pthread_once(&kick_once, kick_init);
    pthread_mutex_lock(&kick_lock);
    atomic_fetch_add(&kick_gen, 1);
    pthread_cond_broadcast(&kick_cond);
    pthread_mutex_unlock(&kick_lock);
}

/* A schema: lower-case letters, digits and '_', not starting with a digit,
 * so that it needs no quoting where it is pasted into SQL. */
static bool valid_schema(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > MAX_NAME || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* A bus service name: as a schema, plus '-'. It travels inside a quoted
 * array literal, so it must hold no quote, backslash or brace. */
static bool valid_consumer(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > MAX_NAME)
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

int bp_outbox_init(const char *schema, const bp_subscription *subs, size_t n)
{
    if (!valid_schema(schema) || n > MAX_SUBSCRIPTIONS || (n > 0 && subs == NULL))
        return BP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (subs[i].topic == NULL || *subs[i].topic == '\0' || strlen(subs[i].topic) > MAX_TOPIC ||
            !valid_consumer(subs[i].consumer)) {
            bp_log_error("subscription %zu (%s -> %s) is not valid", i,
                         subs[i].topic ? subs[i].topic : "?",
                         subs[i].consumer ? subs[i].consumer : "?");
            return BP_EINVAL;
        }
    }
    snprintf(outbox.schema, sizeof outbox.schema, "%s", schema);
    outbox.subs = subs;
    outbox.n_subs = n;
    return 0;
}

/* True when an earlier subscription already names the same consumer for
 * the same topic (a repeated line must not insert a second row). */
static bool seen_before(size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (strcmp(outbox.subs[k].topic, outbox.subs[i].topic) == 0 &&
            strcmp(outbox.subs[k].consumer, outbox.subs[i].consumer) == 0)
            return true;
    return false;
}

int bp_outbox_event_init(bp_outbox_event *ev, const char *topic, const char *key,
                         const ProtobufCMessage *payload)
{
    memset(ev, 0, sizeof *ev);
    bp_uuid(ev->event_id);
    ev->topic = topic;
    ev->key = key;
    if (outbox.schema[0] == '\0' || topic == NULL || *topic == '\0' || strlen(topic) > MAX_TOPIC ||
        (key != NULL && strlen(key) > MAX_KEY))
        return BP_EINVAL;

    /* The consumers as a text[] literal: {"notification","payment"}. */
    bp_strbuf consumers = {0};
    bp_strbuf_printf(&consumers, "{");
    for (size_t i = 0; i < outbox.n_subs; i++) {
        if (strcmp(outbox.subs[i].topic, topic) != 0 || seen_before(i))
            continue;
        bp_strbuf_printf(&consumers, "%s\"%s\"", ev->n_consumers == 0 ? "" : ",",
                         outbox.subs[i].consumer);
        ev->n_consumers++;
    }
    bp_strbuf_printf(&consumers, "}");
    ev->consumers = bp_strbuf_take(&consumers);

    size_t len = payload != NULL ? protobuf_c_message_get_packed_size(payload) : 0;
    if (len > BP_OUTBOX_MAX_PAYLOAD) {
        bp_log_error("event of topic %s is %zu bytes, over the %u limit", topic, len,
                     BP_OUTBOX_MAX_PAYLOAD);
        bp_outbox_event_free(ev);
        return BP_ETOOBIG;
    }
    ev->payload = malloc(len ? len : 1);
    ev->payload_hex = malloc(2 * len + 1);
    if (ev->consumers == NULL || ev->payload == NULL || ev->payload_hex == NULL) {
        bp_outbox_event_free(ev);
        return BP_ENOMEM;
    }
    if (payload != NULL)
        protobuf_c_message_pack(payload, ev->payload);
    ev->payload_len = len;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        ev->payload_hex[2 * i] = digits[ev->payload[i] >> 4];
        ev->payload_hex[2 * i + 1] = digits[ev->payload[i] & 15];
    }
    ev->payload_hex[2 * len] = '\0';
    return 0;
}

void bp_outbox_event_free(bp_outbox_event *ev)
{
    free(ev->consumers);
    free(ev->payload);
    free(ev->payload_hex);
    ev->consumers = NULL;
    ev->payload = NULL;
    ev->payload_hex = NULL;
}

int bp_outbox_put(bp_db *db, const char *topic, const char *key, const ProtobufCMessage *payload,
                  char event_id_out[37])
{
    bp_outbox_event ev;
    int rv = bp_outbox_event_init(&ev, topic, key, payload);
    if (event_id_out != NULL)
        memcpy(event_id_out, ev.event_id, sizeof ev.event_id);
    if (rv != 0)
        return rv;
    if (db == NULL) {
        rv = BP_EINVAL;
        goto out;
    }
    if (ev.n_consumers == 0) {
        bp_log_debug("event %s of topic %s has no subscriber; nothing recorded", ev.event_id,
                     topic);
        goto out;
    }
    /* Outside a transaction the event would commit even if the change it
     * announces does not: refuse, loudly, rather than lie to consumers. */
    PGconn *conn = bp_db_conn(db);
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        bp_log_error("bp_outbox_put(%s) called outside a transaction", topic);
        rv = BP_EINVAL;
        goto out;
    }
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.outbox (event_id, topic, key, consumer, payload)"
             " SELECT $1, $2, $3, c, $4 FROM unnest($5::text[]) AS c",
             outbox.schema);
    /* The payload goes as binary; the statement runs inside the caller's
     * transaction, where bp_db_query would not reconnect anyway. */
    const char *values[5] = {ev.event_id, topic, key, (const char *)ev.payload, ev.consumers};
    const int lengths[5] = {0, 0, 0, (int)ev.payload_len, 0};
    const int formats[5] = {0, 0, 0, 1, 0};
    PGresult *r = PQexecParams(conn, sql, 5, NULL, values, lengths, formats, 0);
    rv = bp_db_ok(r, NULL) ? 0 : BP_EIO;
    PQclear(r);
out:
    bp_outbox_event_free(&ev);
    return rv;
}

/* ---- the relay -------------------------------------------------------- */

typedef struct {
    char name[MAX_NAME + 1];
    bp_client *client;
    int64_t paused_until; /* monotonic ms; skipped until then */
    int failures;         /* transport failures in a row */
    bool was_connected;
    bool warned; /* "not reachable" logged since it was last connected */
    bp_counter *delivered, *failed, *pending;
} consumer;

struct bp_relay {
    pthread_t thread;
    atomic_bool stopping;
    bp_db *db;
    char producer[MAX_NAME + 1];
    consumer *consumers;
    size_t n_consumers;
    int backoff_ms, backoff_max_ms, timeout_ms, lease_ms;
    bool db_down;
    int64_t started, next_gauge, next_retention;
    int64_t next_retry; /* monotonic ms of the earliest retry this relay set; 0: none */
    char sql_claim[1400], sql_done[200], sql_retry[300], sql_release[160];
    char sql_pending[160], sql_retention[300];
};

/* xorshift64*: jitter needs no quality, only independence between relays. */
/* The delay before retry number failures+1: base doubling per failure up
 * to the maximum, then +-20 % so that rows failed together spread out. */
static int64_t backoff_delay(const bp_relay *r, int failures)
{
    return bp_backoff_ms(r->backoff_ms, r->backoff_max_ms, failures);
}

static consumer *find_consumer(bp_relay *r, const char *name)
{
    for (size_t i = 0; i < r->n_consumers; i++)
        if (strcmp(r->consumers[i].name, name) == 0)
            return &r->consumers[i];
    return NULL;
}

/* Sleeps up to ms, or until a kick newer than seen, or a stop. */
static void relay_wait(bp_relay *r, uint_fast64_t seen, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&kick_lock);
    while (atomic_load(&kick_gen) == seen && !atomic_load(&r->stopping))
        if (pthread_cond_timedwait(&kick_cond, &kick_lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&kick_lock);
}

/* Runs a statement of the relay's own connection; logs once when PostgreSQL
 * goes away and once when it is back. Returns the result or NULL. */
static PGresult *relay_query(bp_relay *r, const char *sql, int n, const char *const *params)
{
    PGresult *res = bp_db_query(r->db, sql, n, params);
    if (res == NULL || PQstatus(bp_db_conn(r->db)) != CONNECTION_OK) {
        if (!r->db_down)
            bp_log_error("event relay: PostgreSQL unreachable; deliveries wait");
        r->db_down = true;
        PQclear(res);
        return NULL;
    }
    if (r->db_down)
        bp_log_info("event relay: PostgreSQL is back");
    r->db_down = false;
    if (!bp_db_ok(res, NULL)) {
        PQclear(res);
        return NULL;
    }
    return res;
}

static void refresh_pending(bp_relay *r)
{
    PGresult *res = relay_query(r, r->sql_pending, 0, NULL);
    if (res == NULL)
        return;
    for (size_t i = 0; i < r->n_consumers; i++) {
        int64_t count = 0;
        for (int row = 0; row < PQntuples(res); row++)
            if (strcmp(PQgetvalue(res, row, 0), r->consumers[i].name) == 0)
                count = strtoll(PQgetvalue(res, row, 1), NULL, 10);
        bp_counter_set(r->consumers[i].pending, count);
    }
    PQclear(res);
}

/* Deletes delivered rows past retention in bounded batches, so that a large
 * backlog never holds one long statement. Several instances may do it at
 * once; deleting is idempotent. */
static void prune_delivered(bp_relay *r)
{
    long total = 0;
    for (int round = 0; round < RETENTION_MAX_ROUNDS && !atomic_load(&r->stopping); round++) {
        PGresult *res = relay_query(r, r->sql_retention, 0, NULL);
        if (res == NULL)
            return;
        long n = strtol(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        total += n;
        if (n < RETENTION_BATCH)
            break;
    }
    if (total > 0)
        bp_log_info("event relay: deleted %ld delivered events past retention", total);
}

/* Builds the text[] literal of consumers worth claiming rows for now:
 * connected and not paused after a failure. Returns how many. */
static size_t eligible_consumers(bp_relay *r, char *out, size_t len)
{
    int64_t now = bp_mono_ms();
    size_t n = 0, used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->n_consumers; i++) {
        consumer *c = &r->consumers[i];
        bool up = bp_client_connected(c->client);
        if (up && !c->was_connected) {
            bp_log_info("event relay: %s is connected", c->name);
            c->warned = false;
        } else if (!up && !c->warned && (c->was_connected || now - r->started > SILENCE_WARN_MS)) {
            bp_log_warn("event relay: %s is not connected; its events wait", c->name);
            c->warned = true;
        }
        c->was_connected = up;
        if (!up || c->paused_until > now)
            continue;
        int w = snprintf(out + used, len - used, "%s\"%s\"", n == 0 ? "{" : ",", c->name);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
        n++;
    }
    if (n > 0 && used + 2 <= len)
        snprintf(out + used, len - used, "}");
    return n;
}

/* The packed Event of a claimed row (free()), or NULL after writing err. */
static uint8_t *event_body(const bp_relay *r, const PGresult *res, int row, size_t *len, char *err,
                           size_t errlen)
{
    Bp__Events__Event ev = BP__EVENTS__EVENT__INIT;
    ev.id = PQgetvalue(res, row, 1);
    ev.topic = PQgetvalue(res, row, 2);
    ev.key = PQgetisnull(res, row, 3) ? NULL : PQgetvalue(res, row, 3);
    ev.producer = (char *)r->producer;
    ev.occurred_at = PQgetvalue(res, row, 7);
    ev.has_attempt = 1;
    ev.attempt = (int32_t)strtol(PQgetvalue(res, row, 6), NULL, 10) + 1;
    size_t plen = 0;
    unsigned char *payload = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, 5), &plen);
    if (payload == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ev.has_payload = 1;
    ev.payload.data = payload;
    ev.payload.len = plen;
    *len = bp__events__event__get_packed_size(&ev);
    uint8_t *body = malloc(*len ? *len : 1);
    if (body != NULL)
        bp__events__event__pack(&ev, body);
    else
        snprintf(err, errlen, "out of memory");
    PQfreemem(payload);
    return body;
}

/* One delivery in flight: its callback's outcome, under the batch's lock. */
typedef struct {
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    int *pending;
    int rv;
    Bp__Rpc__Reply *reply;
} flight;

static void on_delivered(void *arg, int rv, Bp__Rpc__Reply *reply)
{
    flight *f = arg;
    pthread_mutex_lock(f->lock);
    f->rv = rv;
    f->reply = reply;
    (*f->pending)--;
    pthread_cond_signal(f->cond);
    pthread_mutex_unlock(f->lock);
}

/* The consumer's answer of f as a status (and err when it is a refusal);
 * returns f's transport outcome. Frees the reply. */
static int outcome(flight *f, int *status, char *err, size_t errlen)
{
    if (f->rv != 0) {
        snprintf(err, errlen, "%s", bp_strerror(f->rv));
        bp_rpc_reply_free(f->reply);
        return f->rv;
    }
    Bp__Rpc__Reply *reply = f->reply;
    *status = reply->has_status ? reply->status : 500;
    if (*status < 200 || *status >= 300) {
        const Bp__Rpc__Error *e = reply->error;
        snprintf(err, errlen, "status %d: %s: %s", *status,
                 e != NULL && e->code != NULL ? e->code : "-",
                 e != NULL && e->message != NULL ? e->message : "-");
    }
    bp_rpc_reply_free(reply);
    return 0;
}

/* Records the outcome of a delivery. A failed row waits its own backoff; a
 * transport failure also pauses the consumer so that a dead or hung one
 * costs one timeout per pause, not one per row. */
static void settle_row(bp_relay *r, consumer *c, const PGresult *res, int row, int rv, int status,
                       const char *err)
{
    const char *id = PQgetvalue(res, row, 0);
    if (rv == 0 && status >= 200 && status < 300) {
        const char *p[] = {id};
        PQclear(relay_query(r, r->sql_done, 1, p));
        bp_counter_add(c->delivered, 1);
        c->failures = 0;
        return;
    }
    int attempts = (int)strtol(PQgetvalue(res, row, 6), NULL, 10);
    int64_t wait = backoff_delay(r, attempts);
    char delay[24];
    snprintf(delay, sizeof delay, "%lld", (long long)wait);
    /* Wake for it on time rather than at the next poll; a few ms late so
     * that the database's clock has surely passed next_attempt_at. */
    int64_t due = bp_mono_ms() + wait + 5;
    if (r->next_retry == 0 || due < r->next_retry)
        r->next_retry = due;
    const char *p[] = {id, delay, err};
    PQclear(relay_query(r, r->sql_retry, 3, p));
    bp_counter_add(c->failed, 1);
    bp_log(BP_LOG_WARN, PQgetvalue(res, row, 1),
           "event %s (%s) to %s failed on attempt %d (%s); next in %s ms", PQgetvalue(res, row, 1),
           PQgetvalue(res, row, 2), c->name, attempts + 1, err, delay);
    /* Once per pause: the other rows of a flight that failed together do
     * not stretch it. */
    if (rv != 0 && c->paused_until <= bp_mono_ms()) {
        c->paused_until = bp_mono_ms() + backoff_delay(r, c->failures);
        c->failures++;
    }
}

/* Claims one batch and delivers it. A batch holds at most one row per key
 * and consumer (the claim skips rows behind a pending one of their key), so
 * its rows are delivered FLIGHT at a time, concurrently, without breaking
 * any key's order; the consumer's workers take them in parallel. Returns
 * the number of rows claimed, or -1 when the database did not answer. */
#define FLIGHT 16

static int run_batch(bp_relay *r, const char *eligible)
{
    char limit[16], lease[16];
    snprintf(limit, sizeof limit, "%d", BATCH_SIZE);
    snprintf(lease, sizeof lease, "%d", r->lease_ms);
    const char *p[] = {eligible, limit, lease};
    PGresult *res = relay_query(r, r->sql_claim, 3, p);
    if (res == NULL)
        return -1;
    int n = PQntuples(res);
    int64_t started = bp_mono_ms();
    bp_strbuf unsent = {0};
    size_t n_unsent = 0;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    for (int first = 0; first < n; first += FLIGHT) {
        int last = first + FLIGHT < n ? first + FLIGHT : n, pending = 0;
        flight fl[FLIGHT];
        consumer *to[FLIGHT];
        uint8_t *bodies[FLIGHT];
        for (int row = first; row < last; row++) {
            int k = row - first;
            consumer *c = find_consumer(r, PQgetvalue(res, row, 4));
            to[k] = NULL;
            bodies[k] = NULL;
            /* Rows left when stopping, of a consumer paused during this
             * batch, or of a batch that has run for half its lease go back
             * at once. */
            if (c == NULL || atomic_load(&r->stopping) || c->paused_until > bp_mono_ms() ||
                bp_mono_ms() - started > r->lease_ms / 2) {
                bp_strbuf_printf(&unsent, "%s%s", n_unsent++ == 0 ? "{" : ",",
                                 PQgetvalue(res, row, 0));
                continue;
            }
            char err[MAX_ERROR] = "";
            size_t len = 0;
            bodies[k] = event_body(r, res, row, &len, err, sizeof err);
            if (bodies[k] == NULL) {
                settle_row(r, c, res, row, BP_ENOMEM, 0, err);
                continue;
            }
            to[k] = c;
            fl[k] = (flight){&lock, &cond, &pending, 0, NULL};
            /* The event id doubles as request id (the consumer's logs name
             * it) and as idempotency key. */
            bp_rpc_args args = {
                .method = "Deliver",
                .body = bodies[k],
                .body_len = len,
                .request_id = PQgetvalue(res, row, 1),
                .idempotency_key = PQgetvalue(res, row, 1),
                .timeout_ms = r->timeout_ms,
            };
            pthread_mutex_lock(&lock);
            pending++;
            pthread_mutex_unlock(&lock);
            bp_client_call_async(c->client, &args, on_delivered, &fl[k]);
        }
        pthread_mutex_lock(&lock);
        while (pending > 0)
            pthread_cond_wait(&cond, &lock);
        pthread_mutex_unlock(&lock);
        for (int row = first; row < last; row++) {
            int k = row - first;
            free(bodies[k]);
            if (to[k] == NULL)
                continue;
            int status = 0;
            char err[MAX_ERROR] = "";
            int rv = outcome(&fl[k], &status, err, sizeof err);
            settle_row(r, to[k], res, row, rv, status, err);
        }
    }
    pthread_cond_destroy(&cond);
    pthread_mutex_destroy(&lock);
    PQclear(res);
    if (n_unsent > 0) {
        bp_strbuf_printf(&unsent, "}");
        char *ids = bp_strbuf_take(&unsent);
        if (ids != NULL) {
            const char *rp[] = {ids};
            PQclear(relay_query(r, r->sql_release, 1, rp));
        }
        free(ids);
    }
    return n;
}

/* How long an idle relay may sleep: the poll, or less when a retry it
 * scheduled or the end of a consumer's pause comes sooner. */
static int idle_wait_ms(bp_relay *r, int poll)
{
    int64_t now = bp_mono_ms(), until = now + poll;
    if (r->next_retry != 0 && r->next_retry < until)
        until = r->next_retry;
    for (size_t i = 0; i < r->n_consumers; i++)
        if (r->consumers[i].paused_until > now && r->consumers[i].paused_until < until)
            until = r->consumers[i].paused_until;
    return until - now > 0 ? (int)(until - now) : 1;
}

static void *relay_main(void *arg)
{
    bp_relay *r = arg;
    while (!atomic_load(&r->stopping)) {
        uint_fast64_t seen = atomic_load(&kick_gen);
        int64_t now = bp_mono_ms();
        if (r->next_retry != 0 && r->next_retry <= now)
            r->next_retry = 0;
        if (now >= r->next_gauge) {
            refresh_pending(r);
            r->next_gauge = now + GAUGE_EVERY_MS;
        }
        if (now >= r->next_retention) {
            prune_delivered(r);
            r->next_retention = now + RETENTION_EVERY_MS;
        }
        char eligible[(MAX_NAME + 3) * MAX_SUBSCRIPTIONS + 4];
        int claimed = 0;
        if (eligible_consumers(r, eligible, sizeof eligible) > 0)
            claimed = run_batch(r, eligible);
        /* A full or partial batch may have unblocked later rows of its
         * keys: look again at once. Only an empty round sleeps. */
        if (claimed > 0)
            continue;
        if (claimed < 0 || r->db_down)
            relay_wait(r, seen, DB_DOWN_WAIT_MS);
        else
            relay_wait(r, seen, idle_wait_ms(r, POLL_MS));
    }
    return NULL;
}

static void build_sql(bp_relay *r)
{
    const char *t = outbox.schema;
    /* Due rows of eligible consumers, not leased by another relay, and not
     * behind an earlier pending row of the same key and consumer. The
     * lease is taken in the same statement, so a row is never claimed by
     * two relays while its lease runs. Walked in the order they fall due
     * (outbox_due_idx), so that a backlog not yet due is never scanned. */
    snprintf(r->sql_claim, sizeof r->sql_claim,
             "WITH pick AS ("
             " SELECT c.id FROM %s.outbox c"
             " WHERE c.delivered_at IS NULL AND c.next_attempt_at <= now()"
             " AND (c.locked_until IS NULL OR c.locked_until < now())"
             " AND c.consumer = ANY($1::text[])"
             " AND NOT EXISTS (SELECT 1 FROM %s.outbox e WHERE e.consumer = c.consumer"
             " AND e.key = c.key AND e.delivered_at IS NULL AND e.id < c.id)"
             " ORDER BY c.next_attempt_at, c.id LIMIT $2::int FOR UPDATE SKIP LOCKED),"
             " claimed AS ("
             " UPDATE %s.outbox o SET locked_until = now() + $3::int * interval '1 millisecond'"
             " FROM pick WHERE o.id = pick.id"
             " RETURNING o.id, o.event_id, o.topic, o.key, o.consumer, o.payload, o.attempts,"
             " to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))"
             " SELECT * FROM claimed ORDER BY id",
             t, t, t);
    snprintf(r->sql_done, sizeof r->sql_done,
             "UPDATE %s.outbox SET delivered_at = now(), attempts = attempts + 1,"
             " locked_until = NULL WHERE id = $1",
             t);
    snprintf(r->sql_retry, sizeof r->sql_retry,
             "UPDATE %s.outbox SET attempts = attempts + 1,"
             " next_attempt_at = now() + $2::int * interval '1 millisecond',"
             " locked_until = NULL, last_error = left($3, 300) WHERE id = $1",
             t);
    snprintf(r->sql_release, sizeof r->sql_release,
             "UPDATE %s.outbox SET locked_until = NULL WHERE id = ANY($1::bigint[])", t);
    snprintf(r->sql_pending, sizeof r->sql_pending,
             "SELECT consumer, count(*) FROM %s.outbox WHERE delivered_at IS NULL"
             " GROUP BY consumer",
             t);
    snprintf(r->sql_retention, sizeof r->sql_retention,
             "DELETE FROM %s.outbox WHERE id IN (SELECT id FROM %s.outbox"
             " WHERE delivered_at < now() - interval '7 days' LIMIT %d)",
             t, t, RETENTION_BATCH);
}

static void relay_free(bp_relay *r)
{
    for (size_t i = 0; i < r->n_consumers; i++)
        bp_client_close(r->consumers[i].client);
    free(r->consumers);
    bp_db_close(r->db);
    free(r);
}

static int add_consumer(bp_relay *r, const char *name)
{
    if (find_consumer(r, name) != NULL)
        return 0;
    if (!valid_consumer(name))
        return BP_EINVAL;
    consumer *c = &r->consumers[r->n_consumers];
    snprintf(c->name, sizeof c->name, "%s", name);
    char url[BP_BUS_LIST_LEN];
    bp_config_rpc_url(name, url, sizeof url);
    int rv = bp_client_open(name, url, &c->client);
    if (rv != 0)
        return rv;
    r->n_consumers++;
    char labels[MAX_NAME + 16];
    snprintf(labels, sizeof labels, "consumer=\"%s\"", name);
    c->delivered = bp_metrics_counter("barberpro_events_delivered_total",
                                      "Events the relay delivered and saw acknowledged", labels);
    c->failed = bp_metrics_counter("barberpro_events_failed_attempts_total",
                                   "Event deliveries that failed and will be retried", labels);
    c->pending = bp_metrics_counter("barberpro_events_pending",
                                    "Events in the outbox not yet delivered", labels);
    return 0;
}

/* A schema whose outbox lacks the relay's columns (an older migration) is
 * a deployment error better reported once at start than every second. */
static int check_table(bp_db *db)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT id, event_id, key, consumer, attempts, next_attempt_at, locked_until,"
             " last_error FROM %s.outbox LIMIT 0",
             outbox.schema);
    PGresult *res = bp_db_query(db, sql, 0, NULL);
    bool ok = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        bp_log_error("event relay: %s.outbox is missing or has not the shape of outbox.h: %s",
                     outbox.schema, res != NULL ? PQresultErrorMessage(res) : "no connection");
    PQclear(res);
    return ok ? 0 : BP_EIO;
}

int bp_relay_start(const bp_subscription *subs, size_t n, const char *producer, bp_relay **out)
{
    if (outbox.schema[0] == '\0' || producer == NULL || !valid_consumer(producer) ||
        n > MAX_SUBSCRIPTIONS || (n > 0 && subs == NULL))
        return BP_EINVAL;
    pthread_once(&kick_once, kick_init);
    bp_relay *r = calloc(1, sizeof *r);
    if (r == NULL)
        return BP_ENOMEM;
    r->consumers = calloc(n ? n : 1, sizeof *r->consumers);
    if (r->consumers == NULL) {
        free(r);
        return BP_ENOMEM;
    }
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++)
        rv = add_consumer(r, subs[i].consumer);
    if (rv == 0 && bp_db_open(bp_config_required("DATABASE_URL"), &r->db) != 0)
        rv = BP_EIO;
    if (rv == 0)
        rv = check_table(r->db);
    if (rv != 0) {
        relay_free(r);
        return rv;
    }
    snprintf(r->producer, sizeof r->producer, "%s", producer);
    r->backoff_ms = (int)bp_config_int("BP_RELAY_BACKOFF_MS", 1000, 1, 600000);
    r->backoff_max_ms = (int)bp_config_int("BP_RELAY_BACKOFF_MAX_MS", 300000, 1, 86400000);
    r->timeout_ms = bp_rpc_default_timeout_ms();
    /* A lease never ends while its delivery may still be in flight. */
    r->lease_ms = LEASE_MS + 2 * r->timeout_ms;
    int64_t now = bp_mono_ms();
    r->next_gauge = now;
    r->started = now;
    r->next_retention = now;
    build_sql(r);
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        relay_free(r);
        return BP_ENOMEM;
    }
    bp_log_info("event relay of %s started for %zu consumers", producer, r->n_consumers);
    *out = r;
    return 0;
}

void bp_relay_stop(bp_relay *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&kick_lock);
    atomic_store(&r->stopping, true);
    pthread_cond_broadcast(&kick_cond);
    pthread_mutex_unlock(&kick_lock);
    pthread_join(r->thread, NULL);
    relay_free(r);
}
