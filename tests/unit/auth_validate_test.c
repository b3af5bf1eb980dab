/* Unit tests for services/auth/validate.c: the phone numbers, emails and
 * passwords people actually type, and what each becomes or why it is
 * refused. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../services/auth/validate.h"
#include "bp.h"
#include "input.h"

/* ---- phones ------------------------------------------------------------ */

static const struct {
    const char *in, *want;
} PHONES_OK[] = {
    /* Buenos Aires, every usual way of writing it */
    {"11 2345-6789", "+5491123456789"},
    {"1123456789", "+5491123456789"},
    {"+54 9 11 2345-6789", "+5491123456789"},
    {"+5491123456789", "+5491123456789"},
    {"+54 11 2345 6789", "+5491123456789"},
    {"+541123456789", "+5491123456789"},
    {"011 15 2345-6789", "+5491123456789"},
    {"(011) 15-2345-6789", "+5491123456789"},
    {"(11) 2345-6789", "+5491123456789"},
    {"011 2345-6789", "+5491123456789"},
    {"11 15 2345 6789", "+5491123456789"},
    {"+54 9 11 15 2345 6789", "+5491123456789"},
    {"+54 (11) 2345.6789", "+5491123456789"},
    {"5491123456789", "+5491123456789"},
    {"541123456789", "+5491123456789"},
    {"0054 9 11 2345 6789", "+5491123456789"},
    {"  11 2345 6789  ", "+5491123456789"},
    {"\t11-2345-6789", "+5491123456789"},
    /* Three-digit area codes: Córdoba, Rosario, La Plata, Mendoza */
    {"0351 15 123-4567", "+5493511234567"},
    {"351 1234567", "+5493511234567"},
    {"+54 9 351 123-4567", "+5493511234567"},
    {"0341 15 555-1234", "+5493415551234"},
    {"(0221) 15 456-7890", "+5492214567890"},
    {"0261 15-412-3456", "+5492614123456"},
    /* Four-digit area codes: Pinamar, Viedma, González Catán (2202, not 220) */
    {"02254 15 12-3456", "+5492254123456"},
    {"2920 42-1234", "+5492920421234"},
    {"02202 15 44-5566", "+5492202445566"},
    /* Merlo (220) with its 15 */
    {"0220 15 482-1234", "+5492204821234"},
    /* Other countries, already E.164, kept as they are */
    {"+1 415 555 2671", "+14155552671"},
    {"+598 94 123 456", "+59894123456"},
    {"+55 11 91234-5678", "+5511912345678"},
    {"+34 612 34 56 78", "+34612345678"},
    {"0034 612 345 678", "+34612345678"},
};

static const char *const PHONES_BAD[] = {
    "",
    "   ",
    "abc",
    "11 2345-678",                                /* a digit short */
    "11 2345-67890",                              /* a digit too many */
    "2345-6789",                                  /* no area code */
    "15 2345-6789",                               /* a mobile prefix but no area code */
    "15 5555 5555",                               /* the same, ten digits */
    "+54 9 11 2345 678",                          /* international, a digit short */
    "+54 9 11 2345 67890",                        /* international, a digit too many */
    "11 1234 5678",                               /* subscriber numbers never start with 1 */
    "11 0234 5678",                               /* nor with 0 */
    "45 2345 6789",                               /* area codes start with 1, 2 or 3 */
    "12 2345 6789",                               /* the only area code starting with 1 is 11 */
    "011 16 2345-6789",                           /* twelve digits without a 15 to drop */
    "+",                                          /* nothing */
    "++54 11 2345 6789",                          /* two pluses */
    "11 +2345 6789",                              /* a plus in the middle */
    "+0 123 456 789",                             /* no country code starts with 0 */
    "+1 234 56",                                  /* too short for E.164 */
    "+1234567890123456",                          /* 16 digits: too long for E.164 */
    "11 2345-6789 int 12",                        /* letters */
    "11/2345/6789",                               /* not a separator we accept */
    "11 2345 6789 0000 0000 0000 0000 0000 0000", /* absurdly long */
};

