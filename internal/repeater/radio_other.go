//go:build !linux

package repeater

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
)

// Radio says which adapter a repeater listens and broadcasts on.
type Radio struct {
	Adapter             int
	Channel             hci.Channel
	AdvertisingInterval time.Duration
}

// RunLive needs Linux HCI sockets.
func (r *Repeater) RunLive(ctx context.Context, radio Radio, statsInterval time.Duration, log *slog.Logger) error {
	return errors.New("repeater: a radio needs Linux")
}
