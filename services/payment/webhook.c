/* MercadoPago's webhooks, and the queue that applies them.
 *
 * A notification is only a hint that payment N changed. Its signature is
 * checked first (x-signature "ts=...,v1=..." is HMAC-SHA256, keyed with
 * MERCADOPAGO_WEBHOOK_SECRET, over "id:<data.id lowercased>;request-id:
 * <x-request-id>;ts:<ts>;", a part left out when its value is absent),
 * compared in constant time: a bad or missing one is 401 and changes
 * nothing. A good one becomes a row of payment.notifications (one open row
 * per MercadoPago payment, however often it is notified) and is answered
 * 200 at once. The notifications job then reads GET /v1/payments/N and
 * applies it; when MercadoPago fails, the row is tried again with backoff,
 * so nothing notified is lost. */
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "hmac.h"
#include "jobs.h"
#include "log.h"
#include "mp.h"
#include "payment.h"
#include "outbox.h"
#include "signature.h"
#include "webhook.h"

#define SIG_PART_MAX 128

/* Copies the value of key in "ts=...,v1=..." (spaces around parts allowed). */
static bool sig_part(const char *header, const char *key, char out[SIG_PART_MAX])
{
    size_t klen = strlen(key);
    const char *p = header;
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t vlen = len - klen - 1;
            while (vlen > 0 && p[klen + 1 + vlen - 1] == ' ')
                vlen--;
            if (vlen == 0 || vlen >= SIG_PART_MAX)
                return false;
            memcpy(out, p + klen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

bool payment_webhook_signed(const char *secret, const char *signature, const char *data_id,
                            const char *request_id)
{
    char ts[SIG_PART_MAX], v1[SIG_PART_MAX];
    if (secret == NULL || *secret == '\0' || signature == NULL || !sig_part(signature, "ts", ts) ||
        !sig_part(signature, "v1", v1))
        return false;
    char id[64] = "";
    if (data_id != NULL) {
        size_t len = strlen(data_id);
        if (len >= sizeof id)
            return false;
        for (size_t i = 0; i <= len; i++)
            id[i] = (char)tolower((unsigned char)data_id[i]);
    }
    bool has_rid = request_id != NULL && *request_id != '\0';
    char manifest[1024];
    int n = snprintf(manifest, sizeof manifest, "%s%s%s%s%s%sts:%s;", *id ? "id:" : "", id,
                     *id ? ";" : "", has_rid ? "request-id:" : "", has_rid ? request_id : "",
                     has_rid ? ";" : "", ts);
    if (n < 0 || (size_t)n >= sizeof manifest)
        return false;
    for (char *c = v1; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    char expected[65];
    bp_hmac_sha256_hex(secret, strlen(secret), manifest, (size_t)n, expected);
    return bp_secure_equal(expected, v1);
}

/* data.id of the body ({"data": {"id": "123"}}), for a notification whose
 * URL lacks it; a string in the request's arena, or NULL. */
static const char *body_data_id(bp_call *call, const Bp__Common__HttpRequest *in)
{
    if (!in->has_body || in->body.len == 0)
        return NULL;
    json_error_t err;
    json_t *doc = json_loadb((const char *)in->body.data, in->body.len, 0, &err);
    const json_t *id = json_object_get(json_object_get(doc, "data"), "id");
    const char *s = NULL;
    if (json_is_string(id))
        s = bp_call_strdup(call, json_string_value(id));
    else if (json_is_integer(id))
        s = bp_call_printf(call, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    json_decref(doc);
    return s;
}

static bool all_digits(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (s[n] < '0' || s[n] > '9' || n == 18)
            return false;
    return n > 0;
}

static const char SQL_NOTIFIED[] =
    "INSERT INTO payment.notifications (mp_payment_id, action, request_id)"
    " VALUES ($1::int8, $2, $3)"
    " ON CONFLICT (mp_payment_id) WHERE done_at IS NULL"
    " DO UPDATE SET next_attempt_at = least(notifications.next_attempt_at, now())";

PAYMENT_HANDLER(mercadopago_webhook)
{
    const Bp__Common__HttpRequest *in = (const Bp__Common__HttpRequest *)req;
    Bp__Common__HttpReply *out = (Bp__Common__HttpReply *)resp;
    const char *rid = bp_call_request_id(call);
    const char *signature = bp_webhook_field(in->headers, in->n_headers, "x-signature");
    const char *request_id = bp_webhook_field(in->headers, in->n_headers, "x-request-id");
    /* Webhooks put data.id and type in the URL; the older IPN id and topic. */
    const char *data_id = bp_webhook_field(in->query, in->n_query, "data.id");
    const char *type = bp_webhook_field(in->query, in->n_query, "type");
    if (data_id == NULL)
        data_id = bp_webhook_field(in->query, in->n_query, "id");
    if (type == NULL)
        type = bp_webhook_field(in->query, in->n_query, "topic");

    if (!payment_webhook_signed(payment_config.webhook_secret, signature, data_id, request_id)) {
        bp_log(BP_LOG_WARN, rid, "MercadoPago webhook refused: %s signature",
               signature == NULL ? "no" : "a bad");
        return bp_call_fail(call, 401, "unauthorized", NULL,
                            "La firma de la notificación no es válida.");
    }
    if (type != NULL && strcmp(type, "payment") != 0) {
        bp_log(BP_LOG_DEBUG, rid, "MercadoPago webhook of type %s ignored", type);
        bp_webhook_reply(out, NULL, "{\"status\":\"ignored\"}");
        return 0;
    }
    if (data_id == NULL)
        data_id = body_data_id(call, in);
    if (data_id == NULL || !all_digits(data_id))
        return bp_call_fail_invalid(call, "data.id",
                                    "La notificación no trae el id de un pago (data.id).");

    const char *action = NULL;
    if (in->has_body && in->body.len > 0) {
        json_error_t err;
        json_t *doc = json_loadb((const char *)in->body.data, in->body.len, 0, &err);
        const char *a = json_string_value(json_object_get(doc, "action"));
        if (a != NULL && strlen(a) <= 64)
            action = bp_call_strdup(call, a);
        json_decref(doc);
    }
    const char *params[] = {data_id, action, request_id};
    PGresult *res = bp_db_query(bp_call_worker(call)->db, SQL_NOTIFIED, 3, params);
    bool ok = bp_db_ok(res, rid);
    PQclear(res);
    if (!ok)
        return bp_call_fail_internal(call, BP_EIO); /* MercadoPago sends it again */
    bp_log(BP_LOG_INFO, rid, "MercadoPago notified payment %s (%s)", data_id,
           action != NULL ? action : "no action");
    bp_jobs_kick(PAYMENT_JOB_NOTIFICATIONS);
    bp_webhook_reply(out, NULL, "{\"status\":\"received\"}");
    return 0;
}

/* ---- the queue ----------------------------------------------------------------- */

static const char SQL_CLAIM[] =
    "UPDATE payment.notifications SET attempts = attempts + 1,"
    " locked_until = now() + $1::int8 * interval '1 millisecond'"
    " WHERE id IN (SELECT id FROM payment.notifications WHERE done_at IS NULL"
    "   AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())"
    "   ORDER BY next_attempt_at, id LIMIT 20 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, mp_payment_id, attempts";

static const char SQL_DONE[] =
    "UPDATE payment.notifications SET done_at = now(), locked_until = NULL, last_error = $2"
    " WHERE id = $1";

static const char SQL_RETRY[] =
    "UPDATE payment.notifications SET locked_until = NULL, last_error = $2,"
    " next_attempt_at = now() + $3::int8 * interval '1 millisecond' WHERE id = $1";

/* Applied notifications are kept a month, for the record. */
static const char SQL_PRUNE[] =
    "DELETE FROM payment.notifications WHERE id IN (SELECT id FROM payment.notifications"
    " WHERE done_at < now() - interval '30 days' LIMIT 1000)";

/* A payment MercadoPago keeps not knowing is given up after this many
 * tries (its API can lag its own notification by a moment). */
#define UNKNOWN_TRIES 5

static int finish(bp_db *db, const char *id, const char *error)
{
    const char *params[] = {id, error};
    PGresult *res = bp_db_query(db, SQL_DONE, 2, params);
    int rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    PQclear(res);
    return rv;
}

/* Tries notification id again later, after the backoff of its attempts. */
static int retry_later(bp_db *db, const char *id, int attempts, const char *why)
{
    char delay[24];
    snprintf(delay, sizeof delay, "%" PRId64, payment_backoff_ms(attempts));
    const char *params[] = {id, why, delay};
    PGresult *res = bp_db_query(db, SQL_RETRY, 3, params);
    int rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    PQclear(res);
    return rv;
}

/* Returns 0, BP_EUNAVAIL when MercadoPago failed (the row waits for its
 * retry), or BP_EIO. */
static int process_one(bp_db *db, const char *id, int64_t mp_id, int attempts)
{
    mp_payment mp;
    int rv = mp_get_payment(&payment_config, NULL, mp_id, &mp);
    if (rv == 0) {
        /* Applied and finished in one transaction: a crash in between
         * leaves the row to be applied again, which changes nothing. */
        payment_change change = {0};
        rv = bp_db_begin(db);
        if (rv == 0)
            rv = payment_apply(db, NULL, &mp, &change);
        if (rv == 0)
            rv = finish(db, id, NULL);
        return payment_end(db, rv, &change);
    }
    if (rv == BP_ENOTFOUND && attempts >= UNKNOWN_TRIES) {
        bp_log_warn("MercadoPago does not know payment %" PRId64 "; notification dropped", mp_id);
        return finish(db, id, "MercadoPago no conoce el pago");
    }
    int err = retry_later(db, id, attempts, bp_strerror(rv));
    return err != 0 ? err : rv == BP_ENOTFOUND ? 0 : BP_EUNAVAIL;
}

int payment_process_notifications(bp_db *db, bp_kv *kv)
{
    (void)kv;
    char lease[24];
    snprintf(lease, sizeof lease, "%d", 2 * payment_config.timeout_ms + 30000);
    const char *params[] = {lease};
    PGresult *res = bp_db_select(db, SQL_CLAIM, 1, params, NULL);
    if (res == NULL)
        return BP_EIO;
    /* Once MercadoPago fails, the rest of the batch is not asked in vain
     * (one timeout per round, not one per row): it waits for its retry. */
    int rv = 0;
    bool down = false;
    for (int i = 0; i < PQntuples(res) && rv == 0; i++) {
        const char *id = PQgetvalue(res, i, 0);
        int attempts = (int)strtol(PQgetvalue(res, i, 2), NULL, 10);
        if (down) {
            rv = retry_later(db, id, attempts, "MercadoPago no respondió");
            continue;
        }
        rv = process_one(db, id, strtoll(PQgetvalue(res, i, 1), NULL, 10), attempts);
        if (rv == BP_EUNAVAIL) {
            down = true;
            rv = 0;
        }
    }
    PQclear(res);
    PGresult *pruned = bp_db_query(db, SQL_PRUNE, 0, NULL);
    if (!bp_db_ok(pruned, NULL) && rv == 0)
        rv = BP_EIO;
    PQclear(pruned);
    return rv;
}
