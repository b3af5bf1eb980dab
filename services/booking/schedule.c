/* A provider's weekly working hours (public read, cached; replaced whole by
 * the shop's owner or the provider's own account) and time off.
 *
 * Time off does not touch existing bookings: a span that covers booked
 * turns is accepted, those bookings stay as they are, and the owner or the
 * provider cancels them (with the client told) where that is wanted. New
 * bookings in the span are refused by availability from then on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booking.h"
#include "cache.h"
#include "log.h"

#define TIME_OFF_MAX_MS     (366LL * 24 * 3600 * 1000)
#define TIME_OFF_REASON_MAX 500
#define TIME_OFF_LIST_MAX   500

/* ---- rules ----------------------------------------------------------------- */

int booking_hhmm_parse(const char *s, bool allow_midnight_end, int *minutes)
{
    if (s == NULL || strlen(s) != 5 || s[2] != ':')
        return BP_EINVAL;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return BP_EINVAL;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_midnight_end)))
        return BP_EINVAL;
    *minutes = h * 60 + m;
    return 0;
}

void booking_hhmm_format(int minutes, char out[6])
{
    if (minutes < 0 || minutes > 1440)
        minutes = 0;
    snprintf(out, 6, "%02d:%02d", minutes / 60, minutes % 60);
}

static int by_day_then_start(const void *a, const void *b)
{
    const booking_week_range *x = a, *y = b;
    if (x->weekday != y->weekday)
        return x->weekday - y->weekday;
    return x->start_min - y->start_min;
}

int booking_week_validate(Bp__Booking__HoursRange *const *rows, size_t n, booking_week_range *out,
                          char *field, size_t flen, const char **why)
{
    if (n > BOOKING_WEEK_MAX_RANGES) {
        snprintf(field, flen, "weekly");
        *why = "La semana admite a lo sumo 70 franjas horarias.";
        return BP_ETOOBIG;
    }
    for (size_t i = 0; i < n; i++) {
        const Bp__Booking__HoursRange *r = rows[i];
        if (r == NULL || !r->has_weekday || r->weekday < 1 || r->weekday > 7) {
            snprintf(field, flen, "weekly.%zu.weekday", i);
            *why = "El día debe ser un número del 1 (lunes) al 7 (domingo).";
            return BP_EINVAL;
        }
        if (booking_hhmm_parse(r->start, false, &out[i].start_min) != 0) {
            snprintf(field, flen, "weekly.%zu.start", i);
            *why = "La hora de inicio debe tener el formato HH:MM, de 00:00 a 23:59.";
            return BP_EINVAL;
        }
        if (booking_hhmm_parse(r->end, true, &out[i].end_min) != 0) {
            snprintf(field, flen, "weekly.%zu.end", i);
            *why = "La hora de fin debe tener el formato HH:MM, de 00:01 a 24:00.";
            return BP_EINVAL;
        }
        if (out[i].start_min >= out[i].end_min) {
            snprintf(field, flen, "weekly.%zu.end", i);
            *why = "La hora de fin debe ser posterior a la de inicio.";
            return BP_EINVAL;
        }
        out[i].weekday = r->weekday;
    }
    /* Overlaps: sort a copy that remembers each row's place in the input,
     * and name the row that starts inside another. */
    booking_week_range sorted[BOOKING_WEEK_MAX_RANGES];
    int place[BOOKING_WEEK_MAX_RANGES];
    memcpy(sorted, out, n * sizeof *out);
    /* start_min is below 1440: the input index rides in the spare bits. */
    for (size_t i = 0; i < n; i++)
        sorted[i].start_min = sorted[i].start_min * 1024 + (int)i;
    qsort(sorted, n, sizeof *sorted, by_day_then_start);
    for (size_t i = 0; i < n; i++) {
        place[i] = sorted[i].start_min % 1024;
        sorted[i].start_min /= 1024;
    }
    for (size_t i = 1; i < n; i++) {
        if (sorted[i].weekday == sorted[i - 1].weekday &&
            sorted[i].start_min < sorted[i - 1].end_min) {
            snprintf(field, flen, "weekly.%d.start", place[i]);
            *why = "Esta franja se superpone con otra del mismo día.";
            return BP_EINVAL;
        }
    }
    return 0;
}

