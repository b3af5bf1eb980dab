/* The payment daemon's shared state and internal interface. One file per
 * concern implements it:
 *   config.c     settings, and the bus clients of booking and auth
 *   mp.c         the MercadoPago API client (mp.h)
 *   state.c      the status rules: ranks, forward-only moves (state.h)
 *   store.c      payment rows, applying MercadoPago's truth, events
 *   reply.c      the Payment message of a row, shared answers
 *   checkout.c   Checkout, GetPayment, ListPayments
 *   manual.c     ManualPayment
 *   refunds.c    Refund, the refund queue
 *   webhook.c    MercadoPagoWebhook and the queue of notifications
 *   reconcile.c  looking pending payments up when no webhook came
 *   events.c     Deliver: booking.cancelled, booking.expired, user erasure
 *   privacy.c    Ley 25.326: ExportUser, erasure, audit records of accesses
 *   business.c   the business figures of GET /api/business-metrics
 *
 * Money is integer centavos everywhere; pesos exist only in mp.c. */
#ifndef PAYMENT_H
#define PAYMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "booking.pb-c.h"
#include "bp.h"
#include "db.h"
#include "events.pb-c.h"
#include "kv.h"
#include "payment.pb-c.h"
#include "rpc.h"

/* Settled once at start from the environment, then read-only: the
 * bp_service.app of the daemon. */
typedef struct {
    char api_url[256];          /* MERCADOPAGO_API_URL, without a trailing slash */
    const char *access_token;   /* MERCADOPAGO_ACCESS_TOKEN; NULL: checkouts answer 503 */
    const char *webhook_secret; /* MERCADOPAGO_WEBHOOK_SECRET; NULL: webhooks answer 401 */
    char public_base_url[256];  /* PUBLIC_BASE_URL, without a trailing slash */
    char timezone[64];          /* TIMEZONE, for the times of a reply */
    int timeout_ms;             /* MERCADOPAGO_TIMEOUT_MS (10000): one API call */
    int reconcile_interval_ms;  /* PAYMENT_RECONCILE_INTERVAL_MS (60000) */
    int backoff_ms;             /* PAYMENT_RETRY_BACKOFF_MS (1000): first retry of a queue row */
    int backoff_max_ms;         /* PAYMENT_RETRY_BACKOFF_MAX_MS (300000) */
    bp_client *booking;         /* PaymentContext: the booking and who the caller is */
    bp_client *auth;            /* FindUser: the payer's email and name */
} payment_ctx;

/* The daemon's settings, for handlers (through the call) and jobs. */
extern payment_ctx payment_config;

/* Reads the settings (exit 2 on a bad value, naming the variable) and dials
 * booking and auth. Returns 0 or a BP_E* code. */
int payment_config_load(payment_ctx *ctx);
void payment_config_free(payment_ctx *ctx);

/* The settings for a MercadoPago call made while answering call: its
 * timeout cut so that the answer still beats the call's deadline (a 503
 * the client can act on, not the gateway's 504). */
payment_ctx payment_ctx_for(bp_call *call);

/* ---- the booking, as the booking daemon tells it ------------------------- */

/* Asks booking.PaymentContext for booking_id on behalf of the caller.
 * Returns 0 with *out (free with bp__booking__payment_context_reply__free_unpacked),
 * or BP_EREPLIED after answering: 404 naming what ("El turno", "El pago")
 * for a booking the caller may not see, 400 for a malformed id, 503 when
 * the booking daemon does not answer. */
int payment_booking_context(bp_call *call, const char *booking_id, const char *what,
                            Bp__Booking__PaymentContextReply **out);

/* ---- payment rows (store.c) ------------------------------------------------ */

/* The columns every payment read selects, in this order (alias p). */
#define PAYMENT_COLUMNS                                                                            \
    "p.id, p.booking_id, coalesce(p.client_id::text, ''), p.provider, p.method, p.status,"         \
    " coalesce(p.status_detail, ''), p.amount_cents, p.refunded_cents, p.currency,"                \
    " coalesce(p.checkout_url, ''), coalesce(p.preference_id, ''),"                                \
    " coalesce((extract(epoch FROM p.expires_at) * 1000)::int8, 0),"                               \
    " (extract(epoch FROM p.created_at) * 1000)::int8,"                                            \
    " coalesce((extract(epoch FROM p.approved_at) * 1000)::int8, 0),"                              \
    " coalesce(p.mp_payment_id, 0), p.created_by, coalesce(p.shop_id::text, ''),"                  \
    " coalesce(p.description, '')"

