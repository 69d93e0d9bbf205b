package exposureclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/pact"
)

var key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))

func signed(t *testing.T) []byte {
	t.Helper()
	ts := []pact.Tuple{{Seed: pact.Seed{1}, Start: 600, End: 659}, {Seed: pact.Seed{2}, Start: 660, End: 700}}
	b, err := batch.Encode(batch.Header{Region: "CH", Sequence: 3, PeriodMinutes: 10}, ts, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyAgainstRef(t *testing.T) {
	cases := []struct {
		name string
		ref  Ref
		want error
	}{
		{"matching ref", Ref{Region: "CH", Sequence: 3}, nil},
		{"matching ref with digest", Ref{Region: "CH", Sequence: 3, SHA256: "$DIGEST"}, nil},
		{"other region", Ref{Region: "DE", Sequence: 3}, ErrReplayed},
		{"older sequence served as newer", Ref{Region: "CH", Sequence: 4}, ErrReplayed},
		{"digest of another batch", Ref{Region: "CH", Sequence: 3, SHA256: strings.Repeat("00", 32)}, ErrTampered},
	}
	data := signed(t)
	sum := sha256.Sum256(data)
	c, err := New("http://127.0.0.1:1", key.Public().(ed25519.PublicKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ref.SHA256 == "$DIGEST" {
				tc.ref.SHA256 = hex.EncodeToString(sum[:])
			}
			b, err := c.Verify(data, tc.ref)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Verify = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil || b.ID != "CH.3" || len(b.Tuples) != 2 || b.Uploads != 0 {
				t.Fatalf("Verify = %+v, %v", b, err)
			}
		})
	}
}

func TestAcceptRefusesReplay(t *testing.T) {
	c, _ := New("http://127.0.0.1:1", key.Public().(ed25519.PublicKey), nil)
	b, err := c.Verify(signed(t), Ref{Region: "CH", Sequence: 3})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(*Batch) error { return nil }
	if err := c.accept(b, ok); err != nil {
		t.Fatal(err)
	}
	if err := c.accept(b, ok); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second acceptance of batch 3: %v, want ErrReplayed", err)
	}
	if got := c.Last()["CH"]; got != 3 {
		t.Fatalf("last accepted CH = %d, want 3", got)
	}
	failing := errors.New("disk full")
	c.SetLast("CH", 0)
	if err := c.accept(b, func(*Batch) error { return failing }); !errors.Is(err, failing) || c.Last()["CH"] != 0 {
		t.Fatalf("a batch the caller could not take must not count as accepted: %v, last %d", err, c.Last()["CH"])
	}
}

func TestNewRefusesBadArguments(t *testing.T) {
	pub := key.Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		url string
		key ed25519.PublicKey
	}{{"ftp://x", pub}, {"::", pub}, {"http://x", pub[:10]}} {
		if _, err := New(tc.url, tc.key, nil); err == nil {
			t.Errorf("New(%q, %d-byte key) accepted", tc.url, len(tc.key))
		}
	}
}

// A mirror that sends more than the listing announced is cut off at the
// announced size, not read up to MaxBatchBytes.
func TestFetchStopsAtTheListedSize(t *testing.T) {
	data := signed(t)
	const garbage = 4 << 20
	var written atomic.Int64
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(data)
		chunk := make([]byte, 64<<10)
		for written.Load() < garbage {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer mirror.Close()
	c, err := New(mirror.URL, key.Public().(ed25519.PublicKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background(), Ref{Region: "CH", Sequence: 3, Size: len(data)})
	if !errors.Is(err, ErrTruncated) || !errors.Is(err, errTooLong) {
		t.Fatalf("Fetch of a batch followed by %d bytes of garbage = %v, want ErrTruncated for passing the listed size", garbage, err)
	}
}

// The fields batch format version 2 adds reach the client's Batch.
func TestVerifyCarriesVersion2Fields(t *testing.T) {
	var fk batch.FindMyKey
	fk.Key[0], fk.Start, fk.End, fk.Secondary, fk.Reverse = 7, 900, 914, true, true
	fk.Proof[55] = 0x5a
	data, err := batch.EncodeBatch(&batch.Batch{
		Header:  batch.Header{Region: "CH", Sequence: 5, PeriodMinutes: 10},
		Tuples:  []pact.Tuple{{Seed: pact.Seed{2}, Start: 660, End: 700}, {Seed: pact.Seed{1}, Start: 600, End: 659}},
		Reverse: []bool{true, false},
		FindMy:  []batch.FindMyKey{fk},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New("http://127.0.0.1:1", key.Public().(ed25519.PublicKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Verify(data, Ref{Region: "CH", Sequence: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by seed, {1} comes first; its mark stays with it.
	if len(b.Reverse) != 2 || b.Reverse[0] || !b.Reverse[1] || b.Tuples[1].Seed != (pact.Seed{2}) {
		t.Fatalf("reverse marks %v for tuples %v; want only seed 02.. marked", b.Reverse, b.Tuples)
	}
	want := FindMyKey{Key: fk.Key, Start: 900, End: 914, Reverse: true, Secondary: true, Proof: fk.Proof}
	if len(b.FindMy) != 1 || b.FindMy[0] != want {
		t.Fatalf("Find My keys %+v, want %+v", b.FindMy, want)
	}
}
