/* Bookings over the bus: create, list, get (also as the payment daemon's
 * context), cancel, reschedule, complete and no-show, with the policy rules
 * they share (deposit, refund, who may act),
 * the booking row's reply and event forms, and the slot context that a
 * create or a reschedule checks a start against. The exclusion constraint
 * bookings_no_overlap, not this file, is what keeps two bookings apart. */
#include "bookings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "holidays.h"
#include "outbox.h"
#include "prices.h"
#include "privacy.h"

/* What a request may carry; the table's CHECKs say the same. */
#define NOTES_MAX          1000
#define REASON_MAX         500
#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX     100

/* A booking's time off window: a service (600 min) plus its buffer (240)
 * never spans more than this after its start. */
#define SPAN_MAX_S (24 * 3600)

/* ---- policy ---------------------------------------------------------------------- */

booking_actor booking_actor_of(const char *user_id, const char *role, const char *client_id,
                               const char *provider_user_id, const char *owner_id)
{
    bool signed_in = user_id != NULL && *user_id != '\0';
    if (signed_in && client_id != NULL && strcmp(client_id, user_id) == 0)
        return BOOKING_ACTOR_CLIENT;
    if (signed_in && provider_user_id != NULL && strcmp(provider_user_id, user_id) == 0)
        return BOOKING_ACTOR_PROVIDER;
    if (signed_in && owner_id != NULL && strcmp(owner_id, user_id) == 0)
        return BOOKING_ACTOR_OWNER;
    if (role != NULL && strcmp(role, "admin") == 0)
        return BOOKING_ACTOR_ADMIN;
    return BOOKING_ACTOR_NONE;
}

const char *booking_actor_name(booking_actor a)
{
    switch (a) {
    case BOOKING_ACTOR_CLIENT:
        return "client";
    case BOOKING_ACTOR_PROVIDER:
        return "provider";
    case BOOKING_ACTOR_OWNER:
        return "owner";
    case BOOKING_ACTOR_ADMIN:
        return "admin";
    case BOOKING_ACTOR_SYSTEM:
        return "system";
    case BOOKING_ACTOR_NONE:
        break;
    }
    return NULL;
}

static int clamp_percent(int p)
{
    return p < 0 ? 0 : p > 100 ? 100 : p;
}

int64_t booking_deposit_cents(int64_t price_cents, int service_percent, int no_shows,
                              int no_show_limit, int shop_no_show_percent)
{
    int percent = clamp_percent(service_percent);
    if (no_show_limit > 0 && no_shows >= no_show_limit &&
        clamp_percent(shop_no_show_percent) > percent)
        percent = clamp_percent(shop_no_show_percent);
    if (price_cents <= 0 || percent == 0)
        return 0;
    int64_t d = bp_money_apply_percent(price_cents, percent * 100);
    return d < 0 ? 0 : d;
}

bool booking_refund_due(const char *status, int64_t deposit_cents, booking_actor by, int64_t now_s,
                        int64_t starts_s, int cancellation_hours)
{
    /* Only a confirmed booking with a deposit has one paid; a pending one's
     * payment, should it arrive after all, is refunded by events.c. */
    if (status == NULL || strcmp(status, "confirmed") != 0 || deposit_cents <= 0)
        return false;
    if (by != BOOKING_ACTOR_CLIENT)
        return true;
    return now_s <= starts_s - (int64_t)cancellation_hours * 3600;
}

bool booking_status_open(const char *status)
{
    return status != NULL &&
           (strcmp(status, "pending_payment") == 0 || strcmp(status, "confirmed") == 0);
}

/* ---- rows ------------------------------------------------------------------------ */

static int64_t int_at(const PGresult *res, int i, int col)
{
    return strtoll(PQgetvalue(res, i, col), NULL, 10);
}

void booking_row_read(const PGresult *res, int i, int c, booking_row *b)
{
    b->id = PQgetvalue(res, i, c + 0);
    b->shop_id = PQgetvalue(res, i, c + 1);
    b->provider_id = PQgetvalue(res, i, c + 2);
    b->service_id = PQgetvalue(res, i, c + 3);
    b->client_id = PQgetvalue(res, i, c + 4);
    b->starts_ms = int_at(res, i, c + 5);
    b->ends_ms = int_at(res, i, c + 6);
    b->status = PQgetvalue(res, i, c + 7);
    b->price_cents = int_at(res, i, c + 8);
    b->deposit_cents = int_at(res, i, c + 9);
    b->currency = PQgetvalue(res, i, c + 10);
    b->notes = PQgetvalue(res, i, c + 11);
    b->hold_expires_ms = int_at(res, i, c + 12);
    b->cancelled_by = PQgetvalue(res, i, c + 13);
    b->cancel_reason = PQgetvalue(res, i, c + 14);
    b->cancelled_ms = int_at(res, i, c + 15);
    b->refund_due = PQgetvalue(res, i, c + 16)[0] == 't';
    b->created_ms = int_at(res, i, c + 17);
    b->timezone = PQgetvalue(res, i, c + 18);
    b->shop_name = PQgetvalue(res, i, c + 19);
    b->service_name = PQgetvalue(res, i, c + 20);
    b->provider_name = PQgetvalue(res, i, c + 21);
    b->owner_id = PQgetvalue(res, i, c + 22);
    b->provider_user_id = PQgetvalue(res, i, c + 23);
    b->cancellation_hours = (int)int_at(res, i, c + 24);
    b->blocked_end_ms = int_at(res, i, c + 25);
}

/* An optional string of the reply: left out (NULL) when empty. */
static char *opt_str(bp_call *call, const char *s)
{
    return s != NULL && *s != '\0' ? bp_call_strdup(call, s) : NULL;
}

Bp__Booking__Booking *booking_row_reply(bp_call *call, const booking_row *b)
{
    Bp__Booking__Booking *m =
        (Bp__Booking__Booking *)bp_call_message(call, &bp__booking__booking__descriptor);
    if (m == NULL)
        return NULL;
    m->id = bp_call_strdup(call, b->id);
    m->shop_id = bp_call_strdup(call, b->shop_id);
    m->provider_id = bp_call_strdup(call, b->provider_id);
    m->service_id = bp_call_strdup(call, b->service_id);
    m->client_id = opt_str(call, b->client_id);
    m->starts_at = bp_call_time(call, b->starts_ms, b->timezone);
    m->ends_at = bp_call_time(call, b->ends_ms, b->timezone);
    m->status = bp_call_strdup(call, b->status);
    m->has_price_cents = m->has_deposit_cents = true;
    m->price_cents = b->price_cents;
    m->deposit_cents = b->deposit_cents;
    m->currency = bp_call_strdup(call, b->currency);
    m->price_display = booking_reply_money(call, b->price_cents, b->currency);
    m->deposit_display = booking_reply_money(call, b->deposit_cents, b->currency);
    m->created_at = bp_call_time(call, b->created_ms, b->timezone);
    m->notes = opt_str(call, b->notes);
    if (strcmp(b->status, "pending_payment") == 0 && b->hold_expires_ms > 0)
        m->hold_expires_at = bp_call_time(call, b->hold_expires_ms, b->timezone);
    m->cancelled_by = opt_str(call, b->cancelled_by);
    m->cancel_reason = opt_str(call, b->cancel_reason);
    if (b->cancelled_ms > 0)
        m->cancelled_at = bp_call_time(call, b->cancelled_ms, b->timezone);
    m->has_refund_due = true;
    m->refund_due = b->refund_due;
    m->timezone = bp_call_strdup(call, b->timezone);
    m->service_name = bp_call_strdup(call, b->service_name);
    m->provider_name = bp_call_strdup(call, b->provider_name);
    m->shop_name = bp_call_strdup(call, b->shop_name);
    if (m->id == NULL || m->starts_at == NULL || m->ends_at == NULL || m->created_at == NULL ||
        m->price_display == NULL || m->deposit_display == NULL)
        return NULL;
    return m;
}

