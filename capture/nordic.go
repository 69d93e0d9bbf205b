package capture

import (
	"encoding/binary"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// LinkTypeNordicBLE records (tcpdump.org LINKTYPE_NORDIC_BLE, 272) are
// what the nRF Sniffer for Bluetooth LE writes: a board ID, a packet
// header, an event packet header and the link-layer packet from its
// access address to its CRC. Header versions 2 and 3 (Wireshark's
// packet-nordic_ble.c describes all versions) lay it out as:
//
//	0     board ID
//	1-2   payload length, little-endian: the bytes from offset 7 to the end
//	3     protocol version (2 or 3)
//	4-5   packet counter
//	6     packet ID: 0x02 advertising PDU (version 3), 0x06 a packet on any
//	      channel (version 2, the access address tells) or a data
//	      channel PDU (version 3)
//	7     event packet header length, this byte included (10)
//	8     flags: bit 0 CRC OK; bits 4-6 PHY (0 1M, 1 2M, 2 Coded); on a
//	      secondary channel, bits 1-2 the AUX PDU type
//	9     RF channel index
//	10    RSSI, negated (the signal is -value dBm)
//	11-12 event counter
//	13-16 time in microseconds (version 2: since the previous packet's
//	      end; version 3: the firmware's clock)
//	17... the link-layer packet; on LE Coded one coding indicator byte
//	      follows the access address
//
// Versions 0 and 1 came before Bluetooth 5 and are not read.
const (
	nordicHeaderLen       = 7 // board ID through packet ID
	nordicEventHeaderLen  = 10
	nordicVersionMin      = 2
	nordicVersionMax      = 3
	nordicIDAdvertising   = 0x02
	nordicIDPacket        = 0x06
	nordicFlagCRCOK       = 0x01
	nordicPHYShift        = 4
	nordicPHYMask         = 0x07
	nordicPHYCoded        = 2
	nordicCodingIndicator = 1
	nordicFormat          = "nRF Sniffer for Bluetooth LE (link type 272)"
)

// decodeNordicBLE decodes a LinkTypeNordicBLE record into r, stamped with
// t: advertising PDUs yield reports, with the sniffer's RSSI and its CRC
// verdict; everything else (data channel packets, other packet IDs) gives
// ok false and no error.
func (d *llDecoder) decodeNordicBLE(rec []byte, t time.Time, r *hci.AdvReport) (ok bool, err error) {
	if len(rec) < nordicHeaderLen+1 {
		return false, malformed(nordicFormat, "header", 0, "need %d bytes, have %d", nordicHeaderLen+1, len(rec))
	}
	version := rec[3]
	if version < nordicVersionMin || version > nordicVersionMax {
		return false, malformed(nordicFormat, "protocol version", 3, "%d, want %d or %d", version, nordicVersionMin, nordicVersionMax)
	}
	if n := int(binary.LittleEndian.Uint16(rec[1:])); n != len(rec)-nordicHeaderLen {
		return false, malformed(nordicFormat, "payload length", 1, "says %d bytes but %d follow the header", n, len(rec)-nordicHeaderLen)
	}
	switch id := rec[6]; {
	case id == nordicIDAdvertising && version >= 3, id == nordicIDPacket && version == 2:
	default:
		return false, nil
	}
	evLen := int(rec[7])
	if evLen < nordicEventHeaderLen {
		return false, malformed(nordicFormat, "event packet header length", 7, "%d, want at least %d", evLen, nordicEventHeaderLen)
	}
	aaAt := nordicHeaderLen + evLen
	flags := rec[8]
	pduAt := aaAt + llAALen
	if (flags>>nordicPHYShift)&nordicPHYMask == nordicPHYCoded {
		pduAt += nordicCodingIndicator
	}
	if len(rec) < pduAt+llHeaderLen+llCRCLen {
		return false, malformed(nordicFormat, "link-layer packet", aaAt, "%d bytes are fewer than access address, PDU header and CRC", len(rec)-aaAt)
	}
	if binary.LittleEndian.Uint32(rec[aaAt:]) != leAdvertisingAccessAddress {
		return false, nil
	}
	radio := llRadio{crcChecked: true, crcValid: flags&nordicFlagCRCOK != 0, rssi: rssiNotAvailable}
	if rec[10] <= 128 {
		radio.rssi = int8(-int(rec[10]))
	}
	return d.decodeLLAdvertising(radio, rec, pduAt, t, r)
}
