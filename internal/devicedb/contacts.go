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
// statements per batch is what makes bulk loading fast in SQLite; the
// bound parameters stay well under SQLite's limit of 32766.
const rowsPerInsert = 256

// chunkInserter runs the multi-row INSERTs of one transaction. A chunk of
// rowsPerInsert rows, the common case, goes through a statement prepared
// once per query; a shorter last chunk is executed directly.
type chunkInserter struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func newChunkInserter(ctx context.Context, tx *sql.Tx) *chunkInserter {
	return &chunkInserter{ctx: ctx, tx: tx, stmts: map[string]*sql.Stmt{}}
}

// exec runs query with args; full says the chunk has rowsPerInsert rows.
func (c *chunkInserter) exec(query string, full bool, args []any) error {
	if !full {
		_, err := c.tx.ExecContext(c.ctx, query, args...)
		return err
	}
	st := c.stmts[query]
	if st == nil {
		var err error
		if st, err = c.tx.PrepareContext(c.ctx, query); err != nil {
			return err
		}
		c.stmts[query] = st
	}
	_, err := st.ExecContext(c.ctx, args...)
	return err
}

func (c *chunkInserter) close() {
	for _, st := range c.stmts {
		st.Close()
	}
}

// upsertContacts keeps the stronger RSSI, treating 127 (unknown) as weaker
// than any reading (pact.MergeRSSI), the higher known TX power
// (pact.MergeTxPower), the first known location, and a direct source over
// a repeated one (pact.PreferDirect, spec §9.1.3).
const upsertContacts = ` ON CONFLICT (minute, chirp) DO UPDATE SET
    source = CASE
        WHEN contacts.source IN ('repeater', 'findmy-repeater') AND excluded.source NOT IN ('repeater', 'findmy-repeater')
        THEN excluded.source ELSE contacts.source END,
    rssi = CASE
        WHEN excluded.rssi = 127 THEN contacts.rssi
        WHEN contacts.rssi = 127 THEN excluded.rssi
        ELSE max(contacts.rssi, excluded.rssi) END,
    tx_power = CASE
        WHEN excluded.tx_power = 127 THEN contacts.tx_power
        WHEN contacts.tx_power = 127 THEN excluded.tx_power
        ELSE max(contacts.tx_power, excluded.tx_power) END,
    lat = coalesce(contacts.lat, excluded.lat),
    lon = coalesce(contacts.lon, excluded.lon)`

// Sightings without a location, the common case, bind five parameters
// instead of seven: binding is most of the cost of an insert.
func insertContactsSQL(rows int, located bool) string {
	var b strings.Builder
	cols, row := "(minute, chirp, rssi, tx_power, source)", "(?,?,?,?,?)"
	if located {
		cols, row = "(minute, chirp, rssi, tx_power, source, lat, lon)", "(?,?,?,?,?,?,?)"
	}
	b.WriteString("INSERT INTO contacts " + cols + " VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(upsertContacts)
	return b.String()
}

var insertFullChunkSQL = [2]string{insertContactsSQL(rowsPerInsert, false), insertContactsSQL(rowsPerInsert, true)}

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
		ins := newChunkInserter(ctx, tx)
		defer ins.close()
		args := make([]any, 0, 7*rowsPerInsert)
		for len(batch) > 0 {
			// A chunk is a run of sightings that all have, or all lack, a
			// location.
			located := batch[0].Location != nil
			n := 1
			for n < len(batch) && n < rowsPerInsert && (batch[n].Location != nil) == located {
				n++
			}
			args = args[:0]
			for _, s := range batch[:n] {
				args = append(args, int64(s.Minute), s.Chirp[:], int64(s.RSSI), int64(s.TxPower), string(s.Source))
				if located {
					args = append(args, s.Location.Lat, s.Location.Lon)
				}
			}
			query := insertFullChunkSQL[0]
			if located {
				query = insertFullChunkSQL[1]
			}
			if n < rowsPerInsert {
				query = insertContactsSQL(n, located)
			}
			if err := ins.exec(query, n == rowsPerInsert, args); err != nil {
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
		`SELECT minute, chirp, rssi, tx_power, source, lat, lon FROM contacts WHERE minute BETWEEN ? AND ? ORDER BY minute, chirp`,
		int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("devicedb: reading sightings %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			minute, rssi, tx int64
			chirp            []byte
			source           string
			lat, lon         sql.NullFloat64
		)
		if err := rows.Scan(&minute, &chirp, &rssi, &tx, &source, &lat, &lon); err != nil {
			return fmt.Errorf("devicedb: reading a sighting: %w", err)
		}
		m, err := storedMinute("sighting", "minute", minute)
		if err != nil {
			return err
		}
		r, err := storedRSSI("sighting", rssi)
		if err != nil {
			return err
		}
		txPower, err := storedTxPower("sighting", tx)
		if err != nil {
			return err
		}
		if len(chirp) != pact.ChirpSize {
			return &RowError{Row: "sighting", Column: "chirp", Value: int64(len(chirp)), Want: fmt.Sprintf("%d bytes", pact.ChirpSize)}
		}
		s := pact.Sighting{Chirp: pact.Chirp(chirp), Minute: m, RSSI: r, TxPower: txPower, Source: pact.Source(source)}
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
// from the erased sightings go with them, in the same transaction, and so
// do partial Find My sightings and Find My matches (findmy.go). It returns
// the number of contact-log rows erased.
func (d *DB) DeleteSightingsBefore(ctx context.Context, m pact.Minute) (int64, error) {
	return d.erase(ctx, m, `DELETE FROM exposure_contacts WHERE heard < ?`,
		deleteFindMyMatchesBefore, deletePartialBefore, `DELETE FROM contacts WHERE minute < ?`)
}
