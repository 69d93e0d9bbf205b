package exposuresync

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// hourAgo is the start of the hour two hours before testNow.
var hourAgo = pact.MinuteOf(testNow) - 2*pact.MinutesPerHour

func appliedIDs(r Report) []string {
	var ids []string
	for _, a := range r.Applied {
		ids = append(ids, a.Server+"/"+a.ID)
	}
	return ids
}

// The exposure of a synced batch has exactly the minutes the device heard
// the uploaded seed's chirps in their own minute (within the tolerance),
// and a second sync applies nothing again.
func TestSyncFindsExactlyThePlantedMinutes(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: testNow}
	es := newExposureServer(t, 7, clock, nil)
	db := openDevice(t)
	exposed, bystander, other := seedOf(1), seedOf(2), seedOf(3)
	planted := []pact.Minute{hourAgo + 5, hourAgo + 6, hourAgo + 30}
	hear(t, db, exposed, -55, planted...)
	hear(t, db, bystander, -60, hourAgo+5, hourAgo+7)
	// Replays of the exposed seed's chirps away from their minute: the
	// chirp of minute +10 heard at +20, and of +70 (after the tuple) at +70.
	k := pact.NewChirpKey(&exposed)
	if err := db.AddSightings(ctx, []pact.Sighting{
		{Chirp: k.Chirp(hourAgo + 10), Minute: hourAgo + 20, RSSI: -50, Source: pact.SourcePACT},
		{Chirp: k.Chirp(hourAgo + 70), Minute: hourAgo + 70, RSSI: -50, Source: pact.SourcePACT},
	}); err != nil {
		t.Fatal(err)
	}
	es.upload(t, "CH", []pact.Tuple{hourTuple(exposed, hourAgo)})
	es.upload(t, "CH", []pact.Tuple{hourTuple(other, hourAgo)})
	if n := es.cut(t); n != 1 {
		t.Fatalf("cut %d batches, want 1", n)
	}
	s := newSyncer(t, db, []Server{es.server("lab", "CH")}, Options{})

	rep, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedIDs(rep); !slices.Equal(got, []string{"lab/CH.1"}) || rep.Applied[0].Matches != len(planted) || len(rep.Refused) != 0 {
		t.Fatalf("first sync applied %v (%+v), refused %v; want lab/CH.1 with %d matches", got, rep.Applied, rep.Refused, len(planted))
	}
	wantDay := []devicedb.DaySource{{Day: hourAgo.Day(), Source: pact.SourcePACT}}
	if !slices.Equal(rep.NewExposure, wantDay) {
		t.Fatalf("new exposure %v, want %v", rep.NewExposure, wantDay)
	}
	got := storedContacts(t, db)
	if len(got) != 1 || !slices.Equal(got[exposed], planted) {
		t.Fatalf("stored contacts %v, want only seed 1 at %v", got, planted)
	}

	rep, err = s.Sync(ctx)
	if err != nil || len(rep.Applied) != 0 || len(rep.NewExposure) != 0 {
		t.Fatalf("second sync: %+v, %v; want nothing applied", rep, err)
	}
	applied, err := db.AppliedBatches(ctx, "lab")
	if err != nil || len(applied) != 1 || applied[0].Contacts != len(planted) || applied[0].Tuples != 2 {
		t.Fatalf("applied batch log %+v, %v; want CH.1 once with 2 tuples and %d contacts", applied, err, len(planted))
	}
	if got := storedContacts(t, db); !slices.Equal(got[exposed], planted) {
		t.Fatalf("after the second sync the contacts are %v, want %v", got[exposed], planted)
	}
	st, err := s.Status(ctx)
	if err != nil || len(st) != 1 || st[0].LastError != "" || st[0].LastSuccess.IsZero() ||
		!slices.Equal(st[0].Cursors, []devicedb.SyncCursor{{Region: "CH", Sequence: 1, Updated: st[0].Cursors[0].Updated}}) {
		t.Fatalf("status %+v, %v", st, err)
	}
}

