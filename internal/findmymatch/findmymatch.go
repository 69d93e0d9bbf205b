// Package findmymatch finds the Find My keys of an exposure batch in a
// device's logs: full keys in the contact log (source findmy) and key
// prefixes in the partial sightings, each only inside the key's own
// rotation slot widened by a tolerance, as docs/findmy.md §7 specifies.
// Only keys whose proof of possession verifies take part (§7.0).
//
// It sits where exposure batches meet the logs:
// exposureclient.Batch.FindMy -> Verified -> Match <- devicedb (contact
// log, partial sightings) -> []devicedb.FindMyMatch ->
// devicedb.BatchTx.AddFindMyMatches.
package findmymatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Tolerances around a key's slot (docs/findmy.md §7.1): one rotation
// period of the key's kind, for a key index that drifts by one.
const (
	// PrimaryTolerance widens the slot of a primary (near-owner) key on
	// each side: one 15-minute rotation period.
	PrimaryTolerance pact.Minute = 15
	// SecondaryTolerance widens the slot of a secondary key of a separated
	// accessory, rotating daily, on each side: one day.
	SecondaryTolerance pact.Minute = pact.MinutesPerDay
)

// ErrWindow is wrapped by Match when a key's window ends before it starts.
var ErrWindow = errors.New("findmymatch: key window ends before it starts")

// Sightings is what Match reads; *devicedb.DB implements it.
type Sightings interface {
	// FindMySightings calls fn for every contact-log sighting of source
	// findmy or findmy-repeater heard in [from, to].
	FindMySightings(ctx context.Context, from, to pact.Minute, fn func(pact.Sighting) error) error
	// PartialSightings calls fn for every partial sighting heard in
	// [from, to].
	PartialSightings(ctx context.Context, from, to pact.Minute, fn func(devicedb.PartialSighting) error) error
}

var _ Sightings = (*devicedb.DB)(nil)

// Options tune Match.
type Options struct {
	// BatchID is stored in every match result, naming the batch that
	// published the keys.
	BatchID string
}

// KindOf returns the kind of a published key (docs/findmy.md §8.1).
func KindOf(k *exposureclient.FindMyKey) findmy.KeyKind {
	if k.Secondary {
		return findmy.SecondaryKey
	}
	return findmy.PrimaryKey
}

// Tolerance returns how far before its start and after its end a key of
// the kind may be heard: one rotation period (docs/findmy.md §7.1).
func Tolerance(kind findmy.KeyKind) pact.Minute {
	if kind == findmy.SecondaryKey {
		return SecondaryTolerance
	}
	return PrimaryTolerance
}

// Span returns the minutes in which a key of the kind published with
// window [start, end] counts: the window widened by its tolerance, clamped
// to the range of pact.Minute.
func Span(start, end pact.Minute, kind findmy.KeyKind) (lo, hi pact.Minute) {
	t := Tolerance(kind)
	lo, hi = start-t, end+t
	if start < t {
		lo = 0
	}
	if hi < end {
		hi = ^pact.Minute(0)
	}
	return lo, hi
}

// prefix46 is the part of a key that every partial sighting carries: key
// bits 45..0 of bytes 0..5, without the two top bits of byte 0 that a
// random static address forces to 1 (docs/findmy.md §3.2).
func prefix46(p []byte) uint64 {
	return uint64(p[0]&0x3F)<<40 | uint64(p[1])<<32 | uint64(p[2])<<24 | uint64(p[3])<<16 | uint64(p[4])<<8 | uint64(p[5])
}

// PrefixMatches reports whether the partial sighting p agrees with key on
// all its significant bits: 46 for a DULT frame, 48 for a short-form
// Offline Finding frame (docs/findmy.md §7.2).
func PrefixMatches(key *findmy.Key, p *devicedb.PartialSighting) bool {
	switch p.Bits {
	case devicedb.PartialBitsDULT:
		return prefix46(key[:]) == prefix46(p.Prefix[:])
	case devicedb.PartialBitsShort:
		return [6]byte(key[:6]) == [6]byte(p.Prefix)
	}
	return false
}

