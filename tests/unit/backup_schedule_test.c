/* Unit tests for services/backup/schedule.c: cron parsing and its reasons,
 * the next run in real zones (Buenos Aires, Madrid, POSIX rules) across DST
 * gaps and repeats, and which backups retention keeps. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../services/backup/schedule.h"
#include "bp.h"
#include "tz.h"

#define MINUTE 60
#define HOUR   3600
#define DAY    86400
#define B(x)   ((uint64_t)1 << (x))

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return (int64_t)bp_days_from_civil(y, mo, d) * DAY + h * HOUR + mi * MINUTE;
}

static const bp_tz *zone(const char *name)
{
    const bp_tz *tz;
    cr_assert_eq(bp_tz_load(name, &tz), 0, "%s", name);
    return tz;
}

static void free_zones(void)
{
    bp_tz_cache_free();
}

static bp_cron parse(const char *expr)
{
    bp_cron c;
    char why[160];
    cr_assert_eq(bp_cron_parse(expr, &c, why, sizeof why), 0, "%s: %s", expr, why);
    return c;
}

/* The next run of expr after from, which must exist. */
static int64_t next_run(const char *expr, const bp_tz *tz, int64_t from)
{
    bp_cron c = parse(expr);
    int64_t at = 0;
    cr_assert_eq(bp_cron_next(&c, tz, from, &at), 0, "%s after %lld", expr, (long long)from);
    return at;
}

/* Asserts the runs of expr after from, in order. */
static void expect_runs(const char *expr, const bp_tz *tz, int64_t from, const int64_t *runs,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t at = next_run(expr, tz, from);
        cr_assert_eq(at, runs[i], "%s: run %zu is %lld, expected %lld", expr, i, (long long)at,
                     (long long)runs[i]);
        from = at;
    }
}

/* ---- parsing ---------------------------------------------------------- */

TestSuite(cron_parse);

typedef struct {
    const char *expr;
    bp_cron want;
} parse_case;

#define ALL_MINUTES (B(60) - 1)
#define ALL_HOURS   ((uint32_t)(B(24) - 1))
#define ALL_MDAYS   ((uint32_t)(B(32) - 2))
#define ALL_MONTHS  ((uint16_t)(B(13) - 2))
#define ALL_WDAYS   ((uint8_t)(B(7) - 1))
#define DAILY       B(0), B(0), ALL_MDAYS, ALL_MONTHS, ALL_WDAYS, true, true

