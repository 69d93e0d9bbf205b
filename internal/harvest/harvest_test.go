package harvest

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

type reportCase struct {
	Name       string `json:"name"`
	Event      string `json:"event"`
	Type       string `json:"type"`
	Extended   bool   `json:"extended"`
	DataStatus uint16 `json:"data_status"`
	// EventProperties are Event_Type bits 0-3 of an extended report:
	// connectable, scannable, directed, scan response.
	EventProperties uint16 `json:"event_properties"`
	Address         string `json:"address"`
	AD              string `json:"ad"`
	RSSI            int8   `json:"rssi"`
	Time            string `json:"time"`
	Kind            string `json:"kind"`
	Chirp           string `json:"chirp"`
	Prefix          string `json:"prefix"`
	Minute          uint32 `json:"minute"`
	Status          int    `json:"status"`
	Error           string `json:"error"`
}

var pduTypes = map[string]hci.PDUType{
	"adv_ind":         hci.PDUAdvInd,
	"adv_direct_ind":  hci.PDUAdvDirectInd,
	"adv_scan_ind":    hci.PDUAdvScanInd,
	"adv_nonconn_ind": hci.PDUAdvNonconnInd,
	"scan_rsp":        hci.PDUScanRsp,
	"extended":        hci.PDUExtended,
}

func loadCases(t testing.TB) []reportCase {
	t.Helper()
	b, err := os.ReadFile("testdata/reports.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []reportCase }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("testdata/reports.json: %v", err)
	}
	return doc.Cases
}

// eventOf returns the HCI event packet of a case: given raw, or built with
// the hci encoder so that the address goes through the wire byte order.
func eventOf(t testing.TB, c reportCase) []byte {
	t.Helper()
	if c.Event != "" {
		b, err := hex.DecodeString(c.Event)
		if err != nil {
			t.Fatalf("%s: event: %v", c.Name, err)
		}
		return b
	}
	typ, ok := pduTypes[c.Type]
	if !ok {
		t.Fatalf("%s: unknown type %q", c.Name, c.Type)
	}
	addr, err := hex.DecodeString(strings.ReplaceAll(c.Address, ":", ""))
	if err != nil || len(addr) != 6 {
		t.Fatalf("%s: address %q", c.Name, c.Address)
	}
	ad, err := hex.DecodeString(c.AD)
	if err != nil {
		t.Fatalf("%s: ad: %v", c.Name, err)
	}
	r := hci.AdvReport{Type: typ, AddrType: 1, Addr: [6]byte(addr), RSSI: c.RSSI, Data: ad,
		PrimaryPHY: 1, SID: 0xFF, TxPower: 127}
	var ev []byte
	if c.Extended {
		if et, ok := hci.LegacyExtEventType(typ); ok {
			r.EventType = et
		}
		r.EventType |= c.EventProperties | c.DataStatus<<5
		ev, err = hci.AppendLEExtendedAdvertisingReport(nil, r)
	} else {
		ev, err = hci.AppendLEAdvertisingReport(nil, r)
	}
	if err != nil {
		t.Fatalf("%s: encoding the event: %v", c.Name, err)
	}
	return ev
}

