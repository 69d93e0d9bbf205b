package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/internal/browsertest"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/web"
)

// docsScreenshots is where the screenshots of the pages are kept for the
// docs; browsertest.ScreenshotDir says whether a run writes there.
var docsScreenshots = filepath.Join("..", "..", "docs", "screenshots")

// TestBrowserSeesExposureAfterSync loads every page of a node that heard
// a neighbour, sees the overview say it is not exposed, has the neighbour
// upload, cuts the batch, syncs the node, and sees the overview and
// /api/v1/status say exposed. Then every page loads clean at desktop and
// phone widths, and their screenshots are saved for the README.
func TestBrowserSeesExposureAfterSync(t *testing.T) {
	browsertest.Require(t)
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tn := startNode(t, dashboard{listen: "127.0.0.1:0"})
	nb := hearNeighbour(t, ctx, tn)
	alloc := browsertest.NewAllocator(t)
	p := browsertest.NewPage(t, alloc, browsertest.Desktop, 3*time.Minute)

	overviewTitle := func() string {
		t.Helper()
		title, err := chromedp.Run(p.Ctx, chromedp.Text(chromedp.CSS("#status-title")))
		if err != nil {
			t.Fatal(err)
		}
		return title
	}
	loadPages(t, p, tn.url, "")
	if err := chromedp.Do(p.Ctx, chromedp.Navigate(tn.url+"/"), chromedp.WaitVisible(chromedp.CSS("#status-title"))); err != nil {
		t.Fatal(err)
	}
	if title := overviewTitle(); !strings.HasPrefix(title, "No exposure found") {
		t.Fatalf("before any upload the overview says %q; want that no exposure was found", title)
	}
	if st := statusOf(t, ctx, tn.url, ""); st.Exposed {
		t.Fatal("before any upload /api/v1/status says exposed")
	}

	nb.upload(t, ctx, tn.exposure)
	cutWhenClosed(t, ctx, tn.exposure)
	rep, err := tn.node.SyncNow(ctx)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if len(rep.Applied) == 0 {
		t.Fatalf("the sync applied no batch: %+v", rep)
	}

	if err := chromedp.Do(p.Ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#status-title"))); err != nil {
		t.Fatal(err)
	}
	title := overviewTitle()
	if !strings.HasPrefix(title, "Exposed on ") {
		t.Errorf("after the sync the overview says %q; want it to say exposed, in words", title)
	}
	exposedBox, err := chromedp.Run(p.Ctx, chromedp.Evaluate[bool](`document.querySelector('section.status').classList.contains('status-exposed')`))
	if err != nil {
		t.Fatal(err)
	}
	if !exposedBox {
		t.Error("after the sync the overview's status box is not marked exposed")
	}
	st := statusOf(t, ctx, tn.url, "")
	if !st.Exposed {
		t.Fatal("after the sync /api/v1/status says exposed: false")
	}
	// The PACT minutes matched are exactly the minutes the node heard
	// the neighbour.
	matched := 0
	for _, d := range st.Days {
		if d.Source == web.SourcePACT {
			matched += d.MatchedMinutes
		}
	}
	if matched != len(nb.HeardChirps) {
		t.Errorf("status: %d matched PACT minutes; the node heard the neighbour in %d", matched, len(nb.HeardChirps))
	}
	t.Logf("exposed after the sync: %q (%.1f s since start)", title, time.Since(began).Seconds())

	for _, vp := range browsertest.Viewports {
		t.Run(vp.Name, func(t *testing.T) {
			loadPages(t, browsertest.NewPage(t, alloc, vp, time.Minute), tn.url, browsertest.ScreenshotDir(t, docsScreenshots))
		})
	}
	t.Logf("took %.1f s", time.Since(began).Seconds())
}

