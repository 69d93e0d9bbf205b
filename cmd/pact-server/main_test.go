package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/postgresdb"
	"github.com/pact-findmy/pact-findmy/internal/database/sqlitedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// The crash test runs the server as a child process: this test binary
// re-executed with PACT_SERVER_EXEC=1 behaves as pact-server itself.
func TestMain(m *testing.M) {
	if os.Getenv("PACT_SERVER_EXEC") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestIssuePrintsNumbers(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		args  []string
		lines int
	}{
		{"text", []string{"--data", dir, "--provider", "Lab", "--count", "5"}, 5},
		{"csv", []string{"--data", dir, "--provider", "Lab", "--count", "2", "--format", "csv"}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if err := issue(context.Background(), tc.args, &out, &errb); err != nil {
				t.Fatalf("%v (stderr %s)", err, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != tc.lines {
				t.Fatalf("%d lines, want %d: %q", len(lines), tc.lines, out.String())
			}
			if tc.name == "text" {
				for _, l := range lines {
					if _, err := model.ParsePermissionNumber(l); err != nil {
						t.Fatalf("printed number %q does not parse: %v", l, err)
					}
				}
			}
		})
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"authority", "list", "--data", dir}, &out, io.Discard); code != 0 {
		t.Fatalf("authority list: exit status %d", code)
	}
	if !strings.Contains(out.String(), "Lab") || !strings.Contains(out.String(), " 5 ") {
		t.Fatalf("list output %q lacks the issued batches", out.String())
	}
	if code := run(context.Background(), []string{"authority", "revoke", "--data", dir, "--batch", "1"}, &out, io.Discard); code != 0 {
		t.Fatalf("authority revoke: exit status %d", code)
	}
}

