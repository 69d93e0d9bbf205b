// Package harvest turns advertising reports into sightings: Apple Offline
// Finding keys (docs/findmy.md) and native PACT chirps (spec §7) become
// pact.Sightings for the contact log; short Find My frames become partial
// sightings that never enter it; everything else is counted and dropped.
//
// It sits between the transport and the contact log:
// hci.AdvReport -> Harvester.Parse -> Result -> contact log or output.
package harvest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Kind classifies one advertising report.
type Kind uint8

// Report kinds. Only KindFindMy, KindPACT, KindRepeated and
// KindFindMyRepeated yield contact-log sightings (Kind.IsSighting).
const (
	// KindOther: advertising data that is neither Apple's nor PACT's.
	KindOther Kind = iota
	// KindIgnoredPDU: a PDU that cannot carry a key (scan response,
	// directed or scannable advertising).
	KindIgnoredPDU
	// KindIncomplete: an extended report whose data is incomplete
	// (more to come, or cut short by the controller).
	KindIncomplete
	// KindMalformed: broken AD structures or a broken Find My or PACT frame.
	KindMalformed
	// KindAppleOther: Apple data of another type (AirPods pairing, nearby
	// info, ...), which carries no key.
	KindAppleOther
	// KindFindMy: a full Offline Finding frame with a key on P-224.
	KindFindMy
	// KindFindMyInvalid: a full Offline Finding frame whose key is not on
	// P-224; kept out of the contact log.
	KindFindMyInvalid
	// KindFindMyPartial: a short Offline Finding frame: a key prefix only.
	KindFindMyPartial
	// KindPACT: a native PACT chirp advertisement.
	KindPACT
	// KindUntimed: a report without a timestamp (a pcapng Simple Packet
	// Block has none). Its minute is unknown, so it yields no sighting: a
	// chirp logged at a made-up minute would be a false record.
	KindUntimed
	// KindFindMyDULT: a DULT location-enabled frame of the Apple network
	// from a key-derived (random static) address, as an AirTag (2nd
	// generation) sends near its owner: a 46-bit key prefix, logged as a
	// partial sighting (docs/findmy.md §3.5).
	KindFindMyDULT
	// KindDULTOther: a DULT frame of another network, or of the Apple
	// network from an address that carries no key bits. Counted per
	// network (Harvester.DULTNetworks), never logged as a key.
	KindDULTOther
	// KindRepeated: a native frame version 2 with the repeated flag that
	// carries a chirp, re-broadcast by a repeater (docs/native-frame.md
	// §7.6, spec §9.1); logged with source repeater.
	KindRepeated
	// KindFindMyRepeated: a repeated version-2 PACT frame of kind Find My
	// key whose key is on P-224 (spec §9.1.4); logged with source
	// findmy-repeater. A repeated key off the curve is KindFindMyInvalid.
	KindFindMyRepeated
	// KindRepeatedStale: a repeated frame whose age exceeds
	// pact.MaxRepeatDelay. No honest repeater sends one and no match
	// could use it, so it is counted and dropped (spec §9.1.3).
	KindRepeatedStale

	// NumKinds is the number of kinds, for arrays indexed by Kind.
	NumKinds
)

var kindNames = [NumKinds]string{
	KindOther:          "other",
	KindIgnoredPDU:     "ignored-pdu",
	KindIncomplete:     "incomplete",
	KindMalformed:      "malformed",
	KindAppleOther:     "apple-other",
	KindFindMy:         "findmy",
	KindFindMyInvalid:  "findmy-invalid",
	KindFindMyPartial:  "findmy-partial",
	KindPACT:           "pact",
	KindUntimed:        "untimed",
	KindFindMyDULT:     "findmy-dult",
	KindDULTOther:      "dult-other",
	KindRepeated:       "repeater",
	KindFindMyRepeated: "findmy-repeater",
	KindRepeatedStale:  "repeated-stale",
}

