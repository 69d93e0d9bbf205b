package pact

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fakeClock drives the logs through hours; set puts it 17 seconds into a
// minute, so that nothing can depend on instants on a minute boundary.
type fakeClock struct{ ManualClock }

func (c *fakeClock) set(m Minute) { c.Set(m.Time().Add(17 * time.Second)) }
func at(hour, minute int) Minute  { return Minute(29_462_400 + hour*60 + minute) }
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
		if err := store.Seeds(ctx, m.HourStart(), m.HourStart(), func(r SeedRecord) error { rec = r; return nil }); err != nil {
			t.Fatal(err)
		}
		if ChirpAt(&rec.Seed, m) != c {
			t.Fatalf("chirp at %v is not PRF(stored seed, minute)", m)
		}
	}
	var hours []Minute
	if err := store.Seeds(ctx, 0, at(10, 0), func(r SeedRecord) error { hours = append(hours, r.Hour()); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(hours) != 3 || hours[0] != at(0, 0) || hours[1] != at(1, 0) || hours[2] != at(3, 0) {
		t.Fatalf("seed hours = %v, want the three hours that chirped", hours)
	}
}

type snoozeCase struct {
	Name   string `json:"name"`
	Events []struct {
		At     int  `json:"at"`
		Snooze *int `json:"snooze_until"`
		Resume bool `json:"resume"`
		Chirp  bool `json:"chirp"`
		WantOK bool `json:"want_ok"`
	} `json:"events"`
	Now        int      `json:"now"`
	WantTuples [][2]int `json:"want_tuples"`
}

// TestSeedLogSnooze drives snoozes and chirps through testdata/snooze.json
// (spec §5.1): no chirp while snoozed, no seed for snoozed minutes, and the
// upload claims only minutes from the first chirp of an hour.
func TestSeedLogSnooze(t *testing.T) {
	var cases []snoozeCase
	loadJSON(t, filepath.Join("testdata", "snooze.json"), &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{}
			log := newTestSeedLog(clock)
			for _, e := range tc.Events {
				clock.set(at(0, e.At))
				switch {
				case e.Snooze != nil:
					until := at(0, *e.Snooze).Time()
					log.Snooze(until)
					if snoozed, u := log.Snoozed(); !snoozed || !u.Equal(until) {
						t.Fatalf("minute %d: Snoozed = %v, %v after Snooze(%v)", e.At, snoozed, u, until)
					}
				case e.Resume:
					log.Snooze(time.Time{})
					if snoozed, _ := log.Snoozed(); snoozed {
						t.Fatalf("minute %d: still snoozed after Snooze(zero time)", e.At)
					}
				case e.Chirp:
					_, m, ok, err := log.ChirpNow(ctx)
					if err != nil || ok != e.WantOK || m != at(0, e.At) {
						t.Fatalf("minute %d: ChirpNow = %v, %v, %v; want ok %v", e.At, m, ok, err, e.WantOK)
					}
				}
			}
			clock.set(at(0, tc.Now))
			tuples, err := log.Bundle(ctx, BundleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tuples) != len(tc.WantTuples) {
				t.Fatalf("bundle = %+v, want windows %v", tuples, tc.WantTuples)
			}
			for i, w := range tc.WantTuples {
				if tuples[i].Start != at(0, w[0]) || tuples[i].End != at(0, w[1]) {
					t.Errorf("tuple %d spans %v..%v, want minutes %d..%d", i, tuples[i].Start, tuples[i].End, w[0], w[1])
				}
			}
		})
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
			if err := store.Seeds(ctx, 0, ^Minute(0), func(r SeedRecord) error { real[r.Hour()] = r.Seed; return nil }); err != nil {
				t.Fatal(err)
			}
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

type retentionCase struct {
	Name          string   `json:"name"`
	Retention     Minute   `json:"retention"`
	Now           Minute   `json:"now"`
	SeedHours     []Minute `json:"seed_hours"`
	Sightings     []Minute `json:"sightings"`
	WantSeedHours []Minute `json:"want_seed_hours"`
	WantSightings []Minute `json:"want_sightings"`
}

// TestRetention checks the horizon of spec §5.3 on both logs, from
// testdata/retention.json: Expire erases what is older than now minus the
// retention period, and Record never stores it in the first place.
func TestRetention(t *testing.T) {
	var cases []retentionCase
	loadJSON(t, filepath.Join("testdata", "retention.json"), &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{}
			store := NewMemStore()
			seeds := NewSeedLog(store, SeedLogOptions{Clock: clock, Retention: tc.Retention})
			contacts := NewContactLog(store, ContactLogOptions{Clock: clock, Retention: tc.Retention})
			var batch []Sighting
			for i, m := range tc.Sightings {
				batch = append(batch, Sighting{Chirp: Chirp{byte(i)}, Minute: m, RSSI: -50, Source: SourcePACT})
			}
			for _, h := range tc.SeedHours {
				if _, err := store.PutSeed(ctx, SeedRecord{Seed: Seed{byte(h)}, Start: h}); err != nil {
					t.Fatal(err)
				}
			}
			if err := store.AddSightings(ctx, batch); err != nil {
				t.Fatal(err)
			}
			clock.set(tc.Now)
			if n, err := seeds.Expire(ctx); err != nil || n != int64(len(tc.SeedHours)-len(tc.WantSeedHours)) {
				t.Errorf("seed Expire = %d, %v; want %d erased", n, err, len(tc.SeedHours)-len(tc.WantSeedHours))
			}
			if n, err := contacts.Expire(ctx); err != nil || n != int64(len(tc.Sightings)-len(tc.WantSightings)) {
				t.Errorf("contact Expire = %d, %v; want %d erased", n, err, len(tc.Sightings)-len(tc.WantSightings))
			}
			hours, minutes := []Minute{}, []Minute{}
			if err := store.Seeds(ctx, 0, ^Minute(0), func(r SeedRecord) error { hours = append(hours, r.Hour()); return nil }); err != nil {
				t.Fatal(err)
			}
			if err := store.Sightings(ctx, 0, ^Minute(0), func(s Sighting) error { minutes = append(minutes, s.Minute); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(hours, tc.WantSeedHours) || !slices.Equal(minutes, tc.WantSightings) {
				t.Fatalf("left seed hours %v and sightings %v, want %v and %v", hours, minutes, tc.WantSeedHours, tc.WantSightings)
			}
			if n, err := contacts.Record(ctx, batch); err != nil || n != len(tc.WantSightings) {
				t.Fatalf("Record at the horizon kept %d, %v; want the %d inside it", n, err, len(tc.WantSightings))
			}
		})
	}
}

type recordRow struct {
	Chirp   byte     `json:"chirp"`
	Minute  Minute   `json:"minute"`
	RSSI    int8     `json:"rssi"`
	TxPower *int8    `json:"tx_power"` // absent: TxPowerUnknown
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
}

func (r recordRow) sighting() Sighting {
	s := Sighting{Chirp: Chirp{r.Chirp}, Minute: r.Minute, RSSI: r.RSSI, TxPower: TxPowerUnknown, Source: SourcePACT}
	if r.TxPower != nil {
		s.TxPower = *r.TxPower
	}
	if r.Lat != nil {
		s.Location = &Location{Lat: *r.Lat, Lon: *r.Lon}
	}
	return s
}

type recordCase struct {
	Name    string `json:"name"`
	MinRSSI *int8  `json:"min_rssi"`
	// KeepLocations turns location logging on; it is off by default.
	KeepLocations bool          `json:"keep_locations"`
	Batches       [][]recordRow `json:"batches"`
	WantKept      []int         `json:"want_kept"`
	Want          []recordRow   `json:"want"`
}

// TestContactLogRecord checks the contact log rules of spec §5.2 from
// testdata/record.json: one entry per chirp and minute with the strongest
// reading and the higher TX power, the minimum RSSI, and no location
// unless location logging is on, coarsened when it is.
func TestContactLogRecord(t *testing.T) {
	var cases []recordCase
	loadJSON(t, filepath.Join("testdata", "record.json"), &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx := context.Background()
			// Minutes in the file are small, so that they lie inside the
			// retention period of a clock this early.
			clock := &fakeClock{}
			clock.set(100)
			log := NewContactLog(NewMemStore(), ContactLogOptions{Clock: clock, MinRSSI: tc.MinRSSI, KeepLocations: tc.KeepLocations})
			for i, rows := range tc.Batches {
				var batch []Sighting
				for _, r := range rows {
					batch = append(batch, r.sighting())
				}
				if n, err := log.Record(ctx, batch); err != nil || n != tc.WantKept[i] {
					t.Fatalf("batch %d: Record = %d, %v; want %d kept", i, n, err, tc.WantKept[i])
				}
			}
			var got []Sighting
			if err := log.Sightings(ctx, 0, ^Minute(0), func(s Sighting) error { got = append(got, s); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.Want) {
				t.Fatalf("stored %+v, want %d entries", got, len(tc.Want))
			}
			for i, w := range tc.Want {
				ws, g := w.sighting(), got[i]
				if g.Chirp != ws.Chirp || g.Minute != ws.Minute || g.RSSI != ws.RSSI || g.TxPower != ws.TxPower ||
					(g.Location == nil) != (ws.Location == nil) || (g.Location != nil && *g.Location != *ws.Location) {
					t.Errorf("entry %d = %+v (location %v), want %+v (location %v)", i, g, g.Location, ws, ws.Location)
				}
			}
		})
	}
}

