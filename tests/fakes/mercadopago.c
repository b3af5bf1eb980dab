/* fake-mercadopago: a local stand-in for the parts of MercadoPago's API that
 * BarberPro uses (Checkout Pro preferences, payments by id and search,
 * refunds) and for the signed webhooks MercadoPago sends, with control
 * endpoints under /_fake/ so that tests can play the buyer, change a
 * payment, replay or forge notifications, break the API and read what the
 * client sent.
 *
 * usage: fake-mercadopago [--port N] [--access-token T] [--webhook-secret S]
 *                         [--retry-delays-ms 200,500,1000]
 * Environment: FAKE_MERCADOPAGO_PORT, FAKE_MERCADOPAGO_ACCESS_TOKEN,
 * FAKE_MERCADOPAGO_WEBHOOK_SECRET, FAKE_MERCADOPAGO_RETRY_DELAYS_MS (flags
 * win). Prints "listening on <port>" on stdout once it accepts connections;
 * stops on SIGTERM or SIGINT.
 *
 * Wire facts follow MercadoPago's developer documentation ("Webhooks",
 * "Validate notification origin"; API reference for /checkout/preferences,
 * /v1/payments, /v1/payments/search, /v1/payments/{id}/refunds). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
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
#include "hmac.h"
#include "log.h"
#include "strbuf.h"

/* Bounds: the fake is for tests, and a runaway client must not eat memory. */
#define MAX_PREFS      1024
#define MAX_PAYMENTS   1024
#define MAX_IDEM       4096
#define MAX_REFUNDS    32 /* per payment */
#define MAX_QUEUE      256
#define MAX_DELIVERIES 256
#define MAX_BODY       (64 * 1024)
/* Made-up account numbers, stable so tests can compare them. */
#define COLLECTOR_ID     1234567890LL
#define CLIENT_ID        "8765432109876543"
#define FIRST_PAYMENT_ID 1320000001LL
#define FIRST_REFUND_ID  2100000001LL

#define DEFAULT_TOKEN  "TEST-fake-access-token"
#define DEFAULT_SECRET "fake-webhook-secret"

static const char *const mode_names[] = {"ok", "error", "hang", "garbage"};
static const fake_mode_spec mode_spec = {
    .names = mode_names,
    .n_names = BP_COUNTOF(mode_names),
    .usage = "{\"error\":\"mode=ok|error|hang|garbage, delay_ms=0..60000\"}"};

/* The real-API endpoints, for counters and the last request of each. */
typedef enum { EP_PREFERENCES, EP_PAYMENT, EP_SEARCH, EP_REFUNDS, EP_COUNT } endpoint;
static const char *const endpoint_names[] = {"preferences", "payment", "search", "refunds"};

typedef struct {
    char *id;
    json_t *obj; /* the answer of POST /checkout/preferences */
} preference;

typedef struct {
    int64_t id;
    json_t *obj;            /* the answer of GET /v1/payments/{id} */
    char *notification_url; /* from the preference; NULL when none */
} payment;

typedef enum { IDEM_PREFERENCE, IDEM_REFUND } idem_kind;

typedef struct {
    idem_kind kind;
    char *key;
    json_t *answer; /* what the first request got */
} idem_entry;

/* A notification in the queue of fake_webhooks. */
typedef struct {
    char *url; /* notification_url, without the data.id/type query */
    char data_id[32];
    char action[32];
    fake_sig sig;
} notification;

/* Configuration, fixed after main's argument parsing. */
static const char *access_token = DEFAULT_TOKEN;
static const char *webhook_secret = DEFAULT_SECRET;
static bool send_notification(void *item, int attempt);
static void free_notification(void *item);
static fake_webhooks_config webhook_cfg = {.max_queue = MAX_QUEUE,
                                           .max_deliveries = MAX_DELIVERIES,
                                           .retry_delays_ms = {200, 500, 1000},
                                           .n_retry_delays = 3,
                                           .send = send_notification,
                                           .free_item = free_notification};
static fake_webhooks *webhooks;

/* Everything below is guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static preference prefs[MAX_PREFS];
static size_t n_prefs;
static payment payments[MAX_PAYMENTS];
static size_t n_payments;
static idem_entry idem[MAX_IDEM];
static size_t n_idem;
static int64_t next_payment_id = FIRST_PAYMENT_ID;
static int64_t next_refund_id = FIRST_REFUND_ID;
static uint64_t counts[EP_COUNT];
static json_t *last_request[EP_COUNT];

static atomic_uint_fast64_t api_requests;
static atomic_int_fast64_t next_notification_id = 1;

/* ---- small helpers ----------------------------------------------------- */

