package hci

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/go-ble/ble/linux/hci/cmd"
)

// ExtendedMode chooses between legacy and extended scanning.
type ExtendedMode int

const (
	// ExtendedAuto scans extended when the controller supports it: it
	// then also hears advertisements on the LE Coded and secondary
	// channels that legacy scanning misses.
	ExtendedAuto ExtendedMode = iota
	// ExtendedOff always uses the legacy commands.
	ExtendedOff
	// ExtendedOn requires extended scanning and fails without it.
	ExtendedOn
)

func (m ExtendedMode) String() string {
	switch m {
	case ExtendedAuto:
		return "auto"
	case ExtendedOff:
		return "off"
	case ExtendedOn:
		return "on"
	}
	return fmt.Sprintf("extended(%d)", int(m))
}

// ParseExtendedMode is the inverse of ExtendedMode.String, for flags.
func ParseExtendedMode(s string) (ExtendedMode, error) {
	switch s {
	case "auto", "":
		return ExtendedAuto, nil
	case "off":
		return ExtendedOff, nil
	case "on":
		return ExtendedOn, nil
	}
	return 0, invalidSetting("extended scanning", s, "extended scanning %q: want auto, off or on", s)
}

// ScanConfig is the passive scan a controller runs.
type ScanConfig struct {
	// Interval and Window of the scan (Core spec Vol 4 Part E §7.8.10);
	// zero means 100 ms each: listening all the time. Both are rounded to
	// 0.625 ms units and must lie in 2.5 ms .. 10.24 s, Window <= Interval.
	Interval, Window time.Duration
	Extended         ExtendedMode
}

// Scan interval/window units and limits (Core spec Vol 4 Part E §7.8.10).
const (
	scanUnit        = 625 * time.Microsecond
	minScanUnits    = 0x0004
	maxScanUnits    = 0x4000
	defaultScanTime = 100 * time.Millisecond
)

// Check reports whether the controller would accept Interval and Window,
// so that a command line can be refused before any adapter is touched.
func (c ScanConfig) Check() error {
	_, _, err := c.scanUnits()
	return err
}

// scanUnits turns Interval and Window into controller units, checked.
func (c ScanConfig) scanUnits() (interval, window uint16, err error) {
	iv, win := c.Interval, c.Window
	if iv == 0 {
		iv = defaultScanTime
	}
	if win == 0 {
		win = iv
	}
	iu, wu := int64(iv/scanUnit), int64(win/scanUnit)
	if iu < minScanUnits || iu > maxScanUnits {
		return 0, 0, invalidSetting("scan interval", iv, "hci: scan interval %v out of range 2.5ms-10.24s", iv)
	}
	if wu < minScanUnits || wu > maxScanUnits {
		return 0, 0, invalidSetting("scan window", win, "hci: scan window %v out of range 2.5ms-10.24s", win)
	}
	if wu > iu {
		return 0, 0, invalidSetting("scan window", win, "hci: scan window %v longer than interval %v", win, iv)
	}
	return uint16(iu), uint16(wu), nil
}

// capabilities are the controller features that change how we drive it.
type capabilities struct {
	// Commands is the Supported_Commands bit field (Core spec Vol 4
	// Part E §6.27); nil when the controller could not say.
	Commands []byte
	// LEFeatures is the LE feature bit field (Core spec Vol 6 Part B
	// §4.6).
	LEFeatures uint64
}

// supportsCommand reads bit `bit` of octet `octet` of Supported_Commands.
func (c capabilities) supportsCommand(octet, bit int) bool {
	return octet < len(c.Commands) && c.Commands[octet]&(1<<bit) != 0
}

// leFeatureExtendedAdvertising is bit 12 of the LE features (Core spec
// Vol 6 Part B §4.6).
const leFeatureExtendedAdvertising = 1 << 12

// ExtendedScanning reports whether the controller supports LE Set
// Extended Scan Parameters and Enable (Supported_Commands octet 37 bits 5
// and 6) and the LE Extended Advertising feature.
func (c capabilities) ExtendedScanning() bool {
	return c.LEFeatures&leFeatureExtendedAdvertising != 0 && c.supportsCommand(37, 5) && c.supportsCommand(37, 6)
}

// Event masks. Page 1 is the spec default plus bit 61, LE Meta event
// (Core spec Vol 4 Part E §7.3.1); the LE mask enables LE Advertising
// Report (bit 1) and LE Extended Advertising Report (bit 12) besides the
// spec's default low five bits (§7.8.1).
const (
	eventMaskWithLEMeta = 0x00001FFFFFFFFFFF | 1<<61
	leEventMaskScanning = 0x1F | 1<<1 | 1<<12
)

