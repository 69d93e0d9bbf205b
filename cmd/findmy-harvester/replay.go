package main

import (
	"bufio"
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

func replayCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "replay [flags] FILE\n\nReads advertising reports from a btsnoop or pcap capture (told apart by\ntheir magic number) and writes the sightings, timed by the capture's own\ntimestamps.", stderr)
	var o outputFlags
	o.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want exactly one capture file, got %d arguments", errUsage, fs.NArg())
	}
	if err := o.check(); err != nil {
		return err
	}
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	src, err := openCapture(fs.Arg(0), log)
	if err != nil {
		return err
	}
	defer src.Close()
	return harvestFrom(ctx, src, &o, stdout, log, false)
}

// Capture magic numbers, as the first four bytes of the file.
var (
	magicBtsnoop = [4]byte{'b', 't', 's', 'n'}
	magicPcapLE  = [4]byte{0xD4, 0xC3, 0xB2, 0xA1}
	magicPcapBE  = [4]byte{0xA1, 0xB2, 0xC3, 0xD4}
	magicPcapNLE = [4]byte{0x4D, 0x3C, 0xB2, 0xA1}
	magicPcapNBE = [4]byte{0xA1, 0xB2, 0x3C, 0x4D}
	magicPcapng  = [4]byte{0x0A, 0x0D, 0x0D, 0x0A}
)

// captureSource replays the advertising reports of a capture file.
type captureSource struct {
	path   string
	f      *os.File
	log    *slog.Logger
	format string
	// next returns the next HCI event packet and its time; ok is false
	// for records that hold something else.
	next   func() (event []byte, t time.Time, ok bool, err error)
	dec    hci.AdvDecoder
	errs   atomic.Uint64
	events atomic.Uint64
}

// maxLoggedErrors bounds the warnings of a badly damaged file; the rest
// are only counted.
const maxLoggedErrors = 20

func openCapture(path string, log *slog.Logger) (*captureSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening capture: %w", err)
	}
	s := &captureSource{path: path, f: f, log: log}
	br := bufio.NewReaderSize(f, 1<<20)
	head, err := br.Peek(4)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture %s: reading the magic number: %w", path, err)
	}
	switch magic := [4]byte(head); magic {
	case magicBtsnoop:
		r, err := hci.NewBtsnoopReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("capture %s: %w", path, err)
		}
		s.format = "btsnoop"
		s.next = func() ([]byte, time.Time, bool, error) {
			rec, err := r.Next()
			if err != nil {
				return nil, time.Time{}, false, err
			}
			ev, ok := r.HCIEvent(&rec)
			return ev, rec.Time(), ok, nil
		}
	case magicPcapLE, magicPcapBE, magicPcapNLE, magicPcapNBE:
		r, err := hci.NewPcapReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("capture %s: %w", path, err)
		}
		if lt := r.LinkType(); lt != hci.LinkTypeBluetoothHCIH4WithPHDR {
			f.Close()
			return nil, fmt.Errorf("capture %s: pcap link type %d: replay reads HCI captures, link type %d (BLUETOOTH_HCI_H4_WITH_PHDR)", path, lt, hci.LinkTypeBluetoothHCIH4WithPHDR)
		}
		s.format = "pcap"
		s.next = func() ([]byte, time.Time, bool, error) {
			rec, err := r.Next()
			if err != nil {
				return nil, time.Time{}, false, err
			}
			// The pseudo-header's direction is 1 for controller to host.
			if len(rec.Data) >= 5 && binary.BigEndian.Uint32(rec.Data) == hci.PhdrReceived && rec.Data[4] == hci.H4Event {
				return rec.Data[5:], rec.Time, true, nil
			}
			if _, _, _, err := hci.H4WithPhdr(rec.Data); err != nil {
				return nil, rec.Time, false, err
			}
			return nil, rec.Time, false, nil
		}
	case magicPcapng:
		f.Close()
		return nil, fmt.Errorf("capture %s: pcapng is not supported; convert it with: editcap -F pcap %s out.pcap", path, path)
	default:
		f.Close()
		return nil, fmt.Errorf("capture %s: magic number %x is neither btsnoop (%x) nor pcap (%x)", path, head, magicBtsnoop, magicPcapBE)
	}
	log.Info("replaying", "file", path, "format", s.format)
	return s, nil
}

// Reports implements hci.ReportSource. Corrupt records and malformed
// events are counted, logged (the first few) and skipped.
func (s *captureSource) Reports(ctx context.Context, fn func(*hci.AdvReport) error) error {
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil
			}
		}
		ev, t, ok, err := s.next()
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, hci.ErrMalformed):
			s.skip(err)
			continue
		case err != nil:
			return fmt.Errorf("capture %s: %w", s.path, err)
		case !ok || !hci.IsAdvReportEvent(ev):
			continue
		}
		s.events.Add(1)
		if _, err := s.dec.Decode(ev, t, fn); err != nil {
			if !errors.Is(err, hci.ErrMalformed) {
				return err
			}
			s.skip(err)
		}
	}
}

func (s *captureSource) skip(err error) {
	if n := s.errs.Add(1); n <= maxLoggedErrors {
		s.log.Warn("skipping a bad frame", "file", s.path, "err", err)
		if n == maxLoggedErrors {
			s.log.Warn("further bad frames are only counted", "file", s.path)
		}
	}
}

func (s *captureSource) Close() error { return s.f.Close() }

func (s *captureSource) stats() []any {
	return []any{"format", s.format, "adv_events", s.events.Load()}
}

func (s *captureSource) frameErrors() uint64 { return s.errs.Load() }
func (s *captureSource) scanning() bool      { return false }
