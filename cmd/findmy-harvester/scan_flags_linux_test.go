//go:build linux && !ppc64 && !ppc64le

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// scanFlagCase is one scan command line from testdata/scan-flags.json.
// With parsed set it must parse to those options without touching a
// device; otherwise the whole command runs and must exit with code.
type scanFlagCase struct {
	Name   string   `json:"name"`
	Args   []string `json:"args"`
	Code   int      `json:"code"`
	Stderr []string `json:"stderr"`
	Parsed *struct {
		Adapter  int    `json:"adapter"`
		Serial   string `json:"serial"`
		Channel  string `json:"channel"`
		Baud     int    `json:"baud"`
		Flow     bool   `json:"flow"`
		Extended string `json:"extended"`
		// Interval and Window, when given, are the scan timing as
		// durations ("100ms").
		Interval string `json:"interval"`
		Window   string `json:"window"`
	} `json:"parsed"`
}

func TestScanFlags(t *testing.T) {
	b, err := os.ReadFile("testdata/scan-flags.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []scanFlagCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("testdata/scan-flags.json: %v", err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if p := c.Parsed; p != nil {
				o, err := parseScanFlags(c.Args, io.Discard)
				if err != nil {
					t.Fatalf("parseScanFlags(%q): %v", c.Args, err)
				}
				if o.adapter != p.Adapter || o.serial != p.Serial || o.channel.String() != p.Channel ||
					o.baud != p.Baud || o.flow != p.Flow {
					t.Errorf("parsed adapter=%d serial=%q channel=%v baud=%d flow=%v, want %+v",
						o.adapter, o.serial, o.channel, o.baud, o.flow, *p)
				}
				if got := o.scan.Extended.String(); got != p.Extended {
					t.Errorf("extended %q, want %q", got, p.Extended)
				}
				if p.Interval != "" && (o.scan.Interval.String() != p.Interval || o.scan.Window.String() != p.Window) {
					t.Errorf("interval %v window %v, want %s %s", o.scan.Interval, o.scan.Window, p.Interval, p.Window)
				}
				return
			}
			if c.Code == 2 {
				// Usage errors must come before any device is opened.
				if _, err := parseScanFlags(c.Args, io.Discard); !errors.Is(err, errUsage) {
					t.Errorf("parseScanFlags(%q) = %v, want a usage error", c.Args, err)
				}
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"scan"}, c.Args...), &stdout, &stderr)
			if code != c.Code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, c.Code, stderr.String())
			}
			for _, s := range c.Stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}

// openPTY returns the master of a new pseudo-terminal and its slave's
// path: a tty with nothing on the far end, as a dongle that is unpowered
// or on the wrong rate looks.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("numbering the pseudo-terminal: %v", err)
	}
	return master, "/dev/pts/" + strconv.Itoa(n)
}

// A serial controller that never answers must end the scan with status 1
// naming the tty, after the harvester sent it an H4 HCI_Reset.
func TestScanSerialControllerSilent(t *testing.T) {
	master, path := openPTY(t)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"scan", "--serial", path, "--baud", "1000000", "--flow-control"}, io.Discard, &stderr)
	}()
	// H4 command indicator 0x01, opcode 0x0C03 little-endian, no
	// parameters (Core spec Vol 4 Part A §2; Vol 4 Part E §7.3.2).
	want := []byte{0x01, 0x03, 0x0C, 0x00}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(master, got); err != nil {
		t.Fatalf("reading what the harvester sent: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("harvester sent % X, want HCI_Reset % X", got, want)
	}
	select {
	case code := <-done:
		if code != 1 {
			t.Errorf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("scan did not give up on a silent controller within 30 s")
	}
	for _, s := range []string{"opening serial controller " + path + " at 1000000 baud (flow control true)", "Reset (0x0C03)"} {
		if !strings.Contains(stderr.String(), s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
		}
	}
}
