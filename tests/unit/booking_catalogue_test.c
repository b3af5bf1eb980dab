/* Unit tests for the booking catalogue's pure rules: "HH:MM" times, weekly
 * schedules and their overlaps, percentages as basis points, slot steps,
 * names, phones, emails and the local date of a zone. Table-driven. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "../../services/booking/booking.h"
#include "bp.h"
#include "tz.h"

/* ---- "HH:MM" ---------------------------------------------------------------- */

static const struct {
    const char *in;
    bool end;
    int want; /* -1: refused */
} HHMM[] = {
    {"00:00", false, 0},    {"09:00", false, 540}, {"13:30", false, 810},
    {"23:59", false, 1439}, {"24:00", true, 1440}, {"24:00", false, -1},
    {"24:01", true, -1},    {"25:00", true, -1},   {"12:60", false, -1},
    {"9:00", false, -1},    {"09:0", false, -1},   {"0900", false, -1},
    {"09-00", false, -1},   {"09:00 ", false, -1}, {" 09:00", false, -1},
    {"", false, -1},        {"ab:cd", false, -1},  {"09:00:00", false, -1},
    {"-1:00", false, -1},   {"+9:00", false, -1},  {"1\xc3\xa9:00", false, -1},
};

Test(hhmm, parses_and_refuses)
{
    for (size_t i = 0; i < BP_COUNTOF(HHMM); i++) {
        int got = -7;
        int rv = booking_hhmm_parse(HHMM[i].in, HHMM[i].end, &got);
        if (HHMM[i].want < 0) {
            cr_expect_eq(rv, BP_EINVAL, "\"%s\" (end %d) accepted as %d", HHMM[i].in, HHMM[i].end,
                         got);
        } else {
            cr_expect_eq(rv, 0, "\"%s\" refused", HHMM[i].in);
            cr_expect_eq(got, HHMM[i].want, "\"%s\" gave %d, want %d", HHMM[i].in, got,
                         HHMM[i].want);
        }
    }
    int got;
    cr_expect_eq(booking_hhmm_parse(NULL, true, &got), BP_EINVAL);
}

Test(hhmm, formats_round_trip)
{
    for (int m = 0; m <= 1440; m++) {
        char s[6];
        int back = -1;
        booking_hhmm_format(m, s);
        cr_assert_eq(booking_hhmm_parse(s, true, &back), 0, "%d formatted as %s", m, s);
        cr_assert_eq(back, m);
    }
}

/* ---- weekly schedules ------------------------------------------------------- */

typedef struct {
    int weekday; /* 0: not sent */
    const char *start, *end;
} row;

static const struct {
    const char *name;
    row rows[6];
    size_t n;
    const char *field; /* NULL: accepted */
} WEEKS[] = {
    {"empty week", {{0}}, 0, NULL},
    {"default week",
     {{1, "09:00", "18:00"},
      {2, "09:00", "18:00"},
      {3, "09:00", "18:00"},
      {4, "09:00", "18:00"},
      {5, "09:00", "18:00"},
      {6, "09:00", "13:00"}},
     6,
     NULL},
    {"lunch break", {{1, "09:00", "13:00"}, {1, "14:00", "18:00"}}, 2, NULL},
    {"touching ranges", {{1, "09:00", "13:00"}, {1, "13:00", "18:00"}}, 2, NULL},
    {"until midnight", {{7, "18:00", "24:00"}}, 1, NULL},
    {"same hours other days", {{1, "09:00", "18:00"}, {2, "09:00", "18:00"}}, 2, NULL},
    {"weekday 0", {{0, "09:00", "18:00"}}, 1, "weekly.0.weekday"},
    {"weekday 8", {{1, "09:00", "10:00"}, {8, "09:00", "18:00"}}, 2, "weekly.1.weekday"},
    {"bad start", {{1, "9:00", "18:00"}}, 1, "weekly.0.start"},
    {"start 24:00", {{1, "24:00", "24:00"}}, 1, "weekly.0.start"},
    {"bad end", {{1, "09:00", "18:60"}}, 1, "weekly.0.end"},
    {"missing end", {{1, "09:00", NULL}}, 1, "weekly.0.end"},
    {"end before start", {{1, "18:00", "09:00"}}, 1, "weekly.0.end"},
    {"empty range", {{1, "09:00", "09:00"}}, 1, "weekly.0.end"},
    {"overlap, later row named",
     {{2, "08:00", "09:00"}, {1, "09:00", "13:00"}, {1, "12:00", "18:00"}},
     3,
     "weekly.2.start"},
    {"overlap given in reverse order",
     {{3, "12:00", "18:00"}, {3, "09:00", "13:00"}},
     2,
     "weekly.0.start"},
    {"same start twice", {{4, "09:00", "10:00"}, {4, "09:00", "11:00"}}, 2, "weekly.1.start"},
    {"inside another", {{5, "09:00", "18:00"}, {5, "10:00", "11:00"}}, 2, "weekly.1.start"},
};

