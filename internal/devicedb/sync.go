package devicedb

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Exposure sync state (migration 0003): per server and region the last
// batch applied, a log of applied and refused batches, and each server's
// last attempt. Applying a batch stores its matches, records the batch and
// advances the cursor in one transaction, so a batch is applied exactly
// once even when a sync is cut off half-way.

// ErrBatchApplied is returned by ApplyBatch for a batch at or below the
// region's cursor: it was applied before.
var ErrBatchApplied = errors.New("devicedb: batch already applied")

// AppliedBatch describes an exposure batch being applied.
type AppliedBatch struct {
	Server        string
	Region        string
	Sequence      uint64
	ID            string
	PeriodStart   pact.Minute
	PeriodMinutes uint32
	Uploads       uint32
	Tuples        int
	FindMyKeys    int
	// Contacts is how many match rows the batch added; ApplyBatch fills
	// it in from what the transaction stored through BatchTx.AddContacts.
	Contacts int
	Applied  time.Time
}

// DaySource names a UTC day (pact.Minute.Day) and a source of evidence
// ("pact", "findmy", "findmy-partial") whose stored match rows grew:
// ordinary ones, or reverse-tracing ones when Reverse is set (spec §9.2).
type DaySource struct {
	Day     uint32
	Source  pact.Source
	Reverse bool
}

// compareDaySources orders by day, source, then ordinary before reverse.
func compareDaySources(a, b DaySource) int {
	return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Source, b.Source), compareBool(a.Reverse, b.Reverse))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// SortDaySources sorts ds by day, source, then ordinary before reverse.
func SortDaySources(ds []DaySource) { slices.SortFunc(ds, compareDaySources) }

// BatchTx is the transaction that applies one exposure batch. Match rows
// stored through it are committed together with the batch record and the
// cursor, or not at all. Packages that keep their own match tables in the
// device database add methods on BatchTx in their own file.
type BatchTx struct {
	ctx      context.Context
	tx       *sql.Tx
	contacts int
	reverse  int
}

// SQL returns the underlying transaction. Do not commit or roll it back.
func (t *BatchTx) SQL() *sql.Tx { return t.tx }

// Contacts returns how many ordinary PACT match rows AddContacts stored
// (or turned from reverse-tracing rows into ordinary ones) so far.
func (t *BatchTx) Contacts() int { return t.contacts }

// ReverseContacts returns how many reverse-tracing PACT match rows
// AddReverseContacts stored so far.
func (t *BatchTx) ReverseContacts() int { return t.reverse }

// AddContacts stores ordinary PACT match results (as DB.AddContacts does)
// inside the batch's transaction and returns the days that gained a match
// row, with source pact.SourcePACT: a seed tuple matched, whatever frame
// carried the chirp; or pact.SourceRepeater for an indirect contact, heard
// from a repeater (spec §9.1.3). Store a batch's ordinary matches before
// its reverse-tracing ones, so that a sighting matched both ways in one
// batch is stored as ordinary (spec §9.2).
func (t *BatchTx) AddContacts(cs []pact.Contact) ([]DaySource, error) {
	days, n, err := t.addContacts(cs, false)
	t.contacts += n
	return days, err
}

// AddReverseContacts stores PACT match results of tuples flagged for
// reverse tracing (spec §9.2) inside the batch's transaction and returns
// the days that gained a reverse-tracing row (DaySource.Reverse set). A
// sighting already stored, ordinary or reverse, is kept as it was.
func (t *BatchTx) AddReverseContacts(cs []pact.Contact) ([]DaySource, error) {
	days, n, err := t.addContacts(cs, true)
	t.reverse += n
	return days, err
}

func (t *BatchTx) addContacts(cs []pact.Contact, reverse bool) ([]DaySource, int, error) {
	seen := map[DaySource]bool{}
	n, err := insertContacts(t.ctx, t.tx, cs, reverse, func(c *pact.Contact) {
		src := pact.SourcePACT
		if c.Source.Indirect() {
			src = pact.SourceRepeater
		}
		seen[DaySource{Day: c.Heard.Day(), Source: src, Reverse: reverse}] = true
	})
	if err != nil {
		return nil, n, fmt.Errorf("devicedb: storing %d contacts (reverse tracing %t): %w", len(cs), reverse, err)
	}
	days := make([]DaySource, 0, len(seen))
	for d := range seen {
		days = append(days, d)
	}
	SortDaySources(days)
	return days, n, nil
}

