package capture

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// LinkTypeBluetoothLELLWithPHDR records are a 10-byte little-endian radio
// header (tcpdump.org LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR: RF channel,
// signal power, noise power, access address offenses, reference access
// address, flags) followed by the LE link-layer packet exactly as on air:
// access address, PDU header, payload, CRC (Core spec Vol 6 Part B §2.1).

// leAdvertisingAccessAddress is the access address of every packet on the
// primary advertising channels (Core spec Vol 6 Part B §2.1.2).
const leAdvertisingAccessAddress uint32 = 0x8E89BED6

// Flags of the LE link-layer pseudo-header.
const (
	lePhdrDewhitened     uint16 = 0x0001
	lePhdrSignalValid    uint16 = 0x0002
	lePhdrNoiseValid     uint16 = 0x0004
	lePhdrDecrypted      uint16 = 0x0008
	lePhdrRefAAValid     uint16 = 0x0010
	lePhdrAAOffenseValid uint16 = 0x0020
	lePhdrChannelAliased uint16 = 0x0040
	// lePhdrPDUTypeMask selects what kind of PDU the sniffer says it is;
	// 0 leaves it to the access address (advertising or data).
	lePhdrPDUTypeMask uint16 = 0x0380
	lePhdrCRCChecked  uint16 = 0x0400
	lePhdrCRCValid    uint16 = 0x0800
)

// Advertising channel PDU types (Core spec Vol 6 Part B §2.3).
const (
	llAdvInd        = 0x0
	llAdvDirectInd  = 0x1
	llAdvNonconnInd = 0x2
	llScanReq       = 0x3
	llScanRsp       = 0x4
	llConnectInd    = 0x5
	llAdvScanInd    = 0x6
	llAdvExtInd     = 0x7
)

const (
	lePhdrLen   = 10
	llAALen     = 4
	llHeaderLen = 2
	llCRCLen    = 3
	// llAdvCRCInit is the CRC preset on the advertising channels (Core
	// spec Vol 6 Part B §3.1.1).
	llAdvCRCInit   = 0x555555
	llFormat       = "Bluetooth LE link layer"
	llAdvAddrLen   = 6
	llMaxLegacyLen = 37
)

// llCRC computes the link-layer CRC of a PDU (header and payload) with the
// given preset, as the 24-bit register after the last bit (Core spec Vol 6
// Part B §3.1.1): bits enter least significant first.
func llCRC(init uint32, pdu []byte) uint32 {
	reg := init & 0xFFFFFF
	for _, b := range pdu {
		for j := range 8 {
			x := uint32(b>>j)&1 ^ (reg>>23)&1
			reg = (reg << 1) & 0xFFFFFF
			if x != 0 {
				reg ^= 0x00065B // x^10 + x^9 + x^6 + x^4 + x^3 + x + 1
			}
		}
	}
	return reg
}

// checkLLCRC refuses a packet whose CRC the sniffer found wrong, and,
// when the sniffer did not check it (LE LL pseudo-header flag 0x0400
// clear, as HackRF and Ubertooth captures have it, or no pseudo-header at
// all), checks it as Wireshark does: a bit flipped
// on air must not become a sighting with a wrong key. crc is the three CRC
// bytes as received, at offset at in the record.
func checkLLCRC(radio llRadio, pdu, crc []byte, at int) error {
	if radio.crcChecked {
		if !radio.crcValid {
			return &hci.FormatError{Format: llFormat, Field: "CRC", Offset: int64(at), Problem: "the sniffer found it wrong", Err: ErrBadCRC}
		}
		return nil
	}
	want := llCRC(llAdvCRCInit, pdu)
	var onAir [llCRCLen]byte
	appendLLCRC(onAir[:0], want)
	if [llCRCLen]byte(crc) != onAir {
		return &hci.FormatError{Format: llFormat, Field: "CRC", Offset: int64(at),
			Problem: fmt.Sprintf("%X on air, %X computed over the PDU", crc, onAir), Err: ErrBadCRC}
	}
	return nil
}

// appendLLCRC appends the CRC as it goes on air, position 23 first, with
// air bits packed into bytes least significant bit first.
func appendLLCRC(dst []byte, crc uint32) []byte {
	return append(dst, reverseBits8(byte(crc>>16)), reverseBits8(byte(crc>>8)), reverseBits8(byte(crc)))
}

func reverseBits8(b byte) byte {
	b = b>>4 | b<<4
	b = (b&0xCC)>>2 | (b&0x33)<<2
	return (b&0xAA)>>1 | (b&0x55)<<1
}

