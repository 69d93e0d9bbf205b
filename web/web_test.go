package web

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// browser drives a handler the way a browser would: it keeps cookies and
// reads the CSRF token from the last page.
type browser struct {
	t       *testing.T
	h       http.Handler
	host    string
	cookies map[string]*http.Cookie
	csrf    string
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	return &browser{t: t, h: h, host: "127.0.0.1:8080", cookies: map[string]*http.Cookie{}}
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) *httptest.ResponseRecorder {
	b.t.Helper()
	req.Host = b.host
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		b.cookies[c.Name] = c
	}
	if m := csrfPattern.FindStringSubmatch(rec.Body.String()); m != nil {
		b.csrf = m[1]
	}
	return rec
}

func (b *browser) get(path string) *httptest.ResponseRecorder {
	return b.do(httptest.NewRequest(http.MethodGet, path, nil))
}

func (b *browser) post(path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func newTestHandler(t *testing.T, cfg Config) (http.Handler, *testBackend) {
	t.Helper()
	be := newTestBackend()
	if cfg.Backend == nil {
		cfg.Backend = be
	}
	cfg.Now = func() time.Time { return testNow }
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, be
}

func checkSecurityHeaders(t *testing.T, path string, rec *httptest.ResponseRecorder) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", path, k, got, v)
		}
	}
}

// inlinePattern finds what the CSP forbids in our own markup: inline
// script, style elements or attributes, event handler attributes, and any
// reference to another host.
var inlinePattern = regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style="|\son[a-z]+="|(src|href|action)="(https?:)?//`)

func TestPages(t *testing.T) {
	h, _ := newTestHandler(t, Config{})
	for _, tc := range []struct {
		path   string
		status int
		marker string // an element id the page must contain
	}{
		{"/", http.StatusOK, `id="status-title"`},
		{"/exposures", http.StatusOK, `id="tl-0-title"`},
		{"/contacts", http.StatusOK, `id="hours-title"`},
		{"/harvester", http.StatusOK, `id="harvester-live"`},
		{"/share", http.StatusOK, `id="permission_number"`},
		{"/settings", http.StatusOK, `id="min_rssi"`},
		{"/login", http.StatusSeeOther, ""}, // no token: nothing to log in to
		{"/nowhere", http.StatusNotFound, ""},
		{"/assets/style.css", http.StatusOK, ""},
		{"/assets/live.js", http.StatusOK, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := newBrowser(t, h).get(tc.path)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			checkSecurityHeaders(t, tc.path, rec)
			body := rec.Body.String()
			if tc.marker != "" && !strings.Contains(body, tc.marker) {
				t.Errorf("page lacks %s", tc.marker)
			}
			if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				if m := inlinePattern.FindString(body); m != "" {
					t.Errorf("page has %q, which the CSP forbids or which loads from elsewhere", m)
				}
			}
		})
	}
}

