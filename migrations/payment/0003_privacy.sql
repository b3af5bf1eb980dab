-- Ley 25.326: an erased user's payments stay (accounting and tax records)
-- without the ids that name them, the creator's among them; the running
-- release never writes a NULL creator, so this is backward compatible.
-- ExportUser and the erasure find a client's payments by the index.
ALTER TABLE payments ALTER COLUMN created_by DROP NOT NULL;
CREATE INDEX payments_client_idx ON payments (client_id, created_at, id)
    WHERE client_id IS NOT NULL;
