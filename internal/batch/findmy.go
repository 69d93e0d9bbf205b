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
}

// FindMyEntrySize is the encoded size: key (28) | start (4) | end - start (2).
const FindMyEntrySize = findmy.KeySize + 4 + 2

// MaxFindMyWindow bounds one key's window: a separated device keeps a key
// for up to a day (docs/findmy.md §5).
const MaxFindMyWindow = pact.MinutesPerDay

func compareFindMy(a, b FindMyKey) int {
	if c := bytes.Compare(a.Key[:], b.Key[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.End, b.End)
}

// Errors of Find My keys, wrapped with the key and minutes at fault.
var (
	// ErrFindMyWindow is a window that ends before it starts or lasts
	// MaxFindMyWindow minutes or more.
	ErrFindMyWindow = errors.New("window must be 1 to 1440 minutes")
	// ErrNotOnCurve is a key that is not the x-coordinate of a P-224
	// point, so no device can have advertised it (docs/findmy.md §4).
	ErrNotOnCurve = errors.New("not the x-coordinate of a P-224 point")
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
	return binary.BigEndian.AppendUint16(b, uint16(k.End-k.Start))
}

func (k *FindMyKey) decode(b []byte) error {
	copy(k.Key[:], b[:findmy.KeySize])
	start := uint64(binary.BigEndian.Uint32(b[findmy.KeySize:]))
	span := uint64(binary.BigEndian.Uint16(b[findmy.KeySize+4:]))
	if span >= MaxFindMyWindow || start+span > uint64(^uint32(0)) {
		return fmt.Errorf("start %d span %d: %w, ending by minute %d", start, span, ErrFindMyWindow, ^uint32(0))
	}
	k.Start, k.End = pact.Minute(start), pact.Minute(start+span)
	return nil
}

// EncodeFindMyList encodes keys as a count (4 bytes) and the entries, the
// form in which storage keeps an upload's keys.
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

// DecodeFindMyList decodes what EncodeFindMyList wrote; empty input is an
// empty list.
func DecodeFindMyList(b []byte) ([]FindMyKey, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("findmy list: %d bytes is shorter than its count: %w", len(b), ErrTruncated)
	}
	n := uint64(binary.BigEndian.Uint32(b))
	if n > MaxEntries || uint64(len(b)-4) != n*FindMyEntrySize {
		return nil, fmt.Errorf("findmy list: count %d does not match %d bytes of entries: %w", n, len(b)-4, ErrTruncated)
	}
	keys := make([]FindMyKey, n)
	for i := range keys {
		if err := keys[i].decode(b[4+i*FindMyEntrySize:]); err != nil {
			return nil, fmt.Errorf("findmy list entry %d: %w", i, err)
		}
	}
	return keys, nil
}
