-- Testing authority. Numbers are stored only as keyed hashes. The table has
-- no rowid, so the physical order follows the random hash, not the order
-- of issue or use.
CREATE TABLE permission_batches (
	id          INTEGER PRIMARY KEY,
	provider    TEXT    NOT NULL,
	issued      INTEGER NOT NULL,
	used        INTEGER NOT NULL DEFAULT 0,
	revoked     INTEGER NOT NULL DEFAULT 0,
	issued_at   INTEGER NOT NULL, -- unix seconds
	expires_at  INTEGER NOT NULL  -- unix seconds
);

CREATE TABLE permission_numbers (
	hash     BLOB    PRIMARY KEY,
	batch_id INTEGER NOT NULL REFERENCES permission_batches (id) ON DELETE CASCADE,
	used     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE INDEX permission_numbers_batch ON permission_numbers (batch_id);

-- Uploads: keyed by a random 63-bit rowid so that neither a key nor the
-- row order (SQLite stores rows in rowid order) reveals which permission
-- number paid for them; period_start is the only time kept. tuples is the
-- binary tuple list of docs/protocol.md §6.1.
CREATE TABLE uploads (
	id           INTEGER PRIMARY KEY,
	region       TEXT    NOT NULL,
	period_start INTEGER NOT NULL,
	tuple_count  INTEGER NOT NULL,
	min_start    INTEGER NOT NULL,
	tuples       BLOB    NOT NULL,
	reverse_from INTEGER NOT NULL DEFAULT 0,
	reverse_to   INTEGER NOT NULL DEFAULT 0,
	batch_seq    INTEGER
);

CREATE INDEX uploads_pending ON uploads (region, period_start) WHERE batch_seq IS NULL;
CREATE INDEX uploads_period ON uploads (period_start);

CREATE TABLE batches (
	region         TEXT    NOT NULL,
	seq            INTEGER NOT NULL,
	period_start   INTEGER NOT NULL,
	period_minutes INTEGER NOT NULL,
	uploads        INTEGER NOT NULL,
	entries        INTEGER NOT NULL,
	min_start      INTEGER NOT NULL,
	sha256         BLOB    NOT NULL,
	data           BLOB    NOT NULL,
	PRIMARY KEY (region, seq)
) WITHOUT ROWID;

CREATE INDEX batches_period ON batches (period_start);

-- The last sequence number of each region outlives the batches that
-- cleanup deletes, so numbering never restarts.
CREATE TABLE region_sequences (
	region   TEXT    PRIMARY KEY,
	last_seq INTEGER NOT NULL
);
