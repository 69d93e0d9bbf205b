package batch

import (
	"bytes"
	"compress/flate"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-v2.batch")

// testKey is fixed so the golden batches are reproducible (Ed25519 signing
// is deterministic).
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, ed25519.SeedSize))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

// goldenInput is testdata/tuples-v1.json or tuples-v2.json: the entries
// of a golden batch. Reverse lists the indexes of tuples marked reverse.
type goldenInput struct {
	Header  Header       `json:"header"`
	Tuples  []pact.Tuple `json:"tuples"`
	Reverse []int        `json:"reverse"`
	FindMy  []struct {
		Key                string
		Start, End         pact.Minute
		Reverse, Secondary bool
		Proof              string
	} `json:"findmy"`
}

func (in goldenInput) findMy(t testing.TB) []FindMyKey {
	var out []FindMyKey
	for _, k := range in.FindMy {
		key, err := findmy.ParseKey(k.Key)
		if err != nil {
			t.Fatal(err)
		}
		fk := FindMyKey{Key: key, Start: k.Start, End: k.End, Reverse: k.Reverse, Secondary: k.Secondary}
		if k.Proof != "" {
			p, err := hex.DecodeString(k.Proof)
			if err != nil || len(p) != FindMyProofSize {
				t.Fatalf("proof %q: %d bytes, %v", k.Proof, len(p), err)
			}
			fk.Proof = [FindMyProofSize]byte(p)
		}
		out = append(out, fk)
	}
	return out
}

// reverseFlags returns the input's reverse marks parallel to its tuples.
func (in goldenInput) reverseFlags() []bool {
	if in.Reverse == nil {
		return nil
	}
	r := make([]bool, len(in.Tuples))
	for _, i := range in.Reverse {
		r[i] = true
	}
	return r
}

// want returns the tuples and reverse flags a decoder must return: sorted,
// deduplicated, a repeat marked only if every copy was (spec §9.2).
func (in goldenInput) want() ([]pact.Tuple, []bool) {
	marked := map[pact.Tuple]bool{}
	flags := in.reverseFlags()
	for i, tu := range in.Tuples {
		flag := flags != nil && flags[i]
		if prev, seen := marked[tu]; seen {
			flag = flag && prev
		}
		marked[tu] = flag
	}
	sorted := slices.Clone(in.Tuples)
	slices.SortFunc(sorted, compareTuples)
	sorted = slices.Compact(sorted)
	if flags == nil {
		return sorted, nil
	}
	rev := make([]bool, len(sorted))
	for i, tu := range sorted {
		rev[i] = marked[tu]
	}
	return sorted, rev
}

func loadGoldenInput(t testing.TB, name string) goldenInput {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var in goldenInput
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return in
}

// randomTuples returns n tuples with random seeds spread over three weeks
// of hours, like n/504 full uploads.
func randomTuples(rng *rand.Rand, n int) []pact.Tuple {
	const base = 29_000_000
	ts := make([]pact.Tuple, n)
	for i := range ts {
		for j := 0; j < pact.SeedSize; j += 8 {
			binary.LittleEndian.PutUint64(ts[i].Seed[j:], rng.Uint64())
		}
		hour := pact.Minute(base/60 + rng.IntN(504))
		ts[i].Start = hour * 60
		ts[i].End = ts[i].Start + 59
		if i%10 == 0 { // a first or last partial hour
			ts[i].Start += pact.Minute(rng.IntN(30))
		}
	}
	return ts
}

// TestGoldenV2 pins the bytes Encode writes: version 2 with reverse
// marks (one of them on a repeated tuple), secondary keys and proofs.
func TestGoldenV2(t *testing.T) {
	in := loadGoldenInput(t, "testdata/tuples-v2.json")
	b, err := EncodeBatch(&Batch{Header: in.Header, Tuples: slices.Clone(in.Tuples), Reverse: in.reverseFlags(), FindMy: in.findMy(t)}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/golden-v2.batch", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/golden-v2.batch")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding changed: got %d bytes, golden %d; run go test -update if intended", len(b), len(want))
	}
	if want[4] != Version2 {
		t.Fatalf("golden version byte %d, want %d", want[4], Version2)
	}
	checkGoldenDecode(t, in, want, Version2)
}

