/* The state of one HTTP request from its request line to its completion,
 * and the contract between the HTTP server and the handlers that answer.
 *
 * Life of a request (server.c drives it; every step but the bus callbacks
 * runs on the connection's HTTP thread):
 *   HEADERS  request line and headers checked, route matched (or answered)
 *   BODY     body bytes collected (1 MiB at most)
 *   start    the route's op answers at once, or suspends the connection
 *            and starts bus calls                                -> WAITING
 *   WAITING  bus callbacks (nng threads) store their outcome; the last one
 *            resumes the connection, and never touches req afterwards
 *   finish   back on the HTTP thread, the op renders the answer -> ANSWERED
 * The request is freed when libmicrohttpd reports the request complete. */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <microhttpd.h>

#include "rpc.h"
#include "gw_forwarded.h"
#include "gw_ratelimit.h"
#include "gw_routes.h"
#include "gw_url.h"

#define GW_REQUEST_ID_MAX 128               /* longest X-Request-Id echoed */
#define GW_MAX_BODY       (1024 * 1024)     /* request bodies: 413 above */
#define GW_MAX_HEADERS    64                /* request header lines: 431 above */
#define GW_MAX_FANOUT     32                /* daemon instances asked by one request */
#define GW_PRINCIPAL_MAX  128               /* user id, role, session id */
#define GW_DRAIN_MAX      (4 * GW_MAX_BODY) /* body bytes read and dropped to answer an error */

#define GW_EXTRA_HEADERS 4 /* headers an op adds to its answer */

typedef struct gw_request gw_request;

/* A response header an op adds (strings that outlive the request, or the
 * op's own state's). A Cache-Control here replaces the default no-store. */
typedef struct {
    const char *name;
    const char *value;
} gw_header;
typedef struct gw_server gw_server;

/* A handler of the gateway's own, or the proxy for bus routes. */
struct gw_op {
    /* Runs once the body is complete: answers with gw_answer* at once, or
     * calls gw_request_suspend and starts bus calls whose last completion
     * calls gw_request_resume. Returns MHD_NO to drop the connection. */
    enum MHD_Result (*start)(gw_request *req);
    /* Runs on the HTTP thread after the resume and answers. */
    enum MHD_Result (*finish)(gw_request *req);
    /* Optional, for a body that is neither JSON nor buffered (uploads).
     * accept runs once the headers are read, in place of the JSON and size
     * checks, and returns 0 or the HTTP status to refuse with (the body is
     * then dropped; the message is req->early_message when accept set it
     * to a static string, else the status's own); body gets each piece of the body as it arrives
     * and returns MHD_NO to drop the connection. req->body stays empty and GW_MAX_BODY does not
     * apply: the op bounds what it keeps. */
    int (*accept)(gw_request *req);
    enum MHD_Result (*body)(gw_request *req, const char *data, size_t n);
    /* Optional: releases req->op_state when the request ends, however. */
    void (*cleanup)(gw_request *req);
};

typedef enum {
    GW_PHASE_HEADERS,
    GW_PHASE_BODY,
    GW_PHASE_WAITING,
    GW_PHASE_ANSWERED,
} gw_phase;

/* One call of a fan-out (health, metrics): a callback's argument. */
typedef struct {
    gw_request *req;
    int rv;
    Bp__Rpc__Reply *reply;  /* owned; freed with the request */
    unsigned short service; /* gw_service_at(service) */
    short instance;         /* its addr[instance], or -1: any instance */
} gw_fan_slot;

struct gw_request {
    gw_server *srv;
    struct MHD_Connection *conn;
    gw_phase phase;
    const gw_op *op;
    int64_t started_ns; /* CLOCK_MONOTONIC at the request line */

    /* Request line and headers. Strings marked MHD's live as long as the
     * request. */
    char *target; /* the raw request target, owned */
    size_t target_len;
    bool target_too_long;
    const char *method; /* MHD's */
    char request_id[GW_REQUEST_ID_MAX + 1];
    char client_ip[GW_ADDR_MAX]; /* behind trusted proxies, the client's (gw_forwarded.h) */
    const char *origin;          /* MHD's, or NULL */
    const char *token;           /* bearer token (MHD's), or NULL */
    bool token_invalid;          /* an Authorization header that is not "Bearer <token>" */
    const char *idempotency_key; /* MHD's, or NULL */
    char user_agent[256];        /* printable ASCII, truncated */
    bool closing;                /* answer with Connection: close */
    bool has_body;               /* Content-Length > 0 or chunked */
    uint64_t declared_len;       /* Content-Length (UINT64_MAX when malformed), or 0 */
    bool preflight;              /* an OPTIONS request */
    int early_status;            /* an error found in the headers, answered */
    const char *early_message;   /* once the (empty) body is read */

    gw_match_result match_result;
    gw_match match;
    gw_query *query; /* owned, or NULL */

    char *body; /* owned; body_len bytes, not NUL-terminated */
    size_t body_len, body_cap;
    uint64_t body_dropped; /* bytes discarded after the limit was passed */
    bool body_too_large;

    gw_rate_result rate; /* the rate limiter's verdict, for RateLimit-* and 429 */
    gw_header extra[GW_EXTRA_HEADERS];
    size_t n_extra;
    void *op_state; /* the op's own (uploads), released by op->cleanup */

    int status;     /* of the queued response; 0 before */
    bool suspended; /* counted in the server's suspended connections */

    /* Bus routes (proxy.c). */
    struct {
        const ProtobufCMethodDescriptor *rpc;
        bp_client *client;
        uint8_t *input; /* the packed input message, owned */
        size_t input_len;
        int64_t deadline_ms;                /* bp_mono_ms by which every hop must be done */
        bool authenticating;                /* the pending call is auth.Authenticate */
        void (*then)(gw_request *req);      /* after a good Authenticate (gw_authenticate) */
        void (*rate_next)(gw_request *req); /* after an allowing verdict (gw_rate_admit) */
        char user_id[GW_PRINCIPAL_MAX], role[GW_PRINCIPAL_MAX], session_id[GW_PRINCIPAL_MAX];
        int rv;
        Bp__Rpc__Reply *reply; /* owned */
    } proxy;

    /* The same RPC to every service (fanout.c). */
    struct {
        atomic_size_t pending;
        size_t n;
        gw_fan_slot slots[GW_MAX_FANOUT];
    } fan;
};

/* Suspends the request's connection before bus calls start (the HTTP
 * thread goes on to other connections). Returns false when the gateway is
 * stopping: nothing was suspended and the caller answers 503. */
bool gw_request_suspend(gw_request *req);

/* Resumes a suspended request; callable from any thread. The caller must
 * not touch req afterwards: the HTTP thread may finish and free it. */
void gw_request_resume(gw_request *req);

/* A request header (MHD's string, case-insensitive name), or NULL. */
const char *gw_request_header(const gw_request *req, const char *name);

#endif
