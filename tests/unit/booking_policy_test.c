/* Unit tests for the booking policy rules of services/booking/bookings.c:
 * who is acting on a booking, the deposit a new booking asks (with the
 * no-show rule), and whether a cancellation owes the deposit back. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "../../services/booking/bookings.h"

static const char CLIENT[] = "11111111-1111-4111-8111-111111111111";
static const char PROVIDER[] = "22222222-2222-4222-8222-222222222222";
static const char OWNER[] = "33333333-3333-4333-8333-333333333333";
static const char STRANGER[] = "44444444-4444-4444-8444-444444444444";

/* ---- who is acting ---------------------------------------------------------------- */

static const struct {
    const char *user, *role, *client, *provider_user, *owner;
    booking_actor want;
} ACTORS[] = {
    {CLIENT, "client", CLIENT, PROVIDER, OWNER, BOOKING_ACTOR_CLIENT},
    {PROVIDER, "client", CLIENT, PROVIDER, OWNER, BOOKING_ACTOR_PROVIDER},
    {PROVIDER, "provider", CLIENT, PROVIDER, OWNER, BOOKING_ACTOR_PROVIDER},
    {OWNER, "owner", CLIENT, PROVIDER, OWNER, BOOKING_ACTOR_OWNER},
    {STRANGER, "admin", CLIENT, PROVIDER, OWNER, BOOKING_ACTOR_ADMIN},
    {STRANGER, "client", CLIENT, PROVIDER, OWNER, BOOKING_ACTOR_NONE},
    {STRANGER, "owner", CLIENT, PROVIDER, OWNER, BOOKING_ACTOR_NONE},
    /* An owner who booked their own chair acts as the client. */
    {OWNER, "owner", OWNER, PROVIDER, OWNER, BOOKING_ACTOR_CLIENT},
    /* Unlinked provider and erased client: "" never matches anyone. */
    {"", "client", "", "", OWNER, BOOKING_ACTOR_NONE},
    {CLIENT, "client", "", "", OWNER, BOOKING_ACTOR_NONE},
    {"", "admin", "", "", OWNER, BOOKING_ACTOR_ADMIN},
};

Test(booking_policy, actor_of_each_relation)
{
    for (size_t i = 0; i < sizeof ACTORS / sizeof ACTORS[0]; i++) {
        booking_actor got = booking_actor_of(ACTORS[i].user, ACTORS[i].role, ACTORS[i].client,
                                             ACTORS[i].provider_user, ACTORS[i].owner);
        cr_expect_eq(got, ACTORS[i].want, "row %zu: got %d, want %d", i, got, ACTORS[i].want);
    }
}

Test(booking_policy, actor_names_are_the_cancelled_by_values)
{
    cr_expect_str_eq(booking_actor_name(BOOKING_ACTOR_CLIENT), "client");
    cr_expect_str_eq(booking_actor_name(BOOKING_ACTOR_PROVIDER), "provider");
    cr_expect_str_eq(booking_actor_name(BOOKING_ACTOR_OWNER), "owner");
    cr_expect_str_eq(booking_actor_name(BOOKING_ACTOR_ADMIN), "admin");
    cr_expect_null(booking_actor_name(BOOKING_ACTOR_NONE));
}

/* ---- deposits --------------------------------------------------------------------- */

static const struct {
    int64_t price;
    int service_pct, no_shows, limit, shop_pct;
    int64_t want;
} DEPOSITS[] = {
    {1500000, 0, 0, 2, 50, 0},        /* no deposit service, clean record */
    {1500000, 20, 0, 2, 50, 300000},  /* 20 % of $ 15.000,00 */
    {1500000, 0, 1, 2, 50, 0},        /* one no-show is not yet a pattern */
    {1500000, 0, 2, 2, 50, 750000},   /* two: the shop's no-show deposit */
    {1500000, 0, 5, 2, 50, 750000},   /* more than the limit too */
    {1500000, 80, 2, 2, 50, 1200000}, /* the higher of the two wins */
    {1500000, 20, 2, 2, 50, 750000},
    {1500000, 100, 0, 2, 50, 1500000},
    {999, 33, 0, 2, 50, 330},          /* 329.67 rounds half away from zero */
    {1, 50, 0, 2, 50, 1},              /* 0.5 cents round up */
    {0, 50, 3, 2, 50, 0},              /* a free service asks nothing */
    {1500000, 150, 0, 2, 50, 1500000}, /* out-of-range percentages clamp */
    {1500000, -10, 0, 2, 50, 0},
    {1500000, 0, 2, 0, 50, 0}, /* a limit of 0 disables the rule */
};

