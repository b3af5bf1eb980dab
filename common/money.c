/* es-AR money display and percentage arithmetic on integer centavos. */
#include "money.h"

#include "bp.h"

#include <string.h>

int bp_money_format(int64_t cents, const char *currency, char *out, size_t len)
{
    if (out == NULL || currency == NULL || strlen(currency) != 3)
        return BP_EINVAL;
    for (int i = 0; i < 3; i++)
        if (currency[i] < 'A' || currency[i] > 'Z')
            return BP_EINVAL;
    const char *symbol = currency;
    if (strcmp(currency, "ARS") == 0)
        symbol = "$";
    else if (strcmp(currency, "USD") == 0)
        symbol = "US$";

    /* The magnitude as unsigned, so that INT64_MIN needs no negation. */
    uint64_t mag = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
    uint64_t units = mag / 100;
    unsigned frac = (unsigned)(mag % 100);

    /* Built right to left: "d.ddd.ddd,cc". */
    char digits[40];
    size_t pos = sizeof digits;
    digits[--pos] = (char)('0' + frac % 10);
    digits[--pos] = (char)('0' + frac / 10);
    digits[--pos] = ',';
    int group = 0;
    do {
        if (group == 3) {
            digits[--pos] = '.';
            group = 0;
        }
        digits[--pos] = (char)('0' + units % 10);
        units /= 10;
        group++;
    } while (units > 0);

    size_t nsign = cents < 0 ? 1 : 0, nsym = strlen(symbol), ndig = sizeof digits - pos;
    size_t need = nsign + nsym + 1 + ndig;
    if (len <= need) {
        if (len > 0)
            out[0] = '\0';
        return BP_ETOOBIG;
    }
    char *p = out;
    if (nsign)
        *p++ = '-';
    memcpy(p, symbol, nsym);
    p += nsym;
    *p++ = ' ';
    memcpy(p, digits + pos, ndig);
    p[ndig] = '\0';
    return BP_OK;
}

int64_t bp_money_apply_percent(int64_t cents, int32_t basis_points)
{
    /* |cents * bp| < 2^63 * 2^31 fits in 128 bits. */
    __int128 product = (__int128)cents * basis_points;
    __int128 q = product / 10000, r = product % 10000;
    if (r >= 5000)
        q++;
    else if (r <= -5000)
        q--;
    if (q > INT64_MAX || q < INT64_MIN)
        return -1;
    return (int64_t)q;
}
