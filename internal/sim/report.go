package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// CityReport is the outcome of RunCity against ground truth
// (docs/simulation.md explains every field).
type CityReport struct {
	Config    CityConfig `json:"config"`
	Natives   int        `json:"natives"`
	Carriers  int        `json:"carriers"`
	Regions   int        `json:"regions"`
	Observers int        `json:"observers"`
	// Diagnoses counts everyone diagnosed; Uploads those who consented
	// and uploaded something.
	Diagnoses int `json:"diagnoses"`
	Uploads   int `json:"uploads"`

	Upload   UploadFigures   `json:"upload"`
	Download DownloadFigures `json:"download"`
	Server   ServerFigures   `json:"server"`
	Matching MatchingFigures `json:"matching"`
	Accuracy AccuracyFigures `json:"accuracy"`
	Elapsed  string          `json:"elapsed"`
}

// UploadFigures are per upload.
type UploadFigures struct {
	// PerDiagnosisBytes is the mean JSON body POSTed to /v1/uploads.
	PerDiagnosisBytes float64 `json:"per_diagnosis_bytes"`
	// BinaryTupleBytes is the mean body of a native device's tuples in
	// the binary encoding (docs/protocol.md §6.1), for comparison.
	BinaryTupleBytes    float64 `json:"binary_tuple_bytes"`
	TuplesPerUpload     float64 `json:"tuples_per_upload"`
	FindMyKeysPerUpload float64 `json:"findmy_keys_per_upload"`
}

// DownloadFigures are what a device fetches, as read off the wire by
// exposureclient (listings and batches).
type DownloadFigures struct {
	Regions               []RegionDownload `json:"regions"`
	MeanRegionBytesPerDay float64          `json:"mean_region_bytes_per_day"`
	AllRegionsBytesPerDay float64          `json:"all_regions_bytes_per_day"`
	Batches               int              `json:"batches"`
	SeedHours             int              `json:"seed_hours"`
	FindMyKeys            int              `json:"findmy_keys"`
	BatchBytes            int              `json:"batch_bytes"`
	// BytesPerEntry is batch bytes over seed-hours plus Find My keys.
	BytesPerEntry float64 `json:"bytes_per_entry"`
}

// RegionDownload is one region's daily download.
type RegionDownload struct {
	Region      string  `json:"region"`
	Batches     int     `json:"batches"`
	BytesPerDay float64 `json:"bytes_per_day"`
}

// ServerFigures are the exposure server's storage at the end of the run.
type ServerFigures struct {
	DatabaseBytes int64   `json:"database_bytes"`
	BatchBytes    int64   `json:"batch_bytes"`
	BytesPerDay   float64 `json:"bytes_per_day"`
}

// MatchingFigures are per observer and day.
type MatchingFigures struct {
	// CPUPerDeviceDay is the process CPU, in seconds, of building each
	// observer's index once and matching every batch of the run, divided
	// by observer-days.
	CPUPerDeviceDay       float64 `json:"cpu_seconds_per_device_day"`
	WallPerDeviceDay      float64 `json:"wall_seconds_per_device_day"`
	SightingsPerDeviceDay float64 `json:"sightings_per_device_day"`
	ContactLogBytesPerDay float64 `json:"contact_log_bytes_per_device_day"`
	TuplesMatched         int64   `json:"tuples_matched"`
	TuplesSkipped         int64   `json:"tuples_skipped"`
	KeysDerived           int64   `json:"keys_derived"`
	ChirpsComputed        int64   `json:"chirps_computed"`
}