Test(cron_parse, accepts_what_the_header_promises)
{
    static const parse_case cases[] = {
        {"* * * * *", {ALL_MINUTES, ALL_HOURS, ALL_MDAYS, ALL_MONTHS, ALL_WDAYS, true, true}},
        {"0 2 * * *", {B(0), B(2), ALL_MDAYS, ALL_MONTHS, ALL_WDAYS, true, true}},
        {"*/15 9-17/4 1,15 jan-mar mon-fri",
         {B(0) | B(15) | B(30) | B(45), B(9) | B(13) | B(17), B(1) | B(15), B(1) | B(2) | B(3),
          0x3e, false, false}},
        {"0 0 * * 7", {B(0), B(0), ALL_MDAYS, ALL_MONTHS, B(0), true, false}},
        {"0 0 * * 0", {B(0), B(0), ALL_MDAYS, ALL_MONTHS, B(0), true, false}},
        {"0 0 * * SUN,Sat", {B(0), B(0), ALL_MDAYS, ALL_MONTHS, B(0) | B(6), true, false}},
        {"0 0 * * fri-sun", {B(0), B(0), ALL_MDAYS, ALL_MONTHS, B(5) | B(6) | B(0), true, false}},
        {"0 0 * * 5-7", {B(0), B(0), ALL_MDAYS, ALL_MONTHS, B(5) | B(6) | B(0), true, false}},
        {"5 4 * DEC,Jul */2",
         {B(5), B(4), ALL_MDAYS, B(12) | B(7), B(0) | B(2) | B(4) | B(6), true, true}},
        {"  5\t4 *  * *  \n", {B(5), B(4), ALL_MDAYS, ALL_MONTHS, ALL_WDAYS, true, true}},
        {"05 02 * * *", {B(5), B(2), ALL_MDAYS, ALL_MONTHS, ALL_WDAYS, true, true}},
        {"0-59/30 0-23/12 1-31/10 */6 1-5/2",
         {B(0) | B(30), B(0) | B(12), B(1) | B(11) | B(21) | B(31), B(1) | B(7), B(1) | B(3) | B(5),
          false, false}},
        {"59 23 31 12 6", {B(59), B(23), B(31), B(12), B(6), false, false}},
        {"1,2-4,*/20 * */2 * *",
         {B(0) | B(1) | B(2) | B(3) | B(4) | B(20) | B(40), ALL_HOURS, 0xaaaaaaaa, ALL_MONTHS,
          ALL_WDAYS, true, true}},
        {"@daily", {DAILY}},
        {"@midnight", {DAILY}},
        {" @DAILY ", {DAILY}},
        {"@hourly", {B(0), ALL_HOURS, ALL_MDAYS, ALL_MONTHS, ALL_WDAYS, true, true}},
        {"@weekly", {B(0), B(0), ALL_MDAYS, ALL_MONTHS, B(0), true, false}},
        {"@monthly", {B(0), B(0), B(1), ALL_MONTHS, ALL_WDAYS, false, true}},
        {"@yearly", {B(0), B(0), B(1), B(1), ALL_WDAYS, false, true}},
        {"@annually", {B(0), B(0), B(1), B(1), ALL_WDAYS, false, true}},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        const bp_cron *w = &cases[i].want;
        bp_cron c = parse(cases[i].expr);
        cr_expect_eq(c.minute, w->minute, "%s: minute %#llx", cases[i].expr,
                     (unsigned long long)c.minute);
        cr_expect_eq(c.hour, w->hour, "%s: hour %#x", cases[i].expr, (unsigned)c.hour);
        cr_expect_eq(c.mday, w->mday, "%s: mday %#x", cases[i].expr, (unsigned)c.mday);
        cr_expect_eq(c.month, w->month, "%s: month %#x", cases[i].expr, (unsigned)c.month);
        cr_expect_eq(c.wday, w->wday, "%s: wday %#x", cases[i].expr, (unsigned)c.wday);
        cr_expect_eq(c.mday_star, w->mday_star, "%s: mday_star", cases[i].expr);
        cr_expect_eq(c.wday_star, w->wday_star, "%s: wday_star", cases[i].expr);
    }
}

typedef struct {
    const char *expr, *reason;
} refusal;

