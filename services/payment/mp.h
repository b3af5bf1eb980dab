/* The MercadoPago API, as the payment daemon uses it: Checkout Pro
 * preferences, payments (get and search) and refunds. Every call carries
 * the access token as a Bearer header, which is never logged; a call that
 * fails (no answer in MERCADOPAGO_TIMEOUT_MS, 5xx, 401/403, 429, an answer
 * that is not the API's) counts in payment_failures_total{provider=
 * "mercadopago"}. Pesos with two decimals exist only here: callers speak
 * centavos. */
#ifndef PAYMENT_MP_H
#define PAYMENT_MP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "payment.h"

/* One of MercadoPago's payments. */
typedef struct mp_payment {
    int64_t id;
    char status[24];             /* pending, approved, rejected, ... */
    char status_detail[64];      /* e.g. accredited, cc_rejected_other_reason */
    char external_reference[64]; /* our payment id */
    char method[40];             /* payment_method_id, e.g. visa, account_money */
    char currency[8];            /* currency_id */
    int64_t amount_cents;        /* transaction_amount */
    int64_t refunded_cents;      /* transaction_amount_refunded */
    int64_t approved_ms;         /* date_approved; 0 when none */
} mp_payment;

/* What a checkout asks for. */
typedef struct {
    const char *payment_id; /* external_reference and X-Idempotency-Key */
    const char *booking_id;
    const char *title;
    int64_t amount_cents;
    const char *currency;
    const char *payer_email, *payer_name; /* NULL when unknown */
    int64_t expires_ms;                   /* end of the preference's validity */
} mp_checkout;

/* Outcomes, besides 0: BP_ENOTFOUND (MercadoPago does not know the id),
 * BP_EINVAL (it refused the request for good: a 4xx other than 401, 403,
 * 404, 429; why gets its message), BP_EUNAVAIL (failed, worth retrying). */

/* POST /checkout/preferences. Fills the preference's id and init_point. */
int mp_create_preference(const payment_ctx *ctx, const char *rid, const mp_checkout *in,
                         char pref_id[128], char init_point[512]);

/* GET /v1/payments/{id}. */
int mp_get_payment(const payment_ctx *ctx, const char *rid, int64_t id, mp_payment *out);

/* GET /v1/payments/search?external_reference=: up to cap payments, *n set. */
int mp_search_payments(const payment_ctx *ctx, const char *rid, const char *external_reference,
                       mp_payment *out, size_t cap, size_t *n);

/* POST /v1/payments/{id}/refunds with X-Idempotency-Key key; amount_cents 0
 * refunds all that is left. Fills MercadoPago's refund id. */
int mp_refund(const payment_ctx *ctx, const char *rid, int64_t mp_payment_id, const char *key,
              int64_t amount_cents, int64_t *refund_id, char *why, size_t why_len);

/* Reads a payment object of the API. Returns 0, or BP_EPROTO when it lacks
 * an id, a status or an amount. Exposed for unit tests. */
int mp_payment_parse(const json_t *j, mp_payment *out);

/* The JSON body of a preference (a new reference). Exposed for unit tests. */
json_t *mp_preference_body(const payment_ctx *ctx, const mp_checkout *in);

#endif
