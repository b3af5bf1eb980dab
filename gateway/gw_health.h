/* GET /api/health: every service's Health RPC, asked concurrently. */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include "gw_request.h"

/* The op of GET /api/health: 200 {"status":"ok","services":{...}}, or 503
 * with "degraded" and each failing service's reason. */
extern const gw_op gw_health_op;

#endif
