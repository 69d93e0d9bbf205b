package pact

import (
	"fmt"
	"sync"
	"time"
)

// Minute is a PACT time step: floor(unix_seconds / 60) as an unsigned 32-bit
// number (spec §2). Minute 0 is 1970-01-01T00:00Z.
type Minute uint32

// MinutesPerHour is the life of one seed (spec §2).
const MinutesPerHour = 60

// MinutesPerDay is used for retention arithmetic and per-day summaries.
const MinutesPerDay = 24 * 60

// DefaultRetention is how long seeds and contacts are kept: "3 months",
// fixed at 90 days so that every implementation erases on the same day (spec §5).
const DefaultRetention = 90 * MinutesPerDay

// MaxRetention is the longest a device keeps seeds and sightings (spec
// §5.3): an owner may shorten the retention, never lengthen it, and a
// longer setting is cut to this.
const MaxRetention = DefaultRetention

// MinRetention is the shortest retention an owner may choose: a day, so
// that a device still holds the seeds of the current hour and the contacts
// of the last day when it matches or uploads.
const MinRetention = MinutesPerDay

// MaxClockError is how far a device's clock may be from UTC (spec §2).
// With a sender that switches chirps within 30 s of the minute boundary
// (native-frame.md §7.6.5), it keeps the minute heard within
// DefaultMatchTolerance of the chirp's minute: 30 s + 2 × 15 s = 60 s.
const MaxClockError = 15 * time.Second

// MinuteOf returns the minute that contains t. Times before 1970 map to 0 and
// times past 2^32 minutes (year 10136) saturate.
func MinuteOf(t time.Time) Minute {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	m := s / 60
	if m > int64(^uint32(0)) {
		return Minute(^uint32(0))
	}
	return Minute(m)
}

// Time returns the instant the minute starts, in UTC.
func (m Minute) Time() time.Time { return time.Unix(int64(m)*60, 0).UTC() }

// HourStart returns the first minute of the UTC hour that contains m.
func (m Minute) HourStart() Minute { return m - m%MinutesPerHour }

// Day returns the UTC day number (days since 1970-01-01) that contains m.
func (m Minute) Day() uint32 { return uint32(m) / MinutesPerDay }

// String formats the minute as an RFC 3339 UTC time followed by its number,
// for logs and error messages.
func (m Minute) String() string {
	return fmt.Sprintf("%s(%d)", m.Time().Format("2006-01-02T15:04Z"), uint32(m))
}

// Clock tells the current time. Logs take one so tests and simulations can
// drive time; production code uses SystemClock.
type Clock interface {
	Now() time.Time
}

// ManualClock is a Clock that stands at the time it was last set to, for
// simulations and tests that drive the logs through hours and days. It is
// safe for concurrent use.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Now returns the time last set, or the zero time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
