package hci

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// HCI event codes this package knows by name (Core spec Vol 4 Part E §7.7).
const (
	eventCommandComplete uint8 = 0x0E // §7.7.14
	eventCommandStatus   uint8 = 0x0F // §7.7.15
	eventLEMeta          uint8 = 0x3E // §7.7.65
)

// LE Meta event subevent codes (Core spec Vol 4 Part E §7.7.65).
const (
	subeventLEAdvertisingReport         uint8 = 0x02 // §7.7.65.2
	subeventLEExtendedAdvertisingReport uint8 = 0x0D // §7.7.65.13
)

// Bits of the Event_Type field of an LE Extended Advertising Report
// (Core spec Vol 4 Part E §7.7.65.13).
const (
	ExtEventConnectable  uint16 = 1 << 0
	ExtEventScannable    uint16 = 1 << 1
	ExtEventDirected     uint16 = 1 << 2
	ExtEventScanResponse uint16 = 1 << 3
	ExtEventLegacy       uint16 = 1 << 4
	// ExtEventDataStatusMask covers the two data-status bits (5-6).
	ExtEventDataStatusMask uint16 = 3 << 5
)

// Extended event types of legacy PDUs (Core spec Vol 4 Part E §7.7.65.13,
// table "Event_Type values for legacy PDUs").
const (
	extLegacyAdvInd         = 0x13
	extLegacyAdvDirectInd   = 0x15
	extLegacyAdvScanInd     = 0x12
	extLegacyAdvNonconnInd  = 0x10
	extLegacyScanRspAdvInd  = 0x1B
	extLegacyScanRspAdvScan = 0x1A
)

// Limits of the report events.
const (
	// eventHeaderLen is event code plus parameter total length.
	eventHeaderLen = 2
	// maxEventParams is the largest parameter total length (one byte).
	maxEventParams = 255
	// maxReportsPerEvent is the upper end of Num_Reports (§7.7.65.2).
	maxReportsPerEvent = 0x19
	// maxLegacyAdvData is the legacy advertising data limit (§7.7.65.2).
	maxLegacyAdvData = 31
	// legacyReportFixed is a legacy report without its data: event type,
	// address type, address, data length, RSSI.
	legacyReportFixed = 1 + 1 + 6 + 1 + 1
	// extReportFixed is an extended report without its data (§7.7.65.13).
	extReportFixed = 2 + 1 + 6 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 6 + 1
)

// Spec values for "not available".
const (
	rssiNotAvailable    int8  = 127
	txPowerNotAvailable int8  = 127
	sidNone             uint8 = 0xFF
	phyLE1M             uint8 = 1
)

// ErrMalformed is wrapped by every error about input bytes that do not
// follow their format; errors.Is(err, ErrMalformed) tells a bad frame,
// which callers count and skip, from an I/O failure.
var ErrMalformed = errors.New("malformed")

// FormatError says which field of which format is wrong, and where.
type FormatError struct {
	// Format names the structure being decoded, e.g. "LE Advertising Report".
	Format string
	// Field is the field that is wrong, as the spec names it.
	Field string
	// Offset is the field's byte offset from the start of the structure
	// handed to the decoder (the event packet, the file, ...).
	Offset int64
	// Problem says what is wrong with the value.
	Problem string
	// Err, when set, is a further cause, e.g. io.ErrUnexpectedEOF for input
	// that ends inside a structure.
	Err error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: %s at offset %d: %s", e.Format, e.Field, e.Offset, e.Problem)
}

// Unwrap lets errors.Is match ErrMalformed and the further cause, if any.
func (e *FormatError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrMalformed, e.Err}
	}
	return []error{ErrMalformed}
}

func malformed(format, field string, offset int, problem string, args ...any) error {
	return &FormatError{Format: format, Field: field, Offset: int64(offset), Problem: fmt.Sprintf(problem, args...)}
}

// hciEvent is one HCI event packet (Core spec Vol 4 Part E §5.4.4) without its
// H4 packet indicator. Params aliases the input.
type hciEvent struct {
	Code   uint8
	Params []byte
}

