package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

const findMyAttackKinds = `"bad-window" (keys outside the accepted window, the number unspent) or "unknown-number" (keys in the window, numbers never issued)`

// Schedule material of docs/findmy.md's vectors; any SK_0 and P_0 cost the same.
const (
	attackSecret    = "93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba"
	attackPublicKey = "04ecd8e89e5f76b78f597d9414a953e65ce2509910110a06bf48d1a249d910342aea4450becc5a1fdc7bb7390663fabda1b3365a1406637201"
	// attackFrom and attackCount are the most one upload may ask for:
	// two entries of (2^20 + 2016) steps each.
	attackFrom  = 1 << 20
	attackCount = 21 * 24 * 4
)

// findMyAttack measures what one client network can make the server spend
// on Find My key derivation: --concurrency workers on one loopback address
// post uploads of two schedule entries of the largest allowed cost for
// --duration, against a server in this process with the configured limits
// (serve's --failures-per-hour). It reports the process CPU time, which
// the derivations dominate (a worker's request costs microseconds), and
// that time per minute.
func findMyAttack(ctx context.Context, sf *storeFlags, vf *serverFlags, kind string, duration time.Duration, concurrency int, stdout io.Writer) error {
	if duration <= 0 {
		return fmt.Errorf("--duration %v: want a positive duration", duration)
	}
	now := pact.MinuteOf(time.Now())
	var epoch pact.Minute
	switch kind {
	case "bad-window":
		// Key from 2^20 starts 2^20 * 15 minutes after minute 0, in 1999:
		// past retention.
		epoch = 0
	case "unknown-number":
		// The last key ends now and the first starts three weeks ago.
		epoch = now - (attackFrom+attackCount)*15
	default:
		return fmt.Errorf("--findmy-attack %q: want %s", kind, findMyAttackKinds)
	}
	srv, store, err := newServer(ctx, sf, vf, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer store.Close()
	hasher, err := sf.hasher()
	if err != nil {
		return err
	}
	// Well-formed numbers, never issued: the attacker holds none.
	numbers, _, err := drawNumbers(hasher, 4096)
	if err != nil {
		return err
	}
	entry := map[string]any{"secret": attackSecret, "public_key": attackPublicKey, "epoch": epoch, "from": attackFrom, "count": attackCount}
	bodies := make([][]byte, len(numbers))
	for i, n := range numbers {
		bodies[i], _ = json.Marshal(map[string]any{"permission_number": n, "region": "LOAD", "tuples": []any{}, "findmy_schedule": []any{entry, entry}})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/v1/uploads"

	runCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var mu sync.Mutex
	statuses := map[int]int{}
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; runCtx.Err() == nil; i += concurrency {
				req, _ := http.NewRequestWithContext(runCtx, http.MethodPost, url, bytes.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue // the run ended mid-request
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Requests cut off at the deadline stop deriving at once or not; wait
	// for the handlers so their CPU is counted.
	hs.Shutdown(context.Background())
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	fmt.Fprintf(stdout, "findmy-attack=%s concurrency=%d elapsed=%.1fs responses:", kind, concurrency, elapsed.Seconds())
	for _, c := range codes {
		fmt.Fprintf(stdout, " %d=%d", c, statuses[c])
	}
	fmt.Fprintf(stdout, "\nprocess cpu=%.2fs cpu-per-minute=%.1fs (HTTP handling of every request included)\n", cpu.Seconds(), cpu.Seconds()*float64(time.Minute)/float64(elapsed))
	// The derivation's share: the work the server counted, at the cost
	// per unit timed in this run.
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	updates, okU := metricValue(rec.Body.String(), "pact_findmy_secret_updates_total")
	keys, okK := metricValue(rec.Body.String(), "pact_findmy_keys_derived_total")
	if !okU || !okK {
		fmt.Fprintln(stdout, "derivation: this server counts no derivation work")
		return nil
	}
	perUpdate, perKey := derivationCosts()
	derivation := time.Duration(updates*float64(perUpdate) + keys*float64(perKey))
	fmt.Fprintf(stdout, "derivation: secret-updates=%.0f keys=%.0f at %v and %v each: cpu=%.2fs cpu-per-minute=%.1fs\n",
		updates, keys, perUpdate, perKey.Round(time.Microsecond), derivation.Seconds(), derivation.Seconds()*float64(time.Minute)/float64(elapsed))
	return nil
}

// metricValue reads an unlabelled sample from Prometheus text output.
func metricValue(text, name string) (float64, bool) {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// derivationCosts times a secret update and a key derivation in CPU time.
func derivationCosts() (perUpdate, perKey time.Duration) {
	p0, err := findmy.ParsePublicKey(attackPublicKey)
	if err != nil {
		panic(err)
	}
	var sk findmy.Secret
	const updates, keys = 100_000, 50
	t0 := processCPU()
	sk = sk.Advance(updates)
	t1 := processCPU()
	for range keys {
		p0.Derive(sk)
	}
	t2 := processCPU()
	return (t1 - t0) / updates, (t2 - t1) / keys
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
