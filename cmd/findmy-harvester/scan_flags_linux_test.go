package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// scanFlagCase is one scan command line from testdata/scan-flags.json.
// With parsed set it must parse to those options without touching a
// device; otherwise the whole command runs and must exit with code.
type scanFlagCase struct {
	Name   string   `json:"name"`
	Args   []string `json:"args"`
	Code   int      `json:"code"`
	Stderr []string `json:"stderr"`
	Parsed *struct {
		Adapter  int    `json:"adapter"`
		Serial   string `json:"serial"`
		Channel  string `json:"channel"`
		Baud     int    `json:"baud"`
		Flow     bool   `json:"flow"`
		Extended string `json:"extended"`
	} `json:"parsed"`
}

func TestScanFlags(t *testing.T) {
	b, err := os.ReadFile("testdata/scan-flags.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []scanFlagCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("testdata/scan-flags.json: %v", err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if p := c.Parsed; p != nil {
				o, err := parseScanFlags(c.Args, io.Discard)
				if err != nil {
					t.Fatalf("parseScanFlags(%q): %v", c.Args, err)
				}
				if o.adapter != p.Adapter || o.serial != p.Serial || o.channel.String() != p.Channel ||
					o.baud != p.Baud || o.flow != p.Flow {
					t.Errorf("parsed adapter=%d serial=%q channel=%v baud=%d flow=%v, want %+v",
						o.adapter, o.serial, o.channel, o.baud, o.flow, *p)
				}
				if got := o.scan.Extended.String(); got != p.Extended {
					t.Errorf("extended %q, want %q", got, p.Extended)
				}
				return
			}
			if c.Code == 2 {
				// Usage errors must come before any device is opened.
				if _, err := parseScanFlags(c.Args, io.Discard); !errors.Is(err, errUsage) {
					t.Errorf("parseScanFlags(%q) = %v, want a usage error", c.Args, err)
				}
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"scan"}, c.Args...), &stdout, &stderr)
			if code != c.Code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, c.Code, stderr.String())
			}
			for _, s := range c.Stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}
