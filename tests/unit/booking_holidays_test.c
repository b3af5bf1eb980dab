/* The Argentine holidays of 2025-2027 as the booking migrations load them,
 * and the SQL around them (holidays.c) against the real PostgreSQL of the
 * test harness (BP_TEST_DATABASE_URL). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../services/booking/holidays.h"
#include "bp.h"
#include "db.h"

extern const bp_migration booking_migrations[];
extern const size_t booking_migrations_count;

static bp_db *db;

static void setup(void)
{
    const char *url = getenv("BP_TEST_DATABASE_URL");
    cr_assert(url != NULL && *url != '\0', "BP_TEST_DATABASE_URL must point at the test database");
    cr_assert_eq(bp_db_open(url, &db), 0);
    cr_assert_eq(bp_db_migrate(db, "booking", booking_migrations, booking_migrations_count), 0);
}

static void teardown(void)
{
    bp_db_close(db);
}

TestSuite(holidays, .init = setup, .fini = teardown);

/* Days since 1970-01-01 of a YYYY-MM-DD date. */
static int32_t epoch_day(const char *ymd)
{
    struct tm tm = {0};
    cr_assert_not_null(strptime(ymd, "%Y-%m-%d", &tm));
    return (int32_t)(timegm(&tm) / 86400);
}

static void new_shop(char id[37])
{
    char owner[37];
    bp_uuid(id);
    bp_uuid(owner);
    const char *p[] = {id, owner};
    PGresult *r = bp_db_query(db,
                              "INSERT INTO booking.shops (id, owner_id, name, address, city) "
                              "VALUES ($1, $2, 'Barbería de prueba', 'Corrientes 1234', 'CABA')",
                              2, p);
    cr_assert(bp_db_ok(r, NULL));
    PQclear(r);
}

typedef struct {
    const char *day, *kind, *original_day;
} expected_day;

/* What the law, the decrees and the JGM resolutions say (see the header of
 * migrations/booking/0004_holidays.sql), observed dates. */
static const expected_day y2025[] = {
    {"2025-01-01", "inamovible", ""},
    {"2025-03-03", "inamovible", ""},
    {"2025-03-04", "inamovible", ""},
    {"2025-03-24", "inamovible", ""},
    {"2025-04-02", "inamovible", ""},
    {"2025-04-18", "inamovible", ""},
    {"2025-05-01", "inamovible", ""},
    {"2025-05-02", "puente", ""},
    {"2025-05-25", "inamovible", ""},
    {"2025-06-16", "trasladable", "2025-06-17"},
    {"2025-06-20", "inamovible", ""},
    {"2025-07-09", "inamovible", ""},
    {"2025-08-15", "puente", ""},
    {"2025-08-17", "trasladable", ""},
    {"2025-10-10", "trasladable", "2025-10-12"},
    {"2025-11-21", "puente", ""},
    {"2025-11-24", "trasladable", "2025-11-20"},
    {"2025-12-08", "inamovible", ""},
    {"2025-12-25", "inamovible", ""},
};
static const expected_day y2026[] = {
    {"2026-01-01", "inamovible", ""},  {"2026-02-16", "inamovible", ""},
    {"2026-02-17", "inamovible", ""},  {"2026-03-23", "puente", ""},
    {"2026-03-24", "inamovible", ""},  {"2026-04-02", "inamovible", ""},
    {"2026-04-03", "inamovible", ""},  {"2026-05-01", "inamovible", ""},
    {"2026-05-25", "inamovible", ""},  {"2026-06-15", "trasladable", "2026-06-17"},
    {"2026-06-20", "inamovible", ""},  {"2026-07-09", "inamovible", ""},
    {"2026-07-10", "puente", ""},      {"2026-08-17", "trasladable", ""},
    {"2026-10-12", "trasladable", ""}, {"2026-11-23", "trasladable", "2026-11-20"},
    {"2026-12-07", "puente", ""},      {"2026-12-08", "inamovible", ""},
    {"2026-12-25", "inamovible", ""},
};
static const expected_day y2027[] = {
    {"2027-01-01", "inamovible", ""},
    {"2027-02-08", "inamovible", ""},
    {"2027-02-09", "inamovible", ""},
    {"2027-03-24", "inamovible", ""},
    {"2027-03-26", "inamovible", ""},
    {"2027-04-02", "inamovible", ""},
    {"2027-05-01", "inamovible", ""},
    {"2027-05-25", "inamovible", ""},
    {"2027-06-20", "inamovible", ""},
    {"2027-06-21", "trasladable", "2027-06-17"},
    {"2027-07-09", "inamovible", ""},
    {"2027-08-16", "trasladable", "2027-08-17"},
    {"2027-10-11", "trasladable", "2027-10-12"},
    {"2027-11-20", "trasladable", ""},
    {"2027-12-08", "inamovible", ""},
    {"2027-12-25", "inamovible", ""},
};

