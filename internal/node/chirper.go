package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Advertiser broadcasts one frame at a time from an address of the
// caller's choosing: hci.LiveAdvertiser on a local adapter.
type Advertiser interface {
	Advertise(ctx context.Context, addr [6]byte, data []byte) error
	Stop(ctx context.Context) error
}

// Chirper broadcasts the seed log's chirp of the current minute through an
// advertiser (spec §7): at every switch instant it asks the seed log for
// the minute's chirp, which draws and stores the hour's seed first when
// the hour is new, and hands the native frame and its address to the
// advertiser in one call, so address and data change together.
//
// It sends the native frame version 2 (docs/native-frame.md §7.6) from a
// fresh non-resolvable private address each minute, or version 1 for a
// controller without extended advertising. It switches to the chirp of
// minute t at 60t + u, u drawn uniformly from [-30 s, +30 s) afresh for
// every minute (§7.6.5), so that the instant a device's broadcast changes
// does not link its chirps.
type Chirper struct {
	seeds *pact.SeedLog
	adv   Advertiser
	clock pact.Clock
	log   *slog.Logger
	opts  ChirperOptions

	mu    sync.Mutex
	state ChirperState
}

// Native frame versions a Chirper sends (docs/native-frame.md).
const (
	FrameV1 = 1 // legacy PDU, chirp bits in a random static address (§7.1)
	FrameV2 = 2 // extended advertising, service data, NRPA (§7.6)
)

// SwitchSpread is the width of the window around each minute boundary in
// which a chirper switches to the next chirp: the switch to the chirp of
// minute t falls uniformly in [60t - SwitchSpread/2, 60t + SwitchSpread/2)
// (docs/native-frame.md §7.6.5).
const SwitchSpread = time.Minute

// ChirperOptions configure a Chirper. The zero value sends version 2 with
// TX power 0 dBm; set TxPower to pact.TxPowerUnknown when uncalibrated.
type ChirperOptions struct {
	// Clock and Logger may be nil for the wall clock and no logging.
	Clock  pact.Clock
	Logger *slog.Logger
	// Frame is FrameV2 (0 means FrameV2) or FrameV1.
	Frame int
	// TxPower is the radiated power written into version-2 frames
	// (docs/native-frame.md §7.6.1).
	TxPower int8
	// Rand draws the addresses and the switch instants; nil means
	// crypto/rand.
	Rand io.Reader
}

// ErrFrameVersion is the error of NewChirper for a frame version other
// than FrameV1 and FrameV2.
var ErrFrameVersion = errors.New("not a native frame version this chirper sends")

// ChirperState is what the chirper is doing, for the dashboard.
type ChirperState struct {
	// Chirping is true while a chirp is on the air.
	Chirping bool
	// SnoozedUntil is set while the owner has paused chirping.
	SnoozedUntil time.Time
	// Minute is the minute of the chirp on the air.
	Minute pact.Minute
	// Broadcasts counts the chirps handed to the advertiser.
	Broadcasts uint64
	// Failures counts advertiser errors; LastError is the latest.
	Failures  uint64
	LastError string
}