Test(auth_validate, argentine_phones_become_e164)
{
    for (size_t i = 0; i < BP_COUNTOF(PHONES_OK); i++) {
        char out[BP_PHONE_SIZE];
        const char *why = NULL;
        int rv = bp_phone_normalize(PHONES_OK[i].in, out, sizeof out, &why);
        cr_expect_eq(rv, 0, "\"%s\" was refused", PHONES_OK[i].in);
        if (rv == 0)
            cr_expect_str_eq(out, PHONES_OK[i].want, "\"%s\"", PHONES_OK[i].in);
    }
}

Test(auth_validate, bad_phones_are_refused_with_a_spanish_reason)
{
    for (size_t i = 0; i < BP_COUNTOF(PHONES_BAD); i++) {
        char out[BP_PHONE_SIZE] = "x";
        const char *why = NULL;
        int rv = bp_phone_normalize(PHONES_BAD[i], out, sizeof out, &why);
        cr_expect_eq(rv, BP_EINVAL, "\"%s\" was accepted as %s", PHONES_BAD[i], out);
        cr_expect_str_empty(out, "\"%s\" left output behind", PHONES_BAD[i]);
        cr_expect(why != NULL && strstr(why, "teléfono") != NULL, "\"%s\": reason", PHONES_BAD[i]);
    }
}

Test(auth_validate, phone_refuses_null_and_small_buffers)
{
    char out[8];
    const char *why;
    cr_expect_eq(bp_phone_normalize(NULL, out, sizeof out, &why), BP_EINVAL);
    cr_expect_eq(bp_phone_normalize("11 2345-6789", out, sizeof out, &why), BP_EINVAL);
}

/* ---- emails ------------------------------------------------------------ */

static const struct {
    const char *in, *want;
} EMAILS_OK[] = {
    {"ana@example.com", "ana@example.com"},
    {"  Ana.Perez@Example.COM.ar \n", "ana.perez@example.com.ar"},
    {"camila+turnos@gmail.com", "camila+turnos@gmail.com"},
    {"o'brien@mail.example.org", "o'brien@mail.example.org"},
    {"x@a-b.co", "x@a-b.co"},
    {"user_1@sub.domain.barberpro.com.ar", "user_1@sub.domain.barberpro.com.ar"},
    {"a@b.xn--p1ai", "a@b.xn--p1ai"},
};

static const char *const EMAILS_BAD[] = {
    "",
    "   ",
    "ana",
    "ana@",
    "@example.com",
    "ana@example", /* one label */
    "ana@@example.com",
    "ana@ex@ample.com",
    "ana perez@example.com", /* a space inside */
    ".ana@example.com",
    "ana.@example.com",
    "an..a@example.com",
    "ana@-example.com",
    "ana@example-.com",
    "ana@example..com",
    "ana@.example.com",
    "ana@example.com.",
    "ana@example.c",   /* one-letter TLD */
    "ana@example.123", /* numeric TLD */
    "ana@exa_mple.com",
    "ana(comment)@example.com",
    "\"ana\"@example.com",
    "añá@example.com", /* not ASCII */
    "ana@exámple.com",
    "ana\x01@example.com",
};

Test(auth_validate, emails_are_trimmed_and_lowercased)
{
    for (size_t i = 0; i < BP_COUNTOF(EMAILS_OK); i++) {
        char out[BP_EMAIL_SIZE];
        const char *why = NULL;
        int rv = bp_email_normalize(EMAILS_OK[i].in, out, sizeof out, &why);
        cr_expect_eq(rv, 0, "\"%s\" was refused", EMAILS_OK[i].in);
        if (rv == 0)
            cr_expect_str_eq(out, EMAILS_OK[i].want);
    }
}

Test(auth_validate, malformed_emails_are_refused)
{
    for (size_t i = 0; i < BP_COUNTOF(EMAILS_BAD); i++) {
        char out[BP_EMAIL_SIZE];
        const char *why = NULL;
        int rv = bp_email_normalize(EMAILS_BAD[i], out, sizeof out, &why);
        cr_expect_eq(rv, BP_EINVAL, "\"%s\" was accepted as %s", EMAILS_BAD[i], out);
        cr_expect(why != NULL && strstr(why, "email") != NULL);
    }
}

