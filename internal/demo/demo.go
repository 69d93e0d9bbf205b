package demo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/pact-findmy/pact-findmy/capture"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/exposuresync"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
	"github.com/pact-findmy/pact-findmy/internal/node"
	"github.com/pact-findmy/pact-findmy/internal/share"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Region is the region the demo's diagnosis is published in.
const Region = "DEMO"

// Options configure a demo run.
type Options struct {
	// Dir holds the exposure server's data, the node's device database,
	// the diagnosed neighbour's device database and the capture.
	Dir string
	// Neighbours is how many people besides the diagnosed one pass by.
	Neighbours int
	// Seed repeats the neighbourhood's movements and radio noise.
	Seed   uint64
	Logger *slog.Logger
}

// Demo is a running demonstration: an embedded exposure server, the node,
// and what happened around it.
type Demo struct {
	Node      *node.Node
	ServerURL string
	Capture   string
	Reports   int
	// Diagnosed is the share the diagnosed neighbour made.
	Diagnosed share.Result
	// DiagnosedHeard is the ground truth: the minutes in which the node
	// heard the diagnosed neighbour's chirps.
	DiagnosedHeard map[pact.Minute]bool

	exposure *ExposureServer
	alex     *devicedb.DB
	log      *slog.Logger
}

// Start builds the neighbourhood of the last two hours, replays it into a
// fresh node through the capture path, starts an exposure server on
// loopback and has the diagnosed neighbour upload through it with a real
// permission number, including the keys of the AirTag they carried.
// Wait then makes the node sync once the upload's batch is cut.
func Start(ctx context.Context, o Options) (*Demo, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Neighbours == 0 {
		o.Neighbours = 12
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d := &Demo{log: o.Logger}
	es, err := StartExposureServer(ctx, filepath.Join(o.Dir, "server"), o.Logger)
	if err != nil {
		return nil, err
	}
	d.exposure, d.ServerURL = es, es.URL
	n, err := node.Open(ctx, node.Config{
		DataDir: filepath.Join(o.Dir, "node"), Region: Region, Logger: o.Logger,
		Servers: []exposuresync.Server{es.Server("demo")},
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	d.Node = n

	now := time.Now().UTC()
	hood, alex, tag, err := d.neighbourhood(o, now)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.Capture = filepath.Join(o.Dir, "neighbourhood.btsnoop")
	if d.Reports, err = writeCapture(ctx, hood, d.Capture); err != nil {
		d.Close()
		return nil, err
	}
	d.DiagnosedHeard = alex.HeardChirps
	c, err := capture.OpenCapture(d.Capture)
	if err != nil {
		d.Close()
		return nil, err
	}
	err = n.Listen(ctx, ingest.CaptureSource(c), false)
	c.Close()
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("demo: replaying %s: %w", d.Capture, err)
	}
	o.Logger.Info("replayed the neighbourhood", "capture", d.Capture, "reports", d.Reports)

	if err := d.diagnose(ctx, alex, tag, now); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// neighbourhood places the diagnosed neighbour (a phone and a carried
// AirTag at a café table for 32 minutes), passers-by with phones, and two
// strangers' separated AirTags around the node over the last two hours.
func (d *Demo) neighbourhood(o Options, now time.Time) (*Neighbourhood, *Neighbour, *Accessory, error) {
	const span = 120
	start := now.Truncate(time.Minute).Add(-span * time.Minute)
	rng := mrand.New(mrand.NewPCG(o.Seed, 0x64656d6f))
	hood := &Neighbourhood{Start: start, Minutes: span, ReportsPerMinute: 4, Radio: IndoorRadio, Rand: rng}

	alexDB, err := devicedb.Open(filepath.Join(o.Dir, "diagnosed.db"))
	if err != nil {
		return nil, nil, nil, err
	}
	d.alex = alexDB
	// The AirTag was paired a day ago; near its owner it sends the short
	// form, whose prefix is all a listener logs.
	tag, err := NewAccessory(start.Add(-24*time.Hour), true)
	if err != nil {
		return nil, nil, nil, err
	}
	clock := &pact.ManualClock{}
	alex := &Neighbour{
		Name: "diagnosed neighbour", Clock: clock, Accessory: tag,
		Seeds: pact.NewSeedLog(alexDB, pact.SeedLogOptions{Clock: clock}),
		Where: Between(40, 72, 1.2),
	}
	hood.Neighbours = append(hood.Neighbours, alex)
	for i := range o.Neighbours {
		c := &pact.ManualClock{}
		from := rng.IntN(span - 10)
		hood.Neighbours = append(hood.Neighbours, &Neighbour{
			Name: fmt.Sprintf("passer-by %d", i+1), Clock: c,
			Seeds: pact.NewSeedLog(pact.NewMemStore(), pact.SeedLogOptions{Clock: c}),
			Where: Between(from, from+5+rng.IntN(30), 2+rng.Float64()*10),
		})
	}
	for i := range 2 {
		lost, err := NewAccessory(start.Add(-72*time.Hour), false)
		if err != nil {
			return nil, nil, nil, err
		}
		hood.Neighbours = append(hood.Neighbours, &Neighbour{
			Name: fmt.Sprintf("separated AirTag %d", i+1), Accessory: lost, Where: Between(0, span, 6+4*float64(i)),
		})
	}
	return hood, alex, tag, nil
}

func writeCapture(ctx context.Context, hood *Neighbourhood, path string) (int, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("demo: %w", err)
	}
	defer f.Close()
	w, err := capture.NewBtsnoopWriter(f, capture.BtsnoopH4)
	if err != nil {
		return 0, err
	}
	n, err := hood.Write(ctx, w)
	if err != nil {
		return n, err
	}
	if err := w.Flush(); err != nil {
		return n, fmt.Errorf("demo: writing %s: %w", path, err)
	}
	return n, f.Close()
}

// diagnose has the diagnosed neighbour share their seeds and their
// AirTag's keys through the real share flow and upload.
func (d *Demo) diagnose(ctx context.Context, alex *Neighbour, tag *Accessory, now time.Time) error {
	clock := &pact.ManualClock{}
	clock.Set(now)
	svc, err := share.New(share.Config{DB: d.alex, Servers: []share.Server{{Name: "demo", URL: d.ServerURL}}, Clock: clock, Logger: d.log})
	if err != nil {
		return err
	}
	number, err := d.exposure.IssueNumber(ctx)
	if err != nil {
		return err
	}
	res, err := svc.Submit(ctx, share.Request{
		PermissionNumber: number, Region: Region,
		FindMy: []share.FindMyDevice{{
			Name: "AirTag", Secret: hex.EncodeToString(tag.Secret[:]),
			PrivateKey: hex.EncodeToString(tag.Private.Bytes()), Epoch: tag.Epoch,
		}},
	})
	d.Diagnosed = res
	if err != nil {
		return fmt.Errorf("demo: the diagnosed neighbour's upload: %w", err)
	}
	d.log.Info("the diagnosed neighbour uploaded", "seed_hours", len(res.Hours), "findmy_keys", res.FindMyKeys)
	return nil
}

// Wait cuts the batch holding the upload as soon as its one-minute period
// has closed, and syncs the node, until the node reports the exposure or
// ctx is done.
func (d *Demo) Wait(ctx context.Context) error {
	for {
		now := time.Now()
		next := now.Truncate(time.Minute).Add(time.Minute + 100*time.Millisecond)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(next.Sub(now)):
		}
		if err := d.exposure.Cut(ctx); err != nil {
			return err
		}
		rep, err := d.Node.SyncNow(ctx)
		if err != nil {
			return fmt.Errorf("demo: syncing: %w", err)
		}
		if len(rep.Applied) > 0 {
			return nil
		}
	}
}

// Close stops the exposure server and closes the databases.
func (d *Demo) Close() error {
	var errs []error
	if d.exposure != nil {
		errs = append(errs, d.exposure.Close())
	}
	if d.Node != nil {
		errs = append(errs, d.Node.Close())
	}
	if d.alex != nil {
		errs = append(errs, d.alex.Close())
	}
	return errors.Join(errs...)
}
