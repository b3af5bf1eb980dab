/* What every process adds to /api/metrics beyond its own series: the
 * process_* families read from /proc, float gauges, and the PostgreSQL and
 * Redis health a daemon measures when its Metrics are collected. The
 * database tests use the test harness's PostgreSQL and Redis
 * (BP_TEST_DATABASE_URL, BP_TEST_REDIS_URL). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "db.h"
#include "kv.h"
#include "metrics.h"
#include "procstat.h"
#include "storehealth.h"

/* A /proc/<pid>/stat line of a real process, fields 1..52. */
#define STAT_TAIL                                                                                  \
    " S 1 4242 4242 0 -1 4194560 2321 0 3 0 250 130 0 0 20 0 9 0 98765 683798528 2722 "            \
    "18446744073709551615 1 1 0 0 0 0 0 4096 17475 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

Test(procstat, parses_cpu_memory_and_start_time_of_a_stat_line)
{
    static const struct {
        const char *text;
        int rv;
    } cases[] = {
        {"4242 (barberpro-gate)" STAT_TAIL, 0},
        /* A name may hold spaces and parentheses: the fields follow the last ')'. */
        {"4242 (a) b (c) 1 2)" STAT_TAIL, 0},
        {"4242 (x)", BP_EINVAL},
        {"4242 barberpro" STAT_TAIL, BP_EINVAL},
        {"4242 (x) S 1 4242 4242 0 -1 4194560 2321 0 3 0 250 130 0 0\n", BP_EINVAL},
        {"4242 (x) S 1 4242 4242 0 -1 4194560 2321 0 3 0 -250 130 0 0 20 0 9 0 98765 6 7\n",
         BP_EINVAL},
        {"4242 (x) S 1 4242 4242 0 -1 4194560 2321 0 3 0 25x 130 0 0 20 0 9 0 98765 6 7\n",
         BP_EINVAL},
        {"", BP_EINVAL},
    };
    for (size_t i = 0; i < BP_COUNTOF(cases); i++) {
        bp_procstat ps = {.cpu_seconds = -1};
        int rv = bp_procstat_parse_stat(cases[i].text, 100, 4096, 1790000000, &ps);
        cr_assert_eq(rv, cases[i].rv, "case %zu: %s", i, cases[i].text);
        if (rv != 0) {
            cr_expect_eq(ps.cpu_seconds, -1, "case %zu changed its output", i);
            continue;
        }
        cr_expect_float_eq(ps.cpu_seconds, 3.8, 1e-9, "utime 250 + stime 130 ticks");
        cr_expect_eq(ps.virtual_bytes, 683798528u);
        cr_expect_eq(ps.resident_bytes, 2722u * 4096u);
        cr_expect_float_eq(ps.start_time_seconds, 1790000000 + 987.65, 1e-6);
    }
    bp_procstat ps;
    cr_expect_eq(bp_procstat_parse_stat("1 (x)" STAT_TAIL, 0, 4096, 0, &ps), BP_EINVAL);
}

Test(procstat, finds_the_boot_time_in_proc_stat)
{
    int64_t boot = 0;
    cr_assert_eq(bp_procstat_parse_btime("cpu  1 2 3\nintr 5 6\nctxt 9\nbtime 1795800000\n"
                                         "processes 77\n",
                                         &boot),
                 0);
    cr_expect_eq(boot, 1795800000);
    cr_expect_eq(bp_procstat_parse_btime("btime 12\n", &boot), 0);
    cr_expect_eq(boot, 12);
    cr_expect_eq(bp_procstat_parse_btime("cpu 1\nprocesses 77\n", &boot), BP_EINVAL);
    cr_expect_eq(bp_procstat_parse_btime("cpu 1\nbtime soon\n", &boot), BP_EINVAL);
    cr_expect_eq(bp_procstat_parse_btime("xbtime 5\n", &boot), BP_EINVAL);
    cr_expect_eq(bp_procstat_parse_btime("", &boot), BP_EINVAL);
}

Test(procstat, reads_the_running_process)
{
    bp_procstat before, after;
    cr_assert_eq(bp_procstat_read(&before), 0);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bp_procstat_read(&after), 0);
    close(fd);
    cr_expect_eq(after.open_fds, before.open_fds + 1, "an opened descriptor is counted");
    cr_expect_geq(before.open_fds, 3);

    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_expect_eq(before.max_fds, rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur);
    cr_expect_gt(before.resident_bytes, 1024 * 1024);
    cr_expect_geq(before.virtual_bytes, before.resident_bytes);
    cr_expect_geq(before.cpu_seconds, 0);
    /* Criterion runs each test in a process of its own, started just now. */
    double now = (double)time(NULL);
    cr_expect(before.start_time_seconds > now - 120 && before.start_time_seconds < now + 2,
              "start %.2f, now %.0f", before.start_time_seconds, now);
}

