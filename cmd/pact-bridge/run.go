package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/exposuresync"
	"github.com/pact-findmy/pact-findmy/internal/node"
	"github.com/pact-findmy/pact-findmy/web"
)

const runSynopsis = `[flags]

Runs a PACT node: chirps a fresh chirp every minute from a seed drawn every
hour, listens on the same adapter for PACT chirps and Find My keys, syncs
exposure batches from the servers given with --server, matches them, and
serves the dashboard on --dashboard (loopback unless a token is given).

  --hci N       adapter hciN: chirps and scans at once (CAP_NET_ADMIN and
                CAP_NET_RAW, docs/deploy.md); "none" for no radio
  --serial PATH an HCI UART controller to listen through (no chirping)
  --server SPEC URL,key=BASE64[,regions=CH+DE][,name=NAME], repeatable:
                an exposure server and its pinned Ed25519 batch key`

// serverFlags collects repeated --server values.
type serverFlags []exposuresync.Server

func (s *serverFlags) String() string { return fmt.Sprint(len(*s)) }
func (s *serverFlags) Set(v string) error {
	srv, err := node.ParseServer(v)
	if err != nil {
		return err
	}
	*s = append(*s, srv)
	return nil
}

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pact-bridge run", runSynopsis, stdout, stderr)
	var lf cli.LogFlags
	lf.Register(fs.FlagSet)
	var servers serverFlags
	fs.Var(&servers, "server", "exposure server: URL,key=BASE64[,regions=CH+DE][,name=NAME] (repeatable)")
	data := fs.String("data", "pact-data", "data directory: the device database")
	adapter := fs.String("hci", "0", `adapter number N of hciN, or "none" for no radio`)
	channel := fs.String("channel", "auto", "with --hci: HCI channel user (exclusive), raw (shared with the kernel) or auto")
	extended := fs.String("extended", "auto", "extended scanning: auto, on or off")
	serial := fs.String("serial", "", "tty of an H4 controller to listen through instead of --hci")
	baud := fs.Int("baud", 115200, "with --serial: line rate")
	flow := fs.Bool("flow-control", false, "with --serial: RTS/CTS flow control")
	advInterval := fs.Duration("adv-interval", node.DefaultAdvertisingInterval, "advertising interval; with --frame 2 within 200ms-270ms (docs/native-frame.md §7.6.6)")
	frame := fs.Int("frame", node.FrameV2, "native frame version to chirp: 2 (extended advertising, needs a Bluetooth 5 controller) or 1 (legacy PDUs, for legacy-only controllers; docs/native-frame.md)")
	antennaGain := fs.String("antenna-gain", "", "the adapter antenna's gain in dBi, which makes the radiated TX power known to receivers (version-2 frames); empty: unknown")
	region := fs.String("region", "", "region a share is published in, e.g. CH")
	proxy := fs.String("proxy", "", "socks5://HOST:PORT every connection to a server goes through (Tor: socks5://127.0.0.1:9050)")
	syncEvery := fs.Duration("sync-every", node.DefaultSyncEvery, "how often to fetch new exposure batches")
	onExposure := fs.String("on-exposure", "", "shell command run with a JSON summary on stdin when a new exposure is found")
	dashboard := fs.String("dashboard", web.DefaultAddr, `dashboard address; "none" to serve none`)
	tokenFile := fs.String("token-file", "", "file holding the dashboard token, required off loopback (or $PACT_DASHBOARD_TOKEN)")
	tlsCert := fs.String("tls-cert", "", "dashboard TLS certificate (PEM), required off loopback so that the token never crosses the network in clear")
	tlsKey := fs.String("tls-key", "", "dashboard TLS private key (PEM), with --tls-cert")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	radio := node.Radio{Adapter: -1, Serial: *serial, Baud: *baud, FlowControl: *flow, AdvertisingInterval: *advInterval, Frame: *frame}
	var err error
	switch *frame {
	case node.FrameV2:
		if *advInterval < node.MinAdvertisingInterval || *advInterval > node.MaxAdvertisingInterval {
			return cli.FlagErrorf("adv-interval", *advInterval, "with --frame 2 want %v to %v", node.MinAdvertisingInterval, node.MaxAdvertisingInterval)
		}
	case node.FrameV1:
		if *advInterval <= 0 {
			return cli.FlagErrorf("adv-interval", *advInterval, "want a positive interval")
		}
	default:
		return cli.FlagErrorf("frame", *frame, "want 1 or 2")
	}
	if *antennaGain != "" {
		g, err := strconv.Atoi(*antennaGain)
		if err != nil || g < -30 || g > 30 {
			return cli.FlagErrorf("antenna-gain", *antennaGain, "want whole dBi in -30..30")
		}
		radio.AntennaGain = &g
	}
	switch {
	case *serial != "" && set["hci"] && *adapter != "none":
		return cli.Usagef("--hci and --serial are mutually exclusive")
	case *serial != "":
	case *adapter == "none":
	default:
		if radio.Adapter, err = strconv.Atoi(*adapter); err != nil || radio.Adapter < 0 {
			return cli.FlagErrorf("hci", *adapter, `want an adapter number or "none"`)
		}
	}
	if radio.Channel, err = hci.ParseChannel(*channel); err != nil {
		return cli.FlagErrorf("channel", *channel, "%w", err)
	}
	if radio.Scan.Extended, err = hci.ParseExtendedMode(*extended); err != nil {
		return cli.FlagErrorf("extended", *extended, "%w", err)
	}
	if *syncEvery < 10*time.Second {
		return cli.FlagErrorf("sync-every", *syncEvery, "want at least 10s")
	}
	token, err := dashboardToken(*tokenFile)
	if err != nil {
		return err
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return cli.Usagef("--tls-cert and --tls-key go together")
	}
	if *dashboard != "none" && !web.IsLoopbackAddr(*dashboard) {
		switch {
		case token == "":
			return cli.FlagErrorf("dashboard", *dashboard, "off loopback the dashboard needs a token (--token-file or $PACT_DASHBOARD_TOKEN)")
		case *tlsCert == "":
			return cli.FlagErrorf("dashboard", *dashboard, "off loopback the dashboard needs --tls-cert and --tls-key: the token and session cookie must not cross the network in clear")
		}
	}
	log := lf.Logger(stderr)
	n, err := node.Open(ctx, node.Config{
		DataDir: *data, Servers: servers, Region: *region, Proxy: *proxy,
		SyncEvery: *syncEvery, OnExposure: *onExposure, Logger: log,
	})
	if err != nil {
		if errors.Is(err, node.ErrConfig) {
			return fmt.Errorf("%w: %w", cli.ErrUsage, err)
		}
		return err
	}
	defer n.Close()
	return runParts(ctx, log, n, radio, dashboardConfig{addr: *dashboard, token: token, cert: *tlsCert, key: *tlsKey}, stdout)
}

