/* The calendar: Argentine national holidays (public list, admin additions
 * for a new decree) and the local date of a zone that prices and the list
 * default to. */
#include <stdio.h>
#include <string.h>

#include "booking.h"
#include "cache.h"
#include "holidays.h"
#include "log.h"
#include "tz.h"

#define HOLIDAY_YEAR_MIN 2000
#define HOLIDAY_YEAR_MAX 2100
/* Room for a year's holidays: fewer than 32 in practice. */
#define HOLIDAYS_PER_YEAR_MAX 64

static const char DEFAULT_SOURCE[] = "Agregado por un administrador";

int32_t booking_local_day(const char *tz, int64_t now_ms)
{
    const bp_tz *zone;
    int64_t s = now_ms / 1000 - (now_ms % 1000 < 0);
    if (tz != NULL && bp_tz_load(tz, &zone) == 0)
        return bp_tz_local_day(zone, s);
    return (int32_t)(s / 86400 - (s % 86400 < 0));
}

static Bp__Booking__Holiday *holiday_message(bp_call *call, const booking_holiday *h)
{
    Bp__Booking__Holiday *m =
        (Bp__Booking__Holiday *)bp_call_message(call, &bp__booking__holiday__descriptor);
    if (m == NULL)
        return NULL;
    m->date = bp_call_strdup(call, h->day);
    m->name = bp_call_strdup(call, h->name);
    m->kind = bp_call_strdup(call, h->kind);
    if (h->original_day[0] != '\0')
        m->original_date = bp_call_strdup(call, h->original_day);
    m->source = bp_call_strdup(call, h->source);
    if (m->date == NULL || m->name == NULL || m->kind == NULL || m->source == NULL)
        return NULL;
    return m;
}

BOOKING_HANDLER(list_holidays)
{
    const Bp__Booking__HolidaysRequest *r = (const Bp__Booking__HolidaysRequest *)req;
    Bp__Booking__HolidayList *out = (Bp__Booking__HolidayList *)resp;
    booking_holiday days[HOLIDAYS_PER_YEAR_MAX];
    size_t n = 0;
    int year, m, d;

    if (r->has_year) {
        if (r->year < HOLIDAY_YEAR_MIN || r->year > HOLIDAY_YEAR_MAX)
            return bp_call_fail_invalid(call, "year", "El año debe estar entre 2000 y 2100.");
        year = r->year;
    } else {
        bp_civil_from_days(booking_local_day(booking_ctx_of(call)->timezone, bp_now_ms()), &year,
                           &m, &d);
    }
    int rv = booking_holidays_list(bp_call_worker(call)->db, year, days, BP_COUNTOF(days), &n);
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    out->has_year = true;
    out->year = year;
    out->items = bp_arena_alloc(bp_call_arena(call), sizeof *out->items * (n + 1));
    if (out->items == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    for (size_t i = 0; i < n; i++) {
        if ((out->items[i] = holiday_message(call, &days[i])) == NULL)
            return bp_call_fail_internal(call, BP_ENOMEM);
        out->n_items = i + 1;
    }
    return 0;
}

/* A date of the calendar's range, or 400 naming field. */
static int check_date(bp_call *call, const char *field, const char *in, char out[11])
{
    int32_t day;
    int y, m, d;
    if (in == NULL || bp_date_parse(in, &day) != 0)
        return bp_call_fail_invalid(call, field,
                                    "La fecha no es válida; usá el formato "
                                    "AAAA-MM-DD.");
    bp_civil_from_days(day, &y, &m, &d);
    if (y < HOLIDAY_YEAR_MIN || y > HOLIDAY_YEAR_MAX)
        return bp_call_fail_invalid(call, field, "La fecha debe estar entre 2000 y 2100.");
    bp_date_format(day, out);
    return 0;
}

BOOKING_HANDLER(add_holiday)
{
    const Bp__Booking__AddHolidayRequest *r = (const Bp__Booking__AddHolidayRequest *)req;
    Bp__Booking__HolidayReply *out = (Bp__Booking__HolidayReply *)resp;
    bp_worker *w = bp_call_worker(call);
    booking_holiday h;
    const char *why;
    int rv;

    if (!booking_is_admin(call))
        return bp_call_fail_forbidden(call);
    memset(&h, 0, sizeof h);
    if ((rv = check_date(call, "date", r->date, h.day)) != 0)
        return rv;
    if (bp_text_normalize(r->name, BOOKING_HOLIDAY_NAME_MAX, h.name, sizeof h.name, &why) != 0)
        return bp_call_fail(call, 400, "invalid_request", "name",
                            "El nombre del feriado no es válido: %s", why);
    const char *kind = r->kind != NULL ? r->kind : "";
    if (strcmp(kind, "inamovible") != 0 && strcmp(kind, "trasladable") != 0 &&
        strcmp(kind, "puente") != 0)
        return bp_call_fail_invalid(call, "kind",
                                    "El tipo debe ser inamovible, trasladable o puente.");
    snprintf(h.kind, sizeof h.kind, "%s", kind);
    if (r->original_date != NULL && r->original_date[0] != '\0') {
        if (strcmp(kind, "trasladable") != 0)
            return bp_call_fail_invalid(call, "original_date",
                                        "Solo un feriado trasladable tiene fecha original.");
        if ((rv = check_date(call, "original_date", r->original_date, h.original_day)) != 0)
            return rv;
    }
    const char *source = r->source != NULL && r->source[0] != '\0' ? r->source : DEFAULT_SOURCE;
    if (bp_text_normalize(source, BOOKING_HOLIDAY_SOURCE_MAX, h.source, sizeof h.source, &why) != 0)
        return bp_call_fail(call, 400, "invalid_request", "source",
                            "La norma de origen no es válida: %s", why);

    rv = booking_holidays_add(w->db, h.day, h.original_day[0] != '\0' ? h.original_day : NULL,
                              h.name, h.kind, h.source, bp_call_user_id(call));
    if (rv == BP_ECONFLICT)
        return bp_call_fail(call, 409, "holiday_exists", "date", "Ya hay un feriado cargado el %s.",
                            h.day);
    if (rv == BP_EINVAL)
        return bp_call_fail_invalid(call, "name", "El nombre o la norma son demasiado largos.");
    if (rv != 0)
        return bp_call_fail_internal(call, rv);
    /* Every shop may be closed that day now. */
    booking_cache_drop_shop(w->db, w->kv, NULL);
    bp_log(BP_LOG_INFO, bp_call_request_id(call), "holiday %s (%s) added by %s", h.day, h.kind,
           bp_call_user_id(call));
    if ((out->holiday = holiday_message(call, &h)) == NULL)
        return bp_call_fail_internal(call, BP_ENOMEM);
    bp_call_set_status(call, 201);
    return 0;
}
