package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/postgresdb"
	"github.com/pact-findmy/pact-findmy/internal/server"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Violations of the scale-out guarantees (docs/deploy.md) that a replica
// run checks.
var (
	// ErrSpentTwice: one permission number bought two stored uploads.
	ErrSpentTwice = errors.New("a permission number was spent twice")
	// ErrCutTwice: a stored seed appears in more than one batch, or twice
	// in one.
	ErrCutTwice = errors.New("an upload was cut into more than one batch")
	// ErrUploadLost: a stored seed appears in no batch, or a batch holds
	// a seed nobody stored.
	ErrUploadLost = errors.New("a stored upload is missing from the batches")
	// ErrSequenceGap: a region's batch sequence skips or repeats a number.
	ErrSequenceGap = errors.New("batch sequence is not consecutive from 1")
)

// replicaOptions configure one scale-out run.
type replicaOptions struct {
	url         string // PostgreSQL; the run uses a fresh schema, dropped afterwards
	replicas    int
	uploads     int // distinct permission numbers, each posted once
	doubleSpend int // more numbers, each posted to every replica at once
	tuples      int // seed-hours per upload
	concurrency int
	// cutEvery is how often the shared clock moves one period on and
	// every replica cuts at once, while uploads go on.
	cutEvery time.Duration
}

// replicaResult is what one run measured.
type replicaResult struct {
	Replicas        int
	Stored          int // uploads answered 201
	DoubleSpends    int // numbers posted to every replica at once
	RefusedAsUsed   int // answers permission_used
	Cuts            int // CutOnce calls, all replicas together
	Batches         int
	SeedHours       int // entries across all batches
	Elapsed         time.Duration
	UploadsPerSec   float64
	SeedHoursPerSec float64
}

