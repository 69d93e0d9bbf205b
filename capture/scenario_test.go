package capture

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/hci"
)

// advEventsFile holds the LE advertising report events of the hci
// package's decoder tests; the capture scenario replays its well-formed
// ones, so that both packages read the same bytes the same way.
const advEventsFile = "../hci/testdata/adv_events.json"

// wantReport is an hci.AdvReport as the test data spells it.
type wantReport struct {
	Type             hci.PDUType `json:"type"`
	Extended         bool        `json:"extended"`
	EventType        uint16      `json:"event_type"`
	AddrType         uint8       `json:"addr_type"`
	Addr             string      `json:"addr"`
	RSSI             int8        `json:"rssi"`
	Data             string      `json:"data"`
	PrimaryPHY       uint8       `json:"primary_phy"`
	SecondaryPHY     uint8       `json:"secondary_phy"`
	SID              uint8       `json:"sid"`
	TxPower          int8        `json:"tx_power"`
	PeriodicInterval uint16      `json:"periodic_interval"`
	DirectAddrType   uint8       `json:"direct_addr_type"`
	DirectAddr       string      `json:"direct_addr"`
}

// advEventCase is one event of advEventsFile; cases that name a
// malformed field are skipped here.
type advEventCase struct {
	Name string       `json:"name"`
	Hex  string       `json:"hex"`
	Want []wantReport `json:"want"`
	Bad  string       `json:"malformed_field"`
}

func loadAdvEventCases(t testing.TB) []advEventCase {
	t.Helper()
	raw, err := os.ReadFile(advEventsFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []advEventCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("%s: %v", advEventsFile, err)
	}
	if len(file.Cases) == 0 {
		t.Fatalf("%s: no cases", advEventsFile)
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

func toWant(r *hci.AdvReport) wantReport {
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

func fromWant(t testing.TB, w wantReport) hci.AdvReport {
	return hci.AdvReport{
		Type: w.Type, Extended: w.Extended, EventType: w.EventType, AddrType: w.AddrType,
		Addr: parseAddr(t, w.Addr), RSSI: w.RSSI, Data: mustHex(t, w.Data),
		PrimaryPHY: w.PrimaryPHY, SecondaryPHY: w.SecondaryPHY, SID: w.SID, TxPower: w.TxPower,
		PeriodicInterval: w.PeriodicInterval, DirectAddrType: w.DirectAddrType,
		DirectAddr: parseAddr(t, w.DirectAddr),
	}
}

// reportsInterleaved reports whether the n reports of an advertising
// report event's parameters p (Num_Reports first) lie one after another,
// each fixed bytes plus the data length found lenAt bytes into it, as
// controllers send them and Wireshark reads them, rather than as the
// parallel arrays of the Core spec's drawing.
func reportsInterleaved(p []byte, fixed, lenAt int) bool {
	off := 1
	for range int(p[0]) {
		if off+fixed > len(p) {
			return false
		}
		off += fixed + int(p[off+lenAt])
	}
	return off == len(p)
}
