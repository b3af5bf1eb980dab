/* fake-twilio: a local stand-in for Twilio's Programmable Messaging API (the
 * Message resource of the 2010-04-01 REST API, HTTP basic auth) and for the
 * signed status callbacks Twilio posts while a message travels, with control
 * endpoints under /_fake/ so that tests can refuse messages with a Twilio
 * error code, choose how delivery ends, replay or forge callbacks, break the
 * API and read what the client sent.
 *
 * usage: fake-twilio [--port N] [--account-sid AC...] [--auth-token T]
 *                    [--retry-delays-ms 200,500,1000] [--callback-delay-ms 100]
 *                    [--from-numbers +15005550006,...]
 * Environment: FAKE_TWILIO_PORT, FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_AUTH_TOKEN,
 * FAKE_TWILIO_RETRY_DELAYS_MS, FAKE_TWILIO_CALLBACK_DELAY_MS,
 * FAKE_TWILIO_FROM_NUMBERS (flags win). Prints "listening on <port>" on
 * stdout once it accepts connections; stops on SIGTERM or SIGINT.
 *
 * Wire facts follow Twilio's documentation: "Message resource"
 * (twilio.com/docs/messaging/api/message-resource), "Track the message status
 * of outbound messages", "Webhooks security" (X-Twilio-Signature), the error
 * dictionary (twilio.com/docs/api/errors) and the magic inputs of "Test
 * credentials" (twilio.com/docs/iam/test-credentials). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bp.h"
#include "fake_main.h"
#include "fake_mode.h"
#include "fake_server.h"
#include "fake_webhooks.h"
#include "log.h"
#include "strbuf.h"

/* Bounds: the fake is for tests, and a runaway client must not eat memory. */
#define MAX_MESSAGES   1024 /* the oldest is forgotten beyond this */
#define MAX_QUEUE      1024
#define MAX_DELIVERIES 256
#define MAX_PARAMS     64
#define MAX_BODY       (64 * 1024)
#define MAX_FROMS      16
/* Twilio refuses a body over 1600 characters (error 21617). */
#define MAX_BODY_CHARS 1600
/* How long the fake waits for a callback receiver to answer. */

#define API_VERSION     "2010-04-01"
#define DEFAULT_SID     "ACfake00000000000000000000000000000"
#define DEFAULT_TOKEN   "fake-twilio-token"
#define SERVICE_SENDER  "+15005550006" /* From given to a Messaging Service's messages */
#define ERRORS_BASE_URL "https://www.twilio.com/docs/errors/"

static const char *const mode_names[] = {"ok", "error", "hang", "garbage"};
/* code=N refuses the next count calls with that Twilio error code. */
static const fake_mode_spec mode_spec = {.names = mode_names,
                                         .n_names = BP_COUNTOF(mode_names),
                                         .code_param = "code",
                                         .code_min = 10000,
                                         .code_max = 99999,
                                         .usage = "{\"error\":\"mode=ok|error|hang|garbage, "
                                                  "delay_ms=0..60000, code=<Twilio error code>, "
                                                  "count=1..1000000\"}"};

/* How the delivery of the next messages ends. */
typedef enum { OUT_DELIVERED, OUT_SENT, OUT_UNDELIVERED, OUT_FAILED } outcome;
static const char *const outcome_names[] = {"delivered", "sent", "undelivered", "failed"};

typedef struct {
    char *name, *value;
} param;

typedef struct {
    param v[MAX_PARAMS];
    size_t n;
} form;

typedef struct {
    char sid[40];
    json_t *obj;           /* the Message resource as GET answers it */
    char *status_callback; /* NULL when none */
} message;

/* A status change of a message, and the callback that announces it when the
 * message has a StatusCallback (url not NULL). */
typedef struct {
    char sid[40];
    char status[16];
    int error_code; /* 0: none */
    char *url;      /* NULL: only the resource changes */
    fake_sig sig;
    bool apply; /* change the resource's status (first attempt only) */
} event;

/* Configuration, fixed after main's argument parsing. */
static const char *account_sid = DEFAULT_SID;
static const char *auth_token = DEFAULT_TOKEN;
static bool send_event(void *item, int attempt);
static void free_event(void *item);
static fake_webhooks_config callback_cfg = {.max_queue = MAX_QUEUE,
                                            .max_deliveries = MAX_DELIVERIES,
                                            .retry_delays_ms = {200, 500, 1000},
                                            .n_retry_delays = 3,
                                            .send = send_event,
                                            .free_item = free_event};
static fake_webhooks *callbacks;
static long callback_delay_ms = 100;
static char *from_numbers[MAX_FROMS];
static size_t n_from_numbers;

/* Everything below is guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static message messages[MAX_MESSAGES]; /* oldest first */
static size_t n_messages;
static outcome next_outcome = OUT_DELIVERED;
static int outcome_error = 0; /* 0: the default of the outcome */
static uint64_t create_count;
static json_t *last_request;

static atomic_uint_fast64_t api_requests;

