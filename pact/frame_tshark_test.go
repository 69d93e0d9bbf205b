package pact

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTsharkReadsFrameVectors has Wireshark decode every good vector of
// testdata/frame/vectors.json, carried in an HCI LE Extended Advertising
// Report (Core spec Vol 4 Part E §7.7.65.13), and checks that it finds
// the same 128-bit UUID and service data: a third reading of the bytes,
// besides vectors.py and ParseFrame.
func TestTsharkReadsFrameVectors(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed; CI must `apt-get install -y tshark`")
		}
		t.Skip("SKIPPING the Wireshark cross-check: tshark is not installed (apt-get install tshark)")
	}
	var pcap bytes.Buffer
	// pcap header: magic, version 2.4, zone, accuracy, snap length,
	// link type 201 BLUETOOTH_HCI_H4_WITH_PHDR.
	pcap.Write(binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4))
	pcap.Write([]byte{2, 0, 4, 0})
	for _, v := range []uint32{0, 0, 65535, 201} {
		pcap.Write(binary.LittleEndian.AppendUint32(nil, v))
	}
	var want []string
	for i, c := range loadFrameVectors(t).Cases {
		if c.Reject != "" {
			continue
		}
		ad := mustHex(t, c.AD)
		f, err := ParseFrame(ad)
		if err != nil {
			t.Fatal(err)
		}
		report := []byte{
			1,    // one report
			0, 0, // event type: not connectable, not scannable, not legacy, complete
			1,                      // random address
			0x01, 0, 0, 0, 0, 0x1a, // address
			1, 1, // primary and secondary PHY LE 1M
			0, 0x7f, 0xc4, // SID, TX power unknown, RSSI -60
			0, 0, // no periodic advertising
			0, 0, 0, 0, 0, 0, 0, // direct address
			byte(len(ad)),
		}
		report = append(report, ad...)
		// Pseudo-header 1 (received, big-endian), H4 event, LE Meta
		// event, subevent 0x0D.
		event := append([]byte{0, 0, 0, 1, 0x04, 0x3e, byte(1 + len(report)), 0x0d}, report...)
		for _, v := range []uint32{uint32(1000 + i), 0, uint32(len(event)), uint32(len(event))} {
			pcap.Write(binary.LittleEndian.AppendUint32(nil, v))
		}
		pcap.Write(event)
		// The first service data structure is the frame in every good
		// vector; tshark lists each structure's field, comma-separated.
		payload := f.AppendAD(nil)[adHeaderAndUUID:]
		want = append(want, FrameUUID+"|"+hex.EncodeToString(payload))
	}
	file := filepath.Join(t.TempDir(), "frames.pcap")
	if err := os.WriteFile(file, pcap.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tshark, "-n", "-r", file, "-T", "fields", "-E", "separator=|", "-E", "aggregator=,",
		"-e", "btcommon.eir_ad.entry.custom_uuid_128", "-e", "btcommon.eir_ad.entry.service_data")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("tshark printed %d lines, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		uuid, data, _ := strings.Cut(got[i], "|")
		uuid, _, _ = strings.Cut(uuid, ",")
		data, _, _ = strings.Cut(data, ",")
		if g := strings.ReplaceAll(uuid, ":", "") + "|" + strings.ReplaceAll(data, ":", ""); g != strings.ReplaceAll(want[i], "-", "") {
			t.Errorf("frame %d: tshark read %q, want %q", i, got[i], want[i])
		}
	}
}
