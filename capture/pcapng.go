package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// pcapng (IETF draft-ietf-opsawg-pcapng) block types this package reads;
// every other block is skipped by its length.
const (
	pcapngBlockIDB uint32 = 0x00000001 // Interface Description Block
	pcapngBlockPB  uint32 = 0x00000002 // Packet Block (obsolete)
	pcapngBlockSPB uint32 = 0x00000003 // Simple Packet Block
	pcapngBlockEPB uint32 = 0x00000006 // Enhanced Packet Block
)

const (
	pcapngFormat = "pcapng"
	// pcapngMaxBlock bounds a block so a corrupt length cannot make the
	// reader allocate without limit; packets here are far smaller.
	pcapngMaxBlock = 1 << 20
	// Interface Description Block options.
	pcapngOptEnd      = 0
	pcapngOptTSResol  = 9
	pcapngOptTSOffset = 14
)

type pcapngInterface struct {
	linkType uint32
	// unitsPerSecond is the timestamp resolution (if_tsresol).
	unitsPerSecond uint64
	// offsetSeconds is if_tsoffset.
	offsetSeconds int64
}

// pcapngReader reads the packets of a pcapng file: Enhanced, Simple and
// obsolete Packet Blocks, with each interface's link type and timestamp
// resolution. A block whose length is wrong is reported once as an error
// wrapping hci.ErrMalformed, and the reader searches forward for the next
// block whose leading and trailing lengths agree.
type pcapngReader struct {
	r       *bufio.Reader
	order   binary.ByteOrder
	offset  int64
	ifaces  []pcapngInterface
	buf     []byte
	block   []byte // the last block read, valid until the next read
	ahead   lookahead
	skipped int64
	done    bool
}

// newPcapngReader reads the first Section Header Block.
func newPcapngReader(r io.Reader) (*pcapngReader, error) {
	p := &pcapngReader{r: bufio.NewReaderSize(r, 256<<10), buf: make([]byte, 0, 1024)}
	p.ahead.r = p.r
	hdr, err := p.r.Peek(12)
	if err != nil {
		return nil, &hci.FormatError{Format: pcapngFormat, Field: "Section Header Block", Offset: 0,
			Problem: fmt.Sprintf("need 12 bytes, have %d", len(hdr)), Err: io.ErrUnexpectedEOF}
	}
	if binary.LittleEndian.Uint32(hdr) != pcapngBlockSHB {
		return nil, malformed(pcapngFormat, "Block Type", 0, "0x%08X is not a Section Header Block", binary.LittleEndian.Uint32(hdr))
	}
	if _, err := p.readBlock(); err != nil {
		return nil, err
	}
	return p, nil
}

// Skipped returns how many bytes the reader skipped while resynchronising.
func (p *pcapngReader) Skipped() int64 { return p.skipped }

// readBlock reads one whole block into p.block and returns its type; a
// Section Header Block also sets the byte order and forgets interfaces.
func (p *pcapngReader) readBlock() (uint32, error) {
	start := p.offset
	hdr, err := p.r.Peek(12)
	if err != nil {
		if len(hdr) >= 8 && binary.LittleEndian.Uint32(hdr) == pcapngBlockSHB {
			return 0, endOfCapture(&p.done, start, pcapngFormat, io.ErrUnexpectedEOF, len(hdr), "block", 12)
		}
		if len(hdr) < 8 {
			return 0, endOfCapture(&p.done, start, pcapngFormat, err, len(hdr), "record header", 8)
		}
	}
	if binary.LittleEndian.Uint32(hdr) == pcapngBlockSHB {
		switch {
		case binary.LittleEndian.Uint32(hdr[8:]) == pcapngByteOrderMagic:
			p.order = binary.LittleEndian
		case binary.BigEndian.Uint32(hdr[8:]) == pcapngByteOrderMagic:
			p.order = binary.BigEndian
		default:
			return 0, p.resync("Byte-Order Magic", fmt.Sprintf("0x%08X is not 0x1A2B3C4D in either order", binary.BigEndian.Uint32(hdr[8:])))
		}
		p.ifaces = p.ifaces[:0]
	}
	typ := p.order.Uint32(hdr)
	total := p.order.Uint32(hdr[4:])
	if total < 12 || total%4 != 0 || total > pcapngMaxBlock {
		return 0, p.resync("Block Total Length", fmt.Sprintf("%d is not a multiple of 4 between 12 and %d", total, pcapngMaxBlock))
	}
	n := int(total)
	block, got, err := readRecordData(p.r, &p.buf, n)
	if err != nil {
		p.offset += int64(got)
		return 0, endOfCapture(&p.done, start, pcapngFormat, err, got, "block", n)
	}
	p.block = block
	if trailer := p.order.Uint32(block[n-4:]); trailer != total {
		p.offset += int64(n)
		return 0, malformed(pcapngFormat, "trailing Block Total Length", int(start)+n-4, "%d differs from the leading %d", trailer, total)
	}
	p.offset += int64(n)
	return typ, nil
}

