/* Every metric a Grafana dashboard or a Prometheus alert queries is one the
 * suite exports. tests/ops/monitoring.py reads the PromQL of
 * compose/prometheus/alerts.yml and of every dashboard JSON file of
 * compose/grafana/dashboards, and lists each metric name with the job its
 * selector names. This test makes the traffic that brings every family out
 * (most are created at their first event: a booking, a message, a payment,
 * a payment failure, a credential refusal, a request let through while
 * Redis is unreachable), scrapes
 * /api/metrics and /api/business-metrics, and fails naming each queried
 * metric that has no `# TYPE` line on the endpoint of its job
 * (barberpro-backend: /api/metrics, barberpro-business:
 * /api/business-metrics). Histogram and summary samples (_bucket, _sum,
 * _count) count as their family; the series Prometheus makes itself (up,
 * scrape_*, ALERTS) are allowed by name. It also prints, for information,
 * the exported families that no dashboard or alert uses.
 *
 * scripts/test.sh runs the binaries from the repository's root, where the
 * paths below are; one test at a time (--jobs=1): this one sets the
 * stand-ins' failure modes and leaves them answering. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bp.h"
#include "harness.h"

#define TOOL "tests/ops/monitoring.py"
#define QUERIED                                                                                    \
    "python3 " TOOL                                                                                \
    " queried --where compose/prometheus/alerts.yml compose/grafana/dashboards/*.json"
#define WAIT_MS  30000 /* the messages go out and the counters appear */
#define HOLD_S   300
#define URL_LEN  512
#define BACKEND  "barberpro-backend"
#define BUSINESS "barberpro-business"

/* Series Prometheus writes itself for every target and rule. */
static const char *const generated[] = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
};

/* The gateway this test starts (fail_open_traffic), stopped by the fini
 * even when an assertion ended the test. */
static pid_t spare_pid = -1;

static void stand_ins_ok(void)
{
    bpt_mp_mode("ok");
    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/mode?mode=ok"));
}

static void cleanup(void)
{
    if (spare_pid > 0 && bpt_gateway_stop(spare_pid) != 0)
        fprintf(stderr, "monitoring: the gateway without Redis (pid %ld) did not stop\n",
                (long)spare_pid);
    spare_pid = -1;
    stand_ins_ok();
}

TestSuite(monitoring, .init = stand_ins_ok, .fini = cleanup, .timeout = 240);

/* ---- what the dashboards and alerts query ----------------------------------------- */

typedef struct {
    char name[160];
    char job[64]; /* the selector's job="..." or "-" */
    char where[256];
} use;

typedef struct {
    use *v;
    size_t n, cap;
} uses;

/* Runs the extractor and reads its "name<TAB>job<TAB>where" lines. */
static void read_queried(uses *u)
{
    cr_assert_eq(access(TOOL, R_OK), 0,
                 "%s not found: the test runs from the repository's root (scripts/test.sh does)",
                 TOOL);
    FILE *p = popen(QUERIED, "r");
    cr_assert_not_null(p, "cannot run %s", QUERIED);
    char line[1024];
    while (fgets(line, sizeof line, p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *tab1 = strchr(line, '\t');
        char *tab2 = tab1 != NULL ? strchr(tab1 + 1, '\t') : NULL;
        if (tab2 == NULL) {
            fprintf(stderr, "monitoring: unexpected line from the extractor: %s\n", line);
            continue;
        }
        *tab1 = *tab2 = '\0';
        if (u->n == u->cap) {
            u->cap = u->cap ? u->cap * 2 : 64;
            u->v = realloc(u->v, u->cap * sizeof *u->v);
            cr_assert_not_null(u->v);
        }
        use *x = &u->v[u->n++];
        snprintf(x->name, sizeof x->name, "%.159s", line);
        snprintf(x->job, sizeof x->job, "%.63s", tab1 + 1);
        snprintf(x->where, sizeof x->where, "%.255s", tab2 + 1);
    }
    int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed (status %d; see stderr)", QUERIED,
              st);
}

/* ---- what the suite exports ---------------------------------------------------------- */

/* "name type" of every `# TYPE` line of text, added to fams. */
static void add_families(bpt_strings *fams, const char *text)
{
    for (const char *line = text; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t ll = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (ll > 7 && memcmp(line, "# TYPE ", 7) == 0) {
            char buf[256];
            snprintf(buf, sizeof buf, "%.*s", (int)(ll - 7), line + 7);
            if (!bpt_strings_has(fams, buf, strlen(buf)))
                bpt_strings_add(fams, buf, strlen(buf));
        }
        line += ll + (eol != NULL ? 1 : 0);
    }
}

