/* Price lists: the history of a service's prices, a raise (or cut) of every
 * price of a shop in one call, and the price in force that a booking takes.
 *
 * How the price in force is read: every read takes the latest
 * service_prices row whose effective_from is not after today in the shop's
 * zone (a LATERAL join, BOOKING_SERVICE_SELECT). Nothing has to run at
 * midnight for a dated price to take effect, so there is no job that could
 * be late, run twice or not at all. services.price_cents is only a mirror,
 * written when a price takes effect at once, for eyes reading the table; no
 * code reads it as the truth (it is the fallback of a service that has no
 * price row, which 0003 and demo.c make impossible). The cached list of a
 * shop's services is keyed by the quarter hour (services.c), so a dated
 * price shows by the first quarter hour of its day in any zone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booking.h"
#include "cache.h"
#include "log.h"
#include "money.h"
#include "prices.h"
#include "tz.h"

/* Most history rows a price list answers. */
#define PRICES_HISTORY_MAX 500

/* How far ahead a price may be dated, in days. */
#define PRICES_AHEAD_MAX_DAYS 366

int booking_percent_to_bp(double percent, int32_t *basis_points)
{
    if (!isfinite(percent) || percent < -90.0 || percent > 1000.0)
        return BP_EINVAL;
    /* Within +-100000 after the range check: rounding by hand keeps libm
     * out of the daemon. */
    double scaled = percent * 100.0;
    int32_t whole = (int32_t)(scaled >= 0 ? scaled + 0.5 : scaled - 0.5);
    double off = scaled - (double)whole;
    /* Two decimals at most: 12.5 and 12.34 pass, 12.345 does not. The
     * tolerance absorbs binary representation (0.07 * 100 = 7.000000000000001). */
    if (off > 1e-6 || off < -1e-6)
        return BP_EINVAL;
    *basis_points = whole;
    return 0;
}

Bp__Booking__Service *booking_service_from_row(bp_call *call, const PGresult *res, int row)
{
    Bp__Booking__Service *m =
        (Bp__Booking__Service *)bp_call_message(call, &bp__booking__service__descriptor);
    if (m == NULL)
        return NULL;
    int64_t price = strtoll(PQgetvalue(res, row, 5), NULL, 10);
    int32_t deposit_percent = (int32_t)strtol(PQgetvalue(res, row, 7), NULL, 10);
    const char *currency = PQgetvalue(res, row, 6);
    int64_t deposit = bp_money_apply_percent(price, deposit_percent * 100);
    if (deposit < 0) /* cannot happen below BOOKING_PRICE_MAX */
        deposit = 0;
    m->id = bp_call_strdup(call, PQgetvalue(res, row, 0));
    m->shop_id = bp_call_strdup(call, PQgetvalue(res, row, 1));
    m->name = bp_call_strdup(call, PQgetvalue(res, row, 2));
    m->has_duration_minutes = true;
    m->duration_minutes = (int32_t)strtol(PQgetvalue(res, row, 3), NULL, 10);
    m->has_buffer_minutes = true;
    m->buffer_minutes = (int32_t)strtol(PQgetvalue(res, row, 4), NULL, 10);
    m->has_price_cents = true;
    m->price_cents = price;
    m->currency = bp_call_strdup(call, currency);
    m->price_display = booking_reply_money(call, price, currency);
    m->has_deposit_percent = true;
    m->deposit_percent = deposit_percent;
    m->has_deposit_cents = true;
    m->deposit_cents = deposit;
    m->deposit_display = booking_reply_money(call, deposit, currency);
    m->has_active = true;
    m->active = PQgetvalue(res, row, 8)[0] == 't';
    m->created_at =
        bp_call_time(call, strtoll(PQgetvalue(res, row, 9), NULL, 10), PQgetvalue(res, row, 10));
    if (m->id == NULL || m->shop_id == NULL || m->name == NULL || m->currency == NULL ||
        m->price_display == NULL || m->deposit_display == NULL || m->created_at == NULL)
        return NULL;
    return m;
}

int booking_services_from_result(bp_call *call, const PGresult *res, Bp__Booking__ServiceList *list)
{
    int n = PQntuples(res);
    list->n_items = 0;
    list->items = bp_arena_alloc(bp_call_arena(call), sizeof *list->items * (size_t)(n + 1));
    if (list->items == NULL)
        return BP_ENOMEM;
    for (int i = 0; i < n; i++) {
        list->items[i] = booking_service_from_row(call, res, i);
        if (list->items[i] == NULL)
            return BP_ENOMEM;
        list->n_items = (size_t)i + 1;
    }
    return 0;
}

