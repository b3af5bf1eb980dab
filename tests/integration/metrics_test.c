/* GET /api/metrics as Prometheus scrapes it: text that `promtool check
 * metrics` finds nothing wrong with, every family once with its HELP and
 * TYPE, the process_* families of the gateway and of every daemon, each
 * daemon's PostgreSQL and Redis health, the 200 ms SLA bucket, and route
 * labels that are patterns, never raw paths. scripts/test.sh runs this
 * binary with --jobs=1: one test stops a daemon. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "harness.h"

extern char **environ;

static const char *const daemons[] = {"auth", "booking", "payment", "notification", "backup"};
/* The daemons with use_kv: the others hold no Redis connection. */
static const char *const redis_daemons[] = {"auth", "booking", "backup"};

/* The body of GET /api/metrics (the caller frees it); asserts a 200 in the
 * Prometheus text format. */
static char *fetch_metrics(void)
{
    bpt_response *r = bpt_http("GET", "/api/metrics", NULL, NULL, 0);
    cr_assert_not_null(r, "no answer from /api/metrics");
    cr_assert_eq(r->status, 200, "/api/metrics answered %ld: %s", r->status, r->body);
    const char *type = bpt_header(r, "Content-Type");
    cr_assert(type != NULL && strncmp(type, "text/plain; version=0.0.4", 25) == 0,
              "Content-Type %s", type ? type : "(none)");
    char *text = strdup(r->body);
    bpt_response_free(r);
    cr_assert_not_null(text);
    return text;
}

/* ---- promtool ---------------------------------------------------------------- */

/* Asserts that promtool finds no problem in text; takes ownership of text
 * (freed before any assertion, so that a failure leaks nothing). */
static void assert_promtool_clean(char *text)
{
    char out[16384];
    int st = bpt_promtool_check(text, out, sizeof out);
    free(text);
    cr_assert_neq(st, -2,
                  "promtool is not installed (scripts/deps.sh installs the Debian "
                  "package prometheus)");
    cr_assert_neq(st, -1, "promtool check metrics could not be run");
    cr_assert_eq(st, 0, "promtool check metrics exited with %d:\n%s", st, out);
}

/* ---- the exposition's shape ---------------------------------------------------- */

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *p, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);
    return len >= sl && memcmp(p + len - sl, suffix, sl) == 0;
}

/* A sample called name[0..len) belongs to family fam of type type. */
static bool in_family(const char *name, size_t len, const char *fam, const char *type)
{
    size_t fl = strlen(fam);
    if (len < fl || memcmp(name, fam, fl) != 0)
        return false;
    if (len == fl)
        return true;
    if (strcmp(type, "histogram") != 0)
        return false;
    const char *rest = name + fl;
    size_t rl = len - fl;
    return (rl == 7 && memcmp(rest, "_bucket", 7) == 0) ||
           (rl == 4 && memcmp(rest, "_sum", 4) == 0) || (rl == 6 && memcmp(rest, "_count", 6) == 0);
}

/* The length of the series (name and labels) of a sample line of ll bytes
 * whose name is nl bytes: up to the '}' that closes the labels, skipping
 * quoted values (a route holds braces), or the name alone; 0 when the
 * labels do not close. */
static size_t series_len(const char *line, size_t ll, size_t nl)
{
    if (nl >= ll || line[nl] != '{')
        return nl;
    bool quoted = false;
    for (size_t i = nl + 1; i < ll; i++) {
        if (quoted && line[i] == '\\')
            i++;
        else if (line[i] == '"')
            quoted = !quoted;
        else if (!quoted && line[i] == '}')
            return i + 1;
    }
    return 0;
}

/* Checks what promtool 2.42 lets pass: every family has exactly one HELP
 * line directly followed by one TYPE line, before its samples; a family's
 * samples are not split by another family; no series appears twice; only
 * counters end in _total. Writes the first problem into why; returns 0 or
 * -1. */
