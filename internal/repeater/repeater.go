// Package repeater turns a listening and advertising adapter into a chirp
// repeater (spec §9.1): it records every PACT chirp and Find My key it
// hears and broadcasts each again, inside a repeated version-2 PACT frame
// from a fresh non-resolvable private address, every Every after a Delay,
// Repeats times. It needs no network, stores nothing on disk, never holds
// a seed and never sends an Apple frame.
//
// It sits beside the listening pipeline, not in it:
// hci reports -> harvest.Harvester -> Repeater.Hear -> schedule -> Run ->
// Advertiser. Memory is bounded by Config.MaxHeld entries and airtime by
// one frame on the air at a time, each for Config.Dwell; what does not fit
// is dropped and counted (Stats).
package repeater

import (
	"container/heap"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Defaults and bounds of Config (spec §9.1.5).
const (
	DefaultDelay   = time.Minute
	DefaultEvery   = time.Minute
	DefaultRepeats = 10
	// DefaultDwell is how long one repeated frame stays on the air before
	// the next takes its place: at the default advertising interval of
	// 250 ms, four advertising events, enough for a scanner with a duty
	// cycle above a quarter to catch it most of the time.
	DefaultDwell = time.Second
	// DefaultMaxHeld bounds the chirps and keys held at once: about 200
	// bytes each (BenchmarkHeld, docs/performance.md), so 65,536 take
	// about 13 MiB, whatever the crowd.
	DefaultMaxHeld = 1 << 16

	MinDwell   = 100 * time.Millisecond
	MaxDwell   = 10 * time.Second
	MaxRepeats = 60
	MaxHeld    = 1 << 22
)

// maxSpan is the longest time after first hearing a chirp that a repeater
// may still broadcast it: pact.MaxRepeatDelay minutes, less one minute so
// that the age a listener infers, with its minute rounding, never exceeds
// the matcher's window (spec §9.1.3).
const maxSpan = time.Duration(pact.MaxRepeatDelay-1) * time.Minute

// ErrConfig is wrapped by every error of New about its configuration.
var ErrConfig = errors.New("repeater: configuration out of range")

// ConfigError names the setting New refused and its value.
type ConfigError struct {
	Setting string
	Value   string
	Want    string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("repeater: %s %s: want %s", e.Setting, e.Value, e.Want)
}

func (e *ConfigError) Unwrap() error { return ErrConfig }

// Config configures a Repeater. Zero values select the defaults.
type Config struct {
	// Delay is the time from first hearing a chirp or key to its first
	// rebroadcast, Every the time between rebroadcasts and Repeats how
	// many there are. Delay + Repeats·Every must not exceed
	// pact.MaxRepeatDelay-1 minutes: a rebroadcast may go out up to an
	// Every late when the air is busy, and must still lie inside the
	// matcher's window.
	Delay, Every time.Duration
	Repeats      int
	// Dwell is how long each rebroadcast stays on the air.
	Dwell time.Duration
	// MaxHeld bounds the chirps and keys held.
	MaxHeld int
	// TxPower is the frame's TX power octet (pact.Frame.TxPower):
	// pact.TxPowerUnknown unless calibrated.
	TxPower int8
	// Clock returns the time; nil means time.Now.
	Clock func() time.Time
	// Rand draws the addresses; nil means crypto/rand.
	Rand io.Reader
	// Logger receives drops and failures; nil discards them.
	Logger *slog.Logger
}

func (c *Config) check() error {
	if c.Delay == 0 {
		c.Delay = DefaultDelay
	}
	if c.Every == 0 {
		c.Every = DefaultEvery
	}
	if c.Repeats == 0 {
		c.Repeats = DefaultRepeats
	}
	if c.Dwell == 0 {
		c.Dwell = DefaultDwell
	}
	if c.MaxHeld == 0 {
		c.MaxHeld = DefaultMaxHeld
	}
	if c.TxPower == 0 {
		c.TxPower = pact.TxPowerUnknown
	}
	switch {
	case c.Delay < time.Second || c.Delay > maxSpan:
		return &ConfigError{"delay", c.Delay.String(), fmt.Sprintf("1s..%v", maxSpan)}
	case c.Every < time.Second || c.Every > maxSpan:
		return &ConfigError{"every", c.Every.String(), fmt.Sprintf("1s..%v", maxSpan)}
	case c.Repeats < 1 || c.Repeats > MaxRepeats:
		return &ConfigError{"repeats", fmt.Sprint(c.Repeats), fmt.Sprintf("1..%d", MaxRepeats)}
	case c.Delay+time.Duration(c.Repeats)*c.Every > maxSpan:
		return &ConfigError{"delay + repeats·every", (c.Delay + time.Duration(c.Repeats)*c.Every).String(),
			fmt.Sprintf("at most %v, so that every rebroadcast lies within the matcher's %d minutes (spec §9.1.3)", maxSpan, pact.MaxRepeatDelay)}
	case c.Dwell < MinDwell || c.Dwell > MaxDwell:
		return &ConfigError{"dwell", c.Dwell.String(), fmt.Sprintf("%v..%v", MinDwell, MaxDwell)}
	case c.Dwell > c.Every:
		return &ConfigError{"dwell", c.Dwell.String(), fmt.Sprintf("at most every (%v)", c.Every)}
	case c.MaxHeld < 1 || c.MaxHeld > MaxHeld:
		return &ConfigError{"max-held", fmt.Sprint(c.MaxHeld), fmt.Sprintf("1..%d", MaxHeld)}
	case c.TxPower != pact.TxPowerUnknown && (c.TxPower < pact.TxPowerMin || c.TxPower > pact.TxPowerMax):
		return &ConfigError{"tx-power", fmt.Sprint(c.TxPower), fmt.Sprintf("%d..%d dBm", pact.TxPowerMin, pact.TxPowerMax)}
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Advertiser broadcasts one frame at a time from an address of the
// caller's choosing: hci.LiveAdvertiser with extended PDUs.
type Advertiser interface {
	Advertise(ctx context.Context, addr [6]byte, data []byte) error
	Stop(ctx context.Context) error
}

// Stats counts what a repeater did. Every counter only grows except Held.
type Stats struct {
	// Heard counts chirps and keys offered to Hear; Duplicates those
	// already held (a chirp is heard many times in its minute).
	Heard, Duplicates uint64
	// Held is how many are held now.
	Held int
	// Broadcasts counts repeated frames put on the air.
	Broadcasts uint64
	// DroppedMemory counts chirps and keys not held because MaxHeld were
	// held already; DroppedAirtime counts rebroadcasts skipped because
	// the air was busy until past their time; DroppedRepeated counts
	// repeated frames heard, which a repeater never repeats again.
	DroppedMemory, DroppedAirtime, DroppedRepeated uint64
	// Failures counts advertiser errors.
	Failures uint64
}

// entry is one chirp or key held, with its schedule.
type entry struct {
	bytes pact.Chirp
	kind  pact.FrameKind
	first time.Time // when it was first heard
	done  int       // rebroadcasts made or skipped
	due   time.Time // time of the next rebroadcast
	index int       // position in the heap
}

// schedule is a min-heap of entries by due time.
type schedule []*entry

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].due.Before(s[j].due) }
func (s schedule) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].index, s[j].index = i, j
}
func (s *schedule) Push(x any) {
	e := x.(*entry)
	e.index = len(*s)
	*s = append(*s, e)
}
func (s *schedule) Pop() any {
	old := *s
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	return e
}