/* ---- schedule ------------------------------------------------------------- */

/* Reads the week of provider_id into sched (the call's arena), with the
 * shop's zone. Returns 0, BP_ENOTFOUND, BP_ENOMEM or BP_EIO. */
static int load_schedule(bp_call *call, const char *provider_id, Bp__Booking__Schedule **out)
{
    bp_db *db = bp_call_worker(call)->db;
    const char *params[] = {provider_id};
    PGresult *res =
        bp_db_query(db,
                    "SELECT sh.timezone, h.weekday, h.start_min, h.end_min "
                    "FROM booking.providers p JOIN booking.shops sh ON sh.id = p.shop_id "
                    "LEFT JOIN booking.provider_hours h ON h.provider_id = p.id "
                    "WHERE p.id = $1 ORDER BY h.weekday, h.start_min",
                    1, params);
    int rv = 0;
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        rv = BP_EIO;
        goto out;
    }
    int n = PQntuples(res);
    if (n == 0) {
        rv = BP_ENOTFOUND;
        goto out;
    }
    Bp__Booking__Schedule *s =
        (Bp__Booking__Schedule *)bp_call_message(call, &bp__booking__schedule__descriptor);
    if (s == NULL || (s->provider_id = bp_call_strdup(call, provider_id)) == NULL ||
        (s->timezone = bp_call_strdup(call, PQgetvalue(res, 0, 0))) == NULL ||
        (s->weekly = bp_arena_alloc(bp_call_arena(call), sizeof *s->weekly * (size_t)n)) == NULL) {
        rv = BP_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(res, i, 1))
            break; /* an empty week: the LEFT JOIN's lone row */
        Bp__Booking__HoursRange *h =
            (Bp__Booking__HoursRange *)bp_call_message(call, &bp__booking__hours_range__descriptor);
        char start[6], end[6];
        if (h == NULL) {
            rv = BP_ENOMEM;
            goto out;
        }
        booking_hhmm_format((int)strtol(PQgetvalue(res, i, 2), NULL, 10), start);
        booking_hhmm_format((int)strtol(PQgetvalue(res, i, 3), NULL, 10), end);
        h->has_weekday = true;
        h->weekday = (int32_t)strtol(PQgetvalue(res, i, 1), NULL, 10);
        h->start = bp_call_strdup(call, start);
        h->end = bp_call_strdup(call, end);
        if (h->start == NULL || h->end == NULL) {
            rv = BP_ENOMEM;
            goto out;
        }
        s->weekly[s->n_weekly++] = h;
    }
    *out = s;
out:
    PQclear(res);
    return rv;
}

BOOKING_HANDLER(get_schedule)
{
    const Bp__Booking__ProviderRequest *r = (const Bp__Booking__ProviderRequest *)req;
    Bp__Booking__ScheduleReply *out = (Bp__Booking__ScheduleReply *)resp;
    booking_cache_entry entry;

    if (!bp_call_check_uuid(call, "provider_id", r->provider_id))
        return BP_EREPLIED;
    Bp__Booking__Schedule *hit = (Bp__Booking__Schedule *)booking_cache_get(
        call, BOOKING_CACHE_SCHEDULE, r->provider_id, "weekly", &bp__booking__schedule__descriptor,
        &entry);
    if (hit != NULL) {
        out->schedule = hit;
        return 0;
    }
    int rv = load_schedule(call, r->provider_id, &out->schedule);
    if (rv == BP_ENOTFOUND)
        return bp_call_fail_not_found(call, "El profesional");
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    booking_cache_put(call, &entry, (const ProtobufCMessage *)out->schedule);
    return 0;
}

