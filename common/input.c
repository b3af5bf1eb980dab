/* Normalising what people type: emails, phone numbers (Argentine forms to
 * E.164) and free text. Pure functions, shared by every daemon, so that the
 * same input gets the same answer everywhere. */
#include "input.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bp.h"

static const char MSG_EMAIL[] = "Ingresá un email válido.";
static const char MSG_PHONE[] = "Ingresá un teléfono válido con código de área, por ejemplo "
                                "11 2345-6789 o +54 9 11 2345-6789.";
static const char MSG_TEXT_EMPTY[] = "Completá este campo.";
static const char MSG_TEXT_CHARS[] = "Tiene caracteres no válidos.";
static const char MSG_TEXT_LONG[] = "Es demasiado largo.";

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Points *b and *e at the text of s without surrounding white space. */
static void trim(const char *s, const char **b, const char **e)
{
    const char *end = s + strlen(s);
    while (s < end && is_space((unsigned char)*s))
        s++;
    while (end > s && is_space((unsigned char)end[-1]))
        end--;
    *b = s;
    *e = end;
}

/* ---- email ------------------------------------------------------------ */

/* RFC 5322 atext: the characters a dot-atom local part may hold. */
static bool is_atext(unsigned char c)
{
    return bp_ascii_lower(c) || bp_ascii_digit(c) ||
           (c != 0 && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static bool local_part_valid(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i + 1] == '.')
                return false;
        } else if (!is_atext(c)) {
            return false;
        }
    }
    return true;
}

static bool domain_valid(const char *s, size_t n)
{
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            unsigned char c = (unsigned char)s[i];
            if (!bp_ascii_lower(c) && !bp_ascii_digit(c) && c != '-')
                return false;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return false;
        labels++;
        if (i == n) {
            /* The top-level label: at least two characters, not a number. */
            bool all_digits = true;
            for (size_t k = start; k < i; k++)
                all_digits = all_digits && bp_ascii_digit((unsigned char)s[k]);
            if (len < 2 || all_digits)
                return false;
        }
        start = i + 1;
    }
    return labels >= 2;
}

int bp_email_normalize(const char *in, char *out, size_t len, const char **why)
{
    const char *b, *e;
    *why = MSG_EMAIL;
    if (in == NULL || out == NULL || len == 0)
        return BP_EINVAL;
    out[0] = '\0';
    trim(in, &b, &e);
    size_t n = (size_t)(e - b);
    if (n < 3 || n > BP_EMAIL_MAX || n >= len)
        return BP_EINVAL;

    size_t at = n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = bp_ascii_to_lower((unsigned char)b[i]);
        if (c <= ' ' || c >= 0x7f)
            return BP_EINVAL; /* ASCII only, no spaces or controls inside */
        if (c == '@') {
            if (at != n)
                return BP_EINVAL;
            at = i;
        }
        out[i] = (char)c;
    }
    out[n] = '\0';
    if (at == n || !local_part_valid(out, at) || !domain_valid(out + at + 1, n - at - 1)) {
        out[0] = '\0';
        return BP_EINVAL;
    }
    return 0;
}

/* ---- phones ----------------------------------------------------------- */

/* Argentine area codes of three digits; "11" is the only one of two and
 * every other is of four. They tell where a "15" mobile prefix sits. */
static const char *const AREA3[] = {
    "220", "221", "223", "230", "236", "237", "249", "260", "261", "263", "264", "266", "280",
    "291", "294", "297", "299", "336", "341", "342", "343", "345", "348", "351", "353", "358",
    "362", "364", "370", "376", "379", "380", "381", "383", "385", "387", "388",
};

static bool is_area3(const char *d)
{
    for (size_t i = 0; i < BP_COUNTOF(AREA3); i++) {
        if (memcmp(d, AREA3[i], 3) == 0)
            return true;
    }
    return false;
}

static bool at_15(const char *d, size_t pos)
{
    return d[pos] == '1' && d[pos + 1] == '5';
}

/* d holds n digits of an Argentine number after any country code: an
 * optional 9 (mobile, only after +54), an optional trunk 0, the area code,
 * an optional 15 after it, and the subscriber number; area code and
 * subscriber make ten digits. Writes +549 and those ten digits. */
