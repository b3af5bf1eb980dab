/* The booking daemon's business figures (GET /api/business-metrics), read
 * from its schema at each scrape so that they survive restarts and agree
 * across instances: bookings made and by status, and the providers'
 * utilisation today and over the next 7 days, measured with the slot
 * engine's reading of hours, holidays and time off (availability.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bookings.h"
#include "holidays.h"
#include "log.h"
#include "prom.h"
#include "tz.h"

/* Every status a booking may have (the table's CHECK), each reported even
 * at 0; a status added later shows up too (the FULL JOIN). The counts walk
 * bookings_status_idx only (migrations/booking/0008). */
static const char SQL_BY_STATUS[] =
    "SELECT status, coalesce(c.n, 0) FROM (VALUES ('pending_payment'), ('confirmed'),"
    " ('completed'), ('no_show'), ('cancelled'), ('expired')) AS k (status)"
    " FULL JOIN (SELECT status, count(*) AS n FROM booking.bookings GROUP BY status) AS c"
    " USING (status) ORDER BY status";

/* What holds a chair: a booking waiting for its deposit, confirmed, done,
 * or one the client did not come to (the time was given up all the same). */
#define HOLDING_STATUSES "('pending_payment', 'confirmed', 'completed', 'no_show')"

/* The bookings of provider p holding the chair in the window [$3, $4), as
 * "start end ..." clipped to it. A booking lasts at most 600 + 240 minutes
 * (the CHECKs of booking.services), so one that reaches into the window
 * started less than a day before it: the bound lets bookings_provider_idx
 * find them. */
#define SQL_HOLDING                                                                                \
    " (SELECT coalesce(string_agg("                                                                \
    "   extract(epoch FROM greatest(lower(b.blocked), to_timestamp($3::int8)))::int8"              \
    "   || ' ' || extract(epoch FROM least(upper(b.blocked), to_timestamp($4::int8)))::int8,"      \
    "   ' '), '')"                                                                                 \
    "  FROM booking.bookings b WHERE b.provider_id = p.id"                                         \
    "  AND b.starts_at >= to_timestamp($3::int8) - interval '1 day'"                               \
    "  AND b.starts_at < to_timestamp($4::int8) AND upper(b.blocked) > to_timestamp($3::int8)"     \
    "  AND b.status IN " HOLDING_STATUSES ")"
#define SQL_TIME_OFF BOOKING_SQL_PROVIDER_TIME_OFF("$3::int8", "$4::int8")
#define SQL_CLOSED   BOOKING_SQL_CLOSED_DAYS("sh.id", "$1::int", "$2::int")

/* Per active provider, everything booking_usage_measure needs over the
 * window [$3, $4) (Unix seconds): the shop's zone, the weekly hours, the
 * time off and the bookings holding the chair clipped to the window, and
 * the closed days among the local dates $1..$2. */
static const char SQL_USAGE[] =
    "SELECT sh.timezone," BOOKING_SQL_PROVIDER_HOURS "," SQL_TIME_OFF "," SQL_HOLDING "," SQL_CLOSED
    " FROM booking.providers p JOIN booking.shops sh"
    " ON sh.id = p.shop_id WHERE p.active";

/* The windows of the utilisation, as local days from today on. */
static const struct {
    const char *label;
    int days;
} windows[] = {{"today", 1}, {"next_7_days", 7}};

/* Local dates around the windows whose holidays are read: a shop in
 * another zone than TIMEZONE may be a day ahead or behind, and
 * booking_usage_measure looks one date beyond each end. */
#define CLOSED_MARGIN_DAYS 2

/* A growable array of integers parsed from "a b c ...". */
typedef struct {
    int64_t *v;
    size_t n, cap;
} int_list;

