package sim

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"
)

type scenario struct {
	Name       string    `json:"name"`
	Devices    int       `json:"devices"`
	Hours      int       `json:"hours"`
	Start      time.Time `json:"start"`
	Diagnosed  int       `json:"diagnosed"`
	RandSeed   uint64    `json:"rand_seed"`
	MinExposed int       `json:"min_exposed"`
}

// TestMatchesAgreeWithTruth runs whole simulations and checks that every
// device learns, from the upload alone, exactly the minutes in which it
// really heard the diagnosed device: no contact missed, none invented.
func TestMatchesAgreeWithTruth(t *testing.T) {
	b, err := os.ReadFile("testdata/scenarios.json")
	if err != nil {
		t.Fatal(err)
	}
	var scenarios []scenario
	if err := json.Unmarshal(b, &scenarios); err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			cfg := Config{Devices: sc.Devices, Hours: sc.Hours, Start: sc.Start, Diagnosed: sc.Diagnosed, RandSeed: sc.RandSeed}
			exposures := &Exposures{}
			res, err := Run(context.Background(), cfg, exposures, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Uploaded != sc.Hours || len(exposures.tuples) != sc.Hours {
				t.Errorf("uploaded %d tuples, want one per simulated hour (%d)", res.Uploaded, sc.Hours)
			}
			if len(res.Outcomes) != sc.Devices-1 {
				t.Fatalf("%d outcomes for %d devices", len(res.Outcomes), sc.Devices)
			}
			exposed := 0
			for _, o := range res.Outcomes {
				if o.Device == sc.Diagnosed {
					t.Errorf("the diagnosed device matched itself")
				}
				if got := o.MatchedMinutes(); got != o.TrueHeardMinutes {
					t.Errorf("device %d matched %d minutes, really heard the diagnosed device in %d", o.Device, got, o.TrueHeardMinutes)
				}
				if o.MatchedMinutes() > 0 {
					exposed++
					if o.Score() <= 0 {
						t.Errorf("device %d exposed with score %v", o.Device, o.Score())
					}
				}
			}
			if exposed < sc.MinExposed {
				t.Errorf("%d devices exposed, want at least %d", exposed, sc.MinExposed)
			}
		})
	}
}

// TestConfigRejects checks that Run refuses, naming the field and value
// at fault, configurations out of range.
func TestConfigRejects(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		field string
		value int
	}{
		{"one device", Config{Devices: 1}, "Devices", 1},
		{"diagnosed device out of range", Config{Devices: 5, Diagnosed: 5}, "Diagnosed", 5},
		{"negative diagnosed device", Config{Devices: 5, Diagnosed: -1}, "Diagnosed", -1},
		{"longer than an upload covers", Config{Devices: 5, Hours: 505}, "Hours", 505},
		{"negative hours", Config{Devices: 5, Hours: -1}, "Hours", -1},
		{"negative chirp rate", Config{Devices: 5, ChirpsPerMinute: -1}, "ChirpsPerMinute", -1},
		{"chirp rate above one per 100 ms", Config{Devices: 5, ChirpsPerMinute: 601}, "ChirpsPerMinute", 601},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.cfg, &Exposures{}, nil)
			var ce *ConfigError
			if !errors.Is(err, ErrConfig) || !errors.As(err, &ce) {
				t.Fatalf("Run(%+v) = %v, want a *ConfigError", tc.cfg, err)
			}
			if ce.Field != tc.field || ce.Value != tc.value {
				t.Errorf("error names %s %d, want %s %d", ce.Field, ce.Value, tc.field, tc.value)
			}
		})
	}
}
