//go:build linux

package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
	"github.com/pact-findmy/pact-findmy/web"
)

// RunRadio chirps and listens on an adapter (both at once on its one
// controller), or listens on a serial controller, until ctx is done.
func (n *Node) RunRadio(ctx context.Context, r Radio) error {
	switch {
	case r.Serial != "":
		s, err := hci.OpenSerialSource(ctx, hci.SerialConfig{Path: r.Serial, Baud: r.Baud, FlowControl: r.FlowControl, Scan: r.Scan, Logger: n.log})
		if err != nil {
			return fmt.Errorf("opening %s: %w", r.Serial, err)
		}
		defer s.Close()
		n.setAdapter(web.Adapter{Name: "serial " + r.Serial, State: "listening (no chirping through a serial controller)"})
		defer n.setAdapter(web.Adapter{Name: "serial " + r.Serial, State: "stopped"})
		return n.Listen(ctx, ingest.SerialSource(s, hci.SerialConfig{Path: r.Serial, Baud: r.Baud, FlowControl: r.FlowControl}), true)
	case r.Adapter >= 0:
	default:
		return nil
	}
	name := fmt.Sprintf("hci%d", r.Adapter)
	live, err := hci.OpenLive(ctx, hci.LiveConfig{Adapter: r.Adapter, Channel: r.Channel, Scan: r.Scan, Logger: n.log})
	if err != nil {
		return fmt.Errorf("opening %s: %w", name, err)
	}
	defer live.Close()
	interval := r.AdvertisingInterval
	if interval == 0 {
		interval = DefaultAdvertisingInterval
	}
	var adv *hci.LiveAdvertiser
	if r.Frame == FrameV1 {
		adv, err = live.Advertiser(ctx, interval)
	} else {
		adv, err = live.ExtendedAdvertiser(ctx, interval)
	}
	if errors.Is(err, hci.ErrNoExtendedAdvertising) {
		return fmt.Errorf("advertising the native frame version 2 on %s (a legacy-only controller can chirp version 1: pact-bridge run --frame 1): %w", name, err)
	}
	if err != nil {
		return fmt.Errorf("advertising on %s: %w", name, err)
	}
	defer adv.Close()
	selected, known := adv.TxPower()
	chirper, err := NewChirper(n.seeds, adv, ChirperOptions{Clock: n.clock, Logger: n.log, Frame: r.Frame, TxPower: radiatedPower(selected, known, r.AntennaGain)})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.chirper = chirper
	n.mu.Unlock()
	st := live.State()
	// One line says that this controller both scans and advertises,
	// through which commands, and what it sends: frame 2 goes out as
	// extended PDUs, frame 1 as legacy PDUs (through the extended
	// commands when the scan uses them).
	n.log.Info("chirping and scanning", "adapter", name, "channel", st.Channel.String(), "extended", st.Extended,
		"frame", chirper.opts.Frame, "interval", interval, "tx_power", chirper.opts.TxPower)
	n.setAdapter(web.Adapter{Name: name, State: "scanning and advertising"})
	defer n.setAdapter(web.Adapter{Name: name, State: "stopped"})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chirpDone := make(chan error, 1)
	go func() { chirpDone <- chirper.Run(ctx) }()
	listenErr := n.Listen(ctx, ingest.LiveSource(live), true)
	cancel()
	chirpErr := <-chirpDone
	if errors.Is(listenErr, context.Canceled) {
		listenErr = nil
	}
	return errors.Join(listenErr, chirpErr)
}
