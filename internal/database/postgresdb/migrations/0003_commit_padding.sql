-- A refused upload still commits, by rewriting one of these rows (drawn at
-- random, so that refusals from several replicas rarely queue on one row
-- lock) with random bytes, so that it waits for the same WAL flush as a
-- stored upload and the answer's timing does not tell them apart
-- (docs/api.md, "Timing").
CREATE TABLE commit_padding (
	slot  INTEGER PRIMARY KEY,
	noise BYTEA   NOT NULL
);
INSERT INTO commit_padding (slot, noise) SELECT g, '\x' FROM generate_series(0, 63) AS g;