static void check_year(int year, const expected_day *want, size_t n_want)
{
    booking_holiday got[32];
    size_t n;
    cr_assert_eq(booking_holidays_list(db, year, got, BP_COUNTOF(got), &n), 0);
    cr_assert_eq(n, n_want, "%d has %zu holidays, expected %zu", year, n, n_want);
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(got[i].day, want[i].day, "%d, row %zu", year, i);
        cr_expect_str_eq(got[i].kind, want[i].kind, "%s", want[i].day);
        cr_expect_str_eq(got[i].original_day, want[i].original_day, "%s", want[i].day);
        cr_expect_neq(got[i].name[0], '\0');
        cr_expect_neq(got[i].source[0], '\0');
    }
}

Test(holidays, year_2025_as_decreed)
{
    check_year(2025, y2025, BP_COUNTOF(y2025));
}

Test(holidays, year_2026_as_decreed)
{
    check_year(2026, y2026, BP_COUNTOF(y2026));
}

Test(holidays, year_2027_without_puentes_yet)
{
    check_year(2027, y2027, BP_COUNTOF(y2027));
}

Test(holidays, names_and_sources_say_what_and_why)
{
    booking_holiday got[32];
    size_t n;
    cr_assert_eq(booking_holidays_list(db, 2025, got, BP_COUNTOF(got), &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(got[i].day, "2025-11-21") == 0)
            cr_expect_str_eq(got[i].source, "Decreto 1027/2024");
        if (strcmp(got[i].day, "2025-11-24") == 0)
            cr_expect_str_eq(got[i].name, "Día de la Soberanía Nacional");
        if (strcmp(got[i].day, "2025-04-17") == 0)
            cr_assert_fail("Jueves Santo is optional: shops stay open");
    }
    cr_assert_eq(booking_holidays_list(db, 2026, got, BP_COUNTOF(got), &n), 0);
    cr_assert_str_eq(got[4].day, "2026-03-24");
    cr_assert_str_eq(got[4].name, "Día Nacional de la Memoria por la Verdad y la Justicia");
    cr_assert_str_eq(got[4].kind, "inamovible");
}

Test(holidays, list_refuses_bad_years_and_small_arrays)
{
    booking_holiday got[4];
    size_t n = 99;
    cr_assert_eq(booking_holidays_list(db, 1800, got, BP_COUNTOF(got), &n), BP_EINVAL);
    cr_assert_eq(booking_holidays_list(db, 2025, got, BP_COUNTOF(got), &n), BP_ETOOBIG);
    cr_assert_eq(n, 0);
    cr_assert_eq(booking_holidays_list(db, 1999, got, BP_COUNTOF(got), &n), 0);
    cr_assert_eq(n, 0, "no data before 2025");
}