static bool parse_i64(const char *s, int64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* MercadoPago writes dates as "2026-02-17T10:59:00.000-03:00": Argentina's
 * offset, with milliseconds. */
static void mp_date(int64_t ms, char out[40])
{
    char base[32];
    if (bp_time_format(ms, "America/Argentina/Buenos_Aires", base, sizeof base) != 0) {
        snprintf(out, 40, "1970-01-01T00:00:00.000-03:00");
        return;
    }
    /* base is "YYYY-MM-DDTHH:MM:SS-03:00": the fraction goes before the offset. */
    snprintf(out, 40, "%.19s.%03d%s", base, (int)(ms % 1000), base + 19);
}

static json_t *mp_date_json(int64_t ms)
{
    char d[40];
    mp_date(ms, d);
    return json_string(d);
}

/* Money travels as a JSON number of pesos with at most two decimals; sums
 * are done in whole centavos. Rounded by hand: the fakes do not link libm. */
static long long to_cents(double pesos)
{
    return (long long)(pesos * 100.0 + (pesos >= 0 ? 0.5 : -0.5));
}

static double round_cents(double v)
{
    return (double)to_cents(v) / 100.0;
}

/* MercadoPago's error body: {"message","error","status","cause":[...]};
 * code 0 leaves cause empty. */
static enum MHD_Result mp_error(struct MHD_Connection *conn, unsigned status, const char *error,
                                const char *message, int code)
{
    json_t *cause = json_array();
    if (code != 0)
        json_array_append_new(
            cause, json_pack("{s:i,s:s,s:n}", "code", code, "description", message, "data"));
    return fake_reply_obj(conn, status,
                          json_pack("{s:s,s:s,s:i,s:o}", "message", message, "error", error,
                                    "status", (int)status, "cause", cause));
}

/* ---- state lookups (lock held) ----------------------------------------- */

static preference *find_pref(const char *id)
{
    for (size_t i = 0; id != NULL && i < n_prefs; i++)
        if (strcmp(prefs[i].id, id) == 0)
            return &prefs[i];
    return NULL;
}

static payment *find_payment(int64_t id)
{
    for (size_t i = 0; i < n_payments; i++)
        if (payments[i].id == id)
            return &payments[i];
    return NULL;
}

static json_t *find_idem(idem_kind kind, const char *key)
{
    for (size_t i = 0; key != NULL && i < n_idem; i++)
        if (idem[i].kind == kind && strcmp(idem[i].key, key) == 0)
            return idem[i].answer;
    return NULL;
}

static void remember_idem(idem_kind kind, const char *key, json_t *answer)
{
    if (key == NULL || n_idem == MAX_IDEM)
        return;
    char *k = strdup(key);
    if (k == NULL)
        return;
    idem[n_idem++] = (idem_entry){.kind = kind, .key = k, .answer = json_incref(answer)};
}

/* Queues a notification of payment data_id to url; false when the queue is
 * full or there is no URL. fake_webhooks sends it. */
static bool enqueue(const char *url, const char *data_id, const char *action, fake_sig sig,
                    long after_ms)
{
    if (url == NULL || *url == '\0')
        return false;
    notification *n = calloc(1, sizeof *n);
    char *u = strdup(url);
    if (n == NULL || u == NULL) {
        free(n);
        free(u);
        return false;
    }
    *n = (notification){.url = u, .sig = sig};
    snprintf(n->data_id, sizeof n->data_id, "%s", data_id);
    snprintf(n->action, sizeof n->action, "%s", action);
    if (fake_webhooks_enqueue(webhooks, n, after_ms))
        return true;
    free_notification(n);
    return false;
}

static bool enqueue_payment(const payment *p, const char *action, fake_sig sig, long after_ms)
{
    char id[32];
    snprintf(id, sizeof id, "%" PRId64, p->id);
    return enqueue(p->notification_url, id, action, sig, after_ms);
}

/* ---- webhooks ------------------------------------------------------------ */

static void free_notification(void *item)
{
    notification *n = item;
    free(n->url);
    free(n);
}

/* Sends one notification as MercadoPago does: POST <url>?data.id=<id>&type=payment
 * with the JSON body, x-request-id and x-signature "ts=<ms>,v1=<hex>", the
 * HMAC over "id:<data.id lowercased>;request-id:<x-request-id>;ts:<ts>;".
 * Done when the answer is 2xx. */
static bool send_notification(void *item, int attempt)
{
    const notification *n = item;
    int64_t notif_id = atomic_fetch_add(&next_notification_id, 1);
    char request_id[37];
    bp_uuid(request_id);
    int64_t now = bp_now_ms();
    /* The documentation says ts is "the timestamp (in milliseconds)". */
    char ts[24];
    snprintf(ts, sizeof ts, "%" PRId64, now);

    char lower_id[32];
    size_t i = 0;
    for (; i < sizeof lower_id - 1 && n->data_id[i] != '\0'; i++)
        lower_id[i] = (char)(n->data_id[i] >= 'A' && n->data_id[i] <= 'Z' ? n->data_id[i] + 32
                                                                          : n->data_id[i]);
    lower_id[i] = '\0';
    char manifest[160];
    snprintf(manifest, sizeof manifest, "id:%s;request-id:%s;ts:%s;", lower_id, request_id, ts);
    char v1[65];
    /* A bad signature is a real HMAC under another key, so only the key check
     * can catch it. */
    const char *key = n->sig == FAKE_SIG_BAD ? "not-the-webhook-secret" : webhook_secret;
    bp_hmac_sha256_hex(key, strlen(key), manifest, strlen(manifest), v1);

    bp_strbuf url = {0};
    bp_strbuf_printf(&url, "%s%sdata.id=%s&type=payment", n->url,
                     strchr(n->url, '?') != NULL ? "&" : "?", n->data_id);
    char *u = bp_strbuf_take(&url);

    char date[40];
    mp_date(now, date);
    json_t *body =
        json_pack("{s:s,s:s,s:{s:s},s:s,s:I,s:b,s:s,s:I}", "action", n->action, "api_version", "v1",
                  "data", "id", n->data_id, "date_created", date, "id", (json_int_t)notif_id,
                  "live_mode", 0, "type", "payment", "user_id", (json_int_t)COLLECTOR_ID);
    char *b = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);

    char h_rid[64], h_sig[160];
    snprintf(h_rid, sizeof h_rid, "x-request-id: %s", request_id);
    snprintf(h_sig, sizeof h_sig, "x-signature: ts=%s,v1=%s", ts, v1);
    const char *headers[] = {"Content-Type: application/json", h_rid,
                             n->sig == FAKE_SIG_MISSING ? NULL : h_sig, NULL};
    long status = 0;
    const char *outcome = "out of memory";
    if (u != NULL && b != NULL) {
        const char *error;
        status = fake_webhooks_post(u, headers, b, &error);
        outcome = error != NULL ? error : (status >= 200 && status < 300 ? "delivered" : "refused");
    }
    bp_log_info("webhook %s data.id=%s attempt %d signature %s: %s (%ld)", n->action, n->data_id,
                attempt + 1, fake_sig_names[n->sig], outcome, status);
    fake_webhooks_record(webhooks,
                         json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:I,s:s}", "url", n->url, "data_id",
                                   n->data_id, "action", n->action, "attempt", attempt + 1,
                                   "signature", fake_sig_names[n->sig], "request_id", request_id,
                                   "status", (json_int_t)status, "outcome", outcome));
    free(u);
    free(b);
    return status >= 200 && status < 300;
}

