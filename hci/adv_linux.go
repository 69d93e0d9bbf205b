//go:build linux

package hci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// AdvertiserConfig says which adapter advertises and how.
type AdvertiserConfig struct {
	Adapter        int
	Channel        Channel
	Interval       time.Duration
	CommandTimeout time.Duration
	Logger         *slog.Logger
}

// LiveAdvertiser is an Advertiser on a local adapter.
type LiveAdvertiser struct {
	*Advertiser
	ctl *Controller
}

// OpenAdvertiser opens adapter cfg.Adapter for advertising. Nothing is
// broadcast until Advertise.
func OpenAdvertiser(ctx context.Context, cfg AdvertiserConfig) (*LiveAdvertiser, error) {
	sock, err := OpenSocket(cfg.Adapter, cfg.Channel)
	if err != nil {
		return nil, err
	}
	ctl := NewController(sock, cfg.CommandTimeout, cfg.Logger)
	if sock.Channel() == ChannelUser {
		if err := InitController(ctx, ctl); err != nil {
			ctl.Close()
			return nil, fmt.Errorf("hci%d: %w", cfg.Adapter, err)
		}
	}
	adv, err := NewAdvertiser(ctl, cfg.Interval)
	if err != nil {
		ctl.Close()
		return nil, err
	}
	return &LiveAdvertiser{Advertiser: adv, ctl: ctl}, nil
}

// Close stops advertising and releases the adapter.
func (a *LiveAdvertiser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	stopErr := a.Stop(ctx)
	return errors.Join(stopErr, a.ctl.Close())
}