// ApplyBatch runs fn in one transaction with recording b as applied and
// moving the cursor of (b.Server, b.Region) to b.Sequence. It returns
// ErrBatchApplied, without calling fn, when the cursor is already at or
// past b.Sequence. When fn fails, nothing of the batch is kept.
func (d *DB) ApplyBatch(ctx context.Context, b AppliedBatch, fn func(*BatchTx) error) error {
	if b.Server == "" || b.Region == "" || b.Sequence == 0 {
		return fmt.Errorf("devicedb: applying batch %q of server %q: server, region and a sequence above 0 are required", b.ID, b.Server)
	}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var cursor int64
		err := tx.QueryRowContext(ctx, `SELECT sequence FROM sync_cursors WHERE server = ? AND region = ?`, b.Server, b.Region).Scan(&cursor)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if uint64(cursor) >= b.Sequence {
			return fmt.Errorf("%w: cursor of %s region %s is at %d", ErrBatchApplied, b.Server, b.Region, cursor)
		}
		bt := &BatchTx{ctx: ctx, tx: tx}
		if fn != nil {
			if err := fn(bt); err != nil {
				return err
			}
		}
		at := b.Applied.UnixMilli()
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_batches
			(server, region, sequence, id, period_start, period_minutes, uploads, tuples, findmy_keys, contacts, applied)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.Server, b.Region, int64(b.Sequence), b.ID, int64(b.PeriodStart), int64(b.PeriodMinutes),
			int64(b.Uploads), b.Tuples, b.FindMyKeys, bt.contacts, at); err != nil {
			if isConstraint(err) {
				return fmt.Errorf("%w: %s %s is in the log of applied batches: %w", ErrBatchApplied, b.Server, b.ID, err)
			}
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sync_cursors (server, region, sequence, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (server, region) DO UPDATE SET sequence = excluded.sequence, updated = excluded.updated`,
			b.Server, b.Region, int64(b.Sequence), at)
		return err
	})
	if err != nil {
		return fmt.Errorf("devicedb: applying batch %s of %s: %w", b.ID, b.Server, err)
	}
	return nil
}

func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// SyncCursor is the last sequence applied in one region of a server.
type SyncCursor struct {
	Region   string
	Sequence uint64
	Updated  time.Time
}

// SyncCursors returns the cursors of server, by region.
func (d *DB) SyncCursors(ctx context.Context, server string) ([]SyncCursor, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT region, sequence, updated FROM sync_cursors WHERE server = ? ORDER BY region`, server)
	if err != nil {
		return nil, fmt.Errorf("devicedb: reading the sync cursors of %s: %w", server, err)
	}
	defer rows.Close()
	var out []SyncCursor
	for rows.Next() {
		var c SyncCursor
		var seq, updated int64
		if err := rows.Scan(&c.Region, &seq, &updated); err != nil {
			return nil, fmt.Errorf("devicedb: reading the sync cursors of %s: %w", server, err)
		}
		if seq < 0 {
			return nil, fmt.Errorf("devicedb: stored cursor of %s region %s is %d, below 0", server, c.Region, seq)
		}
		c.Sequence, c.Updated = uint64(seq), time.UnixMilli(updated).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: reading the sync cursors of %s: %w", server, err)
	}
	return out, nil
}