// Repeater holds what it heard and rebroadcasts it on schedule. Hear and
// Run may be called from different goroutines.
type Repeater struct {
	cfg Config

	mu    sync.Mutex
	held  map[pact.Chirp]*entry
	queue schedule
	stats Stats
	wake  chan struct{}
	ad    []byte
}

// New checks cfg and returns a repeater holding nothing.
func New(cfg Config) (*Repeater, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &Repeater{cfg: cfg, held: map[pact.Chirp]*entry{}, wake: make(chan struct{}, 1)}, nil
}

// Config returns the configuration with its defaults filled in.
func (r *Repeater) Config() Config { return r.cfg }

// Stats returns the counters.
func (r *Repeater) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Held = len(r.held)
	return s
}

// HearResult offers what the harvester made of one report: a native
// chirp or a Find My key on P-224 is held for rebroadcast; a repeated
// frame is counted and dropped, so that repeaters never pass on each
// other's frames and no age grows past what its first repeater saw.
func (r *Repeater) HearResult(res *harvest.Result) {
	switch res.Kind {
	case harvest.KindPACT:
		r.Hear(res.Sighting.Chirp, pact.FrameChirp, res.Time)
	case harvest.KindFindMy:
		r.Hear(res.Sighting.Chirp, pact.FrameFindMyKey, res.Time)
	case harvest.KindRepeated, harvest.KindFindMyRepeated:
		r.mu.Lock()
		r.stats.DroppedRepeated++
		r.mu.Unlock()
	}
}

