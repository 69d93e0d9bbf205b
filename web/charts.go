package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
)

// Charts are drawn on the server as inline SVG: no script, no style
// attribute (the Content-Security-Policy allows neither), colours as
// presentation attributes. Each chart carries a <title> and <desc> and is
// followed on the page by a table with the same numbers.

const (
	chartWidth  = 800
	chartHeight = 220
	padLeft     = 56
	padRight    = 12
	padTop      = 12
	padBottom   = 36
	plotWidth   = chartWidth - padLeft - padRight
	plotHeight  = chartHeight - padTop - padBottom
)

// bandColour gives each RSSI band a colour that stays apart from the
// others for the common colour-vision deficiencies (a sequential scheme
// from dark red, near, to pale, distant) and in greyscale.
func bandColour(name string) string {
	switch name {
	case "near":
		return "#a50f15"
	case "medium":
		return "#de2d26"
	case "far":
		return "#fb6a4a"
	case "distant":
		return "#fcae91"
	}
	return "#6a51a3" // unknown
}

// sourceColours are for the sightings-per-hour stacks; unknown sources
// share the last one.
var sourceColours = map[string]string{
	"pact":     "#2166ac",
	"findmy":   "#b35806",
	"repeater": "#1b7837",
}

func sourceColour(s string) string {
	if c, ok := sourceColours[s]; ok {
		return c
	}
	return "#5e5e5e"
}

type svgBuilder struct {
	strings.Builder
	id string
}

func newSVG(id, title, desc string) *svgBuilder {
	b := &svgBuilder{id: id}
	fmt.Fprintf(b, `<svg id="%s" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title %s-desc">`,
		id, chartWidth, chartHeight, id, id)
	fmt.Fprintf(b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, html.EscapeString(title), id, html.EscapeString(desc))
	return b
}

func (b *svgBuilder) text(x, y float64, anchor, class, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" class="%s">%s</text>`, x, y, anchor, class, html.EscapeString(s))
}

func (b *svgBuilder) done() template.HTML {
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from escaped parts only
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// yAxis draws three grid lines and their labels for values 0..top.
func (b *svgBuilder) yAxis(top float64, unit string) {
	for i := 0; i <= 2; i++ {
		v := top * float64(i) / 2
		y := padTop + plotHeight - plotHeight*float64(i)/2
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>`, padLeft, y, chartWidth-padRight, y)
		b.text(padLeft-6, y+5, "end", "axis", formatCount(v)+unit)
	}
}

func formatCount(v float64) string {
	switch {
	case v >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e6), ".0") + "M"
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// timelineChart draws one day's matched minutes: one bar per minute, its
// height the signal strength and its colour the RSSI band.
func timelineChart(id string, d DaySummary) template.HTML {
	if len(d.Timeline) == 0 {
		return ""
	}
	first, last := d.Timeline[0].At, d.Timeline[len(d.Timeline)-1].At
	start := first.Truncate(time.Hour)
	end := last.Truncate(time.Hour).Add(time.Hour)
	span := end.Sub(start).Minutes()
	title := fmt.Sprintf("Matched minutes on %s (%s), %s to %s UTC", dayWords(d.Day), d.Source, start.Format("15:04"), end.Format("15:04"))
	desc := fmt.Sprintf("%s between %s and %s UTC; strongest signal %s. Bar height is signal strength, colour the distance band.",
		plural(d.MatchedMinutes, "matched minute", "matched minutes"), first.Format("15:04"), last.Format("15:04"), formatRSSI(d.MaxRSSI))
	b := newSVG(id, title, desc)
	// The y axis is signal strength from -100 dBm (bottom) to -30 dBm.
	for _, r := range []int{-100, -80, -60, -40} {
		y := padTop + plotHeight*(1-rssiHeight(r))
		fmt.Fprintf(&b.Builder, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>`, padLeft, y, chartWidth-padRight, y)
		b.text(padLeft-6, y+5, "end", "axis", fmt.Sprintf("%d", r))
	}
	b.text(4, padTop+10, "start", "axis", "dBm")
	w := math.Max(plotWidth/span, 3)
	for _, m := range d.Timeline {
		x := padLeft + plotWidth*m.At.Sub(start).Minutes()/span
		h := plotHeight * rssiHeight(m.RSSI)
		bd := rssiBand(m.RSSI)
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s UTC: %s (%s), %s</title></rect>`,
			x, padTop+plotHeight-h, w, h, bandColour(bd.Name), m.At.Format("15:04"), formatRSSI(m.RSSI), bd.Name,
			plural(m.Contacts, "contact", "contacts"))
	}
	hours := int(span / 60)
	step := 1
	for hours/step > 8 {
		step++
	}
	for i := 0; i <= hours; i += step {
		x := padLeft + plotWidth*float64(i*60)/span
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="tick"/>`, x, padTop+plotHeight, x, padTop+plotHeight+5)
		anchor := "middle"
		switch {
		case i == 0:
			anchor = "start"
		case i+step > hours:
			anchor = "end"
		}
		b.text(x, chartHeight-12, anchor, "axis", start.Add(time.Duration(i)*time.Hour).Format("15:04"))
	}
	return b.done()
}

