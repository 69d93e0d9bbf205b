package batch

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

// FindMyKey is an advertised Find My key (docs/findmy.md §5.3) of a
// diagnosed owner's device and the minutes during which it was advertised:
// for the matcher it is a chirp valid over a window.
type FindMyKey struct {
	Key        findmy.Key
	Start, End pact.Minute
	// Reverse says the window lies inside the uploader's reverse-tracing
	// range (spec §9.2).
	Reverse bool
	// Secondary marks a secondary (daily) key of a separated accessory
	// (docs/findmy.md).
	Secondary bool
	// Proof is the proof of possession of the key (docs/findmy.md); all
	// zero in a version 1 batch.
	Proof [FindMyProofSize]byte
}

// FindMyProofSize is the length of a Find My key's proof of possession.
const FindMyProofSize = 56

// Flags of a Find My entry; the other bits are zero.
const (
	findMyReverse   = 1 << 0
	findMySecondary = 1 << 1
)

// FindMyEntrySize is the encoded size in version 2: key (28) | start (4) |
// end - start (2) | flags (1) | proof (56).
const FindMyEntrySize = FindMyEntrySizeV1 + 1 + FindMyProofSize

// FindMyEntrySizeV1 is the encoded size in version 1: key (28) | start (4)
// | end - start (2).
const FindMyEntrySizeV1 = findmy.KeySize + 4 + 2

func findMyEntrySize(version uint8) int {
	if version == Version1 {
		return FindMyEntrySizeV1
	}
	return FindMyEntrySize
}

// MaxFindMyWindow bounds one key's window: a separated device keeps a key
// for up to a day (docs/findmy.md §5).
const MaxFindMyWindow = pact.MinutesPerDay

// compareFindMy orders entries as their encoded bytes do: key, start, end
// (the span, for equal starts), flags, proof.
func compareFindMy(a, b FindMyKey) int {
	if c := bytes.Compare(a.Key[:], b.Key[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	if c := cmp.Compare(a.End, b.End); c != 0 {
		return c
	}
	if c := cmp.Compare(a.flags(), b.flags()); c != 0 {
		return c
	}
	return bytes.Compare(a.Proof[:], b.Proof[:])
}

func (k FindMyKey) flags() byte {
	var f byte
	if k.Reverse {
		f |= findMyReverse
	}
	if k.Secondary {
		f |= findMySecondary
	}
	return f
}

// Errors of Find My keys, wrapped with the key and minutes at fault.
var (
	// ErrFindMyWindow is a window that ends before it starts or lasts
	// MaxFindMyWindow minutes or more.
	ErrFindMyWindow = errors.New("window must be 1 to 1440 minutes")
	// ErrNotOnCurve is a key that is not the x-coordinate of a P-224
	// point, so no device can have advertised it (docs/findmy.md §4).
	ErrNotOnCurve = errors.New("not the x-coordinate of a P-224 point")
	// ErrFindMyFlags is an entry with a flag bit other than reverse and
	// secondary set.
	ErrFindMyFlags = errors.New("undefined Find My flag bits set")
)

func (k FindMyKey) validWindow() error {
	if k.End < k.Start || k.End-k.Start >= MaxFindMyWindow {
		return fmt.Errorf("findmy key %s start %d end %d: %w", k.Key, k.Start, k.End, ErrFindMyWindow)
	}
	return nil
}

// Validate checks the window against l like pact.Tuple.Validate, and that
// the key is a P-224 x-coordinate (docs/findmy.md §4).
func (k FindMyKey) Validate(l pact.Limits) error {
	if err := k.validWindow(); err != nil {
		return err
	}
	switch {
	case uint64(k.End) > uint64(l.Now)+uint64(l.Skew):
		return fmt.Errorf("findmy key end %d: %w (now is %d)", k.End, pact.ErrFuture, l.Now)
	case k.Start < l.Horizon:
		return fmt.Errorf("findmy key start %d: %w (horizon is %d)", k.Start, pact.ErrExpired, l.Horizon)
	case !findmy.OnCurve(&k.Key):
		return fmt.Errorf("findmy key %s: %w", k.Key, ErrNotOnCurve)
	}
	return nil
}

func (k FindMyKey) append(b []byte) []byte {
	b = append(b, k.Key[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(k.Start))
	b = binary.BigEndian.AppendUint16(b, uint16(k.End-k.Start))
	b = append(b, k.flags())
	return append(b, k.Proof[:]...)
}

// decode reads one entry of len(b) bytes: FindMyEntrySizeV1 or
// FindMyEntrySize.
func (k *FindMyKey) decode(b []byte) error {
	copy(k.Key[:], b[:findmy.KeySize])
	start := uint64(binary.BigEndian.Uint32(b[findmy.KeySize:]))
	span := uint64(binary.BigEndian.Uint16(b[findmy.KeySize+4:]))
	if span >= MaxFindMyWindow || start+span > uint64(^uint32(0)) {
		return fmt.Errorf("start %d span %d: %w, ending by minute %d", start, span, ErrFindMyWindow, ^uint32(0))
	}
	k.Start, k.End = pact.Minute(start), pact.Minute(start+span)
	if len(b) == FindMyEntrySizeV1 {
		return nil
	}
	flags := b[FindMyEntrySizeV1]
	if flags&^(findMyReverse|findMySecondary) != 0 {
		return fmt.Errorf("key %s flags %#02x: %w", k.Key, flags, ErrFindMyFlags)
	}
	k.Reverse, k.Secondary = flags&findMyReverse != 0, flags&findMySecondary != 0
	copy(k.Proof[:], b[FindMyEntrySizeV1+1:])
	return nil
}

// EncodeFindMyList encodes keys as a count (4 bytes) and the entries in
// their version 2 form, the form in which storage keeps an upload's keys.
func EncodeFindMyList(keys []FindMyKey) ([]byte, error) {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(keys)*FindMyEntrySize), uint32(len(keys)))
	for i, k := range keys {
		if err := k.validWindow(); err != nil {
			return nil, fmt.Errorf("findmy entry %d: %w", i, err)
		}
		b = k.append(b)
	}
	return b, nil
}

// DecodeFindMyList decodes what EncodeFindMyList wrote, and lists of
// version 1 entries (34 bytes, written before version 2: the count tells
// the two apart, since n entries of either size never have the same
// length for n > 0); empty input is an empty list.
func DecodeFindMyList(b []byte) ([]FindMyKey, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("findmy list: %d bytes is shorter than its count: %w", len(b), ErrTruncated)
	}
	n := uint64(binary.BigEndian.Uint32(b))
	size := uint64(FindMyEntrySize)
	if n > 0 && uint64(len(b)-4) == n*FindMyEntrySizeV1 {
		size = FindMyEntrySizeV1
	}
	if n > MaxEntries || uint64(len(b)-4) != n*size {
		return nil, fmt.Errorf("findmy list: count %d does not match %d bytes of entries: %w", n, len(b)-4, ErrTruncated)
	}
	keys := make([]FindMyKey, n)
	for i := range keys {
		off := 4 + uint64(i)*size
		if err := keys[i].decode(b[off : off+size]); err != nil {
			return nil, fmt.Errorf("findmy list entry %d: %w", i, err)
		}
	}
	return keys, nil
}