/* The type of family name in fams, or NULL. */
static const char *family_type(const bpt_strings *fams, const char *name, size_t len)
{
    for (size_t i = 0; i < fams->n; i++) {
        const char *f = fams->v[i];
        if (strncmp(f, name, len) == 0 && f[len] == ' ')
            return f + len + 1;
    }
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* Whether a query of name is answered by a family of fams: the family
 * itself, or the _bucket, _sum or _count samples of a histogram (_sum and
 * _count of a summary too). */
static bool exported(const bpt_strings *fams, const char *name)
{
    if (family_type(fams, name, strlen(name)) != NULL)
        return true;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < BP_COUNTOF(suffixes); i++) {
        if (!ends_with(name, suffixes[i]))
            continue;
        const char *type = family_type(fams, name, strlen(name) - strlen(suffixes[i]));
        if (type != NULL &&
            (strcmp(type, "histogram") == 0 || (i > 0 && strcmp(type, "summary") == 0)))
            return true;
    }
    return false;
}

static bool is_generated(const char *name)
{
    for (size_t i = 0; i < BP_COUNTOF(generated); i++)
        if (strcmp(name, generated[i]) == 0)
            return true;
    return false;
}

/* The body of GET path at base (NULL: the suite's gateway); asserts a 200. */
static char *scrape(const char *base, const char *path)
{
    bpt_response *r = base != NULL ? bpt_http_at(base, "GET", path, NULL, NULL, 0)
                                   : bpt_http("GET", path, NULL, NULL, 0);
    cr_assert_not_null(r, "no answer from %s%s", base ? base : "", path);
    cr_assert_eq(r->status, 200, "%s%s answered %ld: %.300s", base ? base : "", path, r->status,
                 r->body);
    char *text = strdup(r->body);
    bpt_response_free(r);
    cr_assert_not_null(text);
    return text;
}

/* ---- the traffic that brings the families out ------------------------------------- */

/* A gateway of its own whose Redis cannot be reached: its rate limiter lets
 * requests through and counts them (barberpro_ratelimit_fail_open_total).
 * Writes its base URL into url. */
static void fail_open_traffic(char *url, size_t len)
{
    static const char *const env[] = {"REDIS_URL=redis://127.0.0.1:1", NULL};
    spare_pid = bpt_gateway_spawn("gateway-monitoring-no-redis", env, url, len);
    cr_assert(spare_pid > 0, "the gateway without Redis did not start");
    for (int i = 0; i < 3; i++) {
        bpt_response *r = bpt_http_at(url, "GET", "/api/shops", NULL, NULL, 0);
        cr_assert(r != NULL && r->status == 200, "GET /api/shops with Redis down: %ld",
                  r ? r->status : 0L);
        bpt_response_free(r);
    }
}

/* A shop and its traffic: a client with a phone books (a booking, its
 * messages; WhatsApp refuses our token once, code 190, and the message
 * falls back to SMS), reads availability (the caches), and checks a
 * deposit out while MercadoPago fails, then again once it is back, and
 * pays it. */
