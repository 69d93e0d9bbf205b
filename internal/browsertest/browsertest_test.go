package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPageRecordsProblems checks that a page records what the dashboard's
// browser tests must fail on, and nothing for a clean page: otherwise
// those tests could not fail.
func TestPageRecordsProblems(t *testing.T) {
	Require(t)
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'"
	pages := map[string]string{
		"/clean":         `<!doctype html><title>clean</title><p id="ready">ok</p>`,
		"/inline-script": `<!doctype html><title>inline</title><p id="ready">ok</p><script>document.title = "ran"</script>`,
		"/inline-style":  `<!doctype html><title>style</title><p id="ready" style="color: red">ok</p>`,
		"/console-error": `<!doctype html><title>console</title><p id="ready">ok</p><script src="/console-error.js"></script>`,
		"/exception":     `<!doctype html><title>exception</title><p id="ready">ok</p><script src="/exception.js"></script>`,
		"/missing-image": `<!doctype html><title>image</title><p id="ready">ok</p><img src="/nothing.png" alt="">`,
	}
	scripts := map[string]string{
		"/console-error.js": `console.error("something went wrong")`,
		"/exception.js":     `null.property`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		if body, ok := pages[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(body))
			return
		}
		if body, ok := scripts[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "text/javascript")
			w.Write([]byte(body))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()

	p := NewPage(t, NewAllocator(t), Desktop, time.Minute)
	for _, tc := range []struct {
		path     string
		problems bool
	}{
		{"/clean", false},
		{"/inline-script", true},
		{"/inline-style", true},
		{"/console-error", true},
		{"/exception", true},
		{"/missing-image", true},
	} {
		if err := chromedp.Do(p.Ctx, chromedp.Navigate(srv.URL+tc.path), chromedp.WaitVisible(chromedp.CSS("#ready")), chromedp.Sleep(300*time.Millisecond)); err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		got := p.Problems()
		if (len(got) > 0) != tc.problems {
			t.Errorf("%s: recorded %q; want problems: %v", tc.path, got, tc.problems)
		}
	}
}
