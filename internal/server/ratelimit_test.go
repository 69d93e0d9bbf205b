package server

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// Refused guesses from one client share a bucket: one IPv4 address, or
// one IPv6 /64, which a single host can fill with addresses of its own.
func TestGuessLimiterBucketsPerNetwork(t *testing.T) {
	raw, err := os.ReadFile("testdata/networks.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		A, B string
		Same bool
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatalf("testdata/networks.json: %v", err)
	}
	now := time.Unix(0, 0)
	for _, tc := range cases {
		l := newNetworkLimiter(1, 1, time.Hour)
		if !l.take(tc.A, now, 1) {
			t.Fatalf("%s: first guess refused", tc.A)
		}
		if blocked := !l.take(tc.B, now, 1); blocked != tc.Same {
			t.Errorf("%s blocked after a guess from %s: %v, want %v", tc.B, tc.A, blocked, tc.Same)
		}
	}
}
