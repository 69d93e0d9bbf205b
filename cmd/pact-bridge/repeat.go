package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/metricsserve"
	"github.com/pact-findmy/pact-findmy/internal/repeater"
	"github.com/pact-findmy/pact-findmy/pact"
)

const repeatSynopsis = `--hci N [flags]

Turns the host into a chirp repeater (docs/repeater.md, spec §9.1), for a
surface many people touch such as a checkout counter: it listens on adapter
hciN for PACT chirps and Find My keys and broadcasts each again, inside a
repeated PACT frame from a fresh random address, --repeats times, --every
apart, starting --delay after it first heard it. Find My keys go out only
inside PACT frames, never as Apple frames. It needs no network, writes
nothing to disk and holds no seed; what it heard is gone when it stops.

  --hci N     adapter hciN, extended scanning and advertising on its one
              controller (CAP_NET_ADMIN and CAP_NET_RAW, docs/deploy.md)
  --metrics   Prometheus counters, drops included, on a loopback address`

func runRepeat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pact-bridge repeat", repeatSynopsis, stdout, stderr)
	var lf cli.LogFlags
	lf.Register(fs.FlagSet)
	adapter := fs.String("hci", "", "adapter number N of hciN (required)")
	channel := fs.String("channel", "auto", "HCI channel user (exclusive), raw (shared with the kernel) or auto")
	delay := fs.Duration("delay", repeater.DefaultDelay, "time from first hearing a chirp or key to its first rebroadcast")
	every := fs.Duration("every", repeater.DefaultEvery, "time between rebroadcasts")
	repeats := fs.Int("repeats", repeater.DefaultRepeats, fmt.Sprintf("rebroadcasts of each chirp or key, 1..%d; delay + repeats·every at most %d minutes", repeater.MaxRepeats, pact.MaxRepeatDelay-1))
	dwell := fs.Duration("dwell", repeater.DefaultDwell, "time each rebroadcast stays on the air: every/dwell frames share an --every (the airtime cap)")
	maxHeld := fs.Int("max-held", repeater.DefaultMaxHeld, "chirps and keys held at once (the memory cap); more are dropped and counted")
	advInterval := fs.Duration("adv-interval", 0, "advertising interval of the repeated frames (0: the controller default)")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this loopback address, e.g. 127.0.0.1:9478")
	statsEvery := fs.Duration("stats-interval", time.Minute, "how often to log the counters; 0 for never")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	radio := repeater.Radio{AdvertisingInterval: *advInterval}
	var err error
	if *adapter == "" {
		return cli.Required("hci")
	}
	if radio.Adapter, err = strconv.Atoi(*adapter); err != nil || radio.Adapter < 0 {
		return cli.FlagErrorf("hci", *adapter, "want an adapter number")
	}
	if radio.Channel, err = hci.ParseChannel(*channel); err != nil {
		return cli.FlagErrorf("channel", *channel, "%w", err)
	}
	if *statsEvery < 0 {
		return cli.FlagErrorf("stats-interval", *statsEvery, "want 0 or more")
	}
	log := lf.Logger(stderr)
	r, err := repeater.New(repeater.Config{Delay: *delay, Every: *every, Repeats: *repeats, Dwell: *dwell, MaxHeld: *maxHeld, Logger: log})
	if err != nil {
		var ce *repeater.ConfigError
		if errors.As(err, &ce) {
			return cli.FlagErrorf(ce.Setting, ce.Value, "%w", err)
		}
		return err
	}
	if *metrics != "" {
		stop, err := serveRepeaterMetrics(*metrics, r, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return r.RunLive(ctx, radio, *statsEvery, log)
}

// serveRepeaterMetrics serves the repeater's counters on addr, which must
// be a loopback address, and returns a function that stops the server.
func serveRepeaterMetrics(addr string, r *repeater.Repeater, log *slog.Logger) (func(), error) {
	ln, err := metricsserve.Listen(addr)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := r.Register(reg); err != nil {
		ln.Close()
		return nil, err
	}
	return metricsserve.Serve(ln, reg, log), nil
}