func TestOverviewSaysExposureInWordsFirst(t *testing.T) {
	for _, tc := range []struct {
		name    string
		exposed bool
	}{{"exposed", true}, {"clear", false}} {
		t.Run(tc.name, func(t *testing.T) {
			be := newTestBackend()
			if !tc.exposed {
				be.status.Days, be.status.Exposed = nil, false
			}
			h, _ := newTestHandler(t, Config{Backend: be})
			body := newBrowser(t, h).get("/").Body.String()
			main := body[strings.Index(body, "<main"):]
			h1 := main[strings.Index(main, "<h1"):]
			h1 = h1[:strings.Index(h1, "</h1>")]
			want := statusHeadline(be.status).Title
			if !strings.HasSuffix(h1, ">"+htmlEscape(want)) {
				t.Errorf("first heading %q, want the headline %q", h1, want)
			}
		})
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func TestAPIShapes(t *testing.T) {
	h, be := newTestHandler(t, Config{})
	for _, tc := range []struct {
		path string
		keys []string // top-level keys with the JSON kind they must have
	}{
		{"/api/v1/status", []string{"exposed:bool", "days:array", "possible_source:array", "possible_source_advice:string", "servers:array", "chirping:bool", "sightings_last_hour:number", "adapter:object", "headline:string"}},
		{"/api/v1/exposures", []string{"days:array", "possible_source:array", "window_days:number"}},
		{"/api/v1/contacts", []string{"sightings:number", "hours:array", "rssi:array", "oldest_erased_at:string"}},
		{"/api/v1/harvester", []string{"running:bool", "kinds:array", "invalid_keys:number", "malformed_frames:number"}},
		{"/api/v1/settings", []string{"min_rssi:number", "retention_days:number", "servers:array"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := newBrowser(t, h).get(tc.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			checkSecurityHeaders(t, tc.path, rec)
			var v map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.keys {
				name, kind, _ := strings.Cut(k, ":")
				if got := jsonKind(v[name]); got != kind {
					t.Errorf("%s is %s, want %s", name, got, kind)
				}
			}
		})
	}

	// Exposures per day and source carry the four figures.
	var ex struct {
		Days []map[string]any `json:"days"`
	}
	if err := json.Unmarshal(newBrowser(t, h).get("/api/v1/exposures").Body.Bytes(), &ex); err != nil {
		t.Fatal(err)
	}
	if len(ex.Days) != len(be.exposures.Days) {
		t.Fatalf("%d days, want %d", len(ex.Days), len(be.exposures.Days))
	}
	for _, d := range ex.Days {
		for _, k := range []string{"day:string", "source:string", "matched_minutes:number", "contacts:number", "max_rssi:number", "score:number", "reverse_tracing:bool"} {
			name, kind, _ := strings.Cut(k, ":")
			if got := jsonKind(d[name]); got != kind {
				t.Errorf("day %v: %s is %s, want %s", d["day"], name, got, kind)
			}
		}
	}
	first := ex.Days[0]
	if first["source"] != SourcePACT || first["matched_minutes"] != 25.0 || first["max_rssi"] != -52.0 {
		t.Errorf("first day %v, want pact, 25 minutes, -52 dBm", first)
	}

	// A failing backend gives 500 and does not leak its error.
	be.failAll = errBackendDown
	rec := newBrowser(t, h).get("/api/v1/status")
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), errBackendDown.Error()) {
		t.Errorf("failing backend: %d %s", rec.Code, rec.Body)
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "bool"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "missing"
	}
	return reflect.TypeOf(v).String()
}

func TestNewRefusesOpenAddressWithoutToken(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		want        error
	}{
		{"", "", nil},
		{"127.0.0.1:8080", "", nil},
		{"[::1]:8080", "", nil},
		{"localhost:8080", "", nil},
		{"0.0.0.0:8080", "", ErrTokenRequired},
		{":8080", "", ErrTokenRequired},
		{"192.168.1.20:8080", "", ErrTokenRequired},
		{"[::]:8080", "", ErrTokenRequired},
		{"0.0.0.0:8080", "s3cret-token", nil},
	} {
		_, err := New(Config{Backend: newTestBackend(), Addr: tc.addr, Token: tc.token})
		if !errors.Is(err, tc.want) {
			t.Errorf("New(addr %q, token %q): err %v, want %v", tc.addr, tc.token, err, tc.want)
		}
	}
	if _, err := New(Config{}); !errors.Is(err, ErrNoBackend) {
		t.Errorf("New without backend: err %v, want ErrNoBackend", err)
	}
}

