/* Ley 25.326 in the auth daemon: the export of everything every service
 * holds about the caller (gathered over the bus from each owner, at once),
 * the erasure (credentials and sessions gone now, the rest through the
 * outbox to every service, its progress tracked per service against the
 * law's deadline), and the data-subject requests an admin follows. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "auth.pb-c.h"
#include "booking.pb-c.h"
#include "bp.h"
#include "config.h"
#include "events.pb-c.h"
#include "log.h"
#include "notification.pb-c.h"
#include "outbox.h"
#include "payment.pb-c.h"
#include "privacy.h"
#include "audit.h"
#include "profiles.h"
#include "reply.h"
#include "sessions.h"
#include "store.h"
#include "tz.h"

/* The law's term for an erasure: 5 business days (Ley 25.326, art. 16). */
#define ERASURE_BUSINESS_DAYS 5

/* Time kept back from the caller's deadline for the answer itself. */
#define DEADLINE_MARGIN_MS 200

/* Most consent changes an export carries. */
#define CONSENTS_EXPORT_MAX 10000

/* ---- calls to the other owners, all at once ------------------------------ */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
} gather_state;

typedef struct {
    bp_client *client;
    const char *method;
    const uint8_t *body;
    size_t body_len;
    const ProtobufCMessageDescriptor *reply_desc;
    gather_state *g;
    int rv;
    Bp__Rpc__Reply *reply;
    ProtobufCMessage *msg; /* decoded into the call's arena */
} peer_call;

static void peer_done(void *arg, int rv, Bp__Rpc__Reply *reply)
{
    peer_call *p = arg;
    pthread_mutex_lock(&p->g->mu);
    p->rv = rv;
    p->reply = reply;
    p->g->pending--;
    pthread_cond_signal(&p->g->cv);
    pthread_mutex_unlock(&p->g->mu);
}

/* Milliseconds left of the call's deadline for calls of its own, at most
 * cap_ms (cap_ms when it has none), at least 100. */
static int budget_ms(bp_call *call, int cap_ms)
{
    int64_t deadline = bp_call_deadline_ms(call);
    int64_t left = deadline > 0 ? deadline - bp_now_ms() - DEADLINE_MARGIN_MS : cap_ms;
    if (left > cap_ms)
        left = cap_ms;
    return left < 100 ? 100 : (int)left;
}

/* Makes the n calls in parallel on behalf of the caller (its principal and
 * request id travel with them) and waits for all. On 0 every peers[i].msg is
 * set; otherwise *failed names the first peer that failed and the BP_E*
 * code (or BP_EPROTO for an error answer) is returned. */
static int gather(bp_call *call, peer_call *peers, size_t n, int timeout_ms, size_t *failed)
{
    gather_state g = {.pending = (int)n};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    for (size_t i = 0; i < n; i++) {
        peers[i].g = &g;
        peers[i].rv = BP_EUNAVAIL;
        peers[i].reply = NULL;
        peers[i].msg = NULL;
        bp_rpc_args a = {
            .method = peers[i].method,
            .body = peers[i].body,
            .body_len = peers[i].body_len,
            .request_id = bp_call_request_id(call),
            .user_id = bp_call_user_id(call),
            .role = bp_call_role(call),
            .session_id = bp_call_session_id(call),
            .client_ip = bp_call_client_ip(call),
            .timeout_ms = timeout_ms,
        };
        /* done runs exactly once, also when the call cannot start. */
        (void)bp_client_call_async(peers[i].client, &a, peer_done, &peers[i]);
    }
    pthread_mutex_lock(&g.mu);
    while (g.pending > 0)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);

    int rv = 0;
    ProtobufCAllocator alloc;
    bp_arena_allocator(bp_call_arena(call), &alloc);
    for (size_t i = 0; i < n; i++) {
        peer_call *p = &peers[i];
        int r = p->rv;
        if (r == 0 && (p->reply->status >= 400 || p->reply->status == 0))
            r = BP_EPROTO;
        if (r == 0) {
            p->msg = protobuf_c_message_unpack(p->reply_desc, &alloc,
                                               p->reply->has_body ? p->reply->body.len : 0,
                                               p->reply->has_body ? p->reply->body.data : NULL);
            if (p->msg == NULL)
                r = BP_EPROTO;
        }
        if (r != 0 && rv == 0) {
            rv = r;
            *failed = i;
        }
        bp_rpc_reply_free(p->reply);
        p->reply = NULL;
    }
    return rv;
}

