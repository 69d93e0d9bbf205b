package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// btsnoop is the capture format of Android's "HCI snoop log" and of
// `btmon -w`, described in RFC 1761 style by its originator (Frontline
// "btsnoop" file format) and in BlueZ src/shared/btsnoop.h. All integers
// are big-endian.

// Datalink types of a btsnoop file.
const (
	// btsnoopH1 is un-encapsulated HCI: the record flags tell command,
	// event and data apart.
	btsnoopH1 uint32 = 1001
	// BtsnoopH4 is HCI UART: each record starts with an H4 indicator
	// (Android's snoop log).
	BtsnoopH4 uint32 = 1002
	// btsnoopBCSP and btsnoopH5 are serial framings this package does not
	// decode.
	btsnoopBCSP uint32 = 1003
	btsnoopH5   uint32 = 1004
	// btsnoopMonitor is the BlueZ monitor format written by `btmon -w`:
	// the record flags carry the controller index (high 16 bits) and an
	// opcode (low 16 bits) saying what the record is.
	btsnoopMonitor uint32 = 2001
)

// Record flags of the H1 and H4 datalinks.
const (
	// btsnoopFlagReceived marks controller-to-host traffic.
	btsnoopFlagReceived uint32 = 1 << 0
	// btsnoopFlagCommandEvent marks a command or event rather than data.
	btsnoopFlagCommandEvent uint32 = 1 << 1
)

// Monitor opcodes (BlueZ src/shared/btsnoop.h) this package acts on; the
// others are skipped.
const (
	monitorNewIndex    uint16 = 0
	monitorCommandPkt  uint16 = 2
	monitorEventPkt    uint16 = 3
	monitorACLTxPkt    uint16 = 4
	monitorACLRxPkt    uint16 = 5
	monitorHighestCode uint16 = 0x40
)

var btsnoopMagic = [8]byte{'b', 't', 's', 'n', 'o', 'o', 'p', 0}

const (
	btsnoopHeaderLen       = 16
	btsnoopRecordHeaderLen = 24
	btsnoopVersion         = 1
	// btsnoopEpochDelta is the Unix epoch in btsnoop time, nominally
	// microseconds from midnight, January 1st, 0 AD. The format pins that
	// epoch by its value for midnight, January 1st, 2000 AD,
	// 0x00E03AB44A676000 (as BlueZ reads it); this is that less 946684800
	// s, the constant Android writes. It is 719540 days, 12 more than a
	// proleptic Gregorian count from 0 AD, so deriving it from a calendar
	// would shift every capture by 12 days.
	btsnoopEpochDelta int64 = 0x00dcddb30f2f8000
	// btsnoopMaxRecord bounds the included length: no HCI packet, even a
	// monitor record around one, comes near it, so anything longer is a
	// corrupt header.
	btsnoopMaxRecord = 1 << 17
	// btsnoopResyncWindow is how far a plausible next record's timestamp
	// may lie from the last good one, in microseconds.
	btsnoopResyncWindow int64 = 24 * 3600 * 1e6
)

const btsnoopFormat = "btsnoop"

// btsnoopTime converts a btsnoop timestamp to time.
func btsnoopTime(ts int64) time.Time { return time.UnixMicro(ts - btsnoopEpochDelta) }

// btsnoopTimestamp converts time to a btsnoop timestamp.
func btsnoopTimestamp(t time.Time) int64 { return t.UnixMicro() + btsnoopEpochDelta }

// btsnoopRecord is one packet record.
type btsnoopRecord struct {
	// Offset is where the record starts in the file.
	Offset int64
	// OriginalLen is the packet's length before the capture cut it to
	// len(Data).
	OriginalLen uint32
	// Flags are the record flags; their meaning depends on the datalink.
	Flags uint32
	// Drops is the cumulative count of packets the capture lost.
	Drops uint32
	// Timestamp is the raw btsnoop timestamp; see btsnoopTime.
	Timestamp int64
	// Data is the packet as captured, valid until the next call to Next.
	Data []byte
}

// Time is the record's timestamp as time.
func (r *btsnoopRecord) Time() time.Time { return btsnoopTime(r.Timestamp) }

// btsnoopReader reads btsnoop records. A record header that cannot be
// right (a length beyond any HCI packet, flags the datalink never uses)
// is reported once as an error wrapping hci.ErrMalformed, after which the
// reader searches forward for the next plausible record and carries on.
type btsnoopReader struct {
	r        *bufio.Reader
	datalink uint32
	offset   int64
	buf      []byte
	lastTS   int64
	haveTS   bool
	skipped  int64
	done     bool
}

