package harvest

import (
	"errors"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestPACTv1AddressType checks the answer of spec §11 to "do receivers
// check the address type": a version-1 frame counts only from a random
// device address, in a legacy or an undirected, non-scannable extended
// report; from a public or identity address it is malformed.
func TestPACTv1AddressType(t *testing.T) {
	seed := pact.Seed{7}
	at := time.Date(2026, 11, 30, 10, 7, 30, 0, time.UTC)
	chirp := pact.ChirpAt(&seed, pact.MinuteOf(at))
	addr, ad := pact.EncodeAdvert(chirp)
	for _, tc := range []struct {
		name      string
		pdu       hci.PDUType
		eventType uint16
		addrType  uint8
		want      Kind
	}{
		{"legacy, random address", hci.PDUAdvNonconnInd, 0, 1, KindPACT},
		{"extended non-legacy, random address", hci.PDUExtended, 0, 1, KindPACT},
		{"legacy, public address", hci.PDUAdvNonconnInd, 0, 0, KindMalformed},
		{"legacy, public identity address", hci.PDUAdvInd, 0, 2, KindMalformed},
		{"legacy, random identity address", hci.PDUAdvInd, 0, 3, KindMalformed},
		{"extended non-legacy, scannable", hci.PDUExtended, hci.ExtEventScannable, 1, KindIgnoredPDU},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := hci.AdvReport{Type: tc.pdu, EventType: tc.eventType, AddrType: tc.addrType, Addr: addr, Data: ad, RSSI: -60, Time: at}
			var res Result
			k := New().Parse(&r, &res)
			if k != tc.want {
				t.Fatalf("kind %v (err %v), want %v", k, res.Err, tc.want)
			}
			switch k {
			case KindPACT:
				if res.Sighting.Chirp != chirp {
					t.Errorf("chirp %v, want %v", res.Sighting.Chirp, chirp)
				}
			case KindMalformed:
				if !errors.Is(res.Err, pact.ErrAdvertMalformed) {
					t.Errorf("error %v, want one wrapping ErrAdvertMalformed", res.Err)
				}
			}
		})
	}
}
