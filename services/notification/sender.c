/* The sender: threads that claim due rows (queued, or scheduled reminders
 * whose time came) one at a time with a lease, finds the recipient's addresses and
 * consents (auth.FindUser), renders the template and tries the channels in
 * order, WhatsApp, SMS, email, skipping those the recipient has no address
 * or consent for.
 *
 * A row's `attempts` count the tries on its current channel. A failure
 * worth another try waits a backoff (NOTIFICATION_RETRY_BACKOFF_MS doubling
 * to _MAX_MS, with jitter) and, after NOTIFICATION_MAX_ATTEMPTS on one
 * channel, the row moves to the next; a channel that cannot deliver it
 * moves it at once. With no channel left it is `failed` with the reason.
 *
 * Never lost, rarely doubled: the row exists before anything is sent. A
 * sender that dies between the provider's acceptance and recording it
 * leaves the row `sending`; once its lease (every channel's timeout plus 5 s)
 * expires, another round claims it and sends again. That window is one HTTP
 * answer long, so a duplicate needs a crash at that instant; nothing is
 * ever skipped. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.pb-c.h"
#include "bp.h"
#include "channels.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "notification.h"
#include "templates.h"

static struct {
    bp_client *auth;
    int max_attempts, backoff_ms, backoff_max_ms, timeout_ms;
} cfg;

static const notification_channel *const CHANNELS[] = {&notification_whatsapp, &notification_sms,
                                                       &notification_email};

int notification_sender_load(void)
{
    cfg.max_attempts = (int)bp_config_int("NOTIFICATION_MAX_ATTEMPTS", 5, 1, 100);
    cfg.backoff_ms = (int)bp_config_int("NOTIFICATION_RETRY_BACKOFF_MS", 2000, 10, 3600000);
    cfg.backoff_max_ms =
        (int)bp_config_int("NOTIFICATION_RETRY_BACKOFF_MAX_MS", 600000, cfg.backoff_ms, 86400000);
    cfg.timeout_ms = (int)bp_config_int("NOTIFICATION_TIMEOUT_MS", 10000, 100, 120000);
    notification_channels_load();
    notification_delivery_load();
    return bp_client_dial("auth", &cfg.auth);
}

void notification_sender_free(void)
{
    bp_client_close(cfg.auth);
    cfg.auth = NULL;
}

void notification_count_auth_error(const char *channel)
{
    char labels[64];
    snprintf(labels, sizeof labels, "channel=\"%s\"", channel);
    bp_counter_add(bp_metrics_counter("notification_provider_auth_errors_total",
                                      "A provider refused our credentials (an alert)", labels),
                   1);
}

static void count(const char *channel, const char *status)
{
    char labels[96];
    snprintf(labels, sizeof labels, "channel=\"%s\",status=\"%s\"", channel, status);
    bp_counter_add(
        bp_metrics_counter("notifications_total", "Messages by channel and status reached", labels),
        1);
}

/* ---- the recipient ------------------------------------------------------------------------ */

/* Returns 0, BP_ENOTFOUND (no such live account), or BP_EUNAVAIL. */
static int contact_of(const char *user_id, notification_contact *c)
{
    memset(c, 0, sizeof *c);
    Bp__Auth__FindUserRequest in = BP__AUTH__FIND_USER_REQUEST__INIT;
    in.user_id = (char *)user_id;
    bp_rpc_args args = {.method = "FindUser", .timeout_ms = 2000};
    ProtobufCMessage *got = NULL;
    int status = 0;
    int rv = bp_client_call_msg(cfg.auth, &args, (const ProtobufCMessage *)&in,
                                &bp__auth__found_user__descriptor, &got, &status, NULL, 0);
    if (rv != 0)
        return BP_EUNAVAIL;
    if (status == 404)
        return BP_ENOTFOUND;
    if (got == NULL)
        return BP_EUNAVAIL;
    const Bp__Auth__FoundUser *u = (const Bp__Auth__FoundUser *)got;
    snprintf(c->user_id, sizeof c->user_id, "%s", user_id);
    snprintf(c->name, sizeof c->name, "%s", u->name != NULL ? u->name : "");
    snprintf(c->email, sizeof c->email, "%s", u->email != NULL ? u->email : "");
    snprintf(c->phone, sizeof c->phone, "%s", u->phone != NULL ? u->phone : "");
    c->whatsapp_allowed = u->has_whatsapp_allowed && u->whatsapp_allowed;
    protobuf_c_message_free_unpacked(got, NULL);
    return 0;
}

/* ---- one row -------------------------------------------------------------------------------- */

static const char SQL_CLAIM[] =
    "UPDATE notification.notifications SET status = 'sending', attempts = attempts + 1,"
    " locked_until = now() + $1::int8 * interval '1 millisecond', updated_at = now()"
    " WHERE id IN (SELECT id FROM notification.notifications"
    "   WHERE ((status IN ('queued', 'scheduled') AND next_attempt_at <= now())"
    "      OR (status = 'sending' AND locked_until < now()))"
    "   ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, user_id, audience, template, vars::text, coalesce(channel, ''), attempts";

