-- Find My matches of secondary keys (docs/findmy.md §7.6, §9): a full key
-- that a separated accessory advertises, daily, away from its owner. Such
-- a match says the device was near the owner's item, not the owner, and is
-- shown apart ('findmy-separated'). Only full-key evidence can be
-- secondary: an accessory sends prefixes near its owner only.
ALTER TABLE findmy_matches ADD COLUMN secondary INTEGER NOT NULL DEFAULT 0 CHECK (secondary IN (0, 1));
