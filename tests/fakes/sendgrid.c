/* fake-sendgrid: a local stand-in for SendGrid's v3 Mail Send endpoint
 * (POST /v3/mail/send with a Bearer API key), validating the request the
 * way SendGrid documents it, with control endpoints under /_fake/ so that
 * tests can refuse the next sends with a given status (429, 500...), break
 * the API and read what the client sent.
 *
 * usage: fake-sendgrid [--port N] [--api-key K]
 * Environment: FAKE_SENDGRID_PORT, FAKE_SENDGRID_API_KEY (flags win).
 * Prints "listening on <port>" on stdout once it accepts connections; stops
 * on SIGTERM or SIGINT.
 *
 * Wire facts follow SendGrid's documentation: "Mail Send" and its "Errors"
 * page (twilio.com/docs/sendgrid/api-reference/mail-send, .../mail-send/errors),
 * "How to use the SendGrid v3 API: Errors, Rate limits" and the 4XX API
 * errors support article. */
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
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
#include "log.h"
#include "strbuf.h"

/* SendGrid: "The total size of your email, including attachments, must be
 * less than 30MB." */
#define MAX_BODY (30L * 1024 * 1024)
/* A copy of the request is kept for /_fake/last only up to this size. */
#define MAX_KEPT_JSON (256 * 1024)
#define MAX_MESSAGES  1024 /* the oldest is forgotten beyond this */
/* SendGrid's documented per-request limits. */
#define MAX_PERSONALIZATIONS 1000
#define MAX_RECIPIENTS       1000

#define DEFAULT_KEY "SG.fake-key"
#define HELP_BASE   "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message."

static const char *const mode_names[] = {"ok", "error", "hang", "garbage"};
/* status=N answers the next count sends with that status. */
static const fake_mode_spec mode_spec = {.names = mode_names,
                                         .n_names = BP_COUNTOF(mode_names),
                                         .code_param = "status",
                                         .code_min = 400,
                                         .code_max = 599,
                                         .usage = "{\"error\":\"mode=ok|error|hang|garbage, "
                                                  "delay_ms=0..60000, status=400..599, "
                                                  "count=1..1000000\"}"};

/* Configuration, fixed after main's argument parsing. */
static const char *api_key = DEFAULT_KEY;

/* Everything below is guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *messages; /* accepted sends, oldest first */
static uint64_t send_count;
static json_t *last_request;

static atomic_uint_fast64_t api_requests;

/* ---- answers ------------------------------------------------------------- */

/* SendGrid's error body with one error: {"errors":[{"message","field","help"}]}. */
static enum MHD_Result sg_error(struct MHD_Connection *conn, unsigned status, const char *message)
{
    return fake_reply_obj(
        conn, status,
        json_pack("{s:[{s:s,s:n,s:n}]}", "errors", "message", message, "field", "help"));
}

static const char *status_message(long status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "The provided authorization grant is invalid, expired, or revoked";
    case 403:
        return "access forbidden";
    case 413:
        return "Payload Too Large";
    case 429:
        return "too many requests";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

/* A forced answer; a 429 carries SendGrid's rate-limit headers. */
static enum MHD_Result forced_answer(struct MHD_Connection *conn, long status)
{
    json_t *v = json_pack("{s:[{s:s,s:n,s:n}]}", "errors", "message", status_message(status),
                          "field", "help");
    char *s = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (s == NULL)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_TOO_MANY_REQUESTS) {
        char reset[32];
        snprintf(reset, sizeof reset, "%" PRId64, bp_now_ms() / 1000 + 1);
        MHD_add_response_header(r, "X-RateLimit-Limit", "600");
        MHD_add_response_header(r, "X-RateLimit-Remaining", "0");
        MHD_add_response_header(r, "X-RateLimit-Reset", reset);
    }
    enum MHD_Result rv = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return rv;
}

/* ---- validation ------------------------------------------------------------ */

/* A plausible address: one '@', a non-empty local part, a dotted domain,
 * nothing blank or a control character. */
static bool valid_email(json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n == 0 || n > 320 || at == NULL || at == s || strchr(at + 1, '@') != NULL)
        return false;
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7F || *p == '<' || *p == '>' || *p == ',')
            return false;
    const char *dot = strrchr(at + 1, '.');
    return dot != NULL && dot > at + 1 && dot[1] != '\0';
}

