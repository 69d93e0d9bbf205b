package sqlitedb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
)

// walCommit is the pages of one commit found in a WAL file.
type walCommit struct {
	pages [][]byte
}

// walCommits replays the WAL file raw frame by frame, as someone holding
// the file would: every frame counts, whatever its salt, so frames of an
// earlier generation that a reset left behind are read too. A frame whose
// "database size" field is non-zero ends a commit (sqlite.org/fileformat2,
// "The WAL file format").
func walCommits(t *testing.T, raw []byte) []walCommit {
	t.Helper()
	const walHeader, frameHeader = 32, 24
	if len(raw) < walHeader {
		return nil
	}
	pageSize := int(binary.BigEndian.Uint32(raw[8:12]))
	if pageSize < 512 || pageSize > 65536 {
		t.Fatalf("WAL header page size %d", pageSize)
	}
	var out []walCommit
	var cur walCommit
	for off := walHeader; off+frameHeader+pageSize <= len(raw); off += frameHeader + pageSize {
		cur.pages = append(cur.pages, raw[off+frameHeader:off+frameHeader+pageSize])
		if binary.BigEndian.Uint32(raw[off+4:off+8]) != 0 {
			out = append(out, cur)
			cur = walCommit{}
		}
	}
	if len(cur.pages) > 0 {
		out = append(out, cur) // frames of a commit cut off by a crash
	}
	return out
}

// linkingCommits counts the commits of the WAL at path holding both a page
// with one of the spent number hashes and a page with one of the uploads'
// seeds: such a commit pairs a number with the upload it paid for.
func linkingCommits(t *testing.T, path string, hashes [][]byte, seeds [][]byte) (commits, linking int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	holdsAny := func(page []byte, needles [][]byte) bool {
		for _, n := range needles {
			if bytes.Contains(page, n) {
				return true
			}
		}
		return false
	}
	cs := walCommits(t, raw)
	for _, c := range cs {
		var number, upload bool
		for _, p := range c.pages {
			number = number || holdsAny(p, hashes)
			upload = upload || holdsAny(p, seeds)
		}
		if number && upload {
			linking++
		}
	}
	return len(cs), linking
}

func burstFixtures(n int) (hashes, seeds [][]byte, uploads []*database.Upload) {
	now := time.Unix(29_000_000*60, 0)
	base := pact.MinuteOf(now)
	for i := range n {
		h := sha256.Sum256(fmt.Appendf(nil, "number %d", i))
		hashes = append(hashes, h[:])
		var seed pact.Seed
		s := sha256.Sum256(fmt.Appendf(nil, "seed %d", i))
		copy(seed[:], s[:])
		// The batch keeps a seed's last 24 bytes; the upload row keeps all 32.
		seeds = append(seeds, seed[8:])
		uploads = append(uploads, &database.Upload{Region: "CH", PeriodStart: base, Tuples: []pact.Tuple{{Seed: seed, Start: base - 120, End: base - 61}}})
	}
	return hashes, seeds, uploads
}

// TestWALDoesNotLinkUploadsToNumbers sends a burst of uploads one at a
// time (each its own group: the worst case), then reads the raw files
// beside the open database, as someone who copies them would: no commit in
// the WAL may hold both a spent number and an upload, and there is no
// rollback journal. The uploads must still be in the main file.
func TestWALDoesNotLinkUploadsToNumbers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pact-server.db")
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const burst = 40
	hashes, seeds, uploads := burstFixtures(burst)
	now := time.Unix(29_000_000*60, 0)
	if _, err := s.IssuePermissions(ctx, "Lab", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := range burst {
		if err := s.SpendAndStore(ctx, hashes[i], now, uploads[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CheckpointErr(); err != nil {
		t.Fatal(err)
	}
	commits, linking := linkingCommits(t, path+"-wal", hashes, seeds)
	if linking != 0 {
		t.Errorf("%d of the %d commits in the WAL hold both a spent number and an upload", linking, commits)
	}
	if _, err := os.Stat(path + "-journal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a rollback journal is beside the database: %v", err)
	}
	main, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, seed := range seeds {
		if !bytes.Contains(main, seed) {
			t.Fatalf("upload %d is not in the main file: its commit did not reach it", i)
		}
	}
}

// TestLinkDetectorSeesALink is the control of the test above: the same
// replay over a WAL that SQLite never checkpoints, with a spend and an
// upload in one commit, must find the link.
func TestLinkDetectorSeesALink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	hashes, seeds, _ := burstFixtures(1)
	for _, q := range []string{
		`PRAGMA wal_autocheckpoint = 0`,
		`CREATE TABLE numbers (hash BLOB PRIMARY KEY, used INTEGER) WITHOUT ROWID`,
		`CREATE TABLE uploads (id INTEGER PRIMARY KEY, tuples BLOB)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO numbers VALUES (?, 0)`, hashes[0]); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE numbers SET used = 1 WHERE hash = ?`, hashes[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO uploads (id, tuples) VALUES (7, ?)`, seeds[0]); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, linking := linkingCommits(t, path+"-wal", hashes, seeds); linking != 1 {
		t.Fatalf("the replay found %d linking commits in a WAL that holds one", linking)
	}
}

