//go:build linux && (ppc64 || ppc64le)

package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pact-findmy/pact-findmy/internal/ingest"
)

// The hci serial source needs termios2 (arbitrary line rates), which
// golang.org/x/sys/unix does not offer on PowerPC.
func openSerialSource(ctx context.Context, o *scanOptions, log *slog.Logger) (ingest.Source, error) {
	return nil, fmt.Errorf("--serial %s: HCI UART controllers are not supported on PowerPC builds", o.serial)
}