func TestTokenOffLoopback(t *testing.T) {
	const token = "correct-horse-battery-staple"
	h, _ := newTestHandler(t, Config{Addr: "0.0.0.0:8443", Token: token})

	// API: bearer header.
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong", "Bearer not-the-token", http.StatusUnauthorized},
		{"prefix", "Bearer " + token[:10], http.StatusUnauthorized},
		{"basic", "Basic " + token, http.StatusUnauthorized},
		{"right", "Bearer " + token, http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/status", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("API with %s token: status %d, want %d", tc.name, rec.Code, tc.status)
		}
	}

	// Every page sends a browser without a session to the login form.
	for _, path := range []string{"/", "/exposures", "/contacts", "/harvester", "/share", "/settings"} {
		rec := newBrowser(t, h).get(path)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
			t.Errorf("%s without login: %d to %q, want 303 to /login", path, rec.Code, rec.Header().Get("Location"))
		}
	}
	b := newBrowser(t, h)
	b.host = "192.168.1.20:8443"
	b.get("/login")
	if rec := b.post("/login", url.Values{"csrf": {b.csrf}, "token": {"wrong"}, "next": {"/exposures"}}); rec.Code != http.StatusUnauthorized {
		t.Errorf("login with the wrong token: %d", rec.Code)
	}
	if rec := b.get("/"); rec.Code != http.StatusSeeOther {
		t.Errorf("after a failed login: %d", rec.Code)
	}
	if rec := b.post("/login", url.Values{"token": {token}}); rec.Code != http.StatusForbidden {
		t.Errorf("login without CSRF token: %d, want 403", rec.Code)
	}
	before := b.cookies[sessionCookie].Value
	rec := b.post("/login", url.Values{"csrf": {b.csrf}, "token": {token}, "next": {"/exposures"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/exposures" {
		t.Fatalf("login: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	ck := b.cookies[sessionCookie]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Value == before {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict and a fresh id", ck)
	}
	if rec := b.get("/exposures"); rec.Code != http.StatusOK {
		t.Errorf("after login: %d", rec.Code)
	}
	if rec := b.get("/api/v1/status"); rec.Code != http.StatusOK {
		t.Errorf("API with the session cookie: %d", rec.Code)
	}
	// The API's writes need the CSRF header with a session cookie.
	put := func(csrf string) int {
		req := httptest.NewRequest(http.MethodPut, "/api/v1/settings", strings.NewReader(`{"min_rssi":-90,"retention_days":30}`))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set(csrfHeader, csrf)
		}
		return b.do(req).Code
	}
	if code := put(""); code != http.StatusForbidden {
		t.Errorf("API write with cookie, no CSRF header: %d", code)
	}
	if code := put(b.csrf); code != http.StatusOK {
		t.Errorf("API write with cookie and CSRF header: %d", code)
	}
	// A redirect target off the site is not followed.
	if got := safeNext("//evil.example/"); got != "/" {
		t.Errorf("safeNext(//evil.example/) = %q", got)
	}
	// Logging out ends the session.
	b.get("/")
	b.post("/logout", url.Values{"csrf": {b.csrf}})
	if rec := b.get("/"); rec.Code != http.StatusSeeOther {
		t.Errorf("after logout: %d", rec.Code)
	}
}

func TestCSRF(t *testing.T) {
	h, be := newTestHandler(t, Config{})
	valid := url.Values{"min_rssi": {"-90"}, "retention_days": {"30"}, "rx_correction_db": {"0"}, "notify_threshold": {"15"}}
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		token  func(b *browser) string
		cookie bool
		status int
	}{
		{"settings without token", "/settings", valid, func(*browser) string { return "" }, true, http.StatusForbidden},
		{"settings with wrong token", "/settings", valid, func(*browser) string { return "AAAA" }, true, http.StatusForbidden},
		{"settings with another session's token", "/settings", valid, func(*browser) string {
			other := newBrowser(t, h)
			other.get("/settings")
			return other.csrf
		}, true, http.StatusForbidden},
		{"settings with token but no cookie", "/settings", valid, func(b *browser) string { return b.csrf }, false, http.StatusForbidden},
		{"share without token", "/share", url.Values{"permission_number": {"ABCD-1234"}, "action": {"confirm"}}, func(*browser) string { return "" }, true, http.StatusForbidden},
		{"share with wrong token", "/share", url.Values{"permission_number": {"ABCD-1234"}, "action": {"confirm"}}, func(*browser) string { return "wrong" }, true, http.StatusForbidden},
		{"logout without token", "/logout", url.Values{}, func(*browser) string { return "" }, true, http.StatusForbidden},
		{"settings with token", "/settings", valid, func(b *browser) string { return b.csrf }, true, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, h)
			b.get("/settings")
			form := url.Values{}
			for k, v := range tc.form {
				form[k] = v
			}
			if tok := tc.token(b); tok != "" {
				form.Set("csrf", tok)
			}
			if !tc.cookie {
				b.cookies = map[string]*http.Cookie{}
			}
			if rec := b.post(tc.path, form); rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
		})
	}
	if len(be.submits) != 0 {
		t.Errorf("%d shares reached the backend through refused forms", len(be.submits))
	}
}