/* ---- the real API ------------------------------------------------------ */

/* Remembers method, URL, the headers a test checks and the body of the last
 * request to an endpoint. The Authorization header is only said to be there
 * or not, so no token lands in a test log. */
static void record_request(endpoint ep, struct MHD_Connection *conn, const char *method,
                           const char *url, const char *body)
{
    json_error_t err;
    json_t *parsed = *body != '\0' ? json_loads(body, 0, &err) : NULL;
    const char *idk = fake_header(conn, "X-Idempotency-Key");
    const char *ct = fake_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *ext = fake_query(conn, "external_reference");
    json_t *r = json_pack("{s:s,s:s,s:s?,s:s?,s:b,s:s?,s:s,s:o?}", "method", method, "path", url,
                          "idempotency_key", idk, "content_type", ct, "authorization",
                          fake_header(conn, MHD_HTTP_HEADER_AUTHORIZATION) != NULL,
                          "external_reference", ext, "body", body, "json", parsed);
    pthread_mutex_lock(&lock);
    counts[ep]++;
    json_decref(last_request[ep]);
    last_request[ep] = r;
    pthread_mutex_unlock(&lock);
}

static bool authorized(struct MHD_Connection *conn)
{
    const char *h = fake_header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return false;
    size_t a = strlen(h + 7), b = strlen(access_token);
    return a == b && bp_ct_compare(h + 7, access_token, a) == 0;
}

static bool is_obj_or_absent(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v == NULL || json_is_object(v) || json_is_null(v);
}

/* POST /checkout/preferences */
static enum MHD_Result create_preference(struct MHD_Connection *conn, const char *body)
{
    const char *key = fake_header(conn, "X-Idempotency-Key");
    pthread_mutex_lock(&lock);
    json_t *seen = json_incref(find_idem(IDEM_PREFERENCE, key));
    pthread_mutex_unlock(&lock);
    if (seen != NULL)
        return fake_reply_obj(conn, MHD_HTTP_CREATED, seen);

