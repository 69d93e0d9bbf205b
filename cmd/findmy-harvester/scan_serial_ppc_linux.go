//go:build linux && (ppc64 || ppc64le)

package main

import (
	"context"
	"fmt"
	"log/slog"
)

// The hci serial source needs termios2 (arbitrary line rates), which
// golang.org/x/sys/unix does not offer on PowerPC.
type serialSource struct{ source }

func openSerialSource(ctx context.Context, o *scanOptions, log *slog.Logger) (*serialSource, error) {
	return nil, fmt.Errorf("--serial %s: HCI UART controllers are not supported on PowerPC builds", o.serial)
}

func (s *serialSource) Close() error { return nil }
