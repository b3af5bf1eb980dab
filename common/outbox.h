/* The producer side of events: a transactional outbox written in the same
 * transaction as the change it announces, and a relay thread that delivers
 * each row to its consumer over the bus until the consumer acknowledges it
 * (at least once). The consumer side is inbox.h.
 *
 * Every producer schema needs this table (copy it into the service's own
 * migration; booking's is migrations/booking/0002_events.sql):
 *
 *   CREATE TABLE outbox (
 *       id bigserial PRIMARY KEY,
 *       event_id uuid NOT NULL,
 *       topic text NOT NULL,
 *       key text,
 *       consumer text NOT NULL,
 *       payload bytea NOT NULL,
 *       created_at timestamptz NOT NULL DEFAULT now(),
 *       attempts integer NOT NULL DEFAULT 0,
 *       next_attempt_at timestamptz NOT NULL DEFAULT now(),
 *       locked_until timestamptz,
 *       delivered_at timestamptz,
 *       last_error text,
 *       UNIQUE (event_id, consumer)
 *   );
 *   CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id)
 *       WHERE delivered_at IS NULL;
 *   CREATE INDEX outbox_key_pending_idx ON outbox (consumer, key, id)
 *       WHERE delivered_at IS NULL;
 *   CREATE INDEX outbox_delivered_idx ON outbox (delivered_at)
 *       WHERE delivered_at IS NOT NULL;
 *
 * and every consumer schema needs the inbox:
 *
 *   CREATE TABLE inbox (
 *       event_id uuid PRIMARY KEY,
 *       topic text NOT NULL,
 *       producer text,
 *       received_at timestamptz NOT NULL DEFAULT now()
 *   );
 *   CREATE INDEX inbox_received_idx ON inbox (received_at);
 *
 * Delivery, in short: one row per event and consumer; the relay claims due
 * rows with FOR UPDATE SKIP LOCKED and a lease (locked_until), so several
 * instances share the work without delivering a row twice in the normal
 * case; a row whose delivery fails is retried with exponential backoff (1 s
 * doubling to 5 min, +-20 % jitter) for ever, never dropped. Rows with the
 * same key and consumer are delivered one at a time in id order: a row
 * waits while an earlier one of its key is pending, so one poisoned event
 * holds back only its own key. Rows without a key keep no order. A consumer
 * that is not connected, or whose last call failed at the transport level,
 * is skipped for a while without holding up the others; rows of a consumer
 * the relay was not given stay pending. attempts counts every delivery,
 * the acknowledged one too. Delivered rows are deleted 7 days after their
 * delivery (at relay start, then hourly); pending rows are never deleted. */
#ifndef BP_OUTBOX_H
#define BP_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "db.h"

/* Largest encoded payload bp_outbox_put accepts. */
#define BP_OUTBOX_MAX_PAYLOAD (256u * 1024u)

/* One line of a producer's routing table: events of topic go to the bus
 * service consumer (e.g. {"booking.confirmed", "notification"}). */
typedef struct {
    const char *topic;
    const char *consumer;
} bp_subscription;

/* Tells the outbox which schema holds its table and who subscribes to what.
 * Call once, before any thread uses bp_outbox_put or the relay (bp_daemon
 * does it). schema is a plain lower-case identifier; consumer names are bus
 * service names. subs (and its strings) must outlive every later call.
 * Returns 0 or BP_EINVAL. */
int bp_outbox_init(const char *schema, const bp_subscription *subs, size_t n);

/* An event made ready for the outbox: its id, the consumers subscribed to
 * its topic and its encoded payload. bp_outbox_put makes and writes one; a
 * producer that writes its change and its event in ONE statement (an
 * implicit transaction, one round trip) makes one with
 * bp_outbox_event_init and inserts it itself, e.g.
 *   WITH ins AS (INSERT ... RETURNING ...),
 *        ev AS (INSERT INTO <schema>.outbox (event_id, topic, key, consumer, payload)
 *               SELECT $a::uuid, $b, $c, c, decode($d, 'hex')
 *               FROM ins, unnest($e::text[]) AS c)
 *   SELECT ... FROM ins
 * with $a..$e = event_id, topic, key, payload_hex, consumers. */
typedef struct {
    char event_id[37];
    const char *topic; /* borrowed from the caller */
    const char *key;   /* borrowed; NULL: none */
    char *consumers;   /* text[] literal, "{}" when nobody subscribes */
    size_t n_consumers;
    uint8_t *payload; /* encoded payload */
    size_t payload_len;
    char *payload_hex; /* the same in hex, for a text parameter */
} bp_outbox_event;

/* Fills ev for topic (see above); topic and key must outlive ev, payload
 * need not (it is encoded now; NULL: empty). Returns 0, BP_EINVAL (not
 * initialised, bad topic or key), BP_ETOOBIG (payload over
 * BP_OUTBOX_MAX_PAYLOAD) or BP_ENOMEM; on success free with
 * bp_outbox_event_free. */
int bp_outbox_event_init(bp_outbox_event *ev, const char *topic, const char *key,
                         const ProtobufCMessage *payload);

/* Frees what bp_outbox_event_init allocated. */
void bp_outbox_event_free(bp_outbox_event *ev);

/* Records the event (topic, key, encoded payload) for every consumer
 * subscribed to topic, inside the caller's open transaction (bp_db_begin),
 * so that it exists exactly when the change it announces commits. key (NULL:
 * none) orders the deliveries of one thing, e.g. a booking id; put after the
 * statement that changes that thing, so that concurrent changes of it put in
 * commit order. payload may be NULL (empty). Writes the event's id into
 * event_id_out unless it is NULL. A topic nobody subscribes to writes
 * nothing and returns 0. Call bp_relay_kick after the commit. Returns 0,
 * BP_EINVAL (not initialised, no transaction open, bad topic or key),
 * BP_ETOOBIG (payload over BP_OUTBOX_MAX_PAYLOAD), BP_ENOMEM or BP_EIO (the
 * transaction is then aborted; roll it back). */
int bp_outbox_put(bp_db *db, const char *topic, const char *key, const ProtobufCMessage *payload,
                  char event_id_out[37]);

typedef struct bp_relay bp_relay;

/* Starts the relay thread for the schema given to bp_outbox_init: its own
 * database connection (DATABASE_URL) and a bus client per distinct consumer
 * of subs (bp_config_rpc_url). producer names this service in each Event.
 * subs must outlive the relay. Settings: BP_RELAY_BACKOFF_MS (first retry
 * delay, 1000), BP_RELAY_BACKOFF_MAX_MS (300000), RPC_TIMEOUT_MS (per
 * delivery). Returns 0 or a BP_E* code; free with bp_relay_stop. */
int bp_relay_start(const bp_subscription *subs, size_t n, const char *producer, bp_relay **out);

/* Finishes the delivery in flight, hands the rest of its claimed rows back
 * to the table (for another instance or the next start), joins the thread
 * and frees the relay. NULL is ignored. */
void bp_relay_stop(bp_relay *r);

/* Wakes every relay of the process to look for new rows now rather than at
 * its next poll (250 ms). Cheap; call after committing a transaction that
 * put events. Safe from any thread, with or without a relay running. */
void bp_relay_kick(void);

#endif
