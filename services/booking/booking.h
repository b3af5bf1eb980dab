/* The booking daemon's shared state and internal interface: its settings,
 * who may do what, the answers every handler shares, and the handlers that
 * main.c wires into the bus. One file per concern implements them. */
#ifndef BOOKING_H
#define BOOKING_H

#include <stdbool.h>
#include <stdint.h>

#include "booking.pb-c.h"
#include "bp.h"
#include "db.h"
#include "input.h"
#include "kv.h"
#include "rpc.h"

/* Settled once at start from the environment (booking_config_load), then
 * read-only. It is the bp_service.app of the daemon. */
typedef struct {
    char timezone[64];       /* TIMEZONE: the default zone of a new shop */
    char currency[4];        /* CURRENCY (ARS) */
    int hold_seconds;        /* BOOKING_HOLD_SECONDS (900): pending_payment before expired */
    int min_notice_minutes;  /* BOOKING_MIN_NOTICE_MINUTES (60) */
    int horizon_days;        /* BOOKING_HORIZON_DAYS (60) */
    int no_show_limit;       /* BOOKING_NO_SHOW_LIMIT (2) no-shows ... */
    int no_show_window_days; /* ... within BOOKING_NO_SHOW_WINDOW_DAYS (90) demand a deposit */
    int expire_interval_ms;  /* BOOKING_EXPIRE_INTERVAL_MS (5000): the expiry job's period */
    bp_client *auth;         /* the auth daemon, to link provider accounts by email */
} booking_ctx;

/* Reads the settings (exit 2 on a bad value, naming the variable) and dials
 * the auth daemon. Returns 0 or a BP_E* code. */
int booking_config_load(booking_ctx *ctx);

/* Closes what booking_config_load opened. */
void booking_config_free(booking_ctx *ctx);

/* The daemon's context of a call. */
const booking_ctx *booking_ctx_of(bp_call *call);

/* ---- answers shared by the handlers (reply.c; the errors are rpc.h's
 * bp_call_fail_invalid, _not_found, _forbidden and bp_call_check_uuid) --- */

/* cents in es-AR form ("$ 15.000,00"), in the call's arena. */
char *booking_reply_money(bp_call *call, int64_t cents, const char *currency);

/* Builds the message of row of res in the call's arena; NULL when out of
 * memory. */
typedef ProtobufCMessage *(*booking_row_message)(bp_call *call, const PGresult *res, int row);

/* Runs sql, a SELECT of the records of user_id ($1) with LIMIT $2 (an
 * int, given max + 1 so that one row too many shows), and builds one
 * message per row with fn into *items (the call's arena, NULL-terminated)
 * and *n. Returns 0, BP_ETOOBIG when more than max rows came back, BP_EIO
 * or BP_ENOMEM; nothing is answered. */
int booking_reply_of_user(bp_call *call, const char *sql, const char *user_id, int max,
                          booking_row_message fn, ProtobufCMessage ***items, size_t *n);

/* ---- who may do what (access.c) -------------------------------------------- */

/* Whether the caller may manage shop_id: its owner, or an admin. Answers
 * 404 for an unknown shop and 403 for anyone else and returns BP_EREPLIED;
 * 0 when allowed; a storage failure is answered too. */
int booking_require_shop_owner(bp_call *call, const char *shop_id);

/* Whether the caller may manage provider_id's schedule and bookings: the
 * owner of its shop, the provider's own linked account, or an admin. On 0,
 * shop_id_out (37 bytes, may be NULL) receives the provider's shop. Answers
 * like booking_require_shop_owner otherwise. */
int booking_require_provider_manager(bp_call *call, const char *provider_id, char *shop_id_out);

/* True when the caller's role is admin. */
bool booking_is_admin(bp_call *call);

/* ---- catalogue rules (pure; shops.c, providers.c, schedule.c, prices.c) ---- */

/* A slot step a day is cut into evenly: 5 to 120 minutes that divide an
 * hour (5, 6, 10, 12, 15, 20, 30, 60) or are a whole number of hours
 * dividing the day (120). (shops.c) */
bool booking_slot_step_valid(int minutes);

/* Parses "HH:MM" (exactly five characters, 00:00 to 23:59, and 24:00 when
 * allow_midnight_end) into minutes after midnight. Returns 0 or BP_EINVAL.
 * (schedule.c) */
int booking_hhmm_parse(const char *s, bool allow_midnight_end, int *minutes);

/* Writes minutes (0..1440) as "HH:MM" into out[6]. (schedule.c) */
void booking_hhmm_format(int minutes, char out[6]);

/* One working range of a week, in minutes after local midnight. */
typedef struct {
    int weekday; /* ISO, 1 = Monday */
    int start_min, end_min;
} booking_week_range;

/* Most ranges a week may hold (ten a day is already a strange shop). */
#define BOOKING_WEEK_MAX_RANGES 70