// IsSighting reports whether k yields a contact-log sighting
// (Result.Sighting): KindFindMy, KindPACT, KindRepeated and
// KindFindMyRepeated.
func (k Kind) IsSighting() bool {
	return k == KindFindMy || k == KindPACT || k == KindRepeated || k == KindFindMyRepeated
}

// IsPartial reports whether k yields a partial sighting (Result.Partial)
// rather than a contact-log one: KindFindMyPartial and KindFindMyDULT.
func (k Kind) IsPartial() bool { return k == KindFindMyPartial || k == KindFindMyDULT }

// String is the name used in logs, metrics labels and the JSON "source".
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Result is what one report yields. Which fields are set depends on Kind.
type Result struct {
	Kind Kind
	// Sighting is set for the kinds of Kind.IsSighting, and for
	// KindFindMyInvalid (with the off-curve key as its chirp) so that it
	// can be reported; only the former may enter the contact log.
	Sighting pact.Sighting
	// Prefix is the key prefix of a Find My frame, full or short, or of a
	// KindFindMyDULT frame (two top bits cleared).
	Prefix findmy.Prefix
	// DULTNetwork is the Network ID of a KindFindMyDULT or KindDULTOther
	// frame, and NearOwner its near-owner bit.
	DULTNetwork findmy.DULTNetwork
	NearOwner   bool
	// Status and Hint are set for the Find My kinds.
	Status findmy.Status
	Hint   byte
	// Addr is the advertiser address in display order, AddrType its type.
	Addr     [6]byte
	AddrType uint8
	// Time is the report's timestamp and Minute the PACT minute holding it.
	Time   time.Time
	Minute pact.Minute
	RSSI   int8
	// Frame is the decoded native frame of a version-2 KindPACT,
	// KindRepeated, KindFindMyRepeated or KindRepeatedStale report (docs/native-frame.md §7.6), FrameVersion
	// the native frame version of a KindPACT report: 1 or 2.
	Frame        pact.Frame
	FrameVersion uint8
	// Err says what was wrong for KindMalformed.
	Err error
	// Age is the age octet of a repeated frame (KindRepeated,
	// KindFindMyRepeated, KindRepeatedStale): whole minutes since the
	// repeater first heard the chirp or key, as it claims (spec §9.1.2).
	Age uint8
}

// Counts is a snapshot of how many reports of each kind were seen.
type Counts [NumKinds]uint64

// Total is the number of reports.
func (c *Counts) Total() uint64 {
	var t uint64
	for _, n := range c {
		t += n
	}
	return t
}

// Harvester classifies reports. Parse must be called from one goroutine at
// a time; Counts may be read from any.
type Harvester struct {
	validator *findmy.Validator
	counts    [NumKinds]atomic.Uint64
	// dult counts DULT frames by Network ID.
	dult [256]atomic.Uint64
}

// keyCacheSlots sizes the key-check cache for a crowd: an airport gate
// or a stadium puts thousands of Find My keys in range at once, each
// repeated for 15 minutes. The cache is 4-way set-associative; with 8,192
// slots, 4,096 keys left one set in twenty with more keys than ways, and
// under a cycling crowd those keys evicted each other on every frame (37
// checks per key in the workload). At 65,536 slots, 4,096 keys
// overfill about one set in 150,000, and 16,000 keys one in 300. It holds about 2 MiB (29 bytes a slot), whatever the crowd.
const keyCacheSlots = 1 << 16

// New returns a Harvester with a cache of recent key validations.
func New() *Harvester {
	return &Harvester{validator: findmy.NewValidator(keyCacheSlots)}
}

// Parse classifies r into out and returns its kind. It does not allocate
// except to describe a malformed frame, and it never keeps r.Data.
func (h *Harvester) Parse(r *hci.AdvReport, out *Result) Kind {
	*out = Result{
		Addr:     r.Addr,
		AddrType: r.AddrType,
		Time:     r.Time,
		Minute:   pact.MinuteOf(r.Time),
		RSSI:     r.RSSI,
	}
	k := h.classify(r, out)
	out.Kind = k
	h.counts[k].Add(1)
	return k
}

