package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// Link types of the Bluetooth captures this package reads (tcpdump.org
// "Link-layer header types").
const (
	// LinkTypeBluetoothHCIH4WithPHDR is a 4-byte big-endian direction
	// (0 host to controller, 1 controller to host) and an H4 packet.
	LinkTypeBluetoothHCIH4WithPHDR uint32 = 201
	// LinkTypeBluetoothLELLWithPHDR is a 10-byte radio header and an LE
	// link-layer packet, as sniffers capture it.
	LinkTypeBluetoothLELLWithPHDR uint32 = 256
	// LinkTypeBluetoothHCIH4 is an H4 packet (indicator and HCI packet)
	// with no direction header.
	LinkTypeBluetoothHCIH4 uint32 = 187
	// LinkTypeBluetoothLELL is an LE link-layer packet, access address to
	// CRC, with no radio header.
	LinkTypeBluetoothLELL uint32 = 251
	// LinkTypeNordicBLE is the nRF Sniffer for Bluetooth LE's header and
	// an LE link-layer packet (nordic.go).
	LinkTypeNordicBLE uint32 = 272
)

// readableLinkType reports whether the package reads records of link type
// lt; every other link type is refused with ErrUnsupportedLinkType.
func readableLinkType(lt uint32) bool {
	switch lt {
	case LinkTypeBluetoothHCIH4WithPHDR, LinkTypeBluetoothLELLWithPHDR, LinkTypeBluetoothHCIH4,
		LinkTypeBluetoothLELL, LinkTypeNordicBLE:
		return true
	}
	return false
}

// Directions in a LinkTypeBluetoothHCIH4WithPHDR header.
const (
	phdrSent     uint32 = 0
	phdrReceived uint32 = 1
)

// Magic numbers of the classic libpcap file header, as read in the
// writer's byte order.
const (
	pcapMagicMicro uint32 = 0xA1B2C3D4
	pcapMagicNano  uint32 = 0xA1B23C4D
	// pcapngBlockSHB opens every pcapng section; it reads the same in
	// either byte order.
	pcapngBlockSHB       uint32 = 0x0A0D0D0A
	pcapngByteOrderMagic uint32 = 0x1A2B3C4D
)

const (
	pcapHeaderLen       = 24
	pcapRecordHeaderLen = 16
	// pcapMaxRecord bounds a record's captured length; libpcap itself
	// refuses more than 256 KiB for ordinary link types.
	pcapMaxRecord = 256 << 10
	// pcapResyncWindow is how far, in seconds, a plausible next record's
	// time may lie from the last good one.
	pcapResyncWindow = 24 * 3600
)

const pcapFormat = "pcap"

// packetRecord is one packet from a pcap or pcapng file.
type packetRecord struct {
	// Offset is where the record starts in the file.
	Offset int64
	// LinkType is the link type of the interface that captured it.
	LinkType uint32
	Time     time.Time
	// OriginalLen is the packet's length on the wire, len(Data) or more.
	OriginalLen uint32
	// Data is the captured packet, valid until the next call to Next.
	Data []byte
}

// packetReader reads records from a capture file.
type packetReader interface {
	// Next returns the next record; see pcapReader.Next for the errors.
	Next() (packetRecord, error)
}

// pcapReader reads a classic libpcap file of either byte order and either
// time resolution. A record header that cannot be right is reported once
// as an error wrapping hci.ErrMalformed; the reader then searches forward for
// the next plausible record.
type pcapReader struct {
	r        *bufio.Reader
	order    binary.ByteOrder
	nano     bool
	linkType uint32
	// snaplen is the file header's limit on a record's captured length;
	// 0 means none was given.
	snaplen  uint32
	offset   int64
	buf      []byte
	ahead    lookahead
	lastSec  uint32
	haveTime bool
	skipped  int64
	done     bool
}

// newPcapReader reads and checks the file header.
func newPcapReader(r io.Reader) (*pcapReader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var hdr [pcapHeaderLen]byte
	if n, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, &hci.FormatError{Format: pcapFormat, Field: "file header", Offset: 0,
			Problem: fmt.Sprintf("need %d bytes, have %d", pcapHeaderLen, n), Err: io.ErrUnexpectedEOF}
	}
	p := &pcapReader{r: br, offset: pcapHeaderLen, buf: make([]byte, 0, 1024)}
	switch {
	case binary.LittleEndian.Uint32(hdr[:]) == pcapMagicMicro:
		p.order = binary.LittleEndian
	case binary.LittleEndian.Uint32(hdr[:]) == pcapMagicNano:
		p.order, p.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(hdr[:]) == pcapMagicMicro:
		p.order = binary.BigEndian
	case binary.BigEndian.Uint32(hdr[:]) == pcapMagicNano:
		p.order, p.nano = binary.BigEndian, true
	default:
		return nil, malformed(pcapFormat, "magic number", 0, "0x%08X is not a pcap magic", binary.BigEndian.Uint32(hdr[:]))
	}
	if major := p.order.Uint16(hdr[4:]); major != 2 {
		return nil, malformed(pcapFormat, "version_major", 4, "%d, want 2", major)
	}
	// Only the low 16 bits are the link type; above them sit reserved
	// bits and the FCS information (libpcap LT_LINKTYPE).
	p.linkType = p.order.Uint32(hdr[20:]) & 0xFFFF
	p.snaplen = p.order.Uint32(hdr[16:])
	p.ahead.r = br
	return p, nil
}

