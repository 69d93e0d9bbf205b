//go:build linux && !ppc64 && !ppc64le

package hci

import (
	"encoding/hex"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// openTestPTY returns the master of a new pseudo-terminal and its slave's
// path, a tty the test plays the controller on.
func openTestPTY(t *testing.T) (*os.File, string) {
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

// Line noise in front of a packet is skipped and counted as one
// resynchronisation; the packet behind it arrives whole.
func TestSerialConnSkipsAndCountsGarbage(t *testing.T) {
	master, path := openTestPTY(t)
	conn, err := OpenSerial(path, 115200, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 0xFF and 0x00 are no H4 indicator; then a Command Complete event
	// for HCI_Reset.
	const garbage, event = "FF00FF", "040E0401030C00"
	raw := mustHex(t, garbage+event)
	if _, err := master.Write(raw); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := conn.ReadPacket(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(buf[:n]); got != hex.EncodeToString(mustHex(t, event)) {
		t.Errorf("packet %s, want %s", got, event)
	}
	if got := conn.Resyncs(); got != 1 {
		t.Errorf("Resyncs() = %d after one run of garbage, want 1", got)
	}
}
