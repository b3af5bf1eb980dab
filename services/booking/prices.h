/* Services as clients see them, priced on a given day: the SQL and the
 * message building that services.c and prices.c share. The price of a day
 * is the latest service_prices row whose effective_from is not after it
 * (prices.c says why this is read at query time). */
#ifndef BOOKING_PRICES_H
#define BOOKING_PRICES_H

#include <stdint.h>

#include "booking.h"

/* A number macro as a string literal, for LIMITs in SQL text. */
#define BOOKING_STR_(x) #x
#define BOOKING_STR(x)  BOOKING_STR_(x)

/* Most services a shop's list (and a raise) handles in one answer. */
#define BOOKING_SERVICES_MAX 500

/* Largest price accepted, in centavos (ten thousand million pesos): far
 * above any haircut, and far below where int64 arithmetic could overflow. */
#define BOOKING_PRICE_MAX INT64_C(1000000000000)

/* The select list and joins of a service priced on the day given as $1
 * (a date, or NULL for today in the shop's zone). Columns, in order: id,
 * shop_id, name, duration_minutes, buffer_minutes, price_cents, currency,
 * deposit_percent, active, created_at (Unix ms), the shop's timezone. Every
 * statement using it passes the day as its first parameter. */
/* The price in force of service s (of shop sh) on the local date day (an
 * SQL date expression): the latest price that took effect by then, else the
 * service's own. The one definition of the rule, for every statement. */
#define BOOKING_SQL_PRICE_ON(day)                                                                  \
    "coalesce((SELECT sp.price_cents FROM booking.service_prices sp"                               \
    " WHERE sp.service_id = s.id AND sp.effective_from <= " day                                    \
    " ORDER BY sp.effective_from DESC LIMIT 1), s.price_cents)"

/* Today in the shop's zone, as an SQL date. */
#define BOOKING_SQL_SHOP_TODAY "(now() AT TIME ZONE sh.timezone)::date"

#define BOOKING_SERVICE_SELECT                                                                     \
    "SELECT s.id::text, s.shop_id::text, s.name, s.duration_minutes, "                             \
    "s.buffer_minutes, " BOOKING_SQL_PRICE_ON(                                                     \
        "coalesce($1::date, " BOOKING_SQL_SHOP_TODAY                                               \
        ")") ", s.currency, s.deposit_percent, s.active, "                                         \
             "(extract(epoch from s.created_at) * 1000)::bigint, sh.timezone "                     \
             "FROM booking.services s JOIN booking.shops sh ON sh.id = s.shop_id "

/* Builds the Service message of row of res (BOOKING_SERVICE_SELECT's
 * columns) in the call's arena, with its display strings and deposit.
 * NULL when out of memory. */
Bp__Booking__Service *booking_service_from_row(bp_call *call, const PGresult *res, int row);

/* Fills list with every row of res as services (the arena owns them).
 * Returns 0 or BP_ENOMEM. */
int booking_services_from_result(bp_call *call, const PGresult *res,
                                 Bp__Booking__ServiceList *list);

/* Records price_cents as the price of service_id from day (YYYY-MM-DD)
 * on, replacing a price set earlier for that same day; when in_force_now,
 * services.price_cents mirrors it too. Runs inside the caller's
 * transaction; created_by may be NULL. Returns 0 or BP_EIO. */
int booking_price_set(bp_db *db, const char *service_id, int64_t price_cents, const char *day,
                      const char *created_by, bool in_force_now);

/* Reads an effective_from (NULL or "": today) in zone tz into day
 * (YYYY-MM-DD) and *is_today. Answers 400 naming field for a malformed
 * date, a past one or one more than a year ahead (returns BP_EREPLIED). */
int booking_price_day(bp_call *call, const char *field, const char *in, const char *tz,
                      char day[11], bool *is_today);

#endif
