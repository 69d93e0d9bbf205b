// Package sqlitedb is the default, embedded backend of database.Store:
// one SQLite file in WAL mode, one writer connection (SQLite serialises
// writers anyway, and a single connection turns contention into a Go
// queue instead of busy retries) and a pool of read-only connections.
package sqlitedb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/migrate"
	"github.com/pact-findmy/pact-findmy/internal/sqlitefile"
	"github.com/pact-findmy/pact-findmy/pact"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Sync is the durability asked of a write.
type Sync string

// Sync settings. SyncFull survives power loss; SyncNormal survives a crash
// of the process (kill -9) but may lose the last commits on power loss.
//
// Since every write is followed by a checkpoint that syncs the WAL and
// then the main file before the write returns (see checkpoint), the commit
// itself runs with SQLite's synchronous=NORMAL under both settings: a sync
// of the commit would be repeated by the checkpoint at once. So both
// settings survive power loss for every write that returned after a
// completed checkpoint; when the checkpoint could not complete, SyncFull
// syncs the WAL file itself before the write returns, and SyncNormal does
// not.
const (
	SyncFull   Sync = "FULL"
	SyncNormal Sync = "NORMAL"
)

// Options tune Open.
type Options struct {
	Sync Sync // default SyncFull
}

// Store is a database.Store on SQLite.
type Store struct {
	w *sql.DB // the single writer
	r *sql.DB // readers

	spends        chan *spendRequest
	closed        chan struct{}
	closeOnce     sync.Once
	committerDone chan struct{}

	walPath  string // the -wal file, synced by hand when a checkpoint fails
	syncFull bool

	checkpointMu  sync.Mutex
	checkpointErr error // of the last checkpoint after a write
}

var _ database.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	sync := opts.Sync
	if sync == "" {
		sync = SyncFull
	}
	if sync != SyncFull && sync != SyncNormal {
		return nil, fmt.Errorf("sqlite synchronous setting %q: want FULL or NORMAL", sync)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", string(SyncNormal)) // see Sync
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	// Retention means the deleted uploads and batches are gone from the
	// file too, not left readable in free pages.
	q.Set("_secure_delete", "on")
	if err := sqlitefile.Create(path); err != nil {
		return nil, err
	}
	dsn, err := sqlitefile.DSN(path, q)
	if err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	w.SetMaxIdleConns(1)
	s := &Store{w: w, walPath: path + "-wal", syncFull: sync == SyncFull}
	// Savepoints keep their page images in a statement journal, a temp
	// file; in memory it never reaches the disk.
	if _, err := w.ExecContext(ctx, `PRAGMA temp_store = MEMORY`); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	// A crash between a commit and its checkpoint leaves that commit in
	// the WAL: move it into the main file before serving.
	if err := s.checkpoint(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	q.Set("_txlock", "deferred")
	q.Set("_query_only", "1")
	readDSN, err := sqlitefile.DSN(path, q)
	if err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite3", readDSN)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s.r = r
	s.spends = make(chan *spendRequest)
	s.closed = make(chan struct{})
	s.committerDone = make(chan struct{})
	go s.groupCommitter()
	return s, nil
}

// Close stops the group committer and closes both connection pools.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	<-s.committerDone
	return errors.Join(s.r.Close(), s.w.Close())
}

// ErrCheckpointBusy is returned when the WAL could not be emptied because
// readers held on to it past the busy timeout; the next write retries.
var ErrCheckpointBusy = errors.New("WAL checkpoint blocked by readers")

// checkpoint copies every committed page of the WAL into the main file and
// truncates the WAL to zero bytes. It runs after every write transaction.
//
// A commit's WAL frames are the pages it changed, side by side: a spend
// changes the page holding the number's hash and the page receiving the
// upload, so one commit's frames pair them (for a group, up to maxGroup
// numbers with as many uploads). In the main file the same pages hold no
// trace of when they changed together: rows sit in the order of the random
// hash and the random upload id. The checkpoint syncs the WAL, copies its
// pages, syncs the main file and only then truncates the WAL, so a write
// it follows is durable (see Sync). Truncating the WAL after each commit
// keeps the pairing off the disk except while a group commits (and, after
// a crash, until Open checkpoints). The cost is measured in
// docs/performance.md.
func (s *Store) checkpoint(ctx context.Context) error {
	var busy, walFrames, moved int
	if err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &walFrames, &moved); err != nil {
		return fmt.Errorf("checkpointing the WAL: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpointing the WAL (%d frames, %d moved): %w", walFrames, moved, ErrCheckpointBusy)
	}
	return nil
}