Test(cron_parse, refuses_with_a_reason_naming_the_field)
{
    static const refusal cases[] = {
        {"0 24 * * *", "hour: 24 is out of range 0-23"},
        {"60 * * * *", "minute: 60 is out of range 0-59"},
        {"0 0 0 * *", "day-of-month: 0 is out of range 1-31"},
        {"0 0 32 * *", "day-of-month: 32 is out of range 1-31"},
        {"0 0 * 0 *", "month: 0 is out of range 1-12"},
        {"0 0 * 13 *", "month: 13 is out of range 1-12"},
        {"0 0 * * 8", "day-of-week: 8 is out of range 0-7"},
        {"0 0-24 * * *", "hour: 24 is out of range 0-23"},
        {"99999999999999999999 * * * *", "minute: 99999999999999999999 is out of range 0-59"},
        {"0 0 * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
        {"0 0 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 6"},
        {"", "expected 5 fields (minute hour day-of-month month day-of-week), got 0"},
        {" \t ", "expected 5 fields (minute hour day-of-month month day-of-week), got 0"},
        {"1,,2 * * * *", "minute: empty item in list"},
        {",1 * * * *", "minute: empty item in list"},
        {"0 0 * * 1,", "day-of-week: empty item in list"},
        {"*/0 * * * *", "minute: step 0 is out of range 1-60"},
        {"* */25 * * *", "hour: step 25 is out of range 1-24"},
        {"* */ * * *", "hour: a step is missing after /"},
        {"* */x * * *", "hour: unexpected 'x'"},
        {"5-2 * * * *", "minute: range 5-2 runs backwards"},
        {"0 0 * dec-jan *", "month: range 12-1 runs backwards"},
        {"a * * * *", "minute: 'a' is not a number"},
        {"0 jan * * *", "hour: 'jan' is not a number"},
        {"0 0 * foo *", "month: unknown name 'foo'"},
        {"0 0 * * mo", "day-of-week: unknown name 'mo'"},
        {"0 0 * * monday", "day-of-week: unknown name 'monday'"},
        {"0/5 * * * *", "minute: a step needs * or a range before it (0-59/5, not 0/5)"},
        {"1-2-3 * * * *", "minute: unexpected '-'"},
        {"-1 * * * *", "minute: unexpected '-'"},
        {"1- * * * *", "minute: a value is missing"},
        {"** * * * *", "minute: unexpected '*'"},
        {"0 0 * * 1;2", "day-of-week: unexpected ';'"},
        {"0 0 1 * *x", "day-of-week: unexpected 'x'"},
        {"0 0 \x01 * *", "day-of-month: unexpected byte 0x01"},
        {"0 0 1.5 * *", "day-of-month: unexpected '.'"},
        {"@daily 0", "@daily takes no fields after it"},
        {"@reboot", "unknown macro '@reboot' (@yearly, @annually, @monthly, @weekly, @daily, "
                    "@midnight, @hourly)"},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        bp_cron c;
        memset(&c, 0xab, sizeof c);
        bp_cron before = c;
        char why[160] = "untouched";
        cr_expect_eq(bp_cron_parse(cases[i].expr, &c, why, sizeof why), BP_EINVAL, "%s",
                     cases[i].expr);
        cr_expect_str_eq(why, cases[i].reason, "%s", cases[i].expr);
        cr_expect_eq(memcmp(&c, &before, sizeof c), 0, "%s: out was written", cases[i].expr);
        /* The reason is optional. */
        cr_expect_eq(bp_cron_parse(cases[i].expr, &c, NULL, 0), BP_EINVAL, "%s", cases[i].expr);
    }
}

Test(cron_parse, refuses_a_long_or_missing_expression_and_truncates_reasons)
{
    char lng[300];
    memset(lng, '1', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    bp_cron c;
    char why[160];
    cr_assert_eq(bp_cron_parse(lng, &c, why, sizeof why), BP_EINVAL);
    cr_assert_str_eq(why, "expression is longer than 255 characters");
    cr_assert_eq(bp_cron_parse(NULL, &c, why, sizeof why), BP_EINVAL);
    cr_assert_str_eq(why, "no expression");

    char small[8];
    cr_assert_eq(bp_cron_parse("0 24 * * *", &c, small, sizeof small), BP_EINVAL);
    cr_assert_str_eq(small, "hour: 2");

    /* Success leaves an empty reason. */
    cr_assert_eq(bp_cron_parse("0 2 * * *", &c, why, sizeof why), 0);
    cr_assert_str_eq(why, "");
}

/* ---- the next run ----------------------------------------------------- */

TestSuite(cron_next, .fini = free_zones);

Test(cron_next, two_in_the_morning_in_buenos_aires_is_five_utc)
{
    const bp_tz *ba = zone("America/Argentina/Buenos_Aires");
    cr_assert_eq(next_run("0 2 * * *", ba, utc(2026, 6, 10, 0, 0)), utc(2026, 6, 10, 5, 0));
    cr_assert_eq(next_run("0 2 * * *", ba, utc(2026, 6, 10, 5, 0) - 1), utc(2026, 6, 10, 5, 0));
    /* Strictly after: at exactly 02:00 local the next run is tomorrow's. */
    cr_assert_eq(next_run("0 2 * * *", ba, utc(2026, 6, 10, 5, 0)), utc(2026, 6, 11, 5, 0));
    cr_assert_eq(next_run("0 2 * * *", ba, utc(2026, 6, 10, 5, 0) + 30), utc(2026, 6, 11, 5, 0));
    /* Across the end of a month and of a year. */
    cr_assert_eq(next_run("0 2 * * *", ba, utc(2026, 12, 31, 6, 0)), utc(2027, 1, 1, 5, 0));
}

Test(cron_next, steps_lists_ranges_and_names)
{
    const bp_tz *ba = zone("America/Argentina/Buenos_Aires");
    const bp_tz *utc0 = zone("UTC");

    const int64_t quarter[] = {utc(2026, 6, 10, 10, 15), utc(2026, 6, 10, 10, 30),
                               utc(2026, 6, 10, 10, 45), utc(2026, 6, 10, 11, 0)};
    expect_runs("*/15 * * * *", ba, utc(2026, 6, 10, 10, 7), quarter, BP_COUNTOF(quarter));

    /* 09, 13 and 17 local are 12, 16 and 20 UTC. */
    const int64_t office[] = {utc(2026, 6, 10, 12, 0), utc(2026, 6, 10, 16, 0),
                              utc(2026, 6, 10, 20, 0), utc(2026, 6, 11, 12, 0)};
    expect_runs("0 9-17/4 * * *", ba, utc(2026, 6, 10, 3, 0), office, BP_COUNTOF(office));

    const int64_t listed[] = {utc(2026, 6, 10, 3, 5), utc(2026, 6, 10, 3, 10),
                              utc(2026, 6, 10, 3, 40), utc(2026, 6, 10, 4, 5)};
    expect_runs("5,10,40-40 * * * *", utc0, utc(2026, 6, 10, 3, 0), listed, BP_COUNTOF(listed));

    /* Mondays of January and July: the first Monday of July 2026 is the 6th. */
    const int64_t named[] = {utc(2026, 7, 6, 8, 30), utc(2026, 7, 13, 8, 30),
                             utc(2026, 7, 20, 8, 30), utc(2026, 7, 27, 8, 30),
                             utc(2027, 1, 4, 8, 30)};
    expect_runs("30 8 * JUL,jan Mon", utc0, utc(2026, 6, 15, 0, 0), named, BP_COUNTOF(named));

    /* Weekday 7 is Sunday: 2026-06-14 is one. */
    cr_assert_eq(next_run("0 12 * * 7", utc0, utc(2026, 6, 10, 0, 0)), utc(2026, 6, 14, 12, 0));
    cr_assert_eq(next_run("@weekly", utc0, utc(2026, 6, 10, 0, 0)), utc(2026, 6, 14, 0, 0));
    cr_assert_eq(next_run("@monthly", ba, utc(2026, 6, 10, 0, 0)), utc(2026, 7, 1, 3, 0));
    cr_assert_eq(next_run("@yearly", ba, utc(2026, 6, 10, 0, 0)), utc(2027, 1, 1, 3, 0));
}

Test(cron_next, day_of_month_or_day_of_week_as_vixie_cron)
{
    const bp_tz *utc0 = zone("UTC");
    /* Both restricted: the 13th or a Monday (February 2026: Mondays 2, 9, 16, 23). */
    const int64_t either[] = {utc(2026, 2, 2, 0, 0),  utc(2026, 2, 9, 0, 0),
                              utc(2026, 2, 13, 0, 0), utc(2026, 2, 16, 0, 0),
                              utc(2026, 2, 23, 0, 0), utc(2026, 3, 2, 0, 0)};
    expect_runs("0 0 13 * mon", utc0, utc(2026, 2, 1, 0, 0), either, BP_COUNTOF(either));

    /* A day-of-month starting with '*' counts as unrestricted: odd days that
     * are Mondays (January 2026: Mondays 5, 12, 19, 26; February: 2, 9, ...). */
    const int64_t both[] = {utc(2026, 1, 5, 0, 0), utc(2026, 1, 19, 0, 0), utc(2026, 2, 9, 0, 0)};
    expect_runs("0 0 */2 * mon", utc0, utc(2026, 1, 1, 0, 0), both, BP_COUNTOF(both));

    /* One restricted: only it decides. */
    cr_assert_eq(next_run("0 0 13 * *", utc0, utc(2026, 2, 1, 0, 0)), utc(2026, 2, 13, 0, 0));
    cr_assert_eq(next_run("0 0 * * fri", utc0, utc(2026, 2, 1, 0, 0)), utc(2026, 2, 6, 0, 0));
}

Test(cron_next, february_29_and_days_that_never_come)
{
    const bp_tz *ba = zone("America/Argentina/Buenos_Aires");
    bp_cron c = parse("0 0 29 2 *");
    int64_t at;
    cr_assert_eq(bp_cron_next(&c, ba, utc(2026, 3, 1, 0, 0), &at), 0);
    cr_assert_eq(at, utc(2028, 2, 29, 3, 0));
    cr_assert_eq(bp_cron_next(&c, ba, at, &at), 0);
    cr_assert_eq(at, utc(2032, 2, 29, 3, 0));
    /* 2100 is no leap year: the next Feb 29 after 2096 is more than 5 years out. */
    cr_assert_eq(bp_cron_next(&c, ba, utc(2096, 3, 1, 0, 0), &at), BP_ENOTFOUND);

    static const char *const never[] = {"0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"};
    for (size_t i = 0; i < BP_COUNTOF(never); i++) {
        bp_cron n = parse(never[i]);
        at = 42;
        cr_expect_eq(bp_cron_next(&n, ba, utc(2026, 6, 10, 0, 0), &at), BP_ENOTFOUND, "%s",
                     never[i]);
        cr_expect_eq(at, 42, "%s: *next was written", never[i]);
    }
}

Test(cron_next, skips_days_instead_of_walking_minutes)
{
    const bp_tz *ba = zone("America/Argentina/Buenos_Aires");
    bp_cron c = parse("* * 31 2 *");
    int64_t at, start = bp_mono_ms();
    for (int i = 0; i < 500; i++)
        cr_assert_eq(bp_cron_next(&c, ba, utc(2026, 1, 1, 0, 0) + i * DAY, &at), BP_ENOTFOUND);
    /* Walking 5 years minute by minute would take seconds for each call. */
    cr_assert_lt(bp_mono_ms() - start, 2000);
}

Test(cron_next, refuses_missing_arguments)
{
    const bp_tz *ba = zone("America/Argentina/Buenos_Aires");
    bp_cron c = parse("0 2 * * *");
    int64_t at;
    cr_assert_eq(bp_cron_next(NULL, ba, 0, &at), BP_EINVAL);
    cr_assert_eq(bp_cron_next(&c, NULL, 0, &at), BP_EINVAL);
    cr_assert_eq(bp_cron_next(&c, ba, 0, NULL), BP_EINVAL);
    cr_assert_eq(bp_cron_next(&c, ba, INT64_MAX, &at), BP_EINVAL);
}

/* Madrid, 2026: clocks jump from 02:00 CET to 03:00 CEST on 29 March at
 * 01:00 UTC, and go back from 03:00 CEST to 02:00 CET on 25 October at 01:00
 * UTC, so 02:30 is skipped in spring and happens twice in autumn. */
Test(cron_next, a_skipped_wall_time_runs_once_at_the_jump)
{
    const bp_tz *madrid = zone("Europe/Madrid");
    const int64_t spring[] = {utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0),
                              utc(2026, 3, 30, 0, 30)};
    expect_runs("30 2 * * *", madrid, utc(2026, 3, 27, 12, 0), spring, BP_COUNTOF(spring));

    /* 02:00 and 02:30 are skipped and 03:00 is the jump itself: one run. */
    const int64_t halves[] = {utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 0),
                              utc(2026, 3, 29, 1, 30)};
    expect_runs("*/30 * * * *", madrid, utc(2026, 3, 29, 0, 15), halves, BP_COUNTOF(halves));
}

