/* Unit tests for the gateway's edge: TRUSTED_PROXIES and the client address
 * behind proxies, the rate-limit subjects, the RateLimit-* arithmetic, and
 * GCRA itself against the test Redis (BP_TEST_REDIS_URL). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bp.h"
#include "kv.h"
#include "metrics.h"
#include "../../gateway/gw_forwarded.h"
#include "../../gateway/gw_ratelimit.h"

static const char *client(const char *peer, const char *xff)
{
    static char out[GW_ADDR_MAX];
    gw_client_address(peer, xff, out, sizeof out);
    return out;
}

Test(forwarded, trusted_proxies_parse)
{
    cr_assert_eq(gw_trusted_configure(""), 0);
    cr_assert_not(gw_trusted("127.0.0.1"), "an empty list trusts nobody");
    cr_assert_eq(gw_trusted_configure(" 10.0.0.0/8 , 172.28.0.10,::1, 2001:db8::/32 "), 0);
    cr_assert(gw_trusted("10.200.3.4"));
    cr_assert(gw_trusted("172.28.0.10"));
    cr_assert_not(gw_trusted("172.28.0.11"));
    cr_assert(gw_trusted("::1"));
    cr_assert(gw_trusted("2001:db8:ffff::1"));
    cr_assert_not(gw_trusted("2001:db9::1"));
    cr_assert(gw_trusted("::ffff:10.1.1.1"), "an IPv4-mapped peer matches a v4 CIDR");
    cr_assert_not(gw_trusted("11.0.0.1"));
    cr_assert_not(gw_trusted("not-an-ip"));
    cr_assert_eq(gw_trusted_configure("10.1.2.3/8"), 0);
    cr_assert(gw_trusted("10.9.9.9"), "host bits are cleared");
    cr_assert_eq(gw_trusted_configure("0.0.0.0/0"), 0);
    cr_assert(gw_trusted("8.8.8.8"));

    const char *bad[] = {"10.0.0.0/33", "10.0.0/8",   "example.com", "::1/129",
                         "10.0.0.1/",   "10.0.0.1/a", "1.2.3.4/-1"};
    for (size_t i = 0; i < BP_COUNTOF(bad); i++) {
        cr_assert_eq(gw_trusted_configure(bad[i]), BP_EINVAL, "%s accepted", bad[i]);
        cr_assert_not(gw_trusted("10.0.0.1"), "a refused list leaves it empty");
    }
}

Test(forwarded, client_address_walks_from_the_right)
{
    cr_assert_eq(gw_trusted_configure("127.0.0.1, 10.0.0.0/8"), 0);
    /* An untrusted peer's header is ignored. */
    cr_assert_str_eq(client("203.0.113.9", "1.2.3.4"), "203.0.113.9");
    /* A trusted peer: the rightmost untrusted entry. */
    cr_assert_str_eq(client("127.0.0.1", "1.2.3.4"), "1.2.3.4");
    cr_assert_str_eq(client("127.0.0.1", "6.6.6.6, 1.2.3.4"), "1.2.3.4",
                     "what the client invented on the left is ignored");
    cr_assert_str_eq(client("127.0.0.1", "6.6.6.6,1.2.3.4, 10.0.0.5"), "1.2.3.4",
                     "trusted hops are skipped");
    cr_assert_str_eq(client("127.0.0.1", "10.0.0.7, 10.0.0.5"), "10.0.0.7",
                     "all trusted: the leftmost");
    cr_assert_str_eq(client("127.0.0.1", "garbage, 1.2.3.4"), "1.2.3.4");
    cr_assert_str_eq(client("127.0.0.1", "1.2.3.4, garbage"), "127.0.0.1",
                     "an unparsable hop ends the walk at the last believable address");
    cr_assert_str_eq(client("127.0.0.1", "1.2.3.4, garbage, 10.0.0.1"), "10.0.0.1");
    cr_assert_str_eq(client("127.0.0.1", ""), "127.0.0.1");
    cr_assert_str_eq(client("127.0.0.1", " , "), "127.0.0.1");
    cr_assert_str_eq(client("127.0.0.1", NULL), "127.0.0.1");
    cr_assert_str_eq(client("127.0.0.1", "2001:db8::1"), "2001:db8::1");
    cr_assert_str_eq(client("127.0.0.1", "::ffff:1.2.3.4"), "1.2.3.4", "mapped v4 shown as v4");
    cr_assert_str_eq(client("127.0.0.1", "[2001:db8::1]:443"), "127.0.0.1",
                     "a bracketed address with a port is not an address");

    char huge[8192];
    memset(huge, '9', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    cr_assert_str_eq(client("127.0.0.1", huge), "127.0.0.1");
    cr_assert_eq(gw_trusted_configure(""), 0);
    cr_assert_str_eq(client("127.0.0.1", "1.2.3.4"), "127.0.0.1", "nobody trusted");
}