// threeBatches uploads seeds 11, 12 and 13 to region in three periods and
// makes the device hear each at two minutes; it returns the seeds and the
// minutes.
func threeBatches(t *testing.T, es *exposureServer, db *devicedb.DB, region string) ([]pact.Seed, [][]pact.Minute) {
	t.Helper()
	var seeds []pact.Seed
	var minutes [][]pact.Minute
	for i := range 3 {
		s := seedOf(byte(11 + i))
		ms := []pact.Minute{hourAgo + pact.Minute(10*i), hourAgo + pact.Minute(10*i+1)}
		hear(t, db, s, -65, ms...)
		es.upload(t, region, []pact.Tuple{hourTuple(s, hourAgo)})
		if n := es.cut(t); n != 1 {
			t.Fatalf("cut %d batches, want 1", n)
		}
		seeds, minutes = append(seeds, s), append(minutes, ms)
	}
	return seeds, minutes
}

// A sync stopped between batches (a failing observer, a cancelled
// context) keeps what it applied and resumes at the next batch; no batch
// is applied twice.
func TestSyncResumesWithoutApplyingTwice(t *testing.T) {
	errObserver := errors.New("tracker database locked")
	for _, tc := range []struct {
		name    string
		stop    func(cancel context.CancelFunc) error // called on batch 2 of the first sync
		wantErr error
	}{
		{"failing observer", func(context.CancelFunc) error { return errObserver }, errObserver},
		{"cancelled between batches", func(cancel context.CancelFunc) error { cancel(); return nil }, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &testClock{now: testNow}
			es := newExposureServer(t, 7, clock, nil)
			db := openDevice(t)
			seeds, minutes := threeBatches(t, es, db, "CH")
			var mu sync.Mutex
			seen := map[string]int{}
			first := true
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := newSyncer(t, db, []Server{es.server("lab", "CH")}, Options{
				OnBatch: func(_ context.Context, server string, b *exposureclient.Batch) error {
					mu.Lock()
					defer mu.Unlock()
					seen[b.ID]++
					if first && b.Sequence == 2 {
						return tc.stop(cancel)
					}
					return nil
				},
			})
			rep, err := s.Sync(ctx)
			if !errors.Is(err, tc.wantErr) || !slices.Equal(appliedIDs(rep), []string{"lab/CH.1"}) {
				t.Fatalf("interrupted sync applied %v, err %v; want lab/CH.1 and %v", appliedIDs(rep), err, tc.wantErr)
			}
			if got := storedContacts(t, db); len(got) != 1 || !slices.Equal(got[seeds[0]], minutes[0]) {
				t.Fatalf("after the interrupted sync the contacts are %v, want only seed 11 at %v", got, minutes[0])
			}
			st, _ := s.Status(context.Background())
			if st[0].LastError == "" || st[0].Cursors[0].Sequence != 1 {
				t.Fatalf("status after the interrupted sync: %+v", st[0])
			}

			first = false
			rep, err = s.Sync(context.Background())
			if err != nil || !slices.Equal(appliedIDs(rep), []string{"lab/CH.2", "lab/CH.3"}) {
				t.Fatalf("resumed sync applied %v, err %v; want lab/CH.2 and lab/CH.3", appliedIDs(rep), err)
			}
			got := storedContacts(t, db)
			for i, s := range seeds {
				if !slices.Equal(got[s], minutes[i]) {
					t.Errorf("seed %d: contacts %v, want %v", 11+i, got[s], minutes[i])
				}
			}
			applied, _ := db.AppliedBatches(context.Background(), "lab")
			if len(applied) != 3 {
				t.Fatalf("applied batch log has %d entries, want 3", len(applied))
			}
			if seen["CH.1"] != 1 || seen["CH.3"] != 1 {
				t.Fatalf("observer saw %v; batches 1 and 3 once each", seen)
			}
		})
	}
}

