-- POST /api/bookings takes an optional Idempotency-Key: the same client
-- sending the same key again gets the booking the first request made, so a
-- retry after a lost answer (a 503 when the instance that served it died,
-- a timeout) never meets its own booking as "slot taken". Nullable and
-- without a default: adding it rewrites nothing, and a release that does
-- not know it keeps working beside one that does (blue-green deploys).
ALTER TABLE bookings ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX bookings_client_idempotency_key_idx ON bookings (client_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
