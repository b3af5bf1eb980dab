/* GCRA rate limits in Redis, failing open. One thread of the limiter's own
 * owns an asynchronous hiredis connection: callers queue their checks and
 * go on, the thread sends them pipelined, and each verdict is handed to the
 * caller's continuation on that thread. No HTTP thread ever waits for
 * Redis. */
#include <hiredis/async.h>
#include <math.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
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
#define KEY_MAX    256
#define POLL_MS    10 /* the thread's tick: timeouts and stop are noticed within it */

/* One queued or sent check. */
typedef struct check {
    struct check *next;
    gw_rate_class c;
    char key[KEY_MAX];
    gw_rate_done done;
    void *arg;
    int64_t sent_ms; /* bp_mono_ms when handed to hiredis */
    bool retried;    /* EVAL after a NOSCRIPT */
} check;

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
    bp_kv_addr addr;
    char sha[41];
    /* The queue from callers to the thread: one check per suspended
     * request at most, so the connection limit bounds it. */
    pthread_mutex_t lock;
    check *queue_head, *queue_tail;
    int wake_fd; /* eventfd: the queue has work, or stop */
    bool stop;
    bool running;
    pthread_t thread;
    /* The thread's own. */
    redisAsyncContext *ac;
    bool want_read, want_write;
    check *sent_head, *sent_tail; /* in the order sent: replies come in it */
    int64_t paused_until_ms;      /* bp_mono_ms before which Redis is not asked */
    bool down;                    /* an outage was logged and not yet its end */
} rl = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1};

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
    memset(&rl.addr, 0, sizeof rl.addr);
    if (bp_kv_parse_url(bp_config_required("REDIS_URL"), &rl.addr) != 0)
        bp_config_fail("REDIS_URL", "expected redis://[:password@]host[:port][/db] or "
                                    "unix://[:password@]/path[?db=N]");
    script_sha1(rl.sha);
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

static void count(gw_rate_class c, const char *family, const char *help, const char *result)
{
    char labels[96];
    if (result != NULL)
        snprintf(labels, sizeof labels, "class=\"%s\",result=\"%s\"", gw_rate_name(c), result);
    else
        snprintf(labels, sizeof labels, "class=\"%s\"", gw_rate_name(c));
    bp_counter_add(bp_metrics_counter(family, help, labels), 1);
}

/* A check answered without Redis: counted, and its continuation runs. */
static void let_through(gw_rate_class c, gw_rate_done done, void *arg)
{
    gw_rate_result r;
    memset(&r, 0, sizeof r);
    r.allowed = true;
    if (gw_ratelimit_applies(c))
        count(c, "barberpro_ratelimit_fail_open_total",
              "Requests let through unchecked because Redis could not be reached, by class.", NULL);
    done(arg, &r);
}

/* ---- the thread ------------------------------------------------------------ */

static void ev_add_read(void *p)
{
    (void)p;
    rl.want_read = true;
}

static void ev_del_read(void *p)
{
    (void)p;
    rl.want_read = false;
}

static void ev_add_write(void *p)
{
    (void)p;
    rl.want_write = true;
}

static void ev_del_write(void *p)
{
    (void)p;
    rl.want_write = false;
}

static void ev_cleanup(void *p)
{
    (void)p;
    rl.want_read = rl.want_write = false;
}

/* Redis failed: pause, and log the outage once. */
static void outage(const char *why)
{
    rl.paused_until_ms = bp_mono_ms() + GW_RATE_PAUSE_MS;
    if (!rl.down)
        bp_log_warn("rate limiter: Redis cannot be reached (%s); requests go through unchecked "
                    "until it is back",
                    why);
    rl.down = true;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    (void)status;
    rl.ac = NULL; /* hiredis frees it after this */
    rl.want_read = rl.want_write = false;
}

/* A connection that failed before it was made: hiredis frees it after this
 * without on_disconnect. */
static void on_connect(const redisAsyncContext *ac, int status)
{
    if (status == REDIS_OK)
        return;
    rl.ac = NULL;
    rl.want_read = rl.want_write = false;
    outage(ac->errstr[0] != '\0' ? ac->errstr : "cannot connect");
}

static void on_ignored(redisAsyncContext *ac, void *reply, void *arg)
{
    (void)ac;
    (void)reply;
    (void)arg;
}

