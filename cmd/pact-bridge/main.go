// Command pact-bridge runs a PACT device on a Linux host: it keeps the seed
// and contact logs, takes in native PACT chirps and Find My keys, and
// matches them against exposure batches.
//
// Usage:
//
//	pact-bridge demo [flags]       a node beside a simulated neighbourhood, with its dashboard
//	pact-bridge run [flags]        run a PACT node on an adapter
//	pact-bridge repeat [flags]     rebroadcast heard chirps and keys after a delay (spec §9.1)
//	pact-bridge simulate [flags]   simulate a population of devices for a day
//	pact-bridge match [flags]      match exposure tuples against the contact log
//	pact-bridge bundle [flags]     print the upload bundle of the seed log
//
// Run "pact-bridge COMMAND --help" for the flags of a command.
package main

import (
	"context"
	"io"
	"os"

	"github.com/pact-findmy/pact-findmy/internal/cli"
)

var program = &cli.Program{
	Name:        "pact-bridge",
	Description: "pact-bridge runs a PACT device on a Linux host: seed and contact logs, matching against exposure batches.",
	Commands: []cli.Command{
		{Name: "demo", Summary: "start a demonstration node with a simulated neighbourhood, a diagnosis and its dashboard (no hardware)", Run: runDemo},
		{Name: "run", Summary: "run a PACT node: chirp, listen, sync, match and serve the dashboard", Run: runNode},
		{Name: "repeat", Summary: "turn an adapter into a chirp repeater: rebroadcast the chirps and Find My keys it hears after a delay (spec §9.1)", Run: runRepeat},
		{Name: "simulate", Summary: "simulate a population of PACT devices for a day, one of them diagnosed", Run: runSimulate},
		{Name: "match", Summary: "match exposure tuples against the device's contact log", Run: runMatch},
		{Name: "hide-log", Summary: "seal the device's contact log in place (spec §9.3); cannot be undone", Run: runHideLog},
		{Name: "bundle", Summary: "print the upload bundle of the device's seed log", Run: runBundle},
	},
}

func main() { os.Exit(cli.Main(run)) }

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return program.Run(ctx, args, stdout, stderr)
}
