/* What every local stand-in of tests/fakes/ shares: the answers, a nap that
 * a stop cuts short, number parsing, the /_fake/health and /_fake/requests
 * endpoints, and the life of the server (loopback port, the "listening on
 * <port>" line, a clean stop on SIGTERM or SIGINT). */
#ifndef BPT_FAKE_SERVER_H
#define BPT_FAKE_SERVER_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Set once a stop signal arrived. */
extern atomic_bool fake_stopping;

/* Queues status with body (copied) of the given content type. */
enum MHD_Result fake_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                           const char *body);

/* As fake_reply, as application/json. */
enum MHD_Result fake_reply_json(struct MHD_Connection *conn, unsigned status, const char *body);

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

/* Listens on 127.0.0.1:port (0: a free one) with a thread per connection,
 * prints "listening on <port>" on stdout, and waits for SIGTERM or SIGINT;
 * then sets fake_stopping, calls on_stop (may be NULL) and stops the
 * server. completed may be NULL. Returns 0, or 1 when it cannot listen. */
int fake_serve(const char *name, long port, MHD_AccessHandlerCallback handler,
               MHD_RequestCompletedCallback completed, void (*on_stop)(void));

#endif
