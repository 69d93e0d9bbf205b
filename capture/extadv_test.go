package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
)

// TestFragmentedExtendedReportInCapture checks that a Find My frame the
// controller delivered in two LE Extended Advertising Reports ("more to
// come", then "complete") comes out of a capture as one report whose data
// is the whole frame.
func TestFragmentedExtendedReportInCapture(t *testing.T) {
	var key findmy.Key
	for i := range key {
		key[i] = byte(0x21 + i)
	}
	addr, ad := findmy.EncodeFull(key, findmy.MakeStatus(findmy.BatteryFull, findmy.DeviceAirTag, false), 7)
	base := hci.AdvReport{AddrType: 1, Addr: addr, PrimaryPHY: 1, SecondaryPHY: 1, SID: 2, TxPower: 127, RSSI: -61}
	first, last := base, base
	first.EventType, first.Data = 1<<5, ad[:12]
	last.Data = ad[12:]
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, LinkTypeBluetoothHCIH4WithPHDR, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range []hci.AdvReport{first, last} {
		ev, err := hci.AppendLEExtendedAdvertisingReport(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteH4Event(scenarioStart.Add(time.Duration(i)*3*time.Millisecond), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	c, err := NewCapture(&buf, "fragments")
	if err != nil {
		t.Fatal(err)
	}
	var got []hci.AdvReport
	if err := c.Reports(t.Context(), func(r *hci.AdvReport) error {
		cp := *r
		cp.Data = bytes.Clone(r.Data)
		got = append(got, cp)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !bytes.Equal(got[0].Data, ad[:]) || got[0].DataStatus() != 0 {
		t.Fatalf("reports %+v, want one with the whole frame", got)
	}
	adv, err := findmy.Parse(got[0].Addr, got[0].Data)
	if err != nil || adv.Key != key {
		t.Errorf("findmy.Parse: %v, key %v", err, adv.Key)
	}
	if st := c.Stats(); st.Reassembled != 1 || st.FragmentsDropped != 0 || st.Events != 2 {
		t.Errorf("stats %+v", st)
	}
}

// appendLLExtRecord appends a LinkTypeBluetoothLELLWithPHDR record of a
// type 7 PDU built field by field (Core spec Vol 6 Part B §2.3.4): AdvA
// when advA is set, ADI, AuxPtr when auxPtr is set, then data; with a
// good CRC and the sniffer's CRC flags clear, so the reader checks it.
func appendLLExtRecord(dst []byte, channel uint8, advA *[6]byte, adi uint16, auxPtr bool, advMode uint8, data []byte) []byte {
	flags := byte(extHdrADI)
	if advA != nil {
		flags |= extHdrAdvA
	}
	var fields []byte
	if advA != nil {
		fields = appendAddrLSBFirst(fields, *advA)
	}
	fields = binary.LittleEndian.AppendUint16(fields, adi)
	if auxPtr {
		flags |= extHdrAuxPtr
		fields = append(fields, 0x01, 0x20, 0x00) // channel 1, 30 µs units, offset 32
	}
	ext := append([]byte{flags}, fields...)
	payload := append([]byte{byte(len(ext)) | advMode<<6}, ext...)
	payload = append(payload, data...)
	dst = append(dst, channel, byte(0xC4), 0, 0, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint16(dst, lePhdrDewhitened|lePhdrSignalValid)
	dst = binary.LittleEndian.AppendUint32(dst, leAdvertisingAccessAddress)
	pdu := len(dst)
	hdr0 := byte(llAdvExtInd)
	if advA != nil {
		hdr0 |= 1 << 6 // TxAdd: random
	}
	dst = append(dst, hdr0, byte(len(payload)))
	dst = append(dst, payload...)
	return appendLLCRC(dst, llCRC(llAdvCRCInit, dst[pdu:]))
}

// extendedLLScenario is an extended advertisement of a full Find My frame
// split over AUX_ADV_IND and AUX_CHAIN_IND, announced by ADV_EXT_IND, then
// a PACT-sized one in a single AUX_ADV_IND, then an AUX_CHAIN_IND of no
// chain being followed.
func extendedLLScenario(t testing.TB) (records [][]byte, addr [6]byte, ad []byte) {
	t.Helper()
	var key findmy.Key
	for i := range key {
		key[i] = byte(0x31 + i)
	}
	addr, full := findmy.EncodeFull(key, findmy.MakeStatus(findmy.BatteryFull, findmy.DeviceAirTag, false), 9)
	ad = full[:]
	const adi = 0x5ABC // SID 5, DID 0xABC
	records = append(records,
		appendLLExtRecord(nil, 37, &addr, adi, true, 0, nil),
		appendLLExtRecord(nil, 12, &addr, adi, true, 0, ad[:10]),
		appendLLExtRecord(nil, 1, nil, adi, true, 0, ad[10:20]),
		appendLLExtRecord(nil, 22, nil, adi, false, 0, ad[20:]),
		appendLLExtRecord(nil, 30, &addr, 0x7001, false, 0, []byte{0x02, 0x01, 0x06}),
		appendLLExtRecord(nil, 3, nil, 0x1234, false, 0, []byte{0x02, 0x01, 0x06}),
	)
	return records, addr, ad
}

func writeLLRecords(t testing.TB, records [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, LinkTypeBluetoothLELLWithPHDR, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range records {
		if err := w.WriteRecord(scenarioStart.Add(time.Duration(i)*time.Millisecond), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestExtendedAdvertisingInLLCapture follows ADV_EXT_IND to AUX_ADV_IND
// and its AUX_CHAIN_IND packets, so that a Find My frame sent with
// extended advertising is read whole from a sniffer capture.
func TestExtendedAdvertisingInLLCapture(t *testing.T) {
	records, addr, ad := extendedLLScenario(t)
	c, err := NewCapture(bytes.NewReader(writeLLRecords(t, records)), "ext")
	if err != nil {
		t.Fatal(err)
	}
	c.OnMalformed = func(err error) { t.Errorf("malformed: %v", err) }
	var got []hci.AdvReport
	if err := c.Reports(t.Context(), func(r *hci.AdvReport) error {
		cp := *r
		cp.Data = bytes.Clone(r.Data)
		got = append(got, cp)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d reports %+v, want 2", len(got), got)
	}
	if r := got[0]; r.Addr != addr || r.AddrType != 1 || !bytes.Equal(r.Data, ad) || r.SID != 5 || !r.Extended || r.Type != hci.PDUExtended || r.RSSI != -60 {
		t.Errorf("chained report %+v", r)
	}
	if adv, err := findmy.Parse(got[0].Addr, got[0].Data); err != nil || adv.Form != findmy.FormFull {
		t.Errorf("findmy.Parse of the chained report: %v", err)
	}
	if r := got[1]; r.Addr != addr || r.SID != 7 || !bytes.Equal(r.Data, []byte{0x02, 0x01, 0x06}) {
		t.Errorf("single AUX_ADV_IND report %+v", r)
	}
	if st := c.Stats(); st.Reassembled != 1 || st.BadCRC != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestTsharkReadsOurExtendedLLCapture has Wireshark decode the extended
// advertising packets and checks that it finds the advertiser address,
// SID and DID where parseLLExtended does.
func TestTsharkReadsOurExtendedLLCapture(t *testing.T) {
	tshark := requireTshark(t)
	records, _, _ := extendedLLScenario(t)
	var want []string
	for _, rec := range records {
		pdu := rec[lePhdrLen+llAALen : len(rec)-llCRCLen]
		e, err := parseLLExtended(pdu[llHeaderLen:], 0)
		if err != nil {
			t.Fatal(err)
		}
		a := ""
		if e.hasAdvA {
			a = strings.ToLower(fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", e.advA[0], e.advA[1], e.advA[2], e.advA[3], e.advA[4], e.advA[5]))
		}
		want = append(want, fmt.Sprintf("0x07|%s|0x%04x|0x%04x|", a, e.adi>>12, e.adi&0xFFF))
	}
	path := filepath.Join(t.TempDir(), "ext.pcap")
	if err := os.WriteFile(path, writeLLRecords(t, records), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := runTshark(t, tshark, path, "btle.advertising_header.pdu_type", "btle.advertising_address",
		"btle.extended_advertising.advertising_data_info.sid", "btle.extended_advertising.advertising_data_info.did",
		"btle.crc.incorrect", "_ws.malformed")
	// Wireshark dissects the AD structures of each packet on its own, so
	// it calls the pieces of a structure split across packets malformed;
	// the last field is left out of the comparison for that reason.
	var got []string
	for _, l := range lines {
		got = append(got, l[:strings.LastIndex(l, "|")])
	}
	if !slices.Equal(got, want) {
		t.Errorf("tshark saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzParseLLExtended checks that the Common Extended Advertising Payload
// parser never panics, reports only malformed errors, and that the data
// it returns is the end of the payload after the announced header.
func FuzzParseLLExtended(f *testing.F) {
	records, _, _ := extendedLLScenario(f)
	for _, rec := range records {
		f.Add(rec[lePhdrLen+llAALen+llHeaderLen : len(rec)-llCRCLen])
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := parseLLExtended(payload, 0)
		if err != nil {
			if !errors.Is(err, hci.ErrMalformed) {
				t.Fatalf("error %v does not wrap hci.ErrMalformed", err)
			}
			return
		}
		if hdr := int(payload[0] & 0x3F); !bytes.Equal(e.data, payload[1+hdr:]) {
			t.Fatalf("data %X is not what follows the %d-byte header in %X", e.data, hdr, payload)
		}
	})
}
