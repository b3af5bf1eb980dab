/* Money in integer centavos: es-AR display and percentage arithmetic. */
#ifndef BP_MONEY_H
#define BP_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* Writes cents of an ISO 4217 currency (three upper-case letters) in es-AR
 * form into out (len bytes, always NUL-terminated when len > 0): ARS as
 * "$ 15.000,00", USD as "US$ 1.234,56", any other code as "EUR 1.234,56";
 * negatives as "-$ 15.000,00". Dots group thousands, a comma precedes the
 * two decimals. Every int64 value, INT64_MIN included, is accepted. Returns
 * 0, BP_EINVAL for a NULL out or a malformed currency, or BP_ETOOBIG when
 * the text does not fit (out is then ""). 32 bytes always suffice. */
int bp_money_format(int64_t cents, const char *currency, char *out, size_t len);

/* Returns cents * basis_points / 10000 rounded half away from zero to whole
 * centavos: a deposit of 30 % is bp_money_apply_percent(price, 3000), a 15 %
 * raise bp_money_apply_percent(price, 11500). With non-negative arguments the
 * result is non-negative, and -1 means it would not fit in int64. Negative
 * arguments are computed the same way, but there -1 is also a real result:
 * callers with signed amounts must bound them first. */
int64_t bp_money_apply_percent(int64_t cents, int32_t basis_points);

#endif
