//go:build linux

package hci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// LiveConfig says which adapter to scan and how.
type LiveConfig struct {
	// Adapter is N of hciN.
	Adapter int
	// Channel: user (exclusive, adapter taken down first), raw (adapter
	// stays with the kernel) or auto (user, else raw).
	Channel Channel
	Scan    ScanConfig
	// CommandTimeout bounds each HCI command; 0 means 3 s.
	CommandTimeout time.Duration
	Logger         *slog.Logger
}

// Live is a ReportSource scanning a local adapter through a Linux HCI
// socket. Reports carry the host receive time.
type Live struct {
	sock    *hciSocket
	ctl     *controller
	log     *slog.Logger
	caps    capabilities
	scan    scanState
	reports atomic.Uint64

	mu       sync.Mutex
	scanning bool
	closed   bool
	closeErr error
}

var _ ReportSource = (*Live)(nil)

// OpenLive opens adapter cfg.Adapter and starts a passive scan with
// duplicate filtering off.
func OpenLive(ctx context.Context, cfg LiveConfig) (*Live, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sock, err := openSocket(cfg.Adapter, cfg.Channel)
	if err != nil {
		return nil, err
	}
	l := &Live{sock: sock, log: log}
	l.ctl = newController(sock, cfg.CommandTimeout, log)
	fail := func(err error) (*Live, error) {
		l.ctl.Close()
		return nil, fmt.Errorf("hci%d (%v channel): %w", cfg.Adapter, sock.Channel(), err)
	}
	if sock.Channel() == ChannelUser {
		if err := initController(ctx, l.ctl); err != nil {
			return fail(err)
		}
	}
	if l.caps, err = readCapabilities(ctx, l.ctl); err != nil {
		return fail(err)
	}
	if l.scan, err = startScan(ctx, l.ctl, l.caps, cfg.Scan); err != nil {
		return fail(err)
	}
	l.scanning = true
	log.Info("scanning", "adapter", cfg.Adapter, "channel", sock.Channel().String(),
		"extended", l.scan.Extended, "interval", l.scan.Interval, "window", l.scan.Window)
	return l, nil
}

// Reports implements ReportSource. It returns nil when ctx is done or the
// source is closed.
func (l *Live) Reports(ctx context.Context, fn func(*AdvReport) error) error {
	return l.ctl.Reports(ctx, func(r *AdvReport) error {
		l.reports.Add(1)
		return fn(r)
	})
}

// LiveState is the adapter's state for statistics and metrics.
type LiveState struct {
	Adapter  int
	Channel  Channel
	Scanning bool
	Extended bool
	Interval time.Duration
	Window   time.Duration
	// Reports handed to the consumer; the rest are controller totals.
	Reports uint64
	ControllerStats
}

// State returns the adapter's current state.
func (l *Live) State() LiveState {
	l.mu.Lock()
	scanning := l.scanning && !l.closed
	l.mu.Unlock()
	select {
	case <-l.ctl.Done():
		scanning = false
	default:
	}
	return LiveState{
		Adapter: l.sock.Adapter(), Channel: l.sock.Channel(), Scanning: scanning,
		Extended: l.scan.Extended, Interval: l.scan.Interval, Window: l.scan.Window,
		Reports: l.reports.Load(), ControllerStats: l.ctl.Stats(),
	}
}

// closeTimeout bounds the scan-disable command sent while closing: a
// stop must not hang on a controller that stopped answering.
const closeTimeout = 2 * time.Second

// Close disables scanning, closes the socket and restores the adapter's
// up/down state. Reports in progress return nil.
func (l *Live) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.closeErr
	}
	l.closed = true
	var errs []error
	if l.scanning {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		if err := stopScan(ctx, l.ctl, l.scan.Extended); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, fmt.Errorf("hci%d: disable scan: %w", l.sock.Adapter(), err))
		}
		cancel()
		l.scanning = false
	}
	if err := l.ctl.Close(); err != nil {
		errs = append(errs, err)
	}
	l.closeErr = errors.Join(errs...)
	return l.closeErr
}