/* Replaces the week of provider_id with the n rows of hours. */
static int store_week(bp_call *call, const char *provider_id, const booking_week_range *hours,
                      size_t n)
{
    bp_db *db = bp_call_worker(call)->db;
    /* Three parallel array literals of small integers. */
    char days[BOOKING_WEEK_MAX_RANGES * 2 + 3], starts[BOOKING_WEEK_MAX_RANGES * 5 + 3],
        ends[BOOKING_WEEK_MAX_RANGES * 5 + 3];
    size_t a = 0, b = 0, c = 0;
    days[a++] = starts[b++] = ends[c++] = '{';
    for (size_t i = 0; i < n; i++) {
        const char *sep = i > 0 ? "," : "";
        a += (size_t)snprintf(days + a, sizeof days - a, "%s%d", sep, hours[i].weekday);
        b += (size_t)snprintf(starts + b, sizeof starts - b, "%s%d", sep, hours[i].start_min);
        c += (size_t)snprintf(ends + c, sizeof ends - c, "%s%d", sep, hours[i].end_min);
    }
    snprintf(days + a, sizeof days - a, "}");
    snprintf(starts + b, sizeof starts - b, "}");
    snprintf(ends + c, sizeof ends - c, "}");

    const char *params[] = {provider_id, days, starts, ends};
    PGresult *res =
        bp_db_query(db, "DELETE FROM booking.provider_hours WHERE provider_id = $1", 1, params);
    int rv = bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
    PQclear(res);
    if (rv != 0 || n == 0)
        return rv;
    res =
        bp_db_query(db,
                    "INSERT INTO booking.provider_hours (provider_id, weekday, start_min, end_min) "
                    "SELECT $1, d, s, e FROM unnest($2::smallint[], $3::smallint[], "
                    "$4::smallint[]) AS t (d, s, e)",
                    4, params);
    rv = bp_db_ok(res, bp_call_request_id(call)) ? 0 : BP_EIO;
    PQclear(res);
    return rv;
}

BOOKING_HANDLER(put_schedule)
{
    const Bp__Booking__PutScheduleRequest *r = (const Bp__Booking__PutScheduleRequest *)req;
    Bp__Booking__ScheduleReply *out = (Bp__Booking__ScheduleReply *)resp;
    bp_worker *w = bp_call_worker(call);
    booking_week_range hours[BOOKING_WEEK_MAX_RANGES];
    char field[48];
    const char *why;

    int rv = booking_require_provider_manager(call, r->provider_id, NULL);
    if (rv != 0)
        return rv;
    if (booking_week_validate(r->weekly, r->n_weekly, hours, field, sizeof field, &why) != 0)
        return bp_call_fail_invalid(call, field, why);

    if (bp_db_begin(w->db) != 0)
        return bp_call_fail_internal(call, BP_EIO);
    rv = store_week(call, r->provider_id, hours, r->n_weekly);
    if (rv == 0 && bp_db_commit(w->db) != 0)
        rv = BP_EIO;
    if (rv != 0) {
        bp_db_rollback(w->db);
        return bp_call_fail_internal(call, rv);
    }
    booking_cache_drop(w->kv, BOOKING_CACHE_SCHEDULE, r->provider_id);
    booking_cache_drop(w->kv, BOOKING_CACHE_AVAIL, r->provider_id);
    rv = load_schedule(call, r->provider_id, &out->schedule);
    return rv == 0 ? 0 : bp_call_fail_internal(call, rv);
}

/* ---- time off ------------------------------------------------------------- */

#define TIME_OFF_COLUMNS                                                                           \
    "t.id::text, t.provider_id::text, (extract(epoch from lower(t.period)) * 1000)::bigint, "      \
    "(extract(epoch from upper(t.period)) * 1000)::bigint, coalesce(t.reason, ''), "               \
    "(extract(epoch from t.created_at) * 1000)::bigint, sh.timezone"

static Bp__Booking__TimeOff *time_off_from_row(bp_call *call, const PGresult *res, int row)
{
    Bp__Booking__TimeOff *m =
        (Bp__Booking__TimeOff *)bp_call_message(call, &bp__booking__time_off__descriptor);
    if (m == NULL)
        return NULL;
    const char *tz = PQgetvalue(res, row, 6);
    m->id = bp_call_strdup(call, PQgetvalue(res, row, 0));
    m->provider_id = bp_call_strdup(call, PQgetvalue(res, row, 1));
    m->starts_at = bp_call_time(call, strtoll(PQgetvalue(res, row, 2), NULL, 10), tz);
    m->ends_at = bp_call_time(call, strtoll(PQgetvalue(res, row, 3), NULL, 10), tz);
    if (PQgetvalue(res, row, 4)[0] != '\0')
        m->reason = bp_call_strdup(call, PQgetvalue(res, row, 4));
    m->created_at = bp_call_time(call, strtoll(PQgetvalue(res, row, 5), NULL, 10), tz);
    if (m->id == NULL || m->provider_id == NULL || m->starts_at == NULL || m->ends_at == NULL ||
        m->created_at == NULL)
        return NULL;
    return m;
}

