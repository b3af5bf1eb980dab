/* GET /api/providers/{id}/availability: the free starts of a service with a
 * provider over one or more local days, from the slot engine
 * (availability.h), cached per provider for 15 minutes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bookings.h"
#include "cache.h"
#include "holidays.h"
#include "log.h"

/* Everything the engine needs in one round trip: the shop, the service,
 * whether the provider performs it, the weekly hours, and the time off and
 * active bookings (their blocked ranges, buffer included) touching the
 * window, as "start end ..." in Unix seconds clipped to the window, and the
 * days the shop is closed ($5..$6, BOOKING_SQL_CLOSED_DAYS). */
static const char SQL_AVAIL_CTX[] =
    "SELECT sh.id, sh.timezone, sh.slot_step_minutes, s.duration_minutes, "
    "s.buffer_minutes," BOOKING_SQL_PROVIDER_WEEK ","
    " (SELECT coalesce(string_agg(extract(epoch FROM lower(b.blocked))::int8"
    "   || ' ' || extract(epoch FROM upper(b.blocked))::int8, ' '), '')"
    "  FROM booking.bookings b WHERE b.provider_id = p.id"
    "  AND b.status IN ('pending_payment', 'confirmed')"
    "  AND b.blocked && tstzrange(to_timestamp($3::int8), to_timestamp($4::int8))),"
    " s.id IS NOT NULL, " BOOKING_SQL_CLOSED_DAYS(
        "sh.id", "$5::int",
        "$6::int") " FROM booking.providers p JOIN booking.shops sh ON sh.id = p.shop_id"
                   " LEFT JOIN booking.services s ON s.id = $2::uuid AND s.shop_id = p.shop_id AND "
                   "s.active"
                   " WHERE p.id = $1::uuid AND p.active";

int booking_slots_warm_up(bp_db *db)
{
    static const char nil[] = "00000000-0000-4000-8000-000000000000";
    const char *params[] = {nil, nil, "0", "0", "0", "0"};
    PGresult *r = bp_db_exec_prepared(db, BOOKING_STMT_AVAIL_CTX, SQL_AVAIL_CTX, 6, params);
    int rv = bp_db_ok(r, NULL) ? 0 : BP_EIO;
    PQclear(r);
    return rv;
}

/* Counts the integers of "a b c ..." (an upper bound: separators + 1). */
static size_t count_ints(const char *s)
{
    if (*s == '\0')
        return 0;
    size_t n = 1;
    for (; *s != '\0'; s++)
        n += *s == ' ';
    return n;
}

/* Parses "start end start end ..." into spans allocated in the arena. */
static booking_span *parse_spans(bp_arena *a, const char *s, size_t extra, size_t *n)
{
    size_t cap = count_ints(s) / 2 + extra;
    booking_span *out = bp_arena_alloc(a, sizeof *out * (cap + 1));
    *n = 0;
    if (out == NULL)
        return NULL;
    char *end;
    while (*s != '\0' && *n < cap) {
        long long a0 = strtoll(s, &end, 10);
        if (end == s)
            break;
        s = end;
        long long a1 = strtoll(s, &end, 10);
        if (end == s)
            break;
        s = end;
        out[(*n)++] = (booking_span){.start = a0, .end = a1};
    }
    return out;
}

/* 400 for a date before the shop's today or past the booking horizon. */
static int check_date(bp_call *call, const bp_tz *tz, int32_t day, int64_t now_s)
{
    const booking_ctx *app = booking_ctx_of(call);
    int32_t today = bp_tz_local_day(tz, now_s);
    if (day < today)
        return bp_call_fail_invalid(call, "date", "La fecha no puede ser anterior a hoy.");
    if (day > today + app->horizon_days)
        return bp_call_fail(call, 400, "invalid_request", "date",
                            "Solo se puede consultar hasta %d días desde hoy.", app->horizon_days);
    return 0;
}

/* Fills out's slots from n spans (starts[i], ends[i]) in tz, skipping
 * those that start before earliest_s: a cached answer was right when it
 * was made, but the minimum notice has moved on since. Returns 0 or
 * BP_ENOMEM. */
