//go:build linux

// Command vmcheck runs inside the integration-test VM (see internal/vmtest and
// docs/vm-test.md): it advertises test frames on one virtual controller
// through the hci package, scans the H4 pseudo-terminal controller through
// the serial source, prints a contact log for the test to check, and runs
// the harvester with only the capabilities a real host gives it. Its scan
// subcommand, live reports straight into a contact log without the
// harvester, is for checking the hci layer by hand.
//
//	vmcheck advertise --hci 0 [--extended] --frames /frames.json --duration 5s
//	vmcheck serial --tty /dev/pts/0 --duration 5s
//	vmcheck scan --hci 1 --channel raw --db /tmp/contacts.db --duration 5s
//	vmcheck dump --db /tmp/contacts.db --tag user
//	vmcheck seeds --db /tmp/a/device.db --tag a
//	vmcheck adapter --hci 1 [--up|--down]
//	vmcheck asuser --uid 1000 --caps net_admin,net_raw -- CMD ARGS...
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Frame is one advertisement to broadcast: address in display order and
// advertising data, both hex.
type Frame struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Data    string `json:"data"`
}

func main() {
	level := slog.LevelInfo
	if os.Getenv("VMCHECK_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vmcheck advertise|serial|scan|dump|seeds|adapter|asuser [flags]; vmcheck CMD --help for flags")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "advertise":
		err = advertise(ctx, log, os.Args[2:])
	case "scan":
		err = scan(ctx, log, os.Args[2:])
	case "serial":
		err = serialScan(ctx, log, os.Args[2:])
	case "adapter":
		err = adapterState(os.Args[2:])
	case "asuser":
		err = asUser(os.Args[2:])
	case "dump":
		err = dump(ctx, os.Args[2:])
	case "seeds":
		err = seeds(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		log.Error("vmcheck failed", "cmd", os.Args[1], "err", err)
		os.Exit(1)
	}
}

func channelFlag(fs *flag.FlagSet) *string {
	return fs.String("channel", "auto", "HCI channel: auto, user or raw")
}

func advertise(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("advertise", flag.ExitOnError)
	adapter := fs.Int("hci", 0, "adapter index N of hciN")
	channel := channelFlag(fs)
	framesPath := fs.String("frames", "/frames.json", "JSON list of {name, address, data} to broadcast in turn")
	duration := fs.Duration("duration", 5*time.Second, "how long to keep cycling through the frames")
	hold := fs.Duration("hold", 150*time.Millisecond, "how long each frame stays on air per turn")
	extended := fs.Bool("extended", false, "advertise extended PDUs with the extended commands")
	fs.Parse(args)
	ch, err := hci.ParseChannel(*channel)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*framesPath)
	if err != nil {
		return err
	}
	var frames []Frame
	if err := json.Unmarshal(raw, &frames); err != nil {
		return fmt.Errorf("frames %s: %w", *framesPath, err)
	}
	type decoded struct {
		name string
		addr [6]byte
		data []byte
	}
	var list []decoded
	for _, f := range frames {
		a, err := hex.DecodeString(f.Address)
		if err != nil || len(a) != 6 {
			return fmt.Errorf("frame %s: address %q is not 6 hex bytes", f.Name, f.Address)
		}
		d, err := hex.DecodeString(f.Data)
		if err != nil {
			return fmt.Errorf("frame %s: data: %w", f.Name, err)
		}
		list = append(list, decoded{f.Name, [6]byte(a), d})
	}
	adv, err := hci.OpenAdvertiser(ctx, hci.AdvertiserConfig{Adapter: *adapter, Channel: ch, Interval: 20 * time.Millisecond, Extended: *extended, Logger: log})
	if err != nil {
		return err
	}
	defer adv.Close()
	deadline := time.Now().Add(*duration)
	turns := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, f := range list {
			if err := adv.Advertise(ctx, f.addr, f.data); err != nil {
				return fmt.Errorf("advertise %s: %w", f.name, err)
			}
			select {
			case <-time.After(*hold):
			case <-ctx.Done():
			}
		}
		turns++
	}
	log.Info("advertised", "frames", len(list), "turns", turns, "extended", *extended)
	return nil
}

