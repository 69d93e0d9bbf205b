package pact

import (
	"context"
	"encoding/json"

	"path/filepath"
	"testing"
	"time"
)

// fakeClock is a settable clock for driving the logs through hours.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }
func (c *fakeClock) set(m Minute)   { c.t = m.Time().Add(17 * time.Second) }
func at(hour, minute int) Minute    { return Minute(29_462_400 + hour*60 + minute) }
func newTestSeedLog(c *fakeClock) *SeedLog {
	return NewSeedLog(NewMemStore(), SeedLogOptions{Clock: c})
}

func TestSeedLogRotatesEachHour(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{}
	store := NewMemStore()
	log := NewSeedLog(store, SeedLogOptions{Clock: clock})
	seen := map[Chirp]bool{}
	for _, m := range []Minute{at(0, 5), at(0, 6), at(0, 59), at(1, 0), at(1, 30), at(3, 2)} {
		clock.set(m)
		c, got, ok, err := log.ChirpNow(ctx)
		if err != nil || !ok || got != m {
			t.Fatalf("ChirpNow at %v = %v, %v, %v", m, got, ok, err)
		}
		if seen[c] {
			t.Fatalf("chirp at %v repeats an earlier one", m)
		}
		seen[c] = true
		// The chirp must be PRF(seed of that hour, minute).
		var rec SeedRecord
		store.Seeds(ctx, m.HourStart(), m.HourStart(), func(r SeedRecord) error { rec = r; return nil })
		if ChirpAt(&rec.Seed, m) != c {
			t.Fatalf("chirp at %v is not PRF(stored seed, minute)", m)
		}
	}
	var hours []Minute
	store.Seeds(ctx, 0, at(10, 0), func(r SeedRecord) error { hours = append(hours, r.Hour()); return nil })
	if len(hours) != 3 || hours[0] != at(0, 0) || hours[1] != at(1, 0) || hours[2] != at(3, 0) {
		t.Fatalf("seed hours = %v, want the three hours that chirped", hours)
	}
}

