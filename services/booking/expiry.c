/* The expiry of holds: a periodic job turns pending_payment bookings whose
 * hold passed into expired, which frees their chair (the exclusion
 * constraint only covers open states), and announces booking.expired. */
#include <stdio.h>
#include <string.h>

#include "bookings.h"
#include "cache.h"
#include "log.h"
#include "outbox.h"

/* Bookings expired per transaction, and transactions per round: a round
 * stays short (a stop waits for it) and the next one picks up the rest. */
#define BATCH      200
#define MAX_ROUNDS 10

/* SKIP LOCKED: rows another instance is expiring, or that a payment is
 * confirming right now, are left to them; the payment wins a tie because
 * it locked the row first, and a payment that comes after finds the
 * booking expired (events.c). */
static const char SQL_EXPIRE[] =
    "WITH due AS (SELECT id FROM booking.bookings"
    "  WHERE status = 'pending_payment' AND hold_expires_at < now()"
    "  ORDER BY hold_expires_at LIMIT $1::int FOR UPDATE SKIP LOCKED)"
    " UPDATE booking.bookings b SET status = 'expired', updated_at = now()"
    " FROM due, booking.shops sh, booking.services s, booking.providers p"
    " WHERE b.id = due.id AND sh.id = b.shop_id AND s.id = b.service_id"
    " AND p.id = b.provider_id RETURNING " BOOKING_ROW_COLUMNS;

/* One transaction: expire a batch and write its events. Copies the
 * providers whose availability changed into providers (cap BATCH). */
static int expire_batch(bp_db *db, char providers[][37], size_t *n_providers, int *n_rows)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", BATCH);
    const char *params[] = {limit};
    *n_rows = 0;
    *n_providers = 0;
    if (bp_db_begin(db) != 0)
        return BP_EIO;
    PGresult *res = bp_db_query(db, SQL_EXPIRE, 1, params);
    int rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    int rows = rv == 0 ? PQntuples(res) : 0;
    for (int i = 0; rv == 0 && i < rows; i++) {
        booking_row b;
        booking_row_read(res, i, 0, &b);
        rv = booking_emit(db, "booking.expired", &b, NULL);
        bool seen = false;
        for (size_t k = 0; k < *n_providers && !seen; k++)
            seen = strcmp(providers[k], b.provider_id) == 0;
        if (!seen && *n_providers < BATCH)
            snprintf(providers[(*n_providers)++], 37, "%s", b.provider_id);
    }
    PQclear(res);
    if (rv == 0)
        rv = bp_db_commit(db);
    if (rv != 0) {
        bp_db_rollback(db);
        *n_providers = 0;
        return rv;
    }
    *n_rows = rows;
    return 0;
}

int booking_expire_holds(bp_db *db, bp_kv *kv)
{
    static _Thread_local char providers[BATCH][37];
    for (int round = 0; round < MAX_ROUNDS; round++) {
        size_t n_providers;
        int rows;
        int rv = expire_batch(db, providers, &n_providers, &rows);
        if (rv != 0)
            return rv;
        if (rows == 0)
            break;
        bp_log_info("%d held bookings expired", rows);
        for (size_t k = 0; kv != NULL && k < n_providers; k++)
            booking_cache_drop(kv, BOOKING_CACHE_AVAIL, providers[k]);
        bp_relay_kick();
        if (rows < BATCH)
            break;
    }
    return 0;
}
