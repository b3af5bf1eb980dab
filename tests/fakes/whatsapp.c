/* fake-whatsapp: a local stand-in for the WhatsApp Cloud API as the
 * notification daemon uses it (POST /{version}/{phone number id}/messages
 * with template and text messages) and for the status webhooks Meta sends
 * afterwards (sent, delivered, read, failed), signed with
 * X-Hub-Signature-256. Control endpoints under /_fake/ let a test break the
 * API (500, hang, garbage, any Meta error code for the next N messages),
 * read what the client sent, and send a status on demand.
 *
 * usage: fake-whatsapp [--port N] [--access-token T] [--phone-number-id ID]
 *                      [--app-secret S] [--webhook-url URL]
 *                      [--auto-statuses sent,delivered] [--retry-delays-ms 200,500,1000]
 * Environment: FAKE_WHATSAPP_PORT, FAKE_WHATSAPP_ACCESS_TOKEN,
 * FAKE_WHATSAPP_PHONE_NUMBER_ID, FAKE_WHATSAPP_APP_SECRET,
 * FAKE_WHATSAPP_WEBHOOK_URL, FAKE_WHATSAPP_AUTO_STATUSES,
 * FAKE_WHATSAPP_RETRY_DELAYS_MS (flags win). Prints "listening on <port>"
 * on stdout once it accepts connections; stops on SIGTERM or SIGINT.
 *
 * Wire facts follow Meta's developer documentation: "WhatsApp error codes"
 * (the error object, codes and titles), "Status messages webhook reference"
 * (the statuses payload), "Webhooks" (X-Hub-Signature-256 over the raw
 * payload; anything but a 200 is retried) and the send-message reference
 * (request body, the contacts/messages answer). */
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bp.h"
#include "fake_main.h"
#include "fake_server.h"
#include "fake_webhooks.h"
#include "hmac.h"
#include "log.h"
#include "strbuf.h"

/* A hanging answer gives up after this, so a forgotten test cannot pin a
 * connection thread for ever. */
#define HANG_MAX_MS 120000
/* Bounds: the fake is for tests, and a runaway client must not eat memory. */
#define MAX_MESSAGES   1024 /* accepted messages remembered; the oldest go first */
#define MAX_QUEUE      256  /* status webhooks waiting to be sent */
#define MAX_DELIVERIES 256  /* webhook attempts remembered */
#define MAX_AUTO       4
#define MAX_BODY       (64 * 1024)
#define MAX_URL        1024
#define MAX_COMPONENTS 16
#define MAX_PARAMS     64
/* Meta's limit on a text message's body, in characters. */
#define MAX_TEXT_CHARS 4096
/* Automatic statuses follow an accepted message this far apart. */
#define DEFAULT_STEP_MS 50

#define DEFAULT_TOKEN    "fake-whatsapp-token"
#define DEFAULT_PHONE_ID "123456789012345"
#define DEFAULT_SECRET   "fake-whatsapp-app-secret"
/* Made-up account facts, stable so that tests can compare them. */
#define WABA_ID       "987654321098765"
#define DISPLAY_PHONE "5491150000000"
#define ERROR_CODES_URL                                                                            \
    "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
/* What a failed status carries unless told otherwise: "Message undeliverable". */
#define DEFAULT_FAIL_CODE 131026

typedef enum { MODE_OK, MODE_ERROR, MODE_HANG, MODE_GARBAGE, MODE_CODE } fake_mode;
static const char *const mode_names[] = {"ok", "error", "hang", "garbage", "code"};

typedef enum { ST_SENT, ST_DELIVERED, ST_READ, ST_FAILED } msg_status;
static const char *const status_names[] = {"sent", "delivered", "read", "failed"};

/* One row of Meta's error tables: the code, the HTTP status the API answers
 * with, the title (the error message is "(#code) title") and details. */
typedef struct {
    int code;
    unsigned http;
    const char *title;
    const char *details;
} meta_error;

/* Titles and details from "WhatsApp error codes". The current page says to
 * build on `code`, not the HTTP status, and no longer lists statuses; these
 * follow the earlier editions of its table, with the throttling codes as
 * 429 (a test that wants the 400 some clients report passes status=400). */
