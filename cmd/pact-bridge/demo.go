package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/demo"
)

const demoSynopsis = `[flags]

Starts a PACT node without hardware or network beyond loopback: an
exposure server on SQLite, a simulated neighbourhood of the last two hours
replayed into the node as a btsnoop capture (native PACT chirps, a carried
AirTag, separated AirTags), a diagnosed neighbour's upload with a real
permission number, and the sync and match that follow. Then it serves the
dashboard until interrupted.`

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pact-bridge demo", demoSynopsis, stdout, stderr)
	var lf cli.LogFlags
	lf.Register(fs.FlagSet)
	addr := fs.String("addr", "127.0.0.1:8080", "dashboard address (loopback)")
	dir := fs.String("data", "", "directory for the demo's databases and capture (default: a temporary one, removed at exit)")
	neighbours := fs.Int("neighbours", 12, "passers-by besides the diagnosed neighbour")
	seed := fs.Uint64("seed", 1, "seed of the neighbourhood's movements and radio noise")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	if *neighbours < 0 || *neighbours > 1000 {
		return cli.FlagErrorf("neighbours", *neighbours, "want 0..1000")
	}
	log := lf.Logger(stderr)
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "pact-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	began := time.Now()
	d, err := demo.Start(ctx, demo.Options{Dir: *dir, Neighbours: *neighbours, Seed: *seed, Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	defer d.Close()
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(stdout, `PACT demo: %d advertising reports from the last two hours replayed into the node (%s).
A neighbour was diagnosed and uploaded %d seed-hours and %d keys of the AirTag they carried.
Dashboard: %s
  Overview shows "exposed" once the upload's batch is cut, at the next minute.
  Exposures shows the match through native PACT chirps and through the AirTag's keys (partial, prefix evidence).
  Contact log and Harvester show what the node heard. Share walks through a diagnosis of your own.
Press Ctrl-C to stop.
`, d.Reports, d.Capture, len(d.Diagnosed.Hours), d.Diagnosed.FindMyKeys, url)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- d.Node.ServeDashboard(ctx, ln, *addr, "") }()
	if err := d.Wait(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	if ctx.Err() == nil {
		fmt.Fprintf(stdout, "Synced %v after start: the node now reports the exposure.\n", time.Since(began).Round(time.Second))
		go d.Node.RunLoops(ctx)
	}
	<-ctx.Done()
	return <-served
}
