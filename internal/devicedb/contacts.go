package devicedb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/pact-findmy/pact-findmy/pact"
)

var _ pact.ContactStore = (*DB)(nil)

// rowsPerInsert is how many sightings one INSERT statement carries. Fewer
// statements per batch is what makes bulk loading fast in SQLite; 6 bound
// parameters per row keeps this well under SQLite's parameter limit.
const rowsPerInsert = 128

// upsertContacts keeps the stronger RSSI, treating 127 (unknown) as weaker
// than any reading (pact.MergeRSSI), and the first known location.
const upsertContacts = ` ON CONFLICT (minute, chirp) DO UPDATE SET
    rssi = CASE
        WHEN excluded.rssi = 127 THEN contacts.rssi
        WHEN contacts.rssi = 127 THEN excluded.rssi
        ELSE max(contacts.rssi, excluded.rssi) END,
    lat = coalesce(contacts.lat, excluded.lat),
    lon = coalesce(contacts.lon, excluded.lon)`

func insertContactsSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO contacts (minute, chirp, rssi, source, lat, lon) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?)")
	}
	b.WriteString(upsertContacts)
	return b.String()
}

var insertFullChunkSQL = insertContactsSQL(rowsPerInsert)

// AddSightings implements pact.ContactStore: the whole batch is one
// transaction, so it is stored entirely or not at all.
func (d *DB) AddSightings(ctx context.Context, batch []pact.Sighting) error {
	if len(batch) == 0 {
		return nil
	}
	for i := range batch {
		if err := batch[i].Validate(); err != nil {
			return fmt.Errorf("devicedb: sighting %d of %d: %w", i, len(batch), err)
		}
	}
	total := len(batch)
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var full *sql.Stmt
		args := make([]any, 0, 6*rowsPerInsert)
		for len(batch) > 0 {
			n := min(len(batch), rowsPerInsert)
			args = args[:0]
			for _, s := range batch[:n] {
				var lat, lon any
				if s.Location != nil {
					lat, lon = s.Location.Lat, s.Location.Lon
				}
				args = append(args, int64(s.Minute), s.Chirp[:], int64(s.RSSI), string(s.Source), lat, lon)
			}
			var err error
			if n == rowsPerInsert {
				if full == nil {
					if full, err = tx.PrepareContext(ctx, insertFullChunkSQL); err != nil {
						return err
					}
					defer full.Close()
				}
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, insertContactsSQL(n), args...)
			}
			if err != nil {
				return err
			}
			batch = batch[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("devicedb: storing %d sightings: %w", total, err)
	}
	return nil
}

// Sightings implements pact.ContactStore.
func (d *DB) Sightings(ctx context.Context, from, to pact.Minute, fn func(pact.Sighting) error) error {
	rows, err := d.db.QueryContext(ctx,
		`SELECT minute, chirp, rssi, source, lat, lon FROM contacts WHERE minute BETWEEN ? AND ? ORDER BY minute, chirp`,
		int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("devicedb: reading sightings %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			minute, rssi int64
			chirp        []byte
			source       string
			lat, lon     sql.NullFloat64
		)
		if err := rows.Scan(&minute, &chirp, &rssi, &source, &lat, &lon); err != nil {
			return fmt.Errorf("devicedb: reading a sighting: %w", err)
		}
		if len(chirp) != pact.ChirpSize || minute < 0 || minute > int64(^uint32(0)) || rssi < -128 || rssi > 127 {
			return fmt.Errorf("devicedb: stored sighting at minute %d is malformed (chirp %d bytes, rssi %d)", minute, len(chirp), rssi)
		}
		s := pact.Sighting{Chirp: pact.Chirp(chirp), Minute: pact.Minute(minute), RSSI: int8(rssi), Source: pact.Source(source)}
		if lat.Valid && lon.Valid {
			s.Location = &pact.Location{Lat: lat.Float64, Lon: lon.Float64}
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devicedb: reading sightings %v..%v: %w", from, to, err)
	}
	return nil
}

// DeleteSightingsBefore implements pact.ContactStore. Match results derived
// from the erased sightings go with them.
func (d *DB) DeleteSightingsBefore(ctx context.Context, m pact.Minute) (int64, error) {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM exposure_contacts WHERE heard < ?`, int64(m)); err != nil {
		return 0, fmt.Errorf("devicedb: erasing contacts before %v: %w", m, err)
	}
	return d.erase(ctx, `DELETE FROM contacts WHERE minute < ?`, m)
}