// TestContactLogRejects checks that an invalid sighting rejects its batch.
func TestContactLogRejects(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	log := NewContactLog(store, ContactLogOptions{Clock: &fakeClock{}})
	for _, tc := range []struct {
		bad  Sighting
		want error
	}{
		{Sighting{Source: "bluetooth-le"}, ErrSource},
		{Sighting{Source: SourcePACT, Location: &Location{91, 0}}, ErrLocation},
	} {
		good := Sighting{Chirp: Chirp{1}, Source: SourcePACT}
		_, err := log.Record(ctx, []Sighting{good, tc.bad})
		var entry *EntryError
		if !errors.Is(err, tc.want) || !errors.As(err, &entry) || entry.Index != 1 {
			t.Errorf("Record(%+v) = %v, want an *EntryError naming entry 1 and wrapping %v", tc.bad, err, tc.want)
		}
	}
	n := 0
	if err := store.Sightings(ctx, 0, ^Minute(0), func(Sighting) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("%d sightings stored from rejected batches, %v", n, err)
	}
}

// TestMemStoreOwnsLocations checks that the memory store, like a database,
// is not changed through a Location pointer a caller keeps or is given.
func TestMemStoreOwnsLocations(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	loc := &Location{Lat: 1, Lon: 2}
	if err := store.AddSightings(ctx, []Sighting{{Chirp: Chirp{1}, Minute: 5, Source: SourcePACT, Location: loc}}); err != nil {
		t.Fatal(err)
	}
	loc.Lat = 50
	read := func() Location {
		var got *Location
		if err := store.Sightings(ctx, 0, 10, func(s Sighting) error { got = s.Location; return nil }); err != nil || got == nil {
			t.Fatalf("Sightings: location %v, %v", got, err)
		}
		return *got
	}
	if got := read(); got != (Location{Lat: 1, Lon: 2}) {
		t.Fatalf("stored location %v changed with the caller's copy", got)
	}
	if err := store.Sightings(ctx, 0, 10, func(s Sighting) error { s.Location.Lon = 99; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != (Location{Lat: 1, Lon: 2}) {
		t.Fatalf("stored location %v changed through a read", got)
	}
}

// ChirpFor serves the current minute and the next, whose chirp a sender
// may switch to up to 30 s early; the next hour's seed then starts at the
// minute asked for. Other minutes are refused with ErrChirpMinute.
func TestSeedLogChirpFor(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{}
	store := NewMemStore()
	log := NewSeedLog(store, SeedLogOptions{Clock: clock})
	tests := []struct {
		now, m  Minute
		wantErr error
	}{
		{at(0, 58), at(0, 58), nil},
		{at(0, 58), at(0, 59), nil},
		{at(0, 59), at(1, 0), nil}, // the next hour, 43 s early
		{at(1, 0), at(1, 0), nil},
		{at(1, 0), at(1, 2), ErrChirpMinute},
		{at(1, 0), at(0, 59), ErrChirpMinute},
	}
	for _, tt := range tests {
		clock.set(tt.now)
		c, ok, err := log.ChirpFor(ctx, tt.m)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("ChirpFor(%v) at %v: %v, want %v", tt.m, tt.now, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		var rec SeedRecord
		if err := store.Seeds(ctx, tt.m.HourStart(), tt.m.HourStart(), func(r SeedRecord) error { rec = r; return nil }); err != nil {
			t.Fatal(err)
		}
		if !ok || ChirpAt(&rec.Seed, tt.m) != c {
			t.Fatalf("ChirpFor(%v) at %v is not PRF(stored seed, minute)", tt.m, tt.now)
		}
	}
	var starts []Minute
	if err := store.Seeds(ctx, 0, at(2, 0), func(r SeedRecord) error { starts = append(starts, r.Start); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []Minute{at(0, 58), at(1, 0)}; !slices.Equal(starts, want) {
		t.Fatalf("seeds start at %v, want %v", starts, want)
	}
}

// TestLocationCoarsen checks the rounding rule of Location.Coarsen (spec
// §12): v × 100 rounded half away from zero, divided by 100, never -0.
func TestLocationCoarsen(t *testing.T) {
	for _, tc := range []struct {
		in, want Location
	}{
		{Location{48.85661, 2.35222}, Location{48.86, 2.35}},
		{Location{0.125, -0.125}, Location{0.13, -0.13}}, // exact halves go away from zero
		{Location{0.124, -0.126}, Location{0.12, -0.13}},
		{Location{-0.001, 0.004}, Location{0, 0}}, // -0.001 rounds to 0, not -0
		{Location{89.999, 179.996}, Location{90, 180}},
		{Location{-90, -180}, Location{-90, -180}},
	} {
		got := tc.in.Coarsen()
		if got != tc.want || math.Signbit(got.Lat) != math.Signbit(tc.want.Lat) || math.Signbit(got.Lon) != math.Signbit(tc.want.Lon) {
			t.Errorf("%v.Coarsen() = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestSeedLogOwn checks that a device recognises its own chirps when a
// repeater brings them back, up to MaxRepeatDelay+τ minutes later and
// across an hour boundary (spec §9.1.3), and nothing else.
func TestSeedLogOwn(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{}
	log := newTestSeedLog(clock)
	if log.Own(Chirp{1}, at(0, 50)) {
		t.Fatal("a log that never chirped owns a chirp")
	}
	chirps := map[Minute]Chirp{}
	for _, m := range []Minute{at(0, 50), at(0, 59), at(1, 0), at(1, 5)} {
		clock.set(m)
		c, _, _, err := log.ChirpNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		chirps[m] = c
	}
	for _, tc := range []struct {
		name  string
		chirp Chirp
		heard Minute
		want  bool
	}{
		{"heard in its minute", chirps[at(1, 5)], at(1, 5), true},
		{"the previous hour's, brought back D minutes later", chirps[at(0, 50)], at(0, 50) + MaxRepeatDelay, true},
		{"the previous hour's, D+τ minutes later", chirps[at(0, 59)], at(0, 59) + MaxRepeatDelay + 1, true},
		{"D+τ+1 minutes later", chirps[at(0, 50)], at(0, 50) + MaxRepeatDelay + 2, false},
		{"heard two minutes before it was sent", chirps[at(1, 5)], at(1, 3), false},
		{"someone else's", Chirp{0xEE}, at(1, 5), false},
	} {
		if got := log.Own(tc.chirp, tc.heard); got != tc.want {
			t.Errorf("%s: Own = %v, want %v", tc.name, got, tc.want)
		}
	}
}
