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

// LiveAdvertiser broadcasts one frame at a time from a local adapter, with
// the legacy or the extended advertising commands.
type LiveAdvertiser struct {
	adv      frameAdvertiser
	ctl      *controller
	extended bool
	// shared is set when the controller belongs to a Live scan, which
	// closes it.
	shared bool
}

// Advertise starts broadcasting data (AD structures) from random address
// addr (display order, most significant byte first), replacing whatever
// was broadcast before.
func (a *LiveAdvertiser) Advertise(ctx context.Context, addr [6]byte, data []byte) error {
	return a.adv.Advertise(ctx, addr, data)
}

// Stop turns advertising off.
func (a *LiveAdvertiser) Stop(ctx context.Context) error { return a.adv.Stop(ctx) }

// TxPower returns the advertising TX power in dBm the controller selected
// for an extended advertiser, at its connector: a radiated power only once
// the antenna's gain is added. ok is false for a legacy advertiser, or a
// controller that did not say.
func (a *LiveAdvertiser) TxPower() (dBm int8, ok bool) {
	if e, isExt := a.adv.(*extendedAdvertiser); isExt && e.txPowerKnown {
		return e.txPower, true
	}
	return 0, false
}

// OpenAdvertiser opens adapter cfg.Adapter for advertising. Nothing is
// broadcast until Advertise.
func OpenAdvertiser(ctx context.Context, cfg AdvertiserConfig) (*LiveAdvertiser, error) {
	sock, err := openSocket(cfg.Adapter, cfg.Channel)
	if err != nil {
		return nil, err
	}
	ctl := newController(sock, cfg.CommandTimeout, cfg.Logger)
	if sock.Channel() == ChannelUser {
		if err := initController(ctx, ctl); err != nil {
			ctl.Close()
			return nil, fmt.Errorf("hci%d: %w", cfg.Adapter, err)
		}
	}
	var adv frameAdvertiser
	if cfg.Extended {
		caps, err := readCapabilities(ctx, ctl)
		if err == nil && !caps.ExtendedAdvertising() {
			err = errors.New("the controller has no extended advertising commands")
		}
		if err == nil {
			adv, err = newExtendedAdvertiser(ctl, cfg.Interval, false)
		}
		if err != nil {
			ctl.Close()
			return nil, fmt.Errorf("hci%d: %w", cfg.Adapter, err)
		}
	} else {
		if adv, err = newAdvertiser(ctl, cfg.Interval); err != nil {
			ctl.Close()
			return nil, err
		}
	}
	return &LiveAdvertiser{adv: adv, ctl: ctl, extended: cfg.Extended}, nil
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
	if a.shared {
		return err
	}
	return errors.Join(err, a.ctl.Close())
}

// Advertiser returns an advertiser on the scanning adapter's own
// controller, so that one adapter scans and advertises at once, as a PACT
// node must (spec §7). A controller that took extended scanning commands
// refuses the legacy advertising ones (Core v5.4, Vol 4, Part E, 3.1.1:
// legacy and extended commands must not be mixed), so the advertiser then
// uses the extended commands with legacy PDUs, which every scanner,
// legacy or extended, receives. Closing the advertiser stops advertising;
// closing the Live releases the controller.
func (l *Live) Advertiser(ctx context.Context, interval time.Duration) (*LiveAdvertiser, error) {
	var adv frameAdvertiser
	var err error
	if l.scan.Extended {
		if !l.caps.ExtendedAdvertising() {
			return nil, fmt.Errorf("hci%d: scanning with the extended commands, but the controller has no extended advertising commands", l.sock.Adapter())
		}
		adv, err = newExtendedAdvertiser(l.ctl, interval, true)
	} else {
		adv, err = newAdvertiser(l.ctl, interval)
	}
	if err != nil {
		return nil, fmt.Errorf("hci%d: %w", l.sock.Adapter(), err)
	}
	return &LiveAdvertiser{adv: adv, ctl: l.ctl, extended: l.scan.Extended, shared: true}, nil
}

// ExtendedAdvertiser returns an advertiser on the scanning adapter's own
// controller that broadcasts extended PDUs only (ADV_EXT_IND pointing to
// AUX_ADV_IND, non-connectable, non-scannable, legacy PDUs off): the
// carrier of the native frame version 2 (docs/native-frame.md §7.6), which
// legacy scanners cannot receive. The controller must be scanning through
// the extended commands. The advertising parameters are set at once, so
// TxPower is known before the first frame is built.
func (l *Live) ExtendedAdvertiser(ctx context.Context, interval time.Duration) (*LiveAdvertiser, error) {
	if !l.scan.Extended {
		return nil, fmt.Errorf("hci%d: extended advertising needs the extended commands, but the adapter scans with the legacy ones (extended scanning off or unsupported): %w", l.sock.Adapter(), ErrNoExtendedAdvertising)
	}
	if !l.caps.ExtendedAdvertising() {
		return nil, fmt.Errorf("hci%d: the controller has no extended advertising commands: %w", l.sock.Adapter(), ErrNoExtendedAdvertising)
	}
	adv, err := newExtendedAdvertiser(l.ctl, interval, false)
	if err != nil {
		return nil, fmt.Errorf("hci%d: %w", l.sock.Adapter(), err)
	}
	if err := adv.setParams(ctx); err != nil {
		return nil, fmt.Errorf("hci%d: %w", l.sock.Adapter(), err)
	}
	return &LiveAdvertiser{adv: adv, ctl: l.ctl, extended: true, shared: true}, nil
}