static const meta_error meta_errors[] = {
    {0, 401, "AuthException", "We were unable to authenticate the app user."},
    {1, 400, "API Unknown", "Invalid request or possible server error."},
    {2, 503, "API Service", "Temporary due to downtime or due to being overloaded."},
    {3, 500, "API Method", "Capability or permissions issue."},
    {4, 429, "API Too Many Calls", "The app has reached its API call rate limit."},
    {10, 403, "Permission Denied", "Permission is either not granted or has been removed."},
    {100, 400, "Invalid parameter",
     "The request included one or more unsupported or misspelled parameters."},
    {190, 401, "Access token has expired", "Your access token has expired."},
    {368, 403, "Temporarily blocked for policies violations",
     "The WhatsApp Business Account associated with the app has been restricted or disabled "
     "for violating a platform policy."},
    {80007, 429, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."},
    {130429, 429, "Rate limit hit", "Cloud API message throughput has been reached."},
    {130472, 400, "User's number is part of an experiment",
     "Message was not sent as part of an experiment."},
    {131000, 500, "Something went wrong", "Message failed to send due to an unknown error."},
    {131005, 403, "Access denied", "Permission is either not granted or has been removed."},
    {131008, 400, "Required parameter is missing", "The request is missing a required parameter."},
    {131009, 400, "Parameter value is not valid", "One or more parameter values are invalid."},
    {131016, 503, "Service unavailable", "A service is temporarily unavailable."},
    {131021, 400, "Recipient cannot be sender", "Sender and recipient phone number is the same."},
    {131026, 400, "Message undeliverable", "Unable to deliver message."},
    {131030, 400, "Recipient phone number not in allowed list",
     "Recipient phone number not in allowed list."},
    {131031, 403, "Account has been locked",
     "The WhatsApp Business Account associated with the app has been restricted or disabled "
     "for violating a platform policy."},
    {131042, 400, "Business eligibility payment issue",
     "There was an error related to your payment method."},
    {131045, 500, "Incorrect certificate",
     "Message failed to send due to a phone number registration error."},
    {131047, 400, "Re-engagement message",
     "More than 24 hours have passed since the recipient last replied to the sender number."},
    {131048, 429, "Spam rate limit hit",
     "Message failed to send because there are restrictions on how many messages can be sent "
     "from this phone number."},
    {131049, 400, "This message was not delivered to maintain healthy ecosystem engagement.",
     "This message was not delivered to maintain healthy ecosystem engagement."},
    {131050, 400, "User has stopped marketing messages",
     "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
     "messages on WhatsApp from your business."},
    {131051, 400, "Unsupported message type", "Unsupported message type."},
    {131056, 429, "(Business Account, Consumer Account) pair rate limit hit",
     "Too many messages sent from the sender phone number to the same recipient phone number "
     "in a short period of time."},
    {131057, 500, "Account in maintenance mode", "Business Account is in maintenance mode"},
    {132000, 400, "Template Param Count Mismatch",
     "The number of variable parameter values included in the request did not match the number "
     "of variable parameters defined in the template."},
    {132001, 404, "Template does not exist",
     "The template does not exist in the specified language or the template has not been "
     "approved."},
    {132005, 400, "Template Hydrated Text Too Long", "Translated text is too long."},
    {132007, 400, "Template Format Character Policy Violated",
     "Template content violates a WhatsApp policy."},
    {132012, 400, "Template Parameter Format Mismatch",
     "Variable parameter values formatted incorrectly."},
    {132015, 400, "Template is Paused",
     "Template is paused due to low quality so it cannot be sent in a template message."},
    {132016, 400, "Template is Disabled",
     "Template has been paused too many times due to low quality and is now permanently "
     "disabled."},
    {133004, 503, "Server Temporarily Unavailable", "Server is temporarily unavailable."},
    {133010, 400, "Phone number Not Registered",
     "Phone number not registered on the WhatsApp Business Platform."},
};

/* A status webhook waiting in the queue. The body is rendered once, so
 * every attempt sends (and signs) the same bytes, as Meta's retries do. */
typedef struct {
    char *url;
    char *body;
    char message_id[128];
    msg_status status;
    fake_sig sig;
} notification;

/* Configuration fixed after main's argument parsing. */
static const char *access_token = DEFAULT_TOKEN;
static const char *phone_number_id = DEFAULT_PHONE_ID;
static const char *app_secret = DEFAULT_SECRET;
static const char *start_webhook_url; /* NULL: none */
static bool send_webhook(void *item, int attempt);
static void free_notification(void *item);
static fake_webhooks_config webhook_cfg = {.max_queue = MAX_QUEUE,
                                           .max_deliveries = MAX_DELIVERIES,
                                           .retry_delays_ms = {200, 500, 1000},
                                           .n_retry_delays = 3,
                                           .send = send_webhook,
                                           .free_item = free_notification};
static fake_webhooks *webhooks;
static msg_status start_auto[MAX_AUTO] = {ST_SENT, ST_DELIVERED};
static size_t n_start_auto = 2;

/* Everything below is guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *webhook_url; /* where statuses go; NULL: nowhere */
static msg_status auto_statuses[MAX_AUTO];
static size_t n_auto;
static int auto_fail_code = DEFAULT_FAIL_CODE;
static long step_ms = DEFAULT_STEP_MS;
static json_t *messages;         /* accepted messages, oldest first, at most MAX_MESSAGES */
static uint64_t forgotten;       /* messages dropped from the list to keep it bounded */
static uint64_t queue_overflows; /* statuses refused by a full queue */
static json_t *last_request;
static uint64_t message_requests;
static fake_mode mode = MODE_OK;
static int mode_code;
static unsigned mode_http; /* 0: the table's */
static long mode_count;    /* requests the mode still applies to; -1: until changed */
static long delay_ms;
static uint64_t next_seq = 1;

static atomic_uint_fast64_t api_requests;

/* ---- small helpers ----------------------------------------------------- */

/* Queues status with body as JSON, plus one extra header when name is not
 * NULL. */
static enum MHD_Result reply_with(struct MHD_Connection *conn, unsigned status, const char *body,
                                  const char *name, const char *value)
{
    if (name == NULL)
        return fake_reply_json(conn, status, body);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=UTF-8");
    MHD_add_response_header(r, name, value);
    enum MHD_Result rv = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rv;
}

/* RFC 4648 base64url with padding, into out (at least 4*ceil(n/3)+1). Meta's
 * ids are base64; the URL-safe alphabet keeps ours usable in a query. */
static void base64url(const unsigned char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
}

/* A trace id like Graph's fbtrace_id: 23 URL-safe characters. */
static void fbtrace_id(char out[24])
{
    char uuid[37];
    bp_uuid(uuid);
    unsigned char raw[18];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)uuid[i * 2] ^ (unsigned char)(uuid[i * 2 + 1] << 3);
    char enc[32];
    base64url(raw, sizeof raw, enc);
    memcpy(out, enc, 23);
    out[23] = '\0';
}

static const meta_error *find_error(int code)
{
    static const meta_error unknown = {0, 400, "Unknown error code", "No details for this code."};
    for (size_t i = 0; i < BP_COUNTOF(meta_errors); i++)
        if (meta_errors[i].code == code)
            return &meta_errors[i];
    return &unknown;
}

/* Meta's error object: {"error":{"message","type","code","error_data":
 * {"messaging_product","details"},"error_subcode"?,"fbtrace_id"}}. details
 * NULL leaves error_data out; subcode 0 leaves error_subcode out. A 401
 * carries Graph's WWW-Authenticate header. */
static enum MHD_Result meta_error_reply(struct MHD_Connection *conn, unsigned http,
                                        const char *type, int code, int subcode,
                                        const char *message, const char *details)
{
    char trace[24];
    fbtrace_id(trace);
    json_t *err = json_pack("{s:s,s:s,s:i}", "message", message, "type", type, "code", code);
    if (err != NULL && details != NULL)
        json_object_set_new(
            err, "error_data",
            json_pack("{s:s,s:s}", "messaging_product", "whatsapp", "details", details));
    if (err != NULL && subcode != 0)
        json_object_set_new(err, "error_subcode", json_integer(subcode));
    if (err != NULL)
        json_object_set_new(err, "fbtrace_id", json_string(trace));
    json_t *o = err != NULL ? json_pack("{s:o}", "error", err) : NULL;
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL)
        return fake_reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "{\"error\":\"out of memory\"}");
    enum MHD_Result rv;
    if (http == MHD_HTTP_UNAUTHORIZED) {
        char auth[320];
        snprintf(auth, sizeof auth, "OAuth \"Facebook Platform\" \"invalid_token\" \"%s\"",
                 message);
        rv = reply_with(conn, http, s, MHD_HTTP_HEADER_WWW_AUTHENTICATE, auth);
    } else {
        rv = reply_with(conn, http, s, NULL, NULL);
    }
    free(s);
    return rv;
}

/* An error of Meta's tables: "(#code) title" with its details and status;
 * http 0 takes the table's. */