Test(cron_next, a_repeated_wall_time_runs_once_the_first_time)
{
    const bp_tz *madrid = zone("Europe/Madrid");
    const int64_t autumn[] = {utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30),
                              utc(2026, 10, 26, 1, 30)};
    expect_runs("30 2 * * *", madrid, utc(2026, 10, 23, 12, 0), autumn, BP_COUNTOF(autumn));
    /* Asked from inside the repeated hour, before its second 02:30. */
    cr_assert_eq(next_run("30 2 * * *", madrid, utc(2026, 10, 25, 1, 0)), utc(2026, 10, 26, 1, 30));
    /* Hourly: 02:00 runs the first time only, then 03:00 CET. */
    const int64_t hourly[] = {utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 2, 0)};
    expect_runs("0 * * * *", madrid, utc(2026, 10, 24, 23, 30), hourly, BP_COUNTOF(hourly));
}

Test(cron_next, dst_with_a_posix_rule)
{
    bp_tz *ny;
    cr_assert_eq(bp_tz_posix_new("EST5EDT,M3.2.0,M11.1.0", &ny), 0);
    /* 2026-03-08 02:00 EST jumps to 03:00 EDT at 07:00 UTC. */
    cr_expect_eq(next_run("30 2 * * *", ny, utc(2026, 3, 7, 12, 0)), utc(2026, 3, 8, 7, 0));
    cr_expect_eq(next_run("30 2 * * *", ny, utc(2026, 3, 8, 7, 0)), utc(2026, 3, 9, 6, 30));
    /* 2026-11-01 02:00 EDT goes back to 01:00 EST at 06:00 UTC. */
    cr_expect_eq(next_run("30 1 * * *", ny, utc(2026, 10, 31, 12, 0)), utc(2026, 11, 1, 5, 30));
    cr_expect_eq(next_run("30 1 * * *", ny, utc(2026, 11, 1, 5, 30)), utc(2026, 11, 2, 6, 30));
    bp_tz_free(ny);

    /* Midnight skipped: 2026-10-04 00:00 -03 jumps to 01:00 -02 at 03:00 UTC. */
    bp_tz *br;
    cr_assert_eq(bp_tz_posix_new("<-03>3<-02>,M10.1.0/0,M3.3.0/0", &br), 0);
    cr_expect_eq(next_run("0 0 * * *", br, utc(2026, 10, 3, 12, 0)), utc(2026, 10, 4, 3, 0));
    cr_expect_eq(next_run("0 0 * * *", br, utc(2026, 10, 4, 3, 0)), utc(2026, 10, 5, 2, 0));
    bp_tz_free(br);
}