/* ---- small helpers ----------------------------------------------------- */

/* The HTTP status Twilio answers an error code with. */
static unsigned code_status(int code)
{
    switch (code) {
    case 20003:
        return MHD_HTTP_UNAUTHORIZED;
    case 20403:
        return MHD_HTTP_FORBIDDEN;
    case 20404:
        return MHD_HTTP_NOT_FOUND;
    case 20429:
        return MHD_HTTP_TOO_MANY_REQUESTS;
    case 20500:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    case 20503:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    default:
        return MHD_HTTP_BAD_REQUEST;
    }
}

/* The dictionary's title of the codes this fake uses. */
static const char *code_message(int code)
{
    static const struct {
        int code;
        const char *message;
    } known[] = {
        {20003, "Authenticate"},
        {20403, "Permission Denied"},
        {20404, "The requested resource was not found"},
        {20429, "Too Many Requests"},
        {20500, "Internal Server Error"},
        {20503, "Service Unavailable"},
        {21211, "Invalid 'To' Phone Number"},
        {21212, "Invalid 'From' Phone Number"},
        {21408, "Permission to send an SMS has not been enabled for the region indicated by "
                "the 'To' number"},
        {21602, "Message body is required."},
        {21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"},
        {21604, "A 'To' phone number is required."},
        {21606, "The 'From' phone number provided is not a valid message-capable Twilio phone "
                "number for this destination."},
        {21609, "Invalid StatusCallback url"},
        {21610, "Attempt to send to unsubscribed recipient"},
        {21611, "This 'From' number has exceeded the maximum number of queued messages"},
        {21612, "The 'To' phone number is not currently reachable via SMS"},
        {21614, "'To' number is not a valid mobile number"},
        {21617, "The concatenated message body exceeds the 1600 character limit"},
        {21659, "Source number is not a Twilio phone number"},
        {21701, "The Messaging Service Sid is invalid"},
        {30003, "Unreachable destination handset"},
        {30005, "Unknown destination handset"},
        {30006, "Landline or unreachable carrier"},
        {30007, "Message filtered"},
        {30008, "Unknown error"},
    };
    for (size_t i = 0; i < BP_COUNTOF(known); i++)
        if (known[i].code == code)
            return known[i].message;
    return "Error";
}

/* Twilio's error body: {"code","message","more_info","status"}. detail (may
 * be NULL) is appended to the dictionary's title, as Twilio names the bad
 * value. */
static enum MHD_Result twilio_error(struct MHD_Connection *conn, int code, const char *detail)
{
    char msg[512], info[96];
    if (detail != NULL)
        snprintf(msg, sizeof msg, "%s: %s", code_message(code), detail);
    else
        snprintf(msg, sizeof msg, "%s", code_message(code));
    snprintf(info, sizeof info, "%s%d", ERRORS_BASE_URL, code);
    unsigned status = code_status(code);
    return fake_reply_obj(conn, status,
                          json_pack("{s:i,s:s,s:s,s:i}", "code", code, "message", msg, "more_info",
                                    info, "status", (int)status));
}

/* RFC 2822 in GMT, as Twilio writes date_created: "Tue, 27 Nov 2018 16:14:39 +0000". */
static void rfc2822(int64_t ms, char out[40])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static json_t *rfc2822_json(int64_t ms)
{
    char d[40];
    rfc2822(ms, d);
    return json_string(d);
}

/* A new 34-character SID: prefix and 32 lower-case hex digits. */
static void new_sid(const char *prefix, char out[40])
{
    char uuid[37];
    bp_uuid(uuid);
    size_t n = (size_t)snprintf(out, 40, "%s", prefix);
    for (size_t i = 0; uuid[i] != '\0' && n < 34; i++)
        if (uuid[i] != '-')
            out[n++] = uuid[i];
    out[n] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes n bytes of application/x-www-form-urlencoded text ('+' is a
 * space). Caller frees. */
static char *form_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void form_free(form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].value);
    }
    f->n = 0;
}

/* Parses a form body into f; false when it has too many fields or memory
 * ran out. A repeated name keeps its first value for lookups. */
static bool form_parse(const char *body, form *f)
{
    f->n = 0;
    const char *p = body;
    while (*p != '\0') {
        size_t len = strcspn(p, "&");
        if (len > 0) {
            if (f->n == MAX_PARAMS)
                return false;
            const char *eq = memchr(p, '=', len);
            size_t nl = eq != NULL ? (size_t)(eq - p) : len;
            char *name = form_decode(p, nl);
            char *value = eq != NULL ? form_decode(eq + 1, len - nl - 1) : strdup("");
            if (name == NULL || value == NULL) {
                free(name);
                free(value);
                return false;
            }
            f->v[f->n++] = (param){.name = name, .value = value};
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return true;
}

static const char *form_get(const form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0)
            return f->v[i].value;
    return NULL;
}

/* Appends s form-encoded: unreserved bytes as they are, the rest %XX. */
static void form_encode(bp_strbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            bp_strbuf_append(b, (const char *)p, 1);
        else
            bp_strbuf_printf(b, "%%%02X", *p);
    }
}

