package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
)

// TestPrintSummariesIndirect checks that pact-bridge match prints indirect
// contacts (heard from a repeater, spec §9.1.3) apart from exposures: a
// second table in text, entries marked "indirect" in JSON.
func TestPrintSummariesIndirect(t *testing.T) {
	direct := []pact.DaySummary{{Day: 20759, Minutes: 3, Contacts: 1, Sightings: 3, MaxRSSI: -55, MeanRSSI: -60, RSSISamples: 3, Score: 2.5}}
	indirect := []pact.DaySummary{{Day: 20760, Minutes: 1, Contacts: 1, Sightings: 1, MaxRSSI: pact.RSSIUnknown, Score: 0.5}}
	for _, tc := range []struct {
		name             string
		direct, indirect []pact.DaySummary
		wantIndirect     bool
		wantNone         bool
	}{
		{"both", direct, indirect, true, false},
		{"indirect only", nil, indirect, true, true},
		{"direct only", direct, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var text bytes.Buffer
			if err := printSummaries(&text, "text", tc.direct, tc.indirect); err != nil {
				t.Fatal(err)
			}
			out := text.String()
			if got := strings.Contains(out, "Indirect contacts"); got != tc.wantIndirect {
				t.Errorf("text has an indirect table: %v, want %v:\n%s", got, tc.wantIndirect, out)
			}
			if got := strings.Contains(out, "No exposure found."); got != tc.wantNone {
				t.Errorf("text says no exposure: %v, want %v:\n%s", got, tc.wantNone, out)
			}
			var js bytes.Buffer
			if err := printSummaries(&js, "json", tc.direct, tc.indirect); err != nil {
				t.Fatal(err)
			}
			var days []struct {
				Indirect bool   `json:"indirect"`
				Date     string `json:"date"`
			}
			if err := json.Unmarshal(js.Bytes(), &days); err != nil {
				t.Fatal(err)
			}
			if len(days) != len(tc.direct)+len(tc.indirect) {
				t.Fatalf("%d JSON days, want %d", len(days), len(tc.direct)+len(tc.indirect))
			}
			for i, d := range days {
				if d.Indirect != (i >= len(tc.direct)) {
					t.Errorf("day %d (%s): indirect %v", i, d.Date, d.Indirect)
				}
			}
		})
	}
}
