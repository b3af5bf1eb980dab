/* The bus: a REP server that dispatches enveloped protobuf calls by method
 * name through a protobuf-c service descriptor, and a REQ client with a
 * deadline on every call. See proto/rpc.proto for the envelope. */
#ifndef BP_RPC_H
#define BP_RPC_H

#include <stdbool.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "rpc.pb-c.h"
#include "strbuf.h"

/* Largest nng message either side accepts (requests and replies). */
#define BP_RPC_MAX_MSG (4u * 1024u * 1024u)

typedef struct bp_db bp_db;
typedef struct bp_kv bp_kv;

/* ---- server ---------------------------------------------------------- */

typedef struct bp_server bp_server;
typedef struct bp_call bp_call;

/* Resources of one worker thread. The server opens db (DATABASE_URL) and kv
 * (REDIS_URL) per worker when the service asks for them. */
typedef struct bp_worker {
    int index;      /* 0..n-1 within its lane */
    bool slow_lane; /* true for workers of the slow lane */
    bp_db *db;      /* NULL unless bp_service.use_db */
    bp_kv *kv;      /* NULL unless bp_service.use_kv */
    void *app;      /* bp_service.app */
    void *local;    /* free for the service's per-worker state */
} bp_worker;

/* A handler reads req and fills resp (already initialised, in the call's
 * arena). It returns 0, or the value of bp_call_fail for an error answer.
 * Strings and sub-messages placed in resp must live in the call's arena
 * (bp_call_strdup, bp_call_message) or in static storage. */
typedef int (*bp_handler_fn)(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp);

enum {
    BP_HANDLER_AUTH = 1u << 0, /* refuse with 401 unless the call has a principal */
    BP_HANDLER_SLOW = 1u << 1, /* run on the slow lane (bcrypt, outside APIs), whose
                                * threads run at a lower priority (nice +5) */
};

typedef struct {
    const char *method; /* exactly as in the .proto service */
    bp_handler_fn fn;
    unsigned flags; /* BP_HANDLER_* */
} bp_handler;

typedef struct {
    const char *name; /* "auth", "booking", ... (logs, metrics) */
    const ProtobufCServiceDescriptor *descriptor;
    const bp_handler *handlers; /* methods without one answer 501 */
    size_t n_handlers;
    int workers;        /* fast lane threads (0: 2 x nproc, at least 4) */
    int slow_workers;   /* slow lane threads (0: nproc) */
    int slow_queue_max; /* slow calls waiting before 503 busy (0: 256) */
    bool use_db, use_kv;
    /* Optional: called once per worker after db/kv are open; returns 0. */
    int (*worker_init)(bp_worker *w);
    void (*worker_fini)(bp_worker *w);
    /* Optional: turns a bearer token carried in the envelope into a
     * principal (bp_call_set_principal). Returns 0, or bp_call_fail(401). */
    int (*authenticate)(bp_call *call, const char *token);
    /* Optional: answers the built-in BusinessMetrics call by appending
     * Prometheus text (prom.h) to out, computed from the service's own
     * schema through bp_call_worker(call)->db, so that the figures survive
     * restarts and agree across instances. Returns 0 or a BP_E* code (the
     * call then fails and the gateway leaves the service out). Without it
     * the call answers empty text. */
    int (*business_metrics)(bp_call *call, bp_strbuf *out);
    void *app;
} bp_service;

/* Listens on url and starts the worker lanes. The Health, Ping, Metrics
 * and BusinessMetrics methods are answered by the server itself unless the
 * service has a handler for them (Ping touches no store: liveness only). def must outlive the
 * server. Returns 0 or a BP_E* code. */
int bp_server_start(const bp_service *def, const char *url, bp_server **out);

/* Stops receiving, lets in-flight calls finish and reply, joins the workers
 * and frees the server. */
void bp_server_stop(bp_server *srv);

/* Call accessors; strings are owned by the call and valid during it. Empty
 * strings for what the caller did not send. */
bp_worker *bp_call_worker(bp_call *call);
bp_arena *bp_call_arena(bp_call *call);
const char *bp_call_method(const bp_call *call);
const char *bp_call_request_id(const bp_call *call);
const char *bp_call_user_id(const bp_call *call);
const char *bp_call_role(const bp_call *call);
const char *bp_call_session_id(const bp_call *call);
const char *bp_call_client_ip(const bp_call *call);
const char *bp_call_user_agent(const bp_call *call);
const char *bp_call_idempotency_key(const bp_call *call);
/* The bearer token the gateway forwarded, or "" (only to the verifier). */
const char *bp_call_token(const bp_call *call);
/* Absolute deadline in Unix ms (0: none). */
int64_t bp_call_deadline_ms(const bp_call *call);

/* Sets who is calling (the strings are copied). */
void bp_call_set_principal(bp_call *call, const char *user_id, const char *role,
                           const char *session_id);

