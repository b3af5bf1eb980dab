/* barberpro-auth: users, passwords, tokens, sessions and consents. This
 * file only wires the daemon; each concern lives in its own file. */
#include "auth.h"
#include "auth.pb-c.h"
#include "bp.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "inbox.h"
#include "privacy.h"

extern const bp_migration auth_migrations[];

static auth_ctx ctx;

static const bp_handler handlers[] = {
    /* bcrypt: on the slow lane, so that a login storm never delays the
     * token checks behind it. */
    {"SignUp", auth_handle_sign_up, BP_HANDLER_SLOW},
    {"Login", auth_handle_login, BP_HANDLER_SLOW},
    {"Logout", auth_handle_logout, BP_HANDLER_AUTH},
    {"Me", auth_handle_me, BP_HANDLER_AUTH},
    {"UpdateMe", auth_handle_update_me, BP_HANDLER_AUTH},
    {"PutConsents", auth_handle_put_consents, BP_HANDLER_AUTH},
    {"Authenticate", auth_handle_authenticate, 0},
    /* Internal, for the booking and payment daemons; no gateway route
     * reaches it. */
    {"FindUser", auth_handle_find_user, 0},
    /* Ley 25.326. The export and the erasure wait on other daemons: slow
     * lane. */
    {"ExportMe", auth_handle_export_me, BP_HANDLER_AUTH | BP_HANDLER_SLOW},
    {"EraseMe", auth_handle_erase_me, BP_HANDLER_AUTH | BP_HANDLER_SLOW},
    {"ListAudit", auth_handle_list_audit, BP_HANDLER_AUTH},
    {"GetDataRequest", auth_handle_get_data_request, BP_HANDLER_AUTH},
    /* Only the relays of other daemons call it (audit.recorded). */
    {"Deliver", auth_handle_deliver, 0},
};

/* An erasure reaches every other owner of personal data. */
static const bp_subscription subscriptions[] = {
    {BP_ERASURE_TOPIC, "booking"},
    {BP_ERASURE_TOPIC, "payment"},
    {BP_ERASURE_TOPIC, "notification"},
};

/* Intervals are settings, read in on_start before the runner starts. */
static bp_job jobs[] = {
    {"erasure-progress", 1000, true, auth_erasure_progress},
    {"retention", 3600000, true, auth_retention},
    {"inbox-prune", 3600000, true, bp_inbox_prune},
};

static const bp_service service = {
    .name = "auth",
    .descriptor = &bp__auth__auth__descriptor,
    .handlers = handlers,
    .n_handlers = sizeof handlers / sizeof handlers[0],
    .use_db = true,
    .use_kv = true,
    .authenticate = auth_authenticate,
    .business_metrics = auth_business_metrics,
    .app = &ctx,
};

static int on_start(bp_db *db)
{
    jobs[0].interval_ms =
        (int)bp_config_int("AUTH_ERASURE_PROGRESS_INTERVAL_MS", 1000, 100, 3600000);
    jobs[1].interval_ms = (int)bp_config_int("AUTH_RETENTION_INTERVAL_MS", 3600000, 100, 86400000);
    return auth_setup(&ctx, db) == 0 ? 0 : 1;
}

static void on_stop(void)
{
    auth_teardown(&ctx);
}

static int command(const char *cmd, int argc, char **argv);

static const bp_daemon daemon_def = {
    .service = &service,
    .schema = "auth",
    .migrations = auth_migrations,
    .on_start = on_start,
    .on_stop = on_stop,
    .command = command,
    .jobs = jobs,
    .n_jobs = BP_COUNTOF(jobs),
    .subscriptions = subscriptions,
    .n_subscriptions = BP_COUNTOF(subscriptions),
    .usage = "create-user --email E --name N --role admin|owner|provider|client "
             "(password on stdin) | demo-data",
};

static int command(const char *cmd, int argc, char **argv)
{
    return auth_command(&daemon_def, cmd, argc, argv);
}

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
