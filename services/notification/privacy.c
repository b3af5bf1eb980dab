/* What Ley 25.326 asks of the notification daemon beyond listing a
 * person's messages (list.c exports them): erasing what it holds about a
 * user when auth announces user.erasure_requested, and removing the texts
 * of messages older than the retention period.
 *
 * What the schema holds about a person (migrations/notification): in
 * notifications, the text as sent (body, which names the client), the
 * template's variables (vars: the client's id, a cancellation's free-text
 * reason), the last error (a provider's reply may quote the phone or the
 * address) and the provider's message id (the key to the provider's own
 * copy); in bookings, the client's, owner's and provider's account ids and
 * the same vars. The inbox holds only event ids and topics. The rows
 * themselves (id, template, status, times) stay: they say a message was
 * sent, not what it said or to whom it was addressed. */
#include <stdio.h>
#include <stdlib.h>

#include "bp.h"
#include "config.h"
#include "events.pb-c.h"
#include "inbox.h"
#include "log.h"
#include "notification.h"
#include "privacy.h"

/* ---- erasure ------------------------------------------------------------------------- */

/* The shop's messages about the person's bookings lose their text (it
 * names the client) and the client's traces in vars. Runs before the
 * bookings forget their client, which is how these messages are found. */
static const char SQL_ERASE_SHOP_MESSAGES[] =
    "UPDATE notification.notifications SET body = NULL, vars = vars - 'client_id' - 'reason',"
    " updated_at = now()"
    " WHERE booking_id IN (SELECT booking_id FROM notification.bookings WHERE client_id = $1)"
    " AND user_id <> $1 AND (body IS NOT NULL OR vars ? 'client_id' OR vars ? 'reason')";

/* The person's own messages: no text, variables, error or provider id
 * left, and what was still to be sent (including one a sender holds: its
 * outcome then finds the row no longer `sending` and is not recorded) is
 * cancelled. Rows already erased do not match, so a second erasure
 * changes nothing. */
static const char SQL_ERASE_OWN_MESSAGES[] =
    "UPDATE notification.notifications SET body = NULL, vars = '{}', last_error = NULL,"
    " provider_message_id = NULL, locked_until = NULL, updated_at = now(),"
    " status = CASE WHEN status IN ('scheduled', 'queued', 'sending') THEN 'cancelled'"
    "   ELSE status END"
    " WHERE user_id = $1 AND (body IS NOT NULL OR vars <> '{}'::jsonb OR last_error IS NOT NULL"
    "   OR provider_message_id IS NOT NULL OR status IN ('scheduled', 'queued', 'sending'))";

/* The bookings forget the person in whichever role they had; a client's
 * bookings also lose the client's traces in vars. */
static const char SQL_ERASE_BOOKINGS[] =
    "UPDATE notification.bookings SET"
    " vars = CASE WHEN client_id = $1 THEN vars - 'client_id' - 'reason' ELSE vars END,"
    " client_id = nullif(client_id, $1), owner_id = nullif(owner_id, $1),"
    " provider_user_id = nullif(provider_user_id, $1), updated_at = now()"
    " WHERE client_id = $1 OR owner_id = $1 OR provider_user_id = $1";

static int erase(bp_call *call, bp_db *db, const char *sql, const char *user_id, long *n)
{
    const char *params[] = {user_id};
    PGresult *res = bp_db_select(db, sql, 1, params, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    *n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

int notification_erase_user(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    const Bp__Events__UserEvent *u = (const Bp__Events__UserEvent *)bp_inbox_payload(
        call, ev, &bp__events__user_event__descriptor);
    if (u == NULL || u->user_id == NULL || !bp_uuid_valid(u->user_id)) {
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "event %s (%s): no user to erase", ev->id,
               ev->topic);
        return 0;
    }
    long shop = 0, own = 0, bookings = 0;
    int rv = erase(call, db, SQL_ERASE_SHOP_MESSAGES, u->user_id, &shop);
    if (rv == 0)
        rv = erase(call, db, SQL_ERASE_OWN_MESSAGES, u->user_id, &own);
    if (rv == 0)
        rv = erase(call, db, SQL_ERASE_BOOKINGS, u->user_id, &bookings);
    if (rv == 0)
        bp_log(BP_LOG_INFO, bp_call_request_id(call),
               "erasure of user %s (request %s): %ld messages, %ld shop messages, %ld bookings",
               u->user_id, u->request_id != NULL ? u->request_id : "", own, shop, bookings);
    return rv;
}

/* ---- retention ----------------------------------------------------------------------- */

#define RETENTION_BATCH  1000 /* rows per statement */
#define RETENTION_ROUNDS 5    /* statements per round at the most */

static struct {
    int days;
    int interval_ms;
} ret;

void notification_privacy_load(void)
{
    ret.days = (int)bp_config_int("NOTIFICATION_BODY_RETENTION_DAYS", 90, 1, 3650);
    ret.interval_ms =
        (int)bp_config_int("NOTIFICATION_RETENTION_INTERVAL_MS", 3600000, 100, 86400000);
}

int notification_retention_interval_ms(void)
{
    return ret.interval_ms;
}

/* One batch of texts due, oldest first. The inner predicate is that of
 * notifications_retention_idx (migrations/notification/0003), so the batch
 * is found by index however large the table; rows still to be sent keep
 * the vars they will be rendered from. Each statement commits on its own:
 * no lock is held between batches. */
static const char SQL_RETENTION[] =
    "UPDATE notification.notifications SET body = NULL, vars = '{}', last_error = NULL"
    " WHERE id IN (SELECT id FROM notification.notifications"
    "   WHERE status NOT IN ('scheduled', 'queued', 'sending')"
    "   AND (body IS NOT NULL OR last_error IS NOT NULL OR vars <> '{}'::jsonb)"
    "   AND created_at < now() - $1::int * interval '1 day'"
    "   ORDER BY created_at LIMIT $2::int FOR UPDATE SKIP LOCKED)"
    " AND status NOT IN ('scheduled', 'queued', 'sending')";

int notification_retention(bp_db *db, bp_kv *kv)
{
    (void)kv;
    char days[12], batch[12];
    snprintf(days, sizeof days, "%d", ret.days);
    snprintf(batch, sizeof batch, "%d", RETENTION_BATCH);
    const char *params[] = {days, batch};
    uint64_t removed = 0;
    int rv = 0;
    for (int round = 0; round < RETENTION_ROUNDS; round++) {
        PGresult *res = bp_db_select(db, SQL_RETENTION, 2, params, NULL);
        if (res == NULL) {
            rv = BP_EIO;
            break;
        }
        long n = strtol(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        removed += n > 0 ? (uint64_t)n : 0;
        if (n < RETENTION_BATCH)
            break;
    }
    /* What was removed counts even when a later batch failed. */
    if (rv == 0 || removed > 0)
        bp_retention_removed("notification_bodies", removed);
    return rv;
}
