package node_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/demo"
	"github.com/pact-findmy/pact-findmy/internal/exposuresync"
	"github.com/pact-findmy/pact-findmy/internal/node"
	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/web"
)

// requests records what reaches the exposure server.
type requests struct {
	mu   sync.Mutex
	seen []string
}

func (r *requests) add(req *http.Request) {
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
}

func (r *requests) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

// TestNothingButDownloadsBeforeConsent checks PACT's promise on a node
// with a real exposure server: syncing only downloads (GET), a preview of
// a share sends nothing, and the one upload comes after the confirmation,
// with a redacted hour and without a refused share touching the seed log.
func TestNothingButDownloadsBeforeConsent(t *testing.T) {
	ctx := context.Background()
	es, err := demo.StartExposureServer(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	var rec requests
	es.Observe(rec.add)
	n, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Region: "CH", Servers: []exposuresync.Server{es.Server("main")}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	// Three hours of chirping: three seeds in the seed log.
	clock := &pact.ManualClock{}
	seeds := pact.NewSeedLog(n.DB(), pact.SeedLogOptions{Clock: clock})
	start := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	for h := range 3 {
		clock.Set(start.Add(time.Duration(h) * time.Hour))
		if _, _, _, err := seeds.ChirpNow(ctx); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := n.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range rec.take() {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("a sync sent %s; a sync only downloads", r)
		}
	}

	number, err := es.IssueNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := web.ShareRequest{PermissionNumber: number, ExcludeHours: []time.Time{start.Add(time.Hour)}}
	p, err := n.SharePreview(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("the preview sent %v; it must send nothing", got)
	}
	excluded := 0
	for _, h := range p.Hours {
		if h.Excluded {
			excluded++
		}
	}
	if len(p.Hours) != 3 || excluded != 1 {
		t.Fatalf("preview hours %+v; want 3 with one excluded", p.Hours)
	}

	bad := req
	bad.PermissionNumber = strings.Repeat("A", 20)
	res, err := n.ShareSubmit(ctx, bad)
	var fe *web.FieldError
	if err == nil && res.Accepted || err != nil && !errors.As(err, &fe) {
		t.Fatalf("a malformed number: %+v, %v; want a refusal", res, err)
	}

	res, err = n.ShareSubmit(ctx, req)
	if err != nil || !res.Accepted || res.Tuples != 3 {
		t.Fatalf("share: %+v, %v; want accepted with 3 seed-hours", res, err)
	}
	if got := rec.take(); len(got) != 1 || got[0] != "POST /v1/uploads" {
		t.Fatalf("the confirmed share sent %v; want exactly one upload", got)
	}
	again, err := n.ShareSubmit(ctx, req)
	if err != nil || again.Accepted || !again.Retry || again.Reason == "" {
		t.Fatalf("the same number again: %+v, %v; want a refusal saying why", again, err)
	}
}
