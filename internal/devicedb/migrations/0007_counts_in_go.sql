-- The dashboard aggregates of migration 0005 (contact_hour_counts,
-- contact_rssi_counts) are kept by the Go code that changes the contact
-- log, once per batch in the same transaction (contactCounts in
-- aggregates.go), instead of by per-row triggers: two upserts per inserted
-- row cost the harvester a third of its bulk rate. The tables and their
-- contents stay as they are.
DROP TRIGGER contacts_count_insert;
DROP TRIGGER contacts_count_rssi;
DROP TRIGGER contacts_count_hour;
DROP TRIGGER contacts_count_delete;
