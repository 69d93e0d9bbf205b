//go:build linux && !ppc64 && !ppc64le

package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
)

// openSerialSource resets and opens the H4 controller of --serial as a
// source of the pipeline.
func openSerialSource(ctx context.Context, o *scanOptions, log *slog.Logger) (ingest.Source, error) {
	cfg := hci.SerialConfig{Path: o.serial, Baud: o.baud, FlowControl: o.flow, Scan: o.scan, Logger: log}
	s, err := hci.OpenSerialSource(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening serial controller %s at %d baud (flow control %v): %w", o.serial, o.baud, o.flow, err)
	}
	logScanning(log, o, s.Extended())
	return ingest.SerialSource(s, cfg), nil
}
