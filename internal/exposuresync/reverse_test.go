package exposuresync

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// staticMirror serves signed batches of region CH the way a static mirror
// of an exposure server does (docs/api.md, "Downloads"): the listing and
// the batch files, encoded by the batch package and signed with key.
type staticMirror struct {
	http  *httptest.Server
	key   ed25519.PrivateKey
	files map[string][]byte
	refs  []batch.Ref
}

func newStaticMirror(t *testing.T, keySeed byte) *staticMirror {
	t.Helper()
	m := &staticMirror{key: ed25519.NewKeyFromSeed(bytesOf(keySeed, ed25519.SeedSize)), files: map[string][]byte{}}
	m.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/regions/CH/batches":
			json.NewEncoder(w).Encode(batch.Listing{Region: "CH", Batches: m.refs})
		case strings.HasPrefix(r.URL.Path, "/v1/batches/"):
			data, ok := m.files[strings.TrimPrefix(r.URL.Path, "/v1/batches/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(m.http.Close)
	return m
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// publish signs the next batch of region CH with tuples, their reverse
// flags (nil for none) and Find My keys.
func (m *staticMirror) publish(t *testing.T, tuples []pact.Tuple, reverse []bool, keys []batch.FindMyKey) {
	t.Helper()
	seq := uint64(len(m.refs) + 1)
	b := &batch.Batch{
		Header: batch.Header{Region: "CH", Sequence: seq, PeriodStart: hourAgo, PeriodMinutes: 10},
		Tuples: slices.Clone(tuples), Reverse: slices.Clone(reverse), FindMy: slices.Clone(keys),
	}
	data, err := batch.EncodeBatch(b, m.key)
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("CH.%d", seq)
	sum := sha256.Sum256(data)
	m.files[id] = data
	m.refs = append(m.refs, batch.Ref{ID: id, Region: "CH", Sequence: seq, PeriodStart: uint32(hourAgo), PeriodMinutes: 10,
		Entries: uint32(len(tuples)), Size: len(data), SHA256: hex.EncodeToString(sum[:])})
}

func (m *staticMirror) server(name string) Server {
	return Server{Name: name, URL: m.http.URL, Key: m.key.Public().(ed25519.PublicKey), Regions: []string{"CH"}}
}

func reverseContacts(t *testing.T, db *devicedb.DB) map[pact.Seed][]pact.Minute {
	t.Helper()
	out := map[pact.Seed][]pact.Minute{}
	if err := db.ReverseContacts(context.Background(), 0, ^pact.Minute(0), func(c pact.Contact) error {
		out[c.Seed] = append(out[c.Seed], c.Heard)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSyncKeepsReverseTracingApart syncs signed batches whose tuples are
// flagged for reverse tracing or not (spec §9.2): a flagged tuple's
// matches are reverse-tracing matches only, an unflagged tuple's are
// ordinary only, and a sighting matched both ways, in one batch or in two,
// is ordinary.
func TestSyncKeepsReverseTracingApart(t *testing.T) {
	a, b := seedOf(1), seedOf(2)
	heardA := []pact.Minute{hourAgo + 5, hourAgo + 6}
	heardB := []pact.Minute{hourAgo + 40}
	tupleA, tupleB := hourTuple(a, hourAgo), hourTuple(b, hourAgo)
	day := hourAgo.Day()
	type published struct {
		tuples  []pact.Tuple
		reverse []bool
	}
	for _, tc := range []struct {
		name        string
		batches     []published
		wantDays    [][]devicedb.DaySource // NewExposure of the sync after each batch
		wantMatches [][2]int               // Applied[0].Matches and ReverseMatches per batch
		ordinary    map[pact.Seed][]pact.Minute
		reverse     map[pact.Seed][]pact.Minute
	}{
		{
			name:        "a flagged tuple gives reverse-tracing matches, an unflagged one ordinary ones",
			batches:     []published{{[]pact.Tuple{tupleA, tupleB}, []bool{true, false}}},
			wantDays:    [][]devicedb.DaySource{{{Day: day, Source: pact.SourcePACT}, {Day: day, Source: pact.SourcePACT, Reverse: true}}},
			wantMatches: [][2]int{{1, 2}},
			ordinary:    map[pact.Seed][]pact.Minute{b: heardB},
			reverse:     map[pact.Seed][]pact.Minute{a: heardA},
		},
		{
			name:        "unflagged tuples never give a reverse-tracing match",
			batches:     []published{{[]pact.Tuple{tupleA, tupleB}, []bool{false, false}}, {[]pact.Tuple{tupleA}, nil}},
			wantDays:    [][]devicedb.DaySource{{{Day: day, Source: pact.SourcePACT}}, nil},
			wantMatches: [][2]int{{3, 0}, {0, 0}},
			ordinary:    map[pact.Seed][]pact.Minute{a: heardA, b: heardB},
			reverse:     map[pact.Seed][]pact.Minute{},
		},
		{
			name: "a seed flagged in one batch and unflagged in a later one is ordinary, announced as an exposure",
			batches: []published{
				{[]pact.Tuple{tupleA}, []bool{true}},
				{[]pact.Tuple{tupleA}, []bool{false}},
			},
			wantDays: [][]devicedb.DaySource{
				{{Day: day, Source: pact.SourcePACT, Reverse: true}},
				{{Day: day, Source: pact.SourcePACT}},
			},
			wantMatches: [][2]int{{0, 2}, {2, 0}},
			ordinary:    map[pact.Seed][]pact.Minute{a: heardA},
			reverse:     map[pact.Seed][]pact.Minute{},
		},
		{
			name: "a seed unflagged in one batch and flagged in a later one stays ordinary",
			batches: []published{
				{[]pact.Tuple{tupleA}, nil},
				{[]pact.Tuple{tupleA}, []bool{true}},
			},
			wantDays:    [][]devicedb.DaySource{{{Day: day, Source: pact.SourcePACT}}, nil},
			wantMatches: [][2]int{{2, 0}, {0, 0}},
			ordinary:    map[pact.Seed][]pact.Minute{a: heardA},
			reverse:     map[pact.Seed][]pact.Minute{},
		},
		{
			name: "within one tuple's seed, the flagged and unflagged halves of the hour are told apart",
			batches: []published{{
				[]pact.Tuple{{Seed: a, Start: hourAgo, End: hourAgo + 5}, {Seed: a, Start: hourAgo + 6, End: hourAgo + 59}},
				[]bool{true, false},
			}},
			wantDays:    [][]devicedb.DaySource{{{Day: day, Source: pact.SourcePACT}, {Day: day, Source: pact.SourcePACT, Reverse: true}}},
			wantMatches: [][2]int{{1, 1}},
			ordinary:    map[pact.Seed][]pact.Minute{a: heardA[1:]},
			reverse:     map[pact.Seed][]pact.Minute{a: heardA[:1]},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openDevice(t)
			hear(t, db, a, -55, heardA...)
			hear(t, db, b, -60, heardB...)
			m := newStaticMirror(t, 9)
			s := newSyncer(t, db, []Server{m.server("lab")}, Options{})
			for i, p := range tc.batches {
				m.publish(t, p.tuples, p.reverse, nil)
				rep, err := s.Sync(ctx)
				if err != nil {
					t.Fatalf("sync %d: %v", i+1, err)
				}
				if len(rep.Applied) != 1 || rep.Applied[0].Matches != tc.wantMatches[i][0] || rep.Applied[0].ReverseMatches != tc.wantMatches[i][1] {
					t.Errorf("sync %d applied %+v, want one batch with %d ordinary and %d reverse-tracing matches", i+1, rep.Applied, tc.wantMatches[i][0], tc.wantMatches[i][1])
				}
				if !slices.Equal(rep.NewExposure, tc.wantDays[i]) {
					t.Errorf("sync %d: new exposure %+v, want %+v", i+1, rep.NewExposure, tc.wantDays[i])
				}
			}
			if got := storedContacts(t, db); !equalMinutes(got, tc.ordinary) {
				t.Errorf("ordinary matches %v, want %v", got, tc.ordinary)
			}
			if got := reverseContacts(t, db); !equalMinutes(got, tc.reverse) {
				t.Errorf("reverse-tracing matches %v, want %v", got, tc.reverse)
			}
		})
	}
}

func equalMinutes(a, b map[pact.Seed][]pact.Minute) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestSplitReverseRefusesFlagsThatDoNotFit(t *testing.T) {
	cs := []pact.Contact{{TupleIndex: 0}, {TupleIndex: 1}}
	for _, tc := range []struct {
		name    string
		b       exposureclient.Batch
		wantErr error
		ord, rv int
	}{
		{"no flags: all ordinary", exposureclient.Batch{Tuples: make([]pact.Tuple, 2)}, nil, 2, 0},
		{"one flag each", exposureclient.Batch{Tuples: make([]pact.Tuple, 2), Reverse: []bool{false, true}}, nil, 1, 1},
		{"fewer flags than tuples", exposureclient.Batch{Tuples: make([]pact.Tuple, 2), Reverse: []bool{true}}, ErrReverseFlags, 0, 0},
		{"a contact of a tuple the batch does not have", exposureclient.Batch{Tuples: make([]pact.Tuple, 1), Reverse: []bool{true}}, ErrReverseFlags, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ord, rv, err := splitReverse(&tc.b, cs)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if len(ord) != tc.ord || len(rv) != tc.rv {
				t.Errorf("%d ordinary and %d reverse-tracing contacts, want %d and %d", len(ord), len(rv), tc.ord, tc.rv)
			}
		})
	}
}

func TestMarkReverseFindMy(t *testing.T) {
	k1, k2 := findmy.Key{1}, findmy.Key{2}
	entry := func(k findmy.Key, start pact.Minute, reverse bool) exposureclient.FindMyKey {
		return exposureclient.FindMyKey{Key: k, Start: start, End: start + 14, Reverse: reverse}
	}
	match := func(k findmy.Key, start pact.Minute) devicedb.FindMyMatch {
		return devicedb.FindMyMatch{Heard: start + 3, Key: k, WindowStart: start, WindowEnd: start + 14}
	}
	for _, tc := range []struct {
		name string
		keys []exposureclient.FindMyKey
		ms   []devicedb.FindMyMatch
		want []bool
	}{
		{"flagged key", []exposureclient.FindMyKey{entry(k1, 100, true), entry(k2, 100, false)}, []devicedb.FindMyMatch{match(k1, 100), match(k2, 100)}, []bool{true, false}},
		{"a key flagged and unflagged is ordinary", []exposureclient.FindMyKey{entry(k1, 100, true), entry(k1, 100, false)}, []devicedb.FindMyMatch{match(k1, 100)}, []bool{false}},
		{"the same key in another window keeps its own flag", []exposureclient.FindMyKey{entry(k1, 100, true), entry(k1, 200, false)}, []devicedb.FindMyMatch{match(k1, 100), match(k1, 200)}, []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			MarkReverseFindMy(&exposureclient.Batch{FindMy: tc.keys}, tc.ms)
			for i, m := range tc.ms {
				if m.Reverse != tc.want[i] {
					t.Errorf("match %d (%v at %v..%v): Reverse %t, want %t", i, m.Key, m.WindowStart, m.WindowEnd, m.Reverse, tc.want[i])
				}
			}
		})
	}
}
