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
#include "gw_request.h"
#include "gw_services.h"

static gw_service services[] = {
    {.name = "auth", .descriptor = &bp__auth__auth__descriptor},
    {.name = "booking", .descriptor = &bp__booking__booking_service__descriptor},
    {.name = "payment", .descriptor = &bp__payment__payment_service__descriptor},
    {.name = "notification", .descriptor = &bp__notification__notification_service__descriptor},
    {.name = "backup", .descriptor = &bp__backup__backup__descriptor},
};

/* Opens svc's clients for the addresses in url: the one every call uses,
 * and one per address when there are several. */
static int open_service(gw_service *svc, const char *url)
{
    char why[256];
    int n = bp_config_split_urls(url, svc->addr, BP_BUS_URLS_MAX, why, sizeof why);
    if (n <= 0) {
        bp_log_error("bus: %s at %s: %s", svc->name, url, why);
        return BP_EINVAL;
    }
    int rv = bp_client_open(svc->name, url, &svc->client);
    if (rv != 0)
        return rv;
    svc->n_instances = (size_t)n;
    if (n == 1) {
        svc->instances[0] = svc->client;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        rv = bp_client_open(svc->name, svc->addr[i], &svc->instances[i]);
        if (rv != 0)
            return rv;
    }
    return 0;
}

int gw_services_open(void)
{
    size_t total = 0;
    for (size_t i = 0; i < BP_COUNTOF(services); i++) {
        char url[BP_BUS_LIST_LEN];
        bp_config_rpc_url(services[i].name, url, sizeof url);
        int rv = open_service(&services[i], url);
        if (rv != 0) {
            bp_log_error("cannot open the bus client for %s at %s: %s", services[i].name, url,
                         bp_strerror(rv));
            gw_services_close();
            return rv;
        }
        total += services[i].n_instances;
        bp_log_info("bus: %s at %s", services[i].name, url);
    }
    if (total > GW_MAX_FANOUT) {
        bp_log_error("bus: %zu daemon instances in all; the gateway asks at most %d at once", total,
                     GW_MAX_FANOUT);
        gw_services_close();
        return BP_EINVAL;
    }
    return 0;
}

void gw_services_close(void)
{
    for (size_t i = 0; i < BP_COUNTOF(services); i++) {
        gw_service *svc = &services[i];
        for (size_t k = 0; k < svc->n_instances; k++)
            if (svc->instances[k] != NULL && svc->instances[k] != svc->client)
                bp_client_close(svc->instances[k]);
        if (svc->client != NULL)
            bp_client_close(svc->client);
        memset(svc->instances, 0, sizeof svc->instances);
        svc->n_instances = 0;
        svc->client = NULL;
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