func TestSeedLogSnooze(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{}
	log := newTestSeedLog(clock)
	clock.set(at(0, 10))
	log.Snooze(at(0, 20).Time())
	if _, _, ok, _ := log.ChirpNow(ctx); ok {
		t.Fatal("chirped while snoozed")
	}
	clock.set(at(0, 20))
	if _, _, ok, _ := log.ChirpNow(ctx); !ok {
		t.Fatal("did not resume after the snooze ended")
	}
	tuples, err := log.Bundle(ctx, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The seed was drawn at the first chirp, so the snoozed minutes 10-19
	// are not claimed by the upload.
	if len(tuples) != 1 || tuples[0].Start != at(0, 20) || tuples[0].End != at(0, 20) {
		t.Fatalf("bundle = %+v, want one tuple starting and ending at %v", tuples, at(0, 20))
	}
}

type bundleCase struct {
	Name         string `json:"name"`
	ChirpHours   []int  `json:"chirp_hours"`
	NowHour      int    `json:"now_hour"`
	NowMinute    int    `json:"now_minute"`
	FromHour     *int   `json:"from_hour"`
	ExcludeHours []int  `json:"exclude_hours"`
	WantHours    []int  `json:"want_hours"`
	WantLastEnd  int    `json:"want_last_end_minute"`
}

func TestBundle(t *testing.T) {
	var cases []bundleCase
	loadJSON(t, filepath.Join("testdata", "bundle.json"), &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{}
			store := NewMemStore()
			log := NewSeedLog(store, SeedLogOptions{Clock: clock})
			for _, h := range tc.ChirpHours {
				clock.set(at(h, 0))
				if _, _, _, err := log.ChirpNow(ctx); err != nil {
					t.Fatal(err)
				}
			}
			clock.set(at(tc.NowHour, tc.NowMinute))
			excluded := map[Minute]bool{}
			for _, h := range tc.ExcludeHours {
				excluded[at(h, 0)] = true
			}
			opts := BundleOptions{Exclude: func(h Minute) bool { return excluded[h] }}
			if tc.FromHour != nil {
				opts.From = at(*tc.FromHour, 0).Time()
			}
			tuples, err := log.Bundle(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			real := map[Minute]Seed{}
			store.Seeds(ctx, 0, ^Minute(0), func(r SeedRecord) error { real[r.Hour()] = r.Seed; return nil })
			if len(tuples) != len(tc.WantHours) {
				t.Fatalf("got %d tuples %+v, want hours %v", len(tuples), tuples, tc.WantHours)
			}
			for i, h := range tc.WantHours {
				tu := tuples[i]
				if tu.Start != at(h, 0) {
					t.Errorf("tuple %d starts %v, want %v", i, tu.Start, at(h, 0))
				}
				if err := tu.Validate(LimitsAt(at(tc.NowHour, tc.NowMinute), DefaultRetention)); err != nil {
					t.Errorf("tuple %d invalid: %v", i, err)
				}
				if got := tu.Seed == real[at(h, 0)]; got == excluded[at(h, 0)] {
					t.Errorf("hour %d: real seed uploaded = %v, excluded = %v", h, got, excluded[at(h, 0)])
				}
			}
			if n := len(tuples); n > 0 && tuples[n-1].End != at(tc.WantHours[n-1], 0)+Minute(tc.WantLastEnd) {
				t.Errorf("last tuple ends %v, want minute %d of its hour", tuples[n-1].End, tc.WantLastEnd)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{}
	store := NewMemStore()
	seeds := NewSeedLog(store, SeedLogOptions{Clock: clock})
	contacts := NewContactLog(store, ContactLogOptions{Clock: clock})
	clock.set(at(0, 0))
	seeds.ChirpNow(ctx)
	contacts.Record(ctx, []Sighting{{Minute: at(0, 0), RSSI: -50, Source: SourcePACT}})
	day91 := at(0, 0) + DefaultRetention + 60
	clock.set(day91)
	seeds.ChirpNow(ctx)
	contacts.Record(ctx, []Sighting{{Minute: day91, RSSI: -50, Source: SourcePACT}})
	// A sighting already past the horizon is never stored.
	if n, _ := contacts.Record(ctx, []Sighting{{Minute: at(0, 1), RSSI: -50, Source: SourcePACT}}); n != 0 {
		t.Fatalf("stored %d expired sightings", n)
	}
	if n, err := seeds.Expire(ctx); err != nil || n != 1 {
		t.Fatalf("seed Expire = %d, %v; want 1", n, err)
	}
	if n, err := contacts.Expire(ctx); err != nil || n != 1 {
		t.Fatalf("contact Expire = %d, %v; want 1", n, err)
	}
	n := 0
	store.Seeds(ctx, 0, ^Minute(0), func(SeedRecord) error { n++; return nil })
	store.Sightings(ctx, 0, ^Minute(0), func(Sighting) error { n++; return nil })
	if n != 2 {
		t.Fatalf("%d records left, want the 2 recent ones", n)
	}
}

func TestContactLogRecord(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{}
	clock.set(at(5, 0))
	min := int8(-80)
	store := NewMemStore()
	log := NewContactLog(store, ContactLogOptions{Clock: clock, MinRSSI: &min})
	n, err := log.Record(ctx, []Sighting{
		{Chirp: Chirp{1}, Minute: at(4, 0), RSSI: -81, Source: SourcePACT},
		{Chirp: Chirp{2}, Minute: at(4, 0), RSSI: -80, Source: SourcePACT},
		{Chirp: Chirp{3}, Minute: at(4, 0), RSSI: RSSIUnknown, Source: SourceFindMy, Location: &Location{48.85661, 2.35222}},
	})
	if err != nil || n != 2 {
		t.Fatalf("Record = %d, %v; want 2 kept", n, err)
	}
	var got []Sighting
	log.Sightings(ctx, 0, ^Minute(0), func(s Sighting) error { got = append(got, s); return nil })
	if len(got) != 2 || got[0].Chirp != (Chirp{2}) || got[1].Location == nil || *got[1].Location != (Location{48.86, 2.35}) {
		b, _ := json.Marshal(got)
		t.Fatalf("stored %s", b)
	}
	if _, err := log.Record(ctx, []Sighting{{Source: "bluetooth-le"}}); err == nil {
		t.Fatal("accepted an unknown source")
	}
	if _, err := log.Record(ctx, []Sighting{{Source: SourcePACT, Location: &Location{91, 0}}}); err == nil {
		t.Fatal("accepted latitude 91")
	}
}