static enum MHD_Result coded_error(struct MHD_Connection *conn, int code, unsigned http)
{
    const meta_error *e = find_error(code);
    if (code == 190)
        return meta_error_reply(conn, http != 0 ? http : e->http, "OAuthException", 190, 463,
                                "Error validating access token: Session has expired.", NULL);
    char msg[192];
    snprintf(msg, sizeof msg, "(#%d) %s", code, e->title);
    return meta_error_reply(conn, http != 0 ? http : e->http, "OAuthException", code, 0, msg,
                            e->details);
}

/* ---- state (lock held) --------------------------------------------------- */

static json_t *find_message(const char *id)
{
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        const char *mid = json_string_value(json_object_get(m, "id"));
        if (id != NULL && mid != NULL && strcmp(mid, id) == 0)
            return m;
    }
    return NULL;
}

/* Meta's status webhook for message m ("Status messages webhook
 * reference"): one entry, one change of field "messages", one status.
 * Returns the compact JSON (caller frees) or NULL. */
static char *status_body(json_t *m, msg_status st, int fail_code)
{
    const char *id = json_string_value(json_object_get(m, "id"));
    const char *wa_id = json_string_value(json_object_get(m, "wa_id"));
    bool is_template = json_is_true(json_object_get(m, "is_template"));
    char ts[24];
    snprintf(ts, sizeof ts, "%" PRId64, bp_now_ms() / 1000);
    json_t *s =
        json_pack("{s:s,s:s,s:s,s:s}", "id", id != NULL ? id : "", "status", status_names[st],
                  "timestamp", ts, "recipient_id", wa_id != NULL ? wa_id : "");
    if (s == NULL)
        return NULL;
    json_t *opaque = json_object_get(m, "biz_opaque_callback_data");
    if (json_is_string(opaque))
        json_object_set(s, "biz_opaque_callback_data", opaque);
    /* Pricing comes with sent and with one of delivered or read; the
     * conversation object is gone from v24.0 webhooks. A template is billed
     * as utility; a text answers within the customer service window. */
    if (st == ST_SENT || st == ST_DELIVERED)
        json_object_set_new(s, "pricing",
                            json_pack("{s:b,s:s,s:s,s:s}", "billable", is_template, "pricing_model",
                                      "PMP", "type",
                                      is_template ? "regular" : "free_customer_service", "category",
                                      is_template ? "utility" : "service"));
    if (st == ST_FAILED) {
        const meta_error *e = find_error(fail_code);
        json_object_set_new(s, "errors",
                            json_pack("[{s:i,s:s,s:s,s:{s:s},s:s}]", "code", fail_code, "title",
                                      e->title, "message", e->title, "error_data", "details",
                                      e->details, "href", ERROR_CODES_URL));
    }
    json_t *o = json_pack("{s:s,s:[{s:s,s:[{s:{s:s,s:{s:s,s:s},s:[o]},s:s}]}]}", "object",
                          "whatsapp_business_account", "entry", "id", WABA_ID, "changes", "value",
                          "messaging_product", "whatsapp", "metadata", "display_phone_number",
                          DISPLAY_PHONE, "phone_number_id", phone_number_id, "statuses", s, "field",
                          "messages");
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return body;
}

/* Queues status st of message m for url after after_ms; false when the
 * queue is full or memory ran out. The worker sends it. */
static bool enqueue_status(const char *url, json_t *m, msg_status st, int fail_code, fake_sig sig,
                           long after_ms)
{
    notification *n = calloc(1, sizeof *n);
    char *u = strdup(url);
    char *b = status_body(m, st, fail_code);
    if (n == NULL || u == NULL || b == NULL) {
        free(n);
        free(u);
        free(b);
        return false;
    }
    *n = (notification){.url = u, .body = b, .status = st, .sig = sig};
    snprintf(n->message_id, sizeof n->message_id, "%s",
             json_string_value(json_object_get(m, "id")));
    if (!fake_webhooks_enqueue(webhooks, n, after_ms)) {
        queue_overflows++;
        free_notification(n);
        return false;
    }
    json_object_set_new(m, "status", json_string(status_names[st]));
    return true;
}

/* ---- webhooks ------------------------------------------------------------ */

/* Sends one status webhook as Meta does: POST <url> with the JSON body and
 * X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with
 * the app secret>. Returns the HTTP status, or 0 when none came. */
static void free_notification(void *item)
{
    notification *n = item;
    free(n->url);
    free(n->body);
    free(n);
}

static bool send_webhook(void *item, int attempt)
{
    const notification *n = item;
    char mac[65];
    /* A bad signature is a real HMAC under another key, so only the key
     * check can catch it. */
    const char *key = n->sig == FAKE_SIG_BAD ? "not-the-app-secret" : app_secret;
    bp_hmac_sha256_hex(key, strlen(key), n->body, strlen(n->body), mac);
    char h_sig[96];
    snprintf(h_sig, sizeof h_sig, "X-Hub-Signature-256: sha256=%s", mac);
    const char *headers[] = {"Content-Type: application/json",
                             n->sig == FAKE_SIG_MISSING ? NULL : h_sig, NULL};
    const char *error;
    long status = fake_webhooks_post(n->url, headers, n->body, &error);
    /* Meta retries anything other than a 200. */
    const char *outcome = error != NULL ? error : status == 200 ? "delivered" : "refused";
    bp_log_info("webhook %s for %s attempt %d signature %s: %s (%ld)", status_names[n->status],
                n->message_id, attempt + 1, fake_sig_names[n->sig], outcome, status);
    fake_webhooks_record(webhooks,
                         json_pack("{s:s,s:s,s:s,s:i,s:s,s:I,s:s,s:s}", "url", n->url, "message_id",
                                   n->message_id, "status", status_names[n->status], "attempt",
                                   attempt + 1, "signature", fake_sig_names[n->sig], "http_status",
                                   (json_int_t)status, "outcome", outcome, "body", n->body));
    return status == 200;
}

/* ---- the messages endpoint ----------------------------------------------- */

/* The text a body parameter shows: text, or the fallback of a currency or
 * date_time; NULL for media and the rest. */
static const char *param_text(json_t *p)
{
    const char *type = json_string_value(json_object_get(p, "type"));
    if (type == NULL)
        return NULL;
    if (strcmp(type, "text") == 0)
        return json_string_value(json_object_get(p, "text"));
    if (strcmp(type, "currency") == 0 || strcmp(type, "date_time") == 0)
        return json_string_value(json_object_get(json_object_get(p, type), "fallback_value"));
    return NULL;
}

/* The values of the body component's parameters, in order (a new array). */
static json_t *body_parameters(json_t *tmpl)
{
    json_t *out = json_array();
    size_t i, j;
    json_t *c, *p;
    json_array_foreach(json_object_get(tmpl, "components"), i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type == NULL || strcmp(type, "body") != 0)
            continue;
        json_array_foreach(json_object_get(c, "parameters"), j, p)
        {
            const char *t = param_text(p);
            json_array_append_new(out, t != NULL ? json_string(t) : json_null());
        }
    }
    return out;
}