/* ---- retention -------------------------------------------------------- */

TestSuite(retention, .fini = free_zones);

static const int64_t NOW = 1781092800; /* 2026-06-10T12:00:00Z */

static bool kept(const bp_retained *b, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(b[i].id, id) == 0)
            return b[i].keep;
    cr_assert_fail("no backup %s", id);
    return false;
}

Test(retention, keeps_recent_and_prunes_old)
{
    cr_assert_eq(NOW, utc(2026, 6, 10, 12, 0));
    bp_retained b[] = {
        {"day1", NOW - 1 * DAY, true, false},  {"day10", NOW - 10 * DAY, true, true},
        {"day3", NOW - 3 * DAY, false, false}, {"day8", NOW - 8 * DAY, true, true},
        {"day7", NOW - 7 * DAY, true, false},  {"day7+1s", NOW - 7 * DAY - 1, true, true},
        {"future", NOW + HOUR, true, false},
    };
    cr_assert_eq(bp_retention_mark(b, BP_COUNTOF(b), NOW, 7 * DAY), 3);
    cr_assert(kept(b, BP_COUNTOF(b), "day1"));
    cr_assert(kept(b, BP_COUNTOF(b), "day3"), "a recent failed backup is kept by its age");
    cr_assert(kept(b, BP_COUNTOF(b), "day7"), "exactly max_age old is still within it");
    cr_assert(kept(b, BP_COUNTOF(b), "future"));
    cr_assert_not(kept(b, BP_COUNTOF(b), "day7+1s"));
    cr_assert_not(kept(b, BP_COUNTOF(b), "day8"));
    cr_assert_not(kept(b, BP_COUNTOF(b), "day10"));
}