/* ---- export ---------------------------------------------------------------- */

/* Runs a statement of the call's worker that either works or fails:
 * 0 or BP_EIO (logged). */
static int run(bp_call *call, const char *sql, int n, const char *const *p)
{
    PGresult *r = bp_db_select(bp_call_worker(call)->db, sql, n, p, bp_call_request_id(call));
    int rv = r != NULL ? 0 : BP_EIO;
    PQclear(r);
    return rv;
}

/* The caller's live account, or the 401 for one that is gone. */
static int caller_account(bp_call *call, auth_user *u)
{
    int rv = auth_store_user_by_id(bp_call_worker(call)->db, bp_call_user_id(call), u);
    if (rv == BP_ENOTFOUND)
        return bp_call_fail(call, 401, "unauthorized", NULL,
                            "Tu cuenta ya no existe; iniciá sesión de nuevo.");
    return rv == 0 ? 0 : bp_call_fail_internal(call, rv);
}

static const char SQL_CONSENTS[] =
    "select kind, granted, coalesce(version, ''),"
    " (extract(epoch from recorded_at) * 1000)::bigint, coalesce(host(ip), ''),"
    " coalesce(user_agent, ''), coalesce(request_id, '')"
    " from auth.consents where user_id = $1::uuid order by recorded_at, id limit $2";

static int consent_history(bp_call *call, const char *user_id, Bp__Auth__UserExport *out)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", CONSENTS_EXPORT_MAX);
    const char *p[] = {user_id, limit};
    PGresult *r =
        bp_db_select(bp_call_worker(call)->db, SQL_CONSENTS, 2, p, bp_call_request_id(call));
    if (r == NULL)
        return BP_EIO;
    int n = PQntuples(r);
    out->consents = bp_arena_alloc(bp_call_arena(call), sizeof *out->consents * (size_t)(n + 1));
    if (out->consents == NULL) {
        PQclear(r);
        return BP_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        Bp__Auth__ConsentRecord *c =
            (Bp__Auth__ConsentRecord *)bp_call_message(call, &bp__auth__consent_record__descriptor);
        if (c == NULL) {
            PQclear(r);
            return BP_ENOMEM;
        }
        c->kind = bp_call_strdup(call, PQgetvalue(r, i, 0));
        c->has_granted = 1;
        c->granted = PQgetvalue(r, i, 1)[0] == 't';
        c->version = auth_reply_text(call, r, i, 2);
        c->recorded_at = auth_reply_time(call, strtoll(PQgetvalue(r, i, 3), NULL, 10));
        c->ip = auth_reply_text(call, r, i, 4);
        c->user_agent = auth_reply_text(call, r, i, 5);
        c->request_id = auth_reply_text(call, r, i, 6);
        out->consents[i] = c;
    }
    out->n_consents = (size_t)n;
    PQclear(r);
    return 0;
}

/* Records the export as a data-subject request (done at once) and in the
 * audit log, before the audit part is read so that it shows this one too. */
static int record_export(bp_call *call, const char *user_id)
{
    bp_db *db = bp_call_worker(call)->db;
    auth_origin origin = auth_origin_of(call);
    char id[37];
    bp_uuid(id);
    const char *p[] = {id, user_id, bp_call_request_id(call)};
    json_t *details = json_pack("{s:s}", "data_request_id", id);
    int rv = bp_db_begin(db) == 0 ? 0 : BP_EIO;
    if (rv == 0)
        rv = run(call,
                 "insert into auth.data_requests"
                 " (id, user_id, kind, status, completed_at, request_id)"
                 " values ($1::uuid, $2::uuid, 'export', 'done', now(), left($3, 128))",
                 3, p);
    return auth_store_audit_commit(db, rv, user_id, user_id, "export", &origin, details);
}

/* What each owner calls its part, for the 503 a person reads. */
static const char *const PART_NAMES[] = {"tus reservas", "tus pagos", "tus mensajes"};

