package hci

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// wantReport is an AdvReport as the test data spells it.
type wantReport struct {
	Type             PDUType `json:"type"`
	Extended         bool    `json:"extended"`
	EventType        uint16  `json:"event_type"`
	AddrType         uint8   `json:"addr_type"`
	Addr             string  `json:"addr"`
	RSSI             int8    `json:"rssi"`
	Data             string  `json:"data"`
	PrimaryPHY       uint8   `json:"primary_phy"`
	SecondaryPHY     uint8   `json:"secondary_phy"`
	SID              uint8   `json:"sid"`
	TxPower          int8    `json:"tx_power"`
	PeriodicInterval uint16  `json:"periodic_interval"`
	DirectAddrType   uint8   `json:"direct_addr_type"`
	DirectAddr       string  `json:"direct_addr"`
}

type advEventCase struct {
	Name      string       `json:"name"`
	Hex       string       `json:"hex"`
	RoundTrip bool         `json:"roundtrip"`
	Want      []wantReport `json:"want"`
	// BadField and BadOffset name the field a malformed event gets wrong
	// and where, as its *FormatError does.
	BadField  string `json:"malformed_field"`
	BadOffset int64  `json:"malformed_offset"`
}

func loadAdvEventCases(t testing.TB) []advEventCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/adv_events.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []advEventCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("testdata/adv_events.json: %v", err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("testdata/adv_events.json: no cases")
	}
	return file.Cases
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func formatAddr(a [6]byte) string {
	return fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", a[0], a[1], a[2], a[3], a[4], a[5])
}

func parseAddr(t testing.TB, s string) [6]byte {
	t.Helper()
	var a [6]byte
	if s == "" {
		return a
	}
	b := mustHex(t, strings.ReplaceAll(s, ":", ""))
	if len(b) != 6 {
		t.Fatalf("address %q is not 6 bytes", s)
	}
	copy(a[:], b)
	return a
}

func toWant(r *AdvReport) wantReport {
	w := wantReport{
		Type: r.Type, Extended: r.Extended, EventType: r.EventType, AddrType: r.AddrType,
		Addr: formatAddr(r.Addr), RSSI: r.RSSI, Data: strings.ToUpper(hex.EncodeToString(r.Data)),
		PrimaryPHY: r.PrimaryPHY, SecondaryPHY: r.SecondaryPHY, SID: r.SID, TxPower: r.TxPower,
		PeriodicInterval: r.PeriodicInterval, DirectAddrType: r.DirectAddrType,
	}
	if r.DirectAddr != ([6]byte{}) {
		w.DirectAddr = formatAddr(r.DirectAddr)
	}
	return w
}

func fromWant(t testing.TB, w wantReport) AdvReport {
	return AdvReport{
		Type: w.Type, Extended: w.Extended, EventType: w.EventType, AddrType: w.AddrType,
		Addr: parseAddr(t, w.Addr), RSSI: w.RSSI, Data: mustHex(t, w.Data),
		PrimaryPHY: w.PrimaryPHY, SecondaryPHY: w.SecondaryPHY, SID: w.SID, TxPower: w.TxPower,
		PeriodicInterval: w.PeriodicInterval, DirectAddrType: w.DirectAddrType,
		DirectAddr: parseAddr(t, w.DirectAddr),
	}
}

func TestDecodeAdvReports(t *testing.T) {
	stamp := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range loadAdvEventCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			event := mustHex(t, tc.Hex)
			var got []wantReport
			err := decodeAdvReports(event, stamp, func(r *AdvReport) error {
				if !r.Time.Equal(stamp) {
					t.Errorf("time %v, want %v", r.Time, stamp)
				}
				got = append(got, toWant(r))
				return nil
			})
			if tc.BadField != "" {
				checkFormatError(t, err, tc.BadField, tc.BadOffset)
				if len(got) != 0 {
					t.Errorf("malformed event delivered %d reports", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(got) != len(tc.Want) {
				t.Fatalf("got %d reports, want %d: %+v", len(got), len(tc.Want), got)
			}
			for i := range got {
				if got[i] != tc.Want[i] {
					t.Errorf("report %d:\n got %+v\nwant %+v", i, got[i], tc.Want[i])
				}
			}
		})
	}
}

