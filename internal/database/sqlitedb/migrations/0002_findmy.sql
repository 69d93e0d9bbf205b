-- Find My keys of an upload (docs/findmy.md), batch.EncodeFindMyList form;
-- empty for uploads of PACT tuples only.
ALTER TABLE uploads ADD COLUMN findmy BLOB NOT NULL DEFAULT x'';
ALTER TABLE batches ADD COLUMN findmy_entries INTEGER NOT NULL DEFAULT 0;
