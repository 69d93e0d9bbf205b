package findmymatch

import (
	"testing"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

func TestSummarize(t *testing.T) {
	day := t0.Day()
	next := pact.Minute((day + 1) * pact.MinutesPerDay)
	fullRow := func(k byte, m pact.Minute, rssi int8) devicedb.FindMyMatch {
		return devicedb.FindMyMatch{Heard: m, Key: key(k), Evidence: devicedb.EvidenceFindMy, Bits: devicedb.FullKeyBits, RSSI: rssi}
	}
	partialRow := func(k byte, m pact.Minute, rssi int8) devicedb.FindMyMatch {
		return devicedb.FindMyMatch{Heard: m, Key: key(k), Evidence: devicedb.EvidenceFindMyPartial, Bits: devicedb.PartialBitsShort, RSSI: rssi}
	}
	separatedRow := func(k byte, m pact.Minute, rssi int8) devicedb.FindMyMatch {
		r := fullRow(k, m, rssi)
		r.Secondary = true
		return r
	}
	for _, tc := range []struct {
		name string
		in   []devicedb.FindMyMatch
		want []DaySummary
	}{
		{name: "nothing", in: nil, want: []DaySummary{}},
		{
			name: "a secondary key's full matches are counted apart from a primary key's",
			in:   []devicedb.FindMyMatch{separatedRow(5, t0, -55), fullRow(1, t0, -75), separatedRow(5, t0+1, -60)},
			want: []DaySummary{
				{Day: day, Evidence: devicedb.EvidenceFindMy, Minutes: 1, Contacts: 1, MaxRSSI: -75, Score: pact.ExposureWeight(-75)},
				{Day: day, Evidence: devicedb.EvidenceFindMy, Secondary: true, Minutes: 2, Contacts: 1, MaxRSSI: -55,
					Score: pact.ExposureWeight(-55) + pact.ExposureWeight(-60)},
			},
		},
		{
			name: "days and evidence apart; minutes, keys, strongest reading and score",
			in: []devicedb.FindMyMatch{
				fullRow(1, t0, -55), fullRow(1, t0+1, -75), fullRow(2, t0+1, pact.RSSIUnknown),
				partialRow(3, t0+5, -65), partialRow(4, t0+20, -85),
				partialRow(3, next, pact.RSSIUnknown),
			},
			want: []DaySummary{
				{Day: day, Evidence: devicedb.EvidenceFindMy, Minutes: 2, Contacts: 2, MaxRSSI: -55,
					Score: pact.WeightNear + pact.WeightFar + pact.WeightUnknown},
				{Day: day, Evidence: devicedb.EvidenceFindMyPartial, Minutes: 2, Contacts: 2, MaxRSSI: -65,
					Score: pact.WeightMedium + pact.WeightDistant},
				{Day: day + 1, Evidence: devicedb.EvidenceFindMyPartial, Minutes: 1, Contacts: 1, MaxRSSI: pact.RSSIUnknown,
					Score: pact.WeightUnknown},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize(tc.in)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("summary %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