// TestAppendAdvReportRoundTrip checks that the encoders write exactly the
// hand-written spec bytes, which pins the address byte order both ways.
func TestAppendAdvReportRoundTrip(t *testing.T) {
	for _, tc := range loadAdvEventCases(t) {
		if !tc.RoundTrip {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			reports := make([]AdvReport, len(tc.Want))
			for i, w := range tc.Want {
				reports[i] = fromWant(t, w)
			}
			var got []byte
			var err error
			if reports[0].Extended {
				got, err = AppendLEExtendedAdvertisingReport(nil, reports...)
			} else {
				got, err = AppendLEAdvertisingReport(nil, reports...)
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, tc.Hex); !bytes.Equal(got, want) {
				t.Errorf("encoded\n %X\nwant\n %X", got, want)
			}
		})
	}
}

func TestAirTagAddressOnTheWire(t *testing.T) {
	r := AdvReport{Type: PDUAdvNonconnInd, AddrType: 1, Addr: [6]byte{0xFB, 0x6D, 0x08, 0x3D, 0x25, 0xA4}, RSSI: -59}
	ev, err := AppendLEAdvertisingReport(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	// Event code, length, subevent, Num_Reports, Event_Type, Address_Type,
	// then the address least significant byte first.
	if got, want := ev[6:12], []byte{0xA4, 0x25, 0x3D, 0x08, 0x6D, 0xFB}; !bytes.Equal(got, want) {
		t.Errorf("address on the wire %X, want %X", got, want)
	}
	err = decodeAdvReports(ev, time.Time{}, func(got *AdvReport) error {
		if formatAddr(got.Addr) != "FB:6D:08:3D:25:A4" {
			t.Errorf("decoded address %s", formatAddr(got.Addr))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAppendAdvReportRejects(t *testing.T) {
	long := make([]byte, 32)
	tests := []struct {
		name     string
		extended bool
		reports  []AdvReport
		fits     bool
	}{
		{"no reports", false, nil, false},
		{"legacy data over 31 bytes", false, []AdvReport{{Data: long}}, false},
		{"legacy extended PDU", false, []AdvReport{{Type: PDUExtended}}, false},
		{"25 empty reports fit", false, make([]AdvReport, 25), true},
		{"26 empty reports", false, make([]AdvReport, 26), false},
		{"extended bad legacy type", true, []AdvReport{{EventType: 0x17}}, false},
		{"extended too long", true, []AdvReport{{Data: make([]byte, 230)}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.extended {
				_, err = AppendLEExtendedAdvertisingReport(nil, tc.reports...)
			} else {
				_, err = AppendLEAdvertisingReport(nil, tc.reports...)
			}
			if tc.fits {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnencodable) {
				t.Fatalf("error %v, want ErrUnencodable", err)
			}
		})
	}
}

func TestAdvDecoderStopsOnCallbackError(t *testing.T) {
	ev := mustHex(t, "3E19 02 02 00 00 665544332211 03 020106 D8 04 01 010000EEFFC0 00 7F")
	stop := errors.New("stop")
	var d AdvDecoder
	n, err := d.Decode(ev, time.Time{}, func(*AdvReport) error { return stop })
	if err != stop || n != 0 {
		t.Fatalf("Decode = %d, %v; want 0, stop", n, err)
	}
}

func TestAdvDecoderAllocationFree(t *testing.T) {
	for _, h := range []string{
		"3E2B 02 01 03 01 A4253D086DFB 1F 1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0 C5",
		"3E39 0D 01 1000 01 A4253D086DFB 01 00 FF 7F C5 0000 00 000000000000 1F 1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0",
	} {
		ev := mustHex(t, h)
		var d AdvDecoder
		var seen int
		fn := func(r *AdvReport) error { seen += len(r.Data); return nil }
		stamp := time.Unix(1, 0)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := d.Decode(ev, stamp, fn); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%d allocations per decode, want 0", int(allocs))
		}
	}
}

func TestDataCannotGrowIntoNextReport(t *testing.T) {
	ev := mustHex(t, "3E19 02 02 00 00 665544332211 03 020106 D8 04 01 010000EEFFC0 00 7F")
	err := decodeAdvReports(ev, time.Time{}, func(r *AdvReport) error {
		if cap(r.Data) != len(r.Data) {
			t.Errorf("Data has spare capacity %d over length %d", cap(r.Data), len(r.Data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzDecodeAdvReports(f *testing.F) {
	for _, tc := range loadAdvEventCases(f) {
		f.Add(mustHex(f, tc.Hex))
	}
	f.Fuzz(func(t *testing.T, event []byte) {
		orig := bytes.Clone(event)
		var reports []AdvReport
		err := decodeAdvReports(event, time.Time{}, func(r *AdvReport) error {
			c := *r
			c.Data = bytes.Clone(r.Data)
			reports = append(reports, c)
			return nil
		})
		if !bytes.Equal(orig, event) {
			t.Fatal("decoder modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(reports) != 1 {
			return
		}
		// A single report reads the same in either layout, so encoding it
		// again must give back the input exactly.
		var again []byte
		if reports[0].Extended {
			again, err = AppendLEExtendedAdvertisingReport(nil, reports...)
		} else {
			again, err = AppendLEAdvertisingReport(nil, reports...)
		}
		if err != nil {
			// Legacy data over 31 bytes decodes but is not ours to write.
			return
		}
		if !bytes.Equal(again, event) {
			t.Fatalf("re-encoded\n %X\ninput\n %X", again, event)
		}
	})
}

func BenchmarkDecodeAdvReport(b *testing.B) {
	ev := mustHex(b, "3E2B 02 01 03 01 A4253D086DFB 1F 1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0 C5")
	var d AdvDecoder
	var sink int
	fn := func(r *AdvReport) error { sink += int(r.RSSI); return nil }
	stamp := time.Unix(1, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(ev)))
	for b.Loop() {
		if _, err := d.Decode(ev, stamp, fn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	_ = sink
}

func BenchmarkDecodeExtendedAdvReport(b *testing.B) {
	ev := mustHex(b, "3E39 0D 01 1000 01 A4253D086DFB 01 00 FF 7F C5 0000 00 000000000000 1F 1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0")
	var d AdvDecoder
	var sink int
	fn := func(r *AdvReport) error { sink += int(r.RSSI); return nil }
	stamp := time.Unix(1, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(ev, stamp, fn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	_ = sink
}

// checkFormatError fails the test unless err is a *FormatError, wrapping
// ErrMalformed, about field at offset.
func checkFormatError(t *testing.T, err error, field string, offset int64) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v, want one wrapping ErrMalformed", err)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is no *FormatError", err)
	}
	if fe.Field != field || fe.Offset != offset {
		t.Errorf("error names %s at offset %d, want %s at offset %d", fe.Field, fe.Offset, field, offset)
	}
}

// checkSettingError fails the test unless err is a *SettingError, wrapping
// ErrInvalidSetting, about setting and the value given.
func checkSettingError(t *testing.T, err error, setting, value string) {
	t.Helper()
	if !errors.Is(err, ErrInvalidSetting) {
		t.Fatalf("error %v, want one wrapping ErrInvalidSetting", err)
	}
	var se *SettingError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is no *SettingError", err)
	}
	if se.Setting != setting || se.Value != value {
		t.Errorf("error names %s %q, want %s %q", se.Setting, se.Value, setting, value)
	}
}
