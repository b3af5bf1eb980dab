#include <stddef.h>
#include <string.h>

#include "bp.h"
#include "state.h"

typedef struct {
    const char *status;
    int rank;
} ranked;

static const ranked MP_RANKS[] = {
    {"pending", 0},  {"in_process", 0},   {"authorized", 0}, {"rejected", 1},     {"cancelled", 1},
    {"approved", 2}, {"in_mediation", 2}, {"refunded", 3},   {"charged_back", 4},
};

static const ranked OUR_RANKS[] = {
    {"pending", 0},      {"rejected", 1},           {"cancelled", 1},
    {"approved", 2},     {"partially_refunded", 3}, {"refunded", 4},
    {"charged_back", 4},
};

static int rank_in(const ranked *t, size_t n, const char *status)
{
    for (size_t i = 0; status != NULL && i < n; i++)
        if (strcmp(t[i].status, status) == 0)
            return t[i].rank;
    return -1;
}

int payment_mp_rank(const char *mp_status)
{
    return rank_in(MP_RANKS, BP_COUNTOF(MP_RANKS), mp_status);
}

int payment_rank(const char *status)
{
    return rank_in(OUR_RANKS, BP_COUNTOF(OUR_RANKS), status);
}

bool payment_attempt_moves(int old_rank, int64_t old_refunded, int rank, int64_t refunded)
{
    return rank > old_rank || (rank == old_rank && refunded > old_refunded);
}

const char *payment_derive(const payment_attempt *a, int n, int64_t amount_cents,
                           int64_t *refunded_cents, int *chosen)
{
    *refunded_cents = 0;
    *chosen = -1;
    int best = -1;
    for (int i = 0; i < n; i++) {
        int r = payment_mp_rank(a[i].status);
        if (r < 2)
            continue;
        if (best < 0 || payment_attempt_moves(payment_mp_rank(a[best].status),
                                              a[best].refunded_cents, r, a[i].refunded_cents))
            best = i;
    }
    if (best >= 0) {
        *chosen = best;
        const char *s = a[best].status;
        int64_t refunded = a[best].refunded_cents;
        if (strcmp(s, "charged_back") == 0)
            return "charged_back";
        if (strcmp(s, "refunded") == 0 || refunded >= amount_cents) {
            *refunded_cents = amount_cents;
            return "refunded";
        }
        *refunded_cents = refunded > 0 ? refunded : 0;
        return refunded > 0 ? "partially_refunded" : "approved";
    }
    for (int i = 0; i < n; i++)
        if (payment_mp_rank(a[i].status) == 0) {
            *chosen = i;
            return "pending";
        }
    for (int i = n - 1; i >= 0; i--)
        if (payment_mp_rank(a[i].status) == 1) {
            *chosen = i;
            return strcmp(a[i].status, "cancelled") == 0 ? "cancelled" : "rejected";
        }
    return NULL;
}

bool payment_moves(const char *status, int64_t refunded, const char *next, int64_t next_refunded)
{
    int from = payment_rank(status), to = payment_rank(next);
    if (to < 0)
        return false;
    return to > from || (to == from && strcmp(status, next) == 0 && next_refunded > refunded);
}

const char *payment_topic(const char *status)
{
    if (strcmp(status, "approved") == 0)
        return "payment.approved";
    if (strcmp(status, "rejected") == 0)
        return "payment.rejected";
    if (strcmp(status, "refunded") == 0 || strcmp(status, "partially_refunded") == 0)
        return "payment.refunded";
    return NULL;
}
