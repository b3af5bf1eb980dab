/* Input rules of the auth daemon: the password policy, names, roles and
 * locales (emails and phones are common/input.c's). */
#include "validate.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "bp.h"
#include "input.h"

static const char MSG_PW_LENGTH[] = "La contraseña debe tener entre 8 y 72 caracteres.";
static const char MSG_PW_MIX[] = "La contraseña debe incluir al menos una letra y un número.";
static const char MSG_PW_WEAK[] = "Esa contraseña es demasiado común o fácil de adivinar; "
                                  "elegí otra.";
static const char MSG_PW_EMAIL[] = "La contraseña no puede ser igual a tu email.";
static const char MSG_NAME[] = "Ingresá un nombre de entre 1 y 120 caracteres.";

/* ---- passwords -------------------------------------------------------- */

/* Whole passwords (lowercased) that satisfy the letter-and-digit rule yet
 * head every leaked-password list. */
static const char *const WEAK_EXACT[] = {
    "1q2w3e4r", "1q2w3e4r5t", "q1w2e3r4", "1qaz2wsx", "zaq12wsx", "a1b2c3d4",
    "1a2b3c4d", "trustno1",   "qwer1234", "1234qwer", "abc12345", "abcd1234",
    "1234abcd", "12345abc",   "passw0rd", "p4ssw0rd", "p@ssw0rd", "pa55word",
};

/* Words that, with digits or symbols around them, are still guessed first:
 * compared against the letters of the password. */
static const char *const WEAK_WORDS[] = {
    "password", "passw",         "pass",          "contraseña",  "contrasena", "clave",
    "qwerty",   "admin",         "administrador", "usuario",     "user",       "test",
    "prueba",   "welcome",       "bienvenido",    "letmein",     "iloveyou",   "teamo",
    "hola",     "argentina",     "boca",          "bocajuniors", "river",      "riverplate",
    "racing",   "independiente", "sanlorenzo",    "messi",       "maradona",   "dragon",
    "monkey",   "football",      "futbol",        "baseball",    "superman",   "batman",
    "master",   "shadow",        "sunshine",      "princess",    "trustno",    "login",
    "secret",   "secreto",       "changeme",      "default",     "root",       "barberia",
    "barbero",  "peluqueria",
};

/* Rows of keyboards and the alphabet: any run of three or more letters
 * taken from one of them is a sequence, not a secret. */
static const char *const RUNS[] = {
    "abcdefghijklmnopqrstuvwxyz",
    "zyxwvutsrqponmlkjihgfedcba",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "azertyuiop",
    "qazwsxedcrfvtgbyhnujmikolp",
    "zaqxswcdevfrbgtnhymju",
};

static bool is_symbol(unsigned char c)
{
    return c < 0x80 && !bp_ascii_lower(c) && !bp_ascii_digit(c);
}

static bool word_is_weak(const char *w)
{
    size_t n = strlen(w);
    if (n == 0)
        return true;
    for (size_t i = 0; i < BP_COUNTOF(WEAK_WORDS); i++) {
        if (strcmp(w, WEAK_WORDS[i]) == 0)
            return true;
    }
    if (n >= 3) {
        for (size_t i = 0; i < BP_COUNTOF(RUNS); i++) {
            if (strstr(RUNS[i], w) != NULL)
                return true;
        }
    }
    return false;
}

static char unleet(unsigned char c)
{
    switch (c) {
    case '0':
        return 'o';
    case '1':
        return 'i';
    case '3':
        return 'e';
    case '4':
    case '@':
        return 'a';
    case '5':
    case '$':
        return 's';
    case '7':
        return 't';
    default:
        return (char)c;
    }
}

int auth_password_policy(const char *password, const char *email, const char **why)
{
    char lower[AUTH_PASSWORD_MAX + 1], plain[AUTH_PASSWORD_MAX + 1], leet[AUTH_PASSWORD_MAX + 1];

    *why = MSG_PW_LENGTH;
    if (password == NULL)
        return BP_EINVAL;
    size_t n = strlen(password);
    if (n < AUTH_PASSWORD_MIN || n > AUTH_PASSWORD_MAX)
        return BP_EINVAL;

    bool letter = false, digit = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = bp_ascii_to_lower((unsigned char)password[i]);
        letter = letter || bp_ascii_lower(c) || c >= 0x80;
        digit = digit || bp_ascii_digit(c);
        lower[i] = (char)c;
    }
    lower[n] = '\0';
    *why = MSG_PW_MIX;
    if (!letter || !digit)
        return BP_EINVAL;

    if (email != NULL && email[0] != '\0') {
        const char *at = strchr(email, '@');
        size_t local = at != NULL ? (size_t)(at - email) : strlen(email);
        *why = MSG_PW_EMAIL;
        if (strcasecmp(lower, email) == 0 || (n == local && strncasecmp(lower, email, n) == 0))
            return BP_EINVAL;
    }

    *why = MSG_PW_WEAK;
    for (size_t i = 0; i < BP_COUNTOF(WEAK_EXACT); i++) {
        if (strcmp(lower, WEAK_EXACT[i]) == 0)
            return BP_EINVAL;
    }

    /* plain: the letters alone. leet: the middle left after stripping the
     * digits and symbols at both ends, with look-alike digits read as
     * letters (p@ssw0rd!2024 -> password). */
    size_t np = 0, nl = 0, b = 0, e = n;
    bool seen[256] = {false};
    size_t distinct = 0, distinct_letters = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)lower[i];
        if (!seen[c]) {
            seen[c] = true;
            distinct++;
            if (!bp_ascii_digit(c) && !is_symbol(c))
                distinct_letters++;
        }
        if (!bp_ascii_digit(c) && !is_symbol(c))
            plain[np++] = (char)c;
    }
    plain[np] = '\0';
    while (b < e && (bp_ascii_digit((unsigned char)lower[b]) || is_symbol((unsigned char)lower[b])))
        b++;
    while (e > b &&
           (bp_ascii_digit((unsigned char)lower[e - 1]) || is_symbol((unsigned char)lower[e - 1])))
        e--;
    for (size_t i = b; i < e; i++) {
        char c = unleet((unsigned char)lower[i]);
        if (!bp_ascii_digit((unsigned char)c) && !is_symbol((unsigned char)c))
            leet[nl++] = c;
    }
    leet[nl] = '\0';

    if (distinct < 5 || distinct_letters < 3 || word_is_weak(plain) || word_is_weak(leet))
        return BP_EINVAL;
    *why = NULL;
    return 0;
}

/* ---- names, roles, locales -------------------------------------------- */

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, or 0
 * when malformed (overlong, surrogate, beyond U+10FFFF, truncated). */
int auth_name_normalize(const char *in, char *out, size_t len, const char **why)
{
    int rv = bp_text_normalize(in, AUTH_NAME_MAX, out, len, why);
    *why = rv == 0 ? NULL : MSG_NAME;
    return rv;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, list[i]) == 0)
            return true;
    }
    return false;
}

static const char *const ROLES[] = {"client", "owner", "provider", "admin"};
static const char *const SELF_ROLES[] = {"client", "owner"};
static const char *const LOCALES[] = {"es-AR", "en-US", "pt-BR"};

bool auth_role_valid(const char *role)
{
    return in_list(role, ROLES, BP_COUNTOF(ROLES));
}

bool auth_role_self_service(const char *role)
{
    return in_list(role, SELF_ROLES, BP_COUNTOF(SELF_ROLES));
}

bool auth_locale_valid(const char *locale)
{
    return in_list(locale, LOCALES, BP_COUNTOF(LOCALES));
}
