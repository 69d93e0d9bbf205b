package web

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// band describes an RSSI reading in the words of docs/matching.md §8.4.
type band struct {
	Name   string // near, medium, far, distant, unknown
	Words  string // "within 1–2 m"
	Weight float64
}

func rssiBand(rssi int) band {
	switch {
	case rssi == RSSIUnknown:
		return band{"unknown", "in radio range, distance unknown", pact.WeightUnknown}
	case rssi >= int(pact.RSSINear):
		return band{"near", "within 1–2 m", pact.WeightNear}
	case rssi >= int(pact.RSSIMedium):
		return band{"medium", "within about 3 m", pact.WeightMedium}
	case rssi >= int(pact.RSSIFar):
		return band{"far", "within about 8 m", pact.WeightFar}
	}
	return band{"distant", "across a room or through a wall", pact.WeightDistant}
}

// strengthWords says how strong an exposure score is. The score reads as
// minutes at close range (docs/matching.md §8.4); the thresholds follow
// the usual public-health notion of a close contact, 15 minutes at close
// range.
func strengthWords(score float64) string {
	switch {
	case score >= 15:
		return "strong"
	case score >= 5:
		return "moderate"
	case score >= 1:
		return "weak"
	}
	return "very weak"
}

func sourceWords(s string) string {
	switch s {
	case SourcePACT:
		return "native PACT chirps"
	case SourceFindMy:
		return "a Find My key"
	case SourceFindMyPartial:
		return "a partial Find My key (prefix only)"
	case SourceFindMySeparated:
		return "a separated Find My accessory (near a diagnosed person's item, not the person)"
	case SourceRepeater:
		return "native PACT chirps heard from a repeater"
	case SourceFindMyRepeater:
		return "a Find My key heard from a repeater"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func formatScore(s float64) string {
	if s == math.Trunc(s) {
		return fmt.Sprintf("%.0f", s)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", s), "0"), ".")
}

func formatRSSI(rssi int) string {
	if rssi == RSSIUnknown {
		return "unknown"
	}
	return fmt.Sprintf("%d dBm", rssi)
}

func dayWords(t time.Time) string { return t.UTC().Format("2 Jan") }

// daySentence describes one day of one source in words, e.g. "Exposed on
// 3 Nov: about 25 minutes at close range, strong (31 matched minutes,
// 2 contacts, strongest signal -52 dBm, within 1–2 m), through native
// PACT chirps."
func daySentence(d DaySummary) string {
	b := rssiBand(d.MaxRSSI)
	strongest := "no signal strength recorded"
	if d.MaxRSSI != RSSIUnknown {
		strongest = fmt.Sprintf("strongest signal %s, %s", formatRSSI(d.MaxRSSI), b.Words)
	}
	return fmt.Sprintf("Exposed on %s: about %s at close range, %s (%s, %s, %s), through %s.",
		dayWords(d.Day), plural(int(math.Round(d.Score)), "minute", "minutes"), strengthWords(d.Score),
		plural(d.MatchedMinutes, "matched minute", "matched minutes"), plural(d.Contacts, "contact", "contacts"),
		strongest, sourceWords(d.Source))
}

// headline is the exposure status in words, the first thing the overview
// says.
type headline struct {
	Exposed bool
	Title   string   // one short sentence
	Detail  string   // the figures behind Title
	Lines   []string // one sentence per other day, newest first
}

// shortSentence is the headline of a day: "Exposed on 3 Nov: about 16
// minutes at close range."
func shortSentence(d DaySummary) string {
	return fmt.Sprintf("Exposed on %s: about %s at close range.", dayWords(d.Day), plural(int(math.Round(d.Score)), "minute", "minutes"))
}

// detailSentence gives the figures: "Strong: 25 matched minutes, 1
// contact, strongest signal -52 dBm (within 1–2 m), through native PACT
// chirps."
func detailSentence(d DaySummary) string {
	strongest := "no signal strength recorded"
	if d.MaxRSSI != RSSIUnknown {
		strongest = fmt.Sprintf("strongest signal %s (%s)", formatRSSI(d.MaxRSSI), rssiBand(d.MaxRSSI).Words)
	}
	s := strengthWords(d.Score)
	return fmt.Sprintf("%s%s exposure: %s, %s, %s, through %s.", strings.ToUpper(s[:1]), s[1:],
		plural(d.MatchedMinutes, "matched minute", "matched minutes"), plural(d.Contacts, "contact", "contacts"),
		strongest, sourceWords(d.Source))
}

func statusHeadline(st Status) headline {
	ordinary := st.Days
	if len(ordinary) == 0 {
		return headline{Title: fmt.Sprintf("No exposure found in the last %d days.", st.WindowDays)}
	}
	// The strongest day leads; the others follow newest first.
	best := 0
	for i, d := range ordinary {
		if d.Score > ordinary[best].Score {
			best = i
		}
	}
	h := headline{Exposed: true, Title: shortSentence(ordinary[best]), Detail: detailSentence(ordinary[best])}
	for i, d := range ordinary {
		if i != best {
			h.Lines = append(h.Lines, daySentence(d))
		}
	}
	return h
}

// The words of a reverse-tracing match (spec §9.2). They are normative:
// a device says this, and no exposure words, when its contact log matches
// a seed or key its uploader flagged for reverse tracing.
const (
	// PossibleSourceTitle is what the device tells its owner.
	PossibleSourceTitle = "You may have been the source: consider a test."
	// possibleSourceExplanation says what it means and what it does not.
	possibleSourceExplanation = "Someone who was near this device was later diagnosed and asked to reach whoever may have passed the infection on to them, on the days listed. This is not an exposure notice: it does not say that they exposed you. You may carry the infection without symptoms; a test tells you, and protects the people around you."
)

// possibleSourceSentence describes one day of reverse-tracing matches of
// one source, e.g. "On 3 Nov: 12 matched minutes, 1 contact, strongest
// signal -52 dBm (within 1–2 m), through native PACT chirps."
func possibleSourceSentence(d DaySummary) string {
	strongest := "no signal strength recorded"
	if d.MaxRSSI != RSSIUnknown {
		strongest = fmt.Sprintf("strongest signal %s (%s)", formatRSSI(d.MaxRSSI), rssiBand(d.MaxRSSI).Words)
	}
	return fmt.Sprintf("On %s: %s, %s, %s, through %s.", dayWords(d.Day),
		plural(d.MatchedMinutes, "matched minute", "matched minutes"), plural(d.Contacts, "contact", "contacts"),
		strongest, sourceWords(d.Source))
}

// summarySentence is daySentence for an ordinary day and
// possibleSourceSentence for a reverse-tracing one.
func summarySentence(d DaySummary) string {
	if d.ReverseTracing {
		return possibleSourceSentence(d)
	}
	return daySentence(d)
}

// scoreExplanation is docs/matching.md §8.4 in a few sentences.
const scoreExplanation = `The score reads as minutes at close range. For every minute in which an exposed device was heard, the strongest signal of that minute counts by its attenuation, the sender's transmit power minus the signal received (corrected by this receiver's calibration): 1 for near (up to 55 dB, -60 dBm or stronger from a typical phone, within 1–2 m), 0.5 for medium (56–65 dB, about 3 m), 0.25 for far (66–75 dB, about 8 m), nothing for distant (weaker, across a hall or through a wall) and 0.5 when the strength is unknown. A device heard again within 5 minutes is counted for the minutes in between, since phones listen in bursts. Ten minutes next to one exposed person score 10; ten minutes at 5 m score 2.5; two exposed people at arm's length for ten minutes score 20; a neighbour heard through a wall all night scores nothing. A person's phone and AirTag heard in the same minute count once. Signal strength varies by several dB with body position and phone model, so the bands are coarse on purpose.`
