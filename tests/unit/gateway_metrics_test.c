/* Unit tests for the merge behind /api/metrics: every metric family once,
 * whatever the number of daemons that export it. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "../../gateway/gw_promtext.h"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(gateway_metrics, families_shared_by_daemons_appear_once)
{
    const char *auth = "# HELP barberpro_rpc_requests_total Calls.\n"
                       "# TYPE barberpro_rpc_requests_total counter\n"
                       "barberpro_rpc_requests_total{service=\"auth\",method=\"Login\"} 3\n"
                       "# HELP barberpro_rpc_duration_seconds Time.\n"
                       "# TYPE barberpro_rpc_duration_seconds histogram\n"
                       "barberpro_rpc_duration_seconds_bucket{service=\"auth\",le=\"+Inf\"} 3\n"
                       "barberpro_rpc_duration_seconds_sum{service=\"auth\"} 0.5\n"
                       "barberpro_rpc_duration_seconds_count{service=\"auth\"} 3\n";
    const char *booking =
        "# HELP barberpro_rpc_requests_total Calls.\r\n"
        "# TYPE barberpro_rpc_requests_total counter\r\n"
        "barberpro_rpc_requests_total{service=\"booking\",method=\"Health\"} 1\r\n"
        "# HELP barberpro_rpc_duration_seconds Time.\n"
        "# TYPE barberpro_rpc_duration_seconds histogram\n"
        "barberpro_rpc_duration_seconds_bucket{service=\"booking\",le=\"+Inf\"} 1\n"
        "barberpro_rpc_duration_seconds_sum{service=\"booking\"} 0.1\n"
        "barberpro_rpc_duration_seconds_count{service=\"booking\"} 1\n"
        "# a comment\n"
        "\n"
        "booking_untyped 7\n";
    const char *docs[] = {auth, NULL, booking};

    char *out = gw_prom_merge(docs, BP_COUNTOF(docs));
    cr_assert_not_null(out);
    cr_expect_eq(count(out, "# TYPE barberpro_rpc_requests_total counter\n"), 1, "%s", out);
    cr_expect_eq(count(out, "# HELP barberpro_rpc_requests_total "), 1);
    cr_expect_eq(count(out, "# TYPE barberpro_rpc_duration_seconds histogram\n"), 1);
    cr_expect_eq(count(out, "\r"), 0);
    cr_expect_eq(count(out, "# a comment"), 0);
    cr_expect_eq(count(out, "booking_untyped 7\n"), 1);

    /* Each family's samples follow its TYPE line, in document order. */
    const char *type = strstr(out, "# TYPE barberpro_rpc_requests_total");
    const char *a = strstr(out, "barberpro_rpc_requests_total{service=\"auth\"");
    const char *b = strstr(out, "barberpro_rpc_requests_total{service=\"booking\"");
    const char *hist = strstr(out, "# HELP barberpro_rpc_duration_seconds");
    cr_assert(type && a && b && hist);
    cr_expect(type < a && a < b && b < hist, "%s", out);
    const char *hb = strstr(out, "barberpro_rpc_duration_seconds_count{service=\"booking\"}");
    cr_expect(hb > hist);
    free(out);
}

Test(gateway_metrics, samples_without_type_lines_group_by_name)
{
    const char *one = "x_total 1\ny 2\n";
    const char *two = "# TYPE x_total counter\nx_total{a=\"b\"} 3\n";
    const char *docs[] = {one, two};
    char *out = gw_prom_merge(docs, 2);
    cr_assert_not_null(out);
    cr_expect_str_eq(out, "# TYPE x_total counter\nx_total 1\nx_total{a=\"b\"} 3\ny 2\n");
    free(out);

    const char *none[] = {NULL, ""};
    out = gw_prom_merge(none, 2);
    cr_assert_not_null(out);
    cr_expect_str_eq(out, "");
    free(out);
}

Test(gateway_metrics, instances_of_one_daemon_stay_apart_by_their_label)
{
    /* Two booking instances export the same series: each gets its own
     * bus_address, whatever shape its label set has. */
    const char *one = "# TYPE barberpro_rpc_requests_total counter\n"
                      "barberpro_rpc_requests_total{service=\"booking\",method=\"A}\"} 3\n"
                      "plain_gauge 1\n"
                      "empty_set{} 2\n"
                      "trailing_comma{a=\"1\",} 4\n";
    const char *two = "barberpro_rpc_requests_total{service=\"booking\",method=\"A}\"} 5\n";
    const char *docs[] = {one, two, "own_series 9\n"};
    const char *labels[] = {"bus_address=\"tcp://h1:7102\"", "bus_address=\"tcp://h2:7102\"", NULL};
    char *out = gw_prom_merge_labelled(docs, labels, BP_COUNTOF(docs));
    cr_assert_not_null(out);
    cr_expect_str_eq(out, "# TYPE barberpro_rpc_requests_total counter\n"
                          "barberpro_rpc_requests_total{service=\"booking\",method=\"A}\","
                          "bus_address=\"tcp://h1:7102\"} 3\n"
                          "barberpro_rpc_requests_total{service=\"booking\",method=\"A}\","
                          "bus_address=\"tcp://h2:7102\"} 5\n"
                          "plain_gauge{bus_address=\"tcp://h1:7102\"} 1\n"
                          "empty_set{bus_address=\"tcp://h1:7102\"} 2\n"
                          "trailing_comma{a=\"1\",bus_address=\"tcp://h1:7102\"} 4\n"
                          "own_series 9\n");
    free(out);
}
