package node

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
)

var testKey = base64.StdEncoding.EncodeToString(make([]byte, ed25519.PublicKeySize))

func TestParseServer(t *testing.T) {
	tests := []struct {
		spec        string
		wantErr     bool
		wantURL     string
		wantName    string
		wantRegions []string
	}{
		{spec: "https://pact.example/,key=" + testKey, wantURL: "https://pact.example", wantName: "pact.example"},
		{spec: "http://127.0.0.1:8080,key=" + testKey + ",regions=CH+DE,name=local", wantURL: "http://127.0.0.1:8080", wantName: "local", wantRegions: []string{"CH", "DE"}},
		{spec: "https://pact.example", wantErr: true},                                    // no key
		{spec: "ftp://pact.example,key=" + testKey, wantErr: true},                       // scheme
		{spec: "https://u:p@pact.example,key=" + testKey, wantErr: true},                 // credentials
		{spec: "https://pact.example?x=1,key=" + testKey, wantErr: true},                 // query
		{spec: "https://pact.example,key=AAAA", wantErr: true},                           // short key
		{spec: "https://pact.example,key=" + testKey + ",regions=C H", wantErr: true},    // region
		{spec: "https://pact.example,key=" + testKey + ",key=" + testKey, wantErr: true}, // twice
		{spec: "https://pact.example,key=" + testKey + ",colour=blue", wantErr: true},    // unknown
		{spec: "", wantErr: true},
	}
	for _, tc := range tests {
		s, err := ParseServer(tc.spec)
		if tc.wantErr {
			if !errors.Is(err, ErrServerSpec) {
				t.Errorf("ParseServer(%q) = %+v, %v; want ErrServerSpec", tc.spec, s, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseServer(%q): %v", tc.spec, err)
			continue
		}
		if s.URL != tc.wantURL || s.Name != tc.wantName || !slices.Equal(s.Regions, tc.wantRegions) || len(s.Key) != ed25519.PublicKeySize {
			t.Errorf("ParseServer(%q) = %+v, want URL %q name %q regions %v", tc.spec, s, tc.wantURL, tc.wantName, tc.wantRegions)
		}
		back, err := ParseServer(FormatServer(s))
		if err != nil || back.URL != s.URL || back.Name != s.Name || !slices.Equal(back.Regions, s.Regions) || !back.Key.Equal(s.Key) {
			t.Errorf("FormatServer round trip of %q: %+v, %v", tc.spec, back, err)
		}
	}
}

func FuzzParseServer(f *testing.F) {
	f.Add("https://pact.example,key=" + testKey + ",regions=CH+DE,name=x")
	f.Add("http://[::1]:8080/,key=" + testKey)
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseServer(spec)
		if err != nil {
			if !errors.Is(err, ErrServerSpec) {
				t.Fatalf("error %v does not wrap ErrServerSpec", err)
			}
			return
		}
		if strings.Contains(s.Name, ",") {
			// A name with a comma would not survive FormatServer.
			return
		}
		back, err := ParseServer(FormatServer(s))
		if err != nil || back.URL != s.URL || !back.Key.Equal(s.Key) || !slices.Equal(back.Regions, s.Regions) {
			t.Fatalf("round trip of %q: %+v, %v", spec, back, err)
		}
	})
}