// tamperer serves the real server but can alter the bytes of one batch.
type tamperer struct {
	id     atomic.Value // string: "CH.2", or "" for none
	modify func(real, other []byte) []byte
	next   http.Handler
}

func (tp *tamperer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, _ := tp.id.Load().(string)
	if id == "" || r.URL.Path != "/v1/batches/"+id {
		tp.next.ServeHTTP(w, r)
		return
	}
	fetch := func(path string) []byte {
		rec := httptest.NewRecorder()
		tp.next.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Body.Bytes()
	}
	w.Header().Set("Content-Type", "application/vnd.pact.batch")
	w.Write(tp.modify(fetch(r.URL.Path), fetch("/v1/batches/CH.1")))
}

// A batch that fails verification is refused and recorded, nothing of it
// is stored, the region stops there, and it is applied once a later sync
// fetches it intact.
func TestSyncRefusesAlteredBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		modify  func(real, other []byte) []byte
		kind    string
		wantErr error
	}{
		{"flipped byte", func(b, _ []byte) []byte {
			b = bytes.Clone(b)
			b[len(b)/2] ^= 0x40
			return b
		}, "tampered", exposureclient.ErrTampered},
		{"cut short", func(b, _ []byte) []byte { return b[:len(b)-10] }, "truncated", exposureclient.ErrTruncated},
		{"padded", func(b, _ []byte) []byte { return append(bytes.Clone(b), 0) }, "truncated", exposureclient.ErrTruncated},
		{"another batch", func(_, other []byte) []byte { return other }, "replayed", exposureclient.ErrReplayed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clock := &testClock{now: testNow}
			tp := &tamperer{modify: tc.modify}
			tp.id.Store("")
			es := newExposureServer(t, 7, clock, func(h http.Handler) http.Handler { tp.next = h; return tp })
			db := openDevice(t)
			seeds, minutes := threeBatches(t, es, db, "CH")
			tp.id.Store("CH.2")
			s := newSyncer(t, db, []Server{es.server("lab", "CH")}, Options{})

			for attempt := 1; attempt <= 2; attempt++ {
				rep, err := s.Sync(ctx)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("sync %d: err %v, want %v", attempt, err, tc.wantErr)
				}
				wantApplied := []string{"lab/CH.1"}
				if attempt == 2 {
					wantApplied = nil
				}
				if !slices.Equal(appliedIDs(rep), wantApplied) || len(rep.Refused) != 1 ||
					rep.Refused[0].ID != "CH.2" || rep.Refused[0].Kind != tc.kind || !rep.Refused[0].At.Equal(testNow.Add(time.Hour)) || !errors.Is(rep.Refused[0].Err, tc.wantErr) {
					t.Fatalf("sync %d applied %v, refused %+v; want %v and CH.2 %s", attempt, appliedIDs(rep), rep.Refused, wantApplied, tc.kind)
				}
				got := storedContacts(t, db)
				if len(got) != 1 || !slices.Equal(got[seeds[0]], minutes[0]) {
					t.Fatalf("sync %d stored contacts %v; want only seed 11", attempt, got)
				}
				refused, err := db.RefusedBatches(ctx, "lab")
				if err != nil || len(refused) != 1 || refused[0].Attempts != attempt || refused[0].Applied ||
					refused[0].Region != "CH" || refused[0].Sequence != 2 || refused[0].Kind != tc.kind {
					t.Fatalf("sync %d: refused batches %+v, %v", attempt, refused, err)
				}
				st, _ := s.Status(ctx)
				if st[0].LastError == "" || !st[0].LastSuccess.IsZero() || st[0].Cursors[0].Sequence != 1 || len(st[0].Refused) != 1 {
					t.Fatalf("sync %d: status %+v", attempt, st[0])
				}
			}

			tp.id.Store("")
			rep, err := s.Sync(ctx)
			if err != nil || !slices.Equal(appliedIDs(rep), []string{"lab/CH.2", "lab/CH.3"}) {
				t.Fatalf("sync of the intact batches applied %v, err %v", appliedIDs(rep), err)
			}
			refused, _ := db.RefusedBatches(ctx, "lab")
			if len(refused) != 1 || !refused[0].Applied {
				t.Fatalf("refused batches after the repair: %+v; want CH.2 marked applied", refused)
			}
			if got := storedContacts(t, db); len(got) != 3 {
				t.Fatalf("contacts after the repair: %v, want seeds 11, 12, 13", got)
			}
		})
	}
}

