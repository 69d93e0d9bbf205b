//go:build linux

package ingest

import (
	"context"
	"fmt"

	"github.com/pact-findmy/pact-findmy/hci"
)

// LiveSource returns a Linux adapter opened with hci.OpenLive as a source.
func LiveSource(l *hci.Live) Source { return &liveSource{l: l} }

type liveSource struct{ l *hci.Live }

func (s *liveSource) Reports(ctx context.Context, fn func(*hci.AdvReport) error) error {
	return s.l.Reports(ctx, fn)
}

func (s *liveSource) Close() error { return s.l.Close() }

func (s *liveSource) Stats() []any {
	st := s.l.State()
	return []any{"adapter", fmt.Sprintf("hci%d", st.Adapter), "channel", st.Channel.String(),
		"scanning", st.Scanning, "extended", st.Extended, "events", st.Events,
		"dropped", st.Dropped, "hardware_errors", st.HardwareErrors}
}

func (s *liveSource) FrameErrors() uint64 { return s.l.State().Malformed }
func (s *liveSource) Scanning() bool      { return s.l.State().Scanning }
func (s *liveSource) Name() string        { return fmt.Sprintf("hci%d", s.l.State().Adapter) }