static ProtobufCMessage *time_off_message(bp_call *call, const PGresult *res, int row)
{
    Bp__Booking__TimeOff *m = time_off_from_row(call, res, row);
    return m != NULL ? &m->base : NULL;
}

int booking_time_off_of_user(bp_call *call, const char *user_id, int max,
                             Bp__Booking__TimeOff ***items, size_t *n)
{
    return booking_reply_of_user(
        call,
        "SELECT " TIME_OFF_COLUMNS
        " FROM booking.time_off t JOIN booking.providers p ON p.id = t.provider_id"
        " JOIN booking.shops sh ON sh.id = p.shop_id WHERE p.user_id = $1"
        " ORDER BY lower(t.period), t.id LIMIT $2::int",
        user_id, max, time_off_message, (ProtobufCMessage ***)items, n);
}

/* An RFC 3339 time with offset, or 400 naming field. */
static int parse_time(bp_call *call, const char *field, const char *in, int64_t *ms)
{
    if (in == NULL || in[0] == '\0')
        return bp_call_fail(call, 400, "invalid_request", field, "Falta el campo %s.", field);
    if (bp_time_parse(in, ms) != 0)
        return bp_call_fail(call, 400, "invalid_request", field,
                            "El campo %s debe ser una fecha y hora RFC 3339 con zona, por "
                            "ejemplo 2026-12-04T15:30:00-03:00.",
                            field);
    return 0;
}

static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

BOOKING_HANDLER(create_time_off)
{
    const Bp__Booking__CreateTimeOffRequest *r = (const Bp__Booking__CreateTimeOffRequest *)req;
    Bp__Booking__TimeOffReply *out = (Bp__Booking__TimeOffReply *)resp;
    bp_worker *w = bp_call_worker(call);
    int64_t from, to;
    char id[37], from_s[24], to_s[24];

    int rv = booking_require_provider_manager(call, r->provider_id, NULL);
    if (rv != 0)
        return rv;
    if ((rv = parse_time(call, "starts_at", r->starts_at, &from)) != 0 ||
        (rv = parse_time(call, "ends_at", r->ends_at, &to)) != 0)
        return rv;
    if (to <= from)
        return bp_call_fail_invalid(call, "ends_at", "El fin debe ser posterior al inicio.");
    if (to - from > TIME_OFF_MAX_MS)
        return bp_call_fail_invalid(call, "ends_at",
                                    "Una ausencia puede durar a lo sumo 366 días.");
    const char *reason = r->reason != NULL && r->reason[0] != '\0' ? r->reason : NULL;
    if (reason != NULL && utf8_length(reason) > TIME_OFF_REASON_MAX)
        return bp_call_fail_invalid(call, "reason",
                                    "El motivo puede tener a lo sumo 500 caracteres.");

    bp_uuid(id);
    snprintf(from_s, sizeof from_s, "%lld", (long long)from);
    snprintf(to_s, sizeof to_s, "%lld", (long long)to);
    const char *me = bp_call_user_id(call);
    const char *params[] = {id,   r->provider_id, from_s,
                            to_s, reason,         bp_uuid_valid(me) ? me : NULL};
    PGresult *res = bp_db_query(
        w->db,
        "WITH t AS (INSERT INTO booking.time_off (id, provider_id, period, reason, created_by) "
        "VALUES ($1, $2, tstzrange('epoch'::timestamptz + $3::bigint * interval '1 millisecond', "
        "'epoch'::timestamptz + $4::bigint * interval '1 millisecond', '[)'), $5, $6) "
        "RETURNING *) "
        "SELECT " TIME_OFF_COLUMNS " FROM t JOIN booking.providers p ON p.id = t.provider_id "
        "JOIN booking.shops sh ON sh.id = p.shop_id",
        6, params);
    rv = 0;
    if (!bp_db_ok(res, bp_call_request_id(call)) || PQntuples(res) != 1)
        rv = bp_call_fail_internal(call, BP_EIO);
    else if ((out->time_off = time_off_from_row(call, res, 0)) == NULL)
        rv = bp_call_fail_internal(call, BP_ENOMEM);
    PQclear(res);
    if (rv != 0)
        return rv;
    booking_cache_drop(w->kv, BOOKING_CACHE_AVAIL, r->provider_id);
    bp_call_set_status(call, 201);
    return 0;
}

