package harvest

import (
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

// ShortFormBits is how many key bits a short-form Offline Finding frame
// carries: 46 in the random static address and 2 in the payload
// (docs/findmy.md §3.2).
const ShortFormBits = 48

// DULTBits is how many key bits a DULT frame of the Apple network carries:
// the 46 bits of its random static address below the two forced top bits
// (docs/findmy.md §3.5); its prefix is stored with those two bits cleared.
const DULTBits = 46

// PartialSighting is a key prefix heard in one minute: what a short-form
// frame yields (docs/findmy.md §3.2). It never enters the contact log; it
// is kept apart for Find My prefix matching (docs/findmy.md §7.2).
type PartialSighting struct {
	Minute pact.Minute
	// Prefix is key bytes 0..5 as far as Bits reaches.
	Prefix findmy.Prefix
	// Bits is the number of significant key bits, from the top of byte 0.
	Bits uint8
	RSSI int8
}

// Partial returns the partial sighting of a KindFindMyPartial (48 bits)
// or KindFindMyDULT (46 bits) result.
func (r *Result) Partial() PartialSighting {
	bits := uint8(ShortFormBits)
	if r.Kind == KindFindMyDULT {
		bits = DULTBits
	}
	return PartialSighting{Minute: r.Minute, Prefix: r.Prefix, Bits: bits, RSSI: r.RSSI}
}

// PartialBatch collects partial sightings, one per (prefix, width, minute)
// with the strongest RSSI, as Batch does for the contact log.
type PartialBatch struct {
	index map[partialKey]int
	rows  []PartialSighting
}

type partialKey struct {
	prefix findmy.Prefix
	bits   uint8
	minute pact.Minute
}

// NewPartialBatch returns an empty batch sized for about n distinct rows.
func NewPartialBatch(n int) *PartialBatch {
	return &PartialBatch{index: make(map[partialKey]int, n), rows: make([]PartialSighting, 0, n)}
}

// Add merges p into the batch.
func (b *PartialBatch) Add(p PartialSighting) {
	k := partialKey{p.Prefix, p.Bits, p.Minute}
	if i, ok := b.index[k]; ok {
		b.rows[i].RSSI = pact.MergeRSSI(b.rows[i].RSSI, p.RSSI)
		return
	}
	b.index[k] = len(b.rows)
	b.rows = append(b.rows, p)
}

// Len is the number of distinct partial sightings held.
func (b *PartialBatch) Len() int { return len(b.rows) }

// Take returns the merged rows and empties the batch; the slice is the
// caller's.
func (b *PartialBatch) Take() []PartialSighting {
	rows := b.rows
	b.rows = make([]PartialSighting, 0, cap(rows))
	clear(b.index)
	return rows
}
