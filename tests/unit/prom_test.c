/* Unit tests for common/prom.c: Prometheus text written by hand, as the
 * daemons' business metrics write it. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>

#include "prom.h"

/* What b holds, taken out of it (the caller frees). */
static char *take(bp_strbuf *b)
{
    char *s = bp_strbuf_take(b);
    cr_assert_not_null(s);
    return s;
}

Test(prom, family_lines_escape_the_help_text)
{
    bp_strbuf b = {0};
    bp_prom_family(&b, "barberpro_business_bookings", "gauge", "Line one\nback\\slash \"q\"");
    char *s = take(&b);
    cr_expect_str_eq(s, "# HELP barberpro_business_bookings Line one\\nback\\\\slash \"q\"\n"
                        "# TYPE barberpro_business_bookings gauge\n");
    free(s);
}

Test(prom, samples_with_and_without_labels)
{
    bp_strbuf b = {0};
    bp_prom_int(&b, "barberpro_business_bookings_created_total", NULL, 42);
    const char *one[] = {"status", "confirmed", NULL};
    bp_prom_int(&b, "barberpro_business_bookings", one, -3);
    const char *two[] = {"channel", "whatsapp", "status", "read", NULL};
    bp_prom_int(&b, "barberpro_business_notifications", two, INT64_MAX);
    const char *none[] = {NULL};
    bp_prom_int(&b, "x", none, 0);
    char *s = take(&b);
    cr_expect_str_eq(s, "barberpro_business_bookings_created_total 42\n"
                        "barberpro_business_bookings{status=\"confirmed\"} -3\n"
                        "barberpro_business_notifications{channel=\"whatsapp\",status=\"read\"} "
                        "9223372036854775807\n"
                        "x 0\n");
    free(s);
}

Test(prom, label_values_are_escaped)
{
    bp_strbuf b = {0};
    const char *labels[] = {"status", "a\"b\\c\nd", NULL};
    bp_prom_int(&b, "m", labels, 1);
    char *s = take(&b);
    cr_expect_str_eq(s, "m{status=\"a\\\"b\\\\c\\nd\"} 1\n");
    free(s);
}

Test(prom, real_values_round_trip_and_special_values_are_spelled_out)
{
    bp_strbuf b = {0};
    const char *w[] = {"window", "today", NULL};
    bp_prom_real(&b, "r", w, 0.1);
    bp_prom_real(&b, "r", NULL, NAN);
    bp_prom_real(&b, "r", NULL, INFINITY);
    bp_prom_real(&b, "r", NULL, -INFINITY);
    bp_prom_real(&b, "r", NULL, 0.5);
    char *s = take(&b);
    cr_expect_str_eq(s, "r{window=\"today\"} 0.10000000000000001\n"
                        "r NaN\n"
                        "r +Inf\n"
                        "r -Inf\n"
                        "r 0.5\n");
    free(s);
}
