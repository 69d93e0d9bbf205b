package node

import (
	"context"
	"errors"
	"fmt"
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
// advertiser (spec §7): at every minute it asks the seed log for the
// minute's chirp, which draws and stores the hour's seed first when the
// hour is new, and hands the native frame and its address to the
// advertiser in one call, so address and data change together.
type Chirper struct {
	seeds *pact.SeedLog
	adv   Advertiser
	clock pact.Clock
	log   *slog.Logger

	mu    sync.Mutex
	state ChirperState
}

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

// NewChirper returns a chirper over seeds and adv. clock and log may be nil
// for the wall clock and no logging.
func NewChirper(seeds *pact.SeedLog, adv Advertiser, clock pact.Clock, log *slog.Logger) *Chirper {
	if clock == nil {
		clock = pact.SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Chirper{seeds: seeds, adv: adv, clock: clock, log: log}
}

// State returns the chirper's current state.
func (c *Chirper) State() ChirperState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Tick puts the current minute's chirp on the air, or takes the chirp off
// the air while the seed log is snoozed. An advertiser error is returned
// and counted; the next tick tries again.
func (c *Chirper) Tick(ctx context.Context) error {
	chirp, m, ok, err := c.seeds.ChirpNow(ctx)
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
	addr, ad := pact.EncodeAdvert(chirp)
	if err := c.adv.Advertise(ctx, addr, ad); err != nil {
		return c.fail(ctx, fmt.Errorf("advertising the chirp of minute %v: %w", m, err))
	}
	c.mu.Lock()
	c.state.Chirping, c.state.SnoozedUntil, c.state.Minute = true, time.Time{}, m
	c.state.Broadcasts++
	c.mu.Unlock()
	return nil
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

// Run ticks at every minute boundary of the clock until ctx is done, then
// stops advertising. Failed ticks are logged and retried at the next
// minute; a closed controller ends Run with its error.
func (c *Chirper) Run(ctx context.Context) error {
	for {
		err := c.Tick(ctx)
		switch {
		case errors.Is(err, hci.ErrClosed):
			return err
		case err != nil && ctx.Err() == nil:
			c.log.Error("chirp failed", "err", err)
		}
		now := c.clock.Now()
		next := now.Truncate(time.Minute).Add(time.Minute)
		t := time.NewTimer(next.Sub(now))
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