static int check_families(const char *text, char *why, size_t len)
{
    bpt_strings helps = {0}, types = {0}, series = {0};
    char fam[256] = "", type[32] = "", last_help[256] = "";
    int rv = 0;
    for (const char *line = text; *line != '\0' && rv == 0;) {
        const char *eol = strchr(line, '\n');
        size_t ll = eol != NULL ? (size_t)(eol - line) : strlen(line);
        const char *next = line + ll + (eol != NULL ? 1 : 0);
        if (ll == 0) {
            line = next;
            continue;
        }
        bool help = ll > 7 && memcmp(line, "# HELP ", 7) == 0;
        bool is_type = ll > 7 && memcmp(line, "# TYPE ", 7) == 0;
        if (help || is_type) {
            const char *name = line + 7;
            size_t nl = strcspn(name, " \n");
            bpt_strings *seen = help ? &helps : &types;
            if (bpt_strings_has(seen, name, nl) || nl >= sizeof fam) {
                snprintf(why, len, "a second %s line for %.*s", help ? "HELP" : "TYPE", (int)nl,
                         name);
                rv = -1;
            } else if (help) {
                bpt_strings_add(seen, name, nl);
                snprintf(last_help, sizeof last_help, "%.*s", (int)nl, name);
            } else if (strlen(last_help) != nl || memcmp(last_help, name, nl) != 0) {
                snprintf(why, len, "the TYPE line of %.*s does not follow its HELP line", (int)nl,
                         name);
                rv = -1;
            } else {
                bpt_strings_add(seen, name, nl);
                snprintf(fam, sizeof fam, "%.*s", (int)nl, name);
                snprintf(type, sizeof type, "%.*s", (int)strcspn(name + nl + 1, " \n"),
                         name + nl + 1);
                bool total = ends_with(fam, nl, "_total");
                if (total != (strcmp(type, "counter") == 0)) {
                    snprintf(why, len, "%s is a %s %s _total", fam, type,
                             total ? "ending in" : "not ending in");
                    rv = -1;
                }
            }
            line = next;
            continue;
        }
        if (line[0] == '#') {
            line = next;
            continue;
        }
        size_t nl = strcspn(line, "{ \n");
        if (fam[0] == '\0' || !in_family(line, nl, fam, type)) {
            snprintf(why, len, "the sample %.*s is not in the block of its family (inside %s)",
                     (int)ll, line, fam[0] != '\0' ? fam : "no family");
            rv = -1;
            break;
        }
        size_t key = series_len(line, ll, nl);
        if (key == 0) {
            snprintf(why, len, "the labels of %.*s do not close", (int)ll, line);
            rv = -1;
            break;
        }
        bpt_strings_add(&series, line, key);
        line = next;
    }
    if (rv == 0 && types.n == 0) {
        snprintf(why, len, "no family at all");
        rv = -1;
    }
    if (rv == 0 && series.n > 0) {
        qsort(series.v, series.n, sizeof *series.v, by_string);
        for (size_t i = 1; i < series.n && rv == 0; i++)
            if (strcmp(series.v[i - 1], series.v[i]) == 0) {
                snprintf(why, len, "the series %s appears twice", series.v[i]);
                rv = -1;
            }
    }
    bpt_strings_free(&helps);
    bpt_strings_free(&types);
    bpt_strings_free(&series);
    return rv;
}

static void assert_families_once(const char *text)
{
    char why[512];
    cr_assert_eq(check_families(text, why, sizeof why), 0, "%s in\n%s", why, text);
}

/* The value of name{service="<service>"} in text, or -1 when absent. */
static double of_service(const char *text, const char *name, const char *service)
{
    char label[64];
    snprintf(label, sizeof label, "service=\"%s\"", service);
    const char *const labels[] = {label, NULL};
    return bpt_metric_sum(text, name, labels);
}

/* The start of process pid in seconds since the epoch, computed here from
 * /proc/<pid>/stat and /proc/stat without the code under test; -1 when it
 * cannot be read. */
