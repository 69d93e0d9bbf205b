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
	advUnit           = 625 * time.Microsecond
	minAdvUnits       = 0x0020 // 20 ms
	maxAdvUnits       = 0x4000 // 10.24 s
	advTypeNonconnInd = 0x03   // ADV_NONCONN_IND
	advChannelsAll    = 0x07   // channels 37, 38, 39
	defaultAdvTime    = 100 * time.Millisecond
)

// legacyAdvertiser broadcasts non-connectable legacy advertisements from a
// random address that the caller picks, and changes both whenever asked:
// a native PACT chirp takes a new address with every chirp, and a Find My
// frame carries key bits in its address.
type legacyAdvertiser struct {
	c        *controller
	interval uint16
	enabled  bool
	params   bool
}

// newAdvertiser drives advertising on c; interval is the advertising
// interval (0 means 100 ms, range 20 ms .. 10.24 s).
func newAdvertiser(c *controller, interval time.Duration) (*legacyAdvertiser, error) {
	if interval == 0 {
		interval = defaultAdvTime
	}
	u := int64(interval / advUnit)
	if u < minAdvUnits || u > maxAdvUnits {
		return nil, invalidSetting("advertising interval", interval, "hci: advertising interval %v out of range 20ms-10.24s", interval)
	}
	return &legacyAdvertiser{c: c, interval: uint16(u)}, nil
}