func TestRefusesForeignHostAndCrossSiteWrites(t *testing.T) {
	h, _ := newTestHandler(t, Config{})
	b := newBrowser(t, h)
	b.host = "attacker.example:8080"
	if rec := b.get("/api/v1/status"); rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("rebound Host: %d, want 421", rec.Code)
	}
	for _, tc := range []struct {
		name, ctype, site string
		status            int
	}{
		{"form encoded", "application/x-www-form-urlencoded", "", http.StatusUnsupportedMediaType},
		{"text/plain", "text/plain", "", http.StatusUnsupportedMediaType},
		{"cross-site", "application/json", "cross-site", http.StatusForbidden},
		{"same-site other origin", "application/json", "same-site", http.StatusForbidden},
		{"json", "application/json", "same-origin", http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodPut, "/api/v1/settings", strings.NewReader(`{"min_rssi":-90,"retention_days":30}`))
		req.Header.Set("Content-Type", tc.ctype)
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if rec := newBrowser(t, h).do(req); rec.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.status)
		}
	}
}

func TestSettingsForm(t *testing.T) {
	stored := Settings{MinRSSI: -95, RetentionDays: 60, Servers: []Server{{Name: "eu", URL: "https://x.example", Key: strings.Repeat("A", 43) + "="}}}
	good := url.Values{"min_rssi": {"-90"}, "retention_days": {"30"}, "snooze_until": {"2026-11-06T08:00"},
		"rx_correction_db": {"-4"}, "notify_threshold": {"7.5"},
		"servers": {"eu https://exposures.example.org " + strings.Repeat("B", 43) + "= eu-west,eu-north\n"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range good {
			f[kk] = vv
		}
		f.Set(k, v)
		return f
	}
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string // the field whose message must appear; "" when valid
	}{
		{"valid", good, ""},
		{"rssi not a number", with("min_rssi", "loud"), "min_rssi"},
		{"rssi too high", with("min_rssi", "10"), "min_rssi"},
		{"rssi too low", with("min_rssi", "-200"), "min_rssi"},
		{"retention zero", with("retention_days", "0"), "retention_days"},
		{"retention beyond a year", with("retention_days", "400"), "retention_days"},
		{"retention beyond PACT's 90 days", with("retention_days", "91"), "retention_days"},
		{"receiver correction not a number", with("rx_correction_db", "a bit"), "rx_correction_db"},
		{"receiver correction too large", with("rx_correction_db", "31"), "rx_correction_db"},
		{"threshold not a number", with("notify_threshold", "NaN"), "notify_threshold"},
		{"threshold zero", with("notify_threshold", "0"), "notify_threshold"},
		{"threshold beyond a day", with("notify_threshold", "1441"), "notify_threshold"},
		{"snooze in the past", with("snooze_until", "2026-11-01T08:00"), "snooze_until"},
		{"snooze garbage", with("snooze_until", "tomorrow"), "snooze_until"},
		{"snooze too far", with("snooze_until", "2027-06-01T08:00"), "snooze_until"},
		{"server without key", with("servers", "eu https://x.example"), "servers"},
		{"server with bad key", with("servers", "eu https://x.example AAAA"), "servers"},
		{"server with ftp URL", with("servers", "eu ftp://x.example "+strings.Repeat("B", 43)+"="), "servers"},
		{"server with user in URL", with("servers", "eu https://u:p@x.example "+strings.Repeat("B", 43)+"="), "servers"},
		{"server named twice", with("servers", "eu https://x.example "+strings.Repeat("B", 43)+"=\neu https://y.example "+strings.Repeat("C", 43)+"="), "servers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, be := newTestHandler(t, Config{})
			be.settings = stored
			b := newBrowser(t, h)
			b.get("/settings")
			form := tc.form
			form.Set("csrf", b.csrf)
			rec := b.post("/settings", form)
			if tc.field == "" {
				if rec.Code != http.StatusSeeOther {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				if be.settings.MinRSSI != -90 || be.settings.RetentionDays != 30 || len(be.settings.Servers) != 1 || len(be.settings.Servers[0].Regions) != 2 ||
					be.settings.RxCorrectionDB != -4 || be.settings.NotifyThreshold != 7.5 || be.settings.LogLocation {
					t.Errorf("saved %+v; want location logging off, as the box was not ticked", be.settings)
				}
				form.Set("log_location", "on")
				if rec := b.post("/settings", form); rec.Code != http.StatusSeeOther || !be.settings.LogLocation {
					t.Errorf("ticking location logging: status %d, saved %+v", rec.Code, be.settings)
				}
				return
			}
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", rec.Code)
			}
			body := rec.Body.String()
			if !strings.Contains(body, `id="`+tc.field+`-error"`) || !strings.Contains(body, `aria-invalid="true"`) {
				t.Errorf("no message next to %s", tc.field)
			}
			// What was typed is shown again, and nothing was stored.
			if v := tc.form.Get(tc.field); v != "" && !strings.Contains(body, htmlEscape(strings.TrimSpace(v))) {
				t.Errorf("typed %s %q not shown again", tc.field, v)
			}
			if !reflect.DeepEqual(be.settings, stored) {
				t.Errorf("stored settings changed to %+v", be.settings)
			}
		})
	}
}

