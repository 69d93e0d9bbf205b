package pact

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// SeedLog is a device's seed log (spec §5.1): it draws a fresh seed at the
// first chirp of each UTC hour, tells the chirp to send now, and builds
// upload bundles.
type SeedLog struct {
	store     SeedStore
	clock     Clock
	rand      io.Reader
	retention Minute

	mu          sync.Mutex
	current     SeedRecord
	key         *ChirpKey
	haveCurrent bool
	// previous is the key of the hour before current, kept so that Own
	// recognises this device's chirps a repeater brings back across an
	// hour boundary.
	previous     *ChirpKey
	previousHour Minute
	snoozedUntil time.Time
}

// SeedLogOptions configure a SeedLog. The zero value means the wall clock,
// crypto/rand and DefaultRetention.
type SeedLogOptions struct {
	Clock     Clock
	Rand      io.Reader
	Retention Minute
}

// NewSeedLog returns a seed log over store.
func NewSeedLog(store SeedStore, opts SeedLogOptions) *SeedLog {
	l := &SeedLog{store: store, clock: opts.Clock, rand: opts.Rand, retention: opts.Retention}
	if l.clock == nil {
		l.clock = SystemClock{}
	}
	if l.rand == nil {
		l.rand = rand.Reader
	}
	if l.retention == 0 {
		l.retention = DefaultRetention
	}
	l.retention = min(max(l.retention, MinRetention), MaxRetention)
	return l
}

// Snooze stops chirping until the given time; the zero time resumes at
// once. A snoozed device draws no seed, so an hour spent entirely snoozed
// leaves nothing to upload.
func (l *SeedLog) Snooze(until time.Time) {
	l.mu.Lock()
	l.snoozedUntil = until
	l.mu.Unlock()
}

// Snoozed reports whether the log is snoozed now, and until when.
func (l *SeedLog) Snoozed() (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clock.Now().Before(l.snoozedUntil), l.snoozedUntil
}

// ChirpNow returns the chirp to broadcast now and its minute. ok is false
// while the log is snoozed. The first call in an hour draws and durably
// stores that hour's seed before any chirp derived from it is returned.
func (l *SeedLog) ChirpNow(ctx context.Context) (c Chirp, m Minute, ok bool, err error) {
	m = MinuteOf(l.clock.Now())
	c, ok, err = l.ChirpFor(ctx, m)
	return c, m, ok, err
}

// ErrChirpMinute is the error of ChirpFor for a minute it does not serve.
var ErrChirpMinute = errors.New("pact: no chirp for that minute")

// ChirpFor returns the chirp of minute m, which must be the current
// minute or the next one: a sender switches to the chirp of a minute up
// to 30 s before the minute begins (docs/native-frame.md §7.6.5). ok is
// false while the log is snoozed. The first chirp of an hour draws and
// durably stores that hour's seed, starting at m, before any chirp
// derived from it is returned.
func (l *SeedLog) ChirpFor(ctx context.Context, m Minute) (c Chirp, ok bool, err error) {
	now := l.clock.Now()
	if cur := MinuteOf(now); m != cur && m != cur+1 {
		return Chirp{}, false, fmt.Errorf("minute %v at %v, want %v or %v: %w", m, now.UTC().Format(time.RFC3339), cur, cur+1, ErrChirpMinute)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.snoozedUntil) {
		return Chirp{}, false, nil
	}
	if !l.haveCurrent || l.current.Hour() != m.HourStart() {
		if l.haveCurrent && m.HourStart() < l.current.Hour() {
			return Chirp{}, false, fmt.Errorf("minute %v precedes the hour %v already started: %w", m, l.current.Hour(), ErrChirpMinute)
		}
		seed, err := NewSeed(l.rand)
		if err != nil {
			return Chirp{}, false, err
		}
		rec, err := l.store.PutSeed(ctx, SeedRecord{Seed: seed, Start: m})
		if err != nil {
			return Chirp{}, false, fmt.Errorf("pact: starting the seed of hour %v: %w", m.HourStart(), err)
		}
		if l.haveCurrent {
			l.previous, l.previousHour = l.key, l.current.Hour()
		}
		l.current, l.key, l.haveCurrent = rec, NewChirpKey(&rec.Seed), true
	}
	return l.key.Chirp(m), true, nil
}

// Own reports whether c, heard at minute heard, is one of this device's
// own chirps of the last MaxRepeatDelay+τ minutes, which a repeater
// brought back (spec §9.1.3): a device must not log itself as its own
// contact. It knows the seeds of the current and the previous hour
// drawn by this SeedLog, and costs at most MaxRepeatDelay+3 chirps.
func (l *SeedLog) Own(c Chirp, heard Minute) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.haveCurrent {
		return false
	}
	lo := heard - min(heard, MaxRepeatDelay+DefaultMatchTolerance)
	hi := heard + DefaultMatchTolerance
	for m := lo; m <= hi && m >= lo; m++ {
		var k *ChirpKey
		switch m.HourStart() {
		case l.current.Hour():
			k = l.key
		case l.previousHour:
			k = l.previous
		}
		if k != nil && k.Chirp(m) == c {
			return true
		}
	}
	return false
}

// Expire erases every seed older than the retention period (spec §5.3).
func (l *SeedLog) Expire(ctx context.Context) (int64, error) {
	now := MinuteOf(l.clock.Now())
	if now < l.retention {
		return 0, nil
	}
	return l.store.DeleteSeedsBefore(ctx, now-l.retention)
}

// DefaultBundleDays is the period an upload covers unless the owner
// chooses another (spec §6.4).
const DefaultBundleDays = 21

// BundleOptions choose what an upload contains (spec §6.4).
type BundleOptions struct {
	// From and To bound the hours included; zero values mean the last
	// DefaultBundleDays days up to now.
	From, To time.Time
	// Exclude reports hours (by their first minute) that the owner
	// redacts. Each gets a fresh random seed in place of the real one, so
	// the upload looks the same whether or not anything was redacted.
	Exclude func(hour Minute) bool
}

// Bundle returns the tuples to upload: one per seed in the period, in hour
// order. A tuple spans from the minute its seed was drawn to the end of its
// hour, or to now for the current hour. A seed whose hour began before the
// retention horizon is left out even if Expire has not erased it yet: it
// should no longer exist (spec §5.3), and receivers may reject it (§6.3).
func (l *SeedLog) Bundle(ctx context.Context, opts BundleOptions) ([]Tuple, error) {
	now := MinuteOf(l.clock.Now())
	horizon := LimitsAt(now, l.retention).Horizon
	to := now
	if !opts.To.IsZero() {
		to = min(MinuteOf(opts.To), now)
	}
	var from Minute
	if !opts.From.IsZero() {
		from = MinuteOf(opts.From)
	} else if to > DefaultBundleDays*MinutesPerDay {
		from = to - DefaultBundleDays*MinutesPerDay
	}
	var tuples []Tuple
	err := l.store.Seeds(ctx, from.HourStart(), to, func(r SeedRecord) error {
		t := Tuple{Seed: r.Seed, Start: r.Start, End: min(r.Hour()+MinutesPerHour-1, now)}
		if t.Start > t.End || r.Hour() < horizon {
			return nil
		}
		if opts.Exclude != nil && opts.Exclude(r.Hour()) {
			seed, err := NewSeed(l.rand)
			if err != nil {
				return err
			}
			t.Seed = seed
		}
		tuples = append(tuples, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pact: building the upload bundle for %v..%v: %w", from, to, err)
	}
	return tuples, nil
}
