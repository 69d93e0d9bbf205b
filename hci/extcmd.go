package hci

// The LE extended advertising and scanning commands, which go-ble's cmd
// package lacks, as values of the same shape as its command types
// (opcode, parameter length, marshal), so that every command reaches the
// controller through controller.Run. Field names follow the Core spec
// (Vol 4 Part E §7.8.52-§7.8.65); multi-byte fields are little-endian.

import (
	"encoding/binary"
	"fmt"
)

// leSetAdvSetRandomAddress is LE Set Advertising Set Random Address
// (§7.8.52).
type leSetAdvSetRandomAddress struct {
	AdvertisingHandle uint8
	// RandomAddress is least significant byte first, as sent.
	RandomAddress [6]byte
}

func (c *leSetAdvSetRandomAddress) OpCode() int { return int(opLESetAdvSetRandomAddress) }
func (c *leSetAdvSetRandomAddress) Len() int    { return 7 }
func (c *leSetAdvSetRandomAddress) Marshal(b []byte) error {
	if err := checkParamsLen(c, b); err != nil {
		return err
	}
	b[0] = c.AdvertisingHandle
	copy(b[1:7], c.RandomAddress[:])
	return nil
}

// leSetExtendedAdvParameters is LE Set Extended Advertising Parameters
// (§7.8.53), version 1.
type leSetExtendedAdvParameters struct {
	AdvertisingHandle             uint8
	AdvertisingEventProperties    uint16
	PrimaryAdvertisingIntervalMin uint32 // 24 bits
	PrimaryAdvertisingIntervalMax uint32 // 24 bits
	PrimaryAdvertisingChannelMap  uint8
	OwnAddressType                uint8
	PeerAddressType               uint8
	PeerAddress                   [6]byte
	AdvertisingFilterPolicy       uint8
	AdvertisingTxPower            int8
	PrimaryAdvertisingPHY         uint8
	SecondaryAdvertisingMaxSkip   uint8
	SecondaryAdvertisingPHY       uint8
	AdvertisingSID                uint8
	ScanRequestNotificationEnable uint8
}

func (c *leSetExtendedAdvParameters) OpCode() int { return int(opLESetExtendedAdvParameters) }
func (c *leSetExtendedAdvParameters) Len() int    { return 25 }
func (c *leSetExtendedAdvParameters) Marshal(b []byte) error {
	if err := checkParamsLen(c, b); err != nil {
		return err
	}
	b[0] = c.AdvertisingHandle
	binary.LittleEndian.PutUint16(b[1:], c.AdvertisingEventProperties)
	putUint24(b[3:], c.PrimaryAdvertisingIntervalMin)
	putUint24(b[6:], c.PrimaryAdvertisingIntervalMax)
	b[9] = c.PrimaryAdvertisingChannelMap
	b[10] = c.OwnAddressType
	b[11] = c.PeerAddressType
	copy(b[12:18], c.PeerAddress[:])
	b[18] = c.AdvertisingFilterPolicy
	b[19] = byte(c.AdvertisingTxPower)
	b[20] = c.PrimaryAdvertisingPHY
	b[21] = c.SecondaryAdvertisingMaxSkip
	b[22] = c.SecondaryAdvertisingPHY
	b[23] = c.AdvertisingSID
	b[24] = c.ScanRequestNotificationEnable
	return nil
}

// leSetExtendedAdvData is LE Set Extended Advertising Data (§7.8.54).
type leSetExtendedAdvData struct {
	AdvertisingHandle  uint8
	Operation          uint8
	FragmentPreference uint8
	AdvertisingData    []byte // at most 251 bytes per command
}

func (c *leSetExtendedAdvData) OpCode() int { return int(opLESetExtendedAdvData) }
func (c *leSetExtendedAdvData) Len() int    { return 4 + len(c.AdvertisingData) }
func (c *leSetExtendedAdvData) Marshal(b []byte) error {
	if len(c.AdvertisingData) > maxExtendedAdvDataPerCommand {
		return fmt.Errorf("%w: %v: %d bytes of advertising data, at most %d fit",
			ErrUnencodable, opLESetExtendedAdvData, len(c.AdvertisingData), maxExtendedAdvDataPerCommand)
	}
	if err := checkParamsLen(c, b); err != nil {
		return err
	}
	b[0], b[1], b[2], b[3] = c.AdvertisingHandle, c.Operation, c.FragmentPreference, byte(len(c.AdvertisingData))
	copy(b[4:], c.AdvertisingData)
	return nil
}

