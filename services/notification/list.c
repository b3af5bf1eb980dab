/* ListNotifications: the caller's messages, newest first, a page at a time
 * (the cursor is the last row's creation time and id). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "config.h"
#include "notification.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     200

static const char SQL_LIST[] =
    "SELECT id, coalesce(channel, ''), template, status,"
    " (extract(epoch FROM created_at) * 1e6)::int8,"
    " coalesce((extract(epoch FROM sent_at) * 1000)::int8, 0),"
    " (extract(epoch FROM due_at) * 1000)::int8, coalesce(booking_id::text, ''), attempts,"
    " coalesce(last_error, ''), coalesce((extract(epoch FROM delivered_at) * 1000)::int8, 0)"
    " FROM notification.notifications"
    " WHERE user_id = $1 AND ($2::uuid IS NULL OR booking_id = $2::uuid)"
    " AND ($3::int8 IS NULL OR (created_at, id) < (to_timestamp($3::int8 / 1e6), $4::uuid))"
    " ORDER BY created_at DESC, id DESC LIMIT $5::int";

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
    int n = PQntuples(res), shown = n > limit ? limit : n, rv = 0;
    out->items =
        shown > 0 ? bp_arena_alloc(bp_call_arena(call), sizeof *out->items * (size_t)shown) : NULL;
    for (int i = 0; i < shown; i++) {
        Bp__Notification__Notification *m = out->items != NULL ? row(call, res, i) : NULL;
        if (m == NULL) {
            rv = bp_call_fail_internal(call, BP_ENOMEM);
            break;
        }
        out->items[out->n_items++] = m;
    }
    if (rv == 0 && n > limit)
        out->next_cursor = bp_call_printf(call, "%s:%s", PQgetvalue(res, limit - 1, 4),
                                          PQgetvalue(res, limit - 1, 0));
    PQclear(res);
    return rv;
}