// resync reports a corrupt block at the current offset and moves to the
// next 4-byte aligned place where a block's two lengths agree. A block
// longer than half the read buffer may be passed over when it is not
// already buffered; Bluetooth packets are far shorter.
func (p *pcapngReader) resync(field, problem string) error {
	at := p.offset
	var n int64
	for {
		if _, err := p.r.Discard(4); err != nil {
			break
		}
		n += 4
		hdr, err := p.r.Peek(8)
		if err != nil {
			m, _ := p.r.Discard(len(hdr))
			n += int64(m)
			break
		}
		if p.order == nil {
			continue
		}
		total := p.order.Uint32(hdr[4:])
		if total < 12 || total%4 != 0 {
			continue
		}
		// A candidate's trailing length may lie up to a buffer away;
		// lookahead keeps checking it linear in the bytes searched (a
		// length of 262,140 every 16 bytes once made every step slide
		// the whole buffer).
		whole, ok := p.ahead.peek(int(total))
		if ok && p.order.Uint32(whole[total-4:]) == total {
			break
		}
	}
	p.offset += n
	p.skipped += n
	return malformed(pcapngFormat, field, int(at), "%s; skipped %d bytes to the next plausible block", problem, n)
}

// Next returns the next packet; see pcapReader.Next for the errors.
func (p *pcapngReader) Next() (packetRecord, error) {
	for {
		if p.done {
			return packetRecord{}, io.EOF
		}
		start := p.offset
		typ, err := p.readBlock()
		if err != nil {
			return packetRecord{}, err
		}
		b := p.block[8 : len(p.block)-4]
		switch typ {
		case pcapngBlockIDB:
			if err := p.addInterface(b, start); err != nil {
				return packetRecord{}, err
			}
		case pcapngBlockEPB, pcapngBlockPB:
			return p.packet(start, typ, b)
		case pcapngBlockSPB:
			if len(b) < 4 {
				return packetRecord{}, malformed(pcapngFormat, "Simple Packet Block", int(start), "body of %d bytes is too short", len(b))
			}
			if len(p.ifaces) == 0 {
				return packetRecord{}, malformed(pcapngFormat, "Simple Packet Block", int(start), "no interface described before it")
			}
			orig := p.order.Uint32(b)
			data := b[4:]
			if uint32(len(data)) > orig {
				data = data[:orig]
			}
			return packetRecord{Offset: start, LinkType: p.ifaces[0].linkType, OriginalLen: orig, Data: data}, nil
		}
	}
}

func (p *pcapngReader) addInterface(b []byte, start int64) error {
	if len(b) < 8 {
		return malformed(pcapngFormat, "Interface Description Block", int(start), "body of %d bytes is too short", len(b))
	}
	iface := pcapngInterface{linkType: uint32(p.order.Uint16(b)), unitsPerSecond: 1e6}
	if !readableLinkType(iface.linkType) {
		// Not malformed: the capture holds traffic this package does
		// not read, and skipping it would report nothing without a word.
		p.done = true
		return &LinkTypeError{Format: CapturePcapng, LinkType: iface.linkType, Offset: start}
	}
	opts := b[8:]
	for len(opts) >= 4 {
		code, l := p.order.Uint16(opts), int(p.order.Uint16(opts[2:]))
		if code == pcapngOptEnd {
			break
		}
		padded := (l + 3) &^ 3
		if 4+padded > len(opts) {
			return malformed(pcapngFormat, "Interface Description Block option", int(start)+8+len(b)-len(opts), "length %d runs past the block", l)
		}
		v := opts[4 : 4+l]
		switch {
		case code == pcapngOptTSResol && l == 1:
			e := v[0] & 0x7F
			if v[0]&0x80 != 0 {
				if e > 63 {
					return malformed(pcapngFormat, "if_tsresol", int(start), "2^-%d is finer than 64 bits hold", e)
				}
				iface.unitsPerSecond = 1 << e
			} else {
				if e > 19 {
					return malformed(pcapngFormat, "if_tsresol", int(start), "10^-%d is finer than 64 bits hold", e)
				}
				iface.unitsPerSecond = 1
				for range e {
					iface.unitsPerSecond *= 10
				}
			}
		case code == pcapngOptTSOffset && l == 8:
			iface.offsetSeconds = int64(p.order.Uint64(v))
		}
		opts = opts[4+padded:]
	}
	p.ifaces = append(p.ifaces, iface)
	return nil
}

