/* Internals the booking files share (bookings.c, slots.c, events.c,
 * expiry.c): a booking row as SQL returns it, its reply and event forms,
 * the slot context of a provider and service, and the pure policy rules
 * (deposit, refund, who is asking) that the unit tests read as tables. */
#ifndef BOOKING_BOOKINGS_H
#define BOOKING_BOOKINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "availability.h"
#include "booking.h"
#include "cache.h"
#include "events.pb-c.h"

/* ---- policy (pure) ------------------------------------------------------------ */

/* Who is acting on a booking, as far as the rules care. */
typedef enum {
    BOOKING_ACTOR_NONE = 0, /* not allowed to see it at all: answer 404 */
    BOOKING_ACTOR_CLIENT,   /* the client who made it */
    BOOKING_ACTOR_PROVIDER, /* the provider's linked account */
    BOOKING_ACTOR_OWNER,    /* the owner of the provider's shop */
    BOOKING_ACTOR_ADMIN,
    BOOKING_ACTOR_SYSTEM, /* the daemon itself (an erasure); never of a caller */
} booking_actor;

/* The caller's relation to a booking. The strings are the caller's user id
 * and role and the booking's client, provider account and shop owner ids
 * ("" when none); every one is only read. The closest relation wins: the
 * client first (an owner who booked a chair for themselves cancels as a
 * client), then provider, owner, admin. */
booking_actor booking_actor_of(const char *user_id, const char *role, const char *client_id,
                               const char *provider_user_id, const char *owner_id);

/* The cancelled_by value of an actor ("client", "provider", "owner",
 * "admin", "system"), static; NULL for BOOKING_ACTOR_NONE. */
const char *booking_actor_name(booking_actor a);

/* The deposit of a new booking in cents: price times the service's
 * deposit_percent, or times the shop's no_show_deposit_percent when the
 * client has no_shows >= no_show_limit recent no-shows and that is higher.
 * Percentages are clamped to 0..100. Never negative. */
int64_t booking_deposit_cents(int64_t price_cents, int service_percent, int no_shows,
                              int no_show_limit, int shop_no_show_percent);

/* Whether cancelling now owes the client their deposit back: only a
 * confirmed booking with a deposit has a paid one; the shop side (provider,
 * owner, admin) always refunds; a client refunds only when cancelling at
 * least cancellation_hours before the start. Times in Unix seconds. */
bool booking_refund_due(const char *status, int64_t deposit_cents, booking_actor by, int64_t now_s,
                        int64_t starts_s, int cancellation_hours);

/* Whether status is open (pending_payment or confirmed): the states that
 * hold the chair and may still be cancelled or rescheduled. */
bool booking_status_open(const char *status);

/* ---- rows ---------------------------------------------------------------------- */

/* The columns and joins every booking read uses, so that one reader serves
 * SELECT and UPDATE ... RETURNING alike. Aliases: b bookings, sh shops,
 * s services, p providers. */
#define BOOKING_ROW_COLUMNS                                                                        \
    "b.id, b.shop_id, b.provider_id, b.service_id, coalesce(b.client_id::text, ''), "              \
    "(extract(epoch FROM b.starts_at) * 1000)::int8, "                                             \
    "(extract(epoch FROM b.ends_at) * 1000)::int8, b.status, b.price_cents, b.deposit_cents, "     \
    "b.currency, coalesce(b.notes, ''), "                                                          \
    "coalesce((extract(epoch FROM b.hold_expires_at) * 1000)::int8, 0), "                          \
    "coalesce(b.cancelled_by, ''), coalesce(b.cancel_reason, ''), "                                \
    "coalesce((extract(epoch FROM b.cancelled_at) * 1000)::int8, 0), b.refund_due, "               \
    "(extract(epoch FROM b.created_at) * 1000)::int8, sh.timezone, sh.name, s.name, p.name, "      \
    "sh.owner_id, coalesce(p.user_id::text, ''), sh.cancellation_hours, "                          \
    "(extract(epoch FROM upper(b.blocked)) * 1000)::int8"

/* Number of columns of BOOKING_ROW_COLUMNS. */
#define BOOKING_ROW_NCOLS 26

#define BOOKING_ROW_JOINS                                                                          \
    " JOIN booking.shops sh ON sh.id = b.shop_id"                                                  \
    " JOIN booking.services s ON s.id = b.service_id"                                              \
    " JOIN booking.providers p ON p.id = b.provider_id"

/* A booking read from a result. Strings point into the PGresult (or into
 * the caller's buffers): valid while it is. */
