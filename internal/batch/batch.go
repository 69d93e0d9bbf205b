// Package batch is the exposure batch format of docs/api.md ("Batch
// format"): the tuples one region accepted, sorted by seed so that upload
// order is lost, compressed, and signed with Ed25519 over the exact bytes.
//
// Layout of version 2 (all integers big-endian, bits most significant
// first):
//
//	magic "PCTB" | version 2 | region length (1) | region
//	key id (8) | sequence (8) | period start minute (4) | period minutes (4)
//	reserved, zero (4) | entries (4) | base hour (4) | rice k (1)
//	prefix section length (4) | time section length (4) | Find My entries (4)
//	prefix section: Rice-coded gaps between the first 8 bytes of successive seeds
//	suffix section: the other 24 bytes of each seed, entries * 24 bytes
//	time section:   DEFLATE (Huffman only) of five columns of one byte per entry:
//	                hour offset high, hour offset low, start minute in hour,
//	                end - start, flags (bit 0: reverse tracing, spec §9.2)
//	Find My section: per Find My entry, in byte order: key (28) | start (4) |
//	                end - start (2) | flags (1) | proof of possession (56)
//	signature (64): Ed25519 over every byte before it
//
// Version 1, which Decode still reads, carries the upload count where
// version 2 has zeros, four time columns (no flags) and 34-byte Find My
// entries (no flags, no proof).
//
// Seeds are uniformly random, so nothing compresses them except the order:
// N sorted 256-bit values carry about log2(N) - 1.44 fewer bits each than
// unsorted ones, and Rice coding the gaps of their 64-bit prefixes recovers
// nearly all of that. The time columns are almost constant and DEFLATE
// shrinks them to about 9 bits per entry.
package batch

import (
	"bytes"
	"cmp"
	"compress/flate"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"

	"github.com/pact-findmy/pact-findmy/pact"
)

// Magic opens every batch.
var Magic = [4]byte{'P', 'C', 'T', 'B'}

// Format versions. Encode writes Version; Decode reads both.
const (
	// Version1 has the upload count, four time columns and 34-byte Find
	// My entries.
	Version1 = 1
	// Version2 drops the upload count and adds the flags column and the
	// Find My flags and proof (docs/api.md, "Batch format").
	Version2 = 2
	// Version is what Encode writes.
	Version = Version2
)

// MaxRegionLength bounds the region name; see ValidRegion.
const MaxRegionLength = 32

// MaxEntries bounds a decoded batch so that a hostile header cannot make a
// reader allocate without limit: 16 million seed-hours, about 32 000 full
// three-week uploads in one period.
const MaxEntries = 1 << 24

const (
	prefixBytes = 8
	suffixBytes = pact.SeedSize - prefixBytes
	// timeColumnsV1 and timeColumnsV2 count the one-byte columns of the
	// time section; version 2 adds the flags column.
	timeColumnsV1 = 4
	timeColumnsV2 = 5
	// tupleReverse is bit 0 of a tuple's flags byte; the other bits are
	// zero in a canonical batch.
	tupleReverse = 1 << 0
	// fixedHeader is the header length after the region.
	fixedHeader = 8 + 8 + 4 + 4 + 4 + 4 + 4 + 1 + 4 + 4 + 4
	// SignatureSize is the length of the trailing signature.
	SignatureSize = ed25519.SignatureSize
)

// KeyID names a signing key: the first 8 bytes of SHA-256 of the public key.
type KeyID [8]byte

// KeyIDOf returns the id of pub.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	return KeyID(sum[:8])
}

