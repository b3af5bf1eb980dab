/* The integration test harness: HTTP calls to the gateway under test, fresh
 * users, control of the daemons (stop, continue, kill, restart) and raw
 * messages to a daemon's bus socket. scripts/test.sh starts the suite and
 * passes where it is through the environment (BP_TEST_BASE_URL,
 * BP_TEST_RUN_DIR, BP_TEST_BIN_DIR, BP_TEST_LOG_DIR, BP_TEST_PID_DIR,
 * BP_TEST_PID_<SVC>, DATABASE_URL, MERCADOPAGO_API_URL). Functions return 0 or -1 and print why on
 * stderr; they never assert, so tests say what they expect. */
#ifndef BPT_HARNESS_H
#define BPT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* As bpt_http, to another server (base like "http://127.0.0.1:4000"). */
bpt_response *bpt_http_at(const char *base, const char *method, const char *path,
                          const char *const *headers, const void *body, size_t body_len);

/* Starts one more gateway (the suite's binary and environment, plus the
 * "NAME=value" overrides of env, NULL-terminated) on a free port, its log in
 * BP_TEST_LOG_DIR/<label>.log (checked for sanitizer reports like the
 * daemons'), and waits until it answers. Writes its base URL into base_url
 * and returns its pid, or -1. Stop it with bpt_gateway_stop. */
pid_t bpt_gateway_spawn(const char *label, const char *const *env, char *base_url, size_t len);

/* SIGTERM, then waits up to 15 s for it to exit. Returns 0 when it did. */
int bpt_gateway_stop(pid_t pid);

/* Convenience: body is encoded as JSON (NULL for none; not stolen) and sent
 * with Content-Type: application/json; token, when not NULL, goes in
 * Authorization: Bearer. Same ownership as bpt_http. */
bpt_response *bpt_http_json(const char *method, const char *path, const char *token,
                            const json_t *body);

/* bpt_http_json with an Idempotency-Key header (idem_key NULL: none). */
bpt_response *bpt_http_json_keyed(const char *method, const char *path, const char *token,
                                  const char *idem_key, const json_t *body);

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

/* 1 when r is an error answer of that status and code with a non-empty
 * message, else 0. */
int bpt_error_is(const bpt_response *r, long status, const char *code);

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

/* An eight-digit subscriber number of Buenos Aires (11) that no other call
 * within 80 minutes uses (a test run is shorter): 20000000 to 99999999,
 * since a subscriber number never starts with 0 or 1 (common/input.c). As
 * the API stores it: "+54911%08u"; as WhatsApp writes it: "5411%08u". */
unsigned bpt_unique_subscriber(void);

/* Registers a fresh unique client (accept_terms true) and logs in; fills u.
 * Returns 0, or -1 when either step did not answer as API.md says. */
int bpt_user_new(bpt_user *u);

/* Registers a fresh unique account of role ("client" or "owner") called
 * name (accept_terms true) and fills u from the answer: id and token.
 * Returns 0, or -1 when the answer is not a 201 with both. */
int bpt_user_register(bpt_user *u, const char *role, const char *name);

/* Signs in as the admin scripts/test.sh creates (BP_TEST_ADMIN_EMAIL and
 * BP_TEST_ADMIN_PASSWORD). Returns 0, or -1 (the reason printed). */
int bpt_admin_login(bpt_user *u);

/* ---- dates in Buenos Aires ------------------------------------------------- */

/* Days are counted from 1970-01-01 in Buenos Aires' fixed -03:00 (no DST),
 * the default zone of a new shop. */
long bpt_ba_today(void);

/* ISO weekday of a day: 1 = Monday .. 7 = Sunday. */
int bpt_iso_weekday(long day);

/* "YYYY-MM-DD" of a day. */
void bpt_day_date(long day, char out[11]);

/* "YYYY-MM-DDTHH:MM:00-03:00" of a day at a local "HH:MM". */
void bpt_ba_at(long day, const char *hhmm, char out[32]);

/* 1 when day is in GET /api/holidays of its year, 0 when not, -1 when the
 * list could not be read. */
int bpt_is_holiday(long day);

/* The n-th Monday-to-Friday day (n = 0: the first) from min_ahead days
 * after today on that is no holiday, within the booking horizon; -1 when
 * there is none or the holidays could not be read. */
long bpt_workday(int min_ahead, int n);

/* ---- a shop to book in ------------------------------------------------------- */

#define BPT_CORTE_PRICE 1500000 /* $ 15.000,00 */
#define BPT_COLOR_PRICE 4000000 /* $ 40.000,00 */

/* A fresh owner, a shop of theirs ("Corte": 30 min + 10 of buffer, no
 * deposit; "Color": 60 min, 20 % deposit), a provider performing both and
 * linked to the barber's (client) account, and a client. */