func llToPDU(t byte) (hci.PDUType, bool) {
	switch t {
	case llAdvInd:
		return hci.PDUAdvInd, true
	case llAdvDirectInd:
		return hci.PDUAdvDirectInd, true
	case llAdvNonconnInd:
		return hci.PDUAdvNonconnInd, true
	case llScanRsp:
		return hci.PDUScanRsp, true
	case llAdvScanInd:
		return hci.PDUAdvScanInd, true
	}
	return 0, false
}

func pduToLL(t hci.PDUType) (byte, bool) {
	switch t {
	case hci.PDUAdvInd:
		return llAdvInd, true
	case hci.PDUAdvDirectInd:
		return llAdvDirectInd, true
	case hci.PDUAdvNonconnInd:
		return llAdvNonconnInd, true
	case hci.PDUScanRsp:
		return llScanRsp, true
	case hci.PDUAdvScanInd:
		return llAdvScanInd, true
	}
	return 0, false
}

// llRadio is what a sniffer's pseudo-header says about one link-layer
// packet, reduced to what decoding needs.
type llRadio struct {
	// crcChecked says the sniffer checked the CRC, crcValid what it found.
	crcChecked, crcValid bool
	// rssi is the signal power in dBm, or rssiNotAvailable.
	rssi int8
}

// decodeLELLAdvertising decodes a LinkTypeBluetoothLELLWithPHDR record
// into r, stamped with t. ok is false, with no error, for packets that
// are no advertising report: data channel traffic, SCAN_REQ, CONNECT_IND,
// extended advertising pointers. RSSI is the header's signal power when
// its flag says it is valid, else 127. A packet whose CRC is wrong, by the
// sniffer's word or by our own check when the sniffer made none, yields an
// error wrapping ErrBadCRC. Data aliases the record.
func (d *llDecoder) decodeLELLAdvertising(rec []byte, t time.Time, r *hci.AdvReport) (ok bool, err error) {
	if len(rec) < lePhdrLen+llAALen+llHeaderLen+llCRCLen {
		return false, malformed(llFormat, "packet", 0, "%d bytes are fewer than pseudo-header, access address, PDU header and CRC", len(rec))
	}
	flags := binary.LittleEndian.Uint16(rec[8:])
	if flags&lePhdrPDUTypeMask != 0 {
		return false, nil
	}
	radio := llRadio{crcChecked: flags&lePhdrCRCChecked != 0, crcValid: flags&lePhdrCRCValid != 0, rssi: rssiNotAvailable}
	if flags&lePhdrSignalValid != 0 {
		radio.rssi = int8(rec[1])
	}
	if binary.LittleEndian.Uint32(rec[lePhdrLen:]) != leAdvertisingAccessAddress {
		return false, nil
	}
	return d.decodeLLAdvertising(radio, rec, lePhdrLen+llAALen, t, r)
}

// decodeLELLRaw decodes a LinkTypeBluetoothLELL record (251): the packet
// as on air, access address to CRC, with no radio header, so no RSSI and
// a CRC we check ourselves.
func (d *llDecoder) decodeLELLRaw(rec []byte, t time.Time, r *hci.AdvReport) (ok bool, err error) {
	if len(rec) < llAALen+llHeaderLen+llCRCLen {
		return false, malformed(llFormat, "packet", 0, "%d bytes are fewer than access address, PDU header and CRC", len(rec))
	}
	if binary.LittleEndian.Uint32(rec) != leAdvertisingAccessAddress {
		return false, nil
	}
	return d.decodeLLAdvertising(llRadio{rssi: rssiNotAvailable}, rec, llAALen, t, r)
}

