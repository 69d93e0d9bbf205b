-- Seed log (spec §5.1): one seed per UTC hour.
CREATE TABLE seeds (
    hour  INTEGER PRIMARY KEY,          -- first minute of the UTC hour
    start INTEGER NOT NULL,             -- minute the seed was drawn
    seed  BLOB    NOT NULL CHECK (length(seed) = 32)
);

-- Contact log (spec §5.2): one row per chirp and minute, max RSSI.
CREATE TABLE contacts (
    minute INTEGER NOT NULL,
    chirp  BLOB    NOT NULL CHECK (length(chirp) = 28),
    rssi   INTEGER NOT NULL CHECK (rssi BETWEEN -128 AND 127),
    source TEXT    NOT NULL,
    lat    REAL,
    lon    REAL,
    PRIMARY KEY (minute, chirp)
) WITHOUT ROWID;
