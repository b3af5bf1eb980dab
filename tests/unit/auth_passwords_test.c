/* Unit tests for services/auth/passwords.c: bcrypt $2b$ at the configured
 * cost, right and wrong passwords, and the hashes it must never accept. Cost
 * 4 keeps the suite fast; the code path is the one of cost 12. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../services/auth/passwords.h"
#include "bp.h"

static void init_cost4(void)
{
    cr_assert_eq(auth_passwords_init(4), 0);
}

TestSuite(auth_passwords, .init = init_cost4);

Test(auth_passwords, hash_is_2b_at_the_configured_cost)
{
    char hash[AUTH_HASH_SIZE];
    cr_assert_eq(auth_password_hash("Corte-y-barba-7", hash, sizeof hash), 0);
    cr_expect_eq(strlen(hash), 60, "%s", hash);
    cr_expect_eq(strncmp(hash, "$2b$04$", 7), 0, "%s", hash);
    cr_expect_eq(auth_password_hash_cost(hash), 4);
    cr_expect_eq(auth_passwords_cost(), 4);
    cr_expect_not(auth_password_needs_rehash(hash));
}

Test(auth_passwords, same_password_gets_a_new_salt_each_time)
{
    char a[AUTH_HASH_SIZE], b[AUTH_HASH_SIZE];
    cr_assert_eq(auth_password_hash("Corte-y-barba-7", a, sizeof a), 0);
    cr_assert_eq(auth_password_hash("Corte-y-barba-7", b, sizeof b), 0);
    cr_expect_str_neq(a, b);
    cr_expect(auth_password_verify("Corte-y-barba-7", a));
    cr_expect(auth_password_verify("Corte-y-barba-7", b));
}

Test(auth_passwords, verify_right_and_wrong)
{
    static const struct {
        const char *attempt;
        bool ok;
    } cases[] = {
        {"BarberPro2026", true},
        {"barberpro2026", false},
        {"BarberPro2026 ", false},
        {"BarberPro202", false},
        {"", false},
        {"BarberPro2027", false},
        {"BARBERPRO2026", false},
    };
    char hash[AUTH_HASH_SIZE];
    cr_assert_eq(auth_password_hash("BarberPro2026", hash, sizeof hash), 0);
    for (size_t i = 0; i < BP_COUNTOF(cases); i++)
        cr_expect_eq(auth_password_verify(cases[i].attempt, hash), cases[i].ok, "\"%s\"",
                     cases[i].attempt);
}

Test(auth_passwords, other_costs_and_prefixes_still_verify)
{
    char hash[AUTH_HASH_SIZE];
    cr_assert_eq(auth_passwords_set_cost(5), 0);
    cr_assert_eq(auth_password_hash("Tijera9navaja", hash, sizeof hash), 0);
    cr_expect_eq(auth_password_hash_cost(hash), 5);
    cr_assert_eq(auth_passwords_set_cost(4), 0);
    cr_expect(auth_password_verify("Tijera9navaja", hash));
    cr_expect(auth_password_needs_rehash(hash), "cost 5 while 4 is configured");

    /* A hash from another bcrypt library ($2y$, e.g. PHP) verifies too. */
    hash[2] = 'y';
    cr_expect(auth_password_verify("Tijera9navaja", hash));
    cr_expect(auth_password_needs_rehash(hash));
}

Test(auth_passwords, malformed_hashes_never_match)
{
    static const char *const bad[] = {
        "",
        "*0",
        "plain-text-password",
        "$1$saltsalt$abcdefghijklmnopqrstuv",                           /* MD5-crypt */
        "$2b$04$",                                                      /* truncated */
        "$2b$99$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234", /* cost 99 */
    };
    for (size_t i = 0; i < BP_COUNTOF(bad); i++) {
        cr_expect_not(auth_password_verify("", bad[i]), "\"%s\"", bad[i]);
        cr_expect_not(auth_password_verify("plain-text-password", bad[i]), "\"%s\"", bad[i]);
        cr_expect_eq(auth_password_hash_cost(bad[i]), -1, "\"%s\"", bad[i]);
    }
    cr_expect_not(auth_password_verify(NULL, "$2b$04$abc"));
    cr_expect_not(auth_password_verify("x", NULL));
}

Test(auth_passwords, burn_always_fails)
{
    cr_expect_not(auth_password_burn("BarberPro2026"));
    cr_expect_not(auth_password_burn(""));
    cr_expect_not(auth_password_burn(NULL));
}

Test(auth_passwords, burn_costs_what_a_wrong_password_costs)
{
    /* At cost 8 one bcrypt takes milliseconds: the unknown-email path must
     * take about as long as the wrong-password path, not nothing. */
    char hash[AUTH_HASH_SIZE];
    cr_assert_eq(auth_passwords_init(8), 0);
    cr_assert_eq(auth_password_hash("BarberPro2026", hash, sizeof hash), 0);
    int64_t t0 = bp_mono_ms();
    for (int i = 0; i < 5; i++)
        auth_password_verify("wrong-password-1", hash);
    int64_t wrong = bp_mono_ms() - t0;
    t0 = bp_mono_ms();
    for (int i = 0; i < 5; i++)
        auth_password_burn("wrong-password-1");
    int64_t burn = bp_mono_ms() - t0;
    cr_expect(burn * 2 >= wrong && burn <= wrong * 2, "burn %lld ms vs wrong %lld ms",
              (long long)burn, (long long)wrong);
}

Test(auth_passwords, cost_outside_4_to_31_is_refused)
{
    cr_expect_eq(auth_passwords_init(3), BP_EINVAL);
    cr_expect_eq(auth_passwords_set_cost(32), BP_EINVAL);
    cr_expect_eq(auth_passwords_cost(), 4);
}

Test(auth_passwords, small_buffers_are_refused)
{
    char small[32];
    cr_expect_eq(auth_password_hash("BarberPro2026", small, sizeof small), BP_EINVAL);
    cr_expect_eq(auth_password_hash(NULL, small, sizeof small), BP_EINVAL);
}
