/* Answers every booking handler shares: errors in API.md's form, times in
 * a shop's zone, money in es-AR form. */
#include <string.h>

#include "booking.h"
#include "money.h"

const booking_ctx *booking_ctx_of(bp_call *call)
{
    return bp_call_worker(call)->app;
}

char *booking_reply_money(bp_call *call, int64_t cents, const char *currency)
{
    char buf[64];
    if (bp_money_format(cents, currency, buf, sizeof buf) != 0)
        return NULL;
    return bp_call_strdup(call, buf);
}