// initController resets a controller we own outright (user channel, serial
// H4) and enables the events scanning and advertising need. On the raw
// channel the kernel has done this and must not be undercut: use
// readCapabilities alone.
func initController(ctx context.Context, c *controller) error {
	if _, err := c.Run(ctx, &cmd.Reset{}); err != nil {
		return err
	}
	if _, err := c.Run(ctx, &cmd.SetEventMask{EventMask: eventMaskWithLEMeta}); err != nil {
		return err
	}
	if _, err := c.Run(ctx, &cmd.LESetEventMask{LEEventMask: leEventMaskScanning}); err != nil {
		return err
	}
	return nil
}

// supportedCommandsLen is the Supported_Commands field size (§7.4.2).
// go-ble's ReadLocalSupportedCommandsRP reads only 8 of its 64 octets, so
// the return parameters are decoded here.
const supportedCommandsLen = 64

// readCapabilities asks which commands and LE features the controller
// supports. Old controllers that lack Read Local Supported Commands get
// empty Commands, which means legacy everything.
func readCapabilities(ctx context.Context, c *controller) (capabilities, error) {
	var caps capabilities
	ret, err := c.Run(ctx, &cmd.ReadLocalSupportedCommands{})
	var cerr *CommandError
	switch {
	case err == nil:
		if len(ret) != supportedCommandsLen {
			return caps, fmt.Errorf("hci: %v: %d return bytes, want %d", opReadLocalSupportedCommands, len(ret), supportedCommandsLen)
		}
		caps.Commands = ret
	case errors.As(err, &cerr) && cerr.Status == statusUnknownCommand:
	default:
		return caps, err
	}
	ret, err = c.Run(ctx, &cmd.LEReadLocalSupportedFeatures{})
	if err != nil {
		return caps, err
	}
	if len(ret) != 8 {
		return caps, fmt.Errorf("hci: %v: %d return bytes, want 8", opLEReadLocalSupportedFeatures, len(ret))
	}
	caps.LEFeatures = binary.LittleEndian.Uint64(ret)
	return caps, nil
}

// Scan parameter values (Core spec Vol 4 Part E §7.8.10, §7.8.64).
const (
	scanTypePassive       = 0x00
	ownAddressPublic      = 0x00
	ownAddressRandom      = 0x01
	filterPolicyAcceptAll = 0x00
	filterDuplicatesOff   = 0x00
	scanPHY1M             = 0x01
)

// scanState is what startScan set up.
type scanState struct {
	Extended         bool
	Interval, Window time.Duration
}

// startScan starts a passive scan with duplicate filtering off: Find My
// and PACT addresses rotate, and a controller filtering duplicates would
// drop every repeat of a key we have seen in the same scan, and on some
// controllers every key after its list fills.
func startScan(ctx context.Context, c *controller, caps capabilities, cfg ScanConfig) (scanState, error) {
	iv, win, err := cfg.scanUnits()
	if err != nil {
		return scanState{}, err
	}
	state := scanState{Interval: time.Duration(iv) * scanUnit, Window: time.Duration(win) * scanUnit}
	switch cfg.Extended {
	case ExtendedOn:
		if !caps.ExtendedScanning() {
			return scanState{}, errors.New("hci: extended scanning requested but the controller does not support it")
		}
		state.Extended = true
	case ExtendedAuto:
		state.Extended = caps.ExtendedScanning()
	}
	// A scan left running (by a crashed previous run, or by the kernel on
	// the raw channel) makes the parameter command fail as disallowed.
	_ = stopScan(ctx, c, state.Extended)
	if state.Extended {
		if _, err := c.Run(ctx, &leSetExtendedScanParameters{
			OwnAddressType: ownAddressPublic, ScanningFilterPolicy: filterPolicyAcceptAll,
			ScanningPHYs: scanPHY1M, ScanType: scanTypePassive, ScanInterval: iv, ScanWindow: win,
		}); err != nil {
			return scanState{}, err
		}
		// Duration 0 (until disabled), Period 0 (continuous).
		if _, err := c.Run(ctx, &leSetExtendedScanEnable{Enable: 1, FilterDuplicates: filterDuplicatesOff}); err != nil {
			return scanState{}, err
		}
		return state, nil
	}
	if _, err := c.Run(ctx, &cmd.LESetScanParameters{
		LEScanType: scanTypePassive, LEScanInterval: iv, LEScanWindow: win,
		OwnAddressType: ownAddressPublic, ScanningFilterPolicy: filterPolicyAcceptAll,
	}); err != nil {
		return scanState{}, err
	}
	if _, err := c.Run(ctx, &cmd.LESetScanEnable{LEScanEnable: 1, FilterDuplicates: filterDuplicatesOff}); err != nil {
		return scanState{}, err
	}
	return state, nil
}

// stopScan disables scanning; disabling a scan that is not running is
// harmless on most controllers and an ignorable error on the rest.
func stopScan(ctx context.Context, c *controller, extended bool) error {
	if extended {
		_, err := c.Run(ctx, &leSetExtendedScanEnable{Enable: 0})
		return err
	}
	_, err := c.Run(ctx, &cmd.LESetScanEnable{LEScanEnable: 0})
	return err
}