/* Sets the success status (default 200; 201 for creations, 204 for none). */
void bp_call_set_status(bp_call *call, int status);

/* Records an error answer: HTTP status, fixed code, optional field (NULL)
 * and a Spanish message. Returns BP_EREPLIED for the handler to return. */
int bp_call_fail(bp_call *call, int status, const char *code, const char *field, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

/* The answer for an internal failure rv (a BP_E* code): 503 unavailable
 * when PostgreSQL, Redis or a peer did not answer (BP_EIO, BP_EUNAVAIL,
 * BP_ETIMEDOUT), 500 internal otherwise; logged with the method and the
 * request id. Returns BP_EREPLIED. */
int bp_call_fail_internal(bp_call *call, int rv);

/* The answers every service gives alike (API.md's codes, Spanish text):
 * 400 invalid_request naming field with why; 404 not_found for what (e.g.
 * "El turno"); 403 forbidden. Each returns BP_EREPLIED. */
int bp_call_fail_invalid(bp_call *call, const char *field, const char *why);
int bp_call_fail_not_found(bp_call *call, const char *what);
int bp_call_fail_forbidden(bp_call *call);

/* True when s is a canonical UUID; otherwise answers 400 invalid_request
 * naming field (missing, or not an id) and returns false: the handler then
 * returns BP_EREPLIED. */
bool bp_call_check_uuid(bp_call *call, const char *field, const char *s);

/* epoch_ms as RFC 3339 in zone tz (NULL: TIMEZONE), in the call's arena;
 * NULL when epoch_ms <= 0 (no time), when out of memory or not
 * representable. */
char *bp_call_time(bp_call *call, int64_t epoch_ms, const char *tz);

/* Arena helpers for building replies. */
char *bp_call_strdup(bp_call *call, const char *s);
char *bp_call_printf(bp_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ProtobufCMessage *bp_call_message(bp_call *call, const ProtobufCMessageDescriptor *d);

/* ---- client ---------------------------------------------------------- */

typedef struct bp_client bp_client;

/* Dials every address of url (one, or a comma-separated list of the
 * service's instances: bp_config_split_urls) in the background,
 * reconnecting for ever; each call goes to one connected instance and is
 * never resent. Returns 0, BP_EINVAL for a bad list, or another BP_E* code;
 * free with bp_client_close. */
int bp_client_open(const char *service, const char *url, bp_client **out);

/* bp_client_open at the service's configured address (bp_config_rpc_url),
 * logging the address when it cannot. */
int bp_client_dial(const char *service, bp_client **out);

/* Closes the socket; calls still in flight complete with BP_EUNAVAIL. */
void bp_client_close(bp_client *c);

/* The service name given to bp_client_open. */
const char *bp_client_service(const bp_client *c);

/* True while at least one connection to the service is up. */
bool bp_client_connected(const bp_client *c);

/* What a call sends; NULL strings are left out. */
typedef struct {
    const char *method;
    const uint8_t *body; /* encoded input message */
    size_t body_len;
    const char *request_id;
    const char *user_id, *role, *session_id;
    const char *token;
    const char *client_ip, *user_agent, *idempotency_key;
    int timeout_ms; /* <= 0: RPC_TIMEOUT_MS (default 5000) */
} bp_rpc_args;

/* The outcome of a call. On rv == 0, reply is the decoded envelope; free it
 * with bp_rpc_reply_free. rv is BP_EUNAVAIL when no instance of the service
 * is connected (at once), BP_ETIMEDOUT when the deadline passed, BP_EPROTO
 * when the reply cannot be decoded. */
typedef void (*bp_rpc_done_fn)(void *arg, int rv, Bp__Rpc__Reply *reply);

/* Starts a call; done runs exactly once, on an nng thread (never block in
 * it), or before this returns if the call cannot start. Returns 0 when
 * started, or the code also passed to done. */
int bp_client_call_async(bp_client *c, const bp_rpc_args *args, bp_rpc_done_fn done, void *arg);

/* Makes a call and waits for it. On 0 the caller frees *reply with
 * bp_rpc_reply_free. */
int bp_client_call(bp_client *c, const bp_rpc_args *args, Bp__Rpc__Reply **reply);

/* Typed convenience: packs req, calls, and on a 2xx reply unpacks the body
 * into *resp (free with protobuf_c_message_free_unpacked(*resp, NULL)).
 * *status receives the reply status; on >= 400 *err_code (static or NULL)
 * is left as the reply's code copied into errbuf. */
int bp_client_call_msg(bp_client *c, const bp_rpc_args *args, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                       int *status, char *errbuf, size_t errlen);

/* Frees a reply returned by a call. NULL is ignored. */
void bp_rpc_reply_free(Bp__Rpc__Reply *reply);

/* Default per-call timeout: RPC_TIMEOUT_MS (5000). */
int bp_rpc_default_timeout_ms(void);

#endif