/* Remembers the last call of the messages endpoint for /_fake/last. The
 * Authorization header is only said to be there or not, so no token lands
 * in a test log. */
static void record_request(struct MHD_Connection *conn, const char *method, const char *url,
                           const char *version, const char *phone_id, const char *body)
{
    json_error_t err;
    json_t *req = *body != '\0' ? json_loads(body, 0, &err) : NULL;
    json_t *tmpl = json_object_get(req, "template");
    json_t *params = json_is_object(tmpl) ? body_parameters(tmpl) : json_array();
    json_t *r = json_pack(
        "{s:s,s:s,s:s,s:s,s:s?,s:b,s:O?,s:O?,s:O?,s:O?,s:o,s:O?,s:O?,s:s,s:o?}", "method", method,
        "path", url, "version", version, "phone_number_id", phone_id, "content_type",
        fake_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE), "authorization",
        fake_header(conn, MHD_HTTP_HEADER_AUTHORIZATION) != NULL, "to", json_object_get(req, "to"),
        "type", json_object_get(req, "type"), "template", json_object_get(tmpl, "name"), "language",
        json_object_get(json_object_get(tmpl, "language"), "code"), "parameters", params, "text",
        json_object_get(json_object_get(req, "text"), "body"), "biz_opaque_callback_data",
        json_object_get(req, "biz_opaque_callback_data"), "body", body, "json", req);
    pthread_mutex_lock(&lock);
    message_requests++;
    json_decref(last_request);
    last_request = r;
    pthread_mutex_unlock(&lock);
}

static bool authorized(struct MHD_Connection *conn, bool *present)
{
    const char *h = fake_header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
    *present = h != NULL;
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return false;
    return bp_secure_equal(h + 7, access_token);
}

/* What validation keeps of a valid request; borrowed from its JSON. */
typedef struct {
    const char *to;
    char wa_id[16];
    bool is_template;
} parsed_message;

