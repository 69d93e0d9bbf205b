-- Find My keys of an upload (docs/findmy.md), batch.EncodeFindMyList form;
-- empty for uploads of PACT tuples only.
ALTER TABLE uploads ADD COLUMN findmy BYTEA NOT NULL DEFAULT '\x';
ALTER TABLE batches ADD COLUMN findmy_entries BIGINT NOT NULL DEFAULT 0;