/* Writes "<local>@<labels joined by dots>" of the given lengths into out. */
static void make_email(char *out, size_t local, const size_t *labels, size_t n)
{
    memset(out, 'a', local);
    out += local;
    *out++ = '@';
    for (size_t i = 0; i < n; i++) {
        memset(out, 'b', labels[i]);
        out += labels[i];
        *out++ = i + 1 < n ? '.' : '\0';
    }
}

Test(auth_validate, email_length_limits)
{
    char out[BP_EMAIL_SIZE], in[400];
    const char *why;

    /* A local part of 64 bytes is fine, of 65 is not. */
    make_email(in, 64, (const size_t[]){7, 3}, 2);
    cr_expect_eq(bp_email_normalize(in, out, sizeof out, &why), 0);
    make_email(in, 65, (const size_t[]){7, 3}, 2);
    cr_expect_eq(bp_email_normalize(in, out, sizeof out, &why), BP_EINVAL);

    /* A label of 63 bytes is fine, of 64 is not. */
    make_email(in, 1, (const size_t[]){63, 3}, 2);
    cr_expect_eq(bp_email_normalize(in, out, sizeof out, &why), 0);
    make_email(in, 1, (const size_t[]){64, 3}, 2);
    cr_expect_eq(bp_email_normalize(in, out, sizeof out, &why), BP_EINVAL);

    /* 254 bytes in all are fine, 255 are not. */
    make_email(in, 1, (const size_t[]){63, 63, 63, 60}, 4);
    cr_assert_eq(strlen(in), 254);
    cr_expect_eq(bp_email_normalize(in, out, sizeof out, &why), 0);
    make_email(in, 1, (const size_t[]){63, 63, 63, 61}, 4);
    cr_assert_eq(strlen(in), 255);
    cr_expect_eq(bp_email_normalize(in, out, sizeof out, &why), BP_EINVAL);
}

/* ---- passwords --------------------------------------------------------- */

static const char *const PASSWORDS_OK[] = {
    "BarberPro2026",       "Corte-y-barba-7", "tijera9navaja",           "Xk4#mQ9!zP",
    "mate con 3 facturas", "Peluquería2026",  "correct horse battery 9",
};

static const struct {
    const char *password;
    const char *email;
    const char *reason; /* a word of the expected message */
} PASSWORDS_BAD[] = {
    {"", NULL, "entre 8 y 72"},
    {"Ab1", NULL, "entre 8 y 72"},
    {"Abcde12", NULL, "entre 8 y 72"}, /* 7 bytes */
    {"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789X", NULL,
     "entre 8 y 72"}, /* 73 bytes */
    {"12345678", NULL, "una letra y un número"},
    {"98765432109", NULL, "una letra y un número"},
    {"password", NULL, "una letra y un número"},
    {"solamenteletras", NULL, "una letra y un número"},
    {"password1", NULL, "común"},
    {"Password123", NULL, "común"},
    {"P@ssw0rd", NULL, "común"},
    {"p@ssw0rd!2024", NULL, "común"},
    {"passw0rd123", NULL, "común"},
    {"qwerty123", NULL, "común"},
    {"1q2w3e4r", NULL, "común"},
    {"abc12345", NULL, "común"},
    {"abcd1234", NULL, "común"},
    {"12345678a", NULL, "común"},
    {"aaaaaaa1", NULL, "común"},
    {"1a1a1a1a1a", NULL, "común"},
    {"Boca1905", NULL, "común"},
    {"river1901!", NULL, "común"},
    {"Argentina2022", NULL, "común"},
    {"contraseña1", NULL, "común"},
    {"Contrasena2026", NULL, "común"},
    {"admin2026", NULL, "común"},
    {"iloveyou2", NULL, "común"},
    {"Ab123456", NULL, "común"},
    {"ana.perez1@example.com", "ana.perez1@example.com", "email"},
    {"ANA.PEREZ1@EXAMPLE.COM", "ana.perez1@example.com", "email"},
    {"juancho77", "juancho77@example.com", "email"},
};

Test(auth_validate, good_passwords_pass_the_policy)
{
    for (size_t i = 0; i < BP_COUNTOF(PASSWORDS_OK); i++) {
        const char *why = "unset";
        cr_expect_eq(auth_password_policy(PASSWORDS_OK[i], "ana@example.com", &why), 0,
                     "\"%s\" was refused: %s", PASSWORDS_OK[i], why);
    }
}

