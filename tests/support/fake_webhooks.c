/* The retrying sender of signed notifications shared by the fakes of
 * tests/fakes/ (see fake_webhooks.h). */
#include "fake_webhooks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bp.h"
#include "fake_server.h"
#include "http.h"

/* The sender looks at the stop at least this often. */
#define FAKE_WEBHOOKS_POLL_MS 100

const char *const fake_sig_names[3] = {"ok", "bad", "missing"};

typedef struct {
    void *item;
    int attempt;    /* 0 for the first send */
    int64_t due_ms; /* bp_mono_ms() at which to send */
} queued_item;

struct fake_webhooks {
    fake_webhooks_config cfg;
    pthread_t thread;
    /* Everything below is guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    queued_item *queue;
    size_t n_queue;
    json_t *deliveries;
};

bool fake_sig_parse(const char *s, fake_sig *out)
{
    if (s == NULL) {
        *out = FAKE_SIG_OK;
        return true;
    }
    for (size_t i = 0; i < BP_COUNTOF(fake_sig_names); i++)
        if (strcmp(s, fake_sig_names[i]) == 0) {
            *out = (fake_sig)i;
            return true;
        }
    return false;
}

bool fake_webhooks_parse_delays(const char *s, fake_webhooks_config *cfg)
{
    size_t n = 0;
    while (*s != '\0') {
        char part[16];
        size_t len = strcspn(s, ",");
        long v;
        if (n == FAKE_WEBHOOKS_MAX_RETRIES || len == 0 || len >= sizeof part)
            return false;
        memcpy(part, s, len);
        part[len] = '\0';
        if (!fake_parse_long(part, 0, 60000, &v))
            return false;
        cfg->retry_delays_ms[n++] = v;
        s += len;
        if (*s == ',')
            s++;
    }
    cfg->n_retry_delays = n;
    return true;
}

/* One thread sends every item, in due order; a refused one goes back in the
 * queue after the next retry delay, so one dead receiver does not hold back
 * the others. */
static void *sender_main(void *arg)
{
    fake_webhooks *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!atomic_load(&fake_stopping)) {
        size_t best = w->n_queue;
        for (size_t i = 0; i < w->n_queue; i++)
            if (best == w->n_queue || w->queue[i].due_ms < w->queue[best].due_ms)
                best = i;
        int64_t now = bp_mono_ms();
        if (best == w->n_queue || w->queue[best].due_ms > now) {
            /* Wait for new work or the next due time, at most
             * FAKE_WEBHOOKS_POLL_MS so that a stop is seen. */
            int64_t wait = best == w->n_queue ? FAKE_WEBHOOKS_POLL_MS : w->queue[best].due_ms - now;
            if (wait > FAKE_WEBHOOKS_POLL_MS)
                wait = FAKE_WEBHOOKS_POLL_MS;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)wait * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
            continue;
        }
        queued_item q = w->queue[best];
        w->queue[best] = w->queue[--w->n_queue];
        pthread_mutex_unlock(&w->lock);

        bool done = w->cfg.send(q.item, q.attempt);

        pthread_mutex_lock(&w->lock);
        if (!done && (size_t)q.attempt < w->cfg.n_retry_delays && w->n_queue < w->cfg.max_queue &&
            !atomic_load(&fake_stopping)) {
            q.due_ms = bp_mono_ms() + w->cfg.retry_delays_ms[q.attempt];
            q.attempt++;
            w->queue[w->n_queue++] = q;
        } else {
            w->cfg.free_item(q.item);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

bool fake_webhooks_delays_option(const char *value, void *cfg)
{
    return fake_webhooks_parse_delays(value, cfg);
}

fake_webhooks *fake_webhooks_start(const fake_webhooks_config *cfg)
{
    fake_webhooks *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->cfg = *cfg;
    w->queue = calloc(cfg->max_queue > 0 ? cfg->max_queue : 1, sizeof *w->queue);
    w->deliveries = json_array();
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (w->queue == NULL || w->deliveries == NULL ||
        pthread_create(&w->thread, NULL, sender_main, w) != 0) {
        free(w->queue);
        json_decref(w->deliveries);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

bool fake_webhooks_enqueue(fake_webhooks *w, void *item, long after_ms)
{
    pthread_mutex_lock(&w->lock);
    bool room = w->n_queue < w->cfg.max_queue;
    if (room) {
        w->queue[w->n_queue++] =
            (queued_item){.item = item, .attempt = 0, .due_ms = bp_mono_ms() + after_ms};
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return room;
}

void fake_webhooks_record(fake_webhooks *w, json_t *attempt)
{
    if (attempt == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    if (json_array_size(w->deliveries) >= w->cfg.max_deliveries)
        json_array_remove(w->deliveries, 0);
    json_array_append_new(w->deliveries, attempt);
    pthread_mutex_unlock(&w->lock);
}

json_t *fake_webhooks_report(fake_webhooks *w)
{
    pthread_mutex_lock(&w->lock);
    /* A deep copy, so the sender may append while the copy is serialised. */
    json_t *o = json_pack("{s:o,s:I}", "deliveries", json_deep_copy(w->deliveries), "queued",
                          (json_int_t)w->n_queue);
    pthread_mutex_unlock(&w->lock);
    return o;
}

/* Drops what is queued and kept; lock held. */
static void clear_locked(fake_webhooks *w)
{
    for (size_t i = 0; i < w->n_queue; i++)
        w->cfg.free_item(w->queue[i].item);
    w->n_queue = 0;
    json_array_clear(w->deliveries);
}

void fake_webhooks_clear(fake_webhooks *w)
{
    pthread_mutex_lock(&w->lock);
    clear_locked(w);
    pthread_mutex_unlock(&w->lock);
}

void fake_webhooks_stop(fake_webhooks *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_lock(&w->lock);
    clear_locked(w);
    pthread_mutex_unlock(&w->lock);
    json_decref(w->deliveries);
    free(w->queue);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

long fake_webhooks_post(const char *url, const char *const *headers, const char *body,
                        const char **error)
{
    bp_http_request req = {.method = "POST",
                           .url = url,
                           .headers = headers,
                           .body = body,
                           .body_len = strlen(body),
                           .timeout_ms = FAKE_WEBHOOKS_TIMEOUT_MS,
                           .max_response_bytes = 64 * 1024};
    bp_http_response resp = {0};
    int rv = bp_http_do(&req, &resp);
    long status = rv == 0 ? resp.status : 0;
    *error = rv == 0 ? NULL : bp_strerror(rv);
    bp_http_response_free(&resp);
    return status;
}
