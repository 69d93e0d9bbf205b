//go:build !linux

package node

import (
	"context"
	"errors"
)

// RunRadio needs Linux HCI sockets.
func (n *Node) RunRadio(ctx context.Context, r Radio) error {
	if r.Adapter < 0 && r.Serial == "" {
		return nil
	}
	return errors.New("node: a radio needs Linux")
}
