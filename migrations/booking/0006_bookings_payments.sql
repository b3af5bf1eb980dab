-- What the booking learns from the payment daemon's events (events.c):
-- the payment that confirmed it and a refund, once made.
ALTER TABLE bookings
    ADD COLUMN payment_id text CHECK (length(payment_id) <= 100),
    ADD COLUMN paid_at timestamptz,
    ADD COLUMN refunded_at timestamptz,
    ADD COLUMN refunded_cents bigint CHECK (refunded_cents >= 0);
