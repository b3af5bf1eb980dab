/* Unit tests for the working-time arithmetic of services/booking/
 * availability.c (booking_usage_measure, booking_usage_ratio): the figures
 * behind barberpro_business_provider_*_seconds and _utilisation_ratio. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/booking/availability.h"
#include "bp.h"
#include "tz.h"

#define BA "America/Argentina/Buenos_Aires"
#define NY "America/New_York"

#define HOUR 3600

/* Monday to Friday 09:00-18:00, Saturday 09:00-13:00: a new provider. */
static const booking_hours DEFAULT_WEEK[] = {
    {1, 540, 1080}, {2, 540, 1080}, {3, 540, 1080}, {4, 540, 1080}, {5, 540, 1080}, {6, 540, 780},
};
/* Monday with a lunch break, rows given out of order. */
static const booking_hours LUNCH_BREAK[] = {{1, 840, 1080}, {1, 540, 780}};
/* Sunday's small hours, across the night's DST change. */
static const booking_hours SUNDAY_SMALL_HOURS[] = {{7, 0, 240}};
/* A Sunday row starting inside New York's spring-forward gap (02:00-03:00). */
static const booking_hours SUNDAY_FROM_THE_GAP[] = {{7, 150, 240}};

static int32_t day_of(const char *s)
{
    int32_t d;
    char date[11];
    memcpy(date, s, 10);
    date[10] = '\0';
    cr_assert_eq(bp_date_parse(date, &d), 0, "%s", s);
    return d;
}

/* The instant of a local "YYYY-MM-DD HH:MM" in tz. */
static int64_t at(const bp_tz *tz, const char *s)
{
    cr_assert_eq(strlen(s), 16, "%s", s);
    int64_t local = (int64_t)day_of(s) * 86400 + ((s[11] - '0') * 10 + (s[12] - '0')) * 3600 +
                    ((s[14] - '0') * 10 + (s[15] - '0')) * 60;
    int64_t t;
    cr_assert_eq(bp_tz_local_to_utc(tz, local, &t), 0, "%s", s);
    return t;
}

typedef struct {
    const char *name, *zone;
    const booking_hours *hours;
    size_t n_hours;
    const char *closed[3];    /* local dates */
    const char *off[3][2];    /* local start and end of time off */
    const char *booked[4][2]; /* local start and end of bookings */
    const char *from, *to;    /* the interval, local */
    int64_t working_s, booked_s;
} usage_case;

#define ROWS(a) a, BP_COUNTOF(a)