// NewChirper returns a chirper over seeds and adv.
func NewChirper(seeds *pact.SeedLog, adv Advertiser, opts ChirperOptions) (*Chirper, error) {
	switch opts.Frame {
	case 0:
		opts.Frame = FrameV2
	case FrameV1, FrameV2:
	default:
		return nil, fmt.Errorf("chirper: frame version %d: %w", opts.Frame, ErrFrameVersion)
	}
	if opts.Clock == nil {
		opts.Clock = pact.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	return &Chirper{seeds: seeds, adv: adv, clock: opts.Clock, log: opts.Logger, opts: opts}, nil
}

// State returns the chirper's current state.
func (c *Chirper) State() ChirperState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Tick puts the current minute's chirp on the air, or takes the chirp off
// the air while the seed log is snoozed; see Broadcast.
func (c *Chirper) Tick(ctx context.Context) error {
	return c.Broadcast(ctx, pact.MinuteOf(c.clock.Now()))
}

// Broadcast puts the chirp of minute m (the current minute or the next)
// on the air in a fresh frame, or takes the chirp off the air while the
// seed log is snoozed. An advertiser error is returned and counted; the
// next switch tries again.
func (c *Chirper) Broadcast(ctx context.Context, m pact.Minute) error {
	chirp, ok, err := c.seeds.ChirpFor(ctx, m)
	if err != nil {
		// The seed could not be stored: broadcasting a chirp whose seed
		// the device might lose would make it impossible to upload.
		return c.fail(ctx, fmt.Errorf("drawing the chirp of minute %v: %w", m, err))
	}
	if !ok {
		_, until := c.seeds.Snoozed()
		if err := c.adv.Stop(ctx); err != nil {
			return c.fail(ctx, fmt.Errorf("stopping advertising while snoozed: %w", err))
		}
		c.mu.Lock()
		c.state.Chirping, c.state.SnoozedUntil = false, until
		c.mu.Unlock()
		return nil
	}
	addr, ad, err := c.frame(chirp)
	if err != nil {
		return c.fail(ctx, fmt.Errorf("building the frame of minute %v: %w", m, err))
	}
	if err := c.adv.Advertise(ctx, addr, ad); err != nil {
		return c.fail(ctx, fmt.Errorf("advertising the chirp of minute %v: %w", m, err))
	}
	c.mu.Lock()
	c.state.Chirping, c.state.SnoozedUntil, c.state.Minute = true, time.Time{}, m
	c.state.Broadcasts++
	c.mu.Unlock()
	return nil
}

// frame returns the address and advertising data that carry chirp: a
// version-2 frame from a fresh non-resolvable private address, or the
// version-1 frame whose address is made of chirp bits.
func (c *Chirper) frame(chirp pact.Chirp) ([6]byte, []byte, error) {
	if c.opts.Frame == FrameV1 {
		addr, ad := pact.EncodeAdvert(chirp)
		return addr, ad, nil
	}
	addr, err := pact.NewFrameAddress(c.opts.Rand)
	if err != nil {
		return [6]byte{}, nil, err
	}
	return addr, pact.Frame{Chirp: chirp, TxPower: c.opts.TxPower}.AppendAD(nil), nil
}

// switchOffset draws the offset from a minute boundary at which the
// switch to that minute's chirp happens: uniform over [-SwitchSpread/2,
// SwitchSpread/2) at millisecond resolution (docs/native-frame.md §7.6.5).
func (c *Chirper) switchOffset() (time.Duration, error) {
	var b [8]byte
	if _, err := io.ReadFull(c.opts.Rand, b[:]); err != nil {
		return 0, fmt.Errorf("drawing a switch instant: %w", err)
	}
	spread := uint64(SwitchSpread / time.Millisecond)
	// The modulo bias is spread/2^64, below 10^-14.
	ms := binary.BigEndian.Uint64(b[:]) % spread
	return time.Duration(ms)*time.Millisecond - SwitchSpread/2, nil
}

// fail records err, and takes the previous chirp off the air: a chirp
// must not outlive its minute by more than the matcher's tolerance.
func (c *Chirper) fail(ctx context.Context, err error) error {
	stopErr := c.adv.Stop(ctx)
	c.mu.Lock()
	c.state.Failures++
	c.state.LastError = err.Error()
	if stopErr == nil {
		c.state.Chirping = false
	}
	c.mu.Unlock()
	return err
}

// Run puts the current minute's chirp on the air, then switches to the
// chirp of each following minute t at 60t + u, u drawn afresh for each
// minute (switchOffset), until ctx is done, then stops advertising. A
// failed switch is logged and retried at the next one; a closed
// controller ends Run with its error.
func (c *Chirper) Run(ctx context.Context) error {
	m := pact.MinuteOf(c.clock.Now())
	for {
		err := c.Broadcast(ctx, m)
		switch {
		case errors.Is(err, hci.ErrClosed):
			return err
		case err != nil && ctx.Err() == nil:
			c.log.Error("chirp failed", "err", err)
		}
		u, err := c.switchOffset()
		if err != nil {
			return err
		}
		var at time.Time
		m, at = nextSwitch(c.clock.Now(), m, u)
		t := time.NewTimer(max(at.Sub(c.clock.Now()), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			stop, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := c.adv.Stop(stop); err != nil && !errors.Is(err, hci.ErrClosed) {
				c.log.Warn("stopping advertising", "err", err)
			}
			return nil
		case <-t.C:
		}
	}
}

// nextSwitch returns the minute whose chirp follows the one of minute
// onAir, and the instant to switch to it: its boundary plus offset u. After
// a stall, minutes that ended meanwhile are skipped, never broadcast late.
func nextSwitch(now time.Time, onAir pact.Minute, u time.Duration) (pact.Minute, time.Time) {
	m := max(onAir+1, pact.MinuteOf(now))
	return m, m.Time().Add(u)
}