// Advertise starts broadcasting data (AD structures, at most 31 bytes) as
// ADV_NONCONN_IND from random address addr (display order, most
// significant byte first), replacing whatever was broadcast before. The
// controller accepts a new random address only while advertising is off,
// so a change briefly stops advertising.
func (a *legacyAdvertiser) Advertise(ctx context.Context, addr [6]byte, data []byte) error {
	if len(data) > maxLegacyAdvData {
		return fmt.Errorf("%w: advertising data is %d bytes, a legacy advertisement holds %d", ErrUnencodable, len(data), maxLegacyAdvData)
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
func (a *legacyAdvertiser) Stop(ctx context.Context) error {
	if !a.enabled {
		return nil
	}
	if _, err := a.c.Run(ctx, &cmd.LESetAdvertiseEnable{AdvertisingEnable: 0}); err != nil {
		return err
	}
	a.enabled = false
	return nil
}

// frameAdvertiser broadcasts one frame at a time from an address of the
// caller's choosing: legacyAdvertiser with the legacy commands,
// extendedAdvertiser with the extended ones.
type frameAdvertiser interface {
	Advertise(ctx context.Context, addr [6]byte, data []byte) error
	Stop(ctx context.Context) error
}

var (
	_ frameAdvertiser = (*legacyAdvertiser)(nil)
	_ frameAdvertiser = (*extendedAdvertiser)(nil)
)

// Extended advertising commands and values (Core spec Vol 4 Part E
// §7.8.52-§7.8.60).
const (
	opLESetAdvSetRandomAddress      Opcode = 0x2035 // §7.8.52
	opLESetExtendedAdvParameters    Opcode = 0x2036 // §7.8.53
	opLESetExtendedAdvData          Opcode = 0x2037 // §7.8.54
	opLESetExtendedAdvEnable        Opcode = 0x2039 // §7.8.56
	opLEClearAdvSets                Opcode = 0x203D // §7.8.60
	extAdvPropsLegacy                      = 0x0010 // use legacy PDUs; no other bit: ADV_NONCONN_IND
	extAdvOperationComplete                = 0x03
	extAdvNoFragmentPreference             = 0x01
	extAdvTxPowerNoPreference              = 0x7F
	extAdvPHY1M                            = 0x01
	extAdvHandle                           = 0x00
	maxExtendedAdvDataPerCommand           = 251
	maxExtendedAdvIntervalUnits            = 0xFFFFFF
	extAdvSupportedOctet                   = 36
	extAdvRandomAddressSupportedBit        = 1
	extAdvParamsSupportedBit               = 2
	extAdvDataSupportedBit                 = 3
	extAdvEnableSupportedBit               = 5
)

func init() {
	opcodeNames[opLESetAdvSetRandomAddress] = "LE Set Advertising Set Random Address"
	opcodeNames[opLESetExtendedAdvParameters] = "LE Set Extended Advertising Parameters"
	opcodeNames[opLESetExtendedAdvData] = "LE Set Extended Advertising Data"
	opcodeNames[opLESetExtendedAdvEnable] = "LE Set Extended Advertising Enable"
	opcodeNames[opLEClearAdvSets] = "LE Clear Advertising Sets"
}

// ExtendedAdvertising reports whether the controller has the extended
// advertising commands extendedAdvertiser uses.
func (c capabilities) ExtendedAdvertising() bool {
	return c.LEFeatures&leFeatureExtendedAdvertising != 0 &&
		c.supportsCommand(extAdvSupportedOctet, extAdvRandomAddressSupportedBit) &&
		c.supportsCommand(extAdvSupportedOctet, extAdvParamsSupportedBit) &&
		c.supportsCommand(extAdvSupportedOctet, extAdvDataSupportedBit) &&
		c.supportsCommand(extAdvSupportedOctet, extAdvEnableSupportedBit)
}

// extendedAdvertiser broadcasts through one advertising set with the
// extended commands: non-connectable, non-scannable, undirected, on LE 1M,
// as extended PDUs (ADV_EXT_IND pointing to AUX_ADV_IND, up to 251 bytes
// of data) or, with LegacyPDUs, as ADV_NONCONN_IND. Scanners hear the
// former only through extended scanning, as LE Extended Advertising
// Reports.
type extendedAdvertiser struct {
	c          *controller
	interval   uint32
	legacyPDUs bool
	enabled    bool
	params     bool
	// txPower is the Selected_TX_Power the controller answered the
	// parameters with, when txPowerKnown.
	txPower      int8
	txPowerKnown bool
}

// newExtendedAdvertiser drives advertising set 0 on c; interval as for
// newAdvertiser.
func newExtendedAdvertiser(c *controller, interval time.Duration, legacyPDUs bool) (*extendedAdvertiser, error) {
	if interval == 0 {
		interval = defaultAdvTime
	}
	u := int64(interval / advUnit)
	if u < minAdvUnits || u > maxExtendedAdvIntervalUnits {
		return nil, invalidSetting("advertising interval", interval, "hci: advertising interval %v out of range 20ms-%v", interval, time.Duration(maxExtendedAdvIntervalUnits)*advUnit)
	}
	return &extendedAdvertiser{c: c, interval: uint32(u), legacyPDUs: legacyPDUs}, nil
}

// Advertise replaces the broadcast frame with data from random address
// addr (display order).
func (a *extendedAdvertiser) Advertise(ctx context.Context, addr [6]byte, data []byte) error {
	limit := maxExtendedAdvDataPerCommand
	if a.legacyPDUs {
		limit = maxLegacyAdvData
	}
	if len(data) > limit {
		return fmt.Errorf("%w: advertising data is %d bytes, this advertising set holds %d", ErrUnencodable, len(data), limit)
	}
	if err := a.Stop(ctx); err != nil {
		return err
	}
	if err := a.setParams(ctx); err != nil {
		return err
	}
	// Address and data change while the set is disabled, so that the
	// next enable starts both at once: while a set is enabled the Core
	// spec lets a new random address take effect only from a later
	// enable (§7.8.52) and new data from a later event (§7.8.54), so no
	// event could be promised to carry either both old or both new
	// (docs/native-frame.md §7.6.4).
	random := &leSetAdvSetRandomAddress{AdvertisingHandle: extAdvHandle,
		RandomAddress: [6]byte{addr[5], addr[4], addr[3], addr[2], addr[1], addr[0]}}
	if _, err := a.c.Run(ctx, random); err != nil {
		return fmt.Errorf("random address %X: %w", addr, err)
	}
	if _, err := a.c.Run(ctx, &leSetExtendedAdvData{
		AdvertisingHandle: extAdvHandle, Operation: extAdvOperationComplete,
		FragmentPreference: extAdvNoFragmentPreference, AdvertisingData: data,
	}); err != nil {
		return fmt.Errorf("advertising data %X: %w", data, err)
	}
	// One set, no duration limit, no event limit.
	if _, err := a.c.Run(ctx, &leSetExtendedAdvEnable{Enable: 1, AdvertisingHandle: extAdvHandle}); err != nil {
		return err
	}
	a.enabled = true
	return nil
}

// setParams sends LE Set Extended Advertising Parameters once, while the
// set is disabled, and keeps the TX power the controller selected
// (§7.8.53 return parameter Selected_TX_Power).
func (a *extendedAdvertiser) setParams(ctx context.Context) error {
	if a.params {
		return nil
	}
	props := uint16(0)
	if a.legacyPDUs {
		props = extAdvPropsLegacy
	}
	ret, err := a.c.Run(ctx, &leSetExtendedAdvParameters{
		AdvertisingHandle: extAdvHandle, AdvertisingEventProperties: props,
		PrimaryAdvertisingIntervalMin: a.interval, PrimaryAdvertisingIntervalMax: a.interval,
		PrimaryAdvertisingChannelMap: advChannelsAll, OwnAddressType: ownAddressRandom,
		AdvertisingFilterPolicy: filterPolicyAcceptAll, AdvertisingTxPower: extAdvTxPowerNoPreference,
		PrimaryAdvertisingPHY: extAdvPHY1M, SecondaryAdvertisingPHY: extAdvPHY1M,
	})
	if err != nil {
		return err
	}
	if len(ret) >= 1 {
		a.txPower, a.txPowerKnown = int8(ret[0]), true
	}
	a.params = true
	return nil
}

// Stop disables the advertising set.
func (a *extendedAdvertiser) Stop(ctx context.Context) error {
	if !a.enabled {
		return nil
	}
	if _, err := a.c.Run(ctx, &leSetExtendedAdvEnable{Enable: 0, AdvertisingHandle: extAdvHandle}); err != nil {
		return err
	}
	a.enabled = false
	return nil
}