/* events.proto names the side that cancelled: client, shop or system. */
static const char *event_side(const char *cancelled_by)
{
    if (cancelled_by == NULL || *cancelled_by == '\0')
        return NULL;
    if (strcmp(cancelled_by, "client") == 0 || strcmp(cancelled_by, "system") == 0)
        return cancelled_by;
    return "shop";
}

/* The event message of a booking: its strings are borrowed from the row
 * and from the time texts kept beside it. */
typedef struct {
    Bp__Events__BookingEvent msg;
    char starts[40], ends[40], prev_starts[40], prev_ends[40];
} booking_event_msg;

static int event_fill(booking_event_msg *m, const booking_row *b, const booking_event_extra *extra)
{
    Bp__Events__BookingEvent init = BP__EVENTS__BOOKING_EVENT__INIT;
    Bp__Events__BookingEvent *ev = &m->msg;
    *ev = init;
    if (bp_time_format(b->starts_ms, b->timezone, m->starts, sizeof m->starts) != 0 ||
        bp_time_format(b->ends_ms, b->timezone, m->ends, sizeof m->ends) != 0)
        return BP_EINVAL;
    ev->booking_id = (char *)b->id;
    ev->shop_id = (char *)b->shop_id;
    ev->provider_id = (char *)b->provider_id;
    ev->service_id = (char *)b->service_id;
    ev->client_id = *b->client_id != '\0' ? (char *)b->client_id : NULL;
    ev->status = (char *)b->status;
    ev->starts_at = m->starts;
    ev->ends_at = m->ends;
    ev->has_price_cents = ev->has_deposit_cents = true;
    ev->price_cents = b->price_cents;
    ev->deposit_cents = b->deposit_cents;
    ev->currency = (char *)b->currency;
    ev->timezone = (char *)b->timezone;
    ev->shop_name = (char *)b->shop_name;
    ev->service_name = (char *)b->service_name;
    ev->provider_name = (char *)b->provider_name;
    ev->cancelled_by = (char *)event_side(b->cancelled_by);
    ev->reason = *b->cancel_reason != '\0' ? (char *)b->cancel_reason : NULL;
    ev->has_refund_due = true;
    ev->refund_due = b->refund_due;
    ev->owner_id = *b->owner_id != '\0' ? (char *)b->owner_id : NULL;
    ev->provider_user_id = *b->provider_user_id != '\0' ? (char *)b->provider_user_id : NULL;
    if (extra != NULL) {
        if (extra->previous_starts_ms > 0 &&
            bp_time_format(extra->previous_starts_ms, b->timezone, m->prev_starts,
                           sizeof m->prev_starts) == 0 &&
            bp_time_format(extra->previous_ends_ms, b->timezone, m->prev_ends,
                           sizeof m->prev_ends) == 0) {
            ev->previous_starts_at = m->prev_starts;
            ev->previous_ends_at = m->prev_ends;
        }
        if (extra->reason != NULL)
            ev->reason = (char *)extra->reason;
        if (extra->cancelled_by != NULL)
            ev->cancelled_by = (char *)event_side(extra->cancelled_by);
    }
    return 0;
}

int booking_emit(bp_db *db, const char *topic, const booking_row *b,
                 const booking_event_extra *extra)
{
    booking_event_msg m;
    int rv = event_fill(&m, b, extra);
    return rv != 0 ? rv : bp_outbox_put(db, topic, b->id, &m.msg.base, NULL);
}

/* Business counters: one per event of a booking's life. */
static void count_booking(const char *event)
{
    char labels[64];
    snprintf(labels, sizeof labels, "event=\"%s\"", event);
    bp_counter_add(
        bp_metrics_counter("barberpro_bookings_total", "Booking state changes, by event", labels),
        1);
}

int booking_lock_provider(bp_db *db, const char *provider_id)
{
    const char *params[] = {provider_id};
    PGresult *r = bp_db_query(db, "SELECT " BOOKING_SQL_LOCK_PROVIDER("$1::uuid"), 1, params);
    int rv = bp_db_ok(r, NULL) ? 0 : BP_EIO;
    PQclear(r);
    return rv;
}

/* ---- the slot context ------------------------------------------------------------- */

/* The local date of the start, as days since 1970-01-01. */
#define START_DAY "(to_timestamp($3::int8) AT TIME ZONE sh.timezone)::date - DATE '1970-01-01'"

/* One round trip, the whole read side of a booking: the shop, service and
 * provider, the client's recent no-shows, whether the provider performs the
 * service, the weekly hours and the time off touching the window (clipped
 * to it, so that unbounded ranges read as numbers), the price in force and
 * whether a holiday closes the shop on the start's local date. The rules
 * are the shared expressions of bookings.h, prices.h and holidays.h. */
static const char SQL_SLOT_CTX[] =
    "SELECT sh.id, sh.name, s.name, p.name, sh.timezone, s.currency, sh.slot_step_minutes,"
    " s.duration_minutes, s.buffer_minutes, s.deposit_percent, sh.no_show_deposit_percent,"
    " CASE WHEN $5::uuid IS NULL THEN 0 ELSE"
    "  (SELECT count(*) FROM booking.bookings nb WHERE nb.client_id = $5::uuid"
    "   AND nb.status = 'no_show' AND nb.starts_at >= now() - make_interval(days => $6::int))"
    " END," BOOKING_SQL_PROVIDER_WEEK ","
    " s.id IS NOT NULL,"
    " " BOOKING_SQL_PRICE_ON(
        BOOKING_SQL_SHOP_TODAY) ","
                                " " BOOKING_SQL_CLOSED_DAYS(
                                    "sh.id", START_DAY,
                                    START_DAY) ", sh.owner_id, coalesce(p.user_id::text, '')"
                                               " FROM booking.providers p JOIN booking.shops sh ON "
                                               "sh.id = p.shop_id"
                                               " LEFT JOIN booking.services s ON s.id = $2::uuid "
                                               "AND s.shop_id = p.shop_id AND s.active"
                                               " WHERE p.id = $1::uuid AND p.active";

int booking_warm_up(bp_db *db)
{
    /* Nothing matches these ids: the statements are parsed, planned and
     * run once, and nothing is read or written. */
    static const char nil[] = "00000000-0000-4000-8000-000000000000";
    const char *params[] = {nil, nil, "0", "0", nil, "1"};
    PGresult *r = bp_db_exec_prepared(db, BOOKING_STMT_SLOT_CTX, SQL_SLOT_CTX, 6, params);
    int rv = bp_db_ok(r, NULL) ? 0 : BP_EIO;
    PQclear(r);
    return rv;
}

/* Parses "a b c ..." of integers into out (cap), returning the count or -1
 * when there are more than cap. */