static void shop_traffic(void)
{
    bpt_shop f;
    cr_assert_eq(bpt_shop_new(&f), 0, "could not set up a shop (see stderr)");
    bpt_response *r =
        bpt_http_pack("PATCH", "/api/users/me", f.client.token, "{s:s}", "phone", "+5491155550909");
    cr_assert(r != NULL && r->status == 200, "PATCH phone: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);

    long day = bpt_workday(3, 0);
    cr_assert(day >= 0, "no working day within the horizon (see stderr)");
    r = bpt_availability(&f, f.corte_id, day, 1);
    cr_assert(r != NULL && r->status == 200, "availability: %ld", r ? r->status : 0L);
    bpt_response_free(r);

    json_decref(bpt_fake_json("WHATSAPP_API_URL", "POST", "/_fake/mode?code=190&count=1"));
    char at[32];
    bpt_ba_at(day, "11:00", at);
    r = bpt_book(f.client.token, &f, f.corte_id, at);
    cr_assert(r != NULL && r->status == 201, "booking: %ld %s", r ? r->status : 0L,
              r ? r->body : "");
    bpt_response_free(r);

    char booking[64], key[37], pay_id[64], url[URL_LEN];
    cr_assert_eq(bpt_book_deposit(&f, day, "14:00", HOLD_S, booking), 0,
                 "deposit booking (see stderr)");
    cr_assert_eq(bpt_mp_mode("error"), 0);
    bp_uuid(key);
    r = bpt_checkout(f.client.token, booking, key);
    cr_expect(r != NULL && r->status == 503, "checkout with MercadoPago failing: %ld %s",
              r ? r->status : 0L, r ? r->body : "");
    bpt_response_free(r);
    cr_assert_eq(bpt_mp_mode("ok"), 0);
    cr_assert_eq(bpt_checkout_open(f.client.token, booking, pay_id, url, URL_LEN), 0,
                 "checkout once MercadoPago is back (see stderr)");
    /* payments_total counts a payment reaching a status after its
     * creation: the client pays. */
    cr_assert_gt(bpt_mp_pay(url, "approved", 1), 0, "paying the preference (see stderr)");
    cr_assert_eq(bpt_wait_payment_status(f.client.token, pay_id, "approved", WAIT_MS), 0,
                 "the payment never became approved (see stderr)");
}

/* How many uses of u name a metric the families scraped from the endpoint
 * of their job do not answer; with report, each one fails the test. */
static size_t count_missing(const uses *u, const bpt_strings *metrics, const bpt_strings *business,
                            bool report)
{
    size_t missing = 0;
    for (size_t i = 0; i < u->n; i++) {
        const use *x = &u->v[i];
        if (is_generated(x->name))
            continue;
        bool ok;
        const char *where;
        if (strcmp(x->job, BACKEND) == 0) {
            ok = exported(metrics, x->name);
            where = "/api/metrics (job " BACKEND ")";
        } else if (strcmp(x->job, BUSINESS) == 0) {
            ok = exported(business, x->name);
            where = "/api/business-metrics (job " BUSINESS ")";
        } else if (strcmp(x->job, "-") == 0) {
            ok = exported(metrics, x->name) || exported(business, x->name);
            where = "either endpoint";
        } else {
            ok = false;
            where = "a job prometheus.yml does not scrape from the suite";
        }
        if (!ok) {
            missing++;
            if (report)
                cr_expect_fail("%s is queried by %s (job %s) but not exported on %s", x->name,
                               x->where, x->job, where);
        }
    }
    return missing;
}

Test(monitoring, every_metric_a_dashboard_or_alert_queries_is_exported)
{
    uses u = {0};
    read_queried(&u);
    /* The extractor found the queries: the seed's three alerts' metrics at
     * least, and a fair number in all. */
    size_t distinct = 0;
    bool has_up = false, has_latency = false, has_mp = false;
    for (size_t i = 0; i < u.n; i++) {
        distinct += i == 0 || strcmp(u.v[i].name, u.v[i - 1].name) != 0;
        has_up = has_up || strcmp(u.v[i].name, "up") == 0;
        has_latency =
            has_latency || strcmp(u.v[i].name, "http_request_duration_seconds_bucket") == 0;
        has_mp = has_mp || strcmp(u.v[i].name, "payment_failures_total") == 0;
    }
    cr_assert(has_up && has_latency && has_mp && distinct >= 20,
              "the extractor found %zu names (%zu uses), not the seed's alerts' metrics", distinct,
              u.n);
    fprintf(stderr, "monitoring: %zu metric names queried (%zu uses)\n", distinct, u.n);

    char spare[64];
    shop_traffic();
    fail_open_traffic(spare, sizeof spare);

    /* The messages go out asynchronously: scrape until every family is
     * there or WAIT_MS passed. */
    bpt_strings metrics = {0}, business = {0};
    size_t missing = 0;
    for (double t0 = bpt_now_ms();;) {
        bpt_strings_free(&metrics);
        bpt_strings_free(&business);
        char *texts[3] = {scrape(NULL, "/api/metrics"), scrape(spare, "/api/metrics"),
                          scrape(NULL, "/api/business-metrics")};
        add_families(&metrics, texts[0]);
        add_families(&metrics, texts[1]);
        add_families(&business, texts[2]);
        for (size_t i = 0; i < BP_COUNTOF(texts); i++)
            free(texts[i]);
        missing = count_missing(&u, &metrics, &business, false);
        if (missing == 0 || bpt_now_ms() - t0 > WAIT_MS)
            break;
        bpt_sleep_ms(500);
    }
    cr_expect_eq(bpt_gateway_stop(spare_pid), 0, "the gateway without Redis did not stop");
    spare_pid = -1;
    fprintf(stderr, "monitoring: /api/metrics has %zu families, /api/business-metrics %zu\n",
            metrics.n, business.n);
    count_missing(&u, &metrics, &business, true);
    cr_expect_eq(missing, 0, "%zu queried metric(s) not exported (listed above)", missing);

    /* For information: what the suite exports that nothing looks at. */
    bpt_strings *both[] = {&metrics, &business};
    size_t unused = 0;
    for (size_t k = 0; k < BP_COUNTOF(both); k++)
        for (size_t i = 0; i < both[k]->n; i++) {
            const char *f = both[k]->v[i];
            size_t len = strcspn(f, " ");
            bool queried = false;
            for (size_t j = 0; j < u.n && !queried; j++) {
                const char *q = u.v[j].name;
                queried = strncmp(q, f, len) == 0 &&
                          (q[len] == '\0' || strcmp(q + len, "_bucket") == 0 ||
                           strcmp(q + len, "_sum") == 0 || strcmp(q + len, "_count") == 0);
            }
            if (!queried) {
                if (unused == 0)
                    fprintf(stderr, "monitoring: exported, and queried by no dashboard or alert "
                                    "(information):");
                fprintf(stderr, " %.*s", (int)len, f);
                unused++;
            }
        }
    if (unused > 0)
        fprintf(stderr, "\nmonitoring: %zu families not queried\n", unused);
    bpt_strings_free(&metrics);
    bpt_strings_free(&business);
    free(u.v);
}