// LinkType returns the file's link type.
func (p *pcapReader) LinkType() uint32 { return p.linkType }

// Skipped returns how many bytes the reader skipped while resynchronising.
func (p *pcapReader) Skipped() int64 { return p.skipped }

type pcapHeader struct {
	sec, frac, incl, orig uint32
}

func (p *pcapReader) parseHeader(h []byte) pcapHeader {
	return pcapHeader{
		sec:  p.order.Uint32(h[0:]),
		frac: p.order.Uint32(h[4:]),
		incl: p.order.Uint32(h[8:]),
		orig: p.order.Uint32(h[12:]),
	}
}

func (p *pcapReader) check(h pcapHeader) (field, problem string) {
	limit := uint32(1e6)
	if p.nano {
		limit = 1e9
	}
	switch {
	case h.frac >= limit:
		return "ts_frac", fmt.Sprintf("%d is not below %d", h.frac, limit)
	case h.incl > pcapMaxRecord:
		return "incl_len", fmt.Sprintf("%d exceeds the %d-byte limit", h.incl, pcapMaxRecord)
	case h.incl > h.orig:
		return "incl_len", fmt.Sprintf("%d exceeds orig_len %d", h.incl, h.orig)
	}
	return "", ""
}

// plausibleAlone reports whether h could be a record header: it passes
// check, holds data, and stays within the file's snaplen.
func (p *pcapReader) plausibleAlone(h pcapHeader) bool {
	if f, _ := p.check(h); f != "" || h.incl == 0 {
		return false
	}
	return p.snaplen == 0 || h.incl <= p.snaplen
}

// plausible reports whether the record header hb, at the start of the
// reader's buffer, is where to resume. After a good record its time must
// lie within pcapResyncWindow of that record's. Before any (the first
// record is the corrupt one), there is no time to compare with, so the
// header must be followed, right after its data, by another plausible
// header timed within the window of it, or by the end of the file.
func (p *pcapReader) plausible(hb []byte) bool {
	h := p.parseHeader(hb)
	if !p.plausibleAlone(h) {
		return false
	}
	if p.haveTime {
		return withinResyncWindow(h.sec, p.lastSec)
	}
	end := pcapRecordHeaderLen + int(h.incl)
	b, ok := p.ahead.peek(end + pcapRecordHeaderLen)
	if !ok {
		return len(b) == end
	}
	next := p.parseHeader(b[end:])
	return p.plausibleAlone(next) && withinResyncWindow(next.sec, h.sec)
}

func withinResyncWindow(sec, ref uint32) bool {
	d := int64(sec) - int64(ref)
	return d > -pcapResyncWindow && d < pcapResyncWindow
}

// Next returns the next record. It returns io.EOF at the end of the file;
// an error wrapping hci.ErrMalformed and io.ErrUnexpectedEOF when the file
// ends inside a record (after which Next returns io.EOF); and an error
// wrapping hci.ErrMalformed for a corrupt record header, after which Next
// resumes at the next plausible record.
func (p *pcapReader) Next() (packetRecord, error) {
	if p.done {
		return packetRecord{}, io.EOF
	}
	hb, err := p.r.Peek(pcapRecordHeaderLen)
	if err != nil {
		return packetRecord{}, endOfCapture(&p.done, p.offset, pcapFormat, err, len(hb), "record header", pcapRecordHeaderLen)
	}
	h := p.parseHeader(hb)
	if field, problem := p.check(h); field != "" {
		return packetRecord{}, p.resync(field, problem)
	}
	start := p.offset
	if _, err := p.r.Discard(pcapRecordHeaderLen); err != nil {
		return packetRecord{}, err
	}
	p.offset += pcapRecordHeaderLen
	n := int(h.incl)
	data, got, err := readRecordData(p.r, &p.buf, n)
	if err != nil {
		p.offset += int64(got)
		return packetRecord{}, endOfCapture(&p.done, start, pcapFormat, err, pcapRecordHeaderLen+got, "record data", pcapRecordHeaderLen+n)
	}
	p.offset += int64(n)
	p.lastSec, p.haveTime = h.sec, true
	var t time.Time
	if p.nano {
		t = time.Unix(int64(h.sec), int64(h.frac))
	} else {
		t = time.Unix(int64(h.sec), int64(h.frac)*1000)
	}
	return packetRecord{Offset: start, LinkType: p.linkType, Time: t, OriginalLen: h.orig, Data: data}, nil
}

