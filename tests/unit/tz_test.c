/* Unit tests for common/tz.c and the RFC 3339 helpers of common/bp.c: zone
 * offsets against glibc, DST gaps and repeats, names that must be refused,
 * calendar arithmetic and strict parsing. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bp.h"
#include "tz.h"

#define HOUR 3600
#define DAY  86400

/* ---- glibc as the oracle (each Criterion test runs in its own process, so
 * setting TZ here touches nobody else) ------------------------------------ */

static void oracle_zone(const char *zone)
{
    setenv("TZ", zone, 1);
    tzset();
}

static int oracle_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    cr_assert_not_null(localtime_r(&tt, &tm));
    return (int)tm.tm_gmtoff;
}

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return (int64_t)bp_days_from_civil(y, mo, d) * DAY + h * HOUR + mi * 60;
}

/* The earliest t with t + offset(t) == local according to glibc, or
 * INT64_MIN when there is none. Offsets seen every 6.5 h across +-26 h are
 * the candidates: these zones never change twice within 6.5 hours. */
static int64_t oracle_local_to_utc(int64_t local)
{
    int64_t best = INT64_MIN;
    for (int k = -4; k <= 4; k++) {
        int o = oracle_offset(local + k * (13 * HOUR / 2));
        int64_t t = local - o;
        if (oracle_offset(t) == o && (best == INT64_MIN || t < best))
            best = t;
    }
    return best;
}

typedef struct {
    int64_t at;
    int before, after;
} transition;

/* Every change of glibc's offset in [from, to), found by stepping 6 h and
 * bisecting to the second. */
static size_t oracle_transitions(int64_t from, int64_t to, transition *out, size_t cap)
{
    size_t n = 0;
    int prev = oracle_offset(from);
    for (int64_t t = from + 6 * HOUR; t < to; t += 6 * HOUR) {
        int cur = oracle_offset(t);
        if (cur == prev)
            continue;
        int64_t lo = t - 6 * HOUR, hi = t; /* offset(lo) == prev, offset(hi) != prev */
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (oracle_offset(mid) == prev)
                lo = mid;
            else
                hi = mid;
        }
        cr_assert_lt(n, cap);
        out[n++] = (transition){hi, prev, oracle_offset(hi)};
        prev = cur;
    }
    return n;
}

static const char *const ORACLE_ZONES[] = {
    "America/New_York",
    "America/Santiago",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Argentina/Buenos_Aires",
    "Asia/Kolkata",
    "UTC",
    "Europe/Madrid",
    "America/Nuuk",
    "Asia/Jerusalem",
    "Asia/Gaza",
    "America/Sao_Paulo",
};

static void compare_range(const char *zone, const bp_tz *tz, int64_t from, int64_t to, int64_t step,
                          size_t *checked)
{
    for (int64_t t = from; t < to; t += step) {
        cr_assert_eq(bp_tz_offset(tz, t), oracle_offset(t), "%s at %lld", zone, (long long)t);
        (*checked)++;
    }
    static transition tr[1024];
    size_t n = oracle_transitions(from, to, tr, BP_COUNTOF(tr));
    for (size_t i = 0; i < n; i++) {
        for (int64_t d = -1; d <= 1; d++)
            cr_assert_eq(bp_tz_offset(tz, tr[i].at + d), oracle_offset(tr[i].at + d),
                         "%s at transition %lld%+lld", zone, (long long)tr[i].at, (long long)d);
        *checked += 3;
    }
}

Test(tz, offsets_agree_with_glibc_1990_to_2040_and_far_future)
{
    size_t checked = 0;
    for (size_t z = 0; z < BP_COUNTOF(ORACLE_ZONES); z++) {
        const bp_tz *tz;
        cr_assert_eq(bp_tz_load(ORACLE_ZONES[z], &tz), 0, "%s", ORACLE_ZONES[z]);
        oracle_zone(ORACLE_ZONES[z]);
        /* An odd step visits every time of day and day of the week. */
        compare_range(ORACLE_ZONES[z], tz, utc(1990, 1, 1, 0, 0), utc(2041, 1, 1, 0, 0), 40009,
                      &checked);
        /* Past the table built from the footer: the rule evaluated directly. */
        compare_range(ORACLE_ZONES[z], tz, utc(2195, 1, 1, 0, 0), utc(2205, 1, 1, 0, 0), 70001,
                      &checked);
        compare_range(ORACLE_ZONES[z], tz, utc(2398, 6, 1, 0, 0), utc(2401, 1, 1, 0, 0), 70001,
                      &checked);
    }
    cr_assert_gt(checked, 100000);
}