static void send_check(check *k);

/* Takes k off the front of the sent list (replies come in order). */
static void sent_pop(check *k)
{
    if (rl.sent_head == k) {
        rl.sent_head = k->next;
        if (rl.sent_head == NULL)
            rl.sent_tail = NULL;
    }
    k->next = NULL;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *arg)
{
    (void)ac;
    check *k = arg;
    redisReply *r = reply;
    sent_pop(k);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 &&
        !k->retried) {
        k->retried = true;
        send_check(k);
        return;
    }
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
              r->element[0]->type == REDIS_REPLY_INTEGER &&
              r->element[1]->type == REDIS_REPLY_STRING;
    if (!ok) {
        outage(r == NULL                      ? "no answer"
               : r->type == REDIS_REPLY_ERROR ? r->str
                                              : "unexpected answer");
        let_through(k->c, k->done, k->arg);
        free(k);
        return;
    }
    if (rl.down)
        bp_log_info("rate limiter: Redis reachable again; limits apply");
    rl.down = false;
    gw_rate_result res;
    gw_ratelimit_result(&rl.rules[k->c], r->element[0]->integer == 1,
                        strtod(r->element[1]->str, NULL), &res);
    count(k->c, "barberpro_ratelimit_requests_total",
          "Requests checked by the rate limiter, by class and result (allowed or limited).",
          res.allowed ? "allowed" : "limited");
    k->done(k->arg, &res);
    free(k);
}

/* Connects (not blocking: hiredis finishes it on the first write event),
 * with AUTH and SELECT queued ahead of everything else. */
static bool connect_redis(void)
{
    redisAsyncContext *ac = rl.addr.port == 0 ? redisAsyncConnectUnix(rl.addr.host)
                                              : redisAsyncConnect(rl.addr.host, rl.addr.port);
    if (ac == NULL || ac->err) {
        outage(ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        return false;
    }
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rl.ac = ac;
    if (rl.addr.password[0] != '\0') {
        const char *argv[] = {"AUTH", rl.addr.password};
        redisAsyncCommandArgv(ac, on_ignored, NULL, 2, argv, NULL);
    }
    if (rl.addr.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", rl.addr.db);
        const char *argv[] = {"SELECT", db};
        redisAsyncCommandArgv(ac, on_ignored, NULL, 2, argv, NULL);
    }
    return true;
}

/* Hands k to hiredis (EVALSHA, or EVAL when Redis lacks the script). */
static void send_check(check *k)
{
    const gw_rate_rule *rule = &rl.rules[k->c];
    char t[32], w[32];
    snprintf(t, sizeof t, "%.9g", (double)rule->window_ms / (double)rule->max);
    snprintf(w, sizeof w, "%lld", (long long)rule->window_ms);
    const char *argv[] = {
        k->retried ? "EVAL" : "EVALSHA", k->retried ? script : rl.sha, "1", k->key, t, w};
    k->sent_ms = bp_mono_ms();
    k->next = NULL;
    if (redisAsyncCommandArgv(rl.ac, on_reply, k, 6, argv, NULL) != REDIS_OK) {
        outage("cannot send");
        let_through(k->c, k->done, k->arg);
        free(k);
        return;
    }
    if (rl.sent_tail != NULL)
        rl.sent_tail->next = k;
    else
        rl.sent_head = k;
    rl.sent_tail = k;
}

/* Sends the queued checks, or lets them through while Redis is paused. */
static void dispatch(check *list)
{
    while (list != NULL) {
        check *k = list;
        list = k->next;
        bool paused = bp_mono_ms() < rl.paused_until_ms;
        if (!paused && rl.ac == NULL)
            connect_redis();
        if (paused || rl.ac == NULL) {
            let_through(k->c, k->done, k->arg);
            free(k);
            continue;
        }
        send_check(k);
    }
}

/* The oldest check has waited too long: drop the connection (its pending
 * callbacks run with no reply and let their requests through). */
static void expire(void)
{
    if (rl.sent_head == NULL || bp_mono_ms() - rl.sent_head->sent_ms <= GW_RATE_REDIS_TIMEOUT_MS)
        return;
    outage("timed out");
    if (rl.ac != NULL)
        redisAsyncFree(rl.ac); /* calls on_reply(NULL) for each, then on_disconnect */
    rl.ac = NULL;
}

static void *limiter_main(void *unused)
{
    (void)unused;
    for (;;) {
        struct pollfd fds[2] = {{.fd = rl.wake_fd, .events = POLLIN}, {.fd = -1}};
        if (rl.ac != NULL) {
            fds[1].fd = rl.ac->c.fd;
            fds[1].events = (short)((rl.want_read ? POLLIN : 0) | (rl.want_write ? POLLOUT : 0));
        }
        poll(fds, 2, POLL_MS);
        if (fds[0].revents & POLLIN) {
            uint64_t n;
            ssize_t got = read(rl.wake_fd, &n, sizeof n);
            (void)got;
        }
        pthread_mutex_lock(&rl.lock);
        check *list = rl.queue_head;
        rl.queue_head = rl.queue_tail = NULL;
        bool stop = rl.stop;
        pthread_mutex_unlock(&rl.lock);
        dispatch(list);
        if (rl.ac != NULL && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)))
            redisAsyncHandleRead(rl.ac);
        /* Writes go out at once on a connected socket (the checks just
         * queued), else when poll says the connection is made. */
        if (rl.ac != NULL && rl.want_write &&
            ((rl.ac->c.flags & REDIS_CONNECTED) || (fds[1].revents & POLLOUT)))
            redisAsyncHandleWrite(rl.ac);
        expire();
        if (stop && rl.sent_head == NULL) {
            pthread_mutex_lock(&rl.lock);
            bool empty = rl.queue_head == NULL;
            pthread_mutex_unlock(&rl.lock);
            if (empty)
                break;
        }
    }
    if (rl.ac != NULL)
        redisAsyncFree(rl.ac);
    rl.ac = NULL;
    return NULL;
}