// TestBrowserShareRedactsOneHour runs the diagnosed flow in the browser
// on a node whose seed log covers four past hours: permission number,
// preview, one hour ticked to be left out, confirm. The batch the server
// then publishes, fetched against its pinned key, holds the node's own
// seed for every hour but that one, whose seed is a fresh one (the one the
// node recorded as its replacement; spec §6.4).
func TestBrowserShareRedactsOneHour(t *testing.T) {
	browsertest.Require(t)
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tn := startNode(t, dashboard{listen: "127.0.0.1:0"})

	// The node chirped in each of the last four hours, from the first
	// minute of the hour: four seeds in its seed log.
	clock := &pact.ManualClock{}
	seeds := pact.NewSeedLog(tn.node.DB(), pact.SeedLogOptions{Clock: clock})
	firstHour := time.Now().UTC().Truncate(time.Hour).Add(-4 * time.Hour)
	for h := range 4 {
		clock.Set(firstHour.Add(time.Duration(h) * time.Hour))
		if _, _, _, err := seeds.ChirpNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	own := map[pact.Minute]pact.Seed{}
	if err := tn.node.DB().Seeds(ctx, 0, pact.MinuteOf(time.Now()), func(r pact.SeedRecord) error {
		own[r.Hour()] = r.Seed
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(own) != 4 {
		t.Fatalf("the node's seed log holds %d hours, want 4", len(own))
	}
	excluded := pact.MinuteOf(firstHour.Add(time.Hour))

	number, err := tn.exposure.IssueNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alloc := browsertest.NewAllocator(t)
	p := browsertest.NewPage(t, alloc, browsertest.Desktop, 3*time.Minute)
	hourBox := fmt.Sprintf(`input[name="exclude"][value="%d"]`, excluded.Time().Unix())
	if err := chromedp.Do(p.Ctx,
		chromedp.Navigate(tn.url+"/share"),
		chromedp.SendKeys(chromedp.CSS("#permission_number"), number),
		chromedp.Click(chromedp.CSS(`button[value="preview"]`)),
		chromedp.WaitVisible(chromedp.CSS(".hours")),
	); err != nil {
		t.Fatal(err)
	}
	boxes, err := chromedp.Run(p.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[name="exclude"]').length`))
	if err != nil {
		t.Fatal(err)
	}
	if boxes != 4 {
		t.Fatalf("the preview shows %d hours to choose from, want the 4 with a seed", boxes)
	}
	if err := chromedp.Do(p.Ctx,
		chromedp.Click(chromedp.CSS(hourBox)),
		p.Screenshot(filepath.Join(browsertest.ScreenshotDir(t, docsScreenshots), "node-share-preview-desktop.png")),
		chromedp.Click(chromedp.CSS(`button[value="confirm"]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice.ok")),
	); err != nil {
		t.Fatal(err)
	}
	answer, err := chromedp.Run(p.Ctx, chromedp.Text(chromedp.CSS(".notice.ok")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "4 seed-hours") {
		t.Errorf("the share page answered %q; want 4 seed-hours uploaded", answer)
	}
	for _, problem := range p.Problems() {
		t.Errorf("browser reported %s", problem)
	}

	// The replacement the node recorded for the hour left out.
	redacted, err := tn.node.DB().RedactedShareEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(redacted) != 1 || redacted[0].Kind != devicedb.ShareEntrySeed || redacted[0].Start.HourStart() != excluded {
		t.Fatalf("the node recorded redacted entries %+v; want one seed for hour %v", redacted, excluded)
	}

	cutWhenClosed(t, ctx, tn.exposure)
	client, err := exposureclient.New(tn.exposure.URL, tn.exposure.Server(serverName).Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The batch is padded with chaff (docs/api.md, "Holding and chaff"):
	// the node's upload is the tuples with its own seeds or the
	// replacement it recorded.
	var published []pact.Tuple
	if err := client.Sync(ctx, nil, func(b *exposureclient.Batch) error {
		for _, tu := range b.Tuples {
			if slices.Contains(slices.Collect(maps.Values(own)), tu.Seed) || bytes.Equal(tu.Seed[:], redacted[0].Value) {
				published = append(published, tu)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("fetching the batches: %v", err)
	}
	if len(published) != 4 {
		t.Fatalf("the server published %d tuples, want the 4 hours shared", len(published))
	}
	slices.SortFunc(published, func(a, b pact.Tuple) int { return int(a.Start - b.Start) })
	for _, tu := range published {
		hour := tu.Start.HourStart()
		mine, ok := own[hour]
		switch {
		case !ok:
			t.Errorf("published a tuple for hour %v, in which the node has no seed", hour)
		case hour == excluded && tu.Seed == mine:
			t.Errorf("hour %v was left out, yet the node's own seed was published", hour)
		case hour == excluded && !bytes.Equal(tu.Seed[:], redacted[0].Value):
			t.Errorf("hour %v: published seed %v is not the replacement the node recorded", hour, tu.Seed)
		case hour == excluded && slices.Contains(slices.Collect(maps.Values(own)), tu.Seed):
			t.Errorf("hour %v: its replacement is the seed of another hour", hour)
		case hour != excluded && tu.Seed != mine:
			t.Errorf("hour %v: published seed %v, want the node's own %v", hour, tu.Seed, mine)
		}
	}
	// The node, syncing, finds its upload, redacted hour included, in the
	// signed batch (issue 8, "Verified upload").
	if _, err := tn.node.SyncNow(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	shares, err := tn.node.DB().Shares(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(shares) != 1 || shares[0].Status != devicedb.ShareConfirmed || shares[0].Redacted != 1 {
		t.Errorf("the node's shares after the sync: %+v; want one, confirmed, with one hour redacted", shares)
	}
	t.Logf("took %.1f s", time.Since(began).Seconds())
}

// nonLoopbackIP returns an address of one of this machine's interfaces
// that is not loopback (nor link-local, which needs a zone), or nil.
func nonLoopbackIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() || ipn.IP.To4() == nil {
			continue
		}
		return ipn.IP
	}
	return nil
}

// TestBrowserTokenOffLoopback serves the dashboard off loopback with a
// token: without it, a page sends the browser to the login form and the
// API answers 401; with it (the login form in the browser, the bearer
// token for the API) every page loads.
func TestBrowserTokenOffLoopback(t *testing.T) {
	browsertest.Require(t)
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The dashboard is served on this machine's own non-loopback address,
	// as `--dashboard 192.0.2.2:8080` would: the browser reaches it the
	// way another host of the network would. A machine with loopback only
	// (a bare container) listens on loopback but gives the node the
	// wildcard address, as `--dashboard 0.0.0.0:PORT` would: the address
	// the owner gave, not the listener, decides the token policy
	// (web.Config.Addr), so the same checks apply.
	d := dashboard{listen: "127.0.0.1:0", addr: "0.0.0.0:8080", token: randomToken(t)}
	if ip := nonLoopbackIP(); ip != nil {
		d = dashboard{listen: net.JoinHostPort(ip.String(), "0"), token: d.token}
	}
	t.Logf("dashboard listens on %s, configured address %q", d.listen, d.addr)
	tn := startNode(t, d)

	// Without the token: a page redirects to the login form, the API is
	// refused.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, page := range dashboardPages {
		resp, err := noRedirect.Get(tn.url + page.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("GET %s without the token: %d to %q; want 303 to the login form", page.path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, api := range []string{"/api/v1/status", "/api/v1/exposures", "/api/v1/contacts", "/api/v1/harvester", "/api/v1/settings"} {
		for _, token := range []string{"", "not-" + d.token} {
			code, err := getJSON(ctx, tn.url+api, token, nil)
			if err != nil {
				t.Fatal(err)
			}
			if code != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q: %d, want 401", api, token, code)
			}
		}
		if code, err := getJSON(ctx, tn.url+api, d.token, nil); err != nil || code != http.StatusOK {
			t.Errorf("GET %s with the bearer token: %d, %v; want 200", api, code, err)
		}
	}

	alloc := browsertest.NewAllocator(t)
	p := browsertest.NewPage(t, alloc, browsertest.Desktop, time.Minute)
	if err := chromedp.Do(p.Ctx, chromedp.Navigate(tn.url+"/exposures"), chromedp.WaitVisible(chromedp.CSS("#token"))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(p.Ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if want := tn.url + "/login?next=" + url.QueryEscape("/exposures"); loc != want {
		t.Errorf("the browser without the token is at %s, want %s", loc, want)
	}
	// A wrong token is refused on the form (401), then the right one
	// leads to the page asked for.
	if err := chromedp.Do(p.Ctx,
		chromedp.SendKeys(chromedp.CSS("#token"), "not-"+d.token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#token-error")),
	); err != nil {
		t.Fatal(err)
	}
	for _, problem := range p.Problems() {
		if problem != browsertest.FailedLoad(http.StatusUnauthorized, "Unauthorized", tn.url+"/login") {
			t.Errorf("browser reported %s", problem)
		}
	}
	// The login form has a main h1 too: wait for the form to go first, or
	// a loaded machine finds the heading before the browser navigates.
	if err := chromedp.Do(p.Ctx,
		chromedp.SendKeys(chromedp.CSS("#token"), d.token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitNotPresent(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	); err != nil {
		t.Fatal(err)
	}
	if loc, err = chromedp.Run(p.Ctx, chromedp.Location()); err != nil {
		t.Fatal(err)
	} else if loc != tn.url+"/exposures" {
		t.Errorf("after logging in the browser is at %s, want the page it asked for", loc)
	}
	loadPages(t, p, tn.url, "")
	t.Logf("took %.1f s", time.Since(began).Seconds())
}
