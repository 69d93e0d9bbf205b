package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/pact"
)

// loadtest issues numbers, then posts uploads of --tuples seed-hours each
// from --concurrency workers over loopback HTTP, and reports throughput
// and latency percentiles. Bodies are built before the clock starts, so
// the figure is the server's, not the generator's.
func loadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loadtest", "--data DIR [--postgres URL] [flags]", stdout, stderr)
	var sf storeFlags
	var vf serverFlags
	sf.register(fs.FlagSet)
	vf.register(fs.FlagSet)
	uploads := fs.Int("uploads", 2000, "number of uploads to send")
	concurrency := fs.Int("concurrency", 16, "concurrent clients")
	tuples := fs.Int("tuples", 504, "seed-hours per upload (504 = three weeks)")
	binary := fs.Bool("binary", false, "send the binary tuple encoding instead of JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	target := fs.String("url", "", "server to load (default: start one in this process on a loopback port); it must share --data and allow more than --concurrency attempts per network (serve --failures-per-hour)")
	attack := fs.String("findmy-attack", "", "instead of uploads, send uploads of the most Find My keys with proofs of possession from this one address for --duration and report the CPU their verification costs: "+findMyAttackKinds)
	duration := fs.Duration("duration", 20*time.Second, "how long --findmy-attack runs")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	if *attack != "" {
		return findMyAttack(ctx, &sf, &vf, *attack, *duration, *concurrency, stdout)
	}
	switch {
	case *uploads < 1:
		return cli.FlagErrorf("uploads", *uploads, "want at least 1")
	case *concurrency < 1:
		return cli.FlagErrorf("concurrency", *concurrency, "want at least 1")
	case *tuples < 1 || *tuples > 2160:
		return cli.FlagErrorf("tuples", *tuples, "want 1..2160")
	}
	vf.failuresPerHour = 1 << 30
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, store, err := newServer(ctx, &sf, &vf, quiet)
	if err != nil {
		return err
	}
	defer store.Close()
	hasher, err := sf.hasher()
	if err != nil {
		return err
	}

	numbers, hashes, err := drawNumbers(hasher, *uploads)
	if err != nil {
		return err
	}
	now := time.Now()
	if _, err := store.IssuePermissions(ctx, "loadtest", hashes, now, now.Add(24*time.Hour)); err != nil {
		return err
	}
	bodies := make([][]byte, *uploads)
	lastHour := pact.MinuteOf(now).HourStart()
	for i := range bodies {
		ts := make([]pact.Tuple, *tuples)
		for j := range ts {
			rand.Read(ts[j].Seed[:])
			ts[j].Start = lastHour - pact.Minute(*tuples-j)*pact.MinutesPerHour
			ts[j].End = ts[j].Start + pact.MinutesPerHour - 1
		}
		if *binary {
			bodies[i], _ = pact.EncodeTuples(ts)
		} else {
			bodies[i], _ = json.Marshal(map[string]any{"permission_number": numbers[i].Grouped(), "region": "LOAD", "tuples": ts})
		}
	}

	base := *target
	if base == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: srv.Handler()}
		go hs.Serve(ln)
		defer hs.Close()
		base = "http://" + ln.Addr().String()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency}}
	latencies := make([]time.Duration, *uploads)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *uploads || ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/uploads", bytes.NewReader(bodies[i]))
				if *binary {
					req.Header.Set("Content-Type", "application/vnd.pact.tuples")
					req.Header.Set("Pact-Permission-Number", string(numbers[i]))
					req.Header.Set("Pact-Region", "LOAD")
				} else {
					req.Header.Set("Content-Type", "application/json")
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					msg, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
					}
				}
				latencies[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	done := min(int(next.Load()), *uploads)
	lat := slices.Clone(latencies[:done])
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	backend := "sqlite (synchronous=" + sf.sqliteSync + ")"
	if sf.postgres != "" {
		backend = "postgresql"
	}
	enc := "json"
	if *binary {
		enc = "binary"
	}
	fmt.Fprintf(stdout, "backend=%s encoding=%s uploads=%d seed-hours/upload=%d concurrency=%d failed=%d\n",
		backend, enc, done, *tuples, *concurrency, failed.Load())
	fmt.Fprintf(stdout, "elapsed=%.2fs uploads/s=%.0f seed-hours/s=%.0f p50=%s p99=%s max=%s\n",
		elapsed.Seconds(), float64(done)/elapsed.Seconds(), float64(done**tuples)/elapsed.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	if e := firstErr.Load(); e != nil {
		return fmt.Errorf("%d uploads failed, first: %s", failed.Load(), e)
	}
	return nil
}