// readRecordData returns the next n bytes of r. They are not copied when
// they fit r's buffer, so the slice is only valid until r is read again;
// larger records go through scratch. got is how many bytes there were when
// err is set.
func readRecordData(r *bufio.Reader, scratch *[]byte, n int) (data []byte, got int, err error) {
	if n <= r.Size() {
		data, err = r.Peek(n)
		got, _ = r.Discard(len(data))
		if err != nil {
			return nil, got, err
		}
		return data, n, nil
	}
	if cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	data = (*scratch)[:n]
	got, err = io.ReadFull(r, data)
	return data, got, err
}

// endOfCapture turns a short read at the end of a file into io.EOF (at a
// record boundary) or a truncation error, and marks the reader done.
func endOfCapture(done *bool, offset int64, format string, err error, have int, what string, want int) error {
	*done = true
	if have == 0 && what == "record header" && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		return io.EOF
	}
	if err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("%s: reading %s at offset %d: %w", format, what, offset, err)
	}
	return &hci.FormatError{Format: format, Field: what, Offset: offset,
		Problem: fmt.Sprintf("file ends after %d of %d bytes of the record", have, want), Err: io.ErrUnexpectedEOF}
}

// resync reports the corrupt header at the current offset and moves to
// the next plausible record header, or to the end of the file.
func (p *pcapReader) resync(field, problem string) error {
	at := p.offset
	n := skipToPlausible(p.r, pcapRecordHeaderLen, p.plausible)
	p.offset += n
	p.skipped += n
	return malformed(pcapFormat, "record "+field, int(at), "%s; skipped %d bytes to the next plausible record", problem, n)
}

// skipToPlausible steps through r a byte at a time, past the corrupt
// header at its start, until the next hdrLen bytes pass plausible or too
// few are left for a header (which are skipped too). It returns how many
// bytes it skipped.
func skipToPlausible(r *bufio.Reader, hdrLen int, plausible func(hdr []byte) bool) int64 {
	var n int64
	for {
		if _, err := r.Discard(1); err != nil {
			return n
		}
		n++
		hb, err := r.Peek(hdrLen)
		if err != nil {
			m, _ := r.Discard(len(hb))
			return n + int64(m)
		}
		if plausible(hb) {
			return n
		}
	}
}

// PcapWriter writes a classic libpcap file in little-endian byte order.
// Call Flush when done.
type PcapWriter struct {
	w    *bufio.Writer
	nano bool
	hdr  [pcapRecordHeaderLen]byte
}

// NewPcapWriter writes the file header for linkType, with nanosecond
// timestamps when nano is set.
func NewPcapWriter(w io.Writer, linkType uint32, nano bool) (*PcapWriter, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	var hdr [pcapHeaderLen]byte
	magic := pcapMagicMicro
	if nano {
		magic = pcapMagicNano
	}
	binary.LittleEndian.PutUint32(hdr[0:], magic)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], linkType)
	if _, err := bw.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("pcap writer: header: %w", err)
	}
	return &PcapWriter{w: bw, nano: nano}, nil
}

// WriteRecord writes one packet made of the concatenation of parts.
func (w *PcapWriter) WriteRecord(t time.Time, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	frac := t.Nanosecond()
	if !w.nano {
		frac /= 1000
	}
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(t.Unix()))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(frac))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(n))
	binary.LittleEndian.PutUint32(w.hdr[12:], uint32(n))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return fmt.Errorf("pcap writer: record header: %w", err)
	}
	for _, p := range parts {
		if _, err := w.w.Write(p); err != nil {
			return fmt.Errorf("pcap writer: record data: %w", err)
		}
	}
	return nil
}

var phdrReceivedEvent = []byte{0, 0, 0, byte(phdrReceived), hci.H4Event}

// WriteH4Event writes an HCI event packet (without H4 indicator) as a
// LinkTypeBluetoothHCIH4WithPHDR record received from the controller.
func (w *PcapWriter) WriteH4Event(t time.Time, event []byte) error {
	return w.WriteRecord(t, phdrReceivedEvent, event)
}

// Flush writes buffered records out.
func (w *PcapWriter) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("pcap writer: %w", err)
	}
	return nil
}

// h4WithPhdr splits a LinkTypeBluetoothHCIH4WithPHDR record into its
// direction, H4 indicator and HCI packet.
func h4WithPhdr(data []byte) (direction uint32, indicator byte, packet []byte, err error) {
	if len(data) < 4 {
		return 0, 0, nil, malformed("Bluetooth H4 with pseudo-header", "direction", 0, "need 4 bytes, have %d", len(data))
	}
	direction = binary.BigEndian.Uint32(data)
	indicator, packet, err = hci.SplitH4(data[4:])
	if err != nil {
		return 0, 0, nil, fmt.Errorf("H4 with pseudo-header (link type 201), after the 4-byte direction: %w", err)
	}
	return direction, indicator, packet, nil
}