typedef struct {
    bpt_user owner, barber, client;
    char shop_id[64], corte_id[64], color_id[64], provider_id[64];
} bpt_shop;

/* Creates all of the above over HTTP. Returns 0, or -1 (the reason
 * printed) when a step did not answer as API.md says. */
int bpt_shop_new(bpt_shop *f);

/* POST /api/bookings of service_id with f's provider at starts_at. */
bpt_response *bpt_book(const char *token, const bpt_shop *f, const char *service_id,
                       const char *starts_at);

/* bpt_book with an Idempotency-Key header (idem_key NULL: none). */
bpt_response *bpt_book_keyed(const char *token, const bpt_shop *f, const char *service_id,
                             const char *starts_at, const char *idem_key);

/* GET /api/bookings/{id}. */
bpt_response *bpt_booking_get(const char *token, const char *id);

/* POST /api/bookings/{id}/{what} ("cancel", "reschedule", ...) with body
 * (may be NULL). */
bpt_response *bpt_booking_act(const char *token, const char *id, const char *what,
                              const json_t *body);

/* The string booking.<field> of GET /api/bookings/{id}, malloc'd ("" when
 * absent); NULL when the GET did not answer 200. */
char *bpt_booking_field(const char *token, const char *id, const char *field);

/* GET /api/providers/{f's provider}/availability of service_id for days
 * days from day. */
bpt_response *bpt_availability(const bpt_shop *f, const char *service_id, long day, int days);

/* 1 when the availability of day lists a slot starting at hhmm, 0 when
 * not, -1 when the availability did not answer 200. */
int bpt_offers(const bpt_shop *f, const char *service_id, long day, const char *hhmm);

/* ---- events ---------------------------------------------------------------- */

/* Delivers a payment event (topic "payment.approved", "payment.refunded",
 * ...) about booking_id to the booking daemon's Deliver, as the payment
 * daemon's relay would: a bp.events.PaymentEvent (payment_id, status from
 * the topic, amount_cents, refunded_cents when not negative, ARS) inside an
 * Event with id event_id. On 0 *status holds the reply's status. Returns
 * 0, or an nng error code / -1 when no reply came. */
int bpt_deliver_payment(const char *topic, const char *event_id, const char *booking_id,
                        int64_t amount_cents, int64_t refunded_cents, int *status);

/* ---- payments ------------------------------------------------------------ */

/* POST /api/payments/checkout {"booking_id": booking_id} as token, with the
 * header Idempotency-Key: idem_key unless idem_key is NULL. */
bpt_response *bpt_checkout(const char *token, const char *booking_id, const char *idem_key);

/* GET /api/payments/{id}. */
bpt_response *bpt_payment_get(const char *token, const char *id);

/* Polls GET /api/payments/{id} as token until payment.status is status.
 * Returns 0, or -1 after timeout_ms (the last answer printed). */
int bpt_wait_payment_status(const char *token, const char *id, const char *status, int timeout_ms);

/* Polls GET /api/bookings/{id} as token until booking.status is status.
 * Returns 0, or -1 after timeout_ms (the last answer printed). */
int bpt_wait_booking_status(const char *token, const char *id, const char *status, int timeout_ms);

/* Books f's "Color" (20 % deposit) for f's client at hhmm of day, expects a
 * 201 pending_payment booking, holds it hold_seconds (bpt_booking_hold) and
 * copies its id to id. Returns 0, or -1 (the reason printed). */
int bpt_book_deposit(const bpt_shop *f, long day, const char *hhmm, int hold_seconds, char id[64]);

/* Checks booking_id out as token with a fresh Idempotency-Key, expects 201
 * with payment.id and payment.checkout_url, and copies them to payment_id
 * and checkout_url (url_len bytes). Returns 0, or -1 (the reason printed). */
int bpt_checkout_open(const char *token, const char *booking_id, char payment_id[64],
                      char *checkout_url, size_t url_len);

/* Moves the hold of a pending_payment booking to seconds from now, in the
 * database: the suite's holds last BOOKING_HOLD_SECONDS (4 s, for the expiry
 * tests), less than a payment test needs. Call it before the checkout, which
 * copies the hold's end into the payment's expires_at. Returns 0, or -1 when
 * no such pending booking was changed. */
int bpt_booking_hold(const char *booking_id, int seconds);

/* ---- the MercadoPago stand-in (tests/fakes/mercadopago.c) ------------------ */

/* Its base URL: MERCADOPAGO_API_URL, as scripts/test.sh gave the suite. */
const char *bpt_mp_url(void);

/* method path on the stand-in, with Authorization: Bearer
 * MERCADOPAGO_ACCESS_TOKEN so that its real API answers too. Same ownership
 * as bpt_http. */
bpt_response *bpt_mp_http(const char *method, const char *path);

/* POST / GET of a control endpoint, the path (with its query) given as a
 * printf format. Returns the parsed body of a 2xx answer, which the caller
 * frees with json_decref, or NULL (the answer printed). */
