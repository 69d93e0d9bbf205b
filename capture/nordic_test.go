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

	"github.com/pact-findmy/pact-findmy/hci"
)

// appendNordicBLE appends a LinkTypeNordicBLE record, header version
// version (2 or 3), built field by field from Wireshark's description
// (nordic.go): ll is the link-layer packet from its access address to its
// CRC, rssi the signal as a negative dBm value.
func appendNordicBLE(dst []byte, version, packetID, channel uint8, rssi int8, crcOK bool, ll []byte) []byte {
	dst = append(dst, 1) // board ID
	dst = binary.LittleEndian.AppendUint16(dst, uint16(nordicEventHeaderLen+len(ll)))
	dst = append(dst, version)
	dst = binary.LittleEndian.AppendUint16(dst, 7) // packet counter
	dst = append(dst, packetID, nordicEventHeaderLen)
	flags := byte(0)
	if crcOK {
		flags |= nordicFlagCRCOK
	}
	dst = append(dst, flags, channel, byte(-int(rssi)))
	dst = binary.LittleEndian.AppendUint16(dst, 0)      // event counter
	dst = binary.LittleEndian.AppendUint32(dst, 123456) // time
	return append(dst, ll...)
}

// nordicScenario is a capture's worth of records for the link types
// without a pseudo-header: each report of the scenario's legacy events as
// an nRF Sniffer version 3 packet, again as version 2, a packet with a
// bad CRC, a data channel packet, and a SCAN_REQ; the reports expected
// from them follow.
func nordicScenario(t testing.TB) (records [][]byte, times []time.Time, want []timedReport) {
	t.Helper()
	for _, e := range captureScenario(t) {
		for i, w := range e.reports {
			if w.Extended {
				continue
			}
			r := fromWant(t, w)
			rec, err := appendLELLAdvertising(nil, uint8(37+i%3), &r)
			if err != nil {
				t.Fatal(err)
			}
			ll := rec[lePhdrLen:]
			rssi := w.RSSI
			if rssi == rssiNotAvailable || rssi > 0 {
				rssi = -1
			}
			w.RSSI = rssi
			version, id := uint8(3), uint8(nordicIDAdvertising)
			if len(records)%2 == 1 {
				version, id = 2, nordicIDPacket
			}
			records = append(records, appendNordicBLE(nil, version, id, 37, rssi, true, ll))
			times = append(times, e.time)
			want = append(want, timedReport{e.time, w})
		}
	}
	last := times[len(times)-1]
	r := fromWant(t, want[0].wantReport)
	rec, err := appendLELLAdvertising(nil, 38, &r)
	if err != nil {
		t.Fatal(err)
	}
	records = append(records, appendNordicBLE(nil, 3, nordicIDAdvertising, 38, -70, false, rec[lePhdrLen:]))
	data := []byte{0x78, 0x56, 0x34, 0x12, 0x01, 0x00}
	data = appendLLCRC(data, llCRC(0x123456, data[4:]))
	records = append(records, appendNordicBLE(nil, 3, nordicIDPacket, 5, -40, true, data))
	scanReq := []byte{0xD6, 0xBE, 0x89, 0x8E, 0x43, 0x0C, 1, 2, 3, 4, 5, 6, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}
	scanReq = appendLLCRC(scanReq, llCRC(llAdvCRCInit, scanReq[4:]))
	records = append(records, appendNordicBLE(nil, 3, nordicIDAdvertising, 39, -50, true, scanReq))
	times = append(times, last, last, last)
	return records, times, want
}

