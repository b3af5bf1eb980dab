/* The USD:ARS rate: Redis cache, then PostgreSQL's last known value, then one
 * locked fetch from dolarapi.com; a dead source yields the last known rate,
 * marked stale. */
#include "rates.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bp.h"
#include "config.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"

#define RATE_DEFAULT_URL  "https://dolarapi.com/v1/dolares/oficial"
#define RATE_TTL_S        3600 /* a fresh rate: the seed document's hour */
#define RATE_FAILED_TTL_S 60   /* a stale answer after a failure: spares a dead source */
#define RATE_LOCK_TTL_S   5    /* longer than one fetch, so one caller fetches at a time */
#define RATE_FETCH_MS     3000
#define RATE_BODY_MAX     (64u * 1024u)
#define RATE_WAIT_MS      (RATE_FETCH_MS + 1000) /* a caller with nothing known waits this */
#define RATE_MAX          1e9 /* no peso will be worth this little; beyond it is garbage */

static void count_lookup(const char *result)
{
    char labels[48];
    snprintf(labels, sizeof labels, "cache=\"rate\",result=\"%s\"", result);
    bp_counter_add(bp_metrics_counter("barberpro_booking_cache_lookups_total",
                                      "Cache lookups of the booking daemon, by cache and result",
                                      labels),
                   1);
}

static void count_fetch(const char *result)
{
    char labels[32];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    bp_counter_add(bp_metrics_counter("barberpro_booking_rate_fetches_total",
                                      "Fetches of the USD:ARS rate from its source, by result",
                                      labels),
                   1);
}

static void finish(booking_rate *r, int64_t now_ms, const char *served_from)
{
    r->age_s = now_ms > r->fetched_at_ms ? (now_ms - r->fetched_at_ms) / 1000 : 0;
    snprintf(r->served_from, sizeof r->served_from, "%s", served_from);
}

static bool rate_ok(double v)
{
    return isfinite(v) && v > 0 && v < RATE_MAX;
}

/* ---- Redis: "v1 <rate> <fetched_at_ms> <source_updated_ms> <stale> <source>" */

static bool decode_cached(const char *s, booking_rate *r)
{
    char source[sizeof r->source];
    int stale = 0;
    long long fetched = 0, updated = 0;
    double rate = 0;
    if (sscanf(s, "v1 %lf %lld %lld %d %47s", &rate, &fetched, &updated, &stale, source) != 5 ||
        !rate_ok(rate) || fetched <= 0 || (stale != 0 && stale != 1))
        return false;
    memset(r, 0, sizeof *r);
    r->rate = rate;
    r->fetched_at_ms = fetched;
    r->source_updated_at_ms = updated;
    r->stale = stale == 1;
    snprintf(r->source, sizeof r->source, "%s", source);
    return true;
}

static void cache_put(bp_kv *kv, const booking_rate *r, int ttl_s)
{
    if (kv == NULL)
        return;
    char value[160];
    snprintf(value, sizeof value, "v1 %.15g %lld %lld %d %s", r->rate, (long long)r->fetched_at_ms,
             (long long)r->source_updated_at_ms, r->stale ? 1 : 0, r->source);
    if (bp_kv_set_ex(kv, BOOKING_KEY_RATE, value, ttl_s) != 0)
        bp_log_warn("could not cache the exchange rate in Redis");
}

/* 0 on a hit; BP_ENOTFOUND on a miss; BP_EIO when Redis is down. */
static int cache_get(bp_kv *kv, booking_rate *r)
{
    char value[160];
    int rv = bp_kv_get(kv, BOOKING_KEY_RATE, value, sizeof value, 0);
    if (rv != 0)
        return rv == BP_ENOTFOUND ? BP_ENOTFOUND : BP_EIO;
    if (!decode_cached(value, r)) {
        bp_log_warn("ignoring an unreadable cached exchange rate");
        return BP_ENOTFOUND;
    }
    return 0;
}

/* Returns 1 when this caller holds the lock, 0 when another does, -1 when
 * Redis cannot say (then nobody coordinates and the caller fetches). */