int booking_price_set(bp_db *db, const char *service_id, int64_t price_cents, const char *day,
                      const char *created_by, bool in_force_now)
{
    char cents[24];
    snprintf(cents, sizeof cents, "%lld", (long long)price_cents);
    const char *params[] = {service_id, cents, day,
                            created_by != NULL && created_by[0] != '\0' ? created_by : NULL};
    PGresult *res = bp_db_query(db,
                                "INSERT INTO booking.service_prices (service_id, price_cents, "
                                "effective_from, created_by) VALUES ($1, $2, $3::date, $4) "
                                "ON CONFLICT (service_id, effective_from) DO UPDATE SET "
                                "price_cents = EXCLUDED.price_cents, created_at = now(), "
                                "created_by = EXCLUDED.created_by",
                                4, params);
    int rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
    PQclear(res);
    if (rv == 0 && in_force_now) {
        const char *mirror[] = {service_id, cents};
        res = bp_db_query(db, "UPDATE booking.services SET price_cents = $2 WHERE id = $1", 2,
                          mirror);
        rv = bp_db_ok(res, NULL) ? 0 : BP_EIO;
        PQclear(res);
    }
    return rv;
}

int booking_price_day(bp_call *call, const char *field, const char *in, const char *tz,
                      char day[11], bool *is_today)
{
    int32_t today = booking_local_day(tz, bp_now_ms()), d = today;
    if (in != NULL && in[0] != '\0') {
        if (bp_date_parse(in, &d) != 0)
            return bp_call_fail_invalid(call, field,
                                        "La fecha no es válida; usá el formato AAAA-MM-DD.");
        if (d < today)
            return bp_call_fail_invalid(call, field,
                                        "Un precio no puede regir desde una fecha pasada.");
        if (d > today + PRICES_AHEAD_MAX_DAYS)
            return bp_call_fail_invalid(call, field,
                                        "Un precio puede fijarse a lo sumo con un año de "
                                        "anticipación.");
    }
    bp_date_format(d, day);
    *is_today = d == today;
    return 0;
}

BOOKING_HANDLER(list_service_prices)
{
    const Bp__Booking__ServiceRequest *r = (const Bp__Booking__ServiceRequest *)req;
    Bp__Booking__PriceList *out = (Bp__Booking__PriceList *)resp;
    if (!bp_call_check_uuid(call, "service_id", r->service_id))
        return BP_EREPLIED;
    const char *params[] = {r->service_id};
    PGresult *res =
        bp_db_query(bp_call_worker(call)->db,
                    "SELECT sp.price_cents, s.currency, sp.effective_from::text, "
                    "(extract(epoch from sp.created_at) * 1000)::bigint, sh.timezone "
                    "FROM booking.services s JOIN booking.shops sh ON sh.id = s.shop_id "
                    "LEFT JOIN booking.service_prices sp ON sp.service_id = s.id "
                    "WHERE s.id = $1 ORDER BY sp.effective_from DESC NULLS LAST LIMIT " BOOKING_STR(
                        PRICES_HISTORY_MAX),
                    1, params);
    int rv = 0;
    if (!bp_db_ok(res, bp_call_request_id(call))) {
        rv = bp_call_fail_internal(call, BP_EIO);
        goto out;
    }
    if (PQntuples(res) == 0) {
        rv = bp_call_fail_not_found(call, "El servicio");
        goto out;
    }
    out->service_id = bp_call_strdup(call, r->service_id);
    out->items = bp_arena_alloc(bp_call_arena(call), sizeof *out->items * (size_t)PQntuples(res));
    if (out->service_id == NULL || out->items == NULL) {
        rv = bp_call_fail_internal(call, BP_ENOMEM);
        goto out;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 0))
            break; /* a service without any price row */
        Bp__Booking__Price *p =
            (Bp__Booking__Price *)bp_call_message(call, &bp__booking__price__descriptor);
        if (p == NULL) {
            rv = bp_call_fail_internal(call, BP_ENOMEM);
            goto out;
        }
        const char *currency = PQgetvalue(res, i, 1);
        p->has_price_cents = true;
        p->price_cents = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        p->currency = bp_call_strdup(call, currency);
        p->price_display = booking_reply_money(call, p->price_cents, currency);
        p->effective_from = bp_call_strdup(call, PQgetvalue(res, i, 2));
        p->created_at =
            bp_call_time(call, strtoll(PQgetvalue(res, i, 3), NULL, 10), PQgetvalue(res, i, 4));
        if (p->currency == NULL || p->price_display == NULL || p->effective_from == NULL ||
            p->created_at == NULL) {
            rv = bp_call_fail_internal(call, BP_ENOMEM);
            goto out;
        }
        out->items[out->n_items++] = p;
    }
