package server

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/pact"
)

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func fieldOf(e *uploadError) string {
	if e == nil {
		return ""
	}
	return e.field
}

// signedKeys returns n primary keys of consecutive 15-minute slots ending
// before now, each with its proof for region, as findmy_keys entries.
func signedKeys(t testing.TB, n int, now pact.Minute, region string) []map[string]any {
	t.Helper()
	out := make([]map[string]any, 0, n)
	first := now - pact.Minute(n+1)*15
	for i := range n {
		d, err := findmy.NewPrivateKey(big.NewInt(int64(1000 + i)).FillBytes(make([]byte, findmy.KeySize)))
		if err != nil {
			t.Fatal(err)
		}
		start := first + pact.Minute(i)*15
		st := findmy.Statement{Key: d.Public().Key(), Start: uint32(start), End: uint32(start + 14), Region: region}
		p, err := findmy.SignProof(d, st)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, map[string]any{"key": st.Key.String(), "start": st.Start, "end": st.End, "proof": p.String()})
	}
	return out
}

func keysUpload(number model.PermissionNumber, region string, keys []map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"permission_number": number, "region": region, "tuples": []any{}, "findmy_keys": keys})
	return b
}

// A key refused by the cheap checks costs no verification, and neither
// does a key after the first whose proof fails.
func TestProofsVerifiedOnlyAfterTheCheapChecks(t *testing.T) {
	now := pact.MinuteOf(testNow)
	cases := []struct {
		name     string
		edit     func([]map[string]any)
		field    string
		want     error
		verified float64
	}{
		{"a later key in the future", func(k []map[string]any) { k[2]["start"], k[2]["end"] = now+10, now+24 }, "findmy_keys[2]", pact.ErrFuture, 0},
		{"a later key's proof not hex", func(k []map[string]any) { k[2]["proof"] = "xx" }, "findmy_keys[2].proof", findmy.ErrProofEncoding, 0},
		{"a later key's proof missing", func(k []map[string]any) { delete(k[2], "proof") }, "findmy_keys[2].proof", ErrFieldMissing, 0},
		{"the second key's proof swapped with the first's", func(k []map[string]any) { k[1]["proof"] = k[0]["proof"] }, "findmy_keys[1].proof", findmy.ErrProofInvalid, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			keys := signedKeys(t, 4, now, "CH")
			tc.edit(keys)
			nums, _ := f.issue(t, 1, time.Hour)
			status, r, _ := f.post(t, "application/json", keysUpload(nums[0], "CH", keys), nil)
			if status != http.StatusBadRequest || r.Field != tc.field {
				t.Fatalf("upload: %d %+v, want 400 naming %s", status, r, tc.field)
			}
			if got := counterValue(f.srv.metrics.proofsVerified); got != tc.verified {
				t.Fatalf("the server verified %v proofs, want %v", got, tc.verified)
			}
			if perr := decideBeforeStore(f.srv, keysUpload(nums[0], "CH", keys)); perr == nil || perr.field != tc.field || !errors.Is(perr, tc.want) || !errors.Is(perr, ErrFindMyProof) && tc.want != pact.ErrFuture {
				t.Fatalf("decided %v (field %q), want %v naming %s", perr, fieldOf(perr), tc.want, tc.field)
			}
		})
	}
}

// One network may make the server verify at most
// Config.FindMyProofsPerMinute proofs; past it, uploads with keys get 429
// before verifying, and the guess they were charged comes back.
func TestProofBudgetPerNetwork(t *testing.T) {
	f := newFixture(t, Config{FailuresPerHour: 2})
	now := pact.MinuteOf(testNow)
	nums, _ := f.issue(t, 3, time.Hour)
	body := func(i int) []byte { return keysUpload(nums[i], "CH", signedKeys(t, 8, now, "CH")) }
	if !f.srv.proofChecks.take("127.0.0.1", f.clock.Now(), MaxFindMyKeys-4) {
		t.Fatal("a fresh network cannot verify one largest upload")
	}
	for range 3 {
		status, r, _ := f.post(t, "application/json", body(0), nil)
		if status != http.StatusTooManyRequests || r.Code != "rate_limited" || r.Field != "findmy_keys" {
			t.Fatalf("past the budget: %d %+v, want 429 naming findmy_keys", status, r)
		}
	}
	if got := counterValue(f.srv.metrics.proofsVerified); got != 0 {
		t.Fatalf("refused uploads cost %v verifications", got)
	}
	// Three refusals did not use up the two guesses: a minute later the
	// budget is back and both go through.
	f.clock.Add(time.Minute)
	for i := 1; i <= 2; i++ {
		if status, r, _ := f.post(t, "application/json", body(i), nil); status != http.StatusCreated {
			t.Fatalf("a minute later, upload %d: %d %+v, want 201", i, status, r)
		}
	}
	// Each verification kept its guess: the hour's two are spent.
	if status, r, _ := f.post(t, "application/json", body(0), nil); status != http.StatusTooManyRequests || r.Field != "permission_number" {
		t.Fatalf("third upload with keys in the hour: %d %+v, want 429 naming permission_number", status, r)
	}
}

// The stored upload keeps each key's kind and proof, which the batch then
// carries.
func TestStoredKeysKeepTheirProofs(t *testing.T) {
	f := newFixture(t, Config{})
	now := pact.MinuteOf(testNow)
	keys := signedKeys(t, 3, now, "CH")
	nums, _ := f.issue(t, 1, time.Hour)
	if status, r, _ := f.post(t, "application/json", keysUpload(nums[0], "CH", keys), nil); status != http.StatusCreated {
		t.Fatalf("upload: %d %+v", status, r)
	}
	f.clock.Add(10 * time.Minute)
	if _, err := f.srv.CutOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, data, err := f.store.Batch(context.Background(), "CH", 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := batch.Decode(data, f.srv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.FindMy) != len(keys) {
		t.Fatalf("batch holds %d keys, want %d", len(b.FindMy), len(keys))
	}
	for _, k := range b.FindMy {
		st := findmy.Statement{Key: k.Key, Kind: kindOf(k), Start: uint32(k.Start), End: uint32(k.End), Region: b.Region}
		if err := findmy.VerifyProof(st, k.Proof); err != nil {
			t.Errorf("key %s: %v", k.Key, err)
		}
	}
}

// The largest upload a device may send, the most tuples and the most
// Find My keys with proofs, fits the default body limit, as JSON with
// every minute at its widest.
func TestLargestUploadFitsTheBodyLimit(t *testing.T) {
	cfg := DefaultConfig()
	up := exposureclient.Upload{PermissionNumber: "5MT6T-2BKGN-9HP89-MD0V9", Region: strings.Repeat("x", batch.MaxRegionLength),
		ReverseTracing: &exposureclient.MinuteRange{From: 4_000_000_000, To: 4_000_000_000}}
	for i := range cfg.MaxTuples {
		up.Tuples = append(up.Tuples, pact.Tuple{Seed: pact.Seed{byte(i), byte(i >> 8)}, Start: 4_000_000_000, End: 4_000_000_059})
	}
	for i := range MaxFindMyKeys {
		up.FindMyKeys = append(up.FindMyKeys, exposureclient.FindMyKey{Key: findmy.Key{byte(i), byte(i >> 8)}, Start: 4_000_000_000, End: 4_000_001_439, Secondary: true})
	}
	body, err := json.Marshal(up)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("largest upload: %d bytes of JSON", len(body))
	if int64(len(body)) > cfg.MaxBodyBytes {
		t.Fatalf("largest upload is %d bytes, over the limit of %d", len(body), cfg.MaxBodyBytes)
	}
}
