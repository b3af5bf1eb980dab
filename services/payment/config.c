/* The payment daemon's settings, read once at start, and the calls it makes
 * to the booking daemon. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "payment.h"
#include "tz.h"

payment_ctx payment_config;

int payment_config_load(payment_ctx *ctx)
{
    bp_config_url("MERCADOPAGO_API_URL", "https://api.mercadopago.com", ctx->api_url,
                  sizeof ctx->api_url);
    bp_config_url("PUBLIC_BASE_URL", "http://127.0.0.1:3000", ctx->public_base_url,
                  sizeof ctx->public_base_url);
    ctx->access_token = bp_config_secret("MERCADOPAGO_ACCESS_TOKEN");
    ctx->webhook_secret = bp_config_secret("MERCADOPAGO_WEBHOOK_SECRET");
    const char *tz = bp_config_str("TIMEZONE", "America/Argentina/Buenos_Aires");
    const bp_tz *zone;
    if (bp_tz_load(tz, &zone) != 0)
        bp_config_fail("TIMEZONE", "is not a known IANA time zone");
    snprintf(ctx->timezone, sizeof ctx->timezone, "%s", tz);
    ctx->timeout_ms = (int)bp_config_int("MERCADOPAGO_TIMEOUT_MS", 10000, 100, 120000);
    ctx->reconcile_interval_ms =
        (int)bp_config_int("PAYMENT_RECONCILE_INTERVAL_MS", 60000, 100, 60000);
    ctx->backoff_ms = (int)bp_config_int("PAYMENT_RETRY_BACKOFF_MS", 1000, 10, 3600000);
    ctx->backoff_max_ms =
        (int)bp_config_int("PAYMENT_RETRY_BACKOFF_MAX_MS", 300000, ctx->backoff_ms, 86400000);

    /* Secrets are named, never shown. */
    if (ctx->access_token == NULL)
        bp_log_warn("MERCADOPAGO_ACCESS_TOKEN is not set: checkouts and refunds answer 503");
    if (ctx->webhook_secret == NULL)
        bp_log_warn("MERCADOPAGO_WEBHOOK_SECRET is not set: every webhook is refused (401)");
    if (bp_config_is_production() && (ctx->access_token == NULL || ctx->webhook_secret == NULL ||
                                      strncmp(ctx->access_token, "TEST-", 5) == 0))
        bp_config_fail("MERCADOPAGO_ACCESS_TOKEN",
                       "production needs a live access token and MERCADOPAGO_WEBHOOK_SECRET");
    bp_log_info("MercadoPago API at %s; reconciliation every %d ms", ctx->api_url,
                ctx->reconcile_interval_ms);

    int rv = bp_client_dial("booking", &ctx->booking);
    if (rv == 0)
        rv = bp_client_dial("auth", &ctx->auth);
    return rv;
}

void payment_config_free(payment_ctx *ctx)
{
    bp_client_close(ctx->booking);
    bp_client_close(ctx->auth);
    ctx->booking = ctx->auth = NULL;
}

int payment_booking_context(bp_call *call, const char *booking_id, const char *what,
                            Bp__Booking__PaymentContextReply **out)
{
    *out = NULL;
    if (!bp_call_check_uuid(call, "booking_id", booking_id))
        return BP_EREPLIED;
    Bp__Booking__BookingRequest in = BP__BOOKING__BOOKING_REQUEST__INIT;
    in.booking_id = (char *)booking_id;
    int64_t deadline = bp_call_deadline_ms(call), left = deadline - bp_now_ms();
    bp_rpc_args args = {
        .method = "PaymentContext",
        .request_id = bp_call_request_id(call),
        .user_id = bp_call_user_id(call),
        .role = bp_call_role(call),
        /* Within the caller's own deadline (<= 0: the default). */
        .timeout_ms = deadline > 0 ? (int)(left > 1 ? left : 1) : 0,
    };
    ProtobufCMessage *got = NULL;
    int status = 0;
    char code[64] = "";
    int rv = bp_client_call_msg(payment_config.booking, &args, (const ProtobufCMessage *)&in,
                                &bp__booking__payment_context_reply__descriptor, &got, &status,
                                code, sizeof code);
    if (rv != 0) {
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "booking.PaymentContext: %s",
               bp_strerror(rv));
        return bp_call_fail_internal(call, BP_EUNAVAIL);
    }
    if (status == 404)
        return bp_call_fail_not_found(call, what);
    if (status == 400)
        return bp_call_fail_invalid(call, "booking_id", "El campo booking_id no es un id válido.");
    if (status >= 300 || got == NULL) {
        if (got != NULL)
            protobuf_c_message_free_unpacked(got, NULL);
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "booking.PaymentContext answered %d %s",
               status, code);
        return bp_call_fail_internal(call, BP_EUNAVAIL);
    }
    *out = (Bp__Booking__PaymentContextReply *)got;
    if ((*out)->booking == NULL || (*out)->actor == NULL) {
        protobuf_c_message_free_unpacked(got, NULL);
        *out = NULL;
        return bp_call_fail_internal(call, BP_EPROTO);
    }
    return 0;
}

/* Time kept for what follows the MercadoPago call: storing its outcome and
 * the answer's way back. */
#define ANSWER_MARGIN_MS 300

payment_ctx payment_ctx_for(bp_call *call)
{
    payment_ctx c = payment_config;
    int64_t deadline = bp_call_deadline_ms(call);
    if (deadline > 0) {
        int64_t left = deadline - bp_now_ms() - ANSWER_MARGIN_MS;
        if (left < c.timeout_ms)
            c.timeout_ms = left > 100 ? (int)left : 100;
    }
    return c;
}
