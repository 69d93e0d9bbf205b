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
	Adapter  int
	Channel  Channel
	Interval time.Duration
	// Extended advertises extended PDUs through the extended commands;
	// the controller must support them.
	Extended       bool
	CommandTimeout time.Duration
	Logger         *slog.Logger
}

// LiveAdvertiser is a FrameAdvertiser on a local adapter.
type LiveAdvertiser struct {
	FrameAdvertiser
	ctl      *Controller
	extended bool
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
	var adv FrameAdvertiser
	if cfg.Extended {
		caps, err := ReadCapabilities(ctx, ctl)
		if err == nil && !caps.ExtendedAdvertising() {
			err = errors.New("the controller has no extended advertising commands")
		}
		if err == nil {
			adv, err = NewExtendedAdvertiser(ctl, cfg.Interval, false)
		}
		if err != nil {
			ctl.Close()
			return nil, fmt.Errorf("hci%d: %w", cfg.Adapter, err)
		}
	} else {
		if adv, err = NewAdvertiser(ctl, cfg.Interval); err != nil {
			ctl.Close()
			return nil, err
		}
	}
	return &LiveAdvertiser{FrameAdvertiser: adv, ctl: ctl, extended: cfg.Extended}, nil
}

// Close stops advertising and releases the adapter.
func (a *LiveAdvertiser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := a.Stop(ctx)
	if a.extended && err == nil {
		// Leave no advertising set behind for the next user.
		_, err = a.ctl.Run(ctx, &leClearAdvSets{})
	}
	return errors.Join(err, a.ctl.Close())
}
