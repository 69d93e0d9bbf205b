package devicedb

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pact-findmy/pact-findmy/pact"
)

// hourSource is a row of contact_hour_counts.
type hourSource struct {
	hour   int64 // minute / 60
	source pact.Source
}

// contactCounts gathers what one transaction changes in the dashboard
// aggregates (migration 0005, maintained in Go since migration 0007) and
// writes it once, at the end of the transaction: a few rows per batch
// instead of two upserts per sighting. Every change to the contact log
// goes through it, so the aggregates stay equal to a GROUP BY over the
// log.
type contactCounts struct {
	hours map[hourSource]int64
	rssi  [256]int64 // by uint8(rssi)
	// A batch is mostly runs of one hour and source; last and lastN count
	// the current run so the map is touched once per run.
	last  hourSource
	lastN int64
}

func newContactCounts() *contactCounts {
	return &contactCounts{hours: map[hourSource]int64{}}
}

// add counts delta sightings (negative for erased ones) of one minute,
// source and RSSI.
func (c *contactCounts) add(m pact.Minute, source pact.Source, rssi int8, delta int64) {
	hs := hourSource{hour: int64(m) / 60, source: source}
	if hs != c.last {
		c.flushRun()
		c.last = hs
	}
	c.lastN += delta
	c.rssi[uint8(rssi)] += delta
}

// addSealed counts delta sealed sightings of minute m: per hour under
// SourceSealed, and not in the RSSI histogram, since their source and RSSI
// are sealed (spec §9.3.5).
func (c *contactCounts) addSealed(m pact.Minute, delta int64) {
	hs := hourSource{hour: int64(m) / 60, source: SourceSealed}
	if hs != c.last {
		c.flushRun()
		c.last = hs
	}
	c.lastN += delta
}

// moveRSSI records a merged sighting whose stored RSSI changed.
func (c *contactCounts) moveRSSI(from, to int8) {
	if from != to {
		c.rssi[uint8(from)]--
		c.rssi[uint8(to)]++
	}
}

// moveSource records a merged sighting of minute m whose stored source
// changed (a direct sighting replacing a repeated one, pact.PreferDirect):
// it leaves one hour-and-source count for another.
func (c *contactCounts) moveSource(m pact.Minute, from, to pact.Source) {
	if from == to {
		return
	}
	hour := int64(m) / 60
	c.hours[hourSource{hour: hour, source: from}]--
	c.hours[hourSource{hour: hour, source: to}]++
}

func (c *contactCounts) flushRun() {
	if c.lastN != 0 {
		c.hours[c.last] += c.lastN
	}
	c.lastN = 0
}

// apply writes the gathered changes inside tx. The additions, all of
// them in the common case, go in one multi-row upsert per table; a
// removal updates its row and deletes it when it reaches zero, as
// retention needs the tables to stay as short as the log.
func (c *contactCounts) apply(ctx context.Context, tx *sql.Tx) error {
	c.flushRun()
	hours := slices.SortedFunc(maps.Keys(c.hours), func(a, b hourSource) int {
		return cmp.Or(cmp.Compare(a.hour, b.hour), cmp.Compare(a.source, b.source))
	})
	var add []any
	for _, hs := range hours {
		n := c.hours[hs]
		switch {
		case n > 0:
			add = append(add, hs.hour, string(hs.source), n)
		case n < 0:
			if err := removeCount(ctx, tx, n,
				`UPDATE contact_hour_counts SET sightings = sightings + ? WHERE hour = ? AND source = ?`,
				`DELETE FROM contact_hour_counts WHERE hour = ? AND source = ? AND sightings = 0`,
				hs.hour, string(hs.source)); err != nil {
				return fmt.Errorf("devicedb: removing %d sightings of hour %d and source %q from the counts: %w", -n, hs.hour, hs.source, err)
			}
		}
	}
	if err := addCounts(ctx, tx, `INSERT INTO contact_hour_counts (hour, source, sightings) VALUES `, "(?,?,?)",
		` ON CONFLICT (hour, source) DO UPDATE SET sightings = sightings + excluded.sightings`, 3, add); err != nil {
		return fmt.Errorf("devicedb: adding to the sightings per hour: %w", err)
	}
	add = add[:0]
	for i, n := range c.rssi {
		rssi := int64(int8(uint8(i)))
		switch {
		case n > 0:
			add = append(add, rssi, n)
		case n < 0:
			if err := removeCount(ctx, tx, n,
				`UPDATE contact_rssi_counts SET sightings = sightings + ? WHERE rssi = ?`,
				`DELETE FROM contact_rssi_counts WHERE rssi = ? AND sightings = 0`,
				rssi); err != nil {
				return fmt.Errorf("devicedb: removing %d sightings of RSSI %d from the counts: %w", -n, rssi, err)
			}
		}
	}
	if err := addCounts(ctx, tx, `INSERT INTO contact_rssi_counts (rssi, sightings) VALUES `, "(?,?)",
		` ON CONFLICT (rssi) DO UPDATE SET sightings = sightings + excluded.sightings`, 2, add); err != nil {
		return fmt.Errorf("devicedb: adding to the RSSI histogram: %w", err)
	}
	return nil
}