Test(holidays, closed_days_of_a_month)
{
    int32_t days[16];
    size_t n;
    cr_assert_eq(booking_holidays_closed_days(db, NULL, epoch_day("2025-11-01"),
                                              epoch_day("2025-11-30"), days, 16, &n),
                 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(days[0], epoch_day("2025-11-21"));
    cr_assert_eq(days[1], epoch_day("2025-11-24"));
    cr_assert_eq(booking_holidays_closed_days(db, NULL, epoch_day("2025-11-20"),
                                              epoch_day("2025-11-20"), days, 16, &n),
                 0);
    cr_assert_eq(n, 0, "Soberanía 2025 is observed on the 24th, not the 20th");
    cr_assert_eq(booking_holidays_closed_days(db, NULL, epoch_day("2025-01-01"),
                                              epoch_day("2025-12-31"), days, 16, &n),
                 BP_ETOOBIG);
    cr_assert_eq(booking_holidays_closed_days(db, NULL, 10, 9, days, 16, &n), BP_EINVAL);
    cr_assert_eq(booking_holidays_closed_days(db, "no-uuid", 10, 20, days, 16, &n), BP_EINVAL);
}

Test(holidays, an_open_day_reopens_one_shop_only)
{
    char opened[37], other[37];
    new_shop(opened);
    new_shop(other);
    cr_assert_eq(booking_shop_open_day(db, opened, "2025-05-02", true), 0);
    cr_assert_eq(booking_shop_open_day(db, opened, "2025-05-02", true), 0, "idempotent");

    int32_t days[8];
    size_t n;
    int32_t first = epoch_day("2025-05-01"), last = epoch_day("2025-05-31");
    cr_assert_eq(booking_holidays_closed_days(db, opened, first, last, days, 8, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(days[0], epoch_day("2025-05-01"));
    cr_assert_eq(days[1], epoch_day("2025-05-25"));
    cr_assert_eq(booking_holidays_closed_days(db, other, first, last, days, 8, &n), 0);
    cr_assert_eq(n, 3, "the other shop is still closed on the puente");
    cr_assert_eq(days[1], epoch_day("2025-05-02"));

    cr_assert_eq(booking_shop_open_day(db, opened, "2025-05-02", false), 0);
    cr_assert_eq(booking_holidays_closed_days(db, opened, first, last, days, 8, &n), 0);
    cr_assert_eq(n, 3, "closed again");
    cr_assert_eq(booking_shop_open_day(db, opened, "2025-05-02", false), 0, "idempotent");
}

Test(holidays, open_day_refuses_bad_input)
{
    char shop[37], nobody[37];
    new_shop(shop);
    bp_uuid(nobody);
    cr_assert_eq(booking_shop_open_day(db, nobody, "2025-05-02", true), BP_ENOTFOUND);
    cr_assert_eq(booking_shop_open_day(db, "x", "2025-05-02", true), BP_EINVAL);
    cr_assert_eq(booking_shop_open_day(db, shop, "2025-02-30", true), BP_EINVAL);
    cr_assert_eq(booking_shop_open_day(db, shop, "2/5/2025", true), BP_EINVAL);
}

/* A day no other test or run uses: somewhere in 2090-2098. */
static void spare_day(char out[11])
{
    srand((unsigned)getpid() ^ (unsigned)bp_mono_ms());
    unsigned r = (unsigned)rand();
    snprintf(out, 11, "%04u-%02u-%02u", 2090 + r % 9, 1 + (r / 9) % 12, 1 + (r / 108) % 28);
}

static void drop_day(const char *day)
{
    const char *p[] = {day};
    PQclear(bp_db_query(db, "DELETE FROM booking.holidays WHERE day = $1::date", 1, p));
}

Test(holidays, admins_add_decreed_days)
{
    char day[11], admin[37];
    spare_day(day);
    bp_uuid(admin);
    cr_assert_eq(booking_holidays_add(db, day, NULL, "Día no laborable con fines turísticos",
                                      "puente", "Resolución JGM 1/2090", admin),
                 0);
    cr_assert_eq(booking_holidays_add(db, day, NULL, "Otro", "inamovible", "Ley", NULL),
                 BP_ECONFLICT);
    int year = (int)strtol(day, NULL, 10);
    booking_holiday got[8];
    size_t n;
    cr_assert_eq(booking_holidays_list(db, year, got, BP_COUNTOF(got), &n), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(got[i].day, day) == 0 && strcmp(got[i].kind, "puente") == 0;
    cr_assert(found);
    int32_t days[4];
    cr_assert_eq(
        booking_holidays_closed_days(db, NULL, epoch_day(day), epoch_day(day), days, 4, &n), 0);
    cr_assert_eq(n, 1, "a new puente closes shops");
    drop_day(day);
}

Test(holidays, an_optional_day_closes_nothing)
{
    char day[11];
    spare_day(day);
    cr_assert_eq(
        booking_holidays_add(db, day, NULL, "Jueves Santo", "no_laborable", "Ley 27.399", NULL), 0);
    int32_t days[4];
    size_t n;
    cr_assert_eq(
        booking_holidays_closed_days(db, NULL, epoch_day(day), epoch_day(day), days, 4, &n), 0);
    cr_assert_eq(n, 0);
    drop_day(day);
}

Test(holidays, add_refuses_bad_values)
{
    cr_assert_eq(
        booking_holidays_add(db, "2025-01-01", NULL, "Año Nuevo", "inamovible", "Ley 27.399", NULL),
        BP_ECONFLICT);
    struct {
        const char *day, *name, *kind, *source, *admin;
    } bad[] = {
        {"2091-02-30", "x", "puente", "Decreto", NULL},
        {"91-02-03", "x", "puente", "Decreto", NULL},
        {"2091-02-03", "x", "feriado", "Decreto", NULL},
        {"2091-02-03", "", "puente", "Decreto", NULL},
        {"2091-02-03", "x", "puente", "", NULL},
        {"2091-02-03", "x", "puente", "Decreto", "not-a-uuid"},
        {NULL, "x", "puente", "Decreto", NULL},
    };
    for (size_t i = 0; i < BP_COUNTOF(bad); i++)
        cr_assert_eq(booking_holidays_add(db, bad[i].day, NULL, bad[i].name, bad[i].kind,
                                          bad[i].source, bad[i].admin),
                     BP_EINVAL, "case %zu", i);
    char day[11];
    spare_day(day);
    cr_assert_eq(booking_holidays_add(db, day, "2091-01-01", "x", "puente", "Decreto", NULL),
                 BP_EINVAL, "only a trasladable has an original day");
}
