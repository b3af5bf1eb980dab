/* The booking daemon's settings, read once at start. */
#include <stdio.h>

#include "booking.h"
#include "config.h"
#include "log.h"
#include "tz.h"

int booking_config_load(booking_ctx *ctx)
{
    const char *tz = bp_config_str("TIMEZONE", "America/Argentina/Buenos_Aires");
    const bp_tz *zone;
    if (bp_tz_load(tz, &zone) != 0)
        bp_config_fail("TIMEZONE", "is not a known IANA time zone");
    snprintf(ctx->timezone, sizeof ctx->timezone, "%s", tz);
    const char *currency = bp_config_str("CURRENCY", "ARS");
    if (snprintf(ctx->currency, sizeof ctx->currency, "%s", currency) != 3)
        bp_config_fail("CURRENCY", "must be a three-letter ISO 4217 code");
    ctx->hold_seconds = (int)bp_config_int("BOOKING_HOLD_SECONDS", 900, 1, 24 * 3600);
    ctx->min_notice_minutes = (int)bp_config_int("BOOKING_MIN_NOTICE_MINUTES", 60, 0, 7 * 24 * 60);
    ctx->horizon_days = (int)bp_config_int("BOOKING_HORIZON_DAYS", 60, 1, 366);
    ctx->no_show_limit = (int)bp_config_int("BOOKING_NO_SHOW_LIMIT", 2, 1, 100);
    ctx->no_show_window_days = (int)bp_config_int("BOOKING_NO_SHOW_WINDOW_DAYS", 90, 1, 3650);
    ctx->expire_interval_ms =
        (int)bp_config_int("BOOKING_EXPIRE_INTERVAL_MS", 5000, 100, 10 * 60 * 1000);

    return bp_client_dial("auth", &ctx->auth);
}

void booking_config_free(booking_ctx *ctx)
{
    bp_client_close(ctx->auth);
    ctx->auth = NULL;
}
