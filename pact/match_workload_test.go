package pact_test

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"slices"
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/pact/internal/workload"
)

// contactKey is what must agree between matchers and with the truth.
type contactKey struct {
	Tuple        int64
	ChirpMinute  pact.Minute
	Heard        pact.Minute
	Chirp        pact.Chirp
	RSSI         int8
	Source       pact.Source
	HasLocation  bool
	LocLat, LocL float64
}

func keyOf(c pact.Contact) contactKey {
	k := contactKey{Tuple: c.TupleIndex, ChirpMinute: c.ChirpMinute, Heard: c.Heard, Chirp: c.Chirp, RSSI: c.RSSI, Source: c.Source}
	if c.Location != nil {
		k.HasLocation, k.LocLat, k.LocL = true, c.Location.Lat, c.Location.Lon
	}
	return k
}

func collect(t *testing.T, run func(iter.Seq2[pact.Tuple, error], func(pact.Contact) error) (pact.MatchReport, error), w *workload.Workload) ([]contactKey, pact.MatchReport) {
	t.Helper()
	var got []contactKey
	rep, err := run(pact.TupleSeq(w.Tuples), func(c pact.Contact) error {
		if c.Seed != w.Tuples[c.TupleIndex].Seed {
			t.Errorf("contact of tuple %d carries the wrong seed", c.TupleIndex)
		}
		got = append(got, keyOf(c))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, rep
}

// TestMatchWorkload runs the smart and the naive matcher over the small
// reference workload and checks them against each other, against the
// planted truth, and against an independent count of the work that could
// possibly match.
func TestMatchWorkload(t *testing.T) {
	w := workload.Generate(workload.Small())
	tol := pact.DefaultMatchTolerance
	m, err := pact.NewMatcher(slices.Values(w.Sightings), pact.MatchOptions{From: w.ExposureStart() - tol, To: w.Config.End})
	if err != nil {
		t.Fatal(err)
	}
	smart, smartRep := collect(t, m.Match, w)
	naive, naiveRep := collect(t, m.MatchNaive, w)
	if !slices.Equal(smart, naive) {
		t.Fatalf("smart found %d contacts, naive %d, and they differ", len(smart), len(naive))
	}
	if !slices.Equal(smartRep.Days, naiveRep.Days) {
		t.Errorf("day summaries differ:\nsmart %+v\nnaive %+v", smartRep.Days, naiveRep.Days)
	}

	var truth []workload.Contact
	for _, c := range smart {
		truth = append(truth, workload.Contact{Tuple: c.Tuple, ChirpMinute: c.ChirpMinute, Heard: c.Heard})
	}
	if !slices.Equal(truth, w.Planted) {
		t.Fatalf("found %d contacts, planted %d:\nfound   %v\nplanted %v", len(truth), len(w.Planted), truth, w.Planted)
	}
	for _, r := range w.Replays {
		if slices.Contains(truth, r) {
			t.Errorf("replay %+v matched", r)
		}
	}

	// Independently: a key is needed for a tuple, and a chirp for a
	// minute, only when some sighting lies within the tolerance.
	heard := map[pact.Minute]bool{}
	for _, s := range w.Sightings {
		heard[s.Minute] = true
	}
	var wantKeys, wantChirps, allChirps int64
	for _, tu := range w.Tuples {
		n := int64(0)
		for t := tu.Start; t <= tu.End; t++ {
			if heard[t-1] || heard[t] || heard[t+1] {
				n++
			}
		}
		if n > 0 {
			wantKeys++
		}
		wantChirps += n
		allChirps += int64(tu.Minutes())
	}
	st := smartRep.Stats
	if st.KeysDerived != wantKeys || st.ChirpsComputed != wantChirps {
		t.Errorf("smart derived %d keys and computed %d chirps; only %d keys and %d chirps could match", st.KeysDerived, st.ChirpsComputed, wantKeys, wantChirps)
	}
	if nst := naiveRep.Stats; nst.KeysDerived != int64(len(w.Tuples)) || nst.ChirpsComputed != allChirps {
		t.Errorf("naive derived %d keys and computed %d chirps, want %d and %d", nst.KeysDerived, nst.ChirpsComputed, len(w.Tuples), allChirps)
	}
	if st.Contacts != int64(len(w.Planted)) || st.Tuples != int64(len(w.Tuples)) {
		t.Errorf("stats %+v: want %d contacts over %d tuples", st, len(w.Planted), len(w.Tuples))
	}
}

// TestMatchOracle checks the matcher against the definition of spec §8.1
// computed the slow, obvious way: every chirp of every tuple looked up in a
// Go map of the contact log.
func TestMatchOracle(t *testing.T) {
	w := workload.Generate(workload.Small())
	byChirp := map[pact.Chirp][]pact.Sighting{}
	for _, s := range w.Sightings {
		byChirp[s.Chirp] = append(byChirp[s.Chirp], s)
	}
	var want []workload.Contact
	var chirps [pact.MinutesPerHour]pact.Chirp
	for i, tu := range w.Tuples {
		pact.NewChirpKey(&tu.Seed).Chirps(tu.Start, chirps[:tu.Minutes()])
		for j, c := range chirps[:tu.Minutes()] {
			m := tu.Start + pact.Minute(j)
			heard := slices.Clone(byChirp[c])
			slices.SortFunc(heard, func(a, b pact.Sighting) int { return cmp.Compare(a.Minute, b.Minute) })
			for _, s := range heard {
				// Direct: |h - t| <= 1 (spec §8.1); from a repeater:
				// t - 1 <= h <= t + D + 1 (§9.1.3).
				late := pact.Minute(1)
				if s.Source.Indirect() {
					late += pact.MaxRepeatDelay
				}
				if h := s.Minute; h+1 >= m && h <= m+late {
					want = append(want, workload.Contact{Tuple: int64(i), ChirpMinute: m, Heard: h})
				}
			}
		}
	}
	m, err := pact.NewMatcher(slices.Values(w.Sightings), pact.MatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []workload.Contact
	if _, err := m.Match(pact.TupleSeq(w.Tuples), func(c pact.Contact) error {
		got = append(got, workload.Contact{Tuple: c.TupleIndex, ChirpMinute: c.ChirpMinute, Heard: c.Heard})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("matcher found %d contacts, the oracle %d", len(got), len(want))
	}
}

// TestLoadMatcher indexes the small workload through the in-memory
// contact store and checks that the result matches exactly what an index
// built from the same sightings finds.
func TestLoadMatcher(t *testing.T) {
	w := workload.Generate(workload.Small())
	ctx := context.Background()
	store := pact.NewMemStore()
	if err := store.AddSightings(ctx, w.Sightings); err != nil {
		t.Fatal(err)
	}
	opts := pact.MatchOptions{From: w.ExposureStart() - 1, To: w.Config.End, Workers: 2}
	loaded, err := pact.LoadMatcher(ctx, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	built, err := pact.NewMatcher(slices.Values(w.Sightings), opts)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Sightings() != built.Sightings() {
		t.Fatalf("loaded %d sightings, built %d", loaded.Sightings(), built.Sightings())
	}
	a, _ := collect(t, loaded.Match, w)
	b, _ := collect(t, built.Match, w)
	if !slices.Equal(a, b) || len(a) != len(w.Planted) {
		t.Fatalf("loaded index found %d contacts, built %d, planted %d", len(a), len(b), len(w.Planted))
	}

	if _, err := pact.LoadMatcher(ctx, failingStore{store}, opts); !errors.Is(err, errStoreBroken) {
		t.Fatalf("LoadMatcher over a failing store: %v, want it to wrap %v", err, errStoreBroken)
	}
}

var errStoreBroken = errors.New("disk on fire")

// failingStore fails every read, to check that LoadMatcher reports it.
type failingStore struct{ pact.ContactStore }

func (failingStore) Sightings(context.Context, pact.Minute, pact.Minute, func(pact.Sighting) error) error {
	return errStoreBroken
}