Test(week, validates_rows_and_overlaps)
{
    for (size_t t = 0; t < BP_COUNTOF(WEEKS); t++) {
        Bp__Booking__HoursRange msgs[6], *ptrs[6];
        booking_week_range out[6];
        char field[48] = "";
        const char *why = NULL;
        for (size_t i = 0; i < WEEKS[t].n; i++) {
            bp__booking__hours_range__init(&msgs[i]);
            msgs[i].has_weekday = WEEKS[t].rows[i].weekday != 0;
            msgs[i].weekday = WEEKS[t].rows[i].weekday;
            msgs[i].start = (char *)WEEKS[t].rows[i].start;
            msgs[i].end = (char *)WEEKS[t].rows[i].end;
            ptrs[i] = &msgs[i];
        }
        int rv = booking_week_validate(ptrs, WEEKS[t].n, out, field, sizeof field, &why);
        if (WEEKS[t].field == NULL) {
            cr_expect_eq(rv, 0, "%s: refused at %s (%s)", WEEKS[t].name, field, why);
        } else {
            cr_expect_eq(rv, BP_EINVAL, "%s: accepted", WEEKS[t].name);
            cr_expect_str_eq(field, WEEKS[t].field, "%s: named %s", WEEKS[t].name, field);
            cr_expect(why != NULL && *why != '\0', "%s: no reason", WEEKS[t].name);
        }
    }
}

Test(week, converts_to_minutes)
{
    Bp__Booking__HoursRange a, *p = &a;
    booking_week_range out;
    char field[48];
    const char *why;
    bp__booking__hours_range__init(&a);
    a.has_weekday = true;
    a.weekday = 6;
    a.start = "09:15";
    a.end = "13:45";
    cr_assert_eq(booking_week_validate(&p, 1, &out, field, sizeof field, &why), 0);
    cr_expect_eq(out.weekday, 6);
    cr_expect_eq(out.start_min, 555);
    cr_expect_eq(out.end_min, 825);
}

Test(week, refuses_too_many_ranges)
{
    static Bp__Booking__HoursRange msgs[BOOKING_WEEK_MAX_RANGES + 1];
    static Bp__Booking__HoursRange *ptrs[BOOKING_WEEK_MAX_RANGES + 1];
    static booking_week_range out[BOOKING_WEEK_MAX_RANGES + 1];
    char field[48];
    const char *why;
    for (size_t i = 0; i < BP_COUNTOF(msgs); i++) {
        bp__booking__hours_range__init(&msgs[i]);
        ptrs[i] = &msgs[i];
    }
    cr_expect_eq(booking_week_validate(ptrs, BP_COUNTOF(msgs), out, field, sizeof field, &why),
                 BP_ETOOBIG);
    cr_expect_str_eq(field, "weekly");
}

/* ---- percentages ------------------------------------------------------------ */

