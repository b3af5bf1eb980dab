/* Unit tests for services/booking/availability.c: the slots a client sees
 * for a barber's week, around bookings, time off, holidays, notice, horizon
 * and DST changes, and the single-start check agreeing with the list. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "../../services/booking/availability.h"
#include "bp.h"
#include "tz.h"

/* Monday to Friday 09:00-18:00, Saturday 09:00-13:00: a new provider. */
static const booking_hours DEFAULT_WEEK[] = {
    {1, 540, 1080}, {2, 540, 1080}, {3, 540, 1080}, {4, 540, 1080}, {5, 540, 1080}, {6, 540, 780},
};
/* Monday with a lunch break, rows given out of order. */
static const booking_hours LUNCH_BREAK[] = {{1, 840, 1080}, {1, 540, 780}};
/* Hours that include the night's DST change. */
static const booking_hours SUNDAY_SMALL_HOURS[] = {{7, 0, 240}};
static const booking_hours SATURDAY_TO_MIDNIGHT[] = {{6, 1200, 1440}};

typedef struct {
    const char *name, *zone;
    const booking_hours *hours;
    size_t n_hours;
    const char *first_day;
    int n_days;
    const char *busy[4][2]; /* local "YYYY-MM-DD HH:MM" start and end */
    const char *closed[3];
    int duration, buffer, step;
    const char *now;
    int notice, horizon;
    size_t want_n;
    const char *want_first, *want_last; /* local */
    const char *present[4], *absent[4];
} avail_case;

#define BA      "America/Argentina/Buenos_Aires"
#define NY      "America/New_York"
#define SCL     "America/Santiago"
#define ROWS(a) a, BP_COUNTOF(a)

