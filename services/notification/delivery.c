/* Delivery statuses from the providers, applied to the row of the provider's
 * message id, only forward (sent < delivered < read: a late `sent` never
 * undoes `delivered`, and the same status twice changes nothing). A message
 * the provider failed to deliver goes back to the queue on the next channel
 * (the sender skips those the recipient cannot use), unless it was already
 * delivered.
 *   WhatsApp: GET /api/webhooks/whatsapp answers Meta's subscription check
 *     (hub.verify_token against WHATSAPP_WEBHOOK_VERIFY_TOKEN, echoing
 *     hub.challenge, else 403); POST carries statuses, signed with
 *     X-Hub-Signature-256 = "sha256=" hex HMAC-SHA256 of the raw body with
 *     WHATSAPP_APP_SECRET (401 when wrong or missing).
 *   Twilio: POST /api/webhooks/twilio, form-encoded MessageSid and
 *     MessageStatus, signed with X-Twilio-Signature = base64 HMAC-SHA1, keyed
 *     with TWILIO_AUTH_TOKEN, of the URL Twilio called (PUBLIC_BASE_URL +
 *     the path) followed by every parameter, sorted by name, as name+value. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "channels.h"
#include "config.h"
#include "hmac.h"
#include "log.h"
#include "metrics.h"
#include "notification.h"
#include "webhook.h"

static struct {
    const char *app_secret, *verify_token, *twilio_token;
    char twilio_url[512];
} dl;

void notification_delivery_load(void)
{
    dl.app_secret = bp_config_secret("WHATSAPP_APP_SECRET");
    dl.verify_token = bp_config_secret("WHATSAPP_WEBHOOK_VERIFY_TOKEN");
    dl.twilio_token = bp_config_secret("TWILIO_AUTH_TOKEN");
    char base[384];
    bp_config_url("PUBLIC_BASE_URL", "http://127.0.0.1:3000", base, sizeof base);
    snprintf(dl.twilio_url, sizeof dl.twilio_url, "%s/api/webhooks/twilio", base);
}

const char *notification_twilio_callback_url(void)
{
    return dl.twilio_url;
}

/* ---- applying a status ---------------------------------------------------------------- */

/* Forward only. A failure re-queues the row on the next channel unless it
 * was delivered or read, or its variables are gone (retention, erasure:
 * it cannot be written again), when it is failed. */
static const char SQL_STATUS[] =
    "UPDATE notification.notifications SET status = $3,"
    " delivered_at = CASE WHEN $3 IN ('delivered', 'read') THEN coalesce(delivered_at, now())"
    "   ELSE delivered_at END,"
    " read_at = CASE WHEN $3 = 'read' THEN now() ELSE read_at END, updated_at = now()"
    " WHERE channel = $1 AND provider_message_id = $2 AND"
    " (status = 'sent' AND $3 IN ('delivered', 'read') OR status = 'delivered' AND $3 = 'read')"
    " RETURNING id";

static const char SQL_FALL_BACK[] =
    "UPDATE notification.notifications SET status = 'queued', channel = $3, attempts = 0,"
    " provider_message_id = NULL, last_error = $4, next_attempt_at = now(), updated_at = now()"
    " WHERE channel = $1 AND provider_message_id = $2 AND status = 'sent'"
    " AND vars <> '{}'::jsonb RETURNING id";

static const char *next_channel_after(const char *channel)
{
    return strcmp(channel, "whatsapp") == 0 ? "sms" : strcmp(channel, "sms") == 0 ? "email" : NULL;
}

static const char SQL_FAILED[] =
    "UPDATE notification.notifications SET status = 'failed', last_error = $3, updated_at = now()"
    " WHERE channel = $1 AND provider_message_id = $2 AND status = 'sent' RETURNING id";

