-- Holding (docs/api.md, "Holding and chaff"): where the span of a
-- region's last batch ended, so that its next batch starts there.
ALTER TABLE region_sequences ADD COLUMN covered_to INTEGER NOT NULL DEFAULT 0;

-- An exposure database run apart from the testing authority
-- (docs/deploy.md) knows only the keyed hashes of valid numbers that the
-- authority's signed feed lists: no provider, no issue, no batch. Spent
-- hashes stay until a feed no longer lists them. Keyed by the random hash,
-- without rowid, so the physical order is not the order of import or use.
CREATE TABLE feed_numbers (
	hash       BLOB    PRIMARY KEY,
	used       INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL -- unix seconds: the feed's validity
) WITHOUT ROWID;

-- The sequence of the last feed imported; an older one is refused.
CREATE TABLE feed_state (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	sequence INTEGER NOT NULL
);
INSERT INTO feed_state (id, sequence) VALUES (1, 0);
