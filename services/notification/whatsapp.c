/* WhatsApp Cloud API: a template message (`POST {WHATSAPP_API_URL}/
 * {WHATSAPP_PHONE_NUMBER_ID}/messages`, Bearer WHATSAPP_TOKEN, language
 * WHATSAPP_LANGUAGE, es_AR by default) to a contact with a phone and the
 * WhatsApp consent. Meta's errors are classified by error.code: rate limits
 * and its own failures are tried again later; an undeliverable number, a
 * closed conversation window or a template problem go to the next channel;
 * a refused token goes to the next channel too, and is counted as an
 * alert (notification_provider_auth_errors_total). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "channels.h"
#include "config.h"
#include "http.h"
#include "log.h"

static struct {
    char url[512]; /* .../<phone number id>/messages */
    const char *token;
    char language[16];
    bool strip_ar_nine;
} wa;

void notification_whatsapp_load(void)
{
    char base[384];
    bp_config_url("WHATSAPP_API_URL", "https://graph.facebook.com/v19.0", base, sizeof base);
    const char *id = bp_config_str("WHATSAPP_PHONE_NUMBER_ID", "");
    const char *token = bp_config_str("WHATSAPP_TOKEN", "");
    for (const char *c = id; *c != '\0'; c++)
        if (*c < '0' || *c > '9')
            bp_config_fail("WHATSAPP_PHONE_NUMBER_ID", "must be the number's id (digits)");
    snprintf(wa.url, sizeof wa.url, "%s/%s/messages", base, id);
    wa.token = *token != '\0' && *id != '\0' ? token : NULL;
    snprintf(wa.language, sizeof wa.language, "%s", bp_config_str("WHATSAPP_LANGUAGE", "es_AR"));
    wa.strip_ar_nine = bp_config_bool("WHATSAPP_STRIP_AR_NINE", true);
    if (wa.token == NULL)
        bp_log_warn("WhatsApp is not configured (WHATSAPP_TOKEN, WHATSAPP_PHONE_NUMBER_ID): "
                    "messages go by SMS or email");
}

void notification_whatsapp_to(const char *e164, bool strip_ar_nine, char *out, size_t len)
{
    const char *digits = e164[0] == '+' ? e164 + 1 : e164;
    if (strip_ar_nine && strncmp(digits, "549", 3) == 0)
        snprintf(out, len, "54%s", digits + 3);
    else
        snprintf(out, len, "%s", digits);
}

static bool usable(const notification_contact *c)
{
    return wa.token != NULL && c->phone[0] != '\0' && c->whatsapp_allowed;
}

/* Meta's error codes (Cloud API "Error codes"): those worth another try
 * later, and those that say this message cannot go by WhatsApp. */
static const long RETRY_CODES[] = {1, 2, 4, 80007, 130429, 131000, 131016, 131056, 133004};
static const long AUTH_CODES[] = {0, 3, 10, 190};

static bool in(const long *codes, size_t n, long code)
{
    for (size_t i = 0; i < n; i++)
        if (codes[i] == code)
            return true;
    return false;
}

static json_t *body_of(const notification_contact *c, const notification_message *m)
{
    char to[24];
    notification_whatsapp_to(c->phone, wa.strip_ar_nine, to, sizeof to);
    json_t *params = json_array();
    for (size_t i = 0; i < m->n_params; i++)
        json_array_append_new(
            params, json_pack("{s:s,s:s}", "type", "text", "text", m->whatsapp_params[i]));
    return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:{s:s},s:[{s:s,s:o}]}}", "messaging_product",
                     "whatsapp", "recipient_type", "individual", "to", to, "type", "template",
                     "template", "name", m->whatsapp_template, "language", "code", wa.language,
                     "components", "type", "body", "parameters", params);
}

static notification_outcome whatsapp_send(const notification_contact *c,
                                          const notification_message *m, int timeout_ms, char *id,
                                          size_t id_len, char *why, size_t why_len)
{
    bp_http_response resp;
    if (notification_post_json("WhatsApp", wa.url, wa.token, body_of(c, m), NULL, timeout_ms, &resp,
                               why, why_len) != 0)
        return NOTIFICATION_RETRY;
    json_error_t err;
    json_t *doc = json_loadb(resp.body, resp.len, 0, &err);
    long status = resp.status;
    bp_http_response_free(&resp);
    const char *mid = json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "messages"), 0), "id"));
    if (status == 200 && mid != NULL && strlen(mid) < id_len) {
        snprintf(id, id_len, "%s", mid);
        json_decref(doc);
        return NOTIFICATION_SENT;
    }
    const json_t *e = json_object_get(doc, "error");
    const json_t *code_v = json_object_get(e, "code");
    long code = json_is_integer(code_v) ? (long)json_integer_value(code_v) : -1;
    const char *message = json_string_value(json_object_get(e, "message"));
    snprintf(why, why_len, "WhatsApp %ld (code %ld): %s", status, code,
             message != NULL ? message : "sin detalle");
    json_decref(doc);
    if (in(AUTH_CODES, BP_COUNTOF(AUTH_CODES), code) || status == 401 || status == 403) {
        bp_log_error("WhatsApp refused our token (code %ld): messages fall back to SMS and email",
                     code);
        notification_count_auth_error("whatsapp");
        return NOTIFICATION_NEXT;
    }
    if (in(RETRY_CODES, BP_COUNTOF(RETRY_CODES), code) ||
        (code < 0 && (status == 429 || status >= 500 || status < 400)))
        return NOTIFICATION_RETRY;
    return NOTIFICATION_NEXT;
}

const notification_channel notification_whatsapp = {"whatsapp", usable, whatsapp_send};