    json_error_t err;
    json_t *req = json_loads(body, 0, &err);
    if (!json_is_object(req)) {
        json_decref(req);
        return mp_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "invalid json body", 0);
    }
    json_t *items = json_object_get(req, "items");
    bool ok = json_is_array(items) && json_array_size(items) > 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *q = json_object_get(it, "quantity"), *p = json_object_get(it, "unit_price");
        json_t *cur = json_object_get(it, "currency_id");
        if (!json_is_string(json_object_get(it, "title")) || !json_is_integer(q) ||
            json_integer_value(q) < 1 || !json_is_number(p) || json_number_value(p) <= 0 ||
            (cur != NULL && !(json_is_string(cur) && strcmp(json_string_value(cur), "ARS") == 0))) {
            ok = false;
            break;
        }
    }
    json_t *ext = json_object_get(req, "external_reference");
    json_t *nurl = json_object_get(req, "notification_url");
    if (!ok || (ext != NULL && !json_is_string(ext)) || (nurl != NULL && !json_is_string(nurl)) ||
        !is_obj_or_absent(req, "payer") || !is_obj_or_absent(req, "back_urls")) {
        json_decref(req);
        return mp_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_items",
                        "items: title, quantity >= 1, unit_price > 0 and currency_id ARS", 0);
    }
    json_t *to = json_object_get(req, "expiration_date_to");
    int64_t to_ms;
    if (to != NULL && !json_is_null(to) &&
        !(json_is_string(to) && bp_time_parse(json_string_value(to), &to_ms) == 0)) {
        json_decref(req);
        return mp_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_expiration_date_to",
                        "expiration_date_to invalid", 0);
    }

    /* The answer echoes the request and adds what MercadoPago fills in. */
    char uuid[37], id[64], link[192];
    bp_uuid(uuid);
    snprintf(id, sizeof id, "%lld-%s", COLLECTOR_ID, uuid);
    json_array_foreach(items, i, it) if (json_object_get(it, "currency_id") == NULL)
        json_object_set_new(it, "currency_id", json_string("ARS"));
    json_object_set_new(req, "id", json_string(id));
    json_object_set_new(req, "collector_id", json_integer(COLLECTOR_ID));
    json_object_set_new(req, "client_id", json_string(CLIENT_ID));
    json_object_set_new(req, "date_created", mp_date_json(bp_now_ms()));
    json_object_set_new(req, "operation_type", json_string("regular_payment"));
    json_object_set_new(req, "marketplace", json_string("NONE"));
    json_object_set_new(req, "site_id", json_string("MLA"));
    if (json_object_get(req, "expires") == NULL)
        json_object_set_new(req, "expires", json_false());
    snprintf(link, sizeof link, "https://www.mercadopago.com.ar/checkout/v1/redirect?pref_id=%s",
             id);
    json_object_set_new(req, "init_point", json_string(link));
    snprintf(link, sizeof link,
             "https://sandbox.mercadopago.com.ar/checkout/v1/redirect?pref_id=%s", id);
    json_object_set_new(req, "sandbox_init_point", json_string(link));

    pthread_mutex_lock(&lock);
    /* A concurrent twin with the same key may have won the race. */
    seen = json_incref(find_idem(IDEM_PREFERENCE, key));
    bool full = seen == NULL && n_prefs == MAX_PREFS;
    char *pid = seen == NULL && !full ? strdup(id) : NULL;
    if (pid != NULL) {
        prefs[n_prefs++] = (preference){.id = pid, .obj = json_incref(req)};
        remember_idem(IDEM_PREFERENCE, key, req);
    }
    pthread_mutex_unlock(&lock);
    if (seen != NULL) {
        json_decref(req);
        return fake_reply_obj(conn, MHD_HTTP_CREATED, seen);
    }
    if (pid == NULL) {
        json_decref(req);
        return mp_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
                        "the fake holds too many preferences; POST /_fake/reset", 0);
    }
    bp_log_info("preference %s created", id);
    return fake_reply_obj(conn, MHD_HTTP_CREATED, req);
}

/* GET /checkout/preferences/{id} */
static enum MHD_Result get_preference(struct MHD_Connection *conn, const char *id)
{
    pthread_mutex_lock(&lock);
    preference *p = find_pref(id);
    json_t *o = p != NULL ? json_deep_copy(p->obj) : NULL;
    pthread_mutex_unlock(&lock);
    if (o == NULL)
        return mp_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "preference_id not found", 0);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* GET /v1/payments/{id} */
static enum MHD_Result get_payment(struct MHD_Connection *conn, const char *ids)
{
    int64_t id;
    json_t *o = NULL;
    if (parse_i64(ids, &id)) {
        pthread_mutex_lock(&lock);
        payment *p = find_payment(id);
        o = p != NULL ? json_deep_copy(p->obj) : NULL;
        pthread_mutex_unlock(&lock);
    }
    if (o == NULL)
        return mp_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "Payment not found", 2000);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* GET /v1/payments/search?external_reference=&status=&limit=&offset=&sort=&criteria= */
