package database

import (
	"errors"
	"strings"
	"testing"
)

// batchIDCases are the ids ParseBatchID accepts (region, seq) or refuses
// (part at fault).
var batchIDCases = []struct {
	id     string
	region string
	seq    uint64
	part   string
}{
	{"CH.1", "CH", 1, ""},
	{"US-CA.42", "US-CA", 42, ""},
	{"CH.18446744073709551615", "CH", 18446744073709551615, ""},
	{"a.b.7", "", 0, "region"},
	{"CH.0", "", 0, "sequence"},
	{"CH.-1", "", 0, "sequence"},
	{"CH.+1", "", 0, "sequence"},
	{"CH", "", 0, "separator"},
	{".5", "", 0, "region"},
	{"CH.18446744073709551616", "", 0, "sequence"},
	{"../x.1", "", 0, "region"},
}

func TestParseBatchID(t *testing.T) {
	for _, tc := range batchIDCases {
		t.Run(tc.id, func(t *testing.T) {
			region, seq, err := ParseBatchID(tc.id)
			if tc.part != "" {
				var be *BatchIDError
				if !errors.Is(err, ErrBatchID) || !errors.As(err, &be) || be.ID != tc.id || be.Part != tc.part {
					t.Fatalf("ParseBatchID(%q) = %q, %d, %v; want a *BatchIDError about the %s", tc.id, region, seq, err, tc.part)
				}
				return
			}
			if err != nil || region != tc.region || seq != tc.seq {
				t.Fatalf("ParseBatchID(%q) = %q, %d, %v; want %q, %d", tc.id, region, seq, err, tc.region, tc.seq)
			}
			if FormatBatchID(region, seq) != tc.id {
				t.Fatalf("FormatBatchID does not round-trip %q", tc.id)
			}
		})
	}
}

func TestValidProvider(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"Hospital A", true},
		{strings.Repeat("x", 100), true},
		{"", false},
		{strings.Repeat("x", 101), false},
		{"tab\there", false},
		{"del\x7f", false},
	}
	for _, tc := range cases {
		err := ValidProvider(tc.name)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrProvider)) {
			t.Errorf("ValidProvider(%q) = %v, want ok %v or ErrProvider", tc.name, err, tc.ok)
		}
	}
}

func FuzzParseBatchID(f *testing.F) {
	for _, tc := range batchIDCases {
		f.Add(tc.id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		region, seq, err := ParseBatchID(id)
		if err != nil {
			if !errors.Is(err, ErrBatchID) {
				t.Fatalf("%q: error %v does not wrap ErrBatchID", id, err)
			}
			return
		}
		if r2, s2, err := ParseBatchID(FormatBatchID(region, seq)); err != nil || r2 != region || s2 != seq {
			t.Fatalf("%q parsed to %q, %d, which does not round-trip", id, region, seq)
		}
	})
}