/* E.164: '+', a country code not starting with 0, at most 15 digits. */
static bool is_e164(const char *s)
{
    size_t n = 0;
    if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
        return false;
    for (const char *p = s + 1; *p != '\0'; p++, n++)
        if (*p < '0' || *p > '9')
            return false;
    return n >= 7 && n <= 15;
}

/* An alphanumeric sender ID: 1 to 11 letters, digits and spaces, at least
 * one letter. */
static bool is_alphanumeric_sender(const char *s)
{
    size_t n = strlen(s);
    bool letter = false;
    if (n == 0 || n > 11)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
            letter = true;
        else if (!(c >= '0' && c <= '9') && c != ' ')
            return false;
    }
    return letter;
}

/* "^MG[0-9a-f]{32}$", the shape of a Messaging Service SID. */
static bool is_service_sid(const char *s)
{
    if (strlen(s) != 34 || strncmp(s, "MG", 2) != 0)
        return false;
    for (size_t i = 2; i < 34; i++)
        if (hexval(s[i]) < 0)
            return false;
    return true;
}

/* Whether code point c is in the GSM 03.38 default alphabet (1 septet) or
 * its extension table (2 septets); 0 when neither. */
static int gsm_septets(uint32_t c)
{
    static const uint32_t basic[] = {0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7,
                                     0x00D8, 0x00F8, 0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B,
                                     0x03A9, 0x03A0, 0x03A8, 0x03A3, 0x0398, 0x039E, 0x00C6, 0x00E6,
                                     0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6, 0x00D1, 0x00DC,
                                     0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0};
    if (c == '\n' || c == '\r' ||
        (c >= 0x20 && c < 0x7F && c != '`' && c != '[' && c != ']' && c != '\\' && c != '^' &&
         c != '{' && c != '}' && c != '|' && c != '~'))
        return 1;
    if (c == '[' || c == ']' || c == '\\' || c == '^' || c == '{' || c == '}' || c == '|' ||
        c == '~' || c == 0x20AC || c == '\f')
        return 2;
    for (size_t i = 0; i < BP_COUNTOF(basic); i++)
        if (basic[i] == c)
            return 1;
    return 0;
}

/* Counts the characters of a UTF-8 body and its SMS segments: GSM-7 when
 * every character has a septet encoding (160 in one segment, 153 per part
 * of a longer one), else UCS-2 (70, else 67 per part, in UTF-16 units).
 * Returns false for malformed UTF-8. */
static bool sms_segments(const char *s, size_t *chars, long *segments)
{
    size_t n_chars = 0, septets = 0, units = 0;
    bool gsm = true;
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        uint32_t c;
        int len = *p < 0x80         ? 1
                  : (*p >> 5) == 6  ? 2
                  : (*p >> 4) == 14 ? 3
                  : (*p >> 3) == 30 ? 4
                                    : 0;
        if (len == 0)
            return false;
        c = len == 1 ? *p : *p & (0x7F >> len);
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (p[i] & 0x3F);
        }
        p += len;
        n_chars++;
        units += c > 0xFFFF ? 2 : 1;
        int g = gsm_septets(c);
        if (g == 0)
            gsm = false;
        septets += (size_t)g;
    }
    *chars = n_chars;
    size_t total = gsm ? septets : units, single = gsm ? 160 : 70, part = gsm ? 153 : 67;
    *segments = total == 0 ? 1 : total <= single ? 1 : (long)((total + part - 1) / part);
    return true;
}

/* base64 of HMAC-SHA1(auth token, url + each param's name and value, the
 * params sorted by name): Twilio's X-Twilio-Signature. */
static int cmp_param(const void *a, const void *b)
{
    const param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static void twilio_signature(const char *key, const char *url, const param *ps, size_t n,
                             char out[64])
{
    param sorted[MAX_PARAMS];
    memcpy(sorted, ps, n * sizeof *ps);
    qsort(sorted, n, sizeof *sorted, cmp_param);
    bp_strbuf s = {0};
    bp_strbuf_append(&s, url, strlen(url));
    for (size_t i = 0; i < n; i++) {
        bp_strbuf_append(&s, sorted[i].name, strlen(sorted[i].name));
        bp_strbuf_append(&s, sorted[i].value, strlen(sorted[i].value));
    }
    char *data = bp_strbuf_take(&s);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    out[0] = '\0';
    if (data != NULL && HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)data,
                             strlen(data), mac, &len) != NULL)
        EVP_EncodeBlock((unsigned char *)out, mac, (int)len);
    free(data);
}

/* ---- state (lock held) ------------------------------------------------- */

static message *find_message(const char *sid)
{
    for (size_t i = 0; sid != NULL && i < n_messages; i++)
        if (strcmp(messages[i].sid, sid) == 0)
            return &messages[i];
    return NULL;
}

