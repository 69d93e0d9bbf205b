// Package databasetest is the storage test suite that every
// database.Store backend must pass; each backend's tests call Run.
package databasetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Opener returns a fresh, empty store for one test; it registers its own
// cleanup.
type Opener func(t *testing.T) database.Store

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

func build(b *batch.Batch, _ []database.UploadShape) ([]byte, error) {
	return batch.EncodeBatch(b, testKey)
}

// now is a fixed instant: minute 29 000 000 is 2025-02-20.
var now = time.Unix(29_000_000*60, 0).UTC()

const period = 10

func hashOf(i int) []byte {
	h := sha256.Sum256([]byte(fmt.Sprint("number ", i)))
	return h[:]
}

func tuples(n int, salt byte) []pact.Tuple {
	ts := make([]pact.Tuple, n)
	base := pact.MinuteOf(now).HourStart() - pact.Minute(n)*60
	for i := range ts {
		ts[i].Seed = sha256.Sum256([]byte{salt, byte(i), byte(i >> 8)})
		ts[i].Start = base + pact.Minute(i)*60
		ts[i].End = ts[i].Start + 59
	}
	return ts
}

func upload(region string, p pact.Minute, ts []pact.Tuple) *database.Upload {
	return &database.Upload{Region: region, PeriodStart: p, Tuples: ts}
}

// Run runs the whole suite against stores from open.
func Run(t *testing.T, open Opener) {
	t.Run("SpendOutcomes", func(t *testing.T) { t.Parallel(); testSpendOutcomes(t, open(t)) })
	t.Run("ConcurrentSpend", func(t *testing.T) { t.Parallel(); testConcurrentSpend(t, open(t)) })
	t.Run("CanceledSpendsAnswerWhatIsStored", func(t *testing.T) { t.Parallel(); testCanceledSpends(t, open(t)) })
	t.Run("CutBatches", func(t *testing.T) { t.Parallel(); testCutBatches(t, open(t)) })
	t.Run("FailedBuildLeavesUploadsPending", func(t *testing.T) { t.Parallel(); testFailedBuild(t, open(t)) })
	t.Run("Cleanup", func(t *testing.T) { t.Parallel(); testCleanup(t, open(t)) })
	t.Run("PermissionBatches", func(t *testing.T) { t.Parallel(); testPermissionBatches(t, open(t)) })
	t.Run("FindMyKeys", func(t *testing.T) { t.Parallel(); testFindMyKeys(t, open(t)) })
	t.Run("Holding", func(t *testing.T) { t.Parallel(); testHolding(t, open(t)) })
	t.Run("ReverseMarks", func(t *testing.T) { t.Parallel(); testReverseMarks(t, open(t)) })
	t.Run("NumberFeed", func(t *testing.T) { t.Parallel(); testNumberFeed(t, open(t)) })
	t.Run("ConcurrentFeedSpend", func(t *testing.T) { t.Parallel(); testConcurrentFeedSpend(t, open(t)) })
}

