/* barberpro-gateway: the HTTP front of BarberPro. Reads its configuration,
 * dials the daemons, serves until SIGTERM or SIGINT, then stops gracefully. */
#include <nng/nng.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "gw_config.h"
#include "gw_ratelimit.h"
#include "gw_routes.h"
#include "gw_server.h"
#include "gw_services.h"
#include "signals.h"

int main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "usage: %s (configured by the environment; see README.md)\n", argv[0]);
        return strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    bp_log_init("gateway");
    gw_config cfg;
    gw_config_load(&cfg);
    if (gw_routes_init() != 0)
        return 1;

    bp_signals_block();

    if (gw_services_open() != 0)
        return 1;
    if (gw_ratelimit_start() != 0) {
        bp_log_error("cannot start the rate limiter's thread");
        gw_services_close();
        return 1;
    }
    gw_server *srv;
    if (gw_server_start(&cfg, &srv) != 0) {
        gw_services_close();
        return 1;
    }
    bp_log_info("listening on %s port %d with %d threads", cfg.bind_address, cfg.port, cfg.threads);
    int sig = bp_signals_wait();
    bp_log_info("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    gw_server_stop(srv);
    gw_services_close();
    gw_ratelimit_close();
    nng_fini(); /* every socket is closed: nng reaps what they left */
    bp_log_info("stopped");
    return 0;
}