// AppliedBatches returns the log of batches applied from server, by
// region and sequence.
func (d *DB) AppliedBatches(ctx context.Context, server string) ([]AppliedBatch, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT region, sequence, id, period_start, period_minutes, uploads, tuples, findmy_keys, contacts, applied
		FROM sync_batches WHERE server = ? ORDER BY region, sequence`, server)
	if err != nil {
		return nil, fmt.Errorf("devicedb: reading the batches applied from %s: %w", server, err)
	}
	defer rows.Close()
	var out []AppliedBatch
	for rows.Next() {
		b := AppliedBatch{Server: server}
		var seq, start, minutes, uploads, applied int64
		if err := rows.Scan(&b.Region, &seq, &b.ID, &start, &minutes, &uploads, &b.Tuples, &b.FindMyKeys, &b.Contacts, &applied); err != nil {
			return nil, fmt.Errorf("devicedb: reading the batches applied from %s: %w", server, err)
		}
		m, err := storedMinute("applied batch", "period start", start)
		if err != nil {
			return nil, err
		}
		b.Sequence, b.PeriodStart, b.PeriodMinutes, b.Uploads = uint64(seq), m, uint32(minutes), uint32(uploads)
		b.Applied = time.UnixMilli(applied).UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: reading the batches applied from %s: %w", server, err)
	}
	return out, nil
}

// DeleteAppliedBatchesBefore erases the log entries of batches applied
// before t; the cursors keep them from being applied again.
func (d *DB) DeleteAppliedBatchesBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM sync_batches WHERE applied < ?`, t.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("devicedb: erasing the log of batches applied before %v: %w", t, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// RefusedBatch is a batch that failed verification.
type RefusedBatch struct {
	Server   string
	Region   string
	Sequence uint64
	ID       string
	// Kind is the class of failure: tampered, truncated, reordered or
	// replayed (exposureclient's errors).
	Kind   string
	Reason string
	// First and Last are when it was first and last refused; Attempts
	// counts the refusals.
	First, Last time.Time
	Attempts    int
	// Applied is set when a later fetch of the same batch verified and
	// was applied.
	Applied bool
}

// RecordRefusedBatch notes that r was refused at r.Last; a batch refused
// again keeps its first time and counts one more attempt.
func (d *DB) RecordRefusedBatch(ctx context.Context, r RefusedBatch) error {
	at := r.Last.UnixMilli()
	_, err := d.db.ExecContext(ctx, `INSERT INTO sync_refused (server, region, sequence, id, kind, reason, first_refused, last_refused, attempts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (server, region, sequence) DO UPDATE SET
			id = excluded.id, kind = excluded.kind, reason = excluded.reason, last_refused = excluded.last_refused, attempts = attempts + 1`,
		r.Server, r.Region, int64(r.Sequence), r.ID, r.Kind, r.Reason, at, at)
	if err != nil {
		return fmt.Errorf("devicedb: recording refused batch %s of %s: %w", r.ID, r.Server, err)
	}
	return nil
}

// RefusedBatches returns the batches refused from server, by region and
// sequence.
func (d *DB) RefusedBatches(ctx context.Context, server string) ([]RefusedBatch, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT r.region, r.sequence, r.id, r.kind, r.reason, r.first_refused, r.last_refused, r.attempts,
			coalesce(c.sequence >= r.sequence, 0)
		FROM sync_refused r LEFT JOIN sync_cursors c ON c.server = r.server AND c.region = r.region
		WHERE r.server = ? ORDER BY r.region, r.sequence`, server)
	if err != nil {
		return nil, fmt.Errorf("devicedb: reading the batches refused from %s: %w", server, err)
	}
	defer rows.Close()
	var out []RefusedBatch
	for rows.Next() {
		r := RefusedBatch{Server: server}
		var seq, first, last int64
		if err := rows.Scan(&r.Region, &seq, &r.ID, &r.Kind, &r.Reason, &first, &last, &r.Attempts, &r.Applied); err != nil {
			return nil, fmt.Errorf("devicedb: reading the batches refused from %s: %w", server, err)
		}
		r.Sequence, r.First, r.Last = uint64(seq), time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: reading the batches refused from %s: %w", server, err)
	}
	return out, nil
}

// SyncAttempt is the outcome of a server's last sync.
type SyncAttempt struct {
	LastAttempt time.Time
	// LastSuccess is zero until a sync of every region succeeded.
	LastSuccess time.Time
	// LastError is empty after a success.
	LastError string
}

// RecordSyncAttempt stores the outcome of a sync of server at at: a
// success when syncErr is nil.
func (d *DB) RecordSyncAttempt(ctx context.Context, server string, at time.Time, syncErr error) error {
	var err error
	if syncErr == nil {
		_, err = d.db.ExecContext(ctx, `INSERT INTO sync_servers (server, last_attempt, last_success, last_error) VALUES (?, ?, ?, '')
			ON CONFLICT (server) DO UPDATE SET last_attempt = excluded.last_attempt, last_success = excluded.last_success, last_error = ''`,
			server, at.UnixMilli(), at.UnixMilli())
	} else {
		_, err = d.db.ExecContext(ctx, `INSERT INTO sync_servers (server, last_attempt, last_error) VALUES (?, ?, ?)
			ON CONFLICT (server) DO UPDATE SET last_attempt = excluded.last_attempt, last_error = excluded.last_error`,
			server, at.UnixMilli(), syncErr.Error())
	}
	if err != nil {
		return fmt.Errorf("devicedb: recording the sync of %s: %w", server, err)
	}
	return nil
}

// LastSyncAttempt returns the outcome of server's last sync; the zero
// value when it was never synced.
func (d *DB) LastSyncAttempt(ctx context.Context, server string) (SyncAttempt, error) {
	var a SyncAttempt
	var attempt int64
	var success sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT last_attempt, last_success, last_error FROM sync_servers WHERE server = ?`, server).
		Scan(&attempt, &success, &a.LastError)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return SyncAttempt{}, nil
	case err != nil:
		return SyncAttempt{}, fmt.Errorf("devicedb: reading the last sync of %s: %w", server, err)
	}
	a.LastAttempt = time.UnixMilli(attempt).UTC()
	if success.Valid {
		a.LastSuccess = time.UnixMilli(success.Int64).UTC()
	}
	return a, nil
}
