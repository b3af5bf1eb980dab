/* Unit tests for common/money.c: amounts as an Argentine customer reads
 * them, and deposits and raises rounded to the centavo. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "bp.h"
#include "money.h"

static const struct {
    int64_t cents;
    const char *currency, *want;
} FORMATS[] = {
    {0, "ARS", "$ 0,00"},
    {1, "ARS", "$ 0,01"},
    {99, "ARS", "$ 0,99"},
    {100, "ARS", "$ 1,00"},
    {99999, "ARS", "$ 999,99"},
    {100000, "ARS", "$ 1.000,00"},
    {1500000, "ARS", "$ 15.000,00"},
    {-1500000, "ARS", "-$ 15.000,00"},
    {-1, "ARS", "-$ 0,01"},
    {123456, "USD", "US$ 1.234,56"},
    {-123456, "USD", "-US$ 1.234,56"},
    {123456, "EUR", "EUR 1.234,56"},
    {123456789012, "ARS", "$ 1.234.567.890,12"},
    {100000000, "BRL", "BRL 1.000.000,00"},
    {INT64_MAX, "ARS", "$ 92.233.720.368.547.758,07"},
    {INT64_MIN, "ARS", "-$ 92.233.720.368.547.758,08"},
    {INT64_MIN, "USD", "-US$ 92.233.720.368.547.758,08"},
};

Test(money, formats_in_es_ar)
{
    for (size_t i = 0; i < BP_COUNTOF(FORMATS); i++) {
        char out[40];
        cr_assert_eq(bp_money_format(FORMATS[i].cents, FORMATS[i].currency, out, sizeof out), 0);
        cr_assert_str_eq(out, FORMATS[i].want, "case %zu", i);
        /* Exactly the length plus the NUL fits; one byte less does not. */
        size_t need = strlen(FORMATS[i].want) + 1;
        cr_assert_eq(bp_money_format(FORMATS[i].cents, FORMATS[i].currency, out, need), 0);
        cr_assert_str_eq(out, FORMATS[i].want);
        cr_assert_eq(bp_money_format(FORMATS[i].cents, FORMATS[i].currency, out, need - 1),
                     BP_ETOOBIG);
        cr_assert_str_eq(out, "");
    }
    char out[32];
    cr_assert_eq(bp_money_format(INT64_MIN, "USD", out, sizeof out), 0, "32 bytes suffice");
}

Test(money, refuses_bad_input)
{
    static const char *const BAD[] = {"", "ars", "AR", "ARSS", "A$S", "12A"};
    char out[32];
    for (size_t i = 0; i < BP_COUNTOF(BAD); i++)
        cr_assert_eq(bp_money_format(100, BAD[i], out, sizeof out), BP_EINVAL, "%s", BAD[i]);
    cr_assert_eq(bp_money_format(100, NULL, out, sizeof out), BP_EINVAL);
    cr_assert_eq(bp_money_format(100, "ARS", NULL, 32), BP_EINVAL);
    cr_assert_eq(bp_money_format(100, "ARS", out, 0), BP_ETOOBIG);
}

static const struct {
    int64_t cents;
    int32_t bp;
    int64_t want;
} PERCENTS[] = {
    {0, 3000, 0},
    {1500000, 3000, 450000},   /* a 30 % deposit on $ 15.000 */
    {1500000, 10000, 1500000}, /* 100 % */
    {1500000, 0, 0},
    {1500000, 11500, 1725000}, /* a 15 % raise */
    {1, 5000, 1},              /* half a centavo rounds up */
    {1, 4999, 0},
    {3, 5000, 2},   /* 1.5 -> 2 */
    {5, 1000, 1},   /* 0.5 -> 1 */
    {4, 1000, 0},   /* 0.4 -> 0 */
    {-3, 5000, -2}, /* half away from zero */
    {-5, 1000, -1},
    {3, -5000, -2},
    {99999, 3333, 33330}, /* 33329.667 */
    {123456789012, 2500, 30864197253},
    {INT64_MAX, 10000, INT64_MAX},
    {INT64_MAX, 10001, -1}, /* would overflow */
    {INT64_MAX / 2, 20000, INT64_MAX - 1},
    {INT64_MAX, INT32_MAX, -1},
    {INT64_MIN, 10000, INT64_MIN},
    {INT64_MIN, 5000, INT64_MIN / 2},
};

Test(money, percentages_round_half_away_from_zero)
{
    for (size_t i = 0; i < BP_COUNTOF(PERCENTS); i++)
        cr_assert_eq(bp_money_apply_percent(PERCENTS[i].cents, PERCENTS[i].bp), PERCENTS[i].want,
                     "case %zu: %lld", i,
                     (long long)bp_money_apply_percent(PERCENTS[i].cents, PERCENTS[i].bp));
}