func writeNordicCaptures(t *testing.T) map[string][]byte {
	records, times, _ := nordicScenario(t)
	files := map[string][]byte{}
	var pcap, pcapng bytes.Buffer
	pw, err := NewPcapWriter(&pcap, LinkTypeNordicBLE, false)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := newPcapngWriter(&pcapng, LinkTypeNordicBLE)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range records {
		if err := pw.WriteRecord(times[i], rec); err != nil {
			t.Fatal(err)
		}
		if err := nw.WriteRecord(times[i], rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nw.Flush(); err != nil {
		t.Fatal(err)
	}
	files["nordic.pcap"], files["nordic.pcapng"] = pcap.Bytes(), pcapng.Bytes()
	return files
}

// TestNordicCaptures reads the nRF Sniffer's link type in pcap and pcapng:
// every advertising report, none from the bad CRC (counted), the data
// channel packet or the SCAN_REQ.
func TestNordicCaptures(t *testing.T) {
	_, _, want := nordicScenario(t)
	for name, file := range writeNordicCaptures(t) {
		t.Run(name, func(t *testing.T) {
			c, err := NewCapture(bytes.NewReader(file), name)
			if err != nil {
				t.Fatal(err)
			}
			c.OnMalformed = func(err error) { t.Errorf("malformed: %v", err) }
			got := collectReports(t, c)
			if !slices.EqualFunc(got, want, func(a, b timedReport) bool { return a.time.Equal(b.time) && a.wantReport == b.wantReport }) {
				t.Errorf("reports\n%+v\nwant\n%+v", got, want)
			}
			if st := c.Stats(); st.BadCRC != 1 || st.Events != uint64(len(want)) {
				t.Errorf("stats %+v, want 1 bad CRC and %d events", st, len(want))
			}
		})
	}
}

// TestRawLinkTypesInPcapng reads link types 251 and 187 from pcapng, as
// from pcap (TestHandwrittenCaptures).
func TestRawLinkTypesInPcapng(t *testing.T) {
	ll := mustHex(t, "D6BE898E 42 25 A4253D086DFB 1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0 720BDF")
	h4 := mustHex(t, "04 3E2B020103 01 A4253D086DFB 1F 1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0 C5")
	for _, tc := range []struct {
		linkType uint32
		record   []byte
		rssi     int8
	}{
		{LinkTypeBluetoothLELL, ll, rssiNotAvailable},
		{LinkTypeBluetoothHCIH4, h4, -59},
	} {
		t.Run(fmt.Sprint(tc.linkType), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := newPcapngWriter(&buf, tc.linkType)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteRecord(airTagTime, tc.record); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			c, err := NewCapture(&buf, "raw")
			if err != nil {
				t.Fatal(err)
			}
			c.OnMalformed = func(err error) { t.Errorf("malformed: %v", err) }
			got := collectReports(t, c)
			if len(got) != 1 || got[0].Addr != "FB:6D:08:3D:25:A4" || got[0].RSSI != tc.rssi || !got[0].time.Equal(airTagTime) {
				t.Errorf("reports %+v", got)
			}
		})
	}
}

// TestUnsupportedLinkTypes checks that a link type the package does not
// read is refused in either container, naming it, rather than replayed as
// an empty capture.
func TestUnsupportedLinkTypes(t *testing.T) {
	for _, lt := range []uint32{1, 188, 250, 255, 257, 273} {
		t.Run(fmt.Sprintf("pcap %d", lt), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewPcapWriter(&buf, lt, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			_, err = NewCapture(&buf, "x")
			var le *LinkTypeError
			if !errors.Is(err, ErrUnsupportedLinkType) || !errors.As(err, &le) || le.LinkType != lt || errors.Is(err, hci.ErrMalformed) {
				t.Errorf("error %v, want a LinkTypeError for %d", err, lt)
			}
		})
		t.Run(fmt.Sprintf("pcapng %d", lt), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := newPcapngWriter(&buf, lt)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteRecord(airTagTime, []byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			c, err := NewCapture(&buf, "x")
			if err != nil {
				t.Fatal(err)
			}
			err = c.Reports(t.Context(), func(*hci.AdvReport) error { return nil })
			var le *LinkTypeError
			if !errors.Is(err, ErrUnsupportedLinkType) || !errors.As(err, &le) || le.LinkType != lt || le.Offset != 28 {
				t.Errorf("error %v, want a LinkTypeError for %d at offset 28", err, lt)
			}
		})
	}
}

// TestTsharkReadsOurNordicCaptures has Wireshark decode the nRF Sniffer
// captures and checks that, for the advertising packets whose CRC the
// sniffer found good, it finds the same times, advertisers, RSSIs and AD
// structures (length and type of each) as this package.
func TestTsharkReadsOurNordicCaptures(t *testing.T) {
	tshark := requireTshark(t)
	_, _, want := nordicScenario(t)
	var wantLines []string
	for _, r := range want {
		wantLines = append(wantLines, fmt.Sprintf("%s|%s|%d|%s", epochField(r.time), strings.ToLower(r.Addr), r.RSSI, adStructure(mustHex(t, r.Data))))
	}
	dir := t.TempDir()
	for name, file := range writeNordicCaptures(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}
			lines := runTshark(t, tshark, path, "frame.time_epoch", "btle.advertising_address", "nordic_ble.rssi",
				"btcommon.eir_ad.entry.length", "btcommon.eir_ad.entry.type", "nordic_ble.crcok", "btle.advertising_header.pdu_type", "_ws.malformed")
			var got []string
			for _, l := range lines {
				f := strings.Split(l, "|")
				if len(f) != 8 {
					t.Fatalf("tshark line %q", l)
				}
				if f[5] != "1" && f[5] != "True" || f[6] == "" || f[6] == "0x03" || f[7] != "" {
					continue
				}
				var entries []string
				if f[3] != "" {
					lens, types := strings.Split(f[3], ","), strings.Split(f[4], ",")
					for i := range lens {
						typ := ""
						if i < len(types) {
							typ = types[i]
						}
						entries = append(entries, lens[i]+":"+typ)
					}
				}
				got = append(got, strings.Join(f[:3], "|")+"|"+strings.Join(entries, " "))
			}
			if !slices.Equal(got, wantLines) {
				t.Errorf("tshark saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
			}
		})
	}
}

