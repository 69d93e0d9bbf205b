package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pact-findmy/pact-findmy/capture"
	"github.com/pact-findmy/pact-findmy/internal/browsertest"
	"github.com/pact-findmy/pact-findmy/internal/demo"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/exposuresync"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
	"github.com/pact-findmy/pact-findmy/internal/node"
	"github.com/pact-findmy/pact-findmy/internal/server"
	"github.com/pact-findmy/pact-findmy/internal/share"
	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/web"
)

// TestReverseTracingEndToEnd runs spec §9.2 across real components: a
// diagnosed node ("source-seeker") shares through its dashboard backend
// with reverse-tracing consent, another diagnosed neighbour shares
// without, both through a real exposure server, and a third node that
// heard both syncs the batch. It must show the first neighbour's minutes
// as "possible source", apart, and the second's as an ordinary exposure,
// in the JSON API, in its exposure notice and in the dashboard (headless
// Chromium); unflagged entries give no reverse-tracing result.
func TestReverseTracingEndToEnd(t *testing.T) {
	browsertest.Require(t)
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	serverDir := t.TempDir()
	es, err := demo.StartExposureServer(ctx, serverDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { es.Close() })
	// What the seeker's node sends, as the server receives it.
	var uploads struct {
		sync.Mutex
		reverse [][2]uint32
	}
	es.Observe(func(r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != server.PathUploads {
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var u struct {
			Reverse *struct{ From, To uint32 } `json:"reverse_tracing"`
		}
		if json.Unmarshal(body, &u) == nil && u.Reverse != nil {
			uploads.Lock()
			uploads.reverse = append(uploads.reverse, [2]uint32{u.Reverse.From, u.Reverse.To})
			uploads.Unlock()
		}
	})

	// The two neighbours, each with a device database of its own; the
	// seeker's is a node's data directory.
	seekerDir := t.TempDir()
	seekerDB, err := devicedb.Open(filepath.Join(seekerDir, node.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	otherDB, err := devicedb.Open(filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { otherDB.Close() })
	const span = 60
	start := time.Now().UTC().Truncate(time.Minute).Add(-span * time.Minute)
	seekerClock, otherClock := &pact.ManualClock{}, &pact.ManualClock{}
	seeker := &demo.Neighbour{Name: "source-seeker", Clock: seekerClock, Where: demo.Between(30, 50, 2),
		Seeds: pact.NewSeedLog(seekerDB, pact.SeedLogOptions{Clock: seekerClock})}
	other := &demo.Neighbour{Name: "other", Clock: otherClock, Where: demo.Between(5, 25, 1.5),
		Seeds: pact.NewSeedLog(otherDB, pact.SeedLogOptions{Clock: otherClock})}

	// The node that hears them, following the exposure server, which
	// marks the flagged entries itself (docs/api.md), and telling its
	// owner through a hook.
	noticeFile := filepath.Join(t.TempDir(), "notice.json")
	listener, err := node.Open(ctx, node.Config{
		DataDir: filepath.Join(t.TempDir(), "node"), Region: demo.Region,
		Servers:    []exposuresync.Server{{Name: serverName, URL: es.URL, Key: es.Server(serverName).Key}},
		OnExposure: "cat > " + noticeFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	dashboardURL := serveDashboard(t, ctx, listener)
	hearNeighbours(t, ctx, listener, &demo.Neighbourhood{
		Start: start, Minutes: span, ReportsPerMinute: 4, Radio: demo.IndoorRadio,
		Rand: mrand.New(mrand.NewPCG(9, 2)), Neighbours: []*demo.Neighbour{seeker, other},
	})
	if len(seeker.HeardChirps) < 10 || len(other.HeardChirps) < 10 {
		t.Fatalf("the node heard the seeker in %d minutes and the other in %d; the capture should hold about 20 each", len(seeker.HeardChirps), len(other.HeardChirps))
	}
	if err := seekerDB.Close(); err != nil {
		t.Fatal(err)
	}

	// The seeker shares through its node's dashboard backend, consenting
	// to reverse tracing for yesterday and today, as the share form sends
	// two whole days.
	seekerNode, err := node.Open(ctx, node.Config{DataDir: seekerDir, Region: demo.Region, Servers: []exposuresync.Server{es.Server(serverName)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seekerNode.Close() })
	today := time.Now().UTC().Truncate(24 * time.Hour)
	number, err := es.IssueNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := web.ShareRequest{PermissionNumber: number, ReverseTracing: true,
		ReverseFrom: today.AddDate(0, 0, -1), ReverseTo: today.Add(24*time.Hour - time.Minute)}
	preview, err := seekerNode.SharePreview(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	res, err := seekerNode.ShareSubmit(ctx, req)
	if err != nil || !res.Accepted {
		t.Fatalf("the seeker's share: %+v, %v; want it accepted", res, err)
	}
	// The consent reached the upload: clipped to the shared window, whose
	// end is the moment of the share, and as the preview showed it.
	uploads.Lock()
	sent := uploads.reverse
	uploads.Unlock()
	if len(sent) != 1 || pact.Minute(sent[0][0]) != pact.MinuteOf(req.ReverseFrom) || pact.Minute(sent[0][0]) != pact.MinuteOf(preview.ReverseFrom) ||
		pact.Minute(sent[0][1]) > pact.MinuteOf(time.Now()) || pact.Minute(sent[0][1]) < pact.MinuteOf(began) {
		t.Fatalf("reverse_tracing ranges the server received: %v; want one, from %v to the share's minute (preview %v..%v)",
			sent, pact.MinuteOf(req.ReverseFrom), preview.ReverseFrom, preview.ReverseTo)
	}
	shares, err := seekerNode.DB().Shares(ctx, 10)
	if err != nil || len(shares) != 1 || !shares[0].Reverse || shares[0].ReverseFrom != pact.Minute(sent[0][0]) || shares[0].ReverseTo != pact.Minute(sent[0][1]) {
		t.Fatalf("the seeker's recorded shares: %+v, %v; want one with the range sent", shares, err)
	}

	// The other neighbour shares without consent.
	otherShare, err := share.New(share.Config{DB: otherDB, Servers: []share.Server{{Name: serverName, URL: es.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	number, err = es.IssueNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := otherShare.Submit(ctx, share.Request{PermissionNumber: number, Region: demo.Region}); err != nil || r.Status != devicedb.SharePending {
		t.Fatalf("the other neighbour's share: %+v, %v", r, err)
	}

	cutWhenClosed(t, ctx, es)
	rep, err := listener.SyncNow(ctx)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	// The two uploads may fall in two one-minute periods: one batch each.
	var reverseMatches, matches int
	for _, a := range rep.Applied {
		reverseMatches, matches = reverseMatches+a.ReverseMatches, matches+a.Matches
	}
	if reverseMatches != len(seeker.HeardChirps) || matches != len(other.HeardChirps) {
		t.Fatalf("the sync applied %+v; want %d reverse-tracing and %d ordinary matches", rep.Applied, len(seeker.HeardChirps), len(other.HeardChirps))
	}

	// The JSON API: the seeker's minutes under possible_source only, the
	// other's under days only.
	var ex web.Exposures
	if code, err := getJSON(ctx, dashboardURL+"/api/v1/exposures", "", &ex); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/exposures: %d, %v", code, err)
	}
	minutes := func(ds []web.DaySummary, reverse bool) int {
		n := 0
		for _, d := range ds {
			if d.ReverseTracing != reverse {
				t.Errorf("%s %s: reverse_tracing %t in the wrong list", d.Day.Format(time.DateOnly), d.Source, d.ReverseTracing)
			}
			if d.Source == web.SourcePACT {
				n += d.MatchedMinutes
			}
		}
		return n
	}
	if got := minutes(ex.PossibleSource, true); got != len(seeker.HeardChirps) {
		t.Errorf("possible_source: %d PACT minutes; the node heard the seeker in %d", got, len(seeker.HeardChirps))
	}
	if got := minutes(ex.Days, false); got != len(other.HeardChirps) {
		t.Errorf("days: %d PACT minutes; the node heard the other neighbour in %d", got, len(other.HeardChirps))
	}
	var st struct {
		web.Status
		Advice string `json:"possible_source_advice"`
	}
	if code, err := getJSON(ctx, dashboardURL+"/api/v1/status", "", &st); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/status: %d, %v", code, err)
	}
	if !st.Exposed || len(st.PossibleSource) == 0 || st.Advice != web.PossibleSourceTitle {
		t.Errorf("status: exposed %t, %d possible-source days, advice %q", st.Exposed, len(st.PossibleSource), st.Advice)
	}
	// Each kind of match holds the seeds of its neighbour alone.
	checkSeeds(t, ctx, listener.DB().Contacts, otherDB, "ordinary")
	reopened, err := devicedb.Open(filepath.Join(seekerDir, node.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	checkSeeds(t, ctx, listener.DB().ReverseContacts, reopened, "reverse-tracing")

	// The notice: the exposure and the possible source apart.
	var notice node.ExposureNotice
	if b, err := os.ReadFile(noticeFile); err != nil {
		t.Fatalf("the exposure hook did not run: %v", err)
	} else if err := json.Unmarshal(b, &notice); err != nil {
		t.Fatal(err)
	}
	if !notice.Exposed || !notice.PossibleSource || len(notice.Days) == 0 || len(notice.PossibleSourceDays) == 0 || notice.Advice != web.PossibleSourceTitle {
		t.Errorf("notice %+v: want the exposure and the possible source, each in its own list", notice)
	}

	// The dashboard: the overview's block and the exposures page's, with
	// the words of spec §9.2.
	alloc := browsertest.NewAllocator(t)
	shots := browsertest.ScreenshotDir(t, docsScreenshots)
	for _, vp := range browsertest.Viewports {
		p := browsertest.NewPage(t, alloc, vp, time.Minute)
		var overviewAdvice, exposuresBlock string
		if err := chromedp.Do(p.Ctx,
			chromedp.Navigate(dashboardURL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#possible-title")),
		); err != nil {
			t.Fatal(err)
		}
		overviewAdvice, err = chromedp.Run(p.Ctx, chromedp.Text(chromedp.CSS("#possible-title")))
		if err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(p.Ctx,
			chromedp.Navigate(dashboardURL+"/exposures#possible-source"),
			chromedp.WaitVisible(chromedp.CSS("#possible-source")),
			p.Screenshot(filepath.Join(shots, "node-possible-source-"+vp.Name+".png")),
		); err != nil {
			t.Fatal(err)
		}
		exposuresBlock, err = chromedp.Run(p.Ctx, chromedp.Text(chromedp.CSS("#possible-source")))
		if err != nil {
			t.Fatal(err)
		}
		if overviewAdvice != web.PossibleSourceTitle || !strings.Contains(exposuresBlock, web.PossibleSourceTitle) {
			t.Errorf("%s: the overview's block says %q and the exposures page's %q; want %q", vp.Name, overviewAdvice, exposuresBlock, web.PossibleSourceTitle)
		}
		if overflow, err := p.OverflowsSideways(); err != nil {
			t.Fatal(err)
		} else if overflow {
			t.Errorf("/exposures overflows the %d px viewport sideways", vp.Width)
		}
		for _, problem := range p.Problems() {
			t.Errorf("%s: browser reported %s", vp.Name, problem)
		}
	}
	t.Logf("took %.1f s", time.Since(began).Seconds())
}

// checkSeeds fails t unless every match read holds a seed of owner's seed
// log.
func checkSeeds(t *testing.T, ctx context.Context, read func(context.Context, pact.Minute, pact.Minute, func(pact.Contact) error) error, owner *devicedb.DB, kind string) {
	t.Helper()
	own := map[pact.Seed]bool{}
	if err := owner.Seeds(ctx, 0, ^pact.Minute(0), func(r pact.SeedRecord) error { own[r.Seed] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := read(ctx, 0, ^pact.Minute(0), func(c pact.Contact) error {
		n++
		if !own[c.Seed] {
			t.Errorf("%s match at %v holds seed %v, not one of its neighbour's", kind, c.Heard, c.Seed)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("no %s match stored", kind)
	}
}

// serveDashboard serves n's dashboard on a loopback port until t ends and
// returns its base URL.
func serveDashboard(t *testing.T, ctx context.Context, n *node.Node) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- n.ServeDashboard(ctx, ln, ln.Addr().String(), "") }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serving the dashboard: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// hearNeighbours writes hood as a btsnoop capture and replays it through
// n's listening pipeline into its contact log, the path a real capture
// takes.
func hearNeighbours(t *testing.T, ctx context.Context, n *node.Node, hood *demo.Neighbourhood) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "neighbourhood.btsnoop")
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
	if err := n.Listen(ctx, ingest.CaptureSource(c), false); err != nil {
		t.Fatalf("replaying %s into the node: %v", path, err)
	}
}