// TestGoldenV1 reads a batch written before version 2, byte for byte as
// the server published it.
func TestGoldenV1(t *testing.T) {
	in := loadGoldenInput(t, "testdata/tuples-v1.json")
	want, err := os.ReadFile("testdata/golden-v1.batch")
	if err != nil {
		t.Fatal(err)
	}
	got := checkGoldenDecode(t, in, want, Version1)
	if got.Uploads != in.Header.Uploads || got.Uploads == 0 {
		t.Fatalf("version 1 upload count %d, want %d", got.Uploads, in.Header.Uploads)
	}
	if got.Reverse != nil {
		t.Fatalf("version 1 batch decoded with reverse marks %v", got.Reverse)
	}
}

func checkGoldenDecode(t *testing.T, in goldenInput, data []byte, version uint8) *Batch {
	t.Helper()
	got, err := Decode(data, testPub())
	if err != nil {
		t.Fatal(err)
	}
	tuples, rev := in.want()
	if !slices.Equal(got.Tuples, tuples) {
		t.Fatalf("decoded tuples differ:\n got %v\nwant %v", got.Tuples, tuples)
	}
	if !slices.Equal(got.Reverse, rev) || (rev == nil) != (got.Reverse == nil) {
		t.Fatalf("decoded reverse marks %v, want %v", got.Reverse, rev)
	}
	fm := in.findMy(t)
	slices.SortFunc(fm, compareFindMy)
	if !slices.Equal(got.FindMy, fm) || got.FindMyEntries != uint32(len(fm)) {
		t.Fatalf("decoded Find My keys %+v, want %+v", got.FindMy, fm)
	}
	if got.Version != version || got.Region != in.Header.Region || got.Sequence != in.Header.Sequence || got.Entries != uint32(len(tuples)) {
		t.Fatalf("header %+v does not match input %+v", got.Header, in.Header)
	}
	return got
}

// Version 2 carries flags in bits that version 1 had no room for; every
// bit it leaves undefined must be refused, or two readers could disagree.
func TestV2Flags(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ts := randomTuples(rng, 40)
	rev := make([]bool, len(ts))
	rev[3], rev[17] = true, true
	b := &Batch{Header: Header{Region: "CH", Sequence: 2, Uploads: 7}, Tuples: ts, Reverse: rev,
		FindMy: []FindMyKey{{Key: onCurveKey(), Start: 100, End: 114, Secondary: true, Proof: [FindMyProofSize]byte{1, 2, 3}}}}
	data, err := EncodeBatch(b, testKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data, testPub())
	if err != nil {
		t.Fatal(err)
	}
	if got.Uploads != 0 || b.Uploads != 0 {
		t.Fatalf("version 2 published an upload count: decoded %d, header %d", got.Uploads, b.Uploads)
	}
	if !slices.Equal(got.Tuples, b.Tuples) || !slices.Equal(got.Reverse, b.Reverse) || !slices.Equal(got.FindMy, b.FindMy) {
		t.Fatalf("round trip differs: reverse %v, want %v", got.Reverse, b.Reverse)
	}
	if marks := countTrue(got.Reverse); marks != 2 {
		t.Fatalf("%d tuples marked reverse, want 2", marks)
	}
	noMarks, err := EncodeBatch(&Batch{Header: Header{Region: "CH", Sequence: 3}, Tuples: slices.Clone(ts), Reverse: make([]bool, len(ts))}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(noMarks, testPub()); err != nil || got.Reverse != nil {
		t.Fatalf("batch without marks decoded reverse %v, %v; want nil", got.Reverse, err)
	}

	resign := func(body []byte) []byte { return append(body, ed25519.Sign(testKey, body)...) }
	_, l, err := parseHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	body := data[:len(data)-SignatureSize]
	timeAt := len(body) - FindMyEntrySize - len(l.tim)
	cols := inflate(t, l.tim)
	cases := []struct {
		name   string
		mutate func() []byte
		want   error
	}{
		{"tuple flag bit 1", func() []byte {
			c := slices.Clone(cols)
			c[4*len(ts)+5] = 2
			return resign(replaceTime(t, body, timeAt, len(l.tim), c))
		}, ErrFormat},
		{"four time columns under version 2", func() []byte {
			return resign(replaceTime(t, body, timeAt, len(l.tim), cols[:4*len(ts)]))
		}, ErrFormat},
		{"Find My flag bit 2", func() []byte {
			c := slices.Clone(body)
			c[len(c)-FindMyProofSize-1] |= 4
			return resign(c)
		}, ErrFindMyFlags},
		{"upload count in version 2", func() []byte {
			c := slices.Clone(body)
			c[6+2+8+8+4+4+3] = 1
			return resign(c)
		}, ErrFormat},
		{"version 1 byte on version 2 sections", func() []byte {
			c := slices.Clone(body)
			c[4] = Version1
			return resign(c)
		}, ErrFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.mutate(), testPub())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v; want %v", err, tc.want)
			}
		})
	}
	if _, err := EncodeBatch(&Batch{Header: Header{Region: "CH"}, Tuples: ts, Reverse: rev[:3]}, testKey); !errors.Is(err, ErrReverseLength) {
		t.Fatalf("EncodeBatch with 3 flags for %d tuples = %v, want ErrReverseLength", len(ts), err)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func inflate(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replaceTime returns body with its time section (at, n bytes long)
// replaced by the DEFLATE of cols and the header's length fixed.
func replaceTime(t *testing.T, body []byte, at, n int, cols []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.HuffmanOnly)
	fw.Write(cols)
	fw.Close()
	out := slices.Concat(body[:at], buf.Bytes(), body[at+n:])
	rl := int(out[5])
	binary.BigEndian.PutUint32(out[6+rl+41:], uint32(buf.Len()))
	return out
}

func TestRoundTripSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 504, 5040, 50400} {
		ts := randomTuples(rng, n)
		b, err := Encode(Header{Region: "CH", Sequence: 7, PeriodStart: 29_000_000, PeriodMinutes: 10, Uploads: uint32(n / 504)}, slices.Clone(ts), testKey)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		got, err := Decode(b, testPub())
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		slices.SortFunc(ts, compareTuples)
		if !slices.Equal(got.Tuples, ts) {
			t.Fatalf("n=%d: round trip differs", n)
		}
		if n >= 504 {
			per := float64(len(b)) / float64(n)
			t.Logf("n=%d: %d bytes, %.2f bytes per seed-hour", n, len(b), per)
			if per > 34 {
				t.Errorf("n=%d: %.2f bytes per seed-hour exceeds the goal of 34", n, per)
			}
		}
	}
}