// emptyWAL checkpoints after a committed write. Its failure does not undo
// the write, so the caller still reports the write's own outcome; the
// error is kept for CheckpointErr and the next write tries again.
func (s *Store) emptyWAL(ctx context.Context) {
	err := s.checkpoint(context.WithoutCancel(ctx))
	if err != nil && s.syncFull {
		err = errors.Join(err, s.syncWAL())
	}
	s.checkpointMu.Lock()
	s.checkpointErr = err
	s.checkpointMu.Unlock()
}

// syncWAL makes the commits in the WAL durable when the checkpoint that
// would have did not complete: fsync applies to the file, through any
// descriptor.
func (s *Store) syncWAL() error {
	f, err := os.OpenFile(s.walPath, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", s.walPath, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", s.walPath, err)
	}
	return nil
}

// CheckpointErr returns why the WAL was not emptied after the last write,
// or nil if it was: while it is non-nil, the WAL may pair spent numbers
// with uploads.
func (s *Store) CheckpointErr() error {
	s.checkpointMu.Lock()
	defer s.checkpointMu.Unlock()
	return s.checkpointErr
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return err
	}
	_, err = migrate.Apply(ctx, migrate.SQLite(s.w), ms, migrate.Options{})
	return err
}

// IssuePermissions implements database.Store.
func (s *Store) IssuePermissions(ctx context.Context, provider string, hashes [][]byte, issuedAt, expiresAt time.Time) (int64, error) {
	if err := database.ValidProvider(provider); err != nil {
		return 0, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("issuing to %s: %w", provider, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO permission_batches (provider, issued, issued_at, expires_at) VALUES (?, ?, ?, ?)`,
		provider, len(hashes), issuedAt.Unix(), expiresAt.Unix())
	if err != nil {
		return 0, fmt.Errorf("issuing to %s: %w", provider, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("issuing to %s: %w", provider, err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO permission_numbers (hash, batch_id) VALUES (?, ?)`)
	if err != nil {
		return 0, fmt.Errorf("issuing to %s: %w", provider, err)
	}
	defer stmt.Close()
	for _, h := range hashes {
		if _, err := stmt.ExecContext(ctx, h, id); err != nil {
			return 0, fmt.Errorf("issuing to %s: storing a number hash: %w", provider, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("issuing to %s: %w", provider, err)
	}
	s.emptyWAL(ctx)
	return id, nil
}

// RevokePermissionBatch implements database.Store.
func (s *Store) RevokePermissionBatch(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE permission_batches SET revoked = 1 WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("revoking batch %d: %w", id, err)
	}
	s.emptyWAL(ctx)
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoking batch %d: %w", id, database.ErrNotFound)
	}
	return nil
}

// PermissionBatches implements database.Store.
func (s *Store) PermissionBatches(ctx context.Context) ([]database.PermissionBatch, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, provider, issued, used, revoked, issued_at, expires_at FROM permission_batches ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing permission batches: %w", err)
	}
	defer rows.Close()
	var out []database.PermissionBatch
	for rows.Next() {
		var b database.PermissionBatch
		var issued, expires int64
		if err := rows.Scan(&b.ID, &b.Provider, &b.Issued, &b.Used, &b.Revoked, &issued, &expires); err != nil {
			return nil, fmt.Errorf("listing permission batches: %w", err)
		}
		b.IssuedAt, b.ExpiresAt = time.Unix(issued, 0).UTC(), time.Unix(expires, 0).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// newUploadID returns a random positive rowid, so rows sit in random order.
func newUploadID() (int64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("drawing an upload id: %w", err)
	}
	return int64(binary.BigEndian.Uint64(b[:])>>1) | 1, nil
}

// spendRequest is one SpendAndStore waiting for the group committer.
type spendRequest struct {
	hash   []byte
	now    time.Time
	up     *database.Upload
	blob   []byte
	findMy []byte
	id     int64
	done   chan error
}

// maxGroup bounds how many uploads share one commit.
const maxGroup = 64

// SpendAndStore implements database.Store. Concurrent calls are grouped
// into one transaction, each inside its own savepoint, so that a burst of
// uploads pays for one commit and one checkpoint instead of one each. A
// refused number rolls back only its own savepoint; a failed commit fails
// every upload of the group, so 2xx still means stored.
// ctx counts only until the request joins a group: from then on the
// answer is the group's outcome, so that an error always means "not
// stored, number unspent" and nil always means "stored, number spent".
func (s *Store) SpendAndStore(ctx context.Context, hash []byte, now time.Time, up *database.Upload) error {
	blob, err := pact.EncodeTuples(up.Tuples)
	if err != nil {
		return fmt.Errorf("encoding upload: %w", err)
	}
	id, err := newUploadID()
	if err != nil {
		return err
	}
	fm, err := batch.EncodeFindMyList(up.FindMy)
	if err != nil {
		return fmt.Errorf("encoding upload: %w", err)
	}
	req := &spendRequest{hash: hash, now: now, up: up, blob: blob, findMy: fm, id: id, done: make(chan error, 1)}
	select {
	case s.spends <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errors.New("spending a permission number: store is closed")
	}
	// Once queued, the request belongs to the committer, which may commit
	// it whatever ctx does now; only its result says whether the upload
	// is stored, so wait for it. The committer answers every request it
	// takes, and a group takes one commit, so the wait is bounded.
	return <-req.done
}

// groupCommitter runs until Close, committing spend requests in groups.
func (s *Store) groupCommitter() {
	defer close(s.committerDone)
	for {
		var first *spendRequest
		select {
		case first = <-s.spends:
		case <-s.closed:
			return
		}
		group := []*spendRequest{first}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-s.spends:
				group = append(group, r)
			default:
				break drain
			}
		}
		s.commitGroup(group)
	}
}

