/* barberpro-booking: shops, services, providers, schedules, holidays,
 * availability and bookings. This file only wires the daemon; each concern
 * lives in its own file (booking.h lists them). */
#include <string.h>

#include "booking.h"
#include "booking.pb-c.h"
#include "daemon.h"

extern const bp_migration booking_migrations[];

static booking_ctx ctx;

/* One row per RPC of proto/booking.proto. Calls that reach outside the
 * machine (the exchange-rate source) run on the slow lane. */
static const bp_handler handlers[] = {
    {"CreateShop", booking_handle_create_shop, BP_HANDLER_AUTH},
};

static const bp_service service = {
    .name = "booking",
    .descriptor = &bp__booking__booking_service__descriptor,
    .handlers = handlers,
    .n_handlers = BP_COUNTOF(handlers),
    .use_db = true,
    .use_kv = true,
    .app = &ctx,
};

static int on_start(bp_db *db)
{
    (void)db;
    return booking_config_load(&ctx) == 0 ? 0 : 1;
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
};

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
