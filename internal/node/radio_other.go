//go:build !linux

package node

import (
	"context"
	"errors"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// Radio says which controller the node uses; only Linux has one.
type Radio struct {
	Adapter             int
	Channel             hci.Channel
	Serial              string
	Baud                int
	FlowControl         bool
	Scan                hci.ScanConfig
	AdvertisingInterval time.Duration
}

// RunRadio needs Linux HCI sockets.
func (n *Node) RunRadio(ctx context.Context, r Radio) error {
	if r.Adapter < 0 && r.Serial == "" {
		return nil
	}
	return errors.New("node: a radio needs Linux")
}