/* Checks the n ranges of a weekly schedule and converts them into out
 * (room for n): weekday 1..7, start and end "HH:MM" with start < end, and
 * no two ranges of one day overlapping (touching is fine). On a refusal
 * writes the offending member ("weekly.2.start") into field (flen bytes),
 * sets *why to a static Spanish reason and returns BP_EINVAL; BP_ETOOBIG
 * (field "weekly") for more than BOOKING_WEEK_MAX_RANGES. (schedule.c) */
int booking_week_validate(Bp__Booking__HoursRange *const *rows, size_t n, booking_week_range *out,
                          char *field, size_t flen, const char **why);

/* A percentage with at most two decimals, -90 to 1000, as basis points of
 * change (12.5 -> 1250). Returns 0 or BP_EINVAL (also for NaN and
 * infinities). (prices.c) */
int booking_percent_to_bp(double percent, int32_t *basis_points);

/* Today's date in zone tz (an IANA name; NULL or unknown: UTC) as days
 * since 1970-01-01, at the instant now_ms. (calendar.c) */
int32_t booking_local_day(const char *tz, int64_t now_ms);

/* The price in force is BOOKING_SQL_PRICE_ON (prices.h). */

/* ---- handlers (proto/booking.proto) ---------------------------------------- */

#define BOOKING_HANDLER(name)                                                                      \
    int booking_handle_##name(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)

/* shops.c */
BOOKING_HANDLER(create_shop);
BOOKING_HANDLER(list_shops);
BOOKING_HANDLER(get_shop);
BOOKING_HANDLER(update_shop);
BOOKING_HANDLER(open_day);
BOOKING_HANDLER(close_day);
/* services.c and prices.c */
BOOKING_HANDLER(create_service);
BOOKING_HANDLER(list_services);
BOOKING_HANDLER(update_service);
BOOKING_HANDLER(list_service_prices);
BOOKING_HANDLER(raise_prices);
/* providers.c and schedule.c */
BOOKING_HANDLER(create_provider);
BOOKING_HANDLER(list_providers);
BOOKING_HANDLER(get_provider);
BOOKING_HANDLER(update_provider);
BOOKING_HANDLER(get_schedule);
BOOKING_HANDLER(put_schedule);
BOOKING_HANDLER(create_time_off);
BOOKING_HANDLER(list_time_off);
BOOKING_HANDLER(delete_time_off);
/* slots.c, calendar.c, exchange.c */
BOOKING_HANDLER(availability);
BOOKING_HANDLER(list_holidays);
BOOKING_HANDLER(add_holiday);
BOOKING_HANDLER(exchange_rate);
/* bookings.c */
BOOKING_HANDLER(create_booking);
BOOKING_HANDLER(list_bookings);
BOOKING_HANDLER(get_booking);
BOOKING_HANDLER(payment_context); /* internal: the booking and the caller's relation */
BOOKING_HANDLER(cancel_booking);
BOOKING_HANDLER(reschedule_booking);
BOOKING_HANDLER(complete_booking);
BOOKING_HANDLER(mark_no_show);
/* events.c */
BOOKING_HANDLER(deliver);
/* privacy.c: everything booking holds about the caller (internal, for auth) */
BOOKING_HANDLER(export_user);

/* ---- what each concern holds about one account (Ley 25.326 export) --------- */

/* Each fills *items (the call's arena) and *n with the records of user_id,
 * oldest first, at most max of them, with the personal fields their owner
 * may see. Return 0, BP_ETOOBIG (more than max), BP_EIO or BP_ENOMEM;
 * nothing is answered. */
/* Bookings whose client is user_id, any status, notes included (bookings.c). */
int booking_bookings_of_client(bp_call *call, const char *user_id, int max,
                               Bp__Booking__Booking ***items, size_t *n);
/* Shops whose owner is user_id (shops.c). */
int booking_shops_of_owner(bp_call *call, const char *user_id, int max, Bp__Booking__Shop ***items,
                           size_t *n);
/* Provider profiles linked to user_id, with email and phone (providers.c). */
int booking_providers_of_user(bp_call *call, const char *user_id, int max,
                              Bp__Booking__Provider ***items, size_t *n);
/* Time off of the provider profiles linked to user_id (schedule.c). */
int booking_time_off_of_user(bp_call *call, const char *user_id, int max,
                             Bp__Booking__TimeOff ***items, size_t *n);

/* The bp_service.business_metrics hook (business.c): bookings made and by
 * status, and the active providers' working time, booked time and their
 * ratio today and over the next 7 days, appended to out as Prometheus
 * text. Returns 0, BP_EIO or BP_ENOMEM. */
int booking_business_metrics(bp_call *call, bp_strbuf *out);

/* Loads the demo shop, services and barbers (idempotent). Returns 0 or
 * BP_EIO. */
int booking_demo_load(bp_db *db);

#endif
