-- Exposure sync (issue 8): how far each server's regions were applied, which
-- batches were applied, which were refused, and each server's last attempt.
-- Times are Unix milliseconds.

-- The last sequence applied per server and region. A batch at or below it
-- is never applied again.
CREATE TABLE sync_cursors (
    server   TEXT    NOT NULL,
    region   TEXT    NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence >= 0),
    updated  INTEGER NOT NULL,
    PRIMARY KEY (server, region)
) WITHOUT ROWID;

-- Every batch applied: its matches were stored in the same transaction.
CREATE TABLE sync_batches (
    server         TEXT    NOT NULL,
    region         TEXT    NOT NULL,
    sequence       INTEGER NOT NULL CHECK (sequence > 0),
    id             TEXT    NOT NULL,
    period_start   INTEGER NOT NULL,
    period_minutes INTEGER NOT NULL,
    uploads        INTEGER NOT NULL,
    tuples         INTEGER NOT NULL,
    findmy_keys    INTEGER NOT NULL,
    contacts       INTEGER NOT NULL, -- match rows this batch added
    applied        INTEGER NOT NULL,
    PRIMARY KEY (server, region, sequence)
) WITHOUT ROWID;

-- Batches that failed verification. Their content is never stored; the
-- region's sync stops at them and retries them on the next sync.
CREATE TABLE sync_refused (
    server    TEXT    NOT NULL,
    region    TEXT    NOT NULL,
    sequence  INTEGER NOT NULL,
    id        TEXT    NOT NULL,
    kind      TEXT    NOT NULL, -- tampered, truncated, reordered, replayed
    reason    TEXT    NOT NULL,
    first_refused INTEGER NOT NULL,
    last_refused  INTEGER NOT NULL,
    attempts  INTEGER NOT NULL,
    PRIMARY KEY (server, region, sequence)
) WITHOUT ROWID;

CREATE TABLE sync_servers (
    server       TEXT PRIMARY KEY,
    last_attempt INTEGER NOT NULL,
    last_success INTEGER,          -- NULL until a sync of every region succeeded
    last_error   TEXT    NOT NULL  -- '' after a success
) WITHOUT ROWID;
