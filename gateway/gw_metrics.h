/* The gateway's own request metrics and GET /api/metrics. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include "gw_request.h"

/* Serves the Prometheus text of the gateway and of every daemon. */
extern const gw_op gw_metrics_op;

/* Records one answered request in http_request_duration_seconds and
 * http_requests_total {route, method, status}. route must be a table
 * pattern or a fixed label ("unmatched", "preflight"), never a raw path;
 * methods outside the standard set are counted as "OTHER". */
void gw_metrics_observe(const char *route, const char *method, int status, double seconds);

#endif
