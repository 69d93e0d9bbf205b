package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/pact-findmy/pact-findmy/internal/cli"
)

// TestRepeatFlags checks that pact-bridge repeat refuses, before touching
// any adapter, the settings that would break the bounds of spec §9.1 or
// expose its counters off loopback, naming the flag at fault.
func TestRepeatFlags(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantFlag string
	}{
		{"no adapter", nil, "hci"},
		{"bad adapter", []string{"--hci", "zero"}, "hci"},
		{"bad channel", []string{"--hci", "0", "--channel", "tcp"}, "channel"},
		{"delay under a second", []string{"--hci", "0", "--delay", "10ms"}, "delay"},
		{"schedule past the window", []string{"--hci", "0", "--delay", "5m", "--repeats", "10"}, "delay + repeats·every"},
		{"no repeats", []string{"--hci", "0", "--repeats", "-2"}, "repeats"},
		{"dwell too short", []string{"--hci", "0", "--dwell", "1ms"}, "dwell"},
		{"no memory", []string{"--hci", "0", "--max-held", "-1"}, "max-held"},
		{"metrics off loopback", []string{"--hci", "0", "--metrics", "0.0.0.0:0"}, "metrics"},
		{"negative stats interval", []string{"--hci", "0", "--stats-interval", "-1s"}, "stats-interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runRepeat(context.Background(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
			if !errors.Is(err, cli.ErrUsage) {
				t.Fatalf("repeat %v = %v, want a usage error", tc.args, err)
			}
			if flag, _ := cli.FlagOf(err); flag != tc.wantFlag {
				t.Fatalf("repeat %v: error %v names --%s, want --%s", tc.args, err, flag, tc.wantFlag)
			}
		})
	}
}
