/* The notification daemon's internal interface. One file per concern:
 *   templates.c  the messages as data, their es-AR rendering, reminder times
 *   events.c     Deliver: booking and payment events become rows
 *   list.c       ListNotifications
 *
 * Every message is a row of notification.notifications before anything is
 * sent: `queued` (or `scheduled` with its due time, for a reminder), then
 * the sender moves it on. The sender (channels WhatsApp, SMS, email) is
 * still to come; until it lands, rows wait queued. */
#ifndef NOTIFICATION_H
#define NOTIFICATION_H

#include "db.h"
#include "notification.pb-c.h"
#include "rpc.h"

#define NOTIFICATION_HANDLER(name)                                                                 \
    int notification_handle_##name(bp_call *call, const ProtobufCMessage *req,                     \
                                   ProtobufCMessage *resp)

NOTIFICATION_HANDLER(list);
NOTIFICATION_HANDLER(deliver);

#endif
