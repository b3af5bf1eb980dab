-- Events: the transactional outbox (one row per event and consumer, written
-- in the producer's transaction, delivered by the relay) and the inbox that
-- makes consuming idempotent. Replaces 0001's outbox, which no release ever
-- wrote to. The same DDL is documented in common/outbox.h for other services.
DROP TABLE outbox;

CREATE TABLE outbox (
    id bigserial PRIMARY KEY,          -- delivery order within a key and consumer
    event_id uuid NOT NULL,            -- the same for every consumer of one event
    topic text NOT NULL,
    key text,                          -- ordering key; NULL: no order kept
    consumer text NOT NULL,            -- bus service name, e.g. 'notification'
    payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,          -- a relay's lease on the row
    delivered_at timestamptz,
    last_error text,
    UNIQUE (event_id, consumer)
);
-- What the relay claims, and the earlier pending row of a key it waits for.
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_key_pending_idx ON outbox (consumer, key, id) WHERE delivered_at IS NULL;
-- Retention deletes delivered rows after a week.
CREATE INDEX outbox_delivered_idx ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;

CREATE TABLE inbox (
    event_id uuid PRIMARY KEY,
    topic text NOT NULL,
    producer text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_received_idx ON inbox (received_at);
