package share

import (
	"crypto/elliptic"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

// maxKeyIndex bounds the first key index of a device: deriving SK_i costs
// i KDF steps, and 2^20 indices are 30 years of 15-minute keys.
const maxKeyIndex = 1 << 20

// keyWindow is one key of a device's schedule inside the shared window.
type keyWindow struct {
	kind       findmy.KeyKind
	index      uint64
	start, end pact.Minute
	redacted   bool
}

// deviceKeys is a validated device with the keys it yields.
type deviceKeys struct {
	secret    findmy.Secret
	private   findmy.PrivateKey
	secondary *findmy.Secret
	// windows are the primary keys' windows, then the secondary keys'.
	windows []keyWindow
	summary DeviceKeys
}

// planDevice checks the key material of device i and lists its keys whose
// slot overlaps the window from..to, each cut to the window: the primary
// keys' 15-minute slots (docs/findmy.md §5.3) and, with a secondary
// secret, the secondary keys' days (§9.2). A key overlapping an excluded
// hour is redacted like a seed (spec §6.4): a stand-in takes its place.
func planDevice(i int, d FindMyDevice, from, to time.Time, excluded map[pact.Minute]bool) (deviceKeys, error) {
	field := fmt.Sprintf("findmy[%d]", i)
	secret, err := parseSecret(d.Secret)
	if err != nil {
		return deviceKeys{}, fieldError(field+".secret", ErrFindMyDevice, "%v", err)
	}
	priv, err := findmy.ParsePrivateKey(d.PrivateKey)
	if err != nil {
		return deviceKeys{}, &FieldError{Field: field + ".private_key", Err: fmt.Errorf("%w: %w", ErrFindMyDevice, err)}
	}
	dk := deviceKeys{secret: secret, private: priv, summary: DeviceKeys{Name: d.Name}}
	if d.SecondarySecret != "" {
		sks, err := parseSecret(d.SecondarySecret)
		if err != nil {
			return deviceKeys{}, fieldError(field+".secondary_secret", ErrFindMyDevice, "%v", err)
		}
		dk.secondary = &sks
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
	lo, hi := pact.MinuteOf(from), pact.MinuteOf(to)
	add := func(w keyWindow) {
		if w.start > w.end {
			return
		}
		// Every hour the key's window touches must be shared.
		for h := w.start.HourStart(); h <= w.end; h += 60 {
			if excluded[h] {
				w.redacted = true
				break
			}
		}
		dk.windows = append(dk.windows, w)
		if w.redacted {
			dk.summary.Redacted++
		}
	}
	for idx := first; idx <= last; idx++ {
		// As `findmy-harvester derive --epoch` prints them.
		slot := d.Epoch.Add(time.Duration(idx) * findmy.RotationPeriod)
		add(keyWindow{kind: findmy.PrimaryKey, index: idx, start: max(pact.MinuteOf(slot), lo), end: min(pact.MinuteOf(slot.Add(findmy.RotationPeriod-time.Second)), hi)})
	}
	if dk.secondary != nil {
		// Secondary keys of every day the window touches (§9.3).
		// SecondaryIndexAt gives 1 for times before pairing.
		for j := findmy.SecondaryIndexAt(d.Epoch, from); j <= findmy.SecondaryIndexAt(d.Epoch, to); j++ {
			wf, wt, err := findmy.SecondaryWindow(d.Epoch, j)
			if err != nil {
				return deviceKeys{}, fieldError(field+".epoch", ErrFindMyDevice, "secondary key %d: %v", j, err)
			}
			if !wf.Before(wt) {
				continue // paired at 04:00: key 1 is never current
			}
			add(keyWindow{kind: findmy.SecondaryKey, index: j, start: max(pact.MinuteOf(wf), lo), end: min(pact.MinuteOf(wt.Add(-time.Second)), hi)})
		}
	}
	dk.summary.Keys = len(dk.windows)
	if len(dk.windows) > 0 {
		dk.summary.First, dk.summary.Last = dk.windows[0].start, dk.windows[0].end
		for _, w := range dk.windows {
			dk.summary.First, dk.summary.Last = min(dk.summary.First, w.start), max(dk.summary.Last, w.end)
		}
	}
	return dk, nil
}

func parseSecret(s string) (findmy.Secret, error) {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != findmy.SecretSize {
		return findmy.Secret{}, fmt.Errorf("want %d bytes in hex, got %d characters", findmy.SecretSize, len(s))
	}
	return findmy.Secret(raw), nil
}

// derivedKey is a key to upload.
type derivedKey struct {
	exposureclient.FindMyKey
	redacted bool
}

// derive computes the device's keys on the device, d_i = d_0*u + v from
// SK_i or SKS_j (docs/findmy.md §5.3, §9.1), and signs each one's proof of
// possession for region (§8). A redacted key is replaced by its stand-in
// (standIn), which has a proof like any key and matches nothing.
func (d deviceKeys) derive(region string) ([]derivedKey, error) {
	out := make([]derivedKey, 0, len(d.windows))
	var primary, secondary []keyWindow
	for _, w := range d.windows {
		if w.kind == findmy.SecondaryKey {
			secondary = append(secondary, w)
		} else {
			primary = append(primary, w)
		}
	}
	for _, part := range []struct {
		windows []keyWindow
		secret  *findmy.Secret
	}{{primary, &d.secret}, {secondary, d.secondary}} {
		ws := part.windows
		if len(ws) == 0 {
			continue
		}
		first, last := ws[0].index, ws[len(ws)-1].index
		next := 0
		err := findmy.ScheduleFromPrivateKey(*part.secret, d.private, first, last-first+1, func(k findmy.RollingKey) error {
			if next >= len(ws) || ws[next].index != k.Index {
				return nil // a slot wholly outside the window
			}
			w := ws[next]
			next++
			priv := *k.Private
			if w.redacted {
				var err error
				if priv, err = standIn(k.Secret); err != nil {
					return err
				}
			}
			st := findmy.Statement{Key: priv.Public().Key(), Kind: w.kind, Start: uint32(w.start), End: uint32(w.end), Region: region}
			proof, err := findmy.SignProof(priv, st)
			if err != nil {
				return err
			}
			out = append(out, derivedKey{
				FindMyKey: exposureclient.FindMyKey{Key: st.Key, Start: w.start, End: w.end, Secondary: w.kind == findmy.SecondaryKey, Proof: proof},
				redacted:  w.redacted,
			})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("share: deriving Find My keys %d..%d (kind %d): %w", first, last, ws[0].kind, err)
		}
	}
	return out, nil
}

// standInLabel is the KDF info that draws a redacted key's stand-in.
const standInLabel = "PACT redacted Find My key"

// standIn returns the private key of the stand-in for the key of secret
// sk: a scalar drawn from sk by the KDF of docs/findmy.md §5, so that it
// looks like any key without sk, the same stand-in goes out in every
// upload that covers the slot (two uploads never tell a stand-in from a
// real key by a difference), and its proof of possession can be signed
// like a real key's.
func standIn(sk findmy.Secret) (findmy.PrivateKey, error) {
	b := findmy.KDF(sk[:], []byte(standInLabel), 36)
	n := elliptic.P224().Params().N
	k := new(big.Int).Mod(new(big.Int).SetBytes(b), new(big.Int).Sub(n, big.NewInt(1)))
	k.Add(k, big.NewInt(1))
	d, err := findmy.NewPrivateKey(k.FillBytes(make([]byte, findmy.KeySize)))
	if err != nil {
		return findmy.PrivateKey{}, fmt.Errorf("share: stand-in key: %w", err)
	}
	return d, nil
}
