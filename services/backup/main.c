/* The backup daemon. Its domain arrives with its own issue; until then it
 * owns its schema and answers the operations calls (Health, Metrics). */
#include "daemon.h"
#include "backup.pb-c.h"

extern const bp_migration backup_migrations[];

static const bp_service service = {
    .name = "backup",
    .descriptor = &bp__backup__backup__descriptor,
    .use_db = true,
    .use_kv = true,
    .workers = 2,
};

static const bp_daemon daemon_def = {
    .service = &service,
    .schema = "backup",
    .migrations = backup_migrations,
};

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