int auth_handle_export_me(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    (void)reqm;
    Bp__Auth__UserExport *resp = (Bp__Auth__UserExport *)respm;
    const auth_ctx *ctx = auth_ctx_of(call);
    bp_db *db = bp_call_worker(call)->db;
    const char *user_id = bp_call_user_id(call);
    auth_user u;
    int rv = caller_account(call, &u);
    if (rv != 0)
        return rv;

    peer_call peers[] = {
        {.client = ctx->booking,
         .method = "ExportUser",
         .reply_desc = &bp__booking__user_data__descriptor},
        {.client = ctx->payment,
         .method = "ExportUser",
         .reply_desc = &bp__payment__user_data__descriptor},
        {.client = ctx->notification,
         .method = "ExportUser",
         .reply_desc = &bp__notification__user_data__descriptor},
    };
    size_t failed = 0;
    rv = gather(call, peers, BP_COUNTOF(peers), budget_ms(call, 10000), &failed);
    if (rv != 0) {
        bp_log(BP_LOG_WARN, bp_call_request_id(call), "export of %s: %s did not answer: %s",
               user_id, bp_client_service(peers[failed].client), bp_strerror(rv));
        return bp_call_fail(call, 503, "unavailable", NULL,
                            "No pudimos reunir %s en este momento; probá de nuevo en unos "
                            "minutos.",
                            PART_NAMES[failed]);
    }
    rv = record_export(call, user_id);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);

    const Bp__Booking__UserData *booking = (const Bp__Booking__UserData *)peers[0].msg;
    const Bp__Payment__UserData *payment = (const Bp__Payment__UserData *)peers[1].msg;
    const Bp__Notification__UserData *notes = (const Bp__Notification__UserData *)peers[2].msg;
    resp->bookings = booking->bookings;
    resp->n_bookings = booking->n_bookings;
    resp->providers = booking->providers;
    resp->n_providers = booking->n_providers;
    resp->shops = booking->shops;
    resp->n_shops = booking->n_shops;
    resp->time_off = booking->time_off;
    resp->n_time_off = booking->n_time_off;
    resp->payments = payment->payments;
    resp->n_payments = payment->n_payments;
    resp->notifications = notes->notifications;
    resp->n_notifications = notes->n_notifications;

    auth_consents now;
    bool more = false;
    rv = auth_store_consents_get(db, user_id, &now);
    if (rv == 0)
        rv = consent_history(call, user_id, resp);
    if (rv == 0)
        rv = auth_audit_entries(call, user_id, 0, 0, 0, AUTH_AUDIT_EXPORT_MAX, &resp->audit,
                                &resp->n_audit, &more);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    resp->user = auth_reply_user(call, &u);
    resp->current_consents = auth_reply_consents(call, &now);
    resp->exported_at = auth_reply_time(call, bp_now_ms());
    if (resp->user == NULL || resp->current_consents == NULL || resp->exported_at == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    return 0;
}

/* ---- the erasure deadline ---------------------------------------------------- */

/* Adds the national holidays of year (except the optional no_laborable
 * days, on which most work) to closed, asking the booking daemon, which
 * owns the calendar. Returns 0 or the call's failure. */
