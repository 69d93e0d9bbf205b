// Package capture reads and writes Bluetooth capture files: btsnoop
// (Android snoop logs, btmon), pcap and pcapng with HCI H4 records (link
// types 187 and 201), LE link-layer sniffer records (251 and 256) or nRF
// Sniffer for Bluetooth LE records (272), plain or gzip-compressed. OpenCapture tells the formats apart by their first bytes
// and replays a file's advertising reports as an hci.ReportSource, decoded
// with the hci package's decoder, so that a capture and a live adapter read
// the same bytes the same way (docs/captures.md).
package capture

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// Capture formats OpenCapture recognises.
const (
	CaptureBtsnoop = "btsnoop"
	CapturePcap    = "pcap"
	CapturePcapng  = "pcapng"
)

// captureLogLimit is how many malformed records a Capture logs before it
// only counts them: a corrupt file must not flood the log.
const captureLogLimit = 10

// ctxCheckEvery is how many records pass between looks at the context, to
// keep the check off the per-record cost.
const ctxCheckEvery = 1024

// CaptureStats are a capture's counters so far.
type CaptureStats struct {
	// Records read from the file, of any kind.
	Records uint64
	// Events are the advertising events among them: LE Advertising and
	// LE Extended Advertising Report events by their header, or for a
	// link-layer capture the advertising PDUs that passed the CRC. Other
	// HCI events (command completes, connections, ...) are not counted.
	Events uint64
	// Reports delivered to the callback.
	Reports uint64
	// Malformed records, events or headers counted and skipped.
	Malformed uint64
	// BadCRC counts link-layer packets dropped because their CRC is
	// wrong (ErrBadCRC); they are not among Malformed.
	BadCRC uint64
	// Reassembled counts extended advertising reports delivered whole
	// after arriving in pieces; FragmentsDropped the partial ones given up
	// (truncated, too late, too long: hci.ReassemblyStats).
	Reassembled, FragmentsDropped uint64
	// SkippedBytes were stepped over to find the next record after a
	// corrupt header.
	SkippedBytes int64
	// Truncated is set when the file ended inside a record.
	Truncated bool
}

// recordKind says what a capture record holds.
type recordKind uint8

const (
	kindOther     recordKind = iota
	kindHCIEvent             // an HCI event packet without H4 indicator
	kindLELL                 // a LinkTypeBluetoothLELLWithPHDR record
	kindLELLRaw              // a LinkTypeBluetoothLELL record
	kindNordicBLE            // a LinkTypeNordicBLE record
)

// recordSource is one file format's record reader, reduced to what the
// Capture needs.
type recordSource interface {
	// next returns the next record; offset is where it starts in the
	// file, for messages.
	next() (t time.Time, kind recordKind, payload []byte, offset int64, err error)
	skipped() int64
}

// Capture replays the advertising reports of a btsnoop, pcap or pcapng
// file, with the capture's own timestamps. It is a ReportSource.
type Capture struct {
	// Format is CaptureBtsnoop, CapturePcap or CapturePcapng.
	Format string
	// Name is the path or name the capture was opened with, for messages.
	Name string
	// Logger receives a warning for each of the first malformed records;
	// nil means slog.Default().
	Logger *slog.Logger
	// OnMalformed, when set, is called for every malformed record instead
	// of logging it.
	OnMalformed func(error)

	src    recordSource
	closer io.Closer
	dec    hci.AdvDecoder
	lld    llDecoder
	// llJoined and llDropped mirror lld's counts for Stats.
	llJoined, llDropped atomic.Uint64
	ll                  hci.AdvReport

	records, events, reports, malformedCount, badCRC atomic.Uint64
	// skippedBytes mirrors the reader's count so Stats can read it while
	// Reports runs on another goroutine.
	skippedBytes atomic.Int64
	truncated    atomic.Bool
}

// OpenCapture opens a btsnoop (Android HCI snoop log, `btmon -w`), pcap
// (link type 187, 201, 251, 256 or 272, either byte order, micro- or nanosecond) or
// pcapng file, telling them apart by their first bytes; gzip-compressed
// files are unpacked on the fly.
func OpenCapture(path string) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening capture: %w", err)
	}
	c, err := NewCapture(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.closer = f
	return c, nil
}

