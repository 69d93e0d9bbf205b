package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/sim"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pact-bridge simulate", "[flags]\n\nRuns virtual devices through a simulated day in one process: hourly seeds,\nchirps heard through a path loss model, one device diagnosed and its bundle\nuploaded to an in-process exposure set, every other device matching it.\n\nWith --days, simulates a city instead (docs/simulation.md): households,\nworkplaces, schools, transit and shops, diagnoses uploaded to a real\nexposure server on loopback, batches downloaded and matched by a sample\nof observer devices, precision and recall against ground truth.", stdout, stderr)
	var lf cli.LogFlags
	lf.Register(fs.FlagSet)
	var cfg sim.Config
	start := fs.String("start", "", "first simulated minute, RFC 3339 (default: midnight UTC yesterday)")
	fs.IntVar(&cfg.Devices, "devices", 24, "number of virtual devices")
	fs.IntVar(&cfg.Hours, "hours", 24, "simulated hours")
	fs.IntVar(&cfg.Diagnosed, "diagnosed", 0, "index of the device that tests positive")
	fs.Uint64Var(&cfg.RandSeed, "rand-seed", 1, "seed for movement and radio noise (chirp seeds always come from crypto/rand)")
	city := sim.DefaultCityConfig()
	days := fs.Int("days", 0, "simulate a city for this many days (1..60) instead of the town run")
	seed := fs.Uint64("seed", 0, "city: seed of everything in the run, chirp seeds included (default: --rand-seed)")
	fs.IntVar(&city.Observers, "observers", 0, "city: native devices that keep a contact log and match (0: all)")
	fs.Float64Var(&city.CarrierShare, "carriers", city.CarrierShare, "city: share of people seen through Find My frames")
	fs.Float64Var(&city.DiagnosisRate, "diagnosis-rate", city.DiagnosisRate, "city: chance a person is diagnosed on a day")
	fs.Float64Var(&city.ConsentRate, "consent", city.ConsentRate, "city: share of the diagnosed who upload")
	fs.Float64Var(&city.RedactionRate, "redaction", city.RedactionRate, "city: share of the hours of an upload withheld")
	fs.IntVar(&city.RegionSize, "region-size", city.RegionSize, "city: people per region")
	fs.DurationVar(&city.SyncInterval, "sync-interval", city.SyncInterval, "city: how often a device fetches batches")
	fs.DurationVar(&city.UploadDelay, "upload-delay", city.UploadDelay, "city: mean time from diagnosis to upload")
	fs.IntVar(&city.UploadDays, "upload-days", city.UploadDays, "city: days of history an upload covers")
	period := fs.Duration("period", time.Duration(city.PeriodMinutes)*time.Minute, "city: the exposure server's batch period")
	fs.IntVar(&city.NotifyRSSI, "notify-rssi", city.NotifyRSSI, "city: RSSI at or above which a matched minute counts")
	fs.IntVar(&city.NotifyMinutes, "notify-minutes", city.NotifyMinutes, "city: matched minutes in a day that notify")
	fs.IntVar(&city.Workers, "workers", 0, "city: goroutines simulating observers (0: GOMAXPROCS)")
	fs.StringVar(&city.Dir, "server-dir", "", "city: keep the exposure server's database here (default: a temporary directory)")
	asJSON := fs.Bool("json", false, "city: write the report as JSON")
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
	if *days > 0 {
		city.Days, city.Devices, city.Seed, city.CloseRange = *days, cfg.Devices, *seed, cfg.CloseRange
		if city.Seed == 0 {
			city.Seed = cfg.RandSeed
		}
		if *start != "" {
			city.Start = cfg.Start
		}
		if *period < time.Minute || *period%time.Minute != 0 {
			return cli.FlagErrorf("period", *period, "want whole minutes")
		}
		city.PeriodMinutes = uint32(*period / time.Minute)
		city.Log = log
		return runCity(ctx, city, *asJSON, stdout)
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

func runCity(ctx context.Context, cfg sim.CityConfig, asJSON bool, stdout io.Writer) error {
	rep, err := sim.RunCity(ctx, cfg)
	if errors.Is(err, sim.ErrConfig) {
		return cli.Usagef("%w", err)
	}
	if err != nil {
		return err
	}
	cfg.Log.Info("city simulation done", "elapsed", rep.Elapsed)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(stdout)
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
