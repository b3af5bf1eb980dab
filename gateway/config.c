/* Reads the gateway's environment: PORT, BIND_ADDRESS, RPC_TIMEOUT_MS,
 * CORS_ORIGIN, TRUSTED_PROXIES and, through ratelimit.c, the rate limits
 * (the bus URLs are read by services.c through bp_config_rpc_url). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "rpc.h"
#include "gw_config.h"
#include "gw_forwarded.h"
#include "gw_ratelimit.h"
#include "gw_respond.h"
#include "gw_uploads.h"

void gw_config_listen(gw_config *cfg)
{
    cfg->port = (int)bp_config_int("PORT", 3000, 1, 65535);

    const char *bind = bp_config_str("BIND_ADDRESS", "0.0.0.0");
    if (strlen(bind) >= sizeof cfg->bind_address)
        bp_config_fail("BIND_ADDRESS", "too long for an IP address");
    snprintf(cfg->bind_address, sizeof cfg->bind_address, "%s", bind);
    memset(&cfg->addr, 0, sizeof cfg->addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&cfg->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&cfg->addr;
    if (inet_pton(AF_INET, bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)cfg->port);
        cfg->ipv6 = false;
    } else if (inet_pton(AF_INET6, bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)cfg->port);
        cfg->ipv6 = true;
    } else {
        bp_config_fail("BIND_ADDRESS", "not an IPv4 or IPv6 address (e.g. 0.0.0.0, 127.0.0.1, ::)");
    }
}

void gw_config_load(gw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    gw_config_listen(cfg);

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long def_threads = cpus > 0 ? (cpus < 256 ? cpus : 256) : 1;
    cfg->threads = (int)bp_config_int("GATEWAY_THREADS", def_threads, 1, 1024);

    cfg->rpc_timeout_ms = bp_rpc_default_timeout_ms();
    cfg->ops_timeout_ms = cfg->rpc_timeout_ms < 2000 ? cfg->rpc_timeout_ms : 2000;

    cfg->cors_origin = bp_config_str("CORS_ORIGIN", "");
    if (gw_cors_configure(cfg->cors_origin) != 0)
        bp_config_fail("CORS_ORIGIN", "expected a comma-separated list of origins such as "
                                      "https://app.example.com (at most 32, each under 256 "
                                      "characters, scheme://host[:port] without a path)");

    if (gw_trusted_configure(bp_config_str("TRUSTED_PROXIES", "")) != 0)
        bp_config_fail("TRUSTED_PROXIES", "expected a comma-separated list of IP addresses or "
                                          "CIDRs such as 10.0.0.0/8,::1 (at most 64)");
    gw_ratelimit_configure();
    gw_uploads_configure();
}
