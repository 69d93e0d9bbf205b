package harvest

import (
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// benchEvents encodes n synthetic reports as HCI events, the bytes a
// capture or a socket delivers.
func benchEvents(b *testing.B, mix Mix, n int) [][]byte {
	s := NewSynthesizer(1, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), 2*time.Millisecond, mix, 300, 100)
	events := make([][]byte, n)
	var r hci.AdvReport
	for i := range events {
		s.Next(&r)
		ev, err := hci.AppendLEAdvertisingReport(nil, r)
		if err != nil {
			b.Fatal(err)
		}
		events[i] = ev
	}
	return events
}

// BenchmarkParseReport measures HCI event bytes -> classified sighting:
// event decoding, frame parsing, key validation (cached, as for repeated
// keys) and counting.
func BenchmarkParseReport(b *testing.B) {
	mixes := []struct {
		name string
		mix  Mix
	}{
		{"mix", DefaultMix},
		{"findmy", Mix{FindMy: 1}},
		{"pact", Mix{PACT: 1}},
		{"other", Mix{Other: 1}},
	}
	for _, m := range mixes {
		b.Run(m.name, func(b *testing.B) {
			events := benchEvents(b, m.mix, 1<<14)
			h := New()
			var dec hci.AdvDecoder
			var res Result
			sightings := 0
			fn := func(r *hci.AdvReport) error {
				if k := h.Parse(r, &res); k == KindFindMy || k == KindPACT {
					sightings++
				}
				return nil
			}
			ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := dec.Decode(events[i&(len(events)-1)], ts, fn); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
		})
	}
}
