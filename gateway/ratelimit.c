/* GCRA rate limits in Redis, failing open. */
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "gw_ratelimit.h"

#define KEY_PREFIX "barberpro:gw:rl:"
#define POOL_MAX   32 /* idle connections kept; more may be open at once */

/* KEYS[1] the bucket; ARGV[1] the emission interval T and ARGV[2] the
 * window W, in ms. The bucket holds the theoretical arrival time (TAT) of
 * the next request; a request is allowed when TAT + T - W <= now, and then
 * moves TAT to max(TAT, now) + T. Answers {allowed, TAT - now} with TAT - now
 * as a string (a Lua number would be truncated to an integer). */
static const char script[] = "local t = redis.call('TIME')\n"
                             "local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000\n"
                             "local T = tonumber(ARGV[1])\n"
                             "local W = tonumber(ARGV[2])\n"
                             "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
                             "if tat < now then tat = now end\n"
                             "if tat + T - W > now then return {0, tostring(tat - now)} end\n"
                             "local new = tat + T\n"
                             "redis.call('SET', KEYS[1], string.format('%.3f', new), 'PX', "
                             "math.max(1, math.ceil(new - now)))\n"
                             "return {1, tostring(new - now)}\n";

static struct {
    bool enabled;
    gw_rate_rule rules[GW_RATE_PAYMENTS + 1];
    const char *redis_url;
    char sha[41];
    pthread_mutex_t lock;
    bp_kv *idle[POOL_MAX];
    size_t n_idle;
    atomic_llong paused_until_ms; /* bp_mono_ms before which Redis is not asked */
    atomic_bool down;             /* an outage was logged and not yet its end */
} rl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void script_sha1(char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(script, sizeof script - 1, md, &n, EVP_sha1(), NULL);
    for (unsigned int i = 0; i < n && i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void gw_ratelimit_configure(void)
{
    rl.enabled = bp_config_bool("RATE_LIMIT_ENABLED", true);
    int64_t window = bp_config_int("RATE_LIMIT_WINDOW_MS", 900000, 1000, 86400000);
    rl.rules[GW_RATE_NONE] = (gw_rate_rule){0, 0};
    rl.rules[GW_RATE_API] =
        (gw_rate_rule){bp_config_int("RATE_LIMIT_MAX_REQUESTS", 200, 1, 100000000), window};
    rl.rules[GW_RATE_AUTH] =
        (gw_rate_rule){bp_config_int("RATE_LIMIT_AUTH_MAX", 10, 1, 100000000), 15 * 60 * 1000};
    rl.rules[GW_RATE_BOOKING] =
        (gw_rate_rule){bp_config_int("RATE_LIMIT_BOOKING_MAX", 50, 1, 100000000), 60 * 60 * 1000};
    rl.rules[GW_RATE_PAYMENTS] =
        (gw_rate_rule){bp_config_int("RATE_LIMIT_PAYMENTS_MAX", 20, 1, 100000000), 60 * 60 * 1000};
    if (!rl.enabled)
        return;
    rl.redis_url = bp_config_required("REDIS_URL");
    bp_kv *probe;
    if (bp_kv_new(rl.redis_url, GW_RATE_REDIS_TIMEOUT_MS, true, &probe) != 0)
        bp_config_fail("REDIS_URL", "expected redis://[:password@]host[:port][/db] or "
                                    "unix://[:password@]/path[?db=N]");
    bp_kv_close(probe);
    script_sha1(rl.sha);
}

void gw_ratelimit_close(void)
{
    pthread_mutex_lock(&rl.lock);
    for (size_t i = 0; i < rl.n_idle; i++)
        bp_kv_close(rl.idle[i]);
    rl.n_idle = 0;
    pthread_mutex_unlock(&rl.lock);
}

bool gw_ratelimit_applies(gw_rate_class c)
{
    return rl.enabled && c != GW_RATE_NONE;
}

gw_rate_rule gw_ratelimit_rule(gw_rate_class c)
{
    return rl.rules[c];
}

void gw_ratelimit_result(const gw_rate_rule *rule, bool allowed, double ahead_ms,
                         gw_rate_result *out)
{
    double t = (double)rule->window_ms / (double)rule->max;
    double w = (double)rule->window_ms;
    if (ahead_ms < 0)
        ahead_ms = 0;
    out->checked = true;
    out->allowed = allowed;
    out->limit = rule->max;
    out->remaining = 0;
    out->retry_after_s = 0;
    if (allowed) {
        /* Whole emission intervals left in the window; a little slack for
         * the millisecond rounding of the stored time. */
        double left = floor((w - ahead_ms) / t + 1e-6);
        out->remaining = left < 0 ? 0 : left > (double)rule->max ? rule->max : (long)left;
    } else {
        double wait = ahead_ms + t - w;
        out->retry_after_s = (long)ceil(wait / 1000.0);
        if (out->retry_after_s < 1)
            out->retry_after_s = 1;
    }
    out->reset_s = (long)ceil(ahead_ms / 1000.0);
}

static bp_kv *pool_take(void)
{
    bp_kv *kv = NULL;
    pthread_mutex_lock(&rl.lock);
    if (rl.n_idle > 0)
        kv = rl.idle[--rl.n_idle];
    pthread_mutex_unlock(&rl.lock);
    if (kv == NULL && bp_kv_new(rl.redis_url, GW_RATE_REDIS_TIMEOUT_MS, true, &kv) != 0)
        return NULL;
    return kv;
}

static void pool_give(bp_kv *kv)
{
    pthread_mutex_lock(&rl.lock);
    if (rl.n_idle < POOL_MAX) {
        rl.idle[rl.n_idle++] = kv;
        kv = NULL;
    }
    pthread_mutex_unlock(&rl.lock);
    bp_kv_close(kv);
}

static void count(gw_rate_class c, const char *family, const char *help, const char *result)
{
    char labels[96];
    if (result != NULL)
        snprintf(labels, sizeof labels, "class=\"%s\",result=\"%s\"", gw_rate_name(c), result);
    else
        snprintf(labels, sizeof labels, "class=\"%s\"", gw_rate_name(c));
    bp_counter_add(bp_metrics_counter(family, help, labels), 1);
}

/* A request let through unchecked. why is NULL while paused; otherwise
 * Redis just failed: pause, and log the outage once. */
static void fail_open(gw_rate_class c, const char *why)
{
    count(c, "barberpro_ratelimit_fail_open_total",
          "Requests let through unchecked because Redis could not be reached, by class.", NULL);
    if (why == NULL)
        return;
    atomic_store(&rl.paused_until_ms, bp_mono_ms() + GW_RATE_PAUSE_MS);
    if (!atomic_exchange(&rl.down, true))
        bp_log_warn("rate limiter: Redis cannot be reached (%s); requests go through unchecked "
                    "until it is back",
                    why);
}

/* Runs the script (EVALSHA, then EVAL when Redis does not have it yet). */
static redisReply *run_script(bp_kv *kv, const char *key, const char *t, const char *w)
{
    const char *argv[] = {"EVALSHA", rl.sha, "1", key, t, w};
    redisReply *r = bp_kv_command(kv, 6, argv, NULL);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        argv[0] = "EVAL";
        argv[1] = script;
        r = bp_kv_command(kv, 6, argv, NULL);
    }
    return r;
}

void gw_ratelimit_check(gw_rate_class c, const char *subject, gw_rate_result *out)
{
    memset(out, 0, sizeof *out);
    out->allowed = true;
    if (!gw_ratelimit_applies(c))
        return;
    if (bp_mono_ms() < atomic_load(&rl.paused_until_ms)) {
        fail_open(c, NULL);
        return;
    }
    const gw_rate_rule *rule = &rl.rules[c];
    char key[256], t[32], w[32];
    snprintf(key, sizeof key, KEY_PREFIX "%s:%s", gw_rate_name(c), subject);
    snprintf(t, sizeof t, "%.9g", (double)rule->window_ms / (double)rule->max);
    snprintf(w, sizeof w, "%lld", (long long)rule->window_ms);

    bp_kv *kv = pool_take();
    if (kv == NULL) {
        fail_open(c, "out of memory");
        return;
    }
    redisReply *r = run_script(kv, key, t, w);
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
              r->element[0]->type == REDIS_REPLY_INTEGER &&
              r->element[1]->type == REDIS_REPLY_STRING;
    if (!ok) {
        fail_open(c, r == NULL                      ? "no answer"
                     : r->type == REDIS_REPLY_ERROR ? r->str
                                                    : "unexpected answer");
        freeReplyObject(r);
        bp_kv_close(kv); /* a connection in an unknown state is not reused */
        return;
    }
    pool_give(kv);
    if (atomic_exchange(&rl.down, false))
        bp_log_info("rate limiter: Redis reachable again; limits apply");
    gw_ratelimit_result(rule, r->element[0]->integer == 1, strtod(r->element[1]->str, NULL), out);
    freeReplyObject(r);
    count(c, "barberpro_ratelimit_requests_total",
          "Requests checked by the rate limiter, by class and result (allowed or limited).",
          out->allowed ? "allowed" : "limited");
}
