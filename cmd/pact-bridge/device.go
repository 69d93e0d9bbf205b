package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// runMatch matches an exposure file against the device's contact log and
// stores what it finds.
func runMatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pact-bridge match", "--tuples FILE [flags]\n\nMatches exposure tuples against the device's contact log (spec §8), stores\nthe contacts found, and prints the exposure summary per day.", stdout, stderr)
	var lf cli.LogFlags
	lf.Register(fs.FlagSet)
	dbPath := fs.String("db", "pact-device.db", "device database (SQLite)")
	tuplesPath := fs.String("tuples", "", "exposure tuples: a JSON array, an upload body, or a PCT1 binary list; - for stdin (required)")
	tolerance := fs.Uint("tolerance", uint(pact.DefaultMatchTolerance), "minutes either side of a chirp's minute it may have been heard")
	days := fs.Int("days", pact.DefaultBundleDays, "how many days of the contact log to search")
	format := fs.String("format", "text", "output: text or json")
	rxCorrection := fs.Int("rx-correction", 0, "receiver calibration in dB, added to every RSSI before the exposure score (docs/matching.md §8.4)")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	score := pact.ScoreOptions{RxCorrection: *rxCorrection}
	if err := score.Validate(); err != nil {
		return cli.FlagErrorf("rx-correction", *rxCorrection, "want %d..%d dB", -pact.MaxRxCorrection, pact.MaxRxCorrection)
	}
	if *tuplesPath == "" {
		fs.Usage()
		return cli.Required("tuples")
	}
	if *format != "text" && *format != "json" {
		return cli.FlagErrorf("format", *format, "want text or json")
	}
	// Checked before the conversion to pact.Minute, which would wrap.
	if *tolerance > uint(pact.MaxMatchTolerance) {
		return cli.FlagErrorf("tolerance", *tolerance, "want 0..%d minutes", pact.MaxMatchTolerance)
	}
	if *days < 1 || *days > pact.DefaultRetention/pact.MinutesPerDay {
		return cli.FlagErrorf("days", *days, "want 1..%d", pact.DefaultRetention/pact.MinutesPerDay)
	}
	log := lf.Logger(stderr)
	raw, err := readTupleFile(*tuplesPath)
	if err != nil {
		return err
	}
	tuples, err := pact.ParseTupleFile(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", *tuplesPath, err)
	}
	// The JSON forms carry no count; the binary one is checked on decoding.
	if len(tuples) > pact.MaxTuplesPerList {
		return fmt.Errorf("%s: %d tuples exceed the limit %d: %w", *tuplesPath, len(tuples), pact.MaxTuplesPerList, pact.ErrTooManyTuples)
	}
	now := pact.MinuteOf(time.Now())
	limits := pact.LimitsAt(now, pact.DefaultRetention)
	limits.Skew = 5
	valid := tuples[:0]
	for i, t := range tuples {
		if err := t.Validate(limits); err != nil {
			log.Warn("skipping an invalid exposure tuple", "index", i, "err", err)
			continue
		}
		valid = append(valid, t)
	}
	db, err := openDevice(ctx, *dbPath, log)
	if err != nil {
		return err
	}
	defer db.Close()
	opts := pact.MatchOptions{Tolerance: pact.Minute(*tolerance), To: now}
	if *tolerance == 0 {
		opts = pact.MatchOptions{ExactMinute: true, To: now}
	}
	opts.From = now - pact.Minute(*days*pact.MinutesPerDay)
	opts.Score = score
	matcher, err := pact.LoadMatcher(ctx, db, opts)
	if err != nil {
		return err
	}
	var found []pact.Contact
	report, err := matcher.Match(pact.TupleSeq(valid), func(c pact.Contact) error { found = append(found, c); return nil })
	if err != nil {
		return err
	}
	added, err := db.AddContacts(ctx, found)
	if err != nil {
		return err
	}
	log.Info("matched", "tuples", len(valid), "skipped", len(tuples)-len(valid), "sightings_indexed", matcher.Sightings(),
		"keys_derived", report.Stats.KeysDerived, "chirps_computed", report.Stats.ChirpsComputed, "contacts", len(found), "new_contacts", added)
	summaries, err := db.DaySummaries(ctx, 0, now, score)
	if err != nil {
		return err
	}
	indirect, err := db.IndirectDaySummaries(ctx, 0, now, score)
	if err != nil {
		return err
	}
	return printSummaries(stdout, *format, summaries, indirect)
}

