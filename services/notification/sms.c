/* SMS with Twilio: `POST {TWILIO_API_URL}/2010-04-01/Accounts/
 * {TWILIO_ACCOUNT_SID}/Messages.json`, form-encoded To, From (TWILIO_FROM)
 * and Body, HTTP basic auth with the account SID and TWILIO_AUTH_TOKEN.
 * Twilio's 429 and 5xx are tried again later; a number it refuses (21211
 * invalid, 21610 unsubscribed, 21614 not a mobile, ...) goes to the next
 * channel, as do refused credentials (counted as an alert). */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "channels.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "notification.h"
#include "strbuf.h"

static struct {
    char url[512];
    char authz[512]; /* "Authorization: Basic ..." */
    char from[32];
    bool on;
} tw;

void notification_sms_load(void)
{
    char base[384];
    bp_config_url("TWILIO_API_URL", "https://api.twilio.com", base, sizeof base);
    const char *sid = bp_config_str("TWILIO_ACCOUNT_SID", "");
    const char *token = bp_config_str("TWILIO_AUTH_TOKEN", "");
    const char *from = bp_config_str("TWILIO_FROM", "");
    for (const char *c = sid; *c != '\0'; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
            bp_config_fail("TWILIO_ACCOUNT_SID", "must be letters and digits (AC...)");
    snprintf(tw.url, sizeof tw.url, "%s/2010-04-01/Accounts/%s/Messages.json", base, sid);
    char pair[256];
    unsigned char b64[360];
    int len = snprintf(pair, sizeof pair, "%s:%s", sid, token);
    if (len < 0 || (size_t)len >= sizeof pair)
        bp_config_fail("TWILIO_AUTH_TOKEN", "is too long");
    EVP_EncodeBlock(b64, (const unsigned char *)pair, len);
    snprintf(tw.authz, sizeof tw.authz, "Authorization: Basic %s", b64);
    snprintf(tw.from, sizeof tw.from, "%s", from);
    tw.on = *sid != '\0' && *token != '\0' && *from != '\0';
    if (!tw.on)
        bp_log_warn("Twilio SMS is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, "
                    "TWILIO_FROM): no SMS");
}

static bool usable(const notification_contact *c)
{
    return tw.on && c->phone[0] != '\0';
}

/* name=value, percent-encoded as application/x-www-form-urlencoded. */
static void form_add(bp_strbuf *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (b->len > 0)
        bp_strbuf_append(b, "&", 1);
    bp_strbuf_append(b, name, strlen(name));
    bp_strbuf_append(b, "=", 1);
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (plain)
            bp_strbuf_append(b, (const char *)p, 1);
        else
            bp_strbuf_append(b, esc, 3);
    }
}

static notification_outcome sms_send(const notification_contact *c, const notification_message *m,
                                     int timeout_ms, char *id, size_t id_len, char *why,
                                     size_t why_len)
{
    bp_strbuf form = {0};
    form_add(&form, "To", c->phone);
    form_add(&form, "From", tw.from);
    form_add(&form, "Body", m->text);
    form_add(&form, "StatusCallback", notification_twilio_callback_url());
    char *body = bp_strbuf_take(&form);
    if (body == NULL) {
        snprintf(why, why_len, "sin memoria");
        return NOTIFICATION_RETRY;
    }
    const char *headers[] = {tw.authz, "Content-Type: application/x-www-form-urlencoded", NULL};
    bp_http_request req = {.method = "POST",
                           .url = tw.url,
                           .headers = headers,
                           .body = body,
                           .body_len = strlen(body),
                           .timeout_ms = timeout_ms,
                           .max_response_bytes = 64 * 1024};
    bp_http_response resp;
    int rv = bp_http_do(&req, &resp);
    free(body);
    if (rv != 0) {
        snprintf(why, why_len, "Twilio: %s", bp_strerror(rv));
        return NOTIFICATION_RETRY;
    }
    json_error_t err;
    json_t *doc = json_loadb(resp.body, resp.len, 0, &err);
    long status = resp.status;
    bp_http_response_free(&resp);
    const char *sid = json_string_value(json_object_get(doc, "sid"));
    if ((status == 200 || status == 201) && sid != NULL && strlen(sid) < id_len) {
        snprintf(id, id_len, "%s", sid);
        json_decref(doc);
        return NOTIFICATION_SENT;
    }
    const json_t *code_v = json_object_get(doc, "code");
    long code = json_is_integer(code_v) ? (long)json_integer_value(code_v) : -1;
    const char *message = json_string_value(json_object_get(doc, "message"));
    snprintf(why, why_len, "Twilio %ld (code %ld): %s", status, code,
             message != NULL ? message : "sin detalle");
    json_decref(doc);
    if (status == 401 || status == 403) {
        bp_log_error("Twilio refused our credentials (code %ld): messages fall back to email",
                     code);
        notification_count_auth_error("sms");
        return NOTIFICATION_NEXT;
    }
    if (status == 429 || status >= 500 || status < 400)
        return NOTIFICATION_RETRY;
    return NOTIFICATION_NEXT;
}

const notification_channel notification_sms = {"sms", usable, sms_send};
