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

/* The content type of Prometheus text. */
#define GW_PROM_TEXT "text/plain; version=0.0.4; charset=utf-8"

/* Answers a fan-out (gw_fanout.h) of an RPC returning bp.common.MetricsReply
 * as one Prometheus text: own (the gateway's, or NULL), then a gauge family
 * up_name{service} (1 when the service answered, with up_help as its HELP),
 * then every answer, merged family by family. A service that did not answer
 * is left out, not an error. When the fan-out asked each instance of a
 * service that has several, that service's up sample and every sample of
 * its answers carry bus_address="<the instance's address>". */
enum MHD_Result gw_metrics_answer(gw_request *req, const char *own, const char *up_name,
                                  const char *up_help);

#endif
