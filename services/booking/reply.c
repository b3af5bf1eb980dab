/* Answers every booking handler shares: errors in API.md's form, times in
 * a shop's zone, money in es-AR form. */
#include <string.h>

#include "booking.h"
#include "money.h"

const booking_ctx *booking_ctx_of(bp_call *call)
{
    return bp_call_worker(call)->app;
}

int booking_fail_invalid(bp_call *call, const char *field, const char *why)
{
    return bp_call_fail(call, 400, "invalid_request", field, "%s", why);
}

int booking_fail_not_found(bp_call *call, const char *what)
{
    return bp_call_fail(call, 404, "not_found", NULL, "%s no existe.", what);
}

int booking_fail_forbidden(bp_call *call)
{
    return bp_call_fail(call, 403, "forbidden", NULL, "No tenés permiso para hacer esto.");
}

char *booking_reply_time(bp_call *call, int64_t epoch_ms, const char *tz)
{
    char buf[64];
    if (bp_time_format(epoch_ms, tz, buf, sizeof buf) != 0)
        return NULL;
    return bp_call_strdup(call, buf);
}

char *booking_reply_money(bp_call *call, int64_t cents, const char *currency)
{
    char buf[64];
    if (bp_money_format(cents, currency, buf, sizeof buf) != 0)
        return NULL;
    return bp_call_strdup(call, buf);
}

bool booking_check_uuid(bp_call *call, const char *field, const char *s)
{
    if (s == NULL || *s == '\0') {
        bp_call_fail(call, 400, "invalid_request", field, "Falta el campo %s.", field);
        return false;
    }
    if (!bp_uuid_valid(s)) {
        bp_call_fail(call, 400, "invalid_request", field, "El campo %s no es un id válido.", field);
        return false;
    }
    return true;
}