func (h *Harvester) classify(r *hci.AdvReport, out *Result) Kind {
	if r.Time.IsZero() {
		return KindUntimed
	}
	switch r.Type {
	case hci.PDUAdvInd, hci.PDUAdvNonconnInd:
	case hci.PDUExtended:
		// The extended counterparts of the PDUs ignored above
		// (docs/findmy.md §3.4): Find My and PACT frames are undirected
		// advertising, never a scan response or a scannable one.
		if r.EventType&(hci.ExtEventScannable|hci.ExtEventDirected|hci.ExtEventScanResponse) != 0 {
			return KindIgnoredPDU
		}
	default:
		return KindIgnoredPDU
	}
	if r.DataStatus() != 0 {
		return KindIncomplete
	}
	adv, err := findmy.Parse(r.Addr, r.Data)
	switch {
	case err == nil:
		return h.findMy(&adv, out)
	case err == findmy.ErrNotApple:
		// Not Offline Finding; it may be a DULT frame or a PACT frame.
		if k, ok := h.dultFrame(r, out); ok {
			return k
		}
	case err == findmy.ErrNotOfflineFinding:
		// Not a key; it may still be a PACT frame.
	default:
		out.Err = err
		return KindMalformed
	}
	chirp, perr := pact.ParseAdvert(r.Addr, r.Data)
	switch {
	case perr == nil && r.AddrType != addrTypeRandom:
		// The address carries chirp bits, so it is a random address by
		// construction; a public one is no PACT sender (spec §11).
		out.Err = fmt.Errorf("pact advert: address type %d, want %d (random): %w", r.AddrType, addrTypeRandom, pact.ErrAdvertMalformed)
		return KindMalformed
	case perr == nil:
		out.FrameVersion = 1
		out.Sighting = pact.Sighting{Chirp: chirp, Minute: out.Minute, RSSI: r.RSSI, TxPower: pact.TxPowerUnknown, Source: pact.SourcePACT}
		return KindPACT
	case errors.Is(perr, pact.ErrAdvertMalformed):
		out.Err = perr
		return KindMalformed
	case err == findmy.ErrNotOfflineFinding:
		return KindAppleOther
	}
	if r.Type == hci.PDUExtended {
		if k, ok := h.nativeFrame(r, out); ok {
			return k
		}
	}
	return KindOther
}

// nativeFrame classifies a native frame version 2 (docs/native-frame.md
// §7.6.3); ok is false when r holds none. Only extended advertising can
// carry one: its 48 bytes do not fit a legacy PDU. It must come from a
// non-resolvable private address.
func (h *Harvester) nativeFrame(r *hci.AdvReport, out *Result) (Kind, bool) {
	f, err := pact.ParseFrame(r.Data)
	switch {
	case err == pact.ErrNotAdvert:
		return 0, false
	case err != nil:
		out.Err = err
		return KindMalformed, true
	}
	if r.AddrType != addrTypeRandom {
		out.Err = fmt.Errorf("pact frame: address type %d, want %d (random, non-resolvable private): %w", r.AddrType, addrTypeRandom, pact.ErrAdvertMalformed)
		return KindMalformed, true
	}
	if err := pact.CheckFrameAddress(r.Addr); err != nil {
		out.Err = err
		return KindMalformed, true
	}
	out.Frame, out.FrameVersion = f, pact.FrameVersion
	if f.Repeated {
		return h.repeatedFrame(r, &f, out), true
	}
	out.Sighting = pact.Sighting{Chirp: f.Chirp, Minute: out.Minute, RSSI: r.RSSI, TxPower: f.TxPower, Source: pact.SourcePACT}
	return KindPACT, true
}