typedef struct {
    const char *id, *shop_id, *provider_id, *service_id, *client_id;
    int64_t starts_ms, ends_ms, blocked_end_ms;
    const char *status;
    int64_t price_cents, deposit_cents;
    const char *currency, *notes;
    int64_t hold_expires_ms; /* 0: none */
    const char *cancelled_by, *cancel_reason;
    int64_t cancelled_ms; /* 0: not cancelled */
    bool refund_due;
    int64_t created_ms;
    const char *timezone, *shop_name, *service_name, *provider_name;
    const char *owner_id, *provider_user_id; /* "" when none */
    int cancellation_hours;
} booking_row;

/* Reads row i of a result whose first columns are BOOKING_ROW_COLUMNS
 * starting at column col. Nothing is copied. */
void booking_row_read(const PGresult *res, int i, int col, booking_row *out);

/* The API form of b, in the call's arena; NULL when out of memory. */
Bp__Booking__Booking *booking_row_reply(bp_call *call, const booking_row *b);

/* Extra facts an event carries beside the row (all may be NULL / 0). */
typedef struct {
    int64_t previous_starts_ms, previous_ends_ms; /* booking.rescheduled */
    const char *reason;                           /* overrides the row's cancel_reason */
    const char *cancelled_by;                     /* overrides the row's, e.g. "system" */
} booking_event_extra;

/* Writes the event topic about b into the outbox of db's open transaction,
 * keyed on the booking id so that a consumer sees a booking's events in
 * order. Returns 0 or the BP_E* code of bp_outbox_put (roll back then). */
int booking_emit(bp_db *db, const char *topic, const booking_row *b,
                 const booking_event_extra *extra);

/* Cancels the open booking b, read FOR UPDATE inside db's open
 * transaction, as actor (who also decides the refund, booking_refund_due:
 * every side but the client refunds), with reason (NULL: none), and emits
 * booking.cancelled. The one cancellation of a booking: CancelBooking and
 * the erasure of an account both come here. On 0 *res holds the cancelled
 * row (BOOKING_ROW_COLUMNS; the caller clears it). Returns 0 or BP_EIO
 * (*res NULL; roll back then). b is only read. */
int booking_cancel_locked(bp_db *db, const booking_row *b, booking_actor actor, const char *reason,
                          PGresult **res);

/* ---- events (events.c) ----------------------------------------------------------- */

/* Remembers, during a Deliver call, a cache to drop once the inbox
 * transaction has committed (a drop before the commit could be undone by
 * a fill that read the old state). id is copied; the list lives in the
 * call's arena. Returns 0 or BP_ENOMEM. */
int booking_event_drop_later(bp_call *call, booking_cache_kind kind, const char *id);

/* user.erasure_requested (privacy.c): anonymises what booking holds about
 * the user, in the inbox transaction; a bp_event_fn. */
int booking_erase_user(bp_call *call, bp_db *db, const Bp__Events__Event *ev);

/* ---- the slot context ---------------------------------------------------------- */

/* Most working-hours rows and time-off spans one check reads. */
#define BOOKING_CTX_MAX_HOURS 96
#define BOOKING_CTX_MAX_BUSY  256

/* What deciding whether one start is bookable needs, for one provider and
 * service, from one query. Strings are copies (the result is freed). */
typedef struct {
    char shop_id[37];
    char owner_id[37], provider_user_id[37]; /* "" when the provider has no account */
    char shop_name[121], service_name[121], provider_name[121];
    char timezone[BP_TZ_NAME_MAX + 1], currency[4];
    int step_min, duration_min, buffer_min, deposit_percent, no_show_deposit_percent;
    int64_t price_cents; /* the price in force now (BOOKING_SQL_PRICE_ON) */
    bool performs;       /* the provider performs the service */
    int no_shows;        /* the client's recent no-shows (0 when not asked) */
    booking_hours hours[BOOKING_CTX_MAX_HOURS];
    size_t n_hours;
    booking_span busy[BOOKING_CTX_MAX_BUSY]; /* time off within the window */
    size_t n_busy;
    int32_t closed[1]; /* the start's local date when a holiday closes the shop */
    size_t n_closed;
    const bp_tz *tz;
} booking_slot_ctx;

/* Loads the context of provider_id and service_id (both active, the service
 * of the provider's shop) for a booking starting at start_s whose time off
 * is read over [start_s, end_s) (Unix seconds; the caller widens end_s to
 * cover the service and its buffer), with the holiday of start_s's date,
 * counting client_id's no-shows of the last no_show_days when client_id is
 * not NULL. Returns 0, BP_ENOTFOUND (either missing or inactive, or not of
 * one shop), BP_ETOOBIG (more hours or time off than the limits) or BP_EIO.
 * Runs outside or inside a transaction alike. */
