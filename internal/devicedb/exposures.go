package devicedb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pact-findmy/pact-findmy/pact"
)

// AddContacts stores ordinary match results in one transaction and returns
// how many were new. A sighting already matched by an earlier batch is
// kept as it was, unless it was stored as a reverse-tracing match: an
// ordinary match turns it into an ordinary exposure (spec §9.2), and
// counts as new.
func (d *DB) AddContacts(ctx context.Context, cs []pact.Contact) (int, error) {
	added := 0
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		added, err = insertContacts(ctx, tx, cs, false, nil)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("devicedb: storing %d contacts: %w", len(cs), err)
	}
	return added, nil
}

// insertContacts stores match results inside tx, ordinary ones or, when
// reverse is set, reverse-tracing ones (spec §9.2). It calls onNew (if not
// nil) for each one that was not stored before, or that turned a stored
// reverse-tracing row into an ordinary one, and returns how many did.
func insertContacts(ctx context.Context, tx *sql.Tx, cs []pact.Contact, reverse bool, onNew func(*pact.Contact)) (int, error) {
	// An ordinary match of a sighting stored as a reverse-tracing match
	// wins; nothing else changes a stored row. RowsAffected counts the
	// update and is 0 when the WHERE clause keeps the row.
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO exposure_contacts
		(heard, chirp, seed, chirp_minute, rssi, tx_power, source, lat, lon, reverse) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (heard, chirp) DO UPDATE SET reverse = 0
		WHERE exposure_contacts.reverse = 1 AND excluded.reverse = 0`)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	added := 0
	for i := range cs {
		c := &cs[i]
		var lat, lon any
		if c.Location != nil {
			lat, lon = c.Location.Lat, c.Location.Lon
		}
		res, err := stmt.ExecContext(ctx, int64(c.Heard), c.Chirp[:], c.Seed[:], int64(c.ChirpMinute), int64(c.RSSI), int64(c.TxPower), string(c.Source), lat, lon, reverse)
		if err != nil {
			return added, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added++
			if onNew != nil {
				onNew(c)
			}
		}
	}
	return added, nil
}

// Contacts calls fn for every stored ordinary contact heard in [from, to],
// in order of the minute heard. Reverse-tracing matches are not among
// them (ReverseContacts reads those).
func (d *DB) Contacts(ctx context.Context, from, to pact.Minute, fn func(pact.Contact) error) error {
	return d.contacts(ctx, from, to, false, fn)
}

// ReverseContacts calls fn for every stored reverse-tracing match heard in
// [from, to], in order of the minute heard: sightings of seeds their
// uploader flagged for reverse tracing and no batch published unflagged
// (spec §9.2).
func (d *DB) ReverseContacts(ctx context.Context, from, to pact.Minute, fn func(pact.Contact) error) error {
	return d.contacts(ctx, from, to, true, fn)
}

func (d *DB) contacts(ctx context.Context, from, to pact.Minute, reverse bool, fn func(pact.Contact) error) error {
	rows, err := d.db.QueryContext(ctx, `SELECT heard, chirp, seed, chirp_minute, rssi, tx_power, source, lat, lon
		FROM exposure_contacts WHERE heard BETWEEN ? AND ? AND reverse = ? ORDER BY heard, chirp`, int64(from), int64(to), reverse)
	if err != nil {
		return fmt.Errorf("devicedb: reading contacts %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			heard, chirpMinute, rssi, tx int64
			chirp, seed                  []byte
			source                       string
			lat, lon                     sql.NullFloat64
		)
		if err := rows.Scan(&heard, &chirp, &seed, &chirpMinute, &rssi, &tx, &source, &lat, &lon); err != nil {
			return fmt.Errorf("devicedb: reading a contact: %w", err)
		}
		h, err := storedMinute("contact", "heard", heard)
		if err != nil {
			return err
		}
		cm, err := storedMinute("contact", "chirp_minute", chirpMinute)
		if err != nil {
			return err
		}
		r, err := storedRSSI("contact", rssi)
		if err != nil {
			return err
		}
		txPower, err := storedTxPower("contact", tx)
		if err != nil {
			return err
		}
		if len(chirp) != pact.ChirpSize {
			return &RowError{Row: "contact", Column: "chirp", Value: int64(len(chirp)), Want: fmt.Sprintf("%d bytes", pact.ChirpSize)}
		}
		if len(seed) != pact.SeedSize {
			return &RowError{Row: "contact", Column: "seed", Value: int64(len(seed)), Want: fmt.Sprintf("%d bytes", pact.SeedSize)}
		}
		c := pact.Contact{
			Heard: h, Chirp: pact.Chirp(chirp), Seed: pact.Seed(seed),
			ChirpMinute: cm, RSSI: r, TxPower: txPower, Source: pact.Source(source),
		}
		if lat.Valid && lon.Valid {
			c.Location = &pact.Location{Lat: lat.Float64, Lon: lon.Float64}
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devicedb: reading contacts %v..%v: %w", from, to, err)
	}
	return nil
}

// DaySummaries summarises every stored ordinary direct contact heard in
// [from, to] per day, scored with the receiver calibration opts (spec
// §8.4), as Match reports them in MatchReport.Days; reverse-tracing
// matches never count in it (spec §9.2).
func (d *DB) DaySummaries(ctx context.Context, from, to pact.Minute, opts pact.ScoreOptions) ([]pact.DaySummary, error) {
	direct, _, err := d.splitContacts(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return pact.SummarizeContacts(direct, opts), nil
}

// IndirectDaySummaries summarises, apart, the stored ordinary contacts
// heard from a repeater (spec §9.1.3), as Match reports them in
// MatchReport.Indirect.
func (d *DB) IndirectDaySummaries(ctx context.Context, from, to pact.Minute, opts pact.ScoreOptions) ([]pact.DaySummary, error) {
	_, indirect, err := d.splitContacts(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return pact.SummarizeContacts(indirect, opts), nil
}

func (d *DB) splitContacts(ctx context.Context, from, to pact.Minute) (direct, indirect []pact.Contact, err error) {
	var cs []pact.Contact
	if err := d.Contacts(ctx, from, to, func(c pact.Contact) error { cs = append(cs, c); return nil }); err != nil {
		return nil, nil, err
	}
	direct, indirect = pact.SplitContacts(cs)
	return direct, indirect, nil
}