// TestOpenEmptiesALeftoverWAL: a crash between a commit and its checkpoint
// leaves the commit in the WAL (here a copy of the files of a database
// whose WAL is never checkpointed, as kill -9 leaves them). Open must move
// it into the main file and empty the WAL, keeping the data.
func TestOpenEmptiesALeftoverWAL(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	live := filepath.Join(dir, "live.db")
	s, err := Open(ctx, live, Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	hashes, seeds, uploads := burstFixtures(1)
	now := time.Unix(29_000_000*60, 0)
	if _, err := s.IssuePermissions(ctx, "Lab", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Writes behind the store's back, with its checkpoint switched off.
	conn, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA wal_autocheckpoint = 0`, `BEGIN IMMEDIATE`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	blob, err := pact.EncodeTuples(uploads[0].Tuples)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `UPDATE permission_numbers SET used = 1 WHERE hash = ?`, hashes[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO uploads (id, region, period_start, tuple_count, min_start, tuples) VALUES (7, 'CH', 1, 1, 1, ?)`, blob); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(dir, "crashed.db")
	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	s.Close()
	if _, linking := linkingCommits(t, crashed+"-wal", hashes, seeds); linking != 1 {
		t.Fatalf("the crashed copy's WAL holds %d linking commits, want the one written", linking)
	}
	c, err := Open(ctx, crashed, Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if commits, _ := linkingCommits(t, crashed+"-wal", hashes, seeds); commits != 0 {
		t.Errorf("after Open the WAL holds %d commits, want none", commits)
	}
	var n int
	if err := c.r.QueryRow(`SELECT count(*) FROM uploads WHERE id = 7`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the leftover upload: %d rows, %v; want it kept", n, err)
	}
}

// TestCheckpointBlockedByAReader: a reader on an older snapshot keeps the
// WAL from being truncated. The write still succeeds (it is committed, and
// with SyncFull its WAL is synced by hand), CheckpointErr says why the WAL
// is not empty, and the next write after the reader ends empties it.
func TestCheckpointBlockedByAReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pact-server.db")
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Sync: SyncFull})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The writer is one connection: wait 50 ms for readers, not 10 s.
	if _, err := s.w.Exec(`PRAGMA busy_timeout = 50`); err != nil {
		t.Fatal(err)
	}
	hashes, _, uploads := burstFixtures(2)
	now := time.Unix(29_000_000*60, 0)
	if _, err := s.IssuePermissions(ctx, "Lab", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	reader, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.QueryRow(`SELECT count(*) FROM permission_numbers`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := s.SpendAndStore(ctx, hashes[0], now, uploads[0]); err != nil {
		t.Fatalf("a committed upload whose checkpoint was blocked: %v, want success", err)
	}
	if err := s.CheckpointErr(); !errors.Is(err, ErrCheckpointBusy) {
		t.Fatalf("CheckpointErr with a reader holding the WAL = %v, want ErrCheckpointBusy", err)
	}
	if st, err := os.Stat(path + "-wal"); err != nil || st.Size() == 0 {
		t.Fatalf("the WAL behind a reader: %v, %v; want it still holding the commit", st, err)
	}
	reader.Rollback()
	if err := s.SpendAndStore(ctx, hashes[1], now, uploads[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckpointErr(); err != nil {
		t.Fatalf("CheckpointErr after the reader ended = %v, want nil", err)
	}
	if st, err := os.Stat(path + "-wal"); err != nil || st.Size() != 0 {
		t.Fatalf("the WAL after the reader ended: %v, %v; want it empty", st, err)
	}
}
