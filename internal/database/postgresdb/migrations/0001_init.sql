-- Testing authority. Numbers are stored only as keyed hashes.
CREATE TABLE permission_batches (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	provider    TEXT    NOT NULL,
	issued      BIGINT NOT NULL,
	used        BIGINT NOT NULL DEFAULT 0,
	revoked     BOOLEAN NOT NULL DEFAULT FALSE,
	issued_at   BIGINT NOT NULL, -- unix seconds
	expires_at  BIGINT NOT NULL  -- unix seconds
);

CREATE TABLE permission_numbers (
	hash     BYTEA    PRIMARY KEY,
	batch_id BIGINT NOT NULL REFERENCES permission_batches (id) ON DELETE CASCADE,
	used     BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX permission_numbers_batch ON permission_numbers (batch_id);

-- Uploads: keyed by a random id so that no key reveals which permission
-- number paid for them; period_start is the only time kept. Heap order in
-- PostgreSQL follows insertion; see docs/api.md, "Privacy". tuples is the
-- binary tuple list of docs/protocol.md §6.1.
CREATE TABLE uploads (
	id           BYTEA    PRIMARY KEY,
	region       TEXT    NOT NULL,
	period_start BIGINT NOT NULL,
	tuple_count  BIGINT NOT NULL,
	min_start    BIGINT NOT NULL,
	tuples       BYTEA    NOT NULL,
	reverse_from BIGINT NOT NULL DEFAULT 0,
	reverse_to   BIGINT NOT NULL DEFAULT 0,
	batch_seq    BIGINT
);

CREATE INDEX uploads_pending ON uploads (region, period_start) WHERE batch_seq IS NULL;
CREATE INDEX uploads_period ON uploads (period_start);

CREATE TABLE batches (
	region         TEXT    NOT NULL,
	seq            BIGINT NOT NULL,
	period_start   BIGINT NOT NULL,
	period_minutes BIGINT NOT NULL,
	uploads        BIGINT NOT NULL,
	entries        BIGINT NOT NULL,
	min_start      BIGINT NOT NULL,
	sha256         BYTEA    NOT NULL,
	data           BYTEA    NOT NULL,
	PRIMARY KEY (region, seq)
);

CREATE INDEX batches_period ON batches (period_start);

-- The last sequence number of each region outlives the batches that
-- cleanup deletes, so numbering never restarts.
CREATE TABLE region_sequences (
	region   TEXT    PRIMARY KEY,
	last_seq BIGINT NOT NULL
);
