package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/database/sqlitedb"
	"github.com/pact-findmy/pact-findmy/internal/exposuresync"
	"github.com/pact-findmy/pact-findmy/internal/keyfile"
	"github.com/pact-findmy/pact-findmy/internal/server"
)

// ExposureServer is a real exposure server (internal/server on SQLite)
// with one-minute batches, serving on a loopback port: the demo's, and
// the one tests of the node sync from and share to.
type ExposureServer struct {
	URL    string
	srv    *server.Server
	store  *sqlitedb.Store
	hasher *model.Hasher
	http   *http.Server
	// handler serves every request; Observe puts observers in front.
	handler atomic.Pointer[http.Handler]
}

// StartExposureServer keeps its database and keys in dir.
func StartExposureServer(ctx context.Context, dir string, log *slog.Logger) (*ExposureServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	store, err := sqlitedb.Open(ctx, filepath.Join(dir, "pact-server.db"), sqlitedb.Options{})
	if err != nil {
		return nil, err
	}
	es := &ExposureServer{store: store}
	fail := func(err error) (*ExposureServer, error) {
		store.Close()
		return nil, err
	}
	secret, err := keyfile.PermissionSecret(dir)
	if err != nil {
		return fail(err)
	}
	if es.hasher, err = model.NewHasher(secret); err != nil {
		return fail(err)
	}
	key, err := keyfile.SigningKey(dir)
	if err != nil {
		return fail(err)
	}
	cfg := server.DefaultConfig()
	cfg.PeriodMinutes = 1
	// The demo has one diagnosed user: publish their upload at the next
	// cut instead of holding it for others (docs/api.md, "Holding and
	// chaff"); the batch is still padded with chaff.
	cfg.HoldUploads = 1
	if es.srv, err = server.New(server.Options{Store: store, Hasher: es.hasher, SigningKey: key, Config: cfg, Logger: log}); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(fmt.Errorf("demo: exposure server: %w", err))
	}
	es.URL = "http://" + ln.Addr().String()
	h := es.srv.Handler()
	es.handler.Store(&h)
	es.http = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*es.handler.Load()).ServeHTTP(w, r) }), ReadHeaderTimeout: 10 * time.Second}
	go es.http.Serve(ln)
	return es, nil
}

// Observe puts fn in front of every request the server gets from now on.
// Call it before the requests to observe.
func (es *ExposureServer) Observe(fn func(*http.Request)) {
	next := *es.handler.Load()
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn(r)
		next.ServeHTTP(w, r)
	})
	es.handler.Store(&h)
}

// Server is the server as a node's configuration names it, with its key
// pinned.
func (es *ExposureServer) Server(name string) exposuresync.Server {
	return exposuresync.Server{Name: name, URL: es.URL, Key: es.srv.PublicKey()}
}

// IssueNumber issues one permission number, as `pact-server authority
// issue` does for a health provider.
func (es *ExposureServer) IssueNumber(ctx context.Context) (string, error) {
	number, err := model.NewPermissionNumber(nil)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	if _, err := es.store.IssuePermissions(ctx, "demo clinic", [][]byte{es.hasher.Hash(number)}, now, now.Add(24*time.Hour)); err != nil {
		return "", err
	}
	return string(number), nil
}

// Cut cuts the uploads of every closed period into signed batches.
func (es *ExposureServer) Cut(ctx context.Context) error {
	if _, err := es.srv.CutOnce(ctx); err != nil {
		return fmt.Errorf("demo: cutting batches: %w", err)
	}
	return nil
}

// Close stops serving and closes the database.
func (es *ExposureServer) Close() error {
	es.http.Close()
	return es.store.Close()
}
