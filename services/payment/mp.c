#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "mp.h"

#define MP_MAX_ANSWER (1024 * 1024)

static bp_counter *failures(void)
{
    static bp_counter *c;
    if (c == NULL)
        c = bp_metrics_counter("payment_failures_total",
                               "Calls to a payment provider that failed (no answer, 5xx, refused "
                               "credentials, an answer that is not the API's)",
                               "provider=\"mercadopago\"");
    return c;
}

/* Pesos with two decimals, as MercadoPago's amounts are written. */
static json_t *pesos(int64_t cents)
{
    return json_real((double)cents / 100.0);
}

/* Centavos of an amount in pesos; -1 when it is not a number. */
static int64_t cents_of(const json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v) * 100;
    if (json_is_real(v)) {
        double c = json_real_value(v) * 100.0; /* 12.3 is 1229.9999...: round */
        return c >= 0 ? (int64_t)(c + 0.5) : -1;
    }
    return -1;
}

/* A time as MercadoPago writes them: "2026-12-04T15:30:00.000-03:00". */
static json_t *mp_time(int64_t ms, const char *tz)
{
    char t[40];
    if (bp_time_format(ms, tz, t, sizeof t) != 0)
        return NULL;
    size_t n = strlen(t); /* ...:SS+hh:mm: the offset is the last 6 */
    char out[48];
    snprintf(out, sizeof out, "%.*s.000%s", (int)(n - 6), t, t + n - 6);
    return json_string(out);
}

static void copy_str(char *out, size_t len, const json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(out, len, "%s", s != NULL ? s : "");
}

int mp_payment_parse(const json_t *j, mp_payment *out)
{
    memset(out, 0, sizeof *out);
    const json_t *id = json_object_get(j, "id");
    if (json_is_integer(id))
        out->id = (int64_t)json_integer_value(id);
    else if (json_is_string(id))
        out->id = strtoll(json_string_value(id), NULL, 10);
    copy_str(out->status, sizeof out->status, json_object_get(j, "status"));
    copy_str(out->status_detail, sizeof out->status_detail, json_object_get(j, "status_detail"));
    copy_str(out->external_reference, sizeof out->external_reference,
             json_object_get(j, "external_reference"));
    copy_str(out->method, sizeof out->method, json_object_get(j, "payment_method_id"));
    copy_str(out->currency, sizeof out->currency, json_object_get(j, "currency_id"));
    out->amount_cents = cents_of(json_object_get(j, "transaction_amount"));
    const json_t *refunded = json_object_get(j, "transaction_amount_refunded");
    out->refunded_cents = json_is_number(refunded) ? cents_of(refunded) : 0;
    const char *approved = json_string_value(json_object_get(j, "date_approved"));
    if (approved == NULL || bp_time_parse(approved, &out->approved_ms) != 0)
        out->approved_ms = 0;
    if (out->id <= 0 || out->status[0] == '\0' || out->amount_cents < 0 || out->refunded_cents < 0)
        return BP_EPROTO;
    return 0;
}

json_t *mp_preference_body(const payment_ctx *ctx, const mp_checkout *in)
{
    const char *base = ctx->public_base_url;
    char notify[512], ok[512], failed[512], pending[512];
    snprintf(notify, sizeof notify, "%s/api/webhooks/mercadopago", base);
    snprintf(ok, sizeof ok, "%s/reservas/%s/pago/exito", base, in->booking_id);
    snprintf(failed, sizeof failed, "%s/reservas/%s/pago/error", base, in->booking_id);
    snprintf(pending, sizeof pending, "%s/reservas/%s/pago/pendiente", base, in->booking_id);

    json_t *item =
        json_pack("{s:s,s:s,s:i,s:o,s:s}", "id", in->booking_id, "title", in->title, "quantity", 1,
                  "unit_price", pesos(in->amount_cents), "currency_id", in->currency);
    json_t *body =
        json_pack("{s:[o],s:s,s:{s:s,s:s,s:s},s:s,s:s,s:b,s:s,s:{s:s,s:s}}", "items", item,
                  "external_reference", in->payment_id, "back_urls", "success", ok, "failure",
                  failed, "pending", pending, "auto_return", "approved", "notification_url", notify,
                  "expires", 1, "statement_descriptor", "BARBERPRO", "metadata", "booking_id",
                  in->booking_id, "payment_id", in->payment_id);
    if (body == NULL)
        return NULL;
    /* Offline methods (a ticket paid at a kiosk) expire with the checkout. */
    json_t *from = mp_time(bp_now_ms(), ctx->timezone),
           *to = mp_time(in->expires_ms, ctx->timezone);
    if (from == NULL || to == NULL) {
        json_decref(from);
        json_decref(to);
        json_decref(body);
        return NULL;
    }
    json_object_set_new(body, "expiration_date_from", from);
    json_object_set(body, "expiration_date_to", to);
    json_object_set_new(body, "date_of_expiration", to);
    if (in->payer_email != NULL || in->payer_name != NULL) {
        json_t *payer = json_object();
        if (in->payer_email != NULL)
            json_object_set_new(payer, "email", json_string(in->payer_email));
        if (in->payer_name != NULL)
            json_object_set_new(payer, "name", json_string(in->payer_name));
        json_object_set_new(body, "payer", payer);
    }
    return body;
}

