/* The bus services the gateway calls: name -> protobuf-c service descriptor
 * and the client that dials every address of <SERVICE>_RPC_URL. */
#ifndef GW_SERVICES_H
#define GW_SERVICES_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "rpc.h"

#include "config.h"

typedef struct {
    const char *name; /* "auth", "booking", ... */
    const ProtobufCServiceDescriptor *descriptor;
    bp_client *client; /* NULL until gw_services_open */
    /* The addresses of <SERVICE>_RPC_URL, and with more than one, a client
     * per address for the fan-outs that must reach every instance
     * (Metrics: each instance counts its own calls). With one address,
     * instances[0] is client itself. */
    size_t n_instances;
    char addr[BP_BUS_URLS_MAX][BP_BUS_URL_LEN];
    bp_client *instances[BP_BUS_URLS_MAX];
} gw_service;

/* Dials every service (the clients reconnect for ever in the background,
 * so a daemon that is down now is reached when it comes up). Returns 0 or
 * the BP_E* code of the first client that could not be opened. */
int gw_services_open(void);

/* Closes every client; calls in flight complete with BP_EUNAVAIL. */
void gw_services_close(void);

/* The number of services and the i-th one (static storage). */
size_t gw_services_count(void);
const gw_service *gw_service_at(size_t i);

/* The service of that name, or NULL. */
const gw_service *gw_service_find(const char *name);

#endif