// printSummaries prints the days of direct contacts and, apart, those of
// indirect ones, heard from a repeater (spec §9.1.3): in JSON as entries
// with "indirect": true after the direct ones, in text as a second table.
func printSummaries(w io.Writer, format string, days, indirect []pact.DaySummary) error {
	if format == "json" {
		type day struct {
			Indirect    bool     `json:"indirect,omitempty"`
			Date        string   `json:"date"`
			Minutes     int      `json:"matched_minutes"`
			Contacts    int      `json:"contacts"`
			Sightings   int      `json:"sightings"`
			MaxRSSI     *int8    `json:"max_rssi"`
			MeanRSSI    *float64 `json:"mean_rssi"`
			ExposureSum float64  `json:"score"`
			Peak24h     float64  `json:"peak_24h"`
		}
		out := make([]day, 0, len(days)+len(indirect))
		for i, d := range slices.Concat(days, indirect) {
			e := day{Indirect: i >= len(days), Date: d.Date().Format("2006-01-02"), Minutes: d.Minutes, Contacts: d.Contacts, Sightings: d.Sightings, ExposureSum: d.Score, Peak24h: d.Peak24h}
			if d.RSSISamples > 0 {
				e.MaxRSSI, e.MeanRSSI = &d.MaxRSSI, &d.MeanRSSI
			}
			out = append(out, e)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(days) == 0 {
		if _, err := fmt.Fprintln(w, "No exposure found."); err != nil {
			return err
		}
	} else if err := printDayTable(w, days); err != nil {
		return err
	}
	if len(indirect) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nIndirect contacts (heard from a repeater, not an exposure):"); err != nil {
		return err
	}
	return printDayTable(w, indirect)
}

func printDayTable(w io.Writer, days []pact.DaySummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "date\tmatched min\tcontacts\tmax RSSI\tmean RSSI\tscore\t24 h peak\t")
	for _, d := range days {
		maxS, meanS := "-", "-"
		if d.RSSISamples > 0 {
			maxS, meanS = fmt.Sprint(d.MaxRSSI), fmt.Sprintf("%.1f", d.MeanRSSI)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%.2f\t%.2f\t\n", d.Date().Format("2006-01-02"), d.Minutes, d.Contacts, maxS, meanS, d.Score, d.Peak24h)
	}
	return tw.Flush()
}

// runBundle prints the tuples the device would upload (spec §6.4).
func runBundle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pact-bridge bundle", "[flags]\n\nPrints the upload bundle of the device's seed log: one (seed, start, end)\ntuple per hour it chirped in the period, redacted hours replaced by random\nseeds. Nothing is sent anywhere.", stdout, stderr)
	var lf cli.LogFlags
	lf.Register(fs.FlagSet)
	dbPath := fs.String("db", "pact-device.db", "device database (SQLite)")
	from := fs.String("from", "", "first hour to include, RFC 3339 (default: 21 days ago)")
	to := fs.String("to", "", "last minute to include, RFC 3339 (default: now)")
	exclude := fs.String("exclude", "", "comma-separated hours to redact, RFC 3339 (each gets a fresh random seed)")
	format := fs.String("format", "json", "output: json or binary")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	if *format != "json" && *format != "binary" {
		return cli.FlagErrorf("format", *format, "want json or binary")
	}
	log := lf.Logger(stderr)
	var opts pact.BundleOptions
	var err error
	if opts.From, err = parseOptionalTime("from", *from); err != nil {
		return err
	}
	if opts.To, err = parseOptionalTime("to", *to); err != nil {
		return err
	}
	redacted := map[pact.Minute]bool{}
	for _, s := range strings.Split(*exclude, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return cli.FlagErrorf("exclude", s, "%w", err)
		}
		redacted[pact.MinuteOf(t).HourStart()] = true
	}
	opts.Exclude = func(h pact.Minute) bool { return redacted[h] }
	db, err := openDevice(ctx, *dbPath, log)
	if err != nil {
		return err
	}
	defer db.Close()
	tuples, err := pact.NewSeedLog(db, pact.SeedLogOptions{}).Bundle(ctx, opts)
	if err != nil {
		return err
	}
	log.Info("bundle built", "tuples", len(tuples), "redacted_hours", len(redacted))
	if tuples == nil {
		tuples = []pact.Tuple{}
	}
	if *format == "binary" {
		b, err := pact.EncodeTuples(tuples)
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(tuples)
}

// openDevice opens the device database and erases the seeds and sightings
// that have outlived the retention period (spec §5.3). The device commands
// are what runs on a device, so they are where retention is enforced; it
// also keeps expired seeds out of a bundle, which the exposure database
// would reject.
func openDevice(ctx context.Context, path string, log *slog.Logger) (*devicedb.DB, error) {
	db, err := devicedb.Open(path)
	if err != nil {
		return nil, err
	}
	seeds, err := pact.NewSeedLog(db, pact.SeedLogOptions{}).Expire(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("erasing expired seeds from %s: %w", path, err)
	}
	sightings, err := pact.NewContactLog(db, pact.ContactLogOptions{}).Expire(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("erasing expired sightings from %s: %w", path, err)
	}
	if seeds > 0 || sightings > 0 {
		log.Info("retention", "db", path, "seeds_erased", seeds, "sightings_erased", sightings)
	}
	return db, nil
}

func parseOptionalTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, cli.FlagErrorf(flagName, s, "%w", err)
	}
	return t, nil
}

// maxTupleFileBytes bounds what match reads: the upload body limit of
// docs/api.md, which a list of pact.MaxTuplesPerList tuples fits in, in
// any of the three forms.
const maxTupleFileBytes = 1 << 20

// errTupleFileTooLarge is wrapped by the error of readTupleFile for a file
// over maxTupleFileBytes.
var errTupleFileTooLarge = errors.New("tuple file exceeds the size limit")

// readTupleFile reads path ("-" for stdin), refusing more than
// maxTupleFileBytes before it holds more than that in memory: the file may
// be a device or a pipe that never ends.
func readTupleFile(path string) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxTupleFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(raw) > maxTupleFileBytes {
		return nil, fmt.Errorf("%s: more than %d bytes: %w", path, maxTupleFileBytes, errTupleFileTooLarge)
	}
	return raw, nil
}
