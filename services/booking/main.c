/* The booking daemon. Its domain arrives with its own issue; until then it
 * owns its schema and answers the operations calls (Health, Metrics). */
#include <string.h>

#include "booking.h"
#include "booking.pb-c.h"
#include "daemon.h"

extern const bp_migration booking_migrations[];

static const bp_service service = {
    .name = "booking",
    .descriptor = &bp__booking__booking__descriptor,
    .use_db = true,
    .use_kv = true,
    .workers = 2,
};

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
    .command = command,
    .usage = "demo-data",
};

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
