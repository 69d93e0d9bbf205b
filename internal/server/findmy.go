package server

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Find My entries of an upload (docs/api.md, "Find My keys"): either the
// advertised keys with their windows, or the public derivation material
// of the key schedule (docs/findmy.md §5), which the server expands once,
// at upload, and then forgets: only the consented keys are stored.

// MaxFindMyKeys bounds the keys of one upload: three weeks of 15-minute
// keys for two devices.
const MaxFindMyKeys = 2 * 21 * 24 * 4

// keysPerSchedule bounds one schedule entry: three weeks of 15-minute keys.
const keysPerSchedule = 21 * 24 * 4

// maxScheduleEntries bounds the schedule entries of one upload: a few
// consented windows for each of a few devices. Each entry's public key is
// parsed before the rate limiters (a compressed one costs a square root,
// about 0.3 ms), so their number must be small.
const maxScheduleEntries = 64

// maxFromIndex bounds the first key of a schedule entry: deriving SK_from
// costs one KDF step per index, and 2^20 indices are 30 years of keys.
const maxFromIndex = 1 << 20

// maxScheduleSteps bounds the KDF steps (from + count, summed over the
// entries) that one upload may cost: two devices paired 30 years ago.
// Without it, many entries with a large from would each cost the full
// walk, minutes of CPU for one request.
const maxScheduleSteps = 2 * (maxFromIndex + keysPerSchedule)

// rotationMinutes is findmy.RotationPeriod in minutes.
const rotationMinutes = 15

type findMyKeyJSON struct {
	Key   *string `json:"key"`
	Start *int64  `json:"start"`
	End   *int64  `json:"end"`
}

type findMyScheduleJSON struct {
	// Secret is SK_0 (64 hex digits); PublicKey is P_0, SEC 1 hex.
	Secret    *string `json:"secret"`
	PublicKey *string `json:"public_key"`
	// Epoch is the minute key 0 became current (the pairing time).
	Epoch *int64 `json:"epoch"`
	// From and Count select keys From .. From+Count-1: the consented window.
	From  *uint64 `json:"from"`
	Count *uint64 `json:"count"`
}

func minuteField(field string, v *int64) (pact.Minute, error) {
	if v == nil {
		return 0, fmt.Errorf("%s: %w", field, ErrFieldMissing)
	}
	if *v < 0 || *v > int64(^uint32(0)) {
		return 0, fmt.Errorf("%s %d is outside 0..%d: %w", field, *v, ^uint32(0), ErrFieldValue)
	}
	return pact.Minute(*v), nil
}

func parseFindMyKeys(in []findMyKeyJSON) ([]batch.FindMyKey, *uploadError) {
	out := make([]batch.FindMyKey, 0, len(in))
	for i, j := range in {
		field := fmt.Sprintf("findmy_keys[%d]", i)
		if j.Key == nil {
			return nil, badField(field+".key", ErrFieldMissing)
		}
		key, err := findmy.ParseKey(*j.Key)
		if err != nil {
			return nil, badField(field+".key", err)
		}
		start, err := minuteField("start", j.Start)
		if err != nil {
			return nil, badField(field+".start", err)
		}
		end, err := minuteField("end", j.End)
		if err != nil {
			return nil, badField(field+".end", err)
		}
		out = append(out, batch.FindMyKey{Key: key, Start: start, End: end})
	}
	return out, nil
}

// keyDerivationSteps is what deriving one key costs, counted in KDF steps
// (one update of the secret, about 0.37 µs on the reference machine):
// the KDF of Diversify and two P-224 scalar multiplications take about
// 0.49 ms, 1,300 steps (BenchmarkScheduleCosts).
const keyDerivationSteps = 1300

// MaxUploadDerivationSteps is the most derivation one upload may cost, in
// KDF steps: the walk to from and the keys of two devices paired 30 years
// ago. It is also the least a network's derivation budget holds.
const MaxUploadDerivationSteps = 2*maxFromIndex + MaxFindMyKeys*keyDerivationSteps

// scheduleEntry is a findmy_schedule entry whose every field and every key
// window has been checked: all that is left is the derivation.
type scheduleEntry struct {
	secret    findmy.Secret
	publicKey findmy.PublicKey
	epoch     pact.Minute
	from      uint64
	count     uint64
}

// derivationSteps is what deriving entries costs, in KDF steps.
func derivationSteps(entries []scheduleEntry) uint64 {
	var steps uint64
	for _, e := range entries {
		steps += e.from + e.count*keyDerivationSteps
	}
	return steps
}