static const usage_case CASES[] = {
    {"one Monday",
     BA,
     ROWS(DEFAULT_WEEK),
     {0},
     {{0}},
     {{0}},
     "2026-12-14 00:00",
     "2026-12-15 00:00",
     9 * HOUR,
     0},
    {"a whole week",
     BA,
     ROWS(DEFAULT_WEEK),
     {0},
     {{0}},
     {{0}},
     "2026-12-14 00:00",
     "2026-12-21 00:00",
     5 * 9 * HOUR + 4 * HOUR,
     0},
    {"closed days are no working time",
     BA,
     ROWS(DEFAULT_WEEK),
     {"2026-12-07", "2026-12-08"},
     {{0}},
     {{0}},
     "2026-12-07 00:00",
     "2026-12-14 00:00",
     3 * 9 * HOUR + 4 * HOUR,
     0},
    {"a closed day outside the interval changes nothing",
     BA,
     ROWS(DEFAULT_WEEK),
     {"2026-12-13", "2026-12-15"},
     {{0}},
     {{0}},
     "2026-12-14 00:00",
     "2026-12-15 00:00",
     9 * HOUR,
     0},
    {"a lunch break is not working time",
     BA,
     ROWS(LUNCH_BREAK),
     {0},
     {{0}},
     {{0}},
     "2026-12-14 00:00",
     "2026-12-15 00:00",
     8 * HOUR,
     0},
    {"overlapping time off counts once, outside the hours not at all",
     BA,
     ROWS(DEFAULT_WEEK),
     {0},
     {{"2026-12-16 10:00", "2026-12-16 12:00"},
      {"2026-12-16 11:00", "2026-12-16 13:00"},
      {"2026-12-16 17:00", "2026-12-16 20:00"}},
     {{0}},
     "2026-12-16 00:00",
     "2026-12-17 00:00",
     9 * HOUR - 4 * HOUR,
     0},
    {"bookings inside the hours",
     BA,
     ROWS(DEFAULT_WEEK),
     {0},
     {{0}},
     {{"2026-12-14 10:00", "2026-12-14 10:40"}, {"2026-12-14 15:00", "2026-12-14 16:00"}},
     "2026-12-14 00:00",
     "2026-12-21 00:00",
     49 * HOUR,
     100 * 60},
    {"overlapping bookings count once; outside the hours or in time off not at all",
     BA,
     ROWS(DEFAULT_WEEK),
     {0},
     {{"2026-12-14 12:00", "2026-12-14 13:00"}},
     {{"2026-12-14 10:00", "2026-12-14 10:40"},
      {"2026-12-14 10:20", "2026-12-14 11:00"},
      {"2026-12-14 19:00", "2026-12-14 19:30"},
      {"2026-12-14 12:30", "2026-12-14 13:30"}},
     "2026-12-14 00:00",
     "2026-12-15 00:00",
     8 * HOUR,
     60 * 60 + 30 * 60},
    {"the interval clips hours and bookings",
     BA,
     ROWS(DEFAULT_WEEK),
     {0},
     {{0}},
     {{"2026-12-14 11:30", "2026-12-14 12:30"}, {"2026-12-14 14:45", "2026-12-14 15:15"}},
     "2026-12-14 12:00",
     "2026-12-14 15:00",
     3 * HOUR,
     30 * 60 + 15 * 60},
    {"a booking over a closed day",
     BA,
     ROWS(DEFAULT_WEEK),
     {"2026-12-14"},
     {{0}},
     {{"2026-12-14 10:00", "2026-12-14 11:00"}},
     "2026-12-14 00:00",
     "2026-12-15 00:00",
     0,
     0},
    /* New York: 2026-03-08 springs forward at 02:00, 2026-11-01 falls back
     * at 02:00. Wall-clock 00:00-04:00 lasts 3 h and 5 h. */
    {"spring forward: three real hours",
     NY,
     ROWS(SUNDAY_SMALL_HOURS),
     {0},
     {{0}},
     {{0}},
     "2026-03-08 00:00",
     "2026-03-09 00:00",
     3 * HOUR,
     0},
    {"fall back: five real hours",
     NY,
     ROWS(SUNDAY_SMALL_HOURS),
     {0},
     {{0}},
     {{"2026-11-01 00:30", "2026-11-01 01:30"}},
     "2026-11-01 00:00",
     "2026-11-02 00:00",
     5 * HOUR,
     3600},
    {"a start inside the gap is the jump",
     NY,
     ROWS(SUNDAY_FROM_THE_GAP),
     {0},
     {{0}},
     {{0}},
     "2026-03-08 00:00",
     "2026-03-09 00:00",
     1 * HOUR,
     0},
};

static void run_case(const usage_case *c)
{
    const bp_tz *tz;
    cr_assert_eq(bp_tz_load(c->zone, &tz), 0, "%s", c->zone);
    int32_t closed[3];
    booking_span off[3], booked[4];
    size_t n_closed = 0, n_off = 0, n_booked = 0;
    for (size_t i = 0; i < 3 && c->closed[i] != NULL; i++)
        closed[n_closed++] = day_of(c->closed[i]);
    for (size_t i = 0; i < 3 && c->off[i][0] != NULL; i++)
        off[n_off++] = (booking_span){at(tz, c->off[i][0]), at(tz, c->off[i][1])};
    for (size_t i = 0; i < 4 && c->booked[i][0] != NULL; i++)
        booked[n_booked++] = (booking_span){at(tz, c->booked[i][0]), at(tz, c->booked[i][1])};
    booking_usage_query q = {
        .tz = tz,
        .hours = c->hours,
        .n_hours = c->n_hours,
        .closed_days = closed,
        .n_closed = n_closed,
        .time_off = off,
        .n_time_off = n_off,
        .booked = booked,
        .n_booked = n_booked,
        .from = at(tz, c->from),
        .to = at(tz, c->to),
    };
    booking_usage u = {-1, -1};
    cr_assert_eq(booking_usage_measure(&q, &u), 0, "%s", c->name);
    cr_expect_eq(u.working_s, c->working_s, "%s: working %lld s, want %lld", c->name,
                 (long long)u.working_s, (long long)c->working_s);
    cr_expect_eq(u.booked_s, c->booked_s, "%s: booked %lld s, want %lld", c->name,
                 (long long)u.booked_s, (long long)c->booked_s);
}

Test(usage, table_of_weeks_time_off_bookings_and_dst)
{
    for (size_t i = 0; i < BP_COUNTOF(CASES); i++)
        run_case(&CASES[i]);
}