// parseEvent checks the event header against the packet length and splits
// it. The packet must hold exactly the announced parameters: a capture
// record or H4 frame that is longer or shorter is corrupt.
func parseEvent(packet []byte) (hciEvent, error) {
	if len(packet) < eventHeaderLen {
		return hciEvent{}, malformed("HCI event", "header", 0, "need 2 bytes, have %d", len(packet))
	}
	n := int(packet[1])
	if got := len(packet) - eventHeaderLen; got != n {
		return hciEvent{}, malformed("HCI event", "Parameter_Total_Length", 1,
			"says %d bytes but %d follow (event code 0x%02X)", n, got, packet[0])
	}
	return hciEvent{Code: packet[0], Params: packet[eventHeaderLen:]}, nil
}

// LESubevent returns the subevent code and its parameters of an LE Meta
// event; ok is false for any other event.
func (e hciEvent) LESubevent() (code uint8, params []byte, ok bool) {
	if e.Code != eventLEMeta || len(e.Params) == 0 {
		return 0, nil, false
	}
	return e.Params[0], e.Params[1:], true
}

// IsAdvReportEvent reports whether packet (an HCI event without H4
// indicator) is an LE Advertising Report or LE Extended Advertising Report,
// judged by its header alone.
func IsAdvReportEvent(packet []byte) bool {
	return len(packet) >= 3 && packet[0] == eventLEMeta &&
		(packet[2] == subeventLEAdvertisingReport || packet[2] == subeventLEExtendedAdvertisingReport)
}

// AdvDecoder decodes advertising report events without allocating: the
// report handed to the callback lives in the decoder and its Data aliases
// the event bytes. It joins the pieces of fragmented LE Extended
// Advertising Reports ("incomplete, more to come", then the rest) into one
// report, per advertiser and advertising set, bounded in size
// (MaxExtendedAdvData), in time and in the advertisers in progress; a
// joined report's Data lives in the decoder until the next Decode. The
// zero value is ready; it is not safe for concurrent use, except
// ReassemblyStats.
type AdvDecoder struct {
	report AdvReport
	chains reassembler
}

// ReassemblyStats returns the counts of joined and dropped fragmented
// reports; it is safe to call while another goroutine decodes.
func (d *AdvDecoder) ReassemblyStats() ReassemblyStats {
	return ReassemblyStats{Reassembled: d.chains.stats.reassembled.Load(), Dropped: d.chains.stats.dropped.Load()}
}

// decodeAdvReports is AdvDecoder.Decode with a decoder of its own; it
// allocates that decoder once per call.
func decodeAdvReports(event []byte, t time.Time, fn func(*AdvReport) error) error {
	var d AdvDecoder
	_, err := d.Decode(event, t, fn)
	return err
}

// Decode calls fn for each advertising report in event, an HCI event
// packet without H4 indicator, stamping each with t. Events that are not
// advertising reports yield nothing and no error, and so does a piece of
// a fragmented extended report until its last piece comes. It returns how
// many reports fn received. A malformed event yields an error wrapping
// ErrMalformed before fn sees any of its reports; an error from fn is
// returned as is.
//
// The spec (Core Vol 4 Part E §7.7.65.2 and §7.7.65.13) draws several
// reports in one event as parallel arrays, all event types first, then all
// addresses, and so on; Linux, BlueZ and Wireshark read them one whole
// report after another, which is what controllers send. Both read the
// same when there is a single report, as nearly always. With several,
// Decode takes report-after-report when the lengths add up that way and
// falls back to the array layout when only that one adds up.
func (d *AdvDecoder) Decode(event []byte, t time.Time, fn func(*AdvReport) error) (int, error) {
	if !IsAdvReportEvent(event) {
		if len(event) >= 2 && event[0] == eventLEMeta && len(event) < 3 {
			return 0, malformed("LE Meta event", "Subevent_Code", 2, "missing")
		}
		return 0, nil
	}
	ev, err := parseEvent(event)
	if err != nil {
		return 0, err
	}
	// params starts at Num_Reports, offset 3 in the packet.
	params := ev.Params[1:]
	if event[2] == subeventLEAdvertisingReport {
		return d.decodeLegacy(params, t, fn)
	}
	return d.decodeExtended(params, t, fn)
}

// paramsOffset turns an offset within the report parameters into one within
// the event packet (code, length, subevent precede them).
const paramsOffset = 3