// TestCommandLineErrors checks that a wrong command line is refused with
// the sentinel and the flag and value at fault, before anything is
// opened, and that run exits with the status each outcome gets.
func TestCommandLineErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		run   func(context.Context, []string, io.Writer, io.Writer) error
		args  []string
		want  error  // a sentinel the error wraps
		flag  string // the flag a *cli.FlagError names, if any
		value string
	}{
		{"issue without provider", issue, []string{"--data", dir, "--count", "2"}, cli.ErrRequired, "provider", ""},
		{"issue zero count", issue, []string{"--data", dir, "--provider", "Lab"}, cli.ErrUsage, "count", "0"},
		{"issue too many", issue, []string{"--data", dir, "--provider", "Lab", "--count", "1000001"}, cli.ErrUsage, "count", "1000001"},
		{"issue bad format", issue, []string{"--data", dir, "--provider", "Lab", "--count", "1", "--format", "xml"}, cli.ErrUsage, "format", "xml"},
		{"issue negative validity", issue, []string{"--data", dir, "--provider", "Lab", "--count", "1", "--valid-for", "-1h"}, cli.ErrUsage, "valid-for", "-1h0m0s"},
		{"issue without data dir", issue, []string{"--provider", "Lab", "--count", "1"}, cli.ErrRequired, "data", ""},
		{"issue stray argument", issue, []string{"--data", dir, "extra"}, cli.ErrExtraArgs, "", ""},
		{"issue bad log level", issue, []string{"--log-level", "loud"}, cli.ErrUsage, "", ""},
		{"revoke without batch", revoke, []string{"--data", dir}, cli.ErrUsage, "batch", "0"},
		{"cut-batches period not whole minutes", cutBatches, []string{"--data", dir, "--period", "90s"}, cli.ErrUsage, "period", "1m30s"},
		{"loadtest zero uploads", loadtest, []string{"--data", dir, "--uploads", "0"}, cli.ErrUsage, "uploads", "0"},
		{"loadtest too many tuples", loadtest, []string{"--data", dir, "--tuples", "2161"}, cli.ErrUsage, "tuples", "2161"},
		{"scale-out without postgres", scaleOut, nil, cli.ErrRequired, "postgres", ""},
		{"scale-out one replica", scaleOut, []string{"--postgres", "postgres://x", "--replicas", "1"}, cli.ErrUsage, "replicas", "1"},
		{"scale-out negative double spends", scaleOut, []string{"--postgres", "postgres://x", "--double-spends", "-1"}, cli.ErrUsage, "double-spends", "-1"},
		{"scale-out too many tuples", scaleOut, []string{"--postgres", "postgres://x", "--tuples", "2161"}, cli.ErrUsage, "tuples", "2161"},
		{"scale-out zero cut interval", scaleOut, []string{"--postgres", "postgres://x", "--cut-every", "0s"}, cli.ErrUsage, "cut-every", "0s"},
		{"serve unknown flag", serve, []string{"--data", dir, "--port", "80"}, cli.ErrUsage, "", ""},
		{"cut-batches holding zero uploads", cutBatches, []string{"--data", dir, "--hold-uploads", "0"}, cli.ErrUsage, "hold-uploads", "0"},
		{"cut-batches holding under a minute", cutBatches, []string{"--data", dir, "--max-hold", "30s"}, cli.ErrUsage, "max-hold", "30s"},
		{"feed without output", authorityFeed, []string{"--data", dir}, cli.ErrRequired, "out", ""},
		{"feed valid for seconds", authorityFeed, []string{"--data", dir, "--out", "x", "--valid-for", "10s"}, cli.ErrUsage, "valid-for", "10s"},
		{"feed-key without data dir", authorityFeedKey, nil, cli.ErrRequired, "data", ""},
		{"import without feed", importNumbers, []string{"--data", dir, "--authority-key", "x"}, cli.ErrRequired, "feed", ""},
		{"import without key", importNumbers, []string{"--data", dir, "--feed", "f"}, cli.ErrRequired, "authority-key", ""},
		{"import with a short key", importNumbers, []string{"--data", dir, "--feed", "f", "--authority-key", "AAAA"}, cli.ErrUsage, "authority-key", "AAAA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(context.Background(), tc.args, io.Discard, io.Discard)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want one wrapping %v", err, tc.want)
			}
			if flag, value := cli.FlagOf(err); flag != tc.flag || value != tc.value {
				t.Errorf("error %v names --%s %q, want --%s %q", err, flag, value, tc.flag, tc.value)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
	}{
		{"help", []string{"--help"}, 0, "authority issue"},
		{"nested help", []string{"authority", "issue", "--help"}, 0, "Usage: pact-server authority issue --data DIR"},
		{"group help", []string{"help", "authority"}, 0, "Usage: pact-server authority COMMAND"},
		{"version", []string{"--version"}, 0, "pact-server "},
		{"no command", nil, 2, ""},
		{"unknown command", []string{"frobnicate"}, 2, ""},
		{"authority without subcommand", []string{"authority"}, 2, ""},
		{"unknown authority subcommand", []string{"authority", "grant"}, 2, ""},
		{"usage error", []string{"authority", "issue", "--data", dir}, 2, ""},
		{"failure", []string{"authority", "revoke", "--data", dir, "--batch", "999"}, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout.String())
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs "pact-server serve" as a child and waits until it answers.
func startServer(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", addr, "--no-cutter", "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "PACT_SERVER_EXEC=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd, base
		}
	}
	t.Fatal("server did not start")
	return nil, ""
}

// crashSeeds are the tuples of upload i: unique seeds, so a stored seed
// tells which upload it came from.
func crashTuples(i, n int) []pact.Tuple {
	last := pact.MinuteOf(time.Now()).HourStart()
	ts := make([]pact.Tuple, n)
	for j := range ts {
		var in [8]byte
		binary.BigEndian.PutUint32(in[:], uint32(i))
		binary.BigEndian.PutUint32(in[4:], uint32(j))
		ts[j].Seed = sha256.Sum256(in[:])
		ts[j].Start = last - pact.Minute(n-j)*pact.MinutesPerHour
		ts[j].End = ts[j].Start + 59
	}
	return ts
}