static int lock_take(bp_kv *kv, const char *token)
{
    if (kv == NULL)
        return -1;
    char ttl[8];
    snprintf(ttl, sizeof ttl, "%d", RATE_LOCK_TTL_S);
    const char *argv[] = {"SET", BOOKING_KEY_RATE_LOCK, token, "NX", "EX", ttl};
    redisReply *rep = bp_kv_command(kv, 6, argv, NULL);
    if (rep == NULL)
        return -1;
    int rv = rep->type == REDIS_REPLY_STATUS ? 1 : rep->type == REDIS_REPLY_NIL ? 0 : -1;
    freeReplyObject(rep);
    return rv;
}

/* Deletes the lock only if it is still ours: it may have expired and been
 * taken by another caller during a slow fetch. */
static void lock_release(bp_kv *kv, const char *token)
{
    static const char script[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
        "return 0";
    const char *argv[] = {"EVAL", script, "1", BOOKING_KEY_RATE_LOCK, token};
    redisReply *rep = bp_kv_command(kv, 5, argv, NULL);
    if (rep != NULL)
        freeReplyObject(rep);
}

/* ---- PostgreSQL: the last known rate ---------------------------------------- */

/* 0 with r filled; BP_ENOTFOUND when none is known; BP_EIO. */
static int last_known(bp_db *db, booking_rate *r)
{
    const char *params[] = {BOOKING_RATE_PAIR};
    PGresult *res =
        bp_db_query(db,
                    "SELECT rate::float8, floor(extract(epoch FROM fetched_at) * 1000)::bigint, "
                    "coalesce(floor(extract(epoch FROM source_updated_at) * 1000)::bigint, 0), "
                    "source FROM booking.exchange_rates WHERE pair = $1",
                    1, params);
    int rv = BP_EIO;
    if (!bp_db_ok(res, NULL))
        goto out;
    if (PQntuples(res) == 0) {
        rv = BP_ENOTFOUND;
        goto out;
    }
    memset(r, 0, sizeof *r);
    r->rate = strtod(PQgetvalue(res, 0, 0), NULL);
    r->fetched_at_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    r->source_updated_at_ms = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    snprintf(r->source, sizeof r->source, "%s", PQgetvalue(res, 0, 3));
    rv = rate_ok(r->rate) ? 0 : BP_EIO;
out:
    PQclear(res);
    return rv;
}

static void remember(bp_db *db, const booking_rate *r)
{
    char rate[32], fetched[24], updated[24];
    snprintf(rate, sizeof rate, "%.15g", r->rate);
    snprintf(fetched, sizeof fetched, "%lld", (long long)r->fetched_at_ms);
    snprintf(updated, sizeof updated, "%lld", (long long)r->source_updated_at_ms);
    const char *params[] = {BOOKING_RATE_PAIR, rate, r->source, fetched,
                            r->source_updated_at_ms > 0 ? updated : NULL};
    /* The WHERE keeps a slower, older fetch from overwriting a newer one. */
    PGresult *res = bp_db_query(
        db,
        "INSERT INTO booking.exchange_rates (pair, rate, source, fetched_at, source_updated_at) "
        "VALUES ($1, $2::numeric, $3, to_timestamp($4::bigint / 1000.0), "
        "to_timestamp($5::bigint / 1000.0)) "
        "ON CONFLICT (pair) DO UPDATE SET rate = EXCLUDED.rate, source = EXCLUDED.source, "
        "fetched_at = EXCLUDED.fetched_at, source_updated_at = EXCLUDED.source_updated_at "
        "WHERE exchange_rates.fetched_at <= EXCLUDED.fetched_at",
        5, params);
    if (!bp_db_ok(res, NULL))
        bp_log_error("could not store the exchange rate in PostgreSQL");
    PQclear(res);
}

/* ---- the source ----------------------------------------------------------------- */

/* "2026-02-17T13:59:00.000Z" as epoch milliseconds; 0 when not that shape. */
static int64_t parse_utc(const char *s)
{
    struct tm tm = {0};
    const char *rest = s != NULL ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (rest == NULL)
        return 0;
    long ms = 0;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*rest - '0');
        for (; digits > 0 && digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(rest, "Z") != 0)
        return 0;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? 0 : (int64_t)t * 1000 + ms;
}