Test(auth_validate, weak_passwords_are_refused_with_the_reason)
{
    for (size_t i = 0; i < BP_COUNTOF(PASSWORDS_BAD); i++) {
        const char *why = NULL;
        int rv = auth_password_policy(PASSWORDS_BAD[i].password, PASSWORDS_BAD[i].email, &why);
        cr_expect_eq(rv, BP_EINVAL, "\"%s\" was accepted", PASSWORDS_BAD[i].password);
        cr_expect(why != NULL && strstr(why, PASSWORDS_BAD[i].reason) != NULL,
                  "\"%s\": got \"%s\", want a message about \"%s\"", PASSWORDS_BAD[i].password,
                  why != NULL ? why : "(null)", PASSWORDS_BAD[i].reason);
    }
}

Test(auth_validate, password_of_exactly_8_and_72_bytes)
{
    const char *why;
    char p72[73];
    for (int i = 0; i < 72; i++)
        p72[i] = "Tq7#kLm2Zx9"[i % 11];
    p72[72] = '\0';
    cr_expect_eq(auth_password_policy("Tq7#kLm2", NULL, &why), 0);
    cr_expect_eq(auth_password_policy(p72, NULL, &why), 0);
    cr_expect_eq(auth_password_policy(NULL, NULL, &why), BP_EINVAL);
}

/* ---- names, roles, locales --------------------------------------------- */

Test(auth_validate, names)
{
    char out[AUTH_NAME_SIZE], in[600];
    const char *why;

    cr_expect_eq(auth_name_normalize("  Camila Rodríguez ", out, sizeof out, &why), 0);
    cr_expect_str_eq(out, "Camila Rodríguez");
    cr_expect_eq(auth_name_normalize("Ñandú Peña-O'Connor", out, sizeof out, &why), 0);
    cr_expect_eq(auth_name_normalize("", out, sizeof out, &why), BP_EINVAL);
    cr_expect_eq(auth_name_normalize("   ", out, sizeof out, &why), BP_EINVAL);
    cr_expect_eq(auth_name_normalize(NULL, out, sizeof out, &why), BP_EINVAL);
    cr_expect_eq(auth_name_normalize("Ana\nPérez", out, sizeof out, &why), BP_EINVAL);
    cr_expect_eq(auth_name_normalize("Ana\x7f", out, sizeof out, &why), BP_EINVAL);
    cr_expect_eq(auth_name_normalize("Ana \xc3", out, sizeof out, &why), BP_EINVAL);
    cr_expect_eq(auth_name_normalize("Ana \xc0\xaf", out, sizeof out, &why), BP_EINVAL);
    cr_expect_eq(auth_name_normalize("Ana \xed\xa0\x80", out, sizeof out, &why), BP_EINVAL);

    /* 120 characters, even of two bytes each, are fine; 121 are not. */
    for (int i = 0; i < 120; i++)
        memcpy(in + 2 * i, "é", 2);
    in[240] = '\0';
    cr_expect_eq(auth_name_normalize(in, out, sizeof out, &why), 0);
    memcpy(in + 240, "é", sizeof "é");
    cr_expect_eq(auth_name_normalize(in, out, sizeof out, &why), BP_EINVAL);
    cr_expect(why != NULL && strstr(why, "120") != NULL);
}

Test(auth_validate, roles_and_locales)
{
    cr_expect(auth_role_valid("client"));
    cr_expect(auth_role_valid("owner"));
    cr_expect(auth_role_valid("provider"));
    cr_expect(auth_role_valid("admin"));
    cr_expect_not(auth_role_valid("Admin"));
    cr_expect_not(auth_role_valid(""));
    cr_expect_not(auth_role_valid(NULL));

    cr_expect(auth_role_self_service("client"));
    cr_expect(auth_role_self_service("owner"));
    cr_expect_not(auth_role_self_service("provider"));
    cr_expect_not(auth_role_self_service("admin"));

    cr_expect(auth_locale_valid("es-AR"));
    cr_expect(auth_locale_valid("en-US"));
    cr_expect(auth_locale_valid("pt-BR"));
    cr_expect_not(auth_locale_valid("es"));
    cr_expect_not(auth_locale_valid("fr-FR"));
    cr_expect_not(auth_locale_valid(NULL));
}
