/* The gateway's settings, read once from the environment at start. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <sys/socket.h>

typedef struct {
    int port;                     /* PORT (3000) */
    char bind_address[64];        /* BIND_ADDRESS (0.0.0.0) */
    struct sockaddr_storage addr; /* bind_address:port */
    bool ipv6;
    int threads;             /* GATEWAY_THREADS (the number of online CPUs): HTTP threads */
    int rpc_timeout_ms;      /* RPC_TIMEOUT_MS (5000): the budget of a request's bus calls */
    int ops_timeout_ms;      /* min(RPC_TIMEOUT_MS, 2000) for health and metrics */
    const char *cors_origin; /* CORS_ORIGIN (none): comma-separated allowed origins */
} gw_config;

/* Fills cfg from the environment; a bad value exits 2 naming the variable
 * (bp_config_fail). */
void gw_config_load(gw_config *cfg);

/* Only where the gateway listens: port, bind_address, addr and ipv6 (PORT,
 * BIND_ADDRESS), as gw_config_load reads them; for `barberpro-gateway
 * health`, which needs nothing else. */
void gw_config_listen(gw_config *cfg);

#endif
