//go:build linux && !ppc64 && !ppc64le

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pact-findmy/pact-findmy/internal/cli"
)

// TestScanFlagsParse checks command lines that parse, without touching
// a device.
func TestScanFlagsParse(t *testing.T) {
	cases := []struct {
		name             string
		args             []string
		adapter          int
		serial           string
		channel          string
		baud             int
		flow             bool
		extended         string
		interval, window time.Duration
	}{
		{"adapter with defaults: listening all the time", []string{"--hci", "0"}, 0, "", "auto", 115200, false, "auto", 100 * time.Millisecond, 100 * time.Millisecond},
		{"a shorter interval takes the window with it", []string{"--hci", "0", "--interval", "50ms"}, 0, "", "auto", 115200, false, "auto", 50 * time.Millisecond, 50 * time.Millisecond},
		{"window part of the interval", []string{"--hci", "0", "--interval", "1s", "--window", "250ms"}, 0, "", "auto", 115200, false, "auto", time.Second, 250 * time.Millisecond},
		{"adapter on the raw channel", []string{"--hci", "3", "--channel", "raw", "--extended", "off", "--db", "c.db"}, 3, "", "raw", 115200, false, "off", 100 * time.Millisecond, 100 * time.Millisecond},
		{"serial with defaults", []string{"--serial", "/dev/ttyUSB0"}, -1, "/dev/ttyUSB0", "auto", 115200, false, "auto", 100 * time.Millisecond, 100 * time.Millisecond},
		{"serial at 1 Mbaud with flow control", []string{"--serial", "/dev/ttyACM1", "--baud", "1000000", "--flow-control", "--format", "jsonl"}, -1, "/dev/ttyACM1", "auto", 1000000, true, "auto", 100 * time.Millisecond, 100 * time.Millisecond},
		{"serial at the highest rate", []string{"--serial", "/dev/ttyUSB0", "--baud", "16000000", "--extended", "on"}, -1, "/dev/ttyUSB0", "auto", 16000000, false, "on", 100 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := parseScanFlags(c.args, io.Discard, io.Discard)
			if err != nil {
				t.Fatalf("parseScanFlags(%q): %v", c.args, err)
			}
			if o.adapter != c.adapter || o.serial != c.serial || o.channel.String() != c.channel || o.baud != c.baud || o.flow != c.flow {
				t.Errorf("parsed adapter=%d serial=%q channel=%v baud=%d flow=%v, want %d %q %s %d %v",
					o.adapter, o.serial, o.channel, o.baud, o.flow, c.adapter, c.serial, c.channel, c.baud, c.flow)
			}
			if got := o.scan.Extended.String(); got != c.extended {
				t.Errorf("extended %q, want %q", got, c.extended)
			}
			if o.scan.Interval != c.interval || o.scan.Window != c.window {
				t.Errorf("interval %v window %v, want %v %v", o.scan.Interval, o.scan.Window, c.interval, c.window)
			}
		})
	}
}

