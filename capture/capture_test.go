package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
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
		if tc.Bad != "" || tc.Hex == "" {
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
	case btsnoopH1:
		must(w.WriteRecord(before, btsnoopFlagCommandEvent, 0, scenarioCommand))
		must(w.WriteRecord(before, btsnoopFlagReceived, 0, scenarioACL))
	case BtsnoopH4:
		must(w.WriteRecord(before, btsnoopFlagCommandEvent, 0, []byte{hci.H4Command}, scenarioCommand))
		must(w.WriteRecord(before, btsnoopFlagReceived, 0, []byte{hci.H4ACL}, scenarioACL))
	case btsnoopMonitor:
		// New Index: type, bus, address, name (BlueZ monitor format).
		newIndex := append([]byte{0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00}, "hci0\x00\x00\x00\x00"...)
		must(w.WriteRecord(before, uint32(monitorNewIndex), 0, newIndex))
		must(w.WriteRecord(before, uint32(monitorCommandPkt), 0, scenarioCommand))
		must(w.WriteRecord(before, uint32(monitorACLRxPkt), 0, scenarioACL))
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
	if err := w.WriteRecord(before, []byte{0, 0, 0, 0, hci.H4Command}, scenarioCommand); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord(before, []byte{0, 0, 0, 1, hci.H4ACL}, scenarioACL); err != nil {
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
	w, err := newPcapngWriter(&buf, LinkTypeBluetoothHCIH4WithPHDR)
	if err != nil {
		t.Fatal(err)
	}
	sc := captureScenario(t)
	if err := w.WriteRecord(sc[0].time.Add(-time.Millisecond), []byte{0, 0, 0, 0, hci.H4Command}, scenarioCommand); err != nil {
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
	scanReq = appendLLCRC(scanReq, llCRC(llAdvCRCInit, scanReq[14:]))
	dataPDU := []byte{5, 0xC0, 0, 0, 0, 0, 0, 0, 0x01, 0x0C, 0x78, 0x56, 0x34, 0x12, 0x01, 0x00}
	dataPDU = appendLLCRC(dataPDU, llCRC(0x123456, dataPDU[14:]))
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
			rec, err := appendLELLAdvertising(nil, uint8(i*12), &r)
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
	{"scenario_h1.btsnoop", false, func(t testing.TB) []byte { return writeScenarioBtsnoop(t, btsnoopH1) }},
	{"scenario_monitor.btsnoop", false, func(t testing.TB) []byte { return writeScenarioBtsnoop(t, btsnoopMonitor) }},
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
	err := c.Reports(context.Background(), func(r *hci.AdvReport) error {
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
	if got := btsnoopTime(0x00dcddb30f2f8000); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("BtsnoopTime(epoch delta) = %v", got)
	}
	if got := btsnoopTimestamp(scenarioStart); btsnoopTime(got) != scenarioStart.Local() && !btsnoopTime(got).Equal(scenarioStart) {
		t.Errorf("round trip of %v gave %v", scenarioStart, btsnoopTime(got))
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
	err = c.Reports(context.Background(), func(*hci.AdvReport) error {
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
	if err := c2.Reports(ctx, func(*hci.AdvReport) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reports with cancelled context = %v", err)
	}
}

type captureCases struct {
	Handwritten []struct {
		Name     string      `json:"name"`
		Hex      string      `json:"hex"`
		Format   string      `json:"format"`
		RSSI     int8        `json:"rssi"`
		Type     hci.PDUType `json:"type"`
		AddrType uint8       `json:"addr_type"`
	} `json:"handwritten"`
	Damaged []struct {
		Name      string `json:"name"`
		File      string `json:"file"`
		Truncate  int    `json:"truncate"`
		Offset    int    `json:"offset"`
		Insert    int    `json:"insert"`
		Hex       string `json:"hex"`
		Reports   uint64 `json:"reports"`
		Malformed uint64 `json:"malformed"`
		BadCRC    uint64 `json:"bad_crc"`
		Truncated bool   `json:"truncated"`
		Skipped   int64  `json:"skipped"`
		// BadField and BadOffset are what the first malformed record's
		// *hci.FormatError names, when set.
		BadField  string `json:"malformed_field"`
		BadOffset int64  `json:"malformed_offset"`
		// Gzip, when set, compresses the file before the damage:
		// "bad-crc" then also inverts the trailer's CRC-32.
		Gzip string `json:"gzip"`
	} `json:"damaged"`
}

func loadCaptureCases(t testing.TB) captureCases {
	t.Helper()
	raw, err := os.ReadFile("testdata/capture_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cc captureCases
	if err := json.Unmarshal(raw, &cc); err != nil {
		t.Fatalf("testdata/capture_cases.json: %v", err)
	}
	return cc
}

// airTagTime is when the hand-written captures received the AirTag frame.
var airTagTime = time.Date(2026, 11, 28, 12, 0, 0, 123456000, time.UTC)

func TestHandwrittenCaptures(t *testing.T) {
	for _, tc := range loadCaptureCases(t).Handwritten {
		t.Run(tc.Name, func(t *testing.T) {
			c, err := NewCapture(bytes.NewReader(mustHex(t, tc.Hex)), tc.Name)
			if err != nil {
				t.Fatal(err)
			}
			if c.Format != tc.Format {
				t.Errorf("format %q, want %q", c.Format, tc.Format)
			}
			c.OnMalformed = func(err error) { t.Errorf("malformed: %v", err) }
			got := collectReports(t, c)
			if len(got) != 1 {
				t.Fatalf("%d reports, want 1", len(got))
			}
			r := got[0]
			if !r.time.Equal(airTagTime) {
				t.Errorf("time %v, want %v", r.time.UTC(), airTagTime)
			}
			if r.Addr != "FB:6D:08:3D:25:A4" || r.RSSI != tc.RSSI || r.Type != tc.Type || r.AddrType != tc.AddrType ||
				r.Data != "1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0" {
				t.Errorf("report %+v", r.wantReport)
			}
		})
	}
}

func TestDamagedCaptures(t *testing.T) {
	for _, tc := range loadCaptureCases(t).Damaged {
		t.Run(tc.Name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tc.File))
			if err != nil {
				t.Fatal(err)
			}
			if tc.Gzip != "" {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				if _, err := zw.Write(raw); err != nil {
					t.Fatal(err)
				}
				if err := zw.Close(); err != nil {
					t.Fatal(err)
				}
				raw = buf.Bytes()
				if tc.Gzip == "bad-crc" {
					raw[len(raw)-8] ^= 0xFF
				}
			}
			switch {
			case tc.Truncate > 0:
				raw = raw[:tc.Truncate]
			case tc.Insert > 0:
				raw = slices.Concat(raw[:tc.Insert], mustHex(t, tc.Hex), raw[tc.Insert:])
			default:
				copy(raw[tc.Offset:], mustHex(t, tc.Hex))
			}
			c, err := NewCapture(bytes.NewReader(raw), tc.File)
			if err != nil {
				t.Fatal(err)
			}
			var errs []error
			c.OnMalformed = func(err error) {
				if !errors.Is(err, hci.ErrMalformed) {
					t.Errorf("malformed-record error %v does not wrap hci.ErrMalformed", err)
				}
				errs = append(errs, err)
			}
			collectReports(t, c)
			st := c.Stats()
			if st.Reports != tc.Reports || st.Malformed != tc.Malformed || st.BadCRC != tc.BadCRC || st.Truncated != tc.Truncated || st.SkippedBytes != tc.Skipped {
				t.Errorf("stats %+v, want reports %d malformed %d bad CRC %d truncated %v skipped %d\nerrors: %q",
					st, tc.Reports, tc.Malformed, tc.BadCRC, tc.Truncated, tc.Skipped, errs)
			}
			if len(errs) == 0 {
				return
			}
			if tc.BadField != "" {
				var fe *hci.FormatError
				if !errors.As(errs[0], &fe) || fe.Field != tc.BadField || fe.Offset != tc.BadOffset {
					t.Errorf("first error %v, want one naming %s at offset %d", errs[0], tc.BadField, tc.BadOffset)
				}
			}
			if tc.Gzip == "bad-crc" && !errors.Is(errs[0], gzip.ErrChecksum) {
				t.Errorf("first error %v, want gzip.ErrChecksum", errs[0])
			}
		})
	}
}

// TestUnopenableCaptures checks the files NewCapture refuses: each error
// wraps its sentinel and, for a damaged header, names the field and its
// offset.
func TestUnopenableCaptures(t *testing.T) {
	tests := []struct {
		name, hex string
		want      error  // the sentinel the error wraps
		field     string // for an *hci.FormatError: the field it names
		offset    int64
	}{
		{name: "empty file", hex: "", want: ErrEmptyCapture},
		{name: "gzip of an empty file", hex: "1F8B08000000000000FF030000000000000000", want: ErrEmptyCapture},
		{name: "text", hex: "48656C6C6F2C20776F726C640A", want: ErrUnknownFormat},
		{name: "btsnoop header cut", hex: "6274736E6F6F7000 0000", want: hci.ErrMalformed, field: "file header", offset: 0},
		{name: "btsnoop version 2", hex: "6274736E6F6F7000 00000002 000003EA", want: hci.ErrMalformed, field: "version number", offset: 8},
		{name: "btsnoop H5", hex: "6274736E6F6F7000 00000001 000003EC", want: hci.ErrMalformed, field: "datalink type", offset: 12},
		{name: "btsnoop unknown datalink", hex: "6274736E6F6F7000 00000001 00000001", want: hci.ErrMalformed, field: "datalink type", offset: 12},
		{name: "pcap Ethernet", hex: "D4C3B2A1 0200 0400 00000000 00000000 FFFF0000 01000000", want: ErrUnsupportedLinkType},
		{name: "pcap version 1", hex: "D4C3B2A1 0100 0400 00000000 00000000 FFFF0000 C9000000", want: hci.ErrMalformed, field: "version_major", offset: 4},
		{name: "pcap header cut", hex: "D4C3B2A1 0200 0400", want: hci.ErrMalformed, field: "file header", offset: 0},
		{name: "pcapng bad byte-order magic", hex: "0A0D0D0A 1C000000 11223344 0100 0000 FFFFFFFFFFFFFFFF 1C000000", want: hci.ErrMalformed, field: "Byte-Order Magic", offset: 0},
		{name: "gzip of nothing", hex: "1F8B", want: io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewCapture(bytes.NewReader(mustHex(t, tc.hex)), "x")
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want one wrapping %v", err, tc.want)
			}
			if tc.field == "" {
				return
			}
			var fe *hci.FormatError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Offset != tc.offset {
				t.Errorf("error %v, want one naming %s at offset %d", err, tc.field, tc.offset)
			}
		})
	}
	if _, err := OpenCapture(filepath.Join(t.TempDir(), "missing.btsnoop")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCaptureLogsFirstMalformedOnly(t *testing.T) {
	raw, err := os.ReadFile("testdata/scenario_h4.btsnoop")
	if err != nil {
		t.Fatal(err)
	}
	// Twenty records whose events are all malformed.
	bad := []byte{0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 0}
	bad = binary.BigEndian.AppendUint64(bad, uint64(btsnoopTimestamp(scenarioStart)))
	bad = append(bad, hci.H4Event, 0x3E, 0x05)
	for range 20 {
		raw = append(raw, bad...)
	}
	var logBuf bytes.Buffer
	c, err := NewCapture(bytes.NewReader(raw), "noisy")
	if err != nil {
		t.Fatal(err)
	}
	c.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	collectReports(t, c)
	if st := c.Stats(); st.Malformed != 20 {
		t.Fatalf("malformed %d, want 20", st.Malformed)
	}
	lines := strings.Count(logBuf.String(), "skipping malformed capture record")
	if lines != captureLogLimit || !strings.Contains(logBuf.String(), "further malformed records are counted") {
		t.Errorf("%d warnings logged, want %d and a note:\n%s", lines, captureLogLimit, logBuf.String())
	}
}

func TestGzipCapture(t *testing.T) {
	raw, err := os.ReadFile("testdata/scenario_h4.btsnoop")
	if err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write(raw)
	zw.Close()
	c, err := NewCapture(&zbuf, "scenario_h4.btsnoop.gz")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(collectReports(t, c)), len(expectedScenarioReports(t, false)); got != want {
		t.Errorf("%d reports from the gzip file, want %d", got, want)
	}
}

// fuzzSeeds are every capture under testdata, generated and hand-written.
func fuzzCaptureSeeds(f *testing.F) {
	for _, g := range generatedCaptures {
		raw, err := os.ReadFile(filepath.Join("testdata", g.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, h := range loadCaptureCases(f).Handwritten {
		f.Add(mustHex(f, h.Hex))
	}
}

// FuzzCapture feeds arbitrary files through format detection and the
// whole replay path: it must never panic, never loop, and only report
// malformed input as hci.ErrMalformed.
func FuzzCapture(f *testing.F) {
	fuzzCaptureSeeds(f)
	f.Fuzz(func(t *testing.T, file []byte) {
		c, err := NewCapture(bytes.NewReader(file), "fuzz")
		if err != nil {
			return
		}
		c.OnMalformed = func(err error) {
			if !errors.Is(err, hci.ErrMalformed) {
				t.Fatalf("malformed-record error %v does not wrap hci.ErrMalformed", err)
			}
		}
		var n uint64
		err = c.Reports(context.Background(), func(r *hci.AdvReport) error {
			n++
			if len(r.Data) > len(file) {
				t.Fatalf("report data of %d bytes from a %d-byte file", len(r.Data), len(file))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Reports on an in-memory file: %v", err)
		}
		if st := c.Stats(); st.Reports != n || st.Records > uint64(len(file)) {
			t.Fatalf("stats %+v after %d reports of a %d-byte file", st, n, len(file))
		}
	})
}

func FuzzBtsnoopReader(f *testing.F) {
	fuzzCaptureSeeds(f)
	f.Fuzz(func(t *testing.T, file []byte) {
		r, err := newBtsnoopReader(bytes.NewReader(file))
		readAllRecords(t, file, err, r.Next, func(rec btsnoopRecord) {
			if uint32(len(rec.Data)) > rec.OriginalLen || rec.Offset < btsnoopHeaderLen {
				t.Fatalf("record %+v", rec)
			}
		})
	})
}

func fuzzPacketReader(t *testing.T, file []byte, open func(io.Reader) (packetReader, error)) {
	r, err := open(bytes.NewReader(file))
	var next func() (packetRecord, error)
	if err == nil {
		next = r.Next
	}
	readAllRecords(t, file, err, next, func(rec packetRecord) {
		if len(rec.Data) > len(file) {
			t.Fatalf("record of %d bytes from a %d-byte file", len(rec.Data), len(file))
		}
	})
}

// readAllRecords is the body of the reader fuzz targets: openErr, the
// error of opening file, must wrap hci.ErrMalformed; otherwise next must reach
// io.EOF within one call per byte, every error in between wrapping
// hci.ErrMalformed, and check approves each record.
func readAllRecords[R any](t *testing.T, file []byte, openErr error, next func() (R, error), check func(R)) {
	t.Helper()
	if openErr != nil {
		if !errors.Is(openErr, hci.ErrMalformed) {
			t.Fatalf("header error %v does not wrap hci.ErrMalformed", openErr)
		}
		return
	}
	for range len(file) + 1 {
		rec, err := next()
		if err == io.EOF {
			return
		}
		if err != nil {
			if !errors.Is(err, hci.ErrMalformed) {
				t.Fatalf("error %v does not wrap hci.ErrMalformed", err)
			}
			continue
		}
		check(rec)
	}
	t.Fatal("reader did not reach io.EOF")
}

func FuzzPcapReader(f *testing.F) {
	fuzzCaptureSeeds(f)
	f.Fuzz(func(t *testing.T, file []byte) {
		fuzzPacketReader(t, file, func(r io.Reader) (packetReader, error) { return newPcapReader(r) })
	})
}

func FuzzPcapngReader(f *testing.F) {
	fuzzCaptureSeeds(f)
	f.Fuzz(func(t *testing.T, file []byte) {
		fuzzPacketReader(t, file, func(r io.Reader) (packetReader, error) { return newPcapngReader(r) })
	})
}

// FuzzDecodeLELLAdvertising checks the link-layer decoder and that what it
// accepts the encoder writes back byte for byte, pseudo-header aside.
func FuzzDecodeLELLAdvertising(f *testing.F) {
	for _, h := range loadCaptureCases(f).Handwritten {
		if b := mustHex(f, h.Hex); binary.LittleEndian.Uint32(b[20:]) == LinkTypeBluetoothLELLWithPHDR {
			f.Add(b[pcapHeaderLen+pcapRecordHeaderLen:])
		}
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var r hci.AdvReport
		ok, err := new(llDecoder).decodeLELLAdvertising(rec, time.Time{}, &r)
		if err != nil {
			if !errors.Is(err, hci.ErrMalformed) {
				t.Fatalf("error %v does not wrap hci.ErrMalformed", err)
			}
			return
		}
		if !ok {
			return
		}
		again, err := appendLELLAdvertising(nil, rec[0]%40, &r)
		if err != nil {
			return // payloads beyond the legacy 37 bytes decode but are not written
		}
		// Compare the link-layer packet; the CRC, the radio header's spare
		// fields and the header bits an hci.AdvReport does not keep (RFU,
		// ChSel, and RxAdd outside ADV_DIRECT_IND) may differ.
		const hdr0 = lePhdrLen + llAALen
		mask := byte(0x4F)
		if r.Type == hci.PDUAdvDirectInd {
			mask |= 0x80
		}
		want := bytes.Clone(rec[lePhdrLen : len(rec)-llCRCLen])
		want[llAALen] &= mask
		if got := again[lePhdrLen : len(again)-llCRCLen]; !bytes.Equal(got, want) || again[hdr0]&^mask != 0 {
			t.Fatalf("re-encoded %X\n       from %X", again, rec)
		}
	})
}

// TestCaptureStatsWhileRunning reads the counters from another goroutine
// during a replay, as the harvester's live statistics do; run under -race.
func TestCaptureStatsWhileRunning(t *testing.T) {
	raw, err := os.ReadFile("testdata/scenario_h4.btsnoop")
	if err != nil {
		t.Fatal(err)
	}
	// Garbage between copies of the records gives resynchronisations too.
	file := slices.Clone(raw)
	for range 50 {
		file = append(file, 0xEE, 0xEE, 0xEE)
		file = append(file, raw[btsnoopHeaderLen:]...)
	}
	c, err := NewCapture(bytes.NewReader(file), "concurrent")
	if err != nil {
		t.Fatal(err)
	}
	c.OnMalformed = func(error) {}
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = c.Reports(context.Background(), func(*hci.AdvReport) error { return nil })
	}()
	var last CaptureStats
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		st := c.Stats()
		if st.Reports < last.Reports || st.Malformed < last.Malformed {
			t.Fatalf("counters went backwards: %+v after %+v", st, last)
		}
		last = st
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
	st := c.Stats()
	if st.Reports != 51*12 || st.Malformed != 50 || st.SkippedBytes != 150 {
		t.Errorf("final stats %+v, want 612 reports, 50 malformed, 150 bytes skipped", st)
	}
}

func TestPcapngBlocks(t *testing.T) {
	raw, err := os.ReadFile("testdata/capture_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cc struct {
		Blocks struct {
			Hex   string   `json:"hex"`
			Times []string `json:"times"`
		} `json:"pcapng_blocks"`
	}
	if err := json.Unmarshal(raw, &cc); err != nil {
		t.Fatal(err)
	}
	c, err := NewCapture(bytes.NewReader(mustHex(t, cc.Blocks.Hex)), "blocks.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	c.OnMalformed = func(err error) { t.Errorf("malformed: %v", err) }
	got := collectReports(t, c)
	if len(got) != len(cc.Blocks.Times) {
		t.Fatalf("%d reports, want %d", len(got), len(cc.Blocks.Times))
	}
	for i, ts := range cc.Blocks.Times {
		var want time.Time
		if ts != "" {
			if want, err = time.Parse(time.RFC3339, ts); err != nil {
				t.Fatal(err)
			}
		}
		if !got[i].time.Equal(want) {
			t.Errorf("report %d time %v, want %v", i, got[i].time.UTC(), want)
		}
		if got[i].Addr != "FB:6D:08:3D:25:A4" || got[i].RSSI != -59 {
			t.Errorf("report %d: %+v", i, got[i].wantReport)
		}
	}
}
