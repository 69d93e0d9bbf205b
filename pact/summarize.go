package pact

// SummarizeContacts condenses contacts into per-day summaries exactly as
// Match does for one pass (spec §8.4), with the receiver calibration opts.
// A device that matches batch after batch stores its contacts and
// summarises all of them, so that a contact found in two batches still
// counts once. Match summarises direct and indirect contacts apart
// (MatchReport.Days and Indirect, spec §9.1.3); to do the same, summarise
// the two halves of SplitContacts separately.
func SummarizeContacts(cs []Contact, opts ScoreOptions) []DaySummary {
	ids := make(map[contactKey]int, len(cs))
	acc := newDayAccumulator(len(cs), opts)
	for i := range cs {
		k := contactKey{minute: cs[i].Heard, chirp: cs[i].Chirp}
		id, ok := ids[k]
		if !ok {
			id = len(ids)
			ids[k] = id
		}
		acc.add(&cs[i], id)
	}
	return acc.days()
}

// SplitContacts separates direct contacts from indirect ones, those heard
// from a repeater (Source.Indirect, spec §9.1.3), keeping their order.
func SplitContacts(cs []Contact) (direct, indirect []Contact) {
	for _, c := range cs {
		if c.Source.Indirect() {
			indirect = append(indirect, c)
		} else {
			direct = append(direct, c)
		}
	}
	return direct, indirect
}
