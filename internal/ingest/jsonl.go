package ingest

import (
	"strconv"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/harvest"
)

// appendJSON writes one sighting as a JSON line. It is written by hand
// because every field is a number, a fixed word or hex, and encoding/json
// would cost more than parsing the frame.
func appendJSON(b []byte, r *harvest.Result) []byte {
	b = append(b, `{"minute":`...)
	b = strconv.AppendUint(b, uint64(r.Minute), 10)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","source":"`...)
	b = append(b, r.Kind.String()...)
	b = append(b, `","chirp":"`...)
	if r.Kind.IsPartial() {
		b = appendHex(b, r.Prefix[:])
	} else {
		b = appendHex(b, r.Sighting.Chirp[:])
	}
	b = append(b, `","rssi":`...)
	// 127 is HCI's "not available", kept as the contact log keeps it.
	b = strconv.AppendInt(b, int64(r.RSSI), 10)
	b = append(b, `,"address":"`...)
	for i, c := range r.Addr {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, upperHex[c>>4], upperHex[c&15])
	}
	b = append(b, '"')
	// Native frames say their version, and version 2 the sender's TX
	// power (docs/native-frame.md §7.6.1); a repeated frame its age and
	// the repeater's TX power (spec §9.1).
	switch r.Kind {
	case harvest.KindPACT:
		b = append(b, `,"frame":`...)
		b = strconv.AppendUint(b, uint64(r.FrameVersion), 10)
		b = append(b, `,"tx_power":`...)
		b = strconv.AppendInt(b, int64(r.Sighting.TxPower), 10)
	case harvest.KindRepeated, harvest.KindFindMyRepeated:
		b = append(b, `,"age":`...)
		b = strconv.AppendUint(b, uint64(r.Age), 10)
		b = append(b, `,"tx_power":`...)
		b = strconv.AppendInt(b, int64(r.Sighting.TxPower), 10)
	}
	// The status byte is the Offline Finding frame's; PACT and DULT frames
	// have none.
	if r.Kind == harvest.KindFindMy || r.Kind == harvest.KindFindMyPartial {
		b = append(b, `,"battery":"`...)
		b = append(b, r.Status.Battery().String()...)
		b = append(b, `","device_type":"`...)
		b = append(b, r.Status.DeviceType().String()...)
		b = append(b, `","maintained":`...)
		b = strconv.AppendBool(b, r.Status.Maintained())
		b = append(b, `,"status":`...)
		b = strconv.AppendUint(b, uint64(r.Status), 10)
		if r.Kind == harvest.KindFindMy {
			b = append(b, `,"hint":`...)
			b = strconv.AppendUint(b, uint64(r.Hint), 10)
		}
	}
	return append(b, "}\n"...)
}

const (
	lowerHex = "0123456789abcdef"
	upperHex = "0123456789ABCDEF"
)

func appendHex(b, v []byte) []byte {
	for _, c := range v {
		b = append(b, lowerHex[c>>4], lowerHex[c&15])
	}
	return b
}