static bool nonempty_string(json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

/* Appends {"message","field","help"}; help names the field without indices. */
static void add_error(json_t *errors, const char *field, const char *help, const char *message)
{
    char h[160];
    snprintf(h, sizeof h, "%s%s", HELP_BASE, help);
    json_array_append_new(
        errors, json_pack("{s:s,s:s,s:s}", "message", message, "field", field, "help", h));
}

/* Checks a to/cc/bcc list of personalization i. */
static void check_addresses(json_t *errors, json_t *list, size_t i, const char *kind,
                            size_t *recipients)
{
    size_t j;
    json_t *a;
    char field[96], help[64];
    snprintf(help, sizeof help, "personalizations.%s", kind);
    json_array_foreach(list, j, a)
    {
        (*recipients)++;
        if (!valid_email(json_object_get(a, "email"))) {
            snprintf(field, sizeof field, "personalizations.%zu.%s.%zu.email", i, kind, j);
            add_error(errors, field, help, "Does not contain a valid address.");
        }
    }
}

/* Validates a Mail Send body as SendGrid documents it; returns the errors
 * array (empty when the request is good). */
static json_t *validate(json_t *req)
{
    json_t *errors = json_array();
    json_t *ps = json_object_get(req, "personalizations");
    bool has_template = nonempty_string(json_object_get(req, "template_id"));
    bool every_subject = json_array_size(ps) > 0;
    size_t recipients = 0;
    if (!json_is_array(ps) || json_array_size(ps) == 0) {
        add_error(errors, "personalizations", "personalizations",
                  "You must have at least one personalization.");
    } else if (json_array_size(ps) > MAX_PERSONALIZATIONS) {
        add_error(errors, "personalizations", "personalizations",
                  "The personalization block is limited to 1000 personalizations per API "
                  "request.");
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(ps, i, p)
        {
            json_t *to = json_object_get(p, "to");
            char field[64];
            if (!json_is_array(to) || json_array_size(to) == 0) {
                snprintf(field, sizeof field, "personalizations.%zu.to", i);
                add_error(errors, field, "personalizations.to",
                          "The to parameter is required for all personalization objects.");
            }
            check_addresses(errors, to, i, "to", &recipients);
            check_addresses(errors, json_object_get(p, "cc"), i, "cc", &recipients);
            check_addresses(errors, json_object_get(p, "bcc"), i, "bcc", &recipients);
            if (!nonempty_string(json_object_get(p, "subject")))
                every_subject = false;
        }
        if (recipients > MAX_RECIPIENTS)
            add_error(errors, "personalizations", "personalizations",
                      "There is a limit of 1000 total recipients (to + cc + bcc) per request.");
    }

    json_t *from = json_object_get(req, "from");
    if (!json_is_object(from))
        add_error(errors, "from", "from",
                  "The from object must be provided for every email send. It is an object that "
                  "requires the email parameter, but may also contain a name parameter.  e.g. "
                  "{\"email\" : \"example@example.com\"}  or {\"email\" : "
                  "\"example@example.com\", \"name\" : \"Example Recipient\"}.");
    else if (!valid_email(json_object_get(from, "email")))
        add_error(errors, "from.email", "from", "The from email does not contain a valid address.");

    json_t *subject = json_object_get(req, "subject");
    if (!has_template && !every_subject && !nonempty_string(subject))
        add_error(errors, "subject", "subject",
                  "The subject is required. You can get around this requirement if you use a "
                  "template with a subject defined or if every personalization has a subject "
                  "defined.");

    json_t *content = json_object_get(req, "content");
    if (!has_template && (!json_is_array(content) || json_array_size(content) == 0)) {
        add_error(errors, "content", "content",
                  "Unless a valid template_id is provided, the content parameter is required. "
                  "There must be at least one defined content block. We typically suggest both "
                  "text/plain and text/html blocks are included, but only one block is "
                  "required.");
    } else {
        size_t k;
        json_t *c;
        json_array_foreach(content, k, c)
        {
            char field[64];
            json_t *type = json_object_get(c, "type");
            if (!nonempty_string(type)) {
                snprintf(field, sizeof field, "content.%zu.type", k);
                add_error(errors, field, "content.type",
                          "The content type must be a string at least one character in length.");
            } else if (k > 0 && strcmp(json_string_value(type), "text/plain") == 0) {
                snprintf(field, sizeof field, "content.%zu.type", k);
                add_error(errors, field, "content.type",
                          "If present, text/plain content must be first, followed by text/html, "
                          "followed by any other content.");
            }
            if (!nonempty_string(json_object_get(c, "value"))) {
                snprintf(field, sizeof field, "content.%zu.value", k);
                add_error(errors, field, "content.value",
                          "The content value must be a string at least one character in length.");
            }
        }
    }
    return errors;
}

/* ---- what the client sent -------------------------------------------------- */

/* The content value of the given type, or NULL. Borrowed from req. */
static const char *content_of(json_t *req, const char *type)
{
    size_t k;
    json_t *c;
    json_array_foreach(json_object_get(req, "content"), k, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t != NULL && strcmp(t, type) == 0)
            return json_string_value(json_object_get(c, "value"));
    }
    return NULL;
}