// A device follows the regions it names, or every region.
func TestSyncRegions(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: testNow}
	es := newExposureServer(t, 7, clock, nil)
	regions := []string{"CH", "DE", "FR"}
	named, all := openDevice(t), openDevice(t)
	for i, r := range regions {
		s := seedOf(byte(20 + i))
		for _, db := range []*devicedb.DB{named, all} {
			hear(t, db, s, -70, hourAgo+pact.Minute(i))
		}
		es.upload(t, r, []pact.Tuple{hourTuple(s, hourAgo)})
	}
	if n := es.cut(t); n != 3 {
		t.Fatalf("cut %d batches, want 3", n)
	}
	es.upload(t, "DE", []pact.Tuple{hourTuple(seedOf(99), hourAgo)})
	if n := es.cut(t); n != 1 {
		t.Fatalf("cut %d batches, want 1", n)
	}
	for _, tc := range []struct {
		name    string
		db      *devicedb.DB
		regions []string
		applied []string
		cursors map[string]uint64
	}{
		{"CH and DE", named, []string{"DE", "CH"}, []string{"lab/DE.1", "lab/DE.2", "lab/CH.1"}, map[string]uint64{"CH": 1, "DE": 2}},
		{"all", all, nil, []string{"lab/CH.1", "lab/DE.1", "lab/DE.2", "lab/FR.1"}, map[string]uint64{"CH": 1, "DE": 2, "FR": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSyncer(t, tc.db, []Server{es.server("lab", tc.regions...)}, Options{})
			rep, err := s.Sync(ctx)
			if err != nil || !slices.Equal(appliedIDs(rep), tc.applied) {
				t.Fatalf("applied %v, err %v; want %v", appliedIDs(rep), err, tc.applied)
			}
			if got := storedContacts(t, tc.db); len(got) != len(tc.cursors) {
				t.Fatalf("contacts of %d seeds, want one per followed region (%d)", len(got), len(tc.cursors))
			}
			cursors, _ := tc.db.SyncCursors(ctx, "lab")
			got := map[string]uint64{}
			for _, c := range cursors {
				got[c.Region] = c.Sequence
			}
			if len(got) != len(tc.cursors) {
				t.Fatalf("cursors %v, want %v", got, tc.cursors)
			}
			for r, seq := range tc.cursors {
				if got[r] != seq {
					t.Fatalf("cursors %v, want %v", got, tc.cursors)
				}
			}
		})
	}
}

// Several servers are followed side by side, each with its own cursors; a
// server whose batches do not verify under its pinned key is refused
// without holding up the others.
func TestSyncServers(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: testNow}
	a, b := newExposureServer(t, 7, clock, nil), newExposureServer(t, 8, clock, nil)
	db := openDevice(t)
	sa, sb := seedOf(30), seedOf(31)
	hear(t, db, sa, -50, hourAgo+1)
	hear(t, db, sb, -50, hourAgo+2)
	a.upload(t, "CH", []pact.Tuple{hourTuple(sa, hourAgo)})
	b.upload(t, "CH", []pact.Tuple{hourTuple(sb, hourAgo)})
	a.cut(t)
	clock.Add(-10 * time.Minute) // both servers share the clock
	b.cut(t)
	wrongKey := a.server("a-with-b-key", "CH")
	wrongKey.Key = b.key
	s := newSyncer(t, db, []Server{a.server("a", "CH"), wrongKey, b.server("b")}, Options{})
	rep, err := s.Sync(ctx)
	if !errors.Is(err, exposureclient.ErrTampered) || !slices.Equal(appliedIDs(rep), []string{"a/CH.1", "b/CH.1"}) {
		t.Fatalf("applied %v, err %v; want a/CH.1 and b/CH.1 and the wrongly keyed server refused", appliedIDs(rep), err)
	}
	if len(rep.Refused) != 1 || rep.Refused[0].Server != "a-with-b-key" || rep.Refused[0].Kind != "tampered" {
		t.Fatalf("refused %+v", rep.Refused)
	}
	if got := storedContacts(t, db); len(got) != 2 || len(got[sa]) != 1 || len(got[sb]) != 1 {
		t.Fatalf("contacts %v, want one of each server's seed", got)
	}
	st, err := s.Status(ctx)
	if err != nil || len(st) != 3 || st[0].LastError != "" || st[1].LastError == "" || st[2].LastError != "" || len(st[1].Refused) != 1 {
		t.Fatalf("status %+v, %v", st, err)
	}
}

