/* The slot engine: free starts of a service in a provider's working hours,
 * computed in the shop's time zone. Pure functions, no I/O. */
#ifndef BOOKING_AVAILABILITY_H
#define BOOKING_AVAILABILITY_H

#include <stddef.h>
#include <stdint.h>

#include "bp.h"
#include "tz.h"

/* Limits on one query, so that a request cannot buy unbounded work. */
#define BOOKING_AVAIL_MAX_DAYS         366
#define BOOKING_AVAIL_MAX_HOURS        672 /* rows: 96 a day */
#define BOOKING_AVAIL_MAX_BUSY         100000
#define BOOKING_AVAIL_MAX_CLOSED       4096
#define BOOKING_AVAIL_MAX_NOTICE_MIN   525600 /* a year */
#define BOOKING_AVAIL_MAX_HORIZON_DAYS 3660   /* ten years */

/* A half-open span of time [start, end) in Unix seconds. */
typedef struct {
    int64_t start, end;
} booking_span;

/* Working hours: on ISO weekday (1 = Monday .. 7 = Sunday), from start_min to
 * end_min minutes after local midnight (0..1440, start < end). Several rows
 * per day are breaks between them. */
typedef struct {
    int weekday;
    int start_min, end_min;
} booking_hours;

typedef struct {
    const bp_tz *tz; /* the shop's zone */
    const booking_hours *hours;
    size_t n_hours;
    const booking_span
        *busy; /* bookings (each incl. its own buffer) and time off; any order, may overlap */
    size_t n_busy;
    const int32_t *closed_days; /* local dates (days since 1970-01-01) the shop is closed (holidays
                                   not opened); any order */
    size_t n_closed;
    int duration_min, buffer_min,
        step_min;      /* the service, its buffer after, the shop's slot step */
    int64_t now;       /* Unix seconds */
    int notice_min;    /* minimum notice before a slot starts */
    int horizon_days;  /* no slot starting at or after now + horizon_days * 86400 */
    int32_t first_day; /* local dates asked for: first_day .. first_day + n_days - 1 */
    int n_days;
} booking_avail_query;

/* How the engine reads a query:
 * - Candidates are the local wall times on the step grid (multiples of
 *   step_min from local midnight) inside a working-hours row. Each becomes an
 *   instant with bp_tz_local_to_utc: a wall time the clocks skip (DST gap)
 *   is no candidate; a repeated one (DST fall-back) means its EARLIER
 *   instant, so the second occurrence is never offered.
 * - A candidate fits when start + duration + buffer, in real elapsed
 *   seconds, is at or before the row's end converted the same way (an end
 *   inside a gap is the instant of the jump, see bp_tz_local_to_utc_end).
 * - It must overlap no busy span (half-open: touching is fine), start at or
 *   after now + notice_min (and never before now) and before
 *   now + horizon_days * 86400, on a date not in closed_days.
 * - A query is inconsistent (BP_EINVAL) when: tz is NULL; an array is NULL
 *   with a non-zero count; a count exceeds its BOOKING_AVAIL_MAX_* limit; an
 *   hours row has a weekday outside 1..7 or not 0 <= start < end <= 1440;
 *   two rows of the same weekday overlap (touching is fine); a busy span ends
 *   before it starts; duration_min is not 1..1440, buffer_min not 0..1440,
 *   step_min not 1..1440; notice_min or horizon_days negative or above their
 *   BOOKING_AVAIL_MAX_*; now beyond +-2^62; n_days not
 *   0..BOOKING_AVAIL_MAX_DAYS or the dates outside 1970-01-01..9999-12-31. */

/* Writes the free slots, in time order, into out (cap entries): each is
 * [start, start + duration) although start + duration + buffer must fit.
 * Returns 0 with *n_out set, BP_EINVAL for an inconsistent query, or
 * BP_ETOOBIG when more than cap slots exist (out holds the first cap, and
 * *n_out is cap). BP_ENOMEM when many busy spans need a scratch copy and
 * malloc fails. The caller owns every array; nothing is kept. */
int booking_availability(const booking_avail_query *q, booking_span *out, size_t cap,
                         size_t *n_out);

/* Why a proposed start is refused, checked in this order. */
enum {
    BOOKING_SLOT_FREE = 0,
    BOOKING_SLOT_IN_THE_PAST = 1,   /* start < now */
    BOOKING_SLOT_TOO_SOON = 2,      /* start < now + notice */
    BOOKING_SLOT_TOO_FAR = 3,       /* start >= now + horizon */
    BOOKING_SLOT_HOLIDAY = 4,       /* its local date is in closed_days */
    BOOKING_SLOT_OUTSIDE_HOURS = 5, /* in no row, or service + buffer overruns the row */
    BOOKING_SLOT_MISALIGNED = 6,    /* in a row but off the step grid, or the second
                                     * occurrence of a repeated wall time: the list
                                     * never offers it (answer 422 outside_hours) */
    BOOKING_SLOT_BUSY = 7,          /* overlaps a booking or time off (409 slot_taken) */
};

/* Why one proposed start (Unix seconds) is not bookable, for the booking
 * path: exactly the rules of booking_availability, so a start is free here if
 * and only if the list (for its local date) contains it. first_day and n_days
 * are ignored. Returns BOOKING_SLOT_FREE (0), one of the positive
 * BOOKING_SLOT_* reasons, or BP_EINVAL for an inconsistent query. Allocates
 * nothing; the busy spans are scanned in place. */
int booking_slot_check(const booking_avail_query *q, int64_t start);

/* ---- working time (the business metrics' utilisation) ---------------------- */

/* One provider's working and booked time over an interval. */
typedef struct {
    const bp_tz *tz;            /* the shop's zone */
    const booking_hours *hours; /* the weekly hours, as booking_avail_query's */
    size_t n_hours;
    const int32_t *closed_days; /* local dates the shop is closed; any order */
    size_t n_closed;
    const booking_span *time_off; /* any order, may overlap */
    size_t n_time_off;
    const booking_span *booked; /* what holds the chair: bookings with their buffer;
                                   any order, may overlap */
    size_t n_booked;
    int64_t from, to; /* the interval [from, to), Unix seconds */
} booking_usage_query;

typedef struct {
    int64_t working_s; /* seconds of working hours in the interval, time off left out */
    int64_t booked_s;  /* seconds of those that a booking holds */
} booking_usage;

/* Measures q into *out. Working hours are every hours row on every local
 * date not in closed_days, read as the slot engine reads them (both bounds
 * with bp_tz_local_to_utc_end: a wall time inside a DST gap is the jump, a
 * repeated one its earlier instant), clipped to the interval, less the time
 * off. Booked time is the part of that working time under a booking, so
 * overlapping bookings count once and a booking outside the hours not at
 * all: booked_s <= working_s. Returns 0; BP_EINVAL for an inconsistent
 * query (hours as booking_availability refuses them, a span ending before
 * it starts, counts beyond BOOKING_AVAIL_MAX_CLOSED and _BUSY, an interval
 * ending before it starts, longer than BOOKING_AVAIL_MAX_DAYS days or
 * outside 1970..9999); BP_ENOMEM. Allocates only scratch space. */
int booking_usage_measure(const booking_usage_query *q, booking_usage *out);

/* booked_s / working_s, or NaN when working_s is not positive: without
 * working time there is nothing to use, which is not 0 % used. */
double booking_usage_ratio(int64_t booked_s, int64_t working_s);

#endif