const (
	legacyFormat = "LE Advertising Report"
	extFormat    = "LE Extended Advertising Report"
)

func checkNumReports(format string, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, malformed(format, "Num_Reports", paramsOffset, "missing")
	}
	n := int(p[0])
	if n == 0 || n > maxReportsPerEvent {
		return 0, malformed(format, "Num_Reports", paramsOffset, "%d outside 1..%d", n, maxReportsPerEvent)
	}
	return n, nil
}

// walkInterleaved checks that n reports laid one after another, each
// fixed bytes plus a data length found lenAt bytes into the report, fill p
// exactly.
func walkInterleaved(format string, p []byte, n, fixed, lenAt int) error {
	off := 1
	for i := range n {
		if off+fixed > len(p) {
			return malformed(format, fmt.Sprintf("report %d", i), off+paramsOffset,
				"needs %d bytes, %d left", fixed, len(p)-off)
		}
		l := int(p[off+lenAt])
		if off+fixed+l > len(p) {
			return malformed(format, fmt.Sprintf("report %d Data_Length", i), off+lenAt+paramsOffset,
				"%d runs past the end of the event (%d bytes left)", l, len(p)-off-fixed)
		}
		off += fixed + l
	}
	if off != len(p) {
		return malformed(format, "Parameter_Total_Length", 1, "%d bytes left after %d reports", len(p)-off, n)
	}
	return nil
}

// fitsColumnar reports whether n reports drawn as parallel arrays, with the
// Data_Length column at lenCol, fill p exactly.
func fitsColumnar(p []byte, n, fixed, lenCol int) bool {
	if 1+n*fixed > len(p) {
		return false
	}
	total := 1 + n*fixed
	for i := range n {
		total += int(p[lenCol+i])
	}
	return total == len(p)
}

func legacyPDU(t uint8, off int) (PDUType, error) {
	if t > uint8(PDUScanRsp) {
		return 0, malformed(legacyFormat, "Event_Type", off, "0x%02X is reserved", t)
	}
	// Legacy event type values 0-4 are the PDUType constants in order.
	return PDUType(t), nil
}

func reverseAddr(dst *[6]byte, src []byte) {
	_ = src[5]
	dst[0], dst[1], dst[2], dst[3], dst[4], dst[5] = src[5], src[4], src[3], src[2], src[1], src[0]
}

func (d *AdvDecoder) resetLegacy(t time.Time) *AdvReport {
	r := &d.report
	*r = AdvReport{
		Time:       t,
		PrimaryPHY: phyLE1M,
		SID:        sidNone,
		TxPower:    txPowerNotAvailable,
	}
	return r
}

func (d *AdvDecoder) decodeLegacy(p []byte, t time.Time, fn func(*AdvReport) error) (int, error) {
	// Nearly every event holds one well-formed report: take it without
	// the general walk.
	if len(p) >= 1+legacyReportFixed && p[0] == 1 && p[1] <= uint8(PDUScanRsp) && int(p[9]) == len(p)-1-legacyReportFixed {
		r := d.resetLegacy(t)
		r.EventType = uint16(p[1])
		r.Type = PDUType(p[1])
		r.AddrType = p[2]
		reverseAddr(&r.Addr, p[3:9])
		end := len(p) - 1
		r.Data = p[10:end:end]
		r.RSSI = int8(p[end])
		if err := fn(r); err != nil {
			return 0, err
		}
		return 1, nil
	}
	n, err := checkNumReports(legacyFormat, p)
	if err != nil {
		return 0, err
	}
	columnar := false
	if err := walkInterleaved(legacyFormat, p, n, legacyReportFixed, 8); err != nil {
		if n == 1 || !fitsColumnar(p, n, legacyReportFixed, 1+8*n) {
			return 0, err
		}
		columnar = true
	}
	// Validate every event type before fn sees anything, so a bad event
	// delivers none of its reports rather than some.
	for i := range n {
		at := 1 + i
		if !columnar {
			at = legacyInterleavedStart(p, i)
		}
		if _, err := legacyPDU(p[at], at+paramsOffset); err != nil {
			return 0, err
		}
	}
	if columnar {
		return d.emitLegacyColumnar(p, n, t, fn)
	}
	off := 1
	for i := range n {
		r := d.resetLegacy(t)
		r.EventType = uint16(p[off])
		r.Type = PDUType(p[off])
		r.AddrType = p[off+1]
		reverseAddr(&r.Addr, p[off+2:off+8])
		l := int(p[off+8])
		r.Data = p[off+9 : off+9+l : off+9+l]
		r.RSSI = int8(p[off+9+l])
		off += legacyReportFixed + l
		if err := fn(r); err != nil {
			return i, err
		}
	}
	return n, nil
}

