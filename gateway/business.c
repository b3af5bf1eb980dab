/* GET /api/business-metrics: every daemon's BusinessMetrics text (figures
 * each computes from its own schema at each scrape: bookings, payments,
 * registrations, utilisation, notification delivery), merged family by
 * family, and barberpro_business_source_up{service} telling which daemons
 * answered. A daemon that is down is left out of the text, not an error. */
#include "gw_business.h"
#include "gw_fanout.h"
#include "gw_metrics.h"
#include "gw_respond.h"
#include "gw_server.h"

static enum MHD_Result business_start(gw_request *req)
{
    if (!gw_fanout_start(req, "BusinessMetrics", gw_server_config(req->srv)->ops_timeout_ms, false))
        return gw_answer_error(req, 503, NULL, NULL, NULL);
    return MHD_YES;
}

static enum MHD_Result business_finish(gw_request *req)
{
    return gw_metrics_answer(req, NULL, "barberpro_business_source_up",
                             "Whether the service answered the gateway's BusinessMetrics call (1) "
                             "or not (0); the figures of one that did not are missing.");
}

const gw_op gw_business_op = {.start = business_start, .finish = business_finish};
