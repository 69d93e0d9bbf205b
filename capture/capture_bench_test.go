package capture

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// benchCaptureEvents is how many AirTag-sized report events one benchmark
// capture holds.
const benchCaptureEvents = 20000

// benchCapture builds an in-memory capture of AirTag advertisements with
// rotating addresses and RSSIs, written by the given writer.
func benchCapture(b *testing.B, write func(t time.Time, event []byte) error) {
	b.Helper()
	data := mustHex(b, "1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0")
	var ev []byte
	for i := range benchCaptureEvents {
		r := hci.AdvReport{Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: [6]byte{0xC0 | byte(i>>16), byte(i >> 8), byte(i), 1, 2, 3},
			RSSI: int8(-40 - i%50), Data: data}
		var err error
		ev, err = hci.AppendLEAdvertisingReport(ev[:0], r)
		if err != nil {
			b.Fatal(err)
		}
		if err := write(scenarioStart.Add(time.Duration(i)*time.Millisecond), ev); err != nil {
			b.Fatal(err)
		}
	}
}

func runCaptureBenchmark(b *testing.B, file []byte) {
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	var reports int
	var rssiSum int
	for b.Loop() {
		c, err := NewCapture(bytes.NewReader(file), "bench")
		if err != nil {
			b.Fatal(err)
		}
		err = c.Reports(context.Background(), func(r *hci.AdvReport) error {
			rssiSum += int(r.RSSI)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if st := c.Stats(); st.Reports != benchCaptureEvents || st.Malformed != 0 {
			b.Fatalf("stats %+v", st)
		}
		reports += benchCaptureEvents
	}
	b.ReportMetric(float64(reports)/b.Elapsed().Seconds(), "reports/s")
}

// BenchmarkCaptureBtsnoop reads a whole Android-style (H4) btsnoop file
// through OpenCapture's path: record framing, event decoding, callback.
func BenchmarkCaptureBtsnoop(b *testing.B) {
	var buf bytes.Buffer
	w, err := NewBtsnoopWriter(&buf, BtsnoopH4)
	if err != nil {
		b.Fatal(err)
	}
	benchCapture(b, w.WriteEvent)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	runCaptureBenchmark(b, buf.Bytes())
}

// BenchmarkCapturePcapH4 reads a whole link-type 201 pcap file.
func BenchmarkCapturePcapH4(b *testing.B) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, LinkTypeBluetoothHCIH4WithPHDR, false)
	if err != nil {
		b.Fatal(err)
	}
	benchCapture(b, w.WriteH4Event)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	runCaptureBenchmark(b, buf.Bytes())
}

// BenchmarkCapturePcapLL reads a whole link-type 256 (sniffer) pcap file.
func BenchmarkCapturePcapLL(b *testing.B) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, LinkTypeBluetoothLELLWithPHDR, false)
	if err != nil {
		b.Fatal(err)
	}
	var rec []byte
	var dec hci.AdvDecoder
	benchCapture(b, func(t time.Time, event []byte) error {
		_, err := dec.Decode(event, t, func(r *hci.AdvReport) error {
			var err error
			rec, err = appendLELLAdvertising(rec[:0], 12, r)
			if err != nil {
				return err
			}
			return w.WriteRecord(t, rec)
		})
		return err
	})
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	runCaptureBenchmark(b, buf.Bytes())
}

// BenchmarkCaptureTsharkBaseline is the baseline for BenchmarkCaptureBtsnoop:
// Wireshark's tshark extracting address and RSSI of every report from the
// same file. Each op is one whole tshark run, start-up included, as a user
// would pay it; run it with a small -benchtime such as 3x.
func BenchmarkCaptureTsharkBaseline(b *testing.B) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		b.Skip("tshark is not installed")
	}
	var buf bytes.Buffer
	w, err := NewBtsnoopWriter(&buf, BtsnoopH4)
	if err != nil {
		b.Fatal(err)
	}
	benchCapture(b, w.WriteEvent)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "bench.btsnoop")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	home := b.TempDir()
	b.SetBytes(int64(buf.Len()))
	var reports int
	for b.Loop() {
		cmd := exec.Command(tshark, "-n", "-r", file, "-T", "fields", "-e", "bthci_evt.bd_addr", "-e", "bthci_evt.rssi")
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.Output()
		if err != nil {
			b.Fatal(err)
		}
		if n := bytes.Count(out, []byte("\n")); n != benchCaptureEvents {
			b.Fatalf("tshark printed %d lines, want %d", n, benchCaptureEvents)
		}
		reports += benchCaptureEvents
	}
	b.ReportMetric(float64(reports)/b.Elapsed().Seconds(), "reports/s")
}