// leSetExtendedAdvEnable is LE Set Extended Advertising Enable (§7.8.56)
// for one advertising set.
type leSetExtendedAdvEnable struct {
	Enable                       uint8
	AdvertisingHandle            uint8
	Duration                     uint16 // 10 ms units; 0: until disabled
	MaxExtendedAdvertisingEvents uint8  // 0: no limit
}

func (c *leSetExtendedAdvEnable) OpCode() int { return int(opLESetExtendedAdvEnable) }
func (c *leSetExtendedAdvEnable) Len() int    { return 6 }
func (c *leSetExtendedAdvEnable) Marshal(b []byte) error {
	if err := checkParamsLen(c, b); err != nil {
		return err
	}
	b[0], b[1], b[2] = c.Enable, 1, c.AdvertisingHandle // Num_Sets 1
	binary.LittleEndian.PutUint16(b[3:], c.Duration)
	b[5] = c.MaxExtendedAdvertisingEvents
	return nil
}

// leSetExtendedScanParameters is LE Set Extended Scan Parameters
// (§7.8.64) for one PHY, which Scanning_PHYs names.
type leSetExtendedScanParameters struct {
	OwnAddressType       uint8
	ScanningFilterPolicy uint8
	ScanningPHYs         uint8 // exactly one bit set
	ScanType             uint8
	ScanInterval         uint16
	ScanWindow           uint16
}

func (c *leSetExtendedScanParameters) OpCode() int { return int(opLESetExtendedScanParameters) }
func (c *leSetExtendedScanParameters) Len() int    { return 8 }
func (c *leSetExtendedScanParameters) Marshal(b []byte) error {
	if c.ScanningPHYs == 0 || c.ScanningPHYs&(c.ScanningPHYs-1) != 0 {
		return fmt.Errorf("%w: %v: Scanning_PHYs 0x%02X, want exactly one PHY", ErrUnencodable, opLESetExtendedScanParameters, c.ScanningPHYs)
	}
	if err := checkParamsLen(c, b); err != nil {
		return err
	}
	b[0], b[1], b[2], b[3] = c.OwnAddressType, c.ScanningFilterPolicy, c.ScanningPHYs, c.ScanType
	binary.LittleEndian.PutUint16(b[4:], c.ScanInterval)
	binary.LittleEndian.PutUint16(b[6:], c.ScanWindow)
	return nil
}

// leSetExtendedScanEnable is LE Set Extended Scan Enable (§7.8.65).
type leSetExtendedScanEnable struct {
	Enable           uint8
	FilterDuplicates uint8
	Duration         uint16 // 10 ms units; 0: until disabled
	Period           uint16 // 1.28 s units; 0: scan continuously
}

func (c *leSetExtendedScanEnable) OpCode() int { return int(opLESetExtendedScanEnable) }
func (c *leSetExtendedScanEnable) Len() int    { return 6 }
func (c *leSetExtendedScanEnable) Marshal(b []byte) error {
	if err := checkParamsLen(c, b); err != nil {
		return err
	}
	b[0], b[1] = c.Enable, c.FilterDuplicates
	binary.LittleEndian.PutUint16(b[2:], c.Duration)
	binary.LittleEndian.PutUint16(b[4:], c.Period)
	return nil
}

// checkParamsLen refuses a buffer that is not the command's Len, as
// go-ble's marshal does.
func checkParamsLen(c command, b []byte) error {
	if len(b) != c.Len() {
		return fmt.Errorf("%w: %v: buffer of %d bytes for %d parameter bytes", ErrUnencodable, Opcode(c.OpCode()), len(b), c.Len())
	}
	return nil
}

func putUint24(b []byte, v uint32) {
	b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16)
}

// leClearAdvSets is LE Clear Advertising Sets (§7.8.60): no parameters.
type leClearAdvSets struct{}

func (c *leClearAdvSets) OpCode() int            { return int(opLEClearAdvSets) }
func (c *leClearAdvSets) Len() int               { return 0 }
func (c *leClearAdvSets) Marshal(b []byte) error { return checkParamsLen(c, b) }