func (s *Store) commitGroup(group []*spendRequest) {
	ctx := context.Background()
	errs := make([]error, len(group))
	finish := func(commitErr error) {
		for i, r := range group {
			if errs[i] == nil {
				errs[i] = commitErr
			}
			r.done <- errs[i]
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("spending a permission number: %w", err))
		return
	}
	defer tx.Rollback()
	stored := false
	for i, r := range group {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT spend`); err != nil {
			finish(fmt.Errorf("spending a permission number: %w", err))
			return
		}
		errs[i] = spendInTx(ctx, tx, r)
		if errs[i] != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO spend`); err != nil {
				finish(fmt.Errorf("spending a permission number: %w", err))
				return
			}
		} else {
			stored = true
		}
		if _, err := tx.ExecContext(ctx, `RELEASE spend`); err != nil {
			finish(fmt.Errorf("spending a permission number: %w", err))
			return
		}
	}
	if !stored {
		// Nothing to store, but the answer must not come sooner than a
		// stored upload's would: write as much as an upload of the default
		// bundle and commit, paying the same fsyncs and checkpoint.
		if _, err := tx.ExecContext(ctx, `UPDATE commit_padding SET noise = randomblob(?) WHERE id = 1`, database.RefusalPaddingBytes); err != nil {
			finish(fmt.Errorf("spending a permission number: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		// Nothing of the group is stored: even the uploads that passed.
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("committing uploads: %w", err)
			}
		}
	} else {
		// Before answering: an upload answered stored is off the WAL.
		s.emptyWAL(ctx)
	}
	finish(nil)
}