static enum MHD_Result search_payments(struct MHD_Connection *conn)
{
    const char *ext = fake_query(conn, "external_reference"), *st = fake_query(conn, "status");
    const char *ls = fake_query(conn, "limit"), *os = fake_query(conn, "offset");
    const char *criteria = fake_query(conn, "criteria");
    long limit = 30, offset = 0;
    if ((ls != NULL && !fake_parse_long(ls, 1, 1000, &limit)) ||
        (os != NULL && !fake_parse_long(os, 0, 10000, &offset)))
        return mp_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "invalid limit or offset", 0);
    bool desc = criteria != NULL && strcmp(criteria, "desc") == 0;
    json_t *results = json_array();
    long total = 0;
    pthread_mutex_lock(&lock);
    for (size_t k = 0; k < n_payments; k++) {
        /* Payments are kept in creation order, which is date_created order. */
        payment *p = &payments[desc ? n_payments - 1 - k : k];
        const char *pe = json_string_value(json_object_get(p->obj, "external_reference"));
        const char *ps = json_string_value(json_object_get(p->obj, "status"));
        if ((ext != NULL && (pe == NULL || strcmp(pe, ext) != 0)) ||
            (st != NULL && (ps == NULL || strcmp(ps, st) != 0)))
            continue;
        if (total >= offset && total < offset + limit)
            json_array_append_new(results, json_deep_copy(p->obj));
        total++;
    }
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK,
                          json_pack("{s:{s:I,s:I,s:I},s:o}", "paging", "total", (json_int_t)total,
                                    "limit", (json_int_t)limit, "offset", (json_int_t)offset,
                                    "results", results));
}

/* POST /v1/payments/{id}/refunds, body empty or {"amount": n}. */
static enum MHD_Result refund(struct MHD_Connection *conn, const char *ids, const char *body)
{
    const char *key = fake_header(conn, "X-Idempotency-Key");
    if (key == NULL || *key == '\0')
        return mp_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "Header-X-Idempotency-Key-can't-be-null", 4292);
    json_t *req = NULL;
    if (*body != '\0') {
        json_error_t err;
        req = json_loads(body, 0, &err);
        if (!json_is_object(req)) {
            json_decref(req);
            return mp_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "invalid json body", 0);
        }
    }
    json_t *amount = json_object_get(req, "amount");
    if (amount != NULL && !json_is_number(amount)) {
        json_decref(req);
        return mp_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "amount-attribute-must-be-numeric", 4041);
    }
    if (amount != NULL && json_number_value(amount) <= 0) {
        json_decref(req);
        return mp_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "amount-attribute-must-be-positive", 4040);
    }
    double want = amount != NULL ? round_cents(json_number_value(amount)) : -1;
    json_decref(req);

    int64_t id;
    if (!parse_i64(ids, &id))
        return mp_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "Payment not found", 2000);

    pthread_mutex_lock(&lock);
    json_t *seen = json_incref(find_idem(IDEM_REFUND, key));
    if (seen != NULL) {
        pthread_mutex_unlock(&lock);
        return fake_reply_obj(conn, MHD_HTTP_CREATED, seen);
    }
    payment *p = find_payment(id);
    if (p == NULL) {
        pthread_mutex_unlock(&lock);
        return mp_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "Payment not found", 2000);
    }
    const char *status = json_string_value(json_object_get(p->obj, "status"));
    json_t *refunds = json_object_get(p->obj, "refunds");
    if (status == NULL || strcmp(status, "approved") != 0 ||
        json_array_size(refunds) >= MAX_REFUNDS) {
        pthread_mutex_unlock(&lock);
        return mp_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "The-action-requested-is-not-valid-for-the-current-payment-state", 2063);
    }
    double paid = json_number_value(json_object_get(p->obj, "transaction_amount"));
    double done = json_number_value(json_object_get(p->obj, "transaction_amount_refunded"));
    long long left_c = to_cents(paid) - to_cents(done);
    long long want_c = want < 0 ? left_c : to_cents(want);
    if (want_c > left_c || want_c <= 0) {
        pthread_mutex_unlock(&lock);
        return mp_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "amount exceeds the refundable balance of the payment", 0);
    }
    int64_t now = bp_now_ms();
    json_t *r =
        json_pack("{s:I,s:I,s:f,s:f,s:f,s:o,s:{s:s,s:s,s:s},s:o,s:n,s:s,s:s,s:n,s:[]}", "id",
                  (json_int_t)next_refund_id++, "payment_id", (json_int_t)id, "amount",
                  want_c / 100.0, "amount_refunded_to_payer", want_c / 100.0, "adjustment_amount",
                  0.0, "metadata", json_object(), "source", "id", "1234567890", "name", "BarberPro",
                  "type", "collector", "date_created", mp_date_json(now), "unique_sequence_number",
                  "status", "approved", "refund_mode", "standard", "reason", "labels");
    if (r == NULL) {
        pthread_mutex_unlock(&lock);
        return mp_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error", "out of memory", 0);
    }
    json_array_append(refunds, r);
    long long done_c = to_cents(done) + want_c;
    json_object_set_new(p->obj, "transaction_amount_refunded", json_real(done_c / 100.0));
    bool full = done_c >= to_cents(paid);
    /* A full refund turns the payment refunded; a partial one keeps it
     * approved, with status_detail partially_refunded. */
    json_object_set_new(p->obj, "status", json_string(full ? "refunded" : "approved"));
    json_object_set_new(p->obj, "status_detail",
                        json_string(full ? "refunded" : "partially_refunded"));
    json_object_set_new(p->obj, "date_last_updated", mp_date_json(now));
    remember_idem(IDEM_REFUND, key, r);
    enqueue_payment(p, "payment.updated", FAKE_SIG_OK, 0);
    pthread_mutex_unlock(&lock);
    bp_log_info("payment %" PRId64 " refunded %lld.%02lld%s", id, want_c / 100, want_c % 100,
                full ? " (full)" : "");
    return fake_reply_obj(conn, MHD_HTTP_CREATED, r);
}