static int render_slots(bp_call *call, const bp_tz *tz, const int64_t *starts, const int64_t *ends,
                        size_t n, int64_t earliest_s, Bp__Booking__AvailabilityReply *out)
{
    size_t skip = 0;
    while (skip < n && starts[skip] < earliest_s)
        skip++;
    starts += skip;
    ends += skip;
    n -= skip;
    /* One block for the messages, one for the texts: thousands of slots
     * must not mean thousands of allocations. */
    bp_arena *arena = bp_call_arena(call);
    Bp__Booking__Slot *msgs = bp_arena_alloc(arena, sizeof *msgs * (n + 1));
    Bp__Booking__Slot **ptrs = bp_arena_alloc(arena, sizeof *ptrs * (n + 1));
    char *texts = bp_arena_alloc(arena, (size_t)52 * (n + 1));
    if (msgs == NULL || ptrs == NULL || texts == NULL)
        return BP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        Bp__Booking__Slot init = BP__BOOKING__SLOT__INIT;
        msgs[i] = init;
        msgs[i].starts_at = texts + 52 * i;
        msgs[i].ends_at = texts + 52 * i + 26;
        if (bp_tz_format(tz, starts[i], msgs[i].starts_at) != 0 ||
            bp_tz_format(tz, ends[i], msgs[i].ends_at) != 0)
            return BP_EINVAL;
        ptrs[i] = &msgs[i];
    }
    out->slots = ptrs;
    out->n_slots = n;
    return 0;
}