/* Keeps m, forgetting the oldest message when the list is full. */
static void keep_message(message m)
{
    if (n_messages == MAX_MESSAGES) {
        json_decref(messages[0].obj);
        free(messages[0].status_callback);
        memmove(&messages[0], &messages[1], (MAX_MESSAGES - 1) * sizeof *messages);
        n_messages--;
    }
    messages[n_messages++] = m;
}

/* Queues a status change of message sid, announced to url (may be NULL).
 * The worker applies and sends it after after_ms. */
static bool enqueue(const char *sid, const char *status, int error_code, const char *url,
                    fake_sig sig, bool apply, long after_ms)
{
    event *e = calloc(1, sizeof *e);
    char *u = url != NULL ? strdup(url) : NULL;
    if (e == NULL || (url != NULL && u == NULL)) {
        free(e);
        free(u);
        return false;
    }
    *e = (event){.error_code = error_code, .url = u, .sig = sig, .apply = apply};
    snprintf(e->sid, sizeof e->sid, "%s", sid);
    snprintf(e->status, sizeof e->status, "%s", status);
    if (fake_webhooks_enqueue(callbacks, e, after_ms))
        return true;
    free_event(e);
    return false;
}

/* Queues the life of a new message after "queued"/"accepted": "sent" then
 * "delivered" or "undelivered", or "failed" straight away, one
 * callback_delay_ms apart. */
static void enqueue_life(const char *sid, const char *url, outcome out, int error_code)
{
    switch (out) {
    case OUT_FAILED:
        enqueue(sid, "failed", error_code != 0 ? error_code : 30008, url, FAKE_SIG_OK, true,
                callback_delay_ms);
        break;
    case OUT_SENT:
        enqueue(sid, "sent", 0, url, FAKE_SIG_OK, true, callback_delay_ms);
        break;
    case OUT_UNDELIVERED:
    case OUT_DELIVERED:
        enqueue(sid, "sent", 0, url, FAKE_SIG_OK, true, callback_delay_ms);
        enqueue(sid, out == OUT_DELIVERED ? "delivered" : "undelivered",
                out == OUT_DELIVERED ? 0
                : error_code != 0    ? error_code
                                     : 30003,
                url, FAKE_SIG_OK, true, 2 * callback_delay_ms);
        break;
    }
}

/* ---- status callbacks -------------------------------------------------- */

/* Applies e to its message (first attempt) and collects the callback's
 * parameters; false when the message is gone (a reset). lock held. */
static bool prepare_callback(const event *e, int attempt, form *f)
{
    message *m = find_message(e->sid);
    if (m == NULL)
        return false;
    if (e->apply && attempt == 0) {
        json_object_set_new(m->obj, "status", json_string(e->status));
        char d[40];
        rfc2822(bp_now_ms(), d);
        json_object_set_new(m->obj, "date_updated", json_string(d));
        if (strcmp(e->status, "sent") == 0 || strcmp(e->status, "delivered") == 0)
            if (json_is_null(json_object_get(m->obj, "date_sent")))
                json_object_set_new(m->obj, "date_sent", json_string(d));
        if (json_is_null(json_object_get(m->obj, "from")))
            json_object_set_new(m->obj, "from", json_string(SERVICE_SENDER));
        if (e->error_code != 0) {
            json_object_set_new(m->obj, "error_code", json_integer(e->error_code));
            json_object_set_new(m->obj, "error_message", json_string(code_message(e->error_code)));
        }
    }
    if (e->url == NULL)
        return true;
    const char *from = json_string_value(json_object_get(m->obj, "from"));
    const char *to = json_string_value(json_object_get(m->obj, "to"));
    const char *service = json_string_value(json_object_get(m->obj, "messaging_service_sid"));
    char code[16];
    snprintf(code, sizeof code, "%d", e->error_code);
    const char *pairs[][2] = {
        {"AccountSid", account_sid},
        {"ApiVersion", API_VERSION},
        {"From", from != NULL ? from : SERVICE_SENDER},
        {"MessageSid", e->sid},
        {"MessageStatus", e->status},
        {"SmsSid", e->sid},
        {"SmsStatus", e->status},
        {"To", to != NULL ? to : ""},
        {"MessagingServiceSid", service},
        {"ErrorCode", e->error_code != 0 ? code : NULL},
    };
    f->n = 0;
    for (size_t i = 0; i < BP_COUNTOF(pairs); i++) {
        if (pairs[i][1] == NULL)
            continue;
        char *nm = strdup(pairs[i][0]), *v = strdup(pairs[i][1]);
        if (nm == NULL || v == NULL) {
            free(nm);
            free(v);
            continue;
        }
        f->v[f->n++] = (param){.name = nm, .value = v};
    }
    return true;
}

static void free_event(void *item)
{
    event *e = item;
    free(e->url);
    free(e);
}

/* POSTs the callback form-encoded with X-Twilio-Signature. Returns the HTTP
 * status, or 0 when none came. */
