/* What every local stand-in of tests/fakes/ shares: reading a request (query,
 * headers, the body), the answers, a nap that a stop cuts short, number
 * parsing, the /_fake/health and /_fake/requests endpoints, and the life of
 * the server (loopback port, the "listening on <port>" line, a clean stop on
 * SIGTERM or SIGINT). The failure modes are in fake_mode.h, the retrying
 * webhook sender in fake_webhooks.h. */
#ifndef BPT_FAKE_SERVER_H
#define BPT_FAKE_SERVER_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * false once it is all there. Pass fake_body_completed to fake_serve, which
 * frees it. */
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

/* Answers GET /_fake/health and GET /_fake/requests ({"requests": n}):
 * sets *handled and returns the answer, else leaves *handled false. */
enum MHD_Result fake_common(struct MHD_Connection *conn, const char *method, const char *url,
                            uint64_t requests, bool *handled);

/* Blocks SIGTERM and SIGINT in this thread and every thread started after
 * (fake_serve takes them with sigwait), and ignores SIGPIPE. Call first. */
void fake_signals_block(void);

/* What fake_serve calls. */
typedef struct {
    MHD_AccessHandlerCallback handler;
    MHD_RequestCompletedCallback completed; /* may be NULL */
    /* May be NULL. Called with the bound port right after the "listening
     * on" line, before stdout is flushed, so that a fake listening on a
     * second port can print its own line after it (fake-smtp). */
    void (*on_listening)(unsigned port);
} fake_server_hooks;

/* Listens on 127.0.0.1:port (0: a free one) with a thread per connection,
 * prints "listening on <port>" on stdout, and waits for SIGTERM or SIGINT;
 * then sets fake_stopping and stops the server. Returns 0, or 1 when it
 * cannot listen. */
int fake_serve(const char *name, long port, const fake_server_hooks *hooks);

#endif
