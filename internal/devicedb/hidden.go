package devicedb

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// ContactLogMode says how the contact log is kept (spec §9.3).
type ContactLogMode string

// Contact-log modes.
const (
	// ModePlain keeps chirps, RSSI, source and location in the clear (the
	// contacts table).
	ModePlain ContactLogMode = "plain"
	// ModeHidden keeps per sighting the minute, the chirp's lookup tag and
	// the other fields sealed under the chirp (sealed_contacts); the chirp
	// is not stored.
	ModeHidden ContactLogMode = "hidden"
)

// SourceSealed is the source under which the dashboard's sightings per
// hour count sealed sightings: their source is sealed with them. The RSSI
// histogram does not count them at all.
const SourceSealed pact.Source = "sealed"

// ErrSealedLog is wrapped by the methods that return chirps (Sightings,
// FindMySightings) when the contact log is hidden: it holds no chirps.
var ErrSealedLog = errors.New("devicedb: the contact log is hidden and holds no chirps")

// hideChunk is how many plain rows HideContactLog moves per transaction:
// an interruption loses none of them, and a transaction stays short
// enough not to hold off the harvester.
const hideChunk = 2000

// ContactLogMode returns how the contact log is kept.
func (d *DB) ContactLogMode(ctx context.Context) (ContactLogMode, error) {
	return contactLogMode(ctx, d.db)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func contactLogMode(ctx context.Context, q queryRower) (ContactLogMode, error) {
	var mode string
	if err := q.QueryRowContext(ctx, `SELECT mode FROM contact_log_mode WHERE id = 1`).Scan(&mode); err != nil {
		return "", fmt.Errorf("devicedb: reading the contact-log mode: %w", err)
	}
	return ContactLogMode(mode), nil
}

// ContactLogSealed implements pact.SealedContactStore.
func (d *DB) ContactLogSealed(ctx context.Context) (bool, error) {
	mode, err := d.ContactLogMode(ctx)
	return mode == ModeHidden, err
}

// HideContactLog switches the contact log to ModeHidden and moves every
// plain row into sealed_contacts (spec §9.3.4). It returns how many rows it
// moved. The switch is committed first, so sightings stored from then on
// are sealed; then the rows move hideChunk at a time, each chunk sealed,
// inserted and deleted from contacts in one transaction, so an
// interruption loses no row: Open finishes the move. Finally the WAL is
// checkpointed and truncated and the file vacuumed, so no chirp remains in
// any file of the database (secure_delete zeroes what was deleted).
func (d *DB) HideContactLog(ctx context.Context, now time.Time) (int64, error) {
	if _, err := d.db.ExecContext(ctx, `UPDATE contact_log_mode SET mode = ?, changed = ? WHERE id = 1 AND mode <> ?`,
		string(ModeHidden), now.Unix(), string(ModeHidden)); err != nil {
		return 0, fmt.Errorf("devicedb: switching the contact log to hidden: %w", err)
	}
	return d.finishHiding(ctx, nil)
}

// finishHiding moves the plain rows left in a hidden log (HideContactLog),
// afterChunk, used by tests,
// runs after each committed chunk; an error from it stops the move there.
func (d *DB) finishHiding(ctx context.Context, afterChunk func() error) (int64, error) {
	var moved int64
	for {
		var n int
		err := d.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			n, err = hideSomeRows(ctx, tx, hideChunk)
			return err
		})
		if err != nil {
			return moved, fmt.Errorf("devicedb: hiding the contact log after %d rows: %w", moved, err)
		}
		moved += int64(n)
		if n == 0 {
			break
		}
		if afterChunk != nil {
			if err := afterChunk(); err != nil {
				return moved, err
			}
		}
	}
	if moved == 0 {
		return 0, nil
	}
	// The deleted cells are zeroed (secure_delete); the WAL still holds
	// the pages as they were until it is checkpointed and truncated, and
	// VACUUM rewrites the file from its live rows only.
	for _, stmt := range []string{`PRAGMA wal_checkpoint(TRUNCATE)`, `VACUUM`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
		if _, err := d.db.ExecContext(ctx, stmt); err != nil {
			return moved, fmt.Errorf("devicedb: %s after hiding %d rows: %w", stmt, moved, err)
		}
	}
	return moved, nil
}