/* ---- control endpoints -------------------------------------------------- */

static const char *const statuses[] = {"pending",    "approved",     "authorized",
                                       "in_process", "in_mediation", "rejected",
                                       "cancelled",  "refunded",     "charged_back"};
/* A plausible status_detail for each status, in the same order. */
static const char *const status_details[] = {"pending_waiting_payment",
                                             "accredited",
                                             "pending_capture",
                                             "pending_contingency",
                                             "in_process",
                                             "cc_rejected_other_reason",
                                             "by_collector",
                                             "refunded",
                                             "settled"};

static int status_index(const char *s)
{
    for (size_t i = 0; s != NULL && i < BP_COUNTOF(statuses); i++)
        if (strcmp(s, statuses[i]) == 0)
            return (int)i;
    return -1;
}

/* Sets status, status_detail and the dates that go with them (lock held). */
static void set_status(payment *p, int si, const char *detail, int64_t now)
{
    json_object_set_new(p->obj, "status", json_string(statuses[si]));
    json_object_set_new(p->obj, "status_detail",
                        json_string(detail != NULL ? detail : status_details[si]));
    json_object_set_new(p->obj, "date_last_updated", mp_date_json(now));
    if (strcmp(statuses[si], "approved") == 0 &&
        json_is_null(json_object_get(p->obj, "date_approved")))
        json_object_set_new(p->obj, "date_approved", mp_date_json(now));
}

static bool notify_wanted(struct MHD_Connection *conn)
{
    const char *n = fake_query(conn, "notify");
    return n == NULL || strcmp(n, "0") != 0;
}

/* POST /_fake/pay?preference_id=&status=approved[&status_detail=][&notify=0]:
 * the buyer pays in the checkout. */
static enum MHD_Result fake_pay(struct MHD_Connection *conn)
{
    const char *pref_id = fake_query(conn, "preference_id");
    const char *st = fake_query(conn, "status");
    int si = status_index(st != NULL ? st : "approved");
    if (si < 0)
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST, "{\"error\":\"unknown status\"}");
    int64_t now = bp_now_ms();
    pthread_mutex_lock(&lock);
    preference *pr = find_pref(pref_id);
    if (pr == NULL || n_payments == MAX_PAYMENTS) {
        pthread_mutex_unlock(&lock);
        return fake_reply_json(conn,
                               pr == NULL ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INSUFFICIENT_STORAGE,
                               pr == NULL ? "{\"error\":\"no such preference\"}"
                                          : "{\"error\":\"too many payments; reset\"}");
    }
    double amount = 0;
    size_t i;
    json_t *it, *items = json_object_get(pr->obj, "items");
    json_array_foreach(items, i, it) amount +=
        (double)json_integer_value(json_object_get(it, "quantity")) *
        json_number_value(json_object_get(it, "unit_price"));
    amount = round_cents(amount);
    const char *title = json_string_value(json_object_get(json_array_get(items, 0), "title"));
    json_t *ext = json_object_get(pr->obj, "external_reference");
    json_t *payer_in = json_object_get(pr->obj, "payer");
    json_t *email = json_object_get(payer_in, "email");
    const char *nurl = json_string_value(json_object_get(pr->obj, "notification_url"));
    int64_t id = next_payment_id++;
    json_t *o = json_pack(
        "{s:I,s:o,s:n,s:o,s:o,s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:o,s:f,s:f,s:{s:f,s:f,s:f},s:i,"
        "s:s,s:b,s:b,s:I,s:{s:s,s:s?,s:O?},s:{},s:{s:s,s:s},s:[],s:s?,s:s}",
        "id", (json_int_t)id, "date_created", mp_date_json(now), "date_approved",
        "date_last_updated", mp_date_json(now), "money_release_date", mp_date_json(now),
        "operation_type", "regular_payment", "payment_method_id", "account_money",
        "payment_type_id", "account_money", "status", "pending", "status_detail",
        "pending_waiting_payment", "currency_id", "ARS", "description", title, "external_reference",
        json_is_string(ext) ? json_incref(ext) : json_null(), "transaction_amount", amount,
        "transaction_amount_refunded", 0.0, "transaction_details", "net_received_amount", amount,
        "total_paid_amount", amount, "installment_amount", amount, "installments", 1, "site_id",
        "MLA", "live_mode", 0, "captured", 1, "collector_id", (json_int_t)COLLECTOR_ID, "payer",
        "type", "customer", "id", "999000111", "email", json_is_string(email) ? email : NULL,
        "metadata", "order", "type", "mercadopago", "id", pr->id, "refunds", "notification_url",
        nurl, "preference_id", pr->id);
    if (o == NULL) {
        pthread_mutex_unlock(&lock);
        return fake_reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "{\"error\":\"out of memory\"}");
    }
    char *nu = nurl != NULL ? strdup(nurl) : NULL;
    payment *p = &payments[n_payments++];
    *p = (payment){.id = id, .obj = o, .notification_url = nu};
    set_status(p, si, fake_query(conn, "status_detail"), now);
    bool queued = notify_wanted(conn) && enqueue_payment(p, "payment.created", FAKE_SIG_OK, 0);
    pthread_mutex_unlock(&lock);
    bp_log_info("payment %" PRId64 " %s for preference %s", id, statuses[si], pref_id);
    char out[160];
    snprintf(out, sizeof out, "{\"payment_id\":%" PRId64 ",\"status\":\"%s\",\"notified\":%s}", id,
             statuses[si], queued ? "true" : "false");
    return fake_reply_json(conn, MHD_HTTP_OK, out);
}

