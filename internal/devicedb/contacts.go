package devicedb

import (
	"context"
	"database/sql"
	"errors"
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
	st, err := c.prepared(query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(c.ctx, args...)
	return err
}

// execCount is exec returning the number of rows changed.
func (c *chunkInserter) execCount(query string, full bool, args []any) (int64, error) {
	var res sql.Result
	var err error
	if !full {
		res, err = c.tx.ExecContext(c.ctx, query, args...)
	} else {
		var st *sql.Stmt
		if st, err = c.prepared(query); err != nil {
			return 0, err
		}
		res, err = st.ExecContext(c.ctx, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// queryRow runs a one-row query through a statement prepared once.
func (c *chunkInserter) queryRow(query string, args ...any) *sql.Row {
	st, err := c.prepared(query)
	if err != nil {
		// QueryRowContext on the transaction reports the same error
		// through Scan.
		return c.tx.QueryRowContext(c.ctx, query, args...)
	}
	return st.QueryRowContext(c.ctx, args...)
}

func (c *chunkInserter) prepared(query string) (*sql.Stmt, error) {
	st := c.stmts[query]
	if st == nil {
		var err error
		if st, err = c.tx.PrepareContext(c.ctx, query); err != nil {
			return nil, err
		}
		c.stmts[query] = st
	}
	return st, nil
}

func (c *chunkInserter) close() {
	for _, st := range c.stmts {
		st.Close()
	}
}

// upsertContacts keeps the stronger RSSI, treating 127 (unknown) as weaker
// than any reading (pact.MergeRSSI), the higher known TX power
// (pact.MergeTxPower), the first known location, and a direct source over
// a repeated one (pact.PreferDirect, spec §9.1.3). A source change moves
// the row's hour count (addChunk follows it in contactCounts).
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

// insertNewContacts is the fast path of a chunk: every row is new, so the
// aggregates count each one without reading anything back.
const insertNewContacts = ` ON CONFLICT (minute, chirp) DO NOTHING`

// Sightings without a location, the common case, bind five parameters
// instead of seven: binding is most of the cost of an insert.
func insertContactsSQL(rows int, located bool, conflict string) string {
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
	b.WriteString(conflict)
	return b.String()
}

// Full chunks' statements, by located.
var (
	insertNewChunkSQL   = [2]string{insertContactsSQL(rowsPerInsert, false, insertNewContacts), insertContactsSQL(rowsPerInsert, true, insertNewContacts)}
	insertMergeChunkSQL = [2]string{insertContactsSQL(rowsPerInsert, false, upsertContacts), insertContactsSQL(rowsPerInsert, true, upsertContacts)}
	selectStoredContact = `SELECT rssi, source FROM contacts WHERE minute = ? AND chirp = ?`
	chunkSavepoint      = `SAVEPOINT contacts_chunk`
	chunkRollback       = `ROLLBACK TO contacts_chunk`
	chunkRelease        = `RELEASE contacts_chunk`
)

// AddSightings implements pact.ContactStore: the whole batch is one
// transaction, so it is stored entirely or not at all. The dashboard
// aggregates change in the same transaction (contactCounts).
//
// Each chunk is first inserted with ON CONFLICT DO NOTHING inside a
// savepoint. When every row was new, the usual case of a harvester that
// merges a minute's repeats in memory, the counts follow from the batch
// alone. Otherwise the chunk is rolled back to the savepoint, the stored
// RSSI and source of each of its rows are read, and the chunk is merged
// into the log with the counts moved accordingly.
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
		counts := newContactCounts()
		// The mode is read in the transaction: another process on the
		// same file may have hidden the log since the last batch.
		mode, err := contactLogMode(ctx, tx)
		if err != nil {
			return err
		}
		if mode == ModeHidden {
			if err := addSealed(ctx, tx, counts, batch, nil); err != nil {
				return err
			}
			return counts.apply(ctx, tx)
		}
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
			chunk := batch[:n]
			args = args[:0]
			for _, s := range chunk {
				args = append(args, int64(s.Minute), s.Chirp[:], int64(s.RSSI), int64(s.TxPower), string(s.Source))
				if located {
					args = append(args, s.Location.Lat, s.Location.Lon)
				}
			}
			if err := d.addChunk(ins, counts, chunk, located, args); err != nil {
				return err
			}
			batch = batch[n:]
		}
		return counts.apply(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("devicedb: storing %d sightings: %w", total, err)
	}
	return nil
}

// addChunk stores one chunk whose bound arguments are args (see
// AddSightings).
func (d *DB) addChunk(ins *chunkInserter, counts *contactCounts, chunk []pact.Sighting, located bool, args []any) error {
	full := len(chunk) == rowsPerInsert
	loc := 0
	if located {
		loc = 1
	}
	if err := ins.exec(chunkSavepoint, true, nil); err != nil {
		return err
	}
	query := insertNewChunkSQL[loc]
	if !full {
		query = insertContactsSQL(len(chunk), located, insertNewContacts)
	}
	added, err := ins.execCount(query, full, args)
	if err != nil {
		return err
	}
	if added == int64(len(chunk)) {
		for i := range chunk {
			counts.add(chunk[i].Minute, chunk[i].Source, chunk[i].RSSI, 1)
		}
		return ins.exec(chunkRelease, true, nil)
	}
	if err := ins.exec(chunkRollback, true, nil); err != nil {
		return err
	}
	if err := ins.exec(chunkRelease, true, nil); err != nil {
		return err
	}
	// Some rows merge into stored ones, or into each other: follow what
	// the upsert will do, row by row in order. Its RSSI may rise and a
	// repeated source give way to a direct one (pact.PreferDirect), which
	// moves the row from one hour-and-source count to another.
	type stored struct {
		rssi   int8
		source pact.Source
	}
	seen := make(map[rowKey]stored, len(chunk))
	for i := range chunk {
		s := &chunk[i]
		k := rowKey{minute: s.Minute, chirp: s.Chirp}
		prev, ok := seen[k]
		if !ok {
			var (
				rssi   int64
				source string
			)
			err := ins.queryRow(selectStoredContact, int64(s.Minute), s.Chirp[:]).Scan(&rssi, &source)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("reading the stored sighting of %s at minute %d: %w", s.Chirp, s.Minute, err)
			default:
				prev, ok = stored{rssi: int8(rssi), source: pact.Source(source)}, true
			}
		}
		if !ok {
			counts.add(s.Minute, s.Source, s.RSSI, 1)
			seen[k] = stored{rssi: s.RSSI, source: s.Source}
			continue
		}
		merged := stored{rssi: pact.MergeRSSI(prev.rssi, s.RSSI), source: pact.PreferDirect(prev.source, s.Source)}
		counts.moveRSSI(prev.rssi, merged.rssi)
		counts.moveSource(s.Minute, prev.source, merged.source)
		seen[k] = merged
	}
	query = insertMergeChunkSQL[loc]
	if !full {
		query = insertContactsSQL(len(chunk), located, upsertContacts)
	}
	return ins.exec(query, full, args)
}

// rowKey is the primary key of a contact-log row.
type rowKey struct {
	minute pact.Minute
	chirp  pact.Chirp
}

// Sightings implements pact.ContactStore. A hidden log holds no chirps:
// it fails with ErrSealedLog (read it with SealedSightings).
func (d *DB) Sightings(ctx context.Context, from, to pact.Minute, fn func(pact.Sighting) error) error {
	if err := d.refuseHidden(ctx); err != nil {
		return err
	}
	rows, err := d.db.QueryContext(ctx,
		`SELECT minute, chirp, rssi, tx_power, source, lat, lon FROM contacts WHERE minute BETWEEN ? AND ? ORDER BY minute, chirp`,
		int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("devicedb: reading sightings %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	for rows.Next() {
		s, err := scanSighting(rows)
		if err != nil {
			return err
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

// refuseHidden returns ErrSealedLog when the log is hidden.
func (d *DB) refuseHidden(ctx context.Context) error {
	mode, err := d.ContactLogMode(ctx)
	if err != nil {
		return err
	}
	if mode == ModeHidden {
		return ErrSealedLog
	}
	return nil
}

// DeleteSightingsBefore implements pact.ContactStore. Match results derived
// from the erased sightings go with them, in the same transaction, and so
// do partial Find My sightings and Find My matches (findmy.go). It returns
// the number of contact-log rows erased.
func (d *DB) DeleteSightingsBefore(ctx context.Context, m pact.Minute) (int64, error) {
	return d.eraseCounted(ctx, m, `DELETE FROM exposure_contacts WHERE heard < ?`,
		deleteFindMyMatchesBefore, deletePartialBefore, `DELETE FROM sealed_contacts WHERE minute < ?`, `DELETE FROM contacts WHERE minute < ?`)
}