// Header is what a batch says about itself.
type Header struct {
	// Version is the format version Decode read; Encode ignores it and
	// writes Version.
	Version uint8
	Region  string
	KeyID   KeyID
	// Sequence numbers the batches of one region from 1 without gaps.
	Sequence uint64
	// PeriodStart and PeriodMinutes delimit the period whose uploads the
	// batch holds.
	PeriodStart   pact.Minute
	PeriodMinutes uint32
	// Uploads is the upload count of a version 1 batch. Version 2 does not
	// publish it (docs/api.md, "Holding and chaff"): Encode ignores it
	// and Decode reads 0.
	Uploads uint32
	Entries uint32
	// FindMyEntries counts the Find My keys (docs/findmy.md) after the tuples.
	FindMyEntries uint32
}

// Batch is a decoded, verified batch.
type Batch struct {
	Header
	// Tuples are sorted by seed, then start, then end, without duplicates.
	Tuples []pact.Tuple
	// Reverse is nil, or has len(Tuples) entries: Reverse[i] says tuple i
	// lies inside its uploader's reverse-tracing range (spec §9.2). Decode
	// returns nil when no tuple is marked (always for version 1).
	Reverse []bool
	// FindMy are sorted by their encoded bytes (key, then start, then end,
	// then flags, then proof), without duplicates.
	FindMy []FindMyKey
}

// Errors that Encode and ValidRegion wrap, with the value at fault.
var (
	// ErrRegion is a region name ValidRegion refuses.
	ErrRegion = errors.New("not a region name: 1 to 32 of A-Z, a-z, 0-9 and '-'")
	// ErrTooMany is a list of more than MaxEntries entries.
	ErrTooMany = errors.New("more entries than a batch holds (MaxEntries)")
	// ErrTupleWindow is a tuple whose window is not inside one hour
	// (spec §6.4: a seed is used for one hour).
	ErrTupleWindow = errors.New("window is not inside one hour")
	// ErrTimeSpan is a batch whose hours span more than the 16-bit hour
	// offset of the time section holds (65535 hours).
	ErrTimeSpan = errors.New("tuples span more than 65535 hours")
	// ErrReverseLength is a Batch whose Reverse is neither nil nor as long
	// as its Tuples.
	ErrReverseLength = errors.New("reverse flags are not parallel to the tuples")
)