func TestSettingsAPI(t *testing.T) {
	h, be := newTestHandler(t, Config{})
	put := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPut, "/api/v1/settings", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return newBrowser(t, h).do(req)
	}
	for _, tc := range []struct {
		name   string
		body   string
		status int
		fields []string
	}{
		{"valid", `{"min_rssi":-85,"retention_days":21,"servers":[]}`, http.StatusOK, nil},
		{"two bad fields", `{"min_rssi":5,"retention_days":0}`, http.StatusBadRequest, []string{"min_rssi", "retention_days"}},
		{"bad score settings", `{"min_rssi":-85,"retention_days":21,"rx_correction_db":-31,"notify_threshold":0}`, http.StatusBadRequest, []string{"rx_correction_db", "notify_threshold"}},
		{"retention beyond 90 days", `{"min_rssi":-85,"retention_days":91}`, http.StatusBadRequest, []string{"retention_days"}},
		{"unknown field", `{"min_rssi":-85,"retention_days":21,"colour":"red"}`, http.StatusBadRequest, nil},
		{"trailing data", `{"min_rssi":-85,"retention_days":21} {}`, http.StatusBadRequest, nil},
		{"not JSON", `min_rssi=-85`, http.StatusBadRequest, nil},
		{"wrong type", `{"min_rssi":"loud","retention_days":21}`, http.StatusBadRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := be.settings
			rec := put(tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status != http.StatusOK {
				if !reflect.DeepEqual(be.settings, before) {
					t.Errorf("refused request changed settings to %+v", be.settings)
				}
				var e apiError
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Errorf("error body %s", rec.Body)
				}
				for _, f := range tc.fields {
					if e.Fields[f] == "" {
						t.Errorf("no message for %s in %v", f, e.Fields)
					}
				}
			}
		})
	}
	if be.settings.MinRSSI != -85 || be.settings.RetentionDays != 21 {
		t.Errorf("settings after valid PUT: %+v", be.settings)
	}
}

