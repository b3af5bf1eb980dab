/* The audit log (Ley 25.326): read back for admins and for a person's own
 * export, and fed by the audit.recorded events of the services that see
 * accesses auth does not (an owner reading a client's booking). The table
 * is append-only (migrations/auth/0003): nothing here, nor anywhere else
 * but the retention job, changes or deletes a record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "auth.pb-c.h"
#include "bp.h"
#include "config.h"
#include "events.pb-c.h"
#include "inbox.h"
#include "log.h"
#include "audit.h"
#include "reply.h"
#include "store.h"
#include "tz.h"

#define AUDIT_PAGE_DEFAULT 100

static const char SQL_ENTRIES[] =
    "select id, (extract(epoch from at) * 1000)::bigint, coalesce(actor_id::text, ''),"
    " coalesce(subject_id::text, ''), action, coalesce(request_id, ''), coalesce(host(ip), ''),"
    " details::text, coalesce(actor_role, ''), service"
    " from auth.audit_log"
    " where (subject_id = $1::uuid or actor_id = $1::uuid)"
    " and ($2::bigint = 0 or at >= to_timestamp($2::bigint / 1000.0))"
    " and ($3::bigint = 0 or at < to_timestamp($3::bigint / 1000.0))"
    " and id > $4::bigint order by id limit $5::int";

int auth_audit_entries(bp_call *call, const char *user_id, int64_t from_ms, int64_t to_ms,
                       int64_t after_id, int limit, Bp__Auth__AuditEntry ***items, size_t *n,
                       bool *more)
{
    char from[24], to[24], after[24], lim[16];
    snprintf(from, sizeof from, "%lld", (long long)from_ms);
    snprintf(to, sizeof to, "%lld", (long long)to_ms);
    snprintf(after, sizeof after, "%lld", (long long)after_id);
    snprintf(lim, sizeof lim, "%d", limit + 1);
    const char *p[] = {user_id, from, to, after, lim};
    PGresult *r =
        bp_db_select(bp_call_worker(call)->db, SQL_ENTRIES, 5, p, bp_call_request_id(call));
    if (r == NULL)
        return BP_EIO;
    int rows = PQntuples(r);
    *more = rows > limit;
    if (rows > limit)
        rows = limit;
    *items = bp_arena_alloc(bp_call_arena(call), sizeof **items * (size_t)(rows + 1));
    if (*items == NULL) {
        PQclear(r);
        return BP_ENOMEM;
    }
    for (int i = 0; i < rows; i++) {
        Bp__Auth__AuditEntry *e =
            (Bp__Auth__AuditEntry *)bp_call_message(call, &bp__auth__audit_entry__descriptor);
        if (e == NULL) {
            PQclear(r);
            return BP_ENOMEM;
        }
        e->has_id = 1;
        e->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        e->at = auth_reply_time(call, strtoll(PQgetvalue(r, i, 1), NULL, 10));
        e->actor_id = auth_reply_text(call, r, i, 2);
        e->subject_id = auth_reply_text(call, r, i, 3);
        e->action = bp_call_strdup(call, PQgetvalue(r, i, 4));
        e->request_id = auth_reply_text(call, r, i, 5);
        e->ip = auth_reply_text(call, r, i, 6);
        e->details = bp_call_strdup(call, PQgetvalue(r, i, 7));
        e->actor_role = auth_reply_text(call, r, i, 8);
        e->service = bp_call_strdup(call, PQgetvalue(r, i, 9));
        (*items)[i] = e;
    }
    *n = (size_t)rows;
    PQclear(r);
    return 0;
}

/* A bound of the query: RFC 3339, or a date (YYYY-MM-DD) in TIMEZONE, whose
 * start it means, or for the upper bound its end (the date is included).
 * Unset or empty leaves *ms at 0. Returns false after answering 400. */
static bool parse_bound(bp_call *call, const char *field, const char *s, bool end, int64_t *ms)
{
    *ms = 0;
    if (s == NULL || s[0] == '\0')
        return true;
    int32_t day;
    const bp_tz *tz;
    int64_t utc_s;
    if (bp_time_parse(s, ms) == 0)
        return true;
    if (bp_date_parse(s, &day) == 0 &&
        bp_tz_load(bp_config_str("TIMEZONE", "America/Argentina/Buenos_Aires"), &tz) == 0 &&
        bp_tz_local_to_utc_end(tz, (int64_t)(day + (end ? 1 : 0)) * 86400, &utc_s) == 0) {
        *ms = utc_s * 1000;
        return true;
    }
    bp_call_fail_invalid(call, field,
                         "Debe ser una fecha (AAAA-MM-DD) o una fecha y hora RFC 3339.");
    return false;
}