// parseSchedules checks schedule entries by arithmetic alone, so that an
// upload is refused before any derivation whenever it can be: every field,
// the cost, and every key window, since key i of an entry is current from
// epoch + 15 i for 15 minutes (docs/findmy.md §5) and the windows of
// from .. from+count-1 lie between the first and the last. budget is the
// number of keys the upload may still hold.
func parseSchedules(in []findMyScheduleJSON, budget int, limits pact.Limits) ([]scheduleEntry, *uploadError) {
	// Sum the cost before looking at anything else, so a costly upload is
	// refused for free.
	var steps uint64
	for _, j := range in {
		if j.From != nil && j.Count != nil {
			steps += min(*j.From, maxFromIndex+1) + min(*j.Count, keysPerSchedule+1)
		}
	}
	if steps > maxScheduleSteps {
		return nil, badField("findmy_schedule", fmt.Errorf("entries would derive %d key steps (from + count, summed), limit %d: %w", steps, maxScheduleSteps, ErrTooCostly))
	}
	if len(in) > maxScheduleEntries {
		return nil, badField("findmy_schedule", fmt.Errorf("%d entries, limit %d: %w", len(in), maxScheduleEntries, ErrTooMany))
	}
	out := make([]scheduleEntry, 0, len(in))
	keys := 0
	for i, j := range in {
		field := fmt.Sprintf("findmy_schedule[%d]", i)
		switch {
		case j.Secret == nil:
			return nil, badField(field+".secret", ErrFieldMissing)
		case j.PublicKey == nil:
			return nil, badField(field+".public_key", ErrFieldMissing)
		case j.From == nil:
			return nil, badField(field+".from", ErrFieldMissing)
		case j.Count == nil:
			return nil, badField(field+".count", ErrFieldMissing)
		}
		e := scheduleEntry{from: *j.From, count: *j.Count}
		if len(*j.Secret) != 2*findmy.SecretSize {
			return nil, badField(field+".secret", fmt.Errorf("want %d hex digits, got %d: %w", 2*findmy.SecretSize, len(*j.Secret), ErrFieldValue))
		}
		if _, err := hex.Decode(e.secret[:], []byte(*j.Secret)); err != nil {
			return nil, badField(field+".secret", fmt.Errorf("not hex: %w", err))
		}
		var err error
		if e.publicKey, err = findmy.ParsePublicKey(*j.PublicKey); err != nil {
			return nil, badField(field+".public_key", err)
		}
		if e.epoch, err = minuteField("epoch", j.Epoch); err != nil {
			return nil, badField(field+".epoch", err)
		}
		if e.count == 0 || e.count > keysPerSchedule || e.count > uint64(budget-keys) {
			return nil, badField(field+".count", fmt.Errorf("count %d: want 1..%d and at most %d keys per upload: %w", e.count, keysPerSchedule, MaxFindMyKeys, ErrFieldValue))
		}
		keys += int(e.count)
		// SK_from costs one KDF per step: bound from so that a huge index
		// cannot make the server hash for hours.
		if e.from > maxFromIndex {
			return nil, badField(field+".from", fmt.Errorf("from %d exceeds %d (30 years of keys): %w", e.from, maxFromIndex, ErrFieldValue))
		}
		firstStart := uint64(e.epoch) + e.from*rotationMinutes
		lastEnd := uint64(e.epoch) + (e.from+e.count)*rotationMinutes - 1
		switch {
		case lastEnd > uint64(^uint32(0)):
			return nil, badField(field+".from", fmt.Errorf("keys end at minute %d, after the last minute %d: %w", lastEnd, ^uint32(0), ErrFieldValue))
		case lastEnd > uint64(limits.Now)+uint64(limits.Skew):
			return nil, badField(field, fmt.Errorf("key %d ends at minute %d: %w (now is %d)", e.from+e.count-1, lastEnd, pact.ErrFuture, limits.Now))
		case firstStart < uint64(limits.Horizon):
			return nil, badField(field, fmt.Errorf("key %d starts at minute %d: %w (horizon is %d)", e.from, firstStart, pact.ErrExpired, limits.Horizon))
		}
		out = append(out, e)
	}
	return out, nil
}

// advanceChunk is how many secret updates run between two looks at the
// request's context: about 1.5 ms.
const advanceChunk = 4096

// deriveSchedules derives the keys of checked entries: two P-224 scalar
// multiplications per key, so the caller runs it only after the cheap
// checks and both limiters. It stops as soon as ctx ends, since nobody
// waits for the answer any more.
func (s *Server) deriveSchedules(ctx context.Context, entries []scheduleEntry) ([]batch.FindMyKey, error) {
	var out []batch.FindMyKey
	for _, e := range entries {
		sk := e.secret
		for left := e.from; left > 0; {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("deriving Find My keys: %w", err)
			}
			n := min(left, advanceChunk)
			sk = sk.Advance(n)
			left -= n
			s.metrics.secretUpdates.Add(float64(n))
		}
		for i := range e.count {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("deriving Find My keys: %w", err)
			}
			start := e.epoch + pact.Minute((e.from+i)*rotationMinutes)
			p, err := e.publicKey.Derive(sk)
			if err != nil {
				// The point at infinity (probability about 2^-224): the
				// accessory itself could not advertise this key either.
				return nil, fmt.Errorf("deriving Find My key %d: %w", e.from+i, err)
			}
			out = append(out, batch.FindMyKey{Key: p.Key(), Start: start, End: start + rotationMinutes - 1})
			s.metrics.keysDerived.Inc()
			if i+1 < e.count {
				sk = sk.Next()
			}
		}
	}
	return out, nil
}

// checkFindMy validates keys against the time limits; field names the list.
func checkFindMy(keys []batch.FindMyKey, field string, limits pact.Limits) *uploadError {
	for i, k := range keys {
		if err := k.Validate(limits); err != nil {
			return badField(fmt.Sprintf("%s[%d]", field, i), err)
		}
	}
	return nil
}
