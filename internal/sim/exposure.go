package sim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/sqlitedb"
	"github.com/pact-findmy/pact-findmy/internal/server"
	"github.com/pact-findmy/pact-findmy/pact"
)

// exposureServer is a real pact-server (internal/server over SQLite)
// serving on a loopback port of this process, its clock driven by the
// simulation. Uploads reach it as HTTP requests from exposureclient, and
// batches leave it the same way, so every byte counted is a byte the
// real code put on the wire.
type exposureServer struct {
	dir    string
	store  *sqlitedb.Store
	srv    *server.Server
	clock  *pact.ManualClock
	hasher *model.Hasher
	hs     *http.Server
	base   string
	client *http.Client
	// received counts the response body bytes the client read.
	received *atomic.Int64
}

func startExposureServer(ctx context.Context, dir string, periodMinutes uint32, start time.Time) (*exposureServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: exposure server directory: %w", err)
	}
	store, err := sqlitedb.Open(ctx, filepath.Join(dir, "pact-server.db"), sqlitedb.Options{Sync: sqlitedb.SyncNormal})
	if err != nil {
		return nil, fmt.Errorf("sim: exposure server database: %w", err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	hasher, err := model.NewHasher(secret)
	if err != nil {
		store.Close()
		return nil, err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		store.Close()
		return nil, err
	}
	clock := &pact.ManualClock{}
	clock.Set(start)
	srv, err := server.New(server.Options{
		Store: store, Hasher: hasher, SigningKey: key, Clock: clock,
		Config: server.Config{PeriodMinutes: periodMinutes},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("sim: exposure server: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("sim: exposure server listener: %w", err)
	}
	e := &exposureServer{
		dir: dir, store: store, srv: srv, clock: clock, hasher: hasher,
		hs:       &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: time.Minute},
		base:     "http://" + ln.Addr().String(),
		received: &atomic.Int64{},
	}
	e.client = &http.Client{Transport: countingTransport{http.DefaultTransport, e.received}}
	go e.hs.Serve(ln)
	return e, nil
}

// countingTransport counts the body bytes of every response.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		resp.Body = countingBody{resp.Body, t.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (e *exposureServer) close() {
	e.hs.Close()
	e.store.Close()
}

// issue has the testing authority issue n permission numbers valid from
// from to until.
func (e *exposureServer) issue(ctx context.Context, n int, from, until time.Time) ([]model.PermissionNumber, error) {
	numbers := make([]model.PermissionNumber, n)
	hashes := make([][]byte, n)
	for i := range numbers {
		var err error
		if numbers[i], err = model.NewPermissionNumber(nil); err != nil {
			return nil, err
		}
		hashes[i] = e.hasher.Hash(numbers[i])
	}
	if n == 0 {
		return nil, nil
	}
	if _, err := e.store.IssuePermissions(ctx, "sim", hashes, from, until); err != nil {
		return nil, fmt.Errorf("sim: issuing %d permission numbers: %w", n, err)
	}
	return numbers, nil
}

// upload sends up at simulated time at and returns the request body's
// size.
func (e *exposureServer) upload(ctx context.Context, at time.Time, up exposureclient.Upload) (int, error) {
	e.clock.Set(at)
	body, err := json.Marshal(up)
	if err != nil {
		return 0, err
	}
	if _, err := exposureclient.SendUpload(ctx, e.client, e.base, up); err != nil {
		return 0, fmt.Errorf("sim: upload of %d tuples and %d Find My keys at %s: %w", len(up.Tuples), len(up.FindMyKeys), at.Format(time.RFC3339), err)
	}
	return len(body), nil
}

// cut cuts every period closed at simulated time at.
func (e *exposureServer) cut(ctx context.Context, at time.Time) ([]database.BatchInfo, error) {
	e.clock.Set(at)
	return e.srv.CutOnce(ctx)
}

// download syncs region (every region when "") from scratch through a
// fresh exposureclient and returns the verified batches and the response
// bytes it read (listing and batches).
func (e *exposureServer) download(ctx context.Context, region string) ([]*exposureclient.Batch, int64, error) {
	c, err := exposureclient.New(e.base, e.srv.PublicKey(), e.client)
	if err != nil {
		return nil, 0, err
	}
	before := e.received.Load()
	var out []*exposureclient.Batch
	var regions []string
	if region != "" {
		regions = []string{region}
	}
	if err := c.Sync(ctx, regions, func(b *exposureclient.Batch) error {
		out = append(out, b)
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("sim: downloading region %q: %w", region, err)
	}
	return out, e.received.Load() - before, nil
}

// storage returns the bytes of the server's database files.
func (e *exposureServer) storage() (int64, error) {
	var total int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		fi, err := os.Stat(filepath.Join(e.dir, "pact-server.db"+suffix))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}
