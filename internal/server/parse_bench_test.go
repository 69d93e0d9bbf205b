package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"
	"testing"

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

// BenchmarkExpandSchedule3Weeks derives the 2016 keys of three weeks from
// one device's schedule material, what a schedule upload costs the server.
func BenchmarkExpandSchedule3Weeks(b *testing.B) {
	srv := newFixture(b, Config{}).srv
	entries := benchScheduleEntries(b, 0, keysPerSchedule)
	for b.Loop() {
		keys, err := srv.deriveSchedules(context.Background(), entries)
		if err != nil || len(keys) != keysPerSchedule {
			b.Fatalf("%d keys, %v", len(keys), err)
		}
	}
}

func benchScheduleEntries(tb testing.TB, from, count uint64) []scheduleEntry {
	secret := "93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba"
	pub := "04ecd8e89e5f76b78f597d9414a953e65ce2509910110a06bf48d1a249d910342aea4450becc5a1fdc7bb7390663fabda1b3365a1406637201"
	epoch := int64(28_000_000)
	in := []findMyScheduleJSON{{Secret: &secret, PublicKey: &pub, Epoch: &epoch, From: &from, Count: &count}}
	entries, perr := parseSchedules(in, MaxFindMyKeys, pact.Limits{Now: ^pact.Minute(0)})
	if perr != nil {
		tb.Fatal(perr)
	}
	return entries
}

// BenchmarkScheduleCosts times the two units of derivation work, a secret
// update (a KDF step) and a key (its KDF, two P-224 scalar
// multiplications and the next update), and reports their ratio, which
// keyDerivationSteps rounds.
func BenchmarkScheduleCosts(b *testing.B) {
	srv := newFixture(b, Config{}).srv
	var perUpdate, perKey float64
	b.Run("secret-update", func(b *testing.B) {
		entries := benchScheduleEntries(b, 0, 1)
		entries[0].from = uint64(b.N)
		b.ResetTimer()
		if _, err := srv.deriveSchedules(context.Background(), entries); err != nil {
			b.Fatal(err)
		}
		perUpdate = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("key", func(b *testing.B) {
		entries := benchScheduleEntries(b, 0, 1)
		entries[0].count = uint64(b.N)
		b.ResetTimer()
		if _, err := srv.deriveSchedules(context.Background(), entries); err != nil {
			b.Fatal(err)
		}
		perKey = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if perUpdate > 0 {
			b.ReportMetric(perKey/perUpdate, "updates/key")
		}
	})
}
