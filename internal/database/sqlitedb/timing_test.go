package sqlitedb

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/databasetest"
)

// TestRefusedUploadCommitsLikeAStoredOne: the answer to an upload must not
// come sooner when its number is refused, or its timing tells success from
// refusal. A refused group therefore commits too, which another
// connection sees as a new data_version, and writes about what a stored
// upload writes.
func TestRefusedUploadCommitsLikeAStoredOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pact-server.db")
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hashes, _, uploads := burstFixtures(1)
	now := time.Unix(29_000_000*60, 0)
	if _, err := s.IssuePermissions(ctx, "Lab", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	watcher, err := s.r.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	dataVersion := func() int64 {
		var v int64
		if err := watcher.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name string
		hash []byte
		want error
	}{
		{"stored", hashes[0], nil},
		{"used", hashes[0], database.ErrPermissionUsed},
		{"unknown", []byte("no such number"), database.ErrPermissionUnknown},
	}
	for _, tc := range cases {
		before := dataVersion()
		if err := s.SpendAndStore(ctx, tc.hash, now, uploads[0]); !errors.Is(err, tc.want) {
			t.Fatalf("%s: SpendAndStore = %v, want %v", tc.name, err, tc.want)
		}
		if dataVersion() == before {
			t.Errorf("%s: the upload was answered without a commit", tc.name)
		}
	}
	var padding int
	if err := s.r.QueryRow(`SELECT length(noise) FROM commit_padding`).Scan(&padding); err != nil || padding != database.RefusalPaddingBytes {
		t.Errorf("the refused groups wrote %d bytes of padding, %v; want %d", padding, err, database.RefusalPaddingBytes)
	}
}

// go test ./internal/database/sqlitedb -run '^$' -bench SpendAnswer -benchtime 200x -count 3
func BenchmarkSpendAnswer(b *testing.B) {
	databasetest.BenchmarkSpendAnswer(b, func(b *testing.B) database.Store {
		s, err := Open(context.Background(), filepath.Join(b.TempDir(), "pact.db"), Options{Sync: SyncFull})
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}
