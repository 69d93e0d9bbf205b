package hci

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var updateCaptures = flag.Bool("update-captures", false, "rewrite the generated capture files under testdata/")

// scenarioStart is the capture time of the first scenario record. It has
// whole microseconds so every format holds it exactly.
var scenarioStart = time.Date(2026, 11, 28, 12, 0, 0, 123456000, time.UTC)

// scenarioEvent is one HCI event of the test scenario and the reports it
// must yield.
type scenarioEvent struct {
	time    time.Time
	event   []byte
	reports []wantReport
}

// captureScenario turns the well-formed cases of testdata/adv_events.json
// into a timed stream of events: the reports the capture readers must give
// back, in order.
func captureScenario(t testing.TB) []scenarioEvent {
	var out []scenarioEvent
	at := scenarioStart
	for _, tc := range loadAdvEventCases(t) {
		if tc.Error != "" || tc.Hex == "" {
			continue
		}
		out = append(out, scenarioEvent{time: at, event: mustHex(t, tc.Hex), reports: tc.Want})
		at = at.Add(1500*time.Millisecond + 7*time.Microsecond)
	}
	return out
}

// Non-event traffic the readers must skip: LE Set Scan Enable (command)
// and an ACL packet.
var (
	scenarioCommand = []byte{0x0C, 0x20, 0x02, 0x01, 0x00}
	scenarioACL     = []byte{0x01, 0x20, 0x03, 0x00, 0xAA, 0xBB, 0xCC}
)

func writeScenarioBtsnoop(t testing.TB, datalink uint32) []byte {
	var buf bytes.Buffer
	w, err := NewBtsnoopWriter(&buf, datalink)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	sc := captureScenario(t)
	before := sc[0].time.Add(-time.Millisecond)
	switch datalink {
	case BtsnoopH1:
		must(w.WriteRecord(before, BtsnoopFlagCommandEvent, 0, scenarioCommand))
		must(w.WriteRecord(before, BtsnoopFlagReceived, 0, scenarioACL))
	case BtsnoopH4:
		must(w.WriteRecord(before, BtsnoopFlagCommandEvent, 0, []byte{H4Command}, scenarioCommand))
		must(w.WriteRecord(before, BtsnoopFlagReceived, 0, []byte{H4ACL}, scenarioACL))
	case BtsnoopMonitor:
		// New Index: type, bus, address, name (BlueZ monitor format).
		newIndex := append([]byte{0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00}, "hci0\x00\x00\x00\x00"...)
		must(w.WriteRecord(before, uint32(MonitorNewIndex), 0, newIndex))
		must(w.WriteRecord(before, uint32(MonitorCommandPkt), 0, scenarioCommand))
		must(w.WriteRecord(before, uint32(MonitorACLRxPkt), 0, scenarioACL))
	}
	for _, e := range sc {
		must(w.WriteEvent(e.time, e.event))
	}
	must(w.Flush())
	return buf.Bytes()
}