// scan is the minimal harvester: live reports to the contact log through
// the same parsers the harvester uses. It exists so the hci layer can be
// checked on its own.
func scan(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("scan", flag.ExitOnError)
	adapter := fs.Int("hci", 1, "adapter index N of hciN")
	channel := channelFlag(fs)
	extended := fs.String("extended", "auto", "extended scanning: auto, off or on")
	dbPath := fs.String("db", "", "contact log database (SQLite); empty prints reports only")
	duration := fs.Duration("duration", 5*time.Second, "how long to scan")
	fs.Parse(args)
	ch, err := hci.ParseChannel(*channel)
	if err != nil {
		return err
	}
	ext, err := hci.ParseExtendedMode(*extended)
	if err != nil {
		return err
	}
	var db *devicedb.DB
	if *dbPath != "" {
		if db, err = devicedb.Open(*dbPath); err != nil {
			return err
		}
		defer db.Close()
	}
	live, err := hci.OpenLive(ctx, hci.LiveConfig{Adapter: *adapter, Channel: ch, Scan: hci.ScanConfig{Extended: ext}, Logger: log})
	if err != nil {
		return err
	}
	fmt.Println("VMCHECK-SCANNING")
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var batch []pact.Sighting
	err = live.Reports(ctx, func(r *hci.AdvReport) error {
		fmt.Printf("REPORT type=%d ext=%v addr=%X rssi=%d data=%X\n", r.Type, r.Extended, r.Addr, r.RSSI, r.Data)
		s := pact.Sighting{Minute: pact.MinuteOf(r.Time), RSSI: r.RSSI, TxPower: pact.TxPowerUnknown}
		if a, err := findmy.Parse(r.Addr, r.Data); err == nil && a.Form == findmy.FormFull {
			s.Chirp, s.Source = pact.Chirp(a.Key), pact.SourceFindMy
		} else if c, err := pact.ParseAdvert(r.Addr, r.Data); err == nil {
			s.Chirp, s.Source = c, pact.SourcePACT
		} else {
			return nil
		}
		batch = append(batch, s)
		return nil
	})
	state := live.State()
	closeErr := live.Close()
	log.Info("scan finished", "reports", state.Reports, "events", state.Events, "dropped", state.Dropped, "malformed", state.Malformed, "extended", state.Extended)
	if err := errors.Join(err, closeErr); err != nil {
		return err
	}
	if db != nil {
		return db.AddSightings(context.Background(), batch)
	}
	return nil
}

// serialScan scans an H4 controller on a tty and prints its reports, for
// the test to compare with what was advertised.
func serialScan(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("serial", flag.ExitOnError)
	path := fs.String("tty", "", "serial device of the H4 controller")
	baud := fs.Int("baud", 115200, "line rate")
	extended := fs.String("extended", "auto", "extended scanning: auto, off or on")
	duration := fs.Duration("duration", 5*time.Second, "how long to scan")
	fs.Parse(args)
	ext, err := hci.ParseExtendedMode(*extended)
	if err != nil {
		return err
	}
	src, err := hci.OpenSerialSource(ctx, hci.SerialConfig{Path: *path, Baud: *baud, Scan: hci.ScanConfig{Extended: ext}, Logger: log})
	if err != nil {
		return err
	}
	fmt.Println("VMCHECK-SCANNING")
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	err = src.Reports(ctx, func(r *hci.AdvReport) error {
		fmt.Printf("SERIAL-REPORT %X %X %d\n", r.Addr, r.Data, r.RSSI)
		return nil
	})
	st := src.Stats()
	log.Info("serial scan finished", "events", st.Events, "adv_events", st.AdvEvents, "extended", src.Extended())
	return errors.Join(err, src.Close())
}

// adapterState optionally powers an adapter up or down, then prints
// whether it is up, so the test can see the harvester put it back.
func adapterState(args []string) error {
	fs := flag.NewFlagSet("adapter", flag.ExitOnError)
	adapter := fs.Int("hci", 0, "adapter index N of hciN")
	up := fs.Bool("up", false, "power the adapter up first")
	down := fs.Bool("down", false, "power the adapter down first")
	tag := fs.String("tag", "", "label printed with the state")
	fs.Parse(args)
	switch {
	case *up:
		if err := hci.SetAdapterUp(*adapter); err != nil {
			return err
		}
	case *down:
		if err := hci.SetAdapterDown(*adapter); err != nil {
			return err
		}
	}
	info, err := hci.ReadAdapterInfo(*adapter)
	if err != nil {
		return err
	}
	fmt.Printf("VMTEST-ADAPTER %s hci%d up=%v\n", *tag, *adapter, info.Up)
	return nil
}

