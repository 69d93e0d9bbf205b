package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/cli"
)

// TestRunRefusesAnOpenDashboardWithoutTokenOrTLS checks the dashboard's
// defaults: off loopback it takes a token, and TLS so that the token and
// the session cookie never cross the network in clear.
func TestRunRefusesAnOpenDashboardWithoutTokenOrTLS(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantFlag string
	}{
		{"no token", []string{"--dashboard", "0.0.0.0:0"}, "dashboard"},
		{"token without TLS", []string{"--dashboard", "0.0.0.0:0", "--token-file", tokenFile}, "dashboard"},
		{"cert without key", []string{"--tls-cert", filepath.Join(dir, "c.pem")}, ""},
		{"unreadable token file", []string{"--token-file", filepath.Join(dir, "missing")}, "token-file"},
		{"bad adapter", []string{"--hci", "zero"}, "hci"},
		{"sync too often", []string{"--sync-every", "1s"}, "sync-every"},
		{"frame version 3", []string{"--frame", "3"}, "frame"},
		{"frame 2 advertising every 100 ms", []string{"--adv-interval", "100ms"}, "adv-interval"},
		{"frame 2 advertising every second", []string{"--frame", "2", "--adv-interval", "1s"}, "adv-interval"},
		{"frame 1 with no interval", []string{"--frame", "1", "--adv-interval", "0s"}, "adv-interval"},
		{"antenna gain not a number", []string{"--antenna-gain", "high"}, "antenna-gain"},
		{"antenna gain out of range", []string{"--antenna-gain", "31"}, "antenna-gain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--hci", "none", "--data", filepath.Join(dir, tc.name)}, tc.args...)
			err := runNode(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
			if !errors.Is(err, cli.ErrUsage) {
				t.Fatalf("run %v = %v, want a usage error", tc.args, err)
			}
			if flag, _ := cli.FlagOf(err); flag != tc.wantFlag {
				t.Fatalf("run %v: error %v names --%s, want --%s", tc.args, err, flag, tc.wantFlag)
			}
		})
	}
}

// TestRunServesTheDashboardOverTLS starts the node off loopback with a
// token and a certificate, and checks that the API answers over TLS only
// with the token.
func TestRunServesTheDashboardOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Any address but loopback decides the token rule; the port is free
	// for a moment after this listener closes.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runNode(ctx, []string{"--hci", "none", "--data", filepath.Join(dir, "node"), "--dashboard", addr,
			"--token-file", tokenFile, "--tls-cert", cert, "--tls-key", key}, &stdout, &bytes.Buffer{})
	}()
	_, port, _ := net.SplitHostPort(addr)
	url := "https://127.0.0.1:" + port + "/api/v1/status"
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}
	var status [2]int
	deadline := time.Now().Add(20 * time.Second)
	for i, token := range []string{"", "s3cret-token"} {
		for {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Host = "localhost"
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
				status[i] = resp.StatusCode
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the dashboard never answered over TLS: %v (stdout %q)", err, stdout.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if status != [2]int{http.StatusUnauthorized, http.StatusOK} {
		t.Fatalf("status without and with the token: %v, want 401 and 200", status)
	}
	if !strings.Contains(stdout.String(), "https://") {
		t.Fatalf("stdout %q does not announce an https dashboard", stdout.String())
	}
}

// selfSigned writes a certificate for localhost and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// syncBuffer is a bytes.Buffer that the command writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
