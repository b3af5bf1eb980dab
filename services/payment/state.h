/* The rules of a payment's status, apart from any storage so that unit
 * tests can check them (tests/unit/payment_state_test.c).
 *
 * MercadoPago's news may arrive late, twice or out of order; the daemon
 * always reads the payment from MercadoPago, but two readings can still
 * cross. So every status has a rank and only moves up:
 *   MercadoPago's payment (an attempt): pending, in_process, authorized 0;
 *   rejected, cancelled 1; approved, in_mediation 2; refunded 3;
 *   charged_back 4. The same rank moves only when more was refunded.
 *   Ours: pending 0; rejected, cancelled 1; approved 2;
 *   partially_refunded 3; refunded, charged_back 4.
 * A rejected checkout can still become approved: Checkout Pro lets the
 * buyer try another card on the same preference. */
#ifndef PAYMENT_STATE_H
#define PAYMENT_STATE_H

#include <stdbool.h>
#include <stdint.h>

/* The rank of MercadoPago's status, or -1 for one it does not document. */
int payment_mp_rank(const char *mp_status);

/* The rank of one of our statuses, or -1 for an unknown one. */
int payment_rank(const char *status);

/* Whether an attempt at (old_rank, old_refunded) moves to (rank, refunded). */
bool payment_attempt_moves(int old_rank, int64_t old_refunded, int rank, int64_t refunded);

/* One attempt as payment_derive reads it. */
typedef struct {
    const char *status; /* MercadoPago's */
    int64_t refunded_cents;
} payment_attempt;

/* Our status from the attempts that count (oldest first) for a payment of
 * amount_cents: money received (the best attempt that received it) first,
 * then a pending attempt, then the last refusal; with no attempt, NULL.
 * *refunded_cents gets the refunded amount of the attempt chosen (0 when
 * none), *chosen its index (-1 when none). The string is static. */
const char *payment_derive(const payment_attempt *a, int n, int64_t amount_cents,
                           int64_t *refunded_cents, int *chosen);

/* Whether our payment moves from (status, refunded) to (next, next_refunded):
 * up in rank, or partially_refunded with more refunded. */
bool payment_moves(const char *status, int64_t refunded, const char *next, int64_t next_refunded);

/* The topic announcing a move to status: payment.approved,
 * payment.rejected, payment.refunded (for refunded and partially_refunded),
 * or NULL for the statuses nobody consumes. */
const char *payment_topic(const char *status);

#endif