/* Slots of the hot statements (bp_db_exec_prepared), unique in the daemon. */
enum {
    PAYMENT_STMT_SELECT = 0,
    PAYMENT_STMT_SELECT_LOCKED,
    PAYMENT_STMT_REFUNDS,
};

/* One row of PAYMENT_COLUMNS; the strings point into the PGresult. */
typedef struct {
    const char *id, *booking_id, *client_id, *provider, *method, *status, *status_detail;
    int64_t amount_cents, refunded_cents;
    const char *currency, *checkout_url, *preference_id;
    int64_t expires_ms, created_ms, approved_ms, mp_payment_id;
    const char *created_by, *shop_id, *description;
} payment_row;

/* Reads row i of res, whose first columns are PAYMENT_COLUMNS. */
void payment_row_read(const PGresult *res, int i, payment_row *p);

/* SELECT PAYMENT_COLUMNS of the payment id (FOR UPDATE when lock). Returns
 * the result with one row, NULL with *rv BP_ENOTFOUND or BP_EIO. */
PGresult *payment_select(bp_db *db, const char *id, bool lock, int *rv);

/* What one change of a payment did, to count once it committed. */
typedef struct {
    bool changed;
    bool refund_queued; /* a refund waits for the refunds job */
    char provider[16];
    char status[24];
} payment_change;

/* Counts a committed change in payments_total{provider,status}. */
void payment_count(const payment_change *c);

/* Ends the transaction the caller began: commits when rv is 0, else rolls
 * back. Once committed, counts change and wakes the event relay and, when
 * a refund was queued, the refunds job. Returns rv, or the commit's error. */
int payment_end(bp_db *db, int rv, const payment_change *change);

/* Sets the payment's status (and refunded_cents, method, status_detail,
 * MercadoPago id, when given) inside the caller's transaction and announces
 * it: payment.approved, payment.rejected or payment.refunded (the other
 * statuses announce nothing). The caller has the row locked and checked
 * that the move is forward (state.h). */
int payment_set_status(bp_db *db, const payment_row *p, const char *status, int64_t refunded_cents,
                       const char *method, const char *status_detail, int64_t mp_payment_id,
                       payment_change *change);

/* What MercadoPago says of one of its payments (mp.h's mp_payment), applied
 * to ours inside the caller's transaction: the attempt is recorded (only
 * forward), our status derived from all attempts, moved forward only, and
 * announced. A payment that is not ours, or whose amount or currency is not
 * what we asked, changes nothing but a log line. Returns 0 or BP_EIO. */
struct mp_payment;
int payment_apply(bp_db *db, const char *rid, const struct mp_payment *mp, payment_change *change);

/* Our status of p (locked by the caller's transaction) from every attempt
 * that counts, moved forward and announced when it changed; a second
 * payment that brought in money for an already paid booking is queued for
 * a refund. Returns 0 or BP_EIO. */
int payment_rederive(bp_db *db, const char *rid, const payment_row *p, payment_change *change);

/* Runs payment_apply in a transaction of its own and counts the change. */
int payment_apply_tx(bp_db *db, const char *rid, const struct mp_payment *mp);

/* The next try of a queue row that failed `attempts` times: the backoff
 * doubles from PAYMENT_RETRY_BACKOFF_MS up to its maximum, +-20 % jitter. */
int64_t payment_backoff_ms(int attempts);

/* Finds a payment by its creator's Idempotency-Key ($1 user, $2 key). */
#define PAYMENT_SQL_BY_KEY                                                                         \
    "SELECT " PAYMENT_COLUMNS " FROM payment.payments p"                                           \
    " WHERE p.created_by = $1 AND p.idempotency_key = $2"

/* ---- answers (reply.c) ------------------------------------------------------ */

/* The Payment message of a row, with its refunds (read through db), in the
 * call's arena; NULL when out of memory or on a read error. */
Bp__Payment__Payment *payment_reply(bp_call *call, bp_db *db, const payment_row *p);

