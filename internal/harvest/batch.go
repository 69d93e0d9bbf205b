package harvest

import (
	"github.com/pact-findmy/pact-findmy/pact"
)

// Batch collects sightings for the contact log, keeping one per (chirp,
// minute) with the strongest RSSI, as the log itself does (spec §5.2). A
// device repeats its chirp or key many times a minute, so merging before
// the database turns thousands of frames into a handful of rows.
type Batch struct {
	index map[batchKey]int
	rows  []pact.Sighting
	added uint64
}

type batchKey struct {
	chirp  pact.Chirp
	minute pact.Minute
}

// NewBatch returns an empty batch sized for about n distinct sightings.
func NewBatch(n int) *Batch {
	return &Batch{index: make(map[batchKey]int, n), rows: make([]pact.Sighting, 0, n)}
}

// Add merges s into the batch.
func (b *Batch) Add(s pact.Sighting) {
	b.added++
	k := batchKey{s.Chirp, s.Minute}
	if i, ok := b.index[k]; ok {
		b.rows[i].RSSI = pact.MergeRSSI(b.rows[i].RSSI, s.RSSI)
		b.rows[i].Source = pact.PreferDirect(b.rows[i].Source, s.Source)
		if b.rows[i].Location == nil {
			b.rows[i].Location = s.Location
		}
		if b.rows[i].TxPower == pact.TxPowerUnknown {
			b.rows[i].TxPower = s.TxPower
		}
		return
	}
	b.index[k] = len(b.rows)
	b.rows = append(b.rows, s)
}

// Len is the number of distinct sightings held.
func (b *Batch) Len() int { return len(b.rows) }

// Added is the number of sightings passed to Add since the last Take.
func (b *Batch) Added() uint64 { return b.added }

// Take returns the merged sightings and empties the batch. The returned
// slice is the caller's; the batch starts a new one.
func (b *Batch) Take() []pact.Sighting {
	rows := b.rows
	b.rows = make([]pact.Sighting, 0, cap(rows))
	clear(b.index)
	b.added = 0
	return rows
}