// TestScanFlagsRejected checks that every wrong command line is a usage
// error (exit status 2) found before any device is opened, naming the
// flag and value at fault.
func TestScanFlagsRejected(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		want  error  // a sentinel the error wraps
		flag  string // the flag a *cli.FlagError names, if any
		value string
	}{
		{"interval below 2.5 ms", []string{"--hci", "0", "--interval", "1ms"}, cli.ErrUsage, "interval", "1ms"},
		{"interval beyond 10.24 s", []string{"--serial", "/dev/ttyUSB0", "--interval", "11s", "--window", "1s"}, cli.ErrUsage, "interval", "11s"},
		{"window longer than the interval", []string{"--hci", "0", "--interval", "50ms", "--window", "100ms"}, cli.ErrUsage, "window", "100ms"},
		{"window below 2.5 ms", []string{"--hci", "0", "--window", "1ms"}, cli.ErrUsage, "window", "1ms"},
		{"neither controller", nil, errControllerChoice, "", ""},
		{"only output flags", []string{"--db", "c.db", "--format", "jsonl"}, errControllerChoice, "", ""},
		{"both controllers", []string{"--hci", "0", "--serial", "/dev/ttyUSB0"}, errControllerChoice, "", ""},
		{"negative adapter", []string{"--hci", "-2"}, cli.ErrUsage, "hci", "-2"},
		{"empty serial path", []string{"--serial", ""}, cli.ErrUsage, "serial", ""},
		{"zero baud", []string{"--serial", "/dev/ttyUSB0", "--baud", "0"}, cli.ErrUsage, "baud", "0"},
		{"negative baud", []string{"--serial", "/dev/ttyUSB0", "--baud", "-9600"}, cli.ErrUsage, "baud", "-9600"},
		{"baud beyond any UART", []string{"--serial", "/dev/ttyUSB0", "--baud", "4294967296"}, cli.ErrUsage, "baud", "4294967296"},
		{"baud not a number", []string{"--serial", "/dev/ttyUSB0", "--baud", "fast"}, cli.ErrUsage, "", ""},
		{"baud for an adapter", []string{"--hci", "0", "--baud", "115200"}, errSerialOnly, "baud", "115200"},
		{"flow control for an adapter", []string{"--hci", "0", "--flow-control"}, errSerialOnly, "flow-control", "true"},
		{"channel for a serial controller", []string{"--serial", "/dev/ttyUSB0", "--channel", "user"}, errHCIOnly, "channel", "user"},
		{"bad channel", []string{"--hci", "0", "--channel", "shared"}, cli.ErrUsage, "channel", "shared"},
		{"bad extended mode", []string{"--serial", "/dev/ttyUSB0", "--extended", "maybe"}, cli.ErrUsage, "extended", "maybe"},
		{"bad output format", []string{"--serial", "/dev/ttyUSB0", "--format", "xml"}, cli.ErrUsage, "format", "xml"},
		{"bad log level", []string{"--serial", "/dev/ttyUSB0", "--log-level", "loud"}, cli.ErrUsage, "", ""},
		{"stray argument", []string{"--serial", "/dev/ttyUSB0", "extra"}, cli.ErrExtraArgs, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseScanFlags(c.args, io.Discard, io.Discard)
			if !errors.Is(err, c.want) || !errors.Is(err, cli.ErrUsage) {
				t.Fatalf("parseScanFlags(%q) = %v, want a usage error wrapping %v", c.args, err, c.want)
			}
			if flag, value := cli.FlagOf(err); flag != c.flag || value != c.value {
				t.Errorf("error %v names --%s %q, want --%s %q", err, flag, value, c.flag, c.value)
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), append([]string{"scan"}, c.args...), &stdout, &stderr); code != cli.ExitUsage {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, cli.ExitUsage, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}

// TestScanCommand runs whole scan command lines that get past the flags.
func TestScanCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"scan", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("scan --help: exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
	// The usage names both controllers and what a serial one needs.
	for _, s := range []string{"--serial PATH", "-flow-control", "-baud int", "(default 115200)", "dialout"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("scan --help lacks %q:\n%s", s, stdout.String())
		}
	}
	for _, c := range []struct {
		name string
		args []string
		want error
	}{
		{"serial path that is not a tty", []string{"--serial", "/dev/null"}, unix.ENOTTY},
		{"serial path that does not exist", []string{"--serial", "testdata/no-such-tty", "--baud", "921600"}, fs.ErrNotExist},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := scanCommand(context.Background(), c.args, io.Discard, io.Discard)
			if !errors.Is(err, c.want) || errors.Is(err, cli.ErrUsage) {
				t.Fatalf("scan %q = %v, want a failure wrapping %v", c.args, err, c.want)
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), append([]string{"scan"}, c.args...), &stdout, &stderr); code != cli.ExitFailure {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, cli.ExitFailure, stderr.String())
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
