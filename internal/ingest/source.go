package ingest

import (
	"context"

	"github.com/pact-findmy/pact-findmy/capture"
	"github.com/pact-findmy/pact-findmy/hci"
)

// Source is where advertising reports come from: a capture, a live
// adapter, a serial controller.
type Source interface {
	hci.ReportSource
	// Stats returns extra key/value pairs for the statistics and summary
	// log lines (capture errors, adapter state, ...).
	Stats() []any
	// FrameErrors is how many records or events the source skipped as
	// malformed.
	FrameErrors() uint64
	// Scanning reports whether the controller scans; false for captures.
	Scanning() bool
	// Name names the source for logs and the dashboard: a file, hciN, a tty.
	Name() string
}

// CaptureSource returns a capture file as a source, named by its Name.
func CaptureSource(c *capture.Capture) Source { return &captureSource{c: c} }

type captureSource struct{ c *capture.Capture }

func (s *captureSource) Reports(ctx context.Context, fn func(*hci.AdvReport) error) error {
	return s.c.Reports(ctx, fn)
}

func (s *captureSource) Close() error { return s.c.Close() }

func (s *captureSource) Stats() []any {
	st := s.c.Stats()
	return []any{"format", s.c.Format, "records", st.Records, "adv_events", st.Events,
		"bad_crc", st.BadCRC, "reassembled", st.Reassembled, "fragments_dropped", st.FragmentsDropped,
		"skipped_bytes", st.SkippedBytes, "truncated", st.Truncated}
}

func (s *captureSource) FrameErrors() uint64 { return s.c.Stats().Malformed }
func (s *captureSource) Scanning() bool      { return false }
func (s *captureSource) Name() string        { return s.c.Name }