BOOKING_HANDLER(list_time_off)
{
    const Bp__Booking__ListTimeOffRequest *r = (const Bp__Booking__ListTimeOffRequest *)req;
    Bp__Booking__TimeOffList *out = (Bp__Booking__TimeOffList *)resp;
    int64_t from = 0, to = 0;
    char from_s[24], to_s[24];

    int rv = booking_require_provider_manager(call, r->provider_id, NULL);
    if (rv != 0)
        return rv;
    /* Without from: what is current or ahead. Without to: no end. */
    bool has_from = r->from != NULL && r->from[0] != '\0';
    bool has_to = r->to != NULL && r->to[0] != '\0';
    if (has_from && (rv = parse_time(call, "from", r->from, &from)) != 0)
        return rv;
    if (!has_from)
        from = bp_now_ms();
    if (has_to && (rv = parse_time(call, "to", r->to, &to)) != 0)
        return rv;
    if (has_to && to <= from)
        return bp_call_fail_invalid(call, "to", "El fin del rango debe ser posterior al inicio.");
    snprintf(from_s, sizeof from_s, "%lld", (long long)from);
    snprintf(to_s, sizeof to_s, "%lld", (long long)to);

    const char *params[] = {r->provider_id, from_s, has_to ? to_s : NULL};
    PGresult *res = bp_db_query(
        bp_call_worker(call)->db,
        "SELECT " TIME_OFF_COLUMNS
        " FROM booking.time_off t JOIN booking.providers p ON p.id = t.provider_id "
        "JOIN booking.shops sh ON sh.id = p.shop_id WHERE t.provider_id = $1 AND t.period && "
        "tstzrange('epoch'::timestamptz + $2::bigint * interval '1 millisecond', "
        "'epoch'::timestamptz + $3::bigint * interval '1 millisecond', '[)') "
        "ORDER BY lower(t.period), t.id LIMIT 500",
        3, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    int n = PQntuples(res);
    rv = 0;
    out->items = bp_arena_alloc(bp_call_arena(call), sizeof *out->items * (size_t)(n + 1));
    if (out->items == NULL)
        rv = BP_ENOMEM;
    for (int i = 0; rv == 0 && i < n; i++) {
        if ((out->items[i] = time_off_from_row(call, res, i)) == NULL)
            rv = BP_ENOMEM;
        else
            out->n_items = (size_t)i + 1;
    }
    PQclear(res);
    return rv == 0 ? 0 : bp_call_fail_internal(call, rv);
}

BOOKING_HANDLER(delete_time_off)
{
    (void)resp;
    const Bp__Booking__TimeOffRequest *r = (const Bp__Booking__TimeOffRequest *)req;
    bp_worker *w = bp_call_worker(call);

    int rv = booking_require_provider_manager(call, r->provider_id, NULL);
    if (rv != 0)
        return rv;
    if (!bp_call_check_uuid(call, "time_off_id", r->time_off_id))
        return BP_EREPLIED;
    const char *params[] = {r->provider_id, r->time_off_id};
    PGresult *res = bp_db_query(
        w->db, "DELETE FROM booking.time_off WHERE provider_id = $1 AND id = $2", 2, params);
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    bool gone = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!gone)
        return bp_call_fail_not_found(call, "La ausencia");
    booking_cache_drop(w->kv, BOOKING_CACHE_AVAIL, r->provider_id);
    bp_call_set_status(call, 204);
    return 0;
}