Test(retention, keeps_the_newest_good_one_however_old)
{
    bp_retained b[] = {
        {"old40", NOW - 40 * DAY, true, true},
        {"old20", NOW - 20 * DAY, true, false},
        {"failed10", NOW - 10 * DAY, false, true},
        {"failed30", NOW - 30 * DAY, false, true},
    };
    cr_assert_eq(bp_retention_mark(b, BP_COUNTOF(b), NOW, 7 * DAY), 3);
    cr_assert(kept(b, BP_COUNTOF(b), "old20"));
    cr_assert_not(kept(b, BP_COUNTOF(b), "failed10"), "a failed one is not kept for being newest");
    cr_assert_not(kept(b, BP_COUNTOF(b), "old40"));
    cr_assert_not(kept(b, BP_COUNTOF(b), "failed30"));

    /* The same in the other order. */
    bp_retained r[] = {b[3], b[2], b[1], b[0]};
    cr_assert_eq(bp_retention_mark(r, BP_COUNTOF(r), NOW, 7 * DAY), 3);
    cr_assert(kept(r, BP_COUNTOF(r), "old20"));
}

Test(retention, no_good_backup_means_only_age_counts)
{
    bp_retained b[] = {
        {"failed20", NOW - 20 * DAY, false, true},
        {"failed1", NOW - DAY, false, false},
    };
    cr_assert_eq(bp_retention_mark(b, BP_COUNTOF(b), NOW, 7 * DAY), 1);
    cr_assert(kept(b, BP_COUNTOF(b), "failed1"));
    cr_assert_not(kept(b, BP_COUNTOF(b), "failed20"));
    cr_assert_eq(bp_retention_mark(NULL, 0, NOW, 7 * DAY), 0);
}