// decodeLLAdvertising decodes the advertising channel PDU that starts at
// pduAt in rec (PDU header, payload, then the CRC to the end of rec); the
// caller has checked that at least header and CRC are there and that the
// access address is the advertising one. Offsets in errors are from the
// start of rec.
func (d *llDecoder) decodeLLAdvertising(radio llRadio, rec []byte, pduAt int, t time.Time, r *hci.AdvReport) (ok bool, err error) {
	pdu := rec[pduAt : len(rec)-llCRCLen]
	if err := checkLLCRC(radio, pdu, rec[len(rec)-llCRCLen:], len(rec)-llCRCLen); err != nil {
		return false, err
	}
	hdr0, length := pdu[0], int(pdu[1])
	if length != len(pdu)-llHeaderLen {
		return false, malformed(llFormat, "PDU header Length", pduAt+1,
			"says %d payload bytes but the packet holds %d", length, len(pdu)-llHeaderLen)
	}
	pduType, known := llToPDU(hdr0 & 0x0F)
	if !known {
		if hdr0&0x0F == llAdvExtInd {
			return d.extended(radio, hdr0, pdu[llHeaderLen:], pduAt+llHeaderLen, t, r)
		}
		return false, nil
	}
	payload := pdu[llHeaderLen:]
	if len(payload) < llAdvAddrLen {
		return false, malformed(llFormat, "AdvA", pduAt+llHeaderLen, "payload of %d bytes has no room for it", len(payload))
	}
	*r = hci.AdvReport{
		Time:       t,
		Type:       pduType,
		EventType:  uint16(pduType),
		AddrType:   hdr0 >> 6 & 1,
		RSSI:       radio.rssi,
		PrimaryPHY: phyLE1M,
		SID:        sidNone,
		TxPower:    txPowerNotAvailable,
	}
	r.Addr = addrFromLSBFirst(payload)
	rest := payload[llAdvAddrLen:]
	if pduType == hci.PDUAdvDirectInd {
		if len(rest) != llAdvAddrLen {
			return false, malformed(llFormat, "TargetA", pduAt+llHeaderLen+llAdvAddrLen,
				"ADV_DIRECT_IND carries %d bytes after AdvA, want 6", len(rest))
		}
		r.DirectAddrType = hdr0 >> 7
		r.DirectAddr = addrFromLSBFirst(rest)
		rest = rest[len(rest):]
	}
	r.Data = rest[:len(rest):len(rest)]
	return true, nil
}

// appendLELLAdvertising appends a LinkTypeBluetoothLELLWithPHDR record of
// the legacy advertising PDU that r describes (Type, AddrType as TxAdd,
// Addr, Data, DirectAddr for ADV_DIRECT_IND, RSSI as signal power unless
// 127), received on RF channel rfChannel (0-39), with a correct CRC.
func appendLELLAdvertising(dst []byte, rfChannel uint8, r *hci.AdvReport) ([]byte, error) {
	llType, ok := pduToLL(r.Type)
	if !ok {
		return dst, fmt.Errorf("LE link-layer record: PDU type %d has no legacy advertising PDU", r.Type)
	}
	if rfChannel > 39 {
		return dst, fmt.Errorf("LE link-layer record: RF channel %d outside 0..39", rfChannel)
	}
	payloadLen := llAdvAddrLen + len(r.Data)
	if r.Type == hci.PDUAdvDirectInd {
		if len(r.Data) != 0 {
			return dst, fmt.Errorf("LE link-layer record: ADV_DIRECT_IND carries no data, got %d bytes", len(r.Data))
		}
		payloadLen += llAdvAddrLen
	}
	if payloadLen > llMaxLegacyLen {
		return dst, fmt.Errorf("LE link-layer record: %d bytes of data exceed the legacy payload", len(r.Data))
	}
	flags := lePhdrDewhitened | lePhdrCRCChecked | lePhdrCRCValid
	if r.RSSI != rssiNotAvailable {
		flags |= lePhdrSignalValid
	}
	signal := byte(r.RSSI)
	if r.RSSI == rssiNotAvailable {
		signal = 0
	}
	dst = append(dst, rfChannel, signal, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint16(dst, flags)
	dst = binary.LittleEndian.AppendUint32(dst, leAdvertisingAccessAddress)
	pduStart := len(dst)
	hdr0 := llType | (r.AddrType&1)<<6
	if r.Type == hci.PDUAdvDirectInd {
		hdr0 |= (r.DirectAddrType & 1) << 7
	}
	dst = append(dst, hdr0, byte(payloadLen))
	dst = appendAddrLSBFirst(dst, r.Addr)
	if r.Type == hci.PDUAdvDirectInd {
		dst = appendAddrLSBFirst(dst, r.DirectAddr)
	}
	dst = append(dst, r.Data...)
	return appendLLCRC(dst, llCRC(llAdvCRCInit, dst[pduStart:])), nil
}

// Values the LE Advertising Report uses for "not available" (Core spec
// Vol 4 Part E §7.7.65.2, §7.7.65.13), which a sniffer frame reports the
// same way, and LE 1M, the only PHY of legacy advertising.
const (
	rssiNotAvailable    int8  = 127
	txPowerNotAvailable int8  = 127
	sidNone             uint8 = 0xFF
	phyLE1M             uint8 = 1
)

// addrFromLSBFirst turns an address as it goes over the air, least
// significant byte first, into display order.
func addrFromLSBFirst(src []byte) [6]byte {
	_ = src[5]
	return [6]byte{src[5], src[4], src[3], src[2], src[1], src[0]}
}

func appendAddrLSBFirst(dst []byte, a [6]byte) []byte {
	return append(dst, a[5], a[4], a[3], a[2], a[1], a[0])
}