static const avail_case CASES[] = {
    {"default Monday",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-07",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-12-01 00:00",
     60,
     60,
     34,
     "2026-12-07 09:00",
     "2026-12-07 17:15",
     {"2026-12-07 12:00"},
     {"2026-12-07 17:30", "2026-12-07 08:45"}},
    {"default week",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-07",
     7,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-12-01 00:00",
     60,
     60,
     170 + 14,
     "2026-12-07 09:00",
     "2026-12-12 12:15",
     {"2026-12-12 09:00"},
     {"2026-12-12 12:30", "2026-12-13 10:00"}},
    {"lunch break",
     BA,
     ROWS(LUNCH_BREAK),
     "2026-12-07",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-12-01 00:00",
     60,
     60,
     28,
     "2026-12-07 09:00",
     "2026-12-07 17:15",
     {"2026-12-07 12:15", "2026-12-07 14:00"},
     {"2026-12-07 12:30", "2026-12-07 13:00"}},
    {"a booking and its buffer",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-07",
     1,
     {{"2026-12-07 11:00", "2026-12-07 11:40"}},
     {0},
     30,
     10,
     15,
     "2026-12-01 00:00",
     60,
     60,
     34 - 5,
     "2026-12-07 09:00",
     "2026-12-07 17:15",
     {"2026-12-07 10:15", "2026-12-07 11:45"},
     {"2026-12-07 10:30", "2026-12-07 11:00", "2026-12-07 11:30"}},
    {"overlapping bookings merge",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-07",
     1,
     {{"2026-12-07 11:30", "2026-12-07 12:10"},
      {"2026-12-07 11:00", "2026-12-07 11:40"},
      {"2026-12-07 11:05", "2026-12-07 11:20"}},
     {0},
     30,
     10,
     15,
     "2026-12-01 00:00",
     60,
     60,
     34 - 7,
     "2026-12-07 09:00",
     "2026-12-07 17:15",
     {"2026-12-07 10:15", "2026-12-07 12:15"},
     {"2026-12-07 12:00"}},
    {"time off over two nights",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-07",
     3,
     {{"2026-12-07 15:00", "2026-12-09 10:00"}},
     {0},
     30,
     10,
     15,
     "2026-12-01 00:00",
     60,
     60,
     22 + 0 + 30,
     "2026-12-07 09:00",
     "2026-12-09 17:15",
     {"2026-12-07 14:15", "2026-12-09 10:00"},
     {"2026-12-07 14:30", "2026-12-08 12:00", "2026-12-09 09:45"}},
    {"closed holiday",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-07",
     3,
     {{0}},
     {"2026-12-08"},
     30,
     10,
     15,
     "2026-12-01 00:00",
     60,
     60,
     68,
     "2026-12-07 09:00",
     "2026-12-09 17:15",
     {0},
     {"2026-12-08 09:00"}},
    {"minimum notice",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-07",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-12-07 10:05",
     60,
     60,
     25,
     "2026-12-07 11:15",
     "2026-12-07 17:15",
     {0},
     {"2026-12-07 11:00"}},
    {"never in the past",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-07",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-12-07 10:05",
     0,
     60,
     29,
     "2026-12-07 10:15",
     "2026-12-07 17:15",
     {0},
     {"2026-12-07 10:00"}},
    {"a day already gone",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-04",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-12-07 10:05",
     0,
     60,
     0,
     NULL,
     NULL,
     {0},
     {0}},
    {"horizon",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-07",
     3,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-12-07 10:05",
     0,
     1,
     29 + 5,
     "2026-12-07 10:15",
     "2026-12-08 10:00",
     {0},
     {"2026-12-08 10:15"}},
    {"long service, 20-minute step",
     BA,
     ROWS(DEFAULT_WEEK),
     "2026-12-12",
     1,
     {{0}},
     {0},
     90,
     0,
     20,
     "2026-12-01 00:00",
     60,
     60,
     8,
     "2026-12-12 09:00",
     "2026-12-12 11:20",
     {0},
     {"2026-12-12 11:40"}},
    /* New York: 02:00-02:59 does not exist on 2026-03-08, so 00:00-04:00
     * holds three real hours. */
    {"NY spring forward",
     NY,
     ROWS(SUNDAY_SMALL_HOURS),
     "2026-03-08",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-03-01 00:00",
     60,
     60,
     10,
     "2026-03-08 00:00",
     "2026-03-08 03:15",
     {"2026-03-08 01:45", "2026-03-08 03:00"},
     {"2026-03-08 03:30"}},
    {"NY ordinary Sunday",
     NY,
     ROWS(SUNDAY_SMALL_HOURS),
     "2026-03-15",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-03-01 00:00",
     60,
     60,
     14,
     "2026-03-15 00:00",
     "2026-03-15 03:15",
     {0},
     {0}},
    /* and 01:00-01:59 happens twice on 2026-11-01: five real hours, each
     * wall time offered once, at its first occurrence. */
    {"NY fall back",
     NY,
     ROWS(SUNDAY_SMALL_HOURS),
     "2026-11-01",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-10-25 00:00",
     60,
     60,
     14,
     "2026-11-01 00:00",
     "2026-11-01 03:15",
     {"2026-11-01 01:30", "2026-11-01 02:00"},
     {"2026-11-01 03:30"}},
    /* Santiago skips 2026-09-06 00:00-00:59 and repeats 2026-04-04 23:00-23:59
     * (see tz_test: found from the zone data). */
    {"Santiago spring forward",
     SCL,
     ROWS(SUNDAY_SMALL_HOURS),
     "2026-09-06",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-09-01 00:00",
     60,
     60,
     10,
     "2026-09-06 01:00",
     "2026-09-06 03:15",
     {0},
     {"2026-09-06 03:30"}},
    {"Santiago Saturday ending in the gap",
     SCL,
     ROWS(SATURDAY_TO_MIDNIGHT),
     "2026-09-05",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-09-01 00:00",
     60,
     60,
     14,
     "2026-09-05 20:00",
     "2026-09-05 23:15",
     {0},
     {"2026-09-05 23:30"}},
    {"Santiago fall back",
     SCL,
     ROWS(SATURDAY_TO_MIDNIGHT),
     "2026-04-04",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-04-01 00:00",
     60,
     60,
     16,
     "2026-04-04 20:00",
     "2026-04-04 23:45",
     {"2026-04-04 23:30"},
     {0}},
    {"Santiago ordinary Saturday",
     SCL,
     ROWS(SATURDAY_TO_MIDNIGHT),
     "2026-04-11",
     1,
     {{0}},
     {0},
     30,
     10,
     15,
     "2026-04-01 00:00",
     60,
     60,
     14,
     "2026-04-11 20:00",
     "2026-04-11 23:15",
     {0},
     {"2026-04-11 23:30"}},
};

/* ---- helpers -------------------------------------------------------------- */

static const bp_tz *zone(const char *name)
{
    const bp_tz *tz;
    cr_assert_eq(bp_tz_load(name, &tz), 0, "%s", name);
    return tz;
}

static int32_t day_of(const char *s)
{
    char date[11];
    snprintf(date, sizeof date, "%.10s", s);
    int32_t days;
    cr_assert_eq(bp_date_parse(date, &days), 0, "%s", s);
    return days;
}

