-- Partial Find My sightings (docs/findmy.md §3.2, §7): the key prefix of a
-- short-form Offline Finding frame (48 significant bits: 46 address bits
-- and the 2 payload bits) or of a DULT frame (46 address bits). One row per
-- minute, prefix and width, with the strongest RSSI. A 46-bit prefix is
-- stored with the two top bits of its first byte cleared. Erased with the
-- contact log (spec §5.3).
CREATE TABLE findmy_partial (
    minute INTEGER NOT NULL,
    prefix BLOB    NOT NULL CHECK (length(prefix) = 6),
    bits   INTEGER NOT NULL CHECK (bits IN (46, 48)),
    rssi   INTEGER NOT NULL CHECK (rssi BETWEEN -128 AND 127),
    PRIMARY KEY (minute, prefix, bits)
) WITHOUT ROWID;

-- Find My match results (docs/findmy.md §7): a published key heard inside
-- its own slot, fully (evidence 'findmy', bits 224) or by prefix
-- (evidence 'findmy-partial', bits 46 or 48). One row per minute heard,
-- key and evidence, kept from whichever batch found it first.
CREATE TABLE findmy_matches (
    heard        INTEGER NOT NULL,
    key          BLOB    NOT NULL CHECK (length(key) = 28),
    evidence     TEXT    NOT NULL CHECK (evidence IN ('findmy', 'findmy-partial')),
    bits         INTEGER NOT NULL CHECK (bits IN (46, 48, 224)),
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL CHECK (window_end >= window_start),
    rssi         INTEGER NOT NULL CHECK (rssi BETWEEN -128 AND 127),
    batch        TEXT    NOT NULL,
    PRIMARY KEY (heard, key, evidence)
) WITHOUT ROWID;