static long send_callback(const event *e, int attempt, const form *f)
{
    bp_strbuf body = {0};
    for (size_t i = 0; i < f->n; i++) {
        if (i > 0)
            bp_strbuf_append(&body, "&", 1);
        form_encode(&body, f->v[i].name);
        bp_strbuf_append(&body, "=", 1);
        form_encode(&body, f->v[i].value);
    }
    char *b = bp_strbuf_take(&body);
    char sig[64];
    /* A forged signature is a real one under another key, so only the key
     * check can catch it. */
    twilio_signature(e->sig == FAKE_SIG_BAD ? "not-the-auth-token" : auth_token, e->url, f->v, f->n,
                     sig);
    char h_sig[96];
    snprintf(h_sig, sizeof h_sig, "X-Twilio-Signature: %s", sig);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded",
                             "User-Agent: TwilioProxy/1.1",
                             e->sig == FAKE_SIG_MISSING ? NULL : h_sig, NULL};
    long status = 0;
    const char *result = "out of memory";
    if (b != NULL) {
        const char *error;
        status = fake_webhooks_post(e->url, headers, b, &error);
        result = error != NULL ? error : (status >= 200 && status < 300 ? "delivered" : "refused");
    }
    bp_log_info("status callback %s %s attempt %d signature %s: %s (%ld)", e->sid, e->status,
                attempt + 1, fake_sig_names[e->sig], result, status);
    fake_webhooks_record(callbacks,
                         json_pack("{s:s,s:s,s:s,s:i,s:i,s:s,s:s,s:I,s:s}", "url", e->url, "sid",
                                   e->sid, "status", e->status, "error_code", e->error_code,
                                   "attempt", attempt + 1, "signature", fake_sig_names[e->sig],
                                   "x_twilio_signature", e->sig == FAKE_SIG_MISSING ? "" : sig,
                                   "http_status", (json_int_t)status, "outcome", result));
    free(b);
    return status;
}

/* Applies a status change to its message (the first attempt) and sends its
 * callback, if any; done when there is none, the message is gone (a reset)
 * or the answer is 2xx. */
static bool send_event(void *item, int attempt)
{
    const event *e = item;
    form f = {.n = 0};
    pthread_mutex_lock(&lock);
    bool live = prepare_callback(e, attempt, &f);
    pthread_mutex_unlock(&lock);
    if (!live || e->url == NULL) {
        form_free(&f);
        return true;
    }
    long status = send_callback(e, attempt, &f);
    form_free(&f);
    return status >= 200 && status < 300;
}

/* ---- the real API ------------------------------------------------------ */

/* Basic auth with the account SID and auth token. */
static bool authorized(struct MHD_Connection *conn)
{
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(conn, &pass);
    bool ok = user != NULL && pass != NULL && strlen(user) == strlen(account_sid) &&
              bp_ct_compare(user, account_sid, strlen(user)) == 0 &&
              strlen(pass) == strlen(auth_token) &&
              bp_ct_compare(pass, auth_token, strlen(pass)) == 0;
    MHD_free(user);
    MHD_free(pass);
    return ok;
}

/* Remembers the last create request: its fields, never the credentials. */
static void record_request(struct MHD_Connection *conn, const char *path, const form *f)
{
    json_t *params = json_object();
    for (size_t i = 0; i < f->n; i++)
        if (json_object_get(params, f->v[i].name) == NULL)
            json_object_set_new(params, f->v[i].name, json_string(f->v[i].value));
    json_t *r = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:b,s:s?,s:o}", "path", path, "To",
                          form_get(f, "To"), "From", form_get(f, "From"), "MessagingServiceSid",
                          form_get(f, "MessagingServiceSid"), "Body", form_get(f, "Body"),
                          "StatusCallback", form_get(f, "StatusCallback"), "content_type",
                          fake_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE), "authorization",
                          fake_header(conn, MHD_HTTP_HEADER_AUTHORIZATION) != NULL, "user_agent",
                          fake_header(conn, MHD_HTTP_HEADER_USER_AGENT), "params", params);
    pthread_mutex_lock(&lock);
    create_count++;
    json_decref(last_request);
    last_request = r;
    pthread_mutex_unlock(&lock);
}

static bool is_http_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static bool from_owned(const char *from)
{
    if (n_from_numbers == 0)
        return true;
    for (size_t i = 0; i < n_from_numbers; i++)
        if (strcmp(from_numbers[i], from) == 0)
            return true;
    return false;
}

/* The magic inputs of Twilio's test credentials, answered the same way
 * here: a To or From that always fails with a given error. */
static int magic_error(const char *to, const char *from)
{
    static const struct {
        const char *number;
        int code;
    } magic_to[] = {{"+15005550001", 21211},
                    {"+15005550002", 21612},
                    {"+15005550003", 21408},
                    {"+15005550004", 21610},
                    {"+15005550009", 21614}},
      magic_from[] = {{"+15005550001", 21212}, {"+15005550007", 21606}, {"+15005550008", 21611}};
    for (size_t i = 0; from != NULL && i < BP_COUNTOF(magic_from); i++)
        if (strcmp(from, magic_from[i].number) == 0)
            return magic_from[i].code;
    for (size_t i = 0; i < BP_COUNTOF(magic_to); i++)
        if (strcmp(to, magic_to[i].number) == 0)
            return magic_to[i].code;
    return 0;
}

