/* The service table: every daemon the gateway can call over the bus. */
#include <string.h>

#include "auth.pb-c.h"
#include "backup.pb-c.h"
#include "booking.pb-c.h"
#include "bp.h"
#include "config.h"
#include "log.h"
#include "notification.pb-c.h"
#include "payment.pb-c.h"
#include "gw_services.h"

static gw_service services[] = {
    {"auth", &bp__auth__auth__descriptor, NULL},
    {"booking", &bp__booking__booking_service__descriptor, NULL},
    {"payment", &bp__payment__payment_service__descriptor, NULL},
    {"notification", &bp__notification__notification_service__descriptor, NULL},
    {"backup", &bp__backup__backup__descriptor, NULL},
};

int gw_services_open(void)
{
    for (size_t i = 0; i < BP_COUNTOF(services); i++) {
        char url[BP_BUS_LIST_LEN];
        bp_config_rpc_url(services[i].name, url, sizeof url);
        int rv = bp_client_open(services[i].name, url, &services[i].client);
        if (rv != 0) {
            bp_log_error("cannot open the bus client for %s at %s: %s", services[i].name, url,
                         bp_strerror(rv));
            gw_services_close();
            return rv;
        }
        bp_log_info("bus: %s at %s", services[i].name, url);
    }
    return 0;
}

void gw_services_close(void)
{
    for (size_t i = 0; i < BP_COUNTOF(services); i++) {
        if (services[i].client != NULL)
            bp_client_close(services[i].client);
        services[i].client = NULL;
    }
}

size_t gw_services_count(void)
{
    return BP_COUNTOF(services);
}

const gw_service *gw_service_at(size_t i)
{
    return i < BP_COUNTOF(services) ? &services[i] : NULL;
}

const gw_service *gw_service_find(const char *name)
{
    for (size_t i = 0; i < BP_COUNTOF(services); i++)
        if (strcmp(services[i].name, name) == 0)
            return &services[i];
    return NULL;
}