/* The outcome of a claimed row, unless an erasure took it meanwhile (it is
 * then no longer `sending`). The text is kept only when the row's vars are
 * still those it was rendered from: an erasure that stripped a shop's
 * message about the client while it was being sent leaves no name behind. */
static const char SQL_DONE[] =
    "UPDATE notification.notifications SET status = $2, channel = nullif($3, ''),"
    " provider_message_id = $4, last_error = $5, attempts = $6::int,"
    " body = CASE WHEN vars = $9::jsonb THEN $7 END,"
    " next_attempt_at = now() + $8::int8 * interval '1 millisecond',"
    " sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END,"
    " locked_until = NULL, updated_at = now() WHERE id = $1 AND status = 'sending'";

/* The recipient has no account any more (erased, or erasing): the message
 * can never go, and nothing of it is needed. */
static const char SQL_GONE[] =
    "UPDATE notification.notifications SET status = 'failed', last_error = $2, vars = '{}',"
    " body = NULL, provider_message_id = NULL, locked_until = NULL, updated_at = now()"
    " WHERE id = $1 AND status = 'sending'";

typedef struct {
    const char *id, *user_id, *audience, *template, *vars, *channel;
    int attempts;
} claimed;

/* Records where row r ended this round. */
static int record(bp_db *db, const claimed *r, const char *status, const char *channel,
                  const char *provider_id, const char *error, int attempts, const char *body,
                  int64_t delay_ms)
{
    char n[12], delay[24];
    snprintf(n, sizeof n, "%d", attempts);
    snprintf(delay, sizeof delay, "%lld", (long long)delay_ms);
    const char *params[] = {r->id, status, channel, provider_id, error, n, body, delay, r->vars};
    PGresult *res = bp_db_query(db, SQL_DONE, 9, params);
    int rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    PQclear(res);
    if (rv == 0 && strcmp(status, "sent") == 0)
        count(channel, status);
    return rv;
}

static int64_t backoff(int attempts)
{
    return bp_backoff_ms(cfg.backoff_ms, cfg.backoff_max_ms, attempts - 1);
}

/* The template's variables from the row's JSON; strings borrowed from
 * vars (and client_name from its caller). */
static void vars_of(const json_t *vars, notification_vars *v, const char *client_name)
{
    memset(v, 0, sizeof *v);
    v->shop_name = json_string_value(json_object_get(vars, "shop"));
    v->service_name = json_string_value(json_object_get(vars, "service"));
    v->provider_name = json_string_value(json_object_get(vars, "provider"));
    v->timezone = json_string_value(json_object_get(vars, "timezone"));
    v->starts_s = json_integer_value(json_object_get(vars, "starts_s"));
    v->previous_starts_s = json_integer_value(json_object_get(vars, "previous_starts_s"));
    v->amount_cents = json_integer_value(json_object_get(vars, "amount_cents"));
    v->currency = json_string_value(json_object_get(vars, "currency"));
    v->reason = json_string_value(json_object_get(vars, "reason"));
    v->client_name = client_name;
}

/* The index of the first usable channel at or after from, or -1. */
static int next_channel(int from, const notification_contact *c)
{
    for (int i = from; i < (int)BP_COUNTOF(CHANNELS); i++)
        if (CHANNELS[i]->usable(c))
            return i;
    return -1;
}

static int channel_index(const char *name)
{
    for (int i = 0; i < (int)BP_COUNTOF(CHANNELS); i++)
        if (strcmp(CHANNELS[i]->name, name) == 0)
            return i;
    return -1;
}

