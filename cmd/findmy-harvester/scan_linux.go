package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

const scanSynopsis = `scan --hci N | --serial PATH [flags]

Scans one Bluetooth controller passively, duplicate filtering off, and
writes the sightings until SIGINT or SIGTERM, then flushes everything.

  --hci N        adapter hciN through a Linux HCI socket. Needs
                 CAP_NET_ADMIN and CAP_NET_RAW (docs/deploy.md).
  --serial PATH  an HCI UART controller speaking H4 on a tty (USB-serial
                 dongle, board UART), e.g. /dev/ttyUSB0, with --baud and
                 --flow-control. It is reset and owned outright: detach it
                 from the kernel first (no btattach or hciattach on it).
                 Needs read/write access to the tty, e.g. the dialout group.`

// Line rates a UART can be asked for. The ceiling only keeps the rate
// inside termios2's 32-bit speed fields with room to spare: HCI UARTs run
// at 115200 to 4000000, and USB-serial bridges top out at 12000000.
const (
	defaultBaud = 115200
	maxBaud     = 16_000_000
)

// scanOptions is the scan command line, checked. Exactly one of adapter
// (>= 0) and serial (non-empty) names the controller.
type scanOptions struct {
	adapter int
	channel hci.Channel
	serial  string
	baud    int
	flow    bool
	scan    hci.ScanConfig
	out     outputFlags
}

// parseScanFlags parses and checks the scan flags without touching any
// device, so every usage error is reported before a controller is reset.
func parseScanFlags(args []string, stderr io.Writer) (*scanOptions, error) {
	fs := newFlagSet("scan", scanSynopsis, stderr)
	o := &scanOptions{}
	o.out.register(fs)
	fs.IntVar(&o.adapter, "hci", -1, "adapter number N of hciN (this or --serial is required)")
	channel := fs.String("channel", "auto", "with --hci: HCI channel user (exclusive), raw (shared with the kernel) or auto")
	fs.StringVar(&o.serial, "serial", "", "tty of an H4 (HCI UART) controller, e.g. /dev/ttyUSB0 (this or --hci is required)")
	fs.IntVar(&o.baud, "baud", defaultBaud, fmt.Sprintf("with --serial: line rate in bits per second, 1..%d", maxBaud))
	fs.BoolVar(&o.flow, "flow-control", false, "with --serial: RTS/CTS hardware flow control (most HCI UARTs want it)")
	fs.DurationVar(&o.scan.Interval, "interval", 100*time.Millisecond, "scan interval")
	fs.DurationVar(&o.scan.Window, "window", 0, "scan window, at most the interval; 0 means the whole interval")
	extended := fs.String("extended", "auto", "extended scanning: auto, on or off")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["hci"] && set["serial"]:
		return nil, fmt.Errorf("%w: --hci and --serial are mutually exclusive: one controller per process", errUsage)
	case !set["hci"] && !set["serial"]:
		fs.Usage()
		return nil, fmt.Errorf("%w: --hci N is required, or --serial PATH for an HCI UART controller", errUsage)
	case set["hci"] && o.adapter < 0:
		return nil, fmt.Errorf("%w: --hci %d: want an adapter number, 0 or more", errUsage, o.adapter)
	case set["serial"] && o.serial == "":
		return nil, fmt.Errorf("%w: --serial: empty path, want a tty such as /dev/ttyUSB0", errUsage)
	case set["serial"] && set["channel"]:
		return nil, fmt.Errorf("%w: --channel %q applies to --hci only: a serial controller has no kernel to share it with", errUsage, *channel)
	case set["hci"] && (set["baud"] || set["flow-control"]):
		return nil, fmt.Errorf("%w: --baud and --flow-control apply to --serial only", errUsage)
	case o.baud < 1 || o.baud > maxBaud:
		return nil, fmt.Errorf("%w: --baud %d: want 1..%d bits per second", errUsage, o.baud, maxBaud)
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if err := o.out.check(); err != nil {
		return nil, err
	}
	if o.scan.Window == 0 {
		o.scan.Window = o.scan.Interval
	}
	if err := o.scan.Check(); err != nil {
		return nil, fmt.Errorf("%w: --interval %v --window %v: %w", errUsage, o.scan.Interval, o.scan.Window, err)
	}
	var err error
	if o.channel, err = hci.ParseChannel(*channel); err != nil {
		return nil, fmt.Errorf("%w: --channel: %w", errUsage, err)
	}
	if o.scan.Extended, err = hci.ParseExtendedMode(*extended); err != nil {
		return nil, fmt.Errorf("%w: --extended: %w", errUsage, err)
	}
	return o, nil
}

func scanCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseScanFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, o.out.logLevel)
	if err != nil {
		return err
	}
	var src source
	var name string
	var closeSrc func() error
	if o.serial != "" {
		s, err := openSerialSource(ctx, o, log)
		if err != nil {
			return err
		}
		src, name, closeSrc = s, o.serial, s.Close
	} else {
		live, err := hci.OpenLive(ctx, hci.LiveConfig{
			Adapter: o.adapter, Channel: o.channel, Logger: log, Scan: o.scan,
		})
		if err != nil {
			return fmt.Errorf("opening hci%d: %w", o.adapter, err)
		}
		src, name, closeSrc = &liveSource{Live: live}, fmt.Sprintf("hci%d", o.adapter), live.Close
	}
	// Closing stops the scan on the controller; it runs after the final
	// flush, so nothing heard is lost to it.
	defer func() {
		if err := closeSrc(); err != nil {
			log.Warn("closing the controller", "controller", name, "err", err)
		}
	}()
	return harvestFrom(ctx, src, &o.out, stdout, log, true)
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

// logScanning announces a serial scan as hci.OpenLive announces an
// adapter's, so both read the same in the logs.
func logScanning(log *slog.Logger, o *scanOptions, extended bool) {
	log.Info("scanning", "serial", o.serial, "baud", o.baud, "flow_control", o.flow,
		"extended", extended, "interval", o.scan.Interval, "window", o.scan.Window)
}
