package harvest

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestDULTFrames checks that an AirTag (2nd generation) near its owner,
// sending only the DULT payload, yields a 46-bit partial sighting counted
// apart from the short form, and that other DULT frames are counted by
// network without yielding a key.
func TestDULTFrames(t *testing.T) {
	key := findmy.Key{0x7B, 0x6D, 0x08, 0x3D, 0x25, 0xA4, 0x28}
	at := time.Date(2026, 11, 30, 10, 7, 30, 0, time.UTC)
	airTagAddr := [6]byte{0xFB, 0x6D, 0x08, 0x3D, 0x25, 0xA4}
	airTagAD := []byte{0x07, 0x16, 0xB2, 0xFC, 0x01, 0x01, 0x10, 0x03}
	tests := []struct {
		name     string
		pdu      hci.PDUType
		addrType uint8
		addr     [6]byte
		ad       []byte
		kind     Kind
		prefix   findmy.Prefix
		network  findmy.DULTNetwork
	}{
		{name: "AirTag 2 near its owner", pdu: hci.PDUAdvInd, addrType: 1, addr: airTagAddr, ad: airTagAD,
			kind: KindFindMyDULT, prefix: findmy.Prefix{0x3B, 0x6D, 0x08, 0x3D, 0x25, 0xA4}, network: findmy.DULTNetworkApple},
		{name: "Apple network, separated, non-connectable", pdu: hci.PDUAdvNonconnInd, addrType: 1, addr: airTagAddr,
			ad: []byte{0x05, 0x16, 0xB2, 0xFC, 0x01, 0x00}, kind: KindFindMyDULT, prefix: findmy.Prefix{0x3B, 0x6D, 0x08, 0x3D, 0x25, 0xA4}, network: findmy.DULTNetworkApple},
		{name: "Google network", pdu: hci.PDUAdvInd, addrType: 1, addr: airTagAddr,
			ad: []byte{0x06, 0x16, 0xB2, 0xFC, 0x02, 0x01, 0xAA}, kind: KindDULTOther, network: findmy.DULTNetworkGoogle},
		{name: "unregistered network", pdu: hci.PDUAdvInd, addrType: 1, addr: airTagAddr,
			ad: []byte{0x05, 0x16, 0xB2, 0xFC, 0x07, 0x00}, kind: KindDULTOther, network: 7},
		{name: "Apple network from a non-resolvable private address", pdu: hci.PDUAdvInd, addrType: 1,
			addr: [6]byte{0x3B, 0x6D, 0x08, 0x3D, 0x25, 0xA4}, ad: airTagAD, kind: KindDULTOther, network: findmy.DULTNetworkApple},
		{name: "Apple network from a public address", pdu: hci.PDUAdvInd, addrType: 0, addr: airTagAddr, ad: airTagAD,
			kind: KindDULTOther, network: findmy.DULTNetworkApple},
		{name: "DULT data without a status byte", pdu: hci.PDUAdvInd, addrType: 1, addr: airTagAddr,
			ad: []byte{0x04, 0x16, 0xB2, 0xFC, 0x01}, kind: KindMalformed},
		{name: "scan response", pdu: hci.PDUScanRsp, addrType: 1, addr: airTagAddr, ad: airTagAD, kind: KindIgnoredPDU},
	}
	h := New()
	wantNetworks := map[string]uint64{}
	var wantCounts Counts
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := hci.AdvReport{Type: tc.pdu, AddrType: tc.addrType, Addr: tc.addr, Data: tc.ad, RSSI: -55, Time: at}
			var res Result
			if k := h.Parse(&r, &res); k != tc.kind {
				t.Fatalf("kind %v, want %v (err %v)", k, tc.kind, res.Err)
			}
			wantCounts[tc.kind]++
			switch tc.kind {
			case KindFindMyDULT:
				if !tc.kind.IsPartial() {
					t.Errorf("%v is not partial", tc.kind)
				}
				want := PartialSighting{Minute: pact.MinuteOf(at), Prefix: tc.prefix, Bits: DULTBits, RSSI: -55}
				if got := res.Partial(); got != want {
					t.Errorf("Partial() = %+v, want %+v", got, want)
				}
				// The prefix agrees with the key on all 46 bits it holds.
				if res.Prefix[0] != key[0]&0x3F || [5]byte(res.Prefix[1:]) != [5]byte(key[1:6]) {
					t.Errorf("prefix %v does not hold key bits of %v", res.Prefix, key)
				}
				wantNetworks[tc.network.String()]++
			case KindDULTOther:
				if tc.kind.IsPartial() || res.Prefix != (findmy.Prefix{}) || res.DULTNetwork != tc.network {
					t.Errorf("result %+v", res)
				}
				wantNetworks[tc.network.String()]++
			case KindMalformed:
				if !errors.Is(res.Err, findmy.ErrDULTLength) {
					t.Errorf("error %v, want ErrDULTLength", res.Err)
				}
			}
		})
	}
	if got := h.DULTNetworks(); !maps.Equal(got, wantNetworks) {
		t.Errorf("DULT networks %v, want %v", got, wantNetworks)
	}
	if got := h.Counts(); got != wantCounts || got[KindFindMyPartial] != 0 {
		t.Errorf("counts %v, want %v", got, wantCounts)
	}
}