/* POST /_fake/status?payment_id=&status=[&status_detail=][&notify=0] */
static enum MHD_Result fake_status(struct MHD_Connection *conn)
{
    int64_t id;
    int si = status_index(fake_query(conn, "status"));
    if (!parse_i64(fake_query(conn, "payment_id"), &id) || si < 0)
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST, "{\"error\":\"payment_id and status\"}");
    pthread_mutex_lock(&lock);
    payment *p = find_payment(id);
    bool queued = false;
    if (p != NULL) {
        set_status(p, si, fake_query(conn, "status_detail"), bp_now_ms());
        queued = notify_wanted(conn) && enqueue_payment(p, "payment.updated", FAKE_SIG_OK, 0);
    }
    pthread_mutex_unlock(&lock);
    if (p == NULL)
        return fake_reply_json(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such payment\"}");
    return fake_reply_json(conn, MHD_HTTP_OK,
                           queued ? "{\"notified\":true}" : "{\"notified\":false}");
}

/* POST /_fake/notify?payment_id=[&action=payment.updated][&signature=ok|bad|missing]
 *                   [&delay_ms=N][&url=...][&data_id=...]
 * Sends a notification again, late (to overtake it with another), forged, or
 * for an id MercadoPago does not know (data_id with url). */
static enum MHD_Result fake_notify(struct MHD_Connection *conn)
{
    const char *pid = fake_query(conn, "payment_id"), *data_id = fake_query(conn, "data_id");
    const char *action = fake_query(conn, "action"), *sig = fake_query(conn, "signature");
    const char *url = fake_query(conn, "url"), *ds = fake_query(conn, "delay_ms");
    long after = 0;
    fake_sig sk;
    int64_t id = 0;
    if (!fake_sig_parse(sig, &sk) || (ds != NULL && !fake_parse_long(ds, 0, 60000, &after)) ||
        (pid == NULL && data_id == NULL) || (pid != NULL && !parse_i64(pid, &id)) ||
        (data_id != NULL && strlen(data_id) > 30))
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"payment_id or data_id; signature=ok|bad|missing; "
                               "delay_ms=0..60000\"}");
    if (action == NULL || strlen(action) > 30)
        action = "payment.updated";
    pthread_mutex_lock(&lock);
    payment *p = pid != NULL ? find_payment(id) : NULL;
    const char *to = url != NULL ? url : p != NULL ? p->notification_url : NULL;
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "%s", data_id != NULL ? data_id : pid);
    bool queued = to != NULL && enqueue(to, idbuf, action, sk, after);
    pthread_mutex_unlock(&lock);
    if (!queued)
        return fake_reply_json(
            conn, MHD_HTTP_NOT_FOUND,
            "{\"error\":\"no such payment, no notification_url, or queue full\"}");
    return fake_reply_json(conn, MHD_HTTP_OK, "{\"notified\":true}");
}

/* GET /_fake/last?endpoint=preferences|payment|search|refunds */
static enum MHD_Result fake_last(struct MHD_Connection *conn)
{
    const char *e = fake_query(conn, "endpoint");
    int ep = -1;
    for (size_t i = 0; e != NULL && i < EP_COUNT; i++)
        if (strcmp(e, endpoint_names[i]) == 0)
            ep = (int)i;
    if (ep < 0)
        return fake_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"endpoint=preferences|payment|search|refunds\"}");
    pthread_mutex_lock(&lock);
    json_t *o = fake_last_doc(counts[ep], last_request[ep]);
    pthread_mutex_unlock(&lock);
    return fake_reply_obj(conn, MHD_HTTP_OK, o);
}

/* GET /_fake/webhooks: every send attempt, oldest first. */
static enum MHD_Result get_webhooks(struct MHD_Connection *conn)
{
    return fake_reply_obj(conn, MHD_HTTP_OK, fake_webhooks_report(webhooks));
}