// newBtsnoopReader reads and checks the file header.
func newBtsnoopReader(r io.Reader) (*btsnoopReader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var hdr [btsnoopHeaderLen]byte
	if n, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, &hci.FormatError{Format: btsnoopFormat, Field: "file header", Offset: 0,
			Problem: fmt.Sprintf("need %d bytes, have %d", btsnoopHeaderLen, n), Err: io.ErrUnexpectedEOF}
	}
	if !bytes.Equal(hdr[:8], btsnoopMagic[:]) {
		return nil, malformed(btsnoopFormat, "identification pattern", 0, "%q is not \"btsnoop\\x00\"", hdr[:8])
	}
	if v := binary.BigEndian.Uint32(hdr[8:]); v != btsnoopVersion {
		return nil, malformed(btsnoopFormat, "version number", 8, "%d, only version 1 exists", v)
	}
	dl := binary.BigEndian.Uint32(hdr[12:])
	switch dl {
	case btsnoopH1, BtsnoopH4, btsnoopMonitor:
	case btsnoopBCSP, btsnoopH5:
		return nil, malformed(btsnoopFormat, "datalink type", 12, "%d (serial framing with link-layer retransmission) is not supported", dl)
	default:
		return nil, malformed(btsnoopFormat, "datalink type", 12, "%d is unknown", dl)
	}
	return &btsnoopReader{r: br, datalink: dl, offset: btsnoopHeaderLen, buf: make([]byte, 0, 1024)}, nil
}

// Datalink returns the file's datalink type.
func (b *btsnoopReader) Datalink() uint32 { return b.datalink }

// Skipped returns how many bytes the reader has skipped while resynchronising.
func (b *btsnoopReader) Skipped() int64 { return b.skipped }

// header fields, decoded.
type btsnoopHeader struct {
	orig, incl, flags, drops uint32
	ts                       int64
}

func parseBtsnoopHeader(h []byte) btsnoopHeader {
	return btsnoopHeader{
		orig:  binary.BigEndian.Uint32(h[0:]),
		incl:  binary.BigEndian.Uint32(h[4:]),
		flags: binary.BigEndian.Uint32(h[8:]),
		drops: binary.BigEndian.Uint32(h[12:]),
		ts:    int64(binary.BigEndian.Uint64(h[16:])),
	}
}

// check says what is wrong with a record header, if anything.
func (b *btsnoopReader) check(h btsnoopHeader) (field, problem string) {
	switch {
	case h.incl > btsnoopMaxRecord:
		return "included length", fmt.Sprintf("%d exceeds the %d-byte limit", h.incl, btsnoopMaxRecord)
	case h.incl > h.orig:
		return "included length", fmt.Sprintf("%d exceeds the original length %d", h.incl, h.orig)
	}
	switch b.datalink {
	case btsnoopH1, BtsnoopH4:
		if h.flags > btsnoopFlagReceived|btsnoopFlagCommandEvent {
			return "packet flags", fmt.Sprintf("0x%08X has bits other than direction and command/event", h.flags)
		}
	case btsnoopMonitor:
		if uint16(h.flags) > monitorHighestCode {
			return "packet flags", fmt.Sprintf("monitor opcode %d is unknown", uint16(h.flags))
		}
	}
	return "", ""
}

// plausible is the stricter test a candidate header must pass when the
// reader searches for the next record after a corrupt one.
func (b *btsnoopReader) plausible(h btsnoopHeader) bool {
	if f, _ := b.check(h); f != "" || h.incl == 0 {
		return false
	}
	if b.haveTS {
		d := h.ts - b.lastTS
		return d > -btsnoopResyncWindow && d < btsnoopResyncWindow
	}
	// Without a good record yet, accept times between 1990 and 2100.
	return h.ts > btsnoopPlausibleFirst && h.ts < btsnoopPlausibleLast
}

var (
	btsnoopPlausibleFirst = btsnoopTimestamp(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC))
	btsnoopPlausibleLast  = btsnoopTimestamp(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
)

// Next returns the next record. It returns io.EOF at the end of the file;
// an error wrapping hci.ErrMalformed and io.ErrUnexpectedEOF when the file
// ends inside a record (after which Next returns io.EOF); and an error
// wrapping hci.ErrMalformed for a corrupt record header, after which Next
// resumes at the next plausible record.
func (b *btsnoopReader) Next() (btsnoopRecord, error) {
	if b.done {
		return btsnoopRecord{}, io.EOF
	}
	hb, err := b.r.Peek(btsnoopRecordHeaderLen)
	if err != nil {
		return btsnoopRecord{}, endOfCapture(&b.done, b.offset, btsnoopFormat, err, len(hb), "record header", btsnoopRecordHeaderLen)
	}
	h := parseBtsnoopHeader(hb)
	if field, problem := b.check(h); field != "" {
		return btsnoopRecord{}, b.resync(field, problem)
	}
	start := b.offset
	if _, err := b.r.Discard(btsnoopRecordHeaderLen); err != nil {
		return btsnoopRecord{}, err
	}
	b.offset += btsnoopRecordHeaderLen
	n := int(h.incl)
	data, got, err := readRecordData(b.r, &b.buf, n)
	if err != nil {
		b.offset += int64(got)
		return btsnoopRecord{}, endOfCapture(&b.done, start, btsnoopFormat, err, btsnoopRecordHeaderLen+got, "record data", btsnoopRecordHeaderLen+n)
	}
	b.offset += int64(n)
	b.lastTS, b.haveTS = h.ts, true
	return btsnoopRecord{Offset: start, OriginalLen: h.orig, Flags: h.flags, Drops: h.drops, Timestamp: h.ts, Data: data}, nil
}

