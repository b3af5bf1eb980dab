/* GET /api/business-metrics: every daemon's business figures. */
#ifndef GW_BUSINESS_H
#define GW_BUSINESS_H

#include "gw_request.h"

/* Serves the Prometheus text of every daemon's BusinessMetrics call, merged
 * family by family, with barberpro_business_source_up{service}. */
extern const gw_op gw_business_op;

#endif