// dashboardToken reads the token from a file (0600, as secrets are kept)
// or the environment; empty when neither is set.
func dashboardToken(path string) (string, error) {
	if path == "" {
		return os.Getenv("PACT_DASHBOARD_TOKEN"), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", cli.FlagErrorf("token-file", path, "%w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", cli.FlagErrorf("token-file", path, "the file is empty")
	}
	return token, nil
}

// dashboardConfig is where and how the dashboard is served.
type dashboardConfig struct{ addr, token, cert, key string }

// runParts runs the radio, the sync and retention loops and the dashboard
// until ctx is done or the radio or dashboard fails.
func runParts(ctx context.Context, log *slog.Logger, n *node.Node, radio node.Radio, dash dashboardConfig, stdout io.Writer) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	if dash.addr != "none" {
		ln, err := net.Listen("tcp", dash.addr)
		if err != nil {
			return fmt.Errorf("dashboard: %w", err)
		}
		scheme := "http"
		if dash.cert != "" {
			scheme = "https"
		}
		fmt.Fprintf(stdout, "dashboard: %s://%s/\n", scheme, ln.Addr())
		wg.Go(func() {
			if err := n.ServeDashboardTLS(ctx, ln, dash.addr, dash.token, dash.cert, dash.key); err != nil {
				cancel(fmt.Errorf("dashboard: %w", err))
			}
		})
	}
	wg.Go(func() { n.RunLoops(ctx) })
	wg.Go(func() {
		if err := n.RunRadio(ctx, radio); err != nil && ctx.Err() == nil {
			cancel(fmt.Errorf("radio: %w", err))
		}
	})
	<-ctx.Done()
	cancel(nil)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}
