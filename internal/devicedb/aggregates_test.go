package devicedb

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
)

// TestAggregatesEqualGroupByUnderRandomChanges applies random batches (new
// rows, repeats inside a batch and across chunks and batches, RSSI merges
// in both directions, unknown readings, TX powers, a direct source
// replacing a repeated one (pact.PreferDirect), located and unlocated
// runs) and
// retention at minutes inside an hour, and checks after each step that
// the aggregates kept in Go equal a GROUP BY over the contact log.
func TestAggregatesEqualGroupByUnderRandomChanges(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	rng := rand.New(rand.NewPCG(7, 9))
	const base = pact.Minute(29_462_400)
	sources := []pact.Source{pact.SourcePACT, pact.SourceFindMy, pact.SourceRepeater, pact.SourceFindMyRepeater}
	txPowers := []int8{-20, -8, 0, pact.TxPowerUnknown}
	rssis := []int8{-90, -75, -60, -41, pact.RSSIUnknown}
	sighting := func() pact.Sighting {
		s := pact.Sighting{
			Minute:  base + pact.Minute(rng.IntN(400)),
			RSSI:    rssis[rng.IntN(len(rssis))],
			Source:  sources[rng.IntN(len(sources))],
			TxPower: txPowers[rng.IntN(len(txPowers))],
		}
		// 40 distinct chirps over 400 minutes: repeats are frequent.
		s.Chirp = chirpN(byte(rng.IntN(40)))
		if rng.IntN(3) == 0 {
			s.Location = &pact.Location{Lat: 52.5, Lon: 13.4}
		}
		return s
	}
	horizon := base
	for step := range 40 {
		if step%10 == 9 {
			horizon += pact.Minute(17 + rng.IntN(60)) // rarely on an hour's start
			if _, err := db.DeleteSightingsBefore(ctx, horizon); err != nil {
				t.Fatal(err)
			}
		} else {
			batch := make([]pact.Sighting, 1+rng.IntN(700)) // up to three chunks
			for i := range batch {
				batch[i] = sighting()
			}
			if err := db.AddSightings(ctx, batch); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		checkAggregates(t, db)
		if t.Failed() {
			t.Fatalf("after step %d", step)
		}
	}
}

// TestAddSightingsMergesLikeMergeRSSI checks the stored rows after
// merges against pact.MergeRSSI, pact.MergeTxPower and pact.PreferDirect:
// the fast path's rollback must leave nothing of the first attempt
// behind.
func TestAddSightingsMergesLikeMergeRSSI(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	const m = pact.Minute(1000)
	steps := [][]pact.Sighting{
		{{Chirp: chirpN(1), Minute: m, RSSI: -80, Source: pact.SourcePACT}},
		{
			{Chirp: chirpN(2), Minute: m, RSSI: pact.RSSIUnknown, Source: pact.SourceFindMy},
			{Chirp: chirpN(1), Minute: m, RSSI: -70, Source: pact.SourceFindMy}, // source stays pact
			{Chirp: chirpN(2), Minute: m, RSSI: -95, Source: pact.SourceFindMy},
			{Chirp: chirpN(2), Minute: m, RSSI: pact.RSSIUnknown, Source: pact.SourceFindMy},
			{Chirp: chirpN(3), Minute: m, RSSI: -60, TxPower: -8, Source: pact.SourceRepeater},
		},
		{
			{Chirp: chirpN(3), Minute: m, RSSI: -85, TxPower: pact.TxPowerUnknown, Source: pact.SourcePACT}, // direct replaces repeated
			{Chirp: chirpN(3), Minute: m, RSSI: -50, TxPower: -12, Source: pact.SourceRepeater},             // and stays
		},
	}
	for _, batch := range steps {
		if err := db.AddSightings(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	got := map[pact.Chirp]pact.Sighting{}
	if err := db.Sightings(ctx, 0, m, func(s pact.Sighting) error { got[s.Chirp] = s; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[pact.Chirp]pact.Sighting{
		chirpN(1): {Chirp: chirpN(1), Minute: m, RSSI: -70, Source: pact.SourcePACT},
		chirpN(2): {Chirp: chirpN(2), Minute: m, RSSI: -95, Source: pact.SourceFindMy},
		chirpN(3): {Chirp: chirpN(3), Minute: m, RSSI: -50, TxPower: -8, Source: pact.SourcePACT},
	}
	for c, w := range want {
		if g := got[c]; g.RSSI != w.RSSI || g.TxPower != w.TxPower || g.Source != w.Source || g.Minute != w.Minute {
			t.Errorf("row of %x: %+v, want %+v", c[:1], g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	checkAggregates(t, db)
}