/* A local "YYYY-MM-DD HH:MM" as an instant (the earlier one if repeated). */
static int64_t at(const bp_tz *tz, const char *s)
{
    cr_assert_eq(strlen(s), 16, "%s", s);
    int64_t local = (int64_t)day_of(s) * 86400 + ((s[11] - '0') * 10 + (s[12] - '0')) * 3600 +
                    ((s[14] - '0') * 10 + (s[15] - '0')) * 60;
    int64_t t;
    cr_assert_eq(bp_tz_local_to_utc(tz, local, &t), 0, "%s", s);
    return t;
}

/* The query of a case; its arrays live in the caller's storage. */
static booking_avail_query query_of(const avail_case *c, booking_span busy[4], int32_t closed[3])
{
    const bp_tz *tz = zone(c->zone);
    booking_avail_query q = {
        .tz = tz,
        .hours = c->hours,
        .n_hours = c->n_hours,
        .busy = busy,
        .closed_days = closed,
        .duration_min = c->duration,
        .buffer_min = c->buffer,
        .step_min = c->step,
        .now = at(tz, c->now),
        .notice_min = c->notice,
        .horizon_days = c->horizon,
        .first_day = day_of(c->first_day),
        .n_days = c->n_days,
    };
    for (size_t i = 0; i < 4 && c->busy[i][0] != NULL; i++, q.n_busy++)
        busy[i] = (booking_span){at(tz, c->busy[i][0]), at(tz, c->busy[i][1])};
    for (size_t i = 0; i < 3 && c->closed[i] != NULL; i++, q.n_closed++)
        closed[i] = day_of(c->closed[i]);
    return q;
}

static int listed(const booking_span *slots, size_t n, int64_t start)
{
    for (size_t i = 0; i < n; i++)
        if (slots[i].start == start)
            return 1;
    return 0;
}

/* ---- the list -------------------------------------------------------------- */

Test(availability, table_of_weeks_bookings_and_dst_days)
{
    for (size_t k = 0; k < BP_COUNTOF(CASES); k++) {
        const avail_case *c = &CASES[k];
        booking_span busy[4], slots[512];
        int32_t closed[3];
        booking_avail_query q = query_of(c, busy, closed);
        size_t n = 999;
        cr_assert_eq(booking_availability(&q, slots, BP_COUNTOF(slots), &n), 0, "%s", c->name);
        cr_assert_eq(n, c->want_n, "%s: %zu slots", c->name, n);
        if (n > 0) {
            cr_assert_eq(slots[0].start, at(q.tz, c->want_first), "%s: first", c->name);
            cr_assert_eq(slots[n - 1].start, at(q.tz, c->want_last), "%s: last", c->name);
        }
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(slots[i].end - slots[i].start, c->duration * 60);
            if (i > 0)
                cr_assert_gt(slots[i].start, slots[i - 1].start, "%s: order", c->name);
        }
        for (size_t i = 0; i < 4 && c->present[i] != NULL; i++)
            cr_assert(listed(slots, n, at(q.tz, c->present[i])), "%s: %s missing", c->name,
                      c->present[i]);
        for (size_t i = 0; i < 4 && c->absent[i] != NULL; i++)
            cr_assert_not(listed(slots, n, at(q.tz, c->absent[i])), "%s: %s offered", c->name,
                          c->absent[i]);
    }
}

/* Every minute around the asked days: the check says free exactly for the
 * listed starts, and never free for another. */
Test(availability, slot_check_agrees_with_the_list)
{
    size_t checked = 0;
    for (size_t k = 0; k < BP_COUNTOF(CASES); k++) {
        const avail_case *c = &CASES[k];
        booking_span busy[4], slots[512];
        int32_t closed[3];
        booking_avail_query q = query_of(c, busy, closed);
        size_t n;
        cr_assert_eq(booking_availability(&q, slots, BP_COUNTOF(slots), &n), 0);
        int64_t from = (int64_t)q.first_day * 86400 - 14 * 3600;
        int64_t to = ((int64_t)q.first_day + q.n_days) * 86400 + 14 * 3600;
        for (int64_t t = from; t < to; t += 60, checked++) {
            int rv = booking_slot_check(&q, t);
            cr_assert_geq(rv, 0);
            int64_t local = t + bp_tz_offset(q.tz, t);
            int inside = local >= (int64_t)q.first_day * 86400 &&
                         local < ((int64_t)q.first_day + q.n_days) * 86400;
            if (inside)
                cr_assert_eq(rv == BOOKING_SLOT_FREE, listed(slots, n, t), "%s: t=%lld check %d",
                             c->name, (long long)t, rv);
        }
    }
    cr_assert_gt(checked, 50000);
}