/* POST /2010-04-01/Accounts/{AccountSid}/Messages.json */
static enum MHD_Result create_message(struct MHD_Connection *conn, const form *f)
{
    const char *to = form_get(f, "To"), *from = form_get(f, "From");
    const char *service = form_get(f, "MessagingServiceSid"), *body = form_get(f, "Body");
    const char *callback = form_get(f, "StatusCallback");
    if (from != NULL && *from == '\0')
        from = NULL;
    if (service != NULL && *service == '\0')
        service = NULL;
    if (to == NULL || *to == '\0')
        return twilio_error(conn, 21604, NULL);
    if (from == NULL && service == NULL)
        return twilio_error(conn, 21603, NULL);
    if (body == NULL || *body == '\0')
        return twilio_error(conn, 21602, NULL);
    if (!is_e164(to))
        return twilio_error(conn, 21211, to);
    if (service != NULL && !is_service_sid(service))
        return twilio_error(conn, 21701, service);
    if (from != NULL && !is_e164(from) && !is_alphanumeric_sender(from))
        return twilio_error(conn, 21212, from);
    if (from != NULL && is_e164(from) && !from_owned(from))
        return twilio_error(conn, 21659, from);
    if (callback != NULL && *callback != '\0' && !is_http_url(callback))
        return twilio_error(conn, 21609, callback);
    size_t chars;
    long segments;
    if (!sms_segments(body, &chars, &segments))
        return twilio_error(conn, 21602, "the body is not UTF-8");
    if (chars > MAX_BODY_CHARS)
        return twilio_error(conn, 21617, NULL);
    int magic = magic_error(to, from);
    if (magic != 0)
        return twilio_error(conn, magic, magic == 21211 ? to : NULL);

    char sid[40], uri[160], media[200], segs[24];
    new_sid("SM", sid);
    snprintf(uri, sizeof uri, "/%s/Accounts/%s/Messages/%s.json", API_VERSION, account_sid, sid);
    snprintf(media, sizeof media, "/%s/Accounts/%s/Messages/%s/Media.json", API_VERSION,
             account_sid, sid);
    /* With a Messaging Service, Twilio answers "accepted" with no sender
     * chosen yet and num_segments 0. */
    snprintf(segs, sizeof segs, "%ld", from == NULL ? 0L : segments);
    int64_t now = bp_now_ms();
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:o,s:n,s:o,s:s,s:n,s:n,s:s?,s:s?,s:s,s:s,s:n,s:s,s:s,s:s,s:s,s:s,s:{s:s}}",
        "account_sid", account_sid, "api_version", API_VERSION, "body", body, "date_created",
        rfc2822_json(now), "date_sent", "date_updated", rfc2822_json(now), "direction",
        "outbound-api", "error_code", "error_message", "from", from, "messaging_service_sid",
        service, "num_media", "0", "num_segments", segs, "price", "price_unit", "USD", "sid", sid,
        "status", from == NULL ? "accepted" : "queued", "to", to, "uri", uri, "subresource_uris",
        "media", media);
    if (o == NULL)
        return twilio_error(conn, 20500, NULL);
    char *cb = callback != NULL && *callback != '\0' ? strdup(callback) : NULL;
    json_t *answer = json_deep_copy(o);
    pthread_mutex_lock(&lock);
    message m = {.obj = o, .status_callback = cb};
    snprintf(m.sid, sizeof m.sid, "%s", sid);
    keep_message(m);
    enqueue_life(sid, cb, next_outcome, outcome_error);
    pthread_mutex_unlock(&lock);
    bp_log_info("message %s to %s: %ld segment(s)%s", sid, to, segments,
                cb != NULL ? ", with a status callback" : "");
    return fake_reply_obj(conn, MHD_HTTP_CREATED, answer);
}

/* GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json */
static enum MHD_Result fetch_message(struct MHD_Connection *conn, const char *sid)
{
    pthread_mutex_lock(&lock);
    message *m = find_message(sid);
    json_t *o = m != NULL ? json_deep_copy(m->obj) : NULL;
    pthread_mutex_unlock(&lock);
    if (o == NULL)
        return twilio_error(conn, 20404, NULL);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* Splits "/2010-04-01/Accounts/{sid}/Messages.json" or
 * ".../Messages/{msid}.json": true when url has that shape, with the
 * account into acct and the message SID (or "") into msid. */
static bool parse_path(const char *url, char acct[64], char msid[64])
{
    const char *prefix = "/" API_VERSION "/Accounts/";
    size_t pl = strlen(prefix);
    if (strncmp(url, prefix, pl) != 0)
        return false;
    const char *a = url + pl, *slash = strchr(a, '/');
    if (slash == NULL || slash == a || (size_t)(slash - a) >= 64)
        return false;
    memcpy(acct, a, (size_t)(slash - a));
    acct[slash - a] = '\0';
    if (strcmp(slash, "/Messages.json") == 0) {
        msid[0] = '\0';
        return true;
    }
    const char *m = "/Messages/";
    size_t ml = strlen(m), rest = strlen(slash);
    if (strncmp(slash, m, ml) != 0 || rest <= ml + 5 || strcmp(slash + rest - 5, ".json") != 0)
        return false;
    size_t n = rest - ml - 5;
    if (n >= 64 || memchr(slash + ml, '/', n) != NULL)
        return false;
    memcpy(msid, slash + ml, n);
    msid[n] = '\0';
    return true;
}

static enum MHD_Result api(struct MHD_Connection *conn, const char *method, const char *url,
                           const fake_body *b, bool *matched)
{
    const char *body = fake_body_text(b);
    char acct[64], msid[64];
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (!parse_path(url, acct, msid) || (msid[0] == '\0' ? !post : !get)) {
        *matched = false;
        return MHD_NO;
    }
    *matched = true;
    atomic_fetch_add(&api_requests, 1);
    form f = {.n = 0};
    bool parsed = form_parse(body, &f);
    if (post)
        record_request(conn, url, &f);

    fake_mode_now m = fake_mode_take();
    enum MHD_Result rv;
    if (fake_mode_answer(conn, &m, &rv)) {
        /* hang or garbage: answered */
    } else if (m.mode == FAKE_MODE_ERROR) {
        rv = twilio_error(conn, 20500, NULL);
    } else if (!authorized(conn)) {
        rv = twilio_error(conn, 20003, NULL);
    } else if (strcmp(acct, account_sid) != 0) {
        rv = twilio_error(conn, 20404, NULL);
    } else if (m.code != 0) {
        rv = twilio_error(conn, (int)m.code, NULL);
    } else if (msid[0] != '\0') {
        rv = fetch_message(conn, msid);
    } else if (!parsed) {
        rv = twilio_error(conn, 21602, "too many parameters");
    } else {
        rv = create_message(conn, &f);
    }
    form_free(&f);
    return rv;
}

/* ---- control endpoints -------------------------------------------------- */

/* POST /_fake/outcome?outcome=delivered|sent|undelivered|failed[&error_code=N] */
static enum MHD_Result set_outcome(struct MHD_Connection *conn)
{
    const char *os = fake_query(conn, "outcome"), *es = fake_query(conn, "error_code");
    long code = 0;
    int found = -1;
    for (size_t i = 0; os != NULL && i < BP_COUNTOF(outcome_names); i++)
        if (strcmp(os, outcome_names[i]) == 0)
            found = (int)i;
    if (found < 0 || (es != NULL && !fake_parse_long(es, 10000, 99999, &code)))
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"outcome=delivered|sent|undelivered|failed, "
                               "error_code=<Twilio error code>\"}");
    pthread_mutex_lock(&lock);
    next_outcome = (outcome)found;
    outcome_error = (int)code;
    pthread_mutex_unlock(&lock);
    return fake_reply_json(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

/* POST /_fake/callback?sid=SM...&status=S[&error_code=N][&signature=ok|bad|missing]
 *                     [&url=...][&delay_ms=N]
 * Sends one more callback for a message, without changing it: a replay, a
 * late status, or a forgery. */
static enum MHD_Result fake_callback(struct MHD_Connection *conn)
{
    const char *sid = fake_query(conn, "sid"), *st = fake_query(conn, "status"),
               *es = fake_query(conn, "error_code");
    const char *sig = fake_query(conn, "signature"), *url = fake_query(conn, "url"),
               *ds = fake_query(conn, "delay_ms");
    long code = 0, after = 0;
    fake_sig sk;
    if (sid == NULL || st == NULL || strlen(st) >= 16 || !fake_sig_parse(sig, &sk) ||
        (es != NULL && !fake_parse_long(es, 10000, 99999, &code)) ||
        (ds != NULL && !fake_parse_long(ds, 0, 60000, &after)) ||
        (url != NULL && !is_http_url(url)))
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"sid and status; error_code, signature=ok|bad|missing, "
                               "url, delay_ms=0..60000\"}");
    pthread_mutex_lock(&lock);
    message *m = find_message(sid);
    const char *to = url != NULL ? url : m != NULL ? m->status_callback : NULL;
    bool queued = m != NULL && to != NULL && enqueue(sid, st, (int)code, to, sk, false, after);
    pthread_mutex_unlock(&lock);
    if (!queued)
        return fake_reply_json(conn, MHD_HTTP_NOT_FOUND,
                               "{\"error\":\"no such message, no StatusCallback, or queue full\"}");
    return fake_reply_json(conn, MHD_HTTP_OK, "{\"queued\":true}");
}

/* GET /_fake/last */
static enum MHD_Result fake_last(struct MHD_Connection *conn)
{
    pthread_mutex_lock(&lock);
    json_t *o = fake_last_doc(create_count, last_request);
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* GET /_fake/messages: every message kept, oldest first, as fetched. */
static enum MHD_Result fake_messages(struct MHD_Connection *conn)
{
    json_t *list = json_array();
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_messages; i++) {
        json_t *o = json_deep_copy(messages[i].obj);
        json_object_set_new(o, "status_callback",
                            messages[i].status_callback != NULL
                                ? json_string(messages[i].status_callback)
                                : json_null());
        json_array_append_new(list, o);
    }
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, json_pack("{s:o}", "messages", list));
}

