/* The signed notifications a fake of tests/fakes/ sends on its own (MercadoPago
 * webhooks, WhatsApp status webhooks, Twilio status callbacks): a bounded
 * queue sent by one thread in due order, each refused attempt queued again
 * after the next retry delay, and the last attempts kept for
 * GET /_fake/webhooks. What an attempt sends, and how it is signed, is the
 * fake's own: it comes as a callback.
 */
#ifndef BPT_FAKE_WEBHOOKS_H
#define BPT_FAKE_WEBHOOKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FAKE_WEBHOOKS_MAX_RETRIES 8
/* The real services wait longer (MercadoPago 22 s); tests want less. */
#define FAKE_WEBHOOKS_TIMEOUT_MS 5000

/* How an attempt is signed: rightly, with another key (a real signature
 * that only the key check catches), or not at all. */
typedef enum { FAKE_SIG_OK, FAKE_SIG_BAD, FAKE_SIG_MISSING } fake_sig;
extern const char *const fake_sig_names[3];

/* Parses "ok", "bad" or "missing"; NULL is FAKE_SIG_OK. */
bool fake_sig_parse(const char *s, fake_sig *out);

typedef struct {
    size_t max_queue;      /* items waiting, retries included */
    size_t max_deliveries; /* attempts kept for fake_webhooks_report */
    long retry_delays_ms[FAKE_WEBHOOKS_MAX_RETRIES];
    size_t n_retry_delays;
    /* Makes attempt number attempt (0 for the first) of item, on the sender
     * thread with no lock of the queue held, and records it with
     * fake_webhooks_record. Returns true when item is done with (delivered,
     * or nothing left to send), false to send it again after the next retry
     * delay. */
    bool (*send)(void *item, int attempt);
    /* Frees an item the queue is done with. */
    void (*free_item)(void *item);
} fake_webhooks_config;

typedef struct fake_webhooks fake_webhooks;

/* Parses "200,500,1000" (at most FAKE_WEBHOOKS_MAX_RETRIES delays, each
 * 0..60000 ms; "" for no retry) into cfg. */
bool fake_webhooks_parse_delays(const char *s, fake_webhooks_config *cfg);

/* fake_webhooks_parse_delays as a fake_option's parse (ctx: the config). */
bool fake_webhooks_delays_option(const char *value, void *cfg);

/* The --retry-delays-ms option of fake_main.h, into *cfg ("" for none). */
#define FAKE_WEBHOOKS_DELAYS_OPTION(cfg)                                                           \
    {                                                                                              \
        .flag = "--retry-delays-ms", .arg = "200,500,1000", .flags = FAKE_OPT_EMPTY,               \
        .parse = fake_webhooks_delays_option, .ctx = (cfg)                                         \
    }

/* Starts the sender thread (cfg is copied). It stops once fake_stopping is
 * set; free with fake_webhooks_stop. NULL when it cannot start. */
fake_webhooks *fake_webhooks_start(const fake_webhooks_config *cfg);

/* Queues item to be sent after_ms from now. Takes ownership of item and
 * returns true; returns false, item still the caller's, when the queue is
 * full. */
bool fake_webhooks_enqueue(fake_webhooks *w, void *item, long after_ms);

/* Keeps one attempt for the report, forgetting the oldest beyond
 * max_deliveries. Takes ownership of attempt (NULL is ignored). */
void fake_webhooks_record(fake_webhooks *w, json_t *attempt);

/* {"deliveries":[attempts, oldest first],"queued":N}, a copy the caller
 * decrefs (NULL when out of memory). */
json_t *fake_webhooks_report(fake_webhooks *w);

/* Drops every queued item and every kept attempt (POST /_fake/reset). */
void fake_webhooks_clear(fake_webhooks *w);

/* Waits for the sender thread (call after fake_serve returned) and frees w
 * with whatever is still queued. */
void fake_webhooks_stop(fake_webhooks *w);

/* POSTs body to url with headers ("Name: value", NULL-terminated), waiting
 * at most FAKE_WEBHOOKS_TIMEOUT_MS. Returns the HTTP status, 0 when none
 * came; *error is then why (else NULL). */
long fake_webhooks_post(const char *url, const char *const *headers, const char *body,
                        const char **error);

#endif