func spendInTx(ctx context.Context, tx *sql.Tx, r *spendRequest) error {
	var used, revoked bool
	var batchID, expires int64
	err := tx.QueryRowContext(ctx, `SELECT n.used, n.batch_id, b.revoked, b.expires_at FROM permission_numbers n JOIN permission_batches b ON b.id = n.batch_id WHERE n.hash = ?`, r.hash).
		Scan(&used, &batchID, &revoked, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Not issued here: a number of a separate authority's feed?
		if err := spendFeedNumber(ctx, tx, r); err != nil {
			return err
		}
		return storeUpload(ctx, tx, r)
	case err != nil:
		return fmt.Errorf("spending a permission number: %w", err)
	case revoked:
		return database.ErrPermissionRevoked
	case used:
		return database.ErrPermissionUsed
	case r.now.Unix() >= expires:
		return database.ErrPermissionExpired
	}
	res, err := tx.ExecContext(ctx, `UPDATE permission_numbers SET used = 1 WHERE hash = ? AND used = 0`, r.hash)
	if err != nil {
		return fmt.Errorf("spending a permission number: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return database.ErrPermissionUsed
	}
	if _, err := tx.ExecContext(ctx, `UPDATE permission_batches SET used = used + 1 WHERE id = ?`, batchID); err != nil {
		return fmt.Errorf("spending a permission number: %w", err)
	}
	return storeUpload(ctx, tx, r)
}

// spendFeedNumber marks used the feed_numbers row of r's hash, in the
// transaction that stores the upload.
func spendFeedNumber(ctx context.Context, tx *sql.Tx, r *spendRequest) error {
	var used bool
	var expires int64
	err := tx.QueryRowContext(ctx, `SELECT used, expires_at FROM feed_numbers WHERE hash = ?`, r.hash).Scan(&used, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return database.ErrPermissionUnknown
	case err != nil:
		return fmt.Errorf("spending a permission number: %w", err)
	case used:
		return database.ErrPermissionUsed
	case r.now.Unix() >= expires:
		return database.ErrPermissionExpired
	}
	res, err := tx.ExecContext(ctx, `UPDATE feed_numbers SET used = 1 WHERE hash = ? AND used = 0`, r.hash)
	if err != nil {
		return fmt.Errorf("spending a permission number: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return database.ErrPermissionUsed
	}
	return nil
}

func storeUpload(ctx context.Context, tx *sql.Tx, r *spendRequest) error {
	up := r.up
	if _, err := tx.ExecContext(ctx, `INSERT INTO uploads (id, region, period_start, tuple_count, min_start, tuples, findmy, reverse_from, reverse_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.id, up.Region, int64(up.PeriodStart), len(up.Tuples), int64(database.MinStart(up.Tuples, up.FindMy)), r.blob, r.findMy, int64(up.ReverseFrom), int64(up.ReverseTo)); err != nil {
		return fmt.Errorf("storing upload for region %s: %w", up.Region, err)
	}
	return nil
}

// CutBatches implements database.Store.
func (s *Store) CutBatches(ctx context.Context, p database.CutPolicy, build database.BatchBuilder) ([]database.BatchInfo, error) {
	// BEGIN IMMEDIATE (the writer's _txlock) holds SQLite's write lock for
	// the whole cut, so two processes on one file cannot both number a
	// batch, and no upload commits between the count and the claim.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("cutting batches: %w", err)
	}
	defer tx.Rollback()
	type held struct {
		region            string
		uploads           int
		oldest, coveredTo int64
		lastSeq           int64
	}
	var regions []held
	rows, err := tx.QueryContext(ctx, `SELECT u.region, COUNT(*), MIN(u.period_start), COALESCE(r.covered_to, 0), COALESCE(r.last_seq, 0)
		FROM uploads u LEFT JOIN region_sequences r ON r.region = u.region
		WHERE u.batch_seq IS NULL AND u.period_start < ? GROUP BY u.region ORDER BY u.region`, int64(p.Cutoff))
	if err != nil {
		return nil, fmt.Errorf("cutting batches: %w", err)
	}
	for rows.Next() {
		var h held
		if err := rows.Scan(&h.region, &h.uploads, &h.oldest, &h.coveredTo, &h.lastSeq); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cutting batches: %w", err)
		}
		if p.Due(h.uploads, pact.Minute(h.oldest)) {
			regions = append(regions, h)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cutting batches: %w", err)
	}
	var out []database.BatchInfo
	for _, h := range regions {
		rows, err := tx.QueryContext(ctx, `SELECT tuples, findmy, reverse_from, reverse_to FROM uploads WHERE batch_seq IS NULL AND region = ? AND period_start < ?`, h.region, int64(p.Cutoff))
		if err != nil {
			return nil, fmt.Errorf("cutting batch of %s: %w", h.region, err)
		}
		b, shapes, err := database.ReadUploads(rows, h.region)
		rows.Close()
		if err != nil {
			return nil, err
		}
		start, minutes := p.Span(pact.Minute(h.coveredTo), pact.Minute(h.oldest))
		info, data, err := database.BuildBatch(b, shapes, uint64(h.lastSeq)+1, start, minutes, build)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO batches (region, seq, period_start, period_minutes, uploads, entries, findmy_entries, min_start, sha256, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			info.Region, int64(info.Sequence), int64(info.PeriodStart), info.PeriodMinutes, info.Uploads, info.Entries, info.FindMyEntries, int64(info.MinStart), info.SHA256[:], data); err != nil {
			return nil, fmt.Errorf("storing batch %s: %w", info.ID(), err)
		}
		// The claimed upload keeps only its counts; its tuples live on in
		// the batch, in seed order, without a trace of who sent which.
		if _, err := tx.ExecContext(ctx, `UPDATE uploads SET batch_seq = ?, tuples = x'', findmy = x'' WHERE batch_seq IS NULL AND region = ? AND period_start < ?`, int64(info.Sequence), h.region, int64(p.Cutoff)); err != nil {
			return nil, fmt.Errorf("claiming uploads for batch %s: %w", info.ID(), err)
		}
		end := int64(info.PeriodStart) + int64(info.PeriodMinutes)
		if _, err := tx.ExecContext(ctx, `INSERT INTO region_sequences (region, last_seq, covered_to) VALUES (?, ?, ?) ON CONFLICT (region) DO UPDATE SET last_seq = excluded.last_seq, covered_to = excluded.covered_to`, h.region, int64(info.Sequence), end); err != nil {
			return nil, fmt.Errorf("numbering batch %s: %w", info.ID(), err)
		}
		out = append(out, info)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("committing batches: %w", err)
	}
	// The WAL would otherwise keep the tuples the cut just emptied.
	s.emptyWAL(ctx)
	return out, nil
}

// ImportNumbers implements database.Store.
func (s *Store) ImportNumbers(ctx context.Context, sequence uint64, hashes [][]byte, validUntil time.Time) (database.ImportResult, error) {
	var r database.ImportResult
	if sequence > math.MaxInt64 {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, database.ErrFeedStale)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE feed_state SET sequence = ? WHERE id = 1 AND sequence < ?`, int64(sequence), int64(sequence))
	if err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		var last int64
		tx.QueryRowContext(ctx, `SELECT sequence FROM feed_state WHERE id = 1`).Scan(&last)
		return r, fmt.Errorf("importing number feed %d (last imported %d): %w", sequence, last, database.ErrFeedStale)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE feed_import (hash BLOB PRIMARY KEY) WITHOUT ROWID`); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	// DDL is transactional in SQLite: a rollback drops the table too.
	stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO temp.feed_import (hash) VALUES (?)`)
	if err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	for _, h := range hashes {
		if _, err := stmt.ExecContext(ctx, h); err != nil {
			stmt.Close()
			return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
		}
	}
	stmt.Close()
	res, err = tx.ExecContext(ctx, `DELETE FROM feed_numbers WHERE hash NOT IN (SELECT hash FROM temp.feed_import)`)
	if err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	r.Removed, _ = res.RowsAffected()
	res, err = tx.ExecContext(ctx, `INSERT INTO feed_numbers (hash, used, expires_at) SELECT hash, 0, ? FROM temp.feed_import WHERE hash NOT IN (SELECT hash FROM feed_numbers)`, validUntil.Unix())
	if err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	r.Added, _ = res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE feed_numbers SET expires_at = ?`, validUntil.Unix()); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM feed_numbers`).Scan(&r.Total); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE temp.feed_import`); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	if err := tx.Commit(); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	s.emptyWAL(ctx)
	return r, nil
}

// ValidPermissionHashes implements database.Store.
func (s *Store) ValidPermissionHashes(ctx context.Context, now time.Time) ([][]byte, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT n.hash FROM permission_numbers n JOIN permission_batches b ON b.id = n.batch_id
		WHERE NOT b.revoked AND b.expires_at > ? ORDER BY n.hash`, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("listing valid permission hashes: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("listing valid permission hashes: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

const batchColumns = `region, seq, period_start, period_minutes, uploads, entries, findmy_entries, min_start, sha256, length(data)`

// scanBatch reads the batchColumns of a row into a BatchInfo, and any
// further columns into extra.
func scanBatch(sc interface{ Scan(...any) error }, extra ...any) (database.BatchInfo, error) {
	var b database.BatchInfo
	var seq, period, minStart int64
	var sum []byte
	dest := append([]any{&b.Region, &seq, &period, &b.PeriodMinutes, &b.Uploads, &b.Entries, &b.FindMyEntries, &minStart, &sum, &b.Size}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return b, err
	}
	b.Sequence, b.PeriodStart, b.MinStart = uint64(seq), pact.Minute(period), pact.Minute(minStart)
	copy(b.SHA256[:], sum)
	return b, nil
}

// Batches implements database.Store.
func (s *Store) Batches(ctx context.Context, region string, after uint64) ([]database.BatchInfo, error) {
	var rows *sql.Rows
	var err error
	if region == "" {
		rows, err = s.r.QueryContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE seq > ? ORDER BY region, seq`, int64(after))
	} else {
		rows, err = s.r.QueryContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE region = ? AND seq > ? ORDER BY seq`, region, int64(after))
	}
	if err != nil {
		return nil, fmt.Errorf("listing batches of %q: %w", region, err)
	}
	defer rows.Close()
	var out []database.BatchInfo
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("listing batches of %q: %w", region, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Batch implements database.Store.
func (s *Store) Batch(ctx context.Context, region string, seq uint64) (database.BatchInfo, []byte, error) {
	var data []byte
	b, err := scanBatch(s.r.QueryRowContext(ctx, `SELECT `+batchColumns+`, data FROM batches WHERE region = ? AND seq = ?`, region, int64(seq)), &data)
	if errors.Is(err, sql.ErrNoRows) {
		return b, nil, fmt.Errorf("batch %s: %w", database.FormatBatchID(region, seq), database.ErrNotFound)
	}
	if err != nil {
		return b, nil, fmt.Errorf("reading batch %s: %w", database.FormatBatchID(region, seq), err)
	}
	return b, data, nil
}

// Cleanup implements database.Store.
func (s *Store) Cleanup(ctx context.Context, uploadHorizon, tupleHorizon pact.Minute, now time.Time) (database.CleanupResult, error) {
	var r database.CleanupResult
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return r, fmt.Errorf("cleanup: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE period_start < ? OR min_start < ?`, int64(uploadHorizon), int64(tupleHorizon))
	if err != nil {
		return r, fmt.Errorf("cleanup of uploads: %w", err)
	}
	r.Uploads, _ = res.RowsAffected()
	res, err = tx.ExecContext(ctx, `DELETE FROM batches WHERE period_start < ? OR min_start < ?`, int64(uploadHorizon), int64(tupleHorizon))
	if err != nil {
		return r, fmt.Errorf("cleanup of batches: %w", err)
	}
	r.Batches, _ = res.RowsAffected()
	res, err = tx.ExecContext(ctx, `DELETE FROM permission_numbers WHERE batch_id IN (SELECT id FROM permission_batches WHERE expires_at <= ?)`, now.Unix())
	if err != nil {
		return r, fmt.Errorf("cleanup of expired permission numbers: %w", err)
	}
	r.PermissionNumbers, _ = res.RowsAffected()
	res, err = tx.ExecContext(ctx, `DELETE FROM feed_numbers WHERE expires_at <= ?`, now.Unix())
	if err != nil {
		return r, fmt.Errorf("cleanup of expired feed numbers: %w", err)
	}
	n, _ := res.RowsAffected()
	r.PermissionNumbers += n
	if err := tx.Commit(); err != nil {
		return r, fmt.Errorf("cleanup: %w", err)
	}
	s.emptyWAL(ctx)
	return r, nil
}
