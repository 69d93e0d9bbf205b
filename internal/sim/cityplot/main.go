// Command cityplot turns the JSON reports of `pact-bridge simulate --days
// --json` into the growth table and SVG plots of docs/simulation.md, and
// measures the batch encoder against the download anchors (GAEN, DP-3T).
//
//	go run ./internal/sim/cityplot -in docs/simulation -out docs/simulation
//
// It reads every city-*.json under -in and writes growth.md, anchors.md
// and *.svg under -out. Nothing here needs the network.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/sim"
	"github.com/pact-findmy/pact-findmy/pact"
)

func main() {
	in := flag.String("in", "docs/simulation", "directory holding city-*.json reports")
	out := flag.String("out", "docs/simulation", "directory for growth.md, anchors.md and the SVG plots")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "cityplot:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	files, err := filepath.Glob(filepath.Join(in, "city-*.json"))
	if err != nil {
		return err
	}
	var reps []*sim.CityReport
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r sim.CityReport
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		reps = append(reps, &r)
	}
	if len(reps) == 0 {
		return errors.New("no city-*.json reports under " + in)
	}
	slices.SortFunc(reps, func(a, b *sim.CityReport) int { return a.Config.Devices - b.Config.Devices })
	enc, err := measureEncoder()
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "growth.md"), func(w io.Writer) error { return growthTable(w, reps) }); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "accuracy.md"), func(w io.Writer) error { return accuracyTable(w, reps) }); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "anchors.md"), func(w io.Writer) error { return anchorTable(w, reps, enc) }); err != nil {
		return err
	}
	xs := make([]float64, len(reps))
	for i, r := range reps {
		xs[i] = float64(r.Config.Devices)
	}
	col := func(f func(*sim.CityReport) float64) []float64 {
		ys := make([]float64, len(reps))
		for i, r := range reps {
			ys[i] = f(r)
		}
		return ys
	}
	plots := []struct {
		file, title, unit string
		series            []series
	}{
		{"download.svg", "Download per device per day", "bytes", []series{
			{"all regions", col(func(r *sim.CityReport) float64 { return r.Download.AllRegionsBytesPerDay })},
			{"own region (mean)", col(func(r *sim.CityReport) float64 { return r.Download.MeanRegionBytesPerDay })},
		}},
		{"server.svg", "Exposure server storage per day", "bytes", []series{
			{"SQLite database", col(func(r *sim.CityReport) float64 { return r.Server.BytesPerDay })},
			{"batches", col(func(r *sim.CityReport) float64 { return float64(r.Server.BatchBytes) / float64(r.Config.Days) })},
		}},
		{"matching.svg", "Matching CPU per device per day", "seconds", []series{
			{"index + match, all regions", col(func(r *sim.CityReport) float64 { return r.Matching.CPUPerDeviceDay })},
		}},
		{"anchors.svg", "Download per device per day, same diagnosis rate", "bytes", []series{
			{"PACT (measured)", col(func(r *sim.CityReport) float64 { return r.Download.AllRegionsBytesPerDay })},
			{"PACT natives, 21 d", col(func(r *sim.CityReport) float64 { return anchors(r, enc).pactNative })},
			{"PACT natives, 14 d", col(func(r *sim.CityReport) float64 { return anchors(r, enc).pactNative14 })},
			{"GAEN", col(func(r *sim.CityReport) float64 { return anchors(r, enc).gaen })},
			{"DP-3T low-cost", col(func(r *sim.CityReport) float64 { return anchors(r, enc).dp3tLow })},
			{"DP-3T unlinkable", col(func(r *sim.CityReport) float64 { return anchors(r, enc).dp3tUnlinkable })},
		}},
	}
	for _, p := range plots {
		if err := writeFile(filepath.Join(out, p.file), func(w io.Writer) error { return plot(w, p.title, p.unit, xs, p.series) }); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

func human(b float64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.2f MB", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kB", b/1e3)
	}
	return fmt.Sprintf("%.0f B", b)
}

func growthTable(w io.Writer, reps []*sim.CityReport) error {
	fmt.Fprintln(w, "| devices | observers | diagnosed | uploads | upload/diagnosis | download/device/day, own region | all regions | server storage/day | matching CPU/device/day | sightings/device/day | precision | recall | median diagnosis→notification | run time |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range reps {
		c, _ := r.Accuracy.Cell(r.Config.NotifyRSSI, r.Config.NotifyMinutes)
		fmt.Fprintf(w, "| %d | %d | %d | %d | %s | %s | %s | %s | %.4f s | %.0f | %.0f%% ± %.0f | %.0f%% ± %.0f | %.0f min | %s |\n",
			r.Config.Devices, r.Observers, r.Diagnoses, r.Uploads, human(r.Upload.PerDiagnosisBytes),
			human(r.Download.MeanRegionBytesPerDay), human(r.Download.AllRegionsBytesPerDay), human(r.Server.BytesPerDay),
			r.Matching.CPUPerDeviceDay, r.Matching.SightingsPerDeviceDay,
			100*c.Precision, 100*c.PrecisionSE, 100*c.Recall, 100*c.RecallSE, r.Accuracy.Notification.Median, r.Elapsed)
	}
	return nil
}

