-- The payment daemon's schema: our payments (one per checkout or manual
-- record), what MercadoPago says of each of its payments for one of ours,
-- the durable queues of webhooks to process and refunds to ask for, and the
-- events' outbox and inbox (DDL of common/outbox.h). Amounts in centavos.

CREATE TABLE payments (
    id uuid PRIMARY KEY,                 -- also MercadoPago's external_reference
    booking_id uuid NOT NULL,
    client_id uuid,                      -- the booking's client
    shop_id uuid,
    provider text NOT NULL CHECK (provider IN ('mercadopago', 'manual')),
    method text NOT NULL,                -- manual: cash, transfer, phone; else MercadoPago's
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected',
        'cancelled', 'refunded', 'partially_refunded', 'charged_back')),
    status_detail text,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    refunded_cents bigint NOT NULL DEFAULT 0
        CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents),
    currency text NOT NULL DEFAULT 'ARS' CHECK (currency = 'ARS'),
    description text,
    note text,                           -- manual payments: what the shop wrote
    preference_id text UNIQUE,           -- Checkout Pro preference
    checkout_url text,                   -- its init_point
    expires_at timestamptz,              -- not payable after (the booking's hold)
    mp_payment_id bigint,                -- MercadoPago's payment that settled it
    created_by uuid NOT NULL,
    idempotency_key text,                -- the client's Idempotency-Key
    next_check_at timestamptz,           -- reconciliation: when to look it up again
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    approved_at timestamptz,
    refunded_at timestamptz
);
-- A retried request with the same key finds its payment.
CREATE UNIQUE INDEX payments_idempotency_idx ON payments (created_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- One open payment per booking.
CREATE UNIQUE INDEX payments_one_open_idx ON payments (booking_id) WHERE status = 'pending';
CREATE INDEX payments_booking_idx ON payments (booking_id);
CREATE INDEX payments_reconcile_idx ON payments (next_check_at)
    WHERE status = 'pending' AND provider = 'mercadopago';

-- MercadoPago's payments (attempts) for one of ours: a buyer may fail with
-- one card and pay with another on the same checkout. Each row only moves
-- forward (rank), whatever order the news arrives in.
CREATE TABLE attempts (
    mp_payment_id bigint PRIMARY KEY,
    payment_id uuid NOT NULL REFERENCES payments (id),
    status text NOT NULL,                -- MercadoPago's status
    status_detail text,
    rank integer NOT NULL,
    method text,                         -- payment_method_id, e.g. visa, account_money
    amount_cents bigint NOT NULL,
    refunded_cents bigint NOT NULL DEFAULT 0,
    currency text,
    mismatch text,                       -- why it cannot count (wrong amount or currency)
    approved_at timestamptz,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attempts_payment_idx ON attempts (payment_id);

-- Webhooks received and not yet applied: the signature was good, the
-- payment is to be read from MercadoPago. One open row per MercadoPago
-- payment, however often it is notified.
CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    mp_payment_id bigint NOT NULL,
    action text,
    request_id text,                     -- x-request-id of the first notification
    received_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    done_at timestamptz,
    last_error text
);
CREATE UNIQUE INDEX notifications_open_idx ON notifications (mp_payment_id)
    WHERE done_at IS NULL;
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at, id) WHERE done_at IS NULL;
CREATE INDEX notifications_done_idx ON notifications (done_at) WHERE done_at IS NOT NULL;

-- Refunds asked for (by a cancellation, an owner or an admin). The row's id
-- is the X-Idempotency-Key sent to MercadoPago, so a retry never refunds
-- twice.
CREATE TABLE refunds (
    id uuid PRIMARY KEY,
    payment_id uuid NOT NULL REFERENCES payments (id),
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    reason text,
    requested_by uuid,                   -- NULL: the system (a cancelled booking)
    request_key text,                    -- the requester's Idempotency-Key
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    mp_refund_id bigint,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    done_at timestamptz
);
CREATE INDEX refunds_payment_idx ON refunds (payment_id);
CREATE UNIQUE INDEX refunds_request_key_idx ON refunds (payment_id, request_key)
    WHERE request_key IS NOT NULL;
CREATE INDEX refunds_due_idx ON refunds (next_attempt_at) WHERE status = 'pending';

CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL,
    topic text NOT NULL,
    key text,
    consumer text NOT NULL,
    payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    delivered_at timestamptz,
    last_error text,
    UNIQUE (event_id, consumer)
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_key_pending_idx ON outbox (consumer, key, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_delivered_idx ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;

CREATE TABLE inbox (
    event_id uuid PRIMARY KEY,
    topic text NOT NULL,
    producer text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_received_idx ON inbox (received_at);
