/* The caller's messages: ListNotifications, newest first, a page at a time
 * (the cursor is the last row's creation time and id), and ExportUser, the
 * same rows with the text as sent, for auth's export (Ley 25.326). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "config.h"
#include "log.h"
#include "notification.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     200

/* Most messages one export carries, newest first. Texts are kept 90 days
 * and a client gets about five messages a booking, so no real account
 * comes near it; it keeps the reply (a body is at most a few kB) well
 * inside BP_RPC_MAX_MSG. */
#define EXPORT_MAX 2000

/* The columns row() reads, in its order. */
#define SQL_COLUMNS                                                                                \
    "SELECT id, coalesce(channel, ''), template, status,"                                          \
    " (extract(epoch FROM created_at) * 1e6)::int8,"                                               \
    " coalesce((extract(epoch FROM sent_at) * 1000)::int8, 0),"                                    \
    " (extract(epoch FROM due_at) * 1000)::int8, coalesce(booking_id::text, ''), attempts,"        \
    " coalesce(last_error, ''), coalesce((extract(epoch FROM delivered_at) * 1000)::int8, 0)"

static const char SQL_LIST[] = SQL_COLUMNS
    " FROM notification.notifications"
    " WHERE user_id = $1 AND ($2::uuid IS NULL OR booking_id = $2::uuid)"
    " AND ($3::int8 IS NULL OR (created_at, id) < (to_timestamp($3::int8 / 1e6), $4::uuid))"
    " ORDER BY created_at DESC, id DESC LIMIT $5::int";

/* The text is the column after row()'s. */
static const char SQL_EXPORT[] = SQL_COLUMNS ", body FROM notification.notifications"
                                             " WHERE user_id = $1"
                                             " ORDER BY created_at DESC, id DESC LIMIT $2::int";
#define EXPORT_BODY_COLUMN 11

static char *text_or_null(bp_call *call, const char *s)
{
    return *s != '\0' ? bp_call_strdup(call, s) : NULL;
}

/* "<created_at in µs>:<id>" into its parts; false when malformed. */
static bool cursor_parse(const char *c, char micros[24], char id[37])
{
    const char *colon = strchr(c, ':');
    if (colon == NULL || colon == c || (size_t)(colon - c) >= 24 || !bp_uuid_valid(colon + 1))
        return false;
    for (const char *p = c; p < colon; p++)
        if (*p < '0' || *p > '9')
            return false;
    snprintf(micros, 24, "%.*s", (int)(colon - c), c);
    snprintf(id, 37, "%s", colon + 1);
    return true;
}

static Bp__Notification__Notification *row(bp_call *call, const PGresult *res, int i)
{
    Bp__Notification__Notification *n = (Bp__Notification__Notification *)bp_call_message(
        call, &bp__notification__notification__descriptor);
    if (n == NULL)
        return NULL;
    n->id = bp_call_strdup(call, PQgetvalue(res, i, 0));
    n->channel = text_or_null(call, PQgetvalue(res, i, 1));
    n->template_ = bp_call_strdup(call, PQgetvalue(res, i, 2));
    n->status = bp_call_strdup(call, PQgetvalue(res, i, 3));
    n->created_at = bp_call_time(call, strtoll(PQgetvalue(res, i, 4), NULL, 10) / 1000, NULL);
    n->sent_at = bp_call_time(call, strtoll(PQgetvalue(res, i, 5), NULL, 10), NULL);
    n->due_at = bp_call_time(call, strtoll(PQgetvalue(res, i, 6), NULL, 10), NULL);
    n->booking_id = text_or_null(call, PQgetvalue(res, i, 7));
    n->has_attempts = true;
    n->attempts = (int32_t)strtol(PQgetvalue(res, i, 8), NULL, 10);
    n->last_error = text_or_null(call, PQgetvalue(res, i, 9));
    n->delivered_at = bp_call_time(call, strtoll(PQgetvalue(res, i, 10), NULL, 10), NULL);
    return n->id != NULL && n->template_ != NULL && n->status != NULL ? n : NULL;
}

/* The first n rows of res into a new array of *items (the call's arena),
 * each with its text from column body_col when that is >= 0 and not NULL.
 * Returns 0, or the answer to an allocation failure. */
static int rows(bp_call *call, const PGresult *res, int n, int body_col,
                Bp__Notification__Notification ***items, size_t *n_items)
{
    *items = n > 0 ? bp_arena_alloc(bp_call_arena(call), sizeof **items * (size_t)n) : NULL;
    for (int i = 0; i < n; i++) {
        Bp__Notification__Notification *m = *items != NULL ? row(call, res, i) : NULL;
        if (m != NULL && body_col >= 0 && !PQgetisnull(res, i, body_col) &&
            (m->body = bp_call_strdup(call, PQgetvalue(res, i, body_col))) == NULL)
            m = NULL;
        if (m == NULL)
            return bp_call_fail_internal(call, BP_ENOMEM);
        (*items)[(*n_items)++] = m;
    }
    return 0;
}

NOTIFICATION_HANDLER(list)
{
    const Bp__Notification__ListNotificationsRequest *in =
        (const Bp__Notification__ListNotificationsRequest *)req;
    Bp__Notification__NotificationList *out = (Bp__Notification__NotificationList *)resp;
    int limit = in->has_limit ? in->limit : PAGE_DEFAULT;
    if (limit < 1 || limit > PAGE_MAX)
        return bp_call_fail_invalid(call, "limit", "limit tiene que estar entre 1 y 200.");
    const char *booking = in->booking_id != NULL && *in->booking_id != '\0' ? in->booking_id : NULL;
    if (booking != NULL && !bp_call_check_uuid(call, "booking_id", booking))
        return BP_EREPLIED;
    char micros[24], after_id[37];
    bool paged = in->cursor != NULL && *in->cursor != '\0';
    if (paged && !cursor_parse(in->cursor, micros, after_id))
        return bp_call_fail_invalid(call, "cursor", "El cursor no es válido.");

    char lim[12];
    snprintf(lim, sizeof lim, "%d", limit + 1);
    const char *params[] = {bp_call_user_id(call), booking, paged ? micros : NULL,
                            paged ? after_id : NULL, lim};
    PGresult *res = bp_db_query(bp_call_worker(call)->db, SQL_LIST, 5, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    int n = PQntuples(res);
    int rv = rows(call, res, n > limit ? limit : n, -1, &out->items, &out->n_items);
    if (rv == 0 && n > limit)
        out->next_cursor = bp_call_printf(call, "%s:%s", PQgetvalue(res, limit - 1, 4),
                                          PQgetvalue(res, limit - 1, 0));
    PQclear(res);
    return rv;
}

NOTIFICATION_HANDLER(export)
{
    (void)req;
    Bp__Notification__UserData *out = (Bp__Notification__UserData *)resp;
    char lim[12];
    snprintf(lim, sizeof lim, "%d", EXPORT_MAX + 1);
    const char *params[] = {bp_call_user_id(call), lim};
    PGresult *res = bp_db_query(bp_call_worker(call)->db, SQL_EXPORT, 2, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    int n = PQntuples(res);
    if (n > EXPORT_MAX)
        bp_log(BP_LOG_WARN, bp_call_request_id(call),
               "export of user %s: only the newest %d messages", bp_call_user_id(call), EXPORT_MAX);
    int rv = rows(call, res, n > EXPORT_MAX ? EXPORT_MAX : n, EXPORT_BODY_COLUMN,
                  &out->notifications, &out->n_notifications);
    PQclear(res);
    return rv;
}