/* Parses s into l (replacing what it held). Returns 0 or BP_ENOMEM. */
static int ints_parse(const char *s, int_list *l)
{
    size_t need = 1;
    for (const char *c = s; *c != '\0'; c++)
        need += *c == ' ';
    if (need > l->cap) {
        int64_t *v = realloc(l->v, need * sizeof *v);
        if (v == NULL)
            return BP_ENOMEM;
        l->v = v;
        l->cap = need;
    }
    l->n = 0;
    char *end;
    while (*s != '\0' && l->n < l->cap) {
        long long x = strtoll(s, &end, 10);
        if (end == s)
            break;
        l->v[l->n++] = x;
        s = end;
    }
    return 0;
}

/* A copy of the spans "start end ..." that l holds, which the caller frees
 * with free(); NULL when out of memory. */
static booking_span *spans_of(const int_list *l, size_t *n)
{
    *n = l->n / 2;
    booking_span *s = malloc((*n + 1) * sizeof *s);
    for (size_t i = 0; s != NULL && i < *n; i++)
        s[i] = (booking_span){l->v[2 * i], l->v[2 * i + 1]};
    return s;
}

typedef struct {
    int64_t working_s[BP_COUNTOF(windows)];
    int64_t booked_s[BP_COUNTOF(windows)];
} usage_totals;

/* Adds one provider's row of SQL_USAGE to totals. A row the engine refuses
 * (a broken zone or week) is logged and left out rather than hiding every
 * other provider; only running out of memory fails. */
static int add_provider(const PGresult *res, int row, const int64_t bounds[], int_list *scratch,
                        usage_totals *totals, const char *request_id)
{
    const bp_tz *tz;
    if (bp_tz_load(PQgetvalue(res, row, 0), &tz) != 0) {
        bp_log(BP_LOG_WARN, request_id, "business metrics: a provider's shop has zone %s",
               PQgetvalue(res, row, 0));
        return 0;
    }
    booking_hours hours[BOOKING_AVAIL_MAX_HOURS + 1];
    size_t n_hours = 0;
    if (ints_parse(PQgetvalue(res, row, 1), scratch) != 0)
        return BP_ENOMEM;
    for (size_t i = 0; i + 2 < scratch->n && n_hours < BP_COUNTOF(hours); i += 3)
        hours[n_hours++] =
            (booking_hours){(int)scratch->v[i], (int)scratch->v[i + 1], (int)scratch->v[i + 2]};
    size_t n_off = 0, n_booked = 0, n_closed = 0;
    booking_span *off = NULL, *booked = NULL;
    int32_t closed[BOOKING_AVAIL_MAX_CLOSED];
    int rv = BP_ENOMEM;
    if (ints_parse(PQgetvalue(res, row, 2), scratch) != 0 ||
        (off = spans_of(scratch, &n_off)) == NULL ||
        ints_parse(PQgetvalue(res, row, 3), scratch) != 0 ||
        (booked = spans_of(scratch, &n_booked)) == NULL)
        goto out;
    rv = booking_days_parse(PQgetvalue(res, row, 4), closed, BP_COUNTOF(closed), &n_closed);
    for (size_t w = 0; rv == 0 && w < BP_COUNTOF(windows); w++) {
        booking_usage_query q = {
            .tz = tz,
            .hours = hours,
            .n_hours = n_hours,
            .closed_days = closed,
            .n_closed = n_closed,
            .time_off = off,
            .n_time_off = n_off,
            .booked = booked,
            .n_booked = n_booked,
            .from = bounds[0],
            .to = bounds[w + 1],
        };
        booking_usage u;
        if ((rv = booking_usage_measure(&q, &u)) != 0)
            break;
        totals->working_s[w] += u.working_s;
        totals->booked_s[w] += u.booked_s;
    }
    if (rv != 0 && rv != BP_ENOMEM) {
        bp_log(BP_LOG_WARN, request_id, "business metrics: a provider's week cannot be read (%s)",
               bp_strerror(rv));
        rv = 0;
    }
out:
    free(off);
    free(booked);
    return rv;
}