// hideChunkWritten, set only by tests, runs inside each chunk's
// transaction of HideContactLog after its rows were written and before it
// commits: a test process exits there to stand for a crash.
var hideChunkWritten func()

// hideSomeRows moves up to limit plain rows into sealed_contacts inside tx
// and returns how many it moved.
func hideSomeRows(ctx context.Context, tx *sql.Tx, limit int) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT minute, chirp, rssi, tx_power, source, lat, lon FROM contacts ORDER BY minute, chirp LIMIT ?`, limit)
	if err != nil {
		return 0, err
	}
	var batch []pact.Sighting
	for rows.Next() {
		s, err := scanSighting(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		batch = append(batch, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, nil
	}
	counts := newContactCounts()
	del, err := tx.PrepareContext(ctx, `DELETE FROM contacts WHERE minute = ? AND chirp = ?`)
	if err != nil {
		return 0, err
	}
	defer del.Close()
	for i := range batch {
		s := &batch[i]
		if _, err := del.ExecContext(ctx, int64(s.Minute), s.Chirp[:]); err != nil {
			return 0, fmt.Errorf("deleting the plain sighting of minute %d: %w", s.Minute, err)
		}
		counts.add(s.Minute, s.Source, s.RSSI, -1)
	}
	if err := addSealed(ctx, tx, counts, batch, nil); err != nil {
		return 0, err
	}
	if err := counts.apply(ctx, tx); err != nil {
		return 0, err
	}
	if hideChunkWritten != nil {
		hideChunkWritten()
	}
	return len(batch), nil
}

// scanSighting reads one contacts row.
func scanSighting(row rowScanner) (pact.Sighting, error) {
	var (
		minute, rssi, tx int64
		chirp            []byte
		source           string
		lat, lon         sql.NullFloat64
	)
	if err := row.Scan(&minute, &chirp, &rssi, &tx, &source, &lat, &lon); err != nil {
		return pact.Sighting{}, fmt.Errorf("devicedb: reading a sighting: %w", err)
	}
	m, err := storedMinute("sighting", "minute", minute)
	if err != nil {
		return pact.Sighting{}, err
	}
	r, err := storedRSSI("sighting", rssi)
	if err != nil {
		return pact.Sighting{}, err
	}
	txPower, err := storedTxPower("sighting", tx)
	if err != nil {
		return pact.Sighting{}, err
	}
	if len(chirp) != pact.ChirpSize {
		return pact.Sighting{}, &RowError{Row: "sighting", Column: "chirp", Value: int64(len(chirp)), Want: fmt.Sprintf("%d bytes", pact.ChirpSize)}
	}
	s := pact.Sighting{Chirp: pact.Chirp(chirp), Minute: m, RSSI: r, TxPower: txPower, Source: pact.Source(source)}
	if lat.Valid && lon.Valid {
		s.Location = &pact.Location{Lat: lat.Float64, Lon: lon.Float64}
	}
	return s, nil
}

// addSealed seals batch and stores it in sealed_contacts inside tx,
// merging a sighting into a stored row of the same minute and chirp: the
// writer holds the chirp, so it opens the row, merges as the plain log
// does (pact.MergeRSSI, pact.MergeTxPower, first location, a direct source
// over a repeated one: pact.PreferDirect) and seals it again
// under a fresh nonce. Nonces come from r, crypto/rand when nil.
func addSealed(ctx context.Context, tx *sql.Tx, counts *contactCounts, batch []pact.Sighting, r io.Reader) error {
	if r == nil {
		r = rand.Reader
	}
	nonces := make([]byte, pact.SealedNonceSize*len(batch))
	if _, err := io.ReadFull(r, nonces); err != nil {
		return fmt.Errorf("drawing %d nonces: %w", len(batch), err)
	}
	nonce := func(i int) *[pact.SealedNonceSize]byte {
		return (*[pact.SealedNonceSize]byte)(nonces[i*pact.SealedNonceSize:])
	}
	ins := newChunkInserter(ctx, tx)
	defer ins.close()
	args := make([]any, 0, 3*rowsPerInsert)
	for start := 0; start < len(batch); start += rowsPerInsert {
		chunk := batch[start:min(start+rowsPerInsert, len(batch))]
		sealed := make([]pact.SealedSighting, len(chunk))
		args = args[:0]
		for i := range chunk {
			ss, err := pact.SealSightingNonce(&chunk[i], nonce(start+i))
			if err != nil {
				return err
			}
			sealed[i] = ss
			args = append(args, int64(ss.Minute), ss.Tag[:], ss.Sealed)
		}
		full := len(chunk) == rowsPerInsert
		if err := ins.exec(chunkSavepoint, true, nil); err != nil {
			return err
		}
		query := insertSealedChunkSQL
		if !full {
			query = insertSealedSQL(len(chunk))
		}
		added, err := ins.execCount(query, full, args)
		if err != nil {
			return err
		}
		if added == int64(len(chunk)) {
			for i := range chunk {
				counts.addSealed(chunk[i].Minute, 1)
			}
			if err := ins.exec(chunkRelease, true, nil); err != nil {
				return err
			}
			continue
		}
		if err := ins.exec(chunkRollback, true, nil); err != nil {
			return err
		}
		if err := ins.exec(chunkRelease, true, nil); err != nil {
			return err
		}
		if err := mergeSealed(ins, counts, chunk, sealed); err != nil {
			return err
		}
	}
	return nil
}

// mergeSealed stores a chunk some of whose rows exist already, one row at
// a time (addSealed).
func mergeSealed(ins *chunkInserter, counts *contactCounts, chunk []pact.Sighting, sealed []pact.SealedSighting) error {
	for i := range chunk {
		s := &chunk[i]
		var blob []byte
		err := ins.queryRow(`SELECT sealed FROM sealed_contacts WHERE minute = ? AND tag = ?`, int64(s.Minute), sealed[i].Tag[:]).Scan(&blob)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			counts.addSealed(s.Minute, 1)
		case err != nil:
			return fmt.Errorf("reading the sealed sighting of minute %d: %w", s.Minute, err)
		default:
			stored, err := pact.OpenSighting(&pact.SealedSighting{Minute: s.Minute, Tag: sealed[i].Tag, Sealed: blob}, &s.Chirp)
			if err != nil {
				return fmt.Errorf("merging into the sealed sighting of minute %d: %w", s.Minute, err)
			}
			stored.RSSI = pact.MergeRSSI(stored.RSSI, s.RSSI)
			stored.TxPower = pact.MergeTxPower(stored.TxPower, s.TxPower)
			stored.Source = pact.PreferDirect(stored.Source, s.Source)
			if stored.Location == nil {
				stored.Location = s.Location
			}
			// The fresh nonce drawn for s seals the merged row.
			nonce := [pact.SealedNonceSize]byte(sealed[i].Sealed[:pact.SealedNonceSize])
			if sealed[i], err = pact.SealSightingNonce(&stored, &nonce); err != nil {
				return err
			}
		}
		// exec's "full" path: one statement prepared for the whole chunk.
		if err := ins.exec(`INSERT OR REPLACE INTO sealed_contacts (minute, tag, sealed) VALUES (?, ?, ?)`, true,
			[]any{int64(s.Minute), sealed[i].Tag[:], sealed[i].Sealed}); err != nil {
			return err
		}
	}
	return nil
}

func insertSealedSQL(rows int) string {
	q := make([]byte, 0, 64+8*rows)
	q = append(q, "INSERT INTO sealed_contacts (minute, tag, sealed) VALUES "...)
	for i := range rows {
		if i > 0 {
			q = append(q, ',')
		}
		q = append(q, "(?,?,?)"...)
	}
	return string(append(q, " ON CONFLICT (minute, tag) DO NOTHING"...))
}

var insertSealedChunkSQL = insertSealedSQL(rowsPerInsert)

// SealedSightings implements pact.SealedContactStore: every sealed row
// with minute in [from, to], in order of minute and tag.
func (d *DB) SealedSightings(ctx context.Context, from, to pact.Minute, fn func(pact.SealedSighting) error) error {
	rows, err := d.db.QueryContext(ctx, `SELECT minute, tag, sealed FROM sealed_contacts WHERE minute BETWEEN ? AND ? ORDER BY minute, tag`,
		int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("devicedb: reading sealed sightings %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			minute      int64
			tag, sealed []byte
		)
		if err := rows.Scan(&minute, &tag, &sealed); err != nil {
			return fmt.Errorf("devicedb: reading a sealed sighting: %w", err)
		}
		m, err := storedMinute("sealed sighting", "minute", minute)
		if err != nil {
			return err
		}
		if len(tag) != pact.TagSize {
			return &RowError{Row: "sealed sighting", Column: "tag", Value: int64(len(tag)), Want: fmt.Sprintf("%d bytes", pact.TagSize)}
		}
		if err := fn(pact.SealedSighting{Minute: m, Tag: pact.Tag(tag), Sealed: sealed}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devicedb: reading sealed sightings %v..%v: %w", from, to, err)
	}
	return nil
}

// OpenSightingsOf calls fn, in order of minute, for every sighting heard in
// [from, to] of one of chirps (PACT chirps or Find My keys), whichever mode
// the log is in: a plain row is read, a sealed row found by its tag and
// opened with the chirp (spec §9.3.3). A sealed row that does not open is
// an error wrapping pact.ErrSealedOpen.
func (d *DB) OpenSightingsOf(ctx context.Context, from, to pact.Minute, chirps []pact.Chirp, fn func(pact.Sighting) error) error {
	byTag := make(map[pact.Tag]*pact.Chirp, len(chirps))
	for i := range chirps {
		byTag[pact.ContactTag(&chirps[i])] = &chirps[i]
	}
	wanted := make(map[pact.Chirp]bool, len(chirps))
	for _, c := range chirps {
		wanted[c] = true
	}
	// One pass over each table's minutes, as FindMySightings makes: the
	// chirp is not indexed, the minute is.
	var found []pact.Sighting
	rows, err := d.db.QueryContext(ctx, `SELECT minute, chirp, rssi, tx_power, source, lat, lon FROM contacts WHERE minute BETWEEN ? AND ?`, int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("devicedb: reading sightings of %d chirps %v..%v: %w", len(chirps), from, to, err)
	}
	for rows.Next() {
		s, err := scanSighting(rows)
		if err != nil {
			rows.Close()
			return err
		}
		if wanted[s.Chirp] {
			found = append(found, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devicedb: reading sightings of %d chirps %v..%v: %w", len(chirps), from, to, err)
	}
	err = d.SealedSightings(ctx, from, to, func(ss pact.SealedSighting) error {
		c, ok := byTag[ss.Tag]
		if !ok {
			return nil
		}
		s, err := pact.OpenSighting(&ss, c)
		if err != nil {
			return fmt.Errorf("devicedb: %w", err)
		}
		found = append(found, s)
		return nil
	})
	if err != nil {
		return err
	}
	sortSightings(found)
	for _, s := range found {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// sortSightings orders sightings by minute, then chirp.
func sortSightings(ss []pact.Sighting) {
	slices.SortFunc(ss, func(a, b pact.Sighting) int {
		return cmp.Or(cmp.Compare(a.Minute, b.Minute), bytes.Compare(a.Chirp[:], b.Chirp[:]))
	})
}
