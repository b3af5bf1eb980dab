/* The HTTP server: libmicrohttpd with a thread pool, requests suspended
 * while their bus calls are in flight, and a graceful stop. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include "gw_config.h"
#include "gw_request.h"

/* Inactivity timeout of a connection, seconds. Longer than nginx's default
 * upstream keepalive_timeout (60 s), so that nginx closes idle upstream
 * connections first and never sends a request on one the gateway closed. */
#define GW_IDLE_TIMEOUT_S 75
/* Connections served at once (more wait in the listen backlog). */
#define GW_MAX_CONNECTIONS 10240
/* Per-connection memory for the request line, headers and read buffer: it
 * bounds the header size (libmicrohttpd answers 431 or 414 beyond it). */
#define GW_CONNECTION_MEMORY (32 * 1024)

/* Listens on cfg's address with cfg->threads HTTP threads. cfg is copied.
 * Returns 0 and *out, or BP_EIO (logged) when the port cannot be bound. */
int gw_server_start(const gw_config *cfg, gw_server **out);

/* The server's configuration (valid while the server lives). */
const gw_config *gw_server_config(const gw_server *srv);

/* Stops gracefully and frees srv: stops accepting (connections waiting in
 * the backlog are refused), lets requests in flight finish (new requests on
 * open connections are still answered, with Connection: close, for up to
 * RPC_TIMEOUT_MS + 1 s; after that they get 503), waits until no connection
 * is suspended (the bus deadline bounds this), then stops libmicrohttpd.
 * Should suspended connections outlive RPC_TIMEOUT_MS + 5 s, it logs and
 * returns without stopping libmicrohttpd (never undefined behaviour); the
 * caller is about to exit anyway. */
void gw_server_stop(gw_server *srv);

#endif