Test(booking_policy, deposit_table)
{
    for (size_t i = 0; i < sizeof DEPOSITS / sizeof DEPOSITS[0]; i++) {
        int64_t got =
            booking_deposit_cents(DEPOSITS[i].price, DEPOSITS[i].service_pct, DEPOSITS[i].no_shows,
                                  DEPOSITS[i].limit, DEPOSITS[i].shop_pct);
        cr_expect_eq(got, DEPOSITS[i].want, "row %zu: got %lld, want %lld", i, (long long)got,
                     (long long)DEPOSITS[i].want);
    }
}

/* ---- refunds ---------------------------------------------------------------------- */

#define H 3600
static const int64_t START = 1800000000; /* a start far from any edge */

static const struct {
    const char *status;
    int64_t deposit;
    booking_actor by;
    int64_t now;
    int window_h;
    bool want;
} REFUNDS[] = {
    /* The shop side always refunds a paid deposit, even minutes before. */
    {"confirmed", 300000, BOOKING_ACTOR_PROVIDER, START - 60, 24, true},
    {"confirmed", 300000, BOOKING_ACTOR_OWNER, START - 60, 24, true},
    {"confirmed", 300000, BOOKING_ACTOR_ADMIN, START - 60, 24, true},
    /* A client before the window gets it back; inside it, not. */
    {"confirmed", 300000, BOOKING_ACTOR_CLIENT, START - 48 * H, 24, true},
    {"confirmed", 300000, BOOKING_ACTOR_CLIENT, START - 24 * H, 24, true}, /* the edge */
    {"confirmed", 300000, BOOKING_ACTOR_CLIENT, START - 24 * H + 1, 24, false},
    {"confirmed", 300000, BOOKING_ACTOR_CLIENT, START - 2 * H, 24, false},
    {"confirmed", 300000, BOOKING_ACTOR_CLIENT, START - 2 * H, 0, true}, /* no window */
    {"confirmed", 300000, BOOKING_ACTOR_CLIENT, START - 72 * H, 72, true},
    /* Nothing was paid: nothing to refund. */
    {"confirmed", 0, BOOKING_ACTOR_OWNER, START - 60, 24, false},
    {"pending_payment", 300000, BOOKING_ACTOR_OWNER, START - 60, 24, false},
    {"pending_payment", 300000, BOOKING_ACTOR_CLIENT, START - 48 * H, 24, false},
    {"cancelled", 300000, BOOKING_ACTOR_OWNER, START - 60, 24, false},
};

Test(booking_policy, refund_table)
{
    for (size_t i = 0; i < sizeof REFUNDS / sizeof REFUNDS[0]; i++) {
        bool got = booking_refund_due(REFUNDS[i].status, REFUNDS[i].deposit, REFUNDS[i].by,
                                      REFUNDS[i].now, START, REFUNDS[i].window_h);
        cr_expect_eq(got, REFUNDS[i].want, "row %zu (%s by %d): got %d", i, REFUNDS[i].status,
                     REFUNDS[i].by, got);
    }
}

Test(booking_policy, open_states)
{
    cr_expect(booking_status_open("pending_payment"));
    cr_expect(booking_status_open("confirmed"));
    const char *closed[] = {"completed", "no_show", "cancelled", "expired", "", NULL};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++)
        cr_expect(!booking_status_open(closed[i]), "%s", closed[i] ? closed[i] : "NULL");
}
