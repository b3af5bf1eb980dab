-- The relay claims the events that are due: an index on when they are due,
-- so that a backlog waiting for a consumer that is down (rows not due for
-- minutes) is not walked on every claim.
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
