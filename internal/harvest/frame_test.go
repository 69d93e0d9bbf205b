package harvest

import (
	"errors"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestNativeFrameVersion2 checks how extended reports carrying a version-2
// frame are classified (docs/native-frame.md §7.6.3): a chirp from a
// non-resolvable private address is a PACT sighting with the frame's TX
// power; any other address, a broken frame or a legacy PDU is not.
func TestNativeFrameVersion2(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC)
	chirp := pact.ChirpAt(&pact.Seed{7}, pact.MinuteOf(at))
	nrpa := [6]byte{0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F}
	frame := pact.Frame{Chirp: chirp, TxPower: -6}
	ad := frame.AppendAD(nil)
	broken := frame.AppendAD(nil)
	broken[18] = 0x30 // version 3
	v1Addr, v1AD := pact.EncodeAdvert(chirp)
	tests := []struct {
		name     string
		typ      hci.PDUType
		event    uint16 // extended report event type
		addrType uint8
		addr     [6]byte
		data     []byte
		want     Kind
		wantErr  error
		wantTx   int8
		version  uint8
	}{
		{"chirp from an NRPA", hci.PDUExtended, 0, 1, nrpa, ad, KindPACT, nil, -6, 2},
		{"connectable extended", hci.PDUExtended, hci.ExtEventConnectable, 1, nrpa, ad, KindPACT, nil, -6, 2},
		{"after a Flags structure", hci.PDUExtended, 0, 1, nrpa, append([]byte{2, 1, 6}, ad...), KindPACT, nil, -6, 2},
		{"TX power unknown", hci.PDUExtended, 0, 1, nrpa, pact.Frame{Chirp: chirp, TxPower: pact.TxPowerUnknown}.AppendAD(nil), KindPACT, nil, pact.TxPowerUnknown, 2},
		{"random static address", hci.PDUExtended, 0, 1, [6]byte{0xC1, 2, 3, 4, 5, 6}, ad, KindMalformed, pact.ErrAdvertMalformed, 0, 0},
		{"resolvable private address", hci.PDUExtended, 0, 1, [6]byte{0x41, 2, 3, 4, 5, 6}, ad, KindMalformed, pact.ErrAdvertMalformed, 0, 0},
		{"public address", hci.PDUExtended, 0, 0, nrpa, ad, KindMalformed, pact.ErrAdvertMalformed, 0, 0},
		{"all-zero NRPA", hci.PDUExtended, 0, 1, [6]byte{}, ad, KindMalformed, pact.ErrAdvertMalformed, 0, 0},
		{"unknown version", hci.PDUExtended, 0, 1, nrpa, broken, KindMalformed, pact.ErrAdvertMalformed, 0, 0},
		{"scannable", hci.PDUExtended, hci.ExtEventScannable, 1, nrpa, ad, KindIgnoredPDU, nil, 0, 0},
		{"in a legacy PDU", hci.PDUAdvNonconnInd, 0, 1, nrpa, ad, KindOther, nil, 0, 0},
		{"repeated", hci.PDUExtended, 0, 1, nrpa, pact.Frame{Chirp: chirp, TxPower: 4, Repeated: true, Age: 3}.AppendAD(nil), KindRepeated, nil, 4, 2},
		{"version 1 in an extended report", hci.PDUExtended, 0, 1, v1Addr, v1AD, KindPACT, nil, pact.TxPowerUnknown, 1},
	}
	h := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through the HCI event bytes and the decoder, as a controller
			// would deliver it.
			r := hci.AdvReport{Type: tt.typ, EventType: tt.event, AddrType: tt.addrType, Addr: tt.addr, RSSI: -70,
				Data: tt.data, PrimaryPHY: 1, SID: 0xFF, TxPower: 127}
			var ev []byte
			var err error
			if tt.typ == hci.PDUExtended {
				r.SecondaryPHY = 1
				ev, err = hci.AppendLEExtendedAdvertisingReport(nil, r)
			} else {
				// A legacy PDU in an extended report (legacy bit set).
				r.EventType, _ = hci.LegacyExtEventType(tt.typ)
				ev, err = hci.AppendLEExtendedAdvertisingReport(nil, r)
			}
			if err != nil {
				t.Fatal(err)
			}
			var res Result
			var k Kind
			var dec hci.AdvDecoder
			n, err := dec.Decode(ev, at, func(r *hci.AdvReport) error {
				k = h.Parse(r, &res)
				return nil
			})
			if err != nil || n != 1 {
				t.Fatalf("decoding the event %x: %d reports, %v", ev, n, err)
			}
			if k != tt.want {
				t.Fatalf("kind %v (err %v), want %v", k, res.Err, tt.want)
			}
			if tt.wantErr != nil && !errors.Is(res.Err, tt.wantErr) {
				t.Fatalf("error %v, want %v", res.Err, tt.wantErr)
			}
			if res.FrameVersion != tt.version {
				t.Fatalf("frame version %d, want %d", res.FrameVersion, tt.version)
			}
			switch k {
			case KindPACT:
				want := pact.Sighting{Chirp: chirp, Minute: pact.MinuteOf(at), RSSI: -70, TxPower: tt.wantTx, Source: pact.SourcePACT}
				if res.Sighting != want {
					t.Fatalf("sighting %+v, want %+v", res.Sighting, want)
				}
			case KindRepeated:
				want := pact.Sighting{Chirp: chirp, Minute: pact.MinuteOf(at), RSSI: -70, TxPower: tt.wantTx, Source: pact.SourceRepeater}
				if res.Sighting != want || !res.Frame.Repeated || res.Frame.Age != 3 || res.Age != 3 {
					t.Fatalf("repeated frame: sighting %+v, frame %+v", res.Sighting, res.Frame)
				}
			default:
				if res.Sighting != (pact.Sighting{}) {
					t.Fatalf("kind %v carries a sighting %+v", k, res.Sighting)
				}
			}
		})
	}
}

// A batch keeps the TX power a frame announced when readings of one chirp
// merge.
func TestBatchKeepsTxPower(t *testing.T) {
	b := NewBatch(4)
	s := pact.Sighting{Chirp: pact.Chirp{1}, Minute: 5, RSSI: -80, TxPower: pact.TxPowerUnknown, Source: pact.SourcePACT}
	b.Add(s)
	s.RSSI, s.TxPower = -60, -4
	b.Add(s)
	rows := b.Take()
	if len(rows) != 1 || rows[0].RSSI != -60 || rows[0].TxPower != -4 {
		t.Fatalf("rows %+v, want one at -60 dBm with TX power -4", rows)
	}
}