Test(forwarded, subjects_group_ipv6_by_64)
{
    char out[GW_ADDR_MAX + 8];
    gw_address_subject("203.0.113.9", out, sizeof out);
    cr_assert_str_eq(out, "ip:203.0.113.9");
    gw_address_subject("2001:db8:1:2:aaaa:bbbb:cccc:dddd", out, sizeof out);
    cr_assert_str_eq(out, "ip:2001:db8:1:2::/64");
    gw_address_subject("2001:db8:1:2::9", out, sizeof out);
    cr_assert_str_eq(out, "ip:2001:db8:1:2::/64", "one subscriber, one bucket");
    gw_address_subject("unknown", out, sizeof out);
    cr_assert_str_eq(out, "ip:unknown");
}

Test(ratelimit, headers_arithmetic)
{
    gw_rate_rule rule = {200, 900000}; /* one request per 4.5 s */
    gw_rate_result r;
    gw_ratelimit_result(&rule, true, 4500, &r);
    cr_assert(r.checked && r.allowed);
    cr_assert_eq(r.limit, 200);
    cr_assert_eq(r.remaining, 199);
    cr_assert_eq(r.reset_s, 5);
    cr_assert_eq(r.retry_after_s, 0);
    gw_ratelimit_result(&rule, true, 900000, &r);
    cr_assert_eq(r.remaining, 0, "the last of the burst");
    cr_assert_eq(r.reset_s, 900);
    gw_ratelimit_result(&rule, false, 899000, &r);
    cr_assert_not(r.allowed);
    cr_assert_eq(r.remaining, 0);
    cr_assert_eq(r.retry_after_s, 4, "3.5 s until one fits, rounded up");
    gw_ratelimit_result(&rule, false, 895600, &r);
    cr_assert_eq(r.retry_after_s, 1, "never 0 on a refusal");
    gw_ratelimit_result(&rule, true, 4499.9996, &r);
    cr_assert_eq(r.remaining, 199, "millisecond rounding does not cost a request");
}

/* Configures the limiter against the test Redis with the given limits. */
static void configure(const char *api_max, const char *window_ms, const char *redis)
{
    setenv("RATE_LIMIT_ENABLED", "1", 1);
    setenv("RATE_LIMIT_MAX_REQUESTS", api_max, 1);
    setenv("RATE_LIMIT_WINDOW_MS", window_ms, 1);
    setenv("RATE_LIMIT_AUTH_MAX", "10", 1);
    setenv("REDIS_URL", redis, 1);
    gw_ratelimit_configure();
    cr_assert_eq(gw_ratelimit_start(), 0);
}

static void subject(char *out, size_t len)
{
    snprintf(out, len, "ip:unit-%d-%d", (int)getpid(), rand());
}

