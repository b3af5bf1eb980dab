-- Ley 25.326 (issue 7, services/notification/privacy.c). An erasure finds
-- a person's bookings in every role, and the shop's messages about that
-- client's bookings, by index; the retention job finds the texts due by
-- index however large the table (its predicate is the job's, word for word).
CREATE INDEX bookings_client_idx ON bookings (client_id) WHERE client_id IS NOT NULL;
CREATE INDEX bookings_owner_idx ON bookings (owner_id) WHERE owner_id IS NOT NULL;
CREATE INDEX bookings_provider_user_idx ON bookings (provider_user_id)
    WHERE provider_user_id IS NOT NULL;
-- notifications_booking_idx (0001) covers only scheduled rows.
CREATE INDEX notifications_booking_any_idx ON notifications (booking_id);
CREATE INDEX notifications_retention_idx ON notifications (created_at)
    WHERE status NOT IN ('scheduled', 'queued', 'sending')
    AND (body IS NOT NULL OR last_error IS NOT NULL OR vars <> '{}'::jsonb);
