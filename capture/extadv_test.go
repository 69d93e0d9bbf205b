package capture

import (
	"bytes"
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
