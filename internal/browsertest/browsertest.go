// Package browsertest drives Debian's headless Chromium for the
// dashboard's browser tests (issue 8, "Tested for real"): the tests of
// web against its test backend and the end-to-end tests of a real node
// (internal/e2e) share one way to start the browser, open a page at a
// viewport, record what the browser complains about and save screenshots.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser
// (.ci/run installs it).
const ChromiumPath = "/usr/bin/chromium"

// Require skips t, loudly, when Chromium is missing or under -short, and
// fails it when Chromium is missing under CI=true: CI must run the
// browser tests.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath(ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found at %s: the browser tests must run in CI", ChromiumPath)
		}
		t.Skipf("SKIPPING the browser tests: chromium not found at %s (apt-get install chromium)", ChromiumPath)
	}
	if testing.Short() {
		t.Skip("browser tests skipped with -short")
	}
}

// NewAllocator returns the context that starts one headless Chromium
// process for t; the browser is stopped when t ends. Each NewPage on it
// opens a tab of its own.
func NewAllocator(t testing.TB) context.Context {
	t.Helper()
	allocCtx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("hide-scrollbars", true),
	)
	t.Cleanup(cancel)
	return allocCtx
}

// Viewport is a window size the dashboard is checked and shown at.
type Viewport struct {
	Name          string
	Width, Height int64
	Mobile        bool
}

// The two viewports of the screenshots in docs/: a laptop and a phone.
var (
	Desktop   = Viewport{Name: "desktop", Width: 1280, Height: 900}
	Phone     = Viewport{Name: "phone", Width: 390, Height: 844, Mobile: true}
	Viewports = []Viewport{Desktop, Phone}
)

// Page is one browser tab at one viewport. It records every console error
// or warning, uncaught exception and browser log error or warning (CSP
// violations and failed loads arrive there) until Problems takes them.
type Page struct {
	// Ctx runs chromedp actions in the tab; it ends with the timeout
	// NewPage was given or when t ends.
	Ctx      context.Context
	Viewport Viewport

	mu       sync.Mutex
	problems []string
}

// NewPage opens a tab of the allocator's browser at vp. Every action in
// it must finish within timeout.
func NewPage(t testing.TB, allocCtx context.Context, vp Viewport, timeout time.Duration) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTimeout)
	p := &Page{Ctx: ctx, Viewport: vp}
	if err := chromedp.Listen(ctx, p.record); err != nil {
		t.Fatalf("listening to the browser: %v", err)
	}
	mobile := func(*emulation.SetDeviceMetricsOverrideParams, *emulation.SetTouchEmulationEnabledParams) {}
	if vp.Mobile {
		mobile = chromedp.EmulateMobile
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.Width, vp.Height, chromedp.EmulateScale(1), mobile)); err != nil {
		t.Fatalf("setting the %s viewport: %v", vp.Name, err)
	}
	return p
}

func (p *Page) record(ev any) {
	var problem string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeWarning {
			return
		}
		var args []string
		for _, a := range e.Args {
			args = append(args, string(a.Value))
		}
		problem = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		problem = fmt.Sprintf("exception: %s at %s:%d", e.ExceptionDetails.Text, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber)
	case *cdplog.EventEntryAdded:
		if e.Entry.Level != cdplog.EntryLevelError && e.Entry.Level != cdplog.EntryLevelWarning {
			return
		}
		problem = fmt.Sprintf("log %s/%s: %s %s", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL)
	default:
		return
	}
	p.mu.Lock()
	p.problems = append(p.problems, problem)
	p.mu.Unlock()
}

// Problems returns what the browser reported since the last call, and
// forgets it.
func (p *Page) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.problems
	p.problems = nil
	return out
}

// FailedLoad is the problem Chromium reports for a response with an
// error status, for tests that expect one.
func FailedLoad(status int, statusText, url string) string {
	return fmt.Sprintf("log network/error: Failed to load resource: the server responded with a status of %d (%s) %s", status, statusText, url)
}

// Screenshot saves the whole page as a PNG at path.
func (p *Page) Screenshot(path string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			return fmt.Errorf("saving screenshot: %w", err)
		}
		return nil
	})
}

// OverflowsSideways reports whether the loaded page is wider than the
// viewport: wide charts and tables must scroll inside their own boxes.
func (p *Page) OverflowsSideways() (bool, error) {
	return chromedp.Run(p.Ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
}

// UpdateScreenshotsEnv names the variable that makes tests write their
// screenshots into docs/ (PACT_UPDATE_SCREENSHOTS=1 make test); otherwise
// they go to a temporary directory, so that a test run leaves the work
// tree as it found it.
const UpdateScreenshotsEnv = "PACT_UPDATE_SCREENSHOTS"

// ScreenshotDir returns docsDir when UpdateScreenshotsEnv is set, and a
// directory of t's own otherwise. The screenshots are taken either way.
func ScreenshotDir(t testing.TB, docsDir string) string {
	if os.Getenv(UpdateScreenshotsEnv) != "" {
		return docsDir
	}
	return t.TempDir()
}