Test(metrics, every_render_carries_the_process_families)
{
    char *text = bp_metrics_render("service=\"t\"");
    cr_assert_not_null(text);
    static const char *const families[][2] = {
        {"process_cpu_seconds_total", "counter"},
        {"process_resident_memory_bytes", "gauge"},
        {"process_virtual_memory_bytes", "gauge"},
        {"process_open_fds", "gauge"},
        {"process_max_fds", "gauge"},
        {"process_start_time_seconds", "gauge"},
    };
    for (size_t i = 0; i < BP_COUNTOF(families); i++) {
        char want[160];
        snprintf(want, sizeof want, "# HELP %s ", families[i][0]);
        cr_expect_not_null(strstr(text, want), "no HELP of %s in\n%s", families[i][0], text);
        snprintf(want, sizeof want, "# TYPE %s %s\n%s{service=\"t\"} ", families[i][0],
                 families[i][1], families[i][0]);
        cr_expect_not_null(strstr(text, want), "no %s sample in\n%s", families[i][0], text);
    }
    free(text);

    text = bp_metrics_render(NULL);
    cr_assert_not_null(text);
    cr_expect_not_null(strstr(text, "\nprocess_open_fds "), "%s", text);
    free(text);
}

Test(metrics, gauges_hold_fractions_and_render_as_gauges)
{
    bp_gauge *g = bp_metrics_gauge("test_ping_seconds", "Ping", NULL);
    cr_assert_not_null(g);
    cr_assert_eq(g, bp_metrics_gauge("test_ping_seconds", "Ping", NULL));
    bp_gauge_set(g, 0.25);
    bp_gauge_set(bp_metrics_gauge("test_ping_seconds", "Ping", "store=\"b\""), 1.5e-4);
    cr_expect_null(bp_metrics_counter("test_ping_seconds", "Ping", NULL), "one kind per series");
    char *text = bp_metrics_render("service=\"t\"");
    cr_assert_not_null(text);
    cr_expect_not_null(strstr(text, "# HELP test_ping_seconds Ping\n"
                                    "# TYPE test_ping_seconds gauge\n"
                                    "test_ping_seconds{service=\"t\"} 0.25\n"
                                    "test_ping_seconds{store=\"b\",service=\"t\"} 0.00015\n"),
                       "%s", text);
    free(text);
}

static const char *need(const char *var)
{
    const char *v = getenv(var);
    cr_assert(v != NULL && *v != '\0', "%s must point at the test harness's store", var);
    return v;
}

static double value_of(const char *text, const char *series)
{
    char want[128];
    snprintf(want, sizeof want, "\n%s ", series);
    const char *p = strstr(text, want);
    cr_assert_not_null(p, "no %s in\n%s", series, text);
    return strtod(p + strlen(want), NULL);
}

Test(storehealth, reachable_stores_are_up_with_their_ping_time)
{
    bp_db *db = NULL;
    bp_kv *kv = NULL;
    cr_assert_eq(bp_db_open(need("BP_TEST_DATABASE_URL"), &db), 0);
    cr_assert_eq(bp_kv_open(need("BP_TEST_REDIS_URL"), &kv), 0);
    bp_storehealth_record(db, kv);
    char *text = bp_metrics_render(NULL);
    cr_assert_not_null(text);
    cr_expect_eq(value_of(text, "barberpro_database_up"), 1);
    cr_expect_eq(value_of(text, "barberpro_redis_up"), 1);
    double db_ping = value_of(text, "barberpro_database_ping_seconds");
    double kv_ping = value_of(text, "barberpro_redis_ping_seconds");
    cr_expect(db_ping > 0 && db_ping < 5, "database ping %g s", db_ping);
    cr_expect(kv_ping > 0 && kv_ping < 5, "redis ping %g s", kv_ping);
    double conns = value_of(text, "barberpro_database_connections");
    double max = value_of(text, "barberpro_database_max_connections");
    cr_expect(conns >= 1 && conns <= max, "%g connections of %g", conns, max);
    cr_expect_not_null(strstr(text, "# TYPE barberpro_database_up gauge\n"));
    free(text);
    bp_kv_close(kv);
    bp_db_close(db);
}

Test(storehealth, an_unreachable_redis_is_down_and_nothing_else_is_reported)
{
    bp_kv *kv = NULL;
    /* Port 1 refuses at once; nothing listens there. */
    cr_assert_eq(bp_kv_new("redis://127.0.0.1:1", 500, true, &kv), 0);
    bp_storehealth_record(NULL, kv);
    char *text = bp_metrics_render(NULL);
    cr_assert_not_null(text);
    cr_expect_eq(value_of(text, "barberpro_redis_up"), 0);
    cr_expect_lt(value_of(text, "barberpro_redis_ping_seconds"), 2);
    cr_expect_null(strstr(text, "barberpro_database_"), "no database, no database series");
    free(text);
    bp_kv_close(kv);
}
