/* barberpro-notification: the messages of a booking's life, to clients and
 * shops. This file only wires the daemon; each concern lives in its own file
 * (notification.h lists them). */
#include "bp.h"
#include "daemon.h"
#include "inbox.h"
#include "notification.h"

extern const bp_migration notification_migrations[];

/* One row per RPC of proto/notification.proto. */
static const bp_handler handlers[] = {
    {"ListNotifications", notification_handle_list, BP_HANDLER_AUTH},
    /* Internal: auth calls it with the user as the principal, for the
     * user's export; no gateway route leads here. */
    {"ExportUser", notification_handle_export, BP_HANDLER_AUTH},
    /* Public: their signatures are the check. */
    {"WhatsAppVerify", notification_handle_whatsapp_verify, 0},
    {"WhatsAppStatus", notification_handle_whatsapp_status, 0},
    {"TwilioStatus", notification_handle_twilio_status, 0},
    /* Only the relays of other daemons call it, over the bus. */
    {"Deliver", notification_handle_deliver, 0},
};

/* The retention interval comes from the settings (on_start, before the
 * jobs start). */
#define JOB_RETENTION 1
static bp_job jobs[] = {
    {"inbox-prune", 3600000, true, bp_inbox_prune},
    [JOB_RETENTION] = {"retention", 3600000, true, notification_retention},
};

static const bp_service service = {
    .name = "notification",
    .descriptor = &bp__notification__notification_service__descriptor,
    .handlers = handlers,
    .n_handlers = BP_COUNTOF(handlers),
    .use_db = true,
    .use_kv = false,
    .workers = 4,
    .business_metrics = notification_business_metrics,
};

static int on_start(bp_db *db)
{
    (void)db;
    notification_privacy_load();
    jobs[JOB_RETENTION].interval_ms = notification_retention_interval_ms();
    return notification_sender_load() == 0 && notification_senders_start() == 0 ? 0 : 1;
}

/* After the server stopped: the senders finish the row in hand. */
static void on_stop(void)
{
    notification_senders_stop();
    notification_sender_free();
}

static const bp_daemon daemon_def = {
    .service = &service,
    .schema = "notification",
    .migrations = notification_migrations,
    .on_start = on_start,
    .on_stop = on_stop,
    .jobs = jobs,
    .n_jobs = BP_COUNTOF(jobs),
};

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
