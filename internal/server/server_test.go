package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/sqlitedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// testNow is minute 29 000 000 (2025-02-20T03:20Z); uploadCases
// uses minutes around it.
var testNow = time.Unix(29_000_000*60, 0).UTC()

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	srv    *Server
	store  database.Store
	hasher *model.Hasher
	clock  *fakeClock
	http   *httptest.Server
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	// Most tests want each period's uploads published at once and
	// unpadded; the holding tests ask for k themselves.
	if cfg.HoldUploads == 0 {
		cfg.HoldUploads, cfg.NoChaff = 1, true
	}
	store, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), "pact.db"), sqlitedb.Options{Sync: sqlitedb.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hasher, _ := model.NewHasher(bytes.Repeat([]byte{5}, model.SecretSize))
	clock := &fakeClock{now: testNow}
	srv, err := New(Options{
		Store: store, Hasher: hasher, SigningKey: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)),
		Config: cfg, Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &fixture{srv: srv, store: store, hasher: hasher, clock: clock, http: hs}
}

// issue creates count numbers for provider, valid from now for ttl.
func (f *fixture) issue(t *testing.T, count int, ttl time.Duration) ([]model.PermissionNumber, int64) {
	t.Helper()
	var nums []model.PermissionNumber
	var hashes [][]byte
	for range count {
		n, err := model.NewPermissionNumber(nil)
		if err != nil {
			t.Fatal(err)
		}
		nums = append(nums, n)
		hashes = append(hashes, f.hasher.Hash(n))
	}
	now := f.clock.Now()
	id, err := f.store.IssuePermissions(context.Background(), "Test Lab", hashes, now.Add(-time.Hour), now.Add(ttl))
	if err != nil {
		t.Fatal(err)
	}
	return nums, id
}

func (f *fixture) post(t *testing.T, contentType string, body []byte, header map[string]string) (int, uploadResponse, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.http.URL+PathUploads, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	// The status line and the padding header together have one length for
	// every outcome, as the body has.
	if n := len(http.StatusText(resp.StatusCode)) + len(resp.Header.Get(HeaderPadding)); n != longestUploadReason+1 {
		t.Fatalf("status %d: reason phrase and %s take %d bytes, want %d for every outcome", resp.StatusCode, HeaderPadding, n, longestUploadReason+1)
	}
	var r uploadResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response %q is not JSON: %v", raw, err)
	}
	return resp.StatusCode, r, len(raw)
}

func seedHex(i int) string { return fmt.Sprintf("%064x", 1000+i) }

func uploadBody(number, region string, ts []pact.Tuple) []byte {
	b, _ := json.Marshal(map[string]any{"permission_number": number, "region": region, "tuples": ts})
	return b
}

type uploadCase struct {
	name        string
	contentType string
	body        string
	status      int
	code        string
	field       string
	// want is the sentinel error of a refusal decided before the store
	// (parse, checks, permission number syntax); nil when none applies.
	want error
}