Test(ratelimit, gcra_in_redis_allows_a_burst_then_one_per_interval, .timeout = 30)
{
    const char *redis = getenv("BP_TEST_REDIS_URL");
    cr_assert_not_null(redis, "BP_TEST_REDIS_URL is not set");
    configure("4", "1000", redis); /* 4 per second: one every 250 ms */
    char who[64];
    subject(who, sizeof who);
    gw_rate_result r;
    for (long i = 0; i < 4; i++) {
        gw_ratelimit_check(GW_RATE_API, who, &r);
        cr_assert(r.checked && r.allowed, "request %ld", i + 1);
        cr_assert_eq(r.remaining, 3 - i);
    }
    gw_ratelimit_check(GW_RATE_API, who, &r);
    cr_assert(r.checked && !r.allowed, "the 5th in the same instant");
    cr_assert_eq(r.retry_after_s, 1);
    usleep(300 * 1000);
    gw_ratelimit_check(GW_RATE_API, who, &r);
    cr_assert(r.allowed, "one interval later, one more");
    cr_assert_eq(r.remaining, 0);
    gw_ratelimit_check(GW_RATE_API, who, &r);
    cr_assert_not(r.allowed, "and only one");

    /* Refusals do not push the bucket further: after a window it is full. */
    usleep(1100 * 1000);
    gw_ratelimit_check(GW_RATE_API, who, &r);
    cr_assert(r.allowed);
    cr_assert_eq(r.remaining, 3);

    /* Classes are separate buckets; none is not limited at all. */
    gw_ratelimit_check(GW_RATE_AUTH, who, &r);
    cr_assert(r.allowed);
    cr_assert_eq(r.limit, 10);
    gw_ratelimit_check(GW_RATE_NONE, who, &r);
    cr_assert(r.allowed && !r.checked);

    /* The bucket expires with the window: nothing is left behind. */
    bp_kv *kv;
    cr_assert_eq(bp_kv_open(redis, &kv), 0);
    char key[128];
    snprintf(key, sizeof key, "barberpro:gw:rl:api:%s", who);
    const char *argv[] = {"PTTL", key};
    redisReply *ttl = bp_kv_command(kv, 2, argv, NULL);
    cr_assert(ttl != NULL && ttl->type == REDIS_REPLY_INTEGER && ttl->integer > 0 &&
                  ttl->integer <= 1000,
              "PTTL %lld", ttl != NULL ? ttl->integer : -99);
    freeReplyObject(ttl);
    /* A flushed script cache is reloaded (EVALSHA, then EVAL). */
    const char *flush[] = {"SCRIPT", "FLUSH"};
    freeReplyObject(bp_kv_command(kv, 2, flush, NULL));
    bp_kv_close(kv);
    gw_ratelimit_check(GW_RATE_API, who, &r);
    cr_assert(r.checked, "after SCRIPT FLUSH");
    gw_ratelimit_close();
}

Test(ratelimit, fails_open_when_redis_is_gone, .timeout = 30)
{
    configure("1", "60000", "redis://127.0.0.1:1");
    char who[64];
    subject(who, sizeof who);
    gw_rate_result r;
    for (int i = 0; i < 3; i++) {
        gw_ratelimit_check(GW_RATE_API, who, &r);
        cr_assert(r.allowed && !r.checked, "request %d let through", i + 1);
    }
    char *text = bp_metrics_render(NULL);
    cr_assert_not_null(strstr(text, "barberpro_ratelimit_fail_open_total{class=\"api\"} 3"), "%s",
                       text);
    free(text);
    gw_ratelimit_close();
}

Test(ratelimit, switched_off)
{
    setenv("RATE_LIMIT_ENABLED", "0", 1);
    gw_ratelimit_configure();
    cr_assert_not(gw_ratelimit_applies(GW_RATE_API));
    gw_rate_result r;
    gw_ratelimit_check(GW_RATE_API, "ip:x", &r);
    cr_assert(r.allowed && !r.checked);
    setenv("RATE_LIMIT_ENABLED", "1", 1);
}

Test(ratelimit, huge_quotas_stay_valid_in_redis, .timeout = 30)
{
    const char *redis = getenv("BP_TEST_REDIS_URL");
    cr_assert_not_null(redis);
    configure("100000000", "1000", redis); /* one request per 10 ns */
    char who[64];
    subject(who, sizeof who);
    gw_rate_result r;
    for (int i = 0; i < 3; i++) {
        gw_ratelimit_check(GW_RATE_API, who, &r);
        cr_assert(r.checked && r.allowed, "request %d: checked %d", i + 1, r.checked);
        cr_assert_gt(r.remaining, 99999000);
    }
    gw_ratelimit_close();
}