int booking_slot_ctx_load(bp_db *db, const char *provider_id, const char *service_id,
                          int64_t start_s, int64_t end_s, const char *client_id, int no_show_days,
                          booking_slot_ctx *ctx);

/* Checks start_s against ctx with the daemon's notice and horizon; returns a
 * BOOKING_SLOT_* reason (0: bookable) or BP_EINVAL. */
int booking_slot_ctx_check(const booking_ctx *app, const booking_slot_ctx *ctx, int64_t start_s,
                           int64_t now_s);

/* Answers the 4xx of a refused start (a BOOKING_SLOT_* reason other than
 * FREE): 422 in_the_past / too_soon / too_far / holiday / outside_hours,
 * 409 slot_taken for time off. Returns BP_EREPLIED. */
int booking_fail_slot(bp_call *call, int reason, const booking_ctx *app);

/* 409 slot_taken: another booking holds the chair. Returns BP_EREPLIED. */
int booking_fail_slot_taken(bp_call *call);

/* ---- statements ---------------------------------------------------------------- */

/* Prepare and run once the read side of a booking (bookings.c) and of an
 * availability (slots.c) on a new worker's connection, so that the first
 * calls do not pay for loading the catalogue and planning (a worker's
 * first availability took 16 ms, the third 0.5 ms). Return 0 or BP_EIO. */
int booking_warm_up(bp_db *db);
int booking_slots_warm_up(bp_db *db);

/* Statement slots of bp_db_exec_prepared, one per hot statement. */
enum {
    BOOKING_STMT_SLOT_CTX = 0,
    BOOKING_STMT_INSERT,
    BOOKING_STMT_AVAIL_CTX,
    BOOKING_STMT_GET,
};

/* ---- expiry (expiry.c) ----------------------------------------------------------- */

/* The bp_job that turns pending_payment bookings whose hold passed into
 * expired, with their events, and drops the affected availability caches.
 * Safe with several instances (SKIP LOCKED); bounded batches per round. */
int booking_expire_holds(bp_db *db, bp_kv *kv);

/* Provider p's weekly hours as "weekday start end ...". */
#define BOOKING_SQL_PROVIDER_HOURS                                                                 \
    " (SELECT coalesce(string_agg(h.weekday || ' ' || h.start_min || ' ' || h.end_min, ' '), '')"  \
    "  FROM booking.provider_hours h WHERE h.provider_id = p.id)"

/* Provider p's time off touching the window [from, to) (SQL int8
 * expressions of Unix seconds) as "start end ..." clipped to it. */
#define BOOKING_SQL_PROVIDER_TIME_OFF(from, to)                                                    \
    " (SELECT coalesce(string_agg("                                                                \
    "   extract(epoch FROM greatest(coalesce(lower(t.period), '-infinity'),"                       \
    "                               to_timestamp(" from ")))::int8"                                \
    "   || ' ' || extract(epoch FROM least(coalesce(upper(t.period), 'infinity'),"                 \
    "                                      to_timestamp(" to ")))::int8, ' '), '')"                \
    "  FROM booking.time_off t WHERE t.provider_id = p.id"                                         \
    "  AND t.period && tstzrange(to_timestamp(" from "), to_timestamp(" to ")))"

/* The columns both a booking's slot context (bookings.c) and the
 * availability (slots.c) read about provider p and service s: whether p
 * performs s, p's weekly hours, and p's time off touching the window
 * [$3, $4) (Unix seconds). One definition, so the two paths can never judge
 * a slot differently (the business metrics read the hours and time off with
 * the same two macros). */
#define BOOKING_SQL_PROVIDER_WEEK                                                                  \
    " EXISTS (SELECT 1 FROM booking.provider_services ps"                                          \
    "         WHERE ps.provider_id = p.id AND ps.service_id = s.id)," BOOKING_SQL_PROVIDER_HOURS   \
    "," BOOKING_SQL_PROVIDER_TIME_OFF("$3::int8", "$4::int8")

/* Two transactions inserting overlapping bookings of one provider would
 * each wait for the other inside the exclusion check and deadlock (PostgreSQL
 * breaks it after deadlock_timeout, a second later). Every statement that
 * makes a booking of a provider active (create, reschedule, a late payment
 * that revives one) first takes this transaction-scoped lock on the
 * provider, so that they queue instead and the loser gets 23P01 at once.
 * p is the SQL expression of the provider id. */
#define BOOKING_SQL_LOCK_PROVIDER(p)                                                               \
    "pg_advisory_xact_lock(hashtext('booking.provider:' || " p "::text))"

/* Takes the provider's lock (above) inside the caller's open transaction.
 * Returns 0 or BP_EIO. */
int booking_lock_provider(bp_db *db, const char *provider_id);

#endif
