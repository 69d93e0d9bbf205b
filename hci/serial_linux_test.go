//go:build linux && !ppc64 && !ppc64le

package hci

import (
	"encoding/hex"
	"os"
	"testing"
)

// Line noise in front of a packet is skipped and counted as one
// resynchronisation; the packet behind it arrives whole. A pipe stands in
// for the tty: what is under test is the reading, not the line settings.
func TestSerialConnSkipsAndCountsGarbage(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	conn := &serialConn{f: r, h4: newH4Reader(r), path: "pipe"}
	defer conn.Close()
	// 0xFF and 0x00 are no H4 indicator; then a Command Complete event
	// for HCI_Reset.
	const garbage, event = "FF00FF", "040E0401030C00"
	if _, err := w.Write(mustHex(t, garbage+event)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := conn.ReadPacket(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(buf[:n]), hex.EncodeToString(mustHex(t, event)); got != want {
		t.Errorf("packet %s, want %s", got, want)
	}
	if got := conn.Resyncs(); got != 1 {
		t.Errorf("Resyncs() = %d after one run of garbage, want 1", got)
	}
}
