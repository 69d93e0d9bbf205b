package server

import (
	"encoding/hex"
	"errors"
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
		return 0, fmt.Errorf("%s is missing", field)
	}
	if *v < 0 || *v > int64(^uint32(0)) {
		return 0, fmt.Errorf("%s %d is outside 0..%d", field, *v, ^uint32(0))
	}
	return pact.Minute(*v), nil
}

func parseFindMyKeys(in []findMyKeyJSON) ([]batch.FindMyKey, *uploadError) {
	out := make([]batch.FindMyKey, 0, len(in))
	for i, j := range in {
		field := fmt.Sprintf("findmy_keys[%d]", i)
		if j.Key == nil {
			return nil, badField(field+".key", errors.New("field is missing"))
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

// expandSchedules derives the keys of each schedule entry. It costs two
// P-224 scalar multiplications per key, so the caller runs it only after
// the cheap checks and the rate limiter.
func expandSchedules(in []findMyScheduleJSON, budget int) ([]batch.FindMyKey, *uploadError) {
	// Sum the cost before deriving anything, so a costly upload is refused
	// for free.
	var steps uint64
	for _, j := range in {
		if j.From != nil && j.Count != nil {
			steps += min(*j.From, maxFromIndex+1) + min(*j.Count, keysPerSchedule+1)
		}
	}
	if steps > maxScheduleSteps {
		return nil, badField("findmy_schedule", fmt.Errorf("entries would derive %d key steps (from + count, summed), limit %d", steps, maxScheduleSteps))
	}
	var out []batch.FindMyKey
	for i, j := range in {
		field := fmt.Sprintf("findmy_schedule[%d]", i)
		switch {
		case j.Secret == nil:
			return nil, badField(field+".secret", errors.New("field is missing"))
		case j.PublicKey == nil:
			return nil, badField(field+".public_key", errors.New("field is missing"))
		case j.From == nil:
			return nil, badField(field+".from", errors.New("field is missing"))
		case j.Count == nil:
			return nil, badField(field+".count", errors.New("field is missing"))
		}
		var sk findmy.Secret
		if len(*j.Secret) != 2*findmy.SecretSize {
			return nil, badField(field+".secret", fmt.Errorf("want %d hex digits, got %d", 2*findmy.SecretSize, len(*j.Secret)))
		}
		if _, err := hex.Decode(sk[:], []byte(*j.Secret)); err != nil {
			return nil, badField(field+".secret", fmt.Errorf("not hex: %w", err))
		}
		p0, err := findmy.ParsePublicKey(*j.PublicKey)
		if err != nil {
			return nil, badField(field+".public_key", err)
		}
		epoch, err := minuteField("epoch", j.Epoch)
		if err != nil {
			return nil, badField(field+".epoch", err)
		}
		count := *j.Count
		if count == 0 || count > keysPerSchedule || count > uint64(budget-len(out)) {
			return nil, badField(field+".count", fmt.Errorf("count %d: want 1..%d and at most %d keys per upload", count, keysPerSchedule, MaxFindMyKeys))
		}
		// SK_from costs one KDF per step: bound from so that a huge index
		// cannot make the server hash for hours.
		if *j.From > maxFromIndex {
			return nil, badField(field+".from", fmt.Errorf("from %d exceeds %d (30 years of keys)", *j.From, maxFromIndex))
		}
		lastStart := uint64(epoch) + (*j.From+count-1)*rotationMinutes
		if lastStart+rotationMinutes-1 > uint64(^uint32(0)) {
			return nil, badField(field+".from", errors.New("keys end after the last minute"))
		}
		err = findmy.ScheduleFromPublicKey(sk, p0, *j.From, count, func(rk findmy.RollingKey) error {
			start := pact.Minute(uint64(epoch) + rk.Index*rotationMinutes)
			out = append(out, batch.FindMyKey{Key: rk.Public.Key(), Start: start, End: start + rotationMinutes - 1})
			return nil
		})
		if err != nil {
			return nil, badField(field, err)
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
