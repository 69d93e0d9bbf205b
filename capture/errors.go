package capture

import (
	"errors"
	"fmt"

	"github.com/pact-findmy/pact-findmy/hci"
)

// ErrUnknownFormat is wrapped, with hci.ErrMalformed, by the error for a
// file whose first bytes are neither btsnoop, pcap nor pcapng.
var ErrUnknownFormat = errors.New("neither btsnoop, pcap nor pcapng")

// ErrEmptyCapture is wrapped by the error for a file that holds no bytes
// at all (or a gzip stream that unpacks to none).
var ErrEmptyCapture = errors.New("file is empty")

// ErrUnsupportedLinkType is wrapped by the error for a pcap file, or a
// pcapng interface, whose link type this package does not read: only
// 187, 201 (HCI H4), 251, 256 (LE link layer) and 272 (nRF Sniffer) are
// (docs/captures.md).
var ErrUnsupportedLinkType = errors.New("link type carries no Bluetooth HCI or LE link layer this package reads")

// LinkTypeError names the link type a capture was refused for. It wraps
// ErrUnsupportedLinkType and is no hci.ErrMalformed: the file may be
// sound, it just holds something else, and replaying it must fail rather
// than report nothing.
type LinkTypeError struct {
	// Format is CapturePcap or CapturePcapng.
	Format string
	// LinkType is the refused link type.
	LinkType uint32
	// Offset is where the pcapng Interface Description Block starts; 0
	// for pcap, where the file header holds the link type.
	Offset int64
}

func (e *LinkTypeError) Error() string {
	return fmt.Sprintf("%s link type %d at offset %d: %v (readable: 187, 201, 251, 256, 272)", e.Format, e.LinkType, e.Offset, ErrUnsupportedLinkType)
}

// Unwrap lets errors.Is match ErrUnsupportedLinkType.
func (e *LinkTypeError) Unwrap() error { return ErrUnsupportedLinkType }

// ErrBadCRC is wrapped, with hci.ErrMalformed, by the error for a
// link-layer packet whose CRC is wrong: the sniffer said so, or it left
// the check to us and the CRC does not match the PDU (Core spec Vol 6
// Part B §3.1.1). Such packets are counted in CaptureStats.BadCRC.
var ErrBadCRC = errors.New("link-layer CRC does not match the packet")

// malformed reports a field of a capture format that does not follow the
// format. It is an *hci.FormatError, so errors.Is(err, hci.ErrMalformed)
// tells damaged bytes from an I/O failure in captures and live events
// alike.
func malformed(format, field string, offset int, problem string, args ...any) error {
	return &hci.FormatError{Format: format, Field: field, Offset: int64(offset), Problem: fmt.Sprintf(problem, args...)}
}