/* ---- callers -------------------------------------------------------------- */

int gw_ratelimit_start(void)
{
    if (!rl.enabled || rl.running)
        return 0;
    rl.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rl.wake_fd < 0)
        return BP_EIO;
    rl.stop = false;
    rl.paused_until_ms = 0;
    rl.down = false;
    if (pthread_create(&rl.thread, NULL, limiter_main, NULL) != 0) {
        close(rl.wake_fd);
        rl.wake_fd = -1;
        return BP_EIO;
    }
    rl.running = true;
    return 0;
}

static void wake(void)
{
    uint64_t one = 1;
    ssize_t w = write(rl.wake_fd, &one, sizeof one);
    (void)w;
}

void gw_ratelimit_close(void)
{
    if (!rl.running)
        return;
    pthread_mutex_lock(&rl.lock);
    rl.stop = true;
    pthread_mutex_unlock(&rl.lock);
    wake();
    pthread_join(rl.thread, NULL);
    close(rl.wake_fd);
    rl.wake_fd = -1;
    rl.running = false;
}

void gw_ratelimit_check_async(gw_rate_class c, const char *subject, gw_rate_done done, void *arg)
{
    if (!gw_ratelimit_applies(c)) {
        gw_rate_result r;
        memset(&r, 0, sizeof r);
        r.allowed = true;
        done(arg, &r);
        return;
    }
    check *k = rl.running ? calloc(1, sizeof *k) : NULL;
    if (k == NULL) {
        let_through(c, done, arg);
        return;
    }
    k->c = c;
    snprintf(k->key, sizeof k->key, KEY_PREFIX "%s:%s", gw_rate_name(c), subject);
    k->done = done;
    k->arg = arg;
    pthread_mutex_lock(&rl.lock);
    bool was_empty = rl.queue_head == NULL;
    if (rl.queue_tail != NULL)
        rl.queue_tail->next = k;
    else
        rl.queue_head = k;
    rl.queue_tail = k;
    pthread_mutex_unlock(&rl.lock);
    if (was_empty)
        wake();
}

/* gw_ratelimit_check waits for its verdict here. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    gw_rate_result r;
} waiter;

static void on_verdict(void *arg, const gw_rate_result *r)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->r = *r;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void gw_ratelimit_check(gw_rate_class c, const char *subject, gw_rate_result *out)
{
    waiter w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    gw_ratelimit_check_async(c, subject, on_verdict, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    *out = w.r;
}