static int apply(bp_call *call, const char *channel, const char *id, const char *status,
                 const char *error)
{
    bp_db *db = bp_call_worker(call)->db;
    PGresult *res;
    if (strcmp(status, "failed") == 0) {
        const char *next = next_channel_after(channel);
        char why[300];
        snprintf(why, sizeof why, "%s no lo entregó: %s", channel,
                 error != NULL ? error : "sin detalle");
        notification_redact(why); /* Meta's title may quote the number */
        const char *params[] = {channel, id, next, why};
        res = next != NULL ? bp_db_query(db, SQL_FALL_BACK, 4, params) : NULL;
        if (next == NULL || (bp_db_ok(res, bp_call_request_id(call)) && PQntuples(res) == 0)) {
            PQclear(res);
            res = bp_db_query(db, SQL_FAILED, 3, (const char *const[]){channel, id, why});
        }
    } else if (strcmp(status, "delivered") == 0 || strcmp(status, "read") == 0) {
        const char *params[] = {channel, id, status};
        res = bp_db_query(db, SQL_STATUS, 3, params);
    } else {
        return 0; /* sent, queued, accepted...: nothing we do not know */
    }
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return BP_EIO;
    }
    bool changed = PQntuples(res) > 0;
    PQclear(res);
    if (changed) {
        char labels[96];
        snprintf(labels, sizeof labels, "channel=\"%s\",status=\"%s\"", channel, status);
        bp_counter_add(bp_metrics_counter("notifications_total",
                                          "Messages by channel and status reached", labels),
                       1);
        if (strcmp(status, "failed") == 0)
            notification_senders_kick();
    }
    return 0;
}

/* ---- WhatsApp ---------------------------------------------------------------------------- */

NOTIFICATION_HANDLER(whatsapp_verify)
{
    const Bp__Common__HttpRequest *in = (const Bp__Common__HttpRequest *)req;
    const char *mode = bp_webhook_field(in->query, in->n_query, "hub.mode");
    const char *token = bp_webhook_field(in->query, in->n_query, "hub.verify_token");
    const char *challenge = bp_webhook_field(in->query, in->n_query, "hub.challenge");
    if (mode == NULL || strcmp(mode, "subscribe") != 0 || challenge == NULL ||
        strlen(challenge) > 256 || !bp_secure_equal(token, dl.verify_token))
        return bp_call_fail(call, 403, "forbidden", NULL,
                            "La verificación del webhook de WhatsApp no coincide.");
    char *echo = bp_call_strdup(call, challenge);
    if (echo == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    bp_webhook_reply((Bp__Common__HttpReply *)resp, "text/plain; charset=utf-8", echo);
    return 0;
}

static bool whatsapp_signed(const Bp__Common__HttpRequest *in)
{
    const char *sig = bp_webhook_field(in->headers, in->n_headers, "x-hub-signature-256");
    if (dl.app_secret == NULL || sig == NULL || strncmp(sig, "sha256=", 7) != 0 || !in->has_body)
        return false;
    char expected[65], given[65];
    bp_hmac_sha256_hex(dl.app_secret, strlen(dl.app_secret), in->body.data, in->body.len, expected);
    snprintf(given, sizeof given, "%s", sig + 7);
    for (char *c = given; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    return bp_secure_equal(expected, given);
}

NOTIFICATION_HANDLER(whatsapp_status)
{
    const Bp__Common__HttpRequest *in = (const Bp__Common__HttpRequest *)req;
    if (!whatsapp_signed(in))
        return bp_call_fail(call, 401, "unauthorized", NULL,
                            "La firma X-Hub-Signature-256 no es válida.");
    json_error_t err;
    json_t *doc = json_loadb((const char *)in->body.data, in->body.len, 0, &err);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return bp_call_fail_invalid(call, NULL, "El cuerpo no es JSON.");
    }
    int rv = 0;
    size_t i, j, k;
    json_t *entry, *change, *st;
    json_array_foreach(json_object_get(doc, "entry"), i, entry)
    {
        json_array_foreach(json_object_get(entry, "changes"), j, change)
        {
            json_array_foreach(json_object_get(json_object_get(change, "value"), "statuses"), k, st)
            {
                const char *id = json_string_value(json_object_get(st, "id"));
                const char *status = json_string_value(json_object_get(st, "status"));
                const char *error = json_string_value(
                    json_object_get(json_array_get(json_object_get(st, "errors"), 0), "title"));
                if (id != NULL && status != NULL && strlen(id) < 256 && rv == 0)
                    rv = apply(call, "whatsapp", id, status, error);
            }
        }
    }
    json_decref(doc);
    if (rv != 0)
        return bp_call_fail_internal(call, rv); /* Meta sends it again */
    bp_webhook_reply((Bp__Common__HttpReply *)resp, NULL, "{\"status\":\"received\"}");
    return 0;
}

/* ---- Twilio -------------------------------------------------------------------------------- */

typedef struct {
    char *name, *value;
} pair;

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes one form component in place ('+' is a space); false when bad. */
static bool form_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r != '\0'; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%') {
            int hi = hexval(r[1]), lo = hi >= 0 ? hexval(r[2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0))
                return false;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const pair *)a)->name, ((const pair *)b)->name);
}

