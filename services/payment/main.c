/* barberpro-payment: MercadoPago checkouts, webhooks, reconciliation,
 * refunds and manual payments. This file only wires the daemon; each
 * concern lives in its own file (payment.h lists them). */
#include "daemon.h"
#include "inbox.h"
#include "payment.h"
#include "privacy.h"

extern const bp_migration payment_migrations[];

/* One row per RPC of proto/payment.proto. Calls that wait on MercadoPago
 * run on the slow lane, so that reads never queue behind them. */
static const bp_handler handlers[] = {
    {"Checkout", payment_handle_checkout, BP_HANDLER_AUTH | BP_HANDLER_SLOW},
    {"GetPayment", payment_handle_get_payment, BP_HANDLER_AUTH},
    {"ListPayments", payment_handle_list_payments, BP_HANDLER_AUTH},
    {"ManualPayment", payment_handle_manual_payment, BP_HANDLER_AUTH},
    {"Refund", payment_handle_refund, BP_HANDLER_AUTH | BP_HANDLER_SLOW},
    /* Public: its signature is the check. It only records the hint. */
    {"MercadoPagoWebhook", payment_handle_mercadopago_webhook, 0},
    /* Only the relays of other daemons call it, over the bus. */
    {"Deliver", payment_handle_deliver, 0},
    /* Internal: auth calls it with the user as the principal. */
    {"ExportUser", payment_handle_export_user, BP_HANDLER_AUTH},
};

/* Who hears of a payment: the booking daemon confirms a booking on its
 * approval and records refunds; the notification daemon tells the client.
 * Keyed by booking, so each consumer sees one booking's payments in order.
 * Auth keeps the audit log of accesses to other people's payments. */
static const bp_subscription subscriptions[] = {
    {"payment.approved", "booking"},      {"payment.refunded", "booking"},
    {"payment.approved", "notification"}, {"payment.rejected", "notification"},
    {"payment.refunded", "notification"}, {BP_AUDIT_TOPIC, "auth"},
};

/* Intervals from the settings, set by on_start before the jobs start. The
 * queues are also kicked the moment they get a row (bp_jobs_kick); their
 * interval is for the retries. Several instances share the queues (rows
 * are claimed with a lease); reconciliation runs in one at a time. */
static bp_job jobs[] = {
    {PAYMENT_JOB_NOTIFICATIONS, 1000, false, payment_process_notifications},
    {PAYMENT_JOB_REFUNDS, 1000, false, payment_process_refunds},
    {"reconcile", 15000, true, payment_reconcile},
    {"inbox-prune", 3600000, true, bp_inbox_prune},
};

static const bp_service service = {
    .name = "payment",
    .descriptor = &bp__payment__payment_service__descriptor,
    .handlers = handlers,
    .n_handlers = BP_COUNTOF(handlers),
    /* Reads wait on PostgreSQL and on the booking daemon (who may see a
     * payment): more workers than cores keep the cores busy. */
    .workers = 32,
    /* Its idempotency lives in PostgreSQL (unique keys next to the rows
     * they protect), so it needs no Redis connection. */
    .use_db = true,
    .use_kv = false,
    .business_metrics = payment_business_metrics,
    .app = &payment_config,
};

static int on_start(bp_db *db)
{
    (void)db;
    if (payment_config_load(&payment_config) != 0)
        return 1;
    /* A pending payment is due every interval; the job looks four times as
     * often, so none waits much longer than its interval. */
    int every = payment_config.reconcile_interval_ms / 4;
    jobs[2].interval_ms = every < 100 ? 100 : every;
    return 0;
}

static void on_stop(void)
{
    payment_config_free(&payment_config);
}

static const bp_daemon daemon_def = {
    .service = &service,
    .schema = "payment",
    .migrations = payment_migrations,
    .on_start = on_start,
    .on_stop = on_stop,
    .jobs = jobs,
    .n_jobs = BP_COUNTOF(jobs),
    .subscriptions = subscriptions,
    .n_subscriptions = BP_COUNTOF(subscriptions),
};

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
