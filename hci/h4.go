package hci

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// H4 packet indicators: the byte in front of every HCI packet on a UART
// (Core spec Vol 4 Part A §2).
const (
	H4Command byte = 0x01
	H4ACL     byte = 0x02
	H4SCO     byte = 0x03
	H4Event   byte = 0x04
	H4ISO     byte = 0x05
)

const h4Format = "H4 packet"

// h4HeaderLen is the length of the HCI packet header that follows an
// indicator, the part that holds the payload length (Core spec Vol 4
// Part E §5.4); ok is false for an unknown indicator.
func h4HeaderLen(indicator byte) (n int, ok bool) {
	switch indicator {
	case H4Command:
		return 3, true // opcode(2), parameter total length(1)
	case H4ACL:
		return 4, true // handle and flags(2), data total length(2)
	case H4SCO:
		return 3, true // handle and flags(2), data total length(1)
	case H4Event:
		return 2, true // event code(1), parameter total length(1)
	case H4ISO:
		return 4, true // handle and flags(2), data load length(14 bits)
	}
	return 0, false
}

// h4PayloadLen reads the payload length out of a complete header.
func h4PayloadLen(indicator byte, hdr []byte) int {
	switch indicator {
	case H4Command:
		return int(hdr[2])
	case H4ACL:
		return int(binary.LittleEndian.Uint16(hdr[2:]))
	case H4SCO:
		return int(hdr[2])
	case H4Event:
		return int(hdr[1])
	case H4ISO:
		return int(binary.LittleEndian.Uint16(hdr[2:]) & 0x3FFF)
	}
	return 0
}

// h4PacketName names an indicator for messages.
func h4PacketName(indicator byte) string {
	switch indicator {
	case H4Command:
		return "command"
	case H4ACL:
		return "ACL data"
	case H4SCO:
		return "SCO data"
	case H4Event:
		return "event"
	case H4ISO:
		return "ISO data"
	}
	return fmt.Sprintf("unknown(0x%02X)", indicator)
}

// SplitH4 checks that b is exactly one H4 packet and returns its indicator
// and the HCI packet behind it (aliasing b).
func SplitH4(b []byte) (indicator byte, packet []byte, err error) {
	if len(b) == 0 {
		return 0, nil, malformed(h4Format, "packet indicator", 0, "missing")
	}
	indicator = b[0]
	hl, ok := h4HeaderLen(indicator)
	if !ok {
		return 0, nil, malformed(h4Format, "packet indicator", 0, "0x%02X is no packet type", indicator)
	}
	if len(b) < 1+hl {
		return 0, nil, malformed(h4Format, h4PacketName(indicator)+" header", 1,
			"needs %d bytes, have %d", hl, len(b)-1)
	}
	want := 1 + hl + h4PayloadLen(indicator, b[1:])
	if len(b) != want {
		return 0, nil, malformed(h4Format, h4PacketName(indicator)+" length", 1,
			"header says %d bytes in all, have %d", want, len(b))
	}
	return indicator, b[1:], nil
}

// appendH4 appends packet behind its indicator.
func appendH4(dst []byte, indicator byte, packet []byte) []byte {
	dst = append(dst, indicator)
	return append(dst, packet...)
}

// h4Reader splits a byte stream from an HCI UART into packets. A byte
// where an indicator belongs that is none starts garbage (line noise, a
// dongle's boot banner, a stream joined mid-packet); the reader skips to
// the next byte that is an indicator and reports what it skipped once, as
// an error wrapping ErrMalformed, then carries on.
type h4Reader struct {
	r   io.Reader
	buf []byte
	// start and end delimit the unread bytes in buf.
	start, end int
	// offset is the stream offset of buf[start].
	offset int64
	eof    bool
	// skipped counts the garbage bytes dropped so far.
	skipped int64
}

// newH4Reader reads H4 packets from r. A reader that returns (0, nil), as
// serial ports do on a read timeout, is asked again; to stop a blocked
// reader, close what it reads from.
func newH4Reader(r io.Reader) *h4Reader {
	return &h4Reader{r: r, buf: make([]byte, 64<<10)}
}

// Skipped returns how many garbage bytes the reader has dropped.
func (h *h4Reader) Skipped() int64 { return h.skipped }

// fill makes at least n unread bytes available, unless the stream ends
// first.
func (h *h4Reader) fill(n int) error {
	for h.end-h.start < n {
		if h.eof {
			return io.EOF
		}
		if h.start+n > len(h.buf) {
			if n > len(h.buf) {
				nb := make([]byte, max(n, 2*len(h.buf)))
				h.end = copy(nb, h.buf[h.start:h.end])
				h.buf = nb
			} else {
				h.end = copy(h.buf, h.buf[h.start:h.end])
			}
			h.start = 0
		}
		m, err := h.r.Read(h.buf[h.end:])
		h.end += m
		if err == io.EOF {
			h.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// Next returns the next packet's indicator and its HCI packet without the
// indicator; packet is valid until the next call. It returns io.EOF at a
// clean end of the stream, an error wrapping ErrMalformed and
// io.ErrUnexpectedEOF when the stream ends inside a packet, and an error
// wrapping ErrMalformed after skipping garbage (call Next again to go on).
// Other errors come from the underlying reader.
func (h *h4Reader) Next() (indicator byte, packet []byte, err error) {
	if err := h.fill(1); err != nil {
		return 0, nil, err
	}
	indicator = h.buf[h.start]
	hl, ok := h4HeaderLen(indicator)
	if !ok {
		return 0, nil, h.skipGarbage()
	}
	if err := h.fill(1 + hl); err != nil {
		return 0, nil, h.truncated(err, indicator, 1+hl)
	}
	total := 1 + hl + h4PayloadLen(indicator, h.buf[h.start+1:h.start+1+hl])
	if err := h.fill(total); err != nil {
		return 0, nil, h.truncated(err, indicator, total)
	}
	packet = h.buf[h.start+1 : h.start+total : h.start+total]
	h.start += total
	h.offset += int64(total)
	return indicator, packet, nil
}

func (h *h4Reader) truncated(err error, indicator byte, want int) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	have := h.end - h.start
	at := h.offset
	h.offset += int64(have)
	h.start = h.end
	return &FormatError{
		Format: "H4 stream", Field: h4PacketName(indicator) + " packet", Offset: at,
		Problem: fmt.Sprintf("stream ends after %d of %d bytes", have, want),
		Err:     io.ErrUnexpectedEOF,
	}
}

func (h *h4Reader) skipGarbage() error {
	at := h.offset
	first := h.buf[h.start]
	var n int64
	for {
		for h.start < h.end {
			if _, ok := h4HeaderLen(h.buf[h.start]); ok {
				h.skipped += n
				return &FormatError{Format: "H4 stream", Field: "packet indicator", Offset: at,
					Problem: fmt.Sprintf("0x%02X is no packet type; skipped %d bytes to resynchronise", first, n)}
			}
			h.start++
			h.offset++
			n++
		}
		if err := h.fill(1); err != nil {
			h.skipped += n
			if !errors.Is(err, io.EOF) {
				return err
			}
			return &FormatError{Format: "H4 stream", Field: "packet indicator", Offset: at,
				Problem: fmt.Sprintf("0x%02X is no packet type; %d bytes of garbage up to the end", first, n),
				Err:     io.ErrUnexpectedEOF}
		}
	}
}