// entry is one published key with the minutes it counts in: [lo, hi]
// heard directly, [lo, repeatedHi] heard from a repeater.
type entry struct {
	key        findmy.Key
	start, end pact.Minute
	lo, hi     pact.Minute
	secondary  bool
	repeatedHi pact.Minute
}

// RepeatedSpan returns the minutes in which a key of the kind published
// with window [start, end] counts when heard from a repeater (source
// findmy-repeater): Span with its end moved MaxRepeatDelay minutes later,
// because a repeater passes a key on up to that long after it heard it
// (spec §9.1.4).
func RepeatedSpan(start, end pact.Minute, kind findmy.KeyKind) (lo, hi pact.Minute) {
	lo, hi = Span(start, end, kind)
	if hi+pact.MaxRepeatDelay < hi {
		return lo, ^pact.Minute(0)
	}
	return lo, hi + pact.MaxRepeatDelay
}

// hit is the evidence gathered for one (minute heard, key entry).
type hit struct {
	heard pact.Minute
	entry int32
	rssi  int8
	bits  uint8
}

// Match returns the minutes in which the device heard one of keys inside
// the key's slot and tolerance (docs/findmy.md §7). It does not look at
// proofs: keys come from Verified, as MatchBatch does it. Every contact-log
// sighting of source findmy whose chirp is the key, as EvidenceFindMy, and
// every partial sighting whose significant bits agree with a primary key,
// as EvidenceFindMyPartial, but a key's partial evidence only if the key
// whose slot starts right after its slot ends, or ends right before it
// starts, was heard too (the two-slot rule, §7.3). Results are ordered by
// minute heard, key and evidence, one per (minute, key, evidence) with the
// strongest RSSI of that minute.
//
// Each stretch of minutes that some key's span covers is read once, so the
// cost is one pass over those minutes of the logs plus a hash look-up per
// row.
func Match(ctx context.Context, src Sightings, keys []exposureclient.FindMyKey, opts Options) ([]devicedb.FindMyMatch, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	entries := make([]entry, len(keys))
	full := make(map[findmy.Key][]int32, len(keys))
	byPrefix := make(map[uint64][]int32, len(keys))
	for i, k := range keys {
		if k.End < k.Start {
			return nil, fmt.Errorf("findmymatch: key %d (%s): window %v..%v: %w", i, k.Key, k.Start, k.End, ErrWindow)
		}
		e := entry{key: k.Key, start: k.Start, end: k.End, secondary: k.Secondary}
		e.lo, e.hi = Span(k.Start, k.End, KindOf(&k))
		_, e.repeatedHi = RepeatedSpan(k.Start, k.End, KindOf(&k))
		entries[i] = e
		full[k.Key] = append(full[k.Key], int32(i))
		// An accessory sends its prefix only near its owner, with its
		// primary key (§7.2).
		if !k.Secondary {
			p := prefix46(k.Key[:])
			byPrefix[p] = append(byPrefix[p], int32(i))
		}
	}

	fullSightings, err := fullKeySightings(ctx, src, keys)
	if err != nil {
		return nil, err
	}
	var fullHits, partialHits, repeatedHits []hit
	for _, r := range spans(entries) {
		err := fullSightings(ctx, r.lo, r.hi, func(s pact.Sighting) error {
			for _, i := range full[findmy.Key(s.Chirp)] {
				e := &entries[i]
				switch {
				case s.Source == pact.SourceFindMyRepeater && e.lo <= s.Minute && s.Minute <= e.repeatedHi:
					repeatedHits = append(repeatedHits, hit{heard: s.Minute, entry: i, rssi: s.RSSI, bits: devicedb.FullKeyBits})
				case s.Source != pact.SourceFindMyRepeater && e.lo <= s.Minute && s.Minute <= e.hi:
					fullHits = append(fullHits, hit{heard: s.Minute, entry: i, rssi: s.RSSI, bits: devicedb.FullKeyBits})
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("findmymatch: full keys %v..%v: %w", r.lo, r.hi, err)
		}
		err = src.PartialSightings(ctx, r.lo, r.hi, func(p devicedb.PartialSighting) error {
			for _, i := range byPrefix[prefix46(p.Prefix[:])] {
				e := &entries[i]
				if e.lo <= p.Minute && p.Minute <= e.hi && PrefixMatches(&e.key, &p) {
					partialHits = append(partialHits, hit{heard: p.Minute, entry: i, rssi: p.RSSI, bits: p.Bits})
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("findmymatch: partial keys %v..%v: %w", r.lo, r.hi, err)
		}
	}

	heard := make([]bool, len(entries))
	for _, h := range fullHits {
		heard[h.entry] = true
	}
	for _, h := range partialHits {
		heard[h.entry] = true
	}
	corroborated := twoSlot(entries, heard)

	out := make([]devicedb.FindMyMatch, 0, len(fullHits)+len(partialHits)+len(repeatedHits))
	for _, h := range fullHits {
		out = append(out, result(&entries[h.entry], h, devicedb.EvidenceFindMy, opts.BatchID))
	}
	// A key heard from a repeater is an indirect contact: it is reported
	// under its own evidence and corroborates no partial sighting.
	for _, h := range repeatedHits {
		out = append(out, result(&entries[h.entry], h, devicedb.EvidenceFindMyRepeater, opts.BatchID))
	}
	for _, h := range partialHits {
		if corroborated[h.entry] {
			out = append(out, result(&entries[h.entry], h, devicedb.EvidenceFindMyPartial, opts.BatchID))
		}
	}
	return merge(out), nil
}

// sealedSightings is implemented by *devicedb.DB: a contact log that may be
// hidden (spec §9.3), where rows of given keys are found by tag and opened.
type sealedSightings interface {
	ContactLogSealed(ctx context.Context) (bool, error)
	OpenSightingsOf(ctx context.Context, from, to pact.Minute, chirps []pact.Chirp, fn func(pact.Sighting) error) error
}

// fullKeySightings returns how Match reads the full-key sightings of src:
// FindMySightings, or for a hidden log the sightings of the published
// keys alone, opened with them, of source findmy or findmy-repeater (a
// key heard from a repeater, spec §9.1.4), as FindMySightings reads.
func fullKeySightings(ctx context.Context, src Sightings, keys []exposureclient.FindMyKey) (func(context.Context, pact.Minute, pact.Minute, func(pact.Sighting) error) error, error) {
	ss, ok := src.(sealedSightings)
	if !ok {
		return src.FindMySightings, nil
	}
	hidden, err := ss.ContactLogSealed(ctx)
	if err != nil {
		return nil, fmt.Errorf("findmymatch: %w", err)
	}
	if !hidden {
		return src.FindMySightings, nil
	}
	chirps := make([]pact.Chirp, len(keys))
	for i := range keys {
		chirps[i] = pact.Chirp(keys[i].Key)
	}
	return func(ctx context.Context, from, to pact.Minute, fn func(pact.Sighting) error) error {
		return ss.OpenSightingsOf(ctx, from, to, chirps, func(s pact.Sighting) error {
			if s.Source != pact.SourceFindMy && s.Source != pact.SourceFindMyRepeater {
				return nil
			}
			return fn(s)
		})
	}, nil
}

func result(e *entry, h hit, ev devicedb.Evidence, batch string) devicedb.FindMyMatch {
	return devicedb.FindMyMatch{
		Heard: h.heard, Key: e.key, Evidence: ev, Bits: h.bits,
		WindowStart: e.start, WindowEnd: e.end, RSSI: h.rssi, Batch: batch, Secondary: e.secondary,
	}
}

// twoSlot marks the keys whose partial evidence counts: those with a
// neighbour, a key of the same batch whose window starts the minute after
// theirs ends or ends the minute before theirs starts, that was heard
// itself, fully or by prefix (docs/findmy.md §7.3).
func twoSlot(entries []entry, heard []bool) []bool {
	startsAt := make(map[pact.Minute][]int32)
	endsAt := make(map[pact.Minute][]int32)
	for i := range entries {
		if heard[i] {
			startsAt[entries[i].start] = append(startsAt[entries[i].start], int32(i))
			endsAt[entries[i].end] = append(endsAt[entries[i].end], int32(i))
		}
	}
	ok := make([]bool, len(entries))
	for i := range entries {
		e := &entries[i]
		if !heard[i] {
			continue
		}
		if e.end != ^pact.Minute(0) && len(startsAt[e.end+1]) > 0 {
			ok[i] = true
		} else if e.start != 0 && len(endsAt[e.start-1]) > 0 {
			ok[i] = true
		}
	}
	return ok
}

// merge sorts the results and keeps one per (minute, key, evidence): the
// widest evidence and strongest RSSI, and, when a key was published with
// several windows, the first window that holds the minute.
func merge(ms []devicedb.FindMyMatch) []devicedb.FindMyMatch {
	slices.SortStableFunc(ms, func(a, b devicedb.FindMyMatch) int {
		if c := cmp.Compare(a.Heard, b.Heard); c != 0 {
			return c
		}
		if c := slices.Compare(a.Key[:], b.Key[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Evidence, b.Evidence)
	})
	out := ms[:0]
	for _, m := range ms {
		if n := len(out); n > 0 && out[n-1].Heard == m.Heard && out[n-1].Key == m.Key && out[n-1].Evidence == m.Evidence {
			last := &out[n-1]
			last.RSSI = pact.MergeRSSI(last.RSSI, m.RSSI)
			last.Bits = max(last.Bits, m.Bits)
			if !inWindow(last) && inWindow(&m) {
				last.WindowStart, last.WindowEnd = m.WindowStart, m.WindowEnd
			}
			continue
		}
		out = append(out, m)
	}
	return out
}

func inWindow(m *devicedb.FindMyMatch) bool {
	return m.WindowStart <= m.Heard && m.Heard <= m.WindowEnd
}

type minuteRange struct{ lo, hi pact.Minute }

// spans returns the union of the entries' spans as disjoint ranges in
// ascending order, so that each minute of the logs is read once.
func spans(entries []entry) []minuteRange {
	rs := make([]minuteRange, len(entries))
	for i, e := range entries {
		rs[i] = minuteRange{e.lo, e.repeatedHi}
	}
	slices.SortFunc(rs, func(a, b minuteRange) int { return cmp.Compare(a.lo, b.lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.lo <= last.hi || r.lo-last.hi == 1 {
			last.hi = max(last.hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Verified returns the keys of a batch of region whose proof of possession
// verifies (docs/findmy.md §7.0, §8.3), in their order, and how many were
// dropped. A version-1 batch's keys carry no proof and are all dropped.
func Verified(keys []exposureclient.FindMyKey, region string) (kept []exposureclient.FindMyKey, dropped int) {
	kept = make([]exposureclient.FindMyKey, 0, len(keys))
	for i := range keys {
		k := &keys[i]
		st := findmy.Statement{Key: k.Key, Kind: KindOf(k), Start: uint32(k.Start), End: uint32(k.End), Region: region}
		if findmy.VerifyProof(st, findmy.Proof(k.Proof)) != nil {
			dropped++
			continue
		}
		kept = append(kept, *k)
	}
	return kept, dropped
}

// Stats counts what a Matcher has seen since it was made.
type Stats struct {
	// Keys is the Find My keys of the batches matched; Dropped of them
	// failed their proof of possession and took no part (§7.0).
	Keys, Dropped uint64
}

// Matcher binds Match to a device's logs, for a sync that hands it each
// batch it applies.
type Matcher struct {
	src           Sightings
	keys, dropped atomic.Uint64
}

// New returns a Matcher over src.
func New(src Sightings) *Matcher { return &Matcher{src: src} }

// Stats returns the counts so far.
func (m *Matcher) Stats() Stats { return Stats{Keys: m.keys.Load(), Dropped: m.dropped.Load()} }

// MatchBatch verifies the proofs of the Find My keys of b and matches the
// keys that pass (docs/findmy.md §7), naming b.ID in the results.
func (m *Matcher) MatchBatch(ctx context.Context, b *exposureclient.Batch) ([]devicedb.FindMyMatch, error) {
	keys, dropped := Verified(b.FindMy, b.Region)
	m.keys.Add(uint64(len(b.FindMy)))
	m.dropped.Add(uint64(dropped))
	ms, err := Match(ctx, m.src, keys, Options{BatchID: b.ID})
	if err != nil {
		return nil, fmt.Errorf("findmymatch: batch %s: %w", b.ID, err)
	}
	return ms, nil
}