// adStructure lists the length and type of each AD structure as tshark
// prints them ("30:0xff"), up to a zero length or the end.
func adStructure(ad []byte) string {
	var entries []string
	for i := 0; i < len(ad) && ad[i] != 0 && i+1 < len(ad); i += 1 + int(ad[i]) {
		entries = append(entries, fmt.Sprintf("%d:0x%02x", ad[i], ad[i+1]))
	}
	return strings.Join(entries, " ")
}

// FuzzDecodeNordicBLE checks that no record makes the nRF Sniffer decoder
// panic, that what it reports lies inside the record, and that it reads
// the link-layer packet as the LE LL decoder reads the same packet.
func FuzzDecodeNordicBLE(f *testing.F) {
	records, _, _ := nordicScenario(f)
	for _, r := range records {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var r hci.AdvReport
		ok, err := new(llDecoder).decodeNordicBLE(rec, time.Time{}, &r)
		if err != nil && !errors.Is(err, hci.ErrMalformed) {
			t.Fatalf("error %v does not wrap hci.ErrMalformed", err)
		}
		if !ok {
			return
		}
		if len(r.Data) > len(rec) {
			t.Fatalf("data of %d bytes from a %d-byte record", len(r.Data), len(rec))
		}
		if rec[8]>>nordicPHYShift&nordicPHYMask == nordicPHYCoded {
			return
		}
		// The same packet behind an LE LL pseudo-header with the CRC
		// marked checked and good reads the same.
		phdr := []byte{37, byte(r.RSSI), 0, 0, 0, 0, 0, 0, 0, 0}
		binary.LittleEndian.PutUint16(phdr[8:], lePhdrCRCChecked|lePhdrCRCValid|lePhdrSignalValid)
		var again hci.AdvReport
		ok2, err2 := new(llDecoder).decodeLELLAdvertising(append(phdr, rec[nordicHeaderLen+int(rec[7]):]...), time.Time{}, &again)
		if !ok2 || err2 != nil || again.Addr != r.Addr || !bytes.Equal(again.Data, r.Data) || again.Type != r.Type || again.RSSI != r.RSSI {
			t.Fatalf("nRF read %+v, LE LL read %+v (%v, %v)", r, again, ok2, err2)
		}
	})
}