// packet decodes the body of an Enhanced or obsolete Packet Block:
// interface ID (32 bits, or 16 followed by a drops count in the obsolete
// block), timestamp high and low, captured length, original length, data.
func (p *pcapngReader) packet(start int64, typ uint32, b []byte) (packetRecord, error) {
	const fixed = 20
	block := "Enhanced Packet Block"
	if typ == pcapngBlockPB {
		block = "Packet Block"
	}
	if len(b) < fixed {
		return packetRecord{}, malformed(pcapngFormat, block, int(start), "body of %d bytes is shorter than its %d fixed bytes", len(b), fixed)
	}
	ifaceID := p.order.Uint32(b)
	if typ == pcapngBlockPB {
		ifaceID = uint32(p.order.Uint16(b))
	}
	if int(ifaceID) >= len(p.ifaces) {
		return packetRecord{}, malformed(pcapngFormat, "Interface ID", int(start)+8, "%d but only %d interfaces are described", ifaceID, len(p.ifaces))
	}
	rest := b[4:]
	iface := p.ifaces[ifaceID]
	ts := uint64(p.order.Uint32(rest))<<32 | uint64(p.order.Uint32(rest[4:]))
	capLen := p.order.Uint32(rest[8:])
	orig := p.order.Uint32(rest[12:])
	data := b[fixed:]
	if uint64(capLen) > uint64(len(data)) {
		return packetRecord{}, malformed(pcapngFormat, "Captured Packet Length", int(start)+8+12,
			"%d runs past the block's %d bytes of data", capLen, len(data))
	}
	sec := ts / iface.unitsPerSecond
	frac := ts % iface.unitsPerSecond
	hi, lo := bits.Mul64(frac, 1e9)
	ns, _ := bits.Div64(hi, lo, iface.unitsPerSecond)
	t := time.Unix(int64(sec)+iface.offsetSeconds, int64(ns))
	return packetRecord{Offset: start, LinkType: iface.linkType, Time: t, OriginalLen: orig, Data: data[:capLen]}, nil
}

// pcapngWriter writes a little-endian pcapng file with one interface of
// one link type and nanosecond timestamps. Call Flush when done.
type pcapngWriter struct {
	w   *bufio.Writer
	hdr [28]byte
}

// newPcapngWriter writes the Section Header and Interface Description
// Blocks.
func newPcapngWriter(w io.Writer, linkType uint32) (*pcapngWriter, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	le := binary.LittleEndian
	var shb []byte
	shb = le.AppendUint32(shb, pcapngBlockSHB)
	shb = le.AppendUint32(shb, 28)
	shb = le.AppendUint32(shb, pcapngByteOrderMagic)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0)) // section length unknown
	shb = le.AppendUint32(shb, 28)
	var idb []byte
	idb = le.AppendUint32(idb, pcapngBlockIDB)
	idb = le.AppendUint32(idb, 32)
	idb = le.AppendUint16(idb, uint16(linkType))
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 0) // no snap length
	idb = le.AppendUint16(idb, pcapngOptTSResol)
	idb = le.AppendUint16(idb, 1)
	idb = append(idb, 9, 0, 0, 0) // nanoseconds, padded
	idb = le.AppendUint32(idb, pcapngOptEnd)
	idb = le.AppendUint32(idb, 32)
	if _, err := bw.Write(append(shb, idb...)); err != nil {
		return nil, fmt.Errorf("pcapng writer: header blocks: %w", err)
	}
	return &pcapngWriter{w: bw}, nil
}

var pcapngPadding [4]byte

// WriteRecord writes one Enhanced Packet Block holding the concatenation
// of parts.
func (w *pcapngWriter) WriteRecord(t time.Time, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	pad := (4 - n%4) % 4
	total := uint32(28 + n + pad + 4)
	ts := uint64(t.UnixNano())
	le := binary.LittleEndian
	le.PutUint32(w.hdr[0:], pcapngBlockEPB)
	le.PutUint32(w.hdr[4:], total)
	le.PutUint32(w.hdr[8:], 0)
	le.PutUint32(w.hdr[12:], uint32(ts>>32))
	le.PutUint32(w.hdr[16:], uint32(ts))
	le.PutUint32(w.hdr[20:], uint32(n))
	le.PutUint32(w.hdr[24:], uint32(n))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return fmt.Errorf("pcapng writer: block header: %w", err)
	}
	for _, p := range parts {
		if _, err := w.w.Write(p); err != nil {
			return fmt.Errorf("pcapng writer: packet data: %w", err)
		}
	}
	var tail [4]byte
	le.PutUint32(tail[:], total)
	if _, err := w.w.Write(pcapngPadding[:pad]); err != nil {
		return fmt.Errorf("pcapng writer: padding: %w", err)
	}
	if _, err := w.w.Write(tail[:]); err != nil {
		return fmt.Errorf("pcapng writer: block trailer: %w", err)
	}
	return nil
}

// Flush writes buffered blocks out.
func (w *pcapngWriter) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("pcapng writer: %w", err)
	}
	return nil
}