// resync reports the corrupt header at the current offset and moves to
// the next plausible record header, or to the end of the file.
func (b *btsnoopReader) resync(field, problem string) error {
	at := b.offset
	n := skipToPlausible(b.r, btsnoopRecordHeaderLen, func(h []byte) bool { return b.plausible(parseBtsnoopHeader(h)) })
	b.offset += n
	b.skipped += n
	return malformed(btsnoopFormat, "record "+field, int(at), "%s; skipped %d bytes to the next plausible record", problem, n)
}

// HCIEvent returns the HCI event packet (without H4 indicator) a record
// holds, or ok false if the record is something else: a command, data, or
// a monitor record of another kind.
func (b *btsnoopReader) HCIEvent(rec *btsnoopRecord) (event []byte, ok bool) {
	return btsnoopEvent(b.datalink, rec.Flags, rec.Data)
}

func btsnoopEvent(datalink, flags uint32, data []byte) ([]byte, bool) {
	switch datalink {
	case btsnoopH1:
		want := btsnoopFlagReceived | btsnoopFlagCommandEvent
		return data, flags&want == want
	case BtsnoopH4:
		if len(data) > 0 && data[0] == hci.H4Event {
			return data[1:], true
		}
	case btsnoopMonitor:
		return data, uint16(flags) == monitorEventPkt
	}
	return nil, false
}

// BtsnoopWriter writes a btsnoop file. Call Flush when done.
type BtsnoopWriter struct {
	w        *bufio.Writer
	datalink uint32
	hdr      [btsnoopRecordHeaderLen]byte
}

// NewBtsnoopWriter writes the file header for datalink (btsnoopH1,
// BtsnoopH4 or btsnoopMonitor).
func NewBtsnoopWriter(w io.Writer, datalink uint32) (*BtsnoopWriter, error) {
	switch datalink {
	case btsnoopH1, BtsnoopH4, btsnoopMonitor:
	default:
		return nil, fmt.Errorf("btsnoop writer: datalink %d not supported", datalink)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	var hdr [btsnoopHeaderLen]byte
	copy(hdr[:], btsnoopMagic[:])
	binary.BigEndian.PutUint32(hdr[8:], btsnoopVersion)
	binary.BigEndian.PutUint32(hdr[12:], datalink)
	if _, err := bw.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("btsnoop writer: header: %w", err)
	}
	return &BtsnoopWriter{w: bw, datalink: datalink}, nil
}

// WriteRecord writes one record whose data is the concatenation of parts.
func (w *BtsnoopWriter) WriteRecord(t time.Time, flags, drops uint32, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	binary.BigEndian.PutUint32(w.hdr[0:], uint32(n))
	binary.BigEndian.PutUint32(w.hdr[4:], uint32(n))
	binary.BigEndian.PutUint32(w.hdr[8:], flags)
	binary.BigEndian.PutUint32(w.hdr[12:], drops)
	binary.BigEndian.PutUint64(w.hdr[16:], uint64(btsnoopTimestamp(t)))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return fmt.Errorf("btsnoop writer: record header: %w", err)
	}
	for _, p := range parts {
		if _, err := w.w.Write(p); err != nil {
			return fmt.Errorf("btsnoop writer: record data: %w", err)
		}
	}
	return nil
}

var h4EventIndicator = []byte{hci.H4Event}

// WriteEvent writes an HCI event packet (without H4 indicator) received
// from controller index 0, framed as the datalink wants it.
func (w *BtsnoopWriter) WriteEvent(t time.Time, event []byte) error {
	switch w.datalink {
	case btsnoopH1:
		return w.WriteRecord(t, btsnoopFlagReceived|btsnoopFlagCommandEvent, 0, event)
	case BtsnoopH4:
		return w.WriteRecord(t, btsnoopFlagReceived|btsnoopFlagCommandEvent, 0, h4EventIndicator, event)
	case btsnoopMonitor:
		return w.WriteRecord(t, uint32(monitorEventPkt), 0, event)
	}
	return errors.New("btsnoop writer: unreachable datalink")
}

// Flush writes buffered records out.
func (w *BtsnoopWriter) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("btsnoop writer: %w", err)
	}
	return nil
}
