package share_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/database/sqlitedb"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/server"
	"github.com/pact-findmy/pact-findmy/internal/share"
	"github.com/pact-findmy/pact-findmy/pact"
)

// start is 2025-02-19T21:25Z, five minutes into a 10-minute batch period.
var start = time.Unix(29_000_005*60, 0).UTC()

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// exposureServer is a real pact-server on loopback over SQLite.
type exposureServer struct {
	srv    *server.Server
	store  *sqlitedb.Store
	hasher *model.Hasher
	http   *httptest.Server
	clock  *pact.ManualClock
}

// newExposureServer publishes every share at the next cut, unpadded, so
// that tests can check a batch's exact content.
func newExposureServer(t *testing.T, clock *pact.ManualClock, signer byte) *exposureServer {
	t.Helper()
	return newExposureServerWith(t, clock, signer, server.Config{HoldUploads: 1, NoChaff: true})
}

func newExposureServerWith(t *testing.T, clock *pact.ManualClock, signer byte, cfg server.Config) *exposureServer {
	t.Helper()
	ctx := context.Background()
	store, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "pact.db"), sqlitedb.Options{Sync: sqlitedb.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hasher, _ := model.NewHasher(bytes.Repeat([]byte{signer}, model.SecretSize))
	srv, err := server.New(server.Options{
		Store: store, Hasher: hasher, SigningKey: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{signer}, 32)),
		Config: cfg, Clock: clock, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &exposureServer{srv: srv, store: store, hasher: hasher, http: hs, clock: clock}
}