/* dolarapi's "casa" names the quote ("oficial"); kept to a safe token. */
static void source_name(const char *casa, char *out, size_t len)
{
    char token[24] = "oficial";
    if (casa != NULL && *casa != '\0' && strlen(casa) < sizeof token &&
        strspn(casa, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(casa))
        snprintf(token, sizeof token, "%s", casa);
    snprintf(out, len, "dolarapi:%s", token);
}

/* One GET of the source. 0 with r filled (fetched now); BP_EPROTO for an
 * answer that is not a usable quote; the transport's code otherwise. */
static int fetch(booking_rate *r)
{
    const char *url = bp_config_str("EXCHANGE_RATE_URL", RATE_DEFAULT_URL);
    static const char *const headers[] = {"Accept: application/json", NULL};
    bp_http_request req = {
        .url = url,
        .headers = headers,
        .timeout_ms = RATE_FETCH_MS,
        .max_response_bytes = RATE_BODY_MAX,
    };
    bp_http_response resp;
    int rv = bp_http_do(&req, &resp);
    if (rv != 0) {
        bp_log_warn("exchange rate source unreachable: %s", bp_strerror(rv));
        return rv;
    }
    json_t *doc = NULL;
    rv = BP_EPROTO;
    if (resp.status != 200) {
        bp_log_warn("exchange rate source answered HTTP %ld", resp.status);
        goto out;
    }
    json_error_t err;
    doc = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, &err);
    json_t *venta = json_is_object(doc) ? json_object_get(doc, "venta") : NULL;
    if (!json_is_number(venta) || !rate_ok(json_number_value(venta))) {
        bp_log_warn("exchange rate source answered no usable \"venta\"");
        goto out;
    }
    memset(r, 0, sizeof *r);
    r->rate = json_number_value(venta);
    r->fetched_at_ms = bp_now_ms();
    r->source_updated_at_ms =
        parse_utc(json_string_value(json_object_get(doc, "fechaActualizacion")));
    source_name(json_string_value(json_object_get(doc, "casa")), r->source, sizeof r->source);
    rv = 0;
out:
    json_decref(doc);
    bp_http_response_free(&resp);
    return rv;
}

/* Polls the cache while another caller fetches, when there is nothing else
 * to serve. */
static int wait_for_other(bp_kv *kv, booking_rate *out)
{
    for (int waited = 0; waited < RATE_WAIT_MS; waited += 100) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        if (cache_get(kv, out) == 0)
            return 0;
    }
    return BP_EUNAVAIL;
}

int booking_rate_get(bp_db *db, bp_kv *kv, booking_rate *out)
{
    int64_t now = bp_now_ms();
    if (kv != NULL) {
        int rv = cache_get(kv, out);
        if (rv == 0) {
            count_lookup("hit");
            finish(out, now, "cache");
            return 0;
        }
        count_lookup("miss");
        if (rv == BP_EIO)
            kv = NULL; /* Redis is down: PostgreSQL alone, no lock */
    }

    booking_rate known;
    bool have_known = last_known(db, &known) == 0;
    if (have_known && now - known.fetched_at_ms < RATE_TTL_S * 1000LL) {
        /* Another instance fetched recently, or Redis lost its copy. */
        cache_put(kv, &known, (int)(RATE_TTL_S - (now - known.fetched_at_ms) / 1000));
        *out = known;
        finish(out, now, "database");
        return 0;
    }

    char token[37];
    bp_uuid(token);
    int locked = lock_take(kv, token);
    if (locked == 0) {
        /* Someone else is fetching: the last known value will do, or wait. */
        if (have_known) {
            *out = known;
            out->stale = true;
            finish(out, now, "database");
            return 0;
        }
        int rv = wait_for_other(kv, out);
        if (rv == 0)
            finish(out, bp_now_ms(), "cache");
        return rv;
    }

    booking_rate fresh;
    int rv = fetch(&fresh);
    if (rv == 0) {
        count_fetch("ok");
        remember(db, &fresh);
        cache_put(kv, &fresh, RATE_TTL_S);
        *out = fresh;
        finish(out, fresh.fetched_at_ms, "source");
    } else {
        count_fetch("failed");
        if (have_known) {
            known.stale = true;
            cache_put(kv, &known, RATE_FAILED_TTL_S);
            *out = known;
            finish(out, bp_now_ms(), "database");
            bp_log_warn("serving the last known exchange rate, %lld s old", (long long)out->age_s);
            rv = 0;
        } else {
            bp_log_error("no exchange rate known and the source failed: %s", bp_strerror(rv));
            rv = BP_EUNAVAIL;
        }
    }
    if (locked == 1)
        lock_release(kv, token);
    return rv;
}
