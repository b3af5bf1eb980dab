-- The relay claims the events that are due: an index on when they are due,
-- so that a backlog waiting for a consumer that is down (rows not due for
-- minutes) is not walked on every claim. It replaces the index on pending
-- ids, which nothing reads any more: every outbox row pays for each index
-- twice (at the insert and at the delivery).
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
DROP INDEX outbox_pending_idx;