// issue creates a permission number, as `pact-server authority issue` does.
func (s *exposureServer) issue(t *testing.T) string {
	t.Helper()
	n, err := model.NewPermissionNumber(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := s.clock.Now()
	if _, err := s.store.IssuePermissions(context.Background(), "Test Lab", [][]byte{s.hasher.Hash(n)}, now.Add(-time.Hour), now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return n.Grouped()
}

// cut closes the current period and returns the batches the cut made,
// fetched and verified by exposureclient.
func (s *exposureServer) cut(t *testing.T, c *exposureclient.Client) []*exposureclient.Batch {
	t.Helper()
	s.clock.Set(s.clock.Now().Add(10 * time.Minute))
	if _, err := s.srv.CutOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []*exposureclient.Batch
	if err := c.Sync(context.Background(), nil, func(b *exposureclient.Batch) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func (s *exposureServer) client(t *testing.T) *exposureclient.Client {
	t.Helper()
	c, err := exposureclient.New(s.http.URL, s.srv.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// device is a device database whose seed log covers hours hours before
// start and the current one.
type device struct {
	db    *devicedb.DB
	seeds map[pact.Minute]pact.Seed // by hour
}

func newDevice(t *testing.T, hours int) *device {
	t.Helper()
	db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := &device{db: db, seeds: make(map[pact.Minute]pact.Seed)}
	now := pact.MinuteOf(start)
	for i := 0; i <= hours; i++ {
		hour := now.HourStart() - pact.Minute(60*(hours-i))
		seed, err := pact.NewSeed(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		// The device drew each seed a few minutes into its hour.
		if _, err := db.PutSeed(context.Background(), pact.SeedRecord{Seed: seed, Start: hour + 3}); err != nil {
			t.Fatal(err)
		}
		d.seeds[hour] = seed
	}
	return d
}

// seedTable returns the seed log's rows as stored.
func (d *device) seedTable(t *testing.T) string {
	t.Helper()
	rows, err := d.db.SQL().Query(`SELECT hour, start, hex(seed) FROM seeds ORDER BY hour`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var h, s int64
		var seed string
		if err := rows.Scan(&h, &s, &seed); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %d %s\n", h, s, seed)
	}
	return b.String()
}

func newService(t *testing.T, d *device, clock pact.Clock, hc *http.Client, servers ...share.Server) *share.Service {
	t.Helper()
	s, err := share.New(share.Config{DB: d.db, Servers: servers, HTTPClient: hc, Clock: clock, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type testDevice struct {
	Secret          string `json:"secret"`
	PrivateKey      string `json:"private_key"`
	PublicKey       string `json:"public_key"`
	SecondarySecret string `json:"secondary_secret"`
}

func loadTestDevice(t *testing.T) testDevice {
	t.Helper()
	raw, err := os.ReadFile("testdata/findmy-device.json")
	if err != nil {
		t.Fatal(err)
	}
	var d testDevice
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// failingTransport fails the test on any request.
type failingTransport struct{ t *testing.T }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("request to %s: Preview must open no connection", r.URL)
	return nil, errors.New("no network in this test")
}

// recordingTransport keeps every request body it carries to the server.
type recordingTransport struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestPreviewOpensNoConnection(t *testing.T) {
	d := newDevice(t, 5)
	clock := &pact.ManualClock{}
	clock.Set(start)
	svc := newService(t, d, clock, &http.Client{Transport: failingTransport{t}}, share.Server{Name: "main", URL: "http://192.0.2.1"})
	fm := loadTestDevice(t)
	now := pact.MinuteOf(start)
	excluded := now.HourStart() - 120
	p, err := svc.Preview(context.Background(), share.Request{
		PermissionNumber: "", Region: "CH", Exclude: []pact.Minute{excluded},
		ReverseTracing: &exposureclient.MinuteRange{From: now - 300, To: now - 10},
		// Paired 48 hours ago: 192 whole slots and the one that began now.
		FindMy: []share.FindMyDevice{{Name: "keys", Secret: fm.Secret, PrivateKey: fm.PrivateKey, Epoch: start.Add(-48 * time.Hour)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Hours) != 6 || p.Excluded != 1 || p.Server != "main" || p.To != now {
		t.Fatalf("preview %+v: want the 6 hours of the seed log, one excluded, up to now", p)
	}
	for _, h := range p.Hours {
		if h.Excluded != (h.Hour == excluded) || h.Start != h.Hour+3 {
			t.Errorf("hour %+v: want start at minute 3, excluded only %v", h, excluded)
		}
	}
	// Slots begin at :10, :25, :40 and :55; the excluded hour 19:00 has
	// four of them and the 18:55 slot reaches into it.
	if p.FindMyKeys != 193 || len(p.FindMy) != 1 || p.FindMy[0].Redacted != 5 || p.FindMy[0].Last != now {
		t.Fatalf("Find My preview %+v (total %d): want 193 keys, 5 redacted, up to now", p.FindMy, p.FindMyKeys)
	}
}

func TestRequestValidation(t *testing.T) {
	d := newDevice(t, 3)
	clock := &pact.ManualClock{}
	clock.Set(start)
	svc := newService(t, d, clock, &http.Client{Transport: failingTransport{t}}, share.Server{Name: "main", URL: "http://192.0.2.1"})
	fm := loadTestDevice(t)
	now := pact.MinuteOf(start)
	good := func() share.Request {
		return share.Request{PermissionNumber: "5MT6T-2BKGN-9HP89-MD0V9", Region: "CH"}
	}
	device := func(mod func(*share.FindMyDevice)) []share.FindMyDevice {
		fd := share.FindMyDevice{Secret: fm.Secret, PrivateKey: fm.PrivateKey, Epoch: start.Add(-time.Hour)}
		mod(&fd)
		return []share.FindMyDevice{fd}
	}
	cases := []struct {
		name  string
		mod   func(*share.Request)
		want  error
		field string
	}{
		{"number typo", func(r *share.Request) { r.PermissionNumber = "5MT6T-2BKGN-9HP89-MD0V8" }, model.ErrChecksum, "permission_number"},
		{"number too short", func(r *share.Request) { r.PermissionNumber = "5MT6T" }, share.ErrPermissionNumber, "permission_number"},
		{"number bad symbol", func(r *share.Request) { r.PermissionNumber = "5MT6T-2BKGN-9HP89-MD0V!" }, model.ErrSymbol, "permission_number"},
		{"unknown server", func(r *share.Request) { r.Server = "other" }, share.ErrServer, "server"},
		{"empty region", func(r *share.Request) { r.Region = "" }, share.ErrRegion, "region"},
		{"region with a dot", func(r *share.Request) { r.Region = "C.H" }, share.ErrRegion, "region"},
		{"window backwards", func(r *share.Request) { r.From = start.Add(-time.Hour); r.To = start.Add(-2 * time.Hour) }, share.ErrWindow, "window"},
		{"nothing in the window", func(r *share.Request) { r.From = start.Add(-100 * time.Hour); r.To = start.Add(-50 * time.Hour) }, share.ErrNothingToShare, "window"},
		{"excluded hour not on the hour", func(r *share.Request) { r.Exclude = []pact.Minute{now.HourStart() - 59} }, share.ErrExcludedHour, "exclude[0]"},
		{"excluded hour outside the window", func(r *share.Request) {
			r.Exclude = []pact.Minute{now.HourStart(), now.HourStart() - 600}
		}, share.ErrExcludedHour, "exclude[1]"},
		{"reverse tracing backwards", func(r *share.Request) { r.ReverseTracing = &exposureclient.MinuteRange{From: now - 10, To: now - 20} }, share.ErrReverseTracing, "reverse_tracing"},
		{"reverse tracing before the window", func(r *share.Request) {
			r.From = start.Add(-2 * time.Hour)
			r.ReverseTracing = &exposureclient.MinuteRange{From: now - 300, To: now - 200}
		}, share.ErrReverseTracing, "reverse_tracing.to"},
		{"reverse tracing in the future", func(r *share.Request) { r.ReverseTracing = &exposureclient.MinuteRange{From: now + 5, To: now + 65} }, share.ErrReverseTracing, "reverse_tracing.from"},
		{"reverse tracing within one hour", func(r *share.Request) {
			r.ReverseTracing = &exposureclient.MinuteRange{From: now.HourStart() - 50, To: now.HourStart() - 10}
		}, share.ErrReverseTracing, "reverse_tracing"},
		{"secret not hex", func(r *share.Request) {
			r.FindMy = device(func(d *share.FindMyDevice) { d.Secret = "zz" + d.Secret[2:] })
		}, share.ErrFindMyDevice, "findmy[0].secret"},
		{"secret short", func(r *share.Request) { r.FindMy = device(func(d *share.FindMyDevice) { d.Secret = d.Secret[:62] }) }, share.ErrFindMyDevice, "findmy[0].secret"},
		{"private key zero", func(r *share.Request) {
			r.FindMy = device(func(d *share.FindMyDevice) { d.PrivateKey = strings.Repeat("0", 56) })
		}, findmy.ErrScalarRange, "findmy[0].private_key"},
		{"public key in place of the private key", func(r *share.Request) {
			r.FindMy = device(func(d *share.FindMyDevice) { d.PrivateKey = fm.PublicKey })
		}, findmy.ErrKeyLength, "findmy[0].private_key"},
		{"secondary secret short", func(r *share.Request) {
			r.FindMy = device(func(d *share.FindMyDevice) { d.SecondarySecret = fm.SecondarySecret[:62] })
		}, share.ErrFindMyDevice, "findmy[0].secondary_secret"},
		{"same device twice", func(r *share.Request) {
			r.FindMy = append(device(func(*share.FindMyDevice) {}), device(func(*share.FindMyDevice) {})...)
		}, share.ErrFindMyDevice, "findmy[1].secret"},
		{"no epoch", func(r *share.Request) { r.FindMy = device(func(d *share.FindMyDevice) { d.Epoch = time.Time{} }) }, share.ErrFindMyDevice, "findmy[0].epoch"},
		{"paired after the window", func(r *share.Request) {
			r.FindMy = device(func(d *share.FindMyDevice) { d.Epoch = start.Add(time.Hour) })
		}, share.ErrFindMyDevice, "findmy[0].epoch"},
		{"paired too long ago", func(r *share.Request) {
			r.FindMy = device(func(d *share.FindMyDevice) { d.Epoch = start.Add(-40 * 365 * 24 * time.Hour) })
		}, share.ErrFindMyDevice, "findmy[0].epoch"},
		{"window too long for keys", func(r *share.Request) {
			r.From = start.Add(-60 * 24 * time.Hour)
			r.FindMy = device(func(d *share.FindMyDevice) { d.Epoch = start.Add(-100 * 24 * time.Hour) })
		}, share.ErrTooManyKeys, "findmy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.mod(&r)
			for _, call := range []struct {
				name string
				fn   func() error
			}{
				{"Preview", func() error { _, err := svc.Preview(context.Background(), r); return err }},
				{"Submit", func() error { _, err := svc.Submit(context.Background(), r); return err }},
			} {
				err := call.fn()
				var fe *share.FieldError
				if !errors.Is(err, c.want) || !errors.As(err, &fe) || fe.Field != c.field {
					t.Errorf("%s: %v; want %v naming %q", call.name, err, c.want, c.field)
				}
			}
		})
	}
	// Submit needs the number that Preview may go without.
	r := good()
	r.PermissionNumber = ""
	if _, err := svc.Preview(context.Background(), r); err != nil {
		t.Fatalf("preview without a number: %v", err)
	}
	var fe *share.FieldError
	if _, err := svc.Submit(context.Background(), r); !errors.Is(err, share.ErrPermissionNumber) || !errors.As(err, &fe) || fe.Field != "permission_number" {
		t.Fatalf("submit without a number: %v; want ErrPermissionNumber", err)
	}
	if shares, err := d.db.Shares(context.Background(), 10); err != nil || len(shares) != 0 {
		t.Fatalf("invalid requests recorded shares: %+v, %v", shares, err)
	}
}

// TestSubmitRedactsAndIsConfirmed shares with one excluded hour and a Find
// My device, then reads the server's batch: exactly the excluded hour's
// seed is replaced, every other seed is the device's, the keys are those
// of the schedule, and the key material is nowhere in what was sent.
func TestSubmitRedactsAndIsConfirmed(t *testing.T) {
	ctx := context.Background()
	clock := &pact.ManualClock{}
	clock.Set(start)
	es := newExposureServer(t, clock, 7)
	d := newDevice(t, 5)
	rec := &recordingTransport{}
	svc := newService(t, d, clock, &http.Client{Transport: rec}, share.Server{Name: "main", URL: es.http.URL})
	tracker := share.NewTracker(d.db, share.TrackerOptions{Clock: clock, Logger: quiet})
	fm := loadTestDevice(t)
	now := pact.MinuteOf(start)
	excluded := now.HourStart() - 180
	epoch := start.Add(-3 * time.Hour)
	res, err := svc.Submit(ctx, share.Request{
		PermissionNumber: es.issue(t), Region: "CH", Exclude: []pact.Minute{excluded},
		ReverseTracing: &exposureclient.MinuteRange{From: now - 240, To: now},
		FindMy:         []share.FindMyDevice{{Name: "tag", Secret: fm.Secret, PrivateKey: fm.PrivateKey, Epoch: epoch}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != devicedb.SharePending || len(res.Hours) != 6 || res.FindMyKeys != 13 {
		t.Fatalf("result %+v: want pending with 6 hours and 13 keys", res)
	}

	batches := es.cut(t, es.client(t))
	if len(batches) != 1 {
		t.Fatalf("cut gave %d batches, want 1", len(batches))
	}
	b := batches[0]
	if len(b.Tuples) != 6 {
		t.Fatalf("batch holds %d tuples, want 6", len(b.Tuples))
	}
	for _, tp := range b.Tuples {
		hour := tp.Start.HourStart()
		real, ok := d.seeds[hour]
		switch {
		case !ok:
			t.Errorf("batch tuple %+v is of no hour of the seed log", tp)
		case hour == excluded && tp.Seed == real:
			t.Errorf("excluded hour %v was sent with its real seed", hour)
		case hour != excluded && tp.Seed != real:
			t.Errorf("hour %v was sent with seed %v, want the device's %v", hour, tp.Seed, real)
		}
		if tp.Start != hour+3 || tp.End != min(hour+59, now) {
			t.Errorf("tuple %+v: want minutes %d..%d", tp, hour+3, min(hour+59, now))
		}
	}

	// The keys are the schedule's, derived here from the private key.
	d0, err := findmy.ParsePrivateKey(fm.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	var want []findmy.Key
	if err := findmy.ScheduleFromPrivateKey(findmy.Secret(mustHex(t, fm.Secret)), d0, 0, 13, func(k findmy.RollingKey) error {
		if slot := epoch.Add(time.Duration(k.Index) * findmy.RotationPeriod); pact.MinuteOf(slot).HourStart() != excluded {
			want = append(want, k.Public.Key())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []findmy.Key
	for _, k := range b.FindMy {
		got = append(got, k.Key)
	}
	if len(b.FindMy) != 13 {
		t.Fatalf("batch holds %d Find My keys, want 13", len(b.FindMy))
	}
	for _, k := range want {
		if !slices.Contains(got, k) {
			t.Errorf("key %v of the schedule is not in the batch", k)
		}
	}
	// 13 keys from 18:25, the three that begin in the excluded hour
	// 18:00 replaced.
	if len(want) != 10 {
		t.Fatalf("%d schedule keys outside the excluded hour, want 10", len(want))
	}

	if len(rec.bodies) != 1 {
		t.Fatalf("%d requests reached the server, want 1", len(rec.bodies))
	}
	body := strings.ToLower(string(rec.bodies[0]))
	p0x := strings.ToLower(fm.PublicKey[2:58])
	for name, secret := range map[string]string{"SK_0": fm.Secret, "d_0": fm.PrivateKey, "P_0": fm.PublicKey, "x(P_0)": p0x} {
		if strings.Contains(body, strings.ToLower(secret)) {
			t.Errorf("upload body holds %s", name)
		}
	}
	// Every key, stand-ins included, carries a proof that verifies.
	for _, k := range b.FindMy {
		st := findmy.Statement{Key: k.Key, Start: uint32(k.Start), End: uint32(k.End), Region: b.Region}
		if k.Secondary {
			t.Errorf("key %s is secondary; the device has no secondary secret", k.Key)
		}
		if err := findmy.VerifyProof(st, k.Proof); err != nil {
			t.Errorf("key %s: %v", k.Key, err)
		}
	}
	for _, raw := range [][]byte{mustHex(t, fm.Secret), mustHex(t, fm.PrivateKey), mustHex(t, fm.PublicKey)} {
		if bytes.Contains(rec.bodies[0], raw) {
			t.Errorf("upload body holds key material in binary")
		}
	}
	if err := tracker.Observe(ctx, "main", b); err != nil {
		t.Fatal(err)
	}
	st, err := tracker.Status(ctx, 10)
	if err != nil || len(st) != 1 || st[0].Status != devicedb.ShareConfirmed || st[0].ConfirmedBy != b.ID ||
		st[0].Tuples != 6 || st[0].Redacted != 1 || st[0].FindMyKeys != 13 || !st[0].Reverse {
		t.Fatalf("status %+v, %v; want one share confirmed by %s", st, err, b.ID)
	}
	assertNoNumberStored(t, d)
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNoNumberStored checks that no table of the share flow has a column
// for the permission number.
func assertNoNumberStored(t *testing.T, d *device) {
	t.Helper()
	for _, table := range []string{"shares", "share_entries"} {
		rows, err := d.db.SQL().Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			rows.Scan(&name)
			if strings.Contains(name, "permission") || strings.Contains(name, "number") {
				t.Errorf("table %s has column %s", table, name)
			}
		}
		rows.Close()
	}
}

// TestRefusedUploadKeepsSeedLog submits with a spent number and with the
// server down, then retries with a fresh number.
func TestRefusedUploadKeepsSeedLog(t *testing.T) {
	ctx := context.Background()
	clock := &pact.ManualClock{}
	clock.Set(start)
	es := newExposureServer(t, clock, 7)
	d := newDevice(t, 4)
	svc := newService(t, d, clock, nil, share.Server{Name: "main", URL: es.http.URL}, share.Server{Name: "down", URL: "http://127.0.0.1:1"})
	before := d.seedTable(t)
	now := pact.MinuteOf(start)
	excluded := now.HourStart() - 60

	spent := es.issue(t)
	first, err := svc.Submit(ctx, share.Request{PermissionNumber: spent, Region: "CH"})
	if err != nil || first.Status != devicedb.SharePending {
		t.Fatalf("first share: %+v, %v", first, err)
	}
	for _, c := range []struct {
		name   string
		req    share.Request
		want   error
		status string
		code   string
	}{
		{"spent number", share.Request{PermissionNumber: spent, Region: "CH", Exclude: []pact.Minute{excluded}},
			exposureclient.ErrPermissionUsed, devicedb.ShareRefused, "permission_used"},
		{"unknown number", share.Request{PermissionNumber: "5MT6T-2BKGN-9HP89-MD0V9", Region: "CH", Exclude: []pact.Minute{excluded}},
			exposureclient.ErrPermissionUnknown, devicedb.ShareRefused, "permission_unknown"},
		{"server down", share.Request{PermissionNumber: es.issue(t), Server: "down", Region: "CH", Exclude: []pact.Minute{excluded}},
			exposureclient.ErrUnreachable, devicedb.ShareUnanswered, ""},
	} {
		res, err := svc.Submit(ctx, c.req)
		if !errors.Is(err, c.want) || res.Status != c.status || res.Code != c.code || res.ShareID == 0 {
			t.Errorf("%s: %+v, %v; want %v, status %s, code %q", c.name, res, err, c.want, c.status, c.code)
		}
		if after := d.seedTable(t); after != before {
			t.Fatalf("%s changed the seed log:\nbefore\n%s\nafter\n%s", c.name, before, after)
		}
	}
	retry, err := svc.Submit(ctx, share.Request{PermissionNumber: es.issue(t), Region: "CH", Exclude: []pact.Minute{excluded}})
	if err != nil || retry.Status != devicedb.SharePending {
		t.Fatalf("retry with a fresh number: %+v, %v", retry, err)
	}
	if after := d.seedTable(t); after != before {
		t.Fatalf("a share changed the seed log")
	}
	// The retry sent the same fresh seed for the excluded hour as the
	// unanswered attempt, which may have reached a server: two uploads
	// with different stand-ins next to the same real seeds would show
	// which hour was redacted.
	all, err := d.db.Shares(ctx, 10)
	if err != nil || len(all) != 5 {
		t.Fatalf("shares %+v, %v; want 5 attempts recorded", all, err)
	}
	stand := map[int64]string{}
	for _, sh := range all {
		es, err := d.db.ShareEntries(ctx, sh.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Redacted {
				stand[sh.ID] = fmt.Sprintf("%x", e.Value)
			}
		}
	}
	if stand[retry.ShareID] == "" || stand[retry.ShareID] != stand[all[1].ID] {
		t.Fatalf("stand-in seeds by share %v: want the retry (%d) to reuse the unanswered attempt's (%d)", stand, retry.ShareID, all[1].ID)
	}
	assertNoNumberStored(t, d)
}

// TestTrackerDetectsSuppression: a batch cut before the upload does not
// count against it; batches after it that lack it make it suspected, with
// a warning; the batch that holds it confirms it after all.
func TestTrackerDetectsSuppression(t *testing.T) {
	ctx := context.Background()
	clock := &pact.ManualClock{}
	clock.Set(start)
	es := newExposureServer(t, clock, 7)
	// withholding publishes, as if it were "main", batches of region CH
	// that never had the upload: a server that suppresses it.
	withholding := newExposureServer(t, clock, 8)
	d := newDevice(t, 2)
	other := newDevice(t, 2)
	var logs bytes.Buffer
	tracker := share.NewTracker(d.db, share.TrackerOptions{Clock: clock, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	mainClient, withholdingClient := es.client(t), withholding.client(t)

	// A batch of another upload, cut before the share.
	otherSvc := newService(t, other, clock, nil, share.Server{Name: "main", URL: es.http.URL})
	if _, err := otherSvc.Submit(ctx, share.Request{PermissionNumber: es.issue(t), Region: "CH", From: start.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	early := es.cut(t, mainClient)

	svc := newService(t, d, clock, nil, share.Server{Name: "main", URL: es.http.URL})
	res, err := svc.Submit(ctx, share.Request{PermissionNumber: es.issue(t), Region: "CH"})
	if err != nil {
		t.Fatal(err)
	}
	status := func() devicedb.Share {
		t.Helper()
		sh, err := d.db.ShareByID(ctx, res.ShareID)
		if err != nil {
			t.Fatal(err)
		}
		return sh
	}
	if err := tracker.Observe(ctx, "main", early[0]); err != nil {
		t.Fatal(err)
	}
	if sh := status(); sh.Status != devicedb.SharePending || sh.BatchesWithout != 0 {
		t.Fatalf("after a batch cut before the upload: %+v; want pending, nothing counted", sh)
	}

	// Two later batches of the region without the upload.
	withholdingSvc := newService(t, other, clock, nil, share.Server{Name: "w", URL: withholding.http.URL})
	for i := range 2 {
		clock.Set(clock.Now().Add(10 * time.Minute))
		if _, err := withholdingSvc.Submit(ctx, share.Request{PermissionNumber: withholding.issue(t), Region: "CH", From: start.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		later := withholding.cut(t, withholdingClient)
		// Observed twice, as after a sync that failed later on: it counts once.
		for range 2 {
			if err := tracker.Observe(ctx, "main", later[0]); err != nil {
				t.Fatal(err)
			}
		}
		// Batches of another server's name do not count.
		if err := tracker.Observe(ctx, "elsewhere", later[0]); err != nil {
			t.Fatal(err)
		}
		want := devicedb.SharePending
		if i == 1 {
			want = devicedb.ShareSuspected
		}
		if sh := status(); sh.Status != want || sh.BatchesWithout != i+1 {
			t.Fatalf("after %d batches without the upload: %+v; want %s", i+1, sh, want)
		}
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), fmt.Sprintf(`"share":%d`, res.ShareID)) {
		t.Fatalf("no warning naming share %d in the log:\n%s", res.ShareID, logs.String())
	}

	// The real server's batch holds it after all.
	held := es.cut(t, mainClient)
	if err := tracker.Observe(ctx, "main", held[len(held)-1]); err != nil {
		t.Fatal(err)
	}
	if sh := status(); sh.Status != devicedb.ShareConfirmed {
		t.Fatalf("after the batch that holds it: %+v; want confirmed", sh)
	}
}

// TestTrackerTimeLimit: a stored share that no batch confirms within the
// time limit is suspected.
// TestTrackerConfirmsAmongChaff: held with two other uploads (k = 3) and
// padded with chaff, the share is confirmed by its own seeds, and the
// other uploads' batch does not count it as missing before it is cut.
func TestTrackerConfirmsAmongChaff(t *testing.T) {
	ctx := context.Background()
	clock := &pact.ManualClock{}
	clock.Set(start)
	es := newExposureServerWith(t, clock, 7, server.Config{HoldUploads: 3})
	d := newDevice(t, 3)
	svc := newService(t, d, clock, nil, share.Server{Name: "main", URL: es.http.URL})
	res, err := svc.Submit(ctx, share.Request{PermissionNumber: es.issue(t), Region: "CH"})
	if err != nil {
		t.Fatal(err)
	}
	tracker := share.NewTracker(d.db, share.TrackerOptions{Clock: clock, Logger: quiet})
	c := es.client(t)
	if held := es.cut(t, c); len(held) != 0 {
		t.Fatalf("one upload held with k = 3 was published: %d batches", len(held))
	}
	for range 2 {
		other := newDevice(t, 2)
		otherSvc := newService(t, other, clock, nil, share.Server{Name: "main", URL: es.http.URL})
		if _, err := otherSvc.Submit(ctx, share.Request{PermissionNumber: es.issue(t), Region: "CH"}); err != nil {
			t.Fatal(err)
		}
	}
	got := es.cut(t, c)
	if len(got) != 1 || got[0].Uploads != 0 || len(got[0].Tuples) != 3*pact.DefaultBundleDays*24 {
		t.Fatalf("batches %d: want one batch padded to the first bucket of k = 3 without an upload count", len(got))
	}
	if err := tracker.Observe(ctx, "main", got[0]); err != nil {
		t.Fatal(err)
	}
	sh, err := d.db.ShareByID(ctx, res.ShareID)
	if err != nil || sh.Status != devicedb.ShareConfirmed || sh.ConfirmedBy != got[0].ID {
		t.Fatalf("share %+v, %v; want confirmed by %s", sh, err, got[0].ID)
	}
}

func TestTrackerTimeLimit(t *testing.T) {
	ctx := context.Background()
	clock := &pact.ManualClock{}
	clock.Set(start)
	es := newExposureServer(t, clock, 7)
	d := newDevice(t, 1)
	svc := newService(t, d, clock, nil, share.Server{Name: "main", URL: es.http.URL})
	res, err := svc.Submit(ctx, share.Request{PermissionNumber: es.issue(t), Region: "CH"})
	if err != nil {
		t.Fatal(err)
	}
	tracker := share.NewTracker(d.db, share.TrackerOptions{Clock: clock, Logger: quiet, MaxWait: time.Hour})
	clock.Set(start.Add(59 * time.Minute))
	if late, err := tracker.CheckOverdue(ctx); err != nil || len(late) != 0 {
		t.Fatalf("within the limit: %+v, %v", late, err)
	}
	clock.Set(start.Add(61 * time.Minute))
	late, err := tracker.CheckOverdue(ctx)
	if err != nil || len(late) != 1 || late[0].ID != res.ShareID || late[0].Status != devicedb.ShareSuspected {
		t.Fatalf("past the limit: %+v, %v; want share %d suspected", late, err, res.ShareID)
	}
}

// TestTwoDevicesRedactedAgain: two accessories paired at the same minute
// have slots that begin together; after an unanswered attempt, the retry
// sends each stand-in key once, and as many keys as before.
func TestTwoDevicesRedactedAgain(t *testing.T) {
	ctx := context.Background()
	clock := &pact.ManualClock{}
	clock.Set(start)
	es := newExposureServer(t, clock, 7)
	d := newDevice(t, 3)
	svc := newService(t, d, clock, nil, share.Server{Name: "main", URL: es.http.URL}, share.Server{Name: "down", URL: "http://127.0.0.1:1"})
	fm := loadTestDevice(t)
	second, err := findmy.ParsePrivateKey(fmt.Sprintf("%056x", 0x5eed))
	if err != nil {
		t.Fatal(err)
	}
	epoch := start.Add(-2 * time.Hour)
	now := pact.MinuteOf(start)
	req := share.Request{Server: "down", Region: "CH", PermissionNumber: es.issue(t), Exclude: []pact.Minute{now.HourStart() - 60},
		FindMy: []share.FindMyDevice{
			{Name: "a", Secret: fm.Secret, PrivateKey: fm.PrivateKey, Epoch: epoch},
			{Name: "b", Secret: strings.Repeat("ab", 32), PrivateKey: fmt.Sprintf("%x", second.Bytes()), Epoch: epoch},
		}}
	first, err := svc.Submit(ctx, req)
	if !errors.Is(err, exposureclient.ErrUnreachable) || first.Status != devicedb.ShareUnanswered {
		t.Fatalf("first attempt: %+v, %v; want unanswered", first, err)
	}
	req.Server = ""
	retry, err := svc.Submit(ctx, req)
	if err != nil || retry.FindMyKeys != first.FindMyKeys || retry.FindMyKeys != 18 {
		t.Fatalf("retry: %+v, %v; want stored with the first attempt's 18 keys", retry, err)
	}
	batches := es.cut(t, es.client(t))
	if len(batches) != 1 || len(batches[0].FindMy) != 18 {
		t.Fatalf("batches %+v: want one holding 18 distinct keys", batches)
	}
}

// TestReverseTracingRange checks the reverse-tracing range a preview (and
// so the upload) carries for the owner's range (spec §9.2): clipped to the
// shared window, rounded inward to whole hours inside it.
func TestReverseTracingRange(t *testing.T) {
	d := newDevice(t, 5)
	clock := &pact.ManualClock{}
	clock.Set(start)
	svc := newService(t, d, clock, &http.Client{Transport: failingTransport{t}}, share.Server{Name: "main", URL: "http://192.0.2.1"})
	now := pact.MinuteOf(start)
	hour := now.HourStart()
	windowFrom := pact.MinuteOf(start.Add(-pact.DefaultBundleDays * 24 * time.Hour)).HourStart()
	for _, tc := range []struct {
		name    string
		in, out exposureclient.MinuteRange
	}{
		{"whole hours are sent as they are", exposureclient.MinuteRange{From: hour - 180, To: hour - 61}, exposureclient.MinuteRange{From: hour - 180, To: hour - 61}},
		{"parts of hours are left out", exposureclient.MinuteRange{From: hour - 170, To: hour - 10}, exposureclient.MinuteRange{From: hour - 120, To: hour - 61}},
		{"a range reaching into the future ends at the window's end", exposureclient.MinuteRange{From: hour - 120, To: now + 1440}, exposureclient.MinuteRange{From: hour - 120, To: now}},
		{"a range before the window starts at the window's start", exposureclient.MinuteRange{From: 0, To: hour - 1}, exposureclient.MinuteRange{From: windowFrom, To: hour - 1}},
		{"the day picked in the dashboard, today included", exposureclient.MinuteRange{From: now - now%pact.MinutesPerDay, To: now - now%pact.MinutesPerDay + pact.MinutesPerDay - 1},
			exposureclient.MinuteRange{From: now - now%pact.MinutesPerDay, To: now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			p, err := svc.Preview(context.Background(), share.Request{Region: "CH", ReverseTracing: &in})
			if err != nil {
				t.Fatal(err)
			}
			if p.ReverseTracing == nil || *p.ReverseTracing != tc.out {
				t.Fatalf("range %v..%v is sent as %+v, want %v..%v", tc.in.From, tc.in.To, p.ReverseTracing, tc.out.From, tc.out.To)
			}
		})
	}
}

// TestSubmitSecondaryKeys shares an accessory with a secondary secret,
// paired 50 hours ago in UTC+01:00: besides its primary keys the upload
// holds the secondary key of every day of the window, rolling over at
// 04:00 local time, each flagged secondary with a proof that verifies,
// and the one whose day holds the excluded hour replaced by a stand-in
// (docs/findmy.md §9.3).
func TestSubmitSecondaryKeys(t *testing.T) {
	ctx := context.Background()
	clock := &pact.ManualClock{}
	clock.Set(start)
	es := newExposureServer(t, clock, 7)
	d := newDevice(t, 5)
	svc := newService(t, d, clock, nil, share.Server{Name: "main", URL: es.http.URL})
	fm := loadTestDevice(t)
	epoch := start.Add(-50 * time.Hour).In(time.FixedZone("", 3600))
	now := pact.MinuteOf(start)
	excluded := now.HourStart() - 120
	res, err := svc.Submit(ctx, share.Request{
		PermissionNumber: es.issue(t), Region: "CH", Exclude: []pact.Minute{excluded},
		FindMy: []share.FindMyDevice{{Name: "tag", Secret: fm.Secret, PrivateKey: fm.PrivateKey, SecondarySecret: fm.SecondarySecret, Epoch: epoch}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d0, err := findmy.ParsePrivateKey(fm.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	// start is 21:25 UTC, 22:25 local: paired at 20:25 local two days
	// before, so secondary keys 1 (to 04:00 the next day), 2 and 3 are
	// current in the window.
	type window struct{ start, end pact.Minute }
	want := map[findmy.Key]window{}
	if err := findmy.SecondaryKeysFromPrivateKey(findmy.Secret(mustHex(t, fm.SecondarySecret)), d0, 1, 3, func(k findmy.RollingKey) error {
		from, to, err := findmy.SecondaryWindow(epoch, k.Index)
		if err != nil {
			return err
		}
		w := window{pact.MinuteOf(from), min(pact.MinuteOf(to)-1, now)}
		if w.start <= excluded && excluded <= w.end {
			return nil // redacted
		}
		want[k.Public.Key()] = w
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(want) != 2 {
		t.Fatalf("fixture: %d secondary keys outside the excluded hour, want 2", len(want))
	}
	batches := es.cut(t, es.client(t))
	if len(batches) != 1 {
		t.Fatalf("cut gave %d batches, want 1", len(batches))
	}
	b := batches[0]
	secondary, primary := 0, 0
	for _, k := range b.FindMy {
		kind := findmy.PrimaryKey
		if k.Secondary {
			kind = findmy.SecondaryKey
			secondary++
			if w, ok := want[k.Key]; ok && (k.Start != w.start || k.End != w.end) {
				t.Errorf("secondary key %s: window %d..%d, want %d..%d", k.Key, k.Start, k.End, w.start, w.end)
			}
			delete(want, k.Key)
		} else {
			primary++
		}
		if err := findmy.VerifyProof(findmy.Statement{Key: k.Key, Kind: kind, Start: uint32(k.Start), End: uint32(k.End), Region: "CH"}, k.Proof); err != nil {
			t.Errorf("key %s: %v", k.Key, err)
		}
	}
	if secondary != 3 || len(want) != 0 {
		t.Errorf("batch holds %d secondary keys, want 3; missing %v", secondary, want)
	}
	if primary != 201 || res.FindMyKeys != primary+secondary {
		t.Errorf("batch holds %d primary keys, result says %d in all; want 201 primary", primary, res.FindMyKeys)
	}
}