// runReplicas starts o.replicas servers, each with a pool of its own, on
// one PostgreSQL schema, posts uploads to them from o.concurrency clients
// while every replica keeps cutting batches at once, and then checks the
// guarantees: no number bought two uploads, every stored seed-hour is in
// exactly one batch, and batch sequences have no gaps.
func runReplicas(ctx context.Context, o replicaOptions) (replicaResult, error) {
	res := replicaResult{Replicas: o.replicas}
	var b [6]byte
	rand.Read(b[:])
	schema := "replicas_" + hex.EncodeToString(b[:])
	defer func() {
		conn, err := pgx.Connect(context.WithoutCancel(ctx), o.url)
		if err == nil {
			conn.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`)
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	secret := make([]byte, 32)
	rand.Read(secret)
	hasher, err := model.NewHasher(secret)
	if err != nil {
		return res, err
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return res, err
	}
	clock := &pact.ManualClock{}
	now := time.Now().UTC().Truncate(time.Minute)
	clock.Set(now)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	stores := make([]database.Store, o.replicas)
	servers := make([]*server.Server, o.replicas)
	bases := make([]string, o.replicas)
	for r := range o.replicas {
		st, err := postgresdb.Open(ctx, o.url, postgresdb.Options{Schema: schema, MaxConns: int32(max(4, o.concurrency))})
		if err != nil {
			return res, fmt.Errorf("replica %d: %w", r, err)
		}
		defer st.Close()
		stores[r] = st
		srv, err := server.New(server.Options{Store: st, Hasher: hasher, SigningKey: key, Clock: clock, Logger: quiet,
			// Every upload is cut at once and without chaff, so that each
			// stored seed-hour can be found in exactly one batch and each
			// batch seed traced back to a stored upload.
			Config: server.Config{PeriodMinutes: 1, FailuresPerHour: 1 << 30, HoldUploads: 1, NoChaff: true}})
		if err != nil {
			return res, err
		}
		servers[r] = srv
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return res, err
		}
		hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: time.Minute}
		go hs.Serve(ln)
		defer hs.Close()
		bases[r] = "http://" + ln.Addr().String()
	}

	total := o.uploads + o.doubleSpend
	numbers, hashes, err := drawNumbers(hasher, total)
	if err != nil {
		return res, err
	}
	if _, err := stores[0].IssuePermissions(ctx, "scale-out", hashes, now.Add(-time.Hour), now.Add(24*time.Hour)); err != nil {
		return res, err
	}
	bodies := make([][]byte, total)
	seedOf := make(map[pact.Seed]int, total*o.tuples)
	lastHour := pact.MinuteOf(now).HourStart()
	for i := range bodies {
		ts := make([]pact.Tuple, o.tuples)
		for j := range ts {
			rand.Read(ts[j].Seed[:])
			ts[j].Start = lastHour - pact.Minute(o.tuples-j)*pact.MinutesPerHour
			ts[j].End = ts[j].Start + pact.MinutesPerHour - 1
			seedOf[ts[j].Seed] = i
		}
		bodies[i], _ = json.Marshal(exposureclient.Upload{PermissionNumber: numbers[i].Grouped(), Region: fmt.Sprintf("R%d", i%3), Tuples: ts})
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency}}
	post := func(base string, body []byte) (exposureclient.UploadResult, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+server.PathUploads, bytes.NewReader(body))
		if err != nil {
			return exposureclient.UploadResult{}, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return exposureclient.UploadResult{}, err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, exposureclient.MaxUploadAnswerBytes))
		return exposureclient.ParseUploadAnswer(resp.StatusCode, msg)
	}

	stored := make([]atomic.Int32, total)
	var refusedUsed, cuts atomic.Int64
	var firstErr error
	var errMu sync.Mutex
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	record := func(i int, r exposureclient.UploadResult, err error) {
		switch {
		case err == nil && r.Stored:
			stored[i].Add(1)
		case errors.Is(err, exposureclient.ErrPermissionUsed):
			refusedUsed.Add(1)
		default:
			fail(fmt.Errorf("upload %d: %w", i, err))
		}
	}
	cutAll := func() {
		var wg sync.WaitGroup
		for _, srv := range servers {
			wg.Go(func() {
				if _, err := srv.CutOnce(ctx); err != nil {
					fail(fmt.Errorf("cutting: %w", err))
				}
				cuts.Add(1)
			})
		}
		wg.Wait()
	}
	loadDone := make(chan struct{})
	cutterDone := make(chan struct{})
	go func() {
		defer close(cutterDone)
		tick := time.NewTicker(o.cutEvery)
		defer tick.Stop()
		for {
			select {
			case <-loadDone:
				return
			case <-tick.C:
				clock.Set(clock.Now().Add(time.Minute))
				cutAll()
			}
		}
	}()

	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range o.concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total || ctx.Err() != nil {
					return
				}
				if i >= o.uploads {
					// A number posted to every replica at the same moment.
					var inner sync.WaitGroup
					for _, base := range bases {
						inner.Go(func() {
							r, err := post(base, bodies[i])
							record(i, r, err)
						})
					}
					inner.Wait()
					continue
				}
				r, err := post(bases[i%len(bases)], bodies[i])
				record(i, r, err)
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	close(loadDone)
	<-cutterDone
	clock.Set(clock.Now().Add(2 * time.Minute))
	cutAll()
	if firstErr != nil {
		return res, firstErr
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	res.DoubleSpends = o.doubleSpend
	res.RefusedAsUsed = int(refusedUsed.Load())
	res.Cuts = int(cuts.Load())
	for i := range stored {
		n := int(stored[i].Load())
		if n > 1 {
			return res, fmt.Errorf("number %d stored %d uploads: %w", i, n, ErrSpentTwice)
		}
		res.Stored += n
	}
	if want := res.DoubleSpends * (o.replicas - 1); res.RefusedAsUsed != want {
		return res, fmt.Errorf("%d answers permission_used, want %d (one per extra replica of each double spend): %w", res.RefusedAsUsed, want, ErrSpentTwice)
	}
	// Every stored seed-hour in exactly one batch.
	infos, err := stores[0].Batches(ctx, "", 0)
	if err != nil {
		return res, err
	}
	res.Batches = len(infos)
	seen := make(map[pact.Seed]bool, len(seedOf))
	lastSeq := map[string]uint64{}
	for _, info := range infos {
		if info.Sequence != lastSeq[info.Region]+1 {
			return res, fmt.Errorf("region %s: batch %d after %d: %w", info.Region, info.Sequence, lastSeq[info.Region], ErrSequenceGap)
		}
		lastSeq[info.Region] = info.Sequence
		_, data, err := stores[0].Batch(ctx, info.Region, info.Sequence)
		if err != nil {
			return res, err
		}
		bt, err := batch.Decode(data, pub)
		if err != nil {
			return res, fmt.Errorf("batch %s: %w", info.ID(), err)
		}
		for _, t := range bt.Tuples {
			i, ok := seedOf[t.Seed]
			switch {
			case !ok || stored[i].Load() == 0:
				return res, fmt.Errorf("batch %s holds seed %s of no stored upload: %w", info.ID(), t.Seed, ErrUploadLost)
			case seen[t.Seed]:
				return res, fmt.Errorf("seed %s of upload %d in a second batch, %s: %w", t.Seed, i, info.ID(), ErrCutTwice)
			}
			seen[t.Seed] = true
		}
		res.SeedHours += len(bt.Tuples)
	}
	if want := res.Stored * o.tuples; res.SeedHours != want {
		return res, fmt.Errorf("batches hold %d seed-hours, %d uploads of %d were stored: %w", res.SeedHours, res.Stored, o.tuples, ErrUploadLost)
	}
	res.UploadsPerSec = float64(res.Stored) / res.Elapsed.Seconds()
	res.SeedHoursPerSec = float64(res.SeedHours) / res.Elapsed.Seconds()
	return res, nil
}

// scaleOut is `pact-server scale-out`: one replica, then two (or more),
// each run on a fresh schema of the same PostgreSQL, under the same load,
// in one invocation, so that the two throughputs are comparable.
func scaleOut(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("scale-out", "--postgres URL [flags]", stdout, stderr)
	url := fs.String("postgres", "", "PostgreSQL URL (required); each run creates and drops a schema of its own")
	replicas := fs.Int("replicas", 2, "replicas of the second run (the first has one)")
	uploads := fs.Int("uploads", 3000, "uploads per run, each with a number of its own")
	doubles := fs.Int("double-spends", 200, "more numbers per run, each posted to every replica at the same moment")
	tuples := fs.Int("tuples", 504, "seed-hours per upload")
	concurrency := fs.Int("concurrency", 16, "concurrent clients")
	cutEvery := fs.Duration("cut-every", 200*time.Millisecond, "how often every replica cuts at once during the load")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	switch {
	case *url == "":
		return cli.Required("postgres")
	case *replicas < 2:
		return cli.FlagErrorf("replicas", *replicas, "want at least 2")
	case *uploads < 1:
		return cli.FlagErrorf("uploads", *uploads, "want at least 1")
	case *doubles < 0:
		return cli.FlagErrorf("double-spends", *doubles, "want 0 or more")
	case *tuples < 1 || *tuples > 2160:
		return cli.FlagErrorf("tuples", *tuples, "want 1..2160")
	case *concurrency < 1:
		return cli.FlagErrorf("concurrency", *concurrency, "want at least 1")
	case *cutEvery <= 0:
		return cli.FlagErrorf("cut-every", *cutEvery, "want a positive duration")
	}
	var results []replicaResult
	for _, n := range []int{1, *replicas} {
		r, err := runReplicas(ctx, replicaOptions{url: *url, replicas: n, uploads: *uploads, doubleSpend: *doubles,
			tuples: *tuples, concurrency: *concurrency, cutEvery: *cutEvery})
		if err != nil {
			return fmt.Errorf("%d replica(s): %w", n, err)
		}
		results = append(results, r)
		fmt.Fprintf(stdout, "replicas=%d stored=%d double-spends=%d refused-as-used=%d cuts=%d batches=%d seed-hours=%d elapsed=%.2fs uploads/s=%.0f seed-hours/s=%.0f\n",
			r.Replicas, r.Stored, r.DoubleSpends, r.RefusedAsUsed, r.Cuts, r.Batches, r.SeedHours, r.Elapsed.Seconds(), r.UploadsPerSec, r.SeedHoursPerSec)
	}
	fmt.Fprintf(stdout, "checks passed: no number spent twice, every stored seed-hour in exactly one batch, no sequence gap\n")
	fmt.Fprintf(stdout, "throughput %d replicas / 1 replica = %.2f\n", *replicas, results[1].UploadsPerSec/results[0].UploadsPerSec)
	return nil
}
