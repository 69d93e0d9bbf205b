package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// requireTshark returns tshark's path. Where it is missing the cross-check
// is skipped loudly, except in CI (CI=true), where it must run.
func requireTshark(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("tshark is not installed, so the capture formats cannot be checked against Wireshark; CI must `apt-get install -y tshark`")
	}
	t.Skip("SKIPPING the Wireshark cross-check: tshark is not installed (apt-get install tshark)")
	return ""
}

func runTshark(t *testing.T, tshark, file string, fields ...string) []string {
	t.Helper()
	args := []string{"-n", "-r", file, "-T", "fields", "-E", "separator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark, args...)
	// tshark wants a writable home for its profile; keep it out of the
	// user's.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

func epochField(tm time.Time) string {
	return fmt.Sprintf("%d.%09d", tm.Unix(), tm.Nanosecond())
}

// TestTsharkReadsOurHCICaptures has Wireshark decode the btsnoop, pcap and
// pcapng files the writers produce and checks that it sees the same
// events, times, addresses and RSSIs as this package's decoder.
func TestTsharkReadsOurHCICaptures(t *testing.T) {
	tshark := requireTshark(t)
	// Wireshark reads several reports in one event one after another, as
	// controllers send them; events drawn as parallel arrays are checked
	// to be what it calls malformed.
	var want, arrays []string
	for _, e := range captureScenario(t) {
		if !hci.IsAdvReportEvent(e.event) {
			continue
		}
		// A legacy report is 10 bytes besides its data, with Data_Length
		// at 8; an extended one 24, with Data_Length at 23 (Core spec
		// Vol 4 Part E §7.7.65.2, §7.7.65.13), subevent 0x0D.
		fixed, lenAt := 10, 8
		if e.event[2] == 0x0D {
			fixed, lenAt = 24, 23
		}
		if !reportsInterleaved(e.event[3:], fixed, lenAt) {
			arrays = append(arrays, epochField(e.time))
			continue
		}
		var addrs, rssis []string
		for _, r := range e.reports {
			addrs = append(addrs, strings.ToLower(r.Addr))
			rssis = append(rssis, fmt.Sprint(r.RSSI))
		}
		want = append(want, fmt.Sprintf("%s|0x%02x|%s|%s", epochField(e.time), e.event[2],
			strings.Join(addrs, ","), strings.Join(rssis, ",")))
	}
	for _, g := range generatedCaptures {
		if g.llOnly {
			continue
		}
		t.Run(g.file, func(t *testing.T) {
			// tshark spends most of its time starting up; overlap that.
			t.Parallel()
			lines := runTshark(t, tshark, filepath.Join("testdata", g.file),
				"frame.time_epoch", "bthci_evt.le_meta_subevent", "bthci_evt.bd_addr", "bthci_evt.rssi", "_ws.malformed")
			var got, malformedAt []string
			for _, l := range lines {
				f := strings.Split(l, "|")
				if len(f) != 5 {
					t.Fatalf("tshark line %q", l)
				}
				if f[1] != "0x02" && f[1] != "0x0d" {
					continue
				}
				if f[4] != "" {
					malformedAt = append(malformedAt, f[0])
					continue
				}
				got = append(got, strings.Join(f[:4], "|"))
			}
			if !slices.Equal(got, want) {
				t.Errorf("tshark saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if !slices.Equal(malformedAt, arrays) {
				t.Errorf("tshark found malformed report events at %v, want at %v (the parallel-array ones)", malformedAt, arrays)
			}
		})
	}
}

// TestTsharkReadsOurLECapture checks the link-layer capture: PDU types,
// advertiser addresses, signal power, and, with the CRC flags cleared so
// that Wireshark recomputes it, that every CRC the writer computed is right.
func TestTsharkReadsOurLECapture(t *testing.T) {
	tshark := requireTshark(t)
	raw, err := os.ReadFile("testdata/scenario_ll.pcap")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCapture(bytes.NewReader(raw), "scenario_ll.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range collectReports(t, c) {
		ll, _ := pduToLL(r.Type)
		rssi := ""
		if r.RSSI != rssiNotAvailable {
			rssi = fmt.Sprint(r.RSSI)
		}
		want = append(want, fmt.Sprintf("%s|0x%02x|%s|%s||", epochField(r.time), ll, strings.ToLower(r.Addr), rssi))
	}
	// Clear "CRC checked" and "CRC valid" in every record's radio header.
	unchecked := bytes.Clone(raw)
	for off := pcapHeaderLen; off+pcapRecordHeaderLen <= len(unchecked); {
		incl := int(binary.LittleEndian.Uint32(unchecked[off+8:]))
		rec := off + pcapRecordHeaderLen
		flags := binary.LittleEndian.Uint16(unchecked[rec+8:])
		binary.LittleEndian.PutUint16(unchecked[rec+8:], flags&^(lePhdrCRCChecked|lePhdrCRCValid))
		off = rec + incl
	}
	file := filepath.Join(t.TempDir(), "unchecked.pcap")
	if err := os.WriteFile(file, unchecked, 0o644); err != nil {
		t.Fatal(err)
	}
	lines := runTshark(t, tshark, file, "frame.time_epoch", "btle.advertising_header.pdu_type",
		"btle.advertising_address", "btle_rf.signal_dbm", "btle.crc.incorrect", "_ws.malformed")
	var got []string
	for _, l := range lines {
		f := strings.Split(l, "|")
		if len(f) != 6 {
			t.Fatalf("tshark line %q", l)
		}
		if f[1] == "" || f[1] == "0x03" {
			// The data-channel packet and the SCAN_REQ carry no report.
			continue
		}
		got = append(got, l)
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("tshark saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
