/* The notification daemon's internal interface. One file per concern:
 *   templates.c  the messages as data, their es-AR rendering, reminder times
 *   events.c     Deliver: booking and payment events become rows
 *   list.c       ListNotifications, and ExportUser (the same rows with their texts)
 *   sender.c     the job that sends what is due, channel after channel
 *   whatsapp.c, sms.c, email.c   the channels (channels.h)
 *   delivery.c   the providers' delivery statuses (webhooks)
 *   business.c   the business figures of GET /api/business-metrics
 *   privacy.c    Ley 25.326: erasure of a user, retention of message texts
 *
 * Every message is a row of notification.notifications before anything is
 * sent: `queued` (or `scheduled` with its due time, for a reminder), then
 * the sender moves it on (sender.c says how). */
#ifndef NOTIFICATION_H
#define NOTIFICATION_H

#include "db.h"
#include "events.pb-c.h"
#include "kv.h"
#include "notification.pb-c.h"
#include "rpc.h"

#define NOTIFICATION_HANDLER(name)                                                                 \
    int notification_handle_##name(bp_call *call, const ProtobufCMessage *req,                     \
                                   ProtobufCMessage *resp)

NOTIFICATION_HANDLER(list);
NOTIFICATION_HANDLER(export);
NOTIFICATION_HANDLER(deliver);
NOTIFICATION_HANDLER(whatsapp_verify);
NOTIFICATION_HANDLER(whatsapp_status);
NOTIFICATION_HANDLER(twilio_status);

/* Delivery statuses (delivery.c): their secrets, read once at start; and
 * the URL Twilio is asked to call back (PUBLIC_BASE_URL/api/webhooks/twilio). */
void notification_delivery_load(void);
const char *notification_twilio_callback_url(void);

/* The sender (sender.c): its settings and the auth client, read and dialed
 * once at start; the pool of sender threads (NOTIFICATION_SENDERS, 8), and
 * the kick that wakes them when a row is queued. */
int notification_sender_load(void);
void notification_sender_free(void);
int notification_senders_start(void);
void notification_senders_stop(void);
void notification_senders_kick(void);

/* The bp_service.business_metrics hook (business.c): messages by channel
 * and status, appended to out as Prometheus text. Returns 0 or BP_EIO. */
int notification_business_metrics(bp_call *call, bp_strbuf *out);

/* Ley 25.326 (privacy.c). The settings (NOTIFICATION_BODY_RETENTION_DAYS,
 * 90; NOTIFICATION_RETENTION_INTERVAL_MS, 3600000), read once at start. */
void notification_privacy_load(void);
int notification_retention_interval_ms(void);

/* The user.erasure_requested topic handler (inbox.h's bp_event_fn): removes
 * the texts, variables, errors and provider ids of the user's messages and
 * cancels those not sent yet, strips the shop's messages about the user's
 * bookings, and makes the bookings forget the user. Idempotent; an
 * unusable payload is acknowledged. Returns 0 or BP_EIO. */
int notification_erase_user(bp_call *call, bp_db *db, const Bp__Events__Event *ev);

/* The exclusive retention job: texts, variables and errors of messages
 * created more than the retention period ago that are no longer pending,
 * in bounded batches, counted with bp_retention_removed every round.
 * kv is not used. Returns 0 or BP_EIO. */
int notification_retention(bp_db *db, bp_kv *kv);

#endif
