package capture

import (
	"encoding/binary"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// Extended advertising on the link layer (Core spec Vol 6 Part B §2.3.4):
// ADV_EXT_IND on a primary channel points (AuxPtr) to AUX_ADV_IND on a
// secondary one, which holds the advertiser address and the first part of
// the data and may point to AUX_CHAIN_IND packets with the rest. All are
// PDU type 7 with the Common Extended Advertising Payload: a byte of
// Extended Header Length (bits 0-5) and AdvMode (bits 6-7), then, when the
// header is not empty, a flags byte and the fields it announces in this
// order, then the advertising data.
const (
	extHdrAdvA     = 1 << 0
	extHdrTargetA  = 1 << 1
	extHdrCTEInfo  = 1 << 2
	extHdrADI      = 1 << 3
	extHdrAuxPtr   = 1 << 4
	extHdrSyncInfo = 1 << 5
	extHdrTxPower  = 1 << 6

	llCTEInfoLen  = 1
	llADILen      = 2
	llAuxPtrLen   = 3
	llSyncInfoLen = 18
	llTxPowerLen  = 1

	advModeConnectable = 1 << 0
	advModeScannable   = 1 << 1

	llExtFormat = "LE extended advertising PDU"

	// llChainTimeout and llMaxChains bound the chains followed at once, as
	// hci bounds reassembly of fragmented reports; AUX_CHAIN_IND packets
	// follow each other by at most a few milliseconds.
	llChainTimeout = time.Second
	llMaxChains    = 32
)

// llExtPDU is a decoded Common Extended Advertising Payload.
type llExtPDU struct {
	advMode            uint8
	hasAdvA, hasTarget bool
	advA               [6]byte
	hasADI, hasAuxPtr  bool
	adi                uint16
	txPower            int8
	data               []byte
}

// parseLLExtended decodes payload, the PDU payload of a type 7 PDU that
// starts at offset at in the record.
func parseLLExtended(payload []byte, at int) (llExtPDU, error) {
	e := llExtPDU{txPower: txPowerNotAvailable}
	if len(payload) == 0 {
		return e, malformed(llExtFormat, "Extended Header Length", at, "payload is empty")
	}
	hdrLen := int(payload[0] & 0x3F)
	e.advMode = payload[0] >> 6
	if 1+hdrLen > len(payload) {
		return e, malformed(llExtFormat, "Extended Header Length", at, "%d runs past the %d-byte payload", hdrLen, len(payload))
	}
	e.data = payload[1+hdrLen:]
	if hdrLen == 0 {
		return e, nil
	}
	hdr := payload[1 : 1+hdrLen]
	flags, fields := hdr[0], hdr[1:]
	take := func(bit byte, n int, name string) ([]byte, error) {
		if flags&bit == 0 {
			return nil, nil
		}
		if len(fields) < n {
			return nil, malformed(llExtFormat, name, at+1+hdrLen-len(fields), "needs %d bytes, %d left in the extended header", n, len(fields))
		}
		f := fields[:n]
		fields = fields[n:]
		return f, nil
	}
	steps := []struct {
		bit  byte
		n    int
		name string
	}{
		{extHdrAdvA, llAdvAddrLen, "AdvA"}, {extHdrTargetA, llAdvAddrLen, "TargetA"}, {extHdrCTEInfo, llCTEInfoLen, "CTEInfo"},
		{extHdrADI, llADILen, "ADI"}, {extHdrAuxPtr, llAuxPtrLen, "AuxPtr"}, {extHdrSyncInfo, llSyncInfoLen, "SyncInfo"},
		{extHdrTxPower, llTxPowerLen, "TxPower"},
	}
	for _, s := range steps {
		f, err := take(s.bit, s.n, s.name)
		if err != nil || f == nil {
			if err != nil {
				return e, err
			}
			continue
		}
		switch s.bit {
		case extHdrAdvA:
			e.hasAdvA, e.advA = true, addrFromLSBFirst(f)
		case extHdrTargetA:
			e.hasTarget = true
		case extHdrADI:
			e.hasADI, e.adi = true, binary.LittleEndian.Uint16(f)
		case extHdrAuxPtr:
			e.hasAuxPtr = true
		case extHdrTxPower:
			e.txPower = int8(f[0])
		}
	}
	// What is left of the header is ACAD, which carries no report data.
	return e, nil
}

// llChain is an extended advertisement being followed from its
// AUX_ADV_IND through its AUX_CHAIN_IND packets.
type llChain struct {
	adi     uint16
	started time.Time
	report  hci.AdvReport // fields from AUX_ADV_IND; Data is not used
	data    []byte
}

// llDecoder decodes link-layer advertising packets; it keeps the extended
// advertisements whose chains are not complete yet. The zero value is
// ready.
type llDecoder struct {
	chains []llChain
	free   [][]byte
	whole  []byte
	// joined counts extended advertisements delivered whole from more
	// than one packet; dropped those given up (too long, too late, too
	// many at once).
	joined, dropped uint64
}

func (d *llDecoder) release(i int) {
	d.free = append(d.free, d.chains[i].data[:0])
	last := len(d.chains) - 1
	d.chains[i] = d.chains[last]
	d.chains = d.chains[:last]
}

func (d *llDecoder) findChain(adi uint16, t time.Time) int {
	for i := range d.chains {
		if d.chains[i].adi != adi {
			continue
		}
		if absDuration(t.Sub(d.chains[i].started)) > llChainTimeout {
			d.dropped++
			d.release(i)
			return -1
		}
		return i
	}
	return -1
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// extended decodes a type 7 PDU: an AUX_ADV_IND that holds all its data
// yields a report at once; one that points to AUX_CHAIN_IND packets starts
// a chain, which yields its report with the packet that ends it.
// ADV_EXT_IND, which holds no data, and AUX_CHAIN_IND packets of no chain
// being followed yield nothing.
func (d *llDecoder) extended(radio llRadio, hdr0 byte, payload []byte, at int, t time.Time, r *hci.AdvReport) (bool, error) {
	e, err := parseLLExtended(payload, at)
	if err != nil {
		return false, err
	}
	if e.hasAdvA {
		if i := d.findChain(e.adi, t); i >= 0 && e.hasADI {
			// A new AUX_ADV_IND of the same set restarts it.
			d.release(i)
		}
		if len(e.data) == 0 && e.hasAuxPtr {
			return false, nil // ADV_EXT_IND, or AUX_ADV_IND whose data all follows
		}
		et := uint16(0)
		if e.advMode&advModeConnectable != 0 {
			et |= hci.ExtEventConnectable
		}
		if e.advMode&advModeScannable != 0 {
			et |= hci.ExtEventScannable
		}
		if e.hasTarget {
			et |= hci.ExtEventDirected
		}
		sid := sidNone
		if e.hasADI {
			sid = uint8(e.adi >> 12)
		}
		*r = hci.AdvReport{Time: t, Type: hci.PDUExtended, Extended: true, EventType: et, AddrType: hdr0 >> 6 & 1,
			Addr: e.advA, RSSI: radio.rssi, PrimaryPHY: phyLE1M, SecondaryPHY: phyLE1M, SID: sid, TxPower: e.txPower}
		if !e.hasAuxPtr || !e.hasADI {
			r.Data = e.data[:len(e.data):len(e.data)]
			return true, nil
		}
		if len(d.chains) >= llMaxChains {
			oldest := 0
			for i := range d.chains {
				if d.chains[i].started.Before(d.chains[oldest].started) {
					oldest = i
				}
			}
			d.dropped++
			d.release(oldest)
		}
		var buf []byte
		if n := len(d.free); n > 0 {
			buf, d.free = d.free[n-1], d.free[:n-1]
		}
		d.chains = append(d.chains, llChain{adi: e.adi, started: t, report: *r, data: append(buf, e.data...)})
		return false, nil
	}
	if !e.hasADI {
		return false, nil
	}
	i := d.findChain(e.adi, t)
	if i < 0 {
		return false, nil
	}
	c := &d.chains[i]
	if len(c.data)+len(e.data) > hci.MaxExtendedAdvData {
		d.dropped++
		d.release(i)
		return false, nil
	}
	c.data = append(c.data, e.data...)
	if e.hasAuxPtr {
		return false, nil
	}
	d.whole = append(d.whole[:0], c.data...)
	*r = c.report
	r.Time, r.RSSI = t, radio.rssi
	r.Data = d.whole[:len(d.whole):len(d.whole)]
	d.joined++
	d.release(i)
	return true, nil
}
