package harvest

import (
	"fmt"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
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

// BenchmarkParseNativeFrame compares the two native frame versions from
// HCI event bytes to a PACT sighting (docs/native-frame.md §7.6): version 1
// in an LE Advertising Report, version 2 in an LE Extended Advertising
// Report from a non-resolvable private address. 1,024 distinct chirps.
func BenchmarkParseNativeFrame(b *testing.B) {
	const n = 1 << 10
	key := pact.NewChirpKey(&pact.Seed{3})
	for _, version := range []int{1, 2} {
		b.Run(fmt.Sprintf("v%d", version), func(b *testing.B) {
			events := make([][]byte, n)
			for i := range events {
				c := key.Chirp(pact.Minute(i))
				var ev []byte
				var err error
				if version == 1 {
					addr, ad := pact.EncodeAdvert(c)
					ev, err = hci.AppendLEAdvertisingReport(nil, hci.AdvReport{Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: addr, RSSI: -60, Data: ad})
				} else {
					ev, err = hci.AppendLEExtendedAdvertisingReport(nil, hci.AdvReport{Type: hci.PDUExtended, AddrType: 1,
						Addr: [6]byte{0x12, byte(i), byte(i >> 8), 3, 4, 5}, RSSI: -60, PrimaryPHY: 1, SecondaryPHY: 1, SID: 0, TxPower: 127,
						Data: pact.Frame{Chirp: c, TxPower: -4}.AppendAD(nil)})
				}
				if err != nil {
					b.Fatal(err)
				}
				events[i] = ev
			}
			h := New()
			var dec hci.AdvDecoder
			var res Result
			fn := func(r *hci.AdvReport) error {
				if h.Parse(r, &res) != KindPACT {
					b.Fatalf("kind %v: %v", res.Kind, res.Err)
				}
				return nil
			}
			ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := dec.Decode(events[i&(n-1)], ts, fn); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
		})
	}
}
