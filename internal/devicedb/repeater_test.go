package devicedb

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestRepeatedSightingsPreferDirect checks the contact log's merge of one
// chirp or key heard in one minute both directly and from a repeater
// (spec §9.1.3): the direct source wins, whichever came first, and the
// per-hour aggregate follows the row.
func TestRepeatedSightingsPreferDirect(t *testing.T) {
	ctx := context.Background()
	c, k := pact.Chirp{1}, pact.Chirp{2}
	const m = pact.Minute(29_000_000)
	for _, tc := range []struct {
		name    string
		batches [][]pact.Sighting
		want    []pact.Sighting
	}{
		{"repeated, then direct",
			[][]pact.Sighting{{{Chirp: c, Minute: m, RSSI: -70, Source: pact.SourceRepeater}}, {{Chirp: c, Minute: m, RSSI: -80, Source: pact.SourcePACT}}},
			[]pact.Sighting{{Chirp: c, Minute: m, RSSI: -70, Source: pact.SourcePACT}}},
		{"direct, then repeated",
			[][]pact.Sighting{{{Chirp: k, Minute: m, RSSI: -80, Source: pact.SourceFindMy}}, {{Chirp: k, Minute: m, RSSI: -60, Source: pact.SourceFindMyRepeater}}},
			[]pact.Sighting{{Chirp: k, Minute: m, RSSI: -60, Source: pact.SourceFindMy}}},
		{"repeated only",
			[][]pact.Sighting{{{Chirp: k, Minute: m, RSSI: -80, Source: pact.SourceFindMyRepeater}}, {{Chirp: k, Minute: m, RSSI: -90, Source: pact.SourceFindMyRepeater}}},
			[]pact.Sighting{{Chirp: k, Minute: m, RSSI: -80, Source: pact.SourceFindMyRepeater}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTemp(t)
			for _, b := range tc.batches {
				if err := db.AddSightings(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			var got []pact.Sighting
			if err := db.Sightings(ctx, 0, ^pact.Minute(0), func(s pact.Sighting) error { got = append(got, s); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("contact log %+v, want %+v", got, tc.want)
			}
			hours, err := db.SightingsPerHour(ctx, 0, ^pact.Minute(0))
			if err != nil {
				t.Fatal(err)
			}
			want := []HourCount{{Hour: m / 60 * 60, Source: tc.want[0].Source, Sightings: 1}}
			if !slices.Equal(hours, want) {
				t.Errorf("per-hour counts %+v, want %+v", hours, want)
			}
		})
	}
}

// TestFindMyRepeaterSightingsAndMatches checks that the Find My matcher
// reads keys heard from a repeater with their source, and that their
// matches are stored with evidence findmy-repeater (migration 0009).
func TestFindMyRepeaterSightingsAndMatches(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	const m = pact.Minute(29_000_000)
	in := []pact.Sighting{
		{Chirp: pact.Chirp{1}, Minute: m, RSSI: -60, Source: pact.SourceFindMy},
		{Chirp: pact.Chirp{2}, Minute: m + 1, RSSI: -61, Source: pact.SourceFindMyRepeater},
		{Chirp: pact.Chirp{3}, Minute: m + 2, RSSI: -62, Source: pact.SourceRepeater},
	}
	if err := db.AddSightings(ctx, in); err != nil {
		t.Fatal(err)
	}
	var got []pact.Sighting
	if err := db.FindMySightings(ctx, m, m+10, func(s pact.Sighting) error { got = append(got, s); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, in[:2]) {
		t.Fatalf("Find My sightings %+v, want %+v", got, in[:2])
	}
	ms := []FindMyMatch{
		{Heard: m + 1, Key: findmy.Key{2}, Evidence: EvidenceFindMyRepeater, Bits: FullKeyBits, WindowStart: m - 20, WindowEnd: m - 5, RSSI: -61, Batch: "b"},
	}
	if n, err := db.AddFindMyMatches(ctx, ms); err != nil || n != 1 {
		t.Fatalf("AddFindMyMatches = %d, %v", n, err)
	}
	var stored []FindMyMatch
	if err := db.FindMyMatches(ctx, m, m+10, func(fm FindMyMatch) error { stored = append(stored, fm); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stored, ms) {
		t.Errorf("stored %+v, want %+v", stored, ms)
	}
	bad := ms[0]
	bad.Bits = PartialBitsShort
	if _, err := db.AddFindMyMatches(ctx, []FindMyMatch{bad}); !errors.Is(err, ErrInvalidFindMyMatch) {
		t.Errorf("a repeated key match of %d bits: error %v, want %v", bad.Bits, err, ErrInvalidFindMyMatch)
	}
}

// TestExposureDaysIndirect checks that the summary of contacts heard from
// a repeater is kept apart from the direct one of the same day, and that
// a batch reports the days it changed under the right source.
func TestExposureDaysIndirect(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	day := uint32(20759)
	at := pact.Minute(day * pact.MinutesPerDay)
	a, b := pact.Seed{0xA}, pact.Seed{0xB}
	cs := []pact.Contact{
		{Seed: a, ChirpMinute: at + 10, Heard: at + 10, Chirp: pact.ChirpAt(&a, at+10), RSSI: -55, Source: pact.SourcePACT},
		{Seed: a, ChirpMinute: at + 11, Heard: at + 11, Chirp: pact.ChirpAt(&a, at+11), RSSI: -65, Source: pact.SourcePACT},
		{Seed: b, ChirpMinute: at + 20, Heard: at + 30, Chirp: pact.ChirpAt(&b, at+20), RSSI: -75, Source: pact.SourceRepeater},
	}
	var changed []DaySource
	err := db.ApplyBatch(ctx, AppliedBatch{Server: "s", Region: "r", Sequence: 1, ID: "b1"}, func(tx *BatchTx) error {
		var err error
		changed, err = tx.AddContacts(cs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantChanged := []DaySource{{Day: day, Source: pact.SourcePACT}, {Day: day, Source: pact.SourceRepeater}}
	if !slices.Equal(changed, wantChanged) {
		t.Errorf("changed %+v, want %+v", changed, wantChanged)
	}
	days, err := db.ExposureDays(ctx, 0, ^pact.Minute(0), pact.ScoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []ExposureDay{
		{Day: day, Minutes: 2, Contacts: 1, MaxRSSI: -55, Near: 1, Medium: 1, Score: 1.5, Peak24h: 1.5, PeakEnd: at + 11},
		{Day: day, Indirect: true, Minutes: 1, Contacts: 1, MaxRSSI: -75, Far: 1, Score: 0.25, Peak24h: 0.25, PeakEnd: at + 30},
	}
	if !slices.Equal(days, want) {
		t.Errorf("exposure days %+v, want %+v", days, want)
	}
	direct, err := db.DaySummaries(ctx, 0, ^pact.Minute(0), pact.ScoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	indirect, err := db.IndirectDaySummaries(ctx, 0, ^pact.Minute(0), pact.ScoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(direct) != 1 || direct[0].Minutes != 2 || direct[0].Contacts != 1 || len(indirect) != 1 || indirect[0].Minutes != 1 || indirect[0].MaxRSSI != -75 {
		t.Errorf("summaries direct %+v, indirect %+v; want 2 minutes direct, 1 minute indirect at -75 dBm", direct, indirect)
	}
}

// TestSecondaryKeyFromRepeater checks that a secondary key heard from a
// repeater is a valid match that stays an indirect contact (source
// findmy-repeater, spec §9.1.3), while partial evidence still cannot be
// secondary (docs/findmy.md §7.6).
func TestSecondaryKeyFromRepeater(t *testing.T) {
	for _, tc := range []struct {
		name       string
		evidence   Evidence
		bits       uint8
		wantErr    error
		wantSource pact.Source
	}{
		{"heard directly", EvidenceFindMy, FullKeyBits, nil, SourceFindMySeparated},
		{"heard from a repeater", EvidenceFindMyRepeater, FullKeyBits, nil, pact.SourceFindMyRepeater},
		{"a prefix", EvidenceFindMyPartial, PartialBitsShort, ErrInvalidFindMyMatch, ""},
	} {
		m := FindMyMatch{Heard: 100, Key: findmy.Key{7}, Evidence: tc.evidence, Bits: tc.bits, WindowStart: 0, WindowEnd: 1439, Batch: "b", Secondary: true}
		if err := m.Validate(); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: Validate %v, want %v", tc.name, err, tc.wantErr)
			continue
		}
		if tc.wantErr == nil && m.Source() != tc.wantSource {
			t.Errorf("%s: source %q, want %q", tc.name, m.Source(), tc.wantSource)
		}
	}
}
