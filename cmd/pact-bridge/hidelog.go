package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/cli"
)

// runHideLog switches the device's contact log to the hidden mode (spec
// §9.3): every plain row is sealed in place and its chirp erased from the
// database files. There is no way back: the chirps are gone.
func runHideLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pact-bridge hide-log", "[flags]\n\nSwitches the contact log to the hidden mode (spec §9.3): each sighting keeps its\nminute and a lookup tag, its signal strength, source and location are sealed\nunder the chirp heard, and the chirps are erased from the database files.\nSightings stored from then on are sealed too. It cannot be undone.", stdout, stderr)
	var lf cli.LogFlags
	lf.Register(fs.FlagSet)
	dbPath := fs.String("db", "pact-device.db", "device database (SQLite)")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	log := lf.Logger(stderr)
	db, err := openDevice(ctx, *dbPath, log)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	moved, err := db.HideContactLog(ctx, start)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "contact log hidden: %d sightings sealed in %v\n", moved, time.Since(start).Round(time.Millisecond))
	return nil
}