static const struct {
    double in;
    int32_t want;
    bool ok;
} PERCENTS[] = {
    {10, 1000, true},      {12.5, 1250, true},  {12.34, 1234, true}, {0.07, 7, true},
    {0.01, 1, true},       {0, 0, true},        {-10, -1000, true},  {-90, -9000, true},
    {1000, 100000, true},  {33.33, 3333, true}, {99.99, 9999, true}, {-0.29, -29, true},
    {12.345, 0, false},    {0.001, 0, false},   {-90.01, 0, false},  {1000.01, 0, false},
    {-100, 0, false},      {1e9, 0, false},     {NAN, 0, false},     {INFINITY, 0, false},
    {-INFINITY, 0, false},
};

Test(percent, to_basis_points)
{
    for (size_t i = 0; i < BP_COUNTOF(PERCENTS); i++) {
        int32_t got = -12345;
        int rv = booking_percent_to_bp(PERCENTS[i].in, &got);
        if (PERCENTS[i].ok) {
            cr_expect_eq(rv, 0, "%g refused", PERCENTS[i].in);
            cr_expect_eq(got, PERCENTS[i].want, "%g gave %d bp, want %d", PERCENTS[i].in, got,
                         PERCENTS[i].want);
        } else {
            cr_expect_eq(rv, BP_EINVAL, "%g accepted as %d bp", PERCENTS[i].in, got);
        }
    }
}

/* ---- slot steps -------------------------------------------------------------- */

Test(slot_step, divides_the_hour_or_the_day)
{
    static const int ok[] = {5, 6, 10, 12, 15, 20, 30, 60, 120};
    for (int m = -5; m <= 200; m++) {
        bool want = false;
        for (size_t i = 0; i < BP_COUNTOF(ok); i++)
            want = want || ok[i] == m;
        cr_expect_eq(booking_slot_step_valid(m), want, "step %d: got %d", m, !want);
    }
}

/* ---- texts ------------------------------------------------------------------- */

static const struct {
    const char *in;
    size_t max;
    const char *want; /* NULL: refused */
} TEXTS[] = {
    {"Barbería El Palermo", 120, "Barbería El Palermo"},
    {"  Corte clásico \t", 120, "Corte clásico"},
    {"Ñandú", 5, "Ñandú"},
    {"Ñandús", 5, NULL},
    {"", 10, NULL},
    {"   ", 10, NULL},
    {"a\x01"
     "b",
     10, NULL},
    {"a\nb", 10, NULL},
    {"bad \xc3", 10, NULL},
    {"overlong \xc0\xaf", 20, NULL},
    {"surrogate \xed\xa0\x80", 20, NULL},
    {"C1 \xc2\x85", 20, NULL},
    {"emoji \xf0\x9f\x92\x88", 10, "emoji \xf0\x9f\x92\x88"},
};

Test(text, normalises_and_counts_characters)
{
    for (size_t i = 0; i < BP_COUNTOF(TEXTS); i++) {
        char out[128];
        const char *why = NULL;
        int rv = bp_text_normalize(TEXTS[i].in, TEXTS[i].max, out, sizeof out, &why);
        if (TEXTS[i].want == NULL) {
            cr_expect_eq(rv, BP_EINVAL, "case %zu accepted as \"%s\"", i, out);
            cr_expect(why != NULL && *why != '\0');
        } else {
            cr_expect_eq(rv, 0, "case %zu refused: %s", i, why);
            cr_expect_str_eq(out, TEXTS[i].want);
        }
    }
    char out[8];
    const char *why;
    cr_expect_eq(bp_text_normalize(NULL, 10, out, sizeof out, &why), BP_EINVAL);
    /* fits in characters but not in the buffer */
    cr_expect_eq(bp_text_normalize("abcdefghij", 100, out, sizeof out, &why), BP_EINVAL);
}

/* ---- phones and emails -------------------------------------------------------- */