// TestKillDuringUploads kills the server with SIGKILL while uploads stream
// in, then checks the database: every upload answered 2xx is there in
// full, no upload is there in part, and exactly the stored uploads spent
// their numbers.
func TestKillDuringUploads(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		crashTest(t, dir, nil, func() database.Store {
			s, err := sqlitedb.Open(context.Background(), filepath.Join(dir, "pact-server.db"), sqlitedb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := os.Getenv("PACT_TEST_POSTGRES_URL")
		if url == "" {
			msg := "PACT_TEST_POSTGRES_URL is not set: the PostgreSQL crash test DID NOT RUN"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		ctx := context.Background()
		var b [6]byte
		rand.Read(b[:])
		schema := "crash_" + hex.EncodeToString(b[:])
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		schemaURL := url + sep + "search_path=" + schema
		crashTest(t, t.TempDir(), []string{"--postgres", schemaURL}, func() database.Store {
			s, err := postgresdb.Open(ctx, url, postgresdb.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

func crashTest(t *testing.T, dir string, extra []string, open func() database.Store) {
	const numbers, tuplesPerUpload, workers = 400, 504, 6
	var out bytes.Buffer
	args := append([]string{"authority", "issue", "--data", dir, "--provider", "Crash Lab", "--count", fmt.Sprint(numbers)}, extra...)
	if err := issue(context.Background(), args[2:], &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var nums []string
	for sc := bufio.NewScanner(&out); sc.Scan(); {
		nums = append(nums, sc.Text())
	}
	bodies := make([][]byte, numbers)
	for i := range bodies {
		bodies[i], _ = json.Marshal(map[string]any{"permission_number": nums[i], "region": "CH", "tuples": crashTuples(i, tuplesPerUpload)})
	}
	cmd, base := startServer(t, append([]string{"--data", dir, "--sqlite-sync", "full"}, extra...)...)

	var mu sync.Mutex
	acked := map[int]bool{}
	var wg sync.WaitGroup
	next := make(chan int)
	client := &http.Client{Timeout: 5 * time.Second}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				resp, err := client.Post(base+"/v1/uploads", "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					acked[i] = true
					mu.Unlock()
				} else if resp.StatusCode/100 == 4 {
					t.Errorf("upload %d refused: %d", i, resp.StatusCode)
				}
			}
		}()
	}
	killed := false
	for i := range numbers {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if !killed && n >= 40 {
			// Uploads are still in flight on every worker at this point.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
		next <- i
	}
	close(next)
	wg.Wait()
	cmd.Wait()
	if !killed {
		t.Fatalf("the server was never killed: only %d uploads succeeded", len(acked))
	}

	store := open()
	defer store.Close()
	ctx := context.Background()
	bySeed := map[pact.Seed]int{}
	for i := range numbers {
		for _, tu := range crashTuples(i, tuplesPerUpload) {
			bySeed[tu.Seed] = i
		}
	}
	perUpload := map[int]int{}
	_, err := store.CutBatches(ctx, database.CutPolicy{Cutoff: pact.Minute(^uint32(0)), PeriodMinutes: 10}, func(b *batch.Batch, _ []database.UploadShape) ([]byte, error) {
		for _, tu := range b.Tuples {
			i, ok := bySeed[tu.Seed]
			if !ok {
				return nil, fmt.Errorf("stored seed %s belongs to no upload", tu.Seed)
			}
			perUpload[i]++
		}
		return batch.EncodeBatch(b, testSigningKey())
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range acked {
		if perUpload[i] != tuplesPerUpload {
			t.Errorf("upload %d got 2xx but %d of %d tuples survived the crash", i, perUpload[i], tuplesPerUpload)
		}
	}
	for i, n := range perUpload {
		if n != tuplesPerUpload {
			t.Errorf("upload %d is partial: %d of %d tuples", i, n, tuplesPerUpload)
		}
	}
	list, err := store.PermissionBatches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Used != len(perUpload) {
		t.Errorf("permission batches %+v: want %d numbers used, one per stored upload", list, len(perUpload))
	}
	t.Logf("%d uploads acknowledged before the kill, %d stored (the rest were in flight)", len(acked), len(perUpload))

	// The restarted server sees the spent numbers as spent.
	store.Close()
	_, base = startServer(t, append([]string{"--data", dir}, extra...)...)
	for i := range acked {
		resp, err := http.Post(base+"/v1/uploads", "application/json", bytes.NewReader(bodies[i]))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("re-upload of acknowledged upload %d after restart: %d, want 403", i, resp.StatusCode)
		}
		break
	}
}

// Metrics are served only on the --metrics address, never next to the
// public API, where upload counters would tell which upload succeeded.
func TestMetricsOnlyOnTheirAddress(t *testing.T) {
	metrics := freeAddr(t)
	_, base := startServer(t, "--data", t.TempDir(), "--metrics", metrics)
	for _, tc := range []struct {
		url    string
		status int
	}{{base + "/metrics", http.StatusNotFound}, {"http://" + metrics + "/metrics", http.StatusOK}} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("GET %s: %d, want %d", tc.url, resp.StatusCode, tc.status)
		}
		if tc.status == http.StatusOK && !strings.Contains(string(body), "pact_uploaded_tuples_total") {
			t.Fatalf("GET %s lacks the uploaded tuples counter:\n%s", tc.url, body)
		}
	}
}