// NewCapture reads a capture from r; name is used in messages. Closing
// the Capture does not close r.
func NewCapture(r io.Reader, name string) (*Capture, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	magic, _ := br.Peek(8)
	if len(magic) >= 2 && magic[0] == 0x1F && magic[1] == 0x8B {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("capture %s: gzip header: %w", name, err)
		}
		br = bufio.NewReaderSize(zr, 256<<10)
		magic, _ = br.Peek(8)
	}
	if len(magic) == 0 {
		return nil, fmt.Errorf("capture %s: %w", name, ErrEmptyCapture)
	}
	c := &Capture{Name: name}
	switch {
	case bytes.HasPrefix(magic, btsnoopMagic[:]):
		sr, err := newBtsnoopReader(br)
		if err != nil {
			return nil, fmt.Errorf("capture %s: %w", name, err)
		}
		c.Format, c.src = CaptureBtsnoop, &btsnoopSource{r: sr}
	case len(magic) >= 4 && binary.LittleEndian.Uint32(magic) == pcapngBlockSHB:
		pr, err := newPcapngReader(br)
		if err != nil {
			return nil, fmt.Errorf("capture %s: %w", name, err)
		}
		c.Format, c.src = CapturePcapng, &packetSource{r: pr, skip: pr.Skipped}
	case len(magic) >= 4 && isPcapMagic(magic):
		pr, err := newPcapReader(br)
		if err != nil {
			return nil, fmt.Errorf("capture %s: %w", name, err)
		}
		if lt := pr.LinkType(); !readableLinkType(lt) {
			return nil, &LinkTypeError{Format: CapturePcap, LinkType: lt}
		}
		c.Format, c.src = CapturePcap, &packetSource{r: pr, skip: pr.Skipped}
	default:
		return nil, fmt.Errorf("capture %s: first bytes %X are %w: %w", name, magic, ErrUnknownFormat, hci.ErrMalformed)
	}
	return c, nil
}

func isPcapMagic(b []byte) bool {
	for _, m := range []uint32{binary.LittleEndian.Uint32(b), binary.BigEndian.Uint32(b)} {
		if m == pcapMagicMicro || m == pcapMagicNano {
			return true
		}
	}
	return false
}

// Stats returns the counters so far; it is safe to call while Reports
// runs.
func (c *Capture) Stats() CaptureStats {
	return CaptureStats{
		Records:          c.records.Load(),
		Events:           c.events.Load(),
		Reports:          c.reports.Load(),
		Malformed:        c.malformedCount.Load(),
		BadCRC:           c.badCRC.Load(),
		Reassembled:      c.dec.ReassemblyStats().Reassembled + c.llJoined.Load(),
		FragmentsDropped: c.dec.ReassemblyStats().Dropped + c.llDropped.Load(),
		SkippedBytes:     c.skippedBytes.Load(),
		Truncated:        c.truncated.Load(),
	}
}

// Close closes the file OpenCapture opened.
func (c *Capture) Close() error {
	if c.closer == nil {
		return nil
	}
	err := c.closer.Close()
	c.closer = nil
	return err
}

