-- Exposure score inputs (docs/matching.md §8.4): the TX power a native
-- frame version 2 carries, in dBm, for the attenuation TX power - (RSSI +
-- receiver correction). 127 is unknown: frames of version 1, Find My keys,
-- and every row stored before this migration, which the score reads with
-- the reference TX power.
ALTER TABLE contacts ADD COLUMN tx_power INTEGER NOT NULL DEFAULT 127
    CHECK (tx_power = 127 OR tx_power BETWEEN -127 AND 20);
ALTER TABLE exposure_contacts ADD COLUMN tx_power INTEGER NOT NULL DEFAULT 127
    CHECK (tx_power = 127 OR tx_power BETWEEN -127 AND 20);