Test(usage, spans_in_any_order_and_more_than_fit_on_the_stack)
{
    const bp_tz *tz;
    cr_assert_eq(bp_tz_load(BA, &tz), 0);
    int64_t monday = at(tz, "2026-12-14 09:00");
    /* 1,000 one-minute bookings every 30 s from 09:00, newest first: they
     * overlap pairwise and cover 09:00 to 17:20:30 exactly once. */
    enum { N = 1000 };
    booking_span *booked = malloc(N * sizeof *booked);
    booking_span *off = malloc(N * sizeof *off);
    cr_assert(booked != NULL && off != NULL);
    for (int i = 0; i < N; i++) {
        booked[N - 1 - i] = (booking_span){monday + i * 30, monday + i * 30 + 60};
        /* Time off in the evening, outside the hours: it changes nothing. */
        off[i] = (booking_span){monday + 10 * HOUR + i, monday + 10 * HOUR + i + 1};
    }
    booking_usage_query q = {
        .tz = tz,
        .hours = DEFAULT_WEEK,
        .n_hours = BP_COUNTOF(DEFAULT_WEEK),
        .time_off = off,
        .n_time_off = N,
        .booked = booked,
        .n_booked = N,
        .from = at(tz, "2026-12-14 00:00"),
        .to = at(tz, "2026-12-15 00:00"),
    };
    booking_usage u;
    cr_assert_eq(booking_usage_measure(&q, &u), 0);
    cr_expect_eq(u.working_s, 9 * HOUR);
    cr_expect_eq(u.booked_s, (N - 1) * 30 + 60);
    free(booked);
    free(off);
}

Test(usage, inconsistent_queries_are_refused)
{
    const bp_tz *tz;
    cr_assert_eq(bp_tz_load(BA, &tz), 0);
    int64_t from = at(tz, "2026-12-14 00:00"), to = at(tz, "2026-12-15 00:00");
    static const booking_hours overlapping[] = {{1, 540, 780}, {1, 720, 1080}};
    static const booking_hours bad_weekday[] = {{8, 540, 780}};
    static const booking_hours empty_row[] = {{1, 600, 600}};
    booking_span backwards = {to, from};
    booking_usage u;
    booking_usage_query ok = {
        .tz = tz, .hours = DEFAULT_WEEK, .n_hours = 6, .from = from, .to = to};
    cr_assert_eq(booking_usage_measure(&ok, &u), 0);

    booking_usage_query q = ok;
    q.tz = NULL;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "no zone");
    q = ok;
    q.hours = overlapping;
    q.n_hours = 2;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "overlapping rows");
    q.hours = bad_weekday;
    q.n_hours = 1;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "weekday 8");
    q.hours = empty_row;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "start == end");
    q = ok;
    q.n_hours = BOOKING_AVAIL_MAX_HOURS + 1;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "too many rows");
    q = ok;
    q.time_off = &backwards;
    q.n_time_off = 1;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "time off ending before it starts");
    q = ok;
    q.booked = &backwards;
    q.n_booked = 1;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "booking ending before it starts");
    q = ok;
    q.n_booked = 1; /* with booked NULL */
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "a count without its array");
    q = ok;
    q.from = to;
    q.to = from;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "an interval ending first");
    q = ok;
    q.to = from + (int64_t)(BOOKING_AVAIL_MAX_DAYS + 1) * 86400;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "more than a year");
    q = ok;
    q.from = -86400;
    cr_expect_eq(booking_usage_measure(&q, &u), BP_EINVAL, "before 1970");
    cr_expect_eq(booking_usage_measure(NULL, &u), BP_EINVAL);
    cr_expect_eq(booking_usage_measure(&ok, NULL), BP_EINVAL);
}

Test(usage, an_empty_interval_has_no_time)
{
    const bp_tz *tz;
    cr_assert_eq(bp_tz_load(BA, &tz), 0);
    int64_t t = at(tz, "2026-12-14 10:00");
    booking_usage_query q = {.tz = tz, .hours = DEFAULT_WEEK, .n_hours = 6, .from = t, .to = t};
    booking_usage u = {-1, -1};
    cr_assert_eq(booking_usage_measure(&q, &u), 0);
    cr_expect_eq(u.working_s, 0);
    cr_expect_eq(u.booked_s, 0);
}

Test(usage, ratio_is_booked_over_working_and_nan_without_working_time)
{
    cr_expect_float_eq(booking_usage_ratio(1800, 3600), 0.5, 1e-12);
    cr_expect_float_eq(booking_usage_ratio(0, 3600), 0.0, 1e-12);
    cr_expect_float_eq(booking_usage_ratio(3600, 3600), 1.0, 1e-12);
    cr_expect_float_eq(booking_usage_ratio(6000, 4 * 32400), 6000.0 / 129600.0, 1e-12);
    cr_expect(isnan(booking_usage_ratio(0, 0)));
    cr_expect(isnan(booking_usage_ratio(10, 0)));
    cr_expect(isnan(booking_usage_ratio(0, -5)));
}
