//go:build linux && !ppc64 && !ppc64le

package hci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// serialConn is an HCI controller on a UART speaking H4 (Core spec Vol 4
// Part A): a USB-serial HCI dongle, a board's UART controller, or a
// pseudo-terminal bridged to one.
type serialConn struct {
	f    *os.File
	h4   *h4Reader
	path string
	wmu  sync.Mutex
	// garbage counts resynchronisations of the H4 stream.
	garbage atomic.Uint64
}

// openSerial opens the tty at path raw (no echo, no line discipline, 8N1)
// at baud bits per second, with RTS/CTS flow control when flow is set (HCI
// UARTs mostly want it; a pseudo-terminal ignores it). Any rate the driver
// accepts works, 115200 and 1000000 being the usual ones.
func openSerial(path string, baud int, flow bool) (*serialConn, error) {
	if baud <= 0 {
		return nil, fmt.Errorf("hci: serial %s: baud rate %d must be positive", path, baud)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("hci: open serial %s: %w", path, err)
	}
	if err := configureTTY(fd, baud, flow); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("hci: serial %s: %w", path, err)
	}
	// A non-blocking descriptor joins Go's poller, so Close unblocks a
	// reader instead of leaving it in read(2) forever.
	f := os.NewFile(uintptr(fd), path)
	return &serialConn{f: f, h4: newH4Reader(f), path: path}, nil
}

// configureTTY is cfmakeraw plus an arbitrary speed through termios2
// (BOTHER), so rates such as 1000000 or 3000000 need no Bxxx constant.
func configureTTY(fd, baud int, flow bool) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS2)
	if err != nil {
		return fmt.Errorf("TCGETS2 (not a tty?): %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CBAUD | unix.CRTSCTS
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | unix.BOTHER
	if flow {
		t.Cflag |= unix.CRTSCTS
	}
	t.Ispeed, t.Ospeed = uint32(baud), uint32(baud)
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS2, t); err != nil {
		return fmt.Errorf("TCSETS2 at %d baud: %w", baud, err)
	}
	// Whatever the dongle sent before we listened is half a packet at best.
	_ = unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIOFLUSH)
	return nil
}

// ReadPacket reads the next H4 packet, indicator first. Garbage on the
// line is skipped and counted, never returned.
func (s *serialConn) ReadPacket(p []byte) (int, error) {
	for {
		ind, packet, err := s.h4.Next()
		if err != nil {
			if errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				s.garbage.Add(1)
				continue
			}
			if errors.Is(err, os.ErrClosed) {
				return 0, ErrClosed
			}
			return 0, fmt.Errorf("hci: serial %s: %w", s.path, err)
		}
		if 1+len(packet) > len(p) {
			// Too big for the caller: only ACL data gets this large, and
			// nobody here reads ACL data.
			continue
		}
		p[0] = ind
		return 1 + copy(p[1:], packet), nil
	}
}

// WritePacket writes one H4 packet, indicator first.
func (s *serialConn) WritePacket(p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.f.Write(p); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("hci: serial %s: write %d bytes: %w", s.path, len(p), err)
	}
	return nil
}

// Resyncs is how many times the H4 stream had to skip garbage.
func (s *serialConn) Resyncs() uint64 { return s.garbage.Load() }

// Close closes the tty, ending a blocked ReadPacket.
func (s *serialConn) Close() error { return s.f.Close() }

// SerialConfig says which UART controller to scan and how.
type SerialConfig struct {
	Path string
	// Baud is the line rate; 0 means 115200, what most HCI UARTs start at.
	Baud int
	// FlowControl turns on RTS/CTS.
	FlowControl    bool
	Scan           ScanConfig
	CommandTimeout time.Duration
	Logger         *slog.Logger
}

// Serial is a ReportSource scanning an H4 controller on a serial port. We
// own the controller outright, as on the user channel: it is reset and
// set up from scratch.
type Serial struct {
	conn *serialConn
	ctl  *controller
	scan scanState

	mu       sync.Mutex
	closed   bool
	closeErr error
}

var _ ReportSource = (*Serial)(nil)

// OpenSerialSource opens the port, resets the controller and starts a
// passive scan with duplicate filtering off.
func OpenSerialSource(ctx context.Context, cfg SerialConfig) (*Serial, error) {
	baud := cfg.Baud
	if baud == 0 {
		baud = 115200
	}
	conn, err := openSerial(cfg.Path, baud, cfg.FlowControl)
	if err != nil {
		return nil, err
	}
	s := &Serial{conn: conn, ctl: newController(conn, cfg.CommandTimeout, cfg.Logger)}
	fail := func(err error) (*Serial, error) {
		s.ctl.Close()
		return nil, fmt.Errorf("hci: serial %s: %w", cfg.Path, err)
	}
	if err := initController(ctx, s.ctl); err != nil {
		return fail(err)
	}
	caps, err := readCapabilities(ctx, s.ctl)
	if err != nil {
		return fail(err)
	}
	if s.scan, err = startScan(ctx, s.ctl, caps, cfg.Scan); err != nil {
		return fail(err)
	}
	return s, nil
}

// Reports implements ReportSource.
func (s *Serial) Reports(ctx context.Context, fn func(*AdvReport) error) error {
	return s.ctl.Reports(ctx, fn)
}

// Stats returns the controller's running totals.
func (s *Serial) Stats() ControllerStats { return s.ctl.Stats() }

// Resyncs is how many times line noise on the UART had to be skipped to
// find the next H4 packet.
func (s *Serial) Resyncs() uint64 { return s.conn.Resyncs() }

// Extended reports whether the scan uses the extended commands.
func (s *Serial) Extended() bool { return s.scan.Extended }

// Close disables scanning and closes the port.
func (s *Serial) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	stopErr := stopScan(ctx, s.ctl, s.scan.Extended)
	if errors.Is(stopErr, ErrClosed) {
		stopErr = nil
	}
	s.closeErr = errors.Join(stopErr, s.ctl.Close())
	return s.closeErr
}
