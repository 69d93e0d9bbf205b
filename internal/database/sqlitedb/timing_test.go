package sqlitedb

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
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
	if err := s.r.QueryRow(`SELECT length(noise) FROM commit_padding`).Scan(&padding); err != nil || padding != paddingBytes {
		t.Errorf("the refused groups wrote %d bytes of padding, %v; want %d", padding, err, paddingBytes)
	}
}

// go test ./internal/database/sqlitedb -run '^$' -bench SpendAnswer -benchtime 200x -count 3
//
// The time to answer one upload alone (a group of one, synchronous=FULL)
// when its number is spent and when it is refused.
func BenchmarkSpendAnswer(b *testing.B) {
	for _, refused := range []bool{false, true} {
		name := "stored"
		if refused {
			name = "refused"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(b.TempDir(), "pact.db"), Options{Sync: SyncFull})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			hashes, _, _ := burstFixtures(b.N)
			now := time.Unix(29_000_000*60, 0)
			// An upload of the default bundle: three weeks of seed-hours.
			base := pact.MinuteOf(now).HourStart()
			up := &database.Upload{Region: "CH", PeriodStart: pact.MinuteOf(now)}
			for h := range pact.DefaultBundleDays * 24 {
				var seed pact.Seed
				seed[0], seed[1] = byte(h), byte(h>>8)
				start := base - pact.Minute(h+1)*60
				up.Tuples = append(up.Tuples, pact.Tuple{Seed: seed, Start: start, End: start + 59})
			}
			if _, err := s.IssuePermissions(ctx, "Lab", hashes, now, now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				hash := hashes[i]
				if refused {
					hash = []byte("no such number")
				}
				err := s.SpendAndStore(ctx, hash, now, up)
				if refused != (err != nil) {
					b.Fatal(err)
				}
			}
		})
	}
}
