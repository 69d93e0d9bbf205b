// Package sim runs a population of virtual PACT devices through simulated
// days in one process: each device keeps a real seed log and contact log,
// chirps every minute, hears the chirps of devices near it through a radio
// model, and one diagnosed device uploads its bundle to an exposure set
// that every other device matches against its contact log.
//
// The exposure set is an interface so that a real exposure server can take
// the in-process one's place.
package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// Config sets up a simulation. The zero value of a field selects its
// default.
type Config struct {
	// Devices is the population size (default 24).
	Devices int
	// Start is the first simulated minute (default: midnight UTC at the
	// start of yesterday, so that the simulated day has passed). Hours is
	// how long the simulation runs (default 24).
	Start time.Time
	Hours int
	// Diagnosed is the index of the device that tests positive and uploads.
	Diagnosed int
	// RandSeed makes movement and radio noise repeatable; chirp seeds
	// always come from crypto/rand, as on a real device.
	RandSeed uint64
	// ChirpsPerMinute is how many times a device broadcasts its chirp in a
	// minute (default 15, one every 4 s).
	ChirpsPerMinute int
	// Radio is the propagation model (default DefaultRadio).
	Radio Radio
	// CloseRange is the distance, in metres, that the ground truth counts
	// as close contact (default 2).
	CloseRange float64
}

func (c *Config) setDefaults() {
	if c.Devices == 0 {
		c.Devices = 24
	}
	if c.Start.IsZero() {
		c.Start = time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	}
	if c.Hours == 0 {
		c.Hours = 24
	}
	if c.ChirpsPerMinute == 0 {
		c.ChirpsPerMinute = 15
	}
	if c.Radio == (Radio{}) {
		c.Radio = DefaultRadio
	}
	if c.CloseRange == 0 {
		c.CloseRange = 2
	}
}

// ErrConfig is wrapped by every *ConfigError.
var ErrConfig = errors.New("sim: configuration out of range")

// ConfigError is a Config that Run refuses: the field at fault, its value
// and the range it must be in.
type ConfigError struct {
	Field string // the Config field, e.g. "Hours"
	Value int
	Want  string // the values allowed, e.g. "1..504"
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("sim: %s %d: must be %s", e.Field, e.Value, e.Want)
}

func (e *ConfigError) Unwrap() error { return ErrConfig }

func (c *Config) validate() error {
	switch {
	case c.Devices < 2:
		return &ConfigError{"Devices", c.Devices, "at least 2"}
	case c.Diagnosed < 0 || c.Diagnosed >= c.Devices:
		return &ConfigError{"Diagnosed", c.Diagnosed, fmt.Sprintf("one of the %d devices, 0..%d", c.Devices, c.Devices-1)}
	case c.Hours < 1 || c.Hours > 24*pact.DefaultBundleDays:
		return &ConfigError{"Hours", c.Hours, fmt.Sprintf("1..%d", 24*pact.DefaultBundleDays)}
	case c.ChirpsPerMinute < 1 || c.ChirpsPerMinute > 600:
		return &ConfigError{"ChirpsPerMinute", c.ChirpsPerMinute, "1..600"}
	}
	return nil
}

// Radio is a log-distance path loss model with Gaussian shadowing, the
// usual first approximation for BLE between phones.
type Radio struct {
	// TxPowerAt1m is the RSSI at one metre, in dBm.
	TxPowerAt1m float64
	// PathLossExponent is 2 in free space, 2-3 indoors.
	PathLossExponent float64
	// ShadowingSigma is the standard deviation of the noise, in dB.
	ShadowingSigma float64
	// Sensitivity is the weakest RSSI a receiver decodes, in dBm.
	Sensitivity float64
	// LossProbability is the chance that one broadcast is missed anyway.
	LossProbability float64
}

// DefaultRadio models phones indoors.
var DefaultRadio = Radio{TxPowerAt1m: -59, PathLossExponent: 2.2, ShadowingSigma: 4, Sensitivity: -95, LossProbability: 0.3}

// hear returns the strongest RSSI among n broadcasts at distance d, and
// whether any was received.
func (r Radio) hear(rng *rand.Rand, d float64, n int) (int8, bool) {
	mean := r.TxPowerAt1m - 10*r.PathLossExponent*math.Log10(math.Max(d, 0.1))
	if mean+3*r.ShadowingSigma < r.Sensitivity {
		return 0, false
	}
	best, heard := math.Inf(-1), false
	for range n {
		if rng.Float64() < r.LossProbability {
			continue
		}
		rssi := mean + rng.NormFloat64()*r.ShadowingSigma
		if rssi >= r.Sensitivity && rssi > best {
			best, heard = rssi, true
		}
	}
	return int8(math.Max(math.Min(math.Round(best), 20), -127)), heard
}

// ExposureSet is where a diagnosed device's tuples go and where every
// other device reads them from. The in-process Exposures is one; a client
// of the exposure server is another.
type ExposureSet interface {
	Upload(ctx context.Context, tuples []pact.Tuple) error
	Tuples(ctx context.Context) iter.Seq2[pact.Tuple, error]
}

// Exposures is an in-process ExposureSet.
type Exposures struct{ tuples []pact.Tuple }

// Upload implements ExposureSet.
func (e *Exposures) Upload(_ context.Context, ts []pact.Tuple) error {
	e.tuples = append(e.tuples, ts...)
	return nil
}

// Tuples implements ExposureSet.
func (e *Exposures) Tuples(context.Context) iter.Seq2[pact.Tuple, error] {
	return pact.TupleSeq(e.tuples)
}

