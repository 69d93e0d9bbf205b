package harvest

import (
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

func TestPartialBatchMerges(t *testing.T) {
	a, b := findmy.Prefix{0xC1, 1}, findmy.Prefix{0xC2, 2}
	for _, c := range []struct {
		name string
		in   []PartialSighting
		want []PartialSighting
	}{
		{"keeps the strongest reading",
			[]PartialSighting{{Minute: 5, Prefix: a, Bits: 48, RSSI: -80}, {Minute: 5, Prefix: a, Bits: 48, RSSI: -60}, {Minute: 5, Prefix: a, Bits: 48, RSSI: pact.RSSIUnknown}},
			[]PartialSighting{{Minute: 5, Prefix: a, Bits: 48, RSSI: -60}}},
		{"minutes, prefixes and widths stay apart, in arrival order",
			[]PartialSighting{{Minute: 5, Prefix: a, Bits: 48, RSSI: -1}, {Minute: 6, Prefix: a, Bits: 48, RSSI: -2}, {Minute: 5, Prefix: b, Bits: 48, RSSI: -3}, {Minute: 5, Prefix: a, Bits: 46, RSSI: -4}},
			[]PartialSighting{{Minute: 5, Prefix: a, Bits: 48, RSSI: -1}, {Minute: 6, Prefix: a, Bits: 48, RSSI: -2}, {Minute: 5, Prefix: b, Bits: 48, RSSI: -3}, {Minute: 5, Prefix: a, Bits: 46, RSSI: -4}}},
	} {
		batch := NewPartialBatch(2)
		for _, p := range c.in {
			batch.Add(p)
		}
		got := batch.Take()
		if len(got) != len(c.want) {
			t.Fatalf("%s: got %+v, want %+v", c.name, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: row %d = %+v, want %+v", c.name, i, got[i], c.want[i])
			}
		}
		if batch.Len() != 0 {
			t.Errorf("%s: batch not empty after Take", c.name)
		}
	}
}

// TestShortFormPartial checks that a short-form frame built by findmy's
// encoder comes out of Parse as the 48-bit prefix of its key.
func TestShortFormPartial(t *testing.T) {
	key := findmy.Key{0x7B, 0x6D, 0x08, 0x3D, 0x25, 0xA4, 0x28}
	addr, ad := findmy.EncodeShort(key.Prefix(), findmy.MakeStatus(findmy.BatteryFull, findmy.DeviceAirTag, true))
	at := time.Date(2026, 11, 30, 10, 7, 30, 0, time.UTC)
	r := hci.AdvReport{Type: hci.PDUAdvNonconnInd, Addr: addr, Data: ad[:], RSSI: -55, Time: at}
	var res Result
	if k := New().Parse(&r, &res); k != KindFindMyPartial {
		t.Fatalf("kind %v, want %v", k, KindFindMyPartial)
	}
	want := PartialSighting{Minute: pact.MinuteOf(at), Prefix: key.Prefix(), Bits: ShortFormBits, RSSI: -55}
	if got := res.Partial(); got != want {
		t.Fatalf("Partial() = %+v, want %+v", got, want)
	}
}