/* One exchange with the API: method path (under MERCADOPAGO_API_URL), an
 * optional JSON body and idempotency key. On 0, *out is the answer's JSON. */
static int mp_call(const payment_ctx *ctx, const char *rid, const char *what, const char *method,
                   const char *path, const char *key, const json_t *body, json_t **out, char *why,
                   size_t why_len)
{
    *out = NULL;
    if (why_len > 0)
        why[0] = '\0';
    if (ctx->access_token == NULL) {
        bp_log(BP_LOG_ERROR, rid, "MercadoPago %s: MERCADOPAGO_ACCESS_TOKEN is not set", what);
        bp_counter_add(failures(), 1);
        return BP_EUNAVAIL;
    }
    char url[1024], authz[1024], idem[256];
    snprintf(url, sizeof url, "%s%s", ctx->api_url, path);
    snprintf(authz, sizeof authz, "Authorization: Bearer %s", ctx->access_token);
    snprintf(idem, sizeof idem, "X-Idempotency-Key: %s", key != NULL ? key : "");
    const char *headers[] = {authz, "Accept: application/json", "Content-Type: application/json",
                             key != NULL ? idem : NULL, NULL};
    char *text = NULL;
    if (body != NULL && (text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15))) == NULL)
        return BP_ENOMEM;
    bp_http_request req = {
        .method = method,
        .url = url,
        .headers = headers,
        .body = text,
        .body_len = text != NULL ? strlen(text) : 0,
        .timeout_ms = ctx->timeout_ms,
        .max_response_bytes = MP_MAX_ANSWER,
    };
    bp_http_response resp;
    int rv = bp_http_do(&req, &resp);
    free(text);
    if (rv != 0) {
        bp_log(BP_LOG_WARN, rid, "MercadoPago %s: %s", what, bp_strerror(rv));
        bp_counter_add(failures(), 1);
        return rv == BP_ENOMEM ? rv : BP_EUNAVAIL;
    }
    json_error_t err;
    json_t *doc = json_loadb(resp.body, resp.len, 0, &err);
    long status = resp.status;
    bp_http_response_free(&resp);
    const char *message = json_string_value(json_object_get(doc, "message"));

    if (status >= 200 && status < 300 && json_is_object(doc)) {
        *out = doc;
        return 0;
    }
    if (status == 404) {
        json_decref(doc);
        return BP_ENOTFOUND;
    }
    if (status >= 400 && status < 500 && status != 401 && status != 403 && status != 429) {
        bp_log(BP_LOG_WARN, rid, "MercadoPago %s refused: HTTP %ld %s", what, status,
               message != NULL ? message : "");
        if (why_len > 0)
            snprintf(why, why_len, "%s", message != NULL ? message : "refused");
        json_decref(doc);
        return BP_EINVAL;
    }
    if (status == 401 || status == 403)
        bp_log(BP_LOG_ERROR, rid, "MercadoPago %s: HTTP %ld, the access token was refused", what,
               status);
    else
        bp_log(BP_LOG_WARN, rid, "MercadoPago %s: HTTP %ld%s", what, status,
               status < 300 ? " with an answer that is not the API's" : "");
    bp_counter_add(failures(), 1);
    json_decref(doc);
    return BP_EUNAVAIL;
}

