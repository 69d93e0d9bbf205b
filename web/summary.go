package web

import (
	"cmp"
	"crypto/sha256"
	"slices"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// Match is one stored match result, whatever its source: a contact log
// entry found in an exposure batch.
type Match struct {
	Heard  time.Time // minute heard
	Source string    // SourcePACT, SourceFindMy, SourceFindMyPartial or SourceFindMySeparated
	// Contact identifies the exposed device-hour: the seed (pact) or the
	// key (findmy), in any stable encoding. Only equality is used.
	Contact        string
	RSSI           int // RSSIUnknown when the sighting had no reading
	ReverseTracing bool
}

// observation is m as an input of the exposure score. A Match carries no
// TX power, so it counts as unknown; the PACT days of DeviceStats come
// from devicedb.ExposureDays, which has it.
func (m *Match) observation() pact.Observation {
	return pact.Observation{
		Device: sha256.Sum256([]byte(m.Contact)), FindMy: m.Source != SourcePACT,
		Heard: minuteOf(m.Heard), RSSI: clampRSSI(m.RSSI), TxPower: pact.TxPowerUnknown,
	}
}

// Summarize condenses matches into one DaySummary per UTC day, source and
// reverse-tracing flag, newest day first, following spec §8.4: matched
// minutes are distinct minutes heard; contacts are distinct Contact
// values; the score and its rolling 24-hour peak are pact.ScoreDays of
// the group's matches with the receiver calibration opts.
func Summarize(ms []Match, opts pact.ScoreOptions) []DaySummary {
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
	type groupKey struct {
		source  string
		reverse bool
	}
	groups := map[groupKey][]pact.Observation{}
	days := map[dayKey]*acc{}
	for _, m := range ms {
		minute := m.Heard.Unix() / 60
		k := dayKey{minute / pact.MinutesPerDay, m.Source, m.ReverseTracing}
		a := days[k]
		if a == nil {
			a = &acc{pairs: map[pairKey]int{}, minutes: map[int64]*MatchedMinute{}}
			days[k] = a
		}
		g := groupKey{m.Source, m.ReverseTracing}
		groups[g] = append(groups[g], m.observation())
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
	scores := map[dayKey]pact.DayScore{}
	for g, obs := range groups {
		for _, sc := range pact.ScoreDays(obs, opts) {
			scores[dayKey{int64(sc.Day), g.source, g.reverse}] = sc
		}
	}
	out := make([]DaySummary, 0, len(days))
	for k, a := range days {
		s := DaySummary{
			Day: time.Unix(k.day*pact.MinutesPerDay*60, 0).UTC(), Source: k.source, ReverseTracing: k.reverse,
			MatchedMinutes: len(a.minutes), MaxRSSI: RSSIUnknown,
			Score: scores[k].Score, Peak24h: scores[k].Peak24h,
		}
		contacts := map[string]bool{}
		for p, rssi := range a.pairs {
			contacts[p.contact] = true
			a.minutes[p.minute].Contacts++
			if strongerRSSI(rssi, s.MaxRSSI) {
				s.MaxRSSI = rssi
			}
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

// SplitReverse returns the ordinary summaries of days and, apart, the
// reverse-tracing ones (spec §9.2), each in the order of days.
func SplitReverse(days []DaySummary) (ordinary, possible []DaySummary) {
	for _, d := range days {
		if d.ReverseTracing {
			possible = append(possible, d)
		} else {
			ordinary = append(ordinary, d)
		}
	}
	return ordinary, possible
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
	case SourceFindMySeparated:
		return 3
	case SourceRepeater:
		return 4
	case SourceFindMyRepeater:
		return 5
	}
	return 6
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
