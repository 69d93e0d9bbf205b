package findmymatch

import (
	"cmp"
	"slices"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// DaySummary condenses one UTC day of Find My matches of one kind of
// evidence (docs/findmy.md §7.4).
type DaySummary struct {
	// Day counts days since 1970-01-01 (pact.Minute.Day of the minute heard).
	Day      uint32
	Evidence devicedb.Evidence
	// Secondary is set for full matches of secondary keys, counted apart
	// as findmy-separated (docs/findmy.md §7.6).
	Secondary bool
	// Minutes is the number of distinct minutes heard.
	Minutes int
	// Contacts is the number of distinct keys: device-slots.
	Contacts int
	// MaxRSSI is the strongest reading, or pact.RSSIUnknown if none had one.
	MaxRSSI int8
	// Score sums pact.ExposureWeight of the strongest reading over the
	// distinct (key, minute heard).
	Score float64
}

type keyMinute struct {
	key    findmy.Key
	minute pact.Minute
}

// Summarize returns one summary per day, evidence and kind of ms, ordered
// by day, evidence, then primary before secondary (docs/findmy.md §7.4).
func Summarize(ms []devicedb.FindMyMatch) []DaySummary {
	type group struct {
		day       uint32
		ev        devicedb.Evidence
		secondary bool
	}
	type acc struct {
		minutes map[pact.Minute]struct{}
		keys    map[findmy.Key]struct{}
		best    map[keyMinute]int8
	}
	groups := map[group]*acc{}
	for _, m := range ms {
		g := group{m.Heard.Day(), m.Evidence, m.Secondary}
		a := groups[g]
		if a == nil {
			a = &acc{minutes: map[pact.Minute]struct{}{}, keys: map[findmy.Key]struct{}{}, best: map[keyMinute]int8{}}
			groups[g] = a
		}
		a.minutes[m.Heard] = struct{}{}
		a.keys[m.Key] = struct{}{}
		km := keyMinute{m.Key, m.Heard}
		if r, ok := a.best[km]; ok {
			a.best[km] = pact.MergeRSSI(r, m.RSSI)
		} else {
			a.best[km] = m.RSSI
		}
	}
	out := make([]DaySummary, 0, len(groups))
	for g, a := range groups {
		s := DaySummary{Day: g.day, Evidence: g.ev, Secondary: g.secondary, Minutes: len(a.minutes), Contacts: len(a.keys), MaxRSSI: pact.RSSIUnknown}
		// Summed in sorted order, so that the score does not depend on
		// the order of the map.
		weights := make([]float64, 0, len(a.best))
		for _, r := range a.best {
			s.MaxRSSI = pact.MergeRSSI(s.MaxRSSI, r)
			weights = append(weights, pact.ExposureWeight(r))
		}
		slices.Sort(weights)
		for _, w := range weights {
			s.Score += w
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b DaySummary) int {
		if c := cmp.Compare(a.Day, b.Day); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Evidence, b.Evidence); c != 0 {
			return c
		}
		if a.Secondary != b.Secondary {
			if a.Secondary {
				return 1
			}
			return -1
		}
		return 0
	})
	return out
}
