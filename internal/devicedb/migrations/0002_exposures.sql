-- Match results (spec §8): contact log entries found in exposure batches.
-- One row per sighting, whichever batch found it first. The seed is public
-- once uploaded; it is kept to unlock local metadata (spec §9.3).
CREATE TABLE exposure_contacts (
    heard        INTEGER NOT NULL,
    chirp        BLOB    NOT NULL CHECK (length(chirp) = 28),
    seed         BLOB    NOT NULL CHECK (length(seed) = 32),
    chirp_minute INTEGER NOT NULL,
    rssi         INTEGER NOT NULL CHECK (rssi BETWEEN -128 AND 127),
    source       TEXT    NOT NULL,
    lat          REAL,
    lon          REAL,
    PRIMARY KEY (heard, chirp)
) WITHOUT ROWID;
