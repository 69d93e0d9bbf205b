package web

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pact-findmy/pact-findmy/internal/browsertest"
)

// docsScreenshots is where the screenshots of the pages are kept for the
// docs; browsertest.ScreenshotDir says whether a run writes there.
var docsScreenshots = filepath.Join("..", "docs", "screenshots")

// TestBrowser loads every page in headless Chromium at desktop and phone
// widths, fails on any console error, uncaught exception or CSP
// violation, and saves a screenshot of each.
func TestBrowser(t *testing.T) {
	browsertest.Require(t)
	be := newTestBackend()
	h, err := New(Config{Backend: be, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	screenshotDir := browsertest.ScreenshotDir(t, docsScreenshots)
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	allocCtx := browsertest.NewAllocator(t)

	for _, vp := range browsertest.Viewports {
		t.Run(vp.Name, func(t *testing.T) {
			p := browsertest.NewPage(t, allocCtx, vp, 90*time.Second)
			ctx := p.Ctx
			shot := func(name string) chromedp.Action[chromedp.Void] {
				return p.Screenshot(filepath.Join(screenshotDir, name+"-"+vp.Name+".png"))
			}
			for _, page := range []struct{ path, name, ready string }{
				{"/", "overview", "#status-title"},
				{"/exposures", "exposures", "#tl-0"},
				{"/contacts", "contacts", "#hours"},
				{"/harvester", "harvester", "#harvester-live"},
				{"/share", "share", "#permission_number"},
				{"/settings", "settings", "#min_rssi"},
			} {
				if err := chromedp.Do(ctx,
					chromedp.Navigate(srv.URL+page.path),
					chromedp.WaitVisible(chromedp.CSS(page.ready)),
					shot(page.name),
				); err != nil {
					t.Fatalf("%s: %v", page.path, err)
				}
				overflow, err := p.OverflowsSideways()
				if err != nil {
					t.Fatal(err)
				}
				if overflow {
					t.Errorf("%s overflows the %d px viewport sideways", page.path, vp.Width)
				}
			}
			// The harvester page refreshes itself from the API.
			be.mu.Lock()
			be.harvester.MalformedFrames = 18
			be.mu.Unlock()
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/harvester"), chromedp.Sleep(2500*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			updated, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-field="malformed_frames"]`)))
			if err != nil {
				t.Fatal(err)
			}
			be.mu.Lock()
			be.harvester.MalformedFrames = 17
			be.mu.Unlock()
			if updated != "18" {
				t.Errorf("harvester page after a refresh shows %q malformed frames, want 18", updated)
			}
			// The share flow: preview, exclude an hour, see the result.
			const hourBox = `.hours-row:nth-of-type(3) .hour input`
			if err := chromedp.Do(ctx,
				chromedp.Navigate(srv.URL+"/share"),
				chromedp.SendKeys(chromedp.CSS("#permission_number"), "ABCD-1234"),
				chromedp.Click(chromedp.CSS(`button[value="preview"]`)),
				chromedp.WaitVisible(chromedp.CSS(`.hours`)),
				chromedp.Click(chromedp.CSS(hourBox)),
			); err != nil {
				t.Fatal(err)
			}
			checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+hourBox+`').checked`))
			if err != nil {
				t.Fatal(err)
			}
			if !checked {
				t.Error("clicking an hour did not tick it")
			}
			if err := chromedp.Do(ctx,
				shot("share-preview"),
				chromedp.Click(chromedp.CSS(`button[value="confirm"]`)),
				chromedp.WaitVisible(chromedp.CSS(`.notice.ok`)),
				shot("share-result"),
			); err != nil {
				t.Fatal(err)
			}
			// Everything up to here must be clean.
			for _, problem := range p.Problems() {
				t.Errorf("browser reported %s", problem)
			}
			// A refused setting shows its message next to the field; the
			// 400 it is answered with is the one failure Chromium may log.
			if err := chromedp.Do(ctx,
				chromedp.Navigate(srv.URL+"/settings"),
				chromedp.SetValue(chromedp.CSS("#min_rssi"), "15"),
				chromedp.Click(chromedp.CSS(`form.form button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#min_rssi-error`)),
				shot("settings-invalid"),
			); err != nil {
				t.Fatal(err)
			}
			for _, problem := range p.Problems() {
				if problem == browsertest.FailedLoad(400, "Bad Request", srv.URL+"/settings") {
					continue
				}
				t.Errorf("browser reported %s", problem)
			}
		})
	}
	if n := len(be.submits); n != 2 {
		t.Errorf("%d shares reached the backend, want one per viewport", n)
	}
}
