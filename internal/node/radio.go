package node

import (
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
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
	// the advertiser's default.
	AdvertisingInterval time.Duration
}
