//go:build linux && !ppc64 && !ppc64le

package ingest

import (
	"context"
	"sync/atomic"

	"github.com/pact-findmy/pact-findmy/hci"
)

// SerialSource returns an H4 controller opened with hci.OpenSerialSource
// as a source; cfg is the configuration it was opened with, shown in the
// statistics (hci.Serial does not keep it).
func SerialSource(s *hci.Serial, cfg hci.SerialConfig) Source {
	return &serialSource{s: s, path: cfg.Path, baud: cfg.Baud, flow: cfg.FlowControl}
}

type serialSource struct {
	s    *hci.Serial
	path string
	baud int
	flow bool
	// lost is set when the report stream ends on its own (the dongle
	// unplugged, the tty gone), closed when the scan is stopped: Serial
	// has no adapter state to ask, and until one of these the controller
	// scans, as an adapter does until it is closed.
	lost, closed atomic.Bool
}

func (s *serialSource) Reports(ctx context.Context, fn func(*hci.AdvReport) error) error {
	err := s.s.Reports(ctx, fn)
	if ctx.Err() == nil {
		s.lost.Store(true)
	}
	return err
}

func (s *serialSource) Close() error {
	s.closed.Store(true)
	return s.s.Close()
}

func (s *serialSource) Stats() []any {
	st := s.s.Stats()
	return []any{"serial", s.path, "baud", s.baud, "flow_control", s.flow,
		"scanning", s.Scanning(), "extended", s.s.Extended(), "events", st.Events,
		"dropped", st.Dropped, "hardware_errors", st.HardwareErrors, "resyncs", s.s.Resyncs()}
}

// FrameErrors counts line noise too: on a UART it is the commonest bad
// frame, and it never reaches the event decoder.
func (s *serialSource) FrameErrors() uint64 { return s.s.Stats().Malformed + s.s.Resyncs() }
func (s *serialSource) Scanning() bool      { return !s.lost.Load() && !s.closed.Load() }
func (s *serialSource) Name() string        { return s.path }