Test(retention, equal_start_times_keep_exactly_one)
{
    bp_retained b[] = {
        {"a", NOW - 20 * DAY, true, false},
        {"b", NOW - 20 * DAY, true, false},
    };
    cr_assert_eq(bp_retention_mark(b, BP_COUNTOF(b), NOW, 7 * DAY), 1);
    cr_assert(kept(b, 2, "b"));
    bp_retained r[] = {b[1], b[0]};
    cr_assert_eq(bp_retention_mark(r, BP_COUNTOF(r), NOW, 7 * DAY), 1);
    cr_assert(kept(r, 2, "b"));
}

/* 2026-11-30 23:30 in Buenos Aires is 2026-12-01 02:30 UTC, and 2026-12-01
 * 01:00 local is 04:00 UTC: the months are the local ones. */
Test(retention, first_of_month_in_local_time)
{
    const bp_tz *ba = zone("America/Argentina/Buenos_Aires");
    const int64_t nov30 = utc(2026, 12, 1, 2, 30), dec1 = utc(2026, 12, 1, 4, 0);
    bp_retained b[] = {
        {"nov30", nov30, true, false},
        {"dec1", dec1, true, false},
    };
    cr_assert(bp_retention_first_of_month(b, 2, ba, dec1), "dec1 is December's first");
    cr_assert(bp_retention_first_of_month(b, 2, ba, nov30), "nov30 is November's, not December's");
    /* In UTC both are December's, and nov30 came first. */
    cr_assert_not(bp_retention_first_of_month(b, 2, zone("UTC"), dec1));

    bp_retained with_nov2[] = {b[0], b[1], {"nov2", utc(2026, 11, 2, 5, 0), true, false}};
    cr_assert_not(bp_retention_first_of_month(with_nov2, 3, ba, nov30));
    cr_assert(bp_retention_first_of_month(with_nov2, 3, ba, dec1));
}

Test(retention, first_of_month_counts_only_earlier_good_ones)
{
    const bp_tz *ba = zone("America/Argentina/Buenos_Aires");
    const int64_t dec1 = utc(2026, 12, 1, 4, 0);
    bp_retained failed_first[] = {
        {"failed", utc(2026, 12, 1, 3, 10), false, true},
        {"dec1", dec1, true, false},
    };
    cr_assert(bp_retention_first_of_month(failed_first, 2, ba, dec1));

    bp_retained later[] = {
        {"dec1", dec1, true, false},
        {"dec5", utc(2026, 12, 5, 4, 0), true, false},
    };
    cr_assert_not(bp_retention_first_of_month(later, 2, ba, utc(2026, 12, 5, 4, 0)));

    bp_retained last_year[] = {{"dec2025", utc(2025, 12, 1, 4, 0), true, false}};
    cr_assert(bp_retention_first_of_month(last_year, 1, ba, dec1));
    cr_assert(bp_retention_first_of_month(NULL, 0, ba, dec1));
}