// Hear holds chirp or key b, of kind k, first heard at t, unless it is
// held already or MaxHeld are.
func (r *Repeater) Hear(b pact.Chirp, k pact.FrameKind, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Heard++
	if _, ok := r.held[b]; ok {
		r.stats.Duplicates++
		return
	}
	if len(r.held) >= r.cfg.MaxHeld {
		r.stats.DroppedMemory++
		return
	}
	e := &entry{bytes: b, kind: k, first: t, due: t.Add(r.cfg.Delay)}
	r.held[b] = e
	heap.Push(&r.queue, e)
	if e.index == 0 {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// next returns the entry to broadcast now and its frame, or the time to
// wait for when nothing is due. A rebroadcast that could not go on the
// air before its next one is due (more than Every-Dwell late, the air
// being busy with others) is skipped and counted: so at most Every/Dwell
// frames share an Every, however many are held. An entry whose schedule
// is over is forgotten.
func (r *Repeater) next(now time.Time) (*entry, pact.Frame, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.queue) > 0 {
		e := r.queue[0]
		if e.due.After(now) {
			return nil, pact.Frame{}, e.due
		}
		late := now.Sub(e.due) > r.cfg.Every-r.cfg.Dwell
		age := now.Sub(e.first)
		e.done++
		if e.done >= r.cfg.Repeats {
			heap.Pop(&r.queue)
			delete(r.held, e.bytes)
		} else {
			e.due = e.first.Add(r.cfg.Delay + time.Duration(e.done)*r.cfg.Every)
			heap.Fix(&r.queue, 0)
		}
		if late || age > maxSpan {
			r.stats.DroppedAirtime++
			continue
		}
		f := pact.Frame{Chirp: e.bytes, Kind: e.kind, TxPower: r.cfg.TxPower, Repeated: true, Age: uint8(age / time.Minute)}
		return e, f, time.Time{}
	}
	return nil, pact.Frame{}, time.Time{}
}

// idle is how long Run waits when nothing is held.
const idle = time.Minute

// Run broadcasts what is due, one frame at a time, each from a fresh
// address for Dwell, until ctx is done; then it stops advertising. An
// advertiser error is logged and counted, and the next frame tries again;
// a closed controller (hci.ErrClosed) ends Run with its error.
func (r *Repeater) Run(ctx context.Context, adv Advertiser) error {
	on := false
	defer func() {
		if on {
			stop, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := adv.Stop(stop); err != nil {
				r.cfg.Logger.Warn("stopping advertising", "err", err)
			}
		}
	}()
	for {
		now := r.cfg.Clock()
		e, f, until := r.next(now)
		wait := r.cfg.Dwell
		if e != nil {
			if err := r.broadcast(ctx, adv, f); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, hci.ErrClosed) {
					return err // the controller is gone: nothing to retry
				}
				r.mu.Lock()
				r.stats.Failures++
				r.mu.Unlock()
				r.cfg.Logger.Error("repeating a frame", "err", err)
			} else {
				on = true
			}
		} else {
			if on {
				if err := adv.Stop(ctx); err != nil && ctx.Err() == nil {
					r.cfg.Logger.Warn("stopping advertising", "err", err)
				}
				on = false
			}
			wait = idle
			if !until.IsZero() {
				wait = until.Sub(now)
			}
		}
		if e != nil {
			// The frame on the air has its Dwell, whatever is heard
			// meanwhile.
			wait = r.cfg.Dwell
		}
		t := time.NewTimer(wait)
		wake := r.wake
		if e != nil {
			wake = nil
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// broadcast puts f on the air from a fresh non-resolvable private
// address (docs/native-frame.md §7.6.4): a listener cannot link two
// rebroadcasts, nor a rebroadcast to the repeater.
func (r *Repeater) broadcast(ctx context.Context, adv Advertiser, f pact.Frame) error {
	addr, err := pact.NewFrameAddress(r.cfg.Rand)
	if err != nil {
		return err
	}
	r.ad = f.AppendAD(r.ad[:0])
	if err := adv.Advertise(ctx, addr, r.ad); err != nil {
		return fmt.Errorf("advertising a repeated frame of age %d: %w", f.Age, err)
	}
	r.mu.Lock()
	r.stats.Broadcasts++
	r.mu.Unlock()
	return nil
}

// logStats logs the counters, drops included, as one line.
func (r *Repeater) logStats(log *slog.Logger, msg string) {
	s := r.Stats()
	level := slog.LevelInfo
	if s.DroppedMemory+s.DroppedAirtime > 0 {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, msg, "heard", s.Heard, "held", s.Held, "broadcasts", s.Broadcasts,
		"dropped_memory", s.DroppedMemory, "dropped_airtime", s.DroppedAirtime, "dropped_repeated", s.DroppedRepeated,
		"failures", s.Failures)
}