int mp_create_preference(const payment_ctx *ctx, const char *rid, const mp_checkout *in,
                         char pref_id[128], char init_point[512])
{
    json_t *body = mp_preference_body(ctx, in);
    if (body == NULL)
        return BP_ENOMEM;
    json_t *doc;
    int rv = mp_call(ctx, rid, "preference", "POST", "/checkout/preferences", in->payment_id, body,
                     &doc, NULL, 0);
    json_decref(body);
    if (rv != 0)
        return rv == BP_ENOTFOUND ? BP_EUNAVAIL : rv;
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *url = json_string_value(json_object_get(doc, "init_point"));
    if (id == NULL || url == NULL || strlen(id) >= 128 || strlen(url) >= 512) {
        bp_log(BP_LOG_WARN, rid, "MercadoPago preference: no usable id or init_point");
        bp_counter_add(failures(), 1);
        json_decref(doc);
        return BP_EUNAVAIL;
    }
    snprintf(pref_id, 128, "%s", id);
    snprintf(init_point, 512, "%s", url);
    json_decref(doc);
    return 0;
}

/* A payment the API answered that cannot be read is a failure of the API. */
static int parsed(const char *rid, const json_t *j, mp_payment *out)
{
    if (mp_payment_parse(j, out) == 0)
        return 0;
    bp_log(BP_LOG_WARN, rid, "MercadoPago payment: no usable id, status or amount");
    bp_counter_add(failures(), 1);
    return BP_EUNAVAIL;
}

int mp_get_payment(const payment_ctx *ctx, const char *rid, int64_t id, mp_payment *out)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/payments/%" PRId64, id);
    json_t *doc;
    int rv = mp_call(ctx, rid, "payment", "GET", path, NULL, NULL, &doc, NULL, 0);
    if (rv != 0)
        return rv == BP_EINVAL ? BP_EUNAVAIL : rv;
    rv = parsed(rid, doc, out);
    json_decref(doc);
    return rv;
}

int mp_search_payments(const payment_ctx *ctx, const char *rid, const char *external_reference,
                       mp_payment *out, size_t cap, size_t *n)
{
    *n = 0;
    char path[256];
    /* Our references are UUIDs: nothing to escape. */
    snprintf(path, sizeof path,
             "/v1/payments/search?external_reference=%s&sort=date_created&criteria=asc&limit=%zu",
             external_reference, cap);
    json_t *doc;
    int rv = mp_call(ctx, rid, "search", "GET", path, NULL, NULL, &doc, NULL, 0);
    if (rv != 0)
        return rv == BP_EINVAL || rv == BP_ENOTFOUND ? BP_EUNAVAIL : rv;
    const json_t *results = json_object_get(doc, "results");
    if (!json_is_array(results)) {
        json_decref(doc);
        return parsed(rid, NULL, out);
    }
    size_t i;
    const json_t *r;
    json_array_foreach(results, i, r)
    {
        if (*n == cap)
            break;
        if ((rv = parsed(rid, r, &out[*n])) != 0)
            break;
        /* The search filters by reference; a result that is not ours is
         * never applied to ours. */
        if (strcmp(out[*n].external_reference, external_reference) == 0)
            (*n)++;
    }
    json_decref(doc);
    return rv;
}

int mp_refund(const payment_ctx *ctx, const char *rid, int64_t mp_payment_id, const char *key,
              int64_t amount_cents, int64_t *refund_id, char *why, size_t why_len)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/payments/%" PRId64 "/refunds", mp_payment_id);
    json_t *body =
        amount_cents > 0 ? json_pack("{s:o}", "amount", pesos(amount_cents)) : json_object();
    if (body == NULL)
        return BP_ENOMEM;
    json_t *doc;
    int rv = mp_call(ctx, rid, "refund", "POST", path, key, body, &doc, why, why_len);
    json_decref(body);
    if (rv == BP_ENOTFOUND) {
        snprintf(why, why_len, "MercadoPago no conoce el pago %" PRId64, mp_payment_id);
        return BP_EINVAL;
    }
    if (rv != 0)
        return rv;
    const json_t *id = json_object_get(doc, "id");
    *refund_id = json_is_integer(id) ? (int64_t)json_integer_value(id) : 0;
    json_decref(doc);
    return 0;
}