static const struct {
    const char *in, *want;
} PHONES[] = {
    {"+5491123456789", "+5491123456789"},
    {"+54 9 11 2345-6789", "+5491123456789"},
    {"+54 (11) 2345.6789", "+5491123456789"},
    {"0054 9 11 2345 6789", "+5491123456789"},
    {"+1 415 555 2671", "+14155552671"},
    {"  +34 612 34 56 78", "+34612345678"},
    {"11 2345-6789", "+5491123456789"},
    {"011 15 2345-6789", "+5491123456789"},
    {"+54 11", NULL},
    {"+0 11 2345 6789", NULL},
    {"+54 9 11 2345 6789 1234", NULL},
    {"+54-9-11-abcd", NULL},
    {"", NULL},
    {"+", NULL},
};

Test(phone, e164)
{
    for (size_t i = 0; i < BP_COUNTOF(PHONES); i++) {
        char out[17] = "";
        const char *why;
        int rv = bp_phone_normalize(PHONES[i].in, out, sizeof out, &why);
        if (PHONES[i].want == NULL) {
            cr_expect_eq(rv, BP_EINVAL, "\"%s\" accepted as %s", PHONES[i].in, out);
        } else {
            cr_expect_eq(rv, 0, "\"%s\" refused", PHONES[i].in);
            cr_expect_str_eq(out, PHONES[i].want);
        }
    }
}

static const struct {
    const char *in, *want;
} EMAILS[] = {
    {"martin@demo.barberpro.com.ar", "martin@demo.barberpro.com.ar"},
    {"  Martin.Gomez@Example.COM ", "martin.gomez@example.com"},
    {"a+b@x.io", "a+b@x.io"},
    {"no-at.example.com", NULL},
    {"two@@example.com", NULL},
    {"a@b@example.com", NULL},
    {"@example.com", NULL},
    {"user@", NULL},
    {"user@localhost", NULL},
    {"user@.example.com", NULL},
    {"user@example.", NULL},
    {"user@exa..mple.com", NULL},
    {"us er@example.com", NULL},
    {"user@exámple.com", NULL},
    {"", NULL},
};

Test(email, normalises_and_refuses)
{
    for (size_t i = 0; i < BP_COUNTOF(EMAILS); i++) {
        char out[255] = "";
        const char *why;
        int rv = bp_email_normalize(EMAILS[i].in, out, sizeof out, &why);
        if (EMAILS[i].want == NULL) {
            cr_expect_eq(rv, BP_EINVAL, "\"%s\" accepted as %s", EMAILS[i].in, out);
        } else {
            cr_expect_eq(rv, 0, "\"%s\" refused", EMAILS[i].in);
            cr_expect_str_eq(out, EMAILS[i].want);
        }
    }
}

/* ---- the local date of a zone -------------------------------------------------- */

Test(local_day, follows_the_zone)
{
    int32_t d2026_03_01;
    cr_assert_eq(bp_date_parse("2026-03-01", &d2026_03_01), 0);
    /* 2026-03-01T02:30:00Z is still Feb 28 in Buenos Aires (-03:00) and
     * already Mar 1 in UTC and in Madrid. */
    int64_t ms = ((int64_t)d2026_03_01 * 86400 + 2 * 3600 + 30 * 60) * 1000;
    cr_expect_eq(booking_local_day("America/Argentina/Buenos_Aires", ms), d2026_03_01 - 1);
    cr_expect_eq(booking_local_day("Europe/Madrid", ms), d2026_03_01);
    cr_expect_eq(booking_local_day(NULL, ms), d2026_03_01);
    cr_expect_eq(booking_local_day("Not/A_Zone", ms), d2026_03_01);
    /* Kathmandu is +05:45: 18:15Z is already the next day there. */
    int64_t late = ((int64_t)d2026_03_01 * 86400 + 18 * 3600 + 15 * 60) * 1000;
    cr_expect_eq(booking_local_day("Asia/Kathmandu", late), d2026_03_01 + 1);
    cr_expect_eq(booking_local_day("Asia/Kathmandu", late - 1000), d2026_03_01);
}