/* {"to":[every to address],"from","subject","text","html":bool,...}, new. */
static json_t *summary(json_t *req)
{
    json_t *to = json_array();
    size_t i, j;
    json_t *p, *a;
    json_t *ps = json_object_get(req, "personalizations");
    for (i = 0; i < json_array_size(ps); i++) {
        p = json_array_get(ps, i);
        json_array_foreach(json_object_get(p, "to"), j, a)
        {
            json_t *e = json_object_get(a, "email");
            if (json_is_string(e))
                json_array_append(to, e);
        }
    }
    const char *subject = json_string_value(json_object_get(req, "subject"));
    if (subject == NULL)
        subject = json_string_value(json_object_get(
            json_array_get(json_object_get(req, "personalizations"), 0), "subject"));
    return json_pack("{s:o,s:s?,s:s?,s:s?,s:b,s:s?,s:I}", "to", to, "from",
                     json_string_value(json_object_get(json_object_get(req, "from"), "email")),
                     "subject", subject, "text", content_of(req, "text/plain"), "html",
                     content_of(req, "text/html") != NULL, "template_id",
                     json_string_value(json_object_get(req, "template_id")), "personalizations",
                     (json_int_t)json_array_size(json_object_get(req, "personalizations")));
}

/* Remembers the last send: the summary, the request when small enough, and
 * whether an Authorization header came (never the key). */
static void record_request(struct MHD_Connection *conn, json_t *req, size_t body_len)
{
    json_t *r = req != NULL ? summary(req) : json_object();
    if (r == NULL)
        return;
    json_object_set_new(r, "authorization",
                        json_boolean(fake_header(conn, MHD_HTTP_HEADER_AUTHORIZATION) != NULL));
    const char *ct = fake_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    json_object_set_new(r, "content_type", ct != NULL ? json_string(ct) : json_null());
    json_object_set_new(r, "bytes", json_integer((json_int_t)body_len));
    json_object_set_new(
        r, "json", req != NULL && body_len <= MAX_KEPT_JSON ? json_deep_copy(req) : json_null());
    pthread_mutex_lock(&lock);
    send_count++;
    json_decref(last_request);
    last_request = r;
    pthread_mutex_unlock(&lock);
}

/* An X-Message-Id like SendGrid's: 22 URL-safe base64 characters, spelt
 * 6 bits at a time from the hex digits of two random UUIDs. */
static void new_message_id(char out[23])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char a[37], b[37], hex[80];
    bp_uuid(a);
    bp_uuid(b);
    snprintf(hex, sizeof hex, "%s%s", a, b);
    unsigned bits = 0, n_bits = 0;
    size_t o = 0;
    for (size_t i = 0; hex[i] != '\0' && o < 22; i++) {
        if (hex[i] == '-')
            continue;
        bits = (bits << 4) | (unsigned)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
        n_bits += 4;
        if (n_bits >= 6) {
            n_bits -= 6;
            out[o++] = alphabet[(bits >> n_bits) & 63];
        }
    }
    out[o] = '\0';
}

/* ---- the real API ------------------------------------------------------ */

/* Why the Authorization header is refused, or NULL when it is good. */
static const char *auth_problem(struct MHD_Connection *conn)
{
    const char *h = fake_header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || *h == '\0')
        return "authorization required";
    if (strncmp(h, "Bearer ", 7) != 0)
        return "The provided authorization grant is invalid, expired, or revoked";
    size_t a = strlen(h + 7), b = strlen(api_key);
    if (a != b || bp_ct_compare(h + 7, api_key, a) != 0)
        return "The provided authorization grant is invalid, expired, or revoked";
    return NULL;
}

/* POST /v3/mail/send */
static enum MHD_Result mail_send(struct MHD_Connection *conn, const fake_body *b)
{
    atomic_fetch_add(&api_requests, 1);
    json_error_t err;
    json_t *req = b->too_big ? NULL : json_loads(fake_body_text(b), 0, &err);
    record_request(conn, json_is_object(req) ? req : NULL, b->received);