// AccuracyFigures compare notifications with ground truth per
// observer-day.
type AccuracyFigures struct {
	ObserverDays int `json:"observer_days"`
	// TrulyExposed observer-days spent CloseMinutes within CloseRange of
	// infectious people; ExposedByUploaders of those who uploaded.
	TrulyExposed       int `json:"truly_exposed"`
	ExposedByUploaders int `json:"exposed_by_uploaders"`
	// MatchedMinutes is every minute a matcher found; HeardUploaded every
	// minute the radio delivered a broadcast that an upload covers.
	// Mismatches counts observer-days where the two sets differ: zero
	// means the matchers found exactly what was there to find.
	MatchedMinutes int64 `json:"matched_minutes"`
	HeardUploaded  int64 `json:"heard_uploaded_minutes"`
	Mismatches     int   `json:"mismatches"`
	// FindMyMatches counts the (minute, key) matches of findmymatch.
	FindMyMatches int64 `json:"findmy_matches"`
	// Grid is precision and recall for every threshold pair.
	Grid []ThresholdCell `json:"grid"`
	// Notification is the time from diagnosis to notification under the
	// configured rule, in minutes.
	Notification DelayFigures `json:"notification_minutes"`
	// SamplingFraction is observers over native devices; standard errors
	// in the grid carry the finite-population correction.
	SamplingFraction float64 `json:"sampling_fraction"`
}

// ThresholdCell is one notification rule's confusion counts.
type ThresholdCell struct {
	RSSI    int `json:"rssi"`
	Minutes int `json:"minutes"`
	TP      int `json:"tp"`
	FP      int `json:"fp"`
	FN      int `json:"fn"`
	// Precision = TP/(TP+FP); Recall = TP/(TP+FN) against everyone
	// diagnosed; RecallUploaders against those who uploaded. SE are
	// standard errors from sampling observers.
	// A ratio without cases is NaN, and null in JSON.
	Precision         Ratio `json:"precision"`
	PrecisionSE       Ratio `json:"precision_se"`
	Recall            Ratio `json:"recall"`
	RecallSE          Ratio `json:"recall_se"`
	RecallUploaders   Ratio `json:"recall_uploaders"`
	RecallUploadersSE Ratio `json:"recall_uploaders_se"`
}

// Ratio is a float that is NaN when undefined (no cases), which JSON
// cannot hold: it is written and read as null.
type Ratio float64

// MarshalJSON writes NaN as null.
func (r Ratio) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(r)) || math.IsInf(float64(r), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(r))
}

// UnmarshalJSON reads null as NaN.
func (r *Ratio) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = Ratio(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*r = Ratio(f)
	return nil
}

