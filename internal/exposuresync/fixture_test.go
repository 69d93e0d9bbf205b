package exposuresync

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/database/sqlitedb"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/server"
	"github.com/pact-findmy/pact-findmy/pact"
)

// testNow is minute 29 000 040, 2025-02-20T04:00Z: an hour boundary.
var testNow = time.Unix(29_000_040*60, 0).UTC()

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// exposureServer is a real pact-server (internal/server over SQLite) on
// loopback.
type exposureServer struct {
	srv    *server.Server
	store  *sqlitedb.Store
	hasher *model.Hasher
	clock  *testClock
	http   *httptest.Server
	key    ed25519.PublicKey
}

// newExposureServer starts a server whose handler is wrapped by wrap (nil
// for none), signing with a key derived from keySeed.
func newExposureServer(t testing.TB, keySeed byte, clock *testClock, wrap func(http.Handler) http.Handler) *exposureServer {
	t.Helper()
	store, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), "pact.db"), sqlitedb.Options{Sync: sqlitedb.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hasher, err := model.NewHasher(bytes.Repeat([]byte{keySeed}, model.SecretSize))
	if err != nil {
		t.Fatal(err)
	}
	signing := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{keySeed}, ed25519.SeedSize))
	srv, err := server.New(server.Options{
		Store: store, Hasher: hasher, SigningKey: signing, Clock: clock,
		// Each period's uploads at once, unpadded: the tests count entries.
		Config: server.Config{HoldUploads: 1, NoChaff: true},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &exposureServer{srv: srv, store: store, hasher: hasher, clock: clock, http: hs, key: srv.PublicKey()}
}

func (e *exposureServer) server(name string, regions ...string) Server {
	return Server{Name: name, URL: e.http.URL, Key: e.key, Regions: regions}
}

// upload issues a permission number and uploads ts to region through the
// HTTP API, as a diagnosed device does.
func (e *exposureServer) upload(t testing.TB, region string, ts []pact.Tuple) {
	t.Helper()
	n, err := model.NewPermissionNumber(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if _, err := e.store.IssuePermissions(context.Background(), "Test Lab", [][]byte{e.hasher.Hash(n)}, now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"permission_number": string(n), "region": region, "tuples": ts})
	resp, err := http.Post(e.http.URL+server.PathUploads, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("upload of %d tuples to %s: %s %s", len(ts), region, resp.Status, msg)
	}
}

// cut closes the current period and cuts it into batches, returning how
// many were cut.
func (e *exposureServer) cut(t testing.TB) int {
	t.Helper()
	e.clock.Add(10 * time.Minute)
	infos, err := e.srv.CutOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(infos)
}

func openDevice(t testing.TB) *devicedb.DB {
	t.Helper()
	db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// hear records in db the chirps of seed at each minute of minutes, as a
// scanner that heard them would.
func hear(t testing.TB, db *devicedb.DB, seed pact.Seed, rssi int8, minutes ...pact.Minute) {
	t.Helper()
	k := pact.NewChirpKey(&seed)
	var ss []pact.Sighting
	for _, m := range minutes {
		ss = append(ss, pact.Sighting{Chirp: k.Chirp(m), Minute: m, RSSI: rssi, Source: pact.SourcePACT})
	}
	if err := db.AddSightings(context.Background(), ss); err != nil {
		t.Fatal(err)
	}
}

func seedOf(b byte) pact.Seed {
	var s pact.Seed
	for i := range s {
		s[i] = b ^ byte(i*7)
	}
	return s
}

// hourTuple is the tuple of seed for the whole hour starting at start.
func hourTuple(seed pact.Seed, start pact.Minute) pact.Tuple {
	return pact.Tuple{Seed: seed, Start: start, End: start + pact.MinutesPerHour - 1}
}

// storedContacts returns the minutes heard of every PACT match stored in
// db, per seed.
func storedContacts(t testing.TB, db *devicedb.DB) map[pact.Seed][]pact.Minute {
	t.Helper()
	out := map[pact.Seed][]pact.Minute{}
	err := db.Contacts(context.Background(), 0, ^pact.Minute(0), func(c pact.Contact) error {
		out[c.Seed] = append(out[c.Seed], c.Heard)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newSyncer(t testing.TB, db *devicedb.DB, servers []Server, opts Options) *Syncer {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = &testClock{now: testNow.Add(time.Hour)}
	}
	s, err := New(db, servers, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