static double start_time_of(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *fields = strrchr(buf, ')');
    unsigned long long start_ticks;
    if (fields == NULL ||
        sscanf(fields + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &start_ticks) != 1)
        return -1;
    f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    long long btime = -1;
    char line[256];
    while (btime < 0 && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "btime %lld", &btime) != 1)
            btime = -1;
    fclose(f);
    return btime < 0 ? -1 : (double)btime + (double)start_ticks / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the tests ------------------------------------------------------------------ */

Test(metrics, promtool_finds_no_problem_in_the_live_text, .timeout = 60)
{
    /* Some traffic first, so that every kind of family has samples. */
    bpt_response *r = bpt_http("GET", "/api/health", NULL, NULL, 0);
    bpt_response_free(r);
    r = bpt_http("GET", "/api/no-such-route", NULL, NULL, 0);
    bpt_response_free(r);
    assert_promtool_clean(fetch_metrics());
}

Test(metrics, every_family_appears_once_with_help_and_type, .timeout = 60)
{
    char *text = fetch_metrics();
    assert_families_once(text);
    /* The families that were there before process and store health. */
    static const char *const kept[] = {
        "# TYPE http_request_duration_seconds histogram\n",
        "# TYPE http_requests_total counter\n",
        "# TYPE barberpro_service_up gauge\n",
        "# TYPE barberpro_rpc_requests_total counter\n",
        "# TYPE barberpro_rpc_duration_seconds histogram\n",
        "# TYPE barberpro_events_pending gauge\n",
    };
    for (size_t i = 0; i < BP_COUNTOF(kept); i++)
        cr_expect_not_null(strstr(text, kept[i]), "missing %s", kept[i]);
    for (size_t i = 0; i < BP_COUNTOF(daemons); i++)
        cr_expect_eq(of_service(text, "barberpro_service_up", daemons[i]), 1, "%s is not up",
                     daemons[i]);
    free(text);
}

Test(metrics, latency_has_the_sla_bucket_and_routes_are_patterns, .timeout = 60)
{
    char id[37];
    bp_uuid(id);
    char path[96];
    snprintf(path, sizeof path, "/api/shops/%s", id);
    bpt_response *r = bpt_http("GET", path, NULL, NULL, 0);
    cr_assert_not_null(r);
    long status = r->status;
    bpt_response_free(r);
    cr_assert_eq(status, 404, "an unknown shop answered %ld", status);

    char *text = fetch_metrics();
    cr_expect_null(strstr(text, id), "the raw path of a request is in the metrics");
    const char *const route[] = {"route=\"/api/shops/{shop_id}\"", "method=\"GET\"",
                                 "status=\"404\"", "service=\"gateway\"", NULL};
    cr_expect_geq(bpt_metric_sum(text, "http_requests_total", route), 1, "%s", text);
    const char *const sla[] = {"route=\"/api/shops/{shop_id}\"", "status=\"404\"", "le=\"0.2\"",
                               NULL};
    const char *const inf[] = {"route=\"/api/shops/{shop_id}\"", "status=\"404\"", "le=\"+Inf\"",
                               NULL};
    double within = bpt_metric_sum(text, "http_request_duration_seconds_bucket", sla);
    double all = bpt_metric_sum(text, "http_request_duration_seconds_bucket", inf);
    cr_expect_geq(within, 0, "no le=\"0.2\" bucket (the 200 ms SLA) in\n%s", text);
    cr_expect(all >= 1 && within <= all, "0.2 s bucket %g, +Inf %g", within, all);
    free(text);
}