Test(tz, local_to_utc_agrees_with_glibc_around_every_transition)
{
    static transition tr[512];
    for (size_t z = 0; z < BP_COUNTOF(ORACLE_ZONES); z++) {
        const bp_tz *tz;
        cr_assert_eq(bp_tz_load(ORACLE_ZONES[z], &tz), 0);
        oracle_zone(ORACLE_ZONES[z]);
        size_t n =
            oracle_transitions(utc(2000, 1, 1, 0, 0), utc(2040, 1, 1, 0, 0), tr, BP_COUNTOF(tr));
        for (size_t i = 0; i < n; i++) {
            /* Every wall time from 2 h before to 2 h after the change. */
            int64_t from = tr[i].at + tr[i].before - 2 * HOUR;
            int64_t to = tr[i].at + tr[i].after + 2 * HOUR;
            for (int64_t local = from; local <= to; local += 5 * 60) {
                int64_t want = oracle_local_to_utc(local), got = 0;
                int rv = bp_tz_local_to_utc(tz, local, &got);
                if (want == INT64_MIN) {
                    cr_assert_eq(rv, BP_ENOTFOUND, "%s local %lld", ORACLE_ZONES[z],
                                 (long long)local);
                    cr_assert_eq(bp_tz_local_to_utc_end(tz, local, &got), 0);
                    cr_assert_eq(got, tr[i].at, "%s gap end", ORACLE_ZONES[z]);
                } else {
                    cr_assert_eq(rv, 0, "%s local %lld", ORACLE_ZONES[z], (long long)local);
                    cr_assert_eq(got, want, "%s local %lld", ORACLE_ZONES[z], (long long)local);
                }
            }
        }
        /* And ordinary wall times throughout, every 7 h 13 min. */
        for (int64_t local = utc(1995, 1, 1, 0, 0); local < utc(2035, 1, 1, 0, 0);
             local += 7 * HOUR + 13 * 60) {
            int64_t want = oracle_local_to_utc(local), got;
            if (want != INT64_MIN) {
                cr_assert_eq(bp_tz_local_to_utc(tz, local, &got), 0);
                cr_assert_eq(got, want, "%s local %lld", ORACLE_ZONES[z], (long long)local);
            }
        }
    }
}

/* POSIX strings alone, with every date form, compared to glibc reading the
 * same string as TZ. */