static long parse_ints(const char *s, int64_t *out, size_t cap)
{
    size_t n = 0;
    char *end;
    while (*s != '\0') {
        long long v = strtoll(s, &end, 10);
        if (end == s)
            break;
        if (n == cap)
            return -1;
        out[n++] = v;
        s = end;
    }
    return (long)n;
}

int booking_slot_ctx_load(bp_db *db, const char *provider_id, const char *service_id,
                          int64_t start_s, int64_t end_s, const char *client_id, int no_show_days,
                          booking_slot_ctx *ctx)
{
    char from[24], to[24], days[16];
    snprintf(from, sizeof from, "%lld", (long long)start_s);
    snprintf(to, sizeof to, "%lld", (long long)end_s);
    snprintf(days, sizeof days, "%d", no_show_days);
    const char *params[] = {provider_id, service_id, from, to, client_id, days};
    PGresult *res = bp_db_exec_prepared(db, BOOKING_STMT_SLOT_CTX, SQL_SLOT_CTX, 6, params);
    int rv = 0;
    if (!bp_db_ok(res, NULL)) {
        rv = BP_EIO;
        goto out;
    }
    if (PQntuples(res) == 0 || PQgetvalue(res, 0, 15)[0] != 't') {
        rv = BP_ENOTFOUND;
        goto out;
    }
    memset(ctx, 0, sizeof *ctx);
    snprintf(ctx->shop_id, sizeof ctx->shop_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(ctx->shop_name, sizeof ctx->shop_name, "%s", PQgetvalue(res, 0, 1));
    snprintf(ctx->service_name, sizeof ctx->service_name, "%s", PQgetvalue(res, 0, 2));
    snprintf(ctx->provider_name, sizeof ctx->provider_name, "%s", PQgetvalue(res, 0, 3));
    snprintf(ctx->timezone, sizeof ctx->timezone, "%s", PQgetvalue(res, 0, 4));
    snprintf(ctx->currency, sizeof ctx->currency, "%s", PQgetvalue(res, 0, 5));
    ctx->step_min = (int)int_at(res, 0, 6);
    ctx->duration_min = (int)int_at(res, 0, 7);
    ctx->buffer_min = (int)int_at(res, 0, 8);
    ctx->deposit_percent = (int)int_at(res, 0, 9);
    ctx->no_show_deposit_percent = (int)int_at(res, 0, 10);
    ctx->no_shows = (int)int_at(res, 0, 11);
    ctx->performs = PQgetvalue(res, 0, 12)[0] == 't';

    int64_t nums[3 * BOOKING_CTX_MAX_HOURS];
    long n = parse_ints(PQgetvalue(res, 0, 13), nums, BP_COUNTOF(nums));
    if (n < 0) {
        rv = BP_ETOOBIG;
        goto out;
    }
    for (long i = 0; i + 2 < n; i += 3)
        ctx->hours[ctx->n_hours++] = (booking_hours){
            .weekday = (int)nums[i], .start_min = (int)nums[i + 1], .end_min = (int)nums[i + 2]};
    int64_t spans[2 * BOOKING_CTX_MAX_BUSY];
    n = parse_ints(PQgetvalue(res, 0, 14), spans, BP_COUNTOF(spans));
    if (n < 0) {
        rv = BP_ETOOBIG;
        goto out;
    }
    for (long i = 0; i + 1 < n; i += 2)
        ctx->busy[ctx->n_busy++] = (booking_span){.start = spans[i], .end = spans[i + 1]};
    ctx->price_cents = int_at(res, 0, 16);
    if (bp_tz_load(ctx->timezone, &ctx->tz) != 0) {
        rv = BP_EIO; /* the catalogue validates zones: a bad one is a broken row */
        goto out;
    }
    size_t n_closed;
    if (booking_days_parse(PQgetvalue(res, 0, 17), ctx->closed, BP_COUNTOF(ctx->closed),
                           &n_closed) != 0) {
        rv = BP_ETOOBIG;
        goto out;
    }
    ctx->n_closed = n_closed;
    snprintf(ctx->owner_id, sizeof ctx->owner_id, "%s", PQgetvalue(res, 0, 18));
    snprintf(ctx->provider_user_id, sizeof ctx->provider_user_id, "%s", PQgetvalue(res, 0, 19));
out:
    PQclear(res);
    return rv;
}

int booking_slot_ctx_check(const booking_ctx *app, const booking_slot_ctx *ctx, int64_t start_s,
                           int64_t now_s)
{
    booking_avail_query q = {
        .tz = ctx->tz,
        .hours = ctx->hours,
        .n_hours = ctx->n_hours,
        .busy = ctx->busy,
        .n_busy = ctx->n_busy,
        .closed_days = ctx->closed,
        .n_closed = ctx->n_closed,
        .duration_min = ctx->duration_min,
        .buffer_min = ctx->buffer_min,
        .step_min = ctx->step_min,
        .now = now_s,
        .notice_min = app->min_notice_minutes,
        .horizon_days = app->horizon_days,
    };
    return booking_slot_check(&q, start_s);
}

int booking_fail_slot_taken(bp_call *call)
{
    return bp_call_fail(call, 409, "slot_taken", "starts_at",
                        "Ese horario ya está reservado; elegí otro.");
}

int booking_fail_slot(bp_call *call, int reason, const booking_ctx *app)
{
    switch (reason) {
    case BOOKING_SLOT_IN_THE_PAST:
        return bp_call_fail(call, 422, "in_the_past", "starts_at",
                            "No podés reservar un horario que ya pasó.");
    case BOOKING_SLOT_TOO_SOON:
        return bp_call_fail(call, 422, "too_soon", "starts_at",
                            "Tenés que reservar con al menos %d minutos de anticipación.",
                            app->min_notice_minutes);
    case BOOKING_SLOT_TOO_FAR:
        return bp_call_fail(call, 422, "too_far", "starts_at",
                            "Solo se puede reservar hasta %d días por adelantado.",
                            app->horizon_days);
    case BOOKING_SLOT_HOLIDAY:
        return bp_call_fail(call, 422, "holiday", "starts_at",
                            "Ese día es feriado y el local está cerrado.");
    case BOOKING_SLOT_BUSY:
        return bp_call_fail(call, 409, "slot_taken", "starts_at",
                            "El profesional no atiende en ese horario; elegí otro.");
    case BOOKING_SLOT_MISALIGNED:
    case BOOKING_SLOT_OUTSIDE_HOURS:
    default:
        return bp_call_fail(call, 422, "outside_hours", "starts_at",
                            "Ese horario está fuera de los turnos que ofrece el profesional.");
    }
}

/* Parses a request's starts_at into whole Unix seconds, answering 400 when
 * missing or malformed. A start with fractional seconds is never on the
 * grid: it is answered as misaligned (422 outside_hours) by the caller. */
static int parse_start(bp_call *call, const char *s, int64_t *start_s, bool *fraction)
{
    int64_t ms;
    if (s == NULL || *s == '\0')
        return bp_call_fail_invalid(call, "starts_at", "Falta el campo starts_at.");
    if (bp_time_parse(s, &ms) != 0)
        return bp_call_fail_invalid(call, "starts_at",
                                    "starts_at debe ser una fecha y hora RFC 3339 con zona "
                                    "horaria, por ejemplo 2026-12-04T15:30:00-03:00.");
    *fraction = ms % 1000 != 0;
    *start_s = ms / 1000 - (ms % 1000 < 0 ? 1 : 0);
    return 0;
}

/* The answer for a failed slot-context load. */
static int fail_ctx(bp_call *call, int rv)
{
    if (rv == BP_ENOTFOUND)
        return bp_call_fail(call, 404, "not_found", NULL,
                            "El profesional o el servicio no existe o no está activo.");
    if (rv == BP_ETOOBIG)
        return bp_call_fail(call, 422, "outside_hours", "starts_at",
                            "La agenda del profesional no se puede leer; avisale al local.");
    return bp_call_fail_internal(call, rv);
}

static int fail_invalid_state(bp_call *call, const char *why)
{
    return bp_call_fail(call, 409, "invalid_state", NULL, "%s", why);
}

/* Drops the provider's availability after a commit that changed it. */
static void after_commit(bp_call *call, const char *provider_id)
{
    booking_cache_drop(bp_call_worker(call)->kv, BOOKING_CACHE_AVAIL, provider_id);
    bp_relay_kick();
}

/* ---- create ------------------------------------------------------------------------ */

/* The booking and its booking.created event in ONE statement: an implicit
 * transaction in one round trip, where both commit or neither does (an
 * overlap fails the whole statement with 23P01). It takes the provider's
 * lock first (BOOKING_SQL_LOCK_PROVIDER). $15..$19 are the outbox event
 * (bp_outbox_event_init), $20 the request's Idempotency-Key or NULL (a key
 * the client used already fails it with 23505). */
static const char SQL_INSERT[] =
    "WITH ins AS (INSERT INTO booking.bookings (id, shop_id, provider_id, service_id, client_id,"
    " starts_at, ends_at, blocked, status, price_cents, deposit_cents, currency, notes,"
    " hold_expires_at, idempotency_key)"
    " SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::uuid, to_timestamp($6::int8),"
    " to_timestamp($7::int8), tstzrange(to_timestamp($6::int8), to_timestamp($8::int8), '[)'),"
    " $9::text, $10::int8, $11::int8, $12::text, $13::text,"
    " CASE WHEN $9::text = 'pending_payment'"
    "           THEN now() + make_interval(secs => $14::int) END, $20::text"
    " FROM (SELECT " BOOKING_SQL_LOCK_PROVIDER(
        "$3") ") AS provider_lock"
              " RETURNING created_at, hold_expires_at),"
              " ev AS (INSERT INTO booking.outbox (event_id, topic, key, consumer, payload)"
              " SELECT $15::uuid, $16, $17, c, decode($18, 'hex') FROM ins, unnest($19::text[]) AS "
              "c)"
              " SELECT (extract(epoch FROM created_at) * 1000)::int8,"
              " coalesce((extract(epoch FROM hold_expires_at) * 1000)::int8, 0) FROM ins";

static int reply_visible(bp_call *call, const char *booking_id, Bp__Booking__Booking **booking,
                         booking_actor *actor);

/* A key this client has used already: the booking it made. */
static const char SQL_BY_KEY[] =
    "SELECT id::text, provider_id::text, service_id::text, extract(epoch FROM starts_at)::int8"
    " FROM booking.bookings WHERE client_id = $1::uuid AND idempotency_key = $2";

/* With an Idempotency-Key the client has sent before, answers as the first
 * request was answered (201 with its booking, as it is now) when this is
 * the same request (barber, service, start), else 409
 * idempotency_conflict; *done tells whether it answered. A key never seen
 * leaves *done false. Returns 0 or the recorded answer. */
static int replay_by_key(bp_call *call, const char *key,
                         const Bp__Booking__CreateBookingRequest *in, int64_t start_s,
                         Bp__Booking__BookingReply *out, bool *done)
{
    *done = false;
    const char *params[] = {bp_call_user_id(call), key};
    PGresult *res = bp_db_query(bp_call_worker(call)->db, SQL_BY_KEY, 2, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    *done = true;
    bool same = strcmp(PQgetvalue(res, 0, 1), in->provider_id) == 0 &&
                strcmp(PQgetvalue(res, 0, 2), in->service_id) == 0 && int_at(res, 0, 3) == start_s;
    char id[37];
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!same)
        return bp_call_fail(call, 409, "idempotency_conflict", "Idempotency-Key",
                            "Esa Idempotency-Key ya se usó para otro turno.");
    booking_actor actor;
    int rv = reply_visible(call, id, &out->booking, &actor);
    if (rv == 0) {
        count_booking("replayed");
        bp_call_set_status(call, 201);
    }
    return rv;
}

/* A new booking announces one event, booking.created, whose status says
 * whether it is confirmed already (no deposit) or pending_payment (the
 * payment daemon charges the deposit from it). booking.confirmed is the
 * later transition pending_payment -> confirmed (events.c). One event
 * rather than two keeps the hot path to one outbox row per booking. */
BOOKING_HANDLER(create_booking)
{
    const Bp__Booking__CreateBookingRequest *in = (const Bp__Booking__CreateBookingRequest *)req;
    Bp__Booking__BookingReply *out = (Bp__Booking__BookingReply *)resp;
    const booking_ctx *app = booking_ctx_of(call);
    bp_db *db = bp_call_worker(call)->db;
    const char *me = bp_call_user_id(call);
    booking_slot_ctx ctx;
    int64_t start_s;
    bool fraction;
    int rv;

    if (!bp_call_check_uuid(call, "provider_id", in->provider_id) ||
        !bp_call_check_uuid(call, "service_id", in->service_id))
        return BP_EREPLIED;
    if ((rv = parse_start(call, in->starts_at, &start_s, &fraction)) != 0)
        return rv;
    if (in->notes != NULL && strlen(in->notes) > NOTES_MAX)
        return bp_call_fail_invalid(call, "notes", "Las notas admiten hasta 1000 caracteres.");
    if (!bp_uuid_valid(me))
        return bp_call_fail(call, 401, "unauthorized", NULL, "Tenés que iniciar sesión.");
    const char *key = *bp_call_idempotency_key(call) != '\0' ? bp_call_idempotency_key(call) : NULL;
    bool replayed;
    if (key != NULL &&
        ((rv = replay_by_key(call, key, in, start_s, out, &replayed)) != 0 || replayed))
        return rv;

    rv = booking_slot_ctx_load(db, in->provider_id, in->service_id, start_s, start_s + SPAN_MAX_S,
                               me, app->no_show_window_days, &ctx);
    if (rv != 0)
        return fail_ctx(call, rv);
    if (!ctx.performs)
        return bp_call_fail(call, 422, "service_not_offered", "service_id",
                            "Este profesional no hace ese servicio.");
    int64_t now_s = bp_now_ms() / 1000;
    int reason =
        fraction ? BOOKING_SLOT_MISALIGNED : booking_slot_ctx_check(app, &ctx, start_s, now_s);
    if (reason < 0)
        return bp_call_fail_internal(call, reason);
    if (reason != BOOKING_SLOT_FREE)
        return booking_fail_slot(call, reason, app);

    int64_t price = ctx.price_cents;
    int64_t deposit = booking_deposit_cents(price, ctx.deposit_percent, ctx.no_shows,
                                            app->no_show_limit, ctx.no_show_deposit_percent);
    const char *status = deposit > 0 ? "pending_payment" : "confirmed";

    char id[37], s_start[24], s_end[24], s_blocked[24], s_price[24], s_deposit[24], s_hold[16];
    bp_uuid(id);
    int64_t end_s = start_s + (int64_t)ctx.duration_min * 60;
    int64_t blocked_s = end_s + (int64_t)ctx.buffer_min * 60;
    snprintf(s_start, sizeof s_start, "%lld", (long long)start_s);
    snprintf(s_end, sizeof s_end, "%lld", (long long)end_s);
    snprintf(s_blocked, sizeof s_blocked, "%lld", (long long)blocked_s);
    snprintf(s_price, sizeof s_price, "%lld", (long long)price);
    snprintf(s_deposit, sizeof s_deposit, "%lld", (long long)deposit);
    snprintf(s_hold, sizeof s_hold, "%d", app->hold_seconds);
    const char *notes = in->notes != NULL && *in->notes != '\0' ? in->notes : NULL;

    booking_row b = {
        .id = id,
        .shop_id = ctx.shop_id,
        .provider_id = in->provider_id,
        .service_id = in->service_id,
        .client_id = me,
        .starts_ms = start_s * 1000,
        .ends_ms = end_s * 1000,
        .blocked_end_ms = blocked_s * 1000,
        .status = status,
        .price_cents = price,
        .deposit_cents = deposit,
        .currency = ctx.currency,
        .notes = notes != NULL ? notes : "",
        .cancelled_by = "",
        .cancel_reason = "",
        .timezone = ctx.timezone,
        .shop_name = ctx.shop_name,
        .service_name = ctx.service_name,
        .provider_name = ctx.provider_name,
        .owner_id = ctx.owner_id,
        .provider_user_id = ctx.provider_user_id,
    };
    booking_event_msg m;
    bp_outbox_event ev;
    if ((rv = event_fill(&m, &b, NULL)) != 0 ||
        (rv = bp_outbox_event_init(&ev, "booking.created", id, &m.msg.base)) != 0)
        return bp_call_fail_internal(call, rv);
    const char *params[] = {id,        ctx.shop_id,  in->provider_id, in->service_id, me,
                            s_start,   s_end,        s_blocked,       status,         s_price,
                            s_deposit, ctx.currency, notes,           s_hold,         ev.event_id,
                            ev.topic,  ev.key,       ev.payload_hex,  ev.consumers,   key};
    PGresult *res =
        bp_db_exec_prepared(db, BOOKING_STMT_INSERT, SQL_INSERT, (int)BP_COUNTOF(params), params);
    bp_outbox_event_free(&ev);
    if (bp_db_sqlstate(res, "23P01")) {
        PQclear(res);
        count_booking("slot_taken");
        return booking_fail_slot_taken(call);
    }
    if (key != NULL && bp_db_sqlstate(res, "23505")) {
        /* The same key's first request committed meanwhile. */
        PQclear(res);
        if ((rv = replay_by_key(call, key, in, start_s, out, &replayed)) != 0 || replayed)
            return rv;
        return bp_call_fail_internal(call, BP_EIO);
    }
    if (!bp_db_ok(res, bp_call_request_id(call)) || PQntuples(res) != 1) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    b.created_ms = int_at(res, 0, 0);
    b.hold_expires_ms = int_at(res, 0, 1);
    PQclear(res);
    after_commit(call, in->provider_id);
    count_booking("created");

    out->booking = booking_row_reply(call, &b);
    if (out->booking == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    bp_call_set_status(call, 201);
    return 0;
}

/* ---- audit (Ley 25.326) ----------------------------------------------------------- */

/* Tells auth's audit log that the caller, acting as actor on booking_id,
 * did action to the client's data. Nothing for the client themself (nor
 * for the daemon), so that a client's own calls cost nothing more; inside
 * db's transaction when one is open. Returns 0 or a BP_E* code. */
static int audit_booking(bp_call *call, booking_actor actor, const char *client_id,
                         const char *booking_id, const char *action, const char *change)
{
    if (actor == BOOKING_ACTOR_CLIENT || actor == BOOKING_ACTOR_SYSTEM || client_id == NULL ||
        *client_id == '\0')
        return 0;
    json_t *details = change != NULL
                          ? json_pack("{s:s, s:s}", "booking_id", booking_id, "change", change)
                          : json_pack("{s:s}", "booking_id", booking_id);
    if (details == NULL)
        return BP_ENOMEM;
    const char *subjects[] = {client_id};
    int rv = bp_audit_access(call, bp_call_worker(call)->db, subjects, 1, action, details);
    json_decref(details);
    return rv;
}

/* A page the caller saw as provider or owner: one audit record per client
 * on it, naming that client's bookings, all in one transaction. */
static int audit_list(bp_call *call, Bp__Booking__Booking *const *items, size_t n)
{
    bp_db *db = bp_call_worker(call)->db;
    const char *me = bp_call_user_id(call);
    bool open = false;
    int rv = 0;
    for (size_t i = 0; rv == 0 && i < n; i++) {
        const char *client = items[i]->client_id;
        bool first = client != NULL && strcmp(client, me) != 0;
        for (size_t j = 0; first && j < i; j++)
            first = items[j]->client_id == NULL || strcmp(items[j]->client_id, client) != 0;
        if (!first)
            continue;
        json_t *ids = json_array();
        for (size_t j = i; ids != NULL && j < n; j++)
            if (items[j]->client_id != NULL && strcmp(items[j]->client_id, client) == 0 &&
                json_array_append_new(ids, json_string(items[j]->id)) != 0) {
                json_decref(ids);
                ids = NULL;
            }
        json_t *details = ids != NULL ? json_pack("{s:o}", "booking_ids", ids) : NULL;
        if (details == NULL) {
            rv = BP_ENOMEM;
            break;
        }
        if (!open && (rv = bp_db_begin(db)) == 0)
            open = true;
        const char *subjects[] = {client};
        if (rv == 0)
            rv = bp_audit_access(call, db, subjects, 1, "bookings_list", details);
        json_decref(details);
    }
    if (open && rv == 0 && (rv = bp_db_commit(db)) == 0)
        bp_relay_kick();
    else if (open && rv != 0)
        bp_db_rollback(db);
    return rv;
}

/* ---- read ------------------------------------------------------------------------- */

static const char SQL_GET[] =
    "SELECT " BOOKING_ROW_COLUMNS " FROM booking.bookings b" BOOKING_ROW_JOINS " WHERE b.id = $1";

static const char SQL_GET_FOR_UPDATE[] =
    "SELECT " BOOKING_ROW_COLUMNS " FROM booking.bookings b" BOOKING_ROW_JOINS
    " WHERE b.id = $1 FOR UPDATE OF b";

/* Reads booking_id (SQL_GET_FOR_UPDATE inside the caller's transaction when
 * for_update, else the prepared SQL_GET) with the caller's relation to it.
 * On 0 *res holds the row (the caller clears it), b reads from it and
 * *actor is not BOOKING_ACTOR_NONE; otherwise *res is NULL and the answer
 * is recorded: 400 for a malformed id, 404 also for a booking the caller
 * may not see (someone else's booking does not exist, as far as the caller
 * knows), 500 for a storage failure. */
static int read_visible(bp_call *call, const char *booking_id, bool for_update, PGresult **res,
                        booking_row *b, booking_actor *actor)
{
    bp_db *db = bp_call_worker(call)->db;
    *res = NULL;
    *actor = BOOKING_ACTOR_NONE;
    if (!bp_call_check_uuid(call, "booking_id", booking_id))
        return BP_EREPLIED;
    const char *params[] = {booking_id};
    PGresult *r = for_update ? bp_db_query(db, SQL_GET_FOR_UPDATE, 1, params)
                             : bp_db_exec_prepared(db, BOOKING_STMT_GET, SQL_GET, 1, params);
    if (!bp_db_ok(r, bp_call_request_id(call))) {
        PQclear(r);
        return bp_call_fail_internal(call, BP_EIO);
    }
    if (PQntuples(r) == 1) {
        booking_row_read(r, 0, 0, b);
        *actor = booking_actor_of(bp_call_user_id(call), bp_call_role(call), b->client_id,
                                  b->provider_user_id, b->owner_id);
    }
    if (*actor == BOOKING_ACTOR_NONE) {
        PQclear(r);
        return bp_call_fail_not_found(call, "El turno");
    }
    *res = r;
    return 0;
}

/* What GetBooking and PaymentContext share: the API form of booking_id
 * into *booking (in the call's arena) and the caller's relation into
 * *actor, when the caller may see it. Returns 0 or the recorded answer of
 * read_visible (or 500 when out of memory). */
static int reply_visible(bp_call *call, const char *booking_id, Bp__Booking__Booking **booking,
                         booking_actor *actor)
{
    PGresult *res;
    booking_row b;
    int rv = read_visible(call, booking_id, false, &res, &b, actor);
    if (rv != 0)
        return rv;
    *booking = booking_row_reply(call, &b);
    if (*booking == NULL)
        rv = bp_call_fail_internal(call, BP_ENOMEM);
    PQclear(res);
    return rv;
}

/* A read by the shop side or an admin is audited before the answer goes
 * out: no answer without its record. */
BOOKING_HANDLER(get_booking)
{
    const Bp__Booking__BookingRequest *in = (const Bp__Booking__BookingRequest *)req;
    Bp__Booking__BookingReply *out = (Bp__Booking__BookingReply *)resp;
    booking_actor actor;
    int rv = reply_visible(call, in->booking_id, &out->booking, &actor);
    if (rv == 0)
        rv = audit_booking(call, actor, out->booking->client_id, out->booking->id, "booking_read",
                           NULL);
    return rv == 0 || rv == BP_EREPLIED ? rv : bp_call_fail_internal(call, rv);
}

static ProtobufCMessage *booking_message(bp_call *call, const PGresult *res, int row)
{
    booking_row b;
    booking_row_read(res, row, 0, &b);
    Bp__Booking__Booking *m = booking_row_reply(call, &b);
    return m != NULL ? &m->base : NULL;
}

int booking_bookings_of_client(bp_call *call, const char *user_id, int max,
                               Bp__Booking__Booking ***items, size_t *n)
{
    return booking_reply_of_user(call,
                                 "SELECT " BOOKING_ROW_COLUMNS
                                 " FROM booking.bookings b" BOOKING_ROW_JOINS
                                 " WHERE b.client_id = $1 ORDER BY b.starts_at, b.id LIMIT $2::int",
                                 user_id, max, booking_message, (ProtobufCMessage ***)items, n);
}

/* Internal, for the payment daemon: the booking exactly as GetBooking
 * answers it, with who the caller is to it, so that the payment daemon
 * decides who may pay, record or refund without a second read. */
BOOKING_HANDLER(payment_context)
{
    const Bp__Booking__BookingRequest *in = (const Bp__Booking__BookingRequest *)req;
    Bp__Booking__PaymentContextReply *out = (Bp__Booking__PaymentContextReply *)resp;
    booking_actor actor;
    int rv = reply_visible(call, in->booking_id, &out->booking, &actor);
    if (rv != 0)
        return rv;
    /* Static storage, which the reply may point to. */
    out->actor = (char *)booking_actor_name(actor);
    return 0;
}

/* The scope of a list, by the role the caller asks to see it as. */
static const char *const LIST_SCOPES[][2] = {
    {"client", "b.client_id = $1::uuid"},
    {"provider", "b.provider_id IN (SELECT id FROM booking.providers WHERE user_id = $1::uuid)"},
    {"owner", "b.shop_id IN (SELECT id FROM booking.shops WHERE owner_id = $1::uuid)"},
};

static const char *const STATUSES[] = {"pending_payment", "confirmed", "completed",
                                       "no_show",         "cancelled", "expired"};

/* A cursor is "<start in Unix seconds>_<booking id>" of the last item. */
static bool cursor_parse(const char *s, char start[24], char id[37])
{
    const char *sep = strchr(s, '_');
    if (sep == NULL || sep == s || sep - s > 15 || !bp_uuid_valid(sep + 1))
        return false;
    for (const char *p = s; p < sep; p++)
        if ((*p < '0' || *p > '9') && !(p == s && *p == '-'))
            return false;
    snprintf(start, 24, "%.*s", (int)(sep - s), s);
    snprintf(id, 37, "%s", sep + 1);
    return true;
}

BOOKING_HANDLER(list_bookings)
{
    const Bp__Booking__ListBookingsRequest *in = (const Bp__Booking__ListBookingsRequest *)req;
    Bp__Booking__BookingList *out = (Bp__Booking__BookingList *)resp;
    const char *role = in->role != NULL && *in->role != '\0' ? in->role : "client";
    const char *scope = NULL;
    for (size_t i = 0; i < BP_COUNTOF(LIST_SCOPES); i++)
        if (strcmp(LIST_SCOPES[i][0], role) == 0)
            scope = LIST_SCOPES[i][1];
    if (scope == NULL)
        return bp_call_fail_invalid(call, "role", "role debe ser client, provider u owner.");
    int64_t ms;
    const char *from = NULL, *to = NULL, *status = NULL;
    if (in->from != NULL && *in->from != '\0') {
        if (bp_time_parse(in->from, &ms) != 0)
            return bp_call_fail_invalid(call, "from",
                                        "from debe ser una fecha y hora RFC 3339 con zona.");
        from = in->from;
    }
    if (in->to != NULL && *in->to != '\0') {
        if (bp_time_parse(in->to, &ms) != 0)
            return bp_call_fail_invalid(call, "to",
                                        "to debe ser una fecha y hora RFC 3339 con zona.");
        to = in->to;
    }
    if (in->status != NULL && *in->status != '\0') {
        for (size_t i = 0; i < BP_COUNTOF(STATUSES); i++)
            if (strcmp(STATUSES[i], in->status) == 0)
                status = STATUSES[i];
        if (status == NULL)
            return bp_call_fail_invalid(call, "status",
                                        "status debe ser pending_payment, confirmed, completed, "
                                        "no_show, cancelled o expired.");
    }
    int limit = LIST_LIMIT_DEFAULT;
    if (in->has_limit) {
        if (in->limit < 1 || in->limit > LIST_LIMIT_MAX)
            return bp_call_fail_invalid(call, "limit", "limit debe estar entre 1 y 100.");
        limit = in->limit;
    }
    char c_start[24] = "", c_id[37] = "";
    if (in->cursor != NULL && *in->cursor != '\0' && !cursor_parse(in->cursor, c_start, c_id))
        return bp_call_fail_invalid(call, "cursor", "El cursor no es válido.");
    const char *me = bp_call_user_id(call);
    if (!bp_uuid_valid(me))
        return bp_call_fail(call, 401, "unauthorized", NULL, "Tenés que iniciar sesión.");

    char sql[1400], s_limit[16];
    snprintf(sql, sizeof sql,
             "SELECT " BOOKING_ROW_COLUMNS " FROM booking.bookings b" BOOKING_ROW_JOINS " WHERE %s"
             " AND ($2::timestamptz IS NULL OR b.starts_at >= $2::timestamptz)"
             " AND ($3::timestamptz IS NULL OR b.starts_at < $3::timestamptz)"
             " AND ($4::text IS NULL OR b.status = $4::text)"
             " AND ($5::int8 IS NULL OR (b.starts_at, b.id) > (to_timestamp($5::int8), $6::uuid))"
             " ORDER BY b.starts_at, b.id LIMIT $7::int",
             scope);
    snprintf(s_limit, sizeof s_limit, "%d", limit + 1);
    const char *params[] = {
        me, from, to, status, *c_start ? c_start : NULL, *c_id ? c_id : NULL, s_limit};
    PGresult *res = bp_db_query(bp_call_worker(call)->db, sql, 7, params);
    int rv = 0;
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        rv = bp_call_fail_internal(call, BP_EIO);
        goto out;
    }
    int rows = PQntuples(res);
    int n = rows > limit ? limit : rows;
    out->items = bp_arena_alloc(bp_call_arena(call), sizeof *out->items * (size_t)(n + 1));
    if (out->items == NULL) {
        rv = bp_call_fail_internal(call, BP_ENOMEM);
        goto out;
    }
    booking_row b;
    for (int i = 0; i < n; i++) {
        booking_row_read(res, i, 0, &b);
        out->items[i] = booking_row_reply(call, &b);
        if (out->items[i] == NULL) {
            rv = bp_call_fail_internal(call, BP_ENOMEM);
            goto out;
        }
    }
    out->n_items = (size_t)n;
    if (rows > limit)
        out->next_cursor = bp_call_printf(call, "%lld_%s", (long long)(b.starts_ms / 1000), b.id);
    /* A client's own list names nobody else: nothing to audit. */
    if (strcmp(role, "client") != 0 && (rv = audit_list(call, out->items, out->n_items)) != 0)
        rv = bp_call_fail_internal(call, rv);
out:
    PQclear(res);
    return rv;
}

/* ---- changes of state ----------------------------------------------------------- */

/* Opens a transaction and locks the booking. On 0 *res holds the row (the
 * caller clears it) and b reads from it; otherwise the answer (404 also for
 * a booking the caller may not see) is recorded and nothing is left open. */
static int lock_booking(bp_call *call, const char *booking_id, PGresult **res, booking_row *b,
                        booking_actor *actor)
{
    bp_db *db = bp_call_worker(call)->db;
    *res = NULL;
    /* Checked before the transaction too, so that a malformed id opens none. */
    if (!bp_call_check_uuid(call, "booking_id", booking_id))
        return BP_EREPLIED;
    if (bp_db_begin(db) != 0)
        return bp_call_fail_internal(call, BP_EIO);
    int rv = read_visible(call, booking_id, true, res, b, actor);
    if (rv != 0)
        bp_db_rollback(db);
    return rv;
}

/* Runs an UPDATE ... RETURNING BOOKING_ROW_COLUMNS of one locked booking
 * and emits topic about the new row, inside db's open transaction. On 0
 * *res holds the new row (the caller clears it). Returns 0, BP_ECONFLICT
 * (23P01: another booking holds the chair) or BP_EIO, with *res NULL; the
 * transaction is then to be rolled back. */
static int change_and_emit(bp_db *db, const char *sql, int nparams, const char *const *params,
                           const char *topic, const booking_event_extra *extra, PGresult **res)
{
    PGresult *r = bp_db_query(db, sql, nparams, params);
    int rv = 0;
    *res = NULL;
    if (bp_db_sqlstate(r, "23P01")) {
        rv = BP_ECONFLICT;
    } else if (!bp_db_ok(r, NULL) || PQntuples(r) != 1) {
        rv = BP_EIO;
    } else {
        booking_row b;
        booking_row_read(r, 0, 0, &b);
        rv = booking_emit(db, topic, &b, extra);
    }
    if (rv == 0)
        *res = r;
    else
        PQclear(r);
    return rv;
}

/* Ends the caller's transaction after change_and_emit answered rv with
 * res (taken): a shop side's change of a client's booking is audited in
 * it, then it commits and resp gets the new booking; on any failure it
 * rolls back and answers. */
static int commit_change(bp_call *call, int rv, PGresult *res, const char *topic,
                         booking_actor actor, Bp__Booking__BookingReply *out)
{
    bp_db *db = bp_call_worker(call)->db;
    booking_row b;
    if (rv == 0) {
        booking_row_read(res, 0, 0, &b);
        rv = audit_booking(call, actor, b.client_id, b.id, "booking_changed",
                           topic + strlen("booking."));
    }
    if (rv == 0)
        rv = bp_db_commit(db);
    if (rv != 0) {
        PQclear(res);
        bp_db_rollback(db);
        if (rv != BP_ECONFLICT)
            return bp_call_fail_internal(call, rv);
        count_booking("slot_taken");
        return booking_fail_slot_taken(call);
    }
    after_commit(call, b.provider_id);
    count_booking(topic + strlen("booking."));
    out->booking = booking_row_reply(call, &b);
    PQclear(res);
    return out->booking != NULL ? 0 : bp_call_fail_internal(call, BP_ENOMEM);
}

/* change_and_emit and commit_change of one statement. */
static int update_and_emit(bp_call *call, const char *sql, int nparams, const char *const *params,
                           const char *topic, const booking_event_extra *extra, booking_actor actor,
                           Bp__Booking__BookingReply *out)
{
    PGresult *res;
    int rv = change_and_emit(bp_call_worker(call)->db, sql, nparams, params, topic, extra, &res);
    return commit_change(call, rv, res, topic, actor, out);
}

#define UPDATE_JOINS                                                                               \
    " FROM booking.shops sh, booking.services s, booking.providers p"                              \
    " WHERE b.id = $1 AND sh.id = b.shop_id AND s.id = b.service_id AND p.id = b.provider_id"

static const char SQL_CANCEL[] =
    "UPDATE booking.bookings b SET status = 'cancelled', cancelled_by = $2, cancel_reason = $3,"
    " cancelled_at = now(), refund_due = $4::boolean, updated_at = now()" UPDATE_JOINS
    " RETURNING " BOOKING_ROW_COLUMNS;

/* A client who cancels inside the shop's window (cancellation_hours before
 * the start) keeps no right to the deposit: the shop keeps it for the chair
 * it can no longer fill. The shop side always refunds. */
BOOKING_HANDLER(cancel_booking)
{
    const Bp__Booking__CancelBookingRequest *in = (const Bp__Booking__CancelBookingRequest *)req;
    if (in->reason != NULL && strlen(in->reason) > REASON_MAX)
        return bp_call_fail_invalid(call, "reason", "El motivo admite hasta 500 caracteres.");
    PGresult *res;
    booking_row b;
    booking_actor actor = BOOKING_ACTOR_NONE;
    int rv = lock_booking(call, in->booking_id, &res, &b, &actor);
    if (rv != 0)
        return rv;
    if (!booking_status_open(b.status)) {
        PQclear(res);
        bp_db_rollback(bp_call_worker(call)->db);
        return fail_invalid_state(
            call, "Solo se puede cancelar un turno pendiente de pago o confirmado.");
    }
    const char *reason = in->reason != NULL && *in->reason != '\0' ? in->reason : NULL;
    PGresult *cancelled;
    rv = booking_cancel_locked(bp_call_worker(call)->db, &b, actor, reason, &cancelled);
    PQclear(res);
    return commit_change(call, rv, cancelled, "booking.cancelled", actor,
                         (Bp__Booking__BookingReply *)resp);
}

int booking_cancel_locked(bp_db *db, const booking_row *b, booking_actor actor, const char *reason,
                          PGresult **res)
{
    bool refund = booking_refund_due(b->status, b->deposit_cents, actor, bp_now_ms() / 1000,
                                     b->starts_ms / 1000, b->cancellation_hours);
    const char *params[] = {b->id, booking_actor_name(actor), reason, refund ? "true" : "false"};
    return change_and_emit(db, SQL_CANCEL, 4, params, "booking.cancelled", NULL, res);
}

static const char SQL_RESCHEDULE[] =
    "UPDATE booking.bookings b SET starts_at = to_timestamp($2::int8),"
    " ends_at = to_timestamp($3::int8),"
    " blocked = tstzrange(to_timestamp($2::int8), to_timestamp($4::int8), '[)'),"
    " updated_at = now()" UPDATE_JOINS " RETURNING " BOOKING_ROW_COLUMNS;

/* The new start passes the same checks as a new booking; the UPDATE is one
 * statement, so the exclusion constraint either moves the booking or
 * leaves it exactly as it was. */
BOOKING_HANDLER(reschedule_booking)
{
    const Bp__Booking__RescheduleBookingRequest *in =
        (const Bp__Booking__RescheduleBookingRequest *)req;
    const booking_ctx *app = booking_ctx_of(call);
    bp_db *db = bp_call_worker(call)->db;
    int64_t start_s;
    bool fraction;
    int rv;
    if (!bp_call_check_uuid(call, "booking_id", in->booking_id))
        return BP_EREPLIED;
    if ((rv = parse_start(call, in->starts_at, &start_s, &fraction)) != 0)
        return rv;

    PGresult *res;
    booking_row b;
    booking_actor actor = BOOKING_ACTOR_NONE;
    if ((rv = lock_booking(call, in->booking_id, &res, &b, &actor)) != 0)
        return rv;
    booking_slot_ctx ctx;
    if (!booking_status_open(b.status)) {
        rv = fail_invalid_state(
            call, "Solo se puede reprogramar un turno pendiente de pago o confirmado.");
        goto fail;
    }
    rv = booking_slot_ctx_load(db, b.provider_id, b.service_id, start_s, start_s + SPAN_MAX_S, NULL,
                               app->no_show_window_days, &ctx);
    if (rv != 0) {
        rv = fail_ctx(call, rv);
        goto fail;
    }
    int reason = fraction ? BOOKING_SLOT_MISALIGNED
                          : booking_slot_ctx_check(app, &ctx, start_s, bp_now_ms() / 1000);
    if (reason != BOOKING_SLOT_FREE) {
        rv =
            reason < 0 ? bp_call_fail_internal(call, reason) : booking_fail_slot(call, reason, app);
        goto fail;
    }
    booking_event_extra extra = {.previous_starts_ms = b.starts_ms, .previous_ends_ms = b.ends_ms};
    char provider_id[37];
    snprintf(provider_id, sizeof provider_id, "%s", b.provider_id); /* b lives in res */
    PQclear(res);
    char s_start[24], s_end[24], s_blocked[24];
    int64_t end_s = start_s + (int64_t)ctx.duration_min * 60;
    snprintf(s_start, sizeof s_start, "%lld", (long long)start_s);
    snprintf(s_end, sizeof s_end, "%lld", (long long)end_s);
    snprintf(s_blocked, sizeof s_blocked, "%lld",
             (long long)(end_s + (int64_t)ctx.buffer_min * 60));
    const char *params[] = {in->booking_id, s_start, s_end, s_blocked};
    if (booking_lock_provider(db, provider_id) != 0) {
        bp_db_rollback(db);
        return bp_call_fail_internal(call, BP_EIO);
    }
    return update_and_emit(call, SQL_RESCHEDULE, 4, params, "booking.rescheduled", &extra, actor,
                           (Bp__Booking__BookingReply *)resp);
fail:
    PQclear(res);
    bp_db_rollback(db);
    return rv;
}

static const char SQL_COMPLETE[] =
    "UPDATE booking.bookings b SET status = 'completed', completed_at = now(),"
    " updated_at = now()" UPDATE_JOINS " RETURNING " BOOKING_ROW_COLUMNS;

static const char SQL_NO_SHOW[] =
    "UPDATE booking.bookings b SET status = 'no_show',"
    " updated_at = now()" UPDATE_JOINS " RETURNING " BOOKING_ROW_COLUMNS;

/* Completion and no-show are the shop's word about a confirmed booking
 * whose time has come: its provider's account, the owner or an admin. */
static int close_booking(bp_call *call, const char *booking_id, const char *sql, const char *topic,
                         Bp__Booking__BookingReply *out)
{
    PGresult *res;
    booking_row b;
    booking_actor actor = BOOKING_ACTOR_NONE;
    int rv = lock_booking(call, booking_id, &res, &b, &actor);
    if (rv != 0)
        return rv;
    /* The client may see it but not close it; an owner or provider who is
     * also the client is still the shop. */
    const char *me = bp_call_user_id(call);
    bool shop_side = strcmp(b.provider_user_id, me) == 0 || strcmp(b.owner_id, me) == 0 ||
                     booking_is_admin(call);
    if (!shop_side)
        rv = bp_call_fail_forbidden(call);
    else if (strcmp(b.status, "confirmed") != 0)
        rv = fail_invalid_state(call, "Solo se puede cerrar un turno confirmado.");
    else if (bp_now_ms() < b.starts_ms)
        rv = bp_call_fail(call, 422, "too_soon", NULL, "El turno todavía no empezó.");
    PQclear(res);
    if (rv != 0) {
        bp_db_rollback(bp_call_worker(call)->db);
        return rv;
    }
    const char *params[] = {booking_id};
    return update_and_emit(call, sql, 1, params, topic, NULL, actor, out);
}

BOOKING_HANDLER(complete_booking)
{
    const Bp__Booking__BookingRequest *in = (const Bp__Booking__BookingRequest *)req;
    return close_booking(call, in->booking_id, SQL_COMPLETE, "booking.completed",
                         (Bp__Booking__BookingReply *)resp);
}

BOOKING_HANDLER(mark_no_show)
{
    const Bp__Booking__BookingRequest *in = (const Bp__Booking__BookingRequest *)req;
    return close_booking(call, in->booking_id, SQL_NO_SHOW, "booking.no_show",
                         (Bp__Booking__BookingReply *)resp);
}
