-- Shares (issue 8, the diagnosed flow): one row per upload attempt. The
-- permission number is not stored in any form.
CREATE TABLE shares (
    id           INTEGER PRIMARY KEY,
    created      INTEGER NOT NULL,          -- unix seconds of the attempt
    server       TEXT    NOT NULL,          -- configured server name
    region       TEXT    NOT NULL,
    tuples       INTEGER NOT NULL,
    redacted     INTEGER NOT NULL,          -- hours sent with a fresh seed (spec §6.4)
    findmy_keys  INTEGER NOT NULL,
    reverse_from INTEGER,                   -- reverse-tracing consent, minutes
    reverse_to   INTEGER,
    -- sending: in flight (or interrupted); refused: the server stored
    -- nothing; unanswered: outcome unknown; pending: stored, not yet seen
    -- in a batch; confirmed; suspected: batches came without it.
    status       TEXT    NOT NULL CHECK (status IN ('sending', 'refused', 'unanswered', 'pending', 'confirmed', 'suspected')),
    code         TEXT    NOT NULL DEFAULT '', -- refusal code of docs/api.md
    field        TEXT    NOT NULL DEFAULT '',
    message      TEXT    NOT NULL DEFAULT '',
    batches_without INTEGER NOT NULL DEFAULT 0, -- later batches of the region that lacked an entry
    counted_through INTEGER NOT NULL DEFAULT 0, -- highest batch sequence counted, so a batch seen twice counts once
    confirmed_by TEXT    NOT NULL DEFAULT '',   -- id of the batch that completed it
    updated      INTEGER NOT NULL
);
CREATE INDEX shares_tracked ON shares (server, region, status);

-- What each share sent, so later batches can be checked for it: seeds of
-- tuples (kind 'seed', 32 bytes) and Find My keys (kind 'findmy', 28 bytes).
-- redacted marks a fresh seed or key sent in place of a redacted hour's.
CREATE TABLE share_entries (
    share_id INTEGER NOT NULL REFERENCES shares (id) ON DELETE CASCADE,
    kind     TEXT    NOT NULL CHECK (kind IN ('seed', 'findmy')),
    value    BLOB    NOT NULL CHECK (length(value) IN (28, 32)),
    start_minute INTEGER NOT NULL,
    end_minute   INTEGER NOT NULL,
    redacted INTEGER NOT NULL DEFAULT 0,
    seen_in  TEXT    NOT NULL DEFAULT '',    -- batch id where it appeared
    PRIMARY KEY (share_id, kind, value, start_minute)
) WITHOUT ROWID;
CREATE INDEX share_entries_end ON share_entries (end_minute);
