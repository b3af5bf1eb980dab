/* The payment daemon. Its domain arrives with its own issue; until then it
 * owns its schema and answers the operations calls (Health, Metrics). */
#include "daemon.h"
#include "payment.pb-c.h"

extern const bp_migration payment_migrations[];

static const bp_service service = {
    .name = "payment",
    .descriptor = &bp__payment__payment__descriptor,
    .use_db = true,
    .use_kv = true,
    .workers = 2,
};

static const bp_daemon daemon_def = {
    .service = &service,
    .schema = "payment",
    .migrations = payment_migrations,
};

int main(int argc, char **argv)
{
    return bp_daemon_main(&daemon_def, argc, argv);
}