// Each case damages a valid batch; every one must be refused, and with the
// error a client can act on.
func TestTamperedBatchesAreRefused(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	good, err := Encode(Header{Region: "CH", Sequence: 9, PeriodMinutes: 10, Uploads: 1}, randomTuples(rng, 504), testKey)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	headerEnd := 6 + 2 + fixedHeader
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"flipped bit in a seed", func(b []byte) []byte { b[headerEnd+100] ^= 1; return b }, ErrSignature},
		{"flipped bit in the signature", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }, ErrSignature},
		{"changed sequence (replay under a new number)", func(b []byte) []byte { b[6+2+8+7]++; return b }, ErrSignature},
		{"truncated by one byte", func(b []byte) []byte { return b[:len(b)-1] }, ErrFormat},
		{"truncated to the header", func(b []byte) []byte { return b[:headerEnd] }, ErrFormat},
		{"extra byte appended", func(b []byte) []byte { return append(b, 0) }, ErrTruncated},
		{"two suffixes swapped", func(b []byte) []byte {
			h, l, _ := parseHeader(b)
			_ = h
			off := len(b) - SignatureSize - len(l.tim) - len(l.suffix)
			x := slices.Clone(b[off : off+24])
			copy(b[off:off+24], b[off+24:off+48])
			copy(b[off+24:off+48], x)
			return b
		}, ErrSignature},
		{"wrong magic", func(b []byte) []byte { b[0] = 'X'; return b }, ErrFormat},
		{"future version", func(b []byte) []byte { b[4] = 3; return b }, ErrFormat},
		{"signed by another key", func(b []byte) []byte {
			body := b[:len(b)-SignatureSize]
			return append(slices.Clone(body), ed25519.Sign(otherKey, body)...)
		}, ErrSignature},
		{"empty", func([]byte) []byte { return nil }, ErrTruncated},
		{"cut inside the magic", func(b []byte) []byte { return b[:3] }, ErrTruncated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(slices.Clone(good))
			_, err := Decode(b, testPub())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v; want %v", err, tc.want)
			}
		})
	}
	if _, err := Decode(good, otherKey.Public().(ed25519.PublicKey)); !errors.Is(err, ErrKey) {
		t.Fatalf("verifying with another key: %v, want ErrKey", err)
	}
}