    fake_mode_now m = fake_mode_take();
    enum MHD_Result rv;
    const char *why;
    json_t *errors = NULL;
    if (fake_mode_answer(conn, &m, &rv)) {
        /* hang or garbage: answered */
    } else if (m.mode == FAKE_MODE_ERROR) {
        rv = sg_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal Server Error");
    } else if ((why = auth_problem(conn)) != NULL) {
        rv = sg_error(conn, MHD_HTTP_UNAUTHORIZED, why);
    } else if (m.code != 0) {
        rv = forced_answer(conn, m.code);
    } else if (b->too_big) {
        rv = sg_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                      "The JSON payload you have included in your request is too large.");
    } else if (!json_is_object(req)) {
        rv = sg_error(conn, MHD_HTTP_BAD_REQUEST, "Bad Request");
    } else if (json_array_size(errors = validate(req)) > 0) {
        rv = fake_reply_obj(conn, MHD_HTTP_BAD_REQUEST, json_pack("{s:O}", "errors", errors));
    } else if (json_is_true(json_object_get(
                   json_object_get(json_object_get(req, "mail_settings"), "sandbox_mode"),
                   "enable"))) {
        /* Sandbox mode: valid, but not queued; 200 with no body. */
        rv = fake_reply(conn, MHD_HTTP_OK, "text/plain", "");
    } else {
        char id[23];
        new_message_id(id);
        json_t *s = summary(req);
        char when[40];
        bp_time_format(bp_now_ms(), "UTC", when, sizeof when);
        json_object_set_new(s, "message_id", json_string(id));
        json_object_set_new(s, "received_at", json_string(when));
        pthread_mutex_lock(&lock);
        if (json_array_size(messages) == MAX_MESSAGES)
            json_array_remove(messages, 0);
        json_array_append_new(messages, s);
        pthread_mutex_unlock(&lock);
        bp_log_info("mail %s accepted", id);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (r == NULL) {
            rv = MHD_NO;
        } else {
            MHD_add_response_header(r, "X-Message-Id", id);
            rv = MHD_queue_response(conn, MHD_HTTP_ACCEPTED, r);
            MHD_destroy_response(r);
        }
    }
    json_decref(errors);
    json_decref(req);
    return rv;
}

/* ---- control endpoints -------------------------------------------------- */

/* GET /_fake/last */
static enum MHD_Result fake_last(struct MHD_Connection *conn)
{
    pthread_mutex_lock(&lock);
    json_t *o = fake_last_doc(send_count, last_request);
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* GET /_fake/messages: every accepted send, oldest first. */
static enum MHD_Result fake_messages(struct MHD_Connection *conn)
{
    pthread_mutex_lock(&lock);
    json_t *copy = json_pack("{s:o}", "messages", json_deep_copy(messages));
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, copy);
}

static void reset(void)
{
    pthread_mutex_lock(&lock);
    json_array_clear(messages);
    json_decref(last_request);
    last_request = NULL;
    send_count = 0;
    pthread_mutex_unlock(&lock);
}

/* ---- routing --------------------------------------------------------------- */

/* Over the limit the rest of a body is read and dropped, so the client gets
 * the 413 of mail_send instead of a broken connection. */
static enum MHD_Result api(struct MHD_Connection *conn, const char *method, const char *url,
                           const fake_body *body, bool *matched)
{
    *matched = strcmp(url, "/v3/mail/send") == 0;
    if (!*matched)
        return MHD_NO;
    if (body->body.failed)
        return sg_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    if (strcmp(method, "POST") != 0)
        return sg_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
    return mail_send(conn, body);
}

static enum MHD_Result not_found(struct MHD_Connection *conn, const char *url)
{
    (void)url;
    return sg_error(conn, MHD_HTTP_NOT_FOUND, "Not Found");
}

/* ---- start-up -------------------------------------------------------------- */

static int start(void)
{
    messages = json_array();
    return messages != NULL ? 0 : 1;
}

static void stop(void)
{
    pthread_mutex_lock(&lock);
    json_decref(messages);
    messages = NULL;
    json_decref(last_request);
    last_request = NULL;
    pthread_mutex_unlock(&lock);
}

static const fake_option options[] = {
    {.flag = "--api-key", .arg = "K", .flags = FAKE_OPT_NOT_EMPTY, .text = &api_key}};

static const fake_control controls[] = {{"GET", "/_fake/last", fake_last},
                                        {"GET", "/_fake/messages", fake_messages}};

int main(int argc, char **argv)
{
    static const fake_spec spec = {.name = "sendgrid",
                                   .options = options,
                                   .n_options = BP_COUNTOF(options),
                                   .start = start,
                                   .stop = stop,
                                   .hooks = {.max_body = (size_t)MAX_BODY,
                                             .controls = controls,
                                             .n_controls = BP_COUNTOF(controls),
                                             .mode = &mode_spec,
                                             .reset = reset,
                                             .requests = &api_requests,
                                             .api = api,
                                             .not_found = not_found}};
    return fake_main(&spec, argc, argv);
}