static int add_holidays(bp_call *call, int year, int32_t *closed, size_t cap, size_t *n)
{
    const auth_ctx *ctx = auth_ctx_of(call);
    Bp__Booking__HolidaysRequest req = BP__BOOKING__HOLIDAYS_REQUEST__INIT;
    req.has_year = 1;
    req.year = year;
    bp_rpc_args a = {
        .method = "ListHolidays",
        .request_id = bp_call_request_id(call),
        .timeout_ms = budget_ms(call, 1000),
    };
    ProtobufCMessage *resp = NULL;
    int status = 0;
    char err[64];
    int rv = bp_client_call_msg(ctx->booking, &a, &req.base, &bp__booking__holiday_list__descriptor,
                                &resp, &status, err, sizeof err);
    if (rv != 0)
        return rv;
    if (status >= 400 || resp == NULL) {
        if (resp != NULL)
            protobuf_c_message_free_unpacked(resp, NULL);
        return BP_EPROTO;
    }
    const Bp__Booking__HolidayList *list = (const Bp__Booking__HolidayList *)resp;
    for (size_t i = 0; i < list->n_items && *n < cap; i++) {
        int32_t day;
        const Bp__Booking__Holiday *h = list->items[i];
        if (h->date == NULL || bp_date_parse(h->date, &day) != 0 ||
            (h->kind != NULL && strcmp(h->kind, "no_laborable") == 0))
            continue;
        closed[(*n)++] = day;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

static bool is_closed(const int32_t *closed, size_t n, int32_t day)
{
    for (size_t i = 0; i < n; i++)
        if (closed[i] == day)
            return true;
    return false;
}

/* The end (Unix ms) of the 5th business day after the day of now_ms in
 * TIMEZONE: weekends and national holidays do not count. When the booking
 * daemon cannot tell the holidays, weekends alone are skipped, which can
 * only put the deadline earlier, and *basis says so. */
static int erasure_deadline(bp_call *call, int64_t now_ms, int64_t *out, const char **basis)
{
    const bp_tz *tz;
    if (bp_tz_load(bp_config_str("TIMEZONE", "America/Argentina/Buenos_Aires"), &tz) != 0)
        return BP_EINVAL;
    int32_t today = bp_tz_local_day(tz, now_ms / 1000);
    int y, m, d;
    bp_civil_from_days(today, &y, &m, &d);
    int32_t closed[128];
    size_t n = 0;
    *basis = "holidays";
    /* Five business days never reach further than the next year. */
    if (add_holidays(call, y, closed, BP_COUNTOF(closed), &n) != 0 ||
        (m == 12 && add_holidays(call, y + 1, closed, BP_COUNTOF(closed), &n) != 0)) {
        bp_log(BP_LOG_WARN, bp_call_request_id(call),
               "erasure deadline: the holiday calendar is not available; weekends only");
        *basis = "weekends_only";
    }
    int32_t day = today;
    for (int counted = 0; counted < ERASURE_BUSINESS_DAYS;) {
        day++;
        if (bp_iso_weekday(day) <= 5 && !is_closed(closed, n, day))
            counted++;
    }
    int64_t end_s;
    if (bp_tz_local_to_utc_end(tz, (int64_t)(day + 1) * 86400, &end_s) != 0)
        return BP_EINVAL;
    *out = end_s * 1000;
    return 0;
}

/* ---- data-subject requests ------------------------------------------------- */

static const char SQL_REQUEST[] =
    "select id::text, user_id::text, kind, status,"
    " (extract(epoch from requested_at) * 1000)::bigint,"
    " coalesce((extract(epoch from deadline) * 1000)::bigint, 0),"
    " coalesce((extract(epoch from completed_at) * 1000)::bigint, 0), services::text"
    " from auth.data_requests where id = $1::uuid";

/* services ({"booking": "2026-...", "payment": null}) as ServiceProgress
 * items. */
static int progress_of(bp_call *call, const char *services, Bp__Auth__DataRequest *m)
{
    json_t *obj = json_loads(services, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return 0;
    }
    size_t n = json_object_size(obj), i = 0;
    m->services = bp_arena_alloc(bp_call_arena(call), sizeof *m->services * (n + 1));
    if (m->services == NULL) {
        json_decref(obj);
        return BP_ENOMEM;
    }
    const char *name;
    json_t *at;
    json_object_foreach(obj, name, at)
    {
        Bp__Auth__ServiceProgress *s = (Bp__Auth__ServiceProgress *)bp_call_message(
            call, &bp__auth__service_progress__descriptor);
        if (s == NULL) {
            json_decref(obj);
            return BP_ENOMEM;
        }
        int64_t ms = 0;
        s->service = bp_call_strdup(call, name);
        s->status = json_is_string(at) ? "done" : "pending";
        if (json_is_string(at) && bp_time_parse(json_string_value(at), &ms) == 0)
            s->completed_at = auth_reply_time(call, ms);
        m->services[i++] = s;
    }
    m->n_services = i;
    json_decref(obj);
    return 0;
}

/* Reads data request id into *out (the call's arena). BP_ENOTFOUND when
 * there is none. */
static int load_request(bp_call *call, const char *id, Bp__Auth__DataRequest **out)
{
    const char *p[] = {id};
    PGresult *r =
        bp_db_select(bp_call_worker(call)->db, SQL_REQUEST, 1, p, bp_call_request_id(call));
    if (r == NULL)
        return BP_EIO;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return BP_ENOTFOUND;
    }
    Bp__Auth__DataRequest *m =
        (Bp__Auth__DataRequest *)bp_call_message(call, &bp__auth__data_request__descriptor);
    int rv = m != NULL ? 0 : BP_ENOMEM;
    if (rv == 0) {
        m->request_id = bp_call_strdup(call, PQgetvalue(r, 0, 0));
        m->user_id = bp_call_strdup(call, PQgetvalue(r, 0, 1));
        m->kind = bp_call_strdup(call, PQgetvalue(r, 0, 2));
        m->status = bp_call_strdup(call, PQgetvalue(r, 0, 3));
        m->requested_at = auth_reply_time(call, strtoll(PQgetvalue(r, 0, 4), NULL, 10));
        m->deadline = auth_reply_time(call, strtoll(PQgetvalue(r, 0, 5), NULL, 10));
        m->completed_at = auth_reply_time(call, strtoll(PQgetvalue(r, 0, 6), NULL, 10));
        rv = progress_of(call, PQgetvalue(r, 0, 7), m);
    }
    PQclear(r);
    if (rv == 0)
        *out = m;
    return rv;
}

int auth_handle_get_data_request(bp_call *call, const ProtobufCMessage *reqm,
                                 ProtobufCMessage *respm)
{
    const Bp__Auth__DataRequestRequest *req = (const Bp__Auth__DataRequestRequest *)reqm;
    Bp__Auth__DataRequest *resp = (Bp__Auth__DataRequest *)respm;
    if (strcmp(bp_call_role(call), "admin") != 0)
        return bp_call_fail_forbidden(call);
    if (!bp_call_check_uuid(call, "request_id", req->request_id))
        return BP_EREPLIED;
    Bp__Auth__DataRequest *m = NULL;
    int rv = load_request(call, req->request_id, &m);
    if (rv == BP_ENOTFOUND)
        return bp_call_fail_not_found(call, "La solicitud");
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    *resp = *m;
    return 0;
}

/* ---- erasure --------------------------------------------------------------- */

/* Empties the account (it stays, erased, for the ids others hold) and
 * records the request, its deadline and its event in one transaction. */
static int erase_account(bp_call *call, const char *user_id, const char *request_id,
                         int64_t deadline_ms, const char *basis)
{
    bp_db *db = bp_call_worker(call)->db;
    auth_origin origin = auth_origin_of(call);
    char deadline[24];
    snprintf(deadline, sizeof deadline, "%lld", (long long)(deadline_ms / 1000));
    Bp__Events__UserEvent ev = BP__EVENTS__USER_EVENT__INIT;
    ev.user_id = (char *)user_id;
    ev.request_id = (char *)request_id;
    char event_id[37];
    json_t *details =
        json_pack("{s:s, s:s}", "data_request_id", request_id, "deadline_basis", basis);

    int rv = bp_db_begin(db) == 0 ? 0 : BP_EIO;
    if (rv == 0) {
        const char *p[] = {user_id};
        PGresult *r = bp_db_select(db,
                                   "update auth.users set email = null, password_hash = null,"
                                   " name = null, phone = null, erased_at = now(),"
                                   " updated_at = now()"
                                   " where id = $1::uuid and erased_at is null",
                                   1, p, bp_call_request_id(call));
        rv = r == NULL ? BP_EIO : strcmp(PQcmdTuples(r), "1") == 0 ? 0 : BP_ENOTFOUND;
        PQclear(r);
    }
    if (rv == 0)
        rv = bp_outbox_put(db, BP_ERASURE_TOPIC, user_id, &ev.base, event_id);
    if (rv == 0) {
        /* One null per consumer the event went to; the progress job puts
         * the time each one applied it. */
        const char *p[] = {request_id, user_id, bp_call_request_id(call), event_id, deadline};
        rv = run(call,
                 "insert into auth.data_requests"
                 " (id, user_id, kind, status, request_id, event_id, deadline, services)"
                 " values ($1::uuid, $2::uuid, 'erasure', 'running', left($3, 128), $4::uuid,"
                 " to_timestamp($5::bigint),"
                 " coalesce((select jsonb_object_agg(consumer, 'null'::jsonb) from auth.outbox"
                 "           where event_id = $4::uuid), '{}'::jsonb))",
                 5, p);
    }
    rv = auth_store_audit_commit(db, rv, user_id, user_id, "erasure_requested", &origin, details);
    if (rv == 0)
        bp_relay_kick();
    return rv;
}

int auth_handle_erase_me(bp_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    (void)reqm;
    Bp__Auth__DataRequest *resp = (Bp__Auth__DataRequest *)respm;
    bp_kv *kv = bp_call_worker(call)->kv;
    const char *user_id = bp_call_user_id(call);
    auth_user u;
    int rv = caller_account(call, &u);
    if (rv != 0)
        return rv;

    int64_t deadline_ms;
    const char *basis;
    rv = erasure_deadline(call, bp_now_ms(), &deadline_ms, &basis);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);

    /* Sessions end first: when Redis cannot do it nothing has changed yet
     * and the person may try again. */
    rv = auth_sessions_close_user(kv, user_id);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    char request_id[37];
    bp_uuid(request_id);
    rv = erase_account(call, user_id, request_id, deadline_ms, basis);
    if (rv == BP_ENOTFOUND)
        return bp_call_fail(call, 401, "unauthorized", NULL,
                            "Tu cuenta ya no existe; iniciá sesión de nuevo.");
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    /* A login that slipped in before the commit ends now too. */
    if (auth_sessions_close_user(kv, user_id) != 0 || auth_profile_drop(kv, user_id) != 0)
        bp_log(BP_LOG_ERROR, bp_call_request_id(call),
               "erasure %s: Redis did not end every session of %s", request_id, user_id);
    bp_log(BP_LOG_INFO, bp_call_request_id(call), "account %s erased; request %s", user_id,
           request_id);

    Bp__Auth__DataRequest *m = NULL;
    rv = load_request(call, request_id, &m);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    *resp = *m;
    bp_call_set_status(call, 202);
    return 0;
}

