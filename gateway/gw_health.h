/* GET /api/health: every service's Health RPC, asked concurrently. */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include "gw_request.h"

extern const gw_op gw_health_op;

#endif
