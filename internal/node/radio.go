package node

import (
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Radio says which controller the node uses.
type Radio struct {
	// Adapter is N of hciN; -1 when Serial is used or there is no radio.
	Adapter int
	Channel hci.Channel
	// Serial is the tty of an H4 controller, which the node only listens
	// through; empty for none.
	Serial      string
	Baud        int
	FlowControl bool
	Scan        hci.ScanConfig
	// AdvertisingInterval is how often the chirp is broadcast; 0 means
	// DefaultAdvertisingInterval.
	AdvertisingInterval time.Duration
	// Frame is the native frame version chirped: FrameV2 (0 means
	// FrameV2), or FrameV1 for a controller without extended advertising.
	Frame int
	// AntennaGain is the gain of the adapter's antenna in dBi. Added to
	// the TX power the controller selected, it gives the radiated power
	// that version-2 frames carry; nil leaves it unknown
	// (docs/native-frame.md §7.6.1).
	AntennaGain *int
}

// DefaultAdvertisingInterval is the advertising interval of a chirp
// (docs/native-frame.md §7.6.6): inside GAEN's 200-270 ms, so that a
// scanner tuned for Exposure Notification hears a PACT device as often.
const DefaultAdvertisingInterval = 250 * time.Millisecond

// Limits of the advertising interval of a version-2 chirp
// (docs/native-frame.md §7.6.6).
const (
	MinAdvertisingInterval = 200 * time.Millisecond
	MaxAdvertisingInterval = 270 * time.Millisecond
)

// radiatedPower is the TX power a version-2 frame carries: the
// controller's selected power plus the antenna gain, clamped to the range
// a frame can say, or pact.TxPowerUnknown when either is unknown.
func radiatedPower(selected int8, selectedKnown bool, gain *int) int8 {
	if !selectedKnown || gain == nil {
		return pact.TxPowerUnknown
	}
	p := int(selected) + *gain
	return int8(min(max(p, int(pact.TxPowerMin)), int(pact.TxPowerMax)))
}
