//go:build linux && !ppc64 && !ppc64le

package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/pact-findmy/pact-findmy/hci"
)

// serialSource is an H4 controller on a tty as a harvester source.
type serialSource struct {
	*hci.Serial
	path string
	baud int
	flow bool
	// lost is set when the report stream ends on its own (the dongle
	// unplugged, the tty gone), closed when we stop the scan: Serial has
	// no adapter state to ask, and until one of these the controller
	// scans, as an adapter does until it is closed.
	lost, closed atomic.Bool
}

func openSerialSource(ctx context.Context, o *scanOptions, log *slog.Logger) (*serialSource, error) {
	s, err := hci.OpenSerialSource(ctx, hci.SerialConfig{
		Path: o.serial, Baud: o.baud, FlowControl: o.flow, Scan: o.scan, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("opening serial controller %s at %d baud (flow control %v): %w", o.serial, o.baud, o.flow, err)
	}
	logScanning(log, o, s.Extended())
	return &serialSource{Serial: s, path: o.serial, baud: o.baud, flow: o.flow}, nil
}

func (s *serialSource) Reports(ctx context.Context, fn func(*hci.AdvReport) error) error {
	err := s.Serial.Reports(ctx, fn)
	if ctx.Err() == nil {
		s.lost.Store(true)
	}
	return err
}

func (s *serialSource) Close() error {
	s.closed.Store(true)
	return s.Serial.Close()
}

func (s *serialSource) stats() []any {
	st := s.Stats()
	return []any{"serial", s.path, "baud", s.baud, "flow_control", s.flow,
		"scanning", s.scanning(), "extended", s.Extended(), "events", st.Events,
		"dropped", st.Dropped, "hardware_errors", st.HardwareErrors, "resyncs", s.Resyncs()}
}

// frameErrors counts line noise too: on a UART it is the commonest bad
// frame, and it never reaches the event decoder.
func (s *serialSource) frameErrors() uint64 { return s.Stats().Malformed + s.Resyncs() }
func (s *serialSource) scanning() bool      { return !s.lost.Load() && !s.closed.Load() }
