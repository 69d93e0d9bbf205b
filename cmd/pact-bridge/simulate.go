package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/sim"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pact-bridge simulate", "[flags]\n\nRuns virtual devices through a simulated day in one process: hourly seeds,\nchirps heard through a path loss model, one device diagnosed and its bundle\nuploaded to an in-process exposure set, every other device matching it.", stdout, stderr)
	var lf cli.LogFlags
	lf.Register(fs.FlagSet)
	var cfg sim.Config
	start := fs.String("start", "", "first simulated minute, RFC 3339 (default: midnight UTC yesterday)")
	fs.IntVar(&cfg.Devices, "devices", 24, "number of virtual devices")
	fs.IntVar(&cfg.Hours, "hours", 24, "simulated hours")
	fs.IntVar(&cfg.Diagnosed, "diagnosed", 0, "index of the device that tests positive")
	fs.Uint64Var(&cfg.RandSeed, "rand-seed", 1, "seed for movement and radio noise (chirp seeds always come from crypto/rand)")
	fs.IntVar(&cfg.ChirpsPerMinute, "chirps-per-minute", 15, "broadcasts per device per minute")
	fs.Float64Var(&cfg.CloseRange, "close-range", 2, "distance in metres the ground truth counts as close contact")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	log := lf.Logger(stderr)
	// sim.Config reads zero as "the default", so an explicit zero would
	// silently run something other than what was asked for.
	for _, f := range []struct {
		name string
		v    float64
	}{{"devices", float64(cfg.Devices)}, {"hours", float64(cfg.Hours)}, {"chirps-per-minute", float64(cfg.ChirpsPerMinute)}, {"close-range", cfg.CloseRange}} {
		if f.v <= 0 {
			return cli.FlagErrorf(f.name, f.v, "must be positive")
		}
	}
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			return cli.FlagErrorf("start", *start, "%w", err)
		}
		cfg.Start = t
	}
	began := time.Now()
	res, err := sim.Run(ctx, cfg, &sim.Exposures{}, func(hour, hours int) {
		if hour%4 == 0 || hour == hours {
			log.Info("simulating", "hour", hour, "of", hours)
		}
	})
	if errors.Is(err, sim.ErrConfig) {
		// --devices, --hours, --diagnosed or --chirps-per-minute out of
		// the range sim.Run accepts: the command line is at fault.
		return cli.Usagef("%w", err)
	}
	if err != nil {
		return err
	}
	log.Info("simulation done", "elapsed", time.Since(began).Round(time.Millisecond))
	return printResult(stdout, res)
}

func printResult(w io.Writer, res *sim.Result) error {
	c := res.Config
	fmt.Fprintf(w, "Simulated %d devices for %d hours from %s; device %d was diagnosed and uploaded %d tuples.\n",
		c.Devices, c.Hours, c.Start.UTC().Format(time.RFC3339), c.Diagnosed, res.Uploaded)
	fmt.Fprintf(w, "Contact logs hold %d sightings in all.\n\n", res.Sightings)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "device\texposed\tmatched min\tcontacts\tmax RSSI\tmean RSSI\tscore\t|\ttrue heard min\ttrue close min\tclosest m\t")
	exposed := 0
	for _, o := range res.Outcomes {
		var contacts, samples int
		maxRSSI, sum := int8(-128), 0.0
		for _, d := range o.Report.Days {
			contacts += d.Contacts
			if d.RSSISamples > 0 {
				maxRSSI = max(maxRSSI, d.MaxRSSI)
				sum += d.MeanRSSI * float64(d.RSSISamples)
				samples += d.RSSISamples
			}
		}
		mark, maxS, meanS := "no", "-", "-"
		if o.MatchedMinutes() > 0 {
			mark = "YES"
			exposed++
		}
		if samples > 0 {
			maxS, meanS = fmt.Sprint(maxRSSI), fmt.Sprintf("%.1f", sum/float64(samples))
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%.2f\t|\t%d\t%d\t%.1f\t\n", o.Device, mark, o.MatchedMinutes(), contacts, maxS, meanS, o.Score(), o.TrueHeardMinutes, o.TrueCloseMinutes, o.MinDistance)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d of %d devices were told they were exposed. \"matched min\" is what each device learned\n", exposed, len(res.Outcomes))
	fmt.Fprintln(w, "from the upload; \"true heard min\" is how many minutes it really heard the diagnosed device.")
	return nil
}
