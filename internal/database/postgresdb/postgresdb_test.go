package postgresdb

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/databasetest"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestURL returns the PostgreSQL URL for tests, skipping loudly when none
// is configured, and failing instead when CI=true so that CI cannot pass
// without having run the PostgreSQL suite.
func testURL(t *testing.T) string {
	url := os.Getenv("PACT_TEST_POSTGRES_URL")
	if url == "" {
		msg := "PACT_TEST_POSTGRES_URL is not set: the PostgreSQL storage suite DID NOT RUN " +
			"(set it to e.g. postgres://pact:pact@127.0.0.1:5432/pact_test?sslmode=disable)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return url
}

// open gives each test a schema of its own, dropped afterwards, so tests
// and packages can run in parallel on one database.
func open(t *testing.T) database.Store {
	url := testURL(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	s, err := Open(ctx, url, Options{Schema: schema, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA "`+schema+`" CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return s
}

func TestStore(t *testing.T) { databasetest.Run(t, open) }

// Two replicas on one database cut at the same time: the advisory lock
// must serialise them, so no cut fails on a duplicate sequence and every
// upload lands in exactly one batch.
func TestReplicasCutOneAtATime(t *testing.T) {
	first := open(t).(*Store)
	ctx := context.Background()
	var schema string
	if err := first.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	second, err := Open(ctx, testURL(t), Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	now := time.Unix(29_000_000*60, 0)
	const uploads = 40
	var hashes [][]byte
	for i := range uploads {
		hashes = append(hashes, []byte{byte(i), 1, 2, 3})
	}
	if _, err := first.IssuePermissions(ctx, "Lab", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	base := pact.MinuteOf(now)
	for i, h := range hashes {
		ts := []pact.Tuple{{Seed: pact.Seed{byte(i)}, Start: base - 120, End: base - 61}}
		if err := first.SpendAndStore(ctx, h, now, &database.Upload{Region: "CH", PeriodStart: base + pact.Minute(i), Tuples: ts}); err != nil {
			t.Fatal(err)
		}
	}
	build := func(b *batch.Batch, _ []database.UploadShape) ([]byte, error) {
		return batch.EncodeBatch(b, ed25519.NewKeyFromSeed(make([]byte, 32)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*uploads)
	for _, s := range []*Store{first, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range uploads {
				if _, err := s.CutBatches(ctx, database.CutPolicy{Cutoff: base + pact.Minute(i) + 1, PeriodMinutes: 1}, build); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent cut: %v", err)
	}
	all, err := first.Batches(ctx, "CH", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != uploads {
		t.Fatalf("%d batches, want %d (one per period)", len(all), uploads)
	}
	for i, b := range all {
		if b.Sequence != uint64(i+1) || b.Uploads != 1 {
			t.Fatalf("batch %d is %+v, want sequence %d with one upload", i, b, i+1)
		}
	}
}

// PACT_TEST_POSTGRES_URL=... go test ./internal/database/postgresdb -run '^$' -bench Cut1M -benchtime 1x
func BenchmarkCut1M(b *testing.B) {
	url := os.Getenv("PACT_TEST_POSTGRES_URL")
	if url == "" {
		b.Skip("PACT_TEST_POSTGRES_URL is not set")
	}
	databasetest.BenchmarkCut(b, func(b *testing.B) database.Store {
		var r [6]byte
		rand.Read(r[:])
		schema := "bench_" + hex.EncodeToString(r[:])
		ctx := context.Background()
		s, err := Open(ctx, url, Options{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if conn, err := pgx.Connect(ctx, url); err == nil {
				conn.Exec(ctx, `DROP SCHEMA "`+schema+`" CASCADE`)
				conn.Close(ctx)
			}
		})
		return s
	}, 1_000_000)
}

// PACT_TEST_POSTGRES_URL=... go test ./internal/database/postgresdb -run '^$' -bench SpendAnswer -benchtime 200x -count 3
func BenchmarkSpendAnswer(b *testing.B) {
	url := os.Getenv("PACT_TEST_POSTGRES_URL")
	if url == "" {
		b.Skip("PACT_TEST_POSTGRES_URL is not set")
	}
	databasetest.BenchmarkSpendAnswer(b, func(b *testing.B) database.Store {
		var r [6]byte
		rand.Read(r[:])
		schema := "bench_" + hex.EncodeToString(r[:])
		ctx := context.Background()
		s, err := Open(ctx, url, Options{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if conn, err := pgx.Connect(ctx, url); err == nil {
				conn.Exec(ctx, `DROP SCHEMA "`+schema+`" CASCADE`)
				conn.Close(ctx)
			}
		})
		return s
	})
}

// The uploads table must hold nothing that links a row to the permission
// number that paid for it, nor to the uploader (docs/api.md, "Privacy").
func TestUploadsCarryNoLink(t *testing.T) {
	s := open(t).(*Store)
	ctx := context.Background()
	rows, err := s.pool.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'uploads' ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	// restamped (migration 0004) is one bit, set for every held upload at
	// the cutter's next pass: it tells apart uploads of the last period or
	// so, which period_start tells already.
	want := []string{"id", "region", "period_start", "tuple_count", "min_start", "tuples", "reverse_from", "reverse_to", "batch_seq", "findmy", "restamped"}
	if !slices.Equal(cols, want) {
		t.Fatalf("uploads columns %v, want exactly %v; a new column must not link an upload to its number, address or exact time", cols, want)
	}
	var fks int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.table_constraints WHERE table_schema = current_schema() AND table_name = 'uploads' AND constraint_type = 'FOREIGN KEY'`).Scan(&fks); err != nil {
		t.Fatal(err)
	}
	if fks != 0 {
		t.Fatalf("uploads has %d foreign keys", fks)
	}
}

// An upload that commits while a cut is building the batch of its period
// (its server read the clock just before the period ended) must not be
// marked as cut without being in the batch: it stays pending for the next.
func TestUploadDuringCutIsNotLost(t *testing.T) {
	s := open(t).(*Store)
	ctx := context.Background()
	now := time.Unix(29_000_000*60, 0)
	hashes := [][]byte{{1}, {2}}
	if _, err := s.IssuePermissions(ctx, "Lab", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	base := pact.MinuteOf(now)
	upload := func(i int) error {
		ts := []pact.Tuple{{Seed: pact.Seed{byte(i)}, Start: base - 120, End: base - 61}}
		return s.SpendAndStore(ctx, hashes[i], now, &database.Upload{Region: "CH", PeriodStart: base, Tuples: ts})
	}
	if err := upload(0); err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	late := false
	build := func(b *batch.Batch, _ []database.UploadShape) ([]byte, error) {
		if !late {
			late = true
			if err := upload(1); err != nil {
				return nil, err
			}
		}
		return batch.EncodeBatch(b, key)
	}
	var entries uint32
	for range 2 {
		infos, err := s.CutBatches(ctx, database.CutPolicy{Cutoff: base + 1, PeriodMinutes: 1}, build)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range infos {
			entries += b.Entries
		}
	}
	if entries != 2 {
		t.Fatalf("batches hold %d tuples, want the 2 of both uploads", entries)
	}
}

// Spending a number and storing its upload share one transaction id, and
// PostgreSQL keeps it in the xmin of every row version written, including
// the out-of-line TOAST chunks of a large tuple list, which an UPDATE that
// leaves the list alone does not rewrite. Once cut, no live row of the
// upload, nor of its TOAST chunks, may still carry that id.
func TestCutUploadsShareNoTransactionWithNumbers(t *testing.T) {
	s := open(t).(*Store)
	ctx := context.Background()
	now := time.Unix(29_000_000*60, 0)
	hashes := [][]byte{{1}, {2}, {3}}
	if _, err := s.IssuePermissions(ctx, "Lab", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	base := pact.MinuteOf(now)
	for i, h := range hashes {
		// Three weeks of seed-hours: tens of kilobytes, stored out of line.
		ts := make([]pact.Tuple, 504)
		for j := range ts {
			rand.Read(ts[j].Seed[:])
			ts[j].Start = base.HourStart() - pact.Minute(j+1)*pact.MinutesPerHour
			ts[j].End = ts[j].Start + 59
		}
		if err := s.SpendAndStore(ctx, h, now, &database.Upload{Region: "CH", PeriodStart: base, Tuples: ts}); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	var toast string
	if err := s.pool.QueryRow(ctx, `SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'uploads'::regclass`).Scan(&toast); err != nil {
		t.Fatal(err)
	}
	linked := func() (rows, chunks int) {
		t.Helper()
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM uploads u JOIN permission_numbers n ON u.xmin = n.xmin`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+toast+` c JOIN permission_numbers n ON c.xmin = n.xmin`).Scan(&chunks); err != nil {
			t.Fatal(err)
		}
		return rows, chunks
	}
	if rows, chunks := linked(); rows != 3 || chunks == 0 {
		t.Fatalf("before the cut %d upload rows and %d TOAST chunks share a spend's transaction; want 3 and some, or the check below proves nothing", rows, chunks)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	build := func(b *batch.Batch, _ []database.UploadShape) ([]byte, error) { return batch.EncodeBatch(b, key) }
	// Held (k = 10): nothing is published, but the held rows are
	// rewritten under the cutter's transaction.
	held, err := s.CutBatches(ctx, database.CutPolicy{Cutoff: base + 1, PeriodMinutes: 1, MinUploads: 10, MaxHold: pact.MinutesPerDay}, build)
	if err != nil || len(held) != 0 {
		t.Fatalf("cut with 3 uploads held, k = 10: %+v, %v", held, err)
	}
	if rows, chunks := linked(); rows != 0 || chunks != 0 {
		t.Fatalf("while held %d upload rows and %d TOAST chunks still share a spend's transaction id", rows, chunks)
	}
	infos, err := s.CutBatches(ctx, database.CutPolicy{Cutoff: base + 1, PeriodMinutes: 1}, build)
	if err != nil || len(infos) != 1 || infos[0].Entries != 3*504 {
		t.Fatalf("cut of the held uploads: %+v, %v; want one batch of their 1512 tuples intact", infos, err)
	}
	if rows, chunks := linked(); rows != 0 || chunks != 0 {
		t.Fatalf("after the cut %d upload rows and %d TOAST chunks still share a spend's transaction id", rows, chunks)
	}
}

// Cleanup vacuums the uploads table, so the dead versions a cut leaves
// (holding the tuples and the spending transaction's id) do not wait for
// an autovacuum that a quiet table may not see for days.
func TestCleanupVacuumsUploads(t *testing.T) {
	s := open(t).(*Store)
	ctx := context.Background()
	lastVacuum := func() (at *time.Time) {
		t.Helper()
		if err := s.pool.QueryRow(ctx, `SELECT last_vacuum FROM pg_stat_user_tables WHERE relid = 'uploads'::regclass`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if at := lastVacuum(); at != nil {
		t.Fatalf("a fresh uploads table was vacuumed at %v; the check below would prove nothing", at)
	}
	if _, err := s.Cleanup(ctx, 0, 0, time.Unix(29_000_000*60, 0)); err != nil {
		t.Fatal(err)
	}
	if lastVacuum() == nil {
		t.Fatal("cleanup did not vacuum the uploads table")
	}
}

// TestRefusedUploadCommits: a refused number must be answered after a
// commit, as a stored upload is, or the answer's delay tells them apart.
// The padding row a refusal rewrites shows that it committed.
func TestRefusedUploadCommits(t *testing.T) {
	s := open(t).(*Store)
	ctx := context.Background()
	now := time.Unix(29_000_000*60, 0).UTC()
	hash := []byte("a number hash of 32 bytes, exactly")
	if _, err := s.IssuePermissions(ctx, "Lab", [][]byte{hash}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p := pact.MinuteOf(now)
	up := &database.Upload{Region: "CH", PeriodStart: p, Tuples: []pact.Tuple{{Seed: pact.Seed{1}, Start: p.HourStart() - 60, End: p.HourStart() - 1}}}
	padded := func() int {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM commit_padding WHERE length(noise) = $1`, database.RefusalPaddingBytes).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cases := []struct {
		name string
		hash []byte
		want error
	}{
		{"stored", hash, nil},
		{"used", hash, database.ErrPermissionUsed},
		{"unknown", []byte("no such number"), database.ErrPermissionUnknown},
	}
	refusals := 0
	for _, tc := range cases {
		if err := s.SpendAndStore(ctx, tc.hash, now, up); !errors.Is(err, tc.want) {
			t.Fatalf("%s: SpendAndStore = %v, want %v", tc.name, err, tc.want)
		}
		if tc.want != nil {
			refusals++
		}
	}
	// Two refusals rewrite one or two of the 64 rows.
	if got := padded(); got < 1 || got > refusals {
		t.Errorf("%d padding rows written after %d refusals, want 1..%d", got, refusals, refusals)
	}
}