// repeatedFrame classifies a well-formed repeated frame f (spec §9.1): a
// chirp is logged with source repeater, a Find My key on P-224 with
// source findmy-repeater, a frame older than pact.MaxRepeatDelay is
// counted and dropped. RSSI and TX power are those of the repeater's
// frame, the radio link they describe.
func (h *Harvester) repeatedFrame(r *hci.AdvReport, f *pact.Frame, out *Result) Kind {
	out.Age = f.Age
	if pact.Minute(f.Age) > pact.MaxRepeatDelay {
		return KindRepeatedStale
	}
	if f.Kind == pact.FrameFindMyKey {
		// The same check as a key heard from its accessory: a repeater
		// passes on what it heard, and anyone can forge a frame.
		out.Sighting = pact.Sighting{Chirp: f.Chirp, Minute: out.Minute, RSSI: r.RSSI, TxPower: f.TxPower, Source: pact.SourceFindMyRepeater}
		if key := findmy.Key(f.Chirp); !h.validator.Valid(&key) {
			return KindFindMyInvalid
		}
		return KindFindMyRepeated
	}
	out.Sighting = pact.Sighting{Chirp: f.Chirp, Minute: out.Minute, RSSI: r.RSSI, TxPower: f.TxPower, Source: pact.SourceRepeater}
	return KindRepeated
}

// dultFrame classifies a DULT location-enabled frame; ok is false when r
// holds none.
func (h *Harvester) dultFrame(r *hci.AdvReport, out *Result) (Kind, bool) {
	d, err := findmy.ParseDULT(r.Addr, r.Data)
	switch {
	case err == findmy.ErrNotDULT:
		return 0, false
	case err != nil:
		out.Err = err
		return KindMalformed, true
	}
	h.dult[d.Network].Add(1)
	out.DULTNetwork, out.NearOwner = d.Network, d.NearOwner
	// Only an Apple accessory's random static address is key material
	// (docs/findmy.md §3.5); with any other address type the frame names
	// no key, whatever its network.
	if d.Network != findmy.DULTNetworkApple || !d.KeyAddress || r.AddrType != addrTypeRandom {
		return KindDULTOther, true
	}
	out.Prefix = d.Prefix
	return KindFindMyDULT, true
}

// addrTypeRandom is the random device address type of an advertising
// report (Core spec Vol 4 Part E §7.7.65.2).
const addrTypeRandom = 1

// DULTNetworks returns how many DULT frames of each Network ID Parse has
// seen, by name (findmy.DULTNetwork.String), for the networks seen.
func (h *Harvester) DULTNetworks() map[string]uint64 {
	m := map[string]uint64{}
	for id := range h.dult {
		if n := h.dult[id].Load(); n != 0 {
			m[findmy.DULTNetwork(id).String()] = n
		}
	}
	return m
}

func (h *Harvester) findMy(adv *findmy.Advertisement, out *Result) Kind {
	out.Status, out.Hint, out.Prefix = adv.Status, adv.Hint, adv.Prefix
	if adv.Form == findmy.FormShort {
		return KindFindMyPartial
	}
	out.Sighting = pact.Sighting{Chirp: pact.Chirp(adv.Key), Minute: out.Minute, RSSI: out.RSSI, TxPower: pact.TxPowerUnknown, Source: pact.SourceFindMy}
	if !h.validator.Valid(&adv.Key) {
		return KindFindMyInvalid
	}
	return KindFindMy
}

// Counts returns how many reports of each kind Parse has seen.
func (h *Harvester) Counts() Counts {
	var c Counts
	for i := range c {
		c[i] = h.counts[i].Load()
	}
	return c
}

// ValidatorStats returns the hits and misses of the key validation cache.
// Like Parse, it must not run concurrently with Parse.
func (h *Harvester) ValidatorStats() (hits, misses uint64) { return h.validator.CacheStats() }
