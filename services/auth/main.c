/* barberpro-auth: users, passwords, tokens, sessions and consents. This
 * file only wires the daemon; each concern lives in its own file. */
#include "auth.h"
#include "auth.pb-c.h"
#include "daemon.h"
#include "db.h"

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
    return auth_setup(&ctx, db) == 0 ? 0 : 1;
}

static int command(const char *cmd, int argc, char **argv);

static const bp_daemon daemon_def = {
    .service = &service,
    .schema = "auth",
    .migrations = auth_migrations,
    .on_start = on_start,
    .command = command,
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