func testFindMyKeys(t *testing.T, s database.Store) {
	ctx := context.Background()
	if _, err := s.IssuePermissions(ctx, "Lab", [][]byte{hashOf(1), hashOf(2)}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p := pact.MinuteOf(now) / period * period
	keys := []batch.FindMyKey{
		{Key: findmy.Key{9, 9}, Start: p - 200, End: p - 186},
		{Key: findmy.Key{1, 2}, Start: p - 100, End: p - 86},
	}
	// One upload with tuples and keys, one with keys only.
	if err := s.SpendAndStore(ctx, hashOf(1), now, &database.Upload{Region: "CH", PeriodStart: p, Tuples: tuples(2, 1), FindMy: keys[:1]}); err != nil {
		t.Fatal(err)
	}
	if err := s.SpendAndStore(ctx, hashOf(2), now, &database.Upload{Region: "CH", PeriodStart: p, FindMy: keys[1:]}); err != nil {
		t.Fatal(err)
	}
	got := mustCut(t, s, p+period)
	if len(got) != 1 || got[0].Entries != 2 || got[0].FindMyEntries != 2 || got[0].Uploads != 2 {
		t.Fatalf("cut %+v, want one batch of 2 tuples and 2 Find My keys from 2 uploads", got)
	}
	_, data, err := s.Batch(ctx, "CH", 1)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := batch.Decode(data, testKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if len(dec.FindMy) != 2 || dec.FindMy[0] != keys[1] || dec.FindMy[1] != keys[0] {
		t.Fatalf("batch Find My keys %v, want %v sorted by key", dec.FindMy, keys)
	}
}

func mustCut(t *testing.T, s database.Store, cutoff pact.Minute) []database.BatchInfo {
	t.Helper()
	got, err := s.CutBatches(context.Background(), database.CutPolicy{Cutoff: cutoff, PeriodMinutes: period}, build)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func testSpendOutcomes(t *testing.T, s database.Store) {
	ctx := context.Background()
	good, err := s.IssuePermissions(ctx, "Hospital A", [][]byte{hashOf(1), hashOf(2), hashOf(3)}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := s.IssuePermissions(ctx, "Hospital B", [][]byte{hashOf(10)}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokePermissionBatch(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssuePermissions(ctx, "Hospital C", [][]byte{hashOf(20)}, now.Add(-2*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssuePermissions(ctx, "Hospital D", [][]byte{hashOf(1)}, now, now.Add(time.Hour)); err == nil {
		t.Fatal("issuing a hash that another batch holds must fail: batches are disjoint")
	}
	p := pact.MinuteOf(now)
	cases := []struct {
		name string
		hash []byte
		want error
	}{
		{"valid", hashOf(1), nil},
		{"same number again", hashOf(1), database.ErrPermissionUsed},
		{"another valid", hashOf(2), nil},
		{"unknown", hashOf(99), database.ErrPermissionUnknown},
		{"revoked", hashOf(10), database.ErrPermissionRevoked},
		{"expired", hashOf(20), database.ErrPermissionExpired},
	}
	stored := 0
	for _, tc := range cases {
		err := s.SpendAndStore(ctx, tc.hash, now, upload("CH", p, tuples(3, byte(stored))))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: SpendAndStore = %v, want %v", tc.name, err, tc.want)
		}
		if err == nil {
			stored++
		}
	}
	got := mustCut(t, s, p+period)
	if len(got) != 1 || got[0].Uploads != uint32(stored) || got[0].Entries != uint32(3*stored) {
		t.Fatalf("after %d accepted uploads the cut is %+v; refused uploads must store nothing", stored, got)
	}
	if err := s.RevokePermissionBatch(ctx, 12345); !errors.Is(err, database.ErrNotFound) {
		t.Fatalf("revoking a missing batch: %v, want ErrNotFound", err)
	}
	list, err := s.PermissionBatches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != good || list[0].Used != 2 || list[0].Issued != 3 || list[1].Used != 0 || !list[1].Revoked {
		t.Fatalf("permission batches %+v: want batch %d with 2 of 3 used, batch %d revoked and unused", list, good, revoked)
	}
}

// ConcurrentAttempts is how many goroutines try to spend one number.
const ConcurrentAttempts = 1000

func testConcurrentSpend(t *testing.T, s database.Store) {
	ctx := context.Background()
	if _, err := s.IssuePermissions(ctx, "Hospital A", [][]byte{hashOf(1)}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p := pact.MinuteOf(now)
	var wg sync.WaitGroup
	errs := make([]error, ConcurrentAttempts)
	start := make(chan struct{})
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.SpendAndStore(ctx, hashOf(1), now, upload("CH", p, tuples(2, byte(i))))
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, database.ErrPermissionUsed):
			t.Errorf("attempt %d: %v, want success or ErrPermissionUsed", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent attempts spent the number, want exactly 1", ok, ConcurrentAttempts)
	}
	got := mustCut(t, s, p+period)
	if len(got) != 1 || got[0].Uploads != 1 {
		t.Fatalf("cut after the race: %+v, want one batch of one upload", got)
	}
}

// CanceledUploads is how many uploads testCanceledSpends sends, each with
// a context that ends at a different moment.
const CanceledUploads = 300

// testCanceledSpends ends the context of concurrent uploads at every moment
// of their way through the store, as a client that resets its connection
// does. Whatever the context does, the answer must match what is stored:
// an upload answered nil is stored and its number spent; one answered with
// an error is not stored and its number is still unspent.
func testCanceledSpends(t *testing.T, s database.Store) {
	ctx := context.Background()
	hashes := make([][]byte, CanceledUploads)
	for i := range hashes {
		hashes[i] = hashOf(1000 + i)
	}
	if _, err := s.IssuePermissions(ctx, "Hospital A", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p := pact.MinuteOf(now)
	errs := make([]error, CanceledUploads)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uploadCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			<-start
			// From already ended (i%50 == 0) to ending after 2.45 ms, so
			// some end while queued, some while their group commits.
			delay := time.Duration(i%50) * 50 * time.Microsecond
			if delay == 0 {
				cancel()
			} else {
				time.AfterFunc(delay, cancel)
			}
			errs[i] = s.SpendAndStore(uploadCtx, hashes[i], now, upload("CH", p, tuples(1, byte(i))))
		}()
	}
	close(start)
	wg.Wait()
	stored := 0
	for i, err := range errs {
		switch {
		case err == nil:
			stored++
		case !errors.Is(err, context.Canceled):
			t.Errorf("upload %d: %v, want success or context.Canceled", i, err)
		}
	}
	got := mustCut(t, s, p+period)
	var kept uint32
	for _, b := range got {
		kept += b.Uploads
	}
	if kept != uint32(stored) {
		t.Errorf("%d uploads answered stored, %d stored", stored, kept)
	}
	for i, err := range errs {
		again := s.SpendAndStore(ctx, hashes[i], now, upload("CH", p+period, tuples(1, byte(i))))
		switch {
		case err == nil && !errors.Is(again, database.ErrPermissionUsed):
			t.Errorf("upload %d was answered stored, yet spending its number again gives %v, want ErrPermissionUsed", i, again)
		case err != nil && again != nil:
			t.Errorf("upload %d was answered %v (not stored), yet spending its number again gives %v, want success", i, err, again)
		}
	}
	t.Logf("%d of %d uploads with ending contexts were stored", stored, CanceledUploads)
}

func testCutBatches(t *testing.T, s database.Store) {
	ctx := context.Background()
	var hashes [][]byte
	for i := range 10 {
		hashes = append(hashes, hashOf(i))
	}
	if _, err := s.IssuePermissions(ctx, "Hospital A", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p0 := pact.MinuteOf(now) / period * period
	spend := func(i int, region string, p pact.Minute, ts []pact.Tuple) {
		t.Helper()
		if err := s.SpendAndStore(ctx, hashOf(i), now, upload(region, p, ts)); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := tuples(5, 1), tuples(4, 2), tuples(3, 3)
	spend(0, "CH", p0, a)
	spend(1, "CH", p0, b)
	spend(2, "US-CA", p0, c)
	spend(3, "CH", p0+period, tuples(2, 4)) // still open at the first cut

	got := mustCut(t, s, p0+period)
	if len(got) != 2 || got[0].ID() != "CH.1" || got[1].ID() != "US-CA.1" {
		t.Fatalf("first cut: %+v, want CH.1 and US-CA.1", got)
	}
	info, data, err := s.Batch(ctx, "CH", 1)
	if err != nil {
		t.Fatal(err)
	}
	if info.SHA256 != sha256.Sum256(data) || info.Size != len(data) || info.Uploads != 2 || info.Entries != 9 || info.PeriodStart != p0 {
		t.Fatalf("batch CH.1 info %+v does not match its %d bytes", info, len(data))
	}
	dec, err := batch.Decode(data, testKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(a), b...)
	slices.SortFunc(want, func(x, y pact.Tuple) int { return bytes.Compare(x.Seed[:], y.Seed[:]) })
	if !slices.Equal(dec.Tuples, want) {
		t.Fatalf("batch CH.1 holds %v, want %v", dec.Tuples, want)
	}
	if again := mustCut(t, s, p0+period); len(again) != 0 {
		t.Fatalf("a second cut of the same periods made %+v", again)
	}
	// An upload that committed late into an already cut period goes into
	// the next batch rather than being lost, with the uploads of the
	// periods since; that batch's span starts where CH.1's ended.
	spend(4, "CH", p0, tuples(1, 5))
	got = mustCut(t, s, p0+2*period)
	if len(got) != 1 || got[0].ID() != "CH.2" || got[0].PeriodStart != p0+period || got[0].PeriodMinutes != period || got[0].Uploads != 2 || got[0].Entries != 3 {
		t.Fatalf("second cut: %+v, want CH.2 of the late upload and the next period's, spanning [%d, %d)", got, p0+period, p0+2*period)
	}
	spend(5, "CH", p0+4*period, tuples(1, 6))
	got = mustCut(t, s, p0+5*period)
	if len(got) != 1 || got[0].ID() != "CH.3" || got[0].PeriodStart != p0+2*period || got[0].PeriodMinutes != 3*period {
		t.Fatalf("third cut: %+v, want CH.3 spanning the quiet periods since CH.2", got)
	}
	list, err := s.Batches(ctx, "CH", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Sequence != 2 || list[1].Sequence != 3 {
		t.Fatalf("batches of CH after 1: %+v", list)
	}
	all, err := s.Batches(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range all {
		ids = append(ids, b.ID())
	}
	if !slices.Equal(ids, []string{"CH.1", "CH.2", "CH.3", "US-CA.1"}) {
		t.Fatalf("all batches: %v", ids)
	}
	if _, _, err := s.Batch(ctx, "CH", 99); !errors.Is(err, database.ErrNotFound) {
		t.Fatalf("missing batch: %v, want ErrNotFound", err)
	}
}

func testFailedBuild(t *testing.T, s database.Store) {
	ctx := context.Background()
	if _, err := s.IssuePermissions(ctx, "Hospital A", [][]byte{hashOf(1)}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p := pact.MinuteOf(now)
	if err := s.SpendAndStore(ctx, hashOf(1), now, upload("CH", p, tuples(2, 1))); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("signer unavailable")
	if _, err := s.CutBatches(ctx, database.CutPolicy{Cutoff: p + period, PeriodMinutes: period}, func(*batch.Batch, []database.UploadShape) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("cut with a failing builder: %v, want %v", err, boom)
	}
	if got := mustCut(t, s, p+period); len(got) != 1 || got[0].Sequence != 1 {
		t.Fatalf("after a failed cut the retry made %+v, want batch 1 with the pending upload", got)
	}
}

func testCleanup(t *testing.T, s database.Store) {
	ctx := context.Background()
	var hashes [][]byte
	for i := range 4 {
		hashes = append(hashes, hashOf(i))
	}
	if _, err := s.IssuePermissions(ctx, "Hospital A", hashes, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssuePermissions(ctx, "Hospital B", [][]byte{hashOf(50), hashOf(51)}, now.Add(-48*time.Hour), now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	p := pact.MinuteOf(now) / period * period
	old := p - 30*pact.MinutesPerDay
	spend := func(i int, region string, p pact.Minute, ts []pact.Tuple) {
		t.Helper()
		if err := s.SpendAndStore(ctx, hashOf(i), now, upload(region, p, ts)); err != nil {
			t.Fatal(err)
		}
	}
	spend(0, "CH", old, tuples(2, 1)) // a batch from a month ago
	spend(1, "CH", p, tuples(2, 2))   // recent
	ancient := tuples(1, 3)           // recent upload, tuple past the tuple horizon
	ancient[0].Start, ancient[0].End = p-95*pact.MinutesPerDay, p-95*pact.MinutesPerDay+59
	spend(2, "DE", p, ancient)
	spend(3, "FR", p, tuples(1, 4)) // pending, not yet cut
	if got := mustCut(t, s, p); len(got) != 1 {
		t.Fatalf("cut of the old period: %+v", got)
	}
	if got := mustCut(t, s, p+period); len(got) != 3 {
		t.Fatalf("cut of the recent period: %+v", got)
	}
	uploadHorizon := p - 21*pact.MinutesPerDay
	tupleHorizon := p - 90*pact.MinutesPerDay
	res, err := s.Cleanup(ctx, uploadHorizon, tupleHorizon, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Batches != 2 || res.Uploads != 2 || res.PermissionNumbers != 2 {
		t.Fatalf("cleanup deleted %+v, want 2 batches (CH.1 by age, DE.1 by tuple age), 2 uploads and 2 expired numbers", res)
	}
	all, err := s.Batches(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID() != "CH.2" || all[1].ID() != "FR.1" {
		t.Fatalf("after cleanup: %+v, want CH.2 and FR.1", all)
	}
	// Numbering continues after the batches that carried it are gone.
	if _, err := s.IssuePermissions(ctx, "Hospital A", [][]byte{hashOf(7)}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	spend(7, "DE", p+period, tuples(1, 7))
	if got := mustCut(t, s, p+2*period); len(got) != 1 || got[0].ID() != "DE.2" {
		t.Fatalf("cut after cleanup: %+v, want DE.2", got)
	}
	if res, err := s.Cleanup(ctx, uploadHorizon, tupleHorizon, now); err != nil || res != (database.CleanupResult{}) {
		t.Fatalf("second cleanup: %+v, %v; want nothing left to delete", res, err)
	}
}

func testPermissionBatches(t *testing.T, s database.Store) {
	ctx := context.Background()
	list, err := s.PermissionBatches(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("empty store lists %+v, %v", list, err)
	}
	var hashes [][]byte
	for i := range 500 {
		hashes = append(hashes, hashOf(i))
	}
	exp := now.Add(30 * 24 * time.Hour)
	id, err := s.IssuePermissions(ctx, "Cantonal Lab", hashes, now, exp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssuePermissions(ctx, "", hashes[:1], now, exp); err == nil {
		t.Fatal("an empty provider name must be refused")
	}
	list, err = s.PermissionBatches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := database.PermissionBatch{ID: id, Provider: "Cantonal Lab", Issued: 500, IssuedAt: now, ExpiresAt: exp}
	if len(list) != 1 || list[0] != want {
		t.Fatalf("list %+v, want [%+v]", list, want)
	}
}

// testHolding holds a region's uploads until it has MinUploads of them or
// the oldest has waited MaxHold, and never publishes a region's uploads
// in two batches when one would do.
func testHolding(t *testing.T, s database.Store) {
	ctx := context.Background()
	var hashes [][]byte
	for i := range 8 {
		hashes = append(hashes, hashOf(i))
	}
	if _, err := s.IssuePermissions(ctx, "Lab", hashes, now, now.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	p0 := pact.MinuteOf(now) / period * period
	policy := func(cutoff pact.Minute) database.CutPolicy {
		return database.CutPolicy{Cutoff: cutoff, PeriodMinutes: period, MinUploads: 3, MaxHold: pact.MinutesPerDay}
	}
	cut := func(cutoff pact.Minute) []database.BatchInfo {
		t.Helper()
		got, err := s.CutBatches(ctx, policy(cutoff), build)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	spend := func(i int, region string, p pact.Minute) {
		t.Helper()
		if err := s.SpendAndStore(ctx, hashOf(i), now, upload(region, p, tuples(2, byte(i)))); err != nil {
			t.Fatal(err)
		}
	}
	spend(0, "CH", p0)
	spend(1, "CH", p0+period)
	spend(2, "DE", p0)
	if got := cut(p0 + 2*period); len(got) != 0 {
		t.Fatalf("cut with 2 and 1 uploads held, k = 3: %+v, want nothing published", got)
	}
	spend(3, "CH", p0+2*period)
	spend(4, "CH", p0+3*period) // in a period still open at the next cut
	got := cut(p0 + 3*period)
	if len(got) != 1 || got[0].ID() != "CH.1" || got[0].Uploads != 3 || got[0].PeriodStart != p0 || got[0].PeriodMinutes != 3*period {
		t.Fatalf("cut with 3 uploads of CH held: %+v, want CH.1 of 3 uploads spanning 3 periods", got)
	}
	// DE's single upload waits until it is a day old, then goes alone.
	if got := cut(p0 + pact.MinutesPerDay - period); len(got) != 0 {
		t.Fatalf("cut before DE's upload is a day old: %+v", got)
	}
	got = cut(p0 + pact.MinutesPerDay)
	if len(got) != 1 || got[0].ID() != "DE.1" || got[0].Uploads != 1 || got[0].PeriodStart != p0 || got[0].PeriodMinutes != pact.MinutesPerDay {
		t.Fatalf("cut a day after DE's upload: %+v, want DE.1 of one upload (CH's last is younger)", got)
	}
	got = cut(p0 + 3*period + pact.MinutesPerDay)
	if len(got) != 1 || got[0].ID() != "CH.2" || got[0].Uploads != 1 || got[0].PeriodStart != p0+3*period {
		t.Fatalf("cut a day after CH's last upload: %+v, want CH.2 of it alone, starting where CH.1 ended", got)
	}
}

// testReverseMarks checks the cut marks Reverse exactly the tuples and
// keys that lie inside their own upload's reverse_tracing range.
func testReverseMarks(t *testing.T, s database.Store) {
	ctx := context.Background()
	if _, err := s.IssuePermissions(ctx, "Lab", [][]byte{hashOf(1), hashOf(2)}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p := pact.MinuteOf(now) / period * period
	consenting := tuples(6, 1)
	keys := []batch.FindMyKey{
		{Key: findmy.Key{1}, Start: consenting[1].Start, End: consenting[1].Start + 14},
		{Key: findmy.Key{2}, Start: consenting[4].Start, End: consenting[4].Start + 14},
	}
	// Consent covers tuples 1..3 whole, tuple 4 only partly.
	up := &database.Upload{Region: "CH", PeriodStart: p, Tuples: consenting, FindMy: keys,
		ReverseFrom: consenting[1].Start, ReverseTo: consenting[4].Start + 10}
	if err := s.SpendAndStore(ctx, hashOf(1), now, up); err != nil {
		t.Fatal(err)
	}
	// The other upload's tuples cover the same hours but it gave no consent.
	other := tuples(6, 2)
	if err := s.SpendAndStore(ctx, hashOf(2), now, upload("CH", p, other)); err != nil {
		t.Fatal(err)
	}
	if got := mustCut(t, s, p+period); len(got) != 1 {
		t.Fatalf("cut %+v, want one batch", got)
	}
	_, data, err := s.Batch(ctx, "CH", 1)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := batch.Decode(data, testKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	want := map[pact.Seed]bool{consenting[1].Seed: true, consenting[2].Seed: true, consenting[3].Seed: true}
	if len(dec.Reverse) != len(dec.Tuples) {
		t.Fatalf("%d reverse marks for %d tuples", len(dec.Reverse), len(dec.Tuples))
	}
	for i, tu := range dec.Tuples {
		if dec.Reverse[i] != want[tu.Seed] {
			t.Errorf("tuple %s [%d, %d] marked %v, want %v", tu.Seed, tu.Start, tu.End, dec.Reverse[i], want[tu.Seed])
		}
	}
	if len(dec.FindMy) != 2 || !dec.FindMy[0].Reverse || dec.FindMy[1].Reverse {
		t.Fatalf("Find My keys %+v: want the first (inside the range) marked, the second (past its end) not", dec.FindMy)
	}
}

// testNumberFeed runs the exposure database's side of a separate testing
// authority: the numbers its feed lists, and only those, are spendable,
// once; a number the next feed drops can no longer be spent; an old feed
// is refused.
func testNumberFeed(t *testing.T, s database.Store) {
	ctx := context.Background()
	p := pact.MinuteOf(now)
	valid := now.Add(time.Hour)
	r, err := s.ImportNumbers(ctx, 10, [][]byte{hashOf(1), hashOf(2), hashOf(3)}, valid)
	if err != nil || r.Added != 3 || r.Removed != 0 || r.Total != 3 {
		t.Fatalf("first import: %+v, %v", r, err)
	}
	spend := func(i int) error { return s.SpendAndStore(ctx, hashOf(i), now, upload("CH", p, tuples(1, byte(i)))) }
	if err := spend(1); err != nil {
		t.Fatalf("spending a fed number: %v", err)
	}
	if err := spend(1); !errors.Is(err, database.ErrPermissionUsed) {
		t.Fatalf("spending it again: %v, want ErrPermissionUsed", err)
	}
	if err := spend(9); !errors.Is(err, database.ErrPermissionUnknown) {
		t.Fatalf("spending an unfed number: %v, want ErrPermissionUnknown", err)
	}
	// The next feed drops 2 (revoked or expired at the authority) and
	// still lists 1 (the authority does not know it was spent).
	r, err = s.ImportNumbers(ctx, 11, [][]byte{hashOf(1), hashOf(3), hashOf(4)}, valid)
	if err != nil || r.Added != 1 || r.Removed != 1 || r.Total != 3 {
		t.Fatalf("second import: %+v, %v; want 1 added, 1 removed, 3 in all", r, err)
	}
	if err := spend(1); !errors.Is(err, database.ErrPermissionUsed) {
		t.Fatalf("a spent number listed again: %v, want ErrPermissionUsed", err)
	}
	if err := spend(2); !errors.Is(err, database.ErrPermissionUnknown) {
		t.Fatalf("a number the feed dropped: %v, want ErrPermissionUnknown", err)
	}
	if _, err := s.ImportNumbers(ctx, 11, [][]byte{hashOf(2)}, valid); !errors.Is(err, database.ErrFeedStale) {
		t.Fatalf("importing sequence 11 again: %v, want ErrFeedStale", err)
	}
	if _, err := s.ImportNumbers(ctx, 5, [][]byte{hashOf(2)}, valid); !errors.Is(err, database.ErrFeedStale) {
		t.Fatalf("importing an older feed: %v, want ErrFeedStale", err)
	}
	if err := spend(2); !errors.Is(err, database.ErrPermissionUnknown) {
		t.Fatalf("a refused stale feed brought back a dropped number: %v", err)
	}
	if err := s.SpendAndStore(ctx, hashOf(3), valid, upload("CH", p, tuples(1, 3))); !errors.Is(err, database.ErrPermissionExpired) {
		t.Fatalf("spending after the feed's validity: %v, want ErrPermissionExpired", err)
	}
	if err := spend(3); err != nil {
		t.Fatalf("the expired attempt must leave the number unspent: %v", err)
	}
	if got := mustCut(t, s, p+period); len(got) != 1 || got[0].Uploads != 2 {
		t.Fatalf("cut %+v, want one batch of the 2 uploads the feed paid for", got)
	}
	// An authority's own store lists what it would feed.
	if _, err := s.IssuePermissions(ctx, "Lab", [][]byte{hashOf(30), hashOf(20)}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	revoked, err := s.IssuePermissions(ctx, "Lab", [][]byte{hashOf(40)}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokePermissionBatch(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssuePermissions(ctx, "Lab", [][]byte{hashOf(50)}, now.Add(-2*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	feed, err := s.ValidPermissionHashes(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	wantFeed := [][]byte{hashOf(20), hashOf(30)}
	slices.SortFunc(wantFeed, bytes.Compare)
	if !slices.EqualFunc(feed, wantFeed, bytes.Equal) {
		t.Fatalf("valid hashes %x, want %x (sorted; no revoked, no expired)", feed, wantFeed)
	}
}

// testConcurrentFeedSpend is testConcurrentSpend for a fed number.
func testConcurrentFeedSpend(t *testing.T, s database.Store) {
	ctx := context.Background()
	if _, err := s.ImportNumbers(ctx, 1, [][]byte{hashOf(1)}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p := pact.MinuteOf(now)
	var wg sync.WaitGroup
	errs := make([]error, ConcurrentAttempts)
	start := make(chan struct{})
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.SpendAndStore(ctx, hashOf(1), now, upload("CH", p, tuples(2, byte(i))))
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, database.ErrPermissionUsed):
			t.Errorf("attempt %d: %v, want success or ErrPermissionUsed", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent attempts spent the fed number, want exactly 1", ok, ConcurrentAttempts)
	}
}