static int send_row(bp_db *db, const claimed *r)
{
    notification_contact to;
    int rv = contact_of(r->user_id, &to);
    if (rv == BP_ENOTFOUND) {
        const char *params[] = {r->id, "el destinatario ya no tiene cuenta"};
        PGresult *res = bp_db_query(db, SQL_GONE, 2, params);
        rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
        PQclear(res);
        return rv;
    }
    if (rv != 0)
        return record(db, r, "queued", r->channel, NULL, "auth no responde", r->attempts - 1, NULL,
                      backoff(r->attempts));

    json_error_t err;
    json_t *vars = json_loads(r->vars, 0, &err);
    /* A shop's message names the client; a client's, the client. */
    notification_contact client;
    const char *client_id = json_string_value(json_object_get(vars, "client_id"));
    const char *client_name = to.name;
    if (strcmp(r->audience, "shop") == 0)
        client_name =
            client_id != NULL && contact_of(client_id, &client) == 0 ? client.name : "un cliente";
    notification_vars v;
    vars_of(vars, &v, client_name);
    notification_message m;
    rv = notification_render(r->template, &v, &m);
    json_decref(vars);
    if (rv != 0) {
        bp_log_error("notification %s: template %s does not render (%s)", r->id, r->template,
                     bp_strerror(rv));
        return record(db, r, "failed", r->channel, NULL, "el mensaje no se pudo armar", r->attempts,
                      NULL, 0);
    }

    int at = *r->channel != '\0' ? channel_index(r->channel) : 0;
    int i = next_channel(at < 0 ? 0 : at, &to);
    int attempts = i == at ? r->attempts : 1;
    char why[512] = "no tiene teléfono ni email, o no los autorizó";
    const char *last = r->channel;
    if (i < 0)
        count("none", "failed");
    while (i >= 0) {
        char id[256] = "";
        notification_outcome o =
            CHANNELS[i]->send(&to, &m, cfg.timeout_ms, id, sizeof id, why, sizeof why);
        const char *name = CHANNELS[i]->name;
        notification_redact(why); /* a provider's reply may quote the address */
        if (o == NOTIFICATION_SENT) {
            rv = record(db, r, "sent", name, id, NULL, attempts, m.text, 0);
            goto out;
        }
        bp_log_warn("notification %s on %s: %s", r->id, name, why);
        if (o == NOTIFICATION_RETRY && attempts < cfg.max_attempts) {
            rv = record(db, r, "queued", name, NULL, why, attempts, NULL, backoff(attempts));
            goto out;
        }
        count(name, "failed");
        last = name;
        i = next_channel(i + 1, &to);
        attempts = 1;
    }
    rv = record(db, r, "failed", last, NULL, why, r->attempts, NULL, 0);
out:
    notification_message_free(&m);
    return rv;
}

/* ---- the senders ------------------------------------------------------------------------ */

/* Threads that each claim one row at a time, with a lease long enough for
 * every channel's call (a crashed sender's row comes back when it
 * expires), send it and record the outcome, on their own connection. Idle,
 * they wait for a kick (a new row) or a second (retries and reminders
 * coming due). Several instances share the table the same way. */
static struct {
    pthread_t *threads;
    int n;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    unsigned kicks;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Claims and sends one due row. Returns 1 when it sent (or settled) one, 0
 * when none was due, or BP_EIO. */
static int send_one(bp_db *db)
{
    char lease[24];
    snprintf(lease, sizeof lease, "%d", (int)BP_COUNTOF(CHANNELS) * cfg.timeout_ms + 5000);
    const char *params[] = {lease};
    PGresult *res = bp_db_select(db, SQL_CLAIM, 1, params, NULL);
    if (res == NULL)
        return BP_EIO;
    int rv = 0;
    if (PQntuples(res) == 1) {
        claimed r = {PQgetvalue(res, 0, 0),
                     PQgetvalue(res, 0, 1),
                     PQgetvalue(res, 0, 2),
                     PQgetvalue(res, 0, 3),
                     PQgetvalue(res, 0, 4),
                     PQgetvalue(res, 0, 5),
                     (int)strtol(PQgetvalue(res, 0, 6), NULL, 10)};
        rv = send_row(db, &r) == 0 ? 1 : BP_EIO;
    }
    PQclear(res);
    return rv;
}

static void *sender_main(void *arg)
{
    (void)arg;
    bp_db *db = NULL;
    while (true) {
        pthread_mutex_lock(&pool.lock);
        bool stop = pool.stopping;
        unsigned seen = pool.kicks;
        pthread_mutex_unlock(&pool.lock);
        if (stop)
            break;
        if (db == NULL && bp_db_open(bp_config_required("DATABASE_URL"), &db) != 0)
            db = NULL;
        int rv = db != NULL ? send_one(db) : BP_EIO;
        if (rv == 1)
            continue; /* there may be more */
        /* Nothing due (or the database failed): wait for a kick or 1 s. */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&pool.lock);
        while (!pool.stopping && pool.kicks == seen &&
               pthread_cond_timedwait(&pool.wake, &pool.lock, &until) == 0)
            ;
        pthread_mutex_unlock(&pool.lock);
    }
    bp_db_close(db);
    return NULL;
}

void notification_senders_kick(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.kicks++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
}

int notification_senders_start(void)
{
    int n = (int)bp_config_int("NOTIFICATION_SENDERS", 8, 1, 256);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool.wake, &attr);
    pthread_condattr_destroy(&attr);
    pool.threads = calloc((size_t)n, sizeof *pool.threads);
    if (pool.threads == NULL)
        return BP_ENOMEM;
    for (pool.n = 0; pool.n < n; pool.n++)
        if (pthread_create(&pool.threads[pool.n], NULL, sender_main, NULL) != 0) {
            notification_senders_stop();
            return BP_ENOMEM;
        }
    bp_log_info("%d notification senders", n);
    return 0;
}

void notification_senders_stop(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.n; i++)
        pthread_join(pool.threads[i], NULL);
    free(pool.threads);
    pool.threads = NULL;
    pool.n = 0;
}
