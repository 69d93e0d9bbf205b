package demo

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// TestDemoShowsBothExposures runs the demo as `pact-bridge demo` does and
// checks what its overview promises: within about a minute the node is
// exposed through native chirps and through the diagnosed neighbour's
// AirTag, and the matched PACT minutes are exactly the minutes the node
// heard that neighbour.
func TestDemoShowsBothExposures(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	d, err := Start(ctx, Options{Dir: t.TempDir(), Neighbours: 6, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Diagnosed.FindMyKeys == 0 || len(d.Diagnosed.Hours) < 2 {
		t.Fatalf("the diagnosed neighbour shared %d seed-hours and %d keys; want the two hours of the span and the AirTag's keys", len(d.Diagnosed.Hours), d.Diagnosed.FindMyKeys)
	}
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := d.Node.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exposed {
		t.Fatal("status: not exposed after the sync")
	}
	sources := map[string]int{}
	for _, day := range st.Days {
		sources[day.Source] += day.MatchedMinutes
	}
	if sources["pact"] == 0 || sources["findmy-partial"] == 0 {
		t.Fatalf("matched minutes per source %v; want native chirps and the AirTag's prefixes", sources)
	}

	got := map[pact.Minute]bool{}
	now := pact.MinuteOf(time.Now())
	if err := d.Node.DB().Contacts(ctx, now-24*60, now, func(c pact.Contact) error {
		got[c.Heard] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := d.DiagnosedHeard
	if len(want) == 0 || !maps.Equal(got, want) {
		t.Fatalf("matched PACT minutes %v,\nwant the minutes the node heard the diagnosed neighbour %v", sorted(got), sorted(want))
	}
}

func sorted(m map[pact.Minute]bool) []pact.Minute {
	return slices.Sorted(maps.Keys(m))
}
