package devicedb

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// TestDeviceRoundTrip runs the whole device side on SQLite: one device
// chirps from its seed log, another records the chirps in its contact log,
// the first uploads a bundle, the second matches it and stores the result.
func TestDeviceRoundTrip(t *testing.T) {
	ctx := context.Background()
	alice, _ := openTemp(t)
	bob, _ := openTemp(t)
	clock := &pact.ManualClock{}
	seeds := pact.NewSeedLog(alice, pact.SeedLogOptions{Clock: clock})
	contacts := pact.NewContactLog(bob, pact.ContactLogOptions{Clock: clock})
	start := pact.Minute(29_462_400)
	for m := start; m < start+150; m++ {
		clock.Set(m.Time().Add(10 * time.Second))
		c, _, _, err := seeds.ChirpNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m%3 == 0 { // Bob hears every third minute.
			if _, err := contacts.Record(ctx, []pact.Sighting{{Chirp: c, Minute: m, RSSI: -65, Source: pact.SourcePACT}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	bundle, err := seeds.Bundle(ctx, pact.BundleOptions{})
	if err != nil || len(bundle) != 3 {
		t.Fatalf("bundle = %d tuples, %v; want 3", len(bundle), err)
	}
	matcher, err := pact.LoadMatcher(ctx, bob, pact.MatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var found []pact.Contact
	report, err := matcher.Match(pact.TupleSeq(bundle), func(c pact.Contact) error { found = append(found, c); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 50 {
		t.Fatalf("found %d contacts, want 50", len(found))
	}
	for range 2 { // storing the same results twice adds nothing
		if _, err := bob.AddContacts(ctx, found); err != nil {
			t.Fatal(err)
		}
	}
	days, err := bob.DaySummaries(ctx, 0, ^pact.Minute(0), pact.ScoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", days) != fmt.Sprintf("%+v", report.Days) {
		t.Fatalf("stored summaries %+v differ from the match report %+v", days, report.Days)
	}
	if days[0].Minutes != 50 || days[0].Contacts != 3 {
		t.Fatalf("summary = %+v, want 50 minutes from 3 seed-hours", days[0])
	}
	// Retention takes match results with the sightings they came from.
	if _, err := bob.DeleteSightingsBefore(ctx, start+90); err != nil {
		t.Fatal(err)
	}
	left := 0
	if err := bob.Contacts(ctx, 0, ^pact.Minute(0), func(c pact.Contact) error {
		if c.Heard < start+90 {
			t.Errorf("contact heard at %v survived retention", c.Heard)
		}
		left++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if left != 20 {
		t.Fatalf("%d contacts left after retention, want 20", left)
	}
}