#define FORM_MAX 64

NOTIFICATION_HANDLER(twilio_status)
{
    const Bp__Common__HttpRequest *in = (const Bp__Common__HttpRequest *)req;
    const char *sig = bp_webhook_field(in->headers, in->n_headers, "x-twilio-signature");
    char *body =
        bp_arena_strndup(bp_call_arena(call), in->has_body ? (const char *)in->body.data : "",
                         in->has_body ? in->body.len : 0);
    pair form[FORM_MAX];
    size_t n = 0;
    bool ok = body != NULL && dl.twilio_token != NULL && sig != NULL;
    for (char *save = NULL, *tok = ok ? strtok_r(body, "&", &save) : NULL; tok != NULL && ok;
         tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL || n == FORM_MAX) {
            ok = false;
            break;
        }
        *eq = '\0';
        form[n] = (pair){tok, eq + 1};
        ok = form_decode(form[n].name) && form_decode(form[n].value);
        n++;
    }
    if (ok) {
        /* The URL Twilio called, then each parameter sorted by name. */
        qsort(form, n, sizeof *form, by_name);
        bp_arena *a = bp_call_arena(call);
        char *signed_text = bp_arena_strdup(a, dl.twilio_url);
        for (size_t i = 0; i < n && signed_text != NULL; i++)
            signed_text = bp_arena_printf(a, "%s%s%s", signed_text, form[i].name, form[i].value);
        char expected[29];
        ok = signed_text != NULL;
        if (ok) {
            bp_hmac_sha1_base64(dl.twilio_token, strlen(dl.twilio_token), signed_text,
                                strlen(signed_text), expected);
            ok = bp_secure_equal(expected, sig);
        }
    }
    if (!ok)
        return bp_call_fail(call, 401, "unauthorized", NULL,
                            "La firma X-Twilio-Signature no es válida.");
    const char *sid = NULL, *status = NULL, *code = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(form[i].name, "MessageSid") == 0)
            sid = form[i].value;
        else if (strcmp(form[i].name, "MessageStatus") == 0)
            status = form[i].value;
        else if (strcmp(form[i].name, "ErrorCode") == 0)
            code = form[i].value;
    }
    int rv = 0;
    if (sid != NULL && status != NULL && strlen(sid) < 256) {
        bool failed = strcmp(status, "failed") == 0 || strcmp(status, "undelivered") == 0;
        char why[64];
        snprintf(why, sizeof why, "Twilio %s %s", status, code != NULL ? code : "");
        rv = apply(call, "sms", sid, failed ? "failed" : status, why);
    }
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    bp_webhook_reply((Bp__Common__HttpReply *)resp, "text/xml", "<Response/>");
    return 0;
}