func legacyInterleavedStart(p []byte, i int) int {
	off := 1
	for range i {
		off += legacyReportFixed + int(p[off+8])
	}
	return off
}

func (d *AdvDecoder) emitLegacyColumnar(p []byte, n int, t time.Time, fn func(*AdvReport) error) (int, error) {
	lenCol := 1 + 8*n
	dataOff := 1 + 9*n
	rssiCol := len(p) - n
	for i := range n {
		r := d.resetLegacy(t)
		r.EventType = uint16(p[1+i])
		r.Type = PDUType(p[1+i])
		r.AddrType = p[1+n+i]
		reverseAddr(&r.Addr, p[1+2*n+6*i:])
		l := int(p[lenCol+i])
		r.Data = p[dataOff : dataOff+l : dataOff+l]
		dataOff += l
		r.RSSI = int8(p[rssiCol+i])
		if err := fn(r); err != nil {
			return i, err
		}
	}
	return n, nil
}

// extFields are the offsets, within the report parameters, of one extended
// report's fields.
type extFields struct {
	eventType, addrType, addr, primaryPHY, secondaryPHY, sid, txPower, rssi,
	interval, directAddrType, directAddr, dataLen, data int
}

// Offsets of the fields inside one extended report laid out whole.
var extInterleaved = extFields{
	eventType: 0, addrType: 2, addr: 3, primaryPHY: 9, secondaryPHY: 10, sid: 11,
	txPower: 12, rssi: 13, interval: 14, directAddrType: 16, directAddr: 17, dataLen: 23, data: 24,
}

// Field sizes, in extFields order, for the array layout.
var extColumnSizes = extFields{
	eventType: 2, addrType: 1, addr: 6, primaryPHY: 1, secondaryPHY: 1, sid: 1,
	txPower: 1, rssi: 1, interval: 2, directAddrType: 1, directAddr: 6, dataLen: 1,
}

// extPDUType maps an extended report's event type to a PDUType: legacy PDUs
// to their own type, everything else to PDUExtended. A legacy bit with a
// combination the spec does not list is an error.
func extPDUType(eventType uint16) (PDUType, bool) {
	if eventType&ExtEventLegacy == 0 {
		return PDUExtended, true
	}
	switch eventType & 0x1F {
	case extLegacyAdvInd:
		return PDUAdvInd, true
	case extLegacyAdvDirectInd:
		return PDUAdvDirectInd, true
	case extLegacyAdvScanInd:
		return PDUAdvScanInd, true
	case extLegacyAdvNonconnInd:
		return PDUAdvNonconnInd, true
	case extLegacyScanRspAdvInd, extLegacyScanRspAdvScan:
		return PDUScanRsp, true
	}
	return 0, false
}

// LegacyExtEventType is the extended report event type the spec assigns to
// a legacy PDU type (Core spec Vol 4 Part E §7.7.65.13); ok is false for
// PDUExtended. SCAN_RSP maps to the scan response to an ADV_IND.
func LegacyExtEventType(t PDUType) (eventType uint16, ok bool) {
	switch t {
	case PDUAdvInd:
		return extLegacyAdvInd, true
	case PDUAdvDirectInd:
		return extLegacyAdvDirectInd, true
	case PDUAdvScanInd:
		return extLegacyAdvScanInd, true
	case PDUAdvNonconnInd:
		return extLegacyAdvNonconnInd, true
	case PDUScanRsp:
		return extLegacyScanRspAdvInd, true
	}
	return 0, false
}

