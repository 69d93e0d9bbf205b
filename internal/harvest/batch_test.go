package harvest

import (
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
)

func TestBatchMerges(t *testing.T) {
	a, b := pact.Chirp{1}, pact.Chirp{2}
	cases := []struct {
		name string
		in   []pact.Sighting
		want []pact.Sighting
	}{
		{"keeps the strongest reading",
			[]pact.Sighting{{Chirp: a, Minute: 5, RSSI: -80, Source: pact.SourceFindMy}, {Chirp: a, Minute: 5, RSSI: -60, Source: pact.SourceFindMy}, {Chirp: a, Minute: 5, RSSI: -70, Source: pact.SourceFindMy}},
			[]pact.Sighting{{Chirp: a, Minute: 5, RSSI: -60, Source: pact.SourceFindMy}}},
		{"unknown RSSI never wins",
			[]pact.Sighting{{Chirp: a, Minute: 5, RSSI: pact.RSSIUnknown, Source: pact.SourcePACT}, {Chirp: a, Minute: 5, RSSI: -90, Source: pact.SourcePACT}, {Chirp: a, Minute: 5, RSSI: pact.RSSIUnknown, Source: pact.SourcePACT}},
			[]pact.Sighting{{Chirp: a, Minute: 5, RSSI: -90, Source: pact.SourcePACT}}},
		{"a key heard directly and from a repeater in one minute is direct",
			[]pact.Sighting{{Chirp: a, Minute: 5, RSSI: -70, Source: pact.SourceFindMyRepeater}, {Chirp: a, Minute: 5, RSSI: -80, Source: pact.SourceFindMy}, {Chirp: a, Minute: 5, RSSI: -60, Source: pact.SourceFindMyRepeater}},
			[]pact.Sighting{{Chirp: a, Minute: 5, RSSI: -60, Source: pact.SourceFindMy}}},
		{"minutes and chirps stay apart, in arrival order",
			[]pact.Sighting{{Chirp: a, Minute: 5, RSSI: -1}, {Chirp: a, Minute: 6, RSSI: -2}, {Chirp: b, Minute: 5, RSSI: -3}, {Chirp: a, Minute: 5, RSSI: -4}},
			[]pact.Sighting{{Chirp: a, Minute: 5, RSSI: -1}, {Chirp: a, Minute: 6, RSSI: -2}, {Chirp: b, Minute: 5, RSSI: -3}}},
	}
	batch := NewBatch(4)
	for _, c := range cases {
		for _, s := range c.in {
			batch.Add(s)
		}
		if batch.Added() != uint64(len(c.in)) || batch.Len() != len(c.want) {
			t.Errorf("%s: added %d len %d, want %d %d", c.name, batch.Added(), batch.Len(), len(c.in), len(c.want))
		}
		got := batch.Take()
		if len(got) != len(c.want) {
			t.Fatalf("%s: got %v, want %v", c.name, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: row %d = %+v, want %+v", c.name, i, got[i], c.want[i])
			}
		}
		if batch.Len() != 0 || batch.Added() != 0 {
			t.Errorf("%s: batch not empty after Take", c.name)
		}
	}
}
