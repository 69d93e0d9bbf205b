-- Holding (docs/api.md, "Holding and chaff"): where the span of a
-- region's last batch ended, so that its next batch starts there.
ALTER TABLE region_sequences ADD COLUMN covered_to BIGINT NOT NULL DEFAULT 0;

-- A held upload's row and TOAST chunks carry the spending transaction's
-- id (xmin) like the spent number's row, until the cut rewrites them; a
-- held upload may wait a day, so the cutter rewrites it once at its first
-- pass instead (docs/api.md, "Privacy").
ALTER TABLE uploads ADD COLUMN restamped BOOLEAN NOT NULL DEFAULT FALSE;

-- An exposure database run apart from the testing authority
-- (docs/deploy.md) knows only the keyed hashes of valid numbers that the
-- authority's signed feed lists: no provider, no issue, no batch. Spent
-- hashes stay until a feed no longer lists them.
CREATE TABLE feed_numbers (
	hash       BYTEA   PRIMARY KEY,
	used       BOOLEAN NOT NULL DEFAULT FALSE,
	expires_at BIGINT  NOT NULL -- unix seconds: the feed's validity
);

-- The sequence of the last feed imported; an older one is refused.
CREATE TABLE feed_state (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	sequence BIGINT  NOT NULL
);
INSERT INTO feed_state (id, sequence) VALUES (1, 0);