int auth_handle_list_audit(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    const Bp__Auth__AuditRequest *req = (const Bp__Auth__AuditRequest *)reqm;
    Bp__Auth__AuditList *resp = (Bp__Auth__AuditList *)respm;
    if (strcmp(bp_call_role(call), "admin") != 0)
        return bp_call_fail_forbidden(call);
    if (!bp_call_check_uuid(call, "user_id", req->user_id))
        return BP_EREPLIED;
    int64_t from_ms, to_ms, after = 0;
    if (!parse_bound(call, "from", req->from, false, &from_ms) ||
        !parse_bound(call, "to", req->to, true, &to_ms))
        return BP_EREPLIED;
    if (from_ms != 0 && to_ms != 0 && to_ms <= from_ms)
        return bp_call_fail_invalid(call, "to", "Debe ser posterior a from.");
    int limit = req->has_limit ? req->limit : AUDIT_PAGE_DEFAULT;
    if (limit < 1 || limit > AUTH_AUDIT_PAGE_MAX)
        return bp_call_fail_invalid(call, "limit", "Debe estar entre 1 y 500.");
    if (req->cursor != NULL && req->cursor[0] != '\0') {
        char *end;
        after = strtoll(req->cursor, &end, 10);
        if (*end != '\0' || after < 0)
            return bp_call_fail_invalid(call, "cursor", "No es un cursor de esta lista.");
    }

    /* Reading someone's record is itself an access to their data. */
    auth_origin origin = auth_origin_of(call);
    json_t *details = json_pack("{s:s?, s:s?}", "from", req->from, "to", req->to);
    int rv = auth_store_audit(bp_call_worker(call)->db, bp_call_user_id(call), req->user_id,
                              "audit_read", &origin, details);
    json_decref(details);
    bool more = false;
    if (rv == 0)
        rv = auth_audit_entries(call, req->user_id, from_ms, to_ms, after, limit, &resp->items,
                                &resp->n_items, &more);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    if (more && resp->n_items > 0)
        resp->next_cursor =
            bp_call_printf(call, "%lld", (long long)resp->items[resp->n_items - 1]->id);
    return 0;
}

/* ---- audit.recorded -------------------------------------------------------- */

static const char SQL_RECORD[] =
    "insert into auth.audit_log"
    " (at, actor_id, subject_id, action, request_id, ip, details, actor_role, service)"
    " values (coalesce(to_timestamp($1::bigint / 1000.0), now()), $2::uuid, $3::uuid,"
    " left($4, 64), left($5, 128), $6::inet, $7::jsonb, left($8, 16), left($9, 32))";

/* A text that is not a JSON object becomes {} rather than cost the record. */
static char *details_of(const char *text)
{
    json_t *j = text != NULL ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    char *out = json_is_object(j) ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return out != NULL ? out : strdup("{}");
}

static int on_audit_recorded(bp_call *call, bp_db *db, const Bp__Events__Event *ev)
{
    const Bp__Events__AuditEvent *a = (const Bp__Events__AuditEvent *)bp_inbox_payload(
        call, ev, &bp__events__audit_event__descriptor);
    if (a == NULL)
        return 0;
    for (size_t i = 0; i < a->n_records; i++) {
        const Bp__Events__AuditRecord *rec = a->records[i];
        if (rec->action == NULL || rec->action[0] == '\0' || !bp_uuid_valid(rec->subject_id)) {
            bp_log_warn("audit.recorded %s: record %zu has no action or subject; skipped", ev->id,
                        i);
            continue;
        }
        int64_t at_ms = 0;
        char at[24];
        if (rec->at == NULL || bp_time_parse(rec->at, &at_ms) != 0)
            at_ms = 0;
        snprintf(at, sizeof at, "%lld", (long long)at_ms);
        char *details = details_of(rec->details);
        if (details == NULL)
            return BP_ENOMEM;
        const char *p[] = {
            at_ms != 0 ? at : NULL,
            bp_uuid_valid(rec->actor_id) ? rec->actor_id : NULL,
            rec->subject_id,
            rec->action,
            rec->request_id != NULL && rec->request_id[0] != '\0' ? rec->request_id : NULL,
            auth_store_ip(rec->ip),
            details,
            rec->actor_role != NULL && rec->actor_role[0] != '\0' ? rec->actor_role : NULL,
            ev->producer != NULL && ev->producer[0] != '\0' ? ev->producer : "unknown",
        };
        PGresult *r = bp_db_select(db, SQL_RECORD, 9, p, bp_call_request_id(call));
        free(details);
        if (r == NULL)
            return BP_EIO;
        PQclear(r);
    }
    return 0;
}

static const bp_event_handler event_handlers[] = {
    {"audit.recorded", on_audit_recorded},
};

int auth_handle_deliver(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    return bp_inbox_deliver(call, req, resp, event_handlers, BP_COUNTOF(event_handlers));
}
