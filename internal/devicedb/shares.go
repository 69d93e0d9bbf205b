package devicedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// Status of a share (table shares, migration 0006).
const (
	ShareSending    = "sending"    // recorded, upload in flight or interrupted
	ShareRefused    = "refused"    // the server stored nothing
	ShareUnanswered = "unanswered" // no readable answer: may have been stored
	SharePending    = "pending"    // stored, not yet seen in a batch
	ShareConfirmed  = "confirmed"  // every entry appeared in signed batches
	ShareSuspected  = "suspected"  // later batches came without it
)

// Kinds of share entries.
const (
	ShareEntrySeed   = "seed"
	ShareEntryFindMy = "findmy"
)

// ErrNoShare: no share has the id asked for.
var ErrNoShare = errors.New("no such share")

// Share is one upload attempt. It holds nothing of the permission number.
type Share struct {
	ID                           int64
	Created                      time.Time
	Server, Region               string
	Tuples, Redacted, FindMyKeys int
	// Reverse is true when the owner consented to reverse tracing over
	// ReverseFrom..ReverseTo.
	Reverse                bool
	ReverseFrom, ReverseTo pact.Minute
	Status                 string
	Code, Field, Message   string
	BatchesWithout         int
	// CountedThrough is the highest batch sequence that counted in
	// BatchesWithout.
	CountedThrough uint64
	ConfirmedBy    string
	Updated        time.Time
}

// ShareEntry is one uploaded seed (with its tuple's window) or Find My key
// (with its window).
type ShareEntry struct {
	Kind       string
	Value      []byte
	Start, End pact.Minute
	// Redacted: a fresh value sent in place of an excluded hour's.
	Redacted bool
	// SeenIn is the id of the batch it appeared in, "" until then.
	SeenIn string
}

