/* GET /api/exchange-rate: the USD:ARS rate (rates.c fetches and keeps it),
 * served stale with its age when the source fails, 503 only when no rate
 * was ever known. */
#include "booking.h"
#include "rates.h"

BOOKING_HANDLER(exchange_rate)
{
    (void)req;
    Bp__Booking__ExchangeRateReply *out = (Bp__Booking__ExchangeRateReply *)resp;
    bp_worker *w = bp_call_worker(call);
    booking_rate rate;

    int rv = booking_rate_get(w->db, w->kv, &rate);
    if (rv == BP_EUNAVAIL)
        return bp_call_fail(call, 503, "unavailable", NULL,
                            "La cotización del dólar no está disponible en este momento; probá "
                            "de nuevo en unos minutos.");
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    out->pair = BOOKING_RATE_PAIR;
    out->has_rate = true;
    out->rate = rate.rate;
    out->fetched_at = bp_call_time(call, rate.fetched_at_ms, NULL);
    out->has_stale = true;
    out->stale = rate.stale;
    out->has_age_seconds = true;
    out->age_seconds = rate.age_s;
    out->source = bp_call_strdup(call, rate.source);
    if (out->fetched_at == NULL || out->source == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    return 0;
}
