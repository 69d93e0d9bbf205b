//go:build linux

package repeater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
)

// Radio says which adapter a repeater listens and broadcasts on.
type Radio struct {
	Adapter int
	Channel hci.Channel
	// AdvertisingInterval is the interval of the repeated frames' events;
	// 0 means the advertiser's default.
	AdvertisingInterval time.Duration
}

// RunLive listens on the adapter with extended scanning and rebroadcasts
// what it hears through an extended advertising set of the same
// controller (repeated frames are version-2 frames, which need extended
// PDUs, docs/native-frame.md §7.6), until ctx is done. Every
// statsInterval (0: never) it logs its counters.
func (r *Repeater) RunLive(ctx context.Context, radio Radio, statsInterval time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := fmt.Sprintf("hci%d", radio.Adapter)
	live, err := hci.OpenLive(ctx, hci.LiveConfig{Adapter: radio.Adapter, Channel: radio.Channel,
		Scan: hci.ScanConfig{Extended: hci.ExtendedOn}, Logger: log})
	if err != nil {
		return fmt.Errorf("opening %s: %w", name, err)
	}
	defer live.Close()
	adv, err := live.ExtendedAdvertiser(ctx, radio.AdvertisingInterval)
	if err != nil {
		return fmt.Errorf("advertising on %s: %w", name, err)
	}
	defer adv.Close()
	log.Info("repeating", "adapter", name, "delay", r.cfg.Delay, "every", r.cfg.Every, "repeats", r.cfg.Repeats,
		"dwell", r.cfg.Dwell, "max_held", r.cfg.MaxHeld)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx, adv) }()
	if statsInterval > 0 {
		go r.logEvery(ctx, statsInterval, log)
	}
	h := harvest.New()
	var res harvest.Result
	listenErr := live.Reports(ctx, func(rep *hci.AdvReport) error {
		h.Parse(rep, &res)
		r.HearResult(&res)
		return nil
	})
	cancel()
	runErr := <-runDone
	if errors.Is(listenErr, context.Canceled) {
		listenErr = nil
	}
	r.logStats(log, "repeater stopped")
	return errors.Join(listenErr, runErr)
}

func (r *Repeater) logEvery(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.logStats(log, "repeater")
		}
	}
}
