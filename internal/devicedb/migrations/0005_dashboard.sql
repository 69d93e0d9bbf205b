-- Dashboard aggregates of the contact log (docs/dashboard.md). The contact
-- log of a busy device holds about 1.5 million sightings over 90 days; the
-- dashboard reads these counts instead, a few thousand rows at most. The
-- triggers below keep them equal to what a GROUP BY over contacts would
-- give, in the same transaction as the change to contacts.

-- Sightings per UTC hour (minute / 60) and source.
CREATE TABLE contact_hour_counts (
    hour      INTEGER NOT NULL,
    source    TEXT    NOT NULL,
    sightings INTEGER NOT NULL CHECK (sightings >= 0),
    PRIMARY KEY (hour, source)
) WITHOUT ROWID;

-- Sightings per RSSI reading (127 = unknown).
CREATE TABLE contact_rssi_counts (
    rssi      INTEGER PRIMARY KEY CHECK (rssi BETWEEN -128 AND 127),
    sightings INTEGER NOT NULL CHECK (sightings >= 0)
) WITHOUT ROWID;

INSERT INTO contact_hour_counts (hour, source, sightings)
    SELECT minute / 60, source, count(*) FROM contacts GROUP BY minute / 60, source;
INSERT INTO contact_rssi_counts (rssi, sightings)
    SELECT rssi, count(*) FROM contacts GROUP BY rssi;

CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contact_hour_counts (hour, source, sightings) VALUES (NEW.minute / 60, NEW.source, 1)
        ON CONFLICT (hour, source) DO UPDATE SET sightings = sightings + 1;
    INSERT INTO contact_rssi_counts (rssi, sightings) VALUES (NEW.rssi, 1)
        ON CONFLICT (rssi) DO UPDATE SET sightings = sightings + 1;
END;

-- AddSightings merges a repeated (minute, chirp) into the stored row and
-- may raise its RSSI: the histogram moves that sighting between readings.
CREATE TRIGGER contacts_count_rssi AFTER UPDATE OF rssi ON contacts
WHEN OLD.rssi IS NOT NEW.rssi BEGIN
    UPDATE contact_rssi_counts SET sightings = sightings - 1 WHERE rssi = OLD.rssi;
    DELETE FROM contact_rssi_counts WHERE rssi = OLD.rssi AND sightings = 0;
    INSERT INTO contact_rssi_counts (rssi, sightings) VALUES (NEW.rssi, 1)
        ON CONFLICT (rssi) DO UPDATE SET sightings = sightings + 1;
END;

CREATE TRIGGER contacts_count_hour AFTER UPDATE OF minute, source ON contacts
WHEN OLD.minute / 60 IS NOT NEW.minute / 60 OR OLD.source IS NOT NEW.source BEGIN
    UPDATE contact_hour_counts SET sightings = sightings - 1 WHERE hour = OLD.minute / 60 AND source = OLD.source;
    DELETE FROM contact_hour_counts WHERE hour = OLD.minute / 60 AND source = OLD.source AND sightings = 0;
    INSERT INTO contact_hour_counts (hour, source, sightings) VALUES (NEW.minute / 60, NEW.source, 1)
        ON CONFLICT (hour, source) DO UPDATE SET sightings = sightings + 1;
END;

-- Retention erases whole hours, so emptied rows are removed rather than
-- left at zero: the tables stay as small as the log is long.
CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts BEGIN
    UPDATE contact_hour_counts SET sightings = sightings - 1 WHERE hour = OLD.minute / 60 AND source = OLD.source;
    DELETE FROM contact_hour_counts WHERE hour = OLD.minute / 60 AND source = OLD.source AND sightings = 0;
    UPDATE contact_rssi_counts SET sightings = sightings - 1 WHERE rssi = OLD.rssi;
    DELETE FROM contact_rssi_counts WHERE rssi = OLD.rssi AND sightings = 0;
END;

-- Dashboard settings (minimum RSSI, retention, snooze, exposure servers),
-- one value per key, as the settings page stores them.
CREATE TABLE settings (
    key     TEXT    PRIMARY KEY,
    value   TEXT    NOT NULL,
    updated INTEGER NOT NULL            -- Unix seconds of the last change
) WITHOUT ROWID;