func (d *AdvDecoder) decodeExtended(p []byte, t time.Time, fn func(*AdvReport) error) (int, error) {
	n, err := checkNumReports(extFormat, p)
	if err != nil {
		return 0, err
	}
	columnar := false
	if err := walkInterleaved(extFormat, p, n, extReportFixed, extInterleaved.dataLen); err != nil {
		if n == 1 || !fitsColumnar(p, n, extReportFixed, 1+extReportFixed*n-n) {
			return 0, err
		}
		columnar = true
	}
	var col extFields
	if columnar {
		col = extColumnStarts(n)
	}
	// First pass validates, second delivers: see decodeLegacy.
	delivered := 0
	for pass := range 2 {
		off := 1
		dataOff := 1 + n*extReportFixed // array layout: data follows all fixed columns
		for i := range n {
			var f extFields
			if columnar {
				f = extColumnAt(col, i, dataOff)
			} else {
				f = extShift(extInterleaved, off)
			}
			et := binary.LittleEndian.Uint16(p[f.eventType:])
			pdu, ok := extPDUType(et)
			if !ok {
				return 0, malformed(extFormat, fmt.Sprintf("report %d Event_Type", i), f.eventType+paramsOffset,
					"0x%04X has the legacy bit but matches no legacy PDU", et)
			}
			l := int(p[f.dataLen])
			off += extReportFixed + l
			dataOff += l
			if pass == 0 {
				continue
			}
			r := &d.report
			*r = AdvReport{
				Time:             t,
				Type:             pdu,
				Extended:         true,
				EventType:        et,
				AddrType:         p[f.addrType],
				PrimaryPHY:       p[f.primaryPHY],
				SecondaryPHY:     p[f.secondaryPHY],
				SID:              p[f.sid],
				TxPower:          int8(p[f.txPower]),
				RSSI:             int8(p[f.rssi]),
				PeriodicInterval: binary.LittleEndian.Uint16(p[f.interval:]),
				DirectAddrType:   p[f.directAddrType],
				Data:             p[f.data : f.data+l : f.data+l],
			}
			reverseAddr(&r.Addr, p[f.addr:f.addr+6])
			reverseAddr(&r.DirectAddr, p[f.directAddr:f.directAddr+6])
			if !d.chains.add(r) {
				continue
			}
			if err := fn(r); err != nil {
				return delivered, err
			}
			delivered++
		}
	}
	return delivered, nil
}

func extShift(f extFields, by int) extFields {
	return extFields{
		eventType: f.eventType + by, addrType: f.addrType + by, addr: f.addr + by,
		primaryPHY: f.primaryPHY + by, secondaryPHY: f.secondaryPHY + by, sid: f.sid + by,
		txPower: f.txPower + by, rssi: f.rssi + by, interval: f.interval + by,
		directAddrType: f.directAddrType + by, directAddr: f.directAddr + by,
		dataLen: f.dataLen + by, data: f.data + by,
	}
}

// extColumnStarts returns where each array starts when n reports are drawn
// as parallel arrays.
func extColumnStarts(n int) extFields {
	s := extColumnSizes
	var c extFields
	at := 1
	next := func(size int) int { start := at; at += size * n; return start }
	c.eventType = next(s.eventType)
	c.addrType = next(s.addrType)
	c.addr = next(s.addr)
	c.primaryPHY = next(s.primaryPHY)
	c.secondaryPHY = next(s.secondaryPHY)
	c.sid = next(s.sid)
	c.txPower = next(s.txPower)
	c.rssi = next(s.rssi)
	c.interval = next(s.interval)
	c.directAddrType = next(s.directAddrType)
	c.directAddr = next(s.directAddr)
	c.dataLen = next(s.dataLen)
	c.data = at
	return c
}

func extColumnAt(c extFields, i, dataOff int) extFields {
	s := extColumnSizes
	return extFields{
		eventType: c.eventType + i*s.eventType, addrType: c.addrType + i*s.addrType,
		addr: c.addr + i*s.addr, primaryPHY: c.primaryPHY + i*s.primaryPHY,
		secondaryPHY: c.secondaryPHY + i*s.secondaryPHY, sid: c.sid + i*s.sid,
		txPower: c.txPower + i*s.txPower, rssi: c.rssi + i*s.rssi,
		interval: c.interval + i*s.interval, directAddrType: c.directAddrType + i*s.directAddrType,
		directAddr: c.directAddr + i*s.directAddr, dataLen: c.dataLen + i*s.dataLen,
		data: dataOff,
	}
}

