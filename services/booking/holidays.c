/* The SQL of holidays and shop open days; every value is a parameter. */
#include "holidays.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "log.h"

/* Ranges longer than this are no availability question anyone asks. */
#define CLOSED_RANGE_MAX_DAYS 3660

/* A cheap shape check before PostgreSQL judges the calendar (2025-02-30). */
static bool date_shaped(const char *s)
{
    if (s == NULL || strlen(s) != 10)
        return false;
    for (int i = 0; i < 10; i++) {
        bool dash = i == 4 || i == 7;
        if (dash ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return false;
    }
    return true;
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

/* Maps a failed statement to a BP_E* code: bad input is the caller's. */
static int failure(const PGresult *r)
{
    if (bp_db_sqlstate(r, "23505"))
        return BP_ECONFLICT;
    if (bp_db_sqlstate(r, "23503"))
        return BP_ENOTFOUND;
    if (bp_db_sqlstate(r, "23514") || bp_db_sqlstate(r, "22007") || bp_db_sqlstate(r, "22008") ||
        bp_db_sqlstate(r, "22P02"))
        return BP_EINVAL;
    bp_db_ok(r, NULL); /* logs the unexpected */
    return BP_EIO;
}

int booking_days_parse(const char *s, int32_t *out, size_t cap, size_t *n)
{
    *n = 0;
    while (*s != '\0') {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        if (*n == cap)
            return BP_ETOOBIG;
        out[(*n)++] = (int32_t)v;
        s = end;
    }
    return 0;
}

int booking_holidays_closed_days(bp_db *db, const char *shop_id, int32_t first_day,
                                 int32_t last_day, int32_t *out, size_t cap, size_t *n)
{
    *n = 0;
    if (last_day < first_day || (int64_t)last_day - first_day > CLOSED_RANGE_MAX_DAYS ||
        (shop_id != NULL && !bp_uuid_valid(shop_id)))
        return BP_EINVAL;
    char first[16], last[16];
    snprintf(first, sizeof first, "%d", (int)first_day);
    snprintf(last, sizeof last, "%d", (int)last_day);
    const char *params[] = {shop_id, first, last};
    PGresult *r = bp_db_query(
        db, "SELECT " BOOKING_SQL_CLOSED_DAYS("$1::uuid", "$2::int", "$3::int"), 3, params);
    int rv = 0;
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        rv = r == NULL ? BP_EIO : failure(r);
        goto out;
    }
    rv = booking_days_parse(PQgetvalue(r, 0, 0), out, cap, n);
out:
    PQclear(r);
    return rv;
}

int booking_holidays_list(bp_db *db, int year, booking_holiday *out, size_t cap, size_t *n)
{
    *n = 0;
    if (year < 1970 || year > 9999)
        return BP_EINVAL;
    char y[8];
    snprintf(y, sizeof y, "%d", year);
    const char *params[] = {y};
    PGresult *r = bp_db_query(db,
                              "SELECT to_char(day, 'YYYY-MM-DD'), "
                              "coalesce(to_char(original_day, 'YYYY-MM-DD'), ''), kind, name, "
                              "source FROM booking.holidays "
                              "WHERE day >= make_date($1::int, 1, 1) "
                              "AND day < make_date($1::int + 1, 1, 1) ORDER BY day",
                              1, params);
    int rv = 0;
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        rv = r == NULL ? BP_EIO : failure(r);
        goto out;
    }
    size_t rows = (size_t)PQntuples(r);
    if (rows > cap) {
        rv = BP_ETOOBIG;
        goto out;
    }
    for (size_t i = 0; i < rows; i++) {
        booking_holiday *h = &out[i];
        copy(h->day, sizeof h->day, PQgetvalue(r, (int)i, 0));
        copy(h->original_day, sizeof h->original_day, PQgetvalue(r, (int)i, 1));
        copy(h->kind, sizeof h->kind, PQgetvalue(r, (int)i, 2));
        copy(h->name, sizeof h->name, PQgetvalue(r, (int)i, 3));
        copy(h->source, sizeof h->source, PQgetvalue(r, (int)i, 4));
    }
    *n = rows;
out:
    PQclear(r);
    return rv;
}

static bool text_ok(const char *s, size_t max)
{
    size_t len = s != NULL ? strlen(s) : 0;
    return len >= 1 && len <= max;
}

int booking_holidays_add(bp_db *db, const char *day, const char *original_day, const char *name,
                         const char *kind, const char *source, const char *admin_id)
{
    if (original_day != NULL && *original_day == '\0')
        original_day = NULL;
    if (!date_shaped(day) || (original_day != NULL && !date_shaped(original_day)) ||
        !text_ok(name, BOOKING_HOLIDAY_NAME_MAX) || !text_ok(source, BOOKING_HOLIDAY_SOURCE_MAX) ||
        kind == NULL || (admin_id != NULL && !bp_uuid_valid(admin_id)))
        return BP_EINVAL;
    const char *params[] = {day, name, kind, original_day, source, admin_id};
    PGresult *r = bp_db_query(db,
                              "INSERT INTO booking.holidays "
                              "(day, name, kind, original_day, source, created_by) "
                              "VALUES ($1::date, $2, $3, $4::date, $5, $6::uuid)",
                              6, params);
    int rv = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK ? 0
             : r == NULL                                        ? BP_EIO
                                                                : failure(r);
    PQclear(r);
    if (rv == 0)
        bp_log_info("holiday %s (%s, %s) added by %s", day, kind, source,
                    admin_id != NULL ? admin_id : "-");
    return rv;
}

int booking_shop_open_day(bp_db *db, const char *shop_id, const char *day, bool open)
{
    if (!bp_uuid_valid(shop_id) || !date_shaped(day))
        return BP_EINVAL;
    const char *params[] = {shop_id, day};
    PGresult *r = bp_db_query(db,
                              open ? "INSERT INTO booking.shop_open_days (shop_id, day) "
                                     "VALUES ($1::uuid, $2::date) ON CONFLICT DO NOTHING"
                                   : "DELETE FROM booking.shop_open_days "
                                     "WHERE shop_id = $1::uuid AND day = $2::date",
                              2, params);
    int rv = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK ? 0
             : r == NULL                                        ? BP_EIO
                                                                : failure(r);
    PQclear(r);
    return rv;
}
