-- Chirp repeaters (spec §9.1): a Find My key heard from a repeater inside
-- a repeated PACT frame is logged with source 'findmy-repeater' and, when
-- a batch publishes it, matched with evidence 'findmy-repeater' up to
-- pact.MaxRepeatDelay minutes after its widened slot. The evidence CHECK
-- of findmy_matches admits it; SQLite cannot alter a CHECK, so the table
-- is rebuilt with the same rows. (Repeated chirps need no schema change:
-- contacts and exposure_contacts store their source 'repeater' as text.)
CREATE TABLE findmy_matches_0009 (
    heard        INTEGER NOT NULL,
    key          BLOB    NOT NULL CHECK (length(key) = 28),
    evidence     TEXT    NOT NULL CHECK (evidence IN ('findmy', 'findmy-partial', 'findmy-repeater')),
    bits         INTEGER NOT NULL CHECK (bits IN (46, 48, 224)),
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL CHECK (window_end >= window_start),
    rssi         INTEGER NOT NULL CHECK (rssi BETWEEN -128 AND 127),
    batch        TEXT    NOT NULL,
    PRIMARY KEY (heard, key, evidence)
) WITHOUT ROWID;
INSERT INTO findmy_matches_0009 SELECT heard, key, evidence, bits, window_start, window_end, rssi, batch FROM findmy_matches;
DROP TABLE findmy_matches;
ALTER TABLE findmy_matches_0009 RENAME TO findmy_matches;
