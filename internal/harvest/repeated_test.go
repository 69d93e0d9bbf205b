package harvest

import (
	"errors"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestRepeatedFrames checks how a receiver logs the frames of a repeater
// (spec §9.1): a repeated chirp with source repeater, a repeated Find My
// key on P-224 with source findmy-repeater, and nothing for a key off the
// curve, a frame older than pact.MaxRepeatDelay or one from an address
// that is not a non-resolvable private address.
func TestRepeatedFrames(t *testing.T) {
	d, err := findmy.NewPrivateKey([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28})
	if err != nil {
		t.Fatal(err)
	}
	onCurve := d.Public().Key()
	offCurve := findmy.Key{0xFF, 0xFF, 0xFF}
	if findmy.OnCurve(&offCurve) {
		t.Fatal("the off-curve test key is on the curve")
	}
	chirp := pact.Chirp{0xC1, 0xC2, 0xC3}
	nrpa := [6]byte{0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC}
	at := time.Date(2026, 11, 30, 22, 10, 30, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		frame    pact.Frame
		addr     [6]byte
		addrType uint8
		kind     Kind
		source   pact.Source
		sighting pact.Chirp
		wantErr  error
	}{
		{"repeated chirp", pact.Frame{Chirp: chirp, Repeated: true, Age: 3, TxPower: pact.TxPowerUnknown}, nrpa, 1,
			KindRepeated, pact.SourceRepeater, chirp, nil},
		{"repeated chirp at the largest age", pact.Frame{Chirp: chirp, Repeated: true, Age: uint8(pact.MaxRepeatDelay), TxPower: -4}, nrpa, 1,
			KindRepeated, pact.SourceRepeater, chirp, nil},
		{"repeated Find My key", pact.Frame{Chirp: pact.Chirp(onCurve), Kind: pact.FrameFindMyKey, Repeated: true, Age: 1, TxPower: pact.TxPowerUnknown}, nrpa, 1,
			KindFindMyRepeated, pact.SourceFindMyRepeater, pact.Chirp(onCurve), nil},
		{"repeated Find My key off the curve", pact.Frame{Chirp: pact.Chirp(offCurve), Kind: pact.FrameFindMyKey, Repeated: true, Age: 1, TxPower: pact.TxPowerUnknown}, nrpa, 1,
			KindFindMyInvalid, pact.SourceFindMyRepeater, pact.Chirp(offCurve), nil},
		{"older than the largest delay", pact.Frame{Chirp: chirp, Repeated: true, Age: uint8(pact.MaxRepeatDelay) + 1, TxPower: pact.TxPowerUnknown}, nrpa, 1,
			KindRepeatedStale, "", pact.Chirp{}, nil},
		{"from a random static address", pact.Frame{Chirp: chirp, Repeated: true, Age: 2, TxPower: pact.TxPowerUnknown}, [6]byte{0xD2, 0x34, 0x56, 0x78, 0x9A, 0xBC}, 1,
			KindMalformed, "", pact.Chirp{}, pact.ErrAdvertMalformed},
		{"from a public address", pact.Frame{Chirp: chirp, Repeated: true, Age: 2, TxPower: pact.TxPowerUnknown}, nrpa, 0,
			KindMalformed, "", pact.Chirp{}, pact.ErrAdvertMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := hci.AdvReport{Type: hci.PDUExtended, AddrType: tc.addrType, Addr: tc.addr, Data: tc.frame.AppendAD(nil), RSSI: -61, Time: at}
			h := New()
			var res Result
			if k := h.Parse(&r, &res); k != tc.kind {
				t.Fatalf("kind %v (err %v), want %v", k, res.Err, tc.kind)
			}
			if tc.wantErr != nil && !errors.Is(res.Err, tc.wantErr) {
				t.Fatalf("error %v, want %v", res.Err, tc.wantErr)
			}
			if tc.kind == KindRepeatedStale && res.Age != tc.frame.Age {
				t.Errorf("age %d, want %d", res.Age, tc.frame.Age)
			}
			if tc.source == "" {
				return
			}
			// RSSI and TX power are those of the repeater's frame.
			want := pact.Sighting{Chirp: tc.sighting, Minute: pact.MinuteOf(at), RSSI: -61, TxPower: tc.frame.TxPower, Source: tc.source}
			if res.Sighting != want || res.Age != tc.frame.Age {
				t.Errorf("sighting %+v age %d, want %+v age %d", res.Sighting, res.Age, want, tc.frame.Age)
			}
		})
	}
}
