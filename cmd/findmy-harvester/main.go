// Command findmy-harvester collects Apple Find My (Offline Finding) keys
// and native PACT chirps from Bluetooth advertising and writes them to the
// device's contact log (docs/findmy.md, spec §7).
//
//	findmy-harvester scan --hci 0 --db contacts.db
//	findmy-harvester replay capture.btsnoop --format jsonl
//	findmy-harvester derive --secret HEX --public-key HEX --from 0 --count 96
//	findmy-harvester synth --count 1000000 --out capture.btsnoop
//
// Run a subcommand with --help for its flags.
package main

import (
	"context"
	"io"
	"os"

	"github.com/pact-findmy/pact-findmy/internal/cli"
)

var program = &cli.Program{
	Name:        "findmy-harvester",
	Description: "findmy-harvester collects Find My keys and PACT chirps from Bluetooth advertising.",
	Commands: []cli.Command{
		{Name: "scan", Summary: "scan a local adapter (--hci N) or an HCI UART controller (--serial PATH); Linux", Run: scanCommand},
		{Name: "replay", Summary: "read a btsnoop, pcap or pcapng capture", Run: replayCommand},
		{Name: "derive", Summary: "print rolling Find My keys", Run: func(_ context.Context, args []string, stdout, stderr io.Writer) error {
			return deriveCommand(args, stdout, stderr)
		}},
		{Name: "synth", Summary: "write a synthetic capture", Run: func(_ context.Context, args []string, stdout, stderr io.Writer) error {
			return synthCommand(args, stdout, stderr)
		}},
	},
}

func main() { os.Exit(cli.Main(run)) }

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return program.Run(ctx, args, stdout, stderr)
}

// newFlagSet returns the flag set of findmy-harvester command name.
func newFlagSet(name, synopsis string, stdout, stderr io.Writer) *cli.FlagSet {
	return cli.NewFlagSet("findmy-harvester "+name, synopsis, stdout, stderr)
}
