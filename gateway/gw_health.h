/* GET /api/health: every service's Health RPC, asked concurrently; the
 * same fan-out and reading of its answers serve the status page
 * (status.c). */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include "gw_request.h"

/* The op of GET /api/health: 200 {"status":"ok","services":{...}}, or 503
 * with "degraded" and each failing service's reason. */
extern const gw_op gw_health_op;

/* The start of an op that reads every service's health in its finish:
 * suspends req and asks each service's Health within min(RPC_TIMEOUT_MS,
 * 2000) ms (gw_fanout_start); answers 503 at once when the gateway is
 * stopping. */
enum MHD_Result gw_health_start(gw_request *req);

/* What slot's Health call says: "ok", or why not: "unavailable",
 * "timeout", "bad_reply", or the status or error code the service gave,
 * copied as printable ASCII into reason (size bytes, caller's storage).
 * Returns a static string or reason. */
const char *gw_health_state(const gw_fan_slot *slot, char *reason, size_t size);

#endif
