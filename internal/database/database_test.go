package database

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type batchIDCase struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	Seq    uint64 `json:"seq"`
	Err    string `json:"err"`
}

func loadBatchIDs(t testing.TB) []batchIDCase {
	raw, err := os.ReadFile("testdata/batch_ids.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []batchIDCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestParseBatchID(t *testing.T) {
	for _, tc := range loadBatchIDs(t) {
		t.Run(tc.ID, func(t *testing.T) {
			region, seq, err := ParseBatchID(tc.ID)
			if tc.Err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Err) {
					t.Fatalf("ParseBatchID(%q) = %q, %d, %v; want error containing %q", tc.ID, region, seq, err, tc.Err)
				}
				return
			}
			if err != nil || region != tc.Region || seq != tc.Seq {
				t.Fatalf("ParseBatchID(%q) = %q, %d, %v; want %q, %d", tc.ID, region, seq, err, tc.Region, tc.Seq)
			}
			if FormatBatchID(region, seq) != tc.ID {
				t.Fatalf("FormatBatchID does not round-trip %q", tc.ID)
			}
		})
	}
}

func FuzzParseBatchID(f *testing.F) {
	for _, tc := range loadBatchIDs(f) {
		f.Add(tc.ID)
	}
	f.Fuzz(func(t *testing.T, id string) {
		region, seq, err := ParseBatchID(id)
		if err != nil {
			return
		}
		if r2, s2, err := ParseBatchID(FormatBatchID(region, seq)); err != nil || r2 != region || s2 != seq {
			t.Fatalf("%q parsed to %q, %d, which does not round-trip", id, region, seq)
		}
	})
}
