package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/chromedp/chromedp"
	"github.com/pact-findmy/pact-findmy/capture"
	"github.com/pact-findmy/pact-findmy/internal/browsertest"
	"github.com/pact-findmy/pact-findmy/internal/demo"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/exposuresync"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
	"github.com/pact-findmy/pact-findmy/internal/node"
	"github.com/pact-findmy/pact-findmy/internal/share"
	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/web"
)

// serverName is the exposure server's name in the node's configuration.
const serverName = "health-e2e"

// dashboardPages are the dashboard's pages, each with an element that
// shows the page has rendered.
var dashboardPages = []struct{ path, name, ready string }{
	{"/", "overview", "#status-title"},
	{"/exposures", "exposures", "main h1"},
	{"/contacts", "contacts", "main h1"},
	{"/harvester", "harvester", "#harvester-live"},
	{"/share", "share", "#permission_number"},
	{"/settings", "settings", "#min_rssi"},
}

// testNode is a real node beside a real exposure server, its dashboard
// served on a listener of its own.
type testNode struct {
	node     *node.Node
	exposure *demo.ExposureServer
	// url is the dashboard's base URL.
	url string
}

// dashboard says where and how the node's dashboard is served.
type dashboard struct {
	// listen is the address the listener binds.
	listen string
	// addr is the address as the owner gave it (--dashboard), which
	// decides whether a token is required; "" means the listener's.
	addr  string
	token string
}

// startNode opens a node in a fresh data directory, with a fresh exposure
// server as its one server (its batch key pinned), and serves the
// dashboard as d says until t ends.
func startNode(t *testing.T, d dashboard) *testNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	es, err := demo.StartExposureServer(ctx, filepath.Join(t.TempDir(), "server"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(ctx, node.Config{
		DataDir: filepath.Join(t.TempDir(), "node"), Region: demo.Region,
		Servers: []exposuresync.Server{es.Server(serverName)},
	})
	if err != nil {
		es.Close()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", d.listen)
	if err != nil {
		n.Close()
		es.Close()
		t.Fatal(err)
	}
	addr := d.addr
	if addr == "" {
		addr = ln.Addr().String()
	}
	served := make(chan error, 1)
	go func() { served <- n.ServeDashboard(ctx, ln, addr, d.token) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serving the dashboard: %v", err)
		}
		n.Close()
		es.Close()
	})
	return &testNode{node: n, exposure: es, url: "http://" + ln.Addr().String()}
}

// neighbour is a person near the node whose phone chirps PACT: its own
// device database and seed log.
type neighbour struct {
	db *devicedb.DB
	*demo.Neighbour
}

