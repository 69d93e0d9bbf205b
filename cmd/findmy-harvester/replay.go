package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/pact-findmy/pact-findmy/capture"
)

func replayCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "replay [flags] FILE\n\nReads advertising reports from a btsnoop, pcap or pcapng capture (told\napart by their first bytes; gzip is unpacked) and writes the sightings, timed by the capture's own\ntimestamps.", stderr)
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

// captureSource is a capture file as a source of the pipeline.
type captureSource struct{ *capture.Capture }

func openCapture(path string, log *slog.Logger) (*captureSource, error) {
	c, err := capture.OpenCapture(path)
	if err != nil {
		return nil, err
	}
	c.Logger = log
	log.Info("replaying", "file", path, "format", c.Format)
	return &captureSource{c}, nil
}

func (s *captureSource) stats() []any {
	st := s.Stats()
	return []any{"format", s.Format, "records", st.Records, "adv_events", st.Events,
		"skipped_bytes", st.SkippedBytes, "truncated", st.Truncated}
}

func (s *captureSource) frameErrors() uint64 { return s.Stats().Malformed }
func (s *captureSource) scanning() bool      { return false }
