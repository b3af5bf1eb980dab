/* National holidays (migrations/booking/0004_holidays.sql) and the days an
 * owner opens a shop on one: the SQL the holiday, open-day and availability
 * handlers call. */
#ifndef BOOKING_HOLIDAYS_H
#define BOOKING_HOLIDAYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* Limits of what a holiday row may hold (the table's CHECKs, in bytes). */
#define BOOKING_HOLIDAY_NAME_MAX   200
#define BOOKING_HOLIDAY_SOURCE_MAX 200

/* One holiday, copied out of the database; plain arrays, nothing to free. */
typedef struct {
    char day[11];          /* YYYY-MM-DD, the day it is observed */
    char original_day[11]; /* a trasladable's legal date when moved, else "" */
    char kind[16];         /* inamovible, trasladable, puente, no_laborable */
    char name[BOOKING_HOLIDAY_NAME_MAX + 1];
    char source[BOOKING_HOLIDAY_SOURCE_MAX + 1]; /* the law, decree or resolution */
} booking_holiday;

/* Writes into out (cap entries) the days between first_day and last_day
 * (inclusive, days since 1970-01-01) on which shop_id is closed by a holiday:
 * every holiday except the optional no_laborable ones, minus the days the
 * shop's owner opened. shop_id NULL gives the holidays alone. *n receives the
 * count, ascending. Returns 0; BP_EINVAL for a bad range or shop id;
 * BP_ETOOBIG when more than cap days match (*n is then 0); BP_EIO. */
int booking_holidays_closed_days(bp_db *db, const char *shop_id, int32_t first_day,
                                 int32_t last_day, int32_t *out, size_t cap, size_t *n);

/* Copies the holidays of year (1970..9999), by date, into the caller's
 * array out of cap entries; *n receives the count. Returns 0, BP_EINVAL,
 * BP_ETOOBIG when the year has more than cap (*n is then 0), or BP_EIO. A
 * year has fewer than 32 in practice. */
int booking_holidays_list(bp_db *db, int year, booking_holiday *out, size_t cap, size_t *n);

/* Adds a holiday decreed after the migrations were written. day is
 * YYYY-MM-DD; original_day the legal date of a trasladable observed on day
 * instead (NULL or "" when not moved; only a trasladable may have one);
 * kind one of inamovible, trasladable, puente, no_laborable; name and
 * source non-empty (at most the _MAX bytes above); admin_id the adding
 * admin's UUID or NULL. Every string is only read. Returns 0, BP_ECONFLICT
 * when the day already holds a holiday, BP_EINVAL for a bad value, or
 * BP_EIO. */
int booking_holidays_add(bp_db *db, const char *day, const char *original_day, const char *name,
                         const char *kind, const char *source, const char *admin_id);

/* Opens (open true) or closes again (false) shop_id on day (YYYY-MM-DD).
 * Opening a day that is no holiday is allowed and changes nothing visible;
 * both directions are idempotent. Returns 0, BP_EINVAL for a bad id or
 * date, BP_ENOTFOUND when the shop does not exist (opening), or BP_EIO. */
int booking_shop_open_day(bp_db *db, const char *shop_id, const char *day, bool open);

/* Parses the "d d ..." text of BOOKING_SQL_CLOSED_DAYS into out (cap
 * entries) and *n. Returns 0 or BP_ETOOBIG. */
int booking_days_parse(const char *s, int32_t *out, size_t cap, size_t *n);

/* The local dates (days since 1970-01-01, as "d d ...") from first to last
 * (SQL integer expressions) on which shop (an SQL uuid expression) is
 * closed: national holidays it has not opened. The one definition of the
 * rule, for every statement that needs it. */
#define BOOKING_SQL_CLOSED_DAYS(shop, first, last)                                                 \
    "(SELECT coalesce(string_agg((h.day - DATE '1970-01-01')::text, ' ' ORDER BY h.day), '')"      \
    " FROM booking.holidays h WHERE h.day BETWEEN DATE '1970-01-01' + (" first ")"                 \
    " AND DATE '1970-01-01' + (" last ") AND h.kind <> 'no_laborable'"                             \
    " AND NOT EXISTS (SELECT 1 FROM booking.shop_open_days o"                                      \
    " WHERE o.shop_id = " shop " AND o.day = h.day))"

#endif