/* Writes Meta's kind of message ("(#100) ...") into err; returns false. */
static bool invalid(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool invalid(char *err, size_t len, const char *fmt, ...)
{
    int n = snprintf(err, len, "(#100) ");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < len)
        vsnprintf(err + n, len - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

/* The recipient as Meta takes it: digits, optionally with a leading + and
 * spaces, dashes, dots or parentheses; 7 to 15 digits (E.164). The digits
 * go to wa_id. */
static bool parse_phone(const char *s, char wa_id[16])
{
    size_t n = 0;
    for (const char *c = s; *c != '\0'; c++) {
        if (*c >= '0' && *c <= '9') {
            if (n == 15)
                return false;
            wa_id[n++] = *c;
        } else if (!(*c == '+' && c == s) && strchr(" -.()", *c) == NULL) {
            return false;
        }
    }
    wa_id[n] = '\0';
    return n >= 7;
}

/* A language code such as "es_AR", "en" or "pt_BR". */
static bool valid_language(const char *s)
{
    size_t i = 0;
    while (s[i] >= 'a' && s[i] <= 'z')
        i++;
    if (i < 2 || i > 3)
        return false;
    if (s[i] == '\0')
        return true;
    if (s[i] != '_')
        return false;
    size_t j = ++i;
    while ((s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= 'a' && s[j] <= 'z') ||
           (s[j] >= '0' && s[j] <= '9'))
        j++;
    return s[j] == '\0' && j - i >= 2 && j - i <= 4;
}

/* Characters (not bytes) of a UTF-8 string. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool is_nonempty_string(json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

/* One template parameter: its type and the member that type requires. */
static bool valid_parameter(json_t *p, const char *where, size_t k, char *err, size_t len)
{
    if (!json_is_object(p))
        return invalid(err, len, "%s.parameters[%zu] must be an object", where, k);
    const char *type = json_string_value(json_object_get(p, "type"));
    if (type == NULL)
        return invalid(err, len, "The parameter %s.parameters[%zu].type is required.", where, k);
    json_t *v = json_object_get(p, type);
    if (strcmp(type, "text") == 0) {
        if (!is_nonempty_string(v))
            return invalid(err, len, "Param %s.parameters[%zu].text must be a non-empty string",
                           where, k);
    } else if (strcmp(type, "currency") == 0) {
        if (!json_is_object(v) || !is_nonempty_string(json_object_get(v, "fallback_value")) ||
            !json_is_string(json_object_get(v, "code")) ||
            !json_is_integer(json_object_get(v, "amount_1000")))
            return invalid(err, len,
                           "Param %s.parameters[%zu].currency needs fallback_value, code and "
                           "amount_1000",
                           where, k);
    } else if (strcmp(type, "date_time") == 0) {
        if (!json_is_object(v) || !is_nonempty_string(json_object_get(v, "fallback_value")))
            return invalid(err, len, "Param %s.parameters[%zu].date_time needs fallback_value",
                           where, k);
    } else if (strcmp(type, "image") == 0 || strcmp(type, "document") == 0 ||
               strcmp(type, "video") == 0) {
        if (!json_is_object(v) || (!is_nonempty_string(json_object_get(v, "id")) &&
                                   !is_nonempty_string(json_object_get(v, "link"))))
            return invalid(err, len, "Param %s.parameters[%zu].%s needs an id or a link", where, k,
                           type);
    } else if (strcmp(type, "payload") == 0 || strcmp(type, "coupon_code") == 0) {
        if (!is_nonempty_string(v))
            return invalid(err, len, "Param %s.parameters[%zu].%s must be a non-empty string",
                           where, k, type);
    } else if (strcmp(type, "location") == 0 || strcmp(type, "action") == 0) {
        if (!json_is_object(v))
            return invalid(err, len, "Param %s.parameters[%zu].%s must be an object", where, k,
                           type);
    } else {
        return invalid(err, len,
                       "Param %s.parameters[%zu].type must be one of {TEXT, CURRENCY, DATE_TIME, "
                       "IMAGE, DOCUMENT, VIDEO, LOCATION, PAYLOAD, COUPON_CODE, ACTION} - got "
                       "\"%.32s\".",
                       where, k, type);
    }
    json_t *name = json_object_get(p, "parameter_name");
    if (name != NULL && !is_nonempty_string(name))
        return invalid(err, len, "Param %s.parameters[%zu].parameter_name must be a string", where,
                       k);
    return true;
}

static bool valid_component(json_t *c, size_t i, char *err, size_t len)
{
    char where[48];
    snprintf(where, sizeof where, "template.components[%zu]", i);
    if (!json_is_object(c))
        return invalid(err, len, "%s must be an object", where);
    const char *type = json_string_value(json_object_get(c, "type"));
    if (type == NULL)
        return invalid(err, len, "The parameter %s.type is required.", where);
    bool button = strcmp(type, "button") == 0;
    if (!button && strcmp(type, "header") != 0 && strcmp(type, "body") != 0)
        return invalid(err, len,
                       "Param %s.type must be one of {HEADER, BODY, BUTTON} - got \"%.32s\".",
                       where, type);
    if (button) {
        json_t *idx = json_object_get(c, "index");
        const char *is = json_string_value(idx);
        bool idx_ok = (json_is_integer(idx) && json_integer_value(idx) >= 0 &&
                       json_integer_value(idx) <= 9) ||
                      (is != NULL && is[0] >= '0' && is[0] <= '9' && is[1] == '\0');
        if (!json_is_string(json_object_get(c, "sub_type")) || !idx_ok)
            return invalid(err, len, "%s: a button needs sub_type and an index from 0 to 9", where);
    }
    json_t *params = json_object_get(c, "parameters");
    if (params == NULL)
        return true;
    if (!json_is_array(params) || json_array_size(params) > MAX_PARAMS)
        return invalid(err, len, "%s.parameters must be an array of at most %d", where, MAX_PARAMS);
    size_t k;
    json_t *p;
    json_array_foreach(params, k, p)
    {
        if (!valid_parameter(p, where, k, err, len))
            return false;
    }
    return true;
}

static bool valid_template(json_t *tmpl, char *err, size_t len)
{
    if (!json_is_object(tmpl))
        return invalid(err, len, "The parameter template is required.");
    json_t *name = json_object_get(tmpl, "name");
    if (!is_nonempty_string(name) || json_string_length(name) > 512)
        return invalid(err, len, "The parameter template.name is required.");
    json_t *lang = json_object_get(tmpl, "language");
    const char *code = json_string_value(json_object_get(lang, "code"));
    if (!json_is_object(lang) || code == NULL)
        return invalid(err, len, "The parameter template.language.code is required.");
    if (!valid_language(code))
        return invalid(err, len, "Param template.language.code is not a language code: \"%.16s\"",
                       code);
    json_t *policy = json_object_get(lang, "policy");
    if (policy != NULL &&
        !(json_is_string(policy) && strcmp(json_string_value(policy), "deterministic") == 0))
        return invalid(err, len, "Param template.language.policy must be \"deterministic\"");
    json_t *comps = json_object_get(tmpl, "components");
    if (comps == NULL)
        return true;
    if (!json_is_array(comps) || json_array_size(comps) > MAX_COMPONENTS)
        return invalid(err, len, "Param template.components must be an array of at most %d",
                       MAX_COMPONENTS);
    size_t i;
    json_t *c;
    json_array_foreach(comps, i, c)
    {
        if (!valid_component(c, i, err, len))
            return false;
    }
    return true;
}

/* Checks a send-message body as the Cloud API does for what BarberPro
 * sends: messaging_product, to, type template (name, language.code,
 * components) or text (body). On false, err holds the message. */
static bool validate(json_t *req, parsed_message *out, char *err, size_t len)
{
    if (!json_is_object(req))
        return invalid(err, len, "The request body must be a JSON object.");
    json_t *product = json_object_get(req, "messaging_product");
    if (product == NULL)
        return invalid(err, len, "The parameter messaging_product is required.");
    if (!json_is_string(product) || strcmp(json_string_value(product), "whatsapp") != 0)
        return invalid(err, len, "Param messaging_product must be one of {WHATSAPP}.");
    json_t *rtype = json_object_get(req, "recipient_type");
    if (rtype != NULL &&
        !(json_is_string(rtype) && strcmp(json_string_value(rtype), "individual") == 0))
        return invalid(err, len, "Param recipient_type must be one of {INDIVIDUAL}.");
    json_t *to = json_object_get(req, "to");
    if (to == NULL)
        return invalid(err, len, "The parameter to is required.");
    if (!json_is_string(to) || !parse_phone(json_string_value(to), out->wa_id))
        return invalid(err, len, "Param to must be a phone number of 7 to 15 digits.");
    out->to = json_string_value(to);
    json_t *opaque = json_object_get(req, "biz_opaque_callback_data");
    if (opaque != NULL && (!json_is_string(opaque) || json_string_length(opaque) > 512))
        return invalid(
            err, len, "Param biz_opaque_callback_data must be a string of at most 512 characters.");
    /* The type defaults to text, as in the Cloud API. */
    json_t *type = json_object_get(req, "type");
    const char *t = type == NULL ? "text" : json_string_value(type);
    if (t == NULL)
        return invalid(err, len, "Param type must be a string.");
    if (strcmp(t, "template") == 0) {
        out->is_template = true;
        return valid_template(json_object_get(req, "template"), err, len);
    }
    if (strcmp(t, "text") == 0) {
        json_t *text = json_object_get(req, "text");
        json_t *body = json_object_get(text, "body");
        if (!json_is_object(text) || !is_nonempty_string(body))
            return invalid(err, len, "The parameter text.body is required.");
        if (utf8_chars(json_string_value(body)) > MAX_TEXT_CHARS)
            return invalid(err, len, "Param text.body must be at most %d characters.",
                           MAX_TEXT_CHARS);
        json_t *preview = json_object_get(text, "preview_url");
        if (preview != NULL && !json_is_boolean(preview))
            return invalid(err, len, "Param text.preview_url must be a boolean.");
        out->is_template = false;
        return true;
    }
    return invalid(err, len,
                   "Param type must be one of {TEMPLATE, TEXT} in this stand-in - got \"%.32s\".",
                   t);
}

/* A new message id: "wamid." and base64 of the recipient, a sequence
 * number and randomness, so it is unique and looks like Meta's. */
static void new_wamid(const char *wa_id, uint64_t seq, char out[128])
{
    char uuid[37];
    bp_uuid(uuid);
    char raw[72];
    int n = snprintf(raw, sizeof raw, "%s:%" PRIu64 ":%.12s", wa_id, seq, uuid + 24);
    char enc[100];
    base64url((const unsigned char *)raw, n > 0 ? (size_t)n : 0, enc);
    snprintf(out, 128, "wamid.%s", enc);
}

/* The failure the mode sets for this request, when the mode is one of
 * which (a mask of 1 << fake_mode); uses up one of its count. */
static fake_mode take_mode(unsigned which, int *code, unsigned *http)
{
    fake_mode m = MODE_OK;
    pthread_mutex_lock(&lock);
    if (mode != MODE_OK && (which & (1u << mode)) != 0) {
        m = mode;
        *code = mode_code;
        *http = mode_http;
        if (mode_count > 0 && --mode_count == 0)
            mode = MODE_OK;
    }
    pthread_mutex_unlock(&lock);
    return m;
}

/* An accepted message: remembered, its automatic statuses queued, and
 * Meta's answer. */
static enum MHD_Result accept_message(struct MHD_Connection *conn, json_t *req,
                                      const parsed_message *pm)
{
    json_t *tmpl = json_object_get(req, "template");
    pthread_mutex_lock(&lock);
    char id[128];
    new_wamid(pm->wa_id, next_seq++, id);
    json_t *m =
        json_pack("{s:s,s:s,s:s,s:s,s:b,s:O?,s:O?,s:o,s:O?,s:O?,s:I,s:s}", "id", id, "to", pm->to,
                  "wa_id", pm->wa_id, "type", pm->is_template ? "template" : "text", "is_template",
                  pm->is_template, "template", json_object_get(tmpl, "name"), "language",
                  json_object_get(json_object_get(tmpl, "language"), "code"), "parameters",
                  pm->is_template ? body_parameters(tmpl) : json_array(), "text",
                  json_object_get(json_object_get(req, "text"), "body"), "biz_opaque_callback_data",
                  json_object_get(req, "biz_opaque_callback_data"), "created_ms",
                  (json_int_t)bp_now_ms(), "status", "accepted");
    size_t queued = 0;
    if (m != NULL) {
        if (json_array_size(messages) == MAX_MESSAGES) {
            json_array_remove(messages, 0);
            forgotten++;
        }
        json_array_append_new(messages, m);
        for (size_t i = 0; webhook_url != NULL && i < n_auto; i++)
            queued += enqueue_status(webhook_url, m, auto_statuses[i], auto_fail_code, FAKE_SIG_OK,
                                     step_ms * (long)(i + 1));
    }
    pthread_mutex_unlock(&lock);
    if (m == NULL)
        return coded_error(conn, 131000, 0);
    bp_log_info("accepted %s %s for %s, %zu status webhooks queued",
                pm->is_template ? "template" : "text", id, pm->wa_id, queued);
    /* message_status comes with template messages only. */
    json_t *msg = json_pack("{s:s}", "id", id);
    if (msg != NULL && pm->is_template)
        json_object_set_new(msg, "message_status", json_string("accepted"));
    return fake_reply_obj(conn, MHD_HTTP_OK,
                          json_pack("{s:s,s:[{s:s,s:s}],s:[o]}", "messaging_product", "whatsapp",
                                    "contacts", "input", pm->to, "wa_id", pm->wa_id, "messages",
                                    msg));
}

/* POST /{version}/{phone number id}/messages, the version optional. */
static enum MHD_Result send_message(struct MHD_Connection *conn, const char *method,
                                    const char *url, const char *version, const char *phone_id,
                                    const char *body)
{
    atomic_fetch_add(&api_requests, 1);
    record_request(conn, method, url, version, phone_id, body);
    pthread_mutex_lock(&lock);
    long d = delay_ms;
    pthread_mutex_unlock(&lock);
    fake_nap(d);

    int code = 0;
    unsigned http = 0;
    switch (take_mode(1u << MODE_ERROR | 1u << MODE_HANG | 1u << MODE_GARBAGE, &code, &http)) {
    case MODE_ERROR:
        return meta_error_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "OAuthException", 1, 0,
                                "An unknown error has occurred.",
                                "Invalid request or possible server error.");
    case MODE_HANG:
        fake_nap(HANG_MAX_MS);
        return MHD_NO; /* closes the connection without an answer */
    case MODE_GARBAGE:
        return fake_reply(conn, MHD_HTTP_OK, "text/html",
                          "<html><body><h1>502 Bad Gateway</h1></body></html>");
    default:
        break;
    }

    bool present;
    if (!authorized(conn, &present))
        return meta_error_reply(conn, MHD_HTTP_UNAUTHORIZED, "OAuthException", 190, 0,
                                present ? "Invalid OAuth access token - Cannot parse access token"
                                        : "An access token is required to request this resource.",
                                NULL);
    if (strcmp(phone_id, phone_number_id) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "Unsupported post request. Object with ID '%.40s' does not exist, cannot be "
                 "loaded due to missing permissions, or does not support this operation.",
                 phone_id);
        return meta_error_reply(conn, MHD_HTTP_BAD_REQUEST, "GraphMethodException", 100, 33, msg,
                                NULL);
    }
    if (strcmp(method, "POST") != 0)
        return meta_error_reply(conn, MHD_HTTP_BAD_REQUEST, "GraphMethodException", 100, 0,
                                "Unsupported get request. Please read the Graph API documentation "
                                "at https://developers.facebook.com/docs/graph-api",
                                NULL);

    json_error_t jerr;
    json_t *req = json_loads(body, 0, &jerr);
    parsed_message pm = {0};
    char err[256];
    if (!validate(req, &pm, err, sizeof err)) {
        json_decref(req);
        bp_log_info("refused a message: %s", err);
        return meta_error_reply(conn, MHD_HTTP_BAD_REQUEST, "OAuthException", 100, 0, err, err + 7);
    }
    /* Only a name a template can have (lowercase letters, digits and
     * underscores) can name an approved template. */
    const char *name = json_string_value(json_object_get(json_object_get(req, "template"), "name"));
    if (pm.is_template && name[strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_")] != '\0') {
        json_decref(req);
        return coded_error(conn, 132001, 0);
    }
    if (take_mode(1u << MODE_CODE, &code, &http) == MODE_CODE) {
        json_decref(req);
        bp_log_info("answering error code %d", code);
        return coded_error(conn, code, http);
    }
    enum MHD_Result rv = accept_message(conn, req, &pm);
    json_decref(req);
    return rv;
}

/* ---- control endpoints ----------------------------------------------------- */

static int status_index(const char *s)
{
    for (size_t i = 0; s != NULL && i < BP_COUNTOF(status_names); i++)
        if (strcmp(s, status_names[i]) == 0)
            return (int)i;
    return -1;
}

static bool parse_code(const char *s, int *out)
{
    long v;
    if (!fake_parse_long(s, 0, 9999999, &v))
        return false;
    *out = (int)v;
    return true;
}

static bool valid_url(const char *u)
{
    return u != NULL && strlen(u) <= MAX_URL &&
           (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
}

/* "sent,delivered,read" or "none" into list; false when not that. */
static bool parse_statuses(const char *s, msg_status list[MAX_AUTO], size_t *n)
{
    *n = 0;
    if (strcmp(s, "none") == 0)
        return true;
    while (*s != '\0') {
        char part[16];
        size_t len = strcspn(s, ",");
        if (*n == MAX_AUTO || len == 0 || len >= sizeof part)
            return false;
        memcpy(part, s, len);
        part[len] = '\0';
        int si = status_index(part);
        if (si < 0)
            return false;
        list[(*n)++] = (msg_status)si;
        s += len;
        if (*s == ',')
            s++;
    }
    return *n > 0;
}

/* POST /_fake/mode?mode=ok|error|hang|garbage|code[&code=N][&status=S][&count=N][&delay_ms=N]
 * code=N alone means mode=code. */
static enum MHD_Result set_mode(struct MHD_Connection *conn)
{
    const char *ms = fake_query(conn, "mode"), *cs = fake_query(conn, "code"),
               *ss = fake_query(conn, "status");
    const char *ns = fake_query(conn, "count"), *ds = fake_query(conn, "delay_ms");
    int found = ms == NULL && cs != NULL ? (int)MODE_CODE : -1;
    for (size_t i = 0; ms != NULL && i < BP_COUNTOF(mode_names); i++)
        if (strcmp(ms, mode_names[i]) == 0)
            found = (int)i;
    int code = 0;
    long st = 0, count = -1, d = 0;
    if (found < 0 || (found == MODE_CODE && !parse_code(cs, &code)) ||
        (found != MODE_CODE && cs != NULL) || (ss != NULL && !fake_parse_long(ss, 400, 599, &st)) ||
        (ns != NULL && !fake_parse_long(ns, 1, 1000000, &count)) ||
        (ds != NULL && !fake_parse_long(ds, 0, 60000, &d)))
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"mode=ok|error|hang|garbage|code; code=N (with "
                               "mode=code or alone); status=400..599; count=1..1000000; "
                               "delay_ms=0..60000\"}");
    unsigned http = st != 0 ? (unsigned)st : (found == MODE_CODE ? find_error(code)->http : 0);
    pthread_mutex_lock(&lock);
    mode = (fake_mode)found;
    mode_code = code;
    mode_http = (unsigned)st;
    mode_count = found == MODE_OK ? -1 : count;
    delay_ms = d;
    pthread_mutex_unlock(&lock);
    json_t *o = json_pack("{s:s,s:I}", "mode", mode_names[found], "delay_ms", (json_int_t)d);
    if (found == MODE_CODE) {
        json_object_set_new(o, "code", json_integer(code));
        json_object_set_new(o, "status", json_integer(http));
    }
    if (found != MODE_OK)
        json_object_set_new(o, "count", count > 0 ? json_integer(count) : json_null());
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* POST /_fake/webhook?url=URL[&auto=sent,delivered,read|none][&code=N][&step_ms=N]
 * url= (empty) sends nothing from now on. */
static enum MHD_Result set_webhook(struct MHD_Connection *conn)
{
    const char *u = fake_query(conn, "url"), *as = fake_query(conn, "auto");
    const char *cs = fake_query(conn, "code"), *ss = fake_query(conn, "step_ms");
    msg_status list[MAX_AUTO];
    size_t n = 0;
    int code = 0;
    long step = 0;
    if (u == NULL || (*u != '\0' && !valid_url(u)) ||
        (as != NULL && !parse_statuses(as, list, &n)) || (cs != NULL && !parse_code(cs, &code)) ||
        (ss != NULL && !fake_parse_long(ss, 0, 60000, &step)))
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"url=http(s)://... or empty; auto=sent,delivered,"
                               "read,failed or none; code=N; step_ms=0..60000\"}");
    char *copy = *u != '\0' ? strdup(u) : NULL;
    if (*u != '\0' && copy == NULL)
        return fake_reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "{\"error\":\"out of memory\"}");
    pthread_mutex_lock(&lock);
    free(webhook_url);
    webhook_url = copy;
    if (as != NULL) {
        memcpy(auto_statuses, list, n * sizeof list[0]);
        n_auto = n;
    }
    if (cs != NULL)
        auto_fail_code = code;
    if (ss != NULL)
        step_ms = step;
    pthread_mutex_unlock(&lock);
    return fake_reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

/* POST /_fake/status?message_id=&status=sent|delivered|read|failed[&code=N]
 *                   [&signature=ok|bad|missing][&delay_ms=N][&url=URL] */
static enum MHD_Result fake_status(struct MHD_Connection *conn)
{
    const char *id = fake_query(conn, "message_id"), *sig = fake_query(conn, "signature");
    const char *cs = fake_query(conn, "code"), *ds = fake_query(conn, "delay_ms"),
               *u = fake_query(conn, "url");
    int si = status_index(fake_query(conn, "status"));
    fake_sig sk;
    int code = DEFAULT_FAIL_CODE;
    long after = 0;
    if (id == NULL || si < 0 || !fake_sig_parse(sig, &sk) ||
        (cs != NULL && !parse_code(cs, &code)) ||
        (ds != NULL && !fake_parse_long(ds, 0, 60000, &after)) || (u != NULL && !valid_url(u)))
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"message_id and status=sent|delivered|read|failed; "
                               "code=N; signature=ok|bad|missing; delay_ms=0..60000; "
                               "url=http(s)://...\"}");
    pthread_mutex_lock(&lock);
    json_t *m = find_message(id);
    const char *to = u != NULL ? u : webhook_url;
    bool queued = m != NULL && to != NULL && enqueue_status(to, m, (msg_status)si, code, sk, after);
    pthread_mutex_unlock(&lock);
    if (m == NULL)
        return fake_reply_json(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such message\"}");
    if (to == NULL)
        return fake_reply_json(conn, MHD_HTTP_CONFLICT,
                               "{\"error\":\"no webhook url: --webhook-url, POST "
                               "/_fake/webhook?url= or url=\"}");
    if (!queued)
        return fake_reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "{\"error\":\"the webhook queue is full\"}");
    return fake_reply_json(conn, MHD_HTTP_OK, "{\"queued\":true}");
}

