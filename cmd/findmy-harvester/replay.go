package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/pact-findmy/pact-findmy/capture"
	"github.com/pact-findmy/pact-findmy/internal/cli"
)

// errCaptureArg is the usage error of replay without exactly one file.
var errCaptureArg = errors.New("no capture file")

func replayCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "[flags] FILE\n\nReads advertising reports from a btsnoop, pcap or pcapng capture (told\napart by their first bytes; gzip is unpacked) and writes the sightings, timed by the capture's own\ntimestamps.", stdout, stderr)
	var o outputFlags
	o.register(fs.FlagSet)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return cli.Usagef("%w: want exactly one capture file, got %d arguments", errCaptureArg, fs.NArg())
	}
	if err := o.check(); err != nil {
		return err
	}
	log := o.log.Logger(stderr)
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
		"bad_crc", st.BadCRC, "reassembled", st.Reassembled, "fragments_dropped", st.FragmentsDropped, "skipped_bytes", st.SkippedBytes, "truncated", st.Truncated}
}

func (s *captureSource) frameErrors() uint64 { return s.Stats().Malformed }
func (s *captureSource) scanning() bool      { return false }
