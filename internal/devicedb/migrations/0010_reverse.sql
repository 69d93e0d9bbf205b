-- Reverse contact tracing (spec §9.2): a match found through a seed tuple or
-- Find My key that its uploader flagged for reverse tracing says that this
-- device may have been the source of the uploader's infection, not that it
-- was exposed. Such rows carry reverse = 1 and are read apart from ordinary
-- exposures, which stay reverse = 0. A sighting matched both ways is an
-- ordinary exposure: a later ordinary match clears the flag of a stored
-- reverse row, a later reverse match leaves an ordinary row as it is.
-- Existing rows came from batches without the flag: they are ordinary.
ALTER TABLE exposure_contacts ADD COLUMN reverse INTEGER NOT NULL DEFAULT 0 CHECK (reverse IN (0, 1));
ALTER TABLE findmy_matches ADD COLUMN reverse INTEGER NOT NULL DEFAULT 0 CHECK (reverse IN (0, 1));
