package sim

import (
	"context"
	"encoding/json"
	"os"
	"strings"
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

type rejectCase struct {
	Name            string `json:"name"`
	Devices         int    `json:"devices"`
	Hours           int    `json:"hours"`
	Diagnosed       int    `json:"diagnosed"`
	ChirpsPerMinute int    `json:"chirps_per_minute"`
	WantErr         string `json:"want_err"`
}

// TestConfigRejects checks that Run refuses, with the value at fault, the
// configurations of testdata/rejects.json.
func TestConfigRejects(t *testing.T) {
	b, err := os.ReadFile("testdata/rejects.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []rejectCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := Config{Devices: tc.Devices, Hours: tc.Hours, Diagnosed: tc.Diagnosed, ChirpsPerMinute: tc.ChirpsPerMinute}
			_, err := Run(context.Background(), cfg, &Exposures{}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.WantErr) {
				t.Fatalf("Run(%+v) = %v, want an error mentioning %q", cfg, err, tc.WantErr)
			}
		})
	}
}