// DelayFigures summarise delays in minutes.
type DelayFigures struct {
	Count  int     `json:"count"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Max    float64 `json:"max"`
}

// Thresholds of the accuracy grid.
var (
	GridRSSI    = []int{-95, -90, -85, -80, -75, -70, -65, -60}
	GridMinutes = []int{1, 5, 10, 15, 20, 30}
)

type accuracy struct {
	cfg    *CityConfig
	fig    AccuracyFigures
	cells  []ThresholdCell
	tpUp   []int
	fnUp   []int
	delays []float64
}

func newAccuracy(cfg *CityConfig) *accuracy {
	a := &accuracy{cfg: cfg}
	for _, r := range GridRSSI {
		for _, m := range GridMinutes {
			a.cells = append(a.cells, ThresholdCell{RSSI: r, Minutes: m})
		}
	}
	a.tpUp = make([]int, len(a.cells))
	a.fnUp = make([]int, len(a.cells))
	return a
}

// add scores one observer's days.
func (a *accuracy) add(c *city, o *observer) {
	a.fig.FindMyMatches += int64(o.findMyMatches)
	interval := pact.Minute(c.cfg.SyncInterval / time.Minute)
	phase := pact.Minute(mix(c.cfg.Seed^uint64(o.id)^0x73796e63) % uint64(interval))
	for _, od := range o.days {
		a.fig.ObserverDays++
		truth := od.close.count() >= a.cfg.CloseMinutes
		truthUp := od.closeUploaded.count() >= a.cfg.CloseMinutes
		if truth {
			a.fig.TrulyExposed++
		}
		if truthUp {
			a.fig.ExposedByUploaders++
		}
		var matched minuteSet
		rssis := make([]int8, 0, len(od.matched))
		for m, mm := range od.matched {
			matched.add(int(m))
			rssis = append(rssis, mm.rssi)
		}
		a.fig.MatchedMinutes += int64(len(od.matched))
		a.fig.HeardUploaded += int64(od.heardUploaded.count())
		if matched != od.heardUploaded {
			a.fig.Mismatches++
		}
		for k := range a.cells {
			cell := &a.cells[k]
			n := 0
			for _, r := range rssis {
				if int(r) >= cell.RSSI {
					n++
				}
			}
			predicted := n >= cell.Minutes
			switch {
			case predicted && truth:
				cell.TP++
			case predicted:
				cell.FP++
			case truth:
				cell.FN++
			}
			if truthUp {
				if predicted {
					a.tpUp[k]++
				} else {
					a.fnUp[k]++
				}
			}
		}
		// When would the configured rule have notified? The match that
		// completes the count becomes visible at the earliest sync after
		// its batch could be fetched.
		type avail struct{ at, diag pact.Minute }
		var qual []avail
		for _, mm := range od.matched {
			if int(mm.rssi) >= a.cfg.NotifyRSSI {
				qual = append(qual, avail{mm.available, mm.diagnosed})
			}
		}
		if len(qual) >= a.cfg.NotifyMinutes {
			slices.SortFunc(qual, func(x, y avail) int { return int(x.at) - int(y.at) })
			q := qual[a.cfg.NotifyMinutes-1]
			iv, at := int64(interval), int64(q.at)
			sync := at + ((int64(phase)-at)%iv+iv)%iv
			a.delays = append(a.delays, float64(sync-int64(q.diag)))
		}
	}
}

func (a *accuracy) finish(rep *CityReport, observers, natives int) {
	fpc := 1.0
	if natives > 0 {
		a.fig.SamplingFraction = float64(observers) / float64(natives)
		fpc = 1 - a.fig.SamplingFraction
	}
	se := func(p Ratio, n int) Ratio {
		if n == 0 {
			return Ratio(math.NaN())
		}
		return Ratio(math.Sqrt(float64(p) * (1 - float64(p)) / float64(n) * fpc))
	}
	ratio := func(a, b int) Ratio {
		if b == 0 {
			return Ratio(math.NaN())
		}
		return Ratio(float64(a) / float64(b))
	}
	for k := range a.cells {
		c := &a.cells[k]
		c.Precision = ratio(c.TP, c.TP+c.FP)
		c.PrecisionSE = se(c.Precision, c.TP+c.FP)
		c.Recall = ratio(c.TP, c.TP+c.FN)
		c.RecallSE = se(c.Recall, c.TP+c.FN)
		c.RecallUploaders = ratio(a.tpUp[k], a.tpUp[k]+a.fnUp[k])
		c.RecallUploadersSE = se(c.RecallUploaders, a.tpUp[k]+a.fnUp[k])
	}
	a.fig.Grid = a.cells
	if n := len(a.delays); n > 0 {
		slices.Sort(a.delays)
		sum := 0.0
		for _, d := range a.delays {
			sum += d
		}
		a.fig.Notification = DelayFigures{Count: n, Mean: sum / float64(n), Median: a.delays[n/2], P90: a.delays[n*9/10], Max: a.delays[n-1]}
	}
	rep.Accuracy = a.fig
}

// Cell returns the grid cell of a rule, if the grid has it.
func (f *AccuracyFigures) Cell(rssi, minutes int) (ThresholdCell, bool) {
	for _, c := range f.Grid {
		if c.RSSI == rssi && c.Minutes == minutes {
			return c, true
		}
	}
	return ThresholdCell{}, false
}

func pct(v Ratio) string {
	if math.IsNaN(float64(v)) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

func pctSE(v, se Ratio) string {
	if math.IsNaN(float64(v)) {
		return "-"
	}
	return fmt.Sprintf("%.1f±%.1f", 100*v, 100*se)
}

// WriteText writes the report for people.
func (r *CityReport) WriteText(w io.Writer) error {
	c := &r.Config
	fmt.Fprintf(w, "City of %d devices (%d native, %d seen through Find My) in %d region(s), %d day(s) from %s, seed %d.\n",
		c.Devices, r.Natives, r.Carriers, r.Regions, c.Days, c.Start.Format("2006-01-02"), c.Seed)
	fmt.Fprintf(w, "%d diagnosed (rate %.3g%%/day), %d uploaded (consent %.0f%%, %.0f%% of hours redacted).\n",
		r.Diagnoses, 100*c.DiagnosisRate, r.Uploads, 100*c.ConsentRate, 100*c.RedactionRate)
	fmt.Fprintf(w, "%d observers matched (%.1f%% of native devices); elapsed %s.\n\n", r.Observers, 100*r.Accuracy.SamplingFraction, r.Elapsed)

	fmt.Fprintf(w, "Upload per diagnosis:   %.0f bytes JSON (%.0f seed-hours, %.0f Find My keys); native tuples in binary %.0f bytes\n",
		r.Upload.PerDiagnosisBytes, r.Upload.TuplesPerUpload, r.Upload.FindMyKeysPerUpload, r.Upload.BinaryTupleBytes)
	fmt.Fprintf(w, "Download per device:    %.0f bytes/day own region (mean of %d), %.0f bytes/day all regions\n",
		r.Download.MeanRegionBytesPerDay, len(r.Download.Regions), r.Download.AllRegionsBytesPerDay)
	fmt.Fprintf(w, "Batches:                %d, %d seed-hours + %d Find My keys in %d bytes (%.1f bytes/entry)\n",
		r.Download.Batches, r.Download.SeedHours, r.Download.FindMyKeys, r.Download.BatchBytes, r.Download.BytesPerEntry)
	fmt.Fprintf(w, "Server storage:         %d bytes SQLite (%d in batches), %.0f bytes/day\n",
		r.Server.DatabaseBytes, r.Server.BatchBytes, r.Server.BytesPerDay)
	fmt.Fprintf(w, "Matching per device:    %.4f s CPU/day (%.4f s wall), %.0f sightings/day (~%.0f kB/day of contact log)\n",
		r.Matching.CPUPerDeviceDay, r.Matching.WallPerDeviceDay, r.Matching.SightingsPerDeviceDay, r.Matching.ContactLogBytesPerDay/1000)
	a := &r.Accuracy
	fmt.Fprintf(w, "Matcher against radio:  %d matched minutes (%d Find My key matches), %d heard minutes covered by uploads, %d observer-days differ\n\n",
		a.MatchedMinutes, a.FindMyMatches, a.HeardUploaded, a.Mismatches)

	fmt.Fprintf(w, "Ground truth: %d of %d observer-days had %d+ minutes within %.1f m of someone diagnosed later (%d of someone who uploaded).\n",
		a.TrulyExposed, a.ObserverDays, c.CloseMinutes, c.CloseRange, a.ExposedByUploaders)
	fmt.Fprintln(w, "Precision / recall (%, ± standard error from sampling) of \"notify when N matched minutes in a day are at or above RSSI\":")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "RSSI \\ minutes\t")
	for _, m := range GridMinutes {
		fmt.Fprintf(tw, "%d\t", m)
	}
	fmt.Fprintln(tw)
	for _, rs := range GridRSSI {
		fmt.Fprintf(tw, "%d dBm\t", rs)
		for _, m := range GridMinutes {
			cell, _ := a.Cell(rs, m)
			fmt.Fprintf(tw, "%s / %s\t", pctSE(cell.Precision, cell.PrecisionSE), pctSE(cell.Recall, cell.RecallSE))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cell, ok := a.Cell(c.NotifyRSSI, c.NotifyMinutes); ok {
		fmt.Fprintf(w, "\nRule %d dBm for %d min: precision %s, recall %s (%s of exposures to uploaders).\n",
			c.NotifyRSSI, c.NotifyMinutes, pct(cell.Precision), pct(cell.Recall), pct(cell.RecallUploaders))
	}
	n := a.Notification
	fmt.Fprintf(w, "Diagnosis to notification (rule %d dBm for %d min, sync every %s, batches every %d min): %d notifications, median %.0f min, p90 %.0f, max %.0f.\n",
		c.NotifyRSSI, c.NotifyMinutes, c.SyncInterval, c.PeriodMinutes, n.Count, n.Median, n.P90, n.Max)
	return nil
}