// addCounts runs insert+row,row,...+conflict over args, cols arguments a
// row, rowsPerInsert rows a statement.
func addCounts(ctx context.Context, tx *sql.Tx, insert, row, conflict string, cols int, args []any) error {
	for len(args) > 0 {
		n := min(len(args)/cols, rowsPerInsert)
		var b strings.Builder
		b.WriteString(insert)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row)
		}
		b.WriteString(conflict)
		if _, err := tx.ExecContext(ctx, b.String(), args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

// removeCount subtracts -n (n < 0) from one aggregate row identified by
// key and deletes the row if it reached zero. A removal from a row that
// does not exist means the counts had drifted: the transaction fails.
func removeCount(ctx context.Context, tx *sql.Tx, n int64, update, deleteEmpty string, key ...any) error {
	res, err := tx.ExecContext(ctx, update, append([]any{n}, key...)...)
	if err != nil {
		return err
	}
	if changed, _ := res.RowsAffected(); changed != 1 {
		return fmt.Errorf("%w: no row to remove %d sightings from", ErrCountsDrift, -n)
	}
	_, err = tx.ExecContext(ctx, deleteEmpty, key...)
	return err
}

// countErased subtracts from counts the contact-log rows about to be
// erased by `DELETE FROM contacts WHERE minute < m` and the same of
// sealed_contacts, read in the same transaction.
func countErased(ctx context.Context, tx *sql.Tx, counts *contactCounts, m pact.Minute) error {
	if err := countErasedSealed(ctx, tx, counts, m); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT minute / 60, source, rssi, count(*) FROM contacts
		WHERE minute < ? GROUP BY 1, 2, 3`, int64(m))
	if err != nil {
		return fmt.Errorf("devicedb: counting sightings before %v: %w", m, err)
	}
	defer rows.Close()
	for rows.Next() {
		var hour, rssi, n int64
		var source string
		if err := rows.Scan(&hour, &source, &rssi, &n); err != nil {
			return fmt.Errorf("devicedb: counting sightings before %v: %w", m, err)
		}
		counts.add(pact.Minute(hour*60), pact.Source(source), int8(rssi), -n)
	}
	return rows.Err()
}

func countErasedSealed(ctx context.Context, tx *sql.Tx, counts *contactCounts, m pact.Minute) error {
	rows, err := tx.QueryContext(ctx, `SELECT minute / 60, count(*) FROM sealed_contacts WHERE minute < ? GROUP BY 1`, int64(m))
	if err != nil {
		return fmt.Errorf("devicedb: counting sealed sightings before %v: %w", m, err)
	}
	defer rows.Close()
	for rows.Next() {
		var hour, n int64
		if err := rows.Scan(&hour, &n); err != nil {
			return fmt.Errorf("devicedb: counting sealed sightings before %v: %w", m, err)
		}
		counts.addSealed(pact.Minute(hour*60), -n)
	}
	return rows.Err()
}
