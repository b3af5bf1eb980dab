/* Redis helpers on hiredis 0.14 with timeouts and one reconnect. */
#include "kv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bp.h"
#include "log.h"

#define KV_TIMEOUT_MS 1000

struct bp_kv {
    bp_kv_addr addr;
    int timeout_ms;
    bool quiet; /* failures are the caller's to report */
    redisContext *ctx;
};

/* Parses redis://[:password@]host[:port][/db] and
 * unix://[:password@]/path[?db=N]. */
int bp_kv_parse_url(const char *url, bp_kv_addr *kv)
{
    const char *rest;
    bool is_unix;
    if (strncmp(url, "redis://", 8) == 0) {
        rest = url + 8;
        is_unix = false;
    } else if (strncmp(url, "unix://", 7) == 0) {
        rest = url + 7;
        is_unix = true;
    } else {
        return BP_EINVAL;
    }
    const char *at = strrchr(rest, '@');
    if (at != NULL) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        const char *pw = colon != NULL ? colon + 1 : rest;
        size_t n = (size_t)(at - pw);
        if (n >= sizeof kv->password)
            return BP_EINVAL;
        memcpy(kv->password, pw, n);
        kv->password[n] = '\0';
        rest = at + 1;
    }
    char *end;
    if (is_unix) {
        const char *q = strchr(rest, '?');
        size_t n = q != NULL ? (size_t)(q - rest) : strlen(rest);
        if (n == 0 || n >= sizeof kv->host)
            return BP_EINVAL;
        memcpy(kv->host, rest, n);
        kv->host[n] = '\0';
        if (q != NULL && strncmp(q, "?db=", 4) == 0) {
            kv->db = (int)strtol(q + 4, &end, 10);
            if (*end != '\0' || kv->db < 0)
                return BP_EINVAL;
        }
        return 0;
    }
    size_t hn = strcspn(rest, ":/");
    if (hn == 0 || hn >= sizeof kv->host)
        return BP_EINVAL;
    memcpy(kv->host, rest, hn);
    kv->host[hn] = '\0';
    kv->port = 6379;
    rest += hn;
    if (*rest == ':') {
        long port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port <= 0 || port > 65535)
            return BP_EINVAL;
        kv->port = (int)port;
        rest = end;
    }
    if (*rest == '/' && rest[1] != '\0') {
        kv->db = (int)strtol(rest + 1, &end, 10);
        if (*end != '\0' || kv->db < 0)
            return BP_EINVAL;
    }
    return 0;
}

static int kv_connect(bp_kv *kv)
{
    struct timeval tv = {kv->timeout_ms / 1000, (kv->timeout_ms % 1000) * 1000};
    if (kv->ctx != NULL)
        redisFree(kv->ctx);
    kv->ctx = kv->addr.port == 0 ? redisConnectUnixWithTimeout(kv->addr.host, tv)
                                 : redisConnectWithTimeout(kv->addr.host, kv->addr.port, tv);
    if (kv->ctx == NULL || kv->ctx->err) {
        if (!kv->quiet)
            bp_log_error("cannot connect to Redis: %s",
                         kv->ctx ? kv->ctx->errstr : "out of memory");
        return BP_EIO;
    }
    redisSetTimeout(kv->ctx, tv);
    redisReply *r;
    if (kv->addr.password[0] != '\0') {
        r = redisCommand(kv->ctx, "AUTH %s", kv->addr.password);
        bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (!ok) {
            if (!kv->quiet)
                bp_log_error("Redis refused the password");
            return BP_EIO;
        }
    }
    if (kv->addr.db != 0) {
        r = redisCommand(kv->ctx, "SELECT %d", kv->addr.db);
        freeReplyObject(r);
    }
    return 0;
}

int bp_kv_new(const char *url, int timeout_ms, bool quiet, bp_kv **out)
{
    bp_kv *kv = calloc(1, sizeof *kv);
    if (kv == NULL)
        return BP_ENOMEM;
    if (bp_kv_parse_url(url, &kv->addr) != 0) {
        bp_log_error("REDIS_URL is not redis://host:port/db or unix:///path");
        free(kv);
        return BP_EINVAL;
    }
    kv->timeout_ms = timeout_ms > 0 ? timeout_ms : KV_TIMEOUT_MS;
    kv->quiet = quiet;
    *out = kv;
    return 0;
}

int bp_kv_open(const char *url, bp_kv **out)
{
    bp_kv *kv;
    int rv = bp_kv_new(url, KV_TIMEOUT_MS, false, &kv);
    if (rv != 0)
        return rv;
    if (kv_connect(kv) != 0) {
        bp_kv_close(kv);
        return BP_EIO;
    }
    *out = kv;
    return 0;
}

void bp_kv_close(bp_kv *kv)
{
    if (kv == NULL)
        return;
    if (kv->ctx != NULL)
        redisFree(kv->ctx);
    free(kv);
}

redisReply *bp_kv_command(bp_kv *kv, int argc, const char **argv, const size_t *argvlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((kv->ctx == NULL || kv->ctx->err) && kv_connect(kv) != 0)
            return NULL;
        redisReply *r = redisCommandArgv(kv->ctx, argc, argv, argvlen);
        if (r != NULL)
            return r;
    }
    return NULL;
}

int bp_kv_set_ex(bp_kv *kv, const char *key, const char *value, int ttl_s)
{
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", ttl_s);
    const char *argv[] = {"SET", key, value, "EX", ttl};
    redisReply *r = bp_kv_command(kv, 5, argv, NULL);
    int rv = (r != NULL && r->type == REDIS_REPLY_STATUS) ? 0 : BP_EIO;
    freeReplyObject(r);
    return rv;
}

int bp_kv_get(bp_kv *kv, const char *key, char *out, size_t len, int ttl_s)
{
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", ttl_s);
    const char *get[] = {"GET", key};
    const char *getex[] = {"GETEX", key, "EX", ttl};
    redisReply *r = ttl_s > 0 ? bp_kv_command(kv, 4, getex, NULL) : bp_kv_command(kv, 2, get, NULL);
    int rv;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        rv = BP_EIO;
    } else if (r->type == REDIS_REPLY_NIL) {
        rv = BP_ENOTFOUND;
    } else if (r->type == REDIS_REPLY_STRING && r->len < len) {
        memcpy(out, r->str, r->len);
        out[r->len] = '\0';
        rv = 0;
    } else {
        rv = BP_ETOOBIG;
    }
    freeReplyObject(r);
    return rv;
}

int bp_kv_del(bp_kv *kv, const char *key)
{
    const char *argv[] = {"DEL", key};
    redisReply *r = bp_kv_command(kv, 2, argv, NULL);
    int rv = (r != NULL && r->type == REDIS_REPLY_INTEGER) ? (r->integer > 0 ? 0 : BP_ENOTFOUND)
                                                           : BP_EIO;
    freeReplyObject(r);
    return rv;
}

int bp_kv_ping(bp_kv *kv)
{
    const char *argv[] = {"PING"};
    redisReply *r = bp_kv_command(kv, 1, argv, NULL);
    int rv = (r != NULL && r->type == REDIS_REPLY_STATUS) ? 0 : BP_EIO;
    freeReplyObject(r);
    return rv;
}
