/* The notification daemon. Its domain arrives with its own issue; until then it
 * owns its schema and answers the operations calls (Health, Metrics). */
#include "daemon.h"
#include "notification.pb-c.h"

extern const bp_migration notification_migrations[];

static const bp_service service = {
    .name = "notification",
    .descriptor = &bp__notification__notification__descriptor,
    .use_db = true,
    .use_kv = true,
    .workers = 2,
};

static const bp_daemon daemon_def = {
    .service = &service,
    .schema = "notification",
    .migrations = notification_migrations,
};

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
