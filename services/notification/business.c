/* The notification daemon's business figures (GET /api/business-metrics),
 * read from its schema at each scrape: the messages by channel and status,
 * which is how well clients and shops hear of their bookings. */
#include <stdlib.h>

#include "bp.h"
#include "notification.h"
#include "prom.h"

/* Every channel and status the table's CHECKs allow, each pair reported
 * even at 0 ("none": not sent on any channel yet, or never); a value added
 * later shows up too (the FULL JOIN). The inner count is an index-only scan
 * of notifications_channel_status_idx (migrations/notification/0002); NULL
 * becomes "none" after it, so that the index still serves. */
static const char SQL_BY_CHANNEL_STATUS[] =
    "SELECT channel, status, coalesce(c.n, 0)"
    " FROM (VALUES ('whatsapp'), ('sms'), ('email'), ('none')) AS ch (channel)"
    " CROSS JOIN (VALUES ('scheduled'), ('queued'), ('sending'), ('sent'), ('delivered'),"
    " ('read'), ('failed'), ('cancelled')) AS st (status)"
    " FULL JOIN (SELECT coalesce(g.channel, 'none') AS channel, g.status, g.n"
    "  FROM (SELECT channel, status, count(*) AS n FROM notification.notifications"
    "   GROUP BY channel, status) AS g) AS c USING (channel, status)"
    " ORDER BY channel, status";

int notification_business_metrics(bp_call *call, bp_strbuf *out)
{
    PGresult *res = bp_db_select(bp_call_worker(call)->db, SQL_BY_CHANNEL_STATUS, 0, NULL,
                                 bp_call_request_id(call));
    if (res == NULL)
        return BP_EIO;
    static const char *const labels[] = {"channel", "status", NULL};
    bp_prom_rows(out, "barberpro_business_notifications", "gauge",
                 "Messages to clients and shops by the channel they went (or go) out on and their "
                 "current status; channel none: not sent on any yet.",
                 res, labels, 2);
    PQclear(res);
    return 0;
}