/* GET /_fake/last: the last call of the messages endpoint. */
static enum MHD_Result fake_last(struct MHD_Connection *conn)
{
    pthread_mutex_lock(&lock);
    json_t *o = fake_last_doc(message_requests, last_request);
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* GET /_fake/messages: the accepted messages, oldest first. */
static enum MHD_Result fake_messages(struct MHD_Connection *conn)
{
    pthread_mutex_lock(&lock);
    json_t *o = json_pack("{s:O,s:I}", "messages", messages, "forgotten", (json_int_t)forgotten);
    json_t *copy = json_deep_copy(o);
    json_decref(o);
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, copy);
}

/* GET /_fake/webhooks: every send attempt, oldest first. */
static enum MHD_Result get_webhooks(struct MHD_Connection *conn)
{
    json_t *o = fake_webhooks_report(webhooks);
    pthread_mutex_lock(&lock);
    json_object_set_new(o, "dropped", json_integer((json_int_t)queue_overflows));
    json_object_set_new(o, "url", webhook_url != NULL ? json_string(webhook_url) : json_null());
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* Back to the start-up settings with nothing remembered; lock held. */
static void clear_state(void)
{
    queue_overflows = 0;
    json_array_clear(messages);
    forgotten = 0;
    json_decref(last_request);
    last_request = NULL;
    message_requests = 0;
    free(webhook_url);
    webhook_url = start_webhook_url != NULL ? strdup(start_webhook_url) : NULL;
    memcpy(auto_statuses, start_auto, sizeof auto_statuses);
    n_auto = n_start_auto;
    auto_fail_code = DEFAULT_FAIL_CODE;
    step_ms = DEFAULT_STEP_MS;
    mode = MODE_OK;
    mode_count = -1;
    delay_ms = 0;
}

static void reset(void)
{
    pthread_mutex_lock(&lock);
    clear_state();
    pthread_mutex_unlock(&lock);
    fake_webhooks_clear(webhooks);
}

/* ---- routing --------------------------------------------------------------- */

/* Whether s is a Graph version such as "v19.0". */
static bool is_version(const char *s, size_t n)
{
    size_t i = 1, dots = 0;
    if (n < 4 || s[0] != 'v')
        return false;
    for (; i < n; i++) {
        if (s[i] == '.')
            dots++;
        else if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return dots == 1 && s[1] != '.' && s[n - 1] != '.';
}

/* "/v19.0/<id>/messages" or "/<id>/messages": the version ("" when none)
 * and the phone number id. */
static bool messages_path(const char *url, char *version, size_t vlen, char *id, size_t idlen)
{
    const char *seg[4];
    size_t len[4], n = 0;
    const char *p = url;
    while (*p == '/' && n < 4) {
        p++;
        seg[n] = p;
        len[n] = strcspn(p, "/");
        p += len[n];
        n++;
    }
    if (*p != '\0' || n < 2 || n > 3 || len[n - 1] != 8 || strncmp(seg[n - 1], "messages", 8) != 0)
        return false;
    size_t v = n == 3;
    if ((v && (!is_version(seg[0], len[0]) || len[0] >= vlen)) || len[v] == 0 || len[v] >= idlen)
        return false;
    snprintf(version, vlen, "%.*s", v ? (int)len[0] : 0, v ? seg[0] : "");
    snprintf(id, idlen, "%.*s", (int)len[v], seg[v]);
    return true;
}

/* The messages endpoint; the /_fake/ paths are the controls' (a control
 * such as /_fake/messages would read as a phone number id "_fake"). */
static enum MHD_Result api(struct MHD_Connection *conn, const char *method, const char *url,
                           const fake_body *body, bool *matched)
{
    char ver[16], id[64];
    *matched =
        strncmp(url, "/_fake/", 7) != 0 && messages_path(url, ver, sizeof ver, id, sizeof id);
    if (!*matched)
        return MHD_NO;
    return send_message(conn, method, url, ver, id, fake_body_text(body));
}

static enum MHD_Result body_too_large(struct MHD_Connection *conn)
{
    return meta_error_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "OAuthException", 100, 0,
                            "(#100) The request body is too large.", NULL);
}

static enum MHD_Result not_found(struct MHD_Connection *conn, const char *url)
{
    if (strncmp(url, "/_fake/", 7) == 0)
        return fake_reply_json(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such control\"}");
    char msg[160];
    snprintf(msg, sizeof msg, "Unknown path components: %.100s", url);
    return meta_error_reply(conn, MHD_HTTP_BAD_REQUEST, "OAuthException", 2500, 0, msg, NULL);
}

/* ---- start-up -------------------------------------------------------------- */

/* The phone number id is a path segment of at most 63 bytes. */
static bool valid_phone_number_id(const char *value, void *ctx)
{
    (void)ctx;
    return strlen(value) < 64;
}

/* "" is no webhook URL. */
static bool take_webhook_url(const char *value, void *ctx)
{
    (void)ctx;
    start_webhook_url = *value != '\0' ? value : NULL;
    return start_webhook_url == NULL || valid_url(value);
}

static bool take_auto_statuses(const char *value, void *ctx)
{
    (void)ctx;
    return parse_statuses(value, start_auto, &n_start_auto);
}

static int start(void)
{
    messages = json_array();
    if (messages == NULL)
        return 1;
    pthread_mutex_lock(&lock);
    clear_state();
    pthread_mutex_unlock(&lock);
    webhooks = fake_webhooks_start(&webhook_cfg);
    if (webhooks == NULL) {
        bp_log_error("cannot start the webhook thread");
        return 1;
    }
    bp_log_info("phone number id %s, webhooks %s, %zu automatic statuses, %zu retries",
                phone_number_id, start_webhook_url != NULL ? "on" : "off", n_start_auto,
                webhook_cfg.n_retry_delays);
    return 0;
}

static void stop(void)
{
    fake_webhooks_stop(webhooks);
    pthread_mutex_lock(&lock);
    clear_state();
    free(webhook_url);
    webhook_url = NULL;
    json_decref(messages);
    messages = NULL;
    pthread_mutex_unlock(&lock);
}

static const fake_option options[] = {
    {.flag = "--access-token", .arg = "T", .flags = FAKE_OPT_NOT_EMPTY, .text = &access_token},
    {.flag = "--phone-number-id",
     .arg = "ID",
     .flags = FAKE_OPT_NOT_EMPTY,
     .text = &phone_number_id,
     .parse = valid_phone_number_id},
    {.flag = "--app-secret", .arg = "S", .flags = FAKE_OPT_NOT_EMPTY, .text = &app_secret},
    {.flag = "--webhook-url", .arg = "URL", .parse = take_webhook_url},
    {.flag = "--auto-statuses", .arg = "sent,delivered", .parse = take_auto_statuses},
    FAKE_WEBHOOKS_DELAYS_OPTION(&webhook_cfg)};

static const fake_control controls[] = {
    {"GET", "/_fake/last", fake_last},        {"GET", "/_fake/messages", fake_messages},
    {"GET", "/_fake/webhooks", get_webhooks}, {"POST", "/_fake/mode", set_mode},
    {"POST", "/_fake/webhook", set_webhook},  {"POST", "/_fake/status", fake_status}};

int main(int argc, char **argv)
{
    static const fake_spec spec = {.name = "whatsapp",
                                   .options = options,
                                   .n_options = BP_COUNTOF(options),
                                   .start = start,
                                   .stop = stop,
                                   .hooks = {.max_body = MAX_BODY,
                                             .refuse_body = body_too_large,
                                             .controls = controls,
                                             .n_controls = BP_COUNTOF(controls),
                                             .reset = reset,
                                             .requests = &api_requests,
                                             .api = api,
                                             .not_found = not_found}};
    return fake_main(&spec, argc, argv);
}
