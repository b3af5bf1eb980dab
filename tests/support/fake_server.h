/* What every local stand-in of tests/fakes/ shares: reading a request (query,
 * headers, the body), the answers, a nap that a stop cuts short, number
 * parsing, the routing of a request with the control endpoints every fake
 * has (/_fake/health, /_fake/requests, /_fake/mode, /_fake/reset), and the
 * life of the server (loopback port, the "listening on <port>" line, a clean stop on
 * SIGTERM or SIGINT). The failure modes are in fake_mode.h, the retrying
 * webhook sender in fake_webhooks.h, the options and main() in fake_main.h. */
#ifndef BPT_FAKE_SERVER_H
#define BPT_FAKE_SERVER_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_mode.h"
#include "strbuf.h"

/* Set once a stop signal arrived. */
extern atomic_bool fake_stopping;

/* Queues status with body (copied) of the given content type. */
enum MHD_Result fake_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                           const char *body);

/* As fake_reply, as application/json. */
enum MHD_Result fake_reply_json(struct MHD_Connection *conn, unsigned status, const char *body);

/* Takes ownership of v and answers it as JSON; 500 when v is NULL or
 * cannot be written. */
enum MHD_Result fake_reply_obj(struct MHD_Connection *conn, unsigned status, json_t *v);

/* The answer of GET /_fake/last: {"count": count, "last": a copy of last
 * (the last API request), or null}. Call with the fake's lock held, so that
 * both are read together; the copy outlives the lock. */
json_t *fake_last_doc(long long count, const json_t *last);

/* The query parameter or request header name, or NULL; owned by MHD. */
const char *fake_query(struct MHD_Connection *conn, const char *name);
const char *fake_header(struct MHD_Connection *conn, const char *name);

/* A request body, collected by fake_body_collect in *con_cls. */
typedef struct {
    bp_strbuf body;  /* what came, up to the limit; body.failed when out of memory */
    size_t received; /* every byte that came */
    bool too_big;    /* more than the limit came: the rest was read and dropped */
} fake_body;

/* The first calls of an access handler: allocates a fake_body in *con_cls
 * and appends the upload to it, keeping at most max bytes (beyond, the rest
 * is read and dropped, so the client gets an answer rather than a broken
 * connection). Returns true with *rv set while the request is still coming;
 * false once it is all there. fake_body_completed frees it (fake_serve does
 * both). */
bool fake_body_collect(void **con_cls, const char *upload_data, size_t *upload_data_size,
                       size_t max, enum MHD_Result *rv);

/* The body as a string ("" when none). */
const char *fake_body_text(const fake_body *b);

/* An MHD_RequestCompletedCallback that frees a fake_body. */
void fake_body_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe);

/* Sleeps ms in small steps, returning early once fake_stopping is set, so
 * that a slow answer never holds up a stop. */
void fake_nap(long ms);

/* Parses a whole base-10 number within [min, max]. */
bool fake_parse_long(const char *s, long min, long max, long *out);

/* A control endpoint of a fake's own: method and exact path (no query). */
typedef struct {
    const char *method; /* "GET" or "POST" */
    const char *path;   /* "/_fake/last" */
    enum MHD_Result (*answer)(struct MHD_Connection *conn);
} fake_control;

/* How fake_serve answers a request, in this order: the body is read (at
 * most max_body bytes kept); a body over that, or one that ran out of
 * memory, goes to refuse_body when set; then the fake's own controls, then
 * GET /_fake/health, GET /_fake/requests ({"requests": *requests}), POST
 * /_fake/mode (with mode) and POST /_fake/reset (reset, then fake_mode_reset
 * and *requests = 0, answering {"ok":true}); then api; what is left goes to
 * not_found. A fake's own control takes a path before the shared one (fake-
 * smtp's health). */
typedef struct {
    size_t max_body; /* 0: any body is read and dropped */
    /* Answers a body that did not fit; NULL: api sees it (body->too_big). */
    enum MHD_Result (*refuse_body)(struct MHD_Connection *conn);
    const fake_control *controls; /* may be NULL */
    size_t n_controls;
    const fake_mode_spec *mode;     /* NULL: the fake has no shared /_fake/mode */
    void (*reset)(void);            /* back to the defaults; may be NULL */
    atomic_uint_fast64_t *requests; /* the counter of real-API calls */
    /* The real API over HTTP: answers and sets *matched, or leaves it
     * false. NULL when the API is not HTTP (fake-smtp). */
    enum MHD_Result (*api)(struct MHD_Connection *conn, const char *method, const char *url,
                           const fake_body *body, bool *matched);
    enum MHD_Result (*not_found)(struct MHD_Connection *conn, const char *url);
    /* May be NULL. Called with the bound port right after the "listening
     * on" line, before stdout is flushed, so that a fake listening on a
     * second port can print its own line after it (fake-smtp). */
    void (*on_listening)(unsigned port);
} fake_server_hooks;

/* Blocks SIGTERM and SIGINT in this thread and every thread started after
 * (fake_serve takes them with sigwait), and ignores SIGPIPE. Call first. */
void fake_signals_block(void);

/* Listens on 127.0.0.1:port (0: a free one) with a thread per connection,
 * answering as hooks says (hooks must outlive the call), prints "listening
 * on <port>" on stdout, and waits for SIGTERM or SIGINT; then sets
 * fake_stopping and stops the server. Returns 0, or 1 when it cannot
 * listen. */
int fake_serve(const char *name, long port, const fake_server_hooks *hooks);

#endif
