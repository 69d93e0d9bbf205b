package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
)

const scanSynopsis = `--hci N | --serial PATH [flags]

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
func parseScanFlags(args []string, stdout, stderr io.Writer) (*scanOptions, error) {
	fs := newFlagSet("scan", scanSynopsis, stdout, stderr)
	o := &scanOptions{}
	o.out.register(fs.FlagSet)
	fs.IntVar(&o.adapter, "hci", -1, "adapter number N of hciN (this or --serial is required)")
	channel := fs.String("channel", "auto", "with --hci: HCI channel user (exclusive), raw (shared with the kernel) or auto")
	fs.StringVar(&o.serial, "serial", "", "tty of an H4 (HCI UART) controller, e.g. /dev/ttyUSB0 (this or --hci is required)")
	fs.IntVar(&o.baud, "baud", defaultBaud, fmt.Sprintf("with --serial: line rate in bits per second, 1..%d", maxBaud))
	fs.BoolVar(&o.flow, "flow-control", false, "with --serial: RTS/CTS hardware flow control (most HCI UARTs want it)")
	fs.DurationVar(&o.scan.Interval, "interval", 100*time.Millisecond, "scan interval")
	fs.DurationVar(&o.scan.Window, "window", 0, "scan window, at most the interval; 0 means the whole interval")
	extended := fs.String("extended", "auto", "extended scanning: auto, on or off")
	if err := fs.ParseNoArgs(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["hci"] && set["serial"]:
		return nil, cli.Usagef("%w: --hci and --serial are mutually exclusive: one controller per process", errControllerChoice)
	case !set["hci"] && !set["serial"]:
		fs.Usage()
		return nil, cli.Usagef("%w: --hci N is required, or --serial PATH for an HCI UART controller", errControllerChoice)
	case set["hci"] && o.adapter < 0:
		return nil, cli.FlagErrorf("hci", o.adapter, "want an adapter number, 0 or more")
	case set["serial"] && o.serial == "":
		return nil, cli.FlagErrorf("serial", o.serial, "empty path, want a tty such as /dev/ttyUSB0")
	case set["serial"] && set["channel"]:
		return nil, cli.FlagErrorf("channel", *channel, "%w: a serial controller has no kernel to share it with", errHCIOnly)
	case set["hci"] && set["baud"]:
		return nil, cli.FlagErrorf("baud", o.baud, "%w", errSerialOnly)
	case set["hci"] && set["flow-control"]:
		return nil, cli.FlagErrorf("flow-control", o.flow, "%w", errSerialOnly)
	case o.baud < 1 || o.baud > maxBaud:
		return nil, cli.FlagErrorf("baud", o.baud, "want 1..%d bits per second", maxBaud)
	}
	if err := o.out.check(); err != nil {
		return nil, err
	}
	if o.scan.Window == 0 {
		o.scan.Window = o.scan.Interval
	}
	// The interval alone first, so that the error names the flag at fault.
	if err := (hci.ScanConfig{Interval: o.scan.Interval, Window: o.scan.Interval}).Check(); err != nil {
		return nil, cli.FlagErrorf("interval", o.scan.Interval, "%w", err)
	}
	if err := o.scan.Check(); err != nil {
		return nil, cli.FlagErrorf("window", o.scan.Window, "%w", err)
	}
	var err error
	if o.channel, err = hci.ParseChannel(*channel); err != nil {
		return nil, cli.FlagErrorf("channel", *channel, "%w", err)
	}
	if o.scan.Extended, err = hci.ParseExtendedMode(*extended); err != nil {
		return nil, cli.FlagErrorf("extended", *extended, "%w", err)
	}
	return o, nil
}

// Usage errors of scan that name no single flag's value.
var (
	errControllerChoice = errors.New("want one controller")
	errHCIOnly          = errors.New("applies to --hci only")
	errSerialOnly       = errors.New("applies to --serial only")
)

func scanCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseScanFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	log := o.out.log.Logger(stderr)
	var src ingest.Source
	if o.serial != "" {
		if src, err = openSerialSource(ctx, o, log); err != nil {
			return err
		}
	} else {
		live, err := hci.OpenLive(ctx, hci.LiveConfig{
			Adapter: o.adapter, Channel: o.channel, Logger: log, Scan: o.scan,
		})
		if err != nil {
			return fmt.Errorf("opening hci%d: %w", o.adapter, err)
		}
		src = ingest.LiveSource(live)
	}
	// Closing stops the scan on the controller; it runs after the final
	// flush, so nothing heard is lost to it.
	defer func() {
		if err := src.Close(); err != nil {
			log.Warn("closing the controller", "controller", src.Name(), "err", err)
		}
	}()
	return harvestFrom(ctx, src, &o.out, stdout, log, true)
}

// logScanning announces a serial scan as hci.OpenLive announces an
// adapter's, so both read the same in the logs.
func logScanning(log *slog.Logger, o *scanOptions, extended bool) {
	log.Info("scanning", "serial", o.serial, "baud", o.baud, "flow_control", o.flow,
		"extended", extended, "interval", o.scan.Interval, "window", o.scan.Window)
}