// Device is one simulated device.
type Device struct {
	ID       int
	Seeds    *pact.SeedLog
	Contacts *pact.ContactLog
	store    *pact.MemStore
	home     point
	work     int
	shop     int
	// leaves, in minutes after midnight, staggers daily routines.
	leaves int
}

// Outcome is what one device learns, next to what really happened.
type Outcome struct {
	Device int
	// Report is the device's own match result.
	Report pact.MatchReport
	// TrueCloseMinutes is how many minutes the device really spent within
	// CloseRange of the diagnosed device; TrueHeardMinutes is how many it
	// heard at least one of its chirps.
	TrueCloseMinutes int
	TrueHeardMinutes int
	// MinDistance is the closest the two came, in metres.
	MinDistance float64
}

// Result is the outcome of a whole simulation.
type Result struct {
	Config    Config
	Uploaded  int
	Sightings int
	Outcomes  []Outcome
}

// Progress, when set, is called after each simulated hour.
type Progress func(hour, hours int)

// Run simulates cfg and returns every device's outcome.
func Run(ctx context.Context, cfg Config, exposures ExposureSet, progress Progress) (*Result, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.RandSeed, 0x5041_4354))
	clock := &pact.ManualClock{}
	town := newTown(rng, cfg.Devices)
	devices := make([]*Device, cfg.Devices)
	for i := range devices {
		store := pact.NewMemStore()
		devices[i] = &Device{
			ID:       i,
			store:    store,
			Seeds:    pact.NewSeedLog(store, pact.SeedLogOptions{Clock: clock}),
			Contacts: pact.NewContactLog(store, pact.ContactLogOptions{Clock: clock}),
			home:     town.homes[i],
			work:     rng.IntN(len(town.workplaces)),
			shop:     rng.IntN(len(town.shops)),
			leaves:   7*60 + rng.IntN(120),
		}
	}
	truth := make([]Outcome, cfg.Devices)
	for i := range truth {
		truth[i] = Outcome{Device: i, MinDistance: math.Inf(1)}
	}
	start := pact.MinuteOf(cfg.Start)
	end := start + pact.Minute(cfg.Hours*pact.MinutesPerHour)
	positions := make([]point, cfg.Devices)
	chirps := make([]pact.Chirp, cfg.Devices)
	sightings := 0
	for m := start; m < end; m++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		clock.Set(m.Time().Add(30 * time.Second))
		for i, d := range devices {
			positions[i] = town.position(rng, d, m)
			c, _, ok, err := d.Seeds.ChirpNow(ctx)
			if err != nil {
				return nil, fmt.Errorf("sim: device %d at %v: %w", i, m, err)
			}
			if !ok {
				return nil, fmt.Errorf("sim: device %d is snoozed at %v", i, m)
			}
			chirps[i] = c
		}
		for i, listener := range devices {
			var heard []pact.Sighting
			for j := range devices {
				if i == j {
					continue
				}
				dist := positions[i].distance(positions[j])
				rssi, ok := cfg.Radio.hear(rng, dist, cfg.ChirpsPerMinute)
				if j == cfg.Diagnosed {
					t := &truth[i]
					t.MinDistance = math.Min(t.MinDistance, dist)
					if dist <= cfg.CloseRange {
						t.TrueCloseMinutes++
					}
					if ok {
						t.TrueHeardMinutes++
					}
				}
				if ok {
					heard = append(heard, pact.Sighting{Chirp: chirps[j], Minute: m, RSSI: rssi, TxPower: pact.TxPowerUnknown, Source: pact.SourcePACT})
				}
			}
			n, err := listener.Contacts.Record(ctx, heard)
			if err != nil {
				return nil, fmt.Errorf("sim: device %d recording at %v: %w", i, m, err)
			}
			sightings += n
		}
		if progress != nil && (m+1-start)%pact.MinutesPerHour == 0 {
			progress(int(m+1-start)/pact.MinutesPerHour, cfg.Hours)
		}
	}

	bundle, err := devices[cfg.Diagnosed].Seeds.Bundle(ctx, pact.BundleOptions{})
	if err != nil {
		return nil, fmt.Errorf("sim: diagnosed device's bundle: %w", err)
	}
	limits := pact.LimitsAt(pact.MinuteOf(clock.Now()), pact.DefaultRetention)
	for i, t := range bundle {
		if err := t.Validate(limits); err != nil {
			return nil, fmt.Errorf("sim: bundle tuple %d: %w", i, err)
		}
	}
	if err := exposures.Upload(ctx, bundle); err != nil {
		return nil, fmt.Errorf("sim: uploading %d tuples: %w", len(bundle), err)
	}
	res := &Result{Config: cfg, Uploaded: len(bundle), Sightings: sightings}
	for i, d := range devices {
		if i == cfg.Diagnosed {
			continue
		}
		matcher, err := pact.LoadMatcher(ctx, d.store, pact.MatchOptions{})
		if err != nil {
			return nil, fmt.Errorf("sim: indexing device %d: %w", i, err)
		}
		report, err := matcher.Match(exposures.Tuples(ctx), nil)
		if err != nil {
			return nil, fmt.Errorf("sim: device %d matching: %w", i, err)
		}
		out := truth[i]
		out.Report = report
		res.Outcomes = append(res.Outcomes, out)
	}
	slices.SortStableFunc(res.Outcomes, func(a, b Outcome) int { return cmp.Compare(b.Score(), a.Score()) })
	return res, nil
}

// Score is the device's exposure score summed over all days.
func (o Outcome) Score() float64 {
	s := 0.0
	for _, d := range o.Report.Days {
		s += d.Score
	}
	return s
}

// MatchedMinutes is the device's exposure duration summed over all days.
func (o Outcome) MatchedMinutes() int {
	n := 0
	for _, d := range o.Report.Days {
		n += d.Minutes
	}
	return n
}