// AddShare records an attempt and what it sends, in one transaction,
// before anything is sent: a crash mid-upload leaves a share in status
// ShareSending whose entries can still be found in later batches.
func (d *DB) AddShare(ctx context.Context, s Share, entries []ShareEntry) (int64, error) {
	var id int64
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var rf, rt any
		if s.Reverse {
			rf, rt = int64(s.ReverseFrom), int64(s.ReverseTo)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO shares
			(created, server, region, tuples, redacted, findmy_keys, reverse_from, reverse_to, status, code, field, message, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.Created.Unix(), s.Server, s.Region, s.Tuples, s.Redacted, s.FindMyKeys, rf, rt, s.Status, s.Code, s.Field, s.Message, s.Created.Unix())
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO share_entries (share_id, kind, value, start_minute, end_minute, redacted) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range entries {
			if _, err := stmt.ExecContext(ctx, id, e.Kind, e.Value, int64(e.Start), int64(e.End), e.Redacted); err != nil {
				return fmt.Errorf("entry %s at minute %d: %w", e.Kind, e.Start, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("devicedb: recording a share to %s of %d entries: %w", s.Server, len(entries), err)
	}
	return id, nil
}

// SetShareOutcome records the server's answer to share id.
func (d *DB) SetShareOutcome(ctx context.Context, id int64, status, code, field, message string, at time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE shares SET status = ?, code = ?, field = ?, message = ?, updated = ? WHERE id = ?`,
		status, code, field, message, at.Unix(), id)
	if err != nil {
		return fmt.Errorf("devicedb: recording the outcome %s of share %d: %w", status, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("devicedb: recording the outcome of share %d: %w", id, ErrNoShare)
	}
	return nil
}

const shareColumns = `id, created, server, region, tuples, redacted, findmy_keys, reverse_from, reverse_to,
	status, code, field, message, batches_without, counted_through, confirmed_by, updated`

func scanShare(row rowScanner) (Share, error) {
	var (
		s                Share
		created, updated int64
		rf, rt           sql.NullInt64
	)
	if err := row.Scan(&s.ID, &created, &s.Server, &s.Region, &s.Tuples, &s.Redacted, &s.FindMyKeys, &rf, &rt,
		&s.Status, &s.Code, &s.Field, &s.Message, &s.BatchesWithout, &s.CountedThrough, &s.ConfirmedBy, &updated); err != nil {
		return Share{}, err
	}
	s.Created, s.Updated = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	if rf.Valid && rt.Valid {
		from, err := storedMinute("share", "reverse_from", rf.Int64)
		if err != nil {
			return Share{}, err
		}
		to, err := storedMinute("share", "reverse_to", rt.Int64)
		if err != nil {
			return Share{}, err
		}
		s.Reverse, s.ReverseFrom, s.ReverseTo = true, from, to
	}
	return s, nil
}

// Shares returns the most recent shares, newest first, at most limit.
func (d *DB) Shares(ctx context.Context, limit int) ([]Share, error) {
	return d.queryShares(ctx, `SELECT `+shareColumns+` FROM shares ORDER BY id DESC LIMIT ?`, limit)
}

// ShareByID returns one share.
func (d *DB) ShareByID(ctx context.Context, id int64) (Share, error) {
	s, err := scanShare(d.db.QueryRowContext(ctx, `SELECT `+shareColumns+` FROM shares WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Share{}, fmt.Errorf("devicedb: share %d: %w", id, ErrNoShare)
	}
	if err != nil {
		return Share{}, fmt.Errorf("devicedb: reading share %d: %w", id, err)
	}
	return s, nil
}

// TrackedShares returns the shares to server of region whose entries may
// still appear in a batch: every status but refused and confirmed.
func (d *DB) TrackedShares(ctx context.Context, server, region string) ([]Share, error) {
	return d.queryShares(ctx, `SELECT `+shareColumns+` FROM shares
		WHERE server = ? AND region = ? AND status IN ('sending', 'unanswered', 'pending', 'suspected') ORDER BY id`, server, region)
}

// OverdueShares returns the pending shares created before t.
func (d *DB) OverdueShares(ctx context.Context, t time.Time) ([]Share, error) {
	return d.queryShares(ctx, `SELECT `+shareColumns+` FROM shares WHERE status = 'pending' AND created < ? ORDER BY id`, t.Unix())
}

func (d *DB) queryShares(ctx context.Context, q string, args ...any) ([]Share, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("devicedb: reading shares: %w", err)
	}
	defer rows.Close()
	var out []Share
	for rows.Next() {
		s, err := scanShare(rows)
		if err != nil {
			return nil, fmt.Errorf("devicedb: reading shares: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: reading shares: %w", err)
	}
	return out, nil
}

// ShareEntries returns what share id sent, in kind and start order.
func (d *DB) ShareEntries(ctx context.Context, id int64) ([]ShareEntry, error) {
	return d.queryEntries(ctx, `SELECT kind, value, start_minute, end_minute, redacted, seen_in FROM share_entries
		WHERE share_id = ? ORDER BY kind, start_minute, value`, id)
}

// RedactedShareEntries returns the fresh values that shares which may have
// reached a server (every status but refused) sent for redacted hours, oldest
// share first, so that a later share can send the same ones again: a
// second upload with new fresh values next to the same real seeds would
// show which hours were redacted.
func (d *DB) RedactedShareEntries(ctx context.Context) ([]ShareEntry, error) {
	return d.queryEntries(ctx, `SELECT e.kind, e.value, e.start_minute, e.end_minute, e.redacted, e.seen_in
		FROM share_entries e JOIN shares s ON s.id = e.share_id
		WHERE e.redacted AND s.status != 'refused' ORDER BY s.id, e.kind, e.start_minute`)
}

func (d *DB) queryEntries(ctx context.Context, q string, args ...any) ([]ShareEntry, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("devicedb: reading share entries: %w", err)
	}
	defer rows.Close()
	var out []ShareEntry
	for rows.Next() {
		var (
			e          ShareEntry
			start, end int64
		)
		if err := rows.Scan(&e.Kind, &e.Value, &start, &end, &e.Redacted, &e.SeenIn); err != nil {
			return nil, fmt.Errorf("devicedb: reading share entries: %w", err)
		}
		if e.Start, err = storedMinute("share entry", "start", start); err != nil {
			return nil, err
		}
		if e.End, err = storedMinute("share entry", "end", end); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: reading share entries: %w", err)
	}
	return out, nil
}

// ShareCheck is what one batch showed about one share.
type ShareCheck struct {
	ShareID int64
	BatchID string
	// Sequence is the batch's sequence in its region.
	Sequence uint64
	// Seen are the entries the batch holds.
	Seen []ShareEntry
	// Counted: the batch came after the upload, so lacking an entry counts
	// against the share.
	Counted bool
	// Status is the share's new status.
	Status string
	At     time.Time
}

// RecordShareCheck stores the result of checking a batch for a share, in
// one transaction.
func (d *DB) RecordShareCheck(ctx context.Context, c ShareCheck) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		for _, e := range c.Seen {
			if _, err := tx.ExecContext(ctx, `UPDATE share_entries SET seen_in = ?
				WHERE share_id = ? AND kind = ? AND value = ? AND start_minute = ? AND seen_in = ''`,
				c.BatchID, c.ShareID, e.Kind, e.Value, int64(e.Start)); err != nil {
				return err
			}
		}
		counted := 0
		if c.Counted {
			counted = 1
		}
		confirmedBy := ""
		if c.Status == ShareConfirmed {
			confirmedBy = c.BatchID
		}
		_, err := tx.ExecContext(ctx, `UPDATE shares SET status = ?, batches_without = batches_without + ?,
			counted_through = max(counted_through, ?), confirmed_by = ?, updated = ? WHERE id = ?`,
			c.Status, counted, int64(c.Sequence*uint64(counted)), confirmedBy, c.At.Unix(), c.ShareID)
		return err
	})
	if err != nil {
		return fmt.Errorf("devicedb: recording batch %s for share %d: %w", c.BatchID, c.ShareID, err)
	}
	return nil
}

// DeleteShareEntriesBefore erases the recorded entries that ended before m:
// they are copies of seeds and keys, which retention erases (spec §5.3).
// The shares themselves, which hold only counts, stay.
func (d *DB) DeleteShareEntriesBefore(ctx context.Context, m pact.Minute) (int64, error) {
	return d.erase(ctx, m, `DELETE FROM share_entries WHERE end_minute < ?`)
}
