package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Find My entries of an upload (docs/api.md, "Find My keys"): the
// advertised keys with their windows, kinds and proofs of possession
// (docs/findmy.md §8). The former findmy_schedule form, which sent the
// secrets that give every key of an accessory, past and future, is
// refused.

// MaxFindMyKeys bounds the keys of one upload: three weeks of 15-minute
// primary keys and 22 daily secondary keys for two devices.
const MaxFindMyKeys = 2 * (21*24*4 + 22)

// primaryWindowMinutes is the longest window of a primary key: one
// rotation period (docs/findmy.md §5.3).
const primaryWindowMinutes = 15

// Errors of Find My keys, each wrapped with the entry at fault.
var (
	// ErrFindMyProof: a Find My key without a valid proof of possession
	// (docs/findmy.md §8): missing, malformed (wrapping
	// findmy.ErrProofEncoding) or not verifying (findmy.ErrProofInvalid).
	ErrFindMyProof = errors.New("no valid proof of possession for a Find My key")
	// ErrScheduleRetired: an upload with the findmy_schedule field, which
	// revealed every key of an accessory and is no longer accepted.
	ErrScheduleRetired = errors.New("findmy_schedule is retired: derive the keys on the device and upload findmy_keys with proofs of possession")
)

type findMyKeyJSON struct {
	Key       *string `json:"key"`
	Start     *int64  `json:"start"`
	End       *int64  `json:"end"`
	Secondary *bool   `json:"secondary"`
	Proof     *string `json:"proof"`
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

// parseFindMyKeys reads the entries of findmy_keys. The proof is read and
// its encoding checked here; it is verified only after the rate limiters
// (verifyFindMyProofs), since verifying costs a square root and an ECDSA
// verification.
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
		if j.Proof == nil {
			return nil, badField(field+".proof", fmt.Errorf("%w: %w", ErrFindMyProof, ErrFieldMissing))
		}
		proof, err := findmy.ParseProof(*j.Proof)
		if err != nil {
			return nil, badField(field+".proof", fmt.Errorf("%w: %w", ErrFindMyProof, err))
		}
		out = append(out, batch.FindMyKey{Key: key, Start: start, End: end, Secondary: j.Secondary != nil && *j.Secondary, Proof: proof})
	}
	return out, nil
}

// checkFindMy validates keys against the time limits and the window of
// their kind; field names the list.
func checkFindMy(keys []batch.FindMyKey, field string, limits pact.Limits) *uploadError {
	for i, k := range keys {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := k.Validate(limits); err != nil {
			return badField(f, err)
		}
		if !k.Secondary && k.End-k.Start+1 > primaryWindowMinutes {
			return badField(f, fmt.Errorf("primary key %s window %d..%d is longer than its %d-minute rotation period: %w",
				k.Key, k.Start, k.End, primaryWindowMinutes, ErrFieldValue))
		}
	}
	return nil
}

// kindOf returns the kind a batch entry names (docs/findmy.md §8.1).
func kindOf(k batch.FindMyKey) findmy.KeyKind {
	if k.Secondary {
		return findmy.SecondaryKey
	}
	return findmy.PrimaryKey
}

// verifyFindMyProofs verifies the proof of every key for region
// (docs/findmy.md §8.3), stopping at the first that fails or when ctx
// ends. The caller runs it after the cheap checks and both limiters.
func (s *Server) verifyFindMyProofs(ctx context.Context, keys []batch.FindMyKey, region string) *uploadError {
	for i, k := range keys {
		if err := ctx.Err(); err != nil {
			return &uploadError{status: http.StatusServiceUnavailable, code: "unavailable", err: fmt.Errorf("the request ended before its Find My proofs were verified; nothing was kept: %w: %w", ErrUnavailable, err)}
		}
		st := findmy.Statement{Key: k.Key, Kind: kindOf(k), Start: uint32(k.Start), End: uint32(k.End), Region: region}
		s.metrics.proofsVerified.Inc()
		if err := findmy.VerifyProof(st, findmy.Proof(k.Proof)); err != nil {
			s.metrics.proofsRefused.Inc()
			return badField(fmt.Sprintf("findmy_keys[%d].proof", i), fmt.Errorf("%w: %w", ErrFindMyProof, err))
		}
	}
	return nil
}
