package findmy

import (
	"errors"
	"fmt"
	"time"
)

// Secondary keys (findmy §9): an accessory away from its owner advertises
// keys derived exactly as primary keys are (findmy §5.2, §5.3), from the
// same d_0 but from a separate secret SKS_0, with index j advanced once a
// day at about 04:00 local time.

// SecondaryRotationPeriod is how long a separated accessory advertises one
// secondary key.
const SecondaryRotationPeriod = 24 * time.Hour

// SecondaryRolloverHour is the local hour of day at which secondary keys
// rotate (findmy §9.2).
const SecondaryRolloverHour = 4

// FirstSecondaryIndex is the index of the secondary key current from
// pairing until the first rollover; SKS_0 itself is never advertised
// (findmy §9.2).
const FirstSecondaryIndex = 1

// FirstSecondaryRollover returns R_1, the first instant at or after paired
// whose local time, in paired's location, is 04:00 (findmy §9.2). The
// location is what the key material gives: the UTC offset of an RFC 3339
// pairing time.
func FirstSecondaryRollover(paired time.Time) time.Time {
	r := time.Date(paired.Year(), paired.Month(), paired.Day(), SecondaryRolloverHour, 0, 0, 0, paired.Location())
	if r.Before(paired) {
		r = time.Date(paired.Year(), paired.Month(), paired.Day()+1, SecondaryRolloverHour, 0, 0, 0, paired.Location())
	}
	return r
}

// SecondaryIndexAt returns the index of the secondary key current at t
// (findmy §9.2): 1 before the first rollover R_1, then 2 + the whole days
// since R_1. Times before paired give 1.
func SecondaryIndexAt(paired, t time.Time) uint64 {
	r1 := FirstSecondaryRollover(paired)
	if t.Before(r1) {
		return FirstSecondaryIndex
	}
	return FirstSecondaryIndex + 1 + uint64(t.Sub(r1)/SecondaryRotationPeriod)
}

// SecondaryWindow returns the instants [from, to) during which secondary
// key j is current (findmy §9.2): key 1 from paired to R_1, key j >= 2
// from R_1 + (j-2) days for one day. Rollovers are 24 hours apart, not
// calendar days: a daylight-saving change moves 04:00 local time by an
// hour, which the tolerance of findmy §7.1 covers. j = 0 fails.
func SecondaryWindow(paired time.Time, j uint64) (from, to time.Time, err error) {
	r1 := FirstSecondaryRollover(paired)
	switch {
	case j < FirstSecondaryIndex:
		return time.Time{}, time.Time{}, fmt.Errorf("findmy: secondary key index %d: the first is %d: %w", j, FirstSecondaryIndex, ErrKeyIndex)
	case j == FirstSecondaryIndex:
		return paired, r1, nil
	case j-2 > maxSecondaryDays:
		return time.Time{}, time.Time{}, fmt.Errorf("findmy: secondary key index %d: more than %d days after pairing: %w", j, maxSecondaryDays, ErrKeyIndex)
	}
	from = r1.Add(time.Duration(j-2) * SecondaryRotationPeriod)
	return from, from.Add(SecondaryRotationPeriod), nil
}

// maxSecondaryDays keeps SecondaryWindow's durations far inside
// time.Duration: 100 years.
const maxSecondaryDays = 100 * 366

// ErrKeyIndex is a key index that no accessory advertises.
var ErrKeyIndex = errors.New("key index out of range")

// SecondaryKeysFromPrivateKey derives the secondary keys with indices
// from, ..., from+count-1 from SKS_0 and d_0, as ScheduleFromPrivateKey
// derives primary keys from SK_0: key j uses SKS_j (findmy §9.1).
func SecondaryKeysFromPrivateKey(sks0 Secret, d0 PrivateKey, from, count uint64, fn func(RollingKey) error) error {
	return ScheduleFromPrivateKey(sks0, d0, from, count, fn)
}
