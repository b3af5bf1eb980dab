/* The consumer side of events: a service's Deliver handler hands each event
 * to bp_inbox_deliver, which applies it at most once per event id (the
 * inbox table, whose DDL is in outbox.h) inside one transaction with the
 * topic's handler, and acknowledges only what committed. */
#ifndef BP_INBOX_H
#define BP_INBOX_H

#include <stddef.h>

#include "db.h"
#include "events.pb-c.h"
#include "kv.h"
#include "rpc.h"

/* Applies one event of its topic: decodes ev->payload (the topic's message,
 * e.g. Bp__Events__BookingEvent) and writes through db, which is inside a
 * transaction that also records the event in the inbox: never begin,
 * commit or roll back here. It may call bp_outbox_put to announce what it
 * changed. Returns 0 to acknowledge (including "nothing to do", and a
 * payload that can never be applied, after logging it), or non-zero
 * (a BP_E* code, or the value of bp_call_fail) to roll back and have the
 * producer deliver it again later. ev and its strings live for the call. */
typedef int (*bp_event_fn)(bp_call *call, bp_db *db, const Bp__Events__Event *ev);

typedef struct {
    const char *topic; /* e.g. "booking.confirmed" */
    bp_event_fn fn;
} bp_event_handler;

/* Names the schema whose inbox table bp_inbox_deliver and bp_inbox_prune
 * use (a plain lower-case identifier). Call once before serving; bp_daemon
 * does it for its schema. Returns 0 or BP_EINVAL. */
int bp_inbox_init(const char *schema);

/* The whole body of a service's Deliver(bp.events.Event) handler:
 *   static int deliver(bp_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
 *   { return bp_inbox_deliver(c, req, resp, handlers, BP_COUNTOF(handlers)); }
 * Checks the event (id a UUID, a topic), then on the worker's db (the
 * service needs use_db) records the id in the inbox and runs the topic's
 * handler in one transaction. An event already in the inbox is acknowledged
 * without running anything. A topic with no handler is acknowledged with a
 * warning and not recorded: producers may publish topics a consumer does
 * not need. Any failure rolls back and answers an error status, which the
 * relay retries with backoff. handlers must outlive the call. Returns 0 or
 * the value to return from the handler. */
int bp_inbox_deliver(bp_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp,
                     const bp_event_handler *handlers, size_t n);

/* Decodes ev's payload as a message of d (the topic's, e.g.
 * &bp__events__booking_event__descriptor) in the call's arena, for a topic
 * handler. Returns NULL, after logging it, when the payload does not
 * decode: such an event can never be applied and is acknowledged. */
ProtobufCMessage *bp_inbox_payload(bp_call *call, const Bp__Events__Event *ev,
                                   const ProtobufCMessageDescriptor *d);

/* A job (see jobs.h) that deletes inbox rows received more than 30 days
 * ago, in bounded batches. Producers redeliver an event only while it is
 * unacknowledged (minutes, at worst hours), so an id that old never comes
 * back. Suggested entry: {"inbox-prune", 3600000, true, bp_inbox_prune}.
 * kv is not used. Returns 0 or BP_EIO. */
int bp_inbox_prune(bp_db *db, bp_kv *kv);

#endif
