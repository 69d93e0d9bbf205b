package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pact-findmy/pact-findmy/capture"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
)

// eventWriter is what the btsnoop and pcap writers have in common.
type eventWriter interface {
	Flush() error
}

func synthCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("synth", "--count N --out FILE [flags]\n\nWrites a capture of N advertising reports from a simulated crowd: Find My\naccessories (full and short frames, keys rotating every 15 minutes), PACT\nphones, other Apple frames, other vendors, scan responses and a little\ncorruption. The same flags give the same file.", stdout, stderr)
	count := fs.Int("count", 1_000_000, "number of advertising reports")
	out := fs.String("out", "", "capture file to write (required)")
	format := fs.String("format", "", "btsnoop or pcap; default from the file name (.pcap means pcap, else btsnoop)")
	seed := fs.Uint64("seed", 1, "random seed")
	startFlag := fs.String("start", "2026-03-01T12:00:00Z", "RFC 3339 time of the first report")
	gap := fs.Duration("gap", 2*time.Millisecond, "mean time between reports")
	findMyDevices := fs.Int("findmy-devices", 300, "simulated Find My accessories")
	pactDevices := fs.Int("pact-devices", 100, "simulated PACT phones")
	extendedShare := fs.Int("extended", 10, "percentage of reports sent as LE Extended Advertising Reports")
	crowdKeys := fs.Int("crowd-keys", 0, "instead of the mix: only full-form Find My reports, --gap apart, cycling through this many random keys (about half off the curve)")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	switch {
	case *out == "":
		fs.Usage()
		return cli.Required("out")
	case *count < 0:
		return cli.FlagErrorf("count", *count, "want 0 or more")
	case *extendedShare < 0 || *extendedShare > 100:
		return cli.FlagErrorf("extended", *extendedShare, "want a percentage, 0..100")
	case *gap <= 0:
		return cli.FlagErrorf("gap", *gap, "want a positive duration")
	case *crowdKeys < 0:
		return cli.FlagErrorf("crowd-keys", *crowdKeys, "want 0 or more")
	}
	start, err := time.Parse(time.RFC3339, *startFlag)
	if err != nil {
		return cli.FlagErrorf("start", *startFlag, "%w", err)
	}
	if *format == "" {
		*format = "btsnoop"
		if strings.EqualFold(filepath.Ext(*out), ".pcap") {
			*format = "pcap"
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("creating %s: %w", *out, err)
	}
	defer f.Close()
	var (
		w     eventWriter
		write func(time.Time, []byte) error
	)
	switch *format {
	case "btsnoop":
		bw, err := capture.NewBtsnoopWriter(f, capture.BtsnoopH4)
		if err != nil {
			return err
		}
		w, write = bw, bw.WriteEvent
	case "pcap":
		pw, err := capture.NewPcapWriter(f, capture.LinkTypeBluetoothHCIH4WithPHDR, false)
		if err != nil {
			return err
		}
		w, write = pw, pw.WriteH4Event
	default:
		return cli.FlagErrorf("format", *format, "want btsnoop or pcap")
	}
	var s interface{ Next(*hci.AdvReport) } = harvest.NewSynthesizer(*seed, start, *gap, harvest.DefaultMix, *findMyDevices, *pactDevices)
	if *crowdKeys > 0 {
		s = harvest.NewCrowdSynthesizer(*seed, start, *gap, *crowdKeys)
	}
	var r hci.AdvReport
	var ev []byte
	for i := 0; i < *count; i++ {
		s.Next(&r)
		// Spread extended reports evenly and deterministically.
		if (i**extendedShare)%100 < *extendedShare {
			if et, ok := hci.LegacyExtEventType(r.Type); ok {
				r.EventType = et
			}
			ev, err = hci.AppendLEExtendedAdvertisingReport(ev[:0], r)
		} else {
			ev, err = hci.AppendLEAdvertisingReport(ev[:0], r)
		}
		if err != nil {
			return fmt.Errorf("report %d: %w", i, err)
		}
		if err := write(r.Time, ev); err != nil {
			return fmt.Errorf("writing %s: %w", *out, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	fmt.Fprintf(stderr, "wrote %d reports to %s (%s)\n", *count, *out, *format)
	return nil
}
