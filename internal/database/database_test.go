package database

import (
	"errors"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
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

// TestCutPolicy: when a region's held uploads are published, and the span
// their batch covers.
func TestCutPolicy(t *testing.T) {
	p := CutPolicy{Cutoff: 10_000, PeriodMinutes: 10, MinUploads: 5, MaxHold: 1440}
	due := []struct {
		name    string
		uploads int
		oldest  pact.Minute
		want    bool
	}{
		{"k uploads", 5, 9_990, true},
		{"fewer than k, young", 4, 9_000, false},
		{"fewer than k, a day old", 1, 10_000 - 1440, true},
		{"fewer than k, a period short of a day", 1, 10_000 - 1430, false},
	}
	for _, tc := range due {
		if got := p.Due(tc.uploads, tc.oldest); got != tc.want {
			t.Errorf("%s: Due(%d, %d) = %v, want %v", tc.name, tc.uploads, tc.oldest, got, tc.want)
		}
	}
	if !(CutPolicy{Cutoff: 10, MinUploads: 5}).Due(1, 0) {
		t.Error("MaxHold 0 must hold nothing")
	}
	spans := []struct {
		name              string
		coveredTo, oldest pact.Minute
		wantStart         pact.Minute
		wantMinutes       uint32
	}{
		{"a region's first batch starts at its oldest upload", 0, 9_000, 9_000, 1_000},
		{"later batches start where the last ended", 9_500, 9_800, 9_500, 500},
		{"a late upload of a cut period", 9_500, 9_400, 9_500, 500},
	}
	for _, tc := range spans {
		start, minutes := p.Span(tc.coveredTo, tc.oldest)
		if start != tc.wantStart || minutes != tc.wantMinutes {
			t.Errorf("%s: Span(%d, %d) = %d, %d; want %d, %d", tc.name, tc.coveredTo, tc.oldest, start, minutes, tc.wantStart, tc.wantMinutes)
		}
	}
}