// rssiHeight maps a reading to a bar height in 0..1: -100 dBm and weaker
// at 0.08, -30 dBm and stronger at 1; unknown at half height.
func rssiHeight(rssi int) float64 {
	if rssi == RSSIUnknown {
		return 0.5
	}
	f := (float64(rssi) + 100) / 70
	return 0.08 + 0.92*math.Max(0, math.Min(1, f))
}

// hourSources lists the sources present in hs, known ones first.
func hourSources(hs []HourCount) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hs {
		for s := range h.BySource {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		oa, ob := sourceRank(a), sourceRank(b)
		if oa != ob {
			return oa - ob
		}
		return strings.Compare(a, b)
	})
	return out
}

func sourceRank(s string) int {
	switch s {
	case "pact":
		return 0
	case "findmy":
		return 1
	case "repeater":
		return 2
	}
	return 3
}

// hoursChart draws sightings per hour, stacked by source, for the window
// ending at now.
func hoursChart(id string, cl ContactLog) template.HTML {
	n := cl.HourWindow
	if n <= 0 {
		return ""
	}
	end := cl.Now.UTC().Truncate(time.Hour).Add(time.Hour)
	start := end.Add(-time.Duration(n) * time.Hour)
	sources := hourSources(cl.Hours)
	var peak int64
	var total int64
	for _, h := range cl.Hours {
		var sum int64
		for _, v := range h.BySource {
			sum += v
		}
		peak = max(peak, sum)
		total += sum
	}
	top := niceCeil(float64(peak))
	desc := fmt.Sprintf("%d sightings in the last %d hours, at most %d in one hour; sources: %s.",
		total, n, peak, strings.Join(sources, ", "))
	b := newSVG(id, fmt.Sprintf("Sightings per hour by source, last %d days", n/24), desc)
	b.yAxis(top, "")
	w := float64(plotWidth) / float64(n)
	for _, h := range cl.Hours {
		i := h.Hour.Sub(start).Hours()
		if i < 0 || i >= float64(n) {
			continue
		}
		x := padLeft + w*i
		y := float64(padTop + plotHeight)
		for _, s := range sources {
			v := h.BySource[s]
			if v == 0 {
				continue
			}
			hh := plotHeight * float64(v) / top
			y -= hh
			fmt.Fprintf(b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>`, x, y, math.Max(w-0.5, 0.5), hh, sourceColour(s))
		}
	}
	// Day labels at midnight.
	days := n / 24
	step := 1
	for days/step > 7 {
		step++
	}
	for i := 0; i <= n; i++ {
		t := start.Add(time.Duration(i) * time.Hour)
		if t.Hour() != 0 {
			continue
		}
		x := padLeft + w*float64(i)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="tick"/>`, x, padTop, x, padTop+plotHeight+5)
		if t.YearDay()%step == 0 && x < chartWidth-95 {
			b.text(x+3, chartHeight-12, "start", "axis", t.Format("2 Jan"))
		}
	}
	return b.done()
}

// rssiBin is one bar of the RSSI histogram.
type rssiBin struct {
	Label     string
	Lo, Hi    int // inclusive; RSSIUnknown for the unknown bin
	Band      string
	Sightings int64
}

// rssiBins groups readings in 5 dB bins from -100 to -31 dBm, with open
// bins below and above and one for unknown readings.
func rssiBins(cs []RSSICount) []rssiBin {
	bins := []rssiBin{{Label: "< -100", Lo: -128, Hi: -101}}
	for lo := -100; lo < -30; lo += 5 {
		bins = append(bins, rssiBin{Label: fmt.Sprintf("%d", lo), Lo: lo, Hi: lo + 4})
	}
	bins = append(bins, rssiBin{Label: "≥ -30", Lo: -30, Hi: 126}, rssiBin{Label: "unknown", Lo: RSSIUnknown, Hi: RSSIUnknown})
	for i := range bins {
		bins[i].Band = rssiBand(bins[i].Hi).Name
	}
	for _, c := range cs {
		for i := range bins {
			if c.RSSI >= bins[i].Lo && c.RSSI <= bins[i].Hi {
				bins[i].Sightings += c.Sightings
				break
			}
		}
	}
	return bins
}

func histogramChart(id string, cs []RSSICount) template.HTML {
	bins := rssiBins(cs)
	var peak, total int64
	for _, b := range bins {
		peak = max(peak, b.Sightings)
		total += b.Sightings
	}
	top := niceCeil(float64(peak))
	mode := bins[0]
	for _, b := range bins {
		if b.Sightings > mode.Sightings {
			mode = b
		}
	}
	desc := fmt.Sprintf("%d sightings in 5 dB bins; the most common reading is %s dBm (%s, %d sightings).", total, mode.Label, mode.Band, mode.Sightings)
	b := newSVG(id, "Sightings by signal strength (RSSI)", desc)
	b.yAxis(top, "")
	w := float64(plotWidth) / float64(len(bins))
	for i, bin := range bins {
		x := padLeft + w*float64(i)
		h := plotHeight * float64(bin.Sightings) / top
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s dBm: %d sightings (%s)</title></rect>`,
			x+1, padTop+plotHeight-h, w-2, h, bandColour(bin.Band), html.EscapeString(bin.Label), bin.Sightings, bin.Band)
		if i%2 == 0 || i == len(bins)-1 {
			b.text(x+w/2, chartHeight-12, "middle", "axis", bin.Label)
		}
	}
	return b.done()
}