out:
    PQclear(res);
    return rv;
}

/* Raises every active service of the shop by basis points from day on,
 * inside the caller's transaction, and fills out with the services as they
 * will be priced that day. Returns 0, BP_ETOOBIG when a price would pass
 * BOOKING_PRICE_MAX, BP_ENOMEM or BP_EIO. */
static int raise_all(bp_call *call, const char *shop_id, int32_t basis_points, const char *day,
                     bool is_today, Bp__Booking__ServiceList *out)
{
    bp_db *db = bp_call_worker(call)->db;
    const char *params[] = {day, shop_id};
    /* FOR UPDATE: two raises at once apply one after the other. */
    PGresult *res = bp_db_select(db,
                                 BOOKING_SERVICE_SELECT
                                 "WHERE s.shop_id = $2 AND s.active "
                                 "ORDER BY s.created_at, s.id "
                                 "LIMIT " BOOKING_STR(BOOKING_SERVICES_MAX) " FOR UPDATE OF s",
                                 2, params, bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    int rv = 0;
    for (int i = 0; rv == 0 && i < PQntuples(res); i++) {
        int64_t price = strtoll(PQgetvalue(res, i, 5), NULL, 10);
        int64_t raised = bp_money_apply_percent(price, 10000 + basis_points);
        if (raised < 0 || raised > BOOKING_PRICE_MAX)
            rv = BP_ETOOBIG;
        else
            rv = booking_price_set(db, PQgetvalue(res, i, 0), raised, day, bp_call_user_id(call),
                                   is_today);
    }
    PQclear(res);
    if (rv != 0)
        return rv;
    res = bp_db_query(db,
                      BOOKING_SERVICE_SELECT "WHERE s.shop_id = $2 AND s.active "
                                             "ORDER BY s.created_at, s.id "
                                             "LIMIT " BOOKING_STR(BOOKING_SERVICES_MAX),
                      2, params);
    if (!bp_db_ok(res, bp_call_request_id(call)))
        rv = BP_EIO;
    else
        rv = booking_services_from_result(call, res, out);
    PQclear(res);
    return rv;
}

BOOKING_HANDLER(raise_prices)
{
    const Bp__Booking__RaisePricesRequest *r = (const Bp__Booking__RaisePricesRequest *)req;
    Bp__Booking__ServiceList *out = (Bp__Booking__ServiceList *)resp;
    bp_worker *w = bp_call_worker(call);
    int32_t basis_points;
    char day[11];
    bool is_today;

    int rv = booking_require_shop_owner(call, r->shop_id);
    if (rv != 0)
        return rv;
    if (!r->has_percent)
        return bp_call_fail_invalid(call, "percent", "Falta el porcentaje de aumento.");
    if (booking_percent_to_bp(r->percent, &basis_points) != 0)
        return bp_call_fail_invalid(call, "percent",
                                    "El porcentaje debe estar entre -90 y 1000, con hasta dos "
                                    "decimales.");
    const char *params[] = {r->shop_id};
    PGresult *res =
        bp_db_query(w->db, "SELECT timezone FROM booking.shops WHERE id = $1", 1, params);
    if (!bp_db_ok(res, bp_call_request_id(call)) || PQntuples(res) != 1) {
        PQclear(res);
        return bp_call_fail_internal(call, BP_EIO);
    }
    char tz[BP_TZ_NAME_MAX + 1];
    snprintf(tz, sizeof tz, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if ((rv = booking_price_day(call, "effective_from", r->effective_from, tz, day, &is_today)) !=
        0)
        return rv;

    if (bp_db_begin(w->db) != 0)
        return bp_call_fail_internal(call, BP_EIO);
    rv = raise_all(call, r->shop_id, basis_points, day, is_today, out);
    if (rv == 0 && bp_db_commit(w->db) != 0)
        rv = BP_EIO;
    if (rv != 0) {
        bp_db_rollback(w->db);
        if (rv == BP_ETOOBIG)
            return bp_call_fail_invalid(call, "percent",
                                        "Con ese aumento algún precio supera el máximo permitido.");
        return bp_call_fail_internal(call, rv);
    }
    booking_cache_drop(w->kv, BOOKING_CACHE_SERVICES, r->shop_id);
    bp_log(BP_LOG_INFO, bp_call_request_id(call), "prices of shop %s changed by %d bp from %s",
           r->shop_id, basis_points, day);
    return 0;
}
