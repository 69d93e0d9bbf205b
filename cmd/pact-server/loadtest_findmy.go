package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
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
	"github.com/pact-findmy/pact-findmy/internal/server"
	"github.com/pact-findmy/pact-findmy/pact"
)

const findMyAttackKinds = `"bad-window" (keys outside the accepted window, the number unspent) or "unknown-number" (keys in the window with valid proofs of possession, numbers never issued)`

// findMyAttack measures what one client network can make the server spend
// on Find My proofs of possession: --concurrency workers on one loopback
// address post uploads of the most keys allowed, each with a proof that
// verifies (an attacker signs for keys of its own making), for
// --duration, against a server in this process with the configured
// limits (serve's --failures-per-hour). It reports the process CPU time,
// which the verifications dominate (a worker's request costs
// microseconds), and that time per minute.
func findMyAttack(ctx context.Context, sf *storeFlags, vf *serverFlags, kind string, duration time.Duration, concurrency int, stdout io.Writer) error {
	if duration <= 0 {
		return fmt.Errorf("--duration %v: want a positive duration", duration)
	}
	now := pact.MinuteOf(time.Now())
	var first pact.Minute
	switch kind {
	case "bad-window":
		// Minute 15 is in 1970: past retention.
		first = 15
	case "unknown-number":
		// The keys of the last three weeks, ending an hour ago.
		first = now - 60 - server.MaxFindMyKeys*15
	default:
		return fmt.Errorf("--findmy-attack %q: want %s", kind, findMyAttackKinds)
	}
	keys, err := attackKeys(first, "LOAD")
	if err != nil {
		return err
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
	bodies := make([][]byte, len(numbers))
	for i, n := range numbers {
		bodies[i], _ = json.Marshal(map[string]any{"permission_number": n, "region": "LOAD", "tuples": []any{}, "findmy_keys": keys})
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
	// Requests cut off at the deadline stop verifying at once or not; wait
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
	// The verifications' share: the proofs the server counted, at the
	// cost per proof timed in this run.
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	verified, ok := metricValue(rec.Body.String(), "pact_findmy_proofs_verified_total")
	if !ok {
		fmt.Fprintln(stdout, "verification: this server counts no proofs")
		return nil
	}
	perProof := verificationCost(keys)
	total := time.Duration(verified * float64(perProof))
	fmt.Fprintf(stdout, "verification: proofs=%.0f at %v each: cpu=%.2fs cpu-per-minute=%.1fs\n",
		verified, perProof.Round(time.Microsecond), total.Seconds(), total.Seconds()*float64(time.Minute)/float64(elapsed))
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

// attackKeys returns server.MaxFindMyKeys primary keys of consecutive
// 15-minute slots from first, each with a valid proof for region: the
// attacker draws the private keys itself.
func attackKeys(first pact.Minute, region string) ([]map[string]any, error) {
	out := make([]map[string]any, 0, server.MaxFindMyKeys)
	for i := range server.MaxFindMyKeys {
		d, err := findmy.NewPrivateKey(new(big.Int).SetInt64(int64(1_000_003 + i)).FillBytes(make([]byte, findmy.KeySize)))
		if err != nil {
			return nil, err
		}
		start := first + pact.Minute(i)*15
		st := findmy.Statement{Key: d.Public().Key(), Start: uint32(start), End: uint32(start + 14), Region: region}
		p, err := findmy.SignProof(d, st)
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"key": st.Key.String(), "start": st.Start, "end": st.End, "proof": p.String()})
	}
	return out, nil
}

// verificationCost times one proof verification in CPU time.
func verificationCost(keys []map[string]any) time.Duration {
	const n = 50
	sts := make([]findmy.Statement, 0, n)
	proofs := make([]findmy.Proof, 0, n)
	for _, k := range keys[:n] {
		key, _ := findmy.ParseKey(k["key"].(string))
		p, _ := findmy.ParseProof(k["proof"].(string))
		sts = append(sts, findmy.Statement{Key: key, Start: k["start"].(uint32), End: k["end"].(uint32), Region: "LOAD"})
		proofs = append(proofs, p)
	}
	t0 := processCPU()
	for i := range sts {
		findmy.VerifyProof(sts[i], proofs[i])
	}
	return (processCPU() - t0) / n
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