/* ---- progress -------------------------------------------------------------- */

/* A consumer acknowledges an event only once its inbox committed the
 * change, so a delivered outbox row is a service that finished its part.
 * Delivered rows stay 7 days: this job, every few seconds, never misses
 * one. */
static const char SQL_PROGRESS[] =
    "update auth.data_requests r set services = r.services || d.done"
    " from (select o.event_id, jsonb_object_agg(o.consumer,"
    "        to_char(o.delivered_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) done"
    "       from auth.outbox o join auth.data_requests q on q.event_id = o.event_id"
    "       where q.status = 'running' and o.delivered_at is not null"
    "       and q.services -> o.consumer = 'null'::jsonb group by o.event_id) d"
    " where r.event_id = d.event_id and r.status = 'running'";

static const char SQL_COMPLETE[] =
    "with done as (update auth.data_requests set status = 'done', completed_at = now()"
    "  where status = 'running' and kind = 'erasure'"
    "  and not exists (select 1 from jsonb_each(services) e where e.value = 'null'::jsonb)"
    "  returning id, user_id)"
    " insert into auth.audit_log (subject_id, action, details)"
    " select user_id, 'erasure_completed', jsonb_build_object('data_request_id', id) from done";

int auth_erasure_progress(bp_db *db, bp_kv *kv)
{
    (void)kv;
    PGresult *r = bp_db_select(db, SQL_PROGRESS, 0, NULL, NULL);
    if (r == NULL)
        return BP_EIO;
    PQclear(r);
    r = bp_db_select(db, SQL_COMPLETE, 0, NULL, NULL);
    if (r == NULL)
        return BP_EIO;
    if (strcmp(PQcmdTuples(r), "0") != 0)
        bp_log_info("%s erasure request(s) completed in every service", PQcmdTuples(r));
    PQclear(r);
    return 0;
}