// hearNeighbour has the node hear a neighbour's phone at 1.5 m during 30
// minutes of the last hour, and a passer-by's phone for a few minutes,
// through the path a real capture takes: the advertising reports are
// written as a btsnoop capture and replayed through the node's listening
// pipeline into its contact log.
func hearNeighbour(t *testing.T, ctx context.Context, tn *testNode) *neighbour {
	t.Helper()
	dir := t.TempDir()
	db, err := devicedb.Open(filepath.Join(dir, "neighbour.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const span = 60
	start := time.Now().UTC().Truncate(time.Minute).Add(-span * time.Minute)
	clock, passerClock := &pact.ManualClock{}, &pact.ManualClock{}
	nb := &neighbour{db: db, Neighbour: &demo.Neighbour{
		Name: "neighbour", Clock: clock, Where: demo.Between(15, 45, 1.5),
		Seeds: pact.NewSeedLog(db, pact.SeedLogOptions{Clock: clock}),
	}}
	hood := &demo.Neighbourhood{
		Start: start, Minutes: span, ReportsPerMinute: 4, Radio: demo.IndoorRadio,
		Rand: mrand.New(mrand.NewPCG(8, 8)),
		Neighbours: []*demo.Neighbour{nb.Neighbour, {
			Name: "passer-by", Clock: passerClock, Where: demo.Between(5, 12, 6),
			Seeds: pact.NewSeedLog(pact.NewMemStore(), pact.SeedLogOptions{Clock: passerClock}),
		}},
	}
	path := filepath.Join(dir, "neighbourhood.btsnoop")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	w, err := capture.NewBtsnoopWriter(f, capture.BtsnoopH4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hood.Write(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	c, err := capture.OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := tn.node.Listen(ctx, ingest.CaptureSource(c), false); err != nil {
		t.Fatalf("replaying %s into the node: %v", path, err)
	}
	if len(nb.HeardChirps) < 20 {
		t.Fatalf("the node heard the neighbour in %d minutes; the capture should hold about 30", len(nb.HeardChirps))
	}
	return nb
}

// upload has the diagnosed neighbour share their seeds with the node's
// exposure server, through the share flow on their own device database
// and a permission number the server issued.
func (nb *neighbour) upload(t *testing.T, ctx context.Context, es *demo.ExposureServer) {
	t.Helper()
	clock := &pact.ManualClock{}
	clock.Set(time.Now())
	svc, err := share.New(share.Config{DB: nb.db, Servers: []share.Server{{Name: serverName, URL: es.URL}}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	number, err := es.IssueNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Submit(ctx, share.Request{PermissionNumber: number, Region: demo.Region})
	if err != nil {
		t.Fatalf("the neighbour's upload: %v", err)
	}
	if res.Status != devicedb.SharePending || len(res.Hours) == 0 {
		t.Fatalf("the neighbour's upload: status %q with %d seed-hours; want it stored with the hours of the capture", res.Status, len(res.Hours))
	}
}

// cutWhenClosed waits for the one-minute period the last upload fell in
// to close, then has the server cut it: the server cuts closed periods
// only. It waits at most a minute.
func cutWhenClosed(t *testing.T, ctx context.Context, es *demo.ExposureServer) {
	t.Helper()
	now := time.Now()
	closed := now.Truncate(time.Minute).Add(time.Minute + 200*time.Millisecond)
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(closed.Sub(now)):
	}
	if err := es.Cut(ctx); err != nil {
		t.Fatal(err)
	}
}

// getJSON reads one of the dashboard's API answers into v and returns the
// status code; token, when set, is sent as the bearer token.
func getJSON(ctx context.Context, url, token string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || v == nil {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp.StatusCode, nil
}

// loadPages loads every page of the dashboard in p and fails t on a page
// that does not render, scrolls sideways, or makes the browser report a
// console error, an exception or a CSP violation. With shots set, each
// page's screenshot is saved there as NAME-VIEWPORT.png.
func loadPages(t *testing.T, p *browsertest.Page, base, shots string) {
	t.Helper()
	for _, page := range dashboardPages {
		steps := []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(base + page.path),
			chromedp.WaitVisible(chromedp.CSS(page.ready)),
		}
		if shots != "" {
			steps = append(steps, p.Screenshot(filepath.Join(shots, "node-"+page.name+"-"+p.Viewport.Name+".png")))
		}
		if err := chromedp.Do(p.Ctx, steps...); err != nil {
			t.Fatalf("%s at %s: %v", page.path, p.Viewport.Name, err)
		}
		if overflow, err := p.OverflowsSideways(); err != nil {
			t.Fatal(err)
		} else if overflow {
			t.Errorf("%s overflows the %d px viewport sideways", page.path, p.Viewport.Width)
		}
		for _, problem := range p.Problems() {
			t.Errorf("%s at %s: browser reported %s", page.path, p.Viewport.Name, problem)
		}
	}
}

func randomToken(t *testing.T) string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// statusOf reads /api/v1/status.
func statusOf(t *testing.T, ctx context.Context, base, token string) web.Status {
	t.Helper()
	var st web.Status
	code, err := getJSON(ctx, base+"/api/v1/status", token, &st)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/status: %d, %v; want 200", code, err)
	}
	return st
}