/* Frees the state; lock held. */
static void clear_state(void)
{
    for (size_t i = 0; i < n_prefs; i++) {
        free(prefs[i].id);
        json_decref(prefs[i].obj);
    }
    for (size_t i = 0; i < n_payments; i++) {
        free(payments[i].notification_url);
        json_decref(payments[i].obj);
    }
    for (size_t i = 0; i < n_idem; i++) {
        free(idem[i].key);
        json_decref(idem[i].answer);
    }
    for (size_t i = 0; i < EP_COUNT; i++) {
        json_decref(last_request[i]);
        last_request[i] = NULL;
        counts[i] = 0;
    }
    n_prefs = n_payments = n_idem = 0;
}

static void reset(void)
{
    pthread_mutex_lock(&lock);
    clear_state();
    pthread_mutex_unlock(&lock);
    fake_webhooks_clear(webhooks);
}

/* ---- routing --------------------------------------------------------------- */

/* The id between prefix and suffix of url, or NULL; into out. */
static const char *path_id(const char *url, const char *prefix, const char *suffix, char *out,
                           size_t len)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), ul = strlen(url);
    if (ul <= pl + sl || strncmp(url, prefix, pl) != 0 || strcmp(url + ul - sl, suffix) != 0)
        return NULL;
    size_t n = ul - pl - sl;
    if (n >= len || memchr(url + pl, '/', n) != NULL)
        return NULL;
    memcpy(out, url + pl, n);
    out[n] = '\0';
    return out;
}

static enum MHD_Result api(struct MHD_Connection *conn, const char *method, const char *url,
                           const fake_body *b, bool *matched)
{
    const char *body = fake_body_text(b);
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    char id[128];
    endpoint ep;
    const char *pid = NULL;
    if (post && strcmp(url, "/checkout/preferences") == 0)
        ep = EP_PREFERENCES;
    else if (get && (pid = path_id(url, "/checkout/preferences/", "", id, sizeof id)) != NULL)
        ep = EP_PREFERENCES;
    else if (get && strcmp(url, "/v1/payments/search") == 0)
        ep = EP_SEARCH;
    else if (post && (pid = path_id(url, "/v1/payments/", "/refunds", id, sizeof id)) != NULL)
        ep = EP_REFUNDS;
    else if (get && (pid = path_id(url, "/v1/payments/", "", id, sizeof id)) != NULL)
        ep = EP_PAYMENT;
    else {
        *matched = false;
        return MHD_NO;
    }
    *matched = true;
    atomic_fetch_add(&api_requests, 1);
    record_request(ep, conn, method, url, body);

    fake_mode_now m = fake_mode_take();
    enum MHD_Result rv;
    if (fake_mode_answer(conn, &m, &rv))
        return rv;
    if (m.mode == FAKE_MODE_ERROR)
        return mp_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
                        "Internal server error", 0);
    if (!authorized(conn))
        return mp_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", "invalid access token", 401);

    switch (ep) {
    case EP_PREFERENCES:
        return pid != NULL ? get_preference(conn, pid) : create_preference(conn, body);
    case EP_SEARCH:
        return search_payments(conn);
    case EP_REFUNDS:
        return refund(conn, pid, body);
    case EP_PAYMENT:
    default:
        return get_payment(conn, pid);
    }
}

static enum MHD_Result body_too_large(struct MHD_Connection *conn)
{
    return mp_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "bad_request", "body too large", 0);
}

static enum MHD_Result not_found(struct MHD_Connection *conn, const char *url)
{
    (void)url;
    return mp_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "resource not found", 0);
}

/* ---- start-up -------------------------------------------------------------- */

static int start(void)
{
    webhooks = fake_webhooks_start(&webhook_cfg);
    if (webhooks == NULL) {
        bp_log_error("cannot start the webhook thread");
        return 1;
    }
    bp_log_info("webhook retries: %zu", webhook_cfg.n_retry_delays);
    return 0;
}

static void stop(void)
{
    fake_webhooks_stop(webhooks);
    pthread_mutex_lock(&lock);
    clear_state();
    pthread_mutex_unlock(&lock);
}

static const fake_option options[] = {
    {.flag = "--access-token", .arg = "T", .flags = FAKE_OPT_NOT_EMPTY, .text = &access_token},
    {.flag = "--webhook-secret", .arg = "S", .flags = FAKE_OPT_NOT_EMPTY, .text = &webhook_secret},
    FAKE_WEBHOOKS_DELAYS_OPTION(&webhook_cfg)};

static const fake_control controls[] = {{"GET", "/_fake/last", fake_last},
                                        {"GET", "/_fake/webhooks", get_webhooks},
                                        {"POST", "/_fake/pay", fake_pay},
                                        {"POST", "/_fake/status", fake_status},
                                        {"POST", "/_fake/notify", fake_notify}};

int main(int argc, char **argv)
{
    static const fake_spec spec = {.name = "mercadopago",
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