/* Working and booked seconds of every active provider in each window. */
static int measure_usage(bp_call *call, usage_totals *totals)
{
    const bp_tz *tz;
    if (bp_tz_load(booking_ctx_of(call)->timezone, &tz) != 0)
        return BP_EINVAL; /* checked at start: cannot happen */
    int32_t today = bp_tz_local_day(tz, bp_now_ms() / 1000);
    /* bounds[0]: today's first instant; bounds[w + 1]: the end of window w. */
    int64_t bounds[BP_COUNTOF(windows) + 1];
    if (bp_tz_local_to_utc_end(tz, (int64_t)today * 86400, &bounds[0]) != 0)
        return BP_EINVAL;
    for (size_t w = 0; w < BP_COUNTOF(windows); w++)
        if (bp_tz_local_to_utc_end(tz, ((int64_t)today + windows[w].days) * 86400,
                                   &bounds[w + 1]) != 0)
            return BP_EINVAL;
    int64_t widest = bounds[1];
    for (size_t w = 1; w < BP_COUNTOF(windows); w++)
        if (bounds[w + 1] > widest)
            widest = bounds[w + 1];

    char first[16], last[16], from[24], to[24];
    snprintf(first, sizeof first, "%d", (int)(today - CLOSED_MARGIN_DAYS));
    snprintf(last, sizeof last, "%d",
             (int)(today + windows[BP_COUNTOF(windows) - 1].days + CLOSED_MARGIN_DAYS));
    snprintf(from, sizeof from, "%lld", (long long)bounds[0]);
    snprintf(to, sizeof to, "%lld", (long long)widest);
    const char *params[] = {first, last, from, to};
    PGresult *res =
        bp_db_select(bp_call_worker(call)->db, SQL_USAGE, 4, params, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    int_list scratch = {NULL, 0, 0};
    int rv = 0;
    memset(totals, 0, sizeof *totals);
    for (int i = 0; rv == 0 && i < PQntuples(res); i++)
        rv = add_provider(res, i, bounds, &scratch, totals, bp_call_request_id(call));
    free(scratch.v);
    PQclear(res);
    return rv;
}

int booking_business_metrics(bp_call *call, bp_strbuf *out)
{
    PGresult *res =
        bp_db_select(bp_call_worker(call)->db, SQL_BY_STATUS, 0, NULL, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    static const char *const status[] = {"status", NULL};
    int64_t created = bp_prom_rows(out, "barberpro_business_bookings", "gauge",
                                   "Bookings by current status.", res, status, 1);
    bp_prom_single(out, "barberpro_business_bookings_created_total", "counter",
                   "Bookings ever made, whatever became of them (bookings are never deleted).",
                   created);
    PQclear(res);

    usage_totals t;
    int rv = measure_usage(call, &t);
    if (rv != 0)
        return rv;
    static const char *const help[] = {
        "Seconds of the active providers' working hours in the window (today: the current "
        "local day of TIMEZONE; next_7_days: today and the six days after it), without "
        "closed holidays and time off.",
        "Seconds of that working time held by bookings (pending payment, confirmed, "
        "completed or no-show, buffer included).",
        "Booked over working seconds of all active providers in the window; NaN when "
        "nobody works in it.",
    };
    static const char *const names[] = {
        "barberpro_business_provider_working_seconds",
        "barberpro_business_provider_booked_seconds",
        "barberpro_business_provider_utilisation_ratio",
    };
    for (size_t f = 0; f < BP_COUNTOF(names); f++) {
        bp_prom_family(out, names[f], "gauge", help[f]);
        for (size_t w = 0; w < BP_COUNTOF(windows); w++) {
            const char *labels[] = {"window", windows[w].label, NULL};
            if (f == 0)
                bp_prom_int(out, names[f], labels, t.working_s[w]);
            else if (f == 1)
                bp_prom_int(out, names[f], labels, t.booked_s[w]);
            else
                bp_prom_real(out, names[f], labels,
                             booking_usage_ratio(t.booked_s[w], t.working_s[w]));
        }
    }
    return 0;
}