static const struct {
    size_t case_index;
    const char *start; /* local */
    int want;
} REASONS[] = {
    {0, "2026-12-07 12:00", BOOKING_SLOT_FREE},
    {0, "2026-12-07 10:07", BOOKING_SLOT_MISALIGNED},
    {0, "2026-12-07 17:30", BOOKING_SLOT_OUTSIDE_HOURS}, /* 17:30 + 40 min is past 18:00 */
    {0, "2026-12-07 08:45", BOOKING_SLOT_OUTSIDE_HOURS},
    {0, "2026-12-07 18:00", BOOKING_SLOT_OUTSIDE_HOURS},
    {0, "2026-12-06 10:00", BOOKING_SLOT_OUTSIDE_HOURS}, /* a Sunday */
    {3, "2026-12-07 11:00", BOOKING_SLOT_BUSY},
    {3, "2026-12-07 10:30", BOOKING_SLOT_BUSY}, /* its buffer would touch the booking */
    {3, "2026-12-07 11:45", BOOKING_SLOT_FREE},
    {6, "2026-12-08 10:00", BOOKING_SLOT_HOLIDAY},
    {7, "2026-12-07 10:00", BOOKING_SLOT_IN_THE_PAST},
    {7, "2026-12-07 10:45", BOOKING_SLOT_TOO_SOON},
    {7, "2026-12-07 11:15", BOOKING_SLOT_FREE},
    {10, "2026-12-08 10:15", BOOKING_SLOT_TOO_FAR},
    {10, "2026-12-08 10:00", BOOKING_SLOT_FREE},
    {12, "2026-03-08 03:00", BOOKING_SLOT_FREE},
    {12, "2026-03-08 03:30", BOOKING_SLOT_OUTSIDE_HOURS},
    {14, "2026-11-01 01:30", BOOKING_SLOT_FREE},
};

Test(availability, slot_check_reasons)
{
    for (size_t i = 0; i < BP_COUNTOF(REASONS); i++) {
        const avail_case *c = &CASES[REASONS[i].case_index];
        booking_span busy[4];
        int32_t closed[3];
        booking_avail_query q = query_of(c, busy, closed);
        cr_assert_eq(booking_slot_check(&q, at(q.tz, REASONS[i].start)), REASONS[i].want, "%s: %s",
                     c->name, REASONS[i].start);
    }
    /* The second 01:30 of New York's fall-back night is never offered. */
    booking_span busy[4];
    int32_t closed[3];
    booking_avail_query q = query_of(&CASES[14], busy, closed);
    int64_t first = at(q.tz, "2026-11-01 01:30");
    cr_assert_eq(booking_slot_check(&q, first + 3600), BOOKING_SLOT_MISALIGNED);
}

/* ---- refusals -------------------------------------------------------------- */

Test(availability, inconsistent_queries_are_refused)
{
    booking_span busy[4], slots[64];
    int32_t closed[3];
    const booking_avail_query good = query_of(&CASES[0], busy, closed);
    size_t n;
    cr_assert_eq(booking_availability(&good, slots, BP_COUNTOF(slots), &n), 0);

    static const booking_hours EMPTY_ROW[] = {{1, 600, 600}};
    static const booking_hours INVERTED_ROW[] = {{1, 700, 600}};
    static const booking_hours BAD_DAY[] = {{0, 540, 600}};
    static const booking_hours PAST_MIDNIGHT[] = {{1, 540, 1441}};
    static const booking_hours OVERLAP[] = {{1, 540, 780}, {1, 720, 1080}};
    static const booking_span INVERTED_BUSY[] = {{100, 50}};
    struct {
        const char *what;
        booking_avail_query q;
    } bad[16];
    size_t nb = 0;
#define BAD(label, field, value)                                                                   \
    do {                                                                                           \
        bad[nb].what = label;                                                                      \
        bad[nb].q = good;                                                                          \
        bad[nb].q.field = value;                                                                   \
        nb++;                                                                                      \
    } while (0)
    BAD("zero-length row", hours, EMPTY_ROW);
    BAD("inverted row", hours, INVERTED_ROW);
    BAD("weekday 0", hours, BAD_DAY);
    BAD("past midnight", hours, PAST_MIDNIGHT);
    BAD("no zone", tz, NULL);
    BAD("zero duration", duration_min, 0);
    BAD("negative buffer", buffer_min, -5);
    BAD("zero step", step_min, 0);
    BAD("negative notice", notice_min, -1);
    BAD("negative horizon", horizon_days, -1);
    BAD("too many days", n_days, BOOKING_AVAIL_MAX_DAYS + 1);
    BAD("negative days", n_days, -1);
    BAD("missing busy array", n_busy, 3);
    for (size_t i = 0; i < nb; i++) {
        if (bad[i].q.hours == EMPTY_ROW || bad[i].q.hours == INVERTED_ROW ||
            bad[i].q.hours == BAD_DAY || bad[i].q.hours == PAST_MIDNIGHT)
            bad[i].q.n_hours = 1;
        if (bad[i].q.n_busy == 3)
            bad[i].q.busy = NULL;
        cr_assert_eq(booking_availability(&bad[i].q, slots, BP_COUNTOF(slots), &n), BP_EINVAL, "%s",
                     bad[i].what);
    }
    booking_avail_query q = good;
    q.hours = OVERLAP;
    q.n_hours = 2;
    cr_assert_eq(booking_availability(&q, slots, BP_COUNTOF(slots), &n), BP_EINVAL);
    cr_assert_eq(booking_slot_check(&q, good.now + 86400), BP_EINVAL);
    q = good;
    q.busy = INVERTED_BUSY;
    q.n_busy = 1;
    cr_assert_eq(booking_availability(&q, slots, BP_COUNTOF(slots), &n), BP_EINVAL);
    cr_assert_eq(booking_slot_check(&q, good.now + 86400), BP_EINVAL);
    cr_assert_eq(booking_availability(NULL, slots, 1, &n), BP_EINVAL);
    cr_assert_eq(booking_availability(&good, NULL, 1, &n), BP_EINVAL);
    cr_assert_eq(booking_availability(&good, slots, 1, NULL), BP_EINVAL);
    cr_assert_eq(booking_slot_check(NULL, 0), BP_EINVAL);
}

