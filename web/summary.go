package web

import (
	"cmp"
	"slices"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// Match is one stored match result, whatever its source: a contact log
// entry found in an exposure batch.
type Match struct {
	Heard  time.Time // minute heard
	Source string    // SourcePACT, SourceFindMy or SourceFindMyPartial
	// Contact identifies the exposed device-hour: the seed (pact) or the
	// key (findmy), in any stable encoding. Only equality is used.
	Contact        string
	RSSI           int // RSSIUnknown when the sighting had no reading
	ReverseTracing bool
}

// Summarize condenses matches into one DaySummary per UTC day, source and
// reverse-tracing flag, newest day first, following spec §8.4: matched
// minutes are distinct minutes heard; contacts are distinct Contact
// values; the score sums, over distinct (contact, minute heard), the
// pact.ExposureWeight of the strongest reading, in ascending order of
// weight so that the sum is reproducible bit for bit.
func Summarize(ms []Match) []DaySummary {
	type dayKey struct {
		day     int64
		source  string
		reverse bool
	}
	type pairKey struct {
		contact string
		minute  int64
	}
	type acc struct {
		pairs   map[pairKey]int
		minutes map[int64]*MatchedMinute
	}
	days := map[dayKey]*acc{}
	for _, m := range ms {
		minute := m.Heard.Unix() / 60
		k := dayKey{minute / pact.MinutesPerDay, m.Source, m.ReverseTracing}
		a := days[k]
		if a == nil {
			a = &acc{pairs: map[pairKey]int{}, minutes: map[int64]*MatchedMinute{}}
			days[k] = a
		}
		p := pairKey{m.Contact, minute}
		if old, ok := a.pairs[p]; !ok || strongerRSSI(m.RSSI, old) {
			a.pairs[p] = m.RSSI
		}
		mm := a.minutes[minute]
		if mm == nil {
			mm = &MatchedMinute{At: time.Unix(minute*60, 0).UTC(), RSSI: m.RSSI}
			a.minutes[minute] = mm
		} else if strongerRSSI(m.RSSI, mm.RSSI) {
			mm.RSSI = m.RSSI
		}
	}
	out := make([]DaySummary, 0, len(days))
	for k, a := range days {
		s := DaySummary{
			Day: time.Unix(k.day*pact.MinutesPerDay*60, 0).UTC(), Source: k.source, ReverseTracing: k.reverse,
			MatchedMinutes: len(a.minutes), MaxRSSI: RSSIUnknown,
		}
		contacts := map[string]bool{}
		weights := make([]float64, 0, len(a.pairs))
		for p, rssi := range a.pairs {
			contacts[p.contact] = true
			weights = append(weights, pact.ExposureWeight(clampRSSI(rssi)))
			a.minutes[p.minute].Contacts++
			if strongerRSSI(rssi, s.MaxRSSI) {
				s.MaxRSSI = rssi
			}
		}
		slices.Sort(weights)
		for _, w := range weights {
			s.Score += w
		}
		s.Contacts = len(contacts)
		for _, mm := range a.minutes {
			s.Timeline = append(s.Timeline, *mm)
		}
		slices.SortFunc(s.Timeline, func(a, b MatchedMinute) int { return a.At.Compare(b.At) })
		out = append(out, s)
	}
	sortSummaries(out)
	return out
}

// sortSummaries orders newest day first, then PACT, Find My, partial Find
// My, then ordinary before reverse tracing.
func sortSummaries(out []DaySummary) {
	slices.SortFunc(out, func(a, b DaySummary) int {
		if c := b.Day.Compare(a.Day); c != 0 {
			return c
		}
		if c := cmp.Compare(sourceOrder(a.Source), sourceOrder(b.Source)); c != 0 {
			return c
		}
		if a.ReverseTracing != b.ReverseTracing {
			if a.ReverseTracing {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Source, b.Source)
	})
}

func sourceOrder(s string) int {
	switch s {
	case SourcePACT:
		return 0
	case SourceFindMy:
		return 1
	case SourceFindMyPartial:
		return 2
	case SourceRepeater:
		return 3
	case SourceFindMyRepeater:
		return 4
	}
	return 5
}

// strongerRSSI reports whether reading a is stronger than b, an unknown
// reading being weaker than any known one (pact.MergeRSSI).
func strongerRSSI(a, b int) bool {
	if a == RSSIUnknown {
		return false
	}
	return b == RSSIUnknown || a > b
}

func clampRSSI(v int) int8 {
	return int8(max(-128, min(127, v)))
}

// MinuteRun is a stretch of consecutive matched minutes, the unit the
// exposures page lists under each chart.
type MinuteRun struct {
	From, To  string // "08:05", UTC
	Minutes   int
	Strongest string // "-52 dBm" or "unknown"
	Band      string // "near (within 1–2 m)"
}

// minuteRuns groups a day's timeline into runs of consecutive minutes.
func minuteRuns(tl []MatchedMinute) []MinuteRun {
	var out []MinuteRun
	for i := 0; i < len(tl); {
		j, best := i+1, tl[i].RSSI
		for j < len(tl) && tl[j].At.Sub(tl[j-1].At) == time.Minute {
			if strongerRSSI(tl[j].RSSI, best) {
				best = tl[j].RSSI
			}
			j++
		}
		b := rssiBand(best)
		out = append(out, MinuteRun{
			From: tl[i].At.Format("15:04"), To: tl[j-1].At.Format("15:04"), Minutes: j - i,
			Strongest: formatRSSI(best), Band: b.Name + " (" + b.Words + ")",
		})
		i = j
	}
	return out
}