BOOKING_HANDLER(availability)
{
    const Bp__Booking__AvailabilityRequest *in = (const Bp__Booking__AvailabilityRequest *)req;
    Bp__Booking__AvailabilityReply *out = (Bp__Booking__AvailabilityReply *)resp;
    const booking_ctx *app = booking_ctx_of(call);
    bp_db *db = bp_call_worker(call)->db;
    bp_arena *arena = bp_call_arena(call);
    int32_t first_day;
    int rv;

    if (!bp_call_check_uuid(call, "provider_id", in->provider_id) ||
        !bp_call_check_uuid(call, "service_id", in->service_id))
        return BP_EREPLIED;
    if (in->date == NULL || *in->date == '\0')
        return bp_call_fail_invalid(call, "date", "Falta el campo date (AAAA-MM-DD).");
    if (bp_date_parse(in->date, &first_day) != 0)
        return bp_call_fail_invalid(call, "date", "date debe ser una fecha AAAA-MM-DD válida.");
    int days = in->has_days ? in->days : 1;
    if (days < 1 || days > app->horizon_days)
        return bp_call_fail(call, 400, "invalid_request", "days", "days debe estar entre 1 y %d.",
                            app->horizon_days);
    int64_t now_ms = bp_now_ms();
    int64_t now_s = now_ms / 1000;

    char field[96];
    snprintf(field, sizeof field, "%s:%s:%d", in->service_id, in->date, days);
    booking_cache_entry entry;
    Bp__Booking__CachedSlots *hit = (Bp__Booking__CachedSlots *)booking_cache_get(
        call, BOOKING_CACHE_AVAIL, in->provider_id, field, &bp__booking__cached_slots__descriptor,
        &entry);
    const bp_tz *tz;
    int64_t earliest_s = now_s + (int64_t)app->min_notice_minutes * 60;
    if (hit != NULL && hit->timezone != NULL && hit->n_starts == hit->n_ends &&
        bp_tz_load(hit->timezone, &tz) == 0) {
        if ((rv = check_date(call, tz, first_day, now_s)) != 0)
            return rv;
        out->timezone = hit->timezone; /* in the call's arena */
        out->provider_id = bp_call_strdup(call, in->provider_id);
        out->service_id = bp_call_strdup(call, in->service_id);
        rv = render_slots(call, tz, hit->starts, hit->ends, hit->n_starts, earliest_s, out);
        if (rv != 0 || out->provider_id == NULL || out->service_id == NULL)
            return bp_call_fail_internal(call, rv != 0 ? rv : BP_ENOMEM);
        return 0;
    }

    /* The window, generously: local days are at most 14 h away from UTC. */
    int64_t win_start = (int64_t)first_day * 86400 - 86400;
    int64_t win_end = ((int64_t)first_day + days) * 86400 + 2 * 86400;
    char s_from[24], s_to[24];
    snprintf(s_from, sizeof s_from, "%lld", (long long)win_start);
    snprintf(s_to, sizeof s_to, "%lld", (long long)win_end);
    char s_first[16], s_last[16];
    snprintf(s_first, sizeof s_first, "%d", (int)first_day);
    snprintf(s_last, sizeof s_last, "%d", (int)(first_day + days - 1));
    const char *params[] = {in->provider_id, in->service_id, s_from, s_to, s_first, s_last};
    PGresult *res = bp_db_exec_prepared(db, BOOKING_STMT_AVAIL_CTX, SQL_AVAIL_CTX,
                                        (int)BP_COUNTOF(params), params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        rv = bp_call_fail_internal(call, BP_EIO);
        goto out;
    }
    if (PQntuples(res) == 0) {
        rv = bp_call_fail_not_found(call, "El profesional");
        goto out;
    }
    if (PQgetvalue(res, 0, 9)[0] != 't') {
        rv = bp_call_fail_not_found(call, "El servicio");
        goto out;
    }
    if (PQgetvalue(res, 0, 5)[0] != 't') {
        rv = bp_call_fail(call, 422, "service_not_offered", "service_id",
                          "Este profesional no hace ese servicio.");
        goto out;
    }
    const char *zone = PQgetvalue(res, 0, 1);
    if (bp_tz_load(zone, &tz) != 0) {
        rv = bp_call_fail_internal(call, BP_EIO);
        goto out;
    }
    if ((rv = check_date(call, tz, first_day, now_s)) != 0)
        goto out;

    booking_hours hours[BOOKING_AVAIL_MAX_HOURS];
    size_t n_hours = 0;
    const char *h = PQgetvalue(res, 0, 6);
    char *end;
    while (*h != '\0' && n_hours < BOOKING_AVAIL_MAX_HOURS) {
        long v[3];
        int k = 0;
        for (; k < 3; k++) {
            v[k] = strtol(h, &end, 10);
            if (end == h)
                break;
            h = end;
        }
        if (k < 3)
            break;
        hours[n_hours++] = (booking_hours){(int)v[0], (int)v[1], (int)v[2]};
    }
    size_t n_off, n_booked;
    booking_span *off = parse_spans(arena, PQgetvalue(res, 0, 7), 0, &n_off);
    booking_span *busy = parse_spans(arena, PQgetvalue(res, 0, 8), n_off, &n_booked);
    if (off == NULL || busy == NULL) {
        rv = bp_call_fail_internal(call, BP_ENOMEM);
        goto out;
    }
    memcpy(busy + n_booked, off, sizeof *off * n_off);

    int32_t closed[BOOKING_AVAIL_MAX_CLOSED];
    size_t n_closed;
    if ((rv = booking_days_parse(PQgetvalue(res, 0, 10), closed, BP_COUNTOF(closed), &n_closed)) !=
        0) {
        rv = bp_call_fail_internal(call, rv);
        goto out;
    }

    int step = (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
    booking_avail_query q = {
        .tz = tz,
        .hours = hours,
        .n_hours = n_hours,
        .busy = busy,
        .n_busy = n_booked + n_off,
        .closed_days = closed,
        .n_closed = n_closed,
        .duration_min = (int)strtol(PQgetvalue(res, 0, 3), NULL, 10),
        .buffer_min = (int)strtol(PQgetvalue(res, 0, 4), NULL, 10),
        .step_min = step,
        .now = now_s,
        .notice_min = app->min_notice_minutes,
        .horizon_days = app->horizon_days,
        .first_day = first_day,
        .n_days = days,
    };
    size_t cap = (size_t)days * (size_t)(1440 / (step > 0 ? step : 1) + 1);
    booking_span *slots = bp_arena_alloc(arena, sizeof *slots * cap);
    size_t n = 0;
    if (slots == NULL) {
        rv = bp_call_fail_internal(call, BP_ENOMEM);
        goto out;
    }
    rv = booking_availability(&q, slots, cap, &n);
    if (rv != 0) {
        bp_log(BP_LOG_ERROR, bp_call_request_id(call), "availability of %s: %s", in->provider_id,
               bp_strerror(rv));
        rv = bp_call_fail_internal(call, rv);
        goto out;
    }

    /* The cache keeps the instants; both paths render them the same way. */
    Bp__Booking__CachedSlots cached = BP__BOOKING__CACHED_SLOTS__INIT;
    cached.starts = bp_arena_alloc(arena, sizeof *cached.starts * (n + 1));
    cached.ends = bp_arena_alloc(arena, sizeof *cached.ends * (n + 1));
    out->timezone = bp_call_strdup(call, zone);
    out->provider_id = bp_call_strdup(call, in->provider_id);
    out->service_id = bp_call_strdup(call, in->service_id);
    if (cached.starts == NULL || cached.ends == NULL || out->timezone == NULL ||
        out->provider_id == NULL || out->service_id == NULL) {
        rv = bp_call_fail_internal(call, BP_ENOMEM);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        cached.starts[i] = slots[i].start;
        cached.ends[i] = slots[i].end;
    }
    cached.n_starts = cached.n_ends = n;
    cached.timezone = out->timezone;
    if ((rv = render_slots(call, tz, cached.starts, cached.ends, n, earliest_s, out)) != 0) {
        rv = bp_call_fail_internal(call, rv);
        goto out;
    }
    booking_cache_put(call, &entry, &cached.base);
out:
    PQclear(res);
    return rv;
}