Test(tz, posix_rules_agree_with_glibc)
{
    static const char *const SPECS[] = {
        "EST5EDT,M3.2.0,M11.1.0",
        "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
        "EET-2EEST,M3.4.4/50,M10.4.4/50",
        "IST-2IDT,M3.4.4/26,M10.5.0",
        "CET-1CEST,J60/2,J300/3", /* Julian days, Feb 29 never counted */
        "CET-1CEST,59/2,299/3",   /* zero-based days, Feb 29 counted */
        "NZST-12NZDT,M9.5.0,M4.1.0/3",
        "AAA3BBB,M3.2.0/-3:30,M11.1.0/27:15:30",
        "<-03>3",
    };
    for (size_t i = 0; i < BP_COUNTOF(SPECS); i++) {
        bp_tz *tz;
        cr_assert_eq(bp_tz_posix_new(SPECS[i], &tz), 0, "%s", SPECS[i]);
        oracle_zone(SPECS[i]);
        size_t checked = 0;
        compare_range(SPECS[i], tz, utc(1999, 1, 1, 0, 0), utc(2031, 1, 1, 0, 0), 60013, &checked);
        bp_tz_free(tz);
    }
    /* Daylight time all year (RFC 8536 section 3.3.1): glibc decides by the
     * UTC year and shows standard time in the first hours of January 1;
     * tzcode and this code do not. */
    bp_tz *a, *b;
    cr_assert_eq(bp_tz_posix_new("EST5EDT4,0/0,J365/25", &a), 0);
    for (int64_t t = utc(1999, 1, 1, 0, 0); t < utc(2031, 1, 1, 0, 0); t += 3 * HOUR + 7)
        cr_assert_eq(bp_tz_offset(a, t), -4 * HOUR, "at %lld", (long long)t);
    bp_tz_free(a);
    /* Without dates the US rules apply (glibc would take the history of its
     * posixrules file instead). */
    cr_assert_eq(bp_tz_posix_new("ABC5DEF", &a), 0);
    cr_assert_eq(bp_tz_posix_new("ABC5DEF,M3.2.0,M11.1.0", &b), 0);
    for (int64_t t = utc(1999, 1, 1, 0, 0); t < utc(2031, 1, 1, 0, 0); t += 3 * HOUR + 7)
        cr_assert_eq(bp_tz_offset(a, t), bp_tz_offset(b, t));
    bp_tz_free(a);
    bp_tz_free(b);

    static const char *const BAD[] = {
        "",
        "E5",
        "EST",
        "EST5EDT,M13.1.0,M11.1.0",
        "EST5EDT,M3.6.0,M11.1.0",
        "EST5EDT,M3.2.7,M11.1.0",
        "EST5EDT,J0,J365",
        "EST5EDT,366,0",
        "EST5EDT,M3.2.0",
        "EST25",
        "EST5EDT,M3.2.0/168,M11.1.0",
        "<-03",
        "EST5 x",
    };
    for (size_t i = 0; i < BP_COUNTOF(BAD); i++) {
        bp_tz *tz = NULL;
        cr_assert_eq(bp_tz_posix_new(BAD[i], &tz), BP_EINVAL, "%s", BAD[i]);
    }
}

/* ---- explicit DST cases ------------------------------------------------- */

static const struct {
    const char *zone;
    int y, mo, d, h, mi; /* local wall time */
    int rv;              /* of bp_tz_local_to_utc */
    int64_t want;        /* the instant, when rv == 0 */
} WALL_TIMES[] = {
    /* New York springs forward at 02:00 EST to 03:00 EDT. */
    {"America/New_York", 2026, 3, 8, 1, 59, 0, 1772953140},
    {"America/New_York", 2026, 3, 8, 2, 0, BP_ENOTFOUND, 0},
    {"America/New_York", 2026, 3, 8, 2, 30, BP_ENOTFOUND, 0},
    {"America/New_York", 2026, 3, 8, 3, 0, 0, 1772953200},
    /* and falls back at 02:00 EDT to 01:00 EST: 01:30 happens twice. */
    {"America/New_York", 2026, 11, 1, 1, 30, 0, 1793511000}, /* 05:30Z, EDT */
    {"America/New_York", 2026, 11, 1, 2, 0, 0, 1793516400},  /* 07:00Z, EST */
    {"America/Argentina/Buenos_Aires", 2026, 12, 4, 15, 30, 0, 1796409000},
    /* Buenos Aires last had summer time in 2008-09: 2008-10-19 00:00 was
     * skipped, and 2009-03-14 23:00-23:59 happened twice. */
    {"America/Argentina/Buenos_Aires", 2008, 10, 19, 0, 30, BP_ENOTFOUND, 0},
    {"America/Argentina/Buenos_Aires", 2009, 3, 14, 23, 30, 0, 1237080600},
    {"Asia/Kolkata", 2026, 1, 1, 0, 0, 0, 1767205800},
    {"UTC", 2026, 1, 1, 0, 0, 0, 1767225600},
};

