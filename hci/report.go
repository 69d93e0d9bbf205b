// Package hci is the live transport: it talks to Bluetooth controllers over
// the Host Controller Interface (Linux HCI sockets, H4 over a serial port),
// sends HCI commands, and decodes the LE advertising report events they
// answer with. Every source, and the capture files package capture replays,
// yields the same AdvReport, so the layers above never know where a frame
// came from.
package hci

import (
	"context"
	"time"
)

// PDUType is the advertising PDU type of a report, normalised across legacy
// and extended reports (Core spec Vol 4 Part E §7.7.65.2 and §7.7.65.13).
type PDUType uint8

// Advertising PDU types.
const (
	PDUAdvInd        PDUType = iota // ADV_IND: connectable, scannable, undirected
	PDUAdvDirectInd                 // ADV_DIRECT_IND
	PDUAdvScanInd                   // ADV_SCAN_IND
	PDUAdvNonconnInd                // ADV_NONCONN_IND
	PDUScanRsp                      // SCAN_RSP
	PDUExtended                     // extended advertising that maps to no legacy type
)

// AdvReport is one advertising report as it left the controller.
type AdvReport struct {
	// Time is when the report was received: the capture's timestamp for a
	// replay, the host clock for a live source.
	Time time.Time
	// Type is the PDU type.
	Type PDUType
	// Extended is true for an LE Extended Advertising Report.
	Extended bool
	// AddrType is the advertiser's address type (0 public, 1 random, ...).
	AddrType uint8
	// Addr is the advertiser's address in display order, most significant
	// byte first, as written "FB:6D:08:3D:25:A4". HCI carries it least
	// significant byte first; sources reverse it.
	Addr [6]byte
	// RSSI in dBm; 127 means not available.
	RSSI int8
	// Data is the advertising data (AD structures). It is only valid until
	// the callback that received the report returns.
	Data []byte

	// The fields below carry the rest of an LE Extended Advertising Report
	// (Core spec Vol 4 Part E §7.7.65.13). Legacy sources fill them with the
	// spec's "not available" values so consumers need no special case.

	// EventType is the raw event type as the controller sent it: the one-byte
	// legacy type (0-4) for an LE Advertising Report, the 16-bit bit field
	// (ExtEvent* bits) for an extended one.
	EventType uint16
	// PrimaryPHY and SecondaryPHY are the PHYs (1 = LE 1M, 2 = LE 2M,
	// 3 = LE Coded; secondary 0 = none). Legacy reports say 1 and 0.
	PrimaryPHY, SecondaryPHY uint8
	// SID is the advertising set ID, 0xFF when none.
	SID uint8
	// TxPower in dBm, 127 when not available.
	TxPower int8
	// PeriodicInterval is the periodic advertising interval in 1.25 ms
	// units, 0 when there is none.
	PeriodicInterval uint16
	// DirectAddrType and DirectAddr (display order) are the target of a
	// directed advertisement; DirectAddr is zero otherwise.
	DirectAddrType uint8
	DirectAddr     [6]byte
}

// DataStatus is the data-status field of an extended report's event type:
// 0 complete, 1 incomplete with more to come, 2 incomplete and truncated.
func (r *AdvReport) DataStatus() uint8 {
	if !r.Extended {
		return 0
	}
	return uint8(r.EventType>>5) & 3
}

// ReportSource is anything that yields advertising reports: a live adapter,
// a serial H4 dongle, or a capture file.
type ReportSource interface {
	// Reports calls fn for each advertising report until the source ends
	// (returning nil), ctx is done, or fn returns an error. A malformed
	// frame is counted and skipped, never fatal.
	Reports(ctx context.Context, fn func(*AdvReport) error) error
	// Close releases the source.
	Close() error
}