/* The Payment messages (payment_reply) of the first n rows of res, whose
 * first columns are PAYMENT_COLUMNS, into *items (an array in the call's
 * arena) and *n_items, in the order of res. Returns 0, BP_ENOMEM or
 * BP_EIO; *n_items counts those made when it fails. */
int payment_replies(bp_call *call, bp_db *db, const PGresult *res, int n,
                    Bp__Payment__Payment ***items, size_t *n_items);

/* Answers {payment} for the row of res (status 200 unless set). */
int payment_answer(bp_call *call, Bp__Payment__PaymentReply *out, const payment_row *p);

/* The client's Idempotency-Key, or NULL when it sent none. */
const char *payment_idempotency_key(bp_call *call);

/* 503 unavailable: MercadoPago did not answer as it should. */
int payment_fail_mercadopago(bp_call *call);

#define PAYMENT_HANDLER(name)                                                                      \
    int payment_handle_##name(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp)

PAYMENT_HANDLER(checkout);
PAYMENT_HANDLER(get_payment);
PAYMENT_HANDLER(list_payments);
PAYMENT_HANDLER(manual_payment);
PAYMENT_HANDLER(refund);
PAYMENT_HANDLER(mercadopago_webhook);
PAYMENT_HANDLER(deliver);
PAYMENT_HANDLER(export_user);

/* ---- Ley 25.326 (privacy.c) ---------------------------------------------------- */

/* The user.erasure_requested handler (inbox.h's bp_event_fn): the user's
 * payments stay, for the accounts, without anything that names them;
 * their ids as creator or requester go too. Applied twice, or for a user
 * with no payments, it changes nothing. Returns 0 or BP_EIO. */
int payment_erase_user(bp_call *call, bp_db *db, const Bp__Events__Event *ev);

/* Records for auth's audit log that the caller accessed p, another
 * person's payment, with action ("payment_read", "payment_changed") and
 * details {"payment_id", "refund_id" when refund_id is not NULL or ""}:
 * inside the caller's transaction when one is open. Nothing is written
 * when the caller is p's client or p has none. Returns 0 or a BP_E* code
 * (BP_EIO: the transaction is aborted). */
int payment_audit(bp_call *call, bp_db *db, const payment_row *p, const char *action,
                  const char *refund_id);

/* The same for the rows of res (PAYMENT_COLUMNS first) that ListPayments
 * answers for booking_id: one "payments_list" record per other client. */
int payment_audit_list(bp_call *call, bp_db *db, const PGresult *res, const char *booking_id);

/* ---- queues and jobs ---------------------------------------------------------- */

/* Jobs (jobs.h): apply the webhooks received, ask MercadoPago for the
 * refunds due, look pending payments up. */
int payment_process_notifications(bp_db *db, bp_kv *kv);
int payment_process_refunds(bp_db *db, bp_kv *kv);
int payment_reconcile(bp_db *db, bp_kv *kv);

/* Queues a refund of amount_cents of payment p (locked by the caller's
 * transaction); requested_by NULL for the system. key (or NULL) makes the
 * request idempotent: an existing refund of that key is returned instead.
 * Writes the refund's id into id_out. A manual payment's refund is done at
 * once (money handed back in person). Returns 0 or BP_EIO. */
int payment_refund_queue(bp_db *db, const payment_row *p, int64_t amount_cents, const char *reason,
                         const char *requested_by, const char *key, char id_out[37],
                         payment_change *change);

/* Asks MercadoPago (with the settings of ctx) for the pending refund id now,
 * outside any transaction, and records the outcome. Returns 0 when it is
 * done, BP_EUNAVAIL when it stays queued, BP_EINVAL when MercadoPago
 * refused it for good, BP_EIO. */
int payment_refund_send(const payment_ctx *ctx, bp_db *db, const char *rid, const char *refund_id);

/* The bp_service.business_metrics hook (business.c): payments by status,
 * their count and amount, appended to out as Prometheus text. Returns 0 or
 * BP_EIO. */
int payment_business_metrics(bp_call *call, bp_strbuf *out);

/* Job names, for bp_jobs_kick. */
#define PAYMENT_JOB_NOTIFICATIONS "notifications"
#define PAYMENT_JOB_REFUNDS       "refunds"

#endif