func writeScenarioPcapH4(t testing.TB, nano bool) []byte {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, LinkTypeBluetoothHCIH4WithPHDR, nano)
	if err != nil {
		t.Fatal(err)
	}
	sc := captureScenario(t)
	before := sc[0].time.Add(-time.Millisecond)
	if err := w.WriteRecord(before, []byte{0, 0, 0, 0, H4Command}, scenarioCommand); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord(before, []byte{0, 0, 0, 1, H4ACL}, scenarioACL); err != nil {
		t.Fatal(err)
	}
	for _, e := range sc {
		if err := w.WriteH4Event(e.time, e.event); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeScenarioPcapng(t testing.TB) []byte {
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, LinkTypeBluetoothHCIH4WithPHDR)
	if err != nil {
		t.Fatal(err)
	}
	sc := captureScenario(t)
	if err := w.WriteRecord(sc[0].time.Add(-time.Millisecond), []byte{0, 0, 0, 0, H4Command}, scenarioCommand); err != nil {
		t.Fatal(err)
	}
	for _, e := range sc {
		if err := w.WriteRecord(e.time, phdrReceivedEvent, e.event); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// llScenario is the legacy reports of the scenario, one link-layer packet
// each, with a SCAN_REQ and a data-channel packet the reader must skip.
func writeScenarioPcapLL(t testing.TB) []byte {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, LinkTypeBluetoothLELLWithPHDR, false)
	if err != nil {
		t.Fatal(err)
	}
	sc := captureScenario(t)
	scanReq := []byte{0, 0xC0, 0, 0, 0, 0, 0, 0, 0x01, 0x0C, 0xD6, 0xBE, 0x89, 0x8E, 0x43, 0x0C,
		1, 2, 3, 4, 5, 6, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}
	scanReq = appendLLCRC(scanReq, LLCRC(llAdvCRCInit, scanReq[14:]))
	dataPDU := []byte{5, 0xC0, 0, 0, 0, 0, 0, 0, 0x01, 0x0C, 0x78, 0x56, 0x34, 0x12, 0x01, 0x00}
	dataPDU = appendLLCRC(dataPDU, LLCRC(0x123456, dataPDU[14:]))
	if err := w.WriteRecord(sc[0].time.Add(-time.Millisecond), scanReq); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord(sc[0].time.Add(-time.Millisecond), dataPDU); err != nil {
		t.Fatal(err)
	}
	for _, e := range sc {
		for i, want := range e.reports {
			if want.Extended {
				continue
			}
			r := fromWant(t, want)
			rec, err := AppendLELLAdvertising(nil, uint8(i*12), &r)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteRecord(e.time, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// generatedCaptures are the capture files under testdata/ that the
// writers produce from the scenario; llOnly marks the link-layer capture,
// which holds only legacy reports.
var generatedCaptures = []struct {
	file   string
	llOnly bool
	gen    func(testing.TB) []byte
}{
	{"scenario_h4.btsnoop", false, func(t testing.TB) []byte { return writeScenarioBtsnoop(t, BtsnoopH4) }},
	{"scenario_h1.btsnoop", false, func(t testing.TB) []byte { return writeScenarioBtsnoop(t, BtsnoopH1) }},
	{"scenario_monitor.btsnoop", false, func(t testing.TB) []byte { return writeScenarioBtsnoop(t, BtsnoopMonitor) }},
	{"scenario_h4.pcap", false, func(t testing.TB) []byte { return writeScenarioPcapH4(t, false) }},
	{"scenario_h4_nano.pcap", false, func(t testing.TB) []byte { return writeScenarioPcapH4(t, true) }},
	{"scenario_h4.pcapng", false, writeScenarioPcapng},
	{"scenario_ll.pcap", true, writeScenarioPcapLL},
}

// TestGeneratedCapturesUpToDate keeps the files under testdata/ equal to
// what the writers produce; run with -update-captures to rewrite them.
func TestGeneratedCapturesUpToDate(t *testing.T) {
	for _, g := range generatedCaptures {
		t.Run(g.file, func(t *testing.T) {
			want := g.gen(t)
			path := filepath.Join("testdata", g.file)
			if *updateCaptures {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./hci -run TestGeneratedCapturesUpToDate -update-captures)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the writer's output (run with -update-captures)", path)
			}
		})
	}
}

type timedReport struct {
	time time.Time
	wantReport
}

func expectedScenarioReports(t testing.TB, llOnly bool) []timedReport {
	var out []timedReport
	for _, e := range captureScenario(t) {
		for _, w := range e.reports {
			if llOnly && w.Extended {
				continue
			}
			out = append(out, timedReport{e.time, w})
		}
	}
	return out
}

func collectReports(t testing.TB, c *Capture) []timedReport {
	t.Helper()
	var got []timedReport
	err := c.Reports(context.Background(), func(r *AdvReport) error {
		got = append(got, timedReport{r.Time, toWant(r)})
		return nil
	})
	if err != nil {
		t.Fatalf("Reports: %v", err)
	}
	return got
}

func TestOpenCaptureGenerated(t *testing.T) {
	for _, g := range generatedCaptures {
		t.Run(g.file, func(t *testing.T) {
			c, err := OpenCapture(filepath.Join("testdata", g.file))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.OnMalformed = func(err error) { t.Errorf("malformed: %v", err) }
			got := collectReports(t, c)
			want := expectedScenarioReports(t, g.llOnly)
			if len(got) != len(want) {
				t.Fatalf("%d reports, want %d", len(got), len(want))
			}
			for i := range want {
				if !got[i].time.Equal(want[i].time) {
					t.Errorf("report %d time %v, want %v", i, got[i].time, want[i].time)
				}
				if got[i].wantReport != want[i].wantReport {
					t.Errorf("report %d:\n got %+v\nwant %+v", i, got[i].wantReport, want[i].wantReport)
				}
			}
			st := c.Stats()
			if st.Reports != uint64(len(want)) || st.Malformed != 0 || st.Truncated {
				t.Errorf("stats %+v", st)
			}
			if st.Records <= st.Events-1 || st.Events == 0 {
				t.Errorf("stats %+v: records and events do not add up", st)
			}
		})
	}
}

func TestOpenCaptureFormats(t *testing.T) {
	want := map[string]string{
		"scenario_h4.btsnoop": CaptureBtsnoop, "scenario_monitor.btsnoop": CaptureBtsnoop,
		"scenario_h4.pcap": CapturePcap, "scenario_ll.pcap": CapturePcap, "scenario_h4.pcapng": CapturePcapng,
	}
	for file, format := range want {
		c, err := OpenCapture(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if c.Format != format {
			t.Errorf("%s: format %q, want %q", file, c.Format, format)
		}
		c.Close()
	}
}

func TestBtsnoopEpoch(t *testing.T) {
	// 0x00dcddb30f2f8000 microseconds after 0000-01-01 is the Unix epoch.
	if got := BtsnoopTime(0x00dcddb30f2f8000); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("BtsnoopTime(epoch delta) = %v", got)
	}
	if got := BtsnoopTimestamp(scenarioStart); BtsnoopTime(got) != scenarioStart.Local() && !BtsnoopTime(got).Equal(scenarioStart) {
		t.Errorf("round trip of %v gave %v", scenarioStart, BtsnoopTime(got))
	}
	// The btsnoop record header of the first scenario record holds the
	// timestamp big-endian at bytes 16-23.
	raw, err := os.ReadFile("testdata/scenario_h4.btsnoop")
	if err != nil {
		t.Fatal(err)
	}
	ts := int64(binary.BigEndian.Uint64(raw[btsnoopHeaderLen+16:]))
	if want := scenarioStart.Add(-time.Millisecond).UnixMicro() + 0x00dcddb30f2f8000; ts != want {
		t.Errorf("first record timestamp %d, want %d", ts, want)
	}
}

func TestCaptureStopsOnCallbackErrorAndContext(t *testing.T) {
	c, err := OpenCapture("testdata/scenario_h4.btsnoop")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := errors.New("enough")
	n := 0
	err = c.Reports(context.Background(), func(*AdvReport) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Fatalf("Reports = %v after %d reports, want stop after 2", err, n)
	}
	c2, err := OpenCapture("testdata/scenario_h4.btsnoop")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c2.Reports(ctx, func(*AdvReport) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reports with cancelled context = %v", err)
	}
}