// Reports calls fn for each advertising report in the capture, in file
// order, until the file ends (nil), ctx is done, fn fails, or reading the
// file fails. Malformed records and a file that ends inside a record are
// counted and skipped, never fatal.
func (c *Capture) Reports(ctx context.Context, fn func(*hci.AdvReport) error) error {
	var fnErr error
	deliver := func(r *hci.AdvReport) error {
		c.reports.Add(1)
		if err := fn(r); err != nil {
			fnErr = err
			return err
		}
		return nil
	}
	for i := 0; ; i++ {
		if i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		t, kind, payload, offset, err := c.src.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if !errors.Is(err, hci.ErrMalformed) {
				if !damagedCompression(err) {
					return fmt.Errorf("capture %s: %w", c.Name, err)
				}
				// Nothing past the damage can be decompressed: end the
				// replay there, as for a file cut short, keeping what came
				// before.
				c.truncated.Store(true)
				c.malformed(fmt.Errorf("%w gzip stream, replay ends here: %w", hci.ErrMalformed, err))
				return nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				c.truncated.Store(true)
			}
			c.skippedBytes.Store(c.src.skipped())
			c.malformed(err)
			continue
		}
		c.records.Add(1)
		switch kind {
		case kindHCIEvent:
			if hci.IsAdvReportEvent(payload) {
				c.events.Add(1)
			}
			if _, err := c.dec.Decode(payload, t, deliver); err != nil {
				if fnErr != nil {
					return fnErr
				}
				c.malformed(fmt.Errorf("record at offset %d: %w", offset, err))
			}
		case kindLELL, kindLELLRaw, kindNordicBLE:
			var ok bool
			var err error
			switch kind {
			case kindLELL:
				ok, err = c.lld.decodeLELLAdvertising(payload, t, &c.ll)
			case kindLELLRaw:
				ok, err = c.lld.decodeLELLRaw(payload, t, &c.ll)
			default:
				ok, err = c.lld.decodeNordicBLE(payload, t, &c.ll)
			}
			c.llJoined.Store(c.lld.joined)
			c.llDropped.Store(c.lld.dropped)
			if errors.Is(err, ErrBadCRC) {
				// Damaged on air, not in the file: counted apart, as a
				// sniffer in a busy band sees many.
				c.badCRC.Add(1)
				continue
			}
			if err != nil {
				c.events.Add(1)
				c.malformed(fmt.Errorf("record at offset %d: %w", offset, err))
				continue
			}
			if !ok {
				continue
			}
			c.events.Add(1)
			if err := deliver(&c.ll); err != nil {
				return err
			}
		}
	}
}

// damagedCompression tells a gzip stream that is corrupt (bad data, bad
// checksum, a bad header for a following member) from a failure to read
// the file itself.
func damagedCompression(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &corrupt)
}

func (c *Capture) malformed(err error) {
	n := c.malformedCount.Add(1)
	if c.OnMalformed != nil {
		c.OnMalformed(err)
		return
	}
	if n > captureLogLimit {
		return
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("skipping malformed capture record", "capture", c.Name, "format", c.Format, "err", err)
	if n == captureLogLimit {
		log.Warn("further malformed records are counted, not logged", "capture", c.Name)
	}
}

type btsnoopSource struct {
	r *btsnoopReader
}

func (s *btsnoopSource) next() (time.Time, recordKind, []byte, int64, error) {
	rec, err := s.r.Next()
	if err != nil {
		return time.Time{}, kindOther, nil, 0, err
	}
	if ev, ok := s.r.HCIEvent(&rec); ok {
		return rec.Time(), kindHCIEvent, ev, rec.Offset, nil
	}
	return time.Time{}, kindOther, nil, rec.Offset, nil
}

func (s *btsnoopSource) skipped() int64 { return s.r.Skipped() }

// packetSource adapts pcap and pcapng readers.
type packetSource struct {
	r    packetReader
	skip func() int64
}

func (s *packetSource) next() (time.Time, recordKind, []byte, int64, error) {
	rec, err := s.r.Next()
	if err != nil {
		return time.Time{}, kindOther, nil, 0, err
	}
	switch rec.LinkType {
	case LinkTypeBluetoothHCIH4WithPHDR:
		_, ind, pkt, err := h4WithPhdr(rec.Data)
		if err != nil {
			return time.Time{}, kindOther, nil, rec.Offset, fmt.Errorf("record at offset %d: %w", rec.Offset, err)
		}
		if ind == hci.H4Event {
			return rec.Time, kindHCIEvent, pkt, rec.Offset, nil
		}
	case LinkTypeBluetoothHCIH4:
		ind, pkt, err := hci.SplitH4(rec.Data)
		if err != nil {
			return time.Time{}, kindOther, nil, rec.Offset, fmt.Errorf("record at offset %d: H4 (link type 187): %w", rec.Offset, err)
		}
		if ind == hci.H4Event {
			return rec.Time, kindHCIEvent, pkt, rec.Offset, nil
		}
	case LinkTypeBluetoothLELLWithPHDR:
		return rec.Time, kindLELL, rec.Data, rec.Offset, nil
	case LinkTypeBluetoothLELL:
		return rec.Time, kindLELLRaw, rec.Data, rec.Offset, nil
	case LinkTypeNordicBLE:
		return rec.Time, kindNordicBLE, rec.Data, rec.Offset, nil
	}
	return time.Time{}, kindOther, nil, rec.Offset, nil
}

func (s *packetSource) skipped() int64 { return s.skip() }
