/* Answers every booking handler shares: errors in API.md's form, times in
 * a shop's zone, money in es-AR form, lists of messages built from rows. */
#include <stdio.h>
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

int booking_reply_of_user(bp_call *call, const char *sql, const char *user_id, int max,
                          booking_row_message fn, ProtobufCMessage ***items, size_t *n)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", max + 1);
    const char *params[] = {user_id, limit};
    *items = NULL;
    *n = 0;
    PGresult *res =
        bp_db_select(bp_call_worker(call)->db, sql, 2, params, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    int rows = PQntuples(res), rv = 0;
    if (rows > max)
        rv = BP_ETOOBIG;
    else if ((*items = bp_arena_alloc(bp_call_arena(call), sizeof **items * (size_t)(rows + 1))) ==
             NULL)
        rv = BP_ENOMEM;
    for (int i = 0; rv == 0 && i < rows; i++) {
        if (((*items)[i] = fn(call, res, i)) == NULL)
            rv = BP_ENOMEM;
        else
            *n = (size_t)i + 1;
    }
    PQclear(res);
    return rv;
}
