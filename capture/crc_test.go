package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
)

// TestLELLCRC checks that a link-layer packet whose CRC is wrong yields no
// report and is counted in BadCRC, whether the sniffer said so or left the
// check to us (as HackRF captures do, flags 0x0001).
func TestLELLCRC(t *testing.T) {
	var key findmy.Key
	for i := range key {
		key[i] = byte(0x11 * (i + 1))
	}
	addr, ad := findmy.EncodeFull(key, findmy.MakeStatus(findmy.BatteryFull, findmy.DeviceAirTag, false), 0)
	good, err := appendLELLAdvertising(nil, 37, &hci.AdvReport{Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: addr, Data: ad[:], RSSI: -60})
	if err != nil {
		t.Fatal(err)
	}
	const keyByte = lePhdrLen + llAALen + llHeaderLen + llAdvAddrLen + 10
	tests := []struct {
		name      string
		flags     uint16
		flip      int // record byte whose lowest bit is flipped; 0: none
		reports   uint64
		badCRC    uint64
		malformed uint64
	}{
		{name: "sniffer checked, valid", flags: lePhdrDewhitened | lePhdrCRCChecked | lePhdrCRCValid, reports: 1},
		{name: "sniffer checked, wrong", flags: lePhdrDewhitened | lePhdrCRCChecked, badCRC: 1},
		{name: "unchecked, right", flags: lePhdrDewhitened, reports: 1},
		{name: "unchecked, key bit flipped", flags: lePhdrDewhitened, flip: keyByte, badCRC: 1},
		{name: "unchecked, CRC bit flipped", flags: lePhdrDewhitened, flip: len(good) - 1, badCRC: 1},
		{name: "unchecked, length bit flipped", flags: lePhdrDewhitened, flip: lePhdrLen + llAALen + 1, badCRC: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := bytes.Clone(good)
			binary.LittleEndian.PutUint16(rec[8:], tc.flags)
			if tc.flip != 0 {
				rec[tc.flip] ^= 1
			}
			var buf bytes.Buffer
			w, err := NewPcapWriter(&buf, LinkTypeBluetoothLELLWithPHDR, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteRecord(scenarioStart, rec); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			c, err := NewCapture(&buf, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			c.OnMalformed = func(error) {}
			collectReports(t, c)
			st := c.Stats()
			if st.Reports != tc.reports || st.BadCRC != tc.badCRC || st.Malformed != tc.malformed {
				t.Errorf("stats %+v, want reports %d, bad CRC %d, malformed %d", st, tc.reports, tc.badCRC, tc.malformed)
			}
			var r hci.AdvReport
			_, err = new(llDecoder).decodeLELLAdvertising(rec, time.Time{}, &r)
			if (tc.badCRC != 0) != errors.Is(err, ErrBadCRC) || (err != nil && !errors.Is(err, hci.ErrMalformed)) {
				t.Errorf("decode error %v, want ErrBadCRC: %v", err, tc.badCRC != 0)
			}
		})
	}
}

// TestCaptureCountsAdvertisingEvents checks that Events counts the
// advertising report events only, not command completes and other events.
func TestCaptureCountsAdvertisingEvents(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, LinkTypeBluetoothHCIH4WithPHDR, false)
	if err != nil {
		t.Fatal(err)
	}
	adv, err := hci.AppendLEAdvertisingReport(nil, hci.AdvReport{Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: [6]byte{0xC0, 1, 2, 3, 4, 5}, RSSI: -50})
	if err != nil {
		t.Fatal(err)
	}
	events := [][]byte{
		{0x0E, 0x04, 0x01, 0x0C, 0x20, 0x00}, // Command Complete, LE Set Scan Enable
		adv,
		{0x3E, 0x02, 0x14, 0x00}, // an LE Meta event of another subevent
		{0x13, 0x05, 0x01, 0x40, 0x00, 0x01, 0x00}, // Number Of Completed Packets
		adv,
	}
	for i, e := range events {
		if err := w.WriteH4Event(scenarioStart.Add(time.Duration(i)*time.Millisecond), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	c, err := NewCapture(&buf, "events")
	if err != nil {
		t.Fatal(err)
	}
	collectReports(t, c)
	if st := c.Stats(); st.Records != 5 || st.Events != 2 || st.Reports != 2 || st.Malformed != 0 {
		t.Errorf("stats %+v, want 5 records, 2 advertising events, 2 reports", st)
	}
}