json_t *bpt_mp_post(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
json_t *bpt_mp_get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* POST /_fake/mode?mode=mode (ok, error, hang, garbage). Returns 0 or -1. */
int bpt_mp_mode(const char *mode);

/* Copies the pref_id of a checkout_url (the preference's init_point) to
 * out. Returns 0, or -1 when the URL carries none. */
int bpt_mp_pref_id(const char *checkout_url, char *out, size_t len);

/* The buyer pays the checkout at checkout_url: POST /_fake/pay with the
 * status given, notify=0 when notify is 0 (no webhook). Returns the id
 * MercadoPago gave the payment, or -1. */
int64_t bpt_mp_pay(const char *checkout_url, const char *status, int notify);

/* GET /_fake/last?endpoint=endpoint: the calls the stand-in served there
 * since its start or last reset, and the last one into *last (the caller
 * json_decref's it) when last is not NULL. Returns the count, or -1. */
long bpt_mp_last(const char *endpoint, json_t **last);

/* How many webhook attempts the stand-in made about payment mp_id with that
 * signature kind ("ok", "bad", "missing"; NULL: any) that got that HTTP
 * status (0: any), among its last 256. -1 when /_fake/webhooks failed. */
int bpt_mp_deliveries(int64_t mp_id, const char *signature, long status);

/* Polls bpt_mp_deliveries until it reaches n. Returns 0, or -1 after
 * timeout_ms (the deliveries printed). */
int bpt_mp_wait_deliveries(int64_t mp_id, const char *signature, long status, int n,
                           int timeout_ms);

/* ---- any stand-in ---------------------------------------------------------- */

/* method on the stand-in whose API URL is in the environment variable
 * url_var (e.g. "WHATSAPP_API_URL"; only its scheme, host and port are
 * used), at the path made from fmt (a control endpoint, "/_fake/...").
 * Returns the parsed body of a 2xx answer (the caller decrefs), or NULL
 * with the reason printed. */
json_t *bpt_fake_json(const char *url_var, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the suite's database (DATABASE_URL) ----------------------------------- */

/* Runs sql with n text params and returns the integer in its first row and
 * column (a count), or -1 when it failed (printed). */
long bpt_db_long(const char *sql, int n, const char *const *params);

/* The same for a text: the first row's first column, malloc'd ("" for
 * NULL), or NULL when the statement failed (printed) or returned no row. */
char *bpt_db_text(const char *sql, int n, const char *const *params);

/* How many distinct events of topic about booking_id the payment daemon's
 * outbox (payment.outbox, one row per event and consumer) holds, read from
 * each bp.events.PaymentEvent payload. -1 when the query failed. */
long bpt_payment_events(const char *topic, const char *booking_id);

/* The same for the booking daemon's outbox (its key is the booking id). */
long bpt_booking_events(const char *topic, const char *booking_id);

/* ---- metrics ---------------------------------------------------------------- */

/* The sum of the samples in Prometheus text of the metric called name (or
 * <prefix>_name) that carry every label of labels ("provider=\"manual\"",
 * NULL-terminated; may be NULL); -1 when no sample matched. */
double bpt_metric_sum(const char *text, const char *name, const char *const *labels);

/* Runs `promtool check metrics` (PROMTOOL, else promtool on PATH) with text
 * written to a temporary file as its input. Returns its exit status with
 * what it printed in out (len bytes), -1 when the check could not be run,
 * or -2 when promtool is not installed. */
int bpt_promtool_check(const char *text, char *out, size_t len);

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

/* bpt_rpc_call with a principal in the envelope, as the gateway sends it
 * after checking a token (user_id and role may be NULL): for internal
 * methods no route reaches, such as ExportUser. */
int bpt_rpc_call_as(const char *name, const char *method, const char *user_id, const char *role,
                    const void *body, size_t body_len, int timeout_ms, Bp__Rpc__Reply **reply);

/* ---- small things ----------------------------------------------------------- */

/* A growing list of strings (copies); zero-initialise, free with
 * bpt_strings_free. Out of memory aborts the test. */
typedef struct {
    char **v;
    size_t n, cap;
} bpt_strings;

/* Appends a copy of p[0..len). */
void bpt_strings_add(bpt_strings *s, const char *p, size_t len);

/* True when p[0..len) is in the list. */
bool bpt_strings_has(const bpt_strings *s, const char *p, size_t len);

/* Frees every string and the list, which is empty again afterwards. */
void bpt_strings_free(bpt_strings *s);

/* Milliseconds from CLOCK_MONOTONIC. */
double bpt_now_ms(void);

/* Sleeps ms milliseconds. */
void bpt_sleep_ms(int ms);

/* RPC_TIMEOUT_MS as the suite was started with (default 5000). */
int bpt_rpc_timeout_ms(void);

#endif