// accuracyTable pools the confusion counts of every run (the model does
// not depend on the population's size, only the sample does) and prints
// precision / recall for every rule.
func accuracyTable(w io.Writer, reps []*sim.CityReport) error {
	type counts struct{ tp, fp, fn int }
	pooled := map[[2]int]*counts{}
	days, exposed := 0, 0
	for _, r := range reps {
		days += r.Accuracy.ObserverDays
		exposed += r.Accuracy.TrulyExposed
		for _, c := range r.Accuracy.Grid {
			k := [2]int{c.RSSI, c.Minutes}
			if pooled[k] == nil {
				pooled[k] = &counts{}
			}
			pooled[k].tp += c.TP
			pooled[k].fp += c.FP
			pooled[k].fn += c.FN
		}
	}
	fmt.Fprintf(w, "Precision / recall in %%, pooled over %d runs (%d observer-days, %d truly exposed):\n\n", len(reps), days, exposed)
	fmt.Fprint(w, "| RSSI \\ minutes |")
	for _, m := range sim.GridMinutes {
		fmt.Fprintf(w, " %d |", m)
	}
	fmt.Fprint(w, "\n|---:|")
	for range sim.GridMinutes {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, rs := range sim.GridRSSI {
		fmt.Fprintf(w, "| %d dBm |", rs)
		for _, m := range sim.GridMinutes {
			c := pooled[[2]int{rs, m}]
			if c == nil || c.tp+c.fp == 0 || c.tp+c.fn == 0 {
				fmt.Fprint(w, " - |")
				continue
			}
			fmt.Fprintf(w, " %.0f / %.0f |", 100*float64(c.tp)/float64(c.tp+c.fp), 100*float64(c.tp)/float64(c.tp+c.fn))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// encoder holds what the real batch encoder spends per entry.
type encoder struct {
	// seedHour[k] is bytes per seed-hour of a batch holding k uploads of
	// 504 seed-hours; findMyKey bytes per Find My key in a batch of 2016.
	uploads   []int
	seedHour  []float64
	findMyKey float64
}

// measureEncoder encodes batches of random seed-hours through
// batch.Encode, so that the figures follow the format the code writes.
func measureEncoder() (*encoder, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	e := &encoder{uploads: []int{1, 10, 100, 1000}}
	base := pact.Minute(29_000_000).HourStart()
	for _, k := range e.uploads {
		var ts []pact.Tuple
		for range k {
			for h := range 504 {
				var t pact.Tuple
				rand.Read(t.Seed[:])
				t.Start = base + pact.Minute(h*pact.MinutesPerHour)
				t.End = t.Start + pact.MinutesPerHour - 1
				ts = append(ts, t)
			}
		}
		b, err := batch.Encode(batch.Header{Region: "R001", Sequence: 1, PeriodStart: base, PeriodMinutes: 10}, ts, key)
		if err != nil {
			return nil, err
		}
		e.seedHour = append(e.seedHour, float64(len(b))/float64(len(ts)))
	}
	var keys []batch.FindMyKey
	for s := range 2016 {
		var k batch.FindMyKey
		rand.Read(k.Key[:])
		k.Start = base + pact.Minute(s*15)
		k.End = k.Start + 14
		keys = append(keys, k)
	}
	b, err := batch.EncodeWithFindMy(batch.Header{Region: "R001", Sequence: 1, PeriodStart: base, PeriodMinutes: 10}, nil, keys, key)
	if err != nil {
		return nil, err
	}
	e.findMyKey = float64(len(b)) / float64(len(keys))
	return e, nil
}

// bytesPerSeedHour interpolates the encoder's cost for a batch of k
// uploads.
func (e *encoder) bytesPerSeedHour(k float64) float64 {
	if k <= float64(e.uploads[0]) {
		return e.seedHour[0]
	}
	for i := 1; i < len(e.uploads); i++ {
		if k <= float64(e.uploads[i]) {
			a, b := math.Log(float64(e.uploads[i-1])), math.Log(float64(e.uploads[i]))
			f := (math.Log(k) - a) / (b - a)
			return e.seedHour[i-1] + f*(e.seedHour[i]-e.seedHour[i-1])
		}
	}
	return e.seedHour[len(e.seedHour)-1]
}

// Anchor parameters (docs/simulation.md, "Download against GAEN and
// DP-3T").
const (
	gaenKeysPerDiagnosis = 14 // daily temporary exposure keys
	gaenBytesPerKey      = 32 // 16-byte key and its metadata in the export
	dp3tLowBytes         = 32 + 4
	dp3tEpochsPerDay     = 96 // 15-minute epochs
	dp3tDays             = 14
	// cuckooBitsPerEntry: fingerprints for a false-positive rate of 2^-32
	// per lookup, buckets of 4 at 95% load (Fan et al., CoNEXT 2014):
	// (32 + 3) / 0.95 bits.
	cuckooBitsPerEntry = (32.0 + 3) / 0.95
)

type anchorFigures struct {
	uploadsPerDay, pactNative, pactNative14, gaen, dp3tLow, dp3tUnlinkable float64
}

// anchors prices the run's daily uploads in each design: the uploads of a
// day times each design's bytes per diagnosis, all regions.
func anchors(r *sim.CityReport, e *encoder) anchorFigures {
	c := r.Config
	up := float64(c.Devices) * c.DiagnosisRate * c.ConsentRate
	perBatch := up / (24 * 60 / float64(c.PeriodMinutes)) // uploads per batch period
	seedHours := float64(c.UploadDays*24) * (1 - c.RedactionRate)
	return anchorFigures{
		uploadsPerDay:  up,
		pactNative:     up * seedHours * e.bytesPerSeedHour(max(perBatch, 1)),
		pactNative14:   up * 14 * 24 * (1 - c.RedactionRate) * e.bytesPerSeedHour(max(perBatch, 1)),
		gaen:           up * gaenKeysPerDiagnosis * gaenBytesPerKey,
		dp3tLow:        up * dp3tLowBytes,
		dp3tUnlinkable: up * dp3tDays * dp3tEpochsPerDay * cuckooBitsPerEntry / 8,
	}
}

func anchorTable(w io.Writer, reps []*sim.CityReport, e *encoder) error {
	fmt.Fprintln(w, "Bytes per seed-hour written by batch.Encode (random seeds, 504 seed-hours an upload):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| uploads in one batch | bytes per seed-hour | entropy bound |")
	fmt.Fprintln(w, "|---:|---:|---:|")
	for i, k := range e.uploads {
		// Each hour holds k random seeds in no order: log2 C(2^256, k)
		// bits, about 256k - log2 k! (docs/simulation.md).
		lf, _ := math.Lgamma(float64(k) + 1)
		bound := (256 - lf/math.Ln2/float64(k)) / 8
		fmt.Fprintf(w, "| %d | %.2f | %.2f |\n", k, e.seedHour[i], bound)
	}
	fmt.Fprintf(w, "\nA Find My key costs %.1f bytes in a batch of 2016 keys.\n\n", e.findMyKey)
	fmt.Fprintln(w, "| devices | uploads/day | PACT measured (natives + Find My, 21 days) | PACT natives only, 21 days | PACT natives only, 14 days | GAEN (14 days) | DP-3T low-cost | DP-3T unlinkable (14 days) |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range reps {
		a := anchors(r, e)
		fmt.Fprintf(w, "| %d | %.1f | %s | %s | %s | %s | %s | %s |\n", r.Config.Devices, a.uploadsPerDay,
			human(r.Download.AllRegionsBytesPerDay), human(a.pactNative), human(a.pactNative14), human(a.gaen), human(a.dp3tLow), human(a.dp3tUnlinkable))
	}
	return nil
}

type series struct {
	name string
	ys   []float64
}

var colours = []string{"#1f77b4", "#d62728", "#8c564b", "#2ca02c", "#ff7f0e", "#9467bd"}

// plot draws series against xs on log-log axes.
func plot(w io.Writer, title, unit string, xs []float64, ss []series) error {
	const width, height, left, right, top, bottom = 640.0, 400.0, 80.0, 190.0, 40.0, 50.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, y := range s.ys {
			if y > 0 {
				lo, hi = math.Min(lo, y), math.Max(hi, y)
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1, 10
	}
	ylo, yhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if yhi == ylo {
		yhi++
	}
	xlo, xhi := math.Floor(math.Log10(xs[0])), math.Ceil(math.Log10(xs[len(xs)-1]))
	if xhi == xlo {
		xhi++
	}
	px := func(x float64) float64 {
		return left + (math.Log10(x)-xlo)/(xhi-xlo)*(width-left-right)
	}
	py := func(y float64) float64 {
		return height - bottom - (math.Log10(y)-ylo)/(yhi-ylo)*(height-top-bottom)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15">%s</text>`+"\n", left, title)
	for e := xlo; e <= xhi; e++ {
		x := px(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top, x, height-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, height-bottom+16, siLabel(math.Pow(10, e)))
	}
	for e := ylo; e <= yhi; e++ {
		y := py(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, width-right, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, siLabel(math.Pow(10, e)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">devices</text>`+"\n", (left+width-right)/2, height-12)
	fmt.Fprintf(&b, `<text x="16" y="%.1f" transform="rotate(-90 16 %.1f)" text-anchor="middle">%s</text>`+"\n", (top+height-bottom)/2, (top+height-bottom)/2, unit)
	for i, s := range ss {
		colour := colours[i%len(colours)]
		var pts []string
		for k, y := range s.ys {
			if y > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xs[k]), py(y)))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", colour, strings.Join(pts, " "))
		for _, p := range pts {
			xy := strings.Split(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], colour)
		}
		ly := top + 10 + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", width-right+10, ly, width-right+30, ly, colour)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", width-right+34, ly+4, s.name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func siLabel(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}
