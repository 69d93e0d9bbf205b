package exposuresync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// The client connects to the configured servers and to nothing else, not
// even through a redirect, and ignores HTTP_PROXY.
func TestHTTPClientDialsOnlyTheServers(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:9")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request reached a server that is not configured: %s", r.URL)
	}))
	defer other.Close()
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, other.URL+"/batch", http.StatusFound)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer allowed.Close()
	hc, err := NewHTTPClient("", []Server{{Name: "lab", URL: allowed.URL + "/pact/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(allowed.URL + "/healthz")
	if err != nil {
		t.Fatalf("request to the configured server: %v", err)
	}
	resp.Body.Close()
	for _, u := range []string{other.URL + "/", allowed.URL + "/redirect", strings.Replace(allowed.URL, "127.0.0.1", "localhost", 1)} {
		resp, err := hc.Get(u)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, ErrHostNotAllowed) {
			t.Errorf("GET %s: %v, want ErrHostNotAllowed", u, err)
		}
	}
}

func TestNewHTTPClientRefusesBadArguments(t *testing.T) {
	ok := []Server{{Name: "lab", URL: "https://exposure.example"}}
	for _, tc := range []struct {
		name    string
		proxy   string
		servers []Server
		want    error
	}{
		{"http proxy", "http://127.0.0.1:8080", ok, ErrProxyURL},
		{"proxy without port", "socks5://127.0.0.1", ok, ErrProxyURL},
		{"proxy with a path", "socks5://127.0.0.1:1080/x", ok, ErrProxyURL},
		{"proxy port zero", "socks5://127.0.0.1:0", ok, ErrProxyURL},
		{"server without host", "", []Server{{Name: "x", URL: "http:///v1"}}, ErrServerURL},
		{"server over ftp", "", []Server{{Name: "x", URL: "ftp://exposure.example"}}, ErrServerURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewHTTPClient(tc.proxy, tc.servers); !errors.Is(err, tc.want) {
				t.Fatalf("NewHTTPClient(%q, %v) = %v, want %v", tc.proxy, tc.servers, err, tc.want)
			}
		})
	}
}

// socksProxy starts Debian's microsocks on loopback, making its outgoing
// connections from bindAddr, and returns its socks5:// URL.
func socksProxy(t *testing.T, bindAddr string) string {
	t.Helper()
	bin, err := exec.LookPath("microsocks")
	if err != nil {
		msg := "microsocks is not installed (apt-get install microsocks): the SOCKS5 transport test CANNOT RUN"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING: " + msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-i", "127.0.0.1", "-p", port, "-b", bindAddr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("microsocks did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "socks5://" + addr
}

// A sync through a real SOCKS5 proxy reaches the server from the proxy's
// address, with the server's name resolved by the proxy; the other
// servers stay unreachable through it.
func TestSyncThroughSOCKS5Proxy(t *testing.T) {
	const proxyOut = "127.0.0.2" // microsocks dials out from here; the node is on 127.0.0.1
	proxyURL := socksProxy(t, proxyOut)
	var mu sync.Mutex
	var peers []string
	clock := &testClock{now: testNow}
	es := newExposureServer(t, 7, clock, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			mu.Lock()
			peers = append(peers, host)
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	})
	db := openDevice(t)
	sd := seedOf(50)
	hear(t, db, sd, -50, hourAgo+4, hourAgo+5)
	es.upload(t, "CH", []pact.Tuple{hourTuple(sd, hourAgo)})
	es.cut(t)
	mu.Lock()
	peers = nil // the uploads above came straight from the test
	mu.Unlock()

	// By name: only the proxy can turn "localhost" into an address.
	srv := es.server("lab", "CH")
	srv.URL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	hc, err := NewHTTPClient(proxyURL, []Server{srv})
	if err != nil {
		t.Fatal(err)
	}
	s := newSyncer(t, db, []Server{srv}, Options{HTTPClient: hc})
	rep, err := s.Sync(context.Background())
	if err != nil || len(rep.Applied) != 1 || rep.Applied[0].Matches != 2 {
		t.Fatalf("sync through the proxy: %+v, %v", rep, err)
	}
	mu.Lock()
	got := slices.Compact(slices.Clone(peers))
	mu.Unlock()
	if !slices.Equal(got, []string{proxyOut}) {
		t.Fatalf("the exposure server saw connections from %v, want only the proxy's %s", got, proxyOut)
	}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request reached a server that is not configured: %s", r.URL)
	}))
	defer other.Close()
	resp, err := hc.Get(other.URL)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("GET %s through the proxy: %v, want ErrHostNotAllowed", other.URL, err)
	}
}

// A name that does not resolve fails at the proxy, not in a DNS lookup of
// the node's own.
func TestProxyResolvesNames(t *testing.T) {
	proxyURL := socksProxy(t, "127.0.0.1")
	srv := Server{Name: "unresolvable", URL: "http://exposure.invalid:8080"}
	hc, err := NewHTTPClient(proxyURL, []Server{srv})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/all/batches", nil)
	resp, err := hc.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a request to exposure.invalid succeeded")
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || !errors.As(err, &opErr) || !strings.HasPrefix(opErr.Op, "socks") {
		t.Fatalf("request to exposure.invalid: %v (%T); want the proxy's refusal, not a local DNS error", err, errors.Unwrap(err))
	}
}