// ValidRegion reports whether r is a region name: 1 to 32 characters from
// A-Z, a-z, 0-9 and '-', so that it is safe in a URL path, a file name and
// a batch id ("<region>.<sequence>").
func ValidRegion(r string) error {
	if len(r) == 0 || len(r) > MaxRegionLength {
		return fmt.Errorf("region %q: length %d is outside 1..%d: %w", truncate(r), len(r), MaxRegionLength, ErrRegion)
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("region %q: character %q at position %d: %w", truncate(r), c, i+1, ErrRegion)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// compareTuples orders by seed bytes, then start, then end.
func compareTuples(a, b pact.Tuple) int {
	if c := bytes.Compare(a.Seed[:], b.Seed[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.End, b.End)
}

// Encode sorts tuples in place, drops exact duplicates, and returns the
// signed batch. h.Entries and h.KeyID are filled in from the tuples and key.
func Encode(h Header, tuples []pact.Tuple, key ed25519.PrivateKey) ([]byte, error) {
	return EncodeBatch(&Batch{Header: h, Tuples: tuples}, key)
}

// EncodeWithFindMy is Encode for a batch that also carries Find My keys,
// which it sorts in place and deduplicates too.
func EncodeWithFindMy(h Header, tuples []pact.Tuple, findMy []FindMyKey, key ed25519.PrivateKey) ([]byte, error) {
	return EncodeBatch(&Batch{Header: h, Tuples: tuples, FindMy: findMy}, key)
}

// markedTuple is a tuple with its flags, sorted and deduplicated together.
type markedTuple struct {
	pact.Tuple
	reverse bool
}

// EncodeBatch returns b signed with key in format Version. It sorts b's
// Tuples (with Reverse) and FindMy in place and sets b's header fields
// Version, KeyID, Entries and FindMyEntries from what it wrote, leaving
// b.Tuples and b.Reverse sorted but of their old length. Tuples that
// repeat a seed and window are written once, marked reverse only if
// every one of them was (spec §9.2: an ordinary copy wins); Find My entries that repeat every byte are written once.
func EncodeBatch(b *Batch, key ed25519.PrivateKey) ([]byte, error) {
	h := b.Header
	if err := ValidRegion(h.Region); err != nil {
		return nil, fmt.Errorf("encoding batch: %w", err)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("encoding batch: signing key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if b.Reverse != nil && len(b.Reverse) != len(b.Tuples) {
		return nil, fmt.Errorf("encoding batch for region %s: %d reverse flags for %d tuples: %w", h.Region, len(b.Reverse), len(b.Tuples), ErrReverseLength)
	}
	if len(b.Tuples) > MaxEntries {
		return nil, fmt.Errorf("encoding batch for region %s: %d entries: %w", h.Region, len(b.Tuples), ErrTooMany)
	}
	tuples := sortTuples(b.Tuples, b.Reverse)
	h.Version = Version
	h.Uploads = 0
	h.Entries = uint32(len(tuples))
	h.KeyID = KeyIDOf(key.Public().(ed25519.PublicKey))
	slices.SortFunc(b.FindMy, compareFindMy)
	findMy := slices.Compact(slices.Clone(b.FindMy))
	if len(findMy) > MaxEntries {
		return nil, fmt.Errorf("encoding batch for region %s: %d findmy entries: %w", h.Region, len(findMy), ErrTooMany)
	}
	for _, k := range findMy {
		if err := k.validWindow(); err != nil {
			return nil, fmt.Errorf("encoding batch: %w", err)
		}
	}
	h.FindMyEntries = uint32(len(findMy))

	n := len(tuples)
	baseHour := uint32(0)
	if n > 0 {
		baseHour = uint32(tuples[0].Start) / pact.MinutesPerHour
		for _, t := range tuples {
			baseHour = min(baseHour, uint32(t.Start)/pact.MinutesPerHour)
		}
	}
	cols := make([]byte, timeColumnsV2*n)
	for i, t := range tuples {
		if t.End < t.Start || t.End-t.Start >= pact.MinutesPerHour {
			return nil, fmt.Errorf("encoding batch: tuple %s start %d end %d: %w", t.Seed, t.Start, t.End, ErrTupleWindow)
		}
		off := uint32(t.Start)/pact.MinutesPerHour - baseHour
		if off > 0xffff {
			return nil, fmt.Errorf("encoding batch: tuple start %d is %d hours after the earliest: %w", t.Start, off, ErrTimeSpan)
		}
		cols[i] = byte(off >> 8)
		cols[n+i] = byte(off)
		cols[2*n+i] = byte(uint32(t.Start) % pact.MinutesPerHour)
		cols[3*n+i] = byte(t.End - t.Start)
		if t.reverse {
			cols[4*n+i] = tupleReverse
		}
	}
	var timeSection bytes.Buffer
	fw, err := flate.NewWriter(&timeSection, flate.HuffmanOnly)
	if err != nil {
		return nil, fmt.Errorf("encoding batch: %w", err)
	}
	if _, err := fw.Write(cols); err != nil {
		return nil, fmt.Errorf("encoding batch time section: %w", err)
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("encoding batch time section: %w", err)
	}

	k := riceParameter(tuples)
	var bw bitWriter
	bw.buf = make([]byte, 0, n*(int(k)+3)/8+8)
	var prev uint64
	for _, t := range tuples {
		p := binary.BigEndian.Uint64(t.Seed[:prefixBytes])
		bw.writeRice(p-prev, k)
		prev = p
	}
	prefix := bw.finish()

	out := make([]byte, 0, 6+len(h.Region)+fixedHeader+len(prefix)+suffixBytes*n+timeSection.Len()+FindMyEntrySize*len(findMy)+SignatureSize)
	out = append(out, Magic[:]...)
	out = append(out, h.Version, byte(len(h.Region)))
	out = append(out, h.Region...)
	out = append(out, h.KeyID[:]...)
	out = binary.BigEndian.AppendUint64(out, h.Sequence)
	out = binary.BigEndian.AppendUint32(out, uint32(h.PeriodStart))
	out = binary.BigEndian.AppendUint32(out, h.PeriodMinutes)
	out = binary.BigEndian.AppendUint32(out, 0) // no upload count in version 2
	out = binary.BigEndian.AppendUint32(out, h.Entries)
	out = binary.BigEndian.AppendUint32(out, baseHour)
	out = append(out, k)
	out = binary.BigEndian.AppendUint32(out, uint32(len(prefix)))
	out = binary.BigEndian.AppendUint32(out, uint32(timeSection.Len()))
	out = binary.BigEndian.AppendUint32(out, h.FindMyEntries)
	out = append(out, prefix...)
	for _, t := range tuples {
		out = append(out, t.Seed[prefixBytes:]...)
	}
	out = append(out, timeSection.Bytes()...)
	for _, k := range findMy {
		out = k.append(out)
	}
	b.Header = h
	return append(out, ed25519.Sign(key, out)...), nil
}

// sortTuples sorts tuples and reverse (nil, or parallel to tuples) in
// place in the batch order and returns the deduplicated list to encode.
func sortTuples(tuples []pact.Tuple, reverse []bool) []markedTuple {
	marked := make([]markedTuple, len(tuples))
	for i, t := range tuples {
		marked[i].Tuple = t
		marked[i].reverse = reverse != nil && reverse[i]
	}
	slices.SortFunc(marked, func(a, b markedTuple) int { return compareTuples(a.Tuple, b.Tuple) })
	for i, m := range marked {
		tuples[i] = m.Tuple
		if reverse != nil {
			reverse[i] = m.reverse
		}
	}
	out := marked[:0]
	for _, m := range marked {
		if len(out) > 0 && out[len(out)-1].Tuple == m.Tuple {
			out[len(out)-1].reverse = out[len(out)-1].reverse && m.reverse
			continue
		}
		out = append(out, m)
	}
	return out
}

// riceParameter picks k near log2 of the mean gap between sorted prefixes,
// which is close to optimal for the geometric gaps of random seeds. It also
// bounds the unary part: the quotients sum to at most about 2N, whatever
// seeds an uploader chose.
func riceParameter(sorted []markedTuple) uint8 {
	if len(sorted) == 0 {
		return 0
	}
	last := binary.BigEndian.Uint64(sorted[len(sorted)-1].Seed[:prefixBytes])
	mean := last / uint64(len(sorted))
	if mean == 0 {
		return 0
	}
	return uint8(bits.Len64(mean) - 1)
}

// Errors that Verify and Decode wrap, so a client can tell a forged or
// damaged batch from one it merely did not expect.
var (
	ErrFormat    = errors.New("malformed batch")
	ErrSignature = errors.New("batch signature does not verify")
	ErrKey       = errors.New("batch is signed by a different key")
	// ErrTruncated is a batch shorter or longer than its header says.
	ErrTruncated = errors.New("batch length does not match its header (truncated or padded)")
	// ErrOrder is a batch whose entries are not strictly ascending.
	ErrOrder = errors.New("batch entries are out of order (reordered or duplicated)")
)

// ParseHeader reads the header without verifying anything; use it only to
// decide which key to verify with.
func ParseHeader(b []byte) (Header, error) {
	h, _, err := parseHeader(b)
	return h, err
}

type layout struct {
	baseHour            uint32
	k                   uint8
	prefix, suffix, tim []byte
	findMy              []byte
}

func parseHeader(b []byte) (Header, layout, error) {
	var h Header
	var l layout
	if len(b) < 6 {
		return h, l, fmt.Errorf("%w: %w: %d bytes is shorter than the magic and version", ErrFormat, ErrTruncated, len(b))
	}
	if [4]byte(b[:4]) != Magic {
		return h, l, fmt.Errorf("%w: magic %x, want %x (%q)", ErrFormat, b[:4], Magic, Magic[:])
	}
	if b[4] != Version1 && b[4] != Version2 {
		return h, l, fmt.Errorf("%w: version %d, want %d or %d", ErrFormat, b[4], Version1, Version2)
	}
	h.Version = b[4]
	rl := int(b[5])
	if len(b) < 6+rl+fixedHeader+SignatureSize {
		return h, l, fmt.Errorf("%w: %w: %d bytes is shorter than the header and signature (%d)", ErrFormat, ErrTruncated, len(b), 6+rl+fixedHeader+SignatureSize)
	}
	h.Region = string(b[6 : 6+rl])
	if err := ValidRegion(h.Region); err != nil {
		return h, l, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	p := b[6+rl:]
	copy(h.KeyID[:], p[:8])
	h.Sequence = binary.BigEndian.Uint64(p[8:])
	h.PeriodStart = pact.Minute(binary.BigEndian.Uint32(p[16:]))
	h.PeriodMinutes = binary.BigEndian.Uint32(p[20:])
	h.Uploads = binary.BigEndian.Uint32(p[24:])
	h.Entries = binary.BigEndian.Uint32(p[28:])
	l.baseHour = binary.BigEndian.Uint32(p[32:])
	l.k = p[36]
	prefixLen := uint64(binary.BigEndian.Uint32(p[37:]))
	timeLen := uint64(binary.BigEndian.Uint32(p[41:]))
	h.FindMyEntries = binary.BigEndian.Uint32(p[45:])
	if h.Version == Version2 && h.Uploads != 0 {
		return h, l, fmt.Errorf("%w: reserved field %d in version 2, want 0", ErrFormat, h.Uploads)
	}
	if h.Entries > MaxEntries || h.FindMyEntries > MaxEntries {
		return h, l, fmt.Errorf("%w: entries %d and Find My entries %d: limit %d", ErrFormat, h.Entries, h.FindMyEntries, MaxEntries)
	}
	if l.k > 63 {
		return h, l, fmt.Errorf("%w: rice parameter %d exceeds 63", ErrFormat, l.k)
	}
	body := p[fixedHeader : len(p)-SignatureSize]
	suffixLen := uint64(h.Entries) * suffixBytes
	findMyLen := uint64(h.FindMyEntries) * uint64(findMyEntrySize(h.Version))
	if want := prefixLen + suffixLen + timeLen + findMyLen; uint64(len(body)) != want {
		return h, l, fmt.Errorf("%w: %w: sections of %d+%d+%d+%d bytes, body has %d", ErrFormat, ErrTruncated, prefixLen, suffixLen, timeLen, findMyLen, len(body))
	}
	l.prefix = body[:prefixLen]
	l.suffix = body[prefixLen : prefixLen+suffixLen]
	l.tim = body[prefixLen+suffixLen : prefixLen+suffixLen+timeLen]
	l.findMy = body[prefixLen+suffixLen+timeLen:]
	return h, l, nil
}

// Verify checks the format of the header and the signature over the exact
// bytes, and returns the header. It does not decode the entries.
func Verify(b []byte, pub ed25519.PublicKey) (Header, error) {
	h, _, err := parseHeader(b)
	if err != nil {
		return h, err
	}
	if id := KeyIDOf(pub); h.KeyID != id {
		return h, fmt.Errorf("%w: key id %x, expected %x", ErrKey, h.KeyID, id)
	}
	if !ed25519.Verify(pub, b[:len(b)-SignatureSize], b[len(b)-SignatureSize:]) {
		return h, fmt.Errorf("batch %s.%d: %w", h.Region, h.Sequence, ErrSignature)
	}
	return h, nil
}

// Decode verifies b with pub and decodes its entries. Besides the
// signature it enforces the canonical form (strictly ascending entries,
// windows inside an hour, no trailing bits), so a batch that verifies
// decodes to exactly one list.
func Decode(b []byte, pub ed25519.PublicKey) (*Batch, error) {
	if _, err := Verify(b, pub); err != nil {
		return nil, err
	}
	return decodeUnverified(b)
}

func decodeUnverified(b []byte) (*Batch, error) {
	h, l, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	n := int(h.Entries)
	columns := timeColumnsV1
	if h.Version == Version2 {
		columns = timeColumnsV2
	}
	cols := make([]byte, columns*n+1)
	fr := flate.NewReader(bytes.NewReader(l.tim))
	got, err := io.ReadFull(fr, cols)
	if err != io.ErrUnexpectedEOF && err != io.EOF {
		if err == nil {
			return nil, fmt.Errorf("%w: time section holds more than %d entries", ErrFormat, n)
		}
		return nil, fmt.Errorf("%w: time section: %w", ErrFormat, err)
	}
	if got != columns*n {
		return nil, fmt.Errorf("%w: time section holds %d bytes, want %d", ErrFormat, got, columns*n)
	}
	cols = cols[:columns*n]
	var reverse []bool

	tuples := make([]pact.Tuple, n)
	br := bitReader{buf: l.prefix}
	var prev uint64
	for i := range tuples {
		gap, err := br.readRice(l.k)
		if err != nil {
			return nil, fmt.Errorf("%w: prefix of entry %d: %w", ErrFormat, i, err)
		}
		p := prev + gap
		if p < prev {
			return nil, fmt.Errorf("%w: prefix of entry %d overflows 64 bits", ErrFormat, i)
		}
		prev = p
		t := &tuples[i]
		binary.BigEndian.PutUint64(t.Seed[:prefixBytes], p)
		copy(t.Seed[prefixBytes:], l.suffix[i*suffixBytes:(i+1)*suffixBytes])
		hour := uint64(l.baseHour) + (uint64(cols[i])<<8 | uint64(cols[n+i]))
		minute, span := cols[2*n+i], cols[3*n+i]
		if minute >= pact.MinutesPerHour || span >= pact.MinutesPerHour {
			return nil, fmt.Errorf("%w: entry %d has start minute %d, span %d; both must be below 60", ErrFormat, i, minute, span)
		}
		start := hour*pact.MinutesPerHour + uint64(minute)
		if start+uint64(span) > uint64(^uint32(0)) {
			return nil, fmt.Errorf("%w: entry %d ends after the last minute", ErrFormat, i)
		}
		t.Start, t.End = pact.Minute(start), pact.Minute(start+uint64(span))
		if i > 0 && compareTuples(tuples[i-1], *t) >= 0 {
			return nil, fmt.Errorf("%w: %w: entry %d is not after entry %d", ErrFormat, ErrOrder, i, i-1)
		}
		if columns == timeColumnsV2 {
			switch flags := cols[4*n+i]; flags {
			case 0:
			case tupleReverse:
				if reverse == nil {
					reverse = make([]bool, n)
				}
				reverse[i] = true
			default:
				return nil, fmt.Errorf("%w: entry %d has flags %#02x; only bit 0 is defined", ErrFormat, i, flags)
			}
		}
	}
	if err := br.finish(); err != nil {
		return nil, fmt.Errorf("%w: prefix section: %w", ErrFormat, err)
	}
	findMy := make([]FindMyKey, h.FindMyEntries)
	size := findMyEntrySize(h.Version)
	for i := range findMy {
		if err := findMy[i].decode(l.findMy[i*size : (i+1)*size]); err != nil {
			return nil, fmt.Errorf("%w: Find My entry %d: %w", ErrFormat, i, err)
		}
		if i > 0 && compareFindMy(findMy[i-1], findMy[i]) >= 0 {
			return nil, fmt.Errorf("%w: %w: Find My entry %d is not after entry %d", ErrFormat, ErrOrder, i, i-1)
		}
	}
	return &Batch{Header: h, Tuples: tuples, Reverse: reverse, FindMy: findMy}, nil
}
