/* The integration test harness: HTTP calls to the gateway under test, fresh
 * users, control of the daemons (stop, continue, kill, restart) and raw
 * messages to a daemon's bus socket. scripts/test.sh starts the suite and
 * passes where it is through the environment (BP_TEST_BASE_URL,
 * BP_TEST_RUN_DIR, BP_TEST_BIN_DIR, BP_TEST_LOG_DIR, BP_TEST_PID_DIR,
 * BP_TEST_PID_<SVC>). Functions return 0 or -1 and print why on stderr;
 * they never assert, so tests say what they expect. */
#ifndef BPT_HARNESS_H
#define BPT_HARNESS_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "rpc.pb-c.h"

/* Largest response body the harness keeps (bigger ones fail the call). */
#define BPT_MAX_BODY (16u * 1024u * 1024u)

typedef struct {
    char *name; /* as received */
    char *value;
} bpt_header_field;

typedef struct {
    long status;     /* HTTP status, 0 when no answer came */
    char *body;      /* NUL-terminated raw body ("" when none) */
    size_t body_len; /* bytes in body */
    json_t *json;    /* the parsed body, or NULL when it is not JSON */
    bpt_header_field *headers;
    size_t n_headers;
    double elapsed_ms; /* whole request, as curl measured it */
} bpt_response;

/* The gateway's base URL (BP_TEST_BASE_URL, e.g. http://127.0.0.1:3000). */
const char *bpt_base_url(void);

/* Sends method path (appended to the base URL) with the given extra headers
 * ("Name: value" strings, NULL-terminated array, may be NULL) and body of
 * body_len bytes (body may be NULL for none). Returns a response the caller
 * frees with bpt_response_free, or NULL when the request could not be made
 * at all (the reason is printed). */
bpt_response *bpt_http(const char *method, const char *path, const char *const *headers,
                       const void *body, size_t body_len);

/* Convenience: body is encoded as JSON (NULL for none; not stolen) and sent
 * with Content-Type: application/json; token, when not NULL, goes in
 * Authorization: Bearer. Same ownership as bpt_http. */
bpt_response *bpt_http_json(const char *method, const char *path, const char *token,
                            const json_t *body);

/* As bpt_http_json with the body given as a jansson pack format. */
bpt_response *bpt_http_pack(const char *method, const char *path, const char *token,
                            const char *fmt, ...);

/* The value of the last header called name (any case), or NULL. Owned by r. */
const char *bpt_header(const bpt_response *r, const char *name);

/* Frees r and everything in it. NULL is ignored. */
void bpt_response_free(bpt_response *r);

/* The value at a dotted path ("user.email") of a JSON document, or NULL.
 * Borrowed from root. */
json_t *bpt_json_at(const json_t *root, const char *path);

/* The string at a dotted path, or NULL when missing or not a string. */
const char *bpt_json_str(const json_t *root, const char *path);

/* error.code / error.field / error.request_id of an error answer, or NULL. */
const char *bpt_error_code(const bpt_response *r);
const char *bpt_error_field(const bpt_response *r);

/* Polls GET /api/health until it answers 200; returns 0, or -1 after
 * timeout_ms. */
int bpt_wait_healthy(int timeout_ms);

/* ---- users ----------------------------------------------------------- */

typedef struct {
    char email[128];
    char password[64];
    char name[64];
    char id[64];
    char token[2048]; /* from the login */
} bpt_user;

/* Writes a new address that no other call, process or run has used. */
void bpt_unique_email(char *out, size_t len);

/* Registers a fresh unique client (accept_terms true) and logs in; fills u.
 * Returns 0, or -1 when either step did not answer as API.md says. */
int bpt_user_new(bpt_user *u);

/* ---- daemons ----------------------------------------------------------- */

/* The current pid of a process of the suite ("auth", ..., "gateway"), from
 * BP_TEST_PID_DIR/<name>.pid or else BP_TEST_PID_<NAME>; -1 when unknown. */
pid_t bpt_daemon_pid(const char *name);

/* True when pid exists and is not a zombie (the daemons scripts/test.sh
 * started stay its zombies until it reaps them). */
int bpt_pid_alive(pid_t pid);

/* Sends sig to the process; returns 0 or -1. */
int bpt_daemon_signal(const char *name, int sig);

/* SIGSTOP (the daemon hangs: it holds its connections but answers nothing)
 * and SIGCONT. */
int bpt_daemon_stop(const char *name); /* returns once every thread is stopped */
int bpt_daemon_cont(const char *name);

/* SIGKILL, then waits until the process is gone (at most 5 s). */
int bpt_daemon_kill(const char *name);

/* Starts BP_TEST_BIN_DIR/barberpro-<name> again with this process's
 * environment (the one scripts/test.sh gave the suite), detached, its stderr
 * appended to BP_TEST_LOG_DIR/<name>.log, records its pid, and waits until
 * it answers (a Health call over the bus for a daemon, /api/health for the
 * gateway). Returns 0, or -1 when it did not answer within timeout_ms. */
int bpt_daemon_restart(const char *name, int timeout_ms);

/* ---- the bus ------------------------------------------------------------- */

/* Writes the bus URL of a daemon: <NAME>_RPC_URL, else
 * ipc://<BP_TEST_RUN_DIR>/<name>.ipc. */
void bpt_rpc_url(const char *name, char *out, size_t len);

/* Sends len raw bytes to the daemon's REP socket from a new REQ socket and
 * waits at most timeout_ms for the reply. On 0, *reply (malloc'd, caller
 * frees) holds *reply_len bytes. Returns 0, or an nng error code (e.g.
 * NNG_ETIMEDOUT when nothing came back). */
int bpt_rpc_raw(const char *name, const void *msg, size_t len, int timeout_ms, void **reply,
                size_t *reply_len);

/* Sends an envelope for method with body (body_len bytes, may be NULL) and a
 * deadline timeout_ms from now, and decodes the reply. On 0 the caller
 * frees *reply with bp__rpc__reply__free_unpacked(*reply, NULL). Returns 0,
 * an nng error code, or -1 when the reply is not a Reply. */
int bpt_rpc_call(const char *name, const char *method, const void *body, size_t body_len,
                 int timeout_ms, Bp__Rpc__Reply **reply);

/* ---- small things ----------------------------------------------------------- */

/* Milliseconds from CLOCK_MONOTONIC. */
double bpt_now_ms(void);

/* Sleeps ms milliseconds. */
void bpt_sleep_ms(int ms);

/* RPC_TIMEOUT_MS as the suite was started with (default 5000). */
int bpt_rpc_timeout_ms(void);

#endif
