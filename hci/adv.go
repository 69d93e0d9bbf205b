package hci

import (
	"context"
	"fmt"
	"time"

	"github.com/go-ble/ble/linux/hci/cmd"
)

// Legacy advertising limits and values (Core spec Vol 4 Part E §7.8.5,
// §7.8.7).
const (
	// MaxLegacyAdvData is the most AD bytes a legacy advertisement holds.
	MaxLegacyAdvData  = 31
	advUnit           = 625 * time.Microsecond
	minAdvUnits       = 0x0020 // 20 ms
	maxAdvUnits       = 0x4000 // 10.24 s
	advTypeNonconnInd = 0x03   // ADV_NONCONN_IND
	advChannelsAll    = 0x07   // channels 37, 38, 39
	defaultAdvTime    = 100 * time.Millisecond
)

// Advertiser broadcasts non-connectable legacy advertisements from a
// random address that the caller picks, and changes both whenever asked:
// a native PACT chirp takes a new address with every chirp, and a Find My
// frame carries key bits in its address.
type Advertiser struct {
	c        *Controller
	interval uint16
	enabled  bool
	params   bool
}

// NewAdvertiser drives advertising on c; interval is the advertising
// interval (0 means 100 ms, range 20 ms .. 10.24 s).
func NewAdvertiser(c *Controller, interval time.Duration) (*Advertiser, error) {
	if interval == 0 {
		interval = defaultAdvTime
	}
	u := int64(interval / advUnit)
	if u < minAdvUnits || u > maxAdvUnits {
		return nil, fmt.Errorf("hci: advertising interval %v out of range 20ms-10.24s", interval)
	}
	return &Advertiser{c: c, interval: uint16(u)}, nil
}

// Advertise starts broadcasting data (AD structures, at most 31 bytes) as
// ADV_NONCONN_IND from random address addr (display order, most
// significant byte first), replacing whatever was broadcast before. The
// controller accepts a new random address only while advertising is off,
// so a change briefly stops advertising.
func (a *Advertiser) Advertise(ctx context.Context, addr [6]byte, data []byte) error {
	if len(data) > MaxLegacyAdvData {
		return fmt.Errorf("hci: advertising data is %d bytes, a legacy advertisement holds %d", len(data), MaxLegacyAdvData)
	}
	if err := a.Stop(ctx); err != nil {
		return err
	}
	var lsbFirst [6]byte
	for i := range 6 {
		lsbFirst[i] = addr[5-i]
	}
	if _, err := a.c.Run(ctx, &cmd.LESetRandomAddress{RandomAddress: lsbFirst}); err != nil {
		return fmt.Errorf("random address %X: %w", addr, err)
	}
	if !a.params {
		if _, err := a.c.Run(ctx, &cmd.LESetAdvertisingParameters{
			AdvertisingIntervalMin: a.interval, AdvertisingIntervalMax: a.interval,
			AdvertisingType: advTypeNonconnInd, OwnAddressType: ownAddressRandom,
			AdvertisingChannelMap: advChannelsAll, AdvertisingFilterPolicy: filterPolicyAcceptAll,
		}); err != nil {
			return err
		}
		a.params = true
	}
	set := &cmd.LESetAdvertisingData{AdvertisingDataLength: uint8(len(data))}
	copy(set.AdvertisingData[:], data)
	if _, err := a.c.Run(ctx, set); err != nil {
		return fmt.Errorf("advertising data %X: %w", data, err)
	}
	if _, err := a.c.Run(ctx, &cmd.LESetAdvertiseEnable{AdvertisingEnable: 1}); err != nil {
		return err
	}
	a.enabled = true
	return nil
}

// Stop turns advertising off.
func (a *Advertiser) Stop(ctx context.Context) error {
	if !a.enabled {
		return nil
	}
	if _, err := a.c.Run(ctx, &cmd.LESetAdvertiseEnable{AdvertisingEnable: 0}); err != nil {
		return err
	}
	a.enabled = false
	return nil
}