// uploadCases are upload bodies, with $NAMES that TestUploadCases
// replaces, and what the server answers: status, code and the field at
// fault, and for the refusals decided before the store, the sentinel error.
var uploadCases = []uploadCase{
	{name: "valid JSON", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}, {"seed": "$SEED2", "start": 28999980, "end": 29000000}]}`, status: 201},
	{name: "grouped lower-case number", body: `{"permission_number": "$VALID_GROUPED_LOWER", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 201},
	{name: "with reverse tracing", body: `{"permission_number": "$VALID", "region": "US-CA", "reverse_tracing": {"from": 28990000, "to": 28999000}, "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 201},
	{name: "used number", body: `{"permission_number": "$USED", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 403, code: "permission_used", field: "permission_number"},
	{name: "unknown number", body: `{"permission_number": "$UNKNOWN", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 403, code: "permission_unknown", field: "permission_number"},
	{name: "expired number", body: `{"permission_number": "$EXPIRED", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 403, code: "permission_expired", field: "permission_number"},
	{name: "revoked number", body: `{"permission_number": "$REVOKED", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 403, code: "permission_revoked", field: "permission_number"},
	{name: "typo in number", body: `{"permission_number": "$TYPO", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 400, code: "invalid_field", field: "permission_number", want: model.ErrChecksum},
	{name: "missing number", body: `{"region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 400, code: "invalid_field", field: "permission_number", want: ErrFieldMissing},
	{name: "bad region", body: `{"permission_number": "$VALID", "region": "../etc", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 400, code: "invalid_field", field: "region"},
	{name: "short seed", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [{"seed": "abcd", "start": 28999920, "end": 28999979}]}`, status: 400, code: "invalid_field", field: "tuples[0]"},
	{name: "start after end", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}, {"seed": "$SEED2", "start": 28999979, "end": 28999920}]}`, status: 400, code: "invalid_field", field: "tuples[1]", want: pact.ErrTimeOrder},
	{name: "window of an hour", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999980}]}`, status: 400, code: "invalid_field", field: "tuples[0]", want: pact.ErrWindow},
	{name: "in the future", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999980, "end": 29000010}]}`, status: 400, code: "invalid_field", field: "tuples[0]", want: pact.ErrFuture},
	{name: "past retention", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28899960, "end": 28900019}]}`, status: 400, code: "invalid_field", field: "tuples[0]", want: pact.ErrExpired},
	{name: "duplicate seed", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}, {"seed": "$SEED1", "start": 28999860, "end": 28999919}]}`, status: 400, code: "invalid_field", field: "tuples[1].seed"},
	{name: "no tuples", body: `{"permission_number": "$VALID", "region": "CH", "tuples": []}`, status: 400, code: "invalid_field", field: "tuples", want: ErrEmptyUpload},
	{name: "too many tuples", body: `$TOO_MANY`, status: 400, code: "invalid_field", field: "tuples", want: ErrTooMany},
	{name: "unknown top-level field", body: `{"permission_number": "$VALID", "region": "CH", "ip": "1.2.3.4", "tuples": []}`, status: 400, code: "invalid_field", field: "ip", want: ErrUnknownField},
	{name: "unknown tuple field", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979, "rssi": 3}]}`, status: 400, code: "invalid_field", field: "tuples[0]"},
	{name: "wrong type", body: `{"permission_number": 12, "region": "CH", "tuples": []}`, status: 400, code: "invalid_field", field: "permission_number"},
	{name: "not JSON", body: `hello`, status: 400, code: "invalid_field", field: "body"},
	{name: "body too large", body: `$HUGE`, status: 413, code: "too_large", field: "body"},
	{name: "binary upload", contentType: "application/vnd.pact.tuples", body: `$BINARY`, status: 201},
	{name: "binary upload, truncated", contentType: "application/vnd.pact.tuples", body: `$BINARY_TRUNCATED`, status: 400, code: "invalid_field", field: "tuples"},
	{name: "Find My keys only", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28999900, "end": 28999914, "proof": "$FMPROOF"}]}`, status: 201},
	{name: "Find My secondary key", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28998600, "end": 28999599, "secondary": true, "proof": "$FMPROOF_SECONDARY"}]}`, status: 201},
	{name: "Find My key without a proof", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28999900, "end": 28999914}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0].proof", want: ErrFindMyProof},
	{name: "Find My key with a proof that is not hex", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28999900, "end": 28999914, "proof": "zz"}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0].proof", want: findmy.ErrProofEncoding},
	{name: "Find My key with a proof for another window", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28999901, "end": 28999914, "proof": "$FMPROOF"}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0].proof", want: findmy.ErrProofInvalid},
	{name: "Find My key with a proof for another region", body: `{"permission_number": "$VALID", "region": "DE", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28999900, "end": 28999914, "proof": "$FMPROOF"}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0].proof", want: findmy.ErrProofInvalid},
	{name: "Find My primary key's proof presented as secondary", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28999900, "end": 28999914, "secondary": true, "proof": "$FMPROOF"}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0].proof", want: ErrFindMyProof},
	{name: "Find My secondary flag not a boolean", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28999900, "end": 28999914, "secondary": 1, "proof": "$FMPROOF"}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0].secondary", want: ErrMalformed},
	{name: "Find My key off the curve", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMBAD", "start": 28999900, "end": 28999914, "proof": "$FMPROOF"}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0]", want: batch.ErrNotOnCurve},
	{name: "Find My key window over a day", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28990000, "end": 28999914, "secondary": true, "proof": "$FMPROOF"}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0]", want: batch.ErrFindMyWindow},
	{name: "Find My primary key window over 15 minutes", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "$FMKEY", "start": 28999900, "end": 28999915, "proof": "$FMPROOF"}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0]", want: ErrFieldValue},
	{name: "Find My key not hex", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_keys": [{"key": "zz", "start": 28999900, "end": 28999914, "proof": "$FMPROOF"}]}`, status: 400, code: "invalid_field", field: "findmy_keys[0].key"},
	{name: "Find My schedule is retired", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_schedule": [{"secret": "93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba", "public_key": "04ecd8e89e5f76b78f597d9414a953e65ce2509910110a06bf48d1a249d910342aea4450becc5a1fdc7bb7390663fabda1b3365a1406637201", "epoch": 28999000, "from": 0, "count": 8}]}`, status: 400, code: "invalid_field", field: "findmy_schedule", want: ErrScheduleRetired},
	{name: "Find My schedule is retired whatever it holds", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [], "findmy_schedule": 7}`, status: 400, code: "invalid_field", field: "findmy_schedule", want: ErrScheduleRetired},
	{name: "form content type is read as JSON", contentType: "application/x-www-form-urlencoded", body: `{"permission_number": "$VALID", "region": "CH", "tuples": [{"seed": "$SEED1", "start": 28999920, "end": 28999979}]}`, status: 201},
	{name: "text that is not JSON", contentType: "text/plain", body: `x`, status: 400, code: "invalid_field", field: "body"},
	{name: "long unknown field of characters JSON escapes", body: `{"<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<": 1}`, status: 400, code: "invalid_field", field: "<<<<<<<<<<...", want: ErrUnknownField},
	{name: "long unknown field of multi-byte characters", body: `{"éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé": 1}`, status: 400, code: "invalid_field", field: "éééééééééééééééééééééééééééééé...", want: ErrUnknownField},
}

func TestUploadCases(t *testing.T) {
	cases := uploadCases
	f := newFixture(t, Config{MaxTuples: 600, MaxBodyBytes: 200_000})
	ctx := context.Background()
	used, _ := f.issue(t, 1, time.Hour)
	expired, _ := f.issue(t, 1, -time.Minute)
	revoked, revokedBatch := f.issue(t, 1, time.Hour)
	if err := f.store.RevokePermissionBatch(ctx, revokedBatch); err != nil {
		t.Fatal(err)
	}
	usedBody := uploadBody(string(used[0]), "CH", []pact.Tuple{{Start: 28999920, End: 28999979}})
	if status, r, _ := f.post(t, "application/json", usedBody, nil); status != http.StatusCreated {
		t.Fatalf("first use: %d %+v", status, r)
	}
	unknown, _ := model.NewPermissionNumber(nil)
	fmPriv, err := findmy.NewPrivateKey(big.NewInt(424242).FillBytes(make([]byte, findmy.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	fmKey := fmPriv.Public().Key()
	fmProof := func(start, end uint32, kind findmy.KeyKind) string {
		p, err := findmy.SignProof(fmPriv, findmy.Statement{Key: fmKey, Kind: kind, Start: start, End: end, Region: "CH"})
		if err != nil {
			t.Fatal(err)
		}
		return p.String()
	}
	var fmBad findmy.Key
	for fmBad[27] = 0; findmy.OnCurve(&fmBad); fmBad[27]++ {
	}
	stored := 1
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			valid, _ := f.issue(t, 1, time.Hour)
			typo := []byte(valid[0])
			typo[3] = map[bool]byte{true: 'A', false: 'B'}[typo[3] != 'A']
			many := make([]pact.Tuple, 601)
			for j := range many {
				many[j] = pact.Tuple{Seed: pact.Seed{byte(j), byte(j >> 8)}, Start: 28999920, End: 28999979}
			}
			bin, _ := pact.EncodeTuples([]pact.Tuple{{Seed: pact.Seed{byte(i)}, Start: 28999920, End: 28999979}})
			repl := strings.NewReplacer(
				"$VALID_GROUPED_LOWER", strings.ToLower(valid[0].Grouped()),
				"$VALID", string(valid[0]), "$USED", string(used[0]), "$EXPIRED", string(expired[0]),
				"$REVOKED", string(revoked[0]), "$UNKNOWN", string(unknown), "$TYPO", string(typo),
				"$SEED1", seedHex(2*i), "$SEED2", seedHex(2*i+1),
				"$TOO_MANY", string(uploadBody(string(valid[0]), "CH", many)),
				"$HUGE", `{"region": "`+strings.Repeat("x", 300_000)+`"}`,
				"$BINARY_TRUNCATED", string(bin[:len(bin)-1]),
				"$BINARY", string(bin),
				"$FMKEY", fmKey.String(), "$FMBAD", fmBad.String(),
				"$FMPROOF_SECONDARY", fmProof(28998600, 28999599, findmy.SecondaryKey),
				"$FMPROOF", fmProof(28999900, 28999914, findmy.PrimaryKey),
			)
			body := repl.Replace(tc.body)
			header := map[string]string{HeaderPermissionNumber: string(valid[0]), HeaderRegion: "CH"}
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			if tc.want != nil {
				perr := decideBeforeStore(f.srv, []byte(body))
				if perr == nil || fitJSON(perr.field, maxFieldBytes) != tc.field || !errors.Is(perr, tc.want) {
					t.Fatalf("decided %v (field %q), want %v naming %q", perr, fieldOf(perr), tc.want, tc.field)
				}
			}
			status, r, size := f.post(t, ct, []byte(body), header)
			if status != tc.status || r.Code != tc.code || r.Field != tc.field {
				t.Fatalf("got %d %+v; want %d code %q field %q", status, r, tc.status, tc.code, tc.field)
			}
			if size != f.srv.cfg.ResponseBytes {
				t.Fatalf("response of %d bytes, want every response padded to %d", size, f.srv.cfg.ResponseBytes)
			}
			if status/100 == 2 {
				stored++
			}
		})
	}
	// Only the 2xx uploads were stored: one batch per region holding them.
	f.clock.Add(time.Duration(f.srv.cfg.PeriodMinutes) * time.Minute)
	infos, err := f.srv.CutOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var total uint32
	for _, b := range infos {
		total += b.Uploads
	}
	if int(total) != stored {
		t.Fatalf("batches hold %d uploads, but %d got 2xx", total, stored)
	}
}

// decideBeforeStore runs what the upload handler decides about a JSON body
// before the store, the rate limiters aside: decoding, the checks, the
// syntax of the permission number and the Find My proofs.
func decideBeforeStore(srv *Server, body []byte) *uploadError {
	p, perr := parseUploadJSON(body)
	if perr != nil {
		return perr
	}
	if perr := srv.check(p, pact.MinuteOf(srv.clock.Now())); perr != nil {
		return perr
	}
	if _, err := model.ParsePermissionNumber(p.number); err != nil {
		return badField("permission_number", err)
	}
	return srv.verifyFindMyProofs(context.Background(), p.findMy, p.region)
}

func TestGuessingIsRateLimited(t *testing.T) {
	f := newFixture(t, Config{FailuresPerHour: 3})
	ts := []pact.Tuple{{Start: 28999920, End: 28999979}}
	for i := range 3 {
		unknown, _ := model.NewPermissionNumber(nil)
		if status, r, _ := f.post(t, "application/json", uploadBody(string(unknown), "CH", ts), nil); status != http.StatusForbidden {
			t.Fatalf("guess %d: %d %+v, want 403", i, status, r)
		}
	}
	valid, _ := f.issue(t, 1, 2*time.Hour)
	status, r, _ := f.post(t, "application/json", uploadBody(string(valid[0]), "CH", ts), nil)
	if status != http.StatusTooManyRequests || r.Code != "rate_limited" {
		t.Fatalf("after 3 refused guesses: %d %+v, want 429", status, r)
	}
	// The bucket refills: after an hour the valid number goes through,
	// and it was not spent by the refused attempt.
	f.clock.Add(time.Hour)
	if status, r, _ := f.post(t, "application/json", uploadBody(string(valid[0]), "CH", ts), nil); status != http.StatusCreated {
		t.Fatalf("an hour later: %d %+v, want 201", status, r)
	}
}

// Guesses sent all at once are charged before any is refused: a burst
// gets no more tries than the hourly allowance.
func TestConcurrentGuessesAreRateLimited(t *testing.T) {
	f := newFixture(t, Config{FailuresPerHour: 3})
	ts := []pact.Tuple{{Start: 28999920, End: 28999979}}
	const attempts = 30
	statuses := make([]int, attempts)
	var wg sync.WaitGroup
	for i := range attempts {
		unknown, _ := model.NewPermissionNumber(nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _, _ = f.post(t, "application/json", uploadBody(string(unknown), "CH", ts), nil)
		}()
	}
	wg.Wait()
	tried := 0
	for _, s := range statuses {
		switch s {
		case http.StatusForbidden:
			tried++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("statuses %v: want only 403 and 429", statuses)
		}
	}
	if tried > 3 {
		t.Fatalf("%d of %d concurrent guesses were tried, want at most the 3 allowed per hour", tried, attempts)
	}
}

// uploadN stores n uploads of one tuple each in region.
func (f *fixture) uploadN(t *testing.T, region string, n, salt int) []pact.Tuple {
	t.Helper()
	nums, _ := f.issue(t, n, time.Hour)
	var all []pact.Tuple
	now := pact.MinuteOf(f.clock.Now())
	for i, num := range nums {
		var seed pact.Seed
		copy(seed[:], fmt.Sprintf("%s-%d-%d", region, salt, i))
		ts := []pact.Tuple{{Seed: seed, Start: now.HourStart() - 60, End: now.HourStart() - 1}}
		if status, r, _ := f.post(t, "application/json", uploadBody(string(num), region, ts), nil); status != http.StatusCreated {
			t.Fatalf("upload: %d %+v", status, r)
		}
		all = append(all, ts...)
	}
	return all
}

func TestDownloadsVerifyAndCache(t *testing.T) {
	exportDir := t.TempDir()
	f := newFixture(t, Config{ExportDir: exportDir})
	ctx := context.Background()
	ch1 := f.uploadN(t, "CH", 3, 1)
	us1 := f.uploadN(t, "US-CA", 2, 1)
	f.clock.Add(10 * time.Minute)
	if _, err := f.srv.CutOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ch2 := f.uploadN(t, "CH", 2, 2)
	f.clock.Add(10 * time.Minute)
	if _, err := f.srv.CutOnce(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := exposureclient.FetchPublicKey(ctx, f.http.URL, nil)
	if err != nil || !key.Equal(f.srv.PublicKey()) {
		t.Fatalf("published key %x, %v; want the signing key", key, err)
	}
	sortTuples := func(ts []pact.Tuple) []pact.Tuple {
		ts = slices.Clone(ts)
		slices.SortFunc(ts, func(a, b pact.Tuple) int { return bytes.Compare(a.Seed[:], b.Seed[:]) })
		return ts
	}
	want := map[string][]pact.Tuple{"CH.1": sortTuples(ch1), "CH.2": sortTuples(ch2), "US-CA.1": sortTuples(us1)}

	for _, base := range []struct{ name, url string }{
		{"server", f.http.URL},
		{"static export", httptest.NewServer(http.FileServer(http.Dir(exportDir))).URL},
	} {
		t.Run(base.name, func(t *testing.T) {
			c, err := exposureclient.New(base.url, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]pact.Tuple{}
			collect := func(b *exposureclient.Batch) error { got[b.ID] = b.Tuples; return nil }
			if err := c.Sync(ctx, nil, collect); err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || !slices.Equal(got["CH.1"], want["CH.1"]) || !slices.Equal(got["CH.2"], want["CH.2"]) || !slices.Equal(got["US-CA.1"], want["US-CA.1"]) {
				t.Fatalf("synced %v, want %v", got, want)
			}
			// A second sync fetches nothing new.
			if err := c.Sync(ctx, []string{"CH"}, func(b *exposureclient.Batch) error { return fmt.Errorf("refetched %s", b.ID) }); err != nil {
				t.Fatal(err)
			}
		})
	}

	resp, err := http.Get(f.http.URL + "/v1/batches/CH.1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || resp.Header.Get("ETag") == "" {
		t.Fatalf("batch Cache-Control %q, ETag %q: want immutable with an ETag", cc, resp.Header.Get("ETag"))
	}
	req, _ := http.NewRequest(http.MethodGet, f.http.URL+"/v1/batches/CH.1", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional GET: %d, want 304", resp2.StatusCode)
	}
	for path, status := range map[string]int{
		"/v1/regions/CH/batches?after=1": 200,
		"/v1/regions/CH/batches?after=x": 400,
		"/v1/regions/a.b/batches":        400,
		"/v1/batches/CH.9":               404,
		"/v1/batches/nonsense":           400,
		"/v1/regions":                    200,
		"/metrics":                       404,
		"/v1/all/batches":                200,
		"/.well-known/pact/batch-key":    200,
	} {
		resp, err := http.Get(f.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, status)
		}
	}

	rec := httptest.NewRecorder()
	f.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `pact_uploads_total{result="stored"} 7`) {
		t.Errorf("metrics handler does not count the 7 stored uploads:\n%s", rec.Body.String())
	}

	// Retention: three weeks later every batch is gone, from the store and
	// from the export directory.
	f.clock.Add(22 * 24 * time.Hour)
	res, err := f.srv.Cleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Batches != 3 || res.Uploads != 7 {
		t.Fatalf("cleanup: %+v, want 3 batches and 7 uploads", res)
	}
	if left, _ := os.ReadDir(filepath.Join(exportDir, "v1", "batches")); len(left) != 0 {
		t.Fatalf("export still holds %d batch files after cleanup", len(left))
	}
	// No exported listing may still name a deleted batch, or every client
	// of that region would fail on it until the region's next batch.
	mirror := httptest.NewServer(http.FileServer(http.Dir(exportDir)))
	defer mirror.Close()
	c, err := exposureclient.New(mirror.URL, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, regions := range [][]string{nil, {"CH"}, {"US-CA"}} {
		if err := c.Sync(ctx, regions, func(b *exposureclient.Batch) error { return fmt.Errorf("synced deleted batch %s", b.ID) }); err != nil {
			t.Errorf("sync of %v from the export after cleanup: %v", regions, err)
		}
	}
}

// mitm serves the real server's responses but lets a test rewrite batch
// bodies, as a hostile mirror or network would.
func TestClientRefusesDamagedBatches(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	f.uploadN(t, "CH", 3, 1)
	f.clock.Add(10 * time.Minute)
	if _, err := f.srv.CutOnce(ctx); err != nil {
		t.Fatal(err)
	}
	f.uploadN(t, "CH", 3, 2)
	f.clock.Add(10 * time.Minute)
	if _, err := f.srv.CutOnce(ctx); err != nil {
		t.Fatal(err)
	}
	_, batch1, err := f.store.Batch(ctx, "CH", 1)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		rewrite func(path string, body []byte) []byte
		want    error
	}{
		{"flipped byte", func(p string, b []byte) []byte { b[len(b)/2] ^= 1; return b }, exposureclient.ErrTampered},
		{"truncated", func(p string, b []byte) []byte { return b[:len(b)-10] }, exposureclient.ErrTruncated},
		{"batch 1 served as batch 2", func(p string, b []byte) []byte {
			if strings.HasSuffix(p, "CH.2") {
				return slices.Clone(batch1)
			}
			return b
		}, exposureclient.ErrReplayed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mitm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				f.srv.Handler().ServeHTTP(rec, r)
				body := rec.Body.Bytes()
				if strings.HasPrefix(r.URL.Path, "/v1/batches/") {
					body = tc.rewrite(r.URL.Path, slices.Clone(body))
				}
				w.WriteHeader(rec.Code)
				w.Write(body)
			}))
			defer mitm.Close()
			c, err := exposureclient.New(mitm.URL, f.srv.PublicKey(), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Sync(ctx, []string{"CH"}, func(*exposureclient.Batch) error { return nil })
			if !errors.Is(err, tc.want) {
				t.Fatalf("Sync = %v, want %v", err, tc.want)
			}
		})
	}
	// A listing that offers an already accepted batch again is not refetched.
	c, _ := exposureclient.New(f.http.URL, f.srv.PublicKey(), nil)
	c.SetLast("CH", 2)
	if err := c.Sync(ctx, nil, func(b *exposureclient.Batch) error { return fmt.Errorf("replayed %s accepted", b.ID) }); err != nil {
		t.Fatal(err)
	}
}

// An owner's keys reach the client with their kinds and proofs, which
// verify there for the batch's region (docs/findmy.md §7.0, §8).
func TestFindMyKeysReachClients(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	raw, err := os.ReadFile("../../findmy/testdata/vectors/schedule.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		Secret0     string `json:"secret0"`
		PrivateKey0 string `json:"private_key0"`
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	d0, err := findmy.ParsePrivateKey(vec.PrivateKey0)
	if err != nil {
		t.Fatal(err)
	}
	var sk0 findmy.Secret
	if _, err := hex.Decode(sk0[:], []byte(vec.Secret0)); err != nil {
		t.Fatal(err)
	}
	epoch := pact.MinuteOf(testNow) - 24*60
	type entry struct {
		Key       string `json:"key"`
		Start     uint32 `json:"start"`
		End       uint32 `json:"end"`
		Secondary bool   `json:"secondary,omitempty"`
		Proof     string `json:"proof"`
	}
	var entries []entry
	want := map[findmy.Key]entry{}
	const count = 8
	if err := findmy.ScheduleFromPrivateKey(sk0, d0, 0, count, func(k findmy.RollingKey) error {
		start := uint32(epoch) + uint32(k.Index)*15
		// The last key is published as a secondary one, with a day's window.
		kind, end := findmy.PrimaryKey, start+14
		if k.Index == count-1 {
			kind, end = findmy.SecondaryKey, start+1439-uint32(count*15)
		}
		p, err := findmy.SignProof(*k.Private, findmy.Statement{Key: k.Public.Key(), Kind: kind, Start: start, End: end, Region: "CH"})
		if err != nil {
			return err
		}
		e := entry{Key: k.Public.Key().String(), Start: start, End: end, Secondary: kind == findmy.SecondaryKey, Proof: p.String()}
		entries = append(entries, e)
		want[k.Public.Key()] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	nums, _ := f.issue(t, 1, time.Hour)
	body, _ := json.Marshal(map[string]any{"permission_number": nums[0], "region": "CH", "tuples": []any{}, "findmy_keys": entries})
	if status, r, _ := f.post(t, "application/json", body, nil); status != http.StatusCreated {
		t.Fatalf("upload: %d %+v", status, r)
	}
	if got := counterValue(f.srv.metrics.proofsVerified); got != count {
		t.Fatalf("the server verified %v proofs, want %d", got, count)
	}
	f.clock.Add(10 * time.Minute)
	if _, err := f.srv.CutOnce(ctx); err != nil {
		t.Fatal(err)
	}
	c, _ := exposureclient.New(f.http.URL, f.srv.PublicKey(), nil)
	got := map[findmy.Key]exposureclient.FindMyKey{}
	if err := c.Sync(ctx, nil, func(b *exposureclient.Batch) error {
		for _, k := range b.FindMy {
			kind := findmy.PrimaryKey
			if k.Secondary {
				kind = findmy.SecondaryKey
			}
			if err := findmy.VerifyProof(findmy.Statement{Key: k.Key, Kind: kind, Start: uint32(k.Start), End: uint32(k.End), Region: b.Region}, k.Proof); err != nil {
				t.Errorf("batch %s key %s: %v", b.ID, k.Key, err)
			}
			got[k.Key] = k
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != count {
		t.Fatalf("client got %d Find My keys, want %d", len(got), count)
	}
	for key, w := range want {
		k := got[key]
		if uint32(k.Start) != w.Start || uint32(k.End) != w.End || k.Secondary != w.Secondary || findmy.Proof(k.Proof).String() != w.Proof {
			t.Errorf("key %s: got %+v, want %+v", key, k, w)
		}
	}
}

// Request logs, even at debug level, never carry the client address or
// user agent, so no log line ties a person to an upload.
func TestLogsHoldNoAddress(t *testing.T) {
	var logs bytes.Buffer
	f := newFixture(t, Config{})
	f.srv.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nums, _ := f.issue(t, 1, time.Hour)
	body := uploadBody(string(nums[0]), "CH", []pact.Tuple{{Start: 28999920, End: 28999979}})
	if status, r, _ := f.post(t, "application/json", body, map[string]string{"User-Agent": "probe-agent/1.0", "X-Forwarded-For": "203.0.113.7"}); status != http.StatusCreated {
		t.Fatalf("upload: %d %+v", status, r)
	}
	f.post(t, "application/json", body, map[string]string{"User-Agent": "probe-agent/1.0"}) // refused: used
	if logs.Len() == 0 {
		t.Fatal("no request was logged at debug level; the check below would prove nothing")
	}
	for _, secret := range []string{"127.0.0.1", "203.0.113.7", "probe-agent", string(nums[0]), nums[0].Grouped()} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("log holds %q:\n%s", secret, logs.String())
		}
	}
}

// A handler that dies on a broken connection must not make gin dump the
// request headers (user agent, forwarded address, permission number) to
// its error writer.
func TestPanicsLogNoHeaders(t *testing.T) {
	var logs, ginLogs bytes.Buffer
	saved := gin.DefaultErrorWriter
	gin.DefaultErrorWriter = &ginLogs
	t.Cleanup(func() { gin.DefaultErrorWriter = saved })
	hasher, _ := model.NewHasher(bytes.Repeat([]byte{5}, model.SecretSize))
	store, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), "pact.db"), sqlitedb.Options{Sync: sqlitedb.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv, err := New(Options{
		Store: store, Hasher: hasher, SigningKey: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.engine.GET("/broken", func(*gin.Context) { panic(http.ErrAbortHandler) })
	srv.engine.GET("/bug", func(*gin.Context) { panic("bug") })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	for _, path := range []string{"/broken", "/bug"} {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		req.Header.Set("User-Agent", "probe-agent/1.0")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set(HeaderPermissionNumber, "SECRET-NUMBER")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	if !strings.Contains(logs.String(), "handler panic") {
		t.Fatalf("the panic was not logged at all; the check below would prove nothing:\n%s", logs.String())
	}
	all := logs.String() + ginLogs.String()
	for _, secret := range []string{"probe-agent", "203.0.113.7", "SECRET-NUMBER", "127.0.0.1"} {
		if strings.Contains(all, secret) {
			t.Fatalf("logs hold %q:\n%s", secret, all)
		}
	}
}

// Every upload response has the configured size, whatever the error text
// and field name hold (escaped characters, multi-byte runes, invalid
// UTF-8), so its length tells an observer nothing. Seeds are in
// testdata/fuzz/FuzzUploadResponseSize.
func FuzzUploadResponseSize(f *testing.F) {
	srv := &Server{cfg: DefaultConfig()}
	gin.SetMode(gin.ReleaseMode)
	f.Fuzz(func(t *testing.T, field, msg string) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		srv.respondUpload(c, http.StatusBadRequest, uploadResponse{Status: "refused", Code: "invalid_field", Field: field, Error: msg})
		if w.Body.Len() != srv.cfg.ResponseBytes {
			t.Fatalf("field %q error %q: response of %d bytes, want %d", field, msg, w.Body.Len(), srv.cfg.ResponseBytes)
		}
		var r uploadResponse
		if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
			t.Fatalf("response %q is not JSON: %v", w.Body.String(), err)
		}
	})
}

// On the wire, status line, headers and body together take the same
// number of bytes whether an upload was stored or refused.
func TestUploadResponsesHaveOneSizeOnTheWire(t *testing.T) {
	f := newFixture(t, Config{FailuresPerHour: 2})
	nums, _ := f.issue(t, 1, time.Hour)
	body := uploadBody(string(nums[0]), "CH", []pact.Tuple{{Start: 28999920, End: 28999979}})
	unknown, _ := model.NewPermissionNumber(nil)
	raw := func(body []byte) (string, int) {
		t.Helper()
		conn, err := net.Dial("tcp", strings.TrimPrefix(f.http.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A keep-alive request: net/http itself adds "Connection: close"
		// to some refusals (413), so every upload response must carry it.
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", PathUploads, len(body), body)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		counted := &countingReader{r: conn}
		br := bufio.NewReader(counted)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.Status, counted.n - br.Buffered()
	}
	sizes := map[string]int{}
	for _, b := range [][]byte{
		body, // stored
		body, // used
		uploadBody(string(unknown), "CH", []pact.Tuple{{Start: 28999920, End: 28999979}}), // unknown, uses the last guess
		uploadBody(string(unknown), "CH", []pact.Tuple{{Start: 28999920, End: 28999979}}), // rate limited
		[]byte(`{"permission_number": "x"}`),                                              // invalid
		bytes.Repeat([]byte("x"), 2*int(DefaultConfig().MaxBodyBytes)),                    // too large, more left unread than net/http drains
	} {
		status, n := raw(b)
		sizes[status] = n
	}
	if len(sizes) != 5 {
		t.Fatalf("responses %v: want the five statuses 201, 400, 403, 413 and 429", sizes)
	}
	for status, n := range sizes {
		for other, m := range sizes {
			if n != m {
				t.Fatalf("%q takes %d bytes on the wire, %q %d", status, n, other, m)
			}
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Listing and batch paths that name no batch canonically list nothing and
// serve nothing: an after of 2^63 or more once wrapped to a negative
// sequence and listed every batch, and CH.01 served a second copy of CH.1.
func TestBatchPathsAreCanonical(t *testing.T) {
	f := newFixture(t, Config{})
	f.uploadN(t, "CH", 2, 1)
	f.clock.Add(10 * time.Minute)
	if _, err := f.srv.CutOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path    string
		status  int
		batches int // in a listing; -1 for a batch
	}{
		{"/v1/regions/CH/batches", 200, 1},
		{"/v1/regions/CH/batches?after=0", 200, 1},
		{"/v1/regions/CH/batches?after=9223372036854775807", 200, 0},
		{"/v1/regions/CH/batches?after=9223372036854775808", 200, 0},
		{"/v1/regions/CH/batches?after=18446744073709551615", 200, 0},
		{"/v1/regions/CH/batches?after=18446744073709551616", 400, -1},
		{"/v1/batches/CH.1", 200, -1},
		{"/v1/batches/CH.01", 404, -1},
		{"/v1/batches/CH.+1", 400, -1},
		{"/v1/batches/CH.2", 404, -1},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(f.http.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.batches < 0 {
				return
			}
			var l struct {
				Batches []json.RawMessage `json:"batches"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
				t.Fatal(err)
			}
			if len(l.Batches) != tc.batches {
				t.Fatalf("listing of %d batches, want %d", len(l.Batches), tc.batches)
			}
		})
	}
}
