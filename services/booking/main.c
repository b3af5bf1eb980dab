/* barberpro-booking: shops, services, providers, schedules, holidays,
 * availability and bookings. This file only wires the daemon; each concern
 * lives in its own file (booking.h lists them). */
#include <string.h>

#include "booking.h"
#include "bookings.h"
#include "booking.pb-c.h"
#include "daemon.h"
#include "log.h"
#include "inbox.h"
#include "privacy.h"

extern const bp_migration booking_migrations[];

static booking_ctx ctx;

/* One row per RPC of proto/booking.proto. Calls that reach outside the
 * machine (the exchange-rate source) run on the slow lane. */
static const bp_handler handlers[] = {
    /* catalogue: shops, services, prices, providers, schedules, calendar */
    {"CreateShop", booking_handle_create_shop, BP_HANDLER_AUTH},
    {"ListShops", booking_handle_list_shops, 0},
    {"GetShop", booking_handle_get_shop, 0},
    {"UpdateShop", booking_handle_update_shop, BP_HANDLER_AUTH},
    {"OpenDay", booking_handle_open_day, BP_HANDLER_AUTH},
    {"CloseDay", booking_handle_close_day, BP_HANDLER_AUTH},
    {"CreateService", booking_handle_create_service, BP_HANDLER_AUTH},
    {"ListServices", booking_handle_list_services, 0},
    {"UpdateService", booking_handle_update_service, BP_HANDLER_AUTH},
    {"ListServicePrices", booking_handle_list_service_prices, 0},
    {"RaisePrices", booking_handle_raise_prices, BP_HANDLER_AUTH},
    /* CreateProvider and UpdateProvider may wait up to a second on auth. */
    {"CreateProvider", booking_handle_create_provider, BP_HANDLER_AUTH},
    {"ListProviders", booking_handle_list_providers, 0},
    {"GetProvider", booking_handle_get_provider, 0},
    {"UpdateProvider", booking_handle_update_provider, BP_HANDLER_AUTH},
    {"GetSchedule", booking_handle_get_schedule, 0},
    {"PutSchedule", booking_handle_put_schedule, BP_HANDLER_AUTH},
    {"CreateTimeOff", booking_handle_create_time_off, BP_HANDLER_AUTH},
    {"ListTimeOff", booking_handle_list_time_off, BP_HANDLER_AUTH},
    {"DeleteTimeOff", booking_handle_delete_time_off, BP_HANDLER_AUTH},
    {"ListHolidays", booking_handle_list_holidays, 0},
    {"AddHoliday", booking_handle_add_holiday, BP_HANDLER_AUTH},
    {"ExchangeRate", booking_handle_exchange_rate, BP_HANDLER_SLOW},
    /* bookings, availability and events */
    {"Availability", booking_handle_availability, 0},
    {"CreateBooking", booking_handle_create_booking, BP_HANDLER_AUTH},
    {"ListBookings", booking_handle_list_bookings, BP_HANDLER_AUTH},
    {"GetBooking", booking_handle_get_booking, BP_HANDLER_AUTH},
    {"CancelBooking", booking_handle_cancel_booking, BP_HANDLER_AUTH},
    {"RescheduleBooking", booking_handle_reschedule_booking, BP_HANDLER_AUTH},
    {"CompleteBooking", booking_handle_complete_booking, BP_HANDLER_AUTH},
    {"MarkNoShow", booking_handle_mark_no_show, BP_HANDLER_AUTH},
    /* Only the relays of other daemons call it, over the bus. */
    {"Deliver", booking_handle_deliver, 0},
    /* Internal, no gateway route: the payment daemon asks it at checkout,
     * with the caller's principal, for the booking and who the caller is. */
    {"PaymentContext", booking_handle_payment_context, BP_HANDLER_AUTH},
    /* Internal, no gateway route: auth asks it, with the user as the
     * principal, for the user's export (Ley 25.326). */
    {"ExportUser", booking_handle_export_user, BP_HANDLER_AUTH},
};

/* Who hears of a booking's life: the notification daemon of every change,
 * the payment daemon of what ends a booking's money (a refund due, a hold
 * that lapsed). It needs no booking.created: it asks PaymentContext at
 * checkout instead. A consumer that does not implement Deliver yet answers
 * an error; the relay keeps the rows and retries with backoff until it
 * does: at least once, nothing lost in between. A booking confirmed at once
 * (no deposit) announces only booking.created, with status confirmed;
 * booking.confirmed is the later pending_payment -> confirmed change.
 * Auth keeps the audit log of who read or changed another person's
 * booking (Ley 25.326). */
static const bp_subscription subscriptions[] = {
    {"booking.created", "notification"},   {"booking.confirmed", "notification"},
    {"booking.cancelled", "notification"}, {"booking.rescheduled", "notification"},
    {"booking.expired", "notification"},   {"booking.completed", "notification"},
    {"booking.no_show", "notification"},   {"booking.cancelled", "payment"},
    {"booking.expired", "payment"},        {BP_AUDIT_TOPIC, "auth"},
};

/* The expiry interval is BOOKING_EXPIRE_INTERVAL_MS, set by on_start before
 * the jobs start. */
static bp_job jobs[] = {
    {"expire-holds", 5000, true, booking_expire_holds},
    {"inbox-prune", 3600000, true, bp_inbox_prune},
};

/* A failed warm-up is only slower first calls: logged, not fatal. */
static int worker_init(bp_worker *w)
{
    if (w->db != NULL && !w->slow_lane &&
        (booking_warm_up(w->db) != 0 || booking_slots_warm_up(w->db) != 0))
        bp_log_warn("booking worker %d: warm-up failed", w->index);
    return 0;
}

static const bp_service service = {
    .name = "booking",
    .descriptor = &bp__booking__booking_service__descriptor,
    .handlers = handlers,
    .n_handlers = BP_COUNTOF(handlers),
    /* Its calls mostly wait on PostgreSQL: more workers than cores keep the
     * cores busy (bookings per second on 2 cores: 714 with 4 workers, 950
     * with 32). BOOKING_WORKERS overrides it. */
    .workers = 32,
    .use_db = true,
    .use_kv = true,
    .worker_init = worker_init,
    .business_metrics = booking_business_metrics,
    .app = &ctx,
};

static int on_start(bp_db *db)
{
    (void)db;
    if (booking_config_load(&ctx) != 0)
        return 1;
    jobs[0].interval_ms = ctx.expire_interval_ms;
    return 0;
}

static void on_stop(void)
{
    booking_config_free(&ctx);
}

static const bp_daemon daemon_def;

/* `barberpro-booking demo-data`: migrates, then loads the demo catalogue. */
static int command(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "demo-data") != 0)
        return -1;
    bp_db *db;
    if (bp_daemon_open_db(&daemon_def, &db) != 0)
        return 1;
    int rv = booking_demo_load(db);
    bp_db_close(db);
    return rv == 0 ? 0 : 1;
}

static const bp_daemon daemon_def = {
    .service = &service,
    .schema = "booking",
    .migrations = booking_migrations,
    .on_start = on_start,
    .on_stop = on_stop,
    .command = command,
    .usage = "demo-data",
    .jobs = jobs,
    .n_jobs = BP_COUNTOF(jobs),
    .subscriptions = subscriptions,
    .n_subscriptions = BP_COUNTOF(subscriptions),
};

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
