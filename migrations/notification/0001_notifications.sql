-- The notification daemon's schema: one row per message before anything is
-- sent (and per reminder from the moment its booking is confirmed), the
-- bookings it has heard of (for the payment events, which name only the
-- booking), and the inbox that applies each event once (common/outbox.h).

CREATE TABLE notifications (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,               -- the recipient
    audience text NOT NULL CHECK (audience IN ('client', 'shop')),
    template text NOT NULL,              -- templates.c
    booking_id uuid,
    event_id uuid,                       -- the event that asked for it
    vars jsonb NOT NULL DEFAULT '{}',    -- the template's variables, rendered when sent
    status text NOT NULL CHECK (status IN ('scheduled', 'queued', 'sending', 'sent',
        'delivered', 'read', 'failed', 'cancelled')),
    channel text CHECK (channel IN ('whatsapp', 'sms', 'email')),
    due_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,            -- a sender's lease
    provider_message_id text,
    last_error text,
    body text,                           -- the text as sent (kept 90 days)
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    delivered_at timestamptz,
    read_at timestamptz,
    -- An event asks for each message once, however often it is delivered.
    UNIQUE (event_id, user_id, template)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at)
    WHERE status IN ('scheduled', 'queued');
CREATE INDEX notifications_booking_idx ON notifications (booking_id) WHERE status = 'scheduled';
CREATE UNIQUE INDEX notifications_provider_id_idx ON notifications (channel, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- What the booking events said of each booking: who to write to when a
-- payment event (which names only the booking) arrives.
CREATE TABLE bookings (
    booking_id uuid PRIMARY KEY,
    client_id uuid,
    owner_id uuid,
    provider_user_id uuid,
    status text NOT NULL,
    starts_at timestamptz NOT NULL,
    vars jsonb NOT NULL,                 -- shop, service, provider, zone, start
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inbox (
    event_id uuid PRIMARY KEY,
    topic text NOT NULL,
    producer text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_received_idx ON inbox (received_at);