// AppendLEAdvertisingReport appends an LE Advertising Report event (Core
// spec Vol 4 Part E §7.7.65.2), without H4 indicator, holding reports one
// after another as controllers send them. It uses each report's Type,
// AddrType, Addr (display order), Data and RSSI.
func AppendLEAdvertisingReport(dst []byte, reports ...AdvReport) ([]byte, error) {
	if len(reports) == 0 || len(reports) > maxReportsPerEvent {
		return dst, fmt.Errorf("%w: LE Advertising Report: %d reports, want 1..%d", ErrUnencodable, len(reports), maxReportsPerEvent)
	}
	total := 2
	for i := range reports {
		r := &reports[i]
		if r.Type > PDUScanRsp {
			return dst, fmt.Errorf("%w: LE Advertising Report: report %d: PDU type %d has no legacy event type", ErrUnencodable, i, r.Type)
		}
		if len(r.Data) > maxLegacyAdvData {
			return dst, fmt.Errorf("%w: LE Advertising Report: report %d: %d bytes of data, legacy limit is %d", ErrUnencodable, i, len(r.Data), maxLegacyAdvData)
		}
		total += legacyReportFixed + len(r.Data)
	}
	if total > maxEventParams {
		return dst, fmt.Errorf("%w: LE Advertising Report: %d parameter bytes exceed %d", ErrUnencodable, total, maxEventParams)
	}
	dst = append(dst, eventLEMeta, byte(total), subeventLEAdvertisingReport, byte(len(reports)))
	for i := range reports {
		r := &reports[i]
		dst = append(dst, byte(r.Type), r.AddrType)
		dst = appendAddrLSBFirst(dst, r.Addr)
		dst = append(dst, byte(len(r.Data)))
		dst = append(dst, r.Data...)
		dst = append(dst, byte(r.RSSI))
	}
	return dst, nil
}

// AppendLEExtendedAdvertisingReport appends an LE Extended Advertising
// Report event (Core spec Vol 4 Part E §7.7.65.13), without H4 indicator,
// reports one after another. It writes EventType as given (see
// LegacyExtEventType for legacy PDUs) and every extended field of the
// report.
func AppendLEExtendedAdvertisingReport(dst []byte, reports ...AdvReport) ([]byte, error) {
	if len(reports) == 0 || len(reports) > maxReportsPerEvent {
		return dst, fmt.Errorf("%w: LE Extended Advertising Report: %d reports, want 1..%d", ErrUnencodable, len(reports), maxReportsPerEvent)
	}
	total := 2
	for i := range reports {
		r := &reports[i]
		if _, ok := extPDUType(r.EventType); !ok {
			return dst, fmt.Errorf("%w: LE Extended Advertising Report: report %d: event type 0x%04X has the legacy bit but no legacy PDU", ErrUnencodable, i, r.EventType)
		}
		if len(r.Data) > maxEventParams {
			return dst, fmt.Errorf("%w: LE Extended Advertising Report: report %d: %d bytes of data", ErrUnencodable, i, len(r.Data))
		}
		total += extReportFixed + len(r.Data)
	}
	if total > maxEventParams {
		return dst, fmt.Errorf("%w: LE Extended Advertising Report: %d parameter bytes exceed %d", ErrUnencodable, total, maxEventParams)
	}
	dst = append(dst, eventLEMeta, byte(total), subeventLEExtendedAdvertisingReport, byte(len(reports)))
	for i := range reports {
		r := &reports[i]
		dst = binary.LittleEndian.AppendUint16(dst, r.EventType)
		dst = append(dst, r.AddrType)
		dst = appendAddrLSBFirst(dst, r.Addr)
		dst = append(dst, r.PrimaryPHY, r.SecondaryPHY, r.SID, byte(r.TxPower), byte(r.RSSI))
		dst = binary.LittleEndian.AppendUint16(dst, r.PeriodicInterval)
		dst = append(dst, r.DirectAddrType)
		dst = appendAddrLSBFirst(dst, r.DirectAddr)
		dst = append(dst, byte(len(r.Data)))
		dst = append(dst, r.Data...)
	}
	return dst, nil
}

func appendAddrLSBFirst(dst []byte, a [6]byte) []byte {
	return append(dst, a[5], a[4], a[3], a[2], a[1], a[0])
}
