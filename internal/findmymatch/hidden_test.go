package findmymatch

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestMatchHiddenLog checks that a hidden contact log (spec §9.3) gives
// the matches a plain one gives: full keys are found by tag and opened,
// a PACT row with a key's bytes stays no evidence, a key heard from a
// repeater keeps its longer window (spec §9.1.4), and partial sightings
// are read as before.
func TestMatchHiddenLog(t *testing.T) {
	ctx := context.Background()
	logs := []pact.Sighting{
		full(keyA1, t0+3), full(keyL, t0+120-15), full(keyL, t0+134+16), full(keyA3, t0+40),
		{Chirp: pact.Chirp(keyA2), Minute: t0 + 20, RSSI: -60, Source: pact.SourcePACT},
		repeated(keyL, t0+134+15+15), repeated(keyL, t0+134+15+16),
	}
	partial := []devicedb.PartialSighting{short(keyA2, t0+29), short(keyA1, t0+10)}
	var results [2][]string
	for i, hide := range []bool{false, true} {
		db := openDB(t)
		if hide {
			if _, err := db.HideContactLog(ctx, time.Unix(1_800_000_000, 0)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.AddSightings(ctx, logs); err != nil {
			t.Fatal(err)
		}
		if err := db.AddPartialSightings(ctx, partial); err != nil {
			t.Fatal(err)
		}
		ms, err := Match(ctx, db, fixture, Options{BatchID: "b"})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			results[i] = append(results[i], row(m))
		}
	}
	want := []string{"A1 +3 findmy 224", "A1 +10 findmy-partial 48", "A2 +29 findmy-partial 48", "A3 +40 findmy 224", "L +105 findmy 224", "L +164 findmy-repeater 224"}
	if !slices.Equal(results[0], want) {
		t.Fatalf("plain log: %q, want %q", results[0], want)
	}
	if !slices.Equal(results[1], results[0]) {
		t.Errorf("hidden log: %q, plain log: %q", results[1], results[0])
	}
}
