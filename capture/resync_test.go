package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// countingReader counts the reads that reach the file.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(b []byte) (int, error) {
	c.reads++
	return c.r.Read(b)
}

// TestResyncLinear feeds the readers garbage crafted so that a candidate
// header appears every 16 bytes, each claiming a record or block almost as
// long as the read buffer. A search that peeked each candidate's end would
// slide the buffer, and read a few bytes from the file, once per
// candidate; a linear one reads the file in large pieces.
func TestResyncLinear(t *testing.T) {
	const garbage = 4 << 20
	pcapng := func() []byte {
		var b bytes.Buffer
		w, err := newPcapngWriter(&b, LinkTypeBluetoothHCIH4WithPHDR)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		cell := make([]byte, 16)
		binary.LittleEndian.PutUint32(cell[0:], pcapngBlockEPB)
		binary.LittleEndian.PutUint32(cell[4:], 262140)
		binary.LittleEndian.PutUint32(cell[8:], 5) // not a valid length: resync starts
		for b.Len() < garbage {
			b.Write(cell)
		}
		return b.Bytes()
	}
	pcap := func() []byte {
		var b bytes.Buffer
		w, err := NewPcapWriter(&b, LinkTypeBluetoothHCIH4WithPHDR, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		// A first record whose length is impossible, then headers that
		// pass alone, each claiming 200,008 bytes, so that none is followed by another.
		cell := make([]byte, 16)
		binary.LittleEndian.PutUint32(cell[8:], 0x7FFFFFFF)
		b.Write(cell)
		binary.LittleEndian.PutUint32(cell[8:], 200008)
		binary.LittleEndian.PutUint32(cell[12:], 200008)
		binary.LittleEndian.PutUint32(b.Bytes()[16:], 262144) // snaplen
		for b.Len() < garbage {
			b.Write(cell)
		}
		return b.Bytes()
	}
	for name, file := range map[string][]byte{"pcapng": pcapng(), "pcap": pcap()} {
		t.Run(name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(file)}
			c, err := NewCapture(cr, name)
			if err != nil {
				t.Fatal(err)
			}
			c.OnMalformed = func(error) {}
			collectReports(t, c)
			// 4 MiB through a 256 KiB buffer: a few dozen reads when
			// linear, hundreds of thousands when not.
			if limit := garbage / (32 << 10); cr.reads > limit {
				t.Errorf("%d reads from the file for %d bytes of garbage, want at most %d", cr.reads, len(file), limit)
			}
			if st := c.Stats(); st.Reports != 0 || st.Malformed == 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}