Test(tz, gaps_are_not_found_and_repeats_take_the_earlier_instant)
{
    for (size_t i = 0; i < BP_COUNTOF(WALL_TIMES); i++) {
        const bp_tz *tz;
        cr_assert_eq(bp_tz_load(WALL_TIMES[i].zone, &tz), 0);
        int64_t local = utc(WALL_TIMES[i].y, WALL_TIMES[i].mo, WALL_TIMES[i].d, WALL_TIMES[i].h,
                            WALL_TIMES[i].mi);
        int64_t got = -1;
        int rv = bp_tz_local_to_utc(tz, local, &got);
        cr_assert_eq(rv, WALL_TIMES[i].rv, "case %zu", i);
        if (rv == 0)
            cr_assert_eq(got, WALL_TIMES[i].want, "case %zu: %lld", i, (long long)got);
    }
}

/* Santiago changes at 24:00 on a Saturday; the 2026 dates come from the zone
 * data through glibc, not from memory. */
Test(tz, santiago_2026_changes_found_by_the_oracle)
{
    const bp_tz *tz;
    cr_assert_eq(bp_tz_load("America/Santiago", &tz), 0);
    oracle_zone("America/Santiago");
    transition tr[8];
    size_t n = oracle_transitions(utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0), tr, 8);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        int64_t got;
        if (tr[i].after < tr[i].before) {
            /* Back: the wall clock shows the hour before again; the first
             * minute of the repeat means the instant an hour before the
             * change. */
            int64_t local = tr[i].at + tr[i].after;
            cr_assert_eq(bp_tz_local_to_utc(tz, local, &got), 0);
            cr_assert_eq(got, local - tr[i].before);
            cr_assert_eq(got, tr[i].at - HOUR);
            /* The change happens at local midnight of a Sunday, DST time. */
            cr_assert_eq((tr[i].at + tr[i].before) % DAY, 0);
            cr_assert_eq(bp_iso_weekday((int32_t)((tr[i].at + tr[i].before) / DAY)), 7);
        } else {
            /* Forward: 00:00 to 00:59 of that Sunday do not exist. */
            int64_t local = tr[i].at + tr[i].before;
            cr_assert_eq(local % DAY, 0);
            cr_assert_eq(bp_iso_weekday((int32_t)(local / DAY)), 7);
            cr_assert_eq(bp_tz_local_to_utc(tz, local, &got), BP_ENOTFOUND);
            cr_assert_eq(bp_tz_local_to_utc(tz, local + 59 * 60, &got), BP_ENOTFOUND);
            cr_assert_eq(bp_tz_local_to_utc(tz, local + HOUR, &got), 0);
            cr_assert_eq(got, tr[i].at);
            cr_assert_eq(bp_tz_local_to_utc_end(tz, local + 30 * 60, &got), 0);
            cr_assert_eq(got, tr[i].at);
        }
    }
    /* What the oracle found, in words: back on 2026-04-05 00:00, forward on
     * 2026-09-06 00:00. */
    cr_assert_eq(tr[0].at, utc(2026, 4, 5, 3, 0));
    cr_assert_eq(tr[1].at, utc(2026, 9, 6, 4, 0));
}

/* ---- names and the cache ------------------------------------------------ */

Test(tz, names_are_validated_strictly)
{
    char long_name[201];
    memset(long_name, 'A', 200);
    long_name[200] = '\0';
    const char *const BAD[] = {
        "../etc/passwd",    "/etc/passwd",    "Mars/Olympus",      "",
        long_name,          "America/../UTC", "America//New_York", "America/New_York/",
        "America/New York", "zone.tab",       "America",           "leapseconds",
        "right/UTC",        "UTC\n",          "Europe/London;",    "~/UTC",
    };
    for (size_t i = 0; i < BP_COUNTOF(BAD); i++) {
        const bp_tz *tz = NULL;
        cr_assert_eq(bp_tz_load(BAD[i], &tz), BP_EINVAL, "%s", BAD[i]);
        cr_assert_null(tz);
    }
    const bp_tz *tz;
    cr_assert_eq(bp_tz_load(NULL, &tz), BP_EINVAL);
    const char *const GOOD[] = {"UTC", "Etc/GMT+3", "America/Port-au-Prince",
                                "America/Argentina/Buenos_Aires", "EST5EDT"};
    for (size_t i = 0; i < BP_COUNTOF(GOOD); i++) {
        cr_assert_eq(bp_tz_load(GOOD[i], &tz), 0, "%s", GOOD[i]);
        cr_assert_str_eq(bp_tz_name(tz), GOOD[i]);
    }
    cr_assert_eq(bp_tz_load("Etc/GMT+3", &tz), 0);
    cr_assert_eq(bp_tz_offset(tz, 0), -3 * HOUR); /* POSIX sign: GMT+3 is west */
}