Test(metrics, every_process_reports_cpu_memory_and_descriptors, .timeout = 60)
{
    char *text = fetch_metrics();
    const char *procs[BP_COUNTOF(daemons) + 1] = {"gateway"};
    for (size_t i = 0; i < BP_COUNTOF(daemons); i++)
        procs[i + 1] = daemons[i];
    for (size_t i = 0; i < BP_COUNTOF(procs); i++) {
        const char *p = procs[i];
        double rss = of_service(text, "process_resident_memory_bytes", p);
        double vsz = of_service(text, "process_virtual_memory_bytes", p);
        double cpu = of_service(text, "process_cpu_seconds_total", p);
        double fds = of_service(text, "process_open_fds", p);
        double max = of_service(text, "process_max_fds", p);
        double start = of_service(text, "process_start_time_seconds", p);
        cr_expect_gt(rss, 1024 * 1024, "%s: resident memory %g", p, rss);
        cr_expect_geq(vsz, rss, "%s: virtual memory %g", p, vsz);
        cr_expect_geq(cpu, 0, "%s: no CPU seconds", p);
        cr_expect(fds >= 3 && fds <= max, "%s: %g descriptors of %g", p, fds, max);
        /* The series is about that very process: its start time as the
         * kernel tells it (both in whole clock ticks). */
        double real = start_time_of(bpt_daemon_pid(p));
        cr_expect_geq(real, 0, "%s: cannot read its /proc entry", p);
        cr_expect(start > real - 0.015 && start < real + 0.015, "%s: start %.2f, kernel says %.2f",
                  p, start, real);
    }
    free(text);
}

Test(metrics, each_daemon_reports_its_database_and_redis, .timeout = 60)
{
    char *text = fetch_metrics();
    for (size_t i = 0; i < BP_COUNTOF(daemons); i++) {
        const char *d = daemons[i];
        cr_expect_eq(of_service(text, "barberpro_database_up", d), 1, "%s: database not up", d);
        double ping = of_service(text, "barberpro_database_ping_seconds", d);
        cr_expect(ping > 0 && ping < 1, "%s: database ping %g s", d, ping);
        double conns = of_service(text, "barberpro_database_connections", d);
        double max = of_service(text, "barberpro_database_max_connections", d);
        cr_expect(conns >= 1 && conns <= max, "%s: %g connections of %g", d, conns, max);
    }
    for (size_t i = 0; i < BP_COUNTOF(redis_daemons); i++) {
        const char *d = redis_daemons[i];
        cr_expect_eq(of_service(text, "barberpro_redis_up", d), 1, "%s: redis not up", d);
        double ping = of_service(text, "barberpro_redis_ping_seconds", d);
        cr_expect(ping > 0 && ping < 1, "%s: redis ping %g s", d, ping);
    }
    cr_expect_lt(of_service(text, "barberpro_database_up", "gateway"), 0,
                 "the gateway has no database");
    free(text);
}

Test(metrics, a_hung_daemon_is_down_and_the_text_stays_valid, .timeout = 60)
{
    cr_assert_eq(bpt_daemon_stop("backup"), 0);
    bpt_response *r = bpt_http("GET", "/api/metrics", NULL, NULL, 0);
    cr_assert_eq(bpt_daemon_cont("backup"), 0);
    cr_assert_not_null(r);
    cr_assert_eq(r->status, 200, "%ld %s", r->status, r->body);
    cr_expect_eq(of_service(r->body, "barberpro_service_up", "backup"), 0);
    cr_expect_lt(of_service(r->body, "process_resident_memory_bytes", "backup"), 0,
                 "a daemon that did not answer has no series");
    cr_expect_gt(of_service(r->body, "process_resident_memory_bytes", "auth"), 0);
    assert_families_once(r->body);
    char *text = strdup(r->body);
    bpt_response_free(r);
    cr_assert_not_null(text);

    /* Leave the suite as found: the backup daemon answering again. */
    double deadline = bpt_now_ms() + 10000;
    double up = 0;
    while (up != 1 && bpt_now_ms() < deadline) {
        char *again = fetch_metrics();
        up = of_service(again, "barberpro_service_up", "backup");
        free(again);
        if (up != 1)
            bpt_sleep_ms(200);
    }
    cr_expect_eq(up, 1, "the backup daemon did not come back");
    assert_promtool_clean(text);
}
