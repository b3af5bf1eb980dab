/* The small shared helpers: configuration, times, UUIDs, the arena and the
 * metrics registry. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bp.h"
#include "config.h"
#include "metrics.h"

Test(config, int_in_range_and_default)
{
    unsetenv("BP_TEST_INT");
    cr_assert_eq(bp_config_int("BP_TEST_INT", 42, 0, 100), 42);
    setenv("BP_TEST_INT", "17", 1);
    cr_assert_eq(bp_config_int("BP_TEST_INT", 42, 0, 100), 17);
}

Test(config, int_not_a_number_exits_2, .exit_code = 2)
{
    setenv("BP_TEST_INT", "12abc", 1);
    bp_config_int("BP_TEST_INT", 1, 0, 100);
}

Test(config, int_out_of_range_exits_2, .exit_code = 2)
{
    setenv("BP_TEST_INT", "1000", 1);
    bp_config_int("BP_TEST_INT", 1, 0, 100);
}

Test(config, bool_forms)
{
    static const struct {
        const char *text;
        bool want;
    } cases[] = {{"1", true},  {"true", true},   {"YES", true}, {"on", true},
                 {"0", false}, {"false", false}, {"No", false}, {"off", false}};
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        setenv("BP_TEST_BOOL", cases[i].text, 1);
        cr_assert_eq(bp_config_bool("BP_TEST_BOOL", !cases[i].want), cases[i].want, "%s",
                     cases[i].text);
    }
}

Test(config, bool_garbage_exits_2, .exit_code = 2)
{
    setenv("BP_TEST_BOOL", "maybe", 1);
    bp_config_bool("BP_TEST_BOOL", true);
}

Test(config, required_missing_exits_2, .exit_code = 2)
{
    unsetenv("BP_TEST_REQUIRED");
    bp_config_required("BP_TEST_REQUIRED");
}

Test(config, rpc_url_override_and_default)
{
    char url[256];
    setenv("AUTH_RPC_URL", "tcp://10.0.0.5:7001", 1);
    bp_config_rpc_url("auth", url, sizeof url);
    cr_assert_str_eq(url, "tcp://10.0.0.5:7001");
    unsetenv("AUTH_RPC_URL");
    setenv("BARBERPRO_RUN_DIR", "/tmp/bp-run", 1);
    bp_config_rpc_url("auth", url, sizeof url);
    cr_assert_str_eq(url, "ipc:///tmp/bp-run/auth.ipc");
}

Test(time, rfc3339_in_buenos_aires_and_a_dst_zone)
{
    char out[40];
    /* 2026-12-04T18:30:00Z */
    int64_t ms = 1796409000000LL;
    cr_assert_eq(bp_time_format(ms, "America/Argentina/Buenos_Aires", out, sizeof out), 0);
    cr_assert_str_eq(out, "2026-12-04T15:30:00-03:00");
    cr_assert_eq(bp_time_format(ms, "Europe/Madrid", out, sizeof out), 0);
    cr_assert_str_eq(out, "2026-12-04T19:30:00+01:00");
    /* Madrid in July is on summer time. */
    cr_assert_eq(bp_time_format(1783189800000LL, "Europe/Madrid", out, sizeof out), 0);
    cr_assert_str_eq(out, "2026-07-04T20:30:00+02:00");
}

Test(uuid, generated_ids_are_valid_and_distinct)
{
    char a[37], b[37];
    bp_uuid(a);
    bp_uuid(b);
    cr_assert(bp_uuid_valid(a));
    cr_assert_str_neq(a, b);
    /* Many ids (crossing a refill of the random pool) are version 4 and
     * distinct from their neighbour. */
    char prev[37] = "";
    for (int i = 0; i < 1000; i++) {
        char id[37];
        bp_uuid(id);
        cr_assert(bp_uuid_valid(id));
        cr_assert_eq(id[14], '4', "version nibble of %s", id);
        cr_assert(strchr("89ab", id[19]) != NULL, "variant of %s", id);
        cr_assert_str_neq(id, prev);
        memcpy(prev, id, sizeof id);
    }
    cr_assert_not(bp_uuid_valid("not-a-uuid"));
    cr_assert_not(bp_uuid_valid(""));
    cr_assert_not(bp_uuid_valid(NULL));
}

Test(arena, allocations_are_zeroed_aligned_and_survive_growth)
{
    bp_arena *a = bp_arena_new();
    char *first = bp_arena_strdup(a, "primero");
    for (int i = 0; i < 1000; i++) {
        void *p = bp_arena_alloc(a, (size_t)(i % 97) + 1);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % 16, 0);
    }
    unsigned char *big = bp_arena_alloc(a, 100000);
    for (int i = 0; i < 100000; i++)
        cr_assert_eq(big[i], 0);
    cr_assert_str_eq(first, "primero");
    cr_assert_str_eq(bp_arena_printf(a, "%s-%d", "turno", 7), "turno-7");
    bp_arena_reset(a);
    cr_assert_not_null(bp_arena_alloc(a, 10));
    bp_arena_free(a);
}

Test(metrics, counters_and_histograms_render_as_prometheus_text)
{
    bp_counter *c = bp_metrics_counter("test_things_total", "Things", "kind=\"a\"");
    cr_assert_eq(c, bp_metrics_counter("test_things_total", "Things", "kind=\"a\""));
    bp_counter_add(c, 3);
    bp_histogram *h = bp_metrics_histogram("test_latency_seconds", "Latency", NULL, NULL, 0);
    bp_histogram_observe(h, 0.003);
    bp_histogram_observe(h, 7);
    char *text = bp_metrics_render("service=\"t\"");
    cr_assert_not_null(strstr(text, "# TYPE test_things_total counter\n"));
    cr_assert_not_null(strstr(text, "test_things_total{kind=\"a\",service=\"t\"} 3\n"));
    cr_assert_not_null(strstr(text, "# TYPE test_latency_seconds histogram\n"));
    cr_assert_not_null(
        strstr(text, "test_latency_seconds_bucket{service=\"t\",le=\"0.0025\"} 0\n"));
    cr_assert_not_null(strstr(text, "test_latency_seconds_bucket{service=\"t\",le=\"0.005\"} 1\n"));
    cr_assert_not_null(strstr(text, "test_latency_seconds_bucket{service=\"t\",le=\"+Inf\"} 2\n"));
    cr_assert_not_null(strstr(text, "test_latency_seconds_count{service=\"t\"} 2\n"));
    free(text);
}

Test(metrics, label_values_are_escaped)
{
    char out[64];
    bp_metrics_escape("a\"b\\c\nd", out, sizeof out);
    cr_assert_str_eq(out, "a\\\"b\\\\c\\nd");
}

Test(compare, constant_time_compare)
{
    cr_assert_eq(bp_ct_compare("abcdef", "abcdef", 6), 0);
    cr_assert_neq(bp_ct_compare("abcdef", "abcdeg", 6), 0);
}
