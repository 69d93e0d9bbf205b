package sqlitedb

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/databasetest"
	"github.com/pact-findmy/pact-findmy/pact"
)

func open(t *testing.T) database.Store {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "pact.db"), Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) { databasetest.Run(t, open) }

// go test ./internal/database/sqlitedb -run '^$' -bench Cut1M -benchtime 1x
func BenchmarkCut1M(b *testing.B) {
	databasetest.BenchmarkCut(b, func(b *testing.B) database.Store {
		s, err := Open(context.Background(), filepath.Join(b.TempDir(), "pact.db"), Options{Sync: SyncNormal})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, 1_000_000)
}

// The uploads table must hold nothing that links a row to the permission
// number that paid for it, nor to the uploader (docs/api.md, "Privacy").
func TestUploadsCarryNoLink(t *testing.T) {
	s := open(t).(*Store)
	rows, err := s.r.Query(`SELECT name FROM pragma_table_info('uploads') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols = append(cols, c)
	}
	want := []string{"id", "region", "period_start", "tuple_count", "min_start", "tuples", "reverse_from", "reverse_to", "batch_seq", "findmy"}
	if !slices.Equal(cols, want) {
		t.Fatalf("uploads columns %v, want exactly %v; a new column must not link an upload to its number, address or exact time", cols, want)
	}
	fks, err := s.r.Query(`SELECT "table" FROM pragma_foreign_key_list('uploads')`)
	if err != nil {
		t.Fatal(err)
	}
	defer fks.Close()
	if fks.Next() {
		t.Fatal("uploads has a foreign key")
	}
}

// Cleanup must leave no trace of a deleted upload in the database file:
// without secure_delete, SQLite keeps deleted rows readable in free pages.
func TestCleanupLeavesNoTraceInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pact.db")
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(29_000_000*60, 0)
	hash := []byte("number hash")
	if _, err := s.IssuePermissions(ctx, "Lab", [][]byte{hash}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var seed pact.Seed
	copy(seed[:], "a seed that must not outlive its retention")
	base := pact.MinuteOf(now)
	up := &database.Upload{Region: "CH", PeriodStart: base, Tuples: []pact.Tuple{{Seed: seed, Start: base - 120, End: base - 61}}}
	if err := s.SpendAndStore(ctx, hash, now, up); err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	if _, err := s.CutBatches(ctx, database.CutPolicy{Cutoff: base + 1, PeriodMinutes: 1}, func(b *batch.Batch, _ []database.UploadShape) ([]byte, error) {
		return batch.EncodeBatch(b, key)
	}); err != nil {
		t.Fatal(err)
	}
	// A cut upload keeps only its counts: the tuples live on in the batch.
	var left int
	if err := s.r.QueryRow(`SELECT count(*) FROM uploads WHERE length(tuples) > 0 OR length(findmy) > 0`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d cut uploads still hold their tuples (%v)", left, err)
	}
	// The batch keeps the last 24 bytes of a seed verbatim.
	trace := seed[8:]
	// The store checkpoints after every write: the cut is in the main file.
	if raw, _ := os.ReadFile(path); !bytes.Contains(raw, trace) {
		t.Fatal("the stored seed is not in the file before cleanup; the check below would prove nothing")
	}
	r, err := s.Cleanup(ctx, base+1, 0, now.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.Uploads != 1 || r.Batches != 1 {
		t.Fatalf("cleanup deleted %+v, want the upload and its batch", r)
	}
	// No checkpoint here: the store's own must leave no copy in the WAL.
	for _, name := range []string{path, path + "-wal"} {
		raw, err := os.ReadFile(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, trace) {
			t.Fatalf("%s still holds the deleted seed", name)
		}
		if bytes.Contains(raw, hash) {
			t.Fatalf("%s still holds the expired number's hash", name)
		}
	}
}

// TestOpenUpgradesOldFile opens a file an older program left at version
// 1, with a row in it: Open applies 0002 and keeps the row.
func TestOpenUpgradesOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	initSQL, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		string(initSQL),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`,
		`INSERT INTO schema_migrations (version) VALUES (1)`,
		`INSERT INTO permission_batches (provider, issued, issued_at, expires_at) VALUES ('old', 3, 1, 2)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	raw.Close()
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("opening the version 1 file: %v", err)
	}
	defer s.Close()
	batches, err := s.PermissionBatches(ctx)
	if err != nil || len(batches) != 1 || batches[0].Provider != "old" || batches[0].Issued != 3 {
		t.Fatalf("permission batches after the upgrade = %+v, %v; want the old one", batches, err)
	}
	var versions, findmyColumn int
	if err := s.r.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version IN (1, 2)`).Scan(&versions); err != nil || versions != 2 {
		t.Fatalf("schema_migrations holds %d of versions 1 and 2, %v", versions, err)
	}
	if err := s.r.QueryRow(`SELECT count(*) FROM pragma_table_info('uploads') WHERE name = 'findmy'`).Scan(&findmyColumn); err != nil || findmyColumn != 1 {
		t.Fatalf("uploads.findmy columns = %d, %v; want migration 0002 applied", findmyColumn, err)
	}
}

// TestOpenCreatesPrivateFiles opens the server database in an existing
// directory under a umask that allows everyone to read: pact-server.db
// and its -wal and -shm hold uploads and must still be 0600.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "pact-server.db")
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.IssuePermissions(ctx, "Lab", [][]byte{[]byte("number hash")}, time.Unix(0, 0), time.Unix(60, 0)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
}

// TestOpenMemoryIsAFile: ":memory:" names a file in the working directory
// that keeps what was stored, not a throwaway database.
func TestOpenMemoryIsAFile(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx := context.Background()
	s, err := Open(ctx, ":memory:", Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssuePermissions(ctx, "Lab", [][]byte{[]byte("number hash")}, time.Unix(0, 0), time.Unix(60, 0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, ":memory:", Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.PermissionBatches(ctx); err != nil || len(got) != 1 {
		t.Fatalf("reopened :memory: holds %d permission batches, %v; want the one issued", len(got), err)
	}
}
