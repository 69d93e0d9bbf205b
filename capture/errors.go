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

// ErrUnsupportedLinkType is wrapped by the error for a pcap file whose
// link type carries neither Bluetooth HCI nor the LE link layer.
var ErrUnsupportedLinkType = errors.New("link type carries no Bluetooth HCI or LE link layer")

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