static int ar_to_e164(const char *d, size_t n, bool international, char *out, size_t len)
{
    char national[16];

    if (international && n > 0 && d[0] == '9') {
        d++;
        n--;
    }
    if (n > 0 && d[0] == '0') {
        d++;
        n--;
    }
    if (n == 12) {
        size_t area = 0;
        if (d[0] == '1')
            area = 2;
        else if (is_area3(d) && at_15(d, 3))
            area = 3;
        else if (at_15(d, 4))
            area = 4;
        else if (at_15(d, 3))
            area = 3;
        if (area == 0 || !at_15(d, area))
            return BP_EINVAL;
        memcpy(national, d, area);
        memcpy(national + area, d + area + 2, n - area - 2);
        n -= 2;
    } else if (n == 10) {
        memcpy(national, d, n);
    } else {
        return BP_EINVAL;
    }
    national[n] = '\0';

    /* Area codes start with 1, 2 or 3, and the only one starting with 1 is
     * 11 (a leading 15 means the area code is missing). Subscriber numbers
     * never start with 0 or 1. */
    if (national[0] < '1' || national[0] > '3')
        return BP_EINVAL;
    if (national[0] == '1' && (national[1] != '1' || national[2] < '2'))
        return BP_EINVAL;
    if (len < 5 + n)
        return BP_EINVAL;
    memcpy(out, "+549", 4);
    memcpy(out + 4, national, n + 1);
    return 0;
}

int bp_phone_normalize(const char *in, char *out, size_t len, const char **why)
{
    char digits[24];
    size_t n = 0;
    bool plus = false;

    *why = MSG_PHONE;
    if (in == NULL || out == NULL || len < BP_PHONE_SIZE)
        return BP_EINVAL;
    out[0] = '\0';
    if (strlen(in) > 40)
        return BP_EINVAL;
    for (const char *p = in; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (bp_ascii_digit(c)) {
            if (n >= sizeof digits - 1)
                return BP_EINVAL;
            digits[n++] = (char)c;
        } else if (c == '+') {
            if (plus || n > 0)
                return BP_EINVAL;
            plus = true;
        } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' && c != '\t') {
            return BP_EINVAL;
        }
    }
    digits[n] = '\0';

    const char *d = digits;
    if (!plus && n >= 2 && d[0] == '0' && d[1] == '0') {
        plus = true; /* 00 is the international prefix dialled from Argentina */
        d += 2;
        n -= 2;
    }
    int rv;
    if (plus) {
        if (n >= 2 && d[0] == '5' && d[1] == '4') {
            rv = ar_to_e164(d + 2, n - 2, true, out, len);
        } else {
            /* Country code and number: 8 to 15 digits, as the table's check
             * constraint wants. */
            if (n < 8 || n > 15 || d[0] == '0')
                return BP_EINVAL;
            out[0] = '+';
            memcpy(out + 1, d, n + 1);
            rv = 0;
        }
    } else if ((n == 12 || n == 13) && d[0] == '5' && d[1] == '4') {
        /* +54 written without the plus; no national number starts with 5. */
        rv = ar_to_e164(d + 2, n - 2, true, out, len);
    } else {
        rv = ar_to_e164(d, n, false, out, len);
    }
    if (rv != 0)
        out[0] = '\0';
    return rv;
}

/* ---- text ----------------------------------------------------------- */

static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t min;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        min = 0x80;
        *cp = s[0] & 0x1fu;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        min = 0x800;
        *cp = s[0] & 0x0fu;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        min = 0x10000;
        *cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3fu);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return len;
}

int bp_text_normalize(const char *in, size_t max_chars, char *out, size_t len, const char **why)
{
    const char *b, *e;
    *why = MSG_TEXT_EMPTY;
    if (in == NULL || out == NULL || len == 0)
        return BP_EINVAL;
    out[0] = '\0';
    trim(in, &b, &e);
    size_t n = (size_t)(e - b);
    if (n == 0)
        return BP_EINVAL;
    size_t chars = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t step = utf8_next((const unsigned char *)b + i, n - i, &cp);
        if (step == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 || cp == 0x2029) {
            *why = MSG_TEXT_CHARS;
            return BP_EINVAL;
        }
        i += step;
        chars++;
    }
    if (chars > max_chars || n >= len) {
        *why = MSG_TEXT_LONG;
        return BP_EINVAL;
    }
    memcpy(out, b, n);
    out[n] = '\0';
    *why = NULL;
    return 0;
}
