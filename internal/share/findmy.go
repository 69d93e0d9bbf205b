package share

import (
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// maxKeyIndex bounds the first key index of a device: deriving SK_i costs
// i KDF steps, and 2^20 indices are 30 years of 15-minute keys, as the
// server allows for a schedule (docs/api.md, "Find My keys").
const maxKeyIndex = 1 << 20

// keyWindow is one key of a device's schedule inside the shared window.
type keyWindow struct {
	index      uint64
	start, end pact.Minute
	redacted   bool
}

// deviceKeys is a validated device with the keys it yields.
type deviceKeys struct {
	secret  findmy.Secret
	public  findmy.PublicKey
	windows []keyWindow
	summary DeviceKeys
}

// planDevice checks the key material of device i and lists its keys whose
// 15-minute slot (docs/findmy.md §5.3) overlaps the window from..to, each
// cut to the window. A key overlapping an excluded hour is redacted like a
// seed (spec §6.4): a fresh random key takes its place.
func planDevice(i int, d FindMyDevice, from, to time.Time, excluded map[pact.Minute]bool) (deviceKeys, error) {
	field := fmt.Sprintf("findmy[%d]", i)
	raw, err := hex.DecodeString(d.Secret)
	if err != nil || len(raw) != findmy.SecretSize {
		return deviceKeys{}, fieldError(field+".secret", ErrFindMyDevice, "want %d bytes in hex, got %d characters", findmy.SecretSize, len(d.Secret))
	}
	pub, err := findmy.ParsePublicKey(d.PublicKey)
	if err != nil {
		return deviceKeys{}, &FieldError{Field: field + ".public_key", Err: fmt.Errorf("%w: %w", ErrFindMyDevice, err)}
	}
	if d.Epoch.IsZero() || d.Epoch.After(to) {
		return deviceKeys{}, fieldError(field+".epoch", ErrFindMyDevice, "pairing time %s is not before the window's end %s",
			d.Epoch.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	first := uint64(0)
	if from.After(d.Epoch) {
		first = uint64(from.Sub(d.Epoch) / findmy.RotationPeriod)
	}
	last := uint64(to.Sub(d.Epoch) / findmy.RotationPeriod)
	if last > maxKeyIndex {
		return deviceKeys{}, fieldError(field+".epoch", ErrFindMyDevice, "pairing time %s is more than %d keys before the window's end",
			d.Epoch.Format(time.RFC3339), maxKeyIndex)
	}
	if last-first >= MaxFindMyKeys {
		return deviceKeys{}, fieldError("findmy", ErrTooManyKeys, "device %d alone yields %d keys, limit %d", i, last-first+1, MaxFindMyKeys)
	}
	dk := deviceKeys{secret: findmy.Secret(raw), public: pub, summary: DeviceKeys{Name: d.Name}}
	lo, hi := pact.MinuteOf(from), pact.MinuteOf(to)
	for idx := first; idx <= last; idx++ {
		// As `findmy-harvester derive --epoch` prints them.
		slot := d.Epoch.Add(time.Duration(idx) * findmy.RotationPeriod)
		w := keyWindow{index: idx, start: max(pact.MinuteOf(slot), lo), end: min(pact.MinuteOf(slot.Add(findmy.RotationPeriod-time.Second)), hi)}
		if w.start > w.end {
			continue
		}
		w.redacted = excluded[w.start.HourStart()] || excluded[w.end.HourStart()]
		dk.windows = append(dk.windows, w)
		if w.redacted {
			dk.summary.Redacted++
		}
	}
	dk.summary.Keys = len(dk.windows)
	if len(dk.windows) > 0 {
		dk.summary.First, dk.summary.Last = dk.windows[0].start, dk.windows[len(dk.windows)-1].end
	}
	return dk, nil
}

// derivedKey is a key to upload.
type derivedKey struct {
	exposureclient.FindMyKey
	redacted bool
}

// derive computes the device's keys on the device: P_i = u*P_0 + v*G
// (docs/findmy.md §5.3). A redacted key is replaced by the one an earlier
// upload sent for its slot, or by a fresh random x-coordinate on P-224,
// which looks like any key and matches nothing.
func (d deviceKeys) derive(rnd io.Reader, reuse map[entryKey][]byte) ([]derivedKey, error) {
	if len(d.windows) == 0 {
		return nil, nil
	}
	out := make([]derivedKey, 0, len(d.windows))
	first := d.windows[0].index
	next := 0
	err := findmy.ScheduleFromPublicKey(d.secret, d.public, first, d.windows[len(d.windows)-1].index-first+1, func(k findmy.RollingKey) error {
		if next >= len(d.windows) || d.windows[next].index != k.Index {
			return nil // a slot wholly outside the window
		}
		w := d.windows[next]
		next++
		key := derivedKey{FindMyKey: exposureclient.FindMyKey{Key: k.Public.Key(), Start: w.start, End: w.end}, redacted: w.redacted}
		if w.redacted {
			// Two devices may have slots that begin at the same minute;
			// each stand-in is used once, so no upload holds one twice.
			if v, ok := reuse[entryKey{devicedb.ShareEntryFindMy, w.start}]; ok && len(v) == findmy.KeySize {
				key.Key = findmy.Key(v)
				delete(reuse, entryKey{devicedb.ShareEntryFindMy, w.start})
			} else {
				fresh, err := randomKey(rnd)
				if err != nil {
					return err
				}
				key.Key = fresh
			}
		}
		out = append(out, key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("share: deriving Find My keys %d..%d: %w", first, d.windows[len(d.windows)-1].index, err)
	}
	return out, nil
}

// randomKey draws a uniformly random x-coordinate of a P-224 point: about
// every other 28-byte string is one (docs/findmy.md §4).
func randomKey(rnd io.Reader) (findmy.Key, error) {
	for {
		var k findmy.Key
		if _, err := io.ReadFull(rnd, k[:]); err != nil {
			return findmy.Key{}, fmt.Errorf("share: drawing a fresh Find My key: %w", err)
		}
		if findmy.OnCurve(&k) {
			return k, nil
		}
	}
}