func TestParseReports(t *testing.T) {
	h := New()
	want := Counts{}
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			var ts time.Time // no "time": a capture record without a timestamp
			if c.Time != "" {
				var err error
				if ts, err = time.Parse(time.RFC3339Nano, c.Time); err != nil {
					t.Fatal(err)
				}
			}
			var res Result
			var dec hci.AdvDecoder
			n, err := dec.Decode(eventOf(t, c), ts, func(r *hci.AdvReport) error {
				h.Parse(r, &res)
				return nil
			})
			if err != nil || n != 1 {
				t.Fatalf("decoding the event: %d reports, %v", n, err)
			}
			if res.Kind.String() != c.Kind {
				t.Fatalf("kind %v (err %v), want %s", res.Kind, res.Err, c.Kind)
			}
			want[res.Kind]++
			if c.Error != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), c.Error)) {
				t.Errorf("error %v, want one containing %q", res.Err, c.Error)
			}
			if c.Address != "" {
				if got := strings.ToUpper(hex.EncodeToString(res.Addr[:])); got != strings.ReplaceAll(c.Address, ":", "") {
					t.Errorf("address %s, want %s", got, c.Address)
				}
			}
			if c.Chirp != "" {
				if got := res.Sighting.Chirp.String(); got != c.Chirp {
					t.Errorf("chirp %s, want %s", got, c.Chirp)
				}
				if uint32(res.Sighting.Minute) != c.Minute || res.Sighting.RSSI != res.RSSI {
					t.Errorf("sighting minute %d rssi %d, want %d %d", res.Sighting.Minute, res.Sighting.RSSI, c.Minute, res.RSSI)
				}
				wantSource := pact.SourceFindMy
				if res.Kind == KindPACT {
					wantSource = pact.SourcePACT
				}
				if res.Sighting.Source != wantSource {
					t.Errorf("source %q, want %q", res.Sighting.Source, wantSource)
				}
			} else if res.Sighting != (pact.Sighting{}) {
				t.Errorf("kind %v carries a sighting %+v", res.Kind, res.Sighting)
			}
			if c.Prefix != "" && res.Prefix.String() != c.Prefix {
				t.Errorf("prefix %v, want %s", res.Prefix, c.Prefix)
			}
			if c.Minute != 0 && uint32(res.Minute) != c.Minute {
				t.Errorf("minute %d, want %d", res.Minute, c.Minute)
			}
			if c.Status != 0 && int(res.Status) != c.Status {
				t.Errorf("status %d, want %d", res.Status, c.Status)
			}
			if c.RSSI != 0 && res.RSSI != c.RSSI {
				t.Errorf("rssi %d, want %d", res.RSSI, c.RSSI)
			}
		})
	}
	if got := h.Counts(); got != want {
		t.Errorf("counts %v, want %v", got, want)
	}
}

func FuzzParseReport(f *testing.F) {
	for _, c := range loadCases(f) {
		f.Add(eventOf(f, c))
	}
	dult, err := hci.AppendLEAdvertisingReport(nil, hci.AdvReport{Type: hci.PDUAdvInd, AddrType: 1,
		Addr: [6]byte{0xFB, 0x6D, 0x08, 0x3D, 0x25, 0xA4}, Data: []byte{0x07, 0x16, 0xB2, 0xFC, 0x01, 0x01, 0x10, 0x03}, RSSI: -50})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(dult)
	v2, err := hci.AppendLEExtendedAdvertisingReport(nil, hci.AdvReport{Type: hci.PDUExtended, AddrType: 1,
		Addr: [6]byte{0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F}, Data: pact.Frame{Chirp: pact.Chirp{1}, TxPower: -4}.AppendAD(nil),
		RSSI: -50, PrimaryPHY: 1, SecondaryPHY: 1, SID: 0, TxPower: 127})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v2)
	// A repeater's frames (spec §9.1): a repeated chirp and a repeated key.
	for _, fr := range []pact.Frame{
		{Chirp: pact.Chirp{1, 2, 3}, Repeated: true, Age: 3, TxPower: pact.TxPowerUnknown},
		{Chirp: pact.Chirp{4, 5, 6}, Kind: pact.FrameFindMyKey, Repeated: true, Age: 16, TxPower: -8},
	} {
		ev, err := hci.AppendLEExtendedAdvertisingReport(nil, hci.AdvReport{Type: hci.PDUExtended, AddrType: 1,
			Addr: [6]byte{0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC}, Data: fr.AppendAD(nil), RSSI: -60})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ev)
	}
	h := New()
	f.Fuzz(func(t *testing.T, ev []byte) {
		var dec hci.AdvDecoder
		var res Result
		dec.Decode(ev, time.Unix(1e9, 0), func(r *hci.AdvReport) error {
			k := h.Parse(r, &res)
			if (k == KindMalformed) != (res.Err != nil) {
				t.Fatalf("kind %v with error %v", k, res.Err)
			}
			if k == KindFindMyDULT && (res.Partial().Bits != DULTBits || res.Prefix[0]&0xC0 != 0) {
				t.Fatalf("DULT partial %+v", res.Partial())
			}
			if k.IsSighting() && !res.Sighting.Source.Valid() {
				t.Fatalf("kind %v with sighting source %q", k, res.Sighting.Source)
			}
			if (k == KindRepeated || k == KindFindMyRepeated) != res.Sighting.Source.Indirect() && k.IsSighting() {
				t.Fatalf("kind %v with sighting source %q", k, res.Sighting.Source)
			}
			if (k == KindRepeated || k == KindFindMyRepeated) && pact.Minute(res.Age) > pact.MaxRepeatDelay {
				t.Fatalf("kind %v with age %d past the largest delay", k, res.Age)
			}
			return nil
		})
	})
}
