package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/pact"
)

// threeWeekUpload is a JSON upload of 504 seed-hours.
func threeWeekUpload(tb testing.TB) []byte {
	ts := make([]pact.Tuple, 504)
	for j := range ts {
		rand.Read(ts[j].Seed[:])
		ts[j].Start = pact.Minute(29_000_000 - (504-j)*60)
		ts[j].End = ts[j].Start + 59
	}
	b, err := json.Marshal(map[string]any{"permission_number": "78Z03-78Z03-78Z03-78Z04", "region": "CH", "tuples": ts})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkParseUploadJSON reads a three-week upload through the path the
// server takes (fast) and through the strict fallback alone.
func BenchmarkParseUploadJSON(b *testing.B) {
	body := threeWeekUpload(b)
	for _, d := range []struct {
		name  string
		parse func([]byte) (*parsedUpload, *uploadError)
	}{{"fast", parseUploadJSON}, {"strict", parseUploadStrict}} {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzFastParseUpload checks that the fast decoder accepts only what the
// strict decoder accepts, with the same result.
func FuzzFastParseUpload(f *testing.F) {
	f.Add(threeWeekUpload(f)[:2000])
	f.Add([]byte(`{"permission_number": "x", "region": "CH", "tuples": [{"seed": "` + strings.Repeat("ab", 32) + `", "start": 10, "end": 20}]}`))
	f.Add([]byte(`{"tuples": [], "region": "CH", "permission_number": "x"} `))
	f.Add([]byte(`{"permission_number": "x", "region": "CH", "tuples": [{"end": 1, "start": 0, "seed": "` + strings.Repeat("AB", 32) + `"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := fastParseUpload(body)
		if !ok {
			return
		}
		slow, err := parseUploadStrict(body)
		if err != nil {
			t.Fatalf("fast decoder accepted %q, strict decoder refused it: %v", body, err)
		}
		if fast.number != slow.number || fast.region != slow.region || !slices.Equal(fast.tuples, slow.tuples) || slow.reverse != fast.reverse {
			t.Fatalf("decoders disagree on %q:\nfast %+v\nslow %+v", body, fast, slow)
		}
	})
}

// FuzzParseUploadJSON feeds arbitrary bodies to the full decoder: it must
// never panic, and every refusal names a field.
func FuzzParseUploadJSON(f *testing.F) {
	for _, tc := range uploadCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, perr := parseUploadJSON(body)
		if perr != nil {
			if perr.field == "" || perr.err == nil {
				t.Fatalf("refusal of %q names no field: %+v", body, perr)
			}
			return
		}
		if p == nil {
			t.Fatalf("no upload and no error for %q", body)
		}
	})
}

// BenchmarkVerifyProofs3Weeks verifies the proofs of the 2016 keys of
// three weeks of one device, what such an upload costs the server
// (docs/findmy.md §8.3).
func BenchmarkVerifyProofs3Weeks(b *testing.B) {
	srv := newFixture(b, Config{}).srv
	const n = 21 * 24 * 4
	keys := make([]batch.FindMyKey, 0, n)
	for i := range n {
		d, err := findmy.NewPrivateKey(big.NewInt(int64(7000 + i)).FillBytes(make([]byte, findmy.KeySize)))
		if err != nil {
			b.Fatal(err)
		}
		k := batch.FindMyKey{Key: d.Public().Key(), Start: pact.Minute(28_000_000 + 15*i), End: pact.Minute(28_000_014 + 15*i)}
		p, err := findmy.SignProof(d, findmy.Statement{Key: k.Key, Start: uint32(k.Start), End: uint32(k.End), Region: "CH"})
		if err != nil {
			b.Fatal(err)
		}
		k.Proof = p
		keys = append(keys, k)
	}
	for b.Loop() {
		if perr := srv.verifyFindMyProofs(context.Background(), keys, "CH"); perr != nil {
			b.Fatal(perr)
		}
	}
}
