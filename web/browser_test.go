package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// screenshotDir is where the screenshots of the pages go (docs/dashboard.md
// shows them).
var screenshotDir = filepath.Join("..", "docs", "screenshots")

// TestBrowser loads every page in headless Chromium at desktop and phone
// widths, fails on any console error, uncaught exception or CSP
// violation, and saves a screenshot of each.
func TestBrowser(t *testing.T) {
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found at %s: the browser tests must run in CI", chromiumPath)
		}
		t.Skipf("SKIPPING the browser tests: chromium not found at %s (apt-get install chromium)", chromiumPath)
	}
	if testing.Short() {
		t.Skip("browser tests skipped with -short")
	}
	be := newTestBackend()
	h, err := New(Config{Backend: be, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}

	allocCtx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("hide-scrollbars", true),
	)
	defer cancel()

	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"desktop", 1280, 900, false},
		{"phone", 390, 844, true},
	} {
		t.Run(vp.name, func(t *testing.T) {
			ctx, cancel := chromedp.NewContext(allocCtx)
			defer cancel()
			ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
			defer cancelTimeout()

			var mu sync.Mutex
			var problems []string
			if err := chromedp.Listen(ctx, func(ev any) {
				mu.Lock()
				defer mu.Unlock()
				switch e := ev.(type) {
				case *runtime.EventConsoleAPICalled:
					if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
						var args []string
						for _, a := range e.Args {
							args = append(args, string(a.Value))
						}
						problems = append(problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
					}
				case *runtime.EventExceptionThrown:
					problems = append(problems, fmt.Sprintf("exception: %s at %s:%d", e.ExceptionDetails.Text, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber))
				case *cdplog.EventEntryAdded:
					// CSP violations and failed loads arrive here.
					if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
						problems = append(problems, fmt.Sprintf("log %s/%s: %s %s", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL))
					}
				}
			}); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx,
				chromedp.EmulateViewport(vp.width, vp.height, chromedp.EmulateScale(1), mobileIf(vp.mobile))); err != nil {
				t.Fatal(err)
			}
			shot := func(name string) chromedp.Action[chromedp.Void] {
				return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					buf, err := chromedp.FullScreenshot(100)(ctx, tg)
					if err != nil {
						return err
					}
					return os.WriteFile(filepath.Join(screenshotDir, name+"-"+vp.name+".png"), buf, 0o644)
				})
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
				// The page itself must not scroll sideways; wide charts
				// and tables scroll inside their own boxes.
				overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
				if err != nil {
					t.Fatal(err)
				}
				if overflow {
					t.Errorf("%s overflows the %d px viewport sideways", page.path, vp.width)
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
			// A refused setting answers 400, which Chromium logs as a
			// failed load; everything before it must be clean.
			mu.Lock()
			for _, p := range problems {
				t.Errorf("browser reported %s", p)
			}
			problems = nil
			expect400 := true
			mu.Unlock()
			// A refused setting shows its message next to the field.
			if err := chromedp.Do(ctx,
				chromedp.Navigate(srv.URL+"/settings"),
				chromedp.SetValue(chromedp.CSS("#min_rssi"), "15"),
				chromedp.Click(chromedp.CSS(`form.form button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#min_rssi-error`)),
				shot("settings-invalid"),
			); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range problems {
				if expect400 && p == "log network/error: Failed to load resource: the server responded with a status of 400 (Bad Request) "+srv.URL+"/settings" {
					continue
				}
				t.Errorf("browser reported %s", p)
			}
		})
	}
	if n := len(be.submits); n != 2 {
		t.Errorf("%d shares reached the backend, want one per viewport", n)
	}
}

func mobileIf(mobile bool) chromedp.EmulateViewportOption {
	if mobile {
		return chromedp.EmulateMobile
	}
	return func(*emulation.SetDeviceMetricsOverrideParams, *emulation.SetTouchEmulationEnabledParams) {}
}
