package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

func scanCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("scan", "scan --hci N [flags]\n\nScans adapter hciN passively, duplicate filtering off, and writes the\nsightings until SIGINT or SIGTERM, then flushes everything. Needs\nCAP_NET_ADMIN and CAP_NET_RAW (see docs/findmy-harvester.md).", stderr)
	var o outputFlags
	o.register(fs)
	adapter := fs.Int("hci", -1, "adapter number N of hciN (required)")
	channel := fs.String("channel", "auto", "HCI channel: user (exclusive), raw (shared with the kernel) or auto")
	interval := fs.Duration("interval", 100*time.Millisecond, "scan interval")
	window := fs.Duration("window", 100*time.Millisecond, "scan window (at most the interval)")
	extended := fs.String("extended", "auto", "extended scanning: auto, on or off")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *adapter < 0 {
		fs.Usage()
		return fmt.Errorf("%w: --hci N is required", errUsage)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if err := o.check(); err != nil {
		return err
	}
	ch, err := hci.ParseChannel(*channel)
	if err != nil {
		return fmt.Errorf("%w: --channel: %v", errUsage, err)
	}
	ext, err := hci.ParseExtendedMode(*extended)
	if err != nil {
		return fmt.Errorf("%w: --extended: %v", errUsage, err)
	}
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	live, err := hci.OpenLive(ctx, hci.LiveConfig{
		Adapter: *adapter, Channel: ch, Logger: log,
		Scan: hci.ScanConfig{Interval: *interval, Window: *window, Extended: ext},
	})
	if err != nil {
		return fmt.Errorf("opening hci%d: %w", *adapter, err)
	}
	src := &liveSource{Live: live}
	defer func() {
		if err := live.Close(); err != nil {
			log.Warn("closing the adapter", "adapter", *adapter, "err", err)
		}
	}()
	return harvestFrom(ctx, src, &o, stdout, log, true)
}

type liveSource struct{ *hci.Live }

func (l *liveSource) stats() []any {
	st := l.State()
	return []any{"adapter", fmt.Sprintf("hci%d", st.Adapter), "channel", st.Channel.String(),
		"scanning", st.Scanning, "extended", st.Extended, "events", st.Events,
		"dropped", st.Dropped, "hardware_errors", st.HardwareErrors}
}

func (l *liveSource) frameErrors() uint64 { return l.State().Malformed }
func (l *liveSource) scanning() bool      { return l.State().Scanning }