Test(availability, more_slots_than_room_is_too_big_with_the_first_ones)
{
    booking_span busy[4], all[64], some[10];
    int32_t closed[3];
    booking_avail_query q = query_of(&CASES[0], busy, closed);
    size_t n_all, n = 0;
    cr_assert_eq(booking_availability(&q, all, BP_COUNTOF(all), &n_all), 0);
    cr_assert_eq(booking_availability(&q, some, BP_COUNTOF(some), &n), BP_ETOOBIG);
    cr_assert_eq(n, BP_COUNTOF(some));
    cr_assert_arr_eq(some, all, sizeof some);
    cr_assert_eq(booking_availability(&q, all, n_all, &n), 0, "exactly enough room");
    cr_assert_eq(booking_availability(&q, NULL, 0, &n), BP_ETOOBIG);
    cr_assert_eq(n, 0);
}

/* Sixty days of a barber with ten bookings a day, given shuffled: the merge
 * must not depend on their order. */
Test(availability, many_busy_spans_in_any_order)
{
    const bp_tz *tz = zone(BA);
    int32_t first = day_of("2026-12-07");
    static booking_span busy[600];
    size_t nb = 0;
    for (int d = 0; d < 60; d++)
        for (int b = 0; b < 10; b++) {
            int64_t local = ((int64_t)first + d) * 86400 + (9 * 60 + b * 50) * 60;
            int64_t t;
            cr_assert_eq(bp_tz_local_to_utc(tz, local, &t), 0);
            busy[nb++] = (booking_span){t, t + 40 * 60};
        }
    booking_avail_query q = {
        .tz = tz,
        .hours = DEFAULT_WEEK,
        .n_hours = BP_COUNTOF(DEFAULT_WEEK),
        .busy = busy,
        .n_busy = nb,
        .duration_min = 30,
        .buffer_min = 10,
        .step_min = 15,
        .now = at(tz, "2026-12-06 00:00"),
        .notice_min = 60,
        .horizon_days = 90,
        .first_day = first,
        .n_days = 60,
    };
    static booking_span sorted[4096], shuffled[4096];
    size_t n1, n2;
    cr_assert_eq(booking_availability(&q, sorted, BP_COUNTOF(sorted), &n1), 0);
    for (size_t i = nb - 1; i > 0; i--) {
        size_t j = (i * 7919u) % (i + 1);
        booking_span tmp = busy[i];
        busy[i] = busy[j];
        busy[j] = tmp;
    }
    cr_assert_eq(booking_availability(&q, shuffled, BP_COUNTOF(shuffled), &n2), 0);
    cr_assert_eq(n1, n2);
    cr_assert_arr_eq(sorted, shuffled, n1 * sizeof sorted[0]);
    cr_assert_gt(n1, 0);
    for (size_t i = 0; i < n1; i++)
        for (size_t b = 0; b < nb; b++)
            cr_assert(sorted[i].start + 40 * 60 <= busy[b].start || sorted[i].start >= busy[b].end);
}
