-- Sealed contact log (spec §9.3, local information hiding). A row keeps
-- the minute and the chirp's lookup tag in the clear and every other field
-- sealed under a key derived from the chirp (pact.SealSighting); the chirp
-- itself is not stored. One row per (minute, tag), merged like contacts.
CREATE TABLE sealed_contacts (
    minute INTEGER NOT NULL,
    tag    BLOB    NOT NULL CHECK (length(tag) = 16),
    sealed BLOB    NOT NULL CHECK (length(sealed) >= 40),
    PRIMARY KEY (minute, tag)
) WITHOUT ROWID;

-- How the device keeps its contact log: 'plain' (the contacts table) or
-- 'hidden' (sealed_contacts). The switch to hidden moves every plain row
-- (devicedb.HideContactLog) and is never undone: the chirps are gone.
CREATE TABLE contact_log_mode (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    mode    TEXT    NOT NULL CHECK (mode IN ('plain', 'hidden')),
    changed INTEGER NOT NULL          -- Unix seconds of the switch, 0 if never
);
INSERT INTO contact_log_mode (id, mode, changed) VALUES (1, 'plain', 0);