/* GET /_fake/webhooks: every callback attempt, oldest first. */
static enum MHD_Result get_webhooks(struct MHD_Connection *conn)
{
    return fake_reply_obj(conn, MHD_HTTP_OK, fake_webhooks_report(callbacks));
}

/* Frees the state; lock held. */
static void clear_state(void)
{
    for (size_t i = 0; i < n_messages; i++) {
        json_decref(messages[i].obj);
        free(messages[i].status_callback);
    }
    n_messages = 0;
    json_decref(last_request);
    last_request = NULL;
    create_count = 0;
}

static void reset(void)
{
    pthread_mutex_lock(&lock);
    clear_state();
    next_outcome = OUT_DELIVERED;
    outcome_error = 0;
    pthread_mutex_unlock(&lock);
    fake_webhooks_clear(callbacks);
}

/* ---- routing --------------------------------------------------------------- */

static enum MHD_Result body_too_large(struct MHD_Connection *conn)
{
    return fake_reply_json(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                           "{\"code\":20001,\"message\":\"Request body too large\","
                           "\"more_info\":\"https://www.twilio.com/docs/errors/20001\","
                           "\"status\":413}");
}

static enum MHD_Result not_found(struct MHD_Connection *conn, const char *url)
{
    (void)url;
    return twilio_error(conn, 20404, NULL);
}

/* ---- start-up -------------------------------------------------------------- */

/* Splits a comma-separated list into at most max parts of at most part_len
 * bytes each; calls take(part) on each. "" is an empty list. */
static bool split_list(const char *s, size_t max, bool (*take)(const char *part, size_t i))
{
    size_t n = 0;
    while (*s != '\0') {
        char part[32];
        size_t len = strcspn(s, ",");
        if (n == max || len == 0 || len >= sizeof part)
            return false;
        memcpy(part, s, len);
        part[len] = '\0';
        if (!take(part, n++))
            return false;
        s += len;
        if (*s == ',')
            s++;
    }
    return true;
}

static bool take_from(const char *part, size_t i)
{
    if (!is_e164(part))
        return false;
    from_numbers[i] = strdup(part);
    n_from_numbers = i + 1;
    return from_numbers[i] != NULL;
}

static bool parse_from_numbers(const char *value, void *ctx)
{
    (void)ctx;
    return split_list(value, MAX_FROMS, take_from);
}

/* The SID is a path segment of every real-API URL. */
static bool valid_sid(const char *value, void *ctx)
{
    (void)ctx;
    return strchr(value, '/') == NULL;
}

static int start(void)
{
    callbacks = fake_webhooks_start(&callback_cfg);
    if (callbacks == NULL) {
        bp_log_error("cannot start the callback thread");
        return 1;
    }
    return 0;
}

static void stop(void)
{
    fake_webhooks_stop(callbacks);
    pthread_mutex_lock(&lock);
    clear_state();
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < n_from_numbers; i++)
        free(from_numbers[i]);
}

static const fake_option options[] = {
    {.flag = "--account-sid",
     .arg = "AC...",
     .flags = FAKE_OPT_NOT_EMPTY,
     .text = &account_sid,
     .parse = valid_sid},
    {.flag = "--auth-token", .arg = "T", .flags = FAKE_OPT_NOT_EMPTY, .text = &auth_token},
    FAKE_WEBHOOKS_DELAYS_OPTION(&callback_cfg),
    {.flag = "--callback-delay-ms", .arg = "N", .number = &callback_delay_ms, .max = 60000},
    {.flag = "--from-numbers",
     .arg = "+15005550006,...",
     .flags = FAKE_OPT_EMPTY,
     .parse = parse_from_numbers}};

static const fake_control controls[] = {{"GET", "/_fake/last", fake_last},
                                        {"GET", "/_fake/messages", fake_messages},
                                        {"GET", "/_fake/webhooks", get_webhooks},
                                        {"POST", "/_fake/outcome", set_outcome},
                                        {"POST", "/_fake/callback", fake_callback}};

int main(int argc, char **argv)
{
    static const fake_spec spec = {.name = "twilio",
                                   .options = options,
                                   .n_options = BP_COUNTOF(options),
                                   .start = start,
                                   .stop = stop,
                                   .hooks = {.max_body = MAX_BODY,
                                             .refuse_body = body_too_large,
                                             .controls = controls,
                                             .n_controls = BP_COUNTOF(controls),
                                             .mode = &mode_spec,
                                             .reset = reset,
                                             .requests = &api_requests,
                                             .api = api,
                                             .not_found = not_found}};
    return fake_main(&spec, argc, argv);
}
