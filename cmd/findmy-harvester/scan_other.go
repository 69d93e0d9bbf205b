//go:build !linux

package main

import (
	"context"
	"errors"
	"io"
)

func scanCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("scanning needs Linux HCI sockets; use replay on other systems")
}