Test(tz, cache_returns_the_same_zone)
{
    const bp_tz *a, *b;
    cr_assert_eq(bp_tz_load("Europe/London", &a), 0);
    cr_assert_eq(bp_tz_load("Europe/London", &b), 0);
    cr_assert_eq(a, b);
    bp_tz_cache_free();
    cr_assert_eq(bp_tz_load("Europe/London", &b), 0);
    cr_assert_str_eq(bp_tz_name(b), "Europe/London");
    bp_tz_cache_free();
}

static void *load_and_convert(void *arg)
{
    static const char *const ZONES[] = {"America/New_York", "America/Santiago", "Asia/Kolkata",
                                        "Australia/Lord_Howe"};
    size_t k = (size_t)(uintptr_t)arg;
    for (int i = 0; i < 2000; i++) {
        const bp_tz *tz;
        if (bp_tz_load(ZONES[(k + (size_t)i) % 4], &tz) != 0)
            return (void *)1;
        int64_t t = utc(2026, 1, 1, 0, 0) + (int64_t)i * 7919;
        int64_t back;
        if (bp_tz_local_to_utc(tz, t + bp_tz_offset(tz, t), &back) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(tz, loads_from_many_threads_at_once)
{
    pthread_t th[8];
    for (size_t i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, load_and_convert, (void *)(uintptr_t)i), 0);
    for (size_t i = 0; i < 8; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res);
    }
}

/* ---- calendar ------------------------------------------------------------ */

static const struct {
    int y, m, d;
    int32_t days;
    int weekday;
} DATES[] = {
    {1970, 1, 1, 0, 4},         {1969, 12, 31, -1, 3},   {2000, 2, 29, 11016, 2},
    {2000, 3, 1, 11017, 3},     {2026, 12, 4, 20791, 5}, {2026, 3, 8, 20520, 7},
    {1900, 3, 1, -25508, 4},    {2100, 2, 28, 47540, 7}, {2100, 3, 1, 47541, 1},
    {9999, 12, 31, 2932896, 5}, {1, 1, 1, -719162, 1},   {2024, 12, 30, 20087, 1},
};

Test(calendar, known_dates_and_weekdays)
{
    for (size_t i = 0; i < BP_COUNTOF(DATES); i++) {
        cr_assert_eq(bp_days_from_civil(DATES[i].y, DATES[i].m, DATES[i].d), DATES[i].days,
                     "%d-%d-%d", DATES[i].y, DATES[i].m, DATES[i].d);
        int y, m, d;
        bp_civil_from_days(DATES[i].days, &y, &m, &d);
        cr_assert(y == DATES[i].y && m == DATES[i].m && d == DATES[i].d);
        cr_assert_eq(bp_iso_weekday(DATES[i].days), DATES[i].weekday, "%d", DATES[i].days);
    }
}

Test(calendar, every_day_round_trips_and_matches_gmtime)
{
    for (int32_t days = -800000; days <= 3000000; days++) {
        int y, m, d;
        bp_civil_from_days(days, &y, &m, &d);
        cr_assert_eq(bp_days_from_civil(y, m, d), days);
        if (days % 97 == 0) {
            time_t t = (time_t)days * DAY;
            struct tm tm;
            gmtime_r(&t, &tm);
            cr_assert(tm.tm_year + 1900 == y && tm.tm_mon + 1 == m && tm.tm_mday == d);
            cr_assert_eq(bp_iso_weekday(days), tm.tm_wday == 0 ? 7 : tm.tm_wday);
        }
    }
}

Test(calendar, dates_parse_strictly_and_format)
{
    static const struct {
        const char *s;
        int32_t days;
    } OK[] = {
        {"1970-01-01", 0}, {"2026-12-04", 20791}, {"2024-02-29", 19782}, {"9999-12-31", 2932896}};
    for (size_t i = 0; i < BP_COUNTOF(OK); i++) {
        int32_t days = -7;
        cr_assert_eq(bp_date_parse(OK[i].s, &days), 0, "%s", OK[i].s);
        cr_assert_eq(days, OK[i].days, "%s", OK[i].s);
        char out[11];
        cr_assert_eq(bp_date_format(days, out), 0);
        cr_assert_str_eq(out, OK[i].s);
    }
    static const char *const BAD[] = {
        "",           "2026-02-30", "2025-02-29",  "2100-02-29", "1969-12-31",  "2026-13-01",
        "2026-00-10", "2026-04-31", "2026-4-01",   "2026/04/01", "2026-04-01 ", " 2026-04-01",
        "20260401",   "2026-04-0a", "12026-04-01", "+026-04-01", "2026-04-00",
    };
    for (size_t i = 0; i < BP_COUNTOF(BAD); i++) {
        int32_t days = -7;
        cr_assert_eq(bp_date_parse(BAD[i], &days), BP_EINVAL, "%s", BAD[i]);
        cr_assert_eq(days, -7);
    }
    cr_assert_eq(bp_date_parse(NULL, NULL), BP_EINVAL);
    char out[11];
    cr_assert_eq(bp_date_format(bp_days_from_civil(10000, 1, 1), out), BP_EINVAL);
    cr_assert_str_eq(out, "");
}

/* ---- RFC 3339 ------------------------------------------------------------ */

static const struct {
    const char *s;
    int64_t ms;
} TIMES_OK[] = {
    {"2026-12-04T15:30:00-03:00", 1796409000000LL},
    {"2026-12-04T18:30:00Z", 1796409000000LL},
    {"2026-12-04t18:30:00z", 1796409000000LL},
    {"2026-12-04T18:30:00+00:00", 1796409000000LL},
    {"2026-12-04T18:30:00-00:00", 1796409000000LL},
    {"2026-12-05T00:00:00+05:30", 1796409000000LL},
    {"2026-12-04T18:30:00.5Z", 1796409000500LL},
    {"2026-12-04T18:30:00.123Z", 1796409000123LL},
    {"2026-12-04T18:30:00.123456789Z", 1796409000123LL},
    {"2026-12-04T18:30:00.999999999Z", 1796409000999LL},
    {"1970-01-01T00:00:00Z", 0},
    {"1969-12-31T23:59:59.5Z", -500},
    {"2024-02-29T23:59:59+23:59", 1709251199000LL - 86340000LL},
    {"0001-01-01T00:00:00Z", -62135596800000LL},
    {"9999-12-31T23:59:59Z", 253402300799000LL},
};

static const char *const TIMES_BAD[] = {
    "2026-02-30T10:00:00-03:00", /* no such day */
    "2026-12-04T15:30:00",       /* the offset is required */
    "2026-12-04 15:30:00Z",      /* no T */
    "2026-12-04T15:30:00+25:00", /* offset out of range */
    "2026-12-04T15:30:00+24:00",
    "2026-12-04T15:30:00+03:60",
    "2026-12-04T15:30:00+0300",
    "2026-12-04T15:30:00+03",
    "2026-12-04T15:30:00+03:",
    "2026-12-04T15:30:00+",
    "2026-12-04T24:00:00Z",
    "2026-12-04T15:60:00Z",
    "2026-12-31T23:59:60Z", /* leap seconds are refused */
    "2026-12-04T15:30:00.Z",
    "2026-12-04T15:30:00.1234567891Z",
    "2026-12-04T15:30Z",
    "2026-12-04T15:30:00ZZ",
    "2026-12-04T15:30:00Z ",
    " 2026-12-04T15:30:00Z",
    "2026-12-4T15:30:00Z",
    "26-12-04T15:30:00Z",
    "2026-12-04T15:30:00UTC",
    "2026-13-04T15:30:00Z",
    "",
    "now",
};

Test(rfc3339, parse_valid_and_invalid)
{
    for (size_t i = 0; i < BP_COUNTOF(TIMES_OK); i++) {
        int64_t ms = 42;
        cr_assert_eq(bp_time_parse(TIMES_OK[i].s, &ms), 0, "%s", TIMES_OK[i].s);
        cr_assert_eq(ms, TIMES_OK[i].ms, "%s: %lld", TIMES_OK[i].s, (long long)ms);
    }
    for (size_t i = 0; i < BP_COUNTOF(TIMES_BAD); i++) {
        int64_t ms = 42;
        cr_assert_eq(bp_time_parse(TIMES_BAD[i], &ms), BP_EINVAL, "%s", TIMES_BAD[i]);
        cr_assert_eq(ms, 42);
    }
    int64_t ms;
    cr_assert_eq(bp_time_parse(NULL, &ms), BP_EINVAL);
}

Test(rfc3339, format_in_zones)
{
    static const struct {
        int64_t ms;
        const char *zone, *want;
    } CASES[] = {
        {1796409000000LL, "America/Argentina/Buenos_Aires", "2026-12-04T15:30:00-03:00"},
        {1796409000999LL, "America/Argentina/Buenos_Aires", "2026-12-04T15:30:00-03:00"},
        {1796409000000LL, "Asia/Kolkata", "2026-12-05T00:00:00+05:30"},
        {1796409000000LL, "UTC", "2026-12-04T18:30:00+00:00"},
        {1796409000000LL, "Australia/Lord_Howe", "2026-12-05T05:30:00+11:00"},
        {1783189800000LL, "Australia/Lord_Howe", "2026-07-05T05:00:00+10:30"},
        {1793511000000LL, "America/New_York", "2026-11-01T01:30:00-04:00"},
        {1793514600000LL, "America/New_York", "2026-11-01T01:30:00-05:00"},
        {-1, "UTC", "1969-12-31T23:59:59+00:00"},
        {1230000000000LL, "America/Argentina/Buenos_Aires", "2008-12-23T00:40:00-02:00"},
    };
    char out[32];
    for (size_t i = 0; i < BP_COUNTOF(CASES); i++) {
        cr_assert_eq(bp_time_format(CASES[i].ms, CASES[i].zone, out, sizeof out), 0);
        cr_assert_str_eq(out, CASES[i].want, "case %zu", i);
    }
    setenv("TIMEZONE", "Asia/Kolkata", 1);
    cr_assert_eq(bp_time_format(0, NULL, out, sizeof out), 0);
    cr_assert_str_eq(out, "1970-01-01T05:30:00+05:30");
    unsetenv("TIMEZONE");
    cr_assert_eq(bp_time_format(0, "", out, sizeof out), 0);
    cr_assert_str_eq(out, "1969-12-31T21:00:00-03:00");
    cr_assert_eq(bp_time_format(0, "Mars/Olympus", out, sizeof out), BP_EINVAL);
    cr_assert_eq(bp_time_format(0, "UTC", out, 25), BP_EINVAL);
    cr_assert_eq(bp_time_format(0, "UTC", NULL, 32), BP_EINVAL);
}

Test(rfc3339, parse_of_format_is_the_same_instant)
{
    static const char *const ZONES[] = {"America/Argentina/Buenos_Aires",
                                        "America/New_York",
                                        "Asia/Kolkata",
                                        "Australia/Lord_Howe",
                                        "Europe/London",
                                        "America/Santiago"};
    char out[32];
    size_t n = 0;
    for (size_t z = 0; z < BP_COUNTOF(ZONES); z++)
        for (int64_t s = -2000000000LL; s < 4000000000LL; s += 1234567, n++) {
            int64_t back;
            cr_assert_eq(bp_time_format(s * 1000, ZONES[z], out, sizeof out), 0);
            cr_assert_eq(bp_time_parse(out, &back), 0, "%s", out);
            cr_assert_eq(back, s * 1000, "%s in %s", out, ZONES[z]);
        }
    cr_assert_gt(n, 25000);
}