// A signer that put entries out of order (or a bug) must still be caught
// by the canonical-form checks, not only by the signature.
func TestSignedButReorderedIsRefused(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// Two seeds that share their prefix differ only in the suffix section,
	// so swapping their suffixes leaves a decodable but unordered batch.
	ts := randomTuples(rng, 2)
	ts[1].Seed = ts[0].Seed
	ts[1].Seed[31] ^= 1
	b, err := Encode(Header{Region: "CH", Sequence: 1}, ts, testKey)
	if err != nil {
		t.Fatal(err)
	}
	_, l, _ := parseHeader(b)
	off := len(b) - SignatureSize - len(l.tim) - len(l.suffix)
	body := slices.Clone(b[:len(b)-SignatureSize])
	x := slices.Clone(body[off : off+24])
	copy(body[off:off+24], body[off+24:off+48])
	copy(body[off+24:off+48], x)
	resigned := append(body, ed25519.Sign(testKey, body)...)
	if _, err := Decode(resigned, testPub()); !errors.Is(err, ErrOrder) {
		t.Fatalf("Decode of a signed reordered batch = %v; want a reordering error", err)
	}
}

func TestEncodeRejects(t *testing.T) {
	ok := pact.Tuple{Start: 600, End: 659}
	cases := []struct {
		name   string
		header Header
		tuples []pact.Tuple
		want   error
	}{
		{"empty region", Header{}, nil, ErrRegion},
		{"region with a slash", Header{Region: "a/b"}, nil, ErrRegion},
		{"region too long", Header{Region: strings.Repeat("A", MaxRegionLength+1)}, nil, ErrRegion},
		{"window of an hour", Header{Region: "CH"}, []pact.Tuple{{Start: 0, End: 60}}, ErrTupleWindow},
		{"end before start", Header{Region: "CH"}, []pact.Tuple{{Start: 10, End: 9}}, ErrTupleWindow},
		{"hours too far apart", Header{Region: "CH"}, []pact.Tuple{ok, {Seed: pact.Seed{1}, Start: 600 + 70000*60, End: 600 + 70000*60}}, ErrTimeSpan},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(tc.header, tc.tuples, testKey)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Encode = %v; want %v", err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"testdata/golden-v1.batch", "testdata/golden-v2.batch"} {
		golden, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(golden)
		f.Add(golden[:40])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The fuzzer cannot forge signatures, so exercise the decoder
		// behind them directly: it must never panic and what it accepts
		// must re-encode to the same entries.
		got, err := decodeUnverified(b)
		if err != nil {
			return
		}
		again, err := EncodeBatch(&Batch{Header: got.Header, Tuples: slices.Clone(got.Tuples), Reverse: slices.Clone(got.Reverse), FindMy: slices.Clone(got.FindMy)}, testKey)
		if err != nil {
			t.Fatalf("decoded batch does not re-encode: %v", err)
		}
		back, err := Decode(again, testPub())
		if err != nil || !slices.Equal(back.Tuples, got.Tuples) || !slices.Equal(back.Reverse, got.Reverse) || !slices.Equal(back.FindMy, got.FindMy) {
			t.Fatalf("re-encoded batch does not round-trip: %v", err)
		}
	})
}

func BenchmarkEncode1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	src := randomTuples(rng, 1_000_000)
	ts := make([]pact.Tuple, len(src))
	var size int
	b.ResetTimer()
	for b.Loop() {
		copy(ts, src)
		out, err := Encode(Header{Region: "CH", Sequence: 1, PeriodMinutes: 10, Uploads: 1984}, ts, testKey)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size)/float64(len(src)), "bytes/seed-hour")
}

func BenchmarkDecode1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	out, err := Encode(Header{Region: "CH", Sequence: 1}, randomTuples(rng, 1_000_000), testKey)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Decode(out, testPub()); err != nil {
			b.Fatal(err)
		}
	}
}
