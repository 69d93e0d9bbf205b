package sim

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

// smallCity is a city small enough for go test: 200 people, two days, a
// high diagnosis rate so that both native and Find My uploads happen, and
// one day of history per upload so that deriving real Find My keys is
// quick.
func smallCity() CityConfig {
	cfg := DefaultCityConfig()
	cfg.Devices, cfg.Days, cfg.Seed = 200, 2, 5
	cfg.DiagnosisRate, cfg.ConsentRate, cfg.CarrierShare = 0.03, 0.8, 0.4
	cfg.UploadDays = 1
	cfg.RegionSize = 100
	cfg.Workers = 2
	return cfg
}

// TestCityMatchesRadio runs a small city through the real exposure
// server and matchers and checks that every observer's matched minutes
// are exactly the minutes in which it received a broadcast that some
// upload covers, for native chirps and Find My keys alike, and that the
// report's figures hang together.
func TestCityMatchesRadio(t *testing.T) {
	rep, err := RunCity(context.Background(), smallCity())
	if err != nil {
		t.Fatal(err)
	}
	a := rep.Accuracy
	if a.Mismatches != 0 {
		t.Errorf("%d observer-days where matched minutes differ from heard uploaded minutes", a.Mismatches)
	}
	if a.MatchedMinutes == 0 || a.MatchedMinutes != a.HeardUploaded {
		t.Errorf("matched %d minutes, heard %d covered by uploads; want equal and not zero", a.MatchedMinutes, a.HeardUploaded)
	}
	if a.FindMyMatches == 0 {
		t.Errorf("no Find My key matched")
	}
	if rep.Uploads == 0 || rep.Uploads > rep.Diagnoses {
		t.Errorf("%d uploads of %d diagnoses", rep.Uploads, rep.Diagnoses)
	}
	if rep.Observers != rep.Natives || a.ObserverDays != rep.Observers*2 {
		t.Errorf("%d observers, %d natives, %d observer-days", rep.Observers, rep.Natives, a.ObserverDays)
	}
	if len(rep.Download.Regions) != 2 || rep.Regions != 2 {
		t.Errorf("%d region downloads for %d regions, want 2", len(rep.Download.Regions), rep.Regions)
	}
	sum := 0.0
	for _, r := range rep.Download.Regions {
		sum += r.BytesPerDay
	}
	// Both regions' batches together are the all-regions download, but
	// for the listings: one listing against two.
	if d := rep.Download.AllRegionsBytesPerDay; d > sum || d < 0.9*sum {
		t.Errorf("all regions %.0f bytes/day, the regions together %.0f", d, sum)
	}
	if rep.Download.SeedHours == 0 || rep.Download.FindMyKeys == 0 || rep.Server.DatabaseBytes < rep.Server.BatchBytes {
		t.Errorf("download %+v, server %+v", rep.Download, rep.Server)
	}
	// Looser rules notify at least as often: recall falls as the RSSI
	// threshold rises.
	prev := Ratio(2)
	for _, r := range GridRSSI {
		cell, _ := a.Cell(r, 15)
		if cell.TP+cell.FN != a.TrulyExposed {
			t.Errorf("rule %d dBm: TP+FN = %d, truly exposed %d", r, cell.TP+cell.FN, a.TrulyExposed)
		}
		if cell.Recall > prev {
			t.Errorf("recall rises from %v to %v at %d dBm", prev, cell.Recall, r)
		}
		prev = cell.Recall
	}
}

// TestCityDeterministic checks that one seed gives one result, whatever
// the number of workers.
func TestCityDeterministic(t *testing.T) {
	cfg := smallCity()
	cfg.Devices, cfg.Days, cfg.CarrierShare = 100, 1, 0 // no key derivation: faster
	a, err := RunCity(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers = 1
	b, err := RunCity(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The server picks chaff from crypto/rand (docs/api.md, "Holding and
	// chaff"), and the compressed time section of a batch then varies by
	// a few bytes between runs; everything the city itself draws is
	// repeatable.
	bytesDiff := math.Abs(float64(a.Download.BatchBytes - b.Download.BatchBytes))
	if a.Accuracy.MatchedMinutes != b.Accuracy.MatchedMinutes || bytesDiff > 0.001*float64(a.Download.BatchBytes) ||
		a.Matching.SightingsPerDeviceDay != b.Matching.SightingsPerDeviceDay || a.Accuracy.TrulyExposed != b.Accuracy.TrulyExposed {
		t.Errorf("two runs of seed %d differ: batch bytes %d, %d; sightings %v, %v\n%+v\n%+v", cfg.Seed, a.Download.BatchBytes, b.Download.BatchBytes, a.Matching.SightingsPerDeviceDay, b.Matching.SightingsPerDeviceDay, a.Accuracy, b.Accuracy)
	}
}

// TestCityConfigRejects checks that RunCity refuses, naming the field and
// value, configurations out of range.
func TestCityConfigRejects(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*CityConfig)
		field string
		value int
	}{
		{"one device", func(c *CityConfig) { c.Devices = 1 }, "Devices", 1},
		{"no days", func(c *CityConfig) { c.Days = 0 }, "Days", 0},
		{"negative observers", func(c *CityConfig) { c.Observers = -1 }, "Observers", -1},
		{"uploads longer than a bundle", func(c *CityConfig) { c.UploadDays = 22 }, "UploadDays", 22},
		{"period not dividing a day", func(c *CityConfig) { c.PeriodMinutes = 7 }, "PeriodMinutes", 7},
		{"consent above one", func(c *CityConfig) { c.ConsentRate = 1.5 }, "ConsentRate", 1500},
		{"start not a midnight", func(c *CityConfig) { c.Start = c.Start.Add(time.Hour) }, "Start", int(DefaultCityConfig().Start.Add(time.Hour).Unix())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultCityConfig()
			tc.edit(&cfg)
			_, err := RunCity(context.Background(), cfg)
			var ce *ConfigError
			if !errors.Is(err, ErrConfig) || !errors.As(err, &ce) {
				t.Fatalf("RunCity = %v, want a *ConfigError", err)
			}
			if ce.Field != tc.field || ce.Value != tc.value {
				t.Errorf("error names %s %d, want %s %d", ce.Field, ce.Value, tc.field, tc.value)
			}
		})
	}
}

// TestRatioJSON checks that an undefined ratio (no cases) survives JSON as
// null, which encoding/json cannot write for NaN.
func TestRatioJSON(t *testing.T) {
	cases := []struct {
		in   Ratio
		want string
	}{
		{Ratio(math.NaN()), "null"},
		{Ratio(math.Inf(1)), "null"},
		{0.25, "0.25"},
		{0, "0"},
	}
	for _, tc := range cases {
		b, err := json.Marshal(ThresholdCell{Precision: tc.in})
		if err != nil {
			t.Fatalf("marshal %v: %v", tc.in, err)
		}
		var back struct {
			Precision json.RawMessage `json:"precision"`
		}
		if err := json.Unmarshal(b, &back); err != nil || string(back.Precision) != tc.want {
			t.Errorf("precision %v encodes as %s (%v), want %s", tc.in, back.Precision, err, tc.want)
		}
		var cell ThresholdCell
		if err := json.Unmarshal(b, &cell); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if got := float64(cell.Precision); (got != float64(tc.in)) && !(math.IsNaN(got) && tc.want == "null") {
			t.Errorf("precision %v reads back as %v", tc.in, got)
		}
	}
}