func TestShareFlow(t *testing.T) {
	h, be := newTestHandler(t, Config{})
	b := newBrowser(t, h)
	b.get("/share")
	excluded := testNow.Truncate(24 * time.Hour).Add(-24*time.Hour + 9*time.Hour)
	form := url.Values{
		"csrf": {b.csrf}, "permission_number": {"ABCD-1234"}, "action": {"preview"},
		"reverse_tracing": {"on"}, "reverse_from": {"2026-11-01"}, "reverse_to": {"2026-11-04"},
		"findmy_key_material": {"material"}, "exclude": {itoa(excluded.Unix())},
	}
	rec := b.post("/share", form)
	if rec.Code != http.StatusOK {
		t.Fatalf("preview: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if !strings.Contains(body, `value="`+itoa(excluded.Unix())+`" checked`) {
		t.Error("preview does not show the excluded hour ticked")
	}
	if !strings.Contains(body, `value="confirm"`) || !strings.Contains(body, "96 Find My keys") {
		t.Error("preview lacks the confirm button or the number of derived keys")
	}
	if len(be.submits) != 0 {
		t.Fatal("preview submitted the share")
	}
	if p := be.previews[0]; len(p.ExcludeHours) != 1 || !p.ExcludeHours[0].Equal(excluded) || !p.ReverseTracing ||
		!p.ReverseFrom.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) || p.ReverseTo.Before(time.Date(2026, 11, 4, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("preview request %+v", p)
	}

	// A refused share says why and offers a retry with the form intact.
	be.result = ShareResult{Accepted: false, Answer: "refused", Reason: "this permission number was already used", Retry: true}
	form.Set("action", "confirm")
	form.Set("csrf", b.csrf)
	rec = b.post("/share", form)
	body = rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "already used") || !strings.Contains(body, "Try again") || !strings.Contains(body, `value="ABCD-1234"`) {
		t.Errorf("refused share: %d, page lacks reason, retry or the typed number", rec.Code)
	}
	be.result = ShareResult{Accepted: true, Answer: "accepted", Tuples: 479}
	form.Set("csrf", b.csrf)
	rec = b.post("/share", form)
	if !strings.Contains(rec.Body.String(), "479 seed-hours") || len(be.submits) != 2 {
		t.Errorf("accepted share: page or submits (%d) wrong", len(be.submits))
	}

	// Invalid input: a message next to each field, nothing sent.
	for _, tc := range []struct {
		name  string
		set   map[string]string
		field string
	}{
		{"no number", map[string]string{"permission_number": ""}, "pn"},
		{"number with spaces", map[string]string{"permission_number": "AB CD"}, "pn"},
		{"reverse without dates", map[string]string{"reverse_from": "", "reverse_to": ""}, "rf"},
		{"reverse range backwards", map[string]string{"reverse_from": "2026-11-04", "reverse_to": "2026-11-01"}, "rt"},
		{"reverse range too old", map[string]string{"reverse_from": "2026-09-01"}, "rf"},
		{"reverse range in the future", map[string]string{"reverse_to": "2026-12-01"}, "rt"},
		{"excluded hour not an hour", map[string]string{"exclude": "12345"}, "exclude"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			for k, v := range tc.set {
				f.Set(k, v)
			}
			f.Set("csrf", b.csrf)
			n := len(be.submits) + len(be.previews)
			rec := b.post("/share", f)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", rec.Code)
			}
			if tc.field != "exclude" && !strings.Contains(rec.Body.String(), `id="`+tc.field+`-error"`) {
				t.Errorf("no message next to %s", tc.field)
			}
			if len(be.submits)+len(be.previews) != n {
				t.Error("invalid input reached the backend")
			}
		})
	}

	// The backend's own field errors (unreadable key material) show too.
	be.previewErr = &FieldError{Field: "findmy_key_material", Message: "not key material"}
	form.Set("csrf", b.csrf)
	rec = b.post("/share", form)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `id="km-error"`) {
		t.Errorf("backend field error: %d", rec.Code)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestShareAPI(t *testing.T) {
	h, be := newTestHandler(t, Config{})
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return newBrowser(t, h).do(req)
	}
	rec := post("/api/v1/share/preview", `{"permission_number":"ABCD-1234","exclude_hours":["2026-11-04T09:00:00Z"]}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("preview: %d %s", rec.Code, rec.Body)
	}
	var p SharePreview
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	excluded := 0
	for _, h := range p.Hours {
		if h.Excluded {
			excluded++
		}
	}
	if excluded != 1 || len(be.submits) != 0 {
		t.Errorf("preview: %d excluded hours, %d submits", excluded, len(be.submits))
	}
	rec = post("/api/v1/share", `{"permission_number":"x"}`)
	var e apiError
	if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Fields["permission_number"] == "" {
		t.Errorf("bad number: %d %s", rec.Code, rec.Body)
	}
	be.result = ShareResult{Answer: "refused", Reason: "rate limited", Retry: true}
	rec = post("/api/v1/share", `{"permission_number":"ABCD-1234"}`)
	var res ShareResult
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &res) != nil || res.Accepted || !res.Retry || res.Reason == "" {
		t.Errorf("refused share: %d %s", rec.Code, rec.Body)
	}
}

func TestPagesFailClosed(t *testing.T) {
	h, be := newTestHandler(t, Config{})
	be.failAll = errBackendDown
	for _, path := range []string{"/", "/exposures", "/contacts", "/harvester", "/settings"} {
		rec := newBrowser(t, h).get(path)
		if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), errBackendDown.Error()) {
			t.Errorf("%s with a failing backend: %d", path, rec.Code)
		}
	}
}

// TestOpenerPolicyOnlyWhereBrowsersHonourIt checks that the opener policy
// is sent from loopback and over TLS, and left out over plain HTTP on
// another address, where Chromium ignores it and logs an error on every
// page (found by internal/e2e's TestBrowserTokenOffLoopback).
func TestOpenerPolicyOnlyWhereBrowsersHonourIt(t *testing.T) {
	h, _ := newTestHandler(t, Config{Addr: "0.0.0.0:8443", Token: "correct-horse-battery-staple"})
	for _, tc := range []struct {
		host string
		tls  bool
		want string
	}{
		{"127.0.0.1:8443", false, "same-origin"},
		{"localhost:8443", false, "same-origin"},
		{"[::1]:8443", false, "same-origin"},
		{"192.168.1.20:8443", true, "same-origin"},
		{"192.168.1.20:8443", false, ""},
		{"node.example:8443", false, ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "/login", nil)
		req.Host = tc.host
		if !tc.tls {
			req.TLS = nil
		} else if req.TLS == nil {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Cross-Origin-Opener-Policy"); got != tc.want {
			t.Errorf("host %s, TLS %v: Cross-Origin-Opener-Policy %q, want %q", tc.host, tc.tls, got, tc.want)
		}
	}
}

// TestNotificationShown checks that the overview and the exposures page
// show the threshold and the best 24 hours against it, reached or not.
func TestNotificationShown(t *testing.T) {
	for _, tc := range []struct {
		name string
		note Notification
		want []string
	}{
		{"reached", Notification{Threshold: 15, Peak24h: 20.5, PeakEnd: testNow.Add(-30 * time.Hour), Reached: true},
			[]string{`id="notify-title"`, `<span class="pill bad">reached</span>`, "<strong>20.5</strong>", "<strong>15</strong>", "4 Nov 2026 06:00 UTC"}},
		{"not reached", Notification{Threshold: 7.5, Peak24h: 2},
			[]string{`<span class="pill ok">not reached</span>`, "<strong>2</strong>", "<strong>7.5</strong>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, be := newTestHandler(t, Config{})
			be.status.Notification, be.exposures.Notification = tc.note, tc.note
			b := newBrowser(t, h)
			for _, path := range []string{"/", "/exposures"} {
				rec := b.get(path)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s: status %d", path, rec.Code)
				}
				for _, w := range tc.want {
					if !strings.Contains(rec.Body.String(), w) {
						t.Errorf("%s does not show %q", path, w)
					}
				}
			}
		})
	}
}

// TestIndirectContactsBlock checks that indirect (surface) contacts, heard
// from a repeater (spec §9.1.3), get their own small block on the overview
// and the exposures page and their own JSON field, and that the block is
// absent when there are none.
func TestIndirectContactsBlock(t *testing.T) {
	indirect := []DaySummary{{Day: testNow.Truncate(24 * time.Hour), Source: SourceRepeater, MatchedMinutes: 3, Contacts: 1, MaxRSSI: -70, Score: 1.5}}
	for _, tc := range []struct {
		name     string
		indirect []DaySummary
	}{{"with indirect contacts", indirect}, {"without", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			be := newTestBackend()
			be.status.Indirect, be.exposures.Indirect = tc.indirect, tc.indirect
			h, _ := newTestHandler(t, Config{Backend: be})
			for _, path := range []string{"/", "/exposures"} {
				body := newBrowser(t, h).get(path).Body.String()
				if got := strings.Contains(body, `id="indirect-title"`); got != (tc.indirect != nil) {
					t.Errorf("%s: indirect block shown %v, want %v", path, got, tc.indirect != nil)
				}
			}
			for _, path := range []string{"/api/v1/status", "/api/v1/exposures"} {
				var v struct {
					Indirect []DaySummary `json:"indirect"`
				}
				if err := json.Unmarshal(newBrowser(t, h).get(path).Body.Bytes(), &v); err != nil {
					t.Fatal(err)
				}
				if len(v.Indirect) != len(tc.indirect) || (len(v.Indirect) == 1 && (v.Indirect[0].Source != SourceRepeater || v.Indirect[0].MatchedMinutes != 3)) {
					t.Errorf("%s: indirect %+v, want %+v", path, v.Indirect, tc.indirect)
				}
			}
		})
	}
}