// The Find My hook runs inside the batch's transaction: when it fails, the
// batch's PACT matches are not kept either, and the batch is retried.
func TestFindMyHookSharesTheTransaction(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: testNow}
	es := newExposureServer(t, 7, clock, nil)
	db := openDevice(t)
	sd := seedOf(40)
	hear(t, db, sd, -50, hourAgo+3)
	es.upload(t, "CH", []pact.Tuple{hourTuple(sd, hourAgo)})
	es.cut(t)
	errHook := errors.New("find my store full")
	fail := true
	var calls int
	s := newSyncer(t, db, []Server{es.server("lab", "CH")}, Options{
		FindMy: func(ctx context.Context, tx *devicedb.BatchTx, b *exposureclient.Batch) ([]devicedb.DaySource, error) {
			calls++
			if tx.Contacts() != 1 {
				t.Errorf("the hook sees %d PACT matches stored in its transaction, want 1", tx.Contacts())
			}
			if fail {
				return nil, errHook
			}
			return []devicedb.DaySource{{Day: hourAgo.Day(), Source: "findmy"}}, nil
		},
	})
	if _, err := s.Sync(ctx); !errors.Is(err, errHook) {
		t.Fatalf("sync with a failing hook: %v, want %v", err, errHook)
	}
	if got := storedContacts(t, db); len(got) != 0 {
		t.Fatalf("a batch whose Find My hook failed left contacts %v", got)
	}
	fail = false
	rep, err := s.Sync(ctx)
	want := []devicedb.DaySource{{Day: hourAgo.Day(), Source: "findmy"}, {Day: hourAgo.Day(), Source: pact.SourcePACT}}
	if err != nil || !slices.Equal(rep.NewExposure, want) || calls != 2 {
		t.Fatalf("sync: %+v, %v, %d hook calls; want exposure %v", rep, err, calls, want)
	}
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	db := openDevice(t)
	key := make([]byte, 32)
	ok := Server{Name: "a", URL: "http://127.0.0.1:1", Key: key}
	for _, tc := range []struct {
		name    string
		servers []Server
		opts    Options
	}{
		{"no server", nil, Options{}},
		{"empty name", []Server{{URL: ok.URL, Key: key}}, Options{}},
		{"duplicate name", []Server{ok, ok}, Options{}},
		{"bad region", []Server{{Name: "a", URL: ok.URL, Key: key, Regions: []string{"C H"}}}, Options{}},
		{"duplicate region", []Server{{Name: "a", URL: ok.URL, Key: key, Regions: []string{"CH", "CH"}}}, Options{}},
		{"short key", []Server{{Name: "a", URL: ok.URL, Key: key[:31]}}, Options{}},
		{"ftp", []Server{{Name: "a", URL: "ftp://x", Key: key}}, Options{}},
		{"retention past the matcher's span", []Server{ok}, Options{Retention: pact.MaxMatchSpan}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(db, tc.servers, tc.opts); !errors.Is(err, ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
}