// capabilityNumbers are the capabilities asuser can grant
// (include/uapi/linux/capability.h).
var capabilityNumbers = map[string]uintptr{"net_admin": 12, "net_raw": 13}

// asUser runs a command as an unprivileged user holding only the given
// capabilities as ambient ones: what setcap or systemd's
// AmbientCapabilities give the harvester on a real host. Its exit status
// becomes ours.
func asUser(args []string) error {
	fs := flag.NewFlagSet("asuser", flag.ExitOnError)
	uid := fs.Int("uid", 1000, "user and group id to run as")
	caps := fs.String("caps", "net_admin,net_raw", "comma-separated capabilities to keep (empty: none)")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("asuser: no command")
	}
	var ambient []uintptr
	for _, name := range strings.Split(*caps, ",") {
		if name == "" {
			continue
		}
		n, ok := capabilityNumbers[name]
		if !ok {
			return fmt.Errorf("asuser: unknown capability %q", name)
		}
		ambient = append(ambient, n)
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: uint32(*uid), Gid: uint32(*uid)},
		AmbientCaps: ambient,
	}
	// Forward SIGINT/SIGTERM so the child stops as it would under systemd.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("asuser: %w", err)
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		os.Exit(exitErr.ExitCode())
	}
	return err
}

// openTagged reads the --db and --tag flags the dump commands share and
// opens the database.
func openTagged(name string, args []string) (*devicedb.DB, *string, error) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	dbPath := fs.String("db", "", "device database (SQLite)")
	tag := fs.String("tag", "", "label printed on every line")
	fs.Parse(args)
	db, err := devicedb.Open(*dbPath)
	return db, tag, err
}

func dump(ctx context.Context, args []string) error {
	db, tag, err := openTagged("dump", args)
	if err != nil {
		return err
	}
	defer db.Close()
	n := 0
	err = db.Sightings(ctx, 0, pact.Minute(math.MaxUint32), func(s pact.Sighting) error {
		n++
		fmt.Printf("CONTACT %s %s %s %d %d\n", *tag, s.Source, hex.EncodeToString(s.Chirp[:]), s.Minute, s.RSSI)
		return nil
	})
	fmt.Printf("CONTACTS %s %d\n", *tag, n)
	return err
}

// seeds prints a node's seed log and its shares with every entry they
// sent, so the test can recompute the node's chirps (pact.ChirpAt) and
// know which of them an upload covered:
//
//	SEED tag hour start seedhex
//	SHARE tag id status tuples redacted
//	SHARE-ENTRY tag id kind valuehex start end redacted seen_in
//
// seen_in is the batch an entry was found in after the upload ("-" for
// none yet).
func seeds(ctx context.Context, args []string) error {
	db, tag, err := openTagged("seeds", args)
	if err != nil {
		return err
	}
	defer db.Close()
	n := 0
	err = db.Seeds(ctx, 0, pact.Minute(math.MaxUint32), func(r pact.SeedRecord) error {
		n++
		fmt.Printf("SEED %s %d %d %s\n", *tag, r.Hour(), r.Start, hex.EncodeToString(r.Seed[:]))
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("SEEDS %s %d\n", *tag, n)
	shares, err := db.Shares(ctx, 100)
	if err != nil {
		return err
	}
	for _, s := range shares {
		fmt.Printf("SHARE %s %d %s %d %d\n", *tag, s.ID, s.Status, s.Tuples, s.Redacted)
		entries, err := db.ShareEntries(ctx, s.ID)
		if err != nil {
			return err
		}
		for _, e := range entries {
			seenIn := e.SeenIn
			if seenIn == "" {
				seenIn = "-"
			}
			fmt.Printf("SHARE-ENTRY %s %d %s %s %d %d %v %s\n", *tag, s.ID, e.Kind, hex.EncodeToString(e.Value), e.Start, e.End, e.Redacted, seenIn)
		}
	}
	return nil
}
