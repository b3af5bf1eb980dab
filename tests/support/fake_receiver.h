/* A small HTTP server a unit test starts to receive what a fake of
 * tests/fakes/ sends on its own (webhooks, status callbacks): it keeps each
 * request (method, path, query, headers, raw body) and answers a chosen
 * status, so that a test can check the signatures and make retries happen. */
#ifndef BPT_FAKE_RECEIVER_H
#define BPT_FAKE_RECEIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* At most this many requests are kept (later ones are counted only), each
 * body up to FAKE_RECEIVER_MAX_BODY bytes (the rest is read and dropped). */
#define FAKE_RECEIVER_MAX_KEPT 64
#define FAKE_RECEIVER_MAX_BODY (64 * 1024)

typedef struct fake_receiver fake_receiver;

/* One request as it came. */
typedef struct {
    char *method, *path; /* the path without its query */
    json_t *query;       /* {"name": "value"} */
    json_t *headers;     /* {"name": "value"}, names in lower case */
    char *body;          /* the raw bytes, NUL-terminated */
    size_t len;
    unsigned status; /* what the receiver answered */
} fake_received;

/* Listens on a free port of 127.0.0.1, answering 200 with an empty body.
 * Returns NULL when it cannot; free with fake_receiver_stop. */
fake_receiver *fake_receiver_start(void);

/* Stops the server and frees r with every kept request (NULL is ignored). */
void fake_receiver_stop(fake_receiver *r);

/* The port it listens on. */
unsigned fake_receiver_port(const fake_receiver *r);

/* Answers status to the next count requests (a refusal, to make the
 * sender retry), then 200 again. */
void fake_receiver_refuse(fake_receiver *r, unsigned status, int count);

/* How many requests came (kept or not). */
int fake_receiver_count(fake_receiver *r);

/* Waits at most timeout_ms until n requests came; returns whether they did. */
bool fake_receiver_wait(fake_receiver *r, int n, long timeout_ms);

/* A copy of the i-th request (0 the first) into *out; false when there is
 * no such kept request. The caller frees it with fake_received_free. */
bool fake_receiver_get(fake_receiver *r, int i, fake_received *out);

/* Frees what fake_receiver_get copied. */
void fake_received_free(fake_received *req);

/* A header of req by name, any case, or a query parameter; "" when absent,
 * owned by req. */
const char *fake_received_header(const fake_received *req, const char *name);
const char *fake_received_query(const fake_received *req, const char *name);

#endif
